#!/usr/bin/env python3
"""Stage augment's PPR neighbours against a dense solve (numpy, independent of grec's code): the
item-to-item PPR of the bipartite training graph is (1 - a) (I - a^2 P_ii^T)^-1 e_s, P_ii the
two-step item -> user -> item walk. Prints JSON lines:
  - for each ranking score (raw PPR, PPR / degree^b): genre Jaccard of seed and neighbour, mean
    neighbour degree and distinct neighbours over sampled seeds (datasets with a genres field);
  - for each given item_text.h5: the rank-wise relative score shortfall of its lists against the
    exact top T under its own alpha and degree power.

    bench/ppr_neighbours.py runs/ml100k_aug/artifacts/ingest/dataset.h5 [item_text.h5 ...]
"""
import argparse
import json

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("augment_files", nargs="*")
    ap.add_argument("--alpha", type=float, default=0.85)
    ap.add_argument("--seeds", type=int, default=300)
    ap.add_argument("--top", type=int, default=3)
    a = ap.parse_args()
    with h5py.File(a.dataset, "r") as d:
        off = d["sequences/offsets"][:]
        seq = d["sequences/items"][:]
        te = d["split/train_end"][:]
        n_items = len(d["items/raw_id"])
        genres = ([set(g.decode().split(", ")) if g else set() for g in d["items/genres"][:]]
                  if "genres" in d["items"] else None)
    n_users = len(off) - 1
    w = np.zeros((n_users, n_items))
    for u in range(n_users):
        for p in range(te[u]):
            w[u, seq[off[u] + p]] += 1
    du, di = w.sum(1), w.sum(0)
    p_ui = w / np.maximum(du, 1e-300)[:, None]
    p_iu = (w / np.maximum(di, 1e-300)[None, :]).T
    p_ii = p_iu @ p_ui

    def exact(alpha):
        return (1 - alpha) * np.linalg.inv(np.eye(n_items) - alpha * alpha * p_ii.T)

    def top(scores, s, t):
        sc = scores[:, s].copy()
        sc[s] = -1
        return np.argsort(-sc, kind="stable")[:t], sc

    r = exact(a.alpha)
    if genres is not None:
        rng = np.random.default_rng(0)
        seeds = rng.choice(np.where(di > 0)[0], min(a.seeds, int((di > 0).sum())), replace=False)
        for power in (0.0, 0.5, 0.75, 1.0):
            scores = r / np.maximum(di, 1)[:, None] ** power
            jac, deg, distinct = [], [], set()
            for s in seeds:
                for t in top(scores, s, a.top)[0]:
                    distinct.add(int(t))
                    jac.append(len(genres[s] & genres[t]) / max(1, len(genres[s] | genres[t])))
                    deg.append(di[t])
            print(json.dumps({"score": f"ppr/degree^{power}", "alpha": a.alpha,
                              "seeds": len(seeds), "genre_jaccard": round(float(np.mean(jac)), 3),
                              "neighbour_degree": round(float(np.mean(deg)), 1),
                              "distinct": len(distinct)}))
        jac = []
        for s in seeds:
            others = rng.choice(np.where((di > 0) & (np.arange(n_items) != s))[0], a.top)
            jac += [len(genres[s] & genres[t]) / max(1, len(genres[s] | genres[t])) for t in others]
        print(json.dumps({"score": "random trained item", "genre_jaccard": round(float(np.mean(jac)), 3)}))
    for path in a.augment_files:
        with h5py.File(path, "r") as f:
            nb = f["ppr/neighbours"][:]
            alpha = float(f["ppr"].attrs["alpha"])
            power = float(f["ppr"].attrs["degree_power"])
            method = f["ppr"].attrs["method"]
            residual = float(f["ppr/residuals"][:].max())
        scores = (exact(alpha) if alpha != a.alpha else r) / np.maximum(di, 1)[:, None] ** power
        shortfall = []
        for s in np.where(di > 0)[0]:
            best, sc = top(scores, s, nb.shape[1])
            shortfall.append(max((sc[b] - sc[c]) / sc[b] if c >= 0 else 1.0
                                 for b, c in zip(best, nb[s])))
        shortfall = np.array(shortfall)
        print(json.dumps({"file": path, "method": str(method), "alpha": alpha,
                          "degree_power": power, "max_residual": residual,
                          "within_1e-6": round(float((shortfall <= 1e-6).mean()), 4),
                          "max_shortfall": float(shortfall.max())}))


if __name__ == "__main__":
    main()
