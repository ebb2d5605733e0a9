#include "authrouter/routing_error.h"

#include <cstdlib>

#include "absl/strings/cord.h"
#include "internal/json_writer.h"
#include "internal/strings.h"

namespace authrouter {
inline namespace v0 {
namespace {

using internal::Cat;

constexpr char kPayloadUrl[] = "type.authrouter.dev/authrouter.RoutingError";
constexpr char kSep = '\0';

absl::Status Make(absl::StatusCode code, RoutingError e) {
  absl::Status status(code, Cat(e.code, ": ", e.message));
  std::string payload = Cat(e.code, kSep, e.message, kSep, static_cast<int64_t>(e.http_status),
                            kSep);
  if (e.retry_after) payload += std::to_string(absl::ToInt64Nanoseconds(*e.retry_after));
  payload.push_back(kSep);
  payload += e.body;
  status.SetPayload(kPayloadUrl, absl::Cord(payload));
  return status;
}

// ServerErrorBody is the OpenAI-style body upstream's HTTP layer writes for auth_* errors.
std::string ServerErrorBody(std::string_view code, std::string_view message,
                            std::span<const std::string_view> providers, std::string_view model) {
  std::string joined;
  for (std::string_view p : providers) {
    if (!joined.empty()) joined.push_back(',');
    joined.append(p);
  }
  const std::string text = Cat(code, ": ", message, " (providers=",
                               joined.empty() ? std::string_view("unknown") : joined,
                               ", model=", model.empty() ? std::string_view("unknown") : model, ")");
  std::string body = "{\"error\":{\"message\":";
  internal::AppendGoJsonString(&body, text);
  body += ",\"type\":\"server_error\",\"code\":\"internal_server_error\"}}";
  return body;
}

}  // namespace

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
    const size_t end = text.find(kSep, pos);
    if (end == std::string::npos) return false;
    field->assign(text, pos, end - pos);
    pos = end + 1;
    return true;
  };
  std::string http, retry;
  if (!next(&e.code) || !next(&e.message) || !next(&http) || !next(&retry)) return std::nullopt;
  e.http_status = std::atoi(http.c_str());
  if (!retry.empty()) e.retry_after = absl::Nanoseconds(std::strtoll(retry.c_str(), nullptr, 10));
  e.body.assign(text, pos);
  return e;
}

absl::Status ModelCooldownError(std::string_view model, std::string_view provider,
                                absl::Duration reset) {
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
  return Make(absl::StatusCode::kResourceExhausted, std::move(e));
}

absl::Status AuthNotFoundError(std::string_view message, std::span<const std::string_view> providers,
                               std::string_view model) {
  RoutingError e{"auth_not_found", std::string(message), 503, std::nullopt, {}};
  e.body = ServerErrorBody(e.code, e.message, providers, model);
  return Make(absl::StatusCode::kNotFound, std::move(e));
}

absl::Status AuthUnavailableError(std::span<const std::string_view> providers,
                                  std::string_view model) {
  RoutingError e{"auth_unavailable", "no auth available", 503, std::nullopt, {}};
  e.body = ServerErrorBody(e.code, e.message, providers, model);
  return Make(absl::StatusCode::kUnavailable, std::move(e));
}

absl::Status ProviderNotFoundError() {
  RoutingError e{"provider_not_found", "no provider supplied", 400, std::nullopt, {}};
  e.body = ServerErrorBody(e.code, e.message, {}, {});
  return Make(absl::StatusCode::kInvalidArgument, std::move(e));
}

absl::Status ExecutorNotFoundError(std::string_view provider) {
  RoutingError e{"executor_not_found", "executor not registered", 503, std::nullopt, {}};
  const std::string_view providers[] = {provider};
  e.body = ServerErrorBody(e.code, e.message, providers, {});
  return Make(absl::StatusCode::kFailedPrecondition, std::move(e));
}

}  // namespace v0
}  // namespace authrouter
