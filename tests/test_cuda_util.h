/* test_cuda_util.h - helpers of the cuda tests: the two backends, fresh
 * random inputs, device upload/download, poisoning, and comparisons
 * against the CPU reference. Header-only (static), for test_cuda_*.c. */
#ifndef CLPT_TEST_CUDA_UTIL_H
#define CLPT_TEST_CUDA_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backend.h"
#include "check.h"
#include "clpt.h"
#include "rng.h"

/* the reference and the device backend under test, with the same
 * activation format (cpu and cuda, or cpu-bf16 and cuda with bf16
 * activations) */
static const clpt_backend *cpu, *gpu;
static clpt_rng rng;

/* Fresh inputs every run (the GPU code must compute the same function on any
 * valid input); CLPT_TEST_SEED replays a failing run. */
static inline uint64_t seed_rng(void)
{
    const char *env = getenv("CLPT_TEST_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    clpt_rng_seed(&rng, seed);
    printf("seed %llu (CLPT_TEST_SEED=%llu replays it)\n", (unsigned long long)seed,
           (unsigned long long)seed);
    return seed;
}

static inline float *host_normal(size_t n, double scale)
{
    float *h = malloc((n ? n : 1) * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = (float)(scale * clpt_rng_normal(&rng));
    return h;
}

static inline int *host_tokens(size_t n, int V)
{
    int *h = malloc((n ? n : 1) * sizeof *h);
    for (size_t i = 0; i < n; i++) h[i] = (int)clpt_rng_below(&rng, (uint64_t)V);
    return h;
}

static inline void *dev_upload(const void *h, size_t bytes)
{
    void *d = gpu->alloc(bytes);
    if (d) gpu->to_device(d, h, bytes);
    return d;
}

static inline float *dev_download(const float *d, size_t n)
{
    float *h = malloc((n ? n : 1) * sizeof *h);
    gpu->to_host(h, d, n * sizeof *h);
    return h;
}

/* fill a device output with NaN, so an element the op never writes shows */
static inline void dev_poison(float *d, size_t n) { gpu->fill(d, NAN, n); }

/* An activation buffer of n elements on backend be holding h, rounded to
 * be's activation format (h NULL: NaN everywhere, so an element an op never
 * writes shows). */
static inline clpt_act *act_new(const clpt_backend *be, const float *h, size_t n)
{
    clpt_act *a = be->alloc((n ? n : 1) * (size_t)be->act_bytes);
    float *nan = NULL;
    if (!h) {
        nan = malloc((n ? n : 1) * sizeof *nan);
        for (size_t i = 0; i < n; i++) nan[i] = NAN;
        h = nan;
    }
    if (a) be->act_to_device(a, h, n);
    free(nan);
    return a;
}

/* the n elements of activation buffer a as floats (malloc'd) */
static inline float *act_get(const clpt_backend *be, const clpt_act *a, size_t n)
{
    float *h = malloc((n ? n : 1) * sizeof *h);
    be->act_to_host(h, a, n);
    return h;
}

/* A tolerance for outputs stored as activations: with bf16 storage, the
 * device and the reference may round an element to neighbouring bf16
 * values (2^-8 relative apart) when their fp32 results differ in the last
 * bits. */
static inline double act_tol(double tol) { return gpu->act_bytes == 2 && tol < 4e-3 ? 4e-3 : tol; }

/* ||got - want|| / ||want|| (want = 0 gives the absolute norm), and the
 * largest |got - want|; NaN anywhere fails. */
static inline int compare_f32(const char *what, const float *got, const float *want, size_t n, double tol)
{
    double dd = 0, ww = 0, mx = 0;
    size_t nan = 0, at = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(got[i]) != isnan(want[i]) || isinf(got[i]) != isinf(want[i])) {
            if (!nan) at = i;
            nan++;
            continue;
        }
        if (!isfinite(want[i])) continue;
        double d = (double)got[i] - want[i];
        dd += d * d;
        ww += (double)want[i] * want[i];
        if (fabs(d) > mx) mx = fabs(d);
    }
    double rel = ww > 0 ? sqrt(dd / ww) : sqrt(dd);
    int ok = nan == 0 && rel <= tol;
    if (!ok || getenv("CLPT_TEST_VERBOSE")) {
        printf("  %-44s rel %.3e (tol %.1e)  max|d| %.3e", what, rel, tol, mx);
        if (nan) printf("  %zu non-finite mismatches, first at %zu (got %g, want %g)", nan, at,
                        got[at], want[at]);
        printf("%s\n", ok ? "" : "  FAIL");
    }
    CHECK_MSG(ok, "%s", what);
    return ok;
}

/* cosine similarity of two vectors (1 when both are zero) */
static inline double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    if (aa == 0 && bb == 0) return 1.0;
    if (aa == 0 || bb == 0) return 0.0;
    return ab / sqrt(aa * bb);
}

/* relative error per GEMM precision: fp32 sums in another order; tf32 has
 * 10 mantissa bits; bf16 operands 7 (METHOD: 1e-3..1e-2 for bf16) */
static inline double gemm_tol(const char *mode)
{
    if (!strcmp(mode, "fp32")) return 3e-5;
    if (!strcmp(mode, "tf32")) return 4e-3;
    return 2e-2;
}

#endif
