// The public Scheduler alone, through the pick-path scenarios the Manager tests use: tiers,
// cooldowns and their promotion, tried, pinned, mixed providers, strategies, errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "authrouter/routing_error.h"
#include "authrouter/scheduler.h"
#include "support/manager_fixture.h"
#include "support/time_helpers.h"

namespace authrouter {
namespace {

using testing::CoolingState;
using Ids = std::vector<std::string>;

struct Spec {
  std::string id = {};
  std::string provider = "claude";
  std::string priority = {};
  std::string weight = {};
  bool disabled = false;
  std::vector<std::string> models = {"m"};
};

struct SchedulerFixture {
  ManualClock clock{testing::Utc(2026, 4, 17)};
  Scheduler scheduler;

  Credential Make(const Spec& s) const {
    Credential c;
    c.id = s.id;
    c.provider = s.provider;
    c.status = CredentialStatus::kActive;
    c.disabled = s.disabled;
    if (!s.priority.empty()) c.attributes["priority"] = s.priority;
    if (!s.weight.empty()) c.attributes["weight"] = s.weight;
    return c;
  }
  void Put(const Credential& c, const std::vector<std::string>& models = {"m"}) {
    REQUIRE(scheduler.Upsert(std::make_shared<const Credential>(c), clock.Now()).ok());
    REQUIRE(scheduler.SetModels(c.id, {.source = ModelSource::kHost, .models = models, .excluded = {}}, clock.Now()).ok());
  }
  void Add(const Spec& s) { Put(Make(s), s.models); }

  // PickId returns the picked ID, or "<code>" of the routing error.
  std::string PickId(std::vector<std::string_view> providers, std::string_view model = "m",
                     std::vector<std::string_view> tried = {}, std::string_view pinned = {}) {
    ScheduleRequest r;
    r.providers = providers;
    r.model = model;
    r.tried = tried;
    r.pinned_id = pinned;
    absl::StatusOr<ScheduledPick> p = scheduler.Pick(r, clock);
    if (p.ok()) return p->credential->id;
    auto e = GetRoutingError(p.status());
    return "<" + (e ? e->code : std::string(p.status().message())) + ">";
  }
  Ids Picks(std::vector<std::string_view> providers, int n, std::string_view model = "m") {
    Ids out;
    for (int i = 0; i < n; ++i) out.push_back(PickId(providers, model));
    return out;
  }
};

TEST_CASE("Scheduler: round-robin in ID order within the best priority tier", "[public-scheduler]") {
  SchedulerFixture f;
  f.Add({.id = "c"});
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  f.Add({.id = "low", .priority = "-1"});
  CHECK(f.Picks({"claude"}, 4) == Ids{"a", "b", "c", "a"});
  CHECK(f.scheduler.size() == 4);
}

TEST_CASE("Scheduler: a higher tier wins and a cooling tier falls through to the next",
          "[public-scheduler]") {
  SchedulerFixture f;
  Credential high = f.Make({.id = "high", .priority = "10"});
  high.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(5), true);
  f.Put(high);
  f.Add({.id = "mid", .priority = "5"});
  CHECK(f.PickId({"claude"}) == "mid");
  // The cooldown ends: the next pick promotes it, no Upsert needed.
  f.clock.Advance(absl::Minutes(5));
  CHECK(f.PickId({"claude"}) == "high");
}

TEST_CASE("Scheduler: every candidate cooling gives model_cooldown with the wait and EarliestRetry",
          "[public-scheduler]") {
  SchedulerFixture f;
  for (int minutes : {30, 10}) {
    Credential c = f.Make({.id = "c" + std::to_string(minutes)});
    c.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(minutes), true);
    f.Put(c);
  }
  const std::string_view providers[] = {"claude"};
  absl::StatusOr<ScheduledPick> p = f.scheduler.Pick({.providers = providers, .model = "m"}, f.clock.Now());
  REQUIRE_FALSE(p.ok());
  auto e = GetRoutingError(p.status());
  REQUIRE(e);
  CHECK(e->code == "model_cooldown");
  CHECK(e->http_status == 429);
  CHECK(e->retry_after == absl::Minutes(10));
  CHECK(e->reason == RoutingReason::kAllCooling);
  const std::optional<absl::Time> retry =
      f.scheduler.EarliestRetry({.providers = providers, .model = "m"}, f.clock.Now());
  REQUIRE(retry.has_value());
  CHECK(*retry == f.clock.Now() + absl::Minutes(10));
  // A model nobody blocks has no retry time; neither has a request that names no provider.
  f.Add({.id = "free"});
  CHECK_FALSE(f.scheduler.EarliestRetry({.providers = providers, .model = "other"}, f.clock.Now()));
  CHECK_FALSE(f.scheduler.EarliestRetry({.model = "m"}, f.clock.Now()));
  CHECK(f.PickId({"claude"}) == "free");
}

