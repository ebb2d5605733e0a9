// FileStore: credentials in an auth directory, written atomically.
#include "authrouter/file_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <signal.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "authrouter/credential_json.h"
#include "internal/json_object.h"
#include "internal/sha256.h"
#include "internal/strings.h"
#include "store/auth_file_merge.h"

namespace authrouter {
inline namespace v0 {
namespace {

constexpr std::string_view kStateSuffix = ".state";

using internal::Sha256Hex;

absl::Status OsError(std::string_view what, const std::string& path, int err) {
  std::string message = internal::Cat(what, " ", path, ": ", std::strerror(err));
  switch (err) {
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(message);
    case ENOENT:
      return absl::NotFoundError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::UnavailableError(message);
  }
}

// ReadAll reads a whole file, at most `limit` bytes (more: *too_large).
absl::Status ReadAll(int fd, size_t limit, std::string* out, bool* too_large) {
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::UnavailableError(std::strerror(errno));
    }
    if (n == 0) return absl::OkStatus();
    if (out->size() + static_cast<size_t>(n) > limit) {
      *too_large = true;
      return absl::OkStatus();
    }
    out->append(buf, static_cast<size_t>(n));
  }
}

bool WriteAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

// AuthFileContent is what Save writes: the metadata, with `disabled` reconciled.
std::string AuthFileContent(const Credential& c) {
  const std::string_view json = c.metadata.empty() ? std::string_view("{}") : c.metadata.json();
  // A multi-project gemini primary is disabled by synthesis (spec 06 §5.2), not by the operator.
  if (c.Attribute("gemini_virtual_primary") == "true") return std::string(json);
  std::optional<bool> file_disabled;
  internal::ForEachMember(json, [&](const internal::JsonMember& m) {
    if (m.key == "disabled") file_disabled = m.value == "true" ? std::optional<bool>(true)
                                             : m.value == "false" ? std::optional<bool>(false)
                                                                  : std::nullopt;
  });
  if (file_disabled.value_or(false) == c.disabled) return std::string(json);
  return internal::SetMembers(json, {{"disabled", c.disabled ? "true" : "false"}});
}

// StateContent is the runtime state saved next to a file: the JSON form without metadata, and
// the SHA-256 of the file content it belongs to.
std::string StateContent(const Credential& c, std::string_view file_sha256) {
  Credential state = c;
  state.metadata = Metadata();
  std::string out = "{\"file_sha256\":\"";
  out.append(file_sha256);
  out += "\",\"credential\":";
  out += CredentialToJson(state);
  out += '}';
  return out;
}

// DescribeMerge says what a merge into a file changed outside the store did (key names only).
std::string DescribeMerge(const internal::AuthFileMerge& m) {
  std::string out = "changed outside the store since it was last read; the library's write was merged into it";
  if (!m.dropped.empty()) {
    out += " (the file's new tokens kept; dropped the library's ";
    for (size_t i = 0; i < m.dropped.size(); ++i) {
      if (i > 0) out += ", ";
      out += m.dropped[i];
    }
    out += ')';
  }
  if (!m.applied.empty()) {
    out += "; applied: ";
    for (size_t i = 0; i < m.applied.size(); ++i) {
      if (i > 0) out += ", ";
      out += m.applied[i];
    }
  }
  if (!m.overridden.empty()) {
    out += "; the library's value replaced the file's for: ";
    for (size_t i = 0; i < m.overridden.size(); ++i) {
      if (i > 0) out += ", ";
      out += m.overridden[i];
    }
  }
  return out;
}

}  // namespace

FileStore::FileStore(FileStoreOptions options)
    : options_(std::move(options)), directory_(options_.directory) {}

absl::StatusOr<std::shared_ptr<FileStore>> FileStore::Open(FileStoreOptions options) {
  if (options.directory.empty()) return absl::InvalidArgumentError("file store: empty directory");
  while (options.directory.size() > 1 && options.directory.back() == '/') {
    options.directory.pop_back();
  }
  struct stat st{};
  if (::stat(options.directory.c_str(), &st) != 0) {
    if (errno != ENOENT || !options.create_directory) {
      return OsError("cannot open auth directory", options.directory, errno);
    }
    if (::mkdir(options.directory.c_str(), 0700) != 0 && errno != EEXIST) {
      return OsError("cannot create auth directory", options.directory, errno);
    }
  } else if (!S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(
        internal::Cat("auth directory ", options.directory, " exists and is not a directory"));
  }
  // Temporary files of writers killed mid-save (".<name>.tmp-<pid>-<n>" of a dead process).
  if (DIR* dir = ::opendir(options.directory.c_str())) {
    while (const dirent* e = ::readdir(dir)) {
      const std::string_view name = e->d_name;
      const size_t mark = name.rfind(".tmp-");
      if (!name.starts_with(".") || mark == std::string_view::npos) continue;
      const std::string_view rest = name.substr(mark + 5);
      const long pid = std::strtol(std::string(rest.substr(0, rest.find('-'))).c_str(), nullptr, 10);
      if (pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) {
        ::unlinkat(::dirfd(dir), e->d_name, 0);
      }
    }
    ::closedir(dir);
  }
  return std::make_shared<FileStore>(std::move(options));
}

