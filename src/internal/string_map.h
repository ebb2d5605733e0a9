// StringMap / StringSet: hash containers keyed by std::string with lookups by std::string_view.
// (Debian's Abseil has its own absl::string_view, so absl's transparent string hashing does not
// accept std::string_view.)
#ifndef AUTHROUTER_INTERNAL_STRING_MAP_H_
#define AUTHROUTER_INTERNAL_STRING_MAP_H_

#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace authrouter::internal {

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
struct StringEq {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const { return a == b; }
};
template <typename V>
using StringMap = std::unordered_map<std::string, V, StringHash, StringEq>;
using StringSet = std::unordered_set<std::string, StringHash, StringEq>;

}  // namespace authrouter::internal

#endif  // AUTHROUTER_INTERNAL_STRING_MAP_H_
