/* kernels.cuh - the kernels of kernels.cu (its launchers stay there):
 * bf16 conversion, the encoder, GELU, AdamW, the vector algebra and the
 * dot product's fixed-order reduction. Each follows the matching function
 * of backend_cpu.c line by line. Also run on the CPU by
 * tests/test_kernels_emu.cpp. */
#ifndef CLPT_CUDA_KERNELS_CUH
#define CLPT_CUDA_KERNELS_CUH

#include <math.h>
#include <stddef.h>

#include "cu_device.cuh"

#define CU_THREADS 256

/* grid-stride loop over [0, n) */
#define CU_FOR(i, n)                                                                    \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n);            \
         i += (size_t)gridDim.x * blockDim.x)

/* ---- bf16 conversion ----------------------------------------------------------- */

static __global__ void k_to_bf16(__nv_bfloat16 *dst, const float *src, size_t n)
{
    CU_FOR(i, n) dst[i] = __float2bfloat16_rn(src[i]);
}

static __global__ void k_from_bf16(float *dst, const bf16 *src, size_t n)
{
    CU_FOR(i, n) dst[i] = __bfloat162float(src[i]);
}

/* ---- encoder ------------------------------------------------------------------------ */

/* out (B,T,C) = wte[tokens] + wpe[t] */
template <typename A>
__global__ void k_encoder_fwd(A *out, const int *tokens, const float *wte, const float *wpe, int T,
                              int C, size_t n)
{
    CU_FOR(i, n) {
        size_t bt = i / C;
        int c = (int)(i % C), t = (int)(bt % T);
        out[i] = cu_st<A>(wte[(size_t)tokens[bt] * C + c] + wpe[(size_t)t * C + c]);
    }
}

/* dwte[tok] += the rows of dout at that token's positions, summed in
 * position order: one block column per distinct token (group g holds the
 * positions ord[start[g]] .. ord[start[g+1] - 1]), so no two threads write
 * the same element and the result has the same bits every run */
template <typename A>
__global__ void k_encoder_bwd_wte(float *dwte, const A *dout, const int *ord, const int *gtok,
                                  const int *gstart, int C)
{
    int g = blockIdx.x, c = blockIdx.y * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int k = gstart[g]; k < gstart[g + 1]; k++) s += cu_ld(dout[(size_t)ord[k] * C + c]);
    dwte[(size_t)gtok[g] * C + c] += s;
}

/* dwpe[t] += sum_b dout[b,t]: one thread per (t,c), batch summed in order */
template <typename A>
__global__ void k_encoder_bwd_wpe(float *dwpe, const A *dout, int B, int T, int C)
{
    size_t n = (size_t)T * C;
    CU_FOR(i, n) {
        float s = 0.0f;
        for (int b = 0; b < B; b++) s += cu_ld(dout[(size_t)b * T * C + i]);
        dwpe[i] += s;
    }
}

/* ---- GELU (tanh approximation) --------------------------------------------------- */

#define GELU_K 0.7978845608028654f /* sqrt(2/pi) */

/* 0.5 x (1 + tanh(u)) = x sigmoid(2u), as the CPU writes it */
static __device__ __forceinline__ float gelu_f(float x)
{
    float u = GELU_K * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
}

static __device__ __forceinline__ float gelu_b(float x, float d)
{
    float u = GELU_K * (x + 0.044715f * x * x * x);
    float s = 1.0f / (1.0f + expf(-2.0f * u));
    float du = GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
    return (s + 2.0f * x * s * (1.0f - s) * du) * d;
}

/* vec: 16-byte accesses, cu_vec<A>::N elements each (the launcher checks
 * alignment) */
template <typename A> __global__ void k_gelu_fwd(A *out, const A *inp, size_t n, int vec)
{
    const int V = cu_vec<A>::N;
    if (vec) {
        CU_FOR(i, n / V) {
            float x[V];
            cu_load16(x, inp + i * V);
#pragma unroll
            for (int e = 0; e < V; e++) x[e] = gelu_f(x[e]);
            cu_store16(out + i * V, x);
        }
    } else {
        CU_FOR(i, n) out[i] = cu_st<A>(gelu_f(cu_ld(inp[i])));
    }
}

