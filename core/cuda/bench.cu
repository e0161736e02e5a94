/* bench.cu - device-side helpers for benchmarks: a fast random fill, and
 * the measured bf16 GEMM rate that MFU is reported against. */
#include <stdlib.h>

#include "cuda_common.cuh"

/* splitmix64 of (seed, i): independent per element, no state */
static __device__ __forceinline__ uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

__global__ void k_fill_uniform(float *x, size_t n, float a, uint64_t seed)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint64_t r = mix64(seed * 0x9e3779b97f4a7c15ull + i);
        float u = (float)(r >> 40) * (1.0f / 16777216.0f); /* [0, 1) from 24 bits */
        x[i] = (2.0f * u - 1.0f) * a;
    }
}

__global__ void k_fill_uniform_bf16(__nv_bfloat16 *x, size_t n, float a, uint64_t seed)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        uint64_t r = mix64(seed * 0x9e3779b97f4a7c15ull + i);
        float u = (float)(r >> 40) * (1.0f / 16777216.0f);
        x[i] = __float2bfloat16_rn((2.0f * u - 1.0f) * a);
    }
}

extern "C" void clpt_cuda_fill_uniform(float *x, size_t n, float a, uint64_t seed)
{
    if (n == 0) return;
    cu_params_written(x, n * sizeof(float));
    k_fill_uniform<<<cu_grid(n, 256), 256, 0, g_cu.stream>>>(x, n, a, seed);
    CU_LAUNCHED("k_fill_uniform");
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* D (m,n) = A (m,k) B (k,n), column-major bf16, fp32 accumulation: the
 * rate the tensor cores reach on this card through cuBLASLt */
extern "C" double clpt_cuda_bench_gemm(int m, int n, int k, int reps)
{
    size_t na = (size_t)m * k, nb = (size_t)k * n, nd = (size_t)m * n;
    __nv_bfloat16 *A = (__nv_bfloat16 *)cu_malloc(na * 2), *B = (__nv_bfloat16 *)cu_malloc(nb * 2),
                  *D = (__nv_bfloat16 *)cu_malloc(nd * 2);
    float *ms = (float *)malloc((size_t)(reps > 0 ? reps : 1) * sizeof(float));
    cublasLtMatmulDesc_t desc = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, ld = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasLtMatmulHeuristicResult_t res;
    cudaEvent_t e0 = NULL, e1 = NULL;
    uint64_t ws = g_cu.lt_ws_bytes;
    float alpha = 1.0f, beta = 0.0f;
    int count = 0;
    double tflops = -1.0;
    if (!A || !B || !D || !ms || reps < 1) goto done;
    /* random data: zeros run faster than real data would */
    k_fill_uniform_bf16<<<cu_grid(na, 256), 256, 0, g_cu.stream>>>(A, na, 1.0f, 1);
    k_fill_uniform_bf16<<<cu_grid(nb, 256), 256, 0, g_cu.stream>>>(B, nb, 1.0f, 2);
    if (CU_LAUNCHED("k_fill_uniform_bf16")) goto done;
    if (CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc, CUBLAS_COMPUTE_32F, CUDA_R_32F)) ||
        CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&la, CUDA_R_16BF, m, k, m)) ||
        CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&lb, CUDA_R_16BF, k, n, k)) ||
        CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&ld, CUDA_R_16BF, m, n, m)) ||
        CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref)) ||
        CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(
            pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws)))
        goto done;
    if (CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(g_cu.lt, desc, la, lb, ld, ld, pref, 1, &res,
                                                    &count)) || count == 0)
        goto done;
    if (CU_CHECK(cudaEventCreate(&e0)) || CU_CHECK(cudaEventCreate(&e1))) goto done;
    for (int r = -3; r < reps; r++) { /* three warm-up runs first */
        if (CU_CHECK(cudaEventRecord(e0, g_cu.stream))) goto done;
        if (CUBLAS_CHECK(cublasLtMatmul(g_cu.lt, desc, &alpha, A, la, B, lb, &beta, D, ld, D, ld,
                                        &res.algo, g_cu.lt_ws, g_cu.lt_ws_bytes, g_cu.stream)))
            goto done;
        if (CU_CHECK(cudaEventRecord(e1, g_cu.stream)) || CU_CHECK(cudaEventSynchronize(e1)))
            goto done;
        if (r >= 0 && CU_CHECK(cudaEventElapsedTime(&ms[r], e0, e1))) goto done;
    }
    qsort(ms, (size_t)reps, sizeof *ms, cmp_float);
    if (ms[reps / 2] > 0) tflops = 2.0 * m * n * (double)k / (ms[reps / 2] * 1e-3) / 1e12;
done:
    if (e0) cudaEventDestroy(e0);
    if (e1) cudaEventDestroy(e1);
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (ld) cublasLtMatrixLayoutDestroy(ld);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (desc) cublasLtMatmulDescDestroy(desc);
    cu_free_tracked(A, na * 2);
    cu_free_tracked(B, nb * 2);
    cu_free_tracked(D, nd * 2);
    free(ms);
    return tflops;
}
