/* backend.c - choosing a backend by name. */
#include "backend.h"

#include <stdio.h>
#include <string.h>

#include "clpt.h"

#ifdef CLPT_WITH_CUDA
/* provided by core/cuda/ when built; NULL when no GPU is usable at run time */
const clpt_backend *clpt_backend_cuda(void);
#endif

const clpt_backend *clpt_backend_get(const char *name)
{
    if (!name || !strcmp(name, "cpu")) return clpt_backend_cpu();
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
    clpt_err(CLPT_EINVAL, "unknown backend '%s' (valid: cpu, cuda, auto)", name);
    return NULL;
}
