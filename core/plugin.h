/* plugin.h - loading strategy plugins and hosting their instances (the
 * clpt side of plugins/clpt_plugin.h).
 *
 * Loader (plugin_loader.c). A plugin is found by path, or by strategy name
 * on the search path, in this order (earlier entries shadow later ones):
 *   1. the caller's extra paths (directories or files; Lua `plugin_path`),
 *   2. CLPT_PLUGIN_PATH (colon-separated directories or files),
 *   3. the build tree's strategies directory (CLPT_PLUGIN_BUILD_DIR),
 *   4. the installed strategies directory (CLPT_PLUGIN_INSTALL_DIR).
 * The working directory is never searched implicitly. In a directory every
 * regular file ending in ".so" is a candidate, in name order. Loading
 * validates the descriptor and refuses, with a message naming the file and
 * the reason: dlopen failure (with dlerror), missing symbol, other ABI major,
 * newer ABI minor, short struct_size/option_size, a NULL hook whose pair is
 * set, a bad name or schema, and (in a scan) a name already provided by an
 * earlier file. Options arrive as "key=value" text and are checked against
 * the schema: an unknown key (the message lists the valid ones) or an
 * ill-typed / out-of-range value is refused.
 *
 * Host (plugin_host.c). A clpt_plugin_host is one instance of a plugin bound
 * to a run: it owns the clpt_host table handed to the plugin, the sampling
 * loaders, the plugin's RNG and metrics, and calls the hooks. The run engine
 * (clrun) fills in the model and data and keeps the position fields current. */
#ifndef CLPT_PLUGIN_INTERNAL_H
#define CLPT_PLUGIN_INTERNAL_H

#include <stdint.h>

#include "clpt_plugin.h"
#include "dataloader.h"
#include "manifest.h"
#include "model.h"
#include "rng.h"

struct cJSON;

/* ---- loading ------------------------------------------------------------ */

typedef struct clpt_plugin clpt_plugin;

/* dlopen `path` and validate its descriptor. *out is freed with
 * clpt_plugin_close() (which dlcloses). On failure nothing stays loaded and
 * the message starts with the path. */
int clpt_plugin_open(clpt_plugin **out, const char *path);
void clpt_plugin_close(clpt_plugin *p);

/* The validated descriptor, zero-extended to this host's struct size (fields
 * the plugin predates read as 0/NULL); borrowed until close. */
const clpt_strategy_desc *clpt_plugin_desc(const clpt_plugin *p);
const char *clpt_plugin_path(const clpt_plugin *p);   /* as opened; borrowed */
const char *clpt_plugin_name(const clpt_plugin *p);
/* Option i (0 <= i < desc->n_options), zero-extended; borrowed. */
const clpt_option_desc *clpt_plugin_option(const clpt_plugin *p, int i);
/* Index of the option called `name`, or -1. */
int clpt_plugin_option_index(const clpt_plugin *p, const char *name);

/* The search path as a NULL-terminated array of strings (entries 1-4 above,
 * missing directories left out); caller frees with clpt_plugin_path_free(). */
char **clpt_plugin_search_path(const char *const *extra, int n_extra);
void clpt_plugin_path_free(char **path);

/* Every candidate on a search path, loaded or refused. */
typedef struct clpt_plugin_entry {
    char *file;           /* candidate path (owned by the list) */
    clpt_plugin *plugin;  /* NULL if refused */
    char *error;          /* why it was refused, else NULL */
} clpt_plugin_entry;

typedef struct clpt_plugin_list {
    clpt_plugin_entry *entries;
    int n;
} clpt_plugin_list;

/* Scan the search path (extra as above). A plugin whose name an earlier one
 * already has is refused ("duplicate"). Caller frees with
 * clpt_plugin_list_free(). Fails only on allocation failure. */
int clpt_plugin_scan(clpt_plugin_list *out, const char *const *extra, int n_extra);
void clpt_plugin_list_free(clpt_plugin_list *l);

/* A strategy by name (first on the search path) or by path (`spec` holds a
 * '/' or ends in ".so"). The message of a missing name lists those found.
 * Caller closes *out. */
int clpt_plugin_find(clpt_plugin **out, const char *spec, const char *const *extra,
                     int n_extra);

/* ---- options ------------------------------------------------------------- */

typedef struct clpt_optval {
    int type;        /* clpt_option_type */
    int given;       /* 1 if set by the caller, 0 if the default */
    char *text;      /* the value as given (or the default's text); owned */
    int64_t i;       /* INT; BOOL (0/1); ENUM (index) */
    double f;        /* FLOAT (and INT as double) */
} clpt_optval;

typedef struct clpt_plugin_opts {
    int n;
    clpt_optval *v;  /* indexed like the plugin's options */
} clpt_plugin_opts;

