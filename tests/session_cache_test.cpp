// SessionCache: TTL bindings (spec 03 §5) with later fixes A5 (alias groups, "now >= expiry")
// and A7 (touch, compare-and-delete), driven by the manual clock.
#include <catch2/catch.hpp>

#include <thread>
#include <vector>

#include "authrouter/session_cache.h"
#include "support/time_helpers.h"

namespace ar = authrouter;

namespace {

std::unique_ptr<ar::SessionCache> Cache(ar::ManualClock& clock, absl::Duration ttl,
                                        size_t max_entries = 1000) {
  auto c = ar::SessionCache::Create(
      {.ttl = ttl, .max_entries = max_entries, .sweeper = false, .clock = &clock});
  REQUIRE(c.ok());
  return *std::move(c);
}

std::string Bound(ar::SessionCache& c, std::string_view key, bool refresh = false) {
  std::string id;
  const bool hit = refresh ? c.GetAndRefresh(key, &id) : c.Get(key, &id);
  return hit ? id : "<miss>";
}

// Name returns prefix + n (built piecewise: GCC 12 warns falsely on "literal" + std::string).
std::string Name(std::string_view prefix, int n) {
  std::string s(prefix);
  s += std::to_string(n);
  return s;
}

}  // namespace

TEST_CASE("GetAndRefresh extends a binding -- the spec's 100 ms sequence", "[session_cache]") {
  ar::ManualClock clock;
  auto c = Cache(clock, absl::Milliseconds(100));
  c->Set("k", "auth-a");
  CHECK(Bound(*c, "k", true) == "auth-a");
  clock.Advance(absl::Milliseconds(60));
  CHECK(Bound(*c, "k", true) == "auth-a");  // now lives until 160 ms
  clock.Advance(absl::Milliseconds(60));
  CHECK(Bound(*c, "k", true) == "auth-a");  // at 120 ms; until 220 ms
  clock.Advance(absl::Milliseconds(110));
  CHECK(Bound(*c, "k", true) == "<miss>");
  CHECK(c->size() == 0);  // the expired binding was removed on read
}

TEST_CASE("Get does not extend, and a binding expires at its expiry (A5)", "[session_cache]") {
  ar::ManualClock clock;
  auto c = Cache(clock, absl::Seconds(10));
  c->Set("k", "a");
  clock.Advance(absl::Seconds(9));
  CHECK(Bound(*c, "k") == "a");
  clock.Advance(absl::Seconds(1));  // now == expiry
  CHECK(Bound(*c, "k") == "<miss>");
}

TEST_CASE("Empty keys and credential IDs never bind", "[session_cache]") {
  ar::ManualClock clock;
  auto c = Cache(clock, absl::Seconds(10));
  c->Set("", "a");
  c->Set("k", "");
  CHECK(c->size() == 0);
  CHECK(Bound(*c, "") == "<miss>");
}

TEST_CASE("Aliases are written, refreshed and removed together (A5)", "[session_cache]") {
  ar::ManualClock clock;
  auto c = Cache(clock, absl::Seconds(10));
  const std::string_view keys[] = {"primary", "fallback", "", "primary"};
  c->SetAliases(keys, "a");
  CHECK(c->size() == 2);
  clock.Advance(absl::Seconds(8));
  CHECK(Bound(*c, "fallback", true) == "a");  // refreshes the whole group
  clock.Advance(absl::Seconds(8));
  CHECK(Bound(*c, "primary") == "a");
  // Rebinding one alias moves its whole live group along (as upstream merges aliases).
  c->Set("primary", "b");
  CHECK(Bound(*c, "primary") == "b");
  CHECK(Bound(*c, "fallback") == "b");
  std::vector<std::string> many;
  for (size_t i = 0; i < ar::SessionCache::kMaxAliases + 10; ++i) many.push_back(Name("k", static_cast<int>(i)));
  std::vector<std::string_view> views(many.begin(), many.end());
  c->SetAliases(views, "z");
  CHECK(c->size() == 2 + ar::SessionCache::kMaxAliases);
  auto tiny = Cache(clock, absl::Seconds(10), 1);
  const std::string_view pair[] = {"x", "y"};
  CHECK(tiny->SetAliases(pair, "q") != nullptr);
  CHECK(Bound(*tiny, "y") == "q");  // the newest group is never evicted
}

