// watcher.h -- keeping a Manager in step with an auth directory and a config file.
//
// The watcher turns outside changes into Manager calls: a new credential file is registered, a
// changed one updated (its cooldowns stay), a deleted one removed (a file re-created under the
// same name starts clean, seed #2061), and a changed config file is parsed and applied (a
// rejected one leaves the previous configuration running). Changes are made with
// WriteOptions::persist = false, and the FileStore's content hashes make the store's own writes
// (token refreshes, cooldowns) invisible to it: no feedback loop.
//
// Each file is read and applied in one step within the Manager's writer turn (the turn in which
// the Manager writes its own committed changes), so a SetDisabled or Remove lands wholly before
// or wholly after it and is never undone by a file version read earlier. The hooks of the
// watcher's changes run after the step, outside the watcher's locks, and may call back into the
// watcher and the Manager (Sync, Load, Stop).
//
// Linux inotify delivers events; when it is unavailable (or disabled) the directory is polled.
// Bursts are coalesced: after the first event the watcher waits until the directory has been
// quiet for `debounce`, then looks at each changed name once. A half-written or invalid file is
// reported and skipped; the credential keeps its last good state.
#ifndef AUTHROUTER_WATCHER_H_
#define AUTHROUTER_WATCHER_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "authrouter/config.h"
#include "authrouter/file_store.h"
#include "authrouter/manager.h"

namespace authrouter {
inline namespace v0 {

// WatchReport is one thing the watcher did or declined to do.
struct WatchReport {
  enum class Kind {
    kAdded,           // a credential was registered from `file`
    kUpdated,         // a credential was updated from `file`
    kRemoved,         // a credential was removed because `file` went away
    kSkipped,         // `file` was not applied (detail says why); the last good state stays
    kWarning,         // `file` was applied but needs attention (detail says why)
    kConfigApplied,   // the config file was applied; detail lists the changed keys
    kConfigRejected,  // the config file was rejected (detail has the error); the old one runs
    kConfigWarning,   // the config file has an unknown key (detail names it)
    kError,           // an I/O or Manager error
  };
  Kind kind = Kind::kError;
  std::string file;    // the auth file name, or the config path
  std::string id;      // the credential ID, when one is concerned
  std::string detail;  // never quotes file contents
};

// WatcherOptions configures a Watcher.
struct WatcherOptions {
  // The Manager to keep in step. REQUIRED; must outlive the Watcher.
  Manager* manager = nullptr;
  // The auth directory's store (usually also the Manager's Store). May be null when only the
  // config file is watched.
  std::shared_ptr<FileStore> store{};
  // The config file to watch; empty: none. REQUIRED when `store` is null.
  std::string config_path{};
  // The configuration the Manager runs with now (compared with each new version of the file).
  Config config{};
  // The SHA-256 (hex) of the config file text `config` was parsed from, when the host read it:
  // the first look at an unchanged file then applies and reports nothing (its unknown keys were
  // reported when the host parsed it). Empty: the first look applies and reports the file.
  std::string config_sha256{};
  // The models a credential serves, registered as the host's (Manager::RegisterModels) whenever
  // it is added or updated. Default: none: the credential's own `models` and the config's
  // `model-catalog` apply (models.h).
  std::function<std::vector<std::string>(const Credential&)> models_for{};
  // Hears about every change and every skipped file, after the change was applied, outside the
  // watcher's locks, one report at a time and in order (on the watcher's thread or a thread
  // calling Sync; a Sync may return while another thread still delivers its reports).
  std::function<void(const WatchReport&)> on_report{};
  // Hears the same as log messages (log.h; components "watcher" and "config": unknown config keys
  // with the nearest valid one, rejected reloads, skipped files). Default: the Manager's logger.
  std::shared_ptr<Logger> logger{};
  // Quiet time that ends a burst of events. REQUIRES: > 0 and <= 10 s. Default: 50 ms.
  absl::Duration debounce = absl::Milliseconds(50);
  // Polling period when inotify is unavailable or `use_inotify` is false. REQUIRES: > 0 and
  // <= 1 h. Default: 2 s.
  absl::Duration poll_interval = absl::Seconds(2);
  // Use inotify (Linux). Default: true.
  bool use_inotify = true;
  // The transport for OAuth2 refresh profiles in the config file (nullptr: libcurl).
  std::shared_ptr<Transport> transport{};
};

// Watcher keeps a Manager in step with an auth directory and a config file.
//
// Thread-safety: Sync, Start and Stop may be called from any thread; changes are applied by one
// thread at a time.
class Watcher {
 public:
  // Create checks the options. It changes nothing and starts nothing.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Watcher>> Create(WatcherOptions options);
  ~Watcher();  // stops
  Watcher(const Watcher&) = delete;
  Watcher& operator=(const Watcher&) = delete;

  // Sync looks at every auth file and the config file now, on the calling thread, and applies
  // what changed since the watcher last looked (the first Sync registers every credential file
  // the Manager does not have yet and updates those it has). Returns an error only when the
  // directory cannot be listed.
  absl::Status Sync();

  // Start watches in a background thread (after a Sync). Stop stops and joins it; idempotent.
  // Returns FailedPreconditionError when already running, or when called from a callback of a
  // change in progress (a hook, report or log callback). Stop from the watcher's own thread or
  // from such a callback asks the thread to end after its current step and returns at once; the
  // next Start, Stop or the destructor, called from outside callbacks, joins it. Sync from a
  // callback that runs inside the watcher's own apply step (a logger) returns
  // FailedPreconditionError instead of deadlocking; ApplyConfig from a callback while another
  // thread applies a config returns FailedPreconditionError instead of waiting for it.
  absl::Status Start();
  void Stop();

  // uses_inotify reports whether the running watcher gets events from inotify (false: polling).
  bool uses_inotify() const;

  // config returns the configuration in force (the last one applied).
  Config config() const;

  // ApplyConfig applies `next` as if the config file had changed to it (serialised with the
  // watcher's own reloads and diffed against the configuration in force, so there is one).
  // Returns the changed keys, or the error (nothing applied; reported as kConfigRejected).
  absl::StatusOr<std::vector<std::string>> ApplyConfig(const Config& next);

 private:
  struct Impl;
  explicit Watcher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_WATCHER_H_
