/* attention_tc.cu - causal attention on tensor cores (WMMA, bf16 operands,
 * fp32 accumulation) for head size 64, the size of every GPT-2. Same
 * contract and algorithm as attention.cu (flash style, only lse kept,
 * backward recomputes P in a dQ kernel and a dK/dV kernel); chosen with
 * clpt_cuda_set_attn("mma").
 *
 * A block holds 64 rows (4 warps x 16) and walks the other side in tiles
 * of 64. Per warp, the 16x64 products go through WMMA 16x16x16 fragments;
 * the elementwise steps (mask, exp, rescale) read the products back from
 * shared memory, because a WMMA accumulator's element layout is opaque.
 * q is pre-scaled by 1/sqrt(64) (a power of two: exact in bf16), so
 * S = q k^T comes out scaled, dK = dS^T q needs no extra factor, and only
 * dQ = dS k is multiplied by the scale at the end. */
#include <math.h>
#include <mma.h>

#include "cuda_common.cuh"

using namespace nvcuda;

#define TC_HD 64
#define TC_ROWS 64
#define TC_WARPS 4
#define TC_THREADS (32 * TC_WARPS)
#define LDB 72 /* bf16 row stride in shared memory: a multiple of 8, rows 16-byte aligned */
#define LDF 68 /* fp32 row stride: a multiple of 4 */

typedef __nv_bfloat16 bf16;
typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> frag_a;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> frag_b;
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> frag_bt;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> frag_c;

/* sizes of the shared-memory pieces, each a multiple of 128 bytes */
#define TILE_B (TC_ROWS * LDB * 2)      /* 64 rows of bf16 */
#define WARP_F (TC_WARPS * 16 * LDF * 4) /* 16 fp32 rows per warp */
#define WARP_B (TC_WARPS * 16 * LDB * 2) /* 16 bf16 rows per warp */
#define ROWV (TC_ROWS * 4)              /* one float per row */
#define FWD_SMEM (3 * TILE_B + 2 * WARP_F + WARP_B)
#define DKV_SMEM (4 * TILE_B + 2 * ROWV + 2 * WARP_F + 2 * WARP_B)
#define DQ_SMEM (4 * TILE_B + 2 * WARP_F + WARP_B)

/* rows r0..r0+63 of one head's part (src = row 0, `stride` floats apart),
 * times mul, into a bf16 [64][LDB] tile; rows past T are zero */
static __device__ void load_rows(bf16 *dst, const float *src, size_t stride, int r0, int T, float mul)
{
    for (int idx = threadIdx.x; idx < TC_ROWS * TC_HD; idx += TC_THREADS) {
        int r = idx / TC_HD, d = idx % TC_HD, row = r0 + r;
        dst[r * LDB + d] = __float2bfloat16_rn(row < T ? src[(size_t)row * stride + d] * mul : 0.0f);
    }
}

/* C (16x64, fp32, ldc) = A (16x64, bf16 row-major) B^T, B (64x64) bf16 row-major */
static __device__ void warp_abt(float *C, int ldc, const bf16 *A, const bf16 *B)
{
    frag_a a;
    frag_bt bt;
    frag_c acc;
#pragma unroll
    for (int n = 0; n < 4; n++) {
        wmma::fill_fragment(acc, 0.0f);
#pragma unroll
        for (int k = 0; k < 4; k++) {
            wmma::load_matrix_sync(a, A + k * 16, LDB);
            /* B^T's (k, n) block: column j of B^T is row j of B */
            wmma::load_matrix_sync(bt, B + n * 16 * LDB + k * 16, LDB);
            wmma::mma_sync(acc, a, bt, acc);
        }
        wmma::store_matrix_sync(C + n * 16, acc, ldc, wmma::mem_row_major);
    }
}

/* acc[n] += A (16x64, bf16 row-major) B (64x64, bf16 row-major), columns n*16.. */
static __device__ void warp_ab_acc(frag_c acc[4], const bf16 *A, const bf16 *B)
{
    frag_a a;
    frag_b bm;
#pragma unroll
    for (int n = 0; n < 4; n++) {
#pragma unroll
        for (int k = 0; k < 4; k++) {
            wmma::load_matrix_sync(a, A + k * 16, LDB);
            wmma::load_matrix_sync(bm, B + k * 16 * LDB + n * 16, LDB);
            wmma::mma_sync(acc[n], a, bm, acc[n]);
        }
    }
}

