// The C ABI's health settings (health.h): cooldown policies and concurrency leases, on the
// options and on a running manager, and the leases a pick holds.
#include <algorithm>
#include <string>

#include "authrouter/authrouter.h"
#include "authrouter/health.h"
#include "capi/capi_internal.h"
#include "internal/strings.h"

namespace ar = authrouter;
using authrouter::capi::CheckManager;
using authrouter::capi::Fail;
using authrouter::capi::Guard;
using authrouter::capi::Ok;

namespace {

// Millis turns milliseconds into a duration, saturating far outside every accepted range (so
// absurd values are rejected by the validation, not wrapped).
absl::Duration Millis(int64_t ms) {
  return absl::Milliseconds(std::clamp<int64_t>(ms, -(int64_t{1} << 50), int64_t{1} << 50));
}

// Merged returns `policies` with `policy` set for `provider` (NULL or "": the default).
ar::CooldownPolicies Merged(ar::CooldownPolicies policies, const char* provider,
                            const ar::CooldownPolicy& policy) {
  const std::string key = provider == nullptr ? std::string() : ar::internal::ProviderKey(provider);
  if (key.empty()) {
    policies.defaults = policy;
    return policies;
  }
  for (ar::ProviderCooldownPolicy& p : policies.providers) {
    if (ar::internal::ProviderKey(p.provider) == key) {
      p.policy = policy;
      return policies;
    }
  }
  policies.providers.push_back({key, policy});
  return policies;
}

ar::CooldownPolicy Policy(int64_t max_cooldown_ms, int64_t probe_interval_ms, bool probe_when_exhausted,
                          int32_t max_ejection_percent, int32_t auth, int32_t not_found,
                          int32_t transient) {
  ar::CooldownPolicy p;
  p.max_cooldown = Millis(max_cooldown_ms);
  p.probe_interval = Millis(probe_interval_ms);
  p.probe_when_exhausted = probe_when_exhausted;
  p.max_ejection_percent = max_ejection_percent;
  p.consecutive_auth_failures = auth;
  p.consecutive_not_found_failures = not_found;
  p.consecutive_transient_failures = transient;
  return p;
}

ar::LeaseOptions Leases(int64_t max_in_flight, int64_t per_model, int64_t ttl_ms, int64_t busy_ms,
                        bool least_in_flight) {
  ar::LeaseOptions l;
  l.max_in_flight = max_in_flight;
  l.max_in_flight_per_model = per_model;
  l.ttl = Millis(ttl_ms);
  l.busy_retry_after = Millis(busy_ms);
  l.least_in_flight = least_in_flight;
  return l;
}

// WithFleet is `o` with the fleet mode `mode` (AUTHROUTER_FLEET_LEASES_*) and `replicas`.
absl::StatusOr<ar::LeaseOptions> WithFleet(ar::LeaseOptions o, int32_t mode, int64_t replicas) {
  switch (mode) {
    case AUTHROUTER_FLEET_LEASES_EXACT:
      o.fleet = ar::FleetLeases::kExact;
      break;
    case AUTHROUTER_FLEET_LEASES_SHARE:
      o.fleet = ar::FleetLeases::kShare;
      break;
    case AUTHROUTER_FLEET_LEASES_LOCAL:
      o.fleet = ar::FleetLeases::kLocal;
      break;
    default:
      return absl::InvalidArgumentError("fleet lease mode must be AUTHROUTER_FLEET_LEASES_EXACT, _SHARE or _LOCAL");
  }
  o.fleet_replicas = replicas;
  if (absl::Status s = ar::ValidateLeaseOptions(o); !s.ok()) return s;
  return o;
}

}  // namespace

