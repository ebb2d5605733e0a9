// Callback adapters (callbacks.h): the parts that parse what a host callback wrote.
#include "capi/callbacks.h"

#include <cstring>
#include <stdexcept>
#include <vector>

#include "authrouter/credential_json.h"
#include "authrouter/values.h"
#include "internal/json_object.h"
#include "simdjson.h"

namespace authrouter::capi {

namespace internal_json = authrouter::internal;

absl::StatusOr<std::vector<ar::Credential>> CStore::ListReporting(std::vector<ar::StoreSkip>* skipped) {
  if (s_.list == nullptr) return absl::FailedPreconditionError("the store has no list callback");
  authrouter_sink sink;
  if (const int32_t rc = s_.list(owner_.user_data(), &sink); rc != 0) return CallbackFailed("store list", rc);
  if (sink.overflow) return CallbackFailed("store list (a write to the sink failed)", AUTHROUTER_RESOURCE_EXHAUSTED);
  // Validate the whole text first; then walk the elements' exact text.
  simdjson::dom::parser parser;
  simdjson::dom::array array;
  if (parser.parse(sink.data).get_array().get(array)) {
    return absl::InvalidArgumentError("store list: not a JSON array of credential records");
  }
  std::vector<ar::Credential> out;
  size_t index = 0;
  internal_json::ForEachElement(sink.data, [&](std::string_view raw) {
    absl::StatusOr<ar::Credential> c = ar::CredentialFromJson(raw);
    if (c.ok()) {
      out.push_back(*std::move(c));
    } else if (skipped != nullptr) {
      skipped->push_back(ar::StoreSkip{"record " + std::to_string(index), std::string(c.status().message())});
    }
    ++index;
  });
  return out;
}

absl::StatusOr<ar::TokenUpdate> ParseTokenJson(std::string_view json, absl::Time now) {
  absl::StatusOr<ar::TokenUpdate> u = ar::TokenUpdateFromJson(json, now);
  if (!u.ok()) {
    return absl::UnavailableError(std::string("refresher callback: ") + std::string(u.status().message()));
  }
  return u;
}

ar::SelectDecision CSelector::Decide(const ar::SelectContext& context,
                                     std::span<const ar::SelectCandidate> candidates,
                                     std::span<const ar::SelectTier> tiers) {
  if (s_.decide == nullptr) return ar::SelectDecision::Delegate();
  std::vector<authrouter_select_candidate> views(candidates.size());
  for (size_t i = 0; i < candidates.size(); ++i) {
    const ar::SelectCandidate& c = candidates[i];
    views[i] = authrouter_select_candidate{c.id.data(),    c.id.size(),   c.provider.data(),
                                           c.provider.size(), c.label.data(), c.label.size(),
                                           c.priority,      c.weight,      c.websockets};
  }
  std::vector<authrouter_select_tier> tier_views(tiers.size());
  for (size_t i = 0; i < tiers.size(); ++i) {
    tier_views[i] = authrouter_select_tier{tiers[i].priority, tiers[i].first, tiers[i].count};
  }
  std::vector<uint8_t> exclude(candidates.size(), 0);
  authrouter_select_decision d;
  std::memset(&d, 0, sizeof d);
  d.exclude = exclude.data();
  const int32_t rc = s_.decide(owner_.user_data(), context.provider.data(), context.provider.size(),
                               context.model.data(), context.model.size(), views.data(), views.size(),
                               tier_views.data(), tier_views.size(), &d);
  // A failing callback: reported by the Manager, which lets the built-in strategy answer.
  if (rc != 0) throw std::runtime_error("the selector's decide callback failed");
  switch (d.action) {
    case AUTHROUTER_SELECT_DELEGATE:
      return ar::SelectDecision::Delegate();
    case AUTHROUTER_SELECT_PICK:
      return ar::SelectDecision::Pick(d.pick);
    case AUTHROUTER_SELECT_EXCLUDE: {
      std::vector<size_t> out;
      for (size_t i = 0; i < exclude.size(); ++i) {
        if (exclude[i] != 0) out.push_back(i);
      }
      return ar::SelectDecision::Exclude(std::move(out));
    }
    case AUTHROUTER_SELECT_REJECT: {
      d.reject_message[sizeof d.reject_message - 1] = '\0';
      return ar::SelectDecision::Reject(d.reject_http_status, std::string(d.reject_message));
    }
    default:
      throw std::runtime_error("the selector's decide callback answered with an unknown action");
  }
}

}  // namespace authrouter::capi
