/* report.c - the numbers behind every report format, the metric rows, and
 * writing the three files (report.h). */
#define _XOPEN_SOURCE 700
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "fsutil.h"
#include "report_impl.h"

/* Okabe-Ito: distinguishable with every common colour-vision deficiency.
 * Yellow is left out: it vanishes on white. */
static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                      "#E69F00", "#56B4E9", "#000000"};
#define NPALETTE 7

/* ---- building ------------------------------------------------------------ */

int rp_pos(const rp_run *r, const char *domain)
{
    for (int j = 0; j < r->n; j++)
        if (!strcmp(r->r->schedule[j], domain)) return j;
    return -1;
}

static int any_present(const double *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        if (!isnan(v[i])) return 1;
    return 0;
}

/* Metrics of one measure; the matrices are only kept for perplexity. */
static int measure_metrics(const rp_data *d, rp_run *x, int measure, clpt_cl_metrics *out)
{
    double *zs, *dapt, *p;
    int rc = clpt_experiment_matrix(d->e, x->index, measure, d->split, &zs, &dapt, &p);
    if (rc) return rc;
    clpt_cl_matrix m = {x->n, zs, dapt, p};
    rc = clpt_cl_metrics_compute(&m, out);
    if (measure == CLPT_MEASURE_PPL && !rc) {
        x->zs = zs, x->dapt = dapt, x->p = p;
        return 0;
    }
    free(zs), free(dapt), free(p);
    return rc;
}

static int build_run(rp_data *d, rp_run *x)
{
    const clpt_jrun *r = x->r;
    x->n = r->n_sched;
    for (int i = 0; i < r->n_domains; i++) {
        if (!r->domains[i].ended) continue;
        x->done++;
        if (!isnan(r->domains[i].tokens)) x->train_tokens += r->domains[i].tokens;
        if (!isnan(r->domains[i].seconds)) x->train_seconds += r->domains[i].seconds;
    }
    if (x->n < 1) return 0;
    int rc = measure_metrics(d, x, CLPT_MEASURE_PPL, &x->ppl);
    if (!rc) rc = measure_metrics(d, x, CLPT_MEASURE_RANK_MEAN, &x->rank);
    if (!rc) rc = measure_metrics(d, x, CLPT_MEASURE_RANK_MEDIAN, &x->rank_med);
    x->compared = !rc && any_present(x->p, (size_t)x->n * x->n);
    return rc;
}

/* Run names may repeat across experiment directories: then prefix the
 * directory's parent name ("small/similar-sequential"). */
static void make_label(rp_data *d, rp_run *x)
{
    int dup = 0;
    for (int i = 0; i < d->n_runs; i++)
        if (&d->runs[i] != x && !strcmp(d->runs[i].r->name, x->r->name)) dup = 1;
    if (!dup) {
        snprintf(x->label, sizeof x->label, "%.95s", x->r->name);
        return;
    }
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", x->r->dir);
    char *s = strrchr(tmp, '/');
    while (s && s > tmp && s[1] == '\0') *s = '\0', s = strrchr(tmp, '/');
    if (s) *s = '\0';
    s = strrchr(tmp, '/');
    snprintf(x->label, sizeof x->label, "%.40s/%.50s", s ? s + 1 : tmp, x->r->name);
}

static int add_domain(rp_data *d, const char *name)
{
    for (int i = 0; i < d->n_domains; i++)
        if (!strcmp(d->domains[i], name)) return 0;
    const char **v = realloc(d->domains, (d->n_domains + 1) * sizeof *v);
    if (!v) return clpt_err(CLPT_ENOMEM, "report: out of memory");
    d->domains = v;
    v[d->n_domains++] = name;
    return 0;
}

