#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "authrouter/clock.h"
#include "support/time_helpers.h"

using authrouter::testing::Utc;
namespace ar = authrouter;

TEST_CASE("The manual clock moves only when told", "[clock]") {
  ar::ManualClock clock;
  CHECK(clock.Now() == Utc(2026, 4, 17));
  CHECK(clock.Now() == clock.Now());
  CHECK(clock.Advance(absl::Seconds(90)) == Utc(2026, 4, 17, 0, 1, 30));
  CHECK(clock.Now() == Utc(2026, 4, 17, 0, 1, 30));
  CHECK(clock.Advance(-absl::Minutes(2)) == Utc(2026, 4, 16, 23, 59, 30));
  clock.Set(Utc(2030, 1, 1));
  CHECK(clock.Now() == Utc(2030, 1, 1));
  const ar::Clock& as_interface = clock;
  CHECK(as_interface.Now() == Utc(2030, 1, 1));
}

TEST_CASE("The manual clock may be moved from several threads at once", "[clock]") {
  ar::ManualClock clock(Utc(2026, 1, 1));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&clock] {
      for (int i = 0; i < 1000; ++i) clock.Advance(absl::Milliseconds(1));
    });
  }
  for (auto& t : threads) t.join();
  CHECK(clock.Now() == Utc(2026, 1, 1) + absl::Seconds(4));
}

TEST_CASE("The system clock reads the wall clock", "[clock]") {
  const absl::Time before = absl::Now();
  const absl::Time now = ar::SystemClock::Default().Now();
  const absl::Time after = absl::Now();
  CHECK(now >= before);
  CHECK(now <= after);
  CHECK(&ar::SystemClock::Default() == &ar::SystemClock::Default());
}
