#!/usr/bin/env bash
# DGS for the matching methods on Fashion-MNIST: pools of independent runs or of one joint
# run, and DGS-guided initialisation, each beside its controls — the table of
# docs/results.md "DGS for the matching methods" and docs/results/matching.json.
#   observer ConvNet (OBSERVER_EPOCHS) -> prob scores of the training split, then per
#   method, IPC and budget (ITERS) these sets in OUT/<method>-ipc<IPC>-it<ITERS>/, each
#   evaluated RUNS times under the method's protocol:
#     plain              the method from random real images (seed SEED)
#     init-dgs-T         the method from real images picked by DGS with target T (--init dgs)
#     pool-M-dgs-T       DGS (target T, REPEAT selections) from a pool of K x IPC (--pool-mode M)
#     pool-M-random      a random pick from the same pool (target random, REPEAT selections)
#   and, per method and IPC, the starting points themselves in OUT/<method>-ipc<IPC>-it0/:
#     real-random        random real images, not distilled (plain's start)
#     real-herding       herding in the observer's embedding (the DC paper's real-image baseline)
#     real-dgs-T         the DGS-picked real images, not distilled (init-dgs-T's start)
#   A row of REPEAT selections pools their REPEAT x RUNS accuracies. DISTILL_SEED=N (N > 0)
#   distills with seed SEED + N into OUT/<method>-ipc<IPC>-it<ITERS>-seed<N>/ (same observer, same
#   starts of it0/), so the spread between distillation seeds can be measured; the rows
#   carry their `seed`, and the table ends with the mean and std over seeds per set.
#   SNAPSHOTS=N,M,... (each below the budget) also writes the plain and init-dgs sets after
#   those iterations of the same runs (`ddkit distill --snapshots`) and evaluates them: rows
#   of N iterations with `snapshot_of` the budget, the accuracy-against-budget curve of one run.
#   STARTS=0 skips the it0 sets (the starts, not distilled): the DSA protocol is DM's, so
#   DSA's starts score as DM's.
# Usage: examples/dgs_matching_fashion_mnist.sh [OUT_DIR]
#   env: DDKIT, DATA, METHODS ("dm"), IPCS ("1 10"), TARGETS ("original slope cliff"),
#        INIT_TARGETS (TARGETS), POOL_MODES ("runs joint"; "" = no pools), K (3), RUNS (5),
#        REPEAT (3), ITERS (200; ITERS_<method> per method), BUFFER (mtt: a ddkit buffer),
#        OBSERVER_EPOCHS (2), EVAL_EPOCHS_<ipc>, THREADS, SEED (0), DISTILL_SEED (0), STARTS (1), SNAPSHOTS, JSON (default
#        docs/results/matching.json when OUT is the default, else OUT/matching.json),
#        SUMMARY_ONLY (1: run nothing, write the JSON of the sets finished so far)
set -euo pipefail
DDKIT=${DDKIT:-./build/ddkit}
DEFAULT_OUT=runs/dgs-matching-fashion-mnist
OUT=${1:-$DEFAULT_OUT}
METHODS=${METHODS:-dm}
IPCS=${IPCS:-1 10}
TARGETS=${TARGETS:-original slope cliff}
INIT_TARGETS=${INIT_TARGETS:-$TARGETS}
POOL_MODES=${POOL_MODES-runs joint}
K=${K:-3}
RUNS=${RUNS:-5}
REPEAT=${REPEAT:-3}
ITERS=${ITERS:-200}
OBSERVER_EPOCHS=${OBSERVER_EPOCHS:-2}
SEED=${SEED:-0}
DISTILL_SEED=${DISTILL_SEED:-0}
STARTS=${STARTS:-1}
SNAPSHOTS=${SNAPSHOTS:-}
seed_suffix=""; [ "$DISTILL_SEED" = 0 ] || seed_suffix="-seed$DISTILL_SEED"
if [ "$OUT" = "$DEFAULT_OUT" ]; then JSON=${JSON:-docs/results/matching.json}; else JSON=${JSON:-$OUT/matching.json}; fi
mkdir -p "$OUT"
# shellcheck source=examples/eval_flags.sh
source "$(dirname "$0")/eval_flags.sh"
data_threads=(${DATA:+--data "$DATA"} ${THREADS:+--threads "$THREADS"})
common=(--seed "$SEED" "${data_threads[@]}")
distill_common=(--seed "$((SEED + DISTILL_SEED))" "${data_threads[@]}")
t() { /usr/bin/time -f "%e s  $*" "$@"; }

