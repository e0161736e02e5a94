#!/usr/bin/python3
"""Generate the PyTorch reference fixture for clpt's GPT-2 correctness test.

Usage:
    /usr/bin/python3 tests/gen_torch_fixture.py [OUTPUT]

OUTPUT defaults to tests/data/gpt2_tiny_fixture.safetensors (relative to the
repository root, i.e. the parent of this script's directory).

The model is GPT-2 exactly as Hugging Face's GPT2LMHeadModel computes it,
written in plain torch: learned position embeddings, pre-LayerNorm blocks,
final ln_f, lm_head tied to wte, LayerNorm eps 1e-5, GELU (tanh
approximation), causal attention scaled by 1/sqrt(head_dim), Conv1D layers
(y = x @ W + b, W stored [in, out]) and c_attn split as [q | k | v].

Weights are drawn in float32 (seeded) and everything is then computed in
float64 from those float32 values, so the stored expectations are the exact
answer (rounded once to float32) for the stored float32 weights.

Needs only torch (>= 1.12 for gelu(approximate='tanh')) and numpy; the
safetensors file is written and read back by hand. If `transformers` is
importable, the logits are additionally checked against GPT2LMHeadModel.
"""

import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

# ---------------------------------------------------------------- config
N_LAYER = 2
N_HEAD = 2
N_EMBD = 32
N_CTX = 16
VOCAB = 67          # deliberately not a power of two
B = 2
T = 12              # < N_CTX
LN_EPS = 1e-5

SEED = 1234
INIT_STD = 0.1      # matrices and embeddings
LN_NOISE = 0.1      # LayerNorm weight = 1 + LN_NOISE * N(0,1)
BIAS_NOISE = 0.05   # every bias (Conv1D and LayerNorm) = BIAS_NOISE * N(0,1)

LR = 1e-2
BETA1 = 0.9
BETA2 = 0.95
ADAM_EPS = 1e-8
WEIGHT_DECAY = 0.1  # only on 2-D tensors
GRAD_CLIP = 1.0     # global-norm clipping before each step
N_STEPS = 2

DT = torch.float64


# ---------------------------------------------------------------- parameters
def param_specs():
    """(name, shape, kind) in Hugging Face's state_dict order (minus lm_head
    and attn.bias buffers). kind: 'mat' (std INIT_STD), 'lnw', 'bias'."""
    C = N_EMBD
    specs = [("transformer.wte.weight", (VOCAB, C), "mat"),
             ("transformer.wpe.weight", (N_CTX, C), "mat")]
    for i in range(N_LAYER):
        p = "transformer.h.%d." % i
        specs += [
            (p + "ln_1.weight", (C,), "lnw"),
            (p + "ln_1.bias", (C,), "bias"),
            (p + "attn.c_attn.weight", (C, 3 * C), "mat"),
            (p + "attn.c_attn.bias", (3 * C,), "bias"),
            (p + "attn.c_proj.weight", (C, C), "mat"),
            (p + "attn.c_proj.bias", (C,), "bias"),
            (p + "ln_2.weight", (C,), "lnw"),
            (p + "ln_2.bias", (C,), "bias"),
            (p + "mlp.c_fc.weight", (C, 4 * C), "mat"),
            (p + "mlp.c_fc.bias", (4 * C,), "bias"),
            (p + "mlp.c_proj.weight", (4 * C, C), "mat"),
            (p + "mlp.c_proj.bias", (C,), "bias"),
        ]
    specs += [("transformer.ln_f.weight", (C,), "lnw"),
              ("transformer.ln_f.bias", (C,), "bias")]
    return specs


def init_params(gen):
    params = {}
    for name, shape, kind in param_specs():
        noise = torch.randn(shape, generator=gen, dtype=torch.float32)
        if kind == "mat":
            w = INIT_STD * noise
        elif kind == "lnw":
            w = 1.0 + LN_NOISE * noise
        else:
            w = BIAS_NOISE * noise
        # float32 values, held in float64 for the exact computation
        params[name] = w.to(torch.float32).to(DT)
    return params


