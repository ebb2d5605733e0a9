// models.h -- which models a credential serves: the model catalog, a credential's own `models`
// and `excluded_models`, and the host's Manager::RegisterModels, combined by one rule.
//
// A credential is pickable for a model when it serves it. What it serves comes from exactly one
// source, the first of:
//
//   1. the host: Manager::RegisterModels(id, models) (a C++ watcher's `models_for` uses it too);
//   2. the credential itself: its `models` attribute (from an auth file's `"models": [...]`, or
//      a record's `attributes.models`, comma-separated);
//   3. the catalog: the configuration's `model-catalog` entry for the credential's provider.
//
// and never a model that matches one of its exclusions: the credential's `excluded_models`
// attribute (an auth file's `excluded_models` / `excluded-models` list) together with the
// configuration's `oauth-excluded-models` entry for its provider. Exclusions apply to every
// source, the host's included.
//
// A pattern is an exact model name or a glob in which `*` stands for any run of characters other
// than '/' ("claude-*", "*-mini", "*"), so a glob of bare names never matches a prefixed name
// such as "team-a/claude-x". Exact names compare as written (the canonical key: a thinking
// suffix such as "(high)" is dropped); globs and exclusions ignore ASCII case. A credential with
// a model prefix ("team-a") serves every catalog or credential pattern both bare and under its
// prefix ("team-a/claude-*"); the host registers what it means.
//
// Thread-safety: plain values and pure functions.
#ifndef AUTHROUTER_MODELS_H_
#define AUTHROUTER_MODELS_H_

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace authrouter {
inline namespace v0 {

struct Credential;

// ModelPatternMatches reports whether `model` matches `pattern`: an exact (case-sensitive)
// comparison when the pattern has no `*`, else a glob match ignoring ASCII case. Linear in the
// lengths for every pattern (no exponential backtracking).
bool ModelPatternMatches(std::string_view pattern, std::string_view model);

// IsValidModelName reports whether a model name or pattern can be listed: no comma (record
// attributes list models comma-separated) and no control character. The config parser and the
// auth-file reader apply it.
bool IsValidModelName(std::string_view name);

// IsModelGlob reports whether `pattern` contains a `*`.
inline bool IsModelGlob(std::string_view pattern) { return pattern.find('*') != std::string_view::npos; }

// IsModelExcluded reports whether `model_key` matches one of `excluded` (ignoring ASCII case),
// also as <m> when it reads "<prefix>/<m>".
bool IsModelExcluded(const std::vector<std::string>& excluded, std::string_view model_key,
                     std::string_view prefix = {});

// ModelCatalog is the configuration's default model lists per provider.
struct ModelCatalog {
  // Provider key (lower-case) -> the patterns its credentials serve unless they name their own.
  std::map<std::string, std::vector<std::string>, std::less<>> models;
  // Provider key -> patterns none of its credentials serve (`oauth-excluded-models`).
  std::map<std::string, std::vector<std::string>, std::less<>> excluded;

  friend bool operator==(const ModelCatalog&, const ModelCatalog&) = default;
};

// ModelSource names where a credential's served models come from.
enum class ModelSource { kNone, kHost, kCredential, kCatalog };

// ModelSourceName returns "none", "host", "credential" or "catalog".
std::string_view ModelSourceName(ModelSource source);

// ServedModels is what one credential serves.
struct ServedModels {
  ModelSource source = ModelSource::kNone;
  std::vector<std::string> models;    // exact canonical names and globs; sorted, unique
  std::vector<std::string> excluded;  // globs and names, lower-cased; sorted, unique

  // Serves reports whether `model_key` (a canonical key) is served: it matches one of `models`
  // and none of `excluded`; "" (a model-less request) is always served. `prefix` is the credential's normalised model prefix (or ""): a key
  // "<prefix>/<m>" is also checked against the exclusions as <m>.
  bool Serves(std::string_view model_key, std::string_view prefix = {}) const;

  friend bool operator==(const ServedModels&, const ServedModels&) = default;
};

// NormalizeModelPatterns returns patterns as the rule compares them: trimmed, thinking suffix
// dropped (exact names), blanks dropped, sorted and unique.
std::vector<std::string> NormalizeModelPatterns(const std::vector<std::string>& patterns);

// ResolveServedModels applies the rule above. `host` is the host's registration (nullptr: none).
ServedModels ResolveServedModels(const Credential& credential, const std::vector<std::string>* host,
                                 const ModelCatalog& catalog);

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_MODELS_H_