void FileStore::Report(FileReport::Kind kind, std::string_view file, std::string_view detail) const {
  if (options_.logger) {
    LogTo(options_.logger, kind == FileReport::Kind::kError ? LogLevel::kError : LogLevel::kWarning,
          "store",
          internal::Cat(file, ": ", kind == FileReport::Kind::kSkipped ? "skipped: " : "", detail));
  }
  if (options_.on_report) {
    try {
      options_.on_report(FileReport{kind, std::string(file), std::string(detail)});
    } catch (...) {
    }
  }
}

absl::StatusOr<std::vector<std::string>> FileStore::Names() const {
  DIR* dir = ::opendir(directory_.c_str());
  if (dir == nullptr) return OsError("cannot list auth directory", directory_, errno);
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(dir)) {
    if (IsAuthFileName(e->d_name)) names.emplace_back(e->d_name);
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

FileStore::ReadResult FileStore::Read(std::string_view name) {
  ReadResult r;
  const std::string path = internal::Cat(directory_, "/", name);
  struct stat st{};
  if (::lstat(path.c_str(), &st) != 0) {
    r.kind = errno == ENOENT ? ReadResult::Kind::kMissing : ReadResult::Kind::kUnreadable;
    r.detail = std::strerror(errno);
    return r;
  }
  if (S_ISLNK(st.st_mode)) {
    r.kind = ReadResult::Kind::kNotRegular;
    r.detail = "a symbolic link (not followed)";
    return r;
  }
  if (!S_ISREG(st.st_mode)) {
    r.kind = ReadResult::Kind::kNotRegular;
    r.detail = "not a regular file";
    return r;
  }
  // The generation before reading: Remember refuses a hash older than a save made meanwhile.
  {
    std::lock_guard<std::mutex> lock(mu_);
    r.generation = generations_[std::string(name)];
  }
  // O_NONBLOCK: a FIFO swapped in after lstat must not block the watcher; fstat re-checks.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) {
    r.kind = ReadResult::Kind::kUnreadable;
    r.detail = std::strerror(errno);
    return r;
  }
  struct stat fst{};
  if (::fstat(fd, &fst) != 0 || !S_ISREG(fst.st_mode)) {
    ::close(fd);
    r.kind = ReadResult::Kind::kNotRegular;
    r.detail = "not a regular file";
    return r;
  }
  bool too_large = false;
  absl::Status s = ReadAll(fd, kMaxFileBytes, &r.content, &too_large);
  ::close(fd);
  if (!s.ok()) {
    r.kind = ReadResult::Kind::kUnreadable;
    r.detail = std::string(internal::ToStd(s.message()));
    r.content.clear();
    return r;
  }
  if (too_large) {
    r.kind = ReadResult::Kind::kTooLarge;
    r.content.clear();
    return r;
  }
  if (r.content.empty()) {
    r.kind = ReadResult::Kind::kEmpty;
    return r;
  }
  {
    // Once per file until its mode is fixed, not on every read.
    bool warn = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if ((st.st_mode & 077) != 0) {
        warn = mode_warned_.insert(std::string(name)).second;
      } else {
        mode_warned_.erase(std::string(name));
      }
    }
    if (warn) r.warning = "readable or writable by group or others (credentials should be mode 0600)";
  }
  r.sha256 = Sha256Hex(r.content);
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hashes_.find(std::string(name));
  auto bad = rejected_.find(std::string(name));
  // A file merged into for a write-back (pending_) is changed until the Manager took it in.
  r.kind = ((it != hashes_.end() && it->second == r.sha256) ||
            (bad != rejected_.end() && bad->second == r.sha256)) &&
                   pending_.count(std::string(name)) == 0
               ? ReadResult::Kind::kUnchanged
               : ReadResult::Kind::kChanged;
  if (r.kind == ReadResult::Kind::kUnchanged) r.content.clear();
  return r;
}

