/* ewc.c - elastic weight consolidation (Kirkpatrick et al. 2017) with a
 * diagonal empirical Fisher, and its online variant (Schwarz et al. 2018).
 *
 * At the end of each domain: F_new = mean over `fisher_batches` batches of
 * the squared gradient of the mean loss on `fisher_rows` training sequences
 * of that domain (fisher_rows = 1 gives per-sequence squared gradients, the
 * usual empirical Fisher), and the anchor θ* = the weights at that moment.
 * While training later domains the penalty λ/2 Σ_i F_i (θ_i − θ*_i)² is
 * applied as its gradient λ F ⊙ (θ − θ*), added after backward; its value is
 * reported as the metric "ewc_penalty".
 *   online = true : one (F, θ*) pair, F ← γ F + F_new, θ* ← the newest anchor.
 *   online = false: one pair per finished domain, all penalised (memory grows
 *                   by two parameter-sized buffers per domain).
 * With λ = 0 the training is exactly that of `sequential`: the Fisher batches
 * come from the host's sampler, not from the training data order. */
#include "clpt_plugin.h"

#include <stdlib.h>

static const clpt_option_desc options[] = {
    {.name = "lambda", .type = CLPT_OPT_FLOAT, .def = "100", .min = 0, .max = 1e12,
     .help = "Penalty strength λ."},
    {.name = "fisher_batches", .type = CLPT_OPT_INT, .def = "32", .min = 1, .max = 1000000,
     .help = "Batches the Fisher is averaged over at the end of a domain."},
    {.name = "fisher_rows", .type = CLPT_OPT_INT, .def = "1", .min = 1, .max = 65536,
     .help = "Sequences per Fisher batch; 1 = per-sequence squared gradients."},
    {.name = "online", .type = CLPT_OPT_BOOL, .def = "true",
     .help = "Online EWC: a single Fisher decayed by gamma and the latest anchor; false keeps "
             "one Fisher and anchor per domain."},
    {.name = "gamma", .type = CLPT_OPT_FLOAT, .def = "1.0", .min = 0, .max = 1,
     .help = "Online mode: decay of the accumulated Fisher at each new domain."},
};

typedef struct pair { clpt_vec *F, *anchor; } pair;

typedef struct ewc {
    double lambda, gamma;
    int batches, rows, online, T;
    pair *p;             /* online: p[0]; else one per finished domain */
    int np, cap;
    clpt_vec *diff, *sq; /* scratch */
    int *x, *y;
} ewc;

static void destroy(const clpt_host *h, void *self)
{
    ewc *e = self;
    if (!e) return;
    for (int i = 0; i < e->np; i++) {
        h->vec_free(h, e->p[i].F);
        h->vec_free(h, e->p[i].anchor);
    }
    h->vec_free(h, e->diff);
    h->vec_free(h, e->sq);
    free(e->p);
    free(e->x);
    free(e->y);
    free(e);
}

static int create(const clpt_host *h, void **self)
{
    ewc *e = calloc(1, sizeof *e);
    if (!e) return h->error(h, "out of memory");
    *self = e;
    e->lambda = h->opt_float(h, "lambda");
    e->gamma = h->opt_float(h, "gamma");
    e->batches = (int)h->opt_int(h, "fisher_batches");
    e->rows = (int)h->opt_int(h, "fisher_rows");
    e->online = h->opt_bool(h, "online");
    h->batch_shape(h, NULL, &e->T, NULL);
    e->cap = e->online ? 1 : h->schedule_len(h);
    e->p = calloc(e->cap, sizeof *e->p);
    e->x = malloc(sizeof(int) * e->rows * e->T);
    e->y = malloc(sizeof(int) * e->rows * e->T);
    if (!e->p || !e->x || !e->y) return h->error(h, "out of memory");
    if (!(e->diff = h->vec_new(h)) || !(e->sq = h->vec_new(h))) return CLPT_PLUGIN_ERROR;
    return 0;
}

