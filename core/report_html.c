/* report_html.c - the self-contained HTML page: runs, metric tables,
 * transfer curves, CPT vs DAPT, heatmaps, training loss, per-domain table.
 * No script and no external resource: it renders offline and prints. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clpt.h"
#include "report_impl.h"

static const char *css =
    ":root{--ink:#1d2330;--mute:#5b6475;--line:#d9dee7;--bg:#f6f7f9}"
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif;"
    "color:var(--ink);background:var(--bg);margin:0}"
    "main{max-width:1240px;margin:0 auto;padding:24px 28px 60px}"
    "h1{font-size:26px;margin:0 0 4px}h2{font-size:19px;margin:34px 0 10px;padding-top:6px;"
    "border-top:1px solid var(--line)}h3{font-size:15px;margin:18px 0 6px}"
    ".sub{color:var(--mute);margin:0 0 14px}nav a{margin-right:14px;color:#0b5cad;text-decoration:none}"
    ".card{background:#fff;border:1px solid var(--line);border-radius:8px;padding:12px 14px;"
    "margin:10px 0;overflow-x:auto}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:12px}"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums}"
    "th,td{padding:4px 10px;border-bottom:1px solid #edf0f4;text-align:right;white-space:nowrap}"
    "th{background:#f0f3f7;font-weight:600;position:sticky;top:0}"
    "td.l,th.l{text-align:left}td.what{color:var(--mute);text-align:left;white-space:normal}"
    "tr:hover td{background:#f7fafd}td.best{font-weight:700;background:#e8f1fb}"
    ".sw{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:6px;"
    "vertical-align:-1px}.note{color:var(--mute);font-size:12.5px}"
    "svg text{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Noto Sans',sans-serif}"
    "svg .title{font-size:14px;font-weight:600;fill:#1d2330}svg .tick{font-size:11px;fill:#5b6475}"
    "svg .axis{font-size:12px;fill:#1d2330}svg .legend{font-size:11.5px;fill:#1d2330}"
    "svg .cat,svg .collab,svg .rowlab{font-size:10px;fill:#333}svg .cell{font-size:9px;text-anchor:middle}"
    "svg .grid{stroke:#e9edf2}svg .axisline{stroke:#8a93a3}svg .zero{stroke:#555;stroke-dasharray:3 3}"
    "svg .vmark{stroke:#c9d0da;stroke-dasharray:2 4}svg .series{fill:none;stroke-width:2;"
    "stroke-linejoin:round}svg .diag{fill:none;stroke:#111;stroke-width:1.2}"
    "code{background:#eef1f5;padding:0 4px;border-radius:3px}"
    ".flex{display:flex;flex-wrap:wrap;gap:12px}.flex>.card{flex:0 1 auto;margin:0;max-width:100%}"
    "th.run{white-space:normal;max-width:120px;vertical-align:bottom}th[colspan]{text-align:center}"
    "td.opts{white-space:normal;min-width:180px;max-width:320px;color:var(--mute)}"
    "th.what,td.what{min-width:260px}td.sched{white-space:normal;max-width:230px}";

static void esc(FILE *f, const char *s) { rp_xml(f, s); }

static void swatch(FILE *f, const rp_run *x)
{
    if (x->color) fprintf(f, "<span class=\"sw\" style=\"background:%s\"></span>", x->color);
}

/* ---- header and tables ------------------------------------------------------- */

static void options_text(FILE *f, const clpt_jrun *r)
{
    int k = 0;
    for (const cJSON *o = r->options ? r->options->child : NULL; o; o = o->next, k++) {
        fputs(k ? ", " : "", f);
        esc(f, o->string);
        fputc('=', f);
        if (cJSON_IsString(o)) esc(f, o->valuestring);
        else if (cJSON_IsNumber(o)) fprintf(f, "%g", o->valuedouble);
        else if (cJSON_IsBool(o)) fputs(cJSON_IsTrue(o) ? "true" : "false", f);
    }
    if (!k) fputs("&ndash;", f);
}

