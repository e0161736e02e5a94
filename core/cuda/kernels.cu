/* kernels.cu - the cuda backend's memory-bound ops: encoder, LayerNorm,
 * GELU, AdamW, the vector algebra, and the reductions they need. Each
 * kernel follows the matching function of backend_cpu.c line by line;
 * activations are fp32 or bf16 (the template parameter A; loads widen to
 * fp32, stores round once). Every reduction is deterministic (a fixed grid
 * and a fixed combining order; the token-embedding gradient groups the
 * positions by token), so a run repeats bit for bit. The kernels are in
 * kernels.cuh, layernorm.cuh and colsum.cuh; this file launches them. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"
#include "colsum.cuh"
#include "kernels.cuh"
#include "layernorm.cuh"
#include "token_groups.h"

/* ---- bf16 conversion ----------------------------------------------------------- */

int cu_to_bf16(__nv_bfloat16 *dst, const float *src, size_t n)
{
    k_to_bf16<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, g_cu.stream>>>(dst, src, n);
    return CU_LAUNCHED("k_to_bf16");
}

int cu_from_bf16(float *dst, const bf16 *src, size_t n)
{
    k_from_bf16<<<cu_grid(n, CU_THREADS), CU_THREADS, 0, g_cu.stream>>>(dst, src, n);
    return CU_LAUNCHED("k_from_bf16");
}


/* ---- encoder ------------------------------------------------------------------------ */

static void enc_prefetch(const int *tokens, int N);

template <typename A>
void cu_encoder_forward(clpt_act *out, const int *tokens, const float *wte, const float *wpe, int B,
                        int T, int C)
{
    size_t n = (size_t)B * T * C;
    k_encoder_fwd<A><<<cu_grid(n, CU_THREADS), CU_THREADS, 0, g_cu.stream>>>((A *)out, tokens, wte,
                                                                             wpe, T, C, n);
    if (CU_LAUNCHED("k_encoder_fwd")) return;
    enc_prefetch(tokens, B * T);
}

/* Positions grouped by token id on the host (token_groups.h), and the
 * groups sent up for k_encoder_bwd_wte. The ids are copied down when the
 * forward pass reads them (encoder_forward, the first op of a step), into
 * pinned memory, so that when the backward pass reaches the encoder (its
 * last op) they have long arrived: the host groups them without draining
 * the stream, and the groups go up asynchronously. Each copy serves one
 * backward pass: a forward that read other ids, a second backward after
 * one forward, or a write to the ids' buffer since (cu_tokens_written),
 * makes the backward copy them itself, waiting for the stream. */
static struct {
    int *tok, *ord, *tmp, *grp;
    size_t cap;
    int pinned;                  /* tok, ord and grp from cudaMallocHost */
    cudaEvent_t copied, uploaded; /* tok arrived; ord and grp read by the device */
    const int *src;              /* the device ids tok holds (NULL: none) */
    int n, upload_pending;
} enc;

static void enc_release(void)
{
    if (enc.pinned) {
        cudaFreeHost(enc.tok), cudaFreeHost(enc.ord), cudaFreeHost(enc.grp);
    } else {
        free(enc.tok), free(enc.ord), free(enc.grp);
    }
    free(enc.tmp);
    enc.tok = enc.ord = enc.grp = enc.tmp = NULL;
    enc.cap = 0;
}

/* room for N ids; CLPT_ENOMEM (not recorded: the caller decides) or
 * CLPT_EIO (recorded) */