void FileStore::Reject(std::string_view name, std::string_view sha256) {
  std::lock_guard<std::mutex> lock(mu_);
  rejected_[std::string(name)] = std::string(sha256);
}

bool FileStore::Remember(std::string_view name, std::string_view content, std::string_view sha256,
                         uint64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string key(name);
  if (generations_[key] != generation) return false;  // the store wrote it since: re-read
  hashes_[key] = std::string(sha256);
  contents_[key] = std::string(content);
  pending_.erase(key);
  rejected_.erase(key);
  return true;
}

bool FileStore::Known(std::string_view name) const {
  std::lock_guard<std::mutex> lock(mu_);
  return hashes_.count(std::string(name)) != 0;
}

void FileStore::Forget(std::string_view name) {
  std::lock_guard<std::mutex> lock(mu_);
  ++generations_[std::string(name)];
  hashes_.erase(std::string(name));
  contents_.erase(std::string(name));
  pending_.erase(std::string(name));
  rejected_.erase(std::string(name));
  state_hashes_.erase(std::string(name));
  const std::string state = internal::Cat(directory_, "/", name, kStateSuffix);
  ::unlink(state.c_str());
}

void FileStore::MergeState(Credential& c, std::string_view sha256) {
  const std::string path = internal::Cat(directory_, "/", c.file_name, kStateSuffix);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return;
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return;
  }
  std::string text;
  bool too_large = false;
  absl::Status s = ReadAll(fd, kMaxFileBytes, &text, &too_large);
  ::close(fd);
  if (!s.ok() || too_large) return;
  // {"file_sha256":"<hex>","credential":{...}}
  std::string file_sha;
  std::string_view credential_json;
  internal::ForEachMember(text, [&](const internal::JsonMember& m) {
    if (m.key == "file_sha256" && m.value.size() == 66) file_sha = std::string(m.value.substr(1, 64));
    if (m.key == "credential") credential_json = m.value;
  });
  if (file_sha != sha256) return;  // state of an older file: start clean
  absl::StatusOr<Credential> saved = CredentialFromJson(credential_json);
  if (!saved.ok() || saved->id != c.id) return;
  c.status = c.disabled ? CredentialStatus::kDisabled : saved->status;
  c.status_message = c.disabled ? c.status_message : saved->status_message;
  c.unavailable = saved->unavailable;
  c.quota = saved->quota;
  c.last_error = saved->last_error;
  c.next_retry_after = saved->next_retry_after;
  c.last_refreshed_at = saved->last_refreshed_at;
  c.next_refresh_after = saved->next_refresh_after;
  c.model_states = saved->model_states;
  if (!IsZeroTime(saved->created_at)) c.created_at = saved->created_at;
  std::lock_guard<std::mutex> lock(mu_);
  state_hashes_[c.file_name] = Sha256Hex(text);
}

absl::StatusOr<std::vector<Credential>> FileStore::List() { return ListReporting(nullptr); }

absl::StatusOr<std::vector<Credential>> FileStore::ListReporting(std::vector<StoreSkip>* skipped) {
  // Skips handed back through `skipped` are the caller's to log (Manager::Load does), so the
  // logger does not hear them twice; on_report always hears them.
  const auto skip = [&](FileReport::Kind kind, const std::string& name, std::string_view why) {
    if (skipped == nullptr) {
      Report(kind, name, why);
      return;
    }
    if (options_.on_report) {
      try {
        options_.on_report(FileReport{kind, name, std::string(why)});
      } catch (...) {
      }
    }
    skipped->push_back(StoreSkip{name, std::string(why)});
  };
  absl::StatusOr<std::vector<std::string>> names = Names();
  if (!names.ok()) return names.status();
  std::vector<Credential> out;
  const absl::Time now = absl::Now();
  for (const std::string& name : *names) {
    {
      // List reads every file in full, known or not.
      std::lock_guard<std::mutex> lock(mu_);
      hashes_.erase(name);
      contents_.erase(name);
      pending_.erase(name);
      rejected_.erase(name);
    }
    ReadResult r = Read(name);
    if (!r.warning.empty()) Report(FileReport::Kind::kWarning, name, r.warning);
    switch (r.kind) {
      case ReadResult::Kind::kChanged:
        break;
      case ReadResult::Kind::kEmpty:
        skip(FileReport::Kind::kSkipped, name, "empty file");
        continue;
      case ReadResult::Kind::kTooLarge:
        skip(FileReport::Kind::kSkipped, name, "larger than 4 MiB");
        continue;
      case ReadResult::Kind::kNotRegular:
        skip(FileReport::Kind::kSkipped, name, r.detail);
        continue;
      case ReadResult::Kind::kUnreadable:
        skip(FileReport::Kind::kError, name, r.detail);
        continue;
      default:
        continue;
    }
    absl::StatusOr<std::vector<Credential>> credentials =
        SynthesizeCredentials(directory_, name, r.content, now);
    if (!credentials.ok()) {
      skip(FileReport::Kind::kSkipped, name, internal::ToStd(credentials.status().message()));
      Reject(name, r.sha256);  // reported: not again until it changes
      continue;
    }
    Remember(name, r.content, r.sha256, r.generation);
    for (Credential& c : *credentials) {
      if (options_.save_state && !c.RuntimeOnly()) MergeState(c, r.sha256);
      out.push_back(std::move(c));
    }
  }
  return out;
}

