// result.h -- what a gateway reports after an upstream call, and how authrouter classifies it.
//
// After each upstream call the host reports a Result to Manager::MarkResult. The result state
// machine then updates the credential's health for that model: a 429 cools the model
// down (Retry-After, or a 1 s * 2^level ladder capped at 30 min), a 401/403 suspends it for
// 30 min, a 404 for 12 h, a 5xx for one minute, a "model not supported" answer for 12 h, and a
// success clears it. The classification helpers below are the same ones the state machine uses,
// so a host can make the same decisions (e.g. whether to try another credential).
#ifndef AUTHROUTER_RESULT_H_
#define AUTHROUTER_RESULT_H_

#include <optional>
#include <string_view>
#include <utility>

#include "absl/time/time.h"
#include "authrouter/health.h"

namespace authrouter {
inline namespace v0 {

// Result is the outcome of one upstream call. Views need to live only for the call.
struct Result {
  std::string_view credential_id;  // empty: the result is ignored
  std::string_view provider;       // informational (hooks)
  // The model the call used; routing state is kept per canonical model. Empty: the result
  // applies to the credential as a whole (model-less calls).
  std::string_view model;
  bool success = false;
  int http_status = 0;             // upstream status; 0 when there was none (transport error)
  std::string_view error_code;     // optional machine code, e.g. "connection_lifecycle"
  std::string_view error_message;  // upstream error text (never logged by authrouter)
  std::optional<absl::Duration> retry_after;  // the upstream Retry-After hint, if any
  // The recorded ErrorRecord::retryable is derived from http_status (credential.h), not taken
  // from the host.
  // The session binding of the pick (PickResult::session), if any: a success keeps it alive, a
  // failure other than a request-scoped or connection-lifecycle one releases it.
  std::string_view session_key;
  // With session affinity, on a success: the ID of the response the upstream stored (OpenAI
  // Responses `id`), so that a later request whose previous_response_id names it goes to this
  // credential (PickResult::response_chain). Validated like a session ID: one that is not valid
  // UTF-8 or holds a control character is not recorded (the rest of the result still is).
  std::string_view response_id;
  // The tenant of the request (PickRequest::tenant), which response_id is recorded under: pass
  // the pick's tenant, or the response is recorded for the default tenant only.
  std::string_view tenant;
  // The pick's lease (PickResult::lease), if any: MarkResult releases it (before anything else,
  // whatever the result says, also when the result is rejected as invalid). A success passed
  // with its lease on a healthy credential is answered without looking the credential up, so
  // pass it whenever there is one.
  Lease* lease = nullptr;
};

// IsRequestScopedNotFound: a 404 about a request-scoped item (OpenAI "item with id ... not
// found ... items are not persisted when `store` is set to false"). Changes no state.
bool IsRequestScopedNotFound(int http_status, std::string_view message);

// IsModelSupportError: a 400 or 422 saying the model is not supported or not available for the
// plan/account. Suspends the model for 12 h even with cooling disabled.
bool IsModelSupportError(int http_status, std::string_view message);

// IsInvalidGrant: a 400 or 401 whose code or message contains "invalid_grant" (a revoked OAuth
// grant): not request-invalid; the model is suspended for 30 min.
bool IsInvalidGrant(int http_status, std::string_view code, std::string_view message);

// IsConnectionLifecycle: the client went away or the connection closed, not a credential fault:
// code "connection_lifecycle", or, without an HTTP status, a message such as "context canceled",
// "EOF", "unexpected EOF" or "websocket: close 1000/1001/1006". Cools nothing.
bool IsConnectionLifecycle(int http_status, std::string_view code, std::string_view message);

// IsRequestInvalid: the request itself is bad, so no other credential would do better: a 400
// containing "invalid_request_error", a request-scoped 404, or any 422 -- but never a
// model-support error or an invalid grant. Such errors stop a request at once.
bool IsRequestInvalid(int http_status, std::string_view message);

// IsRequestInvalid with the error code too (an "invalid_grant" code is never request-invalid).
bool IsRequestInvalid(int http_status, std::string_view code, std::string_view message);

// QuotaBackoff returns the cooldown for a 429 without Retry-After at backoff `level`, and the
// level to store next: 1 s * 2^level, capped at 30 min (where the level stops rising). A negative
// level counts as 0.
std::pair<absl::Duration, int> QuotaBackoff(int level);

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_RESULT_H_
