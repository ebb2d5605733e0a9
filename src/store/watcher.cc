// Watcher: an auth directory and a config file, kept in step with a Manager.
#include "authrouter/watcher.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <thread>

#include "internal/sha256.h"
#include "internal/strings.h"
#include "manager/manager_access.h"
#include "refresh/refresh_internal.h"

namespace authrouter {
inline namespace v0 {
namespace {

std::string JoinKeys(const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& k : keys) {
    if (!out.empty()) out += ", ";
    out += k;
  }
  return out.empty() ? std::string("no changes") : out;
}

int PollMillis(absl::Duration d) {
  return static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(d), 1, 3'600'000));
}

using internal::ManagerAccess;

// The watchers whose files (or config) this thread is applying right now: a callback running
// inside that step (a logger) that calls back into the same watcher is refused, not deadlocked.
thread_local std::vector<const void*> tl_applying_files;
thread_local std::vector<const void*> tl_applying_config;

bool Applying(const std::vector<const void*>& stack, const void* impl) {
  return std::find(stack.begin(), stack.end(), impl) != stack.end();
}

struct ApplyingScope {
  ApplyingScope(std::vector<const void*>& stack, const void* impl) : stack_(stack) { stack_.push_back(impl); }
  ~ApplyingScope() { stack_.pop_back(); }
  ApplyingScope(const ApplyingScope&) = delete;
  ApplyingScope& operator=(const ApplyingScope&) = delete;
  std::vector<const void*>& stack_;
};

}  // namespace

struct Watcher::Impl {
  WatcherOptions options;
  std::string directory;
  std::string config_dir;   // the directory holding the config file
  std::string config_name;  // its base name

  // Lock order: the Manager's writer turn (ManagerAccess::Serialized), then apply_mu. The config
  // is applied under config_apply_mu alone (its Manager calls wait for deliveries).
  std::mutex apply_mu;                                    // one file applier at a time
  std::map<std::string, std::vector<std::string>> ids;    // file -> credential IDs; apply_mu
  std::mutex config_apply_mu;                             // one config applier at a time
  std::string config_digest;                              // last config content seen; config_apply_mu
  mutable std::mutex config_mu;
  Config config;  // config_mu
  std::mutex report_mu;
  std::vector<WatchReport> reports;  // waiting for Flush; report_mu
  bool delivering = false;           // a thread is in Flush's delivery loop; report_mu

  std::mutex run_mu;  // Start/Stop
  std::thread thread;
  std::atomic<std::thread::id> thread_id{};
  int stop_fd = -1;  // an eventfd, for the Watcher's lifetime
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> inotify{false};

  ~Impl() {
    if (stop_fd >= 0) ::close(stop_fd);
  }

  void RequestStop() {
    stop_requested.store(true);
    const uint64_t one = 1;
    (void)!::write(stop_fd, &one, sizeof one);
  }

  // Report queues a report; Flush delivers the queue, outside apply_mu, to on_report and the
  // logger (neither runs under a lock of the watcher's).
  void Report(WatchReport::Kind kind, std::string_view file, std::string_view id,
              std::string_view detail) {
    if (!options.on_report && !options.logger) return;
    std::lock_guard<std::mutex> lock(report_mu);
    reports.push_back(WatchReport{kind, std::string(file), std::string(id), std::string(detail)});
  }

  // One thread delivers at a time, in order, holding no lock while the callbacks run; a thread
  // that finds another delivering leaves its reports to it.
  void Flush() {
    std::unique_lock<std::mutex> lock(report_mu);
    if (delivering) return;
    delivering = true;
    while (!reports.empty()) {
      std::vector<WatchReport> out;
      out.swap(reports);
      lock.unlock();
      for (const WatchReport& r : out) {
        Log(r);
        if (!options.on_report) continue;
        try {
          options.on_report(r);
        } catch (...) {
        }
      }
      lock.lock();
    }
    delivering = false;
  }

