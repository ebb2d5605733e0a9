// Callback adapters (callbacks.h): the parts that parse what a host callback wrote.
#include "capi/callbacks.h"

#include "authrouter/credential_json.h"
#include "authrouter/values.h"
#include "internal/json_object.h"
#include "simdjson.h"

namespace authrouter::capi {

namespace internal_json = authrouter::internal;

absl::StatusOr<std::vector<ar::Credential>> CStore::ListReporting(std::vector<ar::StoreSkip>* skipped) {
  if (s_.list == nullptr) return absl::FailedPreconditionError("the store has no list callback");
  authrouter_sink sink;
  if (const int32_t rc = s_.list(owner_.user_data(), &sink); rc != 0) return CallbackFailed("store list", rc);
  if (sink.overflow) return CallbackFailed("store list (a write to the sink failed)", AUTHROUTER_RESOURCE_EXHAUSTED);
  // Validate the whole text first; then walk the elements' exact text.
  simdjson::dom::parser parser;
  simdjson::dom::array array;
  if (parser.parse(sink.data).get_array().get(array)) {
    return absl::InvalidArgumentError("store list: not a JSON array of credential records");
  }
  std::vector<ar::Credential> out;
  size_t index = 0;
  internal_json::ForEachElement(sink.data, [&](std::string_view raw) {
    absl::StatusOr<ar::Credential> c = ar::CredentialFromJson(raw);
    if (c.ok()) {
      out.push_back(*std::move(c));
    } else if (skipped != nullptr) {
      skipped->push_back(ar::StoreSkip{"record " + std::to_string(index), std::string(c.status().message())});
    }
    ++index;
  });
  return out;
}

absl::StatusOr<ar::TokenUpdate> ParseTokenJson(std::string_view json, absl::Time now) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(json.data(), json.size()).get_object().get(o)) {
    return absl::UnavailableError("refresher callback: the tokens are not a JSON object");
  }
  ar::TokenUpdate u;
  std::string_view s;
  if (o["access_token"].get_string().get(s) || s.empty()) {
    return absl::UnavailableError("refresher callback: no access_token");
  }
  u.access_token = std::string(s);
  if (!o["refresh_token"].get_string().get(s) && !s.empty()) u.refresh_token = std::string(s);
  if (!o["id_token"].get_string().get(s) && !s.empty()) u.id_token = std::string(s);
  if (!o["token_type"].get_string().get(s) && !s.empty()) u.token_type = std::string(s);
  if (!o["expires_at"].get_string().get(s)) {
    if (std::optional<absl::Time> t = ar::ParseTimeString(s)) u.expires_at = *t;
  }
  int64_t seconds = 0;
  if (!u.expires_at && !o["expires_in"].get_int64().get(seconds) && seconds > 0 &&
      seconds < int64_t{10} * 365 * 24 * 3600) {
    u.expires_at = now + absl::Seconds(seconds);
  }
  return u;
}

}  // namespace authrouter::capi
