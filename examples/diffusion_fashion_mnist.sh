#!/usr/bin/env bash
# The generative route on Fashion-MNIST: the table of docs/methods/diffusion.md
# "Results" and docs/results/generative.json.
#   generator (ddkit gen-train, or GEN=model.pt) -> observer ConvNet -> prob scores of the training split
#   -> per IPC, rows:
#        gen-random   IPC images per class straight from the generator (= the first IPC of each
#                     class of the pool: a class's noise comes from one seeded stream)
#        gen-dgs      pool of POOL x IPC -> DGS (target TARGET), REPEAT selections
#        gen-dag-dgs  pool of POOL x IPC with DAG (targets from TARGET) -> DGS, REPEAT selections
#        real-random  IPC random real images per class
#   -> every set evaluated with ConvNet-3 (DM's protocol: DSA augmentation, 1000 epochs unless
#      EVAL_EPOCHS_<ipc>), RUNS runs; a row of REPEAT selections pools their REPEAT x RUNS accuracies.
#   -> a grid PNG per row (GRIDS) and the summary rows as JSON (JSON), with the generator's budget and
#      its FID and CAS (ddkit gen-eval on GEN_EVAL_IMAGES images) and each pool's generation time.
# Usage: examples/diffusion_fashion_mnist.sh [OUT_DIR]
#   env: DDKIT, DATA (--data), IPCS ("1 10 50"), RUNS (5), REPEAT (3), POOL (5), TARGET (original),
#        GEN (a generator model.pt; default: train one in OUT/generator), GEN_STEPS (default gen-train's),
#        SOLVER, STEPS, GUIDANCE (default: distill's), DAG_SCALE (30), DAG_STOP (0), DAG_START (200),
#        OBSERVER_EPOCHS (2), EVAL_EPOCHS_<ipc>, GEN_EVAL_IMAGES (10000; 0 = skip gen-eval), THREADS, SEED (0), GRIDS (default OUT), JSON
#        (default docs/results/generative.json when OUT is the default, else OUT/generative.json),
#        SUMMARY_ONLY (1: run nothing, write the JSON of the rows finished so far)
set -euo pipefail
DDKIT=${DDKIT:-./build/ddkit}
DEFAULT_OUT=runs/diffusion-fashion-mnist
OUT=${1:-$DEFAULT_OUT}
IPCS=${IPCS:-1 10 50}
RUNS=${RUNS:-5}
REPEAT=${REPEAT:-3}
POOL=${POOL:-5}
TARGET=${TARGET:-original}
GEN_STEPS=${GEN_STEPS:-}
SOLVER=${SOLVER:-}
STEPS=${STEPS:-}
GUIDANCE=${GUIDANCE:-}
DAG_SCALE=${DAG_SCALE:-30}
DAG_STOP=${DAG_STOP:-0}
DAG_START=${DAG_START:-200}
OBSERVER_EPOCHS=${OBSERVER_EPOCHS:-2}
GEN_EVAL_IMAGES=${GEN_EVAL_IMAGES:-10000}
SEED=${SEED:-0}
GRIDS=${GRIDS:-$OUT}
if [ "$OUT" = "$DEFAULT_OUT" ]; then JSON=${JSON:-docs/results/generative.json}; else JSON=${JSON:-$OUT/generative.json}; fi
mkdir -p "$OUT" "$GRIDS"
# shellcheck source=examples/eval_flags.sh
source "$(dirname "$0")/eval_flags.sh"
common=(--seed "$SEED" ${DATA:+--data "$DATA"} ${THREADS:+--threads "$THREADS"})
t() { /usr/bin/time -f "%e s  $*" "$@"; }

GEN=${GEN:-$OUT/generator/model.pt}
[ -n "${SUMMARY_ONLY:-}" ] || [ -f "$GEN" ] || t "$DDKIT" gen-train "${common[@]}" ${GEN_STEPS:+--steps "$GEN_STEPS"} --out "$(dirname "$GEN")" --resume
[ "$GEN_EVAL_IMAGES" -eq 0 ] || [ -f "$OUT/gen-eval.json" ] || t "$DDKIT" gen-eval "${common[@]}" --generator "$GEN" \
  --images "$GEN_EVAL_IMAGES" ${SOLVER:+--solver "$SOLVER"} ${STEPS:+--steps "$STEPS"} ${GUIDANCE:+--guidance "$GUIDANCE"} \
  --out "$OUT/gen-eval.json"
[ -f "$OUT/observer.pt" ] || t "$DDKIT" train "${common[@]}" --model convnet --epochs "$OBSERVER_EPOCHS" --out "$OUT/observer.pt"
[ -d "$OUT/train-scores" ] || t "$DDKIT" score "${common[@]}" --split train --scorer prob --observer "$OUT/observer.pt" \
  --out "$OUT/train-scores"
scores="$OUT/train-scores/metadata.jsonl"

# evaluate SET_DIR EVAL_DIR IPC: RUNS runs of DM's protocol (resumable).
evaluate() {
  # shellcheck disable=SC2046
  [ -f "$2/results.json" ] || t "$DDKIT" eval "${common[@]}" --set "$1" --runs "$RUNS" $(eval_flags dm "$3") --quiet \
    --out "$2" --resume
}

