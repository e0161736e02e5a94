/* checkpoint.c - Hugging Face style checkpoint directories (see
 * checkpoint.h for the layout and the crash-safe save protocol). */
#define _XOPEN_SOURCE 700
#include "checkpoint.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "fsutil.h"
#include "safetensors.h"

#define CONFIG_MAX_BYTES (16u << 20)
#define STATE_MAX_BYTES (1024u << 20)

/* ---- paths ---------------------------------------------------------------- */

typedef struct ckpt_paths {
    char *dir, *tmp, *old;  /* "<dir>", "<dir>.tmp", "<dir>.old" (owned) */
} ckpt_paths;

static void paths_free(ckpt_paths *p)
{
    free(p->dir);
    free(p->tmp);
    free(p->old);
}

/* Trailing slashes are dropped so that "<dir>.tmp" is a sibling of dir. */
static int paths_make(ckpt_paths *p, const char *dir)
{
    memset(p, 0, sizeof *p);
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n == 0 || (n == 1 && (dir[0] == '/' || dir[0] == '.')) ||
        (n == 2 && !strncmp(dir, "..", 2)) || (n >= 3 && !strncmp(dir + n - 3, "/..", 3)) ||
        (n >= 2 && !strncmp(dir + n - 2, "/.", 2)))
        return clpt_err(CLPT_EINVAL, "checkpoint: bad directory name '%s'", dir);
    p->dir = malloc(n + 1);
    p->tmp = malloc(n + 5);
    p->old = malloc(n + 5);
    if (!p->dir || !p->tmp || !p->old) {
        paths_free(p);
        return clpt_err(CLPT_ENOMEM, "%s: out of memory", dir);
    }
    memcpy(p->dir, dir, n);
    p->dir[n] = '\0';
    snprintf(p->tmp, n + 5, "%s.tmp", p->dir);
    snprintf(p->old, n + 5, "%s.old", p->dir);
    return 0;
}

static int rename_durable(const char *from, const char *to)
{
    if (rename(from, to) != 0)
        return clpt_err(CLPT_EIO, "rename %s -> %s: %s", from, to, strerror(errno));
    return clpt_fs_fsync_parent(to);
}

int clpt_ckpt_recover(const char *dir)
{
    ckpt_paths p;
    int rc = paths_make(&p, dir);
    if (rc) return rc;
    if (!clpt_fs_exists(p.dir) && clpt_fs_is_dir(p.old))
        rc = rename_durable(p.old, p.dir); /* killed between swap steps 3 and 4 */
    if (!rc) rc = clpt_fs_remove_tree(p.tmp);
    if (!rc && clpt_fs_exists(p.dir)) rc = clpt_fs_remove_tree(p.old);
    paths_free(&p);
    return rc;
}

/* Loaders never repair: another process may be saving this very
 * checkpoint, between its two renames (dir -> dir.old, dir.tmp -> dir).
 * When dir is missing they read the previous checkpoint, dir.old, which
 * is complete; only the writer (clpt_ckpt_save, and a run opening its own
 * folder) calls clpt_ckpt_recover. buf holds the result when it is not dir. */
static const char *readable_dir(const char *dir, char *buf, size_t cap)
{
    if (clpt_fs_exists(dir)) return dir;
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    if (n + 5 > cap) return dir;
    snprintf(buf, cap, "%.*s.old", (int)n, dir);
    return clpt_fs_is_dir(buf) ? buf : dir;
}

/* ---- config.json ------------------------------------------------------------ */

static int cfg_int(const cJSON *root, const char *label, const char *key, int *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v) return clpt_err(CLPT_ECONFIG, "%s: key '%s' missing", label, key);
    double d = v->valuedouble;
    if (!cJSON_IsNumber(v) || !(d >= 1 && d <= INT_MAX) || d != floor(d))
        return clpt_err(CLPT_ECONFIG, "%s: key '%s' must be a positive integer", label, key);
    *out = (int)d;
    return 0;
}