static int enc_reserve(int N)
{
    if (!enc.copied && CU_CHECK(cudaEventCreateWithFlags(&enc.copied, cudaEventDisableTiming)))
        return CLPT_EIO;
    if (!enc.uploaded && CU_CHECK(cudaEventCreateWithFlags(&enc.uploaded, cudaEventDisableTiming)))
        return CLPT_EIO;
    if ((size_t)N <= enc.cap) return 0;
    /* the old buffers may still be a pending copy's source or target */
    if (enc.cap && CU_CHECK(cudaStreamSynchronize(g_cu.stream))) return CLPT_EIO;
    enc_release();
    enc.src = NULL;
    enc.upload_pending = 0;
    size_t gb = (2 * (size_t)N + 1) * sizeof(int);
    void *tok = NULL, *ord = NULL, *grp = NULL; /* set only by the calls that succeed */
    enc.pinned = cudaMallocHost(&tok, N * sizeof(int)) == cudaSuccess &&
                 cudaMallocHost(&ord, N * sizeof(int)) == cudaSuccess && cudaMallocHost(&grp, gb) == cudaSuccess;
    if (enc.pinned) {
        enc.tok = (int *)tok;
        enc.ord = (int *)ord;
        enc.grp = (int *)grp;
    } else { /* pageable: the same results, with the copies waiting */
        cudaGetLastError();
        if (tok) cudaFreeHost(tok);
        if (ord) cudaFreeHost(ord);
        enc.tok = (int *)malloc(N * sizeof(int));
        enc.ord = (int *)malloc(N * sizeof(int));
        enc.grp = (int *)malloc(gb);
    }
    enc.tmp = (int *)malloc(N * sizeof(int));
    if (!enc.tok || !enc.ord || !enc.grp || !enc.tmp) {
        enc_release();
        return CLPT_ENOMEM;
    }
    enc.cap = N;
    return 0;
}

/* start copying the ids down, for the backward pass to group; only into
 * pinned memory (a pageable copy would wait for the stream), and a failure
 * here only means the backward pass fetches them itself */
static void enc_prefetch(const int *tokens, int N)
{
    enc.src = NULL;
    if (enc_reserve(N) || !enc.pinned ||
        CU_CHECK(cudaMemcpyAsync(enc.tok, tokens, N * sizeof(int), cudaMemcpyDeviceToHost, g_cu.stream)) ||
        CU_CHECK(cudaEventRecord(enc.copied, g_cu.stream)))
        return;
    enc.src = tokens;
    enc.n = N;
}

void cu_tokens_written(const void *p, size_t bytes)
{
    const char *lo = (const char *)p, *src = (const char *)enc.src;
    if (src && lo < src + enc.n * sizeof(int) && src < lo + bytes) enc.src = NULL;
}

static int encoder_groups(const int *tokens, int N, int **dev, int *G)
{
    int prefetched = enc.src == tokens && enc.n == N;
    enc.src = NULL; /* each copy of the ids serves one backward pass */
    if (prefetched) {
        if (CU_CHECK(cudaEventSynchronize(enc.copied))) return CLPT_EIO;
    } else {
        int rc = enc_reserve(N);
        if (rc == CLPT_ENOMEM) return cu_fail(rc, "encoder_backward: no host memory for %d positions", N);
        if (rc || CU_CHECK(cudaMemcpyAsync(enc.tok, tokens, N * sizeof(int), cudaMemcpyDeviceToHost,
                                           g_cu.stream)) ||
            CU_CHECK(cudaStreamSynchronize(g_cu.stream)))
            return CLPT_EIO;
    }
    /* ord and grp are the previous upload's sources until it has run */
    if (enc.upload_pending && CU_CHECK(cudaEventSynchronize(enc.uploaded))) return CLPT_EIO;
    enc.upload_pending = 0;
    int g = clpt_group_tokens(enc.tok, N, enc.ord, enc.tmp, enc.grp);
    if (g < 0) return cu_fail(CLPT_ENOMEM, "encoder_backward: no host memory to group %d positions", N);
    int *d = (int *)cu_scratch(CU_SLOT_ENC, (N + 2 * (size_t)g + 1) * sizeof(int));
    if (!d) return CLPT_ENOMEM;
    enc.upload_pending = 1; /* from here the device may be reading ord and grp */
    if (CU_CHECK(cudaMemcpyAsync(d, enc.ord, N * sizeof(int), cudaMemcpyHostToDevice, g_cu.stream)) ||
        CU_CHECK(cudaMemcpyAsync(d + N, enc.grp, (2 * (size_t)g + 1) * sizeof(int), cudaMemcpyHostToDevice,
                                 g_cu.stream)) ||
        CU_CHECK(cudaEventRecord(enc.uploaded, g_cu.stream))) {
        cudaStreamSynchronize(g_cu.stream); /* the event may not mark the copies' end */
        enc.upload_pending = 0;
        return CLPT_EIO;
    }
    *dev = d;
    *G = g;
    return 0;
}

