// Several replicas, one routing state, part two: fleet-wide concurrency leases and token
// refresh as one flight (shared_state.h), on a real redis-server each test starts and stops.
// Lease and lock expiry run on the replicas' manual clocks; waits are for other threads and the
// server, bounded.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "authrouter/config.h"
#include "authrouter/manager.h"
#include "authrouter/refresh.h"
#include "authrouter/routing_error.h"
#include "authrouter/shared_state.h"
#include "redis_server.h"
#include "support/manager_fixture.h"
#include "support/memory_store.h"

namespace ar = authrouter;
using authrouter::testing::ManagerFixture;
using authrouter::testing::MemoryStore;
using authrouter_test::Eventually;
using authrouter_test::RedisServer;

namespace {

std::shared_ptr<ar::SharedState> Redis(const std::string& url) {
  ar::RedisOptions ro;
  ro.url = url;
  ro.prefix = "fleet:";
  ro.min_backoff = absl::Milliseconds(5);
  ro.max_backoff = absl::Milliseconds(50);
  return *ar::NewRedisSharedState(ro);
}

// A pool of limited credentials c1, c2 on a replica.
struct LeaseReplica {
  std::unique_ptr<ManagerFixture> f;
  LeaseReplica(std::shared_ptr<ar::SharedState> shared, int64_t limit, int64_t per_model = 0,
               ar::FleetLeases fleet = ar::FleetLeases::kExact, int64_t replicas = 1) {
    ar::ManagerOptions o;
    o.shared_state = std::move(shared);
    o.shared_lookup_timeout = absl::Milliseconds(500);
    o.leases.max_in_flight = limit;
    o.leases.max_in_flight_per_model = per_model;
    o.leases.fleet = fleet;
    o.leases.fleet_replicas = replicas;
    f = std::make_unique<ManagerFixture>(std::move(o));
    for (const char* id : {"c1", "c2"}) f->Add({.id = id});
  }
  ar::Manager& m() { return *f->manager; }
  bool Connected() { return m().SharedStats()->connected; }
};

}  // namespace

TEST_CASE("fleet leases: max-in-flight holds across three replicas under concurrent picks") {
  RedisServer server;
  LeaseReplica a(Redis(server.url()), 2), b(Redis(server.url()), 2), c(Redis(server.url()), 2);
  for (LeaseReplica* r : {&a, &b, &c}) REQUIRE(Eventually([&] { return r->Connected(); }));

  // Two threads per replica pick, hold the place a moment, and report. In flight is counted
  // from the pick to just before the release, so the count never runs ahead of the limit.
  std::atomic<int> in_flight[2] = {0, 0};
  std::atomic<int> peak[2] = {0, 0};
  std::atomic<int> served{0}, busy{0}, other{0};
  std::vector<std::thread> threads;
  for (LeaseReplica* r : {&a, &b, &c}) {
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, r] {
        for (int i = 0; i < 60; ++i) {
          absl::StatusOr<ar::PickResult> p = r->m().Pick("claude", "m");
          if (!p.ok()) {
            std::optional<ar::RoutingError> e = ar::GetRoutingError(p.status());
            (e && e->code == "auth_busy" ? busy : other).fetch_add(1);
            std::this_thread::yield();
            continue;
          }
          const int k = p->credential->id == "c1" ? 0 : 1;
          const int now = in_flight[k].fetch_add(1) + 1;
          int seen = peak[k].load();
          while (now > seen && !peak[k].compare_exchange_weak(seen, now)) {
          }
          std::this_thread::sleep_for(std::chrono::microseconds(200));  // the upstream call
          in_flight[k].fetch_sub(1);
          ar::Result res;
          res.credential_id = p->credential->id;
          res.model = "m";
          res.success = true;
          res.http_status = 200;
          res.lease = &p->lease;
          if (!r->m().MarkResult(res).ok()) other.fetch_add(1);  // checked after the join (Catch2 is not thread-safe)
          served.fetch_add(1);
        }
      });
    }
  }
  for (std::thread& t : threads) t.join();
  INFO("served " << served << ", busy " << busy << ", other " << other);
  CHECK(peak[0] <= 2);
  CHECK(peak[1] <= 2);
  CHECK(other == 0);
  CHECK(served > 0);
  CHECK(served + busy == 360);
  uint64_t taken = 0;
  for (LeaseReplica* r : {&a, &b, &c}) taken += r->m().SharedStats()->leases_taken;
  CHECK(taken == static_cast<uint64_t>(served.load()));
  // Every place went back: each replica can fill the fleet's limit again.
  REQUIRE(Eventually([&] {
    absl::StatusOr<ar::PickResult> p1 = a.m().Pick("claude", "m");
    absl::StatusOr<ar::PickResult> p2 = b.m().Pick("claude", "m");
    absl::StatusOr<ar::PickResult> p3 = c.m().Pick("claude", "m");
    absl::StatusOr<ar::PickResult> p4 = a.m().Pick("claude", "m");
    return p1.ok() && p2.ok() && p3.ok() && p4.ok();
  }));
}

