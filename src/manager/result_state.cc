#include "manager/result_state.h"
#include "routing/scheduler.h"

#include <array>

#include "authrouter/model_key.h"
#include "internal/strings.h"

namespace authrouter {
inline namespace v0 {
namespace {

bool ContainsLower(std::string_view haystack, std::string_view needle_lower) {
  return internal::AsciiLower(haystack).find(needle_lower) != std::string::npos;
}

constexpr std::array<std::string_view, 10> kModelSupportPhrases = {
    "model_not_supported",        "requested model is not supported",
    "requested model is unsupported", "requested model is unavailable",
    "model is not supported",     "model not supported",
    "unsupported model",          "model unavailable",
    "not available for your plan", "not available for your account",
};

}  // namespace

bool IsRequestScopedNotFound(int http_status, std::string_view message) {
  if (http_status != 404) return false;
  const std::string lower = internal::AsciiLower(message);
  return lower.find("item with id") != std::string::npos &&
         lower.find("not found") != std::string::npos &&
         lower.find("items are not persisted when `store` is set to false") != std::string::npos;
}

bool IsModelSupportError(int http_status, std::string_view message) {
  if (http_status != 400 && http_status != 422) return false;
  const std::string lower = internal::AsciiLower(message);
  for (std::string_view phrase : kModelSupportPhrases) {
    if (lower.find(phrase) != std::string::npos) return true;
  }
  return false;
}

bool IsInvalidGrant(int http_status, std::string_view code, std::string_view message) {
  if (http_status != 400 && http_status != 401) return false;
  return ContainsLower(code, "invalid_grant") || ContainsLower(message, "invalid_grant");
}

bool IsConnectionLifecycle(int http_status, std::string_view code, std::string_view message) {
  if (code == "connection_lifecycle") return true;
  // Response text never overrides a real HTTP status (a 429 body cannot dodge its cooldown).
  if (http_status != 0) return false;
  const std::string lower = internal::AsciiLower(TrimSpace(message));
  if (lower.empty()) return false;
  if (lower == "context canceled" || lower == "context deadline exceeded" || lower == "eof" ||
      lower == "unexpected eof") {
    return true;
  }
  return lower.find("websocket: close 1000") != std::string::npos ||
         lower.find("websocket: close 1001") != std::string::npos ||
         lower.find("websocket: close 1006") != std::string::npos ||
         lower.find("unexpected eof") != std::string::npos;
}

bool IsRequestInvalid(int http_status, std::string_view message) {
  return IsRequestInvalid(http_status, {}, message);
}

bool IsRequestInvalid(int http_status, std::string_view code, std::string_view message) {
  if (IsModelSupportError(http_status, message)) return false;
  if (IsInvalidGrant(http_status, code, message)) return false;
  if (http_status == 400) return message.find("invalid_request_error") != std::string_view::npos;
  if (http_status == 404) return IsRequestScopedNotFound(http_status, message);
  return http_status == 422;
}

std::pair<absl::Duration, int> QuotaBackoff(int level) {
  constexpr absl::Duration kCap = absl::Minutes(30);
  if (level < 0) level = 0;
  if (level >= 11) return {kCap, level};  // 2^11 s > 30 min: the ladder has topped out
  const absl::Duration cooldown = absl::Seconds(int64_t{1} << level);
  if (cooldown >= kCap) return {kCap, level};
  return {cooldown, level + 1};
}

}  // namespace v0
}  // namespace authrouter

