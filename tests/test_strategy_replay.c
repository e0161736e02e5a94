/* test_strategy_replay.c - `replay`: every composed batch holds the
 * configured share of rows from earlier domains (whole windows of one
 * domain each; the corpus's domains use disjoint tokens), none from the
 * future; `past` limits the source domains; with a budget the replayed rows
 * are rows the earlier domain actually trained on, at most budget/T of
 * them; additive mode keeps whole new batches and adds the share. */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "test_clrun_fixture.h"

#define MAXROWS 4096

typedef struct tally {
    int batches[4], replayed[4], from[4][3], mixed;
    int rows[MAXROWS][FIX_T];   /* every row trained in domain 1 */
    int n_rows;
    int distinct_replays;       /* distinct alpha rows replayed later */
    int replays_seen_before;
} tally;

static int row_domain(const int *x, int T)
{
    int d = fix_domain_of(x[0]);
    for (int t = 1; t < T; t++)
        if (fix_domain_of(x[t]) != d) return -2;
    return d;
}

static int find_row(const tally *s, const int *x)
{
    for (int i = 0; i < s->n_rows; i++)
        if (!memcmp(s->rows[i], x, sizeof s->rows[i])) return i;
    return -1;
}

static int on_batch(void *ud, clpt_clrun *r, const clpt_clrun_event *ev)
{
    (void)r;
    tally *s = ud;
    int n = ev->index, cur = ev->domain;
    s->batches[n]++;
    for (int b = 0; b < ev->rows; b++) {
        const int *x = ev->inputs + (size_t)b * ev->T;
        int d = row_domain(x, ev->T);
        if (d < 0) { s->mixed++; continue; }
        if (d != cur) {
            s->replayed[n]++;
            s->from[n][d]++;
            if (d == 0) s->replays_seen_before += find_row(s, x) >= 0;
        } else if (n == 1 && s->n_rows < MAXROWS) {
            memcpy(s->rows[s->n_rows++], x, sizeof s->rows[0]);
        }
    }
    return 0;
}

static void run(const clpt_config *cfg, const char *corpus, const char *name, const char *const *opts, int n,
                tally *s)
{
    memset(s, 0, sizeof *s);
    clpt_clrun_opts o = fix_opts(cfg, corpus, name, "replay", opts, n);
    o.eval.kind = CLPT_EVALSET_NONE;
    clpt_clrun *r;
    CHECK(clpt_clrun_open(&r, &o) == 0);
    CHECK(clpt_clrun_set_hook(r, CLPT_CLRUN_BATCH, 0, on_batch, s) == 0);
    CHECK(clpt_clrun_run_all(r) == 0);
    clpt_clrun_close(r);
    CHECK(s->mixed == 0);
}

int main(void)
{
    const char *corpus = fix_corpus();
    if (!corpus) return 1;
    clpt_config cfg;
    fix_config(&cfg);
    int steps = FIX_W / FIX_B;
    tally *s = malloc(sizeof *s);

    /* ratio 0.25 of B = 4: exactly one replayed row per batch after domain 1 */
    const char *quarter[] = {"ratio=0.25"};
    run(&cfg, corpus, "quarter", quarter, 1, s);
    for (int n = 1; n <= 3; n++) CHECK(s->batches[n] == steps);
    CHECK(s->replayed[1] == 0);
    CHECK_MSG(s->replayed[2] == steps && s->replayed[3] == steps, "replayed %d, %d of %d", s->replayed[2],
              s->replayed[3], steps);
    CHECK(s->from[2][0] == steps);                         /* only alpha precedes beta */
    CHECK(s->from[3][0] + s->from[3][1] == steps);          /* never gamma itself */

    const char *half[] = {"ratio=0.5", "past=1"};
    run(&cfg, corpus, "half", half, 2, s);
    CHECK(s->replayed[2] == 2 * steps && s->replayed[3] == 2 * steps);
    CHECK_MSG(s->from[3][1] == 2 * steps, "past=1: %d rows from beta, %d from alpha", s->from[3][1], s->from[3][0]);

    /* a budget of 2 windows: replays are rows alpha trained on, <= 2 of them */
    const char *budget[] = {"ratio=0.5", "budget=32", "weighting=recency"};
    run(&cfg, corpus, "budget", budget, 3, s);
    CHECK(s->replayed[2] == 2 * steps && s->n_rows == steps * FIX_B);
    CHECK_MSG(s->replays_seen_before == s->from[2][0] + s->from[3][0], "%d of %d alpha replays were trained on",
              s->replays_seen_before, s->from[2][0] + s->from[3][0]);

    /* additive: batches stay whole; the share shows in the metric */
    const char *add[] = {"ratio=0.25", "mode=additive"};
    run(&cfg, corpus, "add", add, 2, s);
    CHECK(s->replayed[2] == 0 && s->replayed[3] == 0);
    cJSON *j = fix_journal(fix_opts(&cfg, corpus, "add", NULL, NULL, 0).dir);
    const cJSON *o;
    double sum = 0;
    int k = 0;
    cJSON_ArrayForEach(o, j) {
        const cJSON *m = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "metrics"), "replay_fraction");
        if (m && cJSON_GetObjectItem(o, "index")->valueint > 1) sum += m->valuedouble, k++;
    }
    CHECK_MSG(k == 2 * steps && fabs(sum / k - 0.25) < 0.03, "additive share %g over %d steps", sum / k, k);
    cJSON_Delete(j);
    free(s);
    if (!check_failures) fix_cleanup(corpus);
    CHECK_DONE();
}
