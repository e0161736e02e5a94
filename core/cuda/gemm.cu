/* gemm.cu - matmul forward/backward and logits through cuBLAS, in the
 * precision clpt_cuda_set_gemm() chose.
 *
 * Row-major X (r,c) is column-major X^T (c,r) with the same pointer and
 * ld = c, so each row-major product below is written as the column-major
 * product of the transposes (the comment above each call says which).
 * Weights are in Hugging Face Conv1D layout: w (IN,OUT) row-major.
 *
 * With bf16 activations (A = bf16) the activations are the GEMMs' operands
 * and outputs as they are, the weights come from their bf16 shadows, and
 * every product accumulates in fp32 (the GEMM mode applies to fp32
 * activations only). Parameter gradients (dw, dwte) stay fp32. */
#include <stdint.h>
#include <stdio.h>

#include "cuda_common.cuh"

#define CU_THREADS 256

static cublasComputeType_t compute_type(void)
{
    switch (g_cu.gemm_mode) {
    case CU_GEMM_TF32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case CU_GEMM_BF16FAST: return CUBLAS_COMPUTE_32F_FAST_16BF;
    default: return CUBLAS_COMPUTE_32F; /* fp32, and bf16 operands with fp32 accumulation */
    }
}

int cu_operand_get(cu_operand *op, const float *x, size_t n, int is_param, int slot, int want_bf16)
{
    op->p = x;
    op->type = CUDA_R_32F;
    if (!want_bf16) return 0;
    const __nv_bfloat16 *h = is_param ? cu_weight_bf16(x, n) : NULL;
    if (!h) { /* an activation, or no room for another shadow */
        __nv_bfloat16 *d = (__nv_bfloat16 *)cu_scratch(slot, n * sizeof *d);
        if (!d) return CLPT_ENOMEM;
        if (cu_to_bf16(d, x, n)) return CLPT_EIO;
        h = d;
    }
    op->p = h;
    op->type = CUDA_R_16BF;
    return 0;
}

/* bf16 operands always accumulate in plain fp32 */
static cublasComputeType_t compute_for(const cu_operand *A)
{
    return A->type == CUDA_R_16BF ? CUBLAS_COMPUTE_32F : compute_type();
}

int cu_gemm(int ta, int tb, int m, int n, int k, const cu_operand *A, int lda,
            const cu_operand *B, int ldb, void *C, cudaDataType_t ctype, int ldc, float alpha,
            float beta)
{
    return CUBLAS_CHECK(cublasGemmEx(g_cu.blas, ta ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, &alpha, A->p,
                                     A->type, lda, B->p, B->type, ldb, &beta, C, ctype, ldc,
                                     compute_for(A), CUBLAS_GEMM_DEFAULT));
}

int cu_act_operand(cu_operand *op, const float *x, size_t n, int slot)
{
    return cu_operand_get(op, x, n, 0, slot, g_cu.gemm_mode == CU_GEMM_BF16);
}
int cu_act_operand(cu_operand *op, const bf16 *x, size_t, int)
{
    op->p = x;
    op->type = CUDA_R_16BF;
    return 0;
}
template <typename A> static int weight_operand(cu_operand *op, const float *w, size_t n)
{
    return cu_operand_get(op, w, n, 1, CU_SLOT_CONV_C, cu_bf16_gemm<A>());
}

/* ---- cuBLASLt with the bias epilogue ---------------------------------------------- */

/* largest power of two (<= 256) dividing the address: cuBLASLt's heuristic
 * otherwise assumes 256-byte aligned operands, and parameter tensors inside
 * the slab are only 4-byte aligned in general */
static uint32_t align_of(const void *p)
{
    uintptr_t a = (uintptr_t)p;
    uint32_t r = 256;
    while (r > 4 && a % r) r >>= 1;
    return r;
}

/* cuBLASLt failures here are not fatal: the plain path computes the same
 * thing, so fall back, and stop trying after a refusal that is not about
 * one shape. */
#define LT_TRY(call)                                                                    \
    do {                                                                                \
        if ((st = (call)) != CUBLAS_STATUS_SUCCESS) {                                   \
            what = #call;                                                               \
            goto done;                                                                  \
        }                                                                               \
    } while (0)
