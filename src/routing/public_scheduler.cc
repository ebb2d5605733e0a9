// The public Scheduler: the engine (routing/scheduler.h) behind a reader-biased lock.
#include "authrouter/scheduler.h"

#include <algorithm>
#include <mutex>
#include <shared_mutex>

#include "authrouter/model_key.h"
#include "authrouter/routing_error.h"
#include "authrouter/values.h"
#include "internal/br_lock.h"
#include "internal/strings.h"
#include "routing/pick_spec.h"
#include "routing/scheduler.h"
#include "routing/scheduler_access.h"

namespace authrouter {
inline namespace v0 {

struct Scheduler::Impl {
  mutable internal::BrLock mu;
  internal::SchedulerCore core;  // guarded by mu

  absl::StatusOr<ScheduledPick> Pick(const ScheduleRequest& request, const Clock& clock);
};

namespace {

inline absl::StatusOr<ScheduledPick> Answer(internal::SchedulerPick&& r) {
  if (r.kind == internal::SchedulerPick::kPicked) {
    return ScheduledPick{*r.credential, r.provider};
  }
  if (r.kind == internal::SchedulerPick::kError) return std::move(r.error);
  return absl::InternalError("scheduler pick did not settle");
}

}  // namespace

absl::StatusOr<ScheduledPick> Scheduler::Impl::Pick(const ScheduleRequest& request, const Clock& clock) {
  Impl& impl = *this;
  const internal::RequestSpec prepared(request);
  if (prepared.empty()) return ProviderNotFoundError();
  const internal::PickSpec& spec = prepared.spec();
  {
    std::shared_lock lock(impl.mu);
    internal::SchedulerPick r = impl.core.Pick(spec, clock);
    if (r.kind != internal::SchedulerPick::kNeedsWrite) return Answer(std::move(r));
  }
  // The pick first needs a shard built, a cooldown promoted or a rotation created.
  std::unique_lock lock(impl.mu);
  const internal::FixedClock now(clock.Now());
  impl.core.Prepare(spec, now.Now());
  return Answer(impl.core.Pick(spec, now));
}

Scheduler::Scheduler(RoutingStrategy strategy) : impl_(std::make_unique<Impl>()) {
  impl_->core.SetStrategy(strategy);
}

Scheduler::~Scheduler() = default;

absl::Status Scheduler::Upsert(std::shared_ptr<const Credential> credential, absl::Time now) {
  if (credential == nullptr) return absl::InvalidArgumentError("Scheduler::Upsert: null credential");
  if (credential->id.empty()) return absl::InvalidArgumentError("Scheduler::Upsert: the credential has no ID");
  if (internal::ProviderKey(credential->provider).empty()) {
    return absl::InvalidArgumentError(
        internal::Cat("Scheduler::Upsert: credential ", credential->id, " has no provider"));
  }
  if (absl::Status s = credential->Validate(); !s.ok()) return s;
  std::unique_lock lock(impl_->mu);
  impl_->core.Upsert(std::move(credential), now, /*success_is_noop=*/false);  // no results here
  return absl::OkStatus();
}

void Scheduler::Remove(std::string_view id) {
  std::unique_lock lock(impl_->mu);
  impl_->core.Remove(id);
}

absl::Status Scheduler::SetModels(std::string_view id, ServedModels models, absl::Time now) {
  if (id.empty()) return absl::InvalidArgumentError("Scheduler::SetModels: empty credential ID");
  // As ResolveServedModels hands them over: patterns normalised, exclusions lower-cased.
  models.models = NormalizeModelPatterns(models.models);
  for (std::string& e : models.excluded) e = internal::AsciiLower(TrimSpace(e));
  std::erase_if(models.excluded, [](const std::string& e) { return e.empty(); });
  std::sort(models.excluded.begin(), models.excluded.end());
  models.excluded.erase(std::unique(models.excluded.begin(), models.excluded.end()), models.excluded.end());
  std::unique_lock lock(impl_->mu);
  impl_->core.SetModels(id, std::move(models), now);
  return absl::OkStatus();
}

ServedModels Scheduler::Models(std::string_view id) const {
  std::shared_lock lock(impl_->mu);
  return impl_->core.Models(id);
}

void Scheduler::SetStrategy(RoutingStrategy strategy) {
  std::unique_lock lock(impl_->mu);
  impl_->core.SetStrategy(strategy);
}

RoutingStrategy Scheduler::strategy() const {
  std::shared_lock lock(impl_->mu);
  return impl_->core.strategy();
}

absl::StatusOr<ScheduledPick> Scheduler::Pick(const ScheduleRequest& request, absl::Time now) {
  const internal::FixedClock clock(now);
  return impl_->Pick(request, clock);
}

absl::StatusOr<ScheduledPick> Scheduler::Pick(const ScheduleRequest& request, const Clock& clock) {
  return impl_->Pick(request, clock);
}

std::optional<absl::Time> Scheduler::EarliestRetry(const ScheduleRequest& request, absl::Time now) {
  const internal::RequestSpec prepared(request);
  if (prepared.empty()) return std::nullopt;
  const internal::PickSpec& spec = prepared.spec();
  const internal::FixedClock clock(now);
  absl::Time t = ZeroTime();
  {
    std::shared_lock lock(impl_->mu);
    if (!impl_->core.NeedsPrepare(spec, clock)) t = impl_->core.EarliestRetry(spec);
    else t = absl::InfinitePast();
  }
  if (t == absl::InfinitePast()) {
    std::unique_lock lock(impl_->mu);
    impl_->core.Prepare(spec, now);
    t = impl_->core.EarliestRetry(spec);
  }
  if (IsZeroTime(t)) return std::nullopt;
  return t;
}

size_t Scheduler::size() const {
  std::shared_lock lock(impl_->mu);
  return impl_->core.routed();
}

}  // namespace v0
}  // namespace authrouter

namespace authrouter::internal {

SchedulerCore& SchedulerAccess::Core(Scheduler& scheduler) { return scheduler.impl_->core; }

}  // namespace authrouter::internal
