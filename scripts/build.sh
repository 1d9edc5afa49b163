#!/usr/bin/env bash
# Configure (Release) and build everything into ./build.
#   TORCH_DIR  libtorch's CMake package folder (share/cmake/Torch of an official libtorch
#              or of a Python torch wheel); default: the one CMake finds (Debian's libtorch-dev)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release ${TORCH_DIR:+-DTorch_DIR="$TORCH_DIR"} > /dev/null
cmake --build build -j"$(nproc)"
