/* bench_train - training and evaluation throughput of the model on a backend.
 *
 *   bench_train [--layers L --heads H --embd C --ctx N --vocab V] [-B b] [-T t]
 *               [--steps k] [--warmup w] [--backend cpu|cuda]
 *
 * Prints tokens/s for forward+backward+AdamW and for forward only, achieved
 * GFLOP/s with FLOPs/token = 6*N + 6*L*C*T (training) and a third of that
 * (evaluation), the activation memory and the process's peak RSS. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "clpt.h"
#include "model.h"
#include "rng.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    clpt_model_config c = {12, 12, 768, 1024, 50257, 1e-5f};
    int B = 8, T = 128, steps = 5, warmup = 1;
    const char *backend = "cpu";
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--layers")) c.n_layer = atoi(v);
        else if (!strcmp(a, "--heads")) c.n_head = atoi(v);
        else if (!strcmp(a, "--embd")) c.n_embd = atoi(v);
        else if (!strcmp(a, "--ctx")) c.n_ctx = atoi(v);
        else if (!strcmp(a, "--vocab")) c.vocab_size = atoi(v);
        else if (!strcmp(a, "-B")) B = atoi(v);
        else if (!strcmp(a, "-T")) T = atoi(v);
        else if (!strcmp(a, "--steps")) steps = atoi(v);
        else if (!strcmp(a, "--warmup")) warmup = atoi(v);
        else if (!strcmp(a, "--backend")) backend = v;
        else {
            fprintf(stderr, "bench_train: unknown option %s\n", a);
            return 2;
        }
    }
    const clpt_backend *be = clpt_backend_get(backend);
    clpt_model *m;
    if (!be || clpt_model_new(&m, &c, be)) {
        fprintf(stderr, "bench_train: %s\n", clpt_errmsg());
        return 1;
    }
    clpt_model_init_random(m, 1);
    int *x = malloc(sizeof(int) * B * T), *y = malloc(sizeof(int) * B * T);
    clpt_rng r;
    clpt_rng_seed(&r, 2);
    for (int i = 0; i < B * T; i++) {
        x[i] = (int)clpt_rng_below(&r, c.vocab_size);
        y[i] = (int)clpt_rng_below(&r, c.vocab_size);
    }
    clpt_adamw o = {0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};
    double t0 = 0, n = (double)clpt_model_nparams(m);
    float loss = 0;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) t0 = now();
        clpt_model_zero_grad(m);
        if (clpt_model_forward_backward(m, x, y, B, T, 1.0f, &loss)) {
            fprintf(stderr, "bench_train: %s\n", clpt_errmsg());
            return 1;
        }
        clpt_model_adamw_step(m, &o, 1e-4f);
    }
    be->sync();
    double train_s = (now() - t0) / steps;
    for (int s = 0; s < warmup + steps; s++) {
        if (s == warmup) t0 = now();
        clpt_model_forward(m, x, y, B, T, &loss, NULL, NULL);
    }
    be->sync();
    double eval_s = (now() - t0) / steps;
    double flops_tok = 6.0 * n + 6.0 * c.n_layer * c.n_embd * T;
    double train_tps = B * T / train_s, eval_tps = B * T / eval_s;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("model L=%d H=%d C=%d V=%d params=%.1fM B=%d T=%d backend=%s\n", c.n_layer,
           c.n_head, c.n_embd, c.vocab_size, n / 1e6, B, T, be->name);
    printf("train: %.1f ms/step  %.1f tokens/s  %.1f GFLOP/s\n", train_s * 1e3, train_tps,
           train_tps * flops_tok / 1e9);
    printf("eval:  %.1f ms/step  %.1f tokens/s  %.1f GFLOP/s  (%.2fx train)\n", eval_s * 1e3,
           eval_tps, eval_tps * flops_tok / 3e9, eval_tps / train_tps);
    printf("memory: activations %.1f MB, peak RSS %.1f MB\n",
           clpt_model_activation_bytes(m) / 1e6, ru.ru_maxrss / 1e3);
    printf("RESULT train_tps=%.2f eval_tps=%.2f peak_rss_mb=%.1f\n", train_tps, eval_tps,
           ru.ru_maxrss / 1e3);
    clpt_model_free(m);
    free(x);
    free(y);
    return 0;
}
