/* test_clrun_fixture.h - a tiny prepared corpus and configuration for the
 * run-engine and strategy tests (header-only; include after check.h).
 *
 * Corpus: 3 domains "alpha", "beta", "gamma" (orders 0, 1, 2) over a
 * 64-token vocabulary; domain d uses only tokens FIX_LO(d)..FIX_HI(d), so a
 * window's tokens tell which domain it came from. Each domain's text follows
 * its own simple rule (next = a_d * prev + c_d within its range, with 10%
 * noise), so the model learns, and forgets, something. Splits: train
 * FIX_TRAIN tokens (FIX_W windows of T = 16), valid and test 65 tokens.
 * Model: 2 layers, 2 heads, 32 channels, n_ctx 32; B = 4, one epoch per
 * domain (FIX_W / 4 steps), AdamW lr 1e-3 without weight decay; one thread
 * (the model is too small for OpenMP to pay, and the machine is shared). */
#ifndef CLPT_TEST_CLRUN_FIXTURE_H
#define CLPT_TEST_CLRUN_FIXTURE_H

/* the including file defines _XOPEN_SOURCE 700 first (mkdtemp) */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clpt.h"
#include "clrun.h"
#include "config.h"
#include "fsutil.h"
#include "manifest.h"
#include "model.h"
#include "rng.h"
#include "sha256.h"
#include "shard.h"

/* not every test uses every helper */
#define FIX_UNUSED __attribute__((unused))

#define FIX_T 16
#define FIX_B 4
#define FIX_W 24                          /* train windows per domain */
#define FIX_TRAIN (FIX_W * FIX_T + 1)
#define FIX_EVAL 65
#define FIX_LO(d) (1 + 20 * (d))
#define FIX_HI(d) (20 + 20 * (d))

FIX_UNUSED static const char *fix_names[3] = {"alpha", "beta", "gamma"};

/* the domain a token belongs to, or -1 */
FIX_UNUSED static int fix_domain_of(int tok)
{
    return tok >= 1 && tok <= 60 ? (tok - 1) / 20 : -1;
}

FIX_UNUSED static void fix_tokens(uint16_t *t, int n, int d, uint64_t seed)
{
    clpt_rng r;
    clpt_rng_seed(&r, seed * 7 + d);
    int a = 3 + 2 * d, c = 1 + 5 * d, prev = 0;
    for (int i = 0; i < n; i++) {
        int x = clpt_rng_uniform(&r) < 0.1 ? (int)clpt_rng_below(&r, 20) : (a * prev + c) % 20;
        prev = x;
        t[i] = (uint16_t)(FIX_LO(d) + x);
    }
}

FIX_UNUSED static int fix_write_split(clpt_manifest *m, const char *dir, int d, int split, int n)
{
    char file[64], *path;
    uint16_t *t = malloc(n * sizeof *t);
    snprintf(file, sizeof file, "%s_%s.bin", fix_names[d], clpt_split_name(split));
    path = clpt_fs_join(dir, file);
    fix_tokens(t, n, d, 11 + split);
    char hex[65];
    int rc = clpt_shard_write(path, t, n);
    if (!rc) rc = clpt_sha256_file(path, hex);
    if (!rc) rc = clpt_manifest_add_shard(m, d, split, file, n, hex);
    free(t);
    free(path);
    return rc;
}

/* A fresh temporary directory holding the corpus (manifest.json + shards);
 * returns its path (static buffer) or NULL. */
FIX_UNUSED static const char *fix_corpus(void)
{
    static char dir[64];
    snprintf(dir, sizeof dir, "/tmp/clpt_clrun_XXXXXX");
    if (!mkdtemp(dir)) return NULL;
    clpt_manifest *m;
    int rc = clpt_manifest_new(&m, dir);
    if (!rc) rc = clpt_manifest_set_tokenizer(m, "tokenizer", "", 64, 0);
    for (int d = 0; d < 3 && !rc; d++) {
        char l1[16];
        snprintf(l1, sizeof l1, "field%d", d / 2);
        rc = clpt_manifest_add_domain(m, fix_names[d], l1, fix_names[d], d, NULL);
        if (!rc) rc = fix_write_split(m, dir, d, CLPT_SPLIT_TRAIN, FIX_TRAIN);
        if (!rc) rc = fix_write_split(m, dir, d, CLPT_SPLIT_VALID, FIX_EVAL);
        if (!rc) rc = fix_write_split(m, dir, d, CLPT_SPLIT_TEST, FIX_EVAL);
    }
    if (!rc) rc = clpt_manifest_write(m, NULL);
    clpt_manifest_free(m);
    if (rc) fprintf(stderr, "fixture: %s\n", clpt_errmsg());
    return rc ? NULL : dir;
}

