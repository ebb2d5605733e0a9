// Nothing lost: a change the store refuses never happens, a write-back never replaces a newer
// file, the watcher never undoes an API change, callbacks may call back from every thread, and a
// refused reload applies nothing. Each test fails without its fix.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "authrouter/config.h"
#include "authrouter/file_store.h"
#include "authrouter/watcher.h"
#include "support/fake_refresher.h"
#include "support/manager_fixture.h"
#include "support/memory_store.h"
#include "support/temp_dir.h"
#include "support/time_helpers.h"

namespace authrouter {
namespace {

using testing::TempDir;

Credential FileCredential(const std::string& id, const std::string& email = "a@x") {
  Credential c;
  c.id = id;
  c.provider = "claude";
  c.status = CredentialStatus::kActive;
  c.metadata = *Metadata::Parse(R"({"type":"claude","email":")" + email + R"("})");
  return c;
}

// ---- item 5: a change the store refuses never happened ---------------------------------------

TEST_CASE("A change the store refuses leaves the Manager exactly as before", "[nothing-lost]") {
  auto store = std::make_shared<testing::MemoryStore>();
  auto hooks = std::make_shared<testing::RecordingHooks>();
  testing::ManagerFixture f({.store = store, .hooks = hooks});
  REQUIRE(f.manager->Register(FileCredential("a")).ok());
  f.manager->RegisterModels("a", {"m"});
  const std::shared_ptr<const Credential> before = f.manager->Get("a");
  store->fail_save = [](const Credential&) { return true; };

  SECTION("register") {
    auto r = f.manager->Register(FileCredential("b", "b@x"));
    CHECK(absl::IsUnavailable(r.status()));
    CHECK(f.manager->Get("b") == nullptr);
    CHECK(f.PickIds("claude", 3) == std::vector<std::string>{"a", "a", "a"});
  }
  SECTION("register over an existing credential") {
    Credential next = FileCredential("a", "other@x");
    CHECK(absl::IsUnavailable(f.manager->Register(next).status()));
    CHECK(f.manager->Get("a") == before);  // the very same snapshot
  }
  SECTION("update") {
    Credential next = *before;
    next.metadata = *Metadata::Parse(R"({"type":"claude","email":"changed@x"})");
    CHECK(absl::IsUnavailable(f.manager->Update(next).status()));
    CHECK(f.manager->Get("a") == before);
  }
  SECTION("set disabled") {
    CHECK(absl::IsUnavailable(f.manager->SetDisabled("a", true)));
    CHECK(f.manager->Get("a") == before);
    CHECK(f.PickId("claude") == "a");
  }
  SECTION("remove") {
    store->fail_delete = true;
    CHECK(absl::IsUnavailable(f.manager->Remove("a")));
    CHECK(f.manager->Get("a") == before);
    CHECK(f.PickId("claude") == "a");
  }
  // Hooks heard the store error, and no change.
  for (const std::string& e : hooks->Events()) {
    INFO(e);
    CHECK((e.starts_with("store-error ") || e == "registered a" || e == "updated a"));
  }
  // Once the store accepts again, the same change goes through.
  store->fail_save = nullptr;
  store->fail_delete = false;
  REQUIRE(f.manager->SetDisabled("a", true).ok());
  CHECK(f.manager->Get("a")->disabled);
}

TEST_CASE("An ID that is not a file name is refused by a file store and never held",
          "[nothing-lost]") {
  TempDir dir;
  FileStoreOptions so;
  so.directory = dir.path();
  so.sync = false;
  auto store = *FileStore::Open(so);
  testing::ManagerFixture f({.store = store});
  for (const char* id : {"../escape.json", "noext", "sub/dir.json", ".json"}) {
    INFO(id);
    auto r = f.manager->Register(FileCredential(id));
    CHECK(absl::IsInvalidArgument(r.status()));
    CHECK(f.manager->Get(id) == nullptr);
  }
  CHECK(f.manager->List().empty());
  CHECK(f.PickId("claude") == "<auth_not_found>");
  // Without persistence the same ID is the host's business (nothing is written).
  CHECK(f.manager->Register(FileCredential("noext"), WriteOptions{.persist = false}).ok());
}

// ---- item 3: a write-back never replaces a newer file ----------------------------------------

struct DirFixture {
  explicit DirFixture(std::function<void(WatcherOptions&)> tweak = nullptr) {
    FileStoreOptions so;
    so.directory = dir.path();
    so.sync = false;
    so.on_report = [this](const FileReport& r) {
      std::lock_guard<std::mutex> lock(mu);
      reports.push_back(r.file + ": " + r.detail);
    };
    store = *FileStore::Open(so);
    ManagerOptions mo;
    mo.clock = &clock;
    mo.store = store;
    mo.hooks = hooks;
    manager = *Manager::Create(std::move(mo));
    WatcherOptions wo;
    wo.manager = manager.get();
    wo.store = store;
    wo.debounce = absl::Milliseconds(5);
    if (tweak) tweak(wo);
    watcher = *Watcher::Create(std::move(wo));
  }
  ~DirFixture() { watcher->Stop(); }

