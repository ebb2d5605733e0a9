// The libcurl Transport and the OAuth2 refresher against a real HTTP server on 127.0.0.1.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "authrouter/manager.h"
#include "authrouter/refresh.h"
#include "authrouter/transport.h"
#include "support/http_server.h"
#include "support/memory_store.h"
#include "support/time_helpers.h"

namespace authrouter {
namespace {

using testing::TestHttpServer;
using testing::TestRequest;
using testing::TestResponse;
using testing::Utc;

std::shared_ptr<Transport> Curl(CurlTransportOptions o = {}) {
  auto t = NewCurlTransport(std::move(o));
  REQUIRE(t.ok());
  return *t;
}

std::string FormValue(const std::string& body, const std::string& key) {
  const std::string needle = key + "=";
  size_t pos = 0;
  while ((pos = body.find(needle, pos)) != std::string::npos) {
    if (pos == 0 || body[pos - 1] == '&') {
      const size_t end = body.find('&', pos);
      return body.substr(pos + needle.size(), end == std::string::npos ? end : end - pos - needle.size());
    }
    pos += needle.size();
  }
  return "<absent>";
}

Credential OAuthCredential(const std::string& metadata) {
  Credential c;
  c.id = "acct.json";
  c.provider = "claude";
  c.status = CredentialStatus::kActive;
  c.metadata = *Metadata::Parse(metadata);
  return c;
}

RefreshContext Context(absl::Duration timeout = absl::Seconds(10)) {
  RefreshContext ctx;
  ctx.timeout = timeout;
  ctx.now = Utc(2026, 4, 17);
  return ctx;
}

// A token endpoint that rotates refresh tokens: refresh token rN is exchanged for access token
// aN+1 and refresh token rN+1; any other refresh token is invalid_grant.
class RotatingEndpoint {
 public:
  TestResponse operator()(const TestRequest& r) {
    std::lock_guard<std::mutex> lock(mu_);
    const std::string presented = FormValue(r.body, "refresh_token");
    if (presented != "r" + std::to_string(generation_)) {
      return {400, R"({"error":"invalid_grant","error_description":"token )" + presented + R"( is stale"})"};
    }
    ++generation_;
    const std::string n = std::to_string(generation_);
    return {200, R"({"access_token":"a)" + n + R"(","refresh_token":"r)" + n +
                     R"(","expires_in":3600,"token_type":"Bearer"})"};
  }

 private:
  std::mutex mu_;
  int generation_ = 1;
};

TEST_CASE("OAuth2: a form refresh posts the grant and reads the answer", "[oauth2]") {
  TestHttpServer server([](const TestRequest& r) -> TestResponse {
    if (r.method != "POST" || r.target != "/token" ||
        r.Header("Content-Type") != "application/x-www-form-urlencoded") {
      return {404, "{}"};
    }
    return {200, R"({"access_token":"A2","refresh_token":"R2","expires_in":"3600",)"
                 R"("id_token":"I2","token_type":"Bearer","extra":1})"};
  });
  OAuth2RefresherOptions o;
  o.transport = Curl();
  o.profiles["claude"] = {server.Url(), "client-1", "", "user:inference", OAuth2Encoding::kForm};
  auto refresher = *NewOAuth2Refresher(o);
  absl::StatusOr<TokenUpdate> u =
      refresher->Refresh(OAuthCredential(R"({"refresh_token":"R1 +&="})"), Context());
  REQUIRE(u.ok());
  CHECK(u->access_token == "A2");
  CHECK(u->refresh_token == "R2");
  CHECK(u->id_token == "I2");
  CHECK(u->token_type == "Bearer");
  CHECK(u->expires_at == Utc(2026, 4, 17, 1));
  const auto received = server.Received();
  REQUIRE(received.size() == 1);
  const std::string& body = received[0].body;
  CHECK(FormValue(body, "grant_type") == "refresh_token");
  CHECK(FormValue(body, "refresh_token") == "R1+%2B%26%3D");  // form-encoded
  CHECK(FormValue(body, "client_id") == "client-1");
  CHECK(FormValue(body, "scope") == "user%3Ainference");
  CHECK(FormValue(body, "client_secret") == "<absent>");  // empty: not sent
  CHECK(received[0].Header("Accept") == "application/json");
}

