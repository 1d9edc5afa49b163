#!/usr/bin/env python3
"""Tables of examples/sdc_sweep.sh and examples/matching_fashion_mnist.sh runs.

  matching_table.py OUT                              -> the README's markdown tables
  matching_table.py --best-lambda OUT METHOD IPC IT  -> the best swept λ > 0
Run directories: OUT/<method>-ipc<ipc>-it<iterations>-sdc<λ>/{set,eval,pipeline,pool-random,pool-random-eval}.
"""
import json
import pathlib
import re
import sys

PUBLISHED = {("dc", 1): "70.5", ("dc", 10): "82.3", ("dsa", 1): "70.6", ("dsa", 10): "84.6"}  # docs/algorithms.md §3
NAME = re.compile(r"^(dc|dsa|dm)-ipc(\d+)-it(\d+)-sdc(.+)$")


def load(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def runs(out):
    found = {}
    for d in sorted(pathlib.Path(out).iterdir()):
        m = NAME.match(d.name) if d.is_dir() else None  # not the runs' log files
        if m:
            found[(m[1], int(m[2]), int(m[3]), m[4])] = d
    return found


def plain_row(d):
    meta, ev = load(d / "set" / "meta.json"), load(d / "eval" / "results.json")
    if not meta or not ev:
        return None
    m = ev["models"]["convnet"]
    return m["mean"], m["std"], meta["wall_seconds"], m["wall_seconds"]


def dgs_row(d):
    res = load(d / "pipeline" / "results.json")
    if not res:
        return None
    m = res["sets"]["dgs"]["models"]["convnet"]
    stages = res["stages"]
    distill = stages.get("distill-pool", {}).get("seconds", 0)
    rest = sum(s.get("seconds", 0) for k, s in stages.items() if k != "distill-pool")
    return m["mean"], m["std"], distill, rest


def random_pick_row(d):
    """The control: a random pick of IPC from the λ = 0 pool, evaluated by the method's protocol."""
    ev = load(d / "pool-random-eval" / "results.json")
    if not ev:
        return None
    m = ev["models"]["convnet"]
    return m["mean"], m["std"]


def best_lambda(out, method, ipc, iterations):
    best = None
    for (m, i, it, lam), d in runs(out).items():
        if (m, i, it) == (method, ipc, iterations) and float(lam) > 0:
            row = plain_row(d)
            if row and (best is None or row[0] > best[0]):
                best = (row[0], lam)
    return best[1] if best else "0"


def cell(row):
    return f"{row[0]:.2f} ± {row[1]:.2f}" if row else "—"


def wall(row):
    return f"{row[2] / 60:.1f} + {row[3] / 60:.1f}" if row else "—"


def main(out):
    found = runs(out)
    print("SDC sweep (plain distillation, ConvNet accuracy %, mean ± std):\n")
    print("| method | IPC | iterations | λ | accuracy | distill + eval (min) |")
    print("|---|---|---|---|---|---|")
    for (m, i, it, lam), d in sorted(found.items(), key=lambda kv: (kv[0][1], kv[0][0], kv[0][2], float(kv[0][3]))):
        row = plain_row(d)
        if row:
            print(f"| {m.upper()} | {i} | {it} | {lam} | {cell(row)} | {wall(row)} |")
    print("\nResults (ConvNet accuracy %, mean ± std; wall minutes distill + rest):\n")
    print("| method | IPC | iterations | plain | + SDC (λ) | pool + DGS | + SDC + DGS | pool + random pick "
          "| published (full budget) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for key in sorted({(m, i, it) for (m, i, it, _) in found}, key=lambda k: (k[1], k[0], k[2])):
        m, i, it = key
        lam = best_lambda(out, m, i, it)
        base, sdc = found.get((m, i, it, "0")), found.get((m, i, it, lam))
        p, s = plain_row(base) if base else None, plain_row(sdc) if sdc and lam != "0" else None
        pd, sd = dgs_row(base) if base else None, dgs_row(sdc) if sdc and lam != "0" else None
        rp = random_pick_row(base) if base else None
        print(f"| {m.upper()} | {i} | {it} | {cell(p)} ({wall(p)}) | {cell(s)} (λ {lam}; {wall(s)}) "
              f"| {cell(pd)} ({wall(pd)}) | {cell(sd)} ({wall(sd)}) | {cell(rp)} | {PUBLISHED.get((m, i), '—')} |")


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--best-lambda":
        print(best_lambda(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit(__doc__)