static double model_field(const clpt_jrun *r, const char *k)
{
    const cJSON *v = r->model ? cJSON_GetObjectItemCaseSensitive(r->model, k) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static const char *human_count(char *buf, size_t n, double v)
{
    if (v >= 1e9) snprintf(buf, n, "%.2fG", v / 1e9);
    else if (v >= 1e6) snprintf(buf, n, "%.2fM", v / 1e6);
    else if (v >= 1e3) snprintf(buf, n, "%.1fK", v / 1e3);
    else snprintf(buf, n, "%.0f", v);
    return buf;
}

static const char *human_seconds(char *buf, size_t n, double s)
{
    if (s >= 3600) snprintf(buf, n, "%.0fh %02.0fm", floor(s / 3600), floor(fmod(s, 3600) / 60));
    else if (s >= 60) snprintf(buf, n, "%.0fm %02.0fs", floor(s / 60), floor(fmod(s, 60)));
    else snprintf(buf, n, "%.1fs", s);
    return buf;
}

/* "cpu", or "cuda: <card> (<gemm>, <attention>[, bf16 activations][, GELU
 * fused])"; "?" for journals from before the field existed */
static void device_text(FILE *f, const clpt_jrun *r)
{
    const cJSON *d = r->device, *be = d ? cJSON_GetObjectItemCaseSensitive(d, "backend") : NULL;
    if (!cJSON_IsString(be)) {
        fputs("?", f);
        return;
    }
    esc(f, be->valuestring);
    const cJSON *gpu = cJSON_GetObjectItemCaseSensitive(d, "gpu"), *gemm = cJSON_GetObjectItemCaseSensitive(d, "gemm"),
                *att = cJSON_GetObjectItemCaseSensitive(d, "attention");
    if (cJSON_IsString(gpu)) fputs(": ", f), esc(f, gpu->valuestring);
    if (cJSON_IsString(gemm) && cJSON_IsString(att)) {
        fputs(" (", f);
        esc(f, gemm->valuestring);
        fputs(", ", f);
        esc(f, att->valuestring);
        const cJSON *act = cJSON_GetObjectItemCaseSensitive(d, "activations");
        if (cJSON_IsString(act) && !strcmp(act->valuestring, "bf16")) fputs(", bf16 activations", f);
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "gelu_fusion"))) fputs(", GELU fused", f);
        fputs(")", f);
    }
}

static void runs_table(FILE *f, const rp_data *d)
{
    fputs("<div class=\"card\"><table><tr><th class=\"l\">run</th><th class=\"l\">strategy</th>"
          "<th class=\"l\">options</th><th class=\"l\">schedule (first &rarr; last)</th><th>domains</th>"
          "<th>model</th><th class=\"l\">device</th><th>train tokens</th><th>train time</th>"
          "<th class=\"l\">status</th></tr>\n", f);
    for (int i = 0; i < d->n_runs; i++) {
        const rp_run *x = &d->runs[i];
        const clpt_jrun *r = x->r;
        fputs("<tr><td class=\"l\">", f);
        swatch(f, x);
        esc(f, x->label);
        fputs("</td><td class=\"l\">", f);
        esc(f, r->strategy ? r->strategy : "?");
        fputs("</td><td class=\"l opts\">", f);
        options_text(f, r);
        fputs("</td><td class=\"l sched\">", f);
        char sh[64];
        if (x->n) esc(f, rp_short_domain(r->schedule[0], sh, sizeof sh));
        if (x->n > 1) fputs(" &rarr; ", f), esc(f, rp_short_domain(r->schedule[x->n - 1], sh, sizeof sh));
        double params = model_field(r, "params");
        fprintf(f, "</td><td>%d/%d</td><td>", x->done, x->n);
        char pbuf[32];
        if (!isnan(params)) fputs(human_count(pbuf, sizeof pbuf, params), f);
        fputs("</td><td class=\"l\">", f);
        device_text(f, r);
        char tok[32], secs[32];
        fprintf(f, "</td><td>%s</td><td>%s</td><td class=\"l\">%s%s</td></tr>\n",
                human_count(tok, sizeof tok, x->train_tokens), human_seconds(secs, sizeof secs, x->train_seconds),
                r->finished ? "finished" : "in progress", x->compared ? "" : " (baseline)");
    }
    fputs("</table></div>\n", f);
}

