/* Drives the C ABI from plain C99 (LevelDB's c_test.c in spirit): every entry point with good
 * input, and with NULLs, zero lengths, invalid JSON and misuse. Run under ASan/UBSan by the test
 * command. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authrouter/authrouter.h"

static int failures = 0;

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                               \
    }                                                                           \
  } while (0)

#define S(literal) {literal, sizeof(literal) - 1}

static authrouter_string Str(const char *s) {
  authrouter_string out;
  out.data = s;
  out.len = strlen(s);
  return out;
}

/* ---- a manual clock ---- */
static int64_t g_now_ms = 1776384000000; /* 2026-04-17T00:00:00Z */
static int g_clock_destroyed = 0;
static int64_t now_ms(void *ud) {
  (void)ud;
  return g_now_ms;
}
static void clock_destroy(void *ud) {
  (void)ud;
  ++g_clock_destroyed;
}

/* ---- an in-memory store ---- */
#define MAX_RECORDS 16
typedef struct {
  char ids[MAX_RECORDS][64];
  char *json[MAX_RECORDS];
  int count;
  int saves;
  int fail_saves;
  int destroyed;
} mem_store;

static int find_record(mem_store *s, const char *id, size_t len) {
  int i;
  for (i = 0; i < s->count; ++i) {
    if (strlen(s->ids[i]) == len && memcmp(s->ids[i], id, len) == 0) return i;
  }
  return -1;
}
static int32_t store_save(void *ud, const char *id, size_t id_len, const char *json, size_t json_len) {
  mem_store *s = (mem_store *)ud;
  int i;
  if (s->fail_saves) return 42;
  i = find_record(s, id, id_len);
  if (i < 0) {
    if (s->count == MAX_RECORDS || id_len >= 64) return 1;
    i = s->count++;
    memcpy(s->ids[i], id, id_len);
    s->ids[i][id_len] = '\0';
  } else {
    free(s->json[i]);
  }
  s->json[i] = (char *)malloc(json_len + 1);
  memcpy(s->json[i], json, json_len);
  s->json[i][json_len] = '\0';
  ++s->saves;
  return 0;
}
static int32_t store_remove(void *ud, const char *id, size_t id_len) {
  mem_store *s = (mem_store *)ud;
  int i = find_record(s, id, id_len);
  if (i >= 0) {
    free(s->json[i]);
    --s->count;
    if (i != s->count) {
      memcpy(s->ids[i], s->ids[s->count], sizeof s->ids[i]);
      s->json[i] = s->json[s->count];
    }
  }
  return 0;
}
static int32_t store_list(void *ud, authrouter_sink *out) {
  mem_store *s = (mem_store *)ud;
  int i;
  authrouter_sink_write(out, "[", 1);
  for (i = 0; i < s->count; ++i) {
    if (i > 0) authrouter_sink_write(out, ",", 1);
    authrouter_sink_write(out, s->json[i], strlen(s->json[i]));
  }
  return authrouter_sink_write(out, "]", 1);
}
static void store_destroy(void *ud) { ((mem_store *)ud)->destroyed = 1; }

/* ---- hooks ---- */
static int g_registered = 0, g_results = 0, g_store_errors = 0;
static void on_registered(void *ud, const authrouter_credential *c) {
  (void)ud;
  CHECK(authrouter_credential_id(c, NULL) != NULL);
  ++g_registered;
}
static void on_result(void *ud, const authrouter_credential *c, int32_t status, bool success) {
  (void)ud;
  (void)c;
  (void)status;
  (void)success;
  ++g_results;
}
static void on_store_error(void *ud, const char *id, size_t id_len, int32_t code, const char *m,
                           size_t m_len) {
  (void)ud;
  (void)id;
  (void)id_len;
  (void)m;
  (void)m_len;
  CHECK(code == AUTHROUTER_CALLBACK_FAILED);
  ++g_store_errors;
}

/* ---- a refresher ---- */
static int g_refreshes = 0;
static int32_t refresh(void *ud, const authrouter_credential *c, int64_t timeout_ms, authrouter_sink *out) {
  static const char tokens[] = "{\"access_token\":\"fresh\",\"expires_in\":3600}";
  (void)ud;
  (void)c;
  CHECK(timeout_ms > 0);
  ++g_refreshes;
  return authrouter_sink_write(out, tokens, sizeof tokens - 1);
}

/* ---- an executor that fails with 429 on alice ---- */
static int32_t execute(void *ud, const authrouter_credential *c, const char *provider,
                       size_t provider_len, const char *model, size_t model_len, int32_t round,
                       int32_t attempt, authrouter_outcome *outcome) {
  size_t len = 0;
  const char *id = authrouter_credential_id(c, &len);
  (void)ud;
  (void)provider;
  (void)provider_len;
  (void)model;
  (void)model_len;
  (void)round;
  (void)attempt;
  if (len == 10 && memcmp(id, "alice.json", 10) == 0) {
    outcome->http_status = 429;
    outcome->retry_after_ms = 60000;
    strcpy(outcome->error_message, "rate limited");
  } else {
    outcome->success = true;
    outcome->http_status = 200;
  }
  return 0;
}

static const char kAlice[] =
    "{\"id\":\"alice.json\",\"provider\":\"claude\",\"attributes\":{\"priority\":\"10\"},"
    "\"metadata\":{\"type\":\"claude\",\"email\":\"alice@x\",\"refresh_token\":\"r\","
    "\"expired\":\"2026-04-17T00:30:00Z\",\"note\":\"keep\"}}";
static const char kBob[] =
    "{\"id\":\"bob.json\",\"provider\":\"claude\",\"attributes\":{\"priority\":\"10\"},"
    "\"metadata\":{\"type\":\"claude\",\"email\":\"bob@x\"}}";

static const char kBadConfig[] = "{\"routing\":{\"strategy\":\"x\"}}";
static const char kFillFirst[] = "{\"routing\":{\"strategy\":\"fill-first\"}}";
static const char kTooManyRetries[] = "{\"request-retry\":1000}";