TEST_CASE("OAuth2: JSON encoding, and metadata overriding the profile", "[oauth2]") {
  TestHttpServer server([](const TestRequest& r) -> TestResponse {
    if (r.target != "/override" || r.Header("Content-Type") != "application/json") return {404, "{}"};
    return {200, R"({"access_token":"J","expires_at":"2026-04-18T00:00:00Z"})"};
  });
  OAuth2RefresherOptions o;
  o.transport = Curl();
  o.profiles["claude"] = {"https://unused.invalid/token", "profile-client", "s3cret", "",
                          OAuth2Encoding::kForm};
  auto refresher = *NewOAuth2Refresher(o);
  const std::string md = R"({"refresh_token":"R","token_url":")" + server.Url("/override") +
                         R"(","client_id":"file-client","token_encoding":"json"})";
  absl::StatusOr<TokenUpdate> u = refresher->Refresh(OAuthCredential(md), Context());
  REQUIRE(u.ok());
  CHECK(u->access_token == "J");
  CHECK_FALSE(u->refresh_token.has_value());
  CHECK(u->expires_at == Utc(2026, 4, 18));
  const auto received = server.Received();
  REQUIRE(received.size() == 1);
  // The configured secret goes only to the configured endpoint, never to one a file names.
  CHECK(received[0].body ==
        R"({"grant_type":"refresh_token","refresh_token":"R","client_id":"file-client"})");
}

TEST_CASE("OAuth2: endpoint failures map to refresh outcomes without leaking secrets",
          "[oauth2]") {
  struct Case {
    int status;
    std::string body;
    absl::StatusCode code;
  };
  const Case c = GENERATE(Case{400, R"({"error":"invalid_grant"})", absl::StatusCode::kUnauthenticated},
                          Case{401, R"({"error":"invalid_token"})", absl::StatusCode::kUnauthenticated},
                          Case{401, "", absl::StatusCode::kUnauthenticated},
                          Case{401, R"({"error":"invalid_client"})", absl::StatusCode::kFailedPrecondition},
                          Case{400, R"({"error":"unauthorized_client"})", absl::StatusCode::kFailedPrecondition},
                          Case{400, R"({"error":"refresh-secret-abc","error_description":"client-secret-xyz"})",
                               absl::StatusCode::kFailedPrecondition},
                          Case{429, "slow down", absl::StatusCode::kResourceExhausted},
                          Case{500, "", absl::StatusCode::kUnavailable},
                          Case{503, "<html>", absl::StatusCode::kUnavailable},
                          Case{400, R"({"error":"invalid_scope"})", absl::StatusCode::kFailedPrecondition},
                          Case{403, "{}", absl::StatusCode::kFailedPrecondition},
                          Case{200, R"({"token_type":"Bearer"})", absl::StatusCode::kUnavailable},
                          Case{200, "not json", absl::StatusCode::kUnavailable});
  TestHttpServer server([&](const TestRequest&) { return TestResponse{c.status, c.body}; });
  OAuth2RefresherOptions o;
  o.transport = Curl();
  o.profiles["claude"] = {server.Url(), "cid", "client-secret-xyz", "", OAuth2Encoding::kForm};
  auto refresher = *NewOAuth2Refresher(o);
  absl::StatusOr<TokenUpdate> u =
      refresher->Refresh(OAuthCredential(R"({"refresh_token":"refresh-secret-abc"})"), Context());
  REQUIRE_FALSE(u.ok());
  CHECK(u.status().code() == c.code);
  const std::string message(u.status().message());
  CHECK(message.find("refresh-secret-abc") == std::string::npos);
  CHECK(message.find("client-secret-xyz") == std::string::npos);
  if (c.status != 200) CHECK(message.find(std::to_string(c.status)) != std::string::npos);
}

