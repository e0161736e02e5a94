/* attention.cu - causal multi-head attention, flash style: no (T,T) tensor
 * in device memory, only the row log-sum-exp kept for backward, which
 * recomputes the probabilities. fp32 throughout; attention_tc.cu is the
 * tensor-core version for head size 64, chosen with clpt_cuda_set_attn().
 *
 * Layout (backend.h): qkv (B,T,3C) = [q | k | v], head h at columns
 * h*hd .. h*hd+hd-1 of each part; out (B,T,C); lse (B,NH,T).
 *
 * Threads: each row (a query, or a key in dK/dV) is handled by R
 * consecutive lanes of one warp, each lane owning ATT_DPL = 16 of the head
 * dimensions, padded with zeros up to HP = 16 R >= hd; dot products are
 * summed across the R lanes with shuffles. A block holds ATT_ROWS rows and
 * walks the other side in shared-memory tiles of ATT_TILE rows.
 *
 *   forward   S = q k^T scale, online softmax, out = P v, lse
 *   backward  D_i = dO_i . O_i                               k_attn_D
 *             dq_i = scale sum_j P_ij (dP_ij - D_i) k_j       k_attn_dq
 *             dv_j = sum_i P_ij dO_i,
 *             dk_j = scale sum_i P_ij (dP_ij - D_i) q_i       k_attn_dkv
 *   with P_ij = exp(scale q_i.k_j - lse_i), dP_ij = dO_i.v_j, j <= i.
 * Every output element has one writer: no atomics, deterministic. */
#include <math.h>
#include <stdio.h>

#include "cuda_common.cuh"

#define ATT_ROWS 64
#define ATT_TILE 32
#define ATT_DPL 16

