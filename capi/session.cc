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
    if (!ConvertHeaders(headers, header_count, &hs)) {
      return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a header is NULL");
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

int32_t authrouter_extract_session_ids(const authrouter_header* headers, size_t header_count,
                                       const char* body, size_t body_len, char** out_primary,
                                       size_t* out_primary_len, char** out_fallback,
                                       size_t* out_fallback_len, char** out_previous_response_id,
                                       size_t* out_previous_response_id_len,
                                       authrouter_error** err) {
  struct Out {
    char** out;
    size_t* len;
  };
  const Out outs[] = {{out_primary, out_primary_len},
                      {out_fallback, out_fallback_len},
                      {out_previous_response_id, out_previous_response_id_len}};
  for (const Out& o : outs) {
    if (o.out != nullptr) *o.out = nullptr;
    if (o.len != nullptr) *o.len = 0;
  }
  std::string_view b;
  if ((headers == nullptr && header_count != 0) || !Str(body, body_len, &b)) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "headers or body is NULL");
  }
  return Guard(err, [&] {
    std::vector<ar::HttpHeader> hs;
    if (!ConvertHeaders(headers, header_count, &hs)) {
      return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a header is NULL");
    }
    thread_local ar::SessionIdExtractor extractor;
    const ar::SessionIds ids = extractor.Extract(hs, b);
    const std::string_view values[] = {ids.primary, ids.fallback, ids.previous_response_id};
    int32_t rc = Ok(err);
    for (size_t i = 0; i < 3; ++i) {
      if (outs[i].out == nullptr || values[i].empty()) continue;
      *outs[i].out = CopyOut(values[i]);
      if (*outs[i].out == nullptr) {
        for (size_t j = 0; j < i; ++j) {  // all or nothing
          if (outs[j].out != nullptr && *outs[j].out != nullptr) {
            authrouter_string_free(*outs[j].out);
            *outs[j].out = nullptr;
            if (outs[j].len != nullptr) *outs[j].len = 0;
          }
        }
        rc = Fail(err, absl::ResourceExhaustedError("out of memory"));
        break;
      }
      if (outs[i].len != nullptr) *outs[i].len = values[i].size();
    }
    if (b.size() > (size_t{4} << 20)) extractor.ReleaseLargeBuffers();  // no per-thread hoard
    return rc;
  });
}

}  // extern "C"
