/* test_checkpoint.c - Hugging Face checkpoints: bit-exact save/load of
 * parameters, optimizer and state; config and shape mismatches; F16/BF16
 * weights in HF naming; crash safety of the directory swap (including real
 * SIGKILLs in the middle of saves); a save or a log append meeting a full
 * disk.
 *
 * Two extra modes serve tests/test_hf_compat.sh (transformers comparison):
 *   CLPT_HF_DUMP_DIR=D  write a checkpoint D/ckpt of a tiny random model and
 *                       D/clpt_logits.safetensors ("tokens" I32, "logits" F32)
 *   CLPT_HF_LOAD_DIR=D  load D/hf (saved by transformers) and compare clpt's
 *                       logits with D/hf_logits.safetensors */
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "checkpoint.h"
#include "clpt.h"
#include "fsutil.h"
#include "model.h"
#include "rng.h"
#include "safetensors.h"

#define TDIR "test_checkpoint.tmp"

static const clpt_model_config small = {2, 2, 16, 8, 50, 1e-5f};

static clpt_model *new_model(const clpt_model_config *cfg, uint64_t seed)
{
    clpt_model *m = NULL;
    if (clpt_model_new(&m, cfg, clpt_backend_cpu())) {
        fprintf(stderr, "model: %s\n", clpt_errmsg());
        return NULL;
    }
    if (seed) clpt_model_init_random(m, seed);
    return m;
}

static float *host_slab(clpt_model *m, float *dev)
{
    size_t n = clpt_model_nparams(m);
    float *h = malloc(n * sizeof *h);
    clpt_model_backend(m)->to_host(h, dev, n * sizeof *h);
    return h;
}

/* Fill a device slab with N(0, sd) values (also biases and LayerNorms, so
 * that a tensor loaded into the wrong place shows). */
static void fill_random(clpt_model *m, float *dev, uint64_t seed, double sd, int positive)
{
    size_t n = clpt_model_nparams(m);
    float *h = malloc(n * sizeof *h);
    clpt_rng r;
    clpt_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        double x = sd * clpt_rng_normal(&r);
        h[i] = (float)(positive ? x * x : x);
    }
    clpt_model_backend(m)->to_device(dev, h, n * sizeof *h);
    free(h);
}

static int slabs_equal(clpt_model *a, float *da, clpt_model *b, float *db)
{
    if (clpt_model_nparams(a) != clpt_model_nparams(b)) return 0;
    float *ha = host_slab(a, da), *hb = host_slab(b, db);
    int eq = !memcmp(ha, hb, clpt_model_nparams(a) * sizeof *ha);
    free(ha);
    free(hb);
    return eq;
}

static int has(const char *dir, const char *file)
{
    char *p = clpt_fs_join(dir, file);
    int e = clpt_fs_exists(p);
    free(p);
    return e;
}

static int contains(const char *msg, const char *part)
{
    if (strstr(msg, part)) return 1;
    fprintf(stderr, "message '%s' lacks '%s'\n", msg, part);
    return 0;
}

/* ---- round trip -------------------------------------------------------------- */

