// The C ABI entry points. Each one is noexcept and lets no exception out; the logic lives in the
// C++ core, this file only adapts: handles, (pointer, length) strings, status codes, and host
// callbacks wrapped as the core's interfaces.
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

#include "authrouter/config.h"
#include "authrouter/credential_json.h"
#include "authrouter/file_store.h"
#include "authrouter/manager.h"
#include "authrouter/refresh.h"
#include "authrouter/routing_error.h"
#include "authrouter/session_id.h"
#include "authrouter/transport.h"
#include "authrouter/values.h"
#include "authrouter/watcher.h"
#include "internal/json_object.h"
#include "internal/strings.h"
#include "simdjson.h"

namespace ar = authrouter;
namespace internal_json = authrouter::internal;

// ---- handle types ------------------------------------------------------------------------------

struct authrouter_error {
  int32_t code = AUTHROUTER_UNKNOWN;
  std::string message;
  bool retryable = false;
  int32_t http_status = 0;
  int64_t retry_after_ms = -1;
  std::string routing_code;
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
  std::once_flag json_once;
  std::string json;  // the JSON form, built on first use
};

struct authrouter_pick_result {
  explicit authrouter_pick_result(std::shared_ptr<const ar::Credential> c) : view(std::move(c)) {}
  authrouter_credential view;
  std::string provider;
  std::string session_key;
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
};

struct authrouter_manager {
  // Members are destroyed in reverse order: the watcher before the manager, the manager before
  // the clock it reads.
  std::shared_ptr<ar::Clock> clock;
  std::shared_ptr<ar::Transport> transport;
  std::shared_ptr<ar::FileStore> file_store;
  std::unique_ptr<ar::Manager> manager;
  std::unique_ptr<ar::Watcher> watcher;
  std::mutex config_mu;
  ar::Config config;  // guarded by config_mu
  std::atomic<bool> shut_down{false};
  std::mutex lifecycle_mu;  // start, stop and shutdown, one at a time
};

