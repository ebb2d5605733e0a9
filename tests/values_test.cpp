#include <catch2/catch.hpp>

#include "authrouter/values.h"
#include "support/time_helpers.h"

using authrouter::testing::Utc;
namespace ar = authrouter;

TEST_CASE("Unix values follow the seconds/milliseconds rule of spec 01 5.2", "[values]") {
  CHECK(ar::UnixToTime(1776384000) == Utc(2026, 4, 17));
  CHECK(ar::UnixToTime(1776384000000) == Utc(2026, 4, 17));
  CHECK(ar::UnixToTime(1776384000123) == Utc(2026, 4, 17) + absl::Milliseconds(123));
  // Exactly 10^12 is still seconds (year ~33658); 10^12 + 1 is milliseconds.
  CHECK(ar::UnixToTime(1000000000000) == absl::FromUnixSeconds(1000000000000));
  CHECK(ar::UnixToTime(1000000000001) == absl::FromUnixMillis(1000000000001));
  CHECK(ar::IsZeroTime(ar::UnixToTime(0)));
  CHECK(ar::IsZeroTime(ar::UnixToTime(-5)));
}

TEST_CASE("Time strings parse with every accepted layout", "[values]") {
  CHECK(ar::ParseTimeString("2026-04-17T10:00:00+08:00") == Utc(2026, 4, 17, 2));
  CHECK(ar::ParseTimeString("2026-04-17T10:00:00-01:30") == Utc(2026, 4, 17, 11, 30));
  CHECK(ar::ParseTimeString("2026-04-17T00:00:00Z") == Utc(2026, 4, 17));
  CHECK(ar::ParseTimeString("2026-04-17T00:00:00.123456789Z") ==
        Utc(2026, 4, 17) + absl::Nanoseconds(123456789));
  CHECK(ar::ParseTimeString("2026-04-17T00:00:00,5Z") == Utc(2026, 4, 17) + absl::Milliseconds(500));
  // Digits beyond nanoseconds are ignored, as Go does.
  CHECK(ar::ParseTimeString("2026-04-17T00:00:00.1234567891234Z") ==
        Utc(2026, 4, 17) + absl::Nanoseconds(123456789));
  CHECK(ar::ParseTimeString("2026-04-17 10:00:00") == Utc(2026, 4, 17, 10));
  CHECK(ar::ParseTimeString("2026-04-17 10:00:00.25") ==
        Utc(2026, 4, 17, 10) + absl::Milliseconds(250));
  CHECK(ar::ParseTimeString("2026-04-17 08:30") == Utc(2026, 4, 17, 8, 30));
  CHECK(ar::ParseTimeString("1776384000") == Utc(2026, 4, 17));
  CHECK(ar::ParseTimeString("+1776384000") == Utc(2026, 4, 17));
  CHECK(ar::ParseTimeString("1776384000000") == Utc(2026, 4, 17));
  CHECK(ar::IsZeroTime(*ar::ParseTimeString("-5")));
  CHECK(ar::IsZeroTime(*ar::ParseTimeString("0")));
  // Trimmed first, including Unicode white space (U+00A0, U+3000).
  CHECK(ar::ParseTimeString(" \t2026-04-17 08:30\n") == Utc(2026, 4, 17, 8, 30));
  CHECK(ar::ParseTimeString("\xC2\xA0" "2026-04-17 08:30\xE3\x80\x80") == Utc(2026, 4, 17, 8, 30));
  CHECK(ar::ParseTimeString("2024-02-29 00:00") == Utc(2024, 2, 29));
}

