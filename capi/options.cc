// The C ABI: options and the callbacks they take.
#include "capi/capi_internal.h"
#include "capi/callbacks.h"
#include "internal/sha256.h"

#include <cerrno>
#include <filesystem>
#include <fstream>
#include "internal/strings.h"

using namespace authrouter::capi;  // NOLINT: the helpers of this layer

extern "C" {

// ---- options ----------------------------------------------------------------------------------

int32_t authrouter_options_new(authrouter_options** out, authrouter_error** err) {
  if (out == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  return Guard(err, [&] {
    auto* o = new authrouter_options();
    absl::StatusOr<ar::Config> defaults = ar::ParseConfig("{}");
    if (defaults.ok()) o->config = *std::move(defaults);
    *out = o;
    return Ok(err);
  });
}

void authrouter_options_free(authrouter_options* o) { delete o; }

int32_t authrouter_options_apply_config(authrouter_options* o, const char* json, size_t len,
                                        authrouter_error** err) {
  std::string_view text;
  if (o == nullptr || !Str(json, len, &text)) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options or json is NULL");
  }
  return Guard(err, [&] {
    absl::StatusOr<ar::Config> c = ar::ParseConfig(text);
    if (!c.ok()) return Fail(err, c.status());
    o->config = *std::move(c);
    return Ok(err);
  });
}

int32_t authrouter_options_load_config_file(authrouter_options* o, const char* path, size_t len,
                                            authrouter_error** err) {
  std::string_view p;
  if (o == nullptr || !Str(path, len, &p) || p.empty()) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options or path is NULL or empty");
  }
  return Guard(err, [&] {
    const std::string file(p);
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      const int e = errno;
      return Fail(err, e == EACCES ? AUTHROUTER_PERMISSION_DENIED : AUTHROUTER_NOT_FOUND,
                  "cannot read the config file " + file + ": " + std::strerror(e));
    }
    std::string text;
    char buf[16384];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      text.append(buf, static_cast<size_t>(in.gcount()));
      if (text.size() > (size_t{16} << 20)) {
        return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "the config file " + file + " is larger than 16 MiB");
      }
    }
    absl::StatusOr<ar::Config> c = ar::ParseConfig(text);
    if (!c.ok()) {
      return Fail(err, absl::InvalidArgumentError(file + ": " + std::string(c.status().message())));
    }
    o->config = *std::move(c);
    o->config_sha256 = ar::internal::Sha256Hex(text);
    std::error_code ec;
    const std::filesystem::path absolute = std::filesystem::absolute(file, ec);
    o->config_path = ec ? file : absolute.lexically_normal().string();
    return Ok(err);
  });
}

int32_t authrouter_options_use_file_store(authrouter_options* o, const char* dir, size_t len,
                                          authrouter_error** err) {
  std::string_view d;
  if (o == nullptr || !Str(dir, len, &d)) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options or directory is NULL");
  }
  return Guard(err, [&] {
    o->use_file_store = true;
    o->file_store_dir = std::string(d);
    return Ok(err);
  });
}

