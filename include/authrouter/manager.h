// manager.h -- the Manager: the credential pool a gateway asks, on every request, which
// credential should serve it.
//
// Typical use:
//
//   auto manager = authrouter::Manager::Create({}).value();
//   manager->Register(credential);                       // from CredentialFromJson, or built
//   manager->RegisterModels("claude-a.json", models);    // which models this credential serves
//   absl::StatusOr<authrouter::PickResult> pick = manager->Pick("claude", "claude-sonnet-4-5");
//   if (!pick.ok()) {                                   // auth_not_found, model_cooldown, ...
//     auto detail = authrouter::GetRoutingError(pick.status());  // HTTP status, Retry-After, body
//   }
//
// A credential becomes pickable for a model the moment it is loaded and serves that model: from
// the model catalog of its provider, its own `models`, or the host's RegisterModels, minus its
// exclusions (models.h states the rule). Picks run on an index per (provider, canonical model): O(1) in
// the number of credentials, no allocation in steady state.
//
// Thread-safety: a Manager is safe for concurrent use from any number of threads without external
// synchronisation. Published credentials are immutable snapshots.
#ifndef AUTHROUTER_MANAGER_H_
#define AUTHROUTER_MANAGER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "authrouter/clock.h"
#include "authrouter/credential.h"
#include "authrouter/decision.h"
#include "authrouter/health.h"
#include "authrouter/host.h"
#include "authrouter/metrics.h"
#include "authrouter/models.h"
#include "authrouter/refresh.h"
#include "authrouter/result.h"
#include "authrouter/routing_error.h"
#include "authrouter/selector.h"
#include "authrouter/session_cache.h"
#include "authrouter/session_id.h"
#include "authrouter/shared_state.h"

