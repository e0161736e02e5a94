/* test_kernels_emu.cpp - the CUDA backend's kernels that live in headers
 * (core/cuda/layernorm.cuh, colsum.cuh, xent.cuh, kernels.cuh), run on
 * the CPU through tests/cuda_emu.h and compared with the CPU backend (cpu,
 * or cpu-bf16 for bf16 activations) or with a double reference, on fresh
 * random inputs (CLPT_TEST_SEED replays a run). Each kernel is launched
 * with the grid, block and shared memory its launcher in kernels.cu or
 * classifier.cu gives it (grid-stride loops with fewer blocks, so that
 * they go round). Every check runs under three orders of the threads'
 * turns. This needs no GPU, so it runs wherever the CUDA toolkit's headers
 * are; the device's own math library and scheduling are only covered by
 * the `cuda` tests. */
#include "cuda_emu.h"

#include <float.h>
#include <math.h>
#include <time.h>

#include <algorithm>

extern "C" {
#include "backend.h"
#include "check.h"
#include "clpt.h"
#include "rng.h"
}

#include "cuda/attention_mma.cuh"
#include "cuda/colsum.cuh"
#include "cuda/kernels.cuh"
#include "cuda/layernorm.cuh"
#include "cuda/xent.cuh"
#include "token_groups.h"

#define THREADS CU_THREADS /* kernels.cu's threads per block */

/* blocks for a grid-stride loop over n items, as cu_grid gives them but
 * at most 5, so that the loops go round */
static unsigned grid_for(size_t n) { return (unsigned)std::min<size_t>((n + THREADS - 1) / THREADS, 5); }

static clpt_rng rng;

static std::vector<float> normal(size_t n, double scale, double off = 0)
{
    std::vector<float> v(n);
    for (auto &x : v) x = (float)(off + scale * clpt_rng_normal(&rng));
    return v;
}

/* relative L2 error of got against want, checked against tol; relative
 * to at least `floor` (an L2 norm) where want is zero in exact arithmetic */
static void compare(const char *what, const float *got, const float *want, size_t n, double tol, double floor = 0)
{
    double dd = 0, ww = 0;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            bad++;
            continue;
        }
        double d = (double)got[i] - want[i];
        dd += d * d;
        ww += (double)want[i] * want[i];
    }
    if (ww < floor * floor) ww = floor * floor;
    double rel = ww > 0 ? sqrt(dd / ww) : sqrt(dd);
    int ok = !bad && rel <= tol;
    if (!ok || getenv("CLPT_TEST_VERBOSE"))
        printf("  %-52s rel %.3e (tol %.1e)%s%s\n", what, rel, tol, bad ? "  non-finite values" : "",
               ok ? "" : "  FAIL");
    CHECK_MSG(ok, "%s", what);
}

/* ---- activations of type A in host memory, and the reference backend ---------------- */

template <typename A> struct acts;
template <> struct acts<float> {
    static const char *backend() { return "cpu"; }
    static float tol() { return 1e-5f; }
};
template <> struct acts<bf16> {
    static const char *backend() { return "cpu-bf16"; }
    /* neighbouring bf16 values where the fp32 results differ in the last bits */
    static float tol() { return 4e-3f; }
};
template <typename A> static std::vector<A> store(const std::vector<float> &f)
{
    std::vector<A> a(f.size());
    for (size_t i = 0; i < f.size(); i++) a[i] = cu_st<A>(f[i]);
    return a;
}
template <typename A> static std::vector<float> widen(const A *a, size_t n)
{
    std::vector<float> f(n);
    for (size_t i = 0; i < n; i++) f[i] = cu_ld(a[i]);
    return f;
}
/* f as the reference backend's activations (the same rounding as store) */
static clpt_act *ref_act(const clpt_backend *be, const std::vector<float> &f)
{
    clpt_act *a = (clpt_act *)be->alloc((f.size() ? f.size() : 1) * (size_t)be->act_bytes);
    be->act_to_device(a, f.data(), f.size());
    return a;
}
static std::vector<float> ref_get(const clpt_backend *be, const clpt_act *a, size_t n)
{
    std::vector<float> f(n);
    be->act_to_host(f.data(), a, n);
    return f;
}

/* bitwise: the reference backend's rounding against the kernel's */
static void compare_bits(const char *what, const void *got, const void *want, size_t bytes)
{
    int ok = !memcmp(got, want, bytes);
    if (!ok || getenv("CLPT_TEST_VERBOSE")) printf("  %-52s %s\n", what, ok ? "bit-identical" : "differs  FAIL");
    CHECK_MSG(ok, "%s", what);
}

