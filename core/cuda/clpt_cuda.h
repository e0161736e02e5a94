/* clpt_cuda.h - the cuda backend's knobs and probes beyond backend.h, for
 * tests and benchmarks. Everything else reaches the backend through the
 * clpt_backend vtable (clpt_backend_get("cuda")). Declared only in builds
 * with CLPT_WITH_CUDA; every function requires clpt_backend_cuda() to have
 * returned non-NULL first, except clpt_backend_cuda() itself. */
#ifndef CLPT_CUDA_H
#define CLPT_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The backend on the first visible device (CLPT_CUDA_DEVICE selects another),
 * initialised on first call, with the activation format currently set
 * (clpt_cuda_set_activations). NULL, with a one-line reason in
 * clpt_errmsg(), when no usable GPU is present (no driver, no device,
 * compute capability below 8.0) or initialisation fails; later calls give
 * the same answer. */
const clpt_backend *clpt_backend_cuda(void);

/* Activation format of the vtable clpt_backend_cuda() returns from now on
 * (a model keeps the vtable it was created with; both stay valid):
 *   "bf16" activations and their gradients stored in bf16, as the model's
 *          GEMM operands and outputs with no conversion, half the
 *          activation memory; arithmetic and accumulation stay fp32, and
 *          every GEMM takes bf16 operands whatever clpt_cuda_set_gemm says
 *          (the default: 1.18x the training rate of fp32 on an H100);
 *   "fp32" activations stored in fp32, the closer match to the CPU.
 * Default from CLPT_CUDA_ACT, else bf16. Returns 0 or CLPT_EINVAL. */
int clpt_cuda_set_activations(const char *format);
const char *clpt_cuda_activations(void);

/* GEMM precision, for every matmul, the classifier and logits:
 *   "fp32"     fp32 operands, fp32 arithmetic (the reference);
 *   "tf32"     fp32 operands, TF32 tensor cores inside cuBLAS;
 *   "bf16fast" fp32 operands, bf16 tensor cores inside cuBLAS;
 *   "bf16"     operands converted to bf16 by clpt (parameters through a
 *              cached shadow refreshed when they are written), fp32
 *              accumulation and fp32 outputs.
 * The default comes from the environment variable CLPT_CUDA_GEMM, else
 * "bf16". Returns 0, or CLPT_EINVAL for an unknown name. */
int clpt_cuda_set_gemm(const char *mode);
const char *clpt_cuda_gemm(void);

/* Attention implementation: "cudnn" (cuDNN's fused attention; bf16
 * activations only), "mma" (bf16 mma.sync with fp32 accumulation, scores
 * in registers; needs 16-byte aligned activations, else wmma is used),
 * "wmma" (bf16 tensor cores
 * through WMMA, scores through shared memory) or "simt" (fp32 on CUDA
 * cores, the tightest match to the CPU, any head size up to 128). The
 * tensor-core kernels take head size 64, i.e. every GPT-2; other head sizes
 * use simt. "auto", the default, is cudnn where it can run (bf16
 * activations, cuDNN loads, the shape plans) and mma elsewhere, without a
 * message; clpt_cuda_attn() then names the one that applies.
 * Default from CLPT_CUDA_ATTN, else auto. Returns 0 or CLPT_EINVAL. */
int clpt_cuda_set_attn(const char *impl);
const char *clpt_cuda_attn(void);

/* Whether the "cudnn" attention can run here: built with it (CLPT_CUDNN),
 * and libcudnn.so.9 loadable (CLPT_CUDNN_LIB names another file). "cudnn"
 * is cuDNN's fused attention on bf16 activations; with fp32 activations, or
 * a shape cuDNN has no plan for, mma runs instead (said once on stderr).
 * 1, or 0 with the reason in why. */
int clpt_cuda_cudnn_available(char *why, size_t cap);
/* how many cuDNN attention graphs have run so far: whether "cudnn" ran, or
 * fell back to mma */
long clpt_cuda_cudnn_runs(void);

/* Fuse matmul_forward's bias into the GEMM with cuBLASLt's epilogue (1) or
 * add it in a separate kernel before a plain GEMM (0). Default from
 * CLPT_CUDA_LT, else 1. Falls back to 0 silently for shapes cuBLASLt has no
 * algorithm for. */
void clpt_cuda_set_lt(int on);
int clpt_cuda_lt(void);

