"""hf_compat.py - clpt checkpoints against Hugging Face transformers.

    hf_compat.py check DIR   load DIR/ckpt (written by clpt) with
                             GPT2LMHeadModel.from_pretrained and compare its
                             logits with DIR/clpt_logits.safetensors
    hf_compat.py make DIR    write DIR/hf (a random GPT-2 saved by
                             transformers as safetensors) and its logits,
                             DIR/hf_logits.safetensors, for clpt to check

Run by tests/test_hf_compat.sh; exits 0 on success, 1 on a mismatch.
"""
import os
import sys

import torch
from safetensors.torch import load_file, save_file
from transformers import GPT2Config, GPT2LMHeadModel

TOL = 1e-4
# buffers and the tied head that transformers itself does not expect in a file
IGNORABLE = ("attn.bias", "attn.masked_bias", "lm_head.weight")


def check(d):
    model, info = GPT2LMHeadModel.from_pretrained(
        os.path.join(d, "ckpt"), output_loading_info=True)
    missing = [k for k in info["missing_keys"] if not k.endswith(IGNORABLE)]
    # lists in transformers 4, sets in 5
    bad = missing + [k for key in ("unexpected_keys", "mismatched_keys", "error_msgs")
                     for k in sorted(map(str, info.get(key) or []))]
    if bad:
        print("transformers could not load every tensor:", bad)
        return 1
    model.eval()
    ref = load_file(os.path.join(d, "clpt_logits.safetensors"))
    with torch.no_grad():
        got = model(ref["tokens"].long()).logits
    diff = (got - ref["logits"]).abs().max().item()
    print(f"transformers vs clpt logits (clpt-saved checkpoint): max |diff| = {diff:.3g}")
    if not torch.equal(model.lm_head.weight, model.transformer.wte.weight):
        print("lm_head is not tied to wte after loading")
        return 1
    return 0 if diff <= TOL else 1


def make(d):
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=2, n_head=4, n_embd=32, n_positions=16, n_ctx=16,
                     vocab_size=100, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
    model = GPT2LMHeadModel(cfg)
    model.eval()
    with torch.no_grad():
        # biases and LayerNorms too, so a tensor loaded into the wrong place shows
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
        model.save_pretrained(os.path.join(d, "hf"), safe_serialization=True)
        tokens = torch.randint(0, cfg.vocab_size, (2, 16))
        logits = model(tokens).logits
    save_file({"tokens": tokens.to(torch.int32).contiguous(), "logits": logits.contiguous()},
              os.path.join(d, "hf_logits.safetensors"))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("check", "make"):
        print(__doc__)
        sys.exit(2)
    sys.exit((check if sys.argv[1] == "check" else make)(sys.argv[2]))
