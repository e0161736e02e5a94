/* test_strategy_state.c - every strategy's state survives save/load: for
 * each built-in strategy (with options that exercise its state: memories,
 * Fishers, anchors, carried fractions, LR schedule mode) and the template,
 * a run stopped after domain 2, and one stopped inside domain 2 right after
 * a mid-domain checkpoint, finish with weights and evaluation cells bitwise
 * equal to an uninterrupted run. The recipe uses a cosine schedule with
 * warmup, weight decay and gradient accumulation, so the optimizer and the
 * schedule state matter too. */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "test_clrun_fixture.h"

int main(void)
{
    const char *corpus = fix_corpus();
    if (!corpus) return 1;
    clpt_config cfg;
    fix_config(&cfg);
    static const char *kv[] = {"optim.schedule=cosine", "optim.warmup_steps=2", "optim.weight_decay=0.1",
                               "train.grad_accum=2", "train.epochs=2"};
    for (int i = 0; i < 5; i++) CHECK(clpt_config_set_arg(&cfg, kv[i], "test") == 0);
    static const struct { const char *strategy, *tag, *opts[4]; int n; } cases[] = {
        {"sequential", "seq", {"reset_optimizer=true", "lr_schedule=rewarm"}, 2},
        {"finetune", "ft", {0}, 0},
        {"replay", "replay", {"ratio=0.3"}, 1},
        {"replay", "replay-mem", {"ratio=0.4", "budget=48", "weighting=size", "mode=additive"}, 4},
        {"ewc", "ewc", {"lambda=1000", "fisher_batches=2", "gamma=0.5"}, 3},
        {"ewc", "ewc-sep", {"lambda=1000", "fisher_batches=2", "online=false"}, 3},
        {"l2", "l2", {"lambda=10"}, 1},
        {"l2", "l2-base", {"lambda=10", "anchor=base"}, 2},
        {"agem", "agem", {"memory=6", "ref_rows=3"}, 2},
        {"merge", "merge", {"beta=0.3"}, 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int before = check_failures;
        /* 6 steps per domain: checkpoint at step 3, stop at step 4 */
        fix_test_resume(&cfg, corpus, cases[i].strategy, cases[i].opts, cases[i].n, cases[i].tag, 4);
        fprintf(stderr, "%s: %s\n", cases[i].tag, check_failures == before ? "resume exact" : "FAILED");
    }
    if (!check_failures) fix_cleanup(corpus);
    CHECK_DONE();
}
