// Host selectors: they compose with session affinity (their picks bind and stick), a
// StoppableSelector is stopped once when let go, and a policy (Decide) can pick, exclude,
// delegate or reject; a slow or failing policy is reported and the built-in strategy answers.
#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "authrouter/log.h"
#include "authrouter/routing_error.h"
#include "authrouter/scheduler.h"
#include "support/manager_fixture.h"

namespace authrouter {
namespace {

using testing::ManagerFixture;
using Ids = std::vector<std::string>;

// LastOf always picks the last candidate (round-robin would rotate).
class LastOf final : public StoppableSelector {
 public:
  absl::StatusOr<size_t> Select(const SelectContext&,
                                std::span<const std::shared_ptr<const Credential>> candidates) override {
    ++calls;
    return candidates.size() - 1;
  }
  void Stop() override { ++stops; }
  std::atomic<int> calls{0};
  std::atomic<int> stops{0};
};

// Policy answers with whatever `decide` says and records what it saw.
class Policy final : public Selector {
 public:
  explicit Policy(SelectorMode m) : mode_(m) {}
  SelectorMode mode() const override { return mode_; }
  SelectDecision Decide(const SelectContext& context, std::span<const SelectCandidate> candidates,
                        std::span<const SelectTier> tiers) override {
    seen_ids.clear();
    seen_tiers.clear();
    for (const SelectCandidate& c : candidates) seen_ids.push_back(std::string(c.id));
    for (const SelectTier& t : tiers) seen_tiers.push_back(t.priority);
    seen_provider = std::string(context.provider);
    return decide(candidates);
  }
  std::function<SelectDecision(std::span<const SelectCandidate>)> decide = [](auto) {
    return SelectDecision::Delegate();
  };
  Ids seen_ids;
  std::vector<int64_t> seen_tiers;
  std::string seen_provider;

