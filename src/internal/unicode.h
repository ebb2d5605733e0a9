// Private UTF-8 helpers shared by the JSON writer, the value parsers and validation.
#ifndef AUTHROUTER_INTERNAL_UNICODE_H_
#define AUTHROUTER_INTERNAL_UNICODE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace authrouter::internal {

// IsValidUtf8 reports whether `s` is well-formed UTF-8 (no overlongs, surrogates or code points
// above U+10FFFF).
bool IsValidUtf8(std::string_view s);

// Utf8SequenceLength returns the length (1..4) of the well-formed UTF-8 sequence starting at
// s[0], or 0 when the bytes there do not form one. REQUIRES: !s.empty().
size_t Utf8SequenceLength(std::string_view s);

// DecodeUtf8 decodes the sequence at s[0] into *code_point and returns its length, or returns 0
// for an ill-formed sequence. REQUIRES: !s.empty().
size_t DecodeUtf8(std::string_view s, char32_t* code_point);

// DecodeLastUtf8 decodes the sequence that ends at the last byte of `s` and returns its length,
// or 0 when the tail is not a well-formed sequence. REQUIRES: !s.empty().
size_t DecodeLastUtf8(std::string_view s, char32_t* code_point);

// ReplaceInvalidUtf8 replaces every byte that does not start a well-formed UTF-8 sequence with
// U+FFFD (the JSON writer's policy), in place.
void ReplaceInvalidUtf8(std::string* s);

// IsUnicodeSpace reports whether `c` is white space as Go's unicode.IsSpace defines it.
bool IsUnicodeSpace(char32_t c);

}  // namespace authrouter::internal

#endif  // AUTHROUTER_INTERNAL_UNICODE_H_
