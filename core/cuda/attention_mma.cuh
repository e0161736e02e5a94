/* attention_mma.cuh - the kernels of attention_mma.cu (which launches
 * them): causal attention for head size 64 on tensor cores through
 * mma.sync m16n8k16. Also run on the CPU by tests/test_kernels_emu.cpp,
 * which supplies mma.sync and ldmatrix in C++ (tests/cuda_emu.h). */
#ifndef CLPT_CUDA_ATTENTION_MMA_CUH
#define CLPT_CUDA_ATTENTION_MMA_CUH

#include <math.h>
#include <stdint.h>

#include "cu_device.cuh"

#define MMA_HD 64
#define MMA_ROWS 64
#define MMA_WARPS 4
#define MMA_THREADS (32 * MMA_WARPS)
#define MMA_LDS 72 /* bf16 row stride of a shared tile */


#ifdef CLPT_CUDA_EMU /* tests/cuda_emu.h: the same instructions, in C++ on the CPU */
static inline void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
    emu::mma_m16n8k16_bf16(c, a, b0, b1);
}
static inline void ldsm4(uint32_t r[4], const bf16 *p) { emu::ldmatrix_x4(r, p, false); }
static inline void ldsm4_t(uint32_t r[4], const bf16 *p) { emu::ldmatrix_x4(r, p, true); }
#else
static __device__ __forceinline__ void mma_bf16(float c[4], const uint32_t a[4], uint32_t b0, uint32_t b1)
{
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

/* four 8x8 bf16 matrices; lanes 8m..8m+7 give the row addresses of matrix m */
static __device__ __forceinline__ void ldsm4(uint32_t r[4], const bf16 *p)
{
    uint32_t s = (uint32_t)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

static __device__ __forceinline__ void ldsm4_t(uint32_t r[4], const bf16 *p)
{
    uint32_t s = (uint32_t)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}
#endif

/* lo in the low half: the lower column index, as the fragments want */
static __device__ __forceinline__ uint32_t pack2(float lo, float hi)
{
    __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *(uint32_t *)&v;
}

static __device__ __forceinline__ float bf16_round(float x) { return __bfloat162float(__float2bfloat16_rn(x)); }

/* rows r0..r0+63 of one head (src = its row 0, `stride` floats apart), times
 * mul, into a bf16 tile; rows at or past T are zero. 16-byte loads: the
 * launcher checks alignment. */
static __device__ __forceinline__ void load_tile(bf16 *dst, const float *src, size_t stride, int r0, int T,
                                                 float mul)
{
    for (int idx = threadIdx.x; idx < MMA_ROWS * MMA_HD / 4; idx += MMA_THREADS) {
        int r = idx >> 4, c = (idx & 15) * 4, row = r0 + r;
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (row < T) v = *(const float4 *)(src + (size_t)row * stride + c);
        uint2 u;
        u.x = pack2(v.x * mul, v.y * mul);
        u.y = pack2(v.z * mul, v.w * mul);
        *(uint2 *)(dst + r * MMA_LDS + c) = u;
    }
}

/* the same from bf16 activations: 16 bytes are 8 elements; mul is 1 or
 * 1/8, a power of two, so the result equals the fp32 path's on bf16 inputs */
static __device__ __forceinline__ void load_tile(bf16 *dst, const bf16 *src, size_t stride, int r0, int T,
                                                 float mul)
{
    for (int idx = threadIdx.x; idx < MMA_ROWS * MMA_HD / 8; idx += MMA_THREADS) {
        int r = idx >> 3, c = (idx & 7) * 8, row = r0 + r;
        uint4 u = make_uint4(0u, 0u, 0u, 0u);
        if (row < T) u = *(const uint4 *)(src + (size_t)row * stride + c);
        if (mul != 1.0f) {
            uint32_t *w = (uint32_t *)&u;
#pragma unroll
            for (int i = 0; i < 4; i++) {
                float2 f = __bfloat1622float2(*(__nv_bfloat162 *)&w[i]);
                w[i] = pack2(f.x * mul, f.y * mul);
            }
        }
        *(uint4 *)(dst + r * MMA_LDS + c) = u;
    }
}

/* two adjacent outputs (p 8-byte aligned for fp32, 4-byte for bf16) */
static __device__ __forceinline__ void store2(float *p, float a, float b) { *(float2 *)p = make_float2(a, b); }
static __device__ __forceinline__ void store2(bf16 *p, float a, float b)
{
    *(__nv_bfloat162 *)p = __floats2bfloat162_rn(a, b);
}

/* A fragments (4 k-steps over the 64 columns) of the warp's 16 rows of a tile */
static __device__ __forceinline__ void load_a(uint32_t a[4][4], const bf16 *tile, int row0)
{
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int kk = 0; kk < 4; kk++) ldsm4(a[kk], tile + (row0 + (lane & 15)) * MMA_LDS + kk * 16 + (lane >> 4) * 8);
}

/* acc (16x64) = A (16x64, fragments) X^T, X a [64][MMA_LDS] tile whose rows are
 * the output columns (B(k, n) = X[n][k]: ldmatrix without transpose) */
static __device__ __forceinline__ void mul_abt(float acc[8][4], const uint32_t a[4][4], const bf16 *X)
{
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int n = 0; n < 8; n++) {
        acc[n][0] = acc[n][1] = acc[n][2] = acc[n][3] = 0.0f;
        uint32_t b[4];
        ldsm4(b, X + (n * 8 + (lane & 7)) * MMA_LDS + (lane >> 3) * 8);
        mma_bf16(acc[n], a[0], b[0], b[1]);
        mma_bf16(acc[n], a[1], b[2], b[3]);
        ldsm4(b, X + (n * 8 + (lane & 7)) * MMA_LDS + 32 + (lane >> 3) * 8);
        mma_bf16(acc[n], a[2], b[0], b[1]);
        mma_bf16(acc[n], a[3], b[2], b[3]);
    }
}

