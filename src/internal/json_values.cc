#include "internal/json_values.h"

#include <cmath>
#include <limits>
#include <set>
#include <string_view>

#include "absl/status/status.h"
#include "internal/strings.h"
#include "authrouter/credential.h"
#include "authrouter/values.h"

namespace authrouter {
namespace internal {

int64_t TruncateToInt64(double v) {
  if (std::isnan(v) || v >= 9223372036854775808.0 || v < -9223372036854775808.0) {
    return std::numeric_limits<int64_t>::min();
  }
  return static_cast<int64_t>(v);
}

namespace {

// NumberAsDouble returns a JSON number as Go would hold it after decoding (a float64).
std::optional<double> NumberAsDouble(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::INT64:
      return static_cast<double>(int64_t(e));
    case simdjson::dom::element_type::UINT64:
      return static_cast<double>(uint64_t(e));
    case simdjson::dom::element_type::DOUBLE:
      return double(e);
    default:
      return std::nullopt;
  }
}

}  // namespace

std::optional<absl::Time> TimeFromJson(simdjson::dom::element e) {
  if (e.type() == simdjson::dom::element_type::STRING) {
    return ParseTimeString(std::string_view(e));
  }
  if (e.type() == simdjson::dom::element_type::INT64) return UnixToTime(int64_t(e));
  if (auto d = NumberAsDouble(e)) return UnixToTime(TruncateToInt64(*d));
  return std::nullopt;
}

std::optional<bool> BoolFromJson(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::BOOL:
      return bool(e);
    case simdjson::dom::element_type::STRING: {
      const std::string_view s = TrimSpace(std::string_view(e));
      if (s.empty()) return std::nullopt;
      return ParseGoBool(s);
    }
    default:
      if (auto d = NumberAsDouble(e)) return *d != 0;
      return std::nullopt;
  }
}

std::optional<int64_t> IntFromJson(simdjson::dom::element e) {
  if (e.type() == simdjson::dom::element_type::INT64) return int64_t(e);
  if (e.type() == simdjson::dom::element_type::STRING) {
    return ParseGoInt64(TrimSpace(std::string_view(e)));
  }
  if (auto d = NumberAsDouble(e)) return TruncateToInt64(*d);
  return std::nullopt;
}

absl::Duration PositiveDurationFromJson(simdjson::dom::element e) {
  if (e.type() == simdjson::dom::element_type::STRING) {
    absl::StatusOr<absl::Duration> d = ParseDuration(std::string_view(e));
    return d.ok() && *d > absl::ZeroDuration() ? *d : absl::ZeroDuration();
  }
  if (auto seconds = NumberAsDouble(e)) {
    const double nanos = *seconds * 1e9;
    if (!(nanos >= 1) || nanos >= 9.2233720368547758e18) return absl::ZeroDuration();
    return absl::Nanoseconds(static_cast<int64_t>(nanos));
  }
  return absl::ZeroDuration();
}

absl::StatusOr<int64_t> WeightFromJson(simdjson::dom::element e) {
  const auto too_big = [] {
    return absl::InvalidArgumentError(internal::Cat("weight must not exceed ", kMaxWeight));
  };
  switch (e.type()) {
    case simdjson::dom::element_type::INT64: {
      const int64_t v = int64_t(e);
      if (v <= 0) return 0;
      if (v > kMaxWeight) return too_big();
      return v;
    }
    case simdjson::dom::element_type::UINT64:
      return too_big();  // every UINT64 value is above INT64_MAX
    case simdjson::dom::element_type::DOUBLE: {
      const double v = double(e);
      if (!std::isfinite(v) || std::trunc(v) != v) {
        return absl::InvalidArgumentError("weight must be an integer");
      }
      if (v <= 0) return 0;
      if (v > static_cast<double>(kMaxWeight)) return too_big();
      return static_cast<int64_t>(v);
    }
    case simdjson::dom::element_type::STRING:
      return ParseWeight(std::string_view(e));
    default:
      return absl::InvalidArgumentError("weight must be an integer");
  }
}

namespace {

std::optional<std::string> DuplicateKeyAt(simdjson::dom::element e, const std::string& path, int depth) {
  // simdjson bounds the depth at 1024 already; this is only a backstop.
  if (depth > 1100) return std::nullopt;
  simdjson::dom::object o;
  if (!e.get_object().get(o)) {
    std::set<std::string_view> seen;
    for (auto field : o) {
      const std::string here = path.empty() ? std::string(field.key) : Cat(path, ".", field.key);
      if (!seen.insert(field.key).second) return here;
      if (auto nested = DuplicateKeyAt(field.value, here, depth + 1)) return nested;
    }
    return std::nullopt;
  }
  simdjson::dom::array a;
  if (!e.get_array().get(a)) {
    size_t i = 0;
    for (simdjson::dom::element item : a) {
      if (auto nested = DuplicateKeyAt(item, Cat(path, "[", i++, "]"), depth + 1)) return nested;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> DuplicateKeyPath(simdjson::dom::element e) { return DuplicateKeyAt(e, "", 0); }

}  // namespace internal

}  // namespace authrouter