/* Keys that, when present, must have the value clpt implements. */
static int cfg_check_compat(const cJSON *root, const char *label, int n_embd)
{
    static const char *tanh_gelus[] = {"gelu_new", "gelu_pytorch_tanh", "gelu_fast"};
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "activation_function");
    if (v) {
        int ok = 0;
        for (int i = 0; i < 3; i++) ok |= cJSON_IsString(v) && !strcmp(v->valuestring, tanh_gelus[i]);
        if (!ok) return clpt_err(CLPT_EUNSUP, "%s: key 'activation_function': only the tanh "
                                 "GELU (gelu_new) is supported", label);
    }
    v = cJSON_GetObjectItemCaseSensitive(root, "model_type");
    if (v && !(cJSON_IsString(v) && !strcmp(v->valuestring, "gpt2")))
        return clpt_err(CLPT_EUNSUP, "%s: key 'model_type': only \"gpt2\" is supported", label);
    v = cJSON_GetObjectItemCaseSensitive(root, "n_inner");
    if (v && !cJSON_IsNull(v) && !(cJSON_IsNumber(v) && v->valuedouble == 4.0 * n_embd))
        return clpt_err(CLPT_EUNSUP, "%s: key 'n_inner': must be null or 4*n_embd", label);
    static const struct { const char *key; int want; } flags[] = {
        {"tie_word_embeddings", 1}, {"add_cross_attention", 0},
        {"scale_attn_weights", 1}, {"scale_attn_by_inverse_layer_idx", 0},
    };
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        v = cJSON_GetObjectItemCaseSensitive(root, flags[i].key);
        if (v && !(cJSON_IsBool(v) && cJSON_IsTrue(v) == flags[i].want))
            return clpt_err(CLPT_EUNSUP, "%s: key '%s': only %s is supported", label,
                            flags[i].key, flags[i].want ? "true" : "false");
    }
    return 0;
}

static int cfg_from_json(const cJSON *root, const char *label, clpt_model_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    int rc = cfg_int(root, label, "n_layer", &cfg->n_layer);
    if (!rc) rc = cfg_int(root, label, "n_head", &cfg->n_head);
    if (!rc) rc = cfg_int(root, label, "n_embd", &cfg->n_embd);
    if (!rc) rc = cfg_int(root, label, "vocab_size", &cfg->vocab_size);
    if (!rc) rc = cfg_int(root, label,
                          cJSON_HasObjectItem(root, "n_positions") ? "n_positions" : "n_ctx",
                          &cfg->n_ctx);
    if (rc) return rc;
    cfg->ln_eps = 1e-5f;
    const cJSON *eps = cJSON_GetObjectItemCaseSensitive(root, "layer_norm_epsilon");
    if (eps) {
        if (!cJSON_IsNumber(eps) || !(eps->valuedouble > 0 && eps->valuedouble < 1))
            return clpt_err(CLPT_ECONFIG, "%s: key 'layer_norm_epsilon' must be a number in "
                            "(0, 1)", label);
        cfg->ln_eps = (float)eps->valuedouble;
    }
    if ((rc = cfg_check_compat(root, label, cfg->n_embd))) return rc;
    if ((rc = clpt_model_config_check(cfg)))
        return clpt_err_wrap(rc, "%s: ", label);
    return 0;
}

int clpt_ckpt_parse_config(const char *json, size_t len, const char *label,
                           clpt_model_config *cfg)
{
    /* cJSON gets a NUL-terminated private copy, so that no parser bug can
     * read past the caller's `len` bytes */
    char *text = malloc(len + 1);
    if (!text) return clpt_err(CLPT_ENOMEM, "%s: out of memory", label);
    memcpy(text, json, len);
    text[len] = '\0';
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    int rc;
    if (!root || !cJSON_IsObject(root))
        rc = clpt_err(CLPT_EFORMAT, "%s: not a JSON object", label);
    else
        rc = cfg_from_json(root, label, cfg);
    cJSON_Delete(root);
    return rc;
}

int clpt_ckpt_read_config(const char *dir, clpt_model_config *cfg)
{
    char rdbuf[4096];
    dir = readable_dir(dir, rdbuf, sizeof rdbuf);
    char *path = clpt_fs_join(dir, "config.json"), *text = NULL;
    if (!path) return clpt_err(CLPT_ENOMEM, "%s: out of memory", dir);
    size_t len = 0;
    int rc = clpt_fs_read_file(path, CONFIG_MAX_BYTES, &text, &len);
    if (!rc) rc = clpt_ckpt_parse_config(text, len, path, cfg);
    free(text);
    free(path);
    return rc;
}

