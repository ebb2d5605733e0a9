// Metrics (Manager::Metrics, the Prometheus exposition) and decision records, through the
// public API: exact counter values after scripted sequences, the exposition parsed back, the
// reasons a decision record gives, and no secret in any of them.
#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "authrouter/config.h"
#include "authrouter/manager.h"
#include "simdjson.h"
#include "support/fake_refresher.h"
#include "support/manager_fixture.h"
#include "support/memory_store.h"
#include "support/time_helpers.h"

using authrouter::testing::ManagerFixture;
using authrouter::testing::UpstreamOptions;
namespace ar = authrouter;

namespace {

// Value returns a sample's value, failing the test when the sample is missing.
double Value(const ar::MetricsSnapshot& s, std::string_view name,
             std::initializer_list<std::pair<std::string_view, std::string_view>> labels = {}) {
  std::optional<double> v = s.Value(name, labels);
  if (!v) {
    std::string what(name);
    for (const auto& [k, l] : labels) what += " " + std::string(k) + "=" + std::string(l);
    FAIL("no sample " << what);
  }
  return *v;
}

// Result holds views: `id` must outlive it (a literal, or a string of the caller's).
ar::Result Failure(std::string_view id, int status, std::optional<absl::Duration> retry = std::nullopt) {
  ar::Result r;
  r.credential_id = id;
  r.model = "m";
  r.http_status = status;
  r.error_message = "upstream said no";
  r.retry_after = retry;
  return r;
}

ar::Result Success(std::string_view id) {
  ar::Result r;
  r.credential_id = id;
  r.model = "m";
  r.success = true;
  r.http_status = 200;
  return r;
}

// ParsedSample is one line of the exposition.
struct ParsedSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Parsed {
  std::map<std::string, std::string> types;  // family -> type
  std::map<std::string, std::string> help;
  std::vector<ParsedSample> samples;
};

// Parse reads the Prometheus text format back (the subset the Manager writes: HELP and TYPE
// comments, samples with quoted, escaped label values, no timestamps), failing on anything
// else.
Parsed Parse(const std::string& text) {
  Parsed out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    REQUIRE_FALSE(line.empty());
    if (line.rfind("# HELP ", 0) == 0) {
      const size_t sp = line.find(' ', 7);
      REQUIRE(sp != std::string::npos);
      out.help[line.substr(7, sp - 7)] = line.substr(sp + 1);
      continue;
    }
    if (line.rfind("# TYPE ", 0) == 0) {
      const size_t sp = line.find(' ', 7);
      REQUIRE(sp != std::string::npos);
      const std::string family = line.substr(7, sp - 7);
      REQUIRE(out.help.count(family) == 1);  // HELP comes first
      REQUIRE(out.types.count(family) == 0);  // once per family
      out.types[family] = line.substr(sp + 1);
      continue;
    }
    REQUIRE(line[0] != '#');
    ParsedSample s;
    size_t i = 0;
    while (i < line.size() && (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '_' || line[i] == ':')) ++i;
    s.name = line.substr(0, i);
    REQUIRE_FALSE(s.name.empty());
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (line[i] != '}') {
        const size_t eq = line.find('=', i);
        REQUIRE(eq != std::string::npos);
        const std::string key = line.substr(i, eq - i);
        REQUIRE(line[eq + 1] == '"');
        std::string value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            ++j;
            REQUIRE(j < line.size());
            value += line[j] == 'n' ? '\n' : line[j];
          } else {
            value += line[j];
          }
        }
        REQUIRE(j < line.size());
        s.labels[key] = value;
        i = j + 1;
        if (line[i] == ',') ++i;
      }
      ++i;
    }
    REQUIRE(line[i] == ' ');
    const std::string v = line.substr(i + 1);
    s.value = v == "+Inf" ? HUGE_VAL : std::stod(v);
    // Its family was typed before it.
    std::string family = s.name;
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (out.types.count(family) == 0 && family.size() > suffix.size() &&
          family.compare(family.size() - suffix.size(), suffix.size(), suffix) == 0) {
        family.resize(family.size() - suffix.size());
      }
    }
    REQUIRE(out.types.count(family) == 1);
    out.samples.push_back(std::move(s));
  }
  return out;
}

double ParsedValue(const Parsed& p, const std::string& name, std::map<std::string, std::string> labels = {}) {
  for (const ParsedSample& s : p.samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  FAIL("no parsed sample " << name);
  return -1;
}

}  // namespace