TEST_CASE("OAuth2: a stalled endpoint ends at the refresh timeout (D5)", "[oauth2]") {
  TestHttpServer server([](const TestRequest&) {
    TestResponse r{200, R"({"access_token":"late"})"};
    r.stall = true;
    return r;
  });
  OAuth2RefresherOptions o;
  o.transport = Curl();
  o.profiles["claude"] = {server.Url(), "", "", "", OAuth2Encoding::kForm};
  auto refresher = *NewOAuth2Refresher(o);
  const absl::Time start = absl::Now();
  absl::StatusOr<TokenUpdate> u = refresher->Refresh(OAuthCredential(R"({"refresh_token":"R"})"),
                                                     Context(absl::Milliseconds(300)));
  const absl::Duration took = absl::Now() - start;
  CHECK(u.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(took >= absl::Milliseconds(250));
  CHECK(took < absl::Seconds(5));
  server.Release();
}

TEST_CASE("OAuth2: missing endpoint or refresh token is a precondition failure", "[oauth2]") {
  OAuth2RefresherOptions o;
  o.transport = Curl();
  auto refresher = *NewOAuth2Refresher(o);
  CHECK(refresher->Refresh(OAuthCredential(R"({"refresh_token":"R"})"), Context()).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  o.profiles["claude"] = {"http://127.0.0.1:1/token", "", "", "", OAuth2Encoding::kForm};
  refresher = *NewOAuth2Refresher(o);
  CHECK(refresher->Refresh(OAuthCredential(R"({"email":"x"})"), Context()).status().code() ==
        absl::StatusCode::kFailedPrecondition);
  CHECK(refresher->Refresh(OAuthCredential(R"({"refresh_token":"R","token_encoding":"xml"})"),
                           Context())
            .status()
            .code() == absl::StatusCode::kFailedPrecondition);
  // A file naming a plain-http endpoint elsewhere is refused (it could collect tokens).
  absl::Status remote = refresher
                            ->Refresh(OAuthCredential(R"({"refresh_token":"R","token_url":"http://evil.example/t"})"),
                                      Context())
                            .status();
  CHECK(remote.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(remote.message()).find("https") != std::string::npos);
  // Bad profiles are rejected up front.
  OAuth2RefresherOptions bad;
  bad.profiles["Claude"] = {"https://x/token", "", "", "", OAuth2Encoding::kForm};
  CHECK(NewOAuth2Refresher(bad).status().code() == absl::StatusCode::kInvalidArgument);
  bad.profiles.clear();
  bad.profiles["claude"] = {"ftp://x/token", "", "", "", OAuth2Encoding::kForm};
  CHECK(NewOAuth2Refresher(bad).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ParseOAuth2Encoding(" JSON ").value() == OAuth2Encoding::kJson);
  CHECK_FALSE(ParseOAuth2Encoding("multipart").ok());
}

TEST_CASE("OAuth2 through the Manager: rotated tokens are saved and used next time", "[oauth2]") {
  RotatingEndpoint endpoint;
  TestHttpServer server([&](const TestRequest& r) { return endpoint(r); });
  OAuth2RefresherOptions oo;
  oo.transport = Curl();
  oo.profiles["claude"] = {server.Url(), "cid", "", "", OAuth2Encoding::kForm};
  auto store = std::make_shared<testing::MemoryStore>();
  ManualClock clock(Utc(2026, 4, 17));
  ManagerOptions mo;
  mo.clock = &clock;
  mo.store = store;
  mo.refresh.refreshers["claude"] = *NewOAuth2Refresher(oo);
  auto manager = *Manager::Create(std::move(mo));
  REQUIRE(manager
              ->Register(OAuthCredential(R"({"email":"me@x","refresh_token":"r1","note":"mine",)"
                                         R"("expired":"2026-04-17T00:30:00Z"})"))
              .ok());
  CHECK(manager->RunDueRefreshes(clock.Now()) == 1);
  auto c = manager->Get("acct.json");
  CHECK(c->metadata.GetString("access_token") == "a2");
  CHECK(c->metadata.GetString("refresh_token") == "r2");
  CHECK(c->metadata.GetString("note") == "mine");
  CHECK(c->Expiry() == clock.Now() + absl::Hours(1));
  CHECK(store->Files().at("acct.json").find(R"("refresh_token":"r2")") != std::string::npos);

  clock.Advance(absl::Hours(1));  // within the 4 h lead again
  CHECK(manager->RunDueRefreshes(clock.Now()) == 1);
  CHECK(manager->Get("acct.json")->metadata.GetString("refresh_token") == "r3");
  CHECK(server.requests() == 2);

  // A stale token (someone else rotated it): invalid_grant marks the credential unauthorized (D2).
  Credential stale = *manager->Get("acct.json");
  stale.metadata = *Metadata::Parse(R"({"email":"me@x","refresh_token":"r1"})");
  REQUIRE(manager->Update(stale).ok());
  absl::StatusOr<std::shared_ptr<const Credential>> r = manager->Refresh("acct.json");
  CHECK(r.status().code() == absl::StatusCode::kUnauthenticated);
  CHECK(manager->Get("acct.json")->last_error->code == kDeadRefreshTokenCode);
  CHECK(manager->Get("acct.json")->last_error->message.find("invalid_grant") != std::string::npos);
}

TEST_CASE("Transport: responses, headers, errors and limits", "[transport]") {
  TestHttpServer server([](const TestRequest& r) -> TestResponse {
    if (r.target == "/big") return {200, std::string(4096, 'x')};
    if (r.target == "/echo") {
      TestResponse out{201, r.method + " " + r.body};
      out.headers.emplace_back("X-Trace", r.Header("X-Trace"));
      out.headers.emplace_back("X-UA", r.Header("User-Agent"));
      return out;
    }
    return {404, "nope"};
  });
  CurlTransportOptions co;
  co.max_response_bytes = 1024;
  auto transport = Curl(co);
  HttpRequest req;
  req.url = server.Url("/echo");
  req.body = "hello";
  req.headers.emplace_back("X-Trace", "t-1");
  absl::StatusOr<HttpResponse> r = transport->Send(req);
  REQUIRE(r.ok());
  CHECK(r->status == 201);
  CHECK(r->body == "POST hello");
  CHECK(r->Header("x-trace") == "t-1");
  CHECK(r->Header("X-UA") == "authrouter");
  CHECK(r->Header("missing").empty());

  req.url = server.Url("/missing");
  CHECK(transport->Send(req)->status == 404);  // a status is a response, not an error
  req.url = server.Url("/big");
  CHECK(transport->Send(req).status().code() == absl::StatusCode::kResourceExhausted);
  req.url = "ftp://127.0.0.1/x";
  CHECK(transport->Send(req).status().code() == absl::StatusCode::kInvalidArgument);
  req.url = server.Url("/echo");
  req.timeout = absl::ZeroDuration();
  CHECK(transport->Send(req).status().code() == absl::StatusCode::kInvalidArgument);
  req.timeout = absl::Seconds(5);
  req.url = "http://127.0.0.1:1/refused";
  absl::Status refused = transport->Send(req).status();
  CHECK(refused.code() == absl::StatusCode::kUnavailable);

  CurlTransportOptions bad;
  bad.max_response_bytes = 0;
  CHECK(NewCurlTransport(bad).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("Transport: the per-call proxy is used, and never named in errors", "[transport]") {
  // The test server plays the proxy: a proxied plain-HTTP request arrives in absolute form.
  TestHttpServer proxy([](const TestRequest& r) -> TestResponse {
    return {200, "via proxy: " + r.target};
  });
  auto transport = Curl();
  HttpRequest req;
  req.method = "GET";
  req.url = "http://token.example.test/oauth/token";
  req.proxy_url = "http://127.0.0.1:" + std::to_string(proxy.port());
  absl::StatusOr<HttpResponse> r = transport->Send(req);
  REQUIRE(r.ok());
  CHECK(r->body == "via proxy: http://token.example.test/oauth/token");

  req.proxy_url = "http://user:proxy-password@127.0.0.1:1";
  absl::Status s = transport->Send(req).status();
  CHECK(s.code() == absl::StatusCode::kUnavailable);
  CHECK(std::string(s.message()).find("proxy-password") == std::string::npos);
}

TEST_CASE("Transport: safe from many threads at once", "[transport]") {
  std::atomic<int> seen{0};
  TestHttpServer server([&](const TestRequest& r) -> TestResponse {
    seen.fetch_add(1);
    return {200, r.body};
  });
  auto transport = Curl();
  constexpr int kThreads = 8, kEach = 10;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        HttpRequest req;
        req.url = server.Url("/x");
        req.body = std::to_string(t * 100 + i);
        absl::StatusOr<HttpResponse> r = transport->Send(req);
        if (r.ok() && r->status == 200 && r->body == req.body) ok.fetch_add(1);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(ok.load() == kThreads * kEach);
  CHECK(seen.load() == kThreads * kEach);
}

}  // namespace
}  // namespace authrouter