static __device__ void store_acc(float *C, frag_c acc[4])
{
#pragma unroll
    for (int n = 0; n < 4; n++) wmma::store_matrix_sync(C + n * 16, acc[n], LDF, wmma::mem_row_major);
}

/* ---- forward ------------------------------------------------------------------------- */

__global__ void __launch_bounds__(TC_THREADS)
    k_attn_fwd_tc(float *out, float *lse, const float *qkv, int T, int C, int NH, float scale)
{
    extern __shared__ __align__(128) unsigned char smem[];
    bf16 *Qs = (bf16 *)smem, *Ks = (bf16 *)(smem + TILE_B), *Vs = (bf16 *)(smem + 2 * TILE_B);
    float *Sall = (float *)(smem + 3 * TILE_B), *Oall = (float *)(smem + 3 * TILE_B + WARP_F);
    bf16 *Pall = (bf16 *)(smem + 3 * TILE_B + 2 * WARP_F);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, q0 = blockIdx.x * TC_ROWS;
    size_t C3 = 3 * (size_t)C;
    const float *base = qkv + (size_t)b * T * C3 + (size_t)h * TC_HD;
    float *S = Sall + warp * 16 * LDF, *O = Oall + warp * 16 * LDF;
    bf16 *P = Pall + warp * 16 * LDB;
    load_rows(Qs, base, C3, q0, T, scale);
    for (int idx = lane; idx < 16 * LDF; idx += 32) O[idx] = 0.0f;
    /* elementwise work: lane owns half a row (32 columns) of the warp's 16 */
    int r = lane >> 1, c0 = (lane & 1) * 32, i = q0 + warp * 16 + r;
    float m = -INFINITY, l = 0.0f;
    int kend = min(T, q0 + TC_ROWS);
    for (int k0 = 0; k0 < kend; k0 += TC_ROWS) {
        __syncthreads(); /* everyone is done with the previous K, V */
        load_rows(Ks, base + C, C3, k0, T, 1.0f);
        load_rows(Vs, base + 2 * (size_t)C, C3, k0, T, 1.0f);
        __syncthreads();
        warp_abt(S, LDF, Qs + warp * 16 * LDB, Ks); /* S = q k^T (scaled) */
        __syncwarp();
        float *srow = S + r * LDF + c0, mx = -INFINITY;
        for (int c = 0; c < 32; c++) {
            float s = k0 + c0 + c <= i ? srow[c] : -INFINITY; /* causal; keys >= T too */
            srow[c] = s;
            mx = fmaxf(mx, s);
        }
        mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
        float mn = fmaxf(m, mx), corr = mn == -INFINITY ? 1.0f : expf(m - mn), sum = 0.0f;
        bf16 *prow = P + r * LDB + c0;
        for (int c = 0; c < 32; c++) {
            bf16 p = __float2bfloat16_rn(mn == -INFINITY ? 0.0f : expf(srow[c] - mn));
            prow[c] = p;
            sum += __bfloat162float(p); /* the normaliser of exactly what P v sums */
        }
        sum += __shfl_xor_sync(0xffffffffu, sum, 1);
        l = l * corr + sum;
        m = mn;
        __syncwarp();
        frag_c acc[4];
#pragma unroll
        for (int n = 0; n < 4; n++) wmma::fill_fragment(acc[n], 0.0f);
        warp_ab_acc(acc, P, Vs); /* P v for this tile */
        store_acc(S, acc);
        __syncwarp();
        float *orow = O + r * LDF + c0;
        for (int c = 0; c < 32; c++) orow[c] = orow[c] * corr + srow[c];
    }
    if (i >= T) return;
    float inv = 1.0f / l, *o = out + ((size_t)b * T + i) * C + (size_t)h * TC_HD + c0;
    for (int c = 0; c < 32; c++) o[c] = O[r * LDF + c0 + c] * inv;
    if (c0 == 0) lse[(size_t)bh * T + i] = m + logf(l);
}

/* ---- backward --------------------------------------------------------------------------- */