static void summary_table(FILE *f, const rp_data *d)
{
    fputs("<div class=\"card\"><table><tr><th class=\"l\">metric</th>", f);
    for (int i = 0; i < d->n_runs; i++) {
        if (!d->runs[i].compared) continue;
        fputs("<th class=\"run\">", f);
        swatch(f, &d->runs[i]);
        esc(f, d->runs[i].label);
        fputs("</th>", f);
    }
    fputs("<th class=\"l what\">meaning</th></tr>\n", f);
    for (int k = 0; k < rp_nrows(); k++) {
        const rp_row *row = rp_row_at(k);
        int best = rp_best(d, k);
        fprintf(f, "<tr><td class=\"l\"><b>%s</b></td>", row->name);
        for (int i = 0; i < d->n_runs; i++) {
            if (!d->runs[i].compared) continue;
            char buf[64];
            clpt_stat s = rp_row_value(&d->runs[i], k);
            rp_format(buf, sizeof buf, row, s);
            fprintf(f, "<td%s title=\"%d of %d terms\">%s</td>", i == best ? " class=\"best\"" : "",
                    s.cells, s.expected, buf);
        }
        fprintf(f, "<td class=\"what\">%s%s</td></tr>\n", row->what,
                row->better ? (row->better < 0 ? " (lower is better)" : " (higher is better)") : "");
    }
    fputs("</table><p class=\"note\">Highlighted: best of the row. <code>*</code> = mean over only "
          "some of its terms (cells missing); <code>&ndash;</code> = no term present.</p></div>\n", f);
}

static void td_num(FILE *f, double v)
{
    if (isnan(v)) fputs("<td>&ndash;</td>", f);
    else fprintf(f, "<td>%.2f</td>", v);
}

/* ZS and DAPT of a domain from the first compared run that has them */
static void baselines(const rp_data *d, const char *dom, double *zs, double *dapt)
{
    *zs = *dapt = NAN;
    for (int i = 0; i < d->n_runs; i++) {
        int p = d->runs[i].compared ? rp_pos(&d->runs[i], dom) : -1;
        if (p >= 0 && isnan(*zs)) *zs = d->runs[i].ppl.zs[p];
        if (p >= 0 && isnan(*dapt)) *dapt = d->runs[i].ppl.dapt[p];
    }
}

static void domain_table(FILE *f, const rp_data *d)
{
    fprintf(f, "<div class=\"card\"><table><tr><th class=\"l\" rowspan=\"2\">domain</th>"
               "<th rowspan=\"2\">ZS</th><th rowspan=\"2\">DAPT</th><th colspan=\"%d\">CPT (right "
               "after the domain)</th><th colspan=\"%d\">LC (last checkpoint)</th></tr><tr>",
            d->n_compared, d->n_compared);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < d->n_runs; i++)
            if (d->runs[i].compared) {
                fputs("<th class=\"run\">", f);
                swatch(f, &d->runs[i]);
                esc(f, d->runs[i].label);
                fputs("</th>", f);
            }
    fputs("</tr>\n", f);
    for (int j = 0; j < d->n_domains; j++) {
        double zs, dapt;
        baselines(d, d->domains[j], &zs, &dapt);
        fputs("<tr><td class=\"l\">", f);
        esc(f, d->domains[j]);
        fputs("</td>", f);
        td_num(f, zs);
        td_num(f, dapt);
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < d->n_runs; i++) {
                const rp_run *x = &d->runs[i];
                if (!x->compared) continue;
                int p = rp_pos(x, d->domains[j]);
                td_num(f, p < 0 ? NAN : pass ? x->ppl.lc[p] : x->ppl.cpt[p]);
            }
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
}

/* ---- charts ------------------------------------------------------------------- */

/* The values of n stats as a plain array (caller frees); NULL on ENOMEM. */
static double *stat_values(const clpt_stat *s, int n, int from)
{
    double *v = malloc((n > 0 ? n : 1) * sizeof *v);
    for (int i = 0; v && i < n; i++) v[i] = i < from ? NAN : s[i].value;
    return v;
}

/* One chart with a series per compared run; pick(x) gives its stats. */
typedef const clpt_stat *(*stat_pick)(const rp_run *x);

