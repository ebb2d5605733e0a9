// Internal to the C ABI layer: the handle types behind the opaque C types, and the helpers every
// entry point shares (status conversion, errors, (pointer, length) strings, guards). The entry
// points live by concern in the other capi/*.cc files; callback adapters in callbacks.h.
#ifndef AUTHROUTER_CAPI_CAPI_INTERNAL_H_
#define AUTHROUTER_CAPI_CAPI_INTERNAL_H_

#include "authrouter/authrouter.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "authrouter/config.h"
#include "authrouter/credential.h"
#include "authrouter/file_store.h"
#include "authrouter/manager.h"
#include "authrouter/routing_error.h"
#include "authrouter/transport.h"
#include "authrouter/watcher.h"
#include "manager/manager_access.h"

namespace ar = authrouter;

// ---- handle types ------------------------------------------------------------------------------

struct authrouter_error {
  int32_t code = AUTHROUTER_UNKNOWN;
  std::string message;
  bool retryable = false;
  int32_t http_status = 0;
  int64_t retry_after_ms = -1;
  std::string routing_code;
  std::string reason;
  std::string body;
};

struct authrouter_sink {
  std::string data;
  size_t limit = size_t{64} << 20;
  bool overflow = false;  // a write failed: the data is incomplete and is never used
};

struct authrouter_credential {
  explicit authrouter_credential(std::shared_ptr<const ar::Credential> c) : credential(std::move(c)) {}
  std::shared_ptr<const ar::Credential> credential;
  std::once_flag json_once, full_json_once;
  std::string json;       // the redacted JSON form, built on first use
  std::string full_json;  // the full JSON form, built on first use
};

struct authrouter_pick_result {
  explicit authrouter_pick_result(std::shared_ptr<const ar::Credential> c) : view(std::move(c)) {}
  authrouter_credential view;
  std::string provider;
  std::string session_key;
  int32_t response_chain = AUTHROUTER_RESPONSE_CHAIN_NONE;
  ar::Lease lease;     // released by release_lease or when the result is freed
  bool probe = false;  // a half-open probe
};

struct authrouter_options {
  ar::Config config;
  bool use_file_store = false;
  std::string file_store_dir;
  std::shared_ptr<ar::Store> store;
  std::shared_ptr<ar::Clock> clock;
  std::shared_ptr<ar::Hooks> hooks;
  std::shared_ptr<ar::Selector> selector;
  std::shared_ptr<ar::Transport> transport;
  std::map<std::string, std::shared_ptr<ar::Refresher>, std::less<>> refreshers;
  std::shared_ptr<ar::Refresher> default_refresher;
  std::shared_ptr<ar::Logger> logger;
  size_t session_affinity_max_entries = 0;  // set_session_affinity_max_entries; 0: the config's
  absl::Duration selector_budget = absl::Milliseconds(100);  // set_selector_budget_ms
  bool metrics = true;                                        // set_metrics
  ar::CredentialSeries metrics_credentials = ar::CredentialSeries::kOff;
  std::shared_ptr<ar::SharedState> shared_state;  // set_shared_state
  std::string config_path;    // load_config_file: watched by the manager
  std::string config_sha256;  // of the text config_path held when read
};

struct authrouter_manager {
  // Members are destroyed in reverse order: the watcher before the manager, the manager before
  // the clock it reads.
  std::shared_ptr<ar::Clock> clock;
  std::shared_ptr<ar::Transport> transport;
  std::shared_ptr<ar::Logger> logger;
  std::shared_ptr<ar::FileStore> file_store;
  std::unique_ptr<ar::Manager> manager;
  std::unique_ptr<ar::Watcher> watcher;
  // apply_config without a watcher: one at a time (recursive: a hook or log callback that the
  // apply runs may apply again on its thread). With a watcher, the watcher keeps the one config.
  std::recursive_mutex config_mu;
  ar::Config config;  // guarded by config_mu
  std::atomic<bool> shut_down{false};
  std::mutex lifecycle_mu;  // start, stop and shutdown, one at a time
};

