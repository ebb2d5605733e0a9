// The refresh loop's rules (spec 05 §4, §8, §9, §10), the token merge (later fix D6) and the
// schedule's heap.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <random>

#include "authrouter/refresh.h"
#include "refresh/refresh_queue.h"
#include "support/time_helpers.h"

namespace authrouter {
namespace {

using testing::Utc;

const absl::Time kNow = Utc(2026, 4, 12);

Credential OAuth(std::string provider, std::string metadata_json) {
  Credential c;
  c.id = "a";
  c.provider = std::move(provider);
  c.status = CredentialStatus::kActive;
  c.metadata = *Metadata::Parse(metadata_json);
  return c;
}

std::string Rfc(absl::Time t) { return FormatRfc3339(t); }

RefreshOptions Interval15m() {
  RefreshOptions o;
  o.check_interval = absl::Minutes(15);
  return o;
}

class ClaimAll : public RefreshEvaluator {
 public:
  explicit ClaimAll(bool answer) : answer_(answer) {}
  bool Overrides(const Credential&) const override { return true; }
  bool ShouldRefresh(const Credential&, absl::Time) const override { return answer_; }

 private:
  bool answer_;
};

class LeadOnly : public RefreshEvaluator {
 public:
  explicit LeadOnly(absl::Duration lead) : lead_(lead) {}
  std::optional<absl::Duration> RefreshLead(const Credential&) const override { return lead_; }

 private:
  absl::Duration lead_;
};

TEST_CASE("Spec 05 §4 examples: next refresh check", "[refresh]") {
  const RefreshOptions o = Interval15m();
  SECTION("disabled: not scheduled") {
    Credential c = OAuth("claude", R"({"email":"a@x"})");
    c.disabled = true;
    CHECK_FALSE(NextRefreshCheck(c, kNow, o).has_value());
  }
  SECTION("api_key attribute only: not scheduled") {
    Credential c;
    c.id = "k";
    c.provider = "claude";
    c.attributes["api_key"] = "sk-1";
    CHECK_FALSE(NextRefreshCheck(c, kNow, o).has_value());
  }
  SECTION("NextRefreshAfter in the future wins") {
    Credential c = OAuth("claude", R"({"email":"a@x"})");
    c.next_refresh_after = kNow + absl::Minutes(30);
    CHECK(NextRefreshCheck(c, kNow, o) == kNow + absl::Minutes(30));
  }
  SECTION("preferred interval: earliest of expiry - pref and last + pref") {
    Credential c = OAuth("claude", R"({"email":"a@x","expires_at":")" +
                                       Rfc(kNow + absl::Minutes(20)) +
                                       R"(","refresh_interval_seconds":900})");
    c.last_refreshed_at = kNow;
    CHECK(NextRefreshCheck(c, kNow, o) == kNow + absl::Minutes(5));
  }
  SECTION("provider lead: expiry - lead") {
    RefreshOptions with_lead = o;
    with_lead.leads["acme"] = absl::Minutes(10);
    Credential c = OAuth("acme", R"({"email":"a@x","expires_at":")" + Rfc(kNow + absl::Hours(1)) +
                                     R"("})");
    CHECK(NextRefreshCheck(c, kNow, with_lead) == kNow + absl::Minutes(50));
  }
  SECTION("an evaluator: every interval") {
    RefreshOptions with_eval = o;
    with_eval.evaluator = std::make_shared<ClaimAll>(false);
    Credential c = OAuth("claude", R"({"email":"a@x"})");
    CHECK(NextRefreshCheck(c, kNow, with_eval) == kNow + absl::Minutes(15));
  }
}

