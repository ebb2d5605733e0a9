// Cooldowns that cannot latch, a pool that cannot black out, and concurrency leases (health.h),
// through the public Manager API on a manual clock.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "authrouter/config.h"
#include "authrouter/manager.h"
#include "authrouter/selector.h"
#include "support/manager_fixture.h"

namespace ar = authrouter;
using authrouter::testing::ManagerFixture;

namespace {

// Failure reports a failure of `id` on model "m" (the views stay valid: literals and the caller's
// strings).
ar::Result Failure(std::string_view id, int status, std::optional<absl::Duration> retry_after = {}) {
  ar::Result r;
  r.credential_id = id;
  r.model = "m";
  r.http_status = status;
  r.retry_after = retry_after;
  return r;
}

ar::Result Success(std::string_view id, ar::Lease* lease = nullptr) {
  ar::Result r;
  r.credential_id = id;
  r.model = "m";
  r.success = true;
  r.http_status = 200;
  r.lease = lease;
  return r;
}

const ar::ModelState* State(ManagerFixture& f, std::string_view id, std::string_view model = "m") {
  auto c = f.manager->Get(id);
  if (!c) return nullptr;
  auto it = c->model_states.find(model);
  return it == c->model_states.end() ? nullptr : &it->second;
}

absl::Time RetryOf(ManagerFixture& f, std::string_view id) {
  auto c = f.manager->Get(id);
  REQUIRE(c);
  auto it = c->model_states.find("m");
  REQUIRE(it != c->model_states.end());
  return it->second.next_retry_after;
}

double Value(const ar::MetricsSnapshot& s, std::string_view name,
             std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
  return s.Value(name, labels).value_or(-1);
}

ar::ManagerOptions WithPolicy(ar::CooldownPolicy p, ar::ManagerOptions o = {}) {
  o.cooldowns.defaults = p;
  return o;
}

ar::ManagerOptions WithLeases(ar::LeaseOptions l, ar::ManagerOptions o = {}) {
  o.leases = l;
  return o;
}

}  // namespace

// ---- capped hints --------------------------------------------------------------------------

TEST_CASE("An 18-day Retry-After is capped by max-cooldown", "[health]") {
  ManagerFixture f;  // the default cap: 6 h
  f.Add({.id = "a"});
  REQUIRE(f.manager->MarkResult(Failure("a", 429, absl::Hours(24 * 18))).ok());
  CHECK(RetryOf(f, "a") == f.clock.Now() + absl::Hours(6));

  ar::CooldownPolicy p;
  p.max_cooldown = absl::Hours(1);
  ManagerFixture g(WithPolicy(p));
  g.Add({.id = "a"});
  REQUIRE(g.manager->MarkResult(Failure("a", 429, absl::Hours(24 * 18))).ok());
  CHECK(RetryOf(g, "a") == g.clock.Now() + absl::Hours(1));
  // A hint below the cap is honoured as it is.
  REQUIRE(g.manager->ResetCooldowns("a").ok());
  REQUIRE(g.manager->MarkResult(Failure("a", 429, absl::Minutes(20))).ok());
  CHECK(RetryOf(g, "a") == g.clock.Now() + absl::Minutes(20));

  // Upstream's rule: up to 30 days.
  ManagerFixture u(ar::testing::UpstreamOptions());
  u.Add({.id = "a"});
  REQUIRE(u.manager->MarkResult(Failure("a", 429, absl::Hours(24 * 18))).ok());
  CHECK(RetryOf(u, "a") == u.clock.Now() + absl::Hours(24 * 18));
}

TEST_CASE("A provider's own cooldown policy replaces the default", "[health]") {
  ar::ManagerOptions o;
  ar::CooldownPolicy gemini;
  gemini.max_cooldown = absl::Minutes(10);
  o.cooldowns.providers.push_back({" Gemini ", gemini});
  ManagerFixture f(o);
  f.Add({.id = "c"});
  f.Add({.id = "g", .provider = "gemini"});
  REQUIRE(f.manager->MarkResult(Failure("c", 429, absl::Hours(24))).ok());
  REQUIRE(f.manager->MarkResult(Failure("g", 429, absl::Hours(24))).ok());
  CHECK(RetryOf(f, "c") == f.clock.Now() + absl::Hours(6));
  CHECK(RetryOf(f, "g") == f.clock.Now() + absl::Minutes(10));
  CHECK(f.manager->GetCooldownPolicies().providers.front().provider == "gemini");
}

// ---- half-open probes ----------------------------------------------------------------------

