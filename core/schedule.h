/* schedule.h - learning-rate schedules.
 *
 * All schedules warm up linearly from lr/warmup to lr over `warmup` steps,
 * then: constant keeps lr; cosine and linear decay to lr*min_ratio at step
 * `total`; wsd (warmup-stable-decay) holds lr and decays linearly to
 * lr*min_ratio over the last decay_frac of the steps. Per-domain re-warm and
 * re-decay is the same schedule restarted at each domain (step counted from
 * the domain's start, total = the domain's steps). */
#ifndef CLPT_SCHEDULE_H
#define CLPT_SCHEDULE_H

#include <stdint.h>

typedef struct clpt_lr_schedule {
    int kind;            /* a clpt_schedule (config.h) */
    double lr;           /* peak learning rate */
    int64_t warmup;      /* warmup steps */
    int64_t total;       /* steps of the whole schedule */
    double min_ratio;    /* final lr as a fraction of lr */
    double decay_frac;   /* wsd: fraction of total spent decaying */
} clpt_lr_schedule;

/* The learning rate of optimizer step `step` (0-based). */
double clpt_lr_at(const clpt_lr_schedule *s, int64_t step);

#endif
