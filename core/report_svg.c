/* report_svg.c - the inline SVG kit of the HTML report: line and dot
 * charts with nice ticks, heatmaps, colour scales and their legend. Text
 * uses CSS classes the page defines (report_html.c), so charts inherit one
 * look. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_impl.h"

/* ---- colours --------------------------------------------------------------- */

/* ColorBrewer RdBu (colour-blind safe), reversed: blue = lower = better. */
static const unsigned rdbu[11] = {0x053061, 0x2166ac, 0x4393c3, 0x92c5de, 0xd1e5f0, 0xf7f7f7,
                                  0xfddbc7, 0xf4a582, 0xd6604d, 0xb2182b, 0x67001f};
/* viridis, 9 stops: perceptually uniform, colour-blind safe */
static const unsigned viridis[9] = {0x440154, 0x472d7b, 0x3b528b, 0x2c728e, 0x21918c,
                                    0x28ae80, 0x5ec962, 0xaddc30, 0xfde725};

static void lerp_stops(const unsigned *s, int n, double t, char out[8])
{
    if (!(t >= 0)) t = 0;
    if (t > 1) t = 1;
    double x = t * (n - 1);
    int i = (int)x;
    if (i >= n - 1) i = n - 2;
    double u = x - i;
    int rgb[3];
    for (int c = 0; c < 3; c++) {
        int a = (s[i] >> (16 - 8 * c)) & 255, b = (s[i + 1] >> (16 - 8 * c)) & 255;
        rgb[c] = (int)lround(a + (b - a) * u);
    }
    snprintf(out, 8, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

void rp_color(double t, int diverging, char out[8])
{
    if (diverging) lerp_stops(rdbu, 11, t, out);
    else lerp_stops(viridis, 9, t, out);
}

/* Dark text on light cells, light text on dark ones. */
static const char *ink_for(const char *hex)
{
    unsigned v = 0;
    sscanf(hex + 1, "%6x", &v);
    double lum = 0.2126 * ((v >> 16) & 255) + 0.7152 * ((v >> 8) & 255) + 0.0722 * (v & 255);
    return lum > 140 ? "#222" : "#fff";
}

/* ---- axes ------------------------------------------------------------------ */

static double nice_step(double range, int target)
{
    if (!(range > 0)) return 1;
    double raw = range / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) * mag;
}

static void fmt_tick(char *buf, size_t n, double v, double step)
{
    if (fabs(v) < step * 1e-6) v = 0;
    int prec = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
    if (prec > 6) prec = 6;
    double a = fabs(v);
    if (a >= 1e5 && step >= 1) snprintf(buf, n, "%.3g", v);
    else snprintf(buf, n, "%.*f", prec, v);
}

typedef struct frame {
    double x0, x1, y0, y1;      /* data range */
    double ystep;               /* between y ticks; y0 and y1 are multiples */
    double px, py, pw, ph;      /* plot area in pixels */
} frame;

static double fx(const frame *fr, double x) { return fr->px + (x - fr->x0) / (fr->x1 - fr->x0) * fr->pw; }
static double fy(const frame *fr, double y) { return fr->py + fr->ph - (y - fr->y0) / (fr->y1 - fr->y0) * fr->ph; }

static void data_range(const rp_chart *c, const rp_series *s, int ns, frame *fr)
{
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x ? s[k].x[i] : i + 1, y = s[k].y[i];
            if (!isfinite(y) || !isfinite(x)) continue;
            xmin = fmin(xmin, x), xmax = fmax(xmax, x);
            ymin = fmin(ymin, y), ymax = fmax(ymax, y);
        }
    if (c->xcat) xmin = 0.5, xmax = c->ncat + 0.5;
    if (!isfinite(xmin)) xmin = 0, xmax = 1;
    if (xmax <= xmin) xmin -= 0.5, xmax += 0.5;
    if (!isfinite(ymin)) ymin = 0, ymax = 1;
    if (c->zero_line) ymin = fmin(ymin, 0), ymax = fmax(ymax, 0);
    if (ymax - ymin < 1e-12) ymin -= 1, ymax += 1;
    double step = nice_step(ymax - ymin, 5);
    fr->x0 = xmin, fr->x1 = xmax;
    fr->y0 = floor(ymin / step) * step, fr->y1 = ceil(ymax / step) * step;
    fr->ystep = step;
}

