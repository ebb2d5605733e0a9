// The built-in OAuth2 refresh-token refresher (RFC 6749 §6).
#include <cmath>

#include "authrouter/refresh.h"
#include "authrouter/values.h"
#include "internal/json_values.h"
#include "internal/json_writer.h"
#include "internal/strings.h"
#include "simdjson.h"
#include "transport/token_url.h"

namespace authrouter {
inline namespace v0 {

absl::StatusOr<OAuth2Encoding> ParseOAuth2Encoding(std::string_view name) {
  const std::string key = internal::AsciiLower(TrimSpace(name));
  if (key == "form") return OAuth2Encoding::kForm;
  if (key == "json") return OAuth2Encoding::kJson;
  return absl::InvalidArgumentError("token encoding must be \"form\" or \"json\"");
}

namespace {

void AppendFormEscaped(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      out->push_back(static_cast<char>(c));
    } else if (c == ' ') {
      out->push_back('+');
    } else {
      out->push_back('%');
      out->push_back(kHex[c >> 4]);
      out->push_back(kHex[c & 15]);
    }
  }
}

// OAuthErrorCode returns the `error` member of an OAuth error answer when it is one of the
// registered codes (RFC 6749 §5.2, RFC 6750, RFC 8628); anything else is not repeated, since an
// endpoint could echo a token there.
std::string OAuthErrorCode(std::string_view body) {
  static constexpr std::string_view kKnown[] = {
      "invalid_request", "invalid_client",   "invalid_grant",        "unauthorized_client",
      "unsupported_grant_type", "invalid_scope", "access_denied",   "server_error",
      "temporarily_unavailable", "invalid_token", "insufficient_scope", "slow_down",
      "expired_token",   "authorization_pending"};
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(body.data(), body.size()).get(root)) return {};
  std::string_view code;
  if (root["error"].get_string().get(code)) return {};
  for (std::string_view known : kKnown) {
    if (code == known) return std::string(code);
  }
  return {};
}

class OAuth2Refresher final : public Refresher {
 public:
  explicit OAuth2Refresher(OAuth2RefresherOptions options) : options_(std::move(options)) {}

  absl::StatusOr<TokenUpdate> Refresh(const Credential& credential,
                                      const RefreshContext& context) override {
    OAuth2Profile profile;
    const std::string provider = internal::ProviderKey(credential.provider);
    if (auto it = options_.profiles.find(provider); it != options_.profiles.end()) {
      profile = it->second;
    }
    const Metadata& md = credential.metadata;
    auto override_with = [&](std::string* field, std::string_view key) {
      if (std::optional<std::string> v = md.GetString(key); v && !TrimSpace(*v).empty()) {
        *field = std::string(TrimSpace(*v));
        return true;
      }
      return false;
    };
    const std::string profile_url = profile.token_url;
    if (!override_with(&profile.token_url, "token_url")) {
      override_with(&profile.token_url, "token_uri");
    }
    if (profile.token_url != profile_url) {
      // A credential file naming its own endpoint never receives the configured secret, and
      // must use https (plain http only to the loopback interface).
      profile.client_secret.clear();
      if (absl::Status u = internal::CheckTokenUrl(profile.token_url); !u.ok()) {
        return absl::FailedPreconditionError(internal::Cat("metadata token_url: ", internal::ToStd(u.message())));
      }
    }
    override_with(&profile.client_id, "client_id");
    override_with(&profile.client_secret, "client_secret");
    override_with(&profile.scope, "scope");
    if (std::string encoding; override_with(&encoding, "token_encoding")) {
      absl::StatusOr<OAuth2Encoding> e = ParseOAuth2Encoding(encoding);
      if (!e.ok()) return absl::FailedPreconditionError("metadata token_encoding must be \"form\" or \"json\"");
      profile.encoding = *e;
    }
    if (profile.token_url.empty()) {
      return absl::FailedPreconditionError(
          internal::Cat("no token endpoint for provider \"", provider, "\""));
    }
    const std::optional<std::string> refresh_token = md.GetString("refresh_token");
    if (!refresh_token || refresh_token->empty()) {
      return absl::FailedPreconditionError("the credential has no refresh_token");
    }

    HttpRequest request;
    request.method = "POST";
    request.url = profile.token_url;
    request.timeout = context.timeout;
    request.proxy_url = credential.proxy_url;
    request.cancelled = context.cancelled;
    request.headers.emplace_back("Accept", "application/json");
    const std::pair<std::string_view, std::string_view> fields[] = {
        {"grant_type", "refresh_token"},
        {"refresh_token", *refresh_token},
        {"client_id", profile.client_id},
        {"client_secret", profile.client_secret},
        {"scope", profile.scope},
    };
    if (profile.encoding == OAuth2Encoding::kForm) {
      request.headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
      for (const auto& [k, v] : fields) {
        if (v.empty()) continue;
        if (!request.body.empty()) request.body += '&';
        AppendFormEscaped(&request.body, k);
        request.body += '=';
        AppendFormEscaped(&request.body, v);
      }
    } else {
      request.headers.emplace_back("Content-Type", "application/json");
      internal::JsonWriter w(&request.body);
      w.BeginObject();
      for (const auto& [k, v] : fields) {
        if (v.empty()) continue;
        w.Key(k);
        w.String(v);
      }
      w.EndObject();
    }

    absl::StatusOr<HttpResponse> response = options_.transport->Send(request);
    if (!response.ok()) {
      return absl::Status(response.status().code(),
                          internal::Cat("token refresh: ", internal::ToStd(response.status().message())));
    }
    const int status = response->status;
    if (status < 200 || status > 299) {
      const std::string code = OAuthErrorCode(response->body);
      std::string what = internal::Cat("token refresh: status ", status);
      if (!code.empty()) internal::Append(&what, " (", code, ")");
      // A rejected client (invalid_client, unauthorized_client) is a configuration problem, not
      // a dead refresh token: it must not mark every credential of the provider dead (D2).
      if (code == "invalid_client" || code == "unauthorized_client") {
        return absl::FailedPreconditionError(what);
      }
      if (status == 401 || (status == 400 && code == "invalid_grant")) {
        return absl::UnauthenticatedError(what);
      }
      if (status == 429) return absl::ResourceExhaustedError(what);
      if (status >= 500) return absl::UnavailableError(what);
      return absl::FailedPreconditionError(what);
    }
    return ParseTokenResponse(response->body, context.now);
  }

