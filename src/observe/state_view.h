// Internal to observability: the redacted state view of a credential pool (Manager::StateView).
#ifndef AUTHROUTER_OBSERVE_STATE_VIEW_H_
#define AUTHROUTER_OBSERVE_STATE_VIEW_H_

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "absl/time/time.h"
#include "authrouter/credential.h"
#include "authrouter/models.h"

namespace authrouter::observe {

// CredentialState is what the view shows of one credential beside its snapshot.
struct CredentialState {
  std::shared_ptr<const Credential> credential;  // never null
  std::optional<ServedModels> served = {};       // nullopt: no models registered
  size_t sessions = 0;                           // bound sessions
  std::optional<absl::Time> next_refresh_check = {};  // from the refresh queue
};

// PoolStateName is a credential's state in the pool at `now`: "disabled", "refreshing",
// "cooling" (the credential, or every model it has state for, is cooling down), "error" (its
// last result failed, yet it is picked), or "ready".
std::string_view PoolStateName(const Credential& c, absl::Time now);

// AppendStateView appends the JSON state view of `credentials` (in the order given) at `now`.
// It writes only fields that carry no secret: never metadata, attributes other than priority
// and weight, account values, status or error messages, or proxy URLs.
void AppendStateView(std::string* out, absl::Time now, std::span<const CredentialState> credentials);

}  // namespace authrouter::observe

#endif  // AUTHROUTER_OBSERVE_STATE_VIEW_H_