/* ---- kernels.cuh: conversion, encoder, GELU, AdamW, vector algebra, dot ------------- */

/* k_to_bf16 against cpu-bf16's rounding (ties to even, NaN, infinities,
 * signed zero, subnormals), and k_from_bf16 back */
static void test_convert(void)
{
    const clpt_backend *ref = clpt_backend_get("cpu-bf16");
    CHECK(ref != NULL);
    if (!ref) return;
    std::vector<float> x = normal(3000, 10.0);
    const float special[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1.00390625f, 1.01171875f, -1.00390625f,
                             1e-40f, -3e-39f, 3.3895314e38f, FLT_MAX, 1.0f + 1e-7f};
    x.insert(x.end(), special, special + sizeof special / sizeof *special);
    size_t n = x.size();
    std::vector<bf16> got(n);
    emu::launch(k_to_bf16, grid_for(n), THREADS, 0, got.data(), (const float *)x.data(), n);
    clpt_act *a = (clpt_act *)ref->alloc(n * 2);
    ref->act_to_device(a, x.data(), n);
    compare_bits("k_to_bf16 against cpu-bf16", got.data(), a, n * 2);
    std::vector<float> back(n), want = ref_get(ref, a, n);
    emu::launch(k_from_bf16, grid_for(n), THREADS, 0, back.data(), (const bf16 *)got.data(), n);
    compare_bits("k_from_bf16 against cpu-bf16", back.data(), want.data(), n * 4);
    ref->free(a);
}

template <typename A> static void test_encoder(int B, int T, int C, int V)
{
    const clpt_backend *ref = clpt_backend_get(acts<A>::backend());
    CHECK(ref != NULL);
    if (!ref) return;
    int N = B * T;
    size_t n = (size_t)N * C;
    char what[128];
    std::vector<int> tok(N);
    for (int i = 0; i < N; i++) tok[i] = (int)clpt_rng_below(&rng, (uint64_t)(i % 3 ? V : 2)); /* repeats */
    std::vector<float> wte = normal((size_t)V * C, 0.5), wpe = normal((size_t)T * C, 0.5);
    clpt_act *rout = ref_act(ref, std::vector<float>(n));
    ref->encoder_forward(rout, tok.data(), wte.data(), wpe.data(), B, T, C);
    std::vector<A> out(n, cu_st<A>(NAN));
    emu::launch(k_encoder_fwd<A>, grid_for(n), THREADS, 0, out.data(), (const int *)tok.data(),
                (const float *)wte.data(), (const float *)wpe.data(), T, C, n);
    snprintf(what, sizeof what, "k_encoder_fwd %s B=%d T=%d C=%d", acts<A>::backend(), B, T, C);
    compare_bits(what, widen(out.data(), n).data(), ref_get(ref, rout, n).data(), n * 4);
    ref->free(rout);

    /* backward, with the groups cu_encoder_backward makes */
    std::vector<float> dout = widen(store<A>(normal(n, 1.0)).data(), n);
    std::vector<float> dwte = normal((size_t)V * C, 0.1), dwpe = normal((size_t)T * C, 0.1);
    std::vector<float> rdwte = dwte, rdwpe = dwpe;
    clpt_act *rdo = ref_act(ref, dout);
    ref->encoder_backward(rdwte.data(), rdwpe.data(), rdo, tok.data(), B, T, C);
    ref->free(rdo);
    std::vector<int> ord(N), tmp(N), grp(2 * (size_t)N + 1);
    int G = clpt_group_tokens(tok.data(), N, ord.data(), tmp.data(), grp.data());
    CHECK(G > 0);
    std::vector<A> ado = store<A>(dout);
    emu::launch(k_encoder_bwd_wte<A>, dim3(G, (C + THREADS - 1) / THREADS), THREADS, 0, dwte.data(),
                (const A *)ado.data(), (const int *)ord.data(), (const int *)grp.data() + G + 1,
                (const int *)grp.data(), C);
    emu::launch(k_encoder_bwd_wpe<A>, grid_for((size_t)T * C), THREADS, 0, dwpe.data(), (const A *)ado.data(), B,
                T, C);
    snprintf(what, sizeof what, "k_encoder_bwd %s B=%d T=%d C=%d (%d ids) dwte", acts<A>::backend(), B, T, C, G);
    compare(what, dwte.data(), rdwte.data(), dwte.size(), 1e-6);
    snprintf(what, sizeof what, "k_encoder_bwd %s B=%d T=%d C=%d dwpe", acts<A>::backend(), B, T, C);
    compare(what, dwpe.data(), rdwpe.data(), dwpe.size(), 1e-6);
}

