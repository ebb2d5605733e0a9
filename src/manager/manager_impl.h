// Manager::Impl: the Manager's state, shared by manager.cc (lifecycle, picks, results) and
// execute.cc (execution with retries).
#ifndef AUTHROUTER_MANAGER_MANAGER_IMPL_H_
#define AUTHROUTER_MANAGER_MANAGER_IMPL_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <vector>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>

#include "authrouter/host.h"
#include "authrouter/manager.h"
#include "authrouter/shared_state.h"
#include "internal/br_lock.h"
#include "internal/strings.h"
#include "manager/refresh_state.h"
#include "refresh/refresh_internal.h"
#include "manager/result_state.h"
#include "manager/snapshot_pool.h"
#include "observe/metrics.h"
#include "authrouter/scheduler.h"
#include "routing/scheduler.h"
#include "routing/scheduler_access.h"

namespace authrouter::internal {

// ShouldPersist is the persistence policy of spec 04 §9: never runtime-only credentials, never
// credentials without metadata (API keys from configuration).
inline bool ShouldPersist(const Credential& c) { return !c.RuntimeOnly() && !c.metadata.empty(); }

// CredentialNotFound is the error for an unknown credential ID.
inline absl::Status CredentialNotFound(std::string_view id) {
  return absl::NotFoundError(Cat("credential not found: ", id));
}

// OwnedResult keeps a Result's strings for a hook that runs after the call returned.
struct OwnedResult {
  explicit OwnedResult(const Result& r)
      : id(r.credential_id),
        provider(r.provider),
        model(r.model),
        code(r.error_code),
        message(r.error_message),
        view(r) {
    view.credential_id = id;
    view.provider = provider;
    view.model = model;
    view.error_code = code;
    view.error_message = message;
  }
  OwnedResult(const OwnedResult&) = delete;  // `view` points into this object
  OwnedResult& operator=(const OwnedResult&) = delete;

  std::string id, provider, model, code, message;
  Result view;
};

// DeliveringFor reports whether this thread is delivering events for `owner` right now (a hook
// of `owner` is running further up the stack), across any number of Managers.
inline std::vector<const void*>& DeliveringStack() {
  thread_local std::vector<const void*> stack;
  return stack;
}
inline bool DeliveringFor(const void* owner) {
  const auto& stack = DeliveringStack();
  return std::find(stack.begin(), stack.end(), owner) != stack.end();
}

// LoopOwner is the Manager (its Impl) whose refresh loop thread this is, or null; a callback
// running on one of them cannot ask the loop to join itself.
inline const void*& LoopOwner() {
  thread_local const void* owner = nullptr;
  return owner;
}
// LibraryThreadOf is the Manager whose watcher thread this is (ManagerAccess::LibraryThread).
inline const void*& LibraryThreadOf() {
  thread_local const void* manager = nullptr;
  return manager;
}

// Event is one change on its way to the Store and the Hooks.
struct Event {
  enum class Kind { kRegistered, kUpdated, kRemoved, kResult } kind;
  std::shared_ptr<const Credential> credential;  // the snapshot (kRemoved: the removed one)
  bool persist = false;
  std::optional<OwnedResult> result;
  absl::Status status;  // the store's answer
  bool done = false;
};

// TokenFingerprint is the shared digest of a record's access and refresh token (SharedToken).
std::string TokenFingerprint(const Credential& c);
// MarkRefreshed sets what a successful refresh (or adoption) sets on `next`.
void MarkRefreshed(Credential& next, absl::Time now, const RefreshOptions& options);

// SharedOp is one change on its way to the shared state (shared_state.h): a health entry, or the
// disabled flag of health.credential_id.
struct SharedOp {
  bool disabled_op = false;
  SharedHealth health;
  bool disabled = false;
};

// NormalizePolicies keys the providers' cooldown policies by provider key. (health.cc)
CooldownPolicies NormalizePolicies(const CooldownPolicies& in);

}  // namespace authrouter::internal

