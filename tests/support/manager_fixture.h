// A Manager on a manual clock, with shorthands for registering credentials and picking.
#ifndef AUTHROUTER_TESTS_SUPPORT_MANAGER_FIXTURE_H_
#define AUTHROUTER_TESTS_SUPPORT_MANAGER_FIXTURE_H_

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "authrouter/manager.h"
#include "support/time_helpers.h"

namespace authrouter::testing {

struct CredentialSpec {
  std::string id{};
  std::string provider = "claude";
  std::string priority{};
  std::string weight{};
  bool websockets = false;
  std::string parent{};
  std::vector<std::string> models = {"m"};
};

// UpstreamOptions is `o` with the Go proxy's cooldown behaviour (CooldownPolicies::Upstream):
// for tests of the upstream state machine, which predate probes and max-ejection-percent.
inline ManagerOptions UpstreamOptions(ManagerOptions o = {}) {
  o.cooldowns = CooldownPolicies::Upstream();
  return o;
}

class ManagerFixture {
 public:
  explicit ManagerFixture(ManagerOptions options = {}) {
    options.clock = &clock;
    manager = *Manager::Create(std::move(options));
  }

  Credential Make(const CredentialSpec& s) const {
    Credential c;
    c.id = s.id;
    c.provider = s.provider;
    c.status = CredentialStatus::kActive;
    if (!s.priority.empty()) c.attributes["priority"] = s.priority;
    if (!s.weight.empty()) c.attributes["weight"] = s.weight;
    if (s.websockets) c.attributes["websockets"] = "true";
    if (!s.parent.empty()) c.attributes["gemini_virtual_parent"] = s.parent;
    return c;
  }

  std::shared_ptr<const Credential> Add(const CredentialSpec& s) {
    return AddCredential(Make(s), s.models);
  }

  std::shared_ptr<const Credential> AddCredential(Credential c,
                                                  const std::vector<std::string>& models = {"m"}) {
    const std::string id = c.id;
    auto r = manager->Register(std::move(c));
    REQUIRE(r.ok());
    std::vector<std::string_view> views(models.begin(), models.end());
    manager->RegisterModels(id, views);
    return *r;
  }

  // PickId returns the picked ID, or "<code>" of the routing error.
  std::string PickId(std::string_view provider, std::string_view model = "m") {
    return Describe(manager->Pick(provider, model));
  }

  std::string PickId(const PickRequest& request) { return Describe(manager->Pick(request)); }

  std::vector<std::string> PickIds(std::string_view provider, int n, std::string_view model = "m") {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) out.push_back(PickId(provider, model));
    return out;
  }

  static std::string Describe(const absl::StatusOr<PickResult>& r) {
    if (r.ok()) return r->credential->id;
    auto e = GetRoutingError(r.status());
    return e ? "<" + e->code + ">" : "<" + std::string(r.status().message()) + ">";
  }

  ManualClock clock{Utc(2026, 4, 17)};
  std::unique_ptr<Manager> manager;
};

// Name returns prefix + n. (Built piecewise: GCC 12 warns falsely, -Wrestrict, on
// "literal" + std::string in optimised builds.)
inline std::string Name(std::string_view prefix, int n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

// CoolingState returns a model state blocked until `until` (a 429 when `quota`).
inline ModelState CoolingState(absl::Time until, bool quota) {
  ModelState m;
  m.status = CredentialStatus::kError;
  m.unavailable = true;
  m.next_retry_after = until;
  m.quota.exceeded = quota;
  if (quota) m.quota.reason = "quota";
  return m;
}

}  // namespace authrouter::testing

#endif  // AUTHROUTER_TESTS_SUPPORT_MANAGER_FIXTURE_H_