TEST_CASE("Touch and compare-and-delete act only while the binding is unchanged (A7)",
          "[session_cache]") {
  ar::ManualClock clock;
  auto c = Cache(clock, absl::Seconds(10));
  const std::string_view keys[] = {"p", "f"};
  c->SetAliases(keys, "a");
  clock.Advance(absl::Seconds(9));
  CHECK_FALSE(c->Touch("p", "b"));
  CHECK(c->Touch("p", "a"));
  clock.Advance(absl::Seconds(9));
  CHECK(Bound(*c, "f") == "a");  // the touch refreshed the group
  CHECK_FALSE(c->CompareAndDelete("p", "b"));  // bound elsewhere: a late failure is ignored
  CHECK(c->CompareAndDelete("f", "a"));
  CHECK(Bound(*c, "f") == "<miss>");
  CHECK(Bound(*c, "p") == "a");  // only that key went: the conversation keeps its binding
  CHECK(c->CompareAndDelete("p", "a"));
  CHECK_FALSE(c->Touch("p", "a"));
}

TEST_CASE("Invalidate removes a key's group -- InvalidateCredential every group of a credential",
          "[session_cache]") {
  ar::ManualClock clock;
  auto c = Cache(clock, absl::Seconds(10));
  c->Set("k1", "a");
  c->Set("k2", "a");
  c->Set("k3", "b");
  c->Invalidate("k3");
  CHECK(Bound(*c, "k3") == "<miss>");
  c->InvalidateCredential("a");
  CHECK(c->size() == 0);
  c->InvalidateCredential("");
}

TEST_CASE("Sweep removes exactly the expired bindings", "[session_cache]") {
  ar::ManualClock clock;
  auto c = Cache(clock, absl::Seconds(10));
  c->Set("old", "a");
  clock.Advance(absl::Seconds(5));
  const std::string_view keys[] = {"new", "new-alias"};
  c->SetAliases(keys, "b");
  clock.Advance(absl::Seconds(5));
  CHECK(c->Sweep() == 1);
  CHECK(Bound(*c, "new") == "b");
  clock.Advance(absl::Seconds(5));
  CHECK(c->Sweep() == 2);
  CHECK(c->size() == 0);
}

TEST_CASE("Beyond max_entries the least recently refreshed groups go first", "[session_cache]") {
  ar::ManualClock clock;
  auto c = Cache(clock, absl::Hours(1), 3);
  c->Set("a", "1");
  clock.Advance(absl::Seconds(1));
  c->Set("b", "2");
  clock.Advance(absl::Seconds(1));
  c->Set("c", "3");
  CHECK(Bound(*c, "a", true) == "1");  // refreshed: now the newest
  c->Set("d", "4");
  CHECK(Bound(*c, "b") == "<miss>");
  CHECK(Bound(*c, "a") == "1");
  CHECK(c->size() == 3);
}

TEST_CASE("Create rejects absurd settings", "[session_cache]") {
  CHECK(absl::IsInvalidArgument(ar::SessionCache::Create({.ttl = absl::ZeroDuration()}).status()));
  CHECK(absl::IsInvalidArgument(ar::SessionCache::Create({.ttl = -absl::Seconds(1)}).status()));
  CHECK(absl::IsInvalidArgument(ar::SessionCache::Create({.ttl = absl::Hours(24 * 31)}).status()));
  CHECK(absl::IsInvalidArgument(ar::SessionCache::Create({.max_entries = 0}).status()));
}

TEST_CASE("Note fixed: the sweeper stops once, from any number of concurrent callers",
          "[session_cache]") {
  ar::ManualClock clock;
  auto c = ar::SessionCache::Create({.ttl = absl::Hours(1), .clock = &clock});
  REQUIRE(c.ok());
  std::vector<std::thread> stoppers;
  for (int i = 0; i < 4; ++i) stoppers.emplace_back([&] { (*c)->Stop(); });
  for (auto& t : stoppers) t.join();
  (*c)->Stop();
  (*c)->Set("k", "a");  // still usable after stop
  CHECK(Bound(**c, "k") == "a");
}

