// The configuration file (spec 06 §10 and later fixes C3, E3).
#include "authrouter/config.h"

#include <algorithm>
#include <optional>
#include <set>

#include "authrouter/file_store.h"
#include "authrouter/session_cache.h"
#include "authrouter/models.h"
#include "authrouter/values.h"
#include "internal/json_values.h"
#include "internal/strings.h"
#include "manager/manager_access.h"
#include "simdjson.h"
#include "transport/token_url.h"

namespace authrouter {
inline namespace v0 {
namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

absl::Status Bad(std::string_view path, std::string_view why) {
  return absl::InvalidArgumentError(internal::Cat(path, ": ", why));
}

absl::StatusOr<bool> GetBool(element e, std::string_view path) {
  bool b = false;
  if (e.get_bool().get(b)) return Bad(path, "must be true or false");
  return b;
}

absl::StatusOr<int64_t> GetInt(element e, std::string_view path) {
  if (e.is_int64()) return int64_t(e.get_int64());
  if (e.is_uint64()) return Bad(path, "out of range");
  double d = 0;
  if (e.get_double().get(d)) return Bad(path, "must be an integer");
  if (!(d >= -9.0e18 && d <= 9.0e18)) return Bad(path, "out of range");
  if (d != static_cast<double>(static_cast<int64_t>(d))) return Bad(path, "must be an integer");
  return static_cast<int64_t>(d);
}

absl::StatusOr<std::string> GetString(element e, std::string_view path) {
  std::string_view s;
  if (e.get_string().get(s)) return Bad(path, "must be a string");
  return std::string(s);
}

// GetChoice reads a string naming one of two values (trimmed), into *out.
template <typename E>
absl::Status GetChoice(element e, std::string_view path, std::string_view a, E a_value,
                       std::string_view b, E b_value, E* out) {
  absl::StatusOr<std::string> s = GetString(e, path);
  if (!s.ok()) return s.status();
  const std::string_view name = TrimSpace(*s);
  if (name == a) {
    *out = a_value;
  } else if (name == b) {
    *out = b_value;
  } else {
    return Bad(path, internal::Cat("must be \"", a, "\" or \"", b, "\""));
  }
  return absl::OkStatus();
}

std::optional<std::string> Duplicate(object o);

// GetDurationString reads a Go duration string ("5m", "6h") between `lo` and `hi` (or exactly
// zero when `zero_ok`).
absl::StatusOr<absl::Duration> GetDurationString(element e, std::string_view path, absl::Duration lo,
                                                 absl::Duration hi, bool zero_ok, std::string_view range) {
  std::string_view s;
  if (e.get_string().get(s)) return Bad(path, internal::Cat("must be a duration string ", range));
  absl::StatusOr<absl::Duration> d = ParseGoDuration(TrimSpace(s));
  if (!d.ok() || ((*d < lo || *d > hi) && !(zero_ok && *d == absl::ZeroDuration()))) {
    return Bad(path, internal::Cat("must be a duration ", range));
  }
  return *d;
}

// ParsePolicyKey applies one cooldown-policy key to `p`; false when the key is not one.
absl::StatusOr<bool> ParsePolicyKey(std::string_view key, element v, const std::string& path,
                                    CooldownPolicy* p) {
  constexpr absl::Duration kMonth = absl::Hours(24 * 30);
  if (key == "max-cooldown") {
    absl::StatusOr<absl::Duration> d =
        GetDurationString(v, path, absl::Seconds(1), kMonth, false, "between 1s and 720h, like \"6h\"");
    if (!d.ok()) return d.status();
    p->max_cooldown = *d;
  } else if (key == "probe-interval") {
    absl::StatusOr<absl::Duration> d = GetDurationString(
        v, path, absl::Seconds(1), kMonth, true, "of 0 (no probes) or between 1s and 720h, like \"5m\"");
    if (!d.ok()) return d.status();
    p->probe_interval = *d;
  } else if (key == "probe-when-exhausted") {
    absl::StatusOr<bool> b = GetBool(v, path);
    if (!b.ok()) return b.status();
    p->probe_when_exhausted = *b;
  } else if (key == "max-ejection-percent") {
    absl::StatusOr<int64_t> n = GetInt(v, path);
    if (!n.ok()) return n.status();
    if (*n < 0 || *n > 100) return Bad(path, "must be an integer between 0 and 100");
    p->max_ejection_percent = static_cast<int>(*n);
  } else if (key == "consecutive-auth-failures" || key == "consecutive-not-found-failures" ||
             key == "consecutive-transient-failures") {
    absl::StatusOr<int64_t> n = GetInt(v, path);
    if (!n.ok()) return n.status();
    if (*n < 1 || *n > 1000) return Bad(path, "must be an integer between 1 and 1000");
    (key == "consecutive-auth-failures"        ? p->consecutive_auth_failures
     : key == "consecutive-not-found-failures" ? p->consecutive_not_found_failures
                                               : p->consecutive_transient_failures) = static_cast<int>(*n);
  } else {
    return false;
  }
  return true;
}

// ParseCooldowns reads `cooldowns`: the default policy's keys, then `providers`, each starting
// from that default.
absl::Status ParseCooldowns(element v, Config* c) {
  object o;
  if (v.get_object().get(o)) return Bad("cooldowns", "must be an object");
  if (auto dup = Duplicate(o)) return Bad(internal::Cat("cooldowns.", *dup), "appears twice");
  const element* providers = nullptr;
  element providers_value;
  for (auto f : o) {
    const std::string path = internal::Cat("cooldowns.", f.key);
    if (f.key == "providers") {
      providers_value = f.value;
      providers = &providers_value;
      continue;
    }
    absl::StatusOr<bool> known = ParsePolicyKey(f.key, f.value, path, &c->cooldowns.defaults);
    if (!known.ok()) return known.status();
    if (!*known) c->warnings.push_back(path);
  }
  if (providers == nullptr) return absl::OkStatus();
  object po;
  if (providers->get_object().get(po)) return Bad("cooldowns.providers", "must be an object");
  std::set<std::string> seen;
  for (auto pf : po) {
    const std::string provider = internal::ProviderKey(pf.key);
    const std::string base = internal::Cat("cooldowns.providers.", pf.key);
    if (provider.empty()) return Bad(base, "a provider name must not be blank");
    if (!seen.insert(provider).second) return Bad(base, "names a provider twice");
    object one;
    if (pf.value.get_object().get(one)) return Bad(base, "must be an object");
    if (auto dup = Duplicate(one)) return Bad(internal::Cat(base, ".", *dup), "appears twice");
    ProviderCooldownPolicy entry{provider, c->cooldowns.defaults};
    for (auto f : one) {
      const std::string path = internal::Cat(base, ".", f.key);
      absl::StatusOr<bool> known = ParsePolicyKey(f.key, f.value, path, &entry.policy);
      if (!known.ok()) return known.status();
      if (!*known) c->warnings.push_back(path);
    }
    c->cooldowns.providers.push_back(std::move(entry));
  }
  std::sort(c->cooldowns.providers.begin(), c->cooldowns.providers.end(),
            [](const auto& a, const auto& b) { return a.provider < b.provider; });
  return absl::OkStatus();
}

// ParseLeases reads `leases`.
absl::Status ParseLeases(element v, Config* c) {
  object o;
  if (v.get_object().get(o)) return Bad("leases", "must be an object");
  if (auto dup = Duplicate(o)) return Bad(internal::Cat("leases.", *dup), "appears twice");
  for (auto f : o) {
    const std::string path = internal::Cat("leases.", f.key);
    if (f.key == "max-in-flight" || f.key == "max-in-flight-per-model") {
      absl::StatusOr<int64_t> n = GetInt(f.value, path);
      if (!n.ok()) return n.status();
      if (*n < 0 || *n > kMaxInFlight) return Bad(path, "must be an integer between 0 and 1000");
      (f.key == "max-in-flight" ? c->leases.max_in_flight : c->leases.max_in_flight_per_model) = *n;
    } else if (f.key == "ttl") {
      absl::StatusOr<absl::Duration> d =
          GetDurationString(f.value, path, absl::Seconds(1), absl::Hours(24), false, "between 1s and 24h, like \"10m\"");
      if (!d.ok()) return d.status();
      c->leases.ttl = *d;
    } else if (f.key == "busy-retry-after") {
      absl::StatusOr<absl::Duration> d =
          GetDurationString(f.value, path, absl::Seconds(1), absl::Hours(1), false, "between 1s and 1h, like \"1s\"");
      if (!d.ok()) return d.status();
      c->leases.busy_retry_after = *d;
    } else if (f.key == "least-in-flight") {
      absl::StatusOr<bool> b = GetBool(f.value, path);
      if (!b.ok()) return b.status();
      c->leases.least_in_flight = *b;
    } else if (f.key == "fleet") {
      absl::StatusOr<std::string> m = GetString(f.value, path);
      if (!m.ok()) return m.status();
      if (*m == "exact") {
        c->leases.fleet = FleetLeases::kExact;
      } else if (*m == "share") {
        c->leases.fleet = FleetLeases::kShare;
      } else if (*m == "local") {
        c->leases.fleet = FleetLeases::kLocal;
      } else {
        return Bad(path, "must be \"exact\", \"share\" or \"local\"");
      }
    } else if (f.key == "fleet-replicas") {
      absl::StatusOr<int64_t> n = GetInt(f.value, path);
      if (!n.ok()) return n.status();
      if (*n < 1 || *n > kMaxInFlight) return Bad(path, "must be an integer between 1 and 1000");
      c->leases.fleet_replicas = *n;
    } else {
      c->warnings.push_back(path);
    }
  }
  return absl::OkStatus();
}

// ParseSharedState reads `shared-state`.
absl::Status ParseSharedState(element v, Config* c) {
  object o;
  if (v.get_object().get(o)) return Bad("shared-state", "must be an object");
  if (auto dup = Duplicate(o)) return Bad(internal::Cat("shared-state.", *dup), "appears twice");
  for (auto f : o) {
    const std::string path = internal::Cat("shared-state.", f.key);
    if (f.key == "lookup-timeout") {
      absl::StatusOr<absl::Duration> d = GetDurationString(f.value, path, absl::Milliseconds(1), absl::Seconds(1),
                                                           true, "of 0 (never ask) or between 1ms and 1s, like \"10ms\"");
      if (!d.ok()) return d.status();
      c->shared_lookup_timeout = *d;
      continue;
    }
    if (f.key == "refresh-lock-timeout") {
      absl::StatusOr<absl::Duration> d = GetDurationString(f.value, path, absl::Seconds(1), absl::Minutes(10),
                                                           false, "between 1s and 10m, like \"1m\"");
      if (!d.ok()) return d.status();
      c->shared_refresh_lock_timeout = *d;
      continue;
    }
    if (f.key == "share-tokens") {
      absl::StatusOr<bool> b = GetBool(f.value, path);
      if (!b.ok()) return b.status();
      c->shared_tokens = *b;
      continue;
    }
    if (f.key != "redis") {
      c->warnings.push_back(path);
      continue;
    }
    object r;
    if (f.value.get_object().get(r)) return Bad(path, "must be an object");
    if (auto dup = Duplicate(r)) return Bad(internal::Cat(path, ".", *dup), "appears twice");
    RedisOptions redis;
    for (auto rf : r) {
      const std::string key_path = internal::Cat(path, ".", rf.key);
      const std::string_view k = rf.key;
      if (k == "url" || k == "user" || k == "password" || k == "prefix") {
        absl::StatusOr<std::string> s = GetString(rf.value, key_path);
        if (!s.ok()) return s.status();
        (k == "url" ? redis.url : k == "user" ? redis.user : k == "password" ? redis.password : redis.prefix) =
            *std::move(s);
      } else if (k == "database") {
        absl::StatusOr<int64_t> n = GetInt(rf.value, key_path);
        if (!n.ok()) return n.status();
        if (*n < 0 || *n > 1000) return Bad(key_path, "must be an integer between 0 and 1000");
        redis.database = static_cast<int>(*n);
      } else if (k == "timeout" || k == "min-backoff" || k == "max-backoff" || k == "queue-limit" ||
                 k == "health-ttl") {
        absl::StatusOr<absl::Duration> d = GetDurationString(rf.value, key_path, absl::Milliseconds(1),
                                                             absl::Hours(24 * 365), false, "like \"200ms\" or \"5s\"");
        if (!d.ok()) return d.status();
        (k == "timeout"       ? redis.timeout
         : k == "min-backoff" ? redis.min_backoff
         : k == "max-backoff" ? redis.max_backoff
         : k == "queue-limit" ? redis.queue_limit
                              : redis.health_ttl) = *d;
      } else {
        c->warnings.push_back(key_path);
      }
    }
    if (absl::Status s = ValidateRedisOptions(redis); !s.ok()) {
      return Bad(path, internal::ToStd(s.message()));
    }
    c->redis = std::move(redis);
  }
  return absl::OkStatus();
}

// Duplicates reports the first key that appears twice in `o` (JSON allows it; a config must
// not, since only one of the two values could take effect).
std::optional<std::string> Duplicate(object o) {
  std::set<std::string_view> seen;
  for (auto field : o) {
    if (!seen.insert(field.key).second) return std::string(field.key);
  }
  return std::nullopt;
}

absl::Status ParseProfile(object o, std::string_view path, OAuth2Profile& p) {
  if (auto dup = Duplicate(o)) return Bad(internal::Cat(path, ".", *dup), "appears twice");
  for (auto field : o) {
    const std::string key = internal::Cat(path, ".", field.key);
    if (field.key == "encoding") {
      absl::StatusOr<std::string> s = GetString(field.value, key);
      if (!s.ok()) return s.status();
      absl::StatusOr<OAuth2Encoding> e = ParseOAuth2Encoding(*s);
      if (!e.ok()) return Bad(key, "must be \"form\" or \"json\"");
      p.encoding = *e;
      continue;
    }
    std::string* target = field.key == "token-url"       ? &p.token_url
                          : field.key == "client-id"     ? &p.client_id
                          : field.key == "client-secret" ? &p.client_secret
                          : field.key == "scope"         ? &p.scope
                                                         : nullptr;
    if (target == nullptr) {
      const std::string nearest = NearestConfigKey(key);
      return Bad(key, nearest.empty() ? std::string("unknown key")
                                      : internal::Cat("unknown key (did you mean \"", nearest, "\"?)"));
    }
    std::string_view s;
    if (field.value.get_string().get(s)) return Bad(key, "must be a string");
    *target = std::string(TrimSpace(s));
  }
  if (p.token_url.empty()) return Bad(internal::Cat(path, ".token-url"), "is required");
  if (absl::Status u = internal::CheckTokenUrl(p.token_url); !u.ok()) {
    return Bad(internal::Cat(path, ".token-url"), internal::ToStd(u.message()));
  }
  return absl::OkStatus();
}

// ParsePatternLists parses {"provider": ["pattern", ...], ...} (model-catalog,
// oauth-excluded-models).
absl::Status ParsePatternLists(element v, std::string_view key,
                               std::map<std::string, std::vector<std::string>, std::less<>>& out) {
  object o;
  if (v.get_object().get(o)) return Bad(key, "must be an object of provider -> [model, ...]");
  for (auto p : o) {
    const std::string provider = internal::ProviderKey(p.key);
    const std::string path = internal::Cat(key, ".", p.key);
    if (provider.empty()) return Bad(path, "empty provider name");
    if (out.contains(provider)) return Bad(path, "names a provider twice");
    simdjson::dom::array a;
    if (p.value.get_array().get(a)) return Bad(path, "must be an array of model names");
    std::vector<std::string> patterns;
    size_t i = 0;
    for (element e : a) {
      const std::string item = internal::Cat(path, "[", i++, "]");
      std::string_view m;
      if (e.get_string().get(m)) return Bad(item, "must be a string");
      m = TrimSpace(m);
      if (m.empty()) return Bad(item, "must not be empty");
      if (m.size() > 256) return Bad(item, "longer than 256 bytes");
      if (!IsValidModelName(m)) {
        return Bad(item, "must not contain commas or control characters");
      }
      patterns.emplace_back(m);
    }
    out[provider] = std::move(patterns);
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

constexpr std::string_view kKnownKeys[] = {
    "auth-dir",
    "routing.strategy",
    "routing.session-affinity",
    "routing.claude-code-session-affinity",
    "routing.session-affinity-ttl",
    "routing.session-affinity-max-entries",
    "routing.session-affinity-content",
    "routing.session-affinity-scope",
    "routing.session-affinity-content-identity",
    "routing.session-placement",
    "request-retry",
    "max-retry-credentials",
    "max-retry-interval",
    "disable-cooling",
    "transient-error-cooldown-seconds",
    "cooldowns.max-cooldown",
    "cooldowns.probe-interval",
    "cooldowns.probe-when-exhausted",
    "cooldowns.max-ejection-percent",
    "cooldowns.consecutive-auth-failures",
    "cooldowns.consecutive-not-found-failures",
    "cooldowns.consecutive-transient-failures",
    "cooldowns.providers.<provider>.max-cooldown",
    "cooldowns.providers.<provider>.probe-interval",
    "cooldowns.providers.<provider>.probe-when-exhausted",
    "cooldowns.providers.<provider>.max-ejection-percent",
    "cooldowns.providers.<provider>.consecutive-auth-failures",
    "cooldowns.providers.<provider>.consecutive-not-found-failures",
    "cooldowns.providers.<provider>.consecutive-transient-failures",
    "leases.max-in-flight",
    "leases.max-in-flight-per-model",
    "leases.ttl",
    "leases.busy-retry-after",
    "leases.least-in-flight",
    "leases.fleet",
    "leases.fleet-replicas",
    "shared-state.redis.url",
    "shared-state.redis.user",
    "shared-state.redis.password",
    "shared-state.redis.database",
    "shared-state.redis.prefix",
    "shared-state.redis.timeout",
    "shared-state.redis.min-backoff",
    "shared-state.redis.max-backoff",
    "shared-state.redis.queue-limit",
    "shared-state.redis.health-ttl",
    "shared-state.lookup-timeout",
    "shared-state.refresh-lock-timeout",
    "shared-state.share-tokens",
    "auth-auto-refresh-workers",
    "refresh-profiles.<provider>.token-url",
    "refresh-profiles.<provider>.client-id",
    "refresh-profiles.<provider>.client-secret",
    "refresh-profiles.<provider>.scope",
    "refresh-profiles.<provider>.encoding",
    "model-catalog.<provider>",
    "oauth-excluded-models.<provider>",
};

char LowerChar(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// EditDistance is the Levenshtein distance (ASCII case ignored), capped at `cap + 1`.
size_t EditDistance(std::string_view a, std::string_view b, size_t cap) {
  if (a.size() > b.size() + cap || b.size() > a.size() + cap) return cap + 1;
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    size_t best = row[0];
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      const bool same = LowerChar(a[i - 1]) == LowerChar(b[j - 1]);
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (same ? 0 : 1)});
      diag = up;
      best = std::min(best, row[j]);
    }
    if (best > cap) return cap + 1;
  }
  return row[b.size()];
}

// GenericPath replaces the provider segment of a per-provider path by "<provider>".
std::string GenericPath(std::string_view path) {
  for (std::string_view section : {"refresh-profiles.", "model-catalog.", "oauth-excluded-models."}) {
    if (!path.starts_with(section)) continue;
    const std::string_view rest = path.substr(section.size());
    const size_t dot = rest.find('.');
    return internal::Cat(section, "<provider>",
                         dot == std::string_view::npos ? std::string_view() : rest.substr(dot));
  }
  return std::string(path);
}

}  // namespace