template <typename A>
void cu_encoder_backward(float *dwte, float *dwpe, const clpt_act *dout_, const int *tokens, int B,
                         int T, int C)
{
    const A *dout = (const A *)dout_;
    size_t nt = (size_t)T * C;
    int N = B * T, G = 0, *d = NULL;
    if (encoder_groups(tokens, N, &d, &G)) return;
    /* d: ord (N), starts (G + 1), ids (G) */
    if (G > 0) {
        dim3 grid(G, (C + CU_THREADS - 1) / CU_THREADS);
        k_encoder_bwd_wte<A><<<grid, CU_THREADS, 0, g_cu.stream>>>(dwte, dout, d, d + N + G + 1, d + N, C);
        if (CU_LAUNCHED("k_encoder_bwd_wte")) return;
    }
    k_encoder_bwd_wpe<A><<<cu_grid(nt, CU_THREADS), CU_THREADS, 0, g_cu.stream>>>(dwpe, dout, B, T, C);
    CU_LAUNCHED("k_encoder_bwd_wpe");
}

/* ---- column sums (bias and LayerNorm parameter gradients): colsum.cuh ------------------- */

template <typename A> int cu_colsum_acc(float *dst, const A *x, int N, int C)
{
    int rpc = rows_per_chunk(N), chunks = (N + rpc - 1) / rpc;
    float *part = (float *)cu_scratch(CU_SLOT_PARTIAL, (size_t)chunks * C * sizeof(float));
    if (!part) return CLPT_ENOMEM;
    dim3 grid((C + CU_THREADS - 1) / CU_THREADS, chunks);
    k_colsum_partial<A><<<grid, CU_THREADS, 0, g_cu.stream>>>(part, x, N, C, rpc);
    if (CU_LAUNCHED("k_colsum_partial")) return CLPT_EIO;
    k_colsum_finish<<<colsum_finish_grid(C, 1), colsum_finish_block(), 0, g_cu.stream>>>(dst, part, NULL, NULL,
                                                                                        chunks, C);
    return CU_LAUNCHED("k_colsum_finish");
}

/* ---- LayerNorm: one warp per row ------------------------------------------------------- */

/* 16-byte accesses are possible: n a multiple of per16 elements, the
 * pointers 16-byte aligned */
static int aligned16(const void *a, const void *b, const void *c, size_t n, size_t per16)
{
    return n % per16 == 0 && ((uintptr_t)a | (uintptr_t)b | (uintptr_t)c) % 16 == 0;
}

template <typename A>
void cu_layernorm_forward(clpt_act *out, float *mean, float *rstd, const clpt_act *inp,
                          const float *w, const float *b, int N, int C, float eps)
{
    int rows_per_block = CU_THREADS / 32, blocks = (N + rows_per_block - 1) / rows_per_block;
    if (aligned16(out, inp, inp, C, cu_vec<A>::N) && aligned16(w, b, b, C, 4))
        k_ln_fwd<A, cu_vec<A>::N><<<blocks, CU_THREADS, 0, g_cu.stream>>>((A *)out, mean, rstd, (const A *)inp,
                                                                          w, b, N, C, eps);
    else
        k_ln_fwd<A, 1><<<blocks, CU_THREADS, 0, g_cu.stream>>>((A *)out, mean, rstd, (const A *)inp, w, b, N,
                                                               C, eps);
    CU_LAUNCHED("k_ln_fwd");
}

/* LayerNorm backward as one kernel (k_ln_bwd_fused) where a warp's column
 * slots fit in 48 KB, or as three (dinp, the partial sums, their finish);
 * the three by default until the fused one is measured end to end */
