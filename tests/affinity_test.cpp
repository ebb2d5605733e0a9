// Session affinity through the Manager: spec 03 §6 behaviour sequences and later fixes A5-A9.
#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <thread>

#include "authrouter/manager.h"
#include "support/manager_fixture.h"

using authrouter::testing::CoolingState;
using authrouter::testing::ManagerFixture;
using authrouter::testing::Name;
namespace ar = authrouter;

namespace {

constexpr std::string_view kClaude = "claude";

const std::string kTurn1 =
    R"({"messages":[{"role":"system","content":"You are helpful"},{"role":"user","content":"Hello"}]})";
const std::string kTurn2 =
    R"({"messages":[{"role":"system","content":"You are helpful"},{"role":"user","content":"Hello"},{"role":"assistant","content":"Hi there!"},{"role":"user","content":"Help me"}]})";
const std::string kTurn3 =
    R"({"messages":[{"role":"system","content":"You are helpful"},{"role":"user","content":"Hello"},{"role":"assistant","content":"Hi there!"},{"role":"user","content":"Help me"},{"role":"assistant","content":"Sure!"},{"role":"user","content":"Thanks"}]})";

// These sequences are upstream's, whose new conversations take the strategy's next pick
// (SessionPlacement::kStrategy); placement_test.cpp covers the rendezvous default.
ManagerFixture Affinity(ar::ManagerOptions options = {}) {
  options.session_affinity = true;
  options.session_placement = ar::SessionPlacement::kStrategy;
  options.session_affinity_ttl = absl::Hours(1);
  return ManagerFixture(std::move(options));
}

absl::StatusOr<ar::PickResult> PickBody(ManagerFixture& f, std::string_view body,
                                        std::string_view model = "m") {
  ar::PickRequest r;
  r.providers = {&kClaude, 1};
  r.model = model;
  r.body = body;
  return f.manager->Pick(r);
}

std::string Session(ManagerFixture& f, std::string_view session, std::string_view model = "m") {
  const ar::HttpHeader headers[] = {{"X-Session-ID", session}};
  ar::PickRequest r;
  r.providers = {&kClaude, 1};
  r.model = model;
  r.headers = headers;
  return ManagerFixture::Describe(f.manager->Pick(r));
}

}  // namespace

TEST_CASE("A conversation stays on one credential across turns in the upstream mode", "[affinity]") {
  ar::ManagerOptions upstream;
  upstream.session_affinity_content_identity = ar::ContentIdentity::kUpstream;
  auto f = Affinity(upstream);
  for (const char* id : {"auth-a", "auth-b", "auth-c"}) f.Add({.id = id});
  CHECK(f.PickId("claude") == "auth-a");  // move the round-robin on: the session starts at b
  auto t1 = PickBody(f, kTurn1);
  REQUIRE(t1.ok());
  const std::string bound = t1->credential->id;
  CHECK(bound == "auth-b");
  REQUIRE(t1->session);
  CHECK(*t1->session == "claude::msg:db09d768eef0153d::m");
  // Turn 2 has a new primary ID and inherits the binding through its fallback ID.
  auto t2 = PickBody(f, kTurn2);
  CHECK(t2->credential->id == bound);
  CHECK(*t2->session == "claude::msg:46d2b383fc6205a1::m");
  CHECK(PickBody(f, kTurn3)->credential->id == bound);
  CHECK(PickBody(f, kTurn1)->credential->id == bound);
}

TEST_CASE("Without a session ID a pick is an ordinary pick", "[affinity]") {
  auto f = Affinity();
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  CHECK(f.PickIds("claude", 3) == std::vector<std::string>{"a", "b", "a"});
  auto r = PickBody(f, R"({"model":"x"})");
  CHECK_FALSE(r->session);
}

TEST_CASE("New sessions spread over the credentials", "[affinity]") {
  auto f = Affinity();
  for (const char* id : {"a", "b", "c"}) f.Add({.id = id});
  std::map<std::string, int> counts;
  for (int i = 0; i < 12; ++i) ++counts[Session(f, Name("s", i))];
  CHECK(counts == std::map<std::string, int>{{"a", 4}, {"b", 4}, {"c", 4}});
  for (int i = 0; i < 12; ++i) CHECK(Session(f, Name("s", i)) == Session(f, Name("s", i)));
}

TEST_CASE("A bound credential that cools down is replaced, and the session stays on the new one",
          "[affinity]") {
  auto f = Affinity();
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  CHECK(Session(f, "s1") == "a");
  auto a = f.Make({.id = "a"});
  a.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(1), true);
  REQUIRE(f.manager->Update(a).ok());
  CHECK(Session(f, "s1") == "b");  // re-bound
  f.clock.Advance(absl::Minutes(2));
  CHECK(Session(f, "s1") == "b");  // stays after a recovers
}

TEST_CASE("Fixed (A6): a session on a lower tier is not moved when a higher tier recovers",
          "[affinity]") {
  auto f = Affinity();
  auto high = f.Make({.id = "high", .priority = "10"});
  high.model_states["m"] = CoolingState(f.clock.Now() + absl::Minutes(1), true);
  f.AddCredential(high);
  f.Add({.id = "low", .priority = "0"});
  CHECK(Session(f, "s1") == "low");
  f.clock.Advance(absl::Minutes(2));
  CHECK(f.PickId("claude") == "high");  // new requests go to the better tier
  CHECK(Session(f, "s1") == "low");     // the bound session keeps its prompt cache
}

