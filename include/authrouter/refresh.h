// refresh.h -- keeping OAuth tokens fresh: the Refresher a host may supply, the built-in OAuth2
// refresh-token Refresher, and the scheduling rules of the refresh loop.
//
// The Manager runs the loop (manager.h: RunDueRefreshes, StartRefreshLoop, Refresh). This header
// holds what a host configures and the pure rules, so a host can also ask "when would this
// credential be refreshed?" without a Manager.
//
// Which Refresher serves a credential: RefreshOptions::refreshers by provider (trimmed,
// ASCII lower-cased), else RefreshOptions::default_refresher, else none (the credential is then
// re-checked every check interval, as upstream does for a provider without an executor).
#ifndef AUTHROUTER_REFRESH_H_
#define AUTHROUTER_REFRESH_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "authrouter/credential.h"
#include "authrouter/transport.h"

namespace authrouter {
inline namespace v0 {

// TokenUpdate is what a refresh produced: the token lifecycle fields, and nothing else. The
// Manager merges it into the credential's current metadata, so fields the host or
// the operator added to a credential (priority overrides, notes, project IDs) are never lost.
struct TokenUpdate {
  std::string access_token;                  // REQUIRED: non-empty
  std::optional<std::string> refresh_token;  // set when the endpoint rotated it
  std::optional<absl::Time> expires_at;      // when the new access token expires
  std::optional<std::string> id_token;
  std::optional<std::string> token_type;
};

// ApplyTokenUpdate returns `credential` with `update` merged into its metadata:
//   access_token, and refresh_token / id_token / token_type when the update has them, are set;
//   the expiry is written to every expiry key the metadata already has at top level (expired,
//   expire, expires_at, expiresAt, expiry, expires; a numeric key stays numeric, in the same
//   seconds or milliseconds), else to `expired` as RFC 3339, so the new expiry is the one read;
//   the last-refresh keys present (last_refresh, lastRefresh, last_refreshed_at,
//   lastRefreshedAt) are set to `now`.
// Every other member keeps its place and its exact text. Returns InvalidArgumentError when the
// access token is empty or a value is not valid UTF-8 (the message names the field only).
[[nodiscard]] absl::StatusOr<Credential> ApplyTokenUpdate(const Credential& credential,
                                                          const TokenUpdate& update,
                                                          absl::Time now);

// TokenUpdateToJson writes `update` as a JSON object: {"access_token": ..., "refresh_token":
// ..., "expires_at": "<RFC 3339>", "id_token": ..., "token_type": ...}, the members it has.
// The form refreshers of the C ABI return and replicas share (ManagerOptions::shared_tokens).
// The text holds secrets: never log it.
std::string TokenUpdateToJson(const TokenUpdate& update);

// TokenUpdateFromJson parses that form; "expires_in" (seconds from `now`) is read when
// "expires_at" is absent. Returns InvalidArgumentError (naming the problem, never a value) for
// anything but a JSON object with a non-empty access_token, or text over 1 MiB or not UTF-8.
[[nodiscard]] absl::StatusOr<TokenUpdate> TokenUpdateFromJson(std::string_view json, absl::Time now);

// RefreshContext accompanies one refresh call.
struct RefreshContext {
  // The call must end within this: the refresher passes it to its HTTP calls. It
  // is the Manager's refresh timeout, never the deadline of whichever request happened to ask.
  absl::Duration timeout = absl::Seconds(30);
  // The Manager's clock at the start of the call (for expires_in arithmetic).
  absl::Time now = absl::UnixEpoch();
  // Becomes true when the refresh loop stops; a refresher may then give up with CancelledError.
  const std::atomic<bool>* cancelled = nullptr;
};

// Refresher obtains fresh tokens for a credential.
//
// The status of a failed refresh decides what happens next:
//   UNAUTHENTICATED (or a message containing "status 401" / "401 unauthorized"): the refresh
//     token is dead. The credential's last_error becomes code
//     kDeadRefreshTokenCode (HTTP 401, not retryable), its status "error" with message
//     "unauthorized", `unavailable` is set, and the loop stops scheduling it until the error is
//     cleared (an Update without that error, or a successful Manager::Refresh). Upstream records
//     code "unauthorized" and also stops for a request's 401; here only a refresh can stop
//     refreshing, so an expired access token (a request 401) never does.
//   CANCELLED: nothing is recorded; the pending backoff (1 min) stands.
//   anything else: last_error records the message and the next try waits 5 min.
// Error messages must not contain tokens or client secrets: they are stored in last_error.
//
// Thread-safety: Refresh is called from refresh workers and request threads at once (never twice
// at once for one credential: refreshes are single-flight), outside every
// authrouter lock. It may call back into the Manager. It must not throw.
class Refresher {
 public:
  virtual ~Refresher() = default;
  virtual absl::StatusOr<TokenUpdate> Refresh(const Credential& credential,
                                              const RefreshContext& context) = 0;
};

// RefreshEvaluator replaces the built-in "when to refresh" rules for the credentials it claims,
// and may give a credential its own refresh lead (upstream's per-credential runtime hooks).
//
// Thread-safety: called from any thread WITH authrouter's internal locks held: it must be quick,
// must not block, and must not call back into the Manager. It must not throw.
class RefreshEvaluator {
 public:
  virtual ~RefreshEvaluator() = default;

  // Overrides reports whether ShouldRefresh decides for `credential`. Such a credential is
  // re-checked every check interval.
  virtual bool Overrides(const Credential& credential) const {
    (void)credential;
    return false;
  }
  // ShouldRefresh decides, for a credential it overrides, whether to refresh now. The disabled
  // and backoff gates still apply first.
  virtual bool ShouldRefresh(const Credential& credential, absl::Time now) const {
    (void)credential;
    (void)now;
    return false;
  }
  // RefreshLead returns a credential-specific refresh lead; a positive value takes precedence
  // over the provider's lead.
  virtual std::optional<absl::Duration> RefreshLead(const Credential& credential) const {
    (void)credential;
    return std::nullopt;
  }
};

// DefaultRefreshLeads returns upstream's provider refresh leads: codex 5 days, claude 4 h,
// antigravity 5 min, kimi 5 min. Gemini has none (refreshed only with a preferred interval).
std::map<std::string, absl::Duration, std::less<>> DefaultRefreshLeads();

// RefreshOptions configures token refresh (ManagerOptions::refresh).
struct RefreshOptions {
  // Refreshers by provider key (trimmed, ASCII lower-cased). Default: none.
  std::map<std::string, std::shared_ptr<Refresher>, std::less<>> refreshers{};
  // The refresher for providers without an entry above. Default: none.
  std::shared_ptr<Refresher> default_refresher{};
  // How long before expiry each provider refreshes (keys lower-cased; a non-positive value means
  // none). Default: DefaultRefreshLeads().
  std::map<std::string, absl::Duration, std::less<>> leads = DefaultRefreshLeads();
  // Per-credential overrides of the rules. Default: none.
  std::shared_ptr<RefreshEvaluator> evaluator{};
  // Background refresh workers (`auth-auto-refresh-workers`). REQUIRES: 1..1024. Default: 16.
  int workers = 16;
  // How often a credential without a better rule is looked at again. REQUIRES: > 0 and <= 24 h.
  // Default: 5 s.
  absl::Duration check_interval = absl::Seconds(5);
  // The bound on one refresh call. REQUIRES: > 0 and <= 10 min. Default: 30 s.
  absl::Duration timeout = absl::Seconds(30);
};

// ValidateRefreshOptions returns InvalidArgumentError naming the first out-of-range field, or a
// `refreshers` / `leads` key that is not a trimmed, lower-case provider name.
[[nodiscard]] absl::Status ValidateRefreshOptions(const RefreshOptions& options);

// RefreshEnabled reports whether `options` configure any refresher (the loop has work only then).
bool RefreshEnabled(const RefreshOptions& options);

// Backoffs of the refresh loop: pending (when a refresh is queued), failure (after a failed
// refresh), ineffective (after a successful refresh that left the credential still due).
inline constexpr absl::Duration kRefreshPendingBackoff = absl::Minutes(1);
inline constexpr absl::Duration kRefreshFailureBackoff = absl::Minutes(5);
inline constexpr absl::Duration kRefreshIneffectiveBackoff = absl::Seconds(30);

// RefreshLead returns the lead for `credential`: the evaluator's positive lead, else the
// provider's positive lead, else nullopt.
std::optional<absl::Duration> RefreshLead(const Credential& credential,
                                          const RefreshOptions& options);

// NextRefreshCheck returns when the loop next looks at `credential`, or nullopt when
// it is not scheduled at all: disabled, an API key, or holding a dead refresh token.
std::optional<absl::Time> NextRefreshCheck(const Credential& credential, absl::Time now,
                                           const RefreshOptions& options);

// ShouldRefresh reports whether `credential` is due for a refresh at `now`. Unlike
// upstream, the expiry rule compares against `now`, not the wall clock.
bool ShouldRefresh(const Credential& credential, absl::Time now, const RefreshOptions& options);

// kDeadRefreshTokenCode is the last_error code of a refresh rejected as unauthorized.
inline constexpr std::string_view kDeadRefreshTokenCode = "refresh_unauthorized";

// HasDeadRefreshToken reports whether a refresh failed as unauthorized and nothing cleared it
// since: last_error has code kDeadRefreshTokenCode.
bool HasDeadRefreshToken(const Credential& credential);

// ---- the built-in OAuth2 refresh-token refresher ---------------------------------------------

// OAuth2Encoding is how the token request body is encoded.
enum class OAuth2Encoding : uint8_t {
  kForm,  // application/x-www-form-urlencoded (RFC 6749)
  kJson,  // application/json (some providers, e.g. Claude)
};

// ParseOAuth2Encoding parses "form" or "json"; InvalidArgumentError otherwise.
[[nodiscard]] absl::StatusOr<OAuth2Encoding> ParseOAuth2Encoding(std::string_view name);

// OAuth2Profile says how to refresh a provider's tokens. authrouter ships no client IDs or
// secrets: they come from configuration or from the credential's own metadata.
struct OAuth2Profile {
  std::string token_url;      // the token endpoint (http or https)
  std::string client_id;      // sent when non-empty
  std::string client_secret;  // sent when non-empty
  std::string scope;          // sent when non-empty
  OAuth2Encoding encoding = OAuth2Encoding::kForm;

  friend bool operator==(const OAuth2Profile&, const OAuth2Profile&) = default;
};

// OAuth2RefresherOptions configures NewOAuth2Refresher.
struct OAuth2RefresherOptions {
  // The transport. Default: NewCurlTransport().
  std::shared_ptr<Transport> transport{};
  // Profiles by provider key (trimmed, ASCII lower-cased).
  std::map<std::string, OAuth2Profile, std::less<>> profiles{};
};

// NewOAuth2Refresher returns a Refresher that runs the OAuth2 refresh-token grant (RFC 6749
// section 6).
//
// For a credential it takes the profile of its provider and lets the credential's top-level
// metadata override it: `token_url` (or `token_uri`), `client_id`, `client_secret`, `scope`,
// `token_encoding` ("form"/"json"). The refresh token is metadata `refresh_token`. It POSTs
// grant_type=refresh_token through the credential's proxy_url with RefreshContext::timeout and
// reads `access_token` (required), a rotated `refresh_token`, `expires_in` (seconds) or
// `expires_at`, `id_token` and `token_type` from a 2xx JSON answer.
//
// A credential whose metadata names its own token endpoint is sent no configured client_secret
// (only its own), and that endpoint must be https (http only to the loopback interface).
//
// Failures: no token endpoint or no refresh token -> FAILED_PRECONDITION; 400 with error
// "invalid_grant" and 401 -> UNAUTHENTICATED (the token is dead), except "invalid_client" /
// "unauthorized_client" -> FAILED_PRECONDITION (a configuration error); 429 -> RESOURCE_EXHAUSTED;
// 5xx -> UNAVAILABLE; other statuses -> FAILED_PRECONDITION; a timeout -> DEADLINE_EXCEEDED;
// RefreshContext::cancelled -> CANCELLED;
// transport failures as the Transport reports them; a 2xx answer without an access token ->
// UNAVAILABLE. Messages give the status and the OAuth `error` code, never tokens or secrets.
[[nodiscard]] absl::StatusOr<std::shared_ptr<Refresher>> NewOAuth2Refresher(
    OAuth2RefresherOptions options);

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_REFRESH_H_
