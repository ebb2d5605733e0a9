// Internal to observability: the Manager's counters (metrics.h is their public face).
//
// Counters live in per-thread blocks: block i belongs to the live thread whose ThreadIndex is i,
// so an increment is a relaxed load and a relaxed store on a line no other thread writes (a
// thread's number is handed over only after its previous holder exited, which orders the
// writes). Threads past the block array share one block and add atomically. A snapshot sums
// every block; it may miss increments made during the summing, never double-counts one.
#ifndef AUTHROUTER_OBSERVE_METRICS_H_
#define AUTHROUTER_OBSERVE_METRICS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "authrouter/credential.h"
#include "authrouter/decision.h"
#include "authrouter/metrics.h"
#include "authrouter/routing_error.h"
#include "internal/string_map.h"
#include "internal/thread_index.h"

namespace authrouter::observe {

// ResultClass is the `class` label of authrouter_results_total.
enum class ResultClass : uint8_t { kSuccess, k401, k403, k404, k429, k5xx, kOther };
inline constexpr size_t kResultClasses = 7;
ResultClass ClassifyResult(bool success, int http_status);
std::string_view ResultClassName(ResultClass c);

// CooldownCause is why a cooldown was entered: the `cause` label, and the state view's cause.
enum class CooldownCause : uint8_t {
  kQuota,              // 429
  kUnauthorized,       // 401, invalid_grant
  kForbidden,          // 402, 403
  kNotFound,           // 404
  kModelNotSupported,  // 400/422 naming an unsupported model
  kTransient,          // 408, 500, 502, 503, 504
  kOther,
};
inline constexpr size_t kCooldownCauses = 7;
CooldownCause CooldownCauseOf(int http_status, std::string_view code, std::string_view message);
// CooldownCauseOf a held state: from the error that started it; a quota without an error record
// (loaded from a store that kept none) is kQuota.
CooldownCause CooldownCauseOf(const std::optional<ErrorRecord>& error, const QuotaState& quota);
std::string_view CooldownCauseName(CooldownCause c);

enum class RefreshOutcome : uint8_t { kSuccess, kFailure, kDropped };
inline constexpr size_t kRefreshOutcomes = 3;

inline constexpr size_t kSessionOutcomes = 7;  // SessionOutcome, kNone unused
inline constexpr size_t kRoutingReasons = 14;  // RoutingReason
// Refresh duration buckets, in seconds (upper bounds; +Inf after them).
inline constexpr std::array<double, 10> kRefreshBuckets = {0.05, 0.1, 0.25, 0.5, 1,
                                                           2.5,  5,   10,   30,  60};

// kProviderSlots providers get their own label; later ones count under "other".
inline constexpr size_t kProviderSlots = 32;
inline constexpr size_t kOtherProvider = kProviderSlots;

// Cell is one counter of a block.
struct Cell {
  std::atomic<uint64_t> v{0};
};

// Block is one thread's counters.
struct alignas(64) Block {
  struct PerProvider {
    Cell picked, failed;
    Cell results[kResultClasses];
    Cell cooldowns[kCooldownCauses];
    Cell refreshes[kRefreshOutcomes];
  };
  PerProvider providers[kProviderSlots + 1];
  Cell pick_failures[kRoutingReasons];
  Cell sessions[kSessionOutcomes];
  Cell refresh_buckets[kRefreshBuckets.size() + 1];  // the count is their sum
  Cell refresh_nanos;
  Cell store_ok, store_error;
  Cell reload_applied, reload_rejected;
};

// PickHint is the calling thread's last counted pick: for which Metrics, which provider key
// (by address: PickResult::provider keeps its address and content for the Manager's
// lifetime), and the counter it went to in this thread's block. Metrics IDs are never reused,
// so a hint of a destroyed Metrics never matches again. (A pick made from a thread_local
// destructor after the thread gave its number back may share a cell with the number's next
// holder: at worst a count is lost, never memory.)
struct PickHint {
  uint64_t owner = 0;
  const char* data = nullptr;
  size_t size = 0;
  Cell* cell = nullptr;
  bool shared = false;
};
inline thread_local PickHint t_pick_hint;

// Totals is every counter summed.
struct Totals {
  struct PerProvider {
    uint64_t picked = 0, failed = 0;
    uint64_t results[kResultClasses] = {};
    uint64_t cooldowns[kCooldownCauses] = {};
    uint64_t refreshes[kRefreshOutcomes] = {};
  };
  std::vector<std::string> provider_names;  // slot i's name; "other" last when used
  std::vector<PerProvider> providers;       // parallel to provider_names
  uint64_t pick_failures[kRoutingReasons] = {};
  uint64_t sessions[kSessionOutcomes] = {};
  uint64_t refresh_buckets[kRefreshBuckets.size() + 1] = {};  // not cumulative
  uint64_t refresh_nanos = 0;
  uint64_t store_ok = 0, store_error = 0;
  uint64_t reload_applied = 0, reload_rejected = 0;
};

// PerCredential is the opt-in per-credential series of one credential.
struct PerCredential {
  uint64_t picks = 0;
  uint64_t results[kResultClasses] = {};
};

class Metrics {
 public:
  Metrics(bool enabled, CredentialSeries per_credential);
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  bool enabled() const { return enabled_; }
  CredentialSeries per_credential() const { return per_credential_; }