static int run_chart(FILE *f, const rp_data *d, const rp_chart *c, stat_pick pick, int from,
                     int lag)
{
    rp_series *s = calloc(d->n_runs ? d->n_runs : 1, sizeof *s);
    double *xs = malloc((d->n_domains + 1) * sizeof *xs);
    int ns = 0, rc = 0;
    if (!s || !xs) rc = clpt_err(CLPT_ENOMEM, "report: out of memory");
    for (int i = 0; xs && i <= d->n_domains; i++) xs[i] = lag ? i : i + 1;
    for (int i = 0; i < d->n_runs && !rc; i++) {
        const rp_run *x = &d->runs[i];
        if (!x->compared) continue;
        double *y = stat_values(pick(x), x->n, from);
        if (!y) rc = clpt_err(CLPT_ENOMEM, "report: out of memory");
        else s[ns++] = (rp_series){x->label, xs, y, x->n, x->color, x->dash, x->n <= 40};
    }
    if (!rc) rp_svg_line_chart(f, c, s, ns);
    for (int i = 0; i < ns; i++) free((void *)s[i].y);
    free(s), free(xs);
    return rc;
}

static const clpt_stat *pick_bt(const rp_run *x) { return x->ppl.bt; }
static const clpt_stat *pick_ft(const rp_run *x) { return x->ppl.ft; }
static const clpt_stat *pick_btk(const rp_run *x) { return x->ppl.bt_lag; }
static const clpt_stat *pick_ftk(const rp_run *x) { return x->ppl.ft_lag; }
static const clpt_stat *pick_avg(const rp_run *x) { return x->ppl.avg; }

static int transfer_section(FILE *f, const rp_data *d)
{
    rp_chart c = {.w = 580, .h = 300, .zero_line = 1, .integer_x = 1};
    int rc;
    fputs("<div class=\"grid\"><div class=\"card\">", f);
    c.title = "Backward transfer BT\xe2\x82\x99 (earlier domains)";
    c.xlabel = "after domain n", c.ylabel = "mean (ZS \xe2\x88\x92 ppl), j < n";
    if ((rc = run_chart(f, d, &c, pick_bt, 1, 0))) return rc;
    fputs("</div><div class=\"card\">", f);
    c.title = "Forward transfer FT\xe2\x82\x99 (later domains)";
    c.ylabel = "mean (ZS \xe2\x88\x92 ppl), j > n";
    if ((rc = run_chart(f, d, &c, pick_ft, 0, 0))) return rc;
    fputs("</div><div class=\"card\">", f);
    c.title = "Backward transfer by lag BT(k)";
    c.xlabel = "lag k (k = 0: the domain just trained)", c.ylabel = "mean (ZS \xe2\x88\x92 ppl)";
    if ((rc = run_chart(f, d, &c, pick_btk, 0, 1))) return rc;
    fputs("</div><div class=\"card\">", f);
    c.title = "Forward transfer by lag FT(k)";
    if ((rc = run_chart(f, d, &c, pick_ftk, 0, 1))) return rc;
    fputs("</div></div><div class=\"card\">", f);
    c = (rp_chart){.w = 1160, .h = 280, .integer_x = 1, .title = "Mean perplexity of each checkpoint over the domains evaluated",
                   .xlabel = "after domain n", .ylabel = "mean ppl"};
    if ((rc = run_chart(f, d, &c, pick_avg, 0, 0))) return rc;
    fputs("</div>\n", f);
    return 0;
}

/* CPT_j relative to DAPT_j (or to ZS_j when no DAPT cell exists), per
 * domain, in the report's domain order. */
