/* backend_cuda.cu - the cuda backend: device selection, memory, error
 * recording, scratch buffers, bf16 parameter shadows, and the vtable.
 * The ops themselves live in kernels.cu, gemm.cu, attention.cu,
 * attention_tc.cu and classifier.cu; docs/cuda.md describes the design. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"

cu_state g_cu;

cudaStream_t cu_stream(void) { return g_cu.stream; }

/* ---- errors ---------------------------------------------------------------- */

int cu_fail(int code, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (!g_cu.status) {
        /* ops return void, so say it once here rather than fail silently */
        g_cu.status = code;
        snprintf(g_cu.msg, sizeof g_cu.msg, "%s", buf);
        fprintf(stderr, "clpt: cuda: %s\n", buf);
    }
    return clpt_err(code, "cuda: %s", buf);
}

int cu_check_rt(cudaError_t e, const char *what, const char *file, int line)
{
    if (e == cudaSuccess) return 0;
    int code = e == cudaErrorMemoryAllocation ? CLPT_ENOMEM : CLPT_EIO;
    return cu_fail(code, "%s:%d: %s: %s", file, line, what, cudaGetErrorString(e));
}

int cu_check_blas(cublasStatus_t s, const char *what, const char *file, int line)
{
    if (s == CUBLAS_STATUS_SUCCESS) return 0;
    int code = s == CUBLAS_STATUS_ALLOC_FAILED ? CLPT_ENOMEM
               : s == CUBLAS_STATUS_NOT_SUPPORTED ? CLPT_EUNSUP : CLPT_EIO;
    return cu_fail(code, "%s:%d: %s: cuBLAS status %d", file, line, what, (int)s);
}

/* ---- tracked device memory ------------------------------------------------------- */

/* allocations refused above this many bytes in use (0: none), for tests of
 * what happens when the device is full */
static size_t mem_cap;
extern "C" void clpt_cuda_set_memory_cap(size_t bytes) { mem_cap = bytes; }

void *cu_malloc(size_t bytes)
{
    void *p = NULL;
    if (mem_cap && g_cu.in_use + bytes > mem_cap) {
        clpt_err(CLPT_ENOMEM, "cuda: cannot allocate %.1f MB on the device (over the test cap of %.1f MB)",
                 bytes / 1e6, mem_cap / 1e6);
        return NULL;
    }
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* not sticky: keep it out of later launch checks */
        clpt_err(CLPT_ENOMEM, "cuda: cannot allocate %.1f MB on the device (%s)", bytes / 1e6,
                 cudaGetErrorString(e));
        return NULL;
    }
    g_cu.in_use += bytes;
    if (g_cu.in_use > g_cu.peak) g_cu.peak = g_cu.in_use;
    return p;
}

void cu_free_tracked(void *p, size_t bytes)
{
    if (!p) return;
    /* no queued op may still use p */
    CU_CHECK(cudaStreamSynchronize(g_cu.stream));
    CU_CHECK(cudaFree(p));
    g_cu.in_use -= bytes;
}

/* Buffers handed out by alloc(), with their sizes: free() needs the extent
 * to drop the shadows of parameters inside it. Few and long-lived. */
typedef struct cu_block { void *p; size_t bytes; } cu_block;
static cu_block *blocks;
static int n_blocks, cap_blocks;

static void *be_alloc(size_t bytes)
{
    if (bytes == 0) bytes = 256;
    if (n_blocks == cap_blocks) {
        int cap = cap_blocks ? 2 * cap_blocks : 64;
        cu_block *nb = (cu_block *)realloc(blocks, (size_t)cap * sizeof *nb);
        if (!nb) {
            clpt_err(CLPT_ENOMEM, "cuda: out of host memory");
            return NULL;
        }
        blocks = nb;
        cap_blocks = cap;
    }
    void *p = cu_malloc(bytes);
    if (!p) return NULL;
    if (CU_CHECK(cudaMemsetAsync(p, 0, bytes, g_cu.stream))) {
        cu_free_tracked(p, bytes);
        return NULL;
    }
    blocks[n_blocks].p = p;
    blocks[n_blocks].bytes = bytes;
    n_blocks++;
    return p;
}