TEST_CASE("Metrics count picks, results and cooldowns exactly, and the gauges follow the clock",
          "[metrics]") {
  ManagerFixture f(UpstreamOptions());  // every claude credential may be excluded
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  f.Add({.id = "c"});
  f.Add({.id = "g", .provider = "gemini"});

  for (int i = 0; i < 6; ++i) REQUIRE(f.manager->Pick("claude", "m").ok());
  REQUIRE(f.manager->Pick("gemini", "m").ok());
  auto unknown = f.manager->Pick("claude", "no-such-model");
  REQUIRE_FALSE(unknown.ok());
  CHECK(ar::GetRoutingError(unknown.status())->reason == ar::RoutingReason::kModelNotServed);
  const std::string_view both[] = {"claude", "gemini"};
  ar::PickRequest mixed;
  mixed.providers = both;
  mixed.model = "no-such-model";
  REQUIRE_FALSE(f.manager->Pick(mixed).ok());

  REQUIRE(f.manager->MarkResult(Failure("a", 429, absl::Seconds(30))).ok());
  REQUIRE(f.manager->MarkResult(Failure("a", 429, absl::Seconds(30))).ok());  // already cooling
  REQUIRE(f.manager->MarkResult(Failure("b", 401)).ok());
  REQUIRE(f.manager->MarkResult(Failure("c", 503)).ok());
  REQUIRE(f.manager->MarkResult(Failure("g", 418)).ok());
  REQUIRE(f.manager->MarkResult(Success("g")).ok());

  ar::MetricsSnapshot s = f.manager->Metrics();
  CHECK(Value(s, "authrouter_picks_total", {{"provider", "claude"}, {"outcome", "picked"}}) == 6);
  CHECK(Value(s, "authrouter_picks_total", {{"provider", "gemini"}, {"outcome", "picked"}}) == 1);
  CHECK(Value(s, "authrouter_picks_total", {{"provider", "claude"}, {"outcome", "failed"}}) == 1);
  CHECK(Value(s, "authrouter_picks_total", {{"provider", "mixed"}, {"outcome", "failed"}}) == 1);
  CHECK(Value(s, "authrouter_pick_failures_total",
              {{"code", "auth_not_found"}, {"reason", "model_not_served"}}) == 2);
  CHECK(Value(s, "authrouter_pick_failures_total", {{"code", "model_cooldown"}, {"reason", "all_cooling"}}) == 0);
  CHECK(Value(s, "authrouter_results_total", {{"provider", "claude"}, {"class", "429"}}) == 2);
  CHECK(Value(s, "authrouter_results_total", {{"provider", "claude"}, {"class", "401"}}) == 1);
  CHECK(Value(s, "authrouter_results_total", {{"provider", "claude"}, {"class", "5xx"}}) == 1);
  CHECK(Value(s, "authrouter_results_total", {{"provider", "claude"}, {"class", "success"}}) == 0);
  CHECK(Value(s, "authrouter_results_total", {{"provider", "gemini"}, {"class", "other"}}) == 1);
  CHECK(Value(s, "authrouter_results_total", {{"provider", "gemini"}, {"class", "success"}}) == 1);
  CHECK(Value(s, "authrouter_cooldowns_entered_total", {{"provider", "claude"}, {"cause", "quota"}}) == 1);
  CHECK(Value(s, "authrouter_cooldowns_entered_total", {{"provider", "claude"}, {"cause", "unauthorized"}}) == 1);
  CHECK(Value(s, "authrouter_cooldowns_entered_total", {{"provider", "claude"}, {"cause", "transient"}}) == 1);
  CHECK(Value(s, "authrouter_cooldowns_entered_total", {{"provider", "gemini"}, {"cause", "other"}}) == 0);
  CHECK(Value(s, "authrouter_credentials", {{"provider", "claude"}, {"state", "cooling"}}) == 3);
  CHECK(Value(s, "authrouter_credentials", {{"provider", "claude"}, {"state", "ready"}}) == 0);
  CHECK(Value(s, "authrouter_credentials", {{"provider", "gemini"}, {"state", "ready"}}) == 1);

  // Every claude credential cools: the failure is counted under its reason.
  auto out = f.manager->Pick("claude", "m");
  REQUIRE_FALSE(out.ok());
  const ar::RoutingError e = *ar::GetRoutingError(out.status());
  CHECK(e.reason == ar::RoutingReason::kAllUnavailable);
  s = f.manager->Metrics();
  CHECK(Value(s, "authrouter_pick_failures_total",
              {{"code", e.code}, {"reason", ar::RoutingReasonName(e.reason)}}) == 1);
  CHECK(Value(s, "authrouter_picks_total", {{"provider", "claude"}, {"outcome", "failed"}}) == 2);

  // 61 s later the quota and transient cooldowns are over: those two are picked again, with
  // their last result still an error; the 401's 30 min hold.
  f.clock.Advance(absl::Seconds(61));
  s = f.manager->Metrics();
  CHECK(Value(s, "authrouter_credentials", {{"provider", "claude"}, {"state", "cooling"}}) == 1);
  CHECK(Value(s, "authrouter_credentials", {{"provider", "claude"}, {"state", "error"}}) == 2);
  REQUIRE(f.manager->MarkResult(Success("a")).ok());
  REQUIRE(f.manager->SetDisabled("c", true).ok());
  s = f.manager->Metrics();
  CHECK(Value(s, "authrouter_credentials", {{"provider", "claude"}, {"state", "ready"}}) == 1);
  CHECK(Value(s, "authrouter_credentials", {{"provider", "claude"}, {"state", "disabled"}}) == 1);
  CHECK(Value(s, "authrouter_credentials", {{"provider", "claude"}, {"state", "cooling"}}) == 1);
  CHECK(Value(s, "authrouter_results_total", {{"provider", "claude"}, {"class", "success"}}) == 1);
  // A cooldown entered again after it ended counts again.
  REQUIRE(f.manager->MarkResult(Failure("a", 429, absl::Seconds(5))).ok());
  CHECK(Value(f.manager->Metrics(), "authrouter_cooldowns_entered_total",
              {{"provider", "claude"}, {"cause", "quota"}}) == 2);
}

