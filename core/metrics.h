/* metrics.h - continual-learning metrics from a checkpoint x domain matrix.
 *
 * Domains are numbered in training order 1..N. P(M, j) is a measure (test
 * perplexity by default; the same formulas apply to prediction rank) of
 * model M on domain j; M0 is the base model, M_n the checkpoint after
 * domain n, A_j the base model fine-tuned on domain j alone. Definitions
 * (DESIGN.md, docs/journal.md; docs/metrics.md has the long form):
 *
 *   ZS_j = P(M0, j)        DAPT_j = P(A_j, j)     CPT_j = P(M_j, j)
 *   LC_j = P(M_N, j)       FG = mean_j (LC_j - CPT_j)
 *   BT_n = mean_{j<n} (ZS_j - P(M_n, j))     FT_n = mean_{j>n} (ZS_j - P(M_n, j))
 *   BT(k) = mean_{n>k} (ZS_{n-k} - P(M_n, n-k))   FT(k) = mean_{n<=N-k} (ZS_{n+k} - P(M_n, n+k))
 *
 * A missing cell is NaN. Every mean runs over the terms whose cells are all
 * present and records how many terms that was out of how many the formula
 * has, so a partly evaluated matrix gives a partial value flagged as such,
 * and a metric with no term at all is NaN - never 0. A mean of means
 * (mean BT_n, mean FT_n) averages the inner values that exist and adds up
 * the inner terms' counts, so it is partial when any inner mean is. */
#ifndef CLPT_METRICS_H
#define CLPT_METRICS_H

/* A mean over the terms present: value is NaN when cells == 0. */
typedef struct clpt_stat {
    double value;
    int cells;      /* terms that were present (for a mean of means: inner terms) */
    int expected;   /* terms in the formula (likewise) */
} clpt_stat;

/* 1 when the stat has a value and every term of its formula was present. */
int clpt_stat_complete(const clpt_stat *s);

/* The input: borrowed arrays, NaN = missing. */
typedef struct clpt_cl_matrix {
    int n;               /* domains N, in training order */
    const double *zs;    /* [N]: P(M0, j); may be NULL (all missing) */
    const double *dapt;  /* [N]: P(A_j, j); may be NULL */
    const double *p;     /* [N*N] row-major: p[(n-1)*N + (j-1)] = P(M_n, j); may be NULL */
} clpt_cl_matrix;

/* The output; arrays are indexed from 0 (entry [n-1] is step n, entry [k]
 * is lag k). Owned by the struct: release with clpt_cl_metrics_free(). */
typedef struct clpt_cl_metrics {
    int n;
    double *zs, *dapt, *cpt, *lc;   /* [N] per domain */
    clpt_stat *bt, *ft;             /* [N]: BT_n, FT_n (BT_1 and FT_N have no term) */
    clpt_stat *bt_lag, *ft_lag;     /* [N]: BT(k), FT(k); k = 0 is ZS_n - CPT_n for both */
    clpt_stat *avg;                 /* [N]: mean_j P(M_n, j), the checkpoint's mean */
    clpt_stat mean_zs, mean_dapt, mean_cpt, mean_lc;
    clpt_stat fg;                   /* forgetting; > 0 = forgot */
    clpt_stat bt_final;             /* BT_N = mean_{j<N} (ZS_j - LC_j) */
    clpt_stat bt_mean, ft_mean;     /* mean_n BT_n (n >= 2), mean_n FT_n (n < N) */
    clpt_stat cpt_vs_dapt;          /* mean_j (CPT_j - DAPT_j); < 0 = continual wins */
    clpt_stat cpt_wins;             /* share of domains with CPT_j < DAPT_j, in [0, 1] */
    clpt_stat lc_vs_zs;             /* mean_j (ZS_j - LC_j); > 0 = the last model beats M0 */
} clpt_cl_metrics;

/* Compute every metric of `m` into *out (which the caller provides; its
 * arrays are allocated here). 0, CLPT_EINVAL (n < 1) or CLPT_ENOMEM; on
 * failure *out holds nothing to free. */
int clpt_cl_metrics_compute(const clpt_cl_matrix *m, clpt_cl_metrics *out);

/* Free the arrays of *m (not m itself); safe on a zeroed struct. */
void clpt_cl_metrics_free(clpt_cl_metrics *m);

/* Median of the non-NaN values of x[0..n) (x is not modified); NaN if none. */
double clpt_median(const double *x, int n);

#endif
