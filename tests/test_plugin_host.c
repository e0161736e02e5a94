/* test_plugin_host.c - the clpt_host services, called directly as a plugin
 * would: vector algebra against a plain C reference, tensor lookup and
 * per-tensor copies, the read-only base, typed option getters, seeded
 * sampling from any domain and split, gradient accumulation, metrics, the
 * RNG, and the host state file (round trip, corruption). Misuse is recorded
 * and reported by the hook wrapper with the strategy's and hook's names. */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "plugin.h"
#include "test_clrun_fixture.h"

#define TP CLPT_PLUGIN_BUILD_DIR "/../plugins/tests/"

typedef struct env {
    clpt_manifest *man;
    clpt_source **src[CLPT_NSPLITS];
    clpt_model *model;
    clpt_plugin *plugin;
    clpt_plugin_opts opts;
    clpt_plugin_host h;
} env;

static int no_rows(void *engine, int *x, int *y, int rows)
{
    (void)engine;
    for (int i = 0; i < rows * FIX_T; i++) x[i] = y[i] = 7;
    return 0;
}

static int env_open(env *e, const char *corpus, uint64_t seed)
{
    memset(e, 0, sizeof *e);
    clpt_model_config mc = {2, 2, 32, 32, 64, 1e-5f};
    int rc = clpt_manifest_load(&e->man, corpus);
    for (int s = 0; !rc && s < CLPT_NSPLITS; s++) {
        e->src[s] = calloc(3, sizeof *e->src[s]);
        for (int d = 0; !rc && d < 3; d++) rc = clpt_source_from_split(&e->src[s][d], e->man, d, s, 0, NULL);
    }
    if (!rc) rc = clpt_model_new(&e->model, &mc, clpt_backend_cpu());
    if (!rc) clpt_model_init_random(e->model, 5);
    const char *kv[] = {"count=7", "mode=b"};
    if (!rc) rc = clpt_plugin_open(&e->plugin, TP "good.so");
    if (!rc) rc = clpt_plugin_opts_parse(&e->opts, e->plugin, kv, 2);
    if (rc) return rc;
    clpt_plugin_host *h = &e->h;
    clpt_plugin_host_init(h, e->plugin, &e->opts);
    static const int schedule[3] = {0, 1, 2};
    h->model = e->model;
    h->manifest = e->man;
    for (int s = 0; s < CLPT_NSPLITS; s++) h->sources[s] = e->src[s];
    h->B = FIX_B;
    h->T = FIX_T;
    h->accum = 1;
    h->schedule = schedule;
    h->n_schedule = 3;
    h->next_rows = no_rows;
    return clpt_plugin_host_start(h, seed);
}

static void env_close(env *e)
{
    clpt_plugin_host_free(&e->h);
    clpt_plugin_opts_free(&e->opts);
    clpt_plugin_close(e->plugin);
    clpt_model_free(e->model);
    for (int s = 0; s < CLPT_NSPLITS; s++) {
        for (int d = 0; e->src[s] && d < 3; d++) clpt_source_free(e->src[s][d]);
        free(e->src[s]);
    }
    clpt_manifest_free(e->man);
}

/* the next hook reports the recorded misuse */
static void expect_misuse(env *e, const char *msg)
{
    CHECK(e->h.failed);
    CHECK(clpt_plugin_host_call(&e->h, CLPT_HOOK_AFTER_BACKWARD) == CLPT_ESTATE);
    char want[512];
    snprintf(want, sizeof want, "strategy 'testgood' after_backward: %s", msg);
    CHECK_MSG(!strcmp(clpt_errmsg(), want), "\n  got  %s\n  want %s", clpt_errmsg(), want);
    CHECK(!e->h.failed);
}