TEST_CASE("Metrics count session lookups by outcome, bindings and evictions", "[metrics]") {
  ManagerFixture f({.session_affinity = true, .session_affinity_max_entries = 2});
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  const auto pick = [&](std::string_view session) {
    const ar::HttpHeader headers[] = {{"X-Session-ID", session}};
    ar::PickRequest r;
    const std::string_view providers[] = {"claude"};
    r.providers = providers;
    r.model = "m";
    r.headers = headers;
    auto p = f.manager->Pick(r);
    REQUIRE(p.ok());
    return p->credential->id;
  };
  const std::string first = pick("s1");                 // miss
  CHECK(pick("s1") == first);                           // hit
  CHECK(pick("s1") == first);                           // hit
  REQUIRE(f.manager->MarkResult(Failure(first, 429, absl::Minutes(5))).ok());
  CHECK(pick("s1") != first);                           // rebound: the bound one cools
  ar::MetricsSnapshot s = f.manager->Metrics();
  CHECK(Value(s, "authrouter_session_lookups_total", {{"outcome", "miss"}}) == 1);
  CHECK(Value(s, "authrouter_session_lookups_total", {{"outcome", "hit"}}) == 2);
  CHECK(Value(s, "authrouter_session_lookups_total", {{"outcome", "rebound"}, {"reason", "unavailable"}}) == 1);
  CHECK(Value(s, "authrouter_session_lookups_total", {{"outcome", "inherited"}}) == 0);
  CHECK(Value(s, "authrouter_session_bindings") == 1);
  CHECK(Value(s, "authrouter_session_evictions_total") == 0);

  (void)pick("s2");
  (void)pick("s3");  // the bound of 2 keys evicts the oldest session
  s = f.manager->Metrics();
  CHECK(Value(s, "authrouter_session_bindings") == 2);
  CHECK(Value(s, "authrouter_session_evictions_total") == 1);
  CHECK(Value(s, "authrouter_session_lookups_total", {{"outcome", "miss"}}) == 3);
  // Turning affinity off keeps the count (counters never fall).
  REQUIRE(f.manager->SetSessionAffinity(false, absl::Hours(1)).ok());
  s = f.manager->Metrics();
  CHECK(Value(s, "authrouter_session_evictions_total") == 1);
  CHECK(Value(s, "authrouter_session_bindings") == 0);
  // A pick without affinity counts no lookup.
  REQUIRE(f.manager->Pick("claude", "m").ok());
  CHECK(Value(f.manager->Metrics(), "authrouter_session_lookups_total", {{"outcome", "miss"}}) == 3);
}