if [ -z "${SUMMARY_ONLY:-}" ]; then
  [ -f "$OUT/observer.pt" ] || t "$DDKIT" train "${common[@]}" --model convnet --epochs "$OBSERVER_EPOCHS" \
    --out "$OUT/observer.pt" --quiet
  [ -d "$OUT/train-scores" ] || t "$DDKIT" score "${common[@]}" --split train --scorer prob \
    --observer "$OUT/observer.pt" --out "$OUT/train-scores" --quiet
fi
scores="$OUT/train-scores/metadata.jsonl"

# evaluate SET_DIR EVAL_DIR METHOD IPC: RUNS runs of the method's protocol (resumable).
evaluate() {
  # shellcheck disable=SC2046
  [ -f "$2/results.json" ] || t "$DDKIT" eval "${common[@]}" --set "$1" --runs "$RUNS" $(eval_flags "$3" "$4") \
    --quiet --out "$2" --resume
}
# sample_eval POOL DIR TARGET METHOD IPC: REPEAT DGS selections of IPC from POOL, each evaluated.
sample_eval() {
  [ -d "$2" ] || t "$DDKIT" sample "${common[@]}" --pool "$1" --ipc "$5" --target "$3" --repeat "$REPEAT" \
    --original-scores "$scores" --observer "$OUT/observer.pt" --quiet --out "$2"
  if [ "$REPEAT" -eq 1 ]; then evaluate "$2" "$2/eval" "$4" "$5"; return; fi
  for ((r = 0; r < REPEAT; r++)); do evaluate "$2/repeat-$r" "$2/repeat-$r/eval" "$4" "$5"; done
}

