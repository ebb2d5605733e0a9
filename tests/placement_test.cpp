// Where a conversation without a binding goes (SessionPlacement): weighted rendezvous hashing of
// its session key, so that replicas and restarts agree with nothing shared; or the strategy.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "authrouter/config.h"
#include "authrouter/manager.h"
#include "support/manager_fixture.h"

using authrouter::testing::ManagerFixture;
namespace ar = authrouter;

namespace {

constexpr std::string_view kClaude = "claude";

ar::ManagerOptions Affinity(ar::ManagerOptions options = {}) {
  options.session_affinity = true;
  return options;
}

// Ids returns "c00".."c<n-1>", shuffled by `seed` (0: in order), so that two Managers can
// register the same pool in different orders.
std::vector<std::string> Ids(int n, unsigned seed = 0) {
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back((i < 10 ? "c0" : "c") + std::to_string(i));
  if (seed != 0) std::shuffle(ids.begin(), ids.end(), std::mt19937(seed));
  return ids;
}

std::string SessionPick(ManagerFixture& f, std::string_view session, std::string_view tenant = {}) {
  const ar::HttpHeader headers[] = {{"X-Session-ID", session}};
  ar::PickRequest r;
  r.providers = {&kClaude, 1};
  r.model = "m";
  r.headers = headers;
  r.tenant = tenant;
  return ManagerFixture::Describe(f.manager->Pick(r));
}

std::string SessionName(int i) { return "conversation-" + std::to_string(i); }

}  // namespace

TEST_CASE("Two managers over the same pool place new conversations alike, and spread them evenly",
          "[placement]") {
  ManagerFixture a(Affinity());
  ManagerFixture b(Affinity());
  for (const std::string& id : Ids(10)) a.Add({.id = id});
  for (const std::string& id : Ids(10, 7)) b.Add({.id = id});
  // Some picks without a session first, so that the two rotations stand elsewhere.
  for (int i = 0; i < 3; ++i) (void)b.PickId("claude");
  constexpr int kSessions = 10'000;
  int same = 0;
  std::map<std::string, int> share;
  for (int i = 0; i < kSessions; ++i) {
    const std::string on_a = SessionPick(a, SessionName(i));
    const std::string on_b = SessionPick(b, SessionName(i));
    REQUIRE(on_a.front() == 'c');
    same += on_a == on_b ? 1 : 0;
    ++share[on_a];
  }
  CHECK(same == kSessions);  // the issue asks for 99.9 %; placement is deterministic
  REQUIRE(share.size() == 10);
  for (const auto& [id, n] : share) {
    INFO(id << " placed " << n);
    CHECK(n >= 900);  // even is 1,000: within 10 %
    CHECK(n <= 1100);
  }
  // A restart (a fresh Manager) keeps every placement.
  ManagerFixture restarted(Affinity());
  for (const std::string& id : Ids(10, 99)) restarted.Add({.id = id});
  for (int i = 0; i < 500; ++i) CHECK(SessionPick(restarted, SessionName(i)) == SessionPick(a, SessionName(i)));
}

TEST_CASE("A credential leaving moves only the conversations placed on it", "[placement]") {
  ManagerFixture full(Affinity());
  ManagerFixture without(Affinity());
  for (const std::string& id : Ids(8)) {
    full.Add({.id = id});
    if (id != "c03") without.Add({.id = id});
  }
  int moved = 0, from_c03 = 0;
  for (int i = 0; i < 2'000; ++i) {
    const std::string before = SessionPick(full, SessionName(i));
    const std::string after = SessionPick(without, SessionName(i));
    if (before == "c03") {
      ++from_c03;
      CHECK(after != "c03");
    } else {
      moved += before != after ? 1 : 0;
    }
  }
  CHECK(moved == 0);
  CHECK(from_c03 > 150);  // about one in eight
  // On one Manager: a bound conversation whose credential is out goes to its next-best
  // credential, which a fresh replica without that credential agrees on.
  ManagerFixture replica(Affinity());
  for (const std::string& id : Ids(8)) {
    if (id != "c03") replica.Add({.id = id});
  }
  int checked = 0;
  for (int i = 0; i < 2'000 && checked < 20; ++i) {
    if (SessionPick(full, SessionName(i)) != "c03") continue;
    REQUIRE(full.manager->SetDisabled("c03", true).ok());
    CHECK(SessionPick(full, SessionName(i)) == SessionPick(replica, SessionName(i)));
    REQUIRE(full.manager->SetDisabled("c03", false).ok());
    ++checked;
  }
  CHECK(checked == 20);
}

