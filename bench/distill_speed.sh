#!/usr/bin/env bash
# Side-by-side speed of one distillation iteration (DC, DSA, DM at IPC 10 on
# Fashion-MNIST, ConvNet-3): ddkit (bench/bench_distill_iteration) against Python
# torch written the way VICO-UoE/DatasetCondensation does it
# (bench/distill_iteration_python.py), twice (docs/design.md "Performance expectations"):
#   1. Python as a user runs it: default settings (torch picks its threads,
#      glibc's malloc at its defaults);
#   2. Python with ddkit's threads and allocator settings: OMP_NUM_THREADS and
#      GLIBC_TUNABLES equal to configure_allocator()'s mallopt calls
#      (M_MMAP_MAX 0, M_TRIM_THRESHOLD -1 = SIZE_MAX, M_TOP_PAD 64 MiB).
# Prints seconds/iteration and ratios (python / ddkit: > 1 means ddkit is faster).
#
#   bash bench/distill_speed.sh [--methods dc,dsa,dm] [--threads 2] [--iterations N]
#        [--outer-loop N --inner-loop N] [--no-python-default] [--build-dir build]
#
# --iterations: timed iterations per method (default: 1 for dc/dsa, 5 for dm);
# every run first warms up (DC/DSA: an iteration with outer loop 2, inner loop 2;
# DM: one iteration), except DC/DSA in default Python (1 thread, ~5 min an
# iteration, its one-time costs are lost in it, and malloc's defaults hand the
# heap back anyway). --outer-loop/--inner-loop shrink DC/DSA for a quick check.
# Run time at the defaults on a quiet 2-core machine: about 18 minutes (ddkit 3.4,
# Python default 11 — a DC or DSA iteration at 1 thread is ~5 minutes —, Python
# tuned 4); --no-python-default: about 7.5 minutes. Nothing else should run meanwhile:
# under load, 2-thread runs slow down far more than 1-thread ones.
# Raw outputs are kept in $OUT_DIR (default build/distill_speed/).
set -euo pipefail
cd "$(dirname "$0")/.."

METHODS=dc,dsa,dm
THREADS=2
BUILD_DIR=build
PYTHON_DEFAULT=1
PASS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --methods) METHODS="$2"; shift 2 ;;
    --threads) THREADS="$2"; shift 2 ;;
    --iterations|--outer-loop|--inner-loop) PASS+=("$1" "$2"); shift 2 ;;
    --no-python-default) PYTHON_DEFAULT=0; shift ;;
    --build-dir) BUILD_DIR="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "distill_speed.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
OUT_DIR=${OUT_DIR:-$BUILD_DIR/distill_speed}
PYTHON=/usr/bin/python3  # Debian's, with python3-torch (a pyenv python3 on PATH has no torch)
# glibc tunables with the effect of util/runtime.cpp's configure_allocator().
TUNABLES="glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=18446744073709551615:glibc.malloc.top_pad=67108864"

# 1. Python torch (Debian's python3-torch).
if ! "$PYTHON" -c "import torch" 2>/dev/null; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "installing python3-torch ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get install -y -qq python3-torch > /dev/null ||
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-torch > /dev/null; }
fi

# 2. The ddkit benchmark (bench/*.cpp are globbed: configure once if the target is new).
BENCH="$BUILD_DIR/bench/bench_distill_iteration"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release > /dev/null
elif [ ! -x "$BENCH" ]; then
  cmake -S . -B "$BUILD_DIR" > /dev/null
fi
cmake --build "$BUILD_DIR" -j2 --target bench_distill_iteration > /dev/null

mkdir -p "$OUT_DIR"
run() {  # name, command...: run, show progress on stderr, keep the output
  local name="$1"; shift
  echo "== $name: $*" >&2
  local start=$SECONDS
  "$@" | tee "$OUT_DIR/$name.txt" >&2
  echo "== $name: $((SECONDS - start)) s" >&2
}

# 3. The runs. ddkit first, then Python (never concurrently: 2 cores).
run ddkit "$BENCH" --threads "$THREADS" --methods "$METHODS" "${PASS[@]}"
if [ "$PYTHON_DEFAULT" = 1 ]; then
  run python_default env -u OMP_NUM_THREADS -u MKL_NUM_THREADS -u GLIBC_TUNABLES \
    "$PYTHON" bench/distill_iteration_python.py --methods "$METHODS" --warmup dm-only "${PASS[@]}"
else
  : > "$OUT_DIR/python_default.txt"
fi
run python_tuned env OMP_NUM_THREADS="$THREADS" GLIBC_TUNABLES="$TUNABLES" \
  "$PYTHON" bench/distill_iteration_python.py --methods "$METHODS" "${PASS[@]}"

# 4. The table.
value() {  # file, method, key
  sed -n "s/^method=$2 .*\\b$3=\\([^ ]*\\).*/\\1/p" "$1" | tail -1
}
py_threads() { sed -n 's/^method=.* threads=\([0-9]*\) .*/\1/p' "$1" | head -1; }
echo
echo "One distillation iteration, IPC 10, Fashion-MNIST, ConvNet-3 (seconds/iteration; ratio = python / ddkit)"
echo "ddkit --threads $THREADS; python default: $(py_threads "$OUT_DIR/python_default.txt") thread(s), glibc malloc defaults;" \
  "python tuned: OMP_NUM_THREADS=$THREADS GLIBC_TUNABLES=$TUNABLES"
echo "floor: the iteration's FLOPs at the rate of its dominant convolution alone ($(value "$OUT_DIR/ddkit.txt" "$(echo "$METHODS" | cut -d, -f1)" conv_peak_gflops) GFLOP/s here);" \
  "best: py_default / floor, the largest ratio direct fp32 convolution allows"
printf '%-6s %10s %13s %12s %7s %12s %7s %8s %6s\n' method ddkit ddkit_GFLOP/s py_default ratio py_tuned ratio floor best
IFS=, read -r -a methods <<< "$METHODS"
for m in "${methods[@]}"; do
  d=$(value "$OUT_DIR/ddkit.txt" "$m" seconds_per_iteration)
  g=$(value "$OUT_DIR/ddkit.txt" "$m" gflops)
  p=$(value "$OUT_DIR/python_default.txt" "$m" seconds_per_iteration)
  t=$(value "$OUT_DIR/python_tuned.txt" "$m" seconds_per_iteration)
  f=$(value "$OUT_DIR/ddkit.txt" "$m" floor_seconds)
  awk -v m="$m" -v d="$d" -v g="$g" -v p="$p" -v t="$t" -v f="$f" 'BEGIN {
    ratio_p = (p != "" && d > 0) ? sprintf("%.2f", p / d) : "-";
    ratio_t = (t != "" && d > 0) ? sprintf("%.2f", t / d) : "-";
    best = (p != "" && f > 0) ? sprintf("%.2f", p / f) : "-";
    printf "%-6s %10.2f %13.1f %12s %7s %12s %7s %8.2f %6s\n", m, d, g, (p == "" ? "-" : sprintf("%.2f", p)), ratio_p,
           (t == "" ? "-" : sprintf("%.2f", t)), ratio_t, f, best }'
done