static void y_axis(FILE *f, const frame *fr, const char *label)
{
    double step = fr->ystep;
    char buf[32];
    for (double v = fr->y0; v <= fr->y1 + step * 1e-9; v += step) {
        double y = fy(fr, v);
        fmt_tick(buf, sizeof buf, v, step);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>", fr->px,
                fr->px + fr->pw, y, y);
        fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                fr->px - 6, y + 4, buf);
    }
    if (label) {
        fprintf(f, "<text class=\"axis\" transform=\"translate(14 %.1f) rotate(-90)\" "
                   "text-anchor=\"middle\">", fr->py + fr->ph / 2);
        rp_xml(f, label);
        fputs("</text>\n", f);
    }
}

static void x_axis(FILE *f, const rp_chart *c, const frame *fr)
{
    double base = fr->py + fr->ph;
    fprintf(f, "<line class=\"axisline\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
            fr->px, fr->px + fr->pw, base, base);
    if (c->xcat) {
        int every = 1;
        while (c->ncat / every > fr->pw / 11) every++;
        char sh[64];
        for (int i = 0; i < c->ncat; i += every) {
            double x = fx(fr, i + 1);
            fprintf(f, "<text class=\"cat\" transform=\"translate(%.1f %.1f) rotate(-50)\" "
                       "text-anchor=\"end\"><title>", x + 3, base + 10);
            rp_xml(f, c->xcat[i]);
            fputs("</title>", f);
            rp_xml(f, rp_short_domain(c->xcat[i], sh, sizeof sh));
            fputs("</text>\n", f);
        }
    } else {
        double step = nice_step(fr->x1 - fr->x0, 8);
        if (c->integer_x && step < 1) step = 1;
        char buf[32];
        for (double v = ceil(fr->x0 / step) * step; v <= fr->x1 + 1e-9; v += step) {
            fmt_tick(buf, sizeof buf, v, step);
            fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>",
                    fx(fr, v), base + 16, buf);
        }
    }
    if (c->xlabel) {
        fprintf(f, "\n<text class=\"axis\" x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">",
                fr->px + fr->pw / 2, c->h - 6);
        rp_xml(f, c->xlabel);
        fputs("</text>\n", f);
    }
}

/* ---- line / dot charts -------------------------------------------------------- */

static const char *const dashes[4] = {"", " stroke-dasharray=\"7 4\"", " stroke-dasharray=\"2 3\"",
                                      " stroke-dasharray=\"8 3 2 3\""};

static void series_path(FILE *f, const frame *fr, const rp_series *s)
{
    int pen = 0;
    if (s->markers == 2) return;
    fprintf(f, "<path class=\"series\" stroke=\"%s\"%s d=\"", s->color, dashes[s->dash & 3]);
    for (int i = 0; i < s->n; i++) {
        double x = s->x ? s->x[i] : i + 1, y = s->y[i];
        if (!isfinite(y)) {
            pen = 0;   /* a gap where a value is missing */
            continue;
        }
        fprintf(f, "%c%.1f %.1f", pen ? 'L' : 'M', fx(fr, x), fy(fr, y));
        pen = 1;
    }
    fputs("\"/>\n", f);
}