/* acc (16x64) += A (16x64 over the tile's rows, fragments) X, X a [64][MMA_LDS]
 * tile (B(k, n) = X[k][n]: ldmatrix with transpose) */
static __device__ __forceinline__ void mul_ab_acc(float acc[8][4], const uint32_t a[4][4], const bf16 *X)
{
    int lane = threadIdx.x & 31;
#pragma unroll
    for (int j = 0; j < 4; j++) {
#pragma unroll
        for (int n = 0; n < 8; n += 2) {
            uint32_t b[4];
            ldsm4_t(b, X + (j * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * MMA_LDS + n * 8 + (lane >> 4) * 8);
            mma_bf16(acc[n], a[j], b[0], b[1]);
            mma_bf16(acc[n + 1], a[j], b[2], b[3]);
        }
    }
}

/* accumulator element e of n-tile n as an A operand: n-tiles 2j, 2j+1 are k-step j */
static __device__ __forceinline__ void to_a(uint32_t a[4][4], const float x[8][4])
{
#pragma unroll
    for (int n = 0; n < 8; n++) {
        a[n >> 1][(n & 1) * 2] = pack2(x[n][0], x[n][1]);
        a[n >> 1][(n & 1) * 2 + 1] = pack2(x[n][2], x[n][3]);
    }
}

/* ---- forward ------------------------------------------------------------------------- */

template <typename A>
__global__ void __launch_bounds__(MMA_THREADS)
    k_attn_fwd_mma(A *out, float *lse, const A *qkv, int T, int C, int NH)
{
    __shared__ __align__(16) bf16 Qs[MMA_ROWS * MMA_LDS], Ks[MMA_ROWS * MMA_LDS], Vs[MMA_ROWS * MMA_LDS];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int q0 = (gridDim.x - 1 - blockIdx.x) * MMA_ROWS; /* the longest rows first */
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    size_t C3 = 3 * (size_t)C;
    const A *base = qkv + (size_t)b * T * C3 + (size_t)h * MMA_HD;
    load_tile(Qs, base, C3, q0, T, 0.125f);
    __syncthreads();
    uint32_t qa[4][4];
    load_a(qa, Qs, warp * 16);
    float o[8][4];
#pragma unroll
    for (int n = 0; n < 8; n++) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    int row0 = q0 + warp * 16 + g, row1 = row0 + 8;
    float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.0f, l1 = 0.0f;
    int kend = min(T, q0 + MMA_ROWS);
    for (int k0 = 0; k0 < kend; k0 += MMA_ROWS) {
        __syncthreads(); /* everyone is done with the previous K, V */
        load_tile(Ks, base + C, C3, k0, T, 1.0f);
        load_tile(Vs, base + 2 * (size_t)C, C3, k0, T, 1.0f);
        __syncthreads();
        float s[8][4];
        mul_abt(s, qa, Ks);
        if (k0 + MMA_ROWS > q0 || k0 + MMA_ROWS > T) { /* the diagonal tile, or keys past T */
#pragma unroll
            for (int n = 0; n < 8; n++)
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    int key = k0 + n * 8 + 2 * t + (e & 1), row = e < 2 ? row0 : row1;
                    if (key > row || key >= T) s[n][e] = -INFINITY;
                }
        }
        float mx0 = -INFINITY, mx1 = -INFINITY;
#pragma unroll
        for (int n = 0; n < 8; n++) {
            mx0 = fmaxf(mx0, fmaxf(s[n][0], s[n][1]));
            mx1 = fmaxf(mx1, fmaxf(s[n][2], s[n][3]));
        }
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 1));
        mx0 = fmaxf(mx0, __shfl_xor_sync(0xffffffffu, mx0, 2));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 1));
        mx1 = fmaxf(mx1, __shfl_xor_sync(0xffffffffu, mx1, 2));
        float mn0 = fmaxf(m0, mx0), mn1 = fmaxf(m1, mx1);
        float c0 = mn0 == -INFINITY ? 1.0f : __expf(m0 - mn0), c1 = mn1 == -INFINITY ? 1.0f : __expf(m1 - mn1);
        float ls0 = 0.0f, ls1 = 0.0f;
