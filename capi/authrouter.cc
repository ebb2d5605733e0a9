// The C ABI entry points. Each one is noexcept and lets no exception out; the logic lives in the
// C++ core, this file only adapts.
#include "authrouter/authrouter.h"

extern "C" {

int32_t authrouter_version_number(void) { return AUTHROUTER_VERSION_NUMBER; }

const char *authrouter_version_string(void) { return AUTHROUTER_VERSION_STRING; }

}  // extern "C"
