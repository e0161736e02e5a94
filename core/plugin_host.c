/* plugin_host.c - the clpt_host services a strategy plugin calls, and the
 * calls into the plugin's hooks. Services record misuse in the host (the
 * plugin may not check every return), and the hook wrapper turns it into a
 * failure that names the strategy and the hook. */
#define _POSIX_C_SOURCE 200809L
#include "plugin.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "clpt.h"
#include "fsutil.h"

#define H(h) ((clpt_plugin_host *)(h))

static const char *sname(const clpt_plugin_host *h)
{
    return h->plugin ? clpt_plugin_name(h->plugin) : "none";
}

static const clpt_backend *BE(const clpt_plugin_host *h) { return clpt_model_backend(h->model); }

/* Record the first failure; the hook wrapper reports it. */
static int fail(clpt_plugin_host *h, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static int fail(clpt_plugin_host *h, const char *fmt, ...)
{
    if (!h->failed) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(h->errmsg, sizeof h->errmsg, fmt, ap);
        va_end(ap);
        h->failed = 1;
    }
    return CLPT_PLUGIN_ERROR;
}

/* ---- messages ------------------------------------------------------------------- */

static void s_log(const clpt_host *hh, int level, const char *fmt, ...)
{
    const char *env = getenv("CLPT_LOG");
    if (level <= CLPT_LOG_DEBUG && !(env && !strcmp(env, "debug"))) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "clpt: %s%s: ", level >= CLPT_LOG_WARN ? "warning: " : "", sname(H(hh)));
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int s_error(const clpt_host *hh, const char *fmt, ...)
{
    clpt_plugin_host *h = H(hh);
    if (h->failed) return CLPT_PLUGIN_ERROR;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(h->errmsg, sizeof h->errmsg, fmt, ap);
    va_end(ap);
    h->failed = 1;
    return CLPT_PLUGIN_ERROR;
}

/* ---- options ----------------------------------------------------------------------- */

static const clpt_optval *opt(const clpt_host *hh, const char *name, int t1, int t2)
{
    clpt_plugin_host *h = H(hh);
    int i = h->plugin && name ? clpt_plugin_option_index(h->plugin, name) : -1;
    if (i < 0) {
        fail(h, "asked for option '%s', which its schema does not declare", name ? name : "(null)");
        return NULL;
    }
    const clpt_optval *v = &h->opts->v[i];
    if (v->type != t1 && v->type != t2) {
        fail(h, "read option '%s' with the getter of another type", name);
        return NULL;
    }
    return v;
}

static int s_opt_bool(const clpt_host *h, const char *n)
{
    const clpt_optval *v = opt(h, n, CLPT_OPT_BOOL, CLPT_OPT_BOOL);
    return v ? (int)v->i : 0;
}
static int64_t s_opt_int(const clpt_host *h, const char *n)
{
    const clpt_optval *v = opt(h, n, CLPT_OPT_INT, CLPT_OPT_FLOAT);
    return !v ? 0 : v->type == CLPT_OPT_INT ? v->i : (int64_t)v->f;
}
static double s_opt_float(const clpt_host *h, const char *n)
{
    const clpt_optval *v = opt(h, n, CLPT_OPT_FLOAT, CLPT_OPT_INT);
    return v ? v->f : 0;
}
static const char *s_opt_string(const clpt_host *h, const char *n)
{
    const clpt_optval *v = opt(h, n, CLPT_OPT_STRING, CLPT_OPT_ENUM);
    return v ? v->text : "";
}
static int s_opt_enum(const clpt_host *h, const char *n)
{
    const clpt_optval *v = opt(h, n, CLPT_OPT_ENUM, CLPT_OPT_ENUM);
    return v ? (int)v->i : 0;
}

/* ---- model layout ----------------------------------------------------------------- */

static size_t s_n_params(const clpt_host *h) { return clpt_model_nparams(H(h)->model); }
static int s_n_tensors(const clpt_host *h) { return clpt_model_ntensors(H(h)->model); }

static void tinfo(const clpt_tensor *t, clpt_tensor_info *out)
{
    out->name = t->name;
    out->offset = t->offset;
    out->numel = t->numel;
    out->ndim = t->ndim;
    out->shape[0] = t->shape[0];
    out->shape[1] = t->shape[1];
}

