#!/usr/bin/env bash
# Installs the Debian 12 packages authrouter needs to build and test, skipping those present:
# the C++ toolchain and libraries, clang for fuzzing, Go, Python and cargo for the C ABI examples,
# and abigail-tools for the ABI check.
# Run as root (or with sudo). Touches nothing when everything is installed.
set -euo pipefail

packages=(
  cmake ninja-build g++ pkg-config
  libsimdjson-dev libabsl-dev catch2 libbenchmark-dev
  libcurl4-openssl-dev libssl-dev libhiredis-dev redis-server
  clang libclang-rt-14-dev
  golang-go python3 abigail-tools
)
# Rust's cargo comes from rustup when present (~/.cargo/bin), else from Debian.
if ! command -v cargo >/dev/null 2>&1 && [[ ! -x "$HOME/.cargo/bin/cargo" ]]; then
  packages+=(cargo)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
