// Session-ID extraction: the 26 worked examples of spec 03 §4 and the sources and validation
// rules of later fix A4.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "authrouter/session_id.h"

namespace ar = authrouter;

namespace {

struct Ids {
  std::string primary, fallback;
  bool operator==(const Ids&) const = default;
};

Ids Extract(std::string_view body, std::vector<ar::HttpHeader> headers = {}) {
  static ar::SessionIdExtractor extractor;
  const ar::SessionIds ids = extractor.Extract(headers, body);
  return Ids{std::string(ids.primary), std::string(ids.fallback)};
}

const std::string kE9 =
    R"({"messages":[{"role":"system","content":"You are helpful"},{"role":"user","content":"Hello"}]})";
const std::string kE10 =
    R"({"messages":[{"role":"system","content":"You are helpful"},{"role":"user","content":"Hello"},{"role":"assistant","content":"Hi there!"},{"role":"user","content":"Help me"}]})";
const std::string kE11 =
    R"({"messages":[{"role":"system","content":"You are helpful"},{"role":"user","content":"Hello"},{"role":"assistant","content":"Hi there!"},{"role":"user","content":"Help me"},{"role":"assistant","content":"Sure!"},{"role":"user","content":"Thanks"}]})";

}  // namespace

namespace Catch {
template <>
struct StringMaker<Ids> {
  static std::string convert(const Ids& ids) { return "{" + ids.primary + " | " + ids.fallback + "}"; }
};
}  // namespace Catch

TEST_CASE("Worked examples E1-E8: explicit IDs", "[session_id]") {
  CHECK(Extract(R"({"model":"claude-sonnet-4-5","metadata":{"user_id":"user_3f22_account__session_ac980658-63bd-4fb3-97ba-8da64cb1e344"},"messages":[{"role":"user","content":"hi"}]})") ==
        Ids{"claude:ac980658-63bd-4fb3-97ba-8da64cb1e344", ""});
  CHECK(Extract(R"({"metadata":{"user_id":"{\"device_id\":\"d1\",\"account_uuid\":\"\",\"session_id\":\"e26d4046-0f88-4b09-bb5b-f863ab5fb24e\"}"}})",
                {{"X-Session-ID", "hdr-1"}}) ==
        Ids{"claude:e26d4046-0f88-4b09-bb5b-f863ab5fb24e", ""});
  CHECK(Extract(R"({"metadata":{"user_id":"user_42"},"messages":[{"role":"user","content":"Hello"}]})",
                {{"x-session-id", "my-explicit-session"}}) == Ids{"header:my-explicit-session", ""});
  CHECK(Extract("", {{"X-Session-ID", "only-header"}}) == Ids{"header:only-header", ""});
  CHECK(Extract(R"({"metadata":{"user_id":"user_x_account__session_AC980658-63BD-4FB3-97BA-8DA64CB1E344"}})") ==
        Ids{"user:user_x_account__session_AC980658-63BD-4FB3-97BA-8DA64CB1E344", ""});
  CHECK(Extract(R"({"metadata":{"user_id":"{\"device_id\":\"abc123\"}"}})") ==
        Ids{R"(user:{"device_id":"abc123"})", ""});
  CHECK(Extract(R"({"metadata":{"user_id":12345}})") == Ids{"user:12345", ""});
  CHECK(Extract(R"({"conversation_id":"conv-12345","messages":[{"role":"user","content":"Hello"}]})") ==
        Ids{"conv:conv-12345", ""});
}

TEST_CASE("Worked examples E9-E11: a conversation keeps its ID across turns", "[session_id]") {
  CHECK(Extract(kE9) == Ids{"msg:db09d768eef0153d", ""});
  CHECK(Extract(kE10) == Ids{"msg:46d2b383fc6205a1", "msg:db09d768eef0153d"});
  CHECK(Extract(kE11) == Ids{"msg:46d2b383fc6205a1", "msg:db09d768eef0153d"});
}