static int s_tensor(const clpt_host *h, int i, clpt_tensor_info *out)
{
    if (i < 0 || i >= clpt_model_ntensors(H(h)->model)) return CLPT_EINVAL;
    tinfo(clpt_model_tensor(H(h)->model, i), out);
    return 0;
}

static int s_tensor_find(const clpt_host *h, const char *name, clpt_tensor_info *out)
{
    const clpt_tensor *t = name ? clpt_model_find(H(h)->model, name) : NULL;
    if (!t) return CLPT_EINVAL;
    tinfo(t, out);
    return 0;
}

/* ---- buffers --------------------------------------------------------------------- */

static clpt_vec *s_params(const clpt_host *h) { return &H(h)->params_v; }
static clpt_vec *s_grads(const clpt_host *h) { return &H(h)->grads_v; }
static const clpt_vec *s_base(const clpt_host *h) { return &H(h)->base_v; }

static clpt_vec *s_vec_new(const clpt_host *hh)
{
    clpt_plugin_host *h = H(hh);
    size_t n = clpt_model_nparams(h->model);
    clpt_vec *v = calloc(1, sizeof *v);
    if (v) v->d = BE(h)->alloc(n * sizeof(float));
    if (!v || !v->d) {
        free(v);
        fail(h, "vec_new: out of memory for %zu floats", n);
        return NULL;
    }
    v->owned = 1;
    return v;
}

static void s_vec_free(const clpt_host *h, clpt_vec *v)
{
    if (!v) return;
    if (!v->owned) {
        fail(H(h), "vec_free on a buffer the host owns (params, grads or base)");
        return;
    }
    BE(H(h))->free(v->d);
    free(v);
}

/* 1 if the output buffer may be written */
static int out_ok(const clpt_host *h, const clpt_vec *y, const char *what)
{
    if (!y) return fail(H(h), "%s: NULL buffer", what), 0;
    if (y->readonly) return fail(H(h), "%s: the base weights are read-only", what), 0;
    return 1;
}
static int in_ok(const clpt_host *h, const clpt_vec *x, const char *what)
{
    if (!x) return fail(H(h), "%s: NULL buffer", what), 0;
    return 1;
}

#define NP(h) clpt_model_nparams(H(h)->model)

static void s_vec_copy(const clpt_host *h, clpt_vec *y, const clpt_vec *x)
{
    if (out_ok(h, y, "vec_copy") && in_ok(h, x, "vec_copy") && x != y)
        BE(H(h))->copy(y->d, x->d, NP(h) * sizeof(float));
}
static void s_vec_fill(const clpt_host *h, clpt_vec *x, float a)
{
    if (out_ok(h, x, "vec_fill")) BE(H(h))->fill(x->d, a, NP(h));
}
static void s_vec_axpy(const clpt_host *h, clpt_vec *y, float a, const clpt_vec *x)
{
    if (out_ok(h, y, "vec_axpy") && in_ok(h, x, "vec_axpy")) BE(H(h))->axpy(y->d, a, x->d, NP(h));
}
static void s_vec_scale(const clpt_host *h, clpt_vec *x, float a)
{
    if (out_ok(h, x, "vec_scale")) BE(H(h))->scale(x->d, a, NP(h));
}
static double s_vec_dot(const clpt_host *h, const clpt_vec *x, const clpt_vec *y)
{
    if (!in_ok(h, x, "vec_dot") || !in_ok(h, y, "vec_dot")) return 0;
    return BE(H(h))->dot(x->d, y->d, NP(h));
}
static double s_vec_norm(const clpt_host *h, const clpt_vec *x)
{
    return in_ok(h, x, "vec_norm") ? sqrt(BE(H(h))->dot(x->d, x->d, NP(h))) : 0;
}
static void s_vec_mul_acc(const clpt_host *h, clpt_vec *y, float a, const clpt_vec *x1, const clpt_vec *x2)
{
    if (out_ok(h, y, "vec_mul_acc") && in_ok(h, x1, "vec_mul_acc") && in_ok(h, x2, "vec_mul_acc"))
        BE(H(h))->mul_acc(y->d, a, x1->d, x2->d, NP(h));
}
static void s_vec_sq_acc(const clpt_host *h, clpt_vec *y, float a, const clpt_vec *x)
{
    if (out_ok(h, y, "vec_sq_acc") && in_ok(h, x, "vec_sq_acc")) BE(H(h))->sq_acc(y->d, a, x->d, NP(h));
}

