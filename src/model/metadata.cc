#include "authrouter/metadata.h"

#include <array>
#include <cmath>

#include "absl/status/status.h"
#include "internal/strings.h"
#include "authrouter/credential.h"
#include "authrouter/values.h"
#include "internal/json_values.h"
#include "simdjson.h"

namespace authrouter {
inline namespace v0 {


namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

constexpr int kMaxExpiryNesting = 64;

// Slots collects, for a fixed list of keys, the value of the last occurrence of each key in an
// object (Go's decoder keeps the last duplicate).
template <size_t N>
struct Slots {
  const std::array<std::string_view, N>& keys;
  std::array<std::optional<element>, N> values{};

  Slots(const std::array<std::string_view, N>& k, object obj) : keys(k) {
    for (auto field : obj) {
      for (size_t i = 0; i < N; ++i) {
        if (field.key == keys[i]) values[i] = field.value;
      }
    }
  }
};

constexpr std::array<std::string_view, 8> kExpiryKeys = {
    "expired", "expire", "expires_at", "expiresAt", "expiry", "expires", "token", "Token"};

// ExpiryFromObject implements spec 01 §6. Returns the parsed time (possibly the zero time) when a
// key was found, nullopt otherwise.
std::optional<absl::Time> ExpiryFromObject(object obj, int depth) {
  Slots<kExpiryKeys.size()> slots(kExpiryKeys, obj);
  for (size_t i = 0; i < 6; ++i) {
    if (!slots.values[i]) continue;
    if (auto t = internal::TimeFromJson(*slots.values[i])) return t;
  }
  if (depth >= kMaxExpiryNesting) return std::nullopt;
  for (size_t i = 6; i < 8; ++i) {
    if (!slots.values[i] || slots.values[i]->type() != element_type::OBJECT) continue;
    if (auto t = ExpiryFromObject(object(*slots.values[i]), depth + 1)) return t;
  }
  return std::nullopt;
}

enum Key : size_t {
  kRefreshIntervalSeconds,
  kRefreshIntervalSecondsCamel,
  kRefreshInterval,
  kRefreshIntervalCamel,
  kLastRefresh,
  kLastRefreshCamel,
  kLastRefreshedAt,
  kLastRefreshedAtCamel,
  kDisableCooling,
  kDisableCoolingDash,
  kRequestRetry,
  kRequestRetryDash,
  kToolPrefixDisabled,
  kToolPrefixDisabledDash,
  kWebsockets,
  kWeight,
  kMaxInFlightKey,
  kMaxInFlightPerModelKey,
  kEmail,
  kProjectId,
  kType,
  kKeyCount,
};

constexpr std::array<std::string_view, kKeyCount> kKeys = {
    "refresh_interval_seconds", "refreshIntervalSeconds", "refresh_interval", "refreshInterval",
    "last_refresh",             "lastRefresh",            "last_refreshed_at", "lastRefreshedAt",
    "disable_cooling",          "disable-cooling",        "request_retry",    "request-retry",
    "tool_prefix_disabled",     "tool-prefix-disabled",   "websockets",       "weight",
    "max_in_flight",            "max_in_flight_per_model",
    "email",                    "project_id",             "type",
};

std::string TrimmedString(const std::optional<element>& e, bool trim) {
  if (!e || e->type() != element_type::STRING) return {};
  const std::string_view s(*e);
  return std::string(trim ? TrimSpace(s) : s);
}

std::optional<bool> FirstBool(const std::optional<element>& a, const std::optional<element>& b) {
  if (a) {
    if (auto v = internal::BoolFromJson(*a)) return v;
  }
  if (b) return internal::BoolFromJson(*b);
  return std::nullopt;
}

std::string_view TrimJsonWhitespace(std::string_view s) {
  const auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

simdjson::dom::parser& ThreadParser() {
  thread_local simdjson::dom::parser parser;
  return parser;
}

}  // namespace

absl::StatusOr<Metadata> Metadata::Parse(std::string_view json) {
  if (json.size() > kMaxBytes) {
    return absl::InvalidArgumentError(
        internal::Cat("metadata is ", json.size(), " bytes; the limit is ", kMaxBytes));
  }
  json = TrimJsonWhitespace(json);
  if (json.empty()) return absl::InvalidArgumentError("metadata is empty; expected a JSON object");
  simdjson::dom::element root;
  if (auto err = ThreadParser().parse(json.data(), json.size()).get(root)) {
    return absl::InvalidArgumentError(
        internal::Cat("metadata is not valid JSON: ", simdjson::error_message(err)));
  }
  if (root.type() != element_type::OBJECT) {
    return absl::InvalidArgumentError("metadata must be a JSON object");
  }
  const object obj(root);
  Metadata m;
  if (obj.size() == 0) return m;
  m.json_.assign(json);

  if (auto t = ExpiryFromObject(obj, 0); t && !IsZeroTime(*t)) m.expiry_ = t;

  Slots<kKeys.size()> f(kKeys, obj);
  for (size_t k = kRefreshIntervalSeconds; k <= kRefreshIntervalCamel; ++k) {
    if (!f.values[k]) continue;
    const absl::Duration d = internal::PositiveDurationFromJson(*f.values[k]);
    if (d > absl::ZeroDuration()) {
      m.refresh_interval_ = d;
      break;
    }
  }
  for (size_t k = kLastRefresh; k <= kLastRefreshedAtCamel; ++k) {
    if (!f.values[k]) continue;
    if (auto t = internal::TimeFromJson(*f.values[k])) {
      m.last_refresh_ = t;
      break;
    }
  }
  m.disable_cooling_ = FirstBool(f.values[kDisableCooling], f.values[kDisableCoolingDash]);
  m.tool_prefix_disabled_ =
      FirstBool(f.values[kToolPrefixDisabled], f.values[kToolPrefixDisabledDash]);
  for (size_t k : {size_t{kRequestRetry}, size_t{kRequestRetryDash}}) {
    if (!f.values[k]) continue;
    if (auto v = internal::IntFromJson(*f.values[k])) {
      if (*v >= 0) m.request_retry_ = v;  // later fix C5: negative means "inherit"
      break;
    }
  }
  if (const auto& ws = f.values[kWebsockets]) {
    if (ws->type() == element_type::BOOL) {
      m.websockets_ = bool(*ws);
    } else if (ws->type() == element_type::STRING) {
      m.websockets_ = ParseGoBool(TrimSpace(std::string_view(*ws))).value_or(false);
    }
  }
  if (const auto& w = f.values[kWeight]) {
    absl::StatusOr<int64_t> weight = internal::WeightFromJson(*w);
    if (!weight.ok()) {
      return absl::InvalidArgumentError(
          internal::Cat("metadata.weight: ", weight.status().message()));
    }
    m.weight_ = *weight;
  }
  for (size_t k : {size_t{kMaxInFlightKey}, size_t{kMaxInFlightPerModelKey}}) {
    if (!f.values[k]) continue;
    const std::optional<int64_t> v = internal::IntFromJson(*f.values[k]);
    if (!v || *v < 0 || *v > kMaxInFlight) {
      return absl::InvalidArgumentError(internal::Cat("metadata.", kKeys[k], ": must be an integer 0..",
                                                      kMaxInFlight));
    }
    (k == kMaxInFlightKey ? m.max_in_flight_ : m.max_in_flight_per_model_) = v;
  }
  m.email_ = TrimmedString(f.values[kEmail], true);
  m.project_id_ = TrimmedString(f.values[kProjectId], true);
  m.type_ = TrimmedString(f.values[kType], false);
  return m;
}

std::optional<std::string> Metadata::GetString(std::string_view key) const {
  if (json_.empty()) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json_.data(), json_.size()).get(root) ||
      root.type() != element_type::OBJECT) {
    return std::nullopt;  // cannot happen: the text was validated by Parse
  }
  std::optional<std::string> found;
  for (auto field : object(root)) {
    if (field.key != key) continue;
    if (field.value.type() == element_type::STRING) {
      found = std::string(std::string_view(field.value));
    } else {
      found.reset();
    }
  }
  return found;
}

}  // namespace v0
}  // namespace authrouter