/* both ways: 16-byte vectors (vec = 1; n a multiple of them) and element-wise */
template <typename A> static void test_gelu(size_t n)
{
    const clpt_backend *ref = clpt_backend_get(acts<A>::backend());
    CHECK(ref != NULL);
    if (!ref) return;
    char what[128];
    std::vector<float> x = widen(store<A>(normal(n, 2.0)).data(), n), d = widen(store<A>(normal(n, 1.0)).data(), n);
    clpt_act *rx = ref_act(ref, x), *ro = ref_act(ref, std::vector<float>(n)), *rd = ref_act(ref, d),
             *rg = ref_act(ref, std::vector<float>(n));
    ref->gelu_forward(ro, rx, n);
    ref->gelu_backward(rg, rx, rd, n);
    std::vector<float> want_o = ref_get(ref, ro, n), want_g = ref_get(ref, rg, n);
    ref->free(rx); ref->free(ro); ref->free(rd); ref->free(rg);
    std::vector<A> ax = store<A>(x), ad = store<A>(d);
    for (int vec = 0; vec < 2; vec++) {
        if (vec && n % cu_vec<A>::N) continue;
        size_t items = vec ? n / cu_vec<A>::N : n;
        std::vector<A> o(n, cu_st<A>(NAN)), g = ad; /* dinp over dout, as the model calls it */
        emu::launch(k_gelu_fwd<A>, grid_for(items), THREADS, 0, o.data(), (const A *)ax.data(), n, vec);
        emu::launch(k_gelu_bwd<A>, grid_for(items), THREADS, 0, g.data(), (const A *)ax.data(), (const A *)g.data(),
                    n, vec);
        snprintf(what, sizeof what, "k_gelu_fwd %s n=%zu %s", acts<A>::backend(), n, vec ? "16-byte" : "element-wise");
        compare(what, widen(o.data(), n).data(), want_o.data(), n, acts<A>::tol());
        snprintf(what, sizeof what, "k_gelu_bwd %s n=%zu %s, in place", acts<A>::backend(), n,
                 vec ? "16-byte" : "element-wise");
        compare(what, widen(g.data(), n).data(), want_g.data(), n, acts<A>::tol());
    }
}

/* AdamW (float4 and element-wise), the vector ops and dot against the CPU */
static void test_vector_ops(size_t n)
{
    const clpt_backend *ref = clpt_backend_cpu();
    char what[128];
    std::vector<float> p = normal(n, 1.0), g = normal(n, 0.1), m = normal(n, 0.01), v(n);
    for (auto &x : v) x = (float)fabs(1e-3 * clpt_rng_normal(&rng));
    const float lr = 3e-4f, b1 = 0.9f, b2 = 0.95f, eps = 1e-8f, wd = 0.1f, bc1 = 1 - powf(b1, 7), bc2 = 1 - powf(b2, 7),
                gscale = 0.7f;
    std::vector<float> rp = p, rm = m, rv = v;
    ref->adamw(rp.data(), g.data(), rm.data(), rv.data(), n, lr, b1, b2, eps, wd, bc1, bc2, gscale);
    float step = lr / bc1, bc2s = sqrtf(bc2), decay = 1.0f - lr * wd;
    for (int v4 = 0; v4 < 2; v4++) {
        if (v4 && n % 4) continue;
        std::vector<float> kp = p, km = m, kv = v;
        emu::launch(k_adamw, grid_for(v4 ? n / 4 : n), THREADS, 0, kp.data(), (const float *)g.data(), km.data(),
                    kv.data(), n, b1, b2, eps, decay, step, bc2s, gscale, v4);
        snprintf(what, sizeof what, "k_adamw n=%zu %s p", n, v4 ? "float4" : "element-wise");
        compare(what, kp.data(), rp.data(), n, 1e-6);
        snprintf(what, sizeof what, "k_adamw n=%zu %s m, v", n, v4 ? "float4" : "element-wise");
        compare(what, km.data(), rm.data(), n, 1e-6);
        compare(what, kv.data(), rv.data(), n, 1e-6);
    }
    std::vector<float> x = normal(n, 1.0), y = normal(n, 1.0), z = normal(n, 1.0);
    std::vector<float> ry = y, ky = y;
    ref->axpy(ry.data(), 0.3f, x.data(), n);
    ref->mul_acc(ry.data(), -0.2f, x.data(), z.data(), n);
    ref->sq_acc(ry.data(), 0.1f, z.data(), n);
    ref->scale(ry.data(), 1.7f, n);
    emu::launch(k_axpy, grid_for(n), THREADS, 0, ky.data(), 0.3f, (const float *)x.data(), n);
    emu::launch(k_mul_acc, grid_for(n), THREADS, 0, ky.data(), -0.2f, (const float *)x.data(), (const float *)z.data(),
                n);
    emu::launch(k_sq_acc, grid_for(n), THREADS, 0, ky.data(), 0.1f, (const float *)z.data(), n);
    emu::launch(k_scale, grid_for(n), THREADS, 0, ky.data(), 1.7f, n);
    snprintf(what, sizeof what, "k_axpy, k_mul_acc, k_sq_acc, k_scale n=%zu", n);
    compare(what, ky.data(), ry.data(), n, 1e-6);
    std::vector<float> f(n, NAN), rf(n);
    ref->fill(rf.data(), -2.5f, n);
    emu::launch(k_fill, grid_for(n), THREADS, 0, f.data(), -2.5f, n);
    snprintf(what, sizeof what, "k_fill n=%zu", n);
    compare_bits(what, f.data(), rf.data(), n * 4);

    /* dot over 7 blocks (cu_dot takes 1024), then their final sum */
    const int nb = 7;
    std::vector<double> part(nb + 1, NAN);
    emu::launch(k_dot_partial, nb, THREADS, 0, part.data(), (const float *)x.data(), (const float *)y.data(), n);
    emu::launch(k_dot_final, 1, THREADS, 0, part.data() + nb, (const double *)part.data(), nb);
    double want = ref->dot(x.data(), y.data(), n), got = part[nb];
    int ok = fabs(got - want) <= 1e-12 * (1 + fabs(want));
    if (!ok || getenv("CLPT_TEST_VERBOSE"))
        printf("  %-52s %.17g against %.17g%s\n", "k_dot_partial, k_dot_final", got, want, ok ? "" : "  FAIL");
    CHECK_MSG(ok, "dot n=%zu: %.17g against the CPU's %.17g", n, got, want);
}

