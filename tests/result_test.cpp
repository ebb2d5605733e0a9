// The result state machine, row by row against spec 04 §2-§6 and later fixes C1, C3, C4, C7,
// C10, C14, all driven by the manual clock.
#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "authrouter/manager.h"
#include "authrouter/result.h"
#include "support/manager_fixture.h"

using authrouter::testing::CoolingState;
using authrouter::testing::ManagerFixture;
using authrouter::testing::UpstreamOptions;
namespace ar = authrouter;

namespace {

ar::Result Failure(std::string_view id, std::string_view model, int status,
                   std::string_view message = "upstream error",
                   std::optional<absl::Duration> retry_after = std::nullopt) {
  ar::Result r;
  r.credential_id = id;
  r.provider = "claude";
  r.model = model;
  r.http_status = status;
  r.error_message = message;
  r.retry_after = retry_after;
  return r;
}

ar::Result Success(std::string_view id, std::string_view model) {
  ar::Result r;
  r.credential_id = id;
  r.model = model;
  r.success = true;
  return r;
}

// State returns the model state of `id` for `model` (a default state when absent).
ar::ModelState State(ManagerFixture& f, std::string_view id, std::string_view model) {
  auto c = f.manager->Get(id);
  REQUIRE(c);
  auto it = c->model_states.find(model);
  return it == c->model_states.end() ? ar::ModelState{} : it->second;
}

void Mark(ManagerFixture& f, const ar::Result& r) { REQUIRE(f.manager->MarkResult(r).ok()); }

}  // namespace

TEST_CASE("Note fixed: the 429 ladder doubles from 1 s and caps at 30 min without overflow",
          "[result]") {
  for (int level = 0; level <= 10; ++level) {
    const auto [d, next] = ar::QuotaBackoff(level);
    CHECK(d == absl::Seconds(int64_t{1} << level));
    CHECK(next == level + 1);
  }
  for (int level : {11, 12, 33, 40, 1000}) {
    const auto [d, next] = ar::QuotaBackoff(level);
    CHECK(d == absl::Minutes(30));
    CHECK(next == level);  // Note fixed: no overflow at high levels; the level stops rising
  }
  CHECK(ar::QuotaBackoff(-3) == std::make_pair(absl::Seconds(1), 1));
}

TEST_CASE("Each failure status sets its retry time (spec 04 §3)", "[result]") {
  struct Row {
    int status;
    const char* message;
    absl::Duration retry;  // zero: not blocking
    const char* pick;      // what the next pick answers
  } rows[] = {
      {401, "unauthorized", absl::Minutes(30), "<auth_unavailable>"},
      {402, "payment required", absl::Minutes(30), "<auth_unavailable>"},
      {403, "forbidden", absl::Minutes(30), "<auth_unavailable>"},
      {404, "no such model", absl::Hours(12), "<auth_unavailable>"},
      {408, "timeout", absl::Minutes(1), "<auth_unavailable>"},
      {500, "internal", absl::Minutes(1), "<auth_unavailable>"},
      {502, "bad gateway", absl::Minutes(1), "<auth_unavailable>"},
      {503, "unavailable", absl::Minutes(1), "<auth_unavailable>"},
      {504, "gateway timeout", absl::Minutes(1), "<auth_unavailable>"},
      {400, "bad request", absl::ZeroDuration(), "a"},
      {409, "conflict", absl::ZeroDuration(), "a"},
      {413, "too large", absl::ZeroDuration(), "a"},
      {422, "unprocessable", absl::ZeroDuration(), "a"},
      {0, "connection reset by peer", absl::ZeroDuration(), "a"},
      {400, "The requested model is not supported.", absl::Hours(12), "<auth_unavailable>"},
      {422, "model_not_supported", absl::Hours(12), "<auth_unavailable>"},
      {400, "This model is not available for your plan", absl::Hours(12), "<auth_unavailable>"},
  };
  for (const Row& row : rows) {
    INFO(row.status << " " << row.message);
    ManagerFixture f(UpstreamOptions());
    f.Add({.id = "a"});
    Mark(f, Failure("a", "m", row.status, row.message));
    const ar::ModelState st = State(f, "a", "m");
    CHECK(st.unavailable);
    CHECK(st.status == ar::CredentialStatus::kError);
    CHECK(st.status_message == row.message);
    REQUIRE(st.last_error);
    CHECK(st.last_error->http_status == row.status);
    CHECK(st.last_error->message == row.message);
    if (row.retry == absl::ZeroDuration()) {
      CHECK(ar::IsZeroTime(st.next_retry_after));
    } else {
      CHECK(st.next_retry_after == f.clock.Now() + row.retry);
    }
    CHECK_FALSE(st.quota.exceeded);
    auto c = f.manager->Get("a");
    CHECK(c->status == ar::CredentialStatus::kError);
    CHECK(c->last_error == st.last_error);
    CHECK(f.PickId("claude") == row.pick);
    if (row.retry > absl::ZeroDuration()) {
      f.clock.Advance(row.retry);
      CHECK(f.PickId("claude") == "a");
    }
  }
}

