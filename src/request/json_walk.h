// Internal to session-ID extraction: walking a simdjson On-Demand document. Member names as
// JSON compares them, the shape of a value, each member of an object in order, and a scalar's
// JSON text as sent. Shared by the explicit sources and the hash texts (session_id.cc) and the
// conversation chain (session_chain.cc).
#ifndef AUTHROUTER_REQUEST_JSON_WALK_H_
#define AUTHROUTER_REQUEST_JSON_WALK_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "simdjson.h"

namespace authrouter {
inline namespace v0 {
namespace request_internal {

namespace od = simdjson::ondemand;

inline bool IsAsciiWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// MemberName is a member name as JSON compares it: after unescaping. A name without a backslash
// (nearly all of them) is its raw bytes, found without a copy; one with an escape is decoded into
// a small buffer. Only the names the extractor looks for are ever compared, all short ASCII, so a
// decoded name longer than the buffer, or one with an invalid escape (an unknown escape, a short
// \u, a lone surrogate), matches nothing: gjson decodes such a name to something else (it stops
// at the bad escape) and Go's encoding/json rejects the document.
class MemberName {
 public:
  // `key` points into a document simdjson indexed, so its closing quote exists.
  explicit MemberName(od::raw_json_string key) {
    const char* const start = key.raw();
    if constexpr (std::endian::native != std::endian::little) {
      const char* end = start;
      while (*end != '"' && *end != '\\') ++end;
      if (*end == '"') {
        name_ = std::string_view(start, static_cast<size_t>(end - start));
      } else {
        Decode(start);
      }
      return;
    }
    // Eight bytes at a time: every load stays inside the document or its padding.
    constexpr uint64_t kOnes = 0x0101010101010101ull, kHighs = 0x8080808080808080ull;
    for (const char* p = start;; p += 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      const uint64_t quote = w ^ (kOnes * '"'), backslash = w ^ (kOnes * '\\');
      // The lowest marked byte is the first quote or backslash (exactly; higher ones may be
      // false alarms).
      const uint64_t hit =
          ((quote - kOnes) & ~quote & kHighs) | ((backslash - kOnes) & ~backslash & kHighs);
      if (hit == 0) continue;
      const char* const end = p + (std::countr_zero(hit) >> 3);
      if (*end == '"') {
        name_ = std::string_view(start, static_cast<size_t>(end - start));
      } else {
        Decode(start);
      }
      return;
    }
  }
  MemberName(const MemberName&) = delete;
  MemberName& operator=(const MemberName&) = delete;

  bool operator==(std::string_view name) const { return matchable_ && name_ == name; }

 private:
  static constexpr size_t kCap = 32;  // longer than every name looked for

  static bool ReadHex4(const char* p, uint32_t* v) {
    uint32_t r = 0;
    for (int k = 0; k < 4; ++k) {  // stops at the closing quote, which is no hex digit
      const char c = p[k];
      r <<= 4;
      if (c >= '0' && c <= '9')
        r |= static_cast<uint32_t>(c - '0');
      else if (c >= 'a' && c <= 'f')
        r |= static_cast<uint32_t>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        r |= static_cast<uint32_t>(c - 'A' + 10);
      else
        return false;
    }
    *v = r;
    return true;
  }

  [[gnu::noinline, gnu::cold]] void Decode(const char* p) {
    matchable_ = false;  // until the closing quote is reached
    size_t n = 0;
    const auto push = [&](uint32_t cp) {
      char utf8[4];
      size_t len = 0;
      if (cp < 0x80) {
        utf8[len++] = static_cast<char>(cp);
      } else if (cp < 0x800) {
        utf8[len++] = static_cast<char>(0xC0 | (cp >> 6));
        utf8[len++] = static_cast<char>(0x80 | (cp & 0x3F));
      } else if (cp < 0x10000) {
        utf8[len++] = static_cast<char>(0xE0 | (cp >> 12));
        utf8[len++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        utf8[len++] = static_cast<char>(0x80 | (cp & 0x3F));
      } else {
        utf8[len++] = static_cast<char>(0xF0 | (cp >> 18));
        utf8[len++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        utf8[len++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        utf8[len++] = static_cast<char>(0x80 | (cp & 0x3F));
      }
      if (n + len > kCap) return false;
      std::memcpy(buf_ + n, utf8, len);
      n += len;
      return true;
    };
    for (; *p != '"'; ++p) {
      if (*p != '\\') {
        if (!push(static_cast<unsigned char>(*p))) return;
        continue;
      }
      uint32_t cp = 0;
      switch (*++p) {
        case '"':
          cp = '"';
          break;
        case '\\':
          cp = '\\';
          break;
        case '/':
          cp = '/';
          break;
        case 'b':
          cp = '\b';
          break;
        case 'f':
          cp = '\f';
          break;
        case 'n':
          cp = '\n';
          break;
        case 'r':
          cp = '\r';
          break;
        case 't':
          cp = '\t';
          break;
        case 'u': {
          if (!ReadHex4(p + 1, &cp) || (cp >= 0xDC00 && cp <= 0xDFFF)) return;
          p += 4;
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t lo = 0;
            if (p[1] != '\\' || p[2] != 'u' || !ReadHex4(p + 3, &lo) || lo < 0xDC00 ||
                lo > 0xDFFF) {
              return;
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            p += 6;
          }
          break;
        }
        default:
          return;  // not a JSON escape
      }
      if (!push(cp)) return;
    }
    name_ = std::string_view(buf_, n);
    matchable_ = true;
  }

  std::string_view name_;
  bool matchable_ = true;
  char buf_[kCap];
};

// Shape says what AsObject / AsArray found: the wanted kind, something else, or broken JSON.
enum class Shape { kMatch, kOther, kError };

// AsObject opens `v` as an object when it is one.
inline Shape AsObject(od::value& v, od::object* out) {
  od::json_type t;
  if (v.type().get(t)) return Shape::kError;
  if (t != od::json_type::object) return Shape::kOther;
  return v.get_object().get(*out) ? Shape::kError : Shape::kMatch;
}

// AsObject for an array element, or any other simdjson result holding a value.
template <typename Result>
Shape AsObject(Result&& element, od::object* out) {
  od::value value;
  if (element.get(value)) return Shape::kError;
  return AsObject(value, out);
}

// AsArray opens `v` as an array when it is one.
inline Shape AsArray(od::value& v, od::array* out) {
  od::json_type t;
  if (v.type().get(t)) return Shape::kError;
  if (t != od::json_type::array) return Shape::kOther;
  return v.get_array().get(*out) ? Shape::kError : Shape::kMatch;
}

// ForEachMember calls fn(name, value) for each member of `object` in order, until fn returns
// false. False when fn did, or when the JSON is broken.
template <typename Fn>
bool ForEachMember(od::object& object, Fn&& fn) {
  for (auto field : object) {
    od::raw_json_string key;
    if (field.key().get(key)) return false;
    const MemberName name(key);
    od::value value;
    if (field.value().get(value)) return false;
    if (!fn(name, value)) return false;
  }
  return true;
}

// Token is a scalar's JSON text as sent, without the whitespace simdjson leaves after it.
inline std::string_view Token(od::value& v) {
  std::string_view t = v.raw_json_token();
  while (!t.empty() && IsAsciiWs(t.back())) t.remove_suffix(1);
  return t;
}

}  // namespace request_internal
}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_REQUEST_JSON_WALK_H_
