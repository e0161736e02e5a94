/* The cpu-bf16 backend (activations stored in bf16): its rounding, each op
 * bit for bit against the fp32 op on rounded inputs, and a tiny GPT-2's
 * loss, gradients and a 50-step training curve against the cpu backend. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "model.h"
#include "rng.h"

static const clpt_backend *F32, *BF;

/* ---- conversion ------------------------------------------------------------ */

static uint16_t to_bf16(float x)
{
    uint16_t h;
    BF->act_to_device((clpt_act *)&h, &x, 1);
    return h;
}

static float round_trip(float x)
{
    uint16_t h = to_bf16(x);
    float y;
    BF->act_to_host(&y, (const clpt_act *)&h, 1);
    return y;
}

static void test_conversion(void)
{
    CHECK(to_bf16(1.0f) == 0x3f80 && to_bf16(-2.0f) == 0xc000); /* the upper half */
    CHECK(round_trip(1.0f + 0x1p-7f) == 1.0f + 0x1p-7f);        /* exact */
    CHECK(round_trip(1.0f + 0x1p-8f) == 1.0f);                  /* tie, to even: down */
    CHECK(round_trip(1.0f + 3 * 0x1p-8f) == 1.0f + 0x1p-6f);    /* tie, to even: up */
    CHECK(round_trip(-(1.0f + 0x1p-8f)) == -1.0f);
    CHECK(round_trip(1.0f + 0x1p-8f + 0x1p-20f) == 1.0f + 0x1p-7f); /* past the tie */
    CHECK(round_trip(1.0f + 0x1p-8f - 0x1p-20f) == 1.0f);
    CHECK(round_trip(FLT_MAX) == INFINITY); /* rounds over the top, as on the GPU */
    CHECK(round_trip(INFINITY) == INFINITY && round_trip(-INFINITY) == -INFINITY);
    float z = round_trip(-0.0f);
    CHECK(z == 0.0f && signbit(z));
    CHECK(!signbit(round_trip(0.0f)));
    /* NaNs stay NaN and quiet, even a signalling one whose payload would
     * round into the exponent (0x7f800001 + rounding = infinity) */
    uint32_t snan_bits = 0x7f800001u, nnan_bits = 0xff812345u;
    float snan, nnan;
    memcpy(&snan, &snan_bits, sizeof snan);
    memcpy(&nnan, &nnan_bits, sizeof nnan);
    CHECK(isnan(round_trip(NAN)) && isnan(round_trip(snan)) && isnan(round_trip(nnan)));
    CHECK((to_bf16(snan) & 0x7fc0) == 0x7fc0);
    /* act_zero: exactly n elements to +0 */
    uint16_t buf[40];
    for (int i = 0; i < 40; i++) buf[i] = 0xbf80;
    BF->act_zero((clpt_act *)buf, 37);
    int zeros = 0;
    for (int i = 0; i < 37; i++) zeros += buf[i] == 0;
    CHECK(zeros == 37 && buf[37] == 0xbf80 && buf[39] == 0xbf80);
}

/* ---- each op against the fp32 op on rounded inputs -------------------------------- */

/* An activation in both forms: bf16 (for BF) and its exact fp32 widening
 * (for F32, whose clpt_act is a float array). 64-byte aligned, like the
 * backends' scratch, so vectorised sums run in the same order. */
typedef struct {
    clpt_act *b;
    float *f;
    size_t n;
} act2;

static float *falloc(size_t n) { return F32->alloc(n * sizeof(float)); }

static act2 act_new(clpt_rng *r, size_t n, double scale)
{
    act2 a = {BF->alloc(n * 2), falloc(n), n};
    for (size_t i = 0; a.f && i < n; i++) a.f[i] = (float)(scale * clpt_rng_normal(r));
    BF->act_to_device(a.b, a.f, n);
    BF->act_to_host(a.f, a.b, n);
    return a;
}
static act2 act_empty(size_t n) { return (act2){BF->alloc(n * 2), falloc(n), n}; }
static void act_free(act2 *a)
{
    BF->free(a->b);
    F32->free(a->f);
}

static float *floats(clpt_rng *r, size_t n, double scale)
{
    float *f = falloc(n);
    for (size_t i = 0; f && i < n; i++) f[i] = (float)(scale * clpt_rng_normal(r));
    return f;
}
static float *dup(const float *x, size_t n)
{
    float *f = falloc(n);
    if (f) memcpy(f, x, n * sizeof(float));
    return f;
}

#define A(x) ((clpt_act *)(x)) /* an fp32 array as the cpu backend's activation */

