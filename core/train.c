/* train.c - the training loop and the `clpt train` run. */
#define _POSIX_C_SOURCE 200809L
#include "train.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "clpt.h"
#include "evaluate.h"
#include "fsutil.h"
#include "manifest.h"
#include "progress.h"
#include "schedule.h"
#include "shardcheck.h"

/* ---- one optimizer step ---------------------------------------------------- */

int clpt_train_step(clpt_model *m, clpt_loader *loader, const clpt_adamw *opt, double lr,
                    int B, int T, int grad_accum, int *inputs, int *targets,
                    const clpt_step_hooks *hooks, clpt_step_result *out)
{
    double loss_sum = 0;
    int rc;
    clpt_model_zero_grad(m);
    for (int k = 0; k < grad_accum; k++) {
        if (hooks && hooks->compose) rc = hooks->compose(hooks->ud, inputs, targets, B, T);
        else rc = clpt_loader_next(loader, inputs, targets, B, T);
        if (rc) return rc;
        float loss = 0;
        rc = clpt_model_forward_backward(m, inputs, targets, B, T, 1.0f / grad_accum, &loss);
        if (rc) return rc;
        loss_sum += loss;
    }
    if (hooks && hooks->after_backward && (rc = hooks->after_backward(hooks->ud))) return rc;
    if ((rc = clpt_model_status(m))) return rc; /* e.g. a strategy's vector ops on the gradients */
    out->grad_norm = clpt_model_adamw_step(m, opt, (float)lr);
    if ((rc = clpt_model_status(m))) return rc; /* the step's outputs are not to be trusted */
    out->loss = (float)(loss_sum / grad_accum);
    out->lr = lr;
    if (!isfinite(out->loss))
        return clpt_err(CLPT_ESTATE, "training diverged: loss is %f at optimizer step %lld",
                        out->loss, (long long)clpt_model_step(m));
    if (hooks && hooks->after_step && (rc = hooks->after_step(hooks->ud))) return rc;
    return clpt_model_status(m);
}

void clpt_config_adamw(const clpt_config *cfg, clpt_adamw *o)
{
    o->beta1 = (float)cfg->optim.beta1;
    o->beta2 = (float)cfg->optim.beta2;
    o->eps = (float)cfg->optim.eps;
    o->weight_decay = (float)cfg->optim.weight_decay;
    o->grad_clip = (float)cfg->optim.grad_clip;
}

/* ---- data and model from the configuration ---------------------------------- */

static int open_manifest_sources(const char *dir, const char *domain, int split, uint64_t cap,
                                 int verify, const char *label, clpt_source ***out, int *n)
{
    clpt_manifest *man;
    clpt_shardcheck *check = NULL;
    int rc = clpt_manifest_load(&man, dir);
    if (rc) return clpt_err_wrap(rc, "%s: ", label);
    if (verify && (rc = clpt_shardcheck_new(&check, man))) goto done;
    int nd = clpt_manifest_ndomains(man), first = 0, count = nd;
    if (domain && *domain) {
        first = clpt_manifest_find(man, domain);
        if (first < 0) {
            rc = clpt_err(CLPT_ECONFIG, "%s: domain '%s' is not in %s/manifest.json", label, domain, dir);
            goto done;
        }
        count = 1;
    }
    *out = calloc(count, sizeof **out);
    if (!*out) {
        rc = clpt_err(CLPT_ENOMEM, "out of memory");
        goto done;
    }
    for (int i = 0; i < count && !rc; i++) {
        rc = clpt_source_from_split(&(*out)[i], man, first + i, split, cap, check);
        if (!rc) *n = i + 1;
    }
done:
    clpt_shardcheck_close(check, stderr);
    clpt_manifest_free(man);
    return rc;
}

