#include "authrouter/model_key.h"

#include "authrouter/values.h"

namespace authrouter {
inline namespace v0 {

ThinkingSuffix ParseThinkingSuffix(std::string_view model) {
  const size_t open = model.rfind('(');
  if (open == std::string_view::npos || model.empty() || model.back() != ')') {
    return ThinkingSuffix{model, {}, false};
  }
  return ThinkingSuffix{model.substr(0, open), model.substr(open + 1, model.size() - open - 2),
                        true};
}

std::string_view CanonicalModelKey(std::string_view model) {
  model = TrimSpace(model);
  if (model.empty()) return model;
  const std::string_view name = TrimSpace(ParseThinkingSuffix(model).model_name);
  return name.empty() ? model : name;
}

}  // namespace v0
}  // namespace authrouter
