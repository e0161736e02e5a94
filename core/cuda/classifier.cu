/* classifier.cu - the fused tied-embedding classifier: logits, softmax,
 * cross-entropy, rank and gradients, a chunk of rows at a time, so no
 * (N,V) tensor exists beyond one chunk (at most CU_LOGITS_BYTES, 2 GB).
 *
 * Per chunk of R rows (x = inp rows, L = the chunk's logits; chunks halve
 * where the device has no room for them):
 *   L (R,V) = x wte^T                          cuBLAS
 *   per row: loss, rank; G = dscale (softmax - onehot)   k_xent_rows
 *     (L read once where a row fits in shared memory, else twice)
 *   dinp (R,C) = G wte;  dwte (V,C) += G^T x   cuBLAS
 * L is fp32, except in training with bf16 GEMM operands and bf16 logits
 * asked for (clpt_cuda_set_logits), where it is bf16 and G overwrites it.
 * Otherwise G is bf16 with bf16 GEMM operands (written once, read by both
 * GEMMs), else L itself, as cpu_classifier does. x and dinp are
 * activations (fp32 or bf16); losses and dwte are fp32. Evaluation always
 * takes fp32 logits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"
#include "xent.cuh"

/* Each chunk's dwte GEMM reads and writes all of dwte (154 MB for GPT-2):
 * few, large chunks keep that small beside the products */
#define CU_LOGITS_BYTES ((size_t)2 << 30)
static size_t logits_bytes = CU_LOGITS_BYTES;
/* the logits bytes of the last chunk that had to be halved to fit, which
 * later calls start from, so as not to fail an allocation every step (0:
 * none), and its rows */
static size_t bytes_fit, rows_fit;
extern "C" void clpt_cuda_set_logits_chunk(size_t bytes)
{
    logits_bytes = bytes ? bytes : CU_LOGITS_BYTES;
    bytes_fit = rows_fit = 0;
}
extern "C" size_t clpt_cuda_logits_rows_fit(void) { return rows_fit; }
void cu_logits_fit_reset(void) { bytes_fit = rows_fit = 0; }
/* The cached pass for training where the row fits in a block's shared
 * memory (clpt_cuda_set_xent_cache(0) turns it off, for the test of the
 * other), else two reads of L. 1024 threads for an fp32 row (one block per
 * SM: the row takes most of it), 512 for a bf16 row (two blocks per SM on
 * sm_90). */
#define XENT_THREADS 512
static int xent_cache = 1;
static long xent_cached, xent_bf16; /* launches of the cached pass; over bf16 logits */
extern "C" void clpt_cuda_set_xent_cache(int on) { xent_cache = on; }
extern "C" long clpt_cuda_xent_cached(void) { return xent_cached; }
extern "C" long clpt_cuda_logits_bf16_runs(void) { return xent_bf16; }

template <typename T>
static int xent_launch(int R, T *L, int V, int Vp, const int *targets, float *losses, int *ranks,
                       float dscale, int want_grad, bf16 *G)
{
    constexpr int CT = sizeof(T) == 4 ? 1024 : 512; /* the cached pass's threads */
    static size_t cache_set;                        /* the dynamic shared memory allowed so far */
    size_t smem = (size_t)Vp * sizeof(T);
    int cache = want_grad && xent_cache && smem + 3 * sizeof(float) * (CT / 32) <= g_cu.smem_optin;
    if (cache && smem > cache_set) {
        if (cudaFuncSetAttribute(k_xent_rows<CT, true, T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 (int)smem) == cudaSuccess)
            cache_set = smem;
        else { /* refused: the uncached pass computes the same */
            (void)cudaGetLastError();
            cache = 0;
        }
    }
    if (cache)
        k_xent_rows<CT, true, T><<<R, CT, smem, g_cu.stream>>>(L, V, Vp, targets, losses, ranks, dscale,
                                                                 want_grad, G);
    else
        k_xent_rows<XENT_THREADS, false, T><<<R, XENT_THREADS, 0, g_cu.stream>>>(L, V, Vp, targets, losses,
                                                                                 ranks, dscale, want_grad, G);
    int rc = CU_LAUNCHED("k_xent_rows");
    if (!rc && cache) xent_cached++;
    if (!rc && sizeof(T) == 2) xent_bf16++;
    return rc;
}

/* bf16 logits in training (clpt_cuda_set_logits) */
static int logits_bf16 = -1; /* -1: not yet read from CLPT_CUDA_LOGITS */
extern "C" int clpt_cuda_set_logits(const char *format)
{
    if (format && (!strcmp(format, "fp32") || !strcmp(format, "bf16"))) {
        logits_bf16 = !strcmp(format, "bf16");
        return 0;
    }
    return clpt_err(CLPT_EINVAL, "cuda: unknown logits format '%s' (valid: fp32, bf16)", format ? format : "(null)");
}
extern "C" const char *clpt_cuda_logits(void)
{
    if (logits_bf16 < 0) {
        const char *env = getenv("CLPT_CUDA_LOGITS");
        logits_bf16 = 0;
        if (env && *env && clpt_cuda_set_logits(env)) fprintf(stderr, "clpt: %s; using fp32\n", clpt_errmsg());
    }
    return logits_bf16 ? "bf16" : "fp32";
}
extern "C" const char *clpt_cuda_logits_in_effect(int act_bytes)
{
    int bf = act_bytes == 2 || g_cu.gemm_mode == CU_GEMM_BF16; /* cu_bf16_gemm<A>() */
    return bf ? clpt_cuda_logits() : "fp32";
}

