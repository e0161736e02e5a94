/* clpt_plugin.h - the strategy plugin ABI of clpt. Self-contained: a plugin
 * includes only this header and builds against nothing else of clpt.
 *
 * A strategy is a shared object exporting exactly one data symbol,
 *
 *     CLPT_EXPORT const clpt_strategy_desc clpt_strategy_descriptor = {...};
 *
 * holding its identity, its options schema and its hooks. clpt dlopen()s the
 * file, validates the descriptor (see "the loader refuses" below), creates
 * one instance per run and calls the hooks from the training loop. The
 * plugin reaches the run only through the `clpt_host` table of services it
 * is handed: vector algebra on parameter-sized device buffers, batches,
 * forward/backward, the optimizer, metrics, a seeded RNG. No plugin code
 * touches device memory directly, so one .so runs unchanged on CPU and GPU.
 *
 * Versioning (CLAP / SQLite style). Structs only ever grow at the end.
 * - CLPT_PLUGIN_ABI_MAJOR changes on any incompatible change; the loader
 *   refuses a plugin built for another major.
 * - CLPT_PLUGIN_ABI_MINOR grows when fields are appended. The loader refuses
 *   a plugin whose minor is newer than the host's (it may rely on services
 *   the host lacks); an older plugin simply has a smaller struct_size, and
 *   the host treats the fields it lacks as NULL / absent.
 * - Each versioned struct starts with its own size (struct_size), so either
 *   side reads only the fields the other one has.
 *
 * Threads and calls: every hook and host service is called on the run's one
 * thread, never concurrently. Hooks return 0 or a negative code; a non-zero
 * return stops the run with the message given to host->error() (or a
 * generic one naming the hook).
 *
 * Units: buffers are vectors of n_params fp32 values laid out like the model
 * (the tensor table gives each tensor's offset and size, in floats); token
 * arrays are int32, row-major (rows, T); losses are mean nats per token. */
#ifndef CLPT_PLUGIN_H
#define CLPT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CLPT_PLUGIN_ABI_MAJOR 1
#define CLPT_PLUGIN_ABI_MINOR 0

/* The name of the one exported symbol. */
#define CLPT_STRATEGY_SYMBOL "clpt_strategy_descriptor"

#if defined(_WIN32)
#define CLPT_EXPORT __declspec(dllexport)
#else
#define CLPT_EXPORT __attribute__((visibility("default")))
#endif

/* The hook-return code for "failed, message given via host->error()". Any
 * negative value is a failure; this one reads well in plugin code. */
#define CLPT_PLUGIN_ERROR (-100)

/* ---- options schema ------------------------------------------------------ */

/* Options are given to a run as "key=value" text (ini, Lua, command line),
 * checked against the schema before the plugin is created, and read by the
 * plugin with the typed getters of clpt_host. */
typedef enum clpt_option_type {
    CLPT_OPT_BOOL = 1,   /* true/false, yes/no, on/off, 1/0 */
    CLPT_OPT_INT = 2,    /* decimal int64, optional k/M/G suffix (x1000...) */
    CLPT_OPT_FLOAT = 3,  /* C notation: 0.5, 1e-3 */
    CLPT_OPT_STRING = 4, /* any text without control characters */
    CLPT_OPT_ENUM = 5    /* exactly one of `choices` */
} clpt_option_type;

/* One option. All strings are static data of the plugin (they must live as
 * long as the .so is loaded). The array of these is strided by the
 * descriptor's option_size, so this struct can grow too. */
typedef struct clpt_option_desc {
    const char *name;    /* [a-z][a-z0-9_]*, unique within the plugin */
    int type;            /* a clpt_option_type */
    const char *def;     /* default, as text; parsed like a user's value
                            (the loader refuses a default that does not) */
    const char *help;    /* one sentence or more; shown by `clpt plugins` */
    const char *const *choices; /* ENUM: NULL-terminated names; else NULL */
    double min, max;     /* INT/FLOAT: inclusive range; min == max == 0
                            means unbounded */
} clpt_option_desc;

/* ---- the host: services a plugin may call --------------------------------- */

