// Session-ID extraction throughput per body format and size. Bodies are generated: a
// conversation of turns whose texts fill the body; Claude bodies carry metadata.user_id after the
// messages, so the extractor must skip the whole conversation to find it.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "authrouter/session_id.h"

namespace {

namespace ar = authrouter;

std::string Turns(const char* format, size_t target) {
  const std::string text(200, 'x');
  std::string out;
  for (int i = 0; out.size() < target; ++i) {
    const bool user = i % 2 == 0;
    std::string t = text + std::to_string(i);
    if (!out.empty()) out += ",";
    if (std::string_view(format) == "gemini") {
      out += std::string(R"({"role":")") + (user ? "user" : "model") + R"(","parts":[{"text":")" + t + R"("}]})";
    } else if (std::string_view(format) == "responses") {
      out += std::string(R"({"type":"message","role":")") + (user ? "user" : "assistant") +
             R"(","content":[{"type":")" + (user ? "input_text" : "output_text") +
             R"(","text":")" + t + R"("}]})";
    } else {
      out += std::string(R"({"role":")") + (user ? "user" : "assistant") + R"(","content":")" + t + R"("})";
    }
  }
  return out;
}

std::string Body(const char* format, size_t target) {
  const std::string_view f(format);
  if (f == "openai") {
    return R"({"model":"gpt-5","messages":[{"role":"system","content":"You are helpful"},)" +
           Turns(format, target) + "]}";
  }
  if (f == "claude") {
    return R"({"model":"claude-sonnet-4-5","system":[{"type":"text","text":"You are Claude Code"}],"messages":[)" +
           Turns(format, target) +
           R"(],"metadata":{"user_id":"user_3f22_account__session_ac980658-63bd-4fb3-97ba-8da64cb1e344"}})";
  }
  if (f == "gemini") {
    return R"({"systemInstruction":{"parts":[{"text":"You are helpful"}]},"contents":[)" +
           Turns(format, target) + "]}";
  }
  return R"({"model":"gpt-5","instructions":"You are Codex","input":[)" + Turns(format, target) + "]}";
}

void BM_SessionId_Extract(benchmark::State& state, const char* format) {
  const std::string body = Body(format, static_cast<size_t>(state.range(0)));
  ar::SessionIdExtractor extractor;
  benchmark::DoNotOptimize(extractor.Extract({}, body));  // warm the buffers
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      ar::SessionIds ids = extractor.Extract({}, body);
      benchmark::DoNotOptimize(ids);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(body.size()));
}

#define AUTHROUTER_SESSION_BENCH(format)                                                  \
  BENCHMARK_CAPTURE(BM_SessionId_Extract, format, #format)                                \
      ->Arg(1 << 10)->Arg(16 << 10)->Arg(256 << 10)->Arg(2 << 20)

AUTHROUTER_SESSION_BENCH(openai);
AUTHROUTER_SESSION_BENCH(claude);
AUTHROUTER_SESSION_BENCH(gemini);
AUTHROUTER_SESSION_BENCH(responses);

// The conversation chain (ContentIdentity::kChain): every turn of the body hashed.
void BM_SessionId_Chain(benchmark::State& state, const char* format) {
  std::string body = Body(format, static_cast<size_t>(state.range(0)));
  if (const size_t meta = body.find(R"(,"metadata")"); meta != std::string::npos) {
    body.erase(meta, body.size() - 1 - meta);  // no explicit session: the chain decides
  }
  ar::SessionIdExtractor extractor;
  const ar::SessionIdOptions chain{.content = ar::ContentIdentity::kChain};
  if (extractor.Extract({}, body, chain).chain.empty()) std::abort();  // warm, and a chain
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      ar::SessionIds ids = extractor.Extract({}, body, chain);
      benchmark::DoNotOptimize(ids);
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(body.size()));
}

#define AUTHROUTER_CHAIN_BENCH(format) \
  BENCHMARK_CAPTURE(BM_SessionId_Chain, format, #format)->Arg(256 << 10)->Arg(2 << 20)

AUTHROUTER_CHAIN_BENCH(openai);
AUTHROUTER_CHAIN_BENCH(claude);
AUTHROUTER_CHAIN_BENCH(gemini);
AUTHROUTER_CHAIN_BENCH(responses);

}  // namespace

#include "authrouter/session_cache.h"

