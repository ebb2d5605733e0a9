#include <catch2/catch.hpp>

#include <string>

#include "authrouter/metadata.h"
#include "support/time_helpers.h"

using authrouter::testing::Utc;
namespace ar = authrouter;

namespace {

ar::Metadata Meta(std::string_view json) {
  auto m = ar::Metadata::Parse(json);
  INFO(json);
  REQUIRE(m.ok());
  return *std::move(m);
}

std::string ErrorOf(std::string_view json) {
  auto m = ar::Metadata::Parse(json);
  INFO(json);
  REQUIRE_FALSE(m.ok());
  CHECK(absl::IsInvalidArgument(m.status()));
  return std::string(m.status().message());
}

}  // namespace

TEST_CASE("Token expiry matches every example of spec 01 6", "[metadata]") {
  CHECK(Meta(R"({"expired":"2026-04-17T10:00:00+08:00"})").expiry() == Utc(2026, 4, 17, 2));
  CHECK(Meta(R"({"expires_at": 1776384000123})").expiry() ==
        Utc(2026, 4, 17) + absl::Milliseconds(123));
  CHECK(Meta(R"({"expired":"garbage","expiry":"2026-04-17 10:00:00"})").expiry() ==
        Utc(2026, 4, 17, 10));
  CHECK(Meta(R"({"token":{"expiry":"2026-04-17T00:00:00Z"}})").expiry() == Utc(2026, 4, 17));
  CHECK(Meta(R"({"Token":{"expires":1776384000}})").expiry() == Utc(2026, 4, 17));
  CHECK_FALSE(Meta(R"({"expires_in":3600})").expiry().has_value());
}

TEST_CASE("Token expiry keys are tried in order and nested token objects recurse", "[metadata]") {
  // Key order is expired, expire, expires_at, expiresAt, expiry, expires: not document order.
  CHECK(Meta(R"({"expires":"2030-01-01 00:00","expire":"2029-01-01 00:00"})").expiry() ==
        Utc(2029, 1, 1));
  CHECK(Meta(R"({"expiresAt":1776384000,"expiry":"2031-01-01 00:00"})").expiry() ==
        Utc(2026, 4, 17));
  // Top-level keys win over nested ones; token before Token; token.token recurses.
  CHECK(Meta(R"({"token":{"expiry":"2031-01-01 00:00"},"expires":"2030-01-01 00:00"})")
            .expiry() == Utc(2030, 1, 1));
  CHECK(Meta(R"({"Token":{"expiry":"2031-01-01 00:00"},"token":{"expiry":"2030-01-01 00:00"}})")
            .expiry() == Utc(2030, 1, 1));
  CHECK(Meta(R"({"token":{"token":{"expiry":"2032-01-01 00:00"}}})").expiry() ==
        Utc(2032, 1, 1));
  // A nested token that is not an object is ignored; so are unparsable kinds.
  CHECK_FALSE(Meta(R"({"token":"abc","expiry":true,"expires":[1],"expire":{}})").expiry());
  // A string token falls through to Token.
  CHECK(Meta(R"({"token":"opaque","Token":{"expires":1776384000}})").expiry() ==
        Utc(2026, 4, 17));
}

TEST_CASE("Note kept: an expiry key that parses to zero stops the search", "[metadata]") {
  CHECK_FALSE(Meta(R"({"expired": 0, "expires_at": "2026-05-01T00:00:00Z"})").expiry());
  CHECK_FALSE(Meta(R"({"expired": "-5", "expires_at": "2026-05-01T00:00:00Z"})").expiry());
  // The nested search stops the same way: token's zero hides Token.
  CHECK_FALSE(Meta(R"({"token":{"expiry":0},"Token":{"expiry":1776384000}})").expiry());
}

TEST_CASE("Expiry numbers follow Go's float64 conversion", "[metadata]") {
  CHECK(Meta(R"({"expiry": 1776384000.9})").expiry() == Utc(2026, 4, 17));  // truncated
  CHECK(Meta(R"({"expiry": 1.776384e9})").expiry() == Utc(2026, 4, 17));
  // Out of int64 range: Go on x86-64 yields INT64_MIN, the zero time, which stops the search.
  CHECK_FALSE(Meta(R"({"expiry": 1e300, "expires": 1776384000})").expiry());
  CHECK_FALSE(Meta(R"({"expiry": 18446744073709551615, "expires": 1776384000})").expiry());
}