  void Log(const WatchReport& r) const {
    if (!options.logger) return;
    using K = WatchReport::Kind;
    LogLevel level = LogLevel::kInfo;
    std::string_view component = "watcher";
    std::string text;
    switch (r.kind) {
      case K::kAdded:
      case K::kUpdated:
      case K::kRemoved:
        text = internal::Cat(r.file, ": ", r.detail, r.id.empty() || r.id == r.file ? "" : " (", r.id,
                             r.id.empty() || r.id == r.file ? "" : ")");
        break;
      case K::kSkipped:
        level = LogLevel::kWarning;
        text = internal::Cat(r.file, ": skipped: ", r.detail);
        break;
      case K::kWarning:
        level = LogLevel::kWarning;
        text = internal::Cat(r.file, ": ", r.detail);
        break;
      case K::kConfigApplied:
        component = "config";
        text = internal::Cat(r.file, ": reloaded (", r.detail, ")");
        break;
      case K::kConfigRejected:
        level = LogLevel::kError;
        component = "config";
        text = internal::Cat(r.file, ": rejected, the previous configuration stays: ", r.detail);
        break;
      case K::kConfigWarning:
        level = LogLevel::kWarning;
        component = "config";
        text = internal::Cat(r.file, ": ", r.detail);
        break;
      case K::kError:
        level = LogLevel::kError;
        text = internal::Cat(r.file, r.id.empty() ? "" : " (", r.id, r.id.empty() ? "" : ")", ": ", r.detail);
        break;
    }
    LogTo(options.logger, level, component, text);
  }

  // ManagerIndex maps file names to the IDs the Manager holds for them (credentials loaded by
  // Manager::Load before the watcher first looked, and virtual children).
  std::map<std::string, std::vector<std::string>> ManagerIndex() {
    std::map<std::string, std::vector<std::string>> out;
    const std::string dir_slash = internal::Cat(directory, "/");
    for (const auto& c : options.manager->List()) {
      const std::string_view path = c->Attribute("path");
      if (!c->file_name.empty() && path.starts_with(dir_slash) &&
          path.substr(dir_slash.size()) == c->file_name) {
        out[c->file_name].push_back(c->id);
      } else if (const std::string_view parent = c->Attribute("gemini_virtual_parent");
                 !parent.empty() && path.starts_with(dir_slash)) {
        out[std::string(parent)].push_back(c->id);
      }
    }
    return out;
  }

  // KeepRuntimeState carries a credential's health across an edit of its file: cooldowns,
  // quota, last error (Manager::Update keeps the per-model states itself). A file that changes
  // the disabled flag starts over; new tokens (a re-login) clear a dead-refresh-token mark.
  static void KeepRuntimeState(const Credential& current, Credential& next) {
    if (current.disabled != next.disabled) return;
    if (!next.disabled) {
      next.status = current.status;
      next.status_message = current.status_message;
    }
    next.unavailable = current.unavailable;
    next.next_retry_after = current.next_retry_after;
    next.quota = current.quota;
    next.last_error = current.last_error;
    next.created_at = current.created_at;
    if (HasDeadRefreshToken(current) &&
        internal::RefreshTokenOf(current) != internal::RefreshTokenOf(next)) {
      next.last_error.reset();
      next.unavailable = false;
      next.status = CredentialStatus::kActive;
      next.status_message.clear();
    }
  }

  void RegisterModelsFor(const Credential& c) {
    const std::vector<std::string> models = options.models_for(c);
    std::vector<std::string_view> views(models.begin(), models.end());
    options.manager->RegisterModels(c.id, views);
  }

  void RemoveIds(const std::string& name, const std::vector<std::string>& gone) {
    for (const std::string& id : gone) {
      absl::Status s = options.manager->Remove(id, WriteOptions{.persist = false});
      if (s.ok()) {
        Report(WatchReport::Kind::kRemoved, name, id, "file removed");
      } else if (!absl::IsNotFound(s)) {
        Report(WatchReport::Kind::kError, name, id, internal::ToStd(s.message()));
      }
    }
  }

  using Index = std::map<std::string, std::vector<std::string>>;

