/* clrun_train.c - training one domain of a continual run, and the
 * checkpoint that makes every point of it resumable. */
#define _POSIX_C_SOURCE 200809L
#include "clrun_impl.h"

#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "clpt.h"
#include "fsutil.h"
#include "progress.h"
#include "schedule.h"
#include "train.h"

/* ---- length of training ----------------------------------------------------------- */

int clrun_compute_steps(clpt_clrun *r)
{
    const clpt_config *c = &r->cfg;
    r->dsteps = calloc(r->N ? r->N : 1, sizeof *r->dsteps);
    if (!r->dsteps) return clpt_err(CLPT_ENOMEM, "out of memory");
    int64_t rows = (int64_t)r->B * r->accum, per_step = rows * r->T;
    r->total_steps = 0;
    for (int n = 0; n < r->N; n++) {
        const clpt_source *s = r->src[CLPT_SPLIT_TRAIN][r->schedule[n]];
        const char *name = clpt_manifest_domain(r->man, r->schedule[n])->name;
        if (clpt_source_tokens(s) < (uint64_t)r->T + 1)
            return clpt_err(CLPT_EINVAL, "domain '%s': its train split has %llu tokens, fewer than seq_len + 1 = %d",
                            name, (unsigned long long)clpt_source_tokens(s), r->T + 1);
        if (r->epoch_mode) {
            double w = c->train.epochs * (double)clpt_loader_epoch_windows(s, r->T);
            r->dsteps[n] = (int64_t)ceil(w / (double)rows);
        } else {
            r->dsteps[n] = c->train.steps ? c->train.steps : (c->train.tokens + per_step - 1) / per_step;
        }
        if (r->dsteps[n] < 1) r->dsteps[n] = 1;
        r->total_steps += r->dsteps[n];
    }
    return 0;
}

/* ---- the rows of the current domain ---------------------------------------------------- */

int clrun_next_rows(void *engine, int *x, int *y, int rows)
{
    clpt_clrun *r = engine;
    int d = r->schedule[r->cur - 1], rc = 0;
    if (r->epoch_mode) {
        /* a short last batch of an epoch continues into the next epoch */
        for (int off = 0, got = 0; off < rows && !rc; off += got)
            rc = clpt_loader_epoch_next(r->train, x + (size_t)off * r->T, y + (size_t)off * r->T, rows - off, &got);
        return rc;
    }
    for (int i = 0; i < rows && !rc; i++)
        rc = clpt_loader_sample(r->train, d, x + (size_t)i * r->T, y + (size_t)i * r->T, r->T);
    return rc;
}

int clrun_hook(clpt_clrun *r, clpt_clrun_event *ev)
{
    if (!r->hooks[ev->event].fn) return 0;
    int rc = r->hooks[ev->event].fn(r->hooks[ev->event].ud, r, ev);
    if (rc < 0) return clpt_err_wrap(rc, "run %s: hook: ", r->name);
    return rc > 0 ? CLPT_CLRUN_STOPPED : 0;
}

static void event_init(clpt_clrun *r, clpt_clrun_event *ev, int kind)
{
    memset(ev, 0, sizeof *ev);
    ev->event = kind;
    ev->index = r->cur;
    ev->domain = r->cur ? r->schedule[r->cur - 1] : -1;
    ev->domain_name = r->cur ? clpt_manifest_domain(r->man, ev->domain)->name : NULL;
    ev->step = r->step;
    ev->global_step = r->global_step;
    ev->tokens = r->tokens;
}

/* ---- step hooks (clpt_train_step) --------------------------------------------------------- */

static int step_compose(void *ud, int *x, int *y, int B, int T)
{
    clpt_clrun *r = ud;
    int rc = clpt_plugin_host_compose(&r->host, x, y, B, T);
    if (rc || !r->hooks[CLPT_CLRUN_BATCH].fn) return rc;
    clpt_clrun_event ev;
    event_init(r, &ev, CLPT_CLRUN_BATCH);
    ev.inputs = x;
    ev.targets = y;
    ev.rows = B;
    ev.T = T;
    rc = clrun_hook(r, &ev);
    if (rc == CLPT_CLRUN_STOPPED) r->stop = 1, rc = 0;
    return rc;
}

static int step_after_backward(void *ud)
{
    return clpt_plugin_host_call(&((clpt_clrun *)ud)->host, CLPT_HOOK_AFTER_BACKWARD);
}

