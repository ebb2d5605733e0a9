// The redacted state view of a credential pool (state_view.h).
#include "observe/state_view.h"

#include "internal/json_writer.h"
#include "internal/time_format.h"
#include "observe/metrics.h"

namespace authrouter::observe {
namespace {

void Time(internal::JsonWriter& w, std::string_view key, absl::Time t) {
  if (t == ZeroTime()) return;  // never set: left out
  w.Key(key);
  w.Time(t);
}

void Time(internal::JsonWriter& w, std::string_view key, const std::optional<absl::Time>& t) {
  if (t) Time(w, key, *t);
}

// Cooling: out of the rotation until a time still ahead.
bool Cooling(bool unavailable, absl::Time until, absl::Time now) {
  return unavailable && until != ZeroTime() && until > now;
}

// Cause writes why a cooldown holds, from the error that started it (its status, code and
// message are read; only the cause's name is written).
void Cause(internal::JsonWriter& w, const std::optional<ErrorRecord>& e, const QuotaState& q) {
  w.Key("cause");
  w.String(CooldownCauseName(CooldownCauseOf(e, q)));
}

// LastError writes an error record's status and code only: its message is upstream text.
void LastError(internal::JsonWriter& w, const std::optional<ErrorRecord>& e) {
  if (!e) return;
  w.Key("last_error");
  w.BeginObject();
  w.Key("http_status");
  w.Int(e->http_status);
  w.Key("code");
  w.String(e->code);
  w.Key("retryable");
  w.Bool(e->retryable);
  w.EndObject();
}

void Quota(internal::JsonWriter& w, const QuotaState& q) {
  if (!q.exceeded && q.backoff_level == 0 && q.next_recover_at == ZeroTime()) return;
  w.Key("quota");
  w.BeginObject();
  w.Key("exceeded");
  w.Bool(q.exceeded);
  Time(w, "next_recover_at", q.next_recover_at);
  w.Key("backoff_level");
  w.Int(q.backoff_level);
  w.EndObject();
}

void Strings(internal::JsonWriter& w, std::string_view key, const std::vector<std::string>& v) {
  w.Key(key);
  w.BeginArray();
  for (const std::string& s : v) w.String(s);
  w.EndArray();
}

}  // namespace

std::string_view PoolStateName(const Credential& c, absl::Time now) {
  if (c.IsDisabled()) return "disabled";
  if (c.status == CredentialStatus::kRefreshing) return "refreshing";
  if (Cooling(c.unavailable, c.next_retry_after, now)) return "cooling";
  bool any = false, all_cooling = true;
  for (const auto& [model, st] : c.model_states) {
    any = true;
    all_cooling = all_cooling && Cooling(st.unavailable, st.next_retry_after, now);
  }
  if (any && all_cooling) return "cooling";
  if (c.status == CredentialStatus::kError) return "error";
  return "ready";
}

void AppendStateView(std::string* out, absl::Time now, std::span<const CredentialState> credentials) {
  internal::JsonWriter w(out);
  w.BeginObject();
  Time(w, "now", now);
  w.Key("credentials");
  w.BeginArray();
  for (const CredentialState& cs : credentials) {
    const Credential& c = *cs.credential;
    w.BeginObject();
    w.Key("id");
    w.String(c.id);
    w.Key("provider");
    w.String(c.provider);
    if (!c.label.empty()) {
      w.Key("label");
      w.String(c.label);
    }
    w.Key("state");
    w.String(PoolStateName(c, now));
    w.Key("status");
    w.String(CredentialStatusName(c.status));
    w.Key("disabled");
    w.Bool(c.IsDisabled());
    w.Key("account_kind");
    w.String(c.GetAccountInfo().kind);
    w.Key("priority");
    w.Int(c.Priority());
    w.Key("weight");
    w.Int(c.Weight());
    if (cs.served) {
      w.Key("models");
      w.BeginObject();
      w.Key("source");
      w.String(ModelSourceName(cs.served->source));
      Strings(w, "served", cs.served->models);
      Strings(w, "excluded", cs.served->excluded);
      w.EndObject();
    }
    if (Cooling(c.unavailable, c.next_retry_after, now)) {
      Time(w, "cooling_until", c.next_retry_after);
      Cause(w, c.last_error, c.quota);
    }
    Quota(w, c.quota);
    LastError(w, c.last_error);
    w.Key("model_states");
    w.BeginArray();
    for (const auto& [model, st] : c.model_states) {
      w.BeginObject();
      w.Key("model");
      w.String(model);
      w.Key("status");
      w.String(CredentialStatusName(st.status));
      const bool cooling = Cooling(st.unavailable, st.next_retry_after, now);
      w.Key("cooling");
      w.Bool(cooling);
      if (cooling) {
        Time(w, "cooling_until", st.next_retry_after);
        Cause(w, st.last_error, st.quota);
      }
      Time(w, "updated_at", st.updated_at);
      Quota(w, st.quota);
      LastError(w, st.last_error);
      w.EndObject();
    }
    w.EndArray();
    Time(w, "token_expires_at", c.Expiry());
    Time(w, "last_refreshed_at", c.LastRefreshTime());
    Time(w, "next_refresh_check", cs.next_refresh_check);
    if (Cooling(true, c.next_refresh_after, now)) Time(w, "refresh_backoff_until", c.next_refresh_after);
    w.Key("sessions");
    w.Uint(cs.sessions);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
}

}  // namespace authrouter::observe
