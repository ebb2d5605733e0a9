// An outside login tool rewriting an auth file while the library changes the same credential and
// the watcher runs: no write of either side is lost and no API change is undone. Bounded by a
// time budget and iteration counts; meant to run under ThreadSanitizer too.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "authrouter/file_store.h"
#include "authrouter/watcher.h"
#include "support/temp_dir.h"
#include "support/time_helpers.h"

namespace authrouter {
namespace {

// ReplaceString sets the string member `key` of the JSON text `json` (written without spaces,
// as the library and this writer write it) to `value`.
std::string ReplaceString(std::string json, const std::string& key, const std::string& value) {
  const std::string marker = "\"" + key + "\":\"";
  const size_t at = json.find(marker);
  if (at == std::string::npos) return json;
  const size_t start = at + marker.size();
  const size_t end = json.find('"', start);
  return json.replace(start, end - start, value);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string StringMember(const std::string& json, const std::string& key) {
  const std::string marker = "\"" + key + "\":\"";
  const size_t at = json.find(marker);
  if (at == std::string::npos) return "<none>";
  const size_t start = at + marker.size();
  return json.substr(start, json.find('"', start) - start);
}

TEST_CASE("An outside login racing the library and the watcher loses nothing and undoes nothing",
          "[nothing-lost][watcher][stress]") {
  testing::TempDir dir;
  FileStoreOptions so;
  so.directory = dir.path();
  so.sync = false;
  auto store = *FileStore::Open(so);
  ManualClock clock{testing::Utc(2026, 4, 17)};
  ManagerOptions mo;
  mo.clock = &clock;
  mo.store = store;
  auto manager = *Manager::Create(std::move(mo));
  WatcherOptions wo;
  wo.manager = manager.get();
  wo.store = store;
  wo.debounce = absl::Milliseconds(2);
  auto watcher = *Watcher::Create(std::move(wo));
  dir.Write("a.json",
            R"({"type":"claude","email":"a@x","access_token":"A0","refresh_token":"R0","note":"api-0"})");
  REQUIRE(watcher->Sync().ok());
  REQUIRE(watcher->Start().ok());

  // The writer and the API thread take turns on `turn` for their own write only, so that each
  // side's write starts from the other's last one (a login tool that rewrites the tokens of the
  // file as it finds it); the watcher runs freely against both.
  std::mutex turn;
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};  // Catch's assertions are not thread-safe: counted, checked after
  int last_token = 0, last_note = 0;
  bool last_disabled = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  std::thread writer([&] {
    for (int i = 1; i <= 400 && !stop.load(); ++i) {
      std::lock_guard<std::mutex> lock(turn);
      std::string json = ReadFile(dir.File("a.json"));
      json = ReplaceString(json, "refresh_token", "R" + std::to_string(i));
      json = ReplaceString(json, "access_token", "A" + std::to_string(i));
      const std::string temp = dir.File(".login.tmp");
      {
        std::ofstream out(temp, std::ios::trunc);
        out << json;
      }
      if (::rename(temp.c_str(), dir.File("a.json").c_str()) != 0) ++errors;
      last_token = i;
      if (std::chrono::steady_clock::now() > deadline) break;
    }
  });
  std::thread api([&] {
    for (int k = 1; k <= 400 && !stop.load(); ++k) {
      std::lock_guard<std::mutex> lock(turn);
      if (k % 3 == 0) {
        const bool disabled = (k / 3) % 2 == 1;
        if (!manager->SetDisabled("a.json", disabled).ok()) ++errors;
        last_disabled = disabled;
      } else {
        // Edit, not Get then Update: a record read before the watcher applied the login's newest
        // tokens would put the older ones back (Update writes the record it is given).
        const std::string note = "api-" + std::to_string(k);
        auto edited = manager->Edit("a.json", [&](Credential& c) {
          absl::StatusOr<Metadata> m = Metadata::Parse(ReplaceString(std::string(c.metadata.json()), "note", note));
          if (!m.ok()) return m.status();
          c.metadata = *std::move(m);
          return absl::OkStatus();
        });
        if (!edited.ok()) ++errors;
        last_note = k;
      }
      if (std::chrono::steady_clock::now() > deadline) break;
    }
  });
  writer.join();
  api.join();
  CHECK(errors.load() == 0);
  watcher->Stop();
  REQUIRE(watcher->Sync().ok());  // whatever the watcher had not seen yet
  REQUIRE(watcher->Sync().ok());

  const std::string disk = ReadFile(dir.File("a.json"));
  const std::shared_ptr<const Credential> memory = manager->Get("a.json");
  REQUIRE(memory != nullptr);
  INFO("disk: " << disk);
  INFO("memory: " << memory->metadata.json());
  // The login's last tokens, on disk and in memory.
  CHECK(StringMember(disk, "refresh_token") == "R" + std::to_string(last_token));
  CHECK(memory->metadata.GetString("refresh_token") == "R" + std::to_string(last_token));
  // The API's last changes, on disk and in memory.
  CHECK(StringMember(disk, "note") == "api-" + std::to_string(last_note));
  CHECK(memory->metadata.GetString("note") == "api-" + std::to_string(last_note));
  CHECK(memory->disabled == last_disabled);
  CHECK((disk.find(R"("disabled":true)") != std::string::npos) == last_disabled);
}

}  // namespace
}  // namespace authrouter
