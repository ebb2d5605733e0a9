// The refresh loop on a Manager (spec 05, later fixes D1, D2, D4, D5, D6, C11), driven by the
// manual clock through RunDueRefreshes; the threaded runner at the end.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <thread>

#include "authrouter/manager.h"
#include "support/fake_refresher.h"
#include "support/manager_fixture.h"
#include "support/memory_store.h"

namespace authrouter {
namespace {

using testing::FakeRefresher;
using testing::MemoryStore;
using testing::Name;
using testing::RecordingHooks;
using testing::Utc;

struct RefreshFixture {
  explicit RefreshFixture(std::function<void(ManagerOptions&)> tweak = nullptr) {
    ManagerOptions o;
    o.store = store;
    o.hooks = hooks;
    o.refresh.refreshers["claude"] = refresher;
    o.refresh.check_interval = absl::Minutes(15);
    if (tweak) tweak(o);
    o.clock = &clock;
    manager = *Manager::Create(std::move(o));
  }

  // Add registers an OAuth credential of `provider` whose token expires at `expiry`.
  std::shared_ptr<const Credential> Add(const std::string& id, absl::Time expiry,
                                        const std::string& provider = "claude",
                                        const std::string& extra = "") {
    Credential c;
    c.id = id;
    c.provider = provider;
    c.status = CredentialStatus::kActive;
    std::string json = R"({"type":")" + provider + R"(","email":")" + id +
                       R"(@x","refresh_token":"r-)" + id + R"(","expired":")" +
                       FormatRfc3339(expiry) + "\"" + extra + "}";
    c.metadata = *Metadata::Parse(json);
    auto r = manager->Register(std::move(c));
    REQUIRE(r.ok());
    manager->RegisterModels(id, {"m"});
    return *r;
  }

  size_t Run() { return manager->RunDueRefreshes(clock.Now()); }

