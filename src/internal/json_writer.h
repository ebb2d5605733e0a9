// The one JSON writer of authrouter. Everything authrouter emits as JSON (credential records,
// routing error bodies, C ABI views) goes through it.
//
// Escaping follows RFC 8259: '"' and '\\' are escaped, control characters below U+0020 are
// written as \b \f \n \r \t or \u00XX, everything else is written as UTF-8.
//
// Invalid UTF-8 policy: each byte that does not start a well-formed UTF-8 sequence is written as
// U+FFFD, the replacement Go's encoding/json makes, so the output is always valid JSON. Callers
// that must not alter data validate first (Credential::Validate rejects invalid UTF-8).
#ifndef AUTHROUTER_INTERNAL_JSON_WRITER_H_
#define AUTHROUTER_INTERNAL_JSON_WRITER_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/time/time.h"

namespace authrouter::internal {

// AppendJsonString appends `s` as a quoted, escaped JSON string.
void AppendJsonString(std::string* out, std::string_view s);

// AppendGoJsonString is AppendJsonString plus the escapes Go's encoding/json adds by default:
// '<', '>' and '&' as \u003c, \u003e, \u0026, and U+2028, U+2029 as \u2028, \u2029. Used where
// bytes must match upstream's output.
void AppendGoJsonString(std::string* out, std::string_view s);

// JsonWriter builds a JSON text into a caller-owned string, inserting commas itself. It does not
// check that calls nest correctly; callers are internal and tested.
class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  void BeginObject();
  void EndObject();
  void BeginArray();
  void EndArray();
  // Key writes an object key; the next value call writes its value.
  void Key(std::string_view key);

  void String(std::string_view s);
  void Int(int64_t v);
  void Uint(uint64_t v);
  // Double writes the shortest text that reads back as `v`; NaN and infinities become null.
  void Double(double v);
  void Bool(bool v);
  void Null();
  // Time writes `t` as an RFC 3339 string in UTC (FormatRfc3339).
  void Time(absl::Time t);
  // Raw appends `json`, which must already be one valid JSON value.
  void Raw(std::string_view json);

 private:
  void BeforeValue();

  std::string* out_;
  bool need_comma_ = false;
};

}  // namespace authrouter::internal

#endif  // AUTHROUTER_INTERNAL_JSON_WRITER_H_