static int cpt_section(FILE *f, const rp_data *d)
{
    int have_dapt = 0, rc = 0, ns = 0;
    for (int j = 0; j < d->n_domains; j++) {
        double zs, dapt;
        baselines(d, d->domains[j], &zs, &dapt);
        have_dapt |= !isnan(dapt);
    }
    rp_series *s = calloc(d->n_runs ? d->n_runs : 1, sizeof *s);
    if (!s) return clpt_err(CLPT_ENOMEM, "report: out of memory");
    for (int i = 0; i < d->n_runs && !rc; i++) {
        const rp_run *x = &d->runs[i];
        if (!x->compared) continue;
        double *y = malloc(d->n_domains * sizeof *y);
        if (!y) { rc = clpt_err(CLPT_ENOMEM, "report: out of memory"); break; }
        for (int j = 0; j < d->n_domains; j++) {
            int p = rp_pos(x, d->domains[j]);
            double ref = p < 0 ? NAN : have_dapt ? x->ppl.dapt[p] : x->ppl.zs[p];
            y[j] = p < 0 ? NAN : 100 * (x->ppl.cpt[p] / ref - 1);
        }
        s[ns++] = (rp_series){x->label, NULL, y, d->n_domains, x->color, x->dash, 2};
    }
    rp_chart c = {.w = 1160, .h = 300, .zero_line = 1, .xcat = d->domains, .ncat = d->n_domains,
                  .title = have_dapt ? "CPT vs DAPT per domain: continual right after the domain, relative to standalone fine-tuning"
                                     : "CPT vs ZS per domain (no DAPT cells in the journals)",
                  .ylabel = have_dapt ? "CPT / DAPT \xe2\x88\x92 1 (%)" : "CPT / ZS \xe2\x88\x92 1 (%)"};
    if (!rc) {
        fputs("<div class=\"card\">", f);
        rp_svg_line_chart(f, &c, s, ns);
        fprintf(f, "<p class=\"note\">Below 0: continual pretraining reached a lower perplexity on "
                   "the domain than %s.</p></div>\n",
                have_dapt ? "fine-tuning the base model on that domain alone" : "the base model");
    }
    for (int i = 0; i < ns; i++) free((void *)s[i].y);
    free(s);
    return rc;
}

/* ---- heatmaps ------------------------------------------------------------------- */

/* The colour value of cell (row r: M0 when r = 0, else M_r; column j):
 * log2(ppl / ZS_j) on the diverging scale, ln(ppl) on the sequential one. */
static double heat_value(const rp_run *x, int r, int j, int diverging, double *shown)
{
    double p = r == 0 ? x->zs[j] : x->p[(size_t)(r - 1) * x->n + j];
    *shown = p;
    if (isnan(p) || !(p > 0)) return NAN;
    return diverging ? log2(p / x->zs[j]) : log(p);
}

/* One scale for every heatmap so colours compare across runs. */
static void heat_scale(const rp_data *d, int *diverging, double *vmin, double *vmax)
{
    *diverging = 1;
    for (int i = 0; i < d->n_runs; i++)
        for (int j = 0; d->runs[i].compared && j < d->runs[i].n; j++)
            if (isnan(d->runs[i].zs[j])) *diverging = 0;
    double lo = INFINITY, hi = -INFINITY, shown;
    for (int i = 0; i < d->n_runs; i++) {
        const rp_run *x = &d->runs[i];
        for (int r = 0; x->compared && r <= x->n; r++)
            for (int j = 0; j < x->n; j++) {
                double v = heat_value(x, r, j, *diverging, &shown);
                if (!isnan(v)) lo = fmin(lo, v), hi = fmax(hi, v);
            }
    }
    if (!isfinite(lo)) lo = 0, hi = 1;
    if (*diverging) {
        double m = fmax(fabs(lo), fabs(hi));
        m = ceil(m * 10) / 10;
        *vmin = -(m < 0.1 ? 0.1 : m), *vmax = -*vmin;
    } else {
        *vmin = lo, *vmax = hi > lo ? hi : lo + 1;
    }
}

static int one_heatmap(FILE *f, const rp_run *x, int diverging, double vmin, double vmax)
{
    int n = x->n, rows = n + 1, rc = 0;
    double *val = malloc((size_t)rows * n * sizeof *val), *shown = malloc((size_t)rows * n * sizeof *shown);
    char (*lab)[80] = malloc(rows * sizeof *lab);
    const char **rl = malloc(rows * sizeof *rl);
    if (!val || !shown || !lab || !rl) rc = clpt_err(CLPT_ENOMEM, "report: out of memory");
    for (int r = 0; !rc && r < rows; r++) {
        char sh[64];
        if (r == 0) snprintf(lab[r], sizeof lab[r], "M0 (base)");
        else snprintf(lab[r], sizeof lab[r], "M%d \xc2\xb7 %s", r, rp_short_domain(x->r->schedule[r - 1], sh, sizeof sh));
        rl[r] = lab[r];
        for (int j = 0; j < n; j++)
            val[(size_t)r * n + j] = heat_value(x, r, j, diverging, &shown[(size_t)r * n + j]);
    }
    if (!rc) {
        char title[160];
        snprintf(title, sizeof title, "%s: checkpoint (row) \xc3\x97 domain (column)", x->label);
        rp_heatmap h = {title, rows, n, val, shown, rl, x->r->schedule, x->r->schedule,
                        vmin, vmax, diverging, 1};
        fputs("<div class=\"card\">", f);
        rp_svg_heatmap(f, &h);
        fputs("</div>\n", f);
    }
    free(val), free(shown), free(lab), free(rl);
    return rc;
}

