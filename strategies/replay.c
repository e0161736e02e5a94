/* replay.c - experience replay: a fraction of every batch's sequences comes
 * from the training data of earlier domains.
 *
 * Compute-equivalent mode (default): of each micro-batch's B rows, about
 * ratio * B are replayed and the rest are the new domain's, so a domain
 * costs what it costs sequentially and sees fewer new tokens. Additive mode:
 * all B rows are new and ratio / (1 - ratio) * B replayed rows are added to
 * the step (replay is then a `ratio` share of the step's rows). Fractional
 * row counts are carried from batch to batch, so the share is exact on
 * average and exact per batch when ratio * B is an integer.
 *
 * Which earlier domain a replayed row comes from: among the last `past`
 * schedule positions (0 = all), weighted uniformly, by training-set size, or
 * by recency (weight 1 / lag: the previous domain has lag 1). Rows come from
 * the whole training split, or, with a budget, from a per-domain memory of
 * budget / T windows kept by reservoir sampling over the rows the domain
 * actually trained on (the classic bounded replay buffer). */
#include "clpt_plugin.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const weightings[] = {"uniform", "size", "recency", NULL};
static const char *const modes[] = {"compute", "additive", NULL};

static const clpt_option_desc options[] = {
    {.name = "ratio", .type = CLPT_OPT_FLOAT, .def = "0.25", .min = 0, .max = 0.9,
     .help = "Share of each batch's sequences replayed from earlier domains."},
    {.name = "past", .type = CLPT_OPT_INT, .def = "0", .min = 0, .max = 1000000,
     .help = "Replay from the last k domains only; 0 = all earlier domains."},
    {.name = "weighting", .type = CLPT_OPT_ENUM, .def = "uniform", .choices = weightings,
     .help = "How an earlier domain is chosen per row: uniform, by its training tokens "
             "(or memory size), or by recency (weight 1/lag)."},
    {.name = "budget", .type = CLPT_OPT_INT, .def = "0", .min = 0, .max = 1e15,
     .help = "Memory per domain in tokens (reservoir of budget/T windows over the rows "
             "trained on); 0 = replay from the whole training split."},
    {.name = "mode", .type = CLPT_OPT_ENUM, .def = "compute", .choices = modes,
     .help = "compute: replayed rows replace new ones (same compute as sequential); "
             "additive: they are added to the step."},
};

enum { W_UNIFORM, W_SIZE, W_RECENCY };

typedef struct memory {
    uint64_t seen;       /* rows offered so far */
    uint32_t stored;     /* rows held (<= cap) */
    int *rows;           /* cap rows of T + 1 tokens */
} memory;

typedef struct replay {
    double ratio;
    int past, weighting, additive;
    int B, T, accum, N;
    uint32_t cap;        /* rows per domain memory; 0 = no memory */
    memory *mem;         /* per schedule position */
    double carry;        /* fractional replay rows owed */
    int *rx, *ry;        /* additive scratch: up to kmax rows */
    int kmax;
    int *k;              /* additive: rows owed per micro-batch of a step */
    double *w;           /* candidate weights */
} replay;

static void destroy(const clpt_host *h, void *self)
{
    (void)h;
    replay *r = self;
    if (!r) return;
    for (int i = 0; r->mem && i < r->N; i++) free(r->mem[i].rows);
    free(r->mem);
    free(r->rx);
    free(r->ry);
    free(r->w);
    free(r->k);
    free(r);
}

static int create(const clpt_host *h, void **self)
{
    replay *r = calloc(1, sizeof *r);
    if (!r) return h->error(h, "out of memory");
    *self = r;
    r->ratio = h->opt_float(h, "ratio");
    r->past = (int)h->opt_int(h, "past");
    r->weighting = h->opt_enum(h, "weighting");
    r->additive = h->opt_enum(h, "mode") == 1;
    h->batch_shape(h, &r->B, &r->T, &r->accum);
    r->N = h->schedule_len(h);
    int64_t budget = h->opt_int(h, "budget");
    r->cap = budget ? (uint32_t)(budget / r->T > 0 ? budget / r->T : 1) : 0;
    r->kmax = (int)ceil(r->ratio * r->B / (1 - r->ratio)) + 1;
    r->mem = calloc(r->N, sizeof *r->mem);
    r->w = calloc(r->N, sizeof *r->w);
    r->rx = malloc(sizeof(int) * r->kmax * r->T);
    r->ry = malloc(sizeof(int) * r->kmax * r->T);
    r->k = calloc(r->accum, sizeof *r->k);
    if (!r->mem || !r->w || !r->rx || !r->ry || !r->k) return h->error(h, "out of memory");
    return 0;
}

