#!/usr/bin/env bash
# Issue 7's experiment: the generative route on Fashion-MNIST at IPC 10.
#   generator (ddkit gen-train, or GEN=model.pt) -> observer ConvNet -> prob scores of the training split
#   -> rows:  gen-random   IPC images per class straight from the generator (= the first IPC of each
#                          class of the pool: a class's noise comes from one seeded stream)
#             gen-dgs      pool of 5 x IPC -> DGS (target original)
#             gen-dag-dgs  pool of 5 x IPC with DAG (targets from the class's original distribution) -> DGS
#             real-random  IPC random real images per class
#   -> evaluate every row (ConvNet, 300 epochs, RUNS runs) and draw a grid PNG per row.
# Usage: examples/diffusion_fashion_mnist.sh [OUT_DIR]
#   env: BUDGET (short | full), DDKIT, GEN_STEPS (gen-train steps), GEN (a generator model.pt; default: train one in OUT/generator), IPC, RUNS, POOL,
#        STEPS (DDIM), GUIDANCE, DAG_SCALE, DAG_STOP, DAG_START, OBSERVER_EPOCHS, SEED, GRIDS (dir for the PNGs)
set -euo pipefail
# BUDGET=short (default): the README's budget (a 5000-step generator, a 2-epoch
# observer); BUDGET=full [ddkit: our generator has no published budget]: a
# 20000-step generator (about 2.5 h on a quiet 2-core machine), 100 DDIM steps,
# a 20-epoch observer.
if [ "${BUDGET:-short}" = full ]; then
  : "${GEN_STEPS:=20000}" "${STEPS:=100}" "${OBSERVER_EPOCHS:=20}"
fi
GEN_STEPS=${GEN_STEPS:-5000}
DDKIT=${DDKIT:-./build/ddkit}
OUT=${1:-runs/diffusion-fashion-mnist}
IPC=${IPC:-10}
RUNS=${RUNS:-5}
POOL=${POOL:-5}
STEPS=${STEPS:-50}
GUIDANCE=${GUIDANCE:-2}
DAG_SCALE=${DAG_SCALE:-30}
DAG_STOP=${DAG_STOP:-0}
DAG_START=${DAG_START:-200}
OBSERVER_EPOCHS=${OBSERVER_EPOCHS:-2}
SEED=${SEED:-0}
GRIDS=${GRIDS:-$OUT}
mkdir -p "$OUT" "$GRIDS"
t() { /usr/bin/time -f "%e s  $*" "$@"; }

GEN=${GEN:-$OUT/generator/model.pt}
[ -f "$GEN" ] || t "$DDKIT" gen-train --steps "$GEN_STEPS" --seed "$SEED" --out "$(dirname "$GEN")" --resume
[ -f "$OUT/observer.pt" ] || t "$DDKIT" train --model convnet --epochs "$OBSERVER_EPOCHS" --seed "$SEED" --out "$OUT/observer.pt"
[ -d "$OUT/train-scores" ] || t "$DDKIT" score --split train --scorer prob --observer "$OUT/observer.pt" --out "$OUT/train-scores"
gen=(--method diffusion --generator "$GEN" --steps "$STEPS" --guidance "$GUIDANCE" --ipc "$IPC" --seed "$SEED")
[ -d "$OUT/gen-random" ] || t "$DDKIT" distill "${gen[@]}" --out "$OUT/gen-random"
[ -d "$OUT/pool" ] || {
  t "$DDKIT" distill "${gen[@]}" --pool-factor "$POOL" --out "$OUT/pool"
  t "$DDKIT" score --set "$OUT/pool" --scorer prob --observer "$OUT/observer.pt" --out "$OUT/pool"
}
[ -d "$OUT/pool-dag" ] || {
  t "$DDKIT" distill "${gen[@]}" --pool-factor "$POOL" --dag-scale "$DAG_SCALE" --dag-stop "$DAG_STOP" --dag-start "$DAG_START" \
    --observer "$OUT/observer.pt" --dag-original-scores "$OUT/train-scores/metadata.jsonl" --out "$OUT/pool-dag"
  t "$DDKIT" score --set "$OUT/pool-dag" --scorer prob --observer "$OUT/observer.pt" --out "$OUT/pool-dag"
}
for pool in pool pool-dag; do
  set=gen-dgs; [ "$pool" = pool-dag ] && set=gen-dag-dgs
  [ -d "$OUT/$set" ] || t "$DDKIT" sample --pool "$OUT/$pool" --ipc "$IPC" --target original --seed "$SEED" \
    --original-scores "$OUT/train-scores/metadata.jsonl" --out "$OUT/$set"
done
[ -d "$OUT/real-random" ] || t "$DDKIT" distill --method random --ipc "$IPC" --seed "$SEED" --out "$OUT/real-random"
sets=(gen-random gen-dgs gen-dag-dgs real-random)
for set in "${sets[@]}"; do
  [ -f "$OUT/eval-$set/results.json" ] || t "$DDKIT" eval --set "$OUT/$set" --runs "$RUNS" --seed "$SEED" --quiet \
    --out "$OUT/eval-$set" --resume
  "$DDKIT" report --set "$OUT/$set" --grid-out "$GRIDS/diffusion-$set.png" --per-class "$IPC" --quiet
done
for pool in pool pool-dag; do
  printf 'mean prob difficulty of %-9s ' "$pool"
  python3 -c "import json,sys; print(f\"{json.load(open(sys.argv[1]))['mean']:.4f}\")" "$OUT/$pool/difficulty.json"
done
printf 'mean prob difficulty of the training split: '
python3 -c "import json,sys; print(f\"{json.load(open(sys.argv[1]))['mean']:.4f}\")" "$OUT/train-scores/difficulty.json"
for set in "${sets[@]}"; do
  printf '%-12s ' "$set"
  python3 -c "import json,sys; m=json.load(open(sys.argv[1]))['models']['convnet']; print(f\"{m['mean']:.2f} ± {m['std']:.2f}\")" "$OUT/eval-$set/results.json"
done
