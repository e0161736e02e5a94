/* backend_cpu_bf16.c - the CPU reference backend with activations stored in
 * bf16: each op widens its clpt_act inputs to fp32 scratch, runs the fp32
 * reference op (backend_cpu_ref.h) and rounds its clpt_act outputs back, as
 * CUDA's __float2bfloat16_rn does. The arithmetic is the cpu backend's, so a
 * run on it shows what bf16 activation storage alone does; memory, the
 * optimizer, vector algebra and status are the cpu backend's. It is not a
 * way to save memory: the scratch holds fp32 copies of an op's operands. */
#include "backend.h"

#include <string.h>

#include "backend_cpu_ref.h"

/* ---- bf16 <-> fp32 --------------------------------------------------------- */

typedef uint16_t bf16;

/* round to nearest even; every NaN becomes the canonical quiet NaN 0x7fff,
 * as __float2bfloat16_rn gives */
static inline bf16 bf16_round(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return 0x7fff;
    u += 0x7fffu + ((u >> 16) & 1u);
    return (bf16)(u >> 16);
}

static inline float bf16_widen(bf16 h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static void act_to_host(float *dst, const clpt_act *src, size_t n)
{
    const bf16 *s = (const bf16 *)src;
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) dst[i] = bf16_widen(s[i]);
}
static void act_to_device(clpt_act *dst, const float *src, size_t n)
{
    bf16 *d = (bf16 *)dst;
#pragma omp parallel for simd
    for (size_t i = 0; i < n; i++) d[i] = bf16_round(src[i]);
}
static void act_zero(clpt_act *x, size_t n) { memset(x, 0, n * sizeof(bf16)); }

/* ---- fp32 scratch ------------------------------------------------------------ */
/* Four slots, each an op's first, second, ... operand: an op never needs
 * more, and backend calls come from one host thread at a time. */

enum { NSLOT = 4 };
static float *slot_buf[NSLOT];
static size_t slot_cap[NSLOT];

/* slot k holding n floats, widened from x unless x is NULL; NULL (recorded
 * as the backend's status) without memory */
static float *widen(int k, const clpt_act *x, size_t n)
{
    float *f = clpt_cpu_scratch(&slot_buf[k], &slot_cap[k], n);
    if (f && x) act_to_host(f, x, n);
    return f;
}

#define NC(N, C) ((size_t)(N) * (size_t)(C))

/* ---- the layer ops: widen, compute in fp32, round ------------------------------ */

static void b_encoder_forward(clpt_act *out, const int *tokens, const float *wte,
                              const float *wpe, int B, int T, int C)
{
    size_t n = NC(B * T, C);
    float *o = widen(0, NULL, n);
    if (!o) return;
    clpt_cpu_encoder_forward(o, tokens, wte, wpe, B, T, C);
    act_to_device(out, o, n);
}

static void b_encoder_backward(float *dwte, float *dwpe, const clpt_act *dout,
                               const int *tokens, int B, int T, int C)
{
    float *d = widen(0, dout, NC(B * T, C));
    if (d) clpt_cpu_encoder_backward(dwte, dwpe, d, tokens, B, T, C);
}

static void b_layernorm_forward(clpt_act *out, float *mean, float *rstd, const clpt_act *inp,
                                const float *w, const float *b, int N, int C, float eps)
{
    float *x = widen(0, inp, NC(N, C)), *o = widen(1, NULL, NC(N, C));
    if (!x || !o) return;
    clpt_cpu_layernorm_forward(o, mean, rstd, x, w, b, N, C, eps);
    act_to_device(out, o, NC(N, C));
}

/* dinp accumulates: widen it, add in fp32, round once */
static void b_layernorm_backward(clpt_act *dinp, float *dw, float *db, const clpt_act *dout,
                                 const clpt_act *inp, const float *w, const float *mean,
                                 const float *rstd, int N, int C)
{
    float *dx = widen(0, dinp, NC(N, C)), *d = widen(1, dout, NC(N, C));
    float *x = widen(2, inp, NC(N, C));
    if (!dx || !d || !x) return;
    clpt_cpu_layernorm_backward(dx, dw, db, d, x, w, mean, rstd, N, C);
    act_to_device(dinp, dx, NC(N, C));
}