/* replayed rows for the next micro-batch, carrying the fraction */
static int rows_owed(replay *r)
{
    double rate = r->additive ? r->ratio * r->B / (1 - r->ratio) : r->ratio * r->B;
    r->carry += rate;
    int k = (int)floor(r->carry + 1e-9);
    r->carry -= k;
    return k;
}

/* ---- the memory: reservoir sampling (Algorithm R) over trained rows ---------- */

static int offer(const clpt_host *h, replay *r, int n, const int *x, const int *y, int rows)
{
    memory *m = &r->mem[n];
    if (!r->cap) return 0;
    if (!m->rows && !(m->rows = malloc(sizeof(int) * (size_t)r->cap * (r->T + 1))))
        return h->error(h, "out of memory for %u memory rows", r->cap);
    for (int i = 0; i < rows; i++) {
        uint64_t slot = m->seen < r->cap ? m->seen : h->rng_below(h, m->seen + 1);
        m->seen++;
        if (slot >= r->cap) continue;
        int *dst = m->rows + slot * (size_t)(r->T + 1);
        memcpy(dst, x + (size_t)i * r->T, sizeof(int) * r->T);
        dst[r->T] = y[(size_t)i * r->T + r->T - 1];
        if (slot == m->stored) m->stored++;
    }
    return 0;
}

/* ---- choosing and drawing replayed rows ---------------------------------------- */

static int pick_past(const clpt_host *h, replay *r, int n)
{
    int lo = r->past && n - r->past > 0 ? n - r->past : 0;
    double total = 0;
    for (int p = lo; p < n; p++) {
        double w = 1.0;
        if (r->cap && !r->mem[p].stored) w = 0;
        else if (r->weighting == W_SIZE) {
            clpt_domain_info di;
            h->domain_info(h, h->schedule_domain(h, p), &di);
            w = r->cap ? (double)r->mem[p].stored : (double)di.tokens[CLPT_PLUGIN_SPLIT_TRAIN];
        } else if (r->weighting == W_RECENCY) {
            w = 1.0 / (n - p);
        }
        r->w[p] = w;
        total += w;
    }
    if (!(total > 0)) return -1;
    double u = h->rng_uniform(h) * total;
    for (int p = lo; p < n; p++) {
        if (u < r->w[p]) return p;
        u -= r->w[p];
    }
    return n - 1;
}

static int draw(const clpt_host *h, replay *r, int n, int *x, int *y, int rows)
{
    for (int i = 0; i < rows; i++) {
        int p = pick_past(h, r, n);
        if (p < 0) return h->error(h, "no earlier domain has replay data");
        int *xi = x + (size_t)i * r->T, *yi = y + (size_t)i * r->T;
        if (!r->cap) {
            int rc = h->sample(h, h->schedule_domain(h, p), CLPT_PLUGIN_SPLIT_TRAIN, xi, yi, 1, r->T);
            if (rc) return rc;
            continue;
        }
        const int *src = r->mem[p].rows + h->rng_below(h, r->mem[p].stored) * (size_t)(r->T + 1);
        memcpy(xi, src, sizeof(int) * r->T);
        memcpy(yi, src + 1, sizeof(int) * r->T);
    }
    return 0;
}

/* ---- hooks ------------------------------------------------------------------------ */

