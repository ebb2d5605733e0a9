#include <catch2/catch.hpp>

#include <string>

#include "authrouter/credential.h"
#include "support/time_helpers.h"

using authrouter::testing::Utc;
namespace ar = authrouter;

namespace {

ar::Credential WithAttrs(std::initializer_list<std::pair<const std::string, std::string>> attrs) {
  ar::Credential c;
  c.id = "cred";
  c.provider = "claude";
  c.attributes = attrs;
  return c;
}

ar::Metadata Meta(std::string_view json) {
  auto m = ar::Metadata::Parse(json);
  REQUIRE(m.ok());
  return *std::move(m);
}

}  // namespace

TEST_CASE("Status values have their JSON spellings -- unknown strings are rejected",
          "[credential]") {
  using S = ar::CredentialStatus;
  for (S s : {S::kUnknown, S::kActive, S::kPending, S::kRefreshing, S::kError, S::kDisabled}) {
    auto parsed = ar::ParseCredentialStatus(ar::CredentialStatusName(s));
    REQUIRE(parsed.ok());
    CHECK(*parsed == s);
  }
  CHECK(ar::CredentialStatusName(S::kActive) == "active");
  CHECK(*ar::ParseCredentialStatus("") == S::kUnknown);
  auto bad = ar::ParseCredentialStatus("Active");
  REQUIRE_FALSE(bad.ok());
  CHECK(absl::IsInvalidArgument(bad.status()));
  CHECK(std::string(bad.status().message()).find("unknown status") != std::string::npos);
}

TEST_CASE("A fresh model state is active with everything else zero", "[credential]") {
  ar::ModelState m;
  CHECK(m.status == ar::CredentialStatus::kActive);
  CHECK_FALSE(m.unavailable);
  CHECK(ar::IsZeroTime(m.next_retry_after));
  CHECK(ar::IsZeroTime(m.quota.next_recover_at));
  CHECK(m.quota.backoff_level == 0);
  CHECK_FALSE(m.last_error.has_value());
}

TEST_CASE("Error records print as code: message", "[credential]") {
  CHECK((ar::ErrorRecord{"auth_unavailable", "no auth available", false, 503}).ToString() ==
        "auth_unavailable: no auth available");
  CHECK((ar::ErrorRecord{"", "plain", true, 0}).ToString() == "plain");
}

TEST_CASE("Priority is a strict trimmed integer attribute", "[credential]") {
  CHECK(WithAttrs({}).Priority() == 0);
  CHECK(WithAttrs({{"priority", "10"}}).Priority() == 10);
  CHECK(WithAttrs({{"priority", " +5 "}}).Priority() == 5);
  CHECK(WithAttrs({{"priority", "-3"}}).Priority() == -3);
  CHECK(WithAttrs({{"priority", "9223372036854775808"}}).Priority() == 0);
  CHECK(WithAttrs({{"priority", "1 0"}}).Priority() == 0);
  CHECK(WithAttrs({{"priority", ""}}).Priority() == 0);
  // The selector reads the attribute, not metadata.
  auto c = WithAttrs({});
  c.metadata = Meta(R"({"priority":7})");
  CHECK(c.Priority() == 0);
}

TEST_CASE("Note kept: priority 10.0 is not an integer and reads as 0", "[credential]") {
  CHECK(WithAttrs({{"priority", "10.0"}}).Priority() == 0);
  CHECK(WithAttrs({{"priority", "1e1"}}).Priority() == 0);
}