for IPC in $IPCS; do
  [ -n "${SUMMARY_ONLY:-}" ] && break  # SUMMARY_ONLY=1: only the JSON of what is finished
  dir="$OUT/ipc$IPC"
  mkdir -p "$dir"
  gen=("${common[@]}" --method diffusion --generator "$GEN" --ipc "$IPC" ${SOLVER:+--solver "$SOLVER"}
       ${STEPS:+--steps "$STEPS"} ${GUIDANCE:+--guidance "$GUIDANCE"})
  [ -d "$dir/gen-random" ] || t "$DDKIT" distill "${gen[@]}" --out "$dir/gen-random"
  [ -d "$dir/pool" ] || {
    t "$DDKIT" distill "${gen[@]}" --pool-factor "$POOL" --out "$dir/pool"
    t "$DDKIT" score "${common[@]}" --set "$dir/pool" --scorer prob --observer "$OUT/observer.pt" --out "$dir/pool"
  }
  [ -d "$dir/pool-dag" ] || {
    t "$DDKIT" distill "${gen[@]}" --pool-factor "$POOL" --dag-scale "$DAG_SCALE" --dag-stop "$DAG_STOP" \
      --dag-start "$DAG_START" --dag-target "$TARGET" --observer "$OUT/observer.pt" --dag-original-scores "$scores" \
      --out "$dir/pool-dag"
    t "$DDKIT" score "${common[@]}" --set "$dir/pool-dag" --scorer prob --observer "$OUT/observer.pt" --out "$dir/pool-dag"
  }
  for pool in pool pool-dag; do
    set=gen-dgs; [ "$pool" = pool-dag ] && set=gen-dag-dgs
    [ -d "$dir/$set" ] || t "$DDKIT" sample "${common[@]}" --pool "$dir/$pool" --ipc "$IPC" --target "$TARGET" \
      --repeat "$REPEAT" --original-scores "$scores" --out "$dir/$set"
  done
  [ -d "$dir/real-random" ] || t "$DDKIT" distill "${common[@]}" --method random --ipc "$IPC" --out "$dir/real-random"
  for set in gen-random real-random; do evaluate "$dir/$set" "$dir/eval-$set" "$IPC"; done
  for set in gen-dgs gen-dag-dgs; do
    if [ "$REPEAT" -eq 1 ]; then
      evaluate "$dir/$set" "$dir/eval-$set" "$IPC"
    else
      for ((r = 0; r < REPEAT; r++)); do evaluate "$dir/$set/repeat-$r" "$dir/eval-$set/repeat-$r" "$IPC"; done
    fi
  done
  for set in gen-random gen-dgs gen-dag-dgs real-random; do
    src="$dir/$set"; [ -d "$src/repeat-0" ] && src="$src/repeat-0"
    "$DDKIT" report --set "$src" --data "${DATA:-fashion-mnist}" --grid-out "$GRIDS/diffusion-ipc$IPC-$set.png" \
      --per-class "$(( IPC < 10 ? IPC : 10 ))" --quiet
  done
done

python3 - "$OUT" "$JSON" "$GEN" "$REPEAT" "$RUNS" "$IPCS" <<'PY'
import json, os, statistics, sys
out, path, gen, repeat, runs, ipcs = sys.argv[1:]
settings = [f"{k}='{os.environ[k]}'" for k in ("DATA", "IPCS", "RUNS", "REPEAT", "POOL", "TARGET", "GEN", "GEN_STEPS",
                                              "SOLVER", "STEPS", "GUIDANCE", "DAG_SCALE", "DAG_STOP", "DAG_START",
                                              "OBSERVER_EPOCHS", "GEN_EVAL_IMAGES", "EVAL_EPOCHS_1", "EVAL_EPOCHS_10", "EVAL_EPOCHS_50",
                                              "THREADS", "SEED") if os.environ.get(k)]
command = " ".join(settings + ["bash examples/diffusion_fashion_mnist.sh"] +
                   ([out] if out != "runs/diffusion-fashion-mnist" else []))
train = json.load(open(os.path.join(os.path.dirname(gen), "train.json")))
rows = []
for ipc in ipcs.split():
    d = os.path.join(out, f"ipc{ipc}")
    for name in ("gen-random", "gen-dgs", "gen-dag-dgs", "real-random"):
        ev = os.path.join(d, f"eval-{name}")
        # A row of REPEAT selections counts the finished ones (SUMMARY_ONLY may come before all are).
        files = [os.path.join(ev, "results.json")] if os.path.exists(os.path.join(ev, "results.json")) else \
            [f for f in (os.path.join(ev, f"repeat-{r}", "results.json") for r in range(int(repeat))) if os.path.exists(f)]
        if not files:
            continue
        accuracies, seconds = [], 0.0
        for f in files:
            m = json.load(open(f))["models"]["convnet"]
            accuracies += m["accuracies"]
            seconds += m["wall_seconds"]
        made = {"gen-random": "gen-random", "gen-dgs": "pool", "gen-dag-dgs": "pool-dag"}.get(name)
        made_seconds = json.load(open(os.path.join(d, made, "meta.json"))).get("wall_seconds") if made else None
        rows.append({"ipc": int(ipc), "set": name, "mean": statistics.fmean(accuracies),
                     "std": statistics.pstdev(accuracies), "runs": len(accuracies),
                     "repeats": len(files), "eval_seconds": seconds, "generation_seconds": made_seconds,
                     "command": command})
doc = {"generator": {"file": gen, "steps": train["extra"]["steps"], "train_seconds": train["extra"]["train_seconds"],
                     "fid_curve": train.get("fid_curve", [])}, "rows": rows}
quality = os.path.join(out, "gen-eval.json")
if os.path.exists(quality):
    q = json.load(open(quality))
    doc["generator"]["quality"] = {k: q[k] for k in ("images", "per_class", "fid", "cas", "cas_epochs", "real", "source")
                                   if k in q}
os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
json.dump(doc, open(path + ".tmp", "w"), indent=2)
os.replace(path + ".tmp", path)
print("| IPC | set | accuracy % | runs |")
print("|---|---|---|---|")
for r in rows:
    print(f"| {r['ipc']} | {r['set']} | {r['mean']:.2f} ± {r['std']:.2f} | {r['runs']} |")
PY