TEST_CASE("Note fixed (A8): keys use the canonical model -- suffix variants share a binding",
          "[affinity]") {
  auto f = Affinity();
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  CHECK(Session(f, "s1", "m(high)") == "a");
  CHECK(Session(f, "s1", "m(low)") == "a");
  CHECK(Session(f, "s1", "m") == "a");
}

TEST_CASE("Each model keeps its own binding", "[affinity]") {
  auto f = Affinity();
  f.Add({.id = "a", .models = {"m", "n"}});
  f.Add({.id = "b", .models = {"m", "n"}});
  CHECK(f.PickId("claude", "n") == "a");  // n's rotation moves on; m's does not
  CHECK(Session(f, "s1", "m") == "a");
  CHECK(Session(f, "s1", "n") == "b");
  CHECK(Session(f, "s1", "m") == "a");
  CHECK(Session(f, "s1", "n") == "b");
}

TEST_CASE("Fixed (A7): results keep or release the binding", "[affinity]") {
  auto f = Affinity();
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  f.Add({.id = "c"});
  const ar::HttpHeader headers[] = {{"X-Session-ID", "s1"}};
  ar::PickRequest req;
  req.providers = {&kClaude, 1};
  req.model = "m";
  req.headers = headers;
  auto first = f.manager->Pick(req);
  REQUIRE(first.ok());
  CHECK(first->credential->id == "a");
  ar::Result r;
  r.credential_id = "a";
  r.model = "m";
  r.session_key = *first->session;
  // A success 50 min later keeps the binding alive past its first hour.
  f.clock.Advance(absl::Minutes(50));
  r.success = true;
  REQUIRE(f.manager->MarkResult(r).ok());
  f.clock.Advance(absl::Minutes(50));
  CHECK(Session(f, "s1") == "a");
  // A client cancellation says nothing about the credential: the binding stays.
  r.success = false;
  r.http_status = 0;
  r.error_message = "context canceled";
  REQUIRE(f.manager->MarkResult(r).ok());
  CHECK(Session(f, "s1") == "a");
  // A real failure releases it; the next pick binds afresh.
  r.http_status = 400;
  r.error_message = "bad request";
  REQUIRE(f.manager->MarkResult(r).ok());
  const std::string rebound = Session(f, "s1");
  CHECK(rebound != "<auth_not_found>");
  // A late failure of the old credential does not release the new binding.
  r.credential_id = "a";
  if (rebound != "a") {
    REQUIRE(f.manager->MarkResult(r).ok());
    CHECK(Session(f, "s1") == rebound);
  }
}

TEST_CASE("A binding expires after its TTL without use", "[affinity]") {
  auto f = Affinity();
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  CHECK(Session(f, "s1") == "a");
  CHECK(f.PickId("claude") == "b");
  f.clock.Advance(absl::Minutes(61));
  CHECK(Session(f, "s1") == "a");  // a fresh binding from the rotation (a comes next)
  CHECK(Session(f, "s2") == "b");
}

TEST_CASE("A tried bound credential is replaced within the request", "[affinity]") {
  auto f = Affinity();
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  CHECK(Session(f, "s1") == "a");
  const ar::HttpHeader headers[] = {{"X-Session-ID", "s1"}};
  const std::string_view tried[] = {"a"};
  ar::PickRequest req;
  req.providers = {&kClaude, 1};
  req.model = "m";
  req.headers = headers;
  req.tried = tried;
  CHECK(ManagerFixture::Describe(f.manager->Pick(req)) == "b");
  CHECK(Session(f, "s1") == "b");
}

TEST_CASE("Note fixed (A9): reloads stop the old cache once and keep bindings while on",
          "[affinity]") {
  auto f = Affinity();
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  CHECK(Session(f, "s1") == "a");
  REQUIRE(f.manager->SetSessionAffinity(true, absl::Hours(2)).ok());  // TTL change only
  CHECK(Session(f, "s1") == "a");
  REQUIRE(f.manager->SetSessionAffinity(false, absl::Hours(2)).ok());
  REQUIRE(f.manager->SetSessionAffinity(false, absl::Hours(2)).ok());  // no double stop
  CHECK(Session(f, "s1") == "b");  // no affinity: plain rotation
  REQUIRE(f.manager->SetSessionAffinity(true, absl::Hours(1)).ok());
  const std::string fresh = Session(f, "s1");
  CHECK(Session(f, "s1") == fresh);
  CHECK(absl::IsInvalidArgument(f.manager->SetSessionAffinity(true, absl::ZeroDuration())));
  CHECK(absl::IsInvalidArgument(
      ar::Manager::Create({.session_affinity = true, .session_affinity_ttl = -absl::Seconds(1)})
          .status()));
}

TEST_CASE("Many threads picking one bound session all get its credential",
          "[affinity][stress]") {
  auto f = Affinity();
  for (const char* id : {"a", "b", "c"}) f.Add({.id = id});
  const std::string bound = Session(f, "shared");
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (Session(f, "shared") != bound) wrong.fetch_add(1);
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(wrong.load() == 0);
}

