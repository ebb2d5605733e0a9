// Internal helpers shared by the pick paths of the Manager and the public Scheduler: the
// normalised provider list of a request, and a clock fixed at one instant.
#ifndef AUTHROUTER_ROUTING_PICK_SPEC_H_
#define AUTHROUTER_ROUTING_PICK_SPEC_H_

#include <algorithm>
#include <array>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "authrouter/clock.h"
#include "authrouter/model_key.h"
#include "authrouter/values.h"
#include "routing/scheduler.h"

namespace authrouter::internal {

// ProviderList normalises the requested providers (trimmed, ASCII lower-cased, blanks and
// duplicates dropped, order kept) without allocating for ordinary requests.
class ProviderList {
 public:
  explicit ProviderList(std::span<const std::string_view> providers) {
    for (std::string_view raw : providers) {
      raw = TrimSpace(raw);
      if (raw.empty()) continue;
      std::string_view key = Lower(raw);
      if (std::find(begin(), end(), key) != end()) continue;
      Push(key);
    }
  }
  ProviderList(const ProviderList&) = delete;
  ProviderList& operator=(const ProviderList&) = delete;

  std::span<const std::string_view> view() const {
    return heap_views_.empty() ? std::span<const std::string_view>(views_.data(), size_)
                               : std::span<const std::string_view>(heap_views_);
  }

 private:
  const std::string_view* begin() const { return view().data(); }
  const std::string_view* end() const { return view().data() + view().size(); }

  std::string_view Lower(std::string_view raw) {
    const bool has_upper =
        std::any_of(raw.begin(), raw.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
    if (!has_upper) return raw;
    char* dst;
    if (used_ + raw.size() <= buf_.size()) {
      dst = buf_.data() + used_;
      used_ += raw.size();
    } else {
      heap_strings_.push_back(std::make_unique<char[]>(raw.size()));
      dst = heap_strings_.back().get();
    }
    for (size_t i = 0; i < raw.size(); ++i) {
      const char c = raw[i];
      dst[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    return std::string_view(dst, raw.size());
  }

  void Push(std::string_view key) {
    if (heap_views_.empty() && size_ < views_.size()) {
      views_[size_++] = key;
      return;
    }
    if (heap_views_.empty()) heap_views_.assign(views_.begin(), views_.begin() + size_);
    heap_views_.push_back(key);
  }

  std::array<char, 256> buf_;
  size_t used_ = 0;
  std::array<std::string_view, 16> views_;
  size_t size_ = 0;
  std::vector<std::string_view> heap_views_;
  std::vector<std::unique_ptr<char[]>> heap_strings_;  // only for unusually long lists
};

// FixedClock reads one instant, so a pick under the exclusive lock sees a consistent time.
class FixedClock final : public Clock {
 public:
  explicit FixedClock(absl::Time t) : t_(t) {}
  absl::Time Now() const override { return t_; }

 private:
  absl::Time t_;
};

// SpecFor maps a request (PickRequest or ScheduleRequest: the same fields) onto the engine's
// terms. `providers` is the normalised list (ProviderList).
template <typename Request>
PickSpec SpecFor(const Request& request, std::span<const std::string_view> providers) {
  PickSpec spec;
  spec.providers = providers;
  spec.model = request.model;
  spec.model_key = CanonicalModelKey(request.model);
  spec.pred.tried = request.tried;
  spec.pred.pinned = TrimSpace(request.pinned_id);
  spec.downstream_websocket = request.downstream_websocket;
  return spec;
}

}  // namespace authrouter::internal

#endif  // AUTHROUTER_ROUTING_PICK_SPEC_H_
