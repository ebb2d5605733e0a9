// The Redis implementation of SharedState (shared_state.h), over hiredis.
//
// Two connections, each owned by one thread:
//   * the command thread ("ar-redis-cmd") runs a queue of operations: publishes (a Lua script
//     that writes one key and publishes the notice, so the stored order is the notice order),
//     binding writes and lookups, reads for a resync, and a check of this replica's marker key
//     every second (a flushed or restarted server lost our state: resync);
//   * the subscriber thread ("ar-redis-sub") listens on the deployment's channel, hands every
//     notice to the listener (this replica's own too: applied in the server's order, they make
//     concurrent changes converge), pings the server when the channel is quiet (a dead peer is
//     noticed within seconds), and runs the resyncs (after every (re)connect, when the command
//     thread asks, and again after one that could not finish), so that a resync's reads never
//     wait on the thread that answers them.
// Both reconnect with exponential backoff and jitter. Callers never wait longer than their
// timeout: a lookup abandoned by its caller is answered into a state nobody reads.
#include <hiredis/hiredis.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "authrouter/shared_state.h"
#include "internal/json_writer.h"
#include "internal/strings.h"
#include "internal/unicode.h"
#include "redis/redis_url.h"
#include "simdjson.h"

namespace authrouter {
inline namespace v0 {
namespace {

using internal::Cat;

// Publishes one health field: KEYS[1] the health hash; ARGV: field, value (a clean state is
// written too, as a tombstone that keeps its time), the least TTL (ms), the channel, the notice.
constexpr const char* kHealthScript =
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) "
    "local ttl = tonumber(ARGV[3]) "
    "if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end "
    "redis.call('PUBLISH', ARGV[4], ARGV[5]) return 1";
// Publishes the disabled flag: KEYS[1] the flag; ARGV: "<1|0>:<unix ms of the change>", the
// channel, the notice.
constexpr const char* kDisabledScript =
    "redis.call('SET', KEYS[1], ARGV[1]) redis.call('PUBLISH', ARGV[2], ARGV[3]) return 1";

// Takes a fleet lease: KEYS[1] the lease set (member: token, score: expiry ms); ARGV: now (ms),
// expiry (ms), limit, token. Places expired at `now` are dropped first. 1 taken, 0 full.
constexpr const char* kLeaseScript =
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]) "
    "if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end "
    "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[4]) "
    "local ttl = tonumber(ARGV[2]) - tonumber(ARGV[1]) + 60000 "
    "if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end "
    "return 1";
// Takes a refresh lock: KEYS[1] the refresh hash (fence, holder, expires, version, tokens);
// ARGV: now (ms), expiry (ms), holder, the key's TTL (ms). Returns {taken 1|0, fence, version,
// fingerprint, the holder's expiry (ms; 0 when taken)}.
constexpr const char* kLockScript =
    "local h = redis.call('HMGET', KEYS[1], 'holder', 'expires', 'fence', 'version', 'fp') "
    "local v = tonumber(h[4]) or 0 "
    "local fp = h[5] or '' "
    "if h[1] and h[1] ~= '' and (tonumber(h[2]) or 0) > tonumber(ARGV[1]) then "
    "return {0, tonumber(h[3]) or 0, v, fp, tonumber(h[2]) or 0} end "
    "local f = redis.call('HINCRBY', KEYS[1], 'fence', 1) "
    "redis.call('HSET', KEYS[1], 'holder', ARGV[3], 'expires', ARGV[2]) "
    "redis.call('PEXPIRE', KEYS[1], ARGV[4]) "
    "return {1, f, v, fp, 0}";
// Publishes a refresh made under fence ARGV[1]: ARGV: fence, tokens, the channel, the notice
// around the version (head, tail), the key's TTL (ms), the fingerprint. Returns {1, version} or
// {0, 0} (fenced).
constexpr const char* kCompleteScript =
    "if redis.call('HGET', KEYS[1], 'fence') ~= ARGV[1] then return {0, 0} end "
    "local v = redis.call('HINCRBY', KEYS[1], 'version', 1) "
    "redis.call('HSET', KEYS[1], 'holder', '', 'expires', '0', 'tokens', ARGV[2], 'fp', ARGV[7]) "
    "redis.call('PEXPIRE', KEYS[1], ARGV[6]) "
    "redis.call('PUBLISH', ARGV[3], ARGV[4] .. v .. ARGV[5]) "
    "return {1, v}";
// Gives a refresh lock back and tells the replicas waiting for it: ARGV: fence, the channel, the
// notice around the version (head, tail). 1 released, 0 another holder took it since.
constexpr const char* kUnlockScript =
    "if redis.call('HGET', KEYS[1], 'fence') ~= ARGV[1] then return 0 end "
    "redis.call('HSET', KEYS[1], 'holder', '', 'expires', '0') "
    "redis.call('PUBLISH', ARGV[2], ARGV[3] .. (redis.call('HGET', KEYS[1], 'version') or '0') .. ARGV[4]) "
    "return 1";

// ParseCount reads a non-negative decimal counter.
std::optional<uint64_t> ParseCount(std::string_view v) {
  uint64_t n = 0;
  const auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc() || ptr != v.data() + v.size()) return std::nullopt;
  return n;
}