static void test_round_trip(void)
{
    const char *dir = TDIR "/rt";
    clpt_model *a = new_model(&small, 1);
    if (!a) { CHECK(0); return; }
    fill_random(a, clpt_model_params(a), 11, 0.5, 0);
    fill_random(a, clpt_model_adam_m(a), 12, 0.1, 0);
    fill_random(a, clpt_model_adam_v(a), 13, 0.1, 1);
    clpt_model_set_step(a, 7);
    cJSON *state = cJSON_Parse("{\"rng\":[\"123\",\"456\"],\"pos\":99,\"name\":\"x\"}");
    int rc = clpt_ckpt_save(a, dir, state, 1);
    CHECK_MSG(rc == 0, "%s", clpt_errmsg());
    CHECK(has(dir, "config.json") && has(dir, "model.safetensors") &&
          has(dir, "optimizer.safetensors") && has(dir, "state.json"));
    CHECK(!clpt_fs_exists(TDIR "/rt.tmp") && !clpt_fs_exists(TDIR "/rt.old"));

    clpt_model *b = NULL;
    rc = clpt_ckpt_load_model(&b, dir, clpt_backend_cpu());
    CHECK_MSG(rc == 0, "%s", clpt_errmsg());
    if (!b) goto done;
    CHECK(!memcmp(clpt_model_cfg(a), clpt_model_cfg(b), sizeof small));
    CHECK(slabs_equal(a, clpt_model_params(a), b, clpt_model_params(b)));
    rc = clpt_ckpt_load_optimizer(b, dir);
    CHECK_MSG(rc == 0, "%s", clpt_errmsg());
    CHECK(slabs_equal(a, clpt_model_adam_m(a), b, clpt_model_adam_m(b)));
    CHECK(slabs_equal(a, clpt_model_adam_v(a), b, clpt_model_adam_v(b)));
    CHECK(clpt_model_step(b) == 7);
    cJSON *st = NULL;
    CHECK(clpt_ckpt_load_state(dir, &st) == 0 && st && cJSON_Compare(st, state, 1));
    cJSON_Delete(st);

    /* saving over an existing checkpoint replaces it as a whole */
    fill_random(a, clpt_model_params(a), 21, 0.5, 0);
    rc = clpt_ckpt_save(a, TDIR "/rt/", NULL, 0); /* trailing slash too */
    CHECK_MSG(rc == 0, "%s", clpt_errmsg());
    CHECK(!has(dir, "optimizer.safetensors") && !has(dir, "state.json"));
    CHECK(!clpt_fs_exists(TDIR "/rt.tmp") && !clpt_fs_exists(TDIR "/rt.old"));
    CHECK(clpt_ckpt_load_weights(b, dir) == 0);
    CHECK(slabs_equal(a, clpt_model_params(a), b, clpt_model_params(b)));
    CHECK(clpt_ckpt_load_state(dir, &st) == 0 && st == NULL);
    CHECK(clpt_ckpt_load_optimizer(b, dir) == CLPT_EIO);
    CHECK(contains(clpt_errmsg(), "optimizer.safetensors"));
done:
    cJSON_Delete(state);
    clpt_model_free(a);
    clpt_model_free(b);
}

/* ---- mismatches ---------------------------------------------------------------- */

static void expect_load_fails(const char *dir, const clpt_model_config *cfg, const char *part)
{
    clpt_model *m = new_model(cfg, 0);
    if (!m) { CHECK(0); return; }
    fill_random(m, clpt_model_params(m), 5, 1.0, 0);
    float *before = host_slab(m, clpt_model_params(m));
    int rc = clpt_ckpt_load_weights(m, dir);
    CHECK_MSG(rc < 0, "loading %s should fail", dir);
    CHECK(contains(clpt_errmsg(), part));
    CHECK(contains(clpt_errmsg(), "model.safetensors"));
    float *after = host_slab(m, clpt_model_params(m));
    CHECK_MSG(!memcmp(before, after, clpt_model_nparams(m) * 4), "model changed by a failed load");
    free(before);
    free(after);
    clpt_model_free(m);
}

static void test_mismatch(void)
{
    const char *dir = TDIR "/mm";
    clpt_model *a = new_model(&small, 2);
    if (!a) { CHECK(0); return; }
    CHECK(clpt_ckpt_save(a, dir, NULL, 1) == 0);
    clpt_model_config c = small;
    c.n_embd = 32;
    expect_load_fails(dir, &c, "transformer.wte.weight");
    c = small;
    c.vocab_size = 51;
    expect_load_fails(dir, &c, "transformer.wte.weight");
    c = small;
    c.n_ctx = 16;
    expect_load_fails(dir, &c, "transformer.wpe.weight");
    c = small;
    c.n_layer = 3;
    expect_load_fails(dir, &c, "'transformer.h.2.ln_1.weight' missing");
    c = small;
    c.n_layer = 1;
    expect_load_fails(dir, &c, "'transformer.h.1.ln_1.weight' is not a parameter");

    /* optimizer of another shape */
    c = small;
    c.n_embd = 32;
    clpt_model *m = new_model(&c, 0);
    CHECK(m && clpt_ckpt_load_optimizer(m, dir) < 0);
    CHECK(contains(clpt_errmsg(), "optimizer.safetensors"));
    clpt_model_free(m);
    clpt_model_free(a);
}

/* ---- config.json ---------------------------------------------------------------- */

static int parse(const char *json, clpt_model_config *c)
{
    return clpt_ckpt_parse_config(json, strlen(json), "cfg.json", c);
}

