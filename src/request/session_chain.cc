// The conversation chain: one hash per prefix of a request's turns (session_chain.h).
#include "request/session_chain.h"

#include <cstring>

#include "internal/hash.h"

namespace authrouter {
inline namespace v0 {
namespace request_internal {
namespace {

constexpr uint64_t kChainSeed = 0x243f6a8885a308d3ull;
constexpr uint64_t kRoleSalt = 0x9e3779b97f4a7c15ull;  // a turn's role, hashed first

// Fold chains one 64-bit hash into another.
uint64_t Fold(uint64_t seed, uint64_t h) {
  char bytes[8];
  std::memcpy(bytes, &h, 8);
  return internal::HashBytesSeeded(std::string_view(bytes, 8), seed);
}

void Hex(std::string_view tag, uint64_t v, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->assign(tag);
  for (int shift = 60; shift >= 0; shift -= 4) out->push_back(kHex[(v >> shift) & 0xF]);
}

}  // namespace

void ConversationChain::BeginTurn(std::string_view name) {
  turn_hash_ = internal::HashBytesSeeded(name, kChainSeed);
}

void ConversationChain::AddPiece(std::string_view raw) {
  if (raw.size() <= kPieceBytes) {
    turn_hash_ = internal::HashBytesSeeded(raw, turn_hash_);
    return;
  }
  constexpr size_t half = kPieceBytes / 2;
  turn_hash_ = internal::HashBytesSeeded(raw.substr(0, half), turn_hash_ ^ raw.size());
  turn_hash_ = internal::HashBytesSeeded(raw.substr(raw.size() - half), turn_hash_);
}

void ConversationChain::EndTurn(bool is_assistant) {
  prefix_.push_back(turn_hash_);
  assistant_.push_back(is_assistant ? 1 : 0);
}

// Content adds a content value's texts: a string; an array of strings or of part objects
// (their "text", and the "text" of nested "content"); an object part. Tool calls and their
// results count by what identifies them: IDs, names and arguments (OpenAI "tool_calls" with
// "function", Claude "tool_use" with its "input" / "tool_result", Gemini "functionCall" with its
// "args" / "functionResponse" with its "response", Responses "*_call" items).
bool ConversationChain::Content(od::value v) {
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
      if (part.get(pv) || !Content(pv)) return false;
    }
    return true;
  }
  if (t != od::json_type::object) return true;
  od::object o;
  if (v.get_object().get(o)) return false;
  return ForEachMember(o, [&](const MemberName& name, od::value fv) {
    // A tool call's arguments and a tool's result as structured JSON (Gemini functionCall
    // "args" and functionResponse "response", Claude tool_use "input" as an object): their
    // JSON text as sent, so two calls of one function with different arguments differ.
    if (name == "args" || name == "response" || name == "input") {
      od::json_type ft;
      if (fv.type().get(ft)) return false;
      std::string_view raw;
      if (ft == od::json_type::object) {
        od::object fo;
        if (fv.get_object().get(fo) || fo.raw_json().get(raw)) return false;
        AddPiece(raw);
        return true;
      }
      if (ft == od::json_type::array && name != "input") {
        od::array fa;
        if (fv.get_array().get(fa) || fa.raw_json().get(raw)) return false;
        AddPiece(raw);
        return true;
      }
      if (name != "input") {  // a scalar
        AddPiece(Token(fv));
        return true;
      }
    }
    // Texts, and what identifies a tool call or its result; not cache_control and the like,
    // which clients move between turns.
    if (!(name == "text" || name == "content" || name == "parts" || name == "call_id" ||
          name == "tool_use_id" || name == "id" || name == "arguments" || name == "output" ||
          name == "input" || name == "function" || name == "name" || name == "functionCall" ||
          name == "functionResponse")) {
      return true;
    }
    od::json_type ft;
    if (fv.type().get(ft)) return false;
    if (ft == od::json_type::string || ft == od::json_type::array || ft == od::json_type::object) {
      return Content(fv);
    }
    return true;
  });
}

// System adds one system turn: a string, or parts with texts. The system prompt seeds the
// whole chain wherever its field stands in the body (SDKs that sort their keys put "system"
// after "messages", "instructions" after "input").
bool ConversationChain::System(od::value v) {
  BeginTurn("system");
  if (!Content(v)) return false;
  system_hash_ = Fold(system_hash_, turn_hash_);
  return true;
}

// Turns adds the turns of an OpenAI/Claude "messages", a Gemini "contents" or a Responses
// "input" array (a string input is one user turn).
bool ConversationChain::Turns(od::value v, bool gemini) {
  od::json_type t;
  if (v.type().get(t)) return false;
  if (t == od::json_type::string) {
    // Hashed as the item {"role":"user","content":<the string>} would be, so a client that
    // sends its opening as a string and the history as items later continues its own chain.
    turn_hash_ = internal::HashBytesSeeded("\"user\"", kChainSeed ^ kRoleSalt);
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
    turn_hash_ = kChainSeed;
    const bool ok = ForEachMember(o, [&](const MemberName& name, od::value fv) {
      if (name == "role" && role_token.empty()) {
        role_token = Token(fv);
        turn_hash_ = internal::HashBytesSeeded(role_token, turn_hash_ ^ kRoleSalt);
      } else if (name == "type" && type_token.empty()) {
        type_token = Token(fv);
        if (type_token != "\"message\"") turn_hash_ = internal::HashBytesSeeded(type_token, turn_hash_);
      } else if (name == (gemini ? "parts" : "content") || name == "call_id" || name == "arguments" ||
                 name == "output" || name == "tool_calls" || name == "tool_call_id") {
        return Content(fv);
      }
      return true;
    });
    if (!ok) return false;
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

bool ConversationChain::Read(od::object root) {
  prefix_.clear();
  assistant_.clear();
  system_hash_ = kChainSeed;
  return ForEachMember(root, [&](const MemberName& name, od::value v) {
    if (name == "system" || name == "instructions" || name == "systemInstruction") return System(v);
    if (name == "messages" || name == "input") return Turns(v, false);
    if (name == "contents") return Turns(v, true);
    if (!(name == "request")) return true;
    od::object req;  // the Code Assist envelope
    if (const Shape shape = AsObject(v, &req); shape != Shape::kMatch) return shape == Shape::kOther;
    return ForEachMember(req, [&](const MemberName& rname, od::value rv) {
      if (rname == "systemInstruction") return System(rv);
      if (rname == "contents") return Turns(rv, true);
      return true;
    });
  });
}

bool ConversationChain::Ids(std::string* chain, std::string* continues) {
  continues->clear();
  // Each turn's own hash becomes the hash of the prefix ending with it.
  uint64_t h = system_hash_;
  for (uint64_t& p : prefix_) p = h = Fold(h, p);
  // A request that ends with model turns (an assistant prefill) is identified without them:
  // the next request carries the model's whole reply there instead.
  size_t end = prefix_.size();
  while (end > 0 && assistant_[end - 1] != 0) --end;
  if (end == 0) return false;  // no turns, or model turns only
  Hex("chain:", prefix_[end - 1], chain);
  // The request this one continues: the turns before the model's last run of turns.
  size_t last = end;
  while (last > 0 && assistant_[last - 1] == 0) --last;
  size_t first = last;
  while (first > 0 && assistant_[first - 1] != 0) --first;
  if (last == 0 || first == 0) return true;  // a conversation's start
  Hex("chain:", prefix_[first - 1], continues);
  return true;
}

}  // namespace request_internal
}  // namespace v0
}  // namespace authrouter
