// session_cache.h -- session-to-credential bindings with a time to live.
//
// Session affinity binds a conversation's key to the credential that served it, so later turns go
// to the same credential. Keys that name the same conversation (a primary and a fallback ID)
// form an alias group: written together, refreshed together, expired together.
// A binding expires when now >= its expiry; reading it with GetAndRefresh or Touch restarts its
// time to live.
//
// Memory (measured by BM_SessionCache_BytesPerBinding and the session_cache.bytes_per_binding
// test, glibc malloc, rounding and chunk headers counted): a binding in a group of its own holds
// about 175 bytes plus its key -- its node with the shared_ptr control block that handles share
// (80), the key string's block (the key plus 9, rounded up to 16), the group record (64) and its
// slot in the key set (10 to 21) -- and each further alias of a group about 110 bytes plus its
// key. A credential ID is stored once however many groups it is bound to. Manager keys are
// "<provider>::<session ID>::<model>", so at the default bound of 1,000,000 bindings with
// 256-byte keys that is about 430 MB (410 MiB), and with the longest session IDs (256 bytes,
// keys near 290 bytes) about 470 MB; size `max_entries` (ManagerOptions::
// session_affinity_max_entries, config routing.session-affinity-max-entries) to the traffic. When
// the bound is reached the groups refreshed longest ago are evicted first.
//
// Thread-safety: safe for concurrent use. The optional sweeper thread is joined by Stop() and by
// the destructor.
#ifndef AUTHROUTER_SESSION_CACHE_H_
#define AUTHROUTER_SESSION_CACHE_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "authrouter/clock.h"

