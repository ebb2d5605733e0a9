// Execution with failover and retry rounds (spec 04 §8, later fixes C1, C2, C7, C13), driven by
// the manual clock (waits between rounds advance it instead of sleeping).
#include <catch2/catch.hpp>

#include <functional>
#include <map>

#include "authrouter/manager.h"
#include "support/manager_fixture.h"

using authrouter::testing::CoolingState;
using authrouter::testing::ManagerFixture;
using Ids = std::vector<std::string>;
namespace ar = authrouter;

namespace {

// ScriptedExecutor answers per credential with a function of (credential, call number).
class ScriptedExecutor : public ar::Executor {
 public:
  ar::Outcome Execute(const ar::Attempt& attempt) override {
    calls.push_back(attempt.credential.id);
    rounds.push_back(attempt.round);
    auto it = script.find(attempt.credential.id);
    if (it == script.end()) return Ok();
    return it->second(static_cast<int>(calls.size()));
  }
  static ar::Outcome Ok() {
    ar::Outcome o;
    o.success = true;
    o.http_status = 200;
    return o;
  }
  static ar::Outcome Fail(int status, std::string message = "upstream error",
                          std::optional<absl::Duration> retry_after = std::nullopt) {
    ar::Outcome o;
    o.http_status = status;
    o.error_message = std::move(message);
    o.retry_after = retry_after;
    return o;
  }
  void Always(const std::string& id, ar::Outcome o) {
    script[id] = [o](int) { return o; };
  }
  std::map<std::string, std::function<ar::Outcome(int)>> script;
  Ids calls;
  std::vector<int> rounds;
};

ar::ExecuteRequest Request(const std::string_view* provider, std::string_view model = "m") {
  ar::ExecuteRequest r;
  r.providers = {provider, 1};
  r.model = model;
  return r;
}

constexpr std::string_view kClaude = "claude";

}  // namespace

TEST_CASE("Execute fails over to the next credential and records every result", "[execute]") {
  ManagerFixture f;
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  ScriptedExecutor ex;
  ex.Always("a", ScriptedExecutor::Fail(500));
  auto r = f.manager->Execute(Request(&kClaude), ex);
  REQUIRE(r.ok());
  CHECK(r->outcome.success);
  CHECK(r->credential->id == "b");
  CHECK(r->provider == "claude");
  CHECK(r->attempts == 2);
  CHECK(ex.calls == Ids{"a", "b"});
  CHECK(f.manager->Get("a")->model_states.at("m").unavailable);  // a cools for a minute
  ex.calls.clear();
  REQUIRE(f.manager->Execute(Request(&kClaude), ex).ok());
  CHECK(ex.calls == Ids{"b"});
}

TEST_CASE("max-retry-credentials caps the credentials tried per round", "[execute]") {
  for (const auto& [cap, expected_calls] : {std::pair<int64_t, size_t>{1, 1}, {0, 2}}) {
    ManagerFixture f({.max_retry_credentials = cap});
    f.Add({.id = "a"});
    f.Add({.id = "b"});
    ScriptedExecutor ex;
    ex.Always("a", ScriptedExecutor::Fail(500));
    ex.Always("b", ScriptedExecutor::Fail(500));
    auto r = f.manager->Execute(Request(&kClaude), ex);
    REQUIRE(r.ok());
    CHECK_FALSE(r->outcome.success);
    CHECK(r->outcome.http_status == 500);
    CHECK(ex.calls.size() == expected_calls);
  }
}

TEST_CASE("A model-support error falls through and keeps the bad credential out", "[execute]") {
  ManagerFixture f;
  f.Add({.id = "aa-bad-auth"});
  f.Add({.id = "bb-good-auth"});
  ScriptedExecutor ex;
  ex.Always("aa-bad-auth",
            ScriptedExecutor::Fail(400, "invalid_request_error: The requested model is not supported."));
  REQUIRE(f.manager->Execute(Request(&kClaude), ex)->outcome.success);
  REQUIRE(f.manager->Execute(Request(&kClaude), ex)->outcome.success);
  CHECK(ex.calls == Ids{"aa-bad-auth", "bb-good-auth", "bb-good-auth"});
  const ar::ModelState st = f.manager->Get("aa-bad-auth")->model_states.at("m");
  CHECK(st.unavailable);
  CHECK(st.next_retry_after == f.clock.Now() + absl::Hours(12));
}