  void Sync() { REQUIRE(watcher->Sync().ok()); }
  std::string Field(const std::string& id, const std::string& key) {
    auto c = manager->Get(id);
    if (c == nullptr) return "<gone>";
    return c->metadata.GetString(key).value_or("<none>");
  }
  std::vector<std::string> Reports() {
    std::lock_guard<std::mutex> lock(mu);
    return reports;
  }

  TempDir dir;
  ManualClock clock{testing::Utc(2026, 4, 17)};
  std::shared_ptr<testing::RecordingHooks> hooks = std::make_shared<testing::RecordingHooks>();
  std::shared_ptr<FileStore> store;
  std::unique_ptr<Manager> manager;
  std::unique_ptr<Watcher> watcher;
  std::mutex mu;
  std::vector<std::string> reports;
};

constexpr char kLogin1[] =
    R"({"type":"claude","email":"a@x","access_token":"A1","refresh_token":"R1","priority":1})";
constexpr char kLogin2[] =
    R"({"type":"claude","email":"a@x","access_token":"A2","refresh_token":"R2","priority":1})";

TEST_CASE("A write-back after an outside login keeps the new tokens and re-applies the change",
          "[nothing-lost][file-store]") {
  DirFixture f;
  f.dir.Write("a.json", kLogin1);
  f.Sync();
  REQUIRE(f.Field("a.json", "refresh_token") == "R1");
  f.dir.Write("a.json", kLogin2);  // a login tool, within the watcher's debounce
  REQUIRE(f.manager->SetDisabled("a.json", true).ok());
  const std::string disk = f.dir.Read("a.json");
  CHECK(disk.find(R"("refresh_token":"R2")") != std::string::npos);
  CHECK(disk.find(R"("access_token":"A2")") != std::string::npos);
  CHECK(disk.find(R"("disabled":true)") != std::string::npos);
  const std::vector<std::string> reports = f.Reports();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0] ==
        "a.json: changed outside the store since it was last read; the library's write was merged "
        "into it; applied: disabled");
  CHECK(reports[0].find("R2") == std::string::npos);  // key names only
  // The watcher brings the merged file into memory: new tokens, still disabled.
  f.Sync();
  CHECK(f.Field("a.json", "refresh_token") == "R2");
  CHECK(f.manager->Get("a.json")->disabled);
  CHECK(f.store->Read("a.json").kind == FileStore::ReadResult::Kind::kUnchanged);
}