/* sum over the R lanes of a row; all R lanes end with the same value */
template <int R>
static __device__ __forceinline__ float lane_sum(float v)
{
#pragma unroll
    for (int o = R / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

/* Load rows r0 .. r0+ATT_TILE-1 of one head's part (base + part offset)
 * into a zero-padded [ATT_TILE][HP] tile; rows past T and dims past hd are 0. */
template <int HP>
static __device__ __forceinline__ void load_tile(float (*tile)[HP], const float *base, size_t stride,
                                                 int r0, int T, int hd)
{
    for (int idx = threadIdx.x; idx < ATT_TILE * HP; idx += blockDim.x) {
        int j = idx / HP, d = idx % HP, r = r0 + j;
        tile[j][d] = (r < T && d < hd) ? base[(size_t)r * stride + d] : 0.0f;
    }
}

/* ---- forward ---------------------------------------------------------------------- */

template <int R>
__global__ void __launch_bounds__(ATT_ROWS * R)
    k_attn_fwd(float *out, float *lse, const float *qkv, int T, int C, int NH, int hd, float scale)
{
    constexpr int HP = ATT_DPL * R;
    __shared__ __align__(16) float Ks[ATT_TILE][HP];
    __shared__ __align__(16) float Vs[ATT_TILE][HP];
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int lane = threadIdx.x % R, q0 = blockIdx.x * ATT_ROWS, i = q0 + threadIdx.x / R;
    size_t C3 = 3 * (size_t)C;
    const float *base = qkv + (size_t)b * T * C3 + (size_t)h * hd; /* row 0 of q, this head */
    float q[ATT_DPL], acc[ATT_DPL];
#pragma unroll
    for (int e = 0; e < ATT_DPL; e++) {
        int d = lane * ATT_DPL + e;
        q[e] = (i < T && d < hd) ? base[(size_t)i * C3 + d] * scale : 0.0f;
        acc[e] = 0.0f;
    }
    float m = -INFINITY, l = 0.0f;
    int kend = min(T, q0 + ATT_ROWS); /* keys any row of this block attends to */
    for (int k0 = 0; k0 < kend; k0 += ATT_TILE) {
        __syncthreads(); /* the previous tile is no longer read */
        load_tile<HP>(Ks, base + C, C3, k0, T, hd);
        load_tile<HP>(Vs, base + 2 * (size_t)C, C3, k0, T, hd);
        __syncthreads();
        float s[ATT_TILE], mx = -INFINITY;
#pragma unroll
        for (int j = 0; j < ATT_TILE; j++) {
            float p = 0.0f;
#pragma unroll
            for (int e = 0; e < ATT_DPL; e++) p += q[e] * Ks[j][lane * ATT_DPL + e];
            p = lane_sum<R>(p);
            s[j] = k0 + j <= i ? p : -INFINITY; /* causal mask; also masks keys >= T */
            mx = fmaxf(mx, s[j]);
        }
        if (mx == -INFINITY) continue; /* the whole tile is in this row's future */
        float mn = fmaxf(m, mx), corr = expf(m - mn); /* m = -inf at first: corr = 0 */
        l *= corr;
#pragma unroll
        for (int e = 0; e < ATT_DPL; e++) acc[e] *= corr;
#pragma unroll
        for (int j = 0; j < ATT_TILE; j++) {
            float p = expf(s[j] - mn);
            l += p;
#pragma unroll
            for (int e = 0; e < ATT_DPL; e++) acc[e] += p * Vs[j][lane * ATT_DPL + e];
        }
        m = mn;
    }
    if (i >= T) return;
    float inv = 1.0f / l, *o = out + ((size_t)b * T + i) * C + (size_t)h * hd;
#pragma unroll
    for (int e = 0; e < ATT_DPL; e++) {
        int d = lane * ATT_DPL + e;
        if (d < hd) o[d] = acc[e] * inv;
    }
    if (lane == 0) lse[(size_t)bh * T + i] = m + logf(l);
}

/* ---- backward --------------------------------------------------------------------- */

/* D (B,NH,T) = rowsum(dO * O) per head */
template <typename A>
__global__ void k_attn_D(float *D, const A *dout, const A *out, int B, int T, int C, int NH, int hd)
{
    size_t n = (size_t)B * NH * T;
    for (size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x; idx < n;
         idx += (size_t)gridDim.x * blockDim.x) {
        size_t bh = idx / T;
        int t = (int)(idx % T), b = (int)(bh / NH), h = (int)(bh % NH);
        size_t off = ((size_t)b * T + t) * C + (size_t)h * hd;
        float s = 0.0f;
        for (int d = 0; d < hd; d++) s += cu_ld(dout[off + d]) * cu_ld(out[off + d]);
        D[idx] = s;
    }
}

/* dq for ATT_ROWS query rows, walking the keys j <= i */
template <int R>
__global__ void __launch_bounds__(ATT_ROWS * R)
    k_attn_dq(float *dqkv, const float *dout, const float *qkv, const float *lse, const float *D,
              int T, int C, int NH, int hd, float scale)
{
    constexpr int HP = ATT_DPL * R;
    __shared__ __align__(16) float Ks[ATT_TILE][HP];
    __shared__ __align__(16) float Vs[ATT_TILE][HP];
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int lane = threadIdx.x % R, q0 = blockIdx.x * ATT_ROWS, i = q0 + threadIdx.x / R;
    size_t C3 = 3 * (size_t)C;
    const float *base = qkv + (size_t)b * T * C3 + (size_t)h * hd;
    const float *go = dout + (size_t)b * T * C + (size_t)h * hd;
    float q[ATT_DPL], g[ATT_DPL], dq[ATT_DPL];
#pragma unroll
    for (int e = 0; e < ATT_DPL; e++) {
        int d = lane * ATT_DPL + e;
        q[e] = (i < T && d < hd) ? base[(size_t)i * C3 + d] : 0.0f;
        g[e] = (i < T && d < hd) ? go[(size_t)i * C + d] : 0.0f;
        dq[e] = 0.0f;
    }
    float li = i < T ? lse[(size_t)bh * T + i] : 0.0f, Di = i < T ? D[(size_t)bh * T + i] : 0.0f;
    int kend = min(T, q0 + ATT_ROWS);
    for (int k0 = 0; k0 < kend; k0 += ATT_TILE) {
        __syncthreads();
        load_tile<HP>(Ks, base + C, C3, k0, T, hd);
        load_tile<HP>(Vs, base + 2 * (size_t)C, C3, k0, T, hd);
        __syncthreads();
#pragma unroll 4
        for (int j = 0; j < ATT_TILE; j++) {
            float sp = 0.0f, dp = 0.0f;
#pragma unroll
            for (int e = 0; e < ATT_DPL; e++) {
                sp += q[e] * Ks[j][lane * ATT_DPL + e];
                dp += g[e] * Vs[j][lane * ATT_DPL + e];
            }
            sp = lane_sum<R>(sp);
            dp = lane_sum<R>(dp);
            float p = k0 + j <= i ? expf(sp * scale - li) : 0.0f;
            float ds = p * (dp - Di);
#pragma unroll
            for (int e = 0; e < ATT_DPL; e++) dq[e] += ds * Ks[j][lane * ATT_DPL + e];
        }
    }
    if (i >= T) return;
    float *o = dqkv + ((size_t)b * T + i) * C3 + (size_t)h * hd;
#pragma unroll
    for (int e = 0; e < ATT_DPL; e++) {
        int d = lane * ATT_DPL + e;
        if (d < hd) o[d] = dq[e] * scale;
    }
}

/* dk and dv for ATT_ROWS key rows j, walking the queries i >= j */
template <int R>
__global__ void __launch_bounds__(ATT_ROWS * R)
    k_attn_dkv(float *dqkv, const float *dout, const float *qkv, const float *lse, const float *D,
               int T, int C, int NH, int hd, float scale)
{
    constexpr int HP = ATT_DPL * R;
    __shared__ __align__(16) float Qs[ATT_TILE][HP];
    __shared__ __align__(16) float Gs[ATT_TILE][HP];
    __shared__ float Ls[ATT_TILE], Ds[ATT_TILE];
    int bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int lane = threadIdx.x % R, j0 = blockIdx.x * ATT_ROWS, j = j0 + threadIdx.x / R;
    size_t C3 = 3 * (size_t)C;
    const float *base = qkv + (size_t)b * T * C3 + (size_t)h * hd;
    const float *go = dout + (size_t)b * T * C + (size_t)h * hd;
    const float *lrow = lse + (size_t)bh * T, *drow = D + (size_t)bh * T;
    float kk[ATT_DPL], vv[ATT_DPL], dk[ATT_DPL], dv[ATT_DPL];
#pragma unroll
    for (int e = 0; e < ATT_DPL; e++) {
        int d = lane * ATT_DPL + e;
        kk[e] = (j < T && d < hd) ? base[(size_t)j * C3 + C + d] : 0.0f;
        vv[e] = (j < T && d < hd) ? base[(size_t)j * C3 + 2 * (size_t)C + d] : 0.0f;
        dk[e] = dv[e] = 0.0f;
    }
    for (int i0 = j0; i0 < T; i0 += ATT_TILE) { /* queries before j0 see none of these keys */
        __syncthreads();
        load_tile<HP>(Qs, base, C3, i0, T, hd);
        load_tile<HP>(Gs, go, C, i0, T, hd);
        for (int t = threadIdx.x; t < ATT_TILE; t += blockDim.x) {
            Ls[t] = i0 + t < T ? lrow[i0 + t] : 0.0f;
            Ds[t] = i0 + t < T ? drow[i0 + t] : 0.0f;
        }
        __syncthreads();
#pragma unroll 4
        for (int t = 0; t < ATT_TILE; t++) {
            float sp = 0.0f, dp = 0.0f;
#pragma unroll
            for (int e = 0; e < ATT_DPL; e++) {
                sp += Qs[t][lane * ATT_DPL + e] * kk[e];
                dp += Gs[t][lane * ATT_DPL + e] * vv[e];
            }
            sp = lane_sum<R>(sp);
            dp = lane_sum<R>(dp);
            int i = i0 + t;
            float p = (i >= j && i < T) ? expf(sp * scale - Ls[t]) : 0.0f;
            float ds = p * (dp - Ds[t]);
#pragma unroll
            for (int e = 0; e < ATT_DPL; e++) {
                dv[e] += p * Gs[t][lane * ATT_DPL + e];
                dk[e] += ds * Qs[t][lane * ATT_DPL + e];
            }
        }
    }
    if (j >= T) return;
    float *ok = dqkv + ((size_t)b * T + j) * C3 + C + (size_t)h * hd, *ov = ok + C;
#pragma unroll
    for (int e = 0; e < ATT_DPL; e++) {
        int d = lane * ATT_DPL + e;
        if (d < hd) {
            ok[d] = dk[e] * scale;
            ov[d] = dv[e];
        }
    }
}

/* ---- dispatch on lanes per row -------------------------------------------------------------- */

static int lanes_for(int hd)
{
    return hd <= 16 ? 1 : hd <= 32 ? 2 : hd <= 64 ? 4 : hd <= 128 ? 8 : 0;
}

static int check_shape(int B, int C, int NH, const char *op)
{
    int hd = NH > 0 ? C / NH : 0;
    if (NH < 1 || C % NH || !lanes_for(hd))
        return cu_fail(CLPT_EUNSUP, "%s: head size %d (C=%d, NH=%d) unsupported: needs 1..128",
                       op, hd, C, NH);
    if ((size_t)B * NH > 65535)
        return cu_fail(CLPT_EUNSUP, "%s: B*NH = %zu exceeds 65535", op, (size_t)B * NH);
    return 0;
}

template <int R>
static void launch_fwd(float *out, float *lse, const float *qkv, int B, int T, int C, int NH)
{
    int hd = C / NH;
    dim3 grid((T + ATT_ROWS - 1) / ATT_ROWS, B * NH);
    k_attn_fwd<R><<<grid, ATT_ROWS * R, 0, g_cu.stream>>>(out, lse, qkv, T, C, NH, hd,
                                                         1.0f / sqrtf((float)hd));
    CU_LAUNCHED("k_attn_fwd");
}

template <int R>
static void launch_bwd(float *dqkv, const float *dout, const float *qkv, const float *lse,
                       const float *D, int B, int T, int C, int NH)
{
    int hd = C / NH;
    float scale = 1.0f / sqrtf((float)hd);
    dim3 grid((T + ATT_ROWS - 1) / ATT_ROWS, B * NH);
    k_attn_dq<R><<<grid, ATT_ROWS * R, 0, g_cu.stream>>>(dqkv, dout, qkv, lse, D, T, C, NH, hd,
                                                        scale);
    if (CU_LAUNCHED("k_attn_dq")) return;
    k_attn_dkv<R><<<grid, ATT_ROWS * R, 0, g_cu.stream>>>(dqkv, dout, qkv, lse, D, T, C, NH, hd,
                                                         scale);
    CU_LAUNCHED("k_attn_dkv");
}

static void attention_forward_f32(float *out, float *lse, const float *qkv, int B, int T, int C,
                                  int NH)
{
    if (g_cu.attn >= CU_ATTN_MMA && cu_attention_mma_ok(out, qkv, qkv, C, NH, 4)) {
        cu_attention_forward_mma(out, lse, qkv, B, T, C, NH);
        return;
    }
    if (g_cu.attn != CU_ATTN_SIMT && C / NH == 64) {
        cu_attention_forward_tc(out, lse, qkv, B, T, C, NH);
        return;
    }
    switch (lanes_for(C / NH)) {
    case 1: launch_fwd<1>(out, lse, qkv, B, T, C, NH); break;
    case 2: launch_fwd<2>(out, lse, qkv, B, T, C, NH); break;
    case 4: launch_fwd<4>(out, lse, qkv, B, T, C, NH); break;
    default: launch_fwd<8>(out, lse, qkv, B, T, C, NH); break;
    }
}

/* after D is computed */
static void attention_backward_f32(float *dqkv, const float *dout, const float *qkv, const float *lse,
                                   const float *D, int B, int T, int C, int NH)
{
    if (g_cu.attn >= CU_ATTN_MMA && cu_attention_mma_ok(dqkv, dout, qkv, C, NH, 4)) {
        cu_attention_backward_mma(dqkv, dout, qkv, lse, D, B, T, C, NH);
        return;
    }
    if (g_cu.attn != CU_ATTN_SIMT && C / NH == 64) {
        cu_attention_backward_tc(dqkv, dout, qkv, lse, D, B, T, C, NH);
        return;
    }
    switch (lanes_for(C / NH)) {
    case 1: launch_bwd<1>(dqkv, dout, qkv, lse, D, B, T, C, NH); break;
    case 2: launch_bwd<2>(dqkv, dout, qkv, lse, D, B, T, C, NH); break;
    case 4: launch_bwd<4>(dqkv, dout, qkv, lse, D, B, T, C, NH); break;
    default: launch_bwd<8>(dqkv, dout, qkv, lse, D, B, T, C, NH); break;
    }
}

/* bf16 activations: the mma kernels read and write them directly;
 * simt and wmma (other head sizes, or asked for) run on fp32 copies */
static float *widened(int slot, const bf16 *src, size_t n)
{
    float *f = (float *)cu_scratch(slot, n * sizeof(float));
    return f && !cu_from_bf16(f, src, n) ? f : NULL;
}

/* cudnn takes bf16 only: with fp32 activations mma runs instead */
static void cudnn_needs_bf16(void)
{
    static int said;
    if (g_cu.attn == CU_ATTN_CUDNN && !g_cu.attn_auto && !said) {
        said = 1;
        fprintf(stderr, "clpt: cuda: cudnn attention needs bf16 activations (cuda_activations = bf16); using mma\n");
    }
}

template <>
void cu_attention_forward<float>(clpt_act *out, float *lse, const clpt_act *qkv, int B, int T, int C,
                                 int NH)
{
    if (check_shape(B, C, NH, "attention_forward")) return;
    cudnn_needs_bf16();
    attention_forward_f32((float *)out, lse, (const float *)qkv, B, T, C, NH);
}

template <>
void cu_attention_forward<bf16>(clpt_act *out_, float *lse, const clpt_act *qkv_, int B, int T, int C,
                                int NH)
{
    bf16 *out = (bf16 *)out_;
    const bf16 *qkv = (const bf16 *)qkv_;
    if (check_shape(B, C, NH, "attention_forward")) return;
#ifdef CLPT_WITH_CUDNN
    if (g_cu.attn == CU_ATTN_CUDNN && cu_cudnn_attention_forward(out, lse, qkv, B, T, C, NH) <= 0) return;
#endif
    if (g_cu.attn >= CU_ATTN_MMA && cu_attention_mma_ok(out, qkv, qkv, C, NH, 2)) {
        cu_attention_forward_mma(out, lse, qkv, B, T, C, NH);
        return;
    }
    size_t n = (size_t)B * T * C;
    float *q32 = widened(CU_SLOT_WIDE_A, qkv, 3 * n);
    float *o32 = q32 ? (float *)cu_scratch(CU_SLOT_WIDE_B, n * sizeof(float)) : NULL;
    if (!o32) return;
    attention_forward_f32(o32, lse, q32, B, T, C, NH);
    cu_to_bf16(out, o32, n);
}

/* D_i = dO_i . O_i for every row and head, into scratch; NULL (recorded) on failure */
template <typename A> static const float *attention_D(const A *dout, const A *out, int B, int T, int C, int NH)
{
    size_t n = (size_t)B * NH * T;
    float *D = (float *)cu_scratch(CU_SLOT_ATT, n * sizeof(float));
    if (!D) return NULL;
    k_attn_D<A><<<cu_grid(n, 256), 256, 0, g_cu.stream>>>(D, dout, out, B, T, C, NH, C / NH);
    return CU_LAUNCHED("k_attn_D") ? NULL : D;
}

template <>
void cu_attention_backward<float>(clpt_act *dqkv_, const clpt_act *dout_, const clpt_act *qkv_,
                                  const clpt_act *out_, const float *lse, int B, int T, int C, int NH)
{
    float *dqkv = (float *)dqkv_;
    const float *dout = (const float *)dout_, *qkv = (const float *)qkv_, *out = (const float *)out_;
    if (check_shape(B, C, NH, "attention_backward")) return;
    const float *D = attention_D(dout, out, B, T, C, NH);
    if (!D) return;
    attention_backward_f32(dqkv, dout, qkv, lse, D, B, T, C, NH);
}

template <>
void cu_attention_backward<bf16>(clpt_act *dqkv_, const clpt_act *dout_, const clpt_act *qkv_,
                                 const clpt_act *out_, const float *lse, int B, int T, int C, int NH)
{
    bf16 *dqkv = (bf16 *)dqkv_;
    const bf16 *dout = (const bf16 *)dout_, *qkv = (const bf16 *)qkv_, *out = (const bf16 *)out_;
    if (check_shape(B, C, NH, "attention_backward")) return;
#ifdef CLPT_WITH_CUDNN
    if (g_cu.attn == CU_ATTN_CUDNN && cu_cudnn_attention_backward(dqkv, dout, qkv, out, lse, B, T, C, NH) <= 0)
        return;
#endif
    size_t nc = (size_t)B * T * C;
    const float *D = attention_D(dout, out, B, T, C, NH);
    if (!D) return;
    if (g_cu.attn >= CU_ATTN_MMA && cu_attention_mma_ok(dqkv, dout, qkv, C, NH, 2)) {
        cu_attention_backward_mma(dqkv, dout, qkv, lse, D, B, T, C, NH);
        return;
    }
    float *q32 = widened(CU_SLOT_WIDE_A, qkv, 3 * nc);
    float *g32 = q32 ? widened(CU_SLOT_WIDE_B, dout, nc) : NULL;
    float *d32 = g32 ? (float *)cu_scratch(CU_SLOT_WIDE_C, 3 * nc * sizeof(float)) : NULL;
    if (!d32) return;
    attention_backward_f32(d32, g32, q32, lse, D, B, T, C, NH);
    cu_to_bf16(dqkv, d32, 3 * nc);
}