static int s_vec_copy_tensor(const clpt_host *h, clpt_vec *y, const clpt_vec *x, const char *name)
{
    if (!out_ok(h, y, "vec_copy_tensor") || !in_ok(h, x, "vec_copy_tensor")) return CLPT_PLUGIN_ERROR;
    const clpt_tensor *t = name ? clpt_model_find(H(h)->model, name) : NULL;
    if (!t) return fail(H(h), "vec_copy_tensor: no tensor '%s'", name ? name : "(null)");
    BE(H(h))->copy(y->d + t->offset, x->d + t->offset, t->numel * sizeof(float));
    return 0;
}

static int range_ok(const clpt_host *h, size_t off, size_t n, const char *what)
{
    if (off <= NP(h) && n <= NP(h) - off) return 1;
    fail(H(h), "%s: range [%zu, %zu) passes the %zu parameters", what, off, off + n, NP(h));
    return 0;
}

static int s_vec_read(const clpt_host *h, const clpt_vec *v, size_t off, size_t n, float *out)
{
    if (!in_ok(h, v, "vec_read") || !range_ok(h, off, n, "vec_read")) return CLPT_PLUGIN_ERROR;
    BE(H(h))->to_host(out, v->d + off, n * sizeof(float));
    return 0;
}

static int s_vec_write(const clpt_host *h, clpt_vec *v, size_t off, size_t n, const float *in)
{
    if (!out_ok(h, v, "vec_write") || !range_ok(h, off, n, "vec_write")) return CLPT_PLUGIN_ERROR;
    BE(H(h))->to_device(v->d + off, in, n * sizeof(float));
    return 0;
}

/* ---- data --------------------------------------------------------------------------- */

static void s_batch_shape(const clpt_host *h, int *B, int *T, int *accum)
{
    if (B) *B = H(h)->B;
    if (T) *T = H(h)->T;
    if (accum) *accum = H(h)->accum;
}

static int s_next_batch(const clpt_host *hh, int *inputs, int *targets, int rows)
{
    clpt_plugin_host *h = H(hh);
    if (!h->in_compose) return fail(h, "next_batch is only available inside compose_batch");
    if (rows < 0 || rows > h->B) return fail(h, "next_batch: rows %d not in [0, %d]", rows, h->B);
    if (!rows) return 0;
    int rc = h->next_rows(h->engine, inputs, targets, rows);
    return rc ? fail(h, "next_batch: %s", clpt_errmsg()) : 0;
}

static int s_sample(const clpt_host *hh, int domain, int split, int *inputs, int *targets, int rows, int T)
{
    clpt_plugin_host *h = H(hh);
    int nd = clpt_manifest_ndomains(h->manifest);
    if (domain < 0 || domain >= nd) return fail(h, "sample: no domain %d (%d domains)", domain, nd);
    if (split < 0 || split >= CLPT_NSPLITS) return fail(h, "sample: no split %d", split);
    if (T < 1 || T > h->T || rows < 0) return fail(h, "sample: %d rows of T=%d (T must be in [1, %d])", rows, T, h->T);
    for (int r = 0; r < rows; r++) {
        int rc = clpt_loader_sample(h->samplers[split], domain, inputs + (size_t)r * T,
                                    targets + (size_t)r * T, T);
        if (rc)
            return fail(h, "sample from %s/%s: %s", clpt_manifest_domain(h->manifest, domain)->name,
                        clpt_split_name(split), clpt_errmsg());
    }
    return 0;
}

/* ---- compute ------------------------------------------------------------------------- */

static int shape_ok(clpt_plugin_host *h, int rows, int T, const char *what)
{
    if (rows >= 1 && T >= 1 && T <= h->T) return 1;
    fail(h, "%s: %d rows of T=%d (need rows >= 1, T in [1, %d])", what, rows, T, h->T);
    return 0;
}

static int s_forward(const clpt_host *hh, const int *x, const int *y, int rows, int T, float *loss)
{
    clpt_plugin_host *h = H(hh);
    if (!shape_ok(h, rows, T, "forward")) return CLPT_PLUGIN_ERROR;
    int rc = clpt_model_forward(h->model, x, y, rows, T, loss, NULL, NULL);
    return rc ? fail(h, "forward: %s", clpt_errmsg()) : 0;
}

