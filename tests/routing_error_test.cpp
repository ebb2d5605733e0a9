#include <catch2/catch.hpp>

#include "authrouter/routing_error.h"

namespace ar = authrouter;

TEST_CASE("model_cooldown bodies match the verified examples of spec 02 11.1", "[routing_error]") {
  struct Case {
    const char* model;
    const char* provider;
    absl::Duration reset;
    const char* body;
    int64_t retry_after;
  } cases[] = {
      {"gemini-2.5-pro", "gemini", absl::Milliseconds(59400),
       R"({"error":{"code":"model_cooldown","message":"All credentials for model gemini-2.5-pro are cooling down via provider gemini","model":"gemini-2.5-pro","provider":"gemini","reset_seconds":60,"reset_time":"59s"}})",
       60},
      {"claude-sonnet-4-5(high)", "mixed", absl::Milliseconds(90600),
       R"j({"error":{"code":"model_cooldown","message":"All credentials for model claude-sonnet-4-5(high) are cooling down","model":"claude-sonnet-4-5(high)","reset_seconds":91,"reset_time":"1m31s"}})j",
       91},
      {"", "mixed", absl::Milliseconds(300),
       R"({"error":{"code":"model_cooldown","message":"All credentials for model requested model are cooling down","model":"","reset_seconds":1,"reset_time":"1s"}})",
       1},
      {"gpt-5", "codex", absl::Minutes(30),
       R"({"error":{"code":"model_cooldown","message":"All credentials for model gpt-5 are cooling down via provider codex","model":"gpt-5","provider":"codex","reset_seconds":1800,"reset_time":"30m0s"}})",
       1800},
  };
  for (const auto& c : cases) {
    INFO(c.model);
    absl::Status s = ar::ModelCooldownError(c.model, c.provider, c.reset);
    CHECK(absl::IsResourceExhausted(s));
    auto e = ar::GetRoutingError(s);
    REQUIRE(e);
    CHECK(e->code == "model_cooldown");
    CHECK(e->http_status == 429);
    CHECK(e->body == c.body);
    CHECK(e->retry_after == absl::Seconds(c.retry_after));
  }
}

TEST_CASE("Note kept: reset_seconds rounds up while reset_time rounds to nearest",
          "[routing_error]") {
  auto e = ar::GetRoutingError(ar::ModelCooldownError("m", "", absl::Milliseconds(59400)));
  REQUIRE(e);
  CHECK(e->body.find(R"("reset_seconds":60,"reset_time":"59s")") != std::string::npos);
  auto half = ar::GetRoutingError(ar::ModelCooldownError("m", "", absl::Milliseconds(1500)));
  CHECK(half->body.find(R"("reset_seconds":2,"reset_time":"2s")") != std::string::npos);
  auto zero = ar::GetRoutingError(ar::ModelCooldownError("m", "", -absl::Seconds(5)));
  CHECK(zero->body.find(R"("reset_seconds":0,"reset_time":"0s")") != std::string::npos);
  CHECK(zero->retry_after == absl::ZeroDuration());
}

TEST_CASE("Error bodies escape as Go's encoder does", "[routing_error]") {
  auto e = ar::GetRoutingError(ar::ModelCooldownError("a<b>&c\xe2\x80\xa8", "p", absl::Seconds(1)));
  REQUIRE(e);
  CHECK(e->body.find(R"("model":"a\u003cb\u003e\u0026c\u2028")") != std::string::npos);
}

TEST_CASE("auth errors carry the OpenAI-style body and 503", "[routing_error]") {
  const std::string_view providers[] = {"claude", "gemini"};
  auto nf = ar::AuthNotFoundError("no auth available", providers, "m");
  CHECK(absl::IsNotFound(nf));
  CHECK(nf.message() == "auth_not_found: no auth available");
  auto e = ar::GetRoutingError(nf);
  REQUIRE(e);
  CHECK(e->http_status == 503);
  CHECK(e->body ==
        R"j({"error":{"message":"auth_not_found: no auth available (providers=claude,gemini, model=m)","type":"server_error","code":"internal_server_error"}})j");
  auto unknown = ar::GetRoutingError(ar::AuthUnavailableError({}, ""));
  CHECK(unknown->body.find("(providers=unknown, model=unknown)") != std::string::npos);
  auto ex = ar::ExecutorNotFoundError("codex");
  CHECK(absl::IsFailedPrecondition(ex));
  CHECK(ar::GetRoutingError(ex)->code == "executor_not_found");
  CHECK(ar::GetRoutingError(ex)->message == "executor not registered");
  CHECK_FALSE(ar::GetRoutingError(absl::OkStatus()));
  CHECK_FALSE(ar::GetRoutingError(absl::InternalError("other")));
}

TEST_CASE("Durations print as Go prints them", "[routing_error]") {
  CHECK(ar::FormatGoDuration(0) == "0s");
  CHECK(ar::FormatGoDuration(59) == "59s");
  CHECK(ar::FormatGoDuration(91) == "1m31s");
  CHECK(ar::FormatGoDuration(1800) == "30m0s");
  CHECK(ar::FormatGoDuration(7200) == "2h0m0s");
  CHECK(ar::FormatGoDuration(3723) == "1h2m3s");
}