std::vector<std::string_view> KnownConfigKeys() {
  return std::vector<std::string_view>(std::begin(kKnownKeys), std::end(kKnownKeys));
}

std::string NearestConfigKey(std::string_view path) {
  const std::string generic = GenericPath(path);
  const size_t cap = std::max<size_t>(2, generic.size() / 4);
  size_t best = cap + 1;
  std::string_view nearest;
  const auto consider = [&](std::string_view known) {
    const size_t d = EditDistance(generic, known, cap);
    if (d < best) {
      best = d;
      nearest = known;
    }
  };
  for (std::string_view known : kKnownKeys) {
    consider(known);
    // The sections too ("model-catalogue" is nearest to "model-catalog").
    if (const size_t dot = known.find('.'); dot != std::string_view::npos) consider(known.substr(0, dot));
  }
  if (nearest.empty()) return {};
  // Put the provider of the unknown path back in.
  const size_t marker = nearest.find("<provider>");
  if (marker == std::string_view::npos || generic == path) return std::string(nearest);
  const std::string_view section = nearest.substr(0, marker);
  std::string_view provider = path.substr(std::min(section.size(), path.size()));
  provider = provider.substr(0, provider.find('.'));
  return internal::Cat(section, provider, nearest.substr(marker + 10));
}

std::string DescribeUnknownKey(std::string_view path) {
  const std::string nearest = NearestConfigKey(path);
  std::string out = internal::Cat("unknown config key \"", path, "\"");
  if (!nearest.empty()) internal::Append(&out, " (did you mean \"", nearest, "\"?)");
  else out += " (ignored)";
  return out;
}