  ManualClock clock{Utc(2026, 4, 17)};
  std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
  std::shared_ptr<RecordingHooks> hooks = std::make_shared<RecordingHooks>();
  std::shared_ptr<FakeRefresher> refresher = std::make_shared<FakeRefresher>();
  std::unique_ptr<Manager> manager;
};

TEST_CASE("A due credential is refreshed and written back (spec 05 §7.5, D6)", "[refresh]") {
  RefreshFixture f;
  const absl::Time t0 = f.clock.Now();
  f.Add("a", t0 + absl::Hours(1), "claude", R"(,"priority_note":"mine")");  // within claude's 4 h
  f.Add("b", t0 + absl::Hours(10));                                        // not yet
  const int saves_before = f.store->saves;

  CHECK(f.Run() == 1);
  CHECK(f.refresher->Calls() == std::vector<std::string>{"a"});
  auto a = f.manager->Get("a");
  CHECK(a->metadata.GetString("access_token") == "fresh-a");
  CHECK(a->metadata.GetString("refresh_token") == "r-a");         // not rotated: kept
  CHECK(a->metadata.GetString("priority_note") == "mine");        // custom metadata kept (D6)
  CHECK(a->Expiry() == t0 + absl::Hours(24 * 30));
  CHECK(a->last_refreshed_at == t0);
  CHECK(a->updated_at == t0);
  CHECK(IsZeroTime(a->next_refresh_after));
  CHECK_FALSE(a->last_error.has_value());
  CHECK(f.store->saves == saves_before + 1);  // persisted
  CHECK(f.store->Files().at("a").find("fresh-a") != std::string::npos);
  CHECK(f.hooks->Events().back() == "updated a");
  // Rescheduled at expiry - lead; b at its own expiry - lead.
  CHECK(f.manager->ScheduledRefresh("a") == t0 + absl::Hours(24 * 30) - absl::Hours(4));
  CHECK(f.manager->ScheduledRefresh("b") == t0 + absl::Hours(6));

  f.clock.Advance(absl::Hours(6));
  CHECK(f.Run() == 1);
  CHECK(f.refresher->Calls() == std::vector<std::string>{"a", "b"});
}

TEST_CASE("Spec 05 §6.1: a refresh in progress is marked pending for 1 min", "[refresh]") {
  RefreshFixture f;
  const absl::Time t0 = f.clock.Now();
  f.Add("a", t0);
  std::optional<absl::Time> pending_seen;
  f.refresher->during = [&](const Credential&) {
    pending_seen = f.manager->Get("a")->next_refresh_after;
    // A second pass while this refresh runs finds it pending and does not start another.
    CHECK(f.manager->RunDueRefreshes(t0 + absl::Seconds(59)) == 0);
  };
  CHECK(f.Run() == 1);
  CHECK(pending_seen == t0 + kRefreshPendingBackoff);
  CHECK(f.refresher->Calls().size() == 1);
}

TEST_CASE("Spec 05 §7.4: a failed refresh waits 5 min and leaves the credential usable",
          "[refresh]") {
  RefreshFixture f;
  const absl::Time t0 = f.clock.Now();
  f.Add("a", t0 + absl::Minutes(30));
  f.refresher->answer = [](const Credential&, const RefreshContext&) -> absl::StatusOr<TokenUpdate> {
    return absl::UnavailableError("token refresh: status 503");
  };
  const int saves_before = f.store->saves;
  const size_t events_before = f.hooks->Events().size();
  CHECK(f.Run() == 1);
  auto a = f.manager->Get("a");
  REQUIRE(a->last_error.has_value());
  CHECK(a->last_error->message == "token refresh: status 503");
  CHECK(a->last_error->code.empty());
  CHECK(a->next_refresh_after == t0 + kRefreshFailureBackoff);
  CHECK(a->status == CredentialStatus::kActive);  // status untouched
  CHECK(f.store->saves == saves_before);          // nothing persisted
  CHECK(f.hooks->Events().size() == events_before);  // no hook
  CHECK(f.manager->Pick("claude", "m").ok());     // still selectable
  CHECK(f.manager->ScheduledRefresh("a") == t0 + kRefreshFailureBackoff);
  CHECK(f.manager->GetRefreshStats().refreshes_failed == 1);

  f.clock.Advance(absl::Minutes(4) + absl::Seconds(59));
  CHECK(f.Run() == 0);
  f.clock.Advance(absl::Seconds(1));
  CHECK(f.Run() == 1);
}

TEST_CASE("Later fix D1: an ineffective refresh waits 30 s, no tight loop", "[refresh]") {
  RefreshFixture f;
  const absl::Time t0 = f.clock.Now();
  f.Add("a", t0 + absl::Minutes(10));
  f.refresher->answer = [&](const Credential&, const RefreshContext& ctx) -> absl::StatusOr<TokenUpdate> {
    TokenUpdate u;
    u.access_token = "same-window";
    u.expires_at = ctx.now + absl::Minutes(10);  // still inside claude's 4 h lead
    return u;
  };
  CHECK(f.Run() == 1);
  CHECK(f.manager->Get("a")->next_refresh_after == t0 + kRefreshIneffectiveBackoff);
  CHECK(f.Run() == 0);  // not again at once
  f.clock.Advance(absl::Seconds(29));
  CHECK(f.Run() == 0);
  f.clock.Advance(absl::Seconds(1));
  CHECK(f.Run() == 1);
  CHECK(f.refresher->Calls().size() == 2);
}

TEST_CASE("Later fix D2: a 401 on refresh marks the credential unauthorized and unschedules it",
          "[refresh]") {
  const char* message = GENERATE("token refresh: status 401", "upstream said 401 Unauthorized");
  const bool as_code = GENERATE(true, false);
  RefreshFixture f;
  const absl::Time t0 = f.clock.Now();
  f.Add("a", t0);
  f.refresher->answer = [&](const Credential&, const RefreshContext&) -> absl::StatusOr<TokenUpdate> {
    if (as_code) return absl::UnauthenticatedError("refresh token revoked");
    return absl::UnknownError(message);
  };
  CHECK(f.Run() == 1);
  auto a = f.manager->Get("a");
  REQUIRE(a->last_error.has_value());
  CHECK(a->last_error->code == kDeadRefreshTokenCode);
  CHECK(a->last_error->http_status == 401);
  CHECK_FALSE(a->last_error->retryable);
  CHECK(a->status == CredentialStatus::kError);
  CHECK(a->status_message == "unauthorized");
  CHECK(a->unavailable);
  CHECK(IsZeroTime(a->next_refresh_after));
  CHECK_FALSE(f.manager->ScheduledRefresh("a").has_value());
  f.clock.Advance(absl::Hours(24 * 7));
  CHECK(f.Run() == 0);  // never retried on its own
  CHECK(f.refresher->Calls().size() == 1);

  SECTION("an update that clears the error schedules it again") {
    Credential c = *f.manager->Get("a");
    c.last_error.reset();
    c.status = CredentialStatus::kActive;
    c.status_message.clear();
    c.unavailable = false;
    REQUIRE(f.manager->Update(std::move(c)).ok());
    f.refresher->answer = nullptr;
    CHECK(f.Run() == 1);
    CHECK(f.manager->Get("a")->metadata.GetString("access_token") == "fresh-a");
  }
  SECTION("a successful manual refresh clears it") {
    f.refresher->answer = nullptr;
    auto r = f.manager->Refresh("a");
    REQUIRE(r.ok());
    CHECK((*r)->status == CredentialStatus::kActive);
    CHECK_FALSE((*r)->unavailable);
    CHECK_FALSE((*r)->last_error.has_value());
    CHECK(f.manager->RunDueRefreshes(f.clock.Now()) == 0);  // scheduled again, not yet due
    CHECK(f.manager->ScheduledRefresh("a").has_value());
  }
}

TEST_CASE("Spec 05 §5: no refresher for a provider re-checks every interval", "[refresh]") {
  RefreshFixture f;
  const absl::Time t0 = f.clock.Now();
  f.Add("c", t0, "codex");  // codex has a lead but no refresher here
  CHECK(f.Run() == 0);
  CHECK(f.manager->ScheduledRefresh("c") == t0 + absl::Minutes(15));
  CHECK(f.refresher->Calls().empty());
  auto refresh = f.manager->Refresh("c");
  CHECK(refresh.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(refresh.status().message()).find("codex") != std::string::npos);
}

TEST_CASE("Spec 05 §4: API keys, disabled and lead-less credentials are never scheduled",
          "[refresh]") {
  RefreshFixture f;
  const absl::Time t0 = f.clock.Now();
  Credential key;
  key.id = "key";
  key.provider = "claude";
  key.attributes["api_key"] = "sk-1";
  REQUIRE(f.manager->Register(key).ok());
  f.Add("gem", t0, "gemini");
  f.Add("off", t0);
  REQUIRE(f.manager->SetDisabled("off", true).ok());
  CHECK(f.Run() == 0);
  CHECK(f.manager->GetRefreshStats().scheduled == 0);
  REQUIRE(f.manager->SetDisabled("off", false).ok());
  CHECK(f.Run() == 1);  // re-enabled: scheduled and due
  CHECK(f.manager->Refresh("key").status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(f.refresher->Calls() == std::vector<std::string>{"off"});
}

TEST_CASE("Spec 05 §10: an evaluator decides and re-checks every interval", "[refresh]") {
  struct Eval : RefreshEvaluator {
    bool Overrides(const Credential& c) const override { return c.id == "e"; }
    bool ShouldRefresh(const Credential&, absl::Time now) const override {
      return now >= due.load();
    }
    std::atomic<absl::Time> due{absl::InfiniteFuture()};
  };
  auto eval = std::make_shared<Eval>();
  RefreshFixture f([&](ManagerOptions& o) { o.refresh.evaluator = eval; });
  const absl::Time t0 = f.clock.Now();
  f.Add("e", t0);  // the built-in rules would refresh it at once
  CHECK(f.Run() == 0);
  CHECK(f.manager->ScheduledRefresh("e") == t0 + absl::Minutes(15));
  eval->due = t0 + absl::Minutes(20);
  f.clock.Advance(absl::Minutes(15));
  CHECK(f.Run() == 0);
  f.clock.Advance(absl::Minutes(15));
  CHECK(f.Run() == 1);
}

TEST_CASE("The loop does no work while nothing is due -- a change costs O(log n)", "[refresh]") {
  RefreshFixture f;
  const absl::Time t0 = f.clock.Now();
  constexpr int kN = 100'000;
  for (int i = 0; i < kN; ++i) {
    Credential c;
    c.id = Name("c", i);
    c.provider = "claude";
    c.metadata = *Metadata::Parse(R"({"email":"x@y","expired":")" +
                                  FormatRfc3339(t0 + absl::Hours(5) + absl::Seconds(i)) + "\"}");
    REQUIRE(f.manager->Register(std::move(c), WriteOptions{.persist = false}).ok());
  }
  CHECK(f.Run() == 0);  // first pass: every credential evaluated once and scheduled
  RefreshStats s = f.manager->GetRefreshStats();
  CHECK(s.scheduled == kN);
  CHECK(s.evaluations == kN);
  CHECK(s.next == t0 + absl::Hours(1));

  for (int minute = 1; minute < 60; ++minute) {
    f.clock.Advance(absl::Minutes(1));
    CHECK(f.Run() == 0);
  }
  RefreshStats idle = f.manager->GetRefreshStats();
  CHECK(idle.evaluations == s.evaluations);  // nothing due: nothing evaluated
  CHECK(idle.sift_steps == s.sift_steps);

  // One changed credential: one evaluation and a bounded number of heap moves.
  Credential c = *f.manager->Get("c500");
  c.metadata = *Metadata::Parse(R"({"email":"x@y","expired":")" +
                                FormatRfc3339(t0 + absl::Hours(30)) + "\"}");
  REQUIRE(f.manager->Update(std::move(c), WriteOptions{.persist = false}).ok());
  CHECK(f.Run() == 0);
  RefreshStats after = f.manager->GetRefreshStats();
  CHECK(after.evaluations == idle.evaluations + 1);
  CHECK(after.sift_steps - idle.sift_steps <= 17);  // ceil(log2(100,000)) = 17
  CHECK(f.manager->ScheduledRefresh("c500") == t0 + absl::Hours(26));