static int step_after_step(void *ud)
{
    return clpt_plugin_host_call(&((clpt_clrun *)ud)->host, CLPT_HOOK_AFTER_STEP);
}

/* ---- learning rate ------------------------------------------------------------------------ */

static double lr_now(clpt_clrun *r)
{
    const clpt_config *c = &r->cfg;
    int mode = r->host.lr_mode;
    clpt_lr_schedule s = {c->optim.schedule, c->optim.lr, c->optim.warmup_steps, r->total_steps,
                          c->optim.min_lr_ratio, c->optim.decay_frac};
    int64_t at = r->global_step;
    if (mode == CLPT_LR_CONSTANT) return c->optim.lr * r->host.lr_scale;
    if (mode == CLPT_LR_REWARM || c->optim.schedule_per_domain) {
        s.total = r->dsteps[r->cur - 1];
        at = r->step;
    }
    return clpt_lr_at(&s, at) * r->host.lr_scale;
}

/* ---- checkpoints ---------------------------------------------------------------------------- */

static char *state_file(const clpt_clrun *r, int64_t gen)
{
    char name[64];
    snprintf(name, sizeof name, "strategy.%lld.bin", (long long)gen);
    return clpt_fs_join(r->ckpt_root, name);
}

/* strategy files other than the current generation's are garbage */
static void remove_old_state_files(const clpt_clrun *r)
{
    DIR *d = opendir(r->ckpt_root);
    if (!d) return;
    char keep[64];
    snprintf(keep, sizeof keep, "strategy.%lld.bin", (long long)r->gen);
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "strategy.", 9) || !strcmp(e->d_name, keep)) continue;
        char *p = clpt_fs_join(r->ckpt_root, e->d_name);
        if (p) remove(p);
        free(p);
    }
    closedir(d);
}

static cJSON *state_json(clpt_clrun *r)
{
    cJSON *st = cJSON_CreateObject();
    clpt_loader_state ls;
    clpt_loader_get_state(r->train, &ls);
    cJSON_AddStringToObject(st, "format", "clpt-clrun-state");
    cJSON_AddNumberToObject(st, "version", 1);
    cJSON_AddStringToObject(st, "run", r->name);
    cJSON_AddStringToObject(st, "strategy", r->strategy);
    cJSON_AddItemToObject(st, "schedule", clrun_schedule_json(r));
    cJSON_AddNumberToObject(st, "done", r->done);
    cJSON_AddNumberToObject(st, "current", r->cur);
    cJSON_AddNumberToObject(st, "step", (double)r->step);
    cJSON_AddNumberToObject(st, "tokens", (double)r->tokens);
    cJSON_AddNumberToObject(st, "seconds", r->seconds);
    cJSON_AddNumberToObject(st, "global_step", (double)r->global_step);
    cJSON_AddNumberToObject(st, "generation", (double)r->gen);
    cJSON *last = cJSON_AddObjectToObject(st, "last_domain");
    cJSON_AddNumberToObject(last, "steps", (double)r->last.steps);
    cJSON_AddNumberToObject(last, "tokens", (double)r->last.tokens);
    cJSON_AddNumberToObject(last, "seconds", r->last.seconds);
    cJSON_AddItemToObject(st, "loader", clpt_loader_state_to_json(&ls));
    return st;
}

int clrun_save(clpt_clrun *r)
{
    int rc = clpt_fs_mkdir_p(r->ckpt_root);
    if (rc) return rc;
    /* the strategy file first: state.json names it, and it only becomes the
     * one in use when the checkpoint's rename commits */
    r->gen++;
    char *sf = state_file(r, r->gen);
    if (!sf) return clpt_err(CLPT_ENOMEM, "out of memory");
    rc = clpt_plugin_host_save(&r->host, sf);
    free(sf);
    cJSON *st = rc ? NULL : state_json(r);
    if (!rc && !st) rc = clpt_err(CLPT_ENOMEM, "out of memory");
    if (!rc) rc = clpt_ckpt_save(r->model, r->latest, st, 1);
    cJSON_Delete(st);
    if (rc) {
        r->gen--;
        return clpt_err_wrap(rc, "run %s: saving the checkpoint: ", r->name);
    }
    remove_old_state_files(r);
    return 0;
}

static int get_num(const cJSON *st, const char *key, double *out, const char *path)
{
    const cJSON *v = cJSON_GetObjectItem(st, key);
    if (!cJSON_IsNumber(v)) return clpt_err(CLPT_EFORMAT, "%s/state.json: '%s' must be a number", path, key);
    *out = v->valuedouble;
    return 0;
}