/* beta = 1 accumulates into out: widen it first */
static void b_matmul_forward(clpt_act *out, const clpt_act *inp, const float *w,
                             const float *bias, int N, int IN, int OUT, float beta)
{
    float *x = widen(0, inp, NC(N, IN)), *o = widen(1, beta != 0.0f ? out : NULL, NC(N, OUT));
    if (!x || !o) return;
    clpt_cpu_matmul_forward(o, x, w, bias, N, IN, OUT, beta);
    act_to_device(out, o, NC(N, OUT));
}

static void b_matmul_backward(clpt_act *dinp, float *dw, float *dbias, const clpt_act *dout,
                              const clpt_act *inp, const float *w, int N, int IN, int OUT)
{
    float *d = widen(0, dout, NC(N, OUT)), *x = widen(1, inp, NC(N, IN));
    float *dx = widen(2, NULL, NC(N, IN));
    if (!d || !x || !dx) return;
    clpt_cpu_matmul_backward(dx, dw, dbias, d, x, w, N, IN, OUT);
    act_to_device(dinp, dx, NC(N, IN));
}

static void b_attention_forward(clpt_act *out, float *lse, const clpt_act *qkv, int B, int T,
                                int C, int NH)
{
    size_t n = NC(B * T, C);
    float *q = widen(0, qkv, 3 * n), *o = widen(1, NULL, n);
    if (!q || !o) return;
    clpt_cpu_attention_forward(o, lse, q, B, T, C, NH);
    act_to_device(out, o, n);
}

static void b_attention_backward(clpt_act *dqkv, const clpt_act *dout, const clpt_act *qkv,
                                 const clpt_act *out, const float *lse, int B, int T, int C,
                                 int NH)
{
    size_t n = NC(B * T, C);
    float *d = widen(0, dout, n), *q = widen(1, qkv, 3 * n), *o = widen(2, out, n);
    float *dq = widen(3, NULL, 3 * n);
    if (!d || !q || !o || !dq) return;
    clpt_cpu_attention_backward(dq, d, q, o, lse, B, T, C, NH);
    act_to_device(dqkv, dq, 3 * n);
}

static void b_gelu_forward(clpt_act *out, const clpt_act *inp, size_t n)
{
    float *x = widen(0, inp, n), *o = widen(1, NULL, n);
    if (!x || !o) return;
    clpt_cpu_gelu_forward(o, x, n);
    act_to_device(out, o, n);
}

/* dinp may alias dout: both are read into scratch before dinp is written */
static void b_gelu_backward(clpt_act *dinp, const clpt_act *inp, const clpt_act *dout, size_t n)
{
    float *x = widen(0, inp, n), *d = widen(1, dout, n);
    if (!x || !d) return;
    clpt_cpu_gelu_backward(d, x, d, n);
    act_to_device(dinp, d, n);
}

static void b_classifier(float *losses, int *ranks, clpt_act *dinp, float *dwte,
                         const clpt_act *inp, const float *wte, const int *targets, int N,
                         int C, int V, float dscale)
{
    float *x = widen(0, inp, NC(N, C)), *dx = dinp ? widen(1, NULL, NC(N, C)) : NULL;
    if (!x || (dinp && !dx)) return;
    clpt_cpu_classifier(losses, ranks, dx, dwte, x, wte, targets, N, C, V, dscale);
    if (dinp) act_to_device(dinp, dx, NC(N, C));
}

static void b_logits(float *out, const clpt_act *inp, const float *wte, int N, int C, int V)
{
    float *x = widen(0, inp, NC(N, C));
    if (x) clpt_cpu_logits(out, x, wte, N, C, V);
}

/* ---- the vtable: the cpu backend's, with bf16 activations ------------------------ */

const clpt_backend *clpt_backend_cpu_bf16(void)
{
    static clpt_backend be;
    if (!be.name) {
        be = *clpt_backend_cpu();
        be.name = "cpu-bf16";
        be.act_bytes = 2;
        be.act_to_host = act_to_host;
        be.act_to_device = act_to_device;
        be.act_zero = act_zero;
        be.encoder_forward = b_encoder_forward;
        be.encoder_backward = b_encoder_backward;
        be.layernorm_forward = b_layernorm_forward;
        be.layernorm_backward = b_layernorm_backward;
        be.matmul_forward = b_matmul_forward;
        be.matmul_backward = b_matmul_backward;
        be.attention_forward = b_attention_forward;
        be.attention_backward = b_attention_backward;
        be.gelu_forward = b_gelu_forward;
        be.gelu_backward = b_gelu_backward;
        be.classifier = b_classifier;
        be.logits = b_logits;
    }
    return &be;
}