  // The first due credential comes up exactly at its time.
  f.clock.Set(t0 + absl::Hours(1));
  CHECK(f.Run() == 1);
  CHECK(f.refresher->Calls() == std::vector<std::string>{"c0"});
}

TEST_CASE("A cancelled refresh records nothing and keeps the pending backoff", "[refresh]") {
  RefreshFixture f;
  const absl::Time t0 = f.clock.Now();
  f.Add("a", t0);
  f.refresher->answer = [](const Credential&, const RefreshContext&) -> absl::StatusOr<TokenUpdate> {
    return absl::CancelledError("stopping");
  };
  CHECK(f.Run() == 1);
  auto a = f.manager->Get("a");
  CHECK_FALSE(a->last_error.has_value());
  CHECK(a->next_refresh_after == t0 + kRefreshPendingBackoff);
  CHECK(f.manager->ScheduledRefresh("a") == t0 + kRefreshPendingBackoff);
}

TEST_CASE("A credential removed or replaced during its refresh is never written back",
          "[refresh]") {
  RefreshFixture f;
  const absl::Time t0 = f.clock.Now();
  f.Add("a", t0);
  SECTION("removed") {
    f.refresher->during = [&](const Credential&) { REQUIRE(f.manager->Remove("a").ok()); };
    CHECK(f.Run() == 1);
    CHECK(f.manager->Get("a") == nullptr);
    CHECK(f.store->Files().count("a") == 0);
  }
  SECTION("removed and registered again under the same ID") {
    f.refresher->during = [&](const Credential&) {
      REQUIRE(f.manager->Remove("a").ok());
      f.Add("a", t0 + absl::Hours(100));
    };
    CHECK(f.Run() == 1);
    auto a = f.manager->Get("a");
    REQUIRE(a != nullptr);
    CHECK_FALSE(a->metadata.GetString("access_token").has_value());  // the new one is untouched
    CHECK(f.store->Files().at("a").find("fresh-a") == std::string::npos);
  }
  CHECK(f.manager->GetRefreshStats().writes_dropped == 1);
  auto r = f.manager->Refresh("missing");
  CHECK(r.status().code() == absl::StatusCode::kNotFound);
}

