/* test_kernels_emu.cpp - the CUDA backend's LayerNorm, column-sum and
 * classifier-row kernels (core/cuda/layernorm.cuh, colsum.cuh, xent.cuh),
 * run on the CPU through tests/cuda_emu.h and compared with the CPU
 * backend (cpu, or cpu-bf16 for bf16 activations) or with a double
 * reference, on fresh random inputs (CLPT_TEST_SEED replays a run). Each
 * kernel is launched with the grid, block and shared memory its launcher
 * in kernels.cu or classifier.cu gives it. This needs no GPU, so it runs
 * wherever the CUDA toolkit's headers are; the device's own math library
 * and scheduling are only covered by the `cuda` tests. */
#include "cuda_emu.h"

#include <math.h>
#include <time.h>

extern "C" {
#include "backend.h"
#include "check.h"
#include "clpt.h"
#include "rng.h"
}

#include "cuda/colsum.cuh"
#include "cuda/layernorm.cuh"
#include "cuda/xent.cuh"

#define THREADS 256 /* kernels.cu's CU_THREADS */

static clpt_rng rng;

static std::vector<float> normal(size_t n, double scale, double off = 0)
{
    std::vector<float> v(n);
    for (auto &x : v) x = (float)(off + scale * clpt_rng_normal(&rng));
    return v;
}

/* relative L2 error of got against want, checked against tol */
static void compare(const char *what, const float *got, const float *want, size_t n, double tol)
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