typedef struct clpt_host clpt_host;

/* A parameter-sized device buffer (n_params floats). Opaque: plugins pass
 * handles to the vector services and never dereference them. */
typedef struct clpt_vec clpt_vec;

/* A byte stream for state save/load (a file); opaque. */
typedef struct clpt_stream clpt_stream;

typedef enum clpt_log_level {
    CLPT_LOG_DEBUG = 0,  /* shown with CLPT_LOG=debug */
    CLPT_LOG_INFO = 1,
    CLPT_LOG_WARN = 2
} clpt_log_level;

/* LR schedule modes (host->set_lr_schedule). */
typedef enum clpt_lr_mode {
    CLPT_LR_CONFIG = 0,  /* as configured ([optim] schedule, schedule_per_domain) */
    CLPT_LR_CONSTANT = 1,/* the peak lr at every step, no warmup */
    CLPT_LR_REWARM = 2   /* the configured schedule restarted at every domain:
                            warmup, then decay over the domain's steps
                            (re-warm + re-decay with [optim] schedule = cosine) */
} clpt_lr_mode;

/* One tensor of the model, as host->tensor() describes it. */
typedef struct clpt_tensor_info {
    const char *name;    /* Hugging Face name, e.g. "transformer.h.0.attn.c_attn.weight";
                            borrowed for the run */
    size_t offset;       /* first element, in floats, within every parameter-sized buffer */
    size_t numel;        /* elements */
    int ndim;            /* 1 or 2 */
    int shape[2];        /* Hugging Face shape (Conv1D weights are [in, out]) */
} clpt_tensor_info;

/* One domain of the prepared corpus. */
typedef struct clpt_domain_info {
    const char *name;    /* "cs.CL"; borrowed for the run */
    const char *l1, *l2; /* hierarchy: field > domain; borrowed for the run */
    uint64_t tokens[3];  /* tokens of the train, valid, test splits */
} clpt_domain_info;

/* Splits for host->sample(). */
#define CLPT_PLUGIN_SPLIT_TRAIN 0
#define CLPT_PLUGIN_SPLIT_VALID 1
#define CLPT_PLUGIN_SPLIT_TEST 2

/* The table of host services. The host owns it; it is valid from create()
 * until destroy() returns (plugins may keep the pointer in their instance).
 * Every function takes the table itself as first argument. Fields are only
 * ever appended: check `h->struct_size > offsetof(clpt_host, field)` before
 * calling a field added after the minor version you require.
 *
 * Errors: functions returning int give 0 or a negative code; on failure the
 * host has already recorded the message, and a hook should return that code.
 * Misuse that cannot return a code (an unknown option name, a write to the
 * read-only base buffer) is recorded and fails the run after the hook. */
struct clpt_host {
    uint32_t struct_size;    /* sizeof(clpt_host) as the host compiled it */
    uint32_t abi_major, abi_minor;

    /* ---- messages ----------------------------------------------------- */
    /* A log line on stderr, prefixed with the strategy's name. */
    void (*log)(const clpt_host *h, int level, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 3, 4)))
#endif
        ;
    /* Record the failure message (the host prefixes the strategy's name and
     * the hook) and return CLPT_PLUGIN_ERROR: `return h->error(h, "...");` */
    int (*error)(const clpt_host *h, const char *fmt, ...)
#if defined(__GNUC__)
        __attribute__((format(printf, 2, 3)))
