// The scheduler: indexed routing state per provider and canonical model (spec 02 §5).
//
// For every (provider, canonical model) pair that has been asked for, a shard keeps its
// credentials partitioned into ready sets per priority tier (each a list sorted by ID with a
// rotation cursor, plus a websocket-only list) and a timer set of cooling or blocked credentials
// ordered by the time they must be re-evaluated. Credentials move between the sets when their
// state changes, never when a request arrives, so a pick does not scan.
//
// Thread-safety: the owner (the Manager) guards the structure with a shared lock. Pick* calls
// run under the shared lock and only touch atomics and per-view mutexes; everything else needs
// the exclusive lock. Pick* report kNeedsWrite when the pick first needs a structural change
// (a shard to build, a cooldown to promote, a mixed cursor to create); the caller then takes the
// exclusive lock, calls Prepare, and picks again.
#ifndef AUTHROUTER_ROUTING_SCHEDULER_H_
#define AUTHROUTER_ROUTING_SCHEDULER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "authrouter/clock.h"
#include "authrouter/credential.h"
#include "authrouter/health.h"
#include "authrouter/models.h"
#include "authrouter/selector.h"
#include "internal/string_map.h"
#include "internal/two_ended_array.h"
#include "routing/lease_slots.h"

namespace authrouter::internal {

// BlockReason and BlockResult are the outcome of spec 02 §2.
enum class BlockReason : uint8_t { kNone, kCooldown, kDisabled, kOther };
struct BlockResult {
  bool blocked = false;
  BlockReason reason = BlockReason::kNone;
  absl::Time next = ZeroTime();  // the retry time reported in errors and re-evaluated at
  // Whether the block is an exclusion max-ejection-percent may override (health.h): auth,
  // availability or transient errors, never quota or model support. `since`: its last failure.
  bool ejectable = false;
  absl::Time since = ZeroTime();
};

// IsEjectableStatus reports whether a failure with `http_status` makes an exclusion the
// max-ejection-percent rule may override: 401, 402, 403, 404, 408, 500, 502, 503, 504.
bool IsEjectableStatus(int http_status);

// ShardPolicy is what a shard needs of its provider's CooldownPolicy (health.h).
struct ShardPolicy {
  absl::Duration probe_interval = absl::ZeroDuration();
  bool probe_when_exhausted = false;
  int max_ejection_percent = 100;
};

// ProviderHealth is what a provider's shards share: the policy, and the probe and panic counts
// (metrics), which outlive any one shard.
struct ProviderHealth {
  ShardPolicy policy;
  uint64_t probes = 0;  // probes handed out
  uint64_t panics = 0;  // exclusions overridden by max-ejection-percent
};

// EvaluateBlock applies spec 02 §2 to `credential` for `model_key` (a canonical key; "" for a
// model-less request) at `now`. Model states are keyed by canonical model (later fix B1).
BlockResult EvaluateBlock(const Credential& credential, std::string_view model_key, absl::Time now);

// NormalizePrefix returns a credential's model prefix as routing compares it: trimmed, without
// trailing '/'.
std::string NormalizePrefix(std::string_view prefix);

// StateKeyFor returns the model-state key for a routing model key: the canonical key of what
// follows "<prefix>/" when `model_key` starts with it, else `model_key` itself. `prefix` is
// normalised (NormalizePrefix).
std::string_view StateKeyFor(std::string_view prefix, std::string_view model_key);

// ModelMatcher is a credential's ServedModels in the form shard builds test it in: exact names
// by binary search, then the globs, then the exclusions. Shared (immutable) between the
// scheduler's registration table and the credential's Meta.
struct ModelMatcher {
  explicit ModelMatcher(ServedModels served);
  ServedModels rules;
  std::vector<std::string> exact;  // sorted
  std::vector<std::string> globs;
  bool Supports(std::string_view model_key, std::string_view prefix) const;
};

// Meta is a credential's routing data within its provider.
struct Meta {
  std::shared_ptr<const Credential> credential;
  std::string_view provider;  // normalised provider key; views ProviderState::key (never freed)
  int64_t priority = 0;
  int64_t weight = 1;
  bool websockets = false;
  std::string parent;    // virtual parent, "" = none
  std::string prefix;    // NormalizePrefix of the credential's prefix, "" = none
  std::shared_ptr<const ModelMatcher> models;  // what it serves; nullptr: nothing
  // Concurrency limits (health.h): 0 is unlimited. `leases` holds the credential's places while
  // it has a limit (nullptr otherwise).
  int64_t max_in_flight = 0;
  int64_t max_in_flight_per_model = 0;
  std::shared_ptr<LeaseSlots> leases;
  bool limited = false;  // either limit set
  // What its leases know of it (never null): made with the Meta and kept for its life, so that
  // no held lease can see a stale success_is_noop.
  std::shared_ptr<LeasedCredential> owner;
  uint64_t placement_hash = 0;  // PlacementHash of the ID (placement.h)

