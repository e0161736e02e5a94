/* clrun_eval.c - evaluation cells of a run: which weights a model label
 * names, the evaluation set after each domain, and the journal's cache. */
#define _POSIX_C_SOURCE 200809L
#include "clrun_impl.h"

#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "clpt.h"
#include "fsutil.h"
#include "progress.h"

int clrun_evalset(const clpt_clrun *r, int n, int **out, int *n_out)
{
    const clpt_clrun_evalset *e = &r->eval;
    int first = 0, count = 0;
    const int *from = r->schedule;
    switch (e->kind) {
    case CLPT_EVALSET_ALL: count = r->N; break;
    case CLPT_EVALSET_SEEN: count = n + e->next < r->N ? n + e->next : r->N; break;
    case CLPT_EVALSET_CURRENT: first = n - 1; count = 1; break;
    case CLPT_EVALSET_LIST: from = r->eval_list; count = e->n_domains; break;
    default: count = 0;
    }
    *out = malloc((count ? count : 1) * sizeof **out);
    if (!*out) return clpt_err(CLPT_ENOMEM, "out of memory");
    memcpy(*out, from + first, count * sizeof **out);
    *n_out = count;
    return 0;
}

/* "after:{n}" -> "after:3"; "dapt:{domain}" -> "dapt:cs.CL" */
static void label_for(const clpt_clrun *r, int n, char *buf, size_t size)
{
    const char *t = r->eval_label, *name = clpt_manifest_domain(r->man, r->schedule[n - 1])->name;
    size_t k = 0;
    for (; *t && k + 1 < size; t++) {
        if (!strncmp(t, "{n}", 3)) {
            k += snprintf(buf + k, size - k, "%d", n);
            t += 2;
        } else if (!strncmp(t, "{domain}", 8)) {
            k += snprintf(buf + k, size - k, "%s", name);
            t += 7;
        } else {
            buf[k++] = *t;
        }
        if (k >= size) k = size - 1;
    }
    buf[k] = 0;
}

/* ---- which weights a label means -------------------------------------------------- */

enum { W_CURRENT, W_BASE, W_CKPT };

static int weights_of(const clpt_clrun *r, const char *model, int *index, char **ckpt)
{
    *index = -1;
    *ckpt = NULL;
    if (!strcmp(model, "base")) {
        *index = 0;
        return W_BASE;
    }
    if (strncmp(model, "after:", 6)) return W_CURRENT;
    char *end;
    long n = strtol(model + 6, &end, 10);
    if (end == model + 6 || *end || n < 0 || n > r->N)
        return clpt_err(CLPT_EINVAL, "run %s: model '%s': after:<n> needs n in 0..%d", r->name, model, r->N);
    *index = (int)n;
    if (n == 0) return W_BASE;
    if (n == r->done && !r->cur) return W_CURRENT;
    char name[64];
    snprintf(name, sizeof name, "after-%ld", n);
    *ckpt = clpt_fs_join(r->ckpt_root, name);
    if (*ckpt && clpt_fs_is_dir(*ckpt)) return W_CKPT;
    free(*ckpt);
    *ckpt = NULL;
    return clpt_err(CLPT_ESTATE, "run %s: model '%s' is not available: the run has finished %d domains%s, and "
                    "earlier models are kept only with keep_checkpoints", r->name, model, r->done,
                    r->cur ? " and is inside the next" : "");
}

static void eval_progress(void *ud, uint64_t done, uint64_t total)
{
    (void)total;
    clpt_progress_update(ud, done, NULL);
}

static int evaluate(clpt_clrun *r, int domain, int split, clpt_eval_result *res)
{
    const clpt_config *c = &r->cfg;
    const clpt_source *src = r->src[split][domain];
    int B = c->eval.batch_size ? c->eval.batch_size : r->B;
    char what[200];
    const char *dname = clpt_manifest_domain(r->man, domain)->name;
    /* Inside a sweep over many domains: one line redrawn in place on a
     * terminal, and in logs only the sweep's summary (clpt_clrun_eval_after),
     * not a line per cell (the study's grid has 50,000 of them). */
    int sweep = r->sweep.n > 0;
    int tty = clpt_progress_tty(c->runtime.progress);
    if (sweep) snprintf(what, sizeof what, "eval %s %d/%d %s/%s", r->sweep.label, r->sweep.i + 1, r->sweep.n, dname,
                        clpt_split_name(split));
    else snprintf(what, sizeof what, "eval %s/%s", dname, clpt_split_name(split));
    clpt_progress_bar bar;
    uint64_t n = clpt_source_tokens(src);
    if (c->eval.max_tokens && (uint64_t)c->eval.max_tokens < n) n = (uint64_t)c->eval.max_tokens;
    int shown = !sweep || tty;
    if (shown) clpt_progress_init(&bar, what, "tok", n ? n - 1 : 0, c->runtime.progress, 0);
    int rc = clpt_evaluate(r->model, src, r->T, B, (uint64_t)c->eval.max_tokens, c->eval.rank, res,
                           shown ? eval_progress : NULL, shown ? &bar : NULL);
    if (shown && !sweep) clpt_progress_end(&bar);
    if (!rc && !res->tokens)
        rc = clpt_err(CLPT_EINVAL, "domain '%s': its %s split has no tokens to evaluate",
                      clpt_manifest_domain(r->man, domain)->name, clpt_split_name(split));
    return rc;
}