namespace {

// ---- status and errors ---------------------------------------------------------------------

constexpr char kCallbackPayload[] = "authrouter.callback_failed";

absl::Status CallbackFailed(std::string_view what, int32_t code) {
  absl::Status s = absl::UnknownError(
      std::string(what) + " callback failed (status " + std::to_string(code) + ")");
  s.SetPayload(kCallbackPayload, absl::Cord("1"));
  return s;
}

int32_t CodeOf(const absl::Status& s) {
  if (s.ok()) return AUTHROUTER_OK;
  if (s.GetPayload(kCallbackPayload).has_value()) return AUTHROUTER_CALLBACK_FAILED;
  return static_cast<int32_t>(s.code());
}

// kOutOfMemoryError is handed out when even an error cannot be allocated; _free ignores it.
authrouter_error kOutOfMemoryError{AUTHROUTER_RESOURCE_EXHAUSTED, "out of memory", true, 0, -1, {}, {}};

int32_t Fail(authrouter_error** err, const absl::Status& s) noexcept {
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

int32_t Fail(authrouter_error** err, int32_t code, std::string_view message) noexcept {
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

int32_t Ok(authrouter_error** err) {
  if (err != nullptr) *err = nullptr;
  return AUTHROUTER_OK;
}

int32_t Internal(authrouter_error** err) noexcept {
  return Fail(err, absl::InternalError("unexpected internal failure"));
}

// Str turns a (pointer, length) pair into a view; false for NULL with a non-zero length.
bool Str(const char* data, size_t len, std::string_view* out) {
  if (data == nullptr) {
    *out = {};
    return len == 0;
  }
  *out = std::string_view(data, len);
  return true;
}

bool Str(const authrouter_string& s, std::string_view* out) { return Str(s.data, s.len, out); }

const char* Out(const std::string& s, size_t* len) {
  if (len != nullptr) *len = s.size();
  return s.c_str();
}

const char* Out(std::string_view s, size_t* len) {  // REQUIRES: s is NUL-terminated
  if (len != nullptr) *len = s.size();
  return s.data();
}

// NoString is what an accessor returns for a NULL handle: NULL, with *len = 0.
const char* NoString(size_t* len) {
  if (len != nullptr) *len = 0;
  return nullptr;
}

char* CopyOut(std::string_view s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (p == nullptr) return nullptr;
  std::memcpy(p, s.data(), s.size());
  p[s.size()] = '\0';
  return p;
}

int32_t CheckManager(authrouter_manager* m, authrouter_error** err) noexcept {
  if (m == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "manager is NULL");
  if (m->shut_down.load()) return Fail(err, AUTHROUTER_SHUT_DOWN, "the manager was shut down");
  return AUTHROUTER_OK;
}

// ---- callback adapters -------------------------------------------------------------------------

// Versioned copies a caller's struct by the size its `version` had, into a zeroed struct, so a
// caller built against an older header is never read past the end of its struct. Every struct
// is at version 1 today; an appended field adds a row (docs/ABI.md).
template <typename T>
T Versioned(const T& in, size_t v1_size) {
  T out{};
  const size_t size = in.version <= 1 ? v1_size : sizeof(T);
  std::memcpy(static_cast<void*>(&out), &in, std::min(size, sizeof(T)));
  return out;
}

// Owner runs the host's destroy(user_data) once, when the last adapter copy goes away.
class Owner {
 public:
  Owner(void* user_data, void (*destroy)(void*)) : user_data_(user_data), destroy_(destroy) {}
  ~Owner() {
    if (destroy_ != nullptr) destroy_(user_data_);
  }
  Owner(const Owner&) = delete;
  Owner& operator=(const Owner&) = delete;
  void* user_data() const { return user_data_; }

 private:
  void* user_data_;
  void (*destroy_)(void*);
};

class CStore final : public ar::Store {
 public:
  explicit CStore(const authrouter_store& s)
      : s_(Versioned(s, sizeof(authrouter_store))), owner_(s.user_data, s.destroy) {}

  absl::StatusOr<std::vector<ar::Credential>> List() override {
    if (s_.list == nullptr) return absl::FailedPreconditionError("the store has no list callback");
    authrouter_sink sink;
    if (const int32_t rc = s_.list(owner_.user_data(), &sink); rc != 0) return CallbackFailed("store list", rc);
    if (sink.overflow) return CallbackFailed("store list (a write to the sink failed)", AUTHROUTER_RESOURCE_EXHAUSTED);
    // Validate the whole text first; then walk the elements' exact text.
    simdjson::dom::parser parser;
    simdjson::dom::array array;
    if (parser.parse(sink.data).get_array().get(array)) {
      return absl::InvalidArgumentError("store list: not a JSON array of credential records");
    }
    std::vector<ar::Credential> out;
    absl::Status status;
    internal_json::ForEachElement(sink.data, [&](std::string_view raw) {
      if (!status.ok()) return;
      absl::StatusOr<ar::Credential> c = ar::CredentialFromJson(raw);
      if (!c.ok()) {
        status = c.status();
        return;
      }
      out.push_back(*std::move(c));
    });
    if (!status.ok()) return status;
    return out;
  }

  absl::Status Save(const ar::Credential& c) override {
    if (s_.save == nullptr) return absl::OkStatus();
    const std::string json = ar::CredentialToJson(c);
    const int32_t rc = s_.save(owner_.user_data(), c.id.data(), c.id.size(), json.data(), json.size());
    return rc == 0 ? absl::OkStatus() : CallbackFailed("store save", rc);
  }

  absl::Status Delete(std::string_view id) override {
    if (s_.remove == nullptr) return absl::OkStatus();
    const int32_t rc = s_.remove(owner_.user_data(), id.data(), id.size());
    return rc == 0 ? absl::OkStatus() : CallbackFailed("store remove", rc);
  }

 private:
  authrouter_store s_;
  Owner owner_;
};

class CClock final : public ar::Clock {
 public:
  explicit CClock(const authrouter_clock& c)
      : c_(Versioned(c, sizeof(authrouter_clock))), owner_(c.user_data, c.destroy) {}
  absl::Time Now() const override { return absl::FromUnixMillis(c_.now_unix_ms(owner_.user_data())); }
  bool SleepFor(absl::Duration d, const std::atomic<bool>* cancelled) const override {
    if (c_.sleep_ms == nullptr) return ar::Clock::SleepFor(d, cancelled);
    if (cancelled != nullptr && cancelled->load()) return false;
    c_.sleep_ms(owner_.user_data(), absl::ToInt64Milliseconds(d));
    return cancelled == nullptr || !cancelled->load();
  }

 private:
  authrouter_clock c_;
  Owner owner_;
};

class CHooks final : public ar::Hooks {
 public:
  explicit CHooks(const authrouter_hooks& h)
      : h_(Versioned(h, sizeof(authrouter_hooks))), owner_(h.user_data, h.destroy) {}
  void OnRegistered(const std::shared_ptr<const ar::Credential>& c) override {
    if (h_.on_registered == nullptr) return;
    authrouter_credential view(c);
    h_.on_registered(owner_.user_data(), &view);
  }
  void OnUpdated(const std::shared_ptr<const ar::Credential>& c) override {
    if (h_.on_updated == nullptr) return;
    authrouter_credential view(c);
    h_.on_updated(owner_.user_data(), &view);
  }
  void OnRemoved(std::string_view id) override {
    if (h_.on_removed != nullptr) h_.on_removed(owner_.user_data(), id.data(), id.size());
  }
  void OnResult(const ar::Result& r, const std::shared_ptr<const ar::Credential>& c) override {
    if (h_.on_result == nullptr) return;
    authrouter_credential view(c);
    h_.on_result(owner_.user_data(), &view, r.http_status, r.success);
  }
  void OnStoreError(std::string_view id, const absl::Status& error) override {
    if (h_.on_store_error == nullptr) return;
    const std::string message(error.message());
    h_.on_store_error(owner_.user_data(), id.data(), id.size(), CodeOf(error), message.data(),
                      message.size());
  }

 private:
  authrouter_hooks h_;
  Owner owner_;
};

class CSelector final : public ar::Selector {
 public:
  explicit CSelector(const authrouter_selector& s)
      : s_(Versioned(s, sizeof(authrouter_selector))), owner_(s.user_data, s.destroy) {}
  absl::StatusOr<size_t> Select(const ar::SelectContext& context,
                                std::span<const std::shared_ptr<const ar::Credential>> candidates) override {
    std::vector<std::unique_ptr<authrouter_credential>> views;
    std::vector<const authrouter_credential*> pointers;
    views.reserve(candidates.size());
    for (const auto& c : candidates) {
      views.push_back(std::make_unique<authrouter_credential>(c));
      pointers.push_back(views.back().get());
    }
    size_t chosen = candidates.size();
    const int32_t rc = s_.select(owner_.user_data(), context.provider.data(), context.provider.size(),
                                 context.model.data(), context.model.size(), pointers.data(),
                                 pointers.size(), &chosen);
    if (rc != 0) return CallbackFailed("selector", rc);
    return chosen;
  }

 private:
  authrouter_selector s_;
  Owner owner_;
};

absl::StatusOr<ar::TokenUpdate> ParseTokenJson(std::string_view json, absl::Time now) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(json.data(), json.size()).get_object().get(o)) {
    return absl::UnavailableError("refresher callback: the tokens are not a JSON object");
  }
  ar::TokenUpdate u;
  std::string_view s;
  if (o["access_token"].get_string().get(s) || s.empty()) {
    return absl::UnavailableError("refresher callback: no access_token");
  }
  u.access_token = std::string(s);
  if (!o["refresh_token"].get_string().get(s) && !s.empty()) u.refresh_token = std::string(s);
  if (!o["id_token"].get_string().get(s) && !s.empty()) u.id_token = std::string(s);
  if (!o["token_type"].get_string().get(s) && !s.empty()) u.token_type = std::string(s);
  if (!o["expires_at"].get_string().get(s)) {
    if (std::optional<absl::Time> t = ar::ParseTimeString(s)) u.expires_at = *t;
  }
  int64_t seconds = 0;
  if (!u.expires_at && !o["expires_in"].get_int64().get(seconds) && seconds > 0 &&
      seconds < int64_t{10} * 365 * 24 * 3600) {
    u.expires_at = now + absl::Seconds(seconds);
  }
  return u;
}

class CRefresher final : public ar::Refresher {
 public:
  explicit CRefresher(const authrouter_refresher& r)
      : r_(Versioned(r, sizeof(authrouter_refresher))), owner_(r.user_data, r.destroy) {}
  absl::StatusOr<ar::TokenUpdate> Refresh(const ar::Credential& c,
                                          const ar::RefreshContext& ctx) override {
    // A non-owning view: valid for the call, no copy of the credential.
    authrouter_credential view(std::shared_ptr<const ar::Credential>(std::shared_ptr<const ar::Credential>(), &c));
    authrouter_sink sink;
    sink.limit = size_t{1} << 20;
    const int32_t rc = r_.refresh(owner_.user_data(), &view, absl::ToInt64Milliseconds(ctx.timeout), &sink);
    switch (rc) {
      case AUTHROUTER_OK:
        if (sink.overflow) return CallbackFailed("refresher (a write to the sink failed)", rc);
        return ParseTokenJson(sink.data, ctx.now);
      case AUTHROUTER_UNAUTHENTICATED:
        return absl::UnauthenticatedError("refresher callback: the refresh token was rejected");
      case AUTHROUTER_CANCELLED:
        return absl::CancelledError("refresher callback: cancelled");
      default:
        return CallbackFailed("refresher", rc);
    }
  }

