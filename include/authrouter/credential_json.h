// credential_json.h -- the JSON form of a credential: what the persistence interface stores and
// what the C ABI carries.
//
// The form is upstream's persisted `Auth` JSON: the same keys, times as RFC 3339 in
// UTC with trimmed fractional seconds, the zero time as "0001-01-01T00:00:00Z", maps with sorted
// keys, empty optional fields omitted. `metadata` is embedded verbatim. `index` and `file_name`
// are runtime fields and are not written.
//
// Example:
//   {"id":"claude-a.json","provider":"claude","status":"active","disabled":false,
//    "unavailable":false,"attributes":{"priority":"10"},"metadata":{"email":"a@example.com"},
//    "quota":{"exceeded":false,"next_recover_at":"0001-01-01T00:00:00Z"}, ...}
#ifndef AUTHROUTER_CREDENTIAL_JSON_H_
#define AUTHROUTER_CREDENTIAL_JSON_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "authrouter/credential.h"

namespace authrouter {
inline namespace v0 {

// kMaxCredentialJsonBytes is the largest credential JSON CredentialFromJson accepts (8 MiB).
inline constexpr size_t kMaxCredentialJsonBytes = size_t{8} << 20;

// CredentialToJson writes `credential` in its JSON form. Never fails: invalid UTF-8 in a string
// field (which Credential::Validate rejects) is written as U+FFFD per offending byte, and
// instants outside years 0000..9999 are clamped, so the output is always valid JSON.
std::string CredentialToJson(const Credential& credential);

// CredentialJsonOptions qualifies CredentialToJson.
struct CredentialJsonOptions {
  // Replace every secret (IsSecretKey: access, refresh and ID tokens, API keys, client secrets,
  // passwords, authorization headers), in the attributes and anywhere in the metadata, by
  // "[redacted]". For state views, logs and dumps; persistence writes the full form.
  bool redact_secrets = false;
};

// kRedacted is what a redacted secret reads as.
inline constexpr std::string_view kRedacted = "[redacted]";

// CredentialToJson with options.
std::string CredentialToJson(const Credential& credential, const CredentialJsonOptions& options);

// IsSecretKey reports whether an attribute or metadata key names a secret, compared ignoring
// ASCII case and the separators '_', '-', '.': names containing "token" (but not token_type,
// token_url, token_uri, token_encoding), "secret", "password", "passwd", "apikey", "cookie",
// "sessionkey", "privatekey", "credential", "bearer"; the names "key", "auth", "authorization",
// "signature"; and `header:` attributes whose name contains "auth", "key", "cookie", "token" or
// "secret". Every string under a secret key (in nested objects and arrays too) is redacted.
bool IsSecretKey(std::string_view key);

// RedactSecrets returns `credential` with its secrets replaced by kRedacted (see above).
Credential RedactSecrets(const Credential& credential);

// AppendCredentialJson appends the JSON form of `credential` to `*out`.
void AppendCredentialJson(const Credential& credential, std::string* out);

// CredentialFromJson parses the JSON form. Unknown keys are ignored (forward compatibility);
// `null` for any field means "unset". The result passes Credential::Validate.
//
// Returns InvalidArgumentError naming the offending field path (e.g.
// `model_states["gpt-5"].quota.backoff_level: expected an integer`) for malformed JSON, a
// non-object document, a wrong type, an out-of-range number, an unknown status string, an
// invalid time, or an input over kMaxCredentialJsonBytes. Values never appear in the message.
[[nodiscard]] absl::StatusOr<Credential> CredentialFromJson(std::string_view json);

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_CREDENTIAL_JSON_H_
