#!/usr/bin/env bash
# The README's main job with DD-Ranking's metrics: `ddkit pipeline` (DM pool ->
# observer -> scores -> DGS -> evaluation beside plain DM) plus --baselines
# (random real at the same IPC and whole-data training, cached).
# Usage: examples/quickstart_metrics.sh [OUT_DIR]
#   env: BUDGET (short | full), DDKIT (./build/ddkit), SEED (0), CACHE (baselines cache)
#   short (default): the README's first command (100 DM iterations, pool 3 x IPC,
#     300-epoch DSA evaluation, 2 runs, 1-epoch observer) and a 5-epoch whole-data run;
#   full: the published DM budget (20000 iterations), pool 5 x IPC, the DSA
#     setting (1000 epochs), 5 runs, a 20-epoch observer and whole-data run.
set -euo pipefail
DDKIT=${DDKIT:-./build/ddkit}
OUT=${1:-runs/dm-pipeline}
SEED=${SEED:-0}
CACHE=${CACHE:-runs/baselines-cache}
if [ "${BUDGET:-short}" = full ]; then
  flags=(--iterations 20000 --pool-factor 5 --runs 5 --score-observer-epochs 20 --whole-epochs 20)
else
  flags=(--iterations 100 --pool-factor 3 --runs 2 --eval-epochs 300 --score-observer-epochs 1 --whole-epochs 5)
fi
/usr/bin/time -f "%e s wall, %M KB peak RSS" "$DDKIT" pipeline --method dm --ipc 10 --pool-mode joint "${flags[@]}" --seed "$SEED" \
  --baselines --baselines-cache "$CACHE" --resume --out "$OUT"