TEST_CASE("Execute carries the session from pick to result", "[affinity]") {
  auto f = Affinity();
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  class FailA : public ar::Executor {
   public:
    ar::Outcome Execute(const ar::Attempt& attempt) override {
      ar::Outcome o;
      o.success = attempt.credential.id != "a";
      o.http_status = o.success ? 200 : 500;
      return o;
    }
  } executor;
  const ar::HttpHeader headers[] = {{"X-Session-ID", "s1"}};
  ar::ExecuteRequest req;
  req.providers = {&kClaude, 1};
  req.model = "m";
  req.headers = headers;
  auto r = f.manager->Execute(req, executor);
  REQUIRE(r.ok());
  CHECK(r->credential->id == "b");  // a failed and released the binding; b took over
  CHECK(Session(f, "s1") == "b");
}

TEST_CASE("Note fixed (A1): header session IDs reach the selector", "[affinity]") {
  auto f = Affinity();
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  CHECK(Session(f, "from-a-header") == "a");
  CHECK(f.PickId("claude") == "b");
  CHECK(Session(f, "from-a-header") == "a");
}

TEST_CASE("Note fixed: removing or disabling a credential releases its bindings", "[affinity]") {
  auto f = Affinity();
  f.Add({.id = "a"});
  f.Add({.id = "b"});
  CHECK(Session(f, "s1") == "a");
  REQUIRE(f.manager->Remove("a").ok());
  CHECK(Session(f, "s1") == "b");
  f.Add({.id = "a"});
  CHECK(Session(f, "s1") == "b");  // the new binding holds even though a is back
  REQUIRE(f.manager->SetDisabled("b", true).ok());
  CHECK(Session(f, "s1") == "a");
}

TEST_CASE("Note kept: the single-provider cache key names the provider, mixed picks use mixed",
          "[affinity]") {
  auto f = Affinity();
  f.Add({.id = "a"});
  f.Add({.id = "g", .provider = "gemini"});
  const ar::HttpHeader headers[] = {{"X-Session-ID", "s1"}};
  const std::string_view both[] = {"claude", "gemini"};
  ar::PickRequest req;
  req.providers = both;
  req.model = "m(high)";
  req.headers = headers;
  auto r = f.manager->Pick(req);
  REQUIRE(r.ok());
  CHECK(*r->session == "mixed::header:s1::m");
  req.providers = {&kClaude, 1};
  CHECK(*f.manager->Pick(req)->session == "claude::header:s1::m");
}

TEST_CASE("The library never uses or invents an Idempotency-Key", "[affinity]") {
  auto f = Affinity();
  f.Add({.id = "a"});
  const ar::HttpHeader headers[] = {{"Idempotency-Key", "k-1"}};
  ar::PickRequest req;
  req.providers = {&kClaude, 1};
  req.model = "m";
  req.headers = headers;
  auto r = f.manager->Pick(req);
  REQUIRE(r.ok());
  CHECK_FALSE(r->session);  // no session from it, and none made up
}

TEST_CASE("A primary hit adds its fallback ID to the binding", "[affinity]") {
  auto f = Affinity();
  for (const char* id : {"a", "b", "c"}) f.Add({.id = id});
  auto first = PickBody(f, R"({"prompt_cache_key":"k1"})");
  REQUIRE(first.ok());
  const std::string bound = first->credential->id;
  CHECK(f.PickId("claude") != "<auth_not_found>");  // move the rotation on
  CHECK(PickBody(f, R"({"prompt_cache_key":"k1","conversation":"c1"})")->credential->id == bound);
  // The conversation alone now finds the same binding.
  CHECK(PickBody(f, R"({"conversation":"c1"})")->credential->id == bound);
}

TEST_CASE("Code Assist conversations stay put and different ones spread", "[affinity]") {
  auto f = Affinity();
  for (const char* id : {"auth-a", "auth-b", "auth-c"}) f.Add({.id = id});
  // Gemini CLI with a Google login: the Gemini request inside an envelope, with its session.
  const auto body = [](std::string_view session, int turns) {
    std::string contents;
    for (int i = 0; i < turns; ++i) {
      if (i > 0) contents += ",";
      contents += R"({"role":")" + std::string(i % 2 == 0 ? "user" : "model") +
                  R"(","parts":[{"text":"<session_context>the same boilerplate for everyone</session_context> turn )" +
                  std::to_string(i) + R"("}]})";
    }
    return R"({"model":"gemini-2.5-pro","project":"p-1","user_prompt_id":"x","request":{"contents":[)" +
           contents + R"(],"session_id":")" + std::string(session) + R"("}})";
  };
  std::map<std::string, std::string> first;
  for (int turn = 1; turn <= 5; turn += 2) {
    for (const char* s : {"0b7f6c1e-aaaa-4f3a-9b8c-000000000001", "0b7f6c1e-aaaa-4f3a-9b8c-000000000002",
                          "0b7f6c1e-aaaa-4f3a-9b8c-000000000003"}) {
      auto r = PickBody(f, body(s, turn));
      REQUIRE(r.ok());
      if (turn == 1) {
        first[s] = r->credential->id;
      } else {
        CHECK(r->credential->id == first[s]);  // every turn on the conversation's credential
      }
    }
    f.PickId("claude");  // an unbound pick moves the rotation on: only a binding keeps a turn put
  }
  std::set<std::string> used;
  for (const auto& [s, id] : first) used.insert(id);
  CHECK(used.size() == 3);  // three conversations on three credentials
}

