/* cuda_host.h - the cuda backend's host-side services that plain C++ files
 * (compiled by the host compiler, not nvcc: the cuDNN attention) may use.
 * cuda_common.cuh includes it; the definitions are in backend_cuda.cu. */
#ifndef CLPT_CUDA_HOST_H
#define CLPT_CUDA_HOST_H

#include <cuda_runtime.h>
#include <stddef.h>

/* Record a failure (the first one is kept in the backend's status and
 * printed once); also sets clpt_err. Returns code. */
int cu_fail(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
int cu_check_rt(cudaError_t e, const char *what, const char *file, int line);

/* the one stream every op runs on */
cudaStream_t cu_stream(void);

/* Grow-on-demand device scratch, one per purpose. Contents are not kept
 * across calls that use the same slot. NULL (recorded) on failure. */
enum { CU_SLOT_CONV_A, CU_SLOT_CONV_B, CU_SLOT_CONV_C, CU_SLOT_LOGITS,
       CU_SLOT_PARTIAL, CU_SLOT_ATT, CU_SLOT_DOT, CU_SLOT_ENC, CU_SLOT_HEADS,
       CU_SLOT_WIDE_A, CU_SLOT_WIDE_B, CU_SLOT_WIDE_C, /* fp32 copies of bf16 activations */
       CU_SLOT_CUDNN, /* cuDNN's workspace */
       CU_SLOT_COUNT };
void *cu_scratch(int slot, size_t bytes);
/* the same, but a failure is only NULL, not recorded: for a caller with
 * another way to do the work */
void *cu_scratch_try(int slot, size_t bytes);
/* gives one slot's memory back (after the stream's work is done), so that a
 * smaller request does not keep a larger block that failed to pair up */
void cu_scratch_drop(int slot);

/* 1 when the attention was chosen (clpt_cuda_set_attn, CLPT_CUDA_ATTN):
 * falling back from it is then said on stderr; 0 for the default choice */
int cu_attn_chosen(void);

/* cuDNN's fused attention on bf16 activations (cudnn/attention_cudnn.cpp,
 * built with CLPT_WITH_CUDNN), pointers to bf16 data: 0 done; 1 not
 * available for this shape or machine (said once on stderr), the caller
 * runs mma instead; negative: a failure, recorded */
int cu_cudnn_attention_forward(void *out, float *lse, const void *qkv, int B, int T, int C, int NH);
int cu_cudnn_attention_backward(void *dqkv, const void *dout, const void *qkv, const void *out,
                                const float *lse, int B, int T, int C, int NH);

#endif
