// Pick-path benchmarks. Names and setup follow upstream's scheduler benchmarks so the figures
// compare across versions: credentials bench-<provider>-NNNN serving "bench-model", priorities
// 10/0 alternating for the Priority variants, providers gemini/claude alternating for Mixed.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>

#include "alloc_counter.h"
#include "authrouter/manager.h"

namespace {

namespace ar = authrouter;

constexpr std::string_view kModel = "bench-model";
constexpr std::string_view kSingle[] = {"gemini"};
constexpr std::string_view kMixed[] = {"gemini", "claude"};

std::unique_ptr<ar::Manager> Setup(int total, bool mixed, bool with_priority) {
  auto manager = *ar::Manager::Create({});
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

template <bool kMixedProviders, bool kPriority>
void SetupPicks(const benchmark::State& state) {
  g_manager = Setup(static_cast<int>(state.range(0)), kMixedProviders, kPriority);
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

}  // namespace
