/* layernorm.cuh - LayerNorm's kernels, shared by kernels.cu (the cuda
 * backend's layernorm_forward and layernorm_backward) and bench/ln_micro.cu
 * (the kernels timed alone). One warp per row for the output and dinp; one
 * thread per column over a chunk of rows for the dw/db partial sums. */
#ifndef CLPT_CUDA_LAYERNORM_CUH
#define CLPT_CUDA_LAYERNORM_CUH

#include "cu_device.cuh"

/* V consecutive elements of T to and from floats: 16-byte accesses when V
 * fills them (p then 16-byte aligned), else V plain ones */
template <int V, typename T> static __device__ __forceinline__ void ld_n(float *f, const T *p)
{
    if constexpr (V * sizeof(T) % 16 == 0) {
#pragma unroll
        for (int k = 0; k < V; k += cu_vec<T>::N) cu_load16(f + k, p + k);
    } else {
#pragma unroll
        for (int k = 0; k < V; k++) f[k] = cu_ld(p[k]);
    }
}
template <int V, typename T> static __device__ __forceinline__ void st_n(T *p, const float *f)
{
    if constexpr (V * sizeof(T) % 16 == 0) {
#pragma unroll
        for (int k = 0; k < V; k += cu_vec<T>::N) cu_store16(p + k, f + k);
    } else {
#pragma unroll
        for (int k = 0; k < V; k++) p[k] = cu_st<T>(f[k]);
    }
}

/* out = (x - mean) rstd w + b per row, and the row's mean and rstd. Each
 * lane takes V adjacent columns at a time, as k_ln_bwd_dx does: V = 1, or
 * cu_vec<A>::N for 16-byte accesses (C a multiple of V, rows and w, b
 * 16-byte aligned; the launcher checks). The row is read three times; the
 * second and third reads come from L1. */
template <typename A, int V>
__global__ void k_ln_fwd(A *out, float *mean, float *rstd, const A *inp, const float *w,
                         const float *b, int N, int C, float eps)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return; /* whole warps leave together: the shuffles stay full */
    const A *x = inp + (size_t)row * C;
    A *o = out + (size_t)row * C;
    float s = 0.0f;
    for (int c = lane * V; c < C; c += 32 * V) {
        float xv[V];
        ld_n<V>(xv, x + c);
#pragma unroll
        for (int e = 0; e < V; e++) s += xv[e];
    }
    float m = cu_warp_sum(s) / C;
    float v = 0.0f;
    for (int c = lane * V; c < C; c += 32 * V) {
        float xv[V];
        ld_n<V>(xv, x + c);
#pragma unroll
        for (int e = 0; e < V; e++) v += (xv[e] - m) * (xv[e] - m);
    }
    float r = 1.0f / sqrtf(cu_warp_sum(v) / C + eps);
    for (int c = lane * V; c < C; c += 32 * V) {
        float xv[V], wv[V], bv[V];
        ld_n<V>(xv, x + c);
        ld_n<V>(wv, w + c);
        ld_n<V>(bv, b + c);
#pragma unroll
        for (int e = 0; e < V; e++) xv[e] = (xv[e] - m) * r * wv[e] + bv[e];
        st_n<V>(o + c, xv);
    }
    if (lane == 0) {
        mean[row] = m;
        rstd[row] = r;
    }
}

/* dinp += (w d - mean(w d) - n mean(w d n)) rstd, n = normalised input.
 * Each lane takes V adjacent columns at a time: V = 1, or V = cu_vec<A>::N
 * for 16-byte accesses (C a multiple of V and rows 16-byte aligned; the
 * launcher checks). With bf16, V = 1 reads and writes 2 bytes per lane and
 * ran at a tenth of the 16-byte speed on an H100 (0.43 against 0.039 ms at
 * N = 16384, C = 768, bench/ln_micro.cu); with fp32 16 bytes are 15%
 * faster. */
/* a warp's first pass over a row d, x of k_ln_bwd_dx: mean(w d) and
 * mean(w d n), in every lane */
template <int V, typename A>
static __device__ __forceinline__ void ln_bwd_row_means(float *dm_, float *dnm_, const A *d, const A *x,
                                                        const float *w, float m, float s, int C, int lane)
{
    float dm = 0.0f, dnm = 0.0f;
    for (int c = lane * V; c < C; c += 32 * V) {
        float dv[V], xv[V], wv[V];
        ld_n<V>(dv, d + c);
        ld_n<V>(xv, x + c);
        ld_n<V>(wv, w + c);
#pragma unroll
        for (int e = 0; e < V; e++) {
            float wd = wv[e] * dv[e];
            dm += wd;
            dnm += wd * (xv[e] - m) * s;
        }
    }
    *dm_ = cu_warp_sum(dm) / C;
    *dnm_ = cu_warp_sum(dnm) / C;
}

/* a warp's second pass over the row: dx += (w d - mean(w d) - n mean(w d n))
 * rstd, and each element's d and n handed to each(j, e, d, n), for column
 * lane V + j 32 V + e (k_ln_bwd_dx hands them to nothing; a kernel that
 * also sums dw and db adds them up) */
