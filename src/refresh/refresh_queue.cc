#include "refresh/refresh_queue.h"

namespace authrouter::internal {

void RefreshQueue::Place(size_t slot, Entry e) {
  e.node->second = slot;
  heap_[slot] = e;
}

void RefreshQueue::SiftUp(size_t slot, Entry e) {
  while (slot > 0) {
    const size_t parent = (slot - 1) / 2;
    if (!(e.at < heap_[parent].at)) break;
    ++sift_steps_;
    Place(slot, heap_[parent]);
    slot = parent;
  }
  Place(slot, e);
}

void RefreshQueue::SiftDown(size_t slot, Entry e) {
  const size_t n = heap_.size();
  for (;;) {
    size_t child = 2 * slot + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1].at < heap_[child].at) ++child;
    if (!(heap_[child].at < e.at)) break;
    ++sift_steps_;
    Place(slot, heap_[child]);
    slot = child;
  }
  Place(slot, e);
}

void RefreshQueue::Upsert(std::string_view id, absl::Time at) {
  if (id.empty()) return;
  if (auto it = slot_.find(id); it != slot_.end()) {
    const size_t slot = it->second;
    Entry e = heap_[slot];
    const bool earlier = at < e.at;
    e.at = at;
    if (earlier) {
      SiftUp(slot, e);
    } else {
      SiftDown(slot, e);
    }
    return;
  }
  Node* node = &*slot_.emplace(std::string(id), heap_.size()).first;
  heap_.push_back(Entry{at, node});
  SiftUp(heap_.size() - 1, heap_.back());
}

void RefreshQueue::EraseAt(size_t slot) {
  Node* gone = heap_[slot].node;
  Entry last = heap_.back();
  heap_.pop_back();
  slot_.erase(slot_.find(gone->first));  // by iterator: the key lives in the erased node
  if (slot == heap_.size()) return;
  // The last entry fills the hole, then moves whichever way restores the order.
  if (slot > 0 && last.at < heap_[(slot - 1) / 2].at) {
    SiftUp(slot, last);
  } else {
    SiftDown(slot, last);
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
    out->push_back(heap_.front().node->first);
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
