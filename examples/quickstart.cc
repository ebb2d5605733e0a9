// quickstart: what authrouter can do so far.
//
// 1. Loads credentials in the persisted JSON form a gateway keeps on disk and shows the routing
//    properties authrouter derives from them (priority tier, weight, expiry, account kind, index).
// 2. Registers them with a Manager, says which models each serves, and picks: round-robin within
//    the best priority tier and across providers.
// 3. Reports upstream 429s: the result state machine cools the model down, the pick fails over to
//    the next tier, and finally returns the model_cooldown error a gateway answers its client
//    with (status, Retry-After, body). Time moves on and the pool recovers.
#include <cstdio>
#include <string>

#include "authrouter/authrouter.h"
#include "authrouter/clock.h"
#include "authrouter/credential.h"
#include "authrouter/credential_json.h"
#include "authrouter/manager.h"
#include "authrouter/model_key.h"
#include "authrouter/values.h"

namespace ar = authrouter;

namespace {

const char* const kFiles[] = {
    // OAuth accounts: tokens and expiry live in metadata, exactly as the auth file has them.
    R"({"id":"claude-alice.json","provider":"claude","status":"active",
        "attributes":{"priority":"10"},
        "metadata":{"type":"claude","email":"alice@example.com",
                    "access_token":"sk-ant-oat-SECRET","refresh_token":"sk-ant-ort-SECRET",
                    "expired":"2026-12-01T08:00:00+08:00","request_retry":2}})",
    R"({"id":"claude-bob.json","provider":"claude","status":"active",
        "attributes":{"priority":"10"},"metadata":{"type":"claude","email":"bob@example.com"}})",
    R"({"id":"claude-backup.json","provider":"claude","status":"active",
        "metadata":{"type":"claude","email":"backup@example.com"}})",
    // An API key from configuration, weighted 3 for weighted round-robin.
    R"({"id":"gemini:apikey:1","provider":"gemini","status":"active",
        "attributes":{"api_key":"AIza-SECRET","source":"config:gemini[1]","priority":"10",
                      "weight":"3"}})",
};

std::string Show(const absl::StatusOr<ar::PickResult>& pick) {
  if (pick.ok()) return pick->credential->id + " (" + std::string(pick->provider) + ")";
  const std::optional<ar::RoutingError> e = ar::GetRoutingError(pick.status());
  return e ? e->code : std::string(pick.status().message());
}

}  // namespace

int main() {
  std::printf("authrouter %s\n\n", authrouter_version_string());

  ar::ManualClock clock;  // a real gateway leaves ManagerOptions::clock unset (system clock)
  ar::ManagerOptions options;
  options.clock = &clock;
  std::unique_ptr<ar::Manager> manager = *ar::Manager::Create(options);

  std::printf("credentials:\n");
  for (const char* text : kFiles) {
    absl::StatusOr<ar::Credential> c = ar::CredentialFromJson(text);
    if (!c.ok()) {
      std::fprintf(stderr, "rejected: %s\n", std::string(c.status().message()).c_str());
      return 1;
    }
    const std::optional<absl::Time> expiry = c->Expiry();
    std::printf("  %-20s kind=%-8s priority=%-3lld weight=%lld expiry=%s\n", c->id.c_str(),
                c->GetAccountInfo().kind.c_str(), static_cast<long long>(c->Priority()),
                static_cast<long long>(c->Weight()),
                expiry ? ar::FormatRfc3339(*expiry).c_str() : "none");
    const std::string id = c->id;
    if (!manager->Register(*std::move(c)).ok()) return 1;
    manager->RegisterModels(id, {"claude-sonnet-4-5", "gemini-2.5-pro"});
  }

  std::printf("\nround-robin in the best tier (the priority-0 backup is not used):\n ");
  for (int i = 0; i < 4; ++i) {
    std::printf(" %s", Show(manager->Pick("claude", "claude-sonnet-4-5(16384)")).c_str());
  }

  std::printf("\n\nmixed providers, weighted by ready credentials:\n ");
  const std::string_view providers[] = {"claude", "gemini"};
  ar::PickRequest mixed;
  mixed.providers = providers;
  mixed.model = "gemini-2.5-pro";
  for (int i = 0; i < 3; ++i) std::printf(" %s", Show(manager->Pick(mixed)).c_str());

  // Upstream answers 429 with Retry-After: 90 for alice and bob: the backup tier takes over;
  // when it is rate-limited too, the client gets model_cooldown with Retry-After.
  for (const char* id : {"claude-alice.json", "claude-bob.json", "claude-backup.json"}) {
    ar::Result result;
    result.credential_id = id;
    result.model = "claude-sonnet-4-5(16384)";  // suffix variants share one cooldown
    result.http_status = 429;
    result.error_message = "rate_limit_error";
    result.retry_after = absl::Seconds(90);
    if (!manager->MarkResult(result).ok()) return 1;
    std::printf("\n\n%s got a 429 (Retry-After 90 s); pick: %s", id,
                Show(manager->Pick("claude", "claude-sonnet-4-5")).c_str());
  }
  const absl::StatusOr<ar::PickResult> cooling = manager->Pick("claude", "claude-sonnet-4-5");
  const std::optional<ar::RoutingError> e = ar::GetRoutingError(cooling.status());
  if (!e) return 1;
  std::printf("\n  HTTP %d, Retry-After: %lld\n  %s\n", e->http_status,
              static_cast<long long>(absl::ToInt64Seconds(*e->retry_after)), e->body.c_str());
  clock.Advance(absl::Seconds(90));
  std::printf("\n90 s later: %s\n", Show(manager->Pick("claude", "claude-sonnet-4-5")).c_str());

  // Bad input is rejected with a message that names the field and never the secret.
  absl::StatusOr<ar::Credential> bad =
      ar::CredentialFromJson(R"({"id":"x","attributes":{"weight":"sk-SECRET"}})");
  std::printf("\nbad input: %s\n", std::string(bad.status().message()).c_str());

  // Round trip: metadata comes back verbatim.
  absl::StatusOr<ar::Credential> alice = ar::CredentialFromJson(kFiles[0]);
  absl::StatusOr<ar::Credential> again = ar::CredentialFromJson(ar::CredentialToJson(*alice));
  const bool same = again.ok() && *again == *alice;
  std::printf("round trip unchanged: %s\n", same ? "yes" : "no");
  return same ? 0 : 1;
}