static void be_free(void *p)
{
    if (!p) return;
    for (int i = 0; i < n_blocks; i++) {
        if (blocks[i].p != p) continue;
        cu_params_freed(p, blocks[i].bytes);
        cu_free_tracked(p, blocks[i].bytes);
        blocks[i] = blocks[--n_blocks];
        return;
    }
    cu_fail(CLPT_EINVAL, "free: %p was not allocated by the cuda backend", p);
}

/* Host buffers are pageable; waiting after each copy means the caller may
 * reuse or free its buffer at once, as with the CPU backend. */
static void be_to_device(void *dst, const void *src, size_t bytes)
{
    cu_params_written(dst, bytes);
    if (CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, g_cu.stream))) return;
    CU_CHECK(cudaStreamSynchronize(g_cu.stream));
}

static void be_to_host(void *dst, const void *src, size_t bytes)
{
    if (CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, g_cu.stream))) return;
    CU_CHECK(cudaStreamSynchronize(g_cu.stream));
}

static void be_copy(void *dst, const void *src, size_t bytes)
{
    cu_params_written(dst, bytes);
    CU_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, g_cu.stream));
}

static void be_sync(void) { CU_CHECK(cudaStreamSynchronize(g_cu.stream)); }

/* ---- scratch ------------------------------------------------------------------------ */

static struct { void *p; size_t bytes; } scratch[CU_SLOT_COUNT];

static void *scratch_get(int slot, size_t bytes, int record)
{
    if (bytes <= scratch[slot].bytes) return scratch[slot].p;
    /* grow by a quarter more than asked, in whole MB, to avoid regrowing */
    size_t want = (bytes + bytes / 4 + (1 << 20) - 1) >> 20 << 20;
    if (scratch[slot].p) {
        CU_CHECK(cudaStreamSynchronize(g_cu.stream));
        cu_free_tracked(scratch[slot].p, scratch[slot].bytes);
        scratch[slot].p = NULL;
        scratch[slot].bytes = 0;
    }
    size_t got = want;
    void *p = cu_malloc(want);
    if (!p) p = cu_malloc(got = bytes); /* the margin may be what did not fit */
    if (!p) {
        if (record) cu_fail(CLPT_ENOMEM, "cannot allocate %.1f MB of scratch (slot %d)", bytes / 1e6, slot);
        return NULL;
    }
    scratch[slot].p = p;
    scratch[slot].bytes = got;
    return p;
}

void *cu_scratch(int slot, size_t bytes) { return scratch_get(slot, bytes, 1); }
void *cu_scratch_try(int slot, size_t bytes) { return scratch_get(slot, bytes, 0); }

void cu_scratch_drop(int slot)
{
    if (!scratch[slot].p) return;
    CU_CHECK(cudaStreamSynchronize(g_cu.stream));
    cu_free_tracked(scratch[slot].p, scratch[slot].bytes);
    scratch[slot].p = NULL;
    scratch[slot].bytes = 0;
}

void cu_scratch_release(void)
{
    for (int i = 0; i < CU_SLOT_COUNT; i++) cu_scratch_drop(i);
}

/* ---- bf16 shadows of parameters ------------------------------------------------------ */
/* A linear table: GPT-2 XL has under 600 tensors and lookups happen a few
 * hundred times per step, far below the cost of one kernel launch. */

typedef struct cu_shadow {
    const float *src;
    size_t n, cap; /* elements converted; elements allocated (the rest zero) */
    __nv_bfloat16 *dst;
    int valid;
} cu_shadow;

#define CU_SHADOW_MAX 4096
static cu_shadow shadows[CU_SHADOW_MAX];
static int n_shadows;