template <typename A>
void cu_classifier(float *losses, int *ranks, clpt_act *dinp_, float *dwte, const clpt_act *inp_,
                   const float *wte, const int *targets, int N, int C, int V, float dscale)
{
    A *dinp = (A *)dinp_;
    const A *inp = (const A *)inp_;
    /* Rows of the logits chunk are padded to Vp, a multiple of 64 entries, so
     * every row starts 256-byte aligned. With bf16 operands the weights'
     * shadow is padded too, with zero rows, so the GEMMs run over Vp (V =
     * 50257 is odd) and the padded logits and gradients are exactly 0. */
    if (N <= 0) return;
    int Vp = (V + 63) / 64 * 64, bf = cu_bf16_gemm<A>();
    /* with bf16 operands the gradient goes straight to bf16, the next GEMMs'
     * operand: into G, or over bf16 logits themselves where training takes
     * them in bf16 */
    int want_g = dinp && bf, lbf = want_g && !strcmp(clpt_cuda_logits_in_effect(sizeof(A)), "bf16");
    size_t lsize = lbf ? sizeof(bf16) : sizeof(float);
    size_t rows = (bytes_fit ? bytes_fit : logits_bytes) / ((size_t)Vp * lsize), chunks;
    if (rows < 1) rows = 1;
    if (rows > (size_t)N) rows = N;
    void *L = NULL;
    bf16 *G = NULL;
    /* where the device has no room for the chunk, halve it (down to 256 rows,
     * where a failure is reported): the same products in more, smaller
     * GEMMs (dwte sums the chunks in another grouping: rounding differs) */
    for (int halved = 0;; halved = 1) {
        chunks = (N + rows - 1) / rows;
        rows = (N + chunks - 1) / chunks; /* as even as they come: no short last chunk */
        int last = rows <= 256;
        void *(*get)(int, size_t) = last ? cu_scratch : cu_scratch_try;
        L = get(CU_SLOT_LOGITS, rows * Vp * lsize);
        if (L && want_g && !lbf) G = (bf16 *)get(CU_SLOT_CONV_B, rows * Vp * sizeof *G);
        if (L && (!want_g || lbf || G)) {
            if (halved) {
                rows_fit = rows;
                bytes_fit = rows * Vp * lsize;
                fprintf(stderr, "clpt: cuda: the classifier's logits chunk did not fit; %zu rows from now on\n",
                        rows);
            }
            break;
        }
        if (last) return;
        /* give back the logits block too (got where G was not), or the
         * halved request would keep it at full size: slots only grow */
        cu_scratch_drop(CU_SLOT_LOGITS);
        cu_scratch_drop(CU_SLOT_CONV_B);
        rows /= 2;
    }
    cu_operand W;
    const bf16 *Wp = bf ? cu_weight_bf16_padded(wte, (size_t)V * C, (size_t)Vp * C) : NULL;
    int Vg = Wp ? Vp : V; /* the GEMMs' vocabulary extent */
    if (Wp) {
        W.p = Wp;
        W.type = CUDA_R_16BF;
    } else if (cu_operand_get(&W, wte, (size_t)V * C, 1, CU_SLOT_CONV_C, bf)) {
        return;
    }
    /* the gradient, the next GEMMs' operand */
    cu_operand P = {G ? (const void *)G : L, G || lbf ? CUDA_R_16BF : CUDA_R_32F};
    for (int r0 = 0; r0 < N; r0 += (int)rows) {
        int R = N - r0 < (int)rows ? N - r0 : (int)rows;
        const A *x = inp + (size_t)r0 * C;
        cu_operand X;
        if (cu_act_operand(&X, x, (size_t)R * C, CU_SLOT_CONV_A)) return;
        /* L^T (Vg,R) = wte (Vg,C) @ x^T (C,R); wte is stored as wte^T (C,Vg) */
        if (cu_gemm(1, 0, Vg, R, C, &W, C, &X, C, L, lbf ? CUDA_R_16BF : CUDA_R_32F, Vp, 1.0f, 0.0f)) return;
        int *rk = ranks ? ranks + r0 : NULL;
        int rc = lbf ? xent_launch<bf16>(R, (bf16 *)L, V, Vp, targets + r0, losses + r0, rk, dscale, 1, NULL)
                     : xent_launch<float>(R, (float *)L, V, Vp, targets + r0, losses + r0, rk, dscale,
                                          dinp != NULL, G);
        if (rc) return;
        if (!dinp) continue;
        /* dinp^T (C,R) = wte^T (C,Vg) @ G^T (Vg,R) */
        if (cu_gemm(0, 0, C, R, Vg, &W, C, &P, Vp, dinp + (size_t)r0 * C, cu_type<A>(), C, 1.0f, 0.0f))
            return;
        /* dwte^T (C,V) += x^T (C,R) @ G (R,V); G is stored as G^T (Vp,R) */
        if (cu_gemm(0, 1, C, V, R, &X, C, &P, Vp, dwte, CUDA_R_32F, C, 1.0f, 1.0f)) return;
    }
}

template void cu_classifier<float>(float *, int *, clpt_act *, float *, const clpt_act *,
                                   const float *, const int *, int, int, int, float);
template void cu_classifier<bf16>(float *, int *, clpt_act *, float *, const clpt_act *,
                                  const float *, const int *, int, int, int, float);