static void test_vectors(env *e)
{
    const clpt_host *h = &e->h.api;
    size_t n = h->n_params(h);
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *got = malloc(n * sizeof *got);
    for (size_t i = 0; i < n; i++) a[i] = (float)(i % 7) - 3, b[i] = 0.5f * (float)(i % 5);
    clpt_vec *x = h->vec_new(h), *y = h->vec_new(h);
    CHECK(x && y && h->vec_norm(h, x) == 0);
    CHECK(h->vec_write(h, x, 0, n, a) == 0 && h->vec_write(h, y, 0, n, b) == 0);
    h->vec_axpy(h, y, 2.0f, x);          /* y = b + 2a */
    h->vec_mul_acc(h, y, 0.5f, x, x);    /* y += a²/2 */
    h->vec_sq_acc(h, y, -1.0f, x);       /* y -= a² */
    h->vec_scale(h, y, 3.0f);
    CHECK(h->vec_read(h, y, 0, n, got) == 0);
    double dot = 0, want_dot = 0;
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        float w = 3.0f * (b[i] + 2 * a[i] + 0.5f * a[i] * a[i] - a[i] * a[i]);
        bad += fabsf(got[i] - w) > 1e-5f * (1 + fabsf(w));
        want_dot += (double)a[i] * w;
    }
    CHECK(bad == 0);
    dot = h->vec_dot(h, x, y);
    CHECK_CLOSE(dot, want_dot, 1e-9);
    h->vec_fill(h, y, 2.0f);
    CHECK_CLOSE(h->vec_norm(h, y), 2.0 * sqrt((double)n), 1e-12);
    /* one tensor only */
    clpt_tensor_info t;
    CHECK(h->tensor_find(h, "h.1.attn.c_attn.weight", &t) == 0 && t.ndim == 2 && t.shape[1] == 96);
    CHECK(h->tensor_find(h, "transformer.h.1.attn.c_attn.weight", &t) == 0);
    h->vec_fill(h, y, 0);
    CHECK(h->vec_copy_tensor(h, y, x, t.name) == 0);
    CHECK(h->vec_read(h, y, 0, n, got) == 0);
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += got[i] != (i >= t.offset && i < t.offset + t.numel ? a[i] : 0);
    CHECK(bad == 0);
    CHECK(h->tensor(h, h->n_tensors(h), &t) < 0 && h->tensor_find(h, "nope", &t) < 0);
    /* misuse */
    h->vec_fill(h, (clpt_vec *)h->base(h), 0);
    expect_misuse(e, "vec_fill: the base weights are read-only");
    CHECK(h->vec_read(h, x, n - 1, 2, got) < 0);
    char msg[128];
    snprintf(msg, sizeof msg, "vec_read: range [%zu, %zu) passes the %zu parameters", n - 1, n + 1, n);
    expect_misuse(e, msg);
    h->vec_free(h, h->params(h));
    expect_misuse(e, "vec_free on a buffer the host owns (params, grads or base)");
    h->vec_free(h, x);
    h->vec_free(h, y);
    free(a);
    free(b);
    free(got);
}

static void test_options_and_info(env *e)
{
    const clpt_host *h = &e->h.api;
    CHECK(h->opt_int(h, "count") == 7 && h->opt_float(h, "count") == 7.0);
    CHECK(h->opt_enum(h, "mode") == 1 && !strcmp(h->opt_string(h, "mode"), "b"));
    CHECK(!strcmp(h->opt_string(h, "label"), "x") && h->opt_bool(h, "flag") == 0);
    CHECK(fabs(h->opt_float(h, "ratio") - 0.5) < 1e-15);
    CHECK(!e->h.failed);
    h->opt_int(h, "nope");
    expect_misuse(e, "asked for option 'nope', which its schema does not declare");
    h->opt_bool(h, "count");
    expect_misuse(e, "read option 'count' with the getter of another type");
    clpt_domain_info di;
    CHECK(h->n_domains(h) == 3 && h->domain_info(h, 1, &di) == 0 && !strcmp(di.name, "beta"));
    CHECK(di.tokens[CLPT_PLUGIN_SPLIT_TRAIN] == FIX_TRAIN && di.tokens[CLPT_PLUGIN_SPLIT_TEST] == FIX_EVAL);
    CHECK(h->schedule_len(h) == 3 && h->schedule_domain(h, 2) == 2 && h->schedule_domain(h, 3) == -1);
    CHECK(h->position(h) == -1 && h->struct_size == sizeof(clpt_host) && h->abi_major == CLPT_PLUGIN_ABI_MAJOR);
    int x[FIX_T], y[FIX_T];
    CHECK(h->next_batch(h, x, y, 1) < 0);
    expect_misuse(e, "next_batch is only available inside compose_batch");
}

static void test_data_and_compute(env *e, env *twin)
{
    const clpt_host *h = &e->h.api, *h2 = &twin->h.api;
    int x[3 * FIX_T], y[3 * FIX_T], x2[3 * FIX_T], y2[3 * FIX_T];
    CHECK(h->sample(h, 1, CLPT_PLUGIN_SPLIT_TEST, x, y, 3, FIX_T) == 0);
    CHECK(h2->sample(h2, 1, CLPT_PLUGIN_SPLIT_TEST, x2, y2, 3, FIX_T) == 0);
    CHECK(!memcmp(x, x2, sizeof x) && !memcmp(y, y2, sizeof y));   /* seeded */
    int inside = 1;
    for (int i = 0; i < 3 * FIX_T; i++) inside &= fix_domain_of(x[i]) == 1 && fix_domain_of(y[i]) == 1;
    CHECK(inside);
    CHECK(h->rng_u64(h) == h2->rng_u64(h2) && h->rng_below(h, 10) < 10);
    CHECK(h->sample(h, 3, 0, x, y, 1, FIX_T) < 0);
    expect_misuse(e, "sample: no domain 3 (3 domains)");
    /* gradients accumulate, scaled */
    clpt_vec *g = h->grads(h);
    h->vec_fill(h, g, 0);
    float l1, l2, lf;
    CHECK(h->forward_backward(h, x, y, 2, FIX_T, 1.0f, &l1) == 0);
    double n1 = h->vec_norm(h, g);
    CHECK(h->forward_backward(h, x, y, 2, FIX_T, 2.0f, &l2) == 0);
    CHECK(h->forward(h, x, y, 2, FIX_T, &lf) == 0);
    CHECK(l1 == l2 && l1 == lf && n1 > 0);
    CHECK_CLOSE(h->vec_norm(h, g), 3 * n1, 1e-5);
    h->metric(h, "good_a", 1.5);
    h->metric(h, "good_a", 2.5);
    cJSON *m = clpt_plugin_host_take_metrics(&e->h);
    CHECK(m && cJSON_GetObjectItem(m, "good_a")->valuedouble == 2.5 && cJSON_GetArraySize(m) == 1);
    cJSON_Delete(m);
    CHECK(clpt_plugin_host_take_metrics(&e->h) == NULL);
}