TEST_CASE("Worked examples E12-E14: Claude, Gemini and Responses bodies", "[session_id]") {
  CHECK(Extract(R"({"system":[{"type":"text","text":"You are Claude Code"},{"type":"text","text":"second block"}],"messages":[{"role":"user","content":[{"type":"text","text":"Hello"},{"type":"image","source":{"data":"..."}},{"type":"text","text":"world"}]},{"role":"assistant","content":[{"type":"text","text":"Hi!"}]}]})") ==
        Ids{"msg:cdadd13f616a3bf4", "msg:df5c64e1734670fe"});
  CHECK(Extract(R"({"systemInstruction":{"parts":[{"text":"You are helpful"}]},"contents":[{"role":"user","parts":[{"text":"Hello Gemini"}]},{"role":"model","parts":[{"text":"Hi!"}]},{"role":"user","parts":[{"text":"Help"}]}]})") ==
        Ids{"msg:d4cf67cbc0de8a9c", "msg:0c9d455ee9507166"});
  CHECK(Extract(R"({"instructions":"You are Codex, based on GPT-5.","input":[{"type":"message","role":"developer","content":[{"type":"input_text","text":"system instructions"}]},{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]},{"type":"reasoning","summary":[{"type":"summary_text","text":"thinking..."}],"encrypted_content":"xxx"},{"type":"function_call","name":"f","arguments":"{}"},{"role":"assistant","content":"Hello!"},{"type":"message","role":"user","content":[{"type":"input_text","text":"what can you do"}]}]})") ==
        Ids{"msg:bae4ad1b6626e0e5", "msg:049d86cbff4d8a84"});
}

TEST_CASE("Worked examples E15-E17: texts are cut to their first 100 bytes", "[session_id]") {
  const std::string text =
      "Please summarise the following design document for the routing layer and list every "
      "constant you find in it.";
  CHECK(text.size() == 108);
  CHECK(Extract(R"({"messages":[{"role":"user","content":")" + text + R"("}]})") ==
        Ids{"msg:521a5d1f2e7a2919", ""});
  CHECK(Extract(R"({"messages":[{"role":"user","content":")" + text.substr(0, 100) + R"("}]})") ==
        Ids{"msg:521a5d1f2e7a2919", ""});
  CHECK(Extract(R"({"messages":[{"role":"user","content":")" + std::string(99, 'a') +
                "\xC3\xA9 and more\"}]}") == Ids{"msg:cca9334f0c5519af", ""});
}

TEST_CASE("Worked examples E18-E25", "[session_id]") {
  CHECK(Extract(R"({"messages":[{"role":"assistant","content":"orphan"}]})") == Ids{});
  CHECK(Extract(R"({"messages":[{"role":"developer","content":"dev prompt"},{"role":"user","content":""},{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]},{"role":"user","content":"real question"}]})") ==
        Ids{"msg:c3776f71f48be98f", ""});
  CHECK(Extract(R"({"model":"claude-3"})") == Ids{});
  CHECK(Extract(R"({"metadata":{"user_id":"user_xxx_account__session_failover-test-uuid"}})") ==
        Ids{"user:user_xxx_account__session_failover-test-uuid", ""});
  CHECK(Extract(R"({"instructions":"Be terse.","input":"What is 2+2?"})") ==
        Ids{"msg:ecb5670dd6ca05f2", ""});
  CHECK(Extract(R"({"contents":[{"role":"user","parts":[{"text":""},{"inlineData":{"mimeType":"image/png","data":"..."}},{"text":"Describe this"}]}]})") ==
        Ids{"msg:636a209104742e9e", ""});
  CHECK(Extract(R"({"system":"top-level ignored","messages":[{"role":"system","content":[{"type":"text","text":"Sys A"},{"type":"text","text":"Sys B"}]},{"role":"user","content":"Q"}]})") ==
        Ids{"msg:ceee5f2ebf55ee2a", ""});
  CHECK(Extract(R"({"metadata":{"user_id":{"session_id":"abc-1"}}})") == Ids{"claude:abc-1", ""});
}

TEST_CASE("Note fixed (A4): worked example E26's header value is trimmed", "[session_id]") {
  // April kept "header: s1 "; later fix A4 validates and trims every explicit ID.
  CHECK(Extract("", {{"X-Session-ID", " s1 "}}) == Ids{"header:s1", ""});
}

