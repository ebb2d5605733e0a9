#include "authrouter/session_cache.h"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>

#include "absl/container/flat_hash_set.h"
#include "absl/container/inlined_vector.h"
#include "authrouter/values.h"
#include "internal/hash.h"

namespace authrouter {
inline namespace v0 {

// The layout keeps a binding at one hash-set slot, one node and the key's string, and a group at
// one record (BM_SessionCache_BytesPerBinding):
//   - Node holds its key in a std::string, in the block std::make_shared allocates for it: the
//     handle a caller gets is an aliasing shared_ptr to that string, so handing one out allocates
//     nothing and the key is stored once. The cache owns a node through its group (head, next).
//   - The key set holds node pointers and looks up by string_view into the node.
//   - Group is an intrusive LRU record; times are Unix nanoseconds; the credential ID is interned
//     (one Cred per credential, counted by its groups), not copied into every group.
struct SessionCache::Cred {
  std::string id;
  size_t groups = 0;  // groups bound to it; it goes with the last one
};

struct SessionCache::Node {
  std::string key;
  Group* group = nullptr;      // nullptr once out of the cache (only a handle holds it then)
  std::shared_ptr<Node> next;  // the group's next key
};

struct SessionCache::Group {
  Group* older = nullptr;  // LRU links: refreshed before / after this one
  Group* newer = nullptr;
  int64_t refreshed_at = 0;  // Unix nanoseconds
  int64_t expires_at = 0;
  Cred* cred = nullptr;
  std::shared_ptr<Node> head;  // its keys; the first is the group's handle
};

namespace {

int64_t UnixNanos(absl::Time t) { return absl::ToUnixNanos(t); }

int64_t AddSaturating(int64_t a, int64_t b) {
  int64_t sum;
  if (__builtin_add_overflow(a, b, &sum)) return b > 0 ? INT64_MAX : INT64_MIN;
  return sum;
}

}  // namespace

struct SessionCache::Index {
  // Hash and Eq let both sets look up by string_view into their elements. internal::HashBytes
  // (seeded per process, since keys come from clients) rather than absl::Hash, which would add a
  // shared library to what libauthrouter.so needs (docs/ABI.md).
  struct Eq {
    using is_transparent = void;
    static std::string_view Of(std::string_view s) { return s; }
    static std::string_view Of(const Node* node) { return node->key; }
    static std::string_view Of(const Cred* cred) { return cred->id; }
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return Of(a) == Of(b);
    }
  };
  struct Hash {
    using is_transparent = void;
    template <typename T>
    size_t operator()(const T& v) const {
      return internal::HashBytes(Eq::Of(v));
    }
  };
  absl::flat_hash_set<Node*, Hash, Eq> keys;
  absl::flat_hash_set<Cred*, Hash, Eq> creds;
};

absl::StatusOr<std::unique_ptr<SessionCache>> SessionCache::Create(Options options) {
  if (options.ttl <= absl::ZeroDuration() || options.ttl > kMaxSessionAffinityTtl) {
    return absl::InvalidArgumentError(
        "session cache ttl must be greater than 0 and at most 30 days");
  }
  if (options.max_entries == 0) {
    return absl::InvalidArgumentError("session cache max_entries must be greater than 0");
  }
  return std::unique_ptr<SessionCache>(new SessionCache(options));
}

SessionCache::SessionCache(const Options& options)
    : ttl_nanos_(absl::ToInt64Nanoseconds(options.ttl)),
      clock_(options.clock != nullptr ? options.clock : &SystemClock::Default()),
      max_entries_(options.max_entries),
      index_(std::make_unique<Index>()) {
  if (options.sweeper) {
    sweeper_ = std::thread([this] { SweeperLoop(); });
    pthread_setname_np(sweeper_.native_handle(), "ar-session-sweep");
  }
}

SessionCache::~SessionCache() {
  Stop();
  std::lock_guard<std::mutex> lock(mu_);
  while (oldest_ != nullptr) EraseGroupLocked(oldest_);
}

void SessionCache::Stop() {
  std::call_once(stop_once_, [this] {
    {
      std::lock_guard<std::mutex> lock(stop_mu_);
      stopping_ = true;
    }
    stop_cv_.notify_all();
    if (sweeper_.joinable()) sweeper_.join();
  });
}

void SessionCache::SweeperLoop() {
  std::unique_lock<std::mutex> lock(stop_mu_);
  for (;;) {
    const auto period = absl::ToChronoMilliseconds(std::max(ttl() / 2, absl::Milliseconds(1)));
    if (stop_cv_.wait_for(lock, period, [this] { return stopping_; })) break;
    lock.unlock();
    Sweep();
    lock.lock();
  }
}

SessionCache::Node* SessionCache::FindLocked(std::string_view key) const {
  const auto it = index_->keys.find(key);
  return it == index_->keys.end() ? nullptr : *it;
}

SessionCache::Cred* SessionCache::InternLocked(std::string_view credential_id) {
  const auto it = index_->creds.find(credential_id);
  if (it != index_->creds.end()) return *it;
  auto cred = std::make_unique<Cred>();
  cred->id.assign(credential_id);
  index_->creds.insert(cred.get());
  return cred.release();
}

void SessionCache::ReleaseCredLocked(Cred* cred) {
  if (--cred->groups != 0) return;
  index_->creds.erase(cred);
  delete cred;
}

void SessionCache::LinkNewestLocked(Group* group) {
  group->older = newest_;
  group->newer = nullptr;
  (newest_ != nullptr ? newest_->newer : oldest_) = group;
  newest_ = group;
}

void SessionCache::UnlinkLocked(Group* group) {
  (group->older != nullptr ? group->older->newer : oldest_) = group->newer;
  (group->newer != nullptr ? group->newer->older : newest_) = group->older;
  group->older = group->newer = nullptr;
}

void SessionCache::EraseGroupLocked(Group* group) {
  // Each node leaves the index and the chain; a handle may still hold it, alone.
  for (std::shared_ptr<Node> node = std::move(group->head); node != nullptr;) {
    index_->keys.erase(node.get());
    node->group = nullptr;
    node = std::move(node->next);
  }
  UnlinkLocked(group);
  ReleaseCredLocked(group->cred);
  delete group;
}

SessionCache::Group* SessionCache::SameLiveGroupLocked(const Node* node,
                                                       std::string_view credential_id,
                                                       int64_t now) const {
  if (node == nullptr) return nullptr;
  Group* const group = node->group;
  return now < group->expires_at && group->cred->id == credential_id ? group : nullptr;
}

void SessionCache::RefreshLocked(Group* group, int64_t now) {
  group->refreshed_at = now;
  group->expires_at = AddSaturating(now, ttl_nanos_.load());
  if (group != newest_) {  // newest refresh last
    UnlinkLocked(group);
    LinkNewestLocked(group);
  }
}

void SessionCache::EvictLocked() {
  // The newest group (just written) is never evicted, even if it alone exceeds the bound.
  while (index_->keys.size() > max_entries_ && oldest_ != newest_) {
    EraseGroupLocked(oldest_);
    evictions_.store(evictions_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
}

bool SessionCache::Lookup(std::string_view key, bool refresh, std::string* credential_id,
                          std::shared_ptr<const std::string>* handle) {
  if (key.empty()) return false;
  const int64_t now = UnixNanos(clock_->Now());
  std::lock_guard<std::mutex> lock(mu_);
  Node* const node = FindLocked(key);
  if (node == nullptr) return false;
  Group* const group = node->group;
  if (now >= group->expires_at) {
    EraseGroupLocked(group);
    return false;
  }
  if (refresh) RefreshLocked(group, now);
  credential_id->assign(group->cred->id);
  if (handle != nullptr)
    *handle = std::shared_ptr<const std::string>(group->head, &group->head->key);
  return true;
}

bool SessionCache::Get(std::string_view key, std::string* credential_id) {
  return Lookup(key, false, credential_id, nullptr);
}

bool SessionCache::GetAndRefresh(std::string_view key, std::string* credential_id,
                                 std::shared_ptr<const std::string>* handle) {
  return Lookup(key, true, credential_id, handle);
}

void SessionCache::Set(std::string_view key, std::string_view credential_id) {
  if (credential_id.empty()) return;
  const int64_t now = UnixNanos(clock_->Now());
  std::lock_guard<std::mutex> lock(mu_);
  BindLocked(std::span<const std::string_view>(&key, 1), credential_id, now);
}

std::shared_ptr<const std::string> SessionCache::SetAliases(std::span<const std::string_view> keys,
                                                            std::string_view credential_id) {
  if (credential_id.empty()) return nullptr;
  const int64_t now = UnixNanos(clock_->Now());
  std::lock_guard<std::mutex> lock(mu_);
  Group* const group = BindLocked(keys, credential_id, now);
  if (group == nullptr) return nullptr;
  return std::shared_ptr<const std::string>(group->head, &group->head->key);
}

SessionCache::Group* SessionCache::BindLocked(std::span<const std::string_view> keys,
                                              std::string_view credential_id, int64_t now) {
  // The new group's keys in order: the given ones, then the aliases of their live groups, which
  // merge into it (all their aliases follow the rebinding, A5); at most kMaxAliases.
  struct Member {
    std::string_view key;
    Node* node;  // the key's node when it is bound already
  };
  absl::InlinedVector<Member, 4> members;
  const auto listed = [&](std::string_view key) {
    return std::any_of(members.begin(), members.end(),
                       [&](const Member& m) { return m.key == key; });
  };
  for (std::string_view key : keys) {
    if (key.empty() || members.size() == kMaxAliases || listed(key)) continue;
    members.push_back({key, FindLocked(key)});
  }
  if (members.empty()) return nullptr;
  if (Group* const same = SameLiveGroupLocked(members.front().node, credential_id, now);
      same != nullptr &&
      std::all_of(members.begin() + 1, members.end(),
                  [&](const Member& m) { return m.node != nullptr && m.node->group == same; })) {
    // Every given key is in one live group bound to this credential already: the result is that
    // group with the given keys first, so it is refreshed and reordered in place.
    RefreshLocked(same, now);
    const Node* at = same->head.get();
    bool in_order = true;
    for (const Member& m : members) {
      if (at != m.node) {
        in_order = false;
        break;
      }
      at = at->next.get();
    }
    if (in_order) return same;
    std::array<std::shared_ptr<Node>, kMaxAliases> nodes;
    size_t count = 0;
    for (std::shared_ptr<Node> node = std::move(same->head); node != nullptr; ++count) {
      std::shared_ptr<Node> next = std::move(node->next);
      nodes[count] = std::move(node);
      node = std::move(next);
    }
    std::shared_ptr<Node>* tail = &same->head;
    const auto append = [&](std::shared_ptr<Node>& node) {
      *tail = std::move(node);
      tail = &(*tail)->next;
    };
    for (const Member& m : members) {
      for (size_t j = 0; j < count; ++j) {
        if (nodes[j].get() == m.node) {
          append(nodes[j]);
          break;
        }
      }
    }
    for (size_t j = 0; j < count; ++j) {
      if (nodes[j] != nullptr) append(nodes[j]);
    }
    return same;
  }
  absl::InlinedVector<Group*, 4> old_groups;
  const size_t given = members.size();
  for (size_t i = 0; i < given; ++i) {
    Group* const old = members[i].node != nullptr ? members[i].node->group : nullptr;
    if (old == nullptr ||
        std::find(old_groups.begin(), old_groups.end(), old) != old_groups.end()) {
      continue;
    }
    old_groups.push_back(old);
    if (now >= old->expires_at) continue;  // expired: its other aliases are not carried over
    for (Node* alias = old->head.get(); alias != nullptr; alias = alias->next.get()) {
      if (members.size() == kMaxAliases) break;
      if (!listed(alias->key)) members.push_back({alias->key, alias});
    }
  }
  auto* group = new Group();
  group->cred = InternLocked(credential_id);  // before the old groups release theirs
  ++group->cred->groups;
  group->refreshed_at = now;
  group->expires_at = AddSaturating(now, ttl_nanos_.load());
  // Take the old groups apart: nodes that move are kept (not reallocated), the rest go.
  absl::InlinedVector<std::shared_ptr<Node>, 4> kept(members.size());
  for (Group* old : old_groups) {
    for (std::shared_ptr<Node> node = std::move(old->head); node != nullptr;) {
      std::shared_ptr<Node> next = std::move(node->next);
      const auto m = std::find_if(members.begin(), members.end(),
                                  [&](const Member& x) { return x.node == node.get(); });
      if (m != members.end()) {
        kept[static_cast<size_t>(m - members.begin())] = std::move(node);
      } else {
        index_->keys.erase(node.get());
        node->group = nullptr;
      }
      node = std::move(next);
    }
    UnlinkLocked(old);
    ReleaseCredLocked(old->cred);
    delete old;
  }
  std::shared_ptr<Node>* tail = &group->head;
  for (size_t i = 0; i < members.size(); ++i) {
    std::shared_ptr<Node> node = std::move(kept[i]);
    if (node == nullptr) {
      node = std::make_shared<Node>();
      node->key.assign(members[i].key);
      index_->keys.insert(node.get());
    }
    node->group = group;
    *tail = std::move(node);
    tail = &(*tail)->next;
  }
  LinkNewestLocked(group);
  EvictLocked();
  return group;
}

bool SessionCache::Touch(std::string_view key, std::string_view credential_id) {
  const int64_t now = UnixNanos(clock_->Now());
  std::lock_guard<std::mutex> lock(mu_);
  Node* const node = FindLocked(key);
  if (node == nullptr || node->group->cred->id != credential_id) return false;
  if (now >= node->group->expires_at) {
    EraseGroupLocked(node->group);
    return false;
  }
  RefreshLocked(node->group, now);
  return true;
}

bool SessionCache::CompareAndDelete(std::string_view key, std::string_view credential_id) {
  std::lock_guard<std::mutex> lock(mu_);
  Node* const node = FindLocked(key);
  if (node == nullptr || node->group->cred->id != credential_id) return false;
  // Only this key goes (A7): the conversation's other aliases keep their binding.
  Group* const group = node->group;
  std::shared_ptr<Node>* link = &group->head;
  while (link->get() != node) link = &(*link)->next;
  std::shared_ptr<Node> removed = std::move(*link);
  *link = std::move(removed->next);
  index_->keys.erase(node);
  node->group = nullptr;
  if (group->head == nullptr) EraseGroupLocked(group);
  return true;
}

void SessionCache::Invalidate(std::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  if (Node* const node = FindLocked(key); node != nullptr) EraseGroupLocked(node->group);
}

void SessionCache::InvalidateCredential(std::string_view credential_id) {
  if (credential_id.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = index_->creds.find(credential_id);
  if (it == index_->creds.end()) return;
  Cred* const cred = *it;
  for (Group* g = oldest_; g != nullptr;) {
    Group* const next = g->newer;
    if (g->cred == cred) {
      const bool last = cred->groups == 1;  // erasing it frees cred
      EraseGroupLocked(g);
      if (last) break;
    }
    g = next;
  }
}

void SessionCache::set_ttl(absl::Duration ttl) {
  const int64_t now = UnixNanos(clock_->Now());
  std::lock_guard<std::mutex> lock(mu_);
  if (ttl < this->ttl()) {
    unordered_ = true;
    ttl_changed_at_ = now;
  }
  ttl_nanos_.store(absl::ToInt64Nanoseconds(ttl));
  stop_cv_.notify_all();  // the sweeper re-reads its period
}

size_t SessionCache::max_entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return max_entries_;
}

void SessionCache::set_max_entries(size_t max_entries) {
  std::lock_guard<std::mutex> lock(mu_);
  max_entries_ = max_entries;
  EvictLocked();
}

size_t SessionCache::Sweep() {
  const int64_t now = UnixNanos(clock_->Now());
  std::lock_guard<std::mutex> lock(mu_);
  const size_t before = index_->keys.size();
  if (unordered_ && (oldest_ == nullptr || oldest_->refreshed_at > ttl_changed_at_)) {
    unordered_ = false;  // every group now carries the current ttl
  }
  if (unordered_) {
    for (Group* g = oldest_; g != nullptr;) {
      Group* const next = g->newer;
      if (now >= g->expires_at) EraseGroupLocked(g);
      g = next;
    }
  } else {
    // Groups are in refresh order and share one ttl, so the expired ones lead.
    while (oldest_ != nullptr && now >= oldest_->expires_at) EraseGroupLocked(oldest_);
  }
  return before - index_->keys.size();
}

SessionAffinityConfig ResolveSessionAffinityConfig(bool session_affinity,
                                                   bool claude_code_session_affinity,
                                                   std::string_view ttl) {
  SessionAffinityConfig config;
  config.enabled = session_affinity || claude_code_session_affinity;
  const absl::StatusOr<absl::Duration> parsed = ParseGoDuration(TrimSpace(ttl));
  if (parsed.ok() && *parsed > absl::ZeroDuration() && *parsed <= kMaxSessionAffinityTtl) {
    config.ttl = *parsed;
  }
  return config;
}

size_t SessionCache::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return index_->keys.size();
}

size_t SessionCache::BoundSessions(std::string_view credential_id) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto it = index_->creds.find(credential_id);
  return it == index_->creds.end() ? 0 : (*it)->groups;
}

}  // namespace v0
}  // namespace authrouter
