// The Manager's cooldown policies and lease options (health.h): validation and hot reload.
#include "authrouter/health.h"

#include <algorithm>

#include "authrouter/manager.h"
#include "authrouter/metadata.h"
#include "internal/strings.h"
#include "manager/manager_impl.h"

namespace authrouter {
namespace internal {

CooldownPolicies NormalizePolicies(const CooldownPolicies& in) {
  CooldownPolicies out;
  out.defaults = in.defaults;
  for (const ProviderCooldownPolicy& p : in.providers) {
    out.providers.push_back({ProviderKey(p.provider), p.policy});
  }
  std::sort(out.providers.begin(), out.providers.end(),
            [](const auto& a, const auto& b) { return a.provider < b.provider; });
  return out;
}

}  // namespace internal

inline namespace v0 {
namespace {

absl::Status Bad(std::string_view prefix, std::string_view field, std::string_view why) {
  return absl::InvalidArgumentError(internal::Cat(prefix, field, ": ", why));
}

absl::Status ValidatePolicy(const CooldownPolicy& p, std::string_view prefix) {
  constexpr absl::Duration kMonth = absl::Hours(24 * 30);
  if (p.max_cooldown < absl::Seconds(1) || p.max_cooldown > kMonth) {
    return Bad(prefix, "max_cooldown", "must be between 1s and 720h");
  }
  if (p.probe_interval != absl::ZeroDuration() &&
      (p.probe_interval < absl::Seconds(1) || p.probe_interval > kMonth)) {
    return Bad(prefix, "probe_interval", "must be 0 (no probes) or between 1s and 720h");
  }
  if (p.max_ejection_percent < 0 || p.max_ejection_percent > 100) {
    return Bad(prefix, "max_ejection_percent", "must be between 0 and 100");
  }
  const std::pair<std::string_view, int> thresholds[] = {
      {"consecutive_auth_failures", p.consecutive_auth_failures},
      {"consecutive_not_found_failures", p.consecutive_not_found_failures},
      {"consecutive_transient_failures", p.consecutive_transient_failures},
  };
  for (const auto& [name, value] : thresholds) {
    if (value < 1 || value > 1000) return Bad(prefix, name, "must be between 1 and 1000");
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateCooldownPolicies(const CooldownPolicies& policies) {
  if (absl::Status s = ValidatePolicy(policies.defaults, ""); !s.ok()) return s;
  for (size_t i = 0; i < policies.providers.size(); ++i) {
    const ProviderCooldownPolicy& p = policies.providers[i];
    const std::string key = internal::ProviderKey(p.provider);
    if (key.empty()) return absl::InvalidArgumentError("providers: a provider name is empty");
    for (size_t j = 0; j < i; ++j) {
      if (internal::ProviderKey(policies.providers[j].provider) == key) {
        return absl::InvalidArgumentError(internal::Cat("providers.", key, ": named twice"));
      }
    }
    if (absl::Status s = ValidatePolicy(p.policy, internal::Cat("providers.", key, ".")); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ValidateLeaseOptions(const LeaseOptions& o) {
  if (o.max_in_flight < 0 || o.max_in_flight > kMaxInFlight) {
    return Bad("", "max_in_flight", internal::Cat("must be between 0 and ", kMaxInFlight));
  }
  if (o.max_in_flight_per_model < 0 || o.max_in_flight_per_model > kMaxInFlight) {
    return Bad("", "max_in_flight_per_model", internal::Cat("must be between 0 and ", kMaxInFlight));
  }
  if (o.ttl < absl::Seconds(1) || o.ttl > absl::Hours(24)) return Bad("", "ttl", "must be between 1s and 24h");
  if (o.busy_retry_after < absl::Seconds(1) || o.busy_retry_after > absl::Hours(1)) {
    return Bad("", "busy_retry_after", "must be between 1s and 1h");
  }
  if (o.fleet != FleetLeases::kExact && o.fleet != FleetLeases::kShare && o.fleet != FleetLeases::kLocal) {
    return Bad("", "fleet", "must be exact, share or local");
  }
  if (o.fleet_replicas < 1 || o.fleet_replicas > kMaxInFlight) {
    return Bad("", "fleet_replicas", internal::Cat("must be between 1 and ", kMaxInFlight));
  }
  return absl::OkStatus();
}

absl::Status Manager::SetCooldownPolicies(const CooldownPolicies& policies) {
  if (absl::Status s = ValidateCooldownPolicies(policies); !s.ok()) return s;
  CooldownPolicies next = internal::NormalizePolicies(policies);
  std::unique_lock lock(impl_->mu);
  if (next == impl_->cooldowns) return absl::OkStatus();
  impl_->cooldowns = std::move(next);
  impl_->scheduler.SetPolicies(impl_->cooldowns, impl_->clock->Now());
  return absl::OkStatus();
}

CooldownPolicies Manager::GetCooldownPolicies() const {
  std::shared_lock lock(impl_->mu);
  return impl_->cooldowns;
}

absl::Status Manager::SetLeaseOptions(const LeaseOptions& options) {
  if (absl::Status s = ValidateLeaseOptions(options); !s.ok()) return s;
  std::unique_lock lock(impl_->mu);
  if (options == impl_->scheduler.lease_options()) return absl::OkStatus();
  impl_->scheduler.SetLeaseOptions(options, impl_->clock->Now());
  impl_->SetFleetLeases(options);
  return absl::OkStatus();
}

LeaseOptions Manager::GetLeaseOptions() const {
  std::shared_lock lock(impl_->mu);
  return impl_->scheduler.lease_options();
}

uint32_t Manager::InFlight(std::string_view id) const {
  std::shared_lock lock(impl_->mu);
  return impl_->scheduler.InFlight(id, impl_->clock->Now());
}

}  // namespace v0
}  // namespace authrouter
