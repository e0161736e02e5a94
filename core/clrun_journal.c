/* clrun_journal.c - the results journal of a run (docs/journal.md): one
 * JSON object per line, each flushed and fsync'ed, read back on resume so
 * that finished domains and evaluation cells are never recomputed. */
#define _POSIX_C_SOURCE 200809L
#include "clrun_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clpt.h"
#include "fsutil.h"
#ifdef CLPT_WITH_CUDA
#include "cuda/clpt_cuda.h"
#endif

#define JOURNAL_MAX_BYTES ((size_t)1 << 30)

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

cJSON *clrun_event_new(const clpt_clrun *r, const char *event)
{
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    cJSON_AddNumberToObject(o, "v", 1);
    cJSON_AddStringToObject(o, "event", event);
    cJSON_AddNumberToObject(o, "time", unix_now());
    cJSON_AddStringToObject(o, "run", r->name);
    return o;
}

int clrun_journal_write(clpt_clrun *r, cJSON *ev)
{
    char *s = ev ? cJSON_PrintUnformatted(ev) : NULL;
    cJSON_Delete(ev);
    if (!s) return clpt_err(CLPT_ENOMEM, "journal: out of memory");
    size_t n = strlen(s);
    s[n] = '\n';  /* the NUL becomes the line's end; the length is known */
    int rc = clpt_fs_append(r->jfd, r->journal_path, s, n + 1, 1);
    free(s);
    return rc;
}

int clrun_journal_open(clpt_clrun *r)
{
    r->jfd = open(r->journal_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (r->jfd < 0) return clpt_err(CLPT_EIO, "%s: %s", r->journal_path, strerror(errno));
    return clpt_fs_fsync_parent(r->journal_path);
}

/* ---- cells ------------------------------------------------------------------------ */

/* Cells are found through a hash of (model, domain, split): a study's grid
 * has tens of thousands, and a resume looks each journaled one up. */
static uint32_t cell_hash(const char *model, const char *domain, int split)
{
    uint32_t h = 2166136261u ^ (uint32_t)split; /* FNV-1a */
    for (const unsigned char *p = (const unsigned char *)model; *p; p++) h = (h ^ *p) * 16777619u;
    h = (h ^ 0xff) * 16777619u; /* a separator: ("ab","c") and ("a","bc") differ */
    for (const unsigned char *p = (const unsigned char *)domain; *p; p++) h = (h ^ *p) * 16777619u;
    return h;
}

/* the slot that holds the cell, or the empty slot where it would go */
static int *cell_slot(const clpt_clrun *r, const char *model, const char *domain, int split)
{
    uint32_t mask = (uint32_t)r->index_cap - 1, i = cell_hash(model, domain, split) & mask;
    for (;; i = (i + 1) & mask) {
        int k = r->cell_index[i];
        if (!k) return &r->cell_index[i];
        const clrun_cell *c = &r->cells[k - 1];
        if (c->split == split && !strcmp(c->model, model) && !strcmp(c->domain, domain)) return &r->cell_index[i];
    }
}

const clrun_cell *clrun_cell_find(const clpt_clrun *r, const char *model, const char *domain, int split)
{
    if (!r->index_cap) return NULL;
    int k = *cell_slot(r, model, domain, split);
    return k ? &r->cells[k - 1] : NULL;
}

/* room for one more cell at a load of at most one half */
static int index_reserve(clpt_clrun *r)
{
    if (2 * (r->n_cells + 1) <= r->index_cap) return 0;
    int cap = r->index_cap ? 2 * r->index_cap : 256;
    int *ix = calloc((size_t)cap, sizeof *ix);
    if (!ix) return clpt_err(CLPT_ENOMEM, "out of memory");
    free(r->cell_index);
    r->cell_index = ix;
    r->index_cap = cap;
    for (int i = 0; i < r->n_cells; i++) {
        const clrun_cell *c = &r->cells[i];
        *cell_slot(r, c->model, c->domain, c->split) = i + 1;
    }
    return 0;
}

int clrun_cell_add(clpt_clrun *r, const char *model, const char *domain, int split,
                   const clpt_eval_result *res, int has_rank)
{
    if (index_reserve(r)) return CLPT_ENOMEM;
    if (r->n_cells == r->cap_cells) {
        int cap = r->cap_cells ? 2 * r->cap_cells : 64;
        clrun_cell *c = realloc(r->cells, cap * sizeof *c);
        if (!c) return clpt_err(CLPT_ENOMEM, "out of memory");
        r->cells = c;
        r->cap_cells = cap;
    }
    clrun_cell *c = &r->cells[r->n_cells];
    c->model = strdup(model);
    c->domain = strdup(domain);
    if (!c->model || !c->domain) {
        free(c->model);
        free(c->domain);
        return clpt_err(CLPT_ENOMEM, "out of memory");
    }
    c->split = split;
    c->r = *res;
    c->has_rank = has_rank;
    *cell_slot(r, model, domain, split) = ++r->n_cells;
    return 0;
}

void clrun_cells_free(clpt_clrun *r)
{
    for (int i = 0; i < r->n_cells; i++) {
        free(r->cells[i].model);
        free(r->cells[i].domain);
    }
    free(r->cells);
    free(r->cell_index);
    r->cells = NULL;
    r->cell_index = NULL;
    r->n_cells = r->cap_cells = r->index_cap = 0;
}

/* ---- run description --------------------------------------------------------------- */

cJSON *clrun_schedule_json(const clpt_clrun *r)
{
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < r->N; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(clpt_manifest_domain(r->man, r->schedule[i])->name));
    return a;
}

