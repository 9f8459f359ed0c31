#!/usr/bin/env python3
"""Plain PyTorch SASRec, the reference of bench_sasrec (training speed and quality).

The same model as grec's model/sasrec.cc (item embeddings scaled by sqrt(d) plus learned positions,
blocks with LayerNorm on the queries, keys/values from the un-normalised stream, residual from the
normalised queries, point-wise FFN, final LayerNorm, tied output, xavier-normal init), written the
usual way: padded [B, W, d] batches through every layer, attention with a causal + key-padding
mask, full softmax cross-entropy summed over the non-padding positions (h[mask] @ E^T) and divided
by the batch size. W is the batch's longest window (`--pad longest`, dynamic padding, the width
grec's batches have too) or max_len (`--pad max_len`, as SASRec.pytorch does).

bench_sasrec writes what this script reads, so both sides see the same data and the same batches
in the same order: --data has one user per line (the training prefix, dense item ids), --plan one
optimizer step per line (the users of that global batch, as grec's sampler draws them), and
--valid / --test one held-out case per line ("target history..."). Optimizer semantics follow the
Trainer: Adam or AdamW with the given betas/eps/weight decay, optional global-norm clipping,
constant learning rate; bf16 means autocast with fp32 weights.

Modes: "speed" times each plan step (batch building, forward, backward, optimizer step) after
--warmup steps; "quality" trains epoch by epoch (--steps-per-epoch plan lines each), ranks the
validation cases against all items after every epoch, keeps the weights with the best NDCG@10,
stops after --patience epochs without a better one, and ranks the test cases with those weights.
Prints one JSON line.
"""
import argparse
import copy
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, ffn, heads, dropout, eps):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.attn_norm = nn.LayerNorm(d, eps=eps)
        self.q_proj = nn.Linear(d, d)
        self.kv_proj = nn.Linear(d, 2 * d)
        self.out_proj = nn.Linear(d, d)
        self.ffn_norm = nn.LayerNorm(d, eps=eps)
        self.ffn_in = nn.Linear(d, ffn)
        self.ffn_out = nn.Linear(ffn, d)

    def forward(self, x, mask):  # x [B, W, d], mask [B, 1, W, W] additive
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
    def __init__(self, num_items, max_len, d, ffn, blocks, heads, dropout, eps=1e-8):
        super().__init__()
        self.d, self.max_len, self.dropout = d, max_len, dropout
        self.item_emb = nn.Embedding(num_items + 1, d, padding_idx=0)
        self.pos_emb = nn.Embedding(max_len, d)
        self.blocks = nn.ModuleList([Block(d, ffn, heads, dropout, eps) for _ in range(blocks)])
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

    def forward(self, seq):  # seq [B, W], 0 = padding, left-padded; last column = position max_len-1
        b, n = seq.shape
        real = seq != 0
        pos = (torch.arange(n) + (self.max_len - n)).unsqueeze(0).expand(b, n)
        x = self.item_emb(seq) * math.sqrt(self.d) + self.pos_emb(pos)
        x = F.dropout(x, self.dropout, self.training) * real.unsqueeze(-1)
        causal = torch.ones(n, n, dtype=torch.bool).tril()
        allowed = (causal.unsqueeze(0) & real.unsqueeze(1)) | torch.eye(n, dtype=torch.bool)
        mask = torch.zeros(b, n, n).masked_fill(~allowed, float("-inf")).unsqueeze(1)
        for blk in self.blocks:
            x = blk(x, mask) * real.unsqueeze(-1)
        return self.final_norm(x)


def read_lines(path):
    with open(path) as f:
        return [[int(t) for t in line.split()] for line in f]


def left_padded(rows, width):
    out = [[0] * (width - len(r)) + r for r in rows]
    return torch.tensor(out, dtype=torch.long)


def train_batch(prefixes, users, max_len, pad):
    """Inputs: the last max_len items of the training prefix but the final one; targets: the next."""
    inputs, targets = [], []
    for u in users:
        s = prefixes[u]
        n = min(max_len, len(s) - 1)
        inputs.append([i + 1 for i in s[len(s) - 1 - n:len(s) - 1]])
        targets.append([i + 1 for i in s[len(s) - n:]])
    width = max_len if pad == "max_len" else max(len(r) for r in inputs)
    return left_padded(inputs, width), left_padded(targets, width)


def make_optimizer(model, a):
    # The Trainer's parameter groups: with decay_exclude, no weight decay on biases, norms and
    # embeddings (only matters when weight_decay > 0; the SASRec default is 0).
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        skip = p.dim() < 2 or "norm" in name or "emb" in name
        (no_decay if skip and a.decay_exclude else decay).append(p)
    groups = [g for g in ({"params": decay, "weight_decay": a.weight_decay},
                          {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[a.optimizer]
    return cls(groups, lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)


def train_step(model, opt, prefixes, users, a):
    inp, tgt = train_batch(prefixes, users, a.max_len, a.pad)
    opt.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.precision == "bf16"):
        h = model(inp)
        real = inp != 0
        logits = h[real] @ model.item_emb.weight[1:].t()
        loss = F.cross_entropy(logits.float(), tgt[real] - 1, reduction="sum")
    (loss / len(users)).backward()
    if a.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), a.grad_clip)
    opt.step()
    return loss.item()