namespace authrouter::internal {
namespace {

bool IsTransient(int status) {
  return status == 408 || status == 500 || status == 502 || status == 503 || status == 504;
}

absl::Duration TransientCooldown(const ResultPolicy& p) {
  if (p.transient_cooldown_seconds < 0) return absl::ZeroDuration();
  if (p.transient_cooldown_seconds == 0) return absl::Minutes(1);
  return absl::Seconds(p.transient_cooldown_seconds);
}

// QuotaNext computes a 429's retry time and the backoff level to store: the Retry-After hint
// when there is one; else, while the previous quota window is still open, that same window
// (later fix C1: concurrent 429s do not escalate the level); else the next step of the ladder.
std::pair<absl::Time, int> QuotaNext(const QuotaState& q, const Result& r, bool cooling,
                                     absl::Time now, absl::Duration cap) {
  // A hint is honoured up to the policy's maximum (an 18-day Retry-After cools for that).
  if (r.retry_after) return {cooling ? now + std::min(*r.retry_after, cap) : ZeroTime(), q.backoff_level};
  if (!cooling) return {ZeroTime(), q.backoff_level};
  if (q.exceeded && q.next_recover_at > now) return {q.next_recover_at, q.backoff_level};
  const auto [cooldown, level] = QuotaBackoff(q.backoff_level);
  return {now + cooldown, level};
}

// ClearRecord is the record-level success reset. A disabled credential stays disabled: an
// in-flight success must not flip it back to active.
bool ClearRecord(Credential& c) {
  const bool keep_status = c.IsDisabled();
  const bool dirty = c.unavailable || !(c.quota == QuotaState{}) || c.last_error.has_value() ||
                     c.failure_streak != 0 ||
                     !IsZeroTime(c.next_retry_after) ||
                     (!keep_status &&
                      (c.status != CredentialStatus::kActive || !c.status_message.empty()));
  c.unavailable = false;
  c.quota = QuotaState{};
  c.last_error.reset();
  c.failure_streak = 0;
  c.next_retry_after = ZeroTime();
  if (!keep_status) {
    c.status = CredentialStatus::kActive;
    c.status_message.clear();
  }
  return dirty;
}

// AggregateQuota is the record-level quota RecomputeAggregates derives from the model states.
QuotaState AggregateQuota(const Credential& c) {
  bool exceeded = false;
  absl::Time recover = ZeroTime();
  int32_t level = 0;
  for (const auto& [key, st] : c.model_states) {
    if (!st.quota.exceeded) continue;
    exceeded = true;
    if (!IsZeroTime(st.quota.next_recover_at) &&
        (IsZeroTime(recover) || st.quota.next_recover_at < recover)) {
      recover = st.quota.next_recover_at;
    }
    level = std::max(level, st.quota.backoff_level);
  }
  return exceeded ? QuotaState{true, "quota", recover, level} : QuotaState{};
}

// AssignError records `r` as the error in `dst`, reusing the strings of an error already there.
void AssignError(std::optional<ErrorRecord>& dst, const Result& r) {
  if (!dst) dst.emplace();
  dst->code.assign(r.error_code);
  dst->message.assign(r.error_message);
  dst->http_status = r.http_status;
  dst->retryable = r.http_status == 429 || IsTransient(r.http_status) || r.http_status == 0;
}

// Holding reports whether a state's cooldown runs at `now`.
bool Holding(bool unavailable, absl::Time until, absl::Time now) {
  return unavailable && !IsZeroTime(until) && until > now;
}

// BelowThreshold counts `r` into the failure streak (`previous` is the last error before it)
// and reports whether the failure stays below its class's threshold (recorded, but excluding
// nothing).
bool BelowThreshold(int32_t* streak, const std::optional<ErrorRecord>& previous, const Result& r,
                    const ResultPolicy& policy) {
  const int cls = FailureClass(r.http_status, r.error_code, r.error_message);
  const int prev = previous ? FailureClass(previous->http_status, previous->code, previous->message) : -1;
  *streak = prev == cls && *streak > 0 ? std::min<int32_t>(*streak + 1, 1'000'000) : 1;
  const int threshold = cls == 1   ? policy.consecutive_auth
                        : cls == 2 ? policy.consecutive_not_found
                        : cls == 3 ? policy.consecutive_transient
                                   : 1;
  return *streak < threshold;
}

bool ApplyModelFailure(Credential& c, std::string_view key, const Result& r, const ServedModels* served,
                       const ResultPolicy& policy, absl::Time now, bool* entered) {
  const bool cooling = !c.DisableCooling(policy.disable_cooling);
  auto found = c.model_states.find(key);
  if (found == c.model_states.end()) found = c.model_states.emplace(std::string(key), ModelState{}).first;
  ModelState& st = found->second;
  const bool was_holding = Holding(st.unavailable, st.next_retry_after, now);
  const bool below = BelowThreshold(&st.failure_streak, st.last_error, r, policy);
  const absl::Time held_until = st.next_retry_after;
  st.unavailable = true;
  st.status = CredentialStatus::kError;
  st.updated_at = now;
  AssignError(st.last_error, r);
  st.status_message.assign(r.error_message);
  AssignError(c.last_error, r);
  c.status_message.assign(r.error_message);

  const int status = r.http_status;
  absl::Time next = ZeroTime();
  if (IsModelSupportError(status, r.error_message)) {
    next = now + absl::Hours(12);  // even with cooling disabled (spec 04 §3 Note)
  } else if (IsInvalidGrant(status, r.error_code, r.error_message)) {
    if (cooling) next = now + absl::Minutes(30);
  } else if (status == 401 || status == 402 || status == 403) {
    if (cooling) next = now + absl::Minutes(30);
  } else if (status == 404) {
    if (cooling) next = now + absl::Hours(12);
  } else if (status == 429) {
    const auto [quota_next, level] = QuotaNext(st.quota, r, cooling, now, policy.max_cooldown);
    next = quota_next;
    st.quota = QuotaState{true, "quota", next, level};
  } else if (IsTransient(status)) {
    const absl::Duration d = TransientCooldown(policy);
    if (cooling && d > absl::ZeroDuration()) next = now + d;
  }
  st.next_retry_after = next;
  if (below) {
    // Below the class's threshold: recorded, excluding nothing; a cooldown already running
    // (a quota one, say) keeps holding.
    st.unavailable = was_holding;
    st.next_retry_after = was_holding ? held_until : ZeroTime();
  }
  if (entered != nullptr) *entered = !was_holding && Holding(st.unavailable, st.next_retry_after, now);
  c.status = CredentialStatus::kError;
  c.updated_at = now;
  RecomputeAggregates(c, now, served);
  return true;
}

bool ApplyRecordFailure(Credential& c, const Result& r, const ResultPolicy& policy,
                        absl::Time now, bool* entered) {
  const bool cooling = !c.DisableCooling(policy.disable_cooling);
  const bool was_holding = Holding(c.unavailable, c.next_retry_after, now);
  const bool below = BelowThreshold(&c.failure_streak, c.last_error, r, policy);
  const absl::Time held_until = c.next_retry_after;
  c.unavailable = true;
  c.status = CredentialStatus::kError;
  c.updated_at = now;
  AssignError(c.last_error, r);
  if (!r.error_message.empty()) c.status_message.assign(r.error_message);
  const int status = r.http_status;
  const auto set = [&](std::string_view message, absl::Duration d) {
    c.status_message.assign(message);
    c.next_retry_after = cooling ? now + d : ZeroTime();
  };
  if (status == 401) {
    set("unauthorized", absl::Minutes(30));
  } else if (status == 402 || status == 403) {
    set("payment_required", absl::Minutes(30));
  } else if (status == 404) {
    set("not_found", absl::Hours(12));
  } else if (status == 429) {
    c.status_message = "quota exhausted";
    const auto [next, level] = QuotaNext(c.quota, r, cooling, now, policy.max_cooldown);
    c.next_retry_after = next;
    c.quota = QuotaState{true, "quota", next, level};
  } else if (IsTransient(status)) {
    const absl::Duration d = TransientCooldown(policy);
    c.status_message = "transient upstream error";
    c.next_retry_after = cooling && d > absl::ZeroDuration() ? now + d : ZeroTime();
  } else if (c.status_message.empty()) {
    c.status_message = "request failed";
  }
  if (below) {
    c.unavailable = was_holding;
    c.next_retry_after = was_holding ? held_until : ZeroTime();
  }
  if (entered != nullptr) *entered = !was_holding && Holding(c.unavailable, c.next_retry_after, now);
  return true;
}

}  // namespace

bool IsClean(const ModelState& m) {
  return m.status == CredentialStatus::kActive && m.status_message.empty() && !m.unavailable &&
         IsZeroTime(m.next_retry_after) && !m.last_error && m.quota == QuotaState{} &&
         m.failure_streak == 0;
}

int FailureClass(int http_status, std::string_view code, std::string_view message) {
  if (IsModelSupportError(http_status, message)) return 0;
  if (IsInvalidGrant(http_status, code, message)) return 1;
  if (http_status == 401 || http_status == 402 || http_status == 403) return 1;
  if (http_status == 404) return 2;
  if (IsTransient(http_status)) return 3;
  return 0;
}

void ResetModelState(ModelState& m) {
  const absl::Time updated = m.updated_at;
  m = ModelState{};
  m.updated_at = updated;
}

bool ServesStatelessModel(const Credential& c, const ServedModels* served) {
  if (served == nullptr) return false;
  const std::string prefix = NormalizePrefix(c.prefix);
  for (const std::string& m : served->models) {
    if (IsModelGlob(m)) return true;
    if (c.model_states.find(StateKeyFor(prefix, m)) == c.model_states.end() &&
        !IsModelExcluded(served->excluded, m, prefix)) {
      return true;
    }
  }
  return false;
}

bool RecomputeAggregates(Credential& c, absl::Time now, const ServedModels* served) {
  if (c.model_states.empty()) {
    c.unavailable = false;
    c.next_retry_after = ZeroTime();
    c.quota = QuotaState{};
    return false;
  }
  bool changed = false;
  bool all_unavailable = true;
  absl::Time earliest = ZeroTime();
  bool exceeded = false;
  absl::Time recover = ZeroTime();
  int32_t level = 0;
  for (auto& [key, st] : c.model_states) {
    if (st.unavailable && !IsZeroTime(st.next_retry_after) && st.next_retry_after <= now) {
      st.unavailable = false;
      st.next_retry_after = ZeroTime();
      changed = true;
    }
    const bool disabled = st.status == CredentialStatus::kDisabled;
    const bool unavailable_now = disabled || (st.unavailable && st.next_retry_after > now);
    if (!unavailable_now) {
      all_unavailable = false;
    } else if (!disabled && !IsZeroTime(st.next_retry_after) &&
               (IsZeroTime(earliest) || st.next_retry_after < earliest)) {
      earliest = st.next_retry_after;
    }
    if (st.quota.exceeded) {
      exceeded = true;
      if (!IsZeroTime(st.quota.next_recover_at) &&
          (IsZeroTime(recover) || st.quota.next_recover_at < recover)) {
        recover = st.quota.next_recover_at;
      }
      level = std::max(level, st.quota.backoff_level);
    }
  }
  if (all_unavailable && ServesStatelessModel(c, served)) all_unavailable = false;
  c.quota = exceeded ? QuotaState{true, "quota", recover, level} : QuotaState{};
  c.unavailable = all_unavailable;
  c.next_retry_after = all_unavailable ? earliest : ZeroTime();
  return changed;
}

bool HasModelError(const Credential& c, absl::Time now) {
  for (const auto& [key, st] : c.model_states) {
    if (st.last_error) return true;
    if (st.status == CredentialStatus::kError && st.unavailable &&
        (IsZeroTime(st.next_retry_after) || st.next_retry_after > now)) {
      return true;
    }
  }
  return false;
}

bool IsHealthyFor(const Credential& c, std::string_view model_key, absl::Time now) {
  const bool status_clean = c.IsDisabled() || (c.status == CredentialStatus::kActive &&
                                                    c.status_message.empty());
  if (model_key.empty()) {
    return !c.unavailable && status_clean && c.quota == QuotaState{} && !c.last_error &&
           c.failure_streak == 0 && IsZeroTime(c.next_retry_after);
  }
  auto it = c.model_states.find(model_key);
  if (it != c.model_states.end() && !IsClean(it->second)) return false;
  // A success on this model leaves the record available, with the quota its states imply.
  if (c.unavailable || !IsZeroTime(c.next_retry_after) || !(c.quota == AggregateQuota(c))) {
    return false;
  }
  for (const auto& [key, st] : c.model_states) {
    if (st.unavailable && !IsZeroTime(st.next_retry_after) && st.next_retry_after <= now) {
      return false;  // the aggregate would clear it
    }
  }
  return (status_clean && !c.last_error) || HasModelError(c, now);
}

bool SuccessChangesNothing(const Credential& c) {
  for (const auto& [key, st] : c.model_states) {
    if (!IsClean(st)) return false;
  }
  const bool status_clean = c.IsDisabled() || (c.status == CredentialStatus::kActive &&
                                                    c.status_message.empty());
  return status_clean && !c.unavailable && c.quota == QuotaState{} && !c.last_error &&
         c.failure_streak == 0 && IsZeroTime(c.next_retry_after);
}

bool ApplyResult(Credential& c, const Result& r, const ResultPolicy& policy, absl::Time now,
                 const ServedModels* served, bool* entered_cooldown) {
  if (entered_cooldown != nullptr) *entered_cooldown = false;
  const std::string_view key = CanonicalModelKey(r.model);
  if (r.success) {
    if (key.empty()) {
      if (!ClearRecord(c)) return false;
      c.updated_at = now;
      return true;
    }
    // Spec 04 §2: the model's state is reset (a missing state counts as a fresh one; none is
    // created for a healthy model), the aggregates recomputed with the model available, and the
    // record cleared when no model error remains.
    // What changes is tracked field by field (no copy of the credential to compare with).
    bool changed = false;
    if (auto it = c.model_states.find(key); it != c.model_states.end() && !IsClean(it->second)) {
      ResetModelState(it->second);
      it->second.updated_at = now;
      changed = true;
    }
    const bool was_unavailable = c.unavailable;
    const absl::Time retry_was = c.next_retry_after;
    const QuotaState quota_was = c.quota;
    changed |= RecomputeAggregates(c, now, served);
    c.unavailable = false;  // this model is available now
    c.next_retry_after = ZeroTime();
    changed |= was_unavailable || !IsZeroTime(retry_was) || !(c.quota == quota_was);
    if (!HasModelError(c, now) && !c.IsDisabled()) {
      changed |= c.last_error.has_value() || !c.status_message.empty() ||
                 c.status != CredentialStatus::kActive;
      c.last_error.reset();
      c.status_message.clear();
      c.status = CredentialStatus::kActive;
    } else if (!HasModelError(c, now)) {
      changed |= c.last_error.has_value();
      c.last_error.reset();
    }
    if (!changed) return false;
    c.updated_at = now;
    return true;
  }
  if (IsRequestScopedNotFound(r.http_status, r.error_message)) return false;
  if (IsConnectionLifecycle(r.http_status, r.error_code, r.error_message)) return false;
  if (key.empty()) return ApplyRecordFailure(c, r, policy, now, entered_cooldown);
  return ApplyModelFailure(c, key, r, served, policy, now, entered_cooldown);
}

}  // namespace authrouter::internal
