// Token refresh as one flight across the fleet (shared_state.h): the per-credential refresh lock
// with its fencing token, the wait for another replica's "token changed, version N" notice, and
// the adoption of its tokens (from the shared state when replicas share tokens, else from the
// Store they share).
#include <chrono>
#include <shared_mutex>

#include "authrouter/refresh.h"
#include "authrouter/shared_state.h"
#include "internal/sha256.h"
#include "internal/strings.h"
#include "manager/manager_impl.h"
#include "refresh/refresh_internal.h"

namespace authrouter::internal {

std::string TokenFingerprint(const Credential& c) {
  const std::string access = c.metadata.GetString("access_token").value_or("");
  const std::string refresh = RefreshTokenOf(c);
  if (access.empty() && refresh.empty()) return "";
  std::string both = access;
  both.push_back('\0');
  both += refresh;
  return Sha256Hex(both).substr(0, 32);
}

void MarkRefreshed(Credential& next, absl::Time now, const RefreshOptions& options) {
  next.last_refreshed_at = now;
  next.next_refresh_after = ZeroTime();
  next.last_error.reset();
  next.updated_at = now;
  if (next.status == CredentialStatus::kError && next.status_message == "unauthorized") {
    next.status = CredentialStatus::kActive;
    next.status_message.clear();
    next.unavailable = false;
  }
  // Later fix D1: a refresh that left the credential due waits 30 s instead of looping.
  if (ShouldRefresh(next, now, options)) next.next_refresh_after = now + kRefreshIneffectiveBackoff;
}

}  // namespace authrouter::internal