namespace {

absl::StatusOr<ar::PickResult> PickWith(ManagerFixture& f, std::string_view body,
                                        std::string_view tenant, std::string_view model = "m",
                                        std::string_view session = {}) {
  const ar::HttpHeader headers[] = {{"X-Session-ID", session}};
  ar::PickRequest r;
  r.providers = {&kClaude, 1};
  r.model = model;
  r.body = body;
  r.tenant = tenant;
  if (!session.empty()) r.headers = headers;
  return f.manager->Pick(r);
}

}  // namespace

TEST_CASE("Two tenants with equal session IDs or equal first messages never share a binding",
          "[affinity]") {
  auto f = Affinity();
  for (const char* id : {"auth-a", "auth-b", "auth-c", "auth-d"}) f.Add({.id = id});
  // The same explicit session ID from two tenants.
  auto a1 = PickWith(f, "", "tenant-1", "m", "shared-session");
  auto b1 = PickWith(f, "", "tenant-2", "m", "shared-session");
  REQUIRE(a1.ok());
  REQUIRE(b1.ok());
  CHECK(a1->credential->id != b1->credential->id);  // the second is a new binding: next in turn
  // Each tenant's session stays on its own credential.
  for (int i = 0; i < 3; ++i) {
    f.PickId("claude");  // move the rotation on between turns
    CHECK(PickWith(f, "", "tenant-1", "m", "shared-session")->credential->id == a1->credential->id);
    CHECK(PickWith(f, "", "tenant-2", "m", "shared-session")->credential->id == b1->credential->id);
  }
  // The same first messages (content-derived session) from two tenants.
  auto a2 = PickWith(f, kTurn1, "tenant-1");
  auto b2 = PickWith(f, kTurn1, "tenant-2");
  REQUIRE(a2.ok());
  REQUIRE(b2.ok());
  CHECK(a2->credential->id != b2->credential->id);
  CHECK(*a2->session != *b2->session);
  // Tenant and session IDs that would spell the same key if joined with "::" stay apart, and a
  // key never shows the tenant itself (it may be an API key).
  auto c = PickWith(f, "", "x::claude::header:s", "m", "t");
  auto d = PickWith(f, "", "x", "m", "s::claude::header:t");
  REQUIRE(c.ok());
  REQUIRE(d.ok());
  CHECK(*c->session != *d->session);
  CHECK(c->session->find("x::claude") == std::string::npos);
  CHECK(a1->session->find("tenant-1") == std::string::npos);
}

TEST_CASE("The provider scope keeps a conversation's side calls on another model together",
          "[affinity]") {
  ar::ManagerOptions options;
  options.session_affinity_scope = ar::SessionScope::kProvider;
  auto f = Affinity(options);
  for (const char* id : {"auth-a", "auth-b", "auth-c"}) {
    f.Add({.id = id, .models = {"big", "small"}});
  }
  auto main_call = PickWith(f, "", "", "big", "conv-1");
  REQUIRE(main_call.ok());
  f.PickId("claude", "big");
  auto side_call = PickWith(f, "", "", "small", "conv-1");  // e.g. title generation
  REQUIRE(side_call.ok());
  CHECK(side_call->credential->id == main_call->credential->id);
  // Per model (the default, switched at runtime) the side call binds on its own.
  f.manager->SetSessionIdentity(true, ar::SessionScope::kModel, ar::ContentIdentity::kChain);
  auto per_model_big = PickWith(f, "", "", "big", "conv-2");
  auto per_model_small = PickWith(f, "", "", "small", "conv-2");
  REQUIRE(per_model_big.ok());
  REQUIRE(per_model_small.ok());
  CHECK(*per_model_big->session != *per_model_small->session);
}

TEST_CASE("Turning content sources off binds explicit session IDs only", "[affinity]") {
  ar::ManagerOptions options;
  options.session_affinity_content = false;
  auto f = Affinity(options);
  for (const char* id : {"auth-a", "auth-b", "auth-c"}) f.Add({.id = id});
  auto t1 = PickBody(f, kTurn1);
  REQUIRE(t1.ok());
  CHECK(t1->session == nullptr);  // the message hash makes no session
  auto t2 = PickBody(f, kTurn2);
  REQUIRE(t2.ok());
  CHECK(t2->credential->id != t1->credential->id);  // an ordinary round-robin pick
  // Explicit IDs still bind.
  auto s = PickWith(f, "", "", "m", "explicit-1");
  REQUIRE(s.ok());
  CHECK(s->session != nullptr);
  f.manager->SetSessionIdentity(true, ar::SessionScope::kModel, ar::ContentIdentity::kChain);
  auto again = PickBody(f, kTurn1);
  REQUIRE(again.ok());
  CHECK(again->session != nullptr);
}