TEST_CASE("A reload of the same account during a refresh keeps the rotated tokens, a re-login wins",
          "[refresh]") {
  RefreshFixture f;
  const absl::Time t0 = f.clock.Now();
  f.Add("a", t0);
  f.refresher->answer = [](const Credential& c, const RefreshContext& ctx) -> absl::StatusOr<TokenUpdate> {
    TokenUpdate u;
    u.access_token = "fresh-" + c.id;
    u.refresh_token = "rotated";
    u.expires_at = ctx.now + absl::Hours(24 * 30);
    return u;
  };
  SECTION("Register of the same ID with the same refresh token (a watcher reload)") {
    f.refresher->during = [&](const Credential& c) {
      Credential same = *f.manager->Get(c.id);
      REQUIRE(f.manager->Register(same).ok());
    };
    CHECK(f.Run() == 1);
    CHECK(f.manager->Get("a")->metadata.GetString("refresh_token") == "rotated");
    CHECK(f.manager->GetRefreshStats().writes_dropped == 0);
  }
  SECTION("Load of the same store content") {
    f.refresher->during = [&](const Credential&) { REQUIRE(f.manager->Load().ok()); };
    CHECK(f.Run() == 1);
    CHECK(f.manager->Get("a")->metadata.GetString("refresh_token") == "rotated");
  }
  SECTION("an Update with a new refresh token (a re-login) wins over the refresh") {
    f.refresher->during = [&](const Credential& c) {
      Credential relogin = *f.manager->Get(c.id);
      relogin.metadata = *Metadata::Parse(R"({"email":"a@x","refresh_token":"relogin"})");
      REQUIRE(f.manager->Update(relogin).ok());
    };
    CHECK(f.Run() == 1);
    CHECK(f.manager->Get("a")->metadata.GetString("refresh_token") == "relogin");
    CHECK_FALSE(f.manager->Get("a")->metadata.GetString("access_token").has_value());
    CHECK(f.manager->GetRefreshStats().writes_dropped == 1);
  }
}

