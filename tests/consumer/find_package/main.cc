// Uses the C++ core from an installed tree.
#include <cstdio>

#include "authrouter/credential.h"
#include "authrouter/credential_json.h"
#include "authrouter/model_key.h"

// authrouter's own build settings stay inside it (the simdjson one is for its translation units).
#ifdef SIMDJSON_DEVELOPMENT_CHECKS
#error "SIMDJSON_DEVELOPMENT_CHECKS reached a consumer of authrouter::core"
#endif

int main() {
  authrouter::Credential c;
  c.id = "auth-1";
  c.provider = "claude";
  if (c.EnsureIndex() != "757ac1a2f84e8694") return 1;
  auto parsed = authrouter::CredentialFromJson(authrouter::CredentialToJson(c));
  if (!parsed.ok() || parsed->id != "auth-1") return 2;
  if (authrouter::CanonicalModelKey("gpt-5.2(high)") != "gpt-5.2") return 3;
  std::puts("cpp consumer ok");
  return 0;
}