template <int V, typename A, typename F>
static __device__ __forceinline__ void ln_bwd_row_dx(A *dx, const A *d, const A *x, const float *w, float m,
                                                     float s, float dm, float dnm, int C, int lane, F each)
{
    for (int c = lane * V, j = 0; c < C; c += 32 * V, j++) {
        float dv[V], xv[V], wv[V], o[V];
        ld_n<V>(dv, d + c);
        ld_n<V>(xv, x + c);
        ld_n<V>(wv, w + c);
        ld_n<V>(o, dx + c);
#pragma unroll
        for (int e = 0; e < V; e++) {
            float n = (xv[e] - m) * s;
            o[e] += (wv[e] * dv[e] - dm - n * dnm) * s;
            each(j, e, dv[e], n);
        }
        st_n<V>(dx + c, o);
    }
}

template <typename A, int V>
__global__ void k_ln_bwd_dx(A *dinp, const A *dout, const A *inp, const float *w, const float *mean,
                            const float *rstd, int N, int C)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return; /* whole warps leave together: the shuffles stay full */
    const A *d = dout + (size_t)row * C, *x = inp + (size_t)row * C;
    A *dx = dinp + (size_t)row * C;
    float m = mean[row], s = rstd[row], dm, dnm;
    ln_bwd_row_means<V>(&dm, &dnm, d, x, w, m, s, C, lane);
    ln_bwd_row_dx<V>(dx, d, x, w, m, s, dm, dnm, C, lane, [](int, int, float, float) {});
}

/* dinp (as k_ln_bwd_dx<A, V>) and the dw/db partial sums in one kernel,
 * reading dout and inp once instead of twice (clpt_cuda_set_ln_fused). A
 * block of W warps takes a chunk of 4 W rows, each warp every W-th row;
 * each lane adds d n and d for the columns it owns into its warp's slots
 * in shared memory (slot (j V + e) 32 + lane for column lane V + j 32 V +
 * e: no bank conflicts, no atomics, and each lane zeroes and adds only its
 * own slots), and the block then adds the W warps' sums in warp order: one
 * partial per chunk, finished by k_colsum_finish, deterministic. Dynamic
 * shared memory: 2 W Cp floats, Cp = ln_fused_cols(C, V); ln_fused_warps
 * chooses W. */
template <typename A, int V>
__global__ void k_ln_bwd_fused(A *dinp, float *pw, float *pb, const A *dout, const A *inp, const float *w,
                               const float *mean, const float *rstd, int N, int C, int Cp)
{
    CU_DYN_SHARED(float, sh);
    int W = blockDim.x / 32, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    float *sw = sh + (size_t)warp * 2 * Cp, *sb = sw + Cp;
    for (int i = lane; i < Cp; i += 32) sw[i] = sb[i] = 0.0f;
    int r0 = blockIdx.x * 4 * W, r1 = min(N, r0 + 4 * W);
    for (int row = r0 + warp; row < r1; row += W) {
        const A *d = dout + (size_t)row * C, *x = inp + (size_t)row * C;
        A *dx = dinp + (size_t)row * C;
        float m = mean[row], s = rstd[row], dm, dnm;
        ln_bwd_row_means<V>(&dm, &dnm, d, x, w, m, s, C, lane);
        ln_bwd_row_dx<V>(dx, d, x, w, m, s, dm, dnm, C, lane, [&](int j, int e, float dv, float n) {
            sw[(j * V + e) * 32 + lane] += dv * n;
            sb[(j * V + e) * 32 + lane] += dv;
        });
    }
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        int j = c / (32 * V), rem = c % (32 * V), slot = (j * V + rem % V) * 32 + rem / V;
        float a = 0.0f, b = 0.0f;
        for (int k = 0; k < W; k++) {
            a += sh[(size_t)k * 2 * Cp + slot];
            b += sh[(size_t)k * 2 * Cp + Cp + slot];
        }
        pw[(size_t)blockIdx.x * C + c] = a;
        pb[(size_t)blockIdx.x * C + c] = b;
    }
}
/* k_ln_bwd_fused's slots per warp: C rounded up to 32 V */
static inline int ln_fused_cols(int C, int V) { return (C + 32 * V - 1) / (32 * V) * (32 * V); }
/* its warps per block: up to 8, with 2 W Cp floats in the 48 KB a block
 * may have without asking; 0 where one warp's do not fit */
static inline int ln_fused_warps(int Cp)
{
    int W = (48 << 10) / (2 * Cp * 4);
    return W > 8 ? 8 : W;
}

/* partial sums of dw = sum d n and db = sum d over a chunk of rows */
template <typename A>
__global__ void k_ln_bwd_partial(float *pw, float *pb, const A *dout, const A *inp,
                                 const float *mean, const float *rstd, int N, int C, int rpc)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int r0 = blockIdx.y * rpc, r1 = min(N, r0 + rpc);
    float sw = 0.0f, sb = 0.0f;
    for (int r = r0; r < r1; r++) {
        float d = cu_ld(dout[(size_t)r * C + c]);
        sw += d * (cu_ld(inp[(size_t)r * C + c]) - mean[r]) * rstd[r];
        sb += d;
    }
    pw[(size_t)blockIdx.y * C + c] = sw;
    pb[(size_t)blockIdx.y * C + c] = sb;
}

#endif
