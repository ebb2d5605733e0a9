// Manager: the token refresh loop (spec 05) and its later fixes D1, D2, D4, D5, D6.
#include <algorithm>
#include <chrono>
#include <shared_mutex>

#include "authrouter/manager.h"
#include "internal/strings.h"
#include "internal/unicode.h"
#include "manager/manager_access.h"
#include "manager/manager_impl.h"
#include "refresh/refresh_internal.h"

namespace authrouter {
inline namespace v0 {
namespace {

using internal::Event;

std::shared_ptr<Refresher> RefresherFor(const RefreshOptions& o, std::string_view provider) {
  const std::string key = internal::ProviderKey(provider);
  if (auto it = o.refreshers.find(key); it != o.refreshers.end() && it->second) return it->second;
  return o.default_refresher;
}


// IsUnauthorized: the refresh token is dead (later fix D2).
bool IsUnauthorized(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kUnauthenticated) return true;
  const std::string text = internal::AsciiLower(internal::ToStd(s.message()));
  return text.find("status 401") != std::string::npos ||
         text.find("401 unauthorized") != std::string::npos;
}

}  // namespace

bool Manager::Impl::RefreshableOn401(const Credential& c) const {
  if (!refresh.enabled.load() || c.IsApiKey() || c.IsDisabled()) return false;
  // Not for a dead refresh token (D2), nor while a failed refresh backs off.
  if (HasDeadRefreshToken(c) || (c.last_error && internal::InRefreshBackoff(c, clock->Now()))) {
    return false;
  }
  if (internal::RefreshTokenOf(c).empty()) return false;
  std::lock_guard<std::mutex> lock(refresh.mu);
  return RefresherFor(*refresh.options, c.provider) != nullptr;
}

void Manager::ApplyDirtyRefreshesLocked(absl::Time now) {
  Impl& impl = *impl_;
  internal::RefreshState& rs = impl.refresh;
  const RefreshOptions& o = *rs.options;
  // Spec 05 §6: re-evaluate what changed.
  for (const std::string& id : rs.dirty) {
    auto it = impl.records.find(id);
    if (it == impl.records.end()) {
      rs.queue.Remove(id);
      continue;
    }
    ++rs.evaluations;
    if (std::optional<absl::Time> next = NextRefreshCheck(*it->second, now, o)) {
      rs.queue.Upsert(id, *next);
    } else {
      rs.queue.Remove(id);
    }
  }
  rs.dirty.clear();
}

size_t Manager::ProcessDueRefreshes(absl::Time now, std::vector<std::string>* jobs) {
  Impl& impl = *impl_;
  internal::RefreshState& rs = impl.refresh;
  if (!rs.enabled.load()) return 0;
  std::lock_guard<std::mutex> process(rs.process_mu);
  std::vector<std::string> candidates;
  {
    std::shared_lock lock(impl.mu);
    std::lock_guard<std::mutex> rlock(rs.mu);
    const std::optional<absl::Time> top = rs.queue.Top();
    if (rs.dirty.empty() && (!top || *top > now)) return 0;  // nothing to do: no work at all
    const RefreshOptions& o = *rs.options;
    ApplyDirtyRefreshesLocked(now);
    // Spec 05 §5: handle what is due.
    std::vector<std::string> due;
    rs.queue.PopDue(now, &due);
    for (std::string& id : due) {
      auto it = impl.records.find(id);
      if (it == impl.records.end()) continue;
      const Credential& c = *it->second;
      ++rs.evaluations;
      const std::optional<absl::Time> next = NextRefreshCheck(c, now, o);
      if (!next) continue;  // popped, so unscheduled
      if (!ShouldRefresh(c, now, o)) {
        rs.queue.Upsert(id, *next > now ? *next : now + o.check_interval);
      } else if (!RefresherFor(o, c.provider)) {
        rs.queue.Upsert(id, now + o.check_interval);
      } else {
        candidates.push_back(std::move(id));
      }
    }
  }
  if (candidates.empty()) return 0;
  // Spec 05 §6.1: mark each pending (no other refresh for 1 min), unless that changed meanwhile.
  std::unique_lock lock(impl.mu);
  for (std::string& id : candidates) {
    auto it = impl.records.find(id);
    if (it == impl.records.end()) continue;
    const Credential& c = *it->second;
    if (c.IsDisabled() || internal::InRefreshBackoff(c, now)) {
      rs.MarkDirty(id);
      continue;
    }
    Credential pending = c;
    pending.next_refresh_after = now + kRefreshPendingBackoff;
    impl.Publish(std::make_shared<const Credential>(std::move(pending)));  // memory only
    jobs->push_back(std::move(id));
  }
  return jobs->size();
}

size_t Manager::RunDueRefreshes(absl::Time now) {
  std::vector<std::string> jobs;
  ProcessDueRefreshes(now, &jobs);
  for (const std::string& id : jobs) (void)RefreshShared(id, now, /*from_loop=*/false);
  if (!jobs.empty()) {
    // Reschedule what the refreshes changed, so the schedule is current when this returns.
    Impl& impl = *impl_;
    std::lock_guard<std::mutex> process(impl.refresh.process_mu);
    std::shared_lock lock(impl.mu);
    std::lock_guard<std::mutex> rlock(impl.refresh.mu);
    ApplyDirtyRefreshesLocked(now);
  }
  return jobs.size();
}

absl::StatusOr<std::shared_ptr<const Credential>> Manager::Refresh(std::string_view id) {
  return RefreshShared(id, std::nullopt, /*from_loop=*/false);
}

absl::StatusOr<std::shared_ptr<const Credential>> Manager::RefreshShared(
    std::string_view id, std::optional<absl::Time> now, bool from_loop) {
  internal::RefreshState& rs = impl_->refresh;
  std::shared_ptr<internal::Flight> flight;
  bool leader = false;
  {
    std::lock_guard<std::mutex> lock(rs.flight_mu);
    if (auto it = rs.flights.find(id); it != rs.flights.end()) {
      flight = it->second;
    } else {
      flight = std::make_shared<internal::Flight>();
      rs.flights.emplace(std::string(id), flight);
      leader = true;
    }
  }
  if (!leader) {
    // Later fix D4: share the call already running; it is bounded by the refresh timeout.
    rs.joined.fetch_add(1, std::memory_order_relaxed);
    std::unique_lock<std::mutex> lock(flight->mu);
    flight->cv.wait(lock, [&] { return flight->done; });
    return flight->result;
  }
  absl::StatusOr<std::shared_ptr<const Credential>> result =
      absl::InternalError("the refresh failed unexpectedly");
  try {
    result = RefreshOnce(id, now, from_loop);
  } catch (...) {
    // Whatever happened, the flight completes, so no later Refresh(id) waits forever.
  }
  {
    std::lock_guard<std::mutex> lock(flight->mu);
    flight->result = result;
    flight->done = true;
  }
  flight->cv.notify_all();
  {
    std::lock_guard<std::mutex> lock(rs.flight_mu);
    if (auto it = rs.flights.find(id); it != rs.flights.end() && it->second == flight) {
      rs.flights.erase(it);
    }
  }
  // Logged once the flight is over, so a logger that calls Refresh(id) does not join it.
  if (!result.ok() && !absl::IsCancelled(result.status()) && !absl::IsAborted(result.status()) &&
      !absl::IsNotFound(result.status())) {
    impl_->Log(IsUnauthorized(result.status()) ? LogLevel::kError : LogLevel::kWarning, "refresh",
               internal::Cat("refreshing ", id, " failed: ", internal::ToStd(result.status().message()),
                             IsUnauthorized(result.status())
                                 ? " (the refresh token was rejected; a new login is needed)"
                                 : ""));
  }
  return result;
}

absl::StatusOr<std::shared_ptr<const Credential>> Manager::RefreshOnce(
    std::string_view id, std::optional<absl::Time> fixed_now, bool from_loop) {
  Impl& impl = *impl_;
  internal::RefreshState& rs = impl.refresh;
  std::shared_ptr<const Credential> credential;
  uint64_t incarnation = 0;
  std::shared_ptr<const RefreshOptions> options;
  {
    std::shared_lock lock(impl.mu);
    auto it = impl.records.find(id);
    if (it == impl.records.end()) return internal::CredentialNotFound(id);
    credential = it->second;
    if (auto inc = impl.incarnations.find(id); inc != impl.incarnations.end()) {
      incarnation = inc->second;
    }
    std::lock_guard<std::mutex> rlock(rs.mu);
    options = rs.options;
  }
  if (credential->IsDisabled()) {
    return absl::FailedPreconditionError("the credential is disabled");
  }
  if (credential->IsApiKey()) {
    return absl::FailedPreconditionError("an API-key credential has no token to refresh");
  }
  std::string started_token = internal::RefreshTokenOf(*credential);
  std::shared_ptr<Refresher> refresher = RefresherFor(*options, credential->provider);
  if (!refresher) {
    return absl::FailedPreconditionError(internal::Cat(
        "no refresher for provider \"", internal::ProviderKey(credential->provider),
        "\""));
  }

  // Across the fleet: one replica refreshes under the shared lock, the others adopt its tokens.
  uint64_t fence = 0;
  if (impl.shared) {
    absl::StatusOr<Impl::FleetTurn> turn =
        impl.FleetRefreshTurn(id, fixed_now.value_or(impl.clock->Now()), *options);
    if (!turn.ok()) return turn.status();
    if (turn->adopted) return turn->adopted;
    fence = turn->fence;
    if (fence != 0) {
      // The tokens may have changed while this replica waited: refresh what it holds now.
      std::shared_lock lock(impl.mu);
      auto it = impl.records.find(id);
      if (it == impl.records.end()) {
        impl.shared->ReleaseRefreshLock(id, fence);
        return internal::CredentialNotFound(id);
      }
      credential = it->second;
      started_token = internal::RefreshTokenOf(*credential);
    }
  }
  // The lock goes back whatever happens, unless a completed refresh released it.
  struct LockGuard {
    Impl& impl;
    std::string_view id;
    uint64_t fence;
    ~LockGuard() {
      if (fence == 0) return;
      try {
        impl.shared->ReleaseRefreshLock(id, fence);
      } catch (...) {
      }
    }
  } lock_guard{impl, id, fence};

  rs.started.fetch_add(1, std::memory_order_relaxed);
  RefreshContext context;
  context.timeout = options->timeout;
  context.now = fixed_now.value_or(impl.clock->Now());
  // Stopping the loop cancels the refreshes it started, not those a caller asked for.
  static const std::atomic<bool> kNeverCancelled{false};
  context.cancelled = from_loop ? &rs.cancel : &kNeverCancelled;
  absl::StatusOr<TokenUpdate> update;
  const absl::Time call_started = impl.clock->Now();
  try {
    update = refresher->Refresh(*credential, context);
  } catch (...) {
    update = absl::InternalError("the refresher threw an exception");
  }
  const absl::Time now = fixed_now.value_or(impl.clock->Now());
  const absl::Duration took = impl.clock->Now() - call_started;  // the call, by the Manager's clock
  const auto count = [&](observe::RefreshOutcome outcome) {
    if (impl.metrics->enabled()) {
      impl.metrics->CountRefresh(internal::ProviderKey(credential->provider), outcome, took);
    }
  };

  // Under the fleet's lock: publish the new version first; a lock that expired and was taken
  // since fences this result off (the newer holder's tokens win).
  if (fence != 0 && update.ok()) {
    absl::StatusOr<Credential> preview = ApplyTokenUpdate(*credential, *update, now);
    if (preview.ok()) {
      absl::StatusOr<uint64_t> published = absl::UnavailableError("");
      try {
        published = impl.shared->CompleteRefresh(id, fence, internal::TokenFingerprint(*preview),
                                                 impl.shared_tokens ? TokenUpdateToJson(*update) : std::string(),
                                                 absl::Seconds(1));
      } catch (...) {
        published = absl::InternalError("the shared state threw an exception");
      }
      if (published.ok()) {
        lock_guard.fence = 0;  // released by the completion
      } else if (absl::IsFailedPrecondition(published.status())) {
        lock_guard.fence = 0;
        impl.refresh_fenced.fetch_add(1, std::memory_order_relaxed);
        rs.dropped.fetch_add(1, std::memory_order_relaxed);
        count(observe::RefreshOutcome::kDropped);
        impl.Log(LogLevel::kWarning, "refresh",
                 internal::Cat("the refresh of ", id,
                               " finished after its fleet lock expired and another replica took it: its tokens are "
                               "dropped (fenced off); the newer holder's are adopted"));
        return absl::AbortedError("the refresh was fenced off: another replica took the refresh lock since");
      } else {
        impl.Log(LogLevel::kError, "refresh",
                 internal::Cat("refreshed ", id, " but could not tell the fleet (",
                               internal::ToStd(published.status().message()),
                               "); other replicas may refresh it again"));
      }
    }
  }

  std::shared_ptr<Event> event;
  std::shared_ptr<const Credential> snapshot;
  absl::Status failure;
  {
    std::unique_lock lock(impl.mu);
    auto it = impl.records.find(id);
    auto inc = impl.incarnations.find(id);
    if (it == impl.records.end() || inc == impl.incarnations.end() ||
        inc->second != incarnation) {
      // Removed (or replaced by a different credential) while the call ran: never written back.
      rs.dropped.fetch_add(1, std::memory_order_relaxed);
      count(observe::RefreshOutcome::kDropped);
      return absl::AbortedError("the credential was removed during its refresh");
    }
    if (internal::RefreshTokenOf(*it->second) != started_token) {
      // New tokens arrived meanwhile (a re-login): they win over this refresh's.
      rs.dropped.fetch_add(1, std::memory_order_relaxed);
      count(observe::RefreshOutcome::kDropped);
      return absl::AbortedError("the credential's refresh token changed during its refresh");
    }
    absl::StatusOr<Credential> merged =
        update.ok() ? ApplyTokenUpdate(*it->second, *update, now) : update.status();
    if (!merged.ok()) {
      failure = merged.status();
      rs.failed.fetch_add(1, std::memory_order_relaxed);
      count(observe::RefreshOutcome::kFailure);
      if (failure.code() == absl::StatusCode::kCancelled) {
        rs.MarkDirty(id);  // the pending backoff stands
        return failure;
      }
      Credential next = *it->second;
      std::string message(internal::ToStd(failure.message()));
      internal::ReplaceInvalidUtf8(&message);
      if (IsUnauthorized(failure)) {
        // Later fix D2: the refresh token is dead; stop scheduling until the error is cleared.
        next.last_error = ErrorRecord{std::string(kDeadRefreshTokenCode), std::move(message), false, 401};
        next.next_refresh_after = ZeroTime();
        next.unavailable = true;
        if (!next.IsDisabled()) {
          next.status = CredentialStatus::kError;
          next.status_message = "unauthorized";
        }
      } else {
        next.last_error = ErrorRecord{"", std::move(message), false, 0};
        next.next_refresh_after = now + kRefreshFailureBackoff;
      }
      // Spec 05 §7.4: memory only, no hook; the credential stays selectable.
      impl.Publish(std::make_shared<const Credential>(std::move(next)));
      return failure;
    }
    Credential& next = *merged;
    internal::MarkRefreshed(next, now, *options);
    snapshot = std::make_shared<const Credential>(std::move(next));
    impl.Publish(snapshot);
    event = impl.Enqueue(Event::Kind::kUpdated, snapshot, true);
    rs.succeeded.fetch_add(1, std::memory_order_relaxed);
    count(observe::RefreshOutcome::kSuccess);
  }
  (void)impl.Finish(event);  // a store failure reaches Hooks::OnStoreError; memory stands
  return snapshot;
}

absl::Status Manager::StartRefreshLoop() {
  if (internal::ManagerAccess::InCallback(*this)) {
    // A callback must not wait for another thread that starts or stops the loop (it may be
    // joining the thread this callback runs on, or waiting for it to return).
    std::unique_lock<std::mutex> runner(impl_->refresh.runner_mu, std::try_to_lock);
    if (!runner.owns_lock()) {
      return absl::FailedPreconditionError(
          "the refresh loop is being started or stopped by another thread; not started from a callback");
    }
    if (impl_->refresh.running) {
      return absl::FailedPreconditionError(
          "the refresh loop cannot be restarted from a callback (it would have to join its threads)");
    }
    return StartRefreshLoopLocked();
  }
  std::lock_guard<std::mutex> runner(impl_->refresh.runner_mu);
  return StartRefreshLoopLocked();
}

absl::Status Manager::StartRefreshLoopLocked() {
  Impl& impl = *impl_;
  internal::RefreshState& rs = impl.refresh;
  if (!rs.enabled.load()) return absl::FailedPreconditionError("no refresher is configured");
  if (internal::LoopOwner() == &impl) {
    return absl::FailedPreconditionError("the refresh loop cannot be restarted from its own thread");
  }
  StopRefreshLoopLocked();
  int workers = 0;
  {
    std::lock_guard<std::mutex> lock(rs.mu);
    workers = rs.options->workers;
    rs.stopping.store(false);
  }
  rs.job_capacity = std::max<size_t>(static_cast<size_t>(workers) * 4, 64);
  rs.scheduler_thread = std::thread([this, &impl, &rs] {
    internal::LoopOwner() = &impl;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(rs.mu);
        for (;;) {
          if (rs.stopping.load()) return;
          if (!rs.dirty.empty()) break;
          const std::optional<absl::Time> top = rs.queue.Top();
          if (!top) {
            rs.wake.wait(lock);
            continue;
          }
          const absl::Duration wait = *top - impl.clock->Now();
          if (wait <= absl::ZeroDuration()) break;
          // Capped, so that a wall-clock jump is noticed within a minute.
          rs.wake.wait_for(lock, absl::ToChronoNanoseconds(std::min(wait, absl::Minutes(1))));
        }
        ++rs.loop_wakeups;
      }
      std::vector<std::string> due;
      ProcessDueRefreshes(impl.clock->Now(), &due);
      for (std::string& id : due) {
        std::unique_lock<std::mutex> lock(rs.jobs_mu);
        rs.jobs_cv.wait(lock, [&] { return rs.stopping.load() || rs.jobs.size() < rs.job_capacity; });
        if (rs.stopping.load()) return;
        rs.jobs.push_back(std::move(id));
        rs.jobs_cv.notify_all();
      }
    }
  });
  for (int i = 0; i < workers; ++i) {
    rs.workers.emplace_back([this, &impl, &rs] {
      internal::LoopOwner() = &impl;
      for (;;) {
        std::string id;
        {
          std::unique_lock<std::mutex> lock(rs.jobs_mu);
          rs.jobs_cv.wait(lock, [&] { return rs.stopping.load() || !rs.jobs.empty(); });
          if (rs.stopping.load()) return;
          id = std::move(rs.jobs.front());
          rs.jobs.pop_front();
        }
        rs.jobs_cv.notify_all();
        (void)RefreshShared(id, std::nullopt, /*from_loop=*/true);
      }
    });
  }
  rs.running = true;
  return absl::OkStatus();
}

