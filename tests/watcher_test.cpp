// The watcher on a real directory: driven by Sync (deterministic), then the inotify and polling
// threads (waiting on reports, never sleeping for a timer).
#include <catch2/catch.hpp>

#include <condition_variable>
#include <filesystem>
#include <mutex>

#include "authrouter/watcher.h"
#include "support/fake_refresher.h"
#include "support/temp_dir.h"
#include "support/time_helpers.h"

namespace authrouter {
namespace {

using testing::TempDir;
using Kind = WatchReport::Kind;

class ReportLog {
 public:
  std::function<void(const WatchReport&)> Hook() {
    return [this](const WatchReport& r) {
      std::lock_guard<std::mutex> lock(mu_);
      reports_.push_back(r);
      cv_.notify_all();
    };
  }
  std::vector<WatchReport> Take() {
    std::lock_guard<std::mutex> lock(mu_);
    return std::exchange(reports_, {});
  }
  int Count(Kind kind, const std::string& file) {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& r : reports_) n += r.kind == kind && r.file == file;
    return n;
  }
  // WaitFor waits (bounded) until `pred` holds over the reports so far.
  bool WaitFor(const std::function<bool(const std::vector<WatchReport>&)>& pred) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return pred(reports_); });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<WatchReport> reports_;
};

std::vector<std::string> Kinds(const std::vector<WatchReport>& reports) {
  std::vector<std::string> out;
  for (const auto& r : reports) {
    const char* k = r.kind == Kind::kAdded      ? "added"
                    : r.kind == Kind::kUpdated  ? "updated"
                    : r.kind == Kind::kRemoved  ? "removed"
                    : r.kind == Kind::kSkipped  ? "skipped"
                    : r.kind == Kind::kConfigApplied  ? "config-applied"
                    : r.kind == Kind::kConfigRejected ? "config-rejected"
                    : r.kind == Kind::kConfigWarning  ? "config-warning"
                                                      : "error";
    out.push_back(std::string(k) + " " + r.file);
  }
  return out;
}

struct WatchFixture {
  explicit WatchFixture(std::function<void(WatcherOptions&)> tweak = nullptr) {
    FileStoreOptions so;
    so.directory = dir.path();
    so.sync = false;  // speed; crash safety has its own test
    store = *FileStore::Open(so);
    ManagerOptions mo;
    mo.clock = &clock;
    mo.store = store;
    mo.refresh.refreshers["claude"] = refresher;
    manager = *Manager::Create(std::move(mo));
    WatcherOptions wo;
    wo.manager = manager.get();
    wo.store = store;
    wo.models_for = [](const Credential&) { return std::vector<std::string>{"m"}; };
    wo.on_report = log.Hook();
    wo.debounce = absl::Milliseconds(20);
    if (tweak) tweak(wo);
    watcher = *Watcher::Create(std::move(wo));
  }

  void Sync() { REQUIRE(watcher->Sync().ok()); }

  // Cool sets a 429 cooldown on (id, m).
  void Cool(const std::string& id) {
    Result r;
    r.credential_id = id;
    r.model = "m";
    r.http_status = 429;
    r.retry_after = absl::Minutes(30);
    REQUIRE(manager->MarkResult(r).ok());
  }
  bool Cooling(const std::string& id) {
    auto c = manager->Get(id);
    return c && c->model_states.count("m") && c->model_states.at("m").next_retry_after > clock.Now();
  }

  TempDir dir;
  ManualClock clock{testing::Utc(2026, 4, 17)};
  std::shared_ptr<testing::FakeRefresher> refresher = std::make_shared<testing::FakeRefresher>();
  std::shared_ptr<FileStore> store;
  std::unique_ptr<Manager> manager;
  ReportLog log;
  std::unique_ptr<Watcher> watcher;
};

TEST_CASE("Watcher: create, modify, delete, re-create", "[watcher]") {
  WatchFixture f;
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x"})");
  f.Sync();
  CHECK(Kinds(f.log.Take()) == std::vector<std::string>{"added a.json"});
  REQUIRE(f.manager->Get("a.json") != nullptr);
  CHECK(f.manager->Models("a.json") == std::vector<std::string>{"m"});
  CHECK(f.manager->Pick("claude", "m").ok());

  f.Sync();  // nothing changed: nothing happens
  CHECK(f.log.Take().empty());

  f.Cool("a.json");
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x","note":"edited"})");
  f.Sync();
  CHECK(Kinds(f.log.Take()) == std::vector<std::string>{"updated a.json"});
  CHECK(f.manager->Get("a.json")->attributes.at("note") == "edited");
  CHECK(f.Cooling("a.json"));  // a modify keeps cooldowns (upstream cleared them)

  std::filesystem::remove(f.dir.File("a.json"));
  f.Sync();
  CHECK(Kinds(f.log.Take()) == std::vector<std::string>{"removed a.json"});
  CHECK(f.manager->Get("a.json") == nullptr);

  f.dir.Write("a.json", R"({"type":"claude","email":"a@x","note":"edited"})");
  f.Sync();
  CHECK(Kinds(f.log.Take()) == std::vector<std::string>{"added a.json"});
  CHECK_FALSE(f.Cooling("a.json"));  // re-created: starts clean (seed #2061)
}