static void test_config(void)
{
    clpt_model_config c;
    const char *hf = "{\"activation_function\":\"gelu_new\",\"architectures\":[\"GPT2LMHeadModel\"],"
        "\"n_ctx\":1024,\"n_embd\":768,\"n_head\":12,\"n_layer\":12,\"n_positions\":1024,"
        "\"layer_norm_epsilon\":1e-05,\"model_type\":\"gpt2\",\"vocab_size\":50257,"
        "\"n_inner\":null,\"summary_type\":\"cls_index\",\"resid_pdrop\":0.1}";
    CHECK(parse(hf, &c) == 0 && c.n_layer == 12 && c.n_head == 12 && c.n_embd == 768 &&
          c.n_ctx == 1024 && c.vocab_size == 50257 && c.ln_eps == 1e-5f);
    CHECK(parse("{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_ctx\":64,\"vocab_size\":10}", &c)
          == 0 && c.n_ctx == 64 && c.ln_eps == 1e-5f);
    static const struct { const char *json, *part; } bad[] = {
        {"[1]", "not a JSON object"},
        {"{\"n_head\":2,\"n_embd\":8,\"n_ctx\":64,\"vocab_size\":10}", "'n_layer' missing"},
        {"{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"vocab_size\":10}", "'n_ctx' missing"},
        {"{\"n_layer\":2.5,\"n_head\":2,\"n_embd\":8,\"n_ctx\":6,\"vocab_size\":10}", "'n_layer'"},
        {"{\"n_layer\":\"2\",\"n_head\":2,\"n_embd\":8,\"n_ctx\":6,\"vocab_size\":10}", "'n_layer'"},
        {"{\"n_layer\":2,\"n_head\":3,\"n_embd\":8,\"n_ctx\":6,\"vocab_size\":10}", "n_head"},
        {"{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_ctx\":6,\"vocab_size\":1e12}", "'vocab_size'"},
        {"{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_ctx\":6,\"vocab_size\":10,"
         "\"activation_function\":\"gelu\"}", "'activation_function'"},
        {"{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_ctx\":6,\"vocab_size\":10,"
         "\"tie_word_embeddings\":false}", "'tie_word_embeddings'"},
        {"{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_ctx\":6,\"vocab_size\":10,"
         "\"n_inner\":16}", "'n_inner'"},
        {"{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_ctx\":6,\"vocab_size\":10,"
         "\"model_type\":\"llama\"}", "'model_type'"},
        {"{\"n_layer\":2,\"n_head\":2,\"n_embd\":8,\"n_ctx\":6,\"vocab_size\":10,"
         "\"layer_norm_epsilon\":-1}", "'layer_norm_epsilon'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(parse(bad[i].json, &c) < 0, "config %zu accepted", i);
        CHECK(contains(clpt_errmsg(), bad[i].part) && contains(clpt_errmsg(), "cfg.json"));
    }
    CHECK(clpt_ckpt_read_config(TDIR "/nothing-here", &c) == CLPT_EIO);
    CHECK(contains(clpt_errmsg(), "nothing-here/config.json"));
}

/* ---- F16 / BF16 weights in Hugging Face naming ----------------------------------- */

static uint16_t to_half(float f, int bf) { return bf ? clpt_f32_to_bf16(f) : clpt_f32_to_f16(f); }
static float from_half(uint16_t h, int bf) { return bf ? clpt_bf16_to_f32(h) : clpt_f16_to_f32(h); }

/* Write model.safetensors the way an HF export could: no "transformer."
 * prefix, half precision, causal-mask buffers, lm_head (equal to wte unless
 * `untie`). `expect` receives the rounded parameters. */
static int write_half_ckpt(clpt_model *a, const char *dir, int bf, int untie, float *expect)
{
    size_t n = clpt_model_nparams(a);
    float *p = host_slab(a, clpt_model_params(a));
    uint16_t *h = malloc(n * sizeof *h);
    for (size_t i = 0; i < n; i++) expect[i] = from_half(h[i] = to_half(p[i], bf), bf);
    const clpt_tensor *wte = clpt_model_find(a, "wte.weight");
    uint16_t *lm = malloc(wte->numel * sizeof *lm);
    memcpy(lm, h + wte->offset, wte->numel * sizeof *lm);
    if (untie) lm[3] ^= 1;
    float mask[64];
    for (int i = 0; i < 64; i++) mask[i] = (i % 8) <= (i / 8);
    clpt_st_writer *w;
    int rc = clpt_st_writer_new(&w);
    int64_t mshape[4] = {1, 1, 8, 8}, lshape[2] = {wte->shape[0], wte->shape[1]};
    for (int i = 0; !rc && i < clpt_model_ntensors(a); i++) {
        const clpt_tensor *t = clpt_model_tensor(a, i);
        int64_t shape[2] = {t->shape[0], t->shape[1]};
        rc = clpt_st_writer_add(w, t->name + strlen("transformer."), bf ? CLPT_ST_BF16 : CLPT_ST_F16,
                                t->ndim, shape, h + t->offset);
        if (!rc && strstr(t->name, "ln_1.bias")) {
            char name[64];
            snprintf(name, sizeof name, "%.*sattn.bias", (int)(strstr(t->name, "ln_1") - t->name) - 12,
                     t->name + 12);
            rc = clpt_st_writer_add(w, name, CLPT_ST_F32, 4, mshape, mask);
        }
    }
    if (!rc) rc = clpt_st_writer_add(w, "lm_head.weight", bf ? CLPT_ST_BF16 : CLPT_ST_F16, 2,
                                     lshape, lm);
    char *path = clpt_fs_join(dir, "model.safetensors");
    if (!rc) rc = clpt_st_writer_write(w, path);
    clpt_st_writer_free(w);
    free(path);
    free(lm);
    free(h);
    free(p);
    return rc;
}

static void test_half(int bf, int untie)
{
    const char *dir = TDIR "/half";
    clpt_model *a = new_model(&small, 3), *b = new_model(&small, 0);
    if (!a || !b) { CHECK(0); return; }
    fill_random(a, clpt_model_params(a), 31, 0.7, 0);
    CHECK(clpt_ckpt_save(a, dir, NULL, 0) == 0); /* for config.json */
    size_t n = clpt_model_nparams(a);
    float *expect = malloc(n * sizeof *expect);
    int rc = write_half_ckpt(a, dir, bf, untie, expect);
    CHECK_MSG(rc == 0, "%s", clpt_errmsg());
    rc = clpt_ckpt_load_weights(b, dir);
    if (untie) {
        CHECK(rc == CLPT_EUNSUP && contains(clpt_errmsg(), "lm_head.weight"));
    } else {
        CHECK_MSG(rc == 0, "%s", clpt_errmsg());
        float *got = host_slab(b, clpt_model_params(b));
        CHECK_MSG(!memcmp(got, expect, n * sizeof *got), "%s weights differ", bf ? "BF16" : "F16");
        free(got);
    }
    free(expect);
    clpt_model_free(a);
    clpt_model_free(b);
}

/* Both "wte.weight" and "transformer.wte.weight" present: refused. */
static void test_prefix_twice(void)
{
    const char *dir = TDIR "/twice";
    clpt_model *a = new_model(&small, 4);
    if (!a) { CHECK(0); return; }
    CHECK(clpt_ckpt_save(a, dir, NULL, 0) == 0);
    float *p = host_slab(a, clpt_model_params(a));
    clpt_st_writer *w;
    CHECK(clpt_st_writer_new(&w) == 0);
    for (int i = 0; i < clpt_model_ntensors(a); i++) {
        const clpt_tensor *t = clpt_model_tensor(a, i);
        int64_t shape[2] = {t->shape[0], t->shape[1]};
        CHECK(clpt_st_writer_add(w, t->name, CLPT_ST_F32, t->ndim, shape, p + t->offset) == 0);
    }
    const clpt_tensor *t = clpt_model_tensor(a, 0);
    int64_t shape[2] = {t->shape[0], t->shape[1]};
    CHECK(clpt_st_writer_add(w, "wte.weight", CLPT_ST_F32, 2, shape, p + t->offset) == 0);
    CHECK(clpt_st_writer_write(w, TDIR "/twice/model.safetensors") == 0);
    clpt_st_writer_free(w);
    expect_load_fails(dir, &small, "appears twice");
    free(p);
    clpt_model_free(a);
}

/* ---- crash safety ---------------------------------------------------------------- */

static void write_garbage(const char *dir)
{
    clpt_fs_mkdir_p(dir);
    char *p = clpt_fs_join(dir, "model.safetensors");
    clpt_fs_write_atomic(p, "garbage", 7);
    free(p);
}

static void test_recovery(void)
{
    const char *dir = TDIR "/rec";
    clpt_model *a = new_model(&small, 5), *b = new_model(&small, 0);
    if (!a || !b) { CHECK(0); return; }
    CHECK(clpt_ckpt_save(a, dir, NULL, 0) == 0);

    /* a killed save left a partial "<dir>.tmp": dir still loads; the next
     * save and recover clean it up */
    write_garbage(TDIR "/rec.tmp");
    CHECK(clpt_ckpt_load_weights(b, dir) == 0);
    CHECK(slabs_equal(a, clpt_model_params(a), b, clpt_model_params(b)));
    CHECK(clpt_ckpt_save(a, dir, NULL, 0) == 0 && !clpt_fs_exists(TDIR "/rec.tmp"));
    write_garbage(TDIR "/rec.tmp");
    CHECK(clpt_ckpt_recover(dir) == 0 && !clpt_fs_exists(TDIR "/rec.tmp"));

    /* between the two renames (killed, or another process saving right
     * now): dir missing, "<dir>.old" complete, "<dir>.tmp" complete or not;
     * loading reads "<dir>.old" and changes nothing (a reader must not undo
     * a save in progress); recover, the writer's step, restores it */
    CHECK(rename(dir, TDIR "/rec.old") == 0);
    write_garbage(TDIR "/rec.tmp");
    clpt_model *c = NULL;
    int rc = clpt_ckpt_load_model(&c, dir, clpt_backend_cpu());
    CHECK_MSG(rc == 0, "%s", clpt_errmsg());
    CHECK(c && slabs_equal(a, clpt_model_params(a), c, clpt_model_params(c)));
    CHECK(!clpt_fs_exists(dir) && clpt_fs_is_dir(TDIR "/rec.old") && clpt_fs_exists(TDIR "/rec.tmp"));
    CHECK(clpt_ckpt_recover(dir) == 0);
    CHECK(clpt_fs_is_dir(dir) && !clpt_fs_exists(TDIR "/rec.old") &&
          !clpt_fs_exists(TDIR "/rec.tmp"));
    clpt_model_free(c);

    /* killed after the commit, before "<dir>.old" was removed */
    write_garbage(TDIR "/rec.old");
    CHECK(clpt_ckpt_recover(dir) == 0 && !clpt_fs_exists(TDIR "/rec.old") && clpt_fs_is_dir(dir));
    CHECK(clpt_ckpt_load_weights(b, dir) == 0);

    /* nothing at all: recover is a no-op, loading names the missing file */
    CHECK(clpt_ckpt_recover(TDIR "/none") == 0);
    CHECK(clpt_ckpt_save(a, "/", NULL, 0) == CLPT_EINVAL && clpt_ckpt_save(a, "x/..", NULL, 0) ==
          CLPT_EINVAL && clpt_ckpt_save(a, ".", NULL, 0) == CLPT_EINVAL);
    CHECK(clpt_ckpt_load_weights(b, TDIR "/none") == CLPT_EIO);
    CHECK(contains(clpt_errmsg(), "none/model.safetensors"));
    clpt_model_free(a);
    clpt_model_free(b);
}

/* A child saves versions 1, 2, ... (wte[0] = version = state.version) and
 * is SIGKILLed at a random moment; afterwards the checkpoint must load and
 * its files must agree on the version. */
static int child_saves(clpt_model *m, const char *dir)
{
    size_t n = clpt_model_nparams(m);
    float *h = host_slab(m, clpt_model_params(m));
    for (int v = 1; v < 1000000; v++) {
        h[0] = (float)v;
        clpt_model_set_params(m, h);
        cJSON *st = cJSON_CreateObject();
        cJSON_AddNumberToObject(st, "version", v);
        if (clpt_ckpt_save(m, dir, st, v % 2)) _exit(3);
        cJSON_Delete(st);
    }
    (void)n;
    _exit(0);
}

static void test_kill_during_save(void)
{
    const char *dir = TDIR "/kill";
    clpt_model *m = new_model(&small, 6), *b = new_model(&small, 0);
    if (!m || !b) { CHECK(0); return; }
    cJSON *st0 = cJSON_CreateObject();
    cJSON_AddNumberToObject(st0, "version", 0);
    float *h = host_slab(m, clpt_model_params(m));
    h[0] = 0;
    clpt_model_set_params(m, h);
    free(h);
    CHECK(clpt_ckpt_save(m, dir, st0, 0) == 0);
    cJSON_Delete(st0);
    fflush(NULL);
    clpt_rng r;
    unsigned long long seed = (unsigned long long)time(NULL);
    clpt_rng_seed(&r, seed);
    for (int round = 0; round < 200; round++) {
        pid_t pid = fork();
        if (pid == 0) child_saves(m, dir);
        struct timespec ts = {0, (long)(clpt_rng_below(&r, 5000) * 1000)}; /* < 5 ms */
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        CHECK_MSG(!(WIFEXITED(status) && WEXITSTATUS(status) == 3), "save failed in child");
        int rc = clpt_ckpt_load_weights(b, dir);
        CHECK_MSG(rc == 0, "round %d (seed %llu): %s", round, seed, clpt_errmsg());
        cJSON *st = NULL;
        rc = clpt_ckpt_load_state(dir, &st);
        CHECK_MSG(rc == 0 && st, "round %d: state: %s", round, clpt_errmsg());
        const cJSON *v = cJSON_GetObjectItem(st, "version");
        float *p = host_slab(b, clpt_model_params(b));
        CHECK_MSG(v && p[0] == (float)v->valuedouble, "round %d (seed %llu): weights v%g, "
                  "state v%g", round, seed, p[0], v ? v->valuedouble : -1);
        free(p);
        cJSON_Delete(st);
        CHECK(clpt_ckpt_recover(dir) == 0);
        CHECK(!clpt_fs_exists(TDIR "/kill.tmp") && !clpt_fs_exists(TDIR "/kill.old"));
    }
    clpt_model_free(m);
    clpt_model_free(b);
}

/* A reader (clpt eval during training) loads the checkpoint in a loop while
 * another process saves it 100 times: every save must succeed (a reader
 * that "repaired" the window between the save's two renames used to delete
 * the save's new checkpoint), and every load either succeeds or fails
 * cleanly with a message. */
static void test_concurrent_reader(void)
{
    const char *dir = TDIR "/busy";
    clpt_model *m = new_model(&small, 7), *b = new_model(&small, 0);
    if (!m || !b) { CHECK(0); return; }
    CHECK(clpt_ckpt_save(m, dir, NULL, 0) == 0);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int failed = 0;
        for (int i = 0; i < 100; i++) failed += clpt_ckpt_save(m, dir, NULL, 0) != 0;
        _exit(failed > 100 ? 100 : failed);
    }
    int loads = 0, ok = 0, status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        int rc = clpt_ckpt_load_weights(b, dir);
        loads++;
        ok += rc == 0;
        CHECK_MSG(rc == 0 || clpt_errmsg()[0], "a failed load without a message");
    }
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%d of 100 saves failed while a reader loaded",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    CHECK_MSG(ok > 0, "no load succeeded in %d", loads);
    clpt_model_free(m);
    clpt_model_free(b);
}