  // LazyIndex builds ManagerIndex (a scan of every credential) only when a name the watcher does
  // not track yet comes up, so a burst of changes to tracked files costs no scan.
  struct LazyIndex {
    Impl* impl;
    std::optional<Index> index;
    const Index& Get() {
      if (!index) index = impl->ManagerIndex();
      return *index;
    }
  };

  // Track returns the IDs tracked for `name` (ids.end() when none), first adopting those the
  // Manager holds for it (loaded before the watcher looked); *adopted tells whether it just did.
  Index::iterator Track(const std::string& name, LazyIndex& index, bool* adopted) {
    *adopted = false;
    auto it = ids.find(name);
    if (it != ids.end()) return it;
    const Index& held = index.Get();
    if (auto found = held.find(name); found != held.end()) {
      *adopted = true;
      return ids.emplace(name, found->second).first;
    }
    return ids.end();
  }

  // ProcessOne applies the current state of one auth file as one step against the Manager's own
  // writes: reading the file and applying it happen within the Manager's writer turn, so a change
  // the Manager commits (SetDisabled, Remove) lands wholly before or wholly after, never between
  // the read and the apply. The hooks of the watcher's changes run after the step, outside its
  // locks.
  void ProcessOne(const std::string& name, LazyIndex& index, bool recreated = false) {
    ManagerAccess::Serialized(*options.manager, [&] {
      ApplyingScope scope(tl_applying_files, this);
      std::lock_guard<std::mutex> lock(apply_mu);
      Process(name, index, recreated);
    });
  }

  // Process applies the current state of one auth file. REQUIRES: apply_mu held, within the
  // Manager's writer turn.
  void Process(const std::string& name, LazyIndex& index, bool recreated = false) {
    FileStore& store = *options.store;
    bool adopted = false;  // loaded by Manager::Load, seen by the watcher for the first time
    if (recreated) {
      // Deleted and created again within one burst (inotify saw the delete): the new file is a
      // new credential and starts clean (seed #2061), even if its content is the same.
      auto it = Track(name, index, &adopted);
      if (it != ids.end()) {
        const std::vector<std::string> gone = it->second;
        ids.erase(it);
        RemoveIds(name, gone);
      }
      store.Forget(name);
    }
    FileStore::ReadResult r = store.Read(name);
    if (!r.warning.empty()) Report(WatchReport::Kind::kWarning, name, "", r.warning);
    auto known = Track(name, index, &adopted);
    switch (r.kind) {
      case FileStore::ReadResult::Kind::kMissing:
        if (known != ids.end()) {
          const std::vector<std::string> gone = known->second;
          ids.erase(known);
          RemoveIds(name, gone);
        }
        store.Forget(name);  // a file re-created under this name starts clean
        return;
      case FileStore::ReadResult::Kind::kUnchanged:
        if (adopted && options.models_for) {
          for (const std::string& id : known->second) {
            if (auto c = options.manager->Get(id)) RegisterModelsFor(*c);
          }
        }
        return;
      case FileStore::ReadResult::Kind::kEmpty:
        Report(WatchReport::Kind::kSkipped, name, "", "empty file (still being written?)");
        return;
      case FileStore::ReadResult::Kind::kTooLarge:
        Report(WatchReport::Kind::kSkipped, name, "", "larger than 4 MiB");
        return;
      case FileStore::ReadResult::Kind::kNotRegular:
        Report(WatchReport::Kind::kSkipped, name, "", r.detail);
        return;
      case FileStore::ReadResult::Kind::kUnreadable:
        Report(WatchReport::Kind::kError, name, "", r.detail);
        return;
      case FileStore::ReadResult::Kind::kChanged:
        break;
    }
    absl::StatusOr<std::vector<Credential>> credentials =
        SynthesizeCredentials(directory, name, r.content, absl::Now());
    if (!credentials.ok()) {
      // Not remembered: the next change to the file is looked at again; this content is not
      // reported again.
      Report(WatchReport::Kind::kSkipped, name, "", internal::ToStd(credentials.status().message()));
      store.Reject(name, r.sha256);
      return;
    }
    if (!store.Remember(name, r.content, r.sha256, r.generation)) {
      return;  // the store wrote the file meanwhile: what was read is older than the Manager's
    }
    std::vector<std::string> now_ids;
    for (Credential& c : *credentials) {
      const std::string id = c.id;
      now_ids.push_back(id);
      const std::shared_ptr<const Credential> current = options.manager->Get(id);
      const bool exists = current != nullptr;
      if (exists) KeepRuntimeState(*current, c);
      std::vector<std::string> models;
      if (options.models_for) models = options.models_for(c);
      absl::Status s = exists ? options.manager->Update(c, WriteOptions{.persist = false}).status()
                              : options.manager->Register(c, WriteOptions{.persist = false}).status();
      if (absl::IsNotFound(s)) {  // removed meanwhile
        s = options.manager->Register(std::move(c), WriteOptions{.persist = false}).status();
      }
      if (!s.ok()) {
        Report(WatchReport::Kind::kError, name, id, internal::ToStd(s.message()));
        continue;
      }
      if (options.models_for) {
        std::vector<std::string_view> views(models.begin(), models.end());
        options.manager->RegisterModels(id, views);
      }
      Report(exists ? WatchReport::Kind::kUpdated : WatchReport::Kind::kAdded, name, id,
             exists ? "file changed" : "file added");
    }
    if (known != ids.end()) {
      std::vector<std::string> gone;
      for (const std::string& id : known->second) {
        if (std::find(now_ids.begin(), now_ids.end(), id) == now_ids.end()) gone.push_back(id);
      }
      RemoveIds(name, gone);
    }
    ids[name] = std::move(now_ids);
  }

