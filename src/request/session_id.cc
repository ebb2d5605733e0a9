// Session-ID extraction (spec 03 §2-§3 with later fix A4), over simdjson On-Demand.
//
// One pass over the body's top-level fields collects the explicit sources; only when none of
// them yields an ID does a second pass (a rewind, without re-indexing) collect the texts for the
// message hash. Values are rendered as upstream's gjson renders them: strings decoded, integers
// as written, other numbers in shortest fixed notation, booleans as true/false, objects and arrays
// as their raw JSON text, null as "". Among duplicate keys the first counts, as in gjson. Member
// names compare after unescaping (MemberName), as in gjson and encoding/json.
#include "authrouter/session_id.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <cstring>
#include <vector>

#include "authrouter/values.h"
#include "internal/hash.h"
#include "simdjson.h"

namespace authrouter {
inline namespace v0 {
namespace {

namespace od = simdjson::ondemand;

constexpr size_t kTextCap = 100;  // bytes of each text that enter the hash

bool IsAsciiWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
constexpr size_t kMaxIdBytes = 256;

std::string_view TrimTrailingWs(std::string_view raw) {
  while (!raw.empty() && IsAsciiWs(raw.back())) raw.remove_suffix(1);
  return raw;
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool Hex4(std::string_view s, size_t i, uint32_t* v) {
  if (i + 4 > s.size()) return false;
  uint32_t r = 0;
  for (size_t k = i; k < i + 4; ++k) {
    const char c = s[k];
    r <<= 4;
    if (c >= '0' && c <= '9') r |= static_cast<uint32_t>(c - '0');
    else if (c >= 'a' && c <= 'f') r |= static_cast<uint32_t>(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') r |= static_cast<uint32_t>(c - 'A' + 10);
    else return false;
  }
  *v = r;
  return true;
}

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

// UnescapeLenient decodes a JSON string body (without quotes) as gjson does: a lone surrogate
// or a broken \u escape becomes U+FFFD instead of failing.
void UnescapeLenient(std::string_view s, std::string* out) {
  out->clear();
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out->push_back(s[i]);
      continue;
    }
    const char e = s[++i];
    switch (e) {
      case 'b': out->push_back('\b'); break;
      case 'f': out->push_back('\f'); break;
      case 'n': out->push_back('\n'); break;
      case 'r': out->push_back('\r'); break;
      case 't': out->push_back('\t'); break;
      case 'u': {
        uint32_t cp;
        if (!Hex4(s, i + 1, &cp)) {
          AppendUtf8(out, 0xFFFD);
          break;
        }
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          uint32_t lo;
          if (i + 2 < s.size() && s[i + 1] == '\\' && s[i + 2] == 'u' && Hex4(s, i + 3, &lo) &&
              lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          } else {
            cp = 0xFFFD;
          }
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          cp = 0xFFFD;
        }
        AppendUtf8(out, cp);
        break;
      }
      default:
        out->push_back(e);  // \" \\ \/ and anything else: the character itself
    }
  }
}

// FormatGoFloat writes `d` as Go's strconv.FormatFloat(d, 'f', -1, 64): the shortest digits
// that read back as `d`, in plain decimal notation; infinities as +Inf / -Inf.
void FormatGoFloat(double d, std::string* out) {
  out->clear();
  if (std::isinf(d)) {
    out->assign(d > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (std::isnan(d)) {
    out->assign("NaN");
    return;
  }
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string_view sci(buf, static_cast<size_t>(r.ptr - buf));  // [-]d[.ddd]e[+-]XX
  if (!sci.empty() && sci.front() == '-') {
    out->push_back('-');
    sci.remove_prefix(1);
  }
  const size_t epos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, epos)) {
    if (c != '.') digits.push_back(c);
  }
  int exp = 0;
  std::from_chars(sci.data() + epos + (sci[epos + 1] == '+' ? 2 : 1), sci.data() + sci.size(), exp);
  if (exp >= 0) {
    const size_t int_len = static_cast<size_t>(exp) + 1;
    if (digits.size() <= int_len) {
      out->append(digits);
      out->append(int_len - digits.size(), '0');
    } else {
      out->append(digits, 0, int_len);
      out->push_back('.');
      out->append(digits, int_len, std::string::npos);
    }
  } else {
    out->append("0.");
    out->append(static_cast<size_t>(-exp - 1), '0');
    out->append(digits);
  }
}

// Render writes `v` as gjson's String() would. Returns false only on a structural error; odd
// strings and numbers render leniently, as gjson does.
bool Render(od::value v, std::string* out) {
  out->clear();
  od::json_type type;
  if (v.type().get(type)) return false;
  switch (type) {
    case od::json_type::string: {
      const std::string_view raw = TrimTrailingWs(v.raw_json_token());
      if (raw.size() < 2) return false;
      UnescapeLenient(raw.substr(1, raw.size() - 2), out);
      return true;
    }
    case od::json_type::number: {
      const std::string_view raw = TrimTrailingWs(v.raw_json_token());
      size_t i = !raw.empty() && raw[0] == '-' ? 1 : 0;
      bool integer = i < raw.size();
      for (; i < raw.size(); ++i) integer = integer && raw[i] >= '0' && raw[i] <= '9';
      if (integer) {
        out->assign(raw);
        return true;
      }
      double d = 0;
      const auto r = std::from_chars(raw.data(), raw.data() + raw.size(), d);
      if (r.ec == std::errc::result_out_of_range) {
        // Overflow reads as an infinity; underflow as zero (strconv.ParseFloat).
        const size_t e = raw.find_first_of("eE");
        const bool tiny = e != std::string_view::npos && e + 1 < raw.size() && raw[e + 1] == '-';
        d = tiny ? (raw[0] == '-' ? -0.0 : 0.0)
                 : (raw[0] == '-' ? -std::numeric_limits<double>::infinity()
                                  : std::numeric_limits<double>::infinity());
      } else if (r.ec != std::errc()) {
        return false;
      }
      FormatGoFloat(d, out);
      return true;
    }
    case od::json_type::boolean: {
      bool b;
      if (v.get_bool().get(b)) return false;
      out->assign(b ? "true" : "false");
      return true;
    }
    case od::json_type::null:
      return true;
    case od::json_type::object: {
      od::object o;
      std::string_view raw;
      if (v.get_object().get(o) || o.raw_json().get(raw)) return false;
      out->assign(TrimTrailingWs(raw));
      return true;
    }
    case od::json_type::array: {
      od::array a;
      std::string_view raw;
      if (v.get_array().get(a) || a.raw_json().get(raw)) return false;
      out->assign(TrimTrailingWs(raw));
      return true;
    }
  }
  return false;
}

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

// Text gathers one hash text: pieces joined with one space, cut to its first 100 bytes.
struct Text {
  std::string value;  // at most kTextCap bytes
  bool set = false;   // a non-empty text was found

  void Clear() {
    value.clear();
    set = false;
  }
  void AppendPiece(std::string_view piece) {
    if (piece.empty()) return;
    if (set && value.size() < kTextCap) value.push_back(' ');
    set = true;
    if (value.size() < kTextCap) value.append(piece.substr(0, kTextCap - value.size()));
  }
  void Assign(std::string_view s) {
    value.assign(s.substr(0, kTextCap));
    set = true;
  }
};

}  // namespace

std::string_view NormalizeExplicitSessionId(std::string_view raw) {
  // Eight bytes at a time while they are printable ASCII (0x20..0x7E), which IDs nearly always
  // are; the byte loop below checks what is left, and controls, from the first other byte.
  size_t i = 0;
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  for (; i + 8 <= raw.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, raw.data() + i, 8);
    const uint64_t below_space = (w - 0x20 * kOnes) & ~w;  // high bit set where a byte < 0x20
    const uint64_t x = w ^ (0x7F * kOnes);
    const uint64_t del = (x - kOnes) & ~x;  // high bit set where a byte == 0x7F
    if (((below_space | del | w) & kHigh) != 0) break;
  }
  for (; i < raw.size(); ++i) {
    const auto c = static_cast<unsigned char>(raw[i]);
    if (c < 0x20 || c == 0x7F) return {};
    // U+0080..U+009F (C1 controls) are C2 80..C2 9F in UTF-8.
    if (c == 0xC2 && i + 1 < raw.size()) {
      const auto n = static_cast<unsigned char>(raw[i + 1]);
      if (n >= 0x80 && n <= 0x9F) return {};
    }
  }
  raw = TrimSpace(raw);
  if (raw.empty() || raw.size() > kMaxIdBytes) return {};
  return raw;
}