#define LT_SET(fn, obj, attr, val) LT_TRY(fn(obj, attr, &(val), sizeof(val)))

int cu_lt_matmul(const cu_lt_call *c)
{
    cublasLtMatmulDesc_t desc = NULL;
    cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
    cublasLtMatmulPreference_t pref = NULL;
    cublasOperation_t opa = c->ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = CUBLAS_OP_N;
    cublasLtEpilogue_t epi = c->epi;
    cublasStatus_t st = CUBLAS_STATUS_SUCCESS;
    const char *what = NULL;
    uint64_t ws = g_cu.lt_ws_bytes;
    uint32_t al_a = align_of(c->A->p), al_b = align_of(c->B->p), al_c = align_of(c->D);
    float alpha = 1.0f, beta = c->beta;
    int rc = 0, count = 0;
    cublasLtMatmulHeuristicResult_t res;
    LT_TRY(cublasLtMatmulDescCreate(&desc, compute_for(c->A), CUDA_R_32F));
    LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_TRANSA, opa);
    LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_TRANSB, opb);
    LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epi);
    if (c->bias) {
        LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, c->bias);
        LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, c->btype);
    }
    if (c->aux) { /* GELU's input: written forward, read backward; D's type */
        LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, c->aux);
        LT_SET(cublasLtMatmulDescSetAttribute, desc, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, c->aux_ld);
    }
    /* the stored matrices: A is (k,m) when transposed, B (k,n), C = D (m,n) */
    LT_TRY(cublasLtMatrixLayoutCreate(&la, c->A->type, c->ta ? c->k : c->m, c->ta ? c->m : c->k, c->lda));
    LT_TRY(cublasLtMatrixLayoutCreate(&lb, c->B->type, c->k, c->n, c->ldb));
    LT_TRY(cublasLtMatrixLayoutCreate(&lc, c->dtype, c->m, c->n, c->ldd));
    LT_TRY(cublasLtMatmulPreferenceCreate(&pref));
    LT_SET(cublasLtMatmulPreferenceSetAttribute, pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, ws);
    LT_SET(cublasLtMatmulPreferenceSetAttribute, pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, al_a);
    LT_SET(cublasLtMatmulPreferenceSetAttribute, pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, al_b);
    LT_SET(cublasLtMatmulPreferenceSetAttribute, pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, al_c);
    LT_SET(cublasLtMatmulPreferenceSetAttribute, pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, al_c);
    st = cublasLtMatmulAlgoGetHeuristic(g_cu.lt, desc, la, lb, lc, lc, pref, 1, &res, &count);
    if (st != CUBLAS_STATUS_SUCCESS || count == 0) {
        st = CUBLAS_STATUS_SUCCESS; /* nothing for this shape: the plain path it is */
        if (c->aux) { /* and for the GELU epilogues, from now on: say so, ask no more */
            fprintf(stderr, "clpt: cuda: cuBLASLt has no GELU epilogue for a %dx%dx%d product; "
                            "GELU runs separately from now on\n", c->m, c->n, c->k);
            g_cu.gelu_fusion = 0;
        }
        goto done;
    }
    /* C == D: the residual stream is updated in place when beta is 1 */
    LT_TRY(cublasLtMatmul(g_cu.lt, desc, &alpha, c->A->p, la, c->B->p, lb, &beta, c->D, lc, c->D, lc, &res.algo,
                          g_cu.lt_ws, g_cu.lt_ws_bytes, g_cu.stream));
    if (c->aux) g_cu.gelu_fused++;
    rc = 1;
done:
    if (st != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "clpt: cuda: cuBLASLt refused (%s: status %d); %s separately from now on\n", what, (int)st,
                c->aux ? "GELU" : "bias added");
        if (c->aux) g_cu.gelu_fusion = 0;
        else g_cu.use_lt = 0;
    }
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
    if (lc) cublasLtMatrixLayoutDestroy(lc);
    if (lb) cublasLtMatrixLayoutDestroy(lb);
    if (la) cublasLtMatrixLayoutDestroy(la);
    if (desc) cublasLtMatmulDescDestroy(desc);
    return rc;
}

/* the bias the epilogue adds to an output of type A: fp32 (16-byte aligned,
 * or NULL), or its bf16 shadow (cuBLASLt wants the bias in D's type) */