static int s_forward_backward(const clpt_host *hh, const int *x, const int *y, int rows, int T, float gs,
                              float *loss)
{
    clpt_plugin_host *h = H(hh);
    if (!shape_ok(h, rows, T, "forward_backward")) return CLPT_PLUGIN_ERROR;
    int rc = clpt_model_forward_backward(h->model, x, y, rows, T, gs, loss);
    return rc ? fail(h, "forward_backward: %s", clpt_errmsg()) : 0;
}

/* ---- optimizer and position ---------------------------------------------------------------- */

static void s_reset_optimizer(const clpt_host *h) { clpt_model_reset_optimizer(H(h)->model); }

static void s_set_lr_scale(const clpt_host *h, double s)
{
    if (!(s >= 0) || !isfinite(s)) fail(H(h), "set_lr_scale: %g is not a finite number >= 0", s);
    else H(h)->lr_scale = s;
}

static int s_set_lr_schedule(const clpt_host *h, int mode)
{
    if (mode < CLPT_LR_CONFIG || mode > CLPT_LR_REWARM) return fail(H(h), "set_lr_schedule: unknown mode %d", mode);
    H(h)->lr_mode = mode;
    return 0;
}

static double s_lr(const clpt_host *h) { return H(h)->lr; }
static int s_schedule_len(const clpt_host *h) { return H(h)->n_schedule; }
static int s_position(const clpt_host *h) { return H(h)->position; }
static int s_schedule_domain(const clpt_host *h, int n)
{
    return n >= 0 && n < H(h)->n_schedule ? H(h)->schedule[n] : -1;
}
static int s_n_domains(const clpt_host *h) { return clpt_manifest_ndomains(H(h)->manifest); }

static int s_domain_info(const clpt_host *h, int i, clpt_domain_info *out)
{
    const clpt_domain *d = clpt_manifest_domain(H(h)->manifest, i);
    if (!d) return CLPT_EINVAL;
    out->name = d->name;
    out->l1 = d->l1;
    out->l2 = d->l2;
    for (int s = 0; s < CLPT_NSPLITS; s++) out->tokens[s] = d->splits[s].tokens;
    return 0;
}

static int64_t s_step(const clpt_host *h) { return H(h)->step; }
static int64_t s_domain_steps(const clpt_host *h) { return H(h)->domain_steps; }
static int64_t s_global_step(const clpt_host *h) { return H(h)->global_step; }
static int s_resumed(const clpt_host *h) { return H(h)->resumed; }

/* ---- metrics, rng ---------------------------------------------------------------------- */

static void s_metric(const clpt_host *hh, const char *name, double value)
{
    clpt_plugin_host *h = H(hh);
    if (!name || !*name || strlen(name) >= sizeof h->metrics[0].name) {
        fail(h, "metric: name '%s' is empty or longer than 63 bytes", name ? name : "(null)");
        return;
    }
    int i = 0;
    while (i < h->n_metrics && strcmp(h->metrics[i].name, name)) i++;
    if (i == CLPT_METRICS_MAX) {
        fail(h, "metric: more than %d names", CLPT_METRICS_MAX);
        return;
    }
    if (i == h->n_metrics) strcpy(h->metrics[h->n_metrics++].name, name);
    h->metrics[i].value = value;
}

static uint64_t s_rng_u64(const clpt_host *h) { return clpt_rng_next(&H(h)->rng); }
static double s_rng_uniform(const clpt_host *h) { return clpt_rng_uniform(&H(h)->rng); }
static uint64_t s_rng_below(const clpt_host *h, uint64_t n)
{
    if (!n) return fail(H(h), "rng_below(0)"), 0;
    return clpt_rng_below(&H(h)->rng, n);
}

/* ---- state streams ------------------------------------------------------------------------ */

struct clpt_stream {
    FILE *f;
    int writing;
    const char *path;
};

static int s_write(const clpt_host *h, clpt_stream *s, const void *p, size_t n)
{
    if (!H(h)->in_state || !s || !s->writing) return fail(H(h), "write: only on the stream of state_save");
    if (n && fwrite(p, 1, n, s->f) != n) return fail(H(h), "write: %s: %s", s->path, strerror(errno));
    return 0;
}

static int s_read(const clpt_host *h, clpt_stream *s, void *p, size_t n)
{
    if (!H(h)->in_state || !s || s->writing) return fail(H(h), "read: only on the stream of state_load");
    if (n && fread(p, 1, n, s->f) != n)
        return fail(H(h), "read: %s ends before the %zu bytes asked for", s->path, n);
    return 0;
}

/* whole buffers go through host memory in chunks, so the file never needs
 * a device-sized host copy */