TEST_CASE("A token write-back racing a new login drops its tokens, not the login's",
          "[nothing-lost][file-store]") {
  DirFixture f;
  f.dir.Write("a.json", kLogin1);
  f.Sync();
  Credential refreshed = *f.manager->Get("a.json");
  refreshed.metadata = *Metadata::Parse(
      R"({"type":"claude","email":"a@x","access_token":"A1-refreshed","refresh_token":"R1b","priority":1})");

  SECTION("the file brought new tokens: they stay") {
    f.dir.Write("a.json", kLogin2);
    REQUIRE(f.manager->Update(refreshed).ok());
    const std::string disk = f.dir.Read("a.json");
    CHECK(disk.find(R"("refresh_token":"R2")") != std::string::npos);
    CHECK(disk.find(R"("access_token":"A2")") != std::string::npos);
    CHECK(disk.find("A1-refreshed") == std::string::npos);
    CHECK(f.Reports().at(0) ==
          "a.json: changed outside the store since it was last read; the library's write was "
          "merged into it (the file's new tokens kept; dropped the library's access_token, "
          "refresh_token)");
    f.Sync();
    CHECK(f.Field("a.json", "refresh_token") == "R2");
  }
  SECTION("the file changed something else: the library's tokens apply, the file's edit stays") {
    f.dir.Write("a.json",
                R"({"type":"claude","email":"a@x","access_token":"A1","refresh_token":"R1","priority":9})");
    REQUIRE(f.manager->Update(refreshed).ok());
    const std::string disk = f.dir.Read("a.json");
    CHECK(disk.find(R"("refresh_token":"R1b")") != std::string::npos);
    CHECK(disk.find(R"("access_token":"A1-refreshed")") != std::string::npos);
    CHECK(disk.find(R"("priority":9)") != std::string::npos);
    f.Sync();
    CHECK(f.Field("a.json", "refresh_token") == "R1b");
    CHECK(f.manager->Get("a.json")->Attribute("priority") == "9");
  }
}

// ---- Edit: read-modify-write against the record as it is -------------------------------------

// WithNote is the credential's metadata with "note" set (the metadata here is written without
// spaces and ends in '}').
Metadata WithNote(const Credential& c, const std::string& note) {
  std::string json(c.metadata.json());
  if (const size_t at = json.find(R"(,"note":")"); at != std::string::npos) {
    json.erase(at, json.find('"', at + 9) + 1 - at);
  }
  json.insert(json.size() - 1, R"(,"note":")" + note + "\"");
  return *Metadata::Parse(json);
}

TEST_CASE("Edit keeps the tokens of a login the watcher applied after the caller's Get",
          "[nothing-lost][edit]") {
  DirFixture f;
  f.dir.Write("a.json", kLogin1);
  f.Sync();
  const std::shared_ptr<const Credential> read_before = f.manager->Get("a.json");
  f.dir.Write("a.json", kLogin2);  // a re-login, applied by the watcher
  f.Sync();
  REQUIRE(f.Field("a.json", "refresh_token") == "R2");

  SECTION("Edit changes the record as it is now") {
    auto r = f.manager->Edit("a.json", [](Credential& c) {
      c.metadata = WithNote(c, "team-a");
      return absl::OkStatus();
    });
    REQUIRE(r.ok());
    CHECK(f.Field("a.json", "refresh_token") == "R2");
    CHECK(f.Field("a.json", "note") == "team-a");
    const std::string disk = f.dir.Read("a.json");
    CHECK(disk.find(R"("refresh_token":"R2")") != std::string::npos);
    CHECK(disk.find(R"("note":"team-a")") != std::string::npos);
  }
  SECTION("Update writes the record it is given, older tokens included (what Edit avoids)") {
    Credential next = *read_before;
    next.metadata = WithNote(next, "team-a");
    REQUIRE(f.manager->Update(next).ok());
    CHECK(f.Field("a.json", "refresh_token") == "R1");
  }
}