/* dK, dV for 64 keys j, over the queries i >= j */
__global__ void __launch_bounds__(TC_THREADS)
    k_attn_dkv_tc(float *dqkv, const float *dout, const float *qkv, const float *lse,
                  const float *D, int T, int C, int NH, float scale)
{
    extern __shared__ __align__(128) unsigned char smem[];
    bf16 *Ks = (bf16 *)smem, *Vs = (bf16 *)(smem + TILE_B), *Qs = (bf16 *)(smem + 2 * TILE_B),
         *Gs = (bf16 *)(smem + 3 * TILE_B);
    float *Ls = (float *)(smem + 4 * TILE_B), *Ds = Ls + TC_ROWS;
    float *Stall = (float *)(smem + 4 * TILE_B + 2 * ROWV), *dPall = Stall + TC_WARPS * 16 * LDF;
    bf16 *Ptall = (bf16 *)(smem + 4 * TILE_B + 2 * ROWV + 2 * WARP_F), *dStall = Ptall + TC_WARPS * 16 * LDB;
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, j0 = blockIdx.x * TC_ROWS;
    size_t C3 = 3 * (size_t)C;
    const float *base = qkv + (size_t)b * T * C3 + (size_t)h * TC_HD;
    const float *go = dout + (size_t)b * T * C + (size_t)h * TC_HD;
    float *St = Stall + warp * 16 * LDF, *dPt = dPall + warp * 16 * LDF;
    bf16 *Pt = Ptall + warp * 16 * LDB, *dSt = dStall + warp * 16 * LDB;
    load_rows(Ks, base + C, C3, j0, T, 1.0f);
    load_rows(Vs, base + 2 * (size_t)C, C3, j0, T, 1.0f);
    frag_c dK[4], dV[4];
#pragma unroll
    for (int n = 0; n < 4; n++) {
        wmma::fill_fragment(dK[n], 0.0f);
        wmma::fill_fragment(dV[n], 0.0f);
    }
    int r = lane >> 1, c0 = (lane & 1) * 32, j = j0 + warp * 16 + r;
    for (int i0 = j0; i0 < T; i0 += TC_ROWS) { /* earlier queries see none of these keys */
        __syncthreads();
        load_rows(Qs, base, C3, i0, T, scale);
        load_rows(Gs, go, C, i0, T, 1.0f);
        for (int t = threadIdx.x; t < TC_ROWS; t += TC_THREADS) {
            Ls[t] = i0 + t < T ? lse[(size_t)bh * T + i0 + t] : 0.0f;
            Ds[t] = i0 + t < T ? D[(size_t)bh * T + i0 + t] : 0.0f;
        }
        __syncthreads();
        warp_abt(St, LDF, Ks + warp * 16 * LDB, Qs);  /* S^T = k q^T (scaled) */
        warp_abt(dPt, LDF, Vs + warp * 16 * LDB, Gs); /* dP^T = v dO^T */
        __syncwarp();
        for (int c = 0; c < 32; c++) {
            int qi = i0 + c0 + c;
            float p = qi >= j && qi < T ? expf(St[r * LDF + c0 + c] - Ls[c0 + c]) : 0.0f;
            Pt[r * LDB + c0 + c] = __float2bfloat16_rn(p);
            dSt[r * LDB + c0 + c] = __float2bfloat16_rn(p * (dPt[r * LDF + c0 + c] - Ds[c0 + c]));
        }
        __syncwarp();
        warp_ab_acc(dV, Pt, Gs);  /* dV += P^T dO */
        warp_ab_acc(dK, dSt, Qs); /* dK += dS^T (scale q) */
    }
    float *kv = dqkv + (size_t)b * T * C3 + (size_t)h * TC_HD; /* row 0 of dq, this head */
    store_acc(St, dK);
    __syncwarp();
    if (j < T)
        for (int c = 0; c < 32; c++) kv[(size_t)j * C3 + C + c0 + c] = St[r * LDF + c0 + c];
    __syncwarp();
    store_acc(St, dV);
    __syncwarp();
    if (j < T)
        for (int c = 0; c < 32; c++) kv[(size_t)j * C3 + 2 * (size_t)C + c0 + c] = St[r * LDF + c0 + c];
}