static void test_errors_and_nulls(void) {
  authrouter_error *err = NULL;
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  char *out = NULL;
  size_t len = 7;
  authrouter_header h;

  CHECK(strcmp(authrouter_status_str(AUTHROUTER_OK), "OK") == 0);
  CHECK(strcmp(authrouter_status_str(AUTHROUTER_CALLBACK_FAILED), "CALLBACK_FAILED") == 0);
  CHECK(strcmp(authrouter_status_str(12345), "UNRECOGNIZED") == 0);
  CHECK(authrouter_error_code(NULL) == AUTHROUTER_OK);
  CHECK(authrouter_error_retry_after_ms(NULL) == -1);
  authrouter_error_free(NULL);
  authrouter_options_free(NULL);
  authrouter_manager_free(NULL);
  authrouter_pick_result_free(NULL);
  authrouter_credential_free(NULL);
  authrouter_string_free(NULL);
  CHECK(authrouter_credential_id(NULL, NULL) == NULL);
  CHECK(authrouter_sink_write(NULL, "x", 1) == AUTHROUTER_INVALID_ARGUMENT);

  CHECK(authrouter_options_new(NULL, &err) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(err != NULL && authrouter_error_code(err) == AUTHROUTER_INVALID_ARGUMENT);
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_manager_new(&m, NULL, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(m == NULL);
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_apply_config(opts, NULL, 5, &err) == AUTHROUTER_INVALID_ARGUMENT);
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_options_apply_config(opts, kBadConfig, sizeof kBadConfig - 1, &err) ==
        AUTHROUTER_INVALID_ARGUMENT);
  CHECK(strstr(authrouter_error_message(err, NULL), "routing.strategy") != NULL);
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_options_apply_config(opts, "{", 1, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_options_set_store(opts, NULL, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  {
    authrouter_clock c = AUTHROUTER_CLOCK_INIT; /* no now_unix_ms */
    CHECK(authrouter_options_set_clock(opts, &c, NULL) == AUTHROUTER_INVALID_ARGUMENT);
    c.version = 0;
    c.now_unix_ms = now_ms;
    CHECK(authrouter_options_set_clock(opts, &c, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  }
  CHECK(authrouter_manager_new(&m, opts, &err) == AUTHROUTER_OK);
  CHECK(err == NULL);

  /* Bad input to a live manager. */
  CHECK(authrouter_manager_register(m, NULL, 0, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_manager_register(m, "", 0, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_manager_register(m, "{\"id\":", 6, &err) == AUTHROUTER_INVALID_ARGUMENT);
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_manager_register(m, "{\"id\":\"\xff\"}", 10, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_manager_remove(m, "nobody", 6, &err) == AUTHROUTER_NOT_FOUND);
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_manager_remove(m, NULL, 3, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_manager_get(m, NULL, "x", 1, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_manager_list(m, &out, &len, NULL) == AUTHROUTER_OK);
  CHECK(out != NULL && strcmp(out, "[]") == 0 && len == 2);
  authrouter_string_free(out);
  CHECK(authrouter_manager_pick(m, NULL, NULL, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  {
    authrouter_pick_result *r = NULL;
    authrouter_pick_request req = AUTHROUTER_PICK_REQUEST_INIT;
    CHECK(authrouter_manager_pick(m, &r, NULL, NULL) == AUTHROUTER_INVALID_ARGUMENT);
    CHECK(authrouter_manager_pick(m, &r, &req, &err) == AUTHROUTER_INVALID_ARGUMENT); /* no provider */
    CHECK(strcmp(authrouter_error_routing_code(err, NULL), "provider_not_found") == 0);
    authrouter_error_free(err);
    err = NULL;
    req.provider_count = 2; /* NULL array with a count */
    CHECK(authrouter_manager_pick(m, &r, &req, NULL) == AUTHROUTER_INVALID_ARGUMENT);
    CHECK(r == NULL);
  }
  {
    authrouter_result res = AUTHROUTER_RESULT_INIT;
    CHECK(authrouter_manager_mark_result(m, NULL, NULL) == AUTHROUTER_INVALID_ARGUMENT);
    CHECK(authrouter_manager_mark_result(m, &res, NULL) == AUTHROUTER_INVALID_ARGUMENT); /* no id */
    res.credential_id = Str("x");
    res.http_status = 5000;
    CHECK(authrouter_manager_mark_result(m, &res, NULL) == AUTHROUTER_INVALID_ARGUMENT);
    res.http_status = 500;
    CHECK(authrouter_manager_mark_result(m, &res, NULL) == AUTHROUTER_NOT_FOUND);
  }
  CHECK(authrouter_manager_refresh(m, "x", 1, NULL) == AUTHROUTER_NOT_FOUND);
  CHECK(authrouter_manager_start(m, NULL) == AUTHROUTER_OK); /* nothing to run: fine */
  CHECK(authrouter_manager_stop(m) == AUTHROUTER_OK);

  /* Misuse: calls after shutdown. */
  CHECK(authrouter_manager_shutdown(m) == AUTHROUTER_OK);
  CHECK(authrouter_manager_shutdown(m) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register(m, kAlice, sizeof kAlice - 1, &err) == AUTHROUTER_SHUT_DOWN);
  CHECK(authrouter_error_code(err) == AUTHROUTER_SHUT_DOWN);
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_manager_start(m, NULL) == AUTHROUTER_SHUT_DOWN);
  CHECK(authrouter_manager_stop(m) == AUTHROUTER_SHUT_DOWN);
  CHECK(authrouter_manager_list(m, &out, &len, NULL) == AUTHROUTER_SHUT_DOWN);
  CHECK(out == NULL && len == 0);
  authrouter_manager_free(m);
  authrouter_options_free(opts);

  /* Session IDs. */
  h.name = Str("X-Session-ID");
  h.value = Str(" s1 ");
  CHECK(authrouter_extract_session_id(&h, 1, NULL, 0, &out, &len, NULL) == AUTHROUTER_OK);
  CHECK(out != NULL && strcmp(out, "header:s1") == 0 && len == 9);
  authrouter_string_free(out);
  CHECK(authrouter_extract_session_id(NULL, 0, "not json", 8, &out, &len, NULL) == AUTHROUTER_OK);
  CHECK(out == NULL && len == 0);
  {
    /* Member names compare after unescaping: "user_\u0069d" is "user_id". */
    static const char kEscaped[] = "{\"metadata\":{\"user_\\u0069d\":\"u1\"}}";
    CHECK(authrouter_extract_session_id(NULL, 0, kEscaped, sizeof kEscaped - 1, &out, &len, NULL) ==
          AUTHROUTER_OK);
    CHECK(out != NULL && strcmp(out, "user:u1") == 0 && len == 7);
    authrouter_string_free(out);
  }
  CHECK(authrouter_extract_session_id(NULL, 1, NULL, 0, &out, &len, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_extract_session_id(&h, 1, NULL, 0, NULL, NULL, NULL) == AUTHROUTER_INVALID_ARGUMENT);
}

/* A selector that fails, and one that picks the last candidate. */
static int32_t select_fail(void *ud, const char *p, size_t pl, const char *m, size_t ml,
                           const authrouter_credential *const *c, size_t n, size_t *chosen) {
  (void)ud; (void)p; (void)pl; (void)m; (void)ml; (void)c; (void)n; (void)chosen;
  return 7;
}
static int32_t select_last(void *ud, const char *p, size_t pl, const char *m, size_t ml,
                           const authrouter_credential *const *c, size_t n, size_t *chosen) {
  (void)ud; (void)p; (void)pl; (void)m; (void)ml; (void)c;
  *chosen = n - 1;
  return 0;
}
static int g_executor_destroyed = 0;
static void executor_destroy(void *ud) {
  (void)ud;
  ++g_executor_destroyed;
}

static void test_selector_and_ownership(void) {
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  authrouter_error *err = NULL;
  authrouter_pick_result *pick = NULL;
  authrouter_pick_request req = AUTHROUTER_PICK_REQUEST_INIT;
  authrouter_selector sel = AUTHROUTER_SELECTOR_INIT;
  authrouter_executor ex = AUTHROUTER_EXECUTOR_INIT;
  authrouter_store empty_store = AUTHROUTER_STORE_INIT; /* no list */
  authrouter_string provider = S("claude");
  authrouter_string model = S("m");
  size_t len = 99;

  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  sel.select = select_fail;
  CHECK(authrouter_options_set_selector(opts, &sel, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_set_store(opts, &empty_store, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&m, opts, NULL) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  CHECK(authrouter_manager_register(m, kBob, sizeof kBob - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register_models(m, "bob.json", 8, &model, 1, NULL) == AUTHROUTER_OK);
  req.providers = &provider;
  req.provider_count = 1;
  req.model = model;
  /* A failing host selector is the host's error, not an empty pool. */
  CHECK(authrouter_manager_pick(m, &pick, &req, &err) == AUTHROUTER_CALLBACK_FAILED);
  CHECK(pick == NULL);
  authrouter_error_free(err);
  err = NULL;
  /* A store without list cannot be loaded (the pool is not wiped). */
  CHECK(authrouter_manager_load(m, &err) == AUTHROUTER_FAILED_PRECONDITION);
  authrouter_error_free(err);
  err = NULL;
  {
    char *list = NULL;
    CHECK(authrouter_manager_list(m, &list, NULL, NULL) == AUTHROUTER_OK);
    CHECK(strstr(list, "bob.json") != NULL);
    authrouter_string_free(list);
  }
  /* The executor's destroy runs once per call, also when the call fails early. */
  ex.execute = execute;
  ex.destroy = executor_destroy;
  CHECK(authrouter_manager_execute(m, NULL, NULL, NULL, &ex, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(g_executor_destroyed == 1);
  /* Accessors on NULL set the length to 0. */
  CHECK(authrouter_credential_id(NULL, &len) == NULL && len == 0);
  len = 99;
  CHECK(authrouter_pick_result_provider(NULL, &len) == NULL && len == 0);
  authrouter_manager_free(m);

  /* A selector that works. */
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  sel.select = select_last;
  CHECK(authrouter_options_set_selector(opts, &sel, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&m, opts, NULL) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  CHECK(authrouter_manager_register(m, kAlice, sizeof kAlice - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register(m, kBob, sizeof kBob - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register_models(m, "alice.json", 10, &model, 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register_models(m, "bob.json", 8, &model, 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_pick(m, &pick, &req, NULL) == AUTHROUTER_OK);
  CHECK(strcmp(authrouter_credential_id(authrouter_pick_result_credential(pick), NULL), "bob.json") == 0);
  authrouter_pick_result_free(pick);
  authrouter_manager_free(m);
}

static void test_pool(void) {
  mem_store store_state;
  authrouter_store store = AUTHROUTER_STORE_INIT;
  authrouter_clock clock = AUTHROUTER_CLOCK_INIT;
  authrouter_hooks hooks = AUTHROUTER_HOOKS_INIT;
  authrouter_refresher refresher = AUTHROUTER_REFRESHER_INIT;
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  authrouter_error *err = NULL;
  authrouter_pick_result *pick = NULL;
  authrouter_pick_request req;
  authrouter_result res;
  authrouter_string providers[1];
  authrouter_string models[1];
  authrouter_header session;
  size_t len = 0;
  char *bound = NULL;
  const char *s;
  static const char config[] =
      "{\"routing\":{\"session-affinity\":true},\"max-retry-interval\":0}";

  memset(&store_state, 0, sizeof store_state);
  store.list = store_list;
  store.save = store_save;
  store.remove = store_remove;
  store.user_data = &store_state;
  store.destroy = store_destroy;
  clock.now_unix_ms = now_ms;
  clock.destroy = clock_destroy;
  hooks.on_registered = on_registered;
  hooks.on_result = on_result;
  hooks.on_store_error = on_store_error;
  refresher.refresh = refresh;

  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_apply_config(opts, config, sizeof config - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_set_store(opts, &store, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_set_clock(opts, &clock, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_set_hooks(opts, &hooks, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_add_refresher(opts, "Claude", 6, &refresher, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&m, opts, &err) == AUTHROUTER_OK);
  authrouter_options_free(opts); /* the manager keeps what it needs */

  CHECK(authrouter_manager_register(m, kAlice, sizeof kAlice - 1, &err) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register(m, kBob, sizeof kBob - 1, &err) == AUTHROUTER_OK);
  CHECK(g_registered == 2);
  CHECK(store_state.saves == 2);
  models[0] = Str("claude-sonnet-4-5");
  CHECK(authrouter_manager_register_models(m, "alice.json", 10, models, 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register_models(m, "bob.json", 8, models, 1, NULL) == AUTHROUTER_OK);

  /* A pick with session affinity, then the same conversation again. */
  authrouter_pick_request_init(&req);
  providers[0] = Str("claude");
  req.providers = providers;
  req.provider_count = 1;
  req.model = Str("claude-sonnet-4-5");
  session.name = Str("X-Session-ID");
  session.value = Str("conv-1");
  req.headers = &session;
  req.header_count = 1;
  CHECK(authrouter_manager_pick(m, &pick, &req, &err) == AUTHROUTER_OK);
  s = authrouter_credential_id(authrouter_pick_result_credential(pick), &len);
  bound = (char *)malloc(len + 1);
  memcpy(bound, s, len + 1);
  CHECK(strcmp(authrouter_pick_result_provider(pick, NULL), "claude") == 0);
  CHECK(strstr(authrouter_pick_result_session_key(pick, NULL), "conv-1") != NULL);
  CHECK(strcmp(authrouter_credential_attribute(authrouter_pick_result_credential(pick), "priority", 8, NULL), "10") == 0);
  CHECK(authrouter_credential_attribute(authrouter_pick_result_credential(pick), "nope", 4, NULL) == NULL);
  CHECK(strstr(authrouter_credential_metadata_json(authrouter_pick_result_credential(pick), NULL), "\"type\":\"claude\"") != NULL);
  CHECK(strstr(authrouter_credential_json(authrouter_pick_result_credential(pick), NULL), "\"provider\":\"claude\"") != NULL);
  {
    int i;
    for (i = 0; i < 3; ++i) {
      authrouter_pick_result *again = NULL;
      CHECK(authrouter_manager_pick(m, &again, &req, NULL) == AUTHROUTER_OK);
      CHECK(strcmp(authrouter_credential_id(authrouter_pick_result_credential(again), NULL), bound) == 0);
      authrouter_pick_result_free(again);
    }
  }

  /* The bound credential answers 429: the conversation fails over. */
  authrouter_result_init(&res);
  res.credential_id = Str(bound);
  res.model = Str("claude-sonnet-4-5");
  res.http_status = 429;
  res.retry_after_ms = 60000;
  res.session_key.data = authrouter_pick_result_session_key(pick, &res.session_key.len);
  CHECK(authrouter_manager_mark_result(m, &res, NULL) == AUTHROUTER_OK);
  CHECK(g_results == 1);
  authrouter_pick_result_free(pick);
  pick = NULL;
  CHECK(authrouter_manager_pick(m, &pick, &req, NULL) == AUTHROUTER_OK);
  CHECK(strcmp(authrouter_credential_id(authrouter_pick_result_credential(pick), NULL), bound) != 0);
  authrouter_pick_result_free(pick);
  pick = NULL;

  /* Both cooling: model_cooldown with its HTTP status, Retry-After and body. */
  res.credential_id = Str(strcmp(bound, "alice.json") == 0 ? "bob.json" : "alice.json");
  res.session_key.data = NULL;
  res.session_key.len = 0;
  CHECK(authrouter_manager_mark_result(m, &res, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_pick(m, &pick, &req, &err) == AUTHROUTER_RESOURCE_EXHAUSTED);
  CHECK(pick == NULL);
  CHECK(strcmp(authrouter_error_routing_code(err, NULL), "model_cooldown") == 0);
  CHECK(authrouter_error_http_status(err) == 429);
  CHECK(authrouter_error_retry_after_ms(err) == 60000);
  CHECK(authrouter_error_retryable(err));
  CHECK(strstr(authrouter_error_body(err, NULL), "model_cooldown") != NULL);
  authrouter_error_free(err);
  err = NULL;
  g_now_ms += 61000; /* the manual clock moves */
  CHECK(authrouter_manager_pick(m, &pick, &req, NULL) == AUTHROUTER_OK);
  authrouter_pick_result_free(pick);
  pick = NULL;
  CHECK(authrouter_manager_reset_cooldowns(m, "alice.json", 10, NULL, 0, NULL) == AUTHROUTER_OK);

  /* Refresh: alice expires within claude's 4 h lead, bob has no expiry (refreshed at once, spec
   * 05 §4); run the due work by hand. */
  {
    size_t refreshed = 0;
    authrouter_credential *alice = NULL;
    CHECK(authrouter_manager_run_due(m, g_now_ms, &refreshed, NULL) == AUTHROUTER_OK);
    CHECK(refreshed == 2);
    CHECK(g_refreshes == 2);
    CHECK(authrouter_manager_run_due(m, g_now_ms, &refreshed, NULL) == AUTHROUTER_OK);
    CHECK(refreshed == 0); /* fresh now */
    CHECK(authrouter_manager_get(m, &alice, "alice.json", 10, NULL) == AUTHROUTER_OK);
    s = authrouter_credential_metadata_json(alice, NULL);
    CHECK(strstr(s, "\"access_token\":\"fresh\"") != NULL);
    CHECK(strstr(s, "\"note\":\"keep\"") != NULL); /* custom metadata kept */
    authrouter_credential_free(alice);
  }

  /* Execute with failover through an executor. */
  {
    authrouter_executor ex = AUTHROUTER_EXECUTOR_INIT;
    char *used = NULL;
    int32_t attempts = 0;
    ex.execute = execute;
    req.header_count = 0;
    req.pinned_id = Str("alice.json");
    CHECK(authrouter_manager_execute(m, &used, &attempts, &req, &ex, &err) == AUTHROUTER_RESOURCE_EXHAUSTED);
    CHECK(authrouter_error_http_status(err) == 429);
    CHECK(strstr(authrouter_error_message(err, NULL), "rate limited") != NULL);
    CHECK(used == NULL); /* out-parameters stay NULL on failure */
    CHECK(attempts == 1);
    authrouter_error_free(err);
    err = NULL;
    req.pinned_id.data = NULL;
    req.pinned_id.len = 0;
    CHECK(authrouter_manager_execute(m, &used, &attempts, &req, &ex, NULL) == AUTHROUTER_OK);
    CHECK(used != NULL && strcmp(used, "bob.json") == 0);
    authrouter_string_free(used);
  }

  /* A failing store callback: the call says CALLBACK_FAILED and the change never happened. */
  store_state.fail_saves = 1;
  CHECK(authrouter_manager_set_disabled(m, "bob.json", 8, true, &err) == AUTHROUTER_CALLBACK_FAILED);
  CHECK(g_store_errors == 1);
  authrouter_error_free(err);
  err = NULL;
  {
    static const char kCarol[] =
        "{\"id\":\"carol.json\",\"provider\":\"claude\",\"metadata\":{\"type\":\"claude\"}}";
    authrouter_credential *c = NULL;
    CHECK(authrouter_manager_get(m, &c, "bob.json", 8, NULL) == AUTHROUTER_OK);
    CHECK(c != NULL && !authrouter_credential_disabled(c)); /* still enabled */
    authrouter_credential_free(c);
    c = NULL;
    CHECK(authrouter_manager_register(m, kCarol, sizeof kCarol - 1, &err) == AUTHROUTER_CALLBACK_FAILED);
    authrouter_error_free(err);
    err = NULL;
    CHECK(authrouter_manager_get(m, &c, "carol.json", 10, NULL) == AUTHROUTER_NOT_FOUND);
    CHECK(c == NULL);
  }
  store_state.fail_saves = 0;

  /* Hot reload; a rejected config changes nothing. */
  CHECK(authrouter_manager_apply_config(m, kFillFirst, sizeof kFillFirst - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_apply_config(m, kTooManyRetries, sizeof kTooManyRetries - 1, &err) ==
        AUTHROUTER_INVALID_ARGUMENT);
  authrouter_error_free(err);
  err = NULL;

  /* Load from the store (a restart): what was saved comes back. */
  CHECK(authrouter_manager_load(m, NULL) == AUTHROUTER_OK);
  {
    char *list = NULL;
    CHECK(authrouter_manager_list(m, &list, &len, NULL) == AUTHROUTER_OK);
    CHECK(strstr(list, "alice.json") != NULL && strstr(list, "bob.json") != NULL);
    authrouter_string_free(list);
  }
  CHECK(authrouter_manager_remove(m, "bob.json", 8, NULL) == AUTHROUTER_OK);
  CHECK(store_state.count == 1);

  free(bound);
  authrouter_manager_free(m);
  CHECK(store_state.destroyed == 1); /* destroy(user_data) ran once */
  CHECK(g_clock_destroyed == 1);
  while (store_state.count > 0) free(store_state.json[--store_state.count]);
}

/* pick_conversation picks for conversation `conv` and copies the credential ID into out. */
static void pick_conversation(authrouter_manager *m, const char *conv, char *out, size_t cap) {
  authrouter_pick_request req;
  authrouter_string providers[1];
  authrouter_header session;
  authrouter_pick_result *pick = NULL;
  const char *id;
  authrouter_pick_request_init(&req);
  providers[0] = Str("claude");
  req.providers = providers;
  req.provider_count = 1;
  req.model = Str("claude-sonnet-4-5");
  session.name = Str("X-Session-ID");
  session.value = Str(conv);
  req.headers = &session;
  req.header_count = 1;
  out[0] = '\0';
  CHECK(authrouter_manager_pick(m, &pick, &req, NULL) == AUTHROUTER_OK);
  if (pick == NULL) return;
  id = authrouter_credential_id(authrouter_pick_result_credential(pick), NULL);
  CHECK(strlen(id) < cap);
  strncpy(out, id, cap - 1);
  out[cap - 1] = '\0';
  authrouter_pick_result_free(pick);
}

/* With a bound of one binding, conversation 1 loses its binding to conversations 2 and 3 and
 * continues on whichever credential the rotation gives; with the default bound it stays. */
static void test_session_affinity_max_entries(void) {
  static const char config[] =
      "{\"routing\":{\"session-affinity\":true,\"session-placement\":\"strategy\"}}";
  static const char bad_config[] =
      "{\"routing\":{\"session-affinity-max-entries\":0}}";
  authrouter_string models[1];
  authrouter_error *err = NULL;
  int bounded;
  models[0] = Str("claude-sonnet-4-5");

  {
    authrouter_options *opts = NULL;
    CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
    CHECK(authrouter_options_set_session_affinity_max_entries(NULL, 5, NULL) ==
          AUTHROUTER_INVALID_ARGUMENT);
    CHECK(authrouter_options_set_session_affinity_max_entries(opts, 0, &err) ==
          AUTHROUTER_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(authrouter_error_message(err, NULL), "max entries") != NULL);
    authrouter_error_free(err);
    err = NULL;
    CHECK(authrouter_options_set_session_affinity_max_entries(opts, 100000001, NULL) ==
          AUTHROUTER_INVALID_ARGUMENT);
    CHECK(authrouter_options_set_session_affinity_max_entries(opts, 100000000, NULL) ==
          AUTHROUTER_OK);
    CHECK(authrouter_options_apply_config(opts, bad_config, sizeof bad_config - 1, &err) ==
          AUTHROUTER_INVALID_ARGUMENT);
    CHECK(err != NULL && strstr(authrouter_error_message(err, NULL),
                                "routing.session-affinity-max-entries") != NULL);
    authrouter_error_free(err);
    err = NULL;
    authrouter_options_free(opts);
  }

  for (bounded = 0; bounded <= 1; ++bounded) {
    authrouter_options *opts = NULL;
    authrouter_manager *m = NULL;
    char first[64], second[64], third[64], again[64];
    CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
    CHECK(authrouter_options_apply_config(opts, config, sizeof config - 1, NULL) == AUTHROUTER_OK);
    if (bounded) {
      CHECK(authrouter_options_set_session_affinity_max_entries(opts, 1, NULL) == AUTHROUTER_OK);
    }
    CHECK(authrouter_manager_new(&m, opts, NULL) == AUTHROUTER_OK);
    authrouter_options_free(opts);
    CHECK(authrouter_manager_register(m, kAlice, sizeof kAlice - 1, NULL) == AUTHROUTER_OK);
    CHECK(authrouter_manager_register(m, kBob, sizeof kBob - 1, NULL) == AUTHROUTER_OK);
    CHECK(authrouter_manager_register_models(m, "alice.json", 10, models, 1, NULL) == AUTHROUTER_OK);
    CHECK(authrouter_manager_register_models(m, "bob.json", 8, models, 1, NULL) == AUTHROUTER_OK);
    pick_conversation(m, "conv-1", first, sizeof first);
    pick_conversation(m, "conv-2", second, sizeof second);
    pick_conversation(m, "conv-3", third, sizeof third);
    pick_conversation(m, "conv-1", again, sizeof again);
    CHECK(strcmp(first, second) != 0);  /* round-robin over the two */
    CHECK(strcmp(first, third) == 0);
    if (bounded) {
      CHECK(strcmp(again, second) == 0); /* unbound: the rotation's next */
    } else {
      CHECK(strcmp(again, first) == 0);  /* still bound */
    }
    CHECK(authrouter_manager_shutdown(m) == AUTHROUTER_OK);
    authrouter_manager_free(m);
  }
}

/* Picks one request through the C ABI: an optional session header, body, tenant; returns the
 * picked ID in `out` and the response-chain answer. `v1` sends a version 1 struct (an older host):
 * its tenant is not read. */
static int32_t pick_with(authrouter_manager *m, const char *session, const char *body,
                         const char *tenant, int v1, char *out, size_t cap) {
  authrouter_pick_request req;
  authrouter_string providers[1];
  authrouter_header header;
  authrouter_pick_result *pick = NULL;
  int32_t chain = -1;
  authrouter_pick_request_init2(&req);
  CHECK(req.version == AUTHROUTER_PICK_REQUEST_VERSION && req.tenant.len == 0);
  providers[0] = Str("claude");
  req.providers = providers;
  req.provider_count = 1;
  req.model = Str("claude-sonnet-4-5");
  if (session != NULL) {
    header.name = Str("X-Session-ID");
    header.value = Str(session);
    req.headers = &header;
    req.header_count = 1;
  }
  if (body != NULL) req.body = Str(body);
  if (tenant != NULL) req.tenant = Str(tenant);
  if (v1) {
    req.version = 1;
    req.tenant.data = "must not be read";
    req.tenant.len = (size_t)-1;
  }
  out[0] = '\0';
  CHECK(authrouter_manager_pick(m, &pick, &req, NULL) == AUTHROUTER_OK);
  if (pick == NULL) return chain;
  strncpy(out, authrouter_credential_id(authrouter_pick_result_credential(pick), NULL), cap - 1);
  out[cap - 1] = '\0';
  chain = authrouter_pick_result_response_chain(pick);
  authrouter_pick_result_free(pick);
  return chain;
}

/* Session identity through the C ABI: tenants, response chains, extract_session_ids. */
static void test_session_identity(void) {
  static const char config[] = "{\"routing\":{\"session-affinity\":true}}";
  static const char first_body[] = "{\"input\":\"Write a poem\",\"store\":true}";
  static const char next_body[] =
      "{\"previous_response_id\":\"resp_0123456789abcdef\",\"input\":\"Shorter\"}";
  authrouter_string models[1];
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  authrouter_result result;
  char a[64], b[64], c[64], produced[64], other[64];
  int i;
  models[0] = Str("claude-sonnet-4-5");
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_apply_config(opts, config, sizeof config - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&m, opts, NULL) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  CHECK(authrouter_manager_register(m, kAlice, sizeof kAlice - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register(m, kBob, sizeof kBob - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register_models(m, "alice.json", 10, models, 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register_models(m, "bob.json", 8, models, 1, NULL) == AUTHROUTER_OK);

  /* One session ID from two tenants: two bindings, each kept. */
  CHECK(pick_with(m, "shared", NULL, "tenant-1", 0, a, sizeof a) == AUTHROUTER_RESPONSE_CHAIN_NONE);
  CHECK(pick_with(m, "shared", NULL, "tenant-2", 0, b, sizeof b) == AUTHROUTER_RESPONSE_CHAIN_NONE);
  CHECK(strcmp(a, b) != 0);
  for (i = 0; i < 3; ++i) {
    pick_with(m, "shared", NULL, "tenant-1", 0, c, sizeof c);
    CHECK(strcmp(c, a) == 0);
    pick_with(m, "shared", NULL, "tenant-2", 0, c, sizeof c);
    CHECK(strcmp(c, b) == 0);
  }
  /* A version 1 request (no tenant field) is the default tenant. */
  pick_with(m, "v1-session", NULL, NULL, 1, c, sizeof c);
  pick_with(m, "v1-session", NULL, NULL, 0, other, sizeof other);
  CHECK(strcmp(c, other) == 0);

  /* A response chain: the result reports the response ID, the follow-up goes there. */
  pick_with(m, NULL, first_body, NULL, 0, produced, sizeof produced);
  /* The version 1 initialiser writes nothing past a version 1 struct. */
  memset(&result, 0x5a, sizeof result);
  authrouter_result_init(&result);
  CHECK(result.version == 1 && result.retry_after_ms == -1);
  CHECK(((const unsigned char *)&result.response_id)[0] == 0x5a);
  {
    authrouter_pick_request old_req;
    memset(&old_req, 0x5a, sizeof old_req);
    authrouter_pick_request_init(&old_req);
    CHECK(old_req.version == 1 && old_req.provider_count == 0);
    CHECK(((const unsigned char *)&old_req.tenant)[0] == 0x5a);
  }
  authrouter_result_init2(&result);
  CHECK(result.version == 2);
  result.credential_id = Str(produced);
  result.model = Str("claude-sonnet-4-5");
  result.success = true;
  result.response_id = Str("resp_0123456789abcdef");
  CHECK(authrouter_manager_mark_result(m, &result, NULL) == AUTHROUTER_OK);
  for (i = 0; i < 3; ++i) {
    pick_with(m, NULL, NULL, NULL, 0, other, sizeof other); /* moves the rotation on */
    CHECK(pick_with(m, NULL, next_body, NULL, 0, c, sizeof c) == AUTHROUTER_RESPONSE_CHAIN_FOLLOWED);
    CHECK(strcmp(c, produced) == 0);
  }
  CHECK(pick_with(m, NULL, next_body, "someone-else", 0, c, sizeof c) ==
        AUTHROUTER_RESPONSE_CHAIN_BROKEN);
  /* A version 1 result has no response_id: accepted, nothing recorded. */
  result.version = 1;
  result.response_id.data = NULL;
  result.response_id.len = 12345; /* beyond a version 1 struct: never read */
  CHECK(authrouter_manager_mark_result(m, &result, NULL) == AUTHROUTER_OK);
  result.version = 2;
  CHECK(authrouter_manager_mark_result(m, &result, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_pick_result_response_chain(NULL) == AUTHROUTER_RESPONSE_CHAIN_NONE);
  CHECK(authrouter_manager_shutdown(m) == AUTHROUTER_OK);
  authrouter_manager_free(m);

  /* extract_session_ids: the fallback and the previous_response_id too. */
  {
    static const char turn2[] =
        "{\"messages\":[{\"role\":\"system\",\"content\":\"You are helpful\"},"
        "{\"role\":\"user\",\"content\":\"Hello\"},{\"role\":\"assistant\",\"content\":\"Hi\"},"
        "{\"role\":\"user\",\"content\":\"More\"}],\"previous_response_id\":\" resp_1 \"}";
    char *primary = NULL, *fallback = NULL, *prev = NULL, *single = NULL;
    size_t primary_len = 0, fallback_len = 0, prev_len = 0, single_len = 0;
    CHECK(authrouter_extract_session_ids(NULL, 0, turn2, sizeof turn2 - 1, &primary, &primary_len,
                                         &fallback, &fallback_len, &prev, &prev_len,
                                         NULL) == AUTHROUTER_OK);
    CHECK(primary != NULL && strncmp(primary, "msg:", 4) == 0 && primary_len == 20);
    CHECK(fallback != NULL && strncmp(fallback, "msg:", 4) == 0 && fallback_len == 20);
    CHECK(primary != NULL && fallback != NULL && strcmp(primary, fallback) != 0);
    CHECK(prev != NULL && strcmp(prev, "resp_1") == 0 && prev_len == 6);
    /* The single-ID function agrees on the primary. */
    CHECK(authrouter_extract_session_id(NULL, 0, turn2, sizeof turn2 - 1, &single, &single_len,
                                        NULL) == AUTHROUTER_OK);
    CHECK(single != NULL && primary != NULL && strcmp(single, primary) == 0);
    authrouter_string_free(primary);
    authrouter_string_free(fallback);
    authrouter_string_free(prev);
    authrouter_string_free(single);
    /* Unwanted outputs may be NULL; nothing found is NULL with length 0. */
    primary = (char *)1;
    primary_len = 7;
    CHECK(authrouter_extract_session_ids(NULL, 0, "{}", 2, &primary, &primary_len, NULL, NULL,
                                         NULL, NULL, NULL) == AUTHROUTER_OK);
    CHECK(primary == NULL && primary_len == 0);
    CHECK(authrouter_extract_session_ids(NULL, 1, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL,
                                         NULL) == AUTHROUTER_INVALID_ARGUMENT);
  }
}

/* Placement of new conversations through the config: replicas agree (rendezvous, the default);
 * "strategy" follows the rotation; a bad value is rejected by name. */
static authrouter_manager *placement_manager(const char *config, size_t config_len, int bob_first) {
  static const char *const ids[] = {"alice.json", "bob.json"};
  authrouter_string models[1];
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  int i;
  models[0] = Str("claude-sonnet-4-5");
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_apply_config(opts, config, config_len, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&m, opts, NULL) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  for (i = 0; i < 2; ++i) {
    const int which = bob_first ? 1 - i : i;
    CHECK(authrouter_manager_register(m, which ? kBob : kAlice, which ? sizeof kBob - 1 : sizeof kAlice - 1,
                                      NULL) == AUTHROUTER_OK);
    CHECK(authrouter_manager_register_models(m, ids[which], strlen(ids[which]), models, 1, NULL) ==
          AUTHROUTER_OK);
  }
  return m;
}

static void test_session_placement(void) {
  static const char rendezvous[] = "{\"routing\":{\"session-affinity\":true}}";
  static const char strategy[] =
      "{\"routing\":{\"session-affinity\":true,\"session-placement\":\"strategy\"}}";
  static const char bad[] = "{\"routing\":{\"session-placement\":\"nearest\"}}";
  authrouter_manager *a = placement_manager(rendezvous, sizeof rendezvous - 1, 0);
  authrouter_manager *b = placement_manager(rendezvous, sizeof rendezvous - 1, 1);
  authrouter_options *opts = NULL;
  authrouter_error *err = NULL;
  char on_a[64], on_b[64], name[32], first[64], second[64];
  int i, alice = 0, agree = 0;
  pick_with(b, NULL, NULL, NULL, 0, on_b, sizeof on_b); /* b's rotation stands elsewhere */
  for (i = 0; i < 200; ++i) {
    snprintf(name, sizeof name, "conversation-%d", i);
    pick_with(a, name, NULL, NULL, 0, on_a, sizeof on_a);
    pick_with(b, name, NULL, NULL, 0, on_b, sizeof on_b);
    agree += strcmp(on_a, on_b) == 0;
    alice += strcmp(on_a, "alice.json") == 0;
  }
  CHECK(agree == 200);
  CHECK(alice > 70 && alice < 130);
  authrouter_manager_free(b);

  /* Hot reload to "strategy": new conversations follow the rotation, bound ones stay. */
  CHECK(authrouter_manager_apply_config(a, strategy, sizeof strategy - 1, NULL) == AUTHROUTER_OK);
  pick_with(a, "conversation-0", NULL, NULL, 0, on_b, sizeof on_b);
  pick_with(a, "conversation-0", NULL, NULL, 0, on_a, sizeof on_a);
  CHECK(strcmp(on_a, on_b) == 0);
  pick_with(a, "fresh-1", NULL, NULL, 0, first, sizeof first);
  pick_with(a, "fresh-2", NULL, NULL, 0, second, sizeof second);
  CHECK(strcmp(first, second) != 0);
  authrouter_manager_free(a);

  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_apply_config(opts, bad, sizeof bad - 1, &err) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(err != NULL && strstr(authrouter_error_message(err, NULL), "routing.session-placement") != NULL);
  authrouter_error_free(err);
  authrouter_options_free(opts);
}

/* ---- shared state through the host's own callbacks: two managers on an in-process "bus" ---- */
typedef struct {
  authrouter_shared_listener *listeners[2];
  char keys[32][128], ids[32][64];
  int bindings, health_sent, disabled_sent;
  /* fleet leases: places by credential and model */
  char lease_keys[16][128], lease_tokens[16][32];
  int64_t lease_expires[16];
  int leases, lease_seq;
  /* one credential's refresh record */
  uint64_t fence, version;
  int holder; /* -1: free */
  int64_t lock_expires;
  char fingerprint[65], tokens[1024];
  int token_notices;
} bus_t;
static bus_t g_bus;
static int g_side[2] = {0, 1};

static void bus_attach(void *ud, authrouter_shared_listener *l) { g_bus.listeners[*(int *)ud] = l; }
static void bus_detach(void *ud, authrouter_shared_listener *l) {
  CHECK(g_bus.listeners[*(int *)ud] == l);
  g_bus.listeners[*(int *)ud] = NULL;
}
static int32_t bus_health(void *ud, const char *id, size_t id_len, const char *model, size_t model_len,
                          const char *state, size_t state_len) {
  int side;
  (void)ud;
  ++g_bus.health_sent;
  /* Every manager hears every notice, the publisher's own included (as the header asks). */
  for (side = 0; side < 2; ++side) {
    if (g_bus.listeners[side] != NULL) {
      CHECK(authrouter_shared_listener_health(g_bus.listeners[side], id, id_len, model, model_len, state,
                                              state_len, NULL) == AUTHROUTER_OK);
    }
  }
  return 0;
}
static int32_t bus_disabled(void *ud, const char *id, size_t id_len, bool disabled, int64_t at_unix_ms) {
  authrouter_shared_listener *peer = g_bus.listeners[1 - *(int *)ud];
  CHECK(at_unix_ms > 0);
  ++g_bus.disabled_sent;
  if (peer != NULL) CHECK(authrouter_shared_listener_disabled(peer, id, id_len, disabled, NULL) == AUTHROUTER_OK);
  return 0;
}
static int32_t bus_read(void *ud, const char *id, size_t id_len, int64_t timeout_ms, authrouter_sink *out) {
  (void)ud;
  (void)id;
  (void)id_len;
  CHECK(timeout_ms > 0);
  return authrouter_sink_write(out, "{\"health\":{},\"disabled\":null}", 30);
}
static int32_t bus_bind(void *ud, const char *key, size_t key_len, const char *id, size_t id_len, int64_t ttl_ms) {
  int i;
  (void)ud;
  CHECK(ttl_ms > 0);
  if (key_len >= 128 || id_len >= 64) return 1;
  for (i = 0; i < g_bus.bindings; ++i) {
    if (strlen(g_bus.keys[i]) == key_len && memcmp(g_bus.keys[i], key, key_len) == 0) break;
  }
  if (i == 32) return 1;
  if (i == g_bus.bindings) ++g_bus.bindings;
  memcpy(g_bus.keys[i], key, key_len);
  g_bus.keys[i][key_len] = '\0';
  memcpy(g_bus.ids[i], id, id_len);
  g_bus.ids[i][id_len] = '\0';
  return 0;
}
static int32_t bus_lookup(void *ud, const char *key, size_t key_len, int64_t timeout_ms, authrouter_sink *out) {
  int i;
  (void)ud;
  CHECK(timeout_ms > 0);
  for (i = 0; i < g_bus.bindings; ++i) {
    if (strlen(g_bus.keys[i]) == key_len && memcmp(g_bus.keys[i], key, key_len) == 0) {
      return authrouter_sink_write(out, g_bus.ids[i], strlen(g_bus.ids[i]));
    }
  }
  return 0;
}

static void lease_key(char *out, const char *id, size_t id_len, const char *model, size_t model_len) {
  snprintf(out, 128, "%.*s|%.*s", (int)id_len, id, (int)model_len, model);
}
static int32_t bus_acquire_lease(void *ud, const char *id, size_t id_len, const char *model, size_t model_len,
                                 uint32_t limit, int64_t now_ms, int64_t expires_ms, int64_t timeout_ms,
                                 authrouter_sink *token) {
  char key[128];
  int i, held = 0;
  (void)ud;
  CHECK(timeout_ms > 0 && expires_ms > now_ms && limit > 0);
  lease_key(key, id, id_len, model, model_len);
  for (i = 0; i < g_bus.leases; ++i) held += strcmp(g_bus.lease_keys[i], key) == 0 && g_bus.lease_expires[i] > now_ms;
  if ((uint32_t)held >= limit) return 0; /* full: no token */
  if (g_bus.leases == 16) return AUTHROUTER_RESOURCE_EXHAUSTED;
  strcpy(g_bus.lease_keys[g_bus.leases], key);
  snprintf(g_bus.lease_tokens[g_bus.leases], 32, "t%d", ++g_bus.lease_seq);
  g_bus.lease_expires[g_bus.leases] = expires_ms;
  ++g_bus.leases;
  return authrouter_sink_write(token, g_bus.lease_tokens[g_bus.leases - 1], strlen(g_bus.lease_tokens[g_bus.leases - 1]));
}
static int32_t bus_release_lease(void *ud, const char *id, size_t id_len, const char *model, size_t model_len,
                                 const char *token, size_t token_len) {
  char key[128];
  int i;
  (void)ud;
  lease_key(key, id, id_len, model, model_len);
  for (i = 0; i < g_bus.leases; ++i) {
    if (strcmp(g_bus.lease_keys[i], key) == 0 && strlen(g_bus.lease_tokens[i]) == token_len &&
        memcmp(g_bus.lease_tokens[i], token, token_len) == 0) {
      --g_bus.leases;
      memmove(g_bus.lease_keys[i], g_bus.lease_keys[g_bus.leases], 128);
      memmove(g_bus.lease_tokens[i], g_bus.lease_tokens[g_bus.leases], 32);
      g_bus.lease_expires[i] = g_bus.lease_expires[g_bus.leases];
      return 0;
    }
  }
  return 0;
}
static void bus_announce(const char *id, size_t id_len) {
  int side;
  for (side = 0; side < 2; ++side) {
    if (g_bus.listeners[side] != NULL) {
      CHECK(authrouter_shared_listener_token(g_bus.listeners[side], id, id_len, g_bus.version, NULL) ==
            AUTHROUTER_OK);
    }
  }
  ++g_bus.token_notices;
}
static int32_t bus_acquire_refresh_lock(void *ud, const char *id, size_t id_len, int64_t now_ms, int64_t expires_ms,
                                        int64_t timeout_ms, authrouter_sink *out) {
  char json[256];
  bool acquired = false;
  (void)id;
  (void)id_len;
  CHECK(timeout_ms > 0 && expires_ms > now_ms);
  if (g_bus.holder < 0 || g_bus.lock_expires <= now_ms) {
    ++g_bus.fence;
    g_bus.holder = *(int *)ud;
    g_bus.lock_expires = expires_ms;
    acquired = true;
  }
  snprintf(json, sizeof json,
           "{\"acquired\":%s,\"fence\":%llu,\"version\":%llu,\"fingerprint\":\"%s\",\"holder_expires_ms\":%lld}",
           acquired ? "true" : "false", (unsigned long long)g_bus.fence, (unsigned long long)g_bus.version,
           g_bus.fingerprint, acquired ? 0LL : (long long)g_bus.lock_expires);
  return authrouter_sink_write(out, json, strlen(json));
}
static int32_t bus_complete_refresh(void *ud, const char *id, size_t id_len, uint64_t fence, const char *fingerprint,
                                    size_t fingerprint_len, const char *tokens, size_t tokens_len, int64_t timeout_ms,
                                    uint64_t *version) {
  (void)ud;
  CHECK(timeout_ms > 0);
  if (fence != g_bus.fence) return AUTHROUTER_FAILED_PRECONDITION;
  if (fingerprint_len >= sizeof g_bus.fingerprint || tokens_len >= sizeof g_bus.tokens) return AUTHROUTER_INTERNAL;
  memcpy(g_bus.fingerprint, fingerprint, fingerprint_len);
  g_bus.fingerprint[fingerprint_len] = '\0';
  memcpy(g_bus.tokens, tokens, tokens_len);
  g_bus.tokens[tokens_len] = '\0';
  ++g_bus.version;
  g_bus.holder = -1;
  *version = g_bus.version;
  bus_announce(id, id_len);
  return 0;
}
static int32_t bus_release_refresh_lock(void *ud, const char *id, size_t id_len, uint64_t fence) {
  (void)ud;
  if (fence == g_bus.fence) {
    g_bus.holder = -1;
    bus_announce(id, id_len);
  }
  return 0;
}
static int32_t bus_read_token(void *ud, const char *id, size_t id_len, int64_t timeout_ms, authrouter_sink *out) {
  char json[2400];
  size_t n = 0, i;
  (void)ud;
  (void)id;
  (void)id_len;
  CHECK(timeout_ms > 0);
  n += (size_t)snprintf(json, sizeof json, "{\"version\":%llu,\"fingerprint\":\"%s\",\"tokens\":\"",
                        (unsigned long long)g_bus.version, g_bus.fingerprint);
  for (i = 0; g_bus.tokens[i] != '\0'; ++i) { /* the tokens' JSON as a JSON string */
    if (g_bus.tokens[i] == '"' || g_bus.tokens[i] == '\\') json[n++] = '\\';
    json[n++] = g_bus.tokens[i];
  }
  json[n++] = '"';
  json[n++] = '}';
  return authrouter_sink_write(out, json, n);
}

/* A refresher whose tokens rotate: each call is a new access and refresh token. */
static int g_fleet_refreshes = 0;
static int32_t fleet_refresh(void *ud, const authrouter_credential *c, int64_t timeout_ms, authrouter_sink *out) {
  char tokens[128];
  (void)ud;
  (void)c;
  CHECK(timeout_ms > 0);
  ++g_fleet_refreshes;
  snprintf(tokens, sizeof tokens, "{\"access_token\":\"fleet-%d\",\"refresh_token\":\"rot-%d\",\"expires_in\":3600}",
           g_fleet_refreshes, g_fleet_refreshes);
  return authrouter_sink_write(out, tokens, strlen(tokens));
}

static void bus_callbacks(authrouter_shared_state *shared, int side) {
  authrouter_shared_state_init(shared);
  shared->attach = bus_attach;
  shared->detach = bus_detach;
  shared->publish_health = bus_health;
  shared->publish_disabled = bus_disabled;
  shared->read = bus_read;
  shared->publish_binding = bus_bind;
  shared->lookup_binding = bus_lookup;
  shared->acquire_lease = bus_acquire_lease;
  shared->release_lease = bus_release_lease;
  shared->acquire_refresh_lock = bus_acquire_refresh_lock;
  shared->complete_refresh = bus_complete_refresh;
  shared->release_refresh_lock = bus_release_refresh_lock;
  shared->read_token = bus_read_token;
  shared->user_data = &g_side[side];
}

static authrouter_manager *shared_manager(int side) {
  static const char config[] =
      "{\"routing\":{\"session-affinity\":true,\"session-placement\":\"strategy\"},"
      "\"shared-state\":{\"lookup-timeout\":\"50ms\",\"share-tokens\":true}}";
  static const char *const ids[] = {"alice.json", "bob.json"};
  authrouter_shared_state shared;
  authrouter_refresher refresher = AUTHROUTER_REFRESHER_INIT;
  authrouter_string models[1];
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  int i;
  bus_callbacks(&shared, side);
  models[0] = Str("claude-sonnet-4-5");
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_apply_config(opts, config, sizeof config - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_set_shared_state(opts, &shared, NULL) == AUTHROUTER_OK);
  refresher.refresh = fleet_refresh;
  CHECK(authrouter_options_add_refresher(opts, "claude", 6, &refresher, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&m, opts, NULL) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  CHECK(g_bus.listeners[side] != NULL);
  for (i = 0; i < 2; ++i) {
    CHECK(authrouter_manager_register(m, i ? kBob : kAlice, i ? sizeof kBob - 1 : sizeof kAlice - 1, NULL) ==
          AUTHROUTER_OK);
    CHECK(authrouter_manager_register_models(m, ids[i], strlen(ids[i]), models, 1, NULL) == AUTHROUTER_OK);
  }
  return m;
}

static void test_shared_state_callbacks(void) {
  authrouter_manager *a, *b;
  authrouter_options *opts = NULL;
  authrouter_error *err = NULL;
  authrouter_shared_state zero;
  authrouter_result res = AUTHROUTER_RESULT_INIT;
  char on_a[64], on_b[64], name[32], *json = NULL;
  size_t len = 0;
  int i, agree = 0;
  memset(&g_bus, 0, sizeof g_bus);
  g_bus.holder = -1;
  a = shared_manager(0);
  b = shared_manager(1);

  /* A conversation bound on a is honoured on b, whose rotation runs out of step. */
  for (i = 0; i < 10; ++i) {
    snprintf(name, sizeof name, "shared-conversation-%d", i);
    pick_with(a, name, NULL, NULL, 0, on_a, sizeof on_a);
    if (i % 2 == 0) pick_with(b, NULL, NULL, NULL, 0, on_b, sizeof on_b);
    pick_with(b, name, NULL, NULL, 0, on_b, sizeof on_b);
    agree += strcmp(on_a, on_b) == 0;
  }
  CHECK(agree == 10);
  CHECK(authrouter_manager_shared_stats(b, &json, &len, NULL) == AUTHROUTER_OK);
  CHECK(json != NULL && strstr(json, "\"lookup_hits\":10") != NULL);
  authrouter_string_free(json);

  /* A 429 on a cools alice on b: b's picks all go to bob. */
  res.credential_id = Str("alice.json");
  res.model = Str("claude-sonnet-4-5");
  res.http_status = 429;
  res.retry_after_ms = 600000;
  CHECK(authrouter_manager_mark_result(a, &res, NULL) == AUTHROUTER_OK);
  CHECK(g_bus.health_sent >= 1);
  for (i = 0; i < 4; ++i) {
    pick_with(b, NULL, NULL, NULL, 0, on_b, sizeof on_b);
    CHECK(strcmp(on_b, "bob.json") == 0);
  }
  /* Reset on b clears it on a. */
  CHECK(authrouter_manager_reset_cooldowns(b, "alice.json", 10, NULL, 0, NULL) == AUTHROUTER_OK);
  pick_with(a, NULL, NULL, NULL, 0, on_a, sizeof on_a);
  pick_with(a, NULL, NULL, NULL, 0, on_b, sizeof on_b);
  CHECK(strcmp(on_a, on_b) != 0); /* both credentials in rotation again */

  /* Disabled travels too. */
  CHECK(authrouter_manager_set_disabled(a, "bob.json", 8, true, NULL) == AUTHROUTER_OK);
  CHECK(g_bus.disabled_sent == 1);
  for (i = 0; i < 3; ++i) {
    pick_with(b, NULL, NULL, NULL, 0, on_b, sizeof on_b);
    CHECK(strcmp(on_b, "alice.json") == 0);
  }

  CHECK(authrouter_manager_set_disabled(a, "bob.json", 8, false, NULL) == AUTHROUTER_OK);

  /* Fleet leases: one place per credential across both managers. */
  {
    authrouter_pick_result *p1 = NULL, *p2 = NULL, *p3 = NULL;
    authrouter_pick_request req;
    authrouter_string providers[1];
    char first[64];
    CHECK(authrouter_manager_set_leases(a, 1, 0, 600000, 2000, false, NULL) == AUTHROUTER_OK);
    CHECK(authrouter_manager_set_leases(b, 1, 0, 600000, 2000, false, NULL) == AUTHROUTER_OK);
    authrouter_pick_request_init2(&req);
    providers[0] = Str("claude");
    req.providers = providers;
    req.provider_count = 1;
    req.model = Str("claude-sonnet-4-5");
    CHECK(authrouter_manager_pick(a, &p1, &req, NULL) == AUTHROUTER_OK);
    strcpy(first, authrouter_credential_id(authrouter_pick_result_credential(p1), NULL));
    CHECK(authrouter_manager_pick(b, &p2, &req, NULL) == AUTHROUTER_OK);
    CHECK(strcmp(authrouter_credential_id(authrouter_pick_result_credential(p2), NULL), first) != 0);
    CHECK(authrouter_manager_pick(b, &p3, &req, &err) == AUTHROUTER_RESOURCE_EXHAUSTED);
    CHECK(p3 == NULL);
    CHECK(strstr(authrouter_error_message(err, NULL), "auth_busy") != NULL ||
          strstr(authrouter_error_message(err, NULL), "concurrency limit") != NULL);
    authrouter_error_free(err);
    err = NULL;
    CHECK(g_bus.leases == 2);
    authrouter_pick_result_free(p1); /* gives a's place back, fleet-wide too */
    CHECK(g_bus.leases == 1);
    CHECK(authrouter_manager_pick(b, &p3, &req, NULL) == AUTHROUTER_OK);
    CHECK(strcmp(authrouter_credential_id(authrouter_pick_result_credential(p3), NULL), first) == 0);
    authrouter_pick_result_free(p2);
    authrouter_pick_result_free(p3);
    CHECK(g_bus.leases == 0);
    CHECK(authrouter_manager_shared_stats(b, &json, &len, NULL) == AUTHROUTER_OK);
    CHECK(strstr(json, "\"leases_refused\":") != NULL && strstr(json, "\"leases_refused\":0") == NULL);
    authrouter_string_free(json);
    /* Share mode needs no round trip; bad modes are refused. */
    CHECK(authrouter_manager_set_fleet_leases(a, AUTHROUTER_FLEET_LEASES_SHARE, 2, NULL) == AUTHROUTER_OK);
    CHECK(authrouter_manager_set_fleet_leases(a, 7, 2, &err) == AUTHROUTER_INVALID_ARGUMENT);
    authrouter_error_free(err);
    err = NULL;
    CHECK(authrouter_manager_set_fleet_leases(a, AUTHROUTER_FLEET_LEASES_LOCAL, 0, NULL) == AUTHROUTER_INVALID_ARGUMENT);
    CHECK(authrouter_manager_set_fleet_leases(NULL, AUTHROUTER_FLEET_LEASES_LOCAL, 1, NULL) == AUTHROUTER_INVALID_ARGUMENT);
    CHECK(authrouter_manager_pick(a, &p1, &req, NULL) == AUTHROUTER_OK);
    CHECK(g_bus.leases == 0); /* share mode: local places only */
    authrouter_pick_result_free(p1);
    CHECK(authrouter_manager_set_leases(a, 0, 0, 600000, 2000, false, NULL) == AUTHROUTER_OK);
    CHECK(authrouter_manager_set_leases(b, 0, 0, 600000, 2000, false, NULL) == AUTHROUTER_OK);
  }

  /* Refresh as one flight: a refreshes, b adopts a's tokens from the shared state. */
  {
    authrouter_credential *c = NULL;
    g_bus.holder = -1;
    CHECK(authrouter_manager_refresh(a, "alice.json", 10, NULL) == AUTHROUTER_OK);
    CHECK(g_fleet_refreshes == 1);
    CHECK(g_bus.version == 1 && strlen(g_bus.fingerprint) == 32);
    CHECK(strstr(g_bus.tokens, "fleet-1") != NULL);
    CHECK(authrouter_manager_refresh(b, "alice.json", 10, NULL) == AUTHROUTER_OK);
    CHECK(g_fleet_refreshes == 1); /* adopted, not refreshed again */
    CHECK(authrouter_manager_get(b, &c, "alice.json", 10, NULL) == AUTHROUTER_OK);
    CHECK(strstr(authrouter_credential_metadata_json(c, NULL), "\"access_token\":\"fleet-1\"") != NULL);
    CHECK(strstr(authrouter_credential_metadata_json(c, NULL), "\"refresh_token\":\"rot-1\"") != NULL);
    authrouter_credential_free(c);
    c = NULL;
    CHECK(authrouter_manager_refresh(b, "alice.json", 10, NULL) == AUTHROUTER_OK); /* now b's turn */
    CHECK(g_fleet_refreshes == 2 && g_bus.version == 2);
    /* A stale holder is fenced off: its completion changes nothing. */
    {
      uint64_t v = 0;
      CHECK(bus_complete_refresh(&g_side[0], "alice.json", 10, 1, "x", 1, "", 0, 10, &v) ==
            AUTHROUTER_FAILED_PRECONDITION);
    }
    CHECK(authrouter_shared_listener_token(NULL, "x", 1, 1, NULL) == AUTHROUTER_INVALID_ARGUMENT);
    CHECK(authrouter_manager_shared_stats(a, &json, &len, NULL) == AUTHROUTER_OK);
    CHECK(strstr(json, "\"refresh_locks\":1") != NULL);
    authrouter_string_free(json);
  }

  /* A malformed state from the host's client is refused and counted. */
  CHECK(authrouter_shared_listener_health(g_bus.listeners[1], "alice.json", 10, "m", 1, "{bad", 4, &err) ==
        AUTHROUTER_INVALID_ARGUMENT);
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_shared_listener_health(NULL, "x", 1, "", 0, NULL, 0, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_shared_listener_resync(g_bus.listeners[1], NULL) == AUTHROUTER_OK);
  authrouter_manager_free(a);
  CHECK(g_bus.listeners[0] == NULL); /* detached */
  authrouter_manager_free(b);
  CHECK(g_bus.listeners[1] == NULL);

  /* Misuse: zero-initialised or incomplete callbacks; both redis and callbacks. */
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  memset(&zero, 0, sizeof zero);
  CHECK(authrouter_options_set_shared_state(opts, &zero, &err) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(strstr(authrouter_error_message(err, NULL), "AUTHROUTER_SHARED_STATE_INIT") != NULL);
  authrouter_error_free(err);
  err = NULL;
  authrouter_shared_state_init(&zero);
  CHECK(authrouter_options_set_shared_state(opts, &zero, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_options_set_shared_state(opts, NULL, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_options_use_redis(opts, "redis://u:hunter2@host:0", 24, &err) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(strstr(authrouter_error_message(err, NULL), "hunter2") == NULL);
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_options_use_redis(opts, NULL, 3, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  /* Redis that is not there: the manager works on local state, degraded. */
  CHECK(authrouter_options_use_redis(opts, "unix:///nonexistent/authrouter-test.sock", 40, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&a, opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register(a, kAlice, sizeof kAlice - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_shared_stats(a, &json, &len, NULL) == AUTHROUTER_OK);
  CHECK(strstr(json, "\"connected\":false") != NULL);
  authrouter_string_free(json);
  authrouter_manager_free(a);
  bus_callbacks(&zero, 0);
  CHECK(authrouter_options_set_shared_state(opts, &zero, NULL) == AUTHROUTER_OK);
  a = NULL;
  CHECK(authrouter_manager_new(&a, opts, &err) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(a == NULL && strstr(authrouter_error_message(err, NULL), "both") != NULL);
  authrouter_error_free(err);
  authrouter_options_free(opts);
}

/* An executor that reports the response ID it produced, when the outcome has the field. */
static int g_outcome_version = 0;
static int32_t execute_with_response(void *ud, const authrouter_credential *c, const char *provider,
                                     size_t provider_len, const char *model, size_t model_len,
                                     int32_t round, int32_t attempt, authrouter_outcome *outcome) {
  const char *id = (const char *)ud;
  (void)c;
  (void)provider;
  (void)provider_len;
  (void)model;
  (void)model_len;
  (void)round;
  (void)attempt;
  g_outcome_version = (int)outcome->version;
  outcome->success = true;
  outcome->http_status = 200;
  if (outcome->version >= 2) {
    CHECK(outcome->response_id[0] == '\0'); /* zero-initialised by the library */
    size_t n = strlen(id);
    /* A longer ID fills the whole field without a NUL. */
    memcpy(outcome->response_id, id, n < sizeof outcome->response_id ? n + 1 : sizeof outcome->response_id);
  }
  return 0;
}

static void test_executor_response_id_and_chain_extraction(void) {
  static const char config[] = "{\"routing\":{\"session-affinity\":true}}";
  static const char first_body[] = "{\"input\":\"Write a poem\",\"store\":true}";
  static const char next_body[] =
      "{\"previous_response_id\":\"resp_from_executor\",\"input\":\"Shorter\"}";
  char long_id[300];
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  authrouter_executor ex = AUTHROUTER_EXECUTOR_INIT;
  authrouter_pick_request req;
  authrouter_string providers[1];
  char *used = NULL;
  char c[64];
  int32_t attempts = 0;
  int i;
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_apply_config(opts, config, sizeof config - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&m, opts, NULL) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  CHECK(authrouter_manager_register(m, kAlice, sizeof kAlice - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register(m, kBob, sizeof kBob - 1, NULL) == AUTHROUTER_OK);
  providers[0] = Str("claude-sonnet-4-5");
  CHECK(authrouter_manager_register_models(m, "alice.json", 10, providers, 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register_models(m, "bob.json", 8, providers, 1, NULL) == AUTHROUTER_OK);

  authrouter_pick_request_init2(&req);
  providers[0] = Str("claude");
  req.providers = providers;
  req.provider_count = 1;
  req.model = Str("claude-sonnet-4-5");
  req.body = Str(first_body);
  ex.execute = execute_with_response;
  ex.user_data = (void *)"resp_from_executor";
  CHECK(authrouter_manager_execute(m, &used, &attempts, &req, &ex, NULL) == AUTHROUTER_OK);
  CHECK(g_outcome_version == AUTHROUTER_OUTCOME_VERSION);
  CHECK(used != NULL);
  /* Follow-ups naming that response go to the credential that produced it. */
  for (i = 0; i < 4; ++i) {
    pick_with(m, "other-traffic", NULL, NULL, 0, c, sizeof c);
    CHECK(pick_with(m, NULL, next_body, NULL, 0, c, sizeof c) == AUTHROUTER_RESPONSE_CHAIN_FOLLOWED);
    CHECK(used != NULL && strcmp(c, used) == 0);
  }
  authrouter_string_free(used);
  used = NULL;
  /* An ID that fills the whole field (no NUL) is not recorded; the call still succeeds. */
  memset(long_id, 'x', sizeof long_id - 1);
  long_id[sizeof long_id - 1] = '\0';
  ex.user_data = long_id;
  CHECK(authrouter_manager_execute(m, &used, &attempts, &req, &ex, NULL) == AUTHROUTER_OK);
  authrouter_string_free(used);
  {
    /* Nothing was recorded under the whole field's 256 bytes, nor under any shorter part. */
    char body[400];
    static const size_t lens[] = {256, 255};
    size_t k;
    for (k = 0; k < 2; ++k) {
      int n = snprintf(body, sizeof body, "{\"previous_response_id\":\"%.*s\",\"input\":\"x\"}",
                       (int)lens[k], long_id);
      CHECK(n > 0 && (size_t)n < sizeof body);
      CHECK(pick_with(m, NULL, body, NULL, 0, c, sizeof c) == AUTHROUTER_RESPONSE_CHAIN_BROKEN);
    }
  }
  /* The state view: both credentials, their sessions, never the account e-mail. */
  {
    char *view = NULL;
    size_t view_len = 0;
    CHECK(authrouter_manager_state_view(m, &view, &view_len, NULL) == AUTHROUTER_OK);
    CHECK(view != NULL && view_len == strlen(view));
    CHECK(view != NULL && strstr(view, "\"id\":\"alice.json\"") != NULL);
    CHECK(view != NULL && strstr(view, "\"id\":\"bob.json\"") != NULL);
    CHECK(view != NULL && strstr(view, "\"state\":\"ready\"") != NULL);
    CHECK(view != NULL && strstr(view, "alice@x") == NULL);
    authrouter_string_free(view);
    CHECK(authrouter_manager_state_view(m, NULL, NULL, NULL) == AUTHROUTER_INVALID_ARGUMENT);
    CHECK(authrouter_manager_state_view(NULL, &view, &view_len, NULL) == AUTHROUTER_INVALID_ARGUMENT);
    CHECK(view == NULL && view_len == 0);
  }
  CHECK(authrouter_manager_shutdown(m) == AUTHROUTER_OK);
  {
    char *view = (char *)1;
    CHECK(authrouter_manager_state_view(m, &view, NULL, NULL) == AUTHROUTER_SHUT_DOWN);
    CHECK(view == NULL);
  }
  authrouter_manager_free(m);

  /* extract_session_ids_with: the conversation chain, as session affinity uses it. */
  {
    static const char start[] =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Plan a trip\"}]}";
    static const char turn2[] =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"Plan a trip\"},"
        "{\"role\":\"assistant\",\"content\":\"Where to?\"},"
        "{\"role\":\"user\",\"content\":\"Kyoto\"}]}";
    authrouter_session_id_options o;
    char *primary = NULL, *chain = NULL, *first_chain = NULL;
    size_t primary_len = 0, chain_len = 0, first_len = 0;
    authrouter_error *err = NULL;
    authrouter_session_id_options_init(&o);
    CHECK(o.version == AUTHROUTER_SESSION_ID_OPTIONS_VERSION && o.content_sources &&
          o.content_identity == AUTHROUTER_CONTENT_IDENTITY_UPSTREAM);
    o.content_identity = AUTHROUTER_CONTENT_IDENTITY_CHAIN;
    CHECK(authrouter_extract_session_ids_with(NULL, 0, start, sizeof start - 1, &o, &primary,
                                              &primary_len, NULL, NULL, NULL, NULL, &first_chain,
                                              &first_len, NULL) == AUTHROUTER_OK);
    CHECK(primary == NULL && primary_len == 0); /* a conversation's start continues nothing */
    CHECK(first_chain != NULL && strncmp(first_chain, "chain:", 6) == 0 && first_len == 22);
    CHECK(authrouter_extract_session_ids_with(NULL, 0, turn2, sizeof turn2 - 1, &o, &primary,
                                              &primary_len, NULL, NULL, NULL, NULL, &chain,
                                              &chain_len, NULL) == AUTHROUTER_OK);
    /* The second turn continues the first request's chain and has its own. */
    CHECK(primary != NULL && first_chain != NULL && strcmp(primary, first_chain) == 0);
    CHECK(chain != NULL && first_chain != NULL && strcmp(chain, first_chain) != 0);
    authrouter_string_free(primary);
    authrouter_string_free(chain);
    authrouter_string_free(first_chain);
    /* NULL options: the defaults (upstream's msg: hash, no chain). */
    CHECK(authrouter_extract_session_ids_with(NULL, 0, turn2, sizeof turn2 - 1, NULL, &primary,
                                              &primary_len, NULL, NULL, NULL, NULL, &chain,
                                              &chain_len, NULL) == AUTHROUTER_OK);
    CHECK(primary != NULL && strncmp(primary, "msg:", 4) == 0);
    CHECK(chain == NULL && chain_len == 0);
    authrouter_string_free(primary);
    /* Content sources off: nothing from a body without an explicit ID. */
    o.content_sources = false;
    CHECK(authrouter_extract_session_ids_with(NULL, 0, turn2, sizeof turn2 - 1, &o, &primary,
                                              &primary_len, NULL, NULL, NULL, NULL, &chain,
                                              &chain_len, NULL) == AUTHROUTER_OK);
    CHECK(primary == NULL && chain == NULL);
    /* Bad options: zero-initialised, an unknown identity. */
    memset(&o, 0, sizeof o);
    primary = (char *)1;
    CHECK(authrouter_extract_session_ids_with(NULL, 0, turn2, sizeof turn2 - 1, &o, &primary,
                                              &primary_len, NULL, NULL, NULL, NULL, NULL, NULL,
                                              &err) == AUTHROUTER_INVALID_ARGUMENT);
    CHECK(primary == NULL);
    CHECK(strstr(authrouter_error_message(err, NULL), "AUTHROUTER_SESSION_ID_OPTIONS_INIT") != NULL);
    authrouter_error_free(err);
    err = NULL;
    authrouter_session_id_options_init(&o);
    o.content_identity = 7;
    CHECK(authrouter_extract_session_ids_with(NULL, 0, turn2, sizeof turn2 - 1, &o, &primary,
                                              &primary_len, NULL, NULL, NULL, NULL, NULL, NULL,
                                              &err) == AUTHROUTER_INVALID_ARGUMENT);
    CHECK(strstr(authrouter_error_message(err, NULL), "content_identity") != NULL);
    authrouter_error_free(err);
    authrouter_session_id_options_init(NULL); /* no crash */
  }
}

/* patch: a JSON merge patch over the current record, committed like update (store first,
 * all-or-nothing); bad patches change nothing and say why. */
static void expect_patch_error(authrouter_manager *m, const char *id, const char *patch,
                               int32_t code, const char *needle) {
  authrouter_error *err = NULL;
  CHECK(authrouter_manager_patch(m, id, strlen(id), patch, strlen(patch), &err) == code);
  CHECK(err != NULL && strstr(authrouter_error_message(err, NULL), needle) != NULL);
  if (err != NULL && strstr(authrouter_error_message(err, NULL), needle) == NULL) {
    fprintf(stderr, "  patch %s: %s\n", patch, authrouter_error_message(err, NULL));
  }
  authrouter_error_free(err);
}

static void test_patch(void) {
  static const char patch[] =
      "{\"label\":\"team-a\",\"attributes\":{\"priority\":\"2\"},"
      "\"metadata\":{\"note\":null,\"tier\":\"pro\"}}";
  mem_store store_state;
  authrouter_store store = AUTHROUTER_STORE_INIT;
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  authrouter_credential *c = NULL;
  const char *meta;
  int saves;

  memset(&store_state, 0, sizeof store_state);
  store.list = store_list;
  store.save = store_save;
  store.remove = store_remove;
  store.user_data = &store_state;
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_set_store(opts, &store, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&m, opts, NULL) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  CHECK(authrouter_manager_register(m, kAlice, sizeof kAlice - 1, NULL) == AUTHROUTER_OK);
  saves = store_state.saves;

  CHECK(authrouter_manager_patch(NULL, "alice.json", 10, patch, sizeof patch - 1, NULL) ==
        AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_manager_patch(m, NULL, 5, patch, sizeof patch - 1, NULL) ==
        AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_manager_patch(m, "alice.json", 10, NULL, 0, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_manager_patch(m, "carol.json", 10, patch, sizeof patch - 1, NULL) ==
        AUTHROUTER_NOT_FOUND);
  expect_patch_error(m, "alice.json", "{\"label\":", AUTHROUTER_INVALID_ARGUMENT, "not a JSON object");
  expect_patch_error(m, "alice.json", "[1]", AUTHROUTER_INVALID_ARGUMENT, "not a JSON object");
  expect_patch_error(m, "alice.json", "{\"metadata\":{\"note\":1,\"note\":2}}",
                     AUTHROUTER_INVALID_ARGUMENT, "metadata.note: the key appears twice");
  expect_patch_error(m, "alice.json", "{\"id\":\"bob.json\"}", AUTHROUTER_INVALID_ARGUMENT,
                     "changed the credential's ID");
  expect_patch_error(m, "alice.json", "{\"status\":\"sleepy\"}", AUTHROUTER_INVALID_ARGUMENT,
                     "status");
  expect_patch_error(m, "alice.json", "{\"metadata\":7}", AUTHROUTER_INVALID_ARGUMENT, "metadata");
  CHECK(store_state.saves == saves); /* none of these reached the store */

  store_state.fail_saves = 1; /* refused by the store: nothing changes */
  CHECK(authrouter_manager_patch(m, "alice.json", 10, patch, sizeof patch - 1, NULL) ==
        AUTHROUTER_CALLBACK_FAILED);
  CHECK(authrouter_manager_get(m, &c, "alice.json", 10, NULL) == AUTHROUTER_OK);
  CHECK(strcmp(authrouter_credential_label(c, NULL), "") == 0);
  CHECK(strcmp(authrouter_credential_attribute(c, "priority", 8, NULL), "10") == 0);
  authrouter_credential_free(c);
  store_state.fail_saves = 0;

  CHECK(authrouter_manager_patch(m, "alice.json", 10, patch, sizeof patch - 1, NULL) == AUTHROUTER_OK);
  CHECK(store_state.saves == saves + 1);
  CHECK(authrouter_manager_get(m, &c, "alice.json", 10, NULL) == AUTHROUTER_OK);
  CHECK(strcmp(authrouter_credential_label(c, NULL), "team-a") == 0);
  CHECK(strcmp(authrouter_credential_attribute(c, "priority", 8, NULL), "2") == 0);
  meta = authrouter_credential_metadata_json(c, NULL);
  CHECK(strstr(meta, "\"tier\":\"pro\"") != NULL);
  CHECK(strstr(meta, "\"note\"") == NULL);               /* null removed it */
  CHECK(strstr(meta, "\"refresh_token\":\"r\"") != NULL); /* the rest kept */
  CHECK(strstr(meta, "\"email\":\"alice@x\"") != NULL);
  authrouter_credential_free(c);
  CHECK(strstr(store_state.json[0], "\"tier\":\"pro\"") != NULL);
  CHECK(authrouter_manager_shutdown(m) == AUTHROUTER_OK);
  authrouter_manager_free(m);
  while (store_state.count > 0) free(store_state.json[--store_state.count]);
}

/* A policy selector (version 2): each decision through C, the budget, and stop once. */
typedef struct {
  int32_t action;
  size_t pick;
  int exclude_first;
  int fail;
  int slow;
  int calls;
  int stops;
  size_t last_count;
  size_t last_tiers;
  int saw_secret;
} policy_state;

static int32_t policy_decide(void *ud, const char *p, size_t pl, const char *m, size_t ml,
                             const authrouter_select_candidate *c, size_t n,
                             const authrouter_select_tier *tiers, size_t tier_count,
                             authrouter_select_decision *d) {
  policy_state *st = (policy_state *)ud;
  size_t i;
  (void)p; (void)pl; (void)m; (void)ml;
  ++st->calls;
  st->last_count = n;
  st->last_tiers = tier_count;
  CHECK(tier_count == 0 || (tiers[0].first == 0 && tiers[tier_count - 1].first + tiers[tier_count - 1].count == n));
  for (i = 0; i < n; ++i) { /* views only: id, provider, label, priority, weight, websockets */
    if (c[i].id_len == 8 && memcmp(c[i].id, "low.json", 8) == 0 &&
        (c[i].priority != 1 || c[i].label_len != 14 || memcmp(c[i].label, "no secret here", 14) != 0)) {
      st->saw_secret = 1;
    }
  }
  CHECK(d->action == AUTHROUTER_SELECT_DELEGATE && d->exclude != NULL);
  if (st->fail) return 7;
  if (st->slow) g_now_ms += 60; /* over the 50 ms budget, by the manager's clock */
  d->action = st->action;
  d->pick = st->pick;
  if (st->exclude_first) d->exclude[0] = 1;
  if (st->action == AUTHROUTER_SELECT_REJECT) {
    d->reject_http_status = 403;
    strcpy(d->reject_message, "team over budget");
  }
  return 0;
}
static void policy_stop(void *ud) { ++((policy_state *)ud)->stops; }

static void pick_id(authrouter_manager *m, char *out, size_t cap, int32_t *code) {
  authrouter_pick_result *pick = NULL;
  authrouter_string providers[1];
  authrouter_pick_request req = AUTHROUTER_PICK_REQUEST_INIT;
  providers[0] = Str("claude");
  req.providers = providers;
  req.provider_count = 1;
  req.model = Str("claude-sonnet-4-5");
  out[0] = '\0';
  *code = authrouter_manager_pick(m, &pick, &req, NULL);
  if (pick == NULL) return;
  strncpy(out, authrouter_credential_id(authrouter_pick_result_credential(pick), NULL), cap - 1);
  out[cap - 1] = '\0';
  authrouter_pick_result_free(pick);
}

static void test_policy_selector(void) {
  static const char low[] =
      "{\"id\":\"low.json\",\"provider\":\"claude\",\"label\":\"no secret here\",\"attributes\":{\"priority\":\"1\"},"
      "\"metadata\":{\"type\":\"claude\",\"access_token\":\"secret-token\"}}";
  policy_state st;
  authrouter_selector sel = AUTHROUTER_SELECTOR_INIT;
  authrouter_clock clock = AUTHROUTER_CLOCK_INIT;
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  authrouter_error *err = NULL;
  authrouter_string models[1];
  char id[64];
  int32_t code;

  memset(&st, 0, sizeof st);
  models[0] = Str("claude-sonnet-4-5");
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  sel.mode = AUTHROUTER_SELECTOR_DECIDE_ALL_TIERS;
  CHECK(authrouter_options_set_selector(opts, &sel, &err) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(err != NULL && strstr(authrouter_error_message(err, NULL), "no decide") != NULL);
  authrouter_error_free(err);
  err = NULL;
  sel.mode = 9;
  sel.decide = policy_decide;
  CHECK(authrouter_options_set_selector(opts, &sel, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  sel.mode = AUTHROUTER_SELECTOR_DECIDE_ALL_TIERS;
  sel.stop = policy_stop;
  sel.user_data = &st;
  CHECK(authrouter_options_set_selector_budget_ms(opts, 0, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_options_set_selector_budget_ms(NULL, 5, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_options_set_selector_budget_ms(opts, 50, NULL) == AUTHROUTER_OK);
  clock.now_unix_ms = now_ms;
  CHECK(authrouter_options_set_clock(opts, &clock, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_set_selector(opts, &sel, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&m, opts, NULL) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  CHECK(authrouter_manager_register(m, kAlice, sizeof kAlice - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register(m, kBob, sizeof kBob - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register(m, low, sizeof low - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register_models(m, "alice.json", 10, models, 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register_models(m, "bob.json", 8, models, 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register_models(m, "low.json", 8, models, 1, NULL) == AUTHROUTER_OK);

  pick_id(m, id, sizeof id, &code); /* delegate: round-robin over the best tier */
  CHECK(code == AUTHROUTER_OK && strcmp(id, "alice.json") == 0);
  CHECK(st.last_count == 3 && st.last_tiers == 2); /* every tier: alice, bob (10), low (1) */
  CHECK(st.saw_secret == 0);
  st.action = AUTHROUTER_SELECT_PICK;
  st.pick = 2;
  pick_id(m, id, sizeof id, &code);
  CHECK(code == AUTHROUTER_OK && strcmp(id, "low.json") == 0);
  st.action = AUTHROUTER_SELECT_EXCLUDE;
  st.exclude_first = 1;
  pick_id(m, id, sizeof id, &code);
  CHECK(code == AUTHROUTER_OK && strcmp(id, "bob.json") == 0);
  st.exclude_first = 0;
  st.action = AUTHROUTER_SELECT_REJECT;
  pick_id(m, id, sizeof id, &code);
  CHECK(code == 7); /* PERMISSION_DENIED, from the 403 */
  st.action = AUTHROUTER_SELECT_PICK;
  st.pick = 99; /* no candidate: reported, the built-in strategy answers */
  pick_id(m, id, sizeof id, &code);
  CHECK(code == AUTHROUTER_OK);
  st.fail = 1; /* a failing callback: the same */
  pick_id(m, id, sizeof id, &code);
  CHECK(code == AUTHROUTER_OK);
  st.fail = 0;
  st.pick = 2;
  st.slow = 1; /* its answer (low.json) comes too late: the built-in strategy answers */
  pick_id(m, id, sizeof id, &code);
  CHECK(code == AUTHROUTER_OK && strcmp(id, "low.json") != 0);
  st.slow = 0;
  pick_id(m, id, sizeof id, &code);
  CHECK(code == AUTHROUTER_OK && strcmp(id, "low.json") == 0);
  CHECK(st.calls == 8);
  CHECK(st.stops == 0);
  CHECK(authrouter_manager_shutdown(m) == AUTHROUTER_OK);
  CHECK(st.stops == 1);
  authrouter_manager_free(m);
  CHECK(st.stops == 1); /* once */
}

/* Metrics (Prometheus text and JSON) and decision records through the C ABI. */
static void test_metrics_and_decisions(void) {
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  authrouter_string models[1];
  authrouter_pick_request req;
  authrouter_string providers[1];
  authrouter_string tried[1];
  authrouter_pick_result *pick = NULL;
  authrouter_result res = AUTHROUTER_RESULT_INIT;
  authrouter_error *err = NULL;
  char *text = NULL, *json = NULL, *decision = NULL;
  size_t text_len = 0, json_len = 0, decision_len = 0;
  int i;
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_set_metrics(NULL, true, AUTHROUTER_METRICS_CREDENTIALS_OFF, NULL) ==
        AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_options_set_metrics(opts, true, 7u, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_options_set_metrics(opts, true, AUTHROUTER_METRICS_CREDENTIALS_ID, NULL) ==
        AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&m, opts, NULL) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  CHECK(authrouter_manager_register(m, kAlice, sizeof kAlice - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register(m, kBob, sizeof kBob - 1, NULL) == AUTHROUTER_OK);
  models[0] = Str("claude-sonnet-4-5");
  CHECK(authrouter_manager_register_models(m, "alice.json", 10, models, 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register_models(m, "bob.json", 8, models, 1, NULL) == AUTHROUTER_OK);

  authrouter_pick_request_init2(&req);
  providers[0] = Str("claude");
  req.providers = providers;
  req.provider_count = 1;
  req.model = Str("claude-sonnet-4-5");
  for (i = 0; i < 4; ++i) {
    CHECK(authrouter_manager_pick(m, &pick, &req, NULL) == AUTHROUTER_OK);
    authrouter_pick_result_free(pick);
    pick = NULL;
  }
  res.credential_id = Str("alice.json");
  res.model = Str("claude-sonnet-4-5");
  res.http_status = 429;
  res.retry_after_ms = 30000;
  CHECK(authrouter_manager_mark_result(m, &res, NULL) == AUTHROUTER_OK);

  CHECK(authrouter_manager_metrics(m, AUTHROUTER_METRICS_PROMETHEUS, &text, &text_len, NULL) ==
        AUTHROUTER_OK);
  CHECK(text != NULL && text_len == strlen(text));
  CHECK(text != NULL && strstr(text, "# TYPE authrouter_picks_total counter\n") != NULL);
  CHECK(text != NULL &&
        strstr(text, "authrouter_picks_total{provider=\"claude\",outcome=\"picked\"} 4\n") != NULL);
  CHECK(text != NULL &&
        strstr(text, "authrouter_cooldowns_entered_total{provider=\"claude\",cause=\"quota\"} 1\n") != NULL);
  CHECK(text != NULL &&
        strstr(text, "authrouter_credential_picks_total{credential=\"alice.json\"} 2\n") != NULL);
  CHECK(text != NULL && strstr(text, "alice@x") == NULL);
  authrouter_string_free(text);
  CHECK(authrouter_manager_metrics(m, AUTHROUTER_METRICS_JSON, &json, &json_len, NULL) == AUTHROUTER_OK);
  CHECK(json != NULL && json_len == strlen(json) && json[0] == '{');
  CHECK(json != NULL && strstr(json, "\"name\":\"authrouter_credentials\"") != NULL);
  authrouter_string_free(json);
  json = (char *)1;
  CHECK(authrouter_manager_metrics(m, 9u, &json, &json_len, &err) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(json == NULL && json_len == 0);
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_manager_metrics(m, AUTHROUTER_METRICS_JSON, NULL, NULL, NULL) ==
        AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_manager_metrics(NULL, AUTHROUTER_METRICS_JSON, &json, NULL, NULL) ==
        AUTHROUTER_INVALID_ARGUMENT);

  /* A pick with its record: alice cools, bob is tried, so the pick fails and says why. */
  tried[0] = Str("bob.json");
  req.tried = tried;
  req.tried_count = 1;
  CHECK(authrouter_manager_pick_explain(m, &pick, &req, &decision, &decision_len, &err) ==
        AUTHROUTER_RESOURCE_EXHAUSTED);
  CHECK(pick == NULL && err != NULL);
  CHECK(decision != NULL && decision_len == strlen(decision));
  CHECK(decision != NULL && strstr(decision, "\"outcome\":\"failed\"") != NULL);
  CHECK(decision != NULL && strstr(decision, "{\"id\":\"alice.json\",\"provider\":\"claude\",\"priority\":10,"
                                             "\"reason\":\"cooling\",\"model\":\"claude-sonnet-4-5\"") != NULL);
  CHECK(decision != NULL && strstr(decision, "\"cause\":\"quota\"") != NULL);
  CHECK(decision != NULL && strstr(decision, "{\"id\":\"bob.json\",\"provider\":\"claude\",\"priority\":10,"
                                             "\"reason\":\"tried\"}") != NULL);
  authrouter_string_free(decision);
  authrouter_error_free(err);
  err = NULL;
  /* A successful one names what it took. */
  req.tried_count = 0;
  CHECK(authrouter_manager_pick_explain(m, &pick, &req, &decision, NULL, NULL) == AUTHROUTER_OK);
  CHECK(pick != NULL && decision != NULL &&
        strstr(decision, "\"picked\":{\"id\":\"bob.json\",\"provider\":\"claude\"}") != NULL);
  authrouter_pick_result_free(pick);
  authrouter_string_free(decision);
  pick = (authrouter_pick_result *)1;
  decision = (char *)1;
  CHECK(authrouter_manager_pick_explain(m, &pick, NULL, &decision, NULL, NULL) ==
        AUTHROUTER_INVALID_ARGUMENT);
  CHECK(pick == NULL && decision == NULL);
  CHECK(authrouter_manager_pick_explain(m, &pick, &req, NULL, NULL, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  authrouter_manager_free(m);
}


/* Cooldown policies and concurrency leases through the C ABI (health.h). */
static void test_health(void) {
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  authrouter_string models[1];
  authrouter_pick_request req;
  authrouter_string providers[1];
  authrouter_pick_result *one = NULL, *two = NULL, *busy = NULL;
  authrouter_result res = AUTHROUTER_RESULT_INIT;
  authrouter_error *err = NULL;
  const char *code = NULL, *body = NULL;
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  /* NULL and out-of-range values are refused and change nothing. */
  CHECK(authrouter_options_set_cooldown_policy(NULL, NULL, 3600000, 300000, false, 50, 1, 1, 1, NULL) ==
        AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_options_set_cooldown_policy(opts, NULL, 3600000, 300000, false, 101, 1, 1, 1, &err) ==
        AUTHROUTER_INVALID_ARGUMENT);
  CHECK(err != NULL && strstr(authrouter_error_message(err, NULL), "max_ejection_percent") != NULL);
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_options_set_cooldown_policy(opts, "claude", INT64_MAX, 0, false, 50, 0, 1, 1, NULL) ==
        AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_options_set_leases(opts, -1, 0, 60000, 1000, false, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_options_set_leases(opts, 1, 0, 0, 1000, false, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_options_set_leases(NULL, 1, 0, 60000, 1000, false, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  /* The 18-day hint capped at one hour for claude; one place per credential. */
  CHECK(authrouter_options_set_cooldown_policy(opts, " Claude", 3600000, 0, false, 100, 1, 1, 1, NULL) ==
        AUTHROUTER_OK);
  CHECK(authrouter_options_set_leases(opts, 1, 0, 60000, 2000, false, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&m, opts, NULL) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  CHECK(authrouter_manager_register(m, kAlice, sizeof kAlice - 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register(m, kBob, sizeof kBob - 1, NULL) == AUTHROUTER_OK);
  models[0] = Str("claude-sonnet-4-5");
  CHECK(authrouter_manager_register_models(m, "alice.json", 10, models, 1, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_register_models(m, "bob.json", 8, models, 1, NULL) == AUTHROUTER_OK);
  authrouter_pick_request_init2(&req);
  providers[0] = Str("claude");
  req.providers = providers;
  req.provider_count = 1;
  req.model = Str("claude-sonnet-4-5");

  CHECK(authrouter_manager_pick(m, &one, &req, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_pick(m, &two, &req, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_pick_result_holds_lease(one) && authrouter_pick_result_holds_lease(two));
  CHECK(!authrouter_pick_result_probe(one));
  CHECK(authrouter_manager_in_flight(m, "alice.json") == 1);
  CHECK(authrouter_manager_in_flight(m, "bob.json") == 1);
  CHECK(authrouter_manager_in_flight(NULL, "bob.json") == 0 && authrouter_manager_in_flight(m, NULL) == 0);
  /* Both full: auth_busy, HTTP 429, Retry-After 2 s, its own body. */
  CHECK(authrouter_manager_pick(m, &busy, &req, &err) == AUTHROUTER_RESOURCE_EXHAUSTED);
  CHECK(busy == NULL && err != NULL);
  code = authrouter_error_routing_code(err, NULL);
  CHECK(code != NULL && strcmp(code, "auth_busy") == 0);
  CHECK(strcmp(authrouter_error_reason(err, NULL), "all_busy") == 0);
  CHECK(authrouter_error_http_status(err) == 429);
  CHECK(authrouter_error_retry_after_ms(err) == 2000);
  body = authrouter_error_body(err, NULL);
  CHECK(body != NULL && strstr(body, "\"code\":\"auth_busy\"") != NULL &&
        strstr(body, "\"retry_after_seconds\":2") != NULL);
  authrouter_error_free(err);
  err = NULL;
  /* Released: the place is free again; a second release does nothing. */
  authrouter_pick_result_release_lease(one);
  authrouter_pick_result_release_lease(one);
  authrouter_pick_result_release_lease(NULL);
  CHECK(!authrouter_pick_result_holds_lease(one));
  CHECK(authrouter_manager_pick(m, &busy, &req, NULL) == AUTHROUTER_OK);
  authrouter_pick_result_free(busy); /* frees its lease too */
  busy = NULL;
  authrouter_pick_result_free(one);
  authrouter_pick_result_free(two); /* the last lease goes with its result */
  CHECK(authrouter_manager_in_flight(m, "alice.json") == 0 && authrouter_manager_in_flight(m, "bob.json") == 0);

  /* Hot reload: no limits; an 18-day Retry-After cools for the one-hour cap. */
  CHECK(authrouter_manager_set_leases(m, 0, 0, 60000, 1000, false, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_set_leases(m, 0, 0, 60000, 0, false, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_manager_set_leases(NULL, 0, 0, 60000, 1000, false, NULL) == AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_manager_pick(m, &one, &req, NULL) == AUTHROUTER_OK);
  CHECK(!authrouter_pick_result_holds_lease(one));
  authrouter_pick_result_free(one);
  res.credential_id = Str("alice.json");
  res.model = Str("claude-sonnet-4-5");
  res.http_status = 429;
  res.retry_after_ms = (int64_t)18 * 24 * 3600 * 1000;
  CHECK(authrouter_manager_mark_result(m, &res, NULL) == AUTHROUTER_OK);
  res.credential_id = Str("bob.json");
  res.retry_after_ms = 60000;
  CHECK(authrouter_manager_mark_result(m, &res, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_pick(m, &busy, &req, &err) == AUTHROUTER_RESOURCE_EXHAUSTED);
  CHECK(strcmp(authrouter_error_routing_code(err, NULL), "model_cooldown") == 0);
  CHECK(authrouter_error_retry_after_ms(err) == 60000);
  authrouter_error_free(err);
  err = NULL;
  CHECK(authrouter_manager_set_cooldown_policy(m, "claude", 3600000, 0, false, 100, 1, 1, 1001, NULL) ==
        AUTHROUTER_INVALID_ARGUMENT);
  CHECK(authrouter_manager_set_cooldown_policy(m, NULL, 3600000, 300000, true, 50, 1, 1, 3, NULL) ==
        AUTHROUTER_OK);
  authrouter_manager_free(m);
}

int main(void) {
  CHECK(authrouter_version_number() == AUTHROUTER_VERSION_NUMBER);
  CHECK(strcmp(authrouter_version_string(), AUTHROUTER_VERSION_STRING) == 0);
  test_errors_and_nulls();
  test_pool();
  test_selector_and_ownership();
  test_session_affinity_max_entries();
  test_session_identity();
  test_session_placement();
  test_shared_state_callbacks();
  test_executor_response_id_and_chain_extraction();
  test_patch();
  test_policy_selector();
  test_metrics_and_decisions();
  test_health();
  if (failures != 0) {
    fprintf(stderr, "capi_test: %d failures\n", failures);
    return 1;
  }
  printf("capi_test: all checks passed (version %s)\n", authrouter_version_string());
  return 0;
}
