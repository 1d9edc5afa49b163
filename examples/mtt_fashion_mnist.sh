#!/usr/bin/env bash
# MTT on Fashion-MNIST at a short CPU budget (README "MTT: measured"):
# a buffer of EXPERTS x EPOCHS experts, MTT at IPC 1 and 10 for a few
# iterations each (published CIFAR-10 settings, max start epoch capped by the
# buffer), then `ddkit eval --dsa --runs 5` (1000 epochs with DSA, the learned lr)
# beside random real images under the same protocol. Every stage resumes.
#   bash examples/mtt_fashion_mnist.sh            # env: BUDGET (short|full) EXPERTS EPOCHS IT1 IT10 OUT DDKIT THREADS
set -euo pipefail
cd "$(dirname "$0")/.."
DDKIT=${DDKIT:-build/ddkit}
OUT=${OUT:-runs/mtt}
# BUDGET=short (default): the README's budget; BUDGET=full: the reference's
# buffer (100 experts x 50 epochs) and 5000 iterations — weeks on 2 cores.
if [ "${BUDGET:-short}" = full ]; then
  : "${EXPERTS:=100}" "${EPOCHS:=50}" "${IT1:=5000}" "${IT10:=5000}"
fi
EXPERTS=${EXPERTS:-1}
EPOCHS=${EPOCHS:-5}
IT1=${IT1:-20}
IT10=${IT10:-5}
THREADS=${THREADS:-2}
export OMP_WAIT_POLICY=PASSIVE
run() { echo "+ $*"; local t0=$SECONDS; nice -n 10 "$@"; echo "  ($((SECONDS - t0)) s)"; }

run "$DDKIT" buffer --experts "$EXPERTS" --epochs "$EPOCHS" --threads "$THREADS" --resume --out "$OUT/buffer"
for ipc in 1 10; do
  it=$IT1; [ "$ipc" = 10 ] && it=$IT10
  if [ ! -f "$OUT/mtt-ipc$ipc/meta.json" ]; then
    # peak RSS of the run (syn_steps 30 at IPC 10) from /usr/bin/time -v
    run /usr/bin/time -v -o "$OUT/mtt-ipc$ipc.time" "$DDKIT" distill --method mtt --ipc "$ipc" \
      --buffer "$OUT/buffer" --iterations "$it" --checkpoint-every 1 --threads "$THREADS" --resume \
      --out "$OUT/mtt-ipc$ipc"
    grep -E "Maximum resident|Elapsed" "$OUT/mtt-ipc$ipc.time"
  fi
  run "$DDKIT" eval --set "$OUT/mtt-ipc$ipc" --dsa --runs 5 --threads "$THREADS" --resume --out "$OUT/mtt-ipc$ipc/eval"
  [ -f "$OUT/random-ipc$ipc/meta.json" ] || run "$DDKIT" distill --method random --ipc "$ipc" --out "$OUT/random-ipc$ipc"
  run "$DDKIT" eval --set "$OUT/random-ipc$ipc" --dsa --runs 5 --threads "$THREADS" --resume --out "$OUT/random-ipc$ipc/eval"
done
for d in "$OUT"/mtt-ipc1 "$OUT"/random-ipc1 "$OUT"/mtt-ipc10 "$OUT"/random-ipc10; do
  /usr/bin/python3 -c "import json,sys; r=json.load(open('$d/eval/results.json')); m=json.load(open('$d/meta.json'));
c=r.get('convnet', r.get('models', {}).get('convnet', {}))
print('$d', 'learned_lr', m.get('learned_lr'), 'acc', c.get('mean'), '+-', c.get('std'))" || true
done