/* ---- attention on tensor cores (attention_mma.cuh) ------------------------------------ */

/* forward, then the dQ and dK/dV kernels after the D pass (as attention.cu
 * runs them), against the reference backend; head size 64 */
template <typename A> static void test_attention_mma(int B, int T, int NH)
{
    const clpt_backend *ref = clpt_backend_get(acts<A>::backend());
    CHECK(ref != NULL);
    if (!ref) return;
    int C = MMA_HD * NH, BT = B * T;
    size_t nq = (size_t)BT * 3 * C, no = (size_t)BT * C, nl = (size_t)B * NH * T;
    char what[128];
    std::vector<float> qkv = widen(store<A>(normal(nq, 1.0)).data(), nq), dout = widen(store<A>(normal(no, 1.0)).data(), no);
    clpt_act *rq = ref_act(ref, qkv), *ro = ref_act(ref, std::vector<float>(no)), *rdo = ref_act(ref, dout),
             *rdq = ref_act(ref, std::vector<float>(nq));
    std::vector<float> rlse(nl);
    ref->attention_forward(ro, rlse.data(), rq, B, T, C, NH);
    ref->attention_backward(rdq, rdo, rq, ro, rlse.data(), B, T, C, NH);
    std::vector<float> want_o = ref_get(ref, ro, no), want_dq = ref_get(ref, rdq, nq);
    ref->free(rq); ref->free(ro); ref->free(rdo); ref->free(rdq);

    std::vector<A> aq = store<A>(qkv), ado = store<A>(dout), out(no, cu_st<A>(NAN)), dqkv(nq, cu_st<A>(NAN));
    std::vector<float> lse(nl, NAN);
    dim3 grid((T + MMA_ROWS - 1) / MMA_ROWS, B * NH);
    emu::launch(k_attn_fwd_mma<A>, grid, MMA_THREADS, 0, out.data(), lse.data(), (const A *)aq.data(), T, C, NH);
    snprintf(what, sizeof what, "k_attn_fwd_mma %s B=%d T=%d NH=%d out", acts<A>::backend(), B, T, NH);
    compare(what, widen(out.data(), no).data(), want_o.data(), no, 2e-2);
    snprintf(what, sizeof what, "k_attn_fwd_mma %s B=%d T=%d NH=%d lse", acts<A>::backend(), B, T, NH);
    /* lse is a log: relative to at least 1 per row (T = 1: one score, maybe near 0) */
    compare(what, lse.data(), rlse.data(), nl, 1e-2, sqrt((double)nl));
    std::vector<float> D(nl); /* rowsum(dO * O) per (b, h, t), as k_attn_D */
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                size_t off = ((size_t)b * T + t) * C + (size_t)h * MMA_HD;
                float s = 0.0f;
                for (int d = 0; d < MMA_HD; d++) s += cu_ld(ado[off + d]) * cu_ld(out[off + d]);
                D[((size_t)b * NH + h) * T + t] = s;
            }
    emu::launch(k_attn_dq_mma<A>, grid, MMA_THREADS, 0, dqkv.data(), (const A *)ado.data(), (const A *)aq.data(),
                (const float *)lse.data(), (const float *)D.data(), T, C, NH);
    emu::launch(k_attn_dkv_mma<A>, grid, MMA_THREADS, 0, dqkv.data(), (const A *)ado.data(), (const A *)aq.data(),
                (const float *)lse.data(), (const float *)D.data(), T, C, NH);
    std::vector<float> g = widen(dqkv.data(), nq), got[3], want[3];
    for (int part = 0; part < 3; part++) /* dq, dk, dv */
        for (int r = 0; r < BT; r++)
            for (int c = 0; c < C; c++) {
                got[part].push_back(g[(size_t)r * 3 * C + part * C + c]);
                want[part].push_back(want_dq[(size_t)r * 3 * C + part * C + c]);
            }
    /* T = 1: dq and dk are zero (one key: dS = dP - D = 0), and what the kernels
     * give is the rounding of dO to bf16; measured against dv's size instead */
    double dv_norm = 0;
    for (float x : want[2]) dv_norm += (double)x * x;
    for (int part = 0; part < 3; part++) {
        snprintf(what, sizeof what, "k_attn_%s_mma %s B=%d T=%d NH=%d %s", part ? "dkv" : "dq", acts<A>::backend(),
                 B, T, NH, part == 0 ? "dq" : part == 1 ? "dk" : "dv");
        compare(what, got[part].data(), want[part].data(), got[part].size(), 3e-2, T == 1 ? sqrt(dv_norm) : 0);
    }
}

