/* test_strategy_agem.c - `agem`: after every step of a later domain the
 * applied gradient has a non-negative dot product with the memory's
 * reference gradient (the plugin reports the cosine after projection and
 * whether it projected); projections do happen in this setting, so the
 * check is not vacuous. */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "test_clrun_fixture.h"

int main(void)
{
    const char *corpus = fix_corpus();
    if (!corpus) return 1;
    clpt_config cfg;
    fix_config(&cfg);
    CHECK(clpt_config_set_arg(&cfg, "train.epochs=2", "test") == 0);
    const char *opts[] = {"memory=8", "ref_rows=4"};
    clpt_clrun_opts o = fix_opts(&cfg, corpus, "agem", "agem", opts, 2);
    o.eval.kind = CLPT_EVALSET_NONE;
    size_t n;
    free(fix_run_all(&o, &n));
    cJSON *j = fix_journal(o.dir);
    const cJSON *ev;
    int steps = 0, projected = 0, first = 0;
    double worst = 1;
    cJSON_ArrayForEach(ev, j) {
        const cJSON *m = cJSON_GetObjectItem(ev, "metrics");
        if (!m) continue;
        int index = cJSON_GetObjectItem(ev, "index")->valueint;
        if (index == 1) { first++; continue; }
        double cos = cJSON_GetObjectItem(m, "agem_cos_after")->valuedouble;
        double dot = cJSON_GetObjectItem(m, "agem_dot")->valuedouble;
        int proj = cJSON_GetObjectItem(m, "agem_projected")->valueint;
        CHECK_MSG(cos >= -1e-4, "domain %d step %d: cosine %g with the memory gradient after projection", index,
                  cJSON_GetObjectItem(ev, "step")->valueint, cos);
        CHECK_MSG(proj == (dot < 0), "projected %d with g.g_ref %g", proj, dot);
        if (cos < worst) worst = cos;
        steps++;
        projected += proj;
    }
    fprintf(stderr, "agem: %d steps, %d projected, smallest cosine after %g\n", steps, projected, worst);
    CHECK(first == 0);   /* no memory yet in domain 1: nothing to report */
    CHECK(steps == 2 * 2 * FIX_W / FIX_B);
    CHECK_MSG(projected > 0, "no step was projected: the test shows nothing");
    cJSON_Delete(j);
    if (!check_failures) fix_cleanup(corpus);
    CHECK_DONE();
}