TEST_CASE("A previous_response_id goes to the credential that produced the response",
          "[affinity]") {
  auto f = Affinity();
  for (const char* id : {"auth-a", "auth-b", "auth-c"}) f.Add({.id = id});
  // Turn 1 of a Responses conversation with a string input (no session ID at all).
  const std::string first = R"({"model":"m","input":"Write a poem","store":true})";
  auto t1 = PickBody(f, first);
  REQUIRE(t1.ok());
  CHECK(t1->response_chain == ar::ResponseChain::kNone);
  ar::Result done;
  done.credential_id = t1->credential->id;
  done.model = "m";
  done.success = true;
  done.response_id = "resp_68af1c2e9d1c8190a2b3";
  REQUIRE(f.manager->MarkResult(done).ok());
  // Later turns name the previous response and carry only the new input.
  const std::string next =
      R"({"model":"m","previous_response_id":"resp_68af1c2e9d1c8190a2b3","input":"Shorter"})";
  for (int i = 0; i < 4; ++i) {
    f.PickId("claude");  // other traffic moves the rotation on
    auto t = PickBody(f, next);
    REQUIRE(t.ok());
    CHECK(t->credential->id == t1->credential->id);
    CHECK(t->response_chain == ar::ResponseChain::kFollowed);
  }
  // Another tenant naming the same response ID is not routed by it.
  auto other = PickWith(f, next, "tenant-x");
  REQUIRE(other.ok());
  CHECK(other->response_chain == ar::ResponseChain::kBroken);
  // The producing credential cools down: an ordinary pick, reported as a broken chain.
  ar::Result cool;
  cool.credential_id = t1->credential->id;
  cool.model = "m";
  cool.http_status = 429;
  cool.retry_after = absl::Minutes(10);
  REQUIRE(f.manager->MarkResult(cool).ok());
  auto broken = PickBody(f, next);
  REQUIRE(broken.ok());
  CHECK(broken->credential->id != t1->credential->id);
  CHECK(broken->response_chain == ar::ResponseChain::kBroken);
  // An unknown response ID is a broken chain too.
  auto unknown = PickBody(f, R"({"previous_response_id":"resp_unknown","input":"x"})");
  REQUIRE(unknown.ok());
  CHECK(unknown->response_chain == ar::ResponseChain::kBroken);
  // A response ID with a control character or invalid UTF-8 is not recorded, and the result
  // still counts: the success below ends the cooldown.
  for (const char* bad : {"resp_\x01" "bad", "resp_\xff"}) {
    done.response_id = bad;
    CHECK(f.manager->MarkResult(done).ok());
    CHECK(PickBody(f, R"({"previous_response_id":")" + std::string(bad) + R"(","input":"x"})")
              ->response_chain != ar::ResponseChain::kFollowed);
  }
  bool back = false;  // back in the rotation
  for (int i = 0; i < 3; ++i) back = back || f.PickId("claude") == t1->credential->id;
  CHECK(back);
}

namespace {

// A chat request in OpenAI, Claude, Gemini or Responses form: a system prompt, then turns
// alternating user / model, the model's turns carrying `replies[i]`.
std::string ChatBody(std::string_view format, std::string_view system,
                     const std::vector<std::string>& turns) {
  std::string out;
  const auto text = [](std::string_view t) { return "\"" + std::string(t) + "\""; };
  if (format == "openai" || format == "claude") {
    out = format == "claude" ? R"({"model":"m","system":)" + text(system) + R"(,"messages":[)"
                             : R"({"model":"m","messages":[{"role":"system","content":)" + text(system) + "},";
    for (size_t i = 0; i < turns.size(); ++i) {
      if (i > 0) out += ",";
      const std::string role = i % 2 == 0 ? "user" : "assistant";
      if (format == "claude") {
        // Claude Code moves cache_control to the newest turns: not part of the identity.
        out += R"({"role":")" + role + R"(","content":[{"type":"text","text":)" + text(turns[i]) +
               (i + 1 == turns.size() ? R"(,"cache_control":{"type":"ephemeral"})" : "") + "}]}";
      } else {
        out += R"({"role":")" + role + R"(","content":)" + text(turns[i]) + "}";
      }
    }
    return out + "]}";
  }
  if (format == "gemini") {
    out = R"({"systemInstruction":{"parts":[{"text":)" + text(system) + R"(}]},"contents":[)";
    for (size_t i = 0; i < turns.size(); ++i) {
      if (i > 0) out += ",";
      out += R"({"role":")" + std::string(i % 2 == 0 ? "user" : "model") + R"(","parts":[{"text":)" +
             text(turns[i]) + "}]}";
    }
    return out + "]}";
  }
  out = R"({"model":"m","instructions":)" + text(system) + R"(,"input":[)";
  for (size_t i = 0; i < turns.size(); ++i) {
    if (i > 0) out += ",";
    const bool user = i % 2 == 0;
    out += R"({"type":"message","role":")" + std::string(user ? "user" : "assistant") +
           R"(","content":[{"type":")" + (user ? "input_text" : "output_text") + R"(","text":)" +
           text(turns[i]) + "}]}";
  }
  return out + "]}";
}

}  // namespace

TEST_CASE("Conversation chains keep each conversation on one credential in every format",
          "[affinity]") {
  for (const char* format : {"openai", "claude", "gemini", "responses"}) {
    INFO(format);
    auto f = Affinity();
    for (const char* id : {"auth-a", "auth-b", "auth-c"}) f.Add({.id = id});
    // Three conversations, each with its own opening, advanced turn by turn.
    std::vector<std::vector<std::string>> convs = {{"Plan a trip to Kyoto"},
                                                   {"Fix my regex"},
                                                   {"Explain monads"}};
    std::vector<std::string> bound(convs.size());
    for (int round = 0; round < 4; ++round) {
      for (size_t c = 0; c < convs.size(); ++c) {
        auto r = PickBody(f, ChatBody(format, "You are helpful", convs[c]));
        REQUIRE(r.ok());
        REQUIRE(r->session);
        CHECK(r->session->find("::chain:") != std::string::npos);
        if (round == 0) {
          bound[c] = r->credential->id;
        } else {
          CHECK(r->credential->id == bound[c]);  // every turn, from the first one
        }
        convs[c].push_back("reply " + std::to_string(round) + " in conversation " + std::to_string(c));
        convs[c].push_back("question " + std::to_string(round + 1));
      }
      f.PickId("claude");  // other traffic moves the rotation on
    }
    CHECK(std::set<std::string>(bound.begin(), bound.end()).size() == 3);
  }
}

