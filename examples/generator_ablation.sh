#!/usr/bin/env bash
# The generator ablation (docs/methods/diffusion.md "Ablation"): FID and CAS of
# generators that differ by one change each, at one fixed short budget.
#   training rows  (PART=train): each row adds one change to the row above it,
#                  from the former ddkit generator to the current defaults; every
#                  row trains STEPS steps of batch BATCH with the same seed.
#   sampler rows   (PART=sampler): one generator (GEN), sampled with each solver,
#                  step count and guidance scale.
# Each row: `ddkit gen-eval` on IMAGES generated images (balanced) vs the test
# split, beside the real-vs-real reference at the same size; CAS = ConvNet-3
# trained 10 epochs on those images. The table goes to JSON (a program's input)
# and to stdout as markdown.
# Usage: examples/generator_ablation.sh [OUT_DIR]
#   env: PART (train | sampler), DDKIT, STEPS (1000), BATCH (64), IMAGES (1000),
#        THREADS (1), SEED (0), GEN (sampler rows: a model.pt), ROWS (a subset of
#        the row names), JSON (default docs/results/generator_ablation_<part>.json)
set -euo pipefail
PART=${PART:-train}
DDKIT=${DDKIT:-./build/ddkit}
OUT=${1:-runs/generator-ablation}
STEPS=${STEPS:-1000}
BATCH=${BATCH:-64}
IMAGES=${IMAGES:-1000}
THREADS=${THREADS:-1}
SEED=${SEED:-0}
JSON=${JSON:-docs/results/generator_ablation_$PART.json}
mkdir -p "$OUT"
common=(--seed "$SEED" --threads "$THREADS" --quiet)

if [ "$PART" = train ]; then
  names=(former silu blocks cosine v min-snr)
  declare -A flags=(
    [former]="--embedding-silu false --upsample-to-level-width false --res-blocks 1 --schedule linear --prediction eps --min-snr-gamma 0"
    [silu]="--upsample-to-level-width false --res-blocks 1 --schedule linear --prediction eps --min-snr-gamma 0"
    [blocks]="--schedule linear --prediction eps --min-snr-gamma 0"
    [cosine]="--prediction eps --min-snr-gamma 0"
    [v]="--min-snr-gamma 0"
    [min-snr]=""
  )
  declare -A what=(
    [former]="former generator: 1 block per level, embedding without SiLU, linear schedule, eps, unweighted"
    [silu]="+ SiLU before each block's embedding Linear"
    [blocks]="+ blocks 1,2,2 per level, cheaper 28x28 up-sampling"
    [cosine]="+ cosine schedule"
    [v]="+ v-prediction"
    [min-snr]="+ Min-SNR-5 weighting (the defaults)"
  )
else
  : "${GEN:?PART=sampler needs GEN=model.pt}"
  names=(dpm2m-20-w2 ddim-50-w2 ddim-20-w2 dpm2m-10-w2 dpm2m-20-w1 dpm2m-20-w1.5 dpm2m-20-w3)
  declare -A flags=()
  declare -A what=()
  for name in "${names[@]}"; do
    IFS=- read -r solver steps w <<< "$name"
    flags[$name]="--solver $solver --steps $steps --guidance ${w#w}"
    what[$name]="$solver, $steps steps, guidance ${w#w}"
  done
fi
[ -n "${ROWS:-}" ] && read -r -a names <<< "$ROWS"

for name in "${names[@]}"; do
  dir="$OUT/$PART-$name"
  mkdir -p "$dir"
  if [ "$PART" = train ]; then
    gen="$dir/model.pt"
    # shellcheck disable=SC2086
    [ -f "$dir/train.json" ] || "$DDKIT" gen-train "${common[@]}" --steps "$STEPS" --batch "$BATCH" --fid-every 0 \
      ${flags[$name]} --out "$dir" --resume
    sample=()
  else
    gen="$GEN"
    read -r -a sample <<< "${flags[$name]}"
  fi
  [ -f "$dir/quality.json" ] || "$DDKIT" gen-eval "${common[@]}" --generator "$gen" --images "$IMAGES" "${sample[@]}" \
    --out "$dir/quality.json"
  printf '%s\t%s\n' "$name" "${what[$name]}" > "$dir/row.txt"
done

python3 - "$OUT" "$PART" "$JSON" "$STEPS" "$BATCH" "$IMAGES" "$SEED" "${names[@]}" <<'PY'
import json, os, sys
out, part, path, steps, batch, images, seed, *names = sys.argv[1:]
rows = []
for name in names:
    d = os.path.join(out, f"{part}-{name}")
    q = json.load(open(os.path.join(d, "quality.json")))
    label = open(os.path.join(d, "row.txt")).read().split("\t", 1)[1].strip()
    row = {"row": name, "what": label, "fid": q["fid"], "fid_real": q["real"]["fid"], "cas": q.get("cas"),
           "cas_real": q["real"].get("cas"), "images": q["images"],
           "images_per_second": q["source"].get("images_per_second")}
    if part == "train":
        t = json.load(open(os.path.join(d, "train.json")))
        row.update(parameters=t["extra"]["parameters"], train_seconds=t["extra"]["train_seconds"],
                   steps=t["extra"]["steps"], batch=t["extra"]["batch"], loss=t["extra"]["loss"])
    else:
        row["generator"] = q["source"]["generator"]
    rows.append(row)
command = f"PART={part} STEPS={steps} BATCH={batch} IMAGES={images} SEED={seed} bash examples/generator_ablation.sh"
doc = {"part": part, "command": command, "rows": rows}
os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
tmp = path + ".tmp"
json.dump(doc, open(tmp, "w"), indent=2)
os.replace(tmp, path)
print(f"| {part} row | FID ({images} images) | CAS % | img/s |" + (" parameters | train s |" if part == "train" else ""))
print("|---|---|---|---|" + ("---|---|" if part == "train" else ""))
for r in rows:
    line = f"| {r['what']} | {r['fid']:.2f} | {r['cas']:.2f} | {r['images_per_second']:.1f} |"
    if part == "train":
        line += f" {r['parameters']:,} | {r['train_seconds']:.0f} |"
    print(line)
print(f"real vs real at {images} images: FID {rows[0]['fid_real']:.2f}, CAS {rows[0]['cas_real']:.2f} %")
PY
