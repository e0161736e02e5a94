/* evaluate.c - perplexity over evaluation windows, with a rank histogram. */
#include "evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clpt.h"

typedef struct eval_acc {
    double nll;
    uint64_t tokens, top1;
    uint64_t *hist;  /* hist[r] = tokens with rank r (1..V), when ranks are asked */
    double rank_sum;
} eval_acc;

static void accumulate(eval_acc *a, const float *losses, const int *ranks, int n)
{
    for (int i = 0; i < n; i++) {
        a->nll += losses[i];
        if (!a->hist) continue;
        a->hist[ranks[i]]++;
        a->rank_sum += ranks[i];
        a->top1 += ranks[i] == 1;
    }
    a->tokens += n;
}

static double hist_median(const uint64_t *hist, int V, uint64_t n)
{
    uint64_t lo = (n - 1) / 2, hi = n / 2, seen = 0;
    double a = 0, b = 0;
    int have_a = 0;
    for (int r = 1; r <= V; r++) {
        seen += hist[r];
        if (!have_a && seen > lo) a = r, have_a = 1;
        if (seen > hi) {
            b = r;
            break;
        }
    }
    return (a + b) / 2;
}

/* run windows [w0, w0+nb) of length T as one (nb, T) batch */
static int run_batch(clpt_model *m, const clpt_evalwin *ew, uint64_t w0, int nb, int T,
                     int *x, int *y, float *losses, int *ranks, eval_acc *acc)
{
    int len = 0;
    for (int b = 0; b < nb; b++) {
        int rc = clpt_evalwin_get(ew, w0 + b, x + (size_t)b * T, y + (size_t)b * T, &len);
        if (rc) return rc;
    }
    int rc = clpt_model_forward(m, x, y, nb, len, NULL, losses, acc->hist ? ranks : NULL);
    if (rc) return rc;
    accumulate(acc, losses, ranks, nb * len);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int clpt_evaluate(clpt_model *m, const clpt_source *src, int T, int B,
                  uint64_t max_tokens, int with_rank, clpt_eval_result *out,
                  clpt_eval_progress progress, void *ud)
{
    memset(out, 0, sizeof *out);
    if (T < 1 || T > clpt_model_cfg(m)->n_ctx || B < 1)
        return clpt_err(CLPT_EINVAL, "evaluate: window %d or batch %d invalid (n_ctx %d)", T, B,
                        clpt_model_cfg(m)->n_ctx);
    clpt_evalwin ew;
    int rc = clpt_evalwin_init(&ew, src, T, max_tokens);
    if (rc) return rc;
    uint64_t nw = clpt_evalwin_count(&ew), total = ew.n > 1 ? ew.n - 1 : 0;
    if (nw == 0) return clpt_err(CLPT_EINVAL, "evaluate: the data has fewer than 2 tokens");
    int V = clpt_model_cfg(m)->vocab_size;
    size_t n = (size_t)B * T;
    int *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y), *ranks = malloc(n * sizeof *ranks);
    float *losses = malloc(n * sizeof *losses);
    eval_acc acc = {0};
    if (with_rank) acc.hist = calloc((size_t)V + 1, sizeof *acc.hist);
    double t0 = now();
    if (!x || !y || !ranks || !losses || (with_rank && !acc.hist)) {
        rc = clpt_err(CLPT_ENOMEM, "evaluate: out of memory");
        goto done;
    }
    /* all windows but the last are full; the last may be short */
    uint64_t full = nw - 1, w = 0;
    for (; w < full && !rc; w += (uint64_t)B) {
        int nb = full - w < (uint64_t)B ? (int)(full - w) : B;
        rc = run_batch(m, &ew, w, nb, T, x, y, losses, ranks, &acc);
        if (progress) progress(ud, acc.tokens, total);
    }
    if (!rc) rc = run_batch(m, &ew, full, 1, T, x, y, losses, ranks, &acc);
    if (rc) goto done;
    out->tokens = acc.tokens;
    out->nll_sum = acc.nll;
    out->nll = acc.nll / (double)acc.tokens;
    out->ppl = exp(out->nll);
    if (acc.hist) {
        out->rank_mean = acc.rank_sum / (double)acc.tokens;
        out->rank_median = hist_median(acc.hist, V, acc.tokens);
        out->top1 = (double)acc.top1 / (double)acc.tokens;
    }
    out->seconds = now() - t0;
    if (progress) progress(ud, acc.tokens, total);
done:
    free(x);
    free(y);
    free(ranks);
    free(losses);
    free(acc.hist);
    return rc;
}
