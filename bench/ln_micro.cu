// ln_micro.cu - LayerNorm's kernels alone, fp32 and bf16: the element-wise
// forward and dinp kernels (k_ln_fwd<A, 1>, k_ln_bwd_dx<A, 1>, which clpt
// still uses for rows that are not 16-byte aligned) against the 16-byte
// ones (<A, 16 / sizeof(A)>), and the dw/db partial sums element-wise
// (k_ln_bwd_partial) against a 16-byte variant, kept here only: it was
// slower; the partial sums' pass 2 as it was (one thread per column)
// against colsum.cuh's; and the backward in three kernels (dinp, partials,
// finish: the default) against the one that fuses dinp and the partials
// (k_ln_bwd_fused, clpt_cuda_set_ln_fused). The kernels are
// core/cuda/layernorm.cuh's and colsum.cuh's. Rerun the comparison in
// bench/results/h100-2026-11-26-bf16.md with build/bench/ln_micro, or:
//     nvcc -O3 -std=c++17 -arch=sm_90 -Icore bench/ln_micro.cu -o /tmp/ln_micro && /tmp/ln_micro
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda/colsum.cuh"
#include "cuda/layernorm.cuh"

// the column sums' pass 2 as it was: one thread per column over every chunk
__global__ void k_colsum_finish_old(float *dst, const float *part, int chunks, int C)
{
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) return;
    float s = 0.0f;
    for (int k = 0; k < chunks; k++) s += part[(size_t)k * C + c];
    dst[c] += s;
}

template <typename A>
__global__ void k_ln_bwd_partial_v(float *pw, float *pb, const A *dout, const A *inp,
                                   const float *mean, const float *rstd, int N, int C, int rpc)
{
    const int V = cu_vec<A>::N;
    int c = (blockIdx.x * blockDim.x + threadIdx.x) * V;
    if (c >= C) return;
    int r0 = blockIdx.y * rpc, r1 = min(N, r0 + rpc);
    float sw[V], sb[V];
#pragma unroll
    for (int e = 0; e < V; e++) sw[e] = sb[e] = 0.0f;
    for (int r = r0; r < r1; r++) {
        float dv[V], xv[V];
        cu_load16(dv, dout + (size_t)r * C + c);
        cu_load16(xv, inp + (size_t)r * C + c);
        float m = mean[r], s = rstd[r];
#pragma unroll
        for (int e = 0; e < V; e++) {
            sw[e] += dv[e] * (xv[e] - m) * s;
            sb[e] += dv[e];
        }
    }
#pragma unroll
    for (int e = 0; e < V; e += 4) {
        *(float4 *)(pw + (size_t)blockIdx.y * C + c + e) = make_float4(sw[e], sw[e + 1], sw[e + 2], sw[e + 3]);
        *(float4 *)(pb + (size_t)blockIdx.y * C + c + e) = make_float4(sb[e], sb[e + 1], sb[e + 2], sb[e + 3]);
    }
}

__global__ void k_init(float *f, size_t n, unsigned seed, float scale, float off)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 13; h *= 0x5bd1e995u; h ^= h >> 15;
        f[i] = off + scale * ((h & 0xffffff) / 16777216.0f - 0.5f);
    }
}
template <typename A> __global__ void k_cast(A *d, const float *s, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        d[i] = cu_st<A>(s[i]);
}
template <typename A> __global__ void k_widen(float *d, const A *s, size_t n)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        d[i] = cu_ld(s[i]);
}

#define CK(x) do { cudaError_t e_ = (x); if (e_) { printf("CUDA %s at %d\n", cudaGetErrorString(e_), __LINE__); exit(1); } } while (0)

