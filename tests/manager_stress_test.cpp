// Concurrency: picks, model registrations, updates, disables and removals from several threads.
// Bounded by iteration counts, not time; meant to run under ThreadSanitizer too.
#include <catch2/catch.hpp>

#include <algorithm>
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

TEST_CASE("Four pickers racing removes and updates never get a credential removed before the pick",
          "[manager][stress]") {
  ManagerFixture f;
  constexpr int kStable = 4, kChurn = 4, kPickers = 4, kPicks = 5000, kRounds = 400;
  for (int i = 0; i < kStable; ++i) f.Add({.id = "stable-" + std::to_string(i)});
  for (int i = 0; i < kChurn; ++i) f.Add({.id = "churn-" + std::to_string(i)});
  // gen[k] is even while churn-k is registered (or being re-added) and odd from the moment its
  // Remove has returned until its re-add begins.
  std::atomic<uint64_t> gen[kChurn] = {};
  std::atomic<int> failures{0}, removed_picked{0}, wrong_content{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kPickers; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPicks; ++i) {
        uint64_t before[kChurn];
        for (int k = 0; k < kChurn; ++k) before[k] = gen[k].load();
        auto r = f.manager->Pick("claude", "m");
        if (!r.ok()) {
          failures.fetch_add(1);
          continue;
        }
        const std::string& id = r->credential->id;
        if (id.rfind("churn-", 0) == 0) {
          const int k = id.back() - '0';
          // Removed before the pick began, and no re-add had begun when the pick returned.
          if (before[k] % 2 == 1 && gen[k].load() == before[k]) removed_picked.fetch_add(1);
        }
        if (r->credential->provider != "claude") wrong_content.fetch_add(1);
        ar::Result result;
        result.credential_id = id;
        result.model = "m";
        result.success = (i + t) % 5 != 0;
        result.http_status = result.success ? 200 : 500;
        (void)f.manager->MarkResult(result);
      }
    });
  }
  threads.emplace_back([&] {  // removes and re-adds the churn credentials
    for (int i = 0; i < kRounds; ++i) {
      const int k = i % kChurn;
      const std::string id = "churn-" + std::to_string(k);
      if ((i / kChurn) % 2 == 0) {
        (void)f.manager->Remove(id);
        gen[k].fetch_add(1);  // odd: the removal has completed
      } else {
        gen[k].fetch_add(1);  // even: the re-add begins
        (void)f.manager->Register(f.Make({.id = id}));
        f.manager->RegisterModels(id, {"m"});
      }
    }
  });
  threads.emplace_back([&] {  // updates the stable credentials and lets cooldowns expire
    for (int i = 0; i < kRounds; ++i) {
      ar::Credential c = f.Make({.id = "stable-" + std::to_string(i % kStable)});
      c.label = "update " + std::to_string(i);
      (void)f.manager->Update(std::move(c));
      f.clock.Advance(absl::Seconds(20));
    }
  });
  for (auto& t : threads) t.join();
  CHECK(removed_picked.load() == 0);
  CHECK(wrong_content.load() == 0);
  // A 500 cools a credential for one model at most briefly, and the clock keeps moving, but
  // all of them can be cooling at once: failures are allowed, a wrong pick is not.
  CHECK(failures.load() < kPickers * kPicks);
  for (int i = 0; i < kStable; ++i) CHECK(f.manager->Get("stable-" + std::to_string(i)) != nullptr);
}

TEST_CASE("A picked credential stays whole while the caller holds it after another thread removes it",
          "[manager][stress]") {
  ManagerFixture f;
  ar::Credential c = f.Make({.id = "held"});
  c.label = "a label longer than any small-string buffer, so that it lives on the heap";
  c.attributes["region"] = "eu-west-1 and a value long enough to be allocated separately";
  f.AddCredential(std::move(c));
  f.Add({.id = "other"});
  absl::StatusOr<ar::PickResult> held;
  for (int i = 0; i < 2 && (!held.ok() || held->credential->id != "held"); ++i) {
    held = f.manager->Pick("claude", "m");
  }
  REQUIRE(held.ok());
  REQUIRE(held->credential->id == "held");
  std::thread remover([&] {
    (void)f.manager->Remove("held");
    // Churn the pool so that the removed snapshot's memory would be reused if it had been freed.
    for (int i = 0; i < 50; ++i) {
      (void)f.manager->Register(f.Make({.id = "filler-" + std::to_string(i)}));
    }
  });
  remover.join();
  CHECK(f.manager->Get("held") == nullptr);
  CHECK(f.PickId("claude") != "held");
  // The handle the pick returned is the caller's until it lets go (under ASan a freed snapshot
  // would be reported here).
  CHECK(held->credential->id == "held");
  CHECK(held->credential->label ==
        "a label longer than any small-string buffer, so that it lives on the heap");
  CHECK(held->credential->attributes.at("region") ==
        "eu-west-1 and a value long enough to be allocated separately");
  const std::shared_ptr<const ar::Credential> kept = held->credential;
  held = absl::InternalError("released");
  CHECK(kept->id == "held");  // a copy of the handle keeps it too
}