TEST_CASE("Spec 05 §4: the remaining next-check rules", "[refresh]") {
  const RefreshOptions o = Interval15m();
  SECTION("preferred interval with an expired token: now") {
    Credential c = OAuth("x", R"({"email":"a@x","expires_at":")" + Rfc(kNow - absl::Minutes(1)) +
                                  R"(","refresh_interval":"1h"})");
    CHECK(NextRefreshCheck(c, kNow, o) == kNow);
  }
  SECTION("preferred interval, never refreshed: now") {
    Credential c = OAuth("x", R"({"email":"a@x","refresh_interval":"1h"})");
    CHECK(NextRefreshCheck(c, kNow, o) == kNow);
  }
  SECTION("preferred interval, no expiry: last + pref") {
    Credential c = OAuth("x", R"({"email":"a@x","refresh_interval":"1h"})");
    c.last_refreshed_at = kNow - absl::Minutes(10);
    CHECK(NextRefreshCheck(c, kNow, o) == kNow + absl::Minutes(50));
  }
  SECTION("preferred interval from the attributes") {
    Credential c = OAuth("x", R"({"email":"a@x"})");
    c.attributes["refresh_interval"] = "30m";
    c.last_refreshed_at = kNow;
    CHECK(NextRefreshCheck(c, kNow, o) == kNow + absl::Minutes(30));
  }
  SECTION("no lead for the provider: not scheduled") {
    Credential c = OAuth("gemini", R"({"email":"a@x","expiry":")" + Rfc(kNow) + R"("})");
    CHECK_FALSE(NextRefreshCheck(c, kNow, o).has_value());
  }
  SECTION("lead with an expiry already inside it: now") {
    Credential c = OAuth("claude", R"({"email":"a@x","expired":")" + Rfc(kNow + absl::Hours(1)) +
                                       R"("})");
    CHECK(NextRefreshCheck(c, kNow, o) == kNow);  // claude's lead is 4 h
  }
  SECTION("lead without expiry: last refresh + lead") {
    Credential c = OAuth("claude", R"({"email":"a@x","last_refresh":")" +
                                       Rfc(kNow - absl::Hours(1)) + R"("})");
    CHECK(NextRefreshCheck(c, kNow, o) == kNow + absl::Hours(3));
  }
  SECTION("lead, neither expiry nor last refresh: now") {
    Credential c = OAuth("codex", R"({"email":"a@x"})");
    CHECK(NextRefreshCheck(c, kNow, o) == kNow);
  }
  SECTION("later fix D2: a dead refresh token is not scheduled") {
    Credential c = OAuth("codex", R"({"email":"a@x"})");
    c.last_error = ErrorRecord{std::string(kDeadRefreshTokenCode), "status 401", false, 401};
    CHECK_FALSE(NextRefreshCheck(c, kNow, o).has_value());
    CHECK_FALSE(ShouldRefresh(c, kNow, o));
    c.last_error = ErrorRecord{"", "status 500", true, 500};
    CHECK(NextRefreshCheck(c, kNow, o) == kNow);
    // A request's 401 (an expired access token) never stops refreshing.
    c.last_error = ErrorRecord{"unauthorized", "invalid token", false, 401};
    CHECK(NextRefreshCheck(c, kNow, o) == kNow);
    CHECK(ShouldRefresh(c, kNow, o));
  }
}

