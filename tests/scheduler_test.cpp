// The pick path, rule by rule against spec 02 (scheduling) and the later fixes B1, B3, B8.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "authrouter/manager.h"
#include "support/manager_fixture.h"

using authrouter::testing::CoolingState;
using authrouter::testing::ManagerFixture;
using authrouter::testing::UpstreamOptions;
using authrouter::testing::Utc;
namespace ar = authrouter;
using Ids = std::vector<std::string>;

// ---- §2 per-model block evaluation -----------------------------------------------------------

TEST_CASE("A quota cooldown blocks the model and reports Retry-After", "[scheduler]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  c.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(30), true);
  f.AddCredential(c);
  auto r = f.manager->Pick("claude", "m");
  REQUIRE_FALSE(r.ok());
  CHECK(absl::IsResourceExhausted(r.status()));
  auto e = ar::GetRoutingError(r.status());
  REQUIRE(e);
  CHECK(e->code == "model_cooldown");
  CHECK(e->http_status == 429);
  CHECK(e->retry_after == absl::Minutes(30));
  CHECK(e->body ==
        R"({"error":{"code":"model_cooldown","message":"All credentials for model m are cooling down via provider claude","model":"m","provider":"claude","reset_seconds":1800,"reset_time":"30m0s"}})");
}

TEST_CASE("A transient (non-quota) block is auth_unavailable with the earliest Retry-After", "[scheduler]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  c.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(1), false);
  f.AddCredential(c);
  auto r = f.manager->Pick("claude", "m");
  REQUIRE_FALSE(r.ok());
  CHECK(absl::IsUnavailable(r.status()));
  auto e = ar::GetRoutingError(r.status());
  REQUIRE(e);
  CHECK(e->code == "auth_unavailable");
  CHECK(e->http_status == 503);
  // It says when (the block ends in a minute); the body stays upstream's.
  CHECK(e->retry_after == absl::Minutes(1));
  CHECK(e->body ==
        R"j({"error":{"message":"auth_unavailable: no auth available (providers=claude, model=m)","type":"server_error","code":"internal_server_error"}})j");
}

TEST_CASE("Note kept: an unavailable state without a retry time does not block", "[scheduler]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  c.model_states["m"] = CoolingState(ar::ZeroTime(), true);
  f.AddCredential(c);
  CHECK(f.PickId("claude") == "a");
}

TEST_CASE("A retry time in the past does not block", "[scheduler]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  c.model_states["m"] = CoolingState(f.clock.Now() - absl::Seconds(1), true);
  f.AddCredential(c);
  CHECK(f.PickId("claude") == "a");
}

TEST_CASE("A suffixed request sees the cooldown of its canonical model", "[scheduler]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  c.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(5), true);
  f.AddCredential(c);
  CHECK(f.PickId("claude", "m(high)") == "<model_cooldown>");
}

TEST_CASE("Fixed (later fix B1): a cooldown stored under a suffixed model blocks the model",
          "[scheduler]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  c.model_states["m(high)"] = CoolingState(f.clock.Now() + absl::Minutes(5), true);
  auto stored = f.AddCredential(c);
  // Stored by canonical key; upstream April found nothing under "m" and picked the credential.
  CHECK(stored->model_states.count("m") == 1);
  CHECK(stored->model_states.count("m(high)") == 0);
  CHECK(f.PickId("claude", "m") == "<model_cooldown>");
}

TEST_CASE("Suffix variants of a model state merge into one canonical state (B1)", "[scheduler]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  auto early = CoolingState(f.clock.Now() + absl::Minutes(1), false);
  early.quota.backoff_level = 1;
  early.updated_at = f.clock.Now();
  auto late = CoolingState(f.clock.Now() + absl::Minutes(9), true);
  late.quota.backoff_level = 3;
  late.status_message = "newest";
  late.updated_at = f.clock.Now() + absl::Seconds(1);
  c.model_states["m"] = early;
  c.model_states["m(low)"] = late;
  auto stored = f.AddCredential(c);
  REQUIRE(stored->model_states.size() == 1);
  const ar::ModelState& m = stored->model_states.at("m");
  CHECK(m.unavailable);
  CHECK(m.quota.exceeded);
  CHECK(m.quota.backoff_level == 3);
  CHECK(m.next_retry_after == f.clock.Now() + absl::Minutes(9));
  CHECK(m.status_message == "newest");
}

TEST_CASE("Note fixed: a record-level block never hides a credential available for the model",
          "[scheduler]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  c.unavailable = true;
  c.next_retry_after = f.clock.Now() + absl::Minutes(5);
  c.model_states["other"] = CoolingState(f.clock.Now() + absl::Minutes(5), true);
  f.AddCredential(c);
  CHECK(f.PickId("claude", "m") == "a");
}

TEST_CASE("A credential without model states ignores record-level unavailability",
          "[scheduler]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  c.unavailable = true;
  c.next_retry_after = f.clock.Now() + absl::Minutes(5);
  f.AddCredential(c);
  CHECK(f.PickId("claude", "m") == "a");
}

TEST_CASE("A model-less request uses the record-level block", "[scheduler]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  c.unavailable = true;
  c.next_retry_after = f.clock.Now() + absl::Minutes(5);
  c.quota.exceeded = true;
  f.AddCredential(c);
  auto r = f.manager->Pick("claude", "");
  REQUIRE_FALSE(r.ok());
  auto e = ar::GetRoutingError(r.status());
  REQUIRE(e);
  CHECK(e->code == "model_cooldown");
  CHECK(e->body.find(R"("message":"All credentials for model requested model are cooling down via provider claude","model":"")") != std::string::npos);
  f.clock.Advance(absl::Minutes(5));
  CHECK(f.PickId("claude", "") == "a");
}

