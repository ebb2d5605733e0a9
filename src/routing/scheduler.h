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
#include "authrouter/models.h"
#include "authrouter/selector.h"
#include "internal/string_map.h"
#include "internal/two_ended_array.h"

namespace authrouter::internal {

// BlockReason and BlockResult are the outcome of spec 02 §2.
enum class BlockReason : uint8_t { kNone, kCooldown, kDisabled, kOther };
struct BlockResult {
  bool blocked = false;
  BlockReason reason = BlockReason::kNone;
  absl::Time next = ZeroTime();  // the retry time reported in errors and re-evaluated at
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
  EntryState state = EntryState::kReady;
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

  bool trivial() const { return tried.empty() && pinned.empty() && !require_weight; }
  bool operator()(const Entry* e) const;
};

// Picked is what a pick chose: the credential handle (owned by the structure; copy it before
// the lock is released) and the provider key.
struct Picked {
  const std::shared_ptr<const Credential>* credential = nullptr;
  std::string_view provider;
  explicit operator bool() const { return credential != nullptr; }
};

class Shard {
 public:
  Shard(std::string_view provider, std::string model_key)
      : provider_(provider), model_key_(std::move(model_key)) {}

  const std::string& model_key() const { return model_key_; }

  void Upsert(Meta* meta, absl::Time now);
  void Remove(const Meta* meta);
  // Promote re-evaluates every entry whose wake time has come.
  void Promote(absl::Time now);
  bool has_timers() const { return next_wake_nanos_.load(std::memory_order_acquire) != INT64_MAX; }
  bool PromotionDue(absl::Time now) const {
    return next_wake_nanos_.load(std::memory_order_acquire) <= absl::ToUnixNanos(now);
  }

  // Pick returns the chosen credential, or an empty Picked when nothing passes.
  Picked Pick(const Predicate& pred, bool prefer_ws, RoutingStrategy strategy);
  // PickAt picks round-robin (or by `strategy`) in the `all` view of one priority.
  Picked PickAt(const Predicate& pred, int64_t priority, RoutingStrategy strategy);
  std::string_view provider() const { return provider_; }
  // BestPriority returns the highest priority with a passing ready entry.
  bool BestPriority(const Predicate& pred, int64_t* priority) const;
  Tier* TierAt(int64_t priority) const;
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

  std::string_view provider_;
  std::string model_key_;
  std::unordered_map<const Meta*, Entry> entries_;
  std::vector<std::unique_ptr<Tier>> tiers_;  // priority descending
  std::multimap<absl::Time, Entry*> timers_;
  std::atomic<int64_t> next_wake_nanos_{INT64_MAX};
};

struct ProviderState {
  std::string key;
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
};

// PickSpec is a normalised pick request.
struct PickSpec {
  std::span<const std::string_view> providers;  // normalised, non-empty, unique
  std::string_view model;                       // route model as requested
  std::string_view model_key;                   // canonical
  Predicate pred;
  bool downstream_websocket = false;
  // Precomputed by RequestSpec (pick_spec.h); empty and 0 mean "derive from the fields above".
  std::string_view routing_key;  // RoutingKey(*this)
  uint64_t request_epoch = 0;    // same non-zero epoch on one thread = same providers and model key
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
  // one without ID or provider, is removed instead. REQUIRES: exclusive lock.
  void Upsert(std::shared_ptr<const Credential> credential, absl::Time now);
  // UpdateHealth is Upsert for a new snapshot of a routed credential that differs from the
  // routed one only in health state (status, errors, cooldowns, quota, model states, times): it
  // keeps what routing derived from the rest (priority, weight, parent, prefix, models) and
  // re-evaluates the credential in each of its shards. Anything else takes the Upsert path.
  // REQUIRES: exclusive lock.
  void UpdateHealth(std::shared_ptr<const Credential> credential, absl::Time now);
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