  // CheckConfig applies the config file when its content changed. A callback of the Manager
  // skips it while another thread applies a config (it may be waiting for this callback).
  void CheckConfig() {
    if (options.config_path.empty() || Applying(tl_applying_config, this)) return;
    std::unique_lock<std::mutex> lock(config_apply_mu, std::defer_lock);
    if (ManagerAccess::InCallback(*options.manager)) {
      if (!lock.try_lock()) return;
    } else {
      lock.lock();
    }
    ApplyingScope scope(tl_applying_config, this);
    CheckConfigLocked();
  }

  // REQUIRES: config_apply_mu held.
  void CheckConfigLocked() {
    const int fd = ::open(options.config_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      internal::ManagerAccess::CountConfigReload(*options.manager, false);
      Report(WatchReport::Kind::kConfigRejected, options.config_path, "",
             internal::Cat("cannot open: ", std::strerror(errno)));
      return;
    }
    std::string text;
    char buf[16384];
    bool too_large = false;
    for (;;) {
      const ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
      if (text.size() > (size_t{16} << 20)) {
        too_large = true;
        break;
      }
    }
    ::close(fd);
    if (text.empty()) return;  // being rewritten; the next event brings the content
    const std::string digest = internal::Sha256Hex(text);
    if (digest == config_digest) return;
    config_digest = digest;
    if (too_large) {
      internal::ManagerAccess::CountConfigReload(*options.manager, false);
      Report(WatchReport::Kind::kConfigRejected, options.config_path, "", "larger than 16 MiB");
      return;
    }
    absl::StatusOr<Config> next = ParseConfig(text);
    if (!next.ok()) {
      internal::ManagerAccess::CountConfigReload(*options.manager, false);
      Report(WatchReport::Kind::kConfigRejected, options.config_path, "",
             internal::ToStd(next.status().message()));
      return;
    }
    for (const std::string& w : next->warnings) {
      Report(WatchReport::Kind::kConfigWarning, options.config_path, "", DescribeUnknownKey(w));
    }
    (void)ApplyLocked(*std::move(next));
  }