namespace {

// A binding written and read back among 10,000 live sessions.
void BM_SessionCache_SetGet(benchmark::State& state) {
  auto cache = *ar::SessionCache::Create({.ttl = absl::Hours(1), .sweeper = false});
  std::vector<std::string> keys;
  for (int i = 0; i < 10000; ++i) {
    keys.push_back("mixed::msg:" + std::to_string(1000000000000000ull + i) + "::claude-sonnet-4-5");
    cache->Set(keys.back(), "claude-" + std::to_string(i % 1000) + ".json");
  }
  std::string bound;
  size_t i = 0;
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      const std::string& key = keys[i++ % keys.size()];
      benchmark::DoNotOptimize(cache->GetAndRefresh(key, &bound));
      cache->Set(key, bound);
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SessionCache_SetGet);

// The 10,000 live sessions of BM_SessionCache_SetGet, each bound to one of 1,000 credentials.
struct WarmCache {
  std::unique_ptr<ar::SessionCache> cache =
      *ar::SessionCache::Create({.ttl = absl::Hours(1), .sweeper = false});
  std::vector<std::string> keys;
  std::vector<std::string> credentials;
  WarmCache() {
    for (int i = 0; i < 10000; ++i) {
      keys.push_back("mixed::msg:" + std::to_string(1000000000000000ull + i) + "::claude-sonnet-4-5");
      credentials.push_back("claude-" + std::to_string(i % 1000) + ".json");
      cache->Set(keys.back(), credentials.back());
    }
  }
};

// A live binding re-set to the credential it already has: what the Manager does after each
// successful affinity pick.
void BM_SessionCache_Set(benchmark::State& state) {
  WarmCache warm;
  size_t i = 0;
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      const size_t k = i++ % warm.keys.size();
      warm.cache->Set(warm.keys[k], warm.credentials[k]);
    }
  }
  if (warm.cache->size() != warm.keys.size()) state.SkipWithError("a binding was lost");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SessionCache_Set);

// A hit that restarts the binding's time to live, into a reused string.
void BM_SessionCache_GetAndRefresh(benchmark::State& state) {
  WarmCache warm;
  std::string bound;
  size_t i = 0;
  {
    ar::bench::AllocCounter allocs(state);
    for (auto _ : state) {
      benchmark::DoNotOptimize(warm.cache->GetAndRefresh(warm.keys[i++ % warm.keys.size()], &bound));
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SessionCache_GetAndRefresh);

}  // namespace

#include "authrouter/clock.h"

namespace {

// The heap one binding holds: the cache filled with N groups of one 256-byte key each (as a
// session ID of the longest accepted size makes), bound round-robin to 1,000 credentials, measured
// as the live heap (blocks' usable sizes plus their chunk headers: hash-table slots, nodes, key
// strings, LRU and expiry records, credential IDs, shared_ptr control blocks) after the fill minus
// before, divided by N.
void BM_SessionCache_BytesPerBinding(benchmark::State& state) {
  constexpr size_t kKeyBytes = 256;
  const auto n = static_cast<size_t>(state.range(0));
  std::vector<std::string> credentials;
  for (int i = 0; i < 1000; ++i) credentials.push_back("claude-user-" + std::to_string(i) + "@example.com.json");
  std::vector<std::string> keys;
  keys.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    std::string key = "claude::session:" + std::to_string(i) + ":";
    key.resize(kKeyBytes, 'k');
    keys.push_back(std::move(key));
  }
  ar::ManualClock clock;
  double bytes = 0, blocks = 0;
  for (auto _ : state) {
    const int64_t bytes_before = ar::bench::LiveHeapBytes();
    const int64_t blocks_before = ar::bench::LiveBlocks();
    auto cache = *ar::SessionCache::Create(
        {.ttl = absl::Hours(1), .max_entries = n, .sweeper = false, .clock = &clock});
    for (size_t i = 0; i < n; ++i) cache->Set(keys[i], credentials[i % credentials.size()]);
    bytes = static_cast<double>(ar::bench::LiveHeapBytes() - bytes_before);
    blocks = static_cast<double>(ar::bench::LiveBlocks() - blocks_before);
    if (cache->size() != n) state.SkipWithError("the cache did not keep every binding");
    state.PauseTiming();
    cache.reset();
    state.ResumeTiming();
  }
  const double per = bytes / static_cast<double>(n);
  state.counters["bytes_per_binding"] = per;
  state.counters["bytes_per_binding_minus_key"] = per - static_cast<double>(kKeyBytes);
  state.counters["blocks_per_binding"] = blocks / static_cast<double>(n);
  state.counters["MiB_at_1M_bindings"] = per * 1e6 / (1 << 20);
}
BENCHMARK(BM_SessionCache_BytesPerBinding)->Arg(100'000)->Arg(300'000)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace
