/* The whole GPT-2 model on the cuda backend against the CPU reference:
 * one training step's loss (relative error <= 1e-2) and every gradient
 * tensor (cosine >= 0.99), per-token losses, ranks and logits; 50 AdamW
 * steps whose loss curve must track the CPU's; evaluation perplexity after
 * them; a checkpoint written from the GPU model and read back on the CPU
 * (and the other way); the same run twice gives the same bits. In fp32
 * GEMM mode the bounds are far tighter, which separates kernel bugs from
 * bf16 rounding. The same steps run with activations stored in bf16,
 * against the same fp32 CPU reference and the bounds. The
 * strategies on the GPU are test_cuda_strategies.c.
 * Skipped (77) without a GPU. */
#define _POSIX_C_SOURCE 200809L
#ifdef CLPT_WITH_CUDA
#include <unistd.h>

#include "model.h"
#include "test_cuda_util.h"

#include "checkpoint.h"
#include "cuda/clpt_cuda.h"

typedef struct pair { clpt_model *c, *g; } pair;

/* same random parameters on both backends; biases and LayerNorms perturbed
 * so that none of them is a trivial 0 or 1 */
static int pair_new(pair *p, const clpt_model_config *cfg, uint64_t seed)
{
    p->c = p->g = NULL;
    if (clpt_model_new(&p->c, cfg, cpu) || clpt_model_new(&p->g, cfg, gpu)) {
        fprintf(stderr, "model: %s\n", clpt_errmsg());
        return -1;
    }
    clpt_model_init_random(p->c, seed);
    float *h = clpt_model_params(p->c); /* the CPU slab is host memory */
    size_t n = clpt_model_nparams(p->c);
    for (size_t i = 0; i < n; i++) h[i] += (float)(0.02 * clpt_rng_normal(&rng));
    clpt_model_set_params(p->g, h);
    return 0;
}

static void pair_free(pair *p)
{
    clpt_model_free(p->c);
    clpt_model_free(p->g);
}

/* a learnable batch: each row counts up by its own stride, mod V */
static void make_batch(int *x, int *y, int B, int T, int V)
{
    for (int b = 0; b < B; b++) {
        int start = (int)clpt_rng_below(&rng, V), stride = 1 + (int)clpt_rng_below(&rng, 3);
        for (int t = 0; t < T; t++) {
            x[b * T + t] = (start + t * stride) % V;
            y[b * T + t] = (start + (t + 1) * stride) % V;
        }
    }
}

/* fp32 GEMMs with fp32 attention: tight bounds */
static int strict(const char *mode)
{
    return !strcmp(mode, "fp32") && !strcmp(clpt_cuda_attn(), "simt") && gpu->act_bytes == 4;
}

/* ---- one step: loss, gradients, per-token outputs ------------------------------------ */

