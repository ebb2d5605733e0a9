// metrics.h -- what the Manager counts, as a snapshot and as Prometheus text.
//
// Metrics are pulled: Manager::Metrics() returns a MetricsSnapshot, and
// MetricsSnapshot::Prometheus() formats it in the Prometheus text exposition format (version
// 0.0.4) that a host serves on its own /metrics endpoint:
//
//   std::string body = manager->Metrics().Prometheus();   // Content-Type: text/plain; version=0.0.4
//
// The families (docs/observability.md lists each with its labels and when it moves):
//
//   authrouter_picks_total{provider,outcome}            counter  outcome: picked | failed
//   authrouter_pick_failures_total{code,reason}         counter  RoutingError code and reason
//   authrouter_results_total{provider,class}            counter  success 401 403 404 429 5xx other
//   authrouter_cooldowns_entered_total{provider,cause}  counter  quota unauthorized forbidden
//                                                                not_found model_not_supported
//                                                                transient other
//   authrouter_credentials{provider,state}              gauge    ready cooling disabled
//                                                                refreshing error
//   authrouter_session_bindings                         gauge    keys held by the session cache
//   authrouter_session_lookups_total{outcome,reason}    counter  hit | miss | inherited |
//                                                                rebound (reason unavailable or
//                                                                shared_opening)
//   authrouter_session_evictions_total                  counter  bindings evicted by the bound
//   authrouter_refreshes_total{provider,outcome}        counter  success | failure | dropped
//   authrouter_refresh_duration_seconds                 histogram the refresher call, by the
//                                                                Manager's clock
//   authrouter_store_writes_total{outcome}              counter  ok | error
//   authrouter_config_reloads_total{outcome}            counter  applied | rejected
//
// With per-credential series on (ManagerOptions::metrics_credentials), also
//   authrouter_credential_picks_total{credential}
//   authrouter_credential_results_total{credential,class}
// where `credential` is the ID or "h:" and the first 16 hex digits of its SHA-256.
//
// The `provider` label is the normalised provider key (OpenTelemetry GenAI's
// `gen_ai.provider.name`, for a host that re-exports these as OTel metrics). Labels stay low in
// cardinality: in the counters, providers beyond the first 32 a Manager sees count under
// provider="other" (the credentials gauge, derived from the pool, names each provider of the
// pool); a failed pick for a provider the pool does not know counts under "unknown", one for
// several providers under "mixed". No label ever holds a token, a key, a session ID, a tenant
// or upstream text.
//
// Counting costs a pick two thread-local loads and a store into a block only the picking thread
// writes (no shared cache line); a snapshot sums the blocks. ManagerOptions::metrics = false
// turns counting off (the gauges are still derived when a snapshot is taken).
#ifndef AUTHROUTER_METRICS_H_
#define AUTHROUTER_METRICS_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace authrouter {
inline namespace v0 {

// CredentialSeries says whether and how per-credential series are labelled.
enum class CredentialSeries : uint8_t {
  kOff,   // no per-credential series (the default)
  kId,    // labelled by credential ID (IDs are file names or UUIDs; never a secret)
  kHash,  // labelled "h:" + the first 16 hex digits of SHA-256(ID): stable across restarts
};

enum class MetricType : uint8_t { kCounter, kGauge, kHistogram };

// MetricTypeName returns "counter", "gauge" or "histogram".
std::string_view MetricTypeName(MetricType type);

// MetricSample is one time series' value. For a histogram, `suffix` is "_bucket" (with an "le"
// label), "_sum" or "_count"; otherwise it is empty.
struct MetricSample {
  std::string suffix;
  std::vector<std::pair<std::string, std::string>> labels;  // in exposition order
  double value = 0;
};

// MetricFamily is one metric: its name, help text, type and samples.
struct MetricFamily {
  std::string name;
  std::string help;
  MetricType type = MetricType::kCounter;
  std::vector<MetricSample> samples;
};

// MetricsSnapshot is every metric at one instant.
struct MetricsSnapshot {
  absl::Time taken_at = absl::UnixEpoch();
  std::vector<MetricFamily> families;

  // Find returns the family named `name`, or nullptr.
  const MetricFamily* Find(std::string_view name) const;

  // Value returns the sample of `name` (a family name, or a histogram's name with its suffix:
  // "authrouter_refresh_duration_seconds_count") whose labels are exactly `labels`, in any order;
  // nullopt when there is none.
  std::optional<double> Value(
      std::string_view name,
      std::initializer_list<std::pair<std::string_view, std::string_view>> labels = {}) const;

  // Prometheus returns the text exposition: per family "# HELP", "# TYPE" and its samples; label
  // values escape backslash, double quote and newline, help text backslash and newline.
  std::string Prometheus() const;

  // Json returns the snapshot as JSON: {"taken_at": RFC 3339, "families": [{"name", "help",
  // "type", "samples": [{"name", "labels": {...}, "value"}]}]}.
  std::string Json() const;
};

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_METRICS_H_