TEST_CASE("fleet leases: a full fleet answers auth_busy and a release or an expiry frees the place for another replica") {
  RedisServer server;
  LeaseReplica a(Redis(server.url()), 1), b(Redis(server.url()), 1), c(Redis(server.url()), 1);
  for (LeaseReplica* r : {&a, &b, &c}) REQUIRE(Eventually([&] { return r->Connected(); }));

  absl::StatusOr<ar::PickResult> on_a = a.m().Pick("claude", "m");
  REQUIRE(on_a.ok());
  const std::string first = on_a->credential->id;
  absl::StatusOr<ar::PickResult> on_b = b.m().Pick("claude", "m");
  REQUIRE(on_b.ok());
  CHECK(on_b->credential->id != first);  // the other is full across the fleet
  absl::StatusOr<ar::PickResult> on_c = c.m().Pick("claude", "m");
  REQUIRE(!on_c.ok());
  std::optional<ar::RoutingError> e = ar::GetRoutingError(on_c.status());
  REQUIRE(e);
  CHECK(e->code == "auth_busy");
  CHECK(e->http_status == 429);
  CHECK(e->reason == ar::RoutingReason::kAllBusy);
  CHECK(e->retry_after == absl::Seconds(1));
  CHECK(c.m().SharedStats()->leases_refused >= 2);
  CHECK(c.m().InFlight("c1") == 0);  // the local places went back with the refusal
  CHECK(c.m().InFlight("c2") == 0);

  // A release on a frees its place for c (the release is queued: it lands shortly).
  on_a->lease.Release();
  REQUIRE(Eventually([&] {
    absl::StatusOr<ar::PickResult> p = c.m().Pick("claude", "m");
    return p.ok() && p->credential->id == first;
  }));

  // b never returns its lease: past the lease ttl its place counts as free for the others.
  REQUIRE(Eventually([&] {  // c's own lease of the last check has gone back
    absl::StatusOr<ar::PickResult> x = c.m().Pick("claude", "m");
    return x.ok() && ManagerFixture::Describe(c.m().Pick("claude", "m")) == "<auth_busy>";
  }));
  for (LeaseReplica* r : {&a, &c}) r->f->clock.Advance(absl::Minutes(11));
  REQUIRE(Eventually([&] {
    absl::StatusOr<ar::PickResult> x = c.m().Pick("claude", "m");
    absl::StatusOr<ar::PickResult> y = c.m().Pick("claude", "m");
    return x.ok() && y.ok();
  }));
}

TEST_CASE("fleet leases: a per-model limit holds across the fleet") {
  RedisServer server;
  LeaseReplica a(Redis(server.url()), 0, 1), b(Redis(server.url()), 0, 1);
  for (LeaseReplica* r : {&a, &b}) REQUIRE(Eventually([&] { return r->Connected(); }));
  for (LeaseReplica* r : {&a, &b}) {
    for (const char* id : {"c1", "c2"}) r->m().RegisterModels(id, {"m", "n"});
  }
  absl::StatusOr<ar::PickResult> a1 = a.m().Pick("claude", "m");
  absl::StatusOr<ar::PickResult> a2 = a.m().Pick("claude", "m");
  REQUIRE(a1.ok());
  REQUIRE(a2.ok());
  // Model m is full on both credentials, fleet-wide; model n is not.
  CHECK(ManagerFixture::Describe(b.m().Pick("claude", "m")) == "<auth_busy>");
  absl::StatusOr<ar::PickResult> n = b.m().Pick("claude", "n");
  CHECK(n.ok());
}

