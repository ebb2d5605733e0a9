/*
 * authrouter.h -- the stable C ABI of authrouter.
 *
 * authrouter decides which upstream credential (OAuth account or API key) serves each LLM API
 * request inside a gateway. This header is what libauthrouter.so exports: plain C99, usable from
 * C, C++, and through FFI from Rust, Go or Python. It includes only <stdint.h>, <stddef.h> and
 * <stdbool.h>. docs/ABI.md states the stability promise; docs/threading.md the threading rules.
 *
 * Conventions:
 *   - Strings are (pointer, length) pairs and need not be NUL-terminated; a NULL pointer with
 *     length 0 is the empty string. Strings the library returns are also NUL-terminated.
 *   - Fallible calls return an int32_t status (AUTHROUTER_OK = 0) and take an optional
 *     `authrouter_error **err` last: when non-NULL and the call fails, *err receives a detailed
 *     error the caller frees with authrouter_error_free. Out-parameters come first and are set
 *     to NULL/0 on failure.
 *   - Whatever the library allocates, the library frees: every object has a _free function that
 *     accepts NULL.
 *   - No C++ exception ever leaves the library.
 *
 * Version check (header against library), in the manner of sqlite3_libversion_number():
 *
 *   if (authrouter_version_number() / 10000 != AUTHROUTER_VERSION_MAJOR) { ... mismatch ... }
 */
#ifndef AUTHROUTER_AUTHROUTER_H_
#define AUTHROUTER_AUTHROUTER_H_

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "authrouter/authrouter_export.h"

/* The version of this header. CMake reads these three lines; keep their shape. */
#define AUTHROUTER_VERSION_MAJOR 0
#define AUTHROUTER_VERSION_MINOR 1
#define AUTHROUTER_VERSION_PATCH 0

/* AUTHROUTER_VERSION_NUMBER is major * 10000 + minor * 100 + patch. */
#define AUTHROUTER_VERSION_NUMBER \
  (AUTHROUTER_VERSION_MAJOR * 10000 + AUTHROUTER_VERSION_MINOR * 100 + AUTHROUTER_VERSION_PATCH)

#define AUTHROUTER_STRINGIFY_HELPER_(x) #x
#define AUTHROUTER_STRINGIFY_(x) AUTHROUTER_STRINGIFY_HELPER_(x)
/* AUTHROUTER_VERSION_STRING is "major.minor.patch". */
#define AUTHROUTER_VERSION_STRING                 \
  AUTHROUTER_STRINGIFY_(AUTHROUTER_VERSION_MAJOR) \
  "." AUTHROUTER_STRINGIFY_(AUTHROUTER_VERSION_MINOR) "." AUTHROUTER_STRINGIFY_(AUTHROUTER_VERSION_PATCH)

/* ---- status codes ---------------------------------------------------------------------------
 * Abseil's canonical codes (converting from absl::Status is a cast), then authrouter's own from
 * 100. Codes are only ever added, never renumbered or removed. */
#define AUTHROUTER_OK 0
#define AUTHROUTER_CANCELLED 1
#define AUTHROUTER_UNKNOWN 2
#define AUTHROUTER_INVALID_ARGUMENT 3
#define AUTHROUTER_DEADLINE_EXCEEDED 4
#define AUTHROUTER_NOT_FOUND 5
#define AUTHROUTER_ALREADY_EXISTS 6
#define AUTHROUTER_PERMISSION_DENIED 7
#define AUTHROUTER_RESOURCE_EXHAUSTED 8 /* e.g. model_cooldown (HTTP 429) */
#define AUTHROUTER_FAILED_PRECONDITION 9
#define AUTHROUTER_ABORTED 10
#define AUTHROUTER_OUT_OF_RANGE 11
#define AUTHROUTER_UNIMPLEMENTED 12
#define AUTHROUTER_INTERNAL 13
#define AUTHROUTER_UNAVAILABLE 14 /* e.g. auth_unavailable (HTTP 503) */
#define AUTHROUTER_DATA_LOSS 15
#define AUTHROUTER_UNAUTHENTICATED 16
#define AUTHROUTER_CALLBACK_FAILED 100 /* a host callback reported failure */
#define AUTHROUTER_SHUT_DOWN 101       /* the manager was shut down (authrouter_manager_shutdown) */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- version and status ------------------------------------------------------------------- */

/* authrouter_version_number returns the linked library's version (major * 10000 + minor * 100 +
 * patch). Thread-safe; never fails. */
AUTHROUTER_API int32_t authrouter_version_number(void);

/* authrouter_version_string returns the linked library's "major.minor.patch" (static). */
AUTHROUTER_API const char *authrouter_version_string(void);

/* authrouter_status_str returns a static, NUL-terminated name for a status code ("OK",
 * "INVALID_ARGUMENT", "CALLBACK_FAILED", ...; "UNRECOGNIZED" for others). */
AUTHROUTER_API const char *authrouter_status_str(int32_t code);

/* ---- errors ------------------------------------------------------------------------------- */

/* authrouter_error carries the details of a failure. Messages never contain secrets. */
typedef struct authrouter_error authrouter_error;

AUTHROUTER_API int32_t authrouter_error_code(const authrouter_error *err);
/* The message (NUL-terminated; *len, when len is non-NULL, receives its length). */
AUTHROUTER_API const char *authrouter_error_message(const authrouter_error *err, size_t *len);
/* Whether the same call may succeed later (a cooldown, an unavailable credential). */
AUTHROUTER_API bool authrouter_error_retryable(const authrouter_error *err);
/* For routing errors: the HTTP status to answer the client with (429, 503, 400); else 0. */
AUTHROUTER_API int32_t authrouter_error_http_status(const authrouter_error *err);
/* For model_cooldown and auth_busy, and for auth_unavailable when a blocked credential has a
 * retry time: the Retry-After in milliseconds; -1 when there is none. */
AUTHROUTER_API int64_t authrouter_error_retry_after_ms(const authrouter_error *err);
/* For routing errors: the machine code ("auth_not_found", "auth_unavailable",
 * "model_cooldown", "auth_busy", "provider_not_found"); "" otherwise. */
AUTHROUTER_API const char *authrouter_error_routing_code(const authrouter_error *err, size_t *len);
/* For routing errors: why the pick failed, as a machine name ("no_credentials", "all_disabled",
 * "model_not_served", "all_tried", "pinned_unknown", "pinned_not_serving", "all_cooling",
 * "all_unavailable", "all_busy", "selector", "no_provider", "no_executor"); "" otherwise. The message
 * (authrouter_error_message) says the same for people, naming the providers and the model. */
AUTHROUTER_API const char *authrouter_error_reason(const authrouter_error *err, size_t *len);
/* For routing errors: the upstream-compatible JSON body to answer the client with; "" otherwise. */
AUTHROUTER_API const char *authrouter_error_body(const authrouter_error *err, size_t *len);
AUTHROUTER_API void authrouter_error_free(authrouter_error *err);

/* ---- strings ------------------------------------------------------------------------------ */

typedef struct authrouter_string {
  const char *data; /* need not be NUL-terminated; NULL only with len 0 */
  size_t len;
} authrouter_string;

typedef struct authrouter_header {
  authrouter_string name;
  authrouter_string value;
} authrouter_header;

/* authrouter_string_free frees a string the library returned through a char** out-parameter. */
AUTHROUTER_API void authrouter_string_free(char *s);

/* authrouter_sink receives bytes from a host callback (the store's list, a refresher's tokens,
 * a transport's response body). */
typedef struct authrouter_sink authrouter_sink;
/* authrouter_sink_write appends `len` bytes. Returns AUTHROUTER_OK, or INVALID_ARGUMENT for a
 * NULL sink or data, RESOURCE_EXHAUSTED past the sink's limit (64 MiB). */
AUTHROUTER_API int32_t authrouter_sink_write(authrouter_sink *sink, const char *data, size_t len);

/* ---- credential views --------------------------------------------------------------------- */

