#include "refresh/refresh_queue.h"

namespace authrouter::internal {

void RefreshQueue::Place(size_t slot, Entry e) {
  slot_[e.id] = slot;
  heap_[slot] = std::move(e);
}

void RefreshQueue::SiftUp(size_t slot, Entry e) {
  while (slot > 0) {
    const size_t parent = (slot - 1) / 2;
    if (!(e.at < heap_[parent].at)) break;
    ++sift_steps_;
    Place(slot, std::move(heap_[parent]));
    slot = parent;
  }
  Place(slot, std::move(e));
}

void RefreshQueue::SiftDown(size_t slot, Entry e) {
  const size_t n = heap_.size();
  for (;;) {
    size_t child = 2 * slot + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1].at < heap_[child].at) ++child;
    if (!(heap_[child].at < e.at)) break;
    ++sift_steps_;
    Place(slot, std::move(heap_[child]));
    slot = child;
  }
  Place(slot, std::move(e));
}

void RefreshQueue::Upsert(std::string_view id, absl::Time at) {
  if (id.empty()) return;
  if (auto it = slot_.find(id); it != slot_.end()) {
    const size_t slot = it->second;
    Entry e = std::move(heap_[slot]);
    const bool earlier = at < e.at;
    e.at = at;
    if (earlier) {
      SiftUp(slot, std::move(e));
    } else {
      SiftDown(slot, std::move(e));
    }
    return;
  }
  heap_.push_back(Entry{at, std::string(id)});
  Entry e = std::move(heap_.back());
  SiftUp(heap_.size() - 1, std::move(e));
}

void RefreshQueue::EraseAt(size_t slot) {
  slot_.erase(heap_[slot].id);
  Entry last = std::move(heap_.back());
  heap_.pop_back();
  if (slot == heap_.size()) return;
  // The last entry fills the hole, then moves whichever way restores the order.
  if (slot > 0 && last.at < heap_[(slot - 1) / 2].at) {
    SiftUp(slot, std::move(last));
  } else {
    SiftDown(slot, std::move(last));
  }
}

void RefreshQueue::Remove(std::string_view id) {
  if (auto it = slot_.find(id); it != slot_.end()) EraseAt(it->second);
}

std::optional<absl::Time> RefreshQueue::Top() const {
  if (heap_.empty()) return std::nullopt;
  return heap_.front().at;
}

size_t RefreshQueue::PopDue(absl::Time now, std::vector<std::string>* out) {
  size_t n = 0;
  while (!heap_.empty() && heap_.front().at <= now) {
    out->push_back(heap_.front().id);
    EraseAt(0);
    ++n;
  }
  return n;
}

std::optional<absl::Time> RefreshQueue::When(std::string_view id) const {
  auto it = slot_.find(id);
  if (it == slot_.end()) return std::nullopt;
  return heap_[it->second].at;
}

void RefreshQueue::Clear() {
  heap_.clear();
  slot_.clear();
}

}  // namespace authrouter::internal
