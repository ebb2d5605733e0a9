#include "internal/unicode.h"

#include <cstdint>
#include <cstring>

#include "simdjson.h"

namespace authrouter::internal {

bool IsValidUtf8(std::string_view s) {
  // Short ASCII strings (most model names and error codes) are checked in line, eight bytes at a
  // time; the rest goes to simdjson's validator.
  if (s.size() <= 64) {
    uint64_t high = 0;
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
      uint64_t w;
      std::memcpy(&w, s.data() + i, 8);
      high |= w;
    }
    for (; i < s.size(); ++i) high |= static_cast<unsigned char>(s[i]);
    if ((high & 0x8080808080808080ull) == 0) return true;
  }
  return simdjson::validate_utf8(s.data(), s.size());
}

size_t DecodeUtf8(std::string_view s, char32_t* code_point) {
  const auto b0 = static_cast<unsigned char>(s[0]);
  if (b0 < 0x80) {
    *code_point = b0;
    return 1;
  }
  size_t len;
  char32_t cp;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
    cp = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    cp = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;  // no overlongs
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    cp = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;  // no overlongs
    if (b0 == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() < len) return 0;
  for (size_t i = 1; i < len; ++i) {
    const auto b = static_cast<unsigned char>(s[i]);
    const unsigned char min = i == 1 ? lo : 0x80;
    const unsigned char max = i == 1 ? hi : 0xBF;
    if (b < min || b > max) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  *code_point = cp;
  return len;
}

size_t Utf8SequenceLength(std::string_view s) {
  char32_t ignored;
  return DecodeUtf8(s, &ignored);
}

size_t DecodeLastUtf8(std::string_view s, char32_t* code_point) {
  // A sequence is at most 4 bytes: find its lead byte among the last four.
  const size_t max_back = s.size() < 4 ? s.size() : 4;
  for (size_t len = 1; len <= max_back; ++len) {
    const auto b = static_cast<unsigned char>(s[s.size() - len]);
    if ((b & 0xC0) == 0x80) continue;  // continuation byte: look further back
    const size_t got = DecodeUtf8(s.substr(s.size() - len), code_point);
    return got == len ? len : 0;
  }
  return 0;
}

void ReplaceInvalidUtf8(std::string* s) {
  if (IsValidUtf8(*s)) return;
  std::string out;
  out.reserve(s->size() + 8);
  std::string_view in(*s);
  while (!in.empty()) {
    const size_t len = Utf8SequenceLength(in);
    if (len == 0) {
      out.append("\xEF\xBF\xBD");
      in.remove_prefix(1);
    } else {
      out.append(in.substr(0, len));
      in.remove_prefix(len);
    }
  }
  *s = std::move(out);
}

bool IsUnicodeSpace(char32_t c) {
  switch (c) {
    case U'\t':
    case U'\n':
    case U'\v':
    case U'\f':
    case U'\r':
    case U' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return c >= 0x2000 && c <= 0x200A;
  }
}

}  // namespace authrouter::internal