static void series_points(FILE *f, const rp_chart *c, const frame *fr, const rp_series *s)
{
    if (!s->markers) return;
    for (int i = 0; i < s->n; i++) {
        double x = s->x ? s->x[i] : i + 1, y = s->y[i];
        if (!isfinite(y)) continue;
        fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3.2\" fill=\"%s\"><title>", fx(fr, x),
                fy(fr, y), s->color);
        rp_xml(f, s->label);
        if (c->xcat && x >= 1 && x <= c->ncat) fputs(" \xc2\xb7 ", f), rp_xml(f, c->xcat[(int)x - 1]);
        else fprintf(f, " \xc2\xb7 %g", x);
        fprintf(f, ": %.4g</title></circle>", y);
    }
    fputc('\n', f);
}

/* Legend as a row of swatches under the title; wraps when wide. */
static double legend(FILE *f, const rp_series *s, int ns, double x0, double y, double wmax)
{
    double x = x0;
    for (int k = 0; k < ns; k++) {
        double w = 34 + 6.6 * (double)strlen(s[k].label);
        if (x + w > x0 + wmax && x > x0) x = x0, y += 16;
        if (s[k].markers != 2)
            fprintf(f, "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                       "stroke-width=\"2.5\"%s/>", x, x + 20, y - 4, y - 4, s[k].color, dashes[s[k].dash & 3]);
        if (s[k].markers) fprintf(f, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%s\"/>", x + 10, y - 4, s[k].color);
        fprintf(f, "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\">", x + 25, y);
        rp_xml(f, s[k].label);
        fputs("</text>\n", f);
        x += w;
    }
    return y;
}

static void svg_open(FILE *f, int w, int h, const char *title)
{
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"", w, h, w, h);
    rp_xml(f, title ? title : "chart");
    fputs("\">\n", f);
    if (title) {
        fputs("<text class=\"title\" x=\"8\" y=\"18\">", f);
        rp_xml(f, title);
        fputs("</text>\n", f);
    }
}

void rp_svg_line_chart(FILE *f, const rp_chart *c, const rp_series *s, int ns)
{
    rp_chart cc = *c;
    /* estimate the legend's rows so the plot starts below it */
    double lw = 0;
    int lrows = ns ? 1 : 0;
    for (int k = 0; k < ns; k++) {
        double w = 34 + 6.6 * (double)strlen(s[k].label);
        if (lw + w > c->w - 72 && lw > 0) lrows++, lw = 0;
        lw += w;
    }
    double bottom = c->xcat ? 118 : 44, top = 30 + 16 * lrows;
    cc.h = c->h + (int)(16 * lrows) + (c->xcat ? 74 : 0);
    frame fr;
    data_range(c, s, ns, &fr);
    fr.px = 64, fr.py = top, fr.pw = c->w - 64 - 16, fr.ph = cc.h - top - bottom;
    svg_open(f, cc.w, cc.h, c->title);
    legend(f, s, ns, 64, 40, c->w - 72);
    y_axis(f, &fr, c->ylabel);
    for (int i = 0; i < c->nvlines; i++)
        if (c->vlines[i] > fr.x0 && c->vlines[i] < fr.x1)
            fprintf(f, "<line class=\"vmark\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>",
                    fx(&fr, c->vlines[i]), fx(&fr, c->vlines[i]), fr.py, fr.py + fr.ph);
    if (c->zero_line && fr.y0 < 0 && fr.y1 > 0)
        fprintf(f, "<line class=\"zero\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n", fr.px,
                fr.px + fr.pw, fy(&fr, 0), fy(&fr, 0));
    x_axis(f, &cc, &fr);
    int points = 0;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) points += isfinite(s[k].y[i]) != 0;
    if (!points)   /* say so rather than leave an empty frame to puzzle over */
        fprintf(f, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">no values: "
                   "the cells this chart needs are not in the journals</text>\n",
                fr.px + fr.pw / 2, fr.py + fr.ph / 2);
    for (int k = 0; k < ns; k++) series_path(f, &fr, &s[k]);
    for (int k = 0; k < ns; k++) series_points(f, c, &fr, &s[k]);
    fputs("</svg>\n", f);
}

/* ---- heatmaps ---------------------------------------------------------------- */