TEST_CASE("Later fix A4: every source in its order", "[session_id]") {
  const std::string body =
      R"({"metadata":{"user_id":"u-1"},"session_id":"s-1","prompt_cache_key":"p-1","conversation":{"id":"c-1"},"conversation_id":"cid-1"})";
  CHECK(Extract(body, {{"X-Claude-Code-Session-Id", "cc"}, {"Session-Id", "x"}}) ==
        Ids{"claude:cc", ""});
  CHECK(Extract(body, {{"session-id", "codex-1"}, {"X-Session-ID", "h"}}) == Ids{"codex:codex-1", ""});
  CHECK(Extract(body, {{"Session_id", "codex-2"}}) == Ids{"codex:codex-2", ""});
  CHECK(Extract(body, {{"X-Session-Affinity", "aff"}}) == Ids{"affinity:aff", ""});
  CHECK(Extract(body, {{"X-Client-Request-Id", "req"}}) == Ids{"clientreq:req", ""});
  CHECK(Extract(body) == Ids{"session:s-1", ""});
  CHECK(Extract(R"({"sessionId":"s-2","prompt_cache_key":"p"})") == Ids{"session:s-2", ""});
  CHECK(Extract(R"({"prompt_cache_key":"p-1","conversation":{"id":"c-1"}})") ==
        Ids{"pck:p-1", "conv:c-1"});
  CHECK(Extract(R"({"prompt_cache_key":"p-1","conversation":"c-2"})") == Ids{"pck:p-1", "conv:c-2"});
  CHECK(Extract(R"({"prompt_cache_key":"p-1"})") == Ids{"pck:p-1", ""});
  CHECK(Extract(R"({"conversation":{"id":"c-1"},"metadata":{"user_id":"u"}})") == Ids{"conv:c-1", ""});
  CHECK(Extract(R"({"conversation":"c-3"})") == Ids{"conv:c-3", ""});
  CHECK(Extract(R"({"metadata":{"user_id":"u-1"},"conversation_id":"cid"})") == Ids{"user:u-1", ""});
  CHECK(Extract(R"({"conversation_id":"cid","messages":[{"role":"user","content":"x"}]})") ==
        Ids{"conv:cid", ""});
}

TEST_CASE("Explicit IDs are validated: control characters, blanks and length", "[session_id]") {
  CHECK(ar::NormalizeExplicitSessionId("  id-1 \xC2\xA0") == "id-1");  // Unicode space trimmed
  CHECK(ar::NormalizeExplicitSessionId("id-1\t").empty());  // a tab is a control character
  CHECK(ar::NormalizeExplicitSessionId("a\x01" "b").empty());
  CHECK(ar::NormalizeExplicitSessionId("a\nb").empty());
  CHECK(ar::NormalizeExplicitSessionId("a\x7f").empty());
  CHECK(ar::NormalizeExplicitSessionId("a\xC2\x85" "b").empty());  // U+0085 (C1 control)
  CHECK(ar::NormalizeExplicitSessionId("   ").empty());
  // Every position of a long ID is checked, whichever 8-byte block and lane a control falls in.
  for (size_t at = 0; at < 40; ++at) {
    for (const char* bad : {"\x01", "\x1f", "\x7f", "\xC2\x80", "\xC2\x9F"}) {
      std::string id(40, 'k');
      id.replace(at, 1, bad);
      CHECK(ar::NormalizeExplicitSessionId(id).empty());
    }
    std::string fine(40, 'k');
    fine[at] = at % 2 == 0 ? ' ' : '~';  // 0x20 and 0x7E are printable
    CHECK(!ar::NormalizeExplicitSessionId(fine).empty());
  }
  CHECK(ar::NormalizeExplicitSessionId("0123456789abcdef\xC3\xA9" "0123456789") ==
        "0123456789abcdef\xC3\xA9" "0123456789");  // other UTF-8 passes
  CHECK(ar::NormalizeExplicitSessionId(std::string(256, 'x')).size() == 256);
  CHECK(ar::NormalizeExplicitSessionId(std::string(257, 'x')).empty());
  // A rejected value falls through to the next source (here: the next header value).
  CHECK(Extract("", {{"X-Session-ID", "bad\x01"}, {"x-session-id", "good"}}) == Ids{"header:good", ""});
  CHECK(Extract(R"({"session_id":"   ","conversation_id":"c"})") == Ids{"conv:c", ""});
  CHECK(Extract(R"({"session_id":")" + std::string(300, 'x') + R"(","conversation_id":"c"})") ==
        Ids{"conv:c", ""});
}

