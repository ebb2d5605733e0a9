// host.h -- the interfaces a host implements for authrouter: where credentials are stored and
// what it wants to hear about.
//
// Every method here is called by authrouter outside its internal locks, so an implementation may
// call back into the Manager (see each method for the exceptions). Implementations must not throw;
// an exception that escapes anyway is turned into an InternalError status.
#ifndef AUTHROUTER_HOST_H_
#define AUTHROUTER_HOST_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "authrouter/credential.h"
#include "authrouter/log.h"
#include "authrouter/result.h"

namespace authrouter {
inline namespace v0 {

// StoreSkip is a stored record a Store could not turn into a credential, and why (never quoting
// its content).
struct StoreSkip {
  std::string name;    // the record's name in the store (a file name, an index)
  std::string reason;
};

// Store persists credentials. The Manager writes through it whenever a credential's persisted
// state changes (registration, update, a result that changed its health, a reset), so cooldowns
// survive a restart. It never writes a credential whose `runtime_only` attribute is
// "true" or whose metadata is empty (API keys from configuration), and never for a change that
// came from the store itself (WriteOptions::persist = false, Load).
//
// Thread-safety: calls for one Manager are serialised (one at a time, in the order the changes
// were made), but may come from any thread.
class Store {
 public:
  virtual ~Store() = default;

  // List returns every stored credential (Manager::Load). An error leaves the Manager unchanged.
  virtual absl::StatusOr<std::vector<Credential>> List() = 0;

  // ListReporting is List that also tells which stored records it skipped and why (Manager::Load
  // puts them in its LoadReport). The default calls List and reports nothing.
  virtual absl::StatusOr<std::vector<Credential>> ListReporting(std::vector<StoreSkip>* skipped) {
    (void)skipped;
    return List();
  }

  // Save stores `credential`, replacing the stored version. It must be atomic: after a crash
  // the store holds either the old or the new version. credential_json.h gives the JSON form.
  // For a change a caller asked for, Save runs before the change is published: an error here
  // means the change never happened. Saves run one at a time per Manager, in change order, and
  // always get the newest version of the credential.
  virtual absl::Status Save(const Credential& credential) = 0;

  // Delete removes the stored credential `id`; deleting a missing one is not an error.
  virtual absl::Status Delete(std::string_view id) = 0;
};

// Hooks hears about changes. Every method has an empty default. For one Manager the calls are
// serialised and in the order of the changes, so per credential they arrive in order.
//
// A hook may call back into the Manager (or another Manager). A change it makes is delivered
// after the hook returns, and that change's store error reaches OnStoreError only (the call made
// from the hook returns OK). IMPORTANT: a hook must not block waiting for another thread that
// itself calls this Manager: that thread waits for the hook to finish.
class Hooks {
 public:
  virtual ~Hooks() = default;

  // OnRegistered: a credential was registered (Load registers silently).
  virtual void OnRegistered(const std::shared_ptr<const Credential>& credential) {
    (void)credential;
  }
  // OnUpdated: a credential changed (Update, SetDisabled, a result, a reset, a reconcile).
  virtual void OnUpdated(const std::shared_ptr<const Credential>& credential) { (void)credential; }
  // OnRemoved: a credential was removed.
  virtual void OnRemoved(std::string_view id) { (void)id; }
  // OnResult: a result was recorded for credential `result.credential_id` (also when it changed
  // nothing). `credential` is the snapshot after the result. Not called for an unknown
  // credential (MarkResult returns NotFoundError instead; upstream called the hook anyway).
  virtual void OnResult(const Result& result, const std::shared_ptr<const Credential>& credential) {
    (void)result;
    (void)credential;
  }
  // OnStoreError: the store failed to save or delete credential `id`. For a change the caller
  // asked for (Register, Update, SetDisabled, Remove) nothing changed and the call returns
  // `error`; for a runtime change (a result, a refresh, models) the in-memory state stands.
  virtual void OnStoreError(std::string_view id, const absl::Status& error) {
    (void)id;
    (void)error;
  }
};

// Attempt is one upstream call Manager::Execute asks an Executor to make.
struct Attempt {
  const Credential& credential;  // the picked credential (valid for the call)
  std::string_view provider;     // its normalised provider
  std::string_view model;        // the route model as requested
  int round = 0;                 // retry round, from 0
  int index = 0;                 // attempt within the round, from 0
};

// Outcome is what the Executor reports about one upstream call.
struct Outcome {
  bool success = false;
  int http_status = 0;        // the upstream status; 0 for a transport failure
  std::string error_code;     // optional machine code ("empty_stream", "connection_lifecycle")
  std::string error_message;  // the upstream error text
  std::optional<absl::Duration> retry_after;  // the upstream Retry-After, if any
  // The caller went away during the call: nothing is recorded and Execute stops.
  bool cancelled = false;
  // Streaming: bytes already reached the client, so the request cannot move to another
  // credential; Execute records the result and stops.
  bool first_byte_sent = false;
  // Streaming: the stream ended before its first payload. Recorded as the retryable failure
  // "empty_stream" (status 0, which cools nothing) and the next credential is tried.
  bool empty_stream = false;
  // On a success: the ID of the response the upstream stored, as Result::response_id.
  std::string response_id;
};

// Executor makes upstream calls for Manager::Execute.
//
// Thread-safety: Execute is called on the thread that called Manager::Execute, outside every
// authrouter lock; it may call back into the Manager. It must not throw.
class Executor {
 public:
  virtual ~Executor() = default;

  // Execute makes one upstream call with `attempt.credential` and reports the outcome.
  virtual Outcome Execute(const Attempt& attempt) = 0;
};

}  // namespace v0
}  // namespace authrouter

#endif  // AUTHROUTER_HOST_H_