namespace authrouter {
namespace internal {
struct ManagerAccess;  // the library's own components (the watcher, the C ABI)
}  // namespace internal
inline namespace v0 {

// ManagerOptions configures a Manager.
// SessionScope is what a session-affinity binding is per (ManagerOptions).
enum class SessionScope : uint8_t {
  kModel,     // session, provider (or "mixed") and canonical model
  kProvider,  // session and provider (or "mixed"): every model of the conversation together
};

// SessionPlacement is where a conversation without a binding goes (ManagerOptions).
enum class SessionPlacement : uint8_t {
  // The ready credential of the strategy's tier that wins weighted rendezvous hashing of the
  // session key: replicas with the same pool place a new conversation on the same credential
  // without sharing anything, a restart keeps placements, each credential wins a share of new
  // conversations in proportion to its weight (round-robin: equal shares), and a credential
  // that leaves moves only its own conversations. Fill-first and pinned picks use the strategy.
  kRendezvous,
  // The strategy's next pick, as for a request without a session (upstream).
  kStrategy,
};

struct ManagerOptions {
  // --- behaviour ---
  // The built-in strategy. Default: round-robin.
  RoutingStrategy strategy = RoutingStrategy::kRoundRobin;
  // A host selector (selector.h): instead of the strategy (SelectorMode::kSelect) or as a
  // policy over it (the Decide modes). Default: none. With session affinity on, its picks bind.
  std::shared_ptr<Selector> selector{};
  // How long one Select or Decide call may take, by the Manager's clock: a call that took
  // longer is reported to the logger and its answer dropped; the built-in strategy answers.
  // Must be greater than 0 and at most 1 h. Default: 100 ms.
  absl::Duration selector_budget = absl::Milliseconds(100);
  // The models each provider's credentials serve unless they name their own, and the models
  // none of them serve (models.h; the config file's `model-catalog` and
  // `oauth-excluded-models`). Default: empty (credentials serve what they or the host name).
  ModelCatalog model_catalog{};
  // Turns cooldowns off: failures are recorded but never block a credential (model-support
  // errors still suspend for 12 h). A credential's metadata `disable_cooling` overrides this
  // either way. Default: false.
  bool disable_cooling = false;
  // Cooldown after 408/500/502/503/504: 0 means 60 s, > 0 that many seconds,
  // < 0 no cooldown. Default: 0.
  int64_t transient_error_cooldown_seconds = 0;
  // Capped hints, half-open probes, max-ejection-percent and consecutive-failure thresholds,
  // by default and per provider (health.h). Default: CooldownPolicy's defaults for every
  // provider.
  CooldownPolicies cooldowns{};
  // Concurrency limits and their leases (health.h). Default: no limits.
  LeaseOptions leases{};

  // --- session affinity ---
  // Keep each conversation on the credential that served it (session IDs from headers and body,
  // see session_id.h), so the upstream prompt cache keeps hitting. Default: false.
  bool session_affinity = false;
  // How long a binding lives without use. REQUIRES: > 0 and <= 30 days. Default: 1 h.
  absl::Duration session_affinity_ttl = absl::Hours(1);
  // The most bindings kept (oldest evicted first); each holds about 175 bytes plus its key
  // (session_cache.h). REQUIRES: > 0 and <= kMaxSessionAffinityEntries. Default: 1,000,000.
  size_t session_affinity_max_entries = 1'000'000;
  // Whether the content-derived session source (a hash of the first messages, session_id.h)
  // counts; off, only explicit session IDs bind. Default: true.
  bool session_affinity_content = true;
  // What a binding is per: the model as well as the session (kModel, upstream's rule), or the
  // session and provider only (kProvider), so a client's side calls on a small model follow the
  // conversation's credential. Default: kModel.
  SessionScope session_affinity_scope = SessionScope::kModel;
  // How a request without an explicit session ID is identified by its content (session_id.h).
  // Default: kChain, the conversation chain: each conversation stays put from its first
  // request on, and conversations that open with the same boilerplate spread (they stay put
  // from their second request on). kUpstream gives upstream's "msg:"
  // IDs byte for byte, for a fleet that shares bindings with the Go proxy.
  ContentIdentity session_affinity_content_identity = ContentIdentity::kChain;
  // Where a conversation without a binding goes: kRendezvous (replicas and restarts agree) or
  // kStrategy (upstream: the next pick in rotation). A binding, once made, wins either way.
  // Default: kRendezvous.
  SessionPlacement session_placement = SessionPlacement::kRendezvous;

  // --- execution (Manager::Execute) ---
  // Extra retry rounds after a round in which every credential failed (`request-retry`). A
  // credential's metadata `request_retry` overrides it for that credential. REQUIRES: 0..100.
  // Default: 0.
  int64_t request_retry = 0;
  // Credentials tried per round at most; 0 means all (`max-retry-credentials`).
  // REQUIRES: >= 0. Default: 0.
  int64_t max_retry_credentials = 0;
  // The longest wait before another round; 0 disables retry rounds (`max-retry-interval`).
  // REQUIRES: 0..1 h. Default: 0.
  absl::Duration max_retry_interval = absl::ZeroDuration();

  // --- environment ---
  // The time source. Default: SystemClock::Default(). REQUIRES: outlives the Manager.
  const Clock* clock = nullptr;
  // Where credentials persist. Default: none (memory only).
  std::shared_ptr<Store> store{};
  // Who hears about changes. Default: none.
  std::shared_ptr<Hooks> hooks{};
  // Who hears diagnostics (log.h): store errors, refresh failures, what Load skipped, results
  // that were corrected. Default: none.
  std::shared_ptr<Logger> logger{};

  // --- observability (metrics.h, decision.h) ---
  // Count picks, results, cooldowns, session lookups, refreshes, store writes and config reloads
  // (Manager::Metrics). Off, the counters stay at zero; the gauges are still derived. Default:
  // true.
  bool metrics = true;
  // Per-credential series (authrouter_credential_*): off, by ID or by a hash of the ID. Each
  // counted pick and result then takes a mutex and a hash lookup. Default: kOff.
  CredentialSeries metrics_credentials = CredentialSeries::kOff;

  // --- token refresh (refresh.h) ---
  // Refreshers, leads, workers, intervals. Refresh scheduling is active while at least one
  // refresher is configured. Default: none configured.
  RefreshOptions refresh{};

  // --- several replicas (shared_state.h) ---
  // Where replicas share cooldowns, session bindings, concurrency leases, token refreshes and
  // disable/enable: NewRedisSharedState, or the host's own. One SharedState per Manager.
  // Default: none (this Manager decides alone).
  std::shared_ptr<SharedState> shared_state{};
  // How long a pick waits for the shared state's answer when it asks: a session binding unknown
  // here (then it places the conversation itself; rendezvous placement makes replicas agree
  // anyway), and the fleet-wide place of a limited credential (LeaseOptions::fleet kExact; then
  // the local place alone holds). 0: never ask. REQUIRES: 0 .. 1 s. Default: 10 ms.
  absl::Duration shared_lookup_timeout = absl::Milliseconds(10);
  // How long a replica holds a credential's refresh lock at most: a replica that dies holding
  // it blocks the fleet's refreshes of that credential this long, and one whose refresh outlasts
  // it is fenced off if another took the lock since. Also the longest a replica waits for the
  // holder's new tokens. REQUIRES: 1 s .. 10 min, and more than refresh.timeout. Default: 1 min.
  absl::Duration shared_refresh_lock_timeout = absl::Minutes(1);
  // Store refreshed tokens in the shared state too, so that replicas that share no Store adopt
  // them from there. They are secrets: turn it on only for a shared state as trusted as the
  // Store (an ACL user, TLS or a unix socket). Default: false (replicas adopt through the Store
  // they share, ManagerOptions::store).
  bool shared_tokens = false;
};

// RefreshStats counts the refresh loop's work (for monitoring, and for tests that check it does
// nothing while nothing is due).
struct RefreshStats {
  size_t scheduled = 0;             // credentials in the schedule
  std::optional<absl::Time> next{};  // the earliest scheduled check
  uint64_t evaluations = 0;         // NextRefreshCheck and ShouldRefresh evaluations
  uint64_t sift_steps = 0;          // heap element moves
  uint64_t loop_wakeups = 0;        // times the background loop woke up
  uint64_t refreshes_started = 0;   // refresher calls made
  uint64_t refreshes_succeeded = 0;
  uint64_t refreshes_failed = 0;
  uint64_t refreshes_joined = 0;    // refresh requests that shared a call already running
  uint64_t writes_dropped = 0;      // refreshes whose credential was removed before write-back
};

// RetrySettings are the retry settings of Manager::Execute (see ManagerOptions).
struct RetrySettings {
  int64_t request_retry = 0;                                // REQUIRES: 0..100
  int64_t max_retry_credentials = 0;                        // REQUIRES: >= 0; 0 means all
  absl::Duration max_retry_interval = absl::ZeroDuration();  // REQUIRES: 0..1 h

  friend bool operator==(const RetrySettings&, const RetrySettings&) = default;
};

// LoadReport is what Manager::Load did.
struct LoadReport {
  std::vector<std::string> loaded;  // IDs of the credentials now held, sorted
  std::vector<StoreSkip> skipped;   // stored records not loaded, with the reason
};

// ValidateRetrySettings returns InvalidArgumentError naming the first out-of-range field.
[[nodiscard]] absl::Status ValidateRetrySettings(const RetrySettings& settings);

// WriteOptions qualifies one change.
struct WriteOptions {
  // Write the change through the Store. A host applying a change that came from its store (for
  // example a file watcher) sets this to false, so the change is not written back. Default: true.
  bool persist = true;
};

// PickRequest describes one pick. Every view must stay valid for the duration of the call only.
struct PickRequest {
  // The providers that can serve the request, in preference order (e.g. from the host's model
  // registry). Compared trimmed and ASCII lower-cased; blanks and duplicates are dropped.
  std::span<const std::string_view> providers;
  // The model as the client asked for it; may carry a thinking suffix ("gpt-5(high)"), which
  // routing ignores. Empty: any credential of the provider.
  std::string_view model;
  // IDs already tried for this request; they are never picked again. Checked linearly.
  std::span<const std::string_view> tried;
  // When set, only this credential may be picked (it still must be available).
  std::string_view pinned_id;
  // The downstream client is on a websocket: for provider "codex", prefer websocket-capable
  // credentials, even from a lower priority tier.
  bool downstream_websocket = false;
  // With session affinity: the request's headers and raw body, where its session ID is found.
  std::span<const HttpHeader> headers;
  std::string_view body;
  // With session affinity: the caller (an API key, a tenant) the request comes from. Bindings
  // are per tenant: equal session IDs or equal first messages of two tenants never share one.
  // Keys hold a 64-bit hash of it, never the tenant itself. Empty: the shared default tenant.
  std::string_view tenant;
  // When set, receives the pick's decision record (decision.h), for a failed pick too: what was
  // asked, what was taken and why every other credential was not. Null: no record, and no cost.
  PickDecision* decision = nullptr;
};

// ExecuteRequest describes one request for Manager::Execute.
struct ExecuteRequest {
  std::span<const std::string_view> providers;  // as PickRequest::providers
  std::string_view model;                       // as PickRequest::model
  std::string_view pinned_id;                   // as PickRequest::pinned_id
  bool downstream_websocket = false;            // as PickRequest::downstream_websocket
  std::span<const HttpHeader> headers;          // as PickRequest::headers
  std::string_view body;                        // as PickRequest::body
  std::string_view tenant;                      // as PickRequest::tenant
  // Set to true when the client goes away: no new attempt starts and waits end early.
  const std::atomic<bool>* cancelled = nullptr;
};

// ExecuteResult is the end of Manager::Execute that reached an upstream.
struct ExecuteResult {
  std::shared_ptr<const Credential> credential;  // the credential of the last attempt
  std::string provider;                          // its provider
  Outcome outcome;                               // the last attempt's outcome
  int attempts = 0;                              // upstream calls made
  int rounds = 0;                                // rounds run
};

// PickResult is a successful pick.
struct PickResult {
  std::shared_ptr<const Credential> credential;
  // The normalised provider key that served the pick. Valid for the Manager's lifetime.
  std::string_view provider;
  // With session affinity: the session binding this pick used or made. Pass it back as
  // Result::session_key so that a success keeps the binding and a failure releases it.
  std::shared_ptr<const std::string> session;
  // With session affinity, for a request with a previous_response_id: whether the pick follows
  // the response chain (ResponseChain).
  ResponseChain response_chain = ResponseChain::kNone;
  // The credential's place while it has a concurrency limit (health.h): released by
  // MarkResult of a Result whose `lease` points here, by Lease::Release, or when this PickResult
  // is destroyed. Empty for an unlimited credential. (PickResult is move-only because of it.)
  Lease lease;
  // The pick is a half-open probe of a cooldown (health.h): its result decides whether the
  // cooldown ends.
  bool probe = false;
};

// Manager holds the credential pool and makes the picks.
class Manager {
 public:
  // Create builds a Manager. Returns InvalidArgumentError for unusable options.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Manager>> Create(ManagerOptions options);

  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // --- credentials ---

  // Register adds `credential`, replacing any credential with the same ID. An empty ID gets a
  // random UUID v4. Model states are re-keyed by canonical model (suffix variants such as
  // "gpt-5(high)" merge into "gpt-5") and the stable index is assigned. Returns the published
  // snapshot, or InvalidArgumentError when Credential::Validate fails (nothing is changed then). A
  // credential without a provider is stored but never picked; a disabled one is stored and never
  // picked.
  //
  // With a Store, the change is all-or-nothing, and so is every change below (Update,
  // SetDisabled, Remove): the store is written first, by the Manager as its only caller at that
  // moment, and the change is published only when the store accepted it. A refusing store (a
  // full disk, an ID a FileStore cannot name a file after) returns its error and leaves the
  // Manager exactly as it was: nothing picked, nothing to lose on restart. See host.h for what
  // is never saved. Called from a hook or store callback of this Manager, the change cannot be
  // written at once: it is published, written after the callback returns, and a store error then
  // reaches Hooks::OnStoreError only. Runtime changes (results, refreshes, model registrations)
  // are published first and saved after; their store errors reach Hooks::OnStoreError and the
  // logger, and memory stands.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const Credential>> Register(
      Credential credential, WriteOptions options = {});

  // Update replaces an existing credential. The stable index carries over when `credential` has
  // none, and so does creation time. Runtime state (model states, last refresh, next refresh)
  // carries over when `credential` has none of its own and neither the existing nor the incoming
  // record is disabled; a credential disabled and re-enabled this way starts clean. Returns
  // NotFoundError when the ID is unknown, InvalidArgumentError as Register.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const Credential>> Update(
      Credential credential, WriteOptions options = {});