@torch.no_grad()
def rank_cases(model, cases, a):
    """1 + the number of other items scoring at least as high as the target (ties count against it)."""
    model.eval()
    ranks = []
    for i in range(0, len(cases), a.eval_batch):
        chunk = cases[i:i + a.eval_batch]
        hist = [[t + 1 for t in c[1:][-a.max_len:]] for c in chunk]
        seq = left_padded(hist, max(len(h) for h in hist))
        scores = model(seq)[:, -1] @ model.item_emb.weight[1:].t()
        target = torch.tensor([c[0] for c in chunk]).unsqueeze(1)
        ranks += ((scores >= scores.gather(1, target)).sum(1)).tolist()  # the target ties with itself
    model.train()
    return ranks


def metrics(ranks, ks):
    n = max(len(ranks), 1)
    out = {}
    for k in ks:
        out[f"HR@{k}"] = sum(r <= k for r in ranks) / n
        out[f"NDCG@{k}"] = sum(1 / math.log2(r + 1) for r in ranks if r <= k) / n
    out["MRR"] = sum(1 / r for r in ranks) / n
    out["users"] = len(ranks)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["speed", "quality"], default="speed")
    ap.add_argument("--data", required=True)
    ap.add_argument("--plan", required=True)
    ap.add_argument("--num-items", type=int, required=True)
    ap.add_argument("--max-len", type=int, default=50)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--ffn", type=int, default=0)
    ap.add_argument("--blocks", type=int, default=2)
    ap.add_argument("--heads", type=int, default=1)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--pad", choices=["longest", "max_len"], default="longest")
    ap.add_argument("--optimizer", choices=["adam", "adamw"], default="adam")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.98)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--decay-exclude", type=int, default=1)
    ap.add_argument("--grad-clip", type=float, default=0.0)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--valid")
    ap.add_argument("--test")
    ap.add_argument("--steps-per-epoch", type=int, default=0)
    ap.add_argument("--patience", type=int, default=10)
    ap.add_argument("--ks", default="1,5,10,20")
    ap.add_argument("--eval-batch", type=int, default=256)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    prefixes, plan = read_lines(a.data), read_lines(a.plan)
    model = SASRec(a.num_items, a.max_len, a.hidden, a.ffn or a.hidden, a.blocks, a.heads,
                   a.dropout)
    opt = make_optimizer(model, a)
    info = {"torch": torch.__version__, "threads": torch.get_num_threads(), "pad": a.pad,
            "optimizer": a.optimizer, "precision": a.precision}

    if a.mode == "speed":
        total, samples = 0.0, 0
        for s, users in enumerate(plan):
            t0 = time.perf_counter()
            train_step(model, opt, prefixes, users, a)
            if s >= a.warmup:
                total += time.perf_counter() - t0
                samples += len(users)
        print(json.dumps({"samples_per_s": samples / total, "steps": len(plan) - a.warmup,
                          "seconds": total, **info}))
        return

    ks = [int(k) for k in a.ks.split(",")]
    valid, test = read_lines(a.valid), read_lines(a.test)
    spe = a.steps_per_epoch
    select = "NDCG@10" if 10 in ks else f"NDCG@{ks[-1]}"  # the stage's selection metric
    best, best_epoch, best_state, since_best, epoch = -1.0, 0, None, 0, 0
    t_start, train_s, trained = time.perf_counter(), 0.0, 0
    for epoch in range(1, len(plan) // spe + 1):
        t0 = time.perf_counter()
        for users in plan[(epoch - 1) * spe:epoch * spe]:
            train_step(model, opt, prefixes, users, a)
            trained += len(users)
        train_s += time.perf_counter() - t0
        score = metrics(rank_cases(model, valid, a), ks)[select]
        if best_state is None or score > best:
            best, best_epoch, best_state, since_best = score, epoch, copy.deepcopy(model.state_dict()), 0
        else:
            since_best += 1
            if a.patience > 0 and since_best >= a.patience:
                break
    model.load_state_dict(best_state)
    print(json.dumps({"valid": metrics(rank_cases(model, valid, a), ks),
                      "test": metrics(rank_cases(model, test, a), ks),
                      "best_epoch": best_epoch, "epochs": epoch,
                      "train_samples_per_s": trained / train_s,
                      "wall_s": time.perf_counter() - t_start, **info}))


if __name__ == "__main__":
    main()