TEST_CASE("The quota recovery time replaces the retry time in errors, even when earlier",
          "[scheduler]") {
  ManagerFixture f(UpstreamOptions());  // no probe after 5 minutes
  auto c = f.Make({.id = "a"});
  auto st = CoolingState(f.clock.Now() + absl::Minutes(10), true);
  st.quota.next_recover_at = f.clock.Now() + absl::Minutes(5);
  c.model_states["m"] = st;
  f.AddCredential(c);
  auto e = ar::GetRoutingError(f.manager->Pick("claude", "m").status());
  REQUIRE(e);
  CHECK(e->retry_after == absl::Minutes(5));
  // The credential stays blocked until its retry time, not the recovery time.
  f.clock.Advance(absl::Minutes(6));
  CHECK(f.PickId("claude") == "<model_cooldown>");
  f.clock.Advance(absl::Minutes(4));
  CHECK(f.PickId("claude") == "a");
}

TEST_CASE("Disabled credentials and disabled models are never picked", "[scheduler]") {
  ManagerFixture f;
  auto disabled = f.Make({.id = "a"});
  disabled.disabled = true;
  f.AddCredential(disabled);
  CHECK(f.PickId("claude") == "<auth_not_found>");
  // Status disabled without the flag stays in the shard as a disabled entry: it counts as a
  // candidate, so the error is auth_unavailable.
  auto status_disabled = f.Make({.id = "b"});
  status_disabled.status = ar::CredentialStatus::kDisabled;
  f.AddCredential(status_disabled);
  CHECK(f.PickId("claude") == "<auth_unavailable>");
  auto model_disabled = f.Make({.id = "c"});
  model_disabled.model_states["m"].status = ar::CredentialStatus::kDisabled;
  f.AddCredential(model_disabled);
  CHECK(f.PickId("claude") == "<auth_unavailable>");
  CHECK(f.PickId("claude", "other") == "<auth_not_found>");
}

// ---- §3 priority tiers and §4.4/§5.8 round-robin ----------------------------------------------

TEST_CASE("Round-robin rotates in ID order", "[scheduler]") {
  ManagerFixture f;
  for (const char* id : {"b", "a", "c"}) f.Add({.id = id});
  CHECK(f.PickIds("claude", 5) == Ids{"a", "b", "c", "a", "b"});
}

TEST_CASE("Only the highest available priority tier is used", "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "c", .priority = "0"});
  f.Add({.id = "a", .priority = "10"});
  f.Add({.id = "b", .priority = "10"});
  CHECK(f.PickIds("claude", 4) == Ids{"a", "b", "a", "b"});
  ManagerFixture g;
  g.Add({.id = "low", .priority = "0"});
  g.Add({.id = "high-b", .priority = "10"});
  g.Add({.id = "high-a", .priority = "10"});
  CHECK(g.PickIds("claude", 3) == Ids{"high-a", "high-b", "high-a"});
}

TEST_CASE("A lower tier serves when every higher credential is blocked or tried",
          "[scheduler]") {
  ManagerFixture f;
  auto high = f.Make({.id = "high", .priority = "5"});
  high.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(1), true);
  f.AddCredential(high);
  f.Add({.id = "low", .priority = "-1"});
  CHECK(f.PickId("claude") == "low");
  f.clock.Advance(absl::Minutes(1));  // the cooldown expires and is promoted at pick time
  CHECK(f.PickId("claude") == "high");
  const std::string_view provider = "claude";
  const std::string_view tried[] = {"high"};
  ar::PickRequest req;
  req.providers = {&provider, 1};
  req.model = "m";
  req.tried = tried;
  CHECK(f.PickId(req) == "low");
}

TEST_CASE("Suffix variants of a model share one rotation", "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "a", .models = {"test-model"}});
  f.Add({.id = "b", .models = {"test-model"}});
  CHECK(f.PickId("claude", "test-model(high)") == "a");
  CHECK(f.PickId("claude", "test-model(low)") == "b");
}

TEST_CASE("Fill-first always takes the first available credential", "[scheduler]") {
  ManagerFixture f({.strategy = ar::RoutingStrategy::kFillFirst});
  for (const char* id : {"b", "a", "c"}) f.Add({.id = id});
  CHECK(f.PickIds("claude", 3) == Ids{"a", "a", "a"});
  auto high = f.Make({.id = "z", .priority = "9"});
  high.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(1), true);
  f.AddCredential(high);
  CHECK(f.PickId("claude") == "a");
  f.clock.Advance(absl::Minutes(2));
  CHECK(f.PickId("claude") == "z");
}

TEST_CASE("Picks with a tried set skip tried credentials and keep rotating", "[scheduler]") {
  ManagerFixture f;
  for (const char* id : {"a", "b", "c"}) f.Add({.id = id});
  const std::string_view provider = "claude";
  const std::string_view tried[] = {"a", "b"};
  ar::PickRequest req;
  req.providers = {&provider, 1};
  req.model = "m";
  req.tried = tried;
  CHECK(f.PickId(req) == "c");
  const std::string_view all[] = {"a", "b", "c"};
  req.tried = all;
  CHECK(f.PickId(req) == "<auth_not_found>");
}

// ---- §4.5/§5.7 grouped rotation -------------------------------------------------------------