TEST_CASE("Values render as gjson renders them", "[session_id]") {
  CHECK(Extract(R"({"session_id":12})") == Ids{"session:12", ""});
  CHECK(Extract(R"({"session_id":-1.50})") == Ids{"session:-1.5", ""});
  CHECK(Extract(R"({"session_id":1e3})") == Ids{"session:1000", ""});
  CHECK(Extract(R"({"session_id":true})") == Ids{"session:true", ""});
  CHECK(Extract(R"({"session_id":null,"conversation_id":"c"})") == Ids{"conv:c", ""});
  CHECK(Extract(R"({"session_id":{"a": 1}})") == Ids{R"(session:{"a": 1})", ""});
  CHECK(Extract(R"({"session_id":"\u00e9t\u00e9"})") == Ids{"session:\xC3\xA9t\xC3\xA9", ""});
  // The first of duplicate keys counts.
  CHECK(Extract(R"({"session_id":"first","session_id":"second"})") == Ids{"session:first", ""});
}

TEST_CASE("Unusable bodies yield no session, and headers still count", "[session_id]") {
  for (std::string_view body : {std::string_view("{"), std::string_view("[1,2]"),
                                std::string_view("\"str\""), std::string_view("null"),
                                std::string_view("{\"session_id\":\"a\xff\"}"),
                                std::string_view("{\"session_id\":\"a\"} trailing"),
                                std::string_view("not json at all")}) {
    INFO(body);
    CHECK(Extract(body).primary.empty());
    CHECK(Extract(body, {{"X-Session-ID", "h"}}) == Ids{"header:h", ""});
  }
  std::string deep = R"({"messages":)";
  for (int i = 0; i < 5000; ++i) deep += "[";
  CHECK(Extract(deep).primary.empty());
  CHECK(Extract(R"({"messages":"not an array","system":7})").primary.empty());
}

TEST_CASE("Repeated extraction reuses its buffers and results stay independent", "[session_id]") {
  ar::SessionIdExtractor e;
  const ar::HttpHeader none[] = {{"X-Other", "1"}};
  for (int i = 0; i < 3; ++i) {
    CHECK(e.Extract(none, kE10).primary == "msg:46d2b383fc6205a1");
    CHECK(e.Extract({}, R"({"session_id":"abc"})").primary == "session:abc");
    CHECK(e.Extract({}, R"({"session_id":"abc"})").fallback.empty());
    CHECK(e.Extract({}, "").primary.empty());
  }
}

TEST_CASE("A system part without text never reuses an earlier value (found by fuzzing)",
          "[session_id]") {
  const std::string body =
      R"({"system":[{"type":"tede"}],"messages":[{"role":"user","content":[{"type":"text","text":"Hello"},{"type":"text","text":"world"}]},{"role":"assistant","content":[{"type":"text","text":"Hi!"}]}]})";
  ar::SessionIdExtractor fresh;
  const std::string expected(fresh.Extract({}, body).primary);
  ar::SessionIdExtractor used;
  (void)used.Extract({}, R"({"session_id":"leftover text in a scratch buffer"})");
  CHECK(used.Extract({}, body).primary == expected);
  CHECK(used.Extract({}, body).primary == expected);
  // usr:Hello world + ast:Hi! (no system text), as upstream hashes it.
  CHECK(Extract(body) == Ids{"msg:" + std::string(Extract(R"({"messages":[{"role":"user","content":"Hello world"},{"role":"assistant","content":"Hi!"}]})").primary).substr(4),
                             std::string(Extract(R"({"messages":[{"role":"user","content":"Hello world"}]})").primary)});
}

TEST_CASE("Note kept: any non-empty user_id outranks conversation_id and the message hash",
          "[session_id]") {
  CHECK(Extract(R"({"metadata":{"user_id":"not-claude"},"conversation_id":"c","messages":[{"role":"user","content":"hi"}]})") ==
        Ids{"user:not-claude", ""});
}

TEST_CASE("Note kept: whitespace-only message content counts as text", "[session_id]") {
  CHECK(Extract(R"({"messages":[{"role":"user","content":"   "}]})") ==
        Ids{"msg:ded00e7e7bf823c3", ""});  // FNV-1a of "usr:   \n"
}