const __nv_bfloat16 *cu_weight_bf16_padded(const float *w, size_t n, size_t cap)
{
    cu_shadow *s = NULL;
    for (int i = 0; i < n_shadows && !s; i++)
        if (shadows[i].src == w && shadows[i].n == n) s = &shadows[i];
    if (s && s->cap < cap) { /* asked for more padding than it has: make it anew */
        CU_CHECK(cudaStreamSynchronize(g_cu.stream));
        cu_free_tracked(s->dst, s->cap * sizeof(__nv_bfloat16));
        *s = shadows[--n_shadows];
        s = NULL;
    }
    if (!s) {
        if (n_shadows == CU_SHADOW_MAX) return NULL; /* caller converts into scratch */
        if (cap < n) cap = n;
        __nv_bfloat16 *d = (__nv_bfloat16 *)cu_malloc(cap * sizeof *d);
        if (!d) return NULL;
        if (cap > n && CU_CHECK(cudaMemsetAsync(d + n, 0, (cap - n) * sizeof *d, g_cu.stream))) {
            cu_free_tracked(d, cap * sizeof *d);
            return NULL;
        }
        s = &shadows[n_shadows++];
        s->src = w;
        s->n = n;
        s->cap = cap;
        s->dst = d;
        s->valid = 0;
    }
    if (!s->valid) {
        if (cu_to_bf16(s->dst, w, n)) return NULL;
        s->valid = 1;
    }
    return s->dst;
}

const __nv_bfloat16 *cu_weight_bf16(const float *w, size_t n) { return cu_weight_bf16_padded(w, n, n); }

static int overlaps(const cu_shadow *s, const char *lo, const char *hi)
{
    const char *a = (const char *)s->src, *b = a + s->n * sizeof(float);
    return a < hi && lo < b;
}

void cu_params_written(const void *p, size_t bytes)
{
    const char *lo = (const char *)p, *hi = lo + bytes;
    for (int i = 0; i < n_shadows; i++)
        if (shadows[i].valid && overlaps(&shadows[i], lo, hi)) shadows[i].valid = 0;
    cu_tokens_written(p, bytes);
}

void cu_params_freed(const void *p, size_t bytes)
{
    const char *lo = (const char *)p, *hi = lo + bytes;
    cu_tokens_written(p, bytes);
    for (int i = 0; i < n_shadows;) {
        if (overlaps(&shadows[i], lo, hi)) {
            cu_free_tracked(shadows[i].dst, shadows[i].cap * sizeof(__nv_bfloat16));
            shadows[i] = shadows[--n_shadows];
        } else {
            i++;
        }
    }
}

void cu_shadows_release(void)
{
    for (int i = 0; i < n_shadows; i++)
        cu_free_tracked(shadows[i].dst, shadows[i].cap * sizeof(__nv_bfloat16));
    n_shadows = 0;
}

/* ---- knobs and probes (clpt_cuda.h) ---------------------------------------------------- */

static const char *const gemm_names[] = {"fp32", "tf32", "bf16fast", "bf16"};

extern "C" int clpt_cuda_set_gemm(const char *mode)
{
    for (int i = 0; i < 4; i++)
        if (mode && !strcmp(mode, gemm_names[i])) {
            g_cu.gemm_mode = i;
            return 0;
        }
    return clpt_err(CLPT_EINVAL, "cuda: unknown GEMM mode '%s' (valid: fp32, tf32, bf16fast, bf16)",
                    mode ? mode : "(null)");
}
extern "C" const char *clpt_cuda_gemm(void) { return gemm_names[g_cu.gemm_mode]; }
static const char *const attn_names[] = {"simt", "wmma", "mma", "cudnn"};
/* the built-in choice: cudnn where this clpt has it (it runs with bf16
 * activations where cuDNN loads and plans the shape), else mma */
