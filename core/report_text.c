/* report_text.c - the CSV (every number, one per line), the Markdown page
 * and the terminal summary (report.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "clpt.h"
#include "report_impl.h"

/* ---- CSV: tidy, one value per line ----------------------------------------- */

static void csv_line(FILE *f, const rp_run *x, const char *metric, int index,
                     const char *domain, clpt_stat s)
{
    rp_csv_field(f, x->label);
    fputc(',', f);
    rp_csv_field(f, x->r->strategy ? x->r->strategy : "");
    fputc(',', f);
    rp_csv_field(f, metric);
    if (index >= 0) fprintf(f, ",%d,", index);
    else fputs(",,", f);
    rp_csv_field(f, domain ? domain : "");
    if (isnan(s.value)) fprintf(f, ",,%d,%d\n", s.cells, s.expected);
    else fprintf(f, ",%.10g,%d,%d\n", s.value, s.cells, s.expected);
}

static clpt_stat one(double v)
{
    clpt_stat s = {v, !isnan(v), 1};
    return s;
}

static void csv_run(FILE *f, const rp_run *x)
{
    const clpt_cl_metrics *m = &x->ppl;
    for (int i = 0; i < rp_nrows(); i++)
        csv_line(f, x, rp_row_at(i)->name, -1, NULL, rp_row_value(x, i));
    for (int j = 0; j < x->n; j++) {
        const char *dom = x->r->schedule[j];
        csv_line(f, x, "ZS_j", j + 1, dom, one(m->zs[j]));
        csv_line(f, x, "DAPT_j", j + 1, dom, one(m->dapt[j]));
        csv_line(f, x, "CPT_j", j + 1, dom, one(m->cpt[j]));
        csv_line(f, x, "LC_j", j + 1, dom, one(m->lc[j]));
    }
    for (int n = 0; n < x->n; n++) {
        csv_line(f, x, "BT_n", n + 1, NULL, m->bt[n]);
        csv_line(f, x, "FT_n", n + 1, NULL, m->ft[n]);
        csv_line(f, x, "mean_ppl_n", n + 1, NULL, m->avg[n]);
    }
    for (int k = 0; k < x->n; k++) {
        csv_line(f, x, "BT(k)", k, NULL, m->bt_lag[k]);
        csv_line(f, x, "FT(k)", k, NULL, m->ft_lag[k]);
    }
    /* the matrix itself: P(M_n, j) with n in index, j in domain */
    for (int n = 0; n < x->n; n++)
        for (int j = 0; j < x->n; j++)
            if (!isnan(x->p[(size_t)n * x->n + j]))
                csv_line(f, x, "ppl", n + 1, x->r->schedule[j], one(x->p[(size_t)n * x->n + j]));
}

int clpt_report_csv(const clpt_experiment *e, FILE *f, const clpt_report_opts *o)
{
    rp_data d;
    int rc = rp_build(&d, e, o);
    if (rc) return rc;
    fputs("run,strategy,metric,index,domain,value,cells,expected\n", f);
    for (int i = 0; i < d.n_runs; i++)
        if (d.runs[i].compared) csv_run(f, &d.runs[i]);
    rp_free(&d);
    return ferror(f) ? clpt_err(CLPT_EIO, "writing the CSV failed") : 0;
}

/* ---- Markdown ---------------------------------------------------------------- */

/* Markdown table cells: keep pipes from splitting the cell. */
static void md_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        if (*s == '|') fputc('\\', f);
        fputc(*s, f);
    }
}

static void md_runs(FILE *f, const rp_data *d)
{
    fputs("| run | strategy | domains | train tokens | train time | status |\n"
          "| --- | --- | ---: | ---: | ---: | --- |\n", f);
    for (int i = 0; i < d->n_runs; i++) {
        const rp_run *x = &d->runs[i];
        fputs("| ", f);
        md_text(f, x->label);
        fputs(" | ", f);
        md_text(f, x->r->strategy ? x->r->strategy : "?");
        fprintf(f, " | %d/%d | %.0f | %.0f s | %s%s |\n", x->done, x->n, x->train_tokens,
                x->train_seconds, x->r->finished ? "finished" : "in progress",
                x->compared ? "" : " (baseline)");
    }
}