namespace authrouter {
inline namespace v0 {
namespace {

using internal::Event;

// The longest one call to the shared state may take during a refresh.
constexpr absl::Duration kFleetCallTimeout = absl::Seconds(1);
// Without an answer from the shared state, a token this close to its expiry (or past it, or
// without one) is refreshed anyway, alone; a valid one waits for the shared state.
constexpr absl::Duration kLocalRefreshMargin = absl::Minutes(1);
// How often a replica waiting for another's refresh looks at its clock (the holder's lock
// expires by the Manager's clock, which a test drives).
constexpr auto kWaitSlice = std::chrono::milliseconds(20);
// How soon a replica looks again for tokens it could not find yet (the Store not yet written).
constexpr auto kAdoptRetry = std::chrono::milliseconds(50);

// TokensOf reads the tokens a record holds, as the update that would give them to another.
TokenUpdate TokensOf(const Credential& c) {
  TokenUpdate u;
  u.access_token = c.metadata.GetString("access_token").value_or("");
  if (std::optional<std::string> r = c.metadata.GetString("refresh_token"); r && !r->empty()) u.refresh_token = r;
  if (std::optional<std::string> t = c.metadata.GetString("id_token"); t && !t->empty()) u.id_token = t;
  if (std::optional<std::string> t = c.metadata.GetString("token_type"); t && !t->empty()) u.token_type = t;
  u.expires_at = c.Expiry();
  return u;
}

}  // namespace


absl::StatusOr<std::shared_ptr<const Credential>> Manager::Impl::AdoptFleetToken(
    std::string_view id, uint64_t version, const std::string& fingerprint, absl::Time now,
    const RefreshOptions& options) {
  // Where the new tokens are: the shared state (a replica that shares tokens), else the Store.
  std::optional<TokenUpdate> update;
  bool persist = false;
  absl::StatusOr<SharedToken> shared_token = absl::UnavailableError("");
  try {
    shared_token = shared->ReadToken(id, kFleetCallTimeout);
  } catch (...) {
    shared_token = absl::InternalError("the shared state threw an exception");
  }
  if (shared_token.ok() && !shared_token->tokens.empty() && shared_token->fingerprint == fingerprint) {
    absl::StatusOr<TokenUpdate> parsed = TokenUpdateFromJson(shared_token->tokens, now);
    if (parsed.ok()) {
      update = *std::move(parsed);
      persist = true;  // this replica's store may be its own
    } else {
      Log(LogLevel::kWarning, "refresh",
          internal::Cat("the shared tokens of ", id, " are unusable: ", internal::ToStd(parsed.status().message())));
    }
  }
  if (!update && store) {
    absl::StatusOr<std::vector<Credential>> listed = absl::UnavailableError("");
    try {
      listed = store->List();
    } catch (...) {
      listed = absl::InternalError("the store threw an exception");
    }
    if (listed.ok()) {
      for (const Credential& c : *listed) {
        if (c.id == id && internal::TokenFingerprint(c) == fingerprint) update = TokensOf(c);
      }
    }
  }
  if (!update || update->access_token.empty()) {
    return absl::FailedPreconditionError(internal::Cat(
        "another replica refreshed ", id, " (token version ", static_cast<int64_t>(version),
        ") and neither the store nor the shared state holds its new tokens; share the store, or turn on "
        "shared-state.share-tokens"));
  }
  std::shared_ptr<Event> event;
  std::shared_ptr<const Credential> snapshot;
  {
    std::unique_lock lock(mu);
    auto it = records.find(id);
    if (it == records.end()) return internal::CredentialNotFound(id);
    if (internal::TokenFingerprint(*it->second) != fingerprint) {
      absl::StatusOr<Credential> merged = ApplyTokenUpdate(*it->second, *update, now);
      if (!merged.ok()) return merged.status();
      internal::MarkRefreshed(*merged, now, options);
      snapshot = std::make_shared<const Credential>(*std::move(merged));
      Publish(snapshot);
      event = Enqueue(Event::Kind::kUpdated, snapshot, persist);
    } else {
      snapshot = it->second;  // adopted meanwhile (a reload of the shared store)
    }
  }
  (void)Finish(event);
  Log(LogLevel::kInfo, "refresh",
      internal::Cat("adopted the tokens another replica refreshed for ", id, " (version ",
                    static_cast<int64_t>(version), ")"));
  return snapshot;
}

absl::StatusOr<Manager::Impl::FleetTurn> Manager::Impl::FleetRefreshTurn(std::string_view id, absl::Time now,
                                                                         const RefreshOptions& options) {
  const auto give_up_at = std::chrono::steady_clock::now() +
                          std::chrono::microseconds(absl::ToInt64Microseconds(shared_refresh_lock_timeout));
  bool counted_wait = false;
  for (;;) {
    const absl::Time t = std::max(now, clock->Now());
    std::shared_ptr<const Credential> current;
    {
      std::shared_lock lock(mu);
      auto it = records.find(id);
      if (it != records.end()) current = it->second;
    }
    if (current == nullptr) return internal::CredentialNotFound(id);
    uint64_t notices = 0;  // heard before asking: a notice after it means "look again"
    {
      std::lock_guard<std::mutex> l(token_mu);
      notices = TokenNoticesLocked(id);
    }
    absl::StatusOr<SharedRefreshLock> lock = absl::UnavailableError("");
    try {
      lock = shared->AcquireRefreshLock(id, t, t + shared_refresh_lock_timeout, kFleetCallTimeout);
    } catch (...) {
      lock = absl::InternalError("the shared state threw an exception");
    }
    if (!lock.ok()) {
      const std::optional<absl::Time> expiry = current->Expiry();
      if (!expiry || *expiry - t <= kLocalRefreshMargin) {
        Log(LogLevel::kWarning, "refresh",
            internal::Cat("refreshing ", id, " without the fleet's refresh lock: the shared state did not answer (",
                          internal::ToStd(lock.status().message()), ") and the token is about to expire"));
        return FleetTurn{};
      }
      return absl::UnavailableError(internal::Cat(
          "the shared state did not answer (", internal::ToStd(lock.status().message()), "); the refresh of ", id,
          " waits for it while the token is valid (another replica may hold the refresh lock)"));
    }
    const std::string held = internal::TokenFingerprint(*current);
    if (lock->version > 0 && !lock->fingerprint.empty() && lock->fingerprint != held) {
      // Another replica refreshed since: its tokens replace this one's, whose refresh token
      // the upstream may already have rotated away.
      absl::StatusOr<std::shared_ptr<const Credential>> adopted =
          AdoptFleetToken(id, lock->version, lock->fingerprint, t, options);
      if (lock->acquired) shared->ReleaseRefreshLock(id, lock->fence);
      if (adopted.ok()) return FleetTurn{0, *std::move(adopted)};
      if (std::chrono::steady_clock::now() >= give_up_at) return adopted.status();
      // The holder announces its version before it writes the Store (so that a fenced-off
      // holder never writes it): look again shortly.
      std::unique_lock<std::mutex> l(token_mu);
      token_cv.wait_for(l, kAdoptRetry);
      continue;
    }
    if (lock->acquired) {
      refresh_locks.fetch_add(1, std::memory_order_relaxed);
      return FleetTurn{lock->fence, nullptr};
    }
    if (!counted_wait) {
      refresh_waits.fetch_add(1, std::memory_order_relaxed);
      counted_wait = true;
    }
    // Another replica refreshes now: wait for its notice (new tokens, or the lock given back),
    // or for its lock to expire.
    std::unique_lock<std::mutex> l(token_mu);
    for (;;) {
      if (TokenNoticesLocked(id) != notices) break;
      if (std::chrono::steady_clock::now() >= give_up_at) {
        return absl::UnavailableError(internal::Cat("another replica holds the refresh lock of ", id, "; waited ",
                                                    absl::FormatDuration(shared_refresh_lock_timeout),
                                                    " for its new tokens"));
      }
      if (!IsZeroTime(lock->holder_expires) && clock->Now() >= lock->holder_expires) break;  // free now
      token_cv.wait_for(l, kWaitSlice);
    }
  }
}

}  // namespace v0
}  // namespace authrouter
