// SHA-256 through OpenSSL's libcrypto.
#ifndef AUTHROUTER_INTERNAL_SHA256_H_
#define AUTHROUTER_INTERNAL_SHA256_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace authrouter::internal {

// Sha256 returns the SHA-256 digest of `data`.
std::array<uint8_t, 32> Sha256(std::string_view data);

// Sha256Hex returns the digest as 64 lower-case hex digits.
std::string Sha256Hex(std::string_view data);

}  // namespace authrouter::internal

#endif  // AUTHROUTER_INTERNAL_SHA256_H_
