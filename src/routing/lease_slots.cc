#include "routing/lease_slots.h"

#include <algorithm>

namespace authrouter::internal {

LeaseSlots::LeaseSlots(uint32_t limit, std::shared_ptr<LeasedCredential> owner)
    : capacity_(std::max<uint32_t>(limit, 1)),
      limit_(limit),
      slots_(std::make_unique<std::atomic<uint64_t>[]>(capacity_)),
      owner_(std::move(owner)) {
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
  // A lowered limit (below the capacity) also counts the places held above it: the count and
  // the take happen under a lock, so that concurrent picks cannot all pass the count. (Releases
  // need none; the common case, limit == capacity, is the compare-and-swap alone.)
  std::unique_lock<std::mutex> lowered(mu_, std::defer_lock);
  if (limit < capacity_) {
    lowered.lock();
    if (InFlight(now_ms) >= limit) return false;
  }
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
  // The slot word keeps 42 bits of expiry (until the year 2109); one below the top, so that an
  // expiry after `now` always fits.
  return std::clamp<int64_t>(ms, 1, (int64_t{1} << (64 - 22)) - 2);
}

namespace {

// The calling thread's free LeaseStates. The list's head and length are trivially destructible,
// so a lease released while the thread is ending (after the owner below is gone) can tell and
// frees its state instead.
constexpr size_t kMaxFreeStates = 256;
thread_local LeaseState* t_free = nullptr;
thread_local size_t t_free_count = 0;
thread_local bool t_free_gone = false;
struct FreeStates {
  ~FreeStates() {
    t_free_gone = true;
    while (t_free != nullptr) {
      LeaseState* s = t_free;
      t_free = s->next;
      delete s;
    }
    t_free_count = 0;
  }
};
thread_local FreeStates t_free_owner;

LeaseState* NewState() {
  if (t_free != nullptr) {
    LeaseState* s = t_free;
    t_free = s->next;
    --t_free_count;
    return s;
  }
  if (!t_free_gone) (void)&t_free_owner;  // registers the list's destructor for this thread
  return new LeaseState();
}

void FreeState(LeaseState* s) {
  s->fleet.reset();
  s->credential.reset();
  s->model.reset();
  if (t_free_gone || t_free_count >= kMaxFreeStates) {
    delete s;
    return;
  }
  (void)&t_free_owner;  // a thread that only releases frees its list at its end too
  s->next = t_free;
  t_free = s;
  ++t_free_count;
}

}  // namespace

void LeaseAccess::Hold(Lease& lease, const std::shared_ptr<LeaseSlots>& credential,
                       uint32_t credential_slot, uint64_t credential_token,
                       const std::shared_ptr<LeaseSlots>& model, uint32_t model_slot,
                       uint64_t model_token) {
  lease.Release();
  LeaseState* s = NewState();
  s->credential = credential;
  s->credential_slot = credential_slot;
  s->credential_token = credential_token;
  s->model = model;
  s->model_slot = model_slot;
  s->model_token = model_token;
  s->next = nullptr;
  lease.state_ = s;
}

const LeasedCredential* LeaseAccess::Owner(const Lease& lease) {
  return lease.state_ == nullptr ? nullptr : &lease.state_->owner();
}

void LeaseAccess::Limits(const Lease& lease, uint32_t* credential, uint32_t* model) {
  const LeaseState* s = lease.state_;
  *credential = s != nullptr && s->credential ? s->credential->limit() : 0;
  *model = s != nullptr && s->model ? s->model->limit() : 0;
}

void LeaseAccess::AddFleet(Lease& lease, std::unique_ptr<FleetHold> hold) {
  if (lease.state_ != nullptr) lease.state_->fleet = std::move(hold);
}

}  // namespace authrouter::internal

namespace authrouter {
inline namespace v0 {

void Lease::ReleaseHeld() {
  internal::LeaseState* s = state_;
  state_ = nullptr;
  if (s->model) s->model->Release(s->model_slot, s->model_token);
  if (s->credential) s->credential->Release(s->credential_slot, s->credential_token);
  if (s->fleet) {
    try {
      s->fleet->Release();
    } catch (...) {  // a host's shared state threw: the local places are back either way
    }
  }
  internal::FreeState(s);
}

}  // namespace v0
}  // namespace authrouter
