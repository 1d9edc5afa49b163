#!/usr/bin/env bash
# The side-by-side benches on both libtorch lines (docs/performance.md "Both libtorch
# lines"): ddkit and Python torch on Debian 12 (libtorch 1.13, this host), then ddkit
# built against libtorch 2.6 and Python torch 2.6 in the Debian 13 root of
# scripts/debian13-root.sh. Each side runs alone, one after the other; Python runs with
# ddkit's threads and allocator settings. Prints each side's tables; raw outputs are kept
# in build/libtorch_lines/ (the root's under $ROOT/src/ddkit/build/libtorch_lines/).
#
#   bash bench/libtorch_lines.sh [--threads 2] [--skip-mtt] [--side host|root]
#
# Run time on a quiet 2-core AMD EPYC (Zen 4, AVX-512): about 20 minutes, builds included.
set -euo pipefail
cd "$(dirname "$0")/.."
THREADS=2
MTT=1
SIDES="host root"
while [ $# -gt 0 ]; do
  case "$1" in
    --threads) THREADS="$2"; shift 2 ;;
    --skip-mtt) MTT=0; shift ;;
    --side) SIDES="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "libtorch_lines.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
TUNABLES="glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=18446744073709551615:glibc.malloc.top_pad=67108864"
# One side: the train step, DC/DSA at outer 2 inner 2 and DM, and MTT at syn_steps 10.
# shellcheck disable=SC2016
SIDE='set -euo pipefail
  THREADS=$1 MTT=$2 TUNABLES=$3
  OUT=build/libtorch_lines; mkdir -p "$OUT"
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  # The Python peer, and GNU time for the peak-memory columns (not in a fresh root).
  if ! /usr/bin/python3 -c "import torch" 2> /dev/null || [ ! -x /usr/bin/time ]; then
    $SUDO apt-get update -qq  # a fresh root has no package lists
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch time > /dev/null
  fi
  /usr/bin/python3 -c "import torch; print(\"== Python torch\", torch.__version__)"
  cmake --build build -j2 --target bench_train_step bench_distill_iteration bench_mtt_iteration > /dev/null
  echo "== train step, batch 256 (img/s): ddkit, then Python"
  build/bench/bench_train_step --threads "$THREADS" | tee "$OUT/train_ddkit.txt" | grep -E "^BM_|img"
  OMP_NUM_THREADS=$THREADS GLIBC_TUNABLES=$TUNABLES /usr/bin/python3 bench/train_step_python.py | tee "$OUT/train_python.txt"
  OUT_DIR=$OUT/distill bash bench/distill_speed.sh --threads "$THREADS" --no-python-default \
    --outer-loop 2 --inner-loop 2 2> "$OUT/distill.log"
  if [ "$MTT" = 1 ]; then OUT_DIR=$OUT/mtt bash bench/mtt_speed.sh --threads "$THREADS" --syn-steps 10; fi'
if [[ " $SIDES " == *" host "* ]]; then
  echo "######## Debian 12 host"
  bash -c "$SIDE" side "$THREADS" "$MTT" "$TUNABLES"
fi
[[ " $SIDES " == *" root "* ]] || exit 0
echo "######## Debian 13 root"
# shellcheck disable=SC2016
bash scripts/in-debian13.sh bash -c '[ -f build/CMakeCache.txt ] || TORCH_DIR=/usr/lib/x86_64-linux-gnu/cmake/Torch bash scripts/build.sh > /dev/null
  bash -c "$0" side "$@"' "$SIDE" "$THREADS" "$MTT" "$TUNABLES"