TEST_CASE("Watcher: rename into place, and files that are not credentials", "[watcher]") {
  WatchFixture f;
  f.dir.Write(".b.json.partial", R"({"type":"codex"})");
  std::filesystem::rename(f.dir.File(".b.json.partial"), f.dir.File("b.JSON"));
  f.dir.Write("notes.txt", "hello");
  std::filesystem::create_directory(f.dir.File("sub"));
  f.dir.Write("sub/c.json", R"({"type":"claude"})");
  f.dir.Write("outside.data", R"({"type":"claude"})");
  std::filesystem::create_symlink(f.dir.File("outside.data"), f.dir.File("link.json"));
  f.Sync();
  CHECK(Kinds(f.log.Take()) ==
        std::vector<std::string>{"added b.JSON", "skipped link.json"});
  CHECK(f.manager->List().size() == 1);
}

TEST_CASE("Watcher: a half-written or invalid file is skipped -- the last good state stays",
          "[watcher]") {
  WatchFixture f;
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x","v":1})");
  f.Sync();
  f.Cool("a.json");
  f.log.Take();
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x","v":)");  // torn write
  f.Sync();
  auto reports = f.log.Take();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].kind == Kind::kSkipped);
  CHECK(reports[0].detail.find("a.json") != std::string::npos);
  auto a = f.manager->Get("a.json");
  REQUIRE(a != nullptr);
  CHECK(a->metadata.json() == R"({"type":"claude","email":"a@x","v":1})");
  CHECK(f.Cooling("a.json"));
  f.dir.Write("a.json", "");
  f.Sync();
  CHECK(Kinds(f.log.Take()) == std::vector<std::string>{"skipped a.json"});
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x","v":2})");  // completed
  f.Sync();
  CHECK(Kinds(f.log.Take()) == std::vector<std::string>{"updated a.json"});
  CHECK(f.manager->Get("a.json")->metadata.json() == R"({"type":"claude","email":"a@x","v":2})");
}

TEST_CASE("Watcher: the store's own writes are not changes (no refresh/cooldown loop)",
          "[watcher]") {
  WatchFixture f;
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x","refresh_token":"r","expired":"2026-04-17T00:00:00Z"})");
  f.Sync();
  f.log.Take();
  f.Cool("a.json");  // saved (state file)
  REQUIRE(f.manager->RunDueRefreshes(f.clock.Now()) == 1);  // writes the file with new tokens
  CHECK(f.dir.Read("a.json").find("fresh-a.json") != std::string::npos);
  f.Sync();
  CHECK(f.log.Take().empty());
  CHECK(f.Cooling("a.json"));
  REQUIRE(f.manager->SetDisabled("a.json", true).ok());  // writes "disabled": true
  f.Sync();
  CHECK(f.log.Take().empty());
  CHECK(f.manager->Get("a.json")->disabled);
}

TEST_CASE("Watcher: credentials loaded before the first Sync are tracked", "[watcher]") {
  WatchFixture f;
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x"})");
  f.dir.Write("g.json", R"({"type":"gemini","email":"g@x","project_id":"p1,p2"})");
  REQUIRE(f.manager->Load().ok());
  CHECK(f.manager->List().size() == 4);  // a, the gemini primary and its two projects
  f.Sync();
  CHECK(f.log.Take().empty());  // nothing changed since Load
  std::filesystem::remove(f.dir.File("a.json"));
  std::filesystem::remove(f.dir.File("g.json"));
  f.Sync();
  CHECK(Kinds(f.log.Take()) == std::vector<std::string>{"removed a.json", "removed g.json",
                                                        "removed g.json", "removed g.json"});
  CHECK(f.manager->List().empty());
}

TEST_CASE("Watcher: a burst of 1,000 writes settles on the final state", "[watcher]") {
  WatchFixture f;
  for (int i = 0; i < 1000; ++i) {
    f.dir.Write("f" + std::to_string(i % 50) + ".json",
                R"({"type":"claude","v":)" + std::to_string(i) + "}");
  }
  f.Sync();
  CHECK(f.manager->List().size() == 50);
  for (int k = 0; k < 50; ++k) {
    auto c = f.manager->Get("f" + std::to_string(k) + ".json");
    REQUIRE(c != nullptr);
    CHECK(c->metadata.json() == R"({"type":"claude","v":)" + std::to_string(950 + k) + "}");
  }
}