static void test_state_file(env *e, env *twin, const char *corpus)
{
    char *path = clpt_fs_join(corpus, "host.bin");
    const clpt_host *h = &e->h.api, *h2 = &twin->h.api;
    h->set_lr_scale(h, 0.25);
    CHECK(h->set_lr_schedule(h, CLPT_LR_REWARM) == 0);
    CHECK(clpt_plugin_host_save(&e->h, path) == 0);
    uint64_t next = h->rng_u64(h);
    int x[FIX_T], y[FIX_T], x2[FIX_T], y2[FIX_T];
    CHECK(h->sample(h, 2, CLPT_PLUGIN_SPLIT_TRAIN, x, y, 1, FIX_T) == 0);
    CHECK(clpt_plugin_host_load(&twin->h, path) == 0);
    CHECK(h2->rng_u64(h2) == next && twin->h.lr_scale == 0.25 && twin->h.lr_mode == CLPT_LR_REWARM);
    CHECK(h2->sample(h2, 2, CLPT_PLUGIN_SPLIT_TRAIN, x2, y2, 1, FIX_T) == 0);
    CHECK(!memcmp(x, x2, sizeof x));
    /* a truncated file, or one with a flipped bit anywhere, is refused by
     * its CRC-32 trailer and names itself */
    char *text;
    size_t len;
    CHECK(clpt_fs_read_file(path, 1 << 20, &text, &len) == 0);
    CHECK(clpt_fs_write_atomic(path, text, len - 4) == 0);
    CHECK(clpt_plugin_host_load(&twin->h, path) == CLPT_EFORMAT);
    CHECK_MSG(strstr(clpt_errmsg(), "corrupt") && strstr(clpt_errmsg(), path), "%s", clpt_errmsg());
    for (size_t at = 0; at < len; at += len / 7 + 1) {
        text[at] ^= 0x04;
        CHECK(clpt_fs_write_atomic(path, text, len) == 0);
        CHECK_MSG(clpt_plugin_host_load(&twin->h, path) == CLPT_EFORMAT, "flip at byte %zu not found", at);
        CHECK_MSG(strstr(clpt_errmsg(), path), "%s", clpt_errmsg());
        text[at] ^= 0x04;
    }
    CHECK(clpt_fs_write_atomic(path, text, len) == 0);
    CHECK_MSG(clpt_plugin_host_load(&twin->h, path) == 0, "%s", clpt_errmsg());
    /* format 1 (before the CRC trailer) still loads; bytes past its payload
     * do not */
    uint32_t one = 1;
    memcpy(text + 8, &one, 4);
    CHECK(clpt_fs_write_atomic(path, text, len - 4) == 0);
    CHECK_MSG(clpt_plugin_host_load(&twin->h, path) == 0, "format 1: %s", clpt_errmsg());
    memcpy(text + len - 4, "junk", 4);
    CHECK(clpt_fs_write_atomic(path, text, len) == 0);
    CHECK(clpt_plugin_host_load(&twin->h, path) == CLPT_EFORMAT && strstr(clpt_errmsg(), "unread"));
    CHECK(clpt_fs_write_atomic(path, "garbage!", 8) == 0);
    CHECK(clpt_plugin_host_load(&twin->h, path) == CLPT_EFORMAT);
    free(text);
    free(path);
}

int main(void)
{
    const char *corpus = fix_corpus();
    if (!corpus) return 1;
    env e, twin;
    if (env_open(&e, corpus, 42) || env_open(&twin, corpus, 42)) {
        fprintf(stderr, "%s\n", clpt_errmsg());
        return 1;
    }
    test_vectors(&e);
    test_options_and_info(&e);
    test_data_and_compute(&e, &twin);
    test_state_file(&e, &twin, corpus);
    env_close(&e);
    env_close(&twin);
    if (!check_failures) fix_cleanup(corpus);
    CHECK_DONE();
}