/* ---- LayerNorm ----------------------------------------------------------------------- */

/* The forward pass and both ways of the backward pass (dinp, partials and
 * finish; the fused kernel and finish) at V = 1 and, where C allows it, at
 * V = 16 bytes, against the reference backend */
template <typename A> static void test_layernorm(int N, int C)
{
    const clpt_backend *ref = clpt_backend_get(acts<A>::backend());
    CHECK(ref != NULL);
    if (!ref) return;
    const int VEC = cu_vec<A>::N;
    size_t n = (size_t)N * C;
    char what[160];
    /* inputs rounded to A first, so that both sides see the same values */
    std::vector<float> x = widen(store<A>(normal(n, 1.5, 0.3)).data(), n);
    std::vector<float> w = normal(C, 0.5, 1.0), b = normal(C, 0.2), dout = widen(store<A>(normal(n, 1.0)).data(), n);
    std::vector<float> dx0 = widen(store<A>(normal(n, 0.5)).data(), n), dw0 = normal(C, 0.3), db0 = normal(C, 0.3);

    /* reference */
    clpt_act *rx = ref_act(ref, x), *rout = ref_act(ref, std::vector<float>(n)), *rdo = ref_act(ref, dout),
             *rdx = ref_act(ref, dx0);
    std::vector<float> rmean(N), rrstd(N), rdw = dw0, rdb = db0;
    ref->layernorm_forward(rout, rmean.data(), rrstd.data(), rx, w.data(), b.data(), N, C, 1e-5f);
    ref->layernorm_backward(rdx, rdw.data(), rdb.data(), rdo, rx, w.data(), rmean.data(), rrstd.data(), N, C);
    std::vector<float> want_out = ref_get(ref, rout, n), want_dx = ref_get(ref, rdx, n);
    ref->free(rx);
    ref->free(rout);
    ref->free(rdo);
    ref->free(rdx);

    std::vector<A> ax = store<A>(x), ado = store<A>(dout);
    int blocks = (N + THREADS / 32 - 1) / (THREADS / 32);
    std::vector<A> dx_unfused;
    for (int vec = 0; vec < 2; vec++) {
        if (vec && C % VEC) continue;
        const char *vs = vec ? "16-byte" : "element-wise";
        /* forward */
        std::vector<A> out(n, cu_st<A>(NAN));
        std::vector<float> mean(N, NAN), rstd(N, NAN);
        if (vec)
            emu::launch(k_ln_fwd<A, VEC>, blocks, THREADS, 0, out.data(), mean.data(), rstd.data(), ax.data(),
                        w.data(), b.data(), N, C, 1e-5f);
        else
            emu::launch(k_ln_fwd<A, 1>, blocks, THREADS, 0, out.data(), mean.data(), rstd.data(), ax.data(),
                        w.data(), b.data(), N, C, 1e-5f);
        snprintf(what, sizeof what, "k_ln_fwd %s N=%d C=%d %s out", acts<A>::backend(), N, C, vs);
        compare(what, widen(out.data(), n).data(), want_out.data(), n, acts<A>::tol());
        snprintf(what, sizeof what, "k_ln_fwd %s N=%d C=%d %s mean, rstd", acts<A>::backend(), N, C, vs);
        compare(what, mean.data(), rmean.data(), N, 1e-5);
        compare(what, rstd.data(), rrstd.data(), N, 1e-5);

        /* backward as kernels.cu runs it: dinp, then the partial sums and their finish */
        std::vector<A> dx = store<A>(dx0);
        std::vector<float> dw = dw0, db = db0;
        if (vec)
            emu::launch(k_ln_bwd_dx<A, VEC>, blocks, THREADS, 0, dx.data(), ado.data(), ax.data(), w.data(),
                        rmean.data(), rrstd.data(), N, C);
        else
            emu::launch(k_ln_bwd_dx<A, 1>, blocks, THREADS, 0, dx.data(), ado.data(), ax.data(), w.data(),
                        rmean.data(), rrstd.data(), N, C);
        int rpc = rows_per_chunk(N), chunks = (N + rpc - 1) / rpc;
        std::vector<float> part(2 * (size_t)chunks * C, NAN);
        emu::launch(k_ln_bwd_partial<A>, dim3((C + THREADS - 1) / THREADS, chunks), THREADS, 0, part.data(),
                    part.data() + (size_t)chunks * C, ado.data(), ax.data(), rmean.data(), rrstd.data(), N, C,
                    rpc);
        emu::launch(k_colsum_finish, colsum_finish_grid(C, 2), colsum_finish_block(), 0, dw.data(), part.data(),
                    db.data(), part.data() + (size_t)chunks * C, chunks, C);
        snprintf(what, sizeof what, "k_ln_bwd_dx %s N=%d C=%d %s dinp", acts<A>::backend(), N, C, vs);
        compare(what, widen(dx.data(), n).data(), want_dx.data(), n, acts<A>::tol());
        snprintf(what, sizeof what, "k_ln_bwd_partial %s N=%d C=%d dw, db", acts<A>::backend(), N, C);
        compare(what, dw.data(), rdw.data(), C, 1e-5);
        compare(what, db.data(), rdb.data(), C, 1e-5);

        /* the fused kernel: the same dinp bit for bit (the same helpers, and no FMA
         * contraction here to tell them apart), dw and db summed in another order */
        int V = vec ? VEC : 1, Cp = ln_fused_cols(C, V), W = ln_fused_warps(Cp);
        if (!W) continue; /* one warp's slots do not fit: the launcher does not use it */
        int fchunks = (N + 4 * W - 1) / (4 * W);
        std::vector<A> fdx = store<A>(dx0);
        std::vector<float> fdw = dw0, fdb = db0, fpart(2 * (size_t)fchunks * C, NAN);
        size_t smem = 2 * (size_t)W * Cp * sizeof(float);
        if (vec)
            emu::launch(k_ln_bwd_fused<A, VEC>, fchunks, 32 * W, smem, fdx.data(), fpart.data(),
                        fpart.data() + (size_t)fchunks * C, ado.data(), ax.data(), w.data(), rmean.data(),
                        rrstd.data(), N, C, Cp);
        else
            emu::launch(k_ln_bwd_fused<A, 1>, fchunks, 32 * W, smem, fdx.data(), fpart.data(),
                        fpart.data() + (size_t)fchunks * C, ado.data(), ax.data(), w.data(), rmean.data(),
                        rrstd.data(), N, C, Cp);
        emu::launch(k_colsum_finish, colsum_finish_grid(C, 2), colsum_finish_block(), 0, fdw.data(),
                    fpart.data(), fdb.data(), fpart.data() + (size_t)fchunks * C, fchunks, C);
        snprintf(what, sizeof what, "k_ln_bwd_fused %s N=%d C=%d %s dinp", acts<A>::backend(), N, C, vs);
        CHECK_MSG(!memcmp(fdx.data(), dx.data(), n * sizeof(A)), "%s: not bit-identical to k_ln_bwd_dx's", what);
        compare(what, widen(fdx.data(), n).data(), want_dx.data(), n, acts<A>::tol());
        snprintf(what, sizeof what, "k_ln_bwd_fused %s N=%d C=%d %s dw, db (%d warps)", acts<A>::backend(), N,
                 C, vs, W);
        compare(what, fdw.data(), rdw.data(), C, 1e-5);
        compare(what, fdb.data(), rdb.data(), C, 1e-5);
    }
}

