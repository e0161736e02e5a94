/* l2.c - an L2 pull towards earlier weights: the penalty λ/2 ‖θ − θ_a‖² is
 * applied as its gradient λ (θ − θ_a) after backward, with the anchor θ_a
 * the weights at the end of the previous domain (anchor = previous) or the
 * base weights M0 (anchor = base, "L2-SP"). The penalty is reported as the
 * metric "l2_penalty". */
#include "clpt_plugin.h"

#include <stdlib.h>

static const char *const anchors[] = {"previous", "base", NULL};

static const clpt_option_desc options[] = {
    {.name = "lambda", .type = CLPT_OPT_FLOAT, .def = "0.01", .min = 0, .max = 1e12,
     .help = "Penalty strength λ."},
    {.name = "anchor", .type = CLPT_OPT_ENUM, .def = "previous", .choices = anchors,
     .help = "previous: the weights at the end of the previous domain; base: the base weights M0."},
};

typedef struct l2 {
    double lambda;
    int use_base;
    int has_anchor;
    clpt_vec *anchor, *diff;
} l2;

static void destroy(const clpt_host *h, void *self)
{
    l2 *s = self;
    if (!s) return;
    h->vec_free(h, s->anchor);
    h->vec_free(h, s->diff);
    free(s);
}

static int create(const clpt_host *h, void **self)
{
    l2 *s = calloc(1, sizeof *s);
    if (!s) return h->error(h, "out of memory");
    *self = s;
    s->lambda = h->opt_float(h, "lambda");
    s->use_base = h->opt_enum(h, "anchor") == 1;
    if (!(s->diff = h->vec_new(h))) return CLPT_PLUGIN_ERROR;
    if (!s->use_base && !(s->anchor = h->vec_new(h))) return CLPT_PLUGIN_ERROR;
    return 0;
}

static int domain_end(const clpt_host *h, void *self)
{
    l2 *s = self;
    if (!s->use_base) h->vec_copy(h, s->anchor, h->params(h));
    s->has_anchor = 1;
    return 0;
}

static int after_backward(const clpt_host *h, void *self)
{
    l2 *s = self;
    if (!s->use_base && !s->has_anchor) return 0;
    h->vec_copy(h, s->diff, h->params(h));
    h->vec_axpy(h, s->diff, -1.0f, s->use_base ? h->base(h) : s->anchor);
    double n = h->vec_norm(h, s->diff);
    h->vec_axpy(h, h->grads(h), (float)s->lambda, s->diff);
    h->metric(h, "l2_penalty", 0.5 * s->lambda * n * n);
    return 0;
}

/* state version 1: u8 has_anchor, then the anchor (anchor = previous) */
static int save(const clpt_host *h, void *self, clpt_stream *st)
{
    l2 *s = self;
    uint8_t has = (uint8_t)s->has_anchor;
    int rc = h->write(h, st, &has, 1);
    if (!rc && has && !s->use_base) rc = h->write_vec(h, st, s->anchor);
    return rc;
}

static int load(const clpt_host *h, void *self, clpt_stream *st, uint32_t version)
{
    l2 *s = self;
    if (version != 1) return h->error(h, "unknown state version %u (this build writes 1)", version);
    uint8_t has;
    int rc = h->read(h, st, &has, 1);
    s->has_anchor = has;
    if (!rc && has && !s->use_base) rc = h->read_vec(h, st, s->anchor);
    return rc;
}

CLPT_EXPORT const clpt_strategy_desc clpt_strategy_descriptor = {
    CLPT_STRATEGY_DESC_HEADER,
    .name = "l2",
    .version = "1.0.0",
    .summary = "L2 pull towards the previous domain's (or the base) weights",
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .flags = CLPT_STRATEGY_DATA_PARALLEL_SAFE,
    .state_version = 1,
    .create = create,
    .destroy = destroy,
    .domain_end = domain_end,
    .after_backward = after_backward,
    .state_save = save,
    .state_load = load,
};
