/* test_backend_status.c - a failure inside a backend op (here: the CPU
 * backend cannot get scratch memory, forced with CLPT_CPU_SCRATCH_LIMIT_MB)
 * is not an abort: the op records it, and the model's forward, backward and
 * the training step return it with its message; it stays set (sticky), and
 * the weights are left as the last good step made them. */
#define _XOPEN_SOURCE 700
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "checkpoint.h"
#include "clpt.h"
#include "fsutil.h"
#include "model.h"
#include "rng.h"
#include "train.h"

/* batches for clpt_train_step: random tokens */
static int compose(void *ud, int *x, int *y, int B, int T)
{
    clpt_rng *r = ud;
    for (int i = 0; i < B * T; i++) x[i] = (int)clpt_rng_below(r, 97), y[i] = (int)clpt_rng_below(r, 97);
    return 0;
}

int main(void)
{
    const clpt_backend *cpu = clpt_backend_cpu();
    CHECK(cpu->status != NULL && cpu->status() == 0);
    clpt_model_config cfg = {.n_layer = 2, .n_head = 2, .n_embd = 32, .n_ctx = 64, .vocab_size = 97,
                             .ln_eps = 1e-5f};
    clpt_model *m;
    CHECK(clpt_model_new(&m, &cfg, cpu) == 0);
    if (!m) CHECK_DONE();
    clpt_model_init_random(m, 1);
    int x[2 * 64], y[2 * 64];
    clpt_rng r;
    clpt_rng_seed(&r, 3);
    for (int i = 0; i < 2 * 64; i++) x[i] = (int)clpt_rng_below(&r, 97), y[i] = (int)clpt_rng_below(&r, 97);
    clpt_adamw o = {.beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .weight_decay = 0.0f, .grad_clip = 1.0f};

    /* a good step at T = 16: scratch sized for it */
    float loss = 0;
    clpt_model_zero_grad(m);
    CHECK(clpt_model_forward_backward(m, x, y, 2, 16, 1.0f, &loss) == 0 && loss > 0);
    clpt_model_adamw_step(m, &o, 1e-3f);
    CHECK(clpt_model_status(m) == 0);
    size_t n = clpt_model_nparams(m);
    float *good = malloc(n * sizeof *good), *after = malloc(n * sizeof *after);
    clpt_model_get_params(m, good);

    /* T = 64 needs more attention scratch, which is now refused: the
     * training step fails with the message and never reaches AdamW */
    setenv("CLPT_CPU_SCRATCH_LIMIT_MB", "0.001", 1);
    clpt_step_hooks hooks = {.compose = compose, .ud = &r};
    clpt_step_result res;
    int rc = clpt_train_step(m, NULL, &o, 1e-3, 2, 64, 1, x, y, &hooks, &res);
    CHECK_MSG(rc == CLPT_ENOMEM, "clpt_train_step returned %d", rc);
    CHECK_MSG(strstr(clpt_errmsg(), "scratch") != NULL, "message: %s", clpt_errmsg());
    clpt_model_get_params(m, after);
    CHECK_MSG(!memcmp(good, after, n * sizeof *good), "a failed step changed the weights");
    CHECK(clpt_model_step(m) == 1);
    /* sticky: even a forward that needs no new scratch reports it */
    unsetenv("CLPT_CPU_SCRATCH_LIMIT_MB");
    CHECK(clpt_model_forward(m, x, y, 2, 16, &loss, NULL, NULL) == CLPT_ENOMEM);
    CHECK(cpu->status() == CLPT_ENOMEM && strstr(clpt_errmsg(), "out of memory"));
    /* and no checkpoint is written from a failed backend */
    char dir[] = "/tmp/clpt_status_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char ck[64];
    snprintf(ck, sizeof ck, "%s/ck", dir);
    CHECK(clpt_ckpt_save(m, ck, NULL, 1) == CLPT_ENOMEM);
    CHECK_MSG(!clpt_fs_exists(ck), "a checkpoint was written after a backend failure");
    clpt_fs_remove_tree(dir);
    free(good);
    free(after);
    clpt_model_free(m);
    CHECK_DONE();
}
