// The result state machine (spec 04 §2-§6): how a Result changes a credential.
#ifndef AUTHROUTER_MANAGER_RESULT_STATE_H_
#define AUTHROUTER_MANAGER_RESULT_STATE_H_

#include "absl/time/time.h"
#include "authrouter/credential.h"
#include "authrouter/models.h"
#include "authrouter/result.h"

namespace authrouter::internal {

// ResultPolicy holds the global settings the state machine reads.
struct ResultPolicy {
  bool disable_cooling = false;              // global switch; a credential may override it
  int64_t transient_cooldown_seconds = 0;    // 0: 60 s, > 0: that many seconds, < 0: none
  // The provider's CooldownPolicy (health.h): the cap on hinted cooldowns, and the failures in a
  // row per class before one excludes.
  absl::Duration max_cooldown = absl::Hours(24 * 30);
  int consecutive_auth = 1;
  int consecutive_not_found = 1;
  int consecutive_transient = 1;
};

// FailureClass is the class of a failure for the consecutive-failure thresholds: 1 auth (401,
// 402, 403, invalid_grant), 2 not found (404), 3 transient (408, 500, 502, 503, 504), 0 any
// other (quota, model support, ...), which always takes effect at once.
int FailureClass(int http_status, std::string_view code, std::string_view message);

// ApplyResult applies `r` to `c` at `now` and reports whether anything changed. A success on an
// already-healthy model changes nothing (not even updated_at).
// `served` is what `c` serves (nullptr: unknown): a served model without state counts as
// available in the aggregate, so one cooling model never makes the whole credential unavailable
// while it serves others. `entered_cooldown` (optional) is set to whether the failure put the
// model (or, for a model-less result, the credential) into a cooldown it was not in.
bool ApplyResult(Credential& c, const Result& r, const ResultPolicy& policy, absl::Time now,
                 const ServedModels* served = nullptr, bool* entered_cooldown = nullptr);

// IsHealthyFor reports whether a success for `model` would leave `c` unchanged; used to answer
// the common case without the exclusive lock.
bool IsHealthyFor(const Credential& c, std::string_view model_key, absl::Time now);

// SuccessChangesNothing reports whether a success for any model, at any time, would leave `c`
// unchanged (IsHealthyFor holds for every model key): nothing on the record or its model states
// for a success to clear. Published with each snapshot, so that a success reported with its
// lease is answered without a lookup.
bool SuccessChangesNothing(const Credential& c);

// RecomputeAggregates derives the record-level availability from the model states (spec 04
// §6.1), clearing states whose retry time has passed.
// A served model without state (see ApplyResult) counts as available.
// Returns whether it changed a model state (an expired cooldown cleared).
bool RecomputeAggregates(Credential& c, absl::Time now, const ServedModels* served = nullptr);

// ServesStatelessModel reports whether `served` covers a model `c` has no state for (any glob
// does; an exact name does when its state key is absent).
bool ServesStatelessModel(const Credential& c, const ServedModels* served);

// HasModelError is spec 04 §6.2.
bool HasModelError(const Credential& c, absl::Time now);

// IsClean reports whether a model state is a fresh one (active, nothing else set).
bool IsClean(const ModelState& m);

// ResetModelState makes `m` a fresh state.
void ResetModelState(ModelState& m);

}  // namespace authrouter::internal

#endif  // AUTHROUTER_MANAGER_RESULT_STATE_H_
