// Internal helpers shared by the pick paths of the Manager and the public Scheduler: the
// normalised provider list of a request, and a clock fixed at one instant.
#ifndef AUTHROUTER_ROUTING_PICK_SPEC_H_
#define AUTHROUTER_ROUTING_PICK_SPEC_H_

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
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

// RequestMemo is one thread's last normalised request: the raw providers and model as given,
// and what they normalise to. Requests of a gateway repeat the same few (providers, model)
// pairs, so a pick usually compares the raw fields and reuses the rest.
struct RequestMemo {
  static constexpr size_t kMaxRawBytes = 512;  // larger requests are normalised every time

  bool busy = false;   // a RequestSpec of this thread holds views into it
  bool valid = false;
  uint64_t epoch = 0;  // bumped on every refill; never 0 once valid
  std::vector<std::string> raw_providers;
  std::string raw_model;
  std::vector<std::string> provider_store;
  std::vector<std::string_view> providers;
  std::string model_key;
  std::string routing_key;

  template <typename Request>
  bool Matches(const Request& request) const {
    if (!valid || request.providers.size() != raw_providers.size() || !Same(request.model, raw_model)) {
      return false;
    }
    for (size_t i = 0; i < raw_providers.size(); ++i) {
      if (!Same(request.providers[i], raw_providers[i])) return false;
    }
    return true;
  }

  // Same compares in line: these strings are a few bytes long, shorter than a call to memcmp
  // is worth. Up to 16 bytes take two overlapping loads per side (of 4 or 8 bytes).
  static bool Same(std::string_view a, std::string_view b) {
    const size_t n = a.size();
    if (n != b.size()) return false;
    const char* x = a.data();
    const char* y = b.data();
    if (n >= 8 && n <= 16) {
      return Load<uint64_t>(x) == Load<uint64_t>(y) && Load<uint64_t>(x + n - 8) == Load<uint64_t>(y + n - 8);
    }
    if (n >= 4 && n < 8) {
      return Load<uint32_t>(x) == Load<uint32_t>(y) && Load<uint32_t>(x + n - 4) == Load<uint32_t>(y + n - 4);
    }
    if (n < 4) {
      for (size_t i = 0; i < n; ++i) {
        if (x[i] != y[i]) return false;
      }
      return true;
    }
    return std::memcmp(x, y, n) == 0;
  }
  template <typename Word>
  static Word Load(const char* p) {
    Word w;
    std::memcpy(&w, p, sizeof w);
    return w;
  }
};

// RequestSpec is a request in the engine's terms (SpecFor), taken from this thread's memo when
// the raw providers and model repeat the last request's. Not copyable; lives on the stack of
// one pick. A nested pick on the same thread (a host selector that picks elsewhere) finds the
// memo busy and normalises on its own.
class RequestSpec {
 public:
  template <typename Request>
  explicit RequestSpec(const Request& request) {
    RequestMemo& memo = Memo();
    const bool hit = !memo.busy && memo.Matches(request);
    if (!hit && (memo.busy || !Memoisable(request))) {
      fallback_.emplace(request.providers);
      spec_ = SpecFor(request, fallback_->view());
      return;
    }
    memo.busy = true;
    memo_ = &memo;
    if (!hit) Refill(memo, request);
    spec_.providers = memo.providers;
    spec_.model = request.model;
    spec_.model_key = memo.model_key;
    spec_.routing_key = memo.routing_key;
    spec_.request_epoch = memo.epoch;
    spec_.pred.tried = request.tried;
    spec_.pred.pinned = request.pinned_id.empty() ? std::string_view() : TrimSpace(request.pinned_id);
    spec_.downstream_websocket = request.downstream_websocket;
  }
  ~RequestSpec() {
    if (memo_ != nullptr) memo_->busy = false;
  }
  RequestSpec(const RequestSpec&) = delete;
  RequestSpec& operator=(const RequestSpec&) = delete;

  const PickSpec& spec() const { return spec_; }
  // True when no provider is left after normalisation.
  bool empty() const { return spec_.providers.empty(); }

 private:
  static RequestMemo& Memo() {
    thread_local RequestMemo memo;
    return memo;
  }

  template <typename Request>
  static bool Memoisable(const Request& request) {
    size_t bytes = request.model.size();
    for (std::string_view p : request.providers) bytes += p.size();
    return bytes <= RequestMemo::kMaxRawBytes && request.providers.size() <= 16;
  }

  template <typename Request>
  static void Refill(RequestMemo& memo, const Request& request) {
    memo.valid = false;
    memo.raw_providers.assign(request.providers.begin(), request.providers.end());
    memo.raw_model.assign(request.model);
    const ProviderList list(request.providers);
    memo.provider_store.assign(list.view().begin(), list.view().end());
    memo.providers.assign(memo.provider_store.begin(), memo.provider_store.end());
    memo.model_key.assign(CanonicalModelKey(request.model));
    PickSpec key_spec;
    key_spec.providers = memo.providers;
    key_spec.model_key = memo.model_key;
    memo.routing_key = RoutingKey(key_spec);
    ++memo.epoch;
    memo.valid = true;
  }

  PickSpec spec_;
  RequestMemo* memo_ = nullptr;
  std::optional<ProviderList> fallback_;
};

}  // namespace authrouter::internal

#endif  // AUTHROUTER_ROUTING_PICK_SPEC_H_