/* Pixels the longest label needs (shorten: as rp_short_domain prints it). */
static int label_width(const char *const *labels, int n, double px_per_char, int cap, int shorten)
{
    size_t m = 0;
    char sh[64];
    for (int i = 0; i < n; i++) {
        const char *s = shorten ? rp_short_domain(labels[i], sh, sizeof sh) : labels[i];
        size_t len = strlen(s);
        for (const char *c = s; *c; c++) len -= ((unsigned char)*c & 0xc0) == 0x80;   /* UTF-8 */
        if (len > m) m = len;
    }
    int w = (int)(m * px_per_char) + 12;
    return w < cap ? w : cap;
}

static void heat_cell(FILE *f, const rp_heatmap *h, int r, int c, double x, double y, double cs)
{
    size_t i = (size_t)r * h->cols + c;
    double v = h->value[i], shown = h->shown ? h->shown[i] : v;
    char col[8] = "#e6e6e6";
    if (!isnan(v)) rp_color((v - h->vmin) / (h->vmax - h->vmin), h->diverging, col);
    fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>", x, y,
            cs, cs, col);
    rp_xml(f, h->row_labels[r]);
    fputs(" on ", f);
    rp_xml(f, h->col_full ? h->col_full[c] : h->col_labels[c]);
    if (isnan(v)) fputs(": not evaluated", f);
    else if (h->diverging) fprintf(f, ": ppl %.4g (%+.1f%% vs ZS)", shown, (exp2(v) - 1) * 100);
    else fprintf(f, ": ppl %.4g", shown);
    fputs("</title></rect>", f);
    if (cs >= 26 && !isnan(v))
        fprintf(f, "<text class=\"cell\" x=\"%.1f\" y=\"%.1f\" fill=\"%s\" style=\"font-size:%dpx\">"
                   "%.3g</text>", x + cs / 2, y + cs / 2 + 3.5, ink_for(col), cs >= 40 ? 11 : 9, shown);
}

/* Large heatmaps (the study's 160 x 159): one path per colour instead of a
 * rect with a tooltip per cell. Colours are quantised to 256 levels of the
 * scale (plus grey for missing cells); cells are whole pixels wide, so each
 * is "M x yhcvch-cz" in integers. About a tenth of the bytes and of the
 * DOM nodes; report.csv keeps every value. */
static void heat_cells_compact(FILE *f, const rp_heatmap *h, int left, int top, int cs)
{
    enum { LEVELS = 256 };
    size_t n = (size_t)h->rows * h->cols;
    short *level = malloc(n * sizeof *level);
    if (!level) return; /* the page loses the cells, not its other figures */
    int used[LEVELS + 1] = {0};
    for (size_t i = 0; i < n; i++) {
        double v = h->value[i];
        int k = LEVELS; /* missing */
        if (!isnan(v)) {
            double t = (v - h->vmin) / (h->vmax - h->vmin);
            k = (int)lround(fmin(1.0, fmax(0.0, t)) * (LEVELS - 1));
        }
        level[i] = (short)k;
        used[k] = 1;
    }
    for (int k = 0; k <= LEVELS; k++) {
        if (!used[k]) continue;
        char col[8] = "#e6e6e6";
        if (k < LEVELS) rp_color((double)k / (LEVELS - 1), h->diverging, col);
        fprintf(f, "<path fill=\"%s\" d=\"", col);
        for (size_t i = 0; i < n; i++)
            if (level[i] == k)
                fprintf(f, "M%d %dh%dv%dh-%dz", left + (int)(i % h->cols) * cs, top + (int)(i / h->cols) * cs,
                        cs, cs, cs);
        fputs("\"/>\n", f);
    }
    free(level);
}

