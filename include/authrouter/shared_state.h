// shared_state.h -- one routing state for several gateway replicas.
//
// Each Manager decides alone unless it is given a SharedState (ManagerOptions::shared_state).
// Through it the Manager publishes what it learns and hears what the other replicas learned:
//
//   * health: the cooldown and quota state of each (credential, model) after every result that
//     changed it, and after cooldown resets. A 429 seen by one replica makes the credential skip
//     on the others as soon as the notice arrives;
//   * session bindings: a conversation bound on one replica is found by the others (a pick that
//     misses locally asks the shared state once, with a timeout);
//   * fleet-wide concurrency leases: with LeaseOptions::fleet kExact (the default), a pick of a
//     limited credential also takes one of its places in the shared state, so max-in-flight
//     holds across the fleet. That costs one round trip per such pick; kShare instead divides
//     each limit among LeaseOptions::fleet_replicas replicas, with no round trip;
//   * token refresh as one flight across the fleet: a per-credential lock with a fencing token,
//     and a "token changed, version N" notice that the other replicas wait for and adopt
//     (from the shared Store, or from the shared state itself when
//     ManagerOptions::shared_tokens opts in to tokens in it);
//   * disable/enable of credentials.
//
// Local state stays authoritative for a pick: a pick never waits for the shared state except for
// that one lookup of a binding it does not know and the fleet lease of a limited credential,
// each of which gives up after ManagerOptions::shared_lookup_timeout (the pick then goes on with
// local state alone). Remote changes are applied to the local pool as they
// arrive, so steady-state picks cost what they cost without shared state.
//
// NewRedisSharedState gives the default implementation over Redis (docs/shared-state.md lists
// its keys). A host with its own client (Go's, Rust's) implements SharedState, or the C ABI's
// authrouter_shared_state callbacks, and tells the Manager what arrives through the
// SharedStateListener it is attached to.
#ifndef AUTHROUTER_SHARED_STATE_H_
#define AUTHROUTER_SHARED_STATE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "authrouter/credential.h"
#include "authrouter/log.h"