 private:
  authrouter_refresher r_;
  Owner owner_;
};

class CTransport final : public ar::Transport {
 public:
  explicit CTransport(const authrouter_transport& t)
      : t_(Versioned(t, sizeof(authrouter_transport))), owner_(t.user_data, t.destroy) {}
  absl::StatusOr<ar::HttpResponse> Send(const ar::HttpRequest& req) override {
    std::vector<authrouter_header> headers;
    for (const auto& [k, v] : req.headers) {
      headers.push_back({{k.data(), k.size()}, {v.data(), v.size()}});
    }
    int32_t status = 0;
    authrouter_sink sink;
    const int32_t rc = t_.send(owner_.user_data(), req.method.data(), req.method.size(),
                               req.url.data(), req.url.size(), headers.data(), headers.size(),
                               req.body.data(), req.body.size(),
                               absl::ToInt64Milliseconds(req.timeout), req.proxy_url.data(),
                               req.proxy_url.size(), &status, &sink);
    if (rc == AUTHROUTER_DEADLINE_EXCEEDED) return absl::DeadlineExceededError("transport callback: timeout");
    if (rc != 0) return absl::UnavailableError("transport callback failed (status " + std::to_string(rc) + ")");
    if (sink.overflow) return absl::ResourceExhaustedError("transport callback: a write to the sink failed");
    ar::HttpResponse r;
    r.status = status;
    r.body = std::move(sink.data);
    return r;
  }