/* The shortest decimal that reads back as the same float: 1e-5f is written
 * as 1e-05, not as its double expansion 9.99999974737875e-06. */
static double float_as_short_double(float f)
{
    char buf[32];
    for (int prec = 6; prec < 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, f);
        if (strtof(buf, NULL) == f) return strtod(buf, NULL);
    }
    return f;
}

static cJSON *config_to_json(const clpt_model_config *c)
{
    cJSON *o = cJSON_CreateObject(), *arch = cJSON_CreateStringArray(
        (const char *[]){"GPT2LMHeadModel"}, 1);
    if (!o || !arch || !cJSON_AddItemToObject(o, "architectures", arch)) {
        cJSON_Delete(o);
        return NULL;
    }
    int eos = c->vocab_size - 1;
    int ok = cJSON_AddStringToObject(o, "model_type", "gpt2") &&
        cJSON_AddNumberToObject(o, "n_layer", c->n_layer) &&
        cJSON_AddNumberToObject(o, "n_head", c->n_head) &&
        cJSON_AddNumberToObject(o, "n_embd", c->n_embd) &&
        cJSON_AddNumberToObject(o, "n_positions", c->n_ctx) &&
        cJSON_AddNumberToObject(o, "n_ctx", c->n_ctx) &&
        cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size) &&
        cJSON_AddNumberToObject(o, "layer_norm_epsilon", float_as_short_double(c->ln_eps)) &&
        cJSON_AddStringToObject(o, "activation_function", "gelu_new") &&
        cJSON_AddNumberToObject(o, "resid_pdrop", 0.0) &&
        cJSON_AddNumberToObject(o, "embd_pdrop", 0.0) &&
        cJSON_AddNumberToObject(o, "attn_pdrop", 0.0) &&
        cJSON_AddNumberToObject(o, "initializer_range", 0.02) &&
        cJSON_AddNumberToObject(o, "bos_token_id", eos) &&
        cJSON_AddNumberToObject(o, "eos_token_id", eos) &&
        cJSON_AddTrueToObject(o, "tie_word_embeddings") &&
        cJSON_AddStringToObject(o, "torch_dtype", "float32");
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- weights ------------------------------------------------------------------ */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int shape_matches(const clpt_st_tensor *st, const clpt_tensor *t)
{
    if (st->ndim != t->ndim) return 0;
    for (int d = 0; d < t->ndim; d++)
        if (st->shape[d] != t->shape[d]) return 0;
    return 1;
}

static int shape_error(const clpt_st *st, const clpt_st_tensor *f, const clpt_tensor *t)
{
    char got[96] = "", want[48];
    size_t at = 0;
    for (int d = 0; d < f->ndim && at < sizeof got - 24; d++)
        at += (size_t)snprintf(got + at, sizeof got - at, "%s%lld", d ? ", " : "",
                               (long long)f->shape[d]);
    if (t->ndim == 2) snprintf(want, sizeof want, "%d, %d", t->shape[0], t->shape[1]);
    else snprintf(want, sizeof want, "%d", t->shape[0]);
    return clpt_err(CLPT_EINVAL, "%s: tensor '%.200s': shape [%s], model expects [%s] "
                    "(config mismatch?)", clpt_st_label(st), f->name, got, want);
}

/* lm_head is tied to wte: accepted only when it holds the same values. */
static int check_lm_head(const clpt_st *st, const clpt_st_tensor *f, const clpt_model *m,
                         const float *host)
{
    const clpt_tensor *wte = clpt_model_find(m, "transformer.wte.weight");
    if (!shape_matches(f, wte)) return shape_error(st, f, wte);
    float *tmp = malloc(wte->numel * sizeof *tmp);
    if (!tmp) return clpt_err(CLPT_ENOMEM, "%s: out of memory", clpt_st_label(st));
    int rc = clpt_st_read_f32(st, f, tmp, wte->numel);
    if (!rc && memcmp(tmp, host + wte->offset, wte->numel * sizeof *tmp))
        rc = clpt_err(CLPT_EUNSUP, "%s: tensor 'lm_head.weight' differs from "
                      "'transformer.wte.weight': untied output embeddings are not supported",
                      clpt_st_label(st));
    free(tmp);
    return rc;
}

