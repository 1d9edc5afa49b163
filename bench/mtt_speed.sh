#!/usr/bin/env bash
# Side-by-side speed of one MTT iteration (IPC 10 on Fashion-MNIST, ConvNet-3,
# batch_syn all, DSA): ddkit (bench/bench_mtt_iteration) against Python torch
# written the way GeorgeCazenavette/mtt-distillation distill.py does it
# (bench/mtt_iteration_python.py), at the same syn_steps, threads and allocator
# settings (docs/design.md "Performance expectations"). Prints seconds/iteration, peak
# RSS and the ratio python / ddkit (> 1: ddkit is faster).
#
#   bash bench/mtt_speed.sh [--syn-steps 10] [--threads 2] [--with-30] [--build-dir build]
#
# The reference keeps the graph of all steps (about 0.7 GB per step at IPC 10),
# so the comparison runs at --syn-steps 10 by default; --with-30 also times
# ddkit's default (step-wise reverse sweep) at the published 30 steps.
# Both sides time one iteration without warm-up (minutes each on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=10
THREADS=2
BUILD_DIR=build
WITH30=0
while [ $# -gt 0 ]; do
  case "$1" in
    --syn-steps) STEPS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --with-30) WITH30=1; shift ;;
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "mtt_speed.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
PYTHON=/usr/bin/python3  # Debian's, with python3-torch (a pyenv python3 on PATH has no torch)
TUNABLES="glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=18446744073709551615:glibc.malloc.top_pad=67108864"
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  SUDO=""; if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get install -y python3-torch
fi
cmake --build "$BUILD_DIR" --target bench_mtt_iteration -j"$THREADS" >/dev/null
OUT_DIR=${OUT_DIR:-$BUILD_DIR/mtt_speed}
mkdir -p "$OUT_DIR"

rss_mb() { awk '/Maximum resident/ {printf "%.0f", $6 / 1024}' "$1"; }
seconds() { grep -o 's/it=[0-9.e+]*' "$1" | head -1 | cut -d= -f2; }

echo "== ddkit, syn_steps $STEPS (step-wise reverse sweep, the default)"
/usr/bin/time -v "$BUILD_DIR/bench/bench_mtt_iteration" --threads "$THREADS" --syn-steps "$STEPS" \
  > "$OUT_DIR/ddkit_$STEPS.txt" 2> "$OUT_DIR/ddkit_$STEPS.time"
DD=$(seconds "$OUT_DIR/ddkit_$STEPS.txt"); echo "ddkit: $DD s/iteration, peak RSS $(rss_mb "$OUT_DIR/ddkit_$STEPS.time") MB"

echo "== Python torch (reference style, full graph), syn_steps $STEPS, $THREADS threads, ddkit's allocator settings"
OMP_NUM_THREADS=$THREADS GLIBC_TUNABLES=$TUNABLES /usr/bin/time -v "$PYTHON" bench/mtt_iteration_python.py \
  --syn-steps "$STEPS" > "$OUT_DIR/python_$STEPS.txt" 2> "$OUT_DIR/python_$STEPS.time"
PY=$(grep -o 'seconds_per_iteration=[0-9.]*' "$OUT_DIR/python_$STEPS.txt" | cut -d= -f2)
echo "python: $PY s/iteration, peak RSS $(rss_mb "$OUT_DIR/python_$STEPS.time") MB"
echo "ratio python/ddkit: $(awk -v p="$PY" -v d="$DD" 'BEGIN {printf "%.2f", p / d}')"

if [ "$WITH30" = 1 ]; then
  echo "== ddkit, syn_steps 30 (the published IPC 10 setting)"
  /usr/bin/time -v "$BUILD_DIR/bench/bench_mtt_iteration" --threads "$THREADS" --syn-steps 30 \
    > "$OUT_DIR/ddkit_30.txt" 2> "$OUT_DIR/ddkit_30.time"
  echo "ddkit: $(seconds "$OUT_DIR/ddkit_30.txt") s/iteration, peak RSS $(rss_mb "$OUT_DIR/ddkit_30.time") MB"
fi