cJSON *clrun_options_json(const clpt_clrun *r)
{
    return r->plugin ? clpt_plugin_opts_json(r->plugin, &r->opts) : cJSON_CreateObject();
}

/* section -> key -> typed value, from the configuration schema */
static cJSON *config_json(const clpt_config *cfg)
{
    cJSON *root = cJSON_CreateObject();
    for (int i = 0; root && i < clpt_config_nkeys(); i++) {
        clpt_config_keyinfo k;
        char val[CLPT_CONFIG_STR_MAX];
        if (clpt_config_key_info(i, &k) || clpt_config_get(cfg, k.dotted, val, sizeof val)) continue;
        cJSON *sec = cJSON_GetObjectItem(root, k.section);
        if (!sec) sec = cJSON_AddObjectToObject(root, k.section);
        if (!strcmp(k.type, "bool")) cJSON_AddBoolToObject(sec, k.name, !strcmp(val, "true"));
        else if (!strcmp(k.type, "int") || !strcmp(k.type, "int64") || !strcmp(k.type, "float"))
            cJSON_AddNumberToObject(sec, k.name, strtod(val, NULL));
        else cJSON_AddStringToObject(sec, k.name, val);
    }
    return root;
}

static cJSON *model_json(const clpt_clrun *r)
{
    const clpt_model_config *mc = clpt_model_cfg(r->model);
    cJSON *m = cJSON_CreateObject();
    cJSON_AddNumberToObject(m, "n_layer", mc->n_layer);
    cJSON_AddNumberToObject(m, "n_head", mc->n_head);
    cJSON_AddNumberToObject(m, "n_embd", mc->n_embd);
    cJSON_AddNumberToObject(m, "n_ctx", mc->n_ctx);
    cJSON_AddNumberToObject(m, "vocab_size", mc->vocab_size);
    cJSON_AddNumberToObject(m, "params", (double)clpt_model_nparams(r->model));
    return m;
}

/* what the run computes on: the backend, and on a GPU the card and the
 * GEMM precision and attention kernels in effect (the config's "default"
 * may come from the environment) */
static cJSON *device_json(const clpt_clrun *r)
{
    const clpt_backend *be = clpt_model_backend(r->model);
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "backend", be->name);
#ifdef CLPT_WITH_CUDA
    if (!strcmp(be->name, "cuda")) {
        char gpu[256];
        clpt_cuda_device_info(gpu, sizeof gpu, NULL, NULL, NULL);
        cJSON_AddStringToObject(d, "gpu", gpu);
        cJSON_AddStringToObject(d, "activations", be->act_bytes == 2 ? "bf16" : "fp32");
        cJSON_AddStringToObject(d, "gemm", be->act_bytes == 2 ? "bf16" : clpt_cuda_gemm());
        cJSON_AddStringToObject(d, "attention", clpt_cuda_attn());
        if (clpt_cuda_gelu_fusion()) cJSON_AddBoolToObject(d, "gelu_fusion", 1);
        if (!strcmp(clpt_cuda_logits_in_effect(be->act_bytes), "bf16")) cJSON_AddStringToObject(d, "logits", "bf16");
    }
#endif
    return d;
}

int clrun_journal_run(clpt_clrun *r)
{
    cJSON *o = clrun_event_new(r, "run");
    if (!o) return clpt_err(CLPT_ENOMEM, "out of memory");
    cJSON_AddStringToObject(o, "strategy", r->strategy);
    cJSON_AddItemToObject(o, "options", clrun_options_json(r));
    cJSON_AddItemToObject(o, "schedule", clrun_schedule_json(r));
    cJSON_AddItemToObject(o, "model", model_json(r));
    cJSON_AddItemToObject(o, "config", config_json(&r->cfg));
    cJSON *dev = device_json(r);
    /* a resumed run on other numerics (another backend, GPU, or precision,
     * e.g. after the defaults changed): said, and recorded */
    if (r->prev_device && dev && !cJSON_Compare(r->prev_device, dev, 1)) {
        char *was = cJSON_PrintUnformatted(r->prev_device), *now = cJSON_PrintUnformatted(dev);
        fprintf(stderr, "clpt: run %s resumes on another device configuration: was %s, now %s; its later "
                        "results are not bit-comparable with the earlier ones\n",
                r->name, was ? was : "?", now ? now : "?");
        free(was);
        free(now);
        cJSON_AddBoolToObject(o, "device_changed", 1);
    }
    cJSON_AddItemToObject(o, "device", dev);
    cJSON_AddBoolToObject(o, "resumed", r->resumed);
    cJSON_AddNumberToObject(o, "seed", (double)r->cfg.train.seed);
    return clrun_journal_write(r, o);
}

