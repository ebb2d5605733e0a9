// values.h -- the value parsers of authrouter: times, durations, booleans and integers as they
// appear in credential attributes, metadata and configuration.
//
// The rules follow the upstream Go implementation so that credential files written
// for it mean the same thing here:
//
//   * Times: RFC 3339 (fractional seconds allowed), "2006-01-02 15:04:05", "2006-01-02 15:04"
//     (zone-less layouts are UTC), or a base-10 integer read as Unix seconds, or as Unix
//     milliseconds when it is greater than 10^12. A value <= 0 parses as the zero time.
//   * Durations: Go duration syntax ("1h", "2h30m", "1.5s", "300ms", "1µs") or a plain number of
//     seconds ("900", "1.5").
//   * Booleans: Go's strconv.ParseBool set (1 t T TRUE true True / 0 f F FALSE false False).
//
// "Zero time" is Go's zero `time.Time`, 0001-01-01T00:00:00Z: it means "unset" and compares as
// not after any real instant.
#ifndef AUTHROUTER_VALUES_H_
#define AUTHROUTER_VALUES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace authrouter {
inline namespace v0 {

// ZeroTime returns Go's zero time, 0001-01-01T00:00:00Z, which authrouter uses for "unset".
absl::Time ZeroTime();

// IsZeroTime reports whether `t` is the zero time.
bool IsZeroTime(absl::Time t);

// TrimSpace returns `s` without leading and trailing Unicode white space (the set Go's
// strings.TrimSpace removes: ASCII space, \t \n \v \f \r, U+0085, U+00A0 and the other Unicode
// White_Space code points). The result views `s`.
std::string_view TrimSpace(std::string_view s);

// ParseGoBool parses Go's strconv.ParseBool set, without trimming. Anything else is nullopt
// ("yes" and "on" are not booleans).
std::optional<bool> ParseGoBool(std::string_view s);

// ParseGoInt64 parses a base-10 integer with an optional leading '+' or '-' and digits only,
// without trimming (strconv.ParseInt(s, 10, 64)). Overflow, empty input or any other character is
// nullopt.
std::optional<int64_t> ParseGoInt64(std::string_view s);

// UnixToTime applies the Unix seconds/milliseconds rule: <= 0 is the zero time, > 10^12 is
// milliseconds, anything else seconds.
absl::Time UnixToTime(int64_t value);

// ParseTimeString parses a time as credential metadata carries it (rules above; the input is
// trimmed first). Returns nullopt when no rule matches, including for an empty string and for a
// date without a time ("2026-04-17").
std::optional<absl::Time> ParseTimeString(std::string_view s);

// ParseRfc3339 parses strictly "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)", the form
// authrouter writes. Fields are range-checked (day within its month, seconds < 60).
std::optional<absl::Time> ParseRfc3339(std::string_view s);

// FormatRfc3339 writes `t` in UTC as RFC 3339 with the fractional seconds trimmed of trailing
// zeros ("2026-04-17T00:00:00.123Z"), the way Go marshals a time.Time. Years outside 0000..9999
// cannot be written in this form; such instants are clamped to the nearest representable one.
std::string FormatRfc3339(absl::Time t);

// ParseGoDuration parses Go duration syntax: an optional sign, then one or more decimal numbers
// each with a unit (ns, us, µs, μs, ms, s, m, h), or the bare "0".
//
// Returns InvalidArgumentError naming the problem (empty, missing unit, unknown unit, bad number)
// or OutOfRangeError when the value does not fit in ±292 years. The input itself is not echoed
// into the message beyond 64 bytes.
absl::StatusOr<absl::Duration> ParseGoDuration(std::string_view s);

// ParseDuration parses a duration as configuration and metadata carry it: the input is trimmed,
// then read as Go duration syntax, and failing that as a plain decimal number of seconds
// ("900", "1.5", "-2"). Negative values are returned as they are; callers that need a positive
// duration check the sign themselves.
//
// Returns InvalidArgumentError for anything else (including "inf" and "nan") and
// OutOfRangeError for values beyond ±292 years.
absl::StatusOr<absl::Duration> ParseDuration(std::string_view s);

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_VALUES_H_