/* Fill host (n_params floats) from the file; `seen` marks model tensors. */
static int read_weights(const clpt_st *st, const clpt_model *m, float *host, char *seen,
                        const clpt_st_tensor **lm_head)
{
    for (int i = 0; i < clpt_st_count(st); i++) {
        const clpt_st_tensor *f = clpt_st_get(st, i);
        if (ends_with(f->name, ".attn.bias") || ends_with(f->name, ".attn.masked_bias"))
            continue; /* causal-mask buffers of older checkpoints, not parameters */
        if (!strcmp(f->name, "lm_head.weight")) {
            *lm_head = f;
            continue;
        }
        const clpt_tensor *t = clpt_model_find(m, f->name);
        if (!t)
            return clpt_err(CLPT_EINVAL, "%s: tensor '%.200s' is not a parameter of this "
                            "model", clpt_st_label(st), f->name);
        int idx = (int)(t - clpt_model_tensor(m, 0));
        if (seen[idx]++)
            return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s' appears twice (with and "
                            "without the 'transformer.' prefix)", clpt_st_label(st), f->name);
        if (!shape_matches(f, t)) return shape_error(st, f, t);
        int rc = clpt_st_read_f32(st, f, host + t->offset, t->numel);
        if (rc) return rc;
    }
    for (int i = 0; i < clpt_model_ntensors(m); i++)
        if (!seen[i])
            return clpt_err(CLPT_EINVAL, "%s: tensor '%s' missing", clpt_st_label(st),
                            clpt_model_tensor(m, i)->name);
    return 0;
}

int clpt_ckpt_load_weights(clpt_model *m, const char *dir)
{
    char rdbuf[4096];
    dir = readable_dir(dir, rdbuf, sizeof rdbuf);
    char *path = clpt_fs_join(dir, "model.safetensors");
    if (!path) return clpt_err(CLPT_ENOMEM, "%s: out of memory", dir);
    clpt_st *st = NULL;
    int rc = clpt_st_open(&st, path);
    free(path);
    if (!rc && (rc = clpt_st_verify(st))) clpt_st_close(st);
    if (rc) return rc;
    float *host = malloc(clpt_model_nparams(m) * sizeof *host);
    char *seen = calloc((size_t)clpt_model_ntensors(m), 1);
    const clpt_st_tensor *lm_head = NULL;
    if (!host || !seen) rc = clpt_err(CLPT_ENOMEM, "%s: out of memory", clpt_st_label(st));
    if (!rc) rc = read_weights(st, m, host, seen, &lm_head);
    if (!rc && lm_head) rc = check_lm_head(st, lm_head, m, host);
    if (!rc) clpt_model_set_params(m, host);
    free(seen);
    free(host);
    clpt_st_close(st);
    return rc;
}

int clpt_ckpt_load_model(clpt_model **out, const char *dir, const clpt_backend *be)
{
    clpt_model_config cfg;
    *out = NULL;
    int rc = clpt_ckpt_read_config(dir, &cfg);
    if (!rc) rc = clpt_model_new(out, &cfg, be);
    if (!rc && (rc = clpt_ckpt_load_weights(*out, dir))) {
        clpt_model_free(*out);
        *out = NULL;
    }
    return rc;
}

/* ---- optimizer ------------------------------------------------------------------ */

static const char *const moment_prefix[2] = {"exp_avg.", "exp_avg_sq."};

static int read_moment(const clpt_st *st, const clpt_model *m, int which, float *host)
{
    char name[CLPT_TENSOR_NAME_MAX + 16];
    for (int i = 0; i < clpt_model_ntensors(m); i++) {
        const clpt_tensor *t = clpt_model_tensor(m, i);
        snprintf(name, sizeof name, "%s%s", moment_prefix[which], t->name);
        const clpt_st_tensor *f = clpt_st_find(st, name);
        if (!f) return clpt_err(CLPT_EINVAL, "%s: tensor '%s' missing", clpt_st_label(st), name);
        if (!shape_matches(f, t)) return shape_error(st, f, t);
        int rc = clpt_st_read_f32(st, f, host + t->offset, t->numel);
        if (rc) return rc;
    }
    return 0;
}

