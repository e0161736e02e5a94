/* test_metrics.c - continual-learning metrics on hand-made matrices whose
 * answers are worked out by hand in the comments. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "clpt.h"
#include "metrics.h"

#define X NAN

/* Three domains, every cell present.
 *   ZS   = [10, 20, 30]            DAPT = [8, 15, 25]
 *   P(M1, .) = [7,   18, 29]
 *   P(M2, .) = [9,   14, 28]
 *   P(M3, .) = [9.5, 16, 24]
 * so CPT = diag = [7, 14, 24] and LC = last row = [9.5, 16, 24]. */
static const double zs3[3] = {10, 20, 30}, dapt3[3] = {8, 15, 25};
static const double p3[9] = {7, 18, 29, 9, 14, 28, 9.5, 16, 24};

static void test_full(void)
{
    clpt_cl_matrix m = {3, zs3, dapt3, p3};
    clpt_cl_metrics o;
    CHECK(clpt_cl_metrics_compute(&m, &o) == 0);
    CHECK(o.cpt[0] == 7 && o.cpt[1] == 14 && o.cpt[2] == 24);
    CHECK(o.lc[0] == 9.5 && o.lc[1] == 16 && o.lc[2] == 24);
    /* FG = mean(9.5-7, 16-14, 24-24) = (2.5 + 2 + 0) / 3 = 1.5 */
    CHECK_CLOSE(o.fg.value, 1.5, 1e-12);
    CHECK(o.fg.cells == 3 && o.fg.expected == 3 && clpt_stat_complete(&o.fg));
    /* BT_1 has no j < 1; BT_2 = 10 - 9 = 1; BT_3 = mean(10-9.5, 20-16) = 2.25 */
    CHECK(isnan(o.bt[0].value) && o.bt[0].expected == 0);
    CHECK_CLOSE(o.bt[1].value, 1, 1e-12);
    CHECK_CLOSE(o.bt[2].value, 2.25, 1e-12);
    /* FT_1 = mean(20-18, 30-29) = 1.5; FT_2 = 30 - 28 = 2; FT_3 has no j > 3 */
    CHECK_CLOSE(o.ft[0].value, 1.5, 1e-12);
    CHECK_CLOSE(o.ft[1].value, 2, 1e-12);
    CHECK(isnan(o.ft[2].value));
    /* BT(0) = mean(ZS_n - CPT_n) = (3 + 6 + 6) / 3 = 5
     * BT(1) = mean(ZS_1 - P(M2,1), ZS_2 - P(M3,2)) = (1 + 4) / 2 = 2.5
     * BT(2) = ZS_1 - P(M3,1) = 0.5 */
    CHECK_CLOSE(o.bt_lag[0].value, 5, 1e-12);
    CHECK_CLOSE(o.bt_lag[1].value, 2.5, 1e-12);
    CHECK_CLOSE(o.bt_lag[2].value, 0.5, 1e-12);
    /* FT(1) = mean(ZS_2 - P(M1,2), ZS_3 - P(M2,3)) = (2 + 2) / 2 = 2
     * FT(2) = ZS_3 - P(M1,3) = 1 */
    CHECK_CLOSE(o.ft_lag[0].value, 5, 1e-12);
    CHECK_CLOSE(o.ft_lag[1].value, 2, 1e-12);
    CHECK_CLOSE(o.ft_lag[2].value, 1, 1e-12);
    /* means: ZS 20, DAPT 16, CPT 15, LC 49.5/3 = 16.5 */
    CHECK_CLOSE(o.mean_zs.value, 20, 1e-12);
    CHECK_CLOSE(o.mean_dapt.value, 16, 1e-12);
    CHECK_CLOSE(o.mean_cpt.value, 15, 1e-12);
    CHECK_CLOSE(o.mean_lc.value, 16.5, 1e-12);
    /* CPT - DAPT = (-1, -1, -1): mean -1, continual wins on all 3 */
    CHECK_CLOSE(o.cpt_vs_dapt.value, -1, 1e-12);
    CHECK_CLOSE(o.cpt_wins.value, 1, 1e-12);
    /* ZS - LC = (0.5, 4, 6): mean 3.5 */
    CHECK_CLOSE(o.lc_vs_zs.value, 3.5, 1e-12);
    /* BT_N = BT_3; mean BT over n = 2, 3: 1.625 from 1 + 2 terms; mean FT
     * over n = 1, 2: 1.75 */
    CHECK_CLOSE(o.bt_final.value, 2.25, 1e-12);
    CHECK_CLOSE(o.bt_mean.value, 1.625, 1e-12);
    CHECK(o.bt_mean.cells == 3 && o.bt_mean.expected == 3);
    CHECK_CLOSE(o.ft_mean.value, 1.75, 1e-12);
    /* checkpoint means: 54/3 = 18, 51/3 = 17, 49.5/3 = 16.5 */
    CHECK_CLOSE(o.avg[0].value, 18, 1e-12);
    CHECK_CLOSE(o.avg[1].value, 17, 1e-12);
    CHECK_CLOSE(o.avg[2].value, 16.5, 1e-12);
    clpt_cl_metrics_free(&o);
}

