#!/usr/bin/env bash
# Issue 4's experiment: DGS on a random real pool of Fashion-MNIST.
#   observer ConvNet -> prob scores of the training split -> random pool 5 x IPC
#   -> DGS with each target -> evaluate each selection (ConvNet, 300 epochs, RUNS runs).
# Usage: examples/dgs_fashion_mnist.sh [OUT_DIR]   (env: BUDGET (short|full), DDKIT, IPC, RUNS, OBSERVER_EPOCHS, SEED)
set -euo pipefail
DDKIT=${DDKIT:-./build/ddkit}
OUT=${1:-runs/dgs-fashion-mnist}
IPC=${IPC:-10}
RUNS=${RUNS:-5}
# BUDGET=short (default): the README's 2-epoch observer; BUDGET=full: a
# 20-epoch observer (the random pool and the evaluation have no short cut).
[ "${BUDGET:-short}" = full ] && : "${OBSERVER_EPOCHS:=20}"
OBSERVER_EPOCHS=${OBSERVER_EPOCHS:-2}
SEED=${SEED:-0}
mkdir -p "$OUT"
t() { /usr/bin/time -f "%e s  $*" "$@"; }

[ -f "$OUT/observer.pt" ] || t "$DDKIT" train --model convnet --epochs "$OBSERVER_EPOCHS" --seed "$SEED" --out "$OUT/observer.pt"
[ -d "$OUT/train-scores" ] || t "$DDKIT" score --split train --scorer prob --observer "$OUT/observer.pt" --out "$OUT/train-scores"
[ -d "$OUT/pool" ] || {
  t "$DDKIT" distill --method random --ipc "$IPC" --pool-factor 5 --seed "$SEED" --out "$OUT/pool"
  t "$DDKIT" score --set "$OUT/pool" --scorer prob --observer "$OUT/observer.pt" --out "$OUT/pool"
}
[ -d "$OUT/random" ] || t "$DDKIT" distill --method random --ipc "$IPC" --seed "$SEED" --out "$OUT/random"
for target in original ground hill slope cliff; do
  [ -d "$OUT/dgs-$target" ] || t "$DDKIT" sample --pool "$OUT/pool" --ipc "$IPC" --target "$target" --seed "$SEED" \
    --original-scores "$OUT/train-scores/metadata.jsonl" --out "$OUT/dgs-$target"
done
for set in random dgs-original dgs-ground dgs-hill dgs-slope dgs-cliff; do
  [ -f "$OUT/eval-$set/results.json" ] || t "$DDKIT" eval --set "$OUT/$set" --runs "$RUNS" --seed "$SEED" --quiet \
    --out "$OUT/eval-$set" --resume
done
for set in random dgs-original dgs-ground dgs-hill dgs-slope dgs-cliff; do
  printf '%-14s ' "$set"
  python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['models']['convnet']; print(f\"{m['mean']:.2f} ± {m['std']:.2f}\")" "$OUT/eval-$set/results.json"
done