/* evaluate other weights than the current ones: swap them in and back */
static int evaluate_swapped(clpt_clrun *r, int which, const char *ckpt, int domain, int split,
                            clpt_eval_result *res)
{
    const clpt_backend *be = clpt_model_backend(r->model);
    size_t bytes = clpt_model_nparams(r->model) * sizeof(float);
    float *saved = be->alloc(bytes), *params = clpt_model_params(r->model);
    if (!saved) return clpt_err(CLPT_ENOMEM, "run %s: no memory to swap weights for an evaluation", r->name);
    be->copy(saved, params, bytes);
    int rc = 0;
    if (which == W_BASE) be->copy(params, r->host.base_v.d, bytes);
    else rc = clpt_ckpt_load_weights(r->model, ckpt);
    if (!rc) rc = evaluate(r, domain, split, res);
    be->copy(params, saved, bytes);
    be->free(saved);
    return rc;
}

static int journal_cell(clpt_clrun *r, const char *model, int index, int domain, int split,
                        const clpt_eval_result *e)
{
    const char *name = clpt_manifest_domain(r->man, domain)->name;
    cJSON *o = clrun_event_new(r, "eval");
    cJSON_AddStringToObject(o, "model", model);
    if (index >= 0) cJSON_AddNumberToObject(o, "index", index);
    cJSON_AddStringToObject(o, "domain", name);
    cJSON_AddStringToObject(o, "split", clpt_split_name(split));
    cJSON_AddNumberToObject(o, "ppl", e->ppl);
    cJSON_AddNumberToObject(o, "nll", e->nll);
    cJSON_AddNumberToObject(o, "tokens", (double)e->tokens);
    if (r->cfg.eval.rank) {
        cJSON_AddNumberToObject(o, "rank_mean", e->rank_mean);
        cJSON_AddNumberToObject(o, "rank_median", e->rank_median);
        cJSON_AddNumberToObject(o, "top1", e->top1);
    }
    int rc = clrun_journal_write(r, o);
    return rc ? rc : clrun_cell_add(r, model, name, split, e, r->cfg.eval.rank);
}

int clpt_clrun_cell(const clpt_clrun *r, const char *model, int domain, int split, clpt_eval_result *out)
{
    const clpt_domain *d = clpt_manifest_domain(r->man, domain);
    const clrun_cell *c = d && model ? clrun_cell_find(r, model, d->name, split) : NULL;
    if (c && out) *out = c->r;
    return c != NULL;
}

int clpt_clrun_eval(clpt_clrun *r, const char *model, int domain, int split, clpt_eval_result *out)
{
    if (!model || !*model) return clpt_err(CLPT_EINVAL, "run %s: no model label", r->name);
    if (domain < 0 || domain >= r->nd) return clpt_err(CLPT_EINVAL, "run %s: no domain %d", r->name, domain);
    if (split < 0 || split >= CLPT_NSPLITS) return clpt_err(CLPT_EINVAL, "run %s: no split %d", r->name, split);
    clpt_eval_result e;
    if (clpt_clrun_cell(r, model, domain, split, &e)) {
        if (out) *out = e;
        return 0;
    }
    int index;
    char *ckpt;
    int which = weights_of(r, model, &index, &ckpt);
    if (which < 0) return which;
    int rc = which == W_CURRENT ? evaluate(r, domain, split, &e) : evaluate_swapped(r, which, ckpt, domain, split, &e);
    free(ckpt);
    if (!rc) rc = journal_cell(r, model, index, domain, split, &e);
    if (rc) return clpt_err_wrap(rc, "run %s: evaluating %s on %s: ", r->name, model,
                                 clpt_manifest_domain(r->man, domain)->name);
    if (out) *out = e;
    clpt_clrun_event ev = {.event = CLPT_CLRUN_EVAL, .index = index > 0 ? index : 0, .domain = domain,
                           .domain_name = clpt_manifest_domain(r->man, domain)->name, .step = r->step,
                           .global_step = r->global_step, .model = model, .split = split, .eval = &e};
    return clrun_hook(r, &ev);
}

int clpt_clrun_eval_after(clpt_clrun *r, int n)
{
    if (n < 1 || n > r->N) return clpt_err(CLPT_EINVAL, "run %s: no schedule position %d (1..%d)", r->name, n, r->N);
    if (n > r->done) return clpt_err(CLPT_ESTATE, "run %s: domain %d is not trained yet", r->name, n);
    int *doms, nd, rc = clrun_evalset(r, n, &doms, &nd);
    char label[256];
    label_for(r, n, label, sizeof label);
    /* a custom label names the current weights; M_n must be them */
    if (!rc && strncmp(label, "after:", 6) && (n != r->done || r->cur))
        rc = clpt_err(CLPT_ESTATE, "run %s: '%s' can only be evaluated right after domain %d", r->name, label, n);
    r->sweep.n = nd;
    r->sweep.label = label;
    int computed = 0;
    uint64_t tokens = 0;
    double t0 = clpt_now();
    for (int i = 0; !rc && i < nd; i++) {
        clpt_eval_result e;
        int cells = r->n_cells; /* a computed cell is added; a journaled one is not */
        r->sweep.i = i;
        rc = clpt_clrun_eval(r, label, doms[i], r->eval_split, &e);
        if (!rc && r->n_cells > cells) computed++, tokens += e.tokens;
    }
    r->sweep.n = 0;
    free(doms);
    int tty0 = clpt_progress_tty(r->cfg.runtime.progress);
    if (rc && tty0) fputc('\n', stderr); /* end the line drawn in place before the error */
    if (computed) {
        double s = clpt_now() - t0;
        fprintf(stderr, "%seval %s: %d domain%s, %llu tok in %.1f s (%.0f tok/s)%s\n", tty0 ? "\r" : "", label,
                computed, computed == 1 ? "" : "s", (unsigned long long)tokens, s, s > 0 ? tokens / s : 0.0,
                tty0 ? "\033[K" : "");
    }
    return rc;
}