TEST_CASE("Note kept: virtual-parent groups rotate on two levels, deterministically",
          "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "cred-a::proj-1", .provider = "gemini-cli", .parent = "cred-a"});
  f.Add({.id = "cred-a::proj-2", .provider = "gemini-cli", .parent = "cred-a"});
  f.Add({.id = "cred-b::proj-1", .provider = "gemini-cli", .parent = "cred-b"});
  f.Add({.id = "cred-b::proj-2", .provider = "gemini-cli", .parent = "cred-b"});
  CHECK(f.PickIds("gemini-cli", 5) ==
        Ids{"cred-a::proj-1", "cred-b::proj-1", "cred-a::proj-2", "cred-b::proj-2",
            "cred-a::proj-1"});
}

TEST_CASE("A single parent or a mix of grouped and ungrouped rotates flat", "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "p::1", .parent = "p"});
  f.Add({.id = "p::2", .parent = "p"});
  CHECK(f.PickIds("claude", 3) == Ids{"p::1", "p::2", "p::1"});
  ManagerFixture g;
  g.Add({.id = "a", .parent = "x"});
  g.Add({.id = "b"});
  g.Add({.id = "c", .parent = "y"});
  CHECK(g.PickIds("claude", 4) == Ids{"a", "b", "c", "a"});
}

// ---- §5.2 supported models, §9 registry sync ------------------------------------------------

TEST_CASE("Note fixed: a credential becomes pickable the moment its models are registered",
          "[scheduler]") {
  ManagerFixture f;
  auto r = f.manager->Register(f.Make({.id = "a"}));
  REQUIRE(r.ok());
  CHECK(f.PickId("claude", "m") == "<auth_not_found>");
  f.manager->RegisterModels("a", {"m"});  // no separate refresh call exists or is needed
  CHECK(f.PickId("claude", "m") == "a");
  // The other order works too: models first, credential second.
  f.manager->RegisterModels("b", {"m"});
  REQUIRE(f.manager->Register(f.Make({.id = "b"})).ok());
  CHECK(f.PickIds("claude", 2) == Ids{"b", "a"});
  f.manager->UnregisterModels("a");
  CHECK(f.PickIds("claude", 2) == Ids{"b", "b"});
  CHECK(f.manager->Models("b") == std::vector<std::string>{"m"});
}

TEST_CASE("Note kept: supported models compare by case-sensitive canonical key", "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "a", .models = {"GPT-5(high)"}});
  CHECK(f.manager->Models("a") == std::vector<std::string>{"GPT-5"});
  CHECK(f.PickId("claude", "GPT-5") == "a");
  CHECK(f.PickId("claude", "gpt-5") == "<auth_not_found>");
  CHECK(f.PickId("claude", "") == "a");  // a model-less request sees every credential
}

TEST_CASE("Note fixed: requests for unknown models create no routing state", "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "a"});
  for (int i = 0; i < 1000; ++i) {
    CHECK(f.PickId("claude", "unknown-" + std::to_string(i)) == "<auth_not_found>");
  }
  CHECK(f.PickId("claude", "m") == "a");
}

TEST_CASE("Prefixed credentials evaluate model states without their prefix", "[scheduler]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  c.prefix = "teamA";
  c.model_states["gpt-5"] = CoolingState(f.clock.Now() + absl::Minutes(2), true);
  f.AddCredential(c, {"teamA/gpt-5"});
  CHECK(f.PickId("claude", "teamA/gpt-5(high)") == "<model_cooldown>");
  f.clock.Advance(absl::Minutes(2));
  CHECK(f.PickId("claude", "teamA/gpt-5") == "a");
}

// ---- §5.3 upserts, §5.5 cursor preservation, B8 -----------------------------------------------

TEST_CASE("Fixed (B8): a rotation keeps its place by credential across changes", "[scheduler]") {
  ManagerFixture f;
  for (const char* id : {"a", "b", "c"}) f.Add({.id = id});
  CHECK(f.PickIds("claude", 2) == Ids{"a", "b"});  // next is c
  REQUIRE(f.manager->Remove("b").ok());
  // Upstream keeps the position (2 mod 2 = 0, next a); we keep the credential: next is c.
  CHECK(f.PickIds("claude", 3) == Ids{"c", "a", "c"});
  f.Add({.id = "b"});  // inserted before the cursor: the rotation still continues in order
  CHECK(f.PickIds("claude", 3) == Ids{"a", "b", "c"});
}

TEST_CASE("Note fixed (B8): a failed pick never resets other rotations", "[scheduler]") {
  ManagerFixture f;
  for (const char* id : {"a", "b", "c"}) f.Add({.id = id});
  CHECK(f.PickId("claude") == "a");
  CHECK(f.PickId("claude", "nobody-serves-this") == "<auth_not_found>");
  CHECK(f.PickId("gemini") == "<auth_not_found>");
  CHECK(f.PickId("claude") == "b");
}

TEST_CASE("A cooldown entering and leaving keeps the rotation in place", "[scheduler]") {
  ManagerFixture f;
  for (const char* id : {"a", "b", "c"}) f.Add({.id = id});
  CHECK(f.PickId("claude") == "a");
  auto b = f.Make({.id = "b"});
  b.model_states["m"] = CoolingState(f.clock.Now() + absl::Seconds(30), true);
  REQUIRE(f.manager->Update(b).ok());
  CHECK(f.PickIds("claude", 3) == Ids{"c", "a", "c"});
  f.clock.Advance(absl::Seconds(30));
  CHECK(f.PickIds("claude", 3) == Ids{"a", "b", "c"});
}

