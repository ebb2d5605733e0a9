// Refreshes, results, updates, removes and picks at once (run under ThreadSanitizer by the test
// command). Invariant: a refresh is only ever written back into the incarnation it started from.
#include <catch2/catch.hpp>

#include <atomic>
#include <random>
#include <thread>

#include "authrouter/credential_json.h"
#include "authrouter/manager.h"
#include "support/fake_refresher.h"
#include "support/manager_fixture.h"
#include "support/memory_store.h"

namespace authrouter {
namespace {

using testing::Name;
using testing::Utc;

// CheckingStore checks every save: a refreshed token names the generation of the record it is
// saved in.
class CheckingStore : public testing::MemoryStore {
 public:
  absl::Status Save(const Credential& c) override {
    const auto token = c.metadata.GetString("access_token");
    const auto gen = c.metadata.GetString("gen");
    if (token && (!gen || *token != "fresh-" + *gen)) violations.fetch_add(1);
    if (token) refreshed_saves.fetch_add(1);
    return MemoryStore::Save(c);
  }
  std::atomic<int> violations{0};
  std::atomic<int> refreshed_saves{0};
};

Credential Make(const std::string& id, int gen, absl::Time expiry) {
  Credential c;
  c.id = id;
  c.provider = "claude";
  c.status = CredentialStatus::kActive;
  // Each generation has its own refresh token, as a new login would: an update that puts an
  // older generation back (a stale copy from Get) is then a re-login, and a refresh running
  // meanwhile is dropped rather than merged into it.
  c.metadata = *Metadata::Parse(R"({"email":")" + id + R"(@x","refresh_token":"r)" +
                                std::to_string(gen) + R"(","gen":")" +
                                std::to_string(gen) + R"(","expired":")" +
                                FormatRfc3339(expiry) + "\"}");
  return c;
}

TEST_CASE("Stress: refreshes with results, updates and removes (TSan)", "[refresh][stress]") {
  ManualClock clock(Utc(2026, 4, 17));
  auto store = std::make_shared<CheckingStore>();
  auto refresher = std::make_shared<testing::FakeRefresher>();
  refresher->answer = [](const Credential& c, const RefreshContext& ctx) -> absl::StatusOr<TokenUpdate> {
    TokenUpdate u;
    u.access_token = "fresh-" + c.metadata.GetString("gen").value_or("?");
    u.expires_at = ctx.now + absl::Minutes(10);  // stays inside the lead: due again after 30 s
    return u;
  };
  ManagerOptions o;
  o.clock = &clock;
  o.store = store;
  o.refresh.refreshers["claude"] = refresher;
  o.refresh.workers = 4;
  auto manager = *Manager::Create(std::move(o));
  constexpr int kIds = 16;
  std::atomic<int> gen{0};
  for (int i = 0; i < kIds; ++i) {
    REQUIRE(manager->Register(Make(Name("c", i), gen++, clock.Now())).ok());
    manager->RegisterModels(Name("c", i), {"m"});
  }
  REQUIRE(manager->StartRefreshLoop().ok());

  constexpr int kOps = 1500;
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {  // time moves
    for (int i = 0; i < kOps; ++i) {
      clock.Advance(absl::Seconds(31));
      manager->RunDueRefreshes(clock.Now());  // by hand, alongside the loop
    }
  });
  threads.emplace_back([&] {  // results
    std::mt19937 rng(1);
    for (int i = 0; i < kOps; ++i) {
      Result r;
      const std::string id = Name("c", static_cast<int>(rng() % kIds));
      r.credential_id = id;
      r.model = "m";
      r.success = rng() % 2 == 0;
      r.http_status = r.success ? 200 : 500;
      (void)manager->MarkResult(r);
    }
  });
  threads.emplace_back([&] {  // updates keep the generation
    std::mt19937 rng(2);
    for (int i = 0; i < kOps; ++i) {
      auto c = manager->Get(Name("c", static_cast<int>(rng() % kIds)));
      if (c == nullptr) continue;
      Credential next = *c;
      next.label = std::to_string(i);
      (void)manager->Update(std::move(next));
    }
  });
  threads.emplace_back([&] {  // removes and re-creates with a new generation
    std::mt19937 rng(3);
    for (int i = 0; i < kOps / 3; ++i) {
      const std::string id = Name("c", static_cast<int>(rng() % kIds));
      (void)manager->Remove(id);
      (void)manager->Register(Make(id, gen++, clock.Now()));
    }
  });
  threads.emplace_back([&] {  // picks and manual refreshes
    std::mt19937 rng(4);
    while (!done.load()) {
      (void)manager->Pick("claude", "m");
      (void)manager->Refresh(Name("c", static_cast<int>(rng() % kIds)));
    }
  });
  for (size_t i = 0; i + 1 < threads.size(); ++i) threads[i].join();
  done = true;
  threads.back().join();
  manager->StopRefreshLoop();

  CHECK(store->violations.load() == 0);
  CHECK(store->refreshed_saves.load() > 0);
  const RefreshStats stats = manager->GetRefreshStats();
  CHECK(stats.refreshes_succeeded > 0);
  // What the store holds matches the live credentials' tokens (write order was kept).
  const auto files = store->Files();
  for (const auto& c : manager->List()) {
    REQUIRE(files.count(c->id) == 1);
    auto stored = CredentialFromJson(files.at(c->id));
    REQUIRE(stored.ok());
    CHECK(stored->metadata.GetString("access_token") == c->metadata.GetString("access_token"));
    CHECK(stored->metadata.GetString("gen") == c->metadata.GetString("gen"));
  }
  CHECK(files.size() == manager->List().size());
}

}  // namespace
}  // namespace authrouter
