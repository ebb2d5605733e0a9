// Credential facts the refresh rules, the refresh loop and the watcher share.
#ifndef AUTHROUTER_REFRESH_REFRESH_INTERNAL_H_
#define AUTHROUTER_REFRESH_REFRESH_INTERNAL_H_

#include <string>

#include "absl/time/time.h"
#include "authrouter/credential.h"
#include "authrouter/values.h"

namespace authrouter::internal {

// InRefreshBackoff: another refresh may not start before next_refresh_after.
inline bool InRefreshBackoff(const Credential& c, absl::Time now) {
  return !IsZeroTime(c.next_refresh_after) && now < c.next_refresh_after;
}

// RefreshTokenOf returns metadata `refresh_token` ("" when absent): the identity of a login.
inline std::string RefreshTokenOf(const Credential& c) {
  return c.metadata.GetString("refresh_token").value_or("");
}

}  // namespace authrouter::internal

#endif  // AUTHROUTER_REFRESH_REFRESH_INTERNAL_H_