  std::string_view id() const { return credential->id; }
  bool Supports(std::string_view model_key) const;
  // StateKey returns the model-state key for a shard model (StateKeyFor with this prefix).
  std::string_view StateKey(std::string_view model_key) const {
    return StateKeyFor(prefix, model_key);
  }
};

enum class EntryState : uint8_t { kReady, kCooldown, kBlocked, kDisabled };

struct Tier;

// Entry is a credential inside one shard.
struct Entry {
  Meta* meta = nullptr;
  // How the entry is routed: block_state, unless a max-ejection-percent panic overrides an
  // ejectable exclusion (then kReady while `panicked`).
  EntryState state = EntryState::kReady;
  EntryState block_state = EntryState::kReady;  // what its credential's state says
  bool panicked = false;
  // In the shard's ejection order (ejectable exclusions by the time of their last failure).
  bool ejected = false;
  absl::Time ejected_since = ZeroTime();
  // The next half-open probe of a cooldown (ZeroTime: none), and its timer.
  absl::Time probe_at = ZeroTime();
  bool has_probe = false;
  std::multimap<absl::Time, Entry*>::iterator probe_timer;
  std::multimap<absl::Time, Entry*>::node_type spare_probe;
  // The places of this credential for this model, while it has a per-model limit.
  std::shared_ptr<LeaseSlots> model_leases;
  absl::Time next_retry = ZeroTime();
  // How the entry is indexed right now (meta may already hold newer values during an upsert).
  bool indexed = false;
  int64_t indexed_priority = 0;
  bool indexed_ws = false;
  std::string indexed_parent;
  bool has_timer = false;
  std::multimap<absl::Time, Entry*>::iterator timer;
  // The timer's node while none is set, so that the next cooldown allocates nothing.
  std::multimap<absl::Time, Entry*>::node_type spare_timer;
};

// NextUniqueNumber returns a number it has not returned before in this process (scheduler
// instances, rotation epochs).
uint64_t NextUniqueNumber();

// View is an ordered list of ready entries with its rotation state.
struct View {
  // The ready entries sorted by ID. Both arrays have room at either end (TwoEndedArray), so an
  // entry leaving or re-entering near either end moves few elements.
  TwoEndedArray<Entry*> flat;
  // creds[i] locates flat[i]'s credential for the hot path, in one sequential array, so that a
  // pick does not chase entry -> meta through cold memory: the handle its Meta holds
  // (&meta->credential, which a pick returns), and the snapshot it points to now (whose control
  // block sits just before it and is prefetched a few picks ahead). Both are plain pointers, so
  // inserting and erasing moves trivially copyable elements (a memmove) instead of shared_ptrs.
  struct CredRef {
    const std::shared_ptr<const Credential>* handle;
    const Credential* snapshot;  // handle->get(), refreshed when the Meta's snapshot changes
  };
  TwoEndedArray<CredRef> creds;
  // placement[i] is flat[i]'s Meta::placement_hash, so that a placement scan (placement.h) reads
  // one sequential array instead of every entry's Meta.
  TwoEndedArray<uint64_t> placement;
  // epoch names this view's rotation as it stands: a fresh process-wide number at creation and
  // at every store to `cursor` (edits, scans), so that a thread's claimed batch of positions
  // (RotationBatch in scheduler.cc) is dropped once the rotation it came from has changed.
  std::atomic<uint64_t> epoch{NextUniqueNumber()};
  // The rotation cursor: threads claim positions from it, one at a time while one thread picks
  // and in batches while several do. It gets a cache line of its own, so that it never drags the
  // read-mostly fields above along with it.
  alignas(64) std::atomic<uint64_t> cursor{0};  // next position (mod flat.size())
  alignas(64) std::mutex mu;                    // guards the scan-and-store paths below
  // When the last-picked entry is erased: its ID and the cursor value right after, so that a
  // newcomer inserted there before any further pick keeps the rotation in ID order.
  std::string gap_id;
  uint64_t gap_cursor = UINT64_MAX;

