#include "manager/snapshot_pool.h"

#include <utility>

namespace authrouter::internal {
namespace {

// AssignMap assigns `src` to `dst`; with the same keys in the same order, value by value.
template <typename Map>
void AssignMap(Map& dst, const Map& src) {
  if (dst.size() == src.size()) {
    bool same_keys = true;
    auto s = src.begin();
    for (auto d = dst.begin(); s != src.end(); ++d, ++s) {
      if (d->first != s->first) {
        same_keys = false;
        break;
      }
    }
    if (same_keys) {
      s = src.begin();
      for (auto d = dst.begin(); s != src.end(); ++d, ++s) d->second = s->second;
      return;
    }
  }
  dst = src;
}

}  // namespace

void AssignReusing(Credential& dst, const Credential& src) {
#if defined(__GLIBCXX__) && defined(__x86_64__) && !defined(_GLIBCXX_DEBUG)
  // Every field of Credential is assigned below; a new field must be added there too.
  static_assert(sizeof(Credential) == 880, "Credential changed: update AssignReusing");
#endif
  dst.id = src.id;
  dst.provider = src.provider;
  dst.prefix = src.prefix;
  dst.file_name = src.file_name;
  dst.label = src.label;
  dst.status = src.status;
  dst.status_message = src.status_message;
  dst.disabled = src.disabled;
  dst.unavailable = src.unavailable;
  dst.proxy_url = src.proxy_url;
  AssignMap(dst.attributes, src.attributes);
  dst.metadata = src.metadata;
  dst.quota = src.quota;
  dst.last_error = src.last_error;
  dst.created_at = src.created_at;
  dst.updated_at = src.updated_at;
  dst.last_refreshed_at = src.last_refreshed_at;
  dst.next_refresh_after = src.next_refresh_after;
  dst.next_retry_after = src.next_retry_after;
  AssignMap(dst.model_states, src.model_states);
  dst.index = src.index;
  dst.failure_streak = src.failure_streak;
  dst.index_assigned = src.index_assigned;
}

std::unique_ptr<Credential> SnapshotPool::Copy(const Credential& current) {
  std::unique_ptr<Credential> spare;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = spares_.find(current.id);
    if (it != spares_.end()) {
      spare = std::move(it->second);
    } else if (spares_.size() < kMaxSpares) {
      spares_.try_emplace(current.id);  // the slot this copy comes back to
    }
  }
  if (spare == nullptr) return std::make_unique<Credential>(current);
  AssignReusing(*spare, current);
  return spare;
}

std::shared_ptr<const Credential> SnapshotPool::Publish(std::unique_ptr<Credential> next) {
  // Should the control block's allocation throw, the deleter gives the object back.
  return std::shared_ptr<const Credential>(next.release(), ReturnToPool{shared_from_this()});
}

void SnapshotPool::ReturnToPool::operator()(const Credential* c) const {
  // The object was created non-const (Copy), and no shared_ptr or weak_ptr reaches it any more.
  pool->Return(const_cast<Credential*>(c));
}

void SnapshotPool::Return(Credential* c) {
  std::unique_ptr<Credential> owned(c);
  std::unique_ptr<Credential> dropped;  // deleted after the lock is released
  std::lock_guard<std::mutex> lock(mu_);
  auto it = spares_.find(owned->id);
  if (it != spares_.end() && it->second == nullptr) {
    it->second = std::move(owned);
  } else {
    // No slot: the credential was removed (Forget), or the pool is full. Or a spare is there
    // already: one per credential is enough.
    dropped = std::move(owned);
  }
}

void SnapshotPool::Forget(std::string_view id) {
  std::unique_ptr<Credential> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = spares_.find(id); it != spares_.end()) {
    dropped = std::move(it->second);
    spares_.erase(it);
  }
}

size_t SnapshotPool::spares() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [id, spare] : spares_) n += spare != nullptr;
  return n;
}

}  // namespace authrouter::internal
