/* bench_cuda - GPU throughput of the cuda backend, for bench/device.sh.
 *
 *   bench_cuda gemm [--size 8192] [--reps 20]
 *       the card's measured bf16 GEMM rate (cuBLASLt), the MFU reference
 *   bench_cuda train --name gpt2 --layers 12 --heads 12 --embd 768
 *       [--ctx 1024 --vocab 50257 -T 1024] [--batches 64,32,16,8,4,2,1]
 *       [--steps 10 --warmup 2 --eval-steps 10 --max-seconds 60]
 *       [--gemm bf16|bf16fast|tf32|fp32 --lt 1 --attn simt|mma]
 *       [--peak 989 --measured 0]
 *       trains at the first batch size of the list that fits (forward,
 *       backward, AdamW with clipping), then times evaluation forwards
 *
 * Every result is one line starting with RESULT (key=value pairs) for the
 * script to collect; everything else is progress. Parameters are filled on
 * the device (uniform, std 0.02; LayerNorm weights 1): the host-side GPT-2
 * initialisation of a 1.5B model would take longer than the benchmark.
 * FLOPs per token: 6N + 6LCT for training (llm.c's count, attention
 * counted causally), a third of that for evaluation. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
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
    const char *name, *gemm, *batches, *attn;
    clpt_model_config cfg;
    int T, steps, warmup, eval_steps, lt, size, reps;
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
        else if (!strcmp(a, "--peak")) o->peak = atof(v);
        else if (!strcmp(a, "--measured")) o->measured = atof(v);
        else if (!strcmp(a, "--size")) o->size = atoi(v);
        else if (!strcmp(a, "--reps")) o->reps = atoi(v);
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
    double N = (double)clpt_model_nparams(m);
    double fpt = 6.0 * N + 6.0 * o->cfg.n_layer * (double)o->cfg.n_embd * T;
    double tps = B * T / train_s, etps = B * T / eval_s, tflops = tps * fpt / 1e12;
    printf("RESULT kind=train name=%s params=%.1fM L=%d C=%d B=%d T=%d gemm=%s lt=%d attn=%s "
           "steps=%d train_ms=%.2f train_tps=%.0f tflops=%.1f mfu_peak=%.1f mfu_measured=%.1f "
           "eval_tps=%.0f eval_ratio=%.2f peak_gb=%.2f dev_used_gb=%.2f loss=%.4f eval_loss=%.4f\n",
           o->name, N / 1e6, o->cfg.n_layer, o->cfg.n_embd, B, T, clpt_cuda_gemm(), clpt_cuda_lt(),
           clpt_cuda_attn(),
           steps, train_s * 1e3, tps, tflops, o->peak > 0 ? 100 * tflops / o->peak : 0.0,
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
    if (clpt_model_config_check(&o->cfg) || o->T < 1 || o->T > o->cfg.n_ctx)
        return fprintf(stderr, "bench_cuda: bad model or T: %s\n", clpt_errmsg()), 1;
    if (clpt_cuda_set_gemm(o->gemm) || clpt_cuda_set_attn(o->attn))
        return fprintf(stderr, "bench_cuda: %s\n", clpt_errmsg()), 1;
    clpt_cuda_set_lt(o->lt);
    char dev[256];
    clpt_cuda_device_info(dev, sizeof dev, NULL, NULL, NULL);
    printf("%s: L=%d H=%d C=%d V=%d T=%d on %s, GEMM %s, Lt %d, attention %s\n", o->name,
           o->cfg.n_layer, o->cfg.n_head, o->cfg.n_embd, o->cfg.vocab_size, o->T, dev, o->gemm,
           o->lt, o->attn);
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
    opts o = {.name = "model", .gemm = "bf16", .attn = "simt", .batches = "64,48,32,24,16,12,8,6,4,2,1",
              .cfg = {12, 12, 768, 1024, 50257, 1e-5f}, .T = 1024, .steps = 10, .warmup = 2,
              .eval_steps = 10, .lt = 1, .size = 8192, .reps = 20, .max_seconds = 60,
              .peak = 989, .measured = 0};
    if (argc < 2 || parse(&o, argc, argv)) {
        fprintf(stderr, "usage: bench_cuda gemm|train [options] (see bench/bench_cuda.c)\n");
        return 2;
    }
    if (!strcmp(argv[1], "gemm")) return cmd_gemm(&o);
    if (!strcmp(argv[1], "train")) return cmd_train(&o);
    fprintf(stderr, "bench_cuda: unknown command %s\n", argv[1]);
    return 2;
}
