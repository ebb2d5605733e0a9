// file_store.h -- the default persistence: a directory of credential JSON files (the "auth
// directory"), laid out as the upstream proxy keeps it.
//
// Each direct child named `*.json` (any case) is one credential file: the provider's own JSON
// (type, email, tokens, expiry, per-file overrides). Its file name is the credential ID. The
// store writes files atomically (temporary file in the same directory, fsync, rename, fsync of
// the directory) with mode 0600, and keeps a SHA-256 per file so that its own writes are never
// mistaken for outside changes (watcher.h).
//
// Runtime state that upstream kept only in memory (cooldowns, quota backoff, last error) is saved
// next to the file as `<name>.state`, tied to the content it belongs to: a credential file
// replaced while the process was down starts clean.
//
// The store keeps the content of each file as it last read or wrote it (a few KiB per
// credential), to merge a write-back into a file that an outside tool rewrote meanwhile (Save).
#ifndef AUTHROUTER_FILE_STORE_H_
#define AUTHROUTER_FILE_STORE_H_

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "authrouter/credential.h"
#include "authrouter/host.h"

namespace authrouter {
inline namespace v0 {

// ResolveAuthDir resolves the `auth-dir` setting: empty means `~/.cli-proxy-api`;
// a leading `~` is the home directory (`home`, or $HOME when `home` is empty); the result is
// made absolute against the current directory and cleaned. Returns InvalidArgumentError when a
// home directory is needed and unknown.
[[nodiscard]] absl::StatusOr<std::string> ResolveAuthDir(std::string_view configured,
                                                         std::string_view home = {});

// IsAuthFileName reports whether `name` is a credential file name: no '/', not "." or "..", and
// ending in ".json" in any case. One rule for scans and for watch events (upstream used a
// case-sensitive rule for events).
bool IsAuthFileName(std::string_view name);

// SynthesizeCredentials builds the credentials of one auth file: `type` gives the
// provider (lower-cased; "gemini" becomes "gemini-cli"); ID and file name are `file_name`; label
// from `email`, else the provider; prefix, proxy_url, disabled, attributes `source`, `path`,
// `priority`, `note`, `header:<Name>` (from `headers`), `models` (from `models`: the models it
// serves instead of the catalog's, models.h), `excluded_models` (from `excluded_models` /
// `excluded-models`), `auth_kind`; metadata
// is the file, verbatim. A gemini-cli file naming several projects in `project_id` yields a
// disabled primary plus one runtime-only credential per project, with ID
// `<file_name>::<project>` ('/', '\\' and ' ' in the project as '_'); a project whose ID another
// project already has takes the first free `~2`, `~3`, ... suffix instead.
// Returns InvalidArgumentError when the content is not a JSON object with a non-empty string
// `type`, or does not pass Credential::Validate; the message never quotes the file's values.
[[nodiscard]] absl::StatusOr<std::vector<Credential>> SynthesizeCredentials(
    std::string_view directory, std::string_view file_name, std::string_view content,
    absl::Time now);

// KnownAuthFileKeys lists the top-level keys of an auth file that authrouter reads (their other
// spellings aside), in the order docs/config.md lists them. Every other key is kept verbatim.
std::vector<std::string_view> KnownAuthFileKeys();

// FileReport tells a host about a file the store skipped or could not handle.
struct FileReport {
  enum class Kind {
    kSkipped,  // not a credential: not JSON, no type, empty, too large, a symlink, ...
    kWarning,  // handled, but something needs attention (e.g. a file readable by others)
    kError,    // an I/O error
  };
  Kind kind = Kind::kSkipped;
  std::string file;    // the file name within the directory
  std::string detail;  // why; never quotes file contents
};

// FileStoreOptions configures FileStore::Open.
struct FileStoreOptions {
  // The auth directory (see ResolveAuthDir). REQUIRED.
  std::string directory;
  // Create the directory (mode 0700) when missing. Default: true.
  bool create_directory = true;
  // Save runtime state (`<name>.state`) so cooldowns survive restarts. Default: true.
  bool save_state = true;
  // fsync files and the directory on every write. Default: true.
  bool sync = true;
  // Hears about skipped files and warnings (from any thread, never under the store's lock).
  std::function<void(const FileReport&)> on_report{};
  // Also hears them, as log messages (component "store"): skipped files as warnings, I/O errors
  // as errors. Default: none.
  std::shared_ptr<Logger> logger{};
};

// FileStore is a Store over an auth directory.
//
// Thread-safety: safe for concurrent use; writes are serialised.
class FileStore final : public Store {
 public:
  // kMaxFileBytes is the largest credential file read (4 MiB).
  static constexpr size_t kMaxFileBytes = size_t{4} << 20;

  // Open checks (and creates) the directory, and removes temporary files that writers killed
  // mid-save left behind. Returns InvalidArgumentError for an empty path,
  // FailedPreconditionError when the path exists but is not a directory, or the OS error.
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<FileStore>> Open(FileStoreOptions options);

  // List returns the credentials of every auth file in the directory (not in sub-directories),
  // with saved runtime state merged in. Files that are not credentials are skipped and reported;
  // symbolic links are skipped (a link could point anywhere); files readable by group or others
  // are loaded and reported as warnings (once per file until its mode is fixed).
  absl::StatusOr<std::vector<Credential>> List() override;
  // ListReporting is List, with every skipped file and its reason in *skipped.
  absl::StatusOr<std::vector<Credential>> ListReporting(std::vector<StoreSkip>* skipped) override;

  // Save writes the credential's file: its metadata, with `disabled` set when the credential's
  // disabled flag differs from the file, atomically and with mode 0600; then its runtime state.
  // A file whose content is already current is not rewritten, but its mode is still enforced
  // and its runtime state still saved. A file this store knew that was deleted outside it
  // is not re-created (FailedPreconditionError): the operator's delete wins. Returns
  // InvalidArgumentError when the credential's file name (file_name, else id) is not an auth
  // file name in this directory, or the OS error (naming the path and the operation). The
  // `disabled` flag of a multi-project gemini primary (set by synthesis) is never written.
  //
  // Save never replaces a file that changed since this store last read or wrote it (an outside
  // login tool rewrote it within the watcher's debounce): it merges its write into the newer
  // file instead, top-level key by key. The token lifecycle keys (access, refresh and ID token,
  // token type, `token`, the expiry and last-refresh spellings) move as one group: when the file
  // brought new ones (a new login), they stay and the library's token change is dropped;
  // otherwise the library's applies. Every other key the library changed takes its value; every
  // key it did not change keeps the file's. The merge is reported (kWarning, naming the keys),
  // and the watcher reads the merged file back into the Manager (Read reports it changed until
  // then; a write meanwhile merges again, against the library's own last version). A newer version that is empty or not a credential file is not replaced:
  // UnavailableError, and the caller's change fails with it.
  absl::Status Save(const Credential& credential) override;

  // Delete removes the file named `id` and its state file. A missing file is not an error.
  // (Credentials from this store have file_name == id.)
  absl::Status Delete(std::string_view id) override;

  const std::string& directory() const { return directory_; }

  // --- for the watcher (watcher.h) ---

  // ReadResult is one credential file as read from disk.
  struct ReadResult {
    enum class Kind { kMissing, kNotRegular, kEmpty, kTooLarge, kUnreadable, kUnchanged, kChanged };
    Kind kind = Kind::kMissing;
    std::string content;  // kChanged only
    std::string sha256;   // kChanged only
    std::string detail;   // kUnreadable, kNotRegular
    uint64_t generation = 0;  // the store's write generation of the name when read
    // Something to report although the file was read (its mode lets others read it), once per
    // file until fixed. The caller reports it (Read reports nothing itself: it may run under the
    // caller's locks).
    std::string warning;
  };

  // Read reads `name` and compares it with the last content this store read or wrote.
  ReadResult Read(std::string_view name);
  // Remember records `content` (SHA-256 `sha256`) as the current content of `name`, the version
  // the Manager now holds, unless the store wrote (or forgot) the name after the Read that
  // returned `generation`; returns false then (re-read).
  bool Remember(std::string_view name, std::string_view content, std::string_view sha256,
                uint64_t generation);
  // Reject records `sha256` as content of `name` that was reported invalid: Read returns
  // kUnchanged for it until the file changes again, so a broken file is reported once, not on
  // every look.
  void Reject(std::string_view name, std::string_view sha256);
  // Forget drops what the store knows of `name` and deletes its state file.
  void Forget(std::string_view name);
  // Known reports whether the store holds a content hash for `name`.
  bool Known(std::string_view name) const;
  // Names lists the auth file names now in the directory.
  absl::StatusOr<std::vector<std::string>> Names() const;
  // Report passes a report to the on_report callback.
  void Report(FileReport::Kind kind, std::string_view file, std::string_view detail) const;

  explicit FileStore(FileStoreOptions options);  // use Open

 private:
  absl::Status WriteAtomically(const std::string& name, std::string_view content);
  absl::StatusOr<std::string> ReadCurrent(const std::string& path) const;
  absl::Status CheckOutsideVersion(const std::string& name, std::string_view theirs) const;
  absl::Status SyncDirectory();
  void MergeState(Credential& credential, std::string_view sha256);

  const FileStoreOptions options_;
  const std::string directory_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::string> hashes_;        // file -> SHA-256 hex; mu_
  std::unordered_map<std::string, std::string> contents_;      // file -> that content; mu_
  // file -> the library's last version, while memory has not read back a merge yet; mu_
  std::unordered_map<std::string, std::string> pending_;
  std::unordered_map<std::string, std::string> state_hashes_;  // file -> state SHA-256; mu_
  std::unordered_map<std::string, uint64_t> generations_;      // file -> write generation; mu_
  std::unordered_set<std::string> mode_warned_;                // files warned about; mu_
  std::unordered_map<std::string, std::string> rejected_;      // file -> invalid content hash; mu_
  uint64_t temp_counter_ = 0;                                  // mu_
};

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_FILE_STORE_H_
