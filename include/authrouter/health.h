// health.h -- how failures take credentials out of a pool and how they come back, and how many
// requests a credential serves at once.
//
// Three rules keep a pool usable when upstreams misbehave:
//
//   * Capped hints. A cooldown hint from the upstream (Retry-After on a 429) is honoured up to
//     CooldownPolicy::max_cooldown; an 18-day Retry-After cools the model for that maximum.
//   * Half-open probes. A cooldown longer than CooldownPolicy::probe_interval opens after each
//     interval for one live request for that (credential, model): the next pick that may take
//     the credential gets it (PickResult::probe), every other pick keeps skipping it. A success
//     clears the cooldown; a failure re-arms it with the new hint, and the next probe follows
//     one interval after this one. A credential whose quota came back early is therefore in use
//     again within one interval. Manager::ResetCooldowns stays the host's "quota restored" signal.
//   * No black-out. At most CooldownPolicy::max_ejection_percent of a (provider, model) pool is
//     excluded for auth, availability or transient errors (401, 402, 403, 404, 408, 500, 502,
//     503, 504). Past that share, the oldest such exclusions (by the time of their last failure)
//     are ignored for picks: the credential is pickable again while still marked (reported as
//     `panic` in metrics and decision records). Quota cooldowns (429) and model-support
//     suspensions always hold. A threshold per status class (consecutive_*) lets that many
//     failures in a row pass before a credential is excluded (Envoy's consecutive_5xx).
//
// Concurrency leases: a credential with a max-in-flight limit (its record's `max_in_flight`, or
// LeaseOptions::max_in_flight) serves at most that many picks at once; optionally each of its
// models at most `max_in_flight_per_model`. A pick of a limited credential holds a Lease
// (PickResult::lease): released when the result is recorded (Result::lease), when the Lease is
// released or destroyed, or, for a lease the host never returns, after LeaseOptions::ttl. Picks
// skip credentials at their limit; when every candidate is at its limit the pick fails with
// `auth_busy` (HTTP 429, Retry-After LeaseOptions::busy_retry_after). A pool without limits
// takes no lease and pays nothing for them.
#ifndef AUTHROUTER_HEALTH_H_
#define AUTHROUTER_HEALTH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace authrouter {
namespace internal {
class LeaseSlots;
struct LeaseState;
struct LeaseAccess;
}  // namespace internal
inline namespace v0 {

// CooldownPolicy is the cooldown behaviour of one provider's credentials (or the default).
struct CooldownPolicy {
  // The longest cooldown an upstream hint (Retry-After) may set. REQUIRES: 1 s .. 30 days.
  // Default: 6 h (upstream: honoured up to 30 days).
  absl::Duration max_cooldown = absl::Hours(6);
  // After each interval of a cooldown, one live request goes through as a probe. Zero: no probes
  // (upstream). REQUIRES: 0 or 1 s .. 30 days. Default: 5 min.
  absl::Duration probe_interval = absl::Minutes(5);
  // Send a due probe only when the pool has no other credential ready for the request, instead
  // of at the interval. Default: false.
  bool probe_when_exhausted = false;
  // The largest share (percent) of a (provider, model) pool excluded for non-quota errors at
  // once; 100 excludes without limit (upstream). REQUIRES: 0..100. Default: 50.
  int max_ejection_percent = 50;
  // Failures in a row of one class before the credential (model) is excluded: auth (401, 402,
  // 403, invalid_grant), not found (404), transient (408, 500, 502, 503, 504). Failures below the
  // threshold are recorded (last error, status) without a cooldown; a success or a failure of
  // another class starts the count over. REQUIRES: 1..1000. Default: 1 each (upstream).
  int consecutive_auth_failures = 1;
  int consecutive_not_found_failures = 1;
  int consecutive_transient_failures = 1;

  friend bool operator==(const CooldownPolicy&, const CooldownPolicy&) = default;
};

// ProviderCooldownPolicy is one provider's own policy (it replaces the default whole).
struct ProviderCooldownPolicy {
  std::string provider;  // compared trimmed and lower-cased
  CooldownPolicy policy{};

  friend bool operator==(const ProviderCooldownPolicy&, const ProviderCooldownPolicy&) = default;
};

// CooldownPolicies is the default policy and the providers' own (each provider at most once).
struct CooldownPolicies {
  CooldownPolicy defaults{};
  std::vector<ProviderCooldownPolicy> providers{};

  // Upstream returns the policies that keep the Go proxy's behaviour: hints honoured up to 30
  // days, no probes, no ejection limit, every failure excluding at once.
  static CooldownPolicies Upstream() {
    CooldownPolicies p;
    p.defaults.max_cooldown = absl::Hours(24 * 30);
    p.defaults.probe_interval = absl::ZeroDuration();
    p.defaults.max_ejection_percent = 100;
    return p;
  }

  // For returns the policy of provider key `provider` (the default when it has none).
  const CooldownPolicy& For(std::string_view provider) const {
    for (const ProviderCooldownPolicy& p : providers) {
      if (p.provider == provider) return p.policy;
    }
    return defaults;
  }

  friend bool operator==(const CooldownPolicies&, const CooldownPolicies&) = default;
};

// ValidateCooldownPolicies returns InvalidArgumentError naming the first field out of range
// ("providers.claude.probe_interval: ..."), or a provider named twice or blank.
[[nodiscard]] absl::Status ValidateCooldownPolicies(const CooldownPolicies& policies);

// FleetLeases says how limits hold when several replicas serve one pool (shared_state.h).
enum class FleetLeases {
  // With a shared state, a pick of a limited credential also takes a place in it: the limit
  // holds across the fleet exactly, for one round trip per such pick (bounded by
  // ManagerOptions::shared_lookup_timeout; when the shared state does not answer, the pick goes
  // on with the local place alone). Without one, as kLocal. The default.
  kExact,
  // Each replica enforces its share of every limit, floor(limit / fleet_replicas) and at least 1,
  // with no round trip. Holds across the fleet while no more than fleet_replicas replicas run
  // and each limit is at least fleet_replicas; needs no shared state.
  kShare,
  // Each replica enforces every limit on its own (a fleet of N serves up to N times the limit).
  kLocal,
};

// LeaseOptions configures concurrency leases.
struct LeaseOptions {
  // The max-in-flight limit of a credential whose record sets none; 0: unlimited.
  // REQUIRES: 0..kMaxInFlight (1000). Default: 0.
  int64_t max_in_flight = 0;
  // The limit per (credential, model) of a credential whose record sets none; 0: unlimited.
  // REQUIRES: 0..kMaxInFlight (1000). Default: 0.
  int64_t max_in_flight_per_model = 0;
  // How long a lease the host never returns holds its place. REQUIRES: 1 s .. 24 h.
  // Default: 10 min.
  absl::Duration ttl = absl::Minutes(10);
  // The Retry-After of `auth_busy`. REQUIRES: 1 s .. 1 h. Default: 1 s.
  absl::Duration busy_retry_after = absl::Seconds(1);
  // Among the ready credentials of the tier, take the one with the fewest leases held (ties in
  // rotation order) instead of the next in rotation. Only limited credentials count leases.
  // Default: false.
  bool least_in_flight = false;
  // How limits hold across replicas. Default: kExact.
  FleetLeases fleet = FleetLeases::kExact;
  // The replicas a kShare limit is divided among. REQUIRES: 1..1000. Default: 1.
  int64_t fleet_replicas = 1;

  friend bool operator==(const LeaseOptions&, const LeaseOptions&) = default;
};

// ValidateLeaseOptions returns InvalidArgumentError naming the first field out of range.
[[nodiscard]] absl::Status ValidateLeaseOptions(const LeaseOptions& options);

// Lease is a pick's hold on a place of a limited credential (and model). Move-only; released by
// Release, by Manager::MarkResult of a Result naming it, or by its destructor, whichever comes
// first (later ones do nothing). A lease past LeaseOptions::ttl has already given its place
// back; releasing it then does nothing either. An empty Lease (a pick of an unlimited
// credential) holds nothing. A Lease may outlive its Manager.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& other) noexcept : state_(other.state_) { other.state_ = nullptr; }
  Lease& operator=(Lease&& other) noexcept {
    if (this != &other) {
      Release();
      state_ = other.state_;
      other.state_ = nullptr;
    }
    return *this;
  }
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { Release(); }

  // Release gives the place back now. Idempotent.
  void Release() {
    if (state_ != nullptr) ReleaseHeld();
  }
  // held reports whether this lease still holds a place it took (false after Release, and for
  // an empty lease; a lease past its ttl still reads true until released).
  bool held() const { return state_ != nullptr; }

 private:
  friend struct ::authrouter::internal::LeaseAccess;
  void ReleaseHeld();
  // What the lease holds (the places and the slots they are in); null when empty. One pointer,
  // so that a pick of an unlimited credential carries nothing else.
  internal::LeaseState* state_ = nullptr;
};

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_HEALTH_H_
