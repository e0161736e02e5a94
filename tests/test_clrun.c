/* test_clrun.c - the run engine on a tiny 3-domain corpus: the journal's
 * events, cached evaluation cells, resume after a stop between domains and
 * inside a domain (same weights and cells as an uninterrupted run), the
 * hooks' order as a plugin sees it, refusals (other strategy, options,
 * recipe), a torn journal line, an evaluation-only run, DAPT-style labels,
 * later evaluation of kept checkpoints, and the cell index at the size of
 * the study's 159 x 160 grid. */
#define _XOPEN_SOURCE 700
#include <time.h>

#include "check.h"
#include "clrun_impl.h"
#include "test_clrun_fixture.h"

static const char *corpus;
static clpt_config cfg;

static const cJSON *nth_event(const cJSON *j, const char *event, int n)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, j) {
        if (strcmp(cJSON_GetObjectItem(o, "event")->valuestring, event)) continue;
        if (n-- == 0) return o;
    }
    return NULL;
}

static void test_journal(void)
{
    clpt_clrun_opts o = fix_opts(&cfg, corpus, "seq", "sequential", NULL, 0);
    o.eval_base = 1;
    size_t n;
    float *p = fix_run_all(&o, &n);
    CHECK(p != NULL);
    cJSON *j = fix_journal(o.dir);
    int steps = FIX_W / FIX_B;
    CHECK(fix_count(j, "run") == 1);
    CHECK(fix_count(j, "domain_begin") == 3);
    CHECK(fix_count(j, "domain_end") == 3);
    CHECK(fix_count(j, "train") == 3 * steps);
    CHECK(fix_count(j, "eval") == 3 + 9);   /* base + after:1..3 on all 3 domains */
    CHECK(fix_count(j, "run_end") == 1);
    const cJSON *run = nth_event(j, "run", 0);
    CHECK(run && !strcmp(cJSON_GetObjectItem(run, "strategy")->valuestring, "sequential"));
    CHECK(run && cJSON_GetArraySize(cJSON_GetObjectItem(run, "schedule")) == 3);
    CHECK(run && cJSON_IsFalse(cJSON_GetObjectItem(run, "resumed")));
    CHECK(run && cJSON_GetObjectItem(cJSON_GetObjectItem(run, "config"), "optim") != NULL);
    CHECK(run && cJSON_GetObjectItem(cJSON_GetObjectItem(run, "model"), "params") != NULL);
    const cJSON *de = nth_event(j, "domain_end", 1);
    CHECK(de && cJSON_GetObjectItem(de, "index")->valueint == 2);
    CHECK(de && !strcmp(cJSON_GetObjectItem(de, "domain")->valuestring, "beta"));
    CHECK(de && cJSON_GetObjectItem(de, "steps")->valueint == steps);
    CHECK(de && !strcmp(cJSON_GetObjectItem(de, "checkpoint")->valuestring, "checkpoints/latest"));
    const cJSON *tr = nth_event(j, "train", steps); /* first step of domain 2 */
    CHECK(tr && cJSON_GetObjectItem(tr, "step")->valueint == 1);
    CHECK(tr && cJSON_GetObjectItem(tr, "global_step")->valueint == steps + 1);
    CHECK(tr && cJSON_GetObjectItem(tr, "tokens")->valueint == FIX_B * FIX_T);
    /* learning happened: M1 beats M0 on alpha; every cell has an index */
    double zs = fix_cell(j, "base", "alpha"), cpt = fix_cell(j, "after:1", "alpha");
    CHECK_MSG(zs > 0 && cpt > 0 && cpt < zs, "zs %g cpt %g", zs, cpt);
    const cJSON *ev = nth_event(j, "eval", 3);
    CHECK(ev && !strcmp(cJSON_GetObjectItem(ev, "model")->valuestring, "after:1"));
    CHECK(ev && cJSON_GetObjectItem(ev, "index")->valueint == 1);
    CHECK(ev && cJSON_GetObjectItem(ev, "tokens")->valueint == FIX_EVAL - 1);
    CHECK(ev && !strcmp(cJSON_GetObjectItem(ev, "split")->valuestring, "test"));
    cJSON_Delete(j);

    /* reopening a finished run computes nothing and appends only `run` */
    clpt_clrun *r;
    CHECK(clpt_clrun_open(&r, &o) == 0);
    CHECK(clpt_clrun_done(r) == 3 && clpt_clrun_finished(r));
    clpt_eval_result e;
    CHECK(clpt_clrun_cell(r, "after:3", 1, CLPT_SPLIT_TEST, &e) == 1 && e.ppl > 1);
    CHECK(clpt_clrun_eval(r, "after:3", 1, CLPT_SPLIT_TEST, &e) == 0);
    CHECK(clpt_clrun_run_all(r) == 0);
    /* a new cell on the current weights (M3), computed once */
    CHECK(clpt_clrun_eval(r, "after:3", 1, CLPT_SPLIT_VALID, &e) == 0 && e.tokens == FIX_EVAL - 1);
    /* M1 is gone without keep_checkpoints, and says why */
    CHECK(clpt_clrun_eval(r, "after:1", 0, CLPT_SPLIT_VALID, NULL) == CLPT_ESTATE);
    CHECK(strstr(clpt_errmsg(), "keep_checkpoints") != NULL);
    float *q = malloc(n * sizeof *q);
    clpt_model_get_params(clpt_clrun_model(r), q);
    CHECK(p && memcmp(p, q, n * sizeof *q) == 0);
    clpt_clrun_close(r);
    j = fix_journal(o.dir);
    CHECK(fix_count(j, "run") == 2 && fix_count(j, "eval") == 13 && fix_count(j, "train") == 3 * steps);
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(nth_event(j, "run", 1), "resumed")));
    CHECK(cJSON_GetObjectItem(nth_event(j, "run", 1), "device_changed") == NULL);
    cJSON_Delete(j);

    /* resumed on other numerics: said on stderr and recorded */
    clpt_config c2 = cfg;
    CHECK(clpt_config_set_arg(&c2, "runtime.backend=cpu-bf16", "test") == 0);
    clpt_clrun_opts o2 = o;
    o2.config = &c2;
    CHECK(clpt_clrun_open(&r, &o2) == 0);
    clpt_clrun_close(r);
    j = fix_journal(o.dir);
    const cJSON *r2 = nth_event(j, "run", 2);
    CHECK(r2 && cJSON_IsTrue(cJSON_GetObjectItem(r2, "device_changed")));
    CHECK(r2 && !strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(r2, "device"), "backend")->valuestring, "cpu-bf16"));
    cJSON_Delete(j);
    free(p);
    free(q);
}

