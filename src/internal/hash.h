// HashBytes: a fast 64-bit hash of a byte string for in-memory hash tables whose keys come from
// clients (session keys). Each 16-byte block is folded into the state with one 64x64->128-bit
// multiply (high and low halves xored), the multiply-fold construction of wyhash and
// absl::Hash; every output bit depends on every input bit, which Abseil's Swiss tables need (they
// take the low 7 bits and the high bits separately). The state starts from a random per-process
// seed, so colliding keys cannot be computed ahead of time.
#ifndef AUTHROUTER_INTERNAL_HASH_H_
#define AUTHROUTER_INTERNAL_HASH_H_

#include <cstdint>
#include <cstring>
#include <string_view>

namespace authrouter::internal {

// HashSeed is chosen once per process (from std::random_device).
uint64_t HashSeed();

__extension__ typedef unsigned __int128 Uint128;

inline uint64_t MulFold(uint64_t a, uint64_t b) {
  const Uint128 p = static_cast<Uint128>(a) * b;
  return static_cast<uint64_t>(p) ^ static_cast<uint64_t>(p >> 64);
}

// HashBytesSeeded is HashBytes from a given seed (chaining: the previous hash as the seed).
inline uint64_t HashBytesSeeded(std::string_view s, uint64_t seed) {
  constexpr uint64_t k0 = 0xa0761d6478bd642full, k1 = 0xe7037ed1a0b428dbull,
                     k2 = 0x8ebc6af09c88c6e3ull;
  const auto load64 = [](const char* p) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  };
  const auto load32 = [](const char* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return static_cast<uint64_t>(v);
  };
  const char* p = s.data();
  size_t n = s.size();
  uint64_t h = seed ^ MulFold(n ^ k0, seed ^ k1);
  while (n > 16) {
    h = MulFold(load64(p) ^ k1, load64(p + 8) ^ h);
    p += 16;
    n -= 16;
  }
  uint64_t a = 0, b = 0;
  if (n >= 8) {  // the last 16 bytes of the string, overlapping the block before if need be
    a = load64(p);
    b = load64(p + n - 8);
  } else if (n >= 4) {
    a = load32(p);
    b = load32(p + n - 4);
  } else if (n > 0) {
    const auto u = [](char c) { return static_cast<uint64_t>(static_cast<unsigned char>(c)); };
    a = u(p[0]) << 16 | u(p[n / 2]) << 8 | u(p[n - 1]);
  }
  return MulFold(MulFold(a ^ k1, b ^ h) ^ k2, s.size() ^ k0);
}

inline uint64_t HashBytes(std::string_view s) {
  static const uint64_t seed = HashSeed();
  return HashBytesSeeded(s, seed);
}

}  // namespace authrouter::internal

#endif  // AUTHROUTER_INTERNAL_HASH_H_