TEST_CASE("Conversations that open with the same boilerplate spread and each stays put",
          "[affinity]") {
  auto f = Affinity();
  for (const char* id : {"auth-a", "auth-b", "auth-c"}) f.Add({.id = id});
  // Gemini CLI with an API key: nothing identifies the session and every conversation opens
  // with the same <session_context> text.
  const std::string boilerplate =
      "<session_context>This is the Gemini CLI. We are setting up the context for our chat. "
      "Today's date is the same for everyone, and so is this long preamble.</session_context>";
  std::vector<std::vector<std::string>> convs(3, std::vector<std::string>{boilerplate});
  std::vector<std::string> first_pick, bound(3);
  for (size_t c = 0; c < 3; ++c) {
    auto r = PickBody(f, ChatBody("gemini", "You are Gemini CLI", convs[c]));
    REQUIRE(r.ok());
    first_pick.push_back(r->credential->id);
    convs[c].push_back("Model reply number " + std::to_string(c) + ", unique to this conversation");
    convs[c].push_back("User follow-up " + std::to_string(c));
  }
  // The openings are identical requests: ordinary picks, spread by the rotation.
  CHECK(std::set<std::string>(first_pick.begin(), first_pick.end()).size() == 3);
  for (int round = 0; round < 4; ++round) {
    for (size_t c = 0; c < 3; ++c) {
      auto r = PickBody(f, ChatBody("gemini", "You are Gemini CLI", convs[c]));
      REQUIRE(r.ok());
      if (round == 0) {
        bound[c] = r->credential->id;  // the shared opening says nothing: picked anew
      } else {
        CHECK(r->credential->id == bound[c]);
      }
      convs[c].push_back("reply " + std::to_string(round) + "/" + std::to_string(c));
      convs[c].push_back("more " + std::to_string(round));
    }
    f.PickId("claude");
  }
  // Not all on one credential (upstream's 100-byte hash put every one of them together).
  CHECK(std::set<std::string>(bound.begin(), bound.end()).size() == 3);
}

TEST_CASE("An edited history starts a new chain and a retried turn finds its conversation",
          "[affinity]") {
  auto f = Affinity();
  for (const char* id : {"auth-a", "auth-b", "auth-c"}) f.Add({.id = id});
  std::vector<std::string> conv = {"Write a haiku"};
  auto t1 = PickBody(f, ChatBody("openai", "sys", conv));
  REQUIRE(t1.ok());
  conv.push_back("An old silent pond");
  conv.push_back("Another one");
  f.PickId("claude");
  auto t2 = PickBody(f, ChatBody("openai", "sys", conv));
  REQUIRE(t2.ok());
  CHECK(t2->credential->id == t1->credential->id);
  // The same turn again (a retry): the same conversation.
  f.PickId("claude");
  CHECK(PickBody(f, ChatBody("openai", "sys", conv))->credential->id == t1->credential->id);
  // The model's reply edited: that history was never sent, so it continues nothing.
  std::vector<std::string> edited = conv;
  edited[1] = "A frog jumps in";
  f.PickId("claude");
  auto forked = PickBody(f, ChatBody("openai", "sys", edited));
  REQUIRE(forked.ok());
  CHECK(*forked->session != *t2->session);
}

TEST_CASE("Chain IDs come from turns, not from fields clients move between requests",
          "[session_id]") {
  ar::SessionIdExtractor x;
  const ar::SessionIdOptions chain{.content = ar::ContentIdentity::kChain};
  const std::string a =
      R"({"model":"m","system":"S","messages":[{"role":"user","content":[{"type":"text","text":"Hi","cache_control":{"type":"ephemeral"}}]}]})";
  const std::string b =
      R"({"model":"other","system":"S","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":5})";
  const std::string id_a(x.Extract({}, a, chain).chain);
  const std::string id_b(x.Extract({}, b, chain).chain);
  CHECK(id_a.rfind("chain:", 0) == 0);
  CHECK(id_a.size() == 22);
  CHECK(id_a == id_b);
  // A first request continues nothing; the upstream mode still gives msg: IDs.
  CHECK(x.Extract({}, a, chain).primary.empty());
  CHECK(std::string(x.Extract({}, a).primary).rfind("msg:", 0) == 0);
  // Explicit IDs win over the chain.
  const ar::HttpHeader h[] = {{"X-Session-ID", "explicit"}};
  const ar::SessionIds with_header = x.Extract(h, a, chain);
  CHECK(with_header.primary == "header:explicit");
  CHECK(with_header.chain.empty());
  // A different text is a different chain.
  const std::string c =
      R"({"system":"S","messages":[{"role":"user","content":[{"type":"text","text":"Ho"}]}]})";
  CHECK(std::string(x.Extract({}, c, chain).chain) != id_a);
}

