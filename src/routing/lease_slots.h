// LeaseSlots: the places of one limited credential (or credential and model), for concurrency
// leases (health.h).
//
// A fixed array of slots, one atomic word each: 0 or a bare generation when free, else the
// lease's expiry (milliseconds) and a generation. Taking a place is a compare-and-swap on a free
// or expired slot, so a lease the host never returns stops counting at its expiry with no sweeper
// and no lock; giving it back is a compare-and-swap against the exact word taken, so a late
// release of an expired lease never frees a place someone else took since.
#ifndef AUTHROUTER_ROUTING_LEASE_SLOTS_H_
#define AUTHROUTER_ROUTING_LEASE_SLOTS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "authrouter/health.h"

namespace authrouter::internal {

// LeasedCredential is the credential the places of a LeaseSlots belong to, as a held lease sees
// it after the pick: its ID, its routed provider, and whether a success result on it would
// change nothing (set by the manager whenever it publishes the credential, and cleared when the
// credential leaves routing). A success reported with its lease skips the record lookup when
// that holds (Manager::MarkResult).
struct LeasedCredential {
  LeasedCredential(std::string id_in, std::string_view provider_in)
      : id(std::move(id_in)), provider(provider_in) {}
  const std::string id;
  const std::string_view provider;  // views the scheduler's provider key (never freed)
  std::atomic<bool> success_is_noop{false};
};

class LeaseSlots {
 public:
  LeaseSlots(uint32_t limit, std::shared_ptr<LeasedCredential> owner);
  LeaseSlots(const LeaseSlots&) = delete;
  LeaseSlots& operator=(const LeaseSlots&) = delete;

  uint32_t limit() const { return limit_.load(std::memory_order_relaxed); }
  uint32_t capacity() const { return capacity_; }
  // SetLimit lowers or raises the limit within the capacity. A lowered limit counts the leases
  // held above it until they end.
  void SetLimit(uint32_t limit) { limit_.store(limit, std::memory_order_relaxed); }

  // InFlight counts the places held and not expired at `now_ms`.
  uint32_t InFlight(int64_t now_ms) const;
  // HasRoom reports whether Acquire would find a place at `now_ms` (no write).
  bool HasRoom(int64_t now_ms) const;
  // Acquire takes a place until `expires_ms`; false when every place is held.
  bool Acquire(int64_t now_ms, int64_t expires_ms, uint32_t* slot, uint64_t* token);
  // Release gives back the place `token` took, unless it expired and was taken again since.
  void Release(uint32_t slot, uint64_t token);

  // The credential these places belong to (never null).
  const LeasedCredential& owner() const { return *owner_; }

 private:
  static constexpr int kGenerationBits = 22;
  static constexpr uint64_t kGenerationMask = (uint64_t{1} << kGenerationBits) - 1;
  static int64_t ExpiryOf(uint64_t word) { return static_cast<int64_t>(word >> kGenerationBits); }
  static bool HeldAt(uint64_t word, int64_t now_ms) { return ExpiryOf(word) > now_ms; }

  const uint32_t capacity_;
  std::atomic<uint32_t> limit_;
  std::unique_ptr<std::atomic<uint64_t>[]> slots_;
  std::mutex mu_;  // takes under a lowered limit (Acquire)
  const std::shared_ptr<LeasedCredential> owner_;
};

// FleetHold is what a lease holds beyond this replica (fleet-wide places in a shared state,
// LeaseOptions::fleet kExact): given back once, when the lease is released.
class FleetHold {
 public:
  virtual ~FleetHold() = default;
  virtual void Release() = 0;
};

// LeaseState is what a held Lease holds: its places (credential and model; either may be absent).
// States come from a per-thread free list (LeaseAccess::Hold), so that leasing allocates nothing
// in steady state.
struct LeaseState {
  std::shared_ptr<LeaseSlots> credential, model;
  uint32_t credential_slot = 0, model_slot = 0;
  uint64_t credential_token = 0, model_token = 0;
  std::unique_ptr<FleetHold> fleet;  // the fleet-wide places, when taken
  LeaseState* next = nullptr;  // in the free list

  // The credential whose places these are (either place knows it).
  const LeasedCredential& owner() const { return credential ? credential->owner() : model->owner(); }
};

// LeaseAccess fills a Lease (health.h) for the scheduler.
struct LeaseAccess {
  // Hold makes `lease` hold the places given (`lease` must be empty).
  static void Hold(Lease& lease, const std::shared_ptr<LeaseSlots>& credential, uint32_t credential_slot,
                   uint64_t credential_token, const std::shared_ptr<LeaseSlots>& model, uint32_t model_slot,
                   uint64_t model_token);
  // Owner is the credential a held `lease` belongs to; nullptr when it holds nothing. Valid
  // while the lease is held.
  static const LeasedCredential* Owner(const Lease& lease);
  // Limits reports the limits of the places a held `lease` took (0 for a place it does not
  // hold: no credential or no model limit).
  static void Limits(const Lease& lease, uint32_t* credential, uint32_t* model);
  // AddFleet makes a held `lease` give `hold` back too when it is released.
  static void AddFleet(Lease& lease, std::unique_ptr<FleetHold> hold);
};

// LeaseMillis is `t` as lease time: milliseconds since the Unix epoch, at least 1.
int64_t LeaseMillis(absl::Time t);

}  // namespace authrouter::internal

#endif  // AUTHROUTER_ROUTING_LEASE_SLOTS_H_
