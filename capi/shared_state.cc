// C ABI: shared state across replicas (use_redis, the host's shared-state callbacks and the
// listener they tell, the counters).
#include <mutex>

#include "capi/callbacks.h"
#include "capi/capi_internal.h"
#include "authrouter/shared_state.h"
#include "internal/json_writer.h"
#include "internal/unicode.h"
#include "simdjson.h"

using namespace authrouter::capi;  // NOLINT: the C ABI layer's own helpers

struct authrouter_shared_listener {
  ar::SharedStateListener* listener = nullptr;
  std::atomic<uint64_t>* rejected = nullptr;
};

namespace authrouter::capi {

// CSharedState is a host's authrouter_shared_state as a SharedState. It counts what it sees
// (the host's client keeps its own counters). It serves one manager (Claim).
class CSharedState final : public ar::SharedState {
 public:
  explicit CSharedState(const authrouter_shared_state& s)
      : s_(Versioned(s, sizeof(authrouter_shared_state))), owner_(s.user_data, s.destroy) {}

  // Claim reserves this shared state for one manager; false when one has it already.
  bool Claim() { return !claimed_.exchange(true); }

  void Attach(ar::SharedStateListener* listener) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (handle_ != nullptr) s_.detach(owner_.user_data(), handle_.get());
    handle_ = std::make_unique<authrouter_shared_listener>();
    handle_->listener = listener;
    handle_->rejected = &rejected_;
    s_.attach(owner_.user_data(), handle_.get());
  }

