// Persistence (spec 04 §9, later fix C6) and hooks (spec 04 §7).
#include <catch2/catch.hpp>

#include <atomic>
#include <functional>
#include <thread>

#include "authrouter/manager.h"
#include "support/manager_fixture.h"
#include "support/memory_store.h"

using authrouter::testing::CoolingState;
using authrouter::testing::ManagerFixture;
using authrouter::testing::UpstreamOptions;
using authrouter::testing::MemoryStore;
using authrouter::testing::RecordingHooks;
using Events = std::vector<std::string>;
namespace ar = authrouter;

namespace {

// Name returns prefix + n (built piecewise: GCC 12 warns falsely on "literal" + std::string).
std::string Name(std::string_view prefix, int n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

struct Env {
  std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
  std::shared_ptr<RecordingHooks> hooks = std::make_shared<RecordingHooks>();
  ManagerFixture f{UpstreamOptions({.store = store, .hooks = hooks})};

  // A file-style credential: it has metadata, so it is persisted.
  ar::Credential File(const std::string& id) {
    auto c = f.Make({.id = id});
    c.metadata = *ar::Metadata::Parse(R"({"type":"claude","email":")" + id + R"(@example.com"})");
    return c;
  }
};

ar::Result Failure(std::string_view id, int status, std::optional<absl::Duration> ra = {}) {
  ar::Result r;
  r.credential_id = id;
  r.model = "m";
  r.http_status = status;
  r.error_message = "boom";
  r.retry_after = ra;
  return r;
}

ar::Result Success(std::string_view id) {
  ar::Result r;
  r.credential_id = id;
  r.model = "m";
  r.success = true;
  return r;
}

}  // namespace

TEST_CASE("Register and Update save once each -- persist=false saves nothing", "[persistence]") {
  Env e;
  REQUIRE(e.f.manager->Register(e.File("a")).ok());
  CHECK(e.store->saves == 1);
  REQUIRE(e.f.manager->Update(e.File("a")).ok());
  CHECK(e.store->saves == 2);
  REQUIRE(e.f.manager->Update(e.File("a"), {.persist = false}).ok());
  CHECK(e.store->saves == 2);
  REQUIRE(e.f.manager->Register(e.File("b"), {.persist = false}).ok());
  CHECK(e.store->saves == 2);
  CHECK(e.hooks->Events() ==
        Events{"registered a", "updated a", "updated a", "registered b"});
}

TEST_CASE("Runtime-only credentials and credentials without metadata are never saved",
          "[persistence]") {
  Env e;
  auto runtime = e.File("r");
  runtime.attributes["runtime_only"] = " TRUE ";
  REQUIRE(e.f.manager->Register(runtime).ok());
  REQUIRE(e.f.manager->Register(e.f.Make({.id = "config-key"})).ok());
  REQUIRE(e.f.manager->MarkResult(Failure("r", 429)).ok());
  CHECK(e.store->save_calls == 0);
  CHECK(e.hooks->Events().size() == 3);  // hooks still hear about them
}

TEST_CASE("Only results that change a credential are saved", "[persistence]") {
  Env e;
  e.f.AddCredential(e.File("a"));
  const int after_register = e.store->saves;
  REQUIRE(e.f.manager->MarkResult(Success("a")).ok());  // healthy: nothing to write
  CHECK(e.store->saves == after_register);
  REQUIRE(e.f.manager->MarkResult(Failure("a", 429, absl::Minutes(30))).ok());
  CHECK(e.store->saves == after_register + 1);
  REQUIRE(e.f.manager->MarkResult(Failure("a", 0, {})).ok());  // a recorded failure changes it
  REQUIRE(e.f.manager->MarkResult(Success("a")).ok());
  CHECK(e.store->saves == after_register + 3);
  auto events = e.hooks->Events();
  CHECK(std::count(events.begin(), events.end(), "result a 0") == 3);  // successes report 0
}

TEST_CASE("Fixed (later fix C6): a cooldown survives a restart", "[persistence]") {
  Env e;
  e.f.AddCredential(e.File("a"));
  REQUIRE(e.f.manager->MarkResult(Failure("a", 429, absl::Minutes(30))).ok());
  CHECK(e.f.PickId("claude") == "<model_cooldown>");
  // A new process: a new manager loads the same store, then the host registers models.
  // (Upstream cooldowns: with probes, the cooldown begun 10 minutes ago would open for one.)
  ManagerFixture restarted(UpstreamOptions({.store = e.store}));
  restarted.clock.Set(e.f.clock.Now() + absl::Minutes(10));
  REQUIRE(restarted.manager->Load().ok());
  restarted.manager->RegisterModels("a", {"m"});
  auto r = restarted.manager->Pick("claude", "m");
  auto err = ar::GetRoutingError(r.status());
  REQUIRE(err);
  CHECK(err->code == "model_cooldown");
  CHECK(err->retry_after == absl::Minutes(20));
  restarted.clock.Advance(absl::Minutes(20));
  CHECK(restarted.PickId("claude") == "a");
}

TEST_CASE("A failing store is reported and never corrupts memory", "[persistence]") {
  Env e;
  e.f.AddCredential(e.File("a"));
  e.store->fail_save = [](const ar::Credential&) { return true; };
  auto status = e.f.manager->MarkResult(Failure("a", 401));
  CHECK(absl::IsUnavailable(status));
  CHECK(status.message() == "disk full");
  // The in-memory change stands: the credential is suspended.
  CHECK(e.f.PickId("claude") == "<auth_unavailable>");
  auto events = e.hooks->Events();
  CHECK(std::find(events.begin(), events.end(), "store-error a disk full") != events.end());
  // A change the caller asked for is all-or-nothing: refused by the store, it never happened.
  auto registered = e.f.manager->Register(e.File("b"));
  CHECK(absl::IsUnavailable(registered.status()));
  CHECK(e.f.manager->Get("b") == nullptr);
  e.store->fail_save = nullptr;
  REQUIRE(e.f.manager->MarkResult(Success("a")).ok());
  CHECK(e.f.PickId("claude") == "a");
}

TEST_CASE("A store failing part-way loses nothing it acknowledged", "[persistence]") {
  Env e;
  int n = 0;
  e.store->fail_save = [&n](const ar::Credential&) { return ++n % 3 == 0; };
  for (int i = 0; i < 30; ++i) {
    auto c = e.File(Name("c", i % 5));
    c.label = Name("version ", i);
    (void)e.f.manager->Register(c);
  }
  // Every stored file is a complete version the store acknowledged; memory holds the latest.
  for (const auto& [id, json] : e.store->Files()) {
    auto stored = ar::CredentialFromJson(json);
    REQUIRE(stored.ok());
    auto live = e.f.manager->Get(id);
    REQUIRE(live);
    CHECK(live->label.rfind("version ", 0) == 0);
  }
  CHECK(e.f.manager->List().size() == 5);
  CHECK(e.store->saves == 20);
  CHECK(e.store->save_calls == 30);
}

TEST_CASE("Remove deletes from the store and tells the hooks", "[persistence]") {
  Env e;
  e.f.AddCredential(e.File("a"));
  REQUIRE(e.f.manager->Remove("a").ok());
  CHECK(e.store->deletes == 1);
  CHECK(e.store->Files().empty());
  CHECK(e.hooks->Events().back() == "removed a");
  e.f.AddCredential(e.File("b"));
  REQUIRE(e.f.manager->Remove("b", {.persist = false}).ok());
  CHECK(e.store->deletes == 1);
}

TEST_CASE("Load replaces the credentials, skips invalid ones and reports them", "[persistence]") {
  Env e;
  e.f.AddCredential(e.File("a"));
  e.f.AddCredential(e.File("b"));
  auto store2 = std::make_shared<MemoryStore>();
  REQUIRE(store2->Save(e.File("b")).ok());
  REQUIRE(store2->Save(e.File("c")).ok());
  auto bad = e.File("bad");
  bad.attributes["weight"] = "heavy";
  store2->extra_list.push_back(bad);
  auto hooks = std::make_shared<RecordingHooks>();
  ManagerFixture g({.store = store2, .hooks = hooks});
  REQUIRE(g.manager->Register(e.File("stale"), {.persist = false}).ok());  // memory only
  REQUIRE(g.manager->Load().ok());
  auto ids = g.manager->List();
  REQUIRE(ids.size() == 2);
  CHECK(ids[0]->id == "b");
  CHECK(ids[1]->id == "c");
  CHECK(hooks->Events().back() ==
        "store-error bad attributes[\"weight\"]: weight must be an integer");
  store2->fail_list = true;
  CHECK(absl::IsUnavailable(g.manager->Load()));
  CHECK(g.manager->List().size() == 2);  // unchanged
  ManagerFixture no_store;
  CHECK(absl::IsFailedPrecondition(no_store.manager->Load()));
}

TEST_CASE("Note fixed: the store and hooks run outside locks, in order, and may call back",
          "[persistence]") {
  Env e;
  e.f.AddCredential(e.File("a"));
  std::atomic<int> nested{0};
  e.hooks->on_event = [&](const std::string& event) {
    if (event == "updated a" && nested.fetch_add(1) == 0) {
      // Calling back into the manager from a hook neither deadlocks nor reorders.
      CHECK(e.f.manager->Get("a") != nullptr);
      CHECK(e.f.PickId("claude") == "a");
      REQUIRE(e.f.manager->SetDisabled("a", true).ok());
    }
  };
  REQUIRE(e.f.manager->Update(e.File("a")).ok());
  auto events = e.hooks->Events();
  REQUIRE(events.size() >= 3);
  CHECK(events[events.size() - 2] == "updated a");
  CHECK(events.back() == "updated a");  // the hook's own change, delivered after it
  CHECK(e.f.manager->Get("a")->disabled);
}

TEST_CASE("Concurrent changes reach the store in publication order", "[persistence]") {
  Env e;
  for (int i = 0; i < 4; ++i) e.f.AddCredential(e.File(Name("c", i)));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&e, t] {
      for (int i = 0; i < 200; ++i) {
        const std::string id = Name("c", (t + i) % 4);
        (void)e.f.manager->MarkResult(i % 2 ? Success(id) : Failure(id, 500));
      }
    });
  }
  for (auto& t : threads) t.join();
  // The store holds exactly the live state of every credential.
  for (const auto& [id, json] : e.store->Files()) {
    auto stored = ar::CredentialFromJson(json);
    REQUIRE(stored.ok());
    auto live = e.f.manager->Get(id);
    REQUIRE(live);
    ar::Credential expected = *live;
    expected.index.clear();
    expected.index_assigned = false;
    // Failure streaks are runtime state, never persisted.
    expected.failure_streak = 0;
    for (auto& [model, st] : expected.model_states) st.failure_streak = 0;
    CHECK(*stored == expected);
  }
}