/* Resolve the options of `p` from n "key=value" strings (later keys win):
 * defaults, then the given values. Caller frees with clpt_plugin_opts_free().
 * CLPT_ECONFIG: "strategy 'NAME' (PATH): unknown option 'K'; valid options:
 * a, b" / "... option 'K': 'V' is not ...". */
int clpt_plugin_opts_parse(clpt_plugin_opts *out, const clpt_plugin *p,
                           const char *const *kv, int n);
void clpt_plugin_opts_free(clpt_plugin_opts *o);
/* Parse one value of type `o->type` (used for defaults and given values);
 * CLPT_ECONFIG with "'TEXT' is not ..." on failure. */
int clpt_plugin_opt_value(const clpt_option_desc *o, const char *text, clpt_optval *out);
/* The resolved options as a JSON object name -> typed value; caller frees. */
struct cJSON *clpt_plugin_opts_json(const clpt_plugin *p, const clpt_plugin_opts *o);

/* ---- hosting an instance -------------------------------------------------- */

/* A parameter-sized device buffer. */
struct clpt_vec {
    float *d;        /* n_params floats on the model's backend */
    int owned;       /* 1 if from vec_new (freed by vec_free) */
    int readonly;    /* 1 for the base weights */
};

typedef struct clpt_plugin_host clpt_plugin_host;

/* How the engine supplies the current domain's rows (host->next_batch). */
typedef int (*clpt_next_rows_fn)(void *engine, int *inputs, int *targets, int rows);

#define CLPT_METRICS_MAX 32

struct clpt_plugin_host {
    clpt_host api;               /* first: the table the plugin gets */
    const clpt_plugin *plugin;   /* borrowed */
    const clpt_plugin_opts *opts;/* borrowed */
    void *self;                  /* the plugin instance */
    int created;

    /* set by the engine before create (borrowed) */
    clpt_model *model;
    const clpt_manifest *manifest;
    clpt_source **sources[CLPT_NSPLITS]; /* per split, one per manifest domain */
    int B, T, accum;
    const int *schedule;
    int n_schedule;
    clpt_next_rows_fn next_rows;
    void *engine;

    /* kept current by the engine */
    int position;                /* 0-based, -1 outside a domain */
    int64_t step, domain_steps, global_step;
    int resumed;
    double lr;
    int in_compose, in_state;    /* where the stream/next_batch services are legal */

    /* owned by the host, saved with checkpoints */
    clpt_loader *samplers[CLPT_NSPLITS];
    clpt_rng rng;
    double lr_scale;             /* host->set_lr_scale */
    int lr_mode;                 /* a clpt_lr_mode */
    int reset_requested;         /* host->reset_optimizer, applied by the engine */

    struct clpt_vec params_v, grads_v, base_v;
    struct { char name[64]; double value; } metrics[CLPT_METRICS_MAX];
    int n_metrics;
    int failed;                  /* a service recorded an error */
    char errmsg[1024];
    const char *hook;            /* the hook running, for messages */
};

/* Prepare a host for plugin `p` (may be NULL: no strategy) with options
 * `opts`. Engine fields must be set before clpt_plugin_host_start(). */
void clpt_plugin_host_init(clpt_plugin_host *h, const clpt_plugin *p,
                           const clpt_plugin_opts *opts);
/* Allocate the base buffer (copy of the current parameters), the samplers
 * (seeded from `seed`) and the RNG, then call create(). */
int clpt_plugin_host_start(clpt_plugin_host *h, uint64_t seed);
/* destroy() the instance and free what the host owns. Safe after a failed
 * start and on a zeroed struct. */
void clpt_plugin_host_free(clpt_plugin_host *h);

enum {
    CLPT_HOOK_RUN_BEGIN, CLPT_HOOK_RUN_END, CLPT_HOOK_DOMAIN_BEGIN,
    CLPT_HOOK_DOMAIN_END, CLPT_HOOK_AFTER_BACKWARD, CLPT_HOOK_AFTER_STEP
};
/* Call one hook (a no-op when the plugin lacks it). A failure (non-zero
 * return or a recorded service error) becomes CLPT_ESTATE with the message
 * "strategy 'NAME' HOOK: ...". */
int clpt_plugin_host_call(clpt_plugin_host *h, int hook);
/* compose_batch, or next_rows for all B rows without one. */
int clpt_plugin_host_compose(clpt_plugin_host *h, int *inputs, int *targets, int B, int T);
int clpt_plugin_host_has_compose(const clpt_plugin_host *h);

/* Save the host's and the plugin's state to `path` (atomically) / load it.
 * The file holds the sampler states, the RNG, lr scale and mode, and the
 * plugin's payload with its state_version. */
int clpt_plugin_host_save(clpt_plugin_host *h, const char *path);
int clpt_plugin_host_load(clpt_plugin_host *h, const char *path);

/* The metrics reported since the last take as a JSON object (NULL if none);
 * caller frees. Clears them. */
struct cJSON *clpt_plugin_host_take_metrics(clpt_plugin_host *h);

#endif