template <typename A> static const void *lt_bias(const float *bias, int OUT, cudaDataType_t *type)
{
    if (sizeof(A) == 2) {
        *type = CUDA_R_16BF;
        return cu_weight_bf16(bias, OUT);
    }
    *type = CUDA_R_32F;
    return (uintptr_t)bias % 16 == 0 ? bias : NULL;
}

/* ---- matmul ------------------------------------------------------------------------ */

/* out[i, j] = bias[j] (+ out[i, j] when accumulating) */
template <typename A>
__global__ void k_bias_rows(A *out, const float *bias, size_t n, int OUT, int accumulate)
{
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
         i += (size_t)gridDim.x * blockDim.x) {
        float b = bias[i % OUT];
        out[i] = cu_st<A>(accumulate ? cu_ld(out[i]) + b : b);
    }
}

template <typename A>
void cu_matmul_forward(clpt_act *out_, const clpt_act *inp_, const float *w, const float *bias,
                       int N, int IN, int OUT, float beta)
{
    A *out = (A *)out_;
    const A *inp = (const A *)inp_;
    cu_operand W, X;
    if (weight_operand<A>(&W, w, (size_t)IN * OUT) || cu_act_operand(&X, inp, (size_t)N * IN, CU_SLOT_CONV_A))
        return;
    /* cuBLASLt may load the bias vector in 16-byte pieces */
    if (bias && g_cu.use_lt) {
        cu_lt_call c = {0, OUT, N, IN, &W, OUT, &X, IN, out, cu_type<A>(), OUT, beta,
                        CUBLASLT_EPILOGUE_BIAS, NULL, CUDA_R_32F, NULL, 0};
        c.bias = lt_bias<A>(bias, OUT, &c.btype);
        /* out^T (OUT,N) = w^T (OUT,IN) @ inp^T (IN,N) + bias */
        if (c.bias && cu_lt_matmul(&c)) return;
    }
    if (bias) {
        size_t n = (size_t)N * OUT;
        k_bias_rows<A><<<cu_grid(n, CU_THREADS), CU_THREADS, 0, g_cu.stream>>>(out, bias, n, OUT,
                                                                              beta != 0.0f);
        if (CU_LAUNCHED("k_bias_rows")) return;
        beta = 1.0f;
    }
    /* out^T (OUT,N) = w^T (OUT,IN) @ inp^T (IN,N) */
    cu_gemm(0, 0, OUT, N, IN, &W, OUT, &X, IN, out, cu_type<A>(), OUT, 1.0f, beta);
}

/* matmul_backward; with pre, dinp is then multiplied by gelu'(pre), in the
 * dinp GEMM's epilogue when GELU fusion is on */
template <typename A>
static void matmul_backward(clpt_act *dinp_, float *dw, float *dbias, const clpt_act *dout_, const clpt_act *inp_,
                            const float *w, const clpt_act *pre, int N, int IN, int OUT)
{
    A *dinp = (A *)dinp_;
    const A *dout = (const A *)dout_, *inp = (const A *)inp_;
    cu_operand W, D, X;
    if (weight_operand<A>(&W, w, (size_t)IN * OUT) ||
        cu_act_operand(&D, dout, (size_t)N * OUT, CU_SLOT_CONV_A) ||
        cu_act_operand(&X, inp, (size_t)N * IN, CU_SLOT_CONV_B))
        return;
    /* dinp^T (IN,N) = w (IN,OUT) @ dout^T (OUT,N) [* gelu'(pre^T)]; w is stored as w^T (OUT,IN) */
    int fused = 0;
    if (pre && cu_gelu_fusion_on<A>() && g_cu.use_lt && IN % 8 == 0) {
        cu_lt_call c = {1, IN, N, OUT, &W, OUT, &D, OUT, dinp, cu_type<A>(), IN, 0.0f,
                        CUBLASLT_EPILOGUE_DGELU, NULL, CUDA_R_32F, pre, IN};
        fused = cu_lt_matmul(&c);
    }
    if (!fused) {
        if (cu_gemm(1, 0, IN, N, OUT, &W, OUT, &D, OUT, dinp, cu_type<A>(), IN, 1.0f, 0.0f)) return;
        if (pre) cu_gelu_backward<A>(dinp_, pre, dinp_, (size_t)N * IN);
    }
    /* dw^T (OUT,IN) += dout^T (OUT,N) @ inp (N,IN); inp is stored as inp^T (IN,N) */
    if (cu_gemm(0, 1, OUT, IN, N, &D, OUT, &X, IN, dw, CUDA_R_32F, OUT, 1.0f, 1.0f)) return;
    if (dbias) cu_colsum_acc(dbias, dout, N, OUT);
}

