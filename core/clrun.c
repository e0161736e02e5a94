/* clrun.c - opening, resuming, driving and closing a continual run
 * (clrun.h). Training is in clrun_train.c, evaluation in clrun_eval.c, the
 * journal in clrun_journal.c. */
#define _POSIX_C_SOURCE 200809L
#include "clrun_impl.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "clpt.h"
#include "fsutil.h"
#include "progress.h"
#include "shardcheck.h"
#include "train.h"

/* ---- inspection ------------------------------------------------------------------- */

const clpt_manifest *clpt_clrun_manifest(const clpt_clrun *r) { return r->man; }
const char *clpt_clrun_dir(const clpt_clrun *r) { return r->dir; }
const char *clpt_clrun_name(const clpt_clrun *r) { return r->name; }
const char *clpt_clrun_strategy(const clpt_clrun *r) { return r->strategy; }
int clpt_clrun_done(const clpt_clrun *r) { return r->done; }
int clpt_clrun_finished(const clpt_clrun *r) { return r->run_ended; }
int64_t clpt_clrun_global_step(const clpt_clrun *r) { return r->global_step; }
clpt_model *clpt_clrun_model(clpt_clrun *r) { return r->model; }
void clpt_clrun_stop(clpt_clrun *r) { r->stop = 1; }

const int *clpt_clrun_schedule(const clpt_clrun *r, int *n)
{
    if (n) *n = r->N;
    return r->schedule;
}

int64_t clpt_clrun_domain_steps(const clpt_clrun *r, int n)
{
    return r->plugin && n >= 1 && n <= r->N ? r->dsteps[n - 1] : 0;
}

int clpt_clrun_base_params(clpt_clrun *r, float *host)
{
    const clpt_backend *be = clpt_model_backend(r->model);
    be->to_host(host, r->host.base_v.d, clpt_model_nparams(r->model) * sizeof(float));
    return 0;
}

int clpt_clrun_set_hook(clpt_clrun *r, int event, int every, clpt_clrun_hook fn, void *ud)
{
    if (event < 0 || event >= CLPT_CLRUN_NEVENTS) return clpt_err(CLPT_EINVAL, "run %s: no hook event %d", r->name, event);
    if (event == CLPT_CLRUN_STEP && fn && every < 1)
        return clpt_err(CLPT_EINVAL, "run %s: a step hook needs every >= 1 (got %d)", r->name, every);
    r->hooks[event].fn = fn;
    r->hooks[event].ud = ud;
    r->hooks[event].every = every;
    return 0;
}

/* ---- closing ------------------------------------------------------------------------- */

void clpt_clrun_close(clpt_clrun *r)
{
    if (!r) return;
    clpt_plugin_host_free(&r->host);
    clpt_plugin_opts_free(&r->opts);
    clpt_plugin_close(r->plugin);
    clpt_loader_free(r->train);
    for (int s = 0; s < CLPT_NSPLITS; s++) {
        for (int d = 0; r->src[s] && d < r->nd; d++) clpt_source_free(r->src[s][d]);
        free(r->src[s]);
    }
    clpt_model_free(r->model);
    clpt_manifest_free(r->man);
    if (r->jfd >= 0) close(r->jfd);
    if (r->lockfd >= 0) close(r->lockfd);
    clrun_cells_free(r);
    cJSON_Delete(r->prev_device);
    free(r->dsteps);
    free(r->schedule);
    free(r->eval_list);
    free(r->eval_label);
    free(r->x);
    free(r->y);
    free(r->strategy);
    free(r->dir);
    free(r->name);
    free(r->journal_path);
    free(r->ckpt_root);
    free(r->latest);
    free(r);
}

/* ---- opening: one step per concern ---------------------------------------------------- */