TEST_CASE("Request-invalid errors stop the request at once", "[execute]") {
  for (const auto& [status, message] :
       {std::pair<int, std::string>{400, R"({"type":"invalid_request_error"})"},
        {422, "unprocessable"},
        {404, "Item with id 'x' not found. Items are not persisted when `store` is set to false."}}) {
    INFO(status);
    ManagerFixture f;
    f.Add({.id = "a"});
    f.Add({.id = "b"});
    ScriptedExecutor ex;
    ex.Always("a", ScriptedExecutor::Fail(status, message));
    auto r = f.manager->Execute(Request(&kClaude), ex);
    REQUIRE(r.ok());
    CHECK_FALSE(r->outcome.success);
    CHECK(r->outcome.http_status == status);
    CHECK(ex.calls == Ids{"a"});
    CHECK(f.PickId("claude") != "<auth_unavailable>");  // the credential stays available
  }
}

TEST_CASE("Note kept: retry rounds follow cooldowns, not a list of statuses", "[execute]") {
  ManagerFixture f({.request_retry = 3, .max_retry_interval = absl::Seconds(30)});
  f.Add({.id = "a"});
  ScriptedExecutor ex;
  // 429 with Retry-After 5 s twice, then success.
  ex.script["a"] = [](int call) {
    return call <= 2 ? ScriptedExecutor::Fail(429, "slow down", absl::Seconds(5))
                     : ScriptedExecutor::Ok();
  };
  const absl::Time start = f.clock.Now();
  auto r = f.manager->Execute(Request(&kClaude), ex);
  REQUIRE(r.ok());
  CHECK(r->outcome.success);
  CHECK(r->rounds == 3);
  CHECK(ex.rounds == std::vector<int>{0, 1, 2});
  // Two waits of 5 s plus jitter below min(5 s / 4, 2 s) each (later fixes C1, C2).
  const absl::Duration waited = f.clock.Now() - start;
  CHECK(waited >= absl::Seconds(10));
  CHECK(waited < absl::Seconds(10) + absl::Milliseconds(2500));
}

TEST_CASE("No retry round when the wait is longer than max-retry-interval or retries are off",
          "[execute]") {
  SECTION("wait too long") {
    ManagerFixture f({.request_retry = 3, .max_retry_interval = absl::Seconds(30)});
    f.Add({.id = "a"});
    ScriptedExecutor ex;
    ex.Always("a", ScriptedExecutor::Fail(429, "slow down", absl::Minutes(5)));
    auto r = f.manager->Execute(Request(&kClaude), ex);
    CHECK(ex.calls.size() == 1);
    CHECK(r->outcome.http_status == 429);
  }
  SECTION("max-retry-interval 0 disables rounds") {
    ManagerFixture f({.request_retry = 3});
    f.Add({.id = "a"});
    ScriptedExecutor ex;
    ex.Always("a", ScriptedExecutor::Fail(429, "slow down", absl::Seconds(1)));
    (void)f.manager->Execute(Request(&kClaude), ex);
    CHECK(ex.calls.size() == 1);
  }
}

TEST_CASE("A credential's request_retry override gates the rounds", "[execute]") {
  // Global request-retry 3; the credential's model cools 5 s after a 500.
  for (const auto& [override_retry, expected_calls] :
       {std::pair<const char*, size_t>{"0", 1}, {"1", 2}, {"-1", 4}}) {
    INFO(override_retry);
    ManagerFixture f({.transient_error_cooldown_seconds = 5,
                      .request_retry = 3,
                      .max_retry_interval = absl::Seconds(30)});
    auto c = f.Make({.id = "a"});
    c.metadata = *ar::Metadata::Parse(std::string(R"({"request_retry":)") + override_retry + "}");
    f.AddCredential(c);
    ScriptedExecutor ex;
    ex.Always("a", ScriptedExecutor::Fail(500));
    (void)f.manager->Execute(Request(&kClaude), ex);
    CHECK(ex.calls.size() == expected_calls);  // -1 inherits the global 3 (later fix C5)
  }
  // A 60 s transient cooldown is beyond the 30 s interval: no retry round at all.
  ManagerFixture f({.request_retry = 3, .max_retry_interval = absl::Seconds(30)});
  f.Add({.id = "a"});
  ScriptedExecutor ex;
  ex.Always("a", ScriptedExecutor::Fail(500));
  (void)f.manager->Execute(Request(&kClaude), ex);
  CHECK(ex.calls.size() == 1);
}

TEST_CASE("With cooling disabled, a 429's Retry-After paces the rounds", "[execute]") {
  ManagerFixture f(
      {.disable_cooling = true, .request_retry = 3, .max_retry_interval = absl::Milliseconds(100)});
  f.Add({.id = "a"});
  ScriptedExecutor ex;
  ex.Always("a", ScriptedExecutor::Fail(429, "slow down", absl::Milliseconds(5)));
  auto r = f.manager->Execute(Request(&kClaude), ex);
  CHECK(ex.calls.size() == 4);  // the first try and three retry rounds
  CHECK(r->rounds == 4);
  CHECK(ar::IsZeroTime(f.manager->Get("a")->model_states.at("m").next_retry_after));
}