TEST_CASE("Concurrent readers and writers keep the cache consistent", "[session_cache][stress]") {
  ar::ManualClock clock;
  auto c = Cache(clock, absl::Seconds(30), 500);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::string id;
      for (int i = 0; i < 5000; ++i) {
        const std::string key = Name("s", static_cast<int>((i * 7 + t) % 800));
        switch (i % 5) {
          case 0: c->Set(key, Name("a", static_cast<int>(t))); break;
          case 1: (void)c->GetAndRefresh(key, &id); break;
          case 2: (void)c->CompareAndDelete(key, Name("a", static_cast<int>(t))); break;
          case 3: (void)c->Touch(key, "a0"); break;
          default: clock.Advance(absl::Milliseconds(10)); (void)c->Sweep();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(c->size() <= 500);
}

TEST_CASE("Session affinity configuration resolves as upstream's", "[session_cache]") {
  CHECK_FALSE(ar::ResolveSessionAffinityConfig(false, false, "").enabled);
  CHECK(ar::ResolveSessionAffinityConfig(true, false, "").enabled);
  CHECK(ar::ResolveSessionAffinityConfig(false, true, "").enabled);  // the deprecated alias
  const std::pair<const char*, absl::Duration> ttls[] = {
      {"30m", absl::Minutes(30)}, {"2h30m", absl::Minutes(150)}, {" 1h ", absl::Hours(1)},
      {"", absl::Hours(1)},       {"soon", absl::Hours(1)},        {"0", absl::Hours(1)},
      {"-5m", absl::Hours(1)},    {"900", absl::Hours(1)},         {"721h", absl::Hours(1)}};
  for (const auto& [raw, want] : ttls) {
    INFO(raw);
    CHECK(ar::ResolveSessionAffinityConfig(true, false, raw).ttl == want);
  }
}

TEST_CASE("Sweep still finds every expired binding after the TTL shrinks", "[session_cache]") {
  ar::ManualClock clock;
  auto c = Cache(clock, absl::Hours(2));
  c->Set("long", "a");  // expires at 2 h
  c->set_ttl(absl::Minutes(30));
  clock.Advance(absl::Minutes(10));
  c->Set("short", "b");  // expires at 40 min, behind "long" in refresh order
  clock.Advance(absl::Minutes(31));
  CHECK(c->Sweep() == 1);
  CHECK(Bound(*c, "long") == "a");
  CHECK(Bound(*c, "short") == "<miss>");
  CHECK(c->ttl() == absl::Minutes(30));
}

TEST_CASE("A handle names its group's first key and outlives the binding", "[session_cache]") {
  ar::ManualClock clock;
  auto c = Cache(clock, absl::Seconds(10));
  const std::string_view keys[] = {"first", "second"};
  std::shared_ptr<const std::string> made = c->SetAliases(keys, "a");
  REQUIRE(made != nullptr);
  CHECK(*made == "first");
  std::string id;
  std::shared_ptr<const std::string> read;
  REQUIRE(c->GetAndRefresh("second", &id, &read));
  CHECK(read.get() == made.get());  // the cache's own string: handing it out copies nothing
  // Without its first key the group's handle is the key that is first now (still bound, so a
  // Touch with it keeps the conversation).
  CHECK(c->CompareAndDelete("first", "a"));
  REQUIRE(c->GetAndRefresh("second", &id, &read));
  CHECK(*read == "second");
  CHECK(c->Touch(*read, "a"));
  c->Invalidate("second");
  clock.Advance(absl::Seconds(30));
  CHECK(c->Sweep() == 0);
  CHECK(*made == "first");  // both handles still read their keys after the bindings went
  CHECK(*read == "second");
  CHECK(c->size() == 0);
}

TEST_CASE("Rebinding merges live groups only, and keys stay bound once", "[session_cache]") {
  ar::ManualClock clock;
  auto c = Cache(clock, absl::Seconds(10));
  const std::string_view ab[] = {"a", "b"};
  c->SetAliases(ab, "x");
  clock.Advance(absl::Seconds(5));
  const std::string_view cd[] = {"c", "d"};
  c->SetAliases(cd, "y");
  const std::string_view bc[] = {"b", "c", "e"};
  std::shared_ptr<const std::string> h = c->SetAliases(bc, "z");
  REQUIRE(h != nullptr);
  CHECK(*h == "b");
  CHECK(c->size() == 5);
  for (std::string_view k : {"a", "b", "c", "d", "e"}) CHECK(Bound(*c, k) == "z");
  // An expired group's other keys are not carried over; its given keys are bound anew.
  clock.Advance(absl::Seconds(10));
  const std::string_view f[] = {"f", "a"};
  c->SetAliases(f, "w");
  CHECK(c->size() == 2);
  CHECK(Bound(*c, "a") == "w");
  CHECK(Bound(*c, "b") == "<miss>");
  // One credential's groups all go, and its ID can bind again afterwards.
  c->Set("g", "w");
  c->Set("h", "v");
  c->InvalidateCredential("w");
  CHECK(c->size() == 1);
  CHECK(Bound(*c, "h") == "v");
  c->Set("a", "w");
  CHECK(Bound(*c, "a") == "w");
  CHECK(c->size() == 2);
}

TEST_CASE("Re-setting a live binding to its own credential refreshes it in place",
          "[session_cache]") {
  ar::ManualClock clock;
  auto c = Cache(clock, absl::Seconds(10));
  const std::string_view abc[] = {"a", "b", "c"};
  std::shared_ptr<const std::string> first = c->SetAliases(abc, "x");
  REQUIRE(first != nullptr);
  c->Set("other", "y");  // newer than the group, so the group is the oldest
  clock.Advance(absl::Seconds(8));
  // The same keys in the same order: the group is refreshed, its nodes kept.
  std::shared_ptr<const std::string> again = c->SetAliases(abc, "x");
  CHECK(again.get() == first.get());
  CHECK(c->size() == 4);
  // The refresh made it the newest, so eviction (bound 3) takes "other" first.
  c->set_max_entries(3);
  CHECK(Bound(*c, "other") == "<miss>");
  clock.Advance(absl::Seconds(8));  // 16 s after the first write, 8 s after the re-set
  CHECK(Bound(*c, "a") == "x");
  // A subset, out of order: the given keys move to the front, the rest stay bound after them.
  const std::string_view cb[] = {"c", "b"};
  std::shared_ptr<const std::string> reordered = c->SetAliases(cb, "x");
  REQUIRE(reordered != nullptr);
  CHECK(*reordered == "c");
  CHECK(c->size() == 3);
  for (std::string_view k : {"a", "b", "c"}) CHECK(Bound(*c, k) == "x");
  // Removing the head shows the order: "b" follows "c".
  CHECK(c->CompareAndDelete("c", "x"));
  std::string id;
  std::shared_ptr<const std::string> head;
  REQUIRE(c->GetAndRefresh("a", &id, &head));
  CHECK(*head == "b");
  // Set of one key that is not the head moves it to the front without unbinding the others.
  c->Set("a", "x");
  REQUIRE(c->GetAndRefresh("b", &id, &head));
  CHECK(*head == "a");
  CHECK(c->size() == 2);
  // A key outside the group, or another credential, still rebinds the slow way.
  const std::string_view ad[] = {"a", "d"};
  c->SetAliases(ad, "x");
  CHECK(c->size() == 3);
  c->Set("b", "z");
  for (std::string_view k : {"a", "b", "d"}) CHECK(Bound(*c, k) == "z");
  // An expired group is bound anew, without its other keys.
  clock.Advance(absl::Seconds(10));
  c->Set("a", "z");
  CHECK(c->size() == 1);
  CHECK(Bound(*c, "b") == "<miss>");
}
