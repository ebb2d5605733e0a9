// Manager::StateView: gathers each credential's state for the redacted view (observe/).
#include <algorithm>

#include "authrouter/manager.h"
#include "manager/manager_impl.h"
#include "observe/state_view.h"

namespace authrouter {
inline namespace v0 {

std::string Manager::StateView() const {
  std::vector<observe::CredentialState> states;
  std::shared_ptr<SessionCache> sessions;
  {
    std::shared_lock lock(impl_->mu);
    states.reserve(impl_->records.size());
    for (const auto& [id, c] : impl_->records) {
      const ServedModels& served = impl_->scheduler.Models(id);
      states.push_back({.credential = c});
      if (served.source != ModelSource::kNone) states.back().served = served;
    }
    sessions = impl_->sessions;
  }
  std::sort(states.begin(), states.end(),
            [](const auto& a, const auto& b) { return a.credential->id < b.credential->id; });
  // Outside the manager's lock: the session cache and the refresh queue have their own.
  for (observe::CredentialState& s : states) {
    if (sessions) s.sessions = sessions->BoundSessions(s.credential->id);
    s.next_refresh_check = ScheduledRefresh(s.credential->id);
  }
  std::string out;
  observe::AppendStateView(&out, impl_->clock->Now(), states);
  return out;
}

}  // namespace v0
}  // namespace authrouter
