// The scheduling rules of the refresh loop (spec 05 §4, §8, §9) and later fixes D1, D2.
#include <algorithm>

#include "authrouter/refresh.h"
#include "internal/strings.h"
#include "refresh/refresh_internal.h"
#include "authrouter/values.h"

namespace authrouter {
inline namespace v0 {

std::map<std::string, absl::Duration, std::less<>> DefaultRefreshLeads() {
  return {
      {"codex", absl::Hours(24 * 5)},
      {"claude", absl::Hours(4)},
      {"antigravity", absl::Minutes(5)},
      {"kimi", absl::Minutes(5)},
  };
}

bool RefreshEnabled(const RefreshOptions& options) {
  if (options.default_refresher != nullptr) return true;
  for (const auto& [provider, refresher] : options.refreshers) {
    if (refresher != nullptr) return true;
  }
  return false;
}

namespace {

bool IsProviderKey(std::string_view key) {
  return !key.empty() && internal::ProviderKey(key) == key;
}

}  // namespace

absl::Status ValidateRefreshOptions(const RefreshOptions& options) {
  for (const auto& [provider, refresher] : options.refreshers) {
    if (!IsProviderKey(provider)) {
      return absl::InvalidArgumentError(internal::Cat(
          "refreshers: key \"", provider, "\" must be a trimmed, lower-case provider name"));
    }
  }
  for (const auto& [provider, lead] : options.leads) {
    if (!IsProviderKey(provider)) {
      return absl::InvalidArgumentError(internal::Cat(
          "leads: key \"", provider, "\" must be a trimmed, lower-case provider name"));
    }
  }
  if (options.workers < 1 || options.workers > 1024) {
    return absl::InvalidArgumentError("refresh workers must be between 1 and 1024");
  }
  if (options.check_interval <= absl::ZeroDuration() || options.check_interval > absl::Hours(24)) {
    return absl::InvalidArgumentError("refresh check_interval must be > 0 and <= 24h");
  }
  if (options.timeout <= absl::ZeroDuration() || options.timeout > absl::Minutes(10)) {
    return absl::InvalidArgumentError("refresh timeout must be > 0 and <= 10m");
  }
  return absl::OkStatus();
}

std::optional<absl::Duration> RefreshLead(const Credential& credential,
                                          const RefreshOptions& options) {
  if (options.evaluator) {
    if (std::optional<absl::Duration> lead = options.evaluator->RefreshLead(credential);
        lead && *lead > absl::ZeroDuration()) {
      return lead;
    }
  }
  const std::string key = internal::ProviderKey(credential.provider);
  if (key.empty()) return std::nullopt;
  auto it = options.leads.find(key);
  if (it == options.leads.end() || it->second <= absl::ZeroDuration()) return std::nullopt;
  return it->second;
}

bool HasDeadRefreshToken(const Credential& credential) {
  return credential.last_error && credential.last_error->code == kDeadRefreshTokenCode;
}

namespace {

bool Overridden(const Credential& c, const RefreshOptions& options) {
  return options.evaluator && options.evaluator->Overrides(c);
}


}  // namespace

std::optional<absl::Time> NextRefreshCheck(const Credential& c, absl::Time now,
                                           const RefreshOptions& options) {
  if (c.IsDisabled()) return std::nullopt;
  if (c.IsApiKey()) return std::nullopt;
  if (HasDeadRefreshToken(c)) return std::nullopt;  // D2: until the error is cleared
  if (internal::InRefreshBackoff(c, now)) return c.next_refresh_after;
  if (Overridden(c, options)) return now + options.check_interval;

  const std::optional<absl::Time> last = c.LastRefreshTime();
  const std::optional<absl::Time> expiry = c.Expiry();
  if (const absl::Duration pref = c.PreferredRefreshInterval(); pref > absl::ZeroDuration()) {
    std::optional<absl::Time> next;
    if (expiry) {
      if (*expiry <= now || *expiry - now <= pref) return now;
      next = *expiry - pref;
    }
    if (!last) return now;
    next = next ? std::min(*next, *last + pref) : *last + pref;
    return std::max(*next, now);
  }
  const std::optional<absl::Duration> lead = RefreshLead(c, options);
  if (!lead) return std::nullopt;
  if (expiry) return std::max(*expiry - *lead, now);
  if (last) return std::max(*last + *lead, now);
  return now;
}

bool ShouldRefresh(const Credential& c, absl::Time now, const RefreshOptions& options) {
  if (c.IsDisabled()) return false;
  if (HasDeadRefreshToken(c)) return false;
  if (internal::InRefreshBackoff(c, now)) return false;
  if (Overridden(c, options)) return options.evaluator->ShouldRefresh(c, now);

  const std::optional<absl::Time> last = c.LastRefreshTime();
  const std::optional<absl::Time> expiry = c.Expiry();
  if (const absl::Duration pref = c.PreferredRefreshInterval(); pref > absl::ZeroDuration()) {
    if (expiry && (*expiry <= now || *expiry - now <= pref)) return true;
    if (!last) return true;
    return now - *last >= pref;
  }
  const std::optional<absl::Duration> lead = RefreshLead(c, options);
  if (!lead) return false;
  if (expiry) return *expiry - now <= *lead;
  if (last) return now - *last >= *lead;
  return true;
}

}  // namespace v0
}  // namespace authrouter
