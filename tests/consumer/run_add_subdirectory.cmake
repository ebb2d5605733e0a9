# Builds and runs a consumer that vendors authrouter through add_subdirectory.
# Inputs: SOURCE_DIR, WORK_DIR, GENERATOR.
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGV}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}\n${out}\n${err}")
  endif()
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer/add_subdirectory" -B "${WORK_DIR}"
    -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=Release "-DAUTHROUTER_SOURCE_DIR=${SOURCE_DIR}")
run(${CMAKE_COMMAND} --build "${WORK_DIR}")
run("${WORK_DIR}/cpp_consumer")
message(STATUS "${last_output}")
run("${WORK_DIR}/c_consumer")
message(STATUS "${last_output}")
