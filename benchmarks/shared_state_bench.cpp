// Shared state across replicas (shared_state.h) against a real redis-server on a unix socket,
// started by the benchmark (tests/redis_server.h) and stopped at exit.
//
//   BM_ManagerPickShared/1000: picks with shared state on, in steady state (no limits): compare
//     with BM_ManagerPickNext/1000 in the same run, with AUTHROUTER_BENCH_THREADED=1 (below).
//   BM_SharedCooldownConvergence: from MarkResult (a 429) on replica A to the credential skipping
//     on replica B; each iteration's time is that span; p50_us and p99_us are reported.
//   BM_ManagerPickFleetLease: a pick and release of a limited credential (max-in-flight 4) with
//     leases.fleet exact: the local place plus one round trip for the fleet's (the release is
//     queued).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "alloc_counter.h"
#include "authrouter/manager.h"
#include "authrouter/shared_state.h"
#include "redis_server.h"

namespace {

namespace ar = authrouter;

// glibc counts shared_ptr references without atomic instructions while a process has only ever
// had one thread. The shared state's client threads end that for BM_ManagerPickShared (a picked
// credential is a shared_ptr); AUTHROUTER_BENCH_THREADED=1 ends it for the whole run, with a
// thread started and joined before any benchmark, so that BM_ManagerPickNext is measured as in
// a gateway (which always runs threads) and the two compare like for like.
[[maybe_unused]] const bool kThreaded = [] {
  if (std::getenv("AUTHROUTER_BENCH_THREADED") == nullptr) return false;
  std::thread([] {}).join();
  return true;
}();

constexpr std::string_view kModel = "bench-model";
constexpr std::string_view kSingle[] = {"gemini"};

authrouter_test::RedisServer& Server() {
  static authrouter_test::RedisServer server;  // stopped when the process exits
  return server;
}

std::unique_ptr<ar::Manager> SharedManager(int credentials) {
  ar::RedisOptions ro;
  ro.url = Server().url();
  ro.prefix = "bench:";
  ar::ManagerOptions o;
  o.shared_state = *ar::NewRedisSharedState(ro);
  auto manager = *ar::Manager::Create(std::move(o));
  if (!authrouter_test::Eventually([&] { return manager->SharedStats()->connected; })) std::abort();
  for (int i = 0; i < credentials; ++i) {
    char id[64];
    std::snprintf(id, sizeof id, "bench-gemini-%04d", i);
    ar::Credential c;
    c.id = id;
    c.provider = "gemini";
    if (!manager->Register(std::move(c)).ok()) std::abort();
    manager->RegisterModels(id, {kModel});
  }
  return manager;
}

std::unique_ptr<ar::Manager> g_shared;

// Settle waits until the registrations' resync traffic is over (each new credential is read
// back, and what redis lacks is published and heard again): steady state, as the benchmark says.
void Settle(const ar::Manager& m) {
  ar::SharedStateStats last = *m.SharedStats();
  for (int quiet = 0; quiet < 4;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const ar::SharedStateStats now = *m.SharedStats();
    quiet = now.published == last.published && now.received == last.received ? quiet + 1 : 0;
    last = now;
  }
}

void SetupSharedPicks(const benchmark::State& state) {
  g_shared = SharedManager(static_cast<int>(state.range(0)));
  if (!g_shared->Pick("gemini", kModel).ok()) std::abort();
  Settle(*g_shared);
}

void TeardownSharedPicks(const benchmark::State&) { g_shared.reset(); }

void BM_ManagerPickShared(benchmark::State& state) {
  ar::PickRequest request;
  request.providers = kSingle;
  request.model = kModel;
  ar::Manager& manager = *g_shared;
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      absl::StatusOr<ar::PickResult> r = manager.Pick(request);
      benchmark::DoNotOptimize(r);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ManagerPickShared)
    ->Setup(SetupSharedPicks)
    ->Teardown(TeardownSharedPicks)
    ->UseRealTime()
    ->Arg(1000);

bool CoolingFor(const ar::Manager& m, std::string_view id) {
  std::shared_ptr<const ar::Credential> c = m.Get(id);
  auto it = c->model_states.find(kModel);
  return it != c->model_states.end() && it->second.unavailable;
}

void BM_SharedCooldownConvergence(benchmark::State& state) {
  std::unique_ptr<ar::Manager> a = SharedManager(3), b = SharedManager(3);
  ar::Result failure;
  failure.credential_id = "bench-gemini-0000";
  failure.model = kModel;
  failure.http_status = 429;
  failure.retry_after = absl::Hours(1);
  ar::Result success = failure;
  success.success = true;
  success.http_status = 200;
  success.retry_after.reset();
  std::vector<double> samples;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    if (!a->MarkResult(failure).ok()) std::abort();
    while (!CoolingFor(*b, failure.credential_id)) {
      if (std::chrono::steady_clock::now() - start > std::chrono::seconds(5)) std::abort();
    }
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    state.SetIterationTime(took.count());
    samples.push_back(took.count() * 1e6);
    // Back to healthy everywhere before the next round (not timed).
    if (!a->MarkResult(success).ok()) std::abort();
    while (CoolingFor(*b, failure.credential_id)) {
    }
  }
  std::sort(samples.begin(), samples.end());
  if (!samples.empty()) {
    state.counters["p50_us"] = samples[samples.size() / 2];
    state.counters["p99_us"] = samples[std::min(samples.size() - 1, samples.size() * 99 / 100)];
  }
}
BENCHMARK(BM_SharedCooldownConvergence)->UseManualTime()->Iterations(500)->Unit(benchmark::kMicrosecond);

void BM_ManagerPickFleetLease(benchmark::State& state) {
  std::unique_ptr<ar::Manager> m = SharedManager(4);
  ar::LeaseOptions lo;
  lo.max_in_flight = 4;
  if (!m->SetLeaseOptions(lo).ok()) std::abort();
  ar::PickRequest request;
  request.providers = kSingle;
  request.model = kModel;
  uint64_t taken_before = m->SharedStats()->leases_taken;
  for (auto _ : state) {
    absl::StatusOr<ar::PickResult> r = m->Pick(request);
    if (!r.ok()) std::abort();
    benchmark::DoNotOptimize(r);
  }
  state.counters["fleet_leases"] = static_cast<double>(m->SharedStats()->leases_taken - taken_before);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ManagerPickFleetLease)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace
