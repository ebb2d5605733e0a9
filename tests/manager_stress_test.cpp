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

#include "support/memory_store.h"

TEST_CASE("Concurrent picks, results, updates, removes and loads end consistent",
          "[manager][stress]") {
  auto store = std::make_shared<authrouter::testing::MemoryStore>();
  ManagerFixture f({.store = store});
  auto file = [&](const std::string& id) {
    auto c = f.Make({.id = id});
    c.metadata = *ar::Metadata::Parse(R"({"type":"claude"})");
    return c;
  };
  for (int i = 0; i < 6; ++i) f.AddCredential(file("stable-" + std::to_string(i)));
  for (int i = 0; i < 4; ++i) f.AddCredential(file("churn-" + std::to_string(i)));
  f.AddCredential(file("gone"));
  REQUIRE(f.manager->Remove("gone").ok());

  std::atomic<int> failures{0}, bad{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5000; ++i) {
        auto r = f.manager->Pick("claude", "m");
        if (!r.ok()) {
          failures.fetch_add(1);
          continue;
        }
        if (r->credential->id == "gone") bad.fetch_add(1);
        ar::Result result;
        result.credential_id = r->credential->id;
        result.model = "m";
        // Stable credentials only ever succeed, so some credential is always available.
        const bool stable = r->credential->id.rfind("stable-", 0) == 0;
        result.success = stable || (i + t) % 3 != 0;
        result.http_status = result.success ? 200 : 503;
        (void)f.manager->MarkResult(result);
      }
    });
  }
  threads.emplace_back([&] {
    for (int i = 0; i < 300; ++i) {
      const std::string id = "churn-" + std::to_string(i % 4);
      switch (i % 4) {
        case 0:
          (void)f.manager->Remove(id);
          break;
        case 1:
          f.AddCredential(file(id));
          break;
        case 2:
          (void)f.manager->Update(file(id));
          break;
        default:
          (void)f.manager->Load();
          f.manager->RegisterModels(id, {"m"});
      }
      f.clock.Advance(absl::Seconds(20));  // transient cooldowns expire during the run
    }
  });
  for (auto& t : threads) t.join();
  CHECK(failures.load() == 0);
  CHECK(bad.load() == 0);
  // Nothing was lost: every stable credential is in memory and in the store.
  const auto files = store->Files();
  for (int i = 0; i < 6; ++i) {
    const std::string id = "stable-" + std::to_string(i);
    CHECK(f.manager->Get(id) != nullptr);
    CHECK(files.count(id) == 1);
  }
  CHECK(f.manager->Get("gone") == nullptr);
  CHECK(files.count("gone") == 0);
}
