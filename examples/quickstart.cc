// quickstart: what authrouter can do so far.
//
// Loads two credentials in the persisted JSON form a gateway keeps on disk, shows the routing
// properties authrouter derives from them (priority tier, weight, token expiry, account kind,
// stable index), folds request models to their canonical routing keys, and writes a credential
// back byte-for-byte with its metadata intact.
#include <cstdio>
#include <string>

#include "authrouter/authrouter.h"
#include "authrouter/credential.h"
#include "authrouter/credential_json.h"
#include "authrouter/model_key.h"
#include "authrouter/values.h"

namespace ar = authrouter;

int main() {
  std::printf("authrouter %s\n\n", authrouter_version_string());

  const char* files[] = {
      // An OAuth account: its tokens and expiry live in metadata, exactly as the auth file has them.
      R"({"id":"claude-alice.json","provider":"claude","status":"active",
          "attributes":{"priority":"10","weight":"3"},
          "metadata":{"type":"claude","email":"alice@example.com",
                      "access_token":"sk-ant-oat-SECRET","refresh_token":"sk-ant-ort-SECRET",
                      "expired":"2026-12-01T08:00:00+08:00","request_retry":2}})",
      // An API key from configuration.
      R"({"id":"gemini:apikey:1","provider":"gemini","status":"active",
          "attributes":{"api_key":"AIza-SECRET","source":"config:gemini[1]","priority":"0"}})",
  };

  for (const char* text : files) {
    absl::StatusOr<ar::Credential> c = ar::CredentialFromJson(text);
    if (!c.ok()) {
      std::fprintf(stderr, "rejected: %s\n", std::string(c.status().message()).c_str());
      return 1;
    }
    const ar::AccountInfo account = c->GetAccountInfo();
    const std::optional<absl::Time> expiry = c->Expiry();
    std::printf("%-20s provider=%-7s kind=%-8s priority=%-3lld weight=%lld index=%s\n",
                c->id.c_str(), c->provider.c_str(), account.kind.c_str(),
                static_cast<long long>(c->Priority()), static_cast<long long>(c->Weight()),
                c->EnsureIndex().c_str());
    std::printf("%-20s expiry=%s request_retry=%lld (global 0)\n", "",
                expiry ? ar::FormatRfc3339(*expiry).c_str() : "none",
                static_cast<long long>(c->RequestRetry(0)));
  }

  std::printf("\ncanonical model keys:\n");
  for (const char* model : {"claude-sonnet-4-5(16384)", "gpt-5.2(high)", "  gemini-2.5-pro "}) {
    std::printf("  %-28s -> %.*s\n", model,
                static_cast<int>(ar::CanonicalModelKey(model).size()),
                ar::CanonicalModelKey(model).data());
  }

  // Bad input is rejected with a message that names the field and never the secret.
  absl::StatusOr<ar::Credential> bad =
      ar::CredentialFromJson(R"({"id":"x","attributes":{"weight":"sk-SECRET"}})");
  std::printf("\nbad input: %s\n", std::string(bad.status().message()).c_str());

  // Round trip: metadata comes back verbatim.
  absl::StatusOr<ar::Credential> alice = ar::CredentialFromJson(files[0]);
  absl::StatusOr<ar::Credential> again = ar::CredentialFromJson(ar::CredentialToJson(*alice));
  std::printf("round trip unchanged: %s\n", again.ok() && *again == *alice ? "yes" : "no");
  return again.ok() && *again == *alice ? 0 : 1;
}
