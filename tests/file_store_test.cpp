// FileStore and credential synthesis on a real temporary directory (spec 06 §1-§5, later fixes
// E1, E3).
#include <catch2/catch.hpp>

#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include "authrouter/file_store.h"
#include "authrouter/manager.h"
#include "support/temp_dir.h"
#include "support/time_helpers.h"

namespace authrouter {
namespace {

using testing::TempDir;
using testing::Utc;

const absl::Time kNow = Utc(2026, 4, 17);

Credential One(const std::string& content, const std::string& name = "a.json") {
  auto r = SynthesizeCredentials("/auth", name, content, kNow);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 1);
  return r->front();
}

struct Reports {
  std::mutex mu;
  std::vector<FileReport> all;
  std::function<void(const FileReport&)> Hook() {
    return [this](const FileReport& r) {
      std::lock_guard<std::mutex> lock(mu);
      all.push_back(r);
    };
  }
  bool Has(FileReport::Kind kind, const std::string& file) {
    std::lock_guard<std::mutex> lock(mu);
    for (const auto& r : all) {
      if (r.kind == kind && r.file == file) return true;
    }
    return false;
  }
};

std::shared_ptr<FileStore> Open(const TempDir& dir, Reports* reports = nullptr) {
  FileStoreOptions o;
  o.directory = dir.path();
  if (reports != nullptr) o.on_report = reports->Hook();
  auto s = FileStore::Open(o);
  REQUIRE(s.ok());
  return *s;
}

TEST_CASE("Spec 06 §5.1: a credential from an auth file", "[file_store]") {
  const std::string content =
      R"({"type":"Claude","email":"me@x","prefix":" /team/ ","proxy_url":"socks5://p:1",)"
      R"("priority":5.9,"note":"  main  ","headers":{" X-A ":" 1 ","X-Empty":"","N":2},)"
      R"("excluded_models":["B","a"],"excluded-models":["a","C"],"access_token":"t"})";
  Credential c = One(content);
  CHECK(c.id == "a.json");
  CHECK(c.file_name == "a.json");
  CHECK(c.provider == "claude");
  CHECK(c.label == "me@x");
  CHECK(c.prefix == "team");
  CHECK(c.proxy_url == "socks5://p:1");
  CHECK_FALSE(c.disabled);
  CHECK(c.status == CredentialStatus::kActive);
  CHECK(c.attributes.at("source") == "/auth/a.json");
  CHECK(c.attributes.at("path") == "/auth/a.json");
  CHECK(c.attributes.at("priority") == "5");
  CHECK(c.attributes.at("note") == "main");
  CHECK(c.attributes.at("header:X-A") == "1");
  CHECK(c.attributes.count("header:X-Empty") == 0);
  CHECK(c.attributes.count("header:N") == 0);
  CHECK(c.attributes.at("excluded_models") == "a,b,c");
  CHECK(c.attributes.at("auth_kind") == "oauth");
  CHECK(c.metadata.json() == content);  // verbatim
  CHECK(c.created_at == kNow);

  SECTION("label, prefix, priority and disabled edge cases") {
    Credential d = One(R"({"type":"codex","prefix":"a/b","priority":" 7 ","disabled":true})");
    CHECK(d.label == "codex");
    CHECK(d.prefix.empty());
    CHECK(d.attributes.at("priority") == "7");
    CHECK(d.disabled);
    CHECK(d.status == CredentialStatus::kDisabled);
    Credential e = One(R"({"type":"codex","priority":"high","disabled":"yes"})");
    CHECK(e.attributes.count("priority") == 0);
    CHECK_FALSE(e.disabled);  // only a JSON true disables
  }
  SECTION("gemini becomes gemini-cli") { CHECK(One(R"({"type":"gemini"})").provider == "gemini-cli"); }
}

TEST_CASE("Spec 06 §5: files that are not credentials are refused by name", "[file_store]") {
  for (const std::string& bad : {std::string("not json {secret-token"), std::string("[1,2]"),
                                std::string(R"({"email":"x"})"), std::string(R"({"type":""})"),
                                std::string(R"({"type":7})"), std::string("")}) {
    auto r = SynthesizeCredentials("/auth", "x.json", bad, kNow);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(r.status().message()).find("x.json") != std::string::npos);
    CHECK(std::string(r.status().message()).find("secret-token") == std::string::npos);
  }
}