namespace authrouter::capi {

// ClaimSharedState reserves a host's shared-state callbacks for one manager; false when another
// has them (shared_state.cc). Any other SharedState is always claimable.
bool ClaimSharedState(ar::SharedState& shared);

// InLibraryCallback reports whether this thread runs a callback of `m` that another thread may be
// waiting for (a hook or store call being delivered), or is one of m's threads (refresh loop,
// watcher): lifecycle calls from there must not block on the lifecycle lock or join.
inline bool InLibraryCallback(const authrouter_manager* m) {
  return m->manager != nullptr && (internal::ManagerAccess::InCallback(*m->manager) ||
                                   internal::ManagerAccess::OnLibraryThread(*m->manager));
}

// ---- status and errors ---------------------------------------------------------------------

inline constexpr char kCallbackPayload[] = "authrouter.callback_failed";

inline absl::Status CallbackFailed(std::string_view what, int32_t code) {
  absl::Status s = absl::UnknownError(
      std::string(what) + " callback failed (status " + std::to_string(code) + ")");
  s.SetPayload(kCallbackPayload, absl::Cord("1"));
  return s;
}

inline int32_t CodeOf(const absl::Status& s) {
  if (s.ok()) return AUTHROUTER_OK;
  if (s.GetPayload(kCallbackPayload).has_value()) return AUTHROUTER_CALLBACK_FAILED;
  return static_cast<int32_t>(s.code());
}

// kOutOfMemoryError is handed out when even an error cannot be allocated; _free ignores it.
inline authrouter_error kOutOfMemoryError{AUTHROUTER_RESOURCE_EXHAUSTED, "out of memory", true, 0, -1, {}, {}, {}};

inline int32_t Fail(authrouter_error** err, const absl::Status& s) noexcept {
  const int32_t code = CodeOf(s);
  if (err == nullptr) return code;
  std::unique_ptr<authrouter_error> e(new (std::nothrow) authrouter_error());
  if (e == nullptr) {
    *err = &kOutOfMemoryError;
    return code;
  }
  try {
    {
      e->code = code;
      e->message = std::string(s.message());
      e->retryable = code == AUTHROUTER_UNAVAILABLE || code == AUTHROUTER_RESOURCE_EXHAUSTED ||
                     code == AUTHROUTER_DEADLINE_EXCEEDED || code == AUTHROUTER_ABORTED;
      if (std::optional<ar::RoutingError> r = ar::GetRoutingError(s)) {
        e->routing_code = r->code;
        e->reason = std::string(ar::RoutingReasonName(r->reason));
        e->body = r->body;
        e->http_status = r->http_status;
        e->retryable = r->code == "model_cooldown" || r->code == "auth_unavailable";
        if (r->retry_after) e->retry_after_ms = absl::ToInt64Milliseconds(*r->retry_after);
      }
    }
  } catch (...) {
    *err = &kOutOfMemoryError;
    return code;
  }
  *err = e.release();
  return code;
}

inline int32_t Fail(authrouter_error** err, int32_t code, std::string_view message) noexcept {
  if (err == nullptr) return code;
  try {
    if (code <= AUTHROUTER_UNAUTHENTICATED) {
      return Fail(err, absl::Status(static_cast<absl::StatusCode>(code), std::string(message)));
    }
    auto e = std::make_unique<authrouter_error>();  // authrouter's own codes have no absl code
    e->code = code;
    e->message = std::string(message);
    *err = e.release();
  } catch (...) {
    *err = &kOutOfMemoryError;
  }
  return code;
}

inline int32_t Ok(authrouter_error** err) {
  if (err != nullptr) *err = nullptr;
  return AUTHROUTER_OK;
}

inline int32_t Internal(authrouter_error** err) noexcept {
  return Fail(err, absl::InternalError("unexpected internal failure"));
}

// Str turns a (pointer, length) pair into a view; false for NULL with a non-zero length.
inline bool Str(const char* data, size_t len, std::string_view* out) {
  if (data == nullptr) {
    *out = {};
    return len == 0;
  }
  *out = std::string_view(data, len);
  return true;
}

inline bool Str(const authrouter_string& s, std::string_view* out) { return Str(s.data, s.len, out); }

// ConvertHeaders appends views of C headers to *out; false (with *out unchanged) when a name or a
// value is NULL with a non-zero length. REQUIRES: headers != NULL or count == 0.
inline bool ConvertHeaders(const authrouter_header* headers, size_t count,
                           std::vector<ar::HttpHeader>* out) {
  const size_t before = out->size();
  out->reserve(before + count);
  for (size_t i = 0; i < count; ++i) {
    ar::HttpHeader h;
    if (!Str(headers[i].name, &h.name) || !Str(headers[i].value, &h.value)) {
      out->resize(before);
      return false;
    }
    out->push_back(h);
  }
  return true;
}

inline const char* Out(const std::string& s, size_t* len) {
  if (len != nullptr) *len = s.size();
  return s.c_str();
}

inline const char* Out(std::string_view s, size_t* len) {  // REQUIRES: s is NUL-terminated
  if (len != nullptr) *len = s.size();
  return s.data();
}

// NoString is what an accessor returns for a NULL handle: NULL, with *len = 0.
inline const char* NoString(size_t* len) {
  if (len != nullptr) *len = 0;
  return nullptr;
}

inline char* CopyOut(std::string_view s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p == nullptr) return nullptr;
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

// CopyOutJson hands `json` (or any text) to the caller through (out, out_len).
inline int32_t CopyOutJson(const std::string& json, char** out, size_t* out_len, authrouter_error** err) {
  *out = CopyOut(json);
  if (*out == nullptr) return Fail(err, absl::ResourceExhaustedError("out of memory"));
  if (out_len != nullptr) *out_len = json.size();
  return Ok(err);
}

inline int32_t CheckManager(authrouter_manager* m, authrouter_error** err) noexcept {
  if (m == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "manager is NULL");
  if (m->shut_down.load()) return Fail(err, AUTHROUTER_SHUT_DOWN, "the manager was shut down");
  return AUTHROUTER_OK;
}

// CheckVersion rejects a versioned struct whose version is 0 (zero-initialised), naming the
// macro and function that initialise it ("result" -> AUTHROUTER_RESULT_INIT,
// authrouter_result_init).
inline int32_t CheckVersion(uint32_t version, std::string_view what, authrouter_error** err) noexcept {
  if (version >= 1) return AUTHROUTER_OK;
  try {
    std::string upper(what);
    for (char& c : upper) c = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT,
                "authrouter_" + std::string(what) +
                    " has version 0 (zero-initialised): initialise it with AUTHROUTER_" + upper +
                    "_INIT or authrouter_" + std::string(what) + "_init()");
  } catch (...) {
    return Fail(err, absl::ResourceExhaustedError("out of memory"));
  }
}

// DumpFlags checks the flags of the record-dumping calls.
inline bool ValidDumpFlags(uint32_t flags) { return (flags & ~AUTHROUTER_INCLUDE_SECRETS) == 0; }

// StatusForHttp is the status code for an upstream HTTP status.
int32_t StatusForHttp(int http);

template <typename Fn>
int32_t Guard(authrouter_error** err, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return Fail(err, absl::ResourceExhaustedError("out of memory"));
  } catch (...) {
    return Internal(err);
  }
}

}  // namespace authrouter::capi

#endif  // AUTHROUTER_CAPI_CAPI_INTERNAL_H_
