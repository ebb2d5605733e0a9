// A host Refresher for tests: programmable answers, a record of calls, and an optional gate
// that holds a call until the test opens it.
#ifndef AUTHROUTER_TESTS_SUPPORT_FAKE_REFRESHER_H_
#define AUTHROUTER_TESTS_SUPPORT_FAKE_REFRESHER_H_

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "authrouter/refresh.h"

namespace authrouter::testing {

class FakeRefresher : public Refresher {
 public:
  using Answer = std::function<absl::StatusOr<TokenUpdate>(const Credential&, const RefreshContext&)>;

  absl::StatusOr<TokenUpdate> Refresh(const Credential& c, const RefreshContext& ctx) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      calls_.push_back(c.id);
      contexts_.push_back(ctx);
      ++in_call_;
      cv_.notify_all();
      cv_.wait(lock, [&] { return open_; });
      --in_call_;
    }
    if (during) during(c);
    if (answer) return answer(c, ctx);
    TokenUpdate u;
    u.access_token = "fresh-" + c.id;
    u.expires_at = ctx.now + absl::Hours(24 * 30);
    return u;
  }

  // Close makes calls wait in Refresh until Open.
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
  }
  void Open() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // WaitInCall waits until `n` calls are held at the gate.
  void WaitInCall(int n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return in_call_ >= n; });
  }
  // WaitCalls waits until `n` calls were made.
  void WaitCalls(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return calls_.size() >= n; });
  }

  std::vector<std::string> Calls() {
    std::lock_guard<std::mutex> lock(mu_);
    return calls_;
  }
  std::vector<RefreshContext> Contexts() {
    std::lock_guard<std::mutex> lock(mu_);
    return contexts_;
  }

  Answer answer;                                // default: a token valid for 30 days
  std::function<void(const Credential&)> during;  // runs inside the call, after the gate

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = true;
  int in_call_ = 0;
  std::vector<std::string> calls_;
  std::vector<RefreshContext> contexts_;
};

}  // namespace authrouter::testing

#endif  // AUTHROUTER_TESTS_SUPPORT_FAKE_REFRESHER_H_