#define AUTHROUTER_CHECK_CALLBACK_(ptr, fn, name)                                               \
  if (o == nullptr || (ptr) == nullptr) {                                                       \
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options or " name " is NULL");                 \
  }                                                                                             \
  if (int32_t rc_ = CheckVersion((ptr)->version, name, err); rc_ != 0) return rc_;              \
  if ((ptr)->fn == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, name " has no " #fn)

int32_t authrouter_options_set_log(authrouter_options* o, const authrouter_log* l,
                                   authrouter_error** err) {
  AUTHROUTER_CHECK_CALLBACK_(l, log, "log");
  return Guard(err, [&] {
    o->logger = std::make_shared<CLog>(*l);
    return Ok(err);
  });
}

int32_t authrouter_options_set_store(authrouter_options* o, const authrouter_store* s,
                                     authrouter_error** err) {
  if (o == nullptr || s == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options or store is NULL");
  if (int32_t rc = CheckVersion(s->version, "store", err); rc != 0) return rc;
  return Guard(err, [&] {
    o->store = std::make_shared<CStore>(*s);
    return Ok(err);
  });
}

int32_t authrouter_options_set_clock(authrouter_options* o, const authrouter_clock* c,
                                     authrouter_error** err) {
  AUTHROUTER_CHECK_CALLBACK_(c, now_unix_ms, "clock");
  return Guard(err, [&] {
    o->clock = std::make_shared<CClock>(*c);
    return Ok(err);
  });
}

int32_t authrouter_options_set_hooks(authrouter_options* o, const authrouter_hooks* h,
                                     authrouter_error** err) {
  if (o == nullptr || h == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options or hooks is NULL");
  if (int32_t rc = CheckVersion(h->version, "hooks", err); rc != 0) return rc;
  return Guard(err, [&] {
    o->hooks = std::make_shared<CHooks>(*h);
    return Ok(err);
  });
}

int32_t authrouter_options_set_selector(authrouter_options* o, const authrouter_selector* s,
                                        authrouter_error** err) {
  if (o == nullptr || s == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options or selector is NULL");
  if (int32_t rc = CheckVersion(s->version, "selector", err); rc != 0) return rc;
  const authrouter_selector v = Versioned(*s, kSelectorV1Size);
  if (v.mode > AUTHROUTER_SELECTOR_DECIDE_ALL_TIERS) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT,
                "selector mode must be AUTHROUTER_SELECTOR_SELECT, _DECIDE or _DECIDE_ALL_TIERS");
  }
  if (v.mode == AUTHROUTER_SELECTOR_SELECT && v.select == nullptr) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "selector has no select (mode AUTHROUTER_SELECTOR_SELECT)");
  }
  if (v.mode != AUTHROUTER_SELECTOR_SELECT && v.decide == nullptr) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "selector has no decide (a DECIDE mode)");
  }
  return Guard(err, [&] {
    o->selector = std::make_shared<CSelector>(*s);
    return Ok(err);
  });
}

int32_t authrouter_options_set_transport(authrouter_options* o, const authrouter_transport* t,
                                         authrouter_error** err) {
  AUTHROUTER_CHECK_CALLBACK_(t, send, "transport");
  return Guard(err, [&] {
    o->transport = std::make_shared<CTransport>(*t);
    return Ok(err);
  });
}

int32_t authrouter_options_add_refresher(authrouter_options* o, const char* provider,
                                         size_t provider_len, const authrouter_refresher* r,
                                         authrouter_error** err) {
  AUTHROUTER_CHECK_CALLBACK_(r, refresh, "refresher");
  std::string_view p;
  if (!Str(provider, provider_len, &p)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "provider is NULL");
  return Guard(err, [&] {
    auto refresher = std::make_shared<CRefresher>(*r);
    const std::string key = ar::internal::ProviderKey(p);
    if (key.empty()) {
      o->default_refresher = std::move(refresher);
    } else {
      o->refreshers[key] = std::move(refresher);
    }
    return Ok(err);
  });
}

int32_t authrouter_options_set_selector_budget_ms(authrouter_options* o, int64_t budget_ms,
                                                 authrouter_error** err) {
  if (o == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options is NULL");
  if (budget_ms < 1 || budget_ms > 3600000) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "selector budget must be between 1 and 3600000 ms");
  }
  o->selector_budget = absl::Milliseconds(budget_ms);
  return Ok(err);
}

int32_t authrouter_options_set_session_affinity_max_entries(authrouter_options* o,
                                                            uint64_t max_entries,
                                                            authrouter_error** err) {
  if (o == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options is NULL");
  if (max_entries == 0 || max_entries > ar::kMaxSessionAffinityEntries) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT,
                "session affinity max entries must be between 1 and 100000000");
  }
  o->session_affinity_max_entries = static_cast<size_t>(max_entries);
  return Ok(err);
}

int32_t authrouter_options_set_metrics(authrouter_options* o, bool enabled,
                                       uint32_t credential_series, authrouter_error** err) {
  if (o == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options is NULL");
  if (credential_series > AUTHROUTER_METRICS_CREDENTIALS_HASH) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT,
                "credential_series must be AUTHROUTER_METRICS_CREDENTIALS_OFF, _ID or _HASH");
  }
  o->metrics = enabled;
  o->metrics_credentials = static_cast<ar::CredentialSeries>(credential_series);
  return Ok(err);
}

}  // extern "C"
