// The configuration file: every key, valid and invalid, and hot reload on a live Manager.
#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>

#include "authrouter/config.h"
#include "support/manager_fixture.h"

namespace authrouter {
namespace {

Config Parse(const std::string& json) {
  ConfigParseOptions o;
  o.home = "/home/u";
  absl::StatusOr<Config> c = ParseConfig(json, o);
  INFO(json);
  REQUIRE(c.ok());
  return *c;
}

std::string Error(const std::string& json) {
  ConfigParseOptions o;
  o.home = "/home/u";
  absl::StatusOr<Config> c = ParseConfig(json, o);
  REQUIRE_FALSE(c.ok());
  CHECK(c.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(c.status().message());
}

TEST_CASE("Config: defaults", "[config]") {
  Config c = Parse("{}");
  CHECK(c.auth_dir == "/home/u/.cli-proxy-api");  // later fix E3
  CHECK(c.strategy == RoutingStrategy::kRoundRobin);
  CHECK_FALSE(c.session_affinity);
  CHECK(c.session_affinity_ttl == absl::Hours(1));
  CHECK(c.retry == RetrySettings{});
  CHECK_FALSE(c.disable_cooling);
  CHECK(c.transient_error_cooldown_seconds == 0);
  CHECK(c.refresh_workers == 16);
  CHECK(c.refresh_profiles.empty());
  CHECK(c.warnings.empty());
}

TEST_CASE("Config: every key, valid", "[config]") {
  Config c = Parse(R"({
    "auth-dir": "~/auth",
    "routing": {"strategy": "Fill-First", "session-affinity": true, "session-affinity-ttl": "30m"},
    "request-retry": 3, "max-retry-credentials": 2, "max-retry-interval": 30,
    "disable-cooling": true, "transient-error-cooldown-seconds": -1,
    "auth-auto-refresh-workers": 4,
    "refresh-profiles": {"Claude": {"token-url": "https://t.example/token", "client-id": "cid",
                                    "client-secret": "sec", "scope": "s", "encoding": "json"}}
  })");
  CHECK(c.auth_dir == "/home/u/auth");
  CHECK(c.strategy == RoutingStrategy::kFillFirst);
  CHECK(c.session_affinity);
  CHECK(c.session_affinity_ttl == absl::Minutes(30));
  CHECK(c.retry.request_retry == 3);
  CHECK(c.retry.max_retry_credentials == 2);
  CHECK(c.retry.max_retry_interval == absl::Seconds(30));
  CHECK(c.disable_cooling);
  CHECK(c.transient_error_cooldown_seconds == -1);
  CHECK(c.refresh_workers == 4);
  REQUIRE(c.refresh_profiles.count("claude") == 1);
  const OAuth2Profile& p = c.refresh_profiles.at("claude");
  CHECK(p.token_url == "https://t.example/token");
  CHECK(p.client_id == "cid");
  CHECK(p.client_secret == "sec");
  CHECK(p.scope == "s");
  CHECK(p.encoding == OAuth2Encoding::kJson);

  CHECK(Parse(R"({"routing":{"claude-code-session-affinity":true}})").session_affinity);  // alias
  CHECK(Parse(R"({"routing":{"strategy":"weighted-round-robin"}})").strategy ==
        RoutingStrategy::kWeightedRoundRobin);
  CHECK(Parse(R"({"request-retry":-2,"max-retry-credentials":-1})").retry == RetrySettings{});
  CHECK(Parse(R"({"auth-auto-refresh-workers":0})").refresh_workers == 16);
  CHECK(Parse(R"({"request-retry":3.0})").retry.request_retry == 3);
}

TEST_CASE("Config: unknown keys are reported, not fatal", "[config]") {
  Config c = Parse(R"({"routing":{"stratgey":"x"},"request-retries":1,"port":8317})");
  CHECK(c.warnings == std::vector<std::string>{"routing.stratgey", "request-retries", "port"});
}

TEST_CASE("Config: bad values are rejected with the key's path", "[config]") {
  struct Case {
    const char* json;
    const char* path;
  };
  const Case cases[] = {
      {R"({"routing":{"strategy":"random"}})", "routing.strategy"},
      {R"({"routing":{"strategy":1}})", "routing.strategy"},
      {R"({"routing":[]})", "routing"},
      {R"({"routing":{"session-affinity":"yes"}})", "routing.session-affinity"},
      {R"({"routing":{"claude-code-session-affinity":1}})", "routing.claude-code-session-affinity"},
      {R"({"routing":{"session-affinity-ttl":"soon"}})", "routing.session-affinity-ttl"},
      {R"({"routing":{"session-affinity-ttl":"-5m"}})", "routing.session-affinity-ttl"},
      {R"({"routing":{"session-affinity-ttl":"1000h"}})", "routing.session-affinity-ttl"},
      {R"({"request-retry":"3"})", "request-retry"},
      {R"({"request-retry":101})", "request-retry"},
      {R"({"request-retry":1.5})", "request-retry"},
      {R"({"max-retry-credentials":true})", "max-retry-credentials"},
      {R"({"max-retry-interval":-1})", "max-retry-interval"},
      {R"({"max-retry-interval":3601})", "max-retry-interval"},
      {R"({"max-retry-interval":18446744073709551615})", "max-retry-interval"},
      {R"({"disable-cooling":"false"})", "disable-cooling"},
      {R"({"transient-error-cooldown-seconds":99999999999})", "transient-error-cooldown-seconds"},
      {R"({"auth-auto-refresh-workers":2000})", "auth-auto-refresh-workers"},
      {R"({"auth-auto-refresh-workers":-1})", "auth-auto-refresh-workers"},
      {R"({"auth-dir":5})", "auth-dir"},
      {R"({"refresh-profiles":[]})", "refresh-profiles"},
      {R"({"refresh-profiles":{"claude":{"client-id":"x"}}})", "refresh-profiles.claude.token-url"},
      {R"({"refresh-profiles":{"claude":{"token-url":"ftp://x"}}})", "refresh-profiles.claude.token-url"},
      {R"({"refresh-profiles":{"claude":{"token-url":"https://x","encoding":"xml"}}})",
       "refresh-profiles.claude.encoding"},
      {R"({"refresh-profiles":{"claude":{"token-url":"https://x","colour":"red"}}})",
       "refresh-profiles.claude.colour"},
      {R"({"refresh-profiles":{"claude":{"token-url":"https://x","client-secret":7}}})",
       "refresh-profiles.claude.client-secret"},
  };
  for (const Case& c : cases) {
    INFO(c.json);
    CHECK(Error(c.json).starts_with(std::string(c.path) + ":"));
  }
  CHECK(Error(R"({"request-retry":1,"request-retry":2})").starts_with("request-retry: appears twice"));
  CHECK(Error(R"({"routing":{"strategy":"fill-first","strategy":"round-robin"}})")
            .starts_with("routing.strategy: appears twice"));
  CHECK(Error(R"({"refresh-profiles":{"claude":{"token-url":"https://a"},"Claude":{"token-url":"https://b"}}})")
            .starts_with("refresh-profiles.Claude: names a provider twice"));
  CHECK(Error("not json").starts_with("config: not a JSON object"));
  CHECK(Error("[1]").starts_with("config: not a JSON object"));
  CHECK(Error(R"({"a":)").starts_with("config:"));
  // A secret value never appears in an error.
  CHECK(Error(R"({"refresh-profiles":{"claude":{"client-secret":"hunter2"}}})").find("hunter2") ==
        std::string::npos);
  CHECK(Error(R"({"refresh-profiles":{"claude":{"token-url":"https://x","client-secret":"hunter2",)"
              R"("scope":["hunter2"]}}})")
            .find("hunter2") == std::string::npos);
  CHECK(Error(R"({"request-retry":1e300})").starts_with("request-retry:"));
}

TEST_CASE("Config: ApplyToOptions and ApplyConfig apply what changed", "[config]") {
  Config base = Parse(R"({"routing":{"session-affinity":true},"request-retry":1})");
  ManagerOptions mo;
  REQUIRE(ApplyToOptions(base, mo).ok());
  CHECK(mo.session_affinity);
  CHECK(mo.request_retry == 1);
  testing::ManagerFixture f(mo);
  f.Add({.id = "a"});
  f.Add({.id = "b"});

  SECTION("nothing changed: nothing applied") {
    auto changed = ApplyConfig(*f.manager, base, base);
    REQUIRE(changed.ok());
    CHECK(changed->empty());
  }
  SECTION("each key") {
    Config next = Parse(R"({"routing":{"strategy":"fill-first","session-affinity":true,
      "session-affinity-ttl":"2h"},"request-retry":2,"max-retry-credentials":1,
      "max-retry-interval":5,"disable-cooling":true,"transient-error-cooldown-seconds":7,
      "auth-auto-refresh-workers":3,
      "refresh-profiles":{"claude":{"token-url":"http://127.0.0.1:1/t"}}})");
    auto changed = ApplyConfig(*f.manager, base, next);
    REQUIRE(changed.ok());
    CHECK(*changed == std::vector<std::string>{
                          "routing.strategy", "routing.session-affinity-ttl", "request-retry",
                          "max-retry-credentials", "max-retry-interval", "disable-cooling",
                          "transient-error-cooldown-seconds", "auth-auto-refresh-workers",
                          "refresh-profiles"});
    CHECK(f.manager->strategy() == RoutingStrategy::kFillFirst);
    CHECK(f.manager->GetRetrySettings() ==
          RetrySettings{2, 1, absl::Seconds(5)});
    RefreshOptions r = f.manager->GetRefreshOptions();
    CHECK(r.workers == 3);
    CHECK(r.refreshers.count("claude") == 1);
    // Dropping the profile drops its refresher.
    auto back = ApplyConfig(*f.manager, next, base);
    REQUIRE(back.ok());
    CHECK(f.manager->GetRefreshOptions().refreshers.empty());
    CHECK(f.manager->strategy() == RoutingStrategy::kRoundRobin);
  }
  SECTION("cooling switches apply to new results only; existing cooldowns stay") {
    Result r;
    r.credential_id = "a";
    r.model = "m";
    r.http_status = 500;
    REQUIRE(f.manager->MarkResult(r).ok());
    Config off = base;
    off.disable_cooling = true;
    REQUIRE(ApplyConfig(*f.manager, base, off).ok());
    CHECK(f.manager->Get("a")->model_states.at("m").next_retry_after > f.clock.Now());  // kept
    r.credential_id = "b";
    REQUIRE(f.manager->MarkResult(r).ok());
    CHECK(IsZeroTime(f.manager->Get("b")->model_states.at("m").next_retry_after));  // not cooled
    CHECK(f.PickIds("claude", 2) == std::vector<std::string>{"b", "b"});
  }
  SECTION("retry settings never touch a cooldown") {
    Result r;
    r.credential_id = "a";
    r.model = "m";
    r.http_status = 429;
    REQUIRE(f.manager->MarkResult(r).ok());
    const ModelState before = f.manager->Get("a")->model_states.at("m");
    Config next = base;
    next.retry.request_retry = 5;
    REQUIRE(ApplyConfig(*f.manager, base, next).ok());
    CHECK(f.manager->Get("a")->model_states.at("m") == before);
  }
  SECTION("affinity: TTL change keeps bindings; turning it off drops them") {
    const std::string_view provider = "claude";
    const HttpHeader header{"X-Session-ID", "s1"};
    PickRequest req;
    req.providers = {&provider, 1};
    req.model = "m";
    req.headers = {&header, 1};
    const std::string first = f.PickId(req);
    Config ttl = base;
    ttl.session_affinity_ttl = absl::Hours(3);
    REQUIRE(ApplyConfig(*f.manager, base, ttl).ok());
    for (int i = 0; i < 4; ++i) CHECK(f.PickId(req) == first);
    Config off = ttl;
    off.session_affinity = false;
    REQUIRE(ApplyConfig(*f.manager, ttl, off).ok());
    std::set<std::string> seen;
    for (int i = 0; i < 4; ++i) seen.insert(f.PickId(req));
    CHECK(seen.size() == 2);  // plain rotation again
  }
}

TEST_CASE("Config: reloads during live picks (TSan)", "[config][stress]") {
  Config a = Parse(R"({"routing":{"strategy":"round-robin","session-affinity":true}})");
  Config b = Parse(R"({"routing":{"strategy":"fill-first","session-affinity":true,
    "session-affinity-ttl":"5m"},"request-retry":2,"disable-cooling":true})");
  Config c = Parse(R"({"routing":{"strategy":"weighted-round-robin"},"max-retry-interval":3})");
  ManagerOptions mo;
  REQUIRE(ApplyToOptions(a, mo).ok());
  testing::ManagerFixture f(mo);
  for (int i = 0; i < 8; ++i) f.Add({.id = testing::Name("c", i)});
  std::atomic<bool> done{false};
  std::atomic<int> picks{0}, failures{0};
  std::vector<std::thread> pickers;
  for (int t = 0; t < 2; ++t) {
    pickers.emplace_back([&, t] {
      const std::string_view provider = "claude";
      const std::string session = "s" + std::to_string(t);
      const HttpHeader header{"X-Session-ID", session};
      PickRequest req;
      req.providers = {&provider, 1};
      req.model = "m";
      req.headers = {&header, 1};
      while (!done.load()) {
        auto r = f.manager->Pick(req);
        if (r.ok()) {
          picks.fetch_add(1);
          Result res;
          res.credential_id = r->credential->id;
          res.model = "m";
          res.success = true;
          res.http_status = 200;
          (void)f.manager->MarkResult(res);
        } else {
          failures.fetch_add(1);
        }
      }
    });
  }
  // The reloads race live picks: wait until both pickers run (a loaded machine may start them
  // late, and 60 reloads take little time).
  while (picks.load() + failures.load() < 2) std::this_thread::yield();
  const Config* order[] = {&a, &b, &c, &a, &c, &b, &a};
  for (int round = 0; round < 60; ++round) {
    const Config& from = *order[round % 7];
    const Config& to = *order[(round + 1) % 7];
    REQUIRE(ApplyConfig(*f.manager, from, to).ok());
  }
  done = true;
  for (auto& t : pickers) t.join();
  CHECK(failures.load() == 0);  // a reload never makes a healthy pool unpickable
  CHECK(picks.load() > 0);
}

}  // namespace
}  // namespace authrouter