TEST_CASE("Weights keep their share of new conversations", "[placement]") {
  ar::ManagerOptions o = Affinity();
  o.strategy = ar::RoutingStrategy::kWeightedRoundRobin;
  ManagerFixture f(o);
  f.Add({.id = "w1", .weight = "1"});
  f.Add({.id = "w2", .weight = "2"});
  f.Add({.id = "w5", .weight = "5"});
  f.Add({.id = "w0", .weight = "0"});  // takes no share under weighted round-robin
  std::map<std::string, int> share;
  constexpr int kSessions = 8'000;
  for (int i = 0; i < kSessions; ++i) ++share[SessionPick(f, SessionName(i))];
  CHECK(share.count("w0") == 0);
  CHECK(share["w1"] == Approx(1'000).epsilon(0.1));
  CHECK(share["w2"] == Approx(2'000).epsilon(0.1));
  CHECK(share["w5"] == Approx(5'000).epsilon(0.1));
}

TEST_CASE("Placement stays within the strategy's tier and its limits", "[placement]") {
  SECTION("the best priority with a ready credential") {
    ManagerFixture f(Affinity());
    f.Add({.id = "low-1"});
    f.Add({.id = "low-2"});
    f.Add({.id = "high-1", .priority = "5"});
    f.Add({.id = "high-2", .priority = "5"});
    std::map<std::string, int> share;
    for (int i = 0; i < 200; ++i) ++share[SessionPick(f, SessionName(i))];
    CHECK(share.size() == 2);
    CHECK(share["high-1"] > 60);
    CHECK(share["high-2"] > 60);
    // The top tier out: the next tier takes new conversations.
    ar::Result r;
    r.credential_id = "high-1";
    r.model = "m";
    r.http_status = 429;
    r.retry_after = absl::Minutes(5);
    REQUIRE(f.manager->MarkResult(r).ok());
    r.credential_id = "high-2";
    REQUIRE(f.manager->MarkResult(r).ok());
    const std::string next = SessionPick(f, "a-new-conversation");
    CHECK((next == "low-1" || next == "low-2"));
  }
  SECTION("a credential at its concurrency limit is passed over at once") {
    ar::ManagerOptions o = Affinity();
    o.leases.max_in_flight = 1;
    ManagerFixture f(o);
    f.Add({.id = "a"});
    f.Add({.id = "b"});
    const ar::HttpHeader headers[] = {{"X-Session-ID", "s-1"}};
    ar::PickRequest request;
    request.providers = {&kClaude, 1};
    request.model = "m";
    request.headers = headers;
    auto first = f.manager->Pick(request);
    REQUIRE(first.ok());
    const std::string placed = first->credential->id;
    // The same conversation's next request while the first is in flight: its bound credential
    // is full, so it goes to the other (and keeps its binding).
    auto second = f.manager->Pick(request);
    REQUIRE(second.ok());
    CHECK(second->credential->id != placed);
    second->lease.Release();
    // A new conversation whose placement is the full credential goes to the other one.
    ManagerFixture reference(Affinity());
    reference.Add({.id = "a"});
    reference.Add({.id = "b"});
    int i = 0;
    while (SessionPick(reference, SessionName(i)) != placed) ++i;
    CHECK(SessionPick(f, SessionName(i)) != placed);
  }
}

TEST_CASE("Tenants place the same session ID independently", "[placement]") {
  ManagerFixture f(Affinity());
  for (const std::string& id : Ids(10)) f.Add({.id = id});
  int differ = 0;
  for (int i = 0; i < 100; ++i) {
    differ += SessionPick(f, SessionName(i), "tenant-a") != SessionPick(f, SessionName(i), "tenant-b") ? 1 : 0;
  }
  CHECK(differ > 70);  // one in ten agree by chance
}

TEST_CASE("The strategy placement and fill-first keep the rotation's order", "[placement]") {
  SECTION("session-placement strategy") {
    ar::ManagerOptions o = Affinity();
    o.session_placement = ar::SessionPlacement::kStrategy;
    ManagerFixture f(o);
    for (const char* id : {"a", "b", "c"}) f.Add({.id = id});
    CHECK(SessionPick(f, "s1") == "a");
    CHECK(SessionPick(f, "s2") == "b");
    CHECK(SessionPick(f, "s3") == "c");
    CHECK(SessionPick(f, "s1") == "a");  // bound
    CHECK(SessionPick(f, "s4") == "a");
    // Switched at run time: new conversations are placed, bound ones stay.
    f.manager->SetSessionPlacement(ar::SessionPlacement::kRendezvous);
    CHECK(SessionPick(f, "s2") == "b");
    ManagerFixture reference(Affinity());
    for (const char* id : {"a", "b", "c"}) reference.Add({.id = id});
    for (int i = 0; i < 30; ++i) CHECK(SessionPick(f, SessionName(i)) == SessionPick(reference, SessionName(i)));
  }
  SECTION("fill-first") {
    ar::ManagerOptions o = Affinity();
    o.strategy = ar::RoutingStrategy::kFillFirst;
    ManagerFixture f(o);
    for (const char* id : {"a", "b", "c"}) f.Add({.id = id});
    for (int i = 0; i < 20; ++i) CHECK(SessionPick(f, SessionName(i)) == "a");
  }
}

TEST_CASE("routing.session-placement is read, checked and hot-reloaded", "[placement][config]") {
  auto config =
      ar::ParseConfig(R"({"routing": {"session-affinity": true, "session-placement": "strategy"}})");
  REQUIRE(config.ok());
  CHECK(config->session_placement == ar::SessionPlacement::kStrategy);
  auto defaults = ar::ParseConfig(R"({"routing": {"session-affinity": true}})");
  REQUIRE(defaults.ok());
  CHECK(defaults->session_placement == ar::SessionPlacement::kRendezvous);
  auto bad = ar::ParseConfig(R"({"routing": {"session-placement": "random"}})");
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("routing.session-placement") != std::string::npos);
  auto wrong_type = ar::ParseConfig(R"({"routing": {"session-placement": 1}})");
  CHECK_FALSE(wrong_type.ok());

  ar::ManagerOptions o = Affinity();
  REQUIRE(ar::ApplyToOptions(*config, o).ok());
  CHECK(o.session_placement == ar::SessionPlacement::kStrategy);
  ManagerFixture f(o);
  for (const char* id : {"a", "b", "c"}) f.Add({.id = id});
  CHECK(SessionPick(f, "s1") == "a");
  CHECK(SessionPick(f, "s2") == "b");
  auto changed = ar::ApplyConfig(*f.manager, *config, *defaults);
  REQUIRE(changed.ok());
  CHECK(std::find(changed->begin(), changed->end(), "routing.session-placement") != changed->end());
  ManagerFixture reference(Affinity());
  for (const char* id : {"a", "b", "c"}) reference.Add({.id = id});
  for (int i = 0; i < 30; ++i) CHECK(SessionPick(f, SessionName(i)) == SessionPick(reference, SessionName(i)));
}

TEST_CASE("Placement skips tried credentials and spans the providers of a mixed request",
          "[placement]") {
  ManagerFixture f(Affinity());
  f.Add({.id = "c-1"});
  f.Add({.id = "c-2"});
  f.Add({.id = "g-1", .provider = "gemini"});
  f.Add({.id = "g-2", .provider = "gemini"});
  constexpr std::string_view kBoth[] = {"claude", "gemini"};
  std::map<std::string, int> share;
  for (int i = 0; i < 400; ++i) {
    const std::string name = SessionName(i);
    const ar::HttpHeader headers[] = {{"X-Session-ID", name}};
    ar::PickRequest r;
    r.providers = kBoth;
    r.model = "m";
    r.headers = headers;
    auto first = f.manager->Pick(r);
    REQUIRE(first.ok());
    ++share[first->credential->id];
    // Execute's retry within a round: the placed credential tried, the next-best answers, and
    // a replica agrees on that one too.
    const std::string_view tried[] = {first->credential->id};
    ar::PickRequest retry = r;
    retry.tried = tried;
    const std::string again = ManagerFixture::Describe(f.manager->Pick(retry));
    CHECK(again != first->credential->id);
    CHECK(again.front() != '<');
  }
  CHECK(share.size() == 4);
  for (const auto& [id, n] : share) {
    INFO(id);
    CHECK(n > 60);
  }
}

// Replicas of different builds and processes must agree, so the placement of a session is part
// of the contract: these pins change only with kPlacementSeed or the hash, which would split a
// fleet running two versions (and then needs a changelog entry). They were computed by an
// independent implementation, tests/placement_reference.py (binding keys
// "claude::header:<session>::m").
TEST_CASE("Placement is stable across processes and versions", "[placement]") {
  ManagerFixture f(Affinity());
  for (const std::string& id : Ids(10)) f.Add({.id = id});
  std::string got;
  for (int i = 0; i < 8; ++i) got += SessionPick(f, SessionName(i)) + " ";
  CHECK(got == "c09 c03 c05 c03 c06 c04 c08 c07 ");
}