TEST_CASE("A hook on a loop thread stops the loop without joining itself", "[refresh]") {
  struct Hook : Hooks {
    void OnUpdated(const std::shared_ptr<const Credential>& c) override {
      if (!c->metadata.GetString("access_token")) return;
      manager->StopRefreshLoop();  // asks the loop to end; joined later, from outside
      RefreshOptions o = manager->GetRefreshOptions();
      o.workers = 7;
      std::lock_guard<std::mutex> lock(mu);
      resize = manager->SetRefreshOptions(o);
      restart = manager->StartRefreshLoop();
      done = true;
      cv.notify_all();
    }
    Manager* manager = nullptr;
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    absl::Status resize, restart;
  };
  auto hook = std::make_shared<Hook>();
  RefreshFixture f([&](ManagerOptions& o) { o.hooks = hook; });
  hook->manager = f.manager.get();
  REQUIRE(f.manager->StartRefreshLoop().ok());
  f.Add("a", f.clock.Now());
  {
    std::unique_lock<std::mutex> lock(hook->mu);
    REQUIRE(hook->cv.wait_for(lock, std::chrono::seconds(30), [&] { return hook->done; }));
    CHECK(hook->resize.code() == absl::StatusCode::kFailedPrecondition);
    CHECK(hook->restart.code() == absl::StatusCode::kFailedPrecondition);
  }
  CHECK_FALSE(f.manager->refresh_loop_running());  // stopping: the hook's stop took effect
  CHECK(f.manager->GetRefreshOptions().workers == 16);  // unchanged
  f.manager->StopRefreshLoop();  // joins the threads
  CHECK_FALSE(f.manager->refresh_loop_running());
  REQUIRE(f.manager->StartRefreshLoop().ok());  // and a restart from outside works
  CHECK(f.manager->refresh_loop_running());
  f.manager->StopRefreshLoop();
}

TEST_CASE("A write-back keeps results recorded while the refresh ran", "[refresh]") {
  RefreshFixture f;
  const absl::Time t0 = f.clock.Now();
  f.Add("a", t0);
  f.refresher->during = [&](const Credential&) {
    Result r;
    r.credential_id = "a";
    r.model = "m";
    r.http_status = 429;
    REQUIRE(f.manager->MarkResult(r).ok());
  };
  CHECK(f.Run() == 1);
  auto a = f.manager->Get("a");
  CHECK(a->metadata.GetString("access_token") == "fresh-a");
  REQUIRE(a->model_states.count("m") == 1);
  CHECK(a->model_states.at("m").quota.exceeded);
}

TEST_CASE("Later fix D4: concurrent refreshes of one credential share one call", "[refresh]") {
  RefreshFixture f;
  f.Add("a", f.clock.Now() + absl::Hours(100));
  f.refresher->Close();
  std::vector<absl::StatusOr<std::shared_ptr<const Credential>>> results(4);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { results[0] = f.manager->Refresh("a"); });
  f.refresher->WaitInCall(1);
  for (int i = 1; i < 4; ++i) threads.emplace_back([&, i] { results[i] = f.manager->Refresh("a"); });
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (f.manager->GetRefreshStats().refreshes_joined < 3 && absl::Now() < give_up) {
    std::this_thread::yield();
  }
  REQUIRE(f.manager->GetRefreshStats().refreshes_joined == 3);
  f.refresher->Open();
  for (auto& t : threads) t.join();
  CHECK(f.refresher->Calls().size() == 1);
  for (const auto& r : results) {
    REQUIRE(r.ok());
    CHECK(*r == *results[0]);  // the same snapshot
  }
  // After the flight ends, a new request makes a new call.
  REQUIRE(f.manager->Refresh("a").ok());
  CHECK(f.refresher->Calls().size() == 2);
}