static int add_pair(const clpt_host *h, ewc *e)
{
    if (e->np == e->cap) return h->error(h, "more domains than the schedule holds");
    pair *q = &e->p[e->np];
    if (!(q->F = h->vec_new(h)) || !(q->anchor = h->vec_new(h))) return CLPT_PLUGIN_ERROR;
    e->np++;
    return 0;
}

/* F += mean over batches of grad² on the domain just trained */
static int fisher_into(const clpt_host *h, ewc *e, clpt_vec *F)
{
    int dom = h->schedule_domain(h, h->position(h));
    clpt_vec *g = h->grads(h);
    for (int b = 0; b < e->batches; b++) {
        h->vec_fill(h, g, 0);
        int rc = h->sample(h, dom, CLPT_PLUGIN_SPLIT_TRAIN, e->x, e->y, e->rows, e->T);
        if (!rc) rc = h->forward_backward(h, e->x, e->y, e->rows, e->T, 1.0f, NULL);
        if (rc) return rc;
        h->vec_sq_acc(h, F, (float)(1.0 / e->batches), g);
    }
    h->vec_fill(h, g, 0);
    return 0;
}

static int domain_end(const clpt_host *h, void *self)
{
    ewc *e = self;
    int rc = 0;
    if (!e->online || e->np == 0) rc = add_pair(h, e);
    else h->vec_scale(h, e->p[0].F, (float)e->gamma);
    if (rc) return rc;
    pair *q = &e->p[e->np - 1];
    h->vec_copy(h, q->anchor, h->params(h));
    return fisher_into(h, e, q->F);
}

static int after_backward(const clpt_host *h, void *self)
{
    ewc *e = self;
    double penalty = 0;
    for (int i = 0; i < e->np; i++) {
        /* diff = θ − θ*; grads += λ F diff; penalty += λ/2 F·diff² */
        h->vec_copy(h, e->diff, h->params(h));
        h->vec_axpy(h, e->diff, -1.0f, e->p[i].anchor);
        h->vec_mul_acc(h, h->grads(h), (float)e->lambda, e->p[i].F, e->diff);
        h->vec_fill(h, e->sq, 0);
        h->vec_sq_acc(h, e->sq, 1.0f, e->diff);
        penalty += 0.5 * e->lambda * h->vec_dot(h, e->p[i].F, e->sq);
    }
    if (e->np) h->metric(h, "ewc_penalty", penalty);
    return 0;
}

/* ---- state: version 1 = u32 pairs, then F and anchor of each ---------------- */

static int save(const clpt_host *h, void *self, clpt_stream *s)
{
    ewc *e = self;
    uint32_t n = (uint32_t)e->np;
    int rc = h->write(h, s, &n, 4);
    for (int i = 0; !rc && i < e->np; i++) {
        rc = h->write_vec(h, s, e->p[i].F);
        if (!rc) rc = h->write_vec(h, s, e->p[i].anchor);
    }
    return rc;
}

static int load(const clpt_host *h, void *self, clpt_stream *s, uint32_t version)
{
    ewc *e = self;
    if (version != 1) return h->error(h, "unknown state version %u (this build writes 1)", version);
    uint32_t n;
    int rc = h->read(h, s, &n, 4);
    if (!rc && n > (uint32_t)e->cap) return h->error(h, "state holds %u Fishers, at most %d fit", n, e->cap);
    while (!rc && e->np < (int)n) rc = add_pair(h, e);
    for (int i = 0; !rc && i < e->np; i++) {
        rc = h->read_vec(h, s, e->p[i].F);
        if (!rc) rc = h->read_vec(h, s, e->p[i].anchor);
    }
    return rc;
}

CLPT_EXPORT const clpt_strategy_desc clpt_strategy_descriptor = {
    CLPT_STRATEGY_DESC_HEADER,
    .name = "ewc",
    .version = "1.0.0",
    .summary = "elastic weight consolidation: diagonal Fisher penalty towards earlier domains' weights",
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .flags = 0, /* each rank would estimate its own Fisher */
    .state_version = 1,
    .create = create,
    .destroy = destroy,
    .domain_end = domain_end,
    .after_backward = after_backward,
    .state_save = save,
    .state_load = load,
};
