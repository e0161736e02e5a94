/* test_strategy_ewc.c - `ewc` and `l2`: with λ = 0 the run is bitwise the
 * `sequential` one (the Fisher estimate consumes no training randomness and
 * leaves no trace in the update); with a huge λ the weights stay near the
 * anchor (the weights at the end of domain 1) - in the method's own metric:
 * Fisher-weighted for ewc, plain for l2 - while a negligible λ lets them
 * travel; the penalty is reported as a metric. */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "test_clrun_fixture.h"

typedef struct track {
    float *anchor, *now;
    size_t n;
    double dist[4];   /* ‖θ_end(n) − θ_end(1)‖ */
} track;

static int on_end(void *ud, clpt_clrun *r, const clpt_clrun_event *ev)
{
    track *t = ud;
    float *dst = ev->index == 1 ? t->anchor : t->now;
    clpt_model_get_params(clpt_clrun_model(r), dst);
    /* the token embeddings are left out: the rows of tokens that only the
     * new domain uses have (rightly) almost no Fisher from domain 1 */
    const clpt_tensor *wte = clpt_model_find(clpt_clrun_model(r), "wte.weight");
    double s = 0;
    for (size_t i = 0; ev->index > 1 && i < t->n; i++) {
        if (i >= wte->offset && i < wte->offset + wte->numel) continue;
        s += (double)(t->now[i] - t->anchor[i]) * (t->now[i] - t->anchor[i]);
    }
    t->dist[ev->index] = sqrt(s);
    return 0;
}

static float *run(const clpt_config *cfg, const char *corpus, const char *name, const char *strategy,
                  const char *const *opts, int n, track *t)
{
    clpt_clrun_opts o = fix_opts(cfg, corpus, name, strategy, opts, n);
    o.eval.kind = CLPT_EVALSET_NONE;
    clpt_clrun *r;
    CHECK(clpt_clrun_open(&r, &o) == 0);
    t->n = clpt_model_nparams(clpt_clrun_model(r));
    free(t->anchor);
    free(t->now);
    t->anchor = malloc(t->n * sizeof(float));
    t->now = malloc(t->n * sizeof(float));
    CHECK(clpt_clrun_set_hook(r, CLPT_CLRUN_DOMAIN_END, 0, on_end, t) == 0);
    CHECK(clpt_clrun_run_all(r) == 0);
    float *p = malloc(t->n * sizeof(float));
    clpt_model_get_params(clpt_clrun_model(r), p);
    clpt_clrun_close(r);
    return p;
}

/* the metric `metric` at the last step of domain 2 */
static double metric_end2(const clpt_config *cfg, const char *corpus, const char *name, const char *metric)
{
    cJSON *j = fix_journal(fix_opts(cfg, corpus, name, NULL, NULL, 0).dir);
    const cJSON *o;
    double v = -1;
    cJSON_ArrayForEach(o, j) {
        const cJSON *m = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metrics"), metric);
        if (m && cJSON_GetObjectItem(o, "index")->valueint == 2) v = m->valuedouble;
    }
    cJSON_Delete(j);
    return v;
}

/* λ = 0 is sequential; a huge λ stays near the anchor. The distance is
 * measured the way the method defines it: for l2 the plain distance; for
 * ewc the Fisher-weighted one, penalty / λ, read from runs with a huge and
 * with a negligible λ (parameters the old domain does not use - those of
 * tokens only the new domain has - are rightly free to move). */
static void pull(const clpt_config *cfg, const char *corpus, const char *strategy, const char *const *lambdas,
                 const float *seq, const char *metric)
{
    track t = {0};
    char name[64], lam[64];
    const char *opts[] = {lam, "fisher_batches=4"};
    int n = strcmp(strategy, "ewc") ? 1 : 2;
    double dist[3], weighted[3];
    for (int i = 0; i < 3; i++) {
        snprintf(lam, sizeof lam, "lambda=%s", lambdas[i]);
        snprintf(name, sizeof name, "%s-%d", strategy, i);
        float *p = run(cfg, corpus, name, strategy, opts, n, &t);
        if (i == 0) CHECK_MSG(!memcmp(p, seq, t.n * sizeof(float)), "%s with λ = 0 differs from sequential", strategy);
        dist[i] = t.dist[2];
        weighted[i] = metric_end2(cfg, corpus, name, metric) / strtod(lambdas[i], NULL);
        free(p);
    }
    fprintf(stderr, "%s: distance from the anchor %g (λ = 0), %g (λ = %s); weighted %g (λ = %s), %g (λ = %s)\n",
            strategy, dist[0], dist[2], lambdas[2], weighted[1], lambdas[1], weighted[2], lambdas[2]);
    CHECK_MSG(weighted[1] > 0 && weighted[2] > 0, "%s: no %s metric", strategy, metric);
    CHECK_MSG(weighted[2] < 0.05 * weighted[1], "%s: weighted distance %g with a huge λ, %g with a tiny one",
              strategy, weighted[2], weighted[1]);
    if (!strcmp(strategy, "l2"))
        CHECK_MSG(dist[2] < 0.05 * dist[0], "l2: distance %g with a huge λ, %g with λ = 0", dist[2], dist[0]);
    free(t.anchor);
    free(t.now);
}

int main(void)
{
    const char *corpus = fix_corpus();
    if (!corpus) return 1;
    /* a few epochs and a fresh AdamW per domain: with only a handful of steps
     * the momentum carried over from domain 1 would dominate the first moves */
    clpt_config cfg;
    fix_config(&cfg);
    CHECK(clpt_config_set_arg(&cfg, "train.epochs=4", "test") == 0);
    CHECK(clpt_config_set_arg(&cfg, "optim.reset_per_domain=true", "test") == 0);
    track t = {0};
    float *seq = run(&cfg, corpus, "seq", "sequential", NULL, 0, &t);
    free(t.anchor);
    free(t.now);
    const char *ewc[] = {"0", "1e-9", "1e9"}, *l2[] = {"0", "1e-9", "1e6"};
    pull(&cfg, corpus, "ewc", ewc, seq, "ewc_penalty");
    pull(&cfg, corpus, "l2", l2, seq, "l2_penalty");
    free(seq);
    if (!check_failures) fix_cleanup(corpus);
    CHECK_DONE();
}