TEST_CASE("Weight defaults to 1, reads the attribute then metadata, and <= 0 excludes",
          "[credential]") {
  CHECK(WithAttrs({}).Weight() == 1);
  CHECK(WithAttrs({{"weight", "5"}}).Weight() == 5);
  CHECK(WithAttrs({{"weight", "0"}}).Weight() == 0);
  CHECK(WithAttrs({{"weight", "-4"}}).Weight() == 0);
  CHECK(WithAttrs({{"weight", "1000000"}}).Weight() == 1000000);
  auto c = WithAttrs({{"weight", "  "}});
  c.metadata = Meta(R"({"weight":9})");
  CHECK(c.Weight() == 9);  // a blank attribute falls through to metadata
  c.attributes["weight"] = "3";
  CHECK(c.Weight() == 3);  // the attribute wins
  auto bad = WithAttrs({{"weight", "1000001"}});
  CHECK(bad.Weight() == 0);
  auto status = bad.Validate();
  REQUIRE_FALSE(status.ok());
  CHECK(std::string(status.message()) ==
        "attributes[\"weight\"]: weight must not exceed 1000000");
  CHECK(std::string(WithAttrs({{"weight", "1.5"}}).Validate().message()) ==
        "attributes[\"weight\"]: weight must be an integer");
  CHECK(WithAttrs({{"weight", ""}}).Validate().ok());
  CHECK(*ar::ParseWeight("") == 1);
  CHECK(*ar::ParseWeight(" 12 ") == 12);
}

TEST_CASE("The websockets attribute decides when it parses, else metadata", "[credential]") {
  auto c = WithAttrs({{"websockets", "false"}});
  c.metadata = Meta(R"({"websockets":true})");
  CHECK_FALSE(c.WebsocketsEnabled());
  c.attributes["websockets"] = "yes";  // unparsable: falls through
  CHECK(c.WebsocketsEnabled());
  c.attributes["websockets"] = " T ";
  c.metadata = ar::Metadata();
  CHECK(c.WebsocketsEnabled());
  CHECK_FALSE(WithAttrs({}).WebsocketsEnabled());
}

TEST_CASE("Virtual parent and runtime-only are read from attributes", "[credential]") {
  CHECK(WithAttrs({{"gemini_virtual_parent", "  parent.json "}}).VirtualParent() == "parent.json");
  CHECK(WithAttrs({}).VirtualParent().empty());
  CHECK(WithAttrs({{"runtime_only", " TRUE "}}).RuntimeOnly());
  CHECK(WithAttrs({{"runtime_only", "true"}}).RuntimeOnly());
  CHECK_FALSE(WithAttrs({{"runtime_only", "1"}}).RuntimeOnly());
  CHECK_FALSE(WithAttrs({}).RuntimeOnly());
}

TEST_CASE("Disable-cooling and request-retry overrides fall back to the global value",
          "[credential]") {
  auto c = WithAttrs({});
  CHECK(c.DisableCooling(true));
  CHECK_FALSE(c.DisableCooling(false));
  CHECK(c.RequestRetry(3) == 3);
  c.metadata = Meta(R"({"disable_cooling":false,"request_retry":0})");
  CHECK_FALSE(c.DisableCooling(true));
  CHECK(c.RequestRetry(3) == 0);
  c.metadata = Meta(R"({"request_retry":-1})");
  CHECK(c.RequestRetry(3) == 3);  // later fix C5: negative inherits
}

TEST_CASE("Preferred refresh interval reads metadata keys, then attribute keys", "[credential]") {
  auto c = WithAttrs({{"refresh_interval", "30m"}});
  CHECK(c.PreferredRefreshInterval() == absl::Minutes(30));
  c.metadata = Meta(R"({"refreshInterval":"10m"})");
  CHECK(c.PreferredRefreshInterval() == absl::Minutes(10));
  auto d = WithAttrs({{"refresh_interval_seconds", "bad"}, {"refreshInterval", "120"}});
  CHECK(d.PreferredRefreshInterval() == absl::Minutes(2));
  CHECK(WithAttrs({{"refresh_interval", "-5s"}}).PreferredRefreshInterval() ==
        absl::ZeroDuration());
}

TEST_CASE("Last refresh time prefers the record, then metadata, then attributes",
          "[credential]") {
  auto c = WithAttrs({{"last_refresh", " 2026-04-17 08:30 "}});
  CHECK(c.LastRefreshTime() == Utc(2026, 4, 17, 8, 30));
  c.metadata = Meta(R"({"lastRefresh":1776384000})");
  CHECK(c.LastRefreshTime() == Utc(2026, 4, 17));
  c.last_refreshed_at = Utc(2026, 5, 1);
  CHECK(c.LastRefreshTime() == Utc(2026, 5, 1));
  CHECK_FALSE(WithAttrs({{"lastRefreshedAt", "nope"}}).LastRefreshTime());
}

