// Diagnostics: what the logger hears (log.h), Load's report, nearest config keys, and redacted
// state views -- never a secret.
#include <catch2/catch.hpp>

#include <mutex>

#include "authrouter/config.h"
#include "authrouter/credential_json.h"
#include "authrouter/file_store.h"
#include "authrouter/watcher.h"
#include "support/fake_refresher.h"
#include "support/manager_fixture.h"
#include "support/memory_store.h"
#include "support/temp_dir.h"

namespace authrouter {
namespace {

using testing::ManagerFixture;
using testing::TempDir;

// Lines collects log lines as "level component: message".
struct Lines {
  std::mutex mu;
  std::vector<std::string> lines;
  std::shared_ptr<Logger> logger = MakeLogger([this](LogLevel l, std::string_view c, std::string_view m) {
    std::lock_guard<std::mutex> lock(mu);
    lines.push_back(std::string(LogLevelName(l)) + " " + std::string(c) + ": " + std::string(m));
  });
  bool Has(std::string_view needle) {
    std::lock_guard<std::mutex> lock(mu);
    for (const std::string& l : lines) {
      if (l.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  bool Mentions(std::string_view secret) { return Has(secret); }
};

constexpr char kSecret[] = "sk-SECRET-never-shown";

TEST_CASE("Unknown config keys are reported with the nearest valid key", "[diagnostics][config]") {
  CHECK(NearestConfigKey("routing.stratgey") == "routing.strategy");
  CHECK(NearestConfigKey("request-retries") == "request-retry");
  CHECK(NearestConfigKey("model-catalogue") == "model-catalog");
  CHECK(NearestConfigKey("refresh-profiles.claude.token-ur") == "refresh-profiles.claude.token-url");
  CHECK(NearestConfigKey("completely-unrelated-setting") == "");
  CHECK(DescribeUnknownKey("routing.session-afinity") ==
        "unknown config key \"routing.session-afinity\" (did you mean \"routing.session-affinity\"?)");
  absl::StatusOr<Config> c = ParseConfig(R"({"routing": {"stratgey": "fill-first"}})");
  REQUIRE(c.ok());
  CHECK(c->warnings == std::vector<std::string>{"routing.stratgey"});
  absl::StatusOr<Config> bad = ParseConfig(R"({"refresh-profiles": {"claude": {"token-ur": "x"}}})");
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()) ==
        "refresh-profiles.claude.token-ur: unknown key (did you mean \"refresh-profiles.claude.token-url\"?)");
  // Every key docs/config.md lists is one the parser knows.
  for (std::string_view key : KnownConfigKeys()) CHECK(NearestConfigKey(key) == key);
}

TEST_CASE("Load reports what it loaded and skipped, and the logger hears why", "[diagnostics]") {
  TempDir dir;
  dir.Write("good.json", std::string(R"({"type":"claude","access_token":")") + kSecret + "\"}");
  dir.Write("open.json", R"({"type":"claude"})", 0644);
  dir.Write("notjson.json", "{nope");
  dir.Write("notype.json", R"({"email":"a@example.com"})");
  Lines log;
  auto store = *FileStore::Open({.directory = dir.path(), .logger = log.logger});
  ManagerOptions o;
  o.store = store;
  o.logger = log.logger;
  ManagerFixture f(std::move(o));
  LoadReport report;
  REQUIRE(f.manager->Load(&report).ok());
  CHECK(report.loaded == std::vector<std::string>{"good.json", "open.json"});
  REQUIRE(report.skipped.size() == 2);
  CHECK(report.skipped[0].name == "notjson.json");
  CHECK(report.skipped[1].name == "notype.json");
  CHECK(report.skipped[1].reason.find("\"type\"") != std::string::npos);
  CHECK(log.Has("warning store: notjson.json: skipped: "));
  CHECK(log.Has("warning store: notype.json: skipped: "));
  CHECK(log.Has("warning store: open.json: readable or writable by group or others"));
  CHECK(log.Has("info manager: loaded 2 credentials, skipped 2"));
  CHECK_FALSE(log.Mentions(kSecret));
}

TEST_CASE("Store errors and refresh failures reach the logger, without secrets", "[diagnostics]") {
  Lines log;
  auto store = std::make_shared<testing::MemoryStore>();
  store->fail_save = [](const Credential&) { return true; };
  auto refresher = std::make_shared<testing::FakeRefresher>();
  refresher->answer = [](const Credential&, const RefreshContext&) -> absl::StatusOr<TokenUpdate> {
    return absl::UnauthenticatedError("token endpoint answered 400 invalid_grant");
  };
  ManagerOptions o;
  o.store = store;
  o.logger = log.logger;
  o.refresh.refreshers["claude"] = refresher;
  ManagerFixture f(std::move(o));
  Credential c = f.Make({.id = "a"});
  c.metadata = *Metadata::Parse(std::string(R"({"refresh_token":")") + kSecret + "\"}");
  CHECK_FALSE(f.manager->Register(c).ok());
  CHECK(log.Has("error store: saving a failed: disk full"));
  REQUIRE(f.manager->Register(c, WriteOptions{.persist = false}).ok());
  CHECK_FALSE(f.manager->Refresh("a").ok());
  CHECK(log.Has("error refresh: refreshing a failed: token endpoint answered 400 invalid_grant "
                "(the refresh token was rejected; a new login is needed)"));
  CHECK_FALSE(log.Mentions(kSecret));
}

TEST_CASE("The watcher's reports reach the logger outside its locks", "[diagnostics][watcher]") {
  TempDir dir;
  dir.Write("config.json", R"({"routing": {"stratgey": "fill-first"}})");
  Lines log;
  auto store = *FileStore::Open({.directory = dir.path()});
  ManagerOptions o;
  o.store = store;
  o.logger = log.logger;
  ManagerFixture f(std::move(o));
  std::unique_ptr<Watcher> watcher;
  // A report handler that calls back into the Manager and the watcher's config: no deadlock.
  watcher = *Watcher::Create({.manager = f.manager.get(),
                              .store = store,
                              .config_path = dir.File("config.json"),
                              .on_report = [&](const WatchReport&) { (void)f.manager->List(); },
                              .use_inotify = false});
  dir.Write("a.json", R"({"type":"claude"})");
  dir.Write("b.json", "[1]");
  REQUIRE(watcher->Sync().ok());
  CHECK(log.Has("info watcher: a.json: file added"));
  CHECK(log.Has("warning watcher: b.json: skipped: "));
  CHECK(log.Has("warning config: " + dir.File("config.json") +
                ": unknown config key \"routing.stratgey\" (did you mean \"routing.strategy\"?)"));
  dir.Write("config.json", R"({"request-retry": 1000})");
  REQUIRE(watcher->Sync().ok());
  CHECK(log.Has("error config: " + dir.File("config.json") +
                ": rejected, the previous configuration stays: request-retry: must be at most 100"));
}

TEST_CASE("A config-only watcher applies a config file without an auth directory", "[diagnostics][watcher]") {
  TempDir dir;
  dir.Write("config.json", R"({"routing": {"strategy": "round-robin"}})");
  ManagerFixture f;
  Config initial = *ParseConfig(dir.Read("config.json"));
  auto watcher = *Watcher::Create({.manager = f.manager.get(),
                                   .config_path = dir.File("config.json"),
                                   .config = initial,
                                   .use_inotify = false});
  REQUIRE(watcher->Sync().ok());
  dir.Write("config.json", R"({"routing": {"strategy": "fill-first"}})");
  REQUIRE(watcher->Sync().ok());
  CHECK(f.manager->strategy() == RoutingStrategy::kFillFirst);
  CHECK_FALSE(Watcher::Create({.manager = f.manager.get()}).ok());  // neither store nor config
}

TEST_CASE("Redacted credential JSON hides every secret and keeps the rest", "[diagnostics]") {
  Credential c;
  c.id = "a.json";
  c.provider = "claude";
  c.attributes["api_key"] = kSecret;
  c.attributes["header:Authorization"] = std::string("Bearer ") + kSecret;
  c.attributes["header:X-Trace"] = "visible";
  c.attributes["priority"] = "3";
  c.metadata = *Metadata::Parse(std::string(R"({"email":"a@example.com","access_token":")") + kSecret +
                                R"(","token":{"refresh_token":")" + kSecret +
                                R"(","token_type":"Bearer"},"list":[{"client_secret":")" + kSecret +
                                R"("}],"expires_in":3600})");
  const std::string redacted = CredentialToJson(c, {.redact_secrets = true});
  CHECK(redacted.find(kSecret) == std::string::npos);
  CHECK(redacted.find("a@example.com") != std::string::npos);
  CHECK(redacted.find("visible") != std::string::npos);
  CHECK(redacted.find("\"token_type\":\"[redacted]\"") != std::string::npos);  // under "token"
  CHECK(redacted.find("\"expires_in\":3600") != std::string::npos);
  CHECK(redacted.find("[redacted]") != std::string::npos);
  absl::StatusOr<Credential> back = CredentialFromJson(redacted);
  REQUIRE(back.ok());  // still a valid record
  CHECK(back->attributes.at("priority") == "3");
  CHECK(CredentialToJson(c).find(kSecret) != std::string::npos);  // persistence keeps them
  // Everything under a secret key, however nested; more spellings of secret names.
  Credential d;
  d.id = "b.json";
  d.provider = "claude";
  d.metadata = *Metadata::Parse(std::string(R"({"api_key":{"primary":")") + kSecret +
                                R"("},"token":{"value":")" + kSecret + R"("},"cookies":")" + kSecret +
                                R"(","sessionKey":")" + kSecret + R"(","key":")" + kSecret +
                                R"(","creds":[")" + "x" + R"("],"token_type":"Bearer"})");
  const std::string nested = CredentialToJson(d, {.redact_secrets = true});
  CHECK(nested.find(kSecret) == std::string::npos);
  CHECK(nested.find("\"token_type\":\"Bearer\"") != std::string::npos);
  CHECK(IsSecretKey("session-key"));
  CHECK(IsSecretKey("X_API_KEY"));
  CHECK(IsSecretKey("refresh_token"));
  CHECK(IsSecretKey("API_KEY"));
  CHECK_FALSE(IsSecretKey("token_type"));
  CHECK_FALSE(IsSecretKey("email"));
}

}  // namespace
}  // namespace authrouter
