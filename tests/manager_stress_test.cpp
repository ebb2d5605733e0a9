// Concurrency: picks, model registrations, updates, disables and removals from several threads.
// Bounded by iteration counts, not time; meant to run under ThreadSanitizer too.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "authrouter/manager.h"
#include "support/manager_fixture.h"

using authrouter::testing::CoolingState;
using authrouter::testing::ManagerFixture;
namespace ar = authrouter;

TEST_CASE("Concurrent picks, registrations, updates and disables stay consistent",
          "[manager][stress]") {
  ManagerFixture f;
  // Stable credentials are never touched, so every pick must succeed.
  for (int i = 0; i < 8; ++i) f.Add({.id = "stable-" + std::to_string(i), .models = {"m", "n"}});
  // Churn credentials are updated, disabled, cooled, removed and re-added by the writers.
  for (int i = 0; i < 8; ++i) f.Add({.id = "churn-" + std::to_string(i), .models = {"m", "n"}});
  // A removed credential must never come back.
  f.Add({.id = "gone", .models = {"m", "n"}});
  REQUIRE(f.manager->Remove("gone").ok());

  constexpr int kPickers = 3;
  constexpr int kPicksPerThread = 20000;
  std::atomic<int> failures{0};
  std::atomic<int> bad_ids{0};
  std::atomic<bool> writers_done{false};

  std::vector<std::thread> threads;
  for (int t = 0; t < kPickers; ++t) {
    threads.emplace_back([&, t] {
      const std::string_view providers[] = {"claude", "gemini"};
      for (int i = 0; i < kPicksPerThread; ++i) {
        ar::PickRequest req;
        req.providers = i % 3 == 0 ? std::span<const std::string_view>(providers)
                                   : std::span<const std::string_view>(providers, 1);
        req.model = (i + t) % 2 == 0 ? "m" : "n(high)";
        auto r = f.manager->Pick(req);
        if (!r.ok()) {
          failures.fetch_add(1);
          continue;
        }
        const std::string& id = r->credential->id;
        if (id == "gone" || r->credential->disabled) bad_ids.fetch_add(1);
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 2000; ++i) {
      const std::string id = "churn-" + std::to_string(i % 8);
      switch (i % 5) {
        case 0:
          (void)f.manager->SetDisabled(id, true);
          break;
        case 1:
          (void)f.manager->SetDisabled(id, false);
          break;
        case 2: {
          auto c = f.Make({.id = id, .priority = std::to_string(i % 3)});
          c.model_states["m"] = CoolingState(f.clock.Now() + absl::Seconds(i % 4), i % 2 == 0);
          (void)f.manager->Update(c);
          break;
        }
        case 3:
          (void)f.manager->Remove(id);
          break;
        default:
          f.Add({.id = id, .provider = i % 2 ? "claude" : "gemini", .models = {"m", "n"}});
      }
    }
  });
  threads.emplace_back([&] {
    for (int i = 0; i < 2000; ++i) {
      const std::string id = "churn-" + std::to_string(i % 8);
      if (i % 2) {
        f.manager->RegisterModels(id, {"m", "n"});
      } else {
        f.manager->RegisterModels(id, {"n"});
      }
      f.clock.Advance(absl::Milliseconds(500));  // cooldowns expire and get promoted mid-run
    }
    writers_done = true;
  });
  for (auto& t : threads) t.join();
  CHECK(writers_done.load());
  CHECK(failures.load() == 0);
  CHECK(bad_ids.load() == 0);
  // The end state is consistent: every stable credential is listed and picked in turn.
  auto listed = f.manager->List();
  CHECK(std::count_if(listed.begin(), listed.end(), [](const auto& c) {
          return c->id.rfind("stable-", 0) == 0;
        }) == 8);
  CHECK(f.manager->Get("gone") == nullptr);
}
