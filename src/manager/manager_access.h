// ManagerAccess: what the library's own components (the watcher, the C ABI) need from a Manager
// beyond its public interface.
#ifndef AUTHROUTER_MANAGER_MANAGER_ACCESS_H_
#define AUTHROUTER_MANAGER_MANAGER_ACCESS_H_

#include <functional>

#include "authrouter/manager.h"

namespace authrouter::internal {

struct ManagerAccess {
  // Serialized runs `fn` as the Manager's only Store/Hooks caller: after every change queued
  // before it and before any later one, so that what `fn` reads from outside (a file) and
  // applies is one step against the Manager's own committed writes. Changes `fn` makes are
  // delivered to the Store and Hooks after it returns, on this thread, outside the caller's
  // locks (those taken inside `fn`). Re-entrant from the Manager's callbacks.
  static void Serialized(Manager& manager, const std::function<void()>& fn);

  // InCallback reports whether this thread must not wait for the Manager's background threads:
  // it is delivering the Manager's events (a hook or store call of it runs further up the
  // stack; other threads may be waiting for it), or it is one of its refresh loop threads.
  static bool InCallback(const Manager& manager);

  // OnLibraryThread reports whether this thread is one of the Manager's refresh loop threads or
  // its watcher's thread (marked with LibraryThread): a thread that a stop joins.
  static bool OnLibraryThread(const Manager& manager);

  // CountConfigReload counts a configuration reload that was applied or rejected
  // (authrouter_config_reloads_total).
  static void CountConfigReload(Manager& manager, bool applied);

  // LibraryThread marks the calling thread as one of `manager`'s library threads while it lives.
  class LibraryThread {
   public:
    explicit LibraryThread(const Manager* manager);
    ~LibraryThread();
    LibraryThread(const LibraryThread&) = delete;
    LibraryThread& operator=(const LibraryThread&) = delete;

   private:
    const Manager* previous_;
  };
};

}  // namespace authrouter::internal

#endif  // AUTHROUTER_MANAGER_MANAGER_ACCESS_H_