TEST_CASE("Spec 06 §5.2: a multi-project gemini file yields virtual credentials", "[file_store]") {
  auto r = SynthesizeCredentials(
      "/auth", "g.json",
      R"({"type":"gemini","email":"g@x","project_id":"p1, p/2 ,p1,,p3","disable_cooling":true,)"
      R"("priority":3,"proxy_url":"http://proxy"})",
      kNow);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 4);
  const Credential& primary = (*r)[0];
  CHECK(primary.id == "g.json");
  CHECK(primary.disabled);
  CHECK(primary.attributes.at("gemini_virtual_primary") == "true");
  CHECK(primary.attributes.at("virtual_children") == "p1,p/2,p3");
  const Credential& v = (*r)[2];
  CHECK(v.id == "g.json::p_2");
  CHECK(v.label == "g@x [p/2]");
  CHECK(v.RuntimeOnly());
  CHECK(v.VirtualParent() == "g.json");
  CHECK(v.attributes.at("gemini_virtual_project") == "p/2");
  CHECK(v.attributes.at("priority") == "3");
  CHECK(v.metadata.project_id() == "p/2");
  CHECK(v.metadata.disable_cooling() == true);
  CHECK(v.metadata.GetString("proxy_url") == "http://proxy");
  CHECK(v.proxy_url == "http://proxy");
  auto single = SynthesizeCredentials("/auth", "g.json", R"({"type":"gemini","project_id":"p1"})", kNow);
  CHECK(single->size() == 1);
}

TEST_CASE("Spec 06 §5.2: projects whose IDs would coincide get distinct IDs (Note fixed)",
          "[file_store]") {
  // Upstream maps '/', backslash and space to '_' in the project's ID, so "a/b", "a b" and "a_b"
  // shared one ID and all but one project were lost. The first keeps the ID; later ones take
  // "~2", "~3", ... skipping an ID another project has as its own.
  auto r = SynthesizeCredentials(
      "/auth", "g.json", R"({"type":"gemini","project_id":"a/b, a_b, a b, a_b~2, c\\d"})", kNow);
  REQUIRE(r.ok());
  REQUIRE(r->size() == 6);
  std::vector<std::string> ids, projects;
  for (size_t i = 1; i < r->size(); ++i) {
    ids.push_back((*r)[i].id);
    projects.push_back(std::string((*r)[i].Attribute("gemini_virtual_project")));
  }
  CHECK(projects == std::vector<std::string>{"a/b", "a_b", "a b", "a_b~2", "c\\d"});
  CHECK(ids == std::vector<std::string>{"g.json::a_b", "g.json::a_b~3", "g.json::a_b~4",
                                        "g.json::a_b~2", "g.json::c_d"});
  // A file with the same content gives the same IDs.
  auto again = SynthesizeCredentials(
      "/auth", "g.json", R"({"type":"gemini","project_id":"a/b, a_b, a b, a_b~2, c\\d"})", kNow);
  REQUIRE(again.ok());
  CHECK((*again)[2].id == "g.json::a_b~3");
}

TEST_CASE("Auth directory and file-name rules (E3, one rule for scans and events)", "[file_store]") {
  CHECK(ResolveAuthDir("", "/home/u").value() == "/home/u/.cli-proxy-api");  // later fix E3
  CHECK(ResolveAuthDir("  ", "/home/u").value() == "/home/u/.cli-proxy-api");
  CHECK(ResolveAuthDir("~/creds/../auth/", "/home/u").value() == "/home/u/auth");
  CHECK(ResolveAuthDir("~", "/home/u").value() == "/home/u");
  CHECK(ResolveAuthDir("/srv//auth/.", "").value() == "/srv/auth");
  CHECK(ResolveAuthDir("rel", "").value() ==
        (std::filesystem::current_path() / "rel").lexically_normal().string());
  CHECK(IsAuthFileName("a.json"));
  CHECK(IsAuthFileName("A.JSON"));
  CHECK(IsAuthFileName(".hidden.json"));
  CHECK_FALSE(IsAuthFileName(".json"));
  CHECK_FALSE(IsAuthFileName("a.json.state"));
  CHECK_FALSE(IsAuthFileName("x/a.json"));
  CHECK_FALSE(IsAuthFileName("a.jsonx"));
  CHECK_FALSE(IsAuthFileName(".."));
}