TEST_CASE("Refresh interval takes the first positive duration among its keys", "[metadata]") {
  CHECK(Meta(R"({"refresh_interval":"900"})").refresh_interval() == absl::Seconds(900));
  CHECK(Meta(R"({"refresh_interval_seconds":"15m"})").refresh_interval() == absl::Minutes(15));
  CHECK(Meta(R"({"refreshIntervalSeconds":1.5})").refresh_interval() == absl::Milliseconds(1500));
  CHECK(Meta(R"({"refreshInterval":" 2h "})").refresh_interval() == absl::Hours(2));
  // Non-positive or unparsable values are absent and the next key is tried.
  CHECK(Meta(R"({"refresh_interval_seconds":0,"refreshIntervalSeconds":"-5m",
                 "refresh_interval":"soon","refreshInterval":60})")
            .refresh_interval() == absl::Minutes(1));
  CHECK(Meta(R"({"refresh_interval":true})").refresh_interval() == absl::ZeroDuration());
  CHECK(Meta(R"({"refresh_interval":1e300})").refresh_interval() == absl::ZeroDuration());
  CHECK(Meta(R"({"refresh_interval":1e-12})").refresh_interval() == absl::ZeroDuration());
  CHECK(Meta(R"({"refresh_interval_seconds":"1h","refresh_interval":"2h"})").refresh_interval() ==
        absl::Hours(1));
}

TEST_CASE("Last refresh takes the first parsable time among its keys", "[metadata]") {
  CHECK(Meta(R"({"last_refresh":"2026-04-17 08:30"})").last_refresh() == Utc(2026, 4, 17, 8, 30));
  CHECK(Meta(R"({"lastRefresh":"bad","last_refreshed_at":1776384000})").last_refresh() ==
        Utc(2026, 4, 17));
  CHECK(Meta(R"({"lastRefreshedAt":"2026-04-17T00:00:00Z"})").last_refresh() == Utc(2026, 4, 17));
  CHECK_FALSE(Meta(R"({"last_refresh":false})").last_refresh());
}

TEST_CASE("disable_cooling falls through to disable-cooling when unparsable", "[metadata]") {
  CHECK(Meta(R"({"disable_cooling":true})").disable_cooling() == true);
  CHECK(Meta(R"({"disable_cooling":"0","disable-cooling":true})").disable_cooling() == false);
  CHECK(Meta(R"({"disable_cooling":"maybe","disable-cooling":"T"})").disable_cooling() == true);
  CHECK(Meta(R"({"disable-cooling":2.5})").disable_cooling() == true);
  CHECK(Meta(R"({"disable-cooling":0})").disable_cooling() == false);
  CHECK(Meta(R"({"disable_cooling":" "})").disable_cooling() == std::nullopt);
  CHECK(Meta(R"({"disable_cooling":"yes"})").disable_cooling() == std::nullopt);
  CHECK(Meta(R"({"disable_cooling":null})").disable_cooling() == std::nullopt);
  CHECK(Meta(R"({"other":1})").disable_cooling() == std::nullopt);
  CHECK(Meta(R"({"tool_prefix_disabled":"x","tool-prefix-disabled":"true"})")
            .tool_prefix_disabled() == true);
}

TEST_CASE("request_retry follows the int rules", "[metadata]") {
  CHECK(Meta(R"({"request_retry":3})").request_retry() == 3);
  CHECK(Meta(R"({"request_retry":1.9})").request_retry() == 1);
  CHECK(Meta(R"({"request_retry":"2"})").request_retry() == 2);
  CHECK(Meta(R"({"request_retry":" 4 "})").request_retry() == 4);
  CHECK(Meta(R"({"request_retry":"1.5","request-retry":5})").request_retry() == 5);
  CHECK(Meta(R"({"request_retry":true,"request-retry":"6"})").request_retry() == 6);
  CHECK(Meta(R"({"request_retry":-0.5})").request_retry() == 0);
  CHECK(Meta(R"({"request_retry":0})").request_retry() == 0);
  CHECK(Meta(R"({"x":0})").request_retry() == std::nullopt);
}

TEST_CASE("Fixed (later fix C5): a negative request_retry means unset, not zero", "[metadata]") {
  CHECK(Meta(R"({"request_retry":-1})").request_retry() == std::nullopt);
  CHECK(Meta(R"({"request-retry":"-3"})").request_retry() == std::nullopt);
  // The first parsable key decides, even when it is negative: no fall-through.
  CHECK(Meta(R"({"request_retry":-1,"request-retry":4})").request_retry() == std::nullopt);
  CHECK(Meta(R"({"request_retry":1e300})").request_retry() == std::nullopt);  // INT64_MIN
}

TEST_CASE("Metadata websockets accepts a bool or a bool string, else false", "[metadata]") {
  CHECK(Meta(R"({"websockets":true})").websockets());
  CHECK(Meta(R"({"websockets":" true "})").websockets());
  CHECK(Meta(R"({"websockets":"1"})").websockets());
  CHECK_FALSE(Meta(R"({"websockets":1})").websockets());
  CHECK_FALSE(Meta(R"({"websockets":"yes"})").websockets());
  CHECK_FALSE(Meta(R"({"a":1})").websockets());
}

