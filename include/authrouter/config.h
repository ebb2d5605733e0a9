// config.h -- the configuration file: the routing settings of the upstream proxy's config, as
// JSON with the upstream key names, and how a change is applied to a running Manager.
//
//   {
//     "auth-dir": "~/.cli-proxy-api",
//     "routing": {"strategy": "round-robin", "session-affinity": true,
//                 "session-affinity-ttl": "1h", "session-affinity-max-entries": 1000000},
//     "request-retry": 3, "max-retry-credentials": 0, "max-retry-interval": 30,
//     "disable-cooling": false, "transient-error-cooldown-seconds": 0,
//     "auth-auto-refresh-workers": 16,
//     "refresh-profiles": {"claude": {"token-url": "https://...", "client-id": "...",
//                                     "encoding": "json"}},
//     "model-catalog": {"claude": ["claude-*"], "codex": ["gpt-5*", "codex-*"]},
//     "oauth-excluded-models": {"claude": ["claude-3-*"]}
//   }
//
// docs/config.md describes every key (type, default, example, hot reload).
//
// Every key is optional; an absent key takes its default. Unknown keys are reported as warnings
// (a typo must not pass silently); a bad value, or a key given twice, rejects the whole file with
// the key's path.
#ifndef AUTHROUTER_CONFIG_H_
#define AUTHROUTER_CONFIG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "authrouter/manager.h"
#include "authrouter/refresh.h"
#include "authrouter/selector.h"
#include "authrouter/shared_state.h"