TEST_CASE("fleet leases: share mode divides each limit among the replicas, with no shared state") {
  ar::ManagerOptions o;
  o.leases.max_in_flight = 7;
  o.leases.fleet = ar::FleetLeases::kShare;
  o.leases.fleet_replicas = 3;
  ManagerFixture f(o);
  f.Add({.id = "c1"});
  std::vector<ar::PickResult> held;
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<ar::PickResult> p = f.manager->Pick("claude", "m");
    REQUIRE(p.ok());
    held.push_back(*std::move(p));
  }
  CHECK(f.PickId("claude") == "<auth_busy>");  // floor(7 / 3) = 2 here
  // Fewer places than replicas: each keeps one.
  ar::LeaseOptions lo = f.manager->GetLeaseOptions();
  lo.max_in_flight = 2;
  REQUIRE(f.manager->SetLeaseOptions(lo).ok());
  held.clear();
  absl::StatusOr<ar::PickResult> one = f.manager->Pick("claude", "m");
  REQUIRE(one.ok());
  CHECK(f.PickId("claude") == "<auth_busy>");
  // Back to local: the whole limit here.
  lo.fleet = ar::FleetLeases::kLocal;
  REQUIRE(f.manager->SetLeaseOptions(lo).ok());
  CHECK(f.PickId("claude") == "c1");
  lo.fleet_replicas = 0;
  CHECK(f.manager->SetLeaseOptions(lo).message().find("fleet_replicas") != std::string_view::npos);
  lo.fleet_replicas = 1;
  lo.fleet = static_cast<ar::FleetLeases>(9);
  CHECK(f.manager->SetLeaseOptions(lo).message().find("fleet") != std::string_view::npos);
}

TEST_CASE("fleet leases: without an answer from redis the local place alone holds") {
  LeaseReplica a(Redis("unix:///nonexistent/authrouter-fleet.sock"), 1);
  absl::StatusOr<ar::PickResult> p = a.m().Pick("claude", "m");
  REQUIRE(p.ok());
  CHECK(a.m().SharedStats()->lease_failures == 1);
  CHECK(a.m().InFlight(p->credential->id) == 1);
  absl::StatusOr<ar::PickResult> q = a.m().Pick("claude", "m");
  REQUIRE(q.ok());
  CHECK(q->credential->id != p->credential->id);
  CHECK(a.f->PickId("claude") == "<auth_busy>");  // the local limit still holds
}

namespace {

// FleetRefresher counts its calls; with hold_first, the first call waits until released.
class FleetRefresher final : public ar::Refresher {
 public:
  absl::StatusOr<ar::TokenUpdate> Refresh(const ar::Credential& c, const ar::RefreshContext& ctx) override {
    int n = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      n = ++calls_;
      seen_.push_back(c.metadata.GetString("refresh_token").value_or(""));
      cv_.notify_all();
      if (n == 1 && hold_first) cv_.wait(lock, [&] { return released_; });
    }
    ar::TokenUpdate u;
    u.access_token = "access-" + std::to_string(n);
    u.refresh_token = "refresh-" + std::to_string(n);  // rotated, as Claude's and Codex's are
    u.expires_at = ctx.now + absl::Hours(8);
    return u;
  }
  int calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::vector<std::string> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }
  void WaitCalls(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return calls_ >= n; });
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      released_ = true;
    }
    cv_.notify_all();
  }
  bool hold_first = false;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int calls_ = 0;
  bool released_ = false;
  std::vector<std::string> seen_;
};