TEST_CASE("Spec 05 §8: should refresh now", "[refresh]") {
  const RefreshOptions o = Interval15m();
  SECTION("disabled, or in backoff: no") {
    Credential c = OAuth("codex", R"({"email":"a@x"})");
    CHECK(ShouldRefresh(c, kNow, o));
    c.next_refresh_after = kNow + absl::Seconds(1);
    CHECK_FALSE(ShouldRefresh(c, kNow, o));
    CHECK(ShouldRefresh(c, kNow + absl::Seconds(1), o));  // the backoff ends at its instant
    c.next_refresh_after = ZeroTime();
    c.disabled = true;
    CHECK_FALSE(ShouldRefresh(c, kNow, o));
  }
  SECTION("the evaluator decides for what it overrides") {
    RefreshOptions yes = o;
    yes.evaluator = std::make_shared<ClaimAll>(true);
    RefreshOptions no = o;
    no.evaluator = std::make_shared<ClaimAll>(false);
    Credential c = OAuth("gemini", R"({"email":"a@x"})");  // no lead: the rules would say no
    CHECK(ShouldRefresh(c, kNow, yes));
    c = OAuth("codex", R"({"email":"a@x"})");  // the rules would say yes
    CHECK_FALSE(ShouldRefresh(c, kNow, no));
    c.next_refresh_after = kNow + absl::Minutes(1);
    CHECK_FALSE(ShouldRefresh(c, kNow, yes));  // the backoff gate comes first
  }
  SECTION("preferred interval") {
    Credential c = OAuth("x", R"({"email":"a@x","refresh_interval_seconds":600})");
    CHECK(ShouldRefresh(c, kNow, o));  // never refreshed
    c.last_refreshed_at = kNow - absl::Minutes(9);
    CHECK_FALSE(ShouldRefresh(c, kNow, o));
    c.last_refreshed_at = kNow - absl::Minutes(10);
    CHECK(ShouldRefresh(c, kNow, o));
    c = OAuth("x", R"({"email":"a@x","refresh_interval_seconds":600,"expires_at":")" +
                       Rfc(kNow + absl::Minutes(10)) + R"("})");
    c.last_refreshed_at = kNow;
    CHECK(ShouldRefresh(c, kNow, o));  // expiry within the interval
  }
  SECTION("lead against expiry, using the given now (upstream used the wall clock)") {
    Credential c = OAuth("claude", R"({"email":"a@x","expired":")" +
                                       Rfc(kNow + absl::Hours(4) + absl::Seconds(1)) + R"("})");
    CHECK_FALSE(ShouldRefresh(c, kNow, o));
    CHECK(ShouldRefresh(c, kNow + absl::Seconds(1), o));
  }
  SECTION("lead against the last refresh") {
    Credential c = OAuth("kimi", R"({"email":"a@x"})");
    c.last_refreshed_at = kNow - absl::Minutes(4);
    CHECK_FALSE(ShouldRefresh(c, kNow, o));
    c.last_refreshed_at = kNow - absl::Minutes(5);
    CHECK(ShouldRefresh(c, kNow, o));
  }
  SECTION("no lead: no") {
    CHECK_FALSE(ShouldRefresh(OAuth("unknown", R"({"email":"a@x"})"), kNow, o));
  }
}

TEST_CASE("Spec 05 §9: the refresh-lead registry", "[refresh]") {
  const auto leads = DefaultRefreshLeads();
  CHECK(leads.at("codex") == absl::Hours(120));
  CHECK(leads.at("claude") == absl::Hours(4));
  CHECK(leads.at("antigravity") == absl::Minutes(5));
  CHECK(leads.at("kimi") == absl::Minutes(5));
  CHECK(leads.count("gemini") == 0);
  CHECK(leads.count("gemini-cli") == 0);

  RefreshOptions o;
  CHECK(RefreshLead(OAuth(" Claude ", "{}"), o) == absl::Hours(4));  // trimmed, lower-cased
  o.leads["claude"] = absl::ZeroDuration();
  CHECK_FALSE(RefreshLead(OAuth("claude", "{}"), o).has_value());  // non-positive: none
  o.evaluator = std::make_shared<LeadOnly>(absl::Minutes(7));
  CHECK(RefreshLead(OAuth("claude", "{}"), o) == absl::Minutes(7));  // the runtime lead first
  o.evaluator = std::make_shared<LeadOnly>(-absl::Minutes(7));
  o.leads["claude"] = absl::Hours(1);
  CHECK(RefreshLead(OAuth("claude", "{}"), o) == absl::Hours(1));
}

TEST_CASE("ValidateRefreshOptions rejects out-of-range values", "[refresh]") {
  RefreshOptions o;
  CHECK(ValidateRefreshOptions(o).ok());
  o.workers = 0;
  CHECK(ValidateRefreshOptions(o).code() == absl::StatusCode::kInvalidArgument);
  o = {};
  o.workers = 1025;
  CHECK_FALSE(ValidateRefreshOptions(o).ok());
  o = {};
  o.check_interval = -absl::Seconds(1);
  CHECK_FALSE(ValidateRefreshOptions(o).ok());
  o = {};
  o.timeout = absl::InfiniteDuration();
  CHECK_FALSE(ValidateRefreshOptions(o).ok());
}