/* ---- a full disk ------------------------------------------------------------------ */

/* A file-size limit stands in for a full disk: a write past it fails with
 * EFBIG as one on a full disk fails with ENOSPC (SIGXFSZ ignored, as the
 * clpt command does). A save that fails names the file and leaves the
 * previous checkpoint; an append that fails part-way leaves the file as it
 * was. */
static void test_full_disk(void)
{
    const char *dir = TDIR "/full", *log = TDIR "/full.log";
    clpt_model *a = new_model(&small, 8), *b = new_model(&small, 9), *c = new_model(&small, 0);
    if (!a || !b || !c) { CHECK(0); return; }
    CHECK(clpt_ckpt_save(a, dir, NULL, 1) == 0);
    char head[4000], rec[200], save_msg[1024] = "", append_msg[1024] = "";
    memset(head, 'a', sizeof head);
    memset(rec, 'b', sizeof rec);
    int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC, 0666);
    CHECK(fd >= 0 && clpt_fs_append(fd, log, head, sizeof head, 1) == 0);

    struct rlimit old, lim;
    CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
    lim = old;
    lim.rlim_cur = 4096;  /* config.json fits, model.safetensors does not */
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    int saved = clpt_ckpt_save(b, dir, NULL, 1);
    snprintf(save_msg, sizeof save_msg, "%s", clpt_errmsg());
    int appended = clpt_fs_append(fd, log, rec, sizeof rec, 1);  /* 96 bytes fit */
    snprintf(append_msg, sizeof append_msg, "%s", clpt_errmsg());
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
    signal(SIGXFSZ, prev);

    CHECK(saved == CLPT_EIO && contains(save_msg, "full.tmp/model.safetensors") &&
          contains(save_msg, "File too large"));
    CHECK(!clpt_fs_exists(TDIR "/full.tmp") && !clpt_fs_exists(TDIR "/full.old"));
    CHECK(clpt_ckpt_load_weights(c, dir) == 0 && clpt_ckpt_load_optimizer(c, dir) == 0);
    CHECK(slabs_equal(a, clpt_model_params(a), c, clpt_model_params(c)));
    CHECK(slabs_equal(a, clpt_model_adam_v(a), c, clpt_model_adam_v(c)));
    CHECK(appended == CLPT_EIO && contains(append_msg, "full.log") && contains(append_msg, "File too large"));
    struct stat st;
    CHECK(stat(log, &st) == 0 && st.st_size == (off_t)sizeof head);  /* the partial record is cut */
    CHECK(clpt_fs_append(fd, log, "x\n", 2, 0) == 0 && stat(log, &st) == 0 &&
          st.st_size == (off_t)sizeof head + 2);
    if (fd >= 0) close(fd);
    clpt_model_free(a);
    clpt_model_free(b);
    clpt_model_free(c);
}