static void attn_default(void)
{
#ifdef CLPT_WITH_CUDNN
    g_cu.attn = CU_ATTN_CUDNN;
#else
    g_cu.attn = CU_ATTN_MMA;
#endif
    g_cu.attn_auto = 1;
}
int cu_attn_chosen(void) { return !g_cu.attn_auto; }
extern "C" int clpt_cuda_set_attn(const char *impl)
{
    if (impl && !strcmp(impl, "auto")) {
        attn_default();
        return 0;
    }
    for (int i = 0; i < (int)(sizeof attn_names / sizeof attn_names[0]); i++)
        if (impl && !strcmp(impl, attn_names[i])) {
#ifndef CLPT_WITH_CUDNN
            if (i == CU_ATTN_CUDNN)
                return clpt_err(CLPT_EUNSUP, "cuda: this clpt was built without the cudnn attention "
                                             "(tools/cudnn_frontend.sh, then rebuild)");
#endif
            g_cu.attn = i;
            g_cu.attn_auto = 0;
            return 0;
        }
    return clpt_err(CLPT_EINVAL,
                    "cuda: unknown attention implementation '%s' (valid: auto, simt, wmma, mma, cudnn)",
                    impl ? impl : "(null)");
}
#ifndef CLPT_WITH_CUDNN
extern "C" int clpt_cuda_cudnn_available(char *why, size_t cap)
{
    if (why && cap) snprintf(why, cap, "built without the cudnn attention");
    return 0;
}
extern "C" long clpt_cuda_cudnn_runs(void) { return 0; }
#endif
static int act_bf16 = 1; /* the activation format clpt_backend_cuda() hands out */
extern "C" const char *clpt_cuda_attn(void)
{
    /* the default names what runs: cudnn needs bf16 activations and the library */
    if (g_cu.attn_auto && g_cu.attn == CU_ATTN_CUDNN)
        return act_bf16 && clpt_cuda_cudnn_available(NULL, 0) ? "cudnn" : "mma";
    return attn_names[g_cu.attn];
}
extern "C" int clpt_cuda_set_activations(const char *format)
{
    if (format && (!strcmp(format, "fp32") || !strcmp(format, "bf16"))) {
        act_bf16 = !strcmp(format, "bf16");
        return 0;
    }
    return clpt_err(CLPT_EINVAL, "cuda: unknown activation format '%s' (valid: fp32, bf16)",
                    format ? format : "(null)");
}
extern "C" const char *clpt_cuda_activations(void) { return act_bf16 ? "bf16" : "fp32"; }
extern "C" void clpt_cuda_set_lt(int on) { g_cu.use_lt = on != 0; }
extern "C" void clpt_cuda_set_gelu_fusion(int on) { g_cu.gelu_fusion = on < 0 ? -1 : on != 0; }
extern "C" int clpt_cuda_gelu_fusion(void) { return g_cu.gelu_fusion < 0 ? act_bf16 : g_cu.gelu_fusion; }
extern "C" long clpt_cuda_gelu_fused(void) { return g_cu.gelu_fused; }
extern "C" int clpt_cuda_lt(void) { return g_cu.use_lt; }
extern "C" int clpt_cuda_status(void) { return g_cu.status; }
extern "C" const char *clpt_cuda_status_msg(void) { return g_cu.msg; }
extern "C" void clpt_cuda_clear_status(void)
{
    cudaGetLastError();
    g_cu.status = 0;
    g_cu.msg[0] = 0;
}

extern "C" void clpt_cuda_memory(size_t *in_use, size_t *peak, size_t *dev_free, size_t *dev_total)
{
    size_t f = 0, t = 0;
    if (cudaMemGetInfo(&f, &t) != cudaSuccess) cudaGetLastError();
    if (in_use) *in_use = g_cu.in_use;
    if (peak) *peak = g_cu.peak;
    if (dev_free) *dev_free = f;
    if (dev_total) *dev_total = t;
}
extern "C" void clpt_cuda_reset_peak(void) { g_cu.peak = g_cu.in_use; }
extern "C" void clpt_cuda_release_scratch(void)
{
    cu_scratch_release();
    cu_shadows_release();
    cu_logits_fit_reset(); /* the room chunks had to fit in has changed */
}

extern "C" void clpt_cuda_device_info(char *name, size_t cap, int *sm_count, int *cc_major,
                                      int *cc_minor)
{
    if (name && cap) snprintf(name, cap, "%s", g_cu.name);
    if (sm_count) *sm_count = g_cu.sm_count;
    if (cc_major) *cc_major = g_cu.cc_major;
    if (cc_minor) *cc_minor = g_cu.cc_minor;
}