/* authrouter_credential is an immutable snapshot of one credential. A view obtained from a pick
 * result or a callback belongs to it; one from authrouter_manager_get is freed by the caller. */
typedef struct authrouter_credential authrouter_credential;

AUTHROUTER_API const char *authrouter_credential_id(const authrouter_credential *c, size_t *len);
AUTHROUTER_API const char *authrouter_credential_provider(const authrouter_credential *c, size_t *len);
AUTHROUTER_API const char *authrouter_credential_label(const authrouter_credential *c, size_t *len);
AUTHROUTER_API const char *authrouter_credential_proxy_url(const authrouter_credential *c, size_t *len);
/* "active", "disabled", "error", ... */
AUTHROUTER_API const char *authrouter_credential_status(const authrouter_credential *c, size_t *len);
AUTHROUTER_API bool authrouter_credential_disabled(const authrouter_credential *c);
/* The attribute `key` ("priority", "api_key", "header:X-Foo", ...), or NULL when absent. */
AUTHROUTER_API const char *authrouter_credential_attribute(const authrouter_credential *c,
                                                           const char *key, size_t key_len,
                                                           size_t *len);
/* The metadata (tokens, e-mail, expiry, ...) as its JSON text ("{}" when empty). */
AUTHROUTER_API const char *authrouter_credential_metadata_json(const authrouter_credential *c,
                                                               size_t *len);
/* The whole record in its persisted JSON form, with every secret (tokens, API keys, client
 * secrets, authorization headers; in attributes and metadata) replaced by "[redacted]": a state
 * view safe to log. The host reads what it needs for the upstream call through
 * authrouter_credential_attribute and authrouter_credential_metadata_json. */
AUTHROUTER_API const char *authrouter_credential_json(const authrouter_credential *c, size_t *len);
/* Flags of the _ext calls that dump records. */
#define AUTHROUTER_INCLUDE_SECRETS 1u /* the full record, secrets included */
/* authrouter_credential_json_ext is authrouter_credential_json; with AUTHROUTER_INCLUDE_SECRETS
 * the full record (as the store writes it). */
AUTHROUTER_API const char *authrouter_credential_json_ext(const authrouter_credential *c,
                                                          uint32_t flags, size_t *len);
AUTHROUTER_API void authrouter_credential_free(authrouter_credential *c);

/* ---- host callbacks ------------------------------------------------------------------------
 * Each struct starts with `version` and ends with `user_data` and an optional `destroy`. Fields
 * are only ever appended. The library copies the struct when a call taking it succeeds (a call
 * that fails validation takes nothing: the caller still owns `user_data`), never dereferences
 * `user_data`, and calls `destroy(user_data)` exactly once when it no longer needs the callbacks
 * -- never under a lock, but possibly on a library thread. A NULL function pointer means "not
 * provided". Callbacks are never called while the library holds a lock (except the clock's
 * now_unix_ms, see below), may come from any thread (docs/threading.md), and must not unwind
 * (no C++ exceptions, no longjmp, no Go or Rust panics) across the library. A callback that
 * returns a non-zero status fails the operation with AUTHROUTER_CALLBACK_FAILED (refreshers and
 * transports may return the specific codes listed at their struct).
 *
 * Every versioned struct (callbacks, pick request, result, log) must be initialised with its
 * _INIT macro or _init function: one with version 0 (zero-initialised, e.g. by memset or a
 * language's default) is rejected with INVALID_ARGUMENT naming the macro.
 *
 * IMPORTANT: credential views, strings and sinks passed to a callback are valid only during that
 * call. */

/* A Store persists credentials (records in their JSON form). */
#define AUTHROUTER_STORE_VERSION 1
typedef struct authrouter_store {
  uint32_t version; /* AUTHROUTER_STORE_VERSION */
  /* list writes a JSON array of every stored credential record to `out`. */
  int32_t (*list)(void *user_data, authrouter_sink *out);
  /* save stores one record (replacing the stored version), atomically. */
  int32_t (*save)(void *user_data, const char *id, size_t id_len, const char *json, size_t json_len);
  /* remove deletes the stored record; a missing one is not an error. */
  int32_t (*remove)(void *user_data, const char *id, size_t id_len);
  void *user_data;
  void (*destroy)(void *user_data);
} authrouter_store;
#define AUTHROUTER_STORE_INIT {AUTHROUTER_STORE_VERSION, NULL, NULL, NULL, NULL, NULL}
AUTHROUTER_API void authrouter_store_init(authrouter_store *store);

/* A Clock gives the current time. Called with internal locks held: it must be quick and must
 * not call into authrouter. */
#define AUTHROUTER_CLOCK_VERSION 1
typedef struct authrouter_clock {
  uint32_t version;                        /* AUTHROUTER_CLOCK_VERSION */
  int64_t (*now_unix_ms)(void *user_data); /* milliseconds since 1970-01-01T00:00:00Z */
  /* Optional: wait `ms` in this clock's time (execute's waits between retry rounds). Without
   * it those waits use the real clock. Not called under a lock. */
  void (*sleep_ms)(void *user_data, int64_t ms);
  void *user_data;
  void (*destroy)(void *user_data);
} authrouter_clock;
#define AUTHROUTER_CLOCK_INIT {AUTHROUTER_CLOCK_VERSION, NULL, NULL, NULL, NULL}
AUTHROUTER_API void authrouter_clock_init(authrouter_clock *clock);

/* Hooks hear about changes, in order, one at a time per manager. */
#define AUTHROUTER_HOOKS_VERSION 1
typedef struct authrouter_hooks {
  uint32_t version; /* AUTHROUTER_HOOKS_VERSION */
  void (*on_registered)(void *user_data, const authrouter_credential *c);
  void (*on_updated)(void *user_data, const authrouter_credential *c);
  void (*on_removed)(void *user_data, const char *id, size_t id_len);
  /* A result was recorded: credential id, HTTP status, success. */
  void (*on_result)(void *user_data, const authrouter_credential *c, int32_t http_status,
                    bool success);
  /* The store failed to save or delete `id`. */
  void (*on_store_error)(void *user_data, const char *id, size_t id_len, int32_t code,
                         const char *message, size_t message_len);
  void *user_data;
  void (*destroy)(void *user_data);
} authrouter_hooks;
#define AUTHROUTER_HOOKS_INIT {AUTHROUTER_HOOKS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL}
AUTHROUTER_API void authrouter_hooks_init(authrouter_hooks *hooks);

/* A Selector takes part in a pick (authrouter/selector.h has the full rules):
 *   mode AUTHROUTER_SELECTOR_SELECT (0, the default): `select` picks among the available
 *     credentials of the best priority tier instead of the built-in strategy.
 *   mode AUTHROUTER_SELECTOR_DECIDE (1) or AUTHROUTER_SELECTOR_DECIDE_ALL_TIERS (2): a policy.
 *     `decide` sees secret-free candidates (ID, provider, label, priority, weight, ...) of the
 *     best tier or of every available tier (best first, by ID within a tier) and fills
 *     `decision`: DELEGATE (the default: the built-in strategy picks), PICK one candidate,
 *     EXCLUDE some (set their bytes of `decision->exclude` to 1; the built-in strategy picks
 *     among the rest), or REJECT the request with `reject_http_status` (400..599) and
 *     `reject_message` (NUL-terminated), which fails the pick with error "selector_rejected".
 *     A non-zero return, an index that is no candidate, or a reject without a 4xx/5xx status
 *     is reported to the log and the built-in strategy answers instead; so does a call longer
 *     than the options' selector budget (authrouter_options_set_selector_budget_ms).
 * With session affinity on, a selector's picks bind like the strategy's. `stop`, when set, is
 * called once when the manager lets go of the selector (authrouter_manager_shutdown, or
 * authrouter_manager_free without it), outside the library's locks; a pick that started
 * before may still call the selector meanwhile. Fields after `destroy` are version 2. */
