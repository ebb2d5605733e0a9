/* The C example: register credentials, pick with session affinity, report a 429 and watch the
 * conversation fail over; then four threads pick and report at once (run under ThreadSanitizer
 * by the test command). Uses only the stable C ABI (libauthrouter.so). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "authrouter/authrouter.h"

static authrouter_string Str(const char *s) {
  authrouter_string out;
  out.data = s;
  out.len = strlen(s);
  return out;
}

static int Die(const char *what, authrouter_error *err) {
  fprintf(stderr, "%s failed: %s (%s)\n", what, authrouter_error_message(err, NULL),
          authrouter_status_str(authrouter_error_code(err)));
  authrouter_error_free(err);
  return 1;
}

static const char *kCredentials[] = {
    "{\"id\":\"alice.json\",\"provider\":\"claude\",\"metadata\":{\"type\":\"claude\","
    "\"email\":\"alice@example.com\",\"access_token\":\"EXAMPLE\"}}",
    "{\"id\":\"bob.json\",\"provider\":\"claude\",\"metadata\":{\"type\":\"claude\","
    "\"email\":\"bob@example.com\",\"access_token\":\"EXAMPLE\"}}",
    "{\"id\":\"carol.json\",\"provider\":\"claude\",\"metadata\":{\"type\":\"claude\","
    "\"email\":\"carol@example.com\",\"access_token\":\"EXAMPLE\"}}",
};

static authrouter_manager *g_manager;

/* pick_for picks for one conversation and copies the credential ID into `id`. */
static int32_t pick_for(const char *session, char *id, size_t id_size, char *key, size_t key_size) {
  authrouter_pick_request req = AUTHROUTER_PICK_REQUEST_INIT;
  authrouter_string provider = Str("claude");
  authrouter_header header;
  authrouter_pick_result *pick = NULL;
  size_t len = 0;
  const char *s;
  int32_t rc;
  header.name = Str("X-Session-ID");
  header.value = Str(session);
  req.providers = &provider;
  req.provider_count = 1;
  req.model = Str("claude-sonnet-4-5");
  req.headers = &header;
  req.header_count = 1;
  rc = authrouter_manager_pick(g_manager, &pick, &req, NULL);
  if (rc != AUTHROUTER_OK) return rc;
  s = authrouter_credential_id(authrouter_pick_result_credential(pick), &len);
  snprintf(id, id_size, "%.*s", (int)len, s);
  s = authrouter_pick_result_session_key(pick, &len);
  if (key != NULL) {
    if (len >= key_size) { /* never pass on a truncated binding key */
      authrouter_pick_result_free(pick);
      return AUTHROUTER_OUT_OF_RANGE;
    }
    snprintf(key, key_size, "%.*s", (int)len, s);
  }
  authrouter_pick_result_free(pick);
  return AUTHROUTER_OK;
}

static void *worker(void *arg) {
  char session[32], id[64];
  int i;
  long n = (long)arg;
  snprintf(session, sizeof session, "thread-%ld", n);
  for (i = 0; i < 2000; ++i) {
    authrouter_result res = AUTHROUTER_RESULT_INIT;
    if (pick_for(session, id, sizeof id, NULL, 0) != AUTHROUTER_OK) continue;
    res.credential_id = Str(id);
    res.model = Str("claude-sonnet-4-5");
    res.success = true;
    res.http_status = 200;
    authrouter_manager_mark_result(g_manager, &res, NULL);
  }
  return NULL;
}

int main(void) {
  authrouter_options *opts = NULL;
  authrouter_error *err = NULL;
  authrouter_string model = Str("claude-sonnet-4-5");
  char first[64], again[64], key[256], moved[64];
  size_t i;
  static const char config[] = "{\"routing\":{\"session-affinity\":true}}";
  pthread_t threads[4];

  printf("authrouter %s (C ABI)\n", authrouter_version_string());
  if (authrouter_options_new(&opts, &err) != AUTHROUTER_OK) return Die("options", err);
  if (authrouter_options_apply_config(opts, config, sizeof config - 1, &err) != AUTHROUTER_OK) {
    return Die("config", err);
  }
  if (authrouter_manager_new(&g_manager, opts, &err) != AUTHROUTER_OK) return Die("manager", err);
  authrouter_options_free(opts);

  for (i = 0; i < sizeof kCredentials / sizeof kCredentials[0]; ++i) {
    const char *json = kCredentials[i];
    if (authrouter_manager_register(g_manager, json, strlen(json), &err) != AUTHROUTER_OK) {
      return Die("register", err);
    }
  }
  authrouter_manager_register_models(g_manager, "alice.json", 10, &model, 1, NULL);
  authrouter_manager_register_models(g_manager, "bob.json", 8, &model, 1, NULL);
  authrouter_manager_register_models(g_manager, "carol.json", 10, &model, 1, NULL);
  printf("registered 3 credentials\n");

  if (pick_for("conversation-1", first, sizeof first, key, sizeof key) != AUTHROUTER_OK) return 1;
  if (pick_for("conversation-1", again, sizeof again, NULL, 0) != AUTHROUTER_OK) return 1;
  printf("session affinity: conversation-1 -> %s, again -> %s (%s)\n", first, again,
         strcmp(first, again) == 0 ? "same" : "different");

  {
    authrouter_result res = AUTHROUTER_RESULT_INIT;
    res.credential_id = Str(first);
    res.model = Str("claude-sonnet-4-5");
    res.http_status = 429;
    res.retry_after_ms = 30000;
    res.session_key = Str(key);
    if (authrouter_manager_mark_result(g_manager, &res, &err) != AUTHROUTER_OK) return Die("mark", err);
  }
  if (pick_for("conversation-1", moved, sizeof moved, NULL, 0) != AUTHROUTER_OK) return 1;
  printf("429 on %s: conversation-1 fails over to %s (%s)\n", first, moved,
         strcmp(first, moved) != 0 ? "failover ok" : "NO FAILOVER");

  for (i = 0; i < 4; ++i) pthread_create(&threads[i], NULL, worker, (void *)(long)i);
  for (i = 0; i < 4; ++i) pthread_join(threads[i], NULL);
  printf("4 threads x 2000 picks and results: done\n");

  authrouter_manager_free(g_manager);
  return strcmp(first, again) == 0 && strcmp(first, moved) != 0 ? 0 : 1;
}
