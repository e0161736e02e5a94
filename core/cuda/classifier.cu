/* classifier.cu - the fused tied-embedding classifier: logits, softmax,
 * cross-entropy, rank and gradients, a chunk of rows at a time, so no
 * (N,V) tensor exists beyond one chunk (at most CU_LOGITS_BYTES, 2 GB).
 *
 * Per chunk of R rows (x = inp rows, L = the chunk's fp32 logits; chunks
 * halve where the device has no room for them):
 *   L (R,V) = x wte^T                          cuBLAS
 *   per row: loss, rank; G = dscale (softmax - onehot)   k_xent_rows
 *     (L read once where a row fits in shared memory, else twice)
 *   dinp (R,C) = G wte;  dwte (V,C) += G^T x   cuBLAS
 * G is bf16 with bf16 GEMM operands (written once, read by both GEMMs), else
 * L itself, as cpu_classifier does. x and dinp are activations (fp32 or
 * bf16); losses, logits and dwte are fp32. */
#include <math.h>
#include <stdio.h>

#include "cuda_common.cuh"

/* Each chunk's dwte GEMM reads and writes all of dwte (154 MB for GPT-2):
 * few, large chunks keep that small beside the products */
#define CU_LOGITS_BYTES ((size_t)2 << 30)
static size_t logits_bytes = CU_LOGITS_BYTES;
/* the rows of the last chunk that had to be halved to fit, which later
 * calls start from, so as not to fail an allocation every step; 0: none */
static size_t rows_fit;
extern "C" void clpt_cuda_set_logits_chunk(size_t bytes)
{
    logits_bytes = bytes ? bytes : CU_LOGITS_BYTES;
    rows_fit = 0;
}
extern "C" size_t clpt_cuda_logits_rows_fit(void) { return rows_fit; }
void cu_logits_fit_reset(void) { rows_fit = 0; }
#define XENT_THREADS 512

/* (max, sum of exp(z - max)) pairs: merging is order-independent up to
 * rounding, and exact in either argument order */
static __device__ __forceinline__ void lse_merge(float &m, float &s, float m2, float s2)
{
    if (m2 > m) {
        float t = m;
        m = m2;
        m2 = t;
        t = s;
        s = s2;
        s2 = t;
    }
    if (s2 != 0.0f) s += s2 * expf(m2 - m); /* s2 == 0: an empty partial, maybe m2 = -inf */
}

/* One block per row of L (V logits, rows Vp apart; Vp a multiple of 64 and
 * L 16-byte aligned, so rows are read as float4). Pass 1: online max and
 * sum of exponentials, and the count of logits above the target's. Pass 2,
 * for training: the row's gradient dscale * (softmax - onehot), zero past V,
 * into G (bf16, rows Vp apart) when G is given, else over L's row. With
 * CACHE pass 1 also keeps the row in shared memory (Vp floats of dynamic
 * shared memory: 201 KB for GPT-2, which sm_90's 227 KB per block holds)
 * and pass 2 reads it there, so L is read once, not twice: 3.3 GB less
 * traffic per step at GPT-2 small, B = 16. Every thread takes the same
 * columns in the same order either way; only THREADS changes the sums. */
