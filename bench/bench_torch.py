#!/usr/bin/env python3
"""The PyTorch baseline of bench_train: the same GPT-2 (pre-LN, GELU-tanh,
tied embeddings), fp32 on the CPU, AdamW with clipping, same thread count.

    bench_torch.py [--layers L --heads H --embd C --ctx N --vocab V] [-B b] [-T t]
                   [--steps k] [--warmup w] [--threads n]

Prints a RESULT line like bench_train's."""
import argparse
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def attention(q, k, v):
    """Causal attention: PyTorch's fused kernel where it has one (2.0+)."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    T = q.shape[-2]
    att = (q @ k.transpose(-2, -1)) / math.sqrt(q.shape[-1])
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    return F.softmax(att.masked_fill(~mask, float("-inf")), dim=-1) @ v


class Block(nn.Module):
    def __init__(self, C, H):
        super().__init__()
        self.H = H
        self.ln_1, self.ln_2 = nn.LayerNorm(C), nn.LayerNorm(C)
        self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
        self.c_fc, self.mlp_proj = nn.Linear(C, 4 * C), nn.Linear(4 * C, C)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.H, C // self.H).transpose(1, 2) for t in (q, k, v))
        y = attention(q, k, v).transpose(1, 2).reshape(B, T, C)
        x = x + self.c_proj(y)
        return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))


class GPT(nn.Module):
    def __init__(self, L, H, C, N, V):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(V, C), nn.Embedding(N, C)
        self.h = nn.ModuleList(Block(C, H) for _ in range(L))
        self.ln_f = nn.LayerNorm(C)

    def forward(self, idx, targets):
        T = idx.shape[1]
        x = self.wte(idx) + self.wpe(torch.arange(T, device=idx.device))
        for b in self.h:
            x = b(x)
        logits = self.ln_f(x) @ self.wte.weight.t()
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.view(-1))


def main():
    p = argparse.ArgumentParser()
    for k, d in (("--layers", 12), ("--heads", 12), ("--embd", 768), ("--ctx", 1024),
                 ("--vocab", 50257), ("-B", 8), ("-T", 128), ("--steps", 5), ("--warmup", 1),
                 ("--threads", 2)):
        p.add_argument(k, type=int, default=d)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = GPT(a.layers, a.heads, a.embd, a.ctx, a.vocab)
    n = sum(t.numel() for t in m.parameters())
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1)
    x = torch.randint(0, a.vocab, (a.B, a.T))
    y = torch.randint(0, a.vocab, (a.B, a.T))
    for s in range(a.warmup + a.steps):
        if s == a.warmup:
            t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = m(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
    train_s = (time.perf_counter() - t0) / a.steps
    with torch.no_grad():
        for s in range(a.warmup + a.steps):
            if s == a.warmup:
                t0 = time.perf_counter()
            m(x, y)
    eval_s = (time.perf_counter() - t0) / a.steps
    flops = 6 * n + 6 * a.layers * a.embd * a.T
    tps, eps = a.B * a.T / train_s, a.B * a.T / eval_s
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
    print(f"torch {torch.__version__}: params={n/1e6:.1f}M train {tps:.1f} tokens/s "
          f"{tps*flops/1e9:.1f} GFLOP/s, eval {eps:.1f} tokens/s, peak RSS {rss:.0f} MB")
    print(f"RESULT train_tps={tps:.2f} eval_tps={eps:.2f} peak_rss_mb={rss:.1f}")


if __name__ == "__main__":
    main()