TEST_CASE("Metadata weight is validated when the metadata is built", "[metadata]") {
  CHECK(Meta(R"({"weight":5})").weight() == 5);
  CHECK(Meta(R"({"weight":"7"})").weight() == 7);
  CHECK(Meta(R"({"weight":" "})").weight() == 1);
  CHECK(Meta(R"({"weight":0})").weight() == 0);
  CHECK(Meta(R"({"weight":-3})").weight() == 0);
  CHECK(Meta(R"({"weight":-2.0})").weight() == 0);
  CHECK(Meta(R"({"weight":1e6})").weight() == 1000000);
  CHECK(Meta(R"({"weight":1000000})").weight() == 1000000);
  CHECK_FALSE(Meta(R"({"a":1})").weight().has_value());
  CHECK(ErrorOf(R"({"weight":1.5})") == "metadata.weight: weight must be an integer");
  CHECK(ErrorOf(R"({"weight":1000001})") == "metadata.weight: weight must not exceed 1000000");
  CHECK(ErrorOf(R"({"weight":18446744073709551615})") ==
        "metadata.weight: weight must not exceed 1000000");
  CHECK(ErrorOf(R"({"weight":"2000000"})") == "metadata.weight: weight must not exceed 1000000");
  CHECK(ErrorOf(R"({"weight":true})") == "metadata.weight: weight must be an integer");
  CHECK(ErrorOf(R"({"weight":null})") == "metadata.weight: weight must be an integer");
  CHECK(ErrorOf(R"({"weight":"heavy"})") == "metadata.weight: weight must be an integer");
}

TEST_CASE("Metadata account fields are read as trimmed strings", "[metadata]") {
  auto m = Meta(R"({"email":"  a@example.com ","project_id":" p-1 ","type":"gemini-cli"})");
  CHECK(m.email() == "a@example.com");
  CHECK(m.project_id() == "p-1");
  CHECK(m.type() == "gemini-cli");
  auto n = Meta(R"({"email":42,"project_id":null})");
  CHECK(n.email().empty());
  CHECK(n.project_id().empty());
  CHECK(n.GetString("email") == std::nullopt);
  CHECK(m.GetString("email") == "  a@example.com ");
  CHECK(m.GetString("missing") == std::nullopt);
}

TEST_CASE("Metadata text is kept verbatim -- duplicate keys resolve to the last", "[metadata]") {
  const std::string text = "{ \"n\": 1.0e3,\n  \"s\": \"\\u00e9\", \"email\": \"a@x\", \"email\": \"b@x\" }";
  auto m = Meta(text);
  CHECK(m.json() == text);
  CHECK(m.email() == "b@x");
  CHECK(Meta("  {\"a\":1}\n").json() == "{\"a\":1}");  // outer JSON white space only
  CHECK(Meta("{}").empty());
  CHECK(Meta(" { } ").json().empty());
  CHECK(ar::Metadata() == Meta("{}"));
}

TEST_CASE("Malformed metadata gets a clear error and never echoes values", "[metadata]") {
  CHECK(ErrorOf("") == "metadata is empty; expected a JSON object");
  CHECK(ErrorOf("[1,2]") == "metadata must be a JSON object");
  CHECK(ErrorOf("\"str\"") == "metadata must be a JSON object");
  CHECK(ErrorOf("null") == "metadata must be a JSON object");
  CHECK(ErrorOf(R"({"access_token":"sk-secret-1",)").find("not valid JSON") != std::string::npos);
  CHECK(ErrorOf(R"({"access_token":"sk-secret-1",)").find("sk-secret") == std::string::npos);
  CHECK(ErrorOf("{\"a\":\"\xff\xfe\"}").find("not valid JSON") != std::string::npos);
  CHECK(ErrorOf(R"({"a":NaN})").find("not valid JSON") != std::string::npos);
  CHECK(ErrorOf(R"({"a":Infinity})").find("not valid JSON") != std::string::npos);
  CHECK(ErrorOf(R"({"a":1e400})").find("not valid JSON") != std::string::npos);
  CHECK(ErrorOf(R"({"a":1} x)").find("not valid JSON") != std::string::npos);
  std::string deep = "{\"a\":";
  for (int i = 0; i < 5000; ++i) deep += "[";
  for (int i = 0; i < 5000; ++i) deep += "]";
  deep += "}";
  CHECK(ErrorOf(deep).find("not valid JSON") != std::string::npos);
  std::string huge = "{\"a\":\"" + std::string(ar::Metadata::kMaxBytes, 'x') + "\"}";
  CHECK(ErrorOf(huge).find("the limit is") != std::string::npos);
  CHECK(ErrorOf(R"({"weight":"sk-secret-2"})").find("sk-secret") == std::string::npos);
}