/* ---- column sums ------------------------------------------------------------------ */

/* cu_colsum_acc's two passes against a double reference; N above 64 * 4096
 * makes rows_per_chunk double */
static void test_colsum(int N, int C)
{
    std::vector<float> x = normal((size_t)N * C, 1.0, 0.1), dst = normal(C, 1.0), want(C);
    for (int c = 0; c < C; c++) {
        double s = dst[c];
        for (int r = 0; r < N; r++) s += x[(size_t)r * C + c];
        want[c] = (float)s;
    }
    int rpc = rows_per_chunk(N), chunks = (N + rpc - 1) / rpc;
    std::vector<float> part((size_t)chunks * C, NAN);
    emu::launch(k_colsum_partial<float>, dim3((C + THREADS - 1) / THREADS, chunks), THREADS, 0, part.data(),
                (const float *)x.data(), N, C, rpc);
    emu::launch(k_colsum_finish, colsum_finish_grid(C, 1), colsum_finish_block(), 0, dst.data(),
                (const float *)part.data(), (float *)NULL, (const float *)NULL, chunks, C);
    char what[96];
    snprintf(what, sizeof what, "colsum N=%d C=%d (%d rows per chunk, %d chunks)", N, C, rpc, chunks);
    compare(what, dst.data(), want.data(), C, 2e-6);
}