 private:
  authrouter_transport t_;
  Owner owner_;
};

class CExecutor final : public ar::Executor {
 public:
  explicit CExecutor(const authrouter_executor& e)
      : e_(Versioned(e, sizeof(authrouter_executor))), owner_(e.user_data, e.destroy) {}
  ar::Outcome Execute(const ar::Attempt& a) override {
    authrouter_credential view(
        std::shared_ptr<const ar::Credential>(std::shared_ptr<const ar::Credential>(), &a.credential));
    authrouter_outcome out{};
    out.version = AUTHROUTER_OUTCOME_VERSION;
    out.retry_after_ms = -1;
    const int32_t rc = e_.execute(owner_.user_data(), &view, a.provider.data(), a.provider.size(),
                                  a.model.data(), a.model.size(), a.round, a.index, &out);
    ar::Outcome o;
    if (rc != 0) {
      callback_failed = true;
      callback_code = rc;
      o.error_message = "executor callback failed (status " + std::to_string(rc) + ")";
      o.error_code = "connection_lifecycle";  // a host failure says nothing about the credential
      return o;
    }
    callback_failed = false;
    o.success = out.success;
    o.http_status = out.http_status;
    if (out.retry_after_ms >= 0) o.retry_after = absl::Milliseconds(out.retry_after_ms);
    o.cancelled = out.cancelled;
    o.first_byte_sent = out.first_byte_sent;
    o.empty_stream = out.empty_stream;
    out.error_message[sizeof out.error_message - 1] = '\0';
    o.error_message = out.error_message;
    return o;
  }
  bool callback_failed = false;
  int32_t callback_code = 0;

 private:
  authrouter_executor e_;
  Owner owner_;
};

int32_t StatusForHttp(int http) {
  if (http == 429) return AUTHROUTER_RESOURCE_EXHAUSTED;
  if (http == 401) return AUTHROUTER_UNAUTHENTICATED;
  if (http == 403) return AUTHROUTER_PERMISSION_DENIED;
  if (http == 404) return AUTHROUTER_NOT_FOUND;
  if (http == 408) return AUTHROUTER_DEADLINE_EXCEEDED;
  if (http >= 500) return AUTHROUTER_UNAVAILABLE;
  if (http >= 400) return AUTHROUTER_FAILED_PRECONDITION;
  return AUTHROUTER_UNKNOWN;
}

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

}  // namespace

