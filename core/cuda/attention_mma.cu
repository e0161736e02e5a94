/* attention_mma.cu - causal attention for head size 64 (every GPT-2) on
 * tensor cores through mma.sync m16n8k16 (bf16 operands, fp32
 * accumulation), flash style with the scores kept in registers. Same
 * contract as attention.cu: only lse is stored; backward recomputes the
 * probabilities in a dQ kernel (over keys) and a dK/dV kernel (over
 * queries), one writer per output element, no atomics: deterministic.
 * Chosen with clpt_cuda_set_attn("mma").
 *
 * A block has 4 warps and 64 rows (16 per warp); the other side is walked
 * in tiles of 64. Tiles are converted from the fp32 activations to bf16 in
 * shared memory ([64][72]: 144-byte rows, so ldmatrix's eight row
 * addresses fall in distinct banks). Each warp's 16x64 products live in
 * mma accumulators; an accumulator pair of n-tiles is, element for element,
 * the A operand of the next product (P v, dS k, ...), so probabilities never
 * leave registers.
 *
 * Fragment layouts (PTX ISA, mma.m16n8k16, g = lane/4, t = lane%4):
 *   A 16x16: a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..)
 *   B 16x8:  b0 (k 2t..2t+1, n g), b1 (k 2t+8.., n g)
 *   C 16x8:  c0,c1 (g, 2t..2t+1), c2,c3 (g+8, 2t..2t+1)
 * q is pre-scaled by 1/8 = 1/sqrt(64) (exact in bf16), so S = q k^T comes
 * out scaled, dK = dS^T q needs no factor, and dQ = dS k is scaled at the
 * end. P and dS are rounded to bf16 for their products; the forward
 * normaliser sums the rounded P, exactly what P v sums. The kernels are
 * in attention_mma.cuh; this file launches them. */
#include <stdint.h>

#include "cuda_common.cuh"
#include "attention_mma.cuh"

/* ---- launch ------------------------------------------------------------------------- */

/* 16-byte tile loads need 16-byte aligned rows; 8-byte stores likewise */
int cu_attention_mma_ok(const void *a, const void *b, const void *c, int C, int NH, int esize)
{
    return C / NH == MMA_HD && C % NH == 0 && (C * esize) % 16 == 0 && (uintptr_t)a % 16 == 0 &&
           (uintptr_t)b % 16 == 0 && (uintptr_t)c % 16 == 0;
}

template <typename A>
int cu_attention_forward_mma(A *out, float *lse, const A *qkv, int B, int T, int C, int NH)
{
    dim3 grid((T + MMA_ROWS - 1) / MMA_ROWS, B * NH);
    k_attn_fwd_mma<A><<<grid, MMA_THREADS, 0, g_cu.stream>>>(out, lse, qkv, T, C, NH);
    return CU_LAUNCHED("k_attn_fwd_mma");
}

template <typename A>
int cu_attention_backward_mma(A *dqkv, const A *dout, const A *qkv, const float *lse, const float *D, int B,
                              int T, int C, int NH)
{
    dim3 grid((T + MMA_ROWS - 1) / MMA_ROWS, B * NH);
    k_attn_dq_mma<A><<<grid, MMA_THREADS, 0, g_cu.stream>>>(dqkv, dout, qkv, lse, D, T, C, NH);
    if (CU_LAUNCHED("k_attn_dq_mma")) return CLPT_EIO;
    k_attn_dkv_mma<A><<<grid, MMA_THREADS, 0, g_cu.stream>>>(dqkv, dout, qkv, lse, D, T, C, NH);
    return CU_LAUNCHED("k_attn_dkv_mma");
}

#define INSTANTIATE(A)                                                                                       \
    template int cu_attention_forward_mma<A>(A *, float *, const A *, int, int, int, int);                  \
    template int cu_attention_backward_mma<A>(A *, const A *, const A *, const float *, const float *, int, \
                                              int, int, int);
INSTANTIATE(float)
INSTANTIATE(bf16)