struct SessionIdExtractor::Impl {
  od::parser parser;
  od::parser inner;  // for a JSON-encoded metadata.user_id
  std::vector<char> padded;
  std::vector<char> inner_padded;
  std::string primary, fallback;
  std::string_view previous_response_id;  // into ex.previous_response_id, validated
  std::string scratch, scratch2, part_text, role, type;
  Text item_text;  // the text of the element being read

  // Body fields of the first pass (explicit sources).
  struct Explicit {
    bool user_id_set = false;
    std::string user_id;
    bool session_id_set = false, session_id_camel_set = false;
    std::string session_id, session_id_camel;
    bool conversation_set = false;
    std::string conversation;  // conv ID: conversation.id or the string conversation
    bool prompt_cache_key_set = false;
    std::string prompt_cache_key;
    bool conversation_id_set = false;
    std::string conversation_id;
    bool previous_response_id_set = false;
    std::string previous_response_id;
    bool request_seen = false;  // the Code Assist envelope's "request" object
    bool request_session_id_set = false;
    std::string request_session_id;
    bool metadata_seen = false;
    bool conversation_seen = false;

    // Reset empties every field, keeping the strings' storage for the next request.
    void Reset() {
      user_id_set = session_id_set = session_id_camel_set = false;
      conversation_set = prompt_cache_key_set = conversation_id_set = false;
      request_seen = request_session_id_set = previous_response_id_set = false;
      metadata_seen = conversation_seen = false;
      for (std::string* s : {&user_id, &session_id, &session_id_camel, &conversation,
                             &prompt_cache_key, &conversation_id, &request_session_id,
                             &previous_response_id}) {
        s->clear();
      }
    }
  } ex;

  // Hash texts of the second pass.
  Text a_sys, a_usr, a_ast;               // stage A (messages)
  bool system_seen = false;
  bool system_is_string = false;
  Text b_sys;                             // stage B (top-level system)
  Text c_sys, c_usr, c_ast;               // stage C (Gemini)
  Text d_instr;                           // stage D instructions
  Text d_sys, d_usr, d_ast;               // stage D input
  size_t d_sys_idx = 0, d_usr_idx = 0, d_ast_idx = 0;
  bool messages_seen = false, sysinstr_seen = false, contents_seen = false;
  bool instructions_seen = false, input_seen = false, request_seen = false;

  // The conversation chain (SessionIdOptions::content = kChain): one hash per turn prefix.
  std::vector<uint64_t> prefix;     // prefix[i]: the hash of turns [0, i]
  std::vector<uint8_t> assistant;   // whether turn i is the model's
  uint64_t turn_hash = 0;           // of the turn being read (each turn hashed on its own)
  uint64_t system_hash = 0;         // the system prompt's, folded into the chain's start
  std::string chain_id, continues_id;
  bool ChainPass(od::object root);
  bool ChainTurns(od::value v, bool gemini);   // messages / contents / input items
  bool ChainContent(od::value v);              // a content value: string, parts, part objects
  bool ChainSystem(od::value v);               // system / systemInstruction / instructions
  void BeginTurn(std::string_view name);
  void AddPiece(std::string_view raw);
  void EndTurn(bool is_assistant);

