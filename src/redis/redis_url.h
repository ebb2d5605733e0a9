// Parsing the Redis URL of RedisOptions (shared_state.h).
#ifndef AUTHROUTER_REDIS_REDIS_URL_H_
#define AUTHROUTER_REDIS_REDIS_URL_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace authrouter::internal {

// RedisEndpoint is where and how to connect.
struct RedisEndpoint {
  bool unix_socket = false;
  std::string host;  // TCP host, or the socket path
  int port = 6379;
  std::string user, password;
  int database = 0;
};

// ParseRedisUrl parses "redis://[user[:password]@]host[:port][/db]" and
// "unix:///path[?db=N]". Percent-escapes in the user and password are decoded. Errors never quote
// the password.
absl::StatusOr<RedisEndpoint> ParseRedisUrl(std::string_view url);

}  // namespace authrouter::internal

#endif  // AUTHROUTER_REDIS_REDIS_URL_H_
