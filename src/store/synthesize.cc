// Credentials from an auth file (spec 06 §5), and the auth-directory rules (§1, §2, E3).
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "authrouter/file_store.h"
#include "authrouter/models.h"
#include "authrouter/values.h"
#include "internal/json_values.h"
#include "internal/json_writer.h"
#include "internal/strings.h"
#include "simdjson.h"

namespace authrouter {
inline namespace v0 {

absl::StatusOr<std::string> ResolveAuthDir(std::string_view configured, std::string_view home) {
  std::string path(TrimSpace(configured));
  if (path.empty()) path = "~/.cli-proxy-api";  // later fix E3
  if (path[0] == '~' && (path.size() == 1 || path[1] == '/' || path[1] == '\\')) {
    std::string h(home);
    if (h.empty()) {
      const char* env = std::getenv("HOME");
      if (env != nullptr) h = env;
    }
    if (h.empty()) {
      return absl::InvalidArgumentError("auth-dir: \"~\" needs a home directory, and HOME is unset");
    }
    std::string rest = path.substr(1);
    std::replace(rest.begin(), rest.end(), '\\', '/');
    while (!rest.empty() && rest[0] == '/') rest.erase(0, 1);
    path = h + "/" + rest;
  }
  std::filesystem::path p(path);
  if (p.is_relative()) {
    std::error_code ec;
    p = std::filesystem::current_path(ec) / p;
    if (ec) return absl::InvalidArgumentError("auth-dir: the current directory is unknown");
  }
  std::string out = p.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::vector<std::string_view> KnownAuthFileKeys() {
  return {"type",           "email",           "prefix",
          "proxy_url",      "disabled",        "priority",
          "weight",         "websockets",      "note",          "max_in_flight", "max_in_flight_per_model",
          "headers",        "models",          "excluded_models",
          "excluded-models", "project_id",     "access_token",
          "refresh_token",  "expired",         "refresh_interval_seconds",
          "last_refresh",   "disable_cooling", "request_retry",
          "tool_prefix_disabled", "token_url", "client_id",
          "client_secret",  "scope",           "token_encoding"};
}

bool IsAuthFileName(std::string_view name) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string_view::npos ||
      name.find('\0') != std::string_view::npos || name.size() <= 5) {
    return false;
  }
  return internal::AsciiLower(name.substr(name.size() - 5)) == ".json";
}

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

std::optional<std::string_view> StringMember(object o, std::string_view key) {
  std::string_view v;
  if (o[key].get_string().get(v)) return std::nullopt;
  return v;
}

// PriorityText: a number is truncated to an integer; a string is kept when it is an integer.
std::optional<std::string> PriorityText(object o) {
  element e;
  if (o["priority"].get(e)) return std::nullopt;
  if (e.is_number()) {
    double d = 0;
    if (e.get_double().get(d)) return std::nullopt;
    return std::to_string(internal::TruncateToInt64(d));
  }
  std::string_view s;
  if (!e.get_string().get(s)) {
    const std::string_view t = TrimSpace(s);
    if (ParseGoInt64(t)) return std::string(t);
  }
  return std::nullopt;
}

std::vector<std::string> ExcludedModels(object o) {
  std::set<std::string> out;
  for (std::string_view key : {"excluded_models", "excluded-models"}) {
    simdjson::dom::array a;
    if (o[key].get_array().get(a)) continue;
    for (element e : a) {
      std::string_view s;
      if (e.get_string().get(s)) continue;
      const std::string m = internal::AsciiLower(TrimSpace(s));
      if (!m.empty()) out.insert(m);
    }
  }
  return {out.begin(), out.end()};
}

// OwnModels reads the file's `models`: the models this credential serves instead of the
// catalog's (models.h). Absent: none. Anything but an array of plain names is an error.
absl::StatusOr<std::vector<std::string>> OwnModels(object o) {
  element e;
  if (o["models"].get(e)) return std::vector<std::string>();
  simdjson::dom::array a;
  if (e.get_array().get(a)) return absl::InvalidArgumentError("\"models\" must be an array of model names");
  std::set<std::string> out;
  size_t i = 0;
  for (element m : a) {
    std::string_view s;
    if (m.get_string().get(s)) {
      return absl::InvalidArgumentError(internal::Cat("models[", i, "] must be a string"));
    }
    const std::string_view t = TrimSpace(s);
    if (!IsValidModelName(t)) {
      return absl::InvalidArgumentError(
          internal::Cat("models[", i, "] must not contain commas or control characters"));
    }
    if (!t.empty()) out.emplace(t);
    ++i;
  }
  return std::vector<std::string>(out.begin(), out.end());
}

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out.append(sep);
    out += parts[i];
  }
  return out;
}

}  // namespace

