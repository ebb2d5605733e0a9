// decision.h -- decision records: what a pick decided and why.
//
// A host that wants to know why a request went where it went (or why it failed) passes a
// PickDecision with the request:
//
//   authrouter::PickDecision why;
//   request.decision = &why;
//   auto pick = manager->Pick(request);
//   log(why.Json());   // {"providers":["claude"],"model":"claude-x","outcome":"failed", ...}
//
// The record lists every credential of the requested providers that the pick did not take, each
// with its reason (SkipReason): cooling for model M until T and the cause, disabled, tried, in a
// lower tier, the model not served, the model excluded by excluded_models, not the pinned one,
// unavailable, weight 0, not websocket-capable, or simply not chosen by the rotation.
//
// The record is built after the pick, from the pool as it is then: a change that lands between
// the pick and the record (a result on another thread) can show in it. A pick without a record
// pays one pointer test for it.
#ifndef AUTHROUTER_DECISION_H_
#define AUTHROUTER_DECISION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"

namespace authrouter {
inline namespace v0 {

// ResponseChain says how a pick treated the request's previous_response_id (session_id.h).
enum class ResponseChain {
  kNone,      // the request names no previous response, or affinity is off
  kFollowed,  // picked the credential that produced that response
  // The credential that produced it is unknown (never reported, expired) or cannot take the
  // request now: the pick is an ordinary one, and the upstream will not find the response. A
  // host resends the full history instead of the previous_response_id.
  kBroken,
};

// ResponseChainName returns "none", "followed" or "broken".
std::string_view ResponseChainName(ResponseChain chain);

// SessionOutcome is what session affinity did for one pick (also the session lookup metric).
enum class SessionOutcome : uint8_t {
  kNone,         // affinity is off, or the request carries no session ID
  kHit,          // the bound credential took the request (a response chain followed, too)
  kMiss,         // no binding yet: the pick binds one
  kInherited,    // a second turn took the binding of the first (its fallback ID)
  kReboundUnavailable,    // the bound credential cannot take the request now: bound anew
  kReboundSharedOpening,  // the opening was seen before (shared boilerplate or a resend):
                          // picked anew, and the opening no longer binds
  kBusyFallback,  // the bound credential is at its concurrency limit: served elsewhere, the
                  // binding kept (health.h)
};

// SessionOutcomeName returns "none", "hit", "miss", "inherited", "rebound" or "fallback";
// SessionOutcomeReason returns why a rebind or fallback happened ("unavailable",
// "shared_opening", "busy"), else "".
std::string_view SessionOutcomeName(SessionOutcome outcome);
std::string_view SessionOutcomeReason(SessionOutcome outcome);

// SkipReason is why a pick did not take a credential.
enum class SkipReason : uint8_t {
  kCooling,         // cooling down for `model` until `until`, for `cause`
  kDisabled,        // disabled
  kTried,           // named in PickRequest::tried
  kLowerTier,       // a credential of a higher priority tier was available
  kModelNotServed,  // does not serve the model (models.h)
  kModelExcluded,   // would serve it, but excluded_models (its own or the catalog's) excludes it
  kNotPinned,       // another credential was pinned
  kUnavailable,     // blocked without a cooldown end (an error state, an unreadable record)
  kNoWeight,        // weight 0 under the weighted strategy
  kNotWebsocket,    // a websocket-capable credential was preferred for a websocket client
  kNotChosen,       // available; the rotation (or, on a session hit, the binding) chose another
  kBusy,            // available, but at its concurrency limit (health.h)
};

// SkipReasonName returns the reason's machine name: "cooling", "disabled", "tried",
// "lower_tier", "model_not_served", "model_excluded", "not_pinned", "unavailable", "no_weight",
// "not_websocket", "not_chosen", "busy".
std::string_view SkipReasonName(SkipReason reason);

// DecisionCandidate is one credential the pick did not take.
struct DecisionCandidate {
  std::string id;
  std::string provider;  // the normalised provider key
  int64_t priority = 0;
  SkipReason reason = SkipReason::kNotChosen;
  // kCooling: the model state key that cools ("" when the whole credential cools), its end and
  // its cause ("quota", "unauthorized", "forbidden", "not_found", "model_not_supported",
  // "transient", "other": the cooldowns metric's causes).
  std::string model;
  std::optional<absl::Time> until;
  std::string cause;
  // Excluded for an error, but pickable because max-ejection-percent overrides the exclusion
  // (health.h); its reason then says why the pick took another.
  bool panic = false;
};

// PickDecision is what one pick decided and why.
struct PickDecision {
  absl::Time at = absl::UnixEpoch();  // when the record was made (the Manager's clock)
  std::vector<std::string> providers;  // the providers asked, normalised, in order
  std::string model;                   // the model as asked
  std::string model_key;               // its canonical key ("" for any model)
  std::string strategy;                // "round-robin", "fill-first", "weighted-round-robin" (RoutingStrategyName), or "selector"
  std::string pinned_id;               // the pinned credential, if any
  bool picked = false;
  std::string picked_id;               // when picked
  std::string picked_provider;
  std::optional<int64_t> tier;         // the priority of the tier used, when picked
  // When picked: a half-open probe of the credential's cooldown, or a credential whose exclusion
  // max-ejection-percent overrides (panic), health.h.
  bool probe = false;
  bool panic = false;
  std::string error_code;              // when not picked: RoutingError code and reason
  std::string error_reason;
  SessionOutcome session = SessionOutcome::kNone;
  ResponseChain response_chain = ResponseChain::kNone;
  std::vector<DecisionCandidate> skipped;  // sorted by ID

  // Json returns the record as JSON (docs/observability.md): every field above; times in RFC
  // 3339; absent optionals left out. Never a token, key, session ID, tenant or upstream text.
  std::string Json() const;
};

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_DECISION_H_
