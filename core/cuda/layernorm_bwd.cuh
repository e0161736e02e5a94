/* layernorm_bwd.cuh - LayerNorm backward's kernels, shared by kernels.cu
 * (the cuda backend's layernorm_backward) and bench/ln_micro.cu (the
 * kernels timed alone). One warp per row for dinp; one thread per column
 * over a chunk of rows for the dw/db partial sums. */
#ifndef CLPT_CUDA_LAYERNORM_BWD_CUH
#define CLPT_CUDA_LAYERNORM_BWD_CUH

#include "cuda_common.cuh"

/* dinp += (w d - mean(w d) - n mean(w d n)) rstd, n = normalised input */
template <typename A>
__global__ void k_ln_bwd_dx(A *dinp, const A *dout, const A *inp, const float *w, const float *mean,
                            const float *rstd, int N, int C)
{
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const A *d = dout + (size_t)row * C, *x = inp + (size_t)row * C;
    A *dx = dinp + (size_t)row * C;
    float m = mean[row], s = rstd[row];
    float dm = 0.0f, dnm = 0.0f;
    for (int c = lane; c < C; c += 32) {
        float wd = w[c] * cu_ld(d[c]);
        dm += wd;
        dnm += wd * (cu_ld(x[c]) - m) * s;
    }
    dm = cu_warp_sum(dm) / C;
    dnm = cu_warp_sum(dnm) / C;
    for (int c = lane; c < C; c += 32) {
        float n = (cu_ld(x[c]) - m) * s;
        dx[c] = cu_st<A>(cu_ld(dx[c]) + (w[c] * cu_ld(d[c]) - dm - n * dnm) * s);
    }
}

/* The same with 16-byte accesses, V = cu_vec<A>::N columns each (C a
 * multiple of V, rows 16-byte aligned; the launcher checks). With bf16 the
 * element-wise kernel above reads and writes 2 bytes per lane and ran at a
 * tenth of this one's speed on an H100 (0.43 against 0.039 ms at
 * N = 16384, C = 768); with fp32 this one is 15% faster. */
template <typename A>
__global__ void k_ln_bwd_dx_vec(A *dinp, const A *dout, const A *inp, const float *w,
                                const float *mean, const float *rstd, int N, int C)
{
    const int V = cu_vec<A>::N;
    int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
    if (row >= N) return;
    const A *d = dout + (size_t)row * C, *x = inp + (size_t)row * C;
    A *dx = dinp + (size_t)row * C;
    float m = mean[row], s = rstd[row];
    float dm = 0.0f, dnm = 0.0f;
    for (int c = lane * V; c < C; c += 32 * V) {
        float dv[V], xv[V], wv[V];
        cu_load16(dv, d + c);
        cu_load16(xv, x + c);
#pragma unroll
        for (int k = 0; k < V; k += 4) cu_load16(wv + k, w + c + k);
#pragma unroll
        for (int e = 0; e < V; e++) {
            float wd = wv[e] * dv[e];
            dm += wd;
            dnm += wd * (xv[e] - m) * s;
        }
    }
    dm = cu_warp_sum(dm) / C;
    dnm = cu_warp_sum(dnm) / C;
    for (int c = lane * V; c < C; c += 32 * V) {
        float dv[V], xv[V], wv[V], o[V];
        cu_load16(dv, d + c);
        cu_load16(xv, x + c);
        cu_load16(o, dx + c);
#pragma unroll
        for (int k = 0; k < V; k += 4) cu_load16(wv + k, w + c + k);
#pragma unroll
        for (int e = 0; e < V; e++) {
            float n = (xv[e] - m) * s;
            o[e] += (wv[e] * dv[e] - dm - n * dnm) * s;
        }
        cu_store16(dx + c, o);
    }
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