static void test_step(const clpt_model_config *cfg, const char *mode, int B, int T)
{
    pair p;
    clpt_cuda_set_gemm(mode);
    if (pair_new(&p, cfg, 11)) {
        CHECK(0);
        return;
    }
    int N = B * T, V = cfg->vocab_size;
    int *x = malloc(N * sizeof(int)), *y = malloc(N * sizeof(int));
    make_batch(x, y, B, T, V);
    /* a smaller batch first: the activations must regrow for the real one */
    float lc, lg;
    CHECK(clpt_model_forward(p.g, x, y, 1, T / 2 ? T / 2 : 1, &lg, NULL, NULL) == 0);
    clpt_model_zero_grad(p.c);
    clpt_model_zero_grad(p.g);
    CHECK(clpt_model_forward_backward(p.c, x, y, B, T, 1.0f, &lc) == 0);
    CHECK(clpt_model_forward_backward(p.g, x, y, B, T, 1.0f, &lg) == 0);
    double rel = fabs(lg - lc) / fabs(lc), ltol = strict(mode) ? 1e-4 : 1e-2;
    printf("  step %s/%s act=%s gelu fused=%d logits=%s C=%d T=%d: loss cpu %.6f cuda %.6f rel %.2e\n", mode,
           clpt_cuda_attn(), gpu->act_bytes == 2 ? "bf16" : "fp32", clpt_cuda_gelu_fusion(), clpt_cuda_logits(),
           cfg->n_embd, T, lc, lg, rel);
    CHECK_MSG(rel <= ltol, "training loss (%s): rel %.3e > %.1e", mode, rel, ltol);

    /* gradients, tensor by tensor */
    size_t n = clpt_model_nparams(p.c);
    float *gg = malloc(n * sizeof(float)), *gc = clpt_model_grads(p.c);
    gpu->to_host(gg, clpt_model_grads(p.g), n * sizeof(float));
    double worst = 2, ctol = strict(mode) ? 0.99999 : 0.99;
    const char *worst_name = "";
    for (int i = 0; i < clpt_model_ntensors(p.c); i++) {
        const clpt_tensor *t = clpt_model_tensor(p.c, i);
        double c = cosine(gg + t->offset, gc + t->offset, t->numel);
        if (c < worst) worst = c, worst_name = t->name;
        CHECK_MSG(c >= ctol, "gradient %s (%s): cosine %.6f < %.5f", t->name, mode, c, ctol);
    }
    printf("  step %s: worst gradient cosine %.6f (%s)\n", mode, worst, worst_name);
    double gn_c = sqrt(cpu->dot(gc, gc, n)), gn_g = clpt_model_grad_norm(p.g);
    CHECK_CLOSE(gn_g / gn_c, 1.0, strict(mode) ? 1e-4 : 1e-2);

    /* evaluation outputs: per-token losses, ranks, logits */
    float *los_c = malloc(N * 4), *los_g = malloc(N * 4);
    int *rk_c = malloc(N * sizeof(int)), *rk_g = malloc(N * sizeof(int));
    CHECK(clpt_model_forward(p.c, x, y, B, T, &lc, los_c, rk_c) == 0);
    CHECK(clpt_model_forward(p.g, x, y, B, T, &lg, los_g, rk_g) == 0);
    compare_f32("per-token losses", los_g, los_c, N, strict(mode) ? 1e-4 : 1e-2);
    double dr = 0, sr = 0;
    for (int i = 0; i < N; i++) dr += abs(rk_g[i] - rk_c[i]), sr += rk_c[i];
    printf("  step %s: ranks mean |d| %.3f, mean rank %.2f\n", mode, dr / N, sr / N);
    CHECK_MSG(dr <= (strict(mode) ? 0.01 : 0.05) * sr + 1, "ranks (%s)", mode);
    float *lo_c = malloc((size_t)N * V * 4), *lo_g = malloc((size_t)N * V * 4);
    CHECK(clpt_model_logits(p.c, x, B, T, lo_c) == 0);
    CHECK(clpt_model_logits(p.g, x, B, T, lo_g) == 0);
    compare_f32("logits", lo_g, lo_c, (size_t)N * V, strict(mode) ? 1e-4 : 3e-2);
    CHECK_MSG(clpt_cuda_status() == 0, "cuda error: %s", clpt_cuda_status_msg());
    free(x); free(y); free(gg); free(los_c); free(los_g); free(rk_c); free(rk_g);
    free(lo_c); free(lo_g);
    pair_free(&p);
}

/* ---- 50 AdamW steps, then evaluation --------------------------------------------------- */

static double eval_ppl(clpt_model *m, int **xs, int **ys, int nb, int B, int T)
{
    double s = 0;
    for (int k = 0; k < nb; k++) {
        float l = 0;
        if (clpt_model_forward(m, xs[k], ys[k], B, T, &l, NULL, NULL)) return NAN;
        s += l;
    }
    return exp(s / nb);
}

