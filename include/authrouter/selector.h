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
// A host-provided Selector replaces the strategy: it receives the available credentials of the
// best tier and returns one of them.
#ifndef AUTHROUTER_SELECTOR_H_
#define AUTHROUTER_SELECTOR_H_

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

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

// Selector is a host-provided selection policy.
//
// Thread-safety: Select may be called from many threads at once; it is never called while
// authrouter holds a lock, so it may call back into the Manager (but not mutate the candidates).
// It must not throw.
class Selector {
 public:
  virtual ~Selector() = default;

  // Select returns the index in `candidates` of the credential to use. `candidates` is never
  // empty: the available (not cooling, not disabled, not tried) credentials of the best priority
  // tier, sorted by ID. An error status fails the pick with that status; an index out of range
  // fails it with auth_not_found ("selector returned no auth").
  virtual absl::StatusOr<size_t> Select(
      const SelectContext& context,
      std::span<const std::shared_ptr<const Credential>> candidates) = 0;
};

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_SELECTOR_H_
