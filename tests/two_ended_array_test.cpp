// The tiers' ready arrays (internal/two_ended_array.h): every insert and erase, wherever it lands
// and whichever side slides, leaves the same sequence a std::vector would.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <vector>

#include "internal/two_ended_array.h"

namespace authrouter::internal {
namespace {

bool Same(const TwoEndedArray<uint32_t>& a, const std::vector<uint32_t>& b) {
  if (a.size() != b.size() || a.empty() != b.empty()) return false;
  for (size_t i = 0; i < b.size(); ++i) {
    if (a[i] != b[i] || a.data()[i] != b[i]) return false;
  }
  return a.end() - a.begin() == static_cast<std::ptrdiff_t>(b.size());
}

TEST_CASE("A two-ended array keeps a vector's order under inserts and erases at any position",
          "[two-ended-array]") {
  std::mt19937 rng(GENERATE(1u, 2u, 3u));
  TwoEndedArray<uint32_t> a;
  std::vector<uint32_t> model;
  REQUIRE(Same(a, model));
  uint32_t next = 0;
  for (int step = 0; step < 20000; ++step) {
    // Grow to a few hundred, shrink to empty, grow again: both the growth path and the reset
    // of an emptied array are crossed several times.
    const bool growing = (step / 2500) % 2 == 0;
    const bool insert = model.empty() || (rng() % 4 != 0) == growing;
    // Favour both ends, where the sliding side changes, and the exact middle.
    size_t pos;
    switch (rng() % 4) {
      case 0: pos = 0; break;
      case 1: pos = insert ? model.size() : model.size() - 1; break;
      case 2: pos = model.size() / 2; break;
      default: pos = rng() % (model.size() + (insert ? 1 : 0)); break;
    }
    if (insert) {
      a.Insert(pos, next);
      model.insert(model.begin() + static_cast<std::ptrdiff_t>(pos), next);
      ++next;
    } else {
      a.Erase(pos);
      model.erase(model.begin() + static_cast<std::ptrdiff_t>(pos));
    }
    REQUIRE(Same(a, model));
  }
}

TEST_CASE("A two-ended array takes many inserts at one end without losing elements",
          "[two-ended-array]") {
  TwoEndedArray<uint32_t> front, back;
  std::vector<uint32_t> front_model, back_model;
  for (uint32_t i = 0; i < 1000; ++i) {
    front.Insert(0, i);
    front_model.insert(front_model.begin(), i);
    back.Insert(back.size(), i);
    back_model.push_back(i);
  }
  CHECK(Same(front, front_model));
  CHECK(Same(back, back_model));
  while (!front.empty()) {
    front.Erase(front.size() - 1);
    front_model.pop_back();
  }
  CHECK(Same(front, front_model));
  front.Insert(0, 7);
  CHECK(front.size() == 1);
  CHECK(front[0] == 7);
}

}  // namespace
}  // namespace authrouter::internal
