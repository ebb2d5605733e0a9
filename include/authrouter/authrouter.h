/*
 * authrouter.h -- the stable C ABI of authrouter.
 *
 * authrouter decides which upstream credential (OAuth account or API key) serves each LLM API
 * request inside a gateway. This header is what libauthrouter.so exports: plain C99, usable from
 * C, C++, and through FFI from Rust, Go or Python. It includes only <stdint.h>, <stddef.h> and
 * <stdbool.h>.
 *
 * C++ hosts that link the static core may use the richer C++ headers next to this one
 * (credential.h, clock.h, ...); those carry no ABI promise.
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

#ifdef __cplusplus
extern "C" {
#endif

/*
 * authrouter_version_number returns the version of the linked library as
 * major * 10000 + minor * 100 + patch. Compare with AUTHROUTER_VERSION_NUMBER to detect a header
 * that does not match the library. Thread-safe; never fails.
 */
AUTHROUTER_API int32_t authrouter_version_number(void);

/*
 * authrouter_version_string returns the version of the linked library as a static,
 * NUL-terminated "major.minor.patch" string. The caller must not free it. Thread-safe.
 */
AUTHROUTER_API const char *authrouter_version_string(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* AUTHROUTER_AUTHROUTER_H_ */
