// libFuzzer target for the credential JSON form (credential_json.h). The input is a credential
// JSON document. A rejected input must give a message that quotes no value; an accepted one must
// pass Validate and survive CredentialToJson (full and redacted) and CredentialFromJson unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "authrouter/credential_json.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace authrouter;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<Credential> c = CredentialFromJson(input);
  if (!c.ok()) {
    fuzz::Check(c.status().code() == absl::StatusCode::kInvalidArgument,
                "CredentialFromJson failed with a code other than InvalidArgument");
    fuzz::CheckError(c.status(), input);
    return 0;
  }
  fuzz::Check(c->file_name.empty() && c->index.empty() && !c->index_assigned,
              "CredentialFromJson set a runtime field");
  fuzz::CheckCredentialJsonRoundTrip(*c);
  // The accessors that parse attributes and metadata.
  (void)c->Priority();
  fuzz::Check(c->Weight() >= 0 && c->Weight() <= kMaxWeight, "Weight out of range");
  (void)c->WebsocketsEnabled();
  (void)c->PreferredRefreshInterval();
  (void)c->LastRefreshTime();
  (void)c->GetAccountInfo();
  Credential indexed = *c;
  const std::string& index = indexed.EnsureIndex();
  fuzz::Check(index.empty() == indexed.IndexSeed().empty(), "EnsureIndex disagrees with IndexSeed");
  fuzz::Check(index.empty() || index.size() == 16, "a stable index is not 16 characters");
  return 0;
}