void Manager::StopRefreshLoop() {
  if (internal::ManagerAccess::InCallback(*this)) {
    // From a callback (a loop thread, a hook, the watcher's thread): ask the loop to end, without
    // waiting for its threads; the next StartRefreshLoop or StopRefreshLoop outside callbacks
    // (or the destructor) joins them.
    internal::RefreshState& rs = impl_->refresh;
    std::unique_lock<std::mutex> runner(rs.runner_mu, std::try_to_lock);
    if (!runner.owns_lock() || !rs.running) return;  // being started or stopped already, or idle
    rs.RequestStop();
    return;
  }
  std::lock_guard<std::mutex> runner(impl_->refresh.runner_mu);
  StopRefreshLoopLocked();
}

void Manager::StopRefreshLoopLocked() {
  internal::RefreshState& rs = impl_->refresh;
  if (!rs.running) return;
  rs.RequestStop();
  if (rs.scheduler_thread.joinable()) rs.scheduler_thread.join();
  for (std::thread& t : rs.workers) t.join();
  rs.workers.clear();
  std::deque<std::string> unstarted;
  {
    std::lock_guard<std::mutex> lock(rs.jobs_mu);
    unstarted.swap(rs.jobs);
  }
  // Jobs never started keep their pending mark; the schedule picks them up again.
  for (const std::string& id : unstarted) rs.MarkDirty(id);
  rs.running = false;
  rs.cancel.store(false);
}