TEST_CASE("Updates, disables, removals and provider moves take effect at once", "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  REQUIRE(f.manager->SetDisabled("a", true).ok());
  CHECK(f.manager->Get("a")->status == ar::CredentialStatus::kDisabled);
  CHECK(f.PickIds("claude", 2) == Ids{"b", "b"});
  REQUIRE(f.manager->SetDisabled("a", false).ok());
  CHECK(f.manager->Get("a")->status == ar::CredentialStatus::kActive);
  CHECK(f.PickIds("claude", 2) == Ids{"a", "b"});
  auto moved = f.Make({.id = "a", .provider = "Gemini"});
  REQUIRE(f.manager->Update(moved).ok());
  CHECK(f.PickIds("claude", 2) == Ids{"b", "b"});
  CHECK(f.PickId("gemini") == "a");
  REQUIRE(f.manager->Remove("b").ok());
  CHECK(f.PickId("claude") == "<auth_not_found>");
  CHECK(absl::IsNotFound(f.manager->Remove("b")));
  CHECK(absl::IsNotFound(f.manager->SetDisabled("zz", true)));
  CHECK(absl::IsNotFound(f.manager->Update(f.Make({.id = "zz"})).status()));
  auto no_provider = f.Make({.id = "n", .provider = " "});
  f.AddCredential(no_provider);
  CHECK(f.manager->Get("n") != nullptr);  // stored, never routed
  CHECK(f.manager->List().size() == 2);
}

TEST_CASE("Register validates, assigns IDs and stable indexes", "[scheduler]") {
  ManagerFixture f;
  ar::Credential c = f.Make({.id = ""});
  auto r = f.manager->Register(c);
  REQUIRE(r.ok());
  const std::string& id = (*r)->id;
  CHECK(id.size() == 36);
  CHECK(id[14] == '4');
  CHECK((id[19] == '8' || id[19] == '9' || id[19] == 'a' || id[19] == 'b'));
  CHECK((*r)->index_assigned);
  CHECK((*r)->index == ar::ComputeStableIndex("id:" + id));
  auto bad = f.Make({.id = "x", .weight = "2000000"});
  auto rejected = f.manager->Register(bad);
  CHECK(absl::IsInvalidArgument(rejected.status()));
  CHECK(f.manager->Get("x") == nullptr);
  // Update carries the index over.
  auto first = f.Add({.id = "keep"});
  auto next = f.Make({.id = "keep"});
  next.file_name = "changes-the-seed.json";
  auto updated = f.manager->Update(next);
  REQUIRE(updated.ok());
  CHECK((*updated)->index == first->index);
}

// ---- §5.8/§6 websocket preference ------------------------------------------------------------

TEST_CASE("Codex websocket requests prefer websocket credentials, across tiers", "[scheduler]") {
  for (const char* http_priority : {"0", "10"}) {
    ManagerFixture f;
    f.Add({.id = "codex-http", .provider = "codex", .priority = http_priority});
    f.Add({.id = "codex-ws-a", .provider = "codex", .priority = "0", .websockets = true});
    f.Add({.id = "codex-ws-b", .provider = "codex", .priority = "0", .websockets = true});
    const std::string_view provider = "codex";
    ar::PickRequest req;
    req.providers = {&provider, 1};
    req.model = "m";
    req.downstream_websocket = true;
    CHECK(Ids{f.PickId(req), f.PickId(req), f.PickId(req)} ==
          Ids{"codex-ws-a", "codex-ws-b", "codex-ws-a"});
  }
}

TEST_CASE("Note kept: websocket preference applies only to single-provider codex picks",
          "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "claude-http", .provider = "claude"});
  f.Add({.id = "claude-ws", .provider = "claude", .websockets = true});
  f.Add({.id = "codex-http", .provider = "codex"});
  f.Add({.id = "codex-ws", .provider = "codex", .websockets = true});
  ar::PickRequest req;
  const std::string_view claude = "claude";
  req.providers = {&claude, 1};
  req.model = "m";
  req.downstream_websocket = true;
  CHECK(f.PickId(req) == "claude-http");
  const std::string_view both[] = {"codex", "claude"};
  req.providers = both;
  std::vector<std::string> seen;
  for (int i = 0; i < 4; ++i) seen.push_back(f.PickId(req));
  CHECK(std::count(seen.begin(), seen.end(), "codex-http") == 1);
  const std::string_view pinned_codex = "codex";
  req.providers = {&pinned_codex, 1};
  req.pinned_id = "codex-http";
  CHECK(f.PickId(req) == "codex-http");  // a pin turns the preference off
}

// ---- §5.9 mixed providers -------------------------------------------------------------------

TEST_CASE("Mixed picks rotate across providers weighted by ready credentials", "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "gemini-a", .provider = "gemini"});
  f.Add({.id = "gemini-b", .provider = "gemini"});
  f.Add({.id = "claude-a", .provider = "claude"});
  const std::string_view providers[] = {"gemini", "claude"};
  ar::PickRequest req;
  req.providers = providers;
  req.model = "m";
  Ids got;
  for (int i = 0; i < 4; ++i) got.push_back(f.PickId(req));
  CHECK(got == Ids{"gemini-a", "gemini-b", "claude-a", "gemini-a"});
  auto r = f.manager->Pick(req);
  REQUIRE(r.ok());
  CHECK(r->provider == "gemini");
}

