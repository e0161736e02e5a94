/* test_cuda_strategies.c - the strategies on the cuda backend against the
 * CPU reference: `sequential`, `replay`, `ewc` and `agem` each run the
 * fixture's three domains (evaluation on every domain after each) once per
 * backend from the same seed. Every journal perplexity cell must agree, and
 * the weight change each run made (final - base) must point the same way
 * (cosine) and have the same size. With fp32 GEMMs the bounds are tight;
 * with bf16 GEMMs (the default) they allow bf16 rounding compounded over
 * the run's steps. Skipped (77) without a GPU. */
#define _XOPEN_SOURCE 700
#include "check.h"
#ifdef CLPT_WITH_CUDA
#include <math.h>

#include "backend.h"
#include "cuda/clpt_cuda.h"
#include "test_clrun_fixture.h"

typedef struct outcome {
    float *base, *final;
    size_t n;
    cJSON *journal;
} outcome;

static int run(const clpt_config *cfg0, const char *backend, const char *act, const char *corpus,
               const char *name, const char *strategy, const char *const *opts, int n_opts, outcome *out)
{
    clpt_config cfg = *cfg0;
    char kv[64];
    snprintf(kv, sizeof kv, "runtime.backend=%s", backend);
    CHECK(clpt_config_set_arg(&cfg, kv, "test") == 0);
    snprintf(kv, sizeof kv, "runtime.cuda_activations=%s", act); /* through the config, as a user sets it */
    CHECK(clpt_config_set_arg(&cfg, kv, "test") == 0);
    clpt_clrun_opts o = fix_opts(&cfg, corpus, name, strategy, opts, n_opts);
    clpt_clrun *r;
    memset(out, 0, sizeof *out);
    if (clpt_clrun_open(&r, &o)) {
        fprintf(stderr, "open %s: %s\n", o.dir, clpt_errmsg());
        return -1;
    }
    out->n = clpt_model_nparams(clpt_clrun_model(r));
    out->base = malloc(out->n * sizeof(float));
    out->final = malloc(out->n * sizeof(float));
    int rc = clpt_clrun_base_params(r, out->base);
    if (!rc) rc = clpt_clrun_run_all(r);
    if (!rc) clpt_model_get_params(clpt_clrun_model(r), out->final);
    if (rc) fprintf(stderr, "run %s: %s\n", o.dir, clpt_errmsg());
    clpt_clrun_close(r);
    out->journal = fix_journal(o.dir);
    return rc;
}

static void outcome_free(outcome *o)
{
    free(o->base);
    free(o->final);
    cJSON_Delete(o->journal);
}

/* a string the journal's run event records of the device ("" if none) */
static const char *journal_device(const cJSON *journal, const char *key)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, journal) {
        const cJSON *ev = cJSON_GetObjectItem(e, "event");
        if (!cJSON_IsString(ev) || strcmp(ev->valuestring, "run")) continue;
        const cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(e, "device"), key);
        return cJSON_IsString(a) ? a->valuestring : "";
    }
    return "";
}

/* Compare the two runs of one strategy. */
static void compare(const char *what, const outcome *c, const outcome *g, double ppl_tol, double cos_min,
                    double norm_tol)
{
    /* every eval cell of the CPU journal, found in the GPU journal */
    int cells = 0;
    double worst = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, c->journal) {
        const cJSON *ev = cJSON_GetObjectItem(e, "event");
        if (!cJSON_IsString(ev) || strcmp(ev->valuestring, "eval")) continue;
        const char *model = cJSON_GetObjectItem(e, "model")->valuestring;
        const char *domain = cJSON_GetObjectItem(e, "domain")->valuestring;
        double pc = cJSON_GetObjectItem(e, "ppl")->valuedouble, pg = fix_cell(g->journal, model, domain);
        double rel = pg > 0 ? fabs(pg - pc) / pc : INFINITY;
        CHECK_MSG(rel <= ppl_tol, "%s: cell %s/%s ppl cpu %.6f cuda %.6f (rel %.2e > %.1e)", what, model,
                  domain, pc, pg, rel, ppl_tol);
        if (rel > worst) worst = rel;
        cells++;
    }
    CHECK_MSG(cells >= 9, "%s: only %d eval cells in the CPU journal", what, cells);
    CHECK_MSG(fix_count(g->journal, "eval") == cells, "%s: %d cells on the GPU, %d on the CPU", what,
              fix_count(g->journal, "eval"), cells);

    /* the same base, then the same change */
    double base_d = 0, dc2 = 0, dg2 = 0, dcg = 0;
    for (size_t i = 0; i < c->n; i++) {
        base_d = fmax(base_d, fabs((double)c->base[i] - g->base[i]));
        double dc = (double)c->final[i] - c->base[i], dg = (double)g->final[i] - g->base[i];
        dc2 += dc * dc;
        dg2 += dg * dg;
        dcg += dc * dg;
    }
    double cos = dc2 > 0 && dg2 > 0 ? dcg / sqrt(dc2 * dg2) : 0;
    double norm_rel = dc2 > 0 ? fabs(sqrt(dg2) - sqrt(dc2)) / sqrt(dc2) : INFINITY;
    printf("  %-22s %2d cells, worst ppl rel %.2e (tol %.1e); update cosine %.6f (min %.4f), "
           "norm rel %.2e (tol %.1e)\n",
           what, cells, worst, ppl_tol, cos, cos_min, norm_rel, norm_tol);
    CHECK_MSG(base_d == 0, "%s: the two runs start from different weights (max |d| %g)", what, base_d);
    CHECK_MSG(cos >= cos_min, "%s: weight-update cosine %.6f < %.4f", what, cos, cos_min);
    CHECK_MSG(norm_rel <= norm_tol, "%s: weight-update norms differ by %.2e", what, norm_rel);
}