/* ---- modes for test_hf_compat.sh ---------------------------------------------------- */

static const clpt_model_config hf_cfg = {2, 4, 32, 16, 100, 1e-5f};
enum { HF_B = 2, HF_T = 16 };

static int hf_dump(const char *out)
{
    clpt_model *m = new_model(&hf_cfg, 7);
    if (!m) return 1;
    /* perturb everything (biases, LayerNorms too) so a misplaced tensor shows */
    size_t n = clpt_model_nparams(m);
    float *h = host_slab(m, clpt_model_params(m));
    clpt_rng r;
    clpt_rng_seed(&r, 77);
    for (size_t i = 0; i < n; i++) h[i] += (float)(0.1 * clpt_rng_normal(&r));
    clpt_model_set_params(m, h);
    free(h);
    int tokens[HF_B * HF_T];
    for (int i = 0; i < HF_B * HF_T; i++) tokens[i] = (int)clpt_rng_below(&r, hf_cfg.vocab_size);
    float *logits = malloc((size_t)HF_B * HF_T * hf_cfg.vocab_size * sizeof *logits);
    char *ck = clpt_fs_join(out, "ckpt"), *lp = clpt_fs_join(out, "clpt_logits.safetensors");
    int rc = clpt_ckpt_save(m, ck, NULL, 0);
    if (!rc) rc = clpt_model_logits(m, tokens, HF_B, HF_T, logits);
    clpt_st_writer *w = NULL;
    int64_t ts[2] = {HF_B, HF_T}, ls[3] = {HF_B, HF_T, hf_cfg.vocab_size};
    if (!rc) rc = clpt_st_writer_new(&w);
    if (!rc) rc = clpt_st_writer_add(w, "tokens", CLPT_ST_I32, 2, ts, tokens);
    if (!rc) rc = clpt_st_writer_add(w, "logits", CLPT_ST_F32, 3, ls, logits);
    if (!rc) rc = clpt_st_writer_write(w, lp);
    if (rc) fprintf(stderr, "hf dump: %s\n", clpt_errmsg());
    clpt_st_writer_free(w);
    free(ck);
    free(lp);
    free(logits);
    clpt_model_free(m);
    return rc ? 1 : 0;
}