TEST_CASE("Metrics count refreshes with their duration, store writes and config reloads",
          "[metrics]") {
  auto store = std::make_shared<ar::testing::MemoryStore>();
  auto refresher = std::make_shared<ar::testing::FakeRefresher>();
  ar::ManualClock clock{ar::testing::Utc(2026, 4, 17)};
  ar::ManagerOptions o;
  o.store = store;
  o.clock = &clock;
  o.refresh.refreshers["claude"] = refresher;
  auto manager = *ar::Manager::Create(std::move(o));
  const auto add = [&](const std::string& id) {
    ar::Credential c;
    c.id = id;
    c.provider = "claude";
    c.metadata = *ar::Metadata::Parse(R"({"type":"claude","refresh_token":"r-)" + id +
                                      R"(","access_token":"sk-ant-oat01-SECRET-)" + id + R"("})");
    return manager->Register(std::move(c));
  };
  REQUIRE(add("a").ok());
  REQUIRE(add("b").ok());
  store->fail_save = [](const ar::Credential& c) { return c.id == "x"; };
  REQUIRE_FALSE(add("x").ok());

  // A refresh that takes 2 s by the Manager's clock, then one that fails after 0.2 s.
  refresher->during = [&](const ar::Credential&) { clock.Advance(absl::Seconds(2)); };
  REQUIRE(manager->Refresh("a").ok());
  refresher->during = [&](const ar::Credential&) { clock.Advance(absl::Milliseconds(200)); };
  refresher->answer = [](const ar::Credential&, const ar::RefreshContext&) -> absl::StatusOr<ar::TokenUpdate> {
    return absl::UnavailableError("token endpoint down");
  };
  REQUIRE_FALSE(manager->Refresh("b").ok());

  ar::Config base;
  ar::Config bad = base;
  bad.retry.request_retry = 1000;
  REQUIRE(ar::ApplyConfig(*manager, base, base).ok());
  REQUIRE_FALSE(ar::ApplyConfig(*manager, base, bad).ok());

  const ar::MetricsSnapshot s = manager->Metrics();
  CHECK(Value(s, "authrouter_refreshes_total", {{"provider", "claude"}, {"outcome", "success"}}) == 1);
  CHECK(Value(s, "authrouter_refreshes_total", {{"provider", "claude"}, {"outcome", "failure"}}) == 1);
  CHECK(Value(s, "authrouter_refreshes_total", {{"provider", "claude"}, {"outcome", "dropped"}}) == 0);
  CHECK(Value(s, "authrouter_refresh_duration_seconds_bucket", {{"le", "0.1"}}) == 0);
  CHECK(Value(s, "authrouter_refresh_duration_seconds_bucket", {{"le", "0.25"}}) == 1);
  CHECK(Value(s, "authrouter_refresh_duration_seconds_bucket", {{"le", "1"}}) == 1);
  CHECK(Value(s, "authrouter_refresh_duration_seconds_bucket", {{"le", "2.5"}}) == 2);
  CHECK(Value(s, "authrouter_refresh_duration_seconds_bucket", {{"le", "+Inf"}}) == 2);
  CHECK(Value(s, "authrouter_refresh_duration_seconds_count") == 2);
  CHECK(Value(s, "authrouter_refresh_duration_seconds_sum") == Approx(2.2));
  // a, b saved; x refused; the refresh of a saved again (a failed refresh is memory only).
  CHECK(Value(s, "authrouter_store_writes_total", {{"outcome", "ok"}}) == 3);
  CHECK(Value(s, "authrouter_store_writes_total", {{"outcome", "error"}}) == 1);
  CHECK(Value(s, "authrouter_config_reloads_total", {{"outcome", "applied"}}) == 1);
  CHECK(Value(s, "authrouter_config_reloads_total", {{"outcome", "rejected"}}) == 1);

  const std::string text = s.Prometheus();
  CHECK(text.find("SECRET") == std::string::npos);
  CHECK(text.find("r-a") == std::string::npos);
}

TEST_CASE("The exposition parses back to the snapshot's names, types and values", "[metrics]") {
  ManagerFixture f({.session_affinity = true});
  f.Add({.id = "a"});
  f.Add({.id = "b", .provider = "codex"});
  for (int i = 0; i < 3; ++i) REQUIRE(f.manager->Pick("claude", "m").ok());
  REQUIRE(f.manager->MarkResult(Failure("a", 429, absl::Seconds(9))).ok());
  REQUIRE_FALSE(f.manager->Pick("claude", "m").ok());
  const ar::MetricsSnapshot s = f.manager->Metrics();
  const std::string text = s.Prometheus();
  const Parsed p = Parse(text);

  size_t samples = 0;
  for (const ar::MetricFamily& family : s.families) {
    CAPTURE(family.name);
    CHECK(family.name.rfind("authrouter_", 0) == 0);
    REQUIRE(p.types.count(family.name) == 1);
    CHECK(p.types.at(family.name) == ar::MetricTypeName(family.type));
    CHECK(p.help.at(family.name) == family.help);
    if (family.type == ar::MetricType::kCounter) CHECK(family.name.size() > 6);
    if (family.type == ar::MetricType::kCounter) {
      CHECK(family.name.compare(family.name.size() - 6, 6, "_total") == 0);
    }
    for (const ar::MetricSample& sample : family.samples) {
      std::map<std::string, std::string> labels(sample.labels.begin(), sample.labels.end());
      CHECK(ParsedValue(p, family.name + sample.suffix, labels) == sample.value);
      ++samples;
    }
  }
  CHECK(samples == p.samples.size());
  CHECK(ParsedValue(p, "authrouter_picks_total", {{"provider", "claude"}, {"outcome", "picked"}}) == 3);
  CHECK(ParsedValue(p, "authrouter_pick_failures_total", {{"code", "model_cooldown"}, {"reason", "all_cooling"}}) == 1);
  CHECK(ParsedValue(p, "authrouter_credentials", {{"provider", "codex"}, {"state", "ready"}}) == 1);

  // The JSON form carries the same samples.
  simdjson::dom::parser parser;
  simdjson::dom::element json = parser.parse(s.Json());
  size_t json_samples = 0;
  for (simdjson::dom::element family : json["families"].get_array()) {
    json_samples += simdjson::dom::array(family["samples"]).size();
  }
  CHECK(json_samples == samples);
}