TEST_CASE("Mixed picks take the best priority across providers", "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "low", .provider = "p1", .priority = "4"});
  f.Add({.id = "high-a", .provider = "p2", .priority = "7"});
  f.Add({.id = "high-b", .provider = "p3", .priority = "7"});
  const std::string_view providers[] = {"p1", "p2", "p3"};
  ar::PickRequest req;
  req.providers = providers;
  req.model = "m";
  Ids got;
  for (int i = 0; i < 4; ++i) got.push_back(f.PickId(req));
  CHECK(got == Ids{"high-a", "high-b", "high-a", "high-b"});
}

TEST_CASE("A provider with three ready credentials gets three slots of four", "[scheduler]") {
  ManagerFixture f;
  for (const char* id : {"a1", "a2", "a3"}) f.Add({.id = id, .provider = "a"});
  f.Add({.id = "b1", .provider = "b"});
  const std::string_view providers[] = {"a", "b"};
  ar::PickRequest req;
  req.providers = providers;
  req.model = "m";
  Ids got;
  for (int i = 0; i < 8; ++i) got.push_back(f.PickId(req));
  CHECK(got == Ids{"a1", "a2", "a3", "b1", "a1", "a2", "a3", "b1"});
}

TEST_CASE("The mixed rotation keeps its slot when a provider's ready count changes or a pick fails",
          "[scheduler]") {
  // The rotation is the slot after the last pick, taken modulo the providers' ready total of
  // each pick: a (a1 a2 a3) holds the first slots and b (b1) the last.
  ManagerFixture f;
  for (const char* id : {"a1", "a2", "a3"}) f.Add({.id = id, .provider = "a"});
  f.Add({.id = "b1", .provider = "b"});
  const std::string_view providers[] = {"a", "b"};
  ar::PickRequest req;
  req.providers = providers;
  req.model = "m";
  CHECK(f.PickId(req) == "a1");  // slot 0 of 4
  CHECK(f.PickId(req) == "a2");  // slot 1
  ar::Result cool;
  cool.credential_id = "a2";
  cool.model = "m";
  cool.http_status = 429;
  cool.retry_after = absl::Minutes(5);
  REQUIRE(f.manager->MarkResult(cool).ok());
  CHECK(f.PickId(req) == "b1");  // slot 2 of 3: a holds [0, 2), b [2, 3)
  CHECK(f.PickId(req) == "a3");  // slot 0
  CHECK(f.PickId(req) == "a1");  // slot 1
  CHECK(f.PickId(req) == "b1");  // slot 2
  ar::Result back;
  back.credential_id = "a2";
  back.model = "m";
  back.success = true;
  REQUIRE(f.manager->MarkResult(back).ok());
  // Slot 3 of 4 again (the slot after the last pick), not the sixth pick's 6 mod 4 = 2.
  CHECK(f.PickId(req) == "b1");
  CHECK(f.PickId(req).front() == 'a');  // slot 0
  CHECK(f.PickId(req).front() == 'a');  // slot 1
  // A pick that finds nothing (everything tried) leaves the rotation at slot 2.
  const std::string_view everything[] = {"a1", "a2", "a3", "b1"};
  req.tried = everything;
  CHECK(f.PickId(req).front() == '<');
  req.tried = {};
  CHECK(f.PickId(req).front() == 'a');  // slot 2
  CHECK(f.PickId(req) == "b1");         // slot 3
}

TEST_CASE("Note kept: the mixed rotation counts tried credentials in provider weights",
          "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "a1", .provider = "a"});
  f.Add({.id = "a2", .provider = "a"});
  f.Add({.id = "b1", .provider = "b"});
  const std::string_view providers[] = {"a", "b"};
  const std::string_view tried[] = {"a1"};
  ar::PickRequest req;
  req.providers = providers;
  req.model = "m";
  req.tried = tried;
  Ids got;
  for (int i = 0; i < 3; ++i) got.push_back(f.PickId(req));
  CHECK(got == Ids{"a2", "a2", "b1"});
}

TEST_CASE("Note fixed: one pick path normalises providers -- none at all is provider_not_found",
          "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "g", .provider = "gemini"});
  const std::string_view messy[] = {" Gemini ", "GEMINI", "", "gemini"};
  ar::PickRequest req;
  req.providers = messy;
  req.model = "m";
  auto r = f.manager->Pick(req);
  REQUIRE(r.ok());
  CHECK(r->provider == "gemini");
  const std::string_view blank[] = {" ", ""};
  req.providers = blank;
  auto none = f.manager->Pick(req);
  REQUIRE_FALSE(none.ok());
  CHECK(absl::IsInvalidArgument(none.status()));
  auto e = ar::GetRoutingError(none.status());
  REQUIRE(e);
  CHECK(e->code == "provider_not_found");
  CHECK(e->message == "no provider supplied");
  req.providers = {};
  CHECK(f.PickId(req) == "<provider_not_found>");
}

TEST_CASE("Mixed fill-first takes providers in list order at the best priority",
          "[scheduler]") {
  ManagerFixture f({.strategy = ar::RoutingStrategy::kFillFirst});
  f.Add({.id = "z-claude", .provider = "claude"});
  f.Add({.id = "a-gemini", .provider = "gemini"});
  const std::string_view providers[] = {"claude", "gemini"};
  ar::PickRequest req;
  req.providers = providers;
  req.model = "m";
  CHECK(f.PickId(req) == "z-claude");
  CHECK(f.PickId(req) == "z-claude");
}