TEST_CASE("A refused Edit changes nothing and says why", "[nothing-lost][edit]") {
  auto store = std::make_shared<testing::MemoryStore>();
  testing::ManagerFixture f({.store = store});
  REQUIRE(f.manager->Register(FileCredential("a")).ok());
  const std::shared_ptr<const Credential> before = f.manager->Get("a");
  const int saves = store->saves;
  absl::StatusOr<std::shared_ptr<const Credential>> r;

  SECTION("unknown ID") {
    r = f.manager->Edit("zz", [](Credential&) { return absl::OkStatus(); });
    CHECK(absl::IsNotFound(r.status()));
  }
  SECTION("no function") {
    r = f.manager->Edit("a", nullptr);
    CHECK(absl::IsInvalidArgument(r.status()));
  }
  SECTION("the function's error") {
    r = f.manager->Edit("a", [](Credential& c) {
      c.label = "half";
      return absl::FailedPreconditionError("not now");
    });
    CHECK(r.status() == absl::FailedPreconditionError("not now"));
  }
  SECTION("the function throws") {
    r = f.manager->Edit("a", [](Credential& c) -> absl::Status {
      c.label = "half";
      throw std::runtime_error("boom");
    });
    CHECK(absl::IsInternal(r.status()));
    CHECK(std::string(r.status().message()).find("threw") != std::string::npos);
  }
  SECTION("another ID") {
    r = f.manager->Edit("a", [](Credential& c) {
      c.id = "b";
      return absl::OkStatus();
    });
    CHECK(absl::IsInvalidArgument(r.status()));
    CHECK(f.manager->Get("b") == nullptr);
  }
  SECTION("an invalid record") {
    r = f.manager->Edit("a", [](Credential& c) {
      c.label = "\xff";
      return absl::OkStatus();
    });
    CHECK(absl::IsInvalidArgument(r.status()));
  }
  SECTION("the store refuses") {
    store->fail_save = [](const Credential&) { return true; };
    r = f.manager->Edit("a", [](Credential& c) {
      c.label = "new";
      return absl::OkStatus();
    });
    CHECK(absl::IsUnavailable(r.status()));
  }
  CHECK(f.manager->Get("a") == before);  // the very same snapshot
  CHECK(store->saves == saves);
}

TEST_CASE("Edit commits like Update: saved, runtime state kept, persist=false not saved",
          "[nothing-lost][edit]") {
  auto store = std::make_shared<testing::MemoryStore>();
  testing::ManagerFixture f({.store = store});
  REQUIRE(f.manager->Register(FileCredential("a")).ok());
  f.manager->RegisterModels("a", {"m"});
  Result failure;
  failure.credential_id = "a";
  failure.model = "m";
  failure.http_status = 429;
  failure.retry_after = absl::Seconds(60);
  REQUIRE(f.manager->MarkResult(failure).ok());
  const size_t models_before = f.manager->Get("a")->model_states.size();
  REQUIRE(models_before == 1);
  const int saves = store->saves;
  auto r = f.manager->Edit("a", [](Credential& c) {
    c.label = "edited";
    return absl::OkStatus();
  });
  REQUIRE(r.ok());
  CHECK((*r)->label == "edited");
  CHECK((*r)->model_states.size() == models_before);  // the cooldown stands
  CHECK(store->saves == saves + 1);
  REQUIRE(f.manager->Edit("a", [](Credential& c) {
                         c.label = "memory only";
                         return absl::OkStatus();
                       },
                       WriteOptions{.persist = false})
              .ok());
  CHECK(f.manager->Get("a")->label == "memory only");
  CHECK(store->saves == saves + 1);
}

TEST_CASE("A newer file that is not a credential is never replaced and the change fails whole",
          "[nothing-lost][file-store]") {
  DirFixture f;
  f.dir.Write("a.json", kLogin1);
  f.Sync();
  for (const char* half : {"", R"({"type":"claude","email")", R"({"email":"no type"})"}) {
    INFO(half);
    f.dir.Write("a.json", half);
    const absl::Status s = f.manager->SetDisabled("a.json", true);
    CHECK(absl::IsUnavailable(s));
    CHECK(std::string(s.message()).find("not replaced") != std::string::npos);
    CHECK(f.dir.Read("a.json") == half);               // the outside version is untouched
    CHECK_FALSE(f.manager->Get("a.json")->disabled);  // and memory is as before
  }
}

