#!/usr/bin/python3
"""Writes the seed corpora of the text-format fuzz targets (fuzz/corpus/run_json/ and
fuzz/corpus/config/) with the standard library alone; fuzz/make_corpus.py writes the
binary readers' corpora. Deterministic: the same bytes each run.

    /usr/bin/python3 fuzz/make_text_corpus.py
"""
import json
import os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def run_input(selector, files):
    """fuzz_run_json's input: a selector byte, then the five files joined by NUL bytes
    (results.json, dgs/meta.json, dgs/sampling.json, pool/meta.json, plain/meta.json)."""
    parts = [b"" if f is None else json.dumps(f, sort_keys=True).encode() for f in files]
    return bytes([selector]) + b"\0".join(parts)


model = {"mean": 70.1, "std": 0.5, "accuracies": [70.6, 69.6]}
protocol = {"epochs": 300, "dsa": True, "lr": 0.01}
pipeline = {"dataset": "fashion-mnist", "method": "dm", "ipc": 1, "pool_factor": 2, "target": "cliff", "seed": 0,
            "sets": {"dgs": {"protocol": protocol, "models": {"convnet": model}},
                     "plain": {"protocol": protocol, "models": {"convnet": dict(model, mean=68.0)}}},
            "baselines": {"convnet": {"random": 51.5, "whole": 93.0}},
            "stages": {"distill": {"seconds": 12.5}, "eval": {"seconds": None}}}
final_meta = {"method": "dgs", "dataset": "fuzz", "ipc": 1, "pool_indices": [0, 1], "wall_seconds": 1.5,
              "learned_lr": 0.01}
sampling = {"target": "cliff", "ipc": 1, "seed": 0,
            "classes": {str(c): {"pool_bins": [1] + [0] * 8 + [1], "target": [1] + [0] * 9, "drawn": [1] + [0] * 9}
                        for c in range(2)}}
pool_meta = {"method": "dm", "ipc": 2, "iterations": 20, "loss_every_10": [[0, 1.5], [10, 1.2]]}
plain_meta = {"method": "dm", "ipc": 1, "iterations": 20, "loss_every_10": [[0, 1.4], [10, 1.1]]}
evaluation = {"set": "@RUN@/dgs", "runs": 2, "seed": 0, "device": "cpu", "protocol": protocol,
              "models": {"convnet": model}, "wall_seconds": 3.0}
put("run_json", "pipeline", run_input(0, [pipeline, final_meta, sampling, pool_meta, plain_meta]))
put("run_json", "eval", run_input(0, [evaluation, final_meta, None, None, None]))
put("run_json", "set", run_input(1, [None, final_meta, sampling, None, None]))
# Regression: a loss point of one value, which the report once read past (ASan:
# heap-buffer-overflow).
put("run_json", "loss-point-short", run_input(1, [None, dict(final_meta, loss_every_10=[[0, 1.5], [10]]), sampling,
                                                  None, None]))
# Regression: epochs past any integer type, which the report once cast to int (UBSan:
# float-cast-overflow); json.dumps writes 1e300 as 1e+300.
put("run_json", "epochs-1e300", run_input(0, [dict(evaluation, protocol=dict(protocol, epochs=1e300)), final_meta,
                                              None, None, None]))

put("config", "distill.toml", b"""# ddkit --config: [subcommand] sections
[distill]
method = "dm"
ipc = 10
iterations = 200
lr-img = 1.0
dsa = true
seed = 3
out = "runs/dm10"
""")
put("config", "lists.ini", b"""[gen-train]
res-blocks = [1, 2, 2]
quiet = true

[eval]
models = "convnet" "mlp"
resume = false
""")