TEST_CASE("Note fixed: a 429's Retry-After always reaches the state machine", "[result]") {
  ManagerFixture f(UpstreamOptions());
  f.Add({.id = "a"});
  Mark(f, Failure("a", "m", 429, "rate limited", absl::Seconds(42)));
  const ar::ModelState st = State(f, "a", "m");
  CHECK(st.next_retry_after == f.clock.Now() + absl::Seconds(42));
  CHECK(st.quota == ar::QuotaState{true, "quota", f.clock.Now() + absl::Seconds(42), 0});
  auto e = ar::GetRoutingError(f.manager->Pick("claude", "m").status());
  REQUIRE(e);
  CHECK(e->code == "model_cooldown");
  CHECK(e->retry_after == absl::Seconds(42));
  f.clock.Advance(absl::Seconds(42));
  CHECK(f.PickId("claude") == "a");
}

TEST_CASE("Note fixed (C1): a 429 without Retry-After climbs the ladder once per window",
          "[result]") {
  ManagerFixture f(UpstreamOptions());
  f.Add({.id = "a"});
  Mark(f, Failure("a", "m", 429));
  CHECK(State(f, "a", "m").quota.backoff_level == 1);
  CHECK(State(f, "a", "m").next_retry_after == f.clock.Now() + absl::Seconds(1));
  // Another 429 inside the open window (a concurrent in-flight request) reuses the window.
  Mark(f, Failure("a", "m", 429));
  CHECK(State(f, "a", "m").quota.backoff_level == 1);
  CHECK(State(f, "a", "m").next_retry_after == f.clock.Now() + absl::Seconds(1));
  // After the window the ladder climbs: 2 s, 4 s, 8 s ...
  for (int expected_level = 2; expected_level <= 5; ++expected_level) {
    f.clock.Advance(State(f, "a", "m").next_retry_after - f.clock.Now());
    Mark(f, Failure("a", "m", 429));
    CHECK(State(f, "a", "m").quota.backoff_level == expected_level);
    CHECK(State(f, "a", "m").next_retry_after ==
          f.clock.Now() + absl::Seconds(int64_t{1} << (expected_level - 1)));
  }
  // Only a success on the model resets the level.
  f.clock.Advance(absl::Minutes(1));
  Mark(f, Success("a", "m"));
  CHECK(State(f, "a", "m").quota.backoff_level == 0);
}