static int vec_io(const clpt_host *h, clpt_stream *s, clpt_vec *v, const clpt_vec *cv)
{
    enum { CHUNK = 1 << 20 };
    float *buf = malloc(CHUNK * sizeof(float));
    if (!buf) return fail(H(h), "state: out of memory");
    size_t n = NP(h);
    int rc = 0;
    for (size_t off = 0; off < n && !rc; off += CHUNK) {
        size_t k = n - off < CHUNK ? n - off : CHUNK;
        if (cv) {
            BE(H(h))->to_host(buf, cv->d + off, k * sizeof(float));
            rc = s_write(h, s, buf, k * sizeof(float));
        } else if (!(rc = s_read(h, s, buf, k * sizeof(float)))) {
            BE(H(h))->to_device(v->d + off, buf, k * sizeof(float));
        }
    }
    free(buf);
    return rc;
}

static int s_write_vec(const clpt_host *h, clpt_stream *s, const clpt_vec *v)
{
    return in_ok(h, v, "write_vec") ? vec_io(h, s, NULL, v) : CLPT_PLUGIN_ERROR;
}
static int s_read_vec(const clpt_host *h, clpt_stream *s, clpt_vec *v)
{
    return out_ok(h, v, "read_vec") ? vec_io(h, s, v, NULL) : CLPT_PLUGIN_ERROR;
}

/* ---- the table -------------------------------------------------------------------------- */

static const clpt_host host_table = {
    .struct_size = sizeof(clpt_host), .abi_major = CLPT_PLUGIN_ABI_MAJOR, .abi_minor = CLPT_PLUGIN_ABI_MINOR,
    .log = s_log, .error = s_error,
    .opt_bool = s_opt_bool, .opt_int = s_opt_int, .opt_float = s_opt_float,
    .opt_string = s_opt_string, .opt_enum = s_opt_enum,
    .n_params = s_n_params, .n_tensors = s_n_tensors, .tensor = s_tensor, .tensor_find = s_tensor_find,
    .params = s_params, .grads = s_grads, .base = s_base, .vec_new = s_vec_new, .vec_free = s_vec_free,
    .vec_copy = s_vec_copy, .vec_fill = s_vec_fill, .vec_axpy = s_vec_axpy, .vec_scale = s_vec_scale,
    .vec_dot = s_vec_dot, .vec_norm = s_vec_norm, .vec_mul_acc = s_vec_mul_acc, .vec_sq_acc = s_vec_sq_acc,
    .vec_copy_tensor = s_vec_copy_tensor, .vec_read = s_vec_read, .vec_write = s_vec_write,
    .batch_shape = s_batch_shape, .next_batch = s_next_batch, .sample = s_sample,
    .forward = s_forward, .forward_backward = s_forward_backward,
    .reset_optimizer = s_reset_optimizer, .set_lr_scale = s_set_lr_scale,
    .set_lr_schedule = s_set_lr_schedule, .lr = s_lr,
    .schedule_len = s_schedule_len, .position = s_position, .schedule_domain = s_schedule_domain,
    .n_domains = s_n_domains, .domain_info = s_domain_info, .step = s_step,
    .domain_steps = s_domain_steps, .global_step = s_global_step, .resumed = s_resumed,
    .metric = s_metric, .rng_u64 = s_rng_u64, .rng_uniform = s_rng_uniform, .rng_below = s_rng_below,
    .write = s_write, .read = s_read, .write_vec = s_write_vec, .read_vec = s_read_vec,
};

/* ---- lifecycle and hooks ------------------------------------------------------------------ */

void clpt_plugin_host_init(clpt_plugin_host *h, const clpt_plugin *p, const clpt_plugin_opts *opts)
{
    memset(h, 0, sizeof *h);
    h->api = host_table;
    h->plugin = p;
    h->opts = opts;
    h->position = -1;
    h->lr_scale = 1.0;
}

/* A failure inside a plugin call, as one message. */
static int hook_failed(clpt_plugin_host *h, const char *hook, int rc)
{
    const char *why = h->failed ? h->errmsg : "failed without a message";
    int code = clpt_err(CLPT_ESTATE, "strategy '%s' %s: %s%s", sname(h), hook, why,
                        h->failed ? "" : " (returned non-zero)");
    (void)rc;
    h->failed = 0;
    h->errmsg[0] = 0;
    return code;
}

