// The Manager's counters and their exposition (metrics.h).
#include "observe/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "authrouter/result.h"
#include "internal/json_writer.h"
#include "internal/sha256.h"

namespace authrouter {
inline namespace v0 {

std::string_view MetricTypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

const MetricFamily* MetricsSnapshot::Find(std::string_view name) const {
  for (const MetricFamily& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::optional<double> MetricsSnapshot::Value(
    std::string_view name,
    std::initializer_list<std::pair<std::string_view, std::string_view>> labels) const {
  for (const MetricFamily& f : families) {
    if (!name.starts_with(f.name)) continue;
    const std::string_view suffix = name.substr(f.name.size());
    for (const MetricSample& s : f.samples) {
      if (s.suffix != suffix || s.labels.size() != labels.size()) continue;
      bool all = true;
      for (const auto& wanted : labels) {
        const auto it = std::find_if(s.labels.begin(), s.labels.end(), [&](const auto& l) {
          return l.first == wanted.first && l.second == wanted.second;
        });
        if (it == s.labels.end()) {
          all = false;
          break;
        }
      }
      if (all) return s.value;
    }
  }
  return std::nullopt;
}

namespace {

void AppendEscaped(std::string* out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && quote) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

void AppendValue(std::string* out, double v) {
  if (std::isnan(v)) {
    out->append("NaN");
  } else if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
  } else if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
    out->append(buf, r.ptr);
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out->append(buf, r.ptr);
  }
}

}  // namespace

std::string MetricsSnapshot::Prometheus() const {
  std::string out;
  out.reserve(families.size() * 256);
  for (const MetricFamily& f : families) {
    out.append("# HELP ").append(f.name).push_back(' ');
    AppendEscaped(&out, f.help, false);
    out.append("\n# TYPE ").append(f.name).push_back(' ');
    out.append(MetricTypeName(f.type)).push_back('\n');
    for (const MetricSample& s : f.samples) {
      out.append(f.name).append(s.suffix);
      if (!s.labels.empty()) {
        out.push_back('{');
        for (size_t i = 0; i < s.labels.size(); ++i) {
          if (i > 0) out.push_back(',');
          out.append(s.labels[i].first).append("=\"");
          AppendEscaped(&out, s.labels[i].second, true);
          out.push_back('"');
        }
        out.push_back('}');
      }
      out.push_back(' ');
      AppendValue(&out, s.value);
      out.push_back('\n');
    }
  }
  return out;
}

std::string MetricsSnapshot::Json() const {
  std::string out;
  internal::JsonWriter w(&out);
  w.BeginObject();
  w.Key("taken_at");
  w.Time(taken_at);
  w.Key("families");
  w.BeginArray();
  for (const MetricFamily& f : families) {
    w.BeginObject();
    w.Key("name");
    w.String(f.name);
    w.Key("help");
    w.String(f.help);
    w.Key("type");
    w.String(MetricTypeName(f.type));
    w.Key("samples");
    w.BeginArray();
    for (const MetricSample& s : f.samples) {
      w.BeginObject();
      w.Key("name");
      w.String(f.name + s.suffix);
      w.Key("labels");
      w.BeginObject();
      for (const auto& [k, v] : s.labels) {
        w.Key(k);
        w.String(v);
      }
      w.EndObject();
      w.Key("value");
      w.Double(s.value);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return out;
}

}  // namespace v0
}  // namespace authrouter

namespace authrouter::observe {

ResultClass ClassifyResult(bool success, int http_status) {
  if (success) return ResultClass::kSuccess;
  switch (http_status) {
    case 401:
      return ResultClass::k401;
    case 403:
      return ResultClass::k403;
    case 404:
      return ResultClass::k404;
    case 429:
      return ResultClass::k429;
    default:
      return http_status >= 500 && http_status <= 599 ? ResultClass::k5xx : ResultClass::kOther;
  }
}

std::string_view ResultClassName(ResultClass c) {
  static constexpr std::string_view kNames[kResultClasses] = {"success", "401", "403", "404",
                                                              "429",     "5xx", "other"};
  return kNames[static_cast<size_t>(c)];
}

CooldownCause CooldownCauseOf(int http_status, std::string_view code, std::string_view message) {
  if (http_status == 400 || http_status == 422) {  // the only statuses that read the text
    if (IsModelSupportError(http_status, message)) return CooldownCause::kModelNotSupported;
    if (IsInvalidGrant(http_status, code, message)) return CooldownCause::kUnauthorized;
    return CooldownCause::kOther;
  }
  switch (http_status) {
    case 401:
      return CooldownCause::kUnauthorized;
    case 402:
    case 403:
      return CooldownCause::kForbidden;
    case 404:
      return CooldownCause::kNotFound;
    case 429:
      return CooldownCause::kQuota;
    case 408:
    case 500:
    case 502:
    case 503:
    case 504:
      return CooldownCause::kTransient;
    default:
      return CooldownCause::kOther;
  }
}

CooldownCause CooldownCauseOf(const std::optional<ErrorRecord>& error, const QuotaState& quota) {
  if (error && error->http_status != 0) return CooldownCauseOf(error->http_status, error->code, error->message);
  return quota.exceeded ? CooldownCause::kQuota : CooldownCause::kOther;
}

std::string_view CooldownCauseName(CooldownCause c) {
  static constexpr std::string_view kNames[kCooldownCauses] = {
      "quota", "unauthorized", "forbidden", "not_found", "model_not_supported", "transient", "other"};
  return kNames[static_cast<size_t>(c)];
}

size_t PoolStateIndex(std::string_view state) {
  static constexpr std::string_view kStates[5] = {"ready", "cooling", "disabled", "refreshing",
                                                  "error"};
  for (size_t i = 0; i < 5; ++i) {
    if (kStates[i] == state) return i;
  }
  return 0;
}

namespace {
std::atomic<uint64_t> g_next_metrics_id{1};

// RoutingReasonCode is the RoutingError code a reason goes with (routing_error.h's table).
std::string_view RoutingReasonCode(RoutingReason reason) {
  switch (reason) {
    case RoutingReason::kNoProvider:
      return "provider_not_found";
    case RoutingReason::kAllCooling:
      return "model_cooldown";
    case RoutingReason::kAllUnavailable:
      return "auth_unavailable";
    case RoutingReason::kNoExecutor:
      return "executor_not_found";
    case RoutingReason::kSelectorRejected:
      return "selector_rejected";
    case RoutingReason::kAllBusy:
      return "auth_busy";
    case RoutingReason::kUnspecified:
      return "other";
    default:
      return "auth_not_found";
  }
}
}  // namespace

Metrics::Metrics(bool enabled, CredentialSeries per_credential)
    : enabled_(enabled), per_credential_(per_credential), id_(g_next_metrics_id.fetch_add(1)) {}

Metrics::~Metrics() {
  for (auto& b : blocks_) delete b.load(std::memory_order_acquire);
}

Block& Metrics::Allocate(size_t i) {
  Block* fresh = new Block();
  Block* expected = nullptr;
  // Only thread i allocates block i, so the exchange cannot lose; the CAS keeps it obvious.
  if (!blocks_[i].compare_exchange_strong(expected, fresh, std::memory_order_acq_rel)) {
    delete fresh;
    return *expected;
  }
  return *fresh;
}

size_t Metrics::FindSlotSlow(std::string_view provider) {
  std::lock_guard<std::mutex> lock(slots_mu_);
  const size_t m = count_.load(std::memory_order_relaxed);
  for (size_t i = 0; i < m; ++i) {  // taken meanwhile by another thread?
    if (names_[i] == provider) return i;
  }
  if (m == kProviderSlots) return kOtherProvider;
  names_[m].assign(provider);
  count_.store(m + 1, std::memory_order_release);
  return m;
}

void Metrics::CountPickedSlow(std::string_view provider) {
  Block& b = Local();
  Cell& cell = b.providers[FindSlot(provider)].picked;
  Add(b, cell);
  // A thread past the block array counts in the shared block: its hint says so.
  t_pick_hint = {id_, provider.data(), provider.size(), &cell, &b == &shared_};
}

void Metrics::CountFailed(std::string_view provider, RoutingReason reason) {
  Block& b = Local();
  Add(b, b.providers[FindSlot(provider)].failed);
  const auto r = static_cast<size_t>(reason);
  if (r < kRoutingReasons) Add(b, b.pick_failures[r]);
}

void Metrics::CountCredentialResult(std::string_view credential_id, ResultClass c) {
  std::lock_guard<std::mutex> lock(credentials_mu_);
  ++CredentialLocked(credential_id).results[static_cast<size_t>(c)];
}

void Metrics::CountCooldown(std::string_view provider, CooldownCause cause) {
  Block& b = Local();
  Add(b, b.providers[FindSlot(provider)].cooldowns[static_cast<size_t>(cause)]);
}

void Metrics::CountRefresh(std::string_view provider, RefreshOutcome outcome,
                           std::optional<absl::Duration> took) {
  Block& b = Local();
  Add(b, b.providers[FindSlot(provider)].refreshes[static_cast<size_t>(outcome)]);
  if (!took) return;
  const absl::Duration d = std::max(*took, absl::ZeroDuration());
  const double seconds = absl::ToDoubleSeconds(d);
  size_t bucket = 0;
  while (bucket < kRefreshBuckets.size() && seconds > kRefreshBuckets[bucket]) ++bucket;
  Add(b, b.refresh_buckets[bucket]);
  Add(b, b.refresh_nanos, static_cast<uint64_t>(absl::ToInt64Nanoseconds(d)));
}

void Metrics::CountStoreWrite(bool ok) {
  Block& b = Local();
  Add(b, ok ? b.store_ok : b.store_error);
}

void Metrics::CountConfigReload(bool applied) {
  Block& b = Local();
  Add(b, applied ? b.reload_applied : b.reload_rejected);
}

PerCredential& Metrics::CredentialLocked(std::string_view id) {
  auto it = credentials_.find(id);
  if (it == credentials_.end()) it = credentials_.emplace(std::string(id), PerCredential{}).first;
  return it->second;
}

void Metrics::CountCredentialPick(std::string_view id) {
  std::lock_guard<std::mutex> lock(credentials_mu_);
  ++CredentialLocked(id).picks;
}

void Metrics::Forget(std::string_view credential_id) {
  if (per_credential_ == CredentialSeries::kOff) return;
  std::lock_guard<std::mutex> lock(credentials_mu_);
  if (auto it = credentials_.find(credential_id); it != credentials_.end()) credentials_.erase(it);
}

std::string Metrics::CredentialLabel(std::string_view id) const {
  if (per_credential_ == CredentialSeries::kId) return std::string(id);
  return "h:" + internal::Sha256Hex(id).substr(0, 16);
}

std::vector<std::pair<std::string, PerCredential>> Metrics::Credentials() const {
  std::vector<std::pair<std::string, PerCredential>> out;
  {
    std::lock_guard<std::mutex> lock(credentials_mu_);
    out.reserve(credentials_.size());
    for (const auto& [id, counts] : credentials_) out.emplace_back(id, counts);
  }
  for (auto& [label, counts] : out) label = CredentialLabel(label);
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

Totals Metrics::Sum() const {
  Totals t;
  const size_t named = count_.load(std::memory_order_acquire);
  t.providers.resize(kProviderSlots + 1);
  const auto add_block = [&](const Block& b) {
    const auto get = [](const Cell& c) { return c.v.load(std::memory_order_relaxed); };
    for (size_t p = 0; p <= kProviderSlots; ++p) {
      const Block::PerProvider& s = b.providers[p];
      Totals::PerProvider& d = t.providers[p];
      d.picked += get(s.picked);
      d.failed += get(s.failed);
      for (size_t i = 0; i < kResultClasses; ++i) d.results[i] += get(s.results[i]);
      for (size_t i = 0; i < kCooldownCauses; ++i) d.cooldowns[i] += get(s.cooldowns[i]);
      for (size_t i = 0; i < kRefreshOutcomes; ++i) d.refreshes[i] += get(s.refreshes[i]);
    }
    for (size_t i = 0; i < kRoutingReasons; ++i) t.pick_failures[i] += get(b.pick_failures[i]);
    for (size_t i = 0; i < kSessionOutcomes; ++i) t.sessions[i] += get(b.sessions[i]);
    for (size_t i = 0; i <= kRefreshBuckets.size(); ++i) t.refresh_buckets[i] += get(b.refresh_buckets[i]);
    t.refresh_nanos += get(b.refresh_nanos);
    t.store_ok += get(b.store_ok);
    t.store_error += get(b.store_error);
    t.reload_applied += get(b.reload_applied);
    t.reload_rejected += get(b.reload_rejected);
  };
  for (const auto& slot : blocks_) {
    if (const Block* b = slot.load(std::memory_order_acquire)) add_block(*b);
  }
  add_block(shared_);
  // Named slots in order; "other" only when something counted under it.
  const Totals::PerProvider other = t.providers[kOtherProvider];
  t.providers.resize(named);
  for (size_t i = 0; i < named; ++i) t.provider_names.push_back(names_[i]);
  const Totals::PerProvider zero;
  if (std::memcmp(&other, &zero, sizeof zero) != 0) {
    // A provider really named "other" shares the overflow's label: one series, summed.
    auto named_other = std::find(t.provider_names.begin(), t.provider_names.end(), "other");
    if (named_other == t.provider_names.end()) {
      t.provider_names.push_back("other");
      t.providers.push_back(other);
    } else {
      Totals::PerProvider& d = t.providers[static_cast<size_t>(named_other - t.provider_names.begin())];
      d.picked += other.picked;
      d.failed += other.failed;
      for (size_t i = 0; i < kResultClasses; ++i) d.results[i] += other.results[i];
      for (size_t i = 0; i < kCooldownCauses; ++i) d.cooldowns[i] += other.cooldowns[i];
      for (size_t i = 0; i < kRefreshOutcomes; ++i) d.refreshes[i] += other.refreshes[i];
    }
  }
  return t;
}

namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

MetricFamily& Family(MetricsSnapshot& s, std::string name, std::string help, MetricType type) {
  s.families.push_back({std::move(name), std::move(help), type, {}});
  return s.families.back();
}

void Sample(MetricFamily& f, Labels labels, double value, std::string suffix = {}) {
  f.samples.push_back({std::move(suffix), std::move(labels), value});
}

}  // namespace

MetricsSnapshot BuildSnapshot(absl::Time now, const Totals& t, const Gauges& g,
                              const std::vector<std::pair<std::string, PerCredential>>& credentials) {
  MetricsSnapshot s;
  s.taken_at = now;
  s.families.reserve(16);
  const auto per_provider = [&](std::string name, std::string help, std::string_view label,
                                size_t n, auto name_of, auto value_of) {
    MetricFamily& f = Family(s, std::move(name), std::move(help), MetricType::kCounter);
    for (size_t p = 0; p < t.provider_names.size(); ++p) {
      for (size_t i = 0; i < n; ++i) {
        Sample(f, {{"provider", t.provider_names[p]}, {std::string(label), std::string(name_of(i))}},
               static_cast<double>(value_of(t.providers[p], i)));
      }
    }
  };
  per_provider(
      "authrouter_picks_total", "Picks by the provider that served them (or was asked) and outcome.",
      "outcome", 2, [](size_t i) { return i == 0 ? "picked" : "failed"; },
      [](const Totals::PerProvider& p, size_t i) { return i == 0 ? p.picked : p.failed; });
  {
    MetricFamily& f = Family(s, "authrouter_pick_failures_total",
                             "Failed picks by RoutingError code and reason.", MetricType::kCounter);
    for (size_t i = 0; i < kRoutingReasons; ++i) {
      const auto reason = static_cast<RoutingReason>(i);
      // kUnspecified: an error the host's selector returned as its own.
      Sample(f, {{"code", std::string(RoutingReasonCode(reason))},
                 {"reason", i == 0 ? std::string("unspecified") : std::string(RoutingReasonName(reason))}},
             static_cast<double>(t.pick_failures[i]));
    }
  }
  per_provider(
      "authrouter_results_total", "Upstream results reported, by provider and class.", "class",
      kResultClasses, [](size_t i) { return ResultClassName(static_cast<ResultClass>(i)); },
      [](const Totals::PerProvider& p, size_t i) { return p.results[i]; });
  per_provider(
      "authrouter_cooldowns_entered_total",
      "Cooldowns entered (a model or credential that was not cooling started to), by cause.", "cause",
      kCooldownCauses, [](size_t i) { return CooldownCauseName(static_cast<CooldownCause>(i)); },
      [](const Totals::PerProvider& p, size_t i) { return p.cooldowns[i]; });
  {
    MetricFamily& f = Family(s, "authrouter_credentials", "Credentials by provider and pool state.",
                             MetricType::kGauge);
    static constexpr std::string_view kStates[5] = {"ready", "cooling", "disabled", "refreshing",
                                                    "error"};
    for (const auto& [provider, counts] : g.credentials) {
      for (size_t i = 0; i < 5; ++i) {
        Sample(f, {{"provider", provider}, {"state", std::string(kStates[i])}},
               static_cast<double>(counts[i]));
      }
    }
  }
  {
    MetricFamily& probes = Family(s, "authrouter_probes_total",
                                  "Half-open probes handed out (one live request into a cooldown).",
                                  MetricType::kCounter);
    for (const auto& h : g.health) Sample(probes, {{"provider", h.provider}}, static_cast<double>(h.probes));
    MetricFamily& panics = Family(s, "authrouter_panics_total",
                                  "Exclusions overridden by max-ejection-percent (panic).",
                                  MetricType::kCounter);
    for (const auto& h : g.health) Sample(panics, {{"provider", h.provider}}, static_cast<double>(h.panics));
    MetricFamily& panicked = Family(s, "authrouter_panic_exclusions",
                                    "(credential, model) exclusions overridden now (panic).",
                                    MetricType::kGauge);
    for (const auto& h : g.health) {
      Sample(panicked, {{"provider", h.provider}}, static_cast<double>(h.panicked));
    }
    MetricFamily& leases = Family(s, "authrouter_leases_in_flight",
                                  "Concurrency leases held now by limited credentials.", MetricType::kGauge);
    for (const auto& h : g.health) Sample(leases, {{"provider", h.provider}}, static_cast<double>(h.in_flight));
  }
  Sample(Family(s, "authrouter_session_bindings", "Session keys held by the affinity cache.",
                MetricType::kGauge),
         {}, static_cast<double>(g.session_bindings));
  {
    MetricFamily& f = Family(s, "authrouter_session_lookups_total",
                             "Picks with a session ID, by what affinity did.", MetricType::kCounter);
    for (size_t i = 1; i < kSessionOutcomes; ++i) {
      const auto o = static_cast<SessionOutcome>(i);
      Labels labels = {{"outcome", std::string(SessionOutcomeName(o))}};
      if (!SessionOutcomeReason(o).empty()) labels.emplace_back("reason", SessionOutcomeReason(o));
      Sample(f, std::move(labels), static_cast<double>(t.sessions[i]));
    }
  }
  Sample(Family(s, "authrouter_session_evictions_total",
                "Session bindings evicted because the cache was full.", MetricType::kCounter),
         {}, static_cast<double>(g.session_evictions));
  per_provider(
      "authrouter_refreshes_total",
      "Token refreshes by outcome (dropped: the credential was removed or re-logged meanwhile).",
      "outcome", kRefreshOutcomes,
      [](size_t i) { return i == 0 ? "success" : i == 1 ? "failure" : "dropped"; },
      [](const Totals::PerProvider& p, size_t i) { return p.refreshes[i]; });
  {
    MetricFamily& f = Family(s, "authrouter_refresh_duration_seconds",
                             "How long refresher calls took, by the Manager's clock.",
                             MetricType::kHistogram);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kRefreshBuckets.size(); ++i) {
      cumulative += t.refresh_buckets[i];
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, kRefreshBuckets[i]);
      Sample(f, {{"le", std::string(buf, r.ptr)}}, static_cast<double>(cumulative), "_bucket");
    }
    cumulative += t.refresh_buckets[kRefreshBuckets.size()];
    Sample(f, {{"le", "+Inf"}}, static_cast<double>(cumulative), "_bucket");
    Sample(f, {}, static_cast<double>(t.refresh_nanos) / 1e9, "_sum");
    // The count is the +Inf bucket's, so the two always agree.
    Sample(f, {}, static_cast<double>(cumulative), "_count");
  }
  {
    MetricFamily& f = Family(s, "authrouter_store_writes_total",
                             "Saves and deletes through the Store, by outcome.", MetricType::kCounter);
    Sample(f, {{"outcome", "ok"}}, static_cast<double>(t.store_ok));
    Sample(f, {{"outcome", "error"}}, static_cast<double>(t.store_error));
  }
  {
    MetricFamily& f = Family(s, "authrouter_config_reloads_total",
                             "Configuration reloads, by outcome.", MetricType::kCounter);
    Sample(f, {{"outcome", "applied"}}, static_cast<double>(t.reload_applied));
    Sample(f, {{"outcome", "rejected"}}, static_cast<double>(t.reload_rejected));
  }
  if (!credentials.empty()) {
    MetricFamily& picks = Family(s, "authrouter_credential_picks_total",
                                 "Picks per credential (opt-in).", MetricType::kCounter);
    for (const auto& [label, c] : credentials) Sample(picks, {{"credential", label}}, static_cast<double>(c.picks));
    MetricFamily& results = Family(s, "authrouter_credential_results_total",
                                   "Results per credential and class (opt-in).", MetricType::kCounter);
    for (const auto& [label, c] : credentials) {
      for (size_t i = 0; i < kResultClasses; ++i) {
        Sample(results, {{"credential", label}, {"class", std::string(ResultClassName(static_cast<ResultClass>(i)))}},
               static_cast<double>(c.results[i]));
      }
    }
  }
  return s;
}

}  // namespace authrouter::observe
