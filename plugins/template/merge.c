/* merge.c - a template strategy plugin for clpt: copy this directory, rename
 * the strategy, and replace the hooks with your method.
 *
 * What it does (a real, if simple, continual-learning method): at the end of
 * every domain it interpolates the trained weights back towards the weights
 * the domain started from,
 *     θ ← (1 − β) θ_end + β θ_begin,
 * a weight-space average that trades some of what was learnt on the new
 * domain for less forgetting of the old ones (β = 0 is `sequential`). It
 * reports the distance travelled in the domain as the metric
 * "merge_distance".
 *
 * What it shows: options with a schema; a per-run instance (create /
 * destroy); a device buffer from the host (vec_new) and vector algebra on
 * it, the only way to touch weights, so it runs on CPU and GPU alike; a
 * metric; and state save / load, so that a run resumed in the middle of a
 * domain still knows θ_begin.
 *
 * Build it on its own, against the installed header only:
 *     cc -O2 -shared -fPIC -I/usr/local/include -o merge.so merge.c
 * or with the CMakeLists.txt beside it. Check and list it:
 *     clpt plugin check ./merge.so
 *     CLPT_PLUGIN_PATH=$PWD clpt plugins */
#include <clpt_plugin.h>

#include <stdlib.h>

/* The options schema: names, types, defaults (as text), help and ranges.
 * clpt validates user values against it before create() runs. */
static const clpt_option_desc options[] = {
    {.name = "beta", .type = CLPT_OPT_FLOAT, .def = "0.5", .min = 0, .max = 1,
     .help = "Weight of the domain's starting point in the merge (0 = no merge)."},
};

/* Per-run state: everything a hook needs lives here, never in globals, so
 * several runs can use the plugin at once. */
typedef struct merge {
    float beta;
    clpt_vec *start;    /* θ_begin, on the run's device */
} merge;

static int create(const clpt_host *h, void **self)
{
    merge *m = calloc(1, sizeof *m);
    if (!m) return h->error(h, "out of memory");
    *self = m; /* set before anything can fail: destroy() then frees it */
    m->beta = (float)h->opt_float(h, "beta");
    m->start = h->vec_new(h); /* zero-filled, n_params floats */
    return m->start ? 0 : CLPT_PLUGIN_ERROR;
}

static void destroy(const clpt_host *h, void *self)
{
    merge *m = self;
    if (!m) return;
    h->vec_free(h, m->start);
    free(m);
}

static int domain_begin(const clpt_host *h, void *self)
{
    merge *m = self;
    h->vec_copy(h, m->start, h->params(h));
    return 0;
}

static int domain_end(const clpt_host *h, void *self)
{
    merge *m = self;
    clpt_vec *theta = h->params(h);
    /* start ← start − θ is the step back; θ += β (start − θ) */
    h->vec_axpy(h, m->start, -1.0f, theta);
    h->metric(h, "merge_distance", h->vec_norm(h, m->start));
    h->vec_axpy(h, theta, m->beta, m->start);
    h->log(h, CLPT_LOG_INFO, "domain %d merged with beta %.3f", h->position(h) + 1, m->beta);
    return 0;
}

/* The saved payload is ours: version 1 is θ_begin as n_params floats. */
static int state_save(const clpt_host *h, void *self, clpt_stream *out)
{
    return h->write_vec(h, out, ((merge *)self)->start);
}

static int state_load(const clpt_host *h, void *self, clpt_stream *in, uint32_t version)
{
    if (version != 1) return h->error(h, "state version %u is not one this build reads (1)", version);
    return h->read_vec(h, in, ((merge *)self)->start);
}

/* The one exported symbol. The header macro fills in the ABI version and
 * the struct sizes; hooks left out are NULL (unused). */
CLPT_EXPORT const clpt_strategy_desc clpt_strategy_descriptor = {
    CLPT_STRATEGY_DESC_HEADER,
    .name = "merge",
    .version = "1.0.0",
    .summary = "template: interpolate each domain's result back towards its start",
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .flags = CLPT_STRATEGY_DATA_PARALLEL_SAFE,
    .state_version = 1,
    .create = create,
    .destroy = destroy,
    .domain_begin = domain_begin,
    .domain_end = domain_end,
    .state_save = state_save,
    .state_load = state_load,
};