TEST_CASE("Mixed errors leave out the provider and sum over providers", "[scheduler]") {
  ManagerFixture f;
  auto a = f.Make({.id = "a", .provider = "gemini"});
  a.model_states["m"] = CoolingState(f.clock.Now() + absl::Seconds(90.6), true);
  f.AddCredential(a);
  auto b = f.Make({.id = "b", .provider = "claude"});
  b.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(3), true);
  f.AddCredential(b);
  const std::string_view providers[] = {"gemini", "claude"};
  ar::PickRequest req;
  req.providers = providers;
  req.model = "m";
  auto e = ar::GetRoutingError(f.manager->Pick(req).status());
  REQUIRE(e);
  CHECK(e->body ==
        R"({"error":{"code":"model_cooldown","message":"All credentials for model m are cooling down","model":"m","reset_seconds":91,"reset_time":"1m31s"}})");
  // One 5xx block among the quota blocks makes it auth_unavailable.
  auto c = f.Make({.id = "c", .provider = "claude"});
  c.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(1), false);
  f.AddCredential(c);
  CHECK(f.PickId(req) == "<auth_unavailable>");
}

// ---- §7 pinned credential -------------------------------------------------------------------

TEST_CASE("A pin picks only that credential and never bypasses a cooldown", "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  const std::string_view provider = "claude";
  ar::PickRequest req;
  req.providers = {&provider, 1};
  req.model = "m";
  req.pinned_id = " b ";
  CHECK(f.PickId(req) == "b");
  CHECK(f.PickId(req) == "b");
  const std::string_view tried[] = {"b"};
  req.tried = tried;
  CHECK(f.PickId(req) == "<auth_not_found>");  // no fall-over to another credential
  req.tried = {};
  auto b = f.Make({.id = "b"});
  b.model_states["m"] = CoolingState(f.clock.Now() + absl::Seconds(20), true);
  REQUIRE(f.manager->Update(b).ok());
  CHECK(f.PickId(req) == "<model_cooldown>");
  req.pinned_id = "nobody";
  CHECK(f.PickId(req) == "<auth_not_found>");
}

TEST_CASE("A mixed pin must belong to a listed provider", "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "g", .provider = "gemini"});
  auto c = f.Add({.id = "c", .provider = "claude"});
  const std::string_view providers[] = {"gemini", "claude"};
  ar::PickRequest req;
  req.providers = providers;
  req.model = "m";
  req.pinned_id = "c";
  auto r = f.manager->Pick(req);
  REQUIRE(r.ok());
  CHECK(r->credential->id == "c");
  CHECK(r->provider == "claude");
  const std::string_view only_gemini[] = {"gemini", "codex"};
  req.providers = only_gemini;
  CHECK(f.PickId(req) == "<auth_not_found>");
  auto cooling = f.Make({.id = "c", .provider = "claude"});
  cooling.model_states["m"] = CoolingState(f.clock.Now() + absl::Seconds(5), true);
  REQUIRE(f.manager->Update(cooling).ok());
  req.providers = providers;
  auto e = ar::GetRoutingError(f.manager->Pick(req).status());
  REQUIRE(e);
  CHECK(e->code == "model_cooldown");
  CHECK(e->body.find("\"provider\"") == std::string::npos);  // labelled mixed
}

// ---- B3 weighted round-robin ----------------------------------------------------------------

TEST_CASE("Weighted round-robin follows the smooth weighted sequence", "[scheduler]") {
  ManagerFixture f({.strategy = ar::RoutingStrategy::kWeightedRoundRobin});
  f.Add({.id = "a", .weight = "5"});
  f.Add({.id = "b", .weight = "1"});
  f.Add({.id = "c"});  // default weight 1
  CHECK(f.PickIds("claude", 14) ==
        Ids{"a", "a", "b", "a", "c", "a", "a", "a", "a", "b", "a", "c", "a", "a"});
}

TEST_CASE("Weighted round-robin excludes weight 0 and restarts when weights change",
          "[scheduler]") {
  ManagerFixture f({.strategy = ar::RoutingStrategy::kWeightedRoundRobin});
  f.Add({.id = "a", .weight = "2"});
  f.Add({.id = "b", .weight = "1"});
  f.Add({.id = "off", .weight = "0"});
  CHECK(f.PickIds("claude", 3) == Ids{"a", "b", "a"});
  REQUIRE(f.manager->Update(f.Make({.id = "b", .weight = "3"})).ok());
  // Weights {a:2, b:3}: b, a, b, a, b, then again.
  CHECK(f.PickIds("claude", 5) == Ids{"b", "a", "b", "a", "b"});
  ManagerFixture only_zero({.strategy = ar::RoutingStrategy::kWeightedRoundRobin});
  only_zero.Add({.id = "z", .weight = "-1"});
  CHECK(only_zero.PickId("claude") == "<auth_not_found>");
}

TEST_CASE("Weighted mixed picks run one smooth rotation over all providers", "[scheduler]") {
  ManagerFixture f({.strategy = ar::RoutingStrategy::kWeightedRoundRobin});
  f.Add({.id = "a", .provider = "p1", .weight = "3"});
  f.Add({.id = "b", .provider = "p2", .weight = "1"});
  const std::string_view providers[] = {"p1", "p2"};
  ar::PickRequest req;
  req.providers = providers;
  req.model = "m";
  Ids got;
  for (int i = 0; i < 8; ++i) got.push_back(f.PickId(req));
  CHECK(got == Ids{"a", "a", "b", "a", "a", "a", "b", "a"});
}

