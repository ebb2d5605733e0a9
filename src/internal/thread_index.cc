#include "internal/thread_index.h"

#include <atomic>
#include <mutex>
#include <vector>

namespace authrouter::internal {
namespace {

struct Registry {
  std::mutex mu;
  std::vector<bool> used;          // guarded by mu
  std::atomic<size_t> limit{0};    // 1 + the highest number ever handed out
};

Registry& TheRegistry() {
  static Registry* registry = new Registry;  // never destroyed: threads may exit after main
  return *registry;
}

void Release(size_t index) {
  Registry& r = TheRegistry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (index < r.used.size()) r.used[index] = false;
}

// Holder gives the number back when its thread exits.
struct Holder {
  ~Holder() {
    if (index == kNoThreadIndex) return;
    Release(index);
    thread_index_detail::t_index = kNoThreadIndex;
  }
  size_t index = kNoThreadIndex;
};

thread_local Holder holder;

}  // namespace

size_t ThreadIndexLimit() { return TheRegistry().limit.load(std::memory_order_seq_cst); }

size_t thread_index_detail::Acquire() {
  Registry& r = TheRegistry();
  size_t index;
  {
    std::lock_guard<std::mutex> lock(r.mu);
    index = 0;
    while (index < r.used.size() && r.used[index]) ++index;
    if (index == r.used.size()) r.used.push_back(true);
    else r.used[index] = true;
    if (index + 1 > r.limit.load(std::memory_order_relaxed)) {
      r.limit.store(index + 1, std::memory_order_seq_cst);
    }
  }
  holder.index = index;  // first use of `holder` registers its destructor
  t_index = index;
  return index;
}

}  // namespace authrouter::internal