static void md_summary(FILE *f, const rp_data *d)
{
    fputs("| metric |", f);
    for (int i = 0; i < d->n_runs; i++)
        if (d->runs[i].compared) fputs(" ", f), md_text(f, d->runs[i].label), fputs(" |", f);
    fputs(" meaning |\n| --- |", f);
    for (int i = 0; i < d->n_compared; i++) fputs(" ---: |", f);
    fputs(" --- |\n", f);
    for (int k = 0; k < rp_nrows(); k++) {
        const rp_row *row = rp_row_at(k);
        int best = rp_best(d, k);
        fprintf(f, "| %s |", row->name);
        for (int i = 0; i < d->n_runs; i++) {
            if (!d->runs[i].compared) continue;
            char buf[64];
            rp_format(buf, sizeof buf, row, rp_row_value(&d->runs[i], k));
            fprintf(f, i == best ? " **%s** |" : " %s |", buf);
        }
        fprintf(f, " %s |\n", row->what);
    }
}

static void md_cell(FILE *f, double v)
{
    if (isnan(v)) fputs(" - |", f);
    else fprintf(f, " %.2f |", v);
}

static void md_domains(FILE *f, const rp_data *d)
{
    fputs("| domain | ZS | DAPT |", f);
    for (int i = 0; i < d->n_runs; i++)
        if (d->runs[i].compared) fputs(" CPT ", f), md_text(f, d->runs[i].label), fputs(" |", f);
    for (int i = 0; i < d->n_runs; i++)
        if (d->runs[i].compared) fputs(" LC ", f), md_text(f, d->runs[i].label), fputs(" |", f);
    fputs("\n| --- | ---: | ---: |", f);
    for (int i = 0; i < 2 * d->n_compared; i++) fputs(" ---: |", f);
    fputc('\n', f);
    for (int j = 0; j < d->n_domains; j++) {
        double zs = NAN, dapt = NAN;
        for (int i = 0; i < d->n_runs && isnan(zs + dapt); i++) {
            int p = d->runs[i].compared ? rp_pos(&d->runs[i], d->domains[j]) : -1;
            if (p >= 0 && isnan(zs)) zs = d->runs[i].ppl.zs[p];
            if (p >= 0 && isnan(dapt)) dapt = d->runs[i].ppl.dapt[p];
        }
        fputs("| ", f);
        md_text(f, d->domains[j]);
        fputs(" |", f);
        md_cell(f, zs);
        md_cell(f, dapt);
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < d->n_runs; i++) {
                if (!d->runs[i].compared) continue;
                int p = rp_pos(&d->runs[i], d->domains[j]);
                md_cell(f, p < 0 ? NAN : pass ? d->runs[i].ppl.lc[p] : d->runs[i].ppl.cpt[p]);
            }
        fputc('\n', f);
    }
}

int clpt_report_markdown(const clpt_experiment *e, FILE *f, const clpt_report_opts *o)
{
    rp_data d;
    int rc = rp_build(&d, e, o);
    if (rc) return rc;
    fprintf(f, "# %s\n\nTest split: `%s`. Perplexities; lower is better. "
               "`*` = mean over only some of its terms (cells missing), `-` = missing.\n\n",
            d.title, d.split);
    fputs("## Runs\n\n", f);
    md_runs(f, &d);
    if (d.n_compared) {
        fputs("\n## Metrics\n\n", f);
        md_summary(f, &d);
        fputs("\n## Per domain\n\n", f);
        md_domains(f, &d);
    }
    rp_free(&d);
    return ferror(f) ? clpt_err(CLPT_EIO, "writing the Markdown failed") : 0;
}

/* ---- the terminal table -------------------------------------------------------- */

int clpt_report_summary(const clpt_experiment *e, FILE *f, const clpt_report_opts *o)
{
    rp_data d;
    int rc = rp_build(&d, e, o);
    if (rc) return rc;
    if (!d.n_compared) return rp_free(&d), 0;
    int w = 10;
    for (int i = 0; i < d.n_runs; i++) {
        int len = (int)strlen(d.runs[i].label);
        if (d.runs[i].compared && len > w) w = len < 28 ? len : 28;
    }
    fprintf(f, "\n%-15s", "metric");
    for (int i = 0; i < d.n_runs; i++)
        if (d.runs[i].compared) fprintf(f, "  %*.*s", w, w, d.runs[i].label);
    fputc('\n', f);
    for (int k = 0; k < rp_nrows(); k++) {
        const rp_row *row = rp_row_at(k);
        int best = rp_best(&d, k);
        fprintf(f, "%-15s", row->name);
        for (int i = 0; i < d.n_runs; i++) {
            if (!d.runs[i].compared) continue;
            char buf[64];
            rp_format(buf, sizeof buf, row, rp_row_value(&d.runs[i], k));
            if (i == best) strcat(buf, " <");
            fprintf(f, "  %*s", w, buf);
        }
        fputc('\n', f);
    }
    fputs("(ppl on the test split; '<' = best of the row, '*' = partial, '-' = missing)\n", f);
    rp_free(&d);
    return 0;
}
