// session_id.h -- which conversation a request belongs to, from its headers and raw body.
//
// Session affinity keeps a conversation on one credential so the upstream prompt cache keeps
// hitting. The session ID comes from the first source that has one, in upstream's order; IDs are
// byte-identical to upstream's so mixed fleets agree:
//
//   1. header X-Claude-Code-Session-Id                 "claude:<v>"
//   2. body metadata.user_id of Claude Code: a JSON object's session_id, or the legacy
//      "..._session_<lower-case hex and ->" suffix      "claude:<v>"
//   3. header Session-Id, then Session_id              "codex:<v>"
//   4. header X-Session-ID                             "header:<v>"
//   5. header X-Session-Affinity                       "affinity:<v>"
//   6. header X-Client-Request-Id                      "clientreq:<v>"
//   7. body session_id, then sessionId, then the Code Assist envelope's request.session_id
//                                                      "session:<v>"
//   8. body prompt_cache_key                           "pck:<v>", fallback "conv:<conversation>"
//   9. body conversation.id, or a string conversation  "conv:<v>"
//  10. body metadata.user_id                           "user:<v>"
//  11. body conversation_id                            "conv:<v>"
//  12. a hash of the first system, user and assistant texts (OpenAI messages, Claude system,
//      Gemini systemInstruction/contents, also inside a Code Assist envelope's "request" object,
//      Responses instructions/input), 100 bytes each:
//      "msg:<16 hex>", with the hash without the assistant text as fallback once a reply exists.
//
// A body's top-level previous_response_id (OpenAI Responses, stored responses) is returned as
// well (unless an X-Claude-Code-Session-Id header ends the extraction first), validated like an
// explicit ID: the response it names belongs to the account that
// produced it (SessionIds::previous_response_id; Manager routes it there, manager.h).
//
// SessionIdOptions::content_sources = false leaves out the content-derived source (12): only
// explicit IDs then make a session.
//
// Upstream's further sources, execution-session metadata ("execution:") and the derived context
// identity ("derived:"), have no counterpart: a host that has such an ID passes it as a header.
//
// Member names match as JSON defines them, after unescaping: "\u006dessages" is "messages". A
// name with an invalid escape (an unknown one, a short \u, a lone surrogate) matches none of them.
//
// Every explicit ID is validated: one with a control character is skipped, the rest is trimmed,
// and an empty one or one over 256 bytes is skipped. Header names match case-insensitively.
// A body that is not a JSON object, not valid UTF-8, nested deeper than 1024 levels or larger than
// kMaxBodyBytes yields nothing (the headers still count). authrouter never invents a session or an
// Idempotency-Key.
#ifndef AUTHROUTER_SESSION_ID_H_
#define AUTHROUTER_SESSION_ID_H_

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace authrouter {
inline namespace v0 {

// HttpHeader is one request header as the host received it.
struct HttpHeader {
  std::string_view name;
  std::string_view value;
};

// SessionIds is the result of an extraction. Its views point into the extractor and stay valid
// until its next Extract call. An empty primary means "no session".
struct SessionIds {
  std::string_view primary = {};
  std::string_view fallback = {};
  // The body's previous_response_id, validated like an explicit ID; "" when absent or invalid.
  std::string_view previous_response_id = {};
  // ContentIdentity::kChain without an explicit ID: the chain ID of this request's turns
  // ("chain:<16 hex>"), which a pick binds so that the next turn finds it. `primary` is then
  // the chain ID of the request this one continues, or "" for a conversation's first request.
  std::string_view chain = {};
};

// ContentIdentity is how a request without an explicit session ID is identified by its content.
enum class ContentIdentity : uint8_t {
  // Upstream's: a hash of the first system, user and assistant texts, 100 bytes each ("msg:",
  // source 12 above). Byte-identical to upstream, for fleets mixed with the Go proxy; but
  // conversations that open alike (a client's fixed boilerplate) share one ID.
  kUpstream,
  // The conversation chain: every turn (role and texts, all formats and the Code Assist
  // envelope) hashed in order, each prefix with its own ID. A request continues the request made
  // just before the model's last reply in it; an edited or forked history starts a new chain;
  // a conversation's first request (no reply yet) looks nothing up, so conversations that open
  // alike spread instead of piling onto one credential.
  kChain,
};

// SessionIdOptions selects the sources an extraction uses.
struct SessionIdOptions {
  // The content-derived source. Off: explicit IDs only.
  bool content_sources = true;
  // Which content identity (the extractor's default is upstream's; the Manager's is kChain).
  ContentIdentity content = ContentIdentity::kUpstream;
};

// SessionIdExtractor extracts session IDs. It keeps its parser and buffers between calls, so an
// extraction allocates nothing once warmed up.
//
// Thread-safety: one extractor per thread (or external synchronisation); it is cheap to create.
class SessionIdExtractor {
 public:
  // kMaxBodyBytes is the largest body inspected (64 MiB).
  static constexpr size_t kMaxBodyBytes = size_t{64} << 20;

  SessionIdExtractor();
  ~SessionIdExtractor();
  SessionIdExtractor(const SessionIdExtractor&) = delete;
  SessionIdExtractor& operator=(const SessionIdExtractor&) = delete;

  // Extract returns the session IDs of a request. Never fails: unusable input yields no session.
  SessionIds Extract(std::span<const HttpHeader> headers, std::string_view body);
  SessionIds Extract(std::span<const HttpHeader> headers, std::string_view body,
                     const SessionIdOptions& options);

  // ReleaseLargeBuffers frees the buffers a body over 4 MiB left behind (the next large body
  // allocates again). Invalidates the views of the last result.
  void ReleaseLargeBuffers();

 private:
  SessionIds ExtractSession(std::span<const HttpHeader> headers, std::string_view body,
                            const SessionIdOptions& options);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// NormalizeExplicitSessionId applies the validation rule above; "" means "rejected".
std::string_view NormalizeExplicitSessionId(std::string_view raw);

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_SESSION_ID_H_