TEST_CASE("FileStore::List reads the top level only and reports what it skips", "[file_store]") {
  TempDir dir;
  dir.Write("good.json", R"({"type":"claude","email":"g@x"})");
  dir.Write("UPPER.JSON", R"({"type":"codex"})");
  dir.Write("notes.txt", R"({"type":"claude"})");
  dir.Write("empty.json", "");
  dir.Write("bad.json", R"({"type":"claude",)");
  dir.Write("open.json", R"({"type":"kimi"})", 0644);
  std::filesystem::create_directory(dir.File("sub"));
  dir.Write("sub/inner.json", R"({"type":"claude"})");
  dir.Write("target.data", R"({"type":"claude"})");
  std::filesystem::create_symlink(dir.File("target.data"), dir.File("link.json"));
  std::filesystem::create_directory(dir.File("dir.json"));
  Reports reports;
  auto store = Open(dir, &reports);
  auto listed = store->List();
  REQUIRE(listed.ok());
  std::vector<std::string> ids;
  for (const auto& c : *listed) ids.push_back(c.id);
  CHECK(ids == std::vector<std::string>{"UPPER.JSON", "good.json", "open.json"});
  CHECK(reports.Has(FileReport::Kind::kSkipped, "empty.json"));
  CHECK(reports.Has(FileReport::Kind::kSkipped, "bad.json"));
  CHECK(reports.Has(FileReport::Kind::kSkipped, "link.json"));
  CHECK(reports.Has(FileReport::Kind::kSkipped, "dir.json"));
  CHECK(reports.Has(FileReport::Kind::kWarning, "open.json"));  // mode 0644
  CHECK_FALSE(reports.Has(FileReport::Kind::kWarning, "good.json"));
}