TEST_CASE("The exposition escapes label values and help text", "[metrics]") {
  ar::MetricsSnapshot s;
  s.families.push_back({"x_total", "a \\ help\nline", ar::MetricType::kCounter,
                        {{"", {{"v", "quote\" back\\ nl\n end"}}, 3}}});
  const std::string text = s.Prometheus();
  CHECK(text == "# HELP x_total a \\\\ help\\nline\n# TYPE x_total counter\n"
                "x_total{v=\"quote\\\" back\\\\ nl\\n end\"} 3\n");
  const Parsed p = Parse(text);
  CHECK(ParsedValue(p, "x_total", {{"v", "quote\" back\\ nl\n end"}}) == 3);
}

TEST_CASE("Metrics off count nothing and per-credential series are opt-in by ID or hash", "[metrics]") {
  SECTION("off") {
    ManagerFixture f({.metrics = false});
    f.Add({.id = "a"});
    REQUIRE(f.manager->Pick("claude", "m").ok());
    REQUIRE(f.manager->MarkResult(Failure("a", 429, absl::Seconds(5))).ok());
    const ar::MetricsSnapshot s = f.manager->Metrics();
    CHECK(Value(s, "authrouter_credentials", {{"provider", "claude"}, {"state", "cooling"}}) == 1);
    CHECK(Value(s, "authrouter_picks_total", {{"provider", "claude"}, {"outcome", "picked"}}) == 0);
    CHECK(Value(s, "authrouter_results_total", {{"provider", "claude"}, {"class", "429"}}) == 0);
    CHECK(Value(s, "authrouter_cooldowns_entered_total", {{"provider", "claude"}, {"cause", "quota"}}) == 0);
    CHECK(s.Find("authrouter_credential_picks_total") == nullptr);
  }
  SECTION("by ID") {
    ManagerFixture f({.metrics_credentials = ar::CredentialSeries::kId});
    f.Add({.id = "a"});
    f.Add({.id = "b"});
    for (int i = 0; i < 4; ++i) REQUIRE(f.manager->Pick("claude", "m").ok());
    REQUIRE(f.manager->MarkResult(Failure("a", 403)).ok());
    const ar::MetricsSnapshot s = f.manager->Metrics();
    CHECK(Value(s, "authrouter_credential_picks_total", {{"credential", "a"}}) == 2);
    CHECK(Value(s, "authrouter_credential_picks_total", {{"credential", "b"}}) == 2);
    CHECK(Value(s, "authrouter_credential_results_total", {{"credential", "a"}, {"class", "403"}}) == 1);
    CHECK(Value(s, "authrouter_cooldowns_entered_total", {{"provider", "claude"}, {"cause", "forbidden"}}) == 1);
    // A removed credential's series go with it.
    REQUIRE(f.manager->Remove("b").ok());
    CHECK_FALSE(f.manager->Metrics().Value("authrouter_credential_picks_total", {{"credential", "b"}}));
  }
  SECTION("by hash") {
    ManagerFixture f({.metrics_credentials = ar::CredentialSeries::kHash});
    f.Add({.id = "a"});
    REQUIRE(f.manager->Pick("claude", "m").ok());
    const ar::MetricsSnapshot s = f.manager->Metrics();
    // SHA-256("a") = ca978112ca1bbdca fac231b3...
    CHECK(Value(s, "authrouter_credential_picks_total", {{"credential", "h:ca978112ca1bbdca"}}) == 1);
    CHECK(s.Prometheus().find("credential=\"a\"") == std::string::npos);
  }
  SECTION("an out-of-range series value is refused") {
    ar::ManagerOptions o;
    o.metrics_credentials = static_cast<ar::CredentialSeries>(9);
    CHECK(ar::Manager::Create(o).status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("Metrics from many threads add up", "[metrics]") {
  ManagerFixture f;
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  constexpr int kThreads = 4, kPicks = 2000;
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kPicks; ++i) {
        if (!f.manager->Pick("claude", "m").ok()) failed.fetch_add(1);
      }
    });
  }
  // Snapshots taken meanwhile never exceed the final count.
  double seen = 0;
  for (int i = 0; i < 20; ++i) {
    const double now = f.manager->Metrics()
                           .Value("authrouter_picks_total", {{"provider", "claude"}, {"outcome", "picked"}})
                           .value_or(-1);
    CHECK(now >= seen);  // never falls
    CHECK(now <= kThreads * kPicks);
    seen = now;
  }
  for (auto& t : threads) t.join();
  CHECK(failed.load() == 0);
  CHECK(Value(f.manager->Metrics(), "authrouter_picks_total", {{"provider", "claude"}, {"outcome", "picked"}}) ==
        kThreads * kPicks);
}

