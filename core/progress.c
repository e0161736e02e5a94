/* progress.c - a progress line on terminals, log lines elsewhere. */
#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double clpt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int clpt_progress_tty(int mode) { return mode == 1 || (mode == 0 && isatty(STDERR_FILENO)); }

void clpt_progress_init(clpt_progress_bar *p, const char *what, const char *unit,
                        uint64_t total, int mode, int log_every)
{
    p->what = what;
    p->unit = unit;
    p->total = total;
    p->tty = clpt_progress_tty(mode);
    p->log_every = log_every;
    p->t0 = clpt_now();
    p->last_draw = 0;
    p->updates = 0;
}

static void fmt_eta(char *buf, size_t n, double s)
{
    if (!(s >= 0) || s > 1e7) snprintf(buf, n, "--:--");
    else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
    else snprintf(buf, n, "%02d:%02d", (int)(s / 60), (int)s % 60);
}

void clpt_progress_update(clpt_progress_bar *p, uint64_t done, const char *detail)
{
    double t = clpt_now(), el = t - p->t0, rate = el > 0 ? done / el : 0;
    int last = p->total && done >= p->total;
    p->updates++;
    if (p->tty) {
        if (!last && t - p->last_draw < 0.1) return;
    } else if (!last && (p->log_every <= 0 || p->updates % (uint64_t)p->log_every)) {
        return;
    }
    p->last_draw = t;
    char eta[32];
    fmt_eta(eta, sizeof eta, p->total && rate > 0 ? (p->total - done) / rate : -1);
    double pct = p->total ? 100.0 * done / p->total : 0;
    fprintf(stderr, "%s%s %5.1f%% %llu/%llu %s | %.1f %s/s | ETA %s%s%s%s", p->tty ? "\r" : "",
            p->what, pct, (unsigned long long)done, (unsigned long long)p->total, p->unit,
            rate, p->unit, eta, detail ? " | " : "", detail ? detail : "",
            p->tty ? "\033[K" : "\n");
    fflush(stderr);
}

void clpt_progress_end(clpt_progress_bar *p)
{
    if (p->tty) fputc('\n', stderr);
}
