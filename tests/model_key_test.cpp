#include <catch2/catch.hpp>

#include "authrouter/model_key.h"

namespace ar = authrouter;

TEST_CASE("Canonical model keys match every example of spec 01 10", "[model_key]") {
  const std::pair<const char*, const char*> cases[] = {
      {"gemini-2.5-pro", "gemini-2.5-pro"},
      {"claude-sonnet-4-5(16384)", "claude-sonnet-4-5"},
      {"gpt-5.2(high)", "gpt-5.2"},
      {"  gpt-5 (high)  ", "gpt-5"},
      {"a(b)(c)", "a(b)"},
      {"a(b", "a(b"},
      {"a(b)c", "a(b)c"},
      {"(high)", "(high)"},
      {"a(b)c)", "a"},
      {"teamA/gpt-5(high)", "teamA/gpt-5"},
      {"", ""},
      {"   ", ""},
      {"Model-X(low)", "Model-X"},  // case-sensitive: not lower-cased
      {" (x) ", "(x)"},
  };
  for (const auto& [input, want] : cases) {
    INFO(input);
    CHECK(ar::CanonicalModelKey(input) == want);
  }
}

TEST_CASE("The thinking suffix parser splits at the last parenthesis", "[model_key]") {
  auto s = ar::ParseThinkingSuffix("claude-sonnet-4-5(16384)");
  CHECK(s.has_suffix);
  CHECK(s.model_name == "claude-sonnet-4-5");
  CHECK(s.raw_suffix == "16384");
  s = ar::ParseThinkingSuffix("a(b)c)");
  CHECK(s.model_name == "a");
  CHECK(s.raw_suffix == "b)c");
  s = ar::ParseThinkingSuffix("m()");
  CHECK(s.has_suffix);
  CHECK(s.model_name == "m");
  CHECK(s.raw_suffix.empty());
  s = ar::ParseThinkingSuffix("a(b");
  CHECK_FALSE(s.has_suffix);
  CHECK(s.model_name == "a(b");
  s = ar::ParseThinkingSuffix("");
  CHECK_FALSE(s.has_suffix);
  s = ar::ParseThinkingSuffix(")");
  CHECK_FALSE(s.has_suffix);
}