/* a's bf16 must equal its fp32 result rounded, bit for bit */
static int same_act(const char *op, const act2 *a)
{
    uint16_t *want = malloc(a->n * 2);
    BF->act_to_device(A(want), a->f, a->n);
    int ok = !memcmp(want, a->b, a->n * 2);
    free(want);
    CHECK_MSG(ok, "%s: bf16 output differs from the rounded fp32 op", op);
    return ok;
}
static int same(const char *op, const char *what, const void *x, const void *y, size_t bytes)
{
    int ok = !memcmp(x, y, bytes);
    CHECK_MSG(ok, "%s: %s differs from the fp32 op", op, what);
    return ok;
}

enum { OB = 2, OT = 8, OC = 16, ONH = 4, ON = OB * OT, OV = 23 };

static void test_forward_ops(clpt_rng *r)
{
    int tok[ON], tgt[ON];
    for (int i = 0; i < ON; i++) {
        tok[i] = (int)clpt_rng_below(r, OV);
        tgt[i] = (int)clpt_rng_below(r, OV);
    }
    float *wte = floats(r, OV * OC, 0.5), *wpe = floats(r, OT * OC, 0.5);
    float *w = floats(r, 4 * OC * OC, 0.2), *bias = floats(r, 4 * OC, 0.1);

    act2 out = act_empty(ON * OC);
    BF->encoder_forward(out.b, tok, wte, wpe, OB, OT, OC);
    F32->encoder_forward(A(out.f), tok, wte, wpe, OB, OT, OC);
    same_act("encoder_forward", &out);

    act2 x = act_new(r, ON * OC, 1.5);
    float m1[ON], s1[ON], m2[ON], s2[ON];
    BF->layernorm_forward(out.b, m1, s1, x.b, w, bias, ON, OC, 1e-5f);
    F32->layernorm_forward(A(out.f), m2, s2, A(x.f), w, bias, ON, OC, 1e-5f);
    same_act("layernorm_forward", &out);
    same("layernorm_forward", "mean", m1, m2, sizeof m1);
    same("layernorm_forward", "rstd", s1, s2, sizeof s1);

    for (int k = 0; k < 3; k++) { /* beta 0 with bias, 1 with bias, 1 without */
        float beta = k ? 1.0f : 0.0f;
        const float *bb = k < 2 ? bias : NULL;
        act2 o = act_new(r, ON * 4 * OC, 1.0);
        BF->matmul_forward(o.b, x.b, w, bb, ON, OC, 4 * OC, beta);
        F32->matmul_forward(A(o.f), A(x.f), w, bb, ON, OC, 4 * OC, beta);
        same_act(k ? "matmul_forward (beta 1, accumulating)" : "matmul_forward", &o);
        act_free(&o);
    }

    act2 qkv = act_new(r, ON * 3 * OC, 1.0);
    float l1[OB * ONH * OT], l2[OB * ONH * OT];
    BF->attention_forward(out.b, l1, qkv.b, OB, OT, OC, ONH);
    F32->attention_forward(A(out.f), l2, A(qkv.f), OB, OT, OC, ONH);
    same_act("attention_forward", &out);
    same("attention_forward", "lse", l1, l2, sizeof l1);

    act2 g = act_empty(ON * OC);
    BF->gelu_forward(g.b, x.b, ON * OC);
    F32->gelu_forward(A(g.f), A(x.f), ON * OC);
    same_act("gelu_forward", &g);

    float lo1[ON], lo2[ON], lg1[ON * OV], lg2[ON * OV];
    int rk1[ON], rk2[ON];
    BF->classifier(lo1, rk1, NULL, NULL, x.b, wte, tgt, ON, OC, OV, 0.0f);
    F32->classifier(lo2, rk2, NULL, NULL, A(x.f), wte, tgt, ON, OC, OV, 0.0f);
    same("classifier (no dinp)", "losses", lo1, lo2, sizeof lo1);
    same("classifier (no dinp)", "ranks", rk1, rk2, sizeof rk1);
    BF->logits(lg1, x.b, wte, ON, OC, OV);
    F32->logits(lg2, A(x.f), wte, ON, OC, OV);
    same("logits", "logits", lg1, lg2, sizeof lg1);

    act2 *as[] = {&out, &x, &qkv, &g};
    for (size_t i = 0; i < sizeof as / sizeof *as; i++) act_free(as[i]);
    float *fs[] = {wte, wpe, w, bias};
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) F32->free(fs[i]);
}

