// A replica in a process of its own, for the multi-process shared-state test
// (shared_state_test.cpp): a Manager with three credentials c1..c3 serving model "m", session
// affinity on (placement by strategy), sharing state over Redis at argv[1] with prefix argv[2].
// It answers one line per command read from stdin:
//   connected            -> yes | no
//   published            -> the count of changes written to Redis
//   cool <id> <seconds>  -> ok          (a 429 with that Retry-After on model m)
//   ok <id>              -> ok          (a success on model m)
//   state <id>           -> cooling | ready
//   pick [<session>]     -> <id> | <error code>
//   hold-refresh         -> holding     (refreshes the codex credential "acct" in the background
//                                        with a refresher that never returns: the process holds
//                                        the fleet's refresh lock of "acct" until it dies)
//   quit
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>

#include "authrouter/manager.h"
#include "authrouter/refresh.h"
#include "authrouter/shared_state.h"

namespace ar = authrouter;

namespace {

// HangingRefresher enters and never comes back (until the process ends).
class HangingRefresher final : public ar::Refresher {
 public:
  absl::StatusOr<ar::TokenUpdate> Refresh(const ar::Credential&, const ar::RefreshContext&) override {
    std::unique_lock<std::mutex> lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [] { return false; });
    return absl::InternalError("unreachable");
  }
  void WaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return entered_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: authrouter_shared_driver <redis url> <prefix>\n";
    return 2;
  }
  ar::RedisOptions ro;
  ro.url = argv[1];
  ro.prefix = argv[2];
  ro.min_backoff = absl::Milliseconds(5);
  ro.max_backoff = absl::Milliseconds(50);
  auto shared = ar::NewRedisSharedState(ro);
  if (!shared.ok()) {
    std::cerr << shared.status() << "\n";
    return 2;
  }
  ar::ManagerOptions o;
  o.shared_state = *shared;
  o.shared_lookup_timeout = absl::Milliseconds(500);
  o.session_affinity = true;
  o.session_placement = ar::SessionPlacement::kStrategy;
  auto refresher = std::make_shared<HangingRefresher>();
  o.refresh.refreshers["codex"] = refresher;
  auto manager = ar::Manager::Create(std::move(o));
  if (!manager.ok()) return 2;
  ar::Manager& m = **manager;
  for (const char* id : {"c1", "c2", "c3"}) {
    ar::Credential c;
    c.id = id;
    c.provider = "claude";
    c.status = ar::CredentialStatus::kActive;
    if (!m.Register(std::move(c)).ok()) return 2;
    m.RegisterModels(id, {"m"});
  }
  {
    ar::Credential c;
    c.id = "acct";
    c.provider = "codex";  // out of the claude pool the other commands pick from
    c.status = ar::CredentialStatus::kActive;
    c.metadata = *ar::Metadata::Parse(
        R"({"type":"codex","access_token":"access-0","refresh_token":"refresh-0","expired":"2026-04-17T01:00:00Z"})");
    if (!m.Register(std::move(c)).ok()) return 2;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd, arg;
    in >> cmd >> arg;
    if (cmd == "quit") break;
    if (cmd == "published") {
      std::cout << m.SharedStats()->published << std::endl;
    } else if (cmd == "connected") {
      std::cout << (m.SharedStats()->connected ? "yes" : "no") << std::endl;
    } else if (cmd == "cool" || cmd == "ok") {
      ar::Result r;
      r.credential_id = arg;
      r.model = "m";
      if (cmd == "ok") {
        r.success = true;
        r.http_status = 200;
      } else {
        int64_t seconds = 0;
        in >> seconds;
        r.http_status = 429;
        r.retry_after = absl::Seconds(seconds);
      }
      std::cout << (m.MarkResult(r).ok() ? "ok" : "error") << std::endl;
    } else if (cmd == "state") {
      auto c = m.Get(arg);
      auto it = c ? c->model_states.find("m") : decltype(c->model_states.end()){};
      const bool cooling = c && it != c->model_states.end() && it->second.unavailable;
      std::cout << (cooling ? "cooling" : "ready") << std::endl;
    } else if (cmd == "pick") {
      const std::string_view providers[] = {"claude"};
      const ar::HttpHeader headers[] = {{"X-Session-ID", arg}};
      ar::PickRequest req;
      req.providers = providers;
      req.model = "m";
      if (!arg.empty()) req.headers = headers;
      auto pick = m.Pick(req);
      std::cout << (pick.ok() ? pick->credential->id : std::string("<error>")) << std::endl;
    } else if (cmd == "hold-refresh") {
      std::thread([&m] { (void)m.Refresh("acct"); }).detach();
      refresher->WaitEntered();
      std::cout << "holding" << std::endl;
    } else {
      std::cout << "unknown" << std::endl;
    }
  }
  return 0;
}
