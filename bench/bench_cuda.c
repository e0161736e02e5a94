/* bench_cuda - GPU throughput of the cuda backend, for bench/device.sh.
 *
 *   bench_cuda gemm [--size 8192] [--reps 20]
 *       the card's measured bf16 GEMM rate (cuBLASLt), the MFU reference
 *   bench_cuda train --name gpt2 --layers 12 --heads 12 --embd 768
 *       [--ctx 1024 --vocab 50257 -T 1024] [--batches 64,32,16,8,4,2,1]
 *       [--steps 10 --warmup 2 --eval-steps 10 --max-seconds 60]
 *       [--gemm bf16|bf16fast|tf32|fp32 --lt 1 --attn auto|cudnn|mma|wmma|simt]
 *       [--act bf16|fp32] [--gelu-fusion -1|0|1]  (defaults: clpt's, auto bf16 -1)
 *       [--xent-cache 1|0]  (logit rows kept in shared memory for the
 *       gradient pass where they fit, or read twice; RESULT's xent says which ran)
 *       [--logits fp32|bf16]  (the logits training takes; default clpt's)
 *       [--ln-fused 0|1]  (LayerNorm backward in one kernel or three; default
 *       clpt's; RESULT's lnf says whether the one ran)
 *       [--peak 989 --measured 0] [--profile 1]
 *       trains at the first batch size of the list that fits (forward,
 *       backward, AdamW with clipping), then times evaluation forwards
 *
 * Every result is one line starting with RESULT (key=value pairs) for the
 * script to collect; everything else is progress. --profile 1 adds, after
 * the timed steps, a table of the time per op and shape over 3 training and
 * 3 evaluation steps, each op synchronised on its own (PROFILE lines).
 * Parameters are filled on the device (uniform, std 0.02; LayerNorm weights 1): the host-side GPT-2
 * initialisation of a 1.5B model would take longer than the benchmark.
 * FLOPs per token: 6N + 6LCT for training (llm.c's count, attention
 * counted causally), a third of that for evaluation. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clpt.h"
#include "cuda/clpt_cuda.h"
#include "model.h"
#include "rng.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct opts {
    const char *name, *gemm, *batches, *attn, *act, *logits;
    clpt_model_config cfg;
    int T, steps, warmup, eval_steps, lt, size, reps, profile, gelu_fusion, xent_cache, ln_fused;
    double max_seconds, peak, measured;
} opts;

static int parse(opts *o, int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) return fprintf(stderr, "bench_cuda: %s needs a value\n", a), -1;
        i++;
        if (!strcmp(a, "--name")) o->name = v;
        else if (!strcmp(a, "--layers")) o->cfg.n_layer = atoi(v);
        else if (!strcmp(a, "--heads")) o->cfg.n_head = atoi(v);
        else if (!strcmp(a, "--embd")) o->cfg.n_embd = atoi(v);
        else if (!strcmp(a, "--ctx")) o->cfg.n_ctx = atoi(v);
        else if (!strcmp(a, "--vocab")) o->cfg.vocab_size = atoi(v);
        else if (!strcmp(a, "-T")) o->T = atoi(v);
        else if (!strcmp(a, "--batches")) o->batches = v;
        else if (!strcmp(a, "--steps")) o->steps = atoi(v);
        else if (!strcmp(a, "--warmup")) o->warmup = atoi(v);
        else if (!strcmp(a, "--eval-steps")) o->eval_steps = atoi(v);
        else if (!strcmp(a, "--max-seconds")) o->max_seconds = atof(v);
        else if (!strcmp(a, "--gemm")) o->gemm = v;
        else if (!strcmp(a, "--lt")) o->lt = atoi(v);
        else if (!strcmp(a, "--attn")) o->attn = v;
        else if (!strcmp(a, "--act")) o->act = v;
        else if (!strcmp(a, "--gelu-fusion")) o->gelu_fusion = atoi(v);
        else if (!strcmp(a, "--xent-cache")) o->xent_cache = atoi(v);
        else if (!strcmp(a, "--logits")) o->logits = v;
        else if (!strcmp(a, "--ln-fused")) o->ln_fused = atoi(v);
        else if (!strcmp(a, "--peak")) o->peak = atof(v);
        else if (!strcmp(a, "--measured")) o->measured = atof(v);
        else if (!strcmp(a, "--size")) o->size = atoi(v);
        else if (!strcmp(a, "--reps")) o->reps = atoi(v);
        else if (!strcmp(a, "--profile")) o->profile = atoi(v);
        else return fprintf(stderr, "bench_cuda: unknown option %s\n", a), -1;
    }
    return 0;
}

/* device-side initialisation; LayerNorm weights to 1 as GPT-2 starts */
static void init_params(clpt_model *m, uint64_t seed)
{
    const clpt_backend *be = clpt_model_backend(m);
    float *p = clpt_model_params(m);
    clpt_cuda_fill_uniform(p, clpt_model_nparams(m), 0.02f * sqrtf(3.0f), seed);
    for (int i = 0; i < clpt_model_ntensors(m); i++) {
        const clpt_tensor *t = clpt_model_tensor(m, i);
        const char *dot = strrchr(t->name, '.');
        if (strstr(t->name, ".ln_") && !strcmp(dot, ".weight")) be->fill(p + t->offset, 1.0f, t->numel);
    }
}