/* Load D/hf (written by transformers) and compare logits with theirs. */
static int hf_load(const char *in)
{
    char *ck = clpt_fs_join(in, "hf"), *lp = clpt_fs_join(in, "hf_logits.safetensors");
    clpt_model *m = NULL;
    clpt_st *st = NULL;
    int rc = clpt_ckpt_load_model(&m, ck, clpt_backend_cpu());
    if (!rc) rc = clpt_st_open(&st, lp);
    free(ck);
    free(lp);
    if (rc) {
        fprintf(stderr, "hf load: %s\n", clpt_errmsg());
        clpt_model_free(m);
        return 1;
    }
    const clpt_st_tensor *tt = clpt_st_find(st, "tokens"), *lt = clpt_st_find(st, "logits");
    if (!tt || !lt || tt->ndim != 2 || lt->numel != tt->numel * (size_t)clpt_model_cfg(m)->vocab_size) {
        fprintf(stderr, "hf load: bad tokens/logits in hf_logits.safetensors\n");
        return 1;
    }
    int B = (int)tt->shape[0], T = (int)tt->shape[1];
    int32_t *tok = malloc(tt->numel * sizeof *tok);
    float *want = malloc(lt->numel * sizeof *want), *got = malloc(lt->numel * sizeof *got);
    rc = clpt_st_read_i32(st, tt, tok, tt->numel);
    if (!rc) rc = clpt_st_read_f32(st, lt, want, lt->numel);
    if (!rc) rc = clpt_model_logits(m, tok, B, T, got);
    double maxdiff = 0;
    for (size_t i = 0; !rc && i < lt->numel; i++)
        if (fabs((double)got[i] - want[i]) > maxdiff) maxdiff = fabs((double)got[i] - want[i]);
    if (rc) fprintf(stderr, "hf load: %s\n", clpt_errmsg());
    else printf("clpt vs transformers logits (HF-saved checkpoint): max |diff| = %.3g\n", maxdiff);
    free(tok);
    free(want);
    free(got);
    clpt_st_close(st);
    clpt_model_free(m);
    return rc || !(maxdiff <= 1e-4) ? 1 : 0;
}

