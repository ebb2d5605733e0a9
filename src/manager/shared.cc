// The Manager's side of shared state (shared_state.h): what it publishes after a change, how it
// applies what other replicas publish, and the resync after a (re)connect.
#include <algorithm>

#include "authrouter/model_key.h"
#include "authrouter/shared_state.h"
#include "internal/strings.h"
#include "manager/manager_impl.h"
#include "routing/lease_slots.h"

namespace authrouter {
inline namespace v0 {
namespace {

using internal::Event;

// The longest a resync waits for one credential's shared record.
constexpr absl::Duration kSharedReadTimeout = absl::Milliseconds(500);

// RecordState is the credential's own (model-less) health in the shared form.
ModelState RecordState(const Credential& c) {
  ModelState m;
  m.status = c.status;
  m.status_message = c.status_message;
  m.unavailable = c.unavailable;
  m.next_retry_after = c.next_retry_after;
  m.last_error = c.last_error;
  m.quota = c.quota;
  m.updated_at = c.updated_at;
  m.failure_streak = c.failure_streak;
  return m;
}

// SameHealth compares two states ignoring when they were written.
bool SameHealth(ModelState a, const ModelState& b) {
  a.updated_at = b.updated_at;
  return a == b;
}

const ModelState& CleanState() {
  static const ModelState clean{};
  return clean;
}

const ModelState& StateOf(const Credential& c, const std::string& model) {
  auto it = c.model_states.find(model);
  return it == c.model_states.end() ? CleanState() : it->second;
}

}  // namespace

// The listener the Manager attaches to its SharedState.
struct Manager::Impl::SharedLink final : public SharedStateListener {
  explicit SharedLink(Manager::Impl* impl) : impl_(impl) {}
  void OnHealth(const SharedHealth& health) override { impl_->ApplyRemoteHealth(health); }
  void OnDisabled(std::string_view credential_id, bool disabled) override {
    impl_->ApplyRemoteDisabled(credential_id, disabled);
  }
  bool OnResync() override { return impl_->ResyncShared({}); }
  void OnTokenChanged(std::string_view credential_id, uint64_t version) override {
    impl_->OnTokenChanged(credential_id, version);
  }

  Manager::Impl* const impl_;
};

void Manager::Impl::AttachShared(std::shared_ptr<SharedState> state, absl::Duration lookup_timeout) {
  shared = std::move(state);
  shared_lookup_timeout = lookup_timeout;
  shared_link = std::make_unique<SharedLink>(this);
  shared->Attach(shared_link.get());
}

void Manager::Impl::DetachShared() {
  if (shared) shared->Detach(shared_link.get());
}

void Manager::Impl::QueueHealthDiff(const Credential& before, const Credential& after) {
  std::lock_guard<std::mutex> lock(shared_mu);
  for (const auto& [model, state] : after.model_states) {
    if (!SameHealth(StateOf(before, model), state)) {
      QueueHealthLocked(SharedHealth{after.id, model, state});
    }
  }
  for (const auto& [model, state] : before.model_states) {
    if (!after.model_states.contains(model) && !internal::IsClean(state)) {
      ModelState clean;
      clean.updated_at = after.updated_at;
      QueueHealthLocked(SharedHealth{after.id, model, clean});
    }
  }
  const ModelState record = RecordState(after);
  if (!SameHealth(RecordState(before), record)) {
    QueueHealthLocked(SharedHealth{after.id, "", record});
  }
}

namespace {
// How long a published health entry waits for its own notice before it is forgotten.
constexpr auto kSharedPendingLimit = std::chrono::seconds(2);

std::string PendingKey(const SharedHealth& h) {
  std::string key = h.credential_id;
  key.push_back('\0');
  key += h.model;
  return key;
}
}  // namespace

void Manager::Impl::QueueHealthLocked(SharedHealth h) {
  shared_pending[PendingKey(h)].push_back(
      PendingHealth{SharedHealthToJson(h.state), std::chrono::steady_clock::now()});
  shared_out.push_back(internal::SharedOp{false, std::move(h)});
}

bool Manager::Impl::OwnOrSupersededLocked(const SharedHealth& h) {
  auto it = shared_pending.find(PendingKey(h));
  if (it == shared_pending.end()) return false;
  std::deque<PendingHealth>& pending = it->second;
  const auto oldest = std::chrono::steady_clock::now() - kSharedPendingLimit;
  while (!pending.empty() && pending.front().queued < oldest) pending.pop_front();
  bool skip = false;
  if (!pending.empty()) {
    skip = true;  // this replica's newer write is stored after it
    if (pending.front().json == SharedHealthToJson(h.state)) pending.pop_front();  // its own
  }
  if (pending.empty()) shared_pending.erase(it);
  return skip;
}

void Manager::Impl::QueueDisabled(std::string_view id, bool disabled, absl::Time at) {
  std::lock_guard<std::mutex> lock(shared_mu);
  QueueDisabledLocked(id, disabled, at);
}

void Manager::Impl::QueueDisabledLocked(std::string_view id, bool disabled, absl::Time at) {
  internal::SharedOp op{true, SharedHealth{std::string(id), "", {}}};
  op.disabled = disabled;
  op.health.state.updated_at = at;
  shared_out.push_back(std::move(op));
}

void Manager::Impl::DrainShared() {
  std::unique_lock<std::mutex> lock(shared_mu);
  if (shared_draining) return;  // that thread delivers ours too, in order
  shared_draining = true;
  while (!shared_out.empty()) {
    internal::SharedOp op = std::move(shared_out.front());
    shared_out.pop_front();
    lock.unlock();
    try {
      if (op.disabled_op) {
        shared->PublishDisabled(op.health.credential_id, op.disabled, op.health.state.updated_at);
      } else {
        shared->PublishHealth(op.health);
      }
    } catch (...) {
    }
    lock.lock();
  }
  shared_draining = false;
}

bool Manager::Impl::AdoptHealth(Credential& c, const SharedHealth& h, absl::Time now) {
  if (h.model.empty()) {
    const ModelState& s = h.state;
    if (SameHealth(RecordState(c), s)) return false;
    if (!c.IsDisabled()) {  // the operator flag is shared on its own
      c.status = s.status;
      c.status_message = s.status_message;
    }
    c.unavailable = s.unavailable;
    c.next_retry_after = s.next_retry_after;
    c.last_error = s.last_error;
    c.quota = s.quota;
    c.failure_streak = s.failure_streak;
    c.updated_at = std::max(c.updated_at, s.updated_at);
    return true;
  }
  if (h.model != CanonicalModelKey(h.model)) return false;  // not a key this library writes
  const ModelState& local = StateOf(c, h.model);
  if (SameHealth(local, h.state)) return false;
  if (internal::IsClean(h.state)) {
    c.model_states.erase(h.model);
  } else {
    c.model_states.insert_or_assign(h.model, h.state);
  }
  internal::RecomputeAggregates(c, now, &scheduler.Models(c.id));
  c.updated_at = std::max(c.updated_at, h.state.updated_at);
  return true;
}

void Manager::Impl::ApplyRemoteHealth(const SharedHealth& h) {
  std::shared_ptr<Event> event;
  {
    std::unique_lock lock(mu);
    auto it = records.find(h.credential_id);
    if (it == records.end()) return;  // read when it is registered (ResyncShared)
    {
      std::lock_guard<std::mutex> out(shared_mu);  // the order: mu, then shared_mu
      if (OwnOrSupersededLocked(h)) return;
    }
    const absl::Time now = clock->Now();
    std::unique_ptr<Credential> next = snapshots->Copy(*it->second);
    if (!AdoptHealth(*next, h, now)) {
      snapshots->Discard(std::move(next));
      return;
    }
    std::shared_ptr<const Credential> snapshot = snapshots->Publish(std::move(next));
    PublishHealth(it, snapshot, now);
    // Not persisted, not published again: the replica that made the change did both.
    event = Enqueue(Event::Kind::kUpdated, std::move(snapshot), /*persist=*/false);
  }
  (void)Finish(event);
}

void Manager::Impl::ApplyRemoteDisabled(std::string_view id, bool disabled) {
  {
    std::shared_lock lock(mu);
    auto it = records.find(id);
    if (it == records.end() || it->second->disabled == disabled) return;
  }
  const absl::Time now = clock->Now();
  (void)Commit(id, Event::Kind::kUpdated, /*persist=*/false,
               [&](const Credential* current) -> absl::StatusOr<std::optional<Credential>> {
                 if (current == nullptr) return internal::CredentialNotFound(id);
                 return std::optional<Credential>(WithDisabled(*current, disabled, now));
               });
}

Credential Manager::Impl::WithDisabled(const Credential& current, bool disabled, absl::Time now) {
  Credential next = current;
  next.disabled = disabled;
  next.status = disabled ? CredentialStatus::kDisabled : CredentialStatus::kActive;
  next.status_message = disabled ? "disabled" : "";
  next.updated_at = now;
  return next;
}

bool Manager::Impl::ResyncShared(const std::vector<std::string>& only) {
  if (!shared) return true;
  std::vector<std::string> ids;
  {
    std::shared_lock lock(mu);
    if (only.empty()) {
      ids.reserve(records.size());
      for (const auto& [id, c] : records) ids.push_back(id);
    } else {
      for (const std::string& id : only) {
        if (records.find(id) != records.end()) ids.push_back(id);
      }
    }
  }
  if (only.empty()) {
    // After a (re)connect: notices of writes still pending may have been lost with the old
    // connection; the resync below settles those entries instead.
    std::lock_guard<std::mutex> out(shared_mu);
    shared_pending.clear();
  }
  bool complete = true;
  size_t adopted = 0, republished = 0;
  for (const std::string& id : ids) {
    absl::StatusOr<SharedRecord> record = shared->Read(id, kSharedReadTimeout);
    if (!record.ok()) {
      if (absl::IsInvalidArgument(record.status())) continue;  // a malformed record: skipped
      // The connection is gone (or slow): the caller runs the resync again later. A registration
      // while disconnected is covered by the resync after the reconnect, so it is not reported.
      if (only.empty()) {
        Log(LogLevel::kWarning, "shared-state",
            internal::Cat("resync stopped at ", id, ": ", internal::ToStd(record.status().message())));
      }
      complete = false;
      break;
    }
    // Decided against the current record, under `mu`, so that a change made while the read
    // was on its way is neither overwritten nor published out of order.
    std::shared_ptr<Event> event;
    bool adopt_disabled = false, adopt_enabled = false;
    {
      std::unique_lock lock(mu);
      auto it = records.find(id);
      if (it == records.end()) continue;  // removed meanwhile
      const absl::Time now = clock->Now();
      std::unique_ptr<Credential> next = snapshots->Copy(*it->second);
      bool changed = false;
      internal::StringSet remote_models;
      std::lock_guard<std::mutex> out(shared_mu);  // the order: mu, then shared_mu
      for (const SharedHealth& h : record->health) {
        remote_models.insert(h.model);
        if (shared_pending.contains(PendingKey(h))) continue;  // a newer write of ours is on its way
        if (h.model.empty()) {
          // The credential's own state: its updated_at is the record's, which edits and
          // refreshes move too, so it says nothing about which health is newer: the shared one
          // is taken.
          if (AdoptHealth(*next, h, now)) {
            changed = true;
            ++adopted;
          }
          continue;
        }
        const ModelState& local = StateOf(*next, h.model);
        if (SameHealth(local, h.state)) continue;
        if (local.updated_at > h.state.updated_at) {
          QueueHealthLocked(SharedHealth{id, h.model, local});
          ++republished;
        } else if (AdoptHealth(*next, h, now)) {
          changed = true;
          ++adopted;
        }
      }
      // What the shared state lacks (lost in a flush or a restart, or never written): published.
      // Cleared states are stored too (tombstones), so a missing one is never a newer clear.
      for (const auto& [model, state] : next->model_states) {
        if (!remote_models.contains(model) && !internal::IsClean(state)) {
          QueueHealthLocked(SharedHealth{id, model, state});
          ++republished;
        }
      }
      const ModelState own = RecordState(*next);
      const bool own_clean = !own.unavailable && IsZeroTime(own.next_retry_after) &&
                             own.quota == QuotaState{} && !own.last_error && own.failure_streak == 0;
      if (!remote_models.contains("") && !own_clean) {
        QueueHealthLocked(SharedHealth{id, "", own});
        ++republished;
      }
      // The operator flag: the later change wins (the shared one's time against the record's
      // last change); an unset shared flag takes this replica's.
      if (record->disabled) {
        if (*record->disabled != next->disabled) {
          if (record->disabled_at >= next->updated_at) {
            (*record->disabled ? adopt_disabled : adopt_enabled) = true;
            ++adopted;
          } else {
            QueueDisabledLocked(id, next->disabled, next->updated_at);
            ++republished;
          }
        }
      } else if (next->disabled) {
        QueueDisabledLocked(id, true, next->updated_at);
        ++republished;
      }
      if (changed) {
        std::shared_ptr<const Credential> snapshot = snapshots->Publish(std::move(next));
        PublishHealth(it, snapshot, now);
        event = Enqueue(Event::Kind::kUpdated, std::move(snapshot), /*persist=*/false);
      } else {
        snapshots->Discard(std::move(next));
      }
    }
    (void)Finish(event);
    if (adopt_disabled || adopt_enabled) ApplyRemoteDisabled(id, adopt_disabled);
  }
  DrainShared();
  if (only.empty()) {
    Log(LogLevel::kInfo, "shared-state",
        internal::Cat("resync of ", static_cast<int64_t>(ids.size()), " credentials",
                      complete ? "" : " (stopped early)", ": adopted ", static_cast<int64_t>(adopted),
                      " changes, published ", static_cast<int64_t>(republished)));
  }
  return complete;
}

std::optional<std::string> Manager::Impl::LookupSharedBinding(std::string_view key) {
  if (!shared || shared_lookup_timeout <= absl::ZeroDuration()) return std::nullopt;
  absl::StatusOr<std::optional<std::string>> bound;
  try {
    bound = shared->LookupBinding(key, shared_lookup_timeout);
  } catch (...) {
    return std::nullopt;
  }
  if (!bound.ok()) return std::nullopt;
  return *std::move(bound);
}

void Manager::Impl::PublishBindings(std::span<const std::string_view> keys, std::string_view id,
                                    absl::Duration ttl) {
  for (std::string_view key : keys) {
    if (key.empty()) continue;
    try {
      shared->PublishBinding(key, id, ttl);
    } catch (...) {
    }
  }
}

namespace {

// SharedFleetHold is the fleet-wide part of a lease: its places in the shared state, given back
// when the lease is released (the shared state outlives the Manager if the lease does).
class SharedFleetHold final : public internal::FleetHold {
 public:
  SharedFleetHold(std::shared_ptr<SharedState> shared, std::string id, std::string model)
      : shared_(std::move(shared)), id_(std::move(id)), model_(std::move(model)) {}
  void Release() override {
    if (!credential_token.empty()) shared_->ReleaseLease(id_, "", credential_token);
    if (!model_token.empty()) shared_->ReleaseLease(id_, model_, model_token);
    credential_token.clear();
    model_token.clear();
  }
  ~SharedFleetHold() override {
    try {
      Release();
    } catch (...) {
    }
  }
  std::string credential_token, model_token;

 private:
  const std::shared_ptr<SharedState> shared_;
  const std::string id_, model_;
};

}  // namespace

bool Manager::Impl::TakeFleetLease(PickResult* pick, std::string_view model_key) {
  uint32_t credential_limit = 0, model_limit = 0;
  internal::LeaseAccess::Limits(pick->lease, &credential_limit, &model_limit);
  if (shared_lookup_timeout <= absl::ZeroDuration()) return true;  // asked for no round trips
  const absl::Time now = clock->Now();
  const absl::Time expires = now + absl::Milliseconds(fleet_lease_ttl_ms.load(std::memory_order_relaxed));
  auto hold = std::make_unique<SharedFleetHold>(shared, pick->credential->id, std::string(model_key));
  // Take: 1 taken, 0 refused, -1 no answer (local state decides).
  const auto take = [&](std::string_view model, uint32_t limit, std::string* token) -> int {
    absl::StatusOr<std::optional<std::string>> got;
    try {
      got = shared->AcquireLease(pick->credential->id, model, limit, now, expires, shared_lookup_timeout);
    } catch (...) {
      got = absl::InternalError("the shared state threw an exception");
    }
    if (!got.ok()) {
      fleet_failures.fetch_add(1, std::memory_order_relaxed);
      return -1;
    }
    if (!got->has_value()) {
      fleet_refused.fetch_add(1, std::memory_order_relaxed);
      return 0;
    }
    fleet_taken.fetch_add(1, std::memory_order_relaxed);
    *token = **std::move(got);
    return 1;
  };
  if (credential_limit > 0 && take("", credential_limit, &hold->credential_token) == 0) return false;
  if (model_limit > 0 && take(model_key, model_limit, &hold->model_token) == 0) {
    hold->Release();  // the credential's place goes back: this pick goes elsewhere
    return false;
  }
  if (!hold->credential_token.empty() || !hold->model_token.empty()) {
    internal::LeaseAccess::AddFleet(pick->lease, std::move(hold));
  }
  return true;
}

std::optional<SharedStateStats> Manager::SharedStats() const {
  if (!impl_->shared) return std::nullopt;
  SharedStateStats s = impl_->shared->Stats();
  s.leases_taken = impl_->fleet_taken.load(std::memory_order_relaxed);
  s.leases_refused = impl_->fleet_refused.load(std::memory_order_relaxed);
  s.lease_failures = impl_->fleet_failures.load(std::memory_order_relaxed);
  s.refresh_locks = impl_->refresh_locks.load(std::memory_order_relaxed);
  s.refresh_waits = impl_->refresh_waits.load(std::memory_order_relaxed);
  s.refresh_fenced = impl_->refresh_fenced.load(std::memory_order_relaxed);
  return s;
}

}  // namespace v0
}  // namespace authrouter
