#include "routing/scheduler.h"

#include <algorithm>
#include <cassert>
#include <charconv>
#include <optional>

#include "authrouter/model_key.h"
#include "authrouter/result.h"
#include "authrouter/routing_error.h"
#include "internal/strings.h"
#include "routing/placement.h"

namespace authrouter::internal {
namespace {

// How many picks ahead the round-robin hot path prefetches a credential's control block.
constexpr size_t kPrefetchDistance = 4;

bool IdLess(const Entry* a, std::string_view id) { return a->meta->id() < id; }

size_t LowerBound(std::span<Entry* const> flat, std::string_view id) {
  return static_cast<size_t>(std::lower_bound(flat.begin(), flat.end(), id, IdLess) - flat.begin());
}

// Normalize reduces an ever-growing cursor to a position in [0, n).
uint64_t Normalize(uint64_t cursor, size_t n) { return n == 0 ? 0 : cursor % n; }

// Position is the rotation's place for edits: the number of entries before the next one, where a
// rotation that has wrapped (cursor a positive multiple of n) is after the last entry, so that it
// continues after the credential it picked last.
uint64_t Position(uint64_t cursor, size_t n) {
  if (n == 0 || cursor == 0) return 0;
  const uint64_t c = cursor % n;
  return c == 0 ? n : c;
}

// Regroup rebuilds the two-level rotation of a view. Each rotation continues after the parent
// (and, within a group, the child) it picked last, the same rule flat lists follow: a rotation
// that has not moved (cursor 0) starts from the beginning.
void Regroup(View& v) {
  const bool should = v.with_parent == v.flat.size() && v.parent_counts.size() >= 2;
  if (!should) {
    v.groups.clear();
    v.parent_cursor = 0;
    return;
  }
  std::string last_parent;
  std::map<std::string, std::string, std::less<>> last_child;  // parent -> last picked child
  if (!v.groups.empty()) {
    const uint64_t pc = Position(v.parent_cursor, v.groups.size());
    if (pc > 0) last_parent = v.groups[pc - 1].parent;
    for (const View::Group& g : v.groups) {
      const uint64_t cc = Position(g.cursor, g.children.size());
      if (cc > 0) last_child[g.parent] = std::string(g.children[cc - 1]->meta->id());
    }
  }
  std::vector<View::Group> groups;
  groups.reserve(v.parent_counts.size());
  for (const auto& [parent, count] : v.parent_counts) {
    View::Group g;
    g.parent = parent;
    g.children.reserve(count);
    groups.push_back(std::move(g));
  }
  const auto parent_less = [](const View::Group& g, std::string_view p) { return g.parent < p; };
  for (Entry* e : v.flat) {
    std::lower_bound(groups.begin(), groups.end(), e->indexed_parent, parent_less)
        ->children.push_back(e);
  }
  for (View::Group& g : groups) {
    auto lc = last_child.find(g.parent);
    if (lc == last_child.end()) continue;
    const auto it = std::upper_bound(
        g.children.begin(), g.children.end(), lc->second,
        [](std::string_view id, const Entry* e) { return id < e->meta->id(); });
    g.cursor = static_cast<uint64_t>(it - g.children.begin());
  }
  uint64_t parent_cursor = 0;
  if (!last_parent.empty()) {
    const auto it = std::upper_bound(
        groups.begin(), groups.end(), last_parent,
        [](std::string_view p, const View::Group& g) { return p < g.parent; });
    parent_cursor = static_cast<uint64_t>(it - groups.begin());
  }
  v.groups = std::move(groups);
  v.parent_cursor = parent_cursor;
}

void ResetWeights(View& v) {
  v.wrr_weights.clear();
  v.wrr_current.clear();
}

// StoreCursor moves the rotation to `c` and gives it a new epoch, so that no thread goes on
// with positions it claimed before.
template <typename Rotation>  // View or SchedulerCore::MixedState: `cursor` and `epoch`
void StoreCursor(Rotation& v, uint64_t c) {
  v.cursor.store(c, std::memory_order_relaxed);
  v.epoch.store(NextUniqueNumber(), std::memory_order_relaxed);
}

// RotationBatch is a run of rotation positions one thread has claimed from a view, [next, end).
// A thread claims one position at a time while no other thread moves the cursor between its
// claims, so that one thread sees exactly the round-robin order. Once another thread has moved
// it in between, the thread claims twice as many next time, up to kMaxRotationBatch, and halves
// again while it picks alone: under contention the shared cursor line is written once per batch
// instead of once per pick. A thread keeps batches for kRotationBatchSlots views at once; a
// batch is dropped when its view's epoch changes (an edit) or another view takes its slot.
constexpr uint64_t kMaxRotationBatch = 64;
constexpr size_t kRotationBatchSlots = 8;

struct RotationBatch {
  const void* rotation = nullptr;
  uint64_t epoch = 0;
  uint64_t next = 0;
  uint64_t end = 0;
  uint64_t size = 1;  // of the next claim
};

template <typename Rotation>  // View or SchedulerCore::MixedState: `cursor` and `epoch`
[[gnu::always_inline]] inline uint64_t NextPosition(Rotation& v) {
  thread_local RotationBatch batches[kRotationBatchSlots];
  RotationBatch& b = batches[(reinterpret_cast<uintptr_t>(&v) >> 6) % kRotationBatchSlots];
  const uint64_t epoch = v.epoch.load(std::memory_order_relaxed);
  const bool same = b.rotation == &v && b.epoch == epoch;
  if (same && b.next != b.end) return b.next++;
  const uint64_t size = same ? b.size : 1;
  const uint64_t pos = v.cursor.fetch_add(size, std::memory_order_relaxed);
  uint64_t next_size = 1;
  if (same) {
    next_size = pos != b.end ? std::min(size * 2, kMaxRotationBatch)  // another thread picked
                             : std::max<uint64_t>(size / 2, 1);
  }
  b = {&v, epoch, pos + 1, pos + size, next_size};
  return pos;
}

// Insert adds `e` in ID order. The rotation keeps its place by credential: it continues after
// the credential it picked last (so a newcomer placed right after that one is next).
void Insert(View& v, Entry* e) {
  const size_t n = v.flat.size();
  uint64_t c = Position(v.cursor.load(std::memory_order_relaxed), n);
  const size_t pos = LowerBound(v.flat, e->meta->id());
  v.flat.Insert(pos, e);
  v.creds.Insert(pos, View::CredRef{&e->meta->credential, e->meta->credential.get()});
  v.placement.Insert(pos, e->meta->placement_hash);
  // A newcomer landing where the last-picked credential was erased (and nothing was picked
  // since) goes before the cursor when it sorts no later than that credential.
  const bool before_gap = v.gap_cursor == v.cursor.load(std::memory_order_relaxed) &&
                          pos == c && e->meta->id() <= v.gap_id;
  if (pos < c || before_gap) ++c;
  StoreCursor(v, c);
  v.gap_cursor = UINT64_MAX;
  if (!e->indexed_parent.empty()) {
    ++v.with_parent;
    ++v.parent_counts[e->indexed_parent];
  }
  ResetWeights(v);
  if (v.with_parent > 0 || v.grouped()) Regroup(v);
}

void Erase(View& v, Entry* e) {
  const size_t n = v.flat.size();
  const size_t pos = LowerBound(v.flat, e->meta->id());
  if (pos == n || v.flat[pos] != e) return;
  uint64_t c = Position(v.cursor.load(std::memory_order_relaxed), n);
  const bool was_last_picked = c > 0 && pos == c - 1;
  if (was_last_picked) v.gap_id.assign(e->meta->id());
  v.flat.Erase(pos);
  v.creds.Erase(pos);
  v.placement.Erase(pos);
  if (pos < c) --c;
  StoreCursor(v, c);
  v.gap_cursor = was_last_picked ? c : UINT64_MAX;
  if (!e->indexed_parent.empty()) {
    --v.with_parent;
    auto it = v.parent_counts.find(e->indexed_parent);
    if (it != v.parent_counts.end() && --it->second == 0) v.parent_counts.erase(it);
  }
  ResetWeights(v);
  if (v.with_parent > 0 || v.grouped()) Regroup(v);
}

// PickSmooth is smooth weighted round-robin over `entries` (later fix B3): every passing entry
// with a positive weight gains its weight, the highest score wins (ties to the first in ID
// order) and loses the total of the passing weights. The state restarts whenever the configured
// weight vector changes; credentials a pick skips (tried, pinned away) take no part in that pick
// and do not restart it (upstream restarted on every retry). Returns the winner's index, or
// entries.size() when nothing passes.
size_t PickSmooth(std::span<Entry* const> entries, std::vector<int64_t>& weights,
                  std::vector<int64_t>& current, const Predicate& pred) {
  const size_t n = entries.size();
  bool reset = weights.size() != n || current.size() != n;
  if (reset) {
    weights.assign(n, -1);
    current.assign(n, 0);
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t w = std::max<int64_t>(entries[i]->meta->weight, 0);
    if (weights[i] != w) {
      weights[i] = w;
      reset = true;
    }
  }
  if (reset) std::fill(current.begin(), current.end(), 0);
  int64_t total = 0;
  size_t best = n;
  for (size_t i = 0; i < n; ++i) {
    if (weights[i] <= 0 || !pred(entries[i])) continue;
    current[i] += weights[i];
    total += weights[i];
    if (best == n || current[i] > current[best]) best = i;
  }
  if (best != n) current[best] -= total;
  return best;
}

// Choice is what a view pick took: the credential handle (nullptr: nothing) and, off the hot
// path, its entry.
struct Choice {
  const std::shared_ptr<const Credential>* handle = nullptr;
  Entry* entry = nullptr;
  explicit operator bool() const { return handle != nullptr; }
};

Choice At(View& v, size_t i) { return Choice{v.creds[i].handle, v.flat[i]}; }

// LeastInFlight picks the passing entry of `v` with the fewest places held, the first in
// rotation order from the claimed position on a tie.
Choice LeastInFlight(View& v, const Predicate& pred) {
  const size_t n = v.flat.size();
  const size_t start = static_cast<size_t>(NextPosition(v) % n);
  for (int attempt = 0; attempt < 4; ++attempt) {
    size_t best = n;
    uint32_t best_load = UINT32_MAX;
    for (size_t k = 0; k < n; ++k) {
      const size_t j = start + k < n ? start + k : start + k - n;
      Entry* e = v.flat[j];
      if (!pred(e)) continue;
      const uint32_t load = e->meta->leases ? e->meta->leases->InFlight(pred.now_ms) : 0;
      if (load < best_load) {
        best = j;
        best_load = load;
        if (load == 0) break;
      }
    }
    if (best == n) return {};
    if (Take(pred, v.flat[best])) return At(v, best);
  }
  return {};
}

// PickViewLeased is PickView for a pool with concurrency limits: every candidate's places are
// checked and the chosen one's taken (Take). Out of line, so that PickView stays small.
[[gnu::noinline]] Choice PickViewLeased(View& v, const Predicate& pred, RoutingStrategy strategy) {
  const size_t n = v.flat.size();
  if (n == 0) return {};
  switch (strategy) {
    case RoutingStrategy::kFillFirst:
      for (size_t i = 0; i < n; ++i) {
        if (pred(v.flat[i]) && Take(pred, v.flat[i])) return At(v, i);
      }
      return {};
    case RoutingStrategy::kWeightedRoundRobin: {
      std::lock_guard<std::mutex> lock(v.mu);
      // A place taken by another thread between the check and the take: pick again.
      for (size_t attempt = 0; attempt <= n; ++attempt) {
        const size_t i = PickSmooth(v.flat, v.wrr_weights, v.wrr_current, pred);
        if (i >= n) return {};
        if (Take(pred, v.flat[i])) return At(v, i);
      }
      return {};
    }
    case RoutingStrategy::kRoundRobin:
      break;
  }
  if (v.grouped()) {
    std::lock_guard<std::mutex> lock(v.mu);
    const size_t parents = v.groups.size();
    const uint64_t start = Normalize(v.parent_cursor, parents);
    for (size_t off = 0; off < parents; ++off) {
      const size_t pi = (start + off) % parents;
      View::Group& g = v.groups[pi];
      const size_t m = g.children.size();
      const uint64_t cstart = Normalize(g.cursor, m);
      for (size_t k = 0; k < m; ++k) {
        const size_t ci = (cstart + k) % m;
        if (pred(g.children[ci]) && Take(pred, g.children[ci])) {
          g.cursor = ci + 1;
          v.parent_cursor = pi + 1;
          return Choice{&g.children[ci]->meta->credential, g.children[ci]};
        }
      }
    }
    return {};
  }
  if (pred.tried.empty() && pred.pinned.empty() && !pred.require_weight) {
    // Round-robin over limited credentials, lock-free like the hot path: the next claimed
    // position, or the first after it with a free place.
    if (pred.least_in_flight) return LeastInFlight(v, pred);
    const size_t i = static_cast<size_t>(NextPosition(v) % n);
    for (size_t k = 0; k < n; ++k) {
      const size_t j = i + k < n ? i + k : i + k - n;
      if (Take(pred, v.flat[j])) return At(v, j);
    }
    return {};
  }
  std::lock_guard<std::mutex> lock(v.mu);
  const uint64_t start = Normalize(v.cursor.load(std::memory_order_relaxed), n);
  for (size_t k = 0; k < n; ++k) {
    const size_t j = (start + k) % n;
    if (pred(v.flat[j]) && Take(pred, v.flat[j])) {
      StoreCursor(v, j + 1);
      return At(v, j);
    }
  }
  return {};
}

// PickView picks within one view.
Choice PickView(View& v, const Predicate& pred, RoutingStrategy strategy) {
  if (pred.leases) [[unlikely]] return PickViewLeased(v, pred, strategy);
  const size_t n = v.flat.size();
  if (n == 0) return {};
  switch (strategy) {
    case RoutingStrategy::kFillFirst:
      for (size_t i = 0; i < n; ++i) {
        if (pred(v.flat[i])) return At(v, i);
      }
      return {};
    case RoutingStrategy::kWeightedRoundRobin: {
      std::lock_guard<std::mutex> lock(v.mu);
      const size_t i = PickSmooth(v.flat, v.wrr_weights, v.wrr_current, pred);
      return i < n ? At(v, i) : Choice{};
    }
    case RoutingStrategy::kRoundRobin:
      break;
  }
  if (v.grouped()) {
    std::lock_guard<std::mutex> lock(v.mu);
    const size_t parents = v.groups.size();
    const uint64_t start = Normalize(v.parent_cursor, parents);
    for (size_t off = 0; off < parents; ++off) {
      const size_t pi = (start + off) % parents;
      View::Group& g = v.groups[pi];
      const size_t m = g.children.size();
      const uint64_t cstart = Normalize(g.cursor, m);
      for (size_t k = 0; k < m; ++k) {
        const size_t ci = (cstart + k) % m;
        if (pred(g.children[ci])) {
          g.cursor = ci + 1;
          v.parent_cursor = pi + 1;
          return Choice{&g.children[ci]->meta->credential, g.children[ci]};
        }
      }
    }
    return {};
  }
  if (pred.trivial()) {
    // The hot path: the next claimed position (no lock, no scan; at most one atomic increment).
    // The credential a few picks ahead is prefetched, its control block (which the caller's copy
    // of the handle increments) and its Meta's handle (which the caller reads), so that large
    // pools whose credentials are not in cache cost no more.
    const size_t i = static_cast<size_t>(NextPosition(v) % n);
    size_t ahead = i + kPrefetchDistance;  // one division per pick, not two
    if (ahead >= n) ahead = n > kPrefetchDistance ? ahead - n : ahead % n;
    __builtin_prefetch(reinterpret_cast<const char*>(v.creds[ahead].snapshot) - 16, 0, 1);
    __builtin_prefetch(v.creds[ahead].handle, 0, 1);
    return Choice{v.creds[i].handle, nullptr};
  }
  std::lock_guard<std::mutex> lock(v.mu);
  const uint64_t start = Normalize(v.cursor.load(std::memory_order_relaxed), n);
  for (size_t k = 0; k < n; ++k) {
    const size_t j = (start + k) % n;
    if (pred(v.flat[j])) {
      StoreCursor(v, j + 1);
      return At(v, j);
    }
  }
  return {};
}

bool ViewHasPassing(const View& v, const Predicate& pred) {
  if (pred.trivial()) return !v.flat.empty();
  return std::any_of(v.flat.begin(), v.flat.end(), [&](const Entry* e) { return pred(e); });
}

SchedulerPick PickedResult(const std::shared_ptr<const Credential>& credential,
                     std::string_view provider) {
  SchedulerPick r;
  r.kind = SchedulerPick::kPicked;
  r.credential = &credential;
  r.provider = provider;
  return r;
}

SchedulerPick Failed(absl::Status error) {
  SchedulerPick r;
  r.kind = SchedulerPick::kError;
  r.error = std::move(error);
  return r;
}

SchedulerPick NeedsWrite() {
  SchedulerPick r;
  r.kind = SchedulerPick::kNeedsWrite;
  return r;
}

// RoutingKeyBuffer names a pick's providers and model unambiguously on the stack:
// "<len>:<provider>" for each provider, then "|<model key>". Provider and model names may hold
// any byte (",", ":" and "|" included), so the lengths keep distinct requests distinct.
class RoutingKeyBuffer {
 public:
  explicit RoutingKeyBuffer(const PickSpec& spec) {
    size_t len = spec.model_key.size() + 1;
    for (std::string_view p : spec.providers) len += p.size() + 21;
    char* out = len <= sizeof inline_ ? inline_ : (heap_ = std::make_unique<char[]>(len)).get();
    char* w = out;
    for (std::string_view p : spec.providers) {
      w = std::to_chars(w, w + 20, p.size()).ptr;
      *w++ = ':';
      w = std::copy(p.begin(), p.end(), w);
    }
    *w++ = '|';
    w = std::copy(spec.model_key.begin(), spec.model_key.end(), w);
    key_ = std::string_view(out, static_cast<size_t>(w - out));
  }
  std::string_view key() const { return key_; }

