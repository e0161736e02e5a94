/* backend.h - the internal vtable of compute ops that the model is written
 * against. The layer sequence (model.c) calls only these; a backend (cpu,
 * cuda) supplies them and nothing else.
 *
 * Buffers are device buffers obtained from the same backend's alloc(). Shapes
 * are row-major. Parameter-gradient outputs (dw, db, dwte, dwpe) ACCUMULATE
 * (+=); activation-gradient outputs OVERWRITE unless said otherwise.
 *
 * Activations (the B*T-row tensors a forward and backward pass keep, and
 * their gradients) are clpt_act buffers whose element format the backend
 * chooses: act_bytes wide, fp32 (4) or bf16 (2). They are opaque: only the
 * same backend's ops read them, act_to_host/act_to_device convert them for
 * tests, and copy moves n * act_bytes bytes. Per-row statistics (LayerNorm
 * mean and rstd, attention log-sum-exp, losses), logits, parameters,
 * gradients and optimizer moments are fp32 everywhere. */
#ifndef CLPT_BACKEND_H
#define CLPT_BACKEND_H

#include <stddef.h>
#include <stdint.h>

typedef struct clpt_backend clpt_backend;

/* An activation buffer; never defined, so it cannot be dereferenced or
 * indexed outside a backend. */
typedef struct clpt_act clpt_act;

struct clpt_backend {
    const char *name;
    int act_bytes; /* bytes per activation element: 4 (fp32) or 2 (bf16) */

    /* ---- memory ------------------------------------------------------ */
    void *(*alloc)(size_t bytes);                 /* zero-filled; NULL on failure */
    void (*free)(void *p);
    void (*to_device)(void *dst, const void *src, size_t bytes);
    void (*to_host)(void *dst, const void *src, size_t bytes);
    void (*copy)(void *dst, const void *src, size_t bytes); /* device to device */
    void (*sync)(void);
    /* n activation elements to/from host fp32 (act_to_device rounds to the
     * activation format); act_zero sets n elements to +0 */
    void (*act_to_host)(float *dst, const clpt_act *src, size_t n);
    void (*act_to_device)(clpt_act *dst, const float *src, size_t n);
    void (*act_zero)(clpt_act *x, size_t n);

    /* ---- layers -------------------------------------------------------- */
    /* out (B,T,C) = wte[tokens] + wpe[t] */
    void (*encoder_forward)(clpt_act *out, const int *tokens, const float *wte,
                            const float *wpe, int B, int T, int C);
    void (*encoder_backward)(float *dwte, float *dwpe, const clpt_act *dout,
                             const int *tokens, int B, int T, int C);
    /* out (N,C), mean/rstd (N) saved for backward */
    void (*layernorm_forward)(clpt_act *out, float *mean, float *rstd,
                              const clpt_act *inp, const float *w, const float *b,
                              int N, int C, float eps);
    /* dinp ACCUMULATES (+=): the residual stream's gradient flows through it */
    void (*layernorm_backward)(clpt_act *dinp, float *dw, float *db,
                               const clpt_act *dout, const clpt_act *inp,
                               const float *w, const float *mean,
                               const float *rstd, int N, int C);
    /* out (N,OUT) = beta*out + inp (N,IN) @ w (IN,OUT) + bias (OUT or NULL).
     * w is in Hugging Face Conv1D layout [in, out]. beta is 0 or 1. */
    void (*matmul_forward)(clpt_act *out, const clpt_act *inp, const float *w,
                           const float *bias, int N, int IN, int OUT, float beta);
    /* dinp (N,IN) = dout @ w^T (overwrite); dw += inp^T @ dout; dbias += sum dout */
    void (*matmul_backward)(clpt_act *dinp, float *dw, float *dbias,
                            const clpt_act *dout, const clpt_act *inp, const float *w,
                            int N, int IN, int OUT);
    /* causal multi-head attention. qkv (B,T,3C) = [q|k|v]; out (B,T,C);
     * lse (B,NH,T) = log-sum-exp of each softmax row, kept for backward,
     * which recomputes the probabilities (no (T,T) tensor is stored). */
    void (*attention_forward)(clpt_act *out, float *lse, const clpt_act *qkv,
                              int B, int T, int C, int NH);
    void (*attention_backward)(clpt_act *dqkv, const clpt_act *dout, const clpt_act *qkv,
                               const clpt_act *out, const float *lse,
                               int B, int T, int C, int NH);
    void (*gelu_forward)(clpt_act *out, const clpt_act *inp, size_t n); /* tanh approx */
    /* dinp = dout * gelu'(inp); dinp may alias dout */
    void (*gelu_backward)(clpt_act *dinp, const clpt_act *inp, const clpt_act *dout, size_t n);
    /* Fused tied-embedding classifier over N rows of inp (N,C) against
     * wte (V,C): logits, softmax and cross-entropy without storing an (N,V)
     * tensor. losses (N) = -log p(target). If dinp is non-NULL: dinp (N,C) =
     * dscale * dL/dinp (overwrite) and dwte += dscale * dL/dwte. ranks (N) if
     * non-NULL: 1 + number of vocabulary entries whose logit exceeds the
     * target's. All outputs are device buffers. */
    void (*classifier)(float *losses, int *ranks, clpt_act *dinp, float *dwte,
                       const clpt_act *inp, const float *wte, const int *targets,
                       int N, int C, int V, float dscale);
    /* logits (N,V), fp32 = inp (N,C) @ wte^T, for tests and inspection */
    void (*logits)(float *out, const clpt_act *inp, const float *wte, int N, int C, int V);