absl::StatusOr<Config> ParseConfig(std::string_view json, const ConfigParseOptions& options) {
  if (json.size() > size_t{16} << 20) return absl::InvalidArgumentError("config: larger than 16 MiB");
  simdjson::dom::parser parser;
  object root;
  if (auto err = parser.parse(json.data(), json.size()).get_object().get(root); err) {
    return absl::InvalidArgumentError(
        internal::Cat("config: not a JSON object (", simdjson::error_message(err), ")"));
  }
  if (auto dup = Duplicate(root)) return Bad(*dup, "appears twice");
  Config c;
  std::string auth_dir_raw;
  bool affinity = false, claude_affinity = false;
  std::string ttl_raw;
  bool ttl_set = false;
  for (auto field : root) {
    const std::string_view key = field.key;
    const element v = field.value;
    if (key == "auth-dir") {
      absl::StatusOr<std::string> s = GetString(v, key);
      if (!s.ok()) return s.status();
      auth_dir_raw = *s;
    } else if (key == "routing") {
      object routing;
      if (v.get_object().get(routing)) return Bad(key, "must be an object");
      if (auto dup = Duplicate(routing)) return Bad(internal::Cat("routing.", *dup), "appears twice");
      for (auto r : routing) {
        const std::string path = internal::Cat("routing.", r.key);
        if (r.key == "strategy") {
          absl::StatusOr<std::string> s = GetString(r.value, path);
          if (!s.ok()) return s.status();
          absl::StatusOr<RoutingStrategy> st = ParseRoutingStrategy(*s);
          if (!st.ok()) {
            return Bad(path, "must be \"round-robin\", \"fill-first\" or \"weighted-round-robin\"");
          }
          c.strategy = *st;
        } else if (r.key == "session-affinity" || r.key == "claude-code-session-affinity") {
          absl::StatusOr<bool> b = GetBool(r.value, path);
          if (!b.ok()) return b.status();
          (r.key == "session-affinity" ? affinity : claude_affinity) = *b;
        } else if (r.key == "session-affinity-ttl") {
          absl::StatusOr<std::string> s = GetString(r.value, path);
          if (!s.ok()) return s.status();
          absl::StatusOr<absl::Duration> d = ParseGoDuration(TrimSpace(*s));
          if (!d.ok() || *d <= absl::ZeroDuration() || *d > kMaxSessionAffinityTtl) {
            return Bad(path, "must be a duration between 0 and 720h, like \"30m\" or \"1h\"");
          }
          ttl_raw = *s;
          ttl_set = true;
        } else if (r.key == "session-affinity-max-entries") {
          absl::StatusOr<int64_t> n = GetInt(r.value, path);
          if (!n.ok()) return n.status();
          if (*n < 1 || static_cast<uint64_t>(*n) > kMaxSessionAffinityEntries) {
            return Bad(path, "must be an integer between 1 and 100000000");
          }
          c.session_affinity_max_entries = static_cast<size_t>(*n);
        } else if (r.key == "session-affinity-content") {
          absl::StatusOr<bool> b = GetBool(r.value, path);
          if (!b.ok()) return b.status();
          c.session_affinity_content = *b;
        } else if (r.key == "session-affinity-scope") {
          if (absl::Status s = GetChoice(r.value, path, "model", SessionScope::kModel, "provider",
                                         SessionScope::kProvider, &c.session_affinity_scope);
              !s.ok()) {
            return s;
          }
        } else if (r.key == "session-affinity-content-identity") {
          if (absl::Status s = GetChoice(r.value, path, "chain", ContentIdentity::kChain, "upstream",
                                         ContentIdentity::kUpstream, &c.session_affinity_content_identity);
              !s.ok()) {
            return s;
          }
        } else if (r.key == "session-placement") {
          if (absl::Status s = GetChoice(r.value, path, "rendezvous", SessionPlacement::kRendezvous,
                                         "strategy", SessionPlacement::kStrategy, &c.session_placement);
              !s.ok()) {
            return s;
          }
        } else {
          c.warnings.push_back(path);
        }
      }
    } else if (key == "request-retry") {
      absl::StatusOr<int64_t> n = GetInt(v, key);
      if (!n.ok()) return n.status();
      if (*n > 100) return Bad(key, "must be at most 100");
      c.retry.request_retry = std::max<int64_t>(*n, 0);
    } else if (key == "max-retry-credentials") {
      absl::StatusOr<int64_t> n = GetInt(v, key);
      if (!n.ok()) return n.status();
      c.retry.max_retry_credentials = std::max<int64_t>(*n, 0);
    } else if (key == "max-retry-interval") {
      absl::StatusOr<int64_t> n = GetInt(v, key);
      if (!n.ok()) return n.status();
      if (*n < 0 || *n > 3600) return Bad(key, "must be between 0 and 3600 seconds");
      c.retry.max_retry_interval = absl::Seconds(*n);
    } else if (key == "disable-cooling") {
      absl::StatusOr<bool> b = GetBool(v, key);
      if (!b.ok()) return b.status();
      c.disable_cooling = *b;
    } else if (key == "transient-error-cooldown-seconds") {
      absl::StatusOr<int64_t> n = GetInt(v, key);
      if (!n.ok()) return n.status();
      if (*n > int64_t{30} * 24 * 3600) return Bad(key, "must be at most 30 days");
      c.transient_error_cooldown_seconds = *n;
    } else if (key == "cooldowns") {
      if (absl::Status s = ParseCooldowns(v, &c); !s.ok()) return s;
    } else if (key == "leases") {
      if (absl::Status s = ParseLeases(v, &c); !s.ok()) return s;
    } else if (key == "shared-state") {
      if (absl::Status s = ParseSharedState(v, &c); !s.ok()) return s;
    } else if (key == "auth-auto-refresh-workers") {
      absl::StatusOr<int64_t> n = GetInt(v, key);
      if (!n.ok()) return n.status();
      if (*n < 0 || *n > 1024) return Bad(key, "must be between 0 and 1024");
      c.refresh_workers = *n == 0 ? 16 : static_cast<int>(*n);
    } else if (key == "refresh-profiles") {
      object profiles;
      if (v.get_object().get(profiles)) return Bad(key, "must be an object");
      std::set<std::string> providers;
      for (auto p : profiles) {
        const std::string provider = internal::ProviderKey(p.key);
        const std::string path = internal::Cat(key, ".", p.key);
        object po;
        if (provider.empty()) return Bad(path, "empty provider name");
        if (!providers.insert(provider).second) return Bad(path, "names a provider twice");
        if (p.value.get_object().get(po)) return Bad(path, "must be an object");
        OAuth2Profile profile;
        if (absl::Status s = ParseProfile(po, path, profile); !s.ok()) return s;
        c.refresh_profiles[provider] = std::move(profile);
      }
    } else if (key == "model-catalog") {
      if (absl::Status s = ParsePatternLists(v, key, c.model_catalog.models); !s.ok()) return s;
    } else if (key == "oauth-excluded-models") {
      if (absl::Status s = ParsePatternLists(v, key, c.model_catalog.excluded); !s.ok()) return s;
    } else {
      c.warnings.emplace_back(key);
    }
  }
  const SessionAffinityConfig sa =
      ResolveSessionAffinityConfig(affinity, claude_affinity, ttl_set ? ttl_raw : "");
  c.session_affinity = sa.enabled;
  c.session_affinity_ttl = sa.ttl;
  absl::StatusOr<std::string> dir = ResolveAuthDir(auth_dir_raw, options.home);
  if (!dir.ok()) return Bad("auth-dir", internal::ToStd(dir.status().message()));
  c.auth_dir = *std::move(dir);
  return c;
}

