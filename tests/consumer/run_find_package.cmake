# Installs the already-built tree into a fresh prefix, then builds and runs a consumer against
# it through find_package, and a C program through pkg-config.
# Inputs: SOURCE_DIR, BUILD_DIR, WORK_DIR, GENERATOR, READELF.
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

# authrouter.pc adds no compile flags of its dependencies, and --static lists the shared
# libraries libauthrouter.so needs (its NEEDED entries, less what the compiler driver links
# anyway); a C program links and runs with that line too.
run(pkg-config --cflags authrouter)
separate_arguments(cflags UNIX_COMMAND "${last_output}")
foreach(flag IN LISTS cflags)
  if(NOT flag MATCHES "^-I")
    message(FATAL_ERROR "pkg-config --cflags authrouter gives ${flag}")
  endif()
endforeach()
run(pkg-config --libs authrouter)
separate_arguments(libs UNIX_COMMAND "${last_output}")
foreach(flag IN LISTS libs)
  if(NOT flag MATCHES "^-L" AND NOT flag STREQUAL "-lauthrouter")
    message(FATAL_ERROR "pkg-config --libs authrouter gives ${flag}")
  endif()
endforeach()
run(pkg-config --static --libs authrouter)
separate_arguments(static_libs UNIX_COMMAND "${last_output}")
set(listed "")
foreach(flag IN LISTS static_libs)
  if(flag MATCHES "^-l(.+)$" AND NOT flag STREQUAL "-lauthrouter")
    list(APPEND listed "${CMAKE_MATCH_1}")
  endif()
endforeach()
run("${READELF}" -d --wide "${prefix}/lib/libauthrouter.so")
string(REGEX MATCHALL "\\(NEEDED\\)[^\n]*\\[[^]\n]+\\]" entries "${last_output}")
set(needed "")
foreach(entry IN LISTS entries)
  string(REGEX REPLACE "^.*\\[([^]]+)\\]$" "\\1" soname "${entry}")
  if(soname MATCHES "^lib(c|gcc_s)\\.so\\.|^ld-linux")
    continue()
  endif()
  string(REGEX REPLACE "^lib(.+)\\.so\\..*$" "\\1" name "${soname}")
  list(APPEND needed "${name}")
endforeach()
list(SORT listed)
list(SORT needed)
if(NOT listed STREQUAL needed)
  message(FATAL_ERROR "pkg-config --static --libs authrouter lists [${listed}], "
    "libauthrouter.so needs [${needed}]")
endif()
run(cc -std=c99 -Wall -Wextra -Werror "${SOURCE_DIR}/tests/consumer/find_package/main.c"
    ${pc_flags} ${static_libs} "-Wl,-rpath,${prefix}/lib" -o "${WORK_DIR}/pc_static_consumer")
run("${WORK_DIR}/pc_static_consumer")
message(STATUS "pkg-config --static: ${last_output}")