 private:
  static absl::StatusOr<TokenUpdate> ParseTokenResponse(std::string_view body, absl::Time now) {
    simdjson::dom::parser parser;
    simdjson::dom::object root;
    if (parser.parse(body.data(), body.size()).get_object().get(root)) {
      return absl::UnavailableError("token refresh: the answer is not a JSON object");
    }
    TokenUpdate update;
    std::string_view s;
    if (root["access_token"].get_string().get(s) || s.empty()) {
      return absl::UnavailableError("token refresh: the answer has no access_token");
    }
    update.access_token = std::string(s);
    if (!root["refresh_token"].get_string().get(s) && !s.empty()) {
      update.refresh_token = std::string(s);
    }
    if (!root["id_token"].get_string().get(s) && !s.empty()) update.id_token = std::string(s);
    if (!root["token_type"].get_string().get(s) && !s.empty()) update.token_type = std::string(s);
    simdjson::dom::element e;
    if (!root["expires_in"].get(e)) {
      std::optional<int64_t> seconds = internal::IntFromJson(e);
      if (seconds && *seconds > 0 && *seconds <= int64_t{10} * 365 * 24 * 3600) {
        update.expires_at = now + absl::Seconds(*seconds);
      }
    }
    if (!update.expires_at && !root["expires_at"].get(e)) {
      if (std::optional<absl::Time> t = internal::TimeFromJson(e); t && !IsZeroTime(*t)) {
        update.expires_at = *t;
      }
    }
    return update;
  }

  const OAuth2RefresherOptions options_;
};

}  // namespace

absl::StatusOr<std::shared_ptr<Refresher>> NewOAuth2Refresher(OAuth2RefresherOptions options) {
  for (const auto& [provider, profile] : options.profiles) {
    if (provider != internal::ProviderKey(provider) || provider.empty()) {
      return absl::InvalidArgumentError(
          internal::Cat("OAuth2 profile key \"", provider, "\" must be a lower-case provider"));
    }
    if (absl::Status u = internal::CheckTokenUrl(profile.token_url);
        !profile.token_url.empty() && !u.ok()) {
      return absl::InvalidArgumentError(internal::Cat(
          "OAuth2 profile \"", provider, "\": token_url: ", internal::ToStd(u.message())));
    }
  }
  if (!options.transport) {
    absl::StatusOr<std::shared_ptr<Transport>> transport = NewCurlTransport();
    if (!transport.ok()) return transport.status();
    options.transport = *std::move(transport);
  }
  return std::make_shared<OAuth2Refresher>(std::move(options));
}

}  // namespace v0
}  // namespace authrouter