TEST_CASE("Time strings that match no layout are unparsable", "[values]") {
  for (const char* bad : {"", "   ", "2026-04-17", "2026-04-17T10:00:00", "2026-04-17t10:00:00Z",
                          "2026-04-17T10:00:00z", "2026-02-30 00:00", "2026-02-29 00:00",
                          "2026-13-01 00:00", "2026-04-17 24:00", "2026-04-17 10:60",
                          "2026-04-17 10:00:60", "2026-04-17T10:00:00+24:00",
                          "2026-04-17T10:00:00+08", "2026-04-17 08:30x", "2026-04-17 08:30:00Z",
                          "2026-04-17 08:30.5", "26-04-17 08:30", "1.5", "1e9", "garbage",
                          "9223372036854775808", "2026-04-17T10:00:00.Z"}) {
    INFO(bad);
    CHECK_FALSE(ar::ParseTimeString(bad).has_value());
  }
}

TEST_CASE("RFC 3339 output trims fractional zeros and clamps to years 0000-9999", "[values]") {
  CHECK(ar::FormatRfc3339(ar::ZeroTime()) == "0001-01-01T00:00:00Z");
  CHECK(ar::FormatRfc3339(Utc(2026, 4, 17) + absl::Milliseconds(123)) ==
        "2026-04-17T00:00:00.123Z");
  CHECK(ar::FormatRfc3339(Utc(2026, 4, 17) + absl::Nanoseconds(1)) ==
        "2026-04-17T00:00:00.000000001Z");
  CHECK(ar::FormatRfc3339(absl::FromUnixSeconds(1000000000000)) ==
        "9999-12-31T23:59:59.999999999Z");
  CHECK(ar::FormatRfc3339(absl::InfinitePast()) == "0000-01-01T00:00:00Z");
  CHECK(ar::ParseRfc3339(ar::FormatRfc3339(ar::ZeroTime())) == ar::ZeroTime());
}

TEST_CASE("Go duration syntax parses as Go's time.ParseDuration does", "[values]") {
  CHECK(*ar::ParseGoDuration("1h") == absl::Hours(1));
  CHECK(*ar::ParseGoDuration("2h30m") == absl::Hours(2) + absl::Minutes(30));
  CHECK(*ar::ParseGoDuration("1.5s") == absl::Milliseconds(1500));
  CHECK(*ar::ParseGoDuration("300ms") == absl::Milliseconds(300));
  CHECK(*ar::ParseGoDuration("1us") == absl::Microseconds(1));
  CHECK(*ar::ParseGoDuration("1\xC2\xB5s") == absl::Microseconds(1));  // U+00B5
  CHECK(*ar::ParseGoDuration("1\xCE\xBCs") == absl::Microseconds(1));  // U+03BC
  CHECK(*ar::ParseGoDuration("10ns") == absl::Nanoseconds(10));
  CHECK(*ar::ParseGoDuration("-1h") == -absl::Hours(1));
  CHECK(*ar::ParseGoDuration("+5m") == absl::Minutes(5));
  CHECK(*ar::ParseGoDuration("0") == absl::ZeroDuration());
  CHECK(*ar::ParseGoDuration(".5s") == absl::Milliseconds(500));
  CHECK(*ar::ParseGoDuration("1.s") == absl::Seconds(1));
  CHECK(*ar::ParseGoDuration("1h1m1s1ms") ==
        absl::Hours(1) + absl::Minutes(1) + absl::Seconds(1) + absl::Milliseconds(1));
  CHECK(*ar::ParseGoDuration("2562047h") == absl::Hours(2562047));
}

TEST_CASE("Bad Go durations get clear errors", "[values]") {
  for (const char* bad : {"", "1", "1x", "h", ".s", "-", "1h-1m", "1 h", "1.5.5s", "0x10s"}) {
    INFO(bad);
    auto d = ar::ParseGoDuration(bad);
    REQUIRE_FALSE(d.ok());
    CHECK(absl::IsInvalidArgument(d.status()));
    CHECK(std::string(d.status().message()).find("invalid duration") != std::string::npos);
  }
  auto unit = ar::ParseGoDuration("5 parsecs");
  CHECK(std::string(unit.status().message()).find("unit") != std::string::npos);
  for (const char* huge : {"2562048h", "9999999999999999999h", "100000000000000000000ns"}) {
    INFO(huge);
    CHECK(absl::IsOutOfRange(ar::ParseGoDuration(huge).status()));
  }
}

