// Three-way merge of an auth file's top-level members (see auth_file_merge.h).
#include "store/auth_file_merge.h"

#include <algorithm>
#include <array>
#include <map>
#include <optional>

#include "internal/json_object.h"

namespace authrouter::internal {
namespace {

struct Members {
  std::vector<std::string> order;                                // keys, first occurrence order
  std::map<std::string, std::pair<std::string, std::string>> by;  // key -> (raw key, value text)
};

Members Collect(std::string_view object) {
  Members m;
  ForEachMember(object, [&](const JsonMember& member) {
    if (m.by.emplace(member.key, std::make_pair(std::string(member.raw_key), std::string(member.value)))
            .second) {
      m.order.push_back(member.key);
    }
  });
  return m;
}

std::optional<std::string_view> ValueOf(const Members& m, const std::string& key) {
  auto it = m.by.find(key);
  if (it == m.by.end()) return std::nullopt;
  return std::string_view(it->second.second);
}

}  // namespace

bool IsTokenLifecycleKey(std::string_view key) {
  static constexpr std::array<std::string_view, 16> kKeys = {
      "access_token", "refresh_token", "id_token",     "token_type",   "token",
      "expired",      "expire",        "expires_at",   "expiresAt",    "expiry",
      "expires",      "expires_in",    "last_refresh", "lastRefresh",  "last_refreshed_at",
      "lastRefreshedAt"};
  return std::find(kKeys.begin(), kKeys.end(), key) != kKeys.end();
}

AuthFileMerge MergeAuthFile(std::string_view base, std::string_view theirs, std::string_view mine) {
  const Members b = Collect(base), t = Collect(theirs), m = Collect(mine);
  AuthFileMerge out;
  bool tokens_from_file = false;  // the file brought new tokens (a new login)
  for (const std::string& key : t.order) {
    if (IsTokenLifecycleKey(key) && ValueOf(t, key) != ValueOf(b, key)) tokens_from_file = true;
  }
  for (const std::string& key : b.order) {
    if (IsTokenLifecycleKey(key) && !ValueOf(t, key)) tokens_from_file = true;  // removed there
  }
  // The value each key ends with (nullopt: absent), and where it came from.
  const auto decide = [&](const std::string& key) -> std::optional<std::string_view> {
    const std::optional<std::string_view> bv = ValueOf(b, key), tv = ValueOf(t, key), mv = ValueOf(m, key);
    if (mv == bv) return tv;                                          // the library left it alone
    if (IsTokenLifecycleKey(key) && tokens_from_file) {  // a new login wins
      out.dropped.push_back(key);
      return tv;
    }
    out.applied.push_back(key);
    if (tv != bv && tv != mv) out.overridden.push_back(key);
    return mv;
  };
  std::string text = "{";
  bool first = true;
  const auto emit = [&](const std::string& raw_key, std::string_view value) {
    if (!first) text += ',';
    first = false;
    text += raw_key;
    text += ':';
    text += value;
  };
  for (const std::string& key : t.order) {
    if (std::optional<std::string_view> v = decide(key)) {
      const auto& raw = m.by.count(key) != 0 && *v == ValueOf(m, key) ? m.by.at(key).first : t.by.at(key).first;
      emit(raw, *v);
    }
  }
  for (const std::string& key : m.order) {
    if (t.by.count(key) != 0) continue;
    if (std::optional<std::string_view> v = decide(key)) emit(m.by.at(key).first, *v);
  }
  text += '}';
  out.content = std::move(text);
  return out;
}

}  // namespace authrouter::internal
