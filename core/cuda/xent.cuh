/* xent.cuh - the classifier's row pass (classifier.cu): per row of logits
 * the loss, the rank of the target and the gradient of softmax +
 * cross-entropy. Also run on the CPU by tests/test_kernels_emu.cpp. */
#ifndef CLPT_CUDA_XENT_CUH
#define CLPT_CUDA_XENT_CUH

#include <math.h>
#include <stdint.h>

#include "cu_device.cuh"

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

/* One block per row of L (V logits of type T, fp32 or bf16, rows Vp apart;
 * Vp a multiple of 64 and L 16-byte aligned, so rows are read 16 bytes at a
 * time: E = 4 or 8 logits). Pass 1: online max and sum of exponentials, and
 * the count of logits above the target's. Pass 2, for training: the row's
 * gradient dscale * (softmax - onehot), zero past V, into G (bf16, rows Vp
 * apart) when G is given, else over L's row (in L's type). With CACHE pass
 * 1 also keeps the row in shared memory (Vp * sizeof(T) bytes of dynamic
 * shared memory: 201 KB of fp32 logits for GPT-2, which sm_90's 227 KB per
 * block holds, or 101 KB of bf16) and pass 2 reads it there, so L is read
 * once, not twice: 3.3 GB less traffic per step at GPT-2 small, B = 16,
 * with fp32 logits. Every thread takes the same columns in the same order
 * either way; only THREADS changes the sums. */
template <int THREADS, bool CACHE, typename T>
__global__ void __launch_bounds__(THREADS)
    k_xent_rows(T *L, int V, int Vp, const int *targets, float *losses, int *ranks, float dscale,
                int want_grad, bf16 *G)
{
    constexpr int E = cu_vec<T>::N;
    CU_DYN_SHARED(int4, sh_row); /* CACHE: the row, Vp / E 16-byte vectors */
    __shared__ float sh_m[THREADS / 32], sh_s[THREADS / 32];
    __shared__ int sh_g[THREADS / 32];
    T *row = L + (size_t)blockIdx.x * Vp;
    const int4 *rowv = (const int4 *)row;
    int target = targets[blockIdx.x], lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    float tl = cu_ld(row[target]);
    float m = -INFINITY, s = 0.0f;
    int greater = 0, Vv = V / E;
    /* four loads in flight per thread before the first is used */
    for (int j0 = threadIdx.x; j0 < Vv; j0 += 4 * THREADS) {
        int4 raw[4];
#pragma unroll
        for (int u = 0; u < 4; u++)
            if (j0 + u * THREADS < Vv) raw[u] = rowv[j0 + u * THREADS];
#pragma unroll
        for (int u = 0; u < 4; u++) {
            if (j0 + u * THREADS >= Vv) break;
            if (CACHE) sh_row[j0 + u * THREADS] = raw[u];
            float z[E];
            cu_load16(z, (const T *)&raw[u]);
            float zm = z[0];
#pragma unroll
            for (int e = 0; e < E; e++) {
                greater += z[e] > tl;
                zm = fmaxf(zm, z[e]);
            }
            if (zm > m) {
                s *= expf(m - zm); /* m = -inf at first: s is 0 and stays 0 */
                m = zm;
            }
            float t = expf(z[0] - m); /* the vector's sum first, then the row's */
#pragma unroll
            for (int e = 1; e < E; e++) t += expf(z[e] - m);
            s += t;
        }
    }
    if (CACHE) /* the row's last vectors (pass 2 masks what is past V) */
        for (int j = Vv + threadIdx.x; j < Vp / E; j += THREADS) sh_row[j] = rowv[j];
    for (int j = E * Vv + threadIdx.x; j < V; j += THREADS) {
        float z = cu_ld(row[j]);
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
    __syncthreads(); /* also: the cached row is complete, and every read of L's row done */
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
    for (int j = threadIdx.x; j < Vp / E; j += THREADS) {
        int4 raw = CACHE ? sh_row[j] : rowv[j];
        float v[E];
        cu_load16(v, (const T *)&raw);
#pragma unroll
        for (int e = 0; e < E; e++) {
            int c = E * j + e;
            v[e] = c < V ? expf(v[e] - m) * k - (c == target ? dscale : 0.0f) : 0.0f;
        }
        if (sizeof(T) == 4 && G) { /* fp32 logits, bf16 gradient: 8 bytes */
            __nv_bfloat162 lo = __floats2bfloat162_rn(v[0], v[1]), hi = __floats2bfloat162_rn(v[2], v[3]);
            uint2 u;
            u.x = *(uint32_t *)&lo;
            u.y = *(uint32_t *)&hi;
            *(uint2 *)(G + (size_t)blockIdx.x * Vp + E * j) = u;
        } else { /* over the row, in its type */
            cu_store16(row + E * j, v);
        }
    }
}

#endif