  // ApplyLocked applies `next` against the configuration in force. REQUIRES: config_apply_mu held.
  absl::StatusOr<std::vector<std::string>> ApplyLocked(Config next) {
    Config previous;
    {
      std::lock_guard<std::mutex> lock(config_mu);
      previous = config;
    }
    absl::StatusOr<std::vector<std::string>> changed =
        authrouter::ApplyConfig(*options.manager, previous, next, options.transport);
    if (!changed.ok()) {
      Report(WatchReport::Kind::kConfigRejected, options.config_path, "",
             internal::ToStd(changed.status().message()));
      return changed;
    }
    {
      std::lock_guard<std::mutex> lock(config_mu);
      config = std::move(next);
    }
    Report(WatchReport::Kind::kConfigApplied, options.config_path, "", JoinKeys(*changed));
    return changed;
  }

  // SyncAll looks at every file and the config now, each file in its own step (ProcessOne).
  absl::Status SyncAll() {
    if (options.store == nullptr) {  // the config file only
      CheckConfig();
      return absl::OkStatus();
    }
    absl::StatusOr<std::vector<std::string>> names = options.store->Names();
    if (!names.ok()) return names.status();
    LazyIndex index{this, std::nullopt};
    std::set<std::string> all(names->begin(), names->end());
    {
      std::lock_guard<std::mutex> lock(apply_mu);
      for (const auto& [name, list] : ids) all.insert(name);
    }
    for (const auto& [name, list] : ManagerIndex()) all.insert(name);
    for (const std::string& name : all) {
      if (stop_requested.load() && std::this_thread::get_id() == thread_id.load()) break;
      ProcessOne(name, index);
    }
    CheckConfig();
    return absl::OkStatus();
  }

  // RunInotify returns false when the directory's watch was lost (the directory was removed or
  // replaced): the caller falls back to polling.
  bool RunInotify(int ino, int dir_wd, int config_wd) {
    std::set<std::string> pending;
    std::set<std::string> deleted;  // removed (or moved away) during this burst
    bool config_pending = false;
    bool rescan = false;
    bool lost = false;
    absl::Time first = absl::InfinitePast(), last = absl::InfinitePast();
    alignas(inotify_event) char buf[64 * 1024];
    for (;;) {
      const bool have_work = !pending.empty() || config_pending || rescan;
      int timeout = -1;
      if (have_work) {
        const absl::Time now = absl::Now();
        const absl::Time due = std::min(last + options.debounce, first + 10 * options.debounce);
        timeout = due <= now ? 0 : PollMillis(due - now);
      }
      pollfd fds[2] = {{stop_fd, POLLIN, 0}, {ino, POLLIN, 0}};
      const int n = timeout == 0 ? 0 : ::poll(fds, 2, timeout);
      if (n < 0) {
        if (errno == EINTR) continue;
        Report(WatchReport::Kind::kError, directory, "", internal::Cat("poll: ", std::strerror(errno)));
        Flush();
        return true;
      }
      if ((n > 0 && fds[0].revents != 0) || stop_requested.load()) return true;
      if (n > 0 && (fds[1].revents & POLLIN) != 0) {
        const ssize_t len = ::read(ino, buf, sizeof buf);
        bool relevant = false;
        for (ssize_t off = 0; len > 0 && off < len;) {
          const auto* e = reinterpret_cast<const inotify_event*>(buf + off);
          off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
          const std::string name = e->len > 0 ? std::string(e->name) : std::string();
          if ((e->mask & IN_Q_OVERFLOW) != 0) rescan = relevant = true;
          if (e->wd == dir_wd && IsAuthFileName(name)) {
            pending.insert(name);
            if ((e->mask & (IN_DELETE | IN_MOVED_FROM)) != 0) deleted.insert(name);
            relevant = true;
          }
          if (e->wd == config_wd && name == config_name) config_pending = relevant = true;
          if (e->wd == dir_wd && (e->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) != 0) {
            lost = rescan = relevant = true;
          }
        }
        if (relevant) {  // unrelated files (temporary files, state files) do not delay a burst
          const absl::Time now = absl::Now();
          if (first == absl::InfinitePast()) first = now;
          last = now;
        }
        if (!lost) continue;
      }
      if (pending.empty() && !config_pending && !rescan) continue;
      {
        LazyIndex index{this, std::nullopt};
        for (const std::string& name : pending) {
          if (stop_requested.load()) return true;
          ProcessOne(name, index, deleted.count(name) != 0);
        }
        if (rescan) {
          if (absl::Status s = SyncAll(); !s.ok()) {
            Report(WatchReport::Kind::kError, directory, "", internal::ToStd(s.message()));
          }
        } else if (config_pending) {
          CheckConfig();
        }
      }
      Flush();
      if (stop_requested.load()) return true;
      pending.clear();
      deleted.clear();
      config_pending = rescan = false;
      first = last = absl::InfinitePast();
      if (lost) {
        Report(WatchReport::Kind::kError, directory, "",
               "the directory's watch was lost (removed or replaced); polling from now on");
        Flush();
        return false;
      }
    }
  }

