// The one rule for OAuth2 token endpoints (a refresh token is sent there): parsed with libcurl's
// URL parser (the same one that later connects), https to any host, plain http only to the
// loopback interface (127.0.0.1, localhost, [::1]), and never user information ("user@host"),
// which would let a URL look like it names one host while it connects to another.
#ifndef AUTHROUTER_TRANSPORT_TOKEN_URL_H_
#define AUTHROUTER_TRANSPORT_TOKEN_URL_H_

#include <string_view>

#include "absl/status/status.h"

namespace authrouter::internal {

// CheckTokenUrl returns OK for a usable token endpoint, else InvalidArgumentError saying why
// (never quoting the URL, which may carry credentials).
absl::Status CheckTokenUrl(std::string_view url);

}  // namespace authrouter::internal

#endif  // AUTHROUTER_TRANSPORT_TOKEN_URL_H_
