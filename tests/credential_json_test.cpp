#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "authrouter/credential_json.h"
#include "internal/json_writer.h"
#include "simdjson.h"
#include "support/time_helpers.h"

using authrouter::testing::Utc;
namespace ar = authrouter;

namespace {

std::string ErrorOf(std::string_view json) {
  auto c = ar::CredentialFromJson(json);
  INFO(json);
  REQUIRE_FALSE(c.ok());
  CHECK(absl::IsInvalidArgument(c.status()));
  return std::string(c.status().message());
}

ar::Credential Parse(std::string_view json) {
  auto c = ar::CredentialFromJson(json);
  INFO(json);
  if (!c.ok()) FAIL(std::string(c.status().message()));
  return *std::move(c);
}

bool ParsesWithSimdjson(const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  return parser.parse(json).get(root) == simdjson::SUCCESS;
}

// ---- random credentials -------------------------------------------------------------------

class RandomCredentials {
 public:
  explicit RandomCredentials(uint64_t seed) : rng_(seed) {}

  ar::Credential Next() {
    ar::Credential c;
    c.id = String();
    c.provider = Pick({"claude", "codex", "gemini", "gemini-cli", "vertex", String()});
    c.prefix = Maybe() ? String() : "";
    c.label = Maybe() ? String() : "";
    c.status = Status();
    c.status_message = Maybe() ? String() : "";
    c.disabled = Maybe();
    c.unavailable = Maybe();
    c.proxy_url = Maybe() ? "socks5://" + String() : "";
    for (int i = Count(4); i > 0; --i) c.attributes[String()] = String();
    if (Maybe()) c.attributes["priority"] = std::to_string(Int(-20, 20));
    if (Maybe()) c.attributes["weight"] = std::to_string(Int(-5, 1000000));
    if (Maybe()) c.metadata = Metadata();
    c.quota = Quota();
    if (Maybe()) c.last_error = Error();
    c.created_at = Time();
    c.updated_at = Time();
    c.last_refreshed_at = Time();
    c.next_refresh_after = Time();
    c.next_retry_after = Time();
    for (int i = Count(3); i > 0; --i) {
      ar::ModelState m;
      m.status = Status();
      m.status_message = Maybe() ? String() : "";
      m.unavailable = Maybe();
      m.next_retry_after = Time();
      if (Maybe()) m.last_error = Error();
      m.quota = Quota();
      m.updated_at = Time();
      c.model_states[String()] = m;
    }
    return c;
  }

 private:
  bool Maybe() { return rng_() % 2 == 0; }
  int Count(int max) { return static_cast<int>(rng_() % (max + 1)); }
  int64_t Int(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(rng_() % static_cast<uint64_t>(hi - lo + 1));
  }
  std::string Pick(std::initializer_list<std::string> options) {
    return *(options.begin() + rng_() % options.size());
  }

