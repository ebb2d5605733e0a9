// SnapshotPool: the objects behind the snapshots that result reports publish, reused.
//
// A result that changes a credential (a failure starting a cooldown, the success that ends it)
// publishes a new snapshot: the published one is immutable, because picks hand it out. Copying a
// credential allocates for each of its strings and map entries, so these snapshots come from
// this pool instead. Each one is owned by a shared_ptr whose deleter gives the object back to
// the pool once its last holder (the Manager, a pick in flight, a queued event, a host) lets go;
// the pool keeps it as the spare of its credential ID, and the next change to that credential
// assigns the current state into the spare, reusing its strings' and map nodes' storage. A spare
// is reachable from no shared_ptr and no weak_ptr: a weak_ptr to a published snapshot sees it
// expire as usual, never a later state.
//
// Thread-safe: the deleter runs on whichever thread drops the last reference. The pool keeps
// spares for at most kMaxSpares credentials (a slot is made by the first Copy of an ID), and none
// for a credential that was removed (Forget): such objects are deleted when they come back.
#ifndef AUTHROUTER_MANAGER_SNAPSHOT_POOL_H_
#define AUTHROUTER_MANAGER_SNAPSHOT_POOL_H_

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "authrouter/credential.h"
#include "internal/hash.h"

namespace authrouter::internal {

class SnapshotPool : public std::enable_shared_from_this<SnapshotPool> {
 public:
  static constexpr size_t kMaxSpares = 4096;

  static std::shared_ptr<SnapshotPool> Create() { return std::make_shared<SnapshotPool>(); }

  // Copy returns a private copy of `current` to change and then Publish or Discard: the spare
  // of current's ID when there is one, else a new object.
  std::unique_ptr<Credential> Copy(const Credential& current);

  // Publish makes `next` a snapshot that comes back to this pool when its last holder lets go.
  // One allocation: the shared_ptr's control block.
  std::shared_ptr<const Credential> Publish(std::unique_ptr<Credential> next);

  // Discard takes back a copy that is not published (the change turned out to be none).
  void Discard(std::unique_ptr<Credential> unused) { Return(unused.release()); }

  // Forget drops the spare and the slot of `id` (a removed credential), so that its state does
  // not linger: a snapshot of it that comes back later is deleted.
  void Forget(std::string_view id);

  // spares reports how many spares the pool holds (tests).
  size_t spares() const;

 private:
  struct ReturnToPool {
    std::shared_ptr<SnapshotPool> pool;
    void operator()(const Credential* c) const;
  };
  void Return(Credential* c);

  struct IdHash {
    using is_transparent = void;
    size_t operator()(std::string_view id) const { return HashBytes(id); }
  };
  struct IdEq {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const { return a == b; }
  };

  mutable std::mutex mu_;
  // Keyed by credential ID. A taken spare leaves its slot (nullptr), which the snapshot fills
  // when it comes back, without copying the key again.
  absl::flat_hash_map<std::string, std::unique_ptr<Credential>, IdHash, IdEq> spares_;  // guarded by mu_
};

// AssignReusing makes `dst` equal to `src`, reusing dst's storage: strings keep their capacity
// and a map with the same keys has its values assigned in place (a map's own assignment would
// rebuild every entry and its key).
void AssignReusing(Credential& dst, const Credential& src);

}  // namespace authrouter::internal

#endif  // AUTHROUTER_MANAGER_SNAPSHOT_POOL_H_
