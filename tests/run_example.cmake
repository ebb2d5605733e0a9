# Runs one example and checks its output: cmake -DCOMMAND=<;-list> -DEXPECT=<;-list of regexes>
# [-DWORKING_DIRECTORY=<dir>] -P run_example.cmake. Fails unless the command exits 0 and every
# regex matches its output.
execute_process(COMMAND ${COMMAND}
  WORKING_DIRECTORY "${WORKING_DIRECTORY}"
  RESULT_VARIABLE rc
  OUTPUT_VARIABLE out
  ERROR_VARIABLE err)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "example failed (exit ${rc}):\n${err}")
endif()
foreach(expect IN LISTS EXPECT)
  if(NOT out MATCHES "${expect}")
    message(FATAL_ERROR "example output does not match \"${expect}\"\n${err}")
  endif()
endforeach()
