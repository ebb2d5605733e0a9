# Installs the already-built tree into a fresh prefix, then builds and runs a consumer against
# it through find_package, and a C program through pkg-config.
# Inputs: SOURCE_DIR, BUILD_DIR, WORK_DIR, GENERATOR.
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

file(REMOVE_RECURSE "${WORK_DIR}")
set(prefix "${WORK_DIR}/prefix")
run(${CMAKE_COMMAND} --install "${BUILD_DIR}" --prefix "${prefix}")

foreach(f include/authrouter/authrouter.h include/authrouter/credential.h
          lib/cmake/authrouter/authrouterConfig.cmake lib/pkgconfig/authrouter.pc)
  if(NOT EXISTS "${prefix}/${f}")
    message(FATAL_ERROR "install is missing ${f}")
  endif()
endforeach()

run(${CMAKE_COMMAND} -S "${SOURCE_DIR}/tests/consumer/find_package" -B "${WORK_DIR}/build"
    -G "${GENERATOR}" -DCMAKE_BUILD_TYPE=Release "-DCMAKE_PREFIX_PATH=${prefix}")
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build")
run("${WORK_DIR}/build/cpp_consumer")
message(STATUS "${last_output}")
run("${WORK_DIR}/build/c_consumer")
message(STATUS "${last_output}")

# pkg-config: compile and run the C consumer with nothing but authrouter.pc.
set(ENV{PKG_CONFIG_PATH} "${prefix}/lib/pkgconfig")
run(pkg-config --cflags --libs authrouter)
string(STRIP "${last_output}" pc_flags)
separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
run(cc -std=c99 -Wall -Wextra -Werror "${SOURCE_DIR}/tests/consumer/find_package/main.c"
    ${pc_flags} "-Wl,-rpath,${prefix}/lib" -o "${WORK_DIR}/pc_consumer")
run("${WORK_DIR}/pc_consumer")
message(STATUS "pkg-config: ${last_output}")