absl::Status FileStore::WriteAtomically(const std::string& name, std::string_view content) {
  // REQUIRES: mu_ held (one writer at a time; temp names are unique within the process).
  const std::string path = internal::Cat(directory_, "/", name);
  const std::string temp = internal::Cat(directory_, "/.", name, ".tmp-", static_cast<int64_t>(::getpid()),
                                         "-", temp_counter_++);
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return OsError("cannot create a temporary file in", directory_, errno);
  bool ok = WriteAll(fd, content);
  int err = ok ? 0 : errno;
  if (ok && options_.sync && ::fsync(fd) != 0) {
    ok = false;
    err = errno;
  }
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (!ok) {
    ::unlink(temp.c_str());
    return OsError("cannot write", temp, err);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    err = errno;
    ::unlink(temp.c_str());
    return OsError("cannot replace", path, err);
  }
  return SyncDirectory();
}

absl::Status FileStore::SyncDirectory() {
  if (!options_.sync) return absl::OkStatus();
  const int dfd = ::open(directory_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return OsError("cannot open", directory_, errno);
  const int rc = ::fsync(dfd);
  const int err = errno;
  ::close(dfd);
  if (rc != 0) return OsError("cannot fsync", directory_, err);
  return absl::OkStatus();
}

absl::Status FileStore::Save(const Credential& credential) {
  const std::string name = credential.file_name.empty() ? credential.id : credential.file_name;
  if (!IsAuthFileName(name)) {
    return absl::InvalidArgumentError(internal::Cat(
        "file store: credential ID \"", name, "\" is not a *.json file name in the auth directory"));
  }
  std::string content = AuthFileContent(credential);
  std::string sha = Sha256Hex(content);
  const std::string path = internal::Cat(directory_, "/", name);
  std::string report;  // a merge to report, after the lock
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = hashes_.find(name);
    struct stat st{};
    const bool present = ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    if (it != hashes_.end() && !present) {
      // Deleted outside the store (an operator removed the file): a write-back must not bring it
      // back; the watcher removes the credential.
      return absl::FailedPreconditionError(
          internal::Cat("file store: ", path, " was deleted outside the store; not re-created"));
    }
    // Merge instead of replacing when the file changed outside since the store last read or
    // wrote it, or when memory has not caught up with an earlier merge yet (pending_): then the
    // library's change is what it changed since its own last version, not since the disk's.
    bool merged = false, write_merged = false;
    auto pending = pending_.find(name);
    const bool had_pending = pending != pending_.end();
    std::string previous_pending;
    if (auto base = contents_.find(name); it != hashes_.end() && base != contents_.end()) {
      absl::StatusOr<std::string> theirs = ReadCurrent(path);
      if (!theirs.ok()) return theirs.status();
      const bool outside = Sha256Hex(*theirs) != it->second;
      if (outside || had_pending) {
        if (outside) {
          if (absl::Status s = CheckOutsideVersion(name, *theirs); !s.ok()) return s;
        }
        const std::string& library_base = had_pending ? pending->second : base->second;
        internal::AuthFileMerge m = internal::MergeAuthFile(library_base, *theirs, content);
        write_merged = m.content != *theirs;  // else nothing of the library's to add
        if (outside && (write_merged || !m.dropped.empty())) report = DescribeMerge(m);
        // Memory now holds the library's version; the disk holds the merge. Until the watcher
        // reads the merge back (Remember), later writes merge against the library's version.
        if (had_pending) previous_pending = pending->second;
        pending_[name] = content;
        content = std::move(m.content);
        sha = Sha256Hex(content);
        merged = true;
      }
    }
    ++generations_[name];
    if (merged) {
      if (write_merged) {
        if (absl::Status s = WriteAtomically(name, content); !s.ok()) {
          if (had_pending) {  // as before this call
            pending_[name] = std::move(previous_pending);
          } else {
            pending_.erase(name);
          }
          return s;
        }
      }
      hashes_[name] = sha;
      contents_[name] = content;
    } else if (it == hashes_.end() || it->second != sha) {
      // The hash is recorded before the rename, so a watcher reading the new file at once already
      // sees it as this store's own write.
      std::optional<std::string> previous;
      std::optional<std::string> previous_content;
      if (it != hashes_.end()) previous = it->second;
      if (auto c = contents_.find(name); c != contents_.end()) previous_content = std::move(c->second);
      hashes_[name] = sha;
      contents_[name] = content;
      if (absl::Status s = WriteAtomically(name, content); !s.ok()) {
        if (previous) {
          hashes_[name] = *previous;
        } else {
          hashes_.erase(name);
        }
        if (previous_content) {
          contents_[name] = std::move(*previous_content);
        } else {
          contents_.erase(name);
        }
        return s;
      }
    } else if ((st.st_mode & 07777) != 0600 && ::chmod(path.c_str(), 0600) != 0) {
      // Later fix E1: an up-to-date file still gets the store's guarantees.
      return OsError("cannot set the mode of", path, errno);
    }
    if (options_.save_state) {
      const std::string state = StateContent(credential, sha);
      const std::string state_sha = Sha256Hex(state);
      auto sit = state_hashes_.find(name);
      if (sit == state_hashes_.end() || sit->second != state_sha) {
        if (absl::Status s = WriteAtomically(internal::Cat(name, kStateSuffix), state); !s.ok()) {
          return s;
        }
        state_hashes_[name] = state_sha;
      }
    }
  }
  if (!report.empty()) Report(FileReport::Kind::kWarning, name, report);
  return absl::OkStatus();
}