namespace authrouter {
inline namespace v0 {

// SharedHealth is the health of one (credential, model) as replicas share it.
struct SharedHealth {
  std::string credential_id;
  // The canonical model key (model_key.h); "" for the credential's own state (results without a
  // model: Credential::unavailable, next_retry_after, quota, last_error, status).
  std::string model;
  // The state after the change. A clean state (active, nothing set) means "no cooldown".
  ModelState state;

  friend bool operator==(const SharedHealth&, const SharedHealth&) = default;
};

// SharedRecord is what the shared state holds for one credential (SharedState::Read).
struct SharedRecord {
  std::vector<SharedHealth> health;  // one per model with state; any order
  std::optional<bool> disabled;      // unset: nobody published one
  absl::Time disabled_at = ZeroTime();  // when `disabled` was set (the publisher's clock)
};

// SharedHealthToJson writes the shared form of `health.state` (its model state, streak
// included), what the Redis implementation stores and a C host carries: a JSON object. Never
// fails.
std::string SharedHealthToJson(const ModelState& state);

// SharedHealthFromJson parses the shared form. Returns InvalidArgumentError (naming the field,
// never a value) for anything else: a wrong type, an unknown status, a time outside years
// 0000..9999, text over 64 KiB or not valid UTF-8.
[[nodiscard]] absl::StatusOr<ModelState> SharedHealthFromJson(std::string_view json);

// SharedRefreshLock answers SharedState::AcquireRefreshLock.
struct SharedRefreshLock {
  // This replica holds the credential's refresh lock now, until the expiry it asked for.
  bool acquired = false;
  // When acquired: the fencing token, larger than every one handed out before for the
  // credential. CompleteRefresh accepts a write only from the latest holder.
  uint64_t fence = 0;
  // The token version published last (0: none yet), whether acquired or not, and the
  // fingerprint of its tokens (SharedToken::fingerprint).
  uint64_t version = 0;
  std::string fingerprint;
  // When not acquired: the expiry the holder asked for (its clock); it is free after that.
  absl::Time holder_expires = ZeroTime();
};

// SharedToken is what the shared state holds of a credential's token.
struct SharedToken {
  uint64_t version = 0;  // 0: no refresh published yet
  // A one-way digest of the access and refresh token of that version (32 hex digits; no secret),
  // so that a replica can tell whether the tokens it holds are the newest.
  std::string fingerprint;
  // The new tokens as TokenUpdateToJson wrote them (refresh.h); empty unless the publishing
  // replica shares tokens (ManagerOptions::shared_tokens). A secret: never logged.
  std::string tokens;
};

// SharedStateListener hears what other replicas changed. The Manager implements it; a
// SharedState calls it from any thread (its own, typically), one call at a time, never while
// holding a lock the Manager could wait for. Each method returns quickly: it only updates the
// local pool.
class SharedStateListener {
 public:
  virtual ~SharedStateListener() = default;

  // OnHealth: `health.state` is the stored state now. Deliver notices in the shared state's
  // order of changes, this replica's own included: a notice of an entry this replica published
  // and has not heard back yet is its own older write, or one stored before it, and is not
  // applied; every other one is applied as is. So two replicas changing the same entry at once
  // both end with the state stored last, and a notice on its way never undoes a newer local
  // change. (A replica that never hears its own notices ignores the others' changes of an entry
  // for 2 s after each change of its own.) A notice for a credential this replica does not hold
  // is dropped (it reads the shared record when the credential is registered).
  virtual void OnHealth(const SharedHealth& health) = 0;
  // OnDisabled: another replica disabled or enabled `credential_id`.
  virtual void OnDisabled(std::string_view credential_id, bool disabled) = 0;
  // OnTokenChanged: a replica refreshed `credential_id`; its token version is now `version`
  // (deliver this replica's own notices too: they are ignored).
  virtual void OnTokenChanged(std::string_view credential_id, uint64_t version) = 0;
  // OnResync: the connection was (re)established, so notices may have been missed: the
  // listener reads every credential it holds back (SharedState::Read), adopts what is newer
  // there, and publishes again what the shared state lost (a restart or flush of the server).
  // May block for the reads; call it from the shared state's own thread. Returns false when it
  // could not finish (a read failed): call it again later.
  virtual bool OnResync() = 0;
};

// SharedStateStats are the shared state's counters, for metrics.
struct SharedStateStats {
  bool connected = false;          // the last operation reached the server
  uint64_t published = 0;          // changes written
  uint64_t publish_failures = 0;   // changes that could not be written (dropped; a resync mends)
  uint64_t received = 0;           // notices applied from other replicas
  uint64_t rejected = 0;           // notices and values rejected as malformed
  uint64_t lookups = 0;            // binding lookups asked
  uint64_t lookup_hits = 0;        // lookups that found a binding
  uint64_t lookup_timeouts = 0;    // lookups that gave up (timeout, disconnected)
  uint64_t reconnects = 0;         // connections re-established after a loss
  uint64_t resyncs = 0;            // full resyncs run
  uint64_t leases_taken = 0;       // fleet leases acquired
  uint64_t leases_refused = 0;     // fleet leases refused (every place held across the fleet)
  uint64_t lease_failures = 0;     // fleet lease requests that failed (the pick went on locally)
  uint64_t refresh_locks = 0;      // refresh locks acquired
  uint64_t refresh_waits = 0;      // refreshes that waited for another replica's
  uint64_t refresh_fenced = 0;     // refresh results fenced off (a newer holder took the lock)
};

// SharedState is where replicas meet. The Manager calls it outside its locks.
//
// Thread-safety: every method may be called from any thread at once.
class SharedState {
 public:
  virtual ~SharedState() = default;

  // Attach gives the listener that hears remote changes (one at a time: a second Attach replaces
  // the first). The implementation calls listener->OnResync() once it is connected.
  virtual void Attach(SharedStateListener* listener) = 0;
  // Detach stops listener calls: when it returns, none is running and none will start.
  virtual void Detach(SharedStateListener* listener) = 0;

  // PublishHealth writes `health` and tells every replica (this one too). A clean state is
  // written as well (a tombstone that keeps its updated_at, so a resync can tell it is newer
  // than a stale cooldown). Must not block for long: an implementation queues it. A publish that
  // cannot be delivered is dropped and counted; the next resync publishes the state again.
  virtual void PublishHealth(const SharedHealth& health) = 0;
  // PublishDisabled writes and announces the operator flag of `credential_id`, set at `at`.
  virtual void PublishDisabled(std::string_view credential_id, bool disabled, absl::Time at) = 0;
  // Read returns what the shared state holds for `credential_id`, waiting at most `timeout`.
  virtual absl::StatusOr<SharedRecord> Read(std::string_view credential_id, absl::Duration timeout) = 0;

  // PublishBinding binds session key `key` to `credential_id` for `ttl` (from now). Queued.
  virtual void PublishBinding(std::string_view key, std::string_view credential_id, absl::Duration ttl) = 0;
  // LookupBinding returns the credential `key` is bound to, or std::nullopt when none; waits at
  // most `timeout` and then returns DeadlineExceededError (UnavailableError when disconnected).
  virtual absl::StatusOr<std::optional<std::string>> LookupBinding(std::string_view key,
                                                                   absl::Duration timeout) = 0;

  // AcquireLease takes one of the `limit` places of `credential_id` (with `model` non-empty: of
  // that canonical model of it) across the fleet, until `expires`. Places whose expiry is not
  // after `now` count as free (a replica that died holding them). Returns the lease's token, or
  // std::nullopt when all `limit` places are held; waits at most `timeout`, then
  // DeadlineExceededError (UnavailableError when disconnected).
  virtual absl::StatusOr<std::optional<std::string>> AcquireLease(std::string_view credential_id,
                                                                  std::string_view model, uint32_t limit,
                                                                  absl::Time now, absl::Time expires,
                                                                  absl::Duration timeout) = 0;
  // ReleaseLease gives the place `token` took back. Queued.
  virtual void ReleaseLease(std::string_view credential_id, std::string_view model, std::string_view token) = 0;

  // AcquireRefreshLock takes the refresh lock of `credential_id` until `expires`, unless
  // another replica holds it with an expiry after `now`. Waits at most `timeout`.
  virtual absl::StatusOr<SharedRefreshLock> AcquireRefreshLock(std::string_view credential_id, absl::Time now,
                                                               absl::Time expires, absl::Duration timeout) = 0;
  // CompleteRefresh publishes a refresh made under the lock `fence` took: the token version
  // goes up by one, `fingerprint` and `tokens` (TokenUpdateToJson; "" when tokens are not
  // shared) are stored, the lock is released and every replica hears OnTokenChanged. Returns
  // the new version, or FailedPreconditionError when another replica took the lock since (the
  // write is fenced off: nothing changes). Waits at most `timeout`.
  virtual absl::StatusOr<uint64_t> CompleteRefresh(std::string_view credential_id, uint64_t fence,
                                                   std::string_view fingerprint, std::string_view tokens,
                                                   absl::Duration timeout) = 0;
  // ReleaseRefreshLock gives back the lock `fence` took, after a refresh that changed nothing
  // (a failure, an adoption). Does nothing when another replica took it since. Queued.
  virtual void ReleaseRefreshLock(std::string_view credential_id, uint64_t fence) = 0;
  // ReadToken returns the token version and shared tokens of `credential_id`. Waits at most
  // `timeout`.
  virtual absl::StatusOr<SharedToken> ReadToken(std::string_view credential_id, absl::Duration timeout) = 0;

  // Stats returns the counters.
  virtual SharedStateStats Stats() const = 0;
};

// RedisOptions configures the Redis implementation.
struct RedisOptions {
  // Where the server is: "redis://[user[:password]@]host[:port][/db]" (TCP, port 6379 by
  // default) or "unix:///path/to/redis.sock[?db=N]". REQUIRES: non-empty.
  std::string url;
  // An ACL user and password; they override the URL's. Never logged.
  std::string user;
  std::string password;
  // The database index; overrides the URL's. -1: the URL's (default 0). REQUIRES: -1..1000.
  int database = -1;
  // The prefix of every key and channel, one per deployment ("authrouter:" by default). Up to
  // 128 bytes, valid UTF-8.
  std::string prefix = "authrouter:";
  // How long one command may take before the connection counts as lost. REQUIRES: 1 ms .. 60 s.
  // Default: 200 ms.
  absl::Duration timeout = absl::Milliseconds(200);
  // The first wait before a reconnect; it doubles (with jitter) up to max_backoff.
  // REQUIRES: 1 ms .. max_backoff. Default: 50 ms.
  absl::Duration min_backoff = absl::Milliseconds(50);
  // REQUIRES: min_backoff .. 10 min. Default: 5 s.
  absl::Duration max_backoff = absl::Seconds(5);
  // The longest a queued publish waits: older ones are dropped (a resync mends). Also bounds the
  // queue to 100,000 entries. REQUIRES: 1 ms .. 1 h. Default: 10 s.
  absl::Duration queue_limit = absl::Seconds(10);
  // How long a health key lives after its last write (every write sets it to this, or to the
  // written cooldown's end plus an hour when that is later). REQUIRES: 1 min .. 365 days.
  // Default: 7 days.
  absl::Duration health_ttl = absl::Hours(24 * 7);
  // Where diagnostics go: connection losses (degraded), reconnects, rejected values. Never a
  // password or a token. Default: none.
  std::shared_ptr<Logger> logger{};

  friend bool operator==(const RedisOptions& a, const RedisOptions& b) {
    return a.url == b.url && a.user == b.user && a.password == b.password &&
           a.database == b.database && a.prefix == b.prefix && a.timeout == b.timeout &&
           a.min_backoff == b.min_backoff && a.max_backoff == b.max_backoff &&
           a.queue_limit == b.queue_limit && a.health_ttl == b.health_ttl;
  }
};

// ValidateRedisOptions returns InvalidArgumentError naming the first unusable field (never the
// password).
[[nodiscard]] absl::Status ValidateRedisOptions(const RedisOptions& options);

// NewRedisSharedState connects to Redis (hiredis) in the background and returns at once: picks
// work on local state until the connection is up, and whenever it is down (reported as degraded
// to the logger and in Stats). Returns InvalidArgumentError for unusable options only.
//
// It runs two threads (named "ar-redis-cmd" and "ar-redis-sub"), stopped and joined when the last
// reference goes.
[[nodiscard]] absl::StatusOr<std::shared_ptr<SharedState>> NewRedisSharedState(RedisOptions options);

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_SHARED_STATE_H_
