// Conversions from parsed JSON values (simdjson DOM) to the typed values of spec 01 §5, the way
// the upstream Go code reads them from decoded JSON (where every number is a float64).
#ifndef AUTHROUTER_INTERNAL_JSON_VALUES_H_
#define AUTHROUTER_INTERNAL_JSON_VALUES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "simdjson.h"

namespace authrouter::internal {

// TruncateToInt64 converts a JSON number the way Go's int64(float64) does on x86-64: truncation
// toward zero, and INT64_MIN for NaN and values outside the int64 range.
int64_t TruncateToInt64(double v);

// TimeFromJson: string -> ParseTimeString; number -> truncated, Unix seconds/milliseconds rule.
std::optional<absl::Time> TimeFromJson(simdjson::dom::element e);

// BoolFromJson: bool; string (trimmed, ParseGoBool); number != 0.
std::optional<bool> BoolFromJson(simdjson::dom::element e);

// IntFromJson: number truncated toward zero; string (trimmed, strict base-10).
std::optional<int64_t> IntFromJson(simdjson::dom::element e);

// PositiveDurationFromJson: number of seconds, or a string in Go duration syntax or seconds;
// zero when the value is not a positive duration.
absl::Duration PositiveDurationFromJson(simdjson::dom::element e);

// WeightFromJson parses a `weight` value (credentialweight.ParseValue upstream).
absl::StatusOr<int64_t> WeightFromJson(simdjson::dom::element e);

// DuplicateKeyPath returns the path of the first key that appears twice in one object of `e`
// ("disabled", "token.access_token", "headers.X", "list[2].k"), or nullopt. JSON allows
// duplicates and readers disagree on which one wins; credential files and record patches with
// them are rejected instead.
std::optional<std::string> DuplicateKeyPath(simdjson::dom::element e);

}  // namespace authrouter::internal

#endif  // AUTHROUTER_INTERNAL_JSON_VALUES_H_