int clrun_journal_domain_end(clpt_clrun *r, int n)
{
    cJSON *o = clrun_event_new(r, "domain_end");
    if (!o) return clpt_err(CLPT_ENOMEM, "out of memory");
    char ck[64];
    if (r->keep) snprintf(ck, sizeof ck, "checkpoints/after-%d", n);
    else snprintf(ck, sizeof ck, "checkpoints/latest");
    cJSON_AddNumberToObject(o, "index", n);
    cJSON_AddStringToObject(o, "domain", clpt_manifest_domain(r->man, r->schedule[n - 1])->name);
    cJSON_AddNumberToObject(o, "steps", (double)r->last.steps);
    cJSON_AddNumberToObject(o, "tokens", (double)r->last.tokens);
    cJSON_AddNumberToObject(o, "seconds", r->last.seconds);
    cJSON_AddStringToObject(o, "checkpoint", ck);
    int rc = clrun_journal_write(r, o);
    if (!rc && n > r->journal_done) r->journal_done = n;
    return rc;
}

/* ---- reading it back ------------------------------------------------------------------ */

static double num(const cJSON *o, const char *k, double def)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static int same_json(const cJSON *a, cJSON *b)
{
    char *sa = a ? cJSON_PrintUnformatted(a) : NULL, *sb = b ? cJSON_PrintUnformatted(b) : NULL;
    int same = sa && sb && !strcmp(sa, sb);
    free(sa);
    free(sb);
    cJSON_Delete(b);
    return same;
}

/* Keys that change what a run computes: resuming with other values would
 * mix two experiments in one journal. Paths, logging and runtime may change. */
static const char *const recipe_keys[] = {
    "model.preset", "model.n_layer", "model.n_head", "model.n_embd", "model.n_ctx", "model.vocab_size",
    "model.init", "model.seed", "train.batch_size", "train.seq_len", "train.grad_accum", "train.steps",
    "train.tokens", "train.epochs", "train.seed", "optim.lr", "optim.beta1", "optim.beta2", "optim.eps",
    "optim.weight_decay", "optim.grad_clip", "optim.schedule", "optim.warmup_steps", "optim.min_lr_ratio",
    "optim.decay_frac", "optim.reset_per_domain", "optim.schedule_per_domain", "data.max_train_tokens",
    "data.max_eval_tokens", "eval.max_tokens", NULL,
};

static int check_recipe(clpt_clrun *r, const cJSON *cfg, int line)
{
    cJSON *now = config_json(&r->cfg);
    int rc = 0;
    for (int i = 0; recipe_keys[i] && !rc && cfg; i++) {
        char sec[16];
        const char *dot = strchr(recipe_keys[i], '.');
        snprintf(sec, sizeof sec, "%.*s", (int)(dot - recipe_keys[i]), recipe_keys[i]);
        const cJSON *a = cJSON_GetObjectItem(cJSON_GetObjectItem(cfg, sec), dot + 1);
        const cJSON *b = cJSON_GetObjectItem(cJSON_GetObjectItem(now, sec), dot + 1);
        if (!a || !b || cJSON_Compare(a, b, 1)) continue;
        char *sa = cJSON_PrintUnformatted(a), *sb = cJSON_PrintUnformatted(b);
        rc = clpt_err(CLPT_ESTATE, "%s:%d: the run was started with %s = %s, now it is %s; resume it with the "
                      "same recipe or use a new directory", r->journal_path, line, recipe_keys[i],
                      sa ? sa : "?", sb ? sb : "?");
        free(sa);
        free(sb);
    }
    cJSON_Delete(now);
    return rc;
}

/* the first `run` event must describe this very run */
static int check_run(clpt_clrun *r, const cJSON *o, int line)
{
    const cJSON *s = cJSON_GetObjectItem(o, "strategy");
    const char *what = NULL;
    if (!cJSON_IsString(s) || strcmp(s->valuestring, r->strategy)) what = "strategy";
    else if (!same_json(cJSON_GetObjectItem(o, "options"), clrun_options_json(r))) what = "strategy options";
    else if (!same_json(cJSON_GetObjectItem(o, "schedule"), clrun_schedule_json(r))) what = "schedule";
    if (!what) return check_recipe(r, cJSON_GetObjectItem(o, "config"), line);
    return clpt_err(CLPT_ESTATE, "%s:%d: this run directory holds a run with another %s; resume it with the "
                    "same settings or use a new directory", r->journal_path, line, what);
}

