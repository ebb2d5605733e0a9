// Several replicas, one routing state (shared_state.h): three Managers sharing a real
// redis-server that each test starts on a unix socket (once on a loopback TCP port) and stops.
// Waiting is for notices from the server, bounded; cooldown time runs on manual clocks.
#include <catch2/catch.hpp>

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include "authrouter/config.h"
#include "authrouter/manager.h"
#include "authrouter/shared_state.h"
#include "redis_server.h"
#include "support/fake_refresher.h"
#include "support/manager_fixture.h"

namespace ar = authrouter;
using authrouter::testing::ManagerFixture;
using authrouter_test::Eventually;
using authrouter_test::RedisServer;

namespace {

struct Replica {
  std::shared_ptr<ar::SharedState> shared;
  std::unique_ptr<ManagerFixture> f;

  Replica(const std::string& url, bool affinity = false, const std::string& prefix = "t:", bool pool = true) {
    ar::RedisOptions ro;
    ro.url = url;
    ro.prefix = prefix;
    ro.min_backoff = absl::Milliseconds(5);
    ro.max_backoff = absl::Milliseconds(50);
    shared = *ar::NewRedisSharedState(ro);
    ar::ManagerOptions o;
    o.shared_state = shared;
    o.shared_lookup_timeout = absl::Milliseconds(500);
    o.session_affinity = affinity;
    o.session_placement = ar::SessionPlacement::kStrategy;
    f = std::make_unique<ManagerFixture>(std::move(o));
    if (pool) {
      for (const char* id : {"c1", "c2", "c3"}) f->Add({.id = id});
    }
  }
  ar::Manager& m() { return *f->manager; }
  bool Connected() { return m().SharedStats()->connected; }
  bool Cooling(std::string_view id, std::string_view model = "m") {
    auto c = m().Get(id);
    auto it = c->model_states.find(model);
    return it != c->model_states.end() && it->second.unavailable;
  }
};

ar::Result Failure(std::string_view id, int status, absl::Duration retry_after) {
  ar::Result r;
  r.credential_id = id;
  r.model = "m";
  r.http_status = status;
  r.retry_after = retry_after;
  return r;
}

ar::Result Success(std::string_view id) {
  ar::Result r;
  r.credential_id = id;
  r.model = "m";
  r.success = true;
  r.http_status = 200;
  return r;
}

void ConnectAll(std::vector<Replica*> replicas) {
  for (Replica* r : replicas) REQUIRE(Eventually([&] { return r->Connected(); }));
}

}  // namespace

TEST_CASE("shared state: a 429 on one replica makes the credential skip on the others, a success clears it everywhere") {
  RedisServer server;
  Replica a(server.url()), b(server.url()), c(server.url());
  ConnectAll({&a, &b, &c});

  REQUIRE(a.m().MarkResult(Failure("c1", 429, absl::Minutes(30))).ok());
  REQUIRE(a.Cooling("c1"));
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(Eventually([&] { return b.Cooling("c1") && c.Cooling("c1"); }));
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took < std::chrono::milliseconds(100) * authrouter_test::kSlowdown);
  for (int i = 0; i < 12; ++i) {
    CHECK(b.f->PickId("claude") != "c1");
    CHECK(c.f->PickId("claude") != "c1");
  }
  // The next retry time is the same instant everywhere (the state travels, not the result).
  CHECK(b.m().Get("c1")->model_states.at("m").next_retry_after ==
        a.m().Get("c1")->model_states.at("m").next_retry_after);
  CHECK(b.m().Get("c1")->model_states.at("m").last_error->http_status == 429);

  // A success (the probe's) on another replica clears it everywhere.
  REQUIRE(c.m().MarkResult(Success("c1")).ok());
  REQUIRE(Eventually([&] { return !a.Cooling("c1") && !b.Cooling("c1"); }));
  CHECK(a.m().Get("c1")->model_states.count("m") == 0);
  CHECK(b.m().SharedStats()->received >= 2);
  // ResetCooldowns travels too.
  REQUIRE(b.m().MarkResult(Failure("c2", 429, absl::Minutes(5))).ok());
  REQUIRE(Eventually([&] { return a.Cooling("c2") && c.Cooling("c2"); }));
  REQUIRE(a.m().ResetCooldowns("c2", "").ok());
  REQUIRE(Eventually([&] { return !b.Cooling("c2") && !c.Cooling("c2"); }));
}