static int set_paths(clpt_clrun *r, const clpt_clrun_opts *o)
{
    const char *base = strrchr(o->dir, '/');
    while (base && !base[1] && base > o->dir) { /* "runs/x/" */
        const char *p = base - 1;
        while (p > o->dir && *p != '/') p--;
        base = *p == '/' ? p : NULL;
    }
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", base ? base + 1 : o->dir);
    char *slash = strchr(tmp, '/');
    if (slash) *slash = 0;
    r->dir = strdup(o->dir);
    r->name = strdup(o->name && *o->name ? o->name : tmp);
    r->journal_path = clpt_fs_join(o->dir, "journal.jsonl");
    r->ckpt_root = clpt_fs_join(o->dir, "checkpoints");
    r->latest = r->ckpt_root ? clpt_fs_join(r->ckpt_root, "latest") : NULL;
    r->eval_label = strdup(o->eval_label && *o->eval_label ? o->eval_label : "after:{n}");
    if (!r->dir || !r->name || !r->journal_path || !r->ckpt_root || !r->latest || !r->eval_label)
        return clpt_err(CLPT_ENOMEM, "out of memory");
    return clpt_fs_mkdir_p(o->dir);
}

static int cmp_order(const void *a, const void *b, const clpt_manifest *m)
{
    return clpt_manifest_domain(m, *(const int *)a)->order - clpt_manifest_domain(m, *(const int *)b)->order;
}

static int set_schedule(clpt_clrun *r, const clpt_clrun_opts *o)
{
    r->N = o->n_schedule ? o->n_schedule : r->nd;
    r->schedule = malloc((r->N ? r->N : 1) * sizeof *r->schedule);
    if (!r->schedule) return clpt_err(CLPT_ENOMEM, "out of memory");
    if (!r->N) return clpt_err(CLPT_EINVAL, "run %s: the manifest has no domains", r->name);
    for (int i = 0; i < r->N; i++) {
        r->schedule[i] = o->n_schedule ? o->schedule[i] : i;
        if (r->schedule[i] < 0 || r->schedule[i] >= r->nd)
            return clpt_err(CLPT_EINVAL, "run %s: schedule entry %d is domain %d; the manifest has %d domains",
                            r->name, i + 1, r->schedule[i], r->nd);
    }
    /* default: the "similar" order; insertion sort keeps it dependency-free */
    for (int i = 1; !o->n_schedule && i < r->N; i++)
        for (int j = i; j > 0 && cmp_order(&r->schedule[j - 1], &r->schedule[j], r->man) > 0; j--) {
            int t = r->schedule[j];
            r->schedule[j] = r->schedule[j - 1];
            r->schedule[j - 1] = t;
        }
    return 0;
}

static int set_eval(clpt_clrun *r, const clpt_clrun_opts *o)
{
    r->eval = o->eval;
    if (r->eval.kind < CLPT_EVALSET_ALL || r->eval.kind > CLPT_EVALSET_NONE || r->eval.next < 0)
        return clpt_err(CLPT_EINVAL, "run %s: bad evaluation set (kind %d, next %d)", r->name, r->eval.kind, r->eval.next);
    if (r->eval.kind == CLPT_EVALSET_LIST) {
        r->eval_list = malloc((r->eval.n_domains ? r->eval.n_domains : 1) * sizeof *r->eval_list);
        if (!r->eval_list) return clpt_err(CLPT_ENOMEM, "out of memory");
        for (int i = 0; i < r->eval.n_domains; i++) {
            r->eval_list[i] = o->eval.domains[i];
            if (r->eval_list[i] < 0 || r->eval_list[i] >= r->nd)
                return clpt_err(CLPT_EINVAL, "run %s: evaluation domain %d is not in the manifest", r->name, r->eval_list[i]);
        }
    }
    r->eval.domains = r->eval_list;
    r->eval_split = o->eval_split ? clpt_split_parse(o->eval_split) : CLPT_SPLIT_TEST;
    if (r->eval_split < 0) return clpt_err(CLPT_EINVAL, "run %s: unknown split '%s'", r->name, o->eval_split);
    r->eval_base = o->eval_base;
    r->keep = o->keep_checkpoints;
    r->save_every = o->save_every > 0 ? o->save_every : r->cfg.train.save_every;
    r->log_every = o->log_every > 0 ? o->log_every : r->cfg.train.log_every;
    r->handle_signals = o->handle_signals;
    return 0;
}