TEST_CASE("A long cooldown opens for exactly one probe per interval, under 8 concurrent pickers",
          "[health][probe]") {
  ManagerFixture f;  // probes every 5 min
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  f.Add({.id = "c"});
  REQUIRE(f.manager->MarkResult(Failure("a", 429, absl::Hours(1))).ok());
  // Before the interval: a is never picked.
  for (const std::string& id : f.PickIds("claude", 20)) CHECK(id != "a");

  for (int interval = 1; interval <= 3; ++interval) {
    f.clock.Advance(absl::Minutes(5));
    std::atomic<int> probes{0}, of_a{0}, picks{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 25; ++i) {
          auto r = f.manager->Pick("claude", "m");
          if (!r.ok()) continue;
          ++picks;
          if (r->probe) ++probes;
          if (r->credential->id == "a") ++of_a;
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(picks == 200);
    CHECK(probes == 1);
    CHECK(of_a == 1);  // the probe, and nothing else
    // The probe's result never came: the next interval sends another.
  }
  CHECK(Value(f.manager->Metrics(), "authrouter_probes_total", {{"provider", "claude"}}) == 3);
}

TEST_CASE("A probe's success clears the cooldown, its failure re-arms it", "[health][probe]") {
  ManagerFixture f;
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  REQUIRE(f.manager->MarkResult(Failure("a", 429, absl::Hours(2))).ok());

  SECTION("failure re-arms with the new hint; the next probe is one interval later") {
    f.clock.Advance(absl::Minutes(5));
    auto probe = f.manager->Pick("claude", "m");
    REQUIRE(probe.ok());
    CHECK(probe->credential->id == "a");
    CHECK(probe->probe);
    REQUIRE(f.manager->MarkResult(Failure("a", 429, absl::Minutes(30))).ok());
    CHECK(RetryOf(f, "a") == f.clock.Now() + absl::Minutes(30));
    f.clock.Advance(absl::Minutes(4));
    for (const std::string& id : f.PickIds("claude", 10)) CHECK(id == "b");
    f.clock.Advance(absl::Minutes(1));
    auto again = f.manager->Pick("claude", "m");
    REQUIRE(again.ok());
    CHECK(again->credential->id == "a");
    CHECK(again->probe);
  }
  SECTION("success clears: the credential is in the rotation again at once") {
    f.clock.Advance(absl::Minutes(5));
    auto probe = f.manager->Pick("claude", "m");
    REQUIRE(probe.ok());
    REQUIRE(probe->probe);
    REQUIRE(f.manager->MarkResult(Success("a")).ok());
    CHECK(State(f, "a")->next_retry_after == ar::ZeroTime());
    std::set<std::string> seen;
    for (const std::string& id : f.PickIds("claude", 4)) seen.insert(id);
    CHECK(seen == std::set<std::string>{"a", "b"});
    // An ordinary pick of it is no probe.
    auto next = f.manager->Pick("claude", "m");
    REQUIRE(next.ok());
    CHECK_FALSE(next->probe);
  }
  SECTION("a cooldown shorter than the interval gets no probe; it simply ends") {
    REQUIRE(f.manager->MarkResult(Failure("b", 429, absl::Minutes(3))).ok());
    f.clock.Advance(absl::Minutes(3));
    auto r = f.manager->Pick("claude", "m");
    REQUIRE(r.ok());
    CHECK(r->credential->id == "b");
    CHECK_FALSE(r->probe);
  }
}

TEST_CASE("A cooldown loaded after a restart is probed once at once and then every interval",
          "[health][probe]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  // Persisted: a 429 twelve minutes ago, cooling for another two hours.
  ar::ModelState st = ar::testing::CoolingState(f.clock.Now() + absl::Hours(2), true);
  st.updated_at = f.clock.Now() - absl::Minutes(12);
  c.model_states["m"] = st;
  f.AddCredential(c);
  auto probe = f.manager->Pick("claude", "m");
  REQUIRE(probe.ok());
  CHECK(probe->probe);
  CHECK(f.PickId("claude") == "<model_cooldown>");
  f.clock.Advance(absl::Minutes(5));
  auto next = f.manager->Pick("claude", "m");
  REQUIRE(next.ok());
  CHECK(next->probe);
}

TEST_CASE("probe-when-exhausted keeps the probe until no other credential is ready",
          "[health][probe]") {
  ar::CooldownPolicy p;
  p.probe_when_exhausted = true;
  ManagerFixture f(WithPolicy(p));
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  REQUIRE(f.manager->MarkResult(Failure("a", 429, absl::Hours(1))).ok());
  f.clock.Advance(absl::Minutes(6));
  for (const std::string& id : f.PickIds("claude", 10)) CHECK(id == "b");
  REQUIRE(f.manager->MarkResult(Failure("b", 429, absl::Minutes(30))).ok());
  auto probe = f.manager->Pick("claude", "m");
  REQUIRE(probe.ok());
  CHECK(probe->credential->id == "a");
  CHECK(probe->probe);
  // Single flight: the next pick finds nothing.
  CHECK(f.PickId("claude") == "<model_cooldown>");
}

TEST_CASE("ResetCooldowns stays the host's quota-restored signal", "[health][probe]") {
  ManagerFixture f;
  f.Add({.id = "a"});
  REQUIRE(f.manager->MarkResult(Failure("a", 429, absl::Hours(5))).ok());
  CHECK(f.PickId("claude") == "<model_cooldown>");
  REQUIRE(f.manager->ResetCooldowns("a").ok());
  auto r = f.manager->Pick("claude", "m");
  REQUIRE(r.ok());
  CHECK_FALSE(r->probe);
}

// ---- max-ejection-percent --------------------------------------------------------------------

TEST_CASE("A fleet-wide 401 leaves max-ejection-percent of a pool of 10 excluded, the rest pickable",
          "[health][panic]") {
  ManagerFixture f;  // 50 %
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(std::string(1, static_cast<char>('a' + i)));
  for (const std::string& id : ids) f.Add({.id = id});
  for (const std::string& id : ids) {
    REQUIRE(f.manager->MarkResult(Failure(id, 401)).ok());
    f.clock.Advance(absl::Seconds(1));
  }
  // The five newest exclusions hold; the five oldest are overridden (panic).
  std::set<std::string> picked;
  for (const std::string& id : f.PickIds("claude", 50)) picked.insert(id);
  CHECK(picked == std::set<std::string>{"a", "b", "c", "d", "e"});
  ar::MetricsSnapshot s = f.manager->Metrics();
  CHECK(Value(s, "authrouter_panic_exclusions", {{"provider", "claude"}}) == 5);
  CHECK(Value(s, "authrouter_panics_total", {{"provider", "claude"}}) == 5);

  // The decision record says so.
  ar::PickDecision why;
  const std::string_view providers[] = {"claude"};
  ar::PickRequest r;
  r.providers = providers;
  r.model = "m";
  r.decision = &why;
  auto pick = f.manager->Pick(r);
  REQUIRE(pick.ok());
  CHECK(why.panic);
  CHECK(why.Json().find("\"panic\":true") != std::string::npos);
  int cooling = 0, panicked = 0;
  for (const auto& k : why.skipped) {
    cooling += k.reason == ar::SkipReason::kCooling;
    panicked += k.panic;
  }
  CHECK(cooling == 5);
  CHECK(panicked == 4);

  // A panicked credential failing again is the newest exclusion: it holds, the next oldest goes.
  REQUIRE(f.manager->MarkResult(Failure("a", 401)).ok());
  picked.clear();
  for (const std::string& id : f.PickIds("claude", 50)) picked.insert(id);
  CHECK(picked == std::set<std::string>{"b", "c", "d", "e", "f"});

  // Upstream's 100 %: the whole pool is out.
  ManagerFixture u(ar::testing::UpstreamOptions());
  for (const std::string& id : ids) u.Add({.id = id});
  for (const std::string& id : ids) REQUIRE(u.manager->MarkResult(Failure(id, 401)).ok());
  CHECK(u.PickId("claude") == "<auth_unavailable>");
}

TEST_CASE("Quota cooldowns are never overridden by max-ejection-percent", "[health][panic]") {
  ManagerFixture f;
  for (const char* id : {"a", "b", "c", "d"}) f.Add({.id = id});
  for (const char* id : {"a", "b", "c", "d"}) {
    REQUIRE(f.manager->MarkResult(Failure(id, 429, absl::Minutes(3))).ok());
  }
  CHECK(f.PickId("claude") == "<model_cooldown>");
  // Mixed: two quota, two 5xx: the 5xx ones count against the share (2 of 4 = 50 %): they hold.
  ManagerFixture g;
  for (const char* id : {"a", "b", "c", "d"}) g.Add({.id = id});
  REQUIRE(g.manager->MarkResult(Failure("a", 429, absl::Minutes(3))).ok());
  REQUIRE(g.manager->MarkResult(Failure("b", 429, absl::Minutes(3))).ok());
  REQUIRE(g.manager->MarkResult(Failure("c", 503)).ok());
  REQUIRE(g.manager->MarkResult(Failure("d", 503)).ok());
  CHECK(g.PickId("claude") == "<auth_unavailable>");
  CHECK(Value(g.manager->Metrics(), "authrouter_panic_exclusions", {{"provider", "claude"}}) == 0);
}

TEST_CASE("Lowering max-ejection-percent on a running pool rebalances at once", "[health][panic]") {
  ManagerFixture f(ar::testing::UpstreamOptions());
  for (const char* id : {"a", "b", "c", "d"}) f.Add({.id = id});
  for (const char* id : {"a", "b", "c", "d"}) {
    REQUIRE(f.manager->MarkResult(Failure(id, 500)).ok());
    f.clock.Advance(absl::Seconds(1));
  }
  CHECK(f.PickId("claude") == "<auth_unavailable>");
  ar::CooldownPolicies p = ar::CooldownPolicies::Upstream();
  p.defaults.max_ejection_percent = 25;
  REQUIRE(f.manager->SetCooldownPolicies(p).ok());
  std::set<std::string> picked;
  for (const std::string& id : f.PickIds("claude", 30)) picked.insert(id);
  CHECK(picked == std::set<std::string>{"a", "b", "c"});
  // 0 %: nothing is excluded for 5xx at all.
  p.defaults.max_ejection_percent = 0;
  REQUIRE(f.manager->SetCooldownPolicies(p).ok());
  picked.clear();
  for (const std::string& id : f.PickIds("claude", 30)) picked.insert(id);
  CHECK(picked.size() == 4);
}

TEST_CASE("A consecutive-failure threshold lets failures in a row pass before one excludes",
          "[health]") {
  ar::CooldownPolicies p = ar::CooldownPolicies::Upstream();
  p.defaults.consecutive_transient_failures = 3;
  ManagerFixture f({.cooldowns = p});
  f.Add({.id = "a"});
  REQUIRE(f.manager->MarkResult(Failure("a", 503)).ok());
  REQUIRE(f.manager->MarkResult(Failure("a", 502)).ok());
  CHECK(f.PickId("claude") == "a");  // recorded, not excluded
  CHECK(State(f, "a")->last_error->http_status == 502);
  CHECK(State(f, "a")->failure_streak == 2);
  // A success starts over.
  REQUIRE(f.manager->MarkResult(Success("a")).ok());
  REQUIRE(f.manager->MarkResult(Failure("a", 500)).ok());
  REQUIRE(f.manager->MarkResult(Failure("a", 500)).ok());
  CHECK(f.PickId("claude") == "a");
  REQUIRE(f.manager->MarkResult(Failure("a", 500)).ok());
  CHECK(f.PickId("claude") == "<auth_unavailable>");
  // Other classes keep excluding at once.
  REQUIRE(f.manager->ResetCooldowns("a").ok());
  REQUIRE(f.manager->MarkResult(Failure("a", 401)).ok());
  CHECK(f.PickId("claude") == "<auth_unavailable>");
}

TEST_CASE("auth_unavailable carries the earliest retry time", "[health]") {
  ManagerFixture f(ar::testing::UpstreamOptions());
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  REQUIRE(f.manager->MarkResult(Failure("a", 401)).ok());  // 30 min
  REQUIRE(f.manager->MarkResult(Failure("b", 503)).ok());  // 60 s
  auto r = f.manager->Pick("claude", "m");
  auto e = ar::GetRoutingError(r.status());
  REQUIRE(e);
  CHECK(e->code == "auth_unavailable");
  CHECK(e->retry_after == absl::Seconds(60));
  f.clock.Advance(absl::Milliseconds(59'500));
  e = ar::GetRoutingError(f.manager->Pick("claude", "m").status());
  REQUIRE(e);
  CHECK(e->retry_after == absl::Seconds(1));  // rounded up
}

// ---- concurrency leases ------------------------------------------------------------------------

TEST_CASE("Leases: released, expired and leaked ones behave as documented", "[health][lease]") {
  ar::LeaseOptions l;
  l.max_in_flight = 2;
  l.ttl = absl::Minutes(10);
  ManagerFixture f(WithLeases(l));
  f.Add({.id = "a"});
  auto p1 = f.manager->Pick("claude", "m");
  auto p2 = f.manager->Pick("claude", "m");
  REQUIRE(p1.ok());
  REQUIRE(p2.ok());
  CHECK(p1->lease.held());
  CHECK(f.manager->InFlight("a") == 2);

  // Every place held: the typed busy error, exact.
  auto busy = f.manager->Pick("claude", "m");
  REQUIRE_FALSE(busy.ok());
  CHECK(absl::IsResourceExhausted(busy.status()));
  auto e = ar::GetRoutingError(busy.status());
  REQUIRE(e);
  CHECK(e->code == "auth_busy");
  CHECK(e->reason == ar::RoutingReason::kAllBusy);
  CHECK(e->http_status == 429);
  CHECK(e->retry_after == absl::Seconds(1));
  CHECK(e->body ==
        R"({"error":{"code":"auth_busy","message":"All credentials for model m are at their concurrency limit via provider claude","model":"m","provider":"claude","retry_after_seconds":1}})");

  // The result releases its lease.
  REQUIRE(f.manager->MarkResult(Success("a", &p1->lease)).ok());
  CHECK_FALSE(p1->lease.held());
  CHECK(f.manager->InFlight("a") == 1);
  auto p3 = f.manager->Pick("claude", "m");
  REQUIRE(p3.ok());
  // A PickResult let go releases its lease too.
  { ar::PickResult dropped = *std::move(p3); }
  CHECK(f.manager->InFlight("a") == 1);

  // Leaked: the host forgets p2 (never released). It stops counting at its ttl.
  auto p4 = f.manager->Pick("claude", "m");
  REQUIRE(p4.ok());
  CHECK(f.PickId("claude") == "<auth_busy>");
  f.clock.Advance(absl::Minutes(10));
  CHECK(f.manager->InFlight("a") == 0);
  auto p5 = f.manager->Pick("claude", "m");
  auto p6 = f.manager->Pick("claude", "m");
  REQUIRE(p5.ok());
  REQUIRE(p6.ok());
  // A late release of an expired lease frees nothing someone else took since.
  p2->lease.Release();
  p4->lease.Release();
  CHECK(f.manager->InFlight("a") == 2);
  CHECK(f.PickId("claude") == "<auth_busy>");
  // A failure result releases its lease as well.
  ar::Result failed = Failure("a", 500);
  failed.lease = &p5->lease;
  REQUIRE(f.manager->MarkResult(failed).ok());
  CHECK(f.manager->InFlight("a") == 1);
}

TEST_CASE("Leases: picks skip credentials at their limit and keep the order otherwise",
          "[health][lease]") {
  ManagerFixture f;
  auto a = f.Make({.id = "a"});
  a.attributes["max_in_flight"] = "1";
  f.AddCredential(a);
  f.Add({.id = "b"});  // unlimited
  auto c = f.Make({.id = "c"});
  c.metadata = *ar::Metadata::Parse(R"({"type":"claude","max_in_flight":1})");
  f.AddCredential(c);
  auto pa = f.manager->Pick("claude", "m");
  auto pb = f.manager->Pick("claude", "m");
  auto pc = f.manager->Pick("claude", "m");
  REQUIRE(pa.ok());
  REQUIRE(pb.ok());
  REQUIRE(pc.ok());
  CHECK(pa->credential->id == "a");
  CHECK(pb->credential->id == "b");
  CHECK(pc->credential->id == "c");
  CHECK_FALSE(pb->lease.held());  // unlimited: no lease
  // a and c are full: b takes everything.
  for (const std::string& id : f.PickIds("claude", 5)) CHECK(id == "b");
  pa->lease.Release();
  std::set<std::string> seen;
  std::vector<ar::PickResult> held;
  for (int i = 0; i < 4; ++i) {
    auto r = f.manager->Pick("claude", "m");
    REQUIRE(r.ok());
    seen.insert(r->credential->id);
    held.push_back(*std::move(r));
  }
  CHECK(seen == std::set<std::string>{"a", "b"});
}

TEST_CASE("Leases: a per-model limit holds for each model separately", "[health][lease]") {
  ar::LeaseOptions l;
  l.max_in_flight_per_model = 1;
  ManagerFixture f(WithLeases(l));
  f.Add({.id = "a", .models = {"m", "n"}});
  auto m = f.manager->Pick("claude", "m");
  auto n = f.manager->Pick("claude", "n");
  REQUIRE(m.ok());
  REQUIRE(n.ok());
  CHECK(f.PickId("claude", "m") == "<auth_busy>");
  CHECK(f.PickId("claude", "n") == "<auth_busy>");
  m->lease.Release();
  CHECK(f.PickId("claude", "m") == "a");
}

TEST_CASE("Leases: a session bound to a full credential falls back at once and keeps its binding",
          "[health][lease][affinity]") {
  ar::LeaseOptions l;
  l.max_in_flight = 1;
  ManagerFixture f(WithLeases(l, {.session_affinity = true}));
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  const ar::HttpHeader headers[] = {{"X-Session-ID", "conversation-one"}};
  const std::string_view providers[] = {"claude"};
  ar::PickRequest r;
  r.providers = providers;
  r.model = "m";
  r.headers = headers;
  auto first = f.manager->Pick(r);
  REQUIRE(first.ok());
  const std::string bound = first->credential->id;
  // The conversation's next turn while the first is in flight: the bound credential is full.
  ar::PickDecision why;
  r.decision = &why;
  auto second = f.manager->Pick(r);
  REQUIRE(second.ok());
  CHECK(second->credential->id != bound);
  CHECK(why.session == ar::SessionOutcome::kBusyFallback);
  CHECK(why.Json().find(R"("session":{"outcome":"fallback","reason":"busy")") != std::string::npos);
  CHECK(f.manager->Metrics().Value("authrouter_session_lookups_total",
                                   {{"outcome", "fallback"}, {"reason", "busy"}}) == 1);
  second->lease.Release();
  first->lease.Release();
  // The binding was kept: the next turn goes back to it.
  r.decision = nullptr;
  auto third = f.manager->Pick(r);
  REQUIRE(third.ok());
  CHECK(third->credential->id == bound);
}

TEST_CASE("Leases: least-in-flight takes the credential with the fewest leases", "[health][lease]") {
  ar::LeaseOptions l;
  l.max_in_flight = 10;
  l.least_in_flight = true;
  ManagerFixture f(WithLeases(l));
  for (const char* id : {"a", "b", "c"}) f.Add({.id = id});
  std::vector<ar::PickResult> held;
  for (int i = 0; i < 6; ++i) {
    auto r = f.manager->Pick("claude", "m");
    REQUIRE(r.ok());
    held.push_back(*std::move(r));
  }
  for (const char* id : {"a", "b", "c"}) CHECK(f.manager->InFlight(id) == 2);
  // Release two of b's: the next two picks go to b.
  int released = 0;
  for (auto& h : held) {
    if (h.credential->id == "b" && released < 2) {
      h.lease.Release();
      ++released;
    }
  }
  auto x = f.manager->Pick("claude", "m");
  REQUIRE(x.ok());
  CHECK(x->credential->id == "b");
  auto y = f.manager->Pick("claude", "m");
  REQUIRE(y.ok());
  CHECK(y->credential->id == "b");
}

TEST_CASE("Leases: limits change with hot reload and hold for a host selector", "[health][lease]") {
  class First : public ar::Selector {
   public:
    absl::StatusOr<size_t> Select(const ar::SelectContext&,
                                  std::span<const std::shared_ptr<const ar::Credential>>) override {
      return 0;
    }
  };
  ManagerFixture f;
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  auto unlimited = f.manager->Pick("claude", "m");
  REQUIRE(unlimited.ok());
  CHECK_FALSE(unlimited->lease.held());
  ar::LeaseOptions l;
  l.max_in_flight = 1;
  REQUIRE(f.manager->SetLeaseOptions(l).ok());
  CHECK(f.manager->GetLeaseOptions().max_in_flight == 1);
  f.manager->SetSelector(std::make_shared<First>());
  auto one = f.manager->Pick("claude", "m");
  auto two = f.manager->Pick("claude", "m");
  REQUIRE(one.ok());
  REQUIRE(two.ok());
  CHECK(one->credential->id == "a");  // the selector's first candidate
  CHECK(two->credential->id == "b");  // a is full: it is no candidate
  CHECK(f.PickId("claude") == "<auth_busy>");
  l.max_in_flight = 0;
  REQUIRE(f.manager->SetLeaseOptions(l).ok());
  CHECK(f.PickId("claude") == "a");
}

TEST_CASE("Out-of-range health settings are rejected and change nothing", "[health]") {
  ar::ManagerOptions o;
  o.cooldowns.defaults.max_ejection_percent = 101;
  auto bad = ar::Manager::Create(o);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message() == "max_ejection_percent: must be between 0 and 100");
  ManagerFixture f;
  ar::CooldownPolicies p;
  p.providers.push_back({"claude", {}});
  p.providers.push_back({" CLAUDE", {}});
  CHECK(f.manager->SetCooldownPolicies(p).message() == "providers.claude: named twice");
  p.providers.pop_back();
  p.providers.back().policy.probe_interval = absl::Milliseconds(10);
  CHECK(f.manager->SetCooldownPolicies(p).message() ==
        "providers.claude.probe_interval: must be 0 (no probes) or between 1s and 720h");
  CHECK(f.manager->GetCooldownPolicies() == ar::CooldownPolicies{});
  ar::LeaseOptions l;
  l.max_in_flight = -1;
  CHECK(f.manager->SetLeaseOptions(l).message() == "max_in_flight: must be between 0 and 1000");
  l.max_in_flight = 1;
  l.ttl = absl::ZeroDuration();
  CHECK(f.manager->SetLeaseOptions(l).message() == "ttl: must be between 1s and 24h");
  CHECK(f.manager->GetLeaseOptions() == ar::LeaseOptions{});
  // A credential with a bad limit is rejected whole.
  auto c = f.Make({.id = "x"});
  c.attributes["max_in_flight"] = "lots";
  auto r = f.manager->Register(c);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message() == R"(attributes["max_in_flight"]: must be an integer 0..1000)");
  CHECK_FALSE(ar::Metadata::Parse(R"({"type":"claude","max_in_flight":-3})").ok());
  CHECK_FALSE(ar::Metadata::Parse(R"({"type":"claude","max_in_flight_per_model":1001})").ok());
}

TEST_CASE("Leases under contention never exceed a credential's limit", "[health][lease][stress]") {
  ar::LeaseOptions l;
  l.ttl = absl::Hours(1);
  ManagerFixture f(WithLeases(l));
  const std::map<std::string, int> limits = {{"a", 1}, {"b", 2}, {"c", 3}};
  for (const auto& [id, limit] : limits) {
    auto c = f.Make({.id = id});
    c.attributes["max_in_flight"] = std::to_string(limit);
    f.AddCredential(c);
  }
  // The fake upstream counts what is in flight per credential.
  std::map<std::string, std::atomic<int>> in_flight;
  for (const auto& [id, limit] : limits) in_flight[id] = 0;
  std::atomic<int> violations{0}, served{0}, busy{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        auto r = f.manager->Pick("claude", "m");
        if (!r.ok()) {
          ++busy;
          continue;
        }
        const std::string& id = r->credential->id;
        const int now = ++in_flight.at(id);
        if (now > limits.at(id)) ++violations;
        ++served;
        --in_flight.at(id);
        if ((i + t) % 3 == 0) {
          r->lease.Release();
        } else if (!f.manager->MarkResult(Success(id, &r->lease)).ok()) {
          ++violations;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(violations == 0);
  CHECK(served + busy == 16000);
  CHECK(served > 0);
  for (const auto& [id, limit] : limits) CHECK(f.manager->InFlight(id) == 0);
}

TEST_CASE("The config file sets cooldowns and leases, and a reload applies them", "[health][config]") {
  auto parsed = ar::ParseConfig(R"({"cooldowns": {"providers": {"Claude": {"probe-interval": "0s"}},
      "max-cooldown": "2h", "probe-interval": "1m", "max-ejection-percent": 20,
      "consecutive-transient-failures": 3},
    "leases": {"max-in-flight": 3, "max-in-flight-per-model": 1, "ttl": "30s",
      "busy-retry-after": "2s", "least-in-flight": true}})");
  REQUIRE(parsed.ok());
  CHECK(parsed->warnings.empty());
  const ar::CooldownPolicy& d = parsed->cooldowns.defaults;
  CHECK(d.max_cooldown == absl::Hours(2));
  CHECK(d.probe_interval == absl::Minutes(1));
  CHECK(d.max_ejection_percent == 20);
  CHECK(d.consecutive_transient_failures == 3);
  REQUIRE(parsed->cooldowns.providers.size() == 1);
  // A provider starts from the defaults (whatever their order in the file) and overrides.
  CHECK(parsed->cooldowns.providers[0].provider == "claude");
  CHECK(parsed->cooldowns.providers[0].policy.probe_interval == absl::ZeroDuration());
  CHECK(parsed->cooldowns.providers[0].policy.max_cooldown == absl::Hours(2));
  CHECK(parsed->leases ==
        ar::LeaseOptions{3, 1, absl::Seconds(30), absl::Seconds(2), true});

  for (const char* bad : {R"({"cooldowns": {"max-ejection-percent": 101}})",
                          R"({"cooldowns": {"probe-interval": "10ms"}})",
                          R"({"cooldowns": {"max-cooldown": 5}})",
                          R"({"cooldowns": {"providers": {"a": {}, "A": {}}}})",
                          R"({"leases": {"max-in-flight": 1001}})",
                          R"({"leases": {"ttl": "0s"}})"}) {
    INFO(bad);
    CHECK_FALSE(ar::ParseConfig(bad).ok());
  }
  auto typo = ar::ParseConfig(R"({"cooldowns": {"probe-intervall": "1m"}})");
  REQUIRE(typo.ok());
  CHECK(typo->warnings == std::vector<std::string>{"cooldowns.probe-intervall"});
  CHECK(ar::NearestConfigKey("cooldowns.probe-intervall") == "cooldowns.probe-interval");

  // Hot reload.
  ar::Config before;
  ManagerFixture f;
  f.Add({.id = "a"});
  auto changed = ar::ApplyConfig(*f.manager, before, *parsed);
  REQUIRE(changed.ok());
  CHECK(std::count(changed->begin(), changed->end(), "cooldowns") == 1);
  CHECK(std::count(changed->begin(), changed->end(), "leases") == 1);
  CHECK(f.manager->GetLeaseOptions().max_in_flight == 3);
  CHECK(f.manager->GetCooldownPolicies() == parsed->cooldowns);
  auto one = f.manager->Pick("claude", "m");
  REQUIRE(one.ok());
  CHECK(f.PickId("claude") == "<auth_busy>");  // one per model
}

TEST_CASE("Leases: a lowered limit counts the leases held above it until they end", "[health][lease]") {
  ar::LeaseOptions l;
  l.max_in_flight = 3;
  ManagerFixture f(WithLeases(l));
  f.Add({.id = "a"});
  std::vector<ar::PickResult> held;
  for (int i = 0; i < 3; ++i) {
    auto r = f.manager->Pick("claude", "m");
    REQUIRE(r.ok());
    held.push_back(*std::move(r));
  }
  l.max_in_flight = 1;
  REQUIRE(f.manager->SetLeaseOptions(l).ok());
  held[0].lease.Release();
  CHECK(f.PickId("claude") == "<auth_busy>");  // two still held, over the new limit of one
  held[1].lease.Release();
  CHECK(f.PickId("claude") == "<auth_busy>");
  held[2].lease.Release();
  auto one = f.manager->Pick("claude", "m");
  REQUIRE(one.ok());
  CHECK(f.PickId("claude") == "<auth_busy>");
}

TEST_CASE("An invalid_grant answered as 400 is an ejectable auth exclusion", "[health][panic]") {
  ManagerFixture f;
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  ar::Result r = Failure("a", 400);
  r.error_message = "invalid_grant: refresh token revoked";
  REQUIRE(f.manager->MarkResult(r).ok());
  f.clock.Advance(absl::Seconds(1));
  REQUIRE(f.manager->MarkResult(Failure("b", 401)).ok());
  // Two of two out for auth errors: one may hold (50 %), the older one (a) is overridden.
  CHECK(f.PickId("claude") == "a");
  CHECK(f.PickId("claude") == "a");
}

// A success reported with its lease on a credential it leaves unchanged is answered from the
// lease (no lookup); everything else takes the full path. Both must say the same.
TEST_CASE("Leases: a success with its lease answers like a success without one", "[health][lease]") {
  ar::LeaseOptions l;
  l.max_in_flight = 4;
  ar::ManagerOptions o = WithLeases(l, ar::testing::UpstreamOptions());
  o.metrics_credentials = ar::CredentialSeries::kId;
  ManagerFixture f(o);
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  auto count = [&](std::string_view provider_or_credential, bool per_credential) {
    const ar::MetricsSnapshot s = f.manager->Metrics();
    return per_credential ? Value(s, "authrouter_credential_results_total",
                                  {{"credential", provider_or_credential}, {"class", "success"}})
                          : Value(s, "authrouter_results_total",
                                  {{"provider", provider_or_credential}, {"class", "success"}});
  };
  auto pick = [&](std::string_view want) {
    static constexpr std::string_view kClaude[] = {"claude"};
    ar::PickRequest request;
    request.providers = kClaude;
    request.model = "m";
    request.pinned_id = want;
    auto r = f.manager->Pick(request);
    REQUIRE(r.ok());
    REQUIRE(r->credential->id == want);
    REQUIRE(r->lease.held());
    return *std::move(r);
  };

  // The steady state: counted, released, nothing changed.
  ar::PickResult pa = pick("a");
  REQUIRE(f.manager->MarkResult(Success("a", &pa.lease)).ok());
  CHECK_FALSE(pa.lease.held());
  CHECK(f.manager->InFlight("a") == 0);
  CHECK(count("claude", false) == 1);
  CHECK(count("a", true) == 1);
  CHECK(State(f, "a") == nullptr);

  // A credential that failed since the pick: the success clears what the failure set.
  ar::PickResult pb = pick("b");
  REQUIRE(f.manager->MarkResult(Failure("b", 503)).ok());
  CHECK(f.PickId("claude") == "a");
  CHECK(f.PickId("claude") == "a");
  REQUIRE(f.manager->MarkResult(Success("b", &pb.lease)).ok());
  REQUIRE(State(f, "b") != nullptr);
  CHECK_FALSE(State(f, "b")->unavailable);
  CHECK_FALSE(State(f, "b")->last_error.has_value());
  CHECK(count("claude", false) == 2);
  CHECK(count("b", true) == 1);

  // A lease of one credential with a result for another: the result is about the one it names.
  ar::PickResult pa2 = pick("a");
  REQUIRE(f.manager->MarkResult(Failure("b", 503)).ok());
  REQUIRE(f.manager->MarkResult(Success("b", &pa2.lease)).ok());
  CHECK_FALSE(State(f, "b")->unavailable);
  CHECK(f.manager->InFlight("a") == 0);
  CHECK(count("a", true) == 1);
  CHECK(count("b", true) == 2);

  // A credential removed while its lease was out: not found, as without the lease.
  ar::PickResult pa3 = pick("b");
  REQUIRE(f.manager->Remove("b").ok());
  const absl::Status gone = f.manager->MarkResult(Success("b", &pa3.lease));
  CHECK(absl::IsNotFound(gone));
  CHECK_FALSE(pa3.lease.held());

  // Disabled while out: the success must not count as a plain no-op on a routed credential, and
  // the credential stays disabled.
  ar::PickResult pa4 = pick("a");
  REQUIRE(f.manager->SetDisabled("a", true).ok());
  REQUIRE(f.manager->MarkResult(Success("a", &pa4.lease)).ok());
  CHECK(f.manager->Get("a")->IsDisabled());
  CHECK(f.PickId("claude") == "<auth_not_found>");

  // Invalid results are rejected the same way, and still release.
  REQUIRE(f.manager->SetDisabled("a", false).ok());
  ar::PickResult pa5 = pick("a");
  ar::Result bad = Success("a", &pa5.lease);
  bad.http_status = 500;
  CHECK(absl::IsInvalidArgument(f.manager->MarkResult(bad)));
  CHECK_FALSE(pa5.lease.held());
}

TEST_CASE("A model-less success ends a streak of model-less failures", "[health]") {
  ar::CooldownPolicies p = ar::CooldownPolicies::Upstream();
  p.defaults.consecutive_transient_failures = 3;
  ManagerFixture f({.cooldowns = p});
  f.Add({.id = "a"});
  auto report = [&](bool ok) {
    ar::Result r;
    r.credential_id = "a";
    r.success = ok;
    r.http_status = ok ? 200 : 503;
    REQUIRE(f.manager->MarkResult(r).ok());
  };
  report(false);
  report(false);
  CHECK(f.manager->Get("a")->failure_streak == 2);
  report(true);
  CHECK(f.manager->Get("a")->failure_streak == 0);
  report(false);
  report(false);
  CHECK(f.PickId("claude") == "a");  // two in a row, not four
  report(false);
  CHECK(f.manager->Get("a")->failure_streak == 3);
  CHECK(f.manager->Get("a")->unavailable);
}
