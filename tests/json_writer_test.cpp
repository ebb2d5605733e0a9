#include <catch2/catch.hpp>

#include <cmath>
#include <random>
#include <string>

#include "internal/json_writer.h"
#include "internal/unicode.h"
#include "simdjson.h"

using authrouter::internal::AppendJsonString;
using authrouter::internal::JsonWriter;

namespace {

std::string Quote(std::string_view s) {
  std::string out;
  AppendJsonString(&out, s);
  return out;
}

// Decode parses `json` (one JSON string) with simdjson and returns its value.
std::string Decode(const std::string& json) {
  simdjson::dom::parser parser;
  std::string_view value;
  auto err = parser.parse(json).get(value);
  INFO(json);
  REQUIRE(err == simdjson::SUCCESS);
  return std::string(value);
}

}  // namespace

TEST_CASE("The JSON writer escapes per RFC 8259", "[json_writer]") {
  using namespace std::string_literals;
  CHECK(Quote("plain") == "\"plain\"");
  CHECK(Quote("a\"b\\c") == R"("a\"b\\c")");
  CHECK(Quote("\b\f\n\r\t") == R"("\b\f\n\r\t")");
  CHECK(Quote("\x01\x1f"s) == R"("\u0001\u001f")");
  CHECK(Quote("nul\0byte"s) == R"("nul\u0000byte")");
  CHECK(Quote("\x7f") == "\"\x7f\"");  // DEL needs no escape
  CHECK(Quote("/") == "\"/\"");
  CHECK(Quote("caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x99\x82") == "\"caf\xc3\xa9 \xe4\xb8\xad \xf0\x9f\x99\x82\"");
  CHECK(Quote("") == "\"\"");
  for (int c = 0; c < 0x20; ++c) {
    const std::string s(1, static_cast<char>(c));
    CHECK(Decode(Quote(s)) == s);
  }
}

TEST_CASE("Invalid UTF-8 is written as U+FFFD per offending byte", "[json_writer]") {
  const std::string r = "\xEF\xBF\xBD";
  CHECK(Quote("a\xff" "b") == "\"a" + r + "b\"");
  CHECK(Quote("\x80") == "\"" + r + "\"");                     // lone continuation
  CHECK(Quote("\xc3") == "\"" + r + "\"");                     // truncated
  CHECK(Quote("\xc0\x80") == "\"" + r + r + "\"");             // overlong NUL
  CHECK(Quote("\xed\xa0\x80") == "\"" + r + r + r + "\"");     // surrogate U+D800
  CHECK(Quote("\xf4\x90\x80\x80") == "\"" + r + r + r + r + "\"");  // above U+10FFFF
  CHECK(Quote("\xe0\x9f\xbf") == "\"" + r + r + r + "\"");     // overlong 3-byte
}

TEST_CASE("Writer output is always valid JSON and round-trips valid UTF-8", "[json_writer]") {
  std::mt19937_64 rng(20260417);
  const unsigned char interesting[] = {0x00, 0x01, 0x1f, '"', '\\', 'a', 0x7f, 0x80, 0xbf,
                                       0xc2, 0xc3, 0xa9, 0xe0, 0xe4, 0xb8, 0xad, 0xed, 0xa0,
                                       0xf0, 0x9f, 0x99, 0x82, 0xf4, 0x90, 0xff};
  int valid_inputs = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s(rng() % 12, '\0');
    for (char& c : s) {
      c = static_cast<char>(rng() % 2 ? interesting[rng() % sizeof interesting] : rng() % 256);
    }
    const std::string decoded = Decode(Quote(s));
    CHECK(authrouter::internal::IsValidUtf8(decoded));
    if (authrouter::internal::IsValidUtf8(s)) {
      ++valid_inputs;
      CHECK(decoded == s);
    }
  }
  CHECK(valid_inputs > 100);
}

TEST_CASE("JsonWriter places commas and writes every value kind", "[json_writer]") {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject();
  w.Key("a");
  w.BeginArray();
  w.Int(1);
  w.Int(-2);
  w.BeginObject();
  w.Key("b");
  w.Null();
  w.EndObject();
  w.BeginArray();
  w.EndArray();
  w.EndArray();
  w.Key("c");
  w.Bool(true);
  w.Key("d");
  w.Uint(18446744073709551615u);
  w.Key("e");
  w.Double(1.5);
  w.Key("f");
  w.Double(std::nan(""));
  w.Key("g");
  w.Double(0.1);
  w.Key("h");
  w.Raw(R"({"x":[1]})");
  w.Key("i");
  w.String("s");
  w.EndObject();
  CHECK(out ==
        R"({"a":[1,-2,{"b":null},[]],"c":true,"d":18446744073709551615,"e":1.5,"f":null,"g":0.1,"h":{"x":[1]},"i":"s"})");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  CHECK(parser.parse(out).get(root) == simdjson::SUCCESS);
}
