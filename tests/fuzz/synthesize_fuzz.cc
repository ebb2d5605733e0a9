// libFuzzer target for auth-file synthesis (SynthesizeCredentials in file_store.h): the input is
// the content of one auth file. A rejected file must give a message that quotes none of its
// values; an accepted one yields credentials that pass Validate, carry the file's ID and survive
// the credential JSON form (full and redacted) unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/time/time.h"
#include "authrouter/credential_json.h"
#include "authrouter/file_store.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace authrouter;
  static const absl::Time now = absl::FromUnixSeconds(1'776'384'000);  // 2026-04-17
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::vector<Credential>> out =
      SynthesizeCredentials("/auth", "fuzz.json", input, now);
  if (!out.ok()) {
    fuzz::Check(out.status().code() == absl::StatusCode::kInvalidArgument,
                "SynthesizeCredentials failed with a code other than InvalidArgument");
    fuzz::Check(fuzz::Message(out.status()).starts_with("fuzz.json: "),
                "a synthesis error does not start with the file name", fuzz::Message(out.status()));
    fuzz::CheckError(out.status(), input);
    return 0;
  }
  fuzz::Check(!out->empty(), "SynthesizeCredentials returned no credential");
  const Credential& primary = out->front();
  fuzz::Check(primary.id == "fuzz.json" && primary.file_name == "fuzz.json",
              "the primary credential does not carry the file name");
  // The metadata is the file verbatim, without the white space around the object.
  const size_t first = input.find_first_not_of(" \t\r\n");
  const size_t last = input.find_last_not_of(" \t\r\n");
  fuzz::Check(first != std::string_view::npos &&
                  primary.metadata.json() == input.substr(first, last + 1 - first),
              "the metadata is not the file verbatim");
  fuzz::Check(!primary.provider.empty(), "a credential without a provider");
  fuzz::Check(primary.created_at == now && primary.updated_at == now, "creation time is not now");
  fuzz::Check(primary.Attribute("path") == "/auth/fuzz.json", "the path attribute is wrong");
  if (out->size() > 1) {
    fuzz::Check(primary.disabled && !primary.RuntimeOnly(), "a virtual primary is not disabled");
  }
  for (size_t i = 0; i < out->size(); ++i) {
    const Credential& c = (*out)[i];
    fuzz::CheckCredentialJsonRoundTrip(c);
    if (i > 0) {
      fuzz::Check(c.RuntimeOnly() && c.VirtualParent() == primary.id,
                  "a project credential is not a runtime-only child of the file");
      fuzz::Check(c.provider == primary.provider, "a project credential changed provider");
      for (size_t j = 0; j < i; ++j) {
        fuzz::Check((*out)[j].id != c.id, "two credentials of one file share an ID", c.id);
      }
    }
    (void)c.Priority();
    fuzz::Check(c.Weight() >= 0 && c.Weight() <= kMaxWeight, "Weight out of range");
    (void)c.WebsocketsEnabled();
    (void)c.PreferredRefreshInterval();
    (void)c.LastRefreshTime();
    (void)c.Expiry();
    (void)c.GetAccountInfo();
  }
  // Synthesis is a function of its input.
  absl::StatusOr<std::vector<Credential>> again =
      SynthesizeCredentials("/auth", "fuzz.json", input, now);
  fuzz::Check(again.ok() && *again == *out, "SynthesizeCredentials is not deterministic");
  return 0;
}
