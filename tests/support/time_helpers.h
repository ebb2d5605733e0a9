// Helpers for writing instants in tests.
#ifndef AUTHROUTER_TESTS_SUPPORT_TIME_HELPERS_H_
#define AUTHROUTER_TESTS_SUPPORT_TIME_HELPERS_H_

#include <string>

#include "absl/time/time.h"
#include "authrouter/values.h"

namespace authrouter::testing {

// Utc builds an instant from civil UTC fields.
inline absl::Time Utc(int64_t y, int mo, int d, int h = 0, int mi = 0, int s = 0) {
  return absl::FromCivil(absl::CivilSecond(y, mo, d, h, mi, s), absl::UTCTimeZone());
}

}  // namespace authrouter::testing

namespace Catch {
// Failed assertions print instants readably.
template <>
struct StringMaker<absl::Time> {
  static std::string convert(absl::Time t) { return authrouter::FormatRfc3339(t); }
};
template <>
struct StringMaker<absl::Duration> {
  static std::string convert(absl::Duration d) { return absl::FormatDuration(d); }
};
}  // namespace Catch

#endif  // AUTHROUTER_TESTS_SUPPORT_TIME_HELPERS_H_
