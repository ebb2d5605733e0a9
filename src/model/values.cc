#include "authrouter/values.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

#include "absl/status/status.h"
#include "internal/strings.h"
#include "internal/json_writer.h"
#include "internal/time_format.h"
#include "internal/unicode.h"

namespace authrouter {
inline namespace v0 {
namespace {

constexpr int64_t kMillisThreshold = 1'000'000'000'000;  // 10^12

bool IsAsciiSpace(unsigned char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Quoted returns `s` as a JSON string, cut to 64 bytes, for error messages about non-secret
// values (durations, times).
std::string Quoted(std::string_view s) {
  std::string out;
  const bool cut = s.size() > 64;
  internal::AppendJsonString(&out, cut ? s.substr(0, 64) : s);
  if (cut) out.append("...");
  return out;
}

// ReadDigits reads exactly `n` decimal digits at s[pos].
bool ReadDigits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (!IsDigit(s[i])) return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

int DaysIn(int month, int year) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month == 2) {
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return leap ? 29 : 28;
  }
  return kDays[month - 1];
}

enum class Layout { kRfc3339, kSpaceSeconds, kSpaceMinutes };

// ParseLayout parses one of the layouts the time parser accepts. Returns nullopt on any
// mismatch, trailing text or out-of-range field.
std::optional<absl::Time> ParseLayout(std::string_view s, Layout layout) {
  int year, month, day, hour, minute, second = 0;
  const char sep = layout == Layout::kRfc3339 ? 'T' : ' ';
  if (s.size() < 16 || !ReadDigits(s, 0, 4, &year) || s[4] != '-' ||
      !ReadDigits(s, 5, 2, &month) || s[7] != '-' || !ReadDigits(s, 8, 2, &day) ||
      s[10] != sep || !ReadDigits(s, 11, 2, &hour) || s[13] != ':' ||
      !ReadDigits(s, 14, 2, &minute)) {
    return std::nullopt;
  }
  size_t pos = 16;
  int64_t nanos = 0;
  if (layout != Layout::kSpaceMinutes) {
    if (pos >= s.size() || s[pos] != ':' || !ReadDigits(s, pos + 1, 2, &second)) {
      return std::nullopt;
    }
    pos += 3;
    // A fractional second may follow the seconds even when the layout does not show one (as in
    // Go); digits beyond nanoseconds are ignored.
    if (pos + 1 < s.size() && (s[pos] == '.' || s[pos] == ',') && IsDigit(s[pos + 1])) {
      ++pos;
      int digits = 0;
      while (pos < s.size() && IsDigit(s[pos])) {
        if (digits < 9) {
          nanos = nanos * 10 + (s[pos] - '0');
          ++digits;
        }
        ++pos;
      }
      for (; digits < 9; ++digits) nanos *= 10;
    }
  }
  int offset_seconds = 0;
  if (layout == Layout::kRfc3339) {
    if (pos >= s.size()) return std::nullopt;
    if (s[pos] == 'Z') {
      ++pos;
    } else if (s[pos] == '+' || s[pos] == '-') {
      int oh, om;
      if (!ReadDigits(s, pos + 1, 2, &oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
          !ReadDigits(s, pos + 4, 2, &om) || oh >= 24 || om >= 60) {
        return std::nullopt;
      }
      offset_seconds = (oh * 60 + om) * 60 * (s[pos] == '-' ? -1 : 1);
      pos += 6;
    } else {
      return std::nullopt;
    }
  }
  if (pos != s.size()) return std::nullopt;
  if (month < 1 || month > 12 || day < 1 || day > DaysIn(month, year) || hour > 23 ||
      minute > 59 || second > 59) {
    return std::nullopt;
  }
  const absl::Time civil = absl::FromCivil(
      absl::CivilSecond(year, month, day, hour, minute, second), absl::UTCTimeZone());
  return civil - absl::Seconds(offset_seconds) + absl::Nanoseconds(nanos);
}

// Duration units of Go's time.ParseDuration, in nanoseconds.
std::optional<uint64_t> DurationUnit(std::string_view u) {
  if (u == "ns") return 1;
  if (u == "us" || u == "\xC2\xB5s" || u == "\xCE\xBCs") return 1'000;
  if (u == "ms") return 1'000'000;
  if (u == "s") return 1'000'000'000;
  if (u == "m") return 60'000'000'000;
  if (u == "h") return 3'600'000'000'000;
  return std::nullopt;
}

}  // namespace

absl::Time ZeroTime() {
  static const absl::Time kZero =
      absl::FromCivil(absl::CivilSecond(1, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  return kZero;
}

bool IsZeroTime(absl::Time t) { return t == ZeroTime(); }

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty()) {
    const auto c = static_cast<unsigned char>(s.front());
    if (c < 0x80) {
      if (!IsAsciiSpace(c)) break;
      s.remove_prefix(1);
      continue;
    }
    char32_t cp;
    const size_t len = internal::DecodeUtf8(s, &cp);
    if (len == 0 || !internal::IsUnicodeSpace(cp)) break;
    s.remove_prefix(len);
  }
  while (!s.empty()) {
    const auto c = static_cast<unsigned char>(s.back());
    if (c < 0x80) {
      if (!IsAsciiSpace(c)) break;
      s.remove_suffix(1);
      continue;
    }
    char32_t cp;
    const size_t len = internal::DecodeLastUtf8(s, &cp);
    if (len == 0 || !internal::IsUnicodeSpace(cp)) break;
    s.remove_suffix(len);
  }
  return s;
}

std::optional<bool> ParseGoBool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "TRUE" || s == "true" || s == "True") return true;
  if (s == "0" || s == "f" || s == "F" || s == "FALSE" || s == "false" || s == "False") {
    return false;
  }
  return std::nullopt;
}

