#!/usr/bin/env bash
# Issue 8's scaling figure: 2 workers x 1 thread (`ddkit launch -n 2`) against
# 1 worker x 2 threads, for prob scoring of the training split and for the
# evaluation protocol, on Fashion-MNIST. Prints wall seconds and the speed-up.
# Usage: examples/scaling_fashion_mnist.sh [OUT_DIR]
#   env: DDKIT (./build/ddkit), RUNS (4), EPOCHS (300), OBSERVER (a model.pt; trained here if absent), SEED (0)
set -euo pipefail
DDKIT=${DDKIT:-./build/ddkit}
OUT=${1:-runs/scaling}
RUNS=${RUNS:-4}
EPOCHS=${EPOCHS:-300}
SEED=${SEED:-0}
OBSERVER=${OBSERVER:-$OUT/observer.pt}
mkdir -p "$OUT"
[ -f "$OBSERVER" ] || "$DDKIT" train --model convnet --epochs 1 --seed "$SEED" --quiet --out "$OBSERVER"
[ -d "$OUT/random-ipc10" ] || "$DDKIT" distill --method random --ipc 10 --seed "$SEED" --quiet --out "$OUT/random-ipc10"

seconds() {  # seconds NAME COMMAND...: wall time of the command, its output in OUT/NAME.log
  local name=$1; shift
  rm -rf "$OUT/$name"
  local start end
  start=$(date +%s.%N)
  "$@" > "$OUT/$name.log" 2>&1
  end=$(date +%s.%N)
  python3 -c "print(f'{$end - $start:.1f}')"
}

score=(score --split train --scorer prob --observer "$OBSERVER" --seed "$SEED" --quiet)
evaluate=(eval --set "$OUT/random-ipc10" --runs "$RUNS" --epochs "$EPOCHS" --seed "$SEED" --quiet)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
s1=$(seconds score-1x2 "$DDKIT" "${score[@]}" --threads 2 --out "$OUT/score-1x2")
s2=$(seconds score-2x1 "$DDKIT" launch -n 2 -- "${score[@]}" --threads 1 --out "$OUT/score-2x1")
cmp "$OUT/score-1x2/metadata.jsonl" "$OUT/score-2x1/metadata.jsonl" && echo "score: identical metadata.jsonl"
e1=$(seconds eval-1x2 "$DDKIT" "${evaluate[@]}" --threads 2 --out "$OUT/eval-1x2")
e2=$(seconds eval-2x1 "$DDKIT" launch -n 2 -- "${evaluate[@]}" --threads 1 --out "$OUT/eval-2x1")
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$OUT" <<PY
import json, sys
out = sys.argv[1]
acc = lambda d: json.load(open(f"{out}/{d}/results.json"))["models"]["convnet"]["accuracies"]
print("eval accuracies 1x2:", acc("eval-1x2"))
print("eval accuracies 2x1:", acc("eval-2x1"))
print(f"| stage | 1 worker x 2 threads | 2 workers x 1 thread | speed-up |")
print(f"|---|---|---|---|")
print(f"| score --split train (prob, 60,000 images) | {$s1} s | {$s2} s | {$s1/$s2:.2f}x |")
print(f"| eval ({$RUNS} runs x {$EPOCHS} epochs, random IPC 10) | {$e1} s | {$e2} s | {$e1/$e2:.2f}x |")
PY
