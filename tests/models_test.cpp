// Which models a credential serves: the catalog, a credential's own models and exclusions, the
// host's registrations, and how they combine (models.h) -- through the Manager, the config file,
// auth files and the watcher.
#include <catch2/catch.hpp>

#include "authrouter/config.h"
#include "authrouter/file_store.h"
#include "authrouter/models.h"
#include "authrouter/watcher.h"
#include "support/manager_fixture.h"
#include "support/memory_store.h"
#include "support/temp_dir.h"

namespace authrouter {
namespace {

using testing::CoolingState;
using testing::ManagerFixture;
using testing::UpstreamOptions;
using testing::TempDir;

ModelCatalog Catalog(std::map<std::string, std::vector<std::string>, std::less<>> models,
                     std::map<std::string, std::vector<std::string>, std::less<>> excluded = {}) {
  ModelCatalog c;
  c.models = std::move(models);
  c.excluded = std::move(excluded);
  return c;
}

ManagerOptions WithCatalog(ModelCatalog catalog) {
  ManagerOptions o;
  o.model_catalog = std::move(catalog);
  return o;
}

Credential Cred(std::string id, std::string provider = "claude") {
  Credential c;
  c.id = std::move(id);
  c.provider = std::move(provider);
  c.status = CredentialStatus::kActive;
  return c;
}

std::string Reason(const absl::StatusOr<PickResult>& r) {
  if (r.ok()) return "picked " + r->credential->id;
  std::optional<RoutingError> e = GetRoutingError(r.status());
  return e ? std::string(RoutingReasonName(e->reason)) : std::string(r.status().message());
}

TEST_CASE("Model patterns: exact names, globs ignoring case, no exponential backtracking",
          "[models]") {
  CHECK(ModelPatternMatches("claude-sonnet-4-5", "claude-sonnet-4-5"));
  CHECK_FALSE(ModelPatternMatches("claude-sonnet-4-5", "Claude-Sonnet-4-5"));  // exact: as written
  CHECK(ModelPatternMatches("claude-*", "claude-opus-4-1"));
  CHECK(ModelPatternMatches("claude-*", "CLAUDE-opus"));
  CHECK(ModelPatternMatches("*-mini", "gpt-5-mini"));
  CHECK(ModelPatternMatches("gpt-*-codex*", "gpt-5-codex-high"));
  CHECK(ModelPatternMatches("*", "anything"));
  CHECK_FALSE(ModelPatternMatches("*", "team-a/claude-x"));  // `*` never spans a '/'
  CHECK_FALSE(ModelPatternMatches("*-mini", "team-a/gpt-mini"));
  CHECK(ModelPatternMatches("team-a/*", "team-a/claude-x"));
  CHECK(ModelPatternMatches("*/claude-*", "team-a/claude-x"));
  CHECK(ModelPatternMatches("claude-*", "claude-"));
  CHECK_FALSE(ModelPatternMatches("claude-*", "gpt-5"));
  CHECK_FALSE(ModelPatternMatches("*-mini", "gpt-5-mini-x"));
  // A pathological pattern against a long text finishes at once.
  const std::string text(20000, 'a');
  CHECK_FALSE(ModelPatternMatches("*a*a*a*a*a*a*a*a*a*a*b", text));
  CHECK(NormalizeModelPatterns({" b ", "a(high)", "a", "", "c-*"}) ==
        std::vector<std::string>{"a", "b", "c-*"});
}

TEST_CASE("A credential serves its provider's catalog models as soon as it is registered",
          "[models]") {
  ManagerFixture f(WithCatalog(Catalog({{"Claude", {"claude-*"}}, {"codex", {"gpt-5"}}})));
  REQUIRE(f.manager->Register(Cred("a")).ok());
  REQUIRE(f.manager->Register(Cred("x", "codex")).ok());
  CHECK(f.PickId("claude", "claude-sonnet-4-5") == "a");
  CHECK(f.PickId("claude", "claude-opus-4-1(16384)") == "a");  // thinking suffix ignored
  CHECK(f.PickId("codex", "gpt-5") == "x");
  CHECK(Reason(f.manager->Pick("codex", "gpt-4")) == "model_not_served");
  CHECK(Reason(f.manager->Pick("claude", "gpt-5")) == "model_not_served");
  const std::optional<ServedModels> served = f.manager->GetServedModels("a");
  REQUIRE(served);
  CHECK(served->source == ModelSource::kCatalog);
  CHECK(served->models == std::vector<std::string>{"claude-*"});
  CHECK(f.manager->Models("a") == std::vector<std::string>{"claude-*"});
  CHECK_FALSE(f.manager->GetServedModels("nobody"));
}

TEST_CASE("A credential's own models replace the catalog -- exclusions apply to every source",
          "[models]") {
  ManagerFixture f(WithCatalog(Catalog({{"claude", {"claude-*"}}}, {{"claude", {"claude-3-*"}}})));
  Credential own = Cred("own");
  own.attributes["models"] = "claude-opus-4-1, claude-3-haiku";
  Credential excl = Cred("excl");
  excl.attributes["excluded_models"] = "claude-opus-*";
  REQUIRE(f.manager->Register(own).ok());
  REQUIRE(f.manager->Register(excl).ok());
  CHECK(f.manager->GetServedModels("own")->source == ModelSource::kCredential);
  // Only "own" serves opus (excluded for "excl"); nobody serves claude-3-* (catalog exclusion).
  CHECK(f.PickIds("claude", 4, "claude-opus-4-1") ==
        std::vector<std::string>{"own", "own", "own", "own"});
  CHECK(f.PickId("claude", "claude-sonnet-4-5") == "excl");
  CHECK(Reason(f.manager->Pick("claude", "claude-3-haiku")) == "model_not_served");
  // The host's registration wins over both, and exclusions still hold for it.
  f.manager->RegisterModels("excl", {"claude-opus-4-1", "claude-haiku-4"});
  CHECK(f.manager->GetServedModels("excl")->source == ModelSource::kHost);
  CHECK(f.PickIds("claude", 3, "claude-opus-4-1") == std::vector<std::string>{"own", "own", "own"});
  CHECK(f.PickId("claude", "claude-haiku-4") == "excl");
  CHECK(Reason(f.manager->Pick("claude", "claude-sonnet-4-5")) == "model_not_served");
  // Dropping the host's registration falls back to the catalog.
  f.manager->UnregisterModels("excl");
  CHECK(f.manager->GetServedModels("excl")->source == ModelSource::kCatalog);
  CHECK(f.PickId("claude", "claude-sonnet-4-5") == "excl");
}

TEST_CASE("Catalog hot reload re-routes what changed and keeps cooldowns of models still served",
          "[models]") {
  ManagerFixture f(WithCatalog(Catalog({{"claude", {"claude-sonnet-4-5", "claude-opus-4-1"}}})));
  REQUIRE(f.manager->Register(Cred("a")).ok());
  Result r;
  r.credential_id = "a";
  r.model = "claude-sonnet-4-5";
  r.http_status = 429;
  r.retry_after = absl::Minutes(10);
  REQUIRE(f.manager->MarkResult(r).ok());
  r.model = "claude-opus-4-1";
  REQUIRE(f.manager->MarkResult(r).ok());
  CHECK(f.PickId("claude", "claude-sonnet-4-5") == "<model_cooldown>");

  // Sonnet stays (now through a glob), opus goes, haiku arrives.
  f.manager->SetModelCatalog(Catalog({{"claude", {"claude-sonnet-*", "claude-haiku-4"}}}));
  CHECK(f.PickId("claude", "claude-sonnet-4-5") == "<model_cooldown>");  // cooldown kept
  CHECK(f.PickId("claude", "claude-haiku-4") == "a");
  CHECK(Reason(f.manager->Pick("claude", "claude-opus-4-1")) == "model_not_served");
  auto a = f.manager->Get("a");
  CHECK(a->model_states.count("claude-sonnet-4-5") == 1);
  CHECK(a->model_states.count("claude-opus-4-1") == 0);  // not served: its state is dropped
  // The same catalog again changes nothing.
  f.manager->SetModelCatalog(Catalog({{"claude", {"claude-sonnet-*", "claude-haiku-4"}}}));
  CHECK(f.manager->Get("a") == a);
  // An empty catalog: nothing is served any more.
  f.manager->SetModelCatalog({});
  CHECK(f.manager->GetServedModels("a")->source == ModelSource::kNone);
  CHECK(Reason(f.manager->Pick("claude", "claude-haiku-4")) == "model_not_served");
}

TEST_CASE("A prefixed credential serves catalog patterns bare and under its prefix", "[models]") {
  ManagerFixture f(WithCatalog(Catalog({{"claude", {"claude-*"}}})));
  Credential c = Cred("p");
  c.prefix = "team-a";
  c.attributes["excluded_models"] = "claude-opus-*";
  REQUIRE(f.manager->Register(c).ok());
  CHECK(f.PickId("claude", "team-a/claude-sonnet-4-5") == "p");
  CHECK(f.PickId("claude", "claude-sonnet-4-5") == "p");
  CHECK(Reason(f.manager->Pick("claude", "team-a/claude-opus-4-1")) == "model_not_served");
  CHECK(Reason(f.manager->Pick("claude", "team-b/claude-sonnet-4-5")) == "model_not_served");
  // An unprefixed credential under a catch-all catalog does not serve prefixed names either.
  ManagerFixture g(WithCatalog(Catalog({{"claude", {"*"}}})));
  REQUIRE(g.manager->Register(Cred("plain")).ok());
  CHECK(g.PickId("claude", "claude-x") == "plain");
  CHECK(Reason(g.manager->Pick("claude", "team-a/claude-x")) == "model_not_served");
}

TEST_CASE("Glob shards stay bounded however many model names clients invent", "[models]") {
  ManagerFixture f(WithCatalog(Catalog({{"claude", {"claude-*"}}})));
  REQUIRE(f.manager->Register(Cred("a")).ok());
  REQUIRE(f.manager->Register(Cred("b")).ok());
  for (int i = 0; i < 3000; ++i) {
    REQUIRE(f.PickId("claude", testing::Name("claude-invented-", i)) != "");
  }
  // The first names' shards were dropped and are rebuilt on demand, state intact.
  Result r;
  r.credential_id = "a";
  r.model = "claude-invented-0";
  r.http_status = 429;
  r.retry_after = absl::Minutes(5);
  REQUIRE(f.manager->MarkResult(r).ok());
  CHECK(f.PickIds("claude", 3, "claude-invented-0") == std::vector<std::string>{"b", "b", "b"});
}

TEST_CASE("Config: model-catalog and oauth-excluded-models, valid and invalid", "[models][config]") {
  absl::StatusOr<Config> c = ParseConfig(
      R"({"model-catalog": {"Claude": ["claude-*", "claude-opus-4-1"], "codex": ["gpt-5"]},
          "oauth-excluded-models": {"claude": ["claude-3-*"]}})");
  REQUIRE(c.ok());
  CHECK(c->model_catalog.models.at("claude") ==
        std::vector<std::string>{"claude-*", "claude-opus-4-1"});
  CHECK(c->model_catalog.excluded.at("claude") == std::vector<std::string>{"claude-3-*"});
  CHECK(c->warnings.empty());
  for (const auto& [json, path] : std::vector<std::pair<std::string, std::string>>{
           {R"({"model-catalog": []})", "model-catalog"},
           {R"({"model-catalog": {"claude": "claude-*"}})", "model-catalog.claude"},
           {R"({"model-catalog": {"claude": [1]}})", "model-catalog.claude[0]"},
           {R"({"model-catalog": {"claude": [" "]}})", "model-catalog.claude[0]"},
           {R"({"model-catalog": {"claude": ["a,b"]}})", "model-catalog.claude[0]"},
           {R"({"model-catalog": {"claude": [], "CLAUDE": []}})", "model-catalog.CLAUDE"},
           {R"({"oauth-excluded-models": {"": ["x"]}})", "oauth-excluded-models."},
       }) {
    absl::StatusOr<Config> bad = ParseConfig(json);
    INFO(json);
    REQUIRE_FALSE(bad.ok());
    CHECK(std::string(bad.status().message()).starts_with(path + ":"));
  }
}

TEST_CASE("Config reload applies a new catalog to a live Manager", "[models][config]") {
  Config before = *ParseConfig(R"({"model-catalog": {"claude": ["claude-sonnet-4-5"]}})");
  ManagerOptions o;
  REQUIRE(ApplyToOptions(before, o).ok());
  ManagerFixture f(std::move(o));
  REQUIRE(f.manager->Register(Cred("a")).ok());
  CHECK(f.PickId("claude", "claude-sonnet-4-5") == "a");
  CHECK(Reason(f.manager->Pick("claude", "claude-opus-4-1")) == "model_not_served");
  Config after = *ParseConfig(
      R"({"model-catalog": {"claude": ["claude-*"]}, "oauth-excluded-models": {"claude": ["claude-3-*"]}})");
  absl::StatusOr<std::vector<std::string>> changed = ApplyConfig(*f.manager, before, after);
  REQUIRE(changed.ok());
  CHECK(*changed == std::vector<std::string>{"model-catalog", "oauth-excluded-models"});
  CHECK(f.PickId("claude", "claude-opus-4-1") == "a");
  CHECK(Reason(f.manager->Pick("claude", "claude-3-haiku")) == "model_not_served");
}

TEST_CASE("Auth files: models and excluded_models reach routing through Load and the watcher",
          "[models][file_store]") {
  TempDir dir;
  dir.Write("own.json", R"({"type":"claude","models":["claude-opus-4-1"]})");
  dir.Write("excl.json", R"({"type":"claude","excluded-models":["claude-opus-*"]})");
  dir.Write("bad.json", R"({"type":"claude","models":"claude-opus-4-1"})");
  std::vector<FileReport> reports;
  auto store = *FileStore::Open({.directory = dir.path(),
                                 .on_report = [&](const FileReport& r) { reports.push_back(r); }});
  ManagerOptions o = WithCatalog(Catalog({{"claude", {"claude-*"}}}));
  o.store = store;
  ManagerFixture f(std::move(o));
  REQUIRE(f.manager->Load().ok());
  CHECK(f.manager->Get("bad.json") == nullptr);  // skipped, with the reason
  bool reported = false;
  for (const FileReport& r : reports) {
    reported = reported || (r.file == "bad.json" && r.detail.find("models") != std::string::npos);
  }
  CHECK(reported);
  CHECK(f.PickIds("claude", 2, "claude-opus-4-1") == std::vector<std::string>{"own.json", "own.json"});
  CHECK(f.PickId("claude", "claude-sonnet-4-5") == "excl.json");

  // The watcher applies an edited exclusion list.
  auto watcher = *Watcher::Create({.manager = f.manager.get(), .store = store, .use_inotify = false});
  REQUIRE(watcher->Sync().ok());
  dir.Write("excl.json", R"({"type":"claude","excluded_models":["claude-sonnet-*"]})");
  REQUIRE(watcher->Sync().ok());
  CHECK(f.PickIds("claude", 2, "claude-sonnet-4-5") == std::vector<std::string>{"<auth_not_found>", "<auth_not_found>"});
  CHECK(f.PickId("claude", "claude-haiku-4") == "excl.json");
}

}  // namespace
}  // namespace authrouter

