#include "redis/redis_url.h"

#include <charconv>

#include "absl/status/status.h"
#include "internal/strings.h"

namespace authrouter::internal {
namespace {

bool ParseInt(std::string_view s, int lo, int hi, int* out) {
  if (s.empty()) return false;
  int v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v < lo || v > hi) return false;
  *out = v;
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool PercentDecode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    const int hi = HexValue(in[i + 1]), lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

}  // namespace

absl::StatusOr<RedisEndpoint> ParseRedisUrl(std::string_view url) {
  RedisEndpoint e;
  constexpr std::string_view kUnix = "unix://", kRedis = "redis://";
  if (url.substr(0, kUnix.size()) == kUnix) {
    std::string_view rest = url.substr(kUnix.size());
    e.unix_socket = true;
    if (const size_t q = rest.find('?'); q != std::string_view::npos) {
      std::string_view query = rest.substr(q + 1);
      rest = rest.substr(0, q);
      if (query.substr(0, 3) != "db=" || !ParseInt(query.substr(3), 0, 1000, &e.database)) {
        return absl::InvalidArgumentError("redis url: the only query a unix:// URL takes is db=<0..1000>");
      }
    }
    if (rest.empty() || rest.front() != '/') {
      return absl::InvalidArgumentError("redis url: unix:// needs an absolute socket path (unix:///run/redis.sock)");
    }
    e.host.assign(rest);
    return e;
  }
  if (url.substr(0, kRedis.size()) != kRedis) {
    return absl::InvalidArgumentError("redis url: must start with redis:// or unix://");
  }
  std::string_view rest = url.substr(kRedis.size());
  std::string_view path;
  if (const size_t slash = rest.find('/'); slash != std::string_view::npos) {
    path = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
  }
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    std::string_view user = userinfo, password;
    if (const size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      user = userinfo.substr(0, colon);
      password = userinfo.substr(colon + 1);
    }
    if (!PercentDecode(user, &e.user)) return absl::InvalidArgumentError("redis url: bad %-escape in the user");
    if (!PercentDecode(password, &e.password)) {
      return absl::InvalidArgumentError("redis url: bad %-escape in the password");
    }
  }
  std::string_view host = rest, port;
  if (!rest.empty() && rest.front() == '[') {  // [::1]:6379
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return absl::InvalidArgumentError("redis url: unclosed [ in the host");
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return absl::InvalidArgumentError("redis url: expected :port after ]");
      port = after.substr(1);
    }
  } else if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
  }
  if (host.empty()) return absl::InvalidArgumentError("redis url: no host");
  e.host.assign(host);
  if (!port.empty() && !ParseInt(port, 1, 65535, &e.port)) {
    return absl::InvalidArgumentError("redis url: the port must be 1..65535");
  }
  if (!path.empty() && !ParseInt(path, 0, 1000, &e.database)) {
    return absl::InvalidArgumentError("redis url: the path must be a database index 0..1000");
  }
  return e;
}

}  // namespace authrouter::internal