/* the plugin's view: hook order and its state across a resume */
static void test_plugin_trace(void)
{
    char trace[256], opt[300];
    snprintf(trace, sizeof trace, "%s/trace.txt", corpus);
    snprintf(opt, sizeof opt, "trace=%s", trace);
    const char *opts[] = {opt};
    fix_test_resume(&cfg, corpus, "testgood", opts, 1, "good", 3);
    /* the last of the three runs wrote the trace: interrupted inside domain 2 */
    remove(trace);
    clpt_clrun_opts o = fix_opts(&cfg, corpus, "good-trace", "testgood", opts, 1);
    fix_stopper s = {2, 3};
    size_t n;
    free(fix_run_interrupted(&o, &s, 1, &n));
    char *text = NULL;
    CHECK(clpt_fs_read_file(trace, 1 << 20, &text, NULL) == 0);
    const char *want =
        "run_begin pos=-1 step=0 steps=0 composes=0\n"
        "domain_begin pos=0 step=0 steps=0 composes=0\n"
        "domain_end pos=0 step=6 steps=6 composes=6\n"
        "domain_begin pos=1 step=0 steps=6 composes=6\n"
        "run_begin resumed pos=-1 step=0 steps=9 composes=9\n"
        "domain_end pos=1 step=6 steps=12 composes=12\n"
        "domain_begin pos=2 step=0 steps=12 composes=12\n"
        "domain_end pos=2 step=6 steps=18 composes=18\n"
        "run_end pos=-1 step=0 steps=18 composes=18\n";
    CHECK_MSG(text && !strcmp(text, want), "trace:\n%s", text ? text : "(none)");
    free(text);
}