/* ---- the classifier's row pass -------------------------------------------------------- */

/* k_xent_rows<TH, CACHE, T> over R rows of V logits (Vp apart) against a
 * double reference: loss, rank, and the gradient into G (bf16) or over L */
template <int TH, bool CACHE, typename T> static void test_xent(int R, int V, int use_G)
{
    int Vp = (V + 63) / 64 * 64;
    const char *ts = sizeof(T) == 4 ? "fp32" : "bf16";
    std::vector<float> zf((size_t)R * Vp, NAN); /* the padding is never read as logits */
    std::vector<int> tg(R);
    for (int r = 0; r < R; r++) {
        for (int j = 0; j < V; j++) zf[(size_t)r * Vp + j] = (float)(3.0 * clpt_rng_normal(&rng));
        tg[r] = (int)clpt_rng_below(&rng, (uint64_t)V);
        if (r == 1 && V > 2) /* ties with the target count as not greater */
            zf[(size_t)r * Vp + (tg[r] + 1) % V] = zf[(size_t)r * Vp + tg[r]];
    }
    std::vector<T> L = store<T>(zf);
    std::vector<float> z = widen(L.data(), L.size()); /* the values the kernel sees */
    std::vector<float> loss(R, NAN), want_loss(R), want_g((size_t)R * Vp);
    std::vector<int> rank(R, -1), want_rank(R);
    const float dscale = 1.0f / 7;
    for (int r = 0; r < R; r++) {
        const float *zr = &z[(size_t)r * Vp];
        double m = -INFINITY, s = 0;
        int greater = 0;
        for (int j = 0; j < V; j++) m = fmax(m, zr[j]);
        for (int j = 0; j < V; j++) {
            s += exp((double)zr[j] - m);
            greater += zr[j] > zr[tg[r]];
        }
        want_loss[r] = (float)(log(s) + m - zr[tg[r]]);
        want_rank[r] = greater + 1;
        for (int j = 0; j < Vp; j++)
            want_g[(size_t)r * Vp + j] =
                j < V ? (float)(dscale * (exp((double)zr[j] - m) / s - (j == tg[r]))) : 0.0f;
    }
    std::vector<bf16> G(use_G ? (size_t)R * Vp : 1, __float2bfloat16_rn(NAN));
    size_t smem = CACHE ? (size_t)Vp * sizeof(T) : 0;
    emu::launch(k_xent_rows<TH, CACHE, T>, R, TH, smem, L.data(), V, Vp, (const int *)tg.data(), loss.data(),
                rank.data(), dscale, 1, use_G ? G.data() : (bf16 *)NULL);
    char name[96], what[128];
    snprintf(name, sizeof name, "k_xent_rows<%d,%s> %s R=%d V=%d%s", TH, CACHE ? "cached" : "uncached", ts, R, V,
             use_G ? " G" : "");
    snprintf(what, sizeof what, "%s loss", name);
    compare(what, loss.data(), want_loss.data(), R, 1e-5);
    int ranks_ok = 1;
    for (int r = 0; r < R; r++) ranks_ok &= rank[r] == want_rank[r];
    CHECK_MSG(ranks_ok, "%s: ranks", name);
    std::vector<float> g = use_G ? widen(G.data(), G.size()) : widen(L.data(), L.size());
    int pad_ok = 1;
    for (int r = 0; r < R; r++)
        for (int j = V; j < Vp; j++) pad_ok &= g[(size_t)r * Vp + j] == 0.0f;
    CHECK_MSG(pad_ok, "%s: the gradient past V is not zero", name);
    snprintf(what, sizeof what, "%s gradient", name);
    compare(what, g.data(), want_g.data(), g.size(), sizeof(T) == 4 && !use_G ? 1e-5 : 4e-3);

    /* evaluation: the same losses, no gradient, L untouched */
    std::vector<T> L2 = store<T>(zf), orig = L2;
    std::vector<float> loss2(R, NAN);
    emu::launch(k_xent_rows<TH, false, T>, R, TH, 0, L2.data(), V, Vp, (const int *)tg.data(), loss2.data(),
                (int *)NULL, dscale, 0, (bf16 *)NULL);
    CHECK_MSG(!memcmp(L2.data(), orig.data(), L2.size() * sizeof(T)), "%s: evaluation wrote L", name);
    CHECK_MSG(!memcmp(loss2.data(), loss.data(), R * sizeof(float)), "%s: evaluation's losses differ", name);
}