/* GELU in cuBLASLt's epilogues (1): the MLP's fc GEMM writes gelu(x) and
 * keeps x (GELU_AUX_BIAS), and its output projection's backward GEMM applies
 * gelu'(x) (DGELU), instead of separate GELU kernels (0). Needs the cuBLASLt
 * path (clpt_cuda_set_lt). -1, the default, is on with bf16 activations
 * (1.04x with mma attention on an H100) and off with fp32 (0.94x there);
 * clpt_cuda_gelu_fusion() says which applies to the current format.
 * Default from CLPT_CUDA_GELU_FUSION, else -1. Falls back to 0 when
 * cuBLASLt refuses. */
void clpt_cuda_set_gelu_fusion(int on);
int clpt_cuda_gelu_fusion(void);
/* how many GEMMs have run with a GELU epilogue so far: whether it happened */
long clpt_cuda_gelu_fused(void);

/* The logits the classifier's training pass takes, with bf16 GEMM operands:
 * "fp32" (the default; CLPT_CUDA_LOGITS sets another), or "bf16" (half the
 * logit traffic and memory; the softmax's inputs rounded to bf16, as
 * PyTorch autocast and llm.c have them). Evaluation always takes fp32
 * logits. clpt_cuda_logits() names the setting. */
int clpt_cuda_set_logits(const char *format);
const char *clpt_cuda_logits(void);
/* what training takes with activations of act_bytes (4 or 2) and the GEMM
 * mode set now: the setting over bf16 GEMM operands, else "fp32" */
const char *clpt_cuda_logits_in_effect(int act_bytes);
/* how many row passes have run over bf16 logits so far */
long clpt_cuda_logits_bf16_runs(void);

/* The classifier's largest logits chunk, in bytes (0: the default,
 * 2 GB); smaller ones let a test cover several chunks with little memory. */
void clpt_cuda_set_logits_chunk(size_t bytes);
/* Where a chunk does not fit in device memory it is halved until it does,
 * and later calls start from there: the rows per chunk since then, or 0
 * (none had to be; reset by clpt_cuda_set_logits_chunk). */
size_t clpt_cuda_logits_rows_fit(void);
/* Refuse device allocations that would take the backend's bytes in use
 * above bytes (0: no cap): for tests of a full device. */
void clpt_cuda_set_memory_cap(size_t bytes);
/* The training pass over each row of logits keeps the row in shared memory
 * where it fits (1, the default), so the logits are read once; 0 reads
 * them twice, for the test that covers that path too. */
void clpt_cuda_set_xent_cache(int on);
/* how many chunks have run through the cached pass so far */
long clpt_cuda_xent_cached(void);
/* LayerNorm backward in one kernel that computes dinp and the dw/db
 * partial sums in one read of dout and inp (1), or in three, dinp, the
 * partial sums and their finish (0, the default). Both are deterministic;
 * dw and db are summed in another order. Rows wider than 48 KB of column
 * sums per warp (C above 6144) always take the three. CLPT_CUDA_LN_FUSED=1
 * in the environment sets it when the backend starts. */
void clpt_cuda_set_ln_fused(int on);
/* how many LayerNorm backward passes have run through the fused kernel */
long clpt_cuda_ln_fused_runs(void);

/* Backend ops return nothing (backend.h), so the first failure inside one
 * (a CUDA or cuBLAS error, scratch memory exhausted, an unsupported shape)
 * is kept here: 0 or a negative CLPT_E code. The message is also printed
 * once on stderr. clear resets it after a recoverable failure (out of
 * memory); an illegal-address fault leaves the device unusable. */
int clpt_cuda_status(void);
const char *clpt_cuda_status_msg(void);
void clpt_cuda_clear_status(void);

/* Bytes allocated through the backend (buffers, scratch, bf16 shadows), its
 * high-water mark since the last reset, and the device's free/total bytes. */
void clpt_cuda_memory(size_t *in_use, size_t *peak, size_t *dev_free, size_t *dev_total);
void clpt_cuda_reset_peak(void);
/* Give back scratch buffers and bf16 shadows (they regrow on demand). */
void clpt_cuda_release_scratch(void);

/* Device name, multiprocessor count and compute capability. */
void clpt_cuda_device_info(char *name, size_t cap, int *sm_count, int *cc_major, int *cc_minor);

/* x[i] = uniform(-a, a) from a counter hash of (seed, i), on the device:
 * a fast initialisation for benchmarks of large models. */
void clpt_cuda_fill_uniform(float *x, size_t n, float a, uint64_t seed);

/* Measured bf16 GEMM rate: D (m,n) = A (m,k) B (k,n) in bf16 with fp32
 * accumulation through cuBLASLt, on random data; the median over `reps`
 * timed runs after warm-up, in TFLOP/s. Negative on failure. */
double clpt_cuda_bench_gemm(int m, int n, int k, int reps);

#ifdef __cplusplus
}
#endif

#endif
