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

absl::StatusOr<size_t> Selector::Select(const SelectContext&,
                                        std::span<const std::shared_ptr<const Credential>>) {
  return absl::UnimplementedError("the host selector does not implement Select (its mode is kSelect)");
}

SelectDecision Selector::Decide(const SelectContext&, std::span<const SelectCandidate>,
                                std::span<const SelectTier>) {
  return SelectDecision::Delegate();
}

}  // namespace v0
}  // namespace authrouter
