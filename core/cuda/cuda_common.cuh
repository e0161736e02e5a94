/* cuda_common.cuh - what the cuda backend's files share: the backend state,
 * error recording, scratch buffers, the bf16 shadow cache, the GEMM helper
 * and the op entry points that backend_cuda.cu puts into the vtable.
 *
 * Every op runs on one stream (g_cu.stream) in call order, so a buffer
 * written by one op is ready for the next with no event; only to_host,
 * dot and sync wait for the device. */
#ifndef CLPT_CUDA_COMMON_CUH
#define CLPT_CUDA_COMMON_CUH

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include "backend.h"
#include "clpt.h"
}
#include "clpt_cuda.h"
#include "cu_device.cuh"
#include "cuda_host.h"

enum { CU_GEMM_FP32, CU_GEMM_TF32, CU_GEMM_BF16FAST, CU_GEMM_BF16 };

typedef struct cu_state {
    cudaStream_t stream;
    cublasHandle_t blas;
    cublasLtHandle_t lt;
    void *lt_ws;          /* cuBLASLt workspace */
    size_t lt_ws_bytes;
    int sm_count, cc_major, cc_minor;
    size_t smem_optin;    /* the most shared memory a block may ask for */
    char name[256];
    int gemm_mode;        /* CU_GEMM_* */
    int use_lt;           /* bias epilogue through cuBLASLt */
    int gelu_fusion;      /* GELU in the fc GEMM's epilogue, its gradient in the projection's:
                           * 1 on, 0 off, -1 the default (on with bf16 activations) */
    long gelu_fused;      /* GEMMs that ran with a GELU epilogue */
    int attn;             /* CU_ATTN_*: the attention kernels for head size 64 */
    int attn_auto;        /* attn not chosen: cudnn where it runs, else mma, without a word */
    int status;           /* first failure inside an op, 0 if none */
    char msg[512];
    size_t in_use, peak;  /* bytes through cu_malloc */
} cu_state;

extern cu_state g_cu;

/* ---- errors (cu_fail, cu_check_rt: cuda_host.h) ---------------------------- */

int cu_check_blas(cublasStatus_t s, const char *what, const char *file, int line);

/* Each returns 0 or a negative CLPT_E code, never exits. */
#define CU_CHECK(call) cu_check_rt((call), #call, __FILE__, __LINE__)
#define CUBLAS_CHECK(call) cu_check_blas((call), #call, __FILE__, __LINE__)
/* after every kernel launch: catches bad launch configurations at once */
#define CU_LAUNCHED(name) cu_check_rt(cudaGetLastError(), name, __FILE__, __LINE__)

/* ---- memory ------------------------------------------------------------ */

/* cudaMalloc with accounting; NULL (and the error cleared from the runtime,
 * so a later launch check does not see it) on failure. */
void *cu_malloc(size_t bytes);
void cu_free_tracked(void *p, size_t bytes);

/* scratch slots: cuda_host.h; this gives them all back */
void cu_scratch_release(void);
/* the classifier's chunks start from their full size again (classifier.cu) */
void cu_logits_fit_reset(void);

/* bf16 shadows of parameter tensors, keyed by (fp32 pointer, count).
 * cu_params_written must be called by every op that may write a parameter
 * buffer (to_device, copy, adamw, the vector ops) and drops the shadows it
 * overlaps; cu_params_freed releases them for good. */
const __nv_bfloat16 *cu_weight_bf16(const float *w, size_t n);
/* the same with room for cap >= n elements, those past n zero (the
 * classifier pads the vocabulary to a multiple of 64 rows) */
const __nv_bfloat16 *cu_weight_bf16_padded(const float *w, size_t n, size_t cap);
void cu_params_written(const void *p, size_t bytes);
/* the token ids copied down by encoder_forward for the backward pass are
 * stale once their device buffer is written or freed (kernels.cu) */
void cu_tokens_written(const void *p, size_t bytes);
void cu_params_freed(const void *p, size_t bytes);
void cu_shadows_release(void);

/* dst = bf16(src), round to nearest even; and back (exact) */
int cu_to_bf16(__nv_bfloat16 *dst, const float *src, size_t n);
int cu_from_bf16(float *dst, const __nv_bfloat16 *src, size_t n);

/* ---- GEMM ---------------------------------------------------------------- */

