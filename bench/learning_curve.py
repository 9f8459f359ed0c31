#!/usr/bin/env python3
"""Learning curve of a stage from a run's metrics.jsonl: one JSON object per validation with the
step, epoch, samples seen, wall time since the fit started, and the validation metrics.

    bench/learning_curve.py runs/beauty [--stage align] [--metric HR@10] [--markdown]
"""
import argparse
import json
import os
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--stage", default="align")
    ap.add_argument("--metric", default="HR@10")
    ap.add_argument("--markdown", action="store_true", help="a table instead of JSON lines")
    a = ap.parse_args()
    rows = []
    with open(os.path.join(a.run_dir, "metrics.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            if r.get("stage") != a.stage or r.get("event") != "eval":
                continue
            v = r.get("valid", {})
            rows.append({"step": r["step"], "epoch": r.get("epoch"),
                         "samples_seen": r.get("samples_seen"), "elapsed_s": r.get("elapsed_s"),
                         a.metric: v.get(a.metric), "NDCG@10": v.get("NDCG@10"),
                         "users": v.get("users")})
    if not rows:
        sys.exit(f"no '{a.stage}' validations in {a.run_dir}/metrics.jsonl")
    if a.markdown:
        print(f"| step | epoch | samples seen | wall (s) | valid {a.metric} | valid NDCG@10 |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            el = r["elapsed_s"]
            print(f"| {r['step']} | {r['epoch']} | {r['samples_seen']} | "
                  f"{'-' if el is None else f'{el:.0f}'} | {r[a.metric]:.4f} | "
                  f"{r['NDCG@10'] or 0:.4f} |")
    else:
        for r in rows:
            print(json.dumps(r))


if __name__ == "__main__":
    main()
