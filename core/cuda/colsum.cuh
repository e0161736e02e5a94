/* colsum.cuh - column sums over the rows of an (N, C) tensor in two fixed-
 * order passes, deterministic: bias gradients (kernels.cu's cu_colsum_acc)
 * and LayerNorm's dw and db (layernorm.cuh's partial sums). Pass 1 writes
 * one partial sum per (chunk of rows, column); pass 2, k_colsum_finish,
 * adds a column's partials and accumulates the total into dst. Also timed
 * alone by bench/ln_micro.cu. */
#ifndef CLPT_CUDA_COLSUM_CUH
#define CLPT_CUDA_COLSUM_CUH

#include "cu_device.cuh"

/* rows per chunk of pass 1: 64, or more so that there are at most 4096 chunks */
static inline int rows_per_chunk(int N)
{
    int r = 64;
    while ((N + r - 1) / r > 4096) r *= 2;
    return r;
}

/* pass 1 for a plain sum: block (x: columns, y: one chunk of rows) */
template <typename A>
__global__ void k_colsum_partial(float *part, const A *x, int N, int C, int rpc)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    int r0 = blockIdx.y * rpc, r1 = min(N, r0 + rpc);
    float s = 0.0f;
    for (int r = r0; r < r1; r++) s += cu_ld(x[(size_t)r * C + c]);
    part[(size_t)blockIdx.y * C + c] = s;
}

/* Pass 2: dst_z[c] += the sum over k < chunks of part_z[k * C + c], for z =
 * blockIdx.y (0: dst0/part0; 1: dst1/part1, two sums in one launch). A
 * block of 32 x COLSUM_FIN_Y threads takes 32 columns: thread (x, y) adds
 * chunks y, y + COLSUM_FIN_Y, ... in order, then the COLSUM_FIN_Y sums are
 * added in y order. One thread per column adding every chunk in turn, as
 * before, left 768 threads each waiting on 256 (B = 16) to 1024 (B = 64)
 * loads in series. Launch with colsum_finish_grid(C, sums). */
#define COLSUM_FIN_Y 16
static __global__ void __launch_bounds__(32 * COLSUM_FIN_Y)
    k_colsum_finish(float *dst0, const float *part0, float *dst1, const float *part1, int chunks, int C)
{
    __shared__ float sh[COLSUM_FIN_Y][33];
    float *dst = blockIdx.y ? dst1 : dst0;
    const float *part = blockIdx.y ? part1 : part0;
    int c = blockIdx.x * 32 + threadIdx.x;
    float s = 0.0f;
    if (c < C)
        for (int k = threadIdx.y; k < chunks; k += COLSUM_FIN_Y) s += part[(size_t)k * C + c];
    sh[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < C) {
        float t = sh[0][threadIdx.x];
        for (int y = 1; y < COLSUM_FIN_Y; y++) t += sh[y][threadIdx.x];
        dst[c] += t;
    }
}
static inline dim3 colsum_finish_grid(int C, int sums) { return dim3((C + 31) / 32, sums); }
static inline dim3 colsum_finish_block(void) { return dim3(32, COLSUM_FIN_Y); }

#endif