namespace authrouter {
inline namespace v0 {

// Config is a parsed configuration file.
struct Config {
  // `auth-dir`, resolved (ResolveAuthDir: empty means ~/.cli-proxy-api).
  std::string auth_dir;
  // `routing.strategy`: "round-robin" (default), "fill-first", "weighted-round-robin".
  RoutingStrategy strategy = RoutingStrategy::kRoundRobin;
  // `routing.session-affinity` (or the deprecated `routing.claude-code-session-affinity`).
  bool session_affinity = false;
  // `routing.session-affinity-ttl`: a duration ("30m", "1h"); default 1 h.
  absl::Duration session_affinity_ttl = absl::Hours(1);
  // `routing.session-affinity-max-entries`: the most bindings kept, 1..100,000,000; default
  // 1,000,000 (about 175 bytes plus the key each, session_cache.h).
  size_t session_affinity_max_entries = 1'000'000;
  // `routing.session-affinity-content`: whether the content-derived session source counts.
  bool session_affinity_content = true;
  // `routing.session-affinity-scope`: "model" (default) or "provider" (SessionScope).
  SessionScope session_affinity_scope = SessionScope::kModel;
  // `routing.session-affinity-content-identity`: "chain" (default) or "upstream" (ContentIdentity).
  ContentIdentity session_affinity_content_identity = ContentIdentity::kChain;
  // `routing.session-placement`: "rendezvous" (default) or "strategy" (SessionPlacement).
  SessionPlacement session_placement = SessionPlacement::kRendezvous;
  // `request-retry` (0..100; negative means 0), `max-retry-credentials` (negative means 0),
  // `max-retry-interval` (seconds, 0..3600).
  RetrySettings retry{};
  // `disable-cooling`.
  bool disable_cooling = false;
  // `transient-error-cooldown-seconds`: 0 = 60 s, > 0 seconds, < 0 none.
  int64_t transient_error_cooldown_seconds = 0;
  // `cooldowns`: capped hints, probes, max-ejection-percent and thresholds (health.h), with
  // `cooldowns.providers.<provider>` overriding the default keys it names.
  CooldownPolicies cooldowns{};
  // `leases`: concurrency limits and their leases (health.h).
  LeaseOptions leases{};
  // `auth-auto-refresh-workers`: 0 means 16; 1..1024.
  int refresh_workers = 16;
  // `refresh-profiles`: OAuth2 refresh profiles by provider (keys `token-url`, `client-id`,
  // `client-secret`, `scope`, `encoding`).
  std::map<std::string, OAuth2Profile, std::less<>> refresh_profiles;
  // `model-catalog` (provider -> model names and `*` globs its credentials serve unless they
  // name their own) and `oauth-excluded-models` (provider -> patterns none of them serve); see
  // models.h for how they combine with a credential's `models` and the host's registrations.
  ModelCatalog model_catalog{};
  // `shared-state.redis.*`: share cooldowns, bindings and disable/enable with the other replicas
  // over Redis (shared_state.h; `url`, `user`, `password`, `database`, `prefix`, `timeout`,
  // `min-backoff`, `max-backoff`, `queue-limit`, `health-ttl`). Unset: this replica decides
  // alone. Read at start only: a reload that changes it lists "shared-state" and changes nothing.
  std::optional<RedisOptions> redis;
  // `shared-state.lookup-timeout`: ManagerOptions::shared_lookup_timeout (0..1s); default 10 ms.
  absl::Duration shared_lookup_timeout = absl::Milliseconds(10);
  // `shared-state.refresh-lock-timeout`: ManagerOptions::shared_refresh_lock_timeout (1s..10m);
  // default 1 min. `shared-state.share-tokens`: ManagerOptions::shared_tokens; default false.
  // Both read at start only, like `shared-state.redis`.
  absl::Duration shared_refresh_lock_timeout = absl::Minutes(1);
  bool shared_tokens = false;
  // Unknown keys, as paths ("routing.stratgey"); NearestConfigKey suggests what was meant.
  std::vector<std::string> warnings;

  friend bool operator==(const Config&, const Config&) = default;
};

// ConfigParseOptions qualifies ParseConfig.
struct ConfigParseOptions {
  // The home directory for "~" in auth-dir. Default: $HOME.
  std::string home{};
};

// ParseConfig parses a configuration file's text. Returns InvalidArgumentError naming the key
// path ("routing.session-affinity-ttl: ...") for a malformed file or a bad value; the message
// never quotes `client-secret`.
[[nodiscard]] absl::StatusOr<Config> ParseConfig(std::string_view json,
                                                 const ConfigParseOptions& options = {});

// KnownConfigKeys lists every key path ParseConfig understands ("routing.strategy",
// "refresh-profiles.<provider>.token-url", ...), in the order docs/config.md lists them.
std::vector<std::string_view> KnownConfigKeys();

// NearestConfigKey returns the known key path closest to an unknown one (a typo such as
// "routing.stratgey"), or "" when none is close. Provider names in a path are matched as
// "<provider>".
std::string NearestConfigKey(std::string_view path);

// DescribeUnknownKey returns the diagnostic for an unknown key: `unknown config key
// "routing.stratgey" (did you mean "routing.strategy"?)`, or without the suggestion when none is
// close. What the logger hears for each of Config::warnings.
std::string DescribeUnknownKey(std::string_view path);

// ApplyToOptions sets the Manager options a configuration covers (for Manager::Create).
// `transport` is for the OAuth2 refresher of refresh_profiles (nullptr: libcurl). Returns the
// refresher construction error, if any.
[[nodiscard]] absl::Status ApplyToOptions(const Config& config, ManagerOptions& options,
                                          std::shared_ptr<Transport> transport = nullptr);

// ApplyConfig applies `next` to a running Manager, changing only what differs from `previous`
// (hot reload): the model catalog (Manager::SetModelCatalog: cooldowns of models still served
// stay), the strategy (rotations within each provider kept), session affinity (bindings
// kept when it stays on and only the TTL changed; a lower max-entries evicts the groups refreshed
// longest ago), retry settings (for new requests; no cooldown
// touched), cooling settings (for new results), refresh workers (the runner resizes) and refresh
// profiles (a provider with a refresher the host registered keeps it; profiles fill in the
// rest). Everything that can fail is checked first: an error means nothing was applied.
// Returns the names of the keys that changed. `auth-dir` is not applied here (the host reopens
// its store and watcher) but is listed when it changed.
[[nodiscard]] absl::StatusOr<std::vector<std::string>> ApplyConfig(
    Manager& manager, const Config& previous, const Config& next,
    std::shared_ptr<Transport> transport = nullptr);

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_CONFIG_H_