TEST_CASE("Later fix D6: a token update changes only the token fields", "[refresh]") {
  const absl::Time expiry = kNow + absl::Hours(1);
  SECTION("custom members keep their place and their exact text") {
    Credential c = OAuth("claude", R"({"type":"claude", "priority" : 5,"note":"keep \u00e9",)"
                                   R"("access_token":"old","nested":{"a":[1,2.50]},)"
                                   R"("refresh_token":"r1","expired":"2026-04-12T00:00:00Z"})");
    TokenUpdate u;
    u.access_token = "new";
    u.refresh_token = "r2";
    u.expires_at = expiry;
    absl::StatusOr<Credential> out = ApplyTokenUpdate(c, u, kNow);
    REQUIRE(out.ok());
    CHECK(out->metadata.json() ==
          R"({"type":"claude","priority":5,"note":"keep \u00e9","access_token":"new",)"
          R"("nested":{"a":[1,2.50]},"refresh_token":"r2","expired":"2026-04-12T01:00:00Z"})");
    CHECK(out->metadata.expiry() == expiry);
    CHECK(out->id == c.id);
    CHECK(out->provider == c.provider);
  }
  SECTION("a refresh token that was not rotated stays; new fields are appended") {
    Credential c = OAuth("codex", R"({"email":"a@x","refresh_token":"r1"})");
    TokenUpdate u;
    u.access_token = "A";
    u.id_token = "I";
    u.expires_at = expiry;
    absl::StatusOr<Credential> out = ApplyTokenUpdate(c, u, kNow);
    REQUIRE(out.ok());
    CHECK(out->metadata.json() ==
          R"({"email":"a@x","refresh_token":"r1","access_token":"A","id_token":"I",)"
          R"("expired":"2026-04-12T01:00:00Z"})");
  }
  SECTION("a numeric expiry stays numeric, in its unit") {
    Credential ms = OAuth("x", R"({"expires_at":1776000000000})");
    Credential sec = OAuth("x", R"({"expiry":1776000000})");
    TokenUpdate u;
    u.access_token = "A";
    u.expires_at = expiry;
    CHECK(ApplyTokenUpdate(ms, u, kNow)->metadata.json() ==
          R"({"expires_at":)" + std::to_string(absl::ToUnixMillis(expiry)) +
              R"(,"access_token":"A"})");
    CHECK(ApplyTokenUpdate(sec, u, kNow)->metadata.expiry() == expiry);
  }
  SECTION("every expiry key present gets the new expiry, so the one read is current") {
    // Metadata reads `expired` before `expires_at`; both must move.
    Credential c = OAuth("x", R"({"expires_at":1776000100,"expired":"2026-04-12T13:21:40Z",)"
                              R"("lastRefresh":"old"})");
    TokenUpdate u;
    u.access_token = "A";
    u.expires_at = expiry;
    absl::StatusOr<Credential> out = ApplyTokenUpdate(c, u, kNow);
    REQUIRE(out.ok());
    CHECK(out->metadata.json() ==
          R"({"expires_at":)" + std::to_string(absl::ToUnixSeconds(expiry)) +
              R"(,"expired":"2026-04-12T01:00:00Z","lastRefresh":"2026-04-12T00:00:00Z",)"
              R"("access_token":"A"})");
    CHECK(out->metadata.expiry() == expiry);
    Credential bad_first = OAuth("x", R"({"expired":"garbage","expiry":"2026-01-01T00:00:00Z"})");
    CHECK(ApplyTokenUpdate(bad_first, u, kNow)->metadata.expiry() == expiry);
  }
  SECTION("last_refresh is updated when the file has it; duplicates collapse") {
    Credential c = OAuth("x", R"({"access_token":"1","last_refresh":"x","access_token":"2"})");
    TokenUpdate u;
    u.access_token = "3";
    CHECK(ApplyTokenUpdate(c, u, kNow)->metadata.json() ==
          R"({"access_token":"3","last_refresh":"2026-04-12T00:00:00Z"})");
  }
  SECTION("empty metadata becomes an object of token fields") {
    Credential c;
    c.id = "a";
    TokenUpdate u;
    u.access_token = "A";
    u.token_type = "Bearer";
    CHECK(ApplyTokenUpdate(c, u, kNow)->metadata.json() ==
          R"({"access_token":"A","token_type":"Bearer"})");
  }
  SECTION("bad updates are rejected by field name, never echoing a value") {
    Credential c = OAuth("x", "{}");
    TokenUpdate u;
    CHECK(ApplyTokenUpdate(c, u, kNow).status().code() == absl::StatusCode::kInvalidArgument);
    u.access_token = "ok";
    u.refresh_token = std::string("secret\xff", 7);
    absl::Status s = ApplyTokenUpdate(c, u, kNow).status();
    CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    CHECK(std::string(s.message()).find("refresh_token") != std::string::npos);
    CHECK(std::string(s.message()).find("secret") == std::string::npos);
  }
}

