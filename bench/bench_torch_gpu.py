#!/usr/bin/env python3
"""The PyTorch baseline of bench_cuda on the same GPU: the same GPT-2
(pre-LN, GELU-tanh, tied embeddings, vocabulary 50257), bf16 autocast with
fp32 master weights, PyTorch's fused causal attention
(F.scaled_dot_product_attention), fused AdamW with clipping; optionally
torch.compile. bench/device.sh runs it beside bench_cuda so that the two
tokens/s figures come from one card in one session.

    bench_torch_gpu.py [--layers L --heads H --embd C] [-B b] [-T t]
                       [--steps k] [--warmup w] [--compile] [--device cuda]

Prints a RESULT line with the same keys as bench_cuda's (train_tps,
eval_tps, ...). Runs on the CPU too (--device cpu), for checking the script."""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import GPT  # noqa: E402  the same model as the CPU baseline


class GPT2(GPT):
    """bench_torch.py's model with GPT-2's initialisation."""

    def __init__(self, *args):
        super().__init__(*args)
        for name, t in self.named_parameters():
            if name.endswith("weight") and t.dim() == 2:
                nn.init.normal_(t, std=0.01 if name == "wpe.weight" else 0.02)
            elif name.endswith("bias"):
                nn.init.zeros_(t)


def main():
    p = argparse.ArgumentParser()
    for k, d in (("--layers", 12), ("--heads", 12), ("--embd", 768), ("--ctx", 1024),
                 ("--vocab", 50257), ("-B", 16), ("-T", 1024), ("--steps", 10), ("--warmup", 3)):
        p.add_argument(k, type=int, default=d)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--device", default="cuda")
    p.add_argument("--name", default="gpt2")
    a = p.parse_args()
    dev = torch.device(a.device)
    torch.manual_seed(0)
    if dev.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
    m = GPT2(a.layers, a.heads, a.embd, a.ctx, a.vocab).to(dev)
    n = sum(t.numel() for t in m.parameters())
    kw = {"fused": True} if dev.type == "cuda" else {}
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1, **kw)
    step_model = torch.compile(m) if a.compile else m
    x = torch.randint(0, a.vocab, (a.B, a.T), device=dev)
    y = torch.randint(0, a.vocab, (a.B, a.T), device=dev)
    amp = torch.autocast(device_type=dev.type, dtype=torch.bfloat16)

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    def train_step():
        opt.zero_grad(set_to_none=True)
        with amp:
            loss = step_model(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        return loss

    for _ in range(a.warmup):
        loss = train_step()
    sync()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        loss = train_step()
    sync()
    train_s = (time.perf_counter() - t0) / a.steps
    with torch.no_grad(), amp:
        for _ in range(a.warmup):
            step_model(x, y)
        sync()
        t0 = time.perf_counter()
        for _ in range(a.steps):
            eloss = step_model(x, y)
        sync()
    eval_s = (time.perf_counter() - t0) / a.steps
    flops = 6 * n + 6 * a.layers * a.embd * a.T
    tps, eps = a.B * a.T / train_s, a.B * a.T / eval_s
    peak = torch.cuda.max_memory_allocated() / 1e9 if dev.type == "cuda" else 0.0
    print(f"RESULT kind=torch name={a.name} torch={torch.__version__} compile={int(a.compile)} "
          f"params={n / 1e6:.1f}M B={a.B} T={a.T} train_ms={train_s * 1e3:.2f} train_tps={tps:.0f} "
          f"tflops={tps * flops / 1e12:.1f} eval_tps={eps:.0f} eval_ratio={eps / tps:.2f} "
          f"peak_gb={peak:.2f} loss={loss.item():.4f} eval_loss={eloss.item():.4f}")


if __name__ == "__main__":
    main()