TEST_CASE("Scheduler: tried and pinned", "[public-scheduler]") {
  SchedulerFixture f;
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  CHECK(f.PickId({"claude"}, "m", {"a"}) == "b");
  CHECK(f.PickId({"claude"}, "m", {"a", "b"}) == "<auth_not_found>");
  CHECK(f.PickId({"claude"}, "m", {}, "b") == "b");
  CHECK(f.PickId({"claude"}, "m", {}, "b") == "b");
  CHECK(f.PickId({"claude"}, "m", {}, "zz") == "<auth_not_found>");
  CHECK(f.PickId({"claude"}, "m", {"b"}, "b") == "<auth_not_found>");
}

TEST_CASE("Scheduler: several providers share one rotation", "[public-scheduler]") {
  SchedulerFixture f;
  f.Add({.id = "a1", .provider = "claude"});
  f.Add({.id = "b1", .provider = "codex"});
  f.Add({.id = "a2", .provider = "claude"});
  const Ids picks = f.Picks({"Claude", " codex "}, 6);
  CHECK(std::count(picks.begin(), picks.end(), "a1") == 2);
  CHECK(std::count(picks.begin(), picks.end(), "a2") == 2);
  CHECK(std::count(picks.begin(), picks.end(), "b1") == 2);
  const std::string_view providers[] = {"codex", "claude"};
  absl::StatusOr<ScheduledPick> p =
      f.scheduler.Pick({.providers = providers, .model = "m", .pinned_id = "b1"}, f.clock.Now());
  REQUIRE(p.ok());
  CHECK(p->provider == "codex");
}

TEST_CASE("Scheduler: strategies, models, disabled and removal", "[public-scheduler]") {
  SchedulerFixture f;
  f.Add({.id = "a", .weight = "3"});
  f.Add({.id = "b", .weight = "1"});
  SECTION("fill-first") {
    f.scheduler.SetStrategy(RoutingStrategy::kFillFirst);
    CHECK(f.scheduler.strategy() == RoutingStrategy::kFillFirst);
    CHECK(f.Picks({"claude"}, 3) == Ids{"a", "a", "a"});
  }
  SECTION("weighted") {
    f.scheduler.SetStrategy(RoutingStrategy::kWeightedRoundRobin);
    const Ids picks = f.Picks({"claude"}, 8);
    CHECK(std::count(picks.begin(), picks.end(), "a") == 6);
  }
  SECTION("models: a suffix is ignored, globs and exclusions apply, unknown models fail") {
    REQUIRE(f.scheduler
                .SetModels("b", {.source = ModelSource::kHost, .models = {"gpt-*"}, .excluded = {"GPT-5-MINI"}},
                           f.clock.Now())
                .ok());
    CHECK(f.PickId({"claude"}, "m(high)") == "a");
    CHECK(f.PickId({"claude"}, "gpt-5") == "b");
    CHECK(f.PickId({"claude"}, "gpt-5-mini") == "<auth_not_found>");
    CHECK(f.scheduler.Models("b").excluded == std::vector<std::string>{"gpt-5-mini"});
    CHECK(f.scheduler.Models("zz").source == ModelSource::kNone);
  }
  SECTION("disabled, then removed") {
    f.Put(f.Make({.id = "a", .disabled = true}));
    f.Put(f.Make({.id = "b", .disabled = true}));
    ScheduleRequest r;
    const std::string_view providers[] = {"claude"};
    r.providers = providers;
    auto p = f.scheduler.Pick(r, f.clock.Now());
    REQUIRE_FALSE(p.ok());
    CHECK(GetRoutingError(p.status())->reason == RoutingReason::kAllDisabled);
    f.scheduler.Remove("a");
    f.scheduler.Remove("b");
    f.scheduler.Remove("never-there");
    p = f.scheduler.Pick(r, f.clock.Now());
    CHECK(GetRoutingError(p.status())->reason == RoutingReason::kNoCredentials);
    CHECK(f.scheduler.size() == 0);
  }
}