static int samplers_new(clpt_plugin_host *h, uint64_t seed)
{
    int nd = clpt_manifest_ndomains(h->manifest);
    for (int s = 0; s < CLPT_NSPLITS; s++) {
        uint64_t x = seed ^ (0x5a3e11e7ull * (uint64_t)(s + 1));
        int rc = clpt_loader_new(&h->samplers[s], h->sources[s], NULL, nd, clpt_splitmix64(&x));
        if (rc) return clpt_err_wrap(rc, "strategy host: ");
    }
    return 0;
}

int clpt_plugin_host_start(clpt_plugin_host *h, uint64_t seed)
{
    size_t n = clpt_model_nparams(h->model);
    h->params_v.d = clpt_model_params(h->model);
    h->grads_v.d = clpt_model_grads(h->model);
    h->base_v.d = BE(h)->alloc(n * sizeof(float));
    h->base_v.readonly = 1;
    if (!h->base_v.d) return clpt_err(CLPT_ENOMEM, "cannot allocate the base weights (%zu floats)", n);
    BE(h)->copy(h->base_v.d, h->params_v.d, n * sizeof(float));
    int rc = samplers_new(h, seed);
    if (rc) return rc;
    uint64_t x = seed ^ 0x9106e5ull;
    clpt_rng_seed(&h->rng, clpt_splitmix64(&x));
    const clpt_strategy_desc *d = h->plugin ? clpt_plugin_desc(h->plugin) : NULL;
    if (!d || !d->create) return 0;
    h->hook = "create";
    rc = d->create(&h->api, &h->self);
    if (rc || h->failed) return hook_failed(h, "create", rc);
    h->created = 1;
    return 0;
}

void clpt_plugin_host_free(clpt_plugin_host *h)
{
    const clpt_strategy_desc *d = h->plugin ? clpt_plugin_desc(h->plugin) : NULL;
    if (h->created && d && d->destroy) d->destroy(&h->api, h->self);
    h->created = 0;
    h->self = NULL;
    if (h->base_v.d) BE(h)->free(h->base_v.d);
    h->base_v.d = NULL;
    for (int s = 0; s < CLPT_NSPLITS; s++) clpt_loader_free(h->samplers[s]);
    memset(h->samplers, 0, sizeof h->samplers);
}

int clpt_plugin_host_call(clpt_plugin_host *h, int hook)
{
    const clpt_strategy_desc *d = h->plugin ? clpt_plugin_desc(h->plugin) : NULL;
    if (!d) return 0;
    static const char *names[] = {"run_begin", "run_end", "domain_begin", "domain_end",
                                  "after_backward", "after_step"};
    int (*fn)(const clpt_host *, void *) =
        hook == CLPT_HOOK_RUN_BEGIN ? d->run_begin : hook == CLPT_HOOK_RUN_END ? d->run_end
        : hook == CLPT_HOOK_DOMAIN_BEGIN ? d->domain_begin : hook == CLPT_HOOK_DOMAIN_END ? d->domain_end
        : hook == CLPT_HOOK_AFTER_BACKWARD ? d->after_backward : d->after_step;
    if (!fn && !h->failed) return 0;
    h->hook = names[hook];
    int rc = fn ? fn(&h->api, h->self) : 0;
    return rc || h->failed ? hook_failed(h, names[hook], rc) : 0;
}

int clpt_plugin_host_has_compose(const clpt_plugin_host *h)
{
    return h->plugin && clpt_plugin_desc(h->plugin)->compose_batch;
}

int clpt_plugin_host_compose(clpt_plugin_host *h, int *inputs, int *targets, int B, int T)
{
    if (!clpt_plugin_host_has_compose(h)) return h->next_rows(h->engine, inputs, targets, B);
    h->in_compose = 1;
    h->hook = "compose_batch";
    int rc = clpt_plugin_desc(h->plugin)->compose_batch(&h->api, h->self, inputs, targets, B, T);
    h->in_compose = 0;
    return rc || h->failed ? hook_failed(h, "compose_batch", rc) : 0;
}

cJSON *clpt_plugin_host_take_metrics(clpt_plugin_host *h)
{
    if (!h->n_metrics) return NULL;
    cJSON *o = cJSON_CreateObject();
    for (int i = 0; o && i < h->n_metrics; i++) cJSON_AddNumberToObject(o, h->metrics[i].name, h->metrics[i].value);
    h->n_metrics = 0;
    return o;
}