// LayerNorm backward as it runs (k_ln_bwd_dx<A, V>, k_ln_bwd_partial, one
// k_colsum_finish for dw and db) against k_ln_bwd_fused and the same
// finish: time per call, and dinp, dw and db of the two compared
template <typename A>
static void fused(const char *tag, int N, int C, const A *d, const A *x, const float *w, const float *mean,
                  const float *rstd, A *dx, float *f, float *h1, float *h2)
{
    const int V = cu_vec<A>::N;
    int Cp = ln_fused_cols(C, V), W = ln_fused_warps(Cp), rows = 4 * W;
    int rpc = rows_per_chunk(N), chunks_now = (N + rpc - 1) / rpc, chunks_fused = (N + rows - 1) / rows;
    size_t n = (size_t)N * C, smem = 2 * (size_t)W * Cp * sizeof(float);
    float *part, *dwb, *g1 = (float *)malloc(2 * C * 4), *g2 = (float *)malloc(2 * C * 4);
    size_t maxch = chunks_fused > chunks_now ? chunks_fused : chunks_now;
    CK(cudaMalloc(&part, 2 * maxch * C * 4));
    CK(cudaMalloc(&dwb, 2 * C * 4));
    cudaEvent_t e0, e1;
    cudaEventCreate(&e0);
    cudaEventCreate(&e1);
    int gdx = (N + 7) / 8;
    auto launch = [&](int variant) { // dinp += and dwb += the backward's, one way or the other
        int chunks = variant ? chunks_fused : chunks_now;
        float *pb = part + (size_t)chunks * C;
        if (variant) {
            k_ln_bwd_fused<A, V><<<chunks_fused, 32 * W, smem>>>(dx, part, pb, d, x, w, mean, rstd, N, C, Cp);
        } else {
            k_ln_bwd_dx<A, V><<<gdx, 256>>>(dx, d, x, w, mean, rstd, N, C);
            k_ln_bwd_partial<A><<<dim3((C + 255) / 256, chunks_now), 256>>>(part, pb, d, x, mean, rstd, N, C, rpc);
        }
        k_colsum_finish<<<colsum_finish_grid(C, 2), colsum_finish_block()>>>(dwb, part, dwb + C, pb, chunks, C);
    };
    for (int variant = 0; variant < 2; variant++) {
        int reps = 50;
        for (int it = -3; it < reps; it++) {
            if (it == 0) cudaEventRecord(e0);
            launch(variant);
        }
        cudaEventRecord(e1);
        CK(cudaEventSynchronize(e1));
        float ms;
        cudaEventElapsedTime(&ms, e0, e1);
        printf("%s %-18s %8.4f ms (%d chunks)\n", tag, variant ? "bwd fused" : "bwd dx+partial", ms / reps,
               variant ? chunks_fused : chunks_now);
        if (variant) printf("%s   fused: %d warps, %zu B of shared memory per block\n", tag, W, smem);
        // once more from zero, for the comparison
        CK(cudaMemset(dx, 0, n * sizeof(A)));
        CK(cudaMemset(dwb, 0, 2 * C * 4));
        launch(variant);
        CK(cudaGetLastError());
        k_widen<A><<<1024, 256>>>(f, dx, n);
        CK(cudaMemcpy(variant ? h2 : h1, f, n * 4, cudaMemcpyDeviceToHost));
        CK(cudaMemcpy(variant ? g2 : g1, dwb, 2 * C * 4, cudaMemcpyDeviceToHost));
    }
    double md = 0, mx = 0, gd = 0, gx = 0;
    for (size_t i = 0; i < n; i++) { md = fmax(md, fabs(h1[i] - h2[i])); mx = fmax(mx, fabs(h1[i])); }
    for (int i = 0; i < 2 * C; i++) { gd = fmax(gd, fabs(g1[i] - g2[i])); gx = fmax(gx, fabs(g1[i])); }
    printf("%s bwd fused vs dx+partial: dinp max |diff| %.3g of max %.3g; dw, db max |diff| %.3g of max %.3g\n",
           tag, md, mx, gd, gx);
    CK(cudaFree(part));
    CK(cudaFree(dwb));
    cudaEventDestroy(e0);
    cudaEventDestroy(e1);
    free(g1);
    free(g2);
}