namespace authrouter {
namespace {

std::string Message(const absl::StatusOr<PickResult>& r) {
  return r.ok() ? "" : std::string(r.status().message());
}

TEST_CASE("A failed pick says why: a reason for machines, a message naming the cause",
          "[models][routing_error]") {
  ManagerFixture f(UpstreamOptions());  // a pool of one may be excluded
  // No credential of the provider at all.
  auto none = f.manager->Pick("claude", "m");
  CHECK(Reason(none) == "no_credentials");
  CHECK(Message(none) == "auth_not_found: no credential of provider claude is loaded (providers=claude, model=m)");
  // Upstream's body is unchanged.
  CHECK(GetRoutingError(none.status())->body ==
        R"j({"error":{"message":"auth_not_found: no auth available (providers=claude, model=m)","type":"server_error","code":"internal_server_error"}})j");
  CHECK(GetRoutingError(none.status())->http_status == 503);

  f.Add({.id = "a", .models = {"m"}});
  f.Add({.id = "b", .models = {"m"}});
  auto other = f.manager->Pick("claude", "other");
  CHECK(Reason(other) == "model_not_served");
  CHECK(Message(other).find("no credential of provider claude serves model other") != std::string::npos);

  const std::string_view claude[] = {"claude"};
  const std::string_view both[] = {"a", "b"};
  PickRequest tried;
  tried.providers = claude;
  tried.model = "m";
  tried.tried = both;
  CHECK(Reason(f.manager->Pick(tried)) == "all_tried");

  PickRequest pinned;
  pinned.providers = claude;
  pinned.model = "m";
  pinned.pinned_id = "zed";
  CHECK(Reason(f.manager->Pick(pinned)) == "pinned_unknown");
  f.Add({.id = "c", .models = {"n"}});
  pinned.pinned_id = "c";
  CHECK(Reason(f.manager->Pick(pinned)) == "pinned_not_serving");

  // Every credential serving "m" cooling: model_cooldown with the earliest retry.
  for (const char* id : {"a", "b"}) {
    Result r;
    r.credential_id = id;
    r.model = "m";
    r.http_status = 429;
    r.retry_after = std::string_view(id) == "a" ? absl::Seconds(90) : absl::Seconds(30);
    REQUIRE(f.manager->MarkResult(r).ok());
  }
  auto cooling = f.manager->Pick("claude", "m");
  CHECK(Reason(cooling) == "all_cooling");
  CHECK(GetRoutingError(cooling.status())->retry_after == absl::Seconds(30));
  CHECK(Message(cooling).find("the earliest is ready in 30s") != std::string::npos);

  // One cooling, one blocked by an error: auth_unavailable.
  Result err;
  err.credential_id = "c";
  err.model = "n";
  err.http_status = 500;
  REQUIRE(f.manager->MarkResult(err).ok());
  CHECK(Reason(f.manager->Pick("claude", "n")) == "all_unavailable");

  // Every credential disabled.
  for (const char* id : {"a", "b", "c"}) REQUIRE(f.manager->SetDisabled(id, true).ok());
  CHECK(Reason(f.manager->Pick("claude", "m")) == "all_disabled");
  pinned.pinned_id = "a";
  CHECK(Message(f.manager->Pick(pinned)).find("the pinned credential a is disabled") != std::string::npos);

  // No provider at all.
  PickRequest empty;
  CHECK(Reason(f.manager->Pick(empty)) == "no_provider");
}

}  // namespace
}  // namespace authrouter

