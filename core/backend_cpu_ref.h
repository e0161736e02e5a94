/* backend_cpu_ref.h - the CPU reference ops on fp32 arrays, shared by the
 * cpu backend (fp32 activations) and cpu-bf16 (the same arithmetic on
 * activations stored in bf16). Semantics as in backend.h, with every
 * clpt_act an fp32 array. Internal to core/. */
#ifndef CLPT_BACKEND_CPU_REF_H
#define CLPT_BACKEND_CPU_REF_H

#include <stddef.h>

void clpt_cpu_encoder_forward(float *out, const int *tokens, const float *wte,
                              const float *wpe, int B, int T, int C);
void clpt_cpu_encoder_backward(float *dwte, float *dwpe, const float *dout,
                               const int *tokens, int B, int T, int C);
void clpt_cpu_layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                                const float *w, const float *b, int N, int C, float eps);
void clpt_cpu_layernorm_backward(float *dinp, float *dw, float *db, const float *dout,
                                 const float *inp, const float *w, const float *mean,
                                 const float *rstd, int N, int C);
void clpt_cpu_matmul_forward(float *out, const float *inp, const float *w,
                             const float *bias, int N, int IN, int OUT, float beta);
void clpt_cpu_matmul_backward(float *dinp, float *dw, float *dbias, const float *dout,
                              const float *inp, const float *w, int N, int IN, int OUT);
void clpt_cpu_attention_forward(float *out, float *lse, const float *qkv, int B, int T,
                                int C, int NH);
void clpt_cpu_attention_backward(float *dqkv, const float *dout, const float *qkv,
                                 const float *out, const float *lse, int B, int T, int C,
                                 int NH);
void clpt_cpu_gelu_forward(float *out, const float *inp, size_t n);
void clpt_cpu_gelu_backward(float *dinp, const float *inp, const float *dout, size_t n);
void clpt_cpu_classifier(float *losses, int *ranks, float *dinp, float *dwte,
                         const float *inp, const float *wte, const int *targets, int N,
                         int C, int V, float dscale);
void clpt_cpu_logits(float *out, const float *inp, const float *wte, int N, int C, int V);

/* Grow-on-demand scratch of n floats in *buf (capacity *cap); NULL, recorded
 * as the cpu backends' status, when there is no memory. */
float *clpt_cpu_scratch(float **buf, size_t *cap, size_t n);

#endif
