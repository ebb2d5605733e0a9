// Placement: where a conversation without a binding goes, by weighted rendezvous hashing
// (highest random weight) of its session key over the ready credentials of the chosen tier.
//
// Every replica with the same pool computes the same answer with no store and no coordination,
// a restart keeps it, and a credential leaving the tier moves only the sessions placed on it
// (each of those goes to its next-highest credential). The hashes are fixed (seeded by a
// constant, not per process), so that replicas agree; they are the library's own 64-bit
// multiply-fold hash (internal/hash.h) on little-endian hosts.
#ifndef AUTHROUTER_ROUTING_PLACEMENT_H_
#define AUTHROUTER_ROUTING_PLACEMENT_H_

#include <cstdint>
#include <cstring>
#include <string_view>

#include "internal/hash.h"

namespace authrouter::internal {

inline constexpr uint64_t kPlacementSeed = 0x61757468726f7574ull;  // "authrout"; never change it

// PlacementHash is the fixed hash of a session key or a credential ID.
inline uint64_t PlacementHash(std::string_view s) { return HashBytesSeeded(s, kPlacementSeed); }

// PlacementDraw is the pseudo-random draw of credential `id_hash` for session `key_hash` (both
// PlacementHash values): their combination folded through one 64x64->128-bit multiply.
inline uint64_t PlacementDraw(uint64_t key_hash, uint64_t id_hash) {
  return MulFold(key_hash ^ id_hash, 0x8ebc6af09c88c6e3ull);
}

// PlacementLog is the natural logarithm of `u`, for u in [2^-54, 1], in plain IEEE arithmetic
// (no C library call), so that replicas compute the same bits whatever their libm: u = m * 2^e
// with m in [sqrt(1/2), sqrt(2)), and ln(m) = 2 atanh(s), s = (m - 1) / (m + 1), |s| < 0.172,
// whose series is summed to well below one part in 10^15. (A compiler that fuses the series'
// multiply-adds (FMA, as aarch64 builds may) can differ in the last bit; that can only change a
// weighted placement whose two best costs tie to within 10^-16.)
inline double PlacementLog(double u) {
  uint64_t bits;
  std::memcpy(&bits, &u, sizeof bits);
  int64_t e = static_cast<int64_t>((bits >> 52) & 0x7ff) - 1023;
  bits = (bits & ((uint64_t{1} << 52) - 1)) | (uint64_t{1023} << 52);
  double m;
  std::memcpy(&m, &bits, sizeof m);
  if (m > 1.4142135623730951) {
    m *= 0.5;
    ++e;
  }
  const double s = (m - 1) / (m + 1);
  const double s2 = s * s;
  double sum = 0;
  for (int k = 9; k >= 0; --k) sum = sum * s2 + 1.0 / (2 * k + 1);
  return static_cast<double>(e) * 0.6931471805599453 + 2 * s * sum;
}

// PlacementCost is the weighted score of a draw: the credential with the smallest cost wins,
// so that each wins a share of sessions proportional to its weight (-ln(u) / w is exponential
// with rate w; the minimum of such falls on each with probability w / sum). REQUIRES: weight > 0.
inline double PlacementCost(uint64_t draw, int64_t weight) {
  const double u = (static_cast<double>(draw >> 11) + 0.5) * 0x1p-53;  // in (0, 1]
  return -PlacementLog(u) / static_cast<double>(weight);
}

}  // namespace authrouter::internal

#endif  // AUTHROUTER_ROUTING_PLACEMENT_H_
