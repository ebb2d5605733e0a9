# The runtime dependencies of libauthrouter.so are the ones docs/ABI.md lists: compares the
# library's NEEDED entries (readelf -d) with the list between the `needed-libraries` markers of
# the document, and fails on a library missing from either side.
#
#   cmake -DREADELF=<readelf> -DLIBRARY=<libauthrouter.so> -DDOC=<docs/ABI.md>
#         [-DOPTIONAL=<;-list>] [-DSELF_TEST=ON] -P check_needed.cmake
#
# OPTIONAL names libraries the library may need beyond the list without failing (unoptimised
# builds call libm's trunc, which optimised code inlines). SELF_TEST checks that the check can
# fail: it drops one library from the documented list and adds one that is not needed, and
# expects both differences to be reported.

cmake_policy(VERSION 3.25)  # if(IN_LIST)

# needed_libraries(<out>): the NEEDED entries of LIBRARY, in order.
function(needed_libraries out)
  execute_process(COMMAND "${READELF}" -d --wide "${LIBRARY}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE dynamic ERROR_VARIABLE errors)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "readelf -d failed on ${LIBRARY} (${rc}):\n${errors}")
  endif()
  string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[[^]\n]+\\]" entries "${dynamic}")
  set(names "")
  foreach(entry IN LISTS entries)
    string(REGEX REPLACE "^.*\\[([^]]+)\\]$" "\\1" name "${entry}")
    list(APPEND names "${name}")
  endforeach()
  set(${out} "${names}" PARENT_SCOPE)
endfunction()

# documented_libraries(<out>): the first `code span` of each table row between the markers.
function(documented_libraries out)
  file(READ "${DOC}" text)
  string(FIND "${text}" "<!-- needed-libraries:begin" begin)
  string(FIND "${text}" "<!-- needed-libraries:end" end)
  if(begin EQUAL -1 OR end EQUAL -1 OR end LESS begin)
    message(FATAL_ERROR "${DOC} has no <!-- needed-libraries:begin ... --> ... :end --> section")
  endif()
  math(EXPR length "${end} - ${begin}")
  string(SUBSTRING "${text}" ${begin} ${length} section)
  string(REGEX MATCHALL "\n\\| *`[^`\n]+`" rows "${section}")
  set(names "")
  foreach(row IN LISTS rows)
    string(REGEX REPLACE "^\n\\| *`([^`]+)`$" "\\1" name "${row}")
    list(APPEND names "${name}")
  endforeach()
  if(NOT names)
    message(FATAL_ERROR "the needed-libraries section of ${DOC} lists no library")
  endif()
  set(${out} "${names}" PARENT_SCOPE)
endfunction()

# compare(<out> <needed> <documented>): a description of every difference, empty when none.
function(compare out needed documented)
  set(problems "")
  foreach(name IN LISTS needed)
    if(NOT name IN_LIST documented AND NOT name IN_LIST OPTIONAL)
      string(APPEND problems "\n  needed but not in ${DOC}: ${name}")
    endif()
  endforeach()
  foreach(name IN LISTS documented)
    if(NOT name IN_LIST needed)
      string(APPEND problems "\n  in ${DOC} but not needed: ${name}")
    endif()
  endforeach()
  set(${out} "${problems}" PARENT_SCOPE)
endfunction()

needed_libraries(needed)
documented_libraries(documented)
if(NOT needed)
  message(FATAL_ERROR "${LIBRARY} has no NEEDED entries")
endif()

if(SELF_TEST)
  list(GET documented 0 dropped)
  list(REMOVE_AT documented 0)
  list(APPEND documented "libnot-needed.so.1")
  compare(problems "${needed}" "${documented}")
  string(FIND "${problems}\n" "needed but not in ${DOC}: ${dropped}\n" missing_found)
  string(FIND "${problems}\n" "in ${DOC} but not needed: libnot-needed.so.1\n" extra_found)
  if(missing_found EQUAL -1 OR extra_found EQUAL -1)
    message(FATAL_ERROR "the NEEDED check missed a difference; it reported:${problems}")
  endif()
  message(STATUS "the NEEDED check notices a library missing from either side")
  return()
endif()

compare(problems "${needed}" "${documented}")
if(problems)
  string(REPLACE ";" " " needed_text "${needed}")
  message(FATAL_ERROR "the NEEDED entries of ${LIBRARY} differ from ${DOC}:${problems}\n"
    "NEEDED: ${needed_text}")
endif()
list(LENGTH needed count)
message(STATUS "${count} NEEDED entries, as docs/ABI.md lists them")