static int set_model(clpt_clrun *r)
{
    const clpt_config *c = &r->cfg;
    if (c->runtime.threads > 0) omp_set_num_threads(c->runtime.threads);
    const clpt_backend *be = clpt_backend_from_config(c);
    if (!be) return CLPT_EUNSUP;
    int rc = clpt_model_from_config(c, be, &r->model);
    if (rc) return rc;
    const clpt_model_config *mc = clpt_model_cfg(r->model);
    int vocab = clpt_manifest_tokenizer_info(r->man)->vocab_size;
    if (vocab > mc->vocab_size)
        return clpt_err(CLPT_ECONFIG, "run %s: the corpus's tokenizer has %d tokens, the model's vocabulary only %d",
                        r->name, vocab, mc->vocab_size);
    r->B = c->train.batch_size;
    r->T = c->train.seq_len ? c->train.seq_len : mc->n_ctx;
    r->accum = c->train.grad_accum;
    if (r->T > mc->n_ctx)
        return clpt_err(CLPT_ECONFIG, "train.seq_len %d exceeds the model's n_ctx %d", r->T, mc->n_ctx);
    r->epoch_mode = c->train.epochs > 0;
    clpt_config_adamw(c, &r->adamw);
    r->x = malloc(sizeof(int) * r->B * r->T);
    r->y = malloc(sizeof(int) * r->B * r->T);
    return r->x && r->y ? 0 : clpt_err(CLPT_ENOMEM, "out of memory");
}

/* Every split of every domain, each shard checked against the manifest
 * (data.verify_shards) before any is used. */
static int set_data(clpt_clrun *r)
{
    const clpt_config *c = &r->cfg;
    clpt_shardcheck *check = NULL;
    int rc = c->data.verify_shards ? clpt_shardcheck_new(&check, r->man) : 0;
    for (int s = 0; !rc && s < CLPT_NSPLITS; s++) {
        uint64_t cap = (uint64_t)(s == CLPT_SPLIT_TRAIN ? c->data.max_train_tokens : c->data.max_eval_tokens);
        if (!(r->src[s] = calloc(r->nd, sizeof *r->src[s]))) rc = clpt_err(CLPT_ENOMEM, "out of memory");
        for (int d = 0; !rc && d < r->nd; d++) rc = clpt_source_from_split(&r->src[s][d], r->man, d, s, cap, check);
    }
    clpt_shardcheck_close(check, stderr);
    if (rc) return clpt_err_wrap(rc, "run %s: ", r->name);
    rc = clpt_loader_new(&r->train, r->src[CLPT_SPLIT_TRAIN], NULL, r->nd, (uint64_t)c->train.seed);
    return rc ? rc : clrun_compute_steps(r);
}

static int set_strategy(clpt_clrun *r, const clpt_clrun_opts *o)
{
    const char *spec = o->strategy && *o->strategy ? o->strategy : "sequential";
    int rc = 0;
    if (strcmp(spec, "none")) {
        rc = clpt_plugin_find(&r->plugin, spec, o->plugin_paths, o->n_plugin_paths);
        if (!rc) rc = clpt_plugin_opts_parse(&r->opts, r->plugin, o->options, o->n_options);
    } else if (o->n_options) {
        rc = clpt_err(CLPT_ECONFIG, "strategy 'none' takes no options");
    }
    if (rc) return rc;
    r->strategy = strdup(r->plugin ? clpt_plugin_name(r->plugin) : "none");
    if (!r->strategy) return clpt_err(CLPT_ENOMEM, "out of memory");
    clpt_plugin_host *h = &r->host;
    clpt_plugin_host_init(h, r->plugin, &r->opts);
    h->model = r->model;
    h->manifest = r->man;
    for (int s = 0; s < CLPT_NSPLITS; s++) h->sources[s] = r->src[s];
    h->B = r->B;
    h->T = r->T;
    h->accum = r->accum;
    h->schedule = r->schedule;
    h->n_schedule = r->N;
    h->next_rows = clrun_next_rows;
    h->engine = r;
    r->host_started = 1;
    return clpt_plugin_host_start(h, (uint64_t)r->cfg.train.seed);
}