TEST_CASE("Account info follows spec 01 9", "[credential]") {
  auto c = WithAttrs({{"api_key", "sk-123"}});
  CHECK(c.GetAccountInfo().kind == "api_key");
  CHECK(c.GetAccountInfo().value == "sk-123");
  CHECK(c.IsApiKey());
  c.metadata = Meta(R"({"email":" a@example.com ","project_id":"proj"})");
  CHECK(c.GetAccountInfo().kind == "oauth");
  CHECK(c.GetAccountInfo().value == "a@example.com");  // project only for gemini-cli
  CHECK_FALSE(c.IsApiKey());
  c.provider = "Gemini-CLI";
  CHECK(c.GetAccountInfo().value == "a@example.com (proj)");
  c.metadata = Meta(R"({"email":"a@example.com","project_id":"  "})");
  CHECK(c.GetAccountInfo().value == "a@example.com");
  // The api_key check is untrimmed: a blank key still makes an API-key account.
  auto blank = WithAttrs({{"api_key", " "}});
  CHECK(blank.GetAccountInfo().kind == "api_key");
  CHECK(blank.GetAccountInfo().value == " ");
  CHECK(WithAttrs({}).GetAccountInfo().kind.empty());
}

TEST_CASE("Stable indexes equal the computed examples of spec 01 8", "[credential]") {
  using namespace std::string_literals;
  CHECK(ar::ComputeStableIndex("file:codex-user@example.com.json") == "32535fa684fa7338");
  CHECK(ar::ComputeStableIndex("config:provider=gemini\0api_key=shared-key\0source=config:gemini[abc123]"s) ==
        "a29b2ddacaf32936");
  CHECK(ar::ComputeStableIndex("config:provider=gemini\0source=/auth/gemini-a.json"s) ==
        "ef2742354fad6e2e");
  CHECK(ar::ComputeStableIndex("id:auth-1") == "757ac1a2f84e8694");
  CHECK(ar::ComputeStableIndex("  id:auth-1\n") == "757ac1a2f84e8694");  // trimmed
  CHECK(ar::ComputeStableIndex(" ").empty());
}

TEST_CASE("Index seeds follow the rules of spec 01 8 and reproduce its examples",
          "[credential]") {
  using namespace std::string_literals;
  ar::Credential file;
  file.id = "ignored";
  file.file_name = " codex-user@example.com.json ";
  file.attributes["api_key"] = "k";
  CHECK(file.IndexSeed() == "file:codex-user@example.com.json");
  CHECK(file.EnsureIndex() == "32535fa684fa7338");

  ar::Credential config;
  config.id = "x";
  config.provider = " Gemini ";
  config.attributes = {{"api_key", " shared-key "}, {"source", "config:gemini[abc123]"}};
  CHECK(config.IndexSeed() == "config:provider=gemini\0api_key=shared-key\0source=config:gemini[abc123]"s);
  CHECK(config.EnsureIndex() == "a29b2ddacaf32936");

  ar::Credential by_id;
  by_id.id = " auth-1 ";
  CHECK(by_id.IndexSeed() == "id:auth-1");
  CHECK(by_id.EnsureIndex() == "757ac1a2f84e8694");

  ar::Credential full;
  full.provider = "openai";
  full.proxy_url = " http://proxy ";
  full.attributes = {{"provider_key", " OpenRouter "}, {"compat_name", " Compat "},
                     {"base_url", "https://x/v1"}, {"api_key", "k"}, {"source", "s"}};
  CHECK(full.IndexSeed() ==
        "config:provider=openrouter\0compat=compat\0base=https://x/v1\0proxy=http://proxy\0api_key=k\0source=s"s);

  // A provider alone is no credential identity: the ID rule applies.
  ar::Credential provider_only;
  provider_only.id = "p";
  provider_only.provider = "claude";
  CHECK(provider_only.IndexSeed() == "id:p");

  ar::Credential nothing;
  CHECK(nothing.IndexSeed().empty());
  CHECK(nothing.EnsureIndex().empty());
  CHECK_FALSE(nothing.index_assigned);
}

