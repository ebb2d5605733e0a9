// Redaction of secrets for state views (credential_json.h).
#include <string>

#include "authrouter/credential_json.h"
#include "internal/json_object.h"
#include "internal/strings.h"

namespace authrouter {
inline namespace v0 {
namespace {

bool Contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// RedactValue rewrites one JSON value: objects and arrays recursively; `secret` strings become
// "[redacted]"; everything else is copied byte for byte.
void RedactValue(std::string_view value, bool secret, std::string* out);

void RedactObject(std::string_view object, bool secret, std::string* out) {
  out->push_back('{');
  bool first = true;
  internal::ForEachMember(object, [&](const internal::JsonMember& m) {
    if (!first) out->push_back(',');
    first = false;
    out->append(m.raw_key);
    out->push_back(':');
    // Everything under a secret key is secret, however deep.
    RedactValue(m.value, secret || IsSecretKey(m.key), out);
  });
  out->push_back('}');
}

void RedactValue(std::string_view value, bool secret, std::string* out) {
  if (value.empty()) return;
  if (value.front() == '{') {
    RedactObject(value, secret, out);
  } else if (value.front() == '[') {
    out->push_back('[');
    bool first = true;
    internal::ForEachElement(value, [&](std::string_view e) {
      if (!first) out->push_back(',');
      first = false;
      RedactValue(e, secret, out);
    });
    out->push_back(']');
  } else if (secret && value.front() == '"') {
    internal::Append(out, "\"", kRedacted, "\"");
  } else {
    out->append(value);
  }
}

}  // namespace

bool IsSecretKey(std::string_view key) {
  std::string k = internal::AsciiLower(key);
  const bool header = k.starts_with("header:");
  if (header) k.erase(0, 7);
  // Compare without separators: "session-key", "session_key" and "sessionKey" are one name.
  std::string n;
  for (char c : k) {
    if (c != '_' && c != '-' && c != '.' && c != ' ') n.push_back(c);
  }
  if (header && (Contains(n, "auth") || Contains(n, "key") || Contains(n, "cookie") ||
                 Contains(n, "token") || Contains(n, "secret"))) {
    return true;
  }
  if (n == "tokentype" || n == "tokenurl" || n == "tokenuri" || n == "tokenencoding") return false;
  return Contains(n, "token") || Contains(n, "secret") || Contains(n, "password") ||
         Contains(n, "passwd") || Contains(n, "apikey") || Contains(n, "cookie") ||
         Contains(n, "sessionkey") || Contains(n, "privatekey") || Contains(n, "credential") ||
         Contains(n, "bearer") || n == "key" || n == "auth" || n == "authorization" ||
         n == "signature";
}

std::string RedactSecretsInJson(std::string_view object) {
  if (object.empty()) return std::string();
  std::string out;
  out.reserve(object.size());
  RedactValue(object, false, &out);
  return out;
}

Credential RedactSecrets(const Credential& credential) {
  Credential out = credential;
  for (auto& [key, value] : out.attributes) {
    if (IsSecretKey(key) && !value.empty()) value = std::string(kRedacted);
  }
  if (!out.metadata.empty()) {
    absl::StatusOr<Metadata> m = Metadata::Parse(RedactSecretsInJson(out.metadata.json()));
    out.metadata = m.ok() ? *std::move(m) : Metadata();
  }
  return out;
}

std::string CredentialToJson(const Credential& credential, const CredentialJsonOptions& options) {
  if (!options.redact_secrets) return CredentialToJson(credential);
  return CredentialToJson(RedactSecrets(credential));
}

}  // namespace v0
}  // namespace authrouter