  // Two-level rotation when every entry has a virtual parent and there are >= 2 parents.
  struct Group {
    std::string parent;
    std::vector<Entry*> children;
    uint64_t cursor = 0;
  };
  size_t with_parent = 0;
  std::map<std::string, size_t, std::less<>> parent_counts;
  std::vector<Group> groups;  // non-empty only when grouped
  uint64_t parent_cursor = 0;

  // Smooth weighted round-robin state, aligned with `flat`.
  std::vector<int64_t> wrr_weights;
  std::vector<int64_t> wrr_current;

  bool grouped() const { return !groups.empty(); }
};

struct Tier {
  int64_t priority = 0;
  View all;
  View ws;
};

// Predicate is what a pick filters candidates by: the tried set and the pinned ID.
struct Predicate {
  std::span<const std::string_view> tried;
  std::string_view pinned;
  bool require_weight = false;
  // With concurrency limits in the pool: skip entries without a free place at `now_ms`, and
  // take the places of the one picked (until `expires_ms`) into `*lease`.
  bool leases = false;
  bool least_in_flight = false;  // LeaseOptions::least_in_flight (round-robin views)
  int64_t now_ms = 0;
  int64_t expires_ms = 0;
  Lease* lease = nullptr;

  bool trivial() const { return tried.empty() && pinned.empty() && !require_weight && !leases; }
  bool operator()(const Entry* e) const;
  // Passes is operator() without the place check.
  bool Passes(const Entry* e) const;
};

// HasRoom reports whether `e` has a free place (credential and model) at `now_ms`.
bool HasRoom(const Entry* e, int64_t now_ms);
// Take takes e's places for a pick with `pred` (true at once when the pool has no limits).
bool Take(const Predicate& pred, Entry* e);

// Picked is what a pick chose: the credential handle (owned by the structure; copy it before
// the lock is released) and the provider key.
struct Picked {
  const std::shared_ptr<const Credential>* credential = nullptr;
  std::string_view provider;
  Entry* entry = nullptr;  // set when the pick checked places (Predicate::leases), or a probe
  explicit operator bool() const { return credential != nullptr; }
};

class Shard {
 public:
  Shard(std::string_view provider, std::string model_key, ProviderHealth* health)
      : provider_(provider), model_key_(std::move(model_key)), health_(health) {}

  const std::string& model_key() const { return model_key_; }

  void Upsert(Meta* meta, absl::Time now);
  void Remove(const Meta* meta);
  // Promote re-evaluates every entry whose wake time has come.
  void Promote(absl::Time now);
  bool has_timers() const { return next_wake_nanos_.load(std::memory_order_acquire) != INT64_MAX; }
  bool PromotionDue(absl::Time now) const {
    return next_wake_nanos_.load(std::memory_order_acquire) <= absl::ToUnixNanos(now);
  }
  // For picks that may take a probe: a promotion or an eager probe is due (one load).
  bool has_pick_timers() const {
    return next_pick_wake_nanos_.load(std::memory_order_acquire) != INT64_MAX;
  }
  bool PickWakeDue(absl::Time now) const {
    return next_pick_wake_nanos_.load(std::memory_order_acquire) <= absl::ToUnixNanos(now);
  }
  // ProbeDue reports whether a probe (eager or, with `when_exhausted`, any) is due at `now`.
  bool ProbeDue(absl::Time now) const {
    return next_probe_nanos_.load(std::memory_order_acquire) <= absl::ToUnixNanos(now);
  }
  // TakeProbe hands out the earliest due probe whose entry passes `pred` (and takes its places):
  // its next probe is one interval from `now`. REQUIRES: exclusive lock.
  Picked TakeProbe(const Predicate& pred, absl::Time now);
  const ShardPolicy& policy() const { return health_->policy; }
  // Rebalance applies max-ejection-percent after a change of the pool or the policy.
  void Rebalance();
  // Build fills a new shard with the credentials of `metas` serving `model_key`.
  void Build(const StringMap<std::unique_ptr<Meta>>& metas, std::string_view model_key, absl::Time now);
  // PolicyChanged re-evaluates every entry under a new policy. REQUIRES: exclusive lock.
  void PolicyChanged(absl::Time now);
  size_t panicked() const { return panicked_; }
  size_t ejected() const { return ejected_.size(); }

