/* test_strategy_finetune.c - `finetune` (the DAPT baseline): every domain
 * after the first starts from weights bitwise equal to the base M0 with a
 * fresh optimizer, while the previous domain had moved away from them. */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "test_clrun_fixture.h"

typedef struct seen {
    float *base, *now;
    size_t n;
    int begins_at_base, ends_away;
} seen;

static int on_begin(void *ud, clpt_clrun *r, const clpt_clrun_event *ev)
{
    seen *s = ud;
    clpt_model *m = clpt_clrun_model(r);
    clpt_clrun_base_params(r, s->base);
    clpt_model_get_params(m, s->now);
    int same = !memcmp(s->base, s->now, s->n * sizeof(float));
    CHECK_MSG(same, "domain %d does not start from the base weights", ev->index);
    CHECK_MSG(clpt_model_step(m) == 0, "domain %d starts with AdamW step %lld", ev->index,
              (long long)clpt_model_step(m));
    s->begins_at_base += same;
    return 0;
}

static int on_end(void *ud, clpt_clrun *r, const clpt_clrun_event *ev)
{
    seen *s = ud;
    clpt_clrun_base_params(r, s->base);
    clpt_model_get_params(clpt_clrun_model(r), s->now);
    int moved = memcmp(s->base, s->now, s->n * sizeof(float)) != 0;
    CHECK_MSG(moved, "domain %d ended at the base weights: nothing was trained", ev->index);
    s->ends_away += moved;
    return 0;
}

int main(void)
{
    const char *corpus = fix_corpus();
    if (!corpus) return 1;
    clpt_config cfg;
    fix_config(&cfg);
    clpt_clrun_opts o = fix_opts(&cfg, corpus, "ft", "finetune", NULL, 0);
    clpt_clrun *r;
    CHECK(clpt_clrun_open(&r, &o) == 0);
    seen s = {.n = clpt_model_nparams(clpt_clrun_model(r))};
    s.base = malloc(s.n * sizeof(float));
    s.now = malloc(s.n * sizeof(float));
    CHECK(clpt_clrun_set_hook(r, CLPT_CLRUN_DOMAIN_BEGIN, 0, on_begin, &s) == 0);
    CHECK(clpt_clrun_set_hook(r, CLPT_CLRUN_DOMAIN_END, 0, on_end, &s) == 0);
    CHECK(clpt_clrun_run_all(r) == 0);
    CHECK(s.begins_at_base == 3 && s.ends_away == 3);
    clpt_clrun_close(r);
    /* the model of domain 3 alone: it never saw alpha, so alpha's test
     * perplexity is no better than after training on alpha itself */
    cJSON *j = fix_journal(o.dir);
    CHECK(fix_cell(j, "after:1", "alpha") < fix_cell(j, "after:3", "alpha"));
    cJSON_Delete(j);
    free(s.base);
    free(s.now);
    if (!check_failures) fix_cleanup(corpus);
    CHECK_DONE();
}