 private:
  SelectorMode mode_;
};

class Lines final : public Logger {
 public:
  void Log(LogLevel, std::string_view component, std::string_view message) override {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back(std::string(component) + ": " + std::string(message));
  }
  Ids Take() {
    std::lock_guard<std::mutex> lock(mu);
    return std::exchange(lines, {});
  }
  std::mutex mu;
  Ids lines;
};

absl::StatusOr<PickResult> PickSession(Manager& m, std::string_view session) {
  const std::string_view providers[] = {"claude"};
  const HttpHeader headers[] = {{"X-Session-ID", session}};
  PickRequest r;
  r.providers = providers;
  r.model = "m";
  r.headers = headers;
  return m.Pick(r);
}

ManagerOptions With(std::shared_ptr<Selector> selector, std::shared_ptr<Logger> logger = nullptr,
                    absl::Duration budget = absl::Milliseconds(100)) {
  ManagerOptions o;
  o.selector = std::move(selector);
  o.logger = std::move(logger);
  o.selector_budget = budget;
  return o;
}

std::string IdOf(const absl::StatusOr<PickResult>& r) {
  if (r.ok()) return r->credential->id;
  auto e = GetRoutingError(r.status());
  return "<" + (e ? e->code : std::string(r.status().message())) + ">";
}

TEST_CASE("A host selector with session affinity on binds its picks and they stick",
          "[selector][affinity]") {
  auto selector = std::make_shared<LastOf>();
  ManagerFixture f(With(selector));
  REQUIRE(f.manager->SetSessionAffinity(true, absl::Hours(1)).ok());
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  f.Add({.id = "c"});
  CHECK(IdOf(PickSession(*f.manager, "conv-1")) == "c");  // the selector's pick
  CHECK(selector->calls == 1);
  // Bound: the selector is not asked again while "c" can serve.
  for (int i = 0; i < 5; ++i) CHECK(IdOf(PickSession(*f.manager, "conv-1")) == "c");
  CHECK(selector->calls == 1);
  const absl::StatusOr<PickResult> bound = PickSession(*f.manager, "conv-1");
  REQUIRE(bound.ok());
  CHECK(bound->session != nullptr);  // a result reported with it refreshes the binding
  // The bound credential goes out: the selector picks again and the new pick binds.
  REQUIRE(f.manager->SetDisabled("c", true).ok());
  CHECK(IdOf(PickSession(*f.manager, "conv-1")) == "b");
  CHECK(selector->calls == 2);
  CHECK(IdOf(PickSession(*f.manager, "conv-1")) == "b");
  CHECK(selector->calls == 2);
}

// A selector that picks from a Scheduler of its own while the Manager's pick is under way: the
// inner pick on the same thread must not disturb the outer request's normalised form.
class Nested final : public Selector {
 public:
  absl::StatusOr<size_t> Select(const SelectContext&,
                                std::span<const std::shared_ptr<const Credential>> candidates) override {
    const std::string_view providers[] = {"GEMINI", "codex"};
    absl::StatusOr<ScheduledPick> p = inner.Pick({.providers = providers, .model = "other-model"}, absl::Now());
    inner_ids.push_back(p.ok() ? p->credential->id : std::string(p.status().message()));
    return candidates.size() - 1;
  }
  Scheduler inner;
  Ids inner_ids;
};

TEST_CASE("A selector that picks from its own Scheduler inside Select leaves the outer pick intact",
          "[selector]") {
  auto selector = std::make_shared<Nested>();
  Credential g;
  g.id = "g";
  g.provider = "gemini";
  REQUIRE(selector->inner.Upsert(std::make_shared<const Credential>(g), absl::Now()).ok());
  REQUIRE(selector->inner.SetModels("g", {.source = ModelSource::kHost, .models = {"other-model"}, .excluded = {}},
                                    absl::Now()).ok());
  ManagerFixture f(With(selector));
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  for (int i = 0; i < 3; ++i) {
    const std::string_view providers[] = {"Claude"};
    PickRequest r;
    r.providers = providers;
    r.model = "m";
    const absl::StatusOr<PickResult> p = f.manager->Pick(r);
    REQUIRE(p.ok());
    CHECK(p->credential->id == "b");
    CHECK(p->provider == "claude");
  }
  CHECK(selector->inner_ids == Ids{"g", "g", "g"});
}

TEST_CASE("A stoppable selector is stopped once when replaced and at destruction",
          "[selector][lifecycle]") {
  auto first = std::make_shared<LastOf>();
  auto second = std::make_shared<LastOf>();
  {
    ManagerFixture f(With(first));
    f.manager->SetSelector(first);  // the same one: not let go
    CHECK(first->stops == 0);
    f.manager->SetSelector(second);
    CHECK(first->stops == 1);
    CHECK(second->stops == 0);
    f.manager->SetSelector(second);
    CHECK(second->stops == 0);
    f.manager->SetSelector(nullptr);
    CHECK(second->stops == 1);
    f.manager->SetSelector(first);  // held again: let go again at destruction
  }
  CHECK(first->stops == 2);
  CHECK(second->stops == 1);
}

TEST_CASE("A policy sees secret-free candidates of every tier and its answers are applied",
          "[selector][policy]") {
  auto policy = std::make_shared<Policy>(SelectorMode::kDecideAllTiers);
  auto lines = std::make_shared<Lines>();
  ManagerFixture f(With(policy, lines));
  Credential a = f.Make({.id = "a", .priority = "10"});
  a.metadata = *Metadata::Parse(R"({"access_token":"SECRET-A"})");
  a.label = "team-a";
  f.AddCredential(a);
  f.Add({.id = "b", .priority = "10"});
  f.Add({.id = "c", .priority = "5"});
  f.Add({.id = "d", .priority = "1"});

  SECTION("every tier, best first, by ID within a tier") {
    CHECK(f.PickId("claude") == "a");  // delegated: the built-in strategy
    CHECK(policy->seen_ids == Ids{"a", "b", "c", "d"});
    CHECK(policy->seen_tiers == std::vector<int64_t>{10, 5, 1});
    CHECK(policy->seen_provider == "claude");
  }
  SECTION("a candidate carries no secret") {
    policy->decide = [](std::span<const SelectCandidate> cs) {
      for (const SelectCandidate& c : cs) {
        if (c.id == "a") {
          CHECK(c.label == "team-a");
          CHECK(c.priority == 10);
          CHECK(c.provider == "claude");
        }
      }
      return SelectDecision::Delegate();
    };
    (void)f.PickId("claude");
    static_assert(sizeof(SelectCandidate) < 256, "views only");
  }
  SECTION("pick: any tier") {
    policy->decide = [](std::span<const SelectCandidate>) { return SelectDecision::Pick(3); };
    CHECK(f.PickIds("claude", 2) == Ids{"d", "d"});
  }
  SECTION("exclude: the built-in strategy chooses among the rest, a lower tier when needed") {
    policy->decide = [](std::span<const SelectCandidate>) { return SelectDecision::Exclude({0}); };
    CHECK(f.PickIds("claude", 3) == Ids{"b", "b", "b"});
    policy->decide = [](std::span<const SelectCandidate>) { return SelectDecision::Exclude({0, 1, 1}); };
    CHECK(f.PickId("claude") == "c");
    policy->decide = [](std::span<const SelectCandidate>) { return SelectDecision::Exclude({0, 1, 2, 3}); };
    auto r = f.manager->Pick("claude", "m");
    REQUIRE_FALSE(r.ok());
    CHECK(GetRoutingError(r.status())->reason == RoutingReason::kSelector);
    CHECK(std::string(r.status().message()).find("excluded every one of 4 candidates") != std::string::npos);
  }
  SECTION("delegate: round-robin as without a selector") {
    CHECK(f.PickIds("claude", 3) == Ids{"a", "b", "a"});
  }
  SECTION("reject: terminal, with the policy's status and message") {
    policy->decide = [](std::span<const SelectCandidate>) {
      return SelectDecision::Reject(403, "team quota exhausted");
    };
    auto r = f.manager->Pick("claude", "m");
    REQUIRE_FALSE(r.ok());
    CHECK(absl::IsPermissionDenied(r.status()));
    auto e = GetRoutingError(r.status());
    REQUIRE(e);
    CHECK(e->code == "selector_rejected");
    CHECK(e->http_status == 403);
    CHECK(e->reason == RoutingReason::kSelectorRejected);
    CHECK(e->body ==
          R"({"error":{"message":"team quota exhausted","type":"invalid_request_error","code":"selector_rejected"}})");
  }
  SECTION("a bad answer is reported and the built-in strategy answers") {
    policy->decide = [](std::span<const SelectCandidate>) { return SelectDecision::Pick(4); };
    CHECK(f.PickId("claude") == "a");
    policy->decide = [](std::span<const SelectCandidate>) { return SelectDecision::Exclude({9}); };
    CHECK(f.PickId("claude") == "b");
    policy->decide = [](std::span<const SelectCandidate>) { return SelectDecision::Reject(200, "ok?"); };
    CHECK(f.PickId("claude") == "a");
    const Ids seen = lines->Take();
    REQUIRE(seen.size() == 3);
    CHECK(seen[0].find("selector: the host selector picked candidate 4 of 4") == 0);
    CHECK(seen[1].find("excluded candidate 9 of 4") != std::string::npos);
    CHECK(seen[2].find("HTTP status 200") != std::string::npos);
    for (const std::string& line : seen) CHECK(line.find("the built-in strategy answered") != std::string::npos);
  }
  SECTION("a failing policy (it throws) is reported and the built-in strategy answers") {
    policy->decide = [](std::span<const SelectCandidate>) -> SelectDecision {
      throw std::runtime_error("SECRET-A");
    };
    CHECK(f.PickId("claude") == "a");
    const Ids seen = lines->Take();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].find("threw an exception") != std::string::npos);
    CHECK(seen[0].find("SECRET") == std::string::npos);
  }
  SECTION("a policy over its time budget is reported and its answer dropped") {
    policy->decide = [&](std::span<const SelectCandidate>) {
      f.clock.Advance(absl::Milliseconds(101));  // the default budget is 100 ms
      return SelectDecision::Pick(3);
    };
    CHECK(f.PickId("claude") == "a");
    const Ids seen = lines->Take();
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].find("over its budget of 100ms") != std::string::npos);
    policy->decide = [&](std::span<const SelectCandidate>) {
      f.clock.Advance(absl::Milliseconds(100));  // at the budget: in time
      return SelectDecision::Pick(3);
    };
    CHECK(f.PickId("claude") == "d");
  }
}

