#!/usr/bin/env bash
# Issue 5's results table: DC, DSA, DM on Fashion-MNIST at IPC 1 and 10, each
# plain, + SDC, pool + DGS, + SDC + DGS (ConvNet, RUNS runs, mean ± std).
#   1. examples/sdc_sweep.sh gives the plain and + SDC rows (best λ > 0 of its sweep);
#   2. `ddkit pipeline --no-plain` with λ = 0 and the best λ gives the DGS rows
#      (pool of POOL_FACTOR x IPC per class, DGS target "original");
#   3. the control: a random pick of IPC from the λ = 0 pool (`ddkit sample
#      --target random`), evaluated the same way, separates the pool's effect from DGS's;
#   4. examples/matching_table.py prints the README table.
# Usage: examples/matching_fashion_mnist.sh [OUT_DIR]
#   env as sdc_sweep.sh (BUDGET=short|full too, EVAL_EPOCHS_<ipc>), plus POOL_FACTOR_<ipc>, OBSERVER_EPOCHS,
#   SKIP_SWEEP=1 (use the sweep's runs as they are)
set -euo pipefail
DDKIT=${DDKIT:-./build/ddkit}
OUT=${1:-runs/matching}
IPCS=${IPCS:-"1 10"}
METHODS=${METHODS:-"dc dsa dm"}
RUNS=${RUNS:-5}
SEED=${SEED:-0}
OBSERVER_EPOCHS=${OBSERVER_EPOCHS:-2}
THREADS=${THREADS:-0}
# BUDGET=short (default): the README's budgets; BUDGET=full: published
# iterations (DC/DSA 1000, DM 20000) and pools of 5 x IPC — days on 2 cores.
if [ "${BUDGET:-short}" = full ]; then
  : "${POOL_FACTOR_10:=5}"
  : "${ITERS_dc_1:=1000}" "${ITERS_dsa_1:=1000}" "${ITERS_dm_1:=20000}"
  : "${ITERS_dc_10:=1000}" "${ITERS_dsa_10:=1000}" "${ITERS_dm_10:=20000}"
fi
: "${POOL_FACTOR_1:=5}" "${POOL_FACTOR_10:=3}"
: "${ITERS_dc_1:=50}" "${ITERS_dsa_1:=50}" "${ITERS_dm_1:=300}"
: "${ITERS_dc_10:=10}" "${ITERS_dsa_10:=10}" "${ITERS_dm_10:=200}"
export THREADS EVAL_EPOCHS_1 EVAL_EPOCHS_10 ITERS_dc_1 ITERS_dsa_1 ITERS_dm_1 ITERS_dc_10 ITERS_dsa_10 ITERS_dm_10 IPCS METHODS RUNS SEED DDKIT
HERE=$(dirname "$0")
# shellcheck source=examples/eval_flags.sh
. "$HERE/eval_flags.sh"
mkdir -p "$OUT"

[ -n "${SKIP_SWEEP:-}" ] || bash "$HERE/sdc_sweep.sh" "$OUT"

# One observer and one scoring of the training split for every pipeline.
[ -f "$OUT/observer.pt" ] || "$DDKIT" train --model convnet --epochs "$OBSERVER_EPOCHS" --seed "$SEED" --threads "$THREADS" --quiet --out "$OUT/observer.pt"
[ -f "$OUT/train-scores/metadata.jsonl" ] || "$DDKIT" score --split train --scorer prob --observer "$OUT/observer.pt" \
  --threads "$THREADS" --quiet --out "$OUT/train-scores"

for ipc in $IPCS; do
  pool_var="POOL_FACTOR_${ipc}"
  for method in $METHODS; do
    iters_var="ITERS_${method}_${ipc}"
    iters=${!iters_var}
    epochs_var="EVAL_EPOCHS_${ipc}"
    epochs_flag=(); if [ -n "${!epochs_var:-}" ]; then epochs_flag=(--eval-epochs "${!epochs_var}"); fi
    best=$(python3 "$HERE/matching_table.py" --best-lambda "$OUT" "$method" "$ipc" "$iters")
    for lambda in 0 "$best"; do
      run="$OUT/$method-ipc$ipc-it$iters-sdc$lambda"
      [ -f "$run/pipeline/results.json" ] || "$DDKIT" pipeline --method "$method" --ipc "$ipc" \
        --pool-factor "${!pool_var:-5}" --pool-mode joint --iterations "$iters" --sdc-lambda "$lambda" --checkpoint-every 5 \
        --no-plain "${epochs_flag[@]}" --runs "$RUNS" --seed "$SEED" --threads "$THREADS" --score-observer "$OUT/observer.pt" \
        --original-scores "$OUT/train-scores/metadata.jsonl" --quiet --resume --out "$run/pipeline"
    done
    run="$OUT/$method-ipc$ipc-it$iters-sdc0"
    [ -f "$run/pool-random/meta.json" ] || "$DDKIT" sample --pool "$run/pipeline/pool" --ipc "$ipc" --target random \
      --seed "$SEED" --threads "$THREADS" --quiet --out "$run/pool-random"
    # shellcheck disable=SC2046
    [ -f "$run/pool-random-eval/results.json" ] || "$DDKIT" eval --set "$run/pool-random" $(eval_flags "$method" "$ipc") \
      --runs "$RUNS" --seed "$SEED" --threads "$THREADS" --quiet --resume --out "$run/pool-random-eval"
  done
done
python3 "$HERE/matching_table.py" "$OUT"