int rp_build(rp_data *d, const clpt_experiment *e, const clpt_report_opts *o)
{
    memset(d, 0, sizeof *d);
    d->e = e;
    d->split = o && o->split ? o->split : "test";
    d->title = o && o->title ? o->title : "clpt report";
    d->n_runs = clpt_experiment_nruns(e);
    d->runs = calloc(d->n_runs ? d->n_runs : 1, sizeof *d->runs);
    if (!d->runs) return clpt_err(CLPT_ENOMEM, "report: out of memory");
    int rc = 0;
    for (int i = 0; i < d->n_runs && !rc; i++) {
        d->runs[i].index = i;
        d->runs[i].r = clpt_experiment_run(e, i);
        rc = build_run(d, &d->runs[i]);
    }
    for (int i = 0; i < d->n_runs && !rc; i++) {
        rp_run *x = &d->runs[i];
        make_label(d, x);
        if (!x->compared) continue;
        x->color = palette[d->n_compared % NPALETTE];
        x->dash = (d->n_compared / NPALETTE) % 4;
        d->n_compared++;
    }
    /* Domain order for per-domain views: baseline runs first (the protocol
     * writes them in the manifest's "similar" order), then compared runs. */
    for (int pass = 0; pass < 2 && !rc; pass++)
        for (int i = 0; i < d->n_runs && !rc; i++)
            for (int j = 0; d->runs[i].compared == pass && j < d->runs[i].n && !rc; j++)
                rc = add_domain(d, d->runs[i].r->schedule[j]);
    if (rc) rp_free(d);
    return rc;
}

void rp_free(rp_data *d)
{
    for (int i = 0; i < d->n_runs; i++) {
        rp_run *x = &d->runs[i];
        free(x->zs), free(x->dapt), free(x->p);
        clpt_cl_metrics_free(&x->ppl);
        clpt_cl_metrics_free(&x->rank);
        clpt_cl_metrics_free(&x->rank_med);
    }
    free(d->runs);
    free(d->domains);
    memset(d, 0, sizeof *d);
}

/* ---- the metric rows --------------------------------------------------------- */

enum { R_ZS, R_DAPT, R_CPT, R_LC, R_GAP, R_WINS, R_LCZS, R_FG, R_BTN, R_BTM, R_FTM,
       R_BT1, R_FT1, R_RANK_LC, R_RMED_LC, R_RANK_ZS, R_NROWS };

static const rp_row rows[R_NROWS] = {
    [R_ZS] = {"ZS", "mean ppl of the base model M0 (zero-shot)", 0, 0},
    [R_DAPT] = {"DAPT", "mean ppl of M0 fine-tuned on each domain alone", 0, 0},
    [R_CPT] = {"CPT", "mean ppl right after training on the domain", -1, 0},
    [R_LC] = {"LC", "mean ppl of the last checkpoint", -1, 0},
    [R_GAP] = {"CPT - DAPT", "mean gap; < 0: continual beats standalone", -1, 0},
    [R_WINS] = {"CPT < DAPT", "share of domains where continual wins", +1, 1},
    [R_LCZS] = {"ZS - LC", "mean gain of the last checkpoint over M0", +1, 0},
    [R_FG] = {"FG", "forgetting: mean (LC - CPT); > 0 = forgot", -1, 0},
    [R_BTN] = {"BT_N", "backward transfer of the last checkpoint", +1, 0},
    [R_BTM] = {"mean BT_n", "backward transfer, mean over checkpoints", +1, 0},
    [R_FTM] = {"mean FT_n", "forward transfer, mean over checkpoints", +1, 0},
    [R_BT1] = {"BT(1)", "backward transfer to the previous domain", +1, 0},
    [R_FT1] = {"FT(1)", "forward transfer to the next domain", +1, 0},
    [R_RANK_LC] = {"rank LC", "mean rank of the true next token, last checkpoint", -1, 0},
    [R_RMED_LC] = {"median rank LC", "median rank (mean over domains), last checkpoint", -1, 0},
    [R_RANK_ZS] = {"rank ZS", "mean rank of the true next token, base model", 0, 0},
};

int rp_nrows(void) { return R_NROWS; }

const rp_row *rp_row_at(int i) { return i >= 0 && i < R_NROWS ? &rows[i] : NULL; }

clpt_stat rp_row_value(const rp_run *r, int i)
{
    const clpt_cl_metrics *m = &r->ppl;
    clpt_stat none = {NAN, 0, 0};
    if (r->n < 1) return none;
    switch (i) {
    case R_ZS: return m->mean_zs;
    case R_DAPT: return m->mean_dapt;
    case R_CPT: return m->mean_cpt;
    case R_LC: return m->mean_lc;
    case R_GAP: return m->cpt_vs_dapt;
    case R_WINS: return m->cpt_wins;
    case R_LCZS: return m->lc_vs_zs;
    case R_FG: return m->fg;
    case R_BTN: return m->bt_final;
    case R_BTM: return m->bt_mean;
    case R_FTM: return m->ft_mean;
    case R_BT1: return r->n > 1 ? m->bt_lag[1] : none;
    case R_FT1: return r->n > 1 ? m->ft_lag[1] : none;
    case R_RANK_LC: return r->rank.mean_lc;
    case R_RMED_LC: return r->rank_med.mean_lc;
    case R_RANK_ZS: return r->rank.mean_zs;
    default: return none;
    }
}

