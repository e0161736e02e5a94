#!/usr/bin/env python3
"""compare_cells.py - how close two runs of the same experiment are: every
evaluation cell (run, model, domain, split) of experiment folder A found in
B, with the relative difference of their perplexities.

    python3 bench/compare_cells.py A B

Prints the number of cells matched, the median, 90th percentile and largest
relative difference, and the worst cell. Used by bench/device.sh to set the
quickstart trained on a GPU beside the same experiment on the CPU."""
import glob
import json
import os
import sys


def cells(root):
    out = {}
    for path in glob.glob(os.path.join(root, "*", "journal.jsonl")):
        run = os.path.basename(os.path.dirname(path))
        with open(path) as f:
            for line in f:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue  # a torn last line
                if e.get("event") == "eval":
                    out[(run, e.get("model"), e.get("domain"), e.get("split"))] = e["ppl"]
    return out


def main(a, b):
    ca, cb = cells(a), cells(b)
    keys = sorted(k for k in ca if k in cb)
    if not keys:
        print("compare_cells: no common cells (%d in %s, %d in %s)" % (len(ca), a, len(cb), b))
        return 1
    rel = sorted((abs(cb[k] - ca[k]) / ca[k], k) for k in keys)
    med, p90, worst = rel[len(rel) // 2][0], rel[int(0.9 * (len(rel) - 1))][0], rel[-1]
    print("cells: %d matched (%d only in A, %d only in B); relative ppl difference: median %.2e, "
          "p90 %.2e, max %.2e at %s" % (len(keys), len(ca) - len(keys), len(cb) - len(keys), med, p90,
                                        worst[0], "/".join(str(x) for x in worst[1])))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
