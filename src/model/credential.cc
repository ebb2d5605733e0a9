#include "authrouter/credential.h"

#include <algorithm>

#include <array>

#include "internal/strings.h"
#include "internal/strings.h"
#include "internal/json_writer.h"
#include "internal/sha256.h"
#include "internal/unicode.h"

namespace authrouter {
inline namespace v0 {
namespace {

constexpr std::array<std::string_view, 6> kStatusNames = {
    "unknown", "active", "pending", "refreshing", "error", "disabled"};

constexpr std::array<std::string_view, 4> kRefreshIntervalKeys = {
    "refresh_interval_seconds", "refreshIntervalSeconds", "refresh_interval", "refreshInterval"};
constexpr std::array<std::string_view, 4> kLastRefreshKeys = {
    "last_refresh", "lastRefresh", "last_refreshed_at", "lastRefreshedAt"};

using internal::AsciiLower;

// Field names in Validate messages are our own JSON keys, or map keys quoted as JSON strings.
std::string KeyPath(std::string_view map, std::string_view key) {
  std::string out(map);
  out.push_back('[');
  internal::AppendJsonString(&out, key);
  out.push_back(']');
  return out;
}

absl::Status CheckUtf8(std::string_view value, std::string_view field) {
  if (internal::IsValidUtf8(value)) return absl::OkStatus();
  return absl::InvalidArgumentError(internal::Cat(field, ": not valid UTF-8"));
}

absl::Status CheckTime(absl::Time t, std::string_view field) {
  static const absl::Time kMin =
      absl::FromCivil(absl::CivilSecond(0, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  static const absl::Time kMax =
      absl::FromCivil(absl::CivilSecond(10000, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  if (t >= kMin && t < kMax) return absl::OkStatus();
  return absl::InvalidArgumentError(
      internal::Cat(field, ": time outside years 0000..9999 cannot be stored"));
}

absl::Status CheckQuota(const QuotaState& q, std::string_view path) {
  if (auto s = CheckUtf8(q.reason, internal::Cat(path, ".reason")); !s.ok()) return s;
  if (auto s = CheckTime(q.next_recover_at, internal::Cat(path, ".next_recover_at")); !s.ok()) {
    return s;
  }
  if (q.backoff_level < 0) {
    return absl::InvalidArgumentError(internal::Cat(path, ".backoff_level: must be >= 0"));
  }
  return absl::OkStatus();
}

absl::Status CheckError(const std::optional<ErrorRecord>& e, std::string_view path) {
  if (!e) return absl::OkStatus();
  if (auto s = CheckUtf8(e->code, internal::Cat(path, ".code")); !s.ok()) return s;
  return CheckUtf8(e->message, internal::Cat(path, ".message"));
}

}  // namespace

std::string_view CredentialStatusName(CredentialStatus status) {
  const auto i = static_cast<size_t>(status);
  return i < kStatusNames.size() ? kStatusNames[i] : "unknown";
}

absl::StatusOr<CredentialStatus> ParseCredentialStatus(std::string_view name) {
  if (name.empty()) return CredentialStatus::kUnknown;
  for (size_t i = 0; i < kStatusNames.size(); ++i) {
    if (kStatusNames[i] == name) return static_cast<CredentialStatus>(i);
  }
  return absl::InvalidArgumentError(
      "unknown status; expected one of unknown, active, pending, refreshing, error, disabled");
}

std::string ErrorRecord::ToString() const {
  if (code.empty()) return message;
  return internal::Cat(code, ": ", message);
}

std::string_view Credential::Attribute(std::string_view key) const {
  auto it = attributes.find(key);
  return it == attributes.end() ? std::string_view() : std::string_view(it->second);
}

int64_t Credential::Priority() const {
  return ParseGoInt64(TrimSpace(Attribute("priority"))).value_or(0);
}

int64_t Credential::Weight() const {
  if (auto it = attributes.find("weight");
      it != attributes.end() && !TrimSpace(it->second).empty()) {
    absl::StatusOr<int64_t> w = ParseWeight(it->second);
    return w.ok() ? *w : 0;
  }
  if (auto w = metadata.weight()) return *w;
  return 1;
}

namespace {

// LimitAttribute parses a concurrency-limit attribute: nullopt when absent or blank; an error
// for anything but an integer 0..kMaxInFlight.
absl::StatusOr<std::optional<int64_t>> LimitAttribute(const Credential& c, std::string_view key) {
  auto it = c.attributes.find(key);
  if (it == c.attributes.end() || TrimSpace(it->second).empty()) return std::optional<int64_t>();
  const std::optional<int64_t> v = ParseGoInt64(TrimSpace(it->second));
  if (!v || *v < 0 || *v > kMaxInFlight) {
    return absl::InvalidArgumentError(internal::Cat("must be an integer 0..", kMaxInFlight));
  }
  return v;
}

}  // namespace

std::optional<int64_t> Credential::MaxInFlight() const {
  absl::StatusOr<std::optional<int64_t>> a = LimitAttribute(*this, "max_in_flight");
  if (!a.ok()) return std::nullopt;
  if (*a) return *a;
  return metadata.max_in_flight();
}

std::optional<int64_t> Credential::MaxInFlightPerModel() const {
  absl::StatusOr<std::optional<int64_t>> a = LimitAttribute(*this, "max_in_flight_per_model");
  if (!a.ok()) return std::nullopt;
  if (*a) return *a;
  return metadata.max_in_flight_per_model();
}

bool Credential::WebsocketsEnabled() const {
  const std::string_view raw = TrimSpace(Attribute("websockets"));
  if (!raw.empty()) {
    if (auto b = ParseGoBool(raw)) return *b;
  }
  return metadata.websockets();
}

std::string_view Credential::VirtualParent() const {
  return TrimSpace(Attribute("gemini_virtual_parent"));
}

bool Credential::RuntimeOnly() const {
  return AsciiLower(TrimSpace(Attribute("runtime_only"))) == "true";
}

bool Credential::DisableCooling(bool global) const {
  return metadata.disable_cooling().value_or(global);
}

int64_t Credential::RequestRetry(int64_t global) const {
  return metadata.request_retry().value_or(global);
}

absl::Duration Credential::PreferredRefreshInterval() const {
  if (metadata.refresh_interval() > absl::ZeroDuration()) return metadata.refresh_interval();
  for (std::string_view key : kRefreshIntervalKeys) {
    const std::string_view raw = Attribute(key);
    if (raw.empty()) continue;
    absl::StatusOr<absl::Duration> d = ParseDuration(raw);
    if (d.ok() && *d > absl::ZeroDuration()) return *d;
  }
  return absl::ZeroDuration();
}

std::optional<absl::Time> Credential::LastRefreshTime() const {
  if (!IsZeroTime(last_refreshed_at)) return last_refreshed_at;
  if (auto t = metadata.last_refresh()) return t;
  for (std::string_view key : kLastRefreshKeys) {
    const std::string_view raw = TrimSpace(Attribute(key));
    if (raw.empty()) continue;
    if (auto t = ParseTimeString(raw)) return t;
  }
  return std::nullopt;
}

AccountInfo Credential::GetAccountInfo() const {
  const std::string& email = metadata.email();
  if (AsciiLower(provider) == "gemini-cli" && !email.empty()) {
    const std::string& project = metadata.project_id();
    if (!project.empty()) return {"oauth", internal::Cat(email, " (", project, ")")};
    return {"oauth", email};
  }
  if (!email.empty()) return {"oauth", email};
  if (const std::string_view key = Attribute("api_key"); !key.empty()) {
    return {"api_key", std::string(key)};
  }
  return {};
}

bool Credential::IsApiKey() const {
  return metadata.email().empty() && !Attribute("api_key").empty();
}

std::string Credential::IndexSeed() const {
  if (const std::string_view file = TrimSpace(file_name); !file.empty()) {
    return internal::Cat("file:", file);
  }
  std::string provider_key = AsciiLower(TrimSpace(provider));
  if (const std::string_view pk = TrimSpace(Attribute("provider_key")); !pk.empty()) {
    provider_key = AsciiLower(pk);
  }
  const std::string compat = AsciiLower(TrimSpace(Attribute("compat_name")));
  const std::string_view base = TrimSpace(Attribute("base_url"));
  const std::string_view key = TrimSpace(Attribute("api_key"));
  const std::string_view source = TrimSpace(Attribute("source"));
  const std::string_view proxy = TrimSpace(proxy_url);
  if (!provider_key.empty() &&
      (!compat.empty() || !base.empty() || !proxy.empty() || !key.empty() || !source.empty())) {
    std::string seed = internal::Cat("config:provider=", provider_key);
    const auto add = [&seed](std::string_view name, std::string_view value) {
      if (value.empty()) return;
      seed.push_back('\0');
      internal::Append(&seed, name, "=", value);
    };
    add("compat", compat);
    add("base", base);
    add("proxy", proxy);
    add("api_key", key);
    add("source", source);
    return seed;
  }
  if (const std::string_view trimmed_id = TrimSpace(id); !trimmed_id.empty()) {
    return internal::Cat("id:", trimmed_id);
  }
  return {};
}

const std::string& Credential::EnsureIndex() {
  if (index_assigned && !index.empty()) return index;
  const std::string seed = IndexSeed();
  if (seed.empty()) return index;
  index = ComputeStableIndex(seed);
  index_assigned = true;
  return index;
}

absl::Status Credential::Validate() const {
  const std::pair<std::string_view, std::string_view> strings[] = {
      {"id", id},       {"provider", provider},   {"prefix", prefix},
      {"file_name", file_name}, {"label", label}, {"status_message", status_message},
      {"proxy_url", proxy_url}, {"index", index},
  };
  for (const auto& [field, value] : strings) {
    if (auto s = CheckUtf8(value, field); !s.ok()) return s;
  }
  for (const auto& [key, value] : attributes) {
    if (!internal::IsValidUtf8(key)) {
      return absl::InvalidArgumentError("attributes: a key is not valid UTF-8");
    }
    if (auto s = CheckUtf8(value, KeyPath("attributes", key)); !s.ok()) return s;
    if (key.starts_with("header:")) {
      // A host copies these into upstream requests: CR, LF or NUL would inject headers.
      const auto bad = [](std::string_view text) {
        return std::any_of(text.begin(), text.end(),
                           [](char c) { return c == '\r' || c == '\n' || c == '\0'; });
      };
      if (bad(key) || key.size() == 7) {
        return absl::InvalidArgumentError(
            "attributes: a header: name is empty or contains CR, LF or NUL (header injection)");
      }
      if (bad(value)) {
        return absl::InvalidArgumentError(internal::Cat(
            KeyPath("attributes", key), ": contains CR, LF or NUL (header injection)"));
      }
    }
  }
  if (auto it = attributes.find("weight"); it != attributes.end()) {
    if (absl::StatusOr<int64_t> w = ParseWeight(it->second); !w.ok()) {
      return absl::InvalidArgumentError(
          internal::Cat(KeyPath("attributes", "weight"), ": ", w.status().message()));
    }
  }
  for (std::string_view key : {"max_in_flight", "max_in_flight_per_model"}) {
    if (absl::StatusOr<std::optional<int64_t>> v = LimitAttribute(*this, key); !v.ok()) {
      return absl::InvalidArgumentError(
          internal::Cat(KeyPath("attributes", key), ": ", v.status().message()));
    }
  }
  if (auto s = CheckQuota(quota, "quota"); !s.ok()) return s;
  if (auto s = CheckError(last_error, "last_error"); !s.ok()) return s;
  const std::pair<std::string_view, absl::Time> times[] = {
      {"created_at", created_at},
      {"updated_at", updated_at},
      {"last_refreshed_at", last_refreshed_at},
      {"next_refresh_after", next_refresh_after},
      {"next_retry_after", next_retry_after},
  };
  for (const auto& [field, t] : times) {
    if (auto s = CheckTime(t, field); !s.ok()) return s;
  }
  for (const auto& [model, state] : model_states) {
    if (!internal::IsValidUtf8(model)) {
      return absl::InvalidArgumentError("model_states: a model name is not valid UTF-8");
    }
    const std::string path = KeyPath("model_states", model);
    if (auto s = CheckUtf8(state.status_message, internal::Cat(path, ".status_message"));
        !s.ok()) {
      return s;
    }
    if (auto s = CheckTime(state.next_retry_after, internal::Cat(path, ".next_retry_after"));
        !s.ok()) {
      return s;
    }
    if (auto s = CheckTime(state.updated_at, internal::Cat(path, ".updated_at")); !s.ok()) {
      return s;
    }
    if (auto s = CheckError(state.last_error, internal::Cat(path, ".last_error")); !s.ok()) {
      return s;
    }
    if (auto s = CheckQuota(state.quota, internal::Cat(path, ".quota")); !s.ok()) return s;
  }
  return absl::OkStatus();
}

std::string ComputeStableIndex(std::string_view seed) {
  seed = TrimSpace(seed);
  if (seed.empty()) return {};
  return internal::Sha256Hex(seed).substr(0, 16);  // the first 8 bytes
}

absl::StatusOr<int64_t> ParseWeight(std::string_view raw) {
  raw = TrimSpace(raw);
  if (raw.empty()) return 1;
  const std::optional<int64_t> v = ParseGoInt64(raw);
  if (!v) return absl::InvalidArgumentError("weight must be an integer");
  if (*v <= 0) return 0;
  if (*v > kMaxWeight) {
    return absl::InvalidArgumentError(internal::Cat("weight must not exceed ", kMaxWeight));
  }
  return *v;
}

}  // namespace v0
}  // namespace authrouter
