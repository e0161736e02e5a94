/* clrun_impl.h - internals of the run engine shared by clrun*.c. Not a
 * public header: the API is clrun.h. */
#ifndef CLPT_CLRUN_IMPL_H
#define CLPT_CLRUN_IMPL_H

#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>

#include "clrun.h"
#include "dataloader.h"
#include "plugin.h"

/* one evaluation cell found in (or appended to) the journal */
typedef struct clrun_cell {
    char *model;
    char *domain;           /* domain name */
    int split;
    clpt_eval_result r;
    int has_rank;
} clrun_cell;

struct clpt_clrun {
    clpt_config cfg;
    char *dir, *name, *journal_path, *ckpt_root, *latest;
    char *strategy;              /* plugin name, or "none" */
    clpt_manifest *man;
    int nd;                      /* manifest domains */
    int *schedule, N;
    clpt_model *model;
    clpt_plugin *plugin;         /* NULL for "none" */
    clpt_plugin_opts opts;
    clpt_plugin_host host;
    int host_started;
    clpt_source **src[CLPT_NSPLITS];  /* per manifest domain */
    clpt_loader *train;          /* training rows, over src[TRAIN] */
    int B, T, accum, epoch_mode;
    int64_t *dsteps;             /* steps per schedule position (0-based) */
    int64_t total_steps;
    clpt_adamw adamw;

    /* where the run stands (saved in state.json) */
    int done;                    /* positions 1..done are finished */
    int cur;                     /* position being trained (1-based), 0 = none */
    struct {                     /* an evaluation sweep (clpt_clrun_eval_after) in progress */
        int i, n;                /* cell i of n */
        const char *label;
    } sweep;
    int64_t step, global_step;
    uint64_t tokens;
    double seconds;              /* training time of `cur` so far */
    int64_t gen;                 /* checkpoint generation */
    struct { int64_t steps; uint64_t tokens; double seconds; } last; /* of position `done` */

    /* evaluation */
    clpt_clrun_evalset eval;
    int *eval_list;
    int eval_split, eval_base, keep, save_every, log_every, handle_signals;
    char *eval_label;

    /* journal */
    int jfd;                     /* journal, O_APPEND; -1 when not open */
    int lockfd;                  /* the run folder's lock (clpt_fs_lock_dir); -1 when not held */
    clrun_cell *cells;
    int n_cells, cap_cells;
    int *cell_index;             /* open addressing: cell number + 1, 0 = empty; index_cap slots */
    int index_cap;
    int journal_done;            /* highest position with domain_end in the journal */
    int run_ended;               /* run_end is in the journal */
    int resumed;
    cJSON *prev_device;          /* the device record of the journal's last `run` event */

    struct { clpt_clrun_hook fn; void *ud; int every; } hooks[CLPT_CLRUN_NEVENTS];
    volatile sig_atomic_t stop;
    int *x, *y;                  /* (B, T) scratch */
    double t_run, t_start;       /* run_all start; training (re)start in a domain */
};

/* ---- journal (clrun_journal.c) ---------------------------------------------- */

/* Read an existing journal: cells, finished positions, run_end; check the
 * first `run` event against this run (strategy, options, schedule). */
int clrun_journal_read(clpt_clrun *r);
/* Open for appending (r->jfd). */
int clrun_journal_open(clpt_clrun *r);
/* A new event object with v, event, time and run set. */
cJSON *clrun_event_new(const clpt_clrun *r, const char *event);
/* Append one line and fsync it, or leave the journal as it was (a failed
 * write is cut back: fsutil.h clpt_fs_append); frees ev. */
int clrun_journal_write(clpt_clrun *r, cJSON *ev);
int clrun_journal_run(clpt_clrun *r);
int clrun_journal_domain_end(clpt_clrun *r, int n);
const clrun_cell *clrun_cell_find(const clpt_clrun *r, const char *model, const char *domain, int split);
int clrun_cell_add(clpt_clrun *r, const char *model, const char *domain, int split,
                   const clpt_eval_result *res, int has_rank);
void clrun_cells_free(clpt_clrun *r);
/* The schedule as a JSON array of names; the options as a JSON object. */
cJSON *clrun_schedule_json(const clpt_clrun *r);
cJSON *clrun_options_json(const clpt_clrun *r);

/* ---- training (clrun_train.c) ------------------------------------------------------ */

int clrun_compute_steps(clpt_clrun *r);
/* Save the checkpoint at <dir>/checkpoints/latest with the run state. */
int clrun_save(clpt_clrun *r);
/* Load it if present (recovering an interrupted save); sets done/cur/... */
int clrun_restore(clpt_clrun *r);
/* The host's next_rows callback. */
int clrun_next_rows(void *engine, int *inputs, int *targets, int rows);
/* Call a user hook; returns its verdict. */
int clrun_hook(clpt_clrun *r, clpt_clrun_event *ev);

/* ---- evaluation (clrun_eval.c) ------------------------------------------------------- */

/* The manifest domains M_n is evaluated on (after position n); *out is
 * malloc'ed (caller frees), *n_out its length. */
int clrun_evalset(const clpt_clrun *r, int n, int **out, int *n_out);

#endif