TEST_CASE("Watcher: the config file is applied, and a bad one keeps the old config", "[watcher]") {
  TempDir cfg;
  const std::string path = cfg.File("config.json");
  cfg.Write("config.json", R"({"routing":{"strategy":"round-robin"}})");
  WatchFixture f([&](WatcherOptions& o) { o.config_path = path; });
  f.Sync();
  CHECK(Kinds(f.log.Take()) == std::vector<std::string>{"config-applied " + path});
  cfg.Write("config.json", R"({"routing":{"strategy":"fill-first"},"request-retry":2,"colour":1})");
  f.Sync();
  auto reports = f.log.Take();
  CHECK(Kinds(reports) ==
        std::vector<std::string>{"config-warning " + path, "config-applied " + path});
  CHECK(reports[1].detail == "routing.strategy, request-retry");
  CHECK(f.manager->strategy() == RoutingStrategy::kFillFirst);
  CHECK(f.watcher->config().retry.request_retry == 2);
  cfg.Write("config.json", R"({"routing":{"strategy":"sideways"}})");
  f.Sync();
  reports = f.log.Take();
  REQUIRE(reports.size() == 1);
  CHECK(reports[0].kind == Kind::kConfigRejected);
  CHECK(reports[0].detail.starts_with("routing.strategy:"));
  CHECK(f.manager->strategy() == RoutingStrategy::kFillFirst);  // the previous config runs
  CHECK(f.watcher->config().strategy == RoutingStrategy::kFillFirst);
  cfg.Write("config.json", "");  // being rewritten: ignored
  f.Sync();
  CHECK(f.log.Take().empty());
}

TEST_CASE("Watcher: inotify delivers changes and coalesces bursts", "[watcher]") {
  WatchFixture f;
  REQUIRE(f.watcher->Start().ok());
  CHECK(f.watcher->uses_inotify());
  CHECK(f.watcher->Start().code() == absl::StatusCode::kFailedPrecondition);
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x"})");
  REQUIRE(f.log.WaitFor([](const auto& r) {
    return std::any_of(r.begin(), r.end(), [](const auto& x) { return x.kind == Kind::kAdded; });
  }));
  for (int i = 0; i < 1000; ++i) {
    f.dir.Write("a.json", R"({"type":"claude","email":"a@x","v":)" + std::to_string(i) + "}");
  }
  const std::string final_text = R"({"type":"claude","email":"a@x","v":999})";
  REQUIRE(f.log.WaitFor([&](const auto&) {
    auto c = f.manager->Get("a.json");
    return c && c->metadata.json() == final_text;
  }));
  CHECK(f.log.Count(Kind::kUpdated, "a.json") < 200);  // 1,000 writes, far fewer applications
  std::filesystem::remove(f.dir.File("a.json"));
  REQUIRE(f.log.WaitFor([](const auto& r) {
    return std::any_of(r.begin(), r.end(), [](const auto& x) { return x.kind == Kind::kRemoved; });
  }));
  f.watcher->Stop();
  f.watcher->Stop();
  CHECK(f.manager->Get("a.json") == nullptr);
}

TEST_CASE("Watcher: the polling fallback finds changes too", "[watcher]") {
  WatchFixture f([](WatcherOptions& o) {
    o.use_inotify = false;
    o.poll_interval = absl::Milliseconds(10);
  });
  REQUIRE(f.watcher->Start().ok());
  CHECK_FALSE(f.watcher->uses_inotify());
  f.dir.Write("p.json", R"({"type":"claude"})");
  REQUIRE(f.log.WaitFor([](const auto& r) {
    return std::any_of(r.begin(), r.end(), [](const auto& x) { return x.kind == Kind::kAdded; });
  }));
  f.watcher->Stop();
  CHECK(f.manager->Get("p.json") != nullptr);
}