TEST_CASE("Note kept: a request that finds everything cooling waits and tries again",
          "[execute]") {
  ManagerFixture f({.request_retry = 1, .max_retry_interval = absl::Seconds(30)});
  auto c = f.Make({.id = "a"});
  c.model_states["m"] = CoolingState(f.clock.Now() + absl::Seconds(10), true);
  f.AddCredential(c);
  ScriptedExecutor ex;
  auto r = f.manager->Execute(Request(&kClaude), ex);
  REQUIRE(r.ok());
  CHECK(r->outcome.success);
  CHECK(ex.calls == Ids{"a"});
  CHECK(ex.rounds == std::vector<int>{1});
  // Without retries the pick error itself comes back.
  ManagerFixture g;
  auto d = g.Make({.id = "a"});
  d.model_states["m"] = CoolingState(g.clock.Now() + absl::Seconds(10), true);
  g.AddCredential(d);
  auto none = g.manager->Execute(Request(&kClaude), ex);
  REQUIRE_FALSE(none.ok());
  CHECK(ar::GetRoutingError(none.status())->code == "model_cooldown");
}

TEST_CASE("Note kept (C7): a cancelled request records nothing", "[execute]") {
  ManagerFixture f({.request_retry = 3, .max_retry_interval = absl::Seconds(30)});
  auto before = f.Add({.id = "a"});
  f.Add({.id = "b"});
  ScriptedExecutor ex;
  ex.script["a"] = [](int) {
    ar::Outcome o = ScriptedExecutor::Fail(0, "context canceled");
    o.cancelled = true;
    return o;
  };
  auto r = f.manager->Execute(Request(&kClaude), ex);
  CHECK(absl::IsCancelled(r.status()));
  CHECK(ex.calls == Ids{"a"});
  CHECK(f.manager->Get("a") == before);
  std::atomic<bool> cancelled{true};
  ar::ExecuteRequest req = Request(&kClaude);
  req.cancelled = &cancelled;
  CHECK(absl::IsCancelled(f.manager->Execute(req, ex).status()));
  CHECK(ex.calls.size() == 1);
}

TEST_CASE("A stream that already sent bytes never moves to another credential", "[execute]") {
  ManagerFixture f;
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  ScriptedExecutor ex;
  ex.script["a"] = [](int) {
    ar::Outcome o = ScriptedExecutor::Fail(502, "stream broke");
    o.first_byte_sent = true;
    return o;
  };
  auto r = f.manager->Execute(Request(&kClaude), ex);
  REQUIRE(r.ok());
  CHECK_FALSE(r->outcome.success);
  CHECK(ex.calls == Ids{"a"});
  CHECK(f.manager->Get("a")->model_states.at("m").unavailable);  // the failure is recorded
}

TEST_CASE("Note fixed (C13): an empty stream is a retryable failure, not a crash", "[execute]") {
  ManagerFixture f;
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  ScriptedExecutor ex;
  ex.script["a"] = [](int) {
    ar::Outcome o;
    o.empty_stream = true;
    return o;
  };
  auto r = f.manager->Execute(Request(&kClaude), ex);
  REQUIRE(r.ok());
  CHECK(r->outcome.success);
  CHECK(ex.calls == Ids{"a", "b"});
  auto st = f.manager->Get("a")->model_states.at("m");
  REQUIRE(st.last_error);
  CHECK(st.last_error->code == "empty_stream");
  CHECK(st.last_error->message == "upstream stream closed before first payload");
  CHECK(st.last_error->retryable);
  CHECK(f.PickId("claude") != "<auth_unavailable>");  // status 0 cools nothing
}

TEST_CASE("Execute validates its request", "[execute]") {
  ManagerFixture f;
  ScriptedExecutor ex;
  ar::ExecuteRequest none;
  CHECK(ar::GetRoutingError(f.manager->Execute(none, ex).status())->code == "provider_not_found");
  CHECK(ar::GetRoutingError(f.manager->Execute(Request(&kClaude), ex).status())->code ==
        "auth_not_found");
  CHECK(ex.calls.empty());
  CHECK(absl::IsInvalidArgument(ar::Manager::Create({.request_retry = -1}).status()));
  CHECK(absl::IsInvalidArgument(
      ar::Manager::Create({.max_retry_interval = -absl::Seconds(1)}).status()));
  CHECK(absl::IsInvalidArgument(ar::Manager::Create({.max_retry_credentials = -2}).status()));
}