#pragma unroll
        for (int n = 0; n < 8; n++) {
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float mn = e < 2 ? mn0 : mn1;
                float p = mn == -INFINITY ? 0.0f : bf16_round(__expf(s[n][e] - mn));
                s[n][e] = p;
                if (e < 2) ls0 += p;
                else ls1 += p;
            }
        }
        ls0 += __shfl_xor_sync(0xffffffffu, ls0, 1);
        ls0 += __shfl_xor_sync(0xffffffffu, ls0, 2);
        ls1 += __shfl_xor_sync(0xffffffffu, ls1, 1);
        ls1 += __shfl_xor_sync(0xffffffffu, ls1, 2);
        l0 = l0 * c0 + ls0;
        l1 = l1 * c1 + ls1;
        m0 = mn0;
        m1 = mn1;
#pragma unroll
        for (int n = 0; n < 8; n++) {
            o[n][0] *= c0;
            o[n][1] *= c0;
            o[n][2] *= c1;
            o[n][3] *= c1;
        }
        uint32_t pa[4][4];
        to_a(pa, s);
        mul_ab_acc(o, pa, Vs); /* o += P v */
    }
    float i0 = 1.0f / l0, i1 = 1.0f / l1;
    A *o0 = out + ((size_t)b * T + row0) * C + (size_t)h * MMA_HD + 2 * t;
    A *o1 = o0 + 8 * (size_t)C;
#pragma unroll
    for (int n = 0; n < 8; n++) {
        if (row0 < T) store2(o0 + n * 8, o[n][0] * i0, o[n][1] * i0);
        if (row1 < T) store2(o1 + n * 8, o[n][2] * i1, o[n][3] * i1);
    }
    if (t == 0) {
        if (row0 < T) lse[(size_t)bh * T + row0] = m0 + logf(l0);
        if (row1 < T) lse[(size_t)bh * T + row1] = m1 + logf(l1);
    }
}

/* ---- backward --------------------------------------------------------------------------- */

/* dQ for 64 queries, over the keys j <= i */
template <typename A>
__global__ void __launch_bounds__(MMA_THREADS)
    k_attn_dq_mma(A *dqkv, const A *dout, const A *qkv, const float *lse, const float *D, int T,
                  int C, int NH)
{
    __shared__ __align__(16) bf16 Qs[MMA_ROWS * MMA_LDS], Gs[MMA_ROWS * MMA_LDS], Ks[MMA_ROWS * MMA_LDS], Vs[MMA_ROWS * MMA_LDS];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int q0 = (gridDim.x - 1 - blockIdx.x) * MMA_ROWS;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    size_t C3 = 3 * (size_t)C;
    const A *base = qkv + (size_t)b * T * C3 + (size_t)h * MMA_HD;
    const A *go = dout + (size_t)b * T * C + (size_t)h * MMA_HD;
    load_tile(Qs, base, C3, q0, T, 0.125f);
    load_tile(Gs, go, C, q0, T, 1.0f);
    __syncthreads();
    uint32_t qa[4][4], ga[4][4];
    load_a(qa, Qs, warp * 16);
    load_a(ga, Gs, warp * 16);
    int row0 = q0 + warp * 16 + g, row1 = row0 + 8;
    float L0 = row0 < T ? lse[(size_t)bh * T + row0] : 0.0f, L1 = row1 < T ? lse[(size_t)bh * T + row1] : 0.0f;
    float D0 = row0 < T ? D[(size_t)bh * T + row0] : 0.0f, D1 = row1 < T ? D[(size_t)bh * T + row1] : 0.0f;
    float dq[8][4];
#pragma unroll
    for (int n = 0; n < 8; n++) dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.0f;
    int kend = min(T, q0 + MMA_ROWS);
    for (int k0 = 0; k0 < kend; k0 += MMA_ROWS) {
        __syncthreads();
        load_tile(Ks, base + C, C3, k0, T, 1.0f);
        load_tile(Vs, base + 2 * (size_t)C, C3, k0, T, 1.0f);
        __syncthreads();
        float s[8][4], dp[8][4];
        mul_abt(s, qa, Ks); /* S = (q/8) k^T */
        mul_abt(dp, ga, Vs); /* dP = dO v^T */
#pragma unroll
        for (int n = 0; n < 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int key = k0 + n * 8 + 2 * t + (e & 1), row = e < 2 ? row0 : row1;
                float p = key <= row && key < T && row < T ? __expf(s[n][e] - (e < 2 ? L0 : L1)) : 0.0f;
                s[n][e] = p * (dp[n][e] - (e < 2 ? D0 : D1));
            }
        uint32_t da[4][4];
        to_a(da, s);
        mul_ab_acc(dq, da, Ks); /* dQ += dS k */
    }
    A *d0 = dqkv + ((size_t)b * T + row0) * C3 + (size_t)h * MMA_HD + 2 * t;
    A *d1 = d0 + 8 * C3;
#pragma unroll
    for (int n = 0; n < 8; n++) {
        if (row0 < T) store2(d0 + n * 8, dq[n][0] * 0.125f, dq[n][1] * 0.125f);
        if (row1 < T) store2(d1 + n * 8, dq[n][2] * 0.125f, dq[n][3] * 0.125f);
    }
}