static void test_backward_ops(clpt_rng *r)
{
    int tok[ON], tgt[ON];
    for (int i = 0; i < ON; i++) {
        tok[i] = (int)clpt_rng_below(r, OV);
        tgt[i] = (int)clpt_rng_below(r, OV);
    }
    /* parameter gradients start non-zero in both, to see that they accumulate */
    float *wte = floats(r, OV * OC, 0.5), *w = floats(r, 4 * OC * OC, 0.2);
    float *dw1 = floats(r, 4 * OC * OC, 0.1), *dw2 = dup(dw1, 4 * OC * OC);
    float *db1 = floats(r, 4 * OC, 0.1), *db2 = dup(db1, 4 * OC);
    float *dp1 = floats(r, OT * OC, 0.1), *dp2 = dup(dp1, OT * OC);

    act2 d = act_new(r, ON * OC, 1.0);
    BF->encoder_backward(dw1, dp1, d.b, tok, OB, OT, OC);
    F32->encoder_backward(dw2, dp2, A(d.f), tok, OB, OT, OC);
    same("encoder_backward", "dwte", dw1, dw2, OV * OC * sizeof(float));
    same("encoder_backward", "dwpe", dp1, dp2, OT * OC * sizeof(float));

    act2 x = act_new(r, ON * OC, 1.5), dx = act_new(r, ON * OC, 1.0); /* dx accumulates */
    float mean[ON], rstd[ON], *ln = falloc(ON * OC);
    F32->layernorm_forward(A(ln), mean, rstd, A(x.f), w, w, ON, OC, 1e-5f); /* the stats */
    BF->layernorm_backward(dx.b, dw1, db1, d.b, x.b, w, mean, rstd, ON, OC);
    F32->layernorm_backward(A(dx.f), dw2, db2, A(d.f), A(x.f), w, mean, rstd, ON, OC);
    same_act("layernorm_backward (dinp accumulating)", &dx);
    same("layernorm_backward", "dw", dw1, dw2, OC * sizeof(float));
    same("layernorm_backward", "db", db1, db2, OC * sizeof(float));

    act2 dbig = act_new(r, ON * 4 * OC, 1.0), dxs = act_empty(ON * OC);
    BF->matmul_backward(dxs.b, dw1, db1, dbig.b, x.b, w, ON, OC, 4 * OC);
    F32->matmul_backward(A(dxs.f), dw2, db2, A(dbig.f), A(x.f), w, ON, OC, 4 * OC);
    same_act("matmul_backward", &dxs);
    same("matmul_backward", "dw", dw1, dw2, 4 * OC * OC * sizeof(float));
    same("matmul_backward", "dbias", db1, db2, 4 * OC * sizeof(float));

    /* attention backward reads the forward's output as stored (bf16) */
    act2 qkv = act_new(r, ON * 3 * OC, 1.0), o = act_empty(ON * OC);
    act2 dqkv = act_empty(ON * 3 * OC);
    float lse[OB * ONH * OT];
    BF->attention_forward(o.b, lse, qkv.b, OB, OT, OC, ONH);
    BF->act_to_host(o.f, o.b, ON * OC);
    BF->attention_backward(dqkv.b, d.b, qkv.b, o.b, lse, OB, OT, OC, ONH);
    F32->attention_backward(A(dqkv.f), A(d.f), A(qkv.f), A(o.f), lse, OB, OT, OC, ONH);
    same_act("attention_backward", &dqkv);

    /* gelu backward in place: dinp aliases dout */
    act2 gx = act_new(r, ON * 4 * OC, 2.0);
    BF->gelu_backward(dbig.b, gx.b, dbig.b, ON * 4 * OC);
    F32->gelu_backward(A(dbig.f), A(gx.f), A(dbig.f), ON * 4 * OC);
    same_act("gelu_backward (dinp aliasing dout)", &dbig);

    float lo1[ON], lo2[ON];
    float *dwte1 = floats(r, OV * OC, 0.1), *dwte2 = dup(dwte1, OV * OC);
    BF->classifier(lo1, NULL, dxs.b, dwte1, x.b, wte, tgt, ON, OC, OV, 1.0f / ON);
    F32->classifier(lo2, NULL, A(dxs.f), dwte2, A(x.f), wte, tgt, ON, OC, OV, 1.0f / ON);
    same_act("classifier", &dxs);
    same("classifier", "losses", lo1, lo2, sizeof lo1);
    same("classifier", "dwte", dwte1, dwte2, OV * OC * sizeof(float));

    act2 *as[] = {&d, &x, &dx, &dbig, &dxs, &qkv, &o, &dqkv, &gx};
    for (size_t i = 0; i < sizeof as / sizeof *as; i++) act_free(as[i]);
    float *fs[] = {ln, wte, w, dw1, dw2, db1, db2, dp1, dp2, dwte1, dwte2};
    for (size_t i = 0; i < sizeof fs / sizeof *fs; i++) F32->free(fs[i]);
    CHECK(BF->status() == 0);
}

/* ---- a tiny GPT-2 on both backends ------------------------------------------------ */

static const clpt_model_config cfg = {.n_layer = 2, .n_head = 4, .n_embd = 64,
                                      .n_ctx = 16, .vocab_size = 97, .ln_eps = 1e-5f};
