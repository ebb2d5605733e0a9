// quickstart: authrouter on its defaults -- an auth directory of credential files and a config
// file, as the upstream proxy keeps them (examples/auth/*.json, examples/config.json).
//
// 1. Copies the sample directory to a scratch place (the store writes into it), reads the
//    config, opens the FileStore and loads the credentials, and lets the Watcher register them
//    with the models each provider serves.
// 2. Picks: round-robin in the best priority tier; a conversation stays on one credential
//    (session affinity from the X-Session-ID header).
// 3. Reports an upstream 429 for the credential serving the conversation: the conversation
//    fails over, and the cooldown is saved next to the credential file (it survives restarts).
// 4. Edits the config file: the watcher applies the new strategy without touching cooldowns.
//    Drops a new credential file into the directory: it becomes pickable.
//
// Usage: authrouter_quickstart [examples-dir]
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "authrouter/authrouter.h"
#include "authrouter/config.h"
#include "authrouter/file_store.h"
#include "authrouter/manager.h"
#include "authrouter/watcher.h"

namespace ar = authrouter;
namespace fs = std::filesystem;

namespace {

#ifndef AUTHROUTER_EXAMPLES_DIR
#define AUTHROUTER_EXAMPLES_DIR "examples"
#endif

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
  fs::permissions(p, fs::perms::owner_read | fs::perms::owner_write);
}

