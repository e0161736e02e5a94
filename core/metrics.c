/* metrics.c - ZS, DAPT, CPT, LC, FG, BT/FT by step and by lag (metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"

/* A running mean: every term counts towards `expected`, only present ones
 * (not NaN) towards the value. */
typedef struct acc {
    double sum;
    int n;                /* values summed */
    int cells, expected;
} acc;

static void acc_add(acc *a, double v)
{
    a->expected++;
    if (isnan(v)) return;
    a->sum += v;
    a->n++;
    a->cells++;
}

/* A mean of means: the value averages the inner values; coverage adds up
 * the inner terms, so a mean of partial means is itself partial. */
static void acc_add_stat(acc *a, clpt_stat s)
{
    a->expected += s.expected;
    a->cells += s.cells;
    if (isnan(s.value)) return;
    a->sum += s.value;
    a->n++;
}

static clpt_stat acc_stat(const acc *a)
{
    clpt_stat st = {a->n ? a->sum / a->n : NAN, a->cells, a->expected};
    return st;
}

int clpt_stat_complete(const clpt_stat *s)
{
    return s->cells > 0 && s->cells == s->expected;
}

static double at(const double *v, int i)
{
    return v ? v[i] : NAN;
}

/* P(M_n, j), 1-based */
static double cell(const clpt_cl_matrix *m, int n, int j)
{
    return m->p ? m->p[(size_t)(n - 1) * m->n + (j - 1)] : NAN;
}

static void per_domain(const clpt_cl_matrix *m, clpt_cl_metrics *o)
{
    int N = m->n;
    acc zs = {0}, dapt = {0}, cpt = {0}, lc = {0}, fg = {0}, gap = {0}, wins = {0}, lz = {0};
    for (int j = 1; j <= N; j++) {
        o->zs[j - 1] = at(m->zs, j - 1);
        o->dapt[j - 1] = at(m->dapt, j - 1);
        o->cpt[j - 1] = cell(m, j, j);
        o->lc[j - 1] = cell(m, N, j);
        acc_add(&zs, o->zs[j - 1]);
        acc_add(&dapt, o->dapt[j - 1]);
        acc_add(&cpt, o->cpt[j - 1]);
        acc_add(&lc, o->lc[j - 1]);
        acc_add(&fg, o->lc[j - 1] - o->cpt[j - 1]);
        double d = o->cpt[j - 1] - o->dapt[j - 1];
        acc_add(&gap, d);
        acc_add(&wins, isnan(d) ? NAN : d < 0);
        acc_add(&lz, o->zs[j - 1] - o->lc[j - 1]);
    }
    o->mean_zs = acc_stat(&zs);
    o->mean_dapt = acc_stat(&dapt);
    o->mean_cpt = acc_stat(&cpt);
    o->mean_lc = acc_stat(&lc);
    o->fg = acc_stat(&fg);
    o->cpt_vs_dapt = acc_stat(&gap);
    o->cpt_wins = acc_stat(&wins);
    o->lc_vs_zs = acc_stat(&lz);
}

/* BT_n, FT_n and the checkpoint means, row by row */
static void per_step(const clpt_cl_matrix *m, clpt_cl_metrics *o)
{
    int N = m->n;
    acc btm = {0}, ftm = {0};
    for (int n = 1; n <= N; n++) {
        acc bt = {0}, ft = {0}, avg = {0};
        for (int j = 1; j <= N; j++) {
            double p = cell(m, n, j);
            acc_add(&avg, p);
            if (j < n) acc_add(&bt, at(m->zs, j - 1) - p);
            if (j > n) acc_add(&ft, at(m->zs, j - 1) - p);
        }
        o->bt[n - 1] = acc_stat(&bt);
        o->ft[n - 1] = acc_stat(&ft);
        o->avg[n - 1] = acc_stat(&avg);
        if (n >= 2) acc_add_stat(&btm, o->bt[n - 1]);
        if (n < N) acc_add_stat(&ftm, o->ft[n - 1]);
    }
    o->bt_final = o->bt[N - 1];
    o->bt_mean = acc_stat(&btm);
    o->ft_mean = acc_stat(&ftm);
}

/* BT(k) and FT(k): the same distance k between the checkpoint and the domain */
static void per_lag(const clpt_cl_matrix *m, clpt_cl_metrics *o)
{
    int N = m->n;
    for (int k = 0; k < N; k++) {
        acc bt = {0}, ft = {0};
        for (int n = k + 1; n <= N; n++)
            acc_add(&bt, at(m->zs, n - k - 1) - cell(m, n, n - k));
        for (int n = 1; n + k <= N; n++)
            acc_add(&ft, at(m->zs, n + k - 1) - cell(m, n, n + k));
        o->bt_lag[k] = acc_stat(&bt);
        o->ft_lag[k] = acc_stat(&ft);
    }
}

int clpt_cl_metrics_compute(const clpt_cl_matrix *m, clpt_cl_metrics *o)
{
    memset(o, 0, sizeof *o);
    if (!m || m->n < 1) return clpt_err(CLPT_EINVAL, "metrics: need at least one domain");
    int N = m->n;
    o->n = N;
    o->zs = malloc(4 * N * sizeof(double));
    o->bt = malloc(5 * N * sizeof(clpt_stat));
    if (!o->zs || !o->bt) {
        clpt_cl_metrics_free(o);
        return clpt_err(CLPT_ENOMEM, "metrics: out of memory");
    }
    /* one block per type: the pointers below are views into it */
    o->dapt = o->zs + N;
    o->cpt = o->zs + 2 * N;
    o->lc = o->zs + 3 * N;
    o->ft = o->bt + N;
    o->bt_lag = o->bt + 2 * N;
    o->ft_lag = o->bt + 3 * N;
    o->avg = o->bt + 4 * N;
    per_domain(m, o);
    per_step(m, o);
    per_lag(m, o);
    return 0;
}

void clpt_cl_metrics_free(clpt_cl_metrics *m)
{
    if (!m) return;
    free(m->zs);
    free(m->bt);
    memset(m, 0, sizeof *m);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double clpt_median(const double *x, int n)
{
    double *v = n > 0 ? malloc(n * sizeof *v) : NULL;
    int k = 0;
    if (!v) return NAN;
    for (int i = 0; i < n; i++)
        if (!isnan(x[i])) v[k++] = x[i];
    double r = NAN;
    if (k) {
        qsort(v, k, sizeof *v, cmp_double);
        r = k % 2 ? v[k / 2] : (v[k / 2 - 1] + v[k / 2]) / 2;
    }
    free(v);
    return r;
}