/* The same matrix without P(M3, 2): LC_2 and its terms go missing. */
static void test_missing_cell(void)
{
    double p[9];
    memcpy(p, p3, sizeof p);
    p[7] = X;
    clpt_cl_matrix m = {3, zs3, dapt3, p};
    clpt_cl_metrics o;
    CHECK(clpt_cl_metrics_compute(&m, &o) == 0);
    CHECK(isnan(o.lc[1]));
    /* FG over j = 1, 3: (2.5 + 0) / 2 = 1.25, flagged partial (2 of 3) */
    CHECK_CLOSE(o.fg.value, 1.25, 1e-12);
    CHECK(o.fg.cells == 2 && o.fg.expected == 3 && !clpt_stat_complete(&o.fg));
    /* BT_3 = 10 - 9.5 = 0.5 from 1 of its 2 terms */
    CHECK_CLOSE(o.bt[2].value, 0.5, 1e-12);
    CHECK(o.bt[2].cells == 1 && o.bt[2].expected == 2);
    /* mean LC = (9.5 + 24) / 2 */
    CHECK_CLOSE(o.mean_lc.value, 16.75, 1e-12);
    /* BT(1): only n = 2 remains: 1 */
    CHECK_CLOSE(o.bt_lag[1].value, 1, 1e-12);
    /* mean BT_n = (BT_2 + BT_3) / 2 = (1 + 0.5) / 2, partial: 2 of 3 terms */
    CHECK_CLOSE(o.bt_mean.value, 0.75, 1e-12);
    CHECK(o.bt_mean.cells == 2 && o.bt_mean.expected == 3 && !clpt_stat_complete(&o.bt_mean));
    clpt_cl_metrics_free(&o);
}

/* No ZS and no DAPT at all: everything built on them is missing, not 0. */
static void test_no_baselines(void)
{
    clpt_cl_matrix m = {3, NULL, NULL, p3};
    clpt_cl_metrics o;
    CHECK(clpt_cl_metrics_compute(&m, &o) == 0);
    for (int i = 0; i < 3; i++) {
        CHECK(isnan(o.bt[i].value) && o.bt[i].cells == 0);
        CHECK(isnan(o.ft[i].value));
        CHECK(isnan(o.zs[i]) && isnan(o.dapt[i]));
    }
    CHECK(isnan(o.mean_zs.value) && o.mean_zs.expected == 3 && o.mean_zs.cells == 0);
    CHECK(isnan(o.cpt_vs_dapt.value) && isnan(o.cpt_wins.value));
    CHECK(isnan(o.bt_mean.value) && isnan(o.lc_vs_zs.value));
    CHECK_CLOSE(o.fg.value, 1.5, 1e-12);   /* needs no baseline */
    clpt_cl_metrics_free(&o);
}