namespace {

// ConfigRefresher marks the refresher a configuration's refresh-profiles installed, so a reload
// replaces only its own and never a refresher the host registered (the host's wins, as at start).
class ConfigRefresher final : public Refresher {
 public:
  explicit ConfigRefresher(std::shared_ptr<Refresher> inner) : inner_(std::move(inner)) {}
  absl::StatusOr<TokenUpdate> Refresh(const Credential& c, const RefreshContext& ctx) override {
    return inner_->Refresh(c, ctx);
  }

 private:
  std::shared_ptr<Refresher> inner_;
};

bool IsConfigRefresher(const std::shared_ptr<Refresher>& r) {
  return dynamic_cast<const ConfigRefresher*>(r.get()) != nullptr;
}

// InstallProfiles points the profiled providers at one OAuth2 refresher, after dropping the
// refreshers an earlier configuration installed. Providers with a host refresher keep it.
absl::Status InstallProfiles(RefreshOptions& refresh, const Config* previous, const Config& next,
                             std::shared_ptr<Transport> transport) {
  (void)previous;
  for (auto it = refresh.refreshers.begin(); it != refresh.refreshers.end();) {
    it = IsConfigRefresher(it->second) ? refresh.refreshers.erase(it) : std::next(it);
  }
  if (next.refresh_profiles.empty()) return absl::OkStatus();
  OAuth2RefresherOptions o;
  o.transport = std::move(transport);
  o.profiles = next.refresh_profiles;
  absl::StatusOr<std::shared_ptr<Refresher>> oauth2 = NewOAuth2Refresher(std::move(o));
  if (!oauth2.ok()) return oauth2.status();
  auto refresher = std::make_shared<ConfigRefresher>(*std::move(oauth2));
  for (const auto& [provider, profile] : next.refresh_profiles) {
    auto [it, inserted] = refresh.refreshers.try_emplace(provider, refresher);
    (void)it;
    (void)inserted;  // an existing (host) refresher stays
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ApplyToOptions(const Config& config, ManagerOptions& options,
                            std::shared_ptr<Transport> transport) {
  options.strategy = config.strategy;
  options.session_affinity = config.session_affinity;
  options.session_affinity_ttl = config.session_affinity_ttl;
  options.session_affinity_max_entries = config.session_affinity_max_entries;
  options.session_affinity_content = config.session_affinity_content;
  options.session_affinity_scope = config.session_affinity_scope;
  options.session_affinity_content_identity = config.session_affinity_content_identity;
  options.session_placement = config.session_placement;
  options.request_retry = config.retry.request_retry;
  options.max_retry_credentials = config.retry.max_retry_credentials;
  options.max_retry_interval = config.retry.max_retry_interval;
  options.disable_cooling = config.disable_cooling;
  options.transient_error_cooldown_seconds = config.transient_error_cooldown_seconds;
  options.cooldowns = config.cooldowns;
  options.leases = config.leases;
  options.refresh.workers = config.refresh_workers;
  options.model_catalog = config.model_catalog;
  options.shared_lookup_timeout = config.shared_lookup_timeout;
  options.shared_refresh_lock_timeout = config.shared_refresh_lock_timeout;
  options.shared_tokens = config.shared_tokens;
  if (config.redis) {
    RedisOptions redis = *config.redis;
    redis.logger = options.logger;
    absl::StatusOr<std::shared_ptr<SharedState>> shared = NewRedisSharedState(std::move(redis));
    if (!shared.ok()) return shared.status();
    options.shared_state = *std::move(shared);
  }
  return InstallProfiles(options.refresh, nullptr, config, std::move(transport));
}

namespace {
absl::StatusOr<std::vector<std::string>> ApplyConfigChanges(Manager& manager, const Config& previous,
                                                            const Config& next,
                                                            std::shared_ptr<Transport> transport);
}  // namespace

absl::StatusOr<std::vector<std::string>> ApplyConfig(Manager& manager, const Config& previous,
                                                     const Config& next,
                                                     std::shared_ptr<Transport> transport) {
  absl::StatusOr<std::vector<std::string>> changed =
      ApplyConfigChanges(manager, previous, next, std::move(transport));
  internal::ManagerAccess::CountConfigReload(manager, changed.ok());
  return changed;
}

namespace {
absl::StatusOr<std::vector<std::string>> ApplyConfigChanges(Manager& manager, const Config& previous,
                                                            const Config& next,
                                                            std::shared_ptr<Transport> transport) {
  // Everything that can fail is prepared before anything is applied, so a refused config
  // leaves the Manager exactly as it was.
  const bool refresh_changed = next.refresh_workers != previous.refresh_workers ||
                               next.refresh_profiles != previous.refresh_profiles;
  RefreshOptions refresh;
  if (refresh_changed) {
    refresh = manager.GetRefreshOptions();
    refresh.workers = next.refresh_workers;
    if (next.refresh_profiles != previous.refresh_profiles) {
      if (absl::Status s = InstallProfiles(refresh, &previous, next, std::move(transport)); !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = ValidateRefreshOptions(refresh); !s.ok()) return s;
  }
  if (next.session_affinity && (next.session_affinity_ttl <= absl::ZeroDuration() ||
                                next.session_affinity_ttl > kMaxSessionAffinityTtl)) {
    return absl::InvalidArgumentError("routing.session-affinity-ttl: out of range");
  }
  if (next.session_affinity_max_entries == 0 ||
      next.session_affinity_max_entries > kMaxSessionAffinityEntries) {
    return absl::InvalidArgumentError("routing.session-affinity-max-entries: out of range");
  }
  if (absl::Status s = ValidateRetrySettings(next.retry); !s.ok()) return s;
  if (absl::Status s = ValidateCooldownPolicies(next.cooldowns); !s.ok()) {
    return absl::InvalidArgumentError(internal::Cat("cooldowns: ", internal::ToStd(s.message())));
  }
  if (absl::Status s = ValidateLeaseOptions(next.leases); !s.ok()) {
    return absl::InvalidArgumentError(internal::Cat("leases: ", internal::ToStd(s.message())));
  }
  std::vector<std::string> changed;
  // The refresh options first: the one step that can still be refused (from a refresh loop
  // thread or another callback, when the loop would have to be resized or stopped), before
  // anything else was applied. Every later step cannot fail.
  std::vector<std::string> refresh_keys;  // reported in the order of the file's keys, below
  if (refresh_changed) {
    if (absl::Status s = manager.SetRefreshOptions(std::move(refresh)); !s.ok()) return s;
    if (next.refresh_workers != previous.refresh_workers) {
      refresh_keys.emplace_back("auth-auto-refresh-workers");
    }
    if (next.refresh_profiles != previous.refresh_profiles) refresh_keys.emplace_back("refresh-profiles");
  }
  if (next.strategy != previous.strategy) {
    manager.SetStrategy(next.strategy);
    changed.emplace_back("routing.strategy");
  }
  if (next.session_affinity_max_entries != previous.session_affinity_max_entries) {
    // Before affinity turns on, so a new cache starts with the new bound.
    if (absl::Status s = manager.SetSessionAffinityMaxEntries(next.session_affinity_max_entries);
        !s.ok()) {
      return s;
    }
  }
  if (next.session_affinity != previous.session_affinity ||
      next.session_affinity_ttl != previous.session_affinity_ttl) {
    if (absl::Status s = manager.SetSessionAffinity(next.session_affinity, next.session_affinity_ttl);
        !s.ok()) {
      return s;
    }
    if (next.session_affinity != previous.session_affinity) {
      changed.emplace_back("routing.session-affinity");
    }
    if (next.session_affinity_ttl != previous.session_affinity_ttl) {
      changed.emplace_back("routing.session-affinity-ttl");
    }
  }
  if (next.session_affinity_max_entries != previous.session_affinity_max_entries) {
    changed.emplace_back("routing.session-affinity-max-entries");
  }
  if (next.session_affinity_content != previous.session_affinity_content ||
      next.session_affinity_scope != previous.session_affinity_scope ||
      next.session_affinity_content_identity != previous.session_affinity_content_identity) {
    manager.SetSessionIdentity(next.session_affinity_content, next.session_affinity_scope,
                               next.session_affinity_content_identity);
    if (next.session_affinity_content != previous.session_affinity_content) {
      changed.emplace_back("routing.session-affinity-content");
    }
    if (next.session_affinity_scope != previous.session_affinity_scope) {
      changed.emplace_back("routing.session-affinity-scope");
    }
    if (next.session_affinity_content_identity != previous.session_affinity_content_identity) {
      changed.emplace_back("routing.session-affinity-content-identity");
    }
  }
  if (next.session_placement != previous.session_placement) {
    manager.SetSessionPlacement(next.session_placement);
    changed.emplace_back("routing.session-placement");
  }
  if (next.retry != previous.retry) {
    if (absl::Status s = manager.SetRetrySettings(next.retry); !s.ok()) return s;
    if (next.retry.request_retry != previous.retry.request_retry) {
      changed.emplace_back("request-retry");
    }
    if (next.retry.max_retry_credentials != previous.retry.max_retry_credentials) {
      changed.emplace_back("max-retry-credentials");
    }
    if (next.retry.max_retry_interval != previous.retry.max_retry_interval) {
      changed.emplace_back("max-retry-interval");
    }
  }
  if (next.disable_cooling != previous.disable_cooling ||
      next.transient_error_cooldown_seconds != previous.transient_error_cooldown_seconds) {
    manager.SetCooling(next.disable_cooling, next.transient_error_cooldown_seconds);
    if (next.disable_cooling != previous.disable_cooling) changed.emplace_back("disable-cooling");
    if (next.transient_error_cooldown_seconds != previous.transient_error_cooldown_seconds) {
      changed.emplace_back("transient-error-cooldown-seconds");
    }
  }
  changed.insert(changed.end(), refresh_keys.begin(), refresh_keys.end());
  if (next.model_catalog != previous.model_catalog) {
    manager.SetModelCatalog(next.model_catalog);
    if (next.model_catalog.models != previous.model_catalog.models) {
      changed.emplace_back("model-catalog");
    }
    if (next.model_catalog.excluded != previous.model_catalog.excluded) {
      changed.emplace_back("oauth-excluded-models");
    }
  }
  if (next.cooldowns != previous.cooldowns) {
    (void)manager.SetCooldownPolicies(next.cooldowns);  // validated above
    changed.emplace_back("cooldowns");
  }
  if (next.leases != previous.leases) {
    (void)manager.SetLeaseOptions(next.leases);  // validated above
    changed.emplace_back("leases");
  }
  if (next.auth_dir != previous.auth_dir) changed.emplace_back("auth-dir");
  // Read at start only (a Manager keeps the shared state it was created with).
  if (next.redis != previous.redis || next.shared_lookup_timeout != previous.shared_lookup_timeout ||
      next.shared_refresh_lock_timeout != previous.shared_refresh_lock_timeout ||
      next.shared_tokens != previous.shared_tokens) {
    changed.emplace_back("shared-state");
  }
  return changed;
}
}  // namespace

}  // namespace v0
}  // namespace authrouter