TEST_CASE("The safety net re-checks only the request's shards and keeps rotations",
          "[execute]") {
  ManagerFixture f;
  for (const char* id : {"a", "b", "c"}) f.Add({.id = id});
  f.Add({.id = "g1", .provider = "gemini"});
  f.Add({.id = "g2", .provider = "gemini"});
  f.Add({.id = "x", .models = {"other"}});
  f.Add({.id = "y", .models = {"other"}});
  CHECK(f.PickId("gemini") == "g1");
  CHECK(f.PickId("claude", "other") == "x");
  ScriptedExecutor ex;
  for (const char* id : {"a", "b", "c"}) ex.Always(id, ScriptedExecutor::Fail(503));
  auto r = f.manager->Execute(Request(&kClaude), ex);  // every credential fails: the net fires
  CHECK(ex.calls == Ids{"a", "b", "c"});
  CHECK(r->outcome.http_status == 503);
  // Upstream rebuilt the whole scheduler here, resetting every rotation (B8); ours go on.
  CHECK(f.PickId("gemini") == "g2");
  CHECK(f.PickId("claude", "other") == "y");
}

TEST_CASE("Note kept: the cooldown scan ignores model support", "[execute]") {
  // "b" serves no model (nothing registered), but its cooling state for m still sets the wait
  // between rounds. (A registration that leaves m out would drop that state.)
  // Upstream cooldowns: with max-ejection-percent, a's 403 would not exclude half a pool of 2.
  ManagerFixture f(authrouter::testing::UpstreamOptions({.request_retry = 1, .max_retry_interval = absl::Seconds(30)}));
  f.Add({.id = "a"});
  auto b = f.Make({.id = "b"});
  b.model_states["m"] = CoolingState(f.clock.Now() + absl::Seconds(3), true);
  REQUIRE(f.manager->Register(b).ok());
  ScriptedExecutor ex;
  ex.script["a"] = [](int call) {
    return call == 1 ? ScriptedExecutor::Fail(403) : ScriptedExecutor::Ok();
  };
  const absl::Time start = f.clock.Now();
  auto r = f.manager->Execute(Request(&kClaude), ex);
  // a is suspended 30 min after its 403, so round 2 finds nothing to call; the wait was b's.
  CHECK(f.clock.Now() - start >= absl::Seconds(3));
  CHECK(f.clock.Now() - start < absl::Seconds(4));
  CHECK(ex.calls == Ids{"a"});
  // The last round called nothing, so its pick error is the answer (spec 04 §8.4 step 2).
  REQUIRE_FALSE(r.ok());
  CHECK(ar::GetRoutingError(r.status())->code == "auth_unavailable");
}

// ---- regressions found in review --------------------------------------------------------------

TEST_CASE("A round that calls nothing answers with its own pick error", "[execute]") {
  ManagerFixture f({.request_retry = 3, .max_retry_interval = absl::Seconds(30)});
  f.Add({.id = "a"});
  ScriptedExecutor ex;
  ex.script["a"] = [&f](int) {
    (void)f.manager->SetDisabled("a", true);  // the credential goes away during the call
    return ScriptedExecutor::Fail(429, "slow down", absl::Seconds(1));
  };
  const absl::Time start = f.clock.Now();
  auto r = f.manager->Execute(Request(&kClaude), ex);
  REQUIRE_FALSE(r.ok());
  CHECK(ar::GetRoutingError(r.status())->code == "auth_not_found");
  CHECK(ex.calls == Ids{"a"});
  CHECK(f.clock.Now() - start < absl::Seconds(3));  // at most one wait, not three
}

TEST_CASE("An invalid_grant code fails over instead of stopping the request", "[execute]") {
  ManagerFixture f;
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  ScriptedExecutor ex;
  ex.script["a"] = [](int) {
    ar::Outcome o = ScriptedExecutor::Fail(400, "invalid_request_error: grant revoked");
    o.error_code = "invalid_grant";
    return o;
  };
  auto r = f.manager->Execute(Request(&kClaude), ex);
  REQUIRE(r.ok());
  CHECK(r->outcome.success);
  CHECK(ex.calls == Ids{"a", "b"});
  CHECK_FALSE(ar::IsRequestInvalid(400, "invalid_grant", "invalid_request_error"));
}

TEST_CASE("Upstream text that is not UTF-8 is stored with replacement characters", "[execute]") {
  ManagerFixture f;
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  ScriptedExecutor ex;
  ex.Always("a", ScriptedExecutor::Fail(500, "bad \xff byte"));
  REQUIRE(f.manager->Execute(Request(&kClaude), ex).ok());
  auto c = f.manager->Get("a");
  CHECK(c->Validate().ok());
  CHECK(c->last_error->message == "bad \xEF\xBF\xBD byte");
}