/* ---- refusals and repairs ---------------------------------------------------------- */

static void test_refusals(void)
{
    clpt_clrun *r;
    const char *o1[] = {"reset_optimizer=true"};
    clpt_clrun_opts o = fix_opts(&cfg, corpus, "seq", "sequential", o1, 1);
    CHECK(clpt_clrun_open(&r, &o) == CLPT_ESTATE);
    CHECK(strstr(clpt_errmsg(), "another strategy options") != NULL);
    clpt_config changed = cfg;
    CHECK(clpt_config_set_arg(&changed, "optim.lr=2e-3", "test") == 0);
    o = fix_opts(&changed, corpus, "seq", "sequential", NULL, 0);
    CHECK(clpt_clrun_open(&r, &o) == CLPT_ESTATE);
    CHECK_MSG(strstr(clpt_errmsg(), "the run was started with optim.lr = 0.001, now it is 0.002"), "%s",
              clpt_errmsg());
    o = fix_opts(&cfg, corpus, "seq", "l2", NULL, 0);
    CHECK(clpt_clrun_open(&r, &o) == CLPT_ESTATE);
    CHECK(strstr(clpt_errmsg(), "another strategy") != NULL);
    const char *bad[] = {"bogus=1"};
    o = fix_opts(&cfg, corpus, "x", "sequential", bad, 1);
    CHECK(clpt_clrun_open(&r, &o) == CLPT_ECONFIG);
    CHECK(strstr(clpt_errmsg(), "unknown option 'bogus'; valid options: reset_optimizer, lr_schedule") != NULL);
    o = fix_opts(&cfg, corpus, "x", "nosuch", NULL, 0);
    CHECK(clpt_clrun_open(&r, &o) == CLPT_ECONFIG);
    CHECK(strstr(clpt_errmsg(), "unknown strategy 'nosuch'; found: ") != NULL);
    int sched[] = {0, 7};
    o = fix_opts(&cfg, corpus, "y", "sequential", NULL, 0);
    o.schedule = sched;
    o.n_schedule = 2;
    CHECK(clpt_clrun_open(&r, &o) == CLPT_EINVAL);
    /* out of order */
    o.n_schedule = 1;
    CHECK(clpt_clrun_open(&r, &o) == 0);
    CHECK(clpt_clrun_train_domain(r, 2) == CLPT_EINVAL);
    CHECK(clpt_clrun_eval_after(r, 1) == CLPT_ESTATE);
    CHECK(clpt_clrun_finish(r) == CLPT_ESTATE);
    clpt_clrun_close(r);
}

