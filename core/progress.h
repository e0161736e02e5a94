/* progress.h - progress reporting for long work.
 *
 * On a terminal: one line redrawn in place (what, done/total, rate, ETA and
 * a caller-formatted detail such as the loss). Elsewhere: a plain log line
 * at most every `log_every` updates (or on the last one), so logs stay
 * readable. Output goes to stderr. */
#ifndef CLPT_PROGRESS_H
#define CLPT_PROGRESS_H

#include <stdint.h>

typedef struct clpt_progress_bar {
    const char *what;    /* "train", "eval", ... (borrowed) */
    const char *unit;    /* "tok" */
    uint64_t total;      /* units of work in all; 0 = unknown */
    int tty;             /* draw in place */
    int log_every;       /* non-tty: print every k updates (0 = only the last) */
    double t0, last_draw;
    uint64_t updates;
} clpt_progress_bar;

/* mode: 0 = auto (terminal if stderr is one), 1 = always in place, 2 = never */
void clpt_progress_init(clpt_progress_bar *p, const char *what, const char *unit,
                        uint64_t total, int mode, int log_every);
/* Report `done` units; detail (may be NULL) is appended. */
void clpt_progress_update(clpt_progress_bar *p, uint64_t done, const char *detail);
/* Finish the line (newline on a terminal). */
void clpt_progress_end(clpt_progress_bar *p);

/* Whether progress for `mode` (as clpt_progress_init's) is drawn in place
 * on a terminal rather than written as log lines. */
int clpt_progress_tty(int mode);

/* Monotonic seconds. */
double clpt_now(void);

#endif