  void RunPolling() {
    for (;;) {
      pollfd fds[1] = {{stop_fd, POLLIN, 0}};
      const int n = ::poll(fds, 1, PollMillis(options.poll_interval));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        Report(WatchReport::Kind::kError, directory, "", internal::Cat("poll: ", std::strerror(errno)));
        Flush();
        return;
      }
      if (n > 0 || stop_requested.load()) return;
      if (absl::Status s = SyncAll(); !s.ok()) {
        Report(WatchReport::Kind::kError, directory, "", internal::ToStd(s.message()));
      }
      Flush();
    }
  }
};

Watcher::Watcher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Watcher::~Watcher() { Stop(); }

absl::StatusOr<std::unique_ptr<Watcher>> Watcher::Create(WatcherOptions options) {
  if (options.manager == nullptr) return absl::InvalidArgumentError("watcher: no manager");
  if (options.store == nullptr && options.config_path.empty()) {
    return absl::InvalidArgumentError("watcher: no file store and no config file to watch");
  }
  if (options.debounce <= absl::ZeroDuration() || options.debounce > absl::Seconds(10)) {
    return absl::InvalidArgumentError("watcher: debounce must be > 0 and <= 10s");
  }
  if (options.poll_interval <= absl::ZeroDuration() || options.poll_interval > absl::Hours(1)) {
    return absl::InvalidArgumentError("watcher: poll_interval must be > 0 and <= 1h");
  }
  auto impl = std::make_unique<Impl>();
  impl->stop_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (impl->stop_fd < 0) return absl::UnavailableError("watcher: eventfd failed");
  if (options.store != nullptr) impl->directory = options.store->directory();
  if (!options.logger) options.logger = options.manager->logger();
  if (!options.config_path.empty()) {
    const std::filesystem::path path(options.config_path);
    impl->config_dir = path.has_parent_path() ? path.parent_path().string() : std::string(1, '.');
    impl->config_name = path.filename().string();
  }
  impl->config = options.config;
  impl->config_digest = options.config_sha256;
  impl->options = std::move(options);
  return std::unique_ptr<Watcher>(new Watcher(std::move(impl)));
}

absl::Status Watcher::Sync() {
  Impl& impl = *impl_;
  if (Applying(tl_applying_files, &impl)) {
    return absl::FailedPreconditionError(
        "watcher: Sync called from a callback that runs inside the watcher's own apply step; "
        "nothing done (the step in progress applies the directory)");
  }
  absl::Status s = impl.SyncAll();
  impl.Flush();
  return s;
}