/* the checkpoint and the journal must tell the same story */
static int reconcile(clpt_clrun *r)
{
    if (r->journal_done > r->done)
        return clpt_err(CLPT_ESTATE, "run %s: %s records %d finished domains but the checkpoint %s holds %d",
                        r->name, r->journal_path, r->journal_done, r->latest, r->done);
    if (r->done > r->journal_done + 1)
        return clpt_err(CLPT_ESTATE, "run %s: the checkpoint holds %d finished domains, the journal only %d",
                        r->name, r->done, r->journal_done);
    /* killed between the checkpoint and what follows it: redo the rest */
    if (r->keep && r->done && !r->cur) {
        char name[64];
        snprintf(name, sizeof name, "after-%d", r->done);
        char *p = clpt_fs_join(r->ckpt_root, name);
        int rc = !p ? clpt_err(CLPT_ENOMEM, "out of memory")
                    : clpt_fs_is_dir(p) ? 0 : clpt_ckpt_save(r->model, p, NULL, 0);
        free(p);
        if (rc) return rc;
    }
    return r->done > r->journal_done ? clrun_journal_domain_end(r, r->done) : 0;
}

int clpt_clrun_open(clpt_clrun **out, const clpt_clrun_opts *o)
{
    *out = NULL;
    if (!o || !o->config || !o->dir || !*o->dir) return clpt_err(CLPT_EINVAL, "run: config and dir are required");
    clpt_clrun *r = calloc(1, sizeof *r);
    if (!r) return clpt_err(CLPT_ENOMEM, "out of memory");
    r->jfd = -1;
    r->lockfd = -1;
    r->cfg = *o->config;
    const char *data = o->data && *o->data ? o->data : r->cfg.data.train;
    int rc = set_paths(r, o);
    if (!rc && (r->lockfd = clpt_fs_lock_dir(r->dir, "run")) < 0) rc = r->lockfd;
    if (!rc && !*data) rc = clpt_err(CLPT_ECONFIG, "run %s: no corpus: give opts.data or data.train", r->name);
    if (!rc && (rc = clpt_manifest_load(&r->man, data))) clpt_err_wrap(rc, "run %s: ", r->name);
    if (!rc) r->nd = clpt_manifest_ndomains(r->man);
    if (!rc) rc = set_schedule(r, o);
    if (!rc) rc = set_eval(r, o);
    if (!rc) rc = set_model(r);
    if (!rc) rc = set_data(r);
    if (!rc) rc = set_strategy(r, o);
    if (!rc) rc = clrun_journal_read(r);
    if (!rc) rc = clrun_restore(r);
    if (!rc) rc = clrun_journal_open(r);
    if (!rc) rc = clrun_journal_run(r);
    if (!rc) rc = reconcile(r);
    r->host.resumed = r->resumed;
    r->host.global_step = r->global_step;
    if (!rc) rc = clpt_plugin_host_call(&r->host, CLPT_HOOK_RUN_BEGIN);
    if (rc) {
        clpt_clrun_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* ---- driving --------------------------------------------------------------------------- */

static int eval_base(clpt_clrun *r)
{
    int rc = 0;
    for (int i = 0; !rc && i < r->N; i++) rc = clpt_clrun_eval(r, "base", r->schedule[i], r->eval_split, NULL);
    for (int i = 0; !rc && r->eval.kind == CLPT_EVALSET_LIST && i < r->eval.n_domains; i++)
        rc = clpt_clrun_eval(r, "base", r->eval_list[i], r->eval_split, NULL);
    return rc;
}

int clpt_clrun_finish(clpt_clrun *r)
{
    if (r->run_ended) return 0;
    if (r->plugin && r->done < r->N)
        return clpt_err(CLPT_ESTATE, "run %s: %d of %d domains are trained", r->name, r->done, r->N);
    int rc = clpt_plugin_host_call(&r->host, CLPT_HOOK_RUN_END);
    if (rc) return rc;
    cJSON *o = clrun_event_new(r, "run_end");
    cJSON_AddNumberToObject(o, "seconds", clpt_now() - r->t_run);
    rc = clrun_journal_write(r, o);
    if (!rc) r->run_ended = 1;
    return rc;
}

int clpt_clrun_run_all(clpt_clrun *r)
{
    if (r->run_ended) return 0;
    r->t_run = clpt_now();
    int rc = r->eval_base || !r->plugin ? eval_base(r) : 0;
    if (!rc && r->plugin && r->done >= 1 && !r->cur) rc = clpt_clrun_eval_after(r, r->done);
    for (int n = r->done + 1; !rc && r->plugin && n <= r->N; n++) {
        rc = clpt_clrun_train_domain(r, n);
        if (!rc) rc = clpt_clrun_eval_after(r, n);
    }
    return rc ? rc : clpt_clrun_finish(r);
}