struct RefreshReplica {
  std::unique_ptr<ManagerFixture> f;
  RefreshReplica(std::shared_ptr<ar::SharedState> shared, std::shared_ptr<FleetRefresher> refresher,
                 bool share_tokens, std::shared_ptr<ar::Store> store = nullptr) {
    ar::ManagerOptions o;
    o.shared_state = std::move(shared);
    o.shared_tokens = share_tokens;
    o.store = std::move(store);
    o.refresh.refreshers["claude"] = std::move(refresher);
    f = std::make_unique<ManagerFixture>(std::move(o));
    ar::Credential c = f->Make({.id = "acct"});
    c.metadata = *ar::Metadata::Parse(
        R"({"type":"claude","access_token":"access-0","refresh_token":"refresh-0","expired":"2026-04-17T01:00:00Z"})");
    f->AddCredential(std::move(c));
  }
  ar::Manager& m() { return *f->manager; }
  std::string Access() { return m().Get("acct")->metadata.GetString("access_token").value_or(""); }
  std::string RefreshToken() { return m().Get("acct")->metadata.GetString("refresh_token").value_or(""); }
  ar::SharedStateStats Stats() { return *m().SharedStats(); }
};

}  // namespace

TEST_CASE("fleet refresh: three replicas refreshing one credential at once make one refresher call and all adopt its tokens") {
  RedisServer server;
  const bool share_tokens = GENERATE(true, false);
  INFO((share_tokens ? "adopted from redis" : "adopted from the shared store"));
  auto refresher = std::make_shared<FleetRefresher>();
  refresher->hold_first = true;
  // Without shared tokens the replicas share a Store (one auth directory on a shared volume).
  std::shared_ptr<MemoryStore> store = share_tokens ? nullptr : std::make_shared<MemoryStore>();
  RefreshReplica a(Redis(server.url()), refresher, share_tokens, store);
  RefreshReplica b(Redis(server.url()), refresher, share_tokens, store);
  RefreshReplica c(Redis(server.url()), refresher, share_tokens, store);
  for (RefreshReplica* r : {&a, &b, &c}) REQUIRE(Eventually([&] { return r->Stats().connected; }));

  std::vector<absl::StatusOr<std::shared_ptr<const ar::Credential>>> results(3, absl::UnknownError(""));
  std::vector<std::thread> threads;
  int i = 0;
  for (RefreshReplica* r : {&a, &b, &c}) {
    threads.emplace_back([r, &results, k = i++] { results[k] = r->m().Refresh("acct"); });
  }
  refresher->WaitCalls(1);  // one replica holds the lock and calls the upstream
  REQUIRE(Eventually([&] { return a.Stats().refresh_waits + b.Stats().refresh_waits + c.Stats().refresh_waits == 2; }));
  refresher->Release();
  for (std::thread& t : threads) t.join();
  for (auto& r : results) {
    REQUIRE(r.ok());
    CHECK((*r)->metadata.GetString("access_token") == "access-1");
  }
  CHECK(refresher->calls() == 1);
  for (RefreshReplica* r : {&a, &b, &c}) {
    CHECK(r->Access() == "access-1");
    CHECK(r->RefreshToken() == "refresh-1");
  }
  CHECK(a.Stats().refresh_locks + b.Stats().refresh_locks + c.Stats().refresh_locks >= 1);

  // The next refresh, on any replica, uses the rotated refresh token, never the old one.
  {
    auto next = b.m().Refresh("acct");
    INFO(next.status().ToString());
    REQUIRE(next.ok());
  }
  CHECK(refresher->seen() == std::vector<std::string>{"refresh-0", "refresh-1"});
  REQUIRE(Eventually([&] {
    absl::StatusOr<std::shared_ptr<const ar::Credential>> r = c.m().Refresh("acct");
    return r.ok() && c.Access() == "access-2";
  }));
  CHECK(refresher->calls() == 2);  // c adopted b's
}