#define AUTHROUTER_SELECTOR_VERSION 2
#define AUTHROUTER_SELECTOR_SELECT 0
#define AUTHROUTER_SELECTOR_DECIDE 1
#define AUTHROUTER_SELECTOR_DECIDE_ALL_TIERS 2

/* A policy's view of one candidate: never a token or other secret. Valid for the call. */
typedef struct authrouter_select_candidate {
  const char *id;
  size_t id_len;
  const char *provider; /* the normalised provider key */
  size_t provider_len;
  const char *label;
  size_t label_len;
  int64_t priority;
  int64_t weight;
  bool websockets;
} authrouter_select_candidate;

/* One priority tier of the candidates: candidates[first, first + count). */
typedef struct authrouter_select_tier {
  int64_t priority;
  size_t first;
  size_t count;
} authrouter_select_tier;

#define AUTHROUTER_SELECT_DELEGATE 0
#define AUTHROUTER_SELECT_PICK 1
#define AUTHROUTER_SELECT_EXCLUDE 2
#define AUTHROUTER_SELECT_REJECT 3

/* What `decide` answers. The library zeroes it (DELEGATE) and provides `exclude`. */
typedef struct authrouter_select_decision {
  int32_t action;             /* AUTHROUTER_SELECT_* */
  size_t pick;                /* PICK: an index into the candidates */
  uint8_t *exclude;           /* EXCLUDE: candidate_count bytes, 0; set 1 to exclude one */
  int32_t reject_http_status; /* REJECT: 400..599 */
  char reject_message[512];   /* REJECT: NUL-terminated; empty: "rejected by the routing policy" */
} authrouter_select_decision;

typedef struct authrouter_selector {
  uint32_t version; /* AUTHROUTER_SELECTOR_VERSION */
  /* select sets *chosen to an index into `candidates` (never empty: the available credentials of
   * the best priority tier, sorted by ID). `provider` is "mixed" for a multi-provider pick.
   * Required in mode SELECT; unused otherwise. */
  int32_t (*select)(void *user_data, const char *provider, size_t provider_len, const char *model,
                    size_t model_len, const authrouter_credential *const *candidates,
                    size_t candidate_count, size_t *chosen);
  void *user_data;
  void (*destroy)(void *user_data);
  /* version 2 */
  uint32_t mode; /* AUTHROUTER_SELECTOR_SELECT, _DECIDE or _DECIDE_ALL_TIERS */
  /* Required in the DECIDE modes. `candidates` is never empty. */
  int32_t (*decide)(void *user_data, const char *provider, size_t provider_len, const char *model,
                    size_t model_len, const authrouter_select_candidate *candidates,
                    size_t candidate_count, const authrouter_select_tier *tiers, size_t tier_count,
                    authrouter_select_decision *decision);
  void (*stop)(void *user_data);
} authrouter_selector;
#define AUTHROUTER_SELECTOR_INIT {AUTHROUTER_SELECTOR_VERSION, NULL, NULL, NULL, 0, NULL, NULL}
AUTHROUTER_API void authrouter_selector_init(authrouter_selector *selector);

/* A Refresher obtains fresh tokens for a credential. It writes a JSON object to `out`:
 * {"access_token": "...", "refresh_token": "...", "expires_at": "<RFC 3339>" or
 * "expires_in": <seconds>, "id_token": "...", "token_type": "..."} (access_token required).
 * Return AUTHROUTER_OK, or AUTHROUTER_UNAUTHENTICATED when the refresh token is dead (the
 * credential is marked unauthorized and no longer refreshed), AUTHROUTER_CANCELLED to record
 * nothing, or any other code for a temporary failure (retried after 5 min). */
#define AUTHROUTER_REFRESHER_VERSION 1
typedef struct authrouter_refresher {
  uint32_t version; /* AUTHROUTER_REFRESHER_VERSION */
  int32_t (*refresh)(void *user_data, const authrouter_credential *c, int64_t timeout_ms,
                     authrouter_sink *out);
  void *user_data;
  void (*destroy)(void *user_data);
} authrouter_refresher;
#define AUTHROUTER_REFRESHER_INIT {AUTHROUTER_REFRESHER_VERSION, NULL, NULL, NULL}
AUTHROUTER_API void authrouter_refresher_init(authrouter_refresher *refresher);

/* A Transport makes the HTTP calls of the built-in OAuth2 refresher (refresh-profiles in the
 * config). It sets *status and writes the response body to `body`. Return AUTHROUTER_OK for any
 * HTTP status; AUTHROUTER_DEADLINE_EXCEEDED for a timeout, AUTHROUTER_UNAVAILABLE for a
 * connection failure. */
#define AUTHROUTER_TRANSPORT_VERSION 1
typedef struct authrouter_transport {
  uint32_t version; /* AUTHROUTER_TRANSPORT_VERSION */
  int32_t (*send)(void *user_data, const char *method, size_t method_len, const char *url,
                  size_t url_len, const authrouter_header *headers, size_t header_count,
                  const char *body, size_t body_len, int64_t timeout_ms, const char *proxy_url,
                  size_t proxy_url_len, int32_t *status, authrouter_sink *response_body);
  void *user_data;
  void (*destroy)(void *user_data);
} authrouter_transport;
#define AUTHROUTER_TRANSPORT_INIT {AUTHROUTER_TRANSPORT_VERSION, NULL, NULL, NULL}
AUTHROUTER_API void authrouter_transport_init(authrouter_transport *transport);

/* An Executor makes the upstream call for authrouter_manager_execute. It is called on the thread
 * that called execute, and fills `outcome`. The library allocates and zero-initialises the
 * outcome and sets its version to the one it was built with: an executor writes a field added in
 * version N only when outcome->version >= N (a library older than the executor's header passes a
 * smaller struct). */
#define AUTHROUTER_OUTCOME_VERSION 2
typedef struct authrouter_outcome {
  uint32_t version;      /* set by the library; at least 1 */
  bool success;
  int32_t http_status;   /* 0 for a transport failure */
  int64_t retry_after_ms; /* the upstream Retry-After; -1 when none */
  bool cancelled;        /* the client went away: nothing is recorded, execute stops */
  bool first_byte_sent;  /* streaming: bytes reached the client; no failover */
  bool empty_stream;     /* streaming: ended before its first payload */
  char error_message[512]; /* NUL-terminated upstream error text (truncated) */
  /* version 2: on a success, the NUL-terminated ID of the response the upstream stored (the
   * Responses API's "id"), so that a later request naming it as previous_response_id goes to
   * the same credential; "" for none. An ID that does not fit, or that has a control character
   * or invalid UTF-8, is not recorded (the outcome still counts). */
  char response_id[256];
} authrouter_outcome;

#define AUTHROUTER_EXECUTOR_VERSION 1
typedef struct authrouter_executor {
  uint32_t version; /* AUTHROUTER_EXECUTOR_VERSION */
  int32_t (*execute)(void *user_data, const authrouter_credential *c, const char *provider,
                     size_t provider_len, const char *model, size_t model_len, int32_t round,
                     int32_t attempt, authrouter_outcome *outcome);
  void *user_data;
  void (*destroy)(void *user_data);
} authrouter_executor;
#define AUTHROUTER_EXECUTOR_INIT {AUTHROUTER_EXECUTOR_VERSION, NULL, NULL, NULL}
AUTHROUTER_API void authrouter_executor_init(authrouter_executor *executor);

/* A Log callback hears diagnostics: unknown or misspelt config keys (with the nearest valid
 * key), auth files skipped or invalid and why, credential files readable by others, rejected
 * config reloads, store errors, refresh failures, what a load loaded and skipped. Messages never
 * contain a token, key or secret. Called from any thread (also concurrently), never while the
 * library holds a lock; it may call into authrouter. Messages below `min_level` are not sent. */