  // Update writes the record it is given as a whole: a record read with Get and then changed
  // puts back whatever it held when it was read, over a change made meanwhile (the watcher
  // applying a re-login's new tokens, a refresh). To change some fields of the current record,
  // use Edit.
  //
  // Edit changes a credential read-modify-write without losing a change made meanwhile: `edit`
  // gets a copy of the record as it is when the change is committed and changes what it means
  // to change (metadata members, attributes, priority, ...); the result is committed as Update
  // commits it (written to the store first, all-or-nothing). `edit` returning an error, or
  // throwing, changes nothing and Edit returns that error (InternalError for an exception).
  // `edit` runs under the Manager's lock and may run twice (again on a newer record when a
  // result or refresh changed it while the store was written), so it must be a function of its
  // argument only and must not call this Manager. Returns NotFoundError when the ID is unknown,
  // InvalidArgumentError when the edited record is invalid or has another ID.
  using EditFn = std::function<absl::Status(Credential& credential)>;
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const Credential>> Edit(std::string_view id,
                                                                      const EditFn& edit,
                                                                      WriteOptions options = {});

  // SetDisabled disables (status "disabled") or re-enables (status "active") a credential.
  // Disabling releases its session bindings. Returns NotFoundError when the ID is unknown.
  [[nodiscard]] absl::Status SetDisabled(std::string_view id, bool disabled);