TEST_CASE("A best-tier policy sees only the best tier", "[selector][policy]") {
  auto policy = std::make_shared<Policy>(SelectorMode::kDecide);
  ManagerFixture f(With(policy));
  f.Add({.id = "a", .priority = "10"});
  f.Add({.id = "b", .priority = "5"});
  CHECK(f.PickId("claude") == "a");
  CHECK(policy->seen_ids == Ids{"a"});
  CHECK(policy->seen_tiers == std::vector<int64_t>{10});
}

TEST_CASE("A slow Select is reported and the built-in strategy answers and the budget is checked",
          "[selector][policy]") {
  class Slow final : public Selector {
   public:
    explicit Slow(ManualClock* c) : clock(c) {}
    absl::StatusOr<size_t> Select(const SelectContext&,
                                  std::span<const std::shared_ptr<const Credential>> candidates) override {
      clock->Advance(absl::Milliseconds(30));
      return candidates.size() - 1;
    }
    ManualClock* clock;
  };
  auto lines = std::make_shared<Lines>();
  ManagerFixture f(With(nullptr, lines, absl::Milliseconds(20)));
  f.manager->SetSelector(std::make_shared<Slow>(&f.clock));
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  CHECK(f.PickIds("claude", 2) == Ids{"a", "b"});  // round-robin, not "b", "b"
  CHECK(lines->Take().size() == 2);
  ManagerOptions bad;
  bad.selector_budget = absl::ZeroDuration();
  CHECK(absl::IsInvalidArgument(Manager::Create(std::move(bad)).status()));
  bad = ManagerOptions();
  bad.selector_budget = absl::Hours(2);
  CHECK(absl::IsInvalidArgument(Manager::Create(std::move(bad)).status()));
}

