# The ABI check: compares libauthrouter.so with the committed baseline (abidiff from
# abigail-tools) and fails when an exported function is removed or changes (its signature, or
# the layout of a struct it reaches). Added functions are compatible.
#
#   cmake -DABIDIFF=<abidiff> -DBASELINE=<.abi> -DLIBRARY=<libauthrouter.so> [-DSELF_TEST=ON]
#         -P check_abi.cmake
#
# SELF_TEST checks that the check can fail: it renames one function in a copy of the baseline
# (so the library appears to have lost it) and expects the comparison to report that.
# To accept an intended change, regenerate the baseline (docs/ABI.md):
#   abidw --no-corpus-path --drop-private-types --no-show-locs --no-comp-dir-path --exported-interfaces-only \
#         --headers-dir include/authrouter --out-file tests/abi/libauthrouter.so.0.abi \
#         build/release/libauthrouter.so
set(baseline "${BASELINE}")
if(SELF_TEST)
  file(READ "${BASELINE}" text)
  string(REPLACE "authrouter_version_number" "authrouter_version_numbex" text "${text}")
  set(baseline "${CMAKE_CURRENT_BINARY_DIR}/mutated-baseline.abi")
  file(WRITE "${baseline}" "${text}")
endif()
execute_process(COMMAND "${ABIDIFF}" "${baseline}" "${LIBRARY}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE report ERROR_VARIABLE errors)
if(NOT rc MATCHES "^[0-9]+$")
  message(FATAL_ERROR "abidiff did not run: ${rc}\n${errors}")
endif()
math(EXPR tool_error "${rc} & 3")
if(NOT tool_error EQUAL 0)
  message(FATAL_ERROR "abidiff failed (exit ${rc}):\n${errors}")
endif()
set(broken FALSE)
foreach(kind Functions Variables)
  if(report MATCHES "${kind} changes summary: ([0-9]+) Removed, ([0-9]+) Changed")
    if(CMAKE_MATCH_1 GREATER 0 OR CMAKE_MATCH_2 GREATER 0)
      set(broken TRUE)
    endif()
  endif()
endforeach()
math(EXPR incompatible "${rc} & 8")
if(NOT incompatible EQUAL 0)
  set(broken TRUE)
endif()
if(SELF_TEST)
  if(NOT broken)
    message(FATAL_ERROR "the ABI check did not notice a removed function:\n${report}")
  endif()
  message(STATUS "the ABI check notices a removed function")
elseif(broken)
  message(FATAL_ERROR "incompatible ABI change against ${BASELINE}:\n${report}")
else()
  message(STATUS "ABI compatible with the baseline")
endif()
