// credential.h -- the credential record: one upstream OAuth account or API key, its
// configuration, and its health per model.
//
// A Credential is a value. The manager publishes each version of a credential as an immutable
// snapshot, `std::shared_ptr<const Credential>`; a change produces a new snapshot, so a reader
// holding one never sees it move. Build and edit a Credential freely before handing it over.
//
// The fields and their meaning follow the upstream Go `Auth` record. The persisted JSON form is in
// credential_json.h.
#ifndef AUTHROUTER_CREDENTIAL_H_
#define AUTHROUTER_CREDENTIAL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "authrouter/metadata.h"
#include "authrouter/values.h"

namespace authrouter {
inline namespace v0 {

// CredentialStatus is the lifecycle status of a credential or of one of its models.
enum class CredentialStatus : uint8_t {
  kUnknown = 0,     // "unknown": could not be determined
  kActive = 1,      // "active": usable
  kPending = 2,     // "pending": waiting on an external action
  kRefreshing = 3,  // "refreshing": refresh in progress
  kError = 4,       // "error": recent failure; does not by itself block selection
  kDisabled = 5,    // "disabled": blocks selection
};

// CredentialStatusName returns the JSON spelling ("active", ...).
std::string_view CredentialStatusName(CredentialStatus status);

// ParseCredentialStatus parses the JSON spelling. The empty string is kUnknown (Go writes "" for
// a record whose status was never set). Returns InvalidArgumentError for any other string.
[[nodiscard]] absl::StatusOr<CredentialStatus> ParseCredentialStatus(std::string_view name);

// QuotaState is the quota (HTTP 429) state of a credential or of one model.
struct QuotaState {
  bool exceeded = false;                 // recently hit a quota error
  std::string reason;                    // "quota" in all upstream paths
  absl::Time next_recover_at = ZeroTime();  // when the quota is expected to recover
  int32_t backoff_level = 0;             // exponent of the progressive 429 backoff

  friend bool operator==(const QuotaState&, const QuotaState&) = default;
};

// ErrorRecord is the last failure recorded on a credential or model.
struct ErrorRecord {
  std::string code;          // machine code, may be empty
  std::string message;
  // Whether the same request may succeed later. Manager::MarkResult derives it (upstream stores
  // the flag its executor reported; hosts report no such flag here): true for 429, 408, 500,
  // 502, 503, 504 and for status 0 (no upstream answer), false for every other status.
  bool retryable = false;
  int32_t http_status = 0;   // 0 when unknown

  // ToString returns "<code>: <message>", or just the message when the code is empty.
  std::string ToString() const;

  friend bool operator==(const ErrorRecord&, const ErrorRecord&) = default;
};

// ModelState is a credential's runtime state for one model. A model is blocked for retries only
// while `unavailable` is set and `next_retry_after` is in the future; kDisabled blocks it until
// changed.
struct ModelState {
  CredentialStatus status = CredentialStatus::kActive;
  std::string status_message;
  bool unavailable = false;
  absl::Time next_retry_after = ZeroTime();
  std::optional<ErrorRecord> last_error;
  QuotaState quota;
  absl::Time updated_at = ZeroTime();
  // Failures in a row of the last error's class (CooldownPolicy's consecutive_* thresholds,
  // health.h); 0 after a success. Runtime only: not persisted.
  int32_t failure_streak = 0;

  friend bool operator==(const ModelState&, const ModelState&) = default;
};

// AccountInfo says what kind of account a credential is (see Credential::GetAccountInfo).
struct AccountInfo {
  std::string kind;   // "oauth", "api_key" or ""
  std::string value;  // e-mail (with project for gemini-cli) or the API key itself
};

// Credential is one upstream credential.
//
// Thread-safety: a Credential is a plain value. Concurrent reads are safe; a published snapshot
// (`std::shared_ptr<const Credential>`) is never written again.
struct Credential {
  // The string map used for attributes and model states: ordered (so the JSON form is
  // deterministic, as Go writes maps) and with heterogeneous lookup.
  template <typename V>
  using Map = std::map<std::string, V, std::less<>>;

  std::string id;          // unique and stable across restarts
  std::string provider;    // "gemini", "claude", "codex", ... compared lower-cased by routing
  std::string prefix;      // optional model namespace
  std::string file_name;   // backing file, set by a file store; not persisted in the JSON form
  std::string label;
  CredentialStatus status = CredentialStatus::kUnknown;
  std::string status_message;
  bool disabled = false;     // operator-disabled: never picked
  bool unavailable = false;  // aggregated transient unavailability
  std::string proxy_url;
  Map<std::string> attributes;  // immutable configuration (priority, weight, api_key, ...)
  Metadata metadata;            // provider state: tokens, e-mail, expiry, overrides
  QuotaState quota;
  std::optional<ErrorRecord> last_error;
  absl::Time created_at = ZeroTime();
  absl::Time updated_at = ZeroTime();
  absl::Time last_refreshed_at = ZeroTime();
  absl::Time next_refresh_after = ZeroTime();
  absl::Time next_retry_after = ZeroTime();
  Map<ModelState> model_states;  // keyed by canonical model key
  // Model-less failures in a row of the last error's class (ModelState::failure_streak).
  // Runtime only: not persisted.
  int32_t failure_streak = 0;

  // The stable index (ComputeStableIndex of IndexSeed()): 16 hex characters, computed once and
  // then sticky. Runtime only; not persisted.
  std::string index;
  bool index_assigned = false;

  // Attribute returns the attribute `key`, or "" when absent.
  std::string_view Attribute(std::string_view key) const;

  // Priority returns the priority tier from the `priority` attribute: a trimmed, strict base-10
  // integer; anything else (including "10.0") is 0. Higher is preferred; negative is allowed.
  int64_t Priority() const;

  // Weight returns the weighted-round-robin weight: the `weight` attribute when present and not
  // blank, else metadata `weight`, else 1. A weight <= 0 is 0 and excludes the credential from
  // weighted routing; an invalid weight (rejected by Validate) also reads as 0.
  int64_t Weight() const;

  // MaxInFlight and MaxInFlightPerModel return the concurrency limits (health.h): the
  // `max_in_flight` / `max_in_flight_per_model` attribute when present and not blank, else the
  // metadata key; nullopt when neither sets one (the LeaseOptions default applies). 0 means
  // unlimited. An invalid attribute (rejected by Validate) reads as nullopt.
  std::optional<int64_t> MaxInFlight() const;
  std::optional<int64_t> MaxInFlightPerModel() const;
  // WebsocketsEnabled: the `websockets` attribute when it parses as a bool, else metadata.
  bool WebsocketsEnabled() const;

  // VirtualParent returns the trimmed `gemini_virtual_parent` attribute ("" = none).
  std::string_view VirtualParent() const;

  // IsDisabled reports whether the credential is disabled: the flag, or status "disabled" (a
  // record loaded with either never routes, refreshes or inherits runtime state).
  bool IsDisabled() const { return disabled || status == CredentialStatus::kDisabled; }

  // RuntimeOnly reports whether the `runtime_only` attribute is "true" (trimmed, any case).
  // Runtime-only credentials are never persisted.
  bool RuntimeOnly() const;

  // DisableCooling returns the per-credential override when metadata sets one, else `global`.
  bool DisableCooling(bool global) const;

  // RequestRetry returns the per-credential override when metadata sets a non-negative one, else
  // `global` (a negative override means unset).
  int64_t RequestRetry(int64_t global) const;

  // PreferredRefreshInterval: metadata keys first, then the same keys as attributes (string
  // rule only); zero when none.
  absl::Duration PreferredRefreshInterval() const;

  // LastRefreshTime: last_refreshed_at when set, else metadata, else attributes; nullopt when
  // none parses.
  std::optional<absl::Time> LastRefreshTime() const;

  // Expiry returns the token expiry from metadata, if any (see Metadata::expiry).
  std::optional<absl::Time> Expiry() const { return metadata.expiry(); }

  // GetAccountInfo returns the account kind and value: "oauth" with the metadata e-mail when there
  // is one, else "api_key" with the `api_key` attribute when set, else both empty. A credential is
  // of API-key kind only when it has no e-mail.
  AccountInfo GetAccountInfo() const;

  // IsApiKey reports whether GetAccountInfo().kind is "api_key".
  bool IsApiKey() const;

  // IndexSeed returns the seed of the stable index: "file:<file_name>", else a "config:" seed
  // from the provider and its compat name, base URL, proxy, API key and source (when any of
  // those is set), else "id:<id>"; "" when there is none.
  std::string IndexSeed() const;

  // EnsureIndex assigns `index` from IndexSeed() unless one is already assigned, and returns it.
  const std::string& EnsureIndex();

  // Validate checks what a credential must satisfy before authrouter stores it: every string is
  // valid UTF-8, a `weight` attribute is an integer <= 1,000,000, a
  // `backoff_level` is >= 0, and every time lies in years 0000..9999 (the persisted form).
  // Returns InvalidArgumentError naming the first offending field; never a value.
  [[nodiscard]] absl::Status Validate() const;

  friend bool operator==(const Credential&, const Credential&) = default;
};

// ComputeStableIndex returns the 16-hex-character index of a seed: lowercase hex of the first 8
// bytes of SHA-256(trimmed seed). "" for an empty seed.
std::string ComputeStableIndex(std::string_view seed);

// ParseWeight parses a weight attribute: trimmed; "" is the default 1; a base-10 integer <= 0
// is 0; above 1,000,000 or not an integer is InvalidArgumentError.
[[nodiscard]] absl::StatusOr<int64_t> ParseWeight(std::string_view raw);

// kMaxWeight is the largest accepted credential weight.
inline constexpr int64_t kMaxWeight = 1'000'000;

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_CREDENTIAL_H_