absl::Status Watcher::Start() {
  Impl& impl = *impl_;
  if (ManagerAccess::InCallback(*impl.options.manager) ||
      std::this_thread::get_id() == impl.thread_id.load() || Applying(tl_applying_files, &impl) ||
      Applying(tl_applying_config, &impl)) {
    return absl::FailedPreconditionError(
        "watcher: cannot be started from a callback (a hook, store, report or log callback of a "
        "change in progress); start it after the callback returns");
  }
  std::lock_guard<std::mutex> run(impl.run_mu);
  if (impl.thread.joinable()) {
    if (!impl.stop_requested.load()) return absl::FailedPreconditionError("watcher: already running");
    impl.thread.join();  // stopped from a callback, not joined yet
  }
  uint64_t drained = 0;
  (void)!::read(impl.stop_fd, &drained, sizeof drained);
  impl.stop_requested.store(false);
  int ino = -1, dir_wd = -1, config_wd = -1;
  if (impl.options.use_inotify) {
    ino = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    constexpr uint32_t kMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                               IN_CREATE | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
    if (ino >= 0 && !impl.directory.empty()) {
      dir_wd = ::inotify_add_watch(ino, impl.directory.c_str(), kMask);
    }
    if (ino >= 0 && (dir_wd >= 0 || impl.directory.empty()) && !impl.config_dir.empty()) {
      config_wd = ::inotify_add_watch(ino, impl.config_dir.c_str(), kMask);  // may equal dir_wd
    }
    if (ino >= 0 && (impl.directory.empty() ? config_wd < 0 : dir_wd < 0)) {
      ::close(ino);
      ino = -1;
    }
  }
  // Anything that changed before the watch existed (its reports are delivered by the thread,
  // not here under run_mu).
  if (absl::Status s = impl.SyncAll(); !s.ok()) {
    if (ino >= 0) ::close(ino);
    return s;
  }
  impl.inotify = ino >= 0;
  impl.thread = std::thread([&impl, ino, dir_wd, config_wd] {
    ManagerAccess::LibraryThread mark(impl.options.manager);
    impl.thread_id.store(std::this_thread::get_id());
    impl.Flush();
    bool stopped = true;
    if (ino >= 0) {
      stopped = impl.RunInotify(ino, dir_wd, config_wd);
      ::close(ino);
      if (!stopped) impl.inotify = false;
    }
    if ((ino < 0 || !stopped) && !impl.stop_requested.load()) impl.RunPolling();
    impl.Flush();
  });
  return absl::OkStatus();
}

void Watcher::Stop() {
  Impl& impl = *impl_;
  // From the watcher's own thread, or from a callback another thread may be waiting for: ask the
  // thread to end after its current step, without joining it (Start, Stop or the destructor
  // joins it later, from outside callbacks).
  if (std::this_thread::get_id() == impl.thread_id.load() ||
      ManagerAccess::InCallback(*impl.options.manager) || Applying(tl_applying_files, &impl) ||
      Applying(tl_applying_config, &impl)) {
    impl.RequestStop();
    return;
  }
  std::lock_guard<std::mutex> run(impl.run_mu);
  if (!impl.thread.joinable()) return;
  impl.RequestStop();
  impl.thread.join();
  impl.thread_id.store(std::thread::id());
  uint64_t drained = 0;
  (void)!::read(impl.stop_fd, &drained, sizeof drained);
  impl.stop_requested.store(false);
  impl.inotify = false;
}

bool Watcher::uses_inotify() const { return impl_->inotify.load(); }

Config Watcher::config() const {
  std::lock_guard<std::mutex> lock(impl_->config_mu);
  return impl_->config;
}

absl::StatusOr<std::vector<std::string>> Watcher::ApplyConfig(const Config& next) {
  Impl& impl = *impl_;
  if (Applying(tl_applying_config, &impl)) {
    return absl::FailedPreconditionError(
        "watcher: ApplyConfig called from a callback that runs inside a config reload; nothing applied");
  }
  absl::StatusOr<std::vector<std::string>> changed;
  {
    std::unique_lock<std::mutex> lock(impl.config_apply_mu, std::defer_lock);
    if (ManagerAccess::InCallback(*impl.options.manager)) {
      // Another thread applying a config may be waiting for this callback: never wait for it.
      if (!lock.try_lock()) {
        return absl::FailedPreconditionError(
            "watcher: another configuration is being applied; not applied from a callback");
      }
    } else {
      lock.lock();
    }
    ApplyingScope scope(tl_applying_config, &impl);
    changed = impl.ApplyLocked(next);
  }
  impl.Flush();
  return changed;
}

}  // namespace v0
}  // namespace authrouter