# ---------------------------------------------------------------- model
def gpt2_forward(P, idx):
    """Reference GPT-2 forward (HF GPT2LMHeadModel semantics). Returns logits."""
    Bn, Tn = idx.shape
    C, H = N_EMBD, N_HEAD
    hd = C // H
    pos = torch.arange(Tn)
    x = P["transformer.wte.weight"][idx] + P["transformer.wpe.weight"][pos][None]
    mask = torch.tril(torch.ones(Tn, Tn, dtype=torch.bool))
    for i in range(N_LAYER):
        p = "transformer.h.%d." % i
        h = F.layer_norm(x, (C,), P[p + "ln_1.weight"], P[p + "ln_1.bias"], LN_EPS)
        qkv = h @ P[p + "attn.c_attn.weight"] + P[p + "attn.c_attn.bias"]
        q, k, v = qkv.split(C, dim=-1)
        q = q.view(Bn, Tn, H, hd).transpose(1, 2)      # B,H,T,hd
        k = k.view(Bn, Tn, H, hd).transpose(1, 2)
        v = v.view(Bn, Tn, H, hd).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) / math.sqrt(hd)
        att = att.masked_fill(~mask, float("-inf"))
        att = torch.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(Bn, Tn, C)
        y = y @ P[p + "attn.c_proj.weight"] + P[p + "attn.c_proj.bias"]
        x = x + y
        h = F.layer_norm(x, (C,), P[p + "ln_2.weight"], P[p + "ln_2.bias"], LN_EPS)
        h = h @ P[p + "mlp.c_fc.weight"] + P[p + "mlp.c_fc.bias"]
        h = F.gelu(h, approximate="tanh")
        h = h @ P[p + "mlp.c_proj.weight"] + P[p + "mlp.c_proj.bias"]
        x = x + h
    x = F.layer_norm(x, (C,), P["transformer.ln_f.weight"], P["transformer.ln_f.bias"], LN_EPS)
    return x @ P["transformer.wte.weight"].t()


def gpt2_forward_loops(P, idx):
    """Independent second implementation (explicit formulas and per-position,
    per-head loops, no F.layer_norm / F.gelu / softmax) used to cross-check."""
    Bn, Tn = idx.shape
    C, H = N_EMBD, N_HEAD
    hd = C // H

    def ln(x, w, b):
        mu = x.sum(-1, keepdim=True) / C
        var = ((x - mu) ** 2).sum(-1, keepdim=True) / C   # biased variance
        return (x - mu) / torch.sqrt(var + LN_EPS) * w + b

    def gelu(x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))

    out = torch.zeros(Bn, Tn, VOCAB, dtype=DT)
    for b in range(Bn):
        x = torch.stack([P["transformer.wte.weight"][int(idx[b, t])] + P["transformer.wpe.weight"][t]
                         for t in range(Tn)])
        for i in range(N_LAYER):
            p = "transformer.h.%d." % i
            h = ln(x, P[p + "ln_1.weight"], P[p + "ln_1.bias"])
            Wa, ba = P[p + "attn.c_attn.weight"], P[p + "attn.c_attn.bias"]
            y = torch.zeros(Tn, C, dtype=DT)
            for hh in range(H):
                cq = slice(hh * hd, (hh + 1) * hd)
                ck = slice(C + hh * hd, C + (hh + 1) * hd)
                cv = slice(2 * C + hh * hd, 2 * C + (hh + 1) * hd)
                q = h @ Wa[:, cq] + ba[cq]
                k = h @ Wa[:, ck] + ba[ck]
                v = h @ Wa[:, cv] + ba[cv]
                for t in range(Tn):
                    s = torch.stack([(q[t] * k[u]).sum() for u in range(t + 1)]) / math.sqrt(hd)
                    e = torch.exp(s - s.max())
                    a = e / e.sum()
                    y[t, cq] = (a[:, None] * v[: t + 1]).sum(0)
            x = x + (y @ P[p + "attn.c_proj.weight"] + P[p + "attn.c_proj.bias"])
            h = ln(x, P[p + "ln_2.weight"], P[p + "ln_2.bias"])
            h = gelu(h @ P[p + "mlp.c_fc.weight"] + P[p + "mlp.c_fc.bias"])
            x = x + (h @ P[p + "mlp.c_proj.weight"] + P[p + "mlp.c_proj.bias"])
        x = ln(x, P["transformer.ln_f.weight"], P["transformer.ln_f.bias"])
        out[b] = x @ P["transformer.wte.weight"].t()
    return out


def loss_fn(P, idx, tgt):
    logits = gpt2_forward(P, idx)
    return F.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1).long()), logits


def is_decayed(name):
    return name.endswith(".weight") and len(dict((n, s) for n, s, _ in param_specs())[name]) == 2


