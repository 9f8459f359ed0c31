#!/usr/bin/env python3
"""Independent reference for grec's GRU4Rec forward (model/gru4rec.h), written from the GRU
equations in plain PyTorch (no torch.nn.GRU, no grec code). Each sequence runs over its real
items only, so grec's handling of the left padding is checked too.

  gru4rec_reference.py forward MODEL.safetensors --seq '[[0,0,3,4],[1,2,3,4]]'
      prints {"hidden": [B][L_b][d] (the output at each real position, oldest first),
              "scores": [B][num_items] (last hidden state against item rows 1..N)}

Weights as torch.nn.GRU names them: gru.weight_ih_l{k} [3d, d] (gates r, z, n), gru.weight_hh_l{k},
gru.bias_ih_l{k}, gru.bias_hh_l{k}; item_emb.weight [N + 1, d], row 0 = padding.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from causal_lm_reference import read_safetensors  # noqa: E402


def gru_layer(xs, w_ih, w_hh, b_ih, b_hh):
    d = w_hh.shape[1]
    h = torch.zeros(d, dtype=torch.float64)
    out = []
    for x in xs:
        gi = w_ih @ x + b_ih
        gh = w_hh @ h + b_hh
        r = torch.sigmoid(gi[:d] + gh[:d])
        z = torch.sigmoid(gi[d:2 * d] + gh[d:2 * d])
        n = torch.tanh(gi[2 * d:] + r * gh[2 * d:])
        h = (1 - z) * n + z * h
        out.append(h)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["forward"])
    ap.add_argument("model")
    ap.add_argument("--seq", required=True)
    a = ap.parse_args()
    w = {k: v.to(torch.float64) for k, v in read_safetensors(a.model).items()}
    emb = w["item_emb.weight"]
    layers = sum(1 for k in w if k.startswith("gru.weight_ih_l"))
    hidden, scores = [], []
    for row in json.loads(a.seq):
        xs = [emb[i] for i in row if i > 0]
        for k in range(layers):
            xs = gru_layer(xs, w[f"gru.weight_ih_l{k}"], w[f"gru.weight_hh_l{k}"],
                           w[f"gru.bias_ih_l{k}"], w[f"gru.bias_hh_l{k}"])
        hidden.append([h.tolist() for h in xs])
        scores.append((emb[1:] @ xs[-1]).tolist())
    json.dump({"hidden": hidden, "scores": scores}, sys.stdout)


if __name__ == "__main__":
    main()