std::optional<int64_t> ParseGoInt64(std::string_view s) {
  if (s.empty()) return std::nullopt;
  bool negative = false;
  if (s[0] == '+' || s[0] == '-') {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  uint64_t magnitude = 0;
  const uint64_t limit = negative ? uint64_t{1} << 63 : (uint64_t{1} << 63) - 1;
  for (char c : s) {
    if (!IsDigit(c)) return std::nullopt;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (magnitude > (limit - digit) / 10) return std::nullopt;
    magnitude = magnitude * 10 + digit;
  }
  if (negative) {
    return magnitude == (uint64_t{1} << 63) ? std::numeric_limits<int64_t>::min()
                                            : -static_cast<int64_t>(magnitude);
  }
  return static_cast<int64_t>(magnitude);
}

absl::Time UnixToTime(int64_t value) {
  if (value <= 0) return ZeroTime();
  if (value > kMillisThreshold) return absl::FromUnixMillis(value);
  return absl::FromUnixSeconds(value);
}

std::optional<absl::Time> ParseRfc3339(std::string_view s) {
  return ParseLayout(s, Layout::kRfc3339);
}

std::optional<absl::Time> ParseTimeString(std::string_view s) {
  s = TrimSpace(s);
  if (s.empty()) return std::nullopt;
  for (Layout layout : {Layout::kRfc3339, Layout::kSpaceSeconds, Layout::kSpaceMinutes}) {
    if (auto t = ParseLayout(s, layout)) return t;
  }
  if (auto seconds = ParseGoInt64(s)) return UnixToTime(*seconds);
  return std::nullopt;
}

std::string FormatRfc3339(absl::Time t) {
  char buf[internal::kRfc3339BufferSize];
  return std::string(buf, internal::FormatRfc3339To(t, buf));
}

absl::StatusOr<absl::Duration> ParseGoDuration(std::string_view s) {
  const std::string_view orig = s;
  auto invalid = [&](std::string_view why) {
    return absl::InvalidArgumentError(internal::Cat("invalid duration ", Quoted(orig), ": ", why));
  };
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s == "0") return absl::ZeroDuration();
  if (s.empty()) return invalid("empty");
  constexpr uint64_t kLimit = uint64_t{1} << 63;
  auto overflow = [&] {
    return absl::OutOfRangeError(
        internal::Cat("duration ", Quoted(orig), " is out of range (at most 292 years)"));
  };
  uint64_t total = 0;
  while (!s.empty()) {
    if (!(s[0] == '.' || IsDigit(s[0]))) return invalid("expected a number");
    // Integer part.
    uint64_t v = 0;
    size_t i = 0;
    for (; i < s.size() && IsDigit(s[i]); ++i) {
      if (v > (kLimit - 1) / 10) return overflow();
      v = v * 10 + static_cast<uint64_t>(s[i] - '0');
      if (v > kLimit) return overflow();
    }
    const bool pre = i > 0;
    s.remove_prefix(i);
    // Fractional part.
    uint64_t f = 0;
    double scale = 1;
    bool post = false;
    if (!s.empty() && s[0] == '.') {
      s.remove_prefix(1);
      size_t j = 0;
      bool overflowed = false;
      for (; j < s.size() && IsDigit(s[j]); ++j) {
        if (overflowed) continue;
        if (f > (kLimit - 1) / 10) {
          overflowed = true;  // further digits cannot matter
          continue;
        }
        const uint64_t next = f * 10 + static_cast<uint64_t>(s[j] - '0');
        if (next > kLimit) {
          overflowed = true;
          continue;
        }
        f = next;
        scale *= 10;
      }
      post = j > 0;
      s.remove_prefix(j);
    }
    if (!pre && !post) return invalid("expected digits around '.'");
    // Unit.
    size_t u = 0;
    while (u < s.size() && s[u] != '.' && !IsDigit(s[u])) ++u;
    if (u == 0) return invalid("missing unit (ns, us, ms, s, m, h)");
    const auto unit = DurationUnit(s.substr(0, u));
    if (!unit) return invalid("unknown unit (expected ns, us, ms, s, m or h)");
    s.remove_prefix(u);
    if (v > kLimit / *unit) return overflow();
    v *= *unit;
    if (f > 0) {
      v += static_cast<uint64_t>(static_cast<double>(f) *
                                 (static_cast<double>(*unit) / scale));
      if (v > kLimit) return overflow();
    }
    total += v;
    if (total > kLimit) return overflow();
  }
  if (negative) {
    return absl::Nanoseconds(total == kLimit ? std::numeric_limits<int64_t>::min()
                                             : -static_cast<int64_t>(total));
  }
  if (total > kLimit - 1) return overflow();
  return absl::Nanoseconds(static_cast<int64_t>(total));
}

