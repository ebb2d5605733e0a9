#include "authrouter/routing_error.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/cord.h"
#include "internal/json_writer.h"
#include "internal/strings.h"

namespace authrouter {
inline namespace v0 {
namespace {

using internal::Cat;

constexpr char kPayloadUrl[] = "type.authrouter.dev/authrouter.RoutingError";

// RequestText is the "(providers=..., model=...)" tail upstream's messages carry.
std::string RequestText(std::span<const std::string_view> providers, std::string_view model) {
  std::string joined;
  for (std::string_view p : providers) {
    if (!joined.empty()) joined.push_back(',');
    joined.append(p);
  }
  return Cat("(providers=", joined.empty() ? std::string_view("unknown") : joined,
             ", model=", model.empty() ? std::string_view("unknown") : model, ")");
}

void SetWhy(RoutingError& e, const RoutingFailure& why, std::span<const std::string_view> providers,
            std::string_view model) {
  e.reason = why.reason;
  if (why.reason == RoutingReason::kUnspecified && why.detail.empty()) return;
  const std::string_view text = why.detail.empty() ? std::string_view(e.message) : why.detail;
  e.detail = Cat(text, " ", RequestText(providers, model));
}

RoutingError Base(std::string_view code, std::string_view message, int http_status) {
  RoutingError e;
  e.code = std::string(code);
  e.message = std::string(message);
  e.http_status = http_status;
  return e;
}

// The payload is a sequence of length-prefixed fields ("<len>:<bytes>"), so any byte -- a NUL
// in a client's model name included -- round-trips.
void AppendField(std::string* out, std::string_view field) {
  internal::Append(out, static_cast<int64_t>(field.size()), ":", field);
}

absl::Status Make(absl::StatusCode code, RoutingError e) {
  absl::Status status(code, Cat(e.code, ": ", e.detail.empty() ? e.message : e.detail));
  std::string payload;
  AppendField(&payload, e.code);
  AppendField(&payload, e.message);
  AppendField(&payload, std::to_string(e.http_status));
  AppendField(&payload, e.retry_after ? std::to_string(absl::ToInt64Nanoseconds(*e.retry_after)) : "");
  AppendField(&payload, RoutingReasonName(e.reason));
  AppendField(&payload, e.detail);
  AppendField(&payload, e.body);
  status.SetPayload(kPayloadUrl, absl::Cord(payload));
  return status;
}

// ServerErrorBody is the OpenAI-style body upstream's HTTP layer writes for auth_* errors.
std::string ServerErrorBody(std::string_view code, std::string_view message,
                            std::span<const std::string_view> providers, std::string_view model) {
  const std::string text = Cat(code, ": ", message, " ", RequestText(providers, model));
  std::string body = "{\"error\":{\"message\":";
  internal::AppendGoJsonString(&body, text);
  body += ",\"type\":\"server_error\",\"code\":\"internal_server_error\"}}";
  return body;
}

constexpr std::pair<RoutingReason, std::string_view> kReasonNames[] = {
    {RoutingReason::kUnspecified, ""},
    {RoutingReason::kNoProvider, "no_provider"},
    {RoutingReason::kNoCredentials, "no_credentials"},
    {RoutingReason::kAllDisabled, "all_disabled"},
    {RoutingReason::kModelNotServed, "model_not_served"},
    {RoutingReason::kAllTried, "all_tried"},
    {RoutingReason::kPinnedUnknown, "pinned_unknown"},
    {RoutingReason::kPinnedNotServing, "pinned_not_serving"},
    {RoutingReason::kAllCooling, "all_cooling"},
    {RoutingReason::kAllUnavailable, "all_unavailable"},
    {RoutingReason::kSelector, "selector"},
    {RoutingReason::kNoExecutor, "no_executor"},
    {RoutingReason::kSelectorRejected, "selector_rejected"},
    {RoutingReason::kAllBusy, "all_busy"},
};

// CeilSeconds rounds a wait up to whole seconds (at least 0).
int64_t CeilSeconds(absl::Duration d) {
  if (d <= absl::ZeroDuration()) return 0;
  return absl::ToInt64Seconds(absl::Ceil(d, absl::Seconds(1)));
}

RoutingReason ReasonFromName(std::string_view name) {
  for (const auto& [reason, n] : kReasonNames) {
    if (n == name) return reason;
  }
  return RoutingReason::kUnspecified;
}

}  // namespace

std::string_view RoutingReasonName(RoutingReason reason) {
  for (const auto& [r, name] : kReasonNames) {
    if (r == reason) return name;
  }
  return "";
}

std::string FormatGoDuration(int64_t seconds) {
  if (seconds == 0) return "0s";
  std::string out;
  if (seconds < 0) {
    out.push_back('-');
    seconds = -seconds;
  }
  const int64_t h = seconds / 3600, m = seconds / 60 % 60, s = seconds % 60;
  if (h > 0) internal::Append(&out, h, "h", m, "m");
  else if (m > 0) internal::Append(&out, m, "m");
  internal::Append(&out, s, "s");
  return out;
}

std::optional<RoutingError> GetRoutingError(const absl::Status& status) {
  if (status.ok()) return std::nullopt;
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload) return std::nullopt;
  const std::string text(*payload);
  RoutingError e;
  size_t pos = 0;
  auto next = [&](std::string* field) {
    const size_t colon = text.find(':', pos);
    if (colon == std::string::npos) return false;
    size_t length = 0;
    for (size_t i = pos; i < colon; ++i) {
      if (text[i] < '0' || text[i] > '9' || length > text.size()) return false;
      length = length * 10 + static_cast<size_t>(text[i] - '0');
    }
    if (colon == pos || length > text.size() - colon - 1) return false;
    field->assign(text, colon + 1, length);
    pos = colon + 1 + length;
    return true;
  };
  std::string http, retry, reason;
  if (!next(&e.code) || !next(&e.message) || !next(&http) || !next(&retry) || !next(&reason) ||
      !next(&e.detail) || !next(&e.body)) {
    return std::nullopt;
  }
  e.reason = ReasonFromName(reason);
  e.http_status = std::atoi(http.c_str());
  if (!retry.empty()) e.retry_after = absl::Nanoseconds(std::strtoll(retry.c_str(), nullptr, 10));
  return e;
}

absl::Status ModelCooldownError(std::string_view model, std::string_view provider,
                                absl::Duration reset, const RoutingFailure& why) {
  if (reset < absl::ZeroDuration()) reset = absl::ZeroDuration();
  const int64_t nanos = absl::ToInt64Nanoseconds(reset);
  constexpr int64_t kSecond = 1'000'000'000;
  const int64_t ceil_seconds = nanos / kSecond + (nanos % kSecond != 0 ? 1 : 0);
  int64_t rounded_seconds = (nanos + kSecond / 2) / kSecond;
  if (nanos > 0 && rounded_seconds == 0) rounded_seconds = 1;
  const bool with_provider = !provider.empty() && provider != "mixed";

  RoutingError e;
  e.code = "model_cooldown";
  e.message = Cat("All credentials for model ", model.empty() ? std::string_view("requested model") : model,
                  " are cooling down");
  if (with_provider) internal::Append(&e.message, " via provider ", provider);
  e.http_status = 429;
  e.retry_after = absl::Seconds(ceil_seconds);
  std::string& b = e.body;
  b = "{\"error\":{\"code\":\"model_cooldown\",\"message\":";
  internal::AppendGoJsonString(&b, e.message);
  b += ",\"model\":";
  internal::AppendGoJsonString(&b, model);
  if (with_provider) {
    b += ",\"provider\":";
    internal::AppendGoJsonString(&b, provider);
  }
  internal::Append(&b, ",\"reset_seconds\":", ceil_seconds, ",\"reset_time\":");
  internal::AppendGoJsonString(&b, FormatGoDuration(rounded_seconds));
  b += "}}";
  const std::string_view providers[] = {provider};
  SetWhy(e, why, with_provider ? std::span<const std::string_view>(providers) : std::span<const std::string_view>(), model);
  return Make(absl::StatusCode::kResourceExhausted, std::move(e));
}

absl::Status AuthNotFoundError(std::string_view message, std::span<const std::string_view> providers,
                               std::string_view model, const RoutingFailure& why) {
  RoutingError e = Base("auth_not_found", std::string(message), 503);
  e.body = ServerErrorBody(e.code, e.message, providers, model);
  SetWhy(e, why, providers, model);
  return Make(absl::StatusCode::kNotFound, std::move(e));
}

absl::Status AuthUnavailableError(std::span<const std::string_view> providers,
                                  std::string_view model, const RoutingFailure& why) {
  return AuthUnavailableError(providers, model, std::nullopt, why);
}

absl::Status AuthUnavailableError(std::span<const std::string_view> providers, std::string_view model,
                                  std::optional<absl::Duration> retry_after, const RoutingFailure& why) {
  RoutingError e = Base("auth_unavailable", "no auth available", 503);
  e.body = ServerErrorBody(e.code, e.message, providers, model);
  if (retry_after) e.retry_after = absl::Seconds(CeilSeconds(*retry_after));
  SetWhy(e, why, providers, model);
  return Make(absl::StatusCode::kUnavailable, std::move(e));
}

absl::Status AuthBusyError(std::string_view model, std::string_view provider, absl::Duration retry_after,
                           const RoutingFailure& why) {
  const bool with_provider = !provider.empty() && provider != "mixed";
  const int64_t seconds = std::max<int64_t>(CeilSeconds(retry_after), 1);
  RoutingError e;
  e.code = "auth_busy";
  e.message = Cat("All credentials for model ", model.empty() ? std::string_view("requested model") : model,
                  " are at their concurrency limit");
  if (with_provider) internal::Append(&e.message, " via provider ", provider);
  e.http_status = 429;
  e.retry_after = absl::Seconds(seconds);
  std::string& b = e.body;
  b = "{\"error\":{\"code\":\"auth_busy\",\"message\":";
  internal::AppendGoJsonString(&b, e.message);
  b += ",\"model\":";
  internal::AppendGoJsonString(&b, model);
  if (with_provider) {
    b += ",\"provider\":";
    internal::AppendGoJsonString(&b, provider);
  }
  internal::Append(&b, ",\"retry_after_seconds\":", seconds, "}}");
  const std::string_view providers[] = {provider};
  SetWhy(e, why, with_provider ? std::span<const std::string_view>(providers) : std::span<const std::string_view>(),
         model);
  return Make(absl::StatusCode::kResourceExhausted, std::move(e));
}

absl::Status ProviderNotFoundError() {
  RoutingError e = Base("provider_not_found", "no provider supplied", 400);
  e.body = ServerErrorBody(e.code, e.message, {}, {});
  SetWhy(e, {RoutingReason::kNoProvider, "the request named no provider"}, {}, {});
  return Make(absl::StatusCode::kInvalidArgument, std::move(e));
}

absl::Status ExecutorNotFoundError(std::string_view provider) {
  RoutingError e = Base("executor_not_found", "executor not registered", 503);
  const std::string_view providers[] = {provider};
  e.body = ServerErrorBody(e.code, e.message, providers, {});
  SetWhy(e, {RoutingReason::kNoExecutor, Cat("no executor is registered for provider ", provider)},
         providers, {});
  return Make(absl::StatusCode::kFailedPrecondition, std::move(e));
}

absl::Status SelectorRejectedError(int http_status, std::string_view message,
                                   std::span<const std::string_view> providers, std::string_view model) {
  RoutingError e = Base("selector_rejected", message, http_status);
  e.body = "{\"error\":{\"message\":";
  internal::AppendGoJsonString(&e.body, message);
  e.body += http_status < 500 ? ",\"type\":\"invalid_request_error\"" : ",\"type\":\"server_error\"";
  e.body += ",\"code\":\"selector_rejected\"}}";
  SetWhy(e, {RoutingReason::kSelectorRejected, Cat("the host selector rejected the request: ", message)},
         providers, model);
  absl::StatusCode code = absl::StatusCode::kFailedPrecondition;
  if (http_status == 400 || http_status == 422) code = absl::StatusCode::kInvalidArgument;
  if (http_status == 401) code = absl::StatusCode::kUnauthenticated;
  if (http_status == 403) code = absl::StatusCode::kPermissionDenied;
  if (http_status == 404) code = absl::StatusCode::kNotFound;
  if (http_status == 429) code = absl::StatusCode::kResourceExhausted;
  if (http_status >= 500) code = absl::StatusCode::kUnavailable;
  return Make(code, std::move(e));
}

}  // namespace v0
}  // namespace authrouter
