#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for a bounded time: session-ID
# extraction, the config parser, the credential JSON form and auth-file synthesis.
# Usage: scripts/fuzz.sh [total-seconds] [target...]   (default 120, split evenly across the
# targets run; default targets: all). A finding is written to build/fuzz/artifacts/ and fails
# the script.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-120}
shift $(($# > 0 ? 1 : 0))
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then targets=(session_id config credential_json synthesize); fi
per_target=$((seconds / ${#targets[@]}))
if [[ $per_target -lt 1 ]]; then per_target=1; fi

dir=build/fuzz
CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DAUTHROUTER_BUILD_TESTS=ON -DAUTHROUTER_BUILD_EXAMPLES=OFF -DAUTHROUTER_BUILD_FUZZERS=ON \
  -DAUTHROUTER_SANITIZE=address,undefined >/dev/null
build_targets=()
for name in "${targets[@]}"; do build_targets+=("authrouter_${name}_fuzz"); done
cmake --build "$dir" --target "${build_targets[@]}"

mkdir -p "$dir/artifacts"
for name in "${targets[@]}"; do
  # New inputs go to a scratch corpus; the seeds in the repository are only read.
  work="$dir/corpus/$name"
  mkdir -p "$work"
  dict=()
  if [[ -f "tests/fuzz/$name.dict" ]]; then dict=(-dict="tests/fuzz/$name.dict"); fi
  echo "==> [fuzz] $name for ${per_target}s"
  "$dir/tests/authrouter_${name}_fuzz" "$work" "tests/fuzz/corpus/$name" "${dict[@]}" \
    -max_total_time="$per_target" -max_len=65536 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$name-" 2>&1 | tail -15
  echo "==> [fuzz] $name: no findings"
done