TEST_CASE("shared state: a conversation bound on one replica is honoured by the other two") {
  RedisServer server;
  Replica a(server.url(), true), b(server.url(), true), c(server.url(), true);
  ConnectAll({&a, &b, &c});
  int agreed = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string session = "0b0e0d6f-7d5e-4e3a-9c1f-00000000" + std::to_string(1000 + i);
    const ar::HttpHeader headers[] = {{"X-Claude-Code-Session-Id", session}};
    const std::string_view providers[] = {"claude"};
    ar::PickRequest req;
    req.providers = providers;
    req.model = "m";
    req.headers = headers;
    auto first = a.m().Pick(req);
    REQUIRE(first.ok());
    // The others' rotations are put out of step, so only the shared binding can make them agree.
    for (int k = 0; k <= i % 3; ++k) (void)b.m().Pick("claude", "m");
    (void)c.m().Pick("claude", "m");
    // The binding is written asynchronously: the first pick elsewhere may come before it lands.
    REQUIRE(Eventually([&] { return a.m().SharedStats()->published >= static_cast<uint64_t>(i + 1); }));
    auto on_b = b.m().Pick(req);
    auto on_c = c.m().Pick(req);
    REQUIRE(on_b.ok());
    REQUIRE(on_c.ok());
    agreed += on_b->credential->id == first->credential->id && on_c->credential->id == first->credential->id;
  }
  CHECK(agreed == 20);
  CHECK(b.m().SharedStats()->lookup_hits == 20);
}

TEST_CASE("shared state: disabling a credential on one replica disables it on the others") {
  RedisServer server;
  Replica a(server.url()), b(server.url());
  ConnectAll({&a, &b});
  REQUIRE(a.m().SetDisabled("c2", true).ok());
  REQUIRE(Eventually([&] { return b.m().Get("c2")->disabled; }));
  for (int i = 0; i < 6; ++i) CHECK(b.f->PickId("claude") != "c2");
  REQUIRE(b.m().SetDisabled("c2", false).ok());
  REQUIRE(Eventually([&] { return !a.m().Get("c2")->disabled; }));
}

TEST_CASE("shared state: a replica that starts later adopts the cooldowns already shared") {
  RedisServer server;
  Replica a(server.url());
  ConnectAll({&a});
  REQUIRE(a.m().MarkResult(Failure("c3", 429, absl::Hours(1))).ok());
  REQUIRE(Eventually([&] { return a.m().SharedStats()->published >= 2; }));  // model + record
  Replica late(server.url());
  ConnectAll({&late});
  REQUIRE(Eventually([&] { return late.Cooling("c3"); }));
}

TEST_CASE("shared state: after a flush or a kill -9 and restart of redis the replicas publish their state again") {
  RedisServer server;
  Replica a(server.url()), b(server.url());
  ConnectAll({&a, &b});
  REQUIRE(a.m().MarkResult(Failure("c1", 429, absl::Hours(1))).ok());
  REQUIRE(Eventually([&] { return b.Cooling("c1"); }));

  SECTION("flushed") {
    REQUIRE(server.Command({"FLUSHALL"}) == "OK");
    // The marker check (once a second) notices and resyncs: the cooldown is back in redis.
    REQUIRE(Eventually([&] { return server.Command({"HEXISTS", "t:health:c1", "m"}) == "1"; }));
  }
  SECTION("killed and restarted under load") {
    // A picker runs on b throughout: no pick fails and none takes the cooling credential.
    std::atomic<bool> stop{false};
    std::atomic<int> picks{0}, failed{0}, cooled{0};
    std::thread picker([&] {
      while (!stop.load()) {
        auto pick = b.m().Pick("claude", "m");
        if (!pick.ok()) {
          failed.fetch_add(1);
        } else if (pick->credential->id == "c1") {
          cooled.fetch_add(1);
        }
        picks.fetch_add(1);
      }
    });
    server.Kill(SIGKILL);
    for (int i = 0; i < 30; ++i) CHECK(a.f->PickId("claude") != "c1");
    REQUIRE(Eventually([&] { return !a.Connected() && !b.Connected(); }));
    server.Start();
    REQUIRE(Eventually([&] { return a.Connected() && b.Connected(); }));
    REQUIRE(Eventually([&] { return server.Command({"HEXISTS", "t:health:c1", "m"}) == "1"; }));
    stop.store(true);
    picker.join();
    CHECK(picks.load() > 0);
    CHECK(failed.load() == 0);
    CHECK(cooled.load() == 0);
    CHECK(a.m().SharedStats()->reconnects >= 1);
  }
  CHECK(a.Cooling("c1"));
  CHECK(b.Cooling("c1"));
  // A replica started now learns it from redis.
  Replica late(server.url());
  ConnectAll({&late});
  REQUIRE(Eventually([&] { return late.Cooling("c1"); }));
}