TEST_CASE("Disabled cooling records failures but never blocks", "[result]") {
  SECTION("globally") {
    ManagerFixture f(UpstreamOptions({.disable_cooling = true}));
    f.Add({.id = "a"});
    for (int status : {401, 403, 404, 500}) {
      Mark(f, Failure("a", "m", status));
      CHECK(ar::IsZeroTime(State(f, "a", "m").next_retry_after));
      CHECK(f.PickId("claude") == "a");  // unavailable without a time does not block
    }
    Mark(f, Failure("a", "m", 429, "slow down", absl::Minutes(2)));
    CHECK(ar::IsZeroTime(State(f, "a", "m").next_retry_after));
    CHECK(State(f, "a", "m").quota.exceeded);  // still marked exceeded, with no recovery time
    CHECK(ar::IsZeroTime(State(f, "a", "m").quota.next_recover_at));
    CHECK(f.PickId("claude") == "a");
    Mark(f, Failure("a", "m", 429));
    CHECK(State(f, "a", "m").quota.backoff_level == 0);  // the ladder does not climb
  }
  SECTION("per credential through metadata") {
    ManagerFixture f(UpstreamOptions());
    auto c = f.Make({.id = "a"});
    c.metadata = *ar::Metadata::Parse(R"({"disable_cooling":true})");
    f.AddCredential(c);
    Mark(f, Failure("a", "m", 500));
    CHECK(f.PickId("claude") == "a");
  }
  SECTION("Note kept: model-support errors suspend 12 h even with cooling disabled") {
    ManagerFixture f(UpstreamOptions({.disable_cooling = true}));
    f.Add({.id = "a"});
    Mark(f, Failure("a", "m", 400, "unsupported model"));
    CHECK(State(f, "a", "m").next_retry_after == f.clock.Now() + absl::Hours(12));
  }
  SECTION("Fixed (later fix C4): a credential's explicit false re-enables cooling") {
    ManagerFixture f(UpstreamOptions({.disable_cooling = true}));
    auto c = f.Make({.id = "a"});
    c.metadata = *ar::Metadata::Parse(R"({"disable-cooling":"false"})");
    f.AddCredential(c);
    Mark(f, Failure("a", "m", 503));
    CHECK(State(f, "a", "m").next_retry_after == f.clock.Now() + absl::Minutes(1));
  }
}

TEST_CASE("The transient cooldown is configurable (later fix C3)", "[result]") {
  for (const auto& [seconds, expected] :
       {std::pair<int64_t, absl::Duration>{0, absl::Minutes(1)}, {15, absl::Seconds(15)},
        {-1, absl::ZeroDuration()}}) {
    ManagerFixture f(UpstreamOptions({.transient_error_cooldown_seconds = seconds}));
    f.Add({.id = "a"});
    Mark(f, Failure("a", "m", 502));
    const absl::Time next = State(f, "a", "m").next_retry_after;
    if (expected == absl::ZeroDuration()) {
      CHECK(ar::IsZeroTime(next));
    } else {
      CHECK(next == f.clock.Now() + expected);
    }
  }
}

TEST_CASE("A request-scoped 404 changes nothing", "[result]") {
  ManagerFixture f(UpstreamOptions());
  auto before = f.Add({.id = "a"});
  Mark(f, Failure("a", "m", 404,
                  "Item with id 'rs_1' not found. Items are not persisted when `store` is set to "
                  "false."));
  CHECK(f.manager->Get("a") == before);  // the same snapshot: nothing was written
  CHECK(f.manager->Get("a")->model_states.empty());
  CHECK(ar::IsRequestInvalid(404, "Item with id 'x' not found. Items are not persisted when `store` is set to false."));
}

TEST_CASE("Fixed (later fix C7): client cancellations and closed connections cool nothing",
          "[result]") {
  for (const char* message : {"context canceled", "EOF", "unexpected EOF",
                              "read tcp 1.2.3.4:5: unexpected EOF", "websocket: close 1006 (abnormal closure)",
                              "websocket: close 1001 (going away)", "context deadline exceeded"}) {
    INFO(message);
    ManagerFixture f(UpstreamOptions());
    auto before = f.Add({.id = "a"});
    Mark(f, Failure("a", "m", 0, message));
    CHECK(f.manager->Get("a") == before);
  }
  ManagerFixture f(UpstreamOptions());
  auto before = f.Add({.id = "a"});
  ar::Result coded = Failure("a", "m", 0, "client went away");
  coded.error_code = "connection_lifecycle";
  Mark(f, coded);
  CHECK(f.manager->Get("a") == before);
  // A real status always counts, whatever the body says.
  Mark(f, Failure("a", "m", 429, "context canceled"));
  CHECK(State(f, "a", "m").unavailable);
}

