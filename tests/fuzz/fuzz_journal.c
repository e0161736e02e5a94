/* fuzz_journal.c - libFuzzer target: arbitrary bytes as results journals
 * (docs/journal.md) read into one experiment, which is then walked.
 *
 * Input form: up to three journals separated by NUL bytes, parsed in turn
 * with clpt_experiment_parse (journal.c's in-memory reader, the one
 * clpt_experiment_add_journal uses) as the run directories /fuzz/exp/r0,
 * r1, r2: siblings, so their runs share one group and the ZS/DAPT cells are
 * looked up across them. Each journal is an exact-size heap copy, so a read
 * past its end is an ASan error. Touches no files.
 *
 * A failed parse must say why; whatever was read (even before a failure)
 * must be a consistent experiment: every string readable, every cell found
 * again by its key, the matrix computable for every measure.
 * Needs core/journal.c, fsutil.c, error.c and cJSON. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "journal.h"

static unsigned sink;

static void touch(const char *s)
{
    if (!s) abort();
    sink += (unsigned)strlen(s);
}

static void check_run(const clpt_experiment *e, int i)
{
    const clpt_jrun *r = clpt_experiment_run(e, i);
    if (!r) abort();
    touch(r->name);
    touch(r->dir);
    touch(r->journal);
    if (strncmp(r->dir, "/fuzz/exp/r", 11)) abort();
    if (r->strategy) touch(r->strategy);
    int f = clpt_experiment_find(e, r->name);
    if (f < 0 || f > i) abort();
    if (r->n_sched < 0 || (r->n_sched && !r->schedule)) abort();
    for (int k = 0; k < r->n_sched; k++) touch(r->schedule[k]);
    if (r->n_domains < r->n_sched || (r->n_domains && !r->domains)) abort();
    for (int k = 0; k < r->n_domains; k++) {
        const clpt_jdomain *d = &r->domains[k];
        if (d->index != k + 1) abort();
        if (d->domain) touch(d->domain);
        if (d->checkpoint) touch(d->checkpoint);
    }
    if (r->n_train < 0 || (r->n_train && !r->train)) abort();
    for (int k = 0; k < r->n_train; k++)   /* "domain" is optional in a train line */
        if (r->train[k].domain) touch(r->train[k].domain);
    if (r->n_cells < 0 || (r->n_cells && !r->cells)) abort();
    for (int k = 0; k < r->n_cells; k++) {
        const clpt_jcell *c = &r->cells[k];
        touch(c->model);
        touch(c->domain);
        touch(c->split);
        /* a cell is found again by its key; a rewritten cell keeps its last
         * value, so what is found is this one */
        if (clpt_experiment_cell(e, i, c->model, c->domain, c->split) != c) abort();
        if (!strcmp(c->split, "test") &&
            clpt_experiment_cell(e, i, c->model, c->domain, NULL) != c)
            abort();
    }
    if (r->torn_lines < 0) abort();

    for (int m = 0; m < CLPT_MEASURE_COUNT; m++) {
        if (!clpt_measure_name(m)) abort();
        double *zs = NULL, *dapt = NULL, *p = NULL;
        int full = r->n_sched <= 128;   /* N*N lookups: keep execs fast */
        int rc = clpt_experiment_matrix(e, i, m, NULL, &zs, &dapt, full ? &p : NULL);
        if (r->n_sched < 1) {
            if (rc != CLPT_EINVAL) abort();
            continue;
        }
        if (rc) abort();
        double acc = 0;
        for (int j = 0; j < r->n_sched; j++) acc += isnan(zs[j]) + isnan(dapt[j]);
        for (size_t j = 0; p && j < (size_t)r->n_sched * r->n_sched; j++) acc += isnan(p[j]);
        sink += (unsigned)acc;
        free(zs);
        free(dapt);
        free(p);
        if (!full) break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clpt_experiment *e = NULL;
    if (clpt_experiment_new(&e) || !e) abort();
    const uint8_t *p = data, *end = data + size;
    for (int j = 0; j < 3 && p <= end; j++) {
        const uint8_t *nul = j < 2 && p < end ? memchr(p, 0, (size_t)(end - p)) : NULL;
        size_t n = nul ? (size_t)(nul - p) : (size_t)(end - p);
        char *text = malloc(n ? n : 1);
        if (!text) abort();
        if (n) memcpy(text, p, n);
        char dir[32], name[48];
        snprintf(dir, sizeof dir, "/fuzz/exp/r%d", j);
        snprintf(name, sizeof name, "%s/journal.jsonl", dir);
        int rc = clpt_experiment_parse(e, text, n, name, dir);
        free(text);
        if (rc) {
            if (rc > 0 || strncmp(clpt_errmsg(), name, strlen(name))) abort();
            break;
        }
        if (!nul) break;
        p = nul + 1;
    }
    int nr = clpt_experiment_nruns(e);
    if (nr < 0 || clpt_experiment_run(e, -1) || clpt_experiment_run(e, nr)) abort();
    for (int i = 0; i < nr; i++) check_run(e, i);
    if (clpt_experiment_matrix(e, nr, 0, NULL, NULL, NULL, NULL) != CLPT_EINVAL) abort();
    clpt_experiment_free(e);
    return 0;
}