// ---- fixes from the review of this change -----------------------------------------------------

namespace authrouter {
namespace {

TEST_CASE("A restart keeps saved cooldowns of models the host registers after Load",
          "[models][review]") {
  auto store = std::make_shared<testing::MemoryStore>();
  {
    ManagerOptions o = WithCatalog(Catalog({{"claude", {"claude-*"}}}));
    o.store = store;
    ManagerFixture before(std::move(o));
    Credential c = Cred("a");
    c.metadata = *Metadata::Parse(R"({"email":"a@example.com"})");
    REQUIRE(before.manager->Register(c).ok());
    before.manager->RegisterModels("a", {"my-alias"});
    Result r;
    r.credential_id = "a";
    r.model = "my-alias";
    r.http_status = 429;
    r.retry_after = absl::Hours(2);
    REQUIRE(before.manager->MarkResult(r).ok());
  }
  // The restart: Load first (the catalog is the only source then), the host registers after.
  ManagerOptions o = WithCatalog(Catalog({{"claude", {"claude-*"}}}));
  o.store = store;
  ManagerFixture after(std::move(o));
  REQUIRE(after.manager->Load().ok());
  CHECK(after.manager->Get("a")->model_states.count("my-alias") == 1);
  after.manager->RegisterModels("a", {"my-alias"});
  CHECK(after.PickId("claude", "my-alias") == "<model_cooldown>");  // the saved cooldown holds
  // Removing and re-creating it starts from a clean slate.
  REQUIRE(after.manager->Remove("a").ok());
  REQUIRE(after.manager->Register(Cred("a")).ok());
  CHECK(after.PickId("claude", "my-alias") == "a");
}

TEST_CASE("A client's model name with a NUL keeps the error body byte-identical", "[models][review]") {
  ManagerFixture f;
  f.Add({.id = "a", .models = {"m"}});
  const std::string model("x\0y", 3);
  absl::StatusOr<PickResult> r = f.manager->Pick("claude", model);
  REQUIRE_FALSE(r.ok());
  std::optional<RoutingError> e = GetRoutingError(r.status());
  REQUIRE(e);
  CHECK(e->reason == RoutingReason::kModelNotServed);
  CHECK(e->body == std::string(R"j({"error":{"message":"auth_not_found: no auth available (providers=claude, model=x\u0000y)","type":"server_error","code":"internal_server_error"}})j"));
  CHECK(e->detail.find(model) != std::string::npos);
}

TEST_CASE("Execute records an executor's success with an HTTP error status as that failure",
          "[models][review]") {
  ManagerFixture f;
  f.Add({.id = "a", .models = {"m"}});
  class Lying final : public Executor {
   public:
    Outcome Execute(const Attempt&) override {
      Outcome o;
      o.success = true;
      o.http_status = 503;
      return o;
    }
  } executor;
  ExecuteRequest req;
  const std::string_view claude[] = {"claude"};
  req.providers = claude;
  req.model = "m";
  absl::StatusOr<ExecuteResult> r = f.manager->Execute(req, executor);
  REQUIRE(r.ok());
  CHECK_FALSE(r->outcome.success);
  REQUIRE(f.manager->Get("a")->model_states.count("m") == 1);
  CHECK(f.manager->Get("a")->model_states.at("m").last_error->http_status == 503);
}

TEST_CASE("Watcher::ApplyConfig and the file share one configuration", "[models][review][watcher]") {
  TempDir dir;
  dir.Write("config.json", R"({"routing": {"strategy": "round-robin"}})");
  ManagerFixture f;
  const std::string text = dir.Read("config.json");
  auto watcher = *Watcher::Create({.manager = f.manager.get(),
                                   .config_path = dir.File("config.json"),
                                   .config = *ParseConfig(text),
                                   .use_inotify = false});
  dir.Write("config.json", R"({"routing": {"strategy": "fill-first"}})");
  REQUIRE(watcher->Sync().ok());
  CHECK(f.manager->strategy() == RoutingStrategy::kFillFirst);
  // An API reload diffs against what the file made current, so round-robin does apply.
  absl::StatusOr<std::vector<std::string>> changed =
      watcher->ApplyConfig(*ParseConfig(R"({"routing": {"strategy": "round-robin"}})"));
  REQUIRE(changed.ok());
  CHECK(*changed == std::vector<std::string>{"routing.strategy"});
  CHECK(f.manager->strategy() == RoutingStrategy::kRoundRobin);
  CHECK(watcher->config().strategy == RoutingStrategy::kRoundRobin);
}

TEST_CASE("A broken auth file is reported once, not on every look", "[models][review][watcher]") {
  TempDir dir;
  dir.Write("bad.json", R"({"type":)");
  int reports = 0;
  auto store = *FileStore::Open({.directory = dir.path()});
  ManagerOptions o;
  o.store = store;
  ManagerFixture f(std::move(o));
  auto watcher = *Watcher::Create({.manager = f.manager.get(),
                                   .store = store,
                                   .on_report = [&](const WatchReport& r) {
                                     if (r.kind == WatchReport::Kind::kSkipped) ++reports;
                                   },
                                   .use_inotify = false});
  LoadReport report;
  REQUIRE(f.manager->Load(&report).ok());
  CHECK(report.skipped.size() == 1);
  for (int i = 0; i < 5; ++i) REQUIRE(watcher->Sync().ok());
  CHECK(reports == 0);  // Load reported it; the same content is not reported again
  dir.Write("bad.json", R"({"type":1})");
  for (int i = 0; i < 5; ++i) REQUIRE(watcher->Sync().ok());
  CHECK(reports == 1);  // a new broken content is reported, once
  dir.Write("bad.json", R"({"type":"claude"})");
  REQUIRE(watcher->Sync().ok());
  CHECK(f.manager->Get("bad.json") != nullptr);  // fixed: loaded
}

}  // namespace
}  // namespace authrouter