// ---- regressions found in review (gjson fidelity) ---------------------------------------------

TEST_CASE("An empty system string leaves the Gemini and Responses stages open", "[session_id]") {
  CHECK(Extract(R"({"system":"","contents":[{"role":"user","parts":[{"text":"hi"}]}]})") ==
        Ids{"msg:2f68951593d97234", ""});  // FNV-1a of "usr:hi\n"
}

TEST_CASE("Objects render without the whitespace after them", "[session_id]") {
  CHECK(Extract(R"({"instructions":{ "a" : 1 } ,"x":1})") ==
        Ids{"msg:a1147ea102cc13b8", ""});  // "sys:{ \"a\" : 1 }\n"
}

TEST_CASE("Numbers render as Go's FormatFloat('f', -1)", "[session_id]") {
  CHECK(Extract(R"({"session_id":1e23})") == Ids{"session:100000000000000000000000", ""});
  CHECK(Extract(R"({"session_id":1.5e-7})") == Ids{"session:0.00000015", ""});
  CHECK(Extract(R"({"session_id":-0.0})") == Ids{"session:-0", ""});
  CHECK(Extract(R"({"session_id":1e400})") == Ids{"session:+Inf", ""});
  CHECK(Extract(R"({"session_id":-1e400})") == Ids{"session:-Inf", ""});
}

TEST_CASE("One odd key or string never discards the rest of the body", "[session_id]") {
  CHECK(Extract(R"({"\ud800":1,"session_id":"abc"})") == Ids{"session:abc", ""});
  CHECK(Extract(R"({"session_id":"a\ud800b"})") == Ids{"session:a\xEF\xBF\xBD" "b", ""});
  CHECK(Extract(R"({"x":"\udc00\ud83d\ude00","session_id":"s\u00e9"})") ==
        Ids{"session:s\xC3\xA9", ""});
}

TEST_CASE("Two-level paths look past an earlier key that does not resolve", "[session_id]") {
  CHECK(Extract(R"({"metadata":{"a":1},"metadata":{"user_id":"u1"}})") == Ids{"user:u1", ""});
  CHECK(Extract(R"({"systemInstruction":{"x":1},"systemInstruction":{"parts":[{"text":"S"}]},"contents":[{"role":"user","parts":[{"text":"hi"}]}]})") ==
        Extract(R"({"systemInstruction":{"parts":[{"text":"S"}]},"contents":[{"role":"user","parts":[{"text":"hi"}]}]})"));
}

TEST_CASE("Gemini parts given as an object are walked by value", "[session_id]") {
  CHECK(Extract(R"({"contents":[{"role":"user","parts":{"a":{"text":"hello"}}}]})") ==
        Ids{"msg:75f251b9b790ec8f", ""});  // "usr:hello\n"
}

TEST_CASE("A malformed JSON user_id still yields its session_id, as gjson reads it",
          "[session_id]") {
  CHECK(Extract(R"({"metadata":{"user_id":"{\"session_id\":\"abc\""}})") == Ids{"claude:abc", ""});
  CHECK(Extract(R"({"metadata":{"user_id":"{\"device\":1 \"session_id\" : \"s-2\"}"}})") ==
        Ids{"claude:s-2", ""});
}

TEST_CASE("Note fixed (A4): metadata.user_id is trimmed like every explicit ID", "[session_id]") {
  CHECK(Extract(R"({"metadata":{"user_id":"  u1 "}})") == Ids{"user:u1", ""});
  CHECK(Extract(R"({"metadata":{"user_id":" user_x_account__session_ab-12 "}})") ==
        Ids{"claude:ab-12", ""});
}

// ---- member names compare after unescaping ------------------------------------------------------