struct ReplyDeleter {
  void operator()(redisReply* r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;
struct ContextDeleter {
  void operator()(redisContext* c) const {
    if (c != nullptr) redisFree(c);
  }
};
using Context = std::unique_ptr<redisContext, ContextDeleter>;

// BlockSigpipe keeps a write to a connection the server closed (a kill, a restart) from raising
// SIGPIPE, whose default action ends the host process: blocked in this thread, the signal stays
// pending and the write fails with EPIPE, which hiredis reports as a lost connection.
void BlockSigpipe() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

timeval RedisTimeval(absl::Duration d) {
  const int64_t us = absl::ToInt64Microseconds(d);
  return timeval{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
}

std::string RandomHex(size_t bytes) {
  std::random_device rd;
  std::string out;
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < bytes; ++i) {
    const unsigned v = rd() & 0xff;
    out.push_back(kHex[v >> 4]);
    out.push_back(kHex[v & 15]);
  }
  return out;
}

// A call a caller waits for (lookups, reads).
struct Call {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  absl::Status status;
  std::optional<std::string> value;  // a lookup's answer
  SharedRecord record;               // a read's answer
  SharedRefreshLock lock;            // a refresh lock's answer
  uint64_t version = 0;              // a completed refresh's version
  bool refused = false;              // a lease found full, a refresh fenced off
  SharedToken token;                 // a token read's answer
};

struct Op {
  enum Kind {
    kHealth, kDisabled, kBinding, kLookup, kRead,
    kLeaseTake, kLeaseGive, kLockTake, kLockComplete, kLockGive, kTokenRead
  } kind;
  // kHealth: credential, model, value; kBinding: key, credential; kLease*: credential, model,
  // token; kLock*, kTokenRead: credential (kLockComplete: tokens in `a`)
  std::string key, a, b;
  int64_t ms = 0;         // kBinding: ttl; kLeaseTake, kLockTake: now
  bool flag = false;      // kDisabled
  std::chrono::steady_clock::time_point queued;
  std::shared_ptr<Call> call;
  std::chrono::steady_clock::time_point deadline{};  // a call's: its caller gave up after it
  int64_t expires_ms = 0;  // kLeaseTake, kLockTake
  uint64_t n = 0;          // kLeaseTake: the limit; kLockComplete, kLockGive: the fence
};

class RedisSharedState final : public SharedState {
 public:
  RedisSharedState(RedisOptions options, internal::RedisEndpoint endpoint)
      : options_(std::move(options)), endpoint_(std::move(endpoint)), origin_(RandomHex(8)) {
    if (!options_.user.empty()) endpoint_.user = options_.user;
    if (!options_.password.empty()) endpoint_.password = options_.password;
    if (options_.database >= 0) endpoint_.database = options_.database;
    channel_ = Cat(options_.prefix, "events");
    marker_ = Cat(options_.prefix, "alive:", origin_);
    if (pipe(wake_) != 0) {
      wake_[0] = wake_[1] = -1;
    } else {
      for (int fd : wake_) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    }
    cmd_thread_ = std::thread([this] { CommandLoop(); });
    sub_thread_ = std::thread([this] { SubscriberLoop(); });
  }

  ~RedisSharedState() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    stop_cv_.notify_all();
    Wake();
    cmd_thread_.join();
    sub_thread_.join();
    if (wake_[0] >= 0) close(wake_[0]);
    if (wake_[1] >= 0) close(wake_[1]);
  }

  void Attach(SharedStateListener* listener) override {
    {
      std::lock_guard<std::mutex> lock(listener_mu_);
      listener_ = listener;
    }
    RequestResync();
  }

  void Detach(SharedStateListener* listener) override {
    std::lock_guard<std::mutex> lock(listener_mu_);
    if (listener_ == listener) listener_ = nullptr;
  }

  void PublishHealth(const SharedHealth& health) override {
    Op op{Op::kHealth, health.credential_id, health.model, SharedHealthToJson(health.state), 0, false, {}, nullptr};
    // The key lives at least as long as the cooldown it holds.
    const absl::Duration left = health.state.next_retry_after - absl::Now();
    op.ms = absl::ToInt64Milliseconds(std::max(options_.health_ttl, left + absl::Hours(1)));
    Enqueue(std::move(op));
  }

  void PublishDisabled(std::string_view credential_id, bool disabled, absl::Time at) override {
    Enqueue(Op{Op::kDisabled, std::string(credential_id), {}, {}, absl::ToUnixMillis(at), disabled, {}, nullptr});
  }

  void PublishBinding(std::string_view key, std::string_view credential_id, absl::Duration ttl) override {
    const int64_t ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(ttl));
    Enqueue(Op{Op::kBinding, std::string(key), std::string(credential_id), {}, ms, false, {}, nullptr});
  }

  absl::StatusOr<std::optional<std::string>> LookupBinding(std::string_view key,
                                                           absl::Duration timeout) override {
    lookups_.fetch_add(1, std::memory_order_relaxed);
    auto call = std::make_shared<Call>();
    absl::Status s = Wait(Op{Op::kLookup, std::string(key), {}, {}, 0, false, {}, call}, timeout);
    if (!s.ok()) {
      lookup_timeouts_.fetch_add(1, std::memory_order_relaxed);
      return s;
    }
    if (call->value) lookup_hits_.fetch_add(1, std::memory_order_relaxed);
    return std::move(call->value);
  }

  absl::StatusOr<SharedRecord> Read(std::string_view credential_id, absl::Duration timeout) override {
    auto call = std::make_shared<Call>();
    absl::Status s = Wait(Op{Op::kRead, std::string(credential_id), {}, {}, 0, false, {}, call}, timeout);
    if (!s.ok()) return s;
    return std::move(call->record);
  }

  absl::StatusOr<std::optional<std::string>> AcquireLease(std::string_view credential_id, std::string_view model,
                                                          uint32_t limit, absl::Time now, absl::Time expires,
                                                          absl::Duration timeout) override {
    auto call = std::make_shared<Call>();
    Op op{Op::kLeaseTake, std::string(credential_id), std::string(model),
          Cat(origin_, ":", lease_seq_.fetch_add(1, std::memory_order_relaxed)), absl::ToUnixMillis(now),
          false, {}, call};
    op.expires_ms = absl::ToUnixMillis(expires);
    op.n = limit;
    std::string token = op.b;
    if (absl::Status s = Wait(std::move(op), timeout); !s.ok()) return s;
    if (call->refused) return std::optional<std::string>();
    return std::optional<std::string>(std::move(token));
  }

