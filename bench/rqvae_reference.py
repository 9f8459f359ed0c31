#!/usr/bin/env python3
"""Plain PyTorch RQ-VAE, the reference for bench_rqvae's epoch-time ratio.

The same model as grec's model/rqvae.cc (MLP encoder with ReLU, L residual levels of K codes,
mirrored decoder, straight-through estimator, loss = sum-over-dims reconstruction + mean over
levels of codebook + beta * commitment, summed over the batch and divided by the batch size),
written the usual way (nearest code by torch.cdist, F.mse_loss style sums). Same data (raw
float32 file written by bench_rqvae), same batches (contiguous blocks of a fixed permutation),
AdamW + grad clip 1.0, same threads, fp32 or bf16 autocast for the MLPs. Also times a k-means++ initialisation of every level on the
first batch. Prints one JSON line.
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn


def mlp(dims):
    layers = []
    for i in range(len(dims) - 1):
        layers.append(nn.Linear(dims[i], dims[i + 1]))
        if i + 2 < len(dims):
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class RQVAE(nn.Module):
    def __init__(self, d_in, hidden, latent, levels, k, beta):
        super().__init__()
        dims = [d_in] + hidden + [latent]
        self.encoder = mlp(dims)
        self.decoder = mlp(dims[::-1])
        self.codebooks = nn.Parameter(torch.empty(levels, k, latent).uniform_(-1 / k, 1 / k))
        self.levels, self.beta = levels, beta

    def forward(self, x, bf16=False):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            z = self.encoder(x).float()
        return self.quantise_decode(x, z, bf16)

    def quantise_decode(self, x, z, bf16):
        # Quantisation in fp32 (autocast off), as grec does; the MLPs follow `bf16`.
        r, q, quant = z, torch.zeros_like(z), 0.0
        codes = []
        for l in range(self.levels):
            book = self.codebooks[l]
            idx = torch.cdist(r.detach(), book.detach()).argmin(1)
            c = book[idx]
            quant = quant + ((r.detach() - c) ** 2).sum() + self.beta * ((r - c.detach()) ** 2).sum()
            codes.append(idx)
            q = q + c
            r = r - c
        zq = z + (q - z).detach()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = self.decoder(zq).float()
        recon = ((out - x) ** 2).sum()
        return recon + quant / self.levels, torch.stack(codes, 1)


def kmeans(x, k, iters, gen):
    n = x.shape[0]
    centres = [x[torch.randint(n, (1,), generator=gen)].squeeze(0)]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        i = torch.multinomial(d2 / d2.sum(), 1, generator=gen) if d2.sum() > 0 else torch.randint(n, (1,), generator=gen)
        centres.append(x[i].squeeze(0))
        d2 = torch.minimum(d2, ((x - centres[-1]) ** 2).sum(1))
    c = torch.stack(centres)
    assign = torch.cdist(x, c).argmin(1)
    for _ in range(iters):
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).float()
        c = torch.where(counts[:, None] > 0, sums / counts.clamp(min=1)[:, None], c)
        nxt = torch.cdist(x, c).argmin(1)
        if torch.equal(nxt, assign):
            break
        assign = nxt
    return c, assign


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--items", type=int, required=True)
    p.add_argument("--dim", type=int, required=True)
    p.add_argument("--hidden", default="512,256,128")
    p.add_argument("--latent", type=int, default=32)
    p.add_argument("--levels", type=int, default=3)
    p.add_argument("--codes", type=int, default=256)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--kmeans_iters", type=int, default=20)
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: encoder/decoder under CPU autocast, quantisation in fp32")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x = torch.from_numpy(np.fromfile(a.data, dtype=np.float32).reshape(a.items, a.dim))
    model = RQVAE(a.dim, [int(h) for h in a.hidden.split(",") if h], a.latent, a.levels, a.codes, 0.25)
    perm = torch.from_numpy(np.random.RandomState(0).permutation(a.items))

    gen = torch.Generator().manual_seed(0)
    t0 = time.perf_counter()
    with torch.no_grad():
        r = model.encoder(x[perm[: a.batch]])
        for l in range(a.levels):
            c, assign = kmeans(r, a.codes, a.kmeans_iters, gen)
            model.codebooks.data[l] = c
            r = r - c[assign]
    kmeans_s = time.perf_counter() - t0

    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    times = []
    for epoch in range(a.epochs + 1):  # epoch 0 is warm-up
        t0 = time.perf_counter()
        for s in range(0, a.items, a.batch):
            idx = perm[s : s + a.batch]
            loss, _ = model(x[idx], a.precision == "bf16")
            opt.zero_grad(set_to_none=True)
            (loss / idx.numel()).backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        if epoch > 0:
            times.append(time.perf_counter() - t0)
    print(json.dumps({"impl": "pytorch", "epoch_s": min(times), "epoch_s_mean": sum(times) / len(times),
                      "kmeans_init_s": kmeans_s, "precision": a.precision,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
