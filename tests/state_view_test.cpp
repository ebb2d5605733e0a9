// Manager::StateView: the redacted view of the pool, through the public API.
#include <catch2/catch.hpp>

#include <string>

#include "authrouter/manager.h"
#include "simdjson.h"
#include "support/manager_fixture.h"

using authrouter::testing::CoolingState;
using authrouter::testing::ManagerFixture;
namespace ar = authrouter;

namespace {

// Secrets planted everywhere a credential can carry one; none may reach the view.
constexpr const char* kSecrets[] = {"sk-ant-oat01-PLANTED-ACCESS", "rt-PLANTED-REFRESH",
                                    "sk-PLANTED-API-KEY", "PLANTED-PROXY-PASSWORD",
                                    "PLANTED-UPSTREAM-ECHO", "PLANTED-STATUS-MESSAGE",
                                    "planted-owner@example.com"};

ar::Credential WithSecrets(ManagerFixture& f, std::string id) {
  ar::Credential c = f.Make({.id = std::move(id)});
  c.metadata = *ar::Metadata::Parse(
      R"({"type":"claude","email":"planted-owner@example.com","access_token":"sk-ant-oat01-PLANTED-ACCESS",)"
      R"("refresh_token":"rt-PLANTED-REFRESH","expired":"2026-04-17T06:00:00Z"})");
  c.attributes["note_api_key"] = "sk-PLANTED-API-KEY";
  c.proxy_url = "http://user:PLANTED-PROXY-PASSWORD@proxy:8080";
  c.status_message = "PLANTED-STATUS-MESSAGE";
  return c;
}

simdjson::dom::element Find(simdjson::dom::element view, std::string_view id) {
  for (simdjson::dom::element c : view["credentials"].get_array()) {
    if (std::string_view(c["id"].get_string()) == id) return c;
  }
  FAIL("no credential " << id);
  return {};
}

}  // namespace

TEST_CASE("The state view shows each credential's state and never a secret", "[state_view]") {
  ManagerFixture f;
  f.AddCredential(WithSecrets(f, "a-ready"));
  f.Add({.id = "b-disabled"});
  REQUIRE(f.manager->SetDisabled("b-disabled", true).ok());
  {
    ar::Credential c = WithSecrets(f, "c-quota");
    c.attributes["priority"] = "5";
    c.attributes["weight"] = "3";
    c.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(30), /*quota=*/true);
    c.model_states["m"].quota.backoff_level = 2;
    f.AddCredential(std::move(c));
  }
  f.AddCredential(WithSecrets(f, "d-unauthorized"));
  ar::Result r401;
  r401.credential_id = "d-unauthorized";
  r401.model = "m";
  r401.http_status = 401;
  r401.error_message = "PLANTED-UPSTREAM-ECHO sk-ant-oat01-PLANTED-ACCESS";
  REQUIRE(f.manager->MarkResult(r401).ok());
  {
    ar::Credential c = f.Make({.id = "e-error"});
    c.status = ar::CredentialStatus::kError;
    f.AddCredential(std::move(c), {});
  }

  const std::string json = f.manager->StateView();
  for (const char* secret : kSecrets) {
    INFO(secret);
    CHECK(json.find(secret) == std::string::npos);
  }
  simdjson::dom::parser parser;
  simdjson::dom::element view;
  REQUIRE(parser.parse(json).get(view) == simdjson::SUCCESS);
  CHECK(std::string_view(view["now"].get_string()) == "2026-04-17T00:00:00Z");
  REQUIRE(view["credentials"].get_array().size() == 5);

  const auto a = Find(view, "a-ready");
  CHECK(std::string_view(a["state"].get_string()) == "ready");
  CHECK(std::string_view(a["provider"].get_string()) == "claude");
  CHECK(std::string_view(a["account_kind"].get_string()) == "oauth");
  CHECK(std::string_view(a["token_expires_at"].get_string()) == "2026-04-17T06:00:00Z");
  CHECK(std::string_view(a["models"]["source"].get_string()) == "host");
  CHECK(a["models"]["served"].get_array().size() == 1);
  CHECK(int64_t(a["sessions"].get_int64()) == 0);

  CHECK(std::string_view(Find(view, "b-disabled")["state"].get_string()) == "disabled");
  CHECK(bool(Find(view, "b-disabled")["disabled"].get_bool()));

  const auto c = Find(view, "c-quota");
  CHECK(std::string_view(c["state"].get_string()) == "cooling");
  CHECK(int64_t(c["priority"].get_int64()) == 5);
  CHECK(int64_t(c["weight"].get_int64()) == 3);
  const auto cm = c["model_states"].at(0);
  CHECK(std::string_view(cm["model"].get_string()) == "m");
  CHECK(bool(cm["cooling"].get_bool()));
  CHECK(std::string_view(cm["cooling_until"].get_string()) == "2026-04-17T00:30:00Z");
  CHECK(std::string_view(cm["cause"].get_string()) == "quota");
  CHECK(bool(cm["quota"]["exceeded"].get_bool()));
  CHECK(int64_t(cm["quota"]["backoff_level"].get_int64()) == 2);

  const auto d = Find(view, "d-unauthorized");
  CHECK(std::string_view(d["state"].get_string()) == "cooling");
  const auto dm = d["model_states"].at(0);
  CHECK(bool(dm["cooling"].get_bool()));
  CHECK(std::string_view(dm["cause"].get_string()) == "unauthorized");
  CHECK(int64_t(dm["last_error"]["http_status"].get_int64()) == 401);
  CHECK(std::string_view(dm["last_error"]["code"].get_string()).find("PLANTED") == std::string_view::npos);
  simdjson::dom::element message;
  CHECK(dm["last_error"]["message"].get(message) == simdjson::NO_SUCH_FIELD);

  const auto e = Find(view, "e-error");
  CHECK(std::string_view(e["state"].get_string()) == "error");
  simdjson::dom::element models;
  CHECK(e["models"].get(models) == simdjson::NO_SUCH_FIELD);  // none registered

  // The cooldowns end: the view follows the clock.
  f.clock.Advance(absl::Hours(1));
  REQUIRE(parser.parse(f.manager->StateView()).get(view) == simdjson::SUCCESS);
  CHECK(std::string_view(Find(view, "c-quota")["state"].get_string()) != "cooling");
  CHECK(!bool(Find(view, "c-quota")["model_states"].at(0)["cooling"].get_bool()));
}

TEST_CASE("The state view counts the sessions bound to each credential", "[state_view]") {
  ar::ManagerOptions options;
  options.session_affinity = true;
  options.session_placement = ar::SessionPlacement::kStrategy;  // new conversations rotate
  ManagerFixture f(std::move(options));
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  constexpr std::string_view kClaude = "claude";
  for (int i = 0; i < 5; ++i) {
    const std::string session = "session-" + std::to_string(i);
    const ar::HttpHeader headers[] = {{"X-Session-ID", session}};
    ar::PickRequest r;
    r.providers = {&kClaude, 1};
    r.model = "m";
    r.headers = headers;
    REQUIRE(f.manager->Pick(r).ok());
  }
  simdjson::dom::parser parser;
  simdjson::dom::element view;
  REQUIRE(parser.parse(f.manager->StateView()).get(view) == simdjson::SUCCESS);
  const int64_t a = Find(view, "a")["sessions"].get_int64();
  const int64_t b = Find(view, "b")["sessions"].get_int64();
  CHECK(a + b == 5);
  CHECK(a == 3);  // round-robin: a, b, a, b, a
}