  // Remove deletes a credential, its routing state and its session bindings. Its
  // model registrations stay, so a credential re-created under the same ID is routable at once.
  // Returns NotFoundError when the ID is unknown.
  [[nodiscard]] absl::Status Remove(std::string_view id, WriteOptions options = {});

  // Load replaces every credential with the Store's list (startup). Cooldowns saved with the
  // credentials hold again. Nothing is written back and no hook runs. A stored
  // credential that fails Credential::Validate is skipped and reported through
  // Hooks::OnStoreError. With `report`, *report receives the loaded IDs and every skipped record
  // with its reason (the Store's skips included, Store::ListReporting); the same goes to the
  // logger. Returns FailedPreconditionError without a Store, or the Store's error (the Manager
  // is then unchanged).
  [[nodiscard]] absl::Status Load(LoadReport* report = nullptr);

  // Get returns the current snapshot of a credential, or nullptr.
  std::shared_ptr<const Credential> Get(std::string_view id) const;

  // List returns every credential, sorted by ID.
  std::vector<std::shared_ptr<const Credential>> List() const;

  // --- models ---

  // RegisterModels sets the models credential `id` serves, as the host: exact names (stored by
  // canonical key) or `*` globs (models.h). The host's registration takes precedence over the
  // credential's own `models` and the catalog; the credential's exclusions still apply. The
  // credential need not exist yet; the registration outlives Remove. Takes effect for picks at
  // once. Model states are reconciled: states of models no longer served are dropped, and a model
  // added to an earlier registration starts clean. Registering the same models again changes
  // nothing, so a live cooldown survives it (unlike upstream, which cleared every cooldown on each
  // re-registration); so does the first registration after a restart, so persisted cooldowns keep
  // holding.
  void RegisterModels(std::string_view id, std::span<const std::string_view> models);
  void RegisterModels(std::string_view id, std::initializer_list<std::string_view> models) {
    RegisterModels(id, std::span<const std::string_view>(models.begin(), models.size()));
  }

