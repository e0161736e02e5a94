/* report_impl.h - internals shared by the report writers: the numbers
 * computed once from an experiment (report.c), the metric rows every format
 * prints, and the SVG drawing kit (report_svg.c). Not a public header. */
#ifndef CLPT_REPORT_IMPL_H
#define CLPT_REPORT_IMPL_H

#include <stdio.h>

#include "journal.h"
#include "metrics.h"
#include "report.h"

/* ---- the data ------------------------------------------------------------ */

typedef struct rp_run {
    int index;              /* run index in the experiment */
    const clpt_jrun *r;
    char label[96];         /* unique display name */
    int compared;           /* has "after:<n>" cells: a column of the tables */
    int n;                  /* schedule length */
    double *zs, *dapt, *p;  /* ppl: [n], [n], [n*n] (report-owned) */
    clpt_cl_metrics ppl, rank, rank_med;   /* valid when n > 0 */
    int done;               /* finished domains */
    double train_tokens, train_seconds;    /* sums over domain_end events */
    const char *color;      /* series colour */
    int dash;               /* dash style index */
} rp_run;

typedef struct rp_data {
    const clpt_experiment *e;
    const char *split, *title;
    int n_runs, n_compared;
    rp_run *runs;
    int n_domains;          /* union of the compared runs' schedules */
    const char **domains;   /* in first-seen order (the first run's schedule first) */
} rp_data;

int rp_build(rp_data *d, const clpt_experiment *e, const clpt_report_opts *o);
void rp_free(rp_data *d);

/* Position (0-based) of `domain` in run r's schedule, or -1. */
int rp_pos(const rp_run *r, const char *domain);

/* ---- metric rows: one definition drives every table ---------------------- */

typedef struct rp_row {
    const char *name;       /* "FG" */
    const char *what;       /* one-line meaning */
    int better;             /* -1 lower is better, +1 higher, 0 neither */
    int percent;            /* print value * 100 with "%" */
} rp_row;

int rp_nrows(void);
const rp_row *rp_row_at(int i);
/* Row i's value for a run (stat with cells/expected; value NaN if none). */
clpt_stat rp_row_value(const rp_run *r, int i);
/* Format a stat: "12.34", "12.34*" when partial, "-" when missing. */
void rp_format(char *buf, size_t n, const rp_row *row, clpt_stat s);
/* Index of the compared run with the best value in row i, or -1. */
int rp_best(const rp_data *d, int i);

/* ---- writing helpers ----------------------------------------------------- */

void rp_xml(FILE *f, const char *s);   /* escape &<>"' */
void rp_csv_field(FILE *f, const char *s);
const char *rp_short_domain(const char *name, char *buf, size_t n);  /* L2 part, ellipsized */

/* ---- SVG ---------------------------------------------------------------- */

typedef struct rp_series {
    const char *label;
    const double *x, *y;    /* x NULL = 1, 2, 3, ... */
    int n;
    const char *color;
    int dash;               /* 0 solid, 1 dashed, 2 dotted, 3 dash-dot */
    int markers;            /* 1: draw points; 2: points only, no line */
} rp_series;

typedef struct rp_chart {
    const char *title, *xlabel, *ylabel;
    int w, h;
    int zero_line;          /* draw y = 0 */
    const char *const *xcat;/* categorical x labels (x = 1..ncat), or NULL */
    int ncat;
    const double *vlines;   /* faint vertical marks at these x */
    int nvlines;
    int integer_x;          /* ticks at integers only */
} rp_chart;

void rp_svg_line_chart(FILE *f, const rp_chart *c, const rp_series *s, int ns);

typedef struct rp_heatmap {
    const char *title;
    int rows, cols;
    const double *value;    /* [rows*cols] drives the colour; NaN = missing */
    const double *shown;    /* [rows*cols] printed in cells / tooltips (ppl) */
    const char *const *row_labels, *const *col_labels, *const *col_full;
    double vmin, vmax;      /* colour range */
    int diverging;          /* 1: value is log2(ppl / ZS), blue = better */
    int diag_offset;        /* row r's own domain is column r - offset; <0 none */
} rp_heatmap;

void rp_svg_heatmap(FILE *f, const rp_heatmap *h);
/* Heatmaps of more cells than this are drawn compactly: one path per
 * colour (256 levels), no per-cell tooltip or text; 1 if (rows, cols) is
 * such a one. */
#define RP_HEATMAP_TOOLTIP_CELLS 2500
int rp_heatmap_compact(int rows, int cols);
/* Horizontal colour legend for the heatmaps' scale. */
void rp_svg_legend(FILE *f, double vmin, double vmax, int diverging, int w);
/* Colour of t in [0, 1] on the scale as "#rrggbb". */
void rp_color(double t, int diverging, char out[8]);

#endif