/* An operand in the form the GEMM wants: the fp32 pointer itself, or a
 * bf16 copy (a cached shadow for parameters, `slot` scratch for fp32
 * activations) when `bf16` is set: in bf16 GEMM mode, and always with bf16
 * activations. n = number of elements of the stored matrix. Nonzero on
 * failure (recorded). */
typedef struct cu_operand {
    const void *p;
    cudaDataType_t type;
} cu_operand;
int cu_operand_get(cu_operand *op, const float *x, size_t n, int is_param, int slot, int want_bf16);
/* an activation operand: fp32 activations as the GEMM mode wants them
 * (converted into `slot` in bf16 mode), bf16 activations as they are */
int cu_act_operand(cu_operand *op, const float *x, size_t n, int slot);
int cu_act_operand(cu_operand *op, const __nv_bfloat16 *x, size_t n, int slot);

/* whether GEMMs with activations of type A take bf16 operands */
template <typename A> static inline int cu_bf16_gemm(void) { return 1; }
template <> inline int cu_bf16_gemm<float>(void) { return g_cu.gemm_mode == CU_GEMM_BF16; }

/* Column-major C (m,n) = alpha op(A) op(B) + beta C with C of type ctype
 * (fp32 or bf16), fp32 accumulation, as cublasGemmEx; op(A) is (m,k), op(B)
 * is (k,n). */
int cu_gemm(int ta, int tb, int m, int n, int k, const cu_operand *A, int lda,
            const cu_operand *B, int ldb, void *C, cudaDataType_t ctype, int ldc, float alpha,
            float beta);

/* One column-major product through cuBLASLt with an epilogue:
 * D (m,n) = epi(op(A) (m,k) B (k,n) [+ bias] [+ beta D]), op(A) = A^T when
 * ta; aux is the GELU input (written by GELU_AUX_BIAS, read by DGELU), of
 * D's type, leading dimension aux_ld. Returns 1 if done, 0 if the caller
 * must take the plain path (no algorithm for this shape, or cuBLASLt
 * refused, which also turns that use of cuBLASLt off). */
typedef struct cu_lt_call {
    int ta, m, n, k;
    const cu_operand *A;
    int lda;
    const cu_operand *B;
    int ldb;
    void *D;
    cudaDataType_t dtype;
    int ldd;
    float beta;
    cublasLtEpilogue_t epi;
    const void *bias;
    cudaDataType_t btype;
    const void *aux;
    int64_t aux_ld;
} cu_lt_call;
int cu_lt_matmul(const cu_lt_call *c);

/* ---- launch helpers ---------------------------------------------------------- */

/* blocks for a grid-stride loop over n items: enough to fill the device,
 * never more than the items need */
static inline unsigned cu_grid(size_t n, int threads)
{
    size_t want = (n + threads - 1) / threads, cap = (size_t)g_cu.sm_count * 32;
    if (want < 1) want = 1;
    return (unsigned)(want < cap ? want : cap);
}

/* column sums of a row-major (N, C) matrix, added to dst (C): deterministic
 * two-pass reduction (fixed row chunks, then chunks in order) */
template <typename A> int cu_colsum_acc(float *dst, const A *x, int N, int C);

/* attention on tensor cores, head size 64 only; D is rowsum(dO * O) per
 * (b, h, t), computed by the caller. WMMA with the scores in shared memory
 * (attention_tc.cu), or mma.sync with the scores in registers
 * (attention_mma.cu), which also needs 16-byte aligned activations
 * (cu_attention_mma_ok). */
enum { CU_ATTN_SIMT, CU_ATTN_WMMA, CU_ATTN_MMA, CU_ATTN_CUDNN };

/* whether the GEMMs of activation type A take the GELU epilogues */
template <typename A> static inline int cu_gelu_fusion_on(void)
{
    return g_cu.gelu_fusion > 0 || (g_cu.gelu_fusion < 0 && sizeof(A) == 2);
}
int cu_attention_forward_tc(float *out, float *lse, const float *qkv, int B, int T, int C, int NH);
int cu_attention_backward_tc(float *dqkv, const float *dout, const float *qkv, const float *lse,
                             const float *D, int B, int T, int C, int NH);
/* esize = bytes per activation element */
int cu_attention_mma_ok(const void *a, const void *b, const void *c, int C, int NH, int esize);
template <typename A>
int cu_attention_forward_mma(A *out, float *lse, const A *qkv, int B, int T, int C, int NH);
template <typename A>
int cu_attention_backward_mma(A *dqkv, const A *dout, const A *qkv, const float *lse,
                              const float *D, int B, int T, int C, int NH);