/* ---- saving and loading the state -------------------------------------------------------- *
 * File layout (host byte order): "CLPTHST\0", u32 format 2; per split the
 * sampler state (u64 rng[4], seed, epoch, position; i32 epoch_source,
 * epoch_T, n_sources); u64 rng[4]; f64 lr_scale; i32 lr_mode; u32 name
 * length + name; u32 state_version; u8 has_payload; the payload; then u32
 * CRC-32 (zlib's) of every byte before it. Format 1 (no CRC) still loads. */

#define STATE_MAGIC "CLPTHST"
#define STATE_FORMAT 2u

/* CRC-32 of the first n bytes of f (read from the start), or -1 on a read
 * error; f is left at byte n */
static long long crc_prefix(FILE *f, long n)
{
    unsigned char buf[1 << 16];
    uLong crc = crc32_z(0, Z_NULL, 0);
    if (fseek(f, 0, SEEK_SET)) return -1;
    for (long done = 0; done < n;) {
        size_t want = (size_t)(n - done) < sizeof buf ? (size_t)(n - done) : sizeof buf;
        size_t k = fread(buf, 1, want, f);
        if (k != want) return -1;
        crc = crc32_z(crc, buf, k);
        done += (long)k;
    }
    return (long long)(crc & 0xffffffffu);
}

typedef struct sio { FILE *f; int write; int err; } sio;

static void io(sio *s, void *p, size_t n)
{
    if (s->err) return;
    size_t k = s->write ? fwrite(p, 1, n, s->f) : fread(p, 1, n, s->f);
    if (k != n) s->err = 1;
}

/* the host part: the same code reads and writes, so the layouts agree */
static void host_part(clpt_plugin_host *h, sio *s)
{
    for (int i = 0; i < CLPT_NSPLITS; i++) {
        clpt_loader_state st;
        memset(&st, 0, sizeof st);
        if (s->write) clpt_loader_get_state(h->samplers[i], &st);
        io(s, st.rng, sizeof st.rng);
        io(s, &st.seed, 8);
        io(s, &st.epoch, 8);
        io(s, &st.position, 8);
        io(s, &st.epoch_source, 4);
        io(s, &st.epoch_T, 4);
        io(s, &st.n_sources, 4);
        if (!s->write && !s->err && clpt_loader_set_state(h->samplers[i], &st)) s->err = 2;
    }
    io(s, h->rng.s, sizeof h->rng.s);
    io(s, &h->lr_scale, sizeof h->lr_scale);
    int32_t mode = h->lr_mode;
    io(s, &mode, 4);
    h->lr_mode = mode;
}

static int save_payload(clpt_plugin_host *h, FILE *f, const char *path)
{
    const clpt_strategy_desc *d = h->plugin ? clpt_plugin_desc(h->plugin) : NULL;
    const char *name = sname(h);
    uint32_t len = (uint32_t)strlen(name), ver = d ? d->state_version : 0;
    uint8_t has = d && d->state_save;
    sio s = {f, 1, 0};
    io(&s, &len, 4);
    io(&s, (void *)name, len);
    io(&s, &ver, 4);
    io(&s, &has, 1);
    if (s.err) return clpt_err(CLPT_EIO, "%s: write: %s", path, strerror(errno));
    if (!has) return 0;
    clpt_stream st = {f, 1, path};
    h->in_state = 1;
    h->hook = "state_save";
    int rc = d->state_save(&h->api, h->self, &st);
    h->in_state = 0;
    return rc || h->failed ? hook_failed(h, "state_save", rc) : 0;
}

int clpt_plugin_host_save(clpt_plugin_host *h, const char *path)
{
    clpt_afile af;
    int rc = clpt_afile_open(&af, path);
    if (rc) return rc;
    char magic[8] = STATE_MAGIC;
    uint32_t fmt = STATE_FORMAT;
    sio s = {af.fp, 1, 0};
    io(&s, magic, 8);
    io(&s, &fmt, 4);
    host_part(h, &s);
    rc = s.err ? clpt_err(CLPT_EIO, "%s: write: %s", path, strerror(errno)) : save_payload(h, af.fp, path);
    if (!rc) { /* the trailer: CRC-32 of what the file holds so far */
        FILE *r = NULL;
        long long crc = -1;
        errno = 0;
        long n = fflush(af.fp) == 0 ? ftell(af.fp) : -1;
        if (n >= 0 && (r = fopen(af.tmp, "rb"))) crc = crc_prefix(r, n);
        if (r) fclose(r);
        uint32_t c = (uint32_t)crc;
        if (crc < 0)
            rc = clpt_err(CLPT_EIO, "%s: reading it back for its checksum: %s", path,
                          errno ? strerror(errno) : "short read");
        else if (fwrite(&c, 4, 1, af.fp) != 1)
            rc = clpt_err(CLPT_EIO, "%s: write: %s", path, strerror(errno));
    }
    if (rc) {
        clpt_afile_abort(&af);
        return rc;
    }
    return clpt_afile_commit(&af);
}