enum { B = 2, T = 16 };

static void batch(int *x, int *y, uint64_t seed)
{
    clpt_rng r;
    clpt_rng_seed(&r, seed);
    for (int i = 0; i < B * T; i++) {
        x[i] = (int)clpt_rng_below(&r, cfg.vocab_size);
        y[i] = (int)clpt_rng_below(&r, cfg.vocab_size);
    }
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
}

static void test_model(void)
{
    clpt_model *m32, *m16;
    CHECK(clpt_model_new(&m32, &cfg, F32) == 0);
    CHECK(clpt_model_new(&m16, &cfg, BF) == 0);
    clpt_model_init_random(m32, 11);
    clpt_model_init_random(m16, 11);
    int x[B * T], y[B * T];
    batch(x, y, 5);
    float l32 = 0, l16 = 0;
    clpt_model_zero_grad(m32);
    clpt_model_zero_grad(m16);
    CHECK(clpt_model_forward_backward(m32, x, y, B, T, 1.0f, &l32) == 0);
    CHECK(clpt_model_forward_backward(m16, x, y, B, T, 1.0f, &l16) == 0);
    double rel = fabs(l16 - l32) / fabs(l32), worst = 2;
    const char *worst_name = "";
    const float *g32 = clpt_model_grads(m32), *g16 = clpt_model_grads(m16); /* host memory */
    for (int i = 0; i < clpt_model_ntensors(m32); i++) {
        const clpt_tensor *t = clpt_model_tensor(m32, i);
        double c = cosine(g16 + t->offset, g32 + t->offset, t->numel);
        CHECK_MSG(c >= 0.99, "%s: gradient cosine %.5f", t->name, c);
        if (c < worst) worst = c, worst_name = t->name;
    }
    double ratio = (double)clpt_model_activation_bytes(m16) / clpt_model_activation_bytes(m32);
    printf("model: loss %.6f (cpu) %.6f (cpu-bf16), relative error %.2e; min gradient cosine "
           "%.6f (%s); activation bytes %zu / %zu = %.3f\n",
           l32, l16, rel, worst, worst_name, clpt_model_activation_bytes(m16),
           clpt_model_activation_bytes(m32), ratio);
    CHECK(isfinite(l16) && l16 > 3.0f && rel <= 1e-2);
    CHECK(rel > 0); /* it does round: the same loss would mean fp32 activations */
    CHECK(ratio >= 0.45 && ratio <= 0.6);
    CHECK(clpt_model_status(m16) == 0);
    clpt_model_free(m32);
    clpt_model_free(m16);
}

/* 50 AdamW steps on one fixed batch from the same init: the loss curves */
static void test_training(void)
{
    enum { STEPS = 50 };
    clpt_model *m[2];
    const clpt_backend *be[2] = {F32, BF};
    float loss[2][STEPS];
    int x[B * T], y[B * T];
    batch(x, y, 9);
    clpt_adamw o = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                    .grad_clip = 1.0f};
    for (int k = 0; k < 2; k++) {
        CHECK(clpt_model_new(&m[k], &cfg, be[k]) == 0);
        clpt_model_init_random(m[k], 3);
        for (int s = 0; s < STEPS; s++) {
            clpt_model_zero_grad(m[k]);
            CHECK(clpt_model_forward_backward(m[k], x, y, B, T, 1.0f, &loss[k][s]) == 0);
            clpt_model_adamw_step(m[k], &o, 1e-3f);
            CHECK(clpt_model_status(m[k]) == 0);
        }
        clpt_model_free(m[k]);
    }
    double worst = 0;
    int at = 0;
    for (int s = 0; s < STEPS; s++) {
        double dev = fabs(loss[1][s] - loss[0][s]) / fabs(loss[0][s]);
        if (!(dev <= worst)) worst = dev, at = s;
    }
    printf("training: loss %.4f -> %.4f (cpu), %.4f -> %.4f (cpu-bf16); max relative "
           "deviation %.2e at step %d\n",
           loss[0][0], loss[0][STEPS - 1], loss[1][0], loss[1][STEPS - 1], worst, at + 1);
    CHECK(worst <= 0.02);
    for (int k = 0; k < 2; k++) CHECK(loss[k][STEPS - 1] < 0.8f * loss[k][0]);
}

int main(void)
{
    F32 = clpt_backend_cpu();
    BF = clpt_backend_cpu_bf16();
    CHECK(BF && BF->act_bytes == 2 && !strcmp(BF->name, "cpu-bf16"));
    CHECK(clpt_backend_get("cpu-bf16") == BF);
    clpt_rng r;
    clpt_rng_seed(&r, 1);
    test_conversion();
    test_forward_ops(&r);
    test_backward_ops(&r);
    test_model();
    test_training();
    CHECK_DONE();
}