static void test_training(const clpt_model_config *cfg, const char *mode, int B, int T)
{
    enum { STEPS = 50, NB = 4, NE = 3 };
    pair p;
    clpt_cuda_set_gemm(mode);
    if (pair_new(&p, cfg, 23)) {
        CHECK(0);
        return;
    }
    int N = B * T, *xs[NB + NE], *ys[NB + NE];
    for (int k = 0; k < NB + NE; k++) {
        xs[k] = malloc(N * sizeof(int));
        ys[k] = malloc(N * sizeof(int));
        make_batch(xs[k], ys[k], B, T, cfg->vocab_size);
    }
    double ppl0_c = eval_ppl(p.c, xs + NB, ys + NB, NE, B, T);
    clpt_adamw o = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f,
                    .grad_clip = 1.0f};
    double tol = strict(mode) ? 5e-3 : 3e-2, worst = 0, first = 0, last = 0;
    for (int s = 0; s < STEPS; s++) {
        float lc, lg;
        clpt_model_zero_grad(p.c);
        clpt_model_zero_grad(p.g);
        CHECK(clpt_model_forward_backward(p.c, xs[s % NB], ys[s % NB], B, T, 1.0f, &lc) == 0);
        CHECK(clpt_model_forward_backward(p.g, xs[s % NB], ys[s % NB], B, T, 1.0f, &lg) == 0);
        double nc = clpt_model_adamw_step(p.c, &o, 1e-3f), ng = clpt_model_adamw_step(p.g, &o, 1e-3f);
        double rel = fabs(lg - lc) / lc;
        if (rel > worst) worst = rel;
        if (s == 0) first = lc;
        last = lc;
        if (s % 10 == 0 || s == STEPS - 1 || rel > tol)
            printf("  train %s/%s step %2d: loss cpu %.5f cuda %.5f (rel %.1e)  grad norm %.4f %.4f\n",
                   mode, clpt_cuda_attn(), s, lc, lg, rel, nc, ng);
        CHECK_MSG(rel <= tol, "loss curve (%s) step %d: rel %.3e > %.1e", mode, s, rel, tol);
    }
    CHECK_MSG(last < first - 0.5, "the CPU loss must fall (%.3f -> %.3f)", first, last);
    printf("  train %s: worst loss rel %.2e over %d steps\n", mode, worst, STEPS);
    /* held-out perplexity */
    double pc = eval_ppl(p.c, xs + NB, ys + NB, NE, B, T), pg = eval_ppl(p.g, xs + NB, ys + NB, NE, B, T);
    printf("  eval %s: ppl %.4f -> cpu %.4f cuda %.4f\n", mode, ppl0_c, pc, pg);
    CHECK_MSG(fabs(pg - pc) / pc <= (strict(mode) ? 1e-2 : 3e-2), "eval perplexity (%s)", mode);
    /* the parameters themselves */
    size_t n = clpt_model_nparams(p.c);
    float *pg_h = malloc(n * sizeof(float));
    clpt_model_get_params(p.g, pg_h);
    double c = cosine(pg_h, clpt_model_params(p.c), n);
    printf("  train %s: parameter cosine %.7f\n", mode, c);
    CHECK_MSG(c >= (strict(mode) ? 0.9999 : 0.99), "parameters after training (%s)", mode);
    CHECK(clpt_model_step(p.g) == STEPS);
    CHECK_MSG(clpt_cuda_status() == 0, "cuda error: %s", clpt_cuda_status_msg());
    free(pg_h);
    for (int k = 0; k < NB + NE; k++) free(xs[k]), free(ys[k]);
    pair_free(&p);
}

/* ---- checkpoints: the same files from either backend ------------------------------------- */

static void test_checkpoint(const clpt_model_config *cfg)
{
    char dir[] = "/tmp/clpt_cuda_ckpt_XXXXXX", sub[64];
    if (!mkdtemp(dir)) {
        CHECK_MSG(0, "mkdtemp failed");
        return;
    }
    snprintf(sub, sizeof sub, "%s/ck", dir);
    clpt_cuda_set_gemm("bf16");
    pair p;
    if (pair_new(&p, cfg, 31)) {
        CHECK(0);
        return;
    }
    int B = 2, T = 16, N = B * T, *x = malloc(N * sizeof(int)), *y = malloc(N * sizeof(int));
    make_batch(x, y, B, T, cfg->vocab_size);
    clpt_adamw o = {0.9f, 0.95f, 1e-8f, 0.1f, 1.0f};
    float l;
    clpt_model_zero_grad(p.g);
    clpt_model_forward_backward(p.g, x, y, B, T, 1.0f, &l);
    clpt_model_adamw_step(p.g, &o, 1e-3f);
    CHECK(clpt_ckpt_save(p.g, sub, NULL, 1) == 0);
    clpt_model *back = NULL;
    CHECK(clpt_ckpt_load_model(&back, sub, cpu) == 0);
    if (back) {
        CHECK(clpt_ckpt_load_optimizer(back, sub) == 0);
        size_t n = clpt_model_nparams(back);
        float *h = malloc(n * sizeof(float));
        clpt_model_get_params(p.g, h);
        CHECK_MSG(!memcmp(h, clpt_model_params(back), n * 4), "GPU checkpoint -> CPU: parameters");
        gpu->to_host(h, clpt_model_adam_v(p.g), n * 4);
        CHECK_MSG(!memcmp(h, clpt_model_adam_v(back), n * 4), "GPU checkpoint -> CPU: AdamW v");
        CHECK(clpt_model_step(back) == 1);
        /* and into the GPU model again: its bf16 shadows must follow the load */
        float lc, lg;
        clpt_model_forward(back, x, y, B, T, &lc, NULL, NULL);
        clpt_model_set_params(p.g, clpt_model_params(p.c)); /* something else first */
        CHECK(clpt_ckpt_load_weights(p.g, sub) == 0);
        clpt_model_forward(p.g, x, y, B, T, &lg, NULL, NULL);
        printf("  checkpoint: loss after reload cpu %.6f cuda %.6f\n", lc, lg);
        CHECK(fabs(lg - lc) <= 1e-2 * fabs(lc));
        free(h);
        clpt_model_free(back);
    }
    free(x);
    free(y);
    pair_free(&p);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", dir);
}