namespace {

// EscapeNames spells every member name of `body` with \u escapes only ("ab" -> "\u0061\u0062").
// Values are left as written.
std::string EscapeNames(std::string_view body) {
  std::string out;
  for (size_t i = 0; i < body.size();) {
    if (body[i] != '"') {
      out.push_back(body[i++]);
      continue;
    }
    size_t end = i + 1;
    while (body[end] != '"') end += body[end] == '\\' ? 2 : 1;
    size_t next = end + 1;
    while (next < body.size() && body[next] == ' ') ++next;
    const std::string_view text = body.substr(i + 1, end - i - 1);
    out.push_back('"');
    if (next < body.size() && body[next] == ':' && text.find('\\') == std::string_view::npos) {
      static constexpr char kHex[] = "0123456789abcdef";
      for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        out += "\\u00";
        out.push_back(kHex[u >> 4]);
        out.push_back(kHex[u & 0xF]);
      }
    } else {
      out.append(text);
    }
    out.push_back('"');
    i = end + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("Every body source matches its member names after unescaping them", "[session_id]") {
  CHECK(EscapeNames(R"({"ab" : "cd","e":{"f":1}})") ==
        R"({"\u0061\u0062" : "cd","\u0065":{"\u0066":1}})");
  const std::string_view bodies[] = {
      // 2. metadata.user_id of Claude Code (legacy suffix and JSON object forms)
      R"({"metadata":{"user_id":"user_3f22_account__session_ac980658-63bd-4fb3-97ba-8da64cb1e344"}})",
      R"({"metadata":{"user_id":{"session_id":"abc-1"}}})",
      // 7. session_id, sessionId
      R"({"session_id":"s-1"})",
      R"({"sessionId":"s-2"})",
      // 8. prompt_cache_key with the conversation fallback (object and string)
      R"({"prompt_cache_key":"p-1","conversation":{"id":"c-1"}})",
      R"({"prompt_cache_key":"p-1","conversation":"c-2"})",
      // 9.-11. conversation.id, metadata.user_id, conversation_id
      R"({"conversation":{"id":"c-3"}})",
      R"({"metadata":{"user_id":"u1"}})",
      R"({"conversation_id":"cid"})",
      // 12. the message hash: OpenAI/Claude messages, Claude system, Gemini, Responses
      kE10,
      R"({"system":[{"type":"text","text":"You are Claude Code"}],"messages":[{"role":"user","content":[{"type":"text","text":"Hello"}]},{"role":"assistant","content":[{"type":"text","text":"Hi!"}]}]})",
      R"({"system":"S","messages":[{"role":"user","content":"Q"}]})",
      R"({"systemInstruction":{"parts":[{"text":"You are helpful"}]},"contents":[{"role":"user","parts":[{"text":"Hello Gemini"}]},{"role":"model","parts":[{"text":"Hi!"}]}]})",
      R"({"contents":[{"role":"user","parts":{"a":{"text":"hello"}}}]})",
      R"({"instructions":"You are Codex","input":[{"type":"message","role":"developer","content":[{"type":"input_text","text":"sys"}]},{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]},{"role":"assistant","content":[{"type":"output_text","text":"Hello!"}]}]})",
  };
  for (const std::string_view plain : bodies) {
    const std::string escaped = EscapeNames(plain);
    INFO(escaped);
    const Ids want = Extract(plain);
    REQUIRE_FALSE(want.primary.empty());
    CHECK(Extract(escaped) == want);
  }
}

TEST_CASE("Escaped member names: single escapes, the JSON-encoded user_id, surrogate pairs",
          "[session_id]") {
  // One escaped character, in either hex case, and the two-character escapes.
  CHECK(Extract(R"({"\u006dessages":[{"role":"user","content":"Hello"}]})") ==
        Extract(R"({"messages":[{"role":"user","content":"Hello"}]})"));
  CHECK(Extract(R"({"metadata":{"user_\u0069d":"u1"}})") == Ids{"user:u1", ""});
  CHECK(Extract(R"({"session\u005Fid":"s-1"})") == Ids{"session:s-1", ""});
  CHECK(Extract(R"({"prompt_cache_key":"p","conv\u0065rsation":{"\u0069d":"c"}})") ==
        Ids{"pck:p", "conv:c"});
  // Names in the JSON object a user_id holds.
  CHECK(Extract(R"({"metadata":{"user_id":"{\"session_\\u0069d\":\"e26d4046\"}"}})") ==
        Ids{"claude:e26d4046", ""});
  // A surrogate pair decodes to one character: such a name is no name looked for, and the
  // members after it still count.
  CHECK(Extract(R"({"\ud83d\ude00":1,"\ud83d\ude00session_id":"x","conversation_id":"c"})") ==
        Ids{"conv:c", ""});
  CHECK(Extract(R"({"messages\ud83d\ude00":[{"role":"user","content":"Hello"}],"session_id":"s"})") ==
        Ids{"session:s", ""});
  // The first of duplicate names counts, however each is spelled.
  CHECK(Extract(R"({"session_id":"first","session\u005fid":"second"})") == Ids{"session:first", ""});
  CHECK(Extract(R"({"session\u005fid":"first","session_id":"second"})") == Ids{"session:first", ""});
}

TEST_CASE("A name that unescapes to another name, or has an invalid escape, does not match",
          "[session_id]") {
  const std::string_view others[] = {
      R"({"\u0053ession_id":"x","conversation_id":"c"})",        // "Session_id"
      R"({"session_id\u0000":"x","conversation_id":"c"})",       // "session_id" plus U+0000
      R"({"session_i\u0064\u0064":"x","conversation_id":"c"})",  // "session_idd"
      R"({"session\/id":"x","conversation_id":"c"})",            // "session/id"
      R"({"session_id\n":"x","conversation_id":"c"})",
      R"({"\u0073ession_id_and_then_a_much_longer_tail":"x","conversation_id":"c"})",
      // Invalid escapes: unknown, short \u, lone surrogates.
      R"({"\session_id":"x","conversation_id":"c"})",
      R"({"\u073ession_id":"x","conversation_id":"c"})",
      R"({"\ud800session_id":"x","conversation_id":"c"})",
      R"({"\udc00session_id":"x","conversation_id":"c"})",
      R"({"\ud800\u0073ession_id":"x","conversation_id":"c"})",
  };
  for (const std::string_view body : others) {
    INFO(body);
    CHECK(Extract(body) == Ids{"conv:c", ""});
  }
  CHECK(Extract(R"({"metadata":{"user\u005Fid\u0020":"u1"}})") == Ids{});
  CHECK(Extract(R"({"me\u0074a\u0064ata":{"\user_id":"u1"}})") == Ids{});
}

TEST_CASE("A Code Assist envelope gives its request.session_id and its Gemini texts",
          "[session_id]") {
  // Gemini CLI with a Google login: /v1internal:generateContent wraps the Gemini request.
  const std::string envelope =
      R"({"model":"gemini-2.5-pro","project":"p-123","user_prompt_id":"u-1","request":{)"
      R"("contents":[{"role":"user","parts":[{"text":"Hello"}]}],)"
      R"("systemInstruction":{"parts":[{"text":"You are Gemini CLI"}]},)"
      R"("session_id":"  5b1f0c9e-1d2e-4f3a-9b8c-7d6e5f4a3b2c "}})";
  CHECK(Extract(envelope) == Ids{"session:5b1f0c9e-1d2e-4f3a-9b8c-7d6e5f4a3b2c", ""});
  // A top-level session_id still comes first.
  CHECK(Extract(R"({"session_id":"top","request":{"session_id":"inner"}})") ==
        Ids{"session:top", ""});
  // An invalid envelope ID is skipped like any explicit ID.
  CHECK(Extract(R"({"request":{"session_id":"bad\u0001","contents":[]},"conversation_id":"c"})") ==
        Ids{"conv:c", ""});
  // Without an ID, the message hash reads the envelope's texts exactly as a plain Gemini body's.
  const std::string plain =
      R"({"contents":[{"role":"user","parts":[{"text":"Hello"}]},{"role":"model","parts":[{"text":"Hi"}]}],)"
      R"("systemInstruction":{"parts":[{"text":"You are Gemini CLI"}]}})";
  const std::string wrapped =
      R"({"model":"gemini-2.5-pro","project":"p","request":{"contents":[{"role":"user","parts":[{"text":"Hello"}]},)"
      R"({"role":"model","parts":[{"text":"Hi"}]}],"systemInstruction":{"parts":[{"text":"You are Gemini CLI"}]}}})";
  const Ids from_plain = Extract(plain);
  REQUIRE(from_plain.primary.rfind("msg:", 0) == 0);
  CHECK(Extract(wrapped) == from_plain);
  // A non-object "request" is ignored.
  CHECK(Extract(R"({"request":"text","conversation_id":"c"})") == Ids{"conv:c", ""});
}