extern "C" {

int32_t authrouter_options_set_cooldown_policy(authrouter_options* o, const char* provider,
                                               int64_t max_cooldown_ms, int64_t probe_interval_ms,
                                               bool probe_when_exhausted, int32_t max_ejection_percent,
                                               int32_t consecutive_auth_failures,
                                               int32_t consecutive_not_found_failures,
                                               int32_t consecutive_transient_failures,
                                               authrouter_error** err) {
  if (o == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options is NULL");
  return Guard(err, [&]() -> int32_t {
    ar::CooldownPolicies next =
        Merged(o->config.cooldowns, provider,
               Policy(max_cooldown_ms, probe_interval_ms, probe_when_exhausted, max_ejection_percent,
                      consecutive_auth_failures, consecutive_not_found_failures,
                      consecutive_transient_failures));
    if (absl::Status s = ar::ValidateCooldownPolicies(next); !s.ok()) return Fail(err, s);
    o->config.cooldowns = std::move(next);
    return Ok(err);
  });
}

int32_t authrouter_options_set_leases(authrouter_options* o, int64_t max_in_flight,
                                      int64_t max_in_flight_per_model, int64_t ttl_ms,
                                      int64_t busy_retry_after_ms, bool least_in_flight,
                                      authrouter_error** err) {
  if (o == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options is NULL");
  ar::LeaseOptions next =
      Leases(max_in_flight, max_in_flight_per_model, ttl_ms, busy_retry_after_ms, least_in_flight);
  next.fleet = o->config.leases.fleet;
  next.fleet_replicas = o->config.leases.fleet_replicas;
  if (absl::Status s = ar::ValidateLeaseOptions(next); !s.ok()) return Fail(err, s);
  o->config.leases = next;
  return Ok(err);
}


int32_t authrouter_options_set_fleet_leases(authrouter_options* o, int32_t mode, int64_t replicas,
                                            authrouter_error** err) {
  if (o == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options is NULL");
  absl::StatusOr<ar::LeaseOptions> next = WithFleet(o->config.leases, mode, replicas);
  if (!next.ok()) return Fail(err, next.status());
  o->config.leases = *next;
  return Ok(err);
}

int32_t authrouter_manager_set_fleet_leases(authrouter_manager* m, int32_t mode, int64_t replicas,
                                            authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  return Guard(err, [&]() -> int32_t {
    absl::StatusOr<ar::LeaseOptions> next = WithFleet(m->manager->GetLeaseOptions(), mode, replicas);
    if (!next.ok()) return Fail(err, next.status());
    if (absl::Status s = m->manager->SetLeaseOptions(*next); !s.ok()) return Fail(err, s);
    return Ok(err);
  });
}

int32_t authrouter_manager_set_cooldown_policy(authrouter_manager* m, const char* provider,
                                               int64_t max_cooldown_ms, int64_t probe_interval_ms,
                                               bool probe_when_exhausted, int32_t max_ejection_percent,
                                               int32_t consecutive_auth_failures,
                                               int32_t consecutive_not_found_failures,
                                               int32_t consecutive_transient_failures,
                                               authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  return Guard(err, [&]() -> int32_t {
    const ar::CooldownPolicies next =
        Merged(m->manager->GetCooldownPolicies(), provider,
               Policy(max_cooldown_ms, probe_interval_ms, probe_when_exhausted, max_ejection_percent,
                      consecutive_auth_failures, consecutive_not_found_failures,
                      consecutive_transient_failures));
    if (absl::Status s = m->manager->SetCooldownPolicies(next); !s.ok()) return Fail(err, s);
    return Ok(err);
  });
}

int32_t authrouter_manager_set_leases(authrouter_manager* m, int64_t max_in_flight,
                                      int64_t max_in_flight_per_model, int64_t ttl_ms,
                                      int64_t busy_retry_after_ms, bool least_in_flight,
                                      authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  return Guard(err, [&]() -> int32_t {
    ar::LeaseOptions next =
        Leases(max_in_flight, max_in_flight_per_model, ttl_ms, busy_retry_after_ms, least_in_flight);
    const ar::LeaseOptions current = m->manager->GetLeaseOptions();
    next.fleet = current.fleet;
    next.fleet_replicas = current.fleet_replicas;
    if (absl::Status s = m->manager->SetLeaseOptions(next); !s.ok()) return Fail(err, s);
    return Ok(err);
  });
}

uint32_t authrouter_manager_in_flight(const authrouter_manager* m, const char* id) {
  if (m == nullptr || m->manager == nullptr || id == nullptr) return 0;
  try {
    return m->manager->InFlight(id);
  } catch (...) {
    return 0;
  }
}

bool authrouter_pick_result_probe(const authrouter_pick_result* r) { return r != nullptr && r->probe; }

bool authrouter_pick_result_holds_lease(const authrouter_pick_result* r) {
  return r != nullptr && r->lease.held();
}

void authrouter_pick_result_release_lease(authrouter_pick_result* r) {
  if (r != nullptr) r->lease.Release();
}

}  // extern "C"
