// The C ABI: session-ID extraction.
#include "capi/capi_internal.h"
#include "authrouter/session_id.h"

using namespace authrouter::capi;  // NOLINT: the helpers of this layer

namespace {

// OutString is one (string, length) out pair of an extraction; either pointer may be NULL.
struct OutString {
  char** out;
  size_t* len;
};

template <size_t N>
void Clear(const OutString (&outs)[N]) {
  for (const OutString& o : outs) {
    if (o.out != nullptr) *o.out = nullptr;
    if (o.len != nullptr) *o.len = 0;
  }
}

// Extract runs one extraction and copies the wanted IDs out, all or nothing. values[i] is the
// source of outs[i].
template <size_t N>
int32_t Extract(const authrouter_header* headers, size_t header_count, const char* body,
                size_t body_len, const ar::SessionIdOptions& options, const OutString (&outs)[N],
                std::string_view (*pick)(const ar::SessionIds&, size_t), authrouter_error** err) {
  Clear(outs);
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
    const ar::SessionIds ids = extractor.Extract(hs, b, options);
    int32_t rc = Ok(err);
    for (size_t i = 0; i < N; ++i) {
      const std::string_view value = pick(ids, i);
      if (outs[i].out == nullptr || value.empty()) continue;
      *outs[i].out = CopyOut(value);
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
      if (outs[i].len != nullptr) *outs[i].len = value.size();
    }
    if (b.size() > (size_t{4} << 20)) extractor.ReleaseLargeBuffers();  // no per-thread hoard
    return rc;
  });
}

std::string_view Field(const ar::SessionIds& ids, size_t i) {
  switch (i) {
    case 0: return ids.primary;
    case 1: return ids.fallback;
    case 2: return ids.previous_response_id;
    default: return ids.chain;
  }
}

}  // namespace

extern "C" {

// ---- session IDs ------------------------------------------------------------------------------

int32_t authrouter_extract_session_id(const authrouter_header* headers, size_t header_count,
                                      const char* body, size_t body_len, char** out,
                                      size_t* out_len, authrouter_error** err) {
  if (out == nullptr) {
    if (out_len != nullptr) *out_len = 0;
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out, headers or body is NULL");
  }
  const OutString outs[] = {{out, out_len}};
  return Extract(headers, header_count, body, body_len, ar::SessionIdOptions{}, outs, Field, err);
}

int32_t authrouter_extract_session_ids(const authrouter_header* headers, size_t header_count,
                                       const char* body, size_t body_len, char** out_primary,
                                       size_t* out_primary_len, char** out_fallback,
                                       size_t* out_fallback_len, char** out_previous_response_id,
                                       size_t* out_previous_response_id_len,
                                       authrouter_error** err) {
  const OutString outs[] = {{out_primary, out_primary_len},
                            {out_fallback, out_fallback_len},
                            {out_previous_response_id, out_previous_response_id_len}};
  return Extract(headers, header_count, body, body_len, ar::SessionIdOptions{}, outs, Field, err);
}

void authrouter_session_id_options_init(authrouter_session_id_options* o) {
  if (o != nullptr) *o = AUTHROUTER_SESSION_ID_OPTIONS_INIT;
}

int32_t authrouter_extract_session_ids_with(
    const authrouter_header* headers, size_t header_count, const char* body, size_t body_len,
    const authrouter_session_id_options* options, char** out_primary, size_t* out_primary_len,
    char** out_fallback, size_t* out_fallback_len, char** out_previous_response_id,
    size_t* out_previous_response_id_len, char** out_chain, size_t* out_chain_len,
    authrouter_error** err) {
  const OutString outs[] = {{out_primary, out_primary_len},
                            {out_fallback, out_fallback_len},
                            {out_previous_response_id, out_previous_response_id_len},
                            {out_chain, out_chain_len}};
  ar::SessionIdOptions o;
  if (options != nullptr) {
    Clear(outs);
    if (int32_t rc = CheckVersion(options->version, "session_id_options", err); rc != 0) return rc;
    if (options->content_identity != AUTHROUTER_CONTENT_IDENTITY_UPSTREAM &&
        options->content_identity != AUTHROUTER_CONTENT_IDENTITY_CHAIN) {
      return Fail(err, AUTHROUTER_INVALID_ARGUMENT,
                  "content_identity is not one of AUTHROUTER_CONTENT_IDENTITY_UPSTREAM or _CHAIN");
    }
    o.content_sources = options->content_sources;
    o.content = options->content_identity == AUTHROUTER_CONTENT_IDENTITY_CHAIN
                    ? ar::ContentIdentity::kChain
                    : ar::ContentIdentity::kUpstream;
  }
  return Extract(headers, header_count, body, body_len, o, outs, Field, err);
}

}  // extern "C"