  // A credential whose model states changed is saved and reported through Hooks::OnUpdated; a
  // store failure reaches Hooks::OnStoreError.

  // UnregisterModels drops the host's registration of `id`: the credential serves what its own
  // `models` or the catalog give (or nothing).
  void UnregisterModels(std::string_view id);

  // Models returns the patterns `id` serves now (exact canonical keys and globs), sorted; for an
  // ID not loaded yet, the host's registration.
  std::vector<std::string> Models(std::string_view id) const;

  // GetServedModels returns what `id` serves and where that comes from (models.h), or nullopt
  // for an ID that is neither loaded nor registered by the host.
  std::optional<ServedModels> GetServedModels(std::string_view id) const;

  // SetModelCatalog replaces the model catalog (hot reload). Every credential whose served models
  // change is re-routed; cooldowns of models it still serves stay, states of models it no longer
  // serves are dropped, and a model it newly serves starts clean.
  void SetModelCatalog(const ModelCatalog& catalog);
  ModelCatalog GetModelCatalog() const;

  // --- results ---

  // MarkResult records the outcome of an upstream call: a failure may cool the model
  // down, a success clears it. A success on a healthy credential changes nothing and takes no
  // exclusive lock. Results of client cancellations, closed connections and
  // request-scoped 404s change nothing. An empty credential ID is ignored. A retry_after below
  // 0 counts as 0 and one over 30 days as 30 days (the failure is still recorded; the logger
  // hears about it). Returns NotFoundError for an unknown credential, InvalidArgumentError for an
  // HTTP status outside 0..999, a success with an HTTP status of 400 or more, or text that is not
  // UTF-8 (nothing is recorded then).
  [[nodiscard]] absl::Status MarkResult(const Result& result);