TEST_CASE("Credentials sharing an API key get different indexes", "[credential]") {
  auto base = WithAttrs({{"api_key", "shared"}});
  base.provider = "gemini";
  const std::string reference = ar::Credential(base).EnsureIndex();
  auto other_provider = base;
  other_provider.provider = "claude";
  auto other_compat = base;
  other_compat.attributes["compat_name"] = "x";
  auto other_base = base;
  other_base.attributes["base_url"] = "https://other";
  auto other_source = base;
  other_source.attributes["source"] = "config:gemini[2]";
  for (auto* c : {&other_provider, &other_compat, &other_base, &other_source}) {
    CHECK(c->EnsureIndex() != reference);
  }
}

TEST_CASE("Note kept: the first assigned index sticks, whichever seed rule made it",
          "[credential]") {
  // A watcher-synthesised file credential has no file name but a source attribute (rule 2).
  ar::Credential synthesized;
  synthesized.id = "gemini-a.json";
  synthesized.provider = "gemini";
  synthesized.attributes["source"] = "/auth/gemini-a.json";
  CHECK(synthesized.EnsureIndex() == "ef2742354fad6e2e");
  // Learning the file name later does not change an assigned index.
  synthesized.file_name = "gemini-a.json";
  CHECK(synthesized.EnsureIndex() == "ef2742354fad6e2e");
  // The same file loaded by a store first gets the file rule.
  ar::Credential stored = synthesized;
  stored.index.clear();
  stored.index_assigned = false;
  CHECK(stored.EnsureIndex() == ar::ComputeStableIndex("file:gemini-a.json"));
}

TEST_CASE("Note fixed: copies of a credential share no mutable state", "[credential]") {
  ar::Credential a = WithAttrs({{"k", "v"}});
  a.metadata = Meta(R"({"token":{"access_token":"t"}})");
  a.last_error = ar::ErrorRecord{"c", "m", false, 500};
  a.model_states["m"].status_message = "x";
  ar::Credential b = a;
  b.last_error->message = "changed";
  b.attributes["k"] = "w";
  b.model_states["m"].status_message = "y";
  CHECK(a.last_error->message == "m");
  CHECK(a.attributes.at("k") == "v");
  CHECK(a.model_states.at("m").status_message == "x");
  CHECK(a.metadata == b.metadata);  // metadata is immutable, so sharing it is unobservable
}

TEST_CASE("Validate rejects invalid UTF-8, negative backoff and unstorable times",
          "[credential]") {
  auto ok = WithAttrs({{"k", "v"}});
  CHECK(ok.Validate().ok());
  auto bad_label = ok;
  bad_label.label = "\xff";
  CHECK(std::string(bad_label.Validate().message()) == "label: not valid UTF-8");
  auto bad_key = ok;
  bad_key.attributes["\xc0\x80"] = "v";
  CHECK(std::string(bad_key.Validate().message()) == "attributes: a key is not valid UTF-8");
  auto bad_value = ok;
  bad_value.attributes["api_key"] = "sk-\xed\xa0\x80";  // a surrogate
  const std::string msg(bad_value.Validate().message());
  CHECK(msg == "attributes[\"api_key\"]: not valid UTF-8");
  auto bad_level = ok;
  bad_level.model_states["gpt-5"].quota.backoff_level = -1;
  CHECK(std::string(bad_level.Validate().message()) ==
        "model_states[\"gpt-5\"].quota.backoff_level: must be >= 0");
  auto bad_time = ok;
  bad_time.next_retry_after = absl::InfiniteFuture();
  CHECK(std::string(bad_time.Validate().message()) ==
        "next_retry_after: time outside years 0000..9999 cannot be stored");
  CHECK(absl::IsInvalidArgument(bad_time.Validate()));
}
