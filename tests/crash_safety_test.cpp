// Crash safety of FileStore::Save: a child process saves new versions in a loop and is killed
// with SIGKILL at random moments. After each kill the file is one complete version, never torn,
// and never older than the last version whose Save returned.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "authrouter/file_store.h"
#include "support/temp_dir.h"
#include "simdjson.h"

namespace authrouter {
namespace {

using testing::TempDir;

Credential Version(int64_t v) {
  Credential c;
  c.id = "a.json";
  c.file_name = "a.json";
  c.provider = "claude";
  // Large enough that a write takes several system calls' worth of time.
  c.metadata = *Metadata::Parse(R"({"type":"claude","v":)" + std::to_string(v) + R"(,"pad":")" +
                                std::string(64 * 1024, 'x') + R"("})");
  return c;
}

int64_t VersionOnDisk(const std::string& text) {
  simdjson::dom::parser parser;
  int64_t v = -1;
  if (parser.parse(text).get_object()["v"].get_int64().get(v)) return -1;
  return v;
}

TEST_CASE("Crash safety: SIGKILL during saves never tears a file or loses an acknowledged save",
          "[file_store][crash]") {
  TempDir dir;
  std::mt19937 rng(12345);
  int64_t next = 1;
  int64_t last_on_disk = 0;
  constexpr int kRounds = 25;
  for (int round = 0; round < kRounds; ++round) {
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      FileStoreOptions o;
      o.directory = dir.path();
      auto store = FileStore::Open(o);
      if (!store.ok()) _exit(2);
      for (int64_t v = next;; ++v) {
        if (!(*store)->Save(Version(v)).ok()) _exit(3);
        if (::write(fds[1], &v, sizeof v) != sizeof v) _exit(4);  // acknowledged
      }
    }
    ::close(fds[1]);
    // Let a random number of saves complete, then kill in the middle of the next ones.
    const int wait_for = static_cast<int>(rng() % 8) + 1;
    int64_t acked = last_on_disk;
    for (int i = 0; i < wait_for; ++i) {
      int64_t v = 0;
      if (::read(fds[0], &v, sizeof v) != sizeof v) break;
      acked = v;
    }
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    REQUIRE(WIFSIGNALED(status));
    for (int64_t v = 0; ::read(fds[0], &v, sizeof v) == sizeof v;) acked = v;  // acked before death
    ::close(fds[0]);

    const std::string text = dir.Read("a.json");
    const int64_t on_disk = VersionOnDisk(text);
    INFO("round " << round << ": acknowledged " << acked << ", on disk " << on_disk);
    REQUIRE(on_disk >= 0);            // complete JSON, never torn
    CHECK(text == Version(on_disk).metadata.json());
    CHECK(on_disk >= acked);          // nothing acknowledged is lost
    CHECK(on_disk <= acked + 1);      // at most the save in flight
    last_on_disk = on_disk;
    next = on_disk + 1;
  }
  // The directory still lists exactly the one credential (leftover temporary files of killed
  // writers are not credentials).
  FileStoreOptions o;
  o.directory = dir.path();
  auto store = FileStore::Open(o);
  REQUIRE(store.ok());
  auto listed = (*store)->List();
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().metadata.json() == Version(last_on_disk).metadata.json());
}

}  // namespace
}  // namespace authrouter
