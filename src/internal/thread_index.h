// ThreadIndex: a small number per live thread, held by no other live thread at the same time.
//
// A thread takes the lowest free number on first use and gives it back when it exits, so the
// numbers of a process stay as compact as its live thread count, whatever the churn. Per-thread
// slots indexed by it (BrLock) therefore never share a cache line between two live threads.
//
// Thread safety: all functions may be called from any thread.
#ifndef AUTHROUTER_INTERNAL_THREAD_INDEX_H_
#define AUTHROUTER_INTERNAL_THREAD_INDEX_H_

#include <cstddef>
#include <cstdint>

namespace authrouter::internal {

// kNoThreadIndex is what a thread gets once its number was given back during its exit (a
// thread_local destructor running after the release): callers fall back to shared state.
inline constexpr size_t kNoThreadIndex = SIZE_MAX;

// ThisThreadIndex returns the calling thread's number, taking one on first use.
inline size_t ThisThreadIndex();

// ThreadIndexLimit returns one more than the highest number handed out so far (never falls). A
// number is published here (sequentially consistent) before its thread first uses it.
size_t ThreadIndexLimit();

namespace thread_index_detail {
inline constexpr size_t kUnassigned = SIZE_MAX - 1;
inline thread_local size_t t_index = kUnassigned;
size_t Acquire();  // takes the lowest free number for this thread and arranges its release
}  // namespace thread_index_detail

inline size_t ThisThreadIndex() {
  const size_t i = thread_index_detail::t_index;
  return i != thread_index_detail::kUnassigned ? i : thread_index_detail::Acquire();
}

}  // namespace authrouter::internal

#endif  // AUTHROUTER_INTERNAL_THREAD_INDEX_H_
