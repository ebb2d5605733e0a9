// Checks shared by the libFuzzer targets. Each failed check aborts with a one-line reason on
// stderr, so libFuzzer reports the input as a crash.
#ifndef AUTHROUTER_TESTS_FUZZ_FUZZ_UTIL_H_
#define AUTHROUTER_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "authrouter/credential.h"
#include "authrouter/credential_json.h"

namespace authrouter::fuzz {

// The token the seed corpora put in secret fields ("access_token": "SECRET-MARKER-...").
inline constexpr std::string_view kMarker = "SECRET-MARKER";

// Message is a status's message as a std::string_view (absl's string_view may be its own type).
inline std::string_view Message(const absl::Status& status) {
  return std::string_view(status.message().data(), status.message().size());
}

[[noreturn]] inline void Fail(std::string_view what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz invariant violated: %.*s\n", static_cast<int>(what.size()),
               what.data());
  if (!detail.empty()) {
    std::fprintf(stderr, "  %.*s\n", static_cast<int>(detail.size()), detail.data());
  }
  std::abort();
}

inline void Check(bool ok, std::string_view what, std::string_view detail = {}) {
  if (!ok) Fail(what, detail);
}

// MarkerIsKey reports whether the occurrence of kMarker at `pos` in `input` lies in what reads as
// an object key: the next unescaped quote after it is followed by white space and ':'.
inline bool MarkerIsKey(std::string_view input, size_t pos) {
  size_t i = pos + kMarker.size();
  while (i < input.size() && input[i] != '"') i += input[i] == '\\' ? 2 : 1;
  if (i >= input.size()) return false;
  for (++i; i < input.size(); ++i) {
    const char c = input[i];
    if (c == ':') return true;
    if (c != ' ' && c != '\t' && c != '\r' && c != '\n') return false;
  }
  return false;
}

// MarkerOnlyInValues reports whether kMarker occurs in `input`, never where a key could be, and
// `input` has no \u escape (which could spell the marker in a key without writing it). Then an
// error message that names keys but never values cannot contain the marker. When `after` is
// given, only occurrences that start the string value of that key count ("client-secret").
inline bool MarkerOnlyInValues(std::string_view input, std::string_view after = {}) {
  if (input.find("\\u") != std::string_view::npos) return false;
  bool found = false;
  for (size_t pos = input.find(kMarker); pos != std::string_view::npos;
       pos = input.find(kMarker, pos + 1)) {
    if (MarkerIsKey(input, pos)) return false;
    if (after.empty()) {
      found = true;
      continue;
    }
    // Back over `"`, white space, ':', white space to the key `"<after>"`.
    size_t i = pos;
    if (i == 0 || input[--i] != '"') continue;
    const auto skip_ws = [&] {
      while (i > 0 && (input[i - 1] == ' ' || input[i - 1] == '\t' || input[i - 1] == '\r' ||
                       input[i - 1] == '\n')) {
        --i;
      }
    };
    skip_ws();
    if (i == 0 || input[--i] != ':') continue;
    skip_ws();
    const std::string key = std::string("\"").append(after).append("\"");
    if (i >= key.size() && input.substr(i - key.size(), key.size()) == key) found = true;
  }
  return found;
}

// CheckError: an error has a non-empty message, and quotes no value carrying the marker.
inline void CheckError(const absl::Status& status, std::string_view input,
                       std::string_view secret_key = {}) {
  Check(!status.ok(), "CheckError called with OK");
  Check(!Message(status).empty(), "an error with an empty message");
  if (Message(status).find(kMarker) != std::string_view::npos &&
      MarkerOnlyInValues(input, secret_key)) {
    Fail("an error message quotes a secret value", Message(status));
  }
}

// CheckCredentialJsonRoundTrip: `c` (which passes Validate) survives its JSON form unchanged
// (runtime fields aside), writes the same JSON again, and its redacted form parses, is stable
// under another redaction and hides the secrets of its attributes and top-level metadata.
inline void CheckCredentialJsonRoundTrip(const Credential& c) {
  const absl::Status valid = c.Validate();
  Check(valid.ok(), "a credential fails its own Validate", Message(valid));

  Credential expected = c;  // index and file_name are runtime fields, not in the JSON form
  expected.file_name.clear();
  expected.index.clear();
  expected.index_assigned = false;

  const std::string json = CredentialToJson(c);
  absl::StatusOr<Credential> again = CredentialFromJson(json);
  Check(again.ok(), "CredentialFromJson rejects CredentialToJson's output",
        again.ok() ? std::string_view() : Message(again.status()));
  Check(*again == expected, "the credential changed through its JSON form", json);
  const std::string json2 = CredentialToJson(*again);
  Check(json2 == json, "CredentialToJson differs after a round trip", json2);
  std::string appended = "x";
  AppendCredentialJson(c, &appended);
  Check(std::string_view(appended).substr(1) == json, "AppendCredentialJson differs");

  const std::string redacted = CredentialToJson(c, CredentialJsonOptions{.redact_secrets = true});
  Check(CredentialToJson(RedactSecrets(c)) == redacted, "RedactSecrets differs from the option");
  absl::StatusOr<Credential> parsed = CredentialFromJson(redacted);
  Check(parsed.ok(), "CredentialFromJson rejects the redacted form",
        parsed.ok() ? std::string_view() : Message(parsed.status()));
  Check(CredentialToJson(*parsed) == redacted, "the redacted form changes through JSON", redacted);
  Check(CredentialToJson(*parsed, CredentialJsonOptions{.redact_secrets = true}) == redacted,
        "redacting twice differs from once", redacted);
  for (const auto& [key, value] : parsed->attributes) {
    if (IsSecretKey(key) && !value.empty() && value != kRedacted) {
      Fail("a secret attribute survives redaction", key);
    }
  }
  for (std::string_view key : {"access_token", "refresh_token", "id_token", "api_key",
                               "client_secret", "password", "cookie", "session_key", "token"}) {
    const std::optional<std::string> v = parsed->metadata.GetString(key);
    if (v && !v->empty() && *v != kRedacted) Fail("a secret metadata key survives redaction", key);
  }
  Check(c.metadata.empty() == parsed->metadata.empty(), "redaction dropped the metadata");
}

}  // namespace authrouter::fuzz

#endif  // AUTHROUTER_TESTS_FUZZ_FUZZ_UTIL_H_