static int ln_fused;
static long ln_fused_runs;
extern "C" void clpt_cuda_set_ln_fused(int on) { ln_fused = on; }
extern "C" long clpt_cuda_ln_fused_runs(void) { return ln_fused_runs; }

template <typename A, int V>
static void ln_backward(A *dinp, float *dw, float *db, const A *dout, const A *inp, const float *w,
                        const float *mean, const float *rstd, int N, int C)
{
    int Cp = ln_fused_cols(C, V), W = ln_fused ? ln_fused_warps(Cp) : 0;
    int rows = W ? 4 * W : rows_per_chunk(N), chunks = (N + rows - 1) / rows;
    float *pw = (float *)cu_scratch(CU_SLOT_PARTIAL, 2 * (size_t)chunks * C * sizeof(float));
    if (!pw) return;
    float *pb = pw + (size_t)chunks * C;
    if (W) {
        k_ln_bwd_fused<A, V><<<chunks, 32 * W, 2 * (size_t)W * Cp * sizeof(float), g_cu.stream>>>(
            dinp, pw, pb, dout, inp, w, mean, rstd, N, C, Cp);
        if (CU_LAUNCHED("k_ln_bwd_fused")) return;
        ln_fused_runs++;
    } else {
        int rows_per_block = CU_THREADS / 32, blocks = (N + rows_per_block - 1) / rows_per_block;
        k_ln_bwd_dx<A, V><<<blocks, CU_THREADS, 0, g_cu.stream>>>(dinp, dout, inp, w, mean, rstd, N, C);
        if (CU_LAUNCHED("k_ln_bwd_dx")) return;
        int cb = (C + CU_THREADS - 1) / CU_THREADS;
        k_ln_bwd_partial<A><<<dim3(cb, chunks), CU_THREADS, 0, g_cu.stream>>>(pw, pb, dout, inp, mean, rstd, N,
                                                                          C, rows);
        if (CU_LAUNCHED("k_ln_bwd_partial")) return;
    }
    k_colsum_finish<<<colsum_finish_grid(C, 2), colsum_finish_block(), 0, g_cu.stream>>>(dw, pw, db, pb, chunks,
                                                                                        C);
    CU_LAUNCHED("k_colsum_finish");
}