namespace {

// SdkOrder moves the system prompt after the turns, as SDKs that sort their keys send it
// ("messages" < "system", "contents" < "systemInstruction", "input" < "instructions").
std::string SdkOrder(std::string_view format, std::string body) {
  const std::string_view key = format == "claude"   ? R"("system":)"
                               : format == "gemini" ? R"("systemInstruction":)"
                                                    : R"("instructions":)";
  const size_t at = body.find(key);
  if (at == std::string::npos || format == "openai") return body;
  // The system value runs to the comma before the turns' key.
  const size_t turns = body.find(format == "claude" ? R"("messages":)" : format == "gemini" ? R"("contents":)" : R"("input":)");
  std::string system = body.substr(at, turns - at - 1);  // without its trailing comma
  body.erase(at, turns - at);
  body.insert(body.size() - 1, "," + system);
  return body;
}

// Pretty spaces the JSON out (texts here hold no ':' or ',').
std::string Pretty(const std::string& body) {
  std::string out;
  for (char c : body) {
    out += c;
    if (c == ':') out += "  ";
    if (c == ',' || c == '{' || c == '[') out += "\n    ";
  }
  return out;
}

}  // namespace

TEST_CASE("Conversation chains hold with the system prompt after the turns and in pretty JSON",
          "[affinity]") {
  for (const char* format : {"claude", "gemini", "responses"}) {
    for (bool pretty : {false, true}) {
      INFO(format << (pretty ? " pretty" : ""));
      auto f = Affinity();
      for (const char* id : {"auth-a", "auth-b", "auth-c"}) f.Add({.id = id});
      std::vector<std::string> conv = {"Plan a trip"};
      std::string bound;
      for (int round = 0; round < 4; ++round) {
        std::string body = SdkOrder(format, ChatBody(format, "You are helpful", conv));
        if (round == 0) REQUIRE(body.find("You are helpful") > body.find("Plan a trip"));
        if (pretty) body = Pretty(body);
        auto r = PickBody(f, body);
        REQUIRE(r.ok());
        if (round == 0) {
          bound = r->credential->id;
        } else {
          CHECK(r->credential->id == bound);
        }
        conv.push_back("reply " + std::to_string(round));
        conv.push_back("question " + std::to_string(round));
        f.PickId("claude");
      }
    }
  }
}

TEST_CASE("A Responses tool loop with custom tool calls stays on one credential", "[affinity]") {
  auto f = Affinity();
  for (const char* id : {"auth-a", "auth-b", "auth-c"}) f.Add({.id = id});
  std::string items = R"({"type":"message","role":"user","content":[{"type":"input_text","text":"List files"}]})";
  const auto body = [&] { return R"({"model":"m","input":[)" + items + "]}"; };
  auto first = PickBody(f, body());
  REQUIRE(first.ok());
  for (int step = 0; step < 4; ++step) {
    const std::string id = "call_" + std::to_string(step);
    items += R"(,{"type":"custom_tool_call","call_id":")" + id + R"(","name":"shell","input":"ls"})";
    items += R"(,{"type":"custom_tool_call_output","call_id":")" + id + R"(","output":"a b c"})";
    f.PickId("claude");
    auto r = PickBody(f, body());
    REQUIRE(r.ok());
    CHECK(r->credential->id == first->credential->id);
  }
}

TEST_CASE("A Claude assistant prefill stays with its conversation", "[affinity]") {
  auto f = Affinity();
  for (const char* id : {"auth-a", "auth-b", "auth-c"}) f.Add({.id = id});
  // Every request ends with a prefilled model turn ("{" to start a JSON answer); the next
  // request carries the model's whole reply in its place.
  std::vector<std::string> conv = {"Give me JSON"};
  std::string bound;
  for (int round = 0; round < 4; ++round) {
    std::vector<std::string> sent = conv;
    sent.push_back("{");
    auto r = PickBody(f, ChatBody("claude", "sys", sent));
    REQUIRE(r.ok());
    REQUIRE(r->session);
    if (round == 0) {
      bound = r->credential->id;
    } else {
      CHECK(r->credential->id == bound);
    }
    conv.push_back("{\\\"answer\\\": " + std::to_string(round) + "}");
    conv.push_back("Again " + std::to_string(round));
    f.PickId("claude");
  }
  // The chain ID does not depend on the prefill.
  ar::SessionIdExtractor x;
  const ar::SessionIdOptions chain{.content = ar::ContentIdentity::kChain};
  std::vector<std::string> with = conv;
  with.push_back("{");
  const std::string a(x.Extract({}, ChatBody("claude", "sys", with), chain).chain);
  CHECK(a == std::string(x.Extract({}, ChatBody("claude", "sys", conv), chain).chain));
  // Model turns only identify nothing.
  CHECK(x.Extract({}, R"({"messages":[{"role":"assistant","content":"x"}]})", chain).chain.empty());
}

