// Session-ID extraction (spec 03 §2-§3 with later fix A4), over simdjson On-Demand.
//
// One pass over the body's top-level fields collects the explicit sources; only when none of
// them yields an ID does a second pass (a rewind, without re-indexing) collect the texts for the
// message hash. Values are rendered as upstream's gjson renders them: strings decoded, integers
// as written, other numbers in shortest fixed notation, booleans as true/false, objects and arrays
// as their raw JSON text, null as "". Among duplicate keys the first counts, as in gjson. Member
// names compare after unescaping (MemberName), as in gjson and encoding/json. With
// ContentIdentity::kChain, the second pass reads the conversation chain instead
// (session_chain.cc).
#include "authrouter/session_id.h"

#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <cstring>
#include <vector>

#include "authrouter/values.h"
#include "internal/hash.h"
#include "request/json_walk.h"
#include "request/session_chain.h"
#include "simdjson.h"

namespace authrouter {
inline namespace v0 {
namespace {

namespace od = simdjson::ondemand;
using request_internal::AsArray;
using request_internal::AsObject;
using request_internal::ForEachMember;
using request_internal::IsAsciiWs;
using request_internal::MemberName;
using request_internal::Shape;

constexpr size_t kTextCap = 100;  // bytes of each text that enter the hash

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

  // The conversation chain (SessionIdOptions::content = kChain).
  request_internal::ConversationChain chain;
  std::string chain_id, continues_id;

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

SessionIdExtractor::SessionIdExtractor() : impl_(std::make_unique<Impl>()) {}
SessionIdExtractor::~SessionIdExtractor() = default;

bool SessionIdExtractor::Impl::FirstPass(od::object root) {
  return ForEachMember(root, [&](const MemberName& name, od::value v) {
    if (name == "metadata" && !ex.user_id_set) {
      // gjson resolves "metadata.user_id" in the first "metadata" that has a user_id.
      od::object meta;
      if (const Shape shape = AsObject(v, &meta); shape != Shape::kMatch) {
        return shape == Shape::kOther;
      }
      if (!ForEachMember(meta, [&](const MemberName& mname, od::value mv) {
            if (mname != "user_id" || ex.user_id_set) return true;
            ex.user_id_set = true;
            return Render(mv, &ex.user_id);
          })) {
        return false;
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
        if (!ForEachMember(conv, [&](const MemberName& cname, od::value cv) {
              if (cname != "id" || id_seen) return true;
              id_seen = true;
              if (!Render(cv, &scratch)) return false;
              if (std::string_view id = NormalizeExplicitSessionId(scratch); !id.empty()) {
                ex.conversation.assign(id);
                ex.conversation_set = true;
              }
              return true;
            })) {
          return false;
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
        return shape == Shape::kOther;
      }
      if (!ForEachMember(req, [&](const MemberName& rname, od::value rv) {
            if (rname != "session_id" || ex.request_session_id_set) return true;
            ex.request_session_id_set = true;
            return Render(rv, &ex.request_session_id);
          })) {
        return false;
      }
    }
    return true;
  });
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
    if (!ForEachMember(po, [&](const MemberName& kname, od::value fv) {
          if (kname == "type" && !type_seen) {
            type_seen = true;
            if (!Render(fv, scratch)) return false;
            type_ok = *scratch == "text" ||
                      (responses_types && (*scratch == "input_text" || *scratch == "output_text"));
          } else if (kname == "text" && !text_seen) {
            text_seen = true;
            return Render(fv, text);
          }
          return true;
        })) {
      return false;
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
    if (!ForEachMember(m, [&](const MemberName& kname, od::value fv) {
          if (kname == "role" && !role_seen) {
            role_seen = true;
            return Render(fv, &role);
          }
          if (kname == "content" && !content_seen) {
            content_seen = true;
            return MessageText(fv, &text, &scratch, &part_text, false);
          }
          return true;
        })) {
      return false;
    }
    if (!text.set) continue;
    Text* slot = role == "system" ? &a_sys : role == "user" ? &a_usr : role == "assistant" ? &a_ast : nullptr;
    if (slot != nullptr && !slot->set) *slot = text;
  }
  return true;
}

// FirstText renders the first "text" member of a part object into *out (left as it is when
// there is none).
static bool FirstText(od::object& part, std::string* out) {
  bool seen = false;
  return ForEachMember(part, [&](const MemberName& name, od::value v) {
    if (name != "text" || seen) return true;
    seen = true;
    return Render(v, out);
  });
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
    if (!FirstText(po, &scratch)) return false;
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
  if (!FirstText(po, scratch)) return false;
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
  bool parts_seen = false;  // the first "parts" counts
  return ForEachMember(o, [&](const MemberName& kname, od::value pv) {
    if (kname != "parts" || parts_seen) return true;
    parts_seen = sysinstr_seen = true;
    return FirstPartText(pv, &c_sys, &scratch, /*object_parts=*/false);
  });
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
    if (!ForEachMember(c, [&](const MemberName& kname, od::value fv) {
          if (kname == "role" && !role_seen) {
            role_seen = true;
            return Render(fv, &role);
          }
          if (kname == "parts" && !parts_seen) {
            parts_seen = true;
            return FirstPartText(fv, &text, &scratch, /*object_parts=*/true);
          }
          return true;
        })) {
      return false;
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
    if (!ForEachMember(o, [&](const MemberName& kname, od::value fv) {
          if (kname == "type" && !type_seen) {
            type_seen = true;
            return Render(fv, &type);
          }
          if (kname == "role" && !role_seen) {
            role_seen = true;
            return Render(fv, &role);
          }
          if (kname == "content" && !content_seen) {
            content_seen = true;
            return MessageText(fv, &text, &scratch, &part_text, true);
          }
          return true;
        })) {
      return false;
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
  return ForEachMember(req, [&](const MemberName& name, od::value fv) {
    if (name == "systemInstruction" && !sysinstr_seen) return ReadSystemInstruction(fv);
    if (name == "contents" && !contents_seen) {
      contents_seen = true;
      return ReadContents(fv);
    }
    return true;
  });
}

bool SessionIdExtractor::Impl::SecondPass(od::object root) {
  return ForEachMember(root, [&](const MemberName& name, od::value v) {
    if (name == "messages" && !messages_seen) {
      messages_seen = true;
      return ReadMessages(v);
    }
    if (name == "system" && !system_seen) {
      system_seen = true;
      return ReadSystem(v);
    }
    if (name == "systemInstruction" && !sysinstr_seen) {
      return ReadSystemInstruction(v);  // sets sysinstr_seen once "parts" resolves
    }
    if (name == "contents" && !contents_seen) {
      contents_seen = true;
      return ReadContents(v);
    }
    if (name == "instructions" && !instructions_seen) {
      instructions_seen = true;
      if (!Render(v, &scratch)) return false;
      if (!scratch.empty()) d_instr.Assign(scratch);
      return true;
    }
    if (name == "input" && !input_seen) {
      input_seen = true;
      return ReadInput(v);
    }
    if (name == "request" && !request_seen) {
      request_seen = true;
      return ReadEnvelope(v);
    }
    return true;
  });
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
    doc.rewind();
    if (doc.get_object().get(root) || !m.chain.Read(root) ||
        !m.chain.Ids(&m.chain_id, &m.continues_id)) {
      return {};
    }
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
