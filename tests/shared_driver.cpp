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
//   quit
#include <iostream>
#include <sstream>
#include <string>

#include "authrouter/manager.h"
#include "authrouter/shared_state.h"

namespace ar = authrouter;

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
    } else {
      std::cout << "unknown" << std::endl;
    }
  }
  return 0;
}