// ---- item 4: the watcher never undoes an API change ------------------------------------------

// Arms a models_for callback that, while the watcher is between reading a.json and applying it,
// makes another thread run `change` and waits (bounded) for it to finish. Without the fix the
// change completes inside that window and the watcher then applies the older file over it.
struct WindowProbe {
  std::function<void()> change;
  std::atomic<bool> armed{false};
  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  std::thread other;

  std::vector<std::string> ModelsFor(const Credential&) {
    if (armed.exchange(false)) {
      other = std::thread([this] {
        change();
        std::lock_guard<std::mutex> lock(mu);
        finished = true;
        cv.notify_all();
      });
      std::unique_lock<std::mutex> lock(mu);
      cv.wait_for(lock, std::chrono::milliseconds(300), [&] { return finished; });
    }
    return {"m"};
  }
  void Join() {
    if (other.joinable()) other.join();
  }
};

TEST_CASE("The watcher never reverts a SetDisabled that lands between its read and its apply",
          "[nothing-lost][watcher]") {
  WindowProbe probe;
  DirFixture f([&](WatcherOptions& o) {
    o.models_for = [&](const Credential& c) { return probe.ModelsFor(c); };
  });
  f.dir.Write("a.json", kLogin1);
  f.Sync();
  absl::Status changed;
  probe.change = [&] { changed = f.manager->SetDisabled("a.json", true); };
  f.dir.Write("a.json",
              R"({"type":"claude","email":"a@x","access_token":"A1","refresh_token":"R1","note":"edited"})");
  probe.armed = true;
  f.Sync();
  probe.Join();
  CHECK(changed.ok());
  CHECK(f.manager->Get("a.json")->disabled);
  CHECK(f.manager->Get("a.json")->Attribute("note") == "edited");  // the edit applied too
  CHECK(f.dir.Read("a.json").find(R"("disabled":true)") != std::string::npos);
  f.Sync();  // and nothing left to undo it later
  CHECK(f.manager->Get("a.json")->disabled);
}

TEST_CASE("The watcher never resurrects a credential removed between its read and its apply",
          "[nothing-lost][watcher]") {
  WindowProbe probe;
  DirFixture f([&](WatcherOptions& o) {
    o.models_for = [&](const Credential& c) { return probe.ModelsFor(c); };
  });
  f.dir.Write("a.json", kLogin1);
  f.Sync();
  absl::Status removed;
  probe.change = [&] { removed = f.manager->Remove("a.json"); };
  f.dir.Write("a.json", kLogin2);
  probe.armed = true;
  f.Sync();
  probe.Join();
  CHECK(removed.ok());
  CHECK(f.manager->Get("a.json") == nullptr);
  CHECK_FALSE(f.dir.Exists("a.json"));
  f.Sync();
  CHECK(f.manager->Get("a.json") == nullptr);
}

// ---- item 7: callbacks may call back, from every thread that runs them -----------------------

