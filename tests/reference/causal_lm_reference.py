#!/usr/bin/env python3
"""Independent reference for grec's causal LM, written from the HF LLaMA/Qwen2/Mistral modelling
equations in plain PyTorch (no transformers, no safetensors package, no grec code).

  causal_lm_reference.py logits DIR --ids '[[1,2,3],[4,5,6]]' [--mask '[[0,1,1],[1,1,1]]']
      prints {"logits": [B][T][V]} (float32) for every position.
  causal_lm_reference.py write DIR --arch llama|qwen2|mistral [--seed S] [--head-dim D]
        [--layers N] [--config '{"sliding_window": 3, ...}'] [--spare-rows R]
      writes a tiny random checkpoint (config.json + model.safetensors written by hand); --head-dim
      sets config "head_dim" (q/k/v/o widths heads * D), --config merges keys into config.json,
      --spare-rows makes the last R embedding/LM-head rows "untrained" (all near 3.0), as the rows
      HF checkpoints ship beyond their tokenizer.
"""
import argparse
import json
import math
import os
import struct
import sys

import torch

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "F64": torch.float64, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        buf = bytearray(raw[base + b:base + e])
        t = torch.frombuffer(buf, dtype=DTYPES[info["dtype"]]) if buf else torch.empty(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.contiguous()
        data = t.view(torch.uint8).numpy().tobytes() if t.dtype != torch.bfloat16 else \
            t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header).encode("utf-8")
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load_checkpoint(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    idx = os.path.join(d, "model.safetensors.index.json")
    w = {}
    if os.path.exists(idx):
        with open(idx) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
        for fn in files:
            w.update(read_safetensors(os.path.join(d, fn)))
    else:
        w = read_safetensors(os.path.join(d, "model.safetensors"))
    return cfg, {k: v.float() for k, v in w.items()}


def rms_norm(x, weight, eps):
    var = x.float().pow(2).mean(-1, keepdim=True)
    return weight * (x.float() * torch.rsqrt(var + eps)).to(x.dtype)


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def window_of_layers(cfg):
    """Per layer: the sliding window (keys at distance < window are visible) or None, as the HF
    config classes define it: LLaMA none; Mistral every layer, sliding_window defaulting to 4096;
    Qwen2 only with use_sliding_window, in the layers layer_types marks "sliding_attention" or
    else those from max_window_layers (default 28) on."""
    n = cfg["num_hidden_layers"]
    kind = cfg.get("model_type")
    if kind == "mistral":
        return [cfg.get("sliding_window", 4096)] * n
    if kind == "qwen2" and cfg.get("use_sliding_window", False) and cfg.get("sliding_window"):
        sw = cfg["sliding_window"]
        types = cfg.get("layer_types")
        if types is None:
            types = ["sliding_attention" if i >= cfg.get("max_window_layers", 28) else "full_attention"
                     for i in range(n)]
        return [sw if t == "sliding_attention" else None for t in types]
    return [None] * n


def forward(cfg, w, ids, mask=None):
    """HF Llama/Qwen2/MistralForCausalLM forward (eval mode), returns logits [B, T, V]."""
    B, T = ids.shape
    H = cfg["hidden_size"]
    nh = cfg["num_attention_heads"]
    nkv = cfg.get("num_key_value_heads", nh)
    hd = cfg.get("head_dim") or H // nh
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    qwen = cfg.get("model_type") == "qwen2"
    bias = qwen or cfg.get("attention_bias", False)
    if mask is None:
        mask = torch.ones(B, T, dtype=torch.long)
    pos = mask.long().cumsum(-1) - 1
    pos = pos.masked_fill(mask == 0, 1)
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).float() / hd))
    freqs = pos.float()[..., None] * inv_freq[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    dtype = w["model.embed_tokens.weight"].dtype
    cos, sin = cos.to(dtype), sin.to(dtype)
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    allowed = causal[None, None] & (mask[:, None, None, :] != 0)
    windows = window_of_layers(cfg)

    def additive(ok):
        return torch.zeros(B, 1, T, T, dtype=dtype).masked_fill(~ok, torch.finfo(dtype).min)

    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        if windows[i] is None:
            add_mask = additive(allowed)
        else:
            # query q sees keys k with q - window < k <= q
            distance = torch.arange(T)[:, None] - torch.arange(T)[None, :]
            add_mask = additive(allowed & (distance < windows[i])[None, None])
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)

        def proj(name, t, with_bias):
            y = t @ w[p + name + ".weight"].t()
            if with_bias:
                y = y + w[p + name + ".bias"]
            return y

        q = proj("self_attn.q_proj", h, bias).view(B, T, nh, hd).transpose(1, 2)
        k = proj("self_attn.k_proj", h, bias).view(B, T, nkv, hd).transpose(1, 2)
        v = proj("self_attn.v_proj", h, bias).view(B, T, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nh // nkv, dim=1)
        v = v.repeat_interleave(nh // nkv, dim=1)
        scores = q @ k.transpose(2, 3) / math.sqrt(hd) + add_mask
        probs = torch.softmax(scores.float(), dim=-1).to(q.dtype)
        a = (probs @ v).transpose(1, 2).reshape(B, T, nh * hd)
        x = x + proj("self_attn.o_proj", a, False)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(proj("mlp.gate_proj", h, False)) * proj("mlp.up_proj", h, False)
        x = x + proj("mlp.down_proj", g, False)
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
    return x @ head.t()


def write_random(d, arch, seed, head_dim=None, layers=2, extra=None, spare_rows=0):
    g = torch.Generator().manual_seed(seed)
    qwen = arch == "qwen2"
    names = {"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM", "mistral": "MistralForCausalLM"}
    H, I, V, nh, nkv = 32, 56, 96, 4, 2
    hd = head_dim or H // nh
    cfg = {"architectures": [names[arch]],
           "model_type": arch, "vocab_size": V, "hidden_size": H,
           "intermediate_size": I, "num_hidden_layers": layers, "num_attention_heads": nh,
           "num_key_value_heads": nkv, "max_position_embeddings": 128,
           "rms_norm_eps": 1e-6, "rope_theta": 1000000.0 if qwen else 10000.0,
           "tie_word_embeddings": qwen, "torch_dtype": "float32", "bos_token_id": 1, "eos_token_id": 2}
    if head_dim:
        cfg["head_dim"] = head_dim
    if arch == "mistral":
        cfg["sliding_window"] = None
    cfg.update(extra or {})
    V = cfg["vocab_size"]
    w = {"model.embed_tokens.weight": torch.randn(V, H, generator=g) * 0.5}
    for i in range(layers):
        p = "model.layers.%d." % i
        w[p + "self_attn.q_proj.weight"] = torch.randn(nh * hd, H, generator=g) * 0.2
        w[p + "self_attn.k_proj.weight"] = torch.randn(nkv * hd, H, generator=g) * 0.2
        w[p + "self_attn.v_proj.weight"] = torch.randn(nkv * hd, H, generator=g) * 0.2
        if qwen:
            for n, o in (("q", nh * hd), ("k", nkv * hd), ("v", nkv * hd)):
                w[p + "self_attn.%s_proj.bias" % n] = torch.randn(o, generator=g) * 0.1
        w[p + "self_attn.o_proj.weight"] = torch.randn(H, nh * hd, generator=g) * 0.2
        w[p + "mlp.gate_proj.weight"] = torch.randn(I, H, generator=g) * 0.2
        w[p + "mlp.up_proj.weight"] = torch.randn(I, H, generator=g) * 0.2
        w[p + "mlp.down_proj.weight"] = torch.randn(H, I, generator=g) * 0.2
        w[p + "input_layernorm.weight"] = 1 + 0.1 * torch.randn(H, generator=g)
        w[p + "post_attention_layernorm.weight"] = 1 + 0.1 * torch.randn(H, generator=g)
    w["model.norm.weight"] = 1 + 0.1 * torch.randn(H, generator=g)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = torch.randn(V, H, generator=g) * 0.2
    if spare_rows:
        for name in ("model.embed_tokens.weight", "lm_head.weight"):
            if name in w:
                w[name][V - spare_rows:] = 3.0 + 0.01 * torch.randn(spare_rows, H, generator=g)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(d, "model.safetensors"), w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("command", choices=["logits", "write"])
    ap.add_argument("dir")
    ap.add_argument("--ids")
    ap.add_argument("--mask")
    ap.add_argument("--arch", default="llama")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--head-dim", type=int, default=0)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--config", default="{}")
    ap.add_argument("--spare-rows", type=int, default=0)
    a = ap.parse_args()
    if a.command == "write":
        write_random(a.dir, a.arch, a.seed, a.head_dim, a.layers, json.loads(a.config), a.spare_rows)
        return
    torch.set_num_threads(1)
    cfg, w = load_checkpoint(a.dir)
    ids = torch.tensor(json.loads(a.ids), dtype=torch.long)
    mask = torch.tensor(json.loads(a.mask), dtype=torch.long) if a.mask else None
    with torch.no_grad():
        logits = forward(cfg, w, ids, mask)
    json.dump({"logits": logits.tolist()}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
