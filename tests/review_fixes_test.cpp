// Fixes from the adversarial review: token URLs parsed as libcurl parses them, header injection
// through auth files, duplicate keys in auth files.
#include <catch2/catch.hpp>

#include <atomic>

#include "authrouter/config.h"
#include "authrouter/file_store.h"
#include "authrouter/refresh.h"
#include "authrouter/transport.h"
#include "support/manager_fixture.h"

namespace authrouter {
namespace {

// NeverTransport fails the test when a refresh reaches the network.
class NeverTransport final : public Transport {
 public:
  absl::StatusOr<HttpResponse> Send(const HttpRequest& request) override {
    ++calls;
    last_url = request.url;
    return absl::UnavailableError("not here");
  }
  std::atomic<int> calls{0};
  std::string last_url;
};

Credential WithMetadata(const std::string& metadata) {
  Credential c;
  c.id = "acct.json";
  c.provider = "claude";
  c.status = CredentialStatus::kActive;
  c.metadata = *Metadata::Parse(metadata);
  return c;
}

TEST_CASE("Token URLs are parsed as libcurl parses them: no userinfo, http only to loopback",
          "[review][oauth2]") {
  auto transport = std::make_shared<NeverTransport>();
  OAuth2RefresherOptions o;
  o.transport = transport;
  auto refresher = *NewOAuth2Refresher(o);
  RefreshContext ctx;
  ctx.timeout = absl::Seconds(1);
  ctx.now = absl::FromUnixSeconds(1'800'000'000);
  for (const char* url : {"http://localhost:1@evil.example/", "http://127.0.0.1@evil.example/t",
                          "http://[::1]:80@evil.example/", "https://user:pw@auth.example/t",
                          "http://evil.example/t", "http://localhost.evil.example/t", "ftp://localhost/t",
                          "https://", "not a url", "http://127.0.0.1 /t"}) {
    INFO(url);
    const absl::Status s =
        refresher->Refresh(WithMetadata(std::string(R"({"refresh_token":"R","token_url":")") + url + "\"}"), ctx)
            .status();
    CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
    CHECK(std::string(s.message()).find("evil") == std::string::npos);  // the URL is not quoted
  }
  CHECK(transport->calls == 0);  // the refresh token never left
  // Loopback http and https anywhere are fine (and reach the transport).
  for (const char* url : {"http://127.0.0.1:9/t", "http://localhost/t", "http://[::1]:9/t",
                          "https://auth.example/oauth/token"}) {
    INFO(url);
    (void)refresher->Refresh(WithMetadata(std::string(R"({"refresh_token":"R","token_url":")") + url + "\"}"), ctx);
  }
  CHECK(transport->calls == 4);
}

TEST_CASE("Token URLs from the config follow the same rule", "[review][config]") {
  for (const char* url : {"http://auth.example/token", "http://localhost:1@evil.example/",
                          "https://user@auth.example/t", "ftp://x"}) {
    INFO(url);
    absl::StatusOr<Config> c =
        ParseConfig(std::string(R"({"refresh-profiles":{"claude":{"token-url":")") + url + "\"}}}");
    REQUIRE_FALSE(c.ok());
    CHECK(std::string(c.status().message()).starts_with("refresh-profiles.claude.token-url: "));
  }
  CHECK(ParseConfig(R"({"refresh-profiles":{"claude":{"token-url":"http://127.0.0.1:8080/t"}}})").ok());
  OAuth2RefresherOptions o;
  o.transport = std::make_shared<NeverTransport>();
  o.profiles["claude"] = {"http://localhost:1@evil.example/", "", "", "", OAuth2Encoding::kForm};
  CHECK(NewOAuth2Refresher(o).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Auth files with CR or LF in headers are rejected, as are such records", "[review][file_store]") {
  for (const char* file : {R"({"type":"claude","headers":{"X-A":"v\r\nX-Evil: 1"}})",
                           R"({"type":"claude","headers":{"X-A\nX-Evil":"v"}})",
                           R"({"type":"claude","headers":{"X-A":"v\u0000"}})"}) {
    INFO(file);
    absl::StatusOr<std::vector<Credential>> c = SynthesizeCredentials("/a", "x.json", file, absl::UnixEpoch());
    REQUIRE_FALSE(c.ok());
    CHECK(std::string(c.status().message()).find("CR, LF or NUL") != std::string::npos);
  }
  CHECK(SynthesizeCredentials("/a", "x.json", R"({"type":"claude","headers":{"X-A":"v"}})",
                              absl::UnixEpoch())
            .ok());
  Credential c;
  c.id = "a";
  c.provider = "claude";
  c.attributes["header:X-A"] = "v\r\nX-Evil: 1";
  CHECK(absl::IsInvalidArgument(c.Validate()));
  c.attributes.clear();
  c.attributes["header:X-A\r\nX-Evil"] = "v";
  CHECK(absl::IsInvalidArgument(c.Validate()));
}

TEST_CASE("Auth files with a key given twice are rejected with the key's path", "[review][file_store]") {
  const auto error = [](const char* file) {
    absl::StatusOr<std::vector<Credential>> c = SynthesizeCredentials("/a", "x.json", file, absl::UnixEpoch());
    REQUIRE_FALSE(c.ok());
    return std::string(c.status().message());
  };
  CHECK(error(R"({"type":"claude","disabled":false,"disabled":true})") ==
        "x.json: disabled: the key appears twice (which one counts is ambiguous)");
  CHECK(error(R"({"type":"claude","token":{"access_token":"a","access_token":"b"}})")
            .starts_with("x.json: token.access_token: the key appears twice"));
  CHECK(error(R"({"type":"claude","list":[{},{"k":1,"k":2}]})").starts_with("x.json: list[1].k: "));
  // At any depth the parser accepts (deeper than 64 levels was not checked).
  std::string deep = R"({"type":"claude","d":)";
  for (int i = 0; i < 200; ++i) deep += R"({"n":)";
  deep += R"({"k":1,"k":2})";
  for (int i = 0; i < 200; ++i) deep += "}";
  deep += "}";
  CHECK(error(deep.c_str()).find(".k: the key appears twice") != std::string::npos);
  // The same key in different objects is fine.
  CHECK(SynthesizeCredentials("/a", "x.json", R"({"type":"claude","a":{"k":1},"b":{"k":2}})",
                              absl::UnixEpoch())
            .ok());
}

}  // namespace
}  // namespace authrouter

namespace authrouter {
namespace {

TEST_CASE("A cooling model does not make a credential serving other models unavailable",
          "[review][result]") {
  testing::ManagerFixture f;
  f.Add({.id = "a", .models = {"m1", "m2"}});
  const auto mark = [&](std::string_view model, int status, std::optional<absl::Duration> ra = {}) {
    Result r;
    r.credential_id = "a";
    r.model = model;
    r.success = status == 200;
    r.http_status = status;
    r.retry_after = ra;
    REQUIRE(f.manager->MarkResult(r).ok());
  };
  mark("m1", 429, absl::Seconds(60));
  CHECK_FALSE(f.manager->Get("a")->unavailable);
  mark("m2", 200);
  mark("m1", 500);
  auto a = f.manager->Get("a");
  CHECK_FALSE(a->unavailable);  // m2 is still served and healthy
  CHECK(f.PickId("claude", "") == "a");
  CHECK(f.PickId("claude", "m2") == "a");
  CHECK(f.PickId("claude", "m1") == "<model_cooldown>");
  // Further successes on m2 change nothing: no flapping with the order of results.
  mark("m2", 200);
  mark("m2", 200);
  CHECK(f.manager->Get("a") == a);
  // When every served model cools, the credential does.
  mark("m2", 429, absl::Seconds(30));
  CHECK(f.manager->Get("a")->unavailable);
  CHECK(f.PickId("claude", "") != "a");
}

}  // namespace
}  // namespace authrouter
