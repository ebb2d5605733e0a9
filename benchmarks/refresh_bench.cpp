// Refresh loop benchmarks on 100,000 scheduled credentials: the work one change costs
// (re-evaluate and move in the schedule), the work one due credential costs (pop, evaluate,
// reschedule), and a loop pass when nothing is due.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "authrouter/manager.h"
#include "authrouter/refresh.h"
#include "refresh/refresh_queue.h"

namespace {

namespace ar = authrouter;

const absl::Time kStart = absl::FromUnixSeconds(1776384000);

struct Pool {
  std::vector<ar::Credential> credentials;
  ar::internal::RefreshQueue queue;
  ar::RefreshOptions options;
};

// A pool of claude OAuth credentials whose tokens expire over the next 100,000 s.
std::unique_ptr<Pool> MakePoolPtr(int n) {
  auto pool = std::make_unique<Pool>();
  Pool& p = *pool;
  p.credentials.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    ar::Credential c;
    char id[32];
    std::snprintf(id, sizeof id, "claude-%06d", i);  // short: no heap string
    c.id = id;
    c.provider = "claude";
    c.metadata = *ar::Metadata::Parse(R"({"email":"u@x","expired":")" +
                                      ar::FormatRfc3339(kStart + absl::Hours(5) + absl::Seconds(i)) +
                                      "\"}");
    p.queue.Upsert(c.id, *ar::NextRefreshCheck(c, kStart, p.options));
    p.credentials.push_back(std::move(c));
  }
  return pool;
}

// One change: the credential is re-evaluated (spec 05 §4) and moved in the schedule.
void BM_RefreshLoop_Reschedule(benchmark::State& state) {
  std::unique_ptr<Pool> pool = MakePoolPtr(static_cast<int>(state.range(0)));
  Pool& p = *pool;
  uint64_t x = 88172645463325252ull;
  absl::Time now = kStart;
  ar::bench::AllocCounter allocs(state);
  for (auto _ : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const ar::Credential& c = p.credentials[x % p.credentials.size()];
    now += absl::Milliseconds(1);
    const std::optional<absl::Time> next = ar::NextRefreshCheck(c, now, p.options);
    p.queue.Upsert(c.id, *next + absl::Seconds(static_cast<int64_t>(x % 3600)));
  }
  state.counters["scheduled"] = static_cast<double>(p.queue.size());
}
BENCHMARK(BM_RefreshLoop_Reschedule)->Arg(100'000);

// One due credential: popped, evaluated (should it refresh?), and scheduled again later.
void BM_RefreshLoop_PopDue(benchmark::State& state) {
  std::unique_ptr<Pool> pool = MakePoolPtr(static_cast<int>(state.range(0)));
  Pool& p = *pool;
  std::vector<std::string> due;
  due.reserve(16);
  absl::Time now = kStart + absl::Hours(1);  // the first token enters claude's 4 h lead here
  size_t popped = 0;
  ar::bench::AllocCounter allocs(state);
  for (auto _ : state) {
    due.clear();
    p.queue.PopDue(now, &due);
    for (const std::string& id : due) {
      // Pool IDs are claude-NNNNNN: the number is the index.
      size_t index = 0;
      for (char ch : std::string_view(id).substr(7)) index = index * 10 + static_cast<size_t>(ch - '0');
      const ar::Credential& c = p.credentials[index];
      benchmark::DoNotOptimize(ar::ShouldRefresh(c, now, p.options));
      p.queue.Upsert(id, now + absl::Hours(48));
      ++popped;
    }
    now += absl::Seconds(1);  // one credential falls due per second
  }
  state.counters["popped_per_iter"] =
      benchmark::Counter(static_cast<double>(popped), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_RefreshLoop_PopDue)->Arg(100'000);

// A Manager with 100,000 scheduled credentials: one pass of the loop with nothing due.
void BM_RefreshLoop_IdlePass(benchmark::State& state) {
  class Never : public ar::Refresher {
    absl::StatusOr<ar::TokenUpdate> Refresh(const ar::Credential&, const ar::RefreshContext&) override {
      return absl::UnavailableError("unused");
    }
  };
  ar::ManagerOptions o;
  o.refresh.default_refresher = std::make_shared<Never>();
  auto manager = *ar::Manager::Create(std::move(o));
  std::unique_ptr<Pool> pool = MakePoolPtr(static_cast<int>(state.range(0)));
  Pool& p = *pool;
  for (ar::Credential& c : p.credentials) {
    if (!manager->Register(std::move(c)).ok()) std::abort();
  }
  manager->RunDueRefreshes(kStart);  // schedules all of them
  const uint64_t evaluations = manager->GetRefreshStats().evaluations;
  ar::bench::AllocCounter allocs(state);
  for (auto _ : state) benchmark::DoNotOptimize(manager->RunDueRefreshes(kStart + absl::Minutes(30)));
  state.counters["evaluations"] =
      static_cast<double>(manager->GetRefreshStats().evaluations - evaluations);
}
BENCHMARK(BM_RefreshLoop_IdlePass)->Arg(100'000);

}  // namespace