static int read_step(const clpt_st *st, int64_t *step)
{
    const char *s = clpt_st_metadata(st, "step");
    char *end = NULL;
    errno = 0;
    long long v = s ? strtoll(s, &end, 10) : -1;
    if (!s || errno || end == s || *end || v < 0)
        return clpt_err(CLPT_EFORMAT, "%s: metadata 'step' missing or not a non-negative "
                        "integer", clpt_st_label(st));
    *step = v;
    return 0;
}

int clpt_ckpt_load_optimizer(clpt_model *m, const char *dir)
{
    char rdbuf[4096];
    dir = readable_dir(dir, rdbuf, sizeof rdbuf);
    char *path = clpt_fs_join(dir, "optimizer.safetensors");
    if (!path) return clpt_err(CLPT_ENOMEM, "%s: out of memory", dir);
    clpt_st *st = NULL;
    int rc = clpt_st_open(&st, path);
    free(path);
    if (!rc && (rc = clpt_st_verify(st))) clpt_st_close(st);
    if (rc) return rc;
    size_t n = clpt_model_nparams(m);
    float *mh = malloc(n * sizeof *mh), *vh = malloc(n * sizeof *vh);
    int64_t step = 0;
    if (!mh || !vh) rc = clpt_err(CLPT_ENOMEM, "%s: out of memory", clpt_st_label(st));
    if (!rc && clpt_st_count(st) != 2 * clpt_model_ntensors(m))
        rc = clpt_err(CLPT_EFORMAT, "%s: %d tensors, this model's optimizer has %d",
                      clpt_st_label(st), clpt_st_count(st), 2 * clpt_model_ntensors(m));
    if (!rc) rc = read_step(st, &step);
    if (!rc) rc = read_moment(st, m, 0, mh);
    if (!rc) rc = read_moment(st, m, 1, vh);
    if (!rc) {
        const clpt_backend *be = clpt_model_backend(m);
        be->to_device(clpt_model_adam_m(m), mh, n * sizeof *mh);
        be->to_device(clpt_model_adam_v(m), vh, n * sizeof *vh);
        clpt_model_set_step(m, step);
    }
    free(mh);
    free(vh);
    clpt_st_close(st);
    return rc;
}

/* ---- state.json ------------------------------------------------------------------ */

int clpt_ckpt_load_state(const char *dir, cJSON **out)
{
    *out = NULL;
    char rdbuf[4096];
    dir = readable_dir(dir, rdbuf, sizeof rdbuf);
    char *path = clpt_fs_join(dir, "state.json"), *text = NULL;
    if (!path) return clpt_err(CLPT_ENOMEM, "%s: out of memory", dir);
    int rc = 0;
    size_t len = 0;
    if (clpt_fs_exists(path) && !(rc = clpt_fs_read_file(path, STATE_MAX_BYTES, &text, &len))) {
        *out = cJSON_ParseWithLength(text, len);
        if (!*out) rc = clpt_err(CLPT_EFORMAT, "%s: not valid JSON", path);
    }
    free(text);
    free(path);
    return rc;
}

/* ---- save ------------------------------------------------------------------------ */

static int write_json(const char *dir, const char *file, const cJSON *json)
{
    char *path = clpt_fs_join(dir, file), *text = cJSON_Print(json);
    int rc = (!path || !text) ? clpt_err(CLPT_ENOMEM, "%s/%s: out of memory", dir, file)
                              : clpt_fs_write_atomic(path, text, strlen(text));
    free(text);
    free(path);
    return rc;
}

/* Write the n_params-float slabs `slabs` (one per prefix) as F32 tensors. */
static int write_slabs(const clpt_model *m, const char *path, const float *const *slabs,
                       const char *const *prefix, int nslab, const char *step)
{
    clpt_st_writer *w;
    int rc = clpt_st_writer_new(&w);
    if (rc) return rc;
    char name[CLPT_TENSOR_NAME_MAX + 16];
    rc = clpt_st_writer_set_metadata(w, "format", "pt");
    if (!rc && step) rc = clpt_st_writer_set_metadata(w, "step", step);
    for (int s = 0; !rc && s < nslab; s++)
        for (int i = 0; !rc && i < clpt_model_ntensors(m); i++) {
            const clpt_tensor *t = clpt_model_tensor(m, i);
            int64_t shape[2] = {t->shape[0], t->shape[1]};
            snprintf(name, sizeof name, "%s%s", prefix[s], t->name);
            rc = clpt_st_writer_add(w, name, CLPT_ST_F32, t->ndim, shape, slabs[s] + t->offset);
        }
    if (!rc) rc = clpt_st_writer_write(w, path);
    clpt_st_writer_free(w);
    return rc;
}

static int save_weights(clpt_model *m, const char *dir)
{
    char *path = clpt_fs_join(dir, "model.safetensors");
    float *host = malloc(clpt_model_nparams(m) * sizeof *host);
    int rc = 0;
    if (!path || !host) rc = clpt_err(CLPT_ENOMEM, "%s: out of memory", dir);
    if (!rc) {
        clpt_model_get_params(m, host);
        rc = clpt_model_status(m); /* never write what a failed copy left */
    }
    if (!rc) {
        const float *slab[1] = {host};
        const char *prefix[1] = {""};
        rc = write_slabs(m, path, slab, prefix, 1, NULL);
    }
    free(host);
    free(path);
    return rc;
}

static int save_optimizer(clpt_model *m, const char *dir)
{
    size_t n = clpt_model_nparams(m);
    char *path = clpt_fs_join(dir, "optimizer.safetensors"), step[32];
    float *mh = malloc(n * sizeof *mh), *vh = malloc(n * sizeof *vh);
    int rc = 0;
    if (!path || !mh || !vh) rc = clpt_err(CLPT_ENOMEM, "%s: out of memory", dir);
    if (!rc) {
        const clpt_backend *be = clpt_model_backend(m);
        be->to_host(mh, clpt_model_adam_m(m), n * sizeof *mh);
        be->to_host(vh, clpt_model_adam_v(m), n * sizeof *vh);
        rc = clpt_model_status(m);
    }
    if (!rc) {
        snprintf(step, sizeof step, "%lld", (long long)clpt_model_step(m));
        const float *slabs[2] = {mh, vh};
        rc = write_slabs(m, path, slabs, moment_prefix, 2, step);
    }
    free(mh);
    free(vh);
    free(path);
    return rc;
}

/* Steps 1-2 of the protocol: a complete, synced "<dir>.tmp". */
static int write_tmp(clpt_model *m, const ckpt_paths *p, const cJSON *state, int with_opt)
{
    int rc = clpt_ckpt_recover(p->dir);
    if (!rc) rc = clpt_fs_remove_tree(p->tmp);
    if (!rc) rc = clpt_fs_mkdir_p(p->tmp);
    if (rc) return rc;
    cJSON *cfg = config_to_json(clpt_model_cfg(m));
    rc = cfg ? write_json(p->tmp, "config.json", cfg)
             : clpt_err(CLPT_ENOMEM, "%s: out of memory", p->tmp);
    cJSON_Delete(cfg);
    if (!rc) rc = save_weights(m, p->tmp);
    if (!rc && with_opt) rc = save_optimizer(m, p->tmp);
    if (!rc && state) rc = write_json(p->tmp, "state.json", state);
    if (!rc) rc = clpt_fs_fsync_dir(p->tmp);
    return rc;
}

int clpt_ckpt_save(clpt_model *m, const char *dir, const cJSON *state, int with_optimizer)
{
    ckpt_paths p;
    int rc = paths_make(&p, dir);
    if (rc) return rc;
    rc = write_tmp(m, &p, state, with_optimizer);
    if (!rc && clpt_fs_exists(p.dir)) rc = rename_durable(p.dir, p.old);
    if (!rc) rc = rename_durable(p.tmp, p.dir);
    if (!rc) rc = clpt_fs_remove_tree(p.old);
    if (!rc) rc = clpt_fs_fsync_parent(p.dir);
    if (rc) {
        /* leave `dir` (or "<dir>.old") as the last good checkpoint */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", clpt_errmsg());
        (void)clpt_ckpt_recover(p.dir);
        clpt_err(rc, "saving checkpoint %s: %s", p.dir, msg);
    }
    paths_free(&p);
    return rc;
}