/* the payload ends at byte `end` (the CRC trailer follows in format 2) */
static int load_payload(clpt_plugin_host *h, FILE *f, const char *path, long end)
{
    const clpt_strategy_desc *d = h->plugin ? clpt_plugin_desc(h->plugin) : NULL;
    uint32_t len = 0, ver = 0;
    uint8_t has = 0;
    char name[64] = "";
    sio s = {f, 0, 0};
    io(&s, &len, 4);
    if (!s.err && len >= sizeof name) s.err = 1;
    io(&s, name, len);
    io(&s, &ver, 4);
    io(&s, &has, 1);
    if (s.err) return clpt_err(CLPT_EFORMAT, "%s: truncated strategy state", path);
    if (strcmp(name, sname(h)))
        return clpt_err(CLPT_EFORMAT, "%s: state of strategy '%s', not '%s'", path, name, sname(h));
    if (!has) {
        if (ftell(f) != end)
            return clpt_err(CLPT_EFORMAT, "%s: %ld bytes after the end of strategy '%s''s state", path,
                            end - ftell(f), name);
        return 0;
    }
    if (!d || !d->state_load)
        return clpt_err(CLPT_EFORMAT, "%s: holds a state payload but strategy '%s' cannot load one", path, name);
    clpt_stream st = {f, 0, path};
    h->in_state = 1;
    h->hook = "state_load";
    int rc = d->state_load(&h->api, h->self, &st, ver);
    h->in_state = 0;
    if (rc || h->failed) return hook_failed(h, "state_load", rc);
    long here = ftell(f);
    if (here != end)
        return clpt_err(CLPT_EFORMAT, "%s: strategy '%s' state_load left %ld bytes unread (version %u)", path,
                        name, end - here, ver);
    return 0;
}

int clpt_plugin_host_load(clpt_plugin_host *h, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return clpt_err(CLPT_EIO, "%s: cannot open the strategy state", path);
    char magic[8] = {0};
    uint32_t fmt = 0;
    sio s = {f, 0, 0};
    io(&s, magic, 8);
    io(&s, &fmt, 4);
    int rc = 0;
    long end = -1;
    if (s.err || memcmp(magic, STATE_MAGIC, 8)) rc = clpt_err(CLPT_EFORMAT, "%s: not a clpt strategy state", path);
    else if (fmt != STATE_FORMAT && fmt != 1)
        rc = clpt_err(CLPT_EUNSUP, "%s: state format %u, expected %u", path, fmt, STATE_FORMAT);
    if (!rc && fseek(f, 0, SEEK_END) == 0 && (end = ftell(f)) >= 0 && fmt == STATE_FORMAT) {
        end -= 4; /* the CRC trailer */
        uint32_t want = 0;
        long long got = end >= 12 ? crc_prefix(f, end) : -1;
        if (got < 0 || fread(&want, 4, 1, f) != 1)
            rc = clpt_err(CLPT_EFORMAT, "%s: truncated strategy state", path);
        else if ((uint32_t)got != want)
            rc = clpt_err(CLPT_EFORMAT, "%s: the strategy state has CRC-32 %08x, its trailer says %08x: "
                          "the file is corrupt", path, (unsigned)got, (unsigned)want);
    }
    if (!rc && (end < 0 || fseek(f, 12, SEEK_SET) != 0))
        rc = clpt_err(CLPT_EIO, "%s: cannot seek in the strategy state", path);
    if (!rc) {
        host_part(h, &s);
        if (s.err == 2) rc = clpt_err_wrap(CLPT_EFORMAT, "%s: sampler state: ", path);
        else if (s.err) rc = clpt_err(CLPT_EFORMAT, "%s: truncated host state", path);
    }
    if (!rc) rc = load_payload(h, f, path, end);
    fclose(f);
    return rc;
}