int main(void)
{
    const char *env = getenv("CLPT_TEST_SEED");
    uint64_t seed = env && *env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
    clpt_rng_seed(&rng, seed);
    printf("seed %llu (CLPT_TEST_SEED=%llu replays it)\n", (unsigned long long)seed, (unsigned long long)seed);

    /* every test under each order of the threads' turns (cuda_emu.h): a
     * result that depends on it shows a missing barrier */
    static const char *orders[] = {"in thread order", "in reverse order", "shuffled"};
    for (int o = 0; o < 3; o++) {
        emu::order = o;
        emu::smem_limit = 48 << 10;
        int before = check_failures;
        /* rows not a multiple of a block's 8 or of the fused kernel's 4 W; C not a
         * multiple of 32 (V = 1 only), GPT-2 small's 768, XL's 1600 (3 warps fused) */
        test_layernorm<float>(37, 70);
        test_layernorm<bf16>(37, 70);
        test_layernorm<float>(1, 3); /* (C = 1 makes rstd 1/sqrt(eps): dinp is then rounding noise times 316) */
        test_layernorm<float>(45, 768);
        test_layernorm<bf16>(45, 768);
        test_layernorm<bf16>(13, 1600);
        test_layernorm<float>(13, 1600);
        /* one warp's slots over 48 KB: not fused (the test skips that part, as the launcher does) */
        test_layernorm<float>(3, 6200);

        test_convert();
        test_encoder<float>(2, 17, 40, 7);
        test_encoder<bf16>(3, 64, 96, 300);
        test_gelu<float>(100003);
        test_gelu<float>(4096);
        test_gelu<bf16>(4096);
        test_gelu<bf16>(1003);
        test_vector_ops(10001);
        test_vector_ops(4000);

        /* T = 1, below, at and above the 64-row block */
        test_attention_mma<float>(3, 1, 2);
        test_attention_mma<float>(2, 37, 2);
        test_attention_mma<bf16>(1, 64, 1);
        test_attention_mma<bf16>(1, 150, 2);

        test_colsum(1, 1);
        test_colsum(70, 33);
        test_colsum(300000, 3); /* 128 rows per chunk, 2344 chunks */
        test_colsum(5000, 770);

        /* the instantiations classifier.cu launches: uncached 512 threads, cached
         * 1024 (fp32) or 512 (bf16); vocabularies of 3, 1000 and GPT-2's */
        test_xent<512, false, float>(3, 1000, 1);
        test_xent<512, false, float>(3, 1000, 0);
        test_xent<512, false, bf16>(3, 1000, 0);
        test_xent<1024, true, float>(3, 1000, 1);
        test_xent<1024, true, float>(2, 3, 0);
        test_xent<512, true, bf16>(3, 1000, 0);
        emu::smem_limit = 227 << 10; /* sm_90's, for a 201 KB row of fp32 logits */
        test_xent<1024, true, float>(2, 50257, 1);
        test_xent<512, true, bf16>(2, 50257, 0);
        test_xent<512, false, float>(2, 50257, 1);
        printf("threads' turns %s: %s\n", orders[o], check_failures == before ? "all passed" : "FAILED");
    }
    printf("%ld launches, %ld fiber switches\n", emu::st.launches, emu::st.switches);
    if (check_failures) fprintf(stderr, "%d check(s) failed\n", check_failures);
    return check_failures ? 1 : 0;
}
