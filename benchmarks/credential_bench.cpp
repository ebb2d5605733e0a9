// Credential model benchmarks: the JSON codec and canonical model keys.
#include <benchmark/benchmark.h>

#include <string>

#include "alloc_counter.h"
#include "authrouter/credential_json.h"
#include "authrouter/model_key.h"

namespace {

namespace ar = authrouter;

const char kCredential[] =
    R"({"id":"claude-alice.json","provider":"claude","status":"active","disabled":false,)"
    R"("unavailable":false,"attributes":{"priority":"10","weight":"3"},)"
    R"("metadata":{"type":"claude","email":"alice@example.com","access_token":"t1",)"
    R"("refresh_token":"t2","expired":"2026-12-01T08:00:00+08:00"},)"
    R"("quota":{"exceeded":false,"next_recover_at":"0001-01-01T00:00:00Z"},)"
    R"("created_at":"2026-04-17T00:00:00Z","updated_at":"2026-04-17T00:00:00Z",)"
    R"("model_states":{"claude-sonnet-4-5":{"status":"error","unavailable":true,)"
    R"("next_retry_after":"2026-04-17T00:30:00Z","quota":{"exceeded":true,)"
    R"("next_recover_at":"2026-04-17T00:30:00Z","backoff_level":2},)"
    R"("updated_at":"2026-04-17T00:00:00Z"}}})";

void BM_Credential_FromJson(benchmark::State& state) {
  ar::bench::AllocCounter allocs(state);
  for (auto _ : state) {
    auto c = ar::CredentialFromJson(kCredential);
    benchmark::DoNotOptimize(c);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * (sizeof kCredential - 1));
}
BENCHMARK(BM_Credential_FromJson);

void BM_Credential_ToJson(benchmark::State& state) {
  const ar::Credential c = *ar::CredentialFromJson(kCredential);
  std::string out;
  ar::bench::AllocCounter allocs(state);
  for (auto _ : state) {
    out.clear();
    ar::AppendCredentialJson(c, &out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_Credential_ToJson);

void BM_ModelKey_Canonical(benchmark::State& state) {
  ar::bench::AllocCounter allocs(state);
  for (auto _ : state) {
    benchmark::DoNotOptimize(ar::CanonicalModelKey("  claude-sonnet-4-5(16384) "));
  }
}
BENCHMARK(BM_ModelKey_Canonical);

}  // namespace