/* ---- activations -------------------------------------------------------------- */
/* The layer ops are templates over the activation element type A: float
 * (the "cuda" backend with fp32 activations) or bf16 (activations stored in
 * bf16; arithmetic stays fp32, each result is rounded once when stored).
 * backend_cuda.cu puts one instantiation of each into each vtable. Loads
 * and stores of either type as floats: cu_device.cuh. */

/* the cuBLAS type of T */
template <typename T> static inline cudaDataType_t cu_type(void);
template <> inline cudaDataType_t cu_type<float>(void) { return CUDA_R_32F; }
template <> inline cudaDataType_t cu_type<bf16>(void) { return CUDA_R_16BF; }

/* ---- the ops (backend.h semantics), for A = float and A = bf16 ------------------ */

template <typename A>
void cu_encoder_forward(clpt_act *out, const int *tokens, const float *wte, const float *wpe, int B,
                        int T, int C);
template <typename A>
void cu_encoder_backward(float *dwte, float *dwpe, const clpt_act *dout, const int *tokens, int B,
                         int T, int C);
template <typename A>
void cu_layernorm_forward(clpt_act *out, float *mean, float *rstd, const clpt_act *inp,
                          const float *w, const float *b, int N, int C, float eps);
template <typename A>
void cu_layernorm_backward(clpt_act *dinp, float *dw, float *db, const clpt_act *dout,
                           const clpt_act *inp, const float *w, const float *mean,
                           const float *rstd, int N, int C);
template <typename A>
void cu_matmul_forward(clpt_act *out, const clpt_act *inp, const float *w, const float *bias,
                       int N, int IN, int OUT, float beta);
template <typename A>
void cu_matmul_backward(clpt_act *dinp, float *dw, float *dbias, const clpt_act *dout,
                        const clpt_act *inp, const float *w, int N, int IN, int OUT);
template <typename A>
void cu_attention_forward(clpt_act *out, float *lse, const clpt_act *qkv, int B, int T, int C,
                          int NH);
template <typename A>
void cu_attention_backward(clpt_act *dqkv, const clpt_act *dout, const clpt_act *qkv,
                           const clpt_act *out, const float *lse, int B, int T, int C, int NH);
template <typename A> void cu_gelu_forward(clpt_act *out, const clpt_act *inp, size_t n);
template <typename A>
void cu_gelu_backward(clpt_act *dinp, const clpt_act *inp, const clpt_act *dout, size_t n);
template <typename A>
void cu_classifier(float *losses, int *ranks, clpt_act *dinp, float *dwte, const clpt_act *inp,
                   const float *wte, const int *targets, int N, int C, int V, float dscale);
template <typename A> void cu_logits(float *out, const clpt_act *inp, const float *wte, int N, int C, int V);
template <typename A>
void cu_matmul_gelu_forward(clpt_act *out, clpt_act *pre, const clpt_act *inp, const float *w,
                            const float *bias, int N, int IN, int OUT);
template <typename A>
void cu_matmul_backward_gelu(clpt_act *dinp, float *dw, float *dbias, const clpt_act *dout,
                             const clpt_act *inp, const float *w, const clpt_act *pre, int N, int IN,
                             int OUT);
/* explicit specialisations (attention.cu) */
template <>
void cu_attention_forward<float>(clpt_act *out, float *lse, const clpt_act *qkv, int B, int T, int C, int NH);
template <>
void cu_attention_forward<bf16>(clpt_act *out, float *lse, const clpt_act *qkv, int B, int T, int C, int NH);
template <>
void cu_attention_backward<float>(clpt_act *dqkv, const clpt_act *dout, const clpt_act *qkv,
                                  const clpt_act *out, const float *lse, int B, int T, int C, int NH);
template <>
void cu_attention_backward<bf16>(clpt_act *dqkv, const clpt_act *dout, const clpt_act *qkv,
                                 const clpt_act *out, const float *lse, int B, int T, int C, int NH);

void cu_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float b1,
              float b2, float eps, float wd, float bc1, float bc2, float gscale);
void cu_fill(float *x, float a, size_t n);
void cu_axpy(float *y, float a, const float *x, size_t n);
void cu_scale(float *x, float a, size_t n);
double cu_dot(const float *x, const float *y, size_t n);
void cu_mul_acc(float *y, float a, const float *x1, const float *x2, size_t n);
void cu_sq_acc(float *y, float a, const float *x, size_t n);

#endif
