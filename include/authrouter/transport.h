// transport.h -- how authrouter talks HTTP: the Transport interface a host may implement, and the
// default one over libcurl.
//
// authrouter makes HTTP calls only to refresh OAuth tokens (refresh.h). A host that already has
// an HTTP stack (with its own proxy rules, metrics, TLS settings) implements Transport; everyone
// else uses NewCurlTransport().
#ifndef AUTHROUTER_TRANSPORT_H_
#define AUTHROUTER_TRANSPORT_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace authrouter {
inline namespace v0 {

// HttpRequest is one HTTP call.
struct HttpRequest {
  std::string method = "POST";
  std::string url;  // http:// or https://
  std::vector<std::pair<std::string, std::string>> headers{};
  std::string body{};
  // The whole call (connect, send, receive) must end within this. REQUIRES: > 0.
  absl::Duration timeout = absl::Seconds(30);
  // The proxy for this call ("http://host:port", "socks5://user:pass@host:port"), usually the
  // credential's proxy_url. "" means a direct connection: environment proxy variables are not
  // consulted, so a credential never leaks through a proxy it did not name.
  std::string proxy_url{};
  // When set, the call gives up (CANCELLED) soon after this becomes true.
  const std::atomic<bool>* cancelled = nullptr;
};

// HttpResponse is the answer to an HttpRequest that reached the server.
struct HttpResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers{};  // in order received
  std::string body{};

  // Header returns the first header named `name` (ASCII case-insensitive), or "".
  std::string_view Header(std::string_view name) const;
};

// Transport makes HTTP calls.
//
// Send returns the response for any HTTP status (a 500 is a response, not an error). Errors are
// for calls that got no complete response:
//   DEADLINE_EXCEEDED   the timeout passed;
//   CANCELLED           HttpRequest::cancelled became true;
//   UNAVAILABLE         connection, proxy, TLS or protocol failure;
//   RESOURCE_EXHAUSTED  the response body exceeded the transport's size limit;
//   INVALID_ARGUMENT    an unusable request (bad URL or scheme, non-positive timeout).
// Error messages never contain request headers, bodies or the proxy URL (they carry secrets).
//
// Thread-safety: Send is called from many threads at once (refresh workers, request threads). It
// must not throw.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual absl::StatusOr<HttpResponse> Send(const HttpRequest& request) = 0;
};

// CurlTransportOptions configures NewCurlTransport.
struct CurlTransportOptions {
  // The largest response body accepted. REQUIRES: > 0. Default: 1 MiB.
  size_t max_response_bytes = size_t{1} << 20;
  // The longest a connection may take to establish (within HttpRequest::timeout).
  // REQUIRES: > 0. Default: 10 s.
  absl::Duration connect_timeout = absl::Seconds(10);
  // A CA bundle file to verify servers with instead of the system's. Default: the system's.
  std::string ca_file{};
  // The User-Agent header sent unless the request sets one.
  std::string user_agent = "authrouter";
};

// NewCurlTransport returns the libcurl Transport. TLS peer and host verification are always on;
// redirects are not followed; only http and https are allowed. libcurl's global initialisation
// runs once per process, on the first call. Each Send uses its own easy handle, so calls from
// many threads run in parallel. Returns InvalidArgumentError for unusable options.
[[nodiscard]] absl::StatusOr<std::shared_ptr<Transport>> NewCurlTransport(
    CurlTransportOptions options = {});

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_TRANSPORT_H_