#define AUTHROUTER_LOG_DEBUG 0
#define AUTHROUTER_LOG_INFO 1
#define AUTHROUTER_LOG_WARNING 2
#define AUTHROUTER_LOG_ERROR 3
#define AUTHROUTER_LOG_VERSION 1
typedef struct authrouter_log {
  uint32_t version;  /* AUTHROUTER_LOG_VERSION */
  int32_t min_level; /* AUTHROUTER_LOG_*; the _INIT default is AUTHROUTER_LOG_INFO */
  /* `component`: "config", "store", "watcher", "manager", "refresh", "results". */
  void (*log)(void *user_data, int32_t level, const char *component, size_t component_len,
              const char *message, size_t message_len);
  void *user_data;
  void (*destroy)(void *user_data);
} authrouter_log;
#define AUTHROUTER_LOG_INIT {AUTHROUTER_LOG_VERSION, AUTHROUTER_LOG_INFO, NULL, NULL, NULL}
AUTHROUTER_API void authrouter_log_init(authrouter_log *log);

/* ---- options ------------------------------------------------------------------------------ */

/* authrouter_options collects what a manager is created with. Not thread-safe; a manager copies
 * what it needs, so options may be freed (or reused) right after authrouter_manager_new. */
typedef struct authrouter_options authrouter_options;

AUTHROUTER_API int32_t authrouter_options_new(authrouter_options **out, authrouter_error **err);
AUTHROUTER_API void authrouter_options_free(authrouter_options *options);
/* apply_config takes the configuration file's JSON (config.h: routing.strategy,
 * routing.session-affinity, request-retry, ..., refresh-profiles, auth-dir). */
AUTHROUTER_API int32_t authrouter_options_apply_config(authrouter_options *options,
                                                       const char *json, size_t json_len,
                                                       authrouter_error **err);
/* load_config_file reads the configuration file at `path` (as apply_config), and makes the
 * manager watch it: once started (authrouter_manager_start), every change to the file is applied
 * (hot reload: only what changed; a rejected file leaves the running configuration and is
 * reported to the log). A relative auth-dir in it is relative to the current directory. Returns
 * NOT_FOUND / PERMISSION_DENIED when the file cannot be read, INVALID_ARGUMENT with the key path
 * for a bad value. */
AUTHROUTER_API int32_t authrouter_options_load_config_file(authrouter_options *options,
                                                           const char *path, size_t path_len,
                                                           authrouter_error **err);
/* set_log installs the diagnostics callback (see authrouter_log). */
AUTHROUTER_API int32_t authrouter_options_set_log(authrouter_options *options,
                                                  const authrouter_log *log,
                                                  authrouter_error **err);
/* use_file_store makes the manager persist to an auth directory of credential files (created
 * if missing); len 0 means the config's auth-dir (default ~/.cli-proxy-api). */
AUTHROUTER_API int32_t authrouter_options_use_file_store(authrouter_options *options,
                                                         const char *directory,
                                                         size_t directory_len,
                                                         authrouter_error **err);
AUTHROUTER_API int32_t authrouter_options_set_store(authrouter_options *options,
                                                    const authrouter_store *store,
                                                    authrouter_error **err);
AUTHROUTER_API int32_t authrouter_options_set_clock(authrouter_options *options,
                                                    const authrouter_clock *clock,
                                                    authrouter_error **err);
AUTHROUTER_API int32_t authrouter_options_set_hooks(authrouter_options *options,
                                                    const authrouter_hooks *hooks,
                                                    authrouter_error **err);
/* set_selector_budget_ms bounds one select or decide call (1..3600000 ms; default 100): a
 * longer one is reported and the built-in strategy answers. */
AUTHROUTER_API int32_t authrouter_options_set_selector_budget_ms(authrouter_options *options,
                                                                 int64_t budget_ms,
                                                                 authrouter_error **err);
AUTHROUTER_API int32_t authrouter_options_set_selector(authrouter_options *options,
                                                       const authrouter_selector *selector,
                                                       authrouter_error **err);
AUTHROUTER_API int32_t authrouter_options_set_transport(authrouter_options *options,
                                                        const authrouter_transport *transport,
                                                        authrouter_error **err);
/* add_refresher registers a refresher for `provider` (len 0: for every provider without one). */
AUTHROUTER_API int32_t authrouter_options_add_refresher(authrouter_options *options,
                                                        const char *provider, size_t provider_len,
                                                        const authrouter_refresher *refresher,
                                                        authrouter_error **err);

/* set_session_affinity_max_entries bounds the session bindings kept (1..100000000; oldest
 * conversations dropped first), overriding the configuration's
 * routing.session-affinity-max-entries when the manager is created; a later reload that changes
 * that key applies the configuration's value. Each binding holds about 175 bytes plus its key
 * (provider, session ID and model; up to about 290 bytes): about 430 MB at the default
 * 1000000 with 256-byte keys. Returns INVALID_ARGUMENT for 0 or a larger bound. */
AUTHROUTER_API int32_t authrouter_options_set_session_affinity_max_entries(
    authrouter_options *options, uint64_t max_entries, authrouter_error **err);

/* set_metrics turns counting on or off (default on) and chooses per-credential series:
 * AUTHROUTER_METRICS_CREDENTIALS_OFF (default), _ID (labelled by credential ID) or _HASH
 * (labelled "h:" and the first 16 hex digits of the ID's SHA-256). Per-credential series cost
 * each pick a mutex. Returns INVALID_ARGUMENT for another value. */
#define AUTHROUTER_METRICS_CREDENTIALS_OFF 0u
#define AUTHROUTER_METRICS_CREDENTIALS_ID 1u
#define AUTHROUTER_METRICS_CREDENTIALS_HASH 2u
AUTHROUTER_API int32_t authrouter_options_set_metrics(authrouter_options *options, bool enabled,
                                                      uint32_t credential_series,
                                                      authrouter_error **err);

/* set_cooldown_policy sets how failures exclude credentials and how they come back (the config's
 * `cooldowns` keys; health.h), for `provider` (NULL or "": the default of every provider without
 * its own):
 *   max_cooldown_ms       the longest cooldown a Retry-After may set (1 s .. 30 days; default 6 h)
 *   probe_interval_ms     one half-open probe per interval of a longer cooldown (0: none, or
 *                         1 s .. 30 days; default 5 min)
 *   probe_when_exhausted  probe only when no other credential is ready (default false)
 *   max_ejection_percent  the largest share of a (provider, model) pool excluded for non-quota
 *                         errors (0..100; default 50; 100 is upstream's)
 *   consecutive_*         failures in a row of the class before one excludes (1..1000; default 1)
 * Returns INVALID_ARGUMENT (and changes nothing) for a value out of range. */
AUTHROUTER_API int32_t authrouter_options_set_cooldown_policy(
    authrouter_options *options, const char *provider, int64_t max_cooldown_ms,
    int64_t probe_interval_ms, bool probe_when_exhausted, int32_t max_ejection_percent,
    int32_t consecutive_auth_failures, int32_t consecutive_not_found_failures,
    int32_t consecutive_transient_failures, authrouter_error **err);

/* set_leases sets concurrency limits (the config's `leases` keys; health.h): the max-in-flight of
 * every credential whose record sets none and the same per model (0..1000; 0 unlimited; default
 * 0), how long a lease never returned holds its place (1 s .. 24 h; default 10 min), the
 * Retry-After of auth_busy (1 s .. 1 h; default 1 s), and the least-in-flight tie-break.
 * Returns INVALID_ARGUMENT (and changes nothing) for a value out of range. */
AUTHROUTER_API int32_t authrouter_options_set_leases(authrouter_options *options, int64_t max_in_flight,
                                                     int64_t max_in_flight_per_model, int64_t ttl_ms,
                                                     int64_t busy_retry_after_ms, bool least_in_flight,
                                                     authrouter_error **err);

/* How limits hold across replicas (leases.fleet; health.h FleetLeases). EXACT (the default):
 * with a shared state each pick of a limited credential also takes a place in it, one round trip;
 * SHARE: each replica enforces floor(limit / replicas), at least 1, no round trip; LOCAL: each
 * replica enforces every limit alone. set_leases keeps these. */