/* Only the base row: ZS present, no checkpoint evaluated yet. */
static void test_zs_only(void)
{
    clpt_cl_matrix m = {3, zs3, NULL, NULL};
    clpt_cl_metrics o;
    CHECK(clpt_cl_metrics_compute(&m, &o) == 0);
    CHECK_CLOSE(o.mean_zs.value, 20, 1e-12);
    CHECK(isnan(o.fg.value) && o.fg.cells == 0);
    CHECK(isnan(o.mean_cpt.value) && isnan(o.avg[0].value));
    clpt_cl_metrics_free(&o);
}

/* One domain: FG = LC_1 - CPT_1 = 0 by construction, no BT or FT term. */
static void test_one_domain(void)
{
    double zs = 5, p = 4;
    clpt_cl_matrix m = {1, &zs, NULL, &p};
    clpt_cl_metrics o;
    CHECK(clpt_cl_metrics_compute(&m, &o) == 0);
    CHECK(o.fg.value == 0 && o.fg.cells == 1);
    CHECK(isnan(o.bt[0].value) && isnan(o.ft[0].value));
    CHECK(isnan(o.bt_mean.value) && o.bt_mean.expected == 0);
    CHECK_CLOSE(o.bt_lag[0].value, 1, 1e-12);   /* ZS_1 - CPT_1 */
    clpt_cl_metrics_free(&o);
    clpt_cl_matrix bad = {0, NULL, NULL, NULL};
    CHECK(clpt_cl_metrics_compute(&bad, &o) == CLPT_EINVAL);
    clpt_cl_metrics_free(&o);   /* zeroed on failure: safe */
}

/* Four domains with forgetting everywhere and a worse-than-DAPT domain:
 *   ZS = [4, 4, 4, 4], DAPT = [3, 3, 3, 2]
 *   P = [3 5 5 5; 4 3 5 5; 5 4 3 5; 6 5 4 3]  (each old domain +1 per step)
 * CPT = [3,3,3,3]: CPT - DAPT = (0, 0, 0, 1): mean 0.25, wins 0 of 4
 * (ties do not count as wins). LC = [6,5,4,3]: FG = (3+2+1+0)/4 = 1.5.
 * BT(k) = ZS - (3 + k) = 1 - k for k = 1..3; BT_4 = mean(4-6, 4-5, 4-4) = -1. */
static void test_forgetting(void)
{
    double zs[4] = {4, 4, 4, 4}, dapt[4] = {3, 3, 3, 2};
    double p[16] = {3, 5, 5, 5, 4, 3, 5, 5, 5, 4, 3, 5, 6, 5, 4, 3};
    clpt_cl_matrix m = {4, zs, dapt, p};
    clpt_cl_metrics o;
    CHECK(clpt_cl_metrics_compute(&m, &o) == 0);
    CHECK_CLOSE(o.cpt_vs_dapt.value, 0.25, 1e-12);
    CHECK(o.cpt_wins.value == 0 && o.cpt_wins.cells == 4);
    CHECK_CLOSE(o.fg.value, 1.5, 1e-12);
    for (int k = 1; k < 4; k++) CHECK_CLOSE(o.bt_lag[k].value, 1 - k, 1e-12);
    CHECK_CLOSE(o.bt_final.value, -1, 1e-12);
    /* FT(k) = 4 - 5 = -1 for every k >= 1 */
    for (int k = 1; k < 4; k++) CHECK_CLOSE(o.ft_lag[k].value, -1, 1e-12);
    clpt_cl_metrics_free(&o);
}

static void test_median(void)
{
    double a[5] = {3, X, 1, 2, X}, b[4] = {4, 1, 3, 2};
    CHECK(clpt_median(a, 5) == 2);
    CHECK(clpt_median(b, 4) == 2.5);
    CHECK(isnan(clpt_median(a + 1, 1)));
    CHECK(isnan(clpt_median(a, 0)));
}

int main(void)
{
    test_full();
    test_missing_cell();
    test_no_baselines();
    test_zs_only();
    test_one_domain();
    test_forgetting();
    test_median();
    CHECK_DONE();
}