TEST_CASE("A retried opening that names its bound credential as tried is not marked shared",
          "[affinity]") {
  auto f = Affinity();
  for (const char* id : {"auth-a", "auth-b", "auth-c"}) f.Add({.id = id});
  std::vector<std::string> conv = {"A unique opening"};
  const std::string opening = ChatBody("openai", "sys", conv);
  auto first = PickBody(f, opening);
  REQUIRE(first.ok());
  // The upstream call failed; the host retries on another credential, naming the first as tried.
  const std::string_view tried[] = {first->credential->id};
  ar::PickRequest retry;
  retry.providers = {&kClaude, 1};
  retry.model = "m";
  retry.body = opening;
  retry.tried = tried;
  auto second = f.manager->Pick(retry);
  REQUIRE(second.ok());
  REQUIRE(second->credential->id != first->credential->id);
  REQUIRE(second->session);  // bound, not marked shared
  // The conversation goes on where the retry went.
  conv.push_back("reply");
  conv.push_back("next");
  for (int i = 0; i < 3; ++i) {
    f.PickId("claude");
    auto r = PickBody(f, ChatBody("openai", "sys", conv));
    REQUIRE(r.ok());
    CHECK(r->credential->id == second->credential->id);
  }
}

TEST_CASE("Tool calls are part of a turn's identity in the OpenAI and Gemini formats",
          "[session_id]") {
  ar::SessionIdExtractor x;
  const ar::SessionIdOptions chain{.content = ar::ContentIdentity::kChain};
  const auto openai = [](std::string_view call_id, std::string_view args) {
    return std::string(R"({"messages":[{"role":"user","content":"weather?"},)") +
           R"({"role":"assistant","content":null,"tool_calls":[{"id":")" + std::string(call_id) +
           R"(","type":"function","function":{"name":"get_weather","arguments":")" +
           std::string(args) + R"("}}]},{"role":"tool","tool_call_id":")" + std::string(call_id) +
           R"(","content":"sunny"}]})";
  };
  const std::string a(x.Extract({}, openai("call_1", "{}"), chain).chain);
  CHECK(!a.empty());
  CHECK(std::string(x.Extract({}, openai("call_2", "{}"), chain).chain) != a);
  CHECK(std::string(x.Extract({}, openai("call_1", "{\\\"city\\\":1}"), chain).chain) != a);
  CHECK(std::string(x.Extract({}, openai("call_1", "{}"), chain).chain) == a);
  const auto gemini = [](std::string_view fn, std::string_view args = "{}",
                          std::string_view response = "{}") {
    return std::string(R"({"contents":[{"role":"user","parts":[{"text":"weather?"}]},)") +
           R"({"role":"model","parts":[{"functionCall":{"name":")" + std::string(fn) +
           R"(","args":)" + std::string(args) +
           R"(}}]},{"role":"user","parts":[{"functionResponse":{"name":")" + std::string(fn) +
           R"(","response":)" + std::string(response) + R"(}}]}]})";
  };
  const std::string g(x.Extract({}, gemini("get_weather"), chain).chain);
  CHECK(!g.empty());
  CHECK(std::string(x.Extract({}, gemini("get_time"), chain).chain) != g);
  // The arguments and the result count too, as sent.
  const std::string kyoto(x.Extract({}, gemini("get_weather", R"({"city":"Kyoto"})"), chain).chain);
  CHECK(kyoto != g);
  CHECK(std::string(x.Extract({}, gemini("get_weather", R"({"city":"Osaka"})"), chain).chain) != kyoto);
  CHECK(std::string(x.Extract({}, gemini("get_weather", R"({"city":"Kyoto"})"), chain).chain) == kyoto);
  CHECK(std::string(x.Extract({}, gemini("get_weather", "{}", R"({"t":21})"), chain).chain) != g);
}

TEST_CASE("Claude tool_use inputs are part of a turn's identity", "[session_id]") {
  ar::SessionIdExtractor x;
  const ar::SessionIdOptions chain{.content = ar::ContentIdentity::kChain};
  const auto claude = [](std::string_view input) {
    return std::string(R"({"messages":[{"role":"user","content":"weather?"},)") +
           R"({"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather",)"
           R"("input":)" + std::string(input) +
           R"(}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1",)"
           R"("content":"sunny"}]}]})";
  };
  const std::string a(x.Extract({}, claude(R"({"city":"Kyoto"})"), chain).chain);
  CHECK(!a.empty());
  CHECK(std::string(x.Extract({}, claude(R"({"city":"Osaka"})"), chain).chain) != a);
  CHECK(std::string(x.Extract({}, claude(R"({"city":"Kyoto"})"), chain).chain) == a);
}

TEST_CASE("A Responses opening sent as a string is continued by the same history sent as items",
          "[session_id]") {
  ar::SessionIdExtractor x;
  const ar::SessionIdOptions chain{.content = ar::ContentIdentity::kChain};
  const std::string opening(x.Extract({}, R"({"input":"Plan a trip"})", chain).chain);
  REQUIRE_FALSE(opening.empty());
  const std::string as_items(
      x.Extract({}, R"({"input":[{"role":"user","content":"Plan a trip"}]})", chain).chain);
  CHECK(as_items == opening);
  const std::string as_parts(x.Extract(
      {}, R"({"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"Plan a trip"}]}]})",
      chain).chain);
  CHECK(as_parts == opening);
  const ar::SessionIds next = x.Extract(
      {}, R"({"input":[{"role":"user","content":"Plan a trip"},{"role":"assistant","content":"Where to?"},)"
          R"({"role":"user","content":"Kyoto"}]})",
      chain);
  CHECK(std::string(next.primary) == opening);
  CHECK(std::string(x.Extract({}, R"({"input":"Plan a holiday"})", chain).chain) != opening);
}
