// The Manager's refresh loop state (spec 05): schedule, dirty set, single-flight table and the
// background runner's threads.
#ifndef AUTHROUTER_MANAGER_REFRESH_STATE_H_
#define AUTHROUTER_MANAGER_REFRESH_STATE_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "authrouter/credential.h"
#include "authrouter/refresh.h"
#include "refresh/refresh_queue.h"
#include "internal/string_map.h"

namespace authrouter::internal {

// Flight is one refresher call that concurrent Refresh requests share (later fix D4).
struct Flight {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  absl::StatusOr<std::shared_ptr<const Credential>> result = absl::UnknownError("pending");
};

// Lock order: Manager::Impl::mu, then RefreshState::mu. Nothing else is taken under
// RefreshState::mu; flight_mu and jobs_mu are leaves.
struct RefreshState {
  std::atomic<bool> enabled{false};  // a refresher is configured: changes are tracked

  mutable std::mutex mu;
  std::shared_ptr<const RefreshOptions> options;  // guarded by mu (swapped whole)
  RefreshQueue queue;                             // guarded by mu
  StringSet dirty;         // guarded by mu
  std::condition_variable wake;                   // the scheduling thread waits here
  uint64_t evaluations = 0;                       // guarded by mu
  uint64_t loop_wakeups = 0;                      // guarded by mu

  std::atomic<uint64_t> started{0}, succeeded{0}, failed{0}, joined{0}, dropped{0};

  std::mutex flight_mu;
  StringMap<std::shared_ptr<Flight>> flights;  // guarded by flight_mu

  // One ProcessDue at a time (the loop thread and RunDueRefreshes callers).
  std::mutex process_mu;

  // The background runner. runner_mu serialises Start/Stop/resize.
  std::mutex runner_mu;
  std::atomic<bool> stopping{true};  // the runner's threads exit
  std::atomic<bool> cancel{false};   // RefreshContext::cancelled: true while the loop stops
  bool running = false;              // guarded by runner_mu
  std::thread scheduler_thread;
  std::vector<std::thread> workers;
  std::mutex jobs_mu;
  std::condition_variable jobs_cv;
  std::deque<std::string> jobs;  // guarded by jobs_mu
  size_t job_capacity = 64;

  // RequestStop tells the loop's threads to end (and running refreshes to cancel) and wakes
  // them; it does not wait. REQUIRES: runner_mu held; mu and jobs_mu not held by this thread.
  void RequestStop() {
    cancel.store(true);
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping.store(true);
    }
    wake.notify_all();
    {
      std::lock_guard<std::mutex> lock(jobs_mu);  // a worker between its check and its wait
    }
    jobs_cv.notify_all();
  }

  // MarkDirty queues `id` for re-evaluation. REQUIRES: mu not held by this thread.
  void MarkDirty(std::string_view id) {
    if (!enabled.load(std::memory_order_relaxed)) return;
    std::lock_guard<std::mutex> lock(mu);
    if (dirty.emplace(id).second) wake.notify_one();
  }
};

}  // namespace authrouter::internal

#endif  // AUTHROUTER_MANAGER_REFRESH_STATE_H_