for METHOD in $METHODS; do
  [ -n "${SUMMARY_ONLY:-}" ] && break
  iters_var="ITERS_$METHOD"; iters=${!iters_var:-$ITERS}
  method=(--method "$METHOD" --checkpoint-every 10 --quiet ${BUFFER:+--buffer "$BUFFER"})
  for IPC in $IPCS; do
    dir="$OUT/$METHOD-ipc$IPC-it$iters$seed_suffix"
    real="$OUT/$METHOD-ipc$IPC-it0"  # the starts, whatever the budget
    mkdir -p "$dir" "$real"
    distill() {
      [ -f "$1/meta.json" ] || t "$DDKIT" distill "${distill_common[@]}" "${method[@]}" --iterations "$iters" --ipc "$IPC" "${@:2}" \
        ${SNAPSHOTS:+--snapshots "$SNAPSHOTS"} --out "$1" --resume
    }
    # evaluate_snapshots SET: the sets SET's run wrote after the SNAPSHOTS iterations.
    evaluate_snapshots() {
      for n in ${SNAPSHOTS//,/ }; do evaluate "$1.snapshots/it$n" "$1.snapshots/it$n/eval" "$METHOD" "$IPC"; done
    }
    distill "$dir/plain"
    evaluate "$dir/plain" "$dir/plain/eval" "$METHOD" "$IPC"
    evaluate_snapshots "$dir/plain"
    if [ "$STARTS" = 1 ]; then
      [ -d "$real/real-random" ] || t "$DDKIT" distill "${common[@]}" --method random --ipc "$IPC" --out "$real/real-random"
      evaluate "$real/real-random" "$real/real-random/eval" "$METHOD" "$IPC"
      [ -d "$real/real-herding" ] || t "$DDKIT" distill "${common[@]}" --method herding --ipc "$IPC" \
        --observer "$OUT/observer.pt" --quiet --out "$real/real-herding"
      evaluate "$real/real-herding" "$real/real-herding/eval" "$METHOD" "$IPC"
    fi
    for T in $INIT_TARGETS; do
      init=(--init dgs --init-target "$T" --init-scores "$scores")
      distill "$dir/init-dgs-$T" "${init[@]}"
      evaluate "$dir/init-dgs-$T" "$dir/init-dgs-$T/eval" "$METHOD" "$IPC"
      evaluate_snapshots "$dir/init-dgs-$T"
      [ "$STARTS" = 1 ] || continue
      [ -f "$real/real-dgs-$T/meta.json" ] || t "$DDKIT" distill "${common[@]}" "${method[@]}" --iterations 0 \
        --ipc "$IPC" "${init[@]}" --out "$real/real-dgs-$T"
      evaluate "$real/real-dgs-$T" "$real/real-dgs-$T/eval" "$METHOD" "$IPC"
    done
    for M in $POOL_MODES; do
      pool="$dir/pool-$M"
      if [ ! -f "$pool/difficulty.json" ]; then
        distill "$pool" --pool-factor "$K" --pool-mode "$M"
        t "$DDKIT" score "${common[@]}" --set "$pool" --scorer prob --observer "$OUT/observer.pt" --quiet --out "$pool"
      fi
      for T in $TARGETS; do sample_eval "$pool" "$dir/pool-$M-dgs-$T" "$T" "$METHOD" "$IPC"; done
      sample_eval "$pool" "$dir/pool-$M-random" random "$METHOD" "$IPC"
    done
  done
done

python3 - "$OUT" "$JSON" "$REPEAT" <<'PY'
import glob, json, os, re, statistics, sys
out, path, repeat = sys.argv[1], sys.argv[2], int(sys.argv[3])
# Each row's command reproduces it: the shared settings of this invocation, plus the
# row's method, IPC, budget and target (other rows come along).
shared = [f"{k}='{os.environ[k]}'" for k in ("DATA", "K", "RUNS", "REPEAT", "OBSERVER_EPOCHS", "EVAL_EPOCHS_1",
                                            "EVAL_EPOCHS_10", "THREADS", "SEED") if k in os.environ]
tail = ["bash examples/dgs_matching_fashion_mnist.sh"] + ([out] if out != "runs/dgs-matching-fashion-mnist" else [])
def command(method, ipc, iters, s, seed, snapshot=0):
    row = [f"METHODS='{method}'", f"IPCS='{ipc}'"] + ([f"DISTILL_SEED='{seed}'"] if seed else [])
    if method == "mtt" and "BUFFER" in os.environ:  # the expert buffer only MTT reads
        row.append(f"BUFFER='{os.environ['BUFFER']}'")
    if iters:
        row.append(f"ITERS='{iters}'")
    if snapshot:
        row.append(f"SNAPSHOTS='{snapshot}'")
    m = re.match(r"(?:init|real)-dgs-(.+)$", s)
    p = re.match(r"pool-(runs|joint)-(?:dgs-(.+)|random)$", s)
    row.append(f"INIT_TARGETS='{m.group(1)}'" if m else "INIT_TARGETS=''")
    row.append(f"POOL_MODES='{p.group(1)}'" if p else "POOL_MODES=''")
    if p and p.group(2):
        row.append(f"TARGETS='{p.group(2)}'")
    return " ".join(shared + row + tail)
def seconds_of(meta_file):
    return json.load(open(meta_file)).get("wall_seconds") if os.path.exists(meta_file) else None
def accuracies_of(files):
    accuracies, eval_seconds = [], 0.0
    for f in files:
        r = json.load(open(f))["models"]["convnet"]
        accuracies += r["accuracies"]
        eval_seconds += r["wall_seconds"]
    return accuracies, eval_seconds
def stats(accuracies):
    return {"mean": statistics.fmean(accuracies), "std": statistics.pstdev(accuracies), "runs": len(accuracies)}
rows = []
for d in sorted(glob.glob(os.path.join(out, "*-ipc*-it*")), key=lambda d: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", d)]):
    m = re.match(r"(\w+)-ipc(\d+)-it(\d+)(?:-seed(\d+))?$", os.path.basename(d))
    if not m:
        continue
    method, ipc, iters, seed = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4) or 0)
    for s in sorted(os.listdir(d)):
        set_dir = os.path.join(d, s)
        if s.endswith(".snapshots"):  # SNAPSHOTS: the run's set after fewer iterations
            name = s[:-len(".snapshots")]
            for snap in sorted(glob.glob(os.path.join(set_dir, "it*")), key=lambda p: int(p.rsplit("it", 1)[1])):
                n = int(snap.rsplit("it", 1)[1])
                f = os.path.join(snap, "eval", "results.json")
                if not os.path.exists(f):
                    continue
                accuracies, eval_seconds = accuracies_of([f])
                rows.append({"method": method, "ipc": ipc, "set": name, "pool_mode": None, "iterations": n,
                             "snapshot_of": iters, "seed": seed, **stats(accuracies), "repeats": 1,
                             "eval_seconds": eval_seconds, "distill_seconds": seconds_of(os.path.join(snap, "meta.json")),
                             "command": command(method, ipc, iters, name, seed, n)})
            continue
        files = [os.path.join(set_dir, "eval", "results.json")]
        if not os.path.exists(files[0]):
            files = [f for f in (os.path.join(set_dir, f"repeat-{r}", "eval", "results.json") for r in range(repeat))
                     if os.path.exists(f)]
        if not files:
            continue
        accuracies, eval_seconds = accuracies_of(files)
        pool_mode = re.match(r"pool-(runs|joint)-", s)
        made = os.path.join(d, f"pool-{pool_mode.group(1)}", "meta.json") if pool_mode else os.path.join(set_dir, "meta.json")
        rows.append({"method": method, "ipc": ipc, "set": s, "pool_mode": pool_mode.group(1) if pool_mode else None,
                     "iterations": iters, "seed": seed, **stats(accuracies), "repeats": len(files),
                     "eval_seconds": eval_seconds, "distill_seconds": seconds_of(made),
                     "command": command(method, ipc, iters, s, seed)})