TEST_CASE("A failed pick's decision record names each credential's true reason", "[decision]") {
  ManagerFixture f;
  f.Add({.id = "cooling"});
  f.Add({.id = "disabled"});
  f.Add({.id = "tried"});
  f.Add({.id = "other-model", .models = {"n"}});
  {
    ar::Credential c = f.Make({.id = "excluded"});
    c.attributes["excluded_models"] = "m";
    f.AddCredential(std::move(c), {"m", "n"});
  }
  f.Add({.id = "elsewhere", .provider = "gemini"});  // not asked for: not listed
  REQUIRE(f.manager->MarkResult(Failure("cooling", 429, absl::Seconds(40))).ok());
  REQUIRE(f.manager->SetDisabled("disabled", true).ok());

  const std::string_view providers[] = {" Claude "};
  const std::string_view tried[] = {"tried"};
  ar::PickDecision why;
  ar::PickRequest r;
  r.providers = providers;
  r.model = "m(high)";
  r.tried = tried;
  r.decision = &why;
  auto pick = f.manager->Pick(r);
  REQUIRE_FALSE(pick.ok());

  CHECK_FALSE(why.picked);
  CHECK(why.providers == std::vector<std::string>{"claude"});
  CHECK(why.model == "m(high)");
  CHECK(why.model_key == "m");
  CHECK(why.strategy == "round-robin");
  CHECK(why.error_code == ar::GetRoutingError(pick.status())->code);
  CHECK(why.error_reason == ar::RoutingReasonName(ar::GetRoutingError(pick.status())->reason));
  CHECK_FALSE(why.tier.has_value());
  REQUIRE(why.skipped.size() == 5);
  std::map<std::string, ar::DecisionCandidate> by_id;
  for (const auto& k : why.skipped) by_id[k.id] = k;
  CHECK(by_id.at("cooling").reason == ar::SkipReason::kCooling);
  CHECK(by_id.at("cooling").model == "m");
  CHECK(by_id.at("cooling").until == f.clock.Now() + absl::Seconds(40));
  CHECK(by_id.at("cooling").cause == "quota");
  CHECK(by_id.at("disabled").reason == ar::SkipReason::kDisabled);
  CHECK(by_id.at("tried").reason == ar::SkipReason::kTried);
  CHECK(by_id.at("other-model").reason == ar::SkipReason::kModelNotServed);
  CHECK(by_id.at("excluded").reason == ar::SkipReason::kModelExcluded);
  CHECK(why.skipped.front().id == "cooling");  // sorted by ID

  simdjson::dom::parser parser;
  simdjson::dom::element json = parser.parse(why.Json());
  CHECK(std::string_view(json["outcome"].get_string()) == "failed");
  CHECK(std::string_view(json["error"]["reason"].get_string()) == why.error_reason);
  std::map<std::string, std::string> reasons;
  for (simdjson::dom::element k : json["skipped"].get_array()) {
    reasons[std::string(std::string_view(k["id"].get_string()))] = std::string(std::string_view(k["reason"].get_string()));
    if (std::string_view(k["id"].get_string()) == "cooling") {
      CHECK(std::string_view(k["cause"].get_string()) == "quota");
      CHECK(std::string_view(k["until"].get_string()) == "2026-04-17T00:00:40Z");
    }
  }
  CHECK(reasons == std::map<std::string, std::string>{{"cooling", "cooling"},
                                                      {"disabled", "disabled"},
                                                      {"excluded", "model_excluded"},
                                                      {"other-model", "model_not_served"},
                                                      {"tried", "tried"}});
}

TEST_CASE("A successful pick's decision record gives the tier, the session and the rest",
          "[decision]") {
  ManagerFixture f({.session_affinity = true});
  f.Add({.id = "high-1", .priority = "10"});
  f.Add({.id = "high-2", .priority = "10"});
  f.Add({.id = "low", .priority = "0"});
  f.Add({.id = "unauthorized", .priority = "10"});
  REQUIRE(f.manager->MarkResult(Failure("unauthorized", 401)).ok());

  const ar::HttpHeader headers[] = {{"X-Session-ID", "planted-session-id"}};
  const std::string_view providers[] = {"claude"};
  ar::PickDecision why;
  ar::PickRequest r;
  r.providers = providers;
  r.model = "m";
  r.headers = headers;
  r.tenant = "planted-tenant";
  r.decision = &why;
  auto first = f.manager->Pick(r);
  REQUIRE(first.ok());
  CHECK(why.picked);
  CHECK(why.picked_id == first->credential->id);
  CHECK(why.tier == 10);
  CHECK(why.session == ar::SessionOutcome::kMiss);
  std::map<std::string, ar::SkipReason> reasons;
  for (const auto& k : why.skipped) reasons[k.id] = k.reason;
  const std::string other = first->credential->id == "high-1" ? "high-2" : "high-1";
  CHECK(reasons == std::map<std::string, ar::SkipReason>{{other, ar::SkipReason::kNotChosen},
                                                         {"low", ar::SkipReason::kLowerTier},
                                                         {"unauthorized", ar::SkipReason::kCooling}});
  for (const auto& k : why.skipped) {
    if (k.id == "unauthorized") CHECK(k.cause == "unauthorized");
  }
  REQUIRE(f.manager->Pick(r).ok());
  CHECK(why.session == ar::SessionOutcome::kHit);
  const std::string json = why.Json();
  CHECK(json.find("\"session\":{\"outcome\":\"hit\"") != std::string::npos);
  CHECK(json.find("planted") == std::string::npos);
}

