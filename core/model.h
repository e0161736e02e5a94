/* model.h - GPT-2: learned positions, pre-LayerNorm, GELU (tanh), causal
 * multi-head attention, tied input/output embeddings.
 *
 * Parameters, gradients and the two AdamW moments each live in one slab of
 * n_params floats on the backend's device. The slab is a sequence of tensors
 * in Hugging Face order and layout (linear weights as Conv1D [in, out]); the
 * tensor table names each one with its Hugging Face name, so checkpoints,
 * snapshots and plugins address tensors by name. */
#ifndef CLPT_MODEL_H
#define CLPT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "backend.h"

typedef struct clpt_model_config {
    int n_layer;     /* transformer blocks */
    int n_head;      /* attention heads; n_embd % n_head == 0 */
    int n_embd;      /* channels C */
    int n_ctx;       /* maximum sequence length (positions) */
    int vocab_size;  /* V */
    float ln_eps;    /* LayerNorm epsilon (GPT-2: 1e-5) */
} clpt_model_config;

#define CLPT_TENSOR_NAME_MAX 64

typedef struct clpt_tensor {
    char name[CLPT_TENSOR_NAME_MAX]; /* e.g. "transformer.h.3.attn.c_attn.weight" */
    int ndim;                        /* 1 or 2 */
    int shape[2];                    /* Hugging Face shape */
    size_t offset;                   /* in floats, into each slab */
    size_t numel;
    int decay;                       /* 1 if AdamW weight decay applies (2-D tensors) */
} clpt_tensor;

typedef struct clpt_model clpt_model;

/* Check a configuration; 0 or CLPT_EINVAL with the offending field named. */
int clpt_model_config_check(const clpt_model_config *cfg);

/* Number of parameters of a configuration (tied embeddings counted once). */
size_t clpt_model_config_nparams(const clpt_model_config *cfg);

/* Create a model with zeroed parameters on backend `be`. Caller frees with
 * clpt_model_free(). Gradients and AdamW moments are allocated too. */
int clpt_model_new(clpt_model **out, const clpt_model_config *cfg, const clpt_backend *be);
void clpt_model_free(clpt_model *m);

/* GPT-2 initialisation: weights N(0, 0.02), residual projections
 * N(0, 0.02/sqrt(2*n_layer)), biases 0, LayerNorm weight 1. */
void clpt_model_init_random(clpt_model *m, uint64_t seed);

/* The backend's failure status (backend.h): 0, or the first failure of an
 * op, with its message. clpt_model_forward and _forward_backward return it;
 * after clpt_model_adamw_step (which returns the norm) callers check it. */
int clpt_model_status(const clpt_model *m);

const clpt_model_config *clpt_model_cfg(const clpt_model *m);
const clpt_backend *clpt_model_backend(const clpt_model *m);
size_t clpt_model_nparams(const clpt_model *m);
int clpt_model_ntensors(const clpt_model *m);
const clpt_tensor *clpt_model_tensor(const clpt_model *m, int i);
/* Tensor by Hugging Face name, with or without the "transformer." prefix;
 * NULL if none. */
const clpt_tensor *clpt_model_find(const clpt_model *m, const char *name);

/* The device slabs (n_params floats each); borrowed for the model's life. */
float *clpt_model_params(clpt_model *m);
float *clpt_model_grads(clpt_model *m);
float *clpt_model_adam_m(clpt_model *m);
float *clpt_model_adam_v(clpt_model *m);
/* AdamW step counter (number of optimizer steps taken). */
int64_t clpt_model_step(const clpt_model *m);
void clpt_model_set_step(clpt_model *m, int64_t step);

/* Forward pass on B sequences of T tokens (host arrays, int32 ids < V).
 * targets may be NULL (then no loss). losses_out (B*T floats, host) and
 * ranks_out (B*T ints, host) may be NULL. mean_loss may be NULL. */
int clpt_model_forward(clpt_model *m, const int *inputs, const int *targets,
                       int B, int T, float *mean_loss, float *losses_out,
                       int *ranks_out);

/* Forward and backward: gradients ACCUMULATE into the gradient slab, scaled
 * by grad_scale / (B*T) (grad_scale = 1/accumulation_steps). */
int clpt_model_forward_backward(clpt_model *m, const int *inputs,
                                const int *targets, int B, int T,
                                float grad_scale, float *mean_loss);

/* Full logits (B*T, V) to a host buffer, after a forward on `inputs`. */
int clpt_model_logits(clpt_model *m, const int *inputs, int B, int T, float *logits_out);

void clpt_model_zero_grad(clpt_model *m);
/* L2 norm of the whole gradient slab. */
double clpt_model_grad_norm(clpt_model *m);

typedef struct clpt_adamw {
    float beta1, beta2, eps, weight_decay;
    float grad_clip;   /* global-norm clip; <= 0 disables */
} clpt_adamw;

/* One AdamW step at learning rate lr: clips by global norm, updates the
 * parameters, increments the step. Returns the pre-clip gradient norm. */
double clpt_model_adamw_step(clpt_model *m, const clpt_adamw *opt, float lr);

/* Zero the AdamW moments and the step counter. */
void clpt_model_reset_optimizer(clpt_model *m);

/* Copy whole slabs between host and device (n_params floats). */
void clpt_model_get_params(clpt_model *m, float *host);
void clpt_model_set_params(clpt_model *m, const float *host);

/* Bytes of activation memory currently held (for benchmarks). */
size_t clpt_model_activation_bytes(const clpt_model *m);

#endif