# Rows measured before and not in OUT now (another machine, a removed run folder) are kept:
# the JSON accumulates, a row measured again replaces its old value.
key = lambda r: (r["method"], r["ipc"], r["iterations"], r["set"], r.get("seed", 0), r.get("snapshot_of", 0))
fresh = {key(r) for r in rows}
if os.path.exists(path):
    rows += [dict(r, seed=r.get("seed", 0)) for r in json.load(open(path))["rows"] if key(r) not in fresh]
rows.sort(key=key)
os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
json.dump({"rows": rows}, open(path + ".tmp", "w"), indent=2)
os.replace(path + ".tmp", path)
print("| method | IPC | iterations | set | seed | accuracy % | runs |")
print("|---|---|---|---|---|---|---|")
for r in rows:
    its = f"{r['iterations']} (of {r['snapshot_of']})" if r.get("snapshot_of") else r["iterations"]
    print(f"| {r['method']} | {r['ipc']} | {its} | {r['set']} | {r['seed']} | {r['mean']:.2f} ± {r['std']:.2f} | {r['runs']} |")
# Over distillation seeds: the mean of each seed's mean, and the std between seeds.
groups = {}
for r in rows:
    groups.setdefault((r["method"], r["ipc"], r["iterations"], r["set"], r.get("snapshot_of", 0)), []).append(r)
print()
print("| method | IPC | iterations | set | seeds | mean over seeds % | std between seeds |")
print("|---|---|---|---|---|---|---|")
for (method, ipc, iters, s, _), g in groups.items():
    if len(g) > 1:
        means = [r["mean"] for r in g]
        print(f"| {method} | {ipc} | {iters} | {s} | {len(g)} | {statistics.fmean(means):.2f} | {statistics.pstdev(means):.2f} |")
PY