extern "C" {

// ---- version and status -----------------------------------------------------------------------

int32_t authrouter_version_number(void) { return AUTHROUTER_VERSION_NUMBER; }

const char* authrouter_version_string(void) { return AUTHROUTER_VERSION_STRING; }

const char* authrouter_status_str(int32_t code) {
  switch (code) {
    case AUTHROUTER_OK: return "OK";
    case AUTHROUTER_CANCELLED: return "CANCELLED";
    case AUTHROUTER_UNKNOWN: return "UNKNOWN";
    case AUTHROUTER_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case AUTHROUTER_DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case AUTHROUTER_NOT_FOUND: return "NOT_FOUND";
    case AUTHROUTER_ALREADY_EXISTS: return "ALREADY_EXISTS";
    case AUTHROUTER_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case AUTHROUTER_RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case AUTHROUTER_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case AUTHROUTER_ABORTED: return "ABORTED";
    case AUTHROUTER_OUT_OF_RANGE: return "OUT_OF_RANGE";
    case AUTHROUTER_UNIMPLEMENTED: return "UNIMPLEMENTED";
    case AUTHROUTER_INTERNAL: return "INTERNAL";
    case AUTHROUTER_UNAVAILABLE: return "UNAVAILABLE";
    case AUTHROUTER_DATA_LOSS: return "DATA_LOSS";
    case AUTHROUTER_UNAUTHENTICATED: return "UNAUTHENTICATED";
    case AUTHROUTER_CALLBACK_FAILED: return "CALLBACK_FAILED";
    case AUTHROUTER_SHUT_DOWN: return "SHUT_DOWN";
    default: return "UNRECOGNIZED";
  }
}

// ---- errors -----------------------------------------------------------------------------------

int32_t authrouter_error_code(const authrouter_error* e) { return e ? e->code : AUTHROUTER_OK; }
const char* authrouter_error_message(const authrouter_error* e, size_t* len) {
  return e ? Out(e->message, len) : Out(std::string_view(""), len);
}
bool authrouter_error_retryable(const authrouter_error* e) { return e != nullptr && e->retryable; }
int32_t authrouter_error_http_status(const authrouter_error* e) { return e ? e->http_status : 0; }
int64_t authrouter_error_retry_after_ms(const authrouter_error* e) { return e ? e->retry_after_ms : -1; }
const char* authrouter_error_routing_code(const authrouter_error* e, size_t* len) {
  return e ? Out(e->routing_code, len) : Out(std::string_view(""), len);
}
const char* authrouter_error_body(const authrouter_error* e, size_t* len) {
  return e ? Out(e->body, len) : Out(std::string_view(""), len);
}
void authrouter_error_free(authrouter_error* e) {
  if (e != &kOutOfMemoryError) delete e;
}

// ---- strings and sinks ------------------------------------------------------------------------

void authrouter_string_free(char* s) { std::free(s); }

int32_t authrouter_sink_write(authrouter_sink* sink, const char* data, size_t len) {
  if (sink == nullptr || (data == nullptr && len != 0)) return AUTHROUTER_INVALID_ARGUMENT;
  try {
    if (sink->overflow || len > sink->limit - sink->data.size()) {
      sink->overflow = true;
      return AUTHROUTER_RESOURCE_EXHAUSTED;
    }
    sink->data.append(data, len);
    return AUTHROUTER_OK;
  } catch (...) {
    sink->overflow = true;
    return AUTHROUTER_RESOURCE_EXHAUSTED;
  }
}

// ---- credential views -------------------------------------------------------------------------

const char* authrouter_credential_id(const authrouter_credential* c, size_t* len) {
  return c ? Out(c->credential->id, len) : NoString(len);
}
const char* authrouter_credential_provider(const authrouter_credential* c, size_t* len) {
  return c ? Out(c->credential->provider, len) : NoString(len);
}
const char* authrouter_credential_label(const authrouter_credential* c, size_t* len) {
  return c ? Out(c->credential->label, len) : NoString(len);
}
const char* authrouter_credential_proxy_url(const authrouter_credential* c, size_t* len) {
  return c ? Out(c->credential->proxy_url, len) : NoString(len);
}
const char* authrouter_credential_status(const authrouter_credential* c, size_t* len) {
  return c ? Out(ar::CredentialStatusName(c->credential->status), len) : NoString(len);
}
bool authrouter_credential_disabled(const authrouter_credential* c) {
  return c != nullptr && c->credential->disabled;
}
const char* authrouter_credential_attribute(const authrouter_credential* c, const char* key,
                                            size_t key_len, size_t* len) {
  std::string_view k;
  if (c == nullptr || !Str(key, key_len, &k)) return NoString(len);
  auto it = c->credential->attributes.find(k);
  if (it == c->credential->attributes.end()) return NoString(len);
  return Out(it->second, len);
}
const char* authrouter_credential_metadata_json(const authrouter_credential* c, size_t* len) {
  if (c == nullptr) return NoString(len);
  if (c->credential->metadata.empty()) return Out(std::string_view("{}"), len);
  // Metadata text is a std::string inside the immutable snapshot, so it is NUL-terminated.
  return Out(c->credential->metadata.json(), len);
}
const char* authrouter_credential_json(const authrouter_credential* c, size_t* len) {
  if (c == nullptr) return NoString(len);
  auto* mutable_view = const_cast<authrouter_credential*>(c);
  try {
    std::call_once(mutable_view->json_once,
                   [&] { mutable_view->json = ar::CredentialToJson(*c->credential); });
  } catch (...) {
    return NoString(len);
  }
  return Out(c->json, len);
}
void authrouter_credential_free(authrouter_credential* c) { delete c; }

// ---- callback struct initialisers -------------------------------------------------------------

void authrouter_store_init(authrouter_store* s) {
  if (s) *s = authrouter_store AUTHROUTER_STORE_INIT;
}
void authrouter_clock_init(authrouter_clock* c) {
  if (c) *c = authrouter_clock AUTHROUTER_CLOCK_INIT;
}
void authrouter_hooks_init(authrouter_hooks* h) {
  if (h) *h = authrouter_hooks AUTHROUTER_HOOKS_INIT;
}
void authrouter_selector_init(authrouter_selector* s) {
  if (s) *s = authrouter_selector AUTHROUTER_SELECTOR_INIT;
}
void authrouter_refresher_init(authrouter_refresher* r) {
  if (r) *r = authrouter_refresher AUTHROUTER_REFRESHER_INIT;
}
void authrouter_transport_init(authrouter_transport* t) {
  if (t) *t = authrouter_transport AUTHROUTER_TRANSPORT_INIT;
}
void authrouter_executor_init(authrouter_executor* e) {
  if (e) *e = authrouter_executor AUTHROUTER_EXECUTOR_INIT;
}
void authrouter_pick_request_init(authrouter_pick_request* r) {
  if (r) *r = authrouter_pick_request AUTHROUTER_PICK_REQUEST_INIT;
}
void authrouter_result_init(authrouter_result* r) {
  if (r) *r = authrouter_result AUTHROUTER_RESULT_INIT;
}

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
  if ((ptr)->version < 1) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, name " version is 0");   \
  if ((ptr)->fn == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, name " has no " #fn)

int32_t authrouter_options_set_store(authrouter_options* o, const authrouter_store* s,
                                     authrouter_error** err) {
  if (o == nullptr || s == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options or store is NULL");
  if (s->version < 1) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "store version is 0");
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
  if (h->version < 1) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "hooks version is 0");
  return Guard(err, [&] {
    o->hooks = std::make_shared<CHooks>(*h);
    return Ok(err);
  });
}

