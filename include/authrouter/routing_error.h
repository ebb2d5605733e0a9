// routing_error.h -- the errors a pick can return, with what a gateway needs to answer the client.
//
// A failed pick returns an absl::Status whose canonical code says the category, and which carries
// a RoutingError payload with the upstream-compatible details:
//
//   code                 absl code            HTTP  when
//   auth_not_found       NOT_FOUND             503  no credential can serve the provider/model
//   auth_unavailable     UNAVAILABLE           503  candidates exist but none is available
//   model_cooldown       RESOURCE_EXHAUSTED    429  every candidate is cooling down from a quota
//   provider_not_found   INVALID_ARGUMENT      400  the request named no usable provider
//   executor_not_found   FAILED_PRECONDITION   503  no executor is registered for the provider
//   selector_rejected    by the HTTP status   4xx/5xx  a host policy rejected the request
//                        (400/422 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
//                        404 NOT_FOUND, 429 RESOURCE_EXHAUSTED, 5xx UNAVAILABLE, else
//                        FAILED_PRECONDITION); its body {"error":{"message":...,"type":
//                        "invalid_request_error" or "server_error","code":"selector_rejected"}}
//
// `model_cooldown` carries Retry-After and the exact JSON body upstream answers with, e.g.
//   {"error":{"code":"model_cooldown","message":"All credentials for model gemini-2.5-pro are
//   cooling down via provider gemini","model":"gemini-2.5-pro","provider":"gemini",
//   "reset_seconds":60,"reset_time":"59s"}}
// The others carry the OpenAI-style body upstream's HTTP layer writes:
//   {"error":{"message":"auth_unavailable: no auth available (providers=claude, model=m)",
//   "type":"server_error","code":"internal_server_error"}}
//
// Codes, HTTP statuses and bodies are byte-identical to upstream's. On top, a pick's error says
// why, for machines and for people: RoutingError::reason (RoutingReason, also as a name such as
// "model_not_served") and a status message that names the cause, the providers and the model:
//   auth_not_found: no credential of provider claude serves model claude-x (providers=claude,
//   model=claude-x)
//
//   reason              code                why
//   no_provider         provider_not_found  the request named no usable provider
//   no_credentials      auth_not_found      no credential of these providers is loaded
//   all_disabled        auth_not_found      every credential of these providers is disabled
//   model_not_served    auth_not_found      credentials exist; none serves this model (models.h)
//   all_tried           auth_not_found      every one serving it was tried (or has weight 0)
//   pinned_unknown      auth_not_found      the pinned credential is not loaded (or disabled)
//   pinned_not_serving  auth_not_found      the pinned credential does not serve the request
//   all_cooling         model_cooldown      every one serving it cools down; Retry-After: the
//                                           earliest is ready again
//   all_unavailable     auth_unavailable    none is available (errors, blocks, some cooling)
//   selector            auth_not_found      a host Selector chose none
//   no_executor         executor_not_found  no executor for the provider
//   selector_rejected   selector_rejected   a host policy rejected the request (its status)
//   all_busy            auth_busy           every ready one is at its concurrency limit (HTTP
//                                           429; Retry-After: LeaseOptions::busy_retry_after)
//
// auth_unavailable carries Retry-After too when a blocked credential has a retry time: the
// earliest one, rounded up to whole seconds (its body stays upstream's).
#ifndef AUTHROUTER_ROUTING_ERROR_H_
#define AUTHROUTER_ROUTING_ERROR_H_

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace authrouter {
inline namespace v0 {

// RoutingReason is why a pick failed (see the table above).
enum class RoutingReason {
  kUnspecified,  // built without a reason (for example by the host)
  kNoProvider,
  kNoCredentials,
  kAllDisabled,
  kModelNotServed,
  kAllTried,
  kPinnedUnknown,
  kPinnedNotServing,
  kAllCooling,
  kAllUnavailable,
  kSelector,
  kNoExecutor,
  kSelectorRejected,
  kAllBusy,
};

// RoutingReasonName returns the reason's machine name ("model_not_served"; "" for
// kUnspecified).
std::string_view RoutingReasonName(RoutingReason reason);

// RoutingError is the detail of a failed pick.
struct RoutingError {
  std::string code;     // "auth_not_found", "auth_unavailable", "model_cooldown", ...
  std::string message;  // upstream's text, as the body quotes it: e.g. "no auth available"
  int http_status = 0;  // the status a gateway should answer with
  // Retry-After, rounded up to whole seconds: model_cooldown's reset time, auth_busy's short
  // wait, and auth_unavailable's earliest retry time when a blocked credential has one.
  std::optional<absl::Duration> retry_after;
  std::string body;     // the JSON body a gateway should answer with
  RoutingReason reason = RoutingReason::kUnspecified;
  // Why, for people: names the cause, the providers and the model (the status message is
  // "<code>: <detail>"). Empty for errors built without a reason.
  std::string detail;
};

// RoutingFailure says why a pick failed, for the error builders below.
struct RoutingFailure {
  RoutingReason reason = RoutingReason::kUnspecified;
  std::string detail;  // without the "(providers=..., model=...)" tail, which is appended
};

// GetRoutingError returns the RoutingError carried by `status`, or nullopt when `status` is OK or
// was not produced by a pick.
std::optional<RoutingError> GetRoutingError(const absl::Status& status);

// ModelCooldownError builds the `model_cooldown` error for `model` (the route model as the client
// sent it). `provider` is left out of the body when empty or "mixed". `reset` below zero counts
// as zero.
absl::Status ModelCooldownError(std::string_view model, std::string_view provider,
                                absl::Duration reset, const RoutingFailure& why = {});

// AuthNotFoundError, AuthUnavailableError, ProviderNotFoundError and ExecutorNotFoundError build
// the other pick errors. `providers` and `model` describe the request for the body's message.
absl::Status AuthNotFoundError(std::string_view message, std::span<const std::string_view> providers,
                               std::string_view model, const RoutingFailure& why = {});
absl::Status AuthUnavailableError(std::span<const std::string_view> providers,
                                  std::string_view model, const RoutingFailure& why = {});
// With the earliest retry time of the blocked credentials (nullopt: none known).
absl::Status AuthUnavailableError(std::span<const std::string_view> providers, std::string_view model,
                                  std::optional<absl::Duration> retry_after, const RoutingFailure& why);
// AuthBusyError builds `auth_busy`: HTTP 429, Retry-After `retry_after` rounded up to whole
// seconds (at least 1), and the body
//   {"error":{"code":"auth_busy","message":"All credentials for model M are at their concurrency
//   limit via provider P","model":"M","provider":"P","retry_after_seconds":1}}
// (`provider` left out when empty or "mixed").
absl::Status AuthBusyError(std::string_view model, std::string_view provider, absl::Duration retry_after,
                           const RoutingFailure& why = {});
absl::Status ProviderNotFoundError();
absl::Status ExecutorNotFoundError(std::string_view provider);
// SelectorRejectedError builds `selector_rejected` (SelectDecision::Reject): `http_status` is
// 400..599 and `message` the client's text.
absl::Status SelectorRejectedError(int http_status, std::string_view message,
                                   std::span<const std::string_view> providers, std::string_view model);

// FormatGoDuration writes a whole number of seconds the way Go's time.Duration prints it: "0s",
// "59s", "1m31s", "30m0s", "2h0m0s".
std::string FormatGoDuration(int64_t seconds);

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_ROUTING_ERROR_H_