  // ResetCooldowns clears the cooldown and quota state of one model of a credential, or of all
  // its models and the credential itself when `model` is empty. Returns
  // NotFoundError when the ID is unknown.
  [[nodiscard]] absl::Status ResetCooldowns(std::string_view id, std::string_view model = {});

  // --- picking ---

  // Pick chooses the credential for one request. On failure the status carries a RoutingError
  // (see routing_error.h): NOT_FOUND auth_not_found, UNAVAILABLE auth_unavailable,
  // RESOURCE_EXHAUSTED model_cooldown (with Retry-After), INVALID_ARGUMENT provider_not_found.
  [[nodiscard]] absl::StatusOr<PickResult> Pick(const PickRequest& request);

  // Pick for one provider and a model.
  [[nodiscard]] absl::StatusOr<PickResult> Pick(std::string_view provider, std::string_view model);

  // --- execution ---

  // Execute runs a request with failover and retries: it picks a credential, calls
  // `executor`, records the result, and on failure tries the next untried credential (at most
  // max_retry_credentials per round). When a round fails everywhere it waits for the closest
  // cooldown (or a 429's Retry-After) and runs another round, while the wait is at most
  // max_retry_interval and the credentials' request-retry allows; waits carry a small random
  // jitter that never crosses max_retry_interval. A request-invalid error
  // (see result.h), a stream that already sent bytes, or a cancellation ends it at once.
  //
  // Returns the ExecuteResult of the last upstream call (outcome.success tells whether the
  // request succeeded), or the pick's RoutingError when no upstream was called at all, or
  // CancelledError when the caller went away.
  [[nodiscard]] absl::StatusOr<ExecuteResult> Execute(const ExecuteRequest& request,
                                                      Executor& executor);

  // SetStrategy switches the built-in strategy. Rotation cursors within each provider are kept;
  // mixed-provider rotations (and weighted scores) start over.
  void SetStrategy(RoutingStrategy strategy);
  RoutingStrategy strategy() const;

  // SetSessionAffinity turns session affinity on or off, or changes the binding TTL (hot reload).
  // Turning it off drops every binding and stops the cache's sweeper once;
  // changing only the TTL keeps every binding. Returns InvalidArgumentError for a TTL out of
  // range.
  [[nodiscard]] absl::Status SetSessionAffinity(bool enabled, absl::Duration ttl);

  // SetSessionAffinityMaxEntries changes the most bindings kept (hot reload), now if affinity is
  // on (a lower bound evicts the groups refreshed longest ago at once) and for every cache it
  // turns on later. Returns InvalidArgumentError for 0 or more than kMaxSessionAffinityEntries.
  [[nodiscard]] absl::Status SetSessionAffinityMaxEntries(size_t max_entries);

  // SetSessionIdentity changes which sources make a session and what a binding is per (hot
  // reload; ManagerOptions::session_affinity_content and session_affinity_scope). Bindings made
  // before stay until they expire; a scope change makes new keys, so conversations bind anew.
  void SetSessionIdentity(bool content_sources, SessionScope scope, ContentIdentity content);

  // SetSessionPlacement changes where conversations without a binding go (hot reload;
  // ManagerOptions::session_placement). Bindings made before stay.
  void SetSessionPlacement(SessionPlacement placement);

  // SetSelector installs a host selector (nullptr restores the built-in strategy). The one it
  // replaces, when it is a StoppableSelector and not `selector` itself, is stopped once after
  // the switch, outside the Manager's locks; the Manager's destructor stops the one it holds.
  void SetSelector(std::shared_ptr<Selector> selector);

  // SetRetrySettings replaces the retry settings (hot reload). Requests already running keep the
  // settings they started with; no cooldown is touched. Returns InvalidArgumentError (and changes
  // nothing) for values out of range.
  [[nodiscard]] absl::Status SetRetrySettings(const RetrySettings& settings);
  RetrySettings GetRetrySettings() const;

