#include "authrouter/session_cache.h"

#include <pthread.h>

#include <algorithm>

#include <vector>

#include "authrouter/values.h"

namespace authrouter {
inline namespace v0 {

struct SessionCache::Group {
  std::string credential_id;
  absl::Time refreshed_at;
  absl::Time expires_at;
  std::vector<std::string> keys;  // the aliases that point here
  std::shared_ptr<const std::string> handle;  // the first key, handed to callers
};

absl::StatusOr<std::unique_ptr<SessionCache>> SessionCache::Create(Options options) {
  if (options.ttl <= absl::ZeroDuration() || options.ttl > kMaxSessionAffinityTtl) {
    return absl::InvalidArgumentError("session cache ttl must be greater than 0 and at most 30 days");
  }
  if (options.max_entries == 0) {
    return absl::InvalidArgumentError("session cache max_entries must be greater than 0");
  }
  return std::unique_ptr<SessionCache>(new SessionCache(options));
}

SessionCache::SessionCache(const Options& options)
    : ttl_nanos_(absl::ToInt64Nanoseconds(options.ttl)),
      max_entries_(options.max_entries),
      clock_(options.clock != nullptr ? options.clock : &SystemClock::Default()) {
  if (options.sweeper) {
    sweeper_ = std::thread([this] { SweeperLoop(); });
    pthread_setname_np(sweeper_.native_handle(), "ar-session-sweep");
  }
}

SessionCache::~SessionCache() { Stop(); }

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

void SessionCache::EraseGroupLocked(GroupList::iterator group) {
  for (const std::string& key : group->keys) {
    auto it = keys_.find(key);
    if (it != keys_.end() && it->second == group) keys_.erase(it);
  }
  groups_.erase(group);
}

void SessionCache::RefreshLocked(GroupList::iterator group, absl::Time now) {
  group->refreshed_at = now;
  group->expires_at = now + ttl();
  groups_.splice(groups_.end(), groups_, group);  // newest refresh last
}

void SessionCache::EvictLocked() {
  // The newest group (just written) is never evicted, even if it alone exceeds the bound.
  while (keys_.size() > max_entries_ && groups_.size() > 1) EraseGroupLocked(groups_.begin());
}

bool SessionCache::Lookup(std::string_view key, bool refresh, std::string* credential_id,
                          std::shared_ptr<const std::string>* handle) {
  if (key.empty()) return false;
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(key);
  if (it == keys_.end()) return false;
  const GroupList::iterator group = it->second;
  if (now >= group->expires_at) {
    EraseGroupLocked(group);
    return false;
  }
  if (refresh) RefreshLocked(group, now);
  credential_id->assign(group->credential_id);
  if (handle != nullptr) *handle = group->handle;
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
  SetAliases(std::span<const std::string_view>(&key, 1), credential_id);
}

std::shared_ptr<const std::string> SessionCache::SetAliases(
    std::span<const std::string_view> keys, std::string_view credential_id) {
  if (credential_id.empty()) return nullptr;
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  Group group;
  group.credential_id.assign(credential_id);
  group.refreshed_at = now;
  group.expires_at = now + ttl();
  for (std::string_view key : keys) {
    if (key.empty() || group.keys.size() == kMaxAliases) continue;
    if (std::find(group.keys.begin(), group.keys.end(), key) != group.keys.end()) continue;
    group.keys.emplace_back(key);
  }
  if (group.keys.empty()) return nullptr;
  group.handle = std::make_shared<const std::string>(group.keys.front());
  // The keys' live groups merge into the new one: all their aliases follow the rebinding (A5).
  for (size_t i = 0; i < group.keys.size(); ++i) {
    auto it = keys_.find(group.keys[i]);
    if (it == keys_.end()) continue;
    const GroupList::iterator old = it->second;
    if (now < old->expires_at) {
      for (const std::string& alias : old->keys) {
        if (group.keys.size() == kMaxAliases) break;
        if (std::find(group.keys.begin(), group.keys.end(), alias) == group.keys.end()) {
          group.keys.push_back(alias);
        }
      }
    }
    EraseGroupLocked(old);
  }
  groups_.push_back(std::move(group));
  const GroupList::iterator added = std::prev(groups_.end());
  for (const std::string& key : added->keys) keys_.insert_or_assign(key, added);
  std::shared_ptr<const std::string> handle = added->handle;
  EvictLocked();
  return handle;
}

bool SessionCache::Touch(std::string_view key, std::string_view credential_id) {
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(key);
  if (it == keys_.end() || it->second->credential_id != credential_id) return false;
  if (now >= it->second->expires_at) {
    EraseGroupLocked(it->second);
    return false;
  }
  RefreshLocked(it->second, now);
  return true;
}

bool SessionCache::CompareAndDelete(std::string_view key, std::string_view credential_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(key);
  if (it == keys_.end() || it->second->credential_id != credential_id) return false;
  // Only this key goes (A7): the conversation's other aliases keep their binding.
  const GroupList::iterator group = it->second;
  keys_.erase(it);
  std::erase(group->keys, key);
  if (group->keys.empty()) groups_.erase(group);
  return true;
}

void SessionCache::Invalidate(std::string_view key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = keys_.find(key);
  if (it != keys_.end()) EraseGroupLocked(it->second);
}

void SessionCache::InvalidateCredential(std::string_view credential_id) {
  if (credential_id.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto g = groups_.begin(); g != groups_.end();) {
    auto next = std::next(g);
    if (g->credential_id == credential_id) EraseGroupLocked(g);
    g = next;
  }
}

void SessionCache::set_ttl(absl::Duration ttl) {
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  if (ttl < this->ttl()) {
    unordered_ = true;
    ttl_changed_at_ = now;
  }
  ttl_nanos_.store(absl::ToInt64Nanoseconds(ttl));
  stop_cv_.notify_all();  // the sweeper re-reads its period
}

size_t SessionCache::Sweep() {
  const absl::Time now = clock_->Now();
  std::lock_guard<std::mutex> lock(mu_);
  const size_t before = keys_.size();
  if (unordered_ && (groups_.empty() || groups_.front().refreshed_at > ttl_changed_at_)) {
    unordered_ = false;  // every group now carries the current ttl
  }
  if (unordered_) {
    for (auto g = groups_.begin(); g != groups_.end();) {
      auto next = std::next(g);
      if (now >= g->expires_at) EraseGroupLocked(g);
      g = next;
    }
  } else {
    // Groups are in refresh order and share one ttl, so the expired ones lead.
    while (!groups_.empty() && now >= groups_.front().expires_at) {
      EraseGroupLocked(groups_.begin());
    }
  }
  return before - keys_.size();
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
  return keys_.size();
}

}  // namespace v0
}  // namespace authrouter
