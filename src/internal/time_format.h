// Allocation-free RFC 3339 formatting, shared by FormatRfc3339 and the JSON writers.
#ifndef AUTHROUTER_INTERNAL_TIME_FORMAT_H_
#define AUTHROUTER_INTERNAL_TIME_FORMAT_H_

#include <cstddef>

#include "absl/time/time.h"

namespace authrouter::internal {

// kRfc3339BufferSize is enough for "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" and a NUL.
inline constexpr size_t kRfc3339BufferSize = 40;

// FormatRfc3339To writes `t` as FormatRfc3339 does into `buf` and returns the length.
size_t FormatRfc3339To(absl::Time t, char (&buf)[kRfc3339BufferSize]);

}  // namespace authrouter::internal

#endif  // AUTHROUTER_INTERNAL_TIME_FORMAT_H_
