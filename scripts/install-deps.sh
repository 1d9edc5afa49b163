#!/usr/bin/env bash
# Debian 12 packages ddkit builds, tests and runs with. Idempotent.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# libgloo-dev: the headers libtorch's c10d ProcessGroupGloo needs (multi-process runs).
# libopenblas0-openmp: Debian's libtorch does its matrix products through
# libblas.so.3; without OpenBLAS that is the reference BLAS, ~20x slower.
$SUDO apt-get install -y -qq \
  build-essential cmake pkg-config ccache \
  libtorch-dev libopenblas0-openmp \
  libcli11-dev nlohmann-json3-dev libfmt-dev libspdlog-dev libstb-dev zlib1g-dev \
  libgtest-dev libbenchmark-dev libgloo-dev \
  dataset-fashion-mnist > /dev/null
