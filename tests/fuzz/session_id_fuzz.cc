// libFuzzer target for session-ID extraction. The input is split at its first NUL byte: before
// it, "Name: value" header lines; after it, the body. Checks the extractor's invariants.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "authrouter/session_id.h"

namespace {

bool IsValidPrefix(std::string_view id) {
  for (std::string_view p : {"claude:", "codex:", "header:", "affinity:", "clientreq:", "session:",
                             "pck:", "conv:", "user:", "msg:"}) {
    if (id.substr(0, p.size()) == p) return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static authrouter::SessionIdExtractor extractor;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  const std::string_view head = nul == std::string_view::npos ? std::string_view() : input.substr(0, nul);
  const std::string_view body = nul == std::string_view::npos ? input : input.substr(nul + 1);
  std::vector<authrouter::HttpHeader> headers;
  for (size_t start = 0; start < head.size();) {
    size_t end = head.find('\n', start);
    if (end == std::string_view::npos) end = head.size();
    const std::string_view line = head.substr(start, end - start);
    const size_t colon = line.find(':');
    if (colon != std::string_view::npos) {
      headers.push_back({line.substr(0, colon), line.substr(colon + 1)});
    }
    start = end + 1;
  }
  const authrouter::SessionIds ids = extractor.Extract(headers, body);
  if (ids.primary.empty() && !ids.fallback.empty()) std::abort();
  if (!ids.primary.empty() && !IsValidPrefix(ids.primary)) std::abort();
  if (!ids.fallback.empty() && !IsValidPrefix(ids.fallback)) std::abort();
  // A previous_response_id is a validated explicit ID: trimmed, no control characters.
  if (!ids.previous_response_id.empty() &&
      authrouter::NormalizeExplicitSessionId(ids.previous_response_id) != ids.previous_response_id) {
    std::abort();
  }
  // The same input gives the same answer (buffers are reused between calls).
  const std::string primary(ids.primary), fallback(ids.fallback), previous(ids.previous_response_id);
  const authrouter::SessionIds again = extractor.Extract(headers, body);
  if (again.primary != primary || again.fallback != fallback ||
      again.previous_response_id != previous) {
    std::abort();
  }
  // Without content sources only explicit IDs remain, and those are the same.
  const authrouter::SessionIds explicit_only =
      extractor.Extract(headers, body, authrouter::SessionIdOptions{.content_sources = false});
  if (explicit_only.primary.substr(0, 4) == "msg:") std::abort();
  if (primary.substr(0, 4) != "msg:" && explicit_only.primary != primary) std::abort();
  // The conversation chain: explicit IDs unchanged; otherwise chain IDs only.
  const authrouter::SessionIds chained = extractor.Extract(
      headers, body, authrouter::SessionIdOptions{.content = authrouter::ContentIdentity::kChain});
  const auto is_chain_id = [](std::string_view id) {
    if (id.size() != 22 || id.substr(0, 6) != "chain:") return false;
    for (char c : id.substr(6)) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
  };
  if (!chained.chain.empty()) {
    if (!is_chain_id(chained.chain) || !chained.fallback.empty()) std::abort();
    if (!chained.primary.empty() && !is_chain_id(chained.primary)) std::abort();
    if (chained.primary == chained.chain) std::abort();  // a request never continues itself
  } else if (primary.substr(0, 4) != "msg:" && chained.primary != primary) {
    std::abort();
  }
  return 0;
}
