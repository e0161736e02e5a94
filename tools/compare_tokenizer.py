#!/usr/bin/env python3
"""Compare `clpt tokenizer encode` with reference GPT-2 BPE encoders, file by file.

    python3 tools/compare_tokenizer.py --clpt build/clpt --tokenizer ../shared/data/gpt2 \\
        ../shared/data/openstax-m2d2

Every file under the given paths (directories are walked recursively; with
--ext only files with that suffix) is encoded by clpt and by each reference:

  tiktoken  tiktoken's encode_ordinary, with ranks loaded from the local files
            (valid UTF-8 only: its str API cannot hold invalid bytes)
  hf        Hugging Face tokenizers: BPE model + ByteLevel pre-tokenizer
            (valid UTF-8 only, for the same reason)
  bytes     the reference for arbitrary bytes: each invalid UTF-8 byte is one
            character of class "other" (what Python's errors="surrogateescape"
            gives, and what GPT-2's regex does with a lone surrogate). The text
            is split with Hugging Face's GPT-2 regex (Oniguruma) after putting a
            private-use character (also "other") in place of each invalid byte;
            the pieces are mapped back to the original bytes and BPE-encoded
            with the Hugging Face BPE model.

Prints one line per mismatching file (with the first differing position and
the text around it) and a summary; exits 1 on any mismatch. --write-ids FILE
writes the reference ids of a single input file (the `bytes` reference) as
clpt prints them, for committing expected outputs.
"""
import argparse
import json
import os
import subprocess
import sys

GPT2_PAT = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
PUA = 0xF0000  # plane-15 private use: class "other", stands in for invalid bytes


def bytes_to_unicode():
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def tokenizer_files(d):
    for v, m in (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")):
        if os.path.exists(os.path.join(d, v)):
            return os.path.join(d, v), os.path.join(d, m)
    sys.exit("compare_tokenizer: no vocab.json/merges.txt in %s" % d)


class References:
    def __init__(self, tokdir, want):
        self.vocab, self.merges = tokenizer_files(tokdir)
        self.enc = {}
        self.b2u = bytes_to_unicode()
        if "tiktoken" in want:
            self._load_tiktoken()
        if "hf" in want or "bytes" in want:
            self._load_hf()

    def _load_tiktoken(self):
        try:
            import tiktoken
            from tiktoken.load import data_gym_to_mergeable_bpe_ranks
        except ImportError:
            print("compare_tokenizer: tiktoken not installed, skipping it", file=sys.stderr)
            return
        ranks = data_gym_to_mergeable_bpe_ranks(self.merges, self.vocab)
        vocab = json.load(open(self.vocab, encoding="utf-8"))
        special = {"<|endoftext|>": vocab["<|endoftext|>"]} if "<|endoftext|>" in vocab else {}
        e = tiktoken.Encoding("local", pat_str=GPT2_PAT, mergeable_ranks=ranks,
                              special_tokens=special)
        self.enc["tiktoken"] = lambda data: e.encode_ordinary(data.decode("utf-8"))

    def _load_hf(self):
        try:
            from tokenizers import Regex, Tokenizer, decoders, pre_tokenizers
            from tokenizers.models import BPE
        except ImportError:
            print("compare_tokenizer: tokenizers not installed, skipping it", file=sys.stderr)
            return
        tok = Tokenizer(BPE.from_file(self.vocab, self.merges))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        self.hf_model = tok.model
        self.splitter = pre_tokenizers.Split(Regex(GPT2_PAT), behavior="isolated")
        self.enc["hf"] = lambda data: tok.encode(data.decode("utf-8")).ids
        self.enc["bytes"] = self.encode_bytes

    def encode_bytes(self, data):
        text = data.decode("utf-8", errors="surrogateescape")
        # one string character per original unit: a code point or an invalid byte
        units = [c.encode("utf-8", errors="surrogateescape") for c in text]
        subst = "".join(chr(PUA + ord(c) - 0xDC00) if 0xDC80 <= ord(c) <= 0xDCFF else c
                        for c in text)
        ids, at = [], 0
        for piece, _ in self.splitter.pre_tokenize_str(subst):
            raw = b"".join(units[at:at + len(piece)])
            at += len(piece)
            ids += [t.id for t in self.hf_model.tokenize("".join(self.b2u[b] for b in raw))]
        assert at == len(units)
        return ids


def clpt_encode(clpt, tokdir, path):
    out = subprocess.run([clpt, "tokenizer", "encode", "--tokenizer", tokdir, path],
                         check=True, capture_output=True).stdout
    return [int(x) for x in out.split()]


def walk(paths, ext):
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    if not ext or f.endswith(ext):
                        yield os.path.join(root, f)
        else:
            yield p


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("paths", nargs="+", help="files or directories")
    ap.add_argument("--clpt", default="build/clpt", help="the clpt binary")
    ap.add_argument("--tokenizer", required=True, help="directory with vocab.json + merges.txt")
    ap.add_argument("--ref", default="tiktoken,hf,bytes",
                    help="comma-separated references (tiktoken, hf, bytes)")
    ap.add_argument("--ext", default="", help="only files ending so (e.g. .txt)")
    ap.add_argument("--write-ids", metavar="FILE", help="write the `bytes` reference ids of "
                    "the single input file to FILE")
    args = ap.parse_args()
    refs = References(args.tokenizer, args.ref.split(","))
    if args.write_ids:
        ids = refs.encode_bytes(open(args.paths[0], "rb").read())
        open(args.write_ids, "w").write(" ".join(map(str, ids)) + "\n")
        print("wrote %d ids to %s" % (len(ids), args.write_ids))
        return 0
    nfiles = nbytes = ntok = 0
    bad = {name: 0 for name in refs.enc}
    for path in walk(args.paths, args.ext):
        data = open(path, "rb").read()
        mine = clpt_encode(args.clpt, args.tokenizer, path)
        nfiles += 1
        nbytes += len(data)
        ntok += len(mine)
        try:
            data.decode("utf-8")
            valid = True
        except UnicodeDecodeError:
            valid = False
        for name, enc in refs.enc.items():
            if name in ("tiktoken", "hf") and not valid:
                continue
            ref = enc(data)
            if ref != mine:
                bad[name] += 1
                i = first_diff(mine, ref)
                print("MISMATCH %s vs %s at token %d: clpt %s ref %s" %
                      (path, name, i, mine[i:i + 5], ref[i:i + 5]))
    print("files %d bytes %d tokens %d references %s mismatching files %s" %
          (nfiles, nbytes, ntok, ",".join(refs.enc), json.dumps(bad)))
    return 1 if any(bad.values()) or not refs.enc else 0


if __name__ == "__main__":
    sys.exit(main())