void rp_format(char *buf, size_t n, const rp_row *row, clpt_stat s)
{
    if (isnan(s.value)) {
        snprintf(buf, n, "-");
        return;
    }
    const char *mark = s.cells < s.expected ? "*" : "";
    double v = row->percent ? 100 * s.value : s.value;
    double a = fabs(v);
    int prec = row->percent ? 0 : a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : 3;
    snprintf(buf, n, "%.*f%s%s", prec, v, row->percent ? "%" : "", mark);
}

/* The run strictly best in row i; a tie for the best value marks none
 * (the values are printed rounded, so "equal" means within 1e-9). */
int rp_best(const rp_data *d, int i)
{
    int best = -1, tie = 0;
    double bv = 0;
    if (rows[i].better == 0 || d->n_compared < 2) return -1;
    for (int k = 0; k < d->n_runs; k++) {
        const rp_run *x = &d->runs[k];
        if (!x->compared) continue;
        double v = rp_row_value(x, i).value * rows[i].better;
        if (isnan(v)) continue;
        if (best >= 0 && fabs(v - bv) <= 1e-9 * fmax(1, fabs(bv))) tie = 1;
        else if (best < 0 || v > bv) best = k, bv = v, tie = 0;
    }
    return tie ? -1 : best;
}

/* ---- small writers ------------------------------------------------------------ */

void rp_xml(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

void rp_csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* M2D2 Wikipedia names are "<L1>__<L2>": the L2 part says enough in a
 * crowded axis; the full name goes in the tooltip. */
const char *rp_short_domain(const char *name, char *buf, size_t n)
{
    const char *s = strstr(name, "__");
    s = s && s[2] ? s + 2 : name;
    size_t len = strlen(s), max = n - 1 < 22 ? n - 1 : 22;
    if (len <= max) {
        snprintf(buf, n, "%s", s);
        return buf;
    }
    snprintf(buf, n, "%.*s\xe2\x80\xa6", (int)(max - 1), s);  /* U+2026 */
    return buf;
}

/* ---- the three files ------------------------------------------------------------- */

typedef int (*writer_fn)(const clpt_experiment *, FILE *, const clpt_report_opts *);

static int write_one(const clpt_experiment *e, const char *path, writer_fn fn,
                     const clpt_report_opts *o)
{
    clpt_afile af;
    int rc = clpt_afile_open(&af, path);
    if (rc) return rc;
    if ((rc = fn(e, af.fp, o))) {
        clpt_afile_abort(&af);
        return clpt_err_wrap(rc, "%s: ", path);
    }
    return clpt_afile_commit(&af);
}

/* The extension's dot in the last path component, or NULL. */
static const char *ext_of(const char *path)
{
    const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
    const char *dot = strrchr(base, '.');
    return dot && dot > base ? dot : NULL;
}

/* `path` with its extension replaced by `ext` (".csv"). */
static char *with_ext(const char *path, const char *ext)
{
    const char *dot = ext_of(path);
    size_t stem = dot ? (size_t)(dot - path) : strlen(path);
    char *s = malloc(stem + strlen(ext) + 1);
    if (!s) return NULL;
    memcpy(s, path, stem);
    strcpy(s + stem, ext);
    return s;
}

int clpt_report_write(const clpt_experiment *e, const char *html_path, const clpt_report_opts *o)
{
    char *html = with_ext(html_path, ".html"), *csv = with_ext(html_path, ".csv");
    char *md = with_ext(html_path, ".md");
    int rc = html && csv && md ? 0 : clpt_err(CLPT_ENOMEM, "report: out of memory");
    /* a given extension is kept as given (report.htm stays .htm) */
    if (!rc && ext_of(html_path)) {
        free(html);
        html = strdup(html_path);
        if (!html) rc = clpt_err(CLPT_ENOMEM, "report: out of memory");
    }
    if (!rc) rc = write_one(e, html, clpt_report_html, o);
    if (!rc) rc = write_one(e, csv, clpt_report_csv, o);
    if (!rc) rc = write_one(e, md, clpt_report_markdown, o);
    free(html), free(csv), free(md);
    return rc;
}
