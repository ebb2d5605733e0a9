// Walking the top-level members of a JSON object without re-encoding them, so that a rewrite of
// some members keeps every other member byte for byte.
#ifndef AUTHROUTER_INTERNAL_JSON_OBJECT_H_
#define AUTHROUTER_INTERNAL_JSON_OBJECT_H_

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace authrouter::internal {

// JsonMember is one top-level member of an object, as spans of the original text.
struct JsonMember {
  std::string_view raw_key;  // the key with its quotes and escapes, as written
  std::string key;           // the key unescaped
  std::string_view value;    // the value's text, without surrounding white space
};

// ForEachMember calls `fn` for each top-level member of `object`, in order. REQUIRES: `object`
// is one valid JSON object (callers pass Metadata text, validated when it was parsed).
void ForEachMember(std::string_view object, const std::function<void(const JsonMember&)>& fn);

// ForEachElement calls `fn` with the text of each element of the JSON array `array`, in order.
// REQUIRES: `array` is one valid JSON array.
void ForEachElement(std::string_view array, const std::function<void(std::string_view)>& fn);

// SetMembers returns `object` with each (key, JSON value text) of `set` written: a member already
// present keeps its place (later duplicates of that key are dropped), new members go last in the
// order given, and every other member is copied byte for byte. REQUIRES: `object` is one valid
// JSON object (or empty, meaning {}), and each value text is one valid JSON value.
std::string SetMembers(std::string_view object,
                       const std::vector<std::pair<std::string, std::string>>& set);

// MergePatch returns `target` with the JSON merge patch `patch` applied (RFC 7386): a patch that
// is not an object replaces the target; otherwise each member of the patch set to null removes
// that member, an object merges into the member recursively, and any other value replaces it.
// Members the patch does not name are copied byte for byte, in place. REQUIRES: both are valid
// JSON, and `patch` has no duplicate keys in one object.
std::string MergePatch(std::string_view target, std::string_view patch);

}  // namespace authrouter::internal

#endif  // AUTHROUTER_INTERNAL_JSON_OBJECT_H_
