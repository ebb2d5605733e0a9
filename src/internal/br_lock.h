// BrLock: a reader-biased ("big reader") shared lock for the pick path.
//
// Picks vastly outnumber changes, and a std::shared_mutex makes every reader write the same
// cache line, so two threads picking at once slow each other down. BrLock gives each live thread
// a reader counter of its own, on its own cache line, indexed by its ThreadIndex (no two live
// threads share one, however many come and go). A reader announces itself on its slot with one
// atomic increment and reads the writer flag; it leaves with a plain store, since no other
// thread writes its slot. A writer raises the flag and waits for every slot in use to drain.
// Readers that meet a raised flag step back and queue behind the writer, so writers are not
// starved. Threads numbered beyond the slots share one overflow counter (correct, slower).
//
// Not recursive: a thread holding a shared lock must not take it again, shared or exclusive.
#ifndef AUTHROUTER_INTERNAL_BR_LOCK_H_
#define AUTHROUTER_INTERNAL_BR_LOCK_H_

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#include "internal/thread_index.h"

namespace authrouter::internal {

class BrLock {
 public:
  BrLock() = default;
  BrLock(const BrLock&) = delete;
  BrLock& operator=(const BrLock&) = delete;

  void lock_shared() {
    const size_t i = ThisThreadIndex();
    if (i >= kSlots) return LockOverflow();
    std::atomic<int64_t>& readers = slots_[i].readers;
    for (;;) {
      // seq_cst pairs with the writer's flag-then-scan (a store-load handshake).
      readers.fetch_add(1, std::memory_order_seq_cst);
      if (!writer_.load(std::memory_order_seq_cst)) return;
      readers.store(readers.load(std::memory_order_relaxed) - 1, std::memory_order_release);
      // A writer is active or waiting: queue behind it.
      std::lock_guard<std::mutex> wait(writer_mu_);
    }
  }

  void unlock_shared() {
    const size_t i = ThisThreadIndex();
    if (i >= kSlots) {
      overflow_.fetch_sub(1, std::memory_order_release);
      return;
    }
    // Only this thread writes its slot: a plain store releases it.
    std::atomic<int64_t>& readers = slots_[i].readers;
    readers.store(readers.load(std::memory_order_relaxed) - 1, std::memory_order_release);
  }

  void lock() {
    writer_mu_.lock();
    writer_.store(true, std::memory_order_seq_cst);
    // A thread numbered after this read raises no slot before it sees the flag.
    const size_t used = std::min(ThreadIndexLimit(), kSlots);
    for (size_t i = 0; i < used; ++i) {
      while (slots_[i].readers.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
    }
    while (overflow_.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
  }

  void unlock() {
    writer_.store(false, std::memory_order_release);
    writer_mu_.unlock();
  }

 private:
  static constexpr size_t kSlots = 128;
  struct alignas(64) Slot {
    std::atomic<int64_t> readers{0};
  };

  void LockOverflow() {
    for (;;) {
      overflow_.fetch_add(1, std::memory_order_seq_cst);
      if (!writer_.load(std::memory_order_seq_cst)) return;
      overflow_.fetch_sub(1, std::memory_order_seq_cst);
      std::lock_guard<std::mutex> wait(writer_mu_);
    }
  }

  std::array<Slot, kSlots> slots_{};
  alignas(64) std::atomic<bool> writer_{false};
  std::mutex writer_mu_;
  alignas(64) std::atomic<int64_t> overflow_{0};
};

}  // namespace authrouter::internal

#endif  // AUTHROUTER_INTERNAL_BR_LOCK_H_