/* dK, dV for 64 keys, over the queries i >= j */
template <typename A>
__global__ void __launch_bounds__(MMA_THREADS)
    k_attn_dkv_mma(A *dqkv, const A *dout, const A *qkv, const float *lse, const float *D, int T,
                   int C, int NH)
{
    __shared__ __align__(16) bf16 Ks[MMA_ROWS * MMA_LDS], Vs[MMA_ROWS * MMA_LDS], Qs[MMA_ROWS * MMA_LDS], Gs[MMA_ROWS * MMA_LDS];
    __shared__ float Ls[MMA_ROWS], Ds[MMA_ROWS];
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
    int j0 = blockIdx.x * MMA_ROWS; /* the first keys have the most queries: they start first */
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    size_t C3 = 3 * (size_t)C;
    const A *base = qkv + (size_t)b * T * C3 + (size_t)h * MMA_HD;
    const A *go = dout + (size_t)b * T * C + (size_t)h * MMA_HD;
    load_tile(Ks, base + C, C3, j0, T, 1.0f);
    load_tile(Vs, base + 2 * (size_t)C, C3, j0, T, 1.0f);
    int key0 = j0 + warp * 16 + g, key1 = key0 + 8;
    float dk[8][4], dv[8][4];
#pragma unroll
    for (int n = 0; n < 8; n++) dk[n][0] = dk[n][1] = dk[n][2] = dk[n][3] = dv[n][0] = dv[n][1] = dv[n][2] =
        dv[n][3] = 0.0f;
    for (int i0 = j0; i0 < T; i0 += MMA_ROWS) { /* earlier queries see none of these keys */
        __syncthreads();
        load_tile(Qs, base, C3, i0, T, 0.125f);
        load_tile(Gs, go, C, i0, T, 1.0f);
        for (int r = threadIdx.x; r < MMA_ROWS; r += MMA_THREADS) {
            Ls[r] = i0 + r < T ? lse[(size_t)bh * T + i0 + r] : 0.0f;
            Ds[r] = i0 + r < T ? D[(size_t)bh * T + i0 + r] : 0.0f;
        }
        __syncthreads();
        float st[8][4], dpt[8][4];
        {
            uint32_t a[4][4];
            load_a(a, Ks, warp * 16);
            mul_abt(st, a, Qs); /* S^T = k (q/8)^T */
            load_a(a, Vs, warp * 16);
            mul_abt(dpt, a, Gs); /* dP^T = v dO^T */
        }
        uint32_t pa[4][4];
#pragma unroll
        for (int n = 0; n < 8; n++)
#pragma unroll
            for (int e = 0; e < 4; e++) {
                int c = n * 8 + 2 * t + (e & 1), q = i0 + c, key = e < 2 ? key0 : key1;
                float p = q >= key && q < T ? __expf(st[n][e] - Ls[c]) : 0.0f;
                st[n][e] = p;
                dpt[n][e] = p * (dpt[n][e] - Ds[c]);
            }
        to_a(pa, st);
        mul_ab_acc(dv, pa, Gs); /* dV += P^T dO */
        to_a(pa, dpt);
        mul_ab_acc(dk, pa, Qs); /* dK += dS^T (q/8) */
    }
    A *k0p = dqkv + ((size_t)b * T + key0) * C3 + C + (size_t)h * MMA_HD + 2 * t;
    A *k1p = k0p + 8 * C3;
#pragma unroll
    for (int n = 0; n < 8; n++) {
        if (key0 < T) {
            store2(k0p + n * 8, dk[n][0], dk[n][1]);
            store2(k0p + C + n * 8, dv[n][0], dv[n][1]);
        }
        if (key1 < T) {
            store2(k1p + n * 8, dk[n][2], dk[n][3]);
            store2(k1p + C + n * 8, dv[n][2], dv[n][3]);
        }
    }
}

#endif