/* A bit flipped in the tensor data of a saved checkpoint (weights or
 * optimizer moments) is refused at load, naming the file, before any of it
 * reaches the model. */
static void flip_last_byte(const char *path)
{
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fseek(f, -3, SEEK_END) == 0);
    int c = fgetc(f);
    CHECK(fseek(f, -3, SEEK_END) == 0 && fputc(c ^ 0x01, f) != EOF);
    fclose(f);
}

static void test_corrupt_data(void)
{
    const char *dir = TDIR "/corrupt";
    clpt_model *a = new_model(&small, 31), *b = new_model(&small, 0);
    if (!a || !b) { CHECK(0); return; }
    fill_random(a, clpt_model_adam_m(a), 32, 0.1, 0);
    fill_random(a, clpt_model_adam_v(a), 33, 0.1, 1);
    CHECK(clpt_ckpt_save(a, dir, NULL, 1) == 0);
    CHECK(clpt_ckpt_load_weights(b, dir) == 0 && clpt_ckpt_load_optimizer(b, dir) == 0);
    float *before = malloc(clpt_model_nparams(b) * sizeof *before);
    clpt_model_get_params(b, before);
    float *m0 = host_slab(b, clpt_model_adam_m(b)), *v0 = host_slab(b, clpt_model_adam_v(b));
    int64_t step0 = clpt_model_step(b);
    const char *files[2] = {TDIR "/corrupt/model.safetensors", TDIR "/corrupt/optimizer.safetensors"};
    for (int k = 0; k < 2; k++) {
        flip_last_byte(files[k]);
        int rc = k == 0 ? clpt_ckpt_load_weights(b, dir) : clpt_ckpt_load_optimizer(b, dir);
        CHECK_MSG(rc == CLPT_EFORMAT, "a flipped bit in %s was not found (rc %d)", files[k], rc);
        CHECK_MSG(strstr(clpt_errmsg(), files[k]) && strstr(clpt_errmsg(), "corrupt"), "message: %s",
                  clpt_errmsg());
    }
    float *after = malloc(clpt_model_nparams(b) * sizeof *after);
    clpt_model_get_params(b, after);
    CHECK(!memcmp(before, after, clpt_model_nparams(b) * sizeof *after)); /* never half-used */
    float *m1 = host_slab(b, clpt_model_adam_m(b)), *v1 = host_slab(b, clpt_model_adam_v(b));
    CHECK(!memcmp(m0, m1, clpt_model_nparams(b) * sizeof *m1) && !memcmp(v0, v1, clpt_model_nparams(b) * sizeof *v1));
    CHECK(clpt_model_step(b) == step0);
    free(m0), free(v0), free(m1), free(v1);
    free(before);
    free(after);
    clpt_model_free(a);
    clpt_model_free(b);
}