absl::StatusOr<absl::Duration> ParseDuration(std::string_view s) {
  const std::string_view orig = s;
  s = TrimSpace(s);
  if (s.empty()) return absl::InvalidArgumentError("invalid duration: empty");
  absl::StatusOr<absl::Duration> go = ParseGoDuration(s);
  if (go.ok() || absl::IsOutOfRange(go.status())) return go;
  // Plain seconds.
  std::string_view num = s;
  bool negative = false;
  if (num[0] == '+' || num[0] == '-') {
    negative = num[0] == '-';
    num.remove_prefix(1);
  }
  double seconds = 0;
  const bool looks_numeric = !num.empty() && (IsDigit(num[0]) || num[0] == '.');
  const auto r = std::from_chars(num.data(), num.data() + num.size(), seconds,
                                 std::chars_format::general);
  if (!looks_numeric || r.ec != std::errc() || r.ptr != num.data() + num.size() ||
      !std::isfinite(seconds)) {
    if (r.ec == std::errc::result_out_of_range) {
      return absl::OutOfRangeError(
          internal::Cat("duration ", Quoted(orig), " is out of range (at most 292 years)"));
    }
    return absl::InvalidArgumentError(
        internal::Cat("invalid duration ", Quoted(orig),
                     ": expected Go duration syntax such as \"1h30m\" or a number of seconds"));
  }
  if (negative) seconds = -seconds;
  const double nanos = seconds * 1e9;
  if (!(std::fabs(nanos) < 9.2233720368547758e18)) {
    return absl::OutOfRangeError(
        internal::Cat("duration ", Quoted(orig), " is out of range (at most 292 years)"));
  }
  return absl::Nanoseconds(static_cast<int64_t>(nanos));
}

}  // namespace v0
}  // namespace authrouter

namespace authrouter::internal {

size_t FormatRfc3339To(absl::Time t, char (&buf)[kRfc3339BufferSize]) {
  static const absl::Time kMin =
      absl::FromCivil(absl::CivilSecond(0, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  static const absl::Time kMax =
      absl::FromCivil(absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone()) +
      absl::Nanoseconds(999'999'999);
  if (t < kMin) t = kMin;
  if (t > kMax) t = kMax;
  const absl::CivilSecond cs = absl::ToCivilSecond(t, absl::UTCTimeZone());
  const auto nanos =
      static_cast<long long>(absl::ToInt64Nanoseconds(t - absl::FromCivil(cs, absl::UTCTimeZone())));
  int n = std::snprintf(buf, kRfc3339BufferSize, "%04d-%02d-%02dT%02d:%02d:%02d",
                        static_cast<int>(cs.year()), cs.month(), cs.day(), cs.hour(), cs.minute(),
                        cs.second());
  if (nanos != 0) {
    n += std::snprintf(buf + n, kRfc3339BufferSize - static_cast<size_t>(n), ".%09lld", nanos);
    while (buf[n - 1] == '0') --n;
  }
  buf[n++] = 'Z';
  buf[n] = '\0';
  return static_cast<size_t>(n);
}

}  // namespace authrouter::internal
