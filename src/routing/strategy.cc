#include "authrouter/selector.h"

#include "absl/status/status.h"
#include "authrouter/values.h"
#include "internal/strings.h"

namespace authrouter {
inline namespace v0 {

std::string_view RoutingStrategyName(RoutingStrategy strategy) {
  switch (strategy) {
    case RoutingStrategy::kFillFirst:
      return "fill-first";
    case RoutingStrategy::kWeightedRoundRobin:
      return "weighted-round-robin";
    case RoutingStrategy::kRoundRobin:
      break;
  }
  return "round-robin";
}

absl::StatusOr<RoutingStrategy> ParseRoutingStrategy(std::string_view name) {
  const std::string key = internal::AsciiLower(TrimSpace(name));
  if (key.empty() || key == "round-robin") return RoutingStrategy::kRoundRobin;
  if (key == "fill-first") return RoutingStrategy::kFillFirst;
  if (key == "weighted-round-robin") return RoutingStrategy::kWeightedRoundRobin;
  return absl::InvalidArgumentError(
      "unknown routing strategy; expected round-robin, fill-first or weighted-round-robin");
}

}  // namespace v0
}  // namespace authrouter
