#!/usr/bin/env python3
"""Python reference for bench_causal_lm: forward+backward tokens/s of the same causal LM config
(tests/reference/causal_lm_reference.py's HF-equation forward, autograd, next-token
cross-entropy), fp32 and bf16 (weights cast to bf16), on the same number of threads. Statistic:
the median step time after warm-up. Prints one JSON object on stdout.
Run with /usr/bin/python3 (Debian's torch 1.13, the same libtorch grec links)."""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from causal_lm_reference import forward  # noqa: E402


def make_weights(cfg, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    nh, nkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    hd = H // nh
    bias = cfg.get("model_type") == "qwen2" or cfg.get("attention_bias", False)
    shapes = {"model.embed_tokens.weight": (V, H), "model.norm.weight": (H,)}
    if not cfg.get("tie_word_embeddings", False):
        shapes["lm_head.weight"] = (V, H)
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        shapes.update({p + "self_attn.q_proj.weight": (nh * hd, H), p + "self_attn.k_proj.weight": (nkv * hd, H),
                       p + "self_attn.v_proj.weight": (nkv * hd, H), p + "self_attn.o_proj.weight": (H, nh * hd),
                       p + "mlp.gate_proj.weight": (I, H), p + "mlp.up_proj.weight": (I, H),
                       p + "mlp.down_proj.weight": (H, I), p + "input_layernorm.weight": (H,),
                       p + "post_attention_layernorm.weight": (H,)})
        if bias:
            shapes.update({p + "self_attn.q_proj.bias": (nh * hd,), p + "self_attn.k_proj.bias": (nkv * hd,),
                           p + "self_attn.v_proj.bias": (nkv * hd,)})
    w = {}
    for n, s in shapes.items():
        if "norm" in n:
            t = torch.ones(s)
        elif n.endswith(".bias"):
            t = torch.zeros(s)
        else:
            t = torch.randn(s, generator=g) * 0.02
        w[n] = t.to(dtype).requires_grad_(True)
    return w


def run(cfg, dtype, batch, seq, iters, warmup):
    w = make_weights(cfg, dtype)
    V = cfg["vocab_size"]
    ids = torch.randint(0, V, (batch, seq), generator=torch.Generator().manual_seed(1))
    targets = ids[:, 1:].reshape(-1)
    times = []
    for it in range(warmup + iters):
        t0 = time.perf_counter()
        logits = forward(cfg, w, ids)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].float().reshape(-1, V), targets)
        loss.backward()
        for t in w.values():
            t.grad = None
        if it >= warmup:
            times.append(time.perf_counter() - t0)
    step = statistics.median(times)
    return batch * seq / step, step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", required=True, help="HF config.json object (grec's to_json)")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dtypes", default="fp32,bf16")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = json.loads(a.config)
    out = {}
    for name in a.dtypes.split(","):
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16}[name]
        tps, step = run(cfg, dtype, a.batch, a.seq, a.iters, a.warmup)
        out[name + "_tokens_per_s"] = tps
        out[name + "_step_s"] = step
    out["threads"] = torch.get_num_threads()
    out["torch"] = torch.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