/* dinp may alias dout: each element is read before it is written */
template <typename A>
__global__ void k_gelu_bwd(A *dinp, const A *inp, const A *dout, size_t n, int vec)
{
    const int V = cu_vec<A>::N;
    if (vec) {
        CU_FOR(i, n / V) {
            float x[V], d[V];
            cu_load16(x, inp + i * V);
            cu_load16(d, dout + i * V);
#pragma unroll
            for (int e = 0; e < V; e++) x[e] = gelu_b(x[e], d[e]);
            cu_store16(dinp + i * V, x);
        }
    } else {
        CU_FOR(i, n) dinp[i] = cu_st<A>(gelu_b(cu_ld(inp[i]), cu_ld(dout[i])));
    }
}

/* ---- AdamW --------------------------------------------------------------------------- */

static __global__ void k_adamw(float *p, const float *g, float *m, float *v, size_t n, float b1,
                        float b2, float eps, float decay, float step, float bc2s, float gscale, int vec4)
{
#define ADAMW_ONE(pi, gi_, mi_, vi_)                                  \
    do {                                                               \
        float gi = (gi_) * gscale;                                     \
        mi_ = b1 * mi_ + (1.0f - b1) * gi;                             \
        vi_ = b2 * vi_ + (1.0f - b2) * gi * gi;                        \
        pi = pi * decay - step * mi_ / (sqrtf(vi_) / bc2s + eps);      \
    } while (0)
    if (vec4) {
        CU_FOR(i, n / 4) {
            float4 pp = ((float4 *)p)[i], gg = ((const float4 *)g)[i], mm = ((float4 *)m)[i],
                   vv = ((float4 *)v)[i];
            ADAMW_ONE(pp.x, gg.x, mm.x, vv.x);
            ADAMW_ONE(pp.y, gg.y, mm.y, vv.y);
            ADAMW_ONE(pp.z, gg.z, mm.z, vv.z);
            ADAMW_ONE(pp.w, gg.w, mm.w, vv.w);
            ((float4 *)p)[i] = pp;
            ((float4 *)m)[i] = mm;
            ((float4 *)v)[i] = vv;
        }
    } else {
        CU_FOR(i, n) {
            float pi = p[i], mi = m[i], vi = v[i];
            ADAMW_ONE(pi, g[i], mi, vi);
            m[i] = mi;
            v[i] = vi;
            p[i] = pi;
        }
    }
#undef ADAMW_ONE
}

/* ---- vector algebra -------------------------------------------------------------------- */

static __global__ void k_fill(float *x, float a, size_t n) { CU_FOR(i, n) x[i] = a; }
static __global__ void k_axpy(float *y, float a, const float *x, size_t n) { CU_FOR(i, n) y[i] += a * x[i]; }
static __global__ void k_scale(float *x, float a, size_t n) { CU_FOR(i, n) x[i] *= a; }
static __global__ void k_mul_acc(float *y, float a, const float *x1, const float *x2, size_t n)
{
    CU_FOR(i, n) y[i] += a * x1[i] * x2[i];
}
static __global__ void k_sq_acc(float *y, float a, const float *x, size_t n)
{
    CU_FOR(i, n) y[i] += a * x[i] * x[i];
}

/* ---- dot: fp64 accumulation, fixed grid, fixed tree ---- */

/* tree sum of one double per thread over a 256-thread block, into sh[0] */
static __device__ void block_sum_f64(double *sh, double v)
{
    sh[threadIdx.x] = v;
    __syncthreads();
    for (int o = CU_THREADS / 2; o > 0; o >>= 1) {
        if ((int)threadIdx.x < o) sh[threadIdx.x] += sh[threadIdx.x + o];
        __syncthreads();
    }
}

static __global__ void k_dot_partial(double *part, const float *x, const float *y, size_t n)
{
    __shared__ double sh[CU_THREADS];
    double s = 0.0;
    CU_FOR(i, n) s += (double)x[i] * (double)y[i];
    block_sum_f64(sh, s);
    if (threadIdx.x == 0) part[blockIdx.x] = sh[0];
}

static __global__ void k_dot_final(double *out, const double *part, int nb)
{
    __shared__ double sh[CU_THREADS];
    double s = 0.0;
    for (int i = threadIdx.x; i < nb; i += CU_THREADS) s += part[i];
    block_sum_f64(sh, s);
    if (threadIdx.x == 0) out[0] = sh[0];
}

#endif