TEST_CASE("RefreshQueue: ordered, O(log n) per change", "[refresh]") {
  internal::RefreshQueue q;
  q.Upsert("c", kNow + absl::Seconds(3));
  q.Upsert("a", kNow + absl::Seconds(1));
  q.Upsert("b", kNow + absl::Seconds(2));
  q.Upsert("", kNow);  // ignored
  CHECK(q.size() == 3);
  CHECK(q.Top() == kNow + absl::Seconds(1));
  q.Upsert("c", kNow);  // moved earlier
  q.Upsert("a", kNow + absl::Seconds(5));  // moved later
  q.Remove("b");
  q.Remove("missing");
  std::vector<std::string> due;
  CHECK(q.PopDue(kNow + absl::Seconds(4), &due) == 1);
  CHECK(due == std::vector<std::string>{"c"});
  CHECK(q.When("a") == kNow + absl::Seconds(5));
  CHECK_FALSE(q.When("c").has_value());

  SECTION("100,000 entries: each change moves at most ~log2(n) entries; pops come in order") {
    internal::RefreshQueue big;
    std::mt19937_64 rng(7);
    constexpr int kN = 100'000;
    for (int i = 0; i < kN; ++i) {
      big.Upsert("id" + std::to_string(i), kNow + absl::Seconds(static_cast<int64_t>(rng() % 86400)));
    }
    const int log2n = static_cast<int>(std::ceil(std::log2(kN)));
    for (int i = 0; i < 1000; ++i) {
      const uint64_t before = big.sift_steps();
      const std::string id = "id" + std::to_string(rng() % kN);
      big.Upsert(id, kNow + absl::Seconds(static_cast<int64_t>(rng() % 86400)));
      CHECK(big.sift_steps() - before <= static_cast<uint64_t>(log2n));
    }
    // Pops come in time order: popping hour by hour never yields an entry of an earlier hour.
    std::map<std::string, absl::Time> when;
    for (int i = 0; i < kN; ++i) {
      const std::string id = "id" + std::to_string(i);
      when[id] = *big.When(id);
    }
    size_t popped_total = 0;
    for (int hour = 0; hour <= 25; ++hour) {
      std::vector<std::string> popped;
      const absl::Time until = kNow + absl::Hours(hour);
      big.PopDue(until, &popped);
      for (size_t k = 0; k < popped.size(); ++k) {
        REQUIRE(when[popped[k]] <= until);
        REQUIRE(when[popped[k]] > until - absl::Hours(1));
        if (k > 0) REQUIRE(when[popped[k - 1]] <= when[popped[k]]);
      }
      popped_total += popped.size();
    }
    CHECK(popped_total == kN);
    CHECK(big.size() == 0);
  }
}

}  // namespace
}  // namespace authrouter