TEST_CASE("No metric, snapshot or decision record holds a planted secret", "[metrics][decision]") {
  constexpr const char* kSecrets[] = {"sk-ant-oat01-PLANTED", "rt-PLANTED", "PLANTED-KEY",
                                      "PLANTED-ECHO", "planted-session", "planted-tenant",
                                      "planted@example.com"};
  ManagerFixture f({.session_affinity = true, .metrics_credentials = ar::CredentialSeries::kId});
  ar::Credential c = f.Make({.id = "a"});
  c.metadata = *ar::Metadata::Parse(
      R"({"type":"claude","email":"planted@example.com","access_token":"sk-ant-oat01-PLANTED",)"
      R"("refresh_token":"rt-PLANTED"})");
  c.attributes["api_key"] = "PLANTED-KEY";
  f.AddCredential(std::move(c));
  f.Add({.id = "b"});
  const ar::HttpHeader headers[] = {{"X-Session-ID", "planted-session"}};
  const std::string_view providers[] = {"claude"};
  ar::PickDecision why;
  ar::PickRequest r;
  r.providers = providers;
  r.model = "m";
  r.headers = headers;
  r.tenant = "planted-tenant";
  r.decision = &why;
  REQUIRE(f.manager->Pick(r).ok());
  ar::Result fail = Failure("a", 429, absl::Seconds(5));
  fail.error_message = "PLANTED-ECHO of sk-ant-oat01-PLANTED";
  const absl::Status marked = f.manager->MarkResult(fail);
  INFO(marked.ToString());
  REQUIRE(marked.ok());
  REQUIRE(f.manager->Pick(r).ok());
  const ar::MetricsSnapshot s = f.manager->Metrics();
  for (const std::string& text : {s.Prometheus(), s.Json(), why.Json(), f.manager->StateView()}) {
    for (const char* secret : kSecrets) {
      CAPTURE(secret);
      CHECK(text.find(secret) == std::string::npos);
    }
  }
}

namespace {

// FailingExecutor answers every attempt with a 500.
class FailingExecutor : public ar::Executor {
 public:
  ar::Outcome Execute(const ar::Attempt&) override {
    ++calls;
    ar::Outcome o;
    o.http_status = 500;
    o.error_message = "upstream broke";
    return o;
  }
  int calls = 0;
};

}  // namespace

TEST_CASE("Execute counts its attempts' picks and one failure only when nothing was called",
          "[metrics]") {
  ManagerFixture f(UpstreamOptions());
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  FailingExecutor executor;
  const std::string_view providers[] = {"claude"};
  ar::ExecuteRequest request;
  request.providers = providers;
  request.model = "m";
  auto r = f.manager->Execute(request, executor);
  REQUIRE(r.ok());
  CHECK(executor.calls == 2);
  ar::MetricsSnapshot s = f.manager->Metrics();
  CHECK(Value(s, "authrouter_picks_total", {{"provider", "claude"}, {"outcome", "picked"}}) == 2);
  // The round ended with every credential tried: an upstream failure, not a routing one.
  CHECK(Value(s, "authrouter_picks_total", {{"provider", "claude"}, {"outcome", "failed"}}) == 0);
  CHECK(Value(s, "authrouter_results_total", {{"provider", "claude"}, {"class", "5xx"}}) == 2);
  // Now both cool (transient, 60 s): nothing can be called, and that failure counts once.
  auto none = f.manager->Execute(request, executor);
  REQUIRE_FALSE(none.ok());
  s = f.manager->Metrics();
  CHECK(Value(s, "authrouter_picks_total", {{"provider", "claude"}, {"outcome", "failed"}}) == 1);
  CHECK(Value(s, "authrouter_pick_failures_total",
              {{"code", ar::GetRoutingError(none.status())->code},
               {"reason", ar::RoutingReasonName(ar::GetRoutingError(none.status())->reason)}}) == 1);
  // A provider the pool never knew counts as "unknown", not under its text.
  REQUIRE_FALSE(f.manager->Pick("planted-typo", "m").ok());
  s = f.manager->Metrics();
  CHECK(Value(s, "authrouter_picks_total", {{"provider", "unknown"}, {"outcome", "failed"}}) == 1);
  CHECK(s.Prometheus().find("planted-typo") == std::string::npos);
}