TEST_CASE("Fixed: switching strategy keeps rotations instead of rebuilding", "[scheduler]") {
  ManagerFixture f;
  for (const char* id : {"a", "b", "c"}) f.Add({.id = id});
  CHECK(f.PickId("claude") == "a");
  f.manager->SetStrategy(ar::RoutingStrategy::kFillFirst);
  CHECK(f.manager->strategy() == ar::RoutingStrategy::kFillFirst);
  CHECK(f.PickIds("claude", 2) == Ids{"a", "a"});
  f.manager->SetStrategy(ar::RoutingStrategy::kRoundRobin);
  CHECK(f.PickIds("claude", 2) == Ids{"b", "c"});
}

TEST_CASE("Routing strategies have configuration names", "[scheduler]") {
  CHECK(*ar::ParseRoutingStrategy(" Fill-First ") == ar::RoutingStrategy::kFillFirst);
  CHECK(*ar::ParseRoutingStrategy("") == ar::RoutingStrategy::kRoundRobin);
  CHECK(*ar::ParseRoutingStrategy("weighted-round-robin") ==
        ar::RoutingStrategy::kWeightedRoundRobin);
  CHECK(absl::IsInvalidArgument(ar::ParseRoutingStrategy("random").status()));
  for (auto s : {ar::RoutingStrategy::kRoundRobin, ar::RoutingStrategy::kFillFirst,
                 ar::RoutingStrategy::kWeightedRoundRobin}) {
    CHECK(*ar::ParseRoutingStrategy(ar::RoutingStrategyName(s)) == s);
  }
}

// ---- host selectors (the general path) --------------------------------------------------------

namespace {

class RecordingSelector : public ar::Selector {
 public:
  absl::StatusOr<size_t> Select(const ar::SelectContext& context,
                                std::span<const std::shared_ptr<const ar::Credential>> candidates) override {
    provider = std::string(context.provider);
    model = std::string(context.model);
    ids.clear();
    for (const auto& c : candidates) ids.push_back(c->id);
    return answer;
  }
  absl::StatusOr<size_t> answer = size_t{0};
  std::string provider, model;
  Ids ids;
};

}  // namespace

TEST_CASE("A host selector receives the available best tier and chooses", "[scheduler]") {
  auto selector = std::make_shared<RecordingSelector>();
  ManagerFixture f({.selector = selector});
  f.Add({.id = "c", .priority = "1"});
  f.Add({.id = "a", .priority = "1"});
  f.Add({.id = "low", .priority = "0"});
  auto cooling = f.Make({.id = "b", .priority = "1"});
  cooling.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(1), true);
  f.AddCredential(cooling);
  selector->answer = size_t{1};
  CHECK(f.PickId("claude", "m(high)") == "c");
  CHECK(selector->ids == Ids{"a", "c"});
  CHECK(selector->provider == "claude");
  CHECK(selector->model == "m(high)");
  f.Add({.id = "g", .provider = "gemini", .priority = "1"});
  const std::string_view providers[] = {"claude", "gemini"};
  ar::PickRequest req;
  req.providers = providers;
  req.model = "m";
  selector->answer = size_t{2};
  auto r = f.manager->Pick(req);
  REQUIRE(r.ok());
  CHECK(r->credential->id == "g");
  CHECK(r->provider == "gemini");
  CHECK(selector->provider == "mixed");
  CHECK(selector->ids == Ids{"a", "c", "g"});
  selector->answer = size_t{7};
  auto out_of_range = f.manager->Pick(req);
  auto e = ar::GetRoutingError(out_of_range.status());
  REQUIRE(e);
  CHECK(e->code == "auth_not_found");
  CHECK(e->message == "selector returned no auth");
  selector->answer = absl::InternalError("boom");
  CHECK(f.manager->Pick(req).status() == absl::InternalError("boom"));  // the host's error
  f.manager->SetSelector(nullptr);
  CHECK(f.PickId("claude") == "a");
}

TEST_CASE("Fixed (B2): errors on the selector path name the route model", "[scheduler]") {
  auto selector = std::make_shared<RecordingSelector>();
  ManagerFixture f({.selector = selector});
  auto c = f.Make({.id = "a"});
  c.model_states["m"] = CoolingState(f.clock.Now() + absl::Seconds(59.4), true);
  f.AddCredential(c);
  auto e = ar::GetRoutingError(f.manager->Pick("claude", "m").status());
  REQUIRE(e);
  CHECK(e->body ==
        R"({"error":{"code":"model_cooldown","message":"All credentials for model m are cooling down via provider claude","model":"m","provider":"claude","reset_seconds":60,"reset_time":"59s"}})");
}

TEST_CASE("Picks stay correct as routing state appears and disappears", "[scheduler]") {
  ManagerFixture f;
  ManagerFixture other;  // a second manager used from the same thread
  f.Add({.id = "a"});
  other.Add({.id = "x"});
  CHECK(f.PickId("claude") == "a");
  CHECK(other.PickId("claude") == "x");
  CHECK(f.PickId("claude") == "a");
  // The model stops being served (its state goes away), then is served again.
  f.manager->UnregisterModels("a");
  CHECK(f.PickId("claude") == "<auth_not_found>");
  f.manager->RegisterModels("a", {"m"});
  CHECK(f.PickId("claude") == "a");
  // Every credential of the provider goes away, then one comes back: model-less picks follow.
  CHECK(f.PickId("claude", "") == "a");
  REQUIRE(f.manager->Remove("a").ok());
  CHECK(f.PickId("claude", "") == "<auth_not_found>");
  f.Add({.id = "b"});
  CHECK(f.PickId("claude", "") == "b");
  CHECK(f.PickId("claude") == "b");
  // Mixed rotations survive strategy switches (which drop them) and are rebuilt.
  f.Add({.id = "g", .provider = "gemini"});
  const std::string_view providers[] = {"claude", "gemini"};
  ar::PickRequest req;
  req.providers = providers;
  req.model = "m";
  CHECK(f.PickId(req) == "b");
  f.manager->SetStrategy(ar::RoutingStrategy::kWeightedRoundRobin);
  f.manager->SetStrategy(ar::RoutingStrategy::kRoundRobin);
  const std::string got = f.PickId(req);
  CHECK((got == "b" || got == "g"));
}

