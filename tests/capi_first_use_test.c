/* The first hour from C: models without host code, diagnostics through the log callback, load
 * reports, a watched config file, precise pick errors, and safe defaults at the boundary
 * (zero-initialised structs, contradictory results, the auth-file form given to register,
 * redacted dumps). Run under ASan/UBSan and TSan by the test command. */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "authrouter/authrouter.h"

static int failures = 0;

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                               \
    }                                                                           \
  } while (0)

static const char kSecret[] = "sk-SECRET-never-shown";

static authrouter_string Str(const char *s) {
  authrouter_string out;
  out.data = s;
  out.len = strlen(s);
  return out;
}

/* ---- the log callback: keeps every line ---- */
#define MAX_LINES 256
typedef struct {
  char lines[MAX_LINES][512];
  int count;
  int destroyed;
} log_state;

static void on_log(void *ud, int32_t level, const char *component, size_t component_len,
                   const char *message, size_t message_len) {
  log_state *s = (log_state *)ud;
  if (s->count == MAX_LINES) return;
  snprintf(s->lines[s->count++], 512, "%d %.*s: %.*s", (int)level, (int)component_len, component,
           (int)message_len, message);
}
static void log_destroy(void *ud) { ((log_state *)ud)->destroyed++; }

static int logged(const log_state *s, const char *needle) {
  int i;
  for (i = 0; i < s->count; ++i) {
    if (strstr(s->lines[i], needle) != NULL) return 1;
  }
  return 0;
}

/* ---- files ---- */
static char g_dir[256];

static void write_file(const char *dir, const char *name, const char *content, int mode) {
  char path[512];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "wb");
  if (f == NULL) {
    ++failures;
    return;
  }
  fputs(content, f);
  fclose(f);
  chmod(path, (mode_t)mode);
}

static int err_is(authrouter_error *err, int32_t code, const char *needle) {
  const char *msg = authrouter_error_message(err, NULL);
  int ok = err != NULL && authrouter_error_code(err) == code && msg != NULL && strstr(msg, needle) != NULL;
  if (!ok) fprintf(stderr, "  error was: %d %s\n", authrouter_error_code(err), msg ? msg : "(null)");
  return ok;
}

static authrouter_pick_result *pick(authrouter_manager *m, const char *provider, const char *model,
                                    authrouter_error **err) {
  authrouter_pick_request req = AUTHROUTER_PICK_REQUEST_INIT;
  authrouter_string p = Str(provider);
  authrouter_pick_result *out = NULL;
  req.providers = &p;
  req.provider_count = 1;
  req.model = Str(model);
  authrouter_manager_pick(m, &out, &req, err);
  return out;
}