  void ReleaseLease(std::string_view credential_id, std::string_view model, std::string_view token) override {
    Enqueue(Op{Op::kLeaseGive, std::string(credential_id), std::string(model), std::string(token), 0, false, {}, nullptr});
  }

  absl::StatusOr<SharedRefreshLock> AcquireRefreshLock(std::string_view credential_id, absl::Time now,
                                                       absl::Time expires, absl::Duration timeout) override {
    auto call = std::make_shared<Call>();
    Op op{Op::kLockTake, std::string(credential_id), {}, {}, absl::ToUnixMillis(now), false, {}, call};
    op.expires_ms = absl::ToUnixMillis(expires);
    if (absl::Status s = Wait(std::move(op), timeout); !s.ok()) return s;
    return call->lock;
  }

  absl::StatusOr<uint64_t> CompleteRefresh(std::string_view credential_id, uint64_t fence,
                                           std::string_view fingerprint, std::string_view tokens,
                                           absl::Duration timeout) override {
    auto call = std::make_shared<Call>();
    Op op{Op::kLockComplete, std::string(credential_id), std::string(tokens), std::string(fingerprint), 0, false, {}, call};
    op.n = fence;
    if (absl::Status s = Wait(std::move(op), timeout); !s.ok()) return s;
    if (call->refused) {
      return absl::FailedPreconditionError("shared state: another replica took the refresh lock since (fenced)");
    }
    return call->version;
  }

  void ReleaseRefreshLock(std::string_view credential_id, uint64_t fence) override {
    Op op{Op::kLockGive, std::string(credential_id), {}, {}, 0, false, {}, nullptr};
    op.n = fence;
    Enqueue(std::move(op));
  }

  absl::StatusOr<SharedToken> ReadToken(std::string_view credential_id, absl::Duration timeout) override {
    auto call = std::make_shared<Call>();
    if (absl::Status s = Wait(Op{Op::kTokenRead, std::string(credential_id), {}, {}, 0, false, {}, call}, timeout);
        !s.ok()) {
      return s;
    }
    return std::move(call->token);
  }