TEST_CASE("shared state: a stopped redis (SIGSTOP) never holds a pick longer than the lookup timeout") {
  RedisServer server;
  Replica a(server.url(), true);
  ConnectAll({&a});
  server.Stop();
  const std::string_view providers[] = {"claude"};
  for (int i = 0; i < 3; ++i) {
    const std::string session = "5a1f7c7e-0000-4000-8000-00000000000" + std::to_string(i);
    const ar::HttpHeader headers[] = {{"X-Claude-Code-Session-Id", session}};
    ar::PickRequest req;
    req.providers = providers;
    req.model = "m";
    req.headers = headers;
    const auto start = std::chrono::steady_clock::now();
    auto pick = a.m().Pick(req);
    const auto took = std::chrono::steady_clock::now() - start;
    REQUIRE(pick.ok());
    // The replica's 500 ms lookup timeout, with room for a loaded machine.
    CHECK(took < std::chrono::milliseconds(500) + std::chrono::milliseconds(250) * authrouter_test::kSlowdown);
  }
  // Results keep working too (publishes queue).
  REQUIRE(a.m().MarkResult(Failure("c2", 429, absl::Minutes(1))).ok());
  server.Continue();
  REQUIRE(Eventually([&] { return server.Command({"HEXISTS", "t:health:c2", "m"}) == "1"; }, std::chrono::milliseconds(10000)));
}

TEST_CASE("shared state: bad data in redis is rejected and counted, never applied") {
  RedisServer server;
  Replica a(server.url()), b(server.url());
  ConnectAll({&a, &b});
  const auto rejected = [&] { return b.m().SharedStats()->rejected; };
  // Garbage notices on the channel.
  for (const char* notice : {"not json", "[1,2]", R"({"k":"h","o":"x","id":"c1"})",
                             R"({"k":"h","o":"x","id":"c1","m":"m","s":{"state":{"status":"sideways"}}})",
                             R"({"k":"h","o":"x","id":"c1","m":"m","s":{"state":{"next_retry_after":"yesterday"}}})",
                             R"({"k":"q","o":"x","id":"c1"})"}) {
    server.Command({"PUBLISH", "t:events", notice});
  }
  REQUIRE(Eventually([&] { return rejected() >= 6; }));
  CHECK_FALSE(b.Cooling("c1"));
  // Wrong types and garbage values under the keys, found by a resync (a late replica).
  server.Command({"SET", "t:health:c2", "a string, not a hash"});
  server.Command({"HSET", "t:health:c3", "m", "{\"state\":42}"});
  server.Command({"SET", "t:disabled:c1", "maybe"});
  server.Command({"SET", "t:session:x", ""});
  Replica late(server.url());
  ConnectAll({&late});
  REQUIRE(Eventually([&] { return late.m().SharedStats()->rejected >= 3; }));
  CHECK_FALSE(late.m().Get("c1")->disabled);
  CHECK(late.m().Get("c3")->model_states.empty());
  CHECK(late.f->PickId("claude") != "<auth_not_found>");
}

