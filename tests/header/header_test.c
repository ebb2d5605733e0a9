/* Compiles authrouter.h alone as strict C99 (and, as header_test.cc, as C++): the header must
 * stand on its own and be warning-free at high warning levels (libgit2 tests/headertest). */
#include "authrouter/authrouter.h"

int authrouter_header_test(void);
int authrouter_header_test(void) {
  authrouter_pick_request request = AUTHROUTER_PICK_REQUEST_INIT;
  authrouter_result result = AUTHROUTER_RESULT_INIT;
  authrouter_store store = AUTHROUTER_STORE_INIT;
  authrouter_clock clock = AUTHROUTER_CLOCK_INIT;
  authrouter_hooks hooks = AUTHROUTER_HOOKS_INIT;
  authrouter_selector selector = AUTHROUTER_SELECTOR_INIT;
  authrouter_refresher refresher = AUTHROUTER_REFRESHER_INIT;
  authrouter_transport transport = AUTHROUTER_TRANSPORT_INIT;
  authrouter_executor executor = AUTHROUTER_EXECUTOR_INIT;
  const uint32_t sum = request.version + result.version + store.version + clock.version +
                       hooks.version + selector.version + refresher.version + transport.version +
                       executor.version;
  return sum == 9 ? 0 : 1;
}
