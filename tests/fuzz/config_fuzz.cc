// libFuzzer target for the configuration parser (config.h). The input is a config file's text.
// A rejected file must give a message naming the problem and never quoting a `client-secret`;
// an accepted one must parse the same again, pass the checks Manager::Create makes once
// ApplyToOptions has applied it, and explain each of its warnings.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "authrouter/config.h"
#include "authrouter/manager.h"
#include "authrouter/models.h"
#include "authrouter/refresh.h"
#include "authrouter/selector.h"
#include "authrouter/session_cache.h"
#include "authrouter/transport.h"
#include "fuzz_util.h"

namespace {

// A transport that is never used (applying a config sends nothing).
class NoTransport final : public authrouter::Transport {
 public:
  absl::StatusOr<authrouter::HttpResponse> Send(const authrouter::HttpRequest&) override {
    authrouter::fuzz::Fail("applying a config sent a request");
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace authrouter;
  static const std::shared_ptr<Transport> transport = std::make_shared<NoTransport>();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const ConfigParseOptions options{.home = "/home/fuzz"};
  absl::StatusOr<Config> config = ParseConfig(input, options);
  if (!config.ok()) {
    fuzz::Check(config.status().code() == absl::StatusCode::kInvalidArgument,
                "ParseConfig failed with a code other than InvalidArgument");
    fuzz::CheckError(config.status(), input, "client-secret");
    return 0;
  }
  absl::StatusOr<Config> again = ParseConfig(input, options);
  fuzz::Check(again.ok() && *again == *config, "ParseConfig is not deterministic");

  const Config& c = *config;
  fuzz::Check(!c.auth_dir.empty() && c.auth_dir.front() == '/', "auth_dir is not absolute",
              c.auth_dir);
  absl::StatusOr<RoutingStrategy> strategy = ParseRoutingStrategy(RoutingStrategyName(c.strategy));
  fuzz::Check(strategy.ok() && *strategy == c.strategy, "the strategy's name does not parse back");
  fuzz::Check(c.session_affinity_ttl > absl::ZeroDuration() &&
                  c.session_affinity_ttl <= kMaxSessionAffinityTtl,
              "session-affinity-ttl out of range");
  fuzz::Check(c.refresh_workers >= 1 && c.refresh_workers <= 1024, "refresh workers out of range");
  const absl::Status retry = ValidateRetrySettings(c.retry);
  fuzz::Check(retry.ok(), "a parsed config has invalid retry settings", fuzz::Message(retry));
  for (const auto* lists : {&c.model_catalog.models, &c.model_catalog.excluded}) {
    for (const auto& [provider, patterns] : *lists) {
      fuzz::Check(!provider.empty(), "an empty provider in the model catalog");
      for (const std::string& p : patterns) {
        fuzz::Check(IsValidModelName(p), "an invalid model pattern was accepted", p);
        (void)ModelPatternMatches(p, p);
      }
      (void)NormalizeModelPatterns(patterns);
    }
  }
  for (const auto& [provider, profile] : c.refresh_profiles) {
    fuzz::Check(!provider.empty() && !profile.token_url.empty(), "an incomplete refresh profile");
  }
  for (const std::string& w : c.warnings) {
    // (A key may be "": the warning is then the empty path, which the description quotes.)
    const std::string described = DescribeUnknownKey(w);
    fuzz::Check(described.find(w) != std::string::npos, "DescribeUnknownKey omits the key");
    const std::string nearest = NearestConfigKey(w);
    if (!nearest.empty()) {
      fuzz::Check(described.find(nearest) != std::string::npos,
                  "DescribeUnknownKey omits the suggestion");
    }
  }

  // What Manager::Create checks, after ApplyToOptions.
  ManagerOptions manager_options;
  const absl::Status applied = ApplyToOptions(c, manager_options, transport);
  fuzz::Check(applied.ok(), "ApplyToOptions rejects a parsed config", fuzz::Message(applied));
  fuzz::Check(
      ValidateRetrySettings({manager_options.request_retry, manager_options.max_retry_credentials,
                             manager_options.max_retry_interval})
          .ok(),
      "the applied retry settings are invalid");
  const absl::Status refresh = ValidateRefreshOptions(manager_options.refresh);
  fuzz::Check(refresh.ok(), "the applied refresh options are invalid", fuzz::Message(refresh));
  fuzz::Check(manager_options.refresh.refreshers.size() == c.refresh_profiles.size(),
              "not one refresher per refresh profile");
  return 0;
}
