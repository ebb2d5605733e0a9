// Internal to session-ID extraction: the conversation chain (ContentIdentity::kChain).
//
// A turn is its role and its texts, hashed from the JSON text as the client sent it (no
// unescaping: a client serialises its own history the same way each time), a piece of more than
// kPieceBytes counting by its length, first and last kPieceBytes / 2 bytes. The system prompt
// seeds the chain, wherever it stands in the body, and turn hashes chain from it: prefix[i]
// covers turns 0..i. A request continues the request made just before the model's last reply in
// it (the turns before that reply), and binds its own full chain. Trailing model turns (an
// assistant prefill) are left out of both.
#ifndef AUTHROUTER_REQUEST_SESSION_CHAIN_H_
#define AUTHROUTER_REQUEST_SESSION_CHAIN_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "request/json_walk.h"

namespace authrouter {
inline namespace v0 {
namespace request_internal {

class ConversationChain {
 public:
  static constexpr size_t kPieceBytes = 4096;

  // Read hashes the turns of a request body's root object: OpenAI/Claude "messages", Gemini
  // "contents", Responses "input", their system prompts, and the Code Assist envelope's
  // "request". False for broken JSON.
  bool Read(od::object root);

  // Ids sets *chain to the chain ID of the turns read ("chain:<16 hex>") and *continues to the
  // chain ID of the request they continue ("" for a conversation's first request). False when
  // the turns identify nothing (none, or model turns only). Call after Read.
  bool Ids(std::string* chain, std::string* continues);

 private:
  bool Turns(od::value v, bool gemini);  // messages / contents / input items
  bool Content(od::value v);             // a content value: string, parts, part objects
  bool System(od::value v);              // system / systemInstruction / instructions
  void BeginTurn(std::string_view name);
  void AddPiece(std::string_view raw);
  void EndTurn(bool is_assistant);

  std::vector<uint64_t> prefix_;    // prefix_[i]: the hash of turns [0, i] (after Ids)
  std::vector<uint8_t> assistant_;  // whether turn i is the model's
  uint64_t turn_hash_ = 0;          // of the turn being read (each turn hashed on its own)
  uint64_t system_hash_ = 0;        // the system prompt's, folded into the chain's start
};

}  // namespace request_internal
}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_REQUEST_SESSION_CHAIN_H_