static int restore_numbers(clpt_clrun *r, const cJSON *st)
{
    static const char *keys[] = {"done", "current", "step", "tokens", "seconds", "global_step", "generation"};
    double v[7];
    for (int i = 0; i < 7; i++) {
        int rc = get_num(st, keys[i], &v[i], r->latest);
        if (rc) return rc;
    }
    r->done = (int)v[0];
    r->cur = (int)v[1];
    r->step = (int64_t)v[2];
    r->tokens = (uint64_t)v[3];
    r->seconds = v[4];
    r->global_step = (int64_t)v[5];
    r->gen = (int64_t)v[6];
    const cJSON *last = cJSON_GetObjectItem(st, "last_domain");
    r->last.steps = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(last, "steps"));
    r->last.tokens = (uint64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(last, "tokens"));
    r->last.seconds = cJSON_GetNumberValue(cJSON_GetObjectItem(last, "seconds"));
    if (r->done < 0 || r->done > r->N || r->cur < 0 || r->cur > r->N || (r->cur && r->cur != r->done + 1))
        return clpt_err(CLPT_EFORMAT, "%s/state.json: positions done=%d current=%d do not fit a schedule of %d",
                        r->latest, r->done, r->cur, r->N);
    return 0;
}

static int restore_state(clpt_clrun *r, const cJSON *st)
{
    const cJSON *f = cJSON_GetObjectItem(st, "format"), *s = cJSON_GetObjectItem(st, "strategy");
    if (!cJSON_IsString(f) || strcmp(f->valuestring, "clpt-clrun-state"))
        return clpt_err(CLPT_EFORMAT, "%s/state.json: not a clpt run state", r->latest);
    if (!cJSON_IsString(s) || strcmp(s->valuestring, r->strategy))
        return clpt_err(CLPT_ESTATE, "%s: checkpoint of strategy '%s', not '%s'", r->latest,
                        cJSON_IsString(s) ? s->valuestring : "?", r->strategy);
    cJSON *sched = clrun_schedule_json(r);
    char *a = cJSON_PrintUnformatted(cJSON_GetObjectItem(st, "schedule")), *b = cJSON_PrintUnformatted(sched);
    int same = a && b && !strcmp(a, b);
    free(a);
    free(b);
    cJSON_Delete(sched);
    if (!same) return clpt_err(CLPT_ESTATE, "%s: checkpoint of another schedule", r->latest);
    int rc = restore_numbers(r, st);
    clpt_loader_state ls;
    if (!rc) rc = clpt_loader_state_from_json(&ls, cJSON_GetObjectItem(st, "loader"));
    if (!rc) rc = clpt_loader_set_state(r->train, &ls);
    char *sf = rc ? NULL : state_file(r, r->gen);
    if (!rc) rc = sf ? clpt_plugin_host_load(&r->host, sf) : clpt_err(CLPT_ENOMEM, "out of memory");
    free(sf);
    return rc;
}

int clrun_restore(clpt_clrun *r)
{
    /* a repair that fails must not look like a run with no checkpoint yet */
    int rc0 = clpt_ckpt_recover(r->latest);
    if (rc0) return clpt_err_wrap(rc0, "run %s: repairing its last checkpoint: ", r->name);
    if (!clpt_fs_is_dir(r->latest)) return 0;
    cJSON *st = NULL;
    int rc = clpt_ckpt_load_weights(r->model, r->latest);
    if (!rc) rc = clpt_ckpt_load_optimizer(r->model, r->latest);
    if (!rc) rc = clpt_ckpt_load_state(r->latest, &st);
    if (!rc && !st) rc = clpt_err(CLPT_EFORMAT, "%s: no state.json, cannot resume", r->latest);
    if (!rc) rc = restore_state(r, st);
    cJSON_Delete(st);
    if (rc) return clpt_err_wrap(rc, "run %s: resuming: ", r->name);
    fprintf(stderr, "clpt: run %s: resuming after %d of %d domains%s\n", r->name, r->done, r->N,
            r->cur ? " (inside the next one)" : "");
    return 0;
}

/* ---- one domain ---------------------------------------------------------------------------- */