namespace authrouter {
inline namespace v0 {

struct Manager::Impl {
  const Clock* clock = nullptr;
  internal::ResultPolicy policy;
  // The cooldown policies (health.h), providers normalised; guarded by mu.
  CooldownPolicies cooldowns;
  // ResultPolicyFor is `policy` with the cooldown policy of provider key `provider`.
  // REQUIRES: mu held.
  internal::ResultPolicy ResultPolicyFor(std::string_view provider) const {
    internal::ResultPolicy p = policy;
    const CooldownPolicy& c = cooldowns.For(provider);
    p.max_cooldown = c.max_cooldown;
    p.consecutive_auth = c.consecutive_auth_failures;
    p.consecutive_not_found = c.consecutive_not_found_failures;
    p.consecutive_transient = c.consecutive_transient_failures;
    return p;
  }
  // Retry settings: read once at the start of each Execute, replaced whole by SetRetrySettings.
  mutable std::mutex retry_mu;
  RetrySettings retry;  // guarded by retry_mu
  RetrySettings Retry() const {
    std::lock_guard<std::mutex> lock(retry_mu);
    return retry;
  }
  std::shared_ptr<Store> store;
  std::shared_ptr<Hooks> hooks;
  std::shared_ptr<Logger> logger;  // set at creation, never changed
  void Log(LogLevel level, std::string_view component, std::string_view message) const {
    LogTo(logger, level, component, message);
  }
  mutable internal::BrLock mu;
  internal::StringMap<std::shared_ptr<const Credential>> records;  // guarded by mu
  // Where the snapshots that results publish come from, and go back to (snapshot_pool.h).
  const std::shared_ptr<internal::SnapshotPool> snapshots = internal::SnapshotPool::Create();
  // Routing is the public Scheduler; the Manager drives its engine under `mu` (records and
  // routing change together), past the Scheduler's own lock.
  Scheduler routing;
  internal::SchedulerCore& scheduler = internal::SchedulerAccess::Core(routing);  // guarded by mu
  // What credentials serve (models.h): the catalog, and the host's RegisterModels calls by ID
  // (normalised patterns; kept across Remove, so a re-created credential serves them at once).
  ModelCatalog catalog;                                        // guarded by mu
  internal::StringMap<std::vector<std::string>> host_models;  // guarded by mu
  std::shared_ptr<Selector> selector;                              // guarded by mu
  std::shared_ptr<SessionCache> sessions;  // non-null while affinity is on; guarded by mu
  std::atomic<bool> affinity{false};       // mirrors sessions != nullptr (a cheap first check)
  std::atomic<bool> session_content{true};  // SetSessionIdentity
  std::atomic<SessionScope> session_scope{SessionScope::kModel};
  std::atomic<SessionPlacement> session_placement{SessionPlacement::kRendezvous};
  std::atomic<ContentIdentity> content_identity{ContentIdentity::kChain};
  absl::Duration selector_budget = absl::Milliseconds(100);  // set at creation
  size_t session_max_entries = 1'000'000;  // guarded by mu
  std::mutex session_bound_mu;  // serialises SetSessionAffinityMaxEntries (applied outside mu)
  // Incarnations: a number per live credential, new on Register and Load, kept by Update. A
  // refresh writes back only into the incarnation it started from.
  internal::StringMap<uint64_t> incarnations;  // guarded by mu
  uint64_t next_incarnation = 1;               // guarded by mu
  internal::RefreshState refresh;
  // Counters (observe/metrics.h); never null after Create.
  std::unique_ptr<observe::Metrics> metrics;
  // Evictions of session caches let go (SetSessionAffinity off), so the counter never falls.
  std::atomic<uint64_t> session_evictions_before{0};

  // ProviderLabel is the provider label of `c`'s series: its routed (normalised) key, or its
  // provider as recorded when it is not routed (disabled). REQUIRES: mu held.
  std::string_view ProviderLabel(const Credential& c) const {
    // Providers are nearly always stored normalised already: no lookup needed then.
    if (!c.provider.empty() && internal::IsProviderKey(c.provider)) return c.provider;
    const std::string_view routed = scheduler.ProviderOf(c.id);
    if (!routed.empty()) return routed;
    if (c.provider.empty()) return "none";
    thread_local std::string normalised;  // a disabled credential's provider, as routing keys it
    normalised = internal::ProviderKey(c.provider);
    return normalised;
  }
  // CountPickFailure counts a failed pick of `request` with its routing reason. (observe.cc)
  void CountPickFailure(const PickRequest& request, const absl::Status& status);
  // Explain fills `out` with the decision record of a pick that returned `pick`, from the pool
  // as it is now. REQUIRES: mu not held. (observe.cc)
  void Explain(const PickRequest& request, const absl::StatusOr<PickResult>& pick,
               SessionOutcome session, PickDecision* out);
  // CountResult counts `r` on `c`. REQUIRES: mu held; metrics enabled.
  // `entered`: the cause of the cooldown this result started, if it started one.
  void CountResult(const Credential& c, const Result& r,
                   std::optional<observe::CooldownCause> entered = std::nullopt) {
    metrics->CountResult(ProviderLabel(c), c.id, observe::ClassifyResult(r.success, r.http_status),
                         entered);
  }

  // --- shared state across replicas (shared_state.h; shared.cc) ---
  std::shared_ptr<SharedState> shared;  // null: this Manager decides alone; set at creation
  absl::Duration shared_lookup_timeout = absl::ZeroDuration();
  struct SharedLink;  // the listener attached to `shared` (shared.cc)
  std::unique_ptr<SharedStateListener> shared_link;
  // Changes to publish, in the order they were made (pushed under `mu`), sent outside every lock.
  std::mutex shared_mu;
  std::deque<internal::SharedOp> shared_out;  // guarded by shared_mu
  bool shared_draining = false;              // guarded by shared_mu
  // The health this replica published and has not heard back yet, per entry ("<id>\0<model>"):
  // the shared form, and when it was queued. A notice for such an entry is either its own (the
  // oldest pending one) or one stored before it, which the pending write supersedes: neither is
  // applied, so a notice on its way never undoes a newer local change. Entries older than
  // kSharedPendingLimit (2 s) are forgotten (a publish the shared state dropped, or a host's
  // client that does not deliver a replica's own notices).
  struct PendingHealth {
    std::string json;
    std::chrono::steady_clock::time_point queued;
  };
  internal::StringMap<std::deque<PendingHealth>> shared_pending;  // guarded by shared_mu
  // QueueHealthLocked queues `h` for publishing and records it as pending. REQUIRES: shared_mu.
  void QueueHealthLocked(SharedHealth h);
  // OwnOrSuperseded reports whether a notice of `h` is this replica's own pending write or one it
  // supersedes (then it is not applied). REQUIRES: shared_mu.
  bool OwnOrSupersededLocked(const SharedHealth& h);
  void AttachShared(std::shared_ptr<SharedState> state, absl::Duration lookup_timeout);
  void DetachShared();
  // Fleet leases (LeaseOptions::fleet; shared.cc). Set by SetFleetLeases under `mu` or at
  // creation; read by picks without it.
  std::atomic<FleetLeases> fleet_leases{FleetLeases::kExact};
  std::atomic<int64_t> fleet_lease_ttl_ms{600'000};
  void SetFleetLeases(const LeaseOptions& options) {
    fleet_leases.store(options.fleet, std::memory_order_relaxed);
    fleet_lease_ttl_ms.store(absl::ToInt64Milliseconds(options.ttl), std::memory_order_relaxed);
  }
  bool FleetExact() const {
    return shared != nullptr && fleet_leases.load(std::memory_order_relaxed) == FleetLeases::kExact;
  }
  // TakeFleetLease takes the fleet-wide places of what `pick->lease` holds locally and adds them
  // to it. False when the fleet has no room (the local lease is then still held); true when
  // taken, or when the shared state did not answer (the pick goes on with the local place).
  bool TakeFleetLease(PickResult* pick, std::string_view model_key);
  // Counters the Manager keeps of its shared-state work (SharedStateStats).
  std::atomic<uint64_t> fleet_taken{0}, fleet_refused{0}, fleet_failures{0};
  std::atomic<uint64_t> refresh_locks{0}, refresh_waits{0}, refresh_fenced{0};
  // Refresh across the fleet (shared_state.h; shared_refresh.cc). Replicas waiting for another's
  // refresh wait on `token_cv` for a notice about it (OnTokenChanged).
  absl::Duration shared_refresh_lock_timeout = absl::Minutes(1);
  bool shared_tokens = false;
  std::mutex token_mu;
  std::condition_variable token_cv;
  // OnTokenChanged: a notice about the refresh of `id` (a new version, or its lock released).
  void OnTokenChanged(std::string_view id, uint64_t /*version*/) {
    {
      std::lock_guard<std::mutex> lock(token_mu);
      auto it = token_notices.find(id);
      if (it == token_notices.end()) {
        token_notices.emplace(std::string(id), 1);
      } else {
        ++it->second;
      }
    }
    token_cv.notify_all();
  }
  // TokenNotices counts the notices heard about the refresh of `id`. REQUIRES: token_mu held.
  uint64_t TokenNoticesLocked(std::string_view id) const {
    auto it = token_notices.find(id);
    return it == token_notices.end() ? 0 : it->second;
  }
  internal::StringMap<uint64_t> token_notices;  // guarded by token_mu
  // FleetTurn is this replica's part in a refresh (shared_refresh.cc): refresh under the lock
  // `fence` took (0: alone, the shared state did not answer), or `adopted`, the tokens another
  // replica refreshed.
  struct FleetTurn {
    uint64_t fence = 0;
    std::shared_ptr<const Credential> adopted;
  };
  // FleetRefreshTurn takes the fleet's refresh lock of `id`, or waits for the replica holding
  // it and adopts its tokens. REQUIRES: shared set; no lock held.
  absl::StatusOr<FleetTurn> FleetRefreshTurn(std::string_view id, absl::Time now, const RefreshOptions& options);
  // AdoptFleetToken takes the tokens of token version `version` (`fingerprint`) from the shared
  // state or the Store into the local record.
  absl::StatusOr<std::shared_ptr<const Credential>> AdoptFleetToken(std::string_view id, uint64_t version,
                                                                    const std::string& fingerprint, absl::Time now,
                                                                    const RefreshOptions& options);
  // QueueHealthDiff queues the health entries that differ between `before` and `after`.
  // REQUIRES: mu held exclusively (the queue order is the change order).
  void QueueHealthDiff(const Credential& before, const Credential& after);
  void QueueDisabled(std::string_view id, bool disabled, absl::Time at);
  void QueueDisabledLocked(std::string_view id, bool disabled, absl::Time at);  // shared_mu held
  // DrainShared sends what is queued (or leaves it to the thread sending now). REQUIRES: mu not
  // held.
  void DrainShared();
  // AdoptHealth applies a remote entry to `c`; false when it changes nothing. REQUIRES: mu held.
  bool AdoptHealth(Credential& c, const SharedHealth& h, absl::Time now);
  // Apply* apply what another replica published (not persisted, not published again).
  // REQUIRES: mu not held.
  void ApplyRemoteHealth(const SharedHealth& h);
  void ApplyRemoteDisabled(std::string_view id, bool disabled);
  // ResyncShared reads back the shared record of every credential held (or of `only`), adopts
  // what is newer there and publishes what the shared state lacks; false when a read failed
  // before the end. REQUIRES: mu not held.
  bool ResyncShared(const std::vector<std::string>& only);
  // LookupSharedBinding asks the shared state for a binding this replica does not know.
  std::optional<std::string> LookupSharedBinding(std::string_view key);
  // PublishBindings shares session bindings. REQUIRES: shared set; mu not held.
  void PublishBindings(std::span<const std::string_view> keys, std::string_view id, absl::Duration ttl);
  // WithDisabled is `current` disabled or enabled at `now`.
  static Credential WithDisabled(const Credential& current, bool disabled, absl::Time now);

  // The outbox: changes wait here, in the order they were published, for the Store and Hooks,
  // which run outside `mu`. One caller at a time drains it; every caller waits for its own event.
  std::mutex out_mu;
  std::condition_variable out_cv;
  std::deque<std::shared_ptr<internal::Event>> outbox;  // guarded by out_mu
  bool draining = false;                      // guarded by out_mu

  // Publish stores a snapshot and routes it. REQUIRES: mu held exclusively.
  void Publish(std::shared_ptr<const Credential> snapshot) {
    refresh.MarkDirty(snapshot->id);
    records.insert_or_assign(snapshot->id, snapshot);
    const bool noop = internal::SuccessChangesNothing(*snapshot);
    scheduler.Upsert(std::move(snapshot), clock->Now(), noop);
  }

  // PublishHealth publishes `snapshot` over the record `it` when only its health state changed
  // (a result): the scheduler keeps what it derived from the rest (UpdateHealth). REQUIRES: mu
  // held exclusively.
  void PublishHealth(internal::StringMap<std::shared_ptr<const Credential>>::iterator it,
                     std::shared_ptr<const Credential> snapshot, absl::Time now) {
    refresh.MarkDirty(snapshot->id);
    it->second = snapshot;
    const bool noop = internal::SuccessChangesNothing(*snapshot);
    scheduler.UpdateHealth(std::move(snapshot), now, noop);
  }

  // AdoptModels resolves what `next` serves (models.h) and hands it to the scheduler; when that
  // differs from what the scheduler had, next's model states are reconciled: states of models it
  // no longer serves are dropped, and a model newly added to an earlier registration starts
  // clean. Returns whether model states changed. REQUIRES: mu held exclusively; `next` not yet
  // published. (manager.cc)
  bool AdoptModels(Credential& next, absl::Time now);

  // RefreshableOn401 reports whether a 401 on `c` should trigger a refresh and one retry (later
  // fix C11): an OAuth credential with a refresh token and a refresher. (refresh_loop.cc)
  bool RefreshableOn401(const Credential& c) const;

  // NewIncarnation starts a new incarnation of `id`. REQUIRES: mu held exclusively.
  void NewIncarnation(const std::string& id) { incarnations.insert_or_assign(id, next_incarnation++); }

  // Reincarnate gives `next` a new incarnation unless it replaces `previous` (nullptr: none)
  // carrying the same refresh token: a reload of the same account keeps its identity, so a
  // refresh running across the reload is still written back. REQUIRES: mu held exclusively.
  void Reincarnate(const Credential& next, const Credential* previous,
                   std::optional<uint64_t> previous_incarnation) {
    if (previous != nullptr && previous_incarnation &&
        internal::RefreshTokenOf(*previous) == internal::RefreshTokenOf(next)) {
      incarnations.insert_or_assign(next.id, *previous_incarnation);
    } else {
      NewIncarnation(next.id);
    }
  }

  // Enqueue queues a change for the Store and Hooks. REQUIRES: mu held (exclusively for a
  // change), so that the outbox order is the publication order. Returns nullptr when there is
  // nobody to tell.
  std::shared_ptr<internal::Event> Enqueue(internal::Event::Kind kind, std::shared_ptr<const Credential> credential,
                                 bool persist, const Result* result = nullptr) {
    persist = persist && store != nullptr && internal::ShouldPersist(*credential);
    if (!persist && hooks == nullptr) return nullptr;
    auto e = std::make_shared<internal::Event>();
    e->kind = kind;
    e->credential = std::move(credential);
    e->persist = persist;
    if (result != nullptr) e->result.emplace(*result);
    std::lock_guard<std::mutex> lock(out_mu);
    outbox.push_back(e);
    return e;
  }

  // Finish delivers queued events (or waits for the thread delivering them) until `e` is done,
  // and returns the store's answer for it. REQUIRES: mu not held.
  //
  // A change made by one of this Manager's hooks (this thread is already delivering for it) is
  // delivered after that hook returns; its store error then reaches Hooks::OnStoreError only.
  absl::Status Finish(const std::shared_ptr<internal::Event>& e) {
    if (e == nullptr) return absl::OkStatus();
    if (internal::DeliveringFor(this)) return absl::OkStatus();
    std::unique_lock<std::mutex> lock(out_mu);
    while (!e->done) {
      if (draining) {
        out_cv.wait(lock);
        continue;
      }
      DrainLocked(lock);
    }
    return e->status;
  }

  // DrainLocked delivers every queued event. REQUIRES: out_mu held via `lock`, !draining.
  void DrainLocked(std::unique_lock<std::mutex>& lock) {
    draining = true;
    while (!outbox.empty()) {
      std::shared_ptr<internal::Event> next = std::move(outbox.front());
      outbox.pop_front();
      lock.unlock();
      internal::DeliveringStack().push_back(this);
      Deliver(*next);
      internal::DeliveringStack().pop_back();
      lock.lock();
      next->done = true;
    }
    draining = false;
    out_cv.notify_all();
  }

  // AcquireWriter makes this thread the only Store/Hooks caller: after every queued event, before
  // any later one. Returns false when this thread already is (a callback of this Manager is
  // running further up the stack); then there is nothing to release. REQUIRES: mu not held.
  bool AcquireWriter() {
    if (internal::DeliveringFor(this)) return false;
    std::unique_lock<std::mutex> lock(out_mu);
    for (;;) {
      if (draining) {
        out_cv.wait(lock);
      } else if (!outbox.empty()) {
        DrainLocked(lock);
      } else {
        break;
      }
    }
    draining = true;
    internal::DeliveringStack().push_back(this);
    return true;
  }

  // ReleaseWriter ends AcquireWriter's turn, then delivers what was queued during it (hooks of
  // the changes made meanwhile), still on this thread, before anything queued later.
  void ReleaseWriter() {
    internal::DeliveringStack().pop_back();
    std::unique_lock<std::mutex> lock(out_mu);
    draining = false;
    if (!outbox.empty()) {
      DrainLocked(lock);
    } else {
      out_cv.notify_all();
    }
  }

  // Serialized runs `fn` as the only Store/Hooks caller (AcquireWriter): Load uses it, so the
  // store is never written with an older snapshot afterwards; the watcher uses it so that what
  // it reads from a file and applies is one step against the Manager's own writes.
  template <typename Fn>
  void Serialized(Fn&& fn) {
    const bool acquired = AcquireWriter();
    fn();
    if (acquired) ReleaseWriter();
  }

  // Commit makes a caller's change all-or-nothing. `build(current)` (current: the record for
  // `id`, nullptr when none) returns the record to publish, std::nullopt to remove it, or an
  // error (nothing changes). When the change is to be persisted, it is first written to the
  // Store, as the only Store caller, and published only when the store accepted it: a refused
  // change leaves the Manager exactly as it was and returns the store's error. `build` runs
  // under `mu` and may run twice (again on the newer record when a result or refresh changed it
  // while the store was written). Returns the published snapshot (nullptr for a removal).
  //
  // Called from a callback of this Manager (a hook or the store itself), the store cannot be
  // written at once: the change is published and written after the callback returns, and a
  // store error then reaches Hooks::OnStoreError only. (manager.cc)
  using BuildFn = std::function<absl::StatusOr<std::optional<Credential>>(const Credential* current)>;
  absl::StatusOr<std::shared_ptr<const Credential>> Commit(std::string_view id, internal::Event::Kind kind,
                                                           bool persist, const BuildFn& build);
  // Picked makes the PickResult of a scheduler pick (its lease moves into it).
  static absl::StatusOr<PickResult> Picked(internal::SchedulerPick& r) {
    // Built in place and filled (an aggregate initialisation would zero the whole object first,
    // lease included, and a PickResult returned would be moved into the StatusOr).
    absl::StatusOr<PickResult> out(absl::in_place);
    PickResult& p = *out;
    p.credential = *r.credential;
    p.provider = r.provider;
    if (r.lease.held()) [[unlikely]] p.lease = std::move(r.lease);
    p.probe = r.probe;
    return out;
  }
  // PickBuiltIn picks with the built-in strategy (no selector). REQUIRES: mu not held.
  absl::StatusOr<PickResult> PickBuiltIn(const internal::PickSpec& spec);
  // Chosen is a host selector's choice, with its lease taken. REQUIRES: mu not held.
  absl::StatusOr<PickResult> Chosen(const internal::PickSpec& spec,
                                    std::shared_ptr<const Credential> credential, std::string_view provider);
  // PickWithSelector asks the host selector (selector.h), outside every lock.
  absl::StatusOr<PickResult> PickWithSelector(const PickRequest& request, const internal::PickSpec& spec,
                                              Selector& host);

  // PublishBuilt publishes what `build` made of the current record of `id` and queues its event.
  // REQUIRES: mu held exclusively. (manager.cc)
  absl::StatusOr<std::shared_ptr<const Credential>> PublishBuilt(
      std::string_view id, internal::Event::Kind kind, bool persist, const BuildFn& build,
      std::shared_ptr<internal::Event>* event, std::shared_ptr<SessionCache>* sessions);

  // WriteStore saves `credential` (or deletes `id` when `credential` is null), logs a failure and
  // tells Hooks::OnStoreError. REQUIRES: the only Store caller (the outbox's drainer or the
  // AcquireWriter thread); mu not held.
  absl::Status WriteStore(std::string_view id, const Credential* credential) {
    absl::Status status;
    try {
      status = credential == nullptr ? store->Delete(id) : store->Save(*credential);
    } catch (...) {
      status = absl::InternalError("the store threw an exception");
    }
    if (metrics->enabled()) metrics->CountStoreWrite(status.ok());
    if (!status.ok()) {
      Log(LogLevel::kError, "store",
          internal::Cat(credential == nullptr ? "deleting " : "saving ", id, " failed: ",
                        internal::ToStd(status.message())));
      if (hooks) {
        try {
          hooks->OnStoreError(id, status);
        } catch (...) {
        }
      }
    }
    return status;
  }

  void Deliver(internal::Event& e) {
    const std::string& id = e.credential->id;
    if (e.persist) {
      if (e.kind == internal::Event::Kind::kRemoved) {
        e.status = WriteStore(id, nullptr);
      } else {
        // The newest record, not the event's snapshot: a change committed while this event
        // waited (Commit writes the store itself) must not be overwritten by an older snapshot.
        std::shared_ptr<const Credential> newest;
        {
          std::shared_lock lock(mu);
          auto it = records.find(id);
          if (it != records.end()) newest = it->second;
        }
        // Removed meanwhile: nothing to save (a persisted removal deleted it already).
        if (newest != nullptr && internal::ShouldPersist(*newest)) e.status = WriteStore(id, newest.get());
      }
    }
    if (!hooks) return;
    try {
      switch (e.kind) {
        case internal::Event::Kind::kRegistered:
          hooks->OnRegistered(e.credential);
          break;
        case internal::Event::Kind::kUpdated:
          hooks->OnUpdated(e.credential);
          break;
        case internal::Event::Kind::kRemoved:
          hooks->OnRemoved(id);
          break;
        case internal::Event::Kind::kResult:
          hooks->OnResult(e.result->view, e.credential);
          break;
      }
    } catch (...) {
    }
  }
};

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_MANAGER_MANAGER_IMPL_H_
