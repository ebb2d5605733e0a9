// The C ABI: version, status names, errors, strings and sinks.
#include "capi/capi_internal.h"

using namespace authrouter::capi;  // NOLINT: the helpers of this layer

namespace authrouter::capi {

int32_t StatusForHttp(int http) {
  if (http == 429) return AUTHROUTER_RESOURCE_EXHAUSTED;
  if (http == 401) return AUTHROUTER_UNAUTHENTICATED;
  if (http == 403) return AUTHROUTER_PERMISSION_DENIED;
  if (http == 404) return AUTHROUTER_NOT_FOUND;
  if (http == 408) return AUTHROUTER_DEADLINE_EXCEEDED;
  if (http >= 500) return AUTHROUTER_UNAVAILABLE;
  if (http >= 400) return AUTHROUTER_FAILED_PRECONDITION;
  return AUTHROUTER_UNKNOWN;
}

}  // namespace authrouter::capi

extern "C" {

// ---- version and status -----------------------------------------------------------------------

int32_t authrouter_version_number(void) { return AUTHROUTER_VERSION_NUMBER; }

const char* authrouter_version_string(void) { return AUTHROUTER_VERSION_STRING; }

const char* authrouter_status_str(int32_t code) {
  switch (code) {
    case AUTHROUTER_OK: return "OK";
    case AUTHROUTER_CANCELLED: return "CANCELLED";
    case AUTHROUTER_UNKNOWN: return "UNKNOWN";
    case AUTHROUTER_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case AUTHROUTER_DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case AUTHROUTER_NOT_FOUND: return "NOT_FOUND";
    case AUTHROUTER_ALREADY_EXISTS: return "ALREADY_EXISTS";
    case AUTHROUTER_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case AUTHROUTER_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case AUTHROUTER_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case AUTHROUTER_ABORTED: return "ABORTED";
    case AUTHROUTER_OUT_OF_RANGE: return "OUT_OF_RANGE";
    case AUTHROUTER_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case AUTHROUTER_INTERNAL: return "INTERNAL";
    case AUTHROUTER_UNAVAILABLE: return "UNAVAILABLE";
    case AUTHROUTER_DATA_LOSS: return "DATA_LOSS";
    case AUTHROUTER_UNAUTHENTICATED: return "UNAUTHENTICATED";
    case AUTHROUTER_CALLBACK_FAILED: return "CALLBACK_FAILED";
    case AUTHROUTER_SHUT_DOWN: return "SHUT_DOWN";
    default: return "UNRECOGNIZED";
  }
}

// ---- errors -----------------------------------------------------------------------------------

int32_t authrouter_error_code(const authrouter_error* e) { return e ? e->code : AUTHROUTER_OK; }
const char* authrouter_error_message(const authrouter_error* e, size_t* len) {
  return e ? Out(e->message, len) : Out(std::string_view(""), len);
}
bool authrouter_error_retryable(const authrouter_error* e) { return e != nullptr && e->retryable; }
int32_t authrouter_error_http_status(const authrouter_error* e) { return e ? e->http_status : 0; }
int64_t authrouter_error_retry_after_ms(const authrouter_error* e) { return e ? e->retry_after_ms : -1; }
const char* authrouter_error_routing_code(const authrouter_error* e, size_t* len) {
  return e ? Out(e->routing_code, len) : Out(std::string_view(""), len);
}
const char* authrouter_error_reason(const authrouter_error* e, size_t* len) {
  return e ? Out(e->reason, len) : Out(std::string_view(""), len);
}
const char* authrouter_error_body(const authrouter_error* e, size_t* len) {
  return e ? Out(e->body, len) : Out(std::string_view(""), len);
}
void authrouter_error_free(authrouter_error* e) {
  if (e != &kOutOfMemoryError) delete e;
}

// ---- strings and sinks ------------------------------------------------------------------------

void authrouter_string_free(char* s) { std::free(s); }

int32_t authrouter_sink_write(authrouter_sink* sink, const char* data, size_t len) {
  if (sink == nullptr || (data == nullptr && len != 0)) return AUTHROUTER_INVALID_ARGUMENT;
  try {
    if (sink->overflow || len > sink->limit - sink->data.size()) {
      sink->overflow = true;
      return AUTHROUTER_RESOURCE_EXHAUSTED;
    }
    sink->data.append(data, len);
    return AUTHROUTER_OK;
  } catch (...) {
    sink->overflow = true;
    return AUTHROUTER_RESOURCE_EXHAUSTED;
  }
}

}  // extern "C"
