#include "internal/json_object.h"

#include "internal/json_writer.h"
#include "internal/strings.h"
#include "simdjson.h"

namespace authrouter::internal {
namespace {

bool IsWs(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

size_t SkipWs(std::string_view s, size_t i) {
  while (i < s.size() && IsWs(s[i])) ++i;
  return i;
}

// EndOfString returns the index just past the string starting at s[i] == '"'.
size_t EndOfString(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return s.size();
}

// EndOfValue returns the index just past the value starting at s[i].
size_t EndOfValue(std::string_view s, size_t i) {
  if (i >= s.size()) return i;
  if (s[i] == '"') return EndOfString(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = EndOfString(s, i);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
      ++i;
    }
    return i;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && !IsWs(s[i])) ++i;
  return i;
}

std::string Unescape(std::string_view raw_key) {
  const std::string_view inner = raw_key.substr(1, raw_key.size() - 2);
  if (inner.find('\\') == std::string_view::npos) return std::string(inner);
  simdjson::dom::parser parser;
  std::string_view decoded;
  if (parser.parse(raw_key.data(), raw_key.size()).get_string().get(decoded)) {
    return std::string(inner);
  }
  return std::string(decoded);
}

}  // namespace

void ForEachMember(std::string_view s, const std::function<void(const JsonMember&)>& fn) {
  size_t i = SkipWs(s, 0);
  if (i >= s.size() || s[i] != '{') return;
  i = SkipWs(s, i + 1);
  while (i < s.size() && s[i] == '"') {
    const size_t key_end = EndOfString(s, i);
    JsonMember m;
    m.raw_key = s.substr(i, key_end - i);
    m.key = Unescape(m.raw_key);
    i = SkipWs(s, key_end);
    if (i >= s.size() || s[i] != ':') return;
    i = SkipWs(s, i + 1);
    const size_t value_end = EndOfValue(s, i);
    m.value = s.substr(i, value_end - i);
    fn(m);
    i = SkipWs(s, value_end);
    if (i < s.size() && s[i] == ',') i = SkipWs(s, i + 1);
  }
}

void ForEachElement(std::string_view s, const std::function<void(std::string_view)>& fn) {
  size_t i = SkipWs(s, 0);
  if (i >= s.size() || s[i] != '[') return;
  i = SkipWs(s, i + 1);
  while (i < s.size() && s[i] != ']') {
    const size_t end = EndOfValue(s, i);
    fn(s.substr(i, end - i));
    i = SkipWs(s, end);
    if (i < s.size() && s[i] == ',') i = SkipWs(s, i + 1);
  }
}

std::string SetMembers(std::string_view object,
                       const std::vector<std::pair<std::string, std::string>>& set) {
  std::vector<bool> written(set.size(), false);
  std::string out = "{";
  auto comma = [&] {
    if (out.size() > 1) out += ',';
  };
  ForEachMember(object, [&](const JsonMember& m) {
    for (size_t i = 0; i < set.size(); ++i) {
      if (set[i].first != m.key) continue;
      if (!written[i]) {
        comma();
        Append(&out, m.raw_key, ":", set[i].second);
        written[i] = true;
      }
      return;
    }
    comma();
    Append(&out, m.raw_key, ":", m.value);
  });
  for (size_t i = 0; i < set.size(); ++i) {
    if (written[i]) continue;
    comma();
    AppendJsonString(&out, set[i].first);
    Append(&out, ":", set[i].second);
  }
  out += '}';
  return out;
}

std::string MergePatch(std::string_view target, std::string_view patch) {
  const size_t p = SkipWs(patch, 0);
  if (p >= patch.size() || patch[p] != '{') return std::string(patch.substr(p, EndOfValue(patch, p) - p));
  std::vector<JsonMember> members;
  ForEachMember(patch, [&](const JsonMember& m) { members.push_back(m); });
  std::vector<bool> used(members.size(), false);
  std::string out = "{";
  auto comma = [&] {
    if (out.size() > 1) out += ',';
  };
  const size_t t = SkipWs(target, 0);
  const bool target_object = t < target.size() && target[t] == '{';
  if (target_object) {
    ForEachMember(target, [&](const JsonMember& m) {
      for (size_t i = 0; i < members.size(); ++i) {
        if (members[i].key != m.key) continue;
        used[i] = true;
        if (members[i].value != "null") {
          comma();
          Append(&out, m.raw_key, ":", MergePatch(m.value, members[i].value));
        }
        return;
      }
      comma();
      Append(&out, m.raw_key, ":", m.value);
    });
  }
  for (size_t i = 0; i < members.size(); ++i) {
    if (used[i] || members[i].value == "null") continue;
    comma();
    Append(&out, members[i].raw_key, ":", MergePatch("{}", members[i].value));
  }
  out += '}';
  return out;
}

}  // namespace authrouter::internal
