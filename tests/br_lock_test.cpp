// The pick path's reader lock (internal/br_lock.h) and the per-thread numbers its slots are
// indexed by (internal/thread_index.h).
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <thread>
#include <vector>

#include "internal/br_lock.h"
#include "internal/thread_index.h"

namespace authrouter::internal {
namespace {

TEST_CASE("Live threads hold distinct thread numbers and exited threads give theirs back",
          "[br-lock]") {
  constexpr int kThreads = 12;
  std::mutex mu;
  std::set<size_t> seen;
  std::atomic<int> unstable{0};
  std::atomic<int> arrived{0};
  std::atomic<bool> release{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      const size_t i = ThisThreadIndex();
      if (ThisThreadIndex() != i) ++unstable;  // stable for the thread's life (Catch is not thread-safe)
      {
        std::lock_guard<std::mutex> lock(mu);
        seen.insert(i);
      }
      ++arrived;
      while (!release.load()) std::this_thread::yield();
    });
  }
  while (arrived.load() < kThreads) std::this_thread::yield();
  release = true;
  for (auto& t : threads) t.join();
  CHECK(unstable.load() == 0);
  CHECK(seen.size() == static_cast<size_t>(kThreads));  // all alive at once: all distinct
  CHECK(ThreadIndexLimit() >= static_cast<size_t>(kThreads));

  // Churn: 300 short-lived threads one after another reuse the lowest free numbers, so the
  // numbers stay as compact as the live thread count (no slot collision by arrival order).
  const size_t limit = ThreadIndexLimit();
  size_t highest = 0;
  for (int t = 0; t < 300; ++t) {
    std::thread([&] { highest = std::max(highest, ThisThreadIndex()); }).join();
  }
  CHECK(highest < limit);
  CHECK(ThreadIndexLimit() == limit);
}

// Readers check an invariant that a writer breaks only while it holds the lock exclusively.
void Hammer(int readers, int rounds) {
  BrLock lock;
  int64_t a = 0, b = 0;  // guarded by lock; a == b outside a writer
  std::atomic<bool> stop{false};
  std::atomic<int64_t> torn{0}, reads{0};
  std::atomic<int> reading{0};  // readers that have read at least once
  std::vector<std::thread> threads;
  for (int t = 0; t < readers; ++t) {
    threads.emplace_back([&] {
      bool counted = false;
      while (!stop.load(std::memory_order_relaxed)) {
        {
          std::shared_lock guard(lock);
          if (a != b) ++torn;
          ++reads;
        }
        if (!counted) {
          counted = true;
          ++reading;
        }
      }
    });
  }
  // The writer starts once every reader is reading, so that the rounds overlap the readers even
  // on a loaded machine (a sanitizer build on two cores had finished them before any read).
  while (reading.load() < readers) std::this_thread::yield();
  for (int i = 0; i < rounds; ++i) {
    std::unique_lock guard(lock);
    ++a;
    std::this_thread::yield();
    ++b;
  }
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(torn.load() == 0);
  CHECK(a == rounds);
  CHECK(b == rounds);
  CHECK(reads.load() > 0);
}

TEST_CASE("BrLock: a writer excludes every reader", "[br-lock]") { Hammer(3, 2000); }

TEST_CASE("BrLock: threads beyond the per-thread slots share the overflow and stay excluded",
          "[br-lock]") {
  Hammer(140, 300);  // more live readers than BrLock has slots
}

}  // namespace
}  // namespace authrouter::internal