  SharedStateStats Stats() const override {
    SharedStateStats s;
    s.connected = connected_.load(std::memory_order_relaxed) && subscribed_.load(std::memory_order_relaxed);
    s.published = published_.load(std::memory_order_relaxed);
    s.publish_failures = publish_failures_.load(std::memory_order_relaxed);
    s.received = received_.load(std::memory_order_relaxed);
    s.rejected = rejected_.load(std::memory_order_relaxed);
    s.lookups = lookups_.load(std::memory_order_relaxed);
    s.lookup_hits = lookup_hits_.load(std::memory_order_relaxed);
    s.lookup_timeouts = lookup_timeouts_.load(std::memory_order_relaxed);
    s.reconnects = reconnects_.load(std::memory_order_relaxed);
    s.resyncs = resyncs_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  void Log(LogLevel level, std::string_view message) const {
    LogTo(options_.logger, level, "shared-state", message);
  }

  void Wake() {
    if (wake_[1] >= 0) {
      const char b = 1;
      [[maybe_unused]] ssize_t n = write(wake_[1], &b, 1);
    }
  }

  void RequestResync() {
    resync_requested_.store(true, std::memory_order_release);
    Wake();
  }

  void Enqueue(Op op) {
    op.queued = std::chrono::steady_clock::now();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.size() >= kMaxQueue) {
        queue_.pop_front();
        publish_failures_.fetch_add(1, std::memory_order_relaxed);
      }
      queue_.push_back(std::move(op));
    }
    cv_.notify_one();
  }

  absl::Status Wait(Op op, absl::Duration timeout) {
    if (!connected_.load(std::memory_order_acquire)) {
      return absl::UnavailableError("shared state: not connected to redis");
    }
    std::shared_ptr<Call> call = op.call;
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::microseconds(std::max<int64_t>(0, absl::ToInt64Microseconds(timeout)));
    op.deadline = deadline;
    Enqueue(std::move(op));
    std::unique_lock<std::mutex> lock(call->mu);
    if (!call->cv.wait_until(lock, deadline, [&] { return call->done; })) {
      return absl::DeadlineExceededError("shared state: redis did not answer in time");
    }
    // A copy of its own, not one sharing the command thread's (Debian's Abseil is not
    // instrumented for ThreadSanitizer, which then cannot see the reference count's ordering).
    return absl::Status(call->status.code(), call->status.message());
  }

  // Finish answers a call once (later answers are dropped).
  static void Finish(const std::shared_ptr<Call>& call, absl::Status status) {
    {
      std::lock_guard<std::mutex> lock(call->mu);
      if (call->done) return;
      call->done = true;
      call->status = std::move(status);
    }
    call->cv.notify_all();
  }

  // Connect opens a connection with the options' timeouts, authenticates and selects the
  // database. Returns null (and logs why, without a secret) on failure.
  Context Connect(std::string_view role) {
    const timeval tv = RedisTimeval(options_.timeout);
    Context c(endpoint_.unix_socket ? redisConnectUnixWithTimeout(endpoint_.host.c_str(), tv)
                                    : redisConnectWithTimeout(endpoint_.host.c_str(), endpoint_.port, tv));
    std::string problem;
    if (c == nullptr) {
      problem = "out of memory";
    } else if (c->err != 0) {
      problem = c->errstr;
    } else if (redisSetTimeout(c.get(), tv) != REDIS_OK) {
      problem = "cannot set the socket timeout";
    } else {
      if (!endpoint_.unix_socket) (void)redisEnableKeepAlive(c.get());
      if (!endpoint_.password.empty()) {
        Reply r(static_cast<redisReply*>(
            endpoint_.user.empty()
                ? redisCommand(c.get(), "AUTH %b", endpoint_.password.data(), endpoint_.password.size())
                : redisCommand(c.get(), "AUTH %b %b", endpoint_.user.data(), endpoint_.user.size(),
                               endpoint_.password.data(), endpoint_.password.size())));
        if (r == nullptr || r->type == REDIS_REPLY_ERROR) problem = "authentication failed";
      }
      if (problem.empty() && endpoint_.database != 0) {
        Reply r(static_cast<redisReply*>(redisCommand(c.get(), "SELECT %d", endpoint_.database)));
        if (r == nullptr || r->type == REDIS_REPLY_ERROR) problem = "SELECT failed";
      }
    }
    if (!problem.empty()) {
      Log(LogLevel::kWarning, Cat("redis ", role, " connection failed: ", problem, " (degraded: local state only)"));
      return nullptr;
    }
    return c;
  }

  // Backoff waits the next reconnect delay (doubling, with jitter), or until stopped.
  // Returns false when stopped.
  bool Backoff(absl::Duration* delay) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    const int64_t base = absl::ToInt64Microseconds(*delay);
    const int64_t jittered = base / 2 + static_cast<int64_t>(rng() % static_cast<uint64_t>(base / 2 + 1));
    *delay = std::min(*delay * 2, options_.max_backoff);
    std::unique_lock<std::mutex> lock(mu_);
    stop_cv_.wait_for(lock, std::chrono::microseconds(jittered), [&] { return stop_; });
    return !stop_;
  }

  // FailQueued answers every waiting call with `status` and drops publishes older than the
  // queue limit. REQUIRES: mu_ held.
  void FailQueuedLocked(const absl::Status& status) {
    const auto oldest = std::chrono::steady_clock::now() -
                        std::chrono::microseconds(absl::ToInt64Microseconds(options_.queue_limit));
    std::deque<Op> kept;
    for (Op& op : queue_) {
      if (op.call != nullptr) {
        Finish(op.call, status);
      } else if (op.queued < oldest) {
        publish_failures_.fetch_add(1, std::memory_order_relaxed);
      } else {
        kept.push_back(std::move(op));
      }
    }
    queue_.swap(kept);
  }

  std::string Notice(std::string_view kind, std::string_view id, std::string_view model,
                     std::string_view value) const {
    std::string out;
    internal::JsonWriter w(&out);
    w.BeginObject();
    w.Key("k");
    w.String(kind);
    w.Key("o");
    w.String(origin_);
    w.Key("id");
    w.String(id);
    if (kind == "h") {
      w.Key("m");
      w.String(model);
      w.Key("s");
      w.Raw(value);
    } else if (kind == "d") {
      w.Key("d");
      w.Bool(value == "1");
    }
    w.EndObject();
    return out;
  }

  // Run executes one operation. Returns false when the connection is lost (the operation, if it
  // is a call, is answered).
  bool Run(redisContext* c, Op& op) {
    if (op.call != nullptr && std::chrono::steady_clock::now() > op.deadline) {
      Finish(op.call, absl::DeadlineExceededError("shared state: abandoned"));  // nobody waits
      return true;
    }
    Reply r;
    switch (op.kind) {
      case Op::kHealth: {
        const std::string key = Cat(options_.prefix, "health:", op.key);
        const std::string notice = Notice("h", op.key, op.a, op.b);
        const std::string ttl = std::to_string(op.ms);
        r = EvalScript(c, health_sha_, kHealthScript, key, {op.a, op.b, ttl, channel_, notice});
        break;
      }
      case Op::kDisabled: {
        const std::string key = Cat(options_.prefix, "disabled:", op.key);
        const std::string notice = Notice("d", op.key, {}, op.flag ? "1" : "0");
        const std::string value = Cat(op.flag ? "1:" : "0:", op.ms);
        r = EvalScript(c, disabled_sha_, kDisabledScript, key, {value, channel_, notice});
        break;
      }
      case Op::kBinding: {
        const std::string key = Cat(options_.prefix, "session:", op.key);
        r.reset(static_cast<redisReply*>(redisCommand(c, "SET %b %b PX %lld", key.data(), key.size(), op.a.data(),
                                                      op.a.size(), static_cast<long long>(op.ms))));
        break;
      }
      case Op::kLookup: {
        const std::string key = Cat(options_.prefix, "session:", op.key);
        r.reset(static_cast<redisReply*>(redisCommand(c, "GET %b", key.data(), key.size())));
        if (r == nullptr) break;
        if (r->type == REDIS_REPLY_STRING) {
          const std::string_view v(r->str, r->len);
          if (v.empty() || v.size() > 4096 || !internal::IsValidUtf8(v)) {
            Reject("a session binding holds no credential ID");
          } else {
            op.call->value.emplace(v);
          }
        } else if (r->type != REDIS_REPLY_NIL) {
          Reject(Cat("session binding is not a string (", r->type == REDIS_REPLY_ERROR ? "error" : "wrong type", ")"));
        }
        Finish(op.call, absl::OkStatus());
        return true;
      }
      case Op::kRead: {
        r = ReadRecord(c, op);
        if (r == nullptr) break;
        return true;
      }
      case Op::kLeaseTake: {
        const std::string now = std::to_string(op.ms), expires = std::to_string(op.expires_ms),
                          limit = std::to_string(op.n);
        r = EvalScript(c, lease_sha_, kLeaseScript, LeaseKey(op.key, op.a), {now, expires, limit, op.b});
        if (r == nullptr) break;
        if (r->type != REDIS_REPLY_INTEGER) {
          Reject(Cat("the fleet lease set of ", op.key, " is unusable (", ReplyProblem(*r), ")"));
          Finish(op.call, absl::InternalError("shared state: the fleet lease set is unusable"));
          return true;
        }
        op.call->refused = r->integer == 0;
        Finish(op.call, absl::OkStatus());
        return true;
      }
      case Op::kLeaseGive: {
        const std::string key = LeaseKey(op.key, op.a);
        r.reset(static_cast<redisReply*>(redisCommand(c, "ZREM %b %b", key.data(), key.size(), op.b.data(), op.b.size())));
        break;
      }
      case Op::kLockTake: {
        const std::string now = std::to_string(op.ms), expires = std::to_string(op.expires_ms);
        r = EvalScript(c, lock_sha_, kLockScript, RefreshKey(op.key), {now, expires, origin_, KeyTtl()});
        if (r == nullptr) break;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 || r->element[4]->type != REDIS_REPLY_INTEGER || r->element[0]->type != REDIS_REPLY_INTEGER ||
            r->element[1]->type != REDIS_REPLY_INTEGER || r->element[2]->type != REDIS_REPLY_INTEGER ||
            r->element[3]->type != REDIS_REPLY_STRING || r->element[1]->integer < 0 ||
            r->element[2]->integer < 0) {
          Reject(Cat("the refresh lock of ", op.key, " is unusable (", ReplyProblem(*r), ")"));
          Finish(op.call, absl::InternalError("shared state: the refresh lock is unusable"));
          return true;
        }
        op.call->lock.acquired = r->element[0]->integer == 1;
        op.call->lock.fence = static_cast<uint64_t>(r->element[1]->integer);
        op.call->lock.version = static_cast<uint64_t>(r->element[2]->integer);
        if (!op.call->lock.acquired && r->element[4]->integer > 0 && r->element[4]->integer < int64_t{253402300800000}) {
          op.call->lock.holder_expires = absl::FromUnixMillis(r->element[4]->integer);
        }
        op.call->lock.fingerprint.assign(r->element[3]->str, std::min<size_t>(r->element[3]->len, 64));
        Finish(op.call, absl::OkStatus());
        return true;
      }
      case Op::kLockComplete: {
        const std::string fence = std::to_string(op.n);
        const std::string head = TokenNoticeHead(op.key);
        r = EvalScript(c, complete_sha_, kCompleteScript, RefreshKey(op.key),
                       {fence, op.a, channel_, head, "}", KeyTtl(), op.b});
        if (r == nullptr) break;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || r->element[0]->type != REDIS_REPLY_INTEGER ||
            r->element[1]->type != REDIS_REPLY_INTEGER || r->element[1]->integer < 0) {
          Reject(Cat("the refresh record of ", op.key, " is unusable (", ReplyProblem(*r), ")"));
          Finish(op.call, absl::InternalError("shared state: the refresh record is unusable"));
          return true;
        }
        op.call->refused = r->element[0]->integer == 0;
        op.call->version = static_cast<uint64_t>(r->element[1]->integer);
        Finish(op.call, absl::OkStatus());
        return true;
      }
      case Op::kLockGive: {
        const std::string fence = std::to_string(op.n);
        const std::string head = TokenNoticeHead(op.key);
        r = EvalScript(c, unlock_sha_, kUnlockScript, RefreshKey(op.key), {fence, channel_, head, "}"});
        break;
      }
      case Op::kTokenRead: {
        const std::string key = RefreshKey(op.key);
        r.reset(static_cast<redisReply*>(redisCommand(c, "HMGET %b version tokens fp", key.data(), key.size())));
        if (r == nullptr) break;
        SharedToken& t = op.call->token;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 3) {
          Reject(Cat("the refresh record of ", op.key, " is not a hash"));
        } else {
          const redisReply* v = r->element[0];
          const redisReply* tokens = r->element[1];
          if (v->type == REDIS_REPLY_STRING) {
            if (std::optional<uint64_t> n = ParseCount(std::string_view(v->str, v->len))) {
              t.version = *n;
            } else {
              Reject(Cat("the token version of ", op.key, " is not a number"));
            }
          }
          if (tokens->type == REDIS_REPLY_STRING) t.tokens.assign(tokens->str, tokens->len);
          const redisReply* fp = r->element[2];
          if (fp->type == REDIS_REPLY_STRING) t.fingerprint.assign(fp->str, std::min<size_t>(fp->len, 64));
        }
        Finish(op.call, absl::OkStatus());
        return true;
      }
    }
    if (r == nullptr) {
      if (op.call != nullptr) Finish(op.call, absl::UnavailableError("shared state: redis connection lost"));
      publish_failures_.fetch_add(op.call == nullptr ? 1 : 0, std::memory_order_relaxed);
      return false;
    }
    if (r->type == REDIS_REPLY_ERROR) {
      publish_failures_.fetch_add(1, std::memory_order_relaxed);
      Log(LogLevel::kWarning, Cat("redis refused a write: ", std::string_view(r->str, r->len)));
    } else {
      published_.fetch_add(1, std::memory_order_relaxed);
    }
    return true;
  }

  // EvalScript runs a script by its SHA, loading it on NOSCRIPT (a restarted or flushed server).
  Reply EvalScript(redisContext* c, std::string& sha, const char* script, const std::string& key,
                   std::initializer_list<std::string_view> args) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (sha.empty()) {
        Reply load(static_cast<redisReply*>(redisCommand(c, "SCRIPT LOAD %s", script)));
        if (load == nullptr) return nullptr;
        if (load->type != REDIS_REPLY_STRING) return load;
        sha.assign(load->str, load->len);
      }
      std::vector<const char*> argv{"EVALSHA", sha.c_str(), "1", key.c_str()};
      std::vector<size_t> lens{7, sha.size(), 1, key.size()};
      for (std::string_view a : args) {
        argv.push_back(a.data());
        lens.push_back(a.size());
      }
      Reply r(static_cast<redisReply*>(
          redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data())));
      if (r != nullptr && r->type == REDIS_REPLY_ERROR && std::string_view(r->str, r->len).substr(0, 8) == "NOSCRIPT") {
        sha.clear();
        continue;
      }
      return r;
    }
    return nullptr;
  }

  Reply ReadRecord(redisContext* c, Op& op) {
    const std::string hkey = Cat(options_.prefix, "health:", op.key);
    const std::string dkey = Cat(options_.prefix, "disabled:", op.key);
    redisAppendCommand(c, "HGETALL %b", hkey.data(), hkey.size());
    redisAppendCommand(c, "GET %b", dkey.data(), dkey.size());
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK) {
      Finish(op.call, absl::UnavailableError("shared state: redis connection lost"));
      return nullptr;
    }
    Reply health(static_cast<redisReply*>(raw));
    raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK) {
      Finish(op.call, absl::UnavailableError("shared state: redis connection lost"));
      return nullptr;
    }
    Reply disabled(static_cast<redisReply*>(raw));
    SharedRecord& rec = op.call->record;
    if (health->type == REDIS_REPLY_ARRAY) {
      for (size_t i = 0; i + 1 < health->elements; i += 2) {
        const redisReply* f = health->element[i];
        const redisReply* v = health->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
            !internal::IsValidUtf8(std::string_view(f->str, f->len))) {
          Reject("a health field is not a string");
          continue;
        }
        absl::StatusOr<ModelState> state = SharedHealthFromJson(std::string_view(v->str, v->len));
        if (!state.ok()) {
          Reject(Cat("health of ", op.key, ": ", internal::ToStd(state.status().message())));
          continue;
        }
        rec.health.push_back(SharedHealth{op.key, std::string(f->str, f->len), *std::move(state)});
      }
    } else if (health->type != REDIS_REPLY_NIL) {
      Reject(Cat("health of ", op.key, " is not a hash"));
    }
    if (disabled->type == REDIS_REPLY_STRING) {
      const std::string_view v(disabled->str, disabled->len);
      int64_t ms = 0;
      const auto parsed = v.size() > 2 ? std::from_chars(v.data() + 2, v.data() + v.size(), ms)
                                       : std::from_chars_result{v.data(), std::errc::invalid_argument};
      if ((v.substr(0, 2) == "1:" || v.substr(0, 2) == "0:") && parsed.ec == std::errc() &&
          parsed.ptr == v.data() + v.size() && ms >= 0 && ms < int64_t{253402300800000}) {
        rec.disabled = v[0] == '1';
        rec.disabled_at = absl::FromUnixMillis(ms);
      } else {
        Reject(Cat("disabled flag of ", op.key, " is not <1|0>:<unix ms>"));
      }
    } else if (disabled->type != REDIS_REPLY_NIL) {
      Reject(Cat("disabled flag of ", op.key, " is not a string"));
    }
    Finish(op.call, absl::OkStatus());
    return health;
  }

  // LeaseKey: the fleet lease set of a credential ("lease:<len>:<id>") or of one of its models
  // ("lease:<len>:<id>:<model>"); the length keeps an ID with colons from reading as a model.
  std::string LeaseKey(std::string_view id, std::string_view model) const {
    std::string key = Cat(options_.prefix, "lease:", static_cast<int64_t>(id.size()), ":", id);
    if (!model.empty()) internal::Append(&key, ":", model);
    return key;
  }
  // TokenNoticeHead is a token notice up to its version: {"k":"t","o":...,"id":...,"v":
  std::string TokenNoticeHead(std::string_view id) const {
    std::string head = Notice("t", id, {}, {});
    head.pop_back();
    head += ",\"v\":";
    return head;
  }
  std::string RefreshKey(std::string_view id) const { return Cat(options_.prefix, "refresh:", id); }
  std::string KeyTtl() const { return std::to_string(absl::ToInt64Milliseconds(options_.health_ttl)); }
  static std::string ReplyProblem(const redisReply& r) {
    if (r.type == REDIS_REPLY_ERROR) return std::string(std::string_view(r.str, r.len).substr(0, 64));
    return "unexpected reply";
  }

  void Reject(std::string_view what) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    Log(LogLevel::kWarning, Cat("rejected bad data in redis: ", what));
  }

  // CheckMarker makes sure the deployment's marker key exists; a missing one means the server
  // lost its data (a flush, a restart without persistence): everything is published again.
  // Returns false when the connection is lost.
  bool CheckMarker(redisContext* c, bool first) {
    // A day's TTL, renewed every check: markers of replicas gone away do not pile up.
    Reply r(static_cast<redisReply*>(redisCommand(c, "SET %b %b NX PX 86400000", marker_.data(), marker_.size(), "1", size_t{1})));
    if (r != nullptr && r->type != REDIS_REPLY_STATUS) {
      Reply renew(static_cast<redisReply*>(redisCommand(c, "PEXPIRE %b 86400000", marker_.data(), marker_.size())));
      if (renew == nullptr) return false;
    }
    if (r == nullptr) return false;
    if (r->type == REDIS_REPLY_STATUS && !first) {  // "OK": it was missing
      Log(LogLevel::kWarning, "redis lost the shared state (flushed or restarted): publishing it again");
      RequestResync();
    }
    return true;
  }

  void CommandLoop() {
    pthread_setname_np(pthread_self(), "ar-redis-cmd");
    BlockSigpipe();
    absl::Duration delay = options_.min_backoff;
    bool ever = false;
    for (;;) {
      Context c = Connect("command");
      if (c == nullptr || !CheckMarker(c.get(), true)) {
        connected_.store(false, std::memory_order_release);
        {
          std::lock_guard<std::mutex> lock(mu_);
          FailQueuedLocked(absl::UnavailableError("shared state: not connected to redis"));
        }
        if (!Backoff(&delay)) return;
        continue;
      }
      for (std::string* sha : {&health_sha_, &disabled_sha_, &lease_sha_, &lock_sha_, &complete_sha_, &unlock_sha_}) {
        sha->clear();
      }
      delay = options_.min_backoff;
      if (ever) {
        reconnects_.fetch_add(1, std::memory_order_relaxed);
        Log(LogLevel::kInfo, "redis command connection re-established");
        RequestResync();  // publishes may have been dropped meanwhile
      }
      ever = true;
      connected_.store(true, std::memory_order_release);
      auto next_check = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      bool lost = false;
      while (!lost) {
        Op op;
        {
          std::unique_lock<std::mutex> lock(mu_);
          cv_.wait_until(lock, next_check, [&] { return stop_ || !queue_.empty(); });
          if (stop_) {
            FailQueuedLocked(absl::CancelledError("shared state: stopped"));
            return;
          }
          if (std::chrono::steady_clock::now() >= next_check) {  // also under a steady load
            lock.unlock();
            next_check = std::chrono::steady_clock::now() + std::chrono::seconds(1);
            lost = !CheckMarker(c.get(), false);
            continue;
          }
          op = std::move(queue_.front());
          queue_.pop_front();
        }
        lost = !Run(c.get(), op);
      }
      connected_.store(false, std::memory_order_release);
      Log(LogLevel::kWarning, "redis command connection lost (degraded: local state only)");
      std::lock_guard<std::mutex> lock(mu_);
      FailQueuedLocked(absl::UnavailableError("shared state: not connected to redis"));
    }
  }

  void Deliver(std::string_view payload) {
    simdjson::dom::element root;
    if (payload.size() > (size_t{64} << 10) || parser_.parse(payload.data(), payload.size()).get(root) ||
        !root.is_object()) {
      Reject("a notice is not a JSON object");
      return;
    }
    std::string_view kind, origin, id, model;
    if (root["k"].get(kind) || root["o"].get(origin) || root["id"].get(id)) {
      Reject("a notice lacks its kind, origin or credential");
      return;
    }
    (void)origin;  // our own too: in the server's order, the last notice is the stored state
    if (kind == "h") {
      simdjson::dom::element state;
      if (root["m"].get(model) || root["s"].get(state)) {
        Reject("a health notice lacks its model or state");
        return;
      }
      SharedHealth h{std::string(id), std::string(model), ModelState{}};
      if (!state.is_null()) {
        const std::string json = simdjson::minify(state);
        absl::StatusOr<ModelState> parsed = SharedHealthFromJson(json);
        if (!parsed.ok()) {
          Reject(Cat("health notice for ", id, ": ", internal::ToStd(parsed.status().message())));
          return;
        }
        h.state = *std::move(parsed);
      }
      std::lock_guard<std::mutex> lock(listener_mu_);
      if (listener_ != nullptr) {
        received_.fetch_add(1, std::memory_order_relaxed);
        listener_->OnHealth(h);
      }
    } else if (kind == "d") {
      bool disabled = false;
      if (root["d"].get(disabled)) {
        Reject("a disabled notice lacks its flag");
        return;
      }
      std::lock_guard<std::mutex> lock(listener_mu_);
      if (listener_ != nullptr) {
        received_.fetch_add(1, std::memory_order_relaxed);
        listener_->OnDisabled(id, disabled);
      }
    } else if (kind == "t") {
      uint64_t version = 0;
      if (root["v"].get(version)) {
        Reject("a token notice lacks its version");
        return;
      }
      std::lock_guard<std::mutex> lock(listener_mu_);
      if (listener_ != nullptr) {
        received_.fetch_add(1, std::memory_order_relaxed);
        listener_->OnTokenChanged(id, version);
      }
    } else {
      Reject("a notice of an unknown kind");
    }
  }

  // RunResync runs a resync; one that could not finish is run again a second later.
  void RunResync() {
    resync_requested_.store(false, std::memory_order_release);
    std::lock_guard<std::mutex> lock(listener_mu_);
    if (listener_ == nullptr) return;
    resyncs_.fetch_add(1, std::memory_order_relaxed);
    if (!listener_->OnResync()) retry_resync_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  }

  void SubscriberLoop() {
    pthread_setname_np(pthread_self(), "ar-redis-sub");
    BlockSigpipe();
    absl::Duration delay = options_.min_backoff;
    bool ever = false;
    while (!Stopped()) {
      Context c = Connect("subscriber");
      Reply r;
      if (c != nullptr) {
        r.reset(static_cast<redisReply*>(redisCommand(c.get(), "SUBSCRIBE %b", channel_.data(), channel_.size())));
      }
      if (r == nullptr || r->type != REDIS_REPLY_ARRAY) {
        if (r != nullptr) {
          Log(LogLevel::kWarning, "redis refused SUBSCRIBE (does the ACL user have access to the channel?)");
        }
        subscribed_.store(false, std::memory_order_release);
        if (!Backoff(&delay)) return;
        continue;
      }
      delay = options_.min_backoff;
      if (ever) reconnects_.fetch_add(1, std::memory_order_relaxed);
      ever = true;
      subscribed_.store(true, std::memory_order_release);
      RequestResync();  // whatever was published while we were not listening
      bool lost = false;
      auto last_traffic = std::chrono::steady_clock::now();
      std::optional<std::chrono::steady_clock::time_point> ping_sent;
      const auto ping_wait = std::max(std::chrono::milliseconds(1000),
                                      std::chrono::milliseconds(absl::ToInt64Milliseconds(options_.timeout)));
      while (!lost && !Stopped()) {
        const auto now = std::chrono::steady_clock::now();
        if (retry_resync_at_ && now >= *retry_resync_at_) {
          retry_resync_at_.reset();
          resync_requested_.store(true, std::memory_order_release);
        }
        if (resync_requested_.load(std::memory_order_acquire) && connected_.load(std::memory_order_acquire)) {
          RunResync();
        }
        // A quiet channel is pinged: a peer that died without closing (a partition, a crashed
        // host) is noticed within seconds, not never.
        if (!ping_sent && now - last_traffic > std::chrono::seconds(2)) {
          int done = 0;
          if (redisAppendCommand(c.get(), "PING") != REDIS_OK) {
            lost = true;
            break;
          }
          while (!done) {
            if (redisBufferWrite(c.get(), &done) != REDIS_OK) {
              lost = true;
              break;
            }
          }
          ping_sent = now;
        } else if (ping_sent && now - *ping_sent > ping_wait) {
          Log(LogLevel::kWarning, "redis did not answer a ping on the subscriber connection");
          lost = true;
          break;
        }
        void* raw = nullptr;
        if (redisGetReplyFromReader(c.get(), &raw) != REDIS_OK) {
          lost = true;
          break;
        }
        if (raw != nullptr) {
          last_traffic = std::chrono::steady_clock::now();
          ping_sent.reset();
          Reply msg(static_cast<redisReply*>(raw));
          if (msg->type == REDIS_REPLY_ARRAY && msg->elements == 3 && msg->element[0]->type == REDIS_REPLY_STRING &&
              std::string_view(msg->element[0]->str, msg->element[0]->len) == "message" &&
              msg->element[2]->type == REDIS_REPLY_STRING) {
            Deliver(std::string_view(msg->element[2]->str, msg->element[2]->len));
          }
          continue;
        }
        pollfd fds[2] = {{c->fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
        const int n = poll(fds, wake_[0] >= 0 ? 2 : 1, 100);
        if (n < 0) continue;
        if (wake_[0] >= 0 && (fds[1].revents & POLLIN) != 0) {
          char buf[64];
          [[maybe_unused]] ssize_t got = read(wake_[0], buf, sizeof buf);
        }
        if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
          if (redisBufferRead(c.get()) != REDIS_OK) lost = true;
        }
      }
      subscribed_.store(false, std::memory_order_release);
      if (lost) Log(LogLevel::kWarning, "redis subscriber connection lost (degraded: local state only)");
    }
  }

  bool Stopped() {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  }

  static constexpr size_t kMaxQueue = 100'000;

  const RedisOptions options_;
  internal::RedisEndpoint endpoint_;
  const std::string origin_;
  std::string channel_, marker_;
  std::string health_sha_, disabled_sha_, lease_sha_, lock_sha_, complete_sha_, unlock_sha_;  // command thread
  std::atomic<uint64_t> lease_seq_{1};  // makes lease tokens unique
  simdjson::dom::parser parser_;           // subscriber thread only

  std::mutex mu_;
  std::condition_variable cv_;       // the command thread's queue
  std::condition_variable stop_cv_;  // backoff waits
  std::deque<Op> queue_;  // guarded by mu_
  bool stop_ = false;     // guarded by mu_
  int wake_[2] = {-1, -1};

  std::mutex listener_mu_;
  SharedStateListener* listener_ = nullptr;  // guarded by listener_mu_
  std::atomic<bool> resync_requested_{false};
  std::optional<std::chrono::steady_clock::time_point> retry_resync_at_;  // subscriber thread only

  std::atomic<bool> connected_{false}, subscribed_{false};
  std::atomic<uint64_t> published_{0}, publish_failures_{0}, received_{0}, rejected_{0}, lookups_{0},
      lookup_hits_{0}, lookup_timeouts_{0}, reconnects_{0}, resyncs_{0};

  std::thread cmd_thread_, sub_thread_;
};

}  // namespace

