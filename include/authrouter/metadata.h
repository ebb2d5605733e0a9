// metadata.h -- a credential's provider metadata: a JSON object kept verbatim, plus the typed
// fields authrouter reads from it.
//
// For a file credential the metadata is the whole auth file (tokens, e-mail, expiry, per-file
// overrides). authrouter keeps the exact text it was given, so a credential written back to
// storage carries every field the host put there, byte for byte, including fields authrouter
// does not know. The typed fields (expiry, refresh interval, overrides) are parsed once, when the
// Metadata is built, with upstream's keys and value rules (values.h).
//
// IMPORTANT: metadata usually holds secrets (access and refresh tokens). Nothing in authrouter
// writes metadata values into logs or error messages; error messages name keys only.
#ifndef AUTHROUTER_METADATA_H_
#define AUTHROUTER_METADATA_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace authrouter {
inline namespace v0 {

// kMaxInFlight is the largest concurrency limit a credential may set (health.h).
inline constexpr int64_t kMaxInFlight = 1000;

// Metadata is an immutable, validated JSON object. A default-constructed Metadata is the empty
// object. Copyable; safe to read from several threads at once.
class Metadata {
 public:
  // kMaxBytes is the largest metadata text Parse accepts (4 MiB).
  static constexpr size_t kMaxBytes = size_t{4} << 20;

  Metadata() = default;

  // Parse validates `json` as one JSON object (strict RFC 8259, valid UTF-8, depth <= 1024, at
  // most kMaxBytes) and extracts the typed fields. An object with no members is the empty
  // Metadata. Among duplicate keys the last one wins, as in Go.
  //
  // Returns InvalidArgumentError when the text is not a JSON object or when `weight` is present
  // but invalid (not an integer, or above 1,000,000); the message names the key, never a value.
  [[nodiscard]] static absl::StatusOr<Metadata> Parse(std::string_view json);

  // json returns the verbatim text ("" for the empty object).
  std::string_view json() const { return json_; }
  bool empty() const { return json_.empty(); }

  // expiry returns the token expiry (keys expired, expire, expires_at, expiresAt,
  // expiry, expires; then nested `token` / `Token`, recursively). A key whose value parses stops
  // the search, even when it parses to the zero time; this function then returns nullopt, as
  // upstream callers treat "found but zero" like "no expiry" (kept: see the tests).
  std::optional<absl::Time> expiry() const { return expiry_; }

  // refresh_interval returns the first positive duration among refresh_interval_seconds,
  // refreshIntervalSeconds, refresh_interval, refreshInterval; zero when none.
  absl::Duration refresh_interval() const { return refresh_interval_; }

  // last_refresh returns the first parsable time among last_refresh, lastRefresh,
  // last_refreshed_at, lastRefreshedAt.
  std::optional<absl::Time> last_refresh() const { return last_refresh_; }

  // disable_cooling returns the per-credential override from disable_cooling, then
  // disable-cooling (a present but unparsable first key falls through to the second).
  std::optional<bool> disable_cooling() const { return disable_cooling_; }

  // request_retry returns the per-credential override from request_retry, then request-retry.
  // A negative value means "unset, inherit the global value" (older upstream versions clamped it
  // to 0, disabling retries).
  std::optional<int64_t> request_retry() const { return request_retry_; }

  // tool_prefix_disabled returns tool_prefix_disabled, then tool-prefix-disabled.
  std::optional<bool> tool_prefix_disabled() const { return tool_prefix_disabled_; }

  // websockets returns the metadata websocket switch: a bool, or a string parsed with
  // ParseGoBool after trimming; anything else is false.
  bool websockets() const { return websockets_; }

  // weight returns the normalised `weight` when present (<= 0 becomes 0, which excludes the
  // credential from weighted routing).
  std::optional<int64_t> weight() const { return weight_; }

  // max_in_flight and max_in_flight_per_model return the concurrency limits (health.h) when
  // present: integers 0..kMaxInFlight, 0 meaning unlimited; anything else is rejected by Parse.
  std::optional<int64_t> max_in_flight() const { return max_in_flight_; }
  std::optional<int64_t> max_in_flight_per_model() const { return max_in_flight_per_model_; }

  // email and project_id return the trimmed string values ("" when absent or not strings).
  const std::string& email() const { return email_; }
  const std::string& project_id() const { return project_id_; }

  // type returns the `type` string ("" when absent or not a string): the provider of a file
  // credential.
  const std::string& type() const { return type_; }

  // GetString returns the string value of the top-level `key`, or nullopt when it is absent or
  // not a string. Parses on each call: not for hot paths.
  std::optional<std::string> GetString(std::string_view key) const;

  // Two Metadata are equal when their texts are equal.
  friend bool operator==(const Metadata& a, const Metadata& b) { return a.json_ == b.json_; }

 private:
  std::string json_;
  std::optional<absl::Time> expiry_;
  absl::Duration refresh_interval_ = absl::ZeroDuration();
  std::optional<absl::Time> last_refresh_;
  std::optional<bool> disable_cooling_;
  std::optional<int64_t> request_retry_;
  std::optional<bool> tool_prefix_disabled_;
  bool websockets_ = false;
  std::optional<int64_t> weight_;
  std::optional<int64_t> max_in_flight_;
  std::optional<int64_t> max_in_flight_per_model_;
  std::string email_;
  std::string project_id_;
  std::string type_;
};

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_METADATA_H_
