/* Drives the C ABI from plain C99 (LevelDB's c_test.c in spirit). */
#include <stdio.h>
#include <string.h>

#include "authrouter/authrouter.h"

static int failures = 0;

#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                    \
    }                                                                \
  } while (0)

int main(void) {
  CHECK(authrouter_version_number() == AUTHROUTER_VERSION_NUMBER);
  CHECK(authrouter_version_number() / 10000 == AUTHROUTER_VERSION_MAJOR);
  CHECK(authrouter_version_string() != NULL);
  CHECK(strcmp(authrouter_version_string(), AUTHROUTER_VERSION_STRING) == 0);
  if (failures != 0) return 1;
  printf("capi_test: version %s ok\n", authrouter_version_string());
  return 0;
}
