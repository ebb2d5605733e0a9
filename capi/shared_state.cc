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
      s->lookup_binding == nullptr) {
    return Fail(err, AUTHROUTER_INVALID_ARGUMENT,
                "shared state needs attach, detach, publish_health, publish_disabled, read, "
                "publish_binding and lookup_binding");
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
          {"resyncs", s->resyncs}}) {
      w.Key(name);
      w.Uint(value);
    }
    w.EndObject();
    return CopyOutJson(json, out, out_len, err);
  });
}

}  // extern "C"