/* ---- initialisation ---------------------------------------------------------------- */

static clpt_backend cuda_backend, cuda_backend_bf16;

/* Kernel faults surface only at the next synchronising call, so the status
 * waits for the stream first: what the caller is about to trust has run. */
static int be_status(void)
{
    if (!g_cu.status) CU_CHECK(cudaStreamSynchronize(g_cu.stream));
    return g_cu.status ? clpt_err(g_cu.status, "%s", g_cu.msg) : 0;
}

/* ---- activations to and from the host: bf16 through fp32 scratch ---------------- */

static void act_to_host_f32(float *dst, const clpt_act *src, size_t n) { be_to_host(dst, src, n * sizeof(float)); }
static void act_to_host_bf16(float *dst, const clpt_act *src, size_t n)
{
    float *f = (float *)cu_scratch(CU_SLOT_CONV_A, n * sizeof(float));
    if (f && n && !cu_from_bf16(f, (const bf16 *)src, n)) be_to_host(dst, f, n * sizeof(float));
}
static void act_to_device_f32(clpt_act *dst, const float *src, size_t n) { be_to_device(dst, src, n * sizeof(float)); }
static void act_to_device_bf16(clpt_act *dst, const float *src, size_t n)
{
    float *f = (float *)cu_scratch(CU_SLOT_CONV_A, n * sizeof(float));
    if (!f || !n) return;
    be_to_device(f, src, n * sizeof(float));
    cu_to_bf16((bf16 *)dst, f, n);
}
template <typename A> static void act_zero(clpt_act *x, size_t n)
{
    CU_CHECK(cudaMemsetAsync(x, 0, n * sizeof(A), g_cu.stream));
}

/* one vtable per activation format: the layer ops' instantiations for A */
template <typename A> static void fill_vtable(clpt_backend *b)
{
    b->name = "cuda";
    b->act_bytes = (int)sizeof(A);
    b->alloc = be_alloc;
    b->free = be_free;
    b->to_device = be_to_device;
    b->to_host = be_to_host;
    b->copy = be_copy;
    b->sync = be_sync;
    b->act_to_host = sizeof(A) == 2 ? act_to_host_bf16 : act_to_host_f32;
    b->act_to_device = sizeof(A) == 2 ? act_to_device_bf16 : act_to_device_f32;
    b->act_zero = act_zero<A>;
    b->encoder_forward = cu_encoder_forward<A>;
    b->encoder_backward = cu_encoder_backward<A>;
    b->layernorm_forward = cu_layernorm_forward<A>;
    b->layernorm_backward = cu_layernorm_backward<A>;
    b->matmul_forward = cu_matmul_forward<A>;
    b->matmul_backward = cu_matmul_backward<A>;
    b->attention_forward = cu_attention_forward<A>;
    b->attention_backward = cu_attention_backward<A>;
    b->gelu_forward = cu_gelu_forward<A>;
    b->gelu_backward = cu_gelu_backward<A>;
    b->classifier = cu_classifier<A>;
    b->logits = cu_logits<A>;
    b->matmul_gelu_forward = cu_matmul_gelu_forward<A>;
    b->matmul_backward_gelu = cu_matmul_backward_gelu<A>;
    b->adamw = cu_adamw;
    b->fill = cu_fill;
    b->axpy = cu_axpy;
    b->scale = cu_scale;
    b->dot = cu_dot;
    b->mul_acc = cu_mul_acc;
    b->sq_acc = cu_sq_acc;
    b->status = be_status;
}

/* the reason init failed, repeated to every later caller */
static char init_reason[512];

static int init_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(init_reason, sizeof init_reason, fmt, ap);
    va_end(ap);
    cudaGetLastError();
    return -1;
}