  void Detach(ar::SharedStateListener* listener) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (handle_ == nullptr || handle_->listener != listener) return;
    s_.detach(owner_.user_data(), handle_.get());
    handle_.reset();
  }

  void PublishHealth(const ar::SharedHealth& h) override {
    // Clean states too: stored as tombstones, they keep their time for a resync.
    const std::string json = ar::SharedHealthToJson(h.state);
    Count(s_.publish_health(owner_.user_data(), h.credential_id.data(), h.credential_id.size(), h.model.data(),
                            h.model.size(), json.data(), json.size()));
  }

  void PublishDisabled(std::string_view id, bool disabled, absl::Time at) override {
    Count(s_.publish_disabled(owner_.user_data(), id.data(), id.size(), disabled, absl::ToUnixMillis(at)));
  }

  void PublishBinding(std::string_view key, std::string_view id, absl::Duration ttl) override {
    Count(s_.publish_binding(owner_.user_data(), key.data(), key.size(), id.data(), id.size(),
                             absl::ToInt64Milliseconds(ttl)));
  }

  absl::StatusOr<std::optional<std::string>> LookupBinding(std::string_view key,
                                                           absl::Duration timeout) override {
    lookups_.fetch_add(1, std::memory_order_relaxed);
    authrouter_sink out;
    out.limit = 4096;
    const int32_t rc = s_.lookup_binding(owner_.user_data(), key.data(), key.size(),
                                         absl::ToInt64Milliseconds(timeout), &out);
    if (rc != 0 || out.overflow) {
      lookup_timeouts_.fetch_add(1, std::memory_order_relaxed);
      return CallbackFailed("shared state lookup_binding", rc);
    }
    if (out.data.empty()) return std::optional<std::string>();
    if (!ar::internal::IsValidUtf8(out.data)) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return std::optional<std::string>();
    }
    lookup_hits_.fetch_add(1, std::memory_order_relaxed);
    return std::optional<std::string>(std::move(out.data));
  }

  absl::StatusOr<ar::SharedRecord> Read(std::string_view id, absl::Duration timeout) override {
    authrouter_sink out;
    out.limit = size_t{16} << 20;
    const int32_t rc = s_.read(owner_.user_data(), id.data(), id.size(), absl::ToInt64Milliseconds(timeout), &out);
    if (rc != 0 || out.overflow) return CallbackFailed("shared state read", rc);
    return Parse(id, out.data);
  }

  absl::StatusOr<std::optional<std::string>> AcquireLease(std::string_view id, std::string_view model,
                                                          uint32_t limit, absl::Time now, absl::Time expires,
                                                          absl::Duration timeout) override {
    authrouter_sink out;
    out.limit = 4096;
    const int32_t rc = s_.acquire_lease(owner_.user_data(), id.data(), id.size(), model.data(), model.size(), limit,
                                        absl::ToUnixMillis(now), absl::ToUnixMillis(expires),
                                        absl::ToInt64Milliseconds(timeout), &out);
    if (rc != 0 || out.overflow) return CallbackFailed("shared state acquire_lease", rc);
    if (out.data.empty()) return std::optional<std::string>();
    return std::optional<std::string>(std::move(out.data));
  }

  void ReleaseLease(std::string_view id, std::string_view model, std::string_view token) override {
    Count(s_.release_lease(owner_.user_data(), id.data(), id.size(), model.data(), model.size(), token.data(),
                           token.size()));
  }

  absl::StatusOr<ar::SharedRefreshLock> AcquireRefreshLock(std::string_view id, absl::Time now, absl::Time expires,
                                                           absl::Duration timeout) override {
    authrouter_sink out;
    out.limit = 4096;
    const int32_t rc = s_.acquire_refresh_lock(owner_.user_data(), id.data(), id.size(), absl::ToUnixMillis(now),
                                               absl::ToUnixMillis(expires), absl::ToInt64Milliseconds(timeout), &out);
    if (rc != 0 || out.overflow) return CallbackFailed("shared state acquire_refresh_lock", rc);
    thread_local simdjson::dom::parser parser;
    simdjson::dom::object o;
    ar::SharedRefreshLock lock;
    std::string_view fp;
    int64_t holder = 0;
    if (parser.parse(out.data.data(), out.data.size()).get_object().get(o) || o["acquired"].get(lock.acquired) ||
        o["fence"].get(lock.fence) || o["version"].get(lock.version)) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return absl::InvalidArgumentError(
          "shared state acquire_refresh_lock: not a JSON object with acquired, fence and version");
    }
    if (!o["fingerprint"].get(fp) && fp.size() <= 64 && ar::internal::IsValidUtf8(fp)) lock.fingerprint.assign(fp);
    if (!lock.acquired && !o["holder_expires_ms"].get(holder) && holder > 0 && holder < int64_t{253402300800000}) {
      lock.holder_expires = absl::FromUnixMillis(holder);
    }
    return lock;
  }

  absl::StatusOr<uint64_t> CompleteRefresh(std::string_view id, uint64_t fence, std::string_view fingerprint,
                                           std::string_view tokens, absl::Duration timeout) override {
    uint64_t version = 0;
    const int32_t rc = s_.complete_refresh(owner_.user_data(), id.data(), id.size(), fence, fingerprint.data(),
                                           fingerprint.size(), tokens.data(), tokens.size(),
                                           absl::ToInt64Milliseconds(timeout), &version);
    if (rc == AUTHROUTER_FAILED_PRECONDITION) {
      return absl::FailedPreconditionError("shared state: another replica took the refresh lock since (fenced)");
    }
    if (rc != 0) return CallbackFailed("shared state complete_refresh", rc);
    return version;
  }

  void ReleaseRefreshLock(std::string_view id, uint64_t fence) override {
    Count(s_.release_refresh_lock(owner_.user_data(), id.data(), id.size(), fence));
  }

  absl::StatusOr<ar::SharedToken> ReadToken(std::string_view id, absl::Duration timeout) override {
    authrouter_sink out;
    out.limit = size_t{1} << 20;
    const int32_t rc =
        s_.read_token(owner_.user_data(), id.data(), id.size(), absl::ToInt64Milliseconds(timeout), &out);
    if (rc != 0 || out.overflow) return CallbackFailed("shared state read_token", rc);
    ar::SharedToken t;
    if (out.data.empty()) return t;
    thread_local simdjson::dom::parser parser;
    simdjson::dom::object o;
    if (parser.parse(out.data.data(), out.data.size()).get_object().get(o) || o["version"].get(t.version)) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return absl::InvalidArgumentError("shared state read_token: not a JSON object with a version");
    }
    std::string_view v;
    if (!o["fingerprint"].get(v) && v.size() <= 64) t.fingerprint.assign(v);
    if (!o["tokens"].get(v)) t.tokens.assign(v);
    return t;
  }

  ar::SharedStateStats Stats() const override {
    ar::SharedStateStats s;
    s.connected = true;  // the host's client knows; the library cannot
    s.published = published_.load(std::memory_order_relaxed);
    s.publish_failures = failures_.load(std::memory_order_relaxed);
    s.rejected = rejected_.load(std::memory_order_relaxed);
    s.lookups = lookups_.load(std::memory_order_relaxed);
    s.lookup_hits = lookup_hits_.load(std::memory_order_relaxed);
    s.lookup_timeouts = lookup_timeouts_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  void Count(int32_t rc) { (rc == 0 ? published_ : failures_).fetch_add(1, std::memory_order_relaxed); }

  // Parse reads the read callback's JSON; a malformed entry is skipped and counted.
  absl::StatusOr<ar::SharedRecord> Parse(std::string_view id, const std::string& json) {
    ar::SharedRecord rec;
    if (json.empty()) return rec;
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(json.data(), json.size()).get(root) || !root.is_object()) {
      rejected_.fetch_add(1, std::memory_order_relaxed);
      return absl::InvalidArgumentError("shared state read: not a JSON object");
    }
    simdjson::dom::object health;
    if (!root["health"].get(health)) {
      for (auto [model, value] : health) {
        if (value.is_null()) continue;
        absl::StatusOr<ar::ModelState> state = ar::SharedHealthFromJson(simdjson::minify(value));
        if (!state.ok()) {
          rejected_.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        rec.health.push_back(ar::SharedHealth{std::string(id), std::string(model), *std::move(state)});
      }
    }
    bool disabled = false;
    if (!root["disabled"].get(disabled)) {
      rec.disabled = disabled;
      int64_t at = 0;
      if (!root["disabled_at_ms"].get(at) && at >= 0 && at < int64_t{253402300800000}) {
        rec.disabled_at = absl::FromUnixMillis(at);
      }
    }
    return rec;
  }

  authrouter_shared_state s_;
  Owner owner_;
  std::mutex mu_;
  std::unique_ptr<authrouter_shared_listener> handle_;  // guarded by mu_
  std::atomic<bool> claimed_{false};
  std::atomic<uint64_t> published_{0}, failures_{0}, rejected_{0}, lookups_{0}, lookup_hits_{0},
      lookup_timeouts_{0};
};