static int read_eval(clpt_clrun *r, const cJSON *o)
{
    const cJSON *m = cJSON_GetObjectItem(o, "model"), *d = cJSON_GetObjectItem(o, "domain");
    const cJSON *sp = cJSON_GetObjectItem(o, "split");
    if (!cJSON_IsString(m) || !cJSON_IsString(d)) return 0;
    int split = cJSON_IsString(sp) ? clpt_split_parse(sp->valuestring) : CLPT_SPLIT_TEST;
    if (split < 0 || clrun_cell_find(r, m->valuestring, d->valuestring, split)) return 0;
    clpt_eval_result e = {0};
    e.ppl = num(o, "ppl", 0);
    e.nll = num(o, "nll", 0);
    e.tokens = (uint64_t)num(o, "tokens", 0);
    e.nll_sum = e.nll * (double)e.tokens;
    e.rank_mean = num(o, "rank_mean", 0);
    e.rank_median = num(o, "rank_median", 0);
    e.top1 = num(o, "top1", 0);
    return clrun_cell_add(r, m->valuestring, d->valuestring, split, &e, cJSON_GetObjectItem(o, "rank_mean") != NULL);
}

static int read_event(clpt_clrun *r, const cJSON *o, int line, int *seen_run)
{
    const cJSON *ev = cJSON_GetObjectItem(o, "event"), *run = cJSON_GetObjectItem(o, "run");
    if (!cJSON_IsString(ev)) return clpt_err(CLPT_EFORMAT, "%s:%d: no \"event\"", r->journal_path, line);
    if (cJSON_IsString(run) && strcmp(run->valuestring, r->name))
        return clpt_err(CLPT_ESTATE, "%s:%d: the journal belongs to run '%s', not '%s'", r->journal_path, line,
                        run->valuestring, r->name);
    const char *e = ev->valuestring;
    if (!strcmp(e, "run")) { /* the last one says what the run computed on most recently */
        const cJSON *dev = cJSON_GetObjectItem(o, "device");
        cJSON_Delete(r->prev_device);
        r->prev_device = cJSON_IsObject(dev) ? cJSON_Duplicate(dev, 1) : NULL;
    }
    if (!strcmp(e, "run") && !*seen_run) {
        *seen_run = 1;
        return check_run(r, o, line);
    }
    if (!strcmp(e, "domain_end")) {
        int n = (int)num(o, "index", 0);
        if (n > r->journal_done) r->journal_done = n;
    } else if (!strcmp(e, "eval")) {
        return read_eval(r, o);
    } else if (!strcmp(e, "run_end")) {
        r->run_ended = 1;
    }
    return 0;
}

int clrun_journal_read(clpt_clrun *r)
{
    if (!clpt_fs_exists(r->journal_path)) return 0;
    char *text;
    size_t len;
    int rc = clpt_fs_read_file(r->journal_path, JOURNAL_MAX_BYTES, &text, &len);
    if (rc) return rc;
    int line = 0, seen_run = 0, last_parsed = 0;
    size_t whole = 0; /* bytes up to and including the last newline */
    for (char *p = text, *nl; !rc && p < text + len; p = nl + 1) {
        nl = memchr(p, '\n', text + len - p);
        int last = !nl;
        if (!nl) nl = text + len;
        else whole = (size_t)(nl - text) + 1;
        *nl = 0;
        line++;
        if (p == nl) continue;
        cJSON *o = cJSON_Parse(p);
        /* a torn last line is what a kill mid-write leaves: skip it */
        if (!o && !last) rc = clpt_err(CLPT_EFORMAT, "%s:%d: not a JSON object", r->journal_path, line);
        if (o) rc = read_event(r, o, line, &seen_run);
        last_parsed = o != NULL;
        cJSON_Delete(o);
        r->resumed = 1;
    }
    /* drop a torn tail (whatever follows the last newline, zero bytes
     * included), or the next event would be glued onto it */
    size_t keep = whole;
    if (!rc && keep < len) {
        FILE *f = last_parsed ? fopen(r->journal_path, "a") : NULL;
        int ok = last_parsed ? f && fputc('\n', f) != EOF : truncate(r->journal_path, (off_t)keep) == 0;
        if (f && fclose(f)) ok = 0;
        if (!ok) rc = clpt_err(CLPT_EIO, "%s: cannot repair the torn last line: %s", r->journal_path, strerror(errno));
    }
    free(text);
    return rc;
}