#endif
        ;

    /* ---- options: the run's resolved values (given or default) ------------ */
    /* The name must be one of the schema's, with that type (INT/FLOAT getters
     * accept either numeric type). Strings are borrowed for the run. */
    int (*opt_bool)(const clpt_host *h, const char *name);
    int64_t (*opt_int)(const clpt_host *h, const char *name);
    double (*opt_float)(const clpt_host *h, const char *name);
    const char *(*opt_string)(const clpt_host *h, const char *name); /* STRING or ENUM */
    int (*opt_enum)(const clpt_host *h, const char *name); /* index into choices */

    /* ---- the model's layout ----------------------------------------------- */
    size_t (*n_params)(const clpt_host *h);
    int (*n_tensors)(const clpt_host *h);
    /* Tensor i (0 <= i < n_tensors), or by name (with or without the
     * "transformer." prefix). 0, or negative if none. */
    int (*tensor)(const clpt_host *h, int i, clpt_tensor_info *out);
    int (*tensor_find)(const clpt_host *h, const char *name, clpt_tensor_info *out);

    /* ---- parameter-sized buffers -------------------------------------------- */
    /* The model's parameters and gradient accumulator: borrowed handles,
     * valid for the run, never freed by the plugin. Gradients hold the
     * current step's accumulated gradient in after_backward (mean over the
     * step's tokens); writes to them change the update. */
    clpt_vec *(*params)(const clpt_host *h);
    clpt_vec *(*grads)(const clpt_host *h);
    /* The run's base weights M0 (its initial weights, before any domain):
     * read-only (writes are refused), valid for the run. Copy them into
     * params to restart from the base (finetune). */
    const clpt_vec *(*base)(const clpt_host *h);
    /* A new zero-filled buffer on the run's device; the plugin owns it and
     * frees it with vec_free (at the latest in destroy). NULL when out of
     * memory (the message is recorded). */
    clpt_vec *(*vec_new)(const clpt_host *h);
    void (*vec_free)(const clpt_host *h, clpt_vec *v);  /* NULL is a no-op */

    /* Vector algebra over whole buffers (n_params elements). Outputs are the
     * first argument; inputs may alias outputs except where said. */
    void (*vec_copy)(const clpt_host *h, clpt_vec *dst, const clpt_vec *src);
    void (*vec_fill)(const clpt_host *h, clpt_vec *x, float a);             /* x = a */
    void (*vec_axpy)(const clpt_host *h, clpt_vec *y, float a, const clpt_vec *x); /* y += a x */
    void (*vec_scale)(const clpt_host *h, clpt_vec *x, float a);            /* x *= a */
    double (*vec_dot)(const clpt_host *h, const clpt_vec *x, const clpt_vec *y);
    double (*vec_norm)(const clpt_host *h, const clpt_vec *x);              /* L2 */
    /* y += a * x1 * x2 (elementwise) */
    void (*vec_mul_acc)(const clpt_host *h, clpt_vec *y, float a, const clpt_vec *x1,
                        const clpt_vec *x2);
    /* y += a * x^2 (elementwise) */
    void (*vec_sq_acc)(const clpt_host *h, clpt_vec *y, float a, const clpt_vec *x);
    /* Copy one tensor's slice (by name; see tensor_find) from src to dst:
     * snapshot / restore of single tensors. Negative if no such tensor. */
    int (*vec_copy_tensor)(const clpt_host *h, clpt_vec *dst, const clpt_vec *src,
                           const char *tensor);
    /* Host <-> buffer transfer of n floats at `offset` (in floats). */
    int (*vec_read)(const clpt_host *h, const clpt_vec *v, size_t offset, size_t n, float *out);
    int (*vec_write)(const clpt_host *h, clpt_vec *v, size_t offset, size_t n, const float *in);

    /* ---- data ----------------------------------------------------------------- */
    /* The run's batch shape: rows per micro-batch (B), tokens per row (T),
     * micro-batches per optimizer step. Any pointer may be NULL. */
    void (*batch_shape)(const clpt_host *h, int *B, int *T, int *grad_accum);
    /* The next `rows` training rows of the current domain: exactly what the
     * engine would have trained on (epoch order or random windows). Only
     * inside compose_batch. inputs/targets: rows*T ints each, caller's. */
    int (*next_batch)(const clpt_host *h, int *inputs, int *targets, int rows);
    /* `rows` random windows of T tokens (T <= the run's T) from split
     * `split` (CLPT_PLUGIN_SPLIT_*) of manifest domain `domain`, from the
     * host's seeded sampler (saved with checkpoints; independent of the
     * training data order). Negative if the split is shorter than T + 1. */
    int (*sample)(const clpt_host *h, int domain, int split, int *inputs, int *targets,
                  int rows, int T);

    /* ---- compute -------------------------------------------------------------- */
    /* Forward on (rows, T) tokens; *loss (may be NULL) = mean NLL per token.
     * Gradients untouched. rows >= 1 (activation memory grows to fit more
     * than B), 1 <= T <= the run's T. Token ids must be < the vocabulary. */
    int (*forward)(const clpt_host *h, const int *inputs, const int *targets, int rows,
                   int T, float *loss);
    /* Forward and backward: the gradient of the mean loss, times grad_scale,
     * is ADDED to grads. */
    int (*forward_backward)(const clpt_host *h, const int *inputs, const int *targets,
                            int rows, int T, float grad_scale, float *loss);

    /* ---- optimizer ------------------------------------------------------------ */
    /* Zero the AdamW moments and step counter (takes effect on the next step). */
    void (*reset_optimizer)(const clpt_host *h);
    /* Multiply the scheduled LR by `scale` (>= 0) from the next step on,
     * until changed; saved with checkpoints. Default 1. */
    void (*set_lr_scale)(const clpt_host *h, double scale);
    /* Choose how the LR schedule runs (a clpt_lr_mode); call it in
     * run_begin. Saved with checkpoints. */
    int (*set_lr_schedule)(const clpt_host *h, int mode);
    /* The learning rate of the step about to be taken / last taken. */
    double (*lr)(const clpt_host *h);

    /* ---- where the run stands ------------------------------------------------------ */
    int (*schedule_len)(const clpt_host *h);        /* N */
    /* Position n (0-based) of the domain being trained, in domain_begin ..
     * domain_end and every hook between; -1 in run_begin/run_end. */
    int (*position)(const clpt_host *h);
    /* Manifest index of schedule position n (0 <= n < N), or -1. */
    int (*schedule_domain)(const clpt_host *h, int n);
    int (*n_domains)(const clpt_host *h);           /* domains in the manifest */
    int (*domain_info)(const clpt_host *h, int domain, clpt_domain_info *out);
    int64_t (*step)(const clpt_host *h);            /* steps done in this domain */
    int64_t (*domain_steps)(const clpt_host *h);    /* steps this domain will take */
    int64_t (*global_step)(const clpt_host *h);     /* steps done in the run */
    int (*resumed)(const clpt_host *h);             /* 1 if the run was resumed */

    /* ---- metrics and randomness ------------------------------------------------------ */
    /* Report `value` under `name` ([a-z0-9_.]+, prefixed by convention with
     * the strategy's name: "ewc_penalty"). The latest value of each name goes
     * into the next `train` journal event's "metrics" object. */
    void (*metric)(const clpt_host *h, const char *name, double value);
    /* The plugin's own seeded generator (derived from the run seed; saved
     * with checkpoints): uniform 64-bit words, uniform [0, 1), uniform
     * integer in [0, n) for n > 0. */
    uint64_t (*rng_u64)(const clpt_host *h);
    double (*rng_uniform)(const clpt_host *h);
    uint64_t (*rng_below)(const clpt_host *h, uint64_t n);

    /* ---- state streams (only inside state_save / state_load) ----------------------- */
    /* Raw bytes; a read of more bytes than remain fails. Numbers are in the
     * host's byte order (the payload version is the plugin's own business). */
    int (*write)(const clpt_host *h, clpt_stream *s, const void *data, size_t n);
    int (*read)(const clpt_host *h, clpt_stream *s, void *data, size_t n);
    /* A whole buffer (n_params floats). */
    int (*write_vec)(const clpt_host *h, clpt_stream *s, const clpt_vec *v);
    int (*read_vec)(const clpt_host *h, clpt_stream *s, clpt_vec *v);
};

