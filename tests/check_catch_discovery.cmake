# Checks that ctest runs every Catch2 test case, each exactly once, by its own ctest entry:
#
#   cmake -DCTEST=<ctest> -DTEST_DIR=<build dir of the tests> -DTEST_EXECUTABLE=<authrouter_tests>
#         [-DCHECK_SPECS=OFF] -P check_catch_discovery.cmake
#
# catch_discover_tests makes one ctest entry per name in `--list-test-names-only`. A name that
# CMake or Catch2's test-spec syntax reads differently (a ';' splits it into two entries; a
# leading '~' or '*', a backslash or a '"' change what the spec selects) gives entries that run
# nothing or the wrong cases. This fails unless:
#   1. the ctest entries running TEST_EXECUTABLE are as many as the test cases it lists,
#   2. every entry is named after one of those test cases, and
#   3. every entry's test spec selects exactly the test case it is named after (one run of the
#      binary per entry; CHECK_SPECS=OFF skips it where starting the binary is slow).
execute_process(COMMAND "${TEST_EXECUTABLE}" --list-test-names-only
  RESULT_VARIABLE rc OUTPUT_VARIABLE listed ERROR_VARIABLE errors)
# Catch2 exits with the number of test cases it listed (at most 255).
if(NOT rc MATCHES "^[0-9]+$")
  message(FATAL_ERROR "${TEST_EXECUTABLE} --list-test-names-only failed: ${rc}\n${errors}")
endif()
# Count the non-empty lines without making a CMake list of them (names may hold ';', '[').
string(REGEX REPLACE "\n+" "\n" listed "\n${listed}\n")
string(REGEX REPLACE "[^\n]" "" newlines "${listed}")
string(LENGTH "${newlines}" case_count)
math(EXPR case_count "${case_count} - 1")
if(case_count LESS 1)
  message(FATAL_ERROR "${TEST_EXECUTABLE} lists no test cases")
endif()

execute_process(COMMAND "${CTEST}" --test-dir "${TEST_DIR}" --show-only=json-v1
  RESULT_VARIABLE rc OUTPUT_VARIABLE json ERROR_VARIABLE errors)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ctest --show-only=json-v1 failed (${rc}):\n${errors}")
endif()
string(JSON test_count LENGTH "${json}" tests)
get_filename_component(executable "${TEST_EXECUTABLE}" REALPATH)

set(entry_count 0)
set(problems "")
math(EXPR last "${test_count} - 1")
foreach(i RANGE ${last})
  string(JSON test GET "${json}" tests ${i})
  string(JSON command_length ERROR_VARIABLE no_command LENGTH "${test}" command)
  if(no_command OR command_length LESS 2)
    continue()
  endif()
  string(JSON program GET "${test}" command 0)
  get_filename_component(program "${program}" REALPATH)
  if(NOT program STREQUAL executable)
    continue()
  endif()
  math(EXPR entry_count "${entry_count} + 1")
  string(JSON name GET "${test}" name)
  string(FIND "${listed}" "\n${name}\n" at)
  if(at EQUAL -1)
    string(APPEND problems "\n  entry \"${name}\" is not the name of a test case")
    continue()
  endif()
  if(DEFINED CHECK_SPECS AND NOT CHECK_SPECS)
    continue()
  endif()
  # Ask the binary which test cases the entry's arguments select (its spec and extra arguments).
  set(args "")
  math(EXPR last_arg "${command_length} - 1")
  foreach(a RANGE 1 ${last_arg})
    string(JSON arg GET "${test}" command ${a})
    string(REPLACE ";" "\\;" arg "${arg}")
    list(APPEND args "${arg}")
  endforeach()
  execute_process(COMMAND "${TEST_EXECUTABLE}" ${args} --list-test-names-only
    OUTPUT_VARIABLE selected ERROR_VARIABLE errors)
  if(NOT selected STREQUAL "${name}\n")
    string(REGEX REPLACE "[^\n]" "" newlines "${selected}")
    string(LENGTH "${newlines}" selected_count)
    if(selected_count EQUAL 1)
      string(STRIP "${selected}" selected)
      string(APPEND problems "\n  entry \"${name}\" selects \"${selected}\"")
    else()
      string(APPEND problems "\n  entry \"${name}\" selects ${selected_count} test cases")
    endif()
  endif()
endforeach()

if(NOT entry_count EQUAL case_count)
  string(PREPEND problems
    "\n  ${entry_count} ctest entries run ${TEST_EXECUTABLE}, which lists ${case_count} test cases")
endif()
if(problems)
  message(FATAL_ERROR "ctest does not run every Catch2 test case exactly once:${problems}\n"
    "Rename the test cases: no ';', and no leading '~' or '*', backslash or '\"'.")
endif()
if(DEFINED CHECK_SPECS AND NOT CHECK_SPECS)
  message(STATUS "${entry_count} ctest entries, one per Catch2 test case (specs not run)")
else()
  message(STATUS "${entry_count} ctest entries, one per Catch2 test case, each selecting its own")
endif()