TEST_CASE("Session lookups of conversations that share an opening", "[metrics]") {
  ManagerFixture f({.session_affinity = true});
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  const auto pick = [&](const std::string& body) {
    ar::PickRequest r;
    const std::string_view providers[] = {"claude"};
    r.providers = providers;
    r.model = "m";
    r.body = body;
    REQUIRE(f.manager->Pick(r).ok());
  };
  const std::string opening = R"({"messages":[{"role":"user","content":"You are a helpful bot. Hi"}]})";
  pick(opening);  // a conversation's first request: miss, binds the opening
  pick(opening);  // another conversation opening the same way: the opening is shared
  pick(R"({"messages":[{"role":"user","content":"You are a helpful bot. Hi"},)"
       R"({"role":"assistant","content":"Hello"},{"role":"user","content":"Tell me a joke"}]})");
  const ar::MetricsSnapshot s = f.manager->Metrics();
  CHECK(Value(s, "authrouter_session_lookups_total", {{"outcome", "rebound"}, {"reason", "shared_opening"}}) == 1);
  // The continuation of a shared opening has nothing to follow: a miss, not a rebind.
  CHECK(Value(s, "authrouter_session_lookups_total", {{"outcome", "miss"}}) == 2);
  CHECK(Value(s, "authrouter_session_lookups_total", {{"outcome", "rebound"}, {"reason", "unavailable"}}) == 0);
}

TEST_CASE("Decision records name pinned, weight and websocket reasons", "[decision]") {
  SECTION("pinned and weight 0") {
    ManagerFixture f({.strategy = ar::RoutingStrategy::kWeightedRoundRobin});
    f.Add({.id = "a"});
    f.Add({.id = "b"});
    f.Add({.id = "zero", .weight = "0"});
    ar::PickDecision why;
    ar::PickRequest r;
    const std::string_view providers[] = {"claude"};
    r.providers = providers;
    r.model = "m";
    r.decision = &why;
    REQUIRE(f.manager->Pick(r).ok());
    CHECK(why.strategy == "weighted-round-robin");
    std::map<std::string, ar::SkipReason> reasons;
    for (const auto& k : why.skipped) reasons[k.id] = k.reason;
    CHECK(reasons.at("zero") == ar::SkipReason::kNoWeight);
    r.pinned_id = "a";
    auto pinned = f.manager->Pick(r);
    REQUIRE(pinned.ok());
    CHECK(pinned->credential->id == "a");
    CHECK(why.pinned_id == "a");
    reasons.clear();
    for (const auto& k : why.skipped) reasons[k.id] = k.reason;
    CHECK(reasons.at("b") == ar::SkipReason::kNotPinned);
  }
  SECTION("websocket preference") {
    ManagerFixture f;
    f.Add({.id = "plain", .provider = "codex", .priority = "10"});
    f.Add({.id = "ws", .provider = "codex", .priority = "0", .websockets = true});
    ar::PickDecision why;
    ar::PickRequest r;
    const std::string_view providers[] = {"codex"};
    r.providers = providers;
    r.model = "m";
    r.downstream_websocket = true;
    r.decision = &why;
    auto p = f.manager->Pick(r);
    REQUIRE(p.ok());
    CHECK(p->credential->id == "ws");
    REQUIRE(why.skipped.size() == 1);
    CHECK(why.skipped[0].reason == ar::SkipReason::kNotWebsocket);
  }
  SECTION("an error state without a cooldown is still picked, and tried is named") {
    ManagerFixture f;
    f.Add({.id = "erred"});
    f.Add({.id = "tried"});
    REQUIRE(f.manager->MarkResult(Failure("erred", 418)).ok());  // recorded, cools nothing
    ar::PickDecision why;
    ar::PickRequest r;
    const std::string_view providers[] = {"claude"};
    const std::string_view tried[] = {"tried", "erred"};
    r.providers = providers;
    r.model = "m";
    r.tried = std::span<const std::string_view>(tried, 1);
    r.decision = &why;
    REQUIRE(f.manager->Pick(r).ok());  // erred is still picked
    CHECK(why.picked_id == "erred");
    r.tried = tried;
    REQUIRE_FALSE(f.manager->Pick(r).ok());
    std::map<std::string, ar::SkipReason> reasons;
    for (const auto& k : why.skipped) reasons[k.id] = k.reason;
    CHECK(reasons == std::map<std::string, ar::SkipReason>{{"erred", ar::SkipReason::kTried},
                                                           {"tried", ar::SkipReason::kTried}});
  }
}
