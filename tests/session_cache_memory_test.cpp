// What one session binding holds on the heap, counted through a replacement of the global
// operator new and delete (a program of its own, so no other test runs with it): 20,000 groups of
// one 256-byte key over 100 credentials must hold at most 200 bytes per binding beyond the key,
// every block counted at its usable size plus malloc's chunk header.
#include <malloc.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "authrouter/clock.h"
#include "authrouter/session_cache.h"

namespace {

std::atomic<long long> g_live{0};

void* Allocate(std::size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  g_live.fetch_add(static_cast<long long>(malloc_usable_size(p) + sizeof(size_t)));
  return p;
}

void Release(void* p) noexcept {
  if (p == nullptr) return;
  g_live.fetch_sub(static_cast<long long>(malloc_usable_size(p) + sizeof(size_t)));
  std::free(p);
}

}  // namespace

void* operator new(std::size_t size) { return Allocate(size); }
void* operator new[](std::size_t size) { return Allocate(size); }
void operator delete(void* p) noexcept { Release(p); }
void operator delete[](void* p) noexcept { Release(p); }
void operator delete(void* p, std::size_t) noexcept { Release(p); }
void operator delete[](void* p, std::size_t) noexcept { Release(p); }

int main() {
  namespace ar = authrouter;
  constexpr size_t kBindings = 20000, kKeyBytes = 256;
  constexpr double kLimit = 200;  // bytes per binding beyond its key (session_cache.h)
  std::vector<std::string> credentials, keys;
  for (int i = 0; i < 100; ++i) credentials.push_back("claude-user-" + std::to_string(i) + ".json");
  for (size_t i = 0; i < kBindings; ++i) {
    std::string key = "claude::session:" + std::to_string(i) + ":";
    key.resize(kKeyBytes, 'k');
    keys.push_back(std::move(key));
  }
  ar::ManualClock clock;
  const long long before = g_live.load();
  auto cache = ar::SessionCache::Create(
      {.ttl = absl::Hours(1), .max_entries = kBindings, .sweeper = false, .clock = &clock});
  if (!cache.ok()) return 2;
  for (size_t i = 0; i < kBindings; ++i)
    (*cache)->Set(keys[i], credentials[i % credentials.size()]);
  const double per = static_cast<double>(g_live.load() - before) / kBindings;
  const double beyond = per - static_cast<double>(kKeyBytes);
  std::printf("session binding: %.1f bytes, %.1f beyond its %zu-byte key (limit %.0f); %zu bound\n",
              per, beyond, kKeyBytes, kLimit, (*cache)->size());
  if ((*cache)->size() != kBindings) return 1;
  cache->reset();
  if (g_live.load() != before) {
    std::printf("the cache left %lld bytes behind\n", g_live.load() - before);
    return 1;
  }
  return beyond <= kLimit ? 0 : 1;
}