/* dQ for 64 queries i, over the keys j <= i */
__global__ void __launch_bounds__(TC_THREADS)
    k_attn_dq_tc(float *dqkv, const float *dout, const float *qkv, const float *lse,
                 const float *D, int T, int C, int NH, float scale)
{
    extern __shared__ __align__(128) unsigned char smem[];
    bf16 *Qs = (bf16 *)smem, *Gs = (bf16 *)(smem + TILE_B), *Ks = (bf16 *)(smem + 2 * TILE_B),
         *Vs = (bf16 *)(smem + 3 * TILE_B);
    float *Sall = (float *)(smem + 4 * TILE_B), *dPall = Sall + TC_WARPS * 16 * LDF;
    bf16 *dSall = (bf16 *)(smem + 4 * TILE_B + 2 * WARP_F);
    int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int bh = blockIdx.y, b = bh / NH, h = bh % NH, q0 = blockIdx.x * TC_ROWS;
    size_t C3 = 3 * (size_t)C;
    const float *base = qkv + (size_t)b * T * C3 + (size_t)h * TC_HD;
    const float *go = dout + (size_t)b * T * C + (size_t)h * TC_HD;
    float *S = Sall + warp * 16 * LDF, *dP = dPall + warp * 16 * LDF;
    bf16 *dS = dSall + warp * 16 * LDB;
    load_rows(Qs, base, C3, q0, T, scale);
    load_rows(Gs, go, C, q0, T, 1.0f);
    int r = lane >> 1, c0 = (lane & 1) * 32, i = q0 + warp * 16 + r;
    float Li = i < T ? lse[(size_t)bh * T + i] : 0.0f, Di = i < T ? D[(size_t)bh * T + i] : 0.0f;
    frag_c dQ[4];
#pragma unroll
    for (int n = 0; n < 4; n++) wmma::fill_fragment(dQ[n], 0.0f);
    int kend = min(T, q0 + TC_ROWS);
    for (int k0 = 0; k0 < kend; k0 += TC_ROWS) {
        __syncthreads();
        load_rows(Ks, base + C, C3, k0, T, 1.0f);
        load_rows(Vs, base + 2 * (size_t)C, C3, k0, T, 1.0f);
        __syncthreads();
        warp_abt(S, LDF, Qs + warp * 16 * LDB, Ks);  /* S = (scale q) k^T */
        warp_abt(dP, LDF, Gs + warp * 16 * LDB, Vs); /* dP = dO v^T */
        __syncwarp();
        for (int c = 0; c < 32; c++) {
            int key = k0 + c0 + c;
            float p = key <= i && i < T ? expf(S[r * LDF + c0 + c] - Li) : 0.0f;
            dS[r * LDB + c0 + c] = __float2bfloat16_rn(p * (dP[r * LDF + c0 + c] - Di));
        }
        __syncwarp();
        warp_ab_acc(dQ, dS, Ks); /* dQ += dS k */
    }
    store_acc(S, dQ);
    __syncwarp();
    if (i >= T) return;
    float *o = dqkv + ((size_t)b * T + i) * C3 + (size_t)h * TC_HD + c0;
    for (int c = 0; c < 32; c++) o[c] = S[r * LDF + c0 + c] * scale;
}

/* ---- launch ------------------------------------------------------------------------- */

/* kernels above 48 KB of shared memory must opt in, once */
static int opt_in(void)
{
    static int done;
    if (done) return 0;
    if (CU_CHECK(cudaFuncSetAttribute(k_attn_fwd_tc, cudaFuncAttributeMaxDynamicSharedMemorySize, FWD_SMEM)) ||
        CU_CHECK(cudaFuncSetAttribute(k_attn_dkv_tc, cudaFuncAttributeMaxDynamicSharedMemorySize, DKV_SMEM)) ||
        CU_CHECK(cudaFuncSetAttribute(k_attn_dq_tc, cudaFuncAttributeMaxDynamicSharedMemorySize, DQ_SMEM)))
        return CLPT_EIO;
    done = 1;
    return 0;
}

int cu_attention_forward_tc(float *out, float *lse, const float *qkv, int B, int T, int C, int NH)
{
    if (opt_in()) return CLPT_EIO;
    dim3 grid((T + TC_ROWS - 1) / TC_ROWS, B * NH);
    k_attn_fwd_tc<<<grid, TC_THREADS, FWD_SMEM, g_cu.stream>>>(out, lse, qkv, T, C, NH, 0.125f);
    return CU_LAUNCHED("k_attn_fwd_tc");
}

int cu_attention_backward_tc(float *dqkv, const float *dout, const float *qkv, const float *lse,
                             const float *D, int B, int T, int C, int NH)
{
    if (opt_in()) return CLPT_EIO;
    dim3 grid((T + TC_ROWS - 1) / TC_ROWS, B * NH);
    k_attn_dq_tc<<<grid, TC_THREADS, DQ_SMEM, g_cu.stream>>>(dqkv, dout, qkv, lse, D, T, C, NH, 0.125f);
    if (CU_LAUNCHED("k_attn_dq_tc")) return CLPT_EIO;
    k_attn_dkv_tc<<<grid, TC_THREADS, DKV_SMEM, g_cu.stream>>>(dqkv, dout, qkv, lse, D, T, C, NH, 0.125f);
    return CU_LAUNCHED("k_attn_dkv_tc");
}
