// Which models a credential serves (models.h): patterns, the catalog and the one rule.
#include "authrouter/models.h"

#include <algorithm>

#include "authrouter/credential.h"
#include "authrouter/model_key.h"
#include "authrouter/values.h"
#include "internal/strings.h"

namespace authrouter {
inline namespace v0 {
namespace {

char Lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// GlobMatch matches `*` globs ignoring ASCII case; `*` matches any run of characters but '/'. The classic two-pointer walk: on a mismatch
// it resumes after the last `*`, so the cost is O(|pattern| * |text|) at worst, never
// exponential.
bool GlobMatch(std::string_view p, std::string_view t) {
  size_t pi = 0, ti = 0;
  size_t star = std::string_view::npos, resume = 0;
  while (ti < t.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      resume = ti;
    } else if (pi < p.size() && Lower(p[pi]) == Lower(t[ti])) {
      ++pi;
      ++ti;
    } else if (star != std::string_view::npos && t[resume] != '/') {
      // `*` never spans a '/': a glob of bare names never matches a prefixed one.
      pi = star + 1;
      ti = ++resume;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

// SplitList splits a comma-separated attribute value.
std::vector<std::string> SplitList(std::string_view s) {
  std::vector<std::string> out;
  while (!s.empty()) {
    const size_t comma = s.find(',');
    const std::string_view part = TrimSpace(s.substr(0, comma));
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

bool AnyMatches(const std::vector<std::string>& patterns, std::string_view key) {
  for (const std::string& p : patterns) {
    if (GlobMatch(p, key)) return true;
  }
  return false;
}

}  // namespace

bool IsValidModelName(std::string_view name) {
  return std::none_of(name.begin(), name.end(),
                      [](char c) { return c == ',' || static_cast<unsigned char>(c) < 0x20; });
}

bool ModelPatternMatches(std::string_view pattern, std::string_view model) {
  if (!IsModelGlob(pattern)) return pattern == model;
  return GlobMatch(pattern, model);
}

std::string_view ModelSourceName(ModelSource source) {
  switch (source) {
    case ModelSource::kNone:
      return "none";
    case ModelSource::kHost:
      return "host";
    case ModelSource::kCredential:
      return "credential";
    case ModelSource::kCatalog:
      return "catalog";
  }
  return "none";
}

bool IsModelExcluded(const std::vector<std::string>& excluded, std::string_view model_key,
                     std::string_view prefix) {
  if (excluded.empty()) return false;
  if (AnyMatches(excluded, model_key)) return true;
  return !prefix.empty() && model_key.size() > prefix.size() + 1 &&
         model_key.substr(0, prefix.size()) == prefix && model_key[prefix.size()] == '/' &&
         AnyMatches(excluded, model_key.substr(prefix.size() + 1));
}

bool ServedModels::Serves(std::string_view model_key, std::string_view prefix) const {
  if (model_key.empty()) return true;
  bool included = std::binary_search(models.begin(), models.end(), model_key, std::less<>());
  for (size_t i = 0; !included && i < models.size(); ++i) {
    included = IsModelGlob(models[i]) && GlobMatch(models[i], model_key);
  }
  return included && !IsModelExcluded(excluded, model_key, prefix);
}

std::vector<std::string> NormalizeModelPatterns(const std::vector<std::string>& patterns) {
  std::vector<std::string> out;
  out.reserve(patterns.size());
  for (const std::string& raw : patterns) {
    const std::string_view p = IsModelGlob(raw) ? TrimSpace(raw) : CanonicalModelKey(raw);
    if (!p.empty()) out.emplace_back(p);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

ServedModels ResolveServedModels(const Credential& c, const std::vector<std::string>* host,
                                 const ModelCatalog& catalog) {
  ServedModels out;
  const std::string provider = internal::ProviderKey(c.provider);
  std::string prefix(TrimSpace(c.prefix));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  const std::string_view own = c.Attribute("models");
  std::vector<std::string> patterns;
  if (host != nullptr && !host->empty()) {
    out.source = ModelSource::kHost;
    patterns = *host;
  } else if (!TrimSpace(own).empty()) {
    out.source = ModelSource::kCredential;
    patterns = SplitList(own);
  } else if (auto it = catalog.models.find(provider); it != catalog.models.end() && !it->second.empty()) {
    out.source = ModelSource::kCatalog;
    patterns = it->second;
  }
  if (out.source == ModelSource::kCredential || out.source == ModelSource::kCatalog) {
    if (!prefix.empty()) {
      const size_t n = patterns.size();
      for (size_t i = 0; i < n; ++i) patterns.push_back(internal::Cat(prefix, "/", patterns[i]));
    }
  }
  out.models = NormalizeModelPatterns(patterns);
  if (out.models.empty()) out.source = ModelSource::kNone;
  std::vector<std::string> excluded = SplitList(c.Attribute("excluded_models"));
  if (auto it = catalog.excluded.find(provider); it != catalog.excluded.end()) {
    excluded.insert(excluded.end(), it->second.begin(), it->second.end());
  }
  for (std::string& e : excluded) e = internal::AsciiLower(TrimSpace(e));
  std::sort(excluded.begin(), excluded.end());
  excluded.erase(std::unique(excluded.begin(), excluded.end()), excluded.end());
  if (!excluded.empty() && excluded.front().empty()) excluded.erase(excluded.begin());
  out.excluded = std::move(excluded);
  return out;
}

}  // namespace v0
}  // namespace authrouter
