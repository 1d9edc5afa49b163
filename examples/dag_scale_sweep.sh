#!/usr/bin/env bash
# DAG guidance scale sweep (docs/algorithms.md §11): a small pool per scale, scored by the same
# observer; prints the mean prob difficulty d, the mean target d* and mean |d - d*|.
# Usage: examples/dag_scale_sweep.sh GENERATOR OBSERVER TRAIN_SCORES_JSONL [OUT_DIR]
#   (no BUDGET: a sweep over a given generator; PER_CLASS sets its size)
#   env: DDKIT, PER_CLASS (3), STEPS (50), SCALES ("0 100 300 1000"), DAG_STOP (0), SEED (0)
set -euo pipefail
DDKIT=${DDKIT:-./build/ddkit}
GEN=$1 OBS=$2 SCORES=$3
OUT=${4:-runs/dag-sweep}
PER_CLASS=${PER_CLASS:-3}
STEPS=${STEPS:-50}
SCALES=${SCALES:-"0 100 300 1000"}
DAG_STOP=${DAG_STOP:-0}
DAG_START=${DAG_START:-999}
SEED=${SEED:-0}
mkdir -p "$OUT"
for s in $SCALES; do
  dir="$OUT/scale-$s"
  [ -d "$dir" ] || {
    "$DDKIT" distill --method diffusion --generator "$GEN" --ipc "$PER_CLASS" --steps "$STEPS" --seed "$SEED" \
      --dag-scale "$s" --dag-stop "$DAG_STOP" --dag-start "$DAG_START" --observer "$OBS" --dag-original-scores "$SCORES" --quiet --out "$dir"
    "$DDKIT" score --set "$dir" --scorer prob --observer "$OBS" --quiet --out "$dir"
  }
  # Scale 0 has no targets of its own: compare with scale-$s's targets of the same seed (the same draw).
  python3 - "$dir" "$OUT" "$s" <<'PY'
import json, sys, glob, os
d, out, s = sys.argv[1], sys.argv[2], sys.argv[3]
scores = [json.loads(l)["score"] for l in open(os.path.join(d, "metadata.jsonl"))]
meta = json.load(open(os.path.join(d, "meta.json")))
targets = meta["dag"].get("targets")
if targets is None:
    others = sorted(p for p in glob.glob(os.path.join(out, "scale-*", "meta.json")) if "targets" in json.load(open(p))["dag"])
    targets = json.load(open(others[0]))["dag"]["targets"] if others else None
n = len(scores)
line = f"scale {s:>6}: mean d {sum(scores)/n:.4f}"
if targets:
    line += f"  mean d* {sum(targets)/n:.4f}  mean |d - d*| {sum(abs(a-b) for a,b in zip(scores,targets))/n:.4f}"
print(line + f"  ({meta['generate_seconds']:.0f} s for {n} images)")
PY
done