namespace authrouter {
inline namespace v0 {

// kMaxSessionAffinityTtl is the longest binding TTL accepted anywhere (options, config files).
inline constexpr absl::Duration kMaxSessionAffinityTtl = absl::Hours(24 * 30);

// kMaxSessionAffinityEntries is the largest binding bound the Manager, config files and the C
// ABI accept (100,000,000 bindings: over 40 GB, see Memory above).
inline constexpr size_t kMaxSessionAffinityEntries = 100'000'000;

class SessionCache {
 public:
  // kMaxAliases is the most keys one group holds; further aliases are ignored.
  static constexpr size_t kMaxAliases = 64;

  struct Options {
    // Time to live of a binding. REQUIRES: > 0 and <= 30 days. Default: 1 h.
    absl::Duration ttl = absl::Hours(1);
    // Most bindings (keys) held; the oldest groups are evicted beyond it. REQUIRES: > 0.
    // Default: 1,000,000.
    size_t max_entries = 1'000'000;
    // Run a sweeper thread that removes expired bindings every ttl/2. Without it, call Sweep()
    // from the host's own loop. Default: true.
    bool sweeper = true;
    // The time source. Default: SystemClock::Default(). REQUIRES: outlives the cache.
    const Clock* clock = nullptr;
  };

  // Create validates `options` and builds a cache. Returns InvalidArgumentError for a ttl out of
  // range or a zero max_entries.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SessionCache>> Create(Options options);

  ~SessionCache();
  SessionCache(const SessionCache&) = delete;
  SessionCache& operator=(const SessionCache&) = delete;

  // Get writes the credential bound to `key` into *credential_id and returns true, or returns
  // false when there is no live binding (an expired one is removed). The time to live is not
  // extended. An empty key never binds.
  bool Get(std::string_view key, std::string* credential_id);

  // GetAndRefresh is Get, and a hit restarts the time to live of the key's whole group. With
  // `handle`, a hit also returns the group's handle (its first key, shared with the cache).
  bool GetAndRefresh(std::string_view key, std::string* credential_id,
                     std::shared_ptr<const std::string>* handle = nullptr);

  // Set binds `key` to `credential_id` (a group of one), replacing any earlier binding of the
  // key. An empty key or credential ID is ignored.
  void Set(std::string_view key, std::string_view credential_id);

  // SetAliases binds every key of `keys` (at most kMaxAliases; empty ones skipped) as one group,
  // and returns the group's handle: its first key as a shared string that outlives the binding
  // (nullptr when nothing was bound). The live groups of those keys merge into it: all their
  // aliases follow the new binding.
  std::shared_ptr<const std::string> SetAliases(std::span<const std::string_view> keys,
                                                std::string_view credential_id);

  // Touch restarts the time to live of `key`'s group if the key is still bound to
  // `credential_id` (on a success). Returns whether it was.
  bool Touch(std::string_view key, std::string_view credential_id);

  // CompareAndDelete removes `key` if it is still bound to `credential_id` (on a failure): a
  // binding already moved elsewhere is left alone, and the key's other aliases stay. Returns
  // whether it removed.
  bool CompareAndDelete(std::string_view key, std::string_view credential_id);

  // Invalidate removes `key`'s group.
  void Invalidate(std::string_view key);

  // InvalidateCredential removes every group bound to `credential_id`. O(bindings).
  void InvalidateCredential(std::string_view credential_id);

  // Sweep removes every expired binding now and returns how many keys it removed.
  size_t Sweep();

  // Stop ends the sweeper thread and waits for it. Idempotent, and safe to call concurrently.
  void Stop();

  // size returns the number of keys held (live or not yet swept).
  size_t size() const;

  // BoundSessions returns how many sessions (alias groups) are bound to `credential_id`, live
  // or expired but not yet swept.
  size_t BoundSessions(std::string_view credential_id) const;

  absl::Duration ttl() const { return absl::Nanoseconds(ttl_nanos_.load()); }

  // set_ttl changes the time to live of bindings written or refreshed from now on (a reload
  // that keeps affinity on keeps every binding). REQUIRES: as Options::ttl.
  void set_ttl(absl::Duration ttl);

  size_t max_entries() const;

  // evictions returns how many sessions (alias groups) the bound has evicted so far (expiry and
  // invalidation are not evictions).
  uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }

  // set_max_entries changes the bound; a lower one evicts the groups refreshed longest ago now,
  // down to it (the newest group stays). REQUIRES: > 0.
  void set_max_entries(size_t max_entries);

 private:
  struct Node;   // one key: its string (the handle's target), its group, the group's next key
  struct Group;  // one alias group: credential, refresh and expiry times, LRU links, its keys
  struct Cred;   // an interned credential ID, shared by the groups bound to it
  struct Index;  // the hash sets of keys and of credential IDs

  explicit SessionCache(const Options& options);
  bool Lookup(std::string_view key, bool refresh, std::string* credential_id,
              std::shared_ptr<const std::string>* handle);
  Node* FindLocked(std::string_view key) const;
  Cred* InternLocked(std::string_view credential_id);
  void ReleaseCredLocked(Cred* cred);
  void LinkNewestLocked(Group* group);
  void UnlinkLocked(Group* group);
  void EraseGroupLocked(Group* group);
  void RefreshLocked(Group* group, int64_t now);
  // BindLocked is SetAliases under mu_; it returns the group bound, or nullptr.
  Group* BindLocked(std::span<const std::string_view> keys, std::string_view credential_id,
                    int64_t now);
  // SameLiveGroupLocked returns node's group if it is live and bound to credential_id.
  Group* SameLiveGroupLocked(const Node* node, std::string_view credential_id, int64_t now) const;
  void EvictLocked();
  void SweeperLoop();

  std::atomic<int64_t> ttl_nanos_;
  std::atomic<uint64_t> evictions_{0};
  // After the TTL shrinks, groups in refresh order are no longer in expiry order: until every
  // group was refreshed after the change, Sweep scans all of them. Guarded by mu_.
  bool unordered_ = false;
  int64_t ttl_changed_at_ = INT64_MIN;  // Unix nanoseconds
  const Clock* const clock_;

  mutable std::mutex mu_;
  size_t max_entries_;            // guarded by mu_
  std::unique_ptr<Index> index_;  // guarded by mu_
  Group* oldest_ = nullptr;       // the LRU list, oldest refresh first; guarded by mu_
  Group* newest_ = nullptr;       // guarded by mu_

  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;  // guarded by stop_mu_
  std::thread sweeper_;
  std::once_flag stop_once_;
};

// SessionAffinityConfig is session affinity as configuration states it.
struct SessionAffinityConfig {
  bool enabled = false;
  absl::Duration ttl = absl::Hours(1);
};

// ResolveSessionAffinityConfig applies the configuration rules: `routing.session-affinity` OR
// the deprecated alias `routing.claude-code-session-affinity`; `routing.session-affinity-ttl` as
// a Go duration ("30m", "2h30m"), where an empty, unparsable, non-positive or over-30-days value
// means 1 h, as upstream treats it (silently).
SessionAffinityConfig ResolveSessionAffinityConfig(bool session_affinity,
                                                   bool claude_code_session_affinity,
                                                   std::string_view ttl);

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_SESSION_CACHE_H_