static void test_zero_initialised_structs(void) {
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  authrouter_error *err = NULL;
  authrouter_store store;
  authrouter_clock clock;
  authrouter_hooks hooks;
  authrouter_selector selector;
  authrouter_refresher refresher;
  authrouter_transport transport;
  authrouter_log log;
  authrouter_result res;
  authrouter_pick_request req;
  authrouter_executor ex;
  authrouter_pick_result *out = NULL;

  memset(&store, 0, sizeof store);
  memset(&clock, 0, sizeof clock);
  memset(&hooks, 0, sizeof hooks);
  memset(&selector, 0, sizeof selector);
  memset(&refresher, 0, sizeof refresher);
  memset(&transport, 0, sizeof transport);
  memset(&log, 0, sizeof log);
  memset(&res, 0, sizeof res);
  memset(&req, 0, sizeof req);
  memset(&ex, 0, sizeof ex);
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
#define EXPECT_ZERO_REJECTED(call, macro)                                  \
  CHECK((call) == AUTHROUTER_INVALID_ARGUMENT);                           \
  CHECK(err_is(err, AUTHROUTER_INVALID_ARGUMENT, macro));                 \
  authrouter_error_free(err);                                             \
  err = NULL
  EXPECT_ZERO_REJECTED(authrouter_options_set_store(opts, &store, &err), "AUTHROUTER_STORE_INIT");
  EXPECT_ZERO_REJECTED(authrouter_options_set_clock(opts, &clock, &err), "AUTHROUTER_CLOCK_INIT");
  EXPECT_ZERO_REJECTED(authrouter_options_set_hooks(opts, &hooks, &err), "AUTHROUTER_HOOKS_INIT");
  EXPECT_ZERO_REJECTED(authrouter_options_set_selector(opts, &selector, &err), "AUTHROUTER_SELECTOR_INIT");
  EXPECT_ZERO_REJECTED(authrouter_options_add_refresher(opts, NULL, 0, &refresher, &err),
                       "AUTHROUTER_REFRESHER_INIT");
  EXPECT_ZERO_REJECTED(authrouter_options_set_transport(opts, &transport, &err), "AUTHROUTER_TRANSPORT_INIT");
  EXPECT_ZERO_REJECTED(authrouter_options_set_log(opts, &log, &err), "AUTHROUTER_LOG_INIT");
  CHECK(authrouter_manager_new(&m, opts, NULL) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  EXPECT_ZERO_REJECTED(authrouter_manager_mark_result(m, &res, &err), "AUTHROUTER_RESULT_INIT");
  EXPECT_ZERO_REJECTED(authrouter_manager_pick(m, &out, &req, &err), "AUTHROUTER_PICK_REQUEST_INIT");
  EXPECT_ZERO_REJECTED(authrouter_manager_execute(m, NULL, NULL, &req, &ex, &err), "AUTHROUTER_EXECUTOR_INIT");
#undef EXPECT_ZERO_REJECTED
  CHECK(out == NULL);
  authrouter_manager_free(m);
}

static void test_results_and_records(void) {
  static const char config[] = "{\"model-catalog\": {\"claude\": [\"claude-*\"]}}";
  static const char auth_file[] = "{\"type\":\"claude\",\"email\":\"a@example.com\",\"access_token\":\"x\"}";
  static const char no_provider[] = "{\"id\":\"x\",\"metadata\":{}}";
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  authrouter_error *err = NULL;
  authrouter_result res = AUTHROUTER_RESULT_INIT;
  authrouter_pick_result *p = NULL;
  log_state *logs = (log_state *)calloc(1, sizeof(log_state));
  authrouter_log log = AUTHROUTER_LOG_INIT;
  char record[512];
  char *id = NULL, *json = NULL;
  size_t len = 0;

  log.log = on_log;
  log.user_data = logs;
  log.destroy = log_destroy;
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_apply_config(opts, config, sizeof config - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_set_log(opts, &log, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&m, opts, NULL) == AUTHROUTER_OK);
  authrouter_options_free(opts);

  /* The auth-file form is not a record; a record needs a provider. */
  CHECK(authrouter_manager_register(m, auth_file, sizeof auth_file - 1, &err) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(err_is(err, AUTHROUTER_INVALID_ARGUMENT, "auth file's own form"));
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_manager_register(m, no_provider, sizeof no_provider - 1, &err) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(err_is(err, AUTHROUTER_INVALID_ARGUMENT, "no \"provider\""));
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_manager_list(m, &json, &len, NULL) == AUTHROUTER_OK);
  CHECK(strcmp(json, "[]") == 0); /* nothing was stored */
  authrouter_string_free(json);

  /* Without an ID, register_ext says which one was made; the catalog makes it pickable. */
  snprintf(record, sizeof record,
           "{\"provider\":\"claude\",\"attributes\":{\"api_key\":\"%s\"},"
           "\"metadata\":{\"email\":\"a@example.com\",\"access_token\":\"%s\"}}",
           kSecret, kSecret);
  CHECK(authrouter_manager_register_ext(m, record, strlen(record), &id, &len, &err) == AUTHROUTER_OK);
  CHECK(id != NULL && len == 36);
  p = pick(m, "claude", "claude-sonnet-4-5", NULL);
  CHECK(p != NULL);
  if (p != NULL && id != NULL) {
    CHECK(strcmp(authrouter_credential_id(authrouter_pick_result_credential(p), NULL), id) == 0);
    /* The view's dump is redacted; the fields a host needs for the call are there. */
    CHECK(strstr(authrouter_credential_json(authrouter_pick_result_credential(p), NULL), kSecret) == NULL);
    CHECK(strstr(authrouter_credential_json_ext(authrouter_pick_result_credential(p),
                                                AUTHROUTER_INCLUDE_SECRETS, NULL), kSecret) != NULL);
    CHECK(strcmp(authrouter_credential_attribute(authrouter_pick_result_credential(p), "api_key", 7, NULL),
                 kSecret) == 0);
  }
  authrouter_pick_result_free(p);

  /* list redacts by default; the full records need the flag. */
  CHECK(authrouter_manager_list(m, &json, &len, NULL) == AUTHROUTER_OK);
  CHECK(strstr(json, kSecret) == NULL && strstr(json, "[redacted]") != NULL && strstr(json, "a@example.com") != NULL);
  authrouter_string_free(json);
  CHECK(authrouter_manager_list_ext(m, AUTHROUTER_INCLUDE_SECRETS, &json, &len, NULL) == AUTHROUTER_OK);
  CHECK(strstr(json, kSecret) != NULL);
  authrouter_string_free(json);
  CHECK(authrouter_manager_list_ext(m, 0x80, &json, &len, NULL) == AUTHROUTER_INVALID_ARGUMENT);

  /* models: where they come from. */
  CHECK(authrouter_manager_models(m, id, strlen(id), &json, &len, NULL) == AUTHROUTER_OK);
  CHECK(strstr(json, "\"source\":\"catalog\"") != NULL && strstr(json, "\"models\":[\"claude-*\"]") != NULL);
  authrouter_string_free(json);
  CHECK(authrouter_manager_models(m, "nobody", 6, &json, &len, NULL) == AUTHROUTER_NOT_FOUND);

  /* A contradictory result is rejected; a negative Retry-After is corrected, not dropped. */
  res.credential_id = Str(id);
  res.model = Str("claude-sonnet-4-5");
  res.success = true;
  res.http_status = 429;
  CHECK(authrouter_manager_mark_result(m, &res, &err) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(err_is(err, AUTHROUTER_INVALID_ARGUMENT, "success with HTTP status 429"));
  authrouter_error_free(err);
  err = NULL;
  res.success = false;
  res.retry_after_ms = -5000;
  CHECK(authrouter_manager_mark_result(m, &res, NULL) == AUTHROUTER_OK);
  CHECK(logged(logs, "results: result for"));
  /* A real cooldown, then the reason of the failed pick. */
  res.retry_after_ms = 90000;
  CHECK(authrouter_manager_mark_result(m, &res, NULL) == AUTHROUTER_OK);
  p = pick(m, "claude", "claude-sonnet-4-5", &err);
  CHECK(p == NULL);
  CHECK(authrouter_error_code(err) == AUTHROUTER_RESOURCE_EXHAUSTED);
  CHECK(strcmp(authrouter_error_reason(err, NULL), "all_cooling") == 0);
  CHECK(authrouter_error_retry_after_ms(err) == 90000);
  authrouter_error_free(err);
  err = NULL;
  p = pick(m, "claude", "gpt-5", &err);
  CHECK(strcmp(authrouter_error_reason(err, NULL), "model_not_served") == 0);
  CHECK(strcmp(authrouter_error_routing_code(err, NULL), "auth_not_found") == 0);
  CHECK(strstr(authrouter_error_message(err, NULL), "serves model gpt-5") != NULL);
  authrouter_error_free(err);
  err = NULL;
  p = pick(m, "codex", "gpt-5", &err);
  CHECK(strcmp(authrouter_error_reason(err, NULL), "no_credentials") == 0);
  authrouter_error_free(err);
  CHECK(strcmp(authrouter_error_reason(NULL, NULL), "") == 0);

  authrouter_string_free(id);
  authrouter_manager_free(m);
  CHECK(logs->destroyed == 1);
  {
    int i;
    for (i = 0; i < logs->count; ++i) CHECK(strstr(logs->lines[i], kSecret) == NULL);
  }
  free(logs);
}

static void test_auth_directory_and_config_file(void) {
  char auth[300], config_path[300], config[600];
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  authrouter_error *err = NULL;
  authrouter_pick_result *p = NULL;
  log_state *logs = (log_state *)calloc(1, sizeof(log_state));
  authrouter_log log = AUTHROUTER_LOG_INIT;
  char *json = NULL;
  size_t len = 0;

  snprintf(auth, sizeof auth, "%s/auth", g_dir);
  mkdir(auth, 0700);
  write_file(auth, "claude-a.json", "{\"type\":\"claude\",\"email\":\"a@example.com\"}", 0600);
  write_file(auth, "claude-own.json", "{\"type\":\"claude\",\"models\":[\"claude-opus-4-1\"]}", 0600);
  write_file(auth, "broken.json", "{\"type\":", 0600);
  write_file(auth, "open.json", "{\"type\":\"codex\"}", 0644);
  snprintf(config_path, sizeof config_path, "%s/config.json", g_dir);
  snprintf(config, sizeof config,
           "{\"auth-dir\": \"%s\", \"routing\": {\"stratgey\": \"fill-first\"},"
           " \"model-catalog\": {\"claude\": [\"claude-sonnet-*\"]}}", auth);
  write_file(g_dir, "config.json", config, 0600);

  log.log = on_log;
  log.user_data = logs;
  log.min_level = AUTHROUTER_LOG_DEBUG;
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_set_log(opts, &log, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_load_config_file(opts, "/nonexistent/config.json", 24, &err) == AUTHROUTER_NOT_FOUND);
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_options_load_config_file(opts, config_path, strlen(config_path), &err) == AUTHROUTER_OK);
  CHECK(authrouter_options_use_file_store(opts, NULL, 0, &err) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&m, opts, &err) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  CHECK(logged(logs, "config: unknown config key \"routing.stratgey\" (did you mean \"routing.strategy\"?)"));

  CHECK(authrouter_manager_load_report(m, &json, &len, &err) == AUTHROUTER_OK);
  CHECK(json != NULL && strstr(json, "\"loaded\":[\"claude-a.json\",\"claude-own.json\",\"open.json\"]") != NULL);
  CHECK(json != NULL && strstr(json, "{\"name\":\"broken.json\",\"reason\":") != NULL);
  authrouter_string_free(json);
  CHECK(logged(logs, "store: broken.json: skipped: "));
  CHECK(authrouter_manager_run_due(m, 0, NULL, NULL) == AUTHROUTER_OK);
  {
    int i, n = 0;
    for (i = 0; i < logs->count; ++i) n += strstr(logs->lines[i], "broken.json: skipped") != NULL;
    CHECK(n == 1); /* reported by the load, not again by the watcher */
    n = 0;
    for (i = 0; i < logs->count; ++i) n += strstr(logs->lines[i], "routing.stratgey") != NULL;
    CHECK(n == 1); /* the config's unknown key: once */
  }
  CHECK(logged(logs, "store: open.json: readable or writable by group or others"));

  /* Models without host code: the catalog and a file's own list. */
  p = pick(m, "claude", "claude-sonnet-4-5", NULL);
  CHECK(p != NULL && strcmp(authrouter_credential_id(authrouter_pick_result_credential(p), NULL), "claude-a.json") == 0);
  authrouter_pick_result_free(p);
  p = pick(m, "claude", "claude-opus-4-1", NULL);
  CHECK(p != NULL && strcmp(authrouter_credential_id(authrouter_pick_result_credential(p), NULL), "claude-own.json") == 0);
  authrouter_pick_result_free(p);

  /* The config file is watched: an edit reaches the manager (run_due applies it by hand). */
  snprintf(config, sizeof config,
           "{\"auth-dir\": \"%s\", \"model-catalog\": {\"claude\": [\"claude-*\"]}}", auth);
  write_file(g_dir, "config.json", config, 0600);
  CHECK(authrouter_manager_run_due(m, 0, NULL, NULL) == AUTHROUTER_OK);
  p = pick(m, "claude", "claude-haiku-4", NULL);
  CHECK(p != NULL);
  authrouter_pick_result_free(p);
  CHECK(logged(logs, "config: "));
  write_file(g_dir, "config.json", "{\"request-retry\": 1000}", 0600);
  CHECK(authrouter_manager_run_due(m, 0, NULL, NULL) == AUTHROUTER_OK);
  CHECK(logged(logs, "rejected, the previous configuration stays: request-retry: must be at most 100"));
  p = pick(m, "claude", "claude-haiku-4", NULL); /* still the previous configuration */
  CHECK(p != NULL);
  authrouter_pick_result_free(p);

  authrouter_manager_free(m);
  free(logs);
}

/* A log callback that calls back into the manager: run_due (the watcher), apply_config, list. */
static authrouter_manager *g_reentrant = NULL;
static int g_reentered = 0;
static void reentrant_log(void *ud, int32_t level, const char *component, size_t component_len,
                          const char *message, size_t message_len) {
  char *json = NULL;
  size_t len = 0;
  (void)ud;
  (void)level;
  (void)component;
  (void)component_len;
  (void)message;
  (void)message_len;
  if (g_reentrant == NULL || g_reentered >= 20) return;
  ++g_reentered;
  CHECK(authrouter_manager_run_due(g_reentrant, 0, NULL, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_apply_config(g_reentrant, "{\"request-retry\": 1}", 20, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_list(g_reentrant, &json, &len, NULL) == AUTHROUTER_OK);
  authrouter_string_free(json);
}

static void test_log_callback_calls_back(void) {
  char auth[300], config_path[300], config[400];
  authrouter_options *opts = NULL;
  authrouter_log log = AUTHROUTER_LOG_INIT;
  log.log = reentrant_log;
  log.min_level = AUTHROUTER_LOG_DEBUG;
  snprintf(auth, sizeof auth, "%s/auth2", g_dir);
  mkdir(auth, 0700);
  write_file(auth, "loose.json", "{\"type\":\"claude\"}", 0644); /* a warning on every read */
  write_file(auth, "bad.json", "{\"type\":", 0600);
  snprintf(config_path, sizeof config_path, "%s/config2.json", g_dir);
  snprintf(config, sizeof config, "{\"auth-dir\": \"%s\", \"routing\": {\"stratgey\": 1}}", auth);
  write_file(g_dir, "config2.json", config, 0600);
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_set_log(opts, &log, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_load_config_file(opts, config_path, strlen(config_path), NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_use_file_store(opts, NULL, 0, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&g_reentrant, opts, NULL) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  CHECK(authrouter_manager_load(g_reentrant, NULL) == AUTHROUTER_OK);
  write_file(auth, "bad.json", "{\"type\":2}", 0600);
  CHECK(authrouter_manager_run_due(g_reentrant, 0, NULL, NULL) == AUTHROUTER_OK);
  CHECK(g_reentered > 0); /* it was called, and calling back did not deadlock */
  authrouter_manager_free(g_reentrant);
  g_reentrant = NULL;
}

int main(void) {
  char cmd[320];
  snprintf(g_dir, sizeof g_dir, "/tmp/authrouter-capi-XXXXXX");
  if (mkdtemp(g_dir) == NULL) return 2;
  test_zero_initialised_structs();
  test_results_and_records();
  test_auth_directory_and_config_file();
  test_log_callback_calls_back();
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
  if (system(cmd) != 0) ++failures;
  if (failures != 0) {
    fprintf(stderr, "capi_first_use_test: %d failures\n", failures);
    return 1;
  }
  printf("capi_first_use_test: all checks passed\n");
  return 0;
}