#define AUTHROUTER_FLEET_LEASES_EXACT 0
#define AUTHROUTER_FLEET_LEASES_SHARE 1
#define AUTHROUTER_FLEET_LEASES_LOCAL 2
/* set_fleet_leases sets the mode and the replicas a SHARE limit is divided among (1..1000).
 * Returns INVALID_ARGUMENT (and changes nothing) for an unknown mode or a count out of range. */
AUTHROUTER_API int32_t authrouter_options_set_fleet_leases(authrouter_options *options, int32_t mode,
                                                           int64_t replicas, authrouter_error **err);

/* ---- shared state across replicas ----------------------------------------------------------
 * Several gateway replicas share cooldowns, session bindings and disable/enable (the C++
 * authrouter/shared_state.h has the rules; docs/shared-state.md the Redis keys). Either the
 * built-in Redis client (use_redis, or the config's shared-state.redis.*), or the host's own
 * client through authrouter_shared_state callbacks. */

/* use_redis shares state over Redis at `url` ("redis://[user[:password]@]host[:port][/db]" or
 * "unix:///path/redis.sock[?db=N]"), with the config's shared-state.redis.* settings for the rest
 * (prefix "authrouter:", timeout 200 ms, ... by default). The connection is made in the
 * background: picks work on local state until it is up and whenever it is down (degraded,
 * reported to the log). Returns INVALID_ARGUMENT for a malformed URL (never quoting a password). */
AUTHROUTER_API int32_t authrouter_options_use_redis(authrouter_options *options, const char *url,
                                                    size_t url_len, authrouter_error **err);

/* The listener a host's shared state tells what other replicas published. Valid from `attach`
 * until `detach` returns. */
typedef struct authrouter_shared_listener authrouter_shared_listener;

/* A host's own shared state. The library calls it outside its locks. The publish functions must
 * queue and return at once (they run on request threads); read and lookup_binding wait at most
 * `timeout_ms`. A health state is the shared JSON form (authrouter/shared_state.h:
 * {"state":{"status":...,"unavailable":...,"next_retry_after":...},"failure_streak":N}), carried
 * as opaque text; a clean state is published too (store it: it keeps its updated_at). Deliver
 * every notice, this manager's own included, in the order they were stored (a manager that never
 * hears its own ignores the others' changes of an entry for 2 s after each change of its own). One struct serves
 * one manager (a second authrouter_manager_new with the same options fails). attach and detach
 * are called under the adapter's own mutex, never under a manager lock. All functions but
 * destroy are required. */
#define AUTHROUTER_SHARED_STATE_VERSION 1
typedef struct authrouter_shared_state {
  uint32_t version; /* AUTHROUTER_SHARED_STATE_VERSION */
  /* From now on, tell `listener` (authrouter_shared_listener_*) what other replicas publish, and
   * call authrouter_shared_listener_resync once connected (and after every reconnect). */
  void (*attach)(void *user_data, authrouter_shared_listener *listener);
  /* Stop: once detach returns, `listener` is not used again. */
  void (*detach)(void *user_data, authrouter_shared_listener *listener);
  /* Write the health of (credential `id`, canonical `model`; "" for the credential itself) and
   * tell the other replicas. */
  int32_t (*publish_health)(void *user_data, const char *id, size_t id_len, const char *model,
                            size_t model_len, const char *state_json, size_t state_len);
  /* Write and announce the operator flag of `id`, changed at `at_unix_ms`. */
  int32_t (*publish_disabled)(void *user_data, const char *id, size_t id_len, bool disabled,
                              int64_t at_unix_ms);
  /* Write to `out` what is held for `id`: {"health": {"<model>": <state>, ...}, "disabled":
   * true | false | null, "disabled_at_ms": <the at_unix_ms it was published with>}. */
  int32_t (*read)(void *user_data, const char *id, size_t id_len, int64_t timeout_ms,
                  authrouter_sink *out);
  /* Bind session key `key` to credential `id` for `ttl_ms`. */
  int32_t (*publish_binding)(void *user_data, const char *key, size_t key_len, const char *id,
                             size_t id_len, int64_t ttl_ms);
  /* Write the credential `key` is bound to into `out` (nothing when none). */
  int32_t (*lookup_binding)(void *user_data, const char *key, size_t key_len, int64_t timeout_ms,
                            authrouter_sink *out);
  /* Fleet leases (leases.fleet "exact"). Take one of the `limit` places of credential `id` (with
   * `model` non-empty: of that canonical model of it) across the fleet until `expires_ms`;
   * places whose expiry is not after `now_ms` are free. Taken: write a non-empty token naming
   * the place into `token` and return 0. Every place held: write nothing and return 0. Times
   * are Unix milliseconds of the manager's clock. Another code: no answer (the pick goes on with
   * the local place alone). */
  int32_t (*acquire_lease)(void *user_data, const char *id, size_t id_len, const char *model,
                           size_t model_len, uint32_t limit, int64_t now_ms, int64_t expires_ms,
                           int64_t timeout_ms, authrouter_sink *token);
  /* Give the place `token` took back (queue it). */
  int32_t (*release_lease)(void *user_data, const char *id, size_t id_len, const char *model,
                           size_t model_len, const char *token, size_t token_len);
  /* Refresh as one flight. Take the refresh lock of `id` until `expires_ms` unless another
   * holder's expiry is after `now_ms`; a taken lock gets a fencing token larger than every one
   * before. Write {"acquired": bool, "fence": N, "version": N, "fingerprint": "...",
   * "holder_expires_ms": N} to `out`: version and fingerprint as the last complete_refresh
   * stored them (0 and "" before any), holder_expires_ms the holder's expiry when not acquired. */
  int32_t (*acquire_refresh_lock)(void *user_data, const char *id, size_t id_len, int64_t now_ms,
                                  int64_t expires_ms, int64_t timeout_ms, authrouter_sink *out);
  /* If `fence` is still the latest fencing token of `id`: add one to its version, store
   * `fingerprint` and `tokens` (a secret: "" unless tokens are shared), release the lock,
   * announce the version (authrouter_shared_listener_token on every replica), write the new
   * version to `*version` and return 0. Else change nothing and return
   * AUTHROUTER_FAILED_PRECONDITION (fenced off). */
  int32_t (*complete_refresh)(void *user_data, const char *id, size_t id_len, uint64_t fence,
                              const char *fingerprint, size_t fingerprint_len, const char *tokens,
                              size_t tokens_len, int64_t timeout_ms, uint64_t *version);
  /* Release the lock `fence` took, if no other holder took it since (queue it). */
  int32_t (*release_refresh_lock)(void *user_data, const char *id, size_t id_len, uint64_t fence);
  /* Write {"version": N, "fingerprint": "...", "tokens": "<the stored tokens, as a JSON string>"}
   * for `id` to `out`. */
  int32_t (*read_token)(void *user_data, const char *id, size_t id_len, int64_t timeout_ms,
                        authrouter_sink *out);
  void *user_data;
  void (*destroy)(void *user_data);
} authrouter_shared_state;
#define AUTHROUTER_SHARED_STATE_INIT                                                            \
  {AUTHROUTER_SHARED_STATE_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, \
   NULL, NULL, NULL, NULL, NULL}
AUTHROUTER_API void authrouter_shared_state_init(authrouter_shared_state *shared);

/* set_shared_state installs the host's shared state (instead of use_redis or the config's
 * shared-state.redis; with both, authrouter_manager_new fails with INVALID_ARGUMENT). */
AUTHROUTER_API int32_t authrouter_options_set_shared_state(authrouter_options *options,
                                                           const authrouter_shared_state *shared,
                                                           authrouter_error **err);

/* What the host's shared state heard from other replicas. Each returns INVALID_ARGUMENT for a
 * malformed state (counted as rejected; nothing applied) or a NULL argument. `state_len` 0 is
 * also read as a clean state. Call them from the host's own threads, one at a time. */