FIX_UNUSED static void fix_config(clpt_config *c)
{
    static const char *kv[] = {
        "model.preset=tiny", "model.n_layer=2", "model.n_head=2", "model.n_embd=32", "model.n_ctx=32",
        "model.vocab_size=64", "train.batch_size=4", "train.seq_len=16", "train.epochs=1",
        "train.log_every=1", "optim.lr=1e-3", "optim.weight_decay=0", "eval.batch_size=4",
        "runtime.backend=cpu", "runtime.progress=never", "runtime.threads=1",
    };
    clpt_config_defaults(c);
    for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
        if (clpt_config_set_arg(c, kv[i], "test")) fprintf(stderr, "fixture: %s\n", clpt_errmsg());
    if (clpt_config_validate(c)) fprintf(stderr, "fixture: %s\n", clpt_errmsg());
}

/* Options for a run of `strategy` in <corpus>/<name>. */
FIX_UNUSED static clpt_clrun_opts fix_opts(const clpt_config *c, const char *corpus, const char *name,
                                const char *strategy, const char *const *options, int n_options)
{
    static char dirs[8][256];
    static int k;
    char *dir = dirs[k++ % 8];
    snprintf(dir, 256, "%s/%s", corpus, name);
    /* the good test plugins by file: their directory also holds broken ones */
    static const char *paths[] = {CLPT_PLUGIN_BUILD_DIR "/../plugins/tests/good.so",
                                  CLPT_PLUGIN_BUILD_DIR "/../plugins/tests/merge.so"};
    clpt_clrun_opts o = {.config = c, .data = corpus, .strategy = strategy, .options = options,
                         .n_options = n_options, .dir = dir, .plugin_paths = paths, .n_plugin_paths = 2};
    return o;
}

/* Open, run everything, keep the final parameters (malloc'ed) and close. */
FIX_UNUSED static float *fix_run_all(const clpt_clrun_opts *o, size_t *n_params)
{
    clpt_clrun *r;
    if (clpt_clrun_open(&r, o)) {
        fprintf(stderr, "open %s: %s\n", o->dir, clpt_errmsg());
        return NULL;
    }
    float *p = NULL;
    if (clpt_clrun_run_all(r)) {
        fprintf(stderr, "run %s: %s\n", o->dir, clpt_errmsg());
    } else {
        *n_params = clpt_model_nparams(clpt_clrun_model(r));
        p = malloc(*n_params * sizeof *p);
        clpt_model_get_params(clpt_clrun_model(r), p);
    }
    clpt_clrun_close(r);
    return p;
}

/* The journal's events as parsed objects (array; caller deletes). */
FIX_UNUSED static cJSON *fix_journal(const char *run_dir)
{
    char *path = clpt_fs_join(run_dir, "journal.jsonl"), *text = NULL;
    cJSON *all = cJSON_CreateArray();
    if (clpt_fs_read_file(path, 1 << 26, &text, NULL) == 0) {
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
            cJSON *o = cJSON_Parse(line);
            if (o) cJSON_AddItemToArray(all, o);
        }
    }
    free(text);
    free(path);
    return all;
}

FIX_UNUSED static int fix_count(const cJSON *journal, const char *event)
{
    int n = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, journal) {
        const cJSON *e = cJSON_GetObjectItem(o, "event");
        if (cJSON_IsString(e) && !strcmp(e->valuestring, event)) n++;
    }
    return n;
}

/* ppl of a cell in a journal, or -1 */
FIX_UNUSED static double fix_cell(const cJSON *journal, const char *model, const char *domain)
{
    const cJSON *o;
    cJSON_ArrayForEach(o, journal) {
        const cJSON *e = cJSON_GetObjectItem(o, "event"), *m = cJSON_GetObjectItem(o, "model"),
                    *d = cJSON_GetObjectItem(o, "domain");
        if (!strcmp(e->valuestring, "eval") && !strcmp(m->valuestring, model) && !strcmp(d->valuestring, domain))
            return cJSON_GetObjectItem(o, "ppl")->valuedouble;
    }
    return -1;
}

