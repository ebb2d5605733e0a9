/* Uses the C ABI from an installed tree. */
#include <stdio.h>
#include <string.h>

#include "authrouter/authrouter.h"

/* authrouter's own build settings stay inside it. */
#ifdef SIMDJSON_DEVELOPMENT_CHECKS
#error "SIMDJSON_DEVELOPMENT_CHECKS reached a consumer of authrouter::authrouter"
#endif

int main(void) {
  if (authrouter_version_number() != AUTHROUTER_VERSION_NUMBER) return 1;
  if (strcmp(authrouter_version_string(), AUTHROUTER_VERSION_STRING) != 0) return 2;
  printf("c consumer ok (%s)\n", authrouter_version_string());
  return 0;
}