absl::StatusOr<std::vector<Credential>> SynthesizeCredentials(std::string_view directory,
                                                              std::string_view file_name,
                                                              std::string_view content,
                                                              absl::Time now) {
  absl::StatusOr<Metadata> metadata = Metadata::Parse(content);
  if (!metadata.ok()) {
    return absl::InvalidArgumentError(
        internal::Cat(file_name, ": not a JSON object (", internal::ToStd(metadata.status().message()), ")"));
  }
  simdjson::dom::parser parser;
  object o;
  element root;
  if (metadata->empty() || parser.parse(content.data(), content.size()).get(root) ||
      root.get_object().get(o)) {
    return absl::InvalidArgumentError(internal::Cat(file_name, ": no \"type\""));
  }
  if (const std::optional<std::string> dup = internal::DuplicateKeyPath(root)) {
    return absl::InvalidArgumentError(
        internal::Cat(file_name, ": ", *dup, ": the key appears twice (which one counts is ambiguous)"));
  }
  const std::optional<std::string_view> type = StringMember(o, "type");
  if (!type || type->empty()) {
    return absl::InvalidArgumentError(internal::Cat(file_name, ": \"type\" must be a non-empty string"));
  }
  const std::string path = internal::Cat(directory, "/", file_name);
  Credential c;
  c.id = std::string(file_name);
  c.file_name = c.id;
  c.provider = internal::AsciiLower(*type);
  if (c.provider == "gemini") c.provider = "gemini-cli";
  const std::optional<std::string_view> email = StringMember(o, "email");
  c.label = email && !email->empty() ? std::string(*email) : c.provider;
  if (const auto prefix = StringMember(o, "prefix")) {
    std::string_view p = TrimSpace(*prefix);
    while (!p.empty() && p.front() == '/') p.remove_prefix(1);
    while (!p.empty() && p.back() == '/') p.remove_suffix(1);
    if (!p.empty() && p.find('/') == std::string_view::npos) c.prefix = std::string(p);
  }
  if (const auto proxy = StringMember(o, "proxy_url")) c.proxy_url = std::string(*proxy);
  bool disabled = false;
  c.disabled = !o["disabled"].get_bool().get(disabled) && disabled;
  c.status = c.disabled ? CredentialStatus::kDisabled : CredentialStatus::kActive;
  if (c.disabled) c.status_message = "disabled";
  c.attributes["source"] = path;
  c.attributes["path"] = path;
  if (auto priority = PriorityText(o)) c.attributes["priority"] = *priority;
  if (const auto note = StringMember(o, "note"); note && !TrimSpace(*note).empty()) {
    c.attributes["note"] = std::string(TrimSpace(*note));
  }
  object headers;
  if (!o["headers"].get_object().get(headers)) {
    for (auto field : headers) {
      std::string_view v;
      if (field.value.get_string().get(v)) continue;
      const std::string_view name = TrimSpace(field.key);
      const std::string_view value = TrimSpace(v);
      const auto injects = [](std::string_view text) {
        return std::any_of(text.begin(), text.end(), [](char ch) {
          return ch == '\r' || ch == '\n' || ch == '\0';
        });
      };
      // Header names and values reach upstream requests: CR or LF would inject headers.
      if (injects(name)) {
        return absl::InvalidArgumentError(
            internal::Cat(file_name, ": headers: a header name contains CR, LF or NUL"));
      }
      if (injects(value)) {
        return absl::InvalidArgumentError(internal::Cat(
            file_name, ": headers[\"", name, "\"]: the value contains CR, LF or NUL"));
      }
      if (!name.empty() && !value.empty()) {
        c.attributes[internal::Cat("header:", name)] = std::string(value);
      }
    }
  }
  if (const std::vector<std::string> excluded = ExcludedModels(o); !excluded.empty()) {
    c.attributes["excluded_models"] = Join(excluded, ",");
  }
  absl::StatusOr<std::vector<std::string>> own_models = OwnModels(o);
  if (!own_models.ok()) {
    return absl::InvalidArgumentError(
        internal::Cat(file_name, ": ", internal::ToStd(own_models.status().message())));
  }
  if (!own_models->empty()) c.attributes["models"] = Join(*own_models, ",");
  c.attributes["auth_kind"] = "oauth";
  c.metadata = *std::move(metadata);
  c.created_at = now;
  c.updated_at = now;
  if (absl::Status s = c.Validate(); !s.ok()) {
    return absl::InvalidArgumentError(internal::Cat(file_name, ": ", internal::ToStd(s.message())));
  }

  std::vector<Credential> out;
  // Spec 06 §5.2: a gemini-cli file naming several projects.
  std::vector<std::string> projects;
  if (c.provider == "gemini-cli") {
    if (const auto ids = StringMember(o, "project_id")) {
      std::string_view rest = *ids;
      while (!rest.empty()) {
        const size_t comma = rest.find(',');
        const std::string p(TrimSpace(rest.substr(0, comma)));
        if (!p.empty() && std::find(projects.begin(), projects.end(), p) == projects.end()) {
          projects.push_back(p);
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    }
  }
  if (projects.size() <= 1) {
    out.push_back(std::move(c));
    return out;
  }
  c.disabled = true;
  c.status = CredentialStatus::kDisabled;
  c.status_message = "disabled";
  c.attributes["gemini_virtual_primary"] = "true";
  c.attributes["virtual_children"] = Join(projects, ",");
  const std::optional<bool> disable_cooling = c.metadata.disable_cooling();
  const std::optional<int64_t> request_retry = c.metadata.request_retry();
  // Each project's ID is "<file>::<project>" with '/', '\\' and ' ' as '_'. Projects that differ
  // only there ("a/b", "a_b") would share an ID, and one would replace the other (as upstream):
  // the first keeps the ID, each later one takes the first free "<ID>~2", "<ID>~3", ...
  std::vector<std::string> ids;
  for (const std::string& project : projects) {
    std::string safe = project;
    for (char& ch : safe) {
      if (ch == '/' || ch == '\\' || ch == ' ') ch = '_';
    }
    ids.push_back(internal::Cat(c.id, "::", safe.empty() ? std::string("project") : safe));
  }
  std::set<std::string> taken(ids.begin(), ids.end());
  std::set<std::string> assigned;
  for (std::string& id : ids) {
    if (assigned.insert(id).second) continue;
    for (size_t n = 2;; ++n) {
      std::string candidate = internal::Cat(id, "~", n);
      if (taken.insert(candidate).second) {
        id = std::move(candidate);
        break;
      }
    }
  }
  for (size_t i = 0; i < projects.size(); ++i) {
    const std::string& project = projects[i];
    Credential v;
    v.id = ids[i];
    v.provider = c.provider;
    v.label = internal::Cat(c.label, " [", project, "]");
    v.status = CredentialStatus::kActive;
    v.prefix = c.prefix;
    v.proxy_url = c.proxy_url;
    v.created_at = c.created_at;
    v.updated_at = c.updated_at;
    v.attributes["runtime_only"] = "true";
    v.attributes["gemini_virtual_parent"] = c.id;
    v.attributes["gemini_virtual_project"] = project;
    for (const auto& [k, val] : c.attributes) {
      if (k == "source" || k == "path" || k == "priority" || k == "note" || k == "excluded_models" ||
          k == "models" || k.starts_with("header:")) {
        v.attributes[k] = val;
      }
    }
    v.attributes["auth_kind"] = "oauth";
    std::string md;
    internal::JsonWriter w(&md);
    w.BeginObject();
    w.Key("email");
    w.String(email ? *email : std::string_view());
    w.Key("project_id");
    w.String(project);
    w.Key("virtual");
    w.Bool(true);
    w.Key("virtual_parent_id");
    w.String(c.id);
    w.Key("type");
    w.String(*type);
    if (disable_cooling) {
      w.Key("disable_cooling");
      w.Bool(*disable_cooling);
    }
    if (request_retry) {
      w.Key("request_retry");
      w.Int(*request_retry);
    }
    if (!c.proxy_url.empty()) {
      w.Key("proxy_url");
      w.String(c.proxy_url);
    }
    w.EndObject();
    v.metadata = *Metadata::Parse(md);
    out.push_back(std::move(v));
  }
  out.insert(out.begin(), std::move(c));
  return out;
}

}  // namespace v0
}  // namespace authrouter
