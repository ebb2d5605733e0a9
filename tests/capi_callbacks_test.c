/* Callbacks that call back, through the C ABI: a hook running on the manager's watcher thread
 * calls run_due, load, stop, start and shutdown on the same manager. None of them may block (the
 * thread they would wait for is the one running the hook); start is refused with a clear error.
 * Waits for the watcher with a bounded condition wait, never a timer sleep. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
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

typedef struct {
  authrouter_manager *m;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int done;
  int32_t run_due, load, stop, start, shutdown, after;
  char start_error[256];
  pthread_t thread;
} hook_state;

static void on_registered(void *ud, const authrouter_credential *c) {
  hook_state *h = (hook_state *)ud;
  size_t len = 0;
  const char *id = authrouter_credential_id(c, &len);
  authrouter_error *err = NULL;
  if (len != 8 || memcmp(id, "new.json", 8) != 0) return;
  h->run_due = authrouter_manager_run_due(h->m, 1776384000000, NULL, NULL);
  h->load = authrouter_manager_load(h->m, NULL);
  h->stop = authrouter_manager_stop(h->m);
  h->start = authrouter_manager_start(h->m, &err);
  if (err != NULL) {
    snprintf(h->start_error, sizeof h->start_error, "%s", authrouter_error_message(err, NULL));
    authrouter_error_free(err);
  }
  h->shutdown = authrouter_manager_shutdown(h->m);
  h->after = authrouter_manager_load(h->m, NULL);
  pthread_mutex_lock(&h->mu);
  h->thread = pthread_self();
  h->done = 1;
  pthread_cond_broadcast(&h->cv);
  pthread_mutex_unlock(&h->mu);
}

static void write_file(const char *dir, const char *name, const char *content) {
  char path[512];
  FILE *f;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  f = fopen(path, "w");
  CHECK(f != NULL);
  if (f == NULL) return;
  fputs(content, f);
  fclose(f);
  chmod(path, 0600);
}

int main(void) {
  char dir[] = "/tmp/authrouter-capi-callbacks-XXXXXX";
  char path[512];
  hook_state h;
  authrouter_hooks hooks = AUTHROUTER_HOOKS_INIT;
  authrouter_options *opts = NULL;
  authrouter_error *err = NULL;
  struct timespec deadline;
  int waited = 0;

  memset(&h, 0, sizeof h);
  pthread_mutex_init(&h.mu, NULL);
  pthread_cond_init(&h.cv, NULL);
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  hooks.on_registered = on_registered;
  hooks.user_data = &h;
  CHECK(authrouter_options_new(&opts, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_use_file_store(opts, dir, strlen(dir), NULL) == AUTHROUTER_OK);
  CHECK(authrouter_options_set_hooks(opts, &hooks, NULL) == AUTHROUTER_OK);
  CHECK(authrouter_manager_new(&h.m, opts, &err) == AUTHROUTER_OK);
  authrouter_options_free(opts);
  CHECK(authrouter_manager_start(h.m, NULL) == AUTHROUTER_OK);

  write_file(dir, "new.json", "{\"type\":\"claude\",\"email\":\"new@x\"}");
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 30;
  pthread_mutex_lock(&h.mu);
  while (!h.done && waited == 0) waited = pthread_cond_timedwait(&h.cv, &h.mu, &deadline);
  pthread_mutex_unlock(&h.mu);
  CHECK(h.done);
  CHECK(!pthread_equal(h.thread, pthread_self())); /* it ran on the watcher's thread */
  CHECK(h.run_due == AUTHROUTER_OK);
  CHECK(h.load == AUTHROUTER_OK);
  CHECK(h.stop == AUTHROUTER_OK);
  CHECK(h.start == AUTHROUTER_FAILED_PRECONDITION);
  CHECK(strstr(h.start_error, "from a callback") != NULL);
  CHECK(h.shutdown == AUTHROUTER_OK);
  CHECK(h.after == AUTHROUTER_SHUT_DOWN);
  /* From the host's thread: everything after shutdown says so; free joins what the hook stopped. */
  CHECK(authrouter_manager_load(h.m, NULL) == AUTHROUTER_SHUT_DOWN);
  authrouter_manager_free(h.m);

  snprintf(path, sizeof path, "%s/new.json", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/new.json.state", dir);
  unlink(path);
  rmdir(dir);
  pthread_cond_destroy(&h.cv);
  pthread_mutex_destroy(&h.mu);
  if (failures != 0) {
    fprintf(stderr, "capi_callbacks_test: %d failures\n", failures);
    return 1;
  }
  printf("capi_callbacks_test: all checks passed\n");
  return 0;
}
