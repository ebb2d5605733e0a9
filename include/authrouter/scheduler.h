// scheduler.h -- the indexed selection engine on its own: which credential serves a request.
//
// A Scheduler holds credential snapshots, the models each one serves and each one's per-model
// block state (the snapshot's model_states: cooldowns, quota backoff, suspensions), indexed per
// provider and canonical model into ready sets per priority tier and a timer set of blocked
// credentials. Credentials move between the sets when their state changes, never when a request
// arrives, so a pick does not scan: round-robin and fill-first picks are O(1) in the number of
// credentials and allocate nothing; weighted round-robin is O(n) in the best tier. The Manager
// is built on this class (it adds the result state machine, persistence, token refresh, session
// affinity and host selectors); use a Scheduler alone to route over state you keep yourself.
//
// Ownership: the Scheduler shares the snapshots it is given (std::shared_ptr<const Credential>)
// and hands them back from picks; a snapshot is never changed, so a new state is a new Upsert.
// ScheduledPick::provider views a string the Scheduler keeps for its whole life.
//
// Threading: every method is thread-safe. Picks from many threads run in parallel under a
// reader-biased shared lock (each thread touches its own cache line); Upsert, Remove, SetModels
// and SetStrategy take it exclusively for microseconds. A pick that first needs a structural
// change (the first pick for a model, a cooldown whose time has come) takes the exclusive lock
// once and picks again. No callback runs under the lock: a Scheduler calls nothing of yours
// except the Clock you pass to a pick, which must be quick and must not call the Scheduler.
//
// Errors: a pick that finds no credential fails with the Manager's routing errors
// (routing_error.h; GetRoutingError gives the code, HTTP status, body, reason and detail):
// model_cooldown (429, with the wait) when every candidate is cooling down, auth_unavailable when
// they are blocked otherwise, auth_not_found when none serves the request, with the reason
// (no_credentials, all_disabled, model_not_served, all_tried, pinned_unknown,
// pinned_not_serving), and provider_not_found when the request names no provider. Upsert and
// SetModels return InvalidArgumentError for what they cannot route; nothing changes then.
//
// Example:
//
//   authrouter::Scheduler scheduler;                      // round-robin
//   authrouter::Credential c;
//   c.id = "claude-a.json";
//   c.provider = "claude";
//   scheduler.Upsert(std::make_shared<const authrouter::Credential>(c), absl::Now()).IgnoreError();
//   scheduler.SetModels("claude-a.json", {.source = authrouter::ModelSource::kHost,
//                                         .models = {"claude-sonnet-4-5"}}, absl::Now()).IgnoreError();
//   const std::string_view providers[] = {"claude"};
//   absl::StatusOr<authrouter::ScheduledPick> pick =
//       scheduler.Pick({.providers = providers, .model = "claude-sonnet-4-5"}, absl::Now());
//   if (pick.ok()) use(pick->credential->id);
#ifndef AUTHROUTER_SCHEDULER_H_
#define AUTHROUTER_SCHEDULER_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "authrouter/clock.h"
#include "authrouter/credential.h"
#include "authrouter/models.h"
#include "authrouter/selector.h"

namespace authrouter {
namespace internal {
class SchedulerAccess;  // the Manager drives the engine under its own lock
}  // namespace internal
inline namespace v0 {

// ScheduleRequest is what a pick is for. Views need to live only for the call.
struct ScheduleRequest {
  // The providers that may serve the request, in preference order; compared trimmed and ASCII
  // lower-cased, blanks and duplicates dropped. Several: one rotation over all of them.
  std::span<const std::string_view> providers = {};
  // The model as asked for; a thinking suffix ("gpt-5(high)") is ignored. Empty: any model.
  std::string_view model = {};
  // IDs already tried for this request: never picked again. Checked linearly.
  std::span<const std::string_view> tried = {};
  // When set, only this credential may be picked (it still must be available).
  std::string_view pinned_id = {};
  // The downstream client is on a websocket: for provider "codex", prefer websocket-capable
  // credentials, even from a lower priority tier.
  bool downstream_websocket = false;
};

// ScheduledPick is a pick's answer.
struct ScheduledPick {
  std::shared_ptr<const Credential> credential = {};
  std::string_view provider = {};  // the normalised provider the credential was picked under
};

// Scheduler: see the top of this file.
class Scheduler {
 public:
  explicit Scheduler(RoutingStrategy strategy = RoutingStrategy::kRoundRobin);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Upsert places a credential snapshot into routing, or replaces the one with its ID, with
  // its priority, weight, prefix, virtual parent, websocket flag and per-model states as they
  // are in the snapshot; `now` decides which states still block. A disabled credential is taken
  // out of routing (errors then say "disabled"). Returns InvalidArgumentError for a null
  // snapshot or one that fails Credential::Validate, or without an ID or provider.
  [[nodiscard]] absl::Status Upsert(std::shared_ptr<const Credential> credential, absl::Time now);

  // Remove takes a credential out of routing; its model registration stays (SetModels with
  // source kNone drops it). An unknown ID is not an error.
  void Remove(std::string_view id);

  // SetModels replaces what credential `id` serves (models.h: exact names and `*` globs, minus
  // exclusions), whether or not it is routed yet; a source of kNone drops the registration,
  // so that it serves nothing. A credential without a registration serves nothing either.
  // Returns InvalidArgumentError for an empty ID.
  [[nodiscard]] absl::Status SetModels(std::string_view id, ServedModels models, absl::Time now);

  // Models returns what `id` serves (source kNone when nothing is registered).
  ServedModels Models(std::string_view id) const;

  // SetStrategy switches the built-in strategy; rotations start over.
  void SetStrategy(RoutingStrategy strategy);
  RoutingStrategy strategy() const;

  // Pick chooses a credential for `request` at `now`: the best priority tier with an available
  // credential (not blocked for the model, not tried, the pinned one when pinned), then the
  // strategy within it. See "Errors" above.
  [[nodiscard]] absl::StatusOr<ScheduledPick> Pick(const ScheduleRequest& request, absl::Time now);
  // Pick with a clock, read only when a cooldown may have ended or an error reports a wait (a
  // pick that needs neither reads no clock).
  [[nodiscard]] absl::StatusOr<ScheduledPick> Pick(const ScheduleRequest& request, const Clock& clock);

  // EarliestRetry returns the earliest instant after `now` at which a credential that could
  // serve `request` but is blocked right now (cooling down, quota, suspended) is looked at
  // again, or std::nullopt when none is blocked.
  std::optional<absl::Time> EarliestRetry(const ScheduleRequest& request, absl::Time now);

  // size returns the number of credentials in routing (disabled ones not counted).
  size_t size() const;

 private:
  friend class ::authrouter::internal::SchedulerAccess;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_SCHEDULER_H_