TEST_CASE("FileStore opens or creates its directory, and refuses a file", "[file_store]") {
  TempDir dir;
  FileStoreOptions o;
  o.directory = dir.File("new/");
  auto created = FileStore::Open(o);
  REQUIRE(created.ok());
  CHECK(std::filesystem::is_directory(dir.File("new")));
  CHECK(((*created)->directory()) == dir.File("new"));
  dir.Write("plain", "x");
  o.directory = dir.File("plain");
  CHECK(FileStore::Open(o).status().code() == absl::StatusCode::kFailedPrecondition);
  o.directory = dir.File("missing");
  o.create_directory = false;
  CHECK(FileStore::Open(o).status().code() == absl::StatusCode::kNotFound);
  o.directory = "";
  CHECK(FileStore::Open(o).status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("FileStore::Save writes atomically with mode 0600 and keeps the file's text",
          "[file_store]") {
  TempDir dir;
  auto store = Open(dir);
  Credential c = One(R"({"type":"claude", "custom" : [1, 2], "email":"me@x"})", "me.json");
  REQUIRE(store->Save(c).ok());
  CHECK(dir.Read("me.json") == c.metadata.json());
  CHECK(dir.Mode("me.json") == 0600);
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    const std::string name = e.path().filename().string();
    CHECK((name == "me.json" || name == "me.json.state"));  // no temporary files left
  }

  SECTION("an unchanged file is not rewritten, but its mode is enforced (E1)") {
    struct stat before{};
    ::stat(dir.File("me.json").c_str(), &before);
    ::chmod(dir.File("me.json").c_str(), 0644);
    REQUIRE(store->Save(c).ok());
    struct stat after{};
    ::stat(dir.File("me.json").c_str(), &after);
    CHECK(after.st_ino == before.st_ino);
    CHECK(dir.Mode("me.json") == 0600);
  }
  SECTION("disabling writes `disabled` into the file; re-enabling writes false") {
    c.disabled = true;
    REQUIRE(store->Save(c).ok());
    CHECK(dir.Read("me.json") == R"({"type":"claude","custom":[1, 2],"email":"me@x","disabled":true})");
    Credential again = One(dir.Read("me.json"), "me.json");
    CHECK(again.disabled);
    again.disabled = false;
    REQUIRE(store->Save(again).ok());
    CHECK(One(dir.Read("me.json"), "me.json").disabled == false);
  }
  SECTION("names that are not auth files in this directory are refused") {
    for (const char* id : {"../escape.json", "x.txt", "sub/x.json", ".."}) {
      Credential bad = c;
      bad.id = id;
      bad.file_name.clear();
      absl::Status s = store->Save(bad);
      CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    }
    CHECK_FALSE(std::filesystem::exists(std::filesystem::path(dir.path()).parent_path() / "escape.json"));
  }
  SECTION("Delete removes the file and its state; a missing file is fine") {
    REQUIRE(store->Delete("me.json").ok());
    CHECK_FALSE(dir.Exists("me.json"));
    CHECK_FALSE(dir.Exists("me.json.state"));
    CHECK(store->Delete("me.json").ok());
    CHECK(store->Delete("../x.json").code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("Cooldowns survive a restart through the state file -- a replaced file starts clean",
          "[file_store]") {
  TempDir dir;
  dir.Write("a.json", R"({"type":"claude","email":"a@x"})");
  ManualClock clock(kNow);
  {
    ManagerOptions o;
    o.clock = &clock;
    o.store = Open(dir);
    auto m = *Manager::Create(o);
    REQUIRE(m->Load().ok());
    m->RegisterModels("a.json", {"m"});
    Result r;
    r.credential_id = "a.json";
    r.model = "m";
    r.http_status = 429;
    r.retry_after = absl::Minutes(10);
    REQUIRE(m->MarkResult(r).ok());
  }
  CHECK(dir.Exists("a.json.state"));
  CHECK(dir.Read("a.json") == R"({"type":"claude","email":"a@x"})");  // the file is untouched
  auto restart = [&] {
    ManagerOptions o;
    o.clock = &clock;
    o.store = Open(dir);
    auto m = *Manager::Create(o);
    REQUIRE(m->Load().ok());
    m->RegisterModels("a.json", {"m"});
    return m;
  };
  {
    auto m = restart();
    auto pick = m->Pick("claude", "m");
    REQUIRE_FALSE(pick.ok());
    CHECK(GetRoutingError(pick.status())->code == "model_cooldown");
  }
  dir.Write("a.json", R"({"type":"claude","email":"a@x","access_token":"new login"})");
  {
    auto m = restart();
    CHECK(m->Pick("claude", "m").ok());  // the old state belonged to the old file
  }
}

TEST_CASE("A read-only directory gives a clear error and loses nothing", "[file_store]") {
  TempDir dir;
  auto store = Open(dir);
  Credential c = One(R"({"type":"claude","v":1})", "ro.json");
  REQUIRE(store->Save(c).ok());
  ::chmod(dir.path().c_str(), 0555);  // only our own temporary directory is touched
  // Root ignores permissions, so the save runs in a child that drops to an unprivileged user.
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(fds[0]);
    if (::geteuid() == 0) {
      const passwd* nobody = ::getpwnam("nobody");
      if (nobody == nullptr || ::setgid(nobody->pw_gid) != 0 || ::setuid(nobody->pw_uid) != 0) _exit(3);
    }
    Credential next = c;
    next.metadata = *Metadata::Parse(R"({"type":"claude","v":2})");
    const absl::Status s = store->Save(next);
    const std::string text = std::to_string(static_cast<int>(s.code())) + " " + std::string(s.message());
    (void)!::write(fds[1], text.data(), text.size());
    _exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) text.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  CHECK(text.starts_with(std::to_string(static_cast<int>(absl::StatusCode::kPermissionDenied))));
  CHECK(text.find(dir.path()) != std::string::npos);
  CHECK(text.find("Permission denied") != std::string::npos);
  CHECK(dir.Read("ro.json") == R"({"type":"claude","v":1})");
}

}  // namespace
}  // namespace authrouter