static int compose(const clpt_host *h, void *self, int *x, int *y, int B, int T)
{
    replay *r = self;
    int n = h->position(h);
    int k = !r->additive && n > 0 ? rows_owed(r) : 0;
    (void)T;
    int rc = h->next_batch(h, x, y, B - k);
    if (!rc) rc = offer(h, r, n, x, y, B - k);
    if (!rc && k) rc = draw(h, r, n, x + (size_t)(B - k) * r->T, y + (size_t)(B - k) * r->T, k);
    if (!rc && !r->additive) h->metric(h, "replay_fraction", (double)k / B);
    return rc;
}

/* additive: gradient = mean over the B*accum new rows and the K replayed */
static int after_backward(const clpt_host *h, void *self)
{
    replay *r = self;
    int n = h->position(h);
    if (!r->additive || n == 0) return 0;
    int *k = r->k, K = 0, steps = r->accum;
    for (int i = 0; i < steps; i++) K += k[i] = rows_owed(r);
    double rows = (double)r->B * r->accum;
    h->metric(h, "replay_fraction", K / (rows + K));
    if (!K) return 0;
    h->vec_scale(h, h->grads(h), (float)(rows / (rows + K)));
    for (int i = 0; i < steps; i++) {
        if (!k[i]) continue;
        int rc = draw(h, r, n, r->rx, r->ry, k[i]);
        if (!rc) rc = h->forward_backward(h, r->rx, r->ry, k[i], r->T, (float)(k[i] / (rows + K)), NULL);
        if (rc) return rc;
    }
    return 0;
}

/* ---- state: version 1 = f64 carry, u32 T, u32 N, per position u64 seen,
 * u32 stored, stored * (T + 1) int32 ---------------------------------------------- */

static int save(const clpt_host *h, void *self, clpt_stream *s)
{
    replay *r = self;
    uint32_t T = (uint32_t)r->T, N = (uint32_t)r->N;
    int rc = h->write(h, s, &r->carry, sizeof r->carry);
    if (!rc) rc = h->write(h, s, &T, 4);
    if (!rc) rc = h->write(h, s, &N, 4);
    for (int p = 0; !rc && p < r->N; p++) {
        memory *m = &r->mem[p];
        rc = h->write(h, s, &m->seen, 8);
        if (!rc) rc = h->write(h, s, &m->stored, 4);
        if (!rc && m->stored) rc = h->write(h, s, m->rows, sizeof(int) * m->stored * (size_t)(r->T + 1));
    }
    return rc;
}

static int load(const clpt_host *h, void *self, clpt_stream *s, uint32_t version)
{
    replay *r = self;
    if (version != 1) return h->error(h, "unknown state version %u (this build writes 1)", version);
    uint32_t T, N;
    int rc = h->read(h, s, &r->carry, sizeof r->carry);
    if (!rc) rc = h->read(h, s, &T, 4);
    if (!rc) rc = h->read(h, s, &N, 4);
    if (!rc && (T != (uint32_t)r->T || N != (uint32_t)r->N))
        return h->error(h, "state for T=%u over %u domains, this run has T=%d over %d", T, N, r->T, r->N);
    for (int p = 0; !rc && p < r->N; p++) {
        memory *m = &r->mem[p];
        rc = h->read(h, s, &m->seen, 8);
        if (!rc) rc = h->read(h, s, &m->stored, 4);
        if (!rc && m->stored > r->cap) return h->error(h, "state holds %u rows, the budget allows %u", m->stored, r->cap);
        if (!rc && m->stored && !m->rows && !(m->rows = malloc(sizeof(int) * (size_t)r->cap * (r->T + 1))))
            return h->error(h, "out of memory");
        if (!rc && m->stored) rc = h->read(h, s, m->rows, sizeof(int) * m->stored * (size_t)(r->T + 1));
    }
    return rc;
}

CLPT_EXPORT const clpt_strategy_desc clpt_strategy_descriptor = {
    CLPT_STRATEGY_DESC_HEADER,
    .name = "replay",
    .version = "1.0.0",
    .summary = "experience replay: a share of every batch from earlier domains",
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .flags = CLPT_STRATEGY_DATA_PARALLEL_SAFE,
    .state_version = 1,
    .create = create,
    .destroy = destroy,
    .compose_batch = compose,
    .after_backward = after_backward,
    .state_save = save,
    .state_load = load,
};
