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
//
// `model_cooldown` carries Retry-After and the exact JSON body upstream answers with, e.g.
//   {"error":{"code":"model_cooldown","message":"All credentials for model gemini-2.5-pro are
//   cooling down via provider gemini","model":"gemini-2.5-pro","provider":"gemini",
//   "reset_seconds":60,"reset_time":"59s"}}
// The others carry the OpenAI-style body upstream's HTTP layer writes:
//   {"error":{"message":"auth_unavailable: no auth available (providers=claude, model=m)",
//   "type":"server_error","code":"internal_server_error"}}
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

// RoutingError is the detail of a failed pick.
struct RoutingError {
  std::string code;     // "auth_not_found", "auth_unavailable", "model_cooldown", ...
  std::string message;  // e.g. "no auth available"
  int http_status = 0;  // the status a gateway should answer with
  // Retry-After, for model_cooldown only: the reset time rounded up to whole seconds.
  std::optional<absl::Duration> retry_after;
  std::string body;     // the JSON body a gateway should answer with
};

// GetRoutingError returns the RoutingError carried by `status`, or nullopt when `status` is OK or
// was not produced by a pick.
std::optional<RoutingError> GetRoutingError(const absl::Status& status);

// ModelCooldownError builds the `model_cooldown` error for `model` (the route model as the client
// sent it). `provider` is left out of the body when empty or "mixed". `reset` below zero counts
// as zero.
absl::Status ModelCooldownError(std::string_view model, std::string_view provider,
                                absl::Duration reset);

// AuthNotFoundError, AuthUnavailableError, ProviderNotFoundError and ExecutorNotFoundError build
// the other pick errors. `providers` and `model` describe the request for the body's message.
absl::Status AuthNotFoundError(std::string_view message, std::span<const std::string_view> providers,
                               std::string_view model);
absl::Status AuthUnavailableError(std::span<const std::string_view> providers,
                                  std::string_view model);
absl::Status ProviderNotFoundError();
absl::Status ExecutorNotFoundError(std::string_view provider);

// FormatGoDuration writes a whole number of seconds the way Go's time.Duration prints it: "0s",
// "59s", "1m31s", "30m0s", "2h0m0s".
std::string FormatGoDuration(int64_t seconds);

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_ROUTING_ERROR_H_
