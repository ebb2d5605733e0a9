// The per-thread request memo's string comparison (routing/pick_spec.h): a pick reuses the
// previous request's normalisation only when the providers and model are byte for byte the same.
#include <catch2/catch.hpp>

#include <string>

#include "routing/pick_spec.h"

namespace authrouter::internal {
namespace {

TEST_CASE("The request memo tells apart strings that differ in any byte at any length",
          "[request-memo]") {
  for (size_t n = 0; n <= 40; ++n) {
    std::string a(n, 'm');
    for (size_t i = 0; i < n; ++i) a[i] = static_cast<char>('a' + (i * 7) % 26);
    const std::string same = a;
    CHECK(RequestMemo::Same(a, same));
    for (size_t at = 0; at < n; ++at) {
      std::string b = a;
      b[at] = static_cast<char>(b[at] ^ 0x20);
      CHECK_FALSE(RequestMemo::Same(a, b));
    }
    CHECK_FALSE(RequestMemo::Same(a, a + "x"));
    if (n > 0) CHECK_FALSE(RequestMemo::Same(a, a.substr(0, n - 1)));
  }
}

}  // namespace
}  // namespace authrouter::internal
