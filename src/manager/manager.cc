#include "authrouter/manager.h"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <shared_mutex>

#include "authrouter/model_key.h"
#include "internal/br_lock.h"
#include "internal/strings.h"
#include "internal/unicode.h"
#include "manager/manager_access.h"
#include "manager/manager_impl.h"
#include "manager/result_state.h"
#include "routing/lease_slots.h"
#include "routing/pick_spec.h"
#include "routing/placement.h"
#include "routing/scheduler.h"

namespace authrouter {
inline namespace v0 {
namespace {

using internal::Event;
using internal::PickSpec;
using internal::SchedulerPick;
using internal::FixedClock;

// kSharedOpening is what a conversation chain's first request is bound to once a second
// conversation opened the same way: an ID no real credential has (it starts with a control
// character), so a continuation finds no credential there and picks anew.
constexpr std::string_view kSharedOpening = "\x01shared-opening";

// AppendTenant starts a session-cache key with its tenant, as a 64-bit hash ("tenant:<16
// hex>::"): bounded in length whatever the host passes, unambiguous (a tenant containing "::"
// cannot pose as another), and no tenant (an API key, say) is kept in memory or shown in a
// session key. Nothing for the default tenant.
void AppendTenant(std::string* out, std::string_view tenant) {
  if (tenant.empty()) return;
  const uint64_t h = internal::HashBytesSeeded(tenant, 0x7465'6e61'6e74'2d31ull);
  static constexpr char kHex[] = "0123456789abcdef";
  out->append("tenant:");
  for (int shift = 60; shift >= 0; shift -= 4) out->push_back(kHex[(h >> shift) & 0xF]);
  out->append("::");
}

// NewUuid returns a random UUID v4 string.
std::string NewUuid() {
  thread_local std::mt19937_64 rng{std::random_device{}() ^
                                   (static_cast<uint64_t>(std::random_device{}()) << 32)};
  const uint64_t hi = (rng() & 0xFFFFFFFFFFFF0FFFull) | 0x0000000000004000ull;
  const uint64_t lo = (rng() & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 32; ++i) {
    const uint64_t word = i < 16 ? hi : lo;
    const int shift = 60 - 4 * (i % 16);
    out.push_back(kHex[(word >> shift) & 0xF]);
    if (i == 7 || i == 11 || i == 15 || i == 19) out.push_back('-');
  }
  return out;
}

// MergeModelState folds a suffixed model state into its canonical entry (later fix B1).
void MergeModelState(ModelState& into, const ModelState& from) {
  into.unavailable = into.unavailable || from.unavailable;
  into.quota.exceeded = into.quota.exceeded || from.quota.exceeded;
  into.next_retry_after = std::max(into.next_retry_after, from.next_retry_after);
  into.quota.next_recover_at = std::max(into.quota.next_recover_at, from.quota.next_recover_at);
  into.quota.backoff_level = std::max(into.quota.backoff_level, from.quota.backoff_level);
  if (into.quota.reason.empty()) into.quota.reason = from.quota.reason;
  if (from.updated_at > into.updated_at) {
    into.status = from.status;
    into.status_message = from.status_message;
    into.last_error = from.last_error;
    into.updated_at = from.updated_at;
  }
}

// CanonicalizeModelStates re-keys model states by canonical model, merging suffix variants.
void CanonicalizeModelStates(Credential& c) {
  bool clean = true;
  for (const auto& [key, state] : c.model_states) {
    if (CanonicalModelKey(key) != key) {
      clean = false;
      break;
    }
  }
  if (clean) return;
  Credential::Map<ModelState> merged;
  // Canonical keys first, so a suffixed state merges into an existing canonical one.
  for (auto& [key, state] : c.model_states) {
    if (CanonicalModelKey(key) == key) merged.emplace(key, std::move(state));
  }
  for (auto& [key, state] : c.model_states) {
    const std::string_view canonical = CanonicalModelKey(key);
    if (canonical == key) continue;
    auto [it, inserted] = merged.try_emplace(std::string(canonical), state);
    if (!inserted) MergeModelState(it->second, state);
  }
  c.model_states = std::move(merged);
}

constexpr absl::Duration kMaxRetryAfter = absl::Hours(24 * 30);

using internal::CredentialNotFound;


// ServesStateKey reports whether a model-state key (recorded without the credential's prefix)
// belongs to a model `served` covers: as it is, or under the prefix.
bool ServesStateKey(const ServedModels& served, std::string_view key, const std::string& prefix) {
  if (served.Serves(key, prefix)) return true;
  return !prefix.empty() && served.Serves(internal::Cat(prefix, "/", key), prefix);
}

// Reconcile drops the states of models `c` no longer serves and resets the states of models
// newly added to an earlier registration. Returns whether anything changed.
bool Reconcile(Credential& c, const ServedModels& before, bool had_registration,
               const ServedModels& after, absl::Time now) {
  const std::string prefix = internal::NormalizePrefix(c.prefix);
  bool changed = false;
  for (auto it = c.model_states.begin(); it != c.model_states.end();) {
    const std::string_view key = CanonicalModelKey(it->first);
    if (key.empty() || !ServesStateKey(after, key, prefix)) {
      it = c.model_states.erase(it);
      changed = true;
      continue;
    }
    const bool added = had_registration && !ServesStateKey(before, key, prefix);
    if (added && !internal::IsClean(it->second)) {
      internal::ResetModelState(it->second);
      it->second.updated_at = now;
      changed = true;
    }
    ++it;
  }
  if (changed) internal::RecomputeAggregates(c, now, &after);
  return changed;
}

// NormalizeCatalog applies the comparison rules to a catalog: provider keys, patterns.
ModelCatalog NormalizeCatalog(const ModelCatalog& in) {
  ModelCatalog out;
  for (const auto& [provider, patterns] : in.models) {
    auto& into = out.models[internal::ProviderKey(provider)];
    into.insert(into.end(), patterns.begin(), patterns.end());
  }
  for (auto& [provider, patterns] : out.models) patterns = NormalizeModelPatterns(patterns);
  for (const auto& [provider, patterns] : in.excluded) {
    auto& into = out.excluded[internal::ProviderKey(provider)];
    for (const std::string& p : patterns) {
      const std::string e = internal::AsciiLower(TrimSpace(p));
      if (!e.empty()) into.push_back(e);
    }
  }
  for (auto& [provider, patterns] : out.excluded) {
    std::sort(patterns.begin(), patterns.end());
    patterns.erase(std::unique(patterns.begin(), patterns.end()), patterns.end());
  }
  std::erase_if(out.models, [](const auto& kv) { return kv.first.empty() || kv.second.empty(); });
  std::erase_if(out.excluded, [](const auto& kv) { return kv.first.empty() || kv.second.empty(); });
  return out;
}

}  // namespace

bool Manager::Impl::AdoptModels(Credential& next, absl::Time now) {
  auto host = host_models.find(next.id);
  ServedModels served =
      ResolveServedModels(next, host == host_models.end() ? nullptr : &host->second, catalog);
  const ServedModels& before = scheduler.Models(next.id);
  bool changed = false;
  if (!scheduler.HasRegistration(next.id)) {
    // The first resolution (a new credential, a restart): a fallback source (its own models, the
    // catalog) prunes nothing, as the host may still register models whose persisted cooldowns
    // must hold; the host's first registration prunes what it does not serve, resetting nothing.
    if (served.source == ModelSource::kHost) changed = Reconcile(next, before, false, served, now);
  } else if (before.source != served.source) {
    // Another source took over (the host registered, or dropped its registration): what it does
    // not serve goes; what it serves keeps its state.
    changed = Reconcile(next, before, false, served, now);
  } else {
    changed = Reconcile(next, before, true, served, now);
  }
  scheduler.SetModels(next.id, std::move(served), now);
  return changed;
}

Manager::Manager(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Manager::~Manager() {
  impl_->DetachShared();  // no remote change arrives from here on
  StopRefreshLoop();
  SetSelector(nullptr);  // stops a StoppableSelector, once
}

absl::Status ValidateRetrySettings(const RetrySettings& r) {
  if (r.request_retry < 0 || r.request_retry > 100) {
    return absl::InvalidArgumentError("request_retry must be between 0 and 100");
  }
  if (r.max_retry_credentials < 0) {
    return absl::InvalidArgumentError("max_retry_credentials must not be negative");
  }
  if (r.max_retry_interval < absl::ZeroDuration() || r.max_retry_interval > absl::Hours(1)) {
    return absl::InvalidArgumentError("max_retry_interval must be between 0 and 1h");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Manager>> Manager::Create(ManagerOptions options) {
  const RetrySettings retry{options.request_retry, options.max_retry_credentials,
                            options.max_retry_interval};
  if (absl::Status s = ValidateRetrySettings(retry); !s.ok()) return s;
  if (options.session_affinity_max_entries == 0 ||
      options.session_affinity_max_entries > kMaxSessionAffinityEntries) {
    return absl::InvalidArgumentError(
        "session_affinity_max_entries must be between 1 and 100000000");
  }
  if (absl::Status s = ValidateRefreshOptions(options.refresh); !s.ok()) return s;
  if (options.selector_budget <= absl::ZeroDuration() || options.selector_budget > absl::Hours(1)) {
    return absl::InvalidArgumentError("selector_budget must be greater than 0 and at most 1h");
  }
  if (static_cast<uint8_t>(options.metrics_credentials) > static_cast<uint8_t>(CredentialSeries::kHash)) {
    return absl::InvalidArgumentError("metrics_credentials is not a CredentialSeries value");
  }
  if (absl::Status s = ValidateCooldownPolicies(options.cooldowns); !s.ok()) return s;
  if (absl::Status s = ValidateLeaseOptions(options.leases); !s.ok()) return s;
  if (options.shared_lookup_timeout < absl::ZeroDuration() ||
      options.shared_lookup_timeout > absl::Seconds(1)) {
    return absl::InvalidArgumentError("shared_lookup_timeout must be between 0 and 1s");
  }
  if (options.shared_refresh_lock_timeout < absl::Seconds(1) ||
      options.shared_refresh_lock_timeout > absl::Minutes(10)) {
    return absl::InvalidArgumentError("shared_refresh_lock_timeout must be between 1s and 10m");
  }
  if (options.shared_state && options.shared_refresh_lock_timeout <= options.refresh.timeout) {
    return absl::InvalidArgumentError("shared_refresh_lock_timeout must be longer than refresh.timeout");
  }
  auto impl = std::make_unique<Impl>();
  impl->metrics = std::make_unique<observe::Metrics>(options.metrics, options.metrics_credentials);
  impl->selector_budget = options.selector_budget;
  impl->refresh.enabled.store(RefreshEnabled(options.refresh));
  impl->refresh.options = std::make_shared<const RefreshOptions>(std::move(options.refresh));
  impl->session_max_entries = options.session_affinity_max_entries;
  impl->session_content.store(options.session_affinity_content, std::memory_order_relaxed);
  impl->session_scope.store(options.session_affinity_scope, std::memory_order_relaxed);
  impl->session_placement.store(options.session_placement, std::memory_order_relaxed);
  impl->content_identity.store(options.session_affinity_content_identity, std::memory_order_relaxed);
  impl->retry = retry;
  impl->clock = options.clock != nullptr ? options.clock : &SystemClock::Default();
  impl->store = std::move(options.store);
  impl->hooks = std::move(options.hooks);
  impl->logger = std::move(options.logger);
  impl->policy.disable_cooling = options.disable_cooling;
  impl->policy.transient_cooldown_seconds = options.transient_error_cooldown_seconds;
  impl->scheduler.SetStrategy(options.strategy);
  impl->cooldowns = internal::NormalizePolicies(options.cooldowns);
  impl->scheduler.SetPolicies(impl->cooldowns, impl->clock->Now());
  impl->scheduler.SetLeaseOptions(options.leases, impl->clock->Now());
  impl->SetFleetLeases(options.leases);
  impl->catalog = NormalizeCatalog(options.model_catalog);
  impl->selector = std::move(options.selector);
  auto manager = std::unique_ptr<Manager>(new Manager(std::move(impl)));
  if (options.session_affinity) {
    if (absl::Status s = manager->SetSessionAffinity(true, options.session_affinity_ttl); !s.ok()) {
      return s;
    }
  }
  if (options.shared_state) {
    manager->impl_->shared_refresh_lock_timeout = options.shared_refresh_lock_timeout;
    manager->impl_->shared_tokens = options.shared_tokens;
    manager->impl_->AttachShared(std::move(options.shared_state), options.shared_lookup_timeout);
  }
  return manager;
}

absl::StatusOr<std::shared_ptr<const Credential>> Manager::Impl::PublishBuilt(
    std::string_view id, Event::Kind kind, bool persist, const BuildFn& build,
    std::shared_ptr<Event>* event, std::shared_ptr<SessionCache>* invalidate) {
  auto it = records.find(id);
  const std::shared_ptr<const Credential> current = it == records.end() ? nullptr : it->second;
  absl::StatusOr<std::optional<Credential>> built = build(current.get());
  if (!built.ok()) return built.status();
  const absl::Time now = clock->Now();
  if (!built->has_value()) {  // a removal
    scheduler.Remove(id);
    scheduler.SetModels(id, ServedModels{}, now);  // resolved anew if re-created
    records.erase(it);
    snapshots->Forget(id);
    metrics->Forget(id);
    if (auto inc = incarnations.find(id); inc != incarnations.end()) incarnations.erase(inc);
    refresh.MarkDirty(id);
    *event = Enqueue(Event::Kind::kRemoved, current, persist);
    *invalidate = sessions;  // its session bindings go too (upstream never released them)
    return std::shared_ptr<const Credential>();
  }
  Credential next = **std::move(built);
  AdoptModels(next, now);
  auto snapshot = std::make_shared<const Credential>(std::move(next));
  if (kind == Event::Kind::kRegistered) {
    auto inc = incarnations.find(snapshot->id);
    Reincarnate(*snapshot, current.get(),
                inc == incarnations.end() ? std::nullopt : std::optional<uint64_t>(inc->second));
  }
  Publish(snapshot);
  *event = Enqueue(kind, snapshot, persist);
  if (snapshot->disabled) *invalidate = sessions;  // a disabled credential keeps no bindings
  return snapshot;
}

absl::StatusOr<std::shared_ptr<const Credential>> Manager::Impl::Commit(std::string_view id,
                                                                        Event::Kind kind, bool persist,
                                                                        const BuildFn& build) {
  std::shared_ptr<Event> event;
  std::shared_ptr<SessionCache> invalidate;
  absl::StatusOr<std::shared_ptr<const Credential>> published;
  const std::string key(id);
  if (!persist || store == nullptr || internal::DeliveringFor(this)) {
    {
      std::unique_lock lock(mu);
      published = PublishBuilt(key, kind, persist, build, &event, &invalidate);
    }
    if (!published.ok()) return published;
    if (invalidate) invalidate->InvalidateCredential(key);
    if (absl::Status s = Finish(event); !s.ok()) return s;
    return published;
  }
  // The store first, as its only caller; the change is published only when it was accepted.
  (void)AcquireWriter();
  std::optional<Credential> write;
  bool has_current = false, persist_current = false;
  {
    std::shared_lock lock(mu);
    auto it = records.find(key);
    const Credential* current = it == records.end() ? nullptr : it->second.get();
    has_current = current != nullptr;
    persist_current = current != nullptr && internal::ShouldPersist(*current);
    absl::StatusOr<std::optional<Credential>> built = build(current);
    if (!built.ok()) {
      lock.unlock();
      ReleaseWriter();
      return built.status();
    }
    write = *std::move(built);
  }
  const bool to_store = write ? internal::ShouldPersist(*write) : (has_current && persist_current);
  if (to_store) {
    if (absl::Status s = WriteStore(key, write ? &*write : nullptr); !s.ok()) {
      ReleaseWriter();
      return s;
    }
  }
  {
    std::unique_lock lock(mu);
    published = PublishBuilt(key, kind, /*persist=*/false, build, &event, &invalidate);
  }
  if (published.ok() && invalidate) invalidate->InvalidateCredential(key);
  ReleaseWriter();  // delivers the hooks of this change (and of any made meanwhile)
  return published;
}

absl::StatusOr<std::shared_ptr<const Credential>> Manager::Register(Credential credential,
                                                                    WriteOptions options) {
  if (credential.id.empty()) credential.id = NewUuid();
  if (absl::Status s = credential.Validate(); !s.ok()) return s;
  CanonicalizeModelStates(credential);
  credential.EnsureIndex();
  const std::string id = credential.id;
  absl::StatusOr<std::shared_ptr<const Credential>> registered =
      impl_->Commit(id, Event::Kind::kRegistered, options.persist,
                    [&](const Credential*) -> absl::StatusOr<std::optional<Credential>> {
                      return std::optional<Credential>(credential);
                    });
  if (registered.ok() && impl_->shared) {
    impl_->ResyncShared({id});  // what the other replicas know of it
    if (std::shared_ptr<const Credential> now = Get(id)) return now;
  }
  return registered;
}

absl::StatusOr<std::shared_ptr<const Credential>> Manager::Update(Credential credential,
                                                                  WriteOptions options) {
  if (absl::Status s = credential.Validate(); !s.ok()) return s;
  CanonicalizeModelStates(credential);
  const std::string id = credential.id;
  return impl_->Commit(
      id, Event::Kind::kUpdated, options.persist,
      [&](const Credential* existing) -> absl::StatusOr<std::optional<Credential>> {
        if (existing == nullptr) return CredentialNotFound(id);
        Credential next = credential;
        if (!next.index_assigned && next.index.empty()) {
          next.index = existing->index;
          next.index_assigned = existing->index_assigned;
        }
        if (IsZeroTime(next.created_at)) next.created_at = existing->created_at;
        if (!existing->IsDisabled() && !next.IsDisabled()) {
          if (next.model_states.empty()) next.model_states = existing->model_states;
          if (IsZeroTime(next.last_refreshed_at)) next.last_refreshed_at = existing->last_refreshed_at;
          if (IsZeroTime(next.next_refresh_after)) next.next_refresh_after = existing->next_refresh_after;
        }
        next.EnsureIndex();
        return std::optional<Credential>(std::move(next));
      });
}

absl::StatusOr<std::shared_ptr<const Credential>> Manager::Edit(std::string_view id,
                                                                const EditFn& edit,
                                                                WriteOptions options) {
  if (!edit) return absl::InvalidArgumentError("Edit: no edit function");
  const std::string key(id);
  return impl_->Commit(
      key, Event::Kind::kUpdated, options.persist,
      [&](const Credential* current) -> absl::StatusOr<std::optional<Credential>> {
        if (current == nullptr) return CredentialNotFound(key);
        Credential next = *current;
        absl::Status s;
        try {
          s = edit(next);
        } catch (...) {
          return absl::InternalError(internal::Cat("Edit of ", key, ": the edit function threw an exception"));
        }
        if (!s.ok()) return s;
        if (next.id != key) {
          return absl::InvalidArgumentError(internal::Cat("Edit of ", key, ": the edit changed the credential's ID"));
        }
        if (absl::Status v = next.Validate(); !v.ok()) return v;
        CanonicalizeModelStates(next);
        next.EnsureIndex();
        return std::optional<Credential>(std::move(next));
      });
}

absl::Status Manager::SetDisabled(std::string_view id, bool disabled) {
  const absl::Time now = impl_->clock->Now();
  absl::Status status =
      impl_
          ->Commit(id, Event::Kind::kUpdated, /*persist=*/true,
                   [&](const Credential* current) -> absl::StatusOr<std::optional<Credential>> {
                     if (current == nullptr) return CredentialNotFound(id);
                     return std::optional<Credential>(Impl::WithDisabled(*current, disabled, now));
                   })
          .status();
  if (status.ok() && impl_->shared) {
    impl_->QueueDisabled(id, disabled, now);
    impl_->DrainShared();
  }
  return status;
}

absl::Status Manager::Remove(std::string_view id, WriteOptions options) {
  return impl_
      ->Commit(id, Event::Kind::kRemoved, options.persist,
               [&](const Credential* current) -> absl::StatusOr<std::optional<Credential>> {
                 if (current == nullptr) return CredentialNotFound(id);
                 return std::optional<Credential>();
               })
      .status();
}

const std::shared_ptr<Logger>& Manager::logger() const { return impl_->logger; }

absl::Status Manager::Load(LoadReport* report) {
  if (impl_->store == nullptr) return absl::FailedPreconditionError("no store configured");
  absl::Status status;
  LoadReport local;
  std::vector<std::string> fresh;  // IDs new to this Manager, read back from the shared state
  // Load runs as the only Store/Hooks caller, after every change queued before it.
  impl_->Serialized([&] {
    absl::StatusOr<std::vector<Credential>> listed;
    try {
      listed = impl_->store->ListReporting(&local.skipped);
    } catch (...) {
      listed = absl::InternalError("the store threw an exception");
    }
    if (!listed.ok()) {
      status = listed.status();
      return;
    }
    std::vector<Credential> accepted;
    std::vector<std::pair<std::string, absl::Status>> rejected;
    for (Credential& c : *listed) {
      if (c.id.empty()) {
        rejected.emplace_back("", absl::InvalidArgumentError("stored credential without an id"));
        continue;
      }
      if (absl::Status s = c.Validate(); !s.ok()) {
        rejected.emplace_back(c.id, s);
        continue;
      }
      CanonicalizeModelStates(c);
      c.EnsureIndex();
      accepted.push_back(std::move(c));
    }
    {
      std::unique_lock lock(impl_->mu);
      auto old_records = std::move(impl_->records);
      auto old_incarnations = std::move(impl_->incarnations);
      impl_->records.clear();
      impl_->incarnations.clear();
      for (const auto& [id, c] : old_records) {
        impl_->scheduler.Remove(id);
        impl_->refresh.MarkDirty(id);
      }
      const absl::Time removed_at = impl_->clock->Now();
      internal::StringSet staying;
      for (const Credential& c : accepted) staying.insert(c.id);
      for (const auto& [id, c] : old_records) {
        if (staying.contains(id)) continue;
        impl_->scheduler.SetModels(id, ServedModels{}, removed_at);
        impl_->snapshots->Forget(id);
      }
      const absl::Time now = impl_->clock->Now();
      for (Credential& c : accepted) {
        if (impl_->shared && !old_records.contains(c.id)) fresh.push_back(c.id);
        impl_->AdoptModels(c, now);
        local.loaded.push_back(c.id);
        auto snapshot = std::make_shared<const Credential>(std::move(c));
        auto old = old_records.find(snapshot->id);
        auto inc = old_incarnations.find(snapshot->id);
        impl_->Reincarnate(*snapshot, old == old_records.end() ? nullptr : old->second.get(),
                           inc == old_incarnations.end() ? std::nullopt
                                                         : std::optional<uint64_t>(inc->second));
        impl_->Publish(std::move(snapshot));
      }
    }
    for (const StoreSkip& skip : local.skipped) {
      impl_->Log(LogLevel::kWarning, "store", internal::Cat(skip.name, ": skipped: ", skip.reason));
    }
    for (const auto& [id, error] : rejected) {
      local.skipped.push_back(StoreSkip{id, std::string(internal::ToStd(error.message()))});
      impl_->Log(LogLevel::kWarning, "store",
                 internal::Cat("stored credential ", id.empty() ? std::string_view("(no id)") : id,
                               " skipped: ", internal::ToStd(error.message())));
    }
    if (impl_->hooks) {
      for (const auto& [id, error] : rejected) {
        try {
          impl_->hooks->OnStoreError(id, error);
        } catch (...) {
        }
      }
    }
  });
  if (!status.ok()) {
    impl_->Log(LogLevel::kError, "store", internal::Cat("load failed: ", internal::ToStd(status.message())));
    return status;
  }
  if (!fresh.empty()) impl_->ResyncShared(fresh);
  std::sort(local.loaded.begin(), local.loaded.end());
  impl_->Log(LogLevel::kInfo, "manager",
             internal::Cat("loaded ", static_cast<int64_t>(local.loaded.size()), " credentials, skipped ",
                           static_cast<int64_t>(local.skipped.size())));
  if (report != nullptr) *report = std::move(local);
  return status;
}

std::shared_ptr<const Credential> Manager::Get(std::string_view id) const {
  std::shared_lock lock(impl_->mu);
  auto it = impl_->records.find(id);
  return it == impl_->records.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<const Credential>> Manager::List() const {
  std::vector<std::shared_ptr<const Credential>> out;
  {
    std::shared_lock lock(impl_->mu);
    out.reserve(impl_->records.size());
    for (const auto& [id, c] : impl_->records) out.push_back(c);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a->id < b->id; });
  return out;
}

void Manager::RegisterModels(std::string_view id, std::span<const std::string_view> models) {
  std::vector<std::string> patterns(models.begin(), models.end());
  patterns = NormalizeModelPatterns(patterns);
  std::shared_ptr<Event> event;
  {
    std::unique_lock lock(impl_->mu);
    if (patterns.empty()) {
      if (auto h = impl_->host_models.find(id); h != impl_->host_models.end()) {
        impl_->host_models.erase(h);
      }
    } else {
      impl_->host_models.insert_or_assign(std::string(id), std::move(patterns));
    }
    auto it = impl_->records.find(id);
    if (it == impl_->records.end()) return;  // resolved when the credential arrives
    const absl::Time now = impl_->clock->Now();
    Credential next = *it->second;
    if (!impl_->AdoptModels(next, now)) return;
    next.updated_at = now;
    auto snapshot = std::make_shared<const Credential>(std::move(next));
    impl_->Publish(snapshot);
    event = impl_->Enqueue(Event::Kind::kUpdated, std::move(snapshot), true);
  }
  (void)impl_->Finish(event);  // a store failure reaches Hooks::OnStoreError
}

void Manager::SetModelCatalog(const ModelCatalog& catalog) {
  ModelCatalog next = NormalizeCatalog(catalog);
  std::vector<std::shared_ptr<Event>> events;
  {
    std::unique_lock lock(impl_->mu);
    if (next == impl_->catalog) return;
    impl_->catalog = std::move(next);
    const absl::Time now = impl_->clock->Now();
    std::vector<std::shared_ptr<const Credential>> current;
    current.reserve(impl_->records.size());
    for (const auto& [id, c] : impl_->records) current.push_back(c);
    for (const auto& c : current) {
      Credential next_c = *c;
      if (!impl_->AdoptModels(next_c, now)) continue;  // routing updated; no state to change
      next_c.updated_at = now;
      auto snapshot = std::make_shared<const Credential>(std::move(next_c));
      impl_->Publish(snapshot);
      if (auto e = impl_->Enqueue(Event::Kind::kUpdated, std::move(snapshot), true)) {
        events.push_back(std::move(e));
      }
    }
  }
  for (const auto& e : events) (void)impl_->Finish(e);  // store failures reach OnStoreError
}

ModelCatalog Manager::GetModelCatalog() const {
  std::shared_lock lock(impl_->mu);
  return impl_->catalog;
}

std::optional<ServedModels> Manager::GetServedModels(std::string_view id) const {
  std::shared_lock lock(impl_->mu);
  if (impl_->records.find(id) != impl_->records.end()) return impl_->scheduler.Models(id);
  if (auto h = impl_->host_models.find(id); h != impl_->host_models.end()) {
    return ServedModels{ModelSource::kHost, h->second, {}};
  }
  return std::nullopt;
}

void Manager::UnregisterModels(std::string_view id) {
  RegisterModels(id, std::span<const std::string_view>());
}

absl::Status Manager::MarkResult(const Result& reported) {
  // A success reported with its lease, on a credential that a success leaves unchanged (the
  // steady state), needs no lookup: the lease knows its credential. Only the counters move.
  std::string_view noop_provider;  // set for such a success; views a provider key never freed
  if (reported.lease != nullptr) {
    if (reported.success && impl_->hooks == nullptr) {
      const internal::LeasedCredential* owner = internal::LeaseAccess::Owner(*reported.lease);
      if (owner != nullptr && owner->success_is_noop.load(std::memory_order_acquire) &&
          owner->id == reported.credential_id) {
        noop_provider = owner->provider;
      }
    }
    reported.lease->Release();  // whatever the result says
  }
  if (reported.credential_id.empty()) return absl::OkStatus();
  if (reported.http_status < 0 || reported.http_status > 999) {
    return absl::InvalidArgumentError("http_status must be between 0 and 999");
  }
  if (reported.success && reported.http_status >= 400) {
    return absl::InvalidArgumentError(internal::Cat(
        "a result cannot be a success with HTTP status ", static_cast<int64_t>(reported.http_status),
        " (set success = false, or the status the upstream really answered with)"));
  }
  // A Retry-After out of range is corrected, not a reason to lose the failure it came with.
  if (reported.retry_after && (*reported.retry_after < absl::ZeroDuration() ||
                               *reported.retry_after > kMaxRetryAfter)) [[unlikely]] {
    return MarkCorrected(reported);
  }
  const Result& result = reported;
  for (const auto& [field, value] :
       {std::pair<const char*, std::string_view>{"model", result.model},
        {"error_code", result.error_code}, {"error_message", result.error_message}}) {
    if (!internal::IsValidUtf8(value)) {
      return absl::InvalidArgumentError(internal::Cat(field, " is not valid UTF-8"));
    }
  }
  Impl& impl = *impl_;
  if (!result.session_key.empty() && impl.affinity.load(std::memory_order_acquire)) {
    std::shared_ptr<SessionCache> sessions;
    {
      std::shared_lock lock(impl.mu);
      sessions = impl.sessions;
    }
    // Later fix A7: a success keeps the binding alive; a failure releases it, unless the binding
    // has moved on meanwhile, or the failure says nothing about the credential.
    if (sessions && result.success) {
      sessions->Touch(result.session_key, result.credential_id);
    } else if (sessions && !IsRequestScopedNotFound(result.http_status, result.error_message) &&
               !IsConnectionLifecycle(result.http_status, result.error_code, result.error_message)) {
      sessions->CompareAndDelete(result.session_key, result.credential_id);
    }
  }
  // A response ID that is not valid UTF-8 is not recorded; the result itself still is.
  if (result.success && !result.response_id.empty() && internal::IsValidUtf8(result.response_id) &&
      impl.affinity.load(std::memory_order_acquire)) {
    // The response the upstream stored lives on this credential's account: a follow-up that
    // names it (previous_response_id) must go here.
    if (const std::string_view id = NormalizeExplicitSessionId(result.response_id); !id.empty()) {
      std::shared_ptr<SessionCache> sessions;
      {
        std::shared_lock lock(impl.mu);
        if (impl.records.find(result.credential_id) != impl.records.end()) sessions = impl.sessions;
      }
      if (sessions) {
        thread_local std::string response_key;
        response_key.clear();
        AppendTenant(&response_key, result.tenant);
        internal::Append(&response_key, "resp::", id);
        sessions->Set(response_key, result.credential_id);
        if (impl.shared) {
          const std::string_view keys[] = {response_key};
          impl.PublishBindings(keys, result.credential_id, sessions->ttl());
        }
      }
    }
  }
  if (!noop_provider.empty()) {
    // (Unlocked: a credential removed meanwhile may get its per-credential series back, which
    // Metrics::Prune drops at the next snapshot, as for a pick in flight during a removal.)
    if (impl.metrics->enabled()) {
      impl.metrics->CountResult(noop_provider, result.credential_id,
                                observe::ClassifyResult(true, result.http_status));
    }
    return absl::OkStatus();
  }
  std::shared_ptr<Event> event;
  const absl::Time now = impl.clock->Now();  // one instant for the whole report
  if (result.success) {
    // The common case: a success on a healthy credential changes nothing.
    std::shared_lock lock(impl.mu);
    auto it = impl.records.find(result.credential_id);
    if (it == impl.records.end()) {
      return CredentialNotFound(result.credential_id);
    }
    if (internal::IsHealthyFor(*it->second, CanonicalModelKey(result.model), now)) {
      if (impl.metrics->enabled()) impl.CountResult(*it->second, result);
      if (impl.hooks == nullptr) return absl::OkStatus();
      event = impl.Enqueue(Event::Kind::kResult, it->second, false, &result);
    }
  }
  if (event == nullptr) {
    std::unique_lock lock(impl.mu);
    auto it = impl.records.find(result.credential_id);
    if (it == impl.records.end()) {
      return CredentialNotFound(result.credential_id);
    }
    // The change is made on a copy from the snapshot pool, which reuses the storage of the
    // snapshot this credential's last result replaced, once nobody holds that any more.
    std::unique_ptr<Credential> next = impl.snapshots->Copy(*it->second);
    bool entered_cooldown = false;
    const internal::ResultPolicy policy = impl.ResultPolicyFor(impl.ProviderLabel(*it->second));
    const bool changed = internal::ApplyResult(*next, result, policy, now,
                                               &impl.scheduler.Models(result.credential_id),
                                               &entered_cooldown);
    if (impl.metrics->enabled()) {
      std::optional<observe::CooldownCause> entered;
      if (entered_cooldown) {
        entered = observe::CooldownCauseOf(result.http_status, result.error_code, result.error_message);
      }
      impl.CountResult(*it->second, result, entered);
    }
    std::shared_ptr<const Credential> snapshot;
    if (changed) {
      if (impl.shared) [[unlikely]] impl.QueueHealthDiff(*it->second, *next);
      snapshot = impl.snapshots->Publish(std::move(next));
      // The replaced snapshot goes back to the pool once nobody holds it.
      impl.PublishHealth(it, snapshot, now);
    } else {
      impl.snapshots->Discard(std::move(next));
      snapshot = it->second;
    }
    event = impl.Enqueue(Event::Kind::kResult, std::move(snapshot), changed, &result);
  }
  if (impl.shared) [[unlikely]] impl.DrainShared();
  return impl.Finish(event);
}

absl::Status Manager::MarkCorrected(const Result& reported) {
  Result corrected = reported;
  corrected.retry_after = std::clamp(*reported.retry_after, absl::ZeroDuration(), kMaxRetryAfter);
  impl_->Log(LogLevel::kWarning, "results",
             internal::Cat("result for ", reported.credential_id, ": Retry-After ",
                           *reported.retry_after < absl::ZeroDuration() ? "below 0 taken as 0"
                                                                       : "over 30 days taken as 30 days"));
  return MarkResult(corrected);
}

absl::Status Manager::ResetCooldowns(std::string_view id, std::string_view model) {
  std::unique_lock lock(impl_->mu);
  auto it = impl_->records.find(id);
  if (it == impl_->records.end()) {
    return CredentialNotFound(id);
  }
  const absl::Time now = impl_->clock->Now();
  Credential next = *it->second;
  const std::string_view key = CanonicalModelKey(model);
  for (auto& [state_key, state] : next.model_states) {
    if (!key.empty() && state_key != key) continue;
    if (internal::IsClean(state)) continue;
    internal::ResetModelState(state);
    state.updated_at = now;
  }
  internal::RecomputeAggregates(next, now, &impl_->scheduler.Models(id));
  if (key.empty()) {
    next.unavailable = false;
    next.next_retry_after = ZeroTime();
    next.quota = QuotaState{};
  }
  if (!internal::HasModelError(next, now) && !next.IsDisabled()) {
    next.last_error.reset();
    next.status_message.clear();
    next.status = CredentialStatus::kActive;
  }
  if (next == *it->second) return absl::OkStatus();
  next.updated_at = now;
  if (impl_->shared) impl_->QueueHealthDiff(*it->second, next);
  auto snapshot = std::make_shared<const Credential>(std::move(next));
  impl_->Publish(snapshot);
  std::shared_ptr<Event> event = impl_->Enqueue(Event::Kind::kUpdated, std::move(snapshot), true);
  lock.unlock();
  if (impl_->shared) impl_->DrainShared();
  return impl_->Finish(event);
}

std::vector<std::string> Manager::Models(std::string_view id) const {
  std::optional<ServedModels> served = GetServedModels(id);
  return served ? std::move(served->models) : std::vector<std::string>();
}

absl::Status Manager::SetRetrySettings(const RetrySettings& settings) {
  if (absl::Status s = ValidateRetrySettings(settings); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(impl_->retry_mu);
  impl_->retry = settings;
  return absl::OkStatus();
}

RetrySettings Manager::GetRetrySettings() const { return impl_->Retry(); }

void Manager::SetCooling(bool disable_cooling, int64_t transient_error_cooldown_seconds) {
  std::unique_lock lock(impl_->mu);
  impl_->policy.disable_cooling = disable_cooling;
  impl_->policy.transient_cooldown_seconds = transient_error_cooldown_seconds;
}

void Manager::SetStrategy(RoutingStrategy strategy) {
  std::unique_lock lock(impl_->mu);
  impl_->scheduler.SetStrategy(strategy);
}

RoutingStrategy Manager::strategy() const {
  std::shared_lock lock(impl_->mu);
  return impl_->scheduler.strategy();
}

void Manager::SetSelector(std::shared_ptr<Selector> selector) {
  std::shared_ptr<Selector> old;
  {
    std::unique_lock lock(impl_->mu);
    if (impl_->selector == selector) return;  // the same one: nothing is let go
    old = std::exchange(impl_->selector, std::move(selector));
  }
  // Outside the lock: stop what was let go, once; `old` is released after.
  if (auto* stoppable = dynamic_cast<StoppableSelector*>(old.get())) {
    try {
      stoppable->Stop();
    } catch (...) {
      impl_->Log(LogLevel::kError, "selector", "the host selector's Stop threw an exception");
    }
  }
}

absl::StatusOr<PickResult> Manager::Pick(std::string_view provider, std::string_view model) {
  PickRequest request;
  request.providers = std::span<const std::string_view>(&provider, 1);
  request.model = model;
  return Pick(request);
}

absl::Status Manager::SetSessionAffinity(bool enabled, absl::Duration ttl) {
  if (ttl <= absl::ZeroDuration() || ttl > kMaxSessionAffinityTtl) {
    return absl::InvalidArgumentError("session affinity ttl must be greater than 0 and at most 30 days");
  }
  std::shared_ptr<SessionCache> old;
  {
    std::unique_lock lock(impl_->mu);
    if (enabled && impl_->sessions) {
      impl_->sessions->set_ttl(ttl);  // a reload that keeps affinity on keeps every binding
      return absl::OkStatus();
    }
    if (enabled) {
      absl::StatusOr<std::unique_ptr<SessionCache>> cache = SessionCache::Create(
          {.ttl = ttl, .max_entries = impl_->session_max_entries, .clock = impl_->clock});
      if (!cache.ok()) return cache.status();
      impl_->sessions = std::shared_ptr<SessionCache>(*std::move(cache));
    } else {
      old = std::move(impl_->sessions);
      impl_->sessions = nullptr;
      // Under the lock, so that no snapshot sees the count fall.
      if (old) impl_->session_evictions_before.fetch_add(old->evictions(), std::memory_order_relaxed);
    }
    impl_->affinity.store(impl_->sessions != nullptr, std::memory_order_release);
  }
  if (old) old->Stop();  // once, outside the lock; in-flight picks may still hold it
  return absl::OkStatus();
}

void Manager::SetSessionIdentity(bool content_sources, SessionScope scope,
                                 ContentIdentity content) {
  impl_->session_content.store(content_sources, std::memory_order_relaxed);
  impl_->content_identity.store(content, std::memory_order_relaxed);
  impl_->session_scope.store(scope, std::memory_order_relaxed);
}

void Manager::SetSessionPlacement(SessionPlacement placement) {
  impl_->session_placement.store(placement, std::memory_order_relaxed);
}

absl::Status Manager::SetSessionAffinityMaxEntries(size_t max_entries) {
  if (max_entries == 0 || max_entries > kMaxSessionAffinityEntries) {
    return absl::InvalidArgumentError(
        "session affinity max entries must be between 1 and 100000000");
  }
  std::lock_guard<std::mutex> serial(impl_->session_bound_mu);
  std::shared_ptr<SessionCache> sessions;
  {
    std::unique_lock lock(impl_->mu);
    impl_->session_max_entries = max_entries;
    sessions = impl_->sessions;
  }
  // Outside the lock: shrinking may evict many groups, and picks need not wait for that.
  if (sessions) sessions->set_max_entries(max_entries);
  return absl::OkStatus();
}

absl::StatusOr<PickResult> Manager::Pick(const PickRequest& request) {
  return PickCounting(request, true);
}

absl::StatusOr<PickResult> Manager::PickCounting(const PickRequest& request, bool count_failures) {
  Impl& impl = *impl_;
  SessionOutcome session = SessionOutcome::kNone;
  absl::StatusOr<PickResult> pick = impl.affinity.load(std::memory_order_acquire)
                                        ? PickSession(request, &session)
                                        : PickUnbound(request);
  if (pick.ok() && pick->lease.held() && impl.FleetExact()) [[unlikely]] {
    pick = PickFleet(request, std::move(pick), &session);
  }
  if (impl.metrics->enabled()) [[likely]] {
    if (pick.ok()) [[likely]] {
      impl.metrics->CountPicked(pick->provider, pick->credential->id);
    } else if (count_failures) {
      impl.CountPickFailure(request, pick.status());
    }
    impl.metrics->CountSession(session);
  }
  if (request.decision != nullptr) [[unlikely]] impl.Explain(request, pick, session, request.decision);
  return pick;
}

namespace {
// The credentials this thread's pick found full across the fleet (PickFleet), for the session
// logic: a bound one among them is busy, so the request goes elsewhere and the binding stays.
thread_local const std::deque<std::string>* t_fleet_full = nullptr;

bool FleetFull(std::string_view id) {
  return t_fleet_full != nullptr && std::find(t_fleet_full->begin(), t_fleet_full->end(), id) != t_fleet_full->end();
}
}  // namespace

absl::StatusOr<PickResult> Manager::PickFleet(const PickRequest& request, absl::StatusOr<PickResult> pick,
                                              SessionOutcome* session) {
  // At most this many credentials found full across the fleet before the pick answers busy.
  constexpr size_t kMaxFleetRounds = 16;
  Impl& impl = *impl_;
  const std::string model_key(CanonicalModelKey(request.model));
  std::deque<std::string> full;  // stable addresses: `tried` views them
  std::vector<std::string_view> tried(request.tried.begin(), request.tried.end());
  PickRequest retry = request;
  retry.decision = nullptr;
  while (pick.ok() && pick->lease.held()) {
    if (impl.TakeFleetLease(&*pick, model_key)) return pick;
    full.push_back(pick->credential->id);
    tried.push_back(full.back());
    pick = absl::UnavailableError("");  // releases the local place
    if (full.size() >= kMaxFleetRounds) break;
    retry.tried = tried;
    t_fleet_full = &full;
    pick = impl.affinity.load(std::memory_order_acquire) ? PickSession(retry, session) : PickUnbound(retry);
    t_fleet_full = nullptr;
  }
  if (pick.ok()) return pick;  // an unlimited credential took it
  std::optional<RoutingError> e = GetRoutingError(pick.status());
  if (full.size() < kMaxFleetRounds && e &&
      e->reason != RoutingReason::kAllTried && e->reason != RoutingReason::kAllBusy) {
    return pick;  // the rest are out for their own reasons
  }
  const std::string_view label = request.providers.size() == 1 ? request.providers.front() : "mixed";
  absl::Duration retry_after = absl::Seconds(1);
  {
    std::shared_lock lock(impl.mu);
    retry_after = impl.scheduler.lease_options().busy_retry_after;
  }
  return AuthBusyError(request.model, label, retry_after,
                       {RoutingReason::kAllBusy,
                        internal::Cat(static_cast<int64_t>(full.size()),
                                      " credentials are at their concurrency limit across the fleet")});
}

absl::StatusOr<PickResult> Manager::PickSession(const PickRequest& request, SessionOutcome* outcome) {
  Impl& impl = *impl_;
  std::shared_ptr<SessionCache> sessions;
  {
    std::shared_lock lock(impl.mu);
    sessions = impl.sessions;
  }
  if (!sessions) return PickUnbound(request);
  thread_local SessionIdExtractor extractor;
  const SessionIds ids = extractor.Extract(
      request.headers, request.body,
      SessionIdOptions{.content_sources = impl.session_content.load(std::memory_order_relaxed),
                       .content = impl.content_identity.load(std::memory_order_relaxed)});
  if (ids.primary.empty() && ids.chain.empty() && ids.previous_response_id.empty()) {
    if (request.body.size() > (size_t{4} << 20)) extractor.ReleaseLargeBuffers();
    return PickUnbound(request);
  }

  const internal::RequestSpec prepared(request);
  if (prepared.empty()) return ProviderNotFoundError();
  const internal::PickSpec& spec = prepared.spec();

  // Cache keys are "[tenant:<16 hex>::]<provider or mixed>::<session ID>::<canonical model>"
  // (later fix A8); with SessionScope::kProvider the model is left out. Response chains are
  // "[tenant:<16 hex>::]resp::<response ID>". The tenant is hashed once per pick.
  const std::string_view label = spec.providers.size() == 1 ? spec.providers.front() : "mixed";
  const bool per_model = impl.session_scope.load(std::memory_order_relaxed) == SessionScope::kModel;
  thread_local std::string tenant, key, fallback_key, response_key, chain_key, bound;
  tenant.clear();
  AppendTenant(&tenant, request.tenant);
  const auto make_key = [&](std::string* out, std::string_view id) {
    out->assign(tenant);
    internal::Append(out, label, "::", id, "::", per_model ? spec.model_key : std::string_view());
  };
  if (!ids.primary.empty()) {
    make_key(&key, ids.primary);
  } else {
    key.clear();
  }
  if (!ids.fallback.empty() && ids.fallback != ids.primary) {
    make_key(&fallback_key, ids.fallback);
  } else {
    fallback_key.clear();
  }
  // A conversation chain looks up the request it continues (`key`) and binds its own.
  if (!ids.chain.empty()) {
    make_key(&chain_key, ids.chain);
  } else {
    chain_key.clear();
  }
  response_key.clear();
  if (!ids.previous_response_id.empty()) {
    internal::Append(&response_key, tenant, "resp::", ids.previous_response_id);
  }
  if (request.body.size() > (size_t{4} << 20)) extractor.ReleaseLargeBuffers();  // ids copied

  // PickBound answers whether credential `id` can take this request now, in any tier (A6).
  // `bound_busy`: it could, but is at its concurrency limit.
  bool bound_busy = false;
  const auto pick_bound = [&](std::string_view id) -> std::optional<PickResult> {
    if (FleetFull(id)) [[unlikely]] {
      bound_busy = true;
      return std::nullopt;
    }
    {
      std::shared_lock lock(impl.mu);
      SchedulerPick r = impl.scheduler.PickBound(spec, id, *impl.clock);
      if (r.kind == SchedulerPick::kPicked) return *Impl::Picked(r);
      if (r.kind != SchedulerPick::kNeedsWrite) {
        bound_busy = r.busy;
        return std::nullopt;
      }
    }
    std::unique_lock lock(impl.mu);
    const FixedClock now(impl.clock->Now());
    impl.scheduler.Prepare(spec, now.Now());
    SchedulerPick r = impl.scheduler.PickBound(spec, id, now);
    bound_busy = r.busy;
    if (r.kind != SchedulerPick::kPicked) return std::nullopt;
    return *Impl::Picked(r);
  };
  // RemoteBound asks the shared state for a binding this replica does not know (once per pick,
  // with its timeout), into `bound`.
  bool asked_remote = false;  // one lookup per pick, whatever it asks
  const auto remote_bound = [&](std::string_view k) -> bool {
    if (!impl.shared || k.empty() || asked_remote) return false;
    asked_remote = true;
    std::optional<std::string> id = impl.LookupSharedBinding(k);
    if (!id) return false;
    bound = *std::move(id);
    return true;
  };
  ResponseChain chain = ResponseChain::kNone;
  const auto bind = [&](absl::StatusOr<PickResult> pick) -> absl::StatusOr<PickResult> {
    if (!pick.ok()) return pick;
    pick->response_chain = chain;
    if (!chain_key.empty()) {
      const std::string_view keys[] = {chain_key};
      pick->session = sessions->SetAliases(keys, pick->credential->id);
      if (impl.shared) impl.PublishBindings(keys, pick->credential->id, sessions->ttl());
      return pick;
    }
    if (key.empty()) return pick;
    const std::string_view keys[] = {key, fallback_key};
    pick->session = sessions->SetAliases(keys, pick->credential->id);
    if (impl.shared) impl.PublishBindings(keys, pick->credential->id, sessions->ttl());
    return pick;
  };

  // The bound credential is ready but at its concurrency limit: this request goes elsewhere at
  // once (no waiting), and the binding stays for the conversation's next turn.
  const auto busy_fallback = [&]() -> absl::StatusOr<PickResult> {
    *outcome = SessionOutcome::kBusyFallback;
    absl::StatusOr<PickResult> pick = PickUnbound(request);
    if (pick.ok()) pick->response_chain = chain;
    return pick;
  };

  // A previous_response_id goes where that response was produced: another account's upstream
  // would not find it.
  if (!response_key.empty()) {
    chain = ResponseChain::kBroken;
    *outcome = SessionOutcome::kMiss;
    if (sessions->GetAndRefresh(response_key, &bound, nullptr) || remote_bound(response_key)) {
      if (std::optional<PickResult> hit = pick_bound(bound)) {
        chain = ResponseChain::kFollowed;
        *outcome = SessionOutcome::kHit;
        return bind(*std::move(hit));
      }
      *outcome = bound_busy ? SessionOutcome::kBusyFallback : SessionOutcome::kReboundUnavailable;
    }
    if (key.empty()) return bind(PickUnbound(request));
  }

  if (key.empty() && !chain_key.empty()) {
    // A conversation's first request. The same opening seen before (another conversation
    // opening with the same boilerplate, or a retry the host sends without naming the bound
    // credential as tried) marks it shared: its continuations then pick anew instead of all
    // following one credential. A retry that names the bound credential as tried (as Execute
    // does within a round) is this very request again: it rebinds.
    const bool seen = sessions->Get(chain_key, &bound);
    if (seen && std::find(request.tried.begin(), request.tried.end(), bound) == request.tried.end()) {
      *outcome = SessionOutcome::kReboundSharedOpening;
      sessions->Set(chain_key, kSharedOpening);
      absl::StatusOr<PickResult> pick = PickUnbound(request);
      if (pick.ok()) pick->response_chain = chain;
      return pick;
    }
    *outcome = seen ? SessionOutcome::kReboundUnavailable : SessionOutcome::kMiss;
    return bind(PickPlaced(request, chain_key));
  }

  std::shared_ptr<const std::string> handle;
  if (sessions->GetAndRefresh(key, &bound, &handle)) {
    if (bound == kSharedOpening) {
      // The request continues an opening many conversations share: nothing to follow.
      *outcome = SessionOutcome::kMiss;
      return bind(PickUnbound(request));
    }
    if (std::optional<PickResult> hit = pick_bound(bound)) {
      *outcome = SessionOutcome::kHit;
      if (!chain_key.empty()) return bind(*std::move(hit));  // the chain goes on: bind its new end
      // A fallback ID not yet in the group joins it, as upstream binds both on every hit.
      thread_local std::string fallback_bound;
      if (!fallback_key.empty() &&
          !(sessions->Get(fallback_key, &fallback_bound) && fallback_bound == bound)) {
        return bind(*std::move(hit));
      }
      hit->session = std::move(handle);
      hit->response_chain = chain;
      return *std::move(hit);
    }
    if (bound_busy) return busy_fallback();
    *outcome = SessionOutcome::kReboundUnavailable;
    return bind(PickPlaced(request, key));  // the bound credential is out: re-bind
  }
  if (!fallback_key.empty() && sessions->Get(fallback_key, &bound)) {
    // The second turn inherits the first turn's binding (primary and fallback bound together).
    if (std::optional<PickResult> hit = pick_bound(bound)) {
      *outcome = SessionOutcome::kInherited;
      return bind(*std::move(hit));
    }
    if (bound_busy) return busy_fallback();
    *outcome = SessionOutcome::kReboundUnavailable;
    return bind(PickPlaced(request, key));
  }
  if (*outcome != SessionOutcome::kReboundUnavailable && *outcome != SessionOutcome::kBusyFallback) {
    *outcome = SessionOutcome::kMiss;
  }
  if (remote_bound(key) && bound != kSharedOpening) {
    // Bound on another replica: honoured here, and bound here too.
    if (std::optional<PickResult> hit = pick_bound(bound)) {
      *outcome = SessionOutcome::kHit;
      return bind(*std::move(hit));
    }
    if (bound_busy) return busy_fallback();
    *outcome = SessionOutcome::kReboundUnavailable;
  }
  return bind(PickPlaced(request, key));
}

absl::StatusOr<PickResult> Manager::PickPlaced(const PickRequest& request, std::string_view session_key) {
  Impl& impl = *impl_;
  if (impl.session_placement.load(std::memory_order_relaxed) != SessionPlacement::kRendezvous) {
    return PickUnbound(request);
  }
  const internal::RequestSpec prepared(request);
  if (prepared.empty()) return ProviderNotFoundError();
  internal::PickSpec spec = prepared.spec();
  spec.placed = true;
  spec.placement_key = internal::PlacementHash(session_key);
  bool selector = false;
  {
    std::shared_lock lock(impl.mu);
    selector = impl.selector != nullptr;
    if (!selector) {
      SchedulerPick r = impl.scheduler.Pick(spec, *impl.clock);
      if (r.kind == SchedulerPick::kPicked) return Impl::Picked(r);
      if (r.kind == SchedulerPick::kError) return std::move(r.error);
    }
  }
  if (selector) return PickUnbound(request);  // the host's selector decides
  return impl.PickBuiltIn(spec);
}

absl::StatusOr<PickResult> Manager::Impl::PickBuiltIn(const PickSpec& spec) {
  {
    std::shared_lock lock(mu);
    SchedulerPick r = scheduler.Pick(spec, *clock);
    if (r.kind == SchedulerPick::kPicked) return Picked(r);
    if (r.kind == SchedulerPick::kError) return std::move(r.error);
  }
  // The pick first needs a shard built, a cooldown promoted, a probe handed out or a rotation
  // created.
  std::unique_lock lock(mu);
  const FixedClock now(clock->Now());
  scheduler.Prepare(spec, now.Now());
  SchedulerPick r = scheduler.PickExclusive(spec, now);
  if (r.kind == SchedulerPick::kPicked) return Picked(r);
  if (r.kind == SchedulerPick::kError) return std::move(r.error);
  return absl::InternalError("scheduler pick did not settle");
}

absl::StatusOr<PickResult> Manager::PickUnbound(const PickRequest& request) {
  const internal::RequestSpec prepared(request);
  if (prepared.empty()) return ProviderNotFoundError();
  const internal::PickSpec& spec = prepared.spec();
  Impl& impl = *impl_;

  std::shared_ptr<Selector> selector;
  {
    std::shared_lock lock(impl.mu);
    if (impl.selector == nullptr) {
      SchedulerPick r = impl.scheduler.Pick(spec, *impl.clock);
      if (r.kind == SchedulerPick::kPicked) [[likely]] {
        return Impl::Picked(r);
      }
      if (r.kind == SchedulerPick::kError) return std::move(r.error);
    } else {
      selector = impl.selector;
    }
  }
  if (selector == nullptr) return impl.PickBuiltIn(spec);
  return impl.PickWithSelector(request, spec, *selector);
}

absl::StatusOr<PickResult> Manager::Impl::Chosen(const PickSpec& spec,
                                                 std::shared_ptr<const Credential> credential,
                                                 std::string_view provider) {
  PickResult r;
  r.credential = std::move(credential);
  r.provider = provider;
  {
    std::shared_lock lock(mu);
    if (scheduler.LeaseChosen(spec, r.credential->id, *clock, &r.lease)) return r;
  }
  // It filled up since the candidates were collected: the built-in strategy answers, within the
  // limits.
  Log(LogLevel::kInfo, "selector",
      internal::Cat("the host selector chose ", r.credential->id,
                    ", which is at its concurrency limit now; the built-in strategy answered"));
  return PickBuiltIn(spec);
}

absl::StatusOr<PickResult> Manager::Impl::PickWithSelector(const PickRequest& request, const PickSpec& spec,
                                                           Selector& host) {
  // Collect the candidates, then call the selector outside every lock.
  const SelectorMode mode = host.mode();
  const bool decide = mode == SelectorMode::kDecide || mode == SelectorMode::kDecideAllTiers;
  const bool all_tiers = mode == SelectorMode::kDecideAllTiers;
  std::vector<std::shared_ptr<const Credential>> candidates;
  std::vector<std::string_view> candidate_providers;
  std::vector<int64_t> priorities;
  absl::Status status;
  bool prepare = false;
  {
    std::shared_lock lock(mu);
    prepare = scheduler.NeedsPrepare(spec, *clock);
    if (!prepare) {
      status = scheduler.Candidates(spec, *clock, &candidates, &candidate_providers, all_tiers, &priorities);
    }
  }
  if (prepare) {
    std::unique_lock lock(mu);
    const FixedClock now(clock->Now());
    scheduler.Prepare(spec, now.Now());
    status = scheduler.Candidates(spec, now, &candidates, &candidate_providers, all_tiers, &priorities);
  }
  if (!status.ok()) return status;
  SelectContext context;
  context.provider = spec.providers.size() == 1 ? spec.providers.front() : "mixed";
  context.model = request.model;
  context.downstream_websocket = request.downstream_websocket;
  // Reported (never with a secret: IDs, counts and durations only); the built-in strategy answers.
  const auto fall_back = [&](std::string_view why) {
    Log(LogLevel::kWarning, "selector",
        internal::Cat(why, "; the built-in strategy answered (providers ", context.provider, ", model ",
                      request.model.empty() ? std::string_view("(any)") : request.model, ")"));
    return PickBuiltIn(spec);
  };
  const auto over_budget = [&](absl::Time started) -> std::optional<std::string> {
    const absl::Duration took = clock->Now() - started;
    if (took <= selector_budget) return std::nullopt;
    return internal::Cat("the host selector took ", absl::FormatDuration(took), ", over its budget of ",
                         absl::FormatDuration(selector_budget));
  };

  if (!decide) {
    const absl::Time started = clock->Now();
    absl::StatusOr<size_t> chosen = host.Select(context, candidates);
    if (std::optional<std::string> slow = over_budget(started)) return fall_back(*slow);
    if (!chosen.ok()) return chosen.status();  // the host's own error, as it said it
    if (*chosen >= candidates.size()) {
      return AuthNotFoundError("selector returned no auth", spec.providers, spec.model,
                               {RoutingReason::kSelector,
                                internal::Cat("the host selector chose none of ",
                                              static_cast<int64_t>(candidates.size()), " candidates")});
    }
    return Chosen(spec, std::move(candidates[*chosen]), candidate_providers[*chosen]);
  }

  // A policy: secret-free views of the candidates, partitioned into tiers.
  std::vector<SelectCandidate> views(candidates.size());
  std::vector<SelectTier> tiers;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const Credential& c = *candidates[i];
    SelectCandidate& v = views[i];
    v.id = c.id;
    v.provider = candidate_providers[i];
    v.label = c.label;
    v.prefix = c.prefix;
    v.virtual_parent = c.VirtualParent();
    v.priority = priorities[i];
    v.weight = c.Weight();
    v.websockets = c.WebsocketsEnabled();
    if (tiers.empty() || tiers.back().priority != v.priority) tiers.push_back({v.priority, i, 0});
    ++tiers.back().count;
  }
  SelectDecision d;
  const absl::Time started = clock->Now();
  try {
    d = host.Decide(context, views, tiers);
  } catch (...) {
    return fall_back("the host selector's Decide threw an exception");
  }
  if (std::optional<std::string> slow = over_budget(started)) return fall_back(*slow);
  switch (d.kind) {
    case SelectDecision::Kind::kDelegate:
      return PickBuiltIn(spec);
    case SelectDecision::Kind::kPick:
      if (d.pick >= candidates.size()) {
        return fall_back(internal::Cat("the host selector picked candidate ", static_cast<int64_t>(d.pick),
                                       " of ", static_cast<int64_t>(candidates.size())));
      }
      return Chosen(spec, std::move(candidates[d.pick]), candidate_providers[d.pick]);
    case SelectDecision::Kind::kExclude: {
      std::vector<bool> out(candidates.size(), false);
      size_t excluded = 0;
      for (size_t i : d.exclude) {
        if (i >= candidates.size()) {
          return fall_back(internal::Cat("the host selector excluded candidate ", static_cast<int64_t>(i),
                                         " of ", static_cast<int64_t>(candidates.size())));
        }
        if (!out[i]) ++excluded;
        out[i] = true;
      }
      if (excluded == candidates.size()) {
        return AuthNotFoundError("selector returned no auth", spec.providers, spec.model,
                                 {RoutingReason::kSelector,
                                  internal::Cat("the host selector excluded every one of ",
                                                static_cast<int64_t>(candidates.size()), " candidates")});
      }
      // The built-in strategy over the rest: the excluded ones count as tried.
      std::vector<std::string_view> tried(spec.pred.tried.begin(), spec.pred.tried.end());
      for (size_t i = 0; i < candidates.size(); ++i) {
        if (out[i]) tried.push_back(candidates[i]->id);
      }
      PickSpec narrowed = spec;
      narrowed.pred.tried = tried;
      return PickBuiltIn(narrowed);
    }
    case SelectDecision::Kind::kReject:
      if (d.http_status < 400 || d.http_status > 599) {
        return fall_back(internal::Cat("the host selector rejected with HTTP status ",
                                       static_cast<int64_t>(d.http_status), " (not 400..599)"));
      }
      return SelectorRejectedError(d.http_status, d.message.empty() ? "rejected by the routing policy" : d.message,
                                   spec.providers, spec.model);
  }
  return fall_back("the host selector answered with an unknown decision");
}

}  // namespace v0
}  // namespace authrouter

namespace authrouter::internal {

void ManagerAccess::Serialized(Manager& manager, const std::function<void()>& fn) {
  manager.impl_->Serialized(fn);
}

void ManagerAccess::CountConfigReload(Manager& manager, bool applied) {
  if (manager.impl_->metrics->enabled()) manager.impl_->metrics->CountConfigReload(applied);
}

bool ManagerAccess::InCallback(const Manager& manager) {
  const void* impl = manager.impl_.get();
  return DeliveringFor(impl) || LoopOwner() == impl;
}

bool ManagerAccess::OnLibraryThread(const Manager& manager) {
  return LoopOwner() == manager.impl_.get() || LibraryThreadOf() == &manager;
}

ManagerAccess::LibraryThread::LibraryThread(const Manager* manager)
    : previous_(static_cast<const Manager*>(LibraryThreadOf())) {
  LibraryThreadOf() = manager;
}

ManagerAccess::LibraryThread::~LibraryThread() { LibraryThreadOf() = previous_; }

}  // namespace authrouter::internal