namespace authrouter {
namespace {

std::string PickSession(testing::ManagerFixture& f, std::string_view session) {
  static constexpr std::string_view kClaude = "claude";
  const HttpHeader headers[] = {{"X-Session-ID", session}};
  PickRequest r;
  r.providers = {&kClaude, 1};
  r.model = "m";
  r.headers = headers;
  return testing::ManagerFixture::Describe(f.manager->Pick(r));
}

TEST_CASE("Config: routing.session-affinity-max-entries bounds the bindings", "[config]") {
  CHECK(Parse("{}").session_affinity_max_entries == 1'000'000);
  CHECK(Parse(R"({"routing":{"session-affinity-max-entries":5000}})").session_affinity_max_entries ==
        5000);
  CHECK(Parse(R"({"routing":{"session-affinity-max-entries":1e8}})").session_affinity_max_entries ==
        100'000'000);
  for (const char* bad : {"0", "-1", "1.5", "\"1000\"", "true", "100000001", "1e30",
                          "18446744073709551615"}) {
    const std::string json =
        std::string(R"({"routing":{"session-affinity-max-entries":)") + bad + "}}";
    INFO(json);
    CHECK(Error(json).starts_with("routing.session-affinity-max-entries: "));
  }
  CHECK(Error(R"({"routing":{"session-affinity-max-entries":0}})") ==
        "routing.session-affinity-max-entries: must be an integer between 1 and 100000000");

  Config base = Parse(R"({"routing":{"session-affinity":true,"session-affinity-max-entries":10,"session-placement":"strategy"}})");
  ManagerOptions mo;
  REQUIRE(ApplyToOptions(base, mo).ok());
  CHECK(mo.session_affinity_max_entries == 10);
  testing::ManagerFixture f(mo);
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  CHECK(PickSession(f, "conv-1") == "a");
  CHECK(PickSession(f, "conv-2") == "b");
  CHECK(PickSession(f, "conv-3") == "a");

  // Out of range: refused before anything is applied.
  Config broken = base;
  broken.session_affinity_max_entries = 0;
  broken.strategy = RoutingStrategy::kFillFirst;
  CHECK(absl::IsInvalidArgument(ApplyConfig(*f.manager, base, broken).status()));
  CHECK(f.manager->strategy() == RoutingStrategy::kRoundRobin);

  // Hot reload to 1: only the newest conversation keeps its binding.
  Config next = Parse(R"({"routing":{"session-affinity":true,"session-affinity-max-entries":1,"session-placement":"strategy"}})");
  auto changed = ApplyConfig(*f.manager, base, next);
  REQUIRE(changed.ok());
  CHECK(*changed == std::vector<std::string>{"routing.session-affinity-max-entries"});
  CHECK(PickSession(f, "conv-3") == "a");  // still bound
  CHECK(PickSession(f, "conv-1") == "b");  // evicted: the rotation's next (bound, it was a)

  // Affinity turned off and on again starts with the bound in force.
  Config off = next;
  off.session_affinity = false;
  REQUIRE(ApplyConfig(*f.manager, next, off).ok());
  REQUIRE(ApplyConfig(*f.manager, off, next).ok());
  CHECK(PickSession(f, "conv-4") == "a");
  CHECK(PickSession(f, "conv-5") == "b");
  CHECK(PickSession(f, "conv-6") == "a");
  CHECK(PickSession(f, "conv-4") == "b");  // evicted (bound, it was a)
}

TEST_CASE("Manager: the session binding bound is checked", "[config]") {
  CHECK(absl::IsInvalidArgument(Manager::Create({.session_affinity_max_entries = 0}).status()));
  CHECK(absl::IsInvalidArgument(
      Manager::Create({.session_affinity_max_entries = kMaxSessionAffinityEntries + 1}).status()));
  testing::ManagerFixture f;
  CHECK(absl::IsInvalidArgument(f.manager->SetSessionAffinityMaxEntries(0)));
  CHECK(absl::IsInvalidArgument(
      f.manager->SetSessionAffinityMaxEntries(kMaxSessionAffinityEntries + 1)));
  CHECK(f.manager->SetSessionAffinityMaxEntries(kMaxSessionAffinityEntries).ok());
}

TEST_CASE("SessionCache: set_max_entries evicts the groups refreshed longest ago", "[config]") {
  ManualClock clock;
  auto c = *SessionCache::Create({.max_entries = 10, .sweeper = false, .clock = &clock});
  for (const char* k : {"k1", "k2", "k3", "k4"}) c->Set(k, "a");
  std::string id;
  CHECK(c->GetAndRefresh("k1", &id));  // now the newest
  c->set_max_entries(2);
  CHECK(c->max_entries() == 2);
  CHECK(c->size() == 2);
  CHECK(c->Get("k1", &id));
  CHECK(c->Get("k4", &id));
  CHECK_FALSE(c->Get("k2", &id));
}

TEST_CASE("Config: routing.session-affinity-content and -scope choose the session identity",
          "[config]") {
  const Config defaults = Parse("{}");
  CHECK(defaults.session_affinity_content);
  CHECK(defaults.session_affinity_scope == SessionScope::kModel);
  const Config c = Parse(
      R"({"routing":{"session-affinity":true,"session-affinity-content":false,"session-affinity-scope":" provider "}})");
  CHECK_FALSE(c.session_affinity_content);
  CHECK(c.session_affinity_scope == SessionScope::kProvider);
  CHECK(Error(R"({"routing":{"session-affinity-scope":"tenant"}})") ==
        "routing.session-affinity-scope: must be \"model\" or \"provider\"");
  CHECK(Error(R"({"routing":{"session-affinity-content":"no"}})")
            .starts_with("routing.session-affinity-content: "));
  CHECK(defaults.session_affinity_content_identity == ContentIdentity::kChain);
  CHECK(Parse(R"({"routing":{"session-affinity-content-identity":"upstream"}})")
            .session_affinity_content_identity == ContentIdentity::kUpstream);
  CHECK(Error(R"({"routing":{"session-affinity-content-identity":"msg"}})") ==
        "routing.session-affinity-content-identity: must be \"chain\" or \"upstream\"");

  ManagerOptions mo;
  REQUIRE(ApplyToOptions(c, mo).ok());
  CHECK_FALSE(mo.session_affinity_content);
  CHECK(mo.session_affinity_scope == SessionScope::kProvider);

  // Hot reload: both switches are applied and reported.
  Config base = Parse(R"({"routing":{"session-affinity":true}})");
  ManagerOptions bo;
  REQUIRE(ApplyToOptions(base, bo).ok());
  testing::ManagerFixture f(bo);
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  auto changed = ApplyConfig(*f.manager, base, c);
  REQUIRE(changed.ok());
  CHECK(*changed == std::vector<std::string>{"routing.session-affinity-content",
                                             "routing.session-affinity-scope"});
  // Content sources are off now: a body without an explicit ID binds nothing.
  static constexpr std::string_view kClaude = "claude";
  PickRequest r;
  r.providers = {&kClaude, 1};
  r.model = "m";
  r.body = R"({"messages":[{"role":"user","content":"Hello"}]})";
  auto p = f.manager->Pick(r);
  REQUIRE(p.ok());
  CHECK(p->session == nullptr);
}

}  // namespace
}  // namespace authrouter