/* ---- the descriptor ---------------------------------------------------------- */

/* Flags. */
#define CLPT_STRATEGY_DATA_PARALLEL_SAFE 0x1u  /* correct when each rank runs the
                                                  hooks on its shard of a batch
                                                  and gradients are all-reduced
                                                  after after_backward */

/* `self` below is the instance pointer create() returned (NULL when the
 * plugin has no create). Every hook may be NULL (= nothing to do), except
 * that create/destroy and state_save/state_load come in pairs: the loader
 * refuses one without the other. */
typedef struct clpt_strategy_desc {
    uint32_t struct_size;    /* sizeof(clpt_strategy_desc) as the plugin compiled it */
    uint32_t abi_major;      /* CLPT_PLUGIN_ABI_MAJOR */
    uint32_t abi_minor;      /* CLPT_PLUGIN_ABI_MINOR */
    uint32_t option_size;    /* sizeof(clpt_option_desc) as the plugin compiled it */

    const char *name;        /* [a-z][a-z0-9_-]*: how runs name the strategy */
    const char *version;     /* the plugin's own version, e.g. "1.2.0" */
    const char *summary;     /* one line for listings */
    const clpt_option_desc *options; /* n_options entries (stride option_size) */
    uint32_t n_options;
    uint32_t flags;          /* CLPT_STRATEGY_* */
    uint32_t state_version;  /* encoding version state_save writes; handed
                                back to state_load */

    /* Per-run instance: create() allocates the plugin's state and reads its
     * options; *self receives it. destroy() frees it (buffers from vec_new
     * included). create() runs after the host is ready (options, model,
     * data), before run_begin and before state_load on resume. */
    int (*create)(const clpt_host *h, void **self);
    void (*destroy)(const clpt_host *h, void *self);

    /* Once per process at the start of a run, also when it resumes
     * (h->resumed() says which; state is loaded already). */
    int (*run_begin)(const clpt_host *h, void *self);
    /* When the last domain has been trained. */
    int (*run_end)(const clpt_host *h, void *self);
    /* Before the first step of schedule position h->position(). Not called
     * again when a domain resumes mid-way from a checkpoint. */
    int (*domain_begin)(const clpt_host *h, void *self);
    /* After the domain's last step, before its checkpoint is saved (so what
     * it computes - a Fisher, a memory - is in the checkpoint). */
    int (*domain_end)(const clpt_host *h, void *self);
    /* Fill one micro-batch: inputs and targets are (B, T) ints. Use
     * h->next_batch() for the current domain's rows. NULL = all rows from
     * next_batch. */
    int (*compose_batch)(const clpt_host *h, void *self, int *inputs, int *targets,
                         int B, int T);
    /* After the step's micro-batches are backpropagated, before clipping
     * and AdamW: edit h->grads() (penalties, projections). */
    int (*after_backward)(const clpt_host *h, void *self);
    /* After the optimizer update. */
    int (*after_step)(const clpt_host *h, void *self);
    /* Save / restore the instance state with the stream services. The
     * payload is the plugin's: version is the state_version it was written
     * with; refuse versions you do not know with h->error(). On resume,
     * state_load runs after create and before run_begin, and must read
     * exactly what state_save wrote. */
    int (*state_save)(const clpt_host *h, void *self, clpt_stream *out);
    int (*state_load)(const clpt_host *h, void *self, clpt_stream *in, uint32_t version);
} clpt_strategy_desc;

/* The first fields of every descriptor:
 *   CLPT_EXPORT const clpt_strategy_desc clpt_strategy_descriptor = {
 *       CLPT_STRATEGY_DESC_HEADER,
 *       .name = "mine", ... }; */
#define CLPT_STRATEGY_DESC_HEADER                                               \
    .struct_size = sizeof(clpt_strategy_desc), .abi_major = CLPT_PLUGIN_ABI_MAJOR, \
    .abi_minor = CLPT_PLUGIN_ABI_MINOR, .option_size = sizeof(clpt_option_desc)

/* Sizes of ABI 1.0, the least the loader accepts. */
#define CLPT_STRATEGY_DESC_SIZE_1_0 \
    (offsetof(clpt_strategy_desc, state_load) + sizeof(void (*)(void)))
#define CLPT_OPTION_DESC_SIZE_1_0 (offsetof(clpt_option_desc, max) + sizeof(double))

#ifdef __cplusplus
}
#endif

#endif