TEST_CASE("Fixed (later fix C10): invalid_grant suspends 30 min and is not request-invalid",
          "[result]") {
  ManagerFixture f(UpstreamOptions());
  f.Add({.id = "a"});
  const char* message = R"({"error":"invalid_grant","error_description":"Token has been revoked"})";
  CHECK_FALSE(ar::IsRequestInvalid(400, message));
  CHECK(ar::IsInvalidGrant(400, "", message));
  CHECK(ar::IsInvalidGrant(401, "invalid_grant", "revoked"));
  CHECK_FALSE(ar::IsInvalidGrant(500, "", message));
  Mark(f, Failure("a", "m", 400, message));
  CHECK(State(f, "a", "m").next_retry_after == f.clock.Now() + absl::Minutes(30));
}

TEST_CASE("Request-invalid errors are 400 invalid_request_error, scoped 404 and 422", "[result]") {
  CHECK(ar::IsRequestInvalid(400, R"({"type":"invalid_request_error"})"));
  CHECK_FALSE(ar::IsRequestInvalid(400, R"({"type":"Invalid_Request_Error"})"));  // case-sensitive
  CHECK_FALSE(ar::IsRequestInvalid(400, "invalid_request_error: model_not_supported"));
  CHECK(ar::IsRequestInvalid(422, "anything"));
  CHECK_FALSE(ar::IsRequestInvalid(422, "unsupported model"));
  CHECK_FALSE(ar::IsRequestInvalid(404, "not found"));
  CHECK_FALSE(ar::IsRequestInvalid(429, "invalid_request_error"));
  CHECK_FALSE(ar::IsRequestInvalid(500, "invalid_request_error"));
}

TEST_CASE("A success clears the model and, with no model error left, the record", "[result]") {
  ManagerFixture f(UpstreamOptions());
  f.Add({.id = "a", .models = {"m", "n"}});
  Mark(f, Failure("a", "m", 500));
  Mark(f, Failure("a", "n", 429));
  Mark(f, Success("a", "m"));
  auto c = f.manager->Get("a");
  CHECK_FALSE(c->model_states.at("m").unavailable);
  CHECK(c->model_states.at("m").status == ar::CredentialStatus::kActive);
  CHECK(c->status == ar::CredentialStatus::kError);  // n still fails
  REQUIRE(c->last_error);
  Mark(f, Success("a", "n"));
  c = f.manager->Get("a");
  CHECK(c->status == ar::CredentialStatus::kActive);
  CHECK_FALSE(c->last_error);
  CHECK(c->status_message.empty());
  CHECK(c->model_states.at("n").quota == ar::QuotaState{});
}

TEST_CASE("A success on a healthy credential writes nothing", "[result]") {
  ManagerFixture f(UpstreamOptions());
  auto before = f.Add({.id = "a"});
  Mark(f, Success("a", "m"));
  Mark(f, Success("a", "m(high)"));
  Mark(f, Success("a", ""));
  CHECK(f.manager->Get("a") == before);
}

TEST_CASE("Note fixed (B1): results on suffixed models are kept under the canonical model",
          "[result]") {
  ManagerFixture f(UpstreamOptions());
  f.Add({.id = "a"});
  Mark(f, Failure("a", "m(high)", 429, "", absl::Minutes(1)));
  auto c = f.manager->Get("a");
  CHECK(c->model_states.count("m") == 1);
  CHECK(c->model_states.count("m(high)") == 0);
  CHECK(f.PickId("claude", "m") == "<model_cooldown>");
  Mark(f, Success("a", "m"));  // upstream: a success on m left m(high) cooling
  CHECK(f.PickId("claude", "m(low)") == "a");
}