absl::Status ValidateRedisOptions(const RedisOptions& o) {
  if (o.url.empty()) return absl::InvalidArgumentError("redis.url: required");
  if (absl::StatusOr<internal::RedisEndpoint> e = internal::ParseRedisUrl(o.url); !e.ok()) return e.status();
  if (o.database < -1 || o.database > 1000) return absl::InvalidArgumentError("redis.database: must be -1..1000");
  if (o.prefix.size() > 128 || !internal::IsValidUtf8(o.prefix)) {
    return absl::InvalidArgumentError("redis.prefix: at most 128 bytes of valid UTF-8");
  }
  if (!internal::IsValidUtf8(o.user)) return absl::InvalidArgumentError("redis.user: not valid UTF-8");
  if (o.timeout < absl::Milliseconds(1) || o.timeout > absl::Seconds(60)) {
    return absl::InvalidArgumentError("redis.timeout: must be 1ms..60s");
  }
  if (o.max_backoff < absl::Milliseconds(1) || o.max_backoff > absl::Minutes(10)) {
    return absl::InvalidArgumentError("redis.max-backoff: must be 1ms..10m");
  }
  if (o.min_backoff < absl::Milliseconds(1) || o.min_backoff > o.max_backoff) {
    return absl::InvalidArgumentError("redis.min-backoff: must be 1ms..max-backoff");
  }
  if (o.queue_limit < absl::Milliseconds(1) || o.queue_limit > absl::Hours(1)) {
    return absl::InvalidArgumentError("redis.queue-limit: must be 1ms..1h");
  }
  if (o.health_ttl < absl::Minutes(1) || o.health_ttl > absl::Hours(24 * 365)) {
    return absl::InvalidArgumentError("redis.health-ttl: must be 1m..365d");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<SharedState>> NewRedisSharedState(RedisOptions options) {
  if (absl::Status s = ValidateRedisOptions(options); !s.ok()) return s;
  absl::StatusOr<internal::RedisEndpoint> endpoint = internal::ParseRedisUrl(options.url);
  if (!endpoint.ok()) return endpoint.status();
  return std::shared_ptr<SharedState>(std::make_shared<RedisSharedState>(std::move(options), *std::move(endpoint)));
}

}  // namespace v0
}  // namespace authrouter
