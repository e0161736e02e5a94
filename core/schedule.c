/* schedule.c - learning-rate schedules (see schedule.h). */
#include "schedule.h"

#include <math.h>

#include "config.h"

double clpt_lr_at(const clpt_lr_schedule *s, int64_t step)
{
    if (step < s->warmup) return s->lr * (double)(step + 1) / (double)s->warmup;
    double lo = s->lr * s->min_ratio;
    int64_t span = s->total - s->warmup;
    double frac = span > 0 ? (double)(step - s->warmup) / (double)span : 1.0;
    if (frac > 1) frac = 1;
    switch (s->kind) {
    case CLPT_SCHED_COSINE:
        return lo + 0.5 * (s->lr - lo) * (1.0 + cos(3.14159265358979323846 * frac));
    case CLPT_SCHED_LINEAR:
        return s->lr - (s->lr - lo) * frac;
    case CLPT_SCHED_WSD: {
        int64_t ndecay = (int64_t)ceil(s->decay_frac * (double)s->total);
        int64_t start = s->total - ndecay;
        if (step < start || ndecay <= 0) return s->lr;
        double f = (double)(step - start + 1) / (double)ndecay;
        return s->lr - (s->lr - lo) * (f > 1 ? 1 : f);
    }
    default:
        return s->lr;
    }
}