TEST_CASE("Record-level failures follow spec 04 §5", "[result]") {
  struct Row {
    int status;
    const char* message;
    absl::Duration retry;
  } rows[] = {
      {401, "unauthorized", absl::Minutes(30)},
      {403, "payment_required", absl::Minutes(30)},
      {404, "not_found", absl::Hours(12)},
      {429, "quota exhausted", absl::Seconds(1)},
      {500, "transient upstream error", absl::Minutes(1)},
  };
  for (const Row& row : rows) {
    INFO(row.status);
    ManagerFixture f(UpstreamOptions());
    f.Add({.id = "a"});
    Mark(f, Failure("a", "", row.status, "raw text"));
    auto c = f.manager->Get("a");
    CHECK(c->unavailable);
    CHECK(c->status == ar::CredentialStatus::kError);
    CHECK(c->status_message == row.message);
    CHECK(c->next_retry_after == f.clock.Now() + row.retry);
    CHECK(c->model_states.empty());
    CHECK(c->quota.exceeded == (row.status == 429));
    CHECK(f.PickId("claude", "") != "a");  // model-less picks see the record-level block
    CHECK(f.PickId("claude", "m") == "a");  // model picks do not
  }
  ManagerFixture f(UpstreamOptions());
  auto c0 = f.Add({.id = "a"});
  Mark(f, Failure("a", "", 409, ""));
  auto c = f.manager->Get("a");
  CHECK(c->status_message == "request failed");
  CHECK(ar::IsZeroTime(c->next_retry_after));
  Mark(f, Success("a", ""));
  CHECK_FALSE(f.manager->Get("a")->unavailable);
  CHECK(f.manager->Get("a")->status == ar::CredentialStatus::kActive);
}

TEST_CASE("Aggregated availability follows the model states (spec 04 §6)", "[result]") {
  ManagerFixture f(UpstreamOptions());
  f.Add({.id = "a", .models = {"m", "n"}});
  Mark(f, Failure("a", "m", 400));  // unavailable without a retry time
  CHECK_FALSE(f.manager->Get("a")->unavailable);
  Mark(f, Failure("a", "m", 429, "", absl::Minutes(5)));
  // Note fixed: n is served and has no state, so it counts as available and the record is not
  // out (upstream's aggregate saw only m, a model with a state).
  CHECK_FALSE(f.manager->Get("a")->unavailable);
  CHECK(f.PickId("claude", "n") == "a");  // model picks ignore the record-level aggregate
  Mark(f, Success("a", "n"));             // a healthy success adds no state...
  CHECK(f.manager->Get("a")->model_states.count("n") == 0);
  Mark(f, Failure("a", "n", 429, "", absl::Minutes(3)));
  auto c = f.manager->Get("a");
  CHECK(c->unavailable);
  CHECK(c->next_retry_after == f.clock.Now() + absl::Minutes(3));
  CHECK(c->quota.exceeded);
  CHECK(c->quota.next_recover_at == f.clock.Now() + absl::Minutes(3));
  // Past retry times are cleared when the aggregate is recomputed.
  f.clock.Advance(absl::Minutes(4));
  Mark(f, Failure("a", "m", 500));
  c = f.manager->Get("a");
  CHECK_FALSE(c->model_states.at("n").unavailable);
  CHECK(ar::IsZeroTime(c->model_states.at("n").next_retry_after));
  CHECK_FALSE(c->unavailable);
}

TEST_CASE("ResetCooldowns clears one model or everything (later fix C14)", "[result]") {
  ManagerFixture f(UpstreamOptions());
  f.Add({.id = "a", .models = {"m", "n"}});
  Mark(f, Failure("a", "m", 429, "", absl::Minutes(30)));
  Mark(f, Failure("a", "n", 401));
  REQUIRE(f.manager->ResetCooldowns("a", "m(high)").ok());
  CHECK(f.PickId("claude", "m") == "a");
  CHECK(f.PickId("claude", "n") == "<auth_unavailable>");
  CHECK(f.manager->Get("a")->status == ar::CredentialStatus::kError);
  REQUIRE(f.manager->ResetCooldowns("a").ok());
  CHECK(f.PickId("claude", "n") == "a");
  auto c = f.manager->Get("a");
  CHECK(c->status == ar::CredentialStatus::kActive);
  CHECK_FALSE(c->last_error);
  CHECK(absl::IsNotFound(f.manager->ResetCooldowns("nobody")));
}

