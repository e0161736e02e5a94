/* finetune.c - standalone domain-adaptive pretraining (DAPT): every domain
 * starts from the base weights M0 with a fresh optimizer, so M_n is A_n, the
 * model trained on domain n alone. The study's DAPT baseline: evaluate each
 * M_n on its own domain (run option eval_label "dapt:{domain}"). */
#include "clpt_plugin.h"

static const char *const lr_modes[] = {"config", "constant", "rewarm", NULL};

static const clpt_option_desc options[] = {
    {.name = "lr_schedule", .type = CLPT_OPT_ENUM, .def = "rewarm", .choices = lr_modes,
     .help = "config: as [optim] says; constant: the peak lr at every step; rewarm: the "
             "configured schedule restarted in every domain (each domain is its own run)."},
};

static int run_begin(const clpt_host *h, void *self)
{
    (void)self;
    return h->set_lr_schedule(h, h->opt_enum(h, "lr_schedule"));
}

static int domain_begin(const clpt_host *h, void *self)
{
    (void)self;
    h->vec_copy(h, h->params(h), h->base(h));
    h->reset_optimizer(h);
    return 0;
}

CLPT_EXPORT const clpt_strategy_desc clpt_strategy_descriptor = {
    CLPT_STRATEGY_DESC_HEADER,
    .name = "finetune",
    .version = "1.0.0",
    .summary = "standalone DAPT: every domain starts from the base weights with a fresh optimizer",
    .options = options,
    .n_options = sizeof options / sizeof options[0],
    .flags = CLPT_STRATEGY_DATA_PARALLEL_SAFE,
    .run_begin = run_begin,
    .domain_begin = domain_begin,
};