TEST_CASE("Watcher: options are checked", "[watcher]") {
  WatcherOptions o;
  CHECK(Watcher::Create(o).status().code() == absl::StatusCode::kInvalidArgument);
  WatchFixture f;
  o.manager = f.manager.get();
  CHECK(Watcher::Create(o).status().code() == absl::StatusCode::kInvalidArgument);
  o.store = f.store;
  o.debounce = absl::ZeroDuration();
  CHECK(Watcher::Create(o).status().code() == absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace authrouter

namespace authrouter {
namespace {

TEST_CASE("Watcher: an edit keeps credential-level cooldown, quota and last error", "[watcher]") {
  WatchFixture f;
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x"})");
  f.Sync();
  Result r;  // a model-less 429 cools the credential itself
  r.credential_id = "a.json";
  r.http_status = 429;
  r.retry_after = absl::Minutes(30);
  REQUIRE(f.manager->MarkResult(r).ok());
  auto before = f.manager->Get("a.json");
  REQUIRE(before->next_retry_after > f.clock.Now());
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x","note":"edited"})");
  f.Sync();
  auto after = f.manager->Get("a.json");
  CHECK(after->attributes.at("note") == "edited");
  CHECK(after->next_retry_after == before->next_retry_after);
  CHECK(after->quota == before->quota);
  CHECK(after->unavailable == before->unavailable);
  CHECK(after->last_error == before->last_error);
}

TEST_CASE("Watcher: a save racing a read is never taken for an outside change", "[watcher]") {
  WatchFixture f;
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x","v":1})");
  f.Sync();
  // The watcher reads v=2 (an outside edit)...
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x","v":2})");
  FileStore::ReadResult read = f.store->Read("a.json");
  REQUIRE(read.kind == FileStore::ReadResult::Kind::kChanged);
  // ...while the store writes v=3 for the Manager.
  Credential c = *f.manager->Get("a.json");
  c.metadata = *Metadata::Parse(R"({"type":"claude","email":"a@x","v":3})");
  REQUIRE(f.store->Save(c).ok());
  CHECK_FALSE(f.store->Remember("a.json", read.content, read.sha256, read.generation));  // stale: refused
  // The save found v=2 on disk, newer than what the Manager holds: it merged its change (v=3)
  // into it instead of replacing it, and left the merged file for the watcher to read back.
  CHECK(f.dir.Read("a.json").find("\"v\":3") != std::string::npos);
  CHECK(f.store->Read("a.json").kind == FileStore::ReadResult::Kind::kChanged);
  f.Sync();
  CHECK(f.manager->Get("a.json")->metadata.json().find("\"v\":3") != std::string::npos);
  CHECK(f.store->Read("a.json").kind == FileStore::ReadResult::Kind::kUnchanged);
}

TEST_CASE("Watcher: a write-back never re-creates a file the operator deleted", "[watcher]") {
  WatchFixture f;
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x"})");
  f.Sync();
  std::filesystem::remove(f.dir.File("a.json"));
  absl::Status s = f.manager->SetDisabled("a.json", true);  // would save the file
  CHECK(s.code() == absl::StatusCode::kFailedPrecondition);
  CHECK_FALSE(f.dir.Exists("a.json"));
  f.Sync();
  CHECK(f.manager->Get("a.json") == nullptr);
}

TEST_CASE("Watcher: delete and re-create within one burst starts clean (inotify)", "[watcher]") {
  WatchFixture f([](WatcherOptions& o) { o.debounce = absl::Milliseconds(300); });
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x"})");
  f.Sync();
  f.Cool("a.json");
  f.log.Take();
  REQUIRE(f.watcher->Start().ok());
  std::filesystem::remove(f.dir.File("a.json"));
  f.dir.Write("a.json", R"({"type":"claude","email":"a@x"})");  // same content, new file
  REQUIRE(f.log.WaitFor([](const auto& r) {
    return std::any_of(r.begin(), r.end(), [](const auto& x) { return x.kind == Kind::kAdded; });
  }));
  f.watcher->Stop();
  auto reports = Kinds(f.log.Take());
  CHECK(std::find(reports.begin(), reports.end(), "removed a.json") != reports.end());
  CHECK_FALSE(f.Cooling("a.json"));
}

TEST_CASE("Watcher: a removed and re-created directory is polled from then on", "[watcher]") {
  WatchFixture f([](WatcherOptions& o) { o.poll_interval = absl::Milliseconds(20); });
  f.dir.Write("a.json", R"({"type":"claude"})");
  REQUIRE(f.watcher->Start().ok());
  REQUIRE(f.log.WaitFor([](const auto& r) {
    return std::any_of(r.begin(), r.end(), [](const auto& x) { return x.kind == Kind::kAdded; });
  }));
  std::filesystem::remove_all(f.dir.path());
  REQUIRE(f.log.WaitFor([](const auto& r) {
    return std::any_of(r.begin(), r.end(), [](const auto& x) {
      return x.kind == Kind::kError && x.detail.find("polling") != std::string::npos;
    });
  }));
  std::filesystem::create_directory(f.dir.path());
  f.dir.Write("b.json", R"({"type":"claude"})");
  REQUIRE(f.log.WaitFor([](const auto& r) {
    return std::any_of(r.begin(), r.end(),
                       [](const auto& x) { return x.kind == Kind::kAdded && x.file == "b.json"; });
  }));
  CHECK_FALSE(f.watcher->uses_inotify());
  f.watcher->Stop();
  CHECK(f.manager->Get("b.json") != nullptr);
  CHECK(f.manager->Get("a.json") == nullptr);  // its file went with the directory
}

}  // namespace
}  // namespace authrouter
