#!/usr/bin/env bash
# A two-host run without two hosts: two network namespaces joined by a veth
# pair (10.77.0.1 and 10.77.0.2), and on each "host" the same command with
# RANK / WORLD_SIZE / MASTER_ADDR / MASTER_PORT — as on real machines. Checks
# that the result equals a one-process run. Needs root (ip netns).
# Usage: examples/scaling_netns.sh [OUT_DIR]   env: DDKIT (./build/ddkit), SET (an image set; made here if absent)
set -euo pipefail
DDKIT=$(readlink -f "${DDKIT:-./build/ddkit}")
OUT=${1:-runs/netns}
SET=${SET:-$OUT/random-ipc10}
mkdir -p "$OUT"
[ -d "$SET" ] || "$DDKIT" distill --method random --ipc 10 --quiet --out "$SET"

cleanup() { ip netns del ddkit-h0 2>/dev/null || true; ip netns del ddkit-h1 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add ddkit-h0
ip netns add ddkit-h1
ip link add ddkit-v0 type veth peer name ddkit-v1
ip link set ddkit-v0 netns ddkit-h0
ip link set ddkit-v1 netns ddkit-h1
ip -n ddkit-h0 addr add 10.77.0.1/24 dev ddkit-v0
ip -n ddkit-h1 addr add 10.77.0.2/24 dev ddkit-v1
for h in 0 1; do
  ip -n ddkit-h$h link set lo up
  ip -n ddkit-h$h link set ddkit-v$h up
done
ip -n ddkit-h1 route get 10.77.0.1 > /dev/null  # the "hosts" see each other

args=(eval --set "$SET" --runs 2 --epochs 20 --seed 0 --threads 1 --quiet)
rm -rf "$OUT/two-hosts" "$OUT/one-process"
# "Host" h: the same command line on each, only RANK differs.
for h in 1 0; do
  ip netns exec ddkit-h$h env RANK=$h WORLD_SIZE=2 MASTER_ADDR=10.77.0.1 MASTER_PORT=29555 \
    "$DDKIT" "${args[@]}" --out "$OUT/two-hosts" > "$OUT/host$h.log" 2>&1 &
done
wait
"$DDKIT" "${args[@]}" --out "$OUT/one-process" > "$OUT/one-process.log" 2>&1
python3 - "$OUT" <<'PY'
import json, sys
acc = lambda d: json.load(open(f"{sys.argv[1]}/{d}/results.json"))["models"]["convnet"]["accuracies"]
two, one = acc("two-hosts"), acc("one-process")
print("two hosts:  ", two)
print("one process:", one)
sys.exit(0 if two == one else 1)
PY