TEST_CASE("Round-robin across threads gives every credential its share within the stated bound",
          "[manager][stress]") {
  ManagerFixture f;
  constexpr int kCredentials = 10, kThreads = 4, kPicks = 20000;
  // README, "Round-robin across threads": with T threads picking from one tier and no edits, each
  // credential's count is within T * 63 + 1 of its exact share (a thread's unfinished batch is at
  // most 63 positions).
  constexpr int kBound = kThreads * 63 + 1;
  for (int i = 0; i < kCredentials; ++i) f.Add({.id = "c" + std::to_string(i)});
  std::vector<std::vector<int>> counts(kThreads, std::vector<int>(kCredentials, 0));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPicks; ++i) {
        auto r = f.manager->Pick("claude", "m");
        if (!r.ok()) {
          failures.fetch_add(1);
          continue;
        }
        ++counts[t][std::stoi(r->credential->id.substr(1))];
      }
    });
  }
  for (auto& t : threads) t.join();
  REQUIRE(failures.load() == 0);
  constexpr int kShare = kThreads * kPicks / kCredentials;
  for (int c = 0; c < kCredentials; ++c) {
    int total = 0;
    for (int t = 0; t < kThreads; ++t) total += counts[t][c];
    INFO("credential c" << c << " got " << total << " picks, share " << kShare);
    CHECK(total >= kShare - kBound);
    CHECK(total <= kShare + kBound);
  }
  // One thread alone afterwards: after at most a few batches it is back to claiming one position
  // at a time, so it sees exact round-robin order.
  std::vector<std::string> seen = f.PickIds("claude", 200);
  std::vector<std::string> tail(seen.end() - kCredentials * 2, seen.end());
  for (size_t i = kCredentials; i < tail.size(); ++i) CHECK(tail[i] == tail[i - kCredentials]);
  std::sort(tail.begin(), tail.begin() + kCredentials);
  CHECK(std::unique(tail.begin(), tail.begin() + kCredentials) == tail.begin() + kCredentials);
}

// Results publish snapshots whose storage is reused once nobody holds them (the Manager's
// snapshot pool): a snapshot someone holds never changes, whichever thread lets go last.
TEST_CASE("Snapshots held by pickers never change while results on the same credential recycle storage",
          "[manager][stress]") {
  ManagerFixture f;
  ar::Credential c = f.Make({.id = "hot"});
  c.label = "a label longer than any small-string buffer, so that it lives on the heap";
  f.AddCredential(std::move(c));
  constexpr int kPickers = 3;
  constexpr int kResults = 4000;
  std::atomic<bool> done{false};
  std::atomic<int> changed_under_holder{0};
  std::atomic<int> picks{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kPickers; ++t) {
    threads.emplace_back([&] {
      while (!done.load(std::memory_order_acquire)) {
        auto r = f.manager->Pick("claude", "m");
        if (!r.ok()) continue;  // cooling down right now
        picks.fetch_add(1, std::memory_order_relaxed);
        // Copy what the snapshot says, let the writer go on for a while, and compare.
        const ar::Credential seen = *r->credential;
        for (int spin = 0; spin < 50; ++spin) std::this_thread::yield();
        if (!(*r->credential == seen)) changed_under_holder.fetch_add(1);
      }
    });
  }
  threads.emplace_back([&] {
    ar::Result failure;
    failure.credential_id = "hot";
    failure.model = "m";
    failure.http_status = 429;
    failure.error_message = "rate limited by the upstream for a while, retry after the period";
    failure.retry_after = absl::Seconds(30);
    ar::Result success;
    success.credential_id = "hot";
    success.model = "m";
    success.success = true;
    for (int i = 0; i < kResults; ++i) {
      (void)f.manager->MarkResult(i % 2 == 0 ? failure : success);
    }
    done.store(true, std::memory_order_release);
  });
  for (std::thread& t : threads) t.join();
  CHECK(changed_under_holder.load() == 0);
  CHECK(picks.load() > 0);
  // The last result was a success: the credential is available and whole.
  auto last = f.manager->Get("hot");
  REQUIRE(last != nullptr);
  CHECK(last->label == "a label longer than any small-string buffer, so that it lives on the heap");
  CHECK(f.PickId("claude") == "hot");
}

TEST_CASE("A weak_ptr to a replaced snapshot expires instead of seeing a later state",
          "[manager][stress]") {
  ManagerFixture f;
  f.Add({.id = "w"});
  std::weak_ptr<const ar::Credential> weak;
  ar::Credential before;
  {
    auto r = f.manager->Pick("claude", "m");
    REQUIRE(r.ok());
    weak = r->credential;
    before = *r->credential;
  }
  ar::Result failure;
  failure.credential_id = "w";
  failure.model = "m";
  failure.http_status = 429;
  ar::Result success = failure;
  success.http_status = 0;
  success.success = true;
  // Failure, success, failure: the first snapshot's storage is reused by the third publish
  // when the pool recycles it; the weak_ptr must not reach it.
  for (const ar::Result* r : {&failure, &success, &failure, &success}) {
    REQUIRE(f.manager->MarkResult(*r).ok());
    if (auto locked = weak.lock()) CHECK(*locked == before);
  }
  CHECK(weak.expired());
}