TEST_CASE("A selector in kSelect mode without Select fails the pick with its error",
          "[selector][policy]") {
  class Nothing final : public Selector {};
  ManagerFixture f(With(std::make_shared<Nothing>()));
  f.Add({.id = "a"});
  auto r = f.manager->Pick("claude", "m");
  CHECK(absl::IsUnimplemented(r.status()));
}

TEST_CASE("Execute returns a policy's rejection at once, without a round or a wait",
          "[selector][policy][execute]") {
  class Counting final : public Executor {
   public:
    Outcome Execute(const Attempt&) override {
      ++calls;
      Outcome o;
      o.success = true;
      o.http_status = 200;
      return o;
    }
    int calls = 0;
  };
  auto policy = std::make_shared<Policy>(SelectorMode::kDecide);
  policy->decide = [](std::span<const SelectCandidate>) { return SelectDecision::Reject(429, "slow down"); };
  ManagerOptions o = With(policy);
  o.request_retry = 3;
  o.max_retry_interval = absl::Seconds(30);
  ManagerFixture f(std::move(o));
  f.Add({.id = "a"});
  Counting ex;
  const std::string_view providers[] = {"claude"};
  ExecuteRequest request;
  request.providers = providers;
  request.model = "m";
  const absl::Time before = f.clock.Now();
  auto r = f.manager->Execute(request, ex);
  REQUIRE_FALSE(r.ok());
  CHECK(GetRoutingError(r.status())->code == "selector_rejected");
  CHECK(ex.calls == 0);
  CHECK(f.clock.Now() == before);  // no wait for a cooldown that is not there
}

}  // namespace
}  // namespace authrouter