bool ClaimSharedState(ar::SharedState& shared) {
  auto* c = dynamic_cast<CSharedState*>(&shared);
  return c == nullptr || c->Claim();
}

}  // namespace authrouter::capi

extern "C" {

void authrouter_shared_state_init(authrouter_shared_state* s) {
  if (s) *s = authrouter_shared_state AUTHROUTER_SHARED_STATE_INIT;
}

int32_t authrouter_options_use_redis(authrouter_options* o, const char* url, size_t url_len,
                                     authrouter_error** err) {
  std::string_view u;
  if (o == nullptr || !Str(url, url_len, &u) || u.empty()) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options or url is NULL or empty");
  }
  return Guard(err, [&] {
    ar::RedisOptions next = o->config.redis.value_or(ar::RedisOptions{});
    next.url.assign(u);
    if (absl::Status s = ar::ValidateRedisOptions(next); !s.ok()) return Fail(err, s);
    o->config.redis = std::move(next);
    return Ok(err);
  });
}

int32_t authrouter_options_set_shared_state(authrouter_options* o, const authrouter_shared_state* s,
                                            authrouter_error** err) {
  if (o == nullptr || s == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "options or shared state is NULL");
  if (int32_t rc = CheckVersion(s->version, "shared_state", err); rc != 0) return rc;
  if (s->attach == nullptr || s->detach == nullptr || s->publish_health == nullptr ||
      s->publish_disabled == nullptr || s->read == nullptr || s->publish_binding == nullptr ||
      s->lookup_binding == nullptr || s->acquire_lease == nullptr || s->release_lease == nullptr ||
      s->acquire_refresh_lock == nullptr || s->complete_refresh == nullptr ||
      s->release_refresh_lock == nullptr || s->read_token == nullptr) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT,
                "shared state needs attach, detach, publish_health, publish_disabled, read, "
                "publish_binding, lookup_binding, acquire_lease, release_lease, acquire_refresh_lock, "
                "complete_refresh, release_refresh_lock and read_token");
  }
  return Guard(err, [&] {
    o->shared_state = std::make_shared<CSharedState>(*s);
    return Ok(err);
  });
}