TEST_CASE("A hook on the watcher's thread may sync, load and stop the watcher",
          "[nothing-lost][watcher][threads]") {
  struct Hook : Hooks {
    void OnRegistered(const std::shared_ptr<const Credential>& c) override {
      if (c->id != "new.json") return;
      const absl::Status sync = watcher->Sync();
      const absl::Status load = manager->Load();
      watcher->Stop();  // from its own thread: asks it to end
      manager->StopRefreshLoop();
      std::lock_guard<std::mutex> lock(mu);
      statuses = {sync, load};
      thread = std::this_thread::get_id();
      done = true;
      cv.notify_all();
    }
    Manager* manager = nullptr;
    Watcher* watcher = nullptr;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    std::vector<absl::Status> statuses;
    std::thread::id thread;
  };
  auto hook = std::make_shared<Hook>();
  TempDir dir;
  FileStoreOptions so;
  so.directory = dir.path();
  so.sync = false;
  auto store = *FileStore::Open(so);
  ManualClock clock{testing::Utc(2026, 4, 17)};
  ManagerOptions mo;
  mo.clock = &clock;
  mo.store = store;
  mo.hooks = hook;
  auto manager = *Manager::Create(std::move(mo));
  WatcherOptions wo;
  wo.manager = manager.get();
  wo.store = store;
  wo.debounce = absl::Milliseconds(5);
  wo.poll_interval = absl::Milliseconds(20);
  auto watcher = *Watcher::Create(std::move(wo));
  hook->manager = manager.get();
  hook->watcher = watcher.get();
  REQUIRE(watcher->Start().ok());
  dir.Write("new.json", kLogin1);
  {
    std::unique_lock<std::mutex> lock(hook->mu);
    REQUIRE(hook->cv.wait_for(lock, std::chrono::seconds(30), [&] { return hook->done; }));
    CHECK(hook->thread != std::this_thread::get_id());  // it ran on the watcher's thread
    for (const absl::Status& s : hook->statuses) CHECK(s.ok());
  }
  watcher->Stop();  // joins the thread the hook asked to end
  CHECK(manager->Get("new.json") != nullptr);
  dir.Write("later.json", R"({"type":"claude","email":"later@x"})");
  REQUIRE(watcher->Sync().ok());  // still usable by hand
  CHECK(manager->Get("later.json") != nullptr);
  REQUIRE(watcher->Start().ok());  // and restartable
  watcher->Stop();
}

// ---- item 8: a refused reload applies nothing -------------------------------------------------

TEST_CASE("A config reload refused inside a refresher callback changes nothing",
          "[nothing-lost][config][refresh]") {
  auto refresher = std::make_shared<testing::FakeRefresher>();
  ManualClock clock{testing::Utc(2026, 4, 17)};
  ManagerOptions mo;
  mo.clock = &clock;
  mo.refresh.refreshers["claude"] = refresher;
  mo.refresh.workers = 2;
  auto manager = *Manager::Create(std::move(mo));
  const Config previous = *ParseConfig(R"({"auth-auto-refresh-workers":2})");
  const Config next = *ParseConfig(R"({"routing":{"strategy":"fill-first","session-affinity":true},
    "request-retry":5,"auth-auto-refresh-workers":3})");
  std::mutex mu;
  std::condition_variable cv;
  std::optional<absl::Status> applied;
  refresher->during = [&](const Credential&) {
    absl::Status s = ApplyConfig(*manager, previous, next).status();
    std::lock_guard<std::mutex> lock(mu);
    applied = s;
    cv.notify_all();
  };
  Credential c = FileCredential("a");
  c.metadata = *Metadata::Parse(R"({"type":"claude","email":"a@x","refresh_token":"r","expired":")" +
                                FormatRfc3339(clock.Now()) + "\"}");
  REQUIRE(manager->Register(c).ok());
  manager->RegisterModels("a", {"m"});
  REQUIRE(manager->StartRefreshLoop().ok());
  {
    std::unique_lock<std::mutex> lock(mu);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return applied.has_value(); }));
    CHECK(applied->code() == absl::StatusCode::kFailedPrecondition);
  }
  manager->StopRefreshLoop();
  CHECK(manager->strategy() == RoutingStrategy::kRoundRobin);
  CHECK(manager->GetRetrySettings().request_retry == RetrySettings{}.request_retry);
  CHECK(manager->GetRefreshOptions().workers == 2);
  const HttpHeader headers[] = {{"X-Session-ID", "s-1"}};
  const std::string_view providers[] = {"claude"};
  PickRequest request;
  request.providers = providers;
  request.model = "m";
  request.headers = headers;
  auto pick = manager->Pick(request);
  REQUIRE(pick.ok());
  CHECK(pick->session == nullptr);  // session affinity stayed off
}

}  // namespace
}  // namespace authrouter