TEST_CASE("shared state: over a loopback TCP port") {
  RedisServer server(/*tcp=*/true);
  Replica a(server.url()), b(server.url());
  ConnectAll({&a, &b});
  REQUIRE(a.m().MarkResult(Failure("c1", 429, absl::Minutes(30))).ok());
  REQUIRE(Eventually([&] { return b.Cooling("c1"); }));
}

TEST_CASE("shared state: deployments with different prefixes do not see each other") {
  RedisServer server;
  Replica a(server.url(), false, "one:"), b(server.url(), false, "two:"), a2(server.url(), false, "one:");
  ConnectAll({&a, &b, &a2});
  REQUIRE(a.m().MarkResult(Failure("c1", 429, absl::Minutes(30))).ok());
  REQUIRE(Eventually([&] { return a2.Cooling("c1"); }));
  CHECK_FALSE(b.Cooling("c1"));
  CHECK(server.Command({"EXISTS", "two:health:c1"}) == "0");
}

TEST_CASE("shared state: redis options are validated, the password never quoted") {
  ar::RedisOptions o;
  CHECK_FALSE(ar::NewRedisSharedState(o).ok());  // no url
  o.url = "http://example.com";
  CHECK_FALSE(ar::NewRedisSharedState(o).ok());
  o.url = "redis://user:s3cr%zzet@localhost:6379/0";
  auto bad = ar::NewRedisSharedState(o);
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()).find("s3cr") == std::string::npos);
  o.url = "redis://localhost:99999";
  CHECK_FALSE(ar::NewRedisSharedState(o).ok());
  o.url = "redis://localhost/1001";
  CHECK_FALSE(ar::NewRedisSharedState(o).ok());
  o.url = "unix://relative.sock";
  CHECK_FALSE(ar::NewRedisSharedState(o).ok());
  o.url = "unix:///tmp/x.sock?db=3";
  o.timeout = absl::ZeroDuration();
  CHECK_FALSE(ar::NewRedisSharedState(o).ok());
  o.timeout = absl::Milliseconds(100);
  o.min_backoff = absl::Seconds(10);
  o.max_backoff = absl::Seconds(1);
  CHECK_FALSE(ar::NewRedisSharedState(o).ok());
  o.min_backoff = absl::Milliseconds(10);
  o.prefix = std::string(200, 'p');
  CHECK_FALSE(ar::NewRedisSharedState(o).ok());
  o.prefix = "ok:";
  CHECK(ar::NewRedisSharedState(o).ok());  // nothing listens there: it starts degraded
  ar::ManagerOptions mo;
  mo.shared_lookup_timeout = absl::Seconds(2);
  CHECK_FALSE(ar::Manager::Create(mo).ok());
}

TEST_CASE("shared state: the shared form of a model state round-trips and rejects garbage") {
  ar::ModelState s;
  s.status = ar::CredentialStatus::kError;
  s.unavailable = true;
  s.next_retry_after = absl::FromUnixSeconds(1776384000) + absl::Milliseconds(1500);
  s.last_error = ar::ErrorRecord{"rate_limited", "slow down", true, 429};
  s.quota = ar::QuotaState{true, "quota", absl::FromUnixSeconds(1776387600), 2};
  s.updated_at = absl::FromUnixSeconds(1776384000);
  s.failure_streak = 3;
  auto back = ar::SharedHealthFromJson(ar::SharedHealthToJson(s));
  REQUIRE(back.ok());
  CHECK(*back == s);
  CHECK_FALSE(ar::SharedHealthFromJson("").ok());
  CHECK_FALSE(ar::SharedHealthFromJson("{}").ok());
  CHECK_FALSE(ar::SharedHealthFromJson(R"({"state":{},"failure_streak":-1})").ok());
  CHECK_FALSE(ar::SharedHealthFromJson(R"({"state":{"status_message":"\xff"}})").ok());
  CHECK_FALSE(ar::SharedHealthFromJson(std::string(70000, ' ')).ok());
}

