// model_key.h -- canonical model keys and the "thinking" suffix grammar.
//
// A requested model may carry a thinking suffix in parentheses, `claude-sonnet-4-5(16384)` or
// `gpt-5.2(high)`. Routing state (scheduler shards, cursors, per-model cooldowns) is keyed by the
// canonical model key, the model name without that suffix, so that every suffix variant of a
// model shares one cooldown.
#ifndef AUTHROUTER_MODEL_KEY_H_
#define AUTHROUTER_MODEL_KEY_H_

#include <string_view>

namespace authrouter {
inline namespace v0 {

// ThinkingSuffix is the result of ParseThinkingSuffix. Both views point into the parsed string.
struct ThinkingSuffix {
  std::string_view model_name;  // everything before the last '(' (or the whole input)
  std::string_view raw_suffix;  // between that '(' and the final ')'; empty if none
  bool has_suffix = false;
};

// ParseThinkingSuffix splits `model` at its last '(' when the string ends with ')'. The suffix
// is not interpreted. Examples: "a(b)(c)" -> {"a(b)", "c"}; "a(b" and "a(b)c" have no suffix;
// "a(b)c)" -> {"a", "b)c"}.
ThinkingSuffix ParseThinkingSuffix(std::string_view model);

// CanonicalModelKey returns the routing key of a model: trimmed, suffix stripped, trimmed again;
// when the name before the suffix is empty ("(high)") the trimmed input is returned unchanged.
// Case-sensitive; prefixes ("teamA/...") are kept. The result views `model`.
std::string_view CanonicalModelKey(std::string_view model);

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_MODEL_KEY_H_