int main(void)
{
    const clpt_backend *gpu = clpt_backend_cuda();
    if (!gpu) SKIP_TEST("no GPU: %s", clpt_errmsg());
    const char *corpus = fix_corpus();
    if (!corpus) return 1;
    clpt_config cfg;
    fix_config(&cfg);

    static const char *none[1], *replay[] = {"ratio=0.25"}, *ewc[] = {"lambda=100", "fisher_batches=4"},
                      *agem[] = {"memory=8", "ref_rows=4"};
    struct { const char *strategy, *const *opts; int n; } cases[] = {
        {"sequential", none, 0}, {"replay", replay, 1}, {"ewc", ewc, 2}, {"agem", agem, 2}};
    /* GEMM precision, attention kernels, activation format (as the config
     * names it, then as the journal records it) and GELU fusion (NULL: as
     * set): bounds (ppl rel, update cosine, update norm rel). First clpt's
     * defaults, untouched (bf16 activations, cudnn attention where it can
     * run, GELU fused, fp32 logits); then fp32 everywhere, bf16 GEMMs, bf16
     * activations with mma and separate GELU, and those with bf16 logits in
     * training */
    struct { const char *gemm, *attn, *act, *recorded, *logits; int gelu; double ppl, cos, norm; } modes[] = {
        {NULL, NULL, "default", "bf16", "fp32", -1, 3e-2, 0.95, 5e-2},
        {"fp32", "simt", "fp32", "fp32", "fp32", 0, 1e-3, 0.999, 1e-2},
        {"bf16", "mma", "fp32", "fp32", "fp32", 0, 3e-2, 0.95, 5e-2},
        {"bf16", "mma", "bf16", "bf16", "fp32", 0, 3e-2, 0.95, 5e-2},
        {"bf16", "mma", "bf16", "bf16", "bf16", 0, 3e-2, 0.95, 5e-2},
        {"fp32", "simt", "fp32", "fp32", "bf16", 0, 1e-3, 0.999, 1e-2}}; /* fp32 GEMMs: not applied */
    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        if (modes[m].gemm) CHECK(clpt_cuda_set_gemm(modes[m].gemm) == 0);
        if (modes[m].attn) CHECK(clpt_cuda_set_attn(modes[m].attn) == 0);
        if (modes[m].gelu >= 0) clpt_cuda_set_gelu_fusion(modes[m].gelu);
        if (m > 0) CHECK(clpt_cuda_set_logits(modes[m].logits) == 0);
        const char *gm = modes[m].gemm ? modes[m].gemm : "default";
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            char what[80], name_c[80], name_g[80];
            snprintf(what, sizeof what, "%s/%s/act %s/logits %s", cases[k].strategy, gm, modes[m].act,
                     modes[m].logits);
            snprintf(name_c, sizeof name_c, "%s_%s_%s_%s_cpu", cases[k].strategy, gm, modes[m].act,
                     modes[m].logits);
            snprintf(name_g, sizeof name_g, "%s_%s_%s_%s_cuda", cases[k].strategy, gm, modes[m].act,
                     modes[m].logits);
            outcome c, g;
            int rc_c = run(&cfg, "cpu", "default", corpus, name_c, cases[k].strategy, cases[k].opts,
                           cases[k].n, &c);
            int rc_g = run(&cfg, "cuda", modes[m].act, corpus, name_g, cases[k].strategy, cases[k].opts,
                           cases[k].n, &g);
            CHECK_MSG(rc_c == 0 && rc_g == 0, "%s: run failed (cpu %d, cuda %d)", what, rc_c, rc_g);
            if (rc_c == 0 && rc_g == 0) compare(what, &c, &g, modes[m].ppl, modes[m].cos, modes[m].norm);
            const char *act = journal_device(g.journal, "activations"), *lg = journal_device(g.journal, "logits");
            CHECK_MSG(!strcmp(act, modes[m].recorded), "%s: the journal records activations '%s'", what, act);
            /* recorded only where bf16 logits apply: bf16 GEMM operands */
            const char *eff = clpt_cuda_logits_in_effect(!strcmp(act, "bf16") ? 2 : 4);
            CHECK_MSG(!strcmp(lg, strcmp(eff, "fp32") ? eff : ""), "%s: the journal records logits '%s'", what, lg);
            if (m == 4) CHECK(!strcmp(eff, "bf16"));
            if (m == 5) CHECK(!strcmp(eff, "fp32"));
            outcome_free(&c);
            outcome_free(&g);
        }
    }
    clpt_cuda_set_gemm("bf16");
    clpt_cuda_set_attn("auto");
    clpt_cuda_set_activations("bf16");
    clpt_cuda_set_gelu_fusion(-1);
    clpt_cuda_set_logits("fp32");
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", corpus);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", corpus);
    CHECK_DONE();
}

#else
int main(void)
{
    (void)check_failures;
    SKIP_TEST("built without CUDA");
}
#endif