  // Pick returns the chosen credential, or an empty Picked when nothing passes.
  Picked Pick(const Predicate& pred, bool prefer_ws, RoutingStrategy strategy);
  // PickAt picks round-robin (or by `strategy`) in the `all` view of one priority.
  Picked PickAt(const Predicate& pred, int64_t priority, RoutingStrategy strategy);
  std::string_view provider() const { return provider_; }
  // BestPriority returns the highest priority with a passing ready entry.
  bool BestPriority(const Predicate& pred, int64_t* priority) const;
  Tier* TierAt(int64_t priority) const;
  // The tiers, priority descending.
  const std::vector<std::unique_ptr<Tier>>& tiers() const { return tiers_; }
  // Find returns the entry of `meta`, or nullptr.
  const Entry* Find(const Meta* meta) const {
    auto it = entries_.find(meta);
    return it == entries_.end() ? nullptr : &it->second;
  }
  // Collect appends the passing ready entries of `priority` (ID order).
  void Collect(const Predicate& pred, int64_t priority, std::vector<Entry*>* out) const;
  // CollectAll appends the passing ready entries of every tier.
  void CollectAll(const Predicate& pred, std::vector<Entry*>* out) const;

  struct Summary {
    int total = 0;
    int cooldown = 0;
    absl::Time earliest = ZeroTime();
    int busy = 0;                          // ready, passing, but without a free place
    absl::Time earliest_any = ZeroTime();  // the earliest end of any timed block
  };
  void Summarize(const Predicate& pred, Summary* s) const;
  // EarliestWake returns the earliest re-evaluation time of a passing entry that is not ready
  // (cooling or blocked with a time), or ZeroTime when there is none.
  absl::Time EarliestWake(const Predicate& pred) const;
  size_t size() const { return entries_.size(); }

 private:
  void Index(Entry* e);
  void Unindex(Entry* e);
  // RefreshSnapshot points e's views at its Meta's current snapshot (for their prefetch).
  void RefreshSnapshot(Entry* e);
  void SetTimer(Entry* e, absl::Time wake);
  void ClearTimer(Entry* e);
  void UpdateNextWake();
  // Reconcile indexes `e` by its effective state (block_state, or ready while panicked).
  void Reconcile(Entry* e);
  void SetProbe(Entry* e, absl::Time at);
  void ClearProbe(Entry* e);
  void Unject(Entry* e);

  std::string_view provider_;
  std::string model_key_;
  ProviderHealth* health_;  // the provider's (ProviderState::health)
  std::multimap<absl::Time, Entry*> probes_;  // entries by next probe time
  // Ejectable exclusions by the time of their last failure, then by credential ID.
  struct EjectLess {
    bool operator()(const std::pair<absl::Time, Entry*>& a, const std::pair<absl::Time, Entry*>& b) const {
      if (a.first != b.first) return a.first < b.first;
      return a.second->meta->id() < b.second->meta->id();
    }
  };
  std::set<std::pair<absl::Time, Entry*>, EjectLess> ejected_;
  size_t panicked_ = 0;
  bool building_ = false;
  std::unordered_map<const Meta*, Entry> entries_;
  std::vector<std::unique_ptr<Tier>> tiers_;  // priority descending
  std::multimap<absl::Time, Entry*> timers_;
  std::atomic<int64_t> next_wake_nanos_{INT64_MAX};
  std::atomic<int64_t> next_pick_wake_nanos_{INT64_MAX};  // min(wake, eager probes)
  std::atomic<int64_t> next_probe_nanos_{INT64_MAX};      // the earliest probe of any kind
};

struct ProviderState {
  std::string key;
  ProviderHealth health;  // its shards point here
  StringMap<std::unique_ptr<Meta>> metas;    // by credential ID
  // Shards exist only for model keys some credential serves ("" while any credential exists),
  // so requests for unknown models create no state.
  StringMap<std::unique_ptr<Shard>> shards;  // by canonical model key
  StringMap<size_t> served;                  // exact model key -> credentials serving it
  StringMap<size_t> glob_served;             // glob pattern -> credentials serving it
  // Shards built for models only a glob serves, oldest first: any number of model names can
  // match a glob, so at most kMaxGlobShards of them are kept (the oldest is dropped; it is
  // rebuilt from the credentials' snapshots when asked for again).
  std::vector<std::string> glob_shards;
  static constexpr size_t kMaxGlobShards = 256;

