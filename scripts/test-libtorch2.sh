#!/usr/bin/env bash
# Builds ddkit against Debian 13's libtorch 2.6 inside the Debian 13 root
# (scripts/in-debian13.sh) and runs the whole test suite there; arguments go to ctest.
# -DTorch_DIR names libtorch's CMake package explicitly, the route an official libtorch
# takes (docs/build.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC2016
bash scripts/in-debian13.sh bash -c 'TORCH_DIR=/usr/lib/x86_64-linux-gnu/cmake/Torch bash scripts/build.sh &&
  ctest --test-dir build --output-on-failure -j2 "$@"' test-libtorch2 "$@"