static int domain_begin(clpt_clrun *r, int n)
{
    r->cur = n;
    r->step = 0;
    r->tokens = 0;
    r->seconds = 0;
    int d = r->schedule[n - 1], rc = 0;
    cJSON *o = clrun_event_new(r, "domain_begin");
    cJSON_AddNumberToObject(o, "index", n);
    cJSON_AddStringToObject(o, "domain", clpt_manifest_domain(r->man, d)->name);
    if ((rc = clrun_journal_write(r, o))) return rc;
    if (r->cfg.optim.reset_per_domain) clpt_model_reset_optimizer(r->model);
    if (r->epoch_mode && (rc = clpt_loader_epoch_begin(r->train, d, r->T))) return rc;
    r->host.position = n - 1;
    r->host.step = 0;
    r->host.domain_steps = r->dsteps[n - 1];
    if ((rc = clpt_plugin_host_call(&r->host, CLPT_HOOK_DOMAIN_BEGIN))) return rc;
    clpt_clrun_event ev;
    event_init(r, &ev, CLPT_CLRUN_DOMAIN_BEGIN);
    return clrun_hook(r, &ev);
}

/* A failed write stops the run like any other: the disk is full or the
 * folder unwritable, so the next checkpoint would fail anyway, and going on
 * would leave holes in the loss curves without a word. */
static int log_train(clpt_clrun *r, const clpt_step_result *s, double tps)
{
    cJSON *o = clrun_event_new(r, "train");
    cJSON_AddNumberToObject(o, "index", r->cur);
    cJSON_AddStringToObject(o, "domain", clpt_manifest_domain(r->man, r->schedule[r->cur - 1])->name);
    cJSON_AddNumberToObject(o, "step", (double)r->step);
    cJSON_AddNumberToObject(o, "global_step", (double)r->global_step);
    cJSON_AddNumberToObject(o, "tokens", (double)r->tokens);
    cJSON_AddNumberToObject(o, "loss", s->loss);
    cJSON_AddNumberToObject(o, "lr", s->lr);
    cJSON_AddNumberToObject(o, "grad_norm", s->grad_norm);
    cJSON_AddNumberToObject(o, "tokens_per_s", tps);
    cJSON *m = clpt_plugin_host_take_metrics(&r->host);
    if (m) cJSON_AddItemToObject(o, "metrics", m);
    return clrun_journal_write(r, o);
}

static volatile sig_atomic_t signal_stop;
static void on_signal(int sig) { signal_stop = sig; }

/* after one optimizer step: bookkeeping, logs, hooks, periodic saves */
static int after_one_step(clpt_clrun *r, const clpt_step_result *s, clpt_progress_bar *bar, double t0,
                          uint64_t tok0)
{
    r->step++;
    r->global_step++;
    r->tokens += (uint64_t)r->B * r->T * r->accum;
    r->host.step = r->step;
    r->host.global_step = r->global_step;
    double now = clpt_now(), tps = (r->tokens - tok0) / (now - t0 > 1e-9 ? now - t0 : 1e-9);
    char detail[96];
    snprintf(detail, sizeof detail, "loss %.4f lr %.2e", s->loss, s->lr);
    clpt_progress_update(bar, r->tokens, detail);
    int rc = r->log_every && r->step % r->log_every == 0 ? log_train(r, s, tps) : 0;
    if (rc) return rc;
    int every = r->hooks[CLPT_CLRUN_STEP].every;
    if (r->hooks[CLPT_CLRUN_STEP].fn && every > 0 && r->step % every == 0) {
        clpt_clrun_event ev;
        event_init(r, &ev, CLPT_CLRUN_STEP);
        ev.loss = s->loss;
        ev.lr = s->lr;
        ev.grad_norm = s->grad_norm;
        rc = clrun_hook(r, &ev);
        if (rc == CLPT_CLRUN_STOPPED) r->stop = 1, rc = 0;
    }
    if (signal_stop) r->stop = 1;
    if (!rc && !r->stop && r->save_every && r->step % r->save_every == 0 && r->step < r->dsteps[r->cur - 1]) {
        r->seconds += clpt_now() - r->t_start;
        r->t_start = clpt_now();
        rc = clrun_save(r);
    }
    return rc;
}