template <typename A> static void run(const char *tag, int N, int C)
{
    size_t n = (size_t)N * C;
    float *f, *w, *mean, *rstd, *pw, *pb, *h1 = (float *)malloc(n * 4), *h2 = (float *)malloc(n * 4);
    A *d, *x, *dx;
    int rpc = 64, chunks = (N + rpc - 1) / rpc;
    CK(cudaMalloc(&f, n * 4)); CK(cudaMalloc(&w, C * 4)); CK(cudaMalloc(&mean, N * 4)); CK(cudaMalloc(&rstd, N * 4));
    CK(cudaMalloc(&pw, 2 * (size_t)chunks * C * 4)); pb = pw + (size_t)chunks * C;
    CK(cudaMalloc(&d, n * sizeof(A))); CK(cudaMalloc(&x, n * sizeof(A))); CK(cudaMalloc(&dx, n * sizeof(A)));
    k_init<<<1024, 256>>>(f, n, 1, 2.0f, 0.0f); k_cast<A><<<1024, 256>>>(d, f, n);
    k_init<<<1024, 256>>>(f, n, 2, 4.0f, 0.1f); k_cast<A><<<1024, 256>>>(x, f, n);
    k_init<<<64, 256>>>(w, C, 3, 1.0f, 1.0f); k_init<<<64, 256>>>(mean, N, 4, 0.2f, 0.0f);
    k_init<<<64, 256>>>(rstd, N, 5, 0.5f, 1.0f);
    cudaEvent_t e0, e1; cudaEventCreate(&e0); cudaEventCreate(&e1);
    int rows_per_block = 256 / 32, gdx = (N + rows_per_block - 1) / rows_per_block;
    const int V = cu_vec<A>::N;
    for (int variant = 0; variant < 6; variant++) {
        const char *name[] = {"dx old", "dx vec", "partial old", "partial vec bd64", "partial vec bd32", "partial vec bd128"};
        int reps = 50;
        for (int it = -3; it < reps; it++) {
            if (it == 0) cudaEventRecord(e0);
            switch (variant) {
            case 0: k_ln_bwd_dx<A, 1><<<gdx, 256>>>(dx, d, x, w, mean, rstd, N, C); break;
            case 1: k_ln_bwd_dx<A, V><<<gdx, 256>>>(dx, d, x, w, mean, rstd, N, C); break;
            case 2: k_ln_bwd_partial<A><<<dim3((C + 255) / 256, chunks), 256>>>(pw, pb, d, x, mean, rstd, N, C, rpc); break;
            default: {
                int bd = variant == 3 ? 64 : variant == 4 ? 32 : 128;
                k_ln_bwd_partial_v<A><<<dim3((C / V + bd - 1) / bd, chunks), bd>>>(pw, pb, d, x, mean, rstd, N, C, rpc);
            }
            }
        }
        cudaEventRecord(e1); CK(cudaEventSynchronize(e1));
        float ms; cudaEventElapsedTime(&ms, e0, e1);
        printf("%s %-18s %8.4f ms\n", tag, name[variant], ms / reps);
    }
    float *bias;
    CK(cudaMalloc(&bias, C * 4));
    k_init<<<64, 256>>>(bias, C, 6, 1.0f, 0.0f);
    for (int variant = 0; variant < 2; variant++) {
        int reps = 50;
        for (int it = -3; it < reps; it++) {
            if (it == 0) cudaEventRecord(e0);
            if (variant) k_ln_fwd<A, V><<<gdx, 256>>>(dx, mean, rstd, x, w, bias, N, C, 1e-5f);
            else k_ln_fwd<A, 1><<<gdx, 256>>>(dx, mean, rstd, x, w, bias, N, C, 1e-5f);
        }
        cudaEventRecord(e1); CK(cudaEventSynchronize(e1));
        float ms; cudaEventElapsedTime(&ms, e0, e1);
        printf("%s %-18s %8.4f ms\n", tag, variant ? "fwd vec" : "fwd old", ms / reps);
        k_widen<A><<<1024, 256>>>(f, dx, n);
        CK(cudaMemcpy(variant ? h2 : h1, f, n * 4, cudaMemcpyDeviceToHost));
    }
    {
        double md = 0, mx = 0;
        for (size_t i = 0; i < n; i++) { md = fmax(md, fabs(h1[i] - h2[i])); mx = fmax(mx, fabs(h1[i])); }
        printf("%s fwd old vs vec: max |diff| %.3g of max %.3g\n", tag, md, mx);
    }
    // the partial sums' pass 2 (dw and db), as it was and in one 2-D launch
    {
        float *dwb;
        CK(cudaMalloc(&dwb, 2 * C * 4));
        int chunks2 = (N + rows_per_chunk(N) - 1) / rows_per_chunk(N);
        for (int variant = 0; variant < 2; variant++) {
            int reps = 50;
            CK(cudaMemset(dwb, 0, 2 * C * 4));
            for (int it = -3; it < reps; it++) {
                if (it == 0) cudaEventRecord(e0);
                if (variant) {
                    k_colsum_finish<<<colsum_finish_grid(C, 2), colsum_finish_block()>>>(dwb, pw, dwb + C, pb, chunks2, C);
                } else {
                    k_colsum_finish_old<<<(C + 255) / 256, 256>>>(dwb, pw, chunks2, C);
                    k_colsum_finish_old<<<(C + 255) / 256, 256>>>(dwb + C, pb, chunks2, C);
                }
            }
            cudaEventRecord(e1); CK(cudaEventSynchronize(e1));
            float ms; cudaEventElapsedTime(&ms, e0, e1);
            printf("%s %-18s %8.4f ms (%d chunks)\n", tag, variant ? "finish 2-D" : "finish old x2", ms / reps, chunks2);
            CK(cudaMemcpy(variant ? h2 : h1, dwb, 2 * C * 4, cudaMemcpyDeviceToHost));
        }
        double md = 0, mx = 0;
        for (int i = 0; i < 2 * C; i++) { md = fmax(md, fabs(h1[i] - h2[i])); mx = fmax(mx, fabs(h1[i])); }
        printf("%s finish old vs 2-D: max |diff| %.3g of max %.3g\n", tag, md, mx);
        CK(cudaFree(dwb));
    }
    // k_ln_fwd overwrote mean and rstd: the backward comparison below uses those
    // correctness: dx old vs vec from zero, partials old vs vec
    CK(cudaMemset(dx, 0, n * sizeof(A)));
    k_ln_bwd_dx<A, 1><<<gdx, 256>>>(dx, d, x, w, mean, rstd, N, C);
    k_widen<A><<<1024, 256>>>(f, dx, n); CK(cudaMemcpy(h1, f, n * 4, cudaMemcpyDeviceToHost));
    CK(cudaMemset(dx, 0, n * sizeof(A)));
    k_ln_bwd_dx<A, V><<<gdx, 256>>>(dx, d, x, w, mean, rstd, N, C);
    k_widen<A><<<1024, 256>>>(f, dx, n); CK(cudaMemcpy(h2, f, n * 4, cudaMemcpyDeviceToHost));
    double md = 0, mx = 0;
    for (size_t i = 0; i < n; i++) { md = fmax(md, fabs(h1[i] - h2[i])); mx = fmax(mx, fabs(h1[i])); }
    printf("%s dx old vs vec: max |diff| %.3g of max %.3g\n", tag, md, mx);
    size_t np = 2 * (size_t)chunks * C;
    float *p1 = (float *)malloc(np * 4), *p2 = (float *)malloc(np * 4);
    k_ln_bwd_partial<A><<<dim3((C + 255) / 256, chunks), 256>>>(pw, pb, d, x, mean, rstd, N, C, rpc);
    CK(cudaMemcpy(p1, pw, np * 4, cudaMemcpyDeviceToHost));
    k_ln_bwd_partial_v<A><<<dim3((C / V + 63) / 64, chunks), 64>>>(pw, pb, d, x, mean, rstd, N, C, rpc);
    CK(cudaMemcpy(p2, pw, np * 4, cudaMemcpyDeviceToHost));
    size_t ndiff = 0;
    for (size_t i = 0; i < np; i++) ndiff += p1[i] != p2[i];
    printf("%s partial old vs vec: %zu of %zu differ\n", tag, ndiff, np);
    CK(cudaGetLastError());
    fused(tag, N, C, d, x, w, mean, rstd, dx, f, h1, h2);
    free(p1);
    free(p2);
}

int main(void)
{
    run<float>("fp32", 16384, 768);
    run<bf16>("bf16", 16384, 768);
    run<float>("fp32-xl", 8192, 1600);
    run<bf16>("bf16-xl", 8192, 1600);
    run<bf16>("bf16-b64", 65536, 768); // GPT-2 small at B = 64
    return 0;
}