TEST_CASE("Later fix D5: the refresh timeout is the Manager's, not the caller's", "[refresh]") {
  RefreshFixture f([](ManagerOptions& o) { o.refresh.timeout = absl::Seconds(7); });
  f.Add("a", f.clock.Now());
  REQUIRE(f.manager->Refresh("a").ok());
  f.clock.Advance(absl::Hours(24 * 40));
  CHECK(f.Run() == 1);
  for (const RefreshContext& ctx : f.refresher->Contexts()) {
    CHECK(ctx.timeout == absl::Seconds(7));
    REQUIRE(ctx.cancelled != nullptr);
    CHECK_FALSE(ctx.cancelled->load());
  }
}

// An executor that fails with 401 unless the credential carries a fresh token.
class TokenCheckingExecutor : public Executor {
 public:
  Outcome Execute(const Attempt& a) override {
    calls.push_back(a.credential.id);
    Outcome o;
    const auto token = a.credential.metadata.GetString("access_token");
    if (token && token->starts_with("fresh-")) {
      o.success = true;
      o.http_status = 200;
    } else {
      o.http_status = 401;
      o.error_message = "invalid token";
    }
    return o;
  }
  std::vector<std::string> calls;
};

TEST_CASE("Later fix C11: a 401 refreshes once and retries on the same credential", "[refresh]") {
  RefreshFixture f;
  f.Add("a", f.clock.Now() + absl::Hours(100));
  f.Add("b", f.clock.Now() + absl::Hours(100));
  TokenCheckingExecutor executor;
  const std::string_view provider = "claude";
  ExecuteRequest request;
  request.providers = {&provider, 1};
  request.model = "m";
  absl::StatusOr<ExecuteResult> r = f.manager->Execute(request, executor);
  REQUIRE(r.ok());
  CHECK(r->outcome.success);
  CHECK(r->attempts == 2);
  CHECK(executor.calls.size() == 2);
  CHECK(executor.calls[0] == executor.calls[1]);  // the same credential
  CHECK(f.refresher->Calls() == std::vector<std::string>{executor.calls[0]});
  auto used = f.manager->Get(executor.calls[0]);
  CHECK(used->model_states.empty());  // the 401 was not recorded as a failure

  SECTION("a failed refresh records the 401 and moves on") {
    f.refresher->answer = [](const Credential&, const RefreshContext&) -> absl::StatusOr<TokenUpdate> {
      return absl::UnavailableError("token endpoint down");
    };
    TokenCheckingExecutor second;
    absl::StatusOr<ExecuteResult> r2 = f.manager->Execute(request, second);
    REQUIRE(r2.ok());
    // The credential already refreshed succeeds; the other fails its refresh and is cooled.
    const std::string other = executor.calls[0] == "a" ? "b" : "a";
    CHECK(r2->outcome.success);
    CHECK(f.manager->Get(other)->model_states.count("m") == 1);
    CHECK(f.manager->Get(other)->model_states.at("m").unavailable);
  }
}

TEST_CASE("Later fix C11 applies only to OAuth credentials with a refresh token", "[refresh]") {
  RefreshFixture f;
  Credential key;
  key.id = "key";
  key.provider = "claude";
  key.attributes["api_key"] = "sk";
  REQUIRE(f.manager->Register(key).ok());
  f.manager->RegisterModels("key", {"m"});
  TokenCheckingExecutor executor;
  const std::string_view provider = "claude";
  ExecuteRequest request;
  request.providers = {&provider, 1};
  request.model = "m";
  absl::StatusOr<ExecuteResult> r = f.manager->Execute(request, executor);
  REQUIRE(r.ok());
  CHECK(r->outcome.http_status == 401);
  CHECK(r->attempts == 1);
  CHECK(f.refresher->Calls().empty());
}