/* ---- --profile: every op timed on its own (synchronised before and after),
 * summed per op and shape over a few training and evaluation steps --------- */

static const clpt_backend *real;
static int prof_on;
typedef struct prof_row { char key[96]; double ms; long calls; } prof_row;
static prof_row prof_rows[128];
static int prof_n;

static double prof_begin(void)
{
    if (!prof_on) return 0;
    real->sync();
    return now();
}

static void prof_end(double t0, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void prof_end(double t0, const char *fmt, ...)
{
    if (!prof_on) return;
    real->sync();
    double ms = (now() - t0) * 1e3;
    char key[96];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(key, sizeof key, fmt, ap);
    va_end(ap);
    int i = 0;
    while (i < prof_n && strcmp(prof_rows[i].key, key)) i++;
    if (i == prof_n) {
        if (prof_n == 128) return;
        snprintf(prof_rows[prof_n].key, sizeof prof_rows[0].key, "%s", key);
        prof_rows[prof_n].ms = 0;
        prof_rows[prof_n++].calls = 0;
    }
    prof_rows[i].ms += ms;
    prof_rows[i].calls++;
}

#define PROF(call, ...)                 \
    do {                                \
        double t0_ = prof_begin();      \
        call;                           \
        prof_end(t0_, __VA_ARGS__);     \
    } while (0)

static void p_copy(void *d, const void *s, size_t n) { PROF(real->copy(d, s, n), "copy"); }
static void p_enc_f(clpt_act *o, const int *t, const float *wte, const float *wpe, int B, int T, int C)
{
    PROF(real->encoder_forward(o, t, wte, wpe, B, T, C), "encoder_forward");
}
static void p_enc_b(float *dwte, float *dwpe, const clpt_act *d, const int *t, int B, int T, int C)
{
    PROF(real->encoder_backward(dwte, dwpe, d, t, B, T, C), "encoder_backward");
}
static void p_ln_f(clpt_act *o, float *m, float *r, const clpt_act *i, const float *w, const float *b, int N, int C,
                   float eps)
{
    PROF(real->layernorm_forward(o, m, r, i, w, b, N, C, eps), "layernorm_forward");
}
static void p_ln_b(clpt_act *di, float *dw, float *db, const clpt_act *d, const clpt_act *i, const float *w,
                   const float *m, const float *r, int N, int C)
{
    PROF(real->layernorm_backward(di, dw, db, d, i, w, m, r, N, C), "layernorm_backward");
}
static void p_mm_f(clpt_act *o, const clpt_act *i, const float *w, const float *b, int N, int IN, int OUT, float beta)
{
    PROF(real->matmul_forward(o, i, w, b, N, IN, OUT, beta), "matmul_forward %dx%d", IN, OUT);
}
static void p_mm_b(clpt_act *di, float *dw, float *db, const clpt_act *d, const clpt_act *i, const float *w, int N,
                   int IN, int OUT)
{
    PROF(real->matmul_backward(di, dw, db, d, i, w, N, IN, OUT), "matmul_backward %dx%d", IN, OUT);
}
static void p_att_f(clpt_act *o, float *l, const clpt_act *q, int B, int T, int C, int NH)
{
    PROF(real->attention_forward(o, l, q, B, T, C, NH), "attention_forward");
}
static void p_att_b(clpt_act *dq, const clpt_act *d, const clpt_act *q, const clpt_act *o, const float *l, int B, int T,
                    int C, int NH)
{
    PROF(real->attention_backward(dq, d, q, o, l, B, T, C, NH), "attention_backward");
}
static void p_gelu_f(clpt_act *o, const clpt_act *i, size_t n) { PROF(real->gelu_forward(o, i, n), "gelu_forward"); }
static void p_gelu_b(clpt_act *di, const clpt_act *i, const clpt_act *d, size_t n)
{
    PROF(real->gelu_backward(di, i, d, n), "gelu_backward");
}
static void p_cls(float *l, int *r, clpt_act *di, float *dw, const clpt_act *i, const float *w, const int *t, int N,
                  int C, int V, float ds)
{
    PROF(real->classifier(l, r, di, dw, i, w, t, N, C, V, ds), "classifier%s", di ? " (training)" : "");
}
static void p_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float b1, float b2,
                    float eps, float wd, float bc1, float bc2, float gs)
{
    PROF(real->adamw(p, g, m, v, n, lr, b1, b2, eps, wd, bc1, bc2, gs), "adamw");
}
static void p_fill(float *x, float a, size_t n) { PROF(real->fill(x, a, n), "fill"); }
static void p_axpy(float *y, float a, const float *x, size_t n) { PROF(real->axpy(y, a, x, n), "axpy"); }
static void p_scale(float *x, float a, size_t n) { PROF(real->scale(x, a, n), "scale"); }
static void p_mm_gelu_f(clpt_act *o, clpt_act *pre, const clpt_act *i, const float *w, const float *b, int N,
                        int IN, int OUT)
{
    PROF(real->matmul_gelu_forward(o, pre, i, w, b, N, IN, OUT), "matmul_gelu_forward %dx%d", IN, OUT);
}
static void p_mm_b_gelu(clpt_act *di, float *dw, float *db, const clpt_act *d, const clpt_act *i, const float *w,
                        const clpt_act *pre, int N, int IN, int OUT)
{
    PROF(real->matmul_backward_gelu(di, dw, db, d, i, w, pre, N, IN, OUT), "matmul_backward_gelu %dx%d", IN, OUT);
}
static void p_act_zero(clpt_act *x, size_t n) { PROF(real->act_zero(x, n), "act_zero"); }
static double p_dot(const float *x, const float *y, size_t n)
{
    double r;
    PROF(r = real->dot(x, y, n), "dot");
    return r;
}

