// SchedulerAccess: the Manager drives the engine of its public Scheduler under its own lock
// (records and routing change together), so it reaches the engine directly, past the
// Scheduler's own lock.
#ifndef AUTHROUTER_ROUTING_SCHEDULER_ACCESS_H_
#define AUTHROUTER_ROUTING_SCHEDULER_ACCESS_H_

#include "authrouter/scheduler.h"
#include "routing/scheduler.h"

namespace authrouter::internal {

class SchedulerAccess {
 public:
  // Core returns the engine of `scheduler`. REQUIRES: the caller serialises every use of it
  // (the Manager's lock), and nothing uses `scheduler`'s own methods meanwhile.
  static SchedulerCore& Core(Scheduler& scheduler);
};

}  // namespace authrouter::internal

#endif  // AUTHROUTER_ROUTING_SCHEDULER_ACCESS_H_
