#!/usr/bin/env python3
"""Write the hand-made journal fixture of tests/test_report.sh: a small
simulated experiment (8 domains in 3 L1 fields; zero-shot, DAPT, and three
continual runs) whose numbers follow a toy model of learning and forgetting,
so the report has something plausible to draw. Deterministic; rerun with
    python3 tests/data/report/make_fixture.py tests/data/report/exp
The last line of random-sequential/journal.jsonl is deliberately torn (a
killed writer), which readers must skip.

    python3 make_fixture.py DIR N
writes the same kind of experiment over N synthetic domains instead (the
size checks of large reports)."""
import json, math, os, random, sys

DOMAINS = ["Physics__Mechanics", "Physics__Optics", "Physics__Thermodynamics",
           "Biology__Cell_biology", "Biology__Genetics", "Biology__Ecology",
           "Economics__Markets", "Economics__Public_policy"]
L1 = [d.split("__")[0] for d in DOMAINS]
rng = random.Random(20240520)
ZS = [round(38 + 9 * i + rng.uniform(-6, 6), 3) for i in range(len(DOMAINS))]
MODEL = {"n_layer": 4, "n_head": 4, "n_embd": 128, "n_ctx": 128, "vocab_size": 8192, "params": 2.9e6}
T0 = 1.7e9


class Writer:
    def __init__(self, root, run, strategy, schedule, options):
        os.makedirs(os.path.join(root, run), exist_ok=True)
        self.f = open(os.path.join(root, run, "journal.jsonl"), "w")
        self.run, self.t = run, T0
        self.emit("run", strategy=strategy, options=options, schedule=schedule, model=MODEL,
                  config={"train": {"batch_size": "8", "seq_len": "128"}},
                  device={"backend": "cpu"}, resumed=False, seed=1)

    def emit(self, event, **kw):
        self.t += 0.5
        line = {"v": 1, "event": event, "time": round(self.t, 2), "run": self.run}
        line.update(kw)
        self.f.write(json.dumps(line) + "\n")

    def cell(self, model, domain, ppl, index=None):
        kw = {"model": model, "domain": domain, "split": "test", "ppl": round(ppl, 4),
              "nll": round(math.log(ppl), 5), "tokens": 4096,
              "rank_mean": round(ppl * 1.9 + rng.uniform(0, 3), 3),
              "rank_median": float(max(1, round(ppl ** 0.35)))}
        if index is not None:
            kw["index"] = index
        self.emit("eval", **kw)


def ppl_of(j, k, cur):
    # knowledge k in [0, 1] lowers ppl; training far from a domain's field drifts it up
    drift = 0.06 * (1 - k) * (L1[j] != L1[cur])
    return ZS[j] * (1 - 0.4 * k + drift) * (1 + rng.uniform(-0.01, 0.01))


def continual(root, run, strategy, order, forget, options):
    w = Writer(root, run, strategy, [DOMAINS[i] for i in order], options)
    k = [0.0] * len(DOMAINS)
    step = 0
    for n, d in enumerate(order, 1):
        w.emit("domain_begin", index=n, domain=DOMAINS[d])
        for s in range(1, 7):
            step += 1
            loss = math.log(ZS[d]) * (1 - 0.05 * s) + rng.uniform(-0.05, 0.05)
            w.emit("train", index=n, domain=DOMAINS[d], step=s, global_step=step, tokens=s * 1024,
                   loss=round(loss, 4), lr=3e-4, grad_norm=round(rng.uniform(0.5, 1.5), 3),
                   tokens_per_s=5000.0)
        for j in range(len(DOMAINS)):
            if j == d:
                k[j] = 1.0
            elif L1[j] == L1[d]:
                k[j] = min(1.0, k[j] + 0.3)
            else:
                k[j] *= 1 - forget
        w.emit("domain_end", index=n, domain=DOMAINS[d], steps=6, tokens=6144, seconds=2.5,
               checkpoint="checkpoints/latest")
        for j in order:
            w.cell("after:%d" % n, DOMAINS[j], ppl_of(j, k[j], d), index=n)
    w.emit("run_end", seconds=len(order) * 3.0)
    return w


def main(root):
    similar = list(range(len(DOMAINS)))
    rand = similar[:]
    random.Random(1).shuffle(rand)
    zs = Writer(root, "zs", "none", DOMAINS, {})
    for j, d in enumerate(DOMAINS):
        zs.cell("base", d, ZS[j], index=0)
    zs.emit("run_end", seconds=4.0)
    dapt = Writer(root, "dapt", "finetune", DOMAINS, {})
    for n, d in enumerate(DOMAINS, 1):
        dapt.emit("domain_begin", index=n, domain=d)
        dapt.emit("domain_end", index=n, domain=d, steps=6, tokens=6144, seconds=2.5,
                  checkpoint="checkpoints/latest")
        dapt.cell("dapt:" + d, d, ZS[n - 1] * 0.64 * (1 + rng.uniform(-0.02, 0.02)))
    dapt.emit("run_end", seconds=24.0)
    a = continual(root, "similar-sequential", "sequential", similar, 0.35, {})
    b = continual(root, "similar-replay", "replay", similar, 0.12, {"ratio": 0.25, "budget": 100000})
    w = continual(root, "random-sequential", "sequential", rand, 0.35, {})
    w.f.write('{"v": 1, "event": "eval", "run": "random-sequential", "model": "aft')
    for x in (zs, dapt, a, b, w):
        x.f.close()


if __name__ == "__main__":
    if len(sys.argv) > 2:  # N synthetic domains in fields of 20
        n = int(sys.argv[2])
        DOMAINS[:] = ["Field%d__Domain_%d" % (i // 20, i) for i in range(n)]
        L1[:] = [d.split("__")[0] for d in DOMAINS]
        ZS[:] = [round(38 + 9 * (i % 8) + rng.uniform(-6, 6), 3) for i in range(n)]
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "exp"))
