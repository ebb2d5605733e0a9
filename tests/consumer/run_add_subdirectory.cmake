# Builds and runs a consumer that vendors authrouter through add_subdirectory.
# Inputs: SOURCE_DIR, WORK_DIR, GENERATOR.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

file(REMOVE_RECURSE "${WORK_DIR}")
run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer/add_subdirectory" -B "${WORK_DIR}"
    -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=Release "-DAUTHROUTER_SOURCE_DIR=${SOURCE_DIR}")
run(${CMAKE_COMMAND} --build "${WORK_DIR}")
run("${WORK_DIR}/cpp_consumer")
message(STATUS "${last_output}")
run("${WORK_DIR}/c_consumer")
message(STATUS "${last_output}")