    /* ---- optional fusions: NULL, or the results of the ops they replace ---- */
    /* matmul_forward(pre, inp, w, bias, N, IN, OUT, 0), then
     * gelu_forward(out, pre, N * OUT) */
    void (*matmul_gelu_forward)(clpt_act *out, clpt_act *pre, const clpt_act *inp, const float *w,
                                const float *bias, int N, int IN, int OUT);
    /* matmul_backward(dinp, dw, dbias, dout, inp, w, N, IN, OUT), then
     * gelu_backward(dinp, pre, dinp, N * IN): the MLP's output projection,
     * whose input inp is gelu(pre) */
    void (*matmul_backward_gelu)(clpt_act *dinp, float *dw, float *dbias, const clpt_act *dout,
                                 const clpt_act *inp, const float *w, const clpt_act *pre, int N,
                                 int IN, int OUT);

    /* ---- optimizer ------------------------------------------------------- */
    /* PyTorch AdamW on n elements: p *= 1 - lr*wd; g' = g*gscale;
     * m = b1 m + (1-b1) g'; v = b2 v + (1-b2) g'^2;
     * p -= lr * (m/bc1) / (sqrt(v/bc2) + eps), bc = 1 - beta^t. */
    void (*adamw)(float *p, const float *g, float *m, float *v, size_t n,
                  float lr, float b1, float b2, float eps, float wd,
                  float bc1, float bc2, float gscale);

    /* ---- vector algebra over parameter-sized buffers ---------------------- */
    void (*fill)(float *x, float a, size_t n);
    void (*axpy)(float *y, float a, const float *x, size_t n);      /* y += a x */
    void (*scale)(float *x, float a, size_t n);                     /* x *= a */
    double (*dot)(const float *x, const float *y, size_t n);
    void (*mul_acc)(float *y, float a, const float *x1, const float *x2, size_t n); /* y += a x1 x2 */
    void (*sq_acc)(float *y, float a, const float *x, size_t n);    /* y += a x^2 */

    /* ---- failure ------------------------------------------------------------- */
    /* Ops return nothing, so a failure inside one (out of memory for scratch,
     * a device fault) is recorded, and its outputs are not to be trusted.
     * 0, or the first failure's negative CLPT_E code with its message set
     * (clpt_errmsg). Sticky: the process stops using the backend, and a new
     * one resumes from the last checkpoint. It first waits for the work
     * queued so far (a device fault shows only then). The model checks it
     * after every forward, backward and optimizer step, and before a
     * checkpoint is written (clpt_model_status). */
    int (*status)(void);
};

/* The CPU reference backend; always built. */
const clpt_backend *clpt_backend_cpu(void);

/* The CPU reference with activations stored in bf16 (act_bytes 2), rounded
 * to nearest even as on the GPU; the same fp32 arithmetic otherwise. For
 * testing the model's bf16 activation path without a GPU, and for seeing
 * what bf16 activation storage does to a run. Always built. */
const clpt_backend *clpt_backend_cpu_bf16(void);

/* Backend by name ("cpu", "cpu-bf16", "cuda", "auto"). "auto" picks cuda when it is built
 * and a GPU is present, else cpu (saying so once on stderr). Returns NULL and
 * sets the error message for an unknown or unavailable name. */
const clpt_backend *clpt_backend_get(const char *name);

/* The backend a configuration asks for ([runtime] backend), with its
 * [runtime] cuda_gemm, cuda_attention, cuda_activations, cuda_gelu_fusion
 * and cuda_logits applied when it is cuda. NULL with the error message set
 * when it is unavailable. */
struct clpt_config;
const clpt_backend *clpt_backend_from_config(const struct clpt_config *c);

#endif