AUTHROUTER_API int32_t authrouter_shared_listener_health(authrouter_shared_listener *listener,
                                                         const char *id, size_t id_len,
                                                         const char *model, size_t model_len,
                                                         const char *state_json, size_t state_len,
                                                         authrouter_error **err);
AUTHROUTER_API int32_t authrouter_shared_listener_disabled(authrouter_shared_listener *listener,
                                                           const char *id, size_t id_len,
                                                           bool disabled, authrouter_error **err);
/* token: a replica refreshed credential `id` to token `version` (complete_refresh). */
AUTHROUTER_API int32_t authrouter_shared_listener_token(authrouter_shared_listener *listener,
                                                        const char *id, size_t id_len,
                                                        uint64_t version, authrouter_error **err);
/* resync: (re)connected; the manager reads every credential back (the read callback) and
 * publishes what the shared state lacks. Blocks for those reads. Returns UNAVAILABLE when a
 * read failed before the end: resync again later. */
AUTHROUTER_API int32_t authrouter_shared_listener_resync(authrouter_shared_listener *listener,
                                                         authrouter_error **err);

/* ---- the manager -------------------------------------------------------------------------- */

/* authrouter_manager is the credential pool. Safe for concurrent use from any number of threads
 * without external synchronisation. */
typedef struct authrouter_manager authrouter_manager;

AUTHROUTER_API int32_t authrouter_manager_new(authrouter_manager **out,
                                              const authrouter_options *options,
                                              authrouter_error **err);
/* free stops the background work and frees the manager. No other call on it may be running or
 * start (caller error; docs/ABI.md). Accepts NULL. */
AUTHROUTER_API void authrouter_manager_free(authrouter_manager *m);
/* shutdown stops the background work (refresh loop, directory watcher, session sweeper); every
 * later call except free returns AUTHROUTER_SHUT_DOWN. Calls already running on other threads
 * finish normally. Idempotent. */
AUTHROUTER_API int32_t authrouter_manager_shutdown(authrouter_manager *m);

/* apply_config applies a new configuration (hot reload: only what changed; bindings and
 * cooldowns stay). A rejected config changes nothing. `auth-dir` is not re-applied (it takes
 * effect for a new manager). */
AUTHROUTER_API int32_t authrouter_manager_apply_config(authrouter_manager *m, const char *json,
                                                       size_t json_len, authrouter_error **err);

/* load replaces every credential with the store's list (startup). Files or records it had to
 * skip are reported to the log with the reason; authrouter_manager_load_report returns them. */
AUTHROUTER_API int32_t authrouter_manager_load(authrouter_manager *m, authrouter_error **err);
/* load_report is load that also returns what it did, as JSON (free with authrouter_string_free):
 * {"loaded": ["claude-a.json", ...], "skipped": [{"name": "bad.json", "reason": "..."}]}. */
AUTHROUTER_API int32_t authrouter_manager_load_report(authrouter_manager *m, char **out_json,
                                                      size_t *out_len, authrouter_error **err);

/* register adds (or replaces) a credential given as its JSON record:
 * {"id": "...", "provider": "claude", "attributes": {...}, "metadata": {...}, ...}.
 * "provider" is required (INVALID_ARGUMENT names what is missing; an auth file's own form, with
 * "type", belongs in the auth directory, not here). Without "id" a random one is made: use
 * authrouter_manager_register_ext to learn it. */
AUTHROUTER_API int32_t authrouter_manager_register(authrouter_manager *m, const char *json,
                                                   size_t json_len, authrouter_error **err);
/* register_ext is register that returns the credential's ID in *out_id (free with
 * authrouter_string_free; may be NULL when not wanted). */
AUTHROUTER_API int32_t authrouter_manager_register_ext(authrouter_manager *m, const char *json,
                                                       size_t json_len, char **out_id,
                                                       size_t *out_id_len, authrouter_error **err);
/* update replaces an existing credential (NOT_FOUND when unknown); runtime state carries over. */
AUTHROUTER_API int32_t authrouter_manager_update(authrouter_manager *m, const char *json,
                                                 size_t json_len, authrouter_error **err);
/* patch changes some fields of a credential without losing a change made meanwhile: `patch`
 * is a JSON merge patch (RFC 7386) over the credential's JSON record, applied to the record as
 * it is when the change is committed, then committed as update commits it (the store first,
 * all-or-nothing). Use it instead of get, change, update: an update with a record read before
 * the auth-directory watcher applied a re-login's new tokens, or before a refresh, puts the
 * older tokens back. Members set to null are removed; objects ("metadata", "attributes") merge
 * member by member:
 *   {"metadata": {"note": "team-a"}, "attributes": {"priority": "2"}, "label": null}
 * NOT_FOUND when the ID is unknown; INVALID_ARGUMENT when the patch is not a JSON object, has a
 * key twice in one object, changes "id", or makes an invalid record (the message names the
 * field). */
AUTHROUTER_API int32_t authrouter_manager_patch(authrouter_manager *m, const char *id,
                                                size_t id_len, const char *patch,
                                                size_t patch_len, authrouter_error **err);
AUTHROUTER_API int32_t authrouter_manager_remove(authrouter_manager *m, const char *id,
                                                 size_t id_len, authrouter_error **err);
AUTHROUTER_API int32_t authrouter_manager_set_disabled(authrouter_manager *m, const char *id,
                                                       size_t id_len, bool disabled,
                                                       authrouter_error **err);

/* set_cooldown_policy and set_leases change the health settings of a running manager (hot
 * reload; the parameters are authrouter_options_set_cooldown_policy's and _set_leases'). A
 * policy set for one provider replaces that provider's; one set with provider NULL or "" replaces
 * the default. Limits apply at once (leases held keep counting); probes and max-ejection-percent
 * re-evaluate every pool at once. Returns INVALID_ARGUMENT (and changes nothing) for a value out
 * of range. */
AUTHROUTER_API int32_t authrouter_manager_set_cooldown_policy(
    authrouter_manager *m, const char *provider, int64_t max_cooldown_ms, int64_t probe_interval_ms,
    bool probe_when_exhausted, int32_t max_ejection_percent, int32_t consecutive_auth_failures,
    int32_t consecutive_not_found_failures, int32_t consecutive_transient_failures,
    authrouter_error **err);
AUTHROUTER_API int32_t authrouter_manager_set_leases(authrouter_manager *m, int64_t max_in_flight,
                                                     int64_t max_in_flight_per_model, int64_t ttl_ms,
                                                     int64_t busy_retry_after_ms, bool least_in_flight,
                                                     authrouter_error **err);
AUTHROUTER_API int32_t authrouter_manager_set_fleet_leases(authrouter_manager *m, int32_t mode,
                                                           int64_t replicas, authrouter_error **err);
/* in_flight returns the leases credential `id` holds now (0 for an unlimited or unknown
 * credential, and for NULL arguments). */
AUTHROUTER_API uint32_t authrouter_manager_in_flight(const authrouter_manager *m, const char *id);
/* get returns a view the caller frees with authrouter_credential_free (NOT_FOUND when unknown). */
AUTHROUTER_API int32_t authrouter_manager_get(authrouter_manager *m, authrouter_credential **out,
                                              const char *id, size_t id_len,
                                              authrouter_error **err);
/* list returns a JSON array of every credential record, sorted by ID, secrets redacted (as
 * authrouter_credential_json; free with authrouter_string_free). */
AUTHROUTER_API int32_t authrouter_manager_list(authrouter_manager *m, char **out_json,
                                               size_t *out_len, authrouter_error **err);
/* list_ext is list; with AUTHROUTER_INCLUDE_SECRETS the full records. */
AUTHROUTER_API int32_t authrouter_manager_list_ext(authrouter_manager *m, uint32_t flags,
                                                   char **out_json, size_t *out_len,
                                                   authrouter_error **err);