TEST_CASE("shared state: the config's shared-state section") {
  auto c = ar::ParseConfig(R"({"shared-state": {"lookup-timeout": "5ms", "redis": {
      "url": "redis://gw:pw@10.0.0.5:6380/2", "prefix": "eu:", "timeout": "50ms", "health-ttl": "24h",
      "typo": 1}}})");
  REQUIRE(c.ok());
  REQUIRE(c->redis.has_value());
  CHECK(c->redis->url == "redis://gw:pw@10.0.0.5:6380/2");
  CHECK(c->redis->prefix == "eu:");
  CHECK(c->redis->timeout == absl::Milliseconds(50));
  CHECK(c->redis->health_ttl == absl::Hours(24));
  CHECK(c->shared_lookup_timeout == absl::Milliseconds(5));
  CHECK(c->warnings == std::vector<std::string>{"shared-state.redis.typo"});
  for (const char* bad : {R"({"shared-state": {"redis": {"password": "hunter2"}}})",
                          R"({"shared-state": {"redis": {"url": "redis://u:hunter2@h:0"}}})",
                          R"({"shared-state": {"redis": {"url": "redis://h", "timeout": "2m"}}})",
                          R"({"shared-state": {"lookup-timeout": "2s"}})",
                          R"({"shared-state": {"redis": "redis://h"}})"}) {
    auto r = ar::ParseConfig(bad);
    CHECK_FALSE(r.ok());
    CHECK(std::string(r.status().message()).find("hunter2") == std::string::npos);
    CHECK(std::string(r.status().message()).find("shared-state") != std::string::npos);
  }
  // A reload reports the section and changes nothing: the Manager keeps its shared state.
  ManagerFixture f;
  ar::Config before = *ar::ParseConfig("{}");
  auto changed = ar::ApplyConfig(*f.manager, before, *c);
  REQUIRE(changed.ok());
  CHECK(*changed == std::vector<std::string>{"shared-state"});
  CHECK_FALSE(f.manager->SharedStats().has_value());
}

