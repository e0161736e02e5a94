/* good.c - a valid test strategy, "testgood": one option of every type, and
 * every hook, each appending a line to the file named by option `trace` (if
 * set), so tests can check when the engine calls what and that the state
 * survives a resume. Its state payload uses version 3, to check that the
 * version written is the one handed back. */
#include "clpt_plugin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const modes[] = {"a", "b", "c", NULL};

static const clpt_option_desc options[] = {
    {.name = "flag", .type = CLPT_OPT_BOOL, .def = "false", .help = "a bool"},
    {.name = "count", .type = CLPT_OPT_INT, .def = "3", .min = 1, .max = 10, .help = "an int in [1, 10]"},
    {.name = "ratio", .type = CLPT_OPT_FLOAT, .def = "0.5", .min = 0, .max = 1, .help = "a float in [0, 1]"},
    {.name = "label", .type = CLPT_OPT_STRING, .def = "x", .help = "a string"},
    {.name = "mode", .type = CLPT_OPT_ENUM, .def = "a", .choices = modes, .help = "an enum: a, b or c"},
    {.name = "trace", .type = CLPT_OPT_STRING, .def = "", .help = "file to append hook calls to"},
};

typedef struct good {
    const char *trace;
    int64_t steps, composes;
} good;

static void trace(const clpt_host *h, good *g, const char *what)
{
    if (!*g->trace) return;
    FILE *f = fopen(g->trace, "a");
    if (!f) return;
    fprintf(f, "%s pos=%d step=%lld steps=%lld composes=%lld\n", what, h->position(h),
            (long long)h->step(h), (long long)g->steps, (long long)g->composes);
    fclose(f);
}

static int create(const clpt_host *h, void **self)
{
    good *g = calloc(1, sizeof *g);
    if (!g) return h->error(h, "out of memory");
    g->trace = h->opt_string(h, "trace");
    *self = g;
    return 0;
}

static void destroy(const clpt_host *h, void *self)
{
    (void)h;
    free(self);
}

#define HOOK(fn, label)                                   \
    static int fn(const clpt_host *h, void *self)         \
    {                                                     \
        trace(h, self, label);                            \
        return 0;                                         \
    }
HOOK(run_end, "run_end")
HOOK(domain_begin, "domain_begin")
HOOK(domain_end, "domain_end")

static int run_begin(const clpt_host *h, void *self)
{
    trace(h, self, h->resumed(h) ? "run_begin resumed" : "run_begin");
    return 0;
}

static int compose(const clpt_host *h, void *self, int *x, int *y, int B, int T)
{
    (void)T;
    ((good *)self)->composes++;
    return h->next_batch(h, x, y, B);
}

static int after_step(const clpt_host *h, void *self)
{
    good *g = self;
    g->steps++;
    h->metric(h, "good_steps", (double)g->steps);
    return 0;
}

static int save(const clpt_host *h, void *self, clpt_stream *s)
{
    good *g = self;
    int rc = h->write(h, s, &g->steps, 8);
    return rc ? rc : h->write(h, s, &g->composes, 8);
}

static int load(const clpt_host *h, void *self, clpt_stream *s, uint32_t version)
{
    good *g = self;
    if (version != 3) return h->error(h, "state version %u, expected 3", version);
    int rc = h->read(h, s, &g->steps, 8);
    return rc ? rc : h->read(h, s, &g->composes, 8);
}

CLPT_EXPORT const clpt_strategy_desc clpt_strategy_descriptor = {
    CLPT_STRATEGY_DESC_HEADER,
    .name = "testgood",
    .version = "0.1.0",
    .summary = "a valid test strategy that traces its hooks",
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .state_version = 3,
    .create = create,
    .destroy = destroy,
    .run_begin = run_begin,
    .run_end = run_end,
    .domain_begin = domain_begin,
    .domain_end = domain_end,
    .compose_batch = compose,
    .after_step = after_step,
    .state_save = save,
    .state_load = load,
};
