#!/usr/bin/env bash
# Installs what is missing, builds authrouter (Release) and runs the main example.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DAUTHROUTER_BUILD_TESTS=OFF >/dev/null
cmake --build build/release --target authrouter_quickstart
./build/release/examples/authrouter_quickstart
