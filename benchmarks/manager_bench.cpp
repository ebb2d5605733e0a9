// Pick-path benchmarks. Names and setup follow upstream's scheduler benchmarks so the figures
// compare across versions: credentials bench-<provider>-NNNN serving "bench-model", priorities
// 10/0 alternating for the Priority variants, providers gemini/claude alternating for Mixed.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "authrouter/manager.h"

namespace {

namespace ar = authrouter;

constexpr std::string_view kModel = "bench-model";
constexpr std::string_view kSingle[] = {"gemini"};
constexpr std::string_view kMixed[] = {"gemini", "claude"};

std::unique_ptr<ar::Manager> Setup(int total, bool mixed, bool with_priority, bool metrics = true) {
  auto manager = *ar::Manager::Create({.metrics = metrics});
  for (int i = 0; i < total; ++i) {
    const std::string_view provider = mixed && i % 2 == 1 ? kMixed[1] : kMixed[0];
    char id[64];
    std::snprintf(id, sizeof id, "bench-%.*s-%04d", static_cast<int>(provider.size()),
                  provider.data(), i);
    ar::Credential c;
    c.id = id;
    c.provider = std::string(provider);
    if (with_priority) c.attributes["priority"] = i % 2 == 0 ? "10" : "0";
    if (!manager->Register(std::move(c)).ok()) std::abort();
    manager->RegisterModels(id, {kModel});
  }
  return manager;
}

// The manager is built once per benchmark run (Setup runs before the threads start) and shared
// by the benchmark's threads. The first pick builds the shard and rotation, outside the timing.
std::unique_ptr<ar::Manager> g_manager;

template <bool kMixedProviders, bool kPriority, bool kMetrics = true>
void SetupPicks(const benchmark::State& state) {
  g_manager = Setup(static_cast<int>(state.range(0)), kMixedProviders, kPriority, kMetrics);
  ar::PickRequest request;
  request.providers = kMixedProviders ? std::span<const std::string_view>(kMixed)
                                      : std::span<const std::string_view>(kSingle);
  request.model = kModel;
  if (!g_manager->Pick(request).ok()) std::abort();
}

void TeardownPicks(const benchmark::State&) { g_manager.reset(); }

void RunPicks(benchmark::State& state, bool mixed) {
  ar::PickRequest request;
  request.providers = mixed ? std::span<const std::string_view>(kMixed)
                            : std::span<const std::string_view>(kSingle);
  request.model = kModel;
  ar::Manager& manager = *g_manager;
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      absl::StatusOr<ar::PickResult> r = manager.Pick(request);
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_ManagerPickNext(benchmark::State& state) { RunPicks(state, false); }
void BM_ManagerPickNextPriority(benchmark::State& state) { RunPicks(state, false); }
void BM_ManagerPickNextMixed(benchmark::State& state) { RunPicks(state, true); }
void BM_ManagerPickNextMixedPriority(benchmark::State& state) { RunPicks(state, true); }

#define AUTHROUTER_PICK_BENCHMARK(name, mixed, priority)                                      \
  BENCHMARK(name)                                                                            \
      ->Setup(SetupPicks<mixed, priority>)                                                   \
      ->Teardown(TeardownPicks)                                                              \
      ->UseRealTime()

AUTHROUTER_PICK_BENCHMARK(BM_ManagerPickNext, false, false)->Arg(500)->Arg(1000)->Arg(100000);
AUTHROUTER_PICK_BENCHMARK(BM_ManagerPickNext, false, false)
    ->Arg(500)->Arg(1000)->Arg(100000)->Threads(2);
AUTHROUTER_PICK_BENCHMARK(BM_ManagerPickNextPriority, false, true)->Arg(500)->Arg(1000);
AUTHROUTER_PICK_BENCHMARK(BM_ManagerPickNextPriority, false, true)->Arg(500)->Arg(1000)->Threads(2);
AUTHROUTER_PICK_BENCHMARK(BM_ManagerPickNextMixed, true, false)->Arg(500);
AUTHROUTER_PICK_BENCHMARK(BM_ManagerPickNextMixed, true, false)->Arg(500)->Threads(2);
AUTHROUTER_PICK_BENCHMARK(BM_ManagerPickNextMixedPriority, true, true)->Arg(500);
AUTHROUTER_PICK_BENCHMARK(BM_ManagerPickNextMixedPriority, true, true)->Arg(500)->Threads(2);

// The same picks with ManagerOptions::metrics off: what counting costs a pick (compare with
// BM_ManagerPickNext/1000 in the same run).
void BM_ManagerPickNext_MetricsOff(benchmark::State& state) { RunPicks(state, false); }
BENCHMARK(BM_ManagerPickNext_MetricsOff)
    ->Setup(SetupPicks<false, false, false>)
    ->Teardown(TeardownPicks)
    ->UseRealTime()
    ->Arg(1000);
BENCHMARK(BM_ManagerPickNext_MetricsOff)
    ->Setup(SetupPicks<false, false, false>)
    ->Teardown(TeardownPicks)
    ->UseRealTime()
    ->Arg(1000)
    ->Threads(2);

// RegisterPool registers `n` credentials "bench-<provider>-NNNN" of `provider`, serving kModel.
void RegisterPool(ar::Manager& manager, std::string_view provider, int n) {
  for (int i = 0; i < n; ++i) {
    char id[64];
    std::snprintf(id, sizeof id, "bench-%.*s-%04d", static_cast<int>(provider.size()), provider.data(), i);
    ar::Credential c;
    c.id = id;
    c.provider = std::string(provider);
    if (!manager.Register(std::move(c)).ok()) std::abort();
    manager.RegisterModels(id, {kModel});
  }
}

// Picks from a pool where every credential has a concurrency limit (health.h): each pick takes
// a lease, and a success result releases it (pick + lease + release). Limits of 4 per credential
// never fill here, as in a gateway whose pool has room.
void SetupLeasePicks(const benchmark::State& state) {
  auto manager = *ar::Manager::Create({.leases = {.max_in_flight = 4}});
  RegisterPool(*manager, "gemini", static_cast<int>(state.range(0)));
  g_manager = std::move(manager);
  if (!g_manager->Pick("gemini", kModel).ok()) std::abort();
}

void BM_ManagerPickLease(benchmark::State& state) {
  ar::PickRequest request;
  request.providers = kSingle;
  request.model = kModel;
  ar::Manager& manager = *g_manager;
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      absl::StatusOr<ar::PickResult> r = manager.Pick(request);
      ar::Result result;
      result.credential_id = r->credential->id;
      result.model = kModel;
      result.success = true;
      result.lease = &r->lease;
      absl::Status s = manager.MarkResult(result);
      benchmark::DoNotOptimize(s);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ManagerPickLease)->Setup(SetupLeasePicks)->Teardown(TeardownPicks)->UseRealTime()->Arg(1000);
BENCHMARK(BM_ManagerPickLease)
    ->Setup(SetupLeasePicks)
    ->Teardown(TeardownPicks)
    ->UseRealTime()
    ->Arg(1000)
    ->Threads(2);

}  // namespace

namespace {

// A pick followed by a success on the picked (healthy) credential: the steady state of a gateway.
void BM_ManagerPickNextAndMarkResult(benchmark::State& state) {
  ar::PickRequest request;
  request.providers = kSingle;
  request.model = kModel;
  ar::Manager& manager = *g_manager;
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      absl::StatusOr<ar::PickResult> r = manager.Pick(request);
      ar::Result result;
      result.credential_id = r->credential->id;
      result.model = kModel;
      result.success = true;
      absl::Status s = manager.MarkResult(result);
      benchmark::DoNotOptimize(s);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
AUTHROUTER_PICK_BENCHMARK(BM_ManagerPickNextAndMarkResult, false, false)->Arg(1000);

// A 429 then a success on the same credential, alternating: each result publishes a snapshot.
void BM_ManagerMarkResultFailure(benchmark::State& state) {
  ar::Manager& manager = *g_manager;
  const std::string id = manager.List().front()->id;
  ar::Result failure;
  failure.credential_id = id;
  failure.model = kModel;
  failure.http_status = 429;
  failure.error_message = "rate limited";
  failure.retry_after = absl::Seconds(30);
  ar::Result success;
  success.credential_id = id;
  success.model = kModel;
  success.success = true;
  bool fail = true;
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      absl::Status s = manager.MarkResult(fail ? failure : success);
      benchmark::DoNotOptimize(s);
      fail = !fail;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
AUTHROUTER_PICK_BENCHMARK(BM_ManagerMarkResultFailure, false, false)->Arg(1000);
void BM_ManagerMarkResultFailure_MetricsOff(benchmark::State& state) {
  BM_ManagerMarkResultFailure(state);
}
BENCHMARK(BM_ManagerMarkResultFailure_MetricsOff)
    ->Setup(SetupPicks<false, false, false>)
    ->Teardown(TeardownPicks)
    ->UseRealTime()
    ->Arg(1000);

// The Prometheus text of a pool of N credentials (per-credential series off) after some
// traffic: what a scrape of /metrics costs.
void BM_ManagerMetricsExposition(benchmark::State& state) {
  ar::Manager& manager = *g_manager;
  ar::PickRequest request;
  request.providers = kSingle;
  request.model = kModel;
  for (int i = 0; i < 1000; ++i) (void)manager.Pick(request);
  size_t bytes = 0;
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      std::string text = manager.Metrics().Prometheus();
      bytes = text.size();
      benchmark::DoNotOptimize(text);
    }
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
AUTHROUTER_PICK_BENCHMARK(BM_ManagerMetricsExposition, false, false)->Arg(1000);

}  // namespace

namespace {

// A warm affinity pick: 10,000 bound sessions over 1,000 credentials; the session comes from a
// header, or from the metadata.user_id of a 16 KiB Claude body (after the messages).
// Sessions are bound by the strategy (round-robin), as in the figures recorded before
// rendezvous placement: session i sits on credential i mod 1,000, so walking the sessions in
// order walks the credentials in order. (Placed by rendezvous, the same walk visits credentials
// in random order and measures cache misses instead: about 1.35x in one run.)
void AffinityPick(benchmark::State& state, bool from_body) {
  auto manager = *ar::Manager::Create(
      {.session_affinity = true, .session_placement = ar::SessionPlacement::kStrategy});
  RegisterPool(*manager, "claude", 1000);
  constexpr std::string_view kProvider[] = {"claude"};
  std::vector<std::string> sessions;
  for (int i = 0; i < 10000; ++i) {
    char s[64];
    std::snprintf(s, sizeof s, "ac980658-63bd-4fb3-97ba-%012d", i);
    sessions.emplace_back(s);
  }
  std::string messages;
  while (messages.size() < (16 << 10)) {
    messages += R"({"role":"user","content":")" + std::string(200, 'x') + R"("},)";
  }
  messages.pop_back();
  std::vector<std::string> bodies;
  if (from_body) {
    for (const std::string& s : sessions) {
      bodies.push_back(R"({"model":"bench-model","messages":[)" + messages +
                       R"(],"metadata":{"user_id":"user_1_account__session_)" + s + R"("}})");
    }
  }
  auto pick = [&](size_t i) {
    ar::HttpHeader header{"X-Session-ID", sessions[i]};
    ar::PickRequest request;
    request.providers = kProvider;
    request.model = kModel;
    if (from_body) {
      request.body = bodies[i];
    } else {
      request.headers = {&header, 1};
    }
    return manager->Pick(request);
  };
  for (size_t i = 0; i < sessions.size(); ++i) {
    if (!pick(i).ok()) std::abort();  // warm: every session bound
  }
  size_t i = 0;
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      absl::StatusOr<ar::PickResult> r = pick(i++ % sessions.size());
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_SessionAffinity_Pick(benchmark::State& state) { AffinityPick(state, state.range(0) == 1); }
BENCHMARK(BM_SessionAffinity_Pick)->Arg(0)->Arg(1)->ArgName("from_body");

// The first request of a new conversation each time (header session, 1,000 credentials): a
// lookup miss, the placement and the binding. Arg: 1 places by rendezvous (the default), 0 by
// the strategy. Bindings are bounded at 100,000, so the cache evicts in steady state.
void BM_SessionAffinity_Place(benchmark::State& state) {
  auto manager = *ar::Manager::Create(
      {.session_affinity = true,
       .session_affinity_max_entries = 100'000,
       .session_placement = state.range(0) == 1 ? ar::SessionPlacement::kRendezvous
                                                : ar::SessionPlacement::kStrategy});
  RegisterPool(*manager, "claude", 1000);
  constexpr std::string_view kProvider[] = {"claude"};
  char session[64];
  uint64_t n = 0;
  auto pick = [&] {
    std::snprintf(session, sizeof session, "ac980658-63bd-4fb3-97ba-%012llu",
                  static_cast<unsigned long long>(n++));
    ar::HttpHeader header{"X-Session-ID", session};
    ar::PickRequest request;
    request.providers = kProvider;
    request.model = kModel;
    request.headers = {&header, 1};
    return manager->Pick(request);
  };
  for (int i = 0; i < 100'000; ++i) {
    if (!pick().ok()) std::abort();  // warm: the cache full
  }
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      absl::StatusOr<ar::PickResult> r = pick();
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SessionAffinity_Place)->Arg(1)->Arg(0)->ArgName("rendezvous");

}  // namespace