static const clpt_backend *profiled(const clpt_backend *be)
{
    static clpt_backend p;
    real = be;
    p = *be;
    p.copy = p_copy;
    p.encoder_forward = p_enc_f;
    p.encoder_backward = p_enc_b;
    p.layernorm_forward = p_ln_f;
    p.layernorm_backward = p_ln_b;
    p.matmul_forward = p_mm_f;
    p.matmul_backward = p_mm_b;
    p.attention_forward = p_att_f;
    p.attention_backward = p_att_b;
    p.gelu_forward = p_gelu_f;
    p.gelu_backward = p_gelu_b;
    p.classifier = p_cls;
    if (be->matmul_gelu_forward) p.matmul_gelu_forward = p_mm_gelu_f;
    if (be->matmul_backward_gelu) p.matmul_backward_gelu = p_mm_b_gelu;
    p.adamw = p_adamw;
    p.fill = p_fill;
    p.axpy = p_axpy;
    p.scale = p_scale;
    p.dot = p_dot;
    p.act_zero = p_act_zero;
    return &p;
}

static int prof_cmp(const void *a, const void *b)
{
    double x = ((const prof_row *)a)->ms, y = ((const prof_row *)b)->ms;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* one line per op and shape, largest first: ms per step, share, calls per step */
static void prof_report(const char *name, const char *what, int steps)
{
    double total = 0;
    for (int i = 0; i < prof_n; i++) total += prof_rows[i].ms;
    qsort(prof_rows, prof_n, sizeof prof_rows[0], prof_cmp);
    printf("PROFILE %s %s: %.2f ms per step in ops (each synchronised)\n", name, what, total / steps);
    for (int i = 0; i < prof_n; i++)
        printf("PROFILE %-34s %9.3f ms %5.1f%% %5ld calls\n", prof_rows[i].key, prof_rows[i].ms / steps,
               100 * prof_rows[i].ms / total, prof_rows[i].calls / steps);
    prof_n = 0;
}

static int train_step(clpt_model *m, const int *x, const int *y, int B, int T, float *loss)
{
    static const clpt_adamw o = {0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};
    clpt_model_zero_grad(m);
    int rc = clpt_model_forward_backward(m, x, y, B, T, 1.0f, loss);
    if (rc) return rc;
    clpt_model_adamw_step(m, &o, 1e-4f);
    return clpt_cuda_status();
}

/* One batch size: 0 and RESULT printed, or < 0 if it did not fit / failed. */
static int run_batch(const opts *o, const clpt_backend *be, int B, const int *x, const int *y)
{
    int T = o->T;
    clpt_model *m = NULL;
    clpt_cuda_reset_peak();
    if (clpt_model_new(&m, &o->cfg, be)) {
        printf("  B=%d: parameters do not fit: %s\n", B, clpt_errmsg());
        return -2; /* smaller batches will not help */
    }
    init_params(m, 1);
    float loss = NAN;
    double t0 = now();
    if (train_step(m, x, y, B, T, &loss)) {
        printf("  B=%d: %s\n", B, clpt_cuda_status() ? clpt_cuda_status_msg() : clpt_errmsg());
        clpt_model_free(m);
        return -1;
    }
    printf("  B=%d fits (first step %.2f s, loss %.4f)\n", B, now() - t0, loss);
    fflush(stdout);
    int steps = 0, rc = 0;
    for (int s = 1; s < o->warmup && !rc; s++) rc = train_step(m, x, y, B, T, &loss);
    double t1 = now();
    while (steps < o->steps && !rc) {
        rc = train_step(m, x, y, B, T, &loss);
        steps++;
        if (now() - t1 > o->max_seconds) break; /* time-boxed: fewer steps */
    }
    be->sync();
    double train_s = (now() - t1) / (steps ? steps : 1);
    int esteps = 0;
    float eloss = NAN;
    double t2 = now();
    while (esteps < o->eval_steps && !rc) {
        rc = clpt_model_forward(m, x, y, B, T, &eloss, NULL, NULL) || clpt_cuda_status();
        esteps++;
        if (now() - t2 > o->max_seconds / 2) break;
    }
    be->sync();
    double eval_s = (now() - t2) / (esteps ? esteps : 1);
    size_t in_use, peak, dfree, dtotal;
    clpt_cuda_memory(&in_use, &peak, &dfree, &dtotal);
    if (rc) {
        printf("  B=%d: failed while timing: %s\n", B, clpt_cuda_status_msg());
        clpt_model_free(m);
        return -1;
    }
    if (o->profile && real) {
        prof_on = 1;
        for (int s = 0; s < 3; s++) train_step(m, x, y, B, T, &loss);
        prof_on = 0;
        prof_report(o->name, "training", 3);
        prof_on = 1;
        for (int s = 0; s < 3; s++) clpt_model_forward(m, x, y, B, T, &eloss, NULL, NULL);
        prof_on = 0;
        prof_report(o->name, "evaluation", 3);
    }
    double N = (double)clpt_model_nparams(m);
    double fpt = 6.0 * N + 6.0 * o->cfg.n_layer * (double)o->cfg.n_embd * T;
    double tps = B * T / train_s, etps = B * T / eval_s, tflops = tps * fpt / 1e12;
    printf("RESULT kind=train name=%s params=%.1fM L=%d C=%d B=%d T=%d act=%s gemm=%s lt=%d gelu=%d attn=%s "
           "xent=%s logits=%s lnf=%d steps=%d train_ms=%.2f train_tps=%.0f tflops=%.1f mfu_peak=%.1f mfu_measured=%.1f "
           "eval_tps=%.0f eval_ratio=%.2f peak_gb=%.2f dev_used_gb=%.2f loss=%.4f eval_loss=%.4f\n",
           o->name, N / 1e6, o->cfg.n_layer, o->cfg.n_embd, B, T, be->act_bytes == 2 ? "bf16" : "fp32",
           be->act_bytes == 2 ? "bf16" : clpt_cuda_gemm(), clpt_cuda_lt(), clpt_cuda_gelu_fused() > 0,
           /* what ran: cudnn falls back to mma where it cannot */
           !strcmp(clpt_cuda_attn(), "cudnn") && clpt_cuda_cudnn_runs() == 0 ? "mma(cudnn-unavailable)"
                                                                               : clpt_cuda_attn(),
           clpt_cuda_xent_cached() > 0 ? "cached" : "twice", clpt_cuda_logits_in_effect(be->act_bytes),
           clpt_cuda_ln_fused_runs() > 0, steps,
           train_s * 1e3, tps, tflops, o->peak > 0 ? 100 * tflops / o->peak : 0.0,
           o->measured > 0 ? 100 * tflops / o->measured : 0.0, etps, etps / tps, peak / 1e9,
           (dtotal - dfree) / 1e9, loss, eloss);
    fflush(stdout);
    clpt_model_free(m);
    return 0;
}

static int cmd_train(const opts *o)
{
    const clpt_backend *be = clpt_backend_get("cuda");
    if (!be) return fprintf(stderr, "bench_cuda: %s\n", clpt_errmsg()), 1;
    if (clpt_cuda_set_activations(o->act)) return fprintf(stderr, "bench_cuda: %s\n", clpt_errmsg()), 1;
    be = clpt_backend_cuda();
    if (o->profile) be = profiled(be);
    if (clpt_model_config_check(&o->cfg) || o->T < 1 || o->T > o->cfg.n_ctx)
        return fprintf(stderr, "bench_cuda: bad model or T: %s\n", clpt_errmsg()), 1;
    if (clpt_cuda_set_gemm(o->gemm) || clpt_cuda_set_attn(o->attn))
        return fprintf(stderr, "bench_cuda: %s\n", clpt_errmsg()), 1;
    clpt_cuda_set_lt(o->lt);
    clpt_cuda_set_gelu_fusion(o->gelu_fusion);
    clpt_cuda_set_xent_cache(o->xent_cache);
    if (o->ln_fused >= 0) clpt_cuda_set_ln_fused(o->ln_fused);
    if (o->logits && clpt_cuda_set_logits(o->logits)) return fprintf(stderr, "bench_cuda: %s\n", clpt_errmsg()), 1;
    char dev[256];
    clpt_cuda_device_info(dev, sizeof dev, NULL, NULL, NULL);
    printf("%s: L=%d H=%d C=%d V=%d T=%d on %s, activations %s, GEMM %s, Lt %d, attention %s\n",
           o->name, o->cfg.n_layer, o->cfg.n_head, o->cfg.n_embd, o->cfg.vocab_size, o->T, dev, o->act,
           be->act_bytes == 2 ? "bf16" : o->gemm, o->lt, o->attn);
    char list[256];
    snprintf(list, sizeof list, "%s", o->batches);
    int maxB = 0;
    for (char *s = strtok(list, ","); s; s = strtok(NULL, ",")) maxB = atoi(s) > maxB ? atoi(s) : maxB;
    if (maxB < 1) return fprintf(stderr, "bench_cuda: empty --batches\n"), 1;
    int *x = malloc(sizeof(int) * maxB * o->T), *y = malloc(sizeof(int) * maxB * o->T);
    clpt_rng r;
    clpt_rng_seed(&r, 2);
    for (int i = 0; i < maxB * o->T; i++) {
        x[i] = (int)clpt_rng_below(&r, o->cfg.vocab_size);
        y[i] = (int)clpt_rng_below(&r, o->cfg.vocab_size);
    }
    int done = 0;
    snprintf(list, sizeof list, "%s", o->batches);
    for (char *s = strtok(list, ","); s && !done; s = strtok(NULL, ",")) {
        int rc = run_batch(o, be, atoi(s), x, y);
        if (rc == 0) done = 1;
        /* what a failed size left (scratch, a recorded out-of-memory) */
        clpt_cuda_clear_status();
        clpt_cuda_release_scratch();
        if (rc == -2) break;
    }
    if (!done) printf("RESULT kind=train name=%s status=does_not_fit\n", o->name);
    free(x);
    free(y);
    return done ? 0 : 1;
}

static int cmd_gemm(const opts *o)
{
    const clpt_backend *be = clpt_backend_get("cuda");
    if (!be) return fprintf(stderr, "bench_cuda: %s\n", clpt_errmsg()), 1;
    char dev[256];
    clpt_cuda_device_info(dev, sizeof dev, NULL, NULL, NULL);
    double tf = clpt_cuda_bench_gemm(o->size, o->size, o->size, o->reps);
    printf("RESULT kind=gemm device=\"%s\" m=%d n=%d k=%d tflops=%.1f\n", dev, o->size, o->size,
           o->size, tf);
    return tf > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    opts o = {.name = "model", .gemm = "bf16", .attn = "auto", .act = "bf16", .batches = "64,48,32,24,16,12,8,6,4,2,1",
              .cfg = {12, 12, 768, 1024, 50257, 1e-5f}, .T = 1024, .steps = 10, .warmup = 2,
              .eval_steps = 10, .lt = 1, .size = 8192, .reps = 20, .max_seconds = 60,
              .peak = 989, .measured = 0, .gelu_fusion = -1, .xent_cache = 1,
              .ln_fused = -1};
    if (argc < 2 || parse(&o, argc, argv)) {
        fprintf(stderr, "usage: bench_cuda gemm|train [options] (see bench/bench_cuda.c)\n");
        return 2;
    }
    if (!strcmp(argv[1], "gemm")) return cmd_gemm(&o);
    if (!strcmp(argv[1], "train")) return cmd_train(&o);
    fprintf(stderr, "bench_cuda: unknown command %s\n", argv[1]);
    return 2;
}