std::string Show(const absl::StatusOr<ar::PickResult>& pick) {
  if (pick.ok()) return pick->credential->id;
  const std::optional<ar::RoutingError> e = ar::GetRoutingError(pick.status());
  return e ? "<" + e->code + ">" : std::string(pick.status().message());
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "error: %s\n", std::string(s.message()).c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::printf("authrouter %s\n", authrouter_version_string());
  const fs::path examples = fs::absolute(argc > 1 ? argv[1] : AUTHROUTER_EXAMPLES_DIR);

  // A scratch copy: the store writes refreshed tokens and cooldown state into the directory.
  std::string scratch_template = (fs::temp_directory_path() / "authrouter-quickstart-XXXXXX").string();
  if (::mkdtemp(scratch_template.data()) == nullptr) return 1;
  const fs::path work = scratch_template;
  fs::copy(examples / "auth", work / "auth");
  for (const auto& e : fs::directory_iterator(work / "auth")) {
    fs::permissions(e.path(), fs::perms::owner_read | fs::perms::owner_write);  // git keeps 0644
  }
  fs::copy_file(examples / "config.json", work / "config.json");
  fs::current_path(work);  // the config's "auth-dir": "./auth" is relative to it

  // --- 1. config, store, manager, watcher ---
  absl::StatusOr<ar::Config> config = ar::ParseConfig(ReadFile("config.json"));
  if (!config.ok()) return Fail(config.status());
  ar::ManagerOptions options;
  if (absl::Status s = ar::ApplyToOptions(*config, options); !s.ok()) return Fail(s);
  ar::FileStoreOptions store_options;
  store_options.directory = config->auth_dir;
  absl::StatusOr<std::shared_ptr<ar::FileStore>> store = ar::FileStore::Open(store_options);
  if (!store.ok()) return Fail(store.status());
  options.store = *store;
  std::unique_ptr<ar::Manager> manager = *ar::Manager::Create(options);
  if (absl::Status s = manager->Load(); !s.ok()) return Fail(s);

  ar::WatcherOptions watch;
  watch.manager = manager.get();
  watch.store = *store;
  watch.config_path = (work / "config.json").string();
  watch.config = *config;
  // No models_for: the config's model-catalog says what each provider's credentials serve.
  watch.on_report = [](const ar::WatchReport& r) {
    if (r.kind == ar::WatchReport::Kind::kConfigApplied) {
      std::printf("  config reloaded: %s\n", r.detail.c_str());
    } else if (r.kind == ar::WatchReport::Kind::kAdded) {
      std::printf("  new credential file: %s\n", r.file.c_str());
    }
  };
  std::unique_ptr<ar::Watcher> watcher = *ar::Watcher::Create(watch);
  if (absl::Status s = watcher->Sync(); !s.ok()) return Fail(s);

  std::printf("\ncredentials from %s:\n", config->auth_dir.c_str());
  for (const auto& c : manager->List()) {
    std::printf("  %-20s provider=%-7s priority=%-3lld label=%s\n", c->id.c_str(),
                c->provider.c_str(), static_cast<long long>(c->Priority()), c->label.c_str());
  }

  // --- 2. picks ---
  std::printf("\nround-robin in the best tier (claude-backup has priority 0):\n ");
  for (int i = 0; i < 4; ++i) std::printf(" %s", Show(manager->Pick("claude", "claude-sonnet-4-5")).c_str());

  const std::string_view claude[] = {"claude"};
  const ar::HttpHeader session{"X-Session-ID", "conversation-42"};
  ar::PickRequest request;
  request.providers = claude;
  request.model = "claude-sonnet-4-5";
  request.headers = {&session, 1};
  std::printf("\n\nthe conversation with X-Session-ID conversation-42 stays put:\n ");
  std::string bound;
  for (int i = 0; i < 4; ++i) {
    absl::StatusOr<ar::PickResult> pick = manager->Pick(request);
    if (!pick.ok()) return Fail(pick.status());
    bound = pick->credential->id;
    std::printf(" %s", bound.c_str());
  }

  // --- 3. a 429 on the bound credential ---
  absl::StatusOr<ar::PickResult> pick = manager->Pick(request);
  if (!pick.ok()) return Fail(pick.status());
  ar::Result result;
  result.credential_id = pick->credential->id;
  result.model = "claude-sonnet-4-5";
  result.http_status = 429;
  result.retry_after = absl::Minutes(5);
  if (pick->session) result.session_key = *pick->session;
  if (absl::Status s = manager->MarkResult(result); !s.ok()) return Fail(s);
  std::printf("\n\n%s answered 429 (Retry-After 5 min); the conversation moves:\n ", bound.c_str());
  for (int i = 0; i < 3; ++i) std::printf(" %s", Show(manager->Pick(request)).c_str());
  // A decision record says why: what was taken, and why every other credential was not.
  ar::PickDecision why;
  request.decision = &why;
  (void)manager->Pick(request);
  request.decision = nullptr;
  std::printf("\n  why (PickRequest::decision): %s\n", why.Json().c_str());
  const bool saved = fs::exists(work / "auth" / (bound + ".state"));
  std::printf("\n  cooldown saved in auth/%s.state: %s\n", bound.c_str(), saved ? "yes" : "no");

  // --- 4. hot reload and a new file ---
  std::printf("\nedit config.json (fill-first) and add auth/claude-dave.json:\n");
  std::string text = ReadFile("config.json");
  text.replace(text.find("\"round-robin\""), 13, "\"fill-first\"");
  WriteFile("config.json", text);
  WriteFile(work / "auth" / "claude-dave.json",
            R"({"type":"claude","email":"dave@example.com","priority":10})");
  if (absl::Status s = watcher->Sync(); !s.ok()) return Fail(s);  // or watcher->Start()
  std::printf("  strategy now: %s\n ", std::string(ar::RoutingStrategyName(manager->strategy())).c_str());
  for (int i = 0; i < 3; ++i) std::printf(" %s", Show(manager->Pick("claude", "claude-sonnet-4-5")).c_str());
  const bool still_cooling = !manager->Get(bound)->model_states.empty();
  std::printf("\n  %s still cooling after the reload: %s\n", bound.c_str(), still_cooling ? "yes" : "no");

  // --- 5. what an operator sees: the redacted state view (no token, key or account value; the
  // label, which a file store sets to the account e-mail, is shown) ---
  std::printf("\nthe state view (Manager::StateView, docs/observability.md):\n%s\n",
              manager->StateView().c_str());

  // --- 6. and the metrics a host serves on its /metrics (Manager::Metrics().Prometheus()) ---
  const ar::MetricsSnapshot metrics = manager->Metrics();
  std::printf("\nsome metrics (the non-zero samples of four families; docs/observability.md):\n");
  for (const ar::MetricFamily& family : metrics.families) {
    if (family.name != "authrouter_picks_total" && family.name != "authrouter_cooldowns_entered_total" &&
        family.name != "authrouter_credentials" && family.name != "authrouter_session_lookups_total") {
      continue;
    }
    for (const ar::MetricSample& sample : family.samples) {
      if (sample.value == 0) continue;
      std::string labels;
      for (const auto& [k, v] : sample.labels) labels += (labels.empty() ? "" : ",") + k + "=\"" + v + "\"";
      std::printf("  %s{%s} %g\n", family.name.c_str(), labels.c_str(), sample.value);
    }
  }
  const bool counted =
      metrics.Value("authrouter_cooldowns_entered_total", {{"provider", "claude"}, {"cause", "quota"}}) == 1.0;

  fs::current_path(examples);
  fs::remove_all(work);
  return saved && still_cooling && counted ? 0 : 1;
}
