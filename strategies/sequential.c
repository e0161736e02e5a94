/* sequential.c - plain continual pretraining: each domain starts from the
 * previous domain's weights (M_n = train(M_{n-1}, D_n)). The baseline every
 * other strategy is compared with; it only chooses the optimizer reset and
 * the LR schedule between domains. */
#include "clpt_plugin.h"

#include <string.h>

static const char *const lr_modes[] = {"config", "constant", "rewarm", NULL};

static const clpt_option_desc options[] = {
    {.name = "reset_optimizer", .type = CLPT_OPT_BOOL, .def = "false",
     .help = "Zero the AdamW moments and step count when a domain begins (in addition to "
             "[optim] reset_per_domain)."},
    {.name = "lr_schedule", .type = CLPT_OPT_ENUM, .def = "config", .choices = lr_modes,
     .help = "config: as [optim] says; constant: the peak lr at every step; rewarm: the "
             "configured warmup and decay restarted within every domain (re-warm + re-decay "
             "with [optim] schedule = cosine)."},
};

static int run_begin(const clpt_host *h, void *self)
{
    (void)self;
    return h->set_lr_schedule(h, h->opt_enum(h, "lr_schedule"));
}

static int domain_begin(const clpt_host *h, void *self)
{
    (void)self;
    if (h->opt_bool(h, "reset_optimizer")) h->reset_optimizer(h);
    return 0;
}

CLPT_EXPORT const clpt_strategy_desc clpt_strategy_descriptor = {
    CLPT_STRATEGY_DESC_HEADER,
    .name = "sequential",
    .version = "1.0.0",
    .summary = "plain continual pretraining from the previous domain's weights",
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .flags = CLPT_STRATEGY_DATA_PARALLEL_SAFE,
    .run_begin = run_begin,
    .domain_begin = domain_begin,
};