int32_t authrouter_options_set_selector(authrouter_options* o, const authrouter_selector* s,
                                        authrouter_error** err) {
  AUTHROUTER_CHECK_CALLBACK_(s, select, "selector");
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

// ---- the manager ------------------------------------------------------------------------------

int32_t authrouter_manager_new(authrouter_manager** out, const authrouter_options* o,
                               authrouter_error** err) {
  if (out == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  if (o == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options is NULL");
  return Guard(err, [&] {
    auto m = std::make_unique<authrouter_manager>();
    m->clock = o->clock;
    m->transport = o->transport;
    m->config = o->config;
    ar::ManagerOptions mo;
    if (absl::Status s = ar::ApplyToOptions(o->config, mo, o->transport); !s.ok()) return Fail(err, s);
    for (const auto& [provider, refresher] : o->refreshers) mo.refresh.refreshers[provider] = refresher;
    if (o->default_refresher) mo.refresh.default_refresher = o->default_refresher;
    mo.clock = m->clock.get();
    mo.hooks = o->hooks;
    mo.selector = o->selector;
    mo.store = o->store;
    if (o->use_file_store) {
      if (o->store) {
        return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "both a store callback and a file store were set");
      }
      ar::FileStoreOptions fo;
      fo.directory = o->file_store_dir.empty() ? o->config.auth_dir : o->file_store_dir;
      absl::StatusOr<std::shared_ptr<ar::FileStore>> fs = ar::FileStore::Open(fo);
      if (!fs.ok()) return Fail(err, fs.status());
      m->file_store = *fs;
      mo.store = m->file_store;
    }
    absl::StatusOr<std::unique_ptr<ar::Manager>> manager = ar::Manager::Create(std::move(mo));
    if (!manager.ok()) return Fail(err, manager.status());
    m->manager = *std::move(manager);
    if (m->file_store) {
      ar::WatcherOptions wo;
      wo.manager = m->manager.get();
      wo.store = m->file_store;
      wo.config = o->config;
      wo.transport = o->transport;
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
    std::lock_guard<std::mutex> lifecycle(m->lifecycle_mu);
    m->shut_down.store(true);
    if (m->watcher) m->watcher->Stop();
    m->manager->StopRefreshLoop();
    // The session sweeper too (no call can pick any more).
    (void)m->manager->SetSessionAffinity(false, absl::Hours(1));
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
    if (!next.ok()) return Fail(err, next.status());
    std::lock_guard<std::mutex> lock(m->config_mu);
    absl::StatusOr<std::vector<std::string>> changed =
        ar::ApplyConfig(*m->manager, m->config, *next, m->transport);
    if (!changed.ok()) return Fail(err, changed.status());
    m->config = *std::move(next);
    return Ok(err);
  });
}

int32_t authrouter_manager_load(authrouter_manager* m, authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  return Guard(err, [&] {
    absl::Status s = m->manager->Load();
    if (s.ok() && m->watcher) s = m->watcher->Sync();
    return s.ok() ? Ok(err) : Fail(err, s);
  });
}

namespace {

int32_t RegisterOrUpdate(authrouter_manager* m, const char* json, size_t len, bool update,
                         authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  std::string_view text;
  if (!Str(json, len, &text)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "json is NULL");
  return Guard(err, [&] {
    absl::StatusOr<ar::Credential> c = ar::CredentialFromJson(text);
    if (!c.ok()) return Fail(err, c.status());
    absl::Status s = update ? m->manager->Update(*std::move(c)).status()
                            : m->manager->Register(*std::move(c)).status();
    return s.ok() ? Ok(err) : Fail(err, s);
  });
}

}  // namespace

int32_t authrouter_manager_register(authrouter_manager* m, const char* json, size_t len,
                                    authrouter_error** err) {
  return RegisterOrUpdate(m, json, len, false, err);
}

int32_t authrouter_manager_update(authrouter_manager* m, const char* json, size_t len,
                                  authrouter_error** err) {
  return RegisterOrUpdate(m, json, len, true, err);
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

int32_t authrouter_manager_list(authrouter_manager* m, char** out, size_t* out_len,
                                authrouter_error** err) {
  if (out != nullptr) *out = nullptr;
  if (out_len != nullptr) *out_len = 0;
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  if (out == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out is NULL");
  return Guard(err, [&] {
    std::string json = "[";
    for (const auto& c : m->manager->List()) {
      if (json.size() > 1) json += ',';
      json += ar::CredentialToJson(*c);
    }
    json += ']';
    *out = CopyOut(json);
    if (*out == nullptr) return Fail(err, absl::ResourceExhaustedError("out of memory"));
    if (out_len != nullptr) *out_len = json.size();
    return Ok(err);
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

namespace {

// PickParts holds the converted views of a pick request.
struct PickParts {
  std::vector<std::string_view> providers, tried;
  std::vector<ar::HttpHeader> headers;
  ar::PickRequest request;
};

int32_t ConvertPick(const authrouter_pick_request* r, PickParts* p, authrouter_error** err) {
  if (r == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "request is NULL");
  if (r->version < 1) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "request version is 0");
  if ((r->providers == nullptr && r->provider_count != 0) || (r->tried == nullptr && r->tried_count != 0) ||
      (r->headers == nullptr && r->header_count != 0)) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a request array is NULL with a non-zero count");
  }
  for (size_t i = 0; i < r->provider_count; ++i) {
    std::string_view v;
    if (!Str(r->providers[i], &v)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a provider is NULL");
    p->providers.push_back(v);
  }
  for (size_t i = 0; i < r->tried_count; ++i) {
    std::string_view v;
    if (!Str(r->tried[i], &v)) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a tried ID is NULL");
    p->tried.push_back(v);
  }
  for (size_t i = 0; i < r->header_count; ++i) {
    ar::HttpHeader h;
    if (!Str(r->headers[i].name, &h.name) || !Str(r->headers[i].value, &h.value)) {
      return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a header is NULL");
    }
    p->headers.push_back(h);
  }
  if (!Str(r->model, &p->request.model) || !Str(r->pinned_id, &p->request.pinned_id) ||
      !Str(r->body, &p->request.body)) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "model, pinned_id or body is NULL");
  }
  p->request.providers = p->providers;
  p->request.tried = p->tried;
  p->request.headers = p->headers;
  p->request.downstream_websocket = r->downstream_websocket;
  return AUTHROUTER_OK;
}

}  // namespace

int32_t authrouter_manager_pick(authrouter_manager* m, authrouter_pick_result** out,
                                const authrouter_pick_request* request, authrouter_error** err) {
  if (out != nullptr) *out = nullptr;
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  if (out == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out is NULL");
  return Guard(err, [&] {
    PickParts parts;
    if (int32_t rc = ConvertPick(request, &parts, err); rc != 0) return rc;
    absl::StatusOr<ar::PickResult> pick = m->manager->Pick(parts.request);
    if (!pick.ok()) return Fail(err, pick.status());
    auto* r = new authrouter_pick_result(pick->credential);
    r->provider = std::string(pick->provider);
    if (pick->session) r->session_key = *pick->session;
    *out = r;
    return Ok(err);
  });
}

const authrouter_credential* authrouter_pick_result_credential(const authrouter_pick_result* r) {
  return r ? &r->view : nullptr;
}
const char* authrouter_pick_result_provider(const authrouter_pick_result* r, size_t* len) {
  return r ? Out(r->provider, len) : NoString(len);
}
const char* authrouter_pick_result_session_key(const authrouter_pick_result* r, size_t* len) {
  return r ? Out(r->session_key, len) : NoString(len);
}
void authrouter_pick_result_free(authrouter_pick_result* r) { delete r; }

int32_t authrouter_manager_mark_result(authrouter_manager* m, const authrouter_result* r,
                                       authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  if (r == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "result is NULL");
  if (r->version < 1) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "result version is 0");
  return Guard(err, [&] {
    ar::Result result;
    if (!Str(r->credential_id, &result.credential_id) || !Str(r->provider, &result.provider) ||
        !Str(r->model, &result.model) || !Str(r->error_code, &result.error_code) ||
        !Str(r->error_message, &result.error_message) || !Str(r->session_key, &result.session_key)) {
      return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a result string is NULL with a non-zero length");
    }
    if (result.credential_id.empty()) {
      return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "result credential_id is empty");
    }
    result.success = r->success;
    result.http_status = r->http_status;
    if (r->retry_after_ms >= 0) result.retry_after = absl::Milliseconds(r->retry_after_ms);
    absl::Status s = m->manager->MarkResult(result);
    return s.ok() ? Ok(err) : Fail(err, s);
  });
}

int32_t authrouter_manager_reset_cooldowns(authrouter_manager* m, const char* id, size_t id_len,
                                           const char* model, size_t model_len,
                                           authrouter_error** err) {
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  std::string_view i, mo;
  if (!Str(id, id_len, &i) || !Str(model, model_len, &mo)) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "id or model is NULL");
  }
  return Guard(err, [&] {
    absl::Status s = m->manager->ResetCooldowns(i, mo);
    return s.ok() ? Ok(err) : Fail(err, s);
  });
}

int32_t authrouter_manager_execute(authrouter_manager* m, char** out_id, int32_t* out_attempts,
                                   const authrouter_pick_request* request,
                                   const authrouter_executor* executor, authrouter_error** err) {
  if (out_id != nullptr) *out_id = nullptr;
  if (out_attempts != nullptr) *out_attempts = 0;
  if (executor == nullptr || executor->version < 1 || executor->execute == nullptr) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "executor is NULL or has no execute");
  }
  return Guard(err, [&] {
    // From here on the executor's destroy runs when `adapter` goes, whatever happens.
    CExecutor adapter(*executor);
    if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
    PickParts parts;
    if (int32_t rc = ConvertPick(request, &parts, err); rc != 0) return rc;
    ar::ExecuteRequest req;
    req.providers = parts.request.providers;
    req.model = parts.request.model;
    req.pinned_id = parts.request.pinned_id;
    req.downstream_websocket = parts.request.downstream_websocket;
    req.headers = parts.request.headers;
    req.body = parts.request.body;
    absl::StatusOr<ar::ExecuteResult> r = m->manager->Execute(req, adapter);
    if (!r.ok()) return Fail(err, r.status());
    if (out_attempts != nullptr) *out_attempts = r->attempts;
    if (r->outcome.success) {
      if (out_id != nullptr) {
        *out_id = CopyOut(r->credential->id);
        if (*out_id == nullptr) return Fail(err, absl::ResourceExhaustedError("out of memory"));
      }
      return Ok(err);
    }
    if (adapter.callback_failed) return Fail(err, CallbackFailed("executor", adapter.callback_code));
    const int32_t code = Fail(err, StatusForHttp(r->outcome.http_status),
                              "upstream failed: " + r->outcome.error_message);
    if (err != nullptr && *err != nullptr && *err != &kOutOfMemoryError) {
      (*err)->http_status = r->outcome.http_status;
    }
    return code;
  });
}

