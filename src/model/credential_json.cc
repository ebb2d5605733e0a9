#include "authrouter/credential_json.h"

#include <limits>

#include "absl/status/status.h"
#include "authrouter/shared_state.h"
#include "internal/strings.h"
#include "internal/json_object.h"
#include "internal/json_writer.h"
#include "internal/time_format.h"
#include "simdjson.h"

namespace authrouter {
inline namespace v0 {
namespace {

using internal::JsonWriter;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// ---- writing ------------------------------------------------------------------------------

void WriteTime(JsonWriter& w, std::string_view key, absl::Time t) {
  char buf[internal::kRfc3339BufferSize];
  w.Key(key);
  w.String(std::string_view(buf, internal::FormatRfc3339To(t, buf)));
}

void WriteQuota(JsonWriter& w, const QuotaState& q) {
  w.BeginObject();
  w.Key("exceeded");
  w.Bool(q.exceeded);
  if (!q.reason.empty()) {
    w.Key("reason");
    w.String(q.reason);
  }
  WriteTime(w, "next_recover_at", q.next_recover_at);
  if (q.backoff_level != 0) {
    w.Key("backoff_level");
    w.Int(q.backoff_level);
  }
  w.EndObject();
}

void WriteError(JsonWriter& w, const ErrorRecord& e) {
  w.BeginObject();
  if (!e.code.empty()) {
    w.Key("code");
    w.String(e.code);
  }
  w.Key("message");
  w.String(e.message);
  w.Key("retryable");
  w.Bool(e.retryable);
  if (e.http_status != 0) {
    w.Key("http_status");
    w.Int(e.http_status);
  }
  w.EndObject();
}

void WriteModelState(JsonWriter& w, const ModelState& m) {
  w.BeginObject();
  w.Key("status");
  w.String(CredentialStatusName(m.status));
  if (!m.status_message.empty()) {
    w.Key("status_message");
    w.String(m.status_message);
  }
  w.Key("unavailable");
  w.Bool(m.unavailable);
  WriteTime(w, "next_retry_after", m.next_retry_after);
  if (m.last_error) {
    w.Key("last_error");
    WriteError(w, *m.last_error);
  }
  w.Key("quota");
  WriteQuota(w, m.quota);
  WriteTime(w, "updated_at", m.updated_at);
  w.EndObject();
}

// ---- reading ------------------------------------------------------------------------------

std::string MapPath(std::string_view parent, std::string_view key) {
  std::string out(parent);
  out.push_back('[');
  internal::AppendJsonString(&out, key);
  out.push_back(']');
  return out;
}

std::string FieldPath(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : internal::Cat(parent, ".", key);
}

absl::Status TypeError(std::string_view path, std::string_view expected) {
  return absl::InvalidArgumentError(internal::Cat(path, ": expected ", expected));
}

absl::Status ReadString(element e, std::string_view path, std::string* out) {
  if (e.is_null()) {
    out->clear();
    return absl::OkStatus();
  }
  if (e.type() != element_type::STRING) return TypeError(path, "a string");
  out->assign(std::string_view(e));
  return absl::OkStatus();
}

absl::Status ReadBool(element e, std::string_view path, bool* out) {
  if (e.is_null()) {
    *out = false;
    return absl::OkStatus();
  }
  if (e.type() != element_type::BOOL) return TypeError(path, "a boolean");
  *out = bool(e);
  return absl::OkStatus();
}

absl::Status ReadInt32(element e, std::string_view path, int32_t* out) {
  if (e.is_null()) {
    *out = 0;
    return absl::OkStatus();
  }
  if (e.type() == element_type::INT64) {
    const int64_t v = int64_t(e);
    if (v >= std::numeric_limits<int32_t>::min() && v <= std::numeric_limits<int32_t>::max()) {
      *out = static_cast<int32_t>(v);
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(internal::Cat(path, ": integer out of range"));
  }
  if (e.type() == element_type::UINT64) {
    return absl::InvalidArgumentError(internal::Cat(path, ": integer out of range"));
  }
  return TypeError(path, "an integer");
}

absl::Status ReadTime(element e, std::string_view path, absl::Time* out) {
  if (e.is_null()) {
    *out = ZeroTime();
    return absl::OkStatus();
  }
  if (e.type() != element_type::STRING) return TypeError(path, "an RFC 3339 time string");
  std::optional<absl::Time> t = ParseRfc3339(std::string_view(e));
  if (!t) return TypeError(path, "an RFC 3339 time such as \"2026-04-17T00:00:00Z\"");
  *out = *t;
  return absl::OkStatus();
}

absl::Status ReadStatus(element e, std::string_view path, CredentialStatus* out) {
  std::string name;
  if (auto s = ReadString(e, path, &name); !s.ok()) return s;
  absl::StatusOr<CredentialStatus> status = ParseCredentialStatus(name);
  if (!status.ok()) {
    return absl::InvalidArgumentError(internal::Cat(path, ": ", status.status().message()));
  }
  *out = *status;
  return absl::OkStatus();
}

absl::Status ReadObject(element e, std::string_view path, object* out) {
  if (e.type() != element_type::OBJECT) return TypeError(path, "an object");
  *out = object(e);
  return absl::OkStatus();
}

absl::Status ReadQuota(element e, std::string_view path, QuotaState* q) {
  *q = QuotaState{};
  if (e.is_null()) return absl::OkStatus();
  object obj;
  if (auto s = ReadObject(e, path, &obj); !s.ok()) return s;
  for (auto [key, value] : obj) {
    absl::Status s;
    if (key == "exceeded") {
      s = ReadBool(value, FieldPath(path, key), &q->exceeded);
    } else if (key == "reason") {
      s = ReadString(value, FieldPath(path, key), &q->reason);
    } else if (key == "next_recover_at") {
      s = ReadTime(value, FieldPath(path, key), &q->next_recover_at);
    } else if (key == "backoff_level") {
      s = ReadInt32(value, FieldPath(path, key), &q->backoff_level);
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ReadError(element e, std::string_view path, std::optional<ErrorRecord>* out) {
  out->reset();
  if (e.is_null()) return absl::OkStatus();
  object obj;
  if (auto s = ReadObject(e, path, &obj); !s.ok()) return s;
  ErrorRecord rec;
  for (auto [key, value] : obj) {
    absl::Status s;
    if (key == "code") {
      s = ReadString(value, FieldPath(path, key), &rec.code);
    } else if (key == "message") {
      s = ReadString(value, FieldPath(path, key), &rec.message);
    } else if (key == "retryable") {
      s = ReadBool(value, FieldPath(path, key), &rec.retryable);
    } else if (key == "http_status") {
      s = ReadInt32(value, FieldPath(path, key), &rec.http_status);
    }
    if (!s.ok()) return s;
  }
  *out = std::move(rec);
  return absl::OkStatus();
}

absl::Status ReadModelState(element e, std::string_view path, ModelState* m) {
  object obj;
  if (auto s = ReadObject(e, path, &obj); !s.ok()) return s;
  *m = ModelState{};
  m->status = CredentialStatus::kUnknown;  // a missing status reads as Go's ""
  for (auto [key, value] : obj) {
    absl::Status s;
    const std::string field = FieldPath(path, key);
    if (key == "status") {
      s = ReadStatus(value, field, &m->status);
    } else if (key == "status_message") {
      s = ReadString(value, field, &m->status_message);
    } else if (key == "unavailable") {
      s = ReadBool(value, field, &m->unavailable);
    } else if (key == "next_retry_after") {
      s = ReadTime(value, field, &m->next_retry_after);
    } else if (key == "last_error") {
      s = ReadError(value, field, &m->last_error);
    } else if (key == "quota") {
      s = ReadQuota(value, field, &m->quota);
    } else if (key == "updated_at") {
      s = ReadTime(value, field, &m->updated_at);
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// RawMetadata returns the exact text of the last top-level "metadata" member. The document was
// already validated by the DOM parser, so the member walker may assume valid JSON.
absl::StatusOr<std::string> RawMetadata(std::string_view json) {
  std::string raw;
  bool bad = false;
  internal::ForEachMember(json, [&](const internal::JsonMember& m) {
    if (m.key != "metadata") return;
    bad = m.value.empty() || m.value.front() != '{';
    raw.assign(m.value);
  });
  if (bad) return absl::InvalidArgumentError("metadata: expected an object");
  return raw;
}

}  // namespace

void AppendCredentialJson(const Credential& c, std::string* out) {
  JsonWriter w(out);
  w.BeginObject();
  w.Key("id");
  w.String(c.id);
  w.Key("provider");
  w.String(c.provider);
  if (!c.prefix.empty()) {
    w.Key("prefix");
    w.String(c.prefix);
  }
  if (!c.label.empty()) {
    w.Key("label");
    w.String(c.label);
  }
  w.Key("status");
  w.String(CredentialStatusName(c.status));
  if (!c.status_message.empty()) {
    w.Key("status_message");
    w.String(c.status_message);
  }
  w.Key("disabled");
  w.Bool(c.disabled);
  w.Key("unavailable");
  w.Bool(c.unavailable);
  if (!c.proxy_url.empty()) {
    w.Key("proxy_url");
    w.String(c.proxy_url);
  }
  if (!c.attributes.empty()) {
    w.Key("attributes");
    w.BeginObject();
    for (const auto& [key, value] : c.attributes) {
      w.Key(key);
      w.String(value);
    }
    w.EndObject();
  }
  if (!c.metadata.empty()) {
    w.Key("metadata");
    w.Raw(c.metadata.json());
  }
  w.Key("quota");
  WriteQuota(w, c.quota);
  if (c.last_error) {
    w.Key("last_error");
    WriteError(w, *c.last_error);
  }
  WriteTime(w, "created_at", c.created_at);
  WriteTime(w, "updated_at", c.updated_at);
  WriteTime(w, "last_refreshed_at", c.last_refreshed_at);
  WriteTime(w, "next_refresh_after", c.next_refresh_after);
  WriteTime(w, "next_retry_after", c.next_retry_after);
  if (!c.model_states.empty()) {
    w.Key("model_states");
    w.BeginObject();
    for (const auto& [model, state] : c.model_states) {
      w.Key(model);
      WriteModelState(w, state);
    }
    w.EndObject();
  }
  w.EndObject();
}

std::string CredentialToJson(const Credential& credential) {
  std::string out;
  out.reserve(512 + credential.metadata.json().size());
  AppendCredentialJson(credential, &out);
  return out;
}

absl::StatusOr<Credential> CredentialFromJson(std::string_view json) {
  if (json.size() > kMaxCredentialJsonBytes) {
    return absl::InvalidArgumentError(internal::Cat("credential JSON is ", json.size(),
                                                   " bytes; the limit is ",
                                                   kMaxCredentialJsonBytes));
  }
  if (json.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return absl::InvalidArgumentError("credential JSON is empty");
  }
  thread_local simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root)) {
    return absl::InvalidArgumentError(
        internal::Cat("credential JSON is not valid JSON: ", simdjson::error_message(err)));
  }
  if (root.type() != element_type::OBJECT) {
    return absl::InvalidArgumentError("credential JSON must be an object");
  }
  Credential c;
  bool has_metadata = false;
  for (auto [key, value] : object(root)) {
    absl::Status s;
    if (key == "id") {
      s = ReadString(value, key, &c.id);
    } else if (key == "provider") {
      s = ReadString(value, key, &c.provider);
    } else if (key == "prefix") {
      s = ReadString(value, key, &c.prefix);
    } else if (key == "label") {
      s = ReadString(value, key, &c.label);
    } else if (key == "status") {
      s = ReadStatus(value, key, &c.status);
    } else if (key == "status_message") {
      s = ReadString(value, key, &c.status_message);
    } else if (key == "disabled") {
      s = ReadBool(value, key, &c.disabled);
    } else if (key == "unavailable") {
      s = ReadBool(value, key, &c.unavailable);
    } else if (key == "proxy_url") {
      s = ReadString(value, key, &c.proxy_url);
    } else if (key == "attributes") {
      c.attributes.clear();
      if (!value.is_null()) {
        object attrs;
        if (s = ReadObject(value, key, &attrs); !s.ok()) return s;
        for (auto it = attrs.begin(); s.ok() && it != attrs.end(); ++it) {
          std::string v;
          s = ReadString(it.value(), MapPath("attributes", it.key()), &v);
          c.attributes.insert_or_assign(std::string(it.key()), std::move(v));
        }
      }
    } else if (key == "metadata") {
      has_metadata = value.type() == element_type::OBJECT;
      if (!has_metadata && !value.is_null()) s = TypeError(key, "an object");
    } else if (key == "quota") {
      s = ReadQuota(value, key, &c.quota);
    } else if (key == "last_error") {
      s = ReadError(value, key, &c.last_error);
    } else if (key == "created_at") {
      s = ReadTime(value, key, &c.created_at);
    } else if (key == "updated_at") {
      s = ReadTime(value, key, &c.updated_at);
    } else if (key == "last_refreshed_at") {
      s = ReadTime(value, key, &c.last_refreshed_at);
    } else if (key == "next_refresh_after") {
      s = ReadTime(value, key, &c.next_refresh_after);
    } else if (key == "next_retry_after") {
      s = ReadTime(value, key, &c.next_retry_after);
    } else if (key == "model_states") {
      c.model_states.clear();
      if (!value.is_null()) {
        object states;
        if (s = ReadObject(value, key, &states); !s.ok()) return s;
        for (auto it = states.begin(); s.ok() && it != states.end(); ++it) {
          if (it.value().is_null()) continue;
          ModelState state;
          s = ReadModelState(it.value(), MapPath("model_states", it.key()), &state);
          c.model_states.insert_or_assign(std::string(it.key()), std::move(state));
        }
      }
    }
    if (!s.ok()) return s;
  }
  if (has_metadata) {
    absl::StatusOr<std::string> raw = RawMetadata(json);
    if (!raw.ok()) return raw.status();
    absl::StatusOr<Metadata> metadata = Metadata::Parse(*raw);
    if (!metadata.ok()) return metadata.status();
    c.metadata = *std::move(metadata);
  }
  if (absl::Status s = c.Validate(); !s.ok()) return s;
  return c;
}

// ---- the shared form of a model state (shared_state.h) ----------------------------------------

std::string SharedHealthToJson(const ModelState& state) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("state");
  WriteModelState(w, state);
  if (state.failure_streak != 0) {
    w.Key("failure_streak");
    w.Int(state.failure_streak);
  }
  w.EndObject();
  return out;
}

absl::StatusOr<ModelState> SharedHealthFromJson(std::string_view json) {
  constexpr size_t kMaxSharedHealthBytes = size_t{64} << 10;
  if (json.size() > kMaxSharedHealthBytes) {
    return absl::InvalidArgumentError(internal::Cat("shared health is ", json.size(),
                                                   " bytes; the limit is ", kMaxSharedHealthBytes));
  }
  thread_local simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root)) {
    return absl::InvalidArgumentError(
        internal::Cat("shared health is not valid JSON: ", simdjson::error_message(err)));
  }
  if (root.type() != element_type::OBJECT) {
    return absl::InvalidArgumentError("shared health must be an object");
  }
  ModelState state;
  bool has_state = false;
  int32_t streak = 0;
  for (auto [key, value] : object(root)) {
    absl::Status s;
    if (key == "state") {
      has_state = true;
      s = ReadModelState(value, "state", &state);
    } else if (key == "failure_streak") {
      s = ReadInt32(value, "failure_streak", &streak);
      if (s.ok() && streak < 0) s = absl::InvalidArgumentError("failure_streak: must be >= 0");
    }
    if (!s.ok()) return s;
  }
  if (!has_state) return absl::InvalidArgumentError("state: missing");
  state.failure_streak = streak;
  Credential probe;  // Validate checks the strings and times of a model state
  probe.model_states.emplace("m", state);
  if (absl::Status s = probe.Validate(); !s.ok()) return s;
  return state;
}

}  // namespace v0
}  // namespace authrouter