  // CountPicked counts a successful pick served by `provider` (a normalised key that stays at one
  // address, as PickResult::provider does) and, with per-credential series, by `credential_id`.
  void CountPicked(std::string_view provider, std::string_view credential_id) {
    PickHint& h = t_pick_hint;
    if (h.owner == id_ && h.data == provider.data() && h.size == provider.size()) [[likely]] {
      Bump(*h.cell, h.shared);
    } else {
      CountPickedSlow(provider);
    }
    if (per_credential_ != CredentialSeries::kOff) [[unlikely]] CountCredentialPick(credential_id);
  }
  // The calls below take any provider string (no address hint).
  // CountFailed counts a failed pick of `provider` (the request's, or "mixed").
  void CountFailed(std::string_view provider, RoutingReason reason);
  void CountSession(SessionOutcome outcome) {
    if (outcome == SessionOutcome::kNone) return;
    Block& b = Local();
    Add(b, b.sessions[static_cast<size_t>(outcome)]);
  }
  // CountResult counts a result, and the cooldown it entered when `entered` is set.
  void CountResult(std::string_view provider, std::string_view credential_id, ResultClass c,
                   std::optional<CooldownCause> entered = std::nullopt) {
    Block& b = Local();
    Block::PerProvider& p = b.providers[FindSlot(provider)];
    Add(b, p.results[static_cast<size_t>(c)]);
    if (entered) Add(b, p.cooldowns[static_cast<size_t>(*entered)]);
    if (per_credential_ != CredentialSeries::kOff) [[unlikely]] CountCredentialResult(credential_id, c);
  }
  void CountCooldown(std::string_view provider, CooldownCause cause);
  void CountRefresh(std::string_view provider, RefreshOutcome outcome,
                    std::optional<absl::Duration> took);
  void CountStoreWrite(bool ok);
  void CountConfigReload(bool applied);
  // Know gives `provider` its label slot now, so that its series show (at zero) before anything
  // was counted for it.
  void Know(std::string_view provider) { (void)FindSlot(provider); }
  // Forget drops the per-credential series of a removed credential.
  void Forget(std::string_view credential_id);
  // Prune drops the per-credential series of every ID `live` says is gone (a pick that was in
  // flight when its credential was removed may have counted after Forget).
  template <typename Live>
  void Prune(const Live& live) {
    if (per_credential_ == CredentialSeries::kOff) return;
    std::lock_guard<std::mutex> lock(credentials_mu_);
    for (auto it = credentials_.begin(); it != credentials_.end();) {
      it = live(it->first) ? std::next(it) : credentials_.erase(it);
    }
  }

  // Sum adds up every block.
  Totals Sum() const;
  // Credentials returns the per-credential series, labelled as configured, sorted by label.
  std::vector<std::pair<std::string, PerCredential>> Credentials() const;

 private:
  static constexpr size_t kBlocks = 256;

  Block& Local() {
    const size_t i = internal::ThisThreadIndex();
    if (i < kBlocks) [[likely]] {
      if (Block* b = blocks_[i].load(std::memory_order_acquire)) [[likely]] return *b;
      return Allocate(i);
    }
    return shared_;
  }
  // Add increments `cell` of block `b`: single-writer blocks need no atomic read-modify-write.
  void Add(Block& b, Cell& cell, uint64_t n = 1) { Bump(cell, &b == &shared_, n); }
  static void Bump(Cell& cell, bool shared, uint64_t n = 1) {
    if (!shared) [[likely]] {
      cell.v.store(cell.v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    } else {
      cell.v.fetch_add(n, std::memory_order_relaxed);
    }
  }
  void CountPickedSlow(std::string_view provider);
  Block& Allocate(size_t i);
  size_t FindSlot(std::string_view provider) {
    const size_t n = count_.load(std::memory_order_acquire);
    for (size_t i = 0; i < n; ++i) {
      const std::string& name = names_[i];
      if (name.size() == provider.size() && std::memcmp(name.data(), provider.data(), name.size()) == 0) {
        return i;
      }
    }
    return FindSlotSlow(provider);
  }
  size_t FindSlotSlow(std::string_view provider);  // takes a slot (or gives "other")
  void CountCredentialResult(std::string_view id, ResultClass c);
  void CountCredentialPick(std::string_view id);
  PerCredential& CredentialLocked(std::string_view id);  // REQUIRES: credentials_mu_ held
  std::string CredentialLabel(std::string_view id) const;

  const bool enabled_;
  const CredentialSeries per_credential_;
  const uint64_t id_;  // unique per Metrics in the process (the provider hint's owner)

  std::array<std::atomic<Block*>, kBlocks> blocks_{};
  Block shared_;

  std::mutex slots_mu_;                        // serialises taking a slot
  std::array<std::string, kProviderSlots> names_;  // names_[i] is written before count_ > i
  std::atomic<size_t> count_{0};

  mutable std::mutex credentials_mu_;
  internal::StringMap<PerCredential> credentials_;  // by ID; guarded
};

// BuildSnapshot assembles the public snapshot from the counters and the gauges gathered by the
// Manager: credentials by provider and state ("ready", "cooling", "disabled", "refreshing",
// "error"), session keys held and evictions.
struct Gauges {
  // provider -> count per state, in PoolStateName's order: ready, cooling, disabled, refreshing,
  // error.
  std::vector<std::pair<std::string, std::array<uint64_t, 5>>> credentials;
  uint64_t session_bindings = 0;
  uint64_t session_evictions = 0;
  // Per provider: probes handed out and exclusions overridden (counters, from the scheduler),
  // exclusions overridden now and leases held now (gauges).
  struct Health {
    std::string provider;
    uint64_t probes = 0, panics = 0, panicked = 0, in_flight = 0;
  };
  std::vector<Health> health;  // sorted by provider
};
MetricsSnapshot BuildSnapshot(absl::Time now, const Totals& totals, const Gauges& gauges,
                              const std::vector<std::pair<std::string, PerCredential>>& credentials);

// PoolStateIndex maps PoolStateName's names to the Gauges order.
size_t PoolStateIndex(std::string_view state);

}  // namespace authrouter::observe

#endif  // AUTHROUTER_OBSERVE_METRICS_H_