 private:
  char inline_[192];
  std::unique_ptr<char[]> heap_;
  std::string_view key_;
};

}  // namespace

// ---- block evaluation (spec 02 §2) ----------------------------------------------------------

BlockResult EvaluateBlock(const Credential& c, std::string_view model_key, absl::Time now) {
  BlockResult r;
  if (c.IsDisabled()) {
    r.blocked = true;
    r.reason = BlockReason::kDisabled;
    return r;
  }
  const absl::Time* retry_after = nullptr;
  const QuotaState* quota = nullptr;
  const std::optional<ErrorRecord>* error = nullptr;
  absl::Time since = ZeroTime();
  if (!model_key.empty()) {
    if (c.model_states.empty()) return r;
    auto it = c.model_states.find(model_key);
    if (it == c.model_states.end()) return r;
    const ModelState& st = it->second;
    if (st.status == CredentialStatus::kDisabled) {
      r.blocked = true;
      r.reason = BlockReason::kDisabled;
      return r;
    }
    if (!st.unavailable || IsZeroTime(st.next_retry_after) || st.next_retry_after <= now) return r;
    retry_after = &st.next_retry_after;
    quota = &st.quota;
    error = &st.last_error;
    since = st.updated_at;
  } else {
    if (!c.unavailable || c.next_retry_after <= now) return r;
    retry_after = &c.next_retry_after;
    quota = &c.quota;
    error = &c.last_error;
    since = c.updated_at;
  }
  r.ejectable = !quota->exceeded && error->has_value() &&
                (IsEjectableStatus((*error)->http_status) ||
                 IsInvalidGrant((*error)->http_status, (*error)->code, (*error)->message));
  r.since = since;
  r.blocked = true;
  r.reason = quota->exceeded ? BlockReason::kCooldown : BlockReason::kOther;
  r.next = *retry_after;
  if (!IsZeroTime(quota->next_recover_at) && quota->next_recover_at > now) {
    r.next = quota->next_recover_at;  // replacement, not max (spec 02 §2)
  }
  if (r.next < now) r.next = now;
  return r;
}

// ---- Meta and Predicate ---------------------------------------------------------------------

ModelMatcher::ModelMatcher(ServedModels served) : rules(std::move(served)) {
  for (const std::string& m : rules.models) (IsModelGlob(m) ? globs : exact).push_back(m);
}

bool ModelMatcher::Supports(std::string_view model_key, std::string_view prefix) const {
  bool included = std::binary_search(exact.begin(), exact.end(), model_key, std::less<>());
  for (size_t i = 0; !included && i < globs.size(); ++i) {
    included = ModelPatternMatches(globs[i], model_key);
  }
  return included && !IsModelExcluded(rules.excluded, model_key, prefix);
}

bool Meta::Supports(std::string_view model_key) const {
  if (model_key.empty()) return true;
  return models != nullptr && models->Supports(model_key, prefix);
}

std::string NormalizePrefix(std::string_view prefix) {
  prefix = TrimSpace(prefix);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  return std::string(prefix);
}

std::string_view StateKeyFor(std::string_view prefix, std::string_view model_key) {
  if (!prefix.empty() && model_key.size() > prefix.size() + 1 &&
      model_key.substr(0, prefix.size()) == prefix && model_key[prefix.size()] == '/') {
    return CanonicalModelKey(model_key.substr(prefix.size() + 1));
  }
  return model_key;
}

bool Predicate::Passes(const Entry* e) const {
  const std::string_view id = e->meta->id();
  if (!pinned.empty() && id != pinned) return false;
  if (require_weight && e->meta->weight <= 0) return false;
  for (std::string_view t : tried) {
    if (t == id) return false;
  }
  return true;
}

bool Predicate::operator()(const Entry* e) const {
  return Passes(e) && (!leases || HasRoom(e, now_ms));
}

bool HasRoom(const Entry* e, int64_t now_ms) {
  return (e->model_leases == nullptr || e->model_leases->HasRoom(now_ms)) &&
         (e->meta->leases == nullptr || e->meta->leases->HasRoom(now_ms));
}

bool Take(const Predicate& pred, Entry* e) {
  if (!pred.leases) return true;
  // A pick that checks places without holding a lease (a host selector's candidates) takes none.
  if (pred.lease == nullptr) return HasRoom(e, pred.now_ms);
  LeaseSlots* model = e->model_leases.get();
  LeaseSlots* credential = e->meta->leases.get();
  uint32_t model_slot = 0, credential_slot = 0;
  uint64_t model_token = 0, credential_token = 0;
  if (model != nullptr && !model->Acquire(pred.now_ms, pred.expires_ms, &model_slot, &model_token)) {
    return false;
  }
  if (credential != nullptr &&
      !credential->Acquire(pred.now_ms, pred.expires_ms, &credential_slot, &credential_token)) {
    if (model != nullptr) model->Release(model_slot, model_token);
    return false;
  }
  if (pred.lease != nullptr && (model != nullptr || credential != nullptr)) {
    LeaseAccess::Hold(*pred.lease, e->meta->leases, credential_slot, credential_token, e->model_leases,
                      model_slot, model_token);
  }
  return true;
}

bool IsEjectableStatus(int s) {
  return s == 401 || s == 402 || s == 403 || s == 404 || s == 408 || s == 500 || s == 502 ||
         s == 503 || s == 504;
}

namespace {

using TimerMap = std::multimap<absl::Time, Entry*>;

// ArmTimer files `e` at `at` in `timers` (a cooldown's re-evaluation, or its next probe),
// reusing the node the entry kept from its last timer, so that the next cooldown allocates
// nothing.
void ArmTimer(TimerMap& timers, Entry* e, absl::Time at, TimerMap::iterator* it,
              TimerMap::node_type* spare, bool* armed) {
  if (*armed) {
    if ((*it)->first == at) return;
    *spare = timers.extract(*it);
  }
  if (spare->empty()) {
    *it = timers.emplace(at, e);
  } else {
    spare->key() = at;
    *it = timers.insert(std::move(*spare));
  }
  *armed = true;
}

// DisarmTimer takes the entry out of `timers`, keeping its node for the next ArmTimer.
void DisarmTimer(TimerMap& timers, TimerMap::iterator* it, TimerMap::node_type* spare, bool* armed) {
  if (!*armed) return;
  *spare = timers.extract(*it);
  *armed = false;
}

}  // namespace

// ---- Shard ----------------------------------------------------------------------------------

void Shard::Upsert(Meta* meta, absl::Time now) {
  auto [it, inserted] = entries_.try_emplace(meta);
  Entry& e = it->second;
  e.meta = meta;
  const BlockResult b = EvaluateBlock(*meta->credential, meta->StateKey(model_key_), now);
  EntryState state = EntryState::kReady;
  if (b.blocked) {
    state = b.reason == BlockReason::kCooldown   ? EntryState::kCooldown
            : b.reason == BlockReason::kDisabled ? EntryState::kDisabled
                                                 : EntryState::kBlocked;
  }
  const bool timed = b.blocked && b.reason != BlockReason::kDisabled;
  const bool was_timed = !inserted && (e.block_state == EntryState::kCooldown ||
                                       e.block_state == EntryState::kBlocked);
  e.block_state = state;
  e.next_retry = timed ? b.next : ZeroTime();
  // A cooling or blocked entry is re-evaluated at its reported retry time (spec 02 §5.6); a
  // re-evaluation that still blocks always reports a later time, so promotion terminates.
  if (timed) {
    SetTimer(&e, b.next);
  } else {
    ClearTimer(&e);
  }
  // Half-open probes: the first one interval after the failure that began the cooldown (a
  // shard built later, or a cooldown loaded from the store, may find that moment passed: the
  // probe is due at once); a cooldown that was already running keeps its schedule (a probe
  // that failed re-armed it one interval on).
  if (timed && health_->policy.probe_interval > absl::ZeroDuration()) {
    if (!was_timed || IsZeroTime(e.probe_at)) {
      const absl::Time began = IsZeroTime(b.since) || b.since > now ? now : b.since;
      e.probe_at = began + health_->policy.probe_interval;
    }
    if (e.probe_at < b.next) {
      SetProbe(&e, e.probe_at);
    } else {
      ClearProbe(&e);
    }
  } else {
    e.probe_at = ZeroTime();
    ClearProbe(&e);
  }
  // max-ejection-percent: an ejectable exclusion takes its place in the ejection order (by the
  // time of its last failure); Rebalance decides which ones hold.
  const bool eject = timed && b.ejectable;
  if (e.ejected && (!eject || e.ejected_since != b.since)) Unject(&e);
  if (eject && !e.ejected) {
    e.ejected = true;
    e.ejected_since = b.since;
    ejected_.emplace(b.since, &e);
  }
  // The per-model limit's places (health.h).
  const int64_t per_model = meta->max_in_flight_per_model;
  if (per_model <= 0) {
    e.model_leases.reset();
  } else if (e.model_leases == nullptr || e.model_leases->capacity() < per_model) {
    e.model_leases = std::make_shared<LeaseSlots>(static_cast<uint32_t>(per_model), meta->owner);
  } else {
    e.model_leases->SetLimit(static_cast<uint32_t>(per_model));
  }
  Rebalance();
  Reconcile(&e);
  UpdateNextWake();
}

void Shard::Reconcile(Entry* e) {
  const EntryState effective = e->panicked ? EntryState::kReady : e->block_state;
  const bool reindex = effective != e->state ||
                       (effective == EntryState::kReady &&
                        (!e->indexed || e->indexed_priority != e->meta->priority ||
                         e->indexed_ws != e->meta->websockets || e->indexed_parent != e->meta->parent));
  if (reindex) {
    if (e->indexed) Unindex(e);
    e->state = effective;
    if (effective == EntryState::kReady) Index(e);
  } else if (e->indexed) {
    RefreshSnapshot(e);
  }
}

void Shard::Unject(Entry* e) {
  if (!e->ejected) return;
  ejected_.erase({e->ejected_since, e});
  e->ejected = false;
  e->ejected_since = ZeroTime();
  if (e->panicked) {
    e->panicked = false;
    --panicked_;
  }
}

void Shard::Build(const StringMap<std::unique_ptr<Meta>>& metas, std::string_view model_key,
                  absl::Time now) {
  // max-ejection-percent applies once every entry is in (not entry by entry in hash order).
  building_ = true;
  for (auto& [id, meta] : metas) {
    if (meta->Supports(model_key)) Upsert(meta.get(), now);
  }
  building_ = false;
  Rebalance();
  UpdateNextWake();
}

void Shard::Rebalance() {
  if (ejected_.empty() || building_) return;
  const int percent = health_->policy.max_ejection_percent;
  const size_t allowed = percent >= 100 ? SIZE_MAX : entries_.size() * static_cast<size_t>(percent) / 100;
  size_t held = 0;
  // The newest exclusions hold, up to the allowed share; the oldest beyond it are overridden.
  for (auto it = ejected_.rbegin(); it != ejected_.rend(); ++it) {
    Entry* x = it->second;
    const bool panic = held >= allowed;
    if (!panic) ++held;
    if (x->panicked == panic) continue;
    x->panicked = panic;
    if (panic) {
      ++panicked_;
      ++health_->panics;
    } else {
      --panicked_;
    }
    Reconcile(x);
  }
}

void Shard::PolicyChanged(absl::Time now) {
  for (auto& [meta, e] : entries_) {
    if (e.block_state == EntryState::kReady || e.block_state == EntryState::kDisabled) continue;
    e.probe_at = ZeroTime();  // the next probe follows the new interval, from the cooldown's start
    Upsert(e.meta, now);
  }
  Rebalance();
  UpdateNextWake();
}

void Shard::SetProbe(Entry* e, absl::Time at) {
  e->probe_at = at;
  ArmTimer(probes_, e, at, &e->probe_timer, &e->spare_probe, &e->has_probe);
}

void Shard::ClearProbe(Entry* e) { DisarmTimer(probes_, &e->probe_timer, &e->spare_probe, &e->has_probe); }

Picked Shard::TakeProbe(const Predicate& pred, absl::Time now) {
  const absl::Duration interval = health_->policy.probe_interval;
  Picked taken;
  for (auto it = probes_.begin(); it != probes_.end() && it->first <= now;) {
    Entry* e = it->second;
    ++it;  // e's node may move below
    const absl::Time next = now + interval;
    const auto reschedule = [&] {
      if (interval > absl::ZeroDuration() && next < e->next_retry) {
        SetProbe(e, next);
      } else {
        e->probe_at = next;
        ClearProbe(e);
      }
    };
    if (e->state == EntryState::kReady) {  // overridden by a panic: picked as it is
      reschedule();
      continue;
    }
    if (pred.require_weight && e->meta->weight <= 0) {  // never taken under this strategy
      reschedule();
      continue;
    }
    if (!pred.Passes(e)) continue;  // stays due for the next pick that may take it
    if (pred.leases && (!HasRoom(e, pred.now_ms) || !Take(pred, e))) {
      reschedule();  // full: this interval's probe is skipped
      continue;
    }
    reschedule();
    ++health_->probes;
    taken = Picked{&e->meta->credential, provider_, e};
    break;
  }
  UpdateNextWake();
  return taken;
}

void Shard::RefreshSnapshot(Entry* e) {
  Tier* t = TierAt(e->indexed_priority);
  if (t == nullptr) return;
  for (View* v : {&t->all, &t->ws}) {
    const size_t pos = LowerBound(v->flat, e->meta->id());
    if (pos < v->flat.size() && v->flat[pos] == e) {
      v->creds[pos].snapshot = e->meta->credential.get();
    }
  }
}

void Shard::Remove(const Meta* meta) {
  auto it = entries_.find(meta);
  if (it == entries_.end()) return;
  Entry& e = it->second;
  if (e.indexed) Unindex(&e);
  ClearTimer(&e);
  ClearProbe(&e);
  Unject(&e);
  entries_.erase(it);
  Rebalance();
  UpdateNextWake();
}

void Shard::Promote(absl::Time now) {
  while (!timers_.empty() && timers_.begin()->first <= now) {
    Entry* e = timers_.begin()->second;
    ClearTimer(e);
    Upsert(e->meta, now);
  }
  UpdateNextWake();
}

void Shard::SetTimer(Entry* e, absl::Time wake) {
  ArmTimer(timers_, e, wake, &e->timer, &e->spare_timer, &e->has_timer);
}

void Shard::ClearTimer(Entry* e) { DisarmTimer(timers_, &e->timer, &e->spare_timer, &e->has_timer); }

void Shard::UpdateNextWake() {
  // Rounded up to the nanosecond, so that "due" on the shared path (whole nanoseconds) implies
  // due for Promote (exact time).
  const auto nanos = [](absl::Time t) {
    return absl::ToInt64Nanoseconds(absl::Ceil(t - absl::UnixEpoch(), absl::Nanoseconds(1)));
  };
  const int64_t wake = timers_.empty() ? INT64_MAX : nanos(timers_.begin()->first);
  const int64_t probe = probes_.empty() ? INT64_MAX : nanos(probes_.begin()->first);
  next_wake_nanos_.store(wake, std::memory_order_release);
  next_probe_nanos_.store(probe, std::memory_order_release);
  next_pick_wake_nanos_.store(health_->policy.probe_when_exhausted ? wake : std::min(wake, probe),
                              std::memory_order_release);
}

void Shard::Index(Entry* e) {
  e->indexed_priority = e->meta->priority;
  e->indexed_ws = e->meta->websockets;
  e->indexed_parent = e->meta->parent;
  auto it = std::lower_bound(tiers_.begin(), tiers_.end(), e->indexed_priority,
                             [](const std::unique_ptr<Tier>& t, int64_t p) { return t->priority > p; });
  if (it == tiers_.end() || (*it)->priority != e->indexed_priority) {
    auto tier = std::make_unique<Tier>();
    tier->priority = e->indexed_priority;
    it = tiers_.insert(it, std::move(tier));
  }
  Insert((*it)->all, e);
  if (e->indexed_ws) Insert((*it)->ws, e);
  e->indexed = true;
}

void Shard::Unindex(Entry* e) {
  auto it = std::lower_bound(tiers_.begin(), tiers_.end(), e->indexed_priority,
                             [](const std::unique_ptr<Tier>& t, int64_t p) { return t->priority > p; });
  e->indexed = false;
  if (it == tiers_.end() || (*it)->priority != e->indexed_priority) return;
  Erase((*it)->all, e);
  if (e->indexed_ws) Erase((*it)->ws, e);
  if ((*it)->all.flat.empty()) tiers_.erase(it);
}

Tier* Shard::TierAt(int64_t priority) const {
  for (const auto& t : tiers_) {
    if (t->priority == priority) return t.get();
  }
  return nullptr;
}

[[gnu::always_inline]] inline Picked Shard::Pick(const Predicate& pred, bool prefer_ws,
                                                RoutingStrategy strategy) {
  if (prefer_ws) {
    for (const auto& t : tiers_) {
      if (const Choice c = PickView(t->ws, pred, strategy)) return Picked{c.handle, provider_, c.entry};
    }
  }
  for (const auto& t : tiers_) {
    if (const Choice c = PickView(t->all, pred, strategy)) return Picked{c.handle, provider_, c.entry};
  }
  return Picked{};
}

Picked Shard::PickAt(const Predicate& pred, int64_t priority, RoutingStrategy strategy) {
  Tier* t = TierAt(priority);
  if (t == nullptr) return Picked{};
  if (const Choice c = PickView(t->all, pred, strategy)) return Picked{c.handle, provider_, c.entry};
  return Picked{};
}

bool Shard::BestPriority(const Predicate& pred, int64_t* priority) const {
  for (const auto& t : tiers_) {
    if (ViewHasPassing(t->all, pred)) {
      *priority = t->priority;
      return true;
    }
  }
  return false;
}

void Shard::Collect(const Predicate& pred, int64_t priority, std::vector<Entry*>* out) const {
  const Tier* t = TierAt(priority);
  if (t == nullptr) return;
  for (Entry* e : t->all.flat) {
    if (pred(e)) out->push_back(e);
  }
}

void Shard::CollectAll(const Predicate& pred, std::vector<Entry*>* out) const {
  for (const auto& t : tiers_) {
    for (Entry* e : t->all.flat) {
      if (pred(e)) out->push_back(e);
    }
  }
}

void Shard::Summarize(const Predicate& pred, Summary* s) const {
  for (const auto& [meta, e] : entries_) {
    if (!pred.Passes(&e)) continue;
    ++s->total;
    if (e.state == EntryState::kReady && pred.leases && !HasRoom(&e, pred.now_ms)) ++s->busy;
    if (e.state != EntryState::kReady && !IsZeroTime(e.next_retry) &&
        (IsZeroTime(s->earliest_any) || e.next_retry < s->earliest_any)) {
      s->earliest_any = e.next_retry;
    }
    if (e.state != EntryState::kCooldown) continue;
    ++s->cooldown;
    if (!IsZeroTime(e.next_retry) && (IsZeroTime(s->earliest) || e.next_retry < s->earliest)) {
      s->earliest = e.next_retry;
    }
  }
}

absl::Time Shard::EarliestWake(const Predicate& pred) const {
  absl::Time earliest = ZeroTime();
  for (const auto& [meta, e] : entries_) {
    if (e.state == EntryState::kReady || IsZeroTime(e.next_retry) || !pred(&e)) continue;
    if (IsZeroTime(earliest) || e.next_retry < earliest) earliest = e.next_retry;
  }
  return earliest;
}

// ---- SchedulerCore --------------------------------------------------------------------------

bool ProviderState::ServesExactly(std::string_view model_key) const {
  auto it = served.find(model_key);
  return it != served.end() && it->second > 0;
}

bool ProviderState::Serves(std::string_view model_key) const {
  if (model_key.empty()) return !metas.empty();
  if (ServesExactly(model_key)) return true;
  for (const auto& [glob, count] : glob_served) {
    if (count > 0 && ModelPatternMatches(glob, model_key)) return true;
  }
  return false;
}

void SchedulerCore::CountModels(ProviderState* ps, const ModelMatcher* models, bool add) {
  if (models != nullptr) {
    for (const std::string& m : models->exact) {
      if (add) {
        if (++ps->served[m] == 1) Changed();  // a cached "nobody serves it" is now wrong
        continue;
      }
      auto it = ps->served.find(m);
      if (it == ps->served.end() || --it->second > 0) continue;
      ps->served.erase(it);
      if (!ps->Serves(m) && ps->shards.erase(m) > 0) {
        Changed();  // nobody serves it any more
        std::erase(ps->glob_shards, m);
      }
    }
    bool glob_dropped = false;
    for (const std::string& g : models->globs) {
      if (add) {
        if (++ps->glob_served[g] == 1) Changed();
        continue;
      }
      auto it = ps->glob_served.find(g);
      if (it == ps->glob_served.end() || --it->second > 0) continue;
      ps->glob_served.erase(it);
      glob_dropped = true;
    }
    if (glob_dropped) {
      // Shards that only a dropped glob served go.
      for (auto it = ps->shards.begin(); it != ps->shards.end();) {
        if (!it->first.empty() && !ps->Serves(it->first)) {
          it = ps->shards.erase(it);
          Changed();
        } else {
          ++it;
        }
      }
      std::erase_if(ps->glob_shards, [&](const std::string& k) { return !ps->shards.contains(k); });
    }
  }
  if (ps->metas.empty() && ps->shards.erase(std::string()) > 0) Changed();
}

void SchedulerCore::NoteGlobShard(ProviderState* ps, const std::string& model_key) {
  if (std::find(ps->glob_shards.begin(), ps->glob_shards.end(), model_key) != ps->glob_shards.end()) {
    return;
  }
  ps->glob_shards.push_back(model_key);
  if (ps->glob_shards.size() <= ProviderState::kMaxGlobShards) return;
  const std::string oldest = std::move(ps->glob_shards.front());
  ps->glob_shards.erase(ps->glob_shards.begin());
  if (!ps->ServesExactly(oldest) && ps->shards.erase(oldest) > 0) Changed();
}

uint64_t NextUniqueNumber() {
  static std::atomic<uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

uint64_t SchedulerCore::NextInstance() { return NextUniqueNumber(); }

void SchedulerCore::Upsert(std::shared_ptr<const Credential> credential, absl::Time now,
                           bool success_is_noop) {
  // A view of the ID stays valid: `credential` (and then meta->credential) keeps it alive.
  const std::string_view id = credential->id;
  const std::string provider = ProviderKey(credential->provider);
  if (id.empty() || provider.empty() || credential->disabled) {
    Remove(id);
    if (!id.empty() && !provider.empty()) SetDisabledMark(id, provider, true);
    return;
  }
  SetDisabledMark(id, provider, false);
  if (auto it = provider_of_.find(id); it != provider_of_.end() && it->second.provider->key != provider) {
    Remove(id);
  }
  auto& ps = providers_[provider];
  if (!ps) {
    ps = std::make_unique<ProviderState>();
    ps->key = provider;
    ps->health.policy = PolicyFor(provider);
    Changed();
  }
  auto found = ps->metas.find(id);
  if (found == ps->metas.end()) found = ps->metas.emplace(std::string(id), nullptr).first;
  std::unique_ptr<Meta>& slot = found->second;
  std::shared_ptr<const ModelMatcher> old_models;
  if (!slot) {
    slot = std::make_unique<Meta>();
    slot->owner = std::make_shared<LeasedCredential>(std::string(id), ps->key);
    slot->placement_hash = PlacementHash(id);
    if (ps->metas.size() == 1) Changed();  // the provider serves model-less requests again
  } else {
    old_models = std::move(slot->models);
  }
  Meta* meta = slot.get();
  meta->credential = std::move(credential);
  meta->owner->success_is_noop.store(success_is_noop, std::memory_order_release);
  meta->provider = ps->key;
  meta->priority = meta->credential->Priority();
  meta->weight = meta->credential->Weight();
  meta->websockets = meta->credential->WebsocketsEnabled();
  meta->parent = std::string(meta->credential->VirtualParent());
  meta->prefix = NormalizePrefix(meta->credential->prefix);
  ApplyLimits(meta);
  auto models = models_.find(id);
  meta->models = models == models_.end() ? nullptr : models->second;
  if (auto of = provider_of_.find(id); of != provider_of_.end()) {
    of->second = Routed{ps.get(), meta};
  } else {
    provider_of_.emplace(std::string(id), Routed{ps.get(), meta});
  }
  CountModels(ps.get(), meta->models.get(), true);
  CountModels(ps.get(), old_models.get(), false);
  ApplyModels(meta, now);
}

void SchedulerCore::UpdateHealth(std::shared_ptr<const Credential> credential, absl::Time now,
                                 bool success_is_noop) {
  const std::string_view id = credential->id;
  auto of = provider_of_.find(id);
  Meta* meta = of != provider_of_.end() && !credential->disabled ? of->second.meta : nullptr;
  if (meta == nullptr || meta->credential->disabled || meta->credential->provider != credential->provider ||
      meta->credential->prefix != credential->prefix) {
    Upsert(std::move(credential), now, success_is_noop);
    return;
  }
  // What routing derived from the credential's configuration is unchanged (REQUIRES).
  assert(meta->priority == credential->Priority() && meta->weight == credential->Weight() &&
         meta->websockets == credential->WebsocketsEnabled() &&
         meta->parent == credential->VirtualParent());
  meta->credential = std::move(credential);
  meta->owner->success_is_noop.store(success_is_noop, std::memory_order_release);
  for (auto& [key, shard] : of->second.provider->shards) {
    if (meta->Supports(key)) shard->Upsert(meta, now);
  }
}

void SchedulerCore::ApplyModels(Meta* meta, absl::Time now) {
  ProviderState* ps = provider_of_.find(meta->id())->second.provider;
  for (auto& [key, shard] : ps->shards) {
    if (meta->Supports(key)) {
      shard->Upsert(meta, now);
    } else {
      shard->Remove(meta);
    }
  }
}

void SchedulerCore::SetDisabledMark(std::string_view id, std::string_view provider, bool disabled) {
  auto it = disabled_.find(id);
  if (it != disabled_.end()) {
    if (disabled && it->second == provider) return;
    auto count = disabled_count_.find(it->second);
    if (count != disabled_count_.end() && --count->second == 0) disabled_count_.erase(count);
    disabled_.erase(it);
  }
  if (!disabled) return;
  disabled_.emplace(std::string(id), std::string(provider));
  ++disabled_count_[std::string(provider)];
}

void SchedulerCore::Remove(std::string_view id) {
  SetDisabledMark(id, {}, false);
  auto it = provider_of_.find(id);
  if (it == provider_of_.end()) return;
  ProviderState* ps = it->second.provider;
  auto meta = ps->metas.find(id);
  if (meta != ps->metas.end()) {
    for (auto& [key, shard] : ps->shards) shard->Remove(meta->second.get());
    if (meta->second->limited) --limited_;
    // Leases still held on it take MarkResult's full path (which finds it gone, or moved).
    meta->second->owner->success_is_noop.store(false, std::memory_order_release);
    const std::shared_ptr<const ModelMatcher> models = std::move(meta->second->models);
    ps->metas.erase(meta);
    CountModels(ps, models.get(), false);
  }
  provider_of_.erase(it);
}

void SchedulerCore::SetModels(std::string_view id, ServedModels models, absl::Time now) {
  std::shared_ptr<const ModelMatcher> matcher;
  if (models.source == ModelSource::kNone || models.models.empty()) {
    if (auto it = models_.find(id); it != models_.end()) models_.erase(it);
  } else {
    auto it = models_.find(id);
    if (it != models_.end() && it->second->rules == models) return;  // unchanged
    matcher = std::make_shared<const ModelMatcher>(std::move(models));
    models_.insert_or_assign(std::string(id), matcher);
  }
  auto routed = provider_of_.find(id);
  if (routed == provider_of_.end()) return;
  ProviderState* ps = routed->second.provider;
  Meta* meta = routed->second.meta;
  std::shared_ptr<const ModelMatcher> old_models = std::move(meta->models);
  meta->models = std::move(matcher);
  CountModels(ps, meta->models.get(), true);
  CountModels(ps, old_models.get(), false);
  ApplyModels(meta, now);
}

const ServedModels& SchedulerCore::Models(std::string_view id) const {
  static const ServedModels kNothing;
  auto it = models_.find(id);
  return it == models_.end() ? kNothing : it->second->rules;
}

void SchedulerCore::SetStrategy(RoutingStrategy strategy) {
  strategy_ = strategy;
  mixed_.clear();
  Changed();
}

std::string_view SchedulerCore::ProviderOf(std::string_view id) const {
  auto it = provider_of_.find(id);
  return it == provider_of_.end() ? std::string_view() : std::string_view(it->second.provider->key);
}

Shard* SchedulerCore::FindShard(std::string_view provider, std::string_view model_key) const {
  auto p = providers_.find(provider);
  if (p == providers_.end()) return nullptr;
  auto s = p->second->shards.find(model_key);
  return s == p->second->shards.end() ? nullptr : s->second.get();
}

Shard* SchedulerCore::EnsureShard(ProviderState* ps, std::string_view model_key, absl::Time now) {
  auto it = ps->shards.find(model_key);
  if (it != ps->shards.end()) {
    it->second->Promote(now);
    return it->second.get();
  }
  auto shard = std::make_unique<Shard>(ps->key, std::string(model_key), &ps->health);
  shard->Build(ps->metas, model_key, now);
  Shard* raw = shard.get();
  const std::string key(model_key);
  ps->shards.emplace(key, std::move(shard));
  Changed();
  if (!key.empty() && !ps->ServesExactly(key)) NoteGlobShard(ps, key);
  return raw;
}

SchedulerCore::MixedState* SchedulerCore::FindMixed(const PickSpec& spec) const {
  const RoutingKeyBuffer key(spec);
  auto it = mixed_.find(key.key());
  return it == mixed_.end() ? nullptr : it->second.get();
}

std::string SchedulerCore::MixedKey(const PickSpec& spec) { return RoutingKey(spec); }

std::string RoutingKey(const PickSpec& spec) { return std::string(RoutingKeyBuffer(spec).key()); }

bool SchedulerCore::NeedsPrepare(const PickSpec& spec, const Clock& clock) const {
  for (std::string_view provider : spec.providers) {
    auto p = providers_.find(provider);
    if (p == providers_.end()) continue;
    auto s = p->second->shards.find(spec.model_key);
    if (s == p->second->shards.end()) {
      if (p->second->Serves(spec.model_key)) return true;
      continue;
    }
    if (s->second->has_timers() && s->second->PromotionDue(clock.Now())) return true;
  }
  return false;
}

void SchedulerCore::Prepare(const PickSpec& spec, absl::Time now) {
  for (std::string_view provider : spec.providers) {
    auto p = providers_.find(provider);
    if (p != providers_.end() && p->second->Serves(spec.model_key)) {
      EnsureShard(p->second.get(), spec.model_key, now);
    }
  }
  if (spec.providers.size() > 1 && spec.pred.pinned.empty() && FindMixed(spec) == nullptr) {
    if (mixed_.size() >= kMaxMixedRotations) mixed_.clear();  // under the exclusive lock
    mixed_.emplace(MixedKey(spec), std::make_unique<MixedState>());
    Changed();
  }
}

SchedulerPick SchedulerCore::PickBound(const PickSpec& spec, std::string_view id, const Clock& clock) {
  auto routed = provider_of_.find(id);
  if (routed == provider_of_.end()) return Failed(absl::Status());
  ProviderState* ps = routed->second.provider;
  if (std::find(spec.providers.begin(), spec.providers.end(), ps->key) == spec.providers.end()) {
    return Failed(absl::Status());
  }
  // The shard of this thread's last bound pick, for the same request and provider, while no
  // shard was created or destroyed since (the PickCache rule).
  struct BoundShard {
    uint64_t instance = 0, generation = 0, request_epoch = 0;
    const ProviderState* provider = nullptr;
    const Shard* shard = nullptr;
  };
  thread_local BoundShard memo;
  const Shard* found = nullptr;
  if (spec.request_epoch != 0 && memo.request_epoch == spec.request_epoch && memo.provider == ps &&
      memo.instance == instance_ && memo.generation == generation_) {
    found = memo.shard;
  } else {
    auto s = ps->shards.find(spec.model_key);
    if (s == ps->shards.end()) {
      return ps->Serves(spec.model_key) ? NeedsWrite() : Failed(absl::Status());
    }
    found = s->second.get();
    if (spec.request_epoch != 0) memo = {instance_, generation_, spec.request_epoch, ps, found};
  }
  const Shard& shard = *found;
  if (shard.has_timers() && shard.PromotionDue(clock.Now())) return NeedsWrite();
  const Meta* meta = routed->second.meta;
  Entry* e = const_cast<Entry*>(shard.Find(meta));  // places only: atomics
  Predicate pred = spec.pred;
  pred.require_weight = strategy_ == RoutingStrategy::kWeightedRoundRobin;
  if (e == nullptr || e->state != EntryState::kReady || !pred(e)) return Failed(absl::Status());
  if (limited_ == 0) [[likely]] return PickedResult(meta->credential, meta->provider);
  SchedulerPick r;
  WithLeases(&pred, clock.Now(), &r.lease);
  if (!Take(pred, e)) {
    r = Failed(absl::Status());
    r.busy = true;  // ready, but at its limit
    return r;
  }
  r.kind = SchedulerPick::kPicked;
  r.credential = &meta->credential;
  r.provider = meta->provider;
  return r;
}

absl::Time SchedulerCore::EarliestRetry(const PickSpec& spec) const {
  absl::Time earliest = ZeroTime();
  for (std::string_view provider : spec.providers) {
    const Shard* shard = FindShard(provider, spec.model_key);
    if (shard == nullptr) continue;
    const absl::Time t = shard->EarliestWake(spec.pred);
    if (!IsZeroTime(t) && (IsZeroTime(earliest) || t < earliest)) earliest = t;
  }
  return earliest;
}

void SchedulerCore::Resync(const PickSpec& spec, absl::Time now) {
  for (std::string_view provider : spec.providers) {
    auto p = providers_.find(provider);
    if (p == providers_.end()) continue;
    for (auto& [id, meta] : p->second->metas) ApplyModels(meta.get(), now);
  }
}

absl::Status SchedulerCore::ErrorFor(const PickSpec& spec, std::span<const std::string_view> providers,
                                 std::string_view label, const Clock& clock) const {
  Shard::Summary sum;
  bool any_routed = false, any_disabled = false, any_entries = false;
  for (std::string_view provider : providers) {
    if (auto p = providers_.find(provider); p != providers_.end() && !p->second->metas.empty()) {
      any_routed = true;
    }
    if (disabled_count_.find(provider) != disabled_count_.end()) any_disabled = true;
    if (const Shard* shard = FindShard(provider, spec.model_key)) {
      shard->Summarize(spec.pred, &sum);
      any_entries = any_entries || shard->size() > 0;
    }
  }
  const std::string model = spec.model.empty() ? std::string("(any)") : std::string(spec.model);
  std::string names;
  for (std::string_view p : providers) {
    if (!names.empty()) names += ", ";
    names.append(p);
  }
  const std::string of = internal::Cat(providers.size() == 1 ? "provider " : "providers ", names);
  if (sum.total == 0) {
    RoutingFailure why;
    const std::string_view pinned = spec.pred.pinned;
    if (!pinned.empty() && ProviderOf(pinned).empty()) {
      why = {RoutingReason::kPinnedUnknown,
             internal::Cat("the pinned credential ", pinned,
                           disabled_.find(pinned) != disabled_.end() ? " is disabled" : " is not loaded")};
    } else if (!pinned.empty() && any_entries) {
      why = {RoutingReason::kPinnedNotServing,
             internal::Cat("the pinned credential ", pinned, " does not serve model ", model, " of ", of,
                           " (or was already tried)")};
    } else if (any_entries) {
      why = {RoutingReason::kAllTried,
             internal::Cat("every credential of ", of, " serving model ", model,
                           spec.pred.require_weight ? " was already tried or has weight 0"
                                                    : " was already tried")};
    } else if (any_routed) {
      why = {RoutingReason::kModelNotServed,
             internal::Cat("no credential of ", of, " serves model ", model,
                           " (models come from the config's model-catalog, a credential's "
                           "models, or RegisterModels)")};
    } else if (any_disabled) {
      why = {RoutingReason::kAllDisabled, internal::Cat("every credential of ", of, " is disabled")};
    } else {
      why = {RoutingReason::kNoCredentials, internal::Cat("no credential of ", of, " is loaded")};
    }
    return AuthNotFoundError("no auth available", spec.providers, spec.model, why);
  }
  if (sum.busy > 0) {
    return AuthBusyError(
        spec.model, label, lease_options_.busy_retry_after,
        {RoutingReason::kAllBusy,
         internal::Cat(static_cast<int64_t>(sum.busy), " of the ", static_cast<int64_t>(sum.total),
                       " credentials of ", of, " serving model ", model,
                       " are at their concurrency limit; the others are cooling down or blocked")});
  }
  if (sum.cooldown == sum.total && !IsZeroTime(sum.earliest)) {
    const absl::Duration wait = sum.earliest - clock.Now();
    return ModelCooldownError(
        spec.model, label, wait,
        {RoutingReason::kAllCooling,
         internal::Cat("all ", static_cast<int64_t>(sum.total), " credentials of ", of,
                       " serving model ", model, " are cooling down; the earliest is ready in ",
                       FormatGoDuration(std::max<int64_t>(0, absl::ToInt64Seconds(absl::Ceil(wait, absl::Seconds(1))))))});
  }
  std::optional<absl::Duration> retry;
  if (!IsZeroTime(sum.earliest_any)) retry = std::max(sum.earliest_any - clock.Now(), absl::ZeroDuration());
  return AuthUnavailableError(
      spec.providers, spec.model, retry,
      {RoutingReason::kAllUnavailable,
       internal::Cat("none of the ", static_cast<int64_t>(sum.total), " credentials of ", of,
                     " serving model ", model, " is available (", static_cast<int64_t>(sum.cooldown),
                     " cooling down, the others blocked by errors)")});
}

bool SchedulerCore::SameKey(const std::string& cached, const PickSpec& spec) {
  if (!spec.routing_key.empty()) return cached == spec.routing_key;
  const RoutingKeyBuffer key(spec);
  return cached == key.key();
}

bool SchedulerCore::FillCache(const PickSpec& spec, PickCache* cache) const {
  // Resolve every provider's shard; a missing shard that should exist needs the exclusive lock
  // first (and is not cached).
  const size_t n = spec.providers.size();
  cache->instance = 0;
  cache->shards.assign(n, nullptr);
  for (size_t i = 0; i < n; ++i) {
    auto p = providers_.find(spec.providers[i]);
    if (p == providers_.end()) continue;
    auto s = p->second->shards.find(spec.model_key);
    if (s == p->second->shards.end()) {
      if (p->second->Serves(spec.model_key)) return false;
      continue;
    }
    cache->shards[i] = s->second.get();
  }
  std::optional<RoutingKeyBuffer> built;
  if (spec.routing_key.empty()) built.emplace(spec);
  const std::string_view key = built ? built->key() : spec.routing_key;
  auto m = n > 1 ? mixed_.find(key) : mixed_.end();
  cache->mixed = m == mixed_.end() ? nullptr : m->second.get();
  cache->key.assign(key);
  cache->request_epoch = spec.request_epoch;
  cache->generation = generation_;
  cache->instance = instance_;
  return true;
}

SchedulerPick SchedulerCore::Pick(const PickSpec& spec, const Clock& clock) {
  const size_t n = spec.providers.size();
  thread_local PickCache cache;
  // The same request of this thread's memo (pick_spec.h) needs no key comparison.
  const bool same_request = spec.request_epoch != 0 && spec.request_epoch == cache.request_epoch;
  if (cache.instance != instance_ || cache.generation != generation_ ||
      (!same_request && !SameKey(cache.key, spec))) {
    if (!FillCache(spec, &cache)) return NeedsWrite();
  }
  Shard* const* shards = cache.shards.data();
  for (size_t i = 0; i < n; ++i) {
    // An expired cooldown is promoted, and a due probe handed out, before the pick (under the
    // exclusive lock).
    if (shards[i] == nullptr) continue;
    if (spec.skip_probes ? shards[i]->has_timers() && shards[i]->PromotionDue(clock.Now())
                         : shards[i]->has_pick_timers() && shards[i]->PickWakeDue(clock.Now())) {
      return NeedsWrite();
    }
  }
  if (spec.placed) [[unlikely]] return PickPlaced(spec, shards, cache.mixed, clock);
  if (limited_ == 0) [[likely]] {
    // (Returned directly, so that the result is built in place.)
    return n == 1 ? PickSingle(spec, shards[0], clock) : PickMixed(spec, shards, cache.mixed, clock);
  }
  return PickLeased(spec, shards, cache.mixed, clock);
}

SchedulerPick SchedulerCore::PickPlaced(const PickSpec& spec, Shard* const* shards, MixedState* mixed,
                                        const Clock& clock) {
  PickSpec plain = spec;
  plain.placed = false;
  const size_t n = spec.providers.size();
  // The strategy answers when it is already the same on every replica (fill-first, a pin), and
  // whenever the placement finds nothing: then it also says why.
  const auto by_strategy = [&] {
    if (limited_ > 0) return PickLeased(plain, shards, mixed, clock);
    return n == 1 ? PickSingle(plain, shards[0], clock) : PickMixed(plain, shards, mixed, clock);
  };
  if (strategy_ == RoutingStrategy::kFillFirst || !spec.pred.pinned.empty()) return by_strategy();
  const bool weighted = strategy_ == RoutingStrategy::kWeightedRoundRobin;
  SchedulerPick r;
  Predicate pred = spec.pred;
  pred.require_weight = weighted;
  if (limited_ > 0) WithLeases(&pred, clock.Now(), &r.lease);
  Entry* best = nullptr;
  uint64_t best_draw = 0;
  double best_cost = 0;
  const bool check = !pred.trivial();
  const auto consider = [&](const View& v) {
    const size_t size = v.flat.size();
    if (!check) {
      // The common case: every ready entry passes (and weights play no part: a weighted pick
      // requires weight, so it is never trivial); one sequential array of hashes.
      const uint64_t* hashes = v.placement.data();
      size_t top = size;
      uint64_t top_draw = 0;
      for (size_t i = 0; i < size; ++i) {
        const uint64_t draw = PlacementDraw(spec.placement_key, hashes[i]);
        if (top == size || draw > top_draw) {
          top = i;
          top_draw = draw;
        }
      }
      if (top != size && (best == nullptr || top_draw > best_draw)) {
        best = v.flat[top];
        best_draw = top_draw;
      }
      return;
    }
    for (size_t i = 0; i < size; ++i) {
      Entry* e = v.flat[i];
      if (check && !pred(e)) continue;
      const uint64_t draw = PlacementDraw(spec.placement_key, v.placement[i]);
      if (weighted) {
        const double cost = PlacementCost(draw, e->meta->weight);
        if (best == nullptr || cost < best_cost) {
          best = e;
          best_cost = cost;
        }
      } else if (best == nullptr || draw > best_draw) {
        best = e;
        best_draw = draw;
      }
    }
  };
  // The tier the strategy would pick from: websocket-capable credentials first where the
  // strategy prefers them (codex on a websocket), else the best priority with a ready one.
  if (n == 1 && shards[0] != nullptr && spec.downstream_websocket && spec.providers[0] == "codex") {
    for (const auto& t : shards[0]->tiers()) {
      consider(t->ws);
      if (best != nullptr) break;
    }
  }
  if (best == nullptr) {
    bool any = false;
    int64_t top = 0;
    for (size_t i = 0; i < n; ++i) {
      int64_t p;
      if (shards[i] != nullptr && shards[i]->BestPriority(pred, &p) && (!any || p > top)) {
        top = p;
        any = true;
      }
    }
    for (size_t i = 0; any && i < n; ++i) {
      if (const Tier* t = shards[i] != nullptr ? shards[i]->TierAt(top) : nullptr) consider(t->all);
    }
  }
  // (A place taken by another pick since the check: the strategy answers this once.)
  if (best == nullptr || !Take(pred, best)) return by_strategy();
  r.kind = SchedulerPick::kPicked;
  r.credential = &best->meta->credential;
  r.provider = best->meta->provider;
  return r;
}

namespace {

// ProbeWaits reports whether a shard of a failed pick holds a due probe (one that waits for an
// exhausted pool): the pick then needs the exclusive lock to take it.
bool ProbeWaits(const PickSpec& spec, Shard* const* shards, size_t n, const Clock& clock) {
  if (spec.skip_probes) return false;
  for (size_t i = 0; i < n; ++i) {
    if (shards[i] != nullptr && shards[i]->ProbeDue(clock.Now())) return true;
  }
  return false;
}

}  // namespace

SchedulerPick SchedulerCore::PickLeased(const PickSpec& spec, Shard* const* shards, MixedState* mixed,
                                        const Clock& clock) {
  // Concurrency limits: every candidate's places are checked and the chosen one's taken.
  const size_t n = spec.providers.size();
  PickSpec leased = spec;
  Lease lease;
  WithLeases(&leased.pred, clock.Now(), &lease);
  SchedulerPick r = n == 1 ? PickSingle(leased, shards[0], clock) : PickMixed(leased, shards, mixed, clock);
  if (r.kind == SchedulerPick::kPicked) r.lease = std::move(lease);
  return r;
}

void SchedulerCore::WithLeases(Predicate* pred, absl::Time now, Lease* lease) const {
  pred->leases = true;
  pred->least_in_flight = lease_options_.least_in_flight;
  pred->now_ms = LeaseMillis(now);
  pred->expires_ms = LeaseMillis(now + lease_options_.ttl);
  pred->lease = lease;
}

SchedulerPick SchedulerCore::TakeProbe(const PickSpec& spec, absl::Time now, bool when_exhausted) {
  Predicate pred = spec.pred;
  pred.require_weight = strategy_ == RoutingStrategy::kWeightedRoundRobin;
  SchedulerPick r;
  if (limited_ > 0) WithLeases(&pred, now, &r.lease);
  for (std::string_view provider : spec.providers) {
    Shard* shard = FindShard(provider, spec.model_key);
    if (shard == nullptr || shard->policy().probe_when_exhausted != when_exhausted ||
        !shard->ProbeDue(now)) {
      continue;
    }
    if (const Picked p = shard->TakeProbe(pred, now)) {
      r.kind = SchedulerPick::kPicked;
      r.credential = p.credential;
      r.provider = p.provider;
      r.probe = true;
      return r;
    }
  }
  return Failed(absl::Status());
}

SchedulerPick SchedulerCore::PickExclusive(const PickSpec& spec, const Clock& clock) {
  const absl::Time now = clock.Now();
  SchedulerPick r = TakeProbe(spec, now, false);
  if (r.kind == SchedulerPick::kPicked) return r;
  PickSpec settled = spec;
  settled.skip_probes = true;
  r = Pick(settled, clock);
  if (r.kind != SchedulerPick::kError) return r;
  SchedulerPick probe = TakeProbe(spec, now, true);
  return probe.kind == SchedulerPick::kPicked ? std::move(probe) : std::move(r);
}

ShardPolicy SchedulerCore::PolicyFor(std::string_view provider) const {
  const CooldownPolicy& p = policies_.For(provider);
  return ShardPolicy{p.probe_interval, p.probe_when_exhausted, p.max_ejection_percent};
}

void SchedulerCore::SetPolicies(const CooldownPolicies& policies, absl::Time now) {
  policies_ = policies;
  for (auto& [key, ps] : providers_) {
    const ShardPolicy next = PolicyFor(key);
    const ShardPolicy& was = ps->health.policy;
    if (next.probe_interval == was.probe_interval && next.probe_when_exhausted == was.probe_when_exhausted &&
        next.max_ejection_percent == was.max_ejection_percent) {
      continue;
    }
    ps->health.policy = next;
    for (auto& [model, shard] : ps->shards) shard->PolicyChanged(now);
  }
}

void SchedulerCore::ApplyLimits(Meta* meta) {
  const Credential& c = *meta->credential;
  meta->max_in_flight = c.MaxInFlight().value_or(lease_options_.max_in_flight);
  // kShare: this replica's part of the per-model limit.
  meta->max_in_flight_per_model =
      ReplicaShare(c.MaxInFlightPerModel().value_or(lease_options_.max_in_flight_per_model));
  const bool was = meta->limited;
  const int64_t limit = ReplicaShare(meta->max_in_flight);
  if (limit <= 0) {
    meta->leases.reset();
  } else if (meta->leases == nullptr || meta->leases->capacity() < limit) {
    meta->leases = std::make_shared<LeaseSlots>(static_cast<uint32_t>(limit), meta->owner);
  } else {
    meta->leases->SetLimit(static_cast<uint32_t>(limit));
  }
  // A per-model limit alone makes the pool limited too.
  const bool is = meta->max_in_flight > 0 || meta->max_in_flight_per_model > 0;
  if (was != is) {
    if (is) {
      ++limited_;
    } else {
      --limited_;
    }
  }
  meta->limited = is;
}

int64_t SchedulerCore::ReplicaShare(int64_t limit) const {
  if (limit <= 0 || lease_options_.fleet != FleetLeases::kShare) return limit;
  return std::max<int64_t>(1, limit / std::max<int64_t>(1, lease_options_.fleet_replicas));
}

void SchedulerCore::SetLeaseOptions(const LeaseOptions& options, absl::Time now) {
  const bool share_changed = options.fleet != lease_options_.fleet ||
                             options.fleet_replicas != lease_options_.fleet_replicas;
  lease_options_ = options;
  for (auto& [key, ps] : providers_) {
    for (auto& [id, meta] : ps->metas) {
      const int64_t before = meta->max_in_flight_per_model;
      ApplyLimits(meta.get());
      if (meta->max_in_flight_per_model != before || share_changed) ApplyModels(meta.get(), now);
    }
  }
}

bool SchedulerCore::LeaseChosen(const PickSpec& spec, std::string_view id, const Clock& clock,
                                Lease* lease) const {
  if (limited_ == 0) return true;
  auto routed = provider_of_.find(id);
  if (routed == provider_of_.end()) return false;
  const Shard* shard = FindShard(routed->second.provider->key, spec.model_key);
  if (shard == nullptr) return false;
  Entry* e = const_cast<Entry*>(shard->Find(routed->second.meta));  // places only: atomics
  if (e == nullptr) return false;
  Predicate pred;
  WithLeases(&pred, clock.Now(), lease);
  return Take(pred, e);
}

uint32_t SchedulerCore::InFlight(std::string_view id, absl::Time now) const {
  auto routed = provider_of_.find(id);
  if (routed == provider_of_.end() || routed->second.meta->leases == nullptr) return 0;
  return routed->second.meta->leases->InFlight(LeaseMillis(now));
}

std::vector<SchedulerCore::HealthStats> SchedulerCore::Health(absl::Time now) const {
  std::vector<HealthStats> out;
  const int64_t now_ms = LeaseMillis(now);
  for (const auto& [key, ps] : providers_) {
    HealthStats h;
    h.provider = ps->key;
    if (limited_ > 0) {
      for (const auto& [id, meta] : ps->metas) {
        if (meta->leases != nullptr) h.in_flight += meta->leases->InFlight(now_ms);
      }
    }
    h.probes = ps->health.probes;
    h.panics = ps->health.panics;
    for (const auto& [model, shard] : ps->shards) {
      h.panicked += shard->panicked();
      h.ejected += shard->ejected();
    }
    out.push_back(h);
  }
  return out;
}

bool SchedulerCore::AtLimit(std::string_view id, std::string_view model_key, absl::Time now) const {
  if (limited_ == 0) return false;
  auto routed = provider_of_.find(id);
  if (routed == provider_of_.end()) return false;
  const Shard* shard = FindShard(routed->second.provider->key, model_key);
  const Entry* e = shard == nullptr ? nullptr : shard->Find(routed->second.meta);
  return e != nullptr && e->state == EntryState::kReady && !HasRoom(e, LeaseMillis(now));
}

bool SchedulerCore::Panicked(std::string_view id, std::string_view model_key) const {
  auto routed = provider_of_.find(id);
  if (routed == provider_of_.end()) return false;
  const Shard* shard = FindShard(routed->second.provider->key, model_key);
  const Entry* e = shard == nullptr ? nullptr : shard->Find(routed->second.meta);
  return e != nullptr && e->panicked;
}

SchedulerPick SchedulerCore::PickSingle(const PickSpec& spec, Shard* shard, const Clock& clock) {
  const std::string_view provider = spec.providers.front();
  if (shard == nullptr) {
    PickSpec error_spec = spec;
    error_spec.pred.require_weight = strategy_ == RoutingStrategy::kWeightedRoundRobin;
    return Failed(ErrorFor(error_spec, spec.providers, provider, clock));
  }
  const bool prefer_ws =
      spec.downstream_websocket && provider == "codex" && spec.pred.pinned.empty();
  Predicate pred = spec.pred;
  pred.require_weight = strategy_ == RoutingStrategy::kWeightedRoundRobin;
  if (const internal::Picked p = shard->Pick(pred, prefer_ws, strategy_)) {
    return PickedResult(*p.credential, p.provider);
  }
  if (ProbeWaits(spec, &shard, 1, clock)) return NeedsWrite();
  PickSpec error_spec = spec;
  error_spec.pred = pred;
  return Failed(ErrorFor(error_spec, spec.providers, provider, clock));
}

SchedulerPick SchedulerCore::PickMixed(const PickSpec& spec, Shard* const* shards,
                                   MixedState* ms, const Clock& clock) {
  PickSpec s = spec;
  s.pred.require_weight = strategy_ == RoutingStrategy::kWeightedRoundRobin;
  const size_t n = s.providers.size();
  if (!s.pred.pinned.empty()) {
    const std::string_view provider = ProviderOf(s.pred.pinned);
    Shard* shard = nullptr;
    for (size_t i = 0; i < n; ++i) {
      if (s.providers[i] == provider) shard = shards[i];
    }
    if (shard == nullptr) return Failed(ErrorFor(s, s.providers, "mixed", clock));
    if (const internal::Picked p = shard->Pick(s.pred, false, strategy_)) {
      return PickedResult(*p.credential, p.provider);
    }
    if (ProbeWaits(spec, shards, n, clock)) return NeedsWrite();
    const std::string_view only[] = {provider};
    return Failed(ErrorFor(s, only, "mixed", clock));
  }
  auto failed = [&] {
    return ProbeWaits(spec, shards, n, clock) ? NeedsWrite() : Failed(ErrorFor(s, s.providers, "mixed", clock));
  };

  bool any = false;
  int64_t best = 0;
  for (size_t i = 0; i < n; ++i) {
    int64_t p;
    if (shards[i] != nullptr && shards[i]->BestPriority(s.pred, &p) && (!any || p > best)) {
      best = p;
      any = true;
    }
  }
  if (!any) return failed();

  if (strategy_ == RoutingStrategy::kFillFirst) {
    for (size_t i = 0; i < n; ++i) {
      if (shards[i] == nullptr) continue;
      if (const internal::Picked p = shards[i]->PickAt(s.pred, best, strategy_)) {
        return PickedResult(*p.credential, p.provider);
      }
    }
    return failed();
  }

  if (ms == nullptr) return NeedsWrite();

  if (strategy_ == RoutingStrategy::kWeightedRoundRobin) {
    std::lock_guard<std::mutex> lock(ms->mu);
    ms->scratch.clear();
    for (size_t i = 0; i < n; ++i) {
      const Tier* t = shards[i] ? shards[i]->TierAt(best) : nullptr;
      if (t != nullptr) ms->scratch.insert(ms->scratch.end(), t->all.flat.begin(), t->all.flat.end());
    }
    std::sort(ms->scratch.begin(), ms->scratch.end(),
              [](const Entry* a, const Entry* b) { return a->meta->id() < b->meta->id(); });
    for (size_t attempt = 0; attempt <= ms->scratch.size(); ++attempt) {
      const size_t i = PickSmooth(ms->scratch, ms->wrr_weights, ms->wrr_current, s.pred);
      if (i == ms->scratch.size()) break;
      if (!Take(s.pred, ms->scratch[i])) continue;  // filled up since the check: pick again
      const Meta* meta = ms->scratch[i]->meta;
      return PickedResult(meta->credential, meta->provider);
    }
    return failed();
  }

  // Round-robin across providers, weighted by each provider's ready count at the best tier
  // (tried credentials included, as upstream counts them).
  constexpr size_t kInline = 16;
  size_t inline_weights[kInline];
  std::unique_ptr<size_t[]> heap_weights;
  size_t* weights = inline_weights;
  if (n > kInline) {
    heap_weights = std::make_unique<size_t[]>(n);
    weights = heap_weights.get();
  }
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    const Tier* t = shards[i] ? shards[i]->TierAt(best) : nullptr;
    weights[i] = t ? t->all.flat.size() : 0;
    total += weights[i];
  }
  if (total == 0) return failed();
  // The cursor counts picks (claimed like a tier's, NextPosition), which is the same position
  // modulo `total` as the slot after the last pick. When `total` changes, it is first brought
  // back to that slot under the old total, so that one thread's order is exactly that of a
  // cursor that stored the slot after each pick.
  if (ms->total.load(std::memory_order_relaxed) != total) {
    std::lock_guard<std::mutex> lock(ms->mu);
    const uint64_t seen = ms->total.load(std::memory_order_relaxed);
    if (seen != total) {
      uint64_t c = ms->cursor.load(std::memory_order_relaxed);
      if (c != 0 && seen != 0) c = (c - 1) % seen + 1;
      StoreCursor(*ms, c);
      ms->total.store(total, std::memory_order_relaxed);
    }
  }
  const uint64_t start_slot = NextPosition(*ms) % total;
  size_t start = n;
  uint64_t seg_start = 0;
  for (size_t i = 0; i < n; ++i) {
    if (weights[i] > 0 && start_slot < seg_start + weights[i]) {
      start = i;
      break;
    }
    seg_start += weights[i];
  }
  for (size_t off = 0; off < n; ++off) {
    const size_t i = (start + off) % n;
    if (weights[i] == 0) continue;
    uint64_t slot = start_slot;
    if (i != start) {
      slot = 0;
      for (size_t j = 0; j < i; ++j) slot += weights[j];
    }
    if (const internal::Picked p = shards[i]->PickAt(s.pred, best, RoutingStrategy::kRoundRobin)) {
      // The claimed position already moved the cursor past `start_slot`; a pick further on
      // moves it to the slot after that provider's first.
      if (i != start) StoreCursor(*ms, slot + 1);
      return PickedResult(*p.credential, p.provider);
    }
  }
  StoreCursor(*ms, start_slot);  // nothing picked: the rotation stays where it was
  return failed();
}

absl::Status SchedulerCore::Candidates(const PickSpec& request, const Clock& clock,
                                       std::vector<std::shared_ptr<const Credential>>* out,
                                       std::vector<std::string_view>* out_providers, bool all_tiers,
                                       std::vector<int64_t>* priorities) {
  // With concurrency limits, a credential at its limit is no candidate (and when every ready one
  // is, the answer is auth_busy).
  PickSpec spec = request;
  if (limited_ > 0) WithLeases(&spec.pred, clock.Now(), nullptr);
  std::string_view pinned_provider;
  std::span<const std::string_view> providers = spec.providers;
  if (!spec.pred.pinned.empty()) {
    pinned_provider = ProviderOf(spec.pred.pinned);
    if (std::find(providers.begin(), providers.end(), pinned_provider) == providers.end()) {
      const std::string_view label = spec.providers.size() == 1 ? spec.providers.front() : "mixed";
      return ErrorFor(spec, spec.providers, label, clock);
    }
    providers = std::span<const std::string_view>(&pinned_provider, 1);
  }
  const std::string_view label = spec.providers.size() == 1 ? spec.providers.front() : "mixed";
  bool any = false;
  int64_t best = 0;
  for (std::string_view provider : providers) {
    const Shard* shard = FindShard(provider, spec.model_key);
    int64_t p;
    if (shard != nullptr && shard->BestPriority(spec.pred, &p) && (!any || p > best)) {
      best = p;
      any = true;
    }
  }
  if (!any) return ErrorFor(spec, providers, label, clock);
  std::vector<Entry*> entries;
  for (std::string_view provider : providers) {
    if (const Shard* shard = FindShard(provider, spec.model_key)) {
      if (all_tiers) {
        shard->CollectAll(spec.pred, &entries);
      } else {
        shard->Collect(spec.pred, best, &entries);
      }
    }
  }
  // Best tier first, then by ID (an entry's tier is its credential's priority).
  std::sort(entries.begin(), entries.end(), [](const Entry* a, const Entry* b) {
    if (a->meta->priority != b->meta->priority) return a->meta->priority > b->meta->priority;
    return a->meta->id() < b->meta->id();
  });
  for (const Entry* e : entries) {
    out->push_back(e->meta->credential);
    out_providers->push_back(e->meta->provider);
    if (priorities != nullptr) priorities->push_back(e->meta->priority);
  }
  return absl::OkStatus();
}

}  // namespace authrouter::internal
