#!/usr/bin/env bash
# Installs what is missing, then builds and runs the whole test suite three times:
#   1. Release build;
#   2. Debug build with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. RelWithDebInfo build with ThreadSanitizer;
# then builds libauthrouter.so with clang's ASan+UBSan and runs the C ABI test and the C example
# against it (only those targets, about a minute), and finally runs the four libFuzzer targets
# (session-ID extraction, the config parser, the credential JSON form, auth-file synthesis) for
# 30 s each, 120 s in all (clang, ASan+UBSan; scripts/fuzz.sh).
# Each run ends with ctest's summary. Exits non-zero if any build or test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=$(nproc 2>/dev/null || echo 2)
# cargo from rustup lives in ~/.cargo/bin, which a non-login shell may not have on PATH.
if [[ -d "$HOME/.cargo/bin" ]]; then export PATH="$HOME/.cargo/bin:$PATH"; fi

run_suite() {
  local name=$1 dir=$2
  shift 2
  echo "==> [$name] configure"
  cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
  echo "==> [$name] build"
  cmake --build "$dir" -j "$jobs"
  echo "==> [$name] test"
  ctest --test-dir "$dir" -j "$jobs" --output-on-failure
}

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1

run_suite release build/release -DCMAKE_BUILD_TYPE=Release -DAUTHROUTER_BUILD_TESTS=ON
run_suite asan-ubsan build/asan -DCMAKE_BUILD_TYPE=Debug -DAUTHROUTER_BUILD_TESTS=ON \
  -DAUTHROUTER_SANITIZE=address,undefined
run_suite tsan build/tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAUTHROUTER_BUILD_TESTS=ON \
  -DAUTHROUTER_SANITIZE=thread

# clang links its sanitizer runtime into executables only; the shared library must still link
# (-shared-libsan, see CMakeLists.txt) and work from C.
echo "==> [clang-asan-ubsan] configure"
cmake -S . -B build/clang-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DAUTHROUTER_BUILD_TESTS=ON \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DAUTHROUTER_SANITIZE=address,undefined \
  >/dev/null
echo "==> [clang-asan-ubsan] build libauthrouter.so, the C ABI test and the C example"
cmake --build build/clang-asan -j "$jobs" --target authrouter_capi_test authrouter_capi_first_use_test authrouter_example_c
echo "==> [clang-asan-ubsan] test"
ctest --test-dir build/clang-asan -R '^(capi\.c_test|capi\.first_use|example\.c)$' --no-tests=error --output-on-failure

scripts/fuzz.sh 120

echo "==> all test suites passed"
