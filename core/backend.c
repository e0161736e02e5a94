/* backend.c - choosing a backend by name. */
#include "backend.h"

#include <stdio.h>
#include <string.h>

#include "clpt.h"
#include "config.h"

#ifdef CLPT_WITH_CUDA
#include "cuda/clpt_cuda.h"
#endif

const clpt_backend *clpt_backend_get(const char *name)
{
    if (!name || !strcmp(name, "cpu")) return clpt_backend_cpu();
    if (!strcmp(name, "cpu-bf16")) return clpt_backend_cpu_bf16();
    if (!strcmp(name, "cuda") || !strcmp(name, "auto")) {
#ifdef CLPT_WITH_CUDA
        const clpt_backend *be = clpt_backend_cuda();
        if (be) return be;
        if (!strcmp(name, "cuda")) {
            clpt_err_wrap(CLPT_EUNSUP, "backend cuda: no usable GPU: ");
            return NULL;
        }
        fprintf(stderr, "clpt: no GPU available, using the CPU backend\n");
#else
        if (!strcmp(name, "cuda")) {
            clpt_err(CLPT_EUNSUP, "backend cuda: this clpt was built without CUDA (CLPT_CUDA=OFF or no nvcc)");
            return NULL;
        }
#endif
        return clpt_backend_cpu();
    }
    clpt_err(CLPT_EINVAL, "unknown backend '%s' (valid: cpu, cpu-bf16, cuda, auto)", name);
    return NULL;
}

const clpt_backend *clpt_backend_from_config(const clpt_config *c)
{
    static const char *const names[] = {[CLPT_RUN_CPU] = "cpu", [CLPT_RUN_CUDA] = "cuda",
                                        [CLPT_RUN_AUTO] = "auto", [CLPT_RUN_CPU_BF16] = "cpu-bf16"};
    int k = c->runtime.backend;
    const clpt_backend *be = clpt_backend_get(k >= 0 && k <= CLPT_RUN_CPU_BF16 ? names[k] : "auto");
#ifdef CLPT_WITH_CUDA
    if (be && !strcmp(be->name, "cuda")) {
        if (c->runtime.cuda_gemm > 0 && clpt_cuda_set_gemm(clpt_cuda_gemm_names[c->runtime.cuda_gemm])) return NULL;
        if (c->runtime.cuda_attention > 0 && clpt_cuda_set_attn(clpt_cuda_attention_names[c->runtime.cuda_attention]))
            return NULL;
        if (c->runtime.cuda_activations > 0) {
            if (clpt_cuda_set_activations(clpt_cuda_activation_names[c->runtime.cuda_activations]))
                return NULL;
            be = clpt_backend_cuda(); /* the vtable for that format */
        }
        if (c->runtime.cuda_gelu_fusion > 0) clpt_cuda_set_gelu_fusion(c->runtime.cuda_gelu_fusion == 2);
        if (c->runtime.cuda_logits > 0 && clpt_cuda_set_logits(clpt_cuda_logits_names[c->runtime.cuda_logits]))
            return NULL;
    }
#endif
    return be;
}