static void test_torn_line(void)
{
    clpt_clrun_opts o = fix_opts(&cfg, corpus, "torn", "sequential", NULL, 0);
    o.eval.kind = CLPT_EVALSET_CURRENT;
    fix_stopper s = {1, 0};
    clpt_clrun *r;
    CHECK(clpt_clrun_open(&r, &o) == 0);
    CHECK(clpt_clrun_set_hook(r, CLPT_CLRUN_DOMAIN_END, 0, fix_stop_at_domain_end, &s) == 0);
    CHECK(clpt_clrun_run_all(r) == CLPT_CLRUN_STOPPED);
    clpt_clrun_close(r);
    char *path = clpt_fs_join(o.dir, "journal.jsonl");
    FILE *f = fopen(path, "a");
    fputs("{\"v\":1,\"event\":\"eval\",\"zzz", f);   /* a kill mid-write */
    fclose(f);
    size_t n;
    free(fix_run_all(&o, &n));
    cJSON *j = fix_journal(o.dir);
    CHECK(fix_count(j, "eval") == 3 && fix_count(j, "run_end") == 1);
    cJSON_Delete(j);
    char *text;
    CHECK(clpt_fs_read_file(path, 1 << 20, &text, NULL) == 0);
    CHECK(strstr(text, "zzz") == NULL);
    free(text);
    /* a tail of zero bytes (what some file systems leave after a crash) is
     * cut too: the run reopens twice, the second time over what the first
     * appended */
    size_t before = 0;
    CHECK(clpt_fs_read_file(path, 1 << 20, &text, &before) == 0);
    free(text);
    f = fopen(path, "a");
    static const char zeros[16];
    fwrite(zeros, 1, sizeof zeros, f);
    fclose(f);
    for (int k = 0; k < 2; k++) {
        CHECK_MSG(clpt_clrun_open(&r, &o) == 0, "reopen %d: %s", k, clpt_errmsg());
        if (r) clpt_clrun_close(r);
    }
    size_t after = 0;
    CHECK(clpt_fs_read_file(path, 1 << 20, &text, &after) == 0);
    CHECK_MSG(after > before && memchr(text, 0, after) == NULL, "zero bytes left in the journal (%zu -> %zu)",
              before, after);
    free(text);
    free(path);
}

/* an evaluation-only run ("zs"), and dapt-style labels */
static void test_eval_only(void)
{
    clpt_clrun_opts o = fix_opts(&cfg, corpus, "zs", "none", NULL, 0);
    size_t n;
    free(fix_run_all(&o, &n));
    cJSON *z = fix_journal(o.dir), *s = fix_journal(fix_opts(&cfg, corpus, "seq", NULL, NULL, 0).dir);
    CHECK(fix_count(z, "eval") == 3 && fix_count(z, "run_end") == 1 && fix_count(z, "train") == 0);
    for (int d = 0; d < 3; d++) CHECK(fix_cell(z, "base", fix_names[d]) == fix_cell(s, "base", fix_names[d]));
    cJSON_Delete(z);
    cJSON_Delete(s);

    o = fix_opts(&cfg, corpus, "dapt", "finetune", NULL, 0);
    o.eval.kind = CLPT_EVALSET_CURRENT;
    o.eval_label = "dapt:{domain}";
    free(fix_run_all(&o, &n));
    cJSON *d = fix_journal(o.dir);
    CHECK(fix_count(d, "eval") == 3 && fix_cell(d, "dapt:gamma", "gamma") > 0);
    CHECK(cJSON_GetObjectItem(nth_event(d, "eval", 0), "index") == NULL);
    cJSON_Delete(d);
}

/* keep_checkpoints: any M_n can be evaluated later, from checkpoints/after-<n> */
static void test_keep(void)
{
    clpt_clrun_opts o = fix_opts(&cfg, corpus, "keep", "sequential", NULL, 0);
    o.keep_checkpoints = 1;
    o.eval.kind = CLPT_EVALSET_NONE;
    size_t n;
    free(fix_run_all(&o, &n));
    clpt_clrun_opts v = fix_opts(&cfg, corpus, "keep-valid", "sequential", NULL, 0);
    v.eval.kind = CLPT_EVALSET_CURRENT;
    v.eval_split = "valid";
    free(fix_run_all(&v, &n));
    cJSON *j = fix_journal(v.dir);
    clpt_clrun *r;
    CHECK(clpt_clrun_open(&r, &o) == 0);
    for (int k = 1; k <= 3; k++) {
        char label[16];
        snprintf(label, sizeof label, "after:%d", k);
        clpt_eval_result e;
        CHECK(clpt_clrun_eval(r, label, k - 1, CLPT_SPLIT_VALID, &e) == 0);
        /* the journal's numbers are cJSON's: 15 significant digits when they re-read within an epsilon */
        double want = fix_cell(j, label, fix_names[k - 1]);
        CHECK_MSG(fabs(e.ppl - want) <= 1e-13 * want, "%s: %.17g vs %.17g", label, e.ppl, want);
    }
    clpt_clrun_close(r);
    cJSON_Delete(j);
    j = fix_journal(o.dir);
    const cJSON *de = nth_event(j, "domain_end", 0);
    CHECK(de && !strcmp(cJSON_GetObjectItem(de, "checkpoint")->valuestring, "checkpoints/after-1"));
    cJSON_Delete(j);
}

