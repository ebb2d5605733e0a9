// Manager::Execute: failover across credentials and retry rounds (spec 04 §8).
#include <random>
#include <shared_mutex>

#include "authrouter/manager.h"
#include "authrouter/model_key.h"
#include "internal/strings.h"
#include "internal/unicode.h"
#include "manager/manager_impl.h"

namespace authrouter {
inline namespace v0 {
namespace {

bool Cancelled(const ExecuteRequest& r) {
  return r.cancelled != nullptr && r.cancelled->load(std::memory_order_acquire);
}

// IsStalePickError: errors a stale routing view could cause (spec 02 §8 step 5).
bool IsStalePickError(const absl::Status& s) {
  const std::optional<RoutingError> e = GetRoutingError(s);
  return e && (e->code == "model_cooldown" || e->code == "auth_not_found" ||
               e->code == "auth_unavailable");
}

// Jitter returns a random extra wait in [0, min(wait / 4, 2 s)), never taking the total past
// `limit` (later fixes C1, C2): requests that wait for the same cooldown do not wake together.
absl::Duration Jitter(absl::Duration wait, absl::Duration limit) {
  absl::Duration span = std::min(wait / 4, absl::Seconds(2));
  span = std::min(span, limit - wait);
  if (span <= absl::ZeroDuration()) return absl::ZeroDuration();
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uniform_int_distribution<int64_t> pick(0, absl::ToInt64Nanoseconds(span) - 1);
  return absl::Nanoseconds(pick(rng));
}

Outcome Call(Executor& executor, const Attempt& attempt) {
  try {
    return executor.Execute(attempt);
  } catch (...) {
    Outcome outcome;
    outcome.error_message = "the executor threw an exception";
    return outcome;
  }
}

}  // namespace

absl::StatusOr<ExecuteResult> Manager::Execute(const ExecuteRequest& request, Executor& executor) {
  Impl& impl = *impl_;
  const RetrySettings retry = impl.Retry();  // a reload applies to the next request
  std::vector<std::string> providers;  // normalised, for the cooldown scan
  for (std::string_view p : request.providers) {
    std::string key = internal::ProviderKey(p);
    if (!key.empty() && std::find(providers.begin(), providers.end(), key) == providers.end()) {
      providers.push_back(std::move(key));
    }
  }
  if (providers.empty()) return ProviderNotFoundError();

  std::optional<ExecuteResult> last;  // this round's last upstream call
  absl::Status pick_error;            // this round's pick failure
  int attempts = 0;
  for (int round = 0;; ++round) {
    // ---- one round: each untried credential at most once (spec 04 §8.4) ----
    // A round's error is its own last failure, or its pick error when it called nothing.
    last.reset();
    std::vector<std::string> tried;
    std::vector<std::string_view> tried_views;
    pick_error = absl::OkStatus();
    bool resynced = false;
    for (int index = 0;; ++index) {
      if (Cancelled(request)) return absl::CancelledError("the request was cancelled");
      if (retry.max_retry_credentials > 0 &&
          static_cast<int64_t>(tried.size()) >= retry.max_retry_credentials) {
        break;
      }
      tried_views.assign(tried.begin(), tried.end());
      PickRequest pick_request;
      pick_request.providers = request.providers;
      pick_request.model = request.model;
      pick_request.tried = tried_views;
      pick_request.pinned_id = request.pinned_id;
      pick_request.downstream_websocket = request.downstream_websocket;
      pick_request.headers = request.headers;
      pick_request.body = request.body;
      pick_request.tenant = request.tenant;
      absl::StatusOr<PickResult> pick = PickCounting(pick_request, false);
      if (!pick.ok() && !resynced && !request.model.empty() && IsStalePickError(pick.status())) {
        // The safety net: re-evaluate this request's shards once, then pick again. Only these
        // shards are touched and no rotation is reset (B8).
        resynced = true;
        internal::PickSpec spec;
        std::vector<std::string_view> views(providers.begin(), providers.end());
        spec.providers = views;
        spec.model_key = CanonicalModelKey(request.model);
        {
          std::unique_lock lock(impl.mu);
          impl.scheduler.Resync(spec, impl.clock->Now());
        }
        pick = PickCounting(pick_request, false);
      }
      if (!pick.ok()) {
        // A host policy's rejection is terminal: no other credential, no round, no wait.
        if (std::optional<RoutingError> e = GetRoutingError(pick.status());
            e && e->reason == RoutingReason::kSelectorRejected) {
          if (impl.metrics->enabled()) impl.CountPickFailure(pick_request, pick.status());
          return pick.status();
        }
        pick_error = pick.status();
        break;
      }
      std::shared_ptr<const Credential> credential = pick->credential;
      tried.push_back(credential->id);
      Outcome outcome = Call(executor, Attempt{*credential, pick->provider, request.model, round, index});
      ++attempts;
      if (!outcome.success && outcome.http_status == 401 && !outcome.cancelled &&
          !outcome.first_byte_sent && !Cancelled(request) && impl.RefreshableOn401(*credential)) {
        // Later fix C11: the access token may just have expired. Refresh once (shared with any
        // refresh already running, D4) and retry on the same credential; the 401 is not recorded
        // when the refresh succeeds.
        // When another request's refresh already replaced the token, just retry with it.
        std::shared_ptr<const Credential> current = Get(credential->id);
        absl::StatusOr<std::shared_ptr<const Credential>> fresh = current;
        if (current == nullptr || current->metadata.GetString("access_token") ==
                                      credential->metadata.GetString("access_token")) {
          fresh = Refresh(credential->id);
        }
        if (fresh.ok() && *fresh != nullptr && !Cancelled(request)) {
          credential = *std::move(fresh);
          outcome = Call(executor, Attempt{*credential, pick->provider, request.model, round, index});
          ++attempts;
        }
      }
      if (outcome.cancelled || Cancelled(request)) {
        return absl::CancelledError("the request was cancelled");  // nothing is recorded
      }
      // Upstream text goes into credentials (which must hold valid UTF-8) and error bodies.
      internal::ReplaceInvalidUtf8(&outcome.error_code);
      internal::ReplaceInvalidUtf8(&outcome.error_message);
      if (outcome.empty_stream && !outcome.success) {
        outcome.http_status = 0;
        outcome.error_code = "empty_stream";
        if (outcome.error_message.empty()) {
          outcome.error_message = "upstream stream closed before first payload";
        }
      }
      Result result;
      result.credential_id = credential->id;
      result.provider = pick->provider;
      result.model = request.model;
      result.success = outcome.success;
      result.http_status = outcome.http_status;
      result.error_code = outcome.error_code;
      result.error_message = outcome.error_message;
      result.retry_after = outcome.retry_after;
      if (pick->session) result.session_key = *pick->session;
      if (outcome.success) result.response_id = outcome.response_id;
      result.tenant = request.tenant;
      // MarkResult's rules, so that nothing the executor reports is dropped: an out-of-range
      // Retry-After is corrected there; a status out of range is none; a "success" with an HTTP
      // error status is the failure the status says.
      if (result.http_status < 0 || result.http_status > 999) result.http_status = 0;
      if (result.success && result.http_status >= 400) {
        impl.Log(LogLevel::kWarning, "results",
                 internal::Cat("the executor reported a success with HTTP status ",
                               static_cast<int64_t>(result.http_status), " for ", credential->id,
                               "; recorded as a failure"));
        result.success = false;
        outcome.success = false;
      }
      (void)MarkResult(result);  // a store failure is reported through the hooks

      last = ExecuteResult{credential, std::string(pick->provider), std::move(outcome), attempts,
                           round + 1};
      const Outcome& o = last->outcome;
      if (o.success || o.first_byte_sent ||
          IsRequestInvalid(o.http_status, o.error_code, o.error_message)) {
        return *std::move(last);
      }
    }
    // ---- between rounds (spec 04 §8.5) ----
    // When nothing could be called (everything cooling), the pick error's status stands in for
    // the upstream's: model_cooldown is a 429, so a cooling pool is waited for.
    if (retry.max_retry_interval <= absl::ZeroDuration()) break;
    int status = 0;
    if (last) {
      status = last->outcome.http_status;
    } else if (std::optional<RoutingError> e = GetRoutingError(pick_error)) {
      status = e->http_status;
    }
    if (last && IsRequestInvalid(status, last->outcome.error_code, last->outcome.error_message)) {
      break;
    }
    const absl::Time now = impl.clock->Now();
    std::optional<absl::Duration> wait;
    bool any_retry_left = false;
    {
      std::shared_lock lock(impl.mu);
      const std::string_view model_key = CanonicalModelKey(request.model);
      for (const auto& [id, c] : impl.records) {
        const std::string provider = internal::ProviderKey(c->provider);
        if (std::find(providers.begin(), providers.end(), provider) == providers.end()) continue;
        if (round >= std::min<int64_t>(c->RequestRetry(retry.request_retry), 100)) continue;
        any_retry_left = true;
        const std::string prefix = internal::NormalizePrefix(c->prefix);
        const internal::BlockResult b =
            internal::EvaluateBlock(*c, internal::StateKeyFor(prefix, model_key), now);
        if (!b.blocked || b.reason == internal::BlockReason::kDisabled || IsZeroTime(b.next)) {
          continue;
        }
        const absl::Duration d = b.next - now;
        if (d >= absl::ZeroDuration() && (!wait || d < *wait)) wait = d;
      }
    }
    if (!wait && status == 429 && any_retry_left && last && last->outcome.retry_after &&
        *last->outcome.retry_after > absl::ZeroDuration()) {
      wait = *last->outcome.retry_after;
    }
    if (!wait || *wait > retry.max_retry_interval) break;
    const absl::Duration total = *wait + Jitter(*wait, retry.max_retry_interval);
    if (!impl.clock->SleepFor(total, request.cancelled)) {
      return absl::CancelledError("the request was cancelled");
    }
  }
  if (last) return *std::move(last);
  if (!pick_error.ok()) {
    // No upstream was called: the request failed to route, once (its rounds' picks were not
    // counted as failures, nor are the ends of rounds that reached an upstream).
    if (impl.metrics->enabled()) {
      PickRequest asked;
      asked.providers = request.providers;
      impl.CountPickFailure(asked, pick_error);
    }
    return pick_error;
  }
  return AuthNotFoundError("no auth available", {}, request.model);
}

}  // namespace v0
}  // namespace authrouter
