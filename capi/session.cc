// The C ABI: session-ID extraction.
#include "capi/capi_internal.h"
#include "authrouter/session_id.h"

using namespace authrouter::capi;  // NOLINT: the helpers of this layer

extern "C" {

// ---- session IDs ------------------------------------------------------------------------------

int32_t authrouter_extract_session_id(const authrouter_header* headers, size_t header_count,
                                      const char* body, size_t body_len, char** out,
                                      size_t* out_len, authrouter_error** err) {
  if (out != nullptr) *out = nullptr;
  if (out_len != nullptr) *out_len = 0;
  std::string_view b;
  if (out == nullptr || (headers == nullptr && header_count != 0) || !Str(body, body_len, &b)) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out, headers or body is NULL");
  }
  return Guard(err, [&] {
    std::vector<ar::HttpHeader> hs;
    for (size_t i = 0; i < header_count; ++i) {
      ar::HttpHeader h;
      if (!Str(headers[i].name, &h.name) || !Str(headers[i].value, &h.value)) {
        return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a header is NULL");
      }
      hs.push_back(h);
    }
    thread_local ar::SessionIdExtractor extractor;
    const ar::SessionIds ids = extractor.Extract(hs, b);
    if (!ids.primary.empty()) {
      *out = CopyOut(ids.primary);
      if (*out == nullptr) return Fail(err, absl::ResourceExhaustedError("out of memory"));
      if (out_len != nullptr) *out_len = ids.primary.size();
    }
    if (b.size() > (size_t{4} << 20)) extractor.ReleaseLargeBuffers();  // no per-thread hoard
    return Ok(err);
  });
}

}  // extern "C"