template <int THREADS, bool CACHE>
__global__ void __launch_bounds__(THREADS)
    k_xent_rows(float *L, int V, int Vp, const int *targets, float *losses, int *ranks, float dscale,
                int want_grad, __nv_bfloat16 *G)
{
    extern __shared__ float4 sh_row[]; /* CACHE: the row, Vp / 4 float4 */
    __shared__ float sh_m[THREADS / 32], sh_s[THREADS / 32];
    __shared__ int sh_g[THREADS / 32];
    float *row = L + (size_t)blockIdx.x * Vp;
    const float4 *row4 = (const float4 *)row;
    int target = targets[blockIdx.x], lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    float tl = row[target];
    float m = -INFINITY, s = 0.0f;
    int greater = 0, V4 = V / 4;
    /* four loads in flight per thread before the first is used */
    for (int j0 = threadIdx.x; j0 < V4; j0 += 4 * THREADS) {
        float4 z[4];
#pragma unroll
        for (int u = 0; u < 4; u++)
            if (j0 + u * THREADS < V4) z[u] = row4[j0 + u * THREADS];
#pragma unroll
        for (int u = 0; u < 4; u++) {
            if (j0 + u * THREADS >= V4) break;
            if (CACHE) sh_row[j0 + u * THREADS] = z[u];
            greater += (z[u].x > tl) + (z[u].y > tl) + (z[u].z > tl) + (z[u].w > tl);
            float zm = fmaxf(fmaxf(z[u].x, z[u].y), fmaxf(z[u].z, z[u].w));
            if (zm > m) {
                s *= expf(m - zm); /* m = -inf at first: s is 0 and stays 0 */
                m = zm;
            }
            s += expf(z[u].x - m) + expf(z[u].y - m) + expf(z[u].z - m) + expf(z[u].w - m);
        }
    }
    if (CACHE) /* the row's last float4s (pass 2 masks what is past V) */
        for (int j = V4 + threadIdx.x; j < Vp / 4; j += THREADS) sh_row[j] = row4[j];
    for (int j = 4 * V4 + threadIdx.x; j < V; j += THREADS) {
        float z = row[j];
        greater += z > tl;
        if (z > m) {
            s = s * expf(m - z) + 1.0f;
            m = z;
        } else {
            s += expf(z - m);
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        lse_merge(m, s, m2, s2);
        greater += __shfl_xor_sync(0xffffffffu, greater, o);
    }
    if (lane == 0) {
        sh_m[warp] = m;
        sh_s[warp] = s;
        sh_g[warp] = greater;
    }
    __syncthreads(); /* also: the cached row is complete */
    /* every warp merges the warps' partials, lane w taking warp w's, by the
     * same butterfly: the same result in every lane of every warp, in 5
     * steps instead of THREADS / 32 - 1 */
    m = lane < THREADS / 32 ? sh_m[lane] : -INFINITY;
    s = lane < THREADS / 32 ? sh_s[lane] : 0.0f;
    greater = lane < THREADS / 32 ? sh_g[lane] : 0;
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        lse_merge(m, s, m2, s2);
        greater += __shfl_xor_sync(0xffffffffu, greater, o);
    }
    if (threadIdx.x == 0) {
        losses[blockIdx.x] = logf(s) + m - tl;
        if (ranks) ranks[blockIdx.x] = greater + 1;
    }
    if (!want_grad) return;
    float k = dscale / s;
    for (int j = threadIdx.x; j < Vp / 4; j += THREADS) {
        float4 z = CACHE ? sh_row[j] : row4[j];
        float v[4] = {z.x, z.y, z.z, z.w};
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int c = 4 * j + e;
            v[e] = c < V ? expf(v[e] - m) * k - (c == target ? dscale : 0.0f) : 0.0f;
        }
        if (G) {
            __nv_bfloat162 lo = __floats2bfloat162_rn(v[0], v[1]), hi = __floats2bfloat162_rn(v[2], v[3]);
            uint2 u;
            u.x = *(uint32_t *)&lo;
            u.y = *(uint32_t *)&hi;
            *(uint2 *)(G + (size_t)blockIdx.x * Vp + 4 * j) = u;
        } else {
            ((float4 *)row)[j] = make_float4(v[0], v[1], v[2], v[3]);
        }
    }
}

/* The cached pass for training where the row fits in a block's shared
 * memory (clpt_cuda_set_xent_cache(0) turns it off, for the test of the
 * other), else two reads of L. */