absl::StatusOr<std::string> FileStore::ReadCurrent(const std::string& path) const {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) return OsError("cannot read", path, errno);
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::FailedPreconditionError(
        internal::Cat("file store: ", path, " is not a regular file any more; not replaced"));
  }
  std::string text;
  bool too_large = false;
  absl::Status s = ReadAll(fd, kMaxFileBytes, &text, &too_large);
  ::close(fd);
  if (!s.ok()) return OsError("cannot read", path, EIO);
  if (too_large) {
    return absl::FailedPreconditionError(
        internal::Cat("file store: ", path, " changed outside the store and is larger than 4 MiB; not replaced"));
  }
  return text;
}

absl::Status FileStore::CheckOutsideVersion(const std::string& name, std::string_view theirs) const {
  // A newer version the store cannot merge into (half written, not a credential) is not
  // replaced: the write fails and the caller's change with it, and nothing is lost.
  if (theirs.empty()) {
    return absl::UnavailableError(internal::Cat(
        "file store: ", name, " changed outside the store and is empty now (being written?); not replaced"));
  }
  absl::StatusOr<std::vector<Credential>> parsed =
      SynthesizeCredentials(directory_, name, theirs, absl::Now());
  if (!parsed.ok()) {
    return absl::UnavailableError(internal::Cat("file store: ", name,
                                                " changed outside the store and is not a credential file now (",
                                                internal::ToStd(parsed.status().message()), "); not replaced"));
  }
  return absl::OkStatus();
}

absl::Status FileStore::Delete(std::string_view id) {
  const std::string name(id);
  if (!IsAuthFileName(name)) {
    return absl::InvalidArgumentError(internal::Cat(
        "file store: credential ID \"", name, "\" is not a *.json file name in the auth directory"));
  }
  const std::string path = internal::Cat(directory_, "/", name);
  std::lock_guard<std::mutex> lock(mu_);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    return OsError("cannot delete", path, errno);
  }
  const std::string state = internal::Cat(path, kStateSuffix);
  ::unlink(state.c_str());
  hashes_.erase(name);
  contents_.erase(name);
  pending_.erase(name);
  state_hashes_.erase(name);
  ++generations_[name];
  return SyncDirectory();
}

}  // namespace v0
}  // namespace authrouter