static int heatmap_section(FILE *f, const rp_data *d)
{
    int diverging, rc = 0;
    double vmin, vmax;
    heat_scale(d, &diverging, &vmin, &vmax);
    fputs("<div class=\"card\">", f);
    rp_svg_legend(f, vmin, vmax, diverging, 520);
    fprintf(f, "<p class=\"note\">%s Rows: the base model M0, then the checkpoint after each domain in "
               "training order; columns: domains in the same order. Outlined: each checkpoint on the "
               "domain it has just learned (CPT). Grey: not evaluated. Hover a cell for its perplexity.</p></div>\n",
            diverging ? "Colour: perplexity relative to the base model on the same domain "
                        "(blue = lower = better than zero-shot, red = higher), one scale for every run."
                      : "Colour: perplexity (log scale, one scale for every run); some zero-shot cells are missing.");
    int compact = 0;
    for (int i = 0; i < d->n_runs; i++)
        if (d->runs[i].compared && rp_heatmap_compact(d->runs[i].n + 1, d->runs[i].n)) compact = 1;
    if (compact)
        fprintf(f, "<p class=\"note\">Heatmaps of more than %d cells are drawn without per-cell hover "
                   "values, to keep the page light; every cell is in the CSV file beside this page.</p>\n",
                RP_HEATMAP_TOOLTIP_CELLS);
    fputs("<div class=\"flex\">", f);
    for (int i = 0; i < d->n_runs && !rc; i++)
        if (d->runs[i].compared) rc = one_heatmap(f, &d->runs[i], diverging, vmin, vmax);
    fputs("</div>\n", f);
    return rc;
}

/* ---- training loss ---------------------------------------------------------------- */

static int loss_section(FILE *f, const rp_data *d)
{
    rp_series *s = calloc(d->n_runs ? d->n_runs : 1, sizeof *s);
    double *vl = NULL;
    int ns = 0, nv = 0, rc = s ? 0 : clpt_err(CLPT_ENOMEM, "report: out of memory");
    for (int i = 0; i < d->n_runs && !rc; i++) {
        const rp_run *x = &d->runs[i];
        const clpt_jrun *r = x->r;
        if (!x->compared || !r->n_train) continue;
        double *xs = malloc(r->n_train * sizeof *xs), *ys = malloc(r->n_train * sizeof *ys);
        if (!xs || !ys) { free(xs), free(ys); rc = clpt_err(CLPT_ENOMEM, "report: out of memory"); break; }
        int mark = !vl;  /* domain boundaries of the first run with a curve */
        if (mark) vl = malloc((r->n_train + 1) * sizeof *vl);
        for (int t = 0; t < r->n_train; t++) {
            xs[t] = isnan(r->train[t].global_step) ? t + 1 : r->train[t].global_step;
            ys[t] = r->train[t].loss;
            if (mark && vl && t > 0 && r->train[t].index != r->train[t - 1].index) vl[nv++] = xs[t];
        }
        s[ns++] = (rp_series){x->label, xs, ys, r->n_train, x->color, x->dash, 0};
    }
    if (!rc && ns) {
        rp_chart c = {.w = 1160, .h = 300, .title = "Training loss (dotted lines: domain boundaries of the first run)",
                      .xlabel = "optimizer step (whole run)", .ylabel = "loss (nats/token)",
                      .vlines = vl, .nvlines = nv, .integer_x = 1};
        fputs("<div class=\"card\">", f);
        rp_svg_line_chart(f, &c, s, ns);
        fputs("</div>\n", f);
    } else if (!rc) {
        fputs("<p class=\"note\">No training events in the journals.</p>\n", f);
    }
    for (int i = 0; i < ns; i++) free((void *)s[i].x), free((void *)s[i].y);
    free(s), free(vl);
    return rc;
}

