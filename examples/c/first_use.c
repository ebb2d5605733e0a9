/* The README's "From C" sequence, as a program: run it in a directory holding config.json and
 * the auth directory it names (a copy of examples/config.json and examples/auth/). ctest runs it
 * there, and checks that the block between the README markers below is byte-identical to the
 * README's snippet. */
#include <stdio.h>

#include "authrouter/authrouter.h"

static void print_log(void *user_data, int32_t level, const char *component, size_t component_len,
                      const char *message, size_t message_len) {
  (void)user_data;
  fprintf(stderr, "[%d] %.*s: %.*s\n", (int)level, (int)component_len, component, (int)message_len,
          message);
}

int main(void) {
  /* README-BEGIN */
  authrouter_options *opts = NULL;
  authrouter_manager *m = NULL;
  authrouter_error *err = NULL;
  authrouter_log log = AUTHROUTER_LOG_INIT;  /* optional: bad files, typos, failures */
  log.log = print_log;
  authrouter_options_new(&opts, NULL);
  authrouter_options_set_log(opts, &log, NULL);
  if (authrouter_options_load_config_file(opts, "config.json", 11, &err) != AUTHROUTER_OK ||
      authrouter_options_use_file_store(opts, NULL, 0, &err) != AUTHROUTER_OK ||  /* its auth-dir */
      authrouter_manager_new(&m, opts, &err) != AUTHROUTER_OK) {
    fprintf(stderr, "%s\n", authrouter_error_message(err, NULL));
    authrouter_error_free(err);
    authrouter_options_free(opts);
    return 1;
  }
  authrouter_options_free(opts);
  if (authrouter_manager_load(m, &err) != AUTHROUTER_OK ||   /* every *.json in the auth-dir */
      authrouter_manager_start(m, &err) != AUTHROUTER_OK) {  /* refresh; file and config watching */
    fprintf(stderr, "%s\n", authrouter_error_message(err, NULL));
    authrouter_error_free(err);
    authrouter_manager_free(m);
    return 1;
  }

  authrouter_string provider = {"claude", 6};
  authrouter_pick_request req = AUTHROUTER_PICK_REQUEST_INIT;  /* also: headers, body, tried */
  authrouter_pick_result *pick = NULL;
  req.providers = &provider;
  req.provider_count = 1;
  req.model.data = "claude-sonnet-4-5";  /* served by the config's model-catalog: "claude-*" */
  req.model.len = 17;
  if (authrouter_manager_pick(m, &pick, &req, &err) != AUTHROUTER_OK) {
    /* answer the client with authrouter_error_http_status, _retry_after_ms and _body;
     * authrouter_error_reason says why ("model_not_served", "all_cooling", ...) */
    fprintf(stderr, "%s\n", authrouter_error_message(err, NULL));
    authrouter_error_free(err);
    authrouter_manager_free(m);
    return 1;
  }
  const authrouter_credential *cred = authrouter_pick_result_credential(pick);
  printf("picked %s\n", authrouter_credential_id(cred, NULL));
  /* ... call upstream with authrouter_credential_metadata_json(cred), then report it: */
  authrouter_result res = AUTHROUTER_RESULT_INIT;
  res.credential_id.data = authrouter_credential_id(cred, &res.credential_id.len);
  res.model = req.model;
  res.success = true;
  res.http_status = 200;
  if (authrouter_manager_mark_result(m, &res, &err) != AUTHROUTER_OK) authrouter_error_free(err);
  authrouter_pick_result_free(pick);
  authrouter_manager_free(m);
  /* README-END */
  return 0;
}