TEST_CASE("MarkResult rejects bad input and ignores an empty ID", "[result]") {
  ManagerFixture f(UpstreamOptions());
  f.Add({.id = "a"});
  CHECK(f.manager->MarkResult(ar::Result{}).ok());
  CHECK(absl::IsNotFound(f.manager->MarkResult(Failure("nobody", "m", 500))));
  CHECK(absl::IsNotFound(f.manager->MarkResult(Success("nobody", "m"))));
  CHECK(absl::IsInvalidArgument(f.manager->MarkResult(Failure("a", "m", 1000))));
  CHECK(absl::IsInvalidArgument(f.manager->MarkResult(Failure("a", "m", -1))));
  ar::Result contradiction = Success("a", "m");
  contradiction.http_status = 429;
  const absl::Status s = f.manager->MarkResult(contradiction);
  CHECK(absl::IsInvalidArgument(s));
  CHECK(std::string(s.message()).find("success with HTTP status 429") != std::string::npos);
  CHECK(f.manager->Get("a")->model_states.empty());  // nothing was recorded
}

TEST_CASE("A Retry-After out of range is corrected and the failure still recorded", "[result]") {
  std::vector<std::string> logged;
  ar::ManagerOptions o = UpstreamOptions();
  o.logger = ar::MakeLogger([&](ar::LogLevel level, std::string_view component, std::string_view m) {
    if (level == ar::LogLevel::kWarning && component == "results") logged.emplace_back(m);
  });
  ManagerFixture f(std::move(o));
  f.Add({.id = "a", .models = {"m", "n"}});
  REQUIRE(f.manager->MarkResult(Failure("a", "m", 429, "", -absl::Seconds(1))).ok());
  // Recorded, not dropped: the error is there; a Retry-After of 0 means "retry now".
  REQUIRE(State(f, "a", "m").last_error);
  CHECK(State(f, "a", "m").last_error->http_status == 429);
  REQUIRE(f.manager->MarkResult(Failure("a", "n", 429, "", absl::Hours(24 * 400))).ok());
  CHECK(State(f, "a", "n").next_retry_after <= f.clock.Now() + absl::Hours(24 * 30));
  CHECK(State(f, "a", "n").next_retry_after > f.clock.Now() + absl::Hours(24 * 29));
  REQUIRE(logged.size() == 2);
  CHECK(logged[0] == "result for a: Retry-After below 0 taken as 0");
}

TEST_CASE("Update inherits runtime state only between enabled records", "[result]") {
  auto setup = [](ManagerFixture& f, bool existing_disabled) {
    auto c = f.Make({.id = "a"});
    auto st = CoolingState(f.clock.Now() + absl::Minutes(5), true);
    st.quota.backoff_level = 7;
    c.model_states["m"] = st;
    c.last_refreshed_at = f.clock.Now() - absl::Hours(1);
    c.disabled = existing_disabled;
    f.AddCredential(c);
  };
  SECTION("active to active inherits") {
    ManagerFixture f(UpstreamOptions());
    setup(f, false);
    auto next = f.Make({.id = "a"});
    auto updated = *f.manager->Update(next);
    CHECK(updated->model_states.at("m").quota.backoff_level == 7);
    CHECK(updated->last_refreshed_at == f.clock.Now() - absl::Hours(1));
    CHECK(f.PickId("claude") == "<model_cooldown>");
  }
  for (const auto& [from_disabled, to_disabled] :
       {std::pair{true, true}, std::pair{false, true}, std::pair{true, false}}) {
    INFO(from_disabled << " -> " << to_disabled);
    ManagerFixture f(UpstreamOptions());
    setup(f, from_disabled);
    auto next = f.Make({.id = "a"});
    next.disabled = to_disabled;
    auto updated = *f.manager->Update(next);
    CHECK(updated->model_states.empty());
    CHECK(ar::IsZeroTime(updated->last_refreshed_at));
    if (!to_disabled) CHECK(f.PickId("claude") == "a");  // re-enabled: routable at once
  }
}

