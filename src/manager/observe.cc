// What the Manager tells operators: its metrics snapshot, pick failures counted by reason, and
// decision records (observe/ holds the counters and formats).
#include <algorithm>

#include "authrouter/manager.h"
#include "internal/strings.h"
#include "manager/manager_impl.h"
#include "observe/metrics.h"
#include "observe/state_view.h"
#include "routing/pick_spec.h"

namespace authrouter {
inline namespace v0 {

MetricsSnapshot Manager::Metrics() const {
  const Impl& impl = *impl_;
  const absl::Time now = impl.clock->Now();
  observe::Gauges gauges;
  std::shared_ptr<SessionCache> sessions;
  {
    std::shared_lock lock(impl.mu);
    // Providers in first-seen order of a sorted walk would cost a sort of every record; a small
    // vector searched linearly holds the handful of providers a pool has.
    for (const auto& [id, c] : impl.records) {
      std::string_view provider = impl.ProviderLabel(*c);
      auto it = std::find_if(gauges.credentials.begin(), gauges.credentials.end(),
                             [&](const auto& p) { return p.first == provider; });
      if (it == gauges.credentials.end()) {
        gauges.credentials.emplace_back(std::string(provider), std::array<uint64_t, 5>{});
        it = gauges.credentials.end() - 1;
      }
      ++it->second[observe::PoolStateIndex(observe::PoolStateName(*c, now))];
    }
    sessions = impl.sessions;
    impl.metrics->Prune([&](const std::string& id) { return impl.records.find(id) != impl.records.end(); });
  }
  std::sort(gauges.credentials.begin(), gauges.credentials.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  // Every provider of the pool has its series, at zero until something is counted.
  for (const auto& [provider, counts] : gauges.credentials) impl.metrics->Know(provider);
  {
    std::shared_lock lock(impl.mu);
    for (const internal::SchedulerCore::HealthStats& h : impl.scheduler.Health(now)) {
      gauges.health.push_back({std::string(h.provider), h.probes, h.panics, h.panicked, h.in_flight});
    }
  }
  std::sort(gauges.health.begin(), gauges.health.end(),
            [](const auto& a, const auto& b) { return a.provider < b.provider; });
  gauges.session_evictions = impl.session_evictions_before.load(std::memory_order_relaxed);
  if (sessions) {
    gauges.session_bindings = sessions->size();
    gauges.session_evictions += sessions->evictions();
  }
  return observe::BuildSnapshot(now, impl.metrics->Sum(), gauges, impl.metrics->Credentials());
}

void Manager::Impl::CountPickFailure(const PickRequest& request, const absl::Status& status) {
  // The label is the provider asked (normalised) when the pool knows it, "unknown" when it does
  // not (so a client's typo neither shows its text nor takes a label), "mixed" for several,
  // "none" for none.
  std::string provider;
  size_t named = 0;
  for (std::string_view p : request.providers) {
    std::string key = internal::ProviderKey(p);
    if (key.empty() || key == provider) continue;
    ++named;
    if (named == 1) provider = std::move(key);
  }
  if (named == 0) provider = "none";
  if (named > 1) provider = "mixed";
  if (named == 1) {
    std::shared_lock lock(mu);
    if (!scheduler.KnowsProvider(provider)) provider = "unknown";
  }
  const std::optional<RoutingError> e = GetRoutingError(status);
  metrics->CountFailed(provider, e ? e->reason : RoutingReason::kUnspecified);
}

namespace {

bool Contains(std::span<const std::string_view> ids, std::string_view id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

}  // namespace

void Manager::Impl::Explain(const PickRequest& request, const absl::StatusOr<PickResult>& pick,
                            SessionOutcome session, PickDecision* out) {
  *out = PickDecision{};
  PickDecision& d = *out;
  d.at = clock->Now();
  d.model = std::string(request.model);
  d.session = session;
  d.pinned_id = std::string(TrimSpace(request.pinned_id));
  if (pick.ok()) {
    d.picked = true;
    d.picked_id = pick->credential->id;
    d.picked_provider = std::string(pick->provider);
    d.tier = pick->credential->Priority();
    d.response_chain = pick->response_chain;
    d.probe = pick->probe;
  } else if (const std::optional<RoutingError> e = GetRoutingError(pick.status())) {
    d.error_code = e->code;
    d.error_reason = std::string(RoutingReasonName(e->reason));
  } else {
    d.error_code = absl::StatusCodeToString(pick.status().code());
  }
  const internal::RequestSpec prepared(request);
  const internal::PickSpec& spec = prepared.spec();
  for (std::string_view p : spec.providers) d.providers.emplace_back(p);
  d.model_key = std::string(spec.model_key);
  if (prepared.empty()) return;

  std::shared_lock lock(mu);
  // As the scheduler prefers websocket-capable credentials: one provider, codex, no pin, no
  // host selector.
  const bool ws_preferred = d.picked && request.downstream_websocket && selector == nullptr &&
                            spec.providers.size() == 1 && spec.pred.pinned.empty() &&
                            pick->credential->WebsocketsEnabled() && pick->provider == "codex";
  d.strategy = selector != nullptr ? "selector" : std::string(RoutingStrategyName(scheduler.strategy()));
  const bool weighted = selector == nullptr && scheduler.strategy() == RoutingStrategy::kWeightedRoundRobin;
  if (d.picked) d.panic = scheduler.Panicked(d.picked_id, spec.model_key);
  for (const auto& [id, cp] : records) {
    const Credential& c = *cp;
    if (d.picked && id == d.picked_id) continue;
    std::string provider = internal::ProviderKey(c.provider);
    if (!Contains(spec.providers, provider)) continue;
    DecisionCandidate k;
    k.id = id;
    k.provider = std::move(provider);
    k.priority = c.Priority();
    const std::string prefix = internal::NormalizePrefix(c.prefix);
    const ServedModels& served = scheduler.Models(id);
    const std::string_view state_key = internal::StateKeyFor(prefix, spec.model_key);
    if (c.IsDisabled()) {
      k.reason = SkipReason::kDisabled;
    } else if (!spec.model_key.empty() && !internal::ModelMatcher(served).Supports(spec.model_key, prefix)) {
      const bool without_exclusions =
          internal::ModelMatcher(ServedModels{served.source, served.models, {}})
              .Supports(spec.model_key, prefix);
      k.reason = without_exclusions ? SkipReason::kModelExcluded : SkipReason::kModelNotServed;
    } else if (Contains(spec.pred.tried, id)) {
      k.reason = SkipReason::kTried;
    } else if (!spec.pred.pinned.empty() && spec.pred.pinned != id) {
      k.reason = SkipReason::kNotPinned;
    } else if (k.panic = scheduler.Panicked(id, spec.model_key);
               !k.panic && scheduler.AtLimit(id, spec.model_key, d.at)) {
      k.reason = SkipReason::kBusy;
    } else if (const internal::BlockResult b = internal::EvaluateBlock(c, state_key, d.at);
               b.blocked && !k.panic) {
      if (b.reason == internal::BlockReason::kDisabled) {
        k.reason = SkipReason::kDisabled;
      } else {
        k.reason = SkipReason::kCooling;
        const std::optional<ErrorRecord>* error = &c.last_error;
        const QuotaState* quota = &c.quota;
        if (!state_key.empty()) {
          k.model = std::string(state_key);
          if (auto st = c.model_states.find(state_key); st != c.model_states.end()) {
            error = &st->second.last_error;
            quota = &st->second.quota;
          }
        }
        k.until = b.next;
        k.cause = std::string(observe::CooldownCauseName(observe::CooldownCauseOf(*error, *quota)));
      }
    } else if (weighted && c.Weight() <= 0) {
      k.reason = SkipReason::kNoWeight;
    } else if (ws_preferred && k.provider == "codex" && !c.WebsocketsEnabled()) {
      k.reason = SkipReason::kNotWebsocket;
    } else if (d.tier && k.priority < *d.tier) {
      k.reason = SkipReason::kLowerTier;
    } else if (c.status == CredentialStatus::kError && !d.picked) {
      k.reason = SkipReason::kUnavailable;
    } else {
      k.reason = SkipReason::kNotChosen;
    }
    d.skipped.push_back(std::move(k));
  }
  lock.unlock();
  std::sort(d.skipped.begin(), d.skipped.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
}

}  // namespace v0
}  // namespace authrouter