static int train_loop(clpt_clrun *r)
{
    clpt_step_hooks hooks = {step_compose, step_after_backward, step_after_step, r};
    int64_t total = r->dsteps[r->cur - 1];
    char what[160];
    snprintf(what, sizeof what, "domain %d/%d %s", r->cur, r->N,
             clpt_manifest_domain(r->man, r->schedule[r->cur - 1])->name);
    clpt_progress_bar bar;
    /* without a terminal, a line per logged step; "never" keeps only the last */
    clpt_progress_init(&bar, what, "tok", (uint64_t)total * r->B * r->T * r->accum, r->cfg.runtime.progress,
                       r->cfg.runtime.progress == CLPT_PROGRESS_NEVER ? 0 : r->log_every);
    double t0 = clpt_now();
    uint64_t tok0 = r->tokens;
    bar.t0 = t0;
    int rc = 0;
    while (!rc && r->step < total && !r->stop) {
        clpt_step_result s;
        r->host.lr = lr_now(r);
        rc = clpt_train_step(r->model, r->train, &r->adamw, r->host.lr, r->B, r->T, r->accum, r->x, r->y,
                             &hooks, &s);
        if (!rc) rc = after_one_step(r, &s, &bar, t0, tok0);
    }
    clpt_progress_end(&bar);
    return rc;
}

static int domain_end(clpt_clrun *r, int n)
{
    int rc = clpt_plugin_host_call(&r->host, CLPT_HOOK_DOMAIN_END);
    if (rc) return rc;
    r->last.steps = r->step;
    r->last.tokens = r->tokens;
    r->last.seconds = r->seconds;
    r->done = n;
    r->cur = 0;
    r->step = 0;
    r->tokens = 0;
    r->seconds = 0;
    r->host.position = -1;
    r->host.step = 0;
    if ((rc = clrun_save(r))) return rc;
    if (r->keep) {
        char name[64];
        snprintf(name, sizeof name, "after-%d", n);
        char *p = clpt_fs_join(r->ckpt_root, name);
        rc = p ? clpt_ckpt_save(r->model, p, NULL, 0) : clpt_err(CLPT_ENOMEM, "out of memory");
        free(p);
        if (rc) return rc;
    }
    if ((rc = clrun_journal_domain_end(r, n))) return rc;
    clpt_clrun_event ev;
    event_init(r, &ev, CLPT_CLRUN_DOMAIN_END);
    ev.index = n;
    ev.domain = r->schedule[n - 1];
    ev.domain_name = clpt_manifest_domain(r->man, ev.domain)->name;
    ev.step = r->last.steps;
    ev.tokens = r->last.tokens;
    ev.seconds = r->last.seconds;
    return clrun_hook(r, &ev);
}

static int train_domain(clpt_clrun *r, int n)
{
    int rc = r->cur == n ? 0 : domain_begin(r, n);
    if (rc == CLPT_CLRUN_STOPPED) { /* asked to stop before the first step */
        int src = clrun_save(r);
        return src ? src : rc;
    }
    if (rc) return rc;
    r->host.position = n - 1;
    r->host.step = r->step;
    r->host.domain_steps = r->dsteps[n - 1];
    r->t_start = clpt_now();
    rc = train_loop(r);
    r->seconds += clpt_now() - r->t_start;
    r->t_start = clpt_now();
    if (rc) return rc;
    if (r->step < r->dsteps[n - 1]) { /* stopped inside the domain */
        rc = clrun_save(r);
        return rc ? rc : CLPT_CLRUN_STOPPED;
    }
    rc = domain_end(r, n);
    if (!rc && r->stop) rc = CLPT_CLRUN_STOPPED;
    return rc;
}

int clpt_clrun_train_domain(clpt_clrun *r, int n)
{
    if (!r->plugin) return clpt_err(CLPT_ESTATE, "run %s: strategy 'none' does not train", r->name);
    if (n < 1 || n > r->N) return clpt_err(CLPT_EINVAL, "run %s: no schedule position %d (1..%d)", r->name, n, r->N);
    if (n <= r->done) return 0;
    if (n != r->done + 1)
        return clpt_err(CLPT_ESTATE, "run %s: position %d cannot be trained before %d", r->name, n, r->done + 1);
    r->stop = 0;
    signal_stop = 0;
    struct sigaction sa = {.sa_handler = on_signal}, old_int, old_term;
    if (r->handle_signals) {
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);
    }
    int rc = train_domain(r, n);
    if (r->handle_signals) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
    }
    if (rc == CLPT_CLRUN_STOPPED)
        fprintf(stderr, "clpt: run %s: stopped at domain %d step %lld; reopen %s to resume\n", r->name,
                r->cur ? r->cur : r->done, (long long)(r->cur ? r->step : r->last.steps), r->dir);
    return rc;
}