  // SetCooling replaces the global cooling switch and the transient-error cooldown (hot reload,
  // see ManagerOptions). They apply to results recorded from now on; existing cooldowns stay.
  void SetCooling(bool disable_cooling, int64_t transient_error_cooldown_seconds);

  // SetCooldownPolicies replaces the cooldown policies (hot reload, health.h): the hint cap and
  // thresholds apply to results recorded from now on; probe intervals and max-ejection-percent
  // re-evaluate every pool at once (a running cooldown keeps its end; its next probe follows the
  // new interval). Returns InvalidArgumentError (and changes nothing) for values out of range.
  [[nodiscard]] absl::Status SetCooldownPolicies(const CooldownPolicies& policies);
  CooldownPolicies GetCooldownPolicies() const;

  // SetLeaseOptions replaces the lease options (hot reload, health.h): default limits apply at
  // once to every credential that sets none (leases already held keep counting, except across a
  // limit raised above its places: docs/health.md), the ttl and busy Retry-After to leases and
  // errors from now on. Returns InvalidArgumentError (and changes
  // nothing) for values out of range.
  [[nodiscard]] absl::Status SetLeaseOptions(const LeaseOptions& options);
  LeaseOptions GetLeaseOptions() const;

  // InFlight returns the leases credential `id` holds now (0 for an unlimited or unknown one).
  uint32_t InFlight(std::string_view id) const;

  // --- token refresh ---
  //
  // The loop keeps a schedule (a min-heap of next-check times) of every credential that may need
  // fresh tokens; any change to a credential re-evaluates that credential only (O(log n)), and
  // nothing is evaluated while nothing is due. A due credential that should refresh is marked
  // pending (no other refresh for 1 min) and handed to a worker. A success merges the new tokens
  // into the current record (only token fields change), sets last_refreshed_at, is saved and
  // reported through Hooks::OnUpdated; when it did not make the credential fresh the next try
  // waits 30 s. A failure waits 5 min; a dead refresh token (a refresh rejected as unauthorized)
  // stops scheduling the credential (see refresh.h). A credential removed (or replaced by
  // Register) while its refresh ran is never written back, nor is one whose refresh token changed
  // meanwhile (a re-login wins).
  // Register of an existing ID and Load keep a credential's identity when its refresh token is
  // unchanged, so a reload in the middle of a refresh does not throw the rotated tokens away.

  // RunDueRefreshes does, on the calling thread, what the background loop does at time `now`:
  // applies pending schedule changes, then refreshes every credential due at `now`, one after
  // the other, using `now` as the current time. Returns the number of refreshes run (a refresh
  // that joined one already running counts too).
  // For hosts and tests that drive time themselves; may run alongside the background loop.
  size_t RunDueRefreshes(absl::Time now);

  // StartRefreshLoop starts the background loop: one scheduling thread and RefreshOptions::workers
  // refresh workers. A running loop is stopped first (restart). The scheduling thread waits in
  // real time for the clock distance to the next due check; a host driving a ManualClock calls
  // RunDueRefreshes instead. Returns FailedPreconditionError when no refresher is configured.
  [[nodiscard]] absl::Status StartRefreshLoop();

  // StopRefreshLoop stops the loop and joins its threads. Refreshes the loop started are told to
  // stop (their RefreshContext::cancelled turns true) and are waited for. Idempotent; the
  // destructor calls it. Called from a callback (a refresher or hook on a loop thread, or a hook
  // or store call being delivered on any thread, which other threads may be waiting for), it
  // asks the loop to end without waiting: refresh_loop_running() turns false at once and the
  // threads end after their current refresh; the next StartRefreshLoop or StopRefreshLoop from
  // outside callbacks (or the destructor) joins them. From such a callback, StartRefreshLoop
  // while the loop runs and a SetRefreshOptions that would resize or stop it return
  // FailedPreconditionError (they would have to join), and neither ever waits for another
  // thread starting or stopping the loop.
  void StopRefreshLoop();

  // refresh_loop_running reports whether the background loop runs.
  bool refresh_loop_running() const;

  // SetRefreshOptions replaces the refresh configuration (hot reload): refreshers, leads,
  // evaluator, interval, timeout, workers. Every credential is re-evaluated; a running loop
  // resizes its worker pool. Returns InvalidArgumentError (and changes nothing) for options
  // ValidateRefreshOptions rejects.
  [[nodiscard]] absl::Status SetRefreshOptions(RefreshOptions options);

