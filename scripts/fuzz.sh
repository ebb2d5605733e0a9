#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for a bounded time.
# Usage: scripts/fuzz.sh [seconds]   (default 60)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}

dir=build/fuzz
CC=clang CXX=clang++ cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DAUTHROUTER_BUILD_TESTS=ON -DAUTHROUTER_BUILD_EXAMPLES=OFF -DAUTHROUTER_BUILD_FUZZERS=ON \
  -DAUTHROUTER_SANITIZE=address,undefined >/dev/null
cmake --build "$dir" --target authrouter_session_id_fuzz

# New inputs go to a scratch corpus; the seeds in the repository are only read.
work="$dir/corpus/session_id"
mkdir -p "$work"
echo "==> [fuzz] session_id for ${seconds}s"
"$dir/tests/authrouter_session_id_fuzz" "$work" tests/fuzz/corpus/session_id \
  -max_total_time="$seconds" -max_len=65536 -timeout=10 -print_final_stats=1 2>&1 | tail -15
echo "==> [fuzz] session_id: no findings"
