"""make_shards.py - tiny token shards for the CLI tests.

    python3 make_shards.py NAME=TOKENS [NAME=TOKENS ...]

writes each NAME (a shard file: 256 int32 header words, then uint16 tokens)
with TOKENS tokens of a toy language: 40 random "sentences" of ids 1..59,
each followed by 0, drawn with a fixed seed, so every run writes the same
bytes."""
import random
import struct
import sys

random.seed(0)
sents = [[random.randrange(1, 60) for _ in range(random.randrange(5, 12))] for _ in range(40)]
for arg in sys.argv[1:]:
    path, n = arg.rsplit("=", 1)
    n = int(n)
    toks = []
    while len(toks) < n:
        toks += random.choice(sents) + [0]
    toks = toks[:n]
    with open(path, "wb") as f:
        f.write(struct.pack("<256i", 20240520, 1, n, *([0] * 253)))
        f.write(struct.pack("<%dH" % n, *toks))