/* Files are created with the process's umask applied (ordinary data
 * files, not mkstemp's 0600), without the process ever changing its umask. */
static void test_file_mode(void)
{
    clpt_model *a = new_model(&small, 3);
    if (!a) { CHECK(0); return; }
    mode_t old = umask(027);
    CHECK(clpt_ckpt_save(a, TDIR "/mode", NULL, 0) == 0);
    struct stat st;
    CHECK(stat(TDIR "/mode/model.safetensors", &st) == 0);
    CHECK_MSG((st.st_mode & 0777) == 0640, "mode %o under umask 027", (unsigned)(st.st_mode & 0777));
    CHECK(umask(old) == 027);
    clpt_model_free(a);
}

int main(void)
{
    const char *dump = getenv("CLPT_HF_DUMP_DIR"), *load = getenv("CLPT_HF_LOAD_DIR");
    if (dump && *dump) return hf_dump(dump);
    if (load && *load) return hf_load(load);
    clpt_fs_remove_tree(TDIR);
    if (clpt_fs_mkdir_p(TDIR)) {
        fprintf(stderr, "%s\n", clpt_errmsg());
        return 1;
    }
    test_kill_during_save(); /* first: fork before any OpenMP threads exist */
    test_concurrent_reader();
    test_round_trip();
    test_mismatch();
    test_config();
    test_half(0, 0);
    test_half(1, 0);
    test_half(0, 1);
    test_prefix_twice();
    test_recovery();
    test_full_disk();
    test_corrupt_data();
    test_file_mode();
    if (!check_failures) clpt_fs_remove_tree(TDIR);
    CHECK_DONE();
}
