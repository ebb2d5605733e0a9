#include "routing/lease_slots.h"

#include <algorithm>

namespace authrouter::internal {

LeaseSlots::LeaseSlots(uint32_t limit)
    : capacity_(std::max<uint32_t>(limit, 1)),
      limit_(limit),
      slots_(std::make_unique<std::atomic<uint64_t>[]>(capacity_)) {
  for (uint32_t i = 0; i < capacity_; ++i) slots_[i].store(0, std::memory_order_relaxed);
}

uint32_t LeaseSlots::InFlight(int64_t now_ms) const {
  uint32_t n = 0;
  for (uint32_t i = 0; i < capacity_; ++i) {
    n += HeldAt(slots_[i].load(std::memory_order_acquire), now_ms) ? 1 : 0;
  }
  return n;
}

bool LeaseSlots::HasRoom(int64_t now_ms) const {
  const uint32_t limit = this->limit();
  if (limit == 0) return false;
  if (limit >= capacity_) {
    for (uint32_t i = 0; i < capacity_; ++i) {
      if (!HeldAt(slots_[i].load(std::memory_order_acquire), now_ms)) return true;
    }
    return false;
  }
  return InFlight(now_ms) < limit;
}

bool LeaseSlots::Acquire(int64_t now_ms, int64_t expires_ms, uint32_t* slot, uint64_t* token) {
  const uint32_t limit = std::min(this->limit(), capacity_);
  if (limit == 0) return false;
  // A lowered limit (below the capacity) also counts the places held above it.
  if (limit < capacity_ && InFlight(now_ms) >= limit) return false;
  for (uint32_t i = 0; i < limit; ++i) {
    uint64_t word = slots_[i].load(std::memory_order_acquire);
    while (!HeldAt(word, now_ms)) {
      const uint64_t next = (static_cast<uint64_t>(std::max<int64_t>(expires_ms, now_ms + 1))
                             << kGenerationBits) |
                            ((word + 1) & kGenerationMask);
      if (slots_[i].compare_exchange_weak(word, next, std::memory_order_acq_rel,
                                          std::memory_order_acquire)) {
        *slot = i;
        *token = next;
        return true;
      }
    }
  }
  return false;
}

void LeaseSlots::Release(uint32_t slot, uint64_t token) {
  if (slot >= capacity_) return;
  uint64_t expected = token;
  slots_[slot].compare_exchange_strong(expected, token & kGenerationMask, std::memory_order_acq_rel,
                                       std::memory_order_relaxed);
}

int64_t LeaseMillis(absl::Time t) {
  const int64_t ms = absl::ToUnixMillis(t);
  return std::clamp<int64_t>(ms, 1, (int64_t{1} << (64 - 22 - 1)) - 1);
}

}  // namespace authrouter::internal

namespace authrouter {
inline namespace v0 {

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    Release();
    credential_ = std::move(other.credential_);
    model_ = std::move(other.model_);
    other.credential_ = {};
    other.model_ = {};
  }
  return *this;
}

void Lease::Release() {
  if (model_.slots) {
    model_.slots->Release(model_.slot, model_.token);
    model_ = {};
  }
  if (credential_.slots) {
    credential_.slots->Release(credential_.slot, credential_.token);
    credential_ = {};
  }
}

}  // namespace v0
}  // namespace authrouter
