// Merging a refresh's tokens into a credential's metadata (later fix D6).
#include <algorithm>
#include <array>
#include <cstdlib>
#include <vector>

#include "authrouter/refresh.h"
#include "authrouter/values.h"
#include "internal/json_object.h"
#include "internal/json_writer.h"
#include "internal/strings.h"
#include "internal/unicode.h"
#include "simdjson.h"

namespace authrouter {
inline namespace v0 {
namespace {

constexpr std::array<std::string_view, 6> kExpiryKeys = {"expired",   "expire", "expires_at",
                                                         "expiresAt", "expiry", "expires"};
constexpr std::array<std::string_view, 4> kLastRefreshKeys = {"last_refresh", "lastRefresh",
                                                              "last_refreshed_at", "lastRefreshedAt"};

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
  // Every top-level expiry key present gets the new expiry (keeping a numeric key numeric, in
  // its unit), so whichever key Metadata::expiry() reads first sees it; with none, `expired`.
  struct ExpiryKey {
    std::string key;
    bool numeric = false;
    bool millis = false;
  };
  std::vector<ExpiryKey> expiry_keys;
  std::vector<std::string> last_refresh_keys;
  internal::ForEachMember(json, [&](const internal::JsonMember& m) {
    for (std::string_view k : kExpiryKeys) {
      if (m.key != k) continue;
      if (std::any_of(expiry_keys.begin(), expiry_keys.end(),
                      [&](const ExpiryKey& e) { return e.key == m.key; })) {
        continue;
      }
      ExpiryKey e{m.key, IsNumber(m.value), false};
      if (e.numeric) {
        const double v = std::strtod(std::string(m.value).c_str(), nullptr);
        e.millis = v >= 1e12 || v <= -1e12;
      }
      expiry_keys.push_back(std::move(e));
    }
    for (std::string_view k : kLastRefreshKeys) {
      if (m.key == k && std::find(last_refresh_keys.begin(), last_refresh_keys.end(), m.key) ==
                            last_refresh_keys.end()) {
        last_refresh_keys.push_back(m.key);
      }
    }
  });
  if (update.expires_at) {
    if (expiry_keys.empty()) expiry_keys.push_back(ExpiryKey{"expired", false, false});
    for (const ExpiryKey& e : expiry_keys) {
      std::string text;
      if (e.numeric) {
        text = std::to_string(e.millis ? absl::ToUnixMillis(*update.expires_at)
                                       : absl::ToUnixSeconds(*update.expires_at));
      } else {
        text = JsonString(FormatRfc3339(*update.expires_at));
      }
      set.emplace_back(e.key, std::move(text));
    }
  }
  for (const std::string& k : last_refresh_keys) set.emplace_back(k, JsonString(FormatRfc3339(now)));


  // Replaced members keep their place, everything else is copied verbatim (D6).
  const std::string out = internal::SetMembers(json, set);

  absl::StatusOr<Metadata> metadata = Metadata::Parse(out);
  if (!metadata.ok()) return metadata.status();
  Credential next = credential;
  next.metadata = *std::move(metadata);
  return next;
}

std::string TokenUpdateToJson(const TokenUpdate& update) {
  std::string out;
  internal::JsonWriter w(&out);
  w.BeginObject();
  w.Key("access_token");
  w.String(update.access_token);
  if (update.refresh_token) {
    w.Key("refresh_token");
    w.String(*update.refresh_token);
  }
  if (update.expires_at) {
    w.Key("expires_at");
    w.String(absl::FormatTime(absl::RFC3339_full, *update.expires_at, absl::UTCTimeZone()));
  }
  if (update.id_token) {
    w.Key("id_token");
    w.String(*update.id_token);
  }
  if (update.token_type) {
    w.Key("token_type");
    w.String(*update.token_type);
  }
  w.EndObject();
  return out;
}

absl::StatusOr<TokenUpdate> TokenUpdateFromJson(std::string_view json, absl::Time now) {
  if (json.size() > (size_t{1} << 20)) return absl::InvalidArgumentError("the tokens are over 1 MiB");
  if (!internal::IsValidUtf8(json)) return absl::InvalidArgumentError("the tokens are not valid UTF-8");
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(json.data(), json.size()).get_object().get(o)) {
    return absl::InvalidArgumentError("the tokens are not a JSON object");
  }
  TokenUpdate u;
  std::string_view s;
  if (o["access_token"].get_string().get(s) || s.empty()) {
    return absl::InvalidArgumentError("the tokens have no access_token");
  }
  u.access_token = std::string(s);
  if (!o["refresh_token"].get_string().get(s) && !s.empty()) u.refresh_token = std::string(s);
  if (!o["id_token"].get_string().get(s) && !s.empty()) u.id_token = std::string(s);
  if (!o["token_type"].get_string().get(s) && !s.empty()) u.token_type = std::string(s);
  if (!o["expires_at"].get_string().get(s)) {
    if (std::optional<absl::Time> t = ParseTimeString(s)) u.expires_at = *t;
  }
  int64_t seconds = 0;
  if (!u.expires_at && !o["expires_in"].get_int64().get(seconds) && seconds > 0 &&
      seconds < int64_t{10} * 365 * 24 * 3600) {
    u.expires_at = now + absl::Seconds(seconds);
  }
  return u;
}

}  // namespace v0
}  // namespace authrouter