TEST_CASE("Note fixed: registering the same models again never clears a live cooldown",
          "[scheduler]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  c.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(30), true);
  f.AddCredential(c);
  CHECK(f.PickId("claude") == "<model_cooldown>");
  f.manager->RegisterModels("a", {"m", "n"});
  f.manager->RegisterModels("a", {"m"});
  CHECK(f.PickId("claude") == "<model_cooldown>");
  CHECK(f.manager->Get("a")->model_states.at("m").unavailable);
}

// ---- regressions found in review --------------------------------------------------------------

TEST_CASE("Provider and model names with separators never share routing state", "[scheduler]") {
  ManagerFixture f;
  f.Add({.id = "ab", .provider = "a,b"});
  f.Add({.id = "a1", .provider = "a"});
  f.Add({.id = "b1", .provider = "b"});
  f.Add({.id = "o1", .provider = "ollama", .models = {"llama3:8b"}});
  CHECK(f.PickId("a,b") == "ab");
  const std::string_view split[] = {"a", "b"};
  ar::PickRequest req;
  req.providers = split;
  req.model = "m";
  CHECK(f.PickId(req) == "a1");
  CHECK(f.PickId("ollama", "llama3:8b") == "o1");
  CHECK(f.PickId("ollama:llama3", "8b") == "<auth_not_found>");
}

TEST_CASE("A retry time between two nanoseconds settles", "[scheduler]") {
  ManagerFixture f;
  auto c = f.Make({.id = "a"});
  c.model_states["m"] = CoolingState(f.clock.Now() + absl::Nanoseconds(0.5), true);
  f.AddCredential(c);
  CHECK(f.PickId("claude") == "<model_cooldown>");
  f.clock.Advance(absl::Nanoseconds(1));
  CHECK(f.PickId("claude") == "a");
}

TEST_CASE("Note kept: a cooling entry is re-checked at its reported retry time", "[scheduler]") {
  ManagerFixture f;
  // Recovery before the retry time: re-checked at recovery, then reported until the retry time.
  auto c = f.Make({.id = "a"});
  auto st = CoolingState(f.clock.Now() + absl::Minutes(10), true);
  st.quota.next_recover_at = f.clock.Now() + absl::Minutes(1);
  c.model_states["m"] = st;
  f.AddCredential(c);
  CHECK(ar::GetRoutingError(f.manager->Pick("claude", "m").status())->retry_after ==
        absl::Minutes(1));
  f.clock.Advance(absl::Minutes(2));
  CHECK(ar::GetRoutingError(f.manager->Pick("claude", "m").status())->retry_after ==
        absl::Minutes(8));
  // Recovery after the retry time: the scheduler keeps it cooling until recovery (upstream).
  ManagerFixture g;
  auto d = g.Make({.id = "d"});
  auto late = CoolingState(g.clock.Now() + absl::Minutes(1), true);
  late.quota.next_recover_at = g.clock.Now() + absl::Minutes(10);
  d.model_states["m"] = late;
  g.AddCredential(d);
  CHECK(g.PickId("claude") == "<model_cooldown>");  // evaluated while cooling
  g.clock.Advance(absl::Minutes(2));
  CHECK(g.PickId("claude") == "<model_cooldown>");
  g.clock.Advance(absl::Minutes(8));
  CHECK(g.PickId("claude") == "d");
}

TEST_CASE("Fixed: retries do not restart the weighted rotation", "[scheduler]") {
  ManagerFixture f({.strategy = ar::RoutingStrategy::kWeightedRoundRobin});
  f.Add({.id = "a", .weight = "1"});
  f.Add({.id = "b", .weight = "1"});
  const std::string_view provider = "claude";
  const std::string_view tried[] = {"a"};
  ar::PickRequest retry;
  retry.providers = {&provider, 1};
  retry.model = "m";
  retry.tried = tried;
  Ids normal;
  for (int i = 0; i < 4; ++i) {
    normal.push_back(f.PickId("claude"));
    CHECK(f.PickId(retry) == "b");
  }
  CHECK(normal == Ids{"a", "b", "a", "b"});  // upstream: a, a, a, a
}

TEST_CASE("A credential that cools and recovers before its next turn keeps ID order",
          "[scheduler]") {
  ManagerFixture f;
  for (const char* id : {"a", "c", "e"}) f.Add({.id = id});
  CHECK(f.PickIds("claude", 2) == Ids{"a", "c"});
  auto c = f.Make({.id = "c"});
  c.model_states["m"] = CoolingState(f.clock.Now() + absl::Seconds(5), true);
  REQUIRE(f.manager->Update(c).ok());
  REQUIRE(f.manager->ResetCooldowns("c").ok());
  CHECK(f.PickIds("claude", 3) == Ids{"e", "a", "c"});
}
