// Merging a refresh's tokens into a credential's metadata (later fix D6).
#include <array>
#include <cstdlib>
#include <vector>

#include "authrouter/refresh.h"
#include "authrouter/values.h"
#include "internal/json_object.h"
#include "internal/json_writer.h"
#include "internal/strings.h"
#include "internal/unicode.h"

namespace authrouter {
inline namespace v0 {
namespace {

constexpr std::array<std::string_view, 6> kExpiryKeys = {"expired",   "expire", "expires_at",
                                                         "expiresAt", "expiry", "expires"};

bool IsNumber(std::string_view raw) {
  return !raw.empty() && (raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9'));
}

std::string JsonString(std::string_view s) {
  std::string out;
  internal::AppendJsonString(&out, s);
  return out;
}

}  // namespace

absl::StatusOr<Credential> ApplyTokenUpdate(const Credential& credential,
                                            const TokenUpdate& update, absl::Time now) {
  if (update.access_token.empty()) {
    return absl::InvalidArgumentError("token update without an access_token");
  }
  struct Field {
    std::string_view key;
    const std::string* value;
  };
  const Field strings[] = {
      {"access_token", &update.access_token},
      {"refresh_token", update.refresh_token ? &*update.refresh_token : nullptr},
      {"id_token", update.id_token ? &*update.id_token : nullptr},
      {"token_type", update.token_type ? &*update.token_type : nullptr},
  };
  for (const Field& f : strings) {
    if (f.value != nullptr && !internal::IsValidUtf8(*f.value)) {
      return absl::InvalidArgumentError(internal::Cat("token update: ", f.key, " is not valid UTF-8"));
    }
  }

  // The members to set, as (key, JSON text), in the order they are appended when new.
  std::vector<std::pair<std::string, std::string>> set;
  for (const Field& f : strings) {
    if (f.value != nullptr) set.emplace_back(std::string(f.key), JsonString(*f.value));
  }
  const std::string_view json = credential.metadata.json();
  std::string expiry_key;
  bool expiry_numeric = false;
  bool expiry_millis = false;
  bool has_last_refresh = false;
  internal::ForEachMember(json, [&](const internal::JsonMember& m) {
    for (std::string_view k : kExpiryKeys) {
      if (expiry_key.empty() && m.key == k) {
        expiry_key = m.key;
        expiry_numeric = IsNumber(m.value);
        if (expiry_numeric) {
          const double v = std::strtod(std::string(m.value).c_str(), nullptr);
          expiry_millis = v >= 1e12 || v <= -1e12;
        }
      }
    }
    if (m.key == "last_refresh") has_last_refresh = true;
  });
  if (update.expires_at) {
    std::string text;
    if (expiry_numeric) {
      text = std::to_string(expiry_millis ? absl::ToUnixMillis(*update.expires_at)
                                          : absl::ToUnixSeconds(*update.expires_at));
    } else {
      text = JsonString(FormatRfc3339(*update.expires_at));
    }
    set.emplace_back(expiry_key.empty() ? std::string("expired") : expiry_key, std::move(text));
  }
  if (has_last_refresh) set.emplace_back("last_refresh", JsonString(FormatRfc3339(now)));

  // Replaced members keep their place, everything else is copied verbatim (D6).
  const std::string out = internal::SetMembers(json, set);

  absl::StatusOr<Metadata> metadata = Metadata::Parse(out);
  if (!metadata.ok()) return metadata.status();
  Credential next = credential;
  next.metadata = *std::move(metadata);
  return next;
}

}  // namespace v0
}  // namespace authrouter