// ---- regressions found in review --------------------------------------------------------------

namespace {

// ForwardingHooks calls `fn` on every update it hears.
class ForwardingHooks : public ar::Hooks {
 public:
  std::function<void(const std::string&)> fn;
  void OnUpdated(const std::shared_ptr<const ar::Credential>& c) override {
    if (fn) fn(c->id);
  }
};

}  // namespace

TEST_CASE("Hooks calling across two managers and back never deadlock", "[persistence]") {
  auto hooks_x = std::make_shared<ForwardingHooks>();
  auto hooks_y = std::make_shared<ForwardingHooks>();
  ManagerFixture x({.hooks = hooks_x});
  ManagerFixture y({.hooks = hooks_y});
  x.Add({.id = "a"});
  y.Add({.id = "b"});
  int depth = 0;
  hooks_x->fn = [&](const std::string&) {
    if (++depth > 3) return;
    (void)y.manager->SetDisabled("b", depth % 2 == 0);  // Y's hook calls back into X
  };
  hooks_y->fn = [&](const std::string&) {
    if (depth > 3) return;
    (void)x.manager->SetDisabled("a", depth % 2 == 0);
  };
  REQUIRE(x.manager->SetDisabled("a", true).ok());
  CHECK(depth >= 2);
  CHECK(x.manager->Get("a") != nullptr);
  CHECK(y.manager->Get("b") != nullptr);
}

TEST_CASE("Load waits for queued writes, so the store never goes back in time", "[persistence]") {
  Env e;
  e.f.AddCredential(e.File("a"));
  std::atomic<bool> stop{false};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) (void)e.f.manager->MarkResult(Failure("a", i % 2 ? 500 : 0));
  });
  for (int i = 0; i < 20; ++i) REQUIRE(e.f.manager->Load().ok());
  stop = true;
  writer.join();
  REQUIRE(e.f.manager->Load().ok());
  auto stored = ar::CredentialFromJson(e.store->Files().at("a"));
  REQUIRE(stored.ok());
  CHECK(stored->updated_at == e.f.manager->Get("a")->updated_at);
}
