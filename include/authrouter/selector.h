// selector.h -- how a pick chooses among available credentials: the built-in strategies and the
// interface for a host-provided selector.
//
// The built-in strategies run on the scheduler's indexed fast path (no scan, no allocation):
//   * kRoundRobin: rotate over the available credentials of the best priority tier, in ID order,
//     with one cursor per provider and canonical model; virtual-parent groups rotate on two levels.
//   * kFillFirst: always the first available credential (lowest ID) of the best tier.
//   * kWeightedRoundRobin: smooth weighted round-robin by each credential's Weight(); a weight
//     <= 0 excludes the credential. O(n) in the size of the best tier per pick.
//
// A host-provided Selector takes part in the pick in one of two ways (Selector::mode):
//   * kSelect (the default): Select receives the available credentials of the best tier and
//     returns one of them; the strategy is not used.
//   * kDecide / kDecideAllTiers: a policy. Decide receives secret-free views of the available
//     candidates (SelectCandidate: ID, provider, label, priority, weight, ...; never a token or
//     key) of the best tier, or of every available tier, best first, and answers with a
//     SelectDecision: pick one, exclude some and let the built-in strategy choose among the
//     rest, delegate to the built-in strategy, or reject the request with an HTTP status and a
//     message the host returns (routing error `selector_rejected`). A policy that throws, answers
//     with an index that is not a candidate or a reject without a 4xx/5xx status, or takes longer
//     than ManagerOptions::selector_budget is reported to the logger and the built-in strategy
//     answers instead.
// With session affinity on, a selector's picks bind like the strategy's: a bound conversation
// stays on its credential while it is available, and the selector is asked only when there is
// no usable binding. A StoppableSelector is stopped by the Manager once, when it lets go of it.
#ifndef AUTHROUTER_SELECTOR_H_
#define AUTHROUTER_SELECTOR_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "authrouter/credential.h"

namespace authrouter {
inline namespace v0 {

// RoutingStrategy names a built-in strategy.
enum class RoutingStrategy : uint8_t {
  kRoundRobin = 0,
  kFillFirst = 1,
  kWeightedRoundRobin = 2,
};

// RoutingStrategyName returns the configuration spelling: "round-robin", "fill-first",
// "weighted-round-robin".
std::string_view RoutingStrategyName(RoutingStrategy strategy);

// ParseRoutingStrategy accepts the spellings above (trimmed, case-insensitive) and "" for the
// default round-robin. Returns InvalidArgumentError for anything else.
[[nodiscard]] absl::StatusOr<RoutingStrategy> ParseRoutingStrategy(std::string_view name);

// SelectContext describes the pick a Selector is asked to make.
struct SelectContext {
  std::string_view provider;  // the provider key, or "mixed" when several providers take part
  std::string_view model;     // the route model as requested (may carry a suffix)
  bool downstream_websocket = false;
};

// SelectCandidate is a credential as a policy (Selector::Decide) sees it: what routing knows
// about it, never a token, key or other secret. Views live for the call.
struct SelectCandidate {
  std::string_view id;
  std::string_view provider;        // the normalised provider key
  std::string_view label;
  std::string_view prefix;          // model namespace, "" = none
  std::string_view virtual_parent;  // gemini virtual parent, "" = none
  int64_t priority = 0;
  int64_t weight = 1;
  bool websockets = false;
};

// SelectTier is one priority tier of a policy's candidates: candidates[first, first + count).
struct SelectTier {
  int64_t priority = 0;
  size_t first = 0;
  size_t count = 0;
};

// SelectDecision is a policy's answer (build one with the functions below).
struct SelectDecision {
  enum class Kind : uint8_t { kDelegate, kPick, kExclude, kReject };
  Kind kind = Kind::kDelegate;
  size_t pick = 0;              // kPick: an index into the candidates (any tier)
  std::vector<size_t> exclude;  // kExclude: indexes into the candidates
  int http_status = 0;          // kReject: 400..599, what the host answers with
  std::string message;          // kReject: for the client (the error body's message)

  // Delegate: the built-in strategy picks, as if there were no selector.
  static SelectDecision Delegate() { return {}; }
  // Pick: candidates[index].
  static SelectDecision Pick(size_t index) {
    SelectDecision d;
    d.kind = Kind::kPick;
    d.pick = index;
    return d;
  }
  // Exclude: the built-in strategy picks among the others (a lower tier when every candidate
  // of the best one is excluded); excluding every candidate fails the pick with
  // auth_not_found, reason `selector`.
  static SelectDecision Exclude(std::vector<size_t> indexes) {
    SelectDecision d;
    d.kind = Kind::kExclude;
    d.exclude = std::move(indexes);
    return d;
  }
  // Reject: the pick fails terminally with routing error `selector_rejected`, `http_status`
  // and `message` (no failover; Execute returns it at once).
  static SelectDecision Reject(int http_status, std::string message) {
    SelectDecision d;
    d.kind = Kind::kReject;
    d.http_status = http_status;
    d.message = std::move(message);
    return d;
  }
};

// SelectorMode says how a Selector takes part in a pick (see the top of this file).
enum class SelectorMode : uint8_t {
  kSelect = 0,          // Select over the best tier's credentials
  kDecide = 1,          // Decide over the best tier's candidates
  kDecideAllTiers = 2,  // Decide over every available tier's candidates, best first
};

// Selector is a host-provided selection policy.
//
// Thread-safety: Select and Decide may be called from many threads at once; they are never
// called while authrouter holds a lock, so they may call back into the Manager (but not mutate
// the candidates). They must not throw (Decide's exception is caught and reported).
class Selector {
 public:
  virtual ~Selector() = default;

  // mode is read at every pick; it should not change.
  virtual SelectorMode mode() const { return SelectorMode::kSelect; }

  // Select returns the index in `candidates` of the credential to use (mode kSelect).
  // `candidates` is never empty: the available (not cooling, not disabled, not tried)
  // credentials of the best priority tier, sorted by ID, as the Manager holds them (tokens
  // included: a selector that must not see them uses a Decide mode). An error status fails the
  // pick with that status; an index out of range fails it with auth_not_found ("selector
  // returned no auth"). The default returns UnimplementedError.
  virtual absl::StatusOr<size_t> Select(
      const SelectContext& context,
      std::span<const std::shared_ptr<const Credential>> candidates);

  // Decide answers a pick in the Decide modes. `candidates` is never empty: the available
  // candidates of the best tier (kDecide) or of every available tier (kDecideAllTiers), each
  // tier sorted by ID, tiers best first; `tiers` partitions them. The default delegates.
  virtual SelectDecision Decide(const SelectContext& context,
                                std::span<const SelectCandidate> candidates,
                                std::span<const SelectTier> tiers);
};

// StoppableSelector is a Selector that holds resources (threads, connections, files). The
// Manager calls Stop exactly once, outside its locks, when it lets go of the selector: when
// SetSelector replaces it by another one (or by none), or when the Manager is shut down or
// destroyed. A pick that started before may still be calling Select or Decide, on another
// thread, while or after Stop runs: answer it (Delegate is always safe).
class StoppableSelector : public Selector {
 public:
  virtual void Stop() = 0;
};

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_SELECTOR_H_