void rp_svg_heatmap(FILE *f, const rp_heatmap *h)
{
    double cs = 760.0 / (h->cols > 0 ? h->cols : 1);
    cs = cs < 9 ? 9 : cs > 46 ? 46 : floor(cs);
    double font = cs < 11 ? cs - 1 : 11;
    int left = label_width(h->row_labels, h->rows, font * 0.62, 260, 0);
    int bottom = (int)(label_width(h->col_labels, h->cols, font * 0.6, 220, 1) * 0.82) + 12;
    int w = left + (int)(cs * h->cols) + 12, hh = 30 + (int)(cs * h->rows) + bottom;
    int tw = 16 + (int)(7.6 * (double)strlen(h->title ? h->title : ""));
    if (w < tw) w = tw;   /* room for the title */
    svg_open(f, w, hh, h->title);
    char sh[64];
    int compact = rp_heatmap_compact(h->rows, h->cols);
    for (int r = 0; r < h->rows; r++) {
        double y = 30 + r * cs;
        fprintf(f, "<text class=\"rowlab\" x=\"%d\" y=\"%.1f\" text-anchor=\"end\" "
                   "style=\"font-size:%.1fpx\">", left - 6, y + cs / 2 + font / 3, font);
        rp_xml(f, h->row_labels[r]);
        fputs("</text>\n", f);
        for (int c = 0; !compact && c < h->cols; c++) heat_cell(f, h, r, c, left + c * cs, y, cs);
        if (!compact) fputc('\n', f);
    }
    if (compact) heat_cells_compact(f, h, left, 30, (int)cs);
    /* outline the diagonal: each checkpoint on the domain it just learned */
    for (int r = 0; h->diag_offset >= 0 && r < h->rows; r++) {
        int c = r - h->diag_offset;
        if (c >= 0 && c < h->cols)
            fprintf(f, "<rect class=\"diag\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"%s/>",
                    left + c * cs + 0.5, 30 + r * cs + 0.5, cs - 1, cs - 1,
                    cs < 16 ? " style=\"stroke-width:0.7\"" : "");   /* small cells: keep the colour visible */
    }
    double base = 30 + h->rows * cs;
    for (int c = 0; c < h->cols; c++) {
        fprintf(f, "\n<text class=\"collab\" transform=\"translate(%.1f %.1f) rotate(-55)\" "
                   "text-anchor=\"end\" style=\"font-size:%.1fpx\"><title>",
                left + c * cs + cs / 2 + font / 3, base + 6, font);
        rp_xml(f, h->col_full ? h->col_full[c] : h->col_labels[c]);
        fputs("</title>", f);
        rp_xml(f, rp_short_domain(h->col_labels[c], sh, sizeof sh));
        fputs("</text>", f);
    }
    fputs("\n</svg>\n", f);
}

int rp_heatmap_compact(int rows, int cols) { return (long)rows * cols > RP_HEATMAP_TOOLTIP_CELLS; }

void rp_svg_legend(FILE *f, double vmin, double vmax, int diverging, int w)
{
    int bw = w - 40, steps = 80;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"legendbar\" width=\"%d\" "
               "height=\"46\" viewBox=\"0 0 %d 46\" role=\"img\" aria-label=\"colour scale\">\n", w, w);
    for (int i = 0; i < steps; i++) {
        char col[8];
        rp_color((i + 0.5) / steps, diverging, col);
        fprintf(f, "<rect x=\"%.2f\" y=\"4\" width=\"%.2f\" height=\"14\" fill=\"%s\"/>",
                20 + (double)bw * i / steps, (double)bw / steps + 0.3, col);
    }
    for (int i = 0; i <= 4; i++) {
        double v = vmin + (vmax - vmin) * i / 4, x = 20 + (double)bw * i / 4;
        fprintf(f, "\n<line class=\"axisline\" x1=\"%.1f\" x2=\"%.1f\" y1=\"18\" y2=\"23\"/>", x, x);
        if (diverging) fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"36\" text-anchor=\"middle\">%+.0f%%</text>",
                               x, (exp2(v) - 1) * 100);
        else fprintf(f, "<text class=\"tick\" x=\"%.1f\" y=\"36\" text-anchor=\"middle\">%.3g</text>",
                     x, exp(v));
    }
    fputs("\n</svg>\n", f);
}
