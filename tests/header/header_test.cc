// The same check as header_test.c, compiled as C++ (-Wold-style-cast,
// -Wzero-as-null-pointer-constant): the header and its _INIT macros must be clean C++ too.
#include "header_test.c"