TEST_CASE("SetRefreshOptions applies new rules to every credential", "[refresh]") {
  RefreshFixture f;
  const absl::Time t0 = f.clock.Now();
  f.Add("a", t0 + absl::Hours(3));  // inside claude's 4 h lead: due now
  RefreshOptions o;
  o.refreshers["claude"] = f.refresher;
  o.leads["claude"] = absl::Hours(1);
  REQUIRE(f.manager->SetRefreshOptions(o).ok());
  CHECK(f.Run() == 0);
  CHECK(f.manager->ScheduledRefresh("a") == t0 + absl::Hours(2));
  o.workers = 0;
  CHECK(f.manager->SetRefreshOptions(o).code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.manager->ScheduledRefresh("a") == t0 + absl::Hours(2));  // unchanged
  REQUIRE(f.manager->SetRefreshOptions(RefreshOptions{}).ok());    // no refresher: off
  CHECK(f.manager->GetRefreshStats().scheduled == 0);
  CHECK(f.manager->StartRefreshLoop().code() == absl::StatusCode::kFailedPrecondition);
}

TEST_CASE("Manager options reject bad refresh settings", "[refresh]") {
  ManagerOptions o;
  o.refresh.timeout = absl::ZeroDuration();
  CHECK(Manager::Create(o).status().code() == absl::StatusCode::kInvalidArgument);
}

// The background runner: wait for refreshes through the update hook (no sleeps).
class UpdateWaiter : public Hooks {
 public:
  void OnUpdated(const std::shared_ptr<const Credential>& c) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (c->metadata.GetString("access_token")) ++refreshed_;
    cv_.notify_all();
  }
  bool WaitFor(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [&] { return refreshed_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int refreshed_ = 0;
};

TEST_CASE("The background loop refreshes, stops, restarts and resizes", "[refresh]") {
  auto waiter = std::make_shared<UpdateWaiter>();
  RefreshFixture f([&](ManagerOptions& o) {
    o.hooks = waiter;
    o.refresh.workers = 2;
  });
  CHECK_FALSE(f.manager->refresh_loop_running());
  REQUIRE(f.manager->StartRefreshLoop().ok());
  CHECK(f.manager->refresh_loop_running());
  f.Add("a", f.clock.Now());
  CHECK(waiter->WaitFor(1));
  REQUIRE(f.manager->StartRefreshLoop().ok());  // restart
  f.Add("b", f.clock.Now());
  CHECK(waiter->WaitFor(2));
  RefreshOptions resized;
  resized.refreshers["claude"] = f.refresher;
  resized.workers = 5;
  REQUIRE(f.manager->SetRefreshOptions(resized).ok());
  CHECK(f.manager->refresh_loop_running());
  f.Add("c", f.clock.Now());
  CHECK(waiter->WaitFor(3));
  f.manager->StopRefreshLoop();
  f.manager->StopRefreshLoop();  // idempotent
  CHECK_FALSE(f.manager->refresh_loop_running());
  const uint64_t wakeups = f.manager->GetRefreshStats().loop_wakeups;
  CHECK(wakeups >= 3);
  f.Add("d", f.clock.Now());
  CHECK(f.refresher->Calls().size() == 3);  // stopped: nothing runs
  CHECK(f.Run() == 1);                      // but it can be driven by hand
}

TEST_CASE("Stopping the loop cancels a refresh in flight", "[refresh]") {
  RefreshFixture f;
  f.refresher->Close();
  std::atomic<bool> saw_cancel{false};
  f.refresher->answer = [&](const Credential&, const RefreshContext& ctx) -> absl::StatusOr<TokenUpdate> {
    saw_cancel = ctx.cancelled->load();
    return absl::CancelledError("stopped");
  };
  REQUIRE(f.manager->StartRefreshLoop().ok());
  f.Add("a", f.clock.Now());
  f.refresher->WaitInCall(1);
  const std::atomic<bool>* cancelled = f.refresher->Contexts().at(0).cancelled;
  REQUIRE(cancelled != nullptr);
  CHECK_FALSE(cancelled->load());
  std::thread stopper([&] { f.manager->StopRefreshLoop(); });
  const absl::Time give_up = absl::Now() + absl::Seconds(30);
  while (!cancelled->load() && absl::Now() < give_up) std::this_thread::yield();
  REQUIRE(cancelled->load());  // Stop announced the cancellation
  f.refresher->Open();
  stopper.join();
  CHECK(saw_cancel);
  CHECK_FALSE(f.manager->refresh_loop_running());
  CHECK_FALSE(f.manager->Get("a")->last_error.has_value());
  CHECK_FALSE(cancelled->load());  // reset for the next start
}

}  // namespace
}  // namespace authrouter
