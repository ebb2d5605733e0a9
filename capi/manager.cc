// The C ABI: manager lifecycle, credentials, models and background work.
#include "capi/capi_internal.h"
#include "capi/callbacks.h"
#include "authrouter/credential_json.h"
#include "authrouter/models.h"
#include "internal/json_object.h"
#include "internal/json_values.h"
#include "internal/json_writer.h"
#include "internal/strings.h"
#include "simdjson.h"

using namespace authrouter::capi;  // NOLINT: the helpers of this layer

extern "C" {

// ---- the manager ------------------------------------------------------------------------------

int32_t authrouter_manager_new(authrouter_manager** out, const authrouter_options* o,
                               authrouter_error** err) {
  if (out == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  if (o == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options is NULL");
  return Guard(err, [&] {
    auto m = std::make_unique<authrouter_manager>();
    m->logger = o->logger;
    for (const std::string& w : o->config.warnings) {
      ar::LogTo(m->logger, ar::LogLevel::kWarning, "config", ar::DescribeUnknownKey(w));
    }
    m->clock = o->clock;
    m->transport = o->transport;
    m->config = o->config;
    if (o->shared_state && o->config.redis) {
      return Fail(err, AUTHROUTER_INVALID_ARGUMENT,
                  "both a shared-state callback and redis (use_redis or shared-state.redis) were set");
    }
    ar::ManagerOptions mo;
    mo.logger = o->logger;  // the Redis client's diagnostics
    if (absl::Status s = ar::ApplyToOptions(o->config, mo, o->transport); !s.ok()) return Fail(err, s);
    if (o->shared_state) {
      if (!ar::capi::ClaimSharedState(*o->shared_state)) {
        return Fail(err, AUTHROUTER_INVALID_ARGUMENT,
                    "this shared-state callback struct already serves a manager; set one per manager");
      }
      mo.shared_state = o->shared_state;
    }
    mo.metrics = o->metrics;
    mo.metrics_credentials = o->metrics_credentials;
    if (o->session_affinity_max_entries != 0) {
      mo.session_affinity_max_entries = o->session_affinity_max_entries;
    }
    for (const auto& [provider, refresher] : o->refreshers) mo.refresh.refreshers[provider] = refresher;
    if (o->default_refresher) mo.refresh.default_refresher = o->default_refresher;
    mo.clock = m->clock.get();
    mo.hooks = o->hooks;
    mo.logger = o->logger;
    mo.selector = o->selector;
    mo.selector_budget = o->selector_budget;
    mo.store = o->store;
    if (o->use_file_store) {
      if (o->store) {
        return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "both a store callback and a file store were set");
      }
      ar::FileStoreOptions fo;
      fo.directory = o->file_store_dir.empty() ? o->config.auth_dir : o->file_store_dir;
      fo.logger = o->logger;
      absl::StatusOr<std::shared_ptr<ar::FileStore>> fs = ar::FileStore::Open(fo);
      if (!fs.ok()) return Fail(err, fs.status());
      m->file_store = *fs;
      mo.store = m->file_store;
    }
    absl::StatusOr<std::unique_ptr<ar::Manager>> manager = ar::Manager::Create(std::move(mo));
    if (!manager.ok()) return Fail(err, manager.status());
    m->manager = *std::move(manager);
    if (m->file_store || !o->config_path.empty()) {
      ar::WatcherOptions wo;
      wo.manager = m->manager.get();
      wo.store = m->file_store;  // may be null: the config file only
      wo.config = o->config;
      wo.config_path = o->config_path;
      wo.config_sha256 = o->config_sha256;
      wo.transport = o->transport;
      wo.logger = o->logger;
      absl::StatusOr<std::unique_ptr<ar::Watcher>> w = ar::Watcher::Create(std::move(wo));
      if (!w.ok()) return Fail(err, w.status());
      m->watcher = *std::move(w);
    }
    *out = m.release();
    return Ok(err);
  });
}

void authrouter_manager_free(authrouter_manager* m) {
  if (m == nullptr) return;
  try {
    if (m->watcher) m->watcher->Stop();
    if (m->manager) m->manager->StopRefreshLoop();
    delete m;
  } catch (...) {
  }
}

int32_t authrouter_manager_shutdown(authrouter_manager* m) {
  if (m == nullptr) return AUTHROUTER_INVALID_ARGUMENT;
  try {
    // From a callback, another thread holding the lifecycle lock may be joining this thread.
    std::unique_lock<std::mutex> lifecycle(m->lifecycle_mu, std::defer_lock);
    if (!InLibraryCallback(m)) lifecycle.lock();
    m->shut_down.store(true);
    if (m->watcher) m->watcher->Stop();
    m->manager->StopRefreshLoop();
    // The session sweeper too (no call can pick any more), and the selector (its stop, once).
    (void)m->manager->SetSessionAffinity(false, absl::Hours(1));
    m->manager->SetSelector(nullptr);
  } catch (...) {
    return AUTHROUTER_INTERNAL;
  }
  return AUTHROUTER_OK;
}

int32_t authrouter_manager_apply_config(authrouter_manager* m, const char* json, size_t len,
                                        authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  std::string_view text;
  if (!Str(json, len, &text)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "json is NULL");
  return Guard(err, [&] {
    absl::StatusOr<ar::Config> next = ar::ParseConfig(text);
    if (!next.ok()) {
      ar::LogTo(m->logger, ar::LogLevel::kError, "config",
                "configuration rejected, the previous one stays: " + std::string(next.status().message()));
      return Fail(err, next.status());
    }
    for (const std::string& w : next->warnings) {
      ar::LogTo(m->logger, ar::LogLevel::kWarning, "config", ar::DescribeUnknownKey(w));
    }
    if (m->watcher) {
      // The watcher keeps the one configuration in force (it may also have reloaded the file).
      absl::StatusOr<std::vector<std::string>> changed = m->watcher->ApplyConfig(*next);
      return changed.ok() ? Ok(err) : Fail(err, changed.status());
    }
    absl::Status status;
    {
      std::lock_guard<std::recursive_mutex> lock(m->config_mu);
      absl::StatusOr<std::vector<std::string>> changed =
          ar::ApplyConfig(*m->manager, m->config, *next, m->transport);
      status = changed.status();
      if (changed.ok()) m->config = *std::move(next);
    }
    if (!status.ok()) {
      ar::LogTo(m->logger, ar::LogLevel::kError, "config",
                "configuration rejected, the previous one stays: " + std::string(status.message()));
      return Fail(err, status);
    }
    return Ok(err);
  });
}

}  // extern "C"

namespace {

int32_t Load(authrouter_manager* m, ar::LoadReport* report, authrouter_error** err) {
  absl::Status s = m->manager->Load(report);
  if (s.ok() && m->watcher) s = m->watcher->Sync();
  return s.ok() ? Ok(err) : Fail(err, s);
}

}  // namespace

extern "C" {

int32_t authrouter_manager_load(authrouter_manager* m, authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  return Guard(err, [&] { return Load(m, nullptr, err); });
}

int32_t authrouter_manager_load_report(authrouter_manager* m, char** out, size_t* out_len,
                                       authrouter_error** err) {
  if (out != nullptr) *out = nullptr;
  if (out_len != nullptr) *out_len = 0;
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  if (out == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out is NULL");
  return Guard(err, [&] {
    ar::LoadReport report;
    if (int32_t rc = Load(m, &report, err); rc != 0) return rc;
    std::string json;
    ar::internal::JsonWriter w(&json);
    w.BeginObject();
    w.Key("loaded");
    w.BeginArray();
    for (const std::string& id : report.loaded) w.String(id);
    w.EndArray();
    w.Key("skipped");
    w.BeginArray();
    for (const ar::StoreSkip& skip : report.skipped) {
      w.BeginObject();
      w.Key("name");
      w.String(skip.name);
      w.Key("reason");
      w.String(skip.reason);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
    return CopyOutJson(json, out, out_len, err);
  });
}

}  // extern "C"

namespace {

// RecordShape rejects what a record must not be: an auth file's own form, a record without
// provider. REQUIRES: `json` parsed as a credential record.
absl::Status RecordShape(std::string_view json, const ar::Credential& c) {
  if (!ar::internal::ProviderKey(c.provider).empty()) return absl::OkStatus();
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  const bool object = !parser.parse(json.data(), json.size()).get_object().get(o);
  std::string_view type;
  if (object && o["provider"].error() == simdjson::NO_SUCH_FIELD && !o["type"].get_string().get(type)) {
    return absl::InvalidArgumentError(
        "this is an auth file's own form (it has \"type\", no \"provider\"): put the file in the "
        "auth directory and call authrouter_manager_load, or register a record "
        "{\"id\": \"...\", \"provider\": \"<type>\", \"metadata\": {<the file>}}");
  }
  return absl::InvalidArgumentError(
      "the record has no \"provider\" (\"claude\", \"codex\", \"gemini-cli\", ...): a credential "
      "without one would never be picked");
}

int32_t RegisterOrUpdate(authrouter_manager* m, const char* json, size_t len, bool update,
                         char** out_id, size_t* out_id_len, authrouter_error** err) {
  if (out_id != nullptr) *out_id = nullptr;
  if (out_id_len != nullptr) *out_id_len = 0;
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  std::string_view text;
  if (!Str(json, len, &text)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "json is NULL");
  return Guard(err, [&] {
    absl::StatusOr<ar::Credential> c = ar::CredentialFromJson(text);
    if (!c.ok()) return Fail(err, c.status());
    if (absl::Status shape = RecordShape(text, *c); !shape.ok()) return Fail(err, shape);
    absl::StatusOr<std::shared_ptr<const ar::Credential>> r =
        update ? m->manager->Update(*std::move(c)) : m->manager->Register(*std::move(c));
    if (!r.ok()) return Fail(err, r.status());
    if (out_id != nullptr) {
      *out_id = CopyOut((*r)->id);
      if (*out_id == nullptr) return Fail(err, absl::ResourceExhaustedError("out of memory"));
      if (out_id_len != nullptr) *out_id_len = (*r)->id.size();
    }
    return Ok(err);
  });
}

}  // namespace

extern "C" {

int32_t authrouter_manager_register(authrouter_manager* m, const char* json, size_t len,
                                    authrouter_error** err) {
  return RegisterOrUpdate(m, json, len, false, nullptr, nullptr, err);
}

int32_t authrouter_manager_register_ext(authrouter_manager* m, const char* json, size_t len,
                                        char** out_id, size_t* out_id_len, authrouter_error** err) {
  return RegisterOrUpdate(m, json, len, false, out_id, out_id_len, err);
}

int32_t authrouter_manager_update(authrouter_manager* m, const char* json, size_t len,
                                  authrouter_error** err) {
  return RegisterOrUpdate(m, json, len, true, nullptr, nullptr, err);
}

int32_t authrouter_manager_patch(authrouter_manager* m, const char* id, size_t id_len,
                                 const char* patch, size_t patch_len, authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  std::string_view i, text;
  if (!Str(id, id_len, &i)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "id is NULL");
  if (!Str(patch, patch_len, &text)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "patch is NULL");
  return Guard(err, [&] {
    if (text.size() > ar::kMaxCredentialJsonBytes) {
      return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "patch: larger than 8 MiB");
    }
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (text.empty() || parser.parse(text.data(), text.size()).get(root) || !root.is_object()) {
      return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "patch: not a JSON object");
    }
    if (const std::optional<std::string> dup = ar::internal::DuplicateKeyPath(root)) {
      return Fail(err, absl::InvalidArgumentError(ar::internal::Cat(
                           "patch: ", *dup, ": the key appears twice (which one counts is ambiguous)")));
    }
    absl::StatusOr<std::shared_ptr<const ar::Credential>> r =
        m->manager->Edit(i, [&](ar::Credential& c) -> absl::Status {
          absl::StatusOr<ar::Credential> next =
              ar::CredentialFromJson(ar::internal::MergePatch(ar::CredentialToJson(c), text));
          if (!next.ok()) {
            return absl::InvalidArgumentError(
                ar::internal::Cat("patch: ", ar::internal::ToStd(next.status().message())));
          }
          // Not part of the record's JSON form: kept as they are.
          next->file_name = c.file_name;
          next->index = c.index;
          next->index_assigned = c.index_assigned;
          c = *std::move(next);
          return absl::OkStatus();
        });
    return r.ok() ? Ok(err) : Fail(err, r.status());
  });
}

int32_t authrouter_manager_remove(authrouter_manager* m, const char* id, size_t len,
                                  authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  std::string_view i;
  if (!Str(id, len, &i)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "id is NULL");
  return Guard(err, [&] {
    absl::Status s = m->manager->Remove(i);
    return s.ok() ? Ok(err) : Fail(err, s);
  });
}

int32_t authrouter_manager_set_disabled(authrouter_manager* m, const char* id, size_t len,
                                        bool disabled, authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  std::string_view i;
  if (!Str(id, len, &i)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "id is NULL");
  return Guard(err, [&] {
    absl::Status s = m->manager->SetDisabled(i, disabled);
    return s.ok() ? Ok(err) : Fail(err, s);
  });
}

int32_t authrouter_manager_get(authrouter_manager* m, authrouter_credential** out, const char* id,
                               size_t len, authrouter_error** err) {
  if (out != nullptr) *out = nullptr;
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  std::string_view i;
  if (out == nullptr || !Str(id, len, &i)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out or id is NULL");
  return Guard(err, [&] {
    std::shared_ptr<const ar::Credential> c = m->manager->Get(i);
    if (c == nullptr) return Fail(err, AUTHROUTER_NOT_FOUND, "credential not found: " + std::string(i));
    *out = new authrouter_credential(std::move(c));
    return Ok(err);
  });
}

int32_t authrouter_manager_list_ext(authrouter_manager* m, uint32_t flags, char** out,
                                    size_t* out_len, authrouter_error** err) {
  if (out != nullptr) *out = nullptr;
  if (out_len != nullptr) *out_len = 0;
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  if (out == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out is NULL");
  if (!ValidDumpFlags(flags)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "unknown flags");
  return Guard(err, [&] {
    const ar::CredentialJsonOptions options{.redact_secrets = (flags & AUTHROUTER_INCLUDE_SECRETS) == 0};
    std::string json = "[";
    for (const auto& c : m->manager->List()) {
      if (json.size() > 1) json += ',';
      json += ar::CredentialToJson(*c, options);
    }
    json += ']';
    return CopyOutJson(json, out, out_len, err);
  });
}

int32_t authrouter_manager_list(authrouter_manager* m, char** out, size_t* out_len,
                                authrouter_error** err) {
  return authrouter_manager_list_ext(m, 0, out, out_len, err);
}

int32_t authrouter_manager_state_view(authrouter_manager* m, char** out, size_t* out_len,
                                      authrouter_error** err) {
  if (out != nullptr) *out = nullptr;
  if (out_len != nullptr) *out_len = 0;
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  if (out == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out is NULL");
  return Guard(err, [&] { return CopyOutJson(m->manager->StateView(), out, out_len, err); });
}

int32_t authrouter_manager_metrics(authrouter_manager* m, uint32_t format, char** out,
                                   size_t* out_len, authrouter_error** err) {
  if (out != nullptr) *out = nullptr;
  if (out_len != nullptr) *out_len = 0;
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  if (out == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out is NULL");
  if (format != AUTHROUTER_METRICS_PROMETHEUS && format != AUTHROUTER_METRICS_JSON) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT,
                "format must be AUTHROUTER_METRICS_PROMETHEUS or AUTHROUTER_METRICS_JSON");
  }
  return Guard(err, [&] {
    const ar::MetricsSnapshot snapshot = m->manager->Metrics();
    return CopyOutJson(format == AUTHROUTER_METRICS_JSON ? snapshot.Json() : snapshot.Prometheus(),
                       out, out_len, err);
  });
}

int32_t authrouter_manager_models(authrouter_manager* m, const char* id, size_t id_len, char** out,
                                  size_t* out_len, authrouter_error** err) {
  if (out != nullptr) *out = nullptr;
  if (out_len != nullptr) *out_len = 0;
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  std::string_view i;
  if (out == nullptr || !Str(id, id_len, &i)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out or id is NULL");
  return Guard(err, [&] {
    std::optional<ar::ServedModels> served = m->manager->GetServedModels(i);
    if (!served) return Fail(err, AUTHROUTER_NOT_FOUND, "credential not found: " + std::string(i));
    std::string json;
    ar::internal::JsonWriter w(&json);
    w.BeginObject();
    w.Key("id");
    w.String(i);
    w.Key("source");
    w.String(ar::ModelSourceName(served->source));
    w.Key("models");
    w.BeginArray();
    for (const std::string& model : served->models) w.String(model);
    w.EndArray();
    w.Key("excluded_models");
    w.BeginArray();
    for (const std::string& model : served->excluded) w.String(model);
    w.EndArray();
    w.EndObject();
    return CopyOutJson(json, out, out_len, err);
  });
}

int32_t authrouter_manager_register_models(authrouter_manager* m, const char* id, size_t id_len,
                                           const authrouter_string* models, size_t count,
                                           authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  std::string_view i;
  if (!Str(id, id_len, &i) || (models == nullptr && count != 0)) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "id or models is NULL");
  }
  return Guard(err, [&] {
    std::vector<std::string_view> views;
    for (size_t k = 0; k < count; ++k) {
      std::string_view v;
      if (!Str(models[k], &v)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a model is NULL");
      views.push_back(v);
    }
    m->manager->RegisterModels(i, views);
    return Ok(err);
  });
}


// ---- background work --------------------------------------------------------------------------

int32_t authrouter_manager_start(authrouter_manager* m, authrouter_error** err) {
  if (m == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "manager is NULL");
  return Guard(err, [&] {
    if (InLibraryCallback(m)) {
      return Fail(err, AUTHROUTER_FAILED_PRECONDITION,
                  "authrouter_manager_start cannot be called from a callback of the same manager "
                  "(it would wait for the threads that run it); call it after the callback returns");
    }
    std::lock_guard<std::mutex> lifecycle(m->lifecycle_mu);
    if (int32_t rc = CheckManager(m, err); rc != 0) return rc;  // checked under the lock
    absl::Status s = m->manager->StartRefreshLoop();
    if (!s.ok() && !absl::IsFailedPrecondition(s)) return Fail(err, s);  // no refresher: fine
    if (m->watcher) {
      m->watcher->Stop();
      if (absl::Status w = m->watcher->Start(); !w.ok()) return Fail(err, w);
    }
    return Ok(err);
  });
}

int32_t authrouter_manager_stop(authrouter_manager* m) {
  if (m == nullptr) return AUTHROUTER_INVALID_ARGUMENT;
  try {
    std::unique_lock<std::mutex> lifecycle(m->lifecycle_mu, std::defer_lock);
    if (!InLibraryCallback(m)) lifecycle.lock();  // see authrouter_manager_shutdown
    if (m->shut_down.load()) return AUTHROUTER_SHUT_DOWN;
    if (m->watcher) m->watcher->Stop();
    m->manager->StopRefreshLoop();
  } catch (...) {
    return AUTHROUTER_INTERNAL;
  }
  return AUTHROUTER_OK;
}

int32_t authrouter_manager_run_due(authrouter_manager* m, int64_t now_unix_ms, size_t* refreshed,
                                   authrouter_error** err) {
  if (refreshed != nullptr) *refreshed = 0;
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  return Guard(err, [&] {
    if (m->watcher) {
      if (absl::Status s = m->watcher->Sync(); !s.ok()) return Fail(err, s);
    }
    const size_t n = m->manager->RunDueRefreshes(absl::FromUnixMillis(now_unix_ms));
    if (refreshed != nullptr) *refreshed = n;
    return Ok(err);
  });
}

int32_t authrouter_manager_refresh(authrouter_manager* m, const char* id, size_t len,
                                   authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  std::string_view i;
  if (!Str(id, len, &i)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "id is NULL");
  return Guard(err, [&] {
    absl::Status s = m->manager->Refresh(i).status();
    return s.ok() ? Ok(err) : Fail(err, s);
  });
}

}  // extern "C"
