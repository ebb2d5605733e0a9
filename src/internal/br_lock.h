// BrLock: a reader-biased ("big reader") shared lock for the pick path.
//
// Picks vastly outnumber changes, and a std::shared_mutex makes every reader write the same
// cache line, so two threads picking at once slow each other down. BrLock gives each thread one
// of kSlots reader counters on its own cache line: a reader touches only its slot and reads the
// writer flag. A writer raises the flag and waits for every slot to drain. Readers that meet a
// raised flag step back and queue behind the writer, so writers are not starved.
//
// Not recursive: a thread holding a shared lock must not take it again, shared or exclusive.
#ifndef AUTHROUTER_INTERNAL_BR_LOCK_H_
#define AUTHROUTER_INTERNAL_BR_LOCK_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

namespace authrouter::internal {

class BrLock {
 public:
  BrLock() = default;
  BrLock(const BrLock&) = delete;
  BrLock& operator=(const BrLock&) = delete;

  void lock_shared() {
    Slot& slot = slots_[SlotIndex()];
    for (;;) {
      slot.readers.fetch_add(1, std::memory_order_seq_cst);
      if (!writer_.load(std::memory_order_seq_cst)) return;
      slot.readers.fetch_sub(1, std::memory_order_seq_cst);
      // A writer is active or waiting: queue behind it.
      std::lock_guard<std::mutex> wait(writer_mu_);
    }
  }

  void unlock_shared() { slots_[SlotIndex()].readers.fetch_sub(1, std::memory_order_release); }

  void lock() {
    writer_mu_.lock();
    writer_.store(true, std::memory_order_seq_cst);
    for (Slot& slot : slots_) {
      // seq_cst pairs with the reader's increment-then-check (a store-load handshake).
      while (slot.readers.load(std::memory_order_seq_cst) != 0) std::this_thread::yield();
    }
  }

  void unlock() {
    writer_.store(false, std::memory_order_release);
    writer_mu_.unlock();
  }

 private:
  static constexpr size_t kSlots = 32;
  struct alignas(64) Slot {
    std::atomic<int64_t> readers{0};
  };

  static size_t SlotIndex() {
    static std::atomic<size_t> next{0};
    thread_local const size_t index = next.fetch_add(1, std::memory_order_relaxed) % kSlots;
    return index;
  }

  std::array<Slot, kSlots> slots_{};
  alignas(64) std::atomic<bool> writer_{false};
  std::mutex writer_mu_;
};

}  // namespace authrouter::internal

#endif  // AUTHROUTER_INTERNAL_BR_LOCK_H_
