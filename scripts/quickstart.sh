#!/usr/bin/env bash
# Installs what is missing, builds authrouter (Release), runs the main example (C++), then the
# README's "From C" sequence over a fresh copy of examples/config.json and examples/auth/.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DAUTHROUTER_BUILD_TESTS=OFF >/dev/null
cmake --build build/release --target authrouter_quickstart authrouter_first_use
./build/release/examples/authrouter_quickstart

echo
echo "The README's C sequence over a copy of examples/:"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/auth examples/config.json "$work"
(cd "$work" && "$OLDPWD/build/release/examples/authrouter_first_use")
