// Decision records: names and the JSON form (decision.h).
#include "authrouter/decision.h"

#include "internal/json_writer.h"

namespace authrouter {
inline namespace v0 {

std::string_view ResponseChainName(ResponseChain chain) {
  switch (chain) {
    case ResponseChain::kNone:
      return "none";
    case ResponseChain::kFollowed:
      return "followed";
    case ResponseChain::kBroken:
      return "broken";
  }
  return "none";
}

std::string_view SessionOutcomeName(SessionOutcome outcome) {
  switch (outcome) {
    case SessionOutcome::kNone:
      return "none";
    case SessionOutcome::kHit:
      return "hit";
    case SessionOutcome::kMiss:
      return "miss";
    case SessionOutcome::kInherited:
      return "inherited";
    case SessionOutcome::kReboundUnavailable:
    case SessionOutcome::kReboundSharedOpening:
      return "rebound";
    case SessionOutcome::kBusyFallback:
      return "fallback";
  }
  return "none";
}

std::string_view SessionOutcomeReason(SessionOutcome outcome) {
  switch (outcome) {
    case SessionOutcome::kReboundUnavailable:
      return "unavailable";
    case SessionOutcome::kReboundSharedOpening:
      return "shared_opening";
    case SessionOutcome::kBusyFallback:
      return "busy";
    default:
      return "";
  }
}

std::string_view SkipReasonName(SkipReason reason) {
  switch (reason) {
    case SkipReason::kCooling:
      return "cooling";
    case SkipReason::kDisabled:
      return "disabled";
    case SkipReason::kTried:
      return "tried";
    case SkipReason::kLowerTier:
      return "lower_tier";
    case SkipReason::kModelNotServed:
      return "model_not_served";
    case SkipReason::kModelExcluded:
      return "model_excluded";
    case SkipReason::kNotPinned:
      return "not_pinned";
    case SkipReason::kUnavailable:
      return "unavailable";
    case SkipReason::kNoWeight:
      return "no_weight";
    case SkipReason::kNotWebsocket:
      return "not_websocket";
    case SkipReason::kNotChosen:
      return "not_chosen";
    case SkipReason::kBusy:
      return "busy";
  }
  return "not_chosen";
}

std::string PickDecision::Json() const {
  std::string out;
  internal::JsonWriter w(&out);
  w.BeginObject();
  w.Key("at");
  w.Time(at);
  w.Key("providers");
  w.BeginArray();
  for (const std::string& p : providers) w.String(p);
  w.EndArray();
  w.Key("model");
  w.String(model);
  w.Key("model_key");
  w.String(model_key);
  w.Key("strategy");
  w.String(strategy);
  if (!pinned_id.empty()) {
    w.Key("pinned_id");
    w.String(pinned_id);
  }
  w.Key("outcome");
  w.String(picked ? "picked" : "failed");
  if (picked) {
    w.Key("picked");
    w.BeginObject();
    w.Key("id");
    w.String(picked_id);
    w.Key("provider");
    w.String(picked_provider);
    if (probe) {
      w.Key("probe");
      w.Bool(true);
    }
    if (panic) {
      w.Key("panic");
      w.Bool(true);
    }
    w.EndObject();
  }
  if (tier) {
    w.Key("tier");
    w.Int(*tier);
  }
  if (!picked) {
    w.Key("error");
    w.BeginObject();
    w.Key("code");
    w.String(error_code);
    w.Key("reason");
    w.String(error_reason);
    w.EndObject();
  }
  w.Key("session");
  w.BeginObject();
  w.Key("outcome");
  w.String(SessionOutcomeName(session));
  if (!SessionOutcomeReason(session).empty()) {
    w.Key("reason");
    w.String(SessionOutcomeReason(session));
  }
  w.Key("response_chain");
  w.String(ResponseChainName(response_chain));
  w.EndObject();
  w.Key("skipped");
  w.BeginArray();
  for (const DecisionCandidate& c : skipped) {
    w.BeginObject();
    w.Key("id");
    w.String(c.id);
    w.Key("provider");
    w.String(c.provider);
    w.Key("priority");
    w.Int(c.priority);
    w.Key("reason");
    w.String(SkipReasonName(c.reason));
    if (c.panic) {
      w.Key("panic");
      w.Bool(true);
    }
    if (c.reason == SkipReason::kCooling) {
      w.Key("model");
      w.String(c.model);
      if (c.until) {
        w.Key("until");
        w.Time(*c.until);
      }
      w.Key("cause");
      w.String(c.cause);
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return out;
}

}  // namespace v0
}  // namespace authrouter
