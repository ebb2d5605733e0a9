// The public Scheduler alone, and host selectors with and without session affinity. Setup as in
// manager_bench.cpp: 1,000 credentials bench-claude-NNNN in one tier serving "bench-model".
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "authrouter/manager.h"
#include "authrouter/scheduler.h"

namespace {

namespace ar = authrouter;

constexpr std::string_view kModel = "bench-model";
constexpr std::string_view kProvider[] = {"claude"};

std::string IdFor(int i) {
  char id[32];
  std::snprintf(id, sizeof id, "bench-claude-%04d", i);
  return id;
}

void BM_SchedulerPick(benchmark::State& state) {
  ar::Scheduler scheduler;
  const absl::Time now = absl::FromUnixSeconds(1776384000);
  for (int i = 0; i < state.range(0); ++i) {
    ar::Credential c;
    c.id = IdFor(i);
    c.provider = "claude";
    if (!scheduler.Upsert(std::make_shared<const ar::Credential>(std::move(c)), now).ok()) std::abort();
    ar::ServedModels served;
    served.source = ar::ModelSource::kHost;
    served.models = {std::string(kModel)};
    if (!scheduler.SetModels(IdFor(i), std::move(served), now).ok()) std::abort();
  }
  ar::ScheduleRequest request;
  request.providers = kProvider;
  request.model = kModel;
  if (!scheduler.Pick(request, now).ok()) std::abort();  // builds the shard, outside the timing
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      absl::StatusOr<ar::ScheduledPick> r = scheduler.Pick(request, now);
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SchedulerPick)->Arg(1000)->UseRealTime();

// First is the trivial host selector: the first candidate.
class First final : public ar::Selector {
 public:
  absl::StatusOr<size_t> Select(const ar::SelectContext&,
                                std::span<const std::shared_ptr<const ar::Credential>>) override {
    return 0;
  }
};

std::unique_ptr<ar::Manager> SelectorManager(int total, bool affinity) {
  ar::ManagerOptions options;
  options.selector = std::make_shared<First>();
  options.session_affinity = affinity;
  auto manager = *ar::Manager::Create(std::move(options));
  for (int i = 0; i < total; ++i) {
    ar::Credential c;
    c.id = IdFor(i);
    c.provider = "claude";
    if (!manager->Register(std::move(c)).ok()) std::abort();
    manager->RegisterModels(IdFor(i), {kModel});
  }
  return manager;
}

void BM_ManagerPickSelector(benchmark::State& state) {
  auto manager = SelectorManager(static_cast<int>(state.range(0)), false);
  ar::PickRequest request;
  request.providers = kProvider;
  request.model = kModel;
  if (!manager->Pick(request).ok()) std::abort();
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      absl::StatusOr<ar::PickResult> r = manager->Pick(request);
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ManagerPickSelector)->Arg(1000)->UseRealTime();

// With affinity on and a header session, 10,000 conversations bound (by the selector) first.
void BM_SessionAffinity_PickSelector(benchmark::State& state) {
  auto manager = SelectorManager(1000, true);
  std::vector<std::string> sessions;
  for (int i = 0; i < 10000; ++i) {
    char s[64];
    std::snprintf(s, sizeof s, "ac980658-63bd-4fb3-97ba-%012d", i);
    sessions.emplace_back(s);
  }
  auto pick = [&](size_t i) {
    ar::HttpHeader header{"X-Session-ID", sessions[i]};
    ar::PickRequest request;
    request.providers = kProvider;
    request.model = kModel;
    request.headers = {&header, 1};
    return manager->Pick(request);
  };
  for (size_t i = 0; i < sessions.size(); ++i) {
    if (!pick(i).ok()) std::abort();
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
BENCHMARK(BM_SessionAffinity_PickSelector)->UseRealTime();

}  // namespace