  bool Serves(std::string_view model_key) const;
  bool ServesExactly(std::string_view model_key) const;
};

// SchedulerPick is the outcome of a pick attempt. `credential` points at the engine's own handle:
// copy it before the lock is released.
struct SchedulerPick {
  enum Kind { kPicked, kError, kNeedsWrite } kind = kError;
  const std::shared_ptr<const Credential>* credential = nullptr;
  std::string_view provider;
  absl::Status error;
  Lease lease;         // the places taken, when the credential is limited
  bool probe = false;  // a half-open probe of a cooldown
  bool busy = false;   // PickBound: the credential is ready but at its limit
};

// PickSpec is a normalised pick request.
struct PickSpec {
  std::span<const std::string_view> providers;  // normalised, non-empty, unique
  std::string_view model;                       // route model as requested
  std::string_view model_key;                   // canonical
  Predicate pred;
  bool downstream_websocket = false;
  // Under the exclusive lock after TakeProbe found none to take: do not ask for it again.
  bool skip_probes = false;
  // Precomputed by RequestSpec (pick_spec.h); empty and 0 mean "derive from the fields above".
  std::string_view routing_key;  // RoutingKey(*this)
  uint64_t request_epoch = 0;    // same non-zero epoch on one thread = same providers and model key
  // A session's first placement (placement.h): instead of the strategy, the ready credential of
  // the chosen tier with the best rendezvous score for `placement_key` (PlacementHash of the
  // session key). Fill-first and pinned picks keep the strategy (already the same everywhere).
  bool placed = false;
  uint64_t placement_key = 0;
};

// RoutingKey is the key of a (providers, model key) pair: rotation state and per-thread caches
// are keyed by it. Lengths are spelled out, so no two pairs share a key.
std::string RoutingKey(const PickSpec& spec);

class SchedulerCore {
 public:
  SchedulerCore() = default;
  SchedulerCore(const SchedulerCore&) = delete;
  SchedulerCore& operator=(const SchedulerCore&) = delete;

  // Upsert places the credential (already validated) into routing; a disabled credential, or
  // one without ID or provider, is removed instead. `success_is_noop`: a success result on this
  // snapshot would change nothing (the caller's rule; held leases see it, LeasedCredential).
  // REQUIRES: exclusive lock.
  void Upsert(std::shared_ptr<const Credential> credential, absl::Time now, bool success_is_noop);
  // UpdateHealth is Upsert for a new snapshot of a routed credential that differs from the
  // routed one only in health state (status, errors, cooldowns, quota, model states, times): it
  // keeps what routing derived from the rest (priority, weight, parent, prefix, models) and
  // re-evaluates the credential in each of its shards. Anything else takes the Upsert path.
  // REQUIRES: exclusive lock.
  void UpdateHealth(std::shared_ptr<const Credential> credential, absl::Time now, bool success_is_noop);
  // Remove takes the credential out of routing. REQUIRES: exclusive lock.
  void Remove(std::string_view id);
  // SetModels replaces what the credential serves (models.h). Works whether or not the
  // credential is routed yet; a source of kNone drops the registration. REQUIRES: exclusive lock.
  void SetModels(std::string_view id, ServedModels models, absl::Time now);
  // Models returns what `id` serves (source kNone when nothing was set).
  const ServedModels& Models(std::string_view id) const;
  // HasRegistration reports whether models are set for `id`.
  bool HasRegistration(std::string_view id) const { return models_.find(id) != models_.end(); }

  void SetStrategy(RoutingStrategy strategy);
  RoutingStrategy strategy() const { return strategy_; }