#define XENT_CACHE_THREADS 1024
static int xent_cache = 1;
static size_t xent_cache_set; /* the dynamic shared memory allowed so far */
static long xent_cached;      /* launches of the cached pass */
extern "C" void clpt_cuda_set_xent_cache(int on) { xent_cache = on; }
extern "C" long clpt_cuda_xent_cached(void) { return xent_cached; }

static int xent_launch(int R, float *L, int V, int Vp, const int *targets, float *losses, int *ranks,
                       float dscale, int want_grad, bf16 *G)
{
    size_t smem = (size_t)Vp * sizeof(float);
    int cache = want_grad && xent_cache &&
                smem + 3 * sizeof(float) * (XENT_CACHE_THREADS / 32) <= g_cu.smem_optin;
    if (cache && smem > xent_cache_set) {
        if (cudaFuncSetAttribute(k_xent_rows<XENT_CACHE_THREADS, true>,
                                 cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) == cudaSuccess)
            xent_cache_set = smem;
        else { /* refused: the uncached pass computes the same */
            (void)cudaGetLastError();
            cache = 0;
        }
    }
    if (cache) {
        k_xent_rows<XENT_CACHE_THREADS, true><<<R, XENT_CACHE_THREADS, smem, g_cu.stream>>>(
            L, V, Vp, targets, losses, ranks, dscale, want_grad, G);
    } else {
        k_xent_rows<XENT_THREADS, false><<<R, XENT_THREADS, 0, g_cu.stream>>>(L, V, Vp, targets, losses,
                                                                              ranks, dscale, want_grad, G);
    }
    int rc = CU_LAUNCHED("k_xent_rows");
    if (!rc && cache) xent_cached++;
    return rc;
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
    /* with bf16 operands the gradient goes straight to bf16 (G), the next
     * GEMMs' operand */
    int want_g = dinp && bf;
    size_t rows = logits_bytes / ((size_t)Vp * sizeof(float)), chunks;
    if (rows_fit && rows > rows_fit) rows = rows_fit;
    if (rows < 1) rows = 1;
    if (rows > (size_t)N) rows = N;
    float *L = NULL;
    bf16 *G = NULL;
    /* where the device has no room for the chunk, halve it (down to 256 rows,
     * where a failure is reported): the same products in more, smaller
     * GEMMs (dwte sums the chunks in another grouping: rounding differs) */
    for (int halved = 0;; halved = 1) {
        chunks = (N + rows - 1) / rows;
        rows = (N + chunks - 1) / chunks; /* as even as they come: no short last chunk */
        int last = rows <= 256;
        void *(*get)(int, size_t) = last ? cu_scratch : cu_scratch_try;
        L = (float *)get(CU_SLOT_LOGITS, rows * Vp * sizeof(float));
        if (L && want_g) G = (bf16 *)get(CU_SLOT_CONV_B, rows * Vp * sizeof *G);
        if (L && (!want_g || G)) {
            if (halved) {
                rows_fit = rows;
                fprintf(stderr, "clpt: cuda: the classifier's logits chunk did not fit; %zu rows from now on\n",
                        rows);
            }
            break;
        }
        if (last) return;
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
    cu_operand P = {G ? (const void *)G : (const void *)L, G ? CUDA_R_16BF : CUDA_R_32F};
    for (int r0 = 0; r0 < N; r0 += (int)rows) {
        int R = N - r0 < (int)rows ? N - r0 : (int)rows;
        const A *x = inp + (size_t)r0 * C;
        cu_operand X;
        if (cu_act_operand(&X, x, (size_t)R * C, CU_SLOT_CONV_A)) return;
        /* L^T (Vg,R) = wte (Vg,C) @ x^T (C,R); wte is stored as wte^T (C,Vg) */
        if (cu_gemm(1, 0, Vg, R, C, &W, C, &X, C, L, CUDA_R_32F, Vp, 1.0f, 0.0f)) return;
        if (xent_launch(R, L, V, Vp, targets + r0, losses + r0, ranks ? ranks + r0 : NULL, dscale,
                        dinp != NULL, G))
            return;
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
