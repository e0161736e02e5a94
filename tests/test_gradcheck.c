/* Finite-difference gradient check of the whole model on the CPU backend,
 * and a one-batch overfitting run that must drive the loss near zero. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "clpt.h"
#include "model.h"
#include "rng.h"

static const clpt_model_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 8,
                                      .n_ctx = 8, .vocab_size = 11, .ln_eps = 1e-5f};
enum { B = 2, T = 6 };

static float loss_at(clpt_model *m, const int *x, const int *y)
{
    float l = 0;
    clpt_model_forward(m, x, y, B, T, &l, NULL, NULL);
    return l;
}

static void gradcheck(void)
{
    clpt_model *m;
    CHECK(clpt_model_new(&m, &cfg, clpt_backend_cpu()) == 0);
    size_t n = clpt_model_nparams(m);
    float *p = malloc(n * sizeof *p);
    clpt_rng r;
    clpt_rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++) p[i] = (float)(0.3 * clpt_rng_normal(&r));
    clpt_model_set_params(m, p);
    int x[B * T], y[B * T];
    for (int i = 0; i < B * T; i++) {
        x[i] = (int)clpt_rng_below(&r, cfg.vocab_size);
        y[i] = (int)clpt_rng_below(&r, cfg.vocab_size);
    }
    clpt_model_zero_grad(m);
    float loss;
    CHECK(clpt_model_forward_backward(m, x, y, B, T, 1.0f, &loss) == 0);
    float *g = clpt_model_grads(m); /* the CPU backend's slab is host memory */
    int checked = 0, bad = 0;
    double worst = 0;
    for (int ti = 0; ti < clpt_model_ntensors(m); ti++) {
        const clpt_tensor *t = clpt_model_tensor(m, ti);
        for (int k = 0; k < 6; k++) {
            size_t i = t->offset + clpt_rng_below(&r, t->numel);
            float save = p[i], h = 1e-2f;
            p[i] = save + h;
            clpt_model_set_params(m, p);
            double lp = loss_at(m, x, y);
            p[i] = save - h;
            clpt_model_set_params(m, p);
            double lm = loss_at(m, x, y);
            p[i] = save;
            double fd = (lp - lm) / (2 * h), an = g[i];
            double err = fabs(fd - an) / (fabs(fd) + fabs(an) + 1e-3);
            if (err > worst) worst = err;
            if (err > 2e-2) {
                fprintf(stderr, "%s[%zu]: analytic %.6g, numeric %.6g\n", t->name,
                        i - t->offset, an, fd);
                bad++;
            }
            checked++;
        }
    }
    clpt_model_set_params(m, p);
    printf("gradcheck: %d entries, worst relative error %.2e\n", checked, worst);
    CHECK(bad == 0);
    free(p);
    clpt_model_free(m);
}

static void overfit(void)
{
    clpt_model_config c = cfg;
    c.n_embd = 32;
    c.n_ctx = 16;
    c.vocab_size = 50;
    clpt_model *m;
    CHECK(clpt_model_new(&m, &c, clpt_backend_cpu()) == 0);
    clpt_model_init_random(m, 1);
    clpt_rng r;
    clpt_rng_seed(&r, 3);
    int x[4 * 16], y[4 * 16];
    for (int i = 0; i < 4 * 16; i++) {
        x[i] = (int)clpt_rng_below(&r, c.vocab_size);
        y[i] = (int)clpt_rng_below(&r, c.vocab_size);
    }
    clpt_adamw o = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.0f, .grad_clip = 1.0f};
    float first = 0, loss = 0;
    for (int s = 0; s < 300; s++) {
        clpt_model_zero_grad(m);
        CHECK(clpt_model_forward_backward(m, x, y, 4, 16, 1.0f, &loss) == 0);
        if (s == 0) first = loss;
        clpt_model_adamw_step(m, &o, 1e-2f);
    }
    printf("overfit: loss %.4f -> %.4f\n", first, loss);
    CHECK(first > 3.0f);
    CHECK(loss < 0.05f);
    clpt_model_free(m);
}

int main(void)
{
    gradcheck();
    overfit();
    CHECK_DONE();
}