TEST_CASE("Scheduler: what it cannot route is refused and changes nothing", "[public-scheduler]") {
  SchedulerFixture f;
  CHECK(absl::IsInvalidArgument(f.scheduler.Upsert(nullptr, f.clock.Now())));
  Credential c = f.Make({.id = ""});
  CHECK(absl::IsInvalidArgument(f.scheduler.Upsert(std::make_shared<const Credential>(c), f.clock.Now())));
  c = f.Make({.id = "a", .provider = " "});
  CHECK(absl::IsInvalidArgument(f.scheduler.Upsert(std::make_shared<const Credential>(c), f.clock.Now())));
  c = f.Make({.id = "a"});
  c.label = "\xff";  // invalid UTF-8
  CHECK(absl::IsInvalidArgument(f.scheduler.Upsert(std::make_shared<const Credential>(c), f.clock.Now())));
  CHECK(absl::IsInvalidArgument(f.scheduler.SetModels("", {.source = ModelSource::kHost, .models = {"m"}, .excluded = {}},
                                                      f.clock.Now())));
  CHECK(f.scheduler.size() == 0);
  CHECK(f.PickId({}) == "<provider_not_found>");
  CHECK(f.PickId({" "}) == "<provider_not_found>");
}

// Each thread remembers its last request's normalised form; these picks would go wrong if a
// remembered form were reused for a request that only looks like it.
TEST_CASE("Scheduler: a request reused or rewritten in place on one thread picks as a fresh one",
          "[public-scheduler]") {
  SchedulerFixture f;
  f.Add({.id = "a1", .provider = "claude"});
  f.Add({.id = "a2", .provider = "claude"});
  f.Add({.id = "g1", .provider = "gemini", .models = {"m", "n"}});
  f.Add({.id = "g2", .provider = "gemini", .models = {"n"}});
  // One buffer rewritten between picks: same address and size, other content.
  char provider[] = "claude";
  char model[] = "m";
  const std::string_view providers[] = {std::string_view(provider, 6)};
  const ScheduleRequest r{.providers = providers, .model = std::string_view(model, 1)};
  auto id = [&] {
    absl::StatusOr<ScheduledPick> p = f.scheduler.Pick(r, f.clock.Now());
    return p.ok() ? p->credential->id + "@" + std::string(p->provider) : "<" + std::string(p.status().message()) + ">";
  };
  CHECK(id() == "a1@claude");
  std::memcpy(provider, "gemini", 6);
  CHECK(id() == "g1@gemini");
  model[0] = 'n';
  CHECK(id() == "g1@gemini");  // the n-rotation of gemini starts at g1
  CHECK(id() == "g2@gemini");
  std::memcpy(provider, "CLAUDE", 6);
  model[0] = 'm';
  CHECK(id() == "a2@claude");  // the claude rotation went on from a1
  // The same values from other buffers, spaces and case, and mixed orders share the rotation.
  CHECK(f.Picks({" claude "}, 2) == Ids{"a1", "a2"});
  CHECK(f.Picks({"Claude"}, 1) == Ids{"a1"});
  CHECK(f.PickId({"gemini"}, "m(high)") == "g1");  // the canonical key of m
  CHECK(f.PickId({"gemini"}, "m") == "g1");        // one rotation per canonical model, pool of 1
  // Requests too large to remember (many providers, a long model) pick all the same.
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back("p" + std::to_string(i));
  names.push_back("claude");
  std::vector<std::string_view> many(names.begin(), names.end());
  const std::string from_many = f.PickId(many);
  CHECK((from_many == "a1" || from_many == "a2"));
  const std::string long_model(600, 'x');
  CHECK(f.PickId({"claude"}, long_model) == "<auth_not_found>");  // served by no one
  CHECK(f.PickId({"gemini"}, "n") == "g1");
}

TEST_CASE("Scheduler: picks from many threads while credentials change", "[public-scheduler][stress]") {
  SchedulerFixture f;
  for (int i = 0; i < 20; ++i) f.Add({.id = "c" + std::to_string(i)});
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::vector<std::thread> pickers;
  for (int t = 0; t < 3; ++t) {
    pickers.emplace_back([&] {
      const std::string_view providers[] = {"claude"};
      const absl::Time now = testing::Utc(2026, 4, 17);
      while (!stop.load()) {
        absl::StatusOr<ScheduledPick> p = f.scheduler.Pick({.providers = providers, .model = "m"}, now);
        if (!p.ok() || p->credential == nullptr) ++bad;
      }
    });
  }
  for (int round = 0; round < 300; ++round) {
    const std::string id = "x" + std::to_string(round % 7);
    Credential c = f.Make({.id = id});
    REQUIRE(f.scheduler.Upsert(std::make_shared<const Credential>(c), f.clock.Now()).ok());
    REQUIRE(f.scheduler.SetModels(id, {.source = ModelSource::kHost, .models = {"m"}, .excluded = {}}, f.clock.Now()).ok());
    if (round % 3 == 0) f.scheduler.Remove(id);
  }
  stop = true;
  for (auto& t : pickers) t.join();
  CHECK(bad.load() == 0);
}

}  // namespace
}  // namespace authrouter