TEST_CASE("fleet refresh: a replica dead while holding the lock blocks refreshes only until the lock expires, and its late write is fenced off") {
  RedisServer server;
  auto refresher = std::make_shared<FleetRefresher>();
  refresher->hold_first = true;
  RefreshReplica a(Redis(server.url()), refresher, true), b(Redis(server.url()), refresher, true);
  for (RefreshReplica* r : {&a, &b}) REQUIRE(Eventually([&] { return r->Stats().connected; }));

  // a takes the lock and hangs in its refresher (as good as dead to the fleet).
  absl::StatusOr<std::shared_ptr<const ar::Credential>> on_a = absl::UnknownError("");
  std::thread hung([&] { on_a = a.m().Refresh("acct"); });
  refresher->WaitCalls(1);

  // b waits for a's tokens until a's lock expires on b's clock (one minute), then refreshes.
  absl::StatusOr<std::shared_ptr<const ar::Credential>> on_b = absl::UnknownError("");
  std::thread waiting([&] { on_b = b.m().Refresh("acct"); });
  REQUIRE(Eventually([&] { return b.Stats().refresh_waits == 1; }));
  CHECK(refresher->calls() == 1);
  b.f->clock.Advance(absl::Seconds(61));
  waiting.join();
  REQUIRE(on_b.ok());
  CHECK(refresher->calls() == 2);
  CHECK(b.Access() == "access-2");

  // a wakes up with tokens of its own: fenced off, they are dropped, and a adopts b's.
  refresher->Release();
  hung.join();
  REQUIRE(!on_a.ok());
  CHECK(absl::IsAborted(on_a.status()));
  CHECK(std::string(on_a.status().message()).find("fenced") != std::string::npos);
  CHECK(a.Stats().refresh_fenced == 1);
  CHECK(a.Access() == "access-0");  // nothing of its own written
  REQUIRE(Eventually([&] { return a.m().Refresh("acct").ok() && a.Access() == "access-2"; }));
  CHECK(a.RefreshToken() == "refresh-2");
  CHECK(refresher->calls() == 2);
}

TEST_CASE("fleet refresh: without an answer from redis a valid token waits and an expiring one is refreshed alone") {
  auto refresher = std::make_shared<FleetRefresher>();
  RefreshReplica a(Redis("unix:///nonexistent/authrouter-fleet.sock"), refresher, false);
  // The token expires at 01:00; the manual clock starts at 00:00.
  absl::StatusOr<std::shared_ptr<const ar::Credential>> r = a.m().Refresh("acct");
  REQUIRE(!r.ok());
  CHECK(absl::IsUnavailable(r.status()));
  CHECK(std::string(r.status().message()).find("waits") != std::string::npos);
  CHECK(refresher->calls() == 0);
  a.f->clock.Advance(absl::Minutes(59) + absl::Seconds(30));
  r = a.m().Refresh("acct");
  REQUIRE(r.ok());
  CHECK(refresher->calls() == 1);
  CHECK(a.Access() == "access-1");
}

TEST_CASE("fleet refresh: bad data in redis is rejected, never a crash") {
  RedisServer server;
  auto refresher = std::make_shared<FleetRefresher>();
  RefreshReplica a(Redis(server.url()), refresher, true);
  REQUIRE(Eventually([&] { return a.Stats().connected; }));
  server.Command({"SET", "fleet:refresh:acct", "garbage"});
  absl::StatusOr<std::shared_ptr<const ar::Credential>> r = a.m().Refresh("acct");
  CHECK(!r.ok());
  CHECK(a.Stats().rejected >= 1);
  CHECK(a.Access() == "access-0");
  server.Command({"SET", "fleet:lease:2:c1", "garbage"});
  LeaseReplica l(Redis(server.url()), 1);
  REQUIRE(Eventually([&] { return l.Connected(); }));
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<ar::PickResult> p = l.m().Pick("claude", "m");
    CHECK(p.ok());  // the broken lease set does not fail picks: the local place holds
  }
}