/* one writer per run folder: a second open of a run that is open is
 * refused, naming the folder; closing releases it */
static void test_lock(void)
{
    clpt_clrun_opts o = fix_opts(&cfg, corpus, "locked", "sequential", NULL, 0);
    o.eval.kind = CLPT_EVALSET_NONE;
    clpt_clrun *r = NULL, *r2 = NULL;
    CHECK(clpt_clrun_open(&r, &o) == 0);
    CHECK(clpt_clrun_open(&r2, &o) == CLPT_ESTATE && r2 == NULL);
    CHECK_MSG(strstr(clpt_errmsg(), "in use by another process") && strstr(clpt_errmsg(), o.dir), "%s",
              clpt_errmsg());
    clpt_clrun_close(r);
    CHECK_MSG(clpt_clrun_open(&r2, &o) == 0, "after close: %s", clpt_errmsg());
    clpt_clrun_close(r2);
}

/* 159 domains x 160 models x 2 splits: every cell found as itself, cells
 * never added not found, names that concatenate alike kept apart */
static void test_cell_index(void)
{
    clpt_clrun *r = calloc(1, sizeof *r);
    char model[32], domain[32];
    clpt_eval_result res = {0};
    int n = 0, ok = 1;
    clock_t t0 = clock();
    for (int m = 0; m < 160 && ok; m++)
        for (int d = 0; d < 159 && ok; d++)
            for (int s = 0; s < 2 && ok; s++) {
                snprintf(model, sizeof model, "after:%d", m);
                snprintf(domain, sizeof domain, "domain%d", d);
                res.ppl = n++;
                ok = clrun_cell_add(r, model, domain, s, &res, 0) == 0;
            }
    CHECK(ok && r->n_cells == n);
    for (int m = 0; m < 160; m++)
        for (int d = 0; d < 159; d++)
            for (int s = 0; s < 2; s++) {
                snprintf(model, sizeof model, "after:%d", m);
                snprintf(domain, sizeof domain, "domain%d", d);
                const clrun_cell *c = clrun_cell_find(r, model, domain, s);
                ok &= c && c->split == s && !strcmp(c->model, model) && !strcmp(c->domain, domain) &&
                      c->r.ppl == (double)((m * 159 + d) * 2 + s);
            }
    CHECK_MSG(ok, "every cell must be found as itself");
    CHECK(!clrun_cell_find(r, "after:160", "domain0", 0) && !clrun_cell_find(r, "after:0", "domain0", 2));
    CHECK(clrun_cell_add(r, "ab", "c", 0, &res, 0) == 0 && clrun_cell_add(r, "a", "bc", 0, &res, 0) == 0);
    const clrun_cell *x = clrun_cell_find(r, "ab", "c", 0), *y = clrun_cell_find(r, "a", "bc", 0);
    CHECK(x && y && x != y && !strcmp(x->model, "ab") && !strcmp(y->model, "a"));
    printf("cell index: %d cells added and found in %.2f s\n", r->n_cells, (double)(clock() - t0) / CLOCKS_PER_SEC);
    clrun_cells_free(r);
    free(r);
}

int main(void)
{
    test_cell_index();
    corpus = fix_corpus();
    if (!corpus) return 1;
    fix_config(&cfg);
    test_journal();
    test_refusals();
    fix_test_resume(&cfg, corpus, "sequential", NULL, 0, "seq", 3);
    test_plugin_trace();
    test_torn_line();
    test_eval_only();
    test_keep();
    test_lock();
    if (!check_failures) fix_cleanup(corpus);
    else fprintf(stderr, "kept %s\n", corpus);
    CHECK_DONE();
}