// ---- background work --------------------------------------------------------------------------

int32_t authrouter_manager_start(authrouter_manager* m, authrouter_error** err) {
  if (m == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "manager is NULL");
  return Guard(err, [&] {
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
    std::lock_guard<std::mutex> lifecycle(m->lifecycle_mu);
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

// ---- session IDs ------------------------------------------------------------------------------

int32_t authrouter_extract_session_id(const authrouter_header* headers, size_t header_count,
                                      const char* body, size_t body_len, char** out,
                                      size_t* out_len, authrouter_error** err) {
  if (out != nullptr) *out = nullptr;
  if (out_len != nullptr) *out_len = 0;
  std::string_view b;
  if (out == nullptr || (headers == nullptr && header_count != 0) || !Str(body, body_len, &b)) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out, headers or body is NULL");
  }
  return Guard(err, [&] {
    std::vector<ar::HttpHeader> hs;
    for (size_t i = 0; i < header_count; ++i) {
      ar::HttpHeader h;
      if (!Str(headers[i].name, &h.name) || !Str(headers[i].value, &h.value)) {
        return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "a header is NULL");
      }
      hs.push_back(h);
    }
    thread_local ar::SessionIdExtractor extractor;
    const ar::SessionIds ids = extractor.Extract(hs, b);
    if (!ids.primary.empty()) {
      *out = CopyOut(ids.primary);
      if (*out == nullptr) return Fail(err, absl::ResourceExhaustedError("out of memory"));
      if (out_len != nullptr) *out_len = ids.primary.size();
    }
    if (b.size() > (size_t{4} << 20)) extractor.ReleaseLargeBuffers();  // no per-thread hoard
    return Ok(err);
  });
}

}  // extern "C"