/* state_view returns the redacted JSON view of the pool for operators (as Manager::StateView:
 * per credential its state, cooldowns with their end and cause, quota backoff, served models,
 * token expiry, refresh times and bound sessions; never a token, key, metadata or upstream
 * message; the format is in docs/observability.md). Free with authrouter_string_free. */
AUTHROUTER_API int32_t authrouter_manager_state_view(authrouter_manager *m, char **out_json,
                                                     size_t *out_len, authrouter_error **err);
/* metrics returns every counter and gauge (the families, labels and meanings are in
 * docs/observability.md): with AUTHROUTER_METRICS_PROMETHEUS the Prometheus text exposition a
 * host serves on its /metrics (Content-Type: text/plain; version=0.0.4), with
 * AUTHROUTER_METRICS_JSON the snapshot as JSON ({"taken_at", "families": [{"name", "help",
 * "type", "samples": [{"name", "labels", "value"}]}]}). No label holds a secret. Free with
 * authrouter_string_free. */
#define AUTHROUTER_METRICS_PROMETHEUS 0u
#define AUTHROUTER_METRICS_JSON 1u
AUTHROUTER_API int32_t authrouter_manager_metrics(authrouter_manager *m, uint32_t format,
                                                  char **out, size_t *out_len,
                                                  authrouter_error **err);
/* shared_stats returns the shared state's counters as JSON (free with authrouter_string_free):
 * {"connected": bool, "published", "publish_failures", "received", "rejected", "lookups",
 * "lookup_hits", "lookup_timeouts", "reconnects", "resyncs"}; NOT_FOUND without shared state.
 * (For the built-in Redis client; a host's own shared state counts what the library sees.) */
AUTHROUTER_API int32_t authrouter_manager_shared_stats(authrouter_manager *m, char **out_json,
                                                       size_t *out_len, authrouter_error **err);
/* Which models a credential serves comes from one source, the first of: the host
 * (register_models), the credential's own "models" (auth file or record attribute), the
 * config's "model-catalog" for its provider; minus its exclusions ("excluded_models" and the
 * config's "oauth-excluded-models"). Patterns are exact names or `*` globs. docs/models.md.
 *
 * register_models sets the models credential `id` serves, as the host (it need not exist yet;
 * a count of 0 drops the host's registration). */
AUTHROUTER_API int32_t authrouter_manager_register_models(authrouter_manager *m, const char *id,
                                                          size_t id_len,
                                                          const authrouter_string *models,
                                                          size_t model_count,
                                                          authrouter_error **err);

/* models returns what credential `id` serves, as JSON (free with authrouter_string_free):
 * {"id": "...", "source": "catalog" | "credential" | "host" | "none",
 *  "models": ["claude-*", ...], "excluded_models": ["claude-3-*", ...]}.
 * NOT_FOUND for an ID neither loaded nor registered by the host. */
AUTHROUTER_API int32_t authrouter_manager_models(authrouter_manager *m, const char *id,
                                                 size_t id_len, char **out_json, size_t *out_len,
                                                 authrouter_error **err);

/* A pick request. Initialise with AUTHROUTER_PICK_REQUEST_INIT or authrouter_pick_request_init;
 * every pointer must stay valid for the call only. */
#define AUTHROUTER_PICK_REQUEST_VERSION 2
typedef struct authrouter_pick_request {
  uint32_t version;                      /* AUTHROUTER_PICK_REQUEST_VERSION */
  const authrouter_string *providers;    /* in preference order; at least one */
  size_t provider_count;
  authrouter_string model;               /* may carry a thinking suffix: "gpt-5(high)" */
  const authrouter_string *tried;        /* IDs already tried for this request */
  size_t tried_count;
  authrouter_string pinned_id;           /* only this credential, when set */
  bool downstream_websocket;
  const authrouter_header *headers;      /* for session affinity */
  size_t header_count;
  authrouter_string body;                /* the raw request body, for session affinity */
  /* version 2: the caller (an API key, a tenant); session bindings are per tenant. Empty: the
   * shared default tenant. */
  authrouter_string tenant;
} authrouter_pick_request;
#define AUTHROUTER_PICK_REQUEST_INIT \
  {AUTHROUTER_PICK_REQUEST_VERSION, NULL, 0, {NULL, 0}, NULL, 0, {NULL, 0}, false, NULL, 0, {NULL, 0}, \
   {NULL, 0}}
/* authrouter_pick_request_init initialises a version 1 request (the fields up to `body`), as it
 * did for programs built before version 2; authrouter_pick_request_init2 initialises the whole
 * current struct (what AUTHROUTER_PICK_REQUEST_INIT gives). */
AUTHROUTER_API void authrouter_pick_request_init(authrouter_pick_request *request);
AUTHROUTER_API void authrouter_pick_request_init2(authrouter_pick_request *request);

/* A successful pick. */
typedef struct authrouter_pick_result authrouter_pick_result;
/* The picked credential (owned by the result). */
AUTHROUTER_API const authrouter_credential *authrouter_pick_result_credential(
    const authrouter_pick_result *r);
/* The provider that served the pick (normalised). */
AUTHROUTER_API const char *authrouter_pick_result_provider(const authrouter_pick_result *r,
                                                           size_t *len);
/* With session affinity: the binding key to pass back in authrouter_result.session_key; "". */
AUTHROUTER_API const char *authrouter_pick_result_session_key(const authrouter_pick_result *r,
                                                              size_t *len);
/* With session affinity, for a request whose body names a previous_response_id: whether the
 * pick went to the credential that produced that response (FOLLOWED), or could not (BROKEN: the
 * response is unknown or its credential cannot take the request now; the pick is an ordinary
 * one, and the host should resend the full history). NONE otherwise. */
#define AUTHROUTER_RESPONSE_CHAIN_NONE 0
#define AUTHROUTER_RESPONSE_CHAIN_FOLLOWED 1
#define AUTHROUTER_RESPONSE_CHAIN_BROKEN 2
AUTHROUTER_API int32_t authrouter_pick_result_response_chain(const authrouter_pick_result *r);
/* Whether the pick is a half-open probe of the credential's cooldown: its result decides whether
 * the cooldown ends (health.h). false for NULL. */
AUTHROUTER_API bool authrouter_pick_result_probe(const authrouter_pick_result *r);
/* Whether the pick holds a concurrency lease (its credential has a max-in-flight limit). The
 * lease is released by authrouter_pick_result_release_lease, or by authrouter_pick_result_free,
 * whichever comes first; one never released stops counting after the lease ttl. */
AUTHROUTER_API bool authrouter_pick_result_holds_lease(const authrouter_pick_result *r);
/* release_lease gives the pick's place back (call it when the upstream call ends, before or
 * after authrouter_manager_mark_result). Idempotent; NULL is ignored. */
AUTHROUTER_API void authrouter_pick_result_release_lease(authrouter_pick_result *r);
AUTHROUTER_API void authrouter_pick_result_free(authrouter_pick_result *r);

/* pick chooses the credential for one request. A routing failure returns its code
 * (RESOURCE_EXHAUSTED model_cooldown, UNAVAILABLE auth_unavailable, NOT_FOUND auth_not_found,
 * INVALID_ARGUMENT provider_not_found) with the HTTP status, Retry-After and body in *err. */
AUTHROUTER_API int32_t authrouter_manager_pick(authrouter_manager *m, authrouter_pick_result **out,
                                               const authrouter_pick_request *request,
                                               authrouter_error **err);

/* pick_explain is pick that also returns the pick's decision record as JSON in *decision_json
 * (free with authrouter_string_free), for a failed pick too: the providers and model asked, the
 * strategy, the tier, the session outcome, and every credential not taken with its reason
 * ("cooling" with the model, its end and cause; "disabled", "tried", "lower_tier",
 * "model_not_served", "model_excluded", "not_pinned", "unavailable", "no_weight",
 * "not_websocket", "not_chosen"). The format is in docs/observability.md. On a failed pick the
 * record is set and the routing error returned as pick returns it. */
