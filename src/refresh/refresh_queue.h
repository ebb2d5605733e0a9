// RefreshQueue: the refresh loop's schedule, a binary min-heap of (next check, credential ID)
// with an index from ID to heap slot, so that each change is O(log n) (spec 05 §3).
#ifndef AUTHROUTER_REFRESH_REFRESH_QUEUE_H_
#define AUTHROUTER_REFRESH_REFRESH_QUEUE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "internal/string_map.h"

namespace authrouter::internal {

class RefreshQueue {
 public:
  RefreshQueue() = default;
  RefreshQueue(const RefreshQueue&) = delete;  // entries point into the index
  RefreshQueue& operator=(const RefreshQueue&) = delete;

  // Upsert schedules `id` at `at`, moving it when already scheduled. Empty IDs are ignored.
  void Upsert(std::string_view id, absl::Time at);
  // Remove unschedules `id` (no-op when absent).
  void Remove(std::string_view id);
  // Top returns the earliest time, or nullopt when empty.
  std::optional<absl::Time> Top() const;
  // PopDue moves every ID scheduled at or before `now` into `out` (earliest first) and returns
  // how many it moved.
  size_t PopDue(absl::Time now, std::vector<std::string>* out);
  // When returns the scheduled time of `id`, if any.
  std::optional<absl::Time> When(std::string_view id) const;

  size_t size() const { return heap_.size(); }
  void Clear();
  // sift_steps counts element moves since creation: the cost measure of the tests (O(log n) per
  // change).
  uint64_t sift_steps() const { return sift_steps_; }

 private:
  // The index owns each ID and its heap slot; heap entries point at index nodes (stable in an
  // unordered_map), so a move updates the slot without hashing.
  using Node = StringMap<size_t>::value_type;
  struct Entry {
    absl::Time at;
    Node* node;
  };
  void Place(size_t slot, Entry e);
  void SiftUp(size_t slot, Entry e);
  void SiftDown(size_t slot, Entry e);
  void EraseAt(size_t slot);

  std::vector<Entry> heap_;
  StringMap<size_t> slot_;
  uint64_t sift_steps_ = 0;
};

}  // namespace authrouter::internal

#endif  // AUTHROUTER_REFRESH_REFRESH_QUEUE_H_