static int open_shard_list(const char *spec, uint64_t cap, const char *label,
                           clpt_source ***out, int *n)
{
    char *copy = strdup(spec), *save = NULL;
    const char *paths[4096];
    int np = 0, rc = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ') tok++;
        if (!*tok) continue;
        if (np == 4096) rc = clpt_err(CLPT_ECONFIG, "%s: more than 4096 shards listed; use a prepared corpus directory", label);
        else paths[np++] = tok;
    }
    if (!rc && np == 0) rc = clpt_err(CLPT_ECONFIG, "%s: no shard given", label);
    if (!rc && !(*out = calloc(1, sizeof **out))) rc = clpt_err(CLPT_ENOMEM, "out of memory");
    if (!rc && (rc = clpt_source_open(&(*out)[0], paths, np, cap))) clpt_err_wrap(rc, "%s: ", label);
    if (!rc) *n = 1;
    free(copy);
    return rc;
}

int clpt_data_open(const char *spec, const char *domain, int split, uint64_t cap, int verify,
                   const char *label, clpt_source ***out, int *n, double **weights)
{
    *out = NULL;
    *n = 0;
    if (weights) *weights = NULL;
    if (!spec || !*spec) return clpt_err(CLPT_ECONFIG, "%s: no data given", label);
    int rc = clpt_fs_is_dir(spec) ? open_manifest_sources(spec, domain, split, cap, verify, label, out, n)
                          : open_shard_list(spec, cap, label, out, n);
    if (!rc && weights) {
        /* several domains mix in proportion to their size */
        *weights = malloc(*n * sizeof **weights);
        if (!*weights) rc = clpt_err(CLPT_ENOMEM, "out of memory");
        for (int i = 0; !rc && i < *n; i++) (*weights)[i] = (double)clpt_source_tokens((*out)[i]);
    }
    if (rc) {
        for (int i = 0; i < *n; i++) clpt_source_free((*out)[i]);
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

int clpt_model_from_config(const clpt_config *cfg, const clpt_backend *be, clpt_model **out)
{
    if (strcmp(cfg->model.init, "random")) {
        int rc = clpt_ckpt_load_model(out, cfg->model.init, be);
        return rc ? clpt_err_wrap(rc, "model.init: ") : 0;
    }
    clpt_model_config mc;
    int rc = clpt_config_model(cfg, &mc);
    if (!rc) rc = clpt_model_new(out, &mc, be);
    if (!rc) clpt_model_init_random(*out, (uint64_t)cfg->model.seed);
    return rc;
}

/* ---- the run -------------------------------------------------------------------- */

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

typedef struct run {
    const clpt_config *cfg;
    clpt_model *model;
    clpt_source **train, **valid;
    int n_train, n_valid;
    double *weights;
    clpt_loader *loader;
    int log;                 /* <out_dir>/train.jsonl, O_APPEND; -1 when not open */
    int lock;                /* out_dir's lock (clpt_fs_lock_dir); -1 when not held */
    char log_path[4200];
    int B, T, accum;
    int64_t total, step, stop_at, last_eval;
    uint64_t tokens;
    int *x, *y;
    char ckpt[4096];
} run;

static void run_free(run *r)
{
    for (int i = 0; i < r->n_train; i++) clpt_source_free(r->train[i]);
    for (int i = 0; i < r->n_valid; i++) clpt_source_free(r->valid[i]);
    free(r->train);
    free(r->valid);
    free(r->weights);
    clpt_loader_free(r->loader);
    clpt_model_free(r->model);
    if (r->log >= 0) close(r->log);
    if (r->lock >= 0) close(r->lock);
    free(r->x);
    free(r->y);
}

/* One JSON object per line, written whole or not at all (a failed write is
 * cut back), fsync'ed at checkpoints. A failure stops the run: the disk is
 * full or the folder unwritable, and the log would have holes. */
static int log_json(run *r, cJSON *obj)
{
    char *s = obj ? cJSON_PrintUnformatted(obj) : NULL;
    cJSON_Delete(obj);
    if (!s) return clpt_err(CLPT_ENOMEM, "%s: out of memory", r->log_path);
    size_t n = strlen(s);
    s[n] = '\n';  /* the NUL becomes the line's end */
    int rc = clpt_fs_append(r->log, r->log_path, s, n + 1, 0);
    free(s);
    return rc;
}

static int save(run *r)
{
    /* the log first: a checkpoint that is durable while the lines before it
     * are not would leave a gap the resumed run never rewrites */
    if (fsync(r->log) != 0) return clpt_err(CLPT_EIO, "%s: fsync: %s", r->log_path, strerror(errno));
    cJSON *st = cJSON_CreateObject();
    clpt_loader_state ls;
    clpt_loader_get_state(r->loader, &ls);
    cJSON_AddStringToObject(st, "format", "clpt-train-state");
    cJSON_AddNumberToObject(st, "version", 1);
    cJSON_AddNumberToObject(st, "step", (double)r->step);
    cJSON_AddNumberToObject(st, "tokens", (double)r->tokens);
    cJSON_AddItemToObject(st, "loader", clpt_loader_state_to_json(&ls));
    int rc = clpt_ckpt_save(r->model, r->ckpt, st, 1);
    cJSON_Delete(st);
    return rc;
}

static int resume(run *r)
{
    cJSON *st = NULL;
    int rc = clpt_ckpt_load_weights(r->model, r->ckpt);
    if (!rc) rc = clpt_ckpt_load_optimizer(r->model, r->ckpt);
    if (!rc) rc = clpt_ckpt_load_state(r->ckpt, &st);
    if (!rc && !st) rc = clpt_err(CLPT_EFORMAT, "%s: no state.json, cannot resume", r->ckpt);
    const cJSON *step = st ? cJSON_GetObjectItem(st, "step") : NULL;
    const cJSON *tok = st ? cJSON_GetObjectItem(st, "tokens") : NULL;
    if (!rc && (!cJSON_IsNumber(step) || !cJSON_IsNumber(tok)))
        rc = clpt_err(CLPT_EFORMAT, "%s/state.json: 'step' and 'tokens' must be numbers", r->ckpt);
    clpt_loader_state ls;
    if (!rc) rc = clpt_loader_state_from_json(&ls, cJSON_GetObjectItem(st, "loader"));
    if (!rc) rc = clpt_loader_set_state(r->loader, &ls);
    if (!rc) {
        r->step = (int64_t)step->valuedouble;
        r->tokens = (uint64_t)tok->valuedouble;
        fprintf(stderr, "clpt: resuming %s at step %lld\n", r->ckpt, (long long)r->step);
    }
    cJSON_Delete(st);
    return rc ? clpt_err_wrap(rc, "resume: ") : 0;
}

static int evaluate_valid(run *r, clpt_eval_result *res)
{
    const clpt_config *c = r->cfg;
    double nll = 0;
    uint64_t tok = 0;
    int B = c->eval.batch_size ? c->eval.batch_size : r->B;
    for (int i = 0; i < r->n_valid; i++) {
        clpt_eval_result e;
        int rc = clpt_evaluate(r->model, r->valid[i], r->T, B, (uint64_t)c->eval.max_tokens,
                               c->eval.rank, &e, NULL, NULL);
        if (rc) return rc;
        nll += e.nll_sum;
        tok += e.tokens;
        *res = e;
    }
    res->tokens = tok;
    res->nll_sum = nll;
    res->nll = nll / (double)tok;
    res->ppl = exp(res->nll);
    return 0;
}

static int do_eval(run *r)
{
    if (!r->n_valid || r->last_eval == r->step) return 0;
    r->last_eval = r->step;
    clpt_eval_result e;
    int rc = evaluate_valid(r, &e);
    if (rc) return rc;
    fprintf(stderr, "%seval step %lld: valid loss %.4f ppl %.3f over %llu tokens\n",
            r->cfg->runtime.progress != CLPT_PROGRESS_NEVER ? "\n" : "", (long long)r->step,
            e.nll, e.ppl, (unsigned long long)e.tokens);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", "eval");
    cJSON_AddNumberToObject(o, "step", (double)r->step);
    cJSON_AddNumberToObject(o, "nll", e.nll);
    cJSON_AddNumberToObject(o, "ppl", e.ppl);
    cJSON_AddNumberToObject(o, "tokens", (double)e.tokens);
    return log_json(r, o);
}

static int log_step(run *r, const clpt_step_result *s, double tps)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", "step");
    cJSON_AddNumberToObject(o, "step", (double)r->step);
    cJSON_AddNumberToObject(o, "tokens", (double)r->tokens);
    cJSON_AddNumberToObject(o, "loss", s->loss);
    cJSON_AddNumberToObject(o, "lr", s->lr);
    cJSON_AddNumberToObject(o, "grad_norm", s->grad_norm);
    cJSON_AddNumberToObject(o, "tokens_per_s", tps);
    return log_json(r, o);
}

static int setup(run *r, const clpt_config *c, int want_resume)
{
    const clpt_backend *be = clpt_backend_from_config(c);
    if (!be) return CLPT_EUNSUP;
    int rc = clpt_model_from_config(c, be, &r->model);
    if (rc) return rc;
    const clpt_model_config *mc = clpt_model_cfg(r->model);
    r->B = c->train.batch_size;
    r->T = c->train.seq_len ? c->train.seq_len : mc->n_ctx;
    r->accum = c->train.grad_accum;
    if (r->T > mc->n_ctx)
        return clpt_err(CLPT_ECONFIG, "train.seq_len %d exceeds the model's n_ctx %d", r->T, mc->n_ctx);
    rc = clpt_data_open(c->data.train, c->data.domain, CLPT_SPLIT_TRAIN,
                        (uint64_t)c->data.max_train_tokens, c->data.verify_shards, "data.train",
                        &r->train, &r->n_train, &r->weights);
    for (int i = 0; !rc && i < r->n_train; i++) rc = clpt_source_check_vocab(r->train[i], mc->vocab_size);
    if (!rc && *c->data.valid)
        rc = clpt_data_open(c->data.valid, c->data.domain, CLPT_SPLIT_VALID,
                            (uint64_t)c->data.max_eval_tokens, c->data.verify_shards, "data.valid",
                            &r->valid, &r->n_valid, NULL);
    if (!rc) rc = clpt_loader_new(&r->loader, r->train, r->weights, r->n_train, (uint64_t)c->train.seed);
    if (rc) return rc;
    /* steps, or tokens rounded up to whole optimizer steps of this model's T */
    int64_t per_step = (int64_t)r->B * r->T * r->accum;
    r->total = c->train.steps ? c->train.steps : (c->train.tokens + per_step - 1) / per_step;
    r->x = malloc(sizeof(int) * r->B * r->T);
    r->y = malloc(sizeof(int) * r->B * r->T);
    if (!r->x || !r->y) return clpt_err(CLPT_ENOMEM, "out of memory");
    if ((rc = clpt_fs_mkdir_p(c->train.out_dir))) return rc;
    if ((r->lock = clpt_fs_lock_dir(c->train.out_dir, "train.out_dir")) < 0) return r->lock;
    snprintf(r->ckpt, sizeof r->ckpt, "%s/checkpoint", c->train.out_dir);
    snprintf(r->log_path, sizeof r->log_path, "%s/train.jsonl", c->train.out_dir);
    r->log = open(r->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (r->log < 0) return clpt_err(CLPT_EIO, "%s: %s", r->log_path, strerror(errno));
    if ((rc = clpt_ckpt_recover(r->ckpt))) return clpt_err_wrap(rc, "repairing %s: ", r->ckpt);
    if (want_resume && clpt_fs_is_dir(r->ckpt)) return resume(r);
    return 0;
}

static int log_start(run *r)
{
    const clpt_model_config *mc = clpt_model_cfg(r->model);
    fprintf(stderr, "clpt: model %d layers, %d heads, %d channels, vocab %d: %.2fM parameters on %s, %d threads\n",
            mc->n_layer, mc->n_head, mc->n_embd, mc->vocab_size, clpt_model_nparams(r->model) / 1e6,
            clpt_model_backend(r->model)->name, omp_get_max_threads());
    fprintf(stderr, "clpt: %lld steps of %d x %d tokens x %d accumulation\n", (long long)r->total,
            r->B, r->T, r->accum);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "event", r->step ? "resume" : "start");
    cJSON_AddNumberToObject(o, "step", (double)r->step);
    cJSON_AddNumberToObject(o, "total_steps", (double)r->total);
    cJSON_AddNumberToObject(o, "params", (double)clpt_model_nparams(r->model));
    return log_json(r, o);
}

static int loop(run *r)
{
    const clpt_config *c = r->cfg;
    clpt_adamw opt;
    clpt_config_adamw(c, &opt);
    clpt_lr_schedule sch = {c->optim.schedule, c->optim.lr, c->optim.warmup_steps, r->total,
                            c->optim.min_lr_ratio, c->optim.decay_frac};
    clpt_progress_bar bar;
    uint64_t per_step = (uint64_t)r->B * r->T * r->accum;
    clpt_progress_init(&bar, "train", "tok", (uint64_t)r->total * per_step, (int)c->runtime.progress,
                       c->train.log_every);
    uint64_t tok0 = r->tokens;
    double t0 = clpt_now();
    char detail[128];
    int rc = 0;
    while (r->step < r->total && !stop_signal && !(r->stop_at && r->step >= r->stop_at)) {
        clpt_step_result s;
        rc = clpt_train_step(r->model, r->loader, &opt, clpt_lr_at(&sch, r->step), r->B, r->T,
                             r->accum, r->x, r->y, NULL, &s);
        if (rc) break;
        r->step++;
        r->tokens += per_step;
        double tps = (r->tokens - tok0) / (clpt_now() - t0);
        snprintf(detail, sizeof detail, "step %lld loss %.4f lr %.2e", (long long)r->step, s.loss, s.lr);
        bar.t0 = t0 - tok0 / (tps > 0 ? tps : 1); /* rate over this process's work */
        clpt_progress_update(&bar, r->tokens, detail);
        if (c->train.log_every && r->step % c->train.log_every == 0 && (rc = log_step(r, &s, tps))) break;
        if (c->eval.every && r->step % c->eval.every == 0 && (rc = do_eval(r))) break;
        if (c->train.save_every && r->step % c->train.save_every == 0 && (rc = save(r))) break;
    }
    clpt_progress_end(&bar);
    return rc;
}

int clpt_train_run(const clpt_config *cfg, int want_resume, int64_t stop_at)
{
    run r = {.cfg = cfg, .stop_at = stop_at, .last_eval = -1, .log = -1, .lock = -1};
    if (cfg->runtime.threads > 0) omp_set_num_threads(cfg->runtime.threads);
    int rc = setup(&r, cfg, want_resume);
    if (!rc) rc = log_start(&r);
    if (rc) goto done;
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    rc = loop(&r);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc) goto done;
    /* a stop saves where it is; a finished run evaluates too */
    int stopped = stop_signal || r.step < r.total;
    if (!stopped && (rc = do_eval(&r))) goto done;
    if ((rc = save(&r))) goto done;
    fprintf(stderr, "clpt: %s at step %lld, checkpoint %s\n", stopped ? "stopped" : "done",
            (long long)r.step, r.ckpt);
    if (stop_signal) rc = 1;
done:
    run_free(&r);
    return rc;
}