AUTHROUTER_API int32_t authrouter_manager_pick_explain(authrouter_manager *m,
                                                       authrouter_pick_result **out,
                                                       const authrouter_pick_request *request,
                                                       char **decision_json,
                                                       size_t *decision_len,
                                                       authrouter_error **err);

/* The outcome of an upstream call, for mark_result. */
#define AUTHROUTER_RESULT_VERSION 2
typedef struct authrouter_result {
  uint32_t version;                /* AUTHROUTER_RESULT_VERSION */
  authrouter_string credential_id; /* required */
  authrouter_string provider;
  authrouter_string model;
  bool success;
  int32_t http_status;             /* 0..999 */
  authrouter_string error_code;
  authrouter_string error_message;
  int64_t retry_after_ms;          /* -1: none; below -1 counts as 0 */
  authrouter_string session_key;   /* from authrouter_pick_result_session_key */
  /* version 2: on a success, the ID of the response the upstream stored (OpenAI Responses), so a
   * later previous_response_id naming it goes to this credential; and the request's tenant. */
  authrouter_string response_id;
  authrouter_string tenant;
} authrouter_result;
#define AUTHROUTER_RESULT_INIT \
  {AUTHROUTER_RESULT_VERSION, {NULL, 0}, {NULL, 0}, {NULL, 0}, false, 0, {NULL, 0}, {NULL, 0}, -1, {NULL, 0}, \
   {NULL, 0}, {NULL, 0}}
/* authrouter_result_init initialises a version 1 result (up to `session_key`), as before;
 * authrouter_result_init2 the whole current struct (AUTHROUTER_RESULT_INIT). */
AUTHROUTER_API void authrouter_result_init(authrouter_result *result);
AUTHROUTER_API void authrouter_result_init2(authrouter_result *result);

/* mark_result records an upstream outcome (cooldowns, quota backoff, recovery). A result with
 * version 0 (zero-initialised: its retry_after_ms of 0 would mean "retry now") is rejected, and
 * so is a success with an HTTP status of 400 or more; a Retry-After over 30 days counts as 30
 * days (reported to the log). */
AUTHROUTER_API int32_t authrouter_manager_mark_result(authrouter_manager *m,
                                                      const authrouter_result *result,
                                                      authrouter_error **err);
/* reset_cooldowns clears the cooldowns of one model of `id` (model_len 0: all models). */
AUTHROUTER_API int32_t authrouter_manager_reset_cooldowns(authrouter_manager *m, const char *id,
                                                          size_t id_len, const char *model,
                                                          size_t model_len,
                                                          authrouter_error **err);

/* execute runs a request with failover and retry rounds through `executor` (its destroy runs
 * before execute returns, whatever the outcome, once `executor` is non-NULL). On success
 * *out_credential_id receives the ID of the credential that succeeded (free with
 * authrouter_string_free). *out_attempts receives the number of upstream calls when the last
 * round called upstream. The return value is OK when the last call succeeded; CALLBACK_FAILED
 * when the executor callback failed; the code for the upstream's HTTP status (429
 * RESOURCE_EXHAUSTED, 401 UNAUTHENTICATED, 5xx UNAVAILABLE, ...) with that status in *err when
 * the upstream failed; or the routing error when nothing could be called. */
AUTHROUTER_API int32_t authrouter_manager_execute(authrouter_manager *m, char **out_credential_id,
                                                  int32_t *out_attempts,
                                                  const authrouter_pick_request *request,
                                                  const authrouter_executor *executor,
                                                  authrouter_error **err);

/* ---- background work ---------------------------------------------------------------------- */

/* start starts the token refresh loop (when a refresher or refresh profile is configured) and,
 * with a file store, watches its directory. stop stops both and joins their threads;
 * idempotent. */
AUTHROUTER_API int32_t authrouter_manager_start(authrouter_manager *m, authrouter_error **err);
AUTHROUTER_API int32_t authrouter_manager_stop(authrouter_manager *m);
/* run_due does by hand, on the calling thread, what the background loop does at `now_unix_ms`
 * (refreshes due credentials; with a file store, applies directory changes). *refreshed (may be
 * NULL) receives the number of refreshes run. */
AUTHROUTER_API int32_t authrouter_manager_run_due(authrouter_manager *m, int64_t now_unix_ms,
                                                  size_t *refreshed, authrouter_error **err);
/* refresh refreshes credential `id` now (concurrent calls share one upstream call). */
AUTHROUTER_API int32_t authrouter_manager_refresh(authrouter_manager *m, const char *id,
                                                  size_t id_len, authrouter_error **err);

/* ---- session IDs -------------------------------------------------------------------------- */

/* extract_session_id finds a request's session ID in its headers and raw body (the same rules
 * as session affinity). *out receives it (free with authrouter_string_free), or NULL with
 * *out_len 0 when the request has none. */
AUTHROUTER_API int32_t authrouter_extract_session_id(const authrouter_header *headers,
                                                     size_t header_count, const char *body,
                                                     size_t body_len, char **out, size_t *out_len,
                                                     authrouter_error **err);

/* extract_session_ids is extract_session_id with everything the extraction finds: the session
 * ID, its fallback (the ID a later turn of the same conversation may carry instead, such as the
 * message hash without the first reply) and the body's previous_response_id. Each out string is
 * freed with authrouter_string_free; an absent one is NULL with length 0. Any out pair may be
 * NULL when not wanted. */
AUTHROUTER_API int32_t authrouter_extract_session_ids(const authrouter_header *headers,
                                                      size_t header_count, const char *body,
                                                      size_t body_len, char **out_primary,
                                                      size_t *out_primary_len, char **out_fallback,
                                                      size_t *out_fallback_len,
                                                      char **out_previous_response_id,
                                                      size_t *out_previous_response_id_len,
                                                      authrouter_error **err);

/* Content identities (authrouter_session_id_options.content_identity; the config key
 * routing.session-affinity-content-identity). */
#define AUTHROUTER_CONTENT_IDENTITY_UPSTREAM 0 /* upstream's "msg:" hash of the first texts */
#define AUTHROUTER_CONTENT_IDENTITY_CHAIN 1    /* the conversation chain ("chain:" IDs) */

/* Options of authrouter_extract_session_ids_with. */
#define AUTHROUTER_SESSION_ID_OPTIONS_VERSION 1
typedef struct authrouter_session_id_options {
  uint32_t version;         /* AUTHROUTER_SESSION_ID_OPTIONS_VERSION */
  bool content_sources;     /* false: explicit IDs only (headers and body fields) */
  int32_t content_identity; /* AUTHROUTER_CONTENT_IDENTITY_*; UPSTREAM by default */
} authrouter_session_id_options;
#define AUTHROUTER_SESSION_ID_OPTIONS_INIT \
  {AUTHROUTER_SESSION_ID_OPTIONS_VERSION, true, AUTHROUTER_CONTENT_IDENTITY_UPSTREAM}
AUTHROUTER_API void authrouter_session_id_options_init(authrouter_session_id_options *options);

/* extract_session_ids_with is extract_session_ids with the sources chosen by `options` (NULL:
 * the defaults, which extract_session_ids uses). With AUTHROUTER_CONTENT_IDENTITY_CHAIN and no
 * explicit ID, *out_chain receives the chain ID of the request's turns ("chain:<16 hex>", what a
 * pick binds) and *out_primary the chain ID of the request it continues (NULL for a
 * conversation's first request), as session affinity uses them; otherwise *out_chain is NULL.
 * Strings as in extract_session_ids; all or nothing. */
AUTHROUTER_API int32_t authrouter_extract_session_ids_with(
    const authrouter_header *headers, size_t header_count, const char *body, size_t body_len,
    const authrouter_session_id_options *options, char **out_primary, size_t *out_primary_len,
    char **out_fallback, size_t *out_fallback_len, char **out_previous_response_id,
    size_t *out_previous_response_id_len, char **out_chain, size_t *out_chain_len,
    authrouter_error **err);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* AUTHROUTER_AUTHROUTER_H_ */
