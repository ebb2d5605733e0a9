#include "authrouter/clock.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace authrouter {
inline namespace v0 {

bool Clock::SleepFor(absl::Duration d, const std::atomic<bool>* cancelled) const {
  const absl::Time end = absl::Now() + d;
  for (;;) {
    if (cancelled != nullptr && cancelled->load(std::memory_order_acquire)) return false;
    const absl::Duration left = end - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    absl::SleepFor(std::min(left, absl::Milliseconds(20)));
  }
}

absl::Time SystemClock::Now() const { return absl::Now(); }

SystemClock& SystemClock::Default() {
  static SystemClock* const kClock = new SystemClock();
  return *kClock;
}

ManualClock::ManualClock(absl::Time start) : unix_nanos_(absl::ToUnixNanos(start)) {}

absl::Time ManualClock::Now() const {
  return absl::FromUnixNanos(unix_nanos_.load(std::memory_order_acquire));
}

void ManualClock::Set(absl::Time t) {
  unix_nanos_.store(absl::ToUnixNanos(t), std::memory_order_release);
}

bool ManualClock::SleepFor(absl::Duration d, const std::atomic<bool>* cancelled) const {
  if (cancelled != nullptr && cancelled->load(std::memory_order_acquire)) return false;
  if (d > absl::ZeroDuration()) {
    unix_nanos_.fetch_add(absl::ToInt64Nanoseconds(d), std::memory_order_acq_rel);
  }
  return true;
}

absl::Time ManualClock::Advance(absl::Duration d) {
  const int64_t delta = absl::ToInt64Nanoseconds(d);
  return absl::FromUnixNanos(unix_nanos_.fetch_add(delta, std::memory_order_acq_rel) + delta);
}

}  // namespace v0
}  // namespace authrouter