namespace {

// Driver is a replica in another process (tests/shared_driver.cpp), spoken to over pipes.
class Driver {
 public:
  Driver(const std::string& url, const std::string& prefix) {
    int to[2], from[2];
    REQUIRE(pipe(to) == 0);
    REQUIRE(pipe(from) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      dup2(to[0], STDIN_FILENO);
      dup2(from[1], STDOUT_FILENO);
      close(to[1]);
      close(from[0]);
      execl(AUTHROUTER_SHARED_DRIVER, AUTHROUTER_SHARED_DRIVER, url.c_str(), prefix.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    close(to[0]);
    close(from[1]);
    in_ = fdopen(to[1], "w");
    out_ = fdopen(from[0], "r");
  }
  // Kill ends the process with SIGKILL (no goodbye: what holds a lock keeps holding it).
  void Kill() {
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    killed_ = true;
  }
  ~Driver() {
    if (killed_) {
      fclose(in_);
      fclose(out_);
      return;
    }
    fputs("quit\n", in_);
    fclose(in_);
    fclose(out_);
    int status = 0;
    waitpid(pid_, &status, 0);
  }
  std::string Ask(const std::string& command) {
    fputs((command + "\n").c_str(), in_);
    fflush(in_);
    char buf[256];
    if (fgets(buf, sizeof buf, out_) == nullptr) return "<gone>";
    std::string line(buf);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
    return line;
  }

 private:
  pid_t pid_ = -1;
  bool killed_ = false;
  FILE* in_ = nullptr;
  FILE* out_ = nullptr;
};

}  // namespace

TEST_CASE("shared state: replicas in three processes share a cooldown and a binding") {
  RedisServer server;
  Driver one(server.url(), "t:"), two(server.url(), "t:");
  Replica here(server.url(), true);
  REQUIRE(Eventually([&] { return one.Ask("connected") == "yes" && two.Ask("connected") == "yes"; }));
  ConnectAll({&here});

  REQUIRE(one.Ask("cool c1 1800") == "ok");
  REQUIRE(Eventually([&] { return two.Ask("state c1") == "cooling" && here.Cooling("c1"); },
                     std::chrono::milliseconds(2000)));
  for (int i = 0; i < 6; ++i) CHECK(two.Ask("pick") != "c1");
  here.m().MarkResult(Success("c1")).IgnoreError();
  REQUIRE(Eventually([&] { return one.Ask("state c1") == "ready" && two.Ask("state c1") == "ready"; }));

  // A conversation bound in process one is followed in process two and here.
  const long before = std::stol(one.Ask("published"));
  const std::string bound = one.Ask("pick conversation-7f3a");
  REQUIRE(bound.size() == 2);
  (void)two.Ask("pick");  // out of step with process one
  REQUIRE(Eventually([&] { return std::stol(one.Ask("published")) > before; }));
  CHECK(two.Ask("pick conversation-7f3a") == bound);
  const std::string_view providers[] = {"claude"};
  const ar::HttpHeader headers[] = {{"X-Session-ID", "conversation-7f3a"}};
  ar::PickRequest req;
  req.providers = providers;
  req.model = "m";
  req.headers = headers;
  (void)here.m().Pick("claude", "m");
  auto pick = here.m().Pick(req);
  REQUIRE(pick.ok());
  CHECK(pick->credential->id == bound);
}

TEST_CASE("shared state: two replicas changing one credential at once end with the state redis stored") {
  RedisServer server;
  Replica a(server.url()), b(server.url());
  ConnectAll({&a, &b});
  const auto stored_cooling = [&] {
    return server.Command({"HGET", "t:health:c1", "m"}).find("\"unavailable\":true") != std::string::npos;
  };
  for (int round = 0; round < 10; ++round) {
    REQUIRE(a.m().MarkResult(Failure("c1", 429, absl::Minutes(10))).ok());
    REQUIRE(Eventually([&] { return b.Cooling("c1") && stored_cooling(); }));
    const uint64_t pa = a.m().SharedStats()->published, pb = b.m().SharedStats()->published;
    std::atomic<int> ready{0};
    std::thread ta([&] {
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      a.m().MarkResult(Success("c1")).IgnoreError();
    });
    std::thread tb([&] {
      ready.fetch_add(1);
      while (ready.load() < 2) {
      }
      b.m().MarkResult(Failure("c1", 429, absl::Minutes(20))).IgnoreError();
    });
    ta.join();
    tb.join();
    // Both writes are in redis; the replicas agree with what it stored last.
    const bool agreed = Eventually([&] {
      return a.m().SharedStats()->published > pa && b.m().SharedStats()->published > pb &&
             a.Cooling("c1") == stored_cooling() && b.Cooling("c1") == stored_cooling();
    });
    INFO("round " << round << ": a " << a.Cooling("c1") << " b " << b.Cooling("c1") << " stored "
                  << server.Command({"HGET", "t:health:c1", "m"}) << " a published " << a.m().SharedStats()->published
                  << "/" << pa << " b published " << b.m().SharedStats()->published << "/" << pb << " a received "
                  << a.m().SharedStats()->received << " b received " << b.m().SharedStats()->received
                  << " b rejected " << b.m().SharedStats()->rejected << " b reconnects "
                  << b.m().SharedStats()->reconnects << " b resyncs " << b.m().SharedStats()->resyncs
                  << " b connected " << b.m().SharedStats()->connected);
    REQUIRE(agreed);
    // Back to healthy for the next round.
    REQUIRE(b.m().MarkResult(Success("c1")).ok());
    REQUIRE(Eventually([&] { return !a.Cooling("c1") && !b.Cooling("c1") && !stored_cooling(); }));
  }
}

TEST_CASE("shared state: a replica starting with a stale cooldown adopts the newer clear instead of bringing it back") {
  RedisServer server;
  Replica a(server.url()), b(server.url());
  ConnectAll({&a, &b});
  REQUIRE(a.m().MarkResult(Failure("c1", 429, absl::Minutes(10))).ok());
  REQUIRE(Eventually([&] { return b.Cooling("c1"); }));
  b.f->clock.Advance(absl::Minutes(1));
  REQUIRE(b.m().MarkResult(Success("c1")).ok());  // cleared: the tombstone keeps its time
  REQUIRE(Eventually([&] { return !a.Cooling("c1"); }));
  CHECK(server.Command({"HEXISTS", "t:health:c1", "m"}) == "1");

  // A replica restarting from a store that still holds the old cooldown.
  Replica late(server.url(), false, "t:", /*pool=*/false);
  ConnectAll({&late});
  ar::Credential stale = late.f->Make({.id = "c1"});
  ar::ModelState cooling;
  cooling.status = ar::CredentialStatus::kError;
  cooling.unavailable = true;
  cooling.next_retry_after = late.f->clock.Now() + absl::Minutes(10);
  cooling.updated_at = late.f->clock.Now() - absl::Seconds(1);  // before the clear
  stale.model_states["m"] = cooling;
  late.f->AddCredential(stale);
  CHECK_FALSE(late.Cooling("c1"));
  // Nothing was published back: the others stay clear.
  REQUIRE(Eventually([&] { return late.m().SharedStats()->resyncs >= 1; }));
  CHECK_FALSE(a.Cooling("c1"));
  CHECK_FALSE(b.Cooling("c1"));
  CHECK(server.Command({"HGET", "t:health:c1", "m"}).find("\"unavailable\":false") != std::string::npos);
}

TEST_CASE("shared state: a replica's own notices on their way never undo its newer changes") {
  // Each round cools c1 on a and clears it again at once, before a has heard its own notices:
  // those must not bring the cooldown back on a, and the clear must reach b every time.
  RedisServer server;
  Replica a(server.url()), b(server.url());
  ConnectAll({&a, &b});
  int undone = 0;
  for (int round = 0; round < 200; ++round) {
    REQUIRE(a.m().MarkResult(Failure("c1", 429, absl::Hours(1))).ok());
    REQUIRE(Eventually([&] { return b.Cooling("c1"); }));
    REQUIRE(a.m().MarkResult(Success("c1")).ok());
    for (int k = 0; k < 20; ++k) undone += a.Cooling("c1") ? 1 : 0;
    REQUIRE(Eventually([&] { return !b.Cooling("c1"); }));
  }
  CHECK(undone == 0);
  CHECK_FALSE(a.Cooling("c1"));
}

TEST_CASE("fleet refresh: a replica killed with SIGKILL while holding the refresh lock delays refreshes only until the lock expires") {
  RedisServer server;
  Driver holder(server.url(), "t:");
  REQUIRE(Eventually([&] { return holder.Ask("connected") == "yes"; }));
  REQUIRE(holder.Ask("hold-refresh") == "holding");  // in its refresher, holding the lock
  holder.Kill();

  auto refresher = std::make_shared<authrouter::testing::FakeRefresher>();
  ar::ManagerOptions o;
  ar::RedisOptions ro;
  ro.url = server.url();
  ro.prefix = "t:";
  o.shared_state = *ar::NewRedisSharedState(ro);
  o.refresh.refreshers["codex"] = refresher;
  ManagerFixture f(std::move(o));
  f.clock.Set(absl::Now());  // the dead holder's lock expires a minute after it took it, by its clock
  ar::Credential c = f.Make({.id = "acct", .provider = "codex"});
  c.metadata = *ar::Metadata::Parse(
      R"({"type":"codex","access_token":"access-0","refresh_token":"refresh-0","expired":"2026-04-17T01:00:00Z"})");
  f.AddCredential(std::move(c));
  REQUIRE(Eventually([&] { return f.manager->SharedStats()->connected; }));

  absl::StatusOr<std::shared_ptr<const ar::Credential>> refreshed = absl::UnknownError("");
  std::thread waiting([&] { refreshed = f.manager->Refresh("acct"); });
  REQUIRE(Eventually([&] { return f.manager->SharedStats()->refresh_waits == 1; }));
  CHECK(refresher->Calls().empty());  // the lock still holds
  f.clock.Advance(absl::Seconds(61));
  waiting.join();
  REQUIRE(refreshed.ok());
  CHECK(refresher->Calls() == std::vector<std::string>{"acct"});
  CHECK(f.manager->Get("acct")->metadata.GetString("access_token") == "fresh-acct");
  CHECK(server.Command({"HGET", "t:refresh:acct", "version"}) == "1");
  CHECK(server.Command({"HGET", "t:refresh:acct", "fence"}) == "2");
}