template <typename A>
void cu_layernorm_backward(clpt_act *dinp_, float *dw, float *db, const clpt_act *dout_,
                           const clpt_act *inp_, const float *w, const float *mean,
                           const float *rstd, int N, int C)
{
    A *dinp = (A *)dinp_;
    const A *dout = (const A *)dout_, *inp = (const A *)inp_;
    /* a row of C elements is 16-byte aligned when the tensor is and C is a
     * multiple of V */
    if (aligned16(dinp, dout, inp, C, cu_vec<A>::N) && aligned16(w, w, w, C, 4))
        ln_backward<A, cu_vec<A>::N>(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
    else
        ln_backward<A, 1>(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
}

/* ---- GELU (tanh approximation) --------------------------------------------------- */

template <typename A> void cu_gelu_forward(clpt_act *out, const clpt_act *inp, size_t n)
{
    size_t V = cu_vec<A>::N;
    int v = aligned16(out, inp, inp, n, V);
    k_gelu_fwd<A><<<cu_grid(v ? n / V : n, CU_THREADS), CU_THREADS, 0, g_cu.stream>>>(
        (A *)out, (const A *)inp, n, v);
    CU_LAUNCHED("k_gelu_fwd");
}

template <typename A>
void cu_gelu_backward(clpt_act *dinp, const clpt_act *inp, const clpt_act *dout, size_t n)
{
    size_t V = cu_vec<A>::N;
    int v = aligned16(dinp, inp, dout, n, V);
    k_gelu_bwd<A><<<cu_grid(v ? n / V : n, CU_THREADS), CU_THREADS, 0, g_cu.stream>>>(
        (A *)dinp, (const A *)inp, (const A *)dout, n, v);
    CU_LAUNCHED("k_gelu_bwd");
}

/* ---- AdamW --------------------------------------------------------------------------- */

void cu_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float b1,
              float b2, float eps, float wd, float bc1, float bc2, float gscale)
{
    if (n == 0) return;
    cu_params_written(p, n * sizeof(float));
    float step = lr / bc1, bc2s = sqrtf(bc2), decay = 1.0f - lr * wd;
    int v4 = aligned16(p, g, m, n, 4) && aligned16(v, v, v, n, 4);
    k_adamw<<<cu_grid(v4 ? n / 4 : n, CU_THREADS), CU_THREADS, 0, g_cu.stream>>>(
        p, g, m, v, n, b1, b2, eps, decay, step, bc2s, gscale, v4);
    CU_LAUNCHED("k_adamw");
}

/* ---- vector algebra -------------------------------------------------------------------- */

#define VEC_LAUNCH(kernel, dst, n, ...)                                                     \
    do {                                                                                    \
        if ((n) == 0) return;                                                               \
        cu_params_written((dst), (n) * sizeof(float));                                      \
        kernel<<<cu_grid((n), CU_THREADS), CU_THREADS, 0, g_cu.stream>>>(__VA_ARGS__);      \
        CU_LAUNCHED(#kernel);                                                               \
    } while (0)

void cu_fill(float *x, float a, size_t n) { VEC_LAUNCH(k_fill, x, n, x, a, n); }
void cu_axpy(float *y, float a, const float *x, size_t n) { VEC_LAUNCH(k_axpy, y, n, y, a, x, n); }
void cu_scale(float *x, float a, size_t n) { VEC_LAUNCH(k_scale, x, n, x, a, n); }
void cu_mul_acc(float *y, float a, const float *x1, const float *x2, size_t n)
{
    VEC_LAUNCH(k_mul_acc, y, n, y, a, x1, x2, n);
}
void cu_sq_acc(float *y, float a, const float *x, size_t n) { VEC_LAUNCH(k_sq_acc, y, n, y, a, x, n); }

/* ---- dot: fp64 accumulation, fixed grid, fixed tree: the same bits every run ---------- */

#define DOT_BLOCKS 1024

double cu_dot(const float *x, const float *y, size_t n)
{
    double *part = (double *)cu_scratch(CU_SLOT_DOT, (DOT_BLOCKS + 1) * sizeof(double));
    double r = 0.0;
    if (!part || n == 0) return 0.0;
    k_dot_partial<<<DOT_BLOCKS, CU_THREADS, 0, g_cu.stream>>>(part, x, y, n);
    if (CU_LAUNCHED("k_dot_partial")) return NAN;
    k_dot_final<<<1, CU_THREADS, 0, g_cu.stream>>>(part + DOT_BLOCKS, part, DOT_BLOCKS);
    if (CU_LAUNCHED("k_dot_final")) return NAN;
    if (CU_CHECK(cudaMemcpyAsync(&r, part + DOT_BLOCKS, sizeof r, cudaMemcpyDeviceToHost,
                                 g_cu.stream)))
        return NAN;
    if (CU_CHECK(cudaStreamSynchronize(g_cu.stream))) return NAN;
    return r;
}

/* ---- the instantiations the vtables take --------------------------------------------- */

#define INSTANTIATE(A)                                                                          \
    template void cu_encoder_forward<A>(clpt_act *, const int *, const float *, const float *,  \
                                        int, int, int);                                         \
    template void cu_encoder_backward<A>(float *, float *, const clpt_act *, const int *, int,   \
                                         int, int);                                             \
    template int cu_colsum_acc<A>(float *, const A *, int, int);                                \
    template void cu_layernorm_forward<A>(clpt_act *, float *, float *, const clpt_act *,       \
                                          const float *, const float *, int, int, float);       \
    template void cu_layernorm_backward<A>(clpt_act *, float *, float *, const clpt_act *,      \
                                           const clpt_act *, const float *, const float *,      \
                                           const float *, int, int);                            \
    template void cu_gelu_forward<A>(clpt_act *, const clpt_act *, size_t);                     \
    template void cu_gelu_backward<A>(clpt_act *, const clpt_act *, const clpt_act *, size_t);
INSTANTIATE(float)
INSTANTIATE(bf16)