TEST_CASE("Model registration reconciles model states", "[result]") {
  ManagerFixture f(UpstreamOptions());
  auto c = f.Make({.id = "a"});
  c.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(5), true);
  c.model_states["gone"] = CoolingState(f.clock.Now() + absl::Minutes(5), true);
  c.model_states["n"] = CoolingState(f.clock.Now() + absl::Minutes(5), true);
  // The first registration keeps the (for example persisted) state of registered models.
  f.AddCredential(c, {"m"});
  auto after_first = f.manager->Get("a");
  CHECK(after_first->model_states.count("m") == 1);
  CHECK(after_first->model_states.count("gone") == 0);  // not registered: pruned
  CHECK(after_first->model_states.count("n") == 0);
  CHECK(f.PickId("claude", "m") == "<model_cooldown>");
  // A model newly added to an existing registration starts clean.
  auto with_n = *f.manager->Update([&] {
    auto u = f.Make({.id = "a"});
    u.model_states = after_first->model_states;
    u.model_states["n"] = CoolingState(f.clock.Now() + absl::Minutes(5), true);
    return u;
  }());
  // Update applies the same rule as a registration: "n" is not served, so its state goes.
  CHECK(with_n->model_states.count("n") == 0);
  CHECK(with_n->model_states.count("m") == 1);
  f.manager->RegisterModels("a", {"m", "n"});
  CHECK(f.PickId("claude", "n") == "a");
  CHECK(f.PickId("claude", "m") == "<model_cooldown>");  // unchanged registration: kept
}

TEST_CASE("A credential removed and re-created under its ID starts clean", "[result]") {
  ManagerFixture f(UpstreamOptions());
  f.Add({.id = "a"});
  Mark(f, Failure("a", "m", 429, "", absl::Minutes(30)));
  CHECK(f.PickId("claude") == "<model_cooldown>");
  REQUIRE(f.manager->Remove("a").ok());
  auto again = f.Add({.id = "a"});
  CHECK(again->model_states.empty());
  CHECK(f.PickId("claude") == "a");
}

// ---- regressions found in review --------------------------------------------------------------

TEST_CASE("MarkResult rejects text that is not UTF-8", "[result]") {
  ManagerFixture f(UpstreamOptions());
  auto before = f.Add({.id = "a"});
  CHECK(absl::IsInvalidArgument(f.manager->MarkResult(Failure("a", "m", 500, "bad \xff"))));
  CHECK(absl::IsInvalidArgument(f.manager->MarkResult(Failure("a", "m\xc0", 500))));
  CHECK(f.manager->Get("a") == before);
}

TEST_CASE("A model success clears a model-less cooldown too", "[result]") {
  ManagerFixture f(UpstreamOptions());
  f.Add({.id = "a"});
  Mark(f, Failure("a", "", 429));
  CHECK(f.PickId("claude", "") == "<model_cooldown>");
  Mark(f, Success("a", "m"));
  auto c = f.manager->Get("a");
  CHECK_FALSE(c->unavailable);
  CHECK_FALSE(c->quota.exceeded);
  CHECK(c->status == ar::CredentialStatus::kActive);
  CHECK(f.PickId("claude", "") == "a");
}

TEST_CASE("A success never re-enables a disabled credential", "[result]") {
  ManagerFixture f(UpstreamOptions());
  f.Add({.id = "a"});
  Mark(f, Failure("a", "m", 500));
  REQUIRE(f.manager->SetDisabled("a", true).ok());
  Mark(f, Success("a", "m"));
  Mark(f, Success("a", ""));
  auto c = f.manager->Get("a");
  CHECK(c->disabled);
  CHECK(c->status == ar::CredentialStatus::kDisabled);
  CHECK(f.PickId("claude") == "<auth_not_found>");
}