/* ---- the same run twice on the GPU: the same bits --------------------------------------- */

static float *gpu_run(const clpt_model_config *cfg, const float *init, int **xs, int **ys, int nb, int B, int T)
{
    clpt_model *m;
    if (clpt_model_new(&m, cfg, gpu)) return NULL;
    clpt_model_set_params(m, init);
    clpt_adamw o = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1.0f};
    for (int s = 0; s < 2 * nb; s++) {
        float l;
        clpt_model_zero_grad(m);
        CHECK(clpt_model_forward_backward(m, xs[s % nb], ys[s % nb], B, T, 1.0f, &l) == 0);
        clpt_model_adamw_step(m, &o, 1e-3f);
    }
    size_t n = clpt_model_nparams(m);
    float *p = malloc(n * sizeof *p);
    clpt_model_get_params(m, p);
    clpt_model_free(m);
    return p;
}

/* repeated tokens in every batch (the token-embedding gradient's scatter
 * is where a nondeterministic sum would show) */
static void test_repeatable(const clpt_model_config *cfg, int B, int T)
{
    enum { NB = 3 };
    pair p;
    if (pair_new(&p, cfg, 29)) {
        CHECK(0);
        return;
    }
    size_t n = clpt_model_nparams(p.c);
    int *xs[NB], *ys[NB];
    for (int k = 0; k < NB; k++) {
        xs[k] = malloc(B * T * sizeof(int));
        ys[k] = malloc(B * T * sizeof(int));
        for (int i = 0; i < B * T; i++) {
            xs[k][i] = (int)clpt_rng_below(&rng, 7); /* few distinct ids: many repeats */
            ys[k][i] = (int)clpt_rng_below(&rng, cfg->vocab_size);
        }
    }
    float *a = gpu_run(cfg, clpt_model_params(p.c), xs, ys, NB, B, T);
    float *b = gpu_run(cfg, clpt_model_params(p.c), xs, ys, NB, B, T);
    CHECK(a && b);
    size_t diff = 0;
    for (size_t i = 0; a && b && i < n; i++) diff += memcmp(&a[i], &b[i], sizeof *a) != 0;
    printf("  repeat %s/%s: %zu of %zu parameters differ between two identical runs\n", clpt_cuda_gemm(),
           clpt_cuda_attn(), diff, n);
    CHECK_MSG(diff == 0, "two identical GPU runs differ in %zu parameters", diff);
    free(a);
    free(b);
    for (int k = 0; k < NB; k++) {
        free(xs[k]);
        free(ys[k]);
    }
    pair_free(&p);
}

