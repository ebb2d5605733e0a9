// Callback adapters: each host callback struct, copied by the size of its version, wrapped as
// the C++ interface it stands for. destroy(user_data) runs once, when the last copy goes.
#ifndef AUTHROUTER_CAPI_CALLBACKS_H_
#define AUTHROUTER_CAPI_CALLBACKS_H_

#include <cstddef>

#include "capi/capi_internal.h"

#include "authrouter/credential_json.h"
#include "authrouter/host.h"
#include "authrouter/refresh.h"
#include "authrouter/selector.h"

namespace authrouter::capi {

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

  absl::StatusOr<std::vector<ar::Credential>> List() override { return ListReporting(nullptr); }
  // A record that is not a valid credential is skipped (reported with its index), not a reason
  // to load nothing.
  absl::StatusOr<std::vector<ar::Credential>> ListReporting(std::vector<ar::StoreSkip>* skipped) override;

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

// kSelectorV1Size is the size of a version-1 authrouter_selector (before `mode`).
inline constexpr size_t kSelectorV1Size = offsetof(authrouter_selector, mode);

class CSelector final : public ar::StoppableSelector {
 public:
  explicit CSelector(const authrouter_selector& s)
      : s_(Versioned(s, kSelectorV1Size)), owner_(s.user_data, s.destroy) {}
  ar::SelectorMode mode() const override {
    switch (s_.mode) {
      case AUTHROUTER_SELECTOR_DECIDE:
        return ar::SelectorMode::kDecide;
      case AUTHROUTER_SELECTOR_DECIDE_ALL_TIERS:
        return ar::SelectorMode::kDecideAllTiers;
      default:
        return ar::SelectorMode::kSelect;
    }
  }
  absl::StatusOr<size_t> Select(const ar::SelectContext& context,
                                std::span<const std::shared_ptr<const ar::Credential>> candidates) override {
    if (s_.select == nullptr) return ar::Selector::Select(context, candidates);
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
  ar::SelectDecision Decide(const ar::SelectContext& context, std::span<const ar::SelectCandidate> candidates,
                            std::span<const ar::SelectTier> tiers) override;
  void Stop() override {
    if (s_.stop != nullptr) s_.stop(owner_.user_data());
  }

 private:
  authrouter_selector s_;
  Owner owner_;
};

// ParseTokenJson reads a refresher callback's tokens.
absl::StatusOr<ar::TokenUpdate> ParseTokenJson(std::string_view json, absl::Time now);

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
    // An ID filling the whole field may have been cut: not recorded rather than a wrong one.
    if (o.success && std::memchr(out.response_id, '\0', sizeof out.response_id) != nullptr) {
      o.response_id = out.response_id;
    }
    return o;
  }
  bool callback_failed = false;
  int32_t callback_code = 0;

 private:
  authrouter_executor e_;
  Owner owner_;
};


class CLog final : public ar::Logger {
 public:
  explicit CLog(const authrouter_log& l)
      : l_(Versioned(l, sizeof(authrouter_log))), owner_(l.user_data, l.destroy) {}
  void Log(ar::LogLevel level, std::string_view component, std::string_view message) override {
    if (static_cast<int32_t>(level) < l_.min_level) return;
    const std::string c(component), m(message);  // NUL-terminated for C hosts
    l_.log(owner_.user_data(), static_cast<int32_t>(level), c.c_str(), c.size(), m.c_str(), m.size());
  }

 private:
  authrouter_log l_;
  Owner owner_;
};

}  // namespace authrouter::capi

#endif  // AUTHROUTER_CAPI_CALLBACKS_H_