# ---------------------------------------------------------------- checks
def check_with_transformers(P, idx, logits):
    try:
        from transformers import GPT2Config, GPT2LMHeadModel
    except Exception:
        print("transformers not importable: skipping GPT2LMHeadModel cross-check")
        return
    cfg = GPT2Config(vocab_size=VOCAB, n_positions=N_CTX, n_embd=N_EMBD, n_layer=N_LAYER,
                     n_head=N_HEAD, layer_norm_epsilon=LN_EPS, activation_function="gelu_new",
                     resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    m = GPT2LMHeadModel(cfg).to(DT).eval()
    sd = m.state_dict()
    with torch.no_grad():
        for k, v in P.items():
            sd[k].copy_(v)
        m.lm_head.weight.copy_(P["transformer.wte.weight"])   # tied anyway
        hf = m(idx.long()).logits
    d = (hf - logits).abs().max().item()
    print("transformers GPT2LMHeadModel max |dlogits| = %.3g" % d)
    assert d < 1e-5, d


def finite_difference_check(P, idx, tgt, grads, gen):
    """Central differences (float64) on a few random entries of every tensor."""
    worst = 0.0
    h = 1e-6
    for name, g in grads.items():
        flat = P[name].view(-1)
        picks = torch.randint(0, flat.numel(), (3,), generator=gen).tolist()
        for j in picks:
            old = flat[j].item()
            with torch.no_grad():
                flat[j] = old + h
                lp = loss_fn(P, idx, tgt)[0].item()
                flat[j] = old - h
                lm = loss_fn(P, idx, tgt)[0].item()
                flat[j] = old
            fd = (lp - lm) / (2 * h)
            an = g.view(-1)[j].item()
            err = abs(fd - an) / max(1e-4, abs(fd) + abs(an))
            worst = max(worst, err)
    print("finite-difference gradient check: worst relative error %.3g" % worst)
    assert worst < 1e-5, worst


def manual_train(P0, idx, tgt):
    """Hand-written clip + AdamW (torch semantics) for cross-checking torch.optim."""
    P = {k: v.clone() for k, v in P0.items()}
    m = {k: torch.zeros_like(v) for k, v in P.items()}
    v2 = {k: torch.zeros_like(v) for k, v in P.items()}
    for step in range(1, N_STEPS + 1):
        for t in P.values():
            t.requires_grad_(True)
        loss, _ = loss_fn(P, idx, tgt)
        g = torch.autograd.grad(loss, list(P.values()))
        g = dict(zip(P.keys(), g))
        norm = math.sqrt(sum(float((x * x).sum()) for x in g.values()))
        coef = min(1.0, GRAD_CLIP / (norm + 1e-6))
        with torch.no_grad():
            for k in P:
                p = P[k].detach()
                gk = g[k] * coef
                wd = WEIGHT_DECAY if is_decayed(k) else 0.0
                p = p * (1 - LR * wd)
                m[k] = BETA1 * m[k] + (1 - BETA1) * gk
                v2[k] = BETA2 * v2[k] + (1 - BETA2) * gk * gk
                bc1 = 1 - BETA1 ** step
                bc2 = 1 - BETA2 ** step
                p = p - (LR / bc1) * m[k] / (torch.sqrt(v2[k]) / math.sqrt(bc2) + ADAM_EPS)
                P[k] = p
    return {k: v.detach() for k, v in P.items()}


# ---------------------------------------------------------------- safetensors I/O
def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, np.ndarray with dtype <f4 or <i4)."""
    header = {"__metadata__": dict(metadata)}
    blobs = []
    off = 0
    for name, arr in tensors:
        if arr.dtype == np.dtype("<f4"):
            dt = "F32"
        elif arr.dtype == np.dtype("<i4"):
            dt = "I32"
        else:
            raise ValueError("unsupported dtype %s for %s" % (arr.dtype, name))
        raw = np.ascontiguousarray(arr).tobytes()
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hj = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hj += b" " * ((-len(hj)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for raw in blobs:
            f.write(raw)
    os.replace(tmp, path)


def read_safetensors(path):
    """Small independent reader; validates the layout strictly."""
    with open(path, "rb") as f:
        data = f.read()
    assert len(data) >= 8
    (n,) = struct.unpack("<Q", data[:8])
    assert n % 8 == 0 and 8 + n <= len(data), "bad header length"
    hdr = json.loads(data[8:8 + n].decode("utf-8"))
    meta = hdr.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items())
    body = data[8 + n:]
    out = {}
    spans = []
    for name, info in hdr.items():
        dt = {"F32": "<f4", "I32": "<i4"}[info["dtype"]]
        shape = tuple(info["shape"])
        b, e = info["data_offsets"]
        assert 0 <= b <= e <= len(body), name
        assert e - b == 4 * int(np.prod(shape, dtype=np.int64)), name
        spans.append((b, e))
        out[name] = np.frombuffer(body[b:e], dtype=dt).reshape(shape)
    spans.sort()
    pos = 0
    for b, e in spans:
        assert b == pos, "offsets not contiguous"
        pos = e
    assert pos == len(body), "trailing bytes after the last tensor"
    return out, meta, len(data)


# ---------------------------------------------------------------- main
def f32(t):
    return t.detach().to(torch.float32).contiguous().numpy().astype("<f4")


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out_path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        repo, "tests", "data", "gpt2_tiny_fixture.safetensors")
    os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)

    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED)
    P0 = init_params(gen)
    seq = torch.randint(0, VOCAB, (B, T + 1), generator=gen, dtype=torch.int64)
    idx = seq[:, :T].contiguous()
    tgt = seq[:, 1:].contiguous()

    # ---- forward / loss / grads at the initial weights
    P = {k: v.clone().requires_grad_(True) for k, v in P0.items()}
    loss, logits = loss_fn(P, idx, tgt)
    grads = dict(zip(P.keys(), torch.autograd.grad(loss, list(P.values()))))
    logits = logits.detach()
    losses = F.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1), reduction="none").view(B, T)
    tl = logits.gather(-1, tgt[..., None])
    ranks = 1 + (logits > tl).sum(-1)
    assert abs(losses.mean().item() - loss.item()) < 1e-12

    # ---- cross-checks of the reference itself
    with torch.no_grad():
        d_loops = (gpt2_forward_loops(P0, idx) - logits).abs().max().item()
    print("loop implementation max |dlogits| = %.3g" % d_loops)
    assert d_loops < 1e-10, d_loops
    check_with_transformers(P0, idx, logits)
    finite_difference_check({k: v.clone() for k, v in P0.items()}, idx, tgt, grads,
                            torch.Generator().manual_seed(SEED + 1))

    # ---- two AdamW steps with global-norm clipping (torch.optim)
    Pt = {k: v.clone().requires_grad_(True) for k, v in P0.items()}
    decay = [Pt[k] for k in Pt if is_decayed(k)]
    no_decay = [Pt[k] for k in Pt if not is_decayed(k)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=LR, betas=(BETA1, BETA2), eps=ADAM_EPS)
    step_losses, gradnorms = [], []
    step1, grad2 = None, None
    for step in range(N_STEPS):
        opt.zero_grad(set_to_none=True)
        l, _ = loss_fn(Pt, idx, tgt)
        l.backward()
        if step == 1:   # the raw (pre-clip) gradient at the step-1 weights
            grad2 = {k: v.grad.detach().clone() for k, v in Pt.items()}
        gn = torch.nn.utils.clip_grad_norm_(list(Pt.values()), GRAD_CLIP).item()
        step_losses.append(l.item())
        gradnorms.append(gn)
        opt.step()
        if step == 0:
            step1 = {k: v.detach().clone() for k, v in Pt.items()}
    step2 = {k: v.detach().clone() for k, v in Pt.items()}
    assert abs(step_losses[0] - loss.item()) < 1e-12
    gn0 = math.sqrt(sum(float((g * g).sum()) for g in grads.values()))
    assert abs(gn0 - gradnorms[0]) < 1e-10
    assert gradnorms[0] > GRAD_CLIP, "clipping would be a no-op at step 1"

    man = manual_train(P0, idx, tgt)
    d_adam = max((man[k] - step2[k]).abs().max().item() for k in P0)
    print("hand-written clip+AdamW vs torch.optim.AdamW max |dparam| = %.3g" % d_adam)
    assert d_adam < 1e-12, d_adam

    # ---- float32 re-run: how far does a float32 implementation land?
    P32 = {k: v.to(torch.float32).clone().requires_grad_(True) for k, v in P0.items()}
    globals()["DT"] = torch.float32
    l32, lg32 = loss_fn(P32, idx, tgt)
    g32 = torch.autograd.grad(l32, list(P32.values()))
    opt32 = torch.optim.AdamW([{"params": [P32[k] for k in P32 if is_decayed(k)], "weight_decay": WEIGHT_DECAY},
                               {"params": [P32[k] for k in P32 if not is_decayed(k)], "weight_decay": 0.0}],
                              lr=LR, betas=(BETA1, BETA2), eps=ADAM_EPS)
    for step in range(N_STEPS):
        opt32.zero_grad(set_to_none=True)
        l, _ = loss_fn(P32, idx, tgt)
        l.backward()
        torch.nn.utils.clip_grad_norm_(list(P32.values()), GRAD_CLIP)
        opt32.step()
    globals()["DT"] = torch.float64
    kb = slice(N_EMBD, 2 * N_EMBD)   # key part of c_attn.bias: gradient is analytically 0

    def d_step2(k, key_bias):
        d = (P32[k].detach().double() - step2[k]).abs()
        if k.endswith("attn.c_attn.bias"):
            return d[kb].max().item() if key_bias else torch.cat([d[:N_EMBD], d[2 * N_EMBD:]]).max().item()
        return 0.0 if key_bias else d.max().item()
    print("float32 torch vs float64 reference: max|dlogits| %.3g, |dloss| %.3g, max|dgrad| %.3g,"
          " max|dstep2| %.3g (key-bias slices: %.3g)"
          % ((lg32.double() - logits).abs().max().item(), abs(l32.item() - loss.item()),
             max((a.double() - grads[k]).abs().max().item() for a, k in zip(g32, P0)),
             max(d_step2(k, False) for k in P0), max(d_step2(k, True) for k in P0)))
    kbg = max(g[kb].abs().max().item() for k, g in grads.items() if k.endswith("attn.c_attn.bias"))
    print("key-bias gradient (analytically zero): max |g| = %.3g in float64" % kbg)
    rest = []
    for k, g in grads.items():
        if k.endswith("attn.c_attn.bias"):
            g = torch.cat([g[:N_EMBD], g[2 * N_EMBD:]])
        rest.append(g.abs().view(-1))
    rest = torch.cat(rest)
    print("step-1 gradient entries (key biases excluded): %d exactly zero (wpe rows >= T), smallest nonzero"
          " |g| = %.3g, largest %.3g" % (int((rest == 0).sum()), rest[rest > 0].min().item(), rest.max().item()))

    # ---- assemble the file
    tensors = [("inputs", idx.to(torch.int32).numpy().astype("<i4")),
               ("targets", tgt.to(torch.int32).numpy().astype("<i4"))]
    tensors += [(k, f32(v)) for k, v in P0.items()]
    tensors += [("expected.logits", f32(logits)),
                ("expected.loss", f32(loss.detach().view(1))),
                ("expected.losses", f32(losses)),
                ("expected.ranks", ranks.to(torch.int32).numpy().astype("<i4")),
                ("expected.gradnorm1", f32(torch.tensor([gradnorms[0]], dtype=DT))),
                ("expected.loss_step2", f32(torch.tensor([step_losses[1]], dtype=DT)))]
    tensors += [("grad." + k, f32(g)) for k, g in grads.items()]
    tensors += [("step1." + k, f32(v)) for k, v in step1.items()]
    tensors += [("grad2." + k, f32(g)) for k, g in grad2.items()]
    tensors += [("step2." + k, f32(v)) for k, v in step2.items()]

    metadata = {
        "n_layer": str(N_LAYER), "n_head": str(N_HEAD), "n_embd": str(N_EMBD),
        "n_ctx": str(N_CTX), "vocab_size": str(VOCAB), "B": str(B), "T": str(T),
        "lr": repr(LR), "beta1": repr(BETA1), "beta2": repr(BETA2), "eps": repr(ADAM_EPS),
        "weight_decay": repr(WEIGHT_DECAY), "grad_clip": repr(GRAD_CLIP),
        "layer_norm_epsilon": repr(LN_EPS), "n_steps": str(N_STEPS), "seed": str(SEED),
        "activation": "gelu_tanh", "compute_dtype": "float64",
        "weight_decay_params": "2-D tensors only (wte, wpe, c_attn/c_proj/c_fc/mlp.c_proj weights)",
        "generator": "tests/gen_torch_fixture.py", "torch_version": torch.__version__,
    }
    write_safetensors(out_path, tensors, metadata)

    # ---- read back and verify bit-for-bit
    back, meta, size = read_safetensors(out_path)
    assert meta == metadata
    assert list(back.keys()) == [n for n, _ in tensors]
    for name, arr in tensors:
        assert back[name].dtype == arr.dtype and back[name].shape == arr.shape, name
        assert back[name].tobytes() == arr.tobytes(), name
    n_param = sum(v.numel() for v in P0.values())
    print("wrote %s: %d tensors, %d bytes, %d parameters" % (out_path, len(back), size, n_param))
    print("loss %.9f  loss_step2 %.9f  gradnorm1 %.9f  gradnorm2 %.9f (clip %.3g)"
          % (step_losses[0], step_losses[1], gradnorms[0], gradnorms[1], GRAD_CLIP))
    print("ranks", ranks.tolist())


if __name__ == "__main__":
    main()