template <typename A>
void cu_matmul_backward(clpt_act *dinp, float *dw, float *dbias, const clpt_act *dout, const clpt_act *inp,
                        const float *w, int N, int IN, int OUT)
{
    matmul_backward<A>(dinp, dw, dbias, dout, inp, w, NULL, N, IN, OUT);
}

template <typename A>
void cu_logits(float *out, const clpt_act *inp_, const float *wte, int N, int C, int V)
{
    cu_operand W, X;
    if (weight_operand<A>(&W, wte, (size_t)V * C) ||
        cu_act_operand(&X, (const A *)inp_, (size_t)N * C, CU_SLOT_CONV_A))
        return;
    /* out^T (V,N) = wte (V,C) @ inp^T (C,N); wte is stored as wte^T (C,V) */
    cu_gemm(1, 0, V, N, C, &W, C, &X, C, out, CUDA_R_32F, V, 1.0f, 0.0f);
}

/* ---- GELU fused into the GEMMs' epilogues (clpt_cuda_set_gelu_fusion) -------------------- */

template <typename A>
void cu_matmul_gelu_forward(clpt_act *out_, clpt_act *pre_, const clpt_act *inp_, const float *w,
                            const float *bias, int N, int IN, int OUT)
{
    A *out = (A *)out_, *pre = (A *)pre_;
    if (cu_gelu_fusion_on<A>() && g_cu.use_lt && bias && OUT % 8 == 0) {
        cu_operand W, X;
        if (weight_operand<A>(&W, w, (size_t)IN * OUT) ||
            cu_act_operand(&X, (const A *)inp_, (size_t)N * IN, CU_SLOT_CONV_A))
            return;
        /* out^T = gelu(w^T inp^T + bias), pre^T = the GELU input, both (OUT,N) */
        cu_lt_call c = {0, OUT, N, IN, &W, OUT, &X, IN, out, cu_type<A>(), OUT, 0.0f,
                        CUBLASLT_EPILOGUE_GELU_AUX_BIAS, NULL, CUDA_R_32F, NULL, 0};
        c.bias = lt_bias<A>(bias, OUT, &c.btype);
        c.aux = pre;
        c.aux_ld = OUT;
        if (c.bias && cu_lt_matmul(&c)) return;
    }
    cu_matmul_forward<A>(pre_, inp_, w, bias, N, IN, OUT, 0.0f);
    cu_gelu_forward<A>(out_, pre_, (size_t)N * OUT);
}

template <typename A>
void cu_matmul_backward_gelu(clpt_act *dinp, float *dw, float *dbias, const clpt_act *dout, const clpt_act *inp,
                             const float *w, const clpt_act *pre, int N, int IN, int OUT)
{
    matmul_backward<A>(dinp, dw, dbias, dout, inp, w, pre, N, IN, OUT);
}

#define INSTANTIATE(A)                                                                          \
    template void cu_matmul_gelu_forward<A>(clpt_act *, clpt_act *, const clpt_act *, const float *, \
                                            const float *, int, int, int);                       \
    template void cu_matmul_backward_gelu<A>(clpt_act *, float *, float *, const clpt_act *,     \
                                             const clpt_act *, const float *, const clpt_act *, int, \
                                             int, int);                                         \
    template void cu_matmul_forward<A>(clpt_act *, const clpt_act *, const float *, const float *, \
                                       int, int, int, float);                                   \
    template void cu_matmul_backward<A>(clpt_act *, float *, float *, const clpt_act *,          \
                                        const clpt_act *, const float *, int, int, int);        \
    template void cu_logits<A>(float *, const clpt_act *, const float *, int, int, int);
INSTANTIATE(float)
INSTANTIATE(bf16)