/* ---- the page ----------------------------------------------------------------------- */

static void definitions(FILE *f)
{
    fputs("<div class=\"card note\"><p>P(M, j): perplexity of model M on domain j's test split; "
          "domains numbered 1..N in each run's training order; M0 the base model, M<sub>n</sub> the "
          "checkpoint after domain n, A<sub>j</sub> M0 fine-tuned on domain j alone.</p><p>"
          "ZS<sub>j</sub> = P(M0, j) &middot; DAPT<sub>j</sub> = P(A<sub>j</sub>, j) &middot; "
          "CPT<sub>j</sub> = P(M<sub>j</sub>, j) &middot; LC<sub>j</sub> = P(M<sub>N</sub>, j) &middot; "
          "FG = mean<sub>j</sub> (LC<sub>j</sub> &minus; CPT<sub>j</sub>) &middot; "
          "BT<sub>n</sub> = mean<sub>j&lt;n</sub> (ZS<sub>j</sub> &minus; P(M<sub>n</sub>, j)) &middot; "
          "FT<sub>n</sub> = mean<sub>j&gt;n</sub> (ZS<sub>j</sub> &minus; P(M<sub>n</sub>, j)) &middot; "
          "BT(k) = mean<sub>n</sub> (ZS<sub>n&minus;k</sub> &minus; P(M<sub>n</sub>, n&minus;k)) &middot; "
          "FT(k) = mean<sub>n</sub> (ZS<sub>n+k</sub> &minus; P(M<sub>n</sub>, n+k)). "
          "Rank: position of the true next token in the model's sorted prediction (1 = top).</p></div>\n", f);
}

static int page_body(FILE *f, const rp_data *d)
{
    int rc = 0;
    fputs("<h2 id=\"runs\">Runs</h2>\n", f);
    runs_table(f, d);
    if (!d->n_compared) {
        fputs("<p class=\"note\">No run has checkpoint evaluations yet.</p>\n", f);
        return 0;
    }
    fputs("<h2 id=\"metrics\">Metrics</h2>\n", f);
    summary_table(f, d);
    definitions(f);
    fputs("<h2 id=\"transfer\">Transfer along the sequence</h2>\n", f);
    if ((rc = transfer_section(f, d))) return rc;
    fputs("<h2 id=\"cpt\">CPT vs DAPT per domain</h2>\n", f);
    if ((rc = cpt_section(f, d))) return rc;
    fputs("<h2 id=\"heatmaps\">Perplexity heatmaps</h2>\n", f);
    if ((rc = heatmap_section(f, d))) return rc;
    fputs("<h2 id=\"loss\">Training loss</h2>\n", f);
    if ((rc = loss_section(f, d))) return rc;
    fputs("<h2 id=\"domains\">Per domain</h2>\n", f);
    domain_table(f, d);
    return 0;
}

int clpt_report_html(const clpt_experiment *e, FILE *f, const clpt_report_opts *o)
{
    rp_data d;
    int rc = rp_build(&d, e, o);
    if (rc) return rc;
    char when[64];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&now));
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>", f);
    esc(f, d.title);
    fprintf(f, "</title><style>%s</style></head>\n<body><main>\n<h1>", css);
    esc(f, d.title);
    fprintf(f, "</h1><p class=\"sub\">clpt %s &middot; %d run%s (%d compared) &middot; split <code>",
            CLPT_VERSION, d.n_runs, d.n_runs == 1 ? "" : "s", d.n_compared);
    esc(f, d.split);
    fprintf(f, "</code> &middot; generated %s</p>\n<nav><a href=\"#runs\">Runs</a><a href=\"#metrics\">"
               "Metrics</a><a href=\"#transfer\">Transfer</a><a href=\"#cpt\">CPT vs DAPT</a>"
               "<a href=\"#heatmaps\">Heatmaps</a><a href=\"#loss\">Loss</a><a href=\"#domains\">"
               "Per domain</a></nav>\n", when);
    rc = page_body(f, &d);
    fputs("</main></body></html>\n", f);
    rp_free(&d);
    if (!rc && ferror(f)) rc = clpt_err(CLPT_EIO, "writing the HTML failed");
    return rc;
}
