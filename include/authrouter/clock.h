// clock.h -- the time source every time-dependent rule in authrouter reads.
//
// Cooldowns, retry times, token expiry, refresh scheduling and session TTLs all ask a `Clock`.
// Production uses `SystemClock`; tests and hosts that drive time themselves use `ManualClock`,
// so that no test ever sleeps to wait for a timer.
#ifndef AUTHROUTER_CLOCK_H_
#define AUTHROUTER_CLOCK_H_

#include <atomic>
#include <cstdint>

#include "absl/time/time.h"

namespace authrouter {
inline namespace v0 {

// Clock is the interface for reading the current time.
//
// Thread-safety: implementations must be safe to call from any thread at any time. `Now()` must
// not throw, must not block for long and must not call back into authrouter.
class Clock {
 public:
  virtual ~Clock() = default;

  // Now returns the current instant.
  virtual absl::Time Now() const = 0;

  // SleepFor waits `d` (used between retry rounds), returning early when `*cancelled` becomes
  // true. Returns false when cancelled. The default waits on the wall clock in slices of at most
  // 20 ms, checking `cancelled` between them; a test clock overrides it to move itself instead.
  virtual bool SleepFor(absl::Duration d, const std::atomic<bool>* cancelled) const;
};

// SystemClock reads the real wall clock (absl::Now()).
class SystemClock final : public Clock {
 public:
  absl::Time Now() const override;

  // Default returns a process-wide instance that lives forever.
  static SystemClock& Default();
};

// ManualClock is a clock that only moves when told to. Safe to read and move from several
// threads at once (the instant is held in an atomic).
class ManualClock final : public Clock {
 public:
  // ManualClock starts at `start`. Default: 2026-04-17T00:00:00Z, a fixed, readable instant.
  explicit ManualClock(absl::Time start = absl::FromUnixSeconds(1776384000));

  absl::Time Now() const override;

  // Set moves the clock to `t` (which may be earlier than the current instant).
  void Set(absl::Time t);

  // Advance moves the clock forward by `d` (backward if `d` is negative) and returns the new
  // instant.
  absl::Time Advance(absl::Duration d);

  // SleepFor does not wait: it advances the clock by `d` (unless already cancelled), so code
  // that waits between retries runs instantly and deterministically in tests.
  bool SleepFor(absl::Duration d, const std::atomic<bool>* cancelled) const override;

 private:
  mutable std::atomic<int64_t> unix_nanos_;
};

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_CLOCK_H_