TEST_CASE("fleet refresh: the shared token form round-trips and rejects garbage") {
  ar::TokenUpdate u;
  u.access_token = "a\"b";
  u.refresh_token = "r";
  u.expires_at = absl::FromUnixSeconds(1'800'000'000);
  u.token_type = "Bearer";
  absl::StatusOr<ar::TokenUpdate> back = ar::TokenUpdateFromJson(ar::TokenUpdateToJson(u), absl::UnixEpoch());
  REQUIRE(back.ok());
  CHECK(back->access_token == u.access_token);
  CHECK(back->refresh_token == u.refresh_token);
  CHECK(back->expires_at == u.expires_at);
  CHECK(back->token_type == u.token_type);
  CHECK(!back->id_token);
  for (std::string_view bad : {"", "[]", "{}", R"({"access_token":""})", R"({"access_token":1})", "\xff"}) {
    CHECK(!ar::TokenUpdateFromJson(bad, absl::UnixEpoch()).ok());
  }
  absl::StatusOr<ar::TokenUpdate> rel = ar::TokenUpdateFromJson(R"({"access_token":"x","expires_in":60})",
                                                                absl::FromUnixSeconds(100));
  REQUIRE(rel.ok());
  CHECK(rel->expires_at == absl::FromUnixSeconds(160));
}

TEST_CASE("fleet leases and refresh: the config keys") {
  auto c = ar::ParseConfig(R"({"leases": {"max-in-flight": 4, "fleet": "share", "fleet-replicas": 2},
      "shared-state": {"refresh-lock-timeout": "2m", "share-tokens": true}})");
  REQUIRE(c.ok());
  CHECK(c->leases.fleet == ar::FleetLeases::kShare);
  CHECK(c->leases.fleet_replicas == 2);
  CHECK(c->shared_refresh_lock_timeout == absl::Minutes(2));
  CHECK(c->shared_tokens);
  CHECK(c->warnings.empty());
  CHECK(ar::ParseConfig(R"({"leases": {"fleet": "local"}})")->leases.fleet == ar::FleetLeases::kLocal);
  CHECK(ar::ParseConfig("{}")->leases.fleet == ar::FleetLeases::kExact);
  for (const char* bad : {R"({"leases": {"fleet": "exactly"}})", R"({"leases": {"fleet": 1}})",
                          R"({"leases": {"fleet-replicas": 0}})", R"({"leases": {"fleet-replicas": 1001}})",
                          R"({"shared-state": {"refresh-lock-timeout": "500ms"}})",
                          R"({"shared-state": {"refresh-lock-timeout": "11m"}})",
                          R"({"shared-state": {"share-tokens": "yes"}})"}) {
    auto r = ar::ParseConfig(bad);
    INFO(bad);
    CHECK_FALSE(r.ok());
  }
  // The lock must outlast a refresh call.
  ar::ManagerOptions o;
  o.shared_state = Redis("unix:///nonexistent/authrouter-fleet.sock");
  o.refresh.timeout = absl::Minutes(2);
  auto m = ar::Manager::Create(o);
  REQUIRE_FALSE(m.ok());
  CHECK(std::string(m.status().message()).find("shared_refresh_lock_timeout") != std::string::npos);
  o.shared_refresh_lock_timeout = absl::Minutes(3);
  CHECK(ar::Manager::Create(o).ok());
  o.shared_refresh_lock_timeout = absl::Milliseconds(10);
  CHECK_FALSE(ar::Manager::Create(o).ok());
}

TEST_CASE("shared state: the shared form of a state with nanosecond times round-trips byte for byte") {
  // A replica recognises its own notices by their shared form: it must survive the trip.
  ar::ModelState s;
  s.status = ar::CredentialStatus::kError;
  s.status_message = "rate limited \xc3\xa9";
  s.unavailable = true;
  s.next_retry_after = absl::FromUnixNanos(1'776'384'000'123'456'789);
  s.updated_at = absl::FromUnixNanos(1'776'380'400'000'000'001);
  s.last_error = ar::ErrorRecord{"", "slow down", true, 429};
  s.quota.exceeded = true;
  s.quota.next_recover_at = s.next_retry_after;
  s.quota.backoff_level = 3;
  s.failure_streak = 2;
  const std::string json = ar::SharedHealthToJson(s);
  absl::StatusOr<ar::ModelState> back = ar::SharedHealthFromJson(json);
  REQUIRE(back.ok());
  CHECK(*back == s);
  CHECK(ar::SharedHealthToJson(*back) == json);
  CHECK(ar::SharedHealthToJson(ar::ModelState{}) == ar::SharedHealthToJson(*ar::SharedHealthFromJson(ar::SharedHealthToJson(ar::ModelState{}))));
}