/* ---- resume (for tests that include check.h first) ------------------------------------------------------------------------ */

typedef struct fix_stopper { int index, step; } fix_stopper;

FIX_UNUSED static int fix_stop_at_domain_end(void *ud, clpt_clrun *r, const clpt_clrun_event *ev)
{
    (void)r;
    return ev->index == ((fix_stopper *)ud)->index ? CLPT_CLRUN_STOPPED : 0;
}

FIX_UNUSED static int fix_stop_at_step(void *ud, clpt_clrun *r, const clpt_clrun_event *ev)
{
    (void)r;
    const fix_stopper *s = ud;
    return ev->index == s->index && ev->step == s->step ? CLPT_CLRUN_STOPPED : 0;
}

/* run o to the end in pieces: stop once as `s` says, reopen, finish */
FIX_UNUSED static float *fix_run_interrupted(const clpt_clrun_opts *o, fix_stopper *s, int at_step, size_t *n)
{
    clpt_clrun *r;
    CHECK(clpt_clrun_open(&r, o) == 0);
    if (at_step) CHECK(clpt_clrun_set_hook(r, CLPT_CLRUN_STEP, 1, fix_stop_at_step, s) == 0);
    else CHECK(clpt_clrun_set_hook(r, CLPT_CLRUN_DOMAIN_END, 0, fix_stop_at_domain_end, s) == 0);
    CHECK(clpt_clrun_run_all(r) == CLPT_CLRUN_STOPPED);
    CHECK(clpt_clrun_done(r) == (at_step ? s->index - 1 : s->index));
    clpt_clrun_close(r);
    return fix_run_all(o, n);
}

FIX_UNUSED static void fix_same_cells(const char *dir_a, const char *dir_b)
{
    cJSON *a = fix_journal(dir_a), *b = fix_journal(dir_b);
    CHECK(fix_count(a, "eval") == fix_count(b, "eval"));
    const char *models[] = {"after:1", "after:2", "after:3"};
    for (int m = 0; m < 3; m++)
        for (int d = 0; d < 3; d++) {
            double pa = fix_cell(a, models[m], fix_names[d]), pb = fix_cell(b, models[m], fix_names[d]);
            CHECK_MSG(pa > 0 && pa == pb, "%s on %s: %.17g vs %.17g", models[m], fix_names[d], pa, pb);
        }
    cJSON_Delete(a);
    cJSON_Delete(b);
}

/* The same run three ways - uninterrupted, stopped after domain 2, stopped
 * at step `stop` of domain 2 (with a checkpoint at step stop - 1) - must end
 * with bitwise equal weights and evaluation cells. */
FIX_UNUSED static void fix_test_resume(const clpt_config *cfg, const char *corpus, const char *strategy,
                                                    const char *const *opts, int n_opts, const char *tag, int stop)
{
    char name[64];
    size_t n = 0, n2 = 0, n3 = 0;
    snprintf(name, sizeof name, "%s-full", tag);
    clpt_clrun_opts full = fix_opts(cfg, corpus, name, strategy, opts, n_opts);
    float *a = fix_run_all(&full, &n);
    snprintf(name, sizeof name, "%s-between", tag);
    clpt_clrun_opts between = fix_opts(cfg, corpus, name, strategy, opts, n_opts);
    fix_stopper s1 = {2, 0};
    float *b = fix_run_interrupted(&between, &s1, 0, &n2);
    snprintf(name, sizeof name, "%s-inside", tag);
    clpt_clrun_opts inside = fix_opts(cfg, corpus, name, strategy, opts, n_opts);
    inside.save_every = stop - 1;   /* a checkpoint, then a stop a step later */
    fix_stopper s2 = {2, stop};
    float *c = fix_run_interrupted(&inside, &s2, 1, &n3);
    CHECK(a && b && c && n == n2 && n == n3);
    if (a && b) CHECK_MSG(memcmp(a, b, n * sizeof *a) == 0, "%s: resumed between domains differs", tag);
    if (a && c) CHECK_MSG(memcmp(a, c, n * sizeof *a) == 0, "%s: resumed inside a domain differs", tag);
    fix_same_cells(full.dir, between.dir);
    fix_same_cells(full.dir, inside.dir);
    free(a);
    free(b);
    free(c);
}

FIX_UNUSED static void fix_cleanup(const char *corpus)
{
    if (corpus && !getenv("CLPT_KEEP_TMP")) clpt_fs_remove_tree(corpus);
}

#endif