  bool Load(std::string_view body, std::vector<char>& buffer, od::parser& p, od::document& doc) {
    buffer.resize(body.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(buffer.data(), body.data(), body.size());
    return !p.iterate(buffer.data(), body.size(), buffer.size()).get(doc);
  }

  bool FirstPass(od::object root);
  bool SecondPass(od::object root);
  bool ReadMessages(od::value v);
  bool ReadSystem(od::value v);
  bool ReadSystemInstruction(od::value v);
  bool ReadContents(od::value v);
  bool ReadInput(od::value v);
  bool ReadEnvelope(od::value v);
  std::string_view ClaudeSession();
  std::string_view LenientSessionId(std::string_view text);
  void Hash();
};

// ---- the conversation chain ----------------------------------------------------------------
//
// A turn is its role and its texts, hashed from the JSON text as the client sent it (no
// unescaping: a client serialises its own history the same way each time), a piece of more than
// kChainPieceBytes counting by its length, first and last kChainPieceBytes / 2 bytes. The system
// prompt seeds the chain, wherever it stands in the body, and turn hashes chain from it:
// prefix[i] covers turns 0..i. A request continues the request made just before the
// model's last reply in it (the turns before that reply), and binds its own full chain.

namespace {
constexpr size_t kChainPieceBytes = 4096;
constexpr uint64_t kChainSeed = 0x243f6a8885a308d3ull;

// Token is a scalar's JSON text as sent, without the whitespace simdjson leaves after it.
std::string_view Token(od::value& v) {
  std::string_view t = v.raw_json_token();
  while (!t.empty() && IsAsciiWs(t.back())) t.remove_suffix(1);
  return t;
}

// Fold chains one 64-bit hash into another.
uint64_t Fold(uint64_t seed, uint64_t h) {
  char bytes[8];
  std::memcpy(bytes, &h, 8);
  return internal::HashBytesSeeded(std::string_view(bytes, 8), seed);
}

}  // namespace

void SessionIdExtractor::Impl::BeginTurn(std::string_view name) {
  turn_hash = internal::HashBytesSeeded(name, kChainSeed);
}

void SessionIdExtractor::Impl::AddPiece(std::string_view raw) {
  if (raw.size() <= kChainPieceBytes) {
    turn_hash = internal::HashBytesSeeded(raw, turn_hash);
    return;
  }
  constexpr size_t half = kChainPieceBytes / 2;
  turn_hash = internal::HashBytesSeeded(raw.substr(0, half), turn_hash ^ raw.size());
  turn_hash = internal::HashBytesSeeded(raw.substr(raw.size() - half), turn_hash);
}

void SessionIdExtractor::Impl::EndTurn(bool is_assistant) {
  prefix.push_back(turn_hash);
  assistant.push_back(is_assistant ? 1 : 0);
}

// ChainContent adds a content value's texts: a string; an array of strings or of part objects
// (their "text", and the "text" of nested "content"); an object part. Tool calls and their
// results count by what identifies them: IDs, names and argument strings (OpenAI "tool_calls"
// with "function", Claude "tool_use" / "tool_result", Gemini "functionCall" /
// "functionResponse", Responses "*_call" items).
bool SessionIdExtractor::Impl::ChainContent(od::value v) {
  od::json_type t;
  if (v.type().get(t)) return false;
  if (t == od::json_type::string) {
    AddPiece(Token(v));
    return true;
  }
  if (t == od::json_type::array) {
    od::array parts;
    if (v.get_array().get(parts)) return false;
    for (auto part : parts) {
      od::value pv;
      if (part.get(pv) || !ChainContent(pv)) return false;
    }
    return true;
  }
  if (t != od::json_type::object) return true;
  od::object o;
  if (v.get_object().get(o)) return false;
  for (auto f : o) {
    od::raw_json_string k;
    if (f.key().get(k)) return false;
    const MemberName name(k);
    // Texts, and what identifies a tool call or its result; not cache_control and the like,
    // which clients move between turns.
    if (name == "text" || name == "content" || name == "parts" || name == "call_id" ||
        name == "tool_use_id" || name == "id" || name == "arguments" || name == "output" ||
        name == "input" || name == "function" || name == "name" || name == "functionCall" ||
        name == "functionResponse") {
      od::value fv;
      if (f.value().get(fv)) return false;
      od::json_type ft;
      if (fv.type().get(ft)) return false;
      if (ft == od::json_type::string || ft == od::json_type::array || ft == od::json_type::object) {
        if (!ChainContent(fv)) return false;
      }
    }
  }
  return true;
}

// ChainSystem adds one system turn: a string, or parts with texts.
// The system prompt seeds the whole chain wherever its field stands in the body (SDKs that sort
// their keys put "system" after "messages", "instructions" after "input").
bool SessionIdExtractor::Impl::ChainSystem(od::value v) {
  BeginTurn("system");
  if (!ChainContent(v)) return false;
  system_hash = Fold(system_hash, turn_hash);
  return true;
}

// ChainTurns adds the turns of an OpenAI/Claude "messages", a Gemini "contents" or a Responses
// "input" array (a string input is one user turn).
bool SessionIdExtractor::Impl::ChainTurns(od::value v, bool gemini) {
  od::json_type t;
  if (v.type().get(t)) return false;
  if (t == od::json_type::string) {
    BeginTurn("user");
    AddPiece(Token(v));
    EndTurn(false);
    return true;
  }
  if (t != od::json_type::array) return true;
  od::array items;
  if (v.get_array().get(items)) return false;
  for (auto item : items) {
    od::object o;
    if (const Shape shape = AsObject(item, &o); shape != Shape::kMatch) {
      if (shape == Shape::kError) return false;
      continue;
    }
    // Role (or, for Responses items without one, the type) first in the hash; the object's
    // members are read in order, so the role is hashed when it comes and the texts after it.
    // Role and type as sent (JSON tokens, quotes included): no copy.
    std::string_view role_token, type_token;
    turn_hash = kChainSeed;
    for (auto f : o) {
      od::raw_json_string k;
      if (f.key().get(k)) return false;
      const MemberName name(k);
      od::value fv;
      if (f.value().get(fv)) return false;
      if (name == "role" && role_token.empty()) {
        role_token = Token(fv);
        turn_hash = internal::HashBytesSeeded(role_token, turn_hash ^ 0x9e3779b97f4a7c15ull);
      } else if (name == "type" && type_token.empty()) {
        type_token = Token(fv);
        if (type_token != "\"message\"") turn_hash = internal::HashBytesSeeded(type_token, turn_hash);
      } else if (name == (gemini ? "parts" : "content") || name == "call_id" || name == "arguments" ||
                 name == "output" || name == "tool_calls" || name == "tool_call_id") {
        if (!ChainContent(fv)) return false;
      }
    }
    // A reasoning item is encrypted and some clients drop it from later requests: no turn.
    if (type_token == "\"reasoning\"") continue;
    // The model's turns: its messages, and its tool calls (Responses items "function_call",
    // "custom_tool_call", "local_shell_call", ... but not their "..._call_output" results).
    const bool model = role_token == "\"assistant\"" || role_token == "\"model\"" ||
                       type_token.ends_with("_call\"");
    EndTurn(model);
  }
  return true;
}

bool SessionIdExtractor::Impl::ChainPass(od::object root) {
  for (auto field : root) {
    od::raw_json_string key;
    if (field.key().get(key)) return false;
    const MemberName name(key);
    od::value v;
    if (field.value().get(v)) return false;
    bool ok = true;
    if (name == "system" || name == "instructions" || name == "systemInstruction") {
      ok = ChainSystem(v);
    } else if (name == "messages" || name == "input") {
      ok = ChainTurns(v, false);
    } else if (name == "contents") {
      ok = ChainTurns(v, true);
    } else if (name == "request") {  // the Code Assist envelope
      od::object req;
      if (const Shape shape = AsObject(v, &req); shape == Shape::kError) return false;
      else if (shape == Shape::kOther) continue;
      for (auto f : req) {
        od::raw_json_string k;
        if (f.key().get(k)) return false;
        const MemberName rname(k);
        od::value rv;
        if (f.value().get(rv)) return false;
        if (rname == "systemInstruction") {
          ok = ChainSystem(rv);
        } else if (rname == "contents") {
          ok = ChainTurns(rv, true);
        }
        if (!ok) return false;
      }
    }
    if (!ok) return false;
  }
  return true;
}

SessionIdExtractor::SessionIdExtractor() : impl_(std::make_unique<Impl>()) {}
SessionIdExtractor::~SessionIdExtractor() = default;

bool SessionIdExtractor::Impl::FirstPass(od::object root) {
  for (auto field : root) {
    od::raw_json_string key;
    if (field.key().get(key)) return false;
    const MemberName name(key);
    od::value v;
    if (field.value().get(v)) return false;
    if (name == "metadata" && !ex.user_id_set) {
      // gjson resolves "metadata.user_id" in the first "metadata" that has a user_id.
      od::object meta;
      if (const Shape shape = AsObject(v, &meta); shape != Shape::kMatch) {
        if (shape == Shape::kError) return false;
        continue;
      }
      for (auto mf : meta) {
        od::raw_json_string mkey;
        if (mf.key().get(mkey)) return false;
        const MemberName mname(mkey);
        if (mname != "user_id" || ex.user_id_set) continue;
        od::value mv;
        if (mf.value().get(mv) || !Render(mv, &ex.user_id)) return false;
        ex.user_id_set = true;
      }
    } else if (name == "session_id" && !ex.session_id_set) {
      if (!Render(v, &ex.session_id)) return false;
      ex.session_id_set = true;
    } else if (name == "sessionId" && !ex.session_id_camel_set) {
      if (!Render(v, &ex.session_id_camel)) return false;
      ex.session_id_camel_set = true;
    } else if (name == "conversation" && !ex.conversation_seen) {
      ex.conversation_seen = true;
      od::json_type t;
      if (v.type().get(t)) return false;
      if (t == od::json_type::object) {
        od::object conv;
        if (v.get_object().get(conv)) return false;
        bool id_seen = false;
        for (auto cf : conv) {
          od::raw_json_string ckey;
          if (cf.key().get(ckey)) return false;
          const MemberName cname(ckey);
          if (cname != "id" || id_seen) continue;
          id_seen = true;
          od::value cv;
          if (cf.value().get(cv) || !Render(cv, &scratch)) return false;
          if (std::string_view id = NormalizeExplicitSessionId(scratch); !id.empty()) {
            ex.conversation.assign(id);
            ex.conversation_set = true;
          }
        }
      } else if (t == od::json_type::string) {
        if (!Render(v, &scratch)) return false;
        if (std::string_view id = NormalizeExplicitSessionId(scratch); !id.empty()) {
          ex.conversation.assign(id);
          ex.conversation_set = true;
        }
      }
    } else if (name == "prompt_cache_key" && !ex.prompt_cache_key_set) {
      if (!Render(v, &ex.prompt_cache_key)) return false;
      ex.prompt_cache_key_set = true;
    } else if (name == "conversation_id" && !ex.conversation_id_set) {
      if (!Render(v, &ex.conversation_id)) return false;
      ex.conversation_id_set = true;
    } else if (name == "previous_response_id" && !ex.previous_response_id_set) {
      if (!Render(v, &ex.previous_response_id)) return false;
      ex.previous_response_id_set = true;
    } else if (name == "request" && !ex.request_seen) {
      // The Code Assist envelope (Gemini CLI with a Google login): {"model", "project",
      // "request": {"contents", "systemInstruction", "session_id", ...}}.
      ex.request_seen = true;
      od::object req;
      if (const Shape shape = AsObject(v, &req); shape != Shape::kMatch) {
        if (shape == Shape::kError) return false;
        continue;
      }
      for (auto rf : req) {
        od::raw_json_string rkey;
        if (rf.key().get(rkey)) return false;
        if (MemberName(rkey) != "session_id" || ex.request_session_id_set) continue;
        od::value rv;
        if (rf.value().get(rv) || !Render(rv, &ex.request_session_id)) return false;
        ex.request_session_id_set = true;
      }
    }
  }
  return true;
}

// LenientSessionId finds `"session_id" : "<string>"` in text that is not valid JSON, the way
// gjson still answers for such input. Returns "" when there is none.
std::string_view SessionIdExtractor::Impl::LenientSessionId(std::string_view text) {
  constexpr std::string_view kKey = "\"session_id\"";
  for (size_t pos = text.find(kKey); pos != std::string_view::npos;
       pos = text.find(kKey, pos + 1)) {
    size_t i = pos + kKey.size();
    while (i < text.size() && IsAsciiWs(text[i])) ++i;
    if (i >= text.size() || text[i] != ':') continue;
    ++i;
    while (i < text.size() && IsAsciiWs(text[i])) ++i;
    if (i >= text.size() || text[i] != '"') continue;
    const size_t start = ++i;
    while (i < text.size() && text[i] != '"') i += text[i] == '\\' ? 2 : 1;
    UnescapeLenient(text.substr(start, std::min(i, text.size()) - start), &scratch2);
    return scratch2;
  }
  return {};
}

// ClaudeSession returns the Claude Code session in metadata.user_id, if any.
std::string_view SessionIdExtractor::Impl::ClaudeSession() {
  if (!ex.user_id_set) return {};
  const std::string_view user_id = TrimSpace(ex.user_id);
  if (user_id.empty()) return {};
  if (user_id.front() == '{') {
    od::document doc;
    od::object o;
    if (Load(user_id, inner_padded, inner, doc) && !doc.get_object().get(o)) {
      bool ok = true;
      for (auto f : o) {
        od::raw_json_string k;
        if (f.key().get(k)) {
          ok = false;
          break;
        }
        if (MemberName(k) != "session_id") continue;
        od::value v;
        if (f.value().get(v) || !Render(v, &scratch2)) {
          ok = false;
          break;
        }
        return NormalizeExplicitSessionId(scratch2);
      }
      if (ok) return {};
    }
    // gjson reads malformed JSON leniently: find a "session_id" string value by hand.
    return NormalizeExplicitSessionId(LenientSessionId(user_id));
  }
  // Legacy form: the leftmost "_session_" followed only by [a-f0-9-]+ to the end.
  for (size_t pos = user_id.find("_session_"); pos != std::string_view::npos;
       pos = user_id.find("_session_", pos + 1)) {
    const std::string_view rest = user_id.substr(pos + 9);
    bool ok = !rest.empty();
    for (char c : rest) ok = ok && ((c >= 'a' && c <= 'f') || (c >= '0' && c <= '9') || c == '-');
    if (ok) return NormalizeExplicitSessionId(rest);
  }
  return {};
}

// MessageText reads an OpenAI/Claude message `content`: a string, or the non-empty `text` of the
// elements whose `type` is "text", joined with spaces.
static bool MessageText(od::value v, Text* out, std::string* scratch, std::string* text,
                        bool responses_types) {
  od::json_type t;
  if (v.type().get(t)) return false;
  if (t == od::json_type::string) {
    if (!Render(v, scratch)) return false;
    out->Assign(*scratch);
    if (scratch->empty()) out->set = false;
    return true;
  }
  if (t != od::json_type::array) return true;
  od::array parts;
  if (v.get_array().get(parts)) return false;
  for (auto part : parts) {
    od::object po;
    if (const Shape shape = AsObject(part, &po); shape != Shape::kMatch) {
      if (shape == Shape::kError) return false;
      continue;
    }
    bool type_seen = false, text_seen = false, type_ok = false;
    text->clear();
    for (auto f : po) {
      od::raw_json_string k;
      if (f.key().get(k)) return false;
      const MemberName kname(k);
      od::value fv;
      if (kname == "type" && !type_seen) {
        type_seen = true;
        if (f.value().get(fv) || !Render(fv, scratch)) return false;
        type_ok = *scratch == "text" ||
                  (responses_types && (*scratch == "input_text" || *scratch == "output_text"));
      } else if (kname == "text" && !text_seen) {
        text_seen = true;
        if (f.value().get(fv) || !Render(fv, text)) return false;
      }
    }
    if (type_ok) out->AppendPiece(*text);
  }
  return true;
}

bool SessionIdExtractor::Impl::ReadMessages(od::value v) {
  od::array messages;
  if (const Shape shape = AsArray(v, &messages); shape != Shape::kMatch) {
    return shape == Shape::kOther;
  }
  Text& text = item_text;
  for (auto item : messages) {
    if (a_sys.set && a_usr.set && a_ast.set) break;
    od::object m;
    if (const Shape shape = AsObject(item, &m); shape != Shape::kMatch) {
      if (shape == Shape::kError) return false;
      continue;
    }
    bool role_seen = false, content_seen = false;
    role.clear();
    text.Clear();
    for (auto f : m) {
      od::raw_json_string k;
      if (f.key().get(k)) return false;
      const MemberName kname(k);
      od::value fv;
      if (kname == "role" && !role_seen) {
        role_seen = true;
        if (f.value().get(fv) || !Render(fv, &role)) return false;
      } else if (kname == "content" && !content_seen) {
        content_seen = true;
        if (f.value().get(fv) || !MessageText(fv, &text, &scratch, &part_text, false)) {
          return false;
        }
      }
    }
    if (!text.set) continue;
    Text* slot = role == "system" ? &a_sys : role == "user" ? &a_usr : role == "assistant" ? &a_ast : nullptr;
    if (slot != nullptr && !slot->set) *slot = text;
  }
  return true;
}

bool SessionIdExtractor::Impl::ReadSystem(od::value v) {
  od::json_type t;
  if (v.type().get(t)) return false;
  if (t == od::json_type::string) {
    // An empty string leaves S empty, so later stages still run (upstream checks S == "").
    if (!Render(v, &scratch)) return false;
    if (!scratch.empty()) b_sys.Assign(scratch);
    system_is_string = true;
    return true;
  }
  if (t != od::json_type::array) return true;
  od::array parts;
  if (v.get_array().get(parts)) return false;
  for (auto part : parts) {
    od::object po;
    if (const Shape shape = AsObject(part, &po); shape != Shape::kMatch) {
      if (shape == Shape::kError) return false;
      continue;
    }
    scratch.clear();  // a part without "text" has none (never a previous value)
    for (auto f : po) {
      od::raw_json_string k;
      if (f.key().get(k)) return false;
      const MemberName kname(k);
      if (kname != "text") continue;
      od::value fv;
      if (f.value().get(fv) || !Render(fv, &scratch)) return false;
      break;  // the first "text" counts
    }
    if (!scratch.empty()) {
      b_sys.Assign(scratch);
      return true;
    }
  }
  return true;
}

// PartText reads one part: its first "text" if it is a non-empty text. Returns false on a
// structural error; *found says whether it had one.
static bool PartText(od::value pv, Text* out, std::string* scratch, bool* found) {
  *found = false;
  od::object po;
  if (const Shape shape = AsObject(pv, &po); shape != Shape::kMatch) {
    return shape == Shape::kOther;
  }
  scratch->clear();
  for (auto f : po) {
    od::raw_json_string k;
    if (f.key().get(k)) return false;
    const MemberName kname(k);
    if (kname != "text") continue;
    od::value fv;
    if (f.value().get(fv) || !Render(fv, scratch)) return false;
    break;
  }
  if (!scratch->empty()) {
    out->Assign(*scratch);
    *found = true;
  }
  return true;
}

// FirstPartText reads the first part of `parts` with a non-empty `text`. Gemini contents'
// parts given as an object are walked by value, as gjson's ForEach does (`object_parts`).
static bool FirstPartText(od::value v, Text* out, std::string* scratch, bool object_parts) {
  od::json_type t;
  if (v.type().get(t)) return false;
  bool found = false;
  if (t == od::json_type::object && object_parts) {
    od::object o;
    if (v.get_object().get(o)) return false;
    for (auto f : o) {
      od::value pv;
      if (f.value().get(pv) || !PartText(pv, out, scratch, &found)) return false;
      if (found) return true;
    }
    return true;
  }
  if (t != od::json_type::array) return true;
  od::array parts;
  if (v.get_array().get(parts)) return false;
  for (auto part : parts) {
    od::value pv;
    if (part.get(pv) || !PartText(pv, out, scratch, &found)) return false;
    if (found) return true;
  }
  return true;
}

bool SessionIdExtractor::Impl::ReadSystemInstruction(od::value v) {
  od::object o;
  if (const Shape shape = AsObject(v, &o); shape != Shape::kMatch) {
    return shape == Shape::kOther;
  }
  for (auto f : o) {
    od::raw_json_string k;
    if (f.key().get(k)) return false;
    const MemberName kname(k);
    if (kname != "parts") continue;
    sysinstr_seen = true;
    od::value pv;
    if (f.value().get(pv)) return false;
    return FirstPartText(pv, &c_sys, &scratch, /*object_parts=*/false);
  }
  return true;
}

bool SessionIdExtractor::Impl::ReadContents(od::value v) {
  od::array contents;
  if (const Shape shape = AsArray(v, &contents); shape != Shape::kMatch) {
    return shape == Shape::kOther;
  }
  Text& text = item_text;
  for (auto item : contents) {
    if (c_usr.set && c_ast.set) break;
    od::object c;
    if (const Shape shape = AsObject(item, &c); shape != Shape::kMatch) {
      if (shape == Shape::kError) return false;
      continue;
    }
    bool role_seen = false, parts_seen = false;
    role.clear();
    text.Clear();
    for (auto f : c) {
      od::raw_json_string k;
      if (f.key().get(k)) return false;
      const MemberName kname(k);
      od::value fv;
      if (kname == "role" && !role_seen) {
        role_seen = true;
        if (f.value().get(fv) || !Render(fv, &role)) return false;
      } else if (kname == "parts" && !parts_seen) {
        parts_seen = true;
        if (f.value().get(fv) || !FirstPartText(fv, &text, &scratch, /*object_parts=*/true)) {
          return false;
        }
      }
    }
    if (!text.set) continue;
    if (role == "user" && !c_usr.set) c_usr = text;
    if (role == "model" && !c_ast.set) c_ast = text;
  }
  return true;
}

bool SessionIdExtractor::Impl::ReadInput(od::value v) {
  od::array items;  // a string input is ignored
  if (const Shape shape = AsArray(v, &items); shape != Shape::kMatch) {
    return shape == Shape::kOther;
  }
  Text& text = item_text;
  size_t index = 0;
  for (auto item : items) {
    // Upstream stops once a user and an assistant text are found; nothing later matters.
    if (d_usr.set && d_ast.set) break;
    ++index;
    od::object o;
    if (const Shape shape = AsObject(item, &o); shape != Shape::kMatch) {
      if (shape == Shape::kError) return false;
      continue;
    }
    bool type_seen = false, role_seen = false, content_seen = false;
    type.clear();
    role.clear();
    text.Clear();
    for (auto f : o) {
      od::raw_json_string k;
      if (f.key().get(k)) return false;
      const MemberName kname(k);
      od::value fv;
      if (kname == "type" && !type_seen) {
        type_seen = true;
        if (f.value().get(fv) || !Render(fv, &type)) return false;
      } else if (kname == "role" && !role_seen) {
        role_seen = true;
        if (f.value().get(fv) || !Render(fv, &role)) return false;
      } else if (kname == "content" && !content_seen) {
        content_seen = true;
        if (f.value().get(fv) || !MessageText(fv, &text, &scratch, &part_text, true)) {
          return false;
        }
      }
    }
    if (type == "reasoning" || (!type.empty() && type != "message")) continue;
    if (type.empty() && role.empty()) continue;
    if (!text.set) continue;
    if ((role == "developer" || role == "system") && !d_sys.set) {
      d_sys = text;
      d_sys_idx = index;
    } else if (role == "user" && !d_usr.set) {
      d_usr = text;
      d_usr_idx = index;
    } else if (role == "assistant" && !d_ast.set) {
      d_ast = text;
      d_ast_idx = index;
    }
  }
  return true;
}

// ReadEnvelope reads the Gemini texts of a Code Assist envelope's "request" object, as the
// top-level "contents" and "systemInstruction" of a plain Gemini body (whichever comes first in
// the body counts).
bool SessionIdExtractor::Impl::ReadEnvelope(od::value v) {
  od::object req;
  if (const Shape shape = AsObject(v, &req); shape != Shape::kMatch) {
    return shape == Shape::kOther;
  }
  for (auto f : req) {
    od::raw_json_string k;
    if (f.key().get(k)) return false;
    const MemberName name(k);
    od::value fv;
    if (f.value().get(fv)) return false;
    bool ok = true;
    if (name == "systemInstruction" && !sysinstr_seen) {
      ok = ReadSystemInstruction(fv);
    } else if (name == "contents" && !contents_seen) {
      contents_seen = true;
      ok = ReadContents(fv);
    }
    if (!ok) return false;
  }
  return true;
}

bool SessionIdExtractor::Impl::SecondPass(od::object root) {
  for (auto field : root) {
    od::raw_json_string key;
    if (field.key().get(key)) return false;
    const MemberName name(key);
    od::value v;
    if (field.value().get(v)) return false;
    bool ok = true;
    if (name == "messages" && !messages_seen) {
      messages_seen = true;
      ok = ReadMessages(v);
    } else if (name == "system" && !system_seen) {
      system_seen = true;
      ok = ReadSystem(v);
    } else if (name == "systemInstruction" && !sysinstr_seen) {
      ok = ReadSystemInstruction(v);  // sets sysinstr_seen once "parts" resolves
    } else if (name == "contents" && !contents_seen) {
      contents_seen = true;
      ok = ReadContents(v);
    } else if (name == "instructions" && !instructions_seen) {
      instructions_seen = true;
      ok = Render(v, &scratch);
      if (ok && !scratch.empty()) d_instr.Assign(scratch);
    } else if (name == "input" && !input_seen) {
      input_seen = true;
      ok = ReadInput(v);
    } else if (name == "request" && !request_seen) {
      request_seen = true;
      ok = ReadEnvelope(v);
    }
    if (!ok) return false;
  }
  return true;
}

void SessionIdExtractor::Impl::Hash() {
  // Stage A, then B, C and D in order, as upstream applies them.
  const Text* s = &a_sys;
  const Text* u = &a_usr;
  const Text* a = &a_ast;
  if (!s->set && b_sys.set) s = &b_sys;
  if (!s->set && !u->set) {
    if (c_sys.set) s = &c_sys;
    if (!u->set && c_usr.set) u = &c_usr;
    if (!a->set && c_ast.set) a = &c_ast;
  }
  if (!s->set && !u->set) {
    if (d_instr.set) s = &d_instr;
    // The input loop stops once U and A are both set; later items are not read.
    const bool a_preset = a->set;
    size_t stop = SIZE_MAX;
    if (d_usr.set && (a_preset || d_ast.set)) {
      stop = a_preset ? d_usr_idx : std::max(d_usr_idx, d_ast_idx);
    }
    if (!s->set && d_sys.set && d_sys_idx <= stop) s = &d_sys;
    if (d_usr.set) u = &d_usr;
    if (!a->set && d_ast.set && d_ast_idx <= stop) a = &d_ast;
  }
  const bool has_s = s->set && !s->value.empty();
  const bool has_u = u->set && !u->value.empty();
  if (!has_s && !has_u) return;
  const auto fnv = [](uint64_t h, std::string_view bytes) {
    for (char c : bytes) {
      h ^= static_cast<unsigned char>(c);
      h *= 0x100000001b3ull;
    }
    return h;
  };
  uint64_t h = 0xcbf29ce484222325ull;
  if (has_s) h = fnv(fnv(fnv(h, "sys:"), s->value), "\n");
  if (has_u) h = fnv(fnv(fnv(h, "usr:"), u->value), "\n");
  const auto hex = [](uint64_t v, std::string* out) {
    static constexpr char kHex[] = "0123456789abcdef";
    out->assign("msg:");
    for (int shift = 60; shift >= 0; shift -= 4) out->push_back(kHex[(v >> shift) & 0xF]);
  };
  const bool has_a = a->set && !a->value.empty();
  if (!has_a) {
    hex(h, &primary);
    return;
  }
  hex(h, &fallback);
  hex(fnv(fnv(fnv(h, "ast:"), a->value), "\n"), &primary);
}

SessionIds SessionIdExtractor::Extract(std::span<const HttpHeader> headers,
                                       std::string_view body) {
  return Extract(headers, body, SessionIdOptions{});
}

SessionIds SessionIdExtractor::Extract(std::span<const HttpHeader> headers, std::string_view body,
                                       const SessionIdOptions& options) {
  SessionIds ids = ExtractSession(headers, body, options);
  ids.previous_response_id = impl_->previous_response_id;
  return ids;
}

SessionIds SessionIdExtractor::ExtractSession(std::span<const HttpHeader> headers,
                                              std::string_view body,
                                              const SessionIdOptions& options) {
  Impl& m = *impl_;
  m.previous_response_id = {};
  m.primary.clear();
  m.fallback.clear();
  const auto header = [&](std::string_view name) -> std::string_view {
    for (const HttpHeader& h : headers) {
      if (h.name.size() != name.size()) continue;
      bool same = true;
      for (size_t i = 0; i < name.size() && same; ++i) {
        const char a = h.name[i], b = name[i];
        same = (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) ==
               (b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : b);
      }
      if (!same) continue;
      if (std::string_view v = NormalizeExplicitSessionId(h.value); !v.empty()) return v;
    }
    return {};
  };
  const auto done = [&](std::string_view prefix, std::string_view id,
                        std::string_view fallback = {}) {
    m.primary.assign(prefix);
    m.primary.append(id);
    return SessionIds{m.primary, fallback};
  };
  if (std::string_view v = header("X-Claude-Code-Session-Id"); !v.empty()) return done("claude:", v);

  // The body's explicit sources (first pass).
  m.ex.Reset();
  od::document doc;
  bool body_ok = !body.empty() && body.size() <= kMaxBodyBytes && m.Load(body, m.padded, m.parser, doc);
  od::object root;
  if (body_ok) body_ok = !doc.get_object().get(root) && m.FirstPass(root);
  if (!body_ok && !body.empty()) m.ex.Reset();  // a malformed body yields nothing
  m.previous_response_id = NormalizeExplicitSessionId(m.ex.previous_response_id);

  if (std::string_view v = m.ClaudeSession(); !v.empty()) return done("claude:", v);
  if (std::string_view v = header("Session-Id"); !v.empty()) return done("codex:", v);
  if (std::string_view v = header("Session_id"); !v.empty()) return done("codex:", v);
  if (std::string_view v = header("X-Session-ID"); !v.empty()) return done("header:", v);
  if (std::string_view v = header("X-Session-Affinity"); !v.empty()) return done("affinity:", v);
  if (std::string_view v = header("X-Client-Request-Id"); !v.empty()) return done("clientreq:", v);
  if (!body_ok) return {};
  if (std::string_view v = NormalizeExplicitSessionId(m.ex.session_id); !v.empty()) {
    return done("session:", v);
  }
  if (std::string_view v = NormalizeExplicitSessionId(m.ex.session_id_camel); !v.empty()) {
    return done("session:", v);
  }
  if (std::string_view v = NormalizeExplicitSessionId(m.ex.request_session_id); !v.empty()) {
    return done("session:", v);  // the Code Assist envelope's request.session_id
  }
  if (std::string_view v = NormalizeExplicitSessionId(m.ex.prompt_cache_key); !v.empty()) {
    if (m.ex.conversation_set) {
      m.fallback.assign("conv:");
      m.fallback.append(m.ex.conversation);
    }
    return done("pck:", v, m.fallback);
  }
  if (m.ex.conversation_set) return done("conv:", m.ex.conversation);
  if (std::string_view v = NormalizeExplicitSessionId(m.ex.user_id); !v.empty()) {
    return done("user:", v);
  }
  if (std::string_view v = NormalizeExplicitSessionId(m.ex.conversation_id); !v.empty()) {
    return done("conv:", v);
  }

  if (!options.content_sources) return {};
  if (options.content == ContentIdentity::kChain) {
    m.prefix.clear();
    m.assistant.clear();
    m.system_hash = kChainSeed;
    doc.rewind();
    if (doc.get_object().get(root) || !m.ChainPass(root) || m.prefix.empty()) return {};
    // Each turn's own hash becomes the hash of the prefix ending with it.
    uint64_t chain = m.system_hash;
    for (uint64_t& h : m.prefix) h = chain = Fold(chain, h);
    const auto hex = [](std::string_view tag, uint64_t v, std::string* out) {
      static constexpr char kHex[] = "0123456789abcdef";
      out->assign(tag);
      for (int shift = 60; shift >= 0; shift -= 4) out->push_back(kHex[(v >> shift) & 0xF]);
    };
    // A request that ends with model turns (an assistant prefill) is identified without them:
    // the next request carries the model's whole reply there instead.
    size_t end = m.prefix.size();
    while (end > 0 && m.assistant[end - 1] != 0) --end;
    if (end == 0) return {};  // model turns only: nothing a conversation can be known by
    hex("chain:", m.prefix[end - 1], &m.chain_id);
    // The request this one continues: the turns before the model's last run of turns.
    size_t last = end;
    while (last > 0 && m.assistant[last - 1] == 0) --last;
    size_t first = last;
    while (first > 0 && m.assistant[first - 1] != 0) --first;
    if (last == 0 || first == 0) return SessionIds{.chain = m.chain_id};  // a conversation's start
    hex("chain:", m.prefix[first - 1], &m.continues_id);
    return SessionIds{.primary = m.continues_id, .chain = m.chain_id};
  }
  // The message hash (second pass over the same index).
  for (Text* t : {&m.a_sys, &m.a_usr, &m.a_ast, &m.b_sys, &m.c_sys, &m.c_usr, &m.c_ast,
                  &m.d_instr, &m.d_sys, &m.d_usr, &m.d_ast}) {
    t->Clear();
  }
  m.messages_seen = m.system_seen = m.system_is_string = m.sysinstr_seen = m.contents_seen =
      m.instructions_seen = m.input_seen = m.request_seen = false;
  doc.rewind();
  if (doc.get_object().get(root) || !m.SecondPass(root)) {
    return {};
  }
  m.Hash();
  return SessionIds{m.primary, m.fallback};
}

void SessionIdExtractor::ReleaseLargeBuffers() {
  Impl& m = *impl_;
  constexpr size_t kKeep = size_t{4} << 20;
  if (m.padded.capacity() > kKeep) {
    std::vector<char>().swap(m.padded);
    m.parser = od::parser{};  // its index grows with the largest document seen
  }
}

}  // namespace v0
}  // namespace authrouter