bool Manager::refresh_loop_running() const {
  std::lock_guard<std::mutex> runner(impl_->refresh.runner_mu);
  return impl_->refresh.running && !impl_->refresh.stopping.load();
}

namespace {

int GetWorkersLocked(internal::RefreshState& rs) {
  std::lock_guard<std::mutex> lock(rs.mu);
  return rs.options->workers;
}

}  // namespace

absl::Status Manager::SetRefreshOptions(RefreshOptions options) {
  if (absl::Status s = ValidateRefreshOptions(options); !s.ok()) return s;
  Impl& impl = *impl_;
  if (impl.shared && options.timeout >= impl.shared_refresh_lock_timeout) {
    return absl::InvalidArgumentError("refresh timeout must be shorter than shared_refresh_lock_timeout");
  }
  internal::RefreshState& rs = impl.refresh;
  const bool in_callback = internal::ManagerAccess::InCallback(*this);
  // A callback must not wait for a thread that starts or stops the loop (see StartRefreshLoop).
  std::unique_lock<std::mutex> runner(rs.runner_mu, std::defer_lock);
  if (in_callback) {
    if (!runner.try_lock()) {
      return absl::FailedPreconditionError(
          "the refresh loop is being started or stopped by another thread; refresh options not "
          "changed from a callback");
    }
  } else {
    runner.lock();
  }
  const bool enabled = RefreshEnabled(options);
  bool restart = false;
  if (in_callback && rs.running && (!enabled || GetWorkersLocked(rs) != options.workers)) {
    return absl::FailedPreconditionError(
        "the refresh loop cannot be resized or stopped from a callback (it would have to join its "
        "threads); nothing changed");
  }
  // The replaced options are released after the locks: dropping the last reference to a host
  // refresher runs host code (its destroy callback), which may call back into the Manager.
  std::shared_ptr<const RefreshOptions> replaced;
  auto next = std::make_shared<const RefreshOptions>(std::move(options));
  {
    std::shared_lock lock(impl.mu);
    std::lock_guard<std::mutex> rlock(rs.mu);
    restart = rs.running && (!enabled || rs.options->workers != next->workers);
    replaced = std::exchange(rs.options, std::move(next));
    rs.enabled.store(enabled);
    rs.queue.Clear();
    rs.dirty.clear();
    if (enabled) {
      for (const auto& [id, c] : impl.records) rs.dirty.insert(id);
    }
    rs.wake.notify_all();
  }
  if (restart) {
    StopRefreshLoopLocked();
    if (!enabled) return absl::OkStatus();
    return StartRefreshLoopLocked();  // with the new worker count
  }
  return absl::OkStatus();
}

RefreshOptions Manager::GetRefreshOptions() const {
  std::lock_guard<std::mutex> lock(impl_->refresh.mu);
  return *impl_->refresh.options;
}

std::optional<absl::Time> Manager::ScheduledRefresh(std::string_view id) const {
  std::lock_guard<std::mutex> lock(impl_->refresh.mu);
  return impl_->refresh.queue.When(id);
}

RefreshStats Manager::GetRefreshStats() const {
  const internal::RefreshState& rs = impl_->refresh;
  RefreshStats s;
  {
    std::lock_guard<std::mutex> lock(rs.mu);
    s.scheduled = rs.queue.size();
    s.next = rs.queue.Top();
    s.evaluations = rs.evaluations;
    s.sift_steps = rs.queue.sift_steps();
    s.loop_wakeups = rs.loop_wakeups;
  }
  s.refreshes_started = rs.started.load();
  s.refreshes_succeeded = rs.succeeded.load();
  s.refreshes_failed = rs.failed.load();
  s.refreshes_joined = rs.joined.load();
  s.writes_dropped = rs.dropped.load();
  return s;
}

}  // namespace v0
}  // namespace authrouter