int32_t authrouter_shared_listener_health(authrouter_shared_listener* l, const char* id, size_t id_len,
                                          const char* model, size_t model_len, const char* state_json,
                                          size_t state_len, authrouter_error** err) {
  std::string_view i, m, j;
  if (l == nullptr || !Str(id, id_len, &i) || !Str(model, model_len, &m) ||
      (state_len != 0 && !Str(state_json, state_len, &j))) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "listener, id, model or state is NULL");
  }
  return Guard(err, [&] {
    if (i.empty() || !ar::internal::IsValidUtf8(i) || !ar::internal::IsValidUtf8(m)) {
      l->rejected->fetch_add(1, std::memory_order_relaxed);
      return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "id is empty, or id or model is not valid UTF-8");
    }
    ar::SharedHealth h{std::string(i), std::string(m), ar::ModelState{}};
    if (!j.empty()) {
      absl::StatusOr<ar::ModelState> state = ar::SharedHealthFromJson(j);
      if (!state.ok()) {
        l->rejected->fetch_add(1, std::memory_order_relaxed);
        return Fail(err, state.status());
      }
      h.state = *std::move(state);
    }
    l->listener->OnHealth(h);
    return Ok(err);
  });
}

int32_t authrouter_shared_listener_disabled(authrouter_shared_listener* l, const char* id, size_t id_len,
                                            bool disabled, authrouter_error** err) {
  std::string_view i;
  if (l == nullptr || !Str(id, id_len, &i) || i.empty()) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "listener or id is NULL or empty");
  }
  return Guard(err, [&] {
    l->listener->OnDisabled(i, disabled);
    return Ok(err);
  });
}

int32_t authrouter_shared_listener_token(authrouter_shared_listener* l, const char* id, size_t id_len,
                                         uint64_t version, authrouter_error** err) {
  std::string_view i;
  if (l == nullptr || !Str(id, id_len, &i) || i.empty()) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "listener or id is NULL or empty");
  }
  return Guard(err, [&] {
    l->listener->OnTokenChanged(i, version);
    return Ok(err);
  });
}

int32_t authrouter_shared_listener_resync(authrouter_shared_listener* l, authrouter_error** err) {
  if (l == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "listener is NULL");
  return Guard(err, [&] {
    if (!l->listener->OnResync()) {
      return Fail(err, AUTHROUTER_UNAVAILABLE, "resync incomplete: a read failed; resync again later");
    }
    return Ok(err);
  });
}

int32_t authrouter_manager_shared_stats(authrouter_manager* m, char** out, size_t* out_len,
                                        authrouter_error** err) {
  if (out != nullptr) *out = nullptr;
  if (out_len != nullptr) *out_len = 0;
  if (int32_t rc = CheckManager(m, err); rc != 0) return rc;
  if (out == nullptr) return Fail(err, AUTHROUTER_INVALID_ARGUMENT, "out is NULL");
  return Guard(err, [&] {
    std::optional<ar::SharedStateStats> s = m->manager->SharedStats();
    if (!s) return Fail(err, AUTHROUTER_NOT_FOUND, "no shared state configured");
    std::string json;
    ar::internal::JsonWriter w(&json);
    w.BeginObject();
    w.Key("connected");
    w.Bool(s->connected);
    for (const auto& [name, value] :
         {std::pair<const char*, uint64_t>{"published", s->published},
          {"publish_failures", s->publish_failures},
          {"received", s->received},
          {"rejected", s->rejected},
          {"lookups", s->lookups},
          {"lookup_hits", s->lookup_hits},
          {"lookup_timeouts", s->lookup_timeouts},
          {"reconnects", s->reconnects},
          {"resyncs", s->resyncs},
          {"leases_taken", s->leases_taken},
          {"leases_refused", s->leases_refused},
          {"lease_failures", s->lease_failures},
          {"refresh_locks", s->refresh_locks},
          {"refresh_waits", s->refresh_waits},
          {"refresh_fenced", s->refresh_fenced}}) {
      w.Key(name);
      w.Uint(value);
    }
    w.EndObject();
    return CopyOutJson(json, out, out_len, err);
  });
}

}  // extern "C"