  std::string String() {
    static const char* const kPieces[] = {
        "a", "Z", "0", "-", "_", ".", "/", " ", "\"", "\\", "\n", "\t", "\x01", "\x1f",
        "\x7f", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x99\x82", "\xe2\x80\xa8", "(", ")", "{"};
    std::string s;
    for (int i = Count(12); i > 0; --i) s += kPieces[rng_() % std::size(kPieces)];
    return s;
  }

  ar::CredentialStatus Status() { return static_cast<ar::CredentialStatus>(rng_() % 6); }

  absl::Time Time() {
    if (rng_() % 3 == 0) return ar::ZeroTime();
    // Any nanosecond between 1950 and 2200.
    const int64_t lo = absl::ToUnixNanos(Utc(1950, 1, 1));
    const int64_t hi = absl::ToUnixNanos(Utc(2200, 1, 1));
    int64_t nanos = lo + static_cast<int64_t>(rng_() % static_cast<uint64_t>(hi - lo));
    if (Maybe()) nanos -= nanos % 1'000'000'000;  // whole seconds too
    return absl::FromUnixNanos(nanos);
  }

  ar::QuotaState Quota() {
    ar::QuotaState q;
    q.exceeded = Maybe();
    q.reason = Maybe() ? "quota" : "";
    q.next_recover_at = Time();
    q.backoff_level = static_cast<int32_t>(Int(0, 20));
    return q;
  }

  ar::ErrorRecord Error() {
    return ar::ErrorRecord{Maybe() ? String() : "", String(), Maybe(),
                           static_cast<int32_t>(Maybe() ? Int(100, 599) : 0)};
  }

  void JsonValue(ar::internal::JsonWriter& w, int depth) {
    switch (rng_() % (depth > 2 ? 5 : 7)) {
      case 0:
        w.String(String());
        break;
      case 1:
        w.Int(Int(-1'000'000'000'000'000, 1'000'000'000'000'000));
        break;
      case 2:
        w.Double(static_cast<double>(Int(-1'000'000, 1'000'000)) / 7.0);
        break;
      case 3:
        w.Bool(Maybe());
        break;
      case 4:
        w.Null();
        break;
      case 5:
        w.BeginArray();
        for (int i = Count(3); i > 0; --i) JsonValue(w, depth + 1);
        w.EndArray();
        break;
      default:
        w.BeginObject();
        for (int i = Count(3); i > 0; --i) {
          w.Key(String());
          JsonValue(w, depth + 1);
        }
        w.EndObject();
    }
  }

  ar::Metadata Metadata() {
    std::string text;
    ar::internal::JsonWriter w(&text);
    w.BeginObject();
    w.Key("email");
    w.String(String() + "@example.com");
    if (Maybe()) {
      w.Key("expired");
      w.String(ar::FormatRfc3339(Time()));
    }
    if (Maybe()) {
      w.Key("weight");
      w.Int(Int(-3, 1000000));
    }
    for (int i = Count(5); i > 0; --i) {
      w.Key(String());
      JsonValue(w, 0);
    }
    w.EndObject();
    auto m = ar::Metadata::Parse(text);
    REQUIRE(m.ok());
    return *std::move(m);
  }

  std::mt19937_64 rng_;
};

}  // namespace

TEST_CASE("A credential is written in upstream's persisted form", "[credential_json]") {
  ar::Credential c;
  c.id = "claude-a.json";
  c.provider = "claude";
  c.label = "A";
  c.status = ar::CredentialStatus::kActive;
  c.attributes = {{"priority", "10"}, {"api_key", "sk-1"}};
  c.metadata = *ar::Metadata::Parse(R"({"email": "a@example.com"})");
  c.created_at = Utc(2026, 4, 17) + absl::Milliseconds(5);
  c.model_states["claude-sonnet-4-5"].quota.exceeded = true;
  c.model_states["claude-sonnet-4-5"].quota.backoff_level = 2;
  c.model_states["claude-sonnet-4-5"].last_error =
      ar::ErrorRecord{"", "rate limited", true, 429};
  c.index = "abc";  // runtime only: not written
  c.file_name = "x.json";
  CHECK(ar::CredentialToJson(c) ==
        R"({"id":"claude-a.json","provider":"claude","label":"A","status":"active",)"
        R"("disabled":false,"unavailable":false,"attributes":{"api_key":"sk-1","priority":"10"},)"
        R"("metadata":{"email": "a@example.com"},)"
        R"("quota":{"exceeded":false,"next_recover_at":"0001-01-01T00:00:00Z"},)"
        R"("created_at":"2026-04-17T00:00:00.005Z","updated_at":"0001-01-01T00:00:00Z",)"
        R"("last_refreshed_at":"0001-01-01T00:00:00Z","next_refresh_after":"0001-01-01T00:00:00Z",)"
        R"("next_retry_after":"0001-01-01T00:00:00Z","model_states":{"claude-sonnet-4-5":)"
        R"({"status":"active","unavailable":false,"next_retry_after":"0001-01-01T00:00:00Z",)"
        R"("last_error":{"message":"rate limited","retryable":true,"http_status":429},)"
        R"("quota":{"exceeded":true,"next_recover_at":"0001-01-01T00:00:00Z","backoff_level":2},)"
        R"("updated_at":"0001-01-01T00:00:00Z"}}})");
}

TEST_CASE("Parsing reads every field, accepts null, and ignores unknown keys",
          "[credential_json]") {
  auto c = Parse(R"({
    "id": "gemini-a.json", "provider": "gemini", "prefix": "teamA", "label": null,
    "status": "error", "status_message": "quota", "disabled": true, "unavailable": true,
    "proxy_url": "socks5://p", "attributes": {"priority": "5", "note": null},
    "metadata": {"type": "gemini", "expired": 1776384000}, "quota": null,
    "last_error": {"code": "auth_unavailable", "message": "m", "retryable": true, "http_status": 503},
    "created_at": "2026-04-17T08:00:00+08:00", "next_retry_after": null,
    "model_states": {"gemini-2.5-pro": {"status": "disabled", "unavailable": true,
                     "next_retry_after": "2026-04-17T01:00:00Z",
                     "quota": {"exceeded": true, "reason": "quota", "backoff_level": 3}},
                     "skipped": null},
    "index": "ignored", "future_field": {"anything": [1, 2, 3]}
  })");
  CHECK(c.id == "gemini-a.json");
  CHECK(c.prefix == "teamA");
  CHECK(c.label.empty());
  CHECK(c.status == ar::CredentialStatus::kError);
  CHECK(c.disabled);
  CHECK(c.unavailable);
  CHECK(c.proxy_url == "socks5://p");
  CHECK(c.attributes.at("note").empty());
  CHECK(c.Priority() == 5);
  CHECK(c.metadata.type() == "gemini");
  CHECK(c.Expiry() == Utc(2026, 4, 17));
  CHECK(c.quota == ar::QuotaState{});
  REQUIRE(c.last_error);
  CHECK(c.last_error->http_status == 503);
  CHECK(c.created_at == Utc(2026, 4, 17));
  CHECK(c.index.empty());
  REQUIRE(c.model_states.size() == 1);
  const auto& m = c.model_states.at("gemini-2.5-pro");
  CHECK(m.status == ar::CredentialStatus::kDisabled);
  CHECK(m.next_retry_after == Utc(2026, 4, 17, 1));
  CHECK(m.quota.backoff_level == 3);
  CHECK(m.quota.reason == "quota");
  CHECK(ar::IsZeroTime(m.updated_at));
}

TEST_CASE("Metadata survives a round trip byte for byte", "[credential_json]") {
  const std::string meta = "{\n  \"n\": 1.0e3, \"big\": 12345678901234567890123e-3,\n"
                           "  \"s\": \"\\u00e9\\n\", \"nested\": {\"a\": [true, null]}\n}";
  const std::string json = R"({"id":"x","metadata":)" + meta + "}";
  auto c = Parse(json);
  CHECK(c.metadata.json() == meta);
  auto again = Parse(ar::CredentialToJson(c));
  CHECK(again.metadata.json() == meta);
  CHECK(again == c);
  // Duplicate keys: the last wins, for metadata too.
  auto dup = Parse(R"({"id":"a","id":"b","metadata":{"x":1},"metadata":{"y":2}})");
  CHECK(dup.id == "b");
  CHECK(dup.metadata.json() == R"({"y":2})");
  CHECK(Parse(R"({"metadata":{"y":2},"metadata":null})").metadata.empty());
}

TEST_CASE("Wrong types get errors that name the field path", "[credential_json]") {
  CHECK(ErrorOf(R"({"id":5})") == "id: expected a string");
  CHECK(ErrorOf(R"({"disabled":"yes"})") == "disabled: expected a boolean");
  CHECK(ErrorOf(R"({"attributes":[]})") == "attributes: expected an object");
  CHECK(ErrorOf(R"({"attributes":{"priority":10}})") ==
        "attributes[\"priority\"]: expected a string");
  CHECK(ErrorOf(R"({"metadata":"{}"})") == "metadata: expected an object");
  CHECK(ErrorOf(R"({"quota":{"backoff_level":1.5}})") == "quota.backoff_level: expected an integer");
  CHECK(ErrorOf(R"({"quota":{"backoff_level":4294967296}})") ==
        "quota.backoff_level: integer out of range");
  CHECK(ErrorOf(R"({"quota":{"backoff_level":18446744073709551615}})") ==
        "quota.backoff_level: integer out of range");
  CHECK(ErrorOf(R"({"quota":{"backoff_level":-1}})") == "quota.backoff_level: must be >= 0");
  CHECK(ErrorOf(R"({"model_states":{"gpt-5":{"quota":{"backoff_level":"2"}}}})") ==
        "model_states[\"gpt-5\"].quota.backoff_level: expected an integer");
  CHECK(ErrorOf(R"({"model_states":{"m":{"last_error":{"http_status":true}}}})") ==
        "model_states[\"m\"].last_error.http_status: expected an integer");
  CHECK(ErrorOf(R"({"model_states":{"m":7}})") == "model_states[\"m\"]: expected an object");
  CHECK(ErrorOf(R"({"status":"Active"})").rfind("status: unknown status", 0) == 0);
  CHECK(ErrorOf(R"({"model_states":{"m":{"status":"cooling"}}})")
            .rfind("model_states[\"m\"].status: unknown status", 0) == 0);
  CHECK(ErrorOf(R"({"created_at":"2026-04-17"})") ==
        "created_at: expected an RFC 3339 time such as \"2026-04-17T00:00:00Z\"");
  CHECK(ErrorOf(R"({"created_at":1776384000})") == "created_at: expected an RFC 3339 time string");
  CHECK(ErrorOf(R"({"attributes":{"weight":"2000000"}})") ==
        "attributes[\"weight\"]: weight must not exceed 1000000");
  CHECK(ErrorOf(R"({"metadata":{"weight":1.5}})") == "metadata.weight: weight must be an integer");
}

TEST_CASE("Malformed credential JSON gets a clear error and never echoes values",
          "[credential_json]") {
  CHECK(ErrorOf("") == "credential JSON is empty");
  CHECK(ErrorOf(" \n ") == "credential JSON is empty");
  CHECK(ErrorOf("[]") == "credential JSON must be an object");
  CHECK(ErrorOf("null") == "credential JSON must be an object");
  CHECK(ErrorOf(R"({"id":"sk-secret-9",)").rfind("credential JSON is not valid JSON", 0) == 0);
  CHECK(ErrorOf(R"({"id":"sk-secret-9",)").find("sk-secret") == std::string::npos);
  CHECK(ErrorOf("{\"id\":\"\xff\"}").rfind("credential JSON is not valid JSON", 0) == 0);
  CHECK(ErrorOf(R"({"quota":{"backoff_level":NaN}})").rfind("credential JSON is not valid", 0) == 0);
  CHECK(ErrorOf(R"({"x":-Infinity})").rfind("credential JSON is not valid", 0) == 0);
  CHECK(ErrorOf(R"({"x":1e999})").rfind("credential JSON is not valid", 0) == 0);
  CHECK(ErrorOf(R"({"id":"a"} {"id":"b"})").rfind("credential JSON is not valid", 0) == 0);
  std::string deep = R"({"metadata":{"a":)";
  for (int i = 0; i < 3000; ++i) deep += "[";
  for (int i = 0; i < 3000; ++i) deep += "]";
  deep += "}}";
  CHECK(ErrorOf(deep).rfind("credential JSON is not valid JSON", 0) == 0);
  const std::string huge =
      R"({"label":")" + std::string(ar::kMaxCredentialJsonBytes, 'x') + R"("})";
  CHECK(ErrorOf(huge).find("the limit is") != std::string::npos);
  CHECK(ErrorOf(R"({"metadata":{"api_key":"sk-secret-9","weight":"sk-secret-9"}})")
            .find("sk-secret") == std::string::npos);
}

TEST_CASE("Empty strings, empty maps and zero times round-trip", "[credential_json]") {
  ar::Credential c;
  auto back = Parse(ar::CredentialToJson(c));
  CHECK(back == c);
  CHECK(ar::CredentialToJson(c).find("\"attributes\"") == std::string::npos);
  CHECK(ar::CredentialToJson(c).find("\"metadata\"") == std::string::npos);
  CHECK(Parse(R"({"attributes":{},"model_states":{},"metadata":{}})") == c);
}

TEST_CASE("Invalid UTF-8 never produces invalid JSON", "[credential_json]") {
  ar::Credential c;
  c.id = "bad\xff";
  c.attributes["k\xc0"] = "v\xed\xa0\x80";
  CHECK_FALSE(c.Validate().ok());
  const std::string json = ar::CredentialToJson(c);
  CHECK(ParsesWithSimdjson(json));
  auto back = Parse(json);
  CHECK(back.id == "bad\xEF\xBF\xBD");
}

TEST_CASE("A thousand random credentials survive write then parse unchanged", "[credential_json]") {
  RandomCredentials gen(0x5eed);
  int with_metadata = 0, with_states = 0;
  for (int i = 0; i < 1000; ++i) {
    const ar::Credential c = gen.Next();
    REQUIRE(c.Validate().ok());
    const std::string json = ar::CredentialToJson(c);
    REQUIRE(ParsesWithSimdjson(json));
    auto back = ar::CredentialFromJson(json);
    INFO(json);
    REQUIRE(back.ok());
    CHECK(*back == c);
    CHECK(ar::CredentialToJson(*back) == json);
    with_metadata += !c.metadata.empty();
    with_states += !c.model_states.empty();
  }
  // The generator exercised the interesting parts.
  CHECK(with_metadata > 300);
  CHECK(with_states > 300);
}