int main(void)
{
    cpu = clpt_backend_cpu();
    CHECK(clpt_cuda_set_activations("fp32") == 0); /* the defaults are tested last */
    gpu = clpt_backend_cuda();
    if (!gpu) SKIP_TEST("no GPU: %s", clpt_errmsg());
    clpt_cuda_set_gelu_fusion(0);
    seed_rng();
    /* fp32 attention first: with fp32 GEMMs the bounds are tight */
    CHECK(clpt_cuda_set_attn("simt") == 0);
    /* head size 16, odd vocabulary; then head size 64 over two 64-row blocks */
    clpt_model_config small = {.n_layer = 2, .n_head = 4, .n_embd = 64, .n_ctx = 64,
                               .vocab_size = 301, .ln_eps = 1e-5f};
    clpt_model_config wide = {.n_layer = 2, .n_head = 2, .n_embd = 128, .n_ctx = 128,
                              .vocab_size = 1000, .ln_eps = 1e-5f};
    const char *modes[] = {"fp32", "tf32", "bf16fast", "bf16"};
    for (int k = 0; k < 4; k++) test_step(&small, modes[k], 4, 64);
    test_step(&wide, "fp32", 2, 128);
    test_step(&wide, "bf16", 2, 128);
    test_training(&small, "fp32", 4, 32);
    test_training(&small, "bf16", 4, 32);
    test_checkpoint(&small);
    /* tensor-core attention (head size 64) */
    CHECK(clpt_cuda_set_attn("mma") == 0);
    test_step(&wide, "fp32", 2, 128);
    test_step(&wide, "bf16", 2, 128);
    test_training(&wide, "bf16", 2, 128);
    test_repeatable(&wide, 4, 128);
    clpt_cuda_set_gelu_fusion(1);
    test_step(&wide, "bf16", 2, 128);
    clpt_cuda_set_gelu_fusion(0);
    CHECK(clpt_cuda_set_logits("bf16") == 0); /* bf16 logits over fp32 activations' bf16 GEMMs */
    long lbf_runs = clpt_cuda_logits_bf16_runs();
    test_step(&wide, "bf16", 2, 128);
    CHECK_MSG(clpt_cuda_logits_bf16_runs() > lbf_runs, "bf16 logits did not run");
    CHECK(clpt_cuda_set_logits("fp32") == 0);

    /* activations stored in bf16 (every GEMM bf16), against the fp32 CPU */
    CHECK(clpt_cuda_set_activations("bf16") == 0);
    gpu = clpt_backend_cuda();
    CHECK(gpu->act_bytes == 2);
    CHECK(clpt_cuda_set_attn("simt") == 0); /* head size 16 runs on fp32 copies */
    test_step(&small, "bf16", 4, 64);
    CHECK(clpt_cuda_set_attn("mma") == 0);
    test_step(&wide, "bf16", 2, 128);
    test_training(&wide, "bf16", 2, 128);
    clpt_cuda_set_gelu_fusion(1); /* GELU in cuBLASLt's epilogues */
    long fused0 = clpt_cuda_gelu_fused();
    test_step(&wide, "bf16", 2, 128);
    test_repeatable(&wide, 4, 128);
    printf("  gelu fusion: %ld GEMMs with a GELU epilogue\n", clpt_cuda_gelu_fused() - fused0);
    CHECK_MSG(clpt_cuda_gelu_fused() > fused0 || !clpt_cuda_gelu_fusion(), "GELU fusion on, but no GELU epilogue ran");
    clpt_cuda_set_gelu_fusion(0);
    /* bf16 logits in training (evaluation keeps fp32 ones) */
    CHECK(clpt_cuda_set_logits("bf16") == 0);
    test_step(&wide, "bf16", 2, 128);
    test_training(&wide, "bf16", 2, 128);
    test_repeatable(&wide, 4, 128);
    CHECK(clpt_cuda_set_logits("fp32") == 0);
    char why[512];
    if (clpt_cuda_cudnn_available(why, sizeof why)) {
        CHECK(clpt_cuda_set_attn("cudnn") == 0);
        test_step(&wide, "bf16", 2, 128);
        test_training(&wide, "bf16", 2, 128);
        test_repeatable(&wide, 4, 128);
    } else {
        printf("cudnn attention not tested: %s\n", why);
    }
    CHECK(clpt_cuda_set_attn("mma") == 0);
    test_checkpoint(&small);
    test_repeatable(&wide, 4, 128);

    /* the defaults: bf16 activations, cudnn attention where it can run
     * (else mma), GELU fused */
    clpt_cuda_set_gemm("bf16");
    CHECK(clpt_cuda_set_attn("auto") == 0);
    clpt_cuda_set_gelu_fusion(-1);
    CHECK(gpu->act_bytes == 2 && clpt_cuda_gelu_fusion() == 1);
    CHECK(!strcmp(clpt_cuda_attn(), clpt_cuda_cudnn_available(NULL, 0) ? "cudnn" : "mma"));
    printf("defaults: activations %s, attention %s, gelu fusion %d\n", clpt_cuda_activations(), clpt_cuda_attn(),
           clpt_cuda_gelu_fusion());
    test_step(&wide, "bf16", 2, 128);
    test_training(&wide, "bf16", 2, 128);
    test_repeatable(&wide, 4, 128);
    CHECK(clpt_cuda_set_activations("fp32") == 0);
    gpu = clpt_backend_cuda();
    CHECK(!strcmp(clpt_cuda_attn(), "mma") && clpt_cuda_gelu_fusion() == 0);
    CHECK_DONE();
}

#else
#include "check.h"
int main(void)
{
    (void)check_failures;
    SKIP_TEST("built without CUDA");
}
#endif
