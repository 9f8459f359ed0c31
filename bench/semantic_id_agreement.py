#!/usr/bin/env python3
"""Collaborative agreement of a run's semantic IDs: how often an item and the next item of the
same user's training sequence share their first code (and their first two codes), against the
rate two items drawn independently from the same positions would share them (chance). IDs that
follow what users watch together score well above chance; text-only IDs score what the text
carries. Prints one JSON object.

    bench/semantic_id_agreement.py runs/ml100k
"""
import argparse
import json
import os
from collections import Counter

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    a = ap.parse_args()
    art = os.path.join(a.run_dir, "artifacts")
    with h5py.File(os.path.join(art, "ingest", "dataset.h5"), "r") as d:
        offsets = d["sequences/offsets"][:]
        items = d["sequences/items"][:]
        train_end = d["split/train_end"][:]
    with h5py.File(os.path.join(art, "rqvae", "semantic_ids.h5"), "r") as f:
        codes = f["codes"][:]
    out = {"run": a.run_dir, "items": int(codes.shape[0]), "levels": int(codes.shape[1])}
    prev, nxt = [], []
    for u in range(len(offsets) - 1):
        seq = items[offsets[u]:offsets[u] + train_end[u]]
        prev.extend(seq[:-1])
        nxt.extend(seq[1:])
    prev, nxt = np.array(prev), np.array(nxt)
    out["transitions"] = int(len(prev))
    for depth in (1, 2):
        key = lambda c: tuple(c[:depth])
        same = np.mean([key(codes[p]) == key(codes[q]) for p, q in zip(prev, nxt)])
        share_p = Counter(key(codes[p]) for p in prev)
        share_q = Counter(key(codes[q]) for q in nxt)
        chance = sum(share_p[k] * share_q.get(k, 0) for k in share_p) / (len(prev) * len(nxt))
        out[f"prefix{depth}"] = {"agreement": round(float(same), 4), "chance": round(chance, 4),
                                 "lift": round(float(same) / chance, 2) if chance > 0 else None}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