static int init_device(void)
{
    int n = 0, dev = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) return init_fail("no CUDA device usable (%s)", cudaGetErrorString(e));
    if (n < 1) return init_fail("no CUDA device found");
    const char *env = getenv("CLPT_CUDA_DEVICE");
    if (env && *env) dev = atoi(env);
    if (dev < 0 || dev >= n) return init_fail("CLPT_CUDA_DEVICE=%d but %d device(s) present", dev, n);
    if ((e = cudaSetDevice(dev)) != cudaSuccess)
        return init_fail("cudaSetDevice(%d): %s", dev, cudaGetErrorString(e));
    cudaDeviceProp prop;
    if ((e = cudaGetDeviceProperties(&prop, dev)) != cudaSuccess)
        return init_fail("cudaGetDeviceProperties: %s", cudaGetErrorString(e));
    /* bf16 tensor cores and the sm_80/sm_90 code this is built for */
    if (prop.major < 8)
        return init_fail("%s has compute capability %d.%d; clpt needs 8.0 or newer", prop.name,
                         prop.major, prop.minor);
    snprintf(g_cu.name, sizeof g_cu.name, "%s", prop.name);
    g_cu.sm_count = prop.multiProcessorCount;
    g_cu.cc_major = prop.major;
    g_cu.cc_minor = prop.minor;
    g_cu.smem_optin = prop.sharedMemPerBlockOptin;
    if ((e = cudaStreamCreateWithFlags(&g_cu.stream, cudaStreamNonBlocking)) != cudaSuccess)
        return init_fail("cudaStreamCreate: %s", cudaGetErrorString(e));
    if (cublasCreate(&g_cu.blas) != CUBLAS_STATUS_SUCCESS) return init_fail("cublasCreate failed");
    if (cublasSetStream(g_cu.blas, g_cu.stream) != CUBLAS_STATUS_SUCCESS)
        return init_fail("cublasSetStream failed");
    if (cublasLtCreate(&g_cu.lt) != CUBLAS_STATUS_SUCCESS) return init_fail("cublasLtCreate failed");
    g_cu.lt_ws_bytes = (size_t)32 << 20; /* what cuBLAS itself uses on Hopper */
    g_cu.lt_ws = cu_malloc(g_cu.lt_ws_bytes);
    if (!g_cu.lt_ws) return init_fail("cannot allocate the cuBLASLt workspace");
    return 0;
}

extern "C" const clpt_backend *clpt_backend_cuda(void)
{
    static int tried, ready;
    if (!tried) {
        tried = 1;
        g_cu.gemm_mode = CU_GEMM_BF16;
        g_cu.use_lt = 1;
        g_cu.gelu_fusion = -1;
        attn_default();
        if (init_device() == 0) {
            const char *mode = getenv("CLPT_CUDA_GEMM"), *lt = getenv("CLPT_CUDA_LT");
            const char *attn = getenv("CLPT_CUDA_ATTN"), *act = getenv("CLPT_CUDA_ACT");
            const char *gelu = getenv("CLPT_CUDA_GELU_FUSION"), *lnf = getenv("CLPT_CUDA_LN_FUSED");
            if (mode && *mode && clpt_cuda_set_gemm(mode))
                fprintf(stderr, "clpt: %s; using bf16\n", clpt_errmsg());
            if (attn && *attn && clpt_cuda_set_attn(attn))
                fprintf(stderr, "clpt: %s; using the default\n", clpt_errmsg());
            if (act && *act && clpt_cuda_set_activations(act))
                fprintf(stderr, "clpt: %s; using bf16\n", clpt_errmsg());
            if (lt && *lt) g_cu.use_lt = atoi(lt) != 0;
            if (gelu && *gelu) g_cu.gelu_fusion = atoi(gelu) < 0 ? -1 : atoi(gelu) != 0;
            if (lnf && *lnf) clpt_cuda_set_ln_fused(atoi(lnf) != 0);
            fill_vtable<float>(&cuda_backend);
            fill_vtable<bf16>(&cuda_backend_bf16);
            ready = 1;
        }
    }
    if (!ready) {
        clpt_err(CLPT_EUNSUP, "%s", init_reason);
        return NULL;
    }
    return act_bf16 ? &cuda_backend_bf16 : &cuda_backend;
}