TEST_CASE("Durations accept Go syntax or plain seconds, and reject garbage", "[values]") {
  CHECK(*ar::ParseDuration("900") == absl::Seconds(900));
  CHECK(*ar::ParseDuration("1.5") == absl::Milliseconds(1500));
  CHECK(*ar::ParseDuration(" 15m ") == absl::Minutes(15));
  CHECK(*ar::ParseDuration("-2") == -absl::Seconds(2));
  CHECK(*ar::ParseDuration("+3") == absl::Seconds(3));
  CHECK(*ar::ParseDuration("1e3") == absl::Seconds(1000));
  CHECK(*ar::ParseDuration("0") == absl::ZeroDuration());
  for (const char* bad : {"", " ", "abc", "inf", "nan", "Infinity", "0x10", "1,5", "--1", "1s2",
                          "\xff"}) {
    INFO(bad);
    auto d = ar::ParseDuration(bad);
    REQUIRE_FALSE(d.ok());
    CHECK(absl::IsInvalidArgument(d.status()));
  }
  CHECK(absl::IsOutOfRange(ar::ParseDuration("1e12").status()));   // ~31,700 years
  CHECK(absl::IsOutOfRange(ar::ParseDuration("1e400").status()));
  // The message quotes the input, cut to 64 bytes.
  const std::string long_input(200, 'z');
  auto d = ar::ParseDuration(long_input);
  REQUIRE_FALSE(d.ok());
  CHECK(d.status().message().size() < 200);
}

TEST_CASE("Note kept: booleans are Go's strict ParseBool set -- yes and on are not booleans",
          "[values]") {
  for (const char* t : {"1", "t", "T", "TRUE", "true", "True"}) CHECK(ar::ParseGoBool(t) == true);
  for (const char* f : {"0", "f", "F", "FALSE", "false", "False"}) {
    CHECK(ar::ParseGoBool(f) == false);
  }
  for (const char* bad : {"yes", "on", "no", "off", "tRUE", " true", "", "2"}) {
    INFO(bad);
    CHECK_FALSE(ar::ParseGoBool(bad).has_value());
  }
}

TEST_CASE("Integers are strict base-10 with an optional sign", "[values]") {
  CHECK(ar::ParseGoInt64("42") == 42);
  CHECK(ar::ParseGoInt64("+5") == 5);
  CHECK(ar::ParseGoInt64("-5") == -5);
  CHECK(ar::ParseGoInt64("9223372036854775807") == INT64_MAX);
  CHECK(ar::ParseGoInt64("-9223372036854775808") == INT64_MIN);
  for (const char* bad : {"", "+", "-", "9223372036854775808", "-9223372036854775809", "1.5",
                          " 1", "1 ", "1_000", "0x10", "10.0", "1e3"}) {
    INFO(bad);
    CHECK_FALSE(ar::ParseGoInt64(bad).has_value());
  }
}

TEST_CASE("TrimSpace removes Go's Unicode white space and nothing else", "[values]") {
  CHECK(ar::TrimSpace("  a b \t\n\v\f\r") == "a b");
  CHECK(ar::TrimSpace("\xC2\x85x\xC2\xA0") == "x");                 // U+0085, U+00A0
  CHECK(ar::TrimSpace("\xE2\x80\x80x\xE2\x80\x8A") == "x");         // U+2000, U+200A
  CHECK(ar::TrimSpace("\xE3\x80\x80x\xE2\x80\xA8\xE2\x80\xA9") == "x");  // U+3000, U+2028/9
  CHECK(ar::TrimSpace("\xE2\x80\x8Bx") == "\xE2\x80\x8Bx");         // U+200B is not space
  CHECK(ar::TrimSpace("\xff x \xff") == "\xff x \xff");             // invalid bytes stop it
  CHECK(ar::TrimSpace("") == "");
  CHECK(ar::TrimSpace(" \t ") == "");
}