  // Refresh refreshes credential `id` now, whatever its schedule says, and returns the written-
  // back snapshot. Concurrent requests for one credential share one refresher call, which is
  // bounded by RefreshOptions::timeout and not by the caller. Returns NotFoundError for an
  // unknown ID, FailedPreconditionError for a disabled credential or one without a refresher,
  // AbortedError when the credential was removed during the call, or the refresher's error.
  [[nodiscard]] absl::StatusOr<std::shared_ptr<const Credential>> Refresh(std::string_view id);

  // GetRefreshOptions returns the refresh configuration in force.
  RefreshOptions GetRefreshOptions() const;

  // ScheduledRefresh returns when the loop will next look at `id`, as of the last time the loop
  // (or RunDueRefreshes) ran; nullopt when not scheduled.
  std::optional<absl::Time> ScheduledRefresh(std::string_view id) const;

  // GetRefreshStats returns the loop's counters.
  RefreshStats GetRefreshStats() const;

  // StateView returns a JSON view of the pool for operators (Envoy's /clusters for credentials),
  // sorted by ID: per credential its provider, label, pool state (ready, cooling, disabled,
  // refreshing, error), status, account kind, priority, weight, served and excluded models,
  // cooldowns (the credential's and each model's, with their end and cause, the last error's
  // HTTP status and code, and the quota backoff), token expiry, last refresh, next refresh check
  // and the number of session bindings (alias groups) pointing at it. It never holds a secret:
  // no token, API key, metadata, attribute other than priority and weight, account value
  // (GetAccountInfo's e-mail or key;
  // the label is shown, and file stores set it to the e-mail), proxy URL, or error or status
  // message (upstream text may echo anything). The format: docs/observability.md.
  std::string StateView() const;

  // Metrics returns every counter and gauge now (metrics.h); Metrics().Prometheus() is the text a
  // host serves on /metrics. The gauges (credentials by state, session bindings) are derived
  // from the pool at the call; the counters sum every thread's block. O(credentials).
  MetricsSnapshot Metrics() const;

  // SharedStats returns the shared state's counters (connected, published, received, lookups,
  // ...); std::nullopt without shared state.
  std::optional<SharedStateStats> SharedStats() const;

  // logger returns the logger the Manager was created with (nullptr: none), for the parts a
  // host builds around it (FileStore, Watcher).
  const std::shared_ptr<Logger>& logger() const;

 private:
  friend struct ::authrouter::internal::ManagerAccess;
  struct Impl;
  explicit Manager(std::unique_ptr<Impl> impl);
  absl::StatusOr<PickResult> PickUnbound(const PickRequest& request);
  // PickPlaced is PickUnbound for a conversation without a binding (SessionPlacement).
  absl::StatusOr<PickResult> PickPlaced(const PickRequest& request, std::string_view session_key);
  absl::StatusOr<PickResult> PickSession(const PickRequest& request, SessionOutcome* outcome);
  // PickFleet takes the fleet-wide places of `pick` (LeaseOptions::fleet kExact), picking again
  // past credentials full across the fleet.
  absl::StatusOr<PickResult> PickFleet(const PickRequest& request, absl::StatusOr<PickResult> pick,
                                       SessionOutcome* session);
  // PickCounting is Pick; with `count_failures` false a failed pick is not counted (Execute
  // counts the one failure it returns, not the end of every round).
  absl::StatusOr<PickResult> PickCounting(const PickRequest& request, bool count_failures);
  absl::Status MarkCorrected(const Result& reported);
  size_t ProcessDueRefreshes(absl::Time now, std::vector<std::string>* jobs);
  void ApplyDirtyRefreshesLocked(absl::Time now);
  absl::StatusOr<std::shared_ptr<const Credential>> RefreshShared(std::string_view id,
                                                                  std::optional<absl::Time> now,
                                                                  bool from_loop);
  absl::StatusOr<std::shared_ptr<const Credential>> RefreshOnce(std::string_view id,
                                                                std::optional<absl::Time> now,
                                                                bool from_loop);
  absl::Status StartRefreshLoopLocked();
  void StopRefreshLoopLocked();
  std::unique_ptr<Impl> impl_;
};

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_MANAGER_H_
