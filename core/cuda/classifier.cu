/* classifier.cu - the fused tied-embedding classifier: logits, softmax,
 * cross-entropy, rank and gradients, a chunk of rows at a time, so no
 * (N,V) tensor exists beyond one chunk (at most CU_LOGITS_BYTES).
 *
 * Per chunk of R rows (x = inp rows, L = the chunk's logits):
 *   L (R,V) = x wte^T                          cuBLAS
 *   per row: loss, rank; L = dscale (softmax - onehot)   k_xent_rows
 *   dinp (R,C) = L wte;  dwte (V,C) += L^T x   cuBLAS
 * as cpu_classifier does. */
#include <math.h>

#include "cuda_common.cuh"

#define CU_LOGITS_BYTES ((size_t)512 << 20)
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

/* One block per row of L (V logits). Pass 1: online max and sum of
 * exponentials, and the count of logits above the target's. Pass 2, for
 * training: overwrite the row with dscale * (softmax - onehot). */
__global__ void __launch_bounds__(XENT_THREADS)
    k_xent_rows(float *L, int V, const int *targets, float *losses, int *ranks, float dscale,
                int want_grad)
{
    __shared__ float sh_m[XENT_THREADS / 32], sh_s[XENT_THREADS / 32];
    __shared__ int sh_g[XENT_THREADS / 32];
    float *row = L + (size_t)blockIdx.x * V;
    int target = targets[blockIdx.x], lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    float tl = row[target];
    float m = -INFINITY, s = 0.0f;
    int greater = 0;
    for (int j = threadIdx.x; j < V; j += XENT_THREADS) {
        float z = row[j];
        greater += z > tl;
        if (z > m) {
            s = s * expf(m - z) + 1.0f; /* m = -inf at first: s is 0 and stays 0 */
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
    __syncthreads();
    /* every thread merges the warps' partials in the same order */
    m = sh_m[0];
    s = sh_s[0];
    greater = sh_g[0];
    for (int w = 1; w < XENT_THREADS / 32; w++) {
        lse_merge(m, s, sh_m[w], sh_s[w]);
        greater += sh_g[w];
    }
    if (threadIdx.x == 0) {
        losses[blockIdx.x] = logf(s) + m - tl;
        if (ranks) ranks[blockIdx.x] = greater + 1;
    }
    if (!want_grad) return;
    float k = dscale / s;
    for (int j = threadIdx.x; j < V; j += XENT_THREADS) row[j] = expf(row[j] - m) * k;
    __syncthreads(); /* the target's entry was written by some thread above */
    if (threadIdx.x == 0) row[target] -= dscale;
}

void cu_classifier(float *losses, int *ranks, float *dinp, float *dwte, const float *inp,
                   const float *wte, const int *targets, int N, int C, int V, float dscale)
{
    size_t rows = CU_LOGITS_BYTES / ((size_t)V * sizeof(float));
    if (rows < 1) rows = 1;
    if (rows > (size_t)N) rows = N;
    float *L = (float *)cu_scratch(CU_SLOT_LOGITS, rows * V * sizeof(float));
    cu_operand W;
    if (!L || cu_operand_get(&W, wte, (size_t)V * C, 1, CU_SLOT_CONV_C)) return;
    for (int r0 = 0; r0 < N; r0 += (int)rows) {
        int R = N - r0 < (int)rows ? N - r0 : (int)rows;
        const float *x = inp + (size_t)r0 * C;
        cu_operand X, P;
        if (cu_operand_get(&X, x, (size_t)R * C, 0, CU_SLOT_CONV_A)) return;
        /* L^T (V,R) = wte (V,C) @ x^T (C,R); wte is stored as wte^T (C,V) */
        if (cu_gemm(1, 0, V, R, C, &W, C, &X, C, L, V, 1.0f, 0.0f)) return;
        k_xent_rows<<<R, XENT_THREADS, 0, g_cu.stream>>>(L, V, targets + r0, losses + r0,
                                                         ranks ? ranks + r0 : NULL, dscale,
                                                         dinp != NULL);
        if (CU_LAUNCHED("k_xent_rows")) return;
        if (!dinp) continue;
        if (cu_operand_get(&P, L, (size_t)R * V, 0, CU_SLOT_CONV_B)) return;
        /* dinp^T (C,R) = wte^T (C,V) @ L^T (V,R) */
        if (cu_gemm(0, 0, C, R, V, &W, C, &P, V, dinp + (size_t)r0 * C, C, 1.0f, 0.0f)) return;
        /* dwte^T (C,V) += x^T (C,R) @ L (R,V); L is stored as L^T (V,R) */
        if (cu_gemm(0, 1, C, V, R, &X, C, &P, V, dwte, C, 1.0f, 1.0f)) return;
    }
}
