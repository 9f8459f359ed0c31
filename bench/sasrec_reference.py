#!/usr/bin/env python3
"""Plain PyTorch SASRec, the reference for bench_sasrec's training-throughput ratio.

The same model as grec's model/sasrec.cc (item embeddings scaled by sqrt(d) plus learned positions,
blocks with LayerNorm on the queries, single GEMM for keys/values, residual from the normalised
queries, point-wise FFN, final LayerNorm, tied output), written the straightforward way: batches
padded to max_len, every layer run on every position, attention with a causal + key-padding
mask, and full softmax cross-entropy on the non-padding positions (h[mask] @ E^T). Same data
(s3rec-style file, leave-one-out), same batches (training users in file order), same Adam, same
threads. Prints one JSON line: {"samples_per_s": ..., "steps": ..., "seconds": ...}.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def read_seqtxt(path):
    item_index, seqs = {}, []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            seqs.append([item_index.setdefault(t, len(item_index)) for t in parts[1:]])
    return seqs, len(item_index)


class Block(nn.Module):
    def __init__(self, d, heads, dropout, eps):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.attn_norm = nn.LayerNorm(d, eps=eps)
        self.q_proj = nn.Linear(d, d)
        self.kv_proj = nn.Linear(d, 2 * d)
        self.out_proj = nn.Linear(d, d)
        self.ffn_norm = nn.LayerNorm(d, eps=eps)
        self.ffn_in = nn.Linear(d, d)
        self.ffn_out = nn.Linear(d, d)

    def forward(self, x, mask):  # x [B, N, d], mask [B, 1, N, N] additive
        b, n, d = x.shape
        dh = d // self.heads
        q_in = self.attn_norm(x)
        q = self.q_proj(q_in).view(b, n, self.heads, dh).transpose(1, 2)
        k, v = self.kv_proj(x).view(b, n, 2, self.heads, dh).permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(dh) + mask, dim=-1)
        attn = F.dropout(attn, self.dropout, self.training)
        ctx = (attn @ v).transpose(1, 2).reshape(b, n, d)
        h = q_in + F.dropout(self.out_proj(ctx), self.dropout, self.training)
        f_in = self.ffn_norm(h)
        f = F.dropout(torch.relu(self.ffn_in(f_in)), self.dropout, self.training)
        return f_in + F.dropout(self.ffn_out(f), self.dropout, self.training)


class SASRec(nn.Module):
    def __init__(self, num_items, max_len, d, blocks, heads, dropout, eps=1e-8):
        super().__init__()
        self.d, self.dropout = d, dropout
        self.item_emb = nn.Embedding(num_items + 1, d, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, d)
        self.blocks = nn.ModuleList([Block(d, heads, dropout, eps) for _ in range(blocks)])
        self.final_norm = nn.LayerNorm(d, eps=eps)
        for name, p in self.named_parameters():
            if "norm" in name:
                continue
            if p.dim() < 2:
                nn.init.zeros_(p)
            else:
                nn.init.xavier_normal_(p)
        with torch.no_grad():
            self.item_emb.weight[0].zero_()

    def forward(self, seq):  # seq [B, N], 0 = padding, left-padded
        b, n = seq.shape
        real = seq != 0
        pos = torch.arange(n).unsqueeze(0).expand(b, n)
        x = self.item_emb(seq) * math.sqrt(self.d) + self.pos_emb(pos)
        x = F.dropout(x, self.dropout, self.training) * real.unsqueeze(-1)
        causal = torch.ones(n, n, dtype=torch.bool).tril()
        allowed = (causal.unsqueeze(0) & real.unsqueeze(1)) | torch.eye(n, dtype=torch.bool)
        mask = torch.zeros(b, n, n).masked_fill(~allowed, float("-inf")).unsqueeze(1)
        for blk in self.blocks:
            x = blk(x, mask) * real.unsqueeze(-1)
        return self.final_norm(x)


def train_batch(seqs, users, max_len):
    inp = torch.zeros(len(users), max_len, dtype=torch.long)
    tgt = torch.zeros(len(users), max_len, dtype=torch.long)
    for i, u in enumerate(users):
        s = seqs[u][: len(seqs[u]) - 2]  # training prefix (leave-one-out)
        n = min(max_len, len(s) - 1)
        window = s[len(s) - 1 - n:]
        inp[i, max_len - n:] = torch.tensor(window[:-1]) + 1
        tgt[i, max_len - n:] = torch.tensor(window[1:]) + 1
    return inp, tgt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    seqs, num_items = read_seqtxt(a.data)
    users = [u for u, s in enumerate(seqs) if len(s) - 2 >= 2]
    model = SASRec(num_items, a.max_len, a.hidden, a.blocks, a.heads, a.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    nb = len(users) // a.batch
    total, samples = 0.0, 0
    for s in range(a.warmup + a.steps):
        k = s % nb
        inp, tgt = train_batch(seqs, users[k * a.batch:(k + 1) * a.batch], a.max_len)
        t0 = time.perf_counter()
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            h = model(inp)
            real = inp != 0
            logits = h[real] @ model.item_emb.weight[1:].t()
            loss = F.cross_entropy(logits.float(), tgt[real] - 1, reduction="sum")
        (loss / a.batch).backward()
        opt.step()
        if s >= a.warmup:
            total += time.perf_counter() - t0
            samples += a.batch
    print(json.dumps({"samples_per_s": samples / total, "steps": a.steps, "seconds": total,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
