// Counts heap allocations made by the benchmark process, through a replacement of the global
// operator new and delete. Benchmarks report `allocs_per_iter` with AllocCounter, and memory held
// with LiveHeapBytes.
#ifndef AUTHROUTER_BENCHMARKS_ALLOC_COUNTER_H_
#define AUTHROUTER_BENCHMARKS_ALLOC_COUNTER_H_

#include <cstdint>

#include <benchmark/benchmark.h>

namespace authrouter::bench {

// AllocationCount returns the number of operator new calls so far, in all threads.
uint64_t AllocationCount();

// LiveHeapBytes returns the heap the blocks from operator new still live hold, in all threads:
// for each block, the allocator's usable size plus its one-word chunk header (glibc malloc's real
// footprint per block, rounding included).
int64_t LiveHeapBytes();

// LiveBlocks returns the number of blocks from operator new still live.
int64_t LiveBlocks();

// AllocCounter measures the allocations made while a benchmark's timing loop runs and reports
// them as the counter `allocs_per_iter` (averaged over iterations and threads).
class AllocCounter {
 public:
  explicit AllocCounter(benchmark::State& state) : state_(state), start_(AllocationCount()) {}
  ~AllocCounter() {
    const uint64_t allocs = AllocationCount() - start_;
    // With ->Threads(n) every thread counts the process-wide total; the counter is averaged
    // over threads, so divide by the thread count too.
    state_.counters["allocs_per_iter"] = benchmark::Counter(
        static_cast<double>(allocs) / static_cast<double>(state_.threads()),
        benchmark::Counter::kAvgIterations);
  }
  AllocCounter(const AllocCounter&) = delete;
  AllocCounter& operator=(const AllocCounter&) = delete;

 private:
  benchmark::State& state_;
  uint64_t start_;
};

}  // namespace authrouter::bench

#endif  // AUTHROUTER_BENCHMARKS_ALLOC_COUNTER_H_