  // Pick runs a pick under the shared lock. The clock is read only when a cooldown may have
  // expired or an error must report a reset time.
  SchedulerPick Pick(const PickSpec& spec, const Clock& clock);
  // PickBound picks credential `id` if it can serve the request right now: routed under one of
  // the request's providers, serving its model, ready (in any priority tier, later fix A6) and
  // passing the request's predicate. kError (with an empty status) when it cannot.
  SchedulerPick PickBound(const PickSpec& spec, std::string_view id, const Clock& clock);
  // Prepare makes the structural changes a pick needs. REQUIRES: exclusive lock.
  void Prepare(const PickSpec& spec, absl::Time now);
  // PickExclusive is the pick after Prepare: a due probe of the request's shards first (at the
  // interval), then Pick, then a probe waiting for an exhausted pool. REQUIRES: exclusive lock.
  SchedulerPick PickExclusive(const PickSpec& spec, const Clock& clock);

  // SetPolicies installs the cooldown policies (health.h; providers normalised) and re-evaluates
  // every shard. REQUIRES: exclusive lock.
  void SetPolicies(const CooldownPolicies& policies, absl::Time now);
  // SetLeaseOptions installs the lease defaults and re-derives every credential's limits.
  // REQUIRES: exclusive lock.
  void SetLeaseOptions(const LeaseOptions& options, absl::Time now);
  // ReplicaShare is the part of `limit` this replica enforces (LeaseOptions::fleet kShare).
  int64_t ReplicaShare(int64_t limit) const;
  const LeaseOptions& lease_options() const { return lease_options_; }
  // LeaseChosen takes the places of credential `id` for `spec`'s model, for a host selector's
  // choice (false when it filled up since the candidates were collected; true, with an empty
  // lease, when it is unlimited). Under the shared lock.
  bool LeaseChosen(const PickSpec& spec, std::string_view id, const Clock& clock, Lease* lease) const;
  // InFlight returns the places credential `id` holds at `now` (0 when unlimited).
  uint32_t InFlight(std::string_view id, absl::Time now) const;
  // HealthStats is one provider's probe and panic figures (metrics).
  struct HealthStats {
    std::string_view provider;
    uint64_t probes = 0;          // probes handed out
    uint64_t panics = 0;          // exclusions overridden by max-ejection-percent
    size_t panicked = 0;          // (credential, model) exclusions overridden now
    size_t ejected = 0;           // ejectable exclusions now (overridden or not)
    uint64_t in_flight = 0;       // leases held at `now`
  };
  std::vector<HealthStats> Health(absl::Time now) const;
  // AtLimit reports whether credential `id` is ready for `model_key` but without a free place.
  bool AtLimit(std::string_view id, std::string_view model_key, absl::Time now) const;
  // Panicked reports whether credential `id` is excluded for `model_key` but pickable under
  // max-ejection-percent.
  bool Panicked(std::string_view id, std::string_view model_key) const;
  // Resync re-evaluates every credential of the request's shards from its current snapshot (the
  // safety net after a failed pick). Cursors are kept. REQUIRES: exclusive lock.
  void Resync(const PickSpec& spec, absl::Time now);
  // Candidates collects the available credentials of the best tier for a host Selector, or of
  // every available tier (best first, each by ID) when `all_tiers`; `priorities` (optional)
  // gets each one's tier.
  absl::Status Candidates(const PickSpec& spec, const Clock& clock,
                          std::vector<std::shared_ptr<const Credential>>* out,
                          std::vector<std::string_view>* providers, bool all_tiers = false,
                          std::vector<int64_t>* priorities = nullptr);
  // NeedsPrepare reports whether Candidates/Pick would need Prepare first.
  bool NeedsPrepare(const PickSpec& spec, const Clock& clock) const;

  // EarliestRetry returns the earliest re-evaluation time among the request's blocked
  // credentials (ZeroTime when none). Shards not built yet count as none: call after Prepare.
  absl::Time EarliestRetry(const PickSpec& spec) const;
  // routed returns the number of credentials in routing.
  size_t routed() const { return provider_of_.size(); }

  // KnowsProvider reports whether `key` (normalised) is a provider some credential was routed
  // under.
  bool KnowsProvider(std::string_view key) const { return providers_.find(key) != providers_.end(); }
  // ProviderOf returns the normalised provider of a routed credential, or "".
  std::string_view ProviderOf(std::string_view id) const;

 private:
  struct MixedState {
    // The rotation across providers, claimed like a tier's (epoch, cursor: see View).
    std::atomic<uint64_t> epoch{NextUniqueNumber()};
    std::atomic<uint64_t> total{0};  // the providers' ready total the cursor counts under
    alignas(64) std::atomic<uint64_t> cursor{0};
    alignas(64) std::mutex mu;  // weighted state; a change of `total`
    std::vector<Entry*> scratch;
    std::vector<int64_t> wrr_weights;
    std::vector<int64_t> wrr_current;
  };

  Shard* FindShard(std::string_view provider, std::string_view model_key) const;
  Shard* EnsureShard(ProviderState* provider, std::string_view model_key, absl::Time now);
  SchedulerPick PickSingle(const PickSpec& spec, Shard* shard, const Clock& clock);
  SchedulerPick PickMixed(const PickSpec& spec, Shard* const* shards, MixedState* mixed,
                          const Clock& clock);
  // Changed marks that shards, providers or rotations were created or destroyed, which
  // invalidates every thread's pick cache.
  void Changed() { ++generation_; }
  absl::Status ErrorFor(const PickSpec& spec, std::span<const std::string_view> providers,
                        std::string_view label, const Clock& clock) const;
  MixedState* FindMixed(const PickSpec& spec) const;
  static std::string MixedKey(const PickSpec& spec);
  void ApplyModels(Meta* meta, absl::Time now);
  void CountModels(ProviderState* ps, const ModelMatcher* models, bool add);
  void NoteGlobShard(ProviderState* ps, const std::string& model_key);

  // Each thread remembers the shards and rotation its last pick resolved, keyed by this
  // scheduler's instance and generation, so repeated picks skip the hash lookups.
  struct PickCache {
    uint64_t instance = 0;
    uint64_t generation = 0;
    std::string key;  // RoutingKey of the request
    uint64_t request_epoch = 0;
    std::vector<Shard*> shards;
    MixedState* mixed = nullptr;
  };

  static bool SameKey(const std::string& cached, const PickSpec& spec);
  bool FillCache(const PickSpec& spec, PickCache* cache) const;  // false: needs the exclusive lock

  const uint64_t instance_ = NextInstance();
  uint64_t generation_ = 0;  // guarded by the owner's lock
  static uint64_t NextInstance();

  RoutingStrategy strategy_ = RoutingStrategy::kRoundRobin;
  CooldownPolicies policies_;
  LeaseOptions lease_options_;
  size_t limited_ = 0;  // routed credentials with a concurrency limit
  ShardPolicy PolicyFor(std::string_view provider) const;
  void ApplyLimits(Meta* meta);
  // PickPlaced is Pick for PickSpec::placed (out of line).
  [[gnu::noinline]] SchedulerPick PickPlaced(const PickSpec& spec, Shard* const* shards, MixedState* mixed,
                                             const Clock& clock);
  // PickLeased is Pick's end for a pool with concurrency limits (out of line).
  [[gnu::noinline]] SchedulerPick PickLeased(const PickSpec& spec, Shard* const* shards, MixedState* mixed,
                                             const Clock& clock);
  // WithLeases sets the place checks of a pick in `pred` (for a pool with limits).
  void WithLeases(Predicate* pred, absl::Time now, Lease* lease) const;
  SchedulerPick TakeProbe(const PickSpec& spec, absl::Time now, bool when_exhausted);
  StringMap<std::unique_ptr<ProviderState>> providers_;
  // Where a routed credential is: its provider and its Meta (one lookup for a bound pick).
  struct Routed {
    ProviderState* provider = nullptr;
    Meta* meta = nullptr;
  };
  StringMap<Routed> provider_of_;  // credential ID -> provider and Meta
  StringMap<std::shared_ptr<const ModelMatcher>> models_;  // credential ID -> what it serves
  // Disabled credentials are not routed; these remember them, so that an error can say "all
  // disabled" instead of "none loaded".
  StringMap<std::string> disabled_;     // credential ID -> provider key
  StringMap<size_t> disabled_count_;    // provider key -> disabled credentials
  void SetDisabledMark(std::string_view id, std::string_view provider, bool disabled);
  StringMap<std::unique_ptr<MixedState>> mixed_;  // "p1,p2:model" -> rotation state
  // Mixed rotations are made per distinct request (any model name a glob serves included): past
  // this many they all start over, so clients inventing names cannot grow them without bound.
  static constexpr size_t kMaxMixedRotations = 4096;
};

}  // namespace authrouter::internal

#endif  // AUTHROUTER_ROUTING_SCHEDULER_H_
