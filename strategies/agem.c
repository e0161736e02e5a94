/* agem.c - averaged gradient episodic memory (A-GEM, Chaudhry et al. 2019).
 *
 * At the end of each domain, `memory` training sequences of it are stored.
 * At every step of later domains a reference gradient g_ref is computed on
 * `ref_rows` sequences drawn uniformly from the whole memory; when the step's
 * gradient g conflicts with it (g·g_ref < 0) it is projected:
 *     g ← g − (g·g_ref / g_ref·g_ref) g_ref,
 * so the applied gradient never increases the memory loss to first order
 * (g·g_ref >= 0 after the step). Metrics: "agem_projected" (1 when this step
 * was projected), "agem_dot" (g·g_ref before) and "agem_cos_after" (the
 * cosine between the applied gradient and g_ref, >= 0 up to rounding). */
#include "clpt_plugin.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const clpt_option_desc options[] = {
    {.name = "memory", .type = CLPT_OPT_INT, .def = "256", .min = 1, .max = 100000000,
     .help = "Sequences of each finished domain kept in the episodic memory."},
    {.name = "ref_rows", .type = CLPT_OPT_INT, .def = "0", .min = 0, .max = 65536,
     .help = "Memory sequences per reference gradient; 0 = the batch size."},
};

typedef struct agem {
    int per_domain, ref_rows, T, N;
    int *mem;            /* stored rows of T + 1 tokens */
    int64_t stored;
    int *x, *y;
    clpt_vec *g, *gref;
} agem;

static void destroy(const clpt_host *h, void *self)
{
    agem *a = self;
    if (!a) return;
    h->vec_free(h, a->g);
    h->vec_free(h, a->gref);
    free(a->mem);
    free(a->x);
    free(a->y);
    free(a);
}

static int create(const clpt_host *h, void **self)
{
    agem *a = calloc(1, sizeof *a);
    if (!a) return h->error(h, "out of memory");
    *self = a;
    int B;
    h->batch_shape(h, &B, &a->T, NULL);
    a->per_domain = (int)h->opt_int(h, "memory");
    a->ref_rows = (int)h->opt_int(h, "ref_rows");
    if (!a->ref_rows) a->ref_rows = B;
    a->N = h->schedule_len(h);
    int rows = a->per_domain > a->ref_rows ? a->per_domain : a->ref_rows;
    a->mem = malloc(sizeof(int) * (size_t)a->per_domain * a->N * (a->T + 1));
    a->x = malloc(sizeof(int) * (size_t)rows * a->T);
    a->y = malloc(sizeof(int) * (size_t)rows * a->T);
    if (!a->mem || !a->x || !a->y) return h->error(h, "out of memory for the episodic memory");
    if (!(a->g = h->vec_new(h)) || !(a->gref = h->vec_new(h))) return CLPT_PLUGIN_ERROR;
    return 0;
}

static int domain_end(const clpt_host *h, void *self)
{
    agem *a = self;
    int dom = h->schedule_domain(h, h->position(h));
    if (a->stored + a->per_domain > (int64_t)a->per_domain * a->N) return h->error(h, "memory is full");
    int rc = h->sample(h, dom, CLPT_PLUGIN_SPLIT_TRAIN, a->x, a->y, a->per_domain, a->T);
    for (int i = 0; !rc && i < a->per_domain; i++) {
        int *dst = a->mem + (size_t)(a->stored + i) * (a->T + 1);
        memcpy(dst, a->x + (size_t)i * a->T, sizeof(int) * a->T);
        dst[a->T] = a->y[(size_t)i * a->T + a->T - 1];
    }
    if (!rc) a->stored += a->per_domain;
    return rc;
}

static int after_backward(const clpt_host *h, void *self)
{
    agem *a = self;
    if (!a->stored) return 0;
    for (int i = 0; i < a->ref_rows; i++) {
        const int *src = a->mem + h->rng_below(h, (uint64_t)a->stored) * (size_t)(a->T + 1);
        memcpy(a->x + (size_t)i * a->T, src, sizeof(int) * a->T);
        memcpy(a->y + (size_t)i * a->T, src + 1, sizeof(int) * a->T);
    }
    /* g_ref in the gradient buffer, then the step's gradient back */
    clpt_vec *grads = h->grads(h);
    h->vec_copy(h, a->g, grads);
    h->vec_fill(h, grads, 0);
    int rc = h->forward_backward(h, a->x, a->y, a->ref_rows, a->T, 1.0f, NULL);
    if (rc) return rc;
    h->vec_copy(h, a->gref, grads);
    h->vec_copy(h, grads, a->g);
    double dot = h->vec_dot(h, grads, a->gref), rr = h->vec_dot(h, a->gref, a->gref);
    int project = dot < 0 && rr > 0;
    if (project) h->vec_axpy(h, grads, (float)(-dot / rr), a->gref);
    double after = h->vec_dot(h, grads, a->gref), gn = h->vec_norm(h, grads);
    h->metric(h, "agem_projected", project);
    h->metric(h, "agem_dot", dot);
    h->metric(h, "agem_cos_after", gn > 0 && rr > 0 ? after / (gn * sqrt(rr)) : 0);
    return 0;
}

/* state version 1: i64 stored rows, then stored * (T + 1) int32 */
static int save(const clpt_host *h, void *self, clpt_stream *s)
{
    agem *a = self;
    int rc = h->write(h, s, &a->stored, 8);
    if (!rc && a->stored) rc = h->write(h, s, a->mem, sizeof(int) * (size_t)a->stored * (a->T + 1));
    return rc;
}

static int load(const clpt_host *h, void *self, clpt_stream *s, uint32_t version)
{
    agem *a = self;
    if (version != 1) return h->error(h, "unknown state version %u (this build writes 1)", version);
    int rc = h->read(h, s, &a->stored, 8);
    if (!rc && (a->stored < 0 || a->stored > (int64_t)a->per_domain * a->N))
        return h->error(h, "state holds %lld memory rows, at most %lld fit", (long long)a->stored,
                        (long long)a->per_domain * a->N);
    if (!rc && a->stored) rc = h->read(h, s, a->mem, sizeof(int) * (size_t)a->stored * (a->T + 1));
    return rc;
}

CLPT_EXPORT const clpt_strategy_desc clpt_strategy_descriptor = {
    CLPT_STRATEGY_DESC_HEADER,
    .name = "agem",
    .version = "1.0.0",
    .summary = "A-GEM: project the gradient when it conflicts with an episodic memory's",
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .flags = 0, /* the projection needs the all-reduced gradient */
    .state_version = 1,
    .create = create,
    .destroy = destroy,
    .domain_end = domain_end,
    .after_backward = after_backward,
    .state_save = save,
    .state_load = load,
};
