/* clrun.h - the continual-learning run engine: train one model over a
 * schedule of domains with a strategy plugin, evaluate checkpoints on
 * domain test sets, and record everything in a results journal.
 *
 * A run lives in a directory:
 *   <dir>/journal.jsonl           the results journal (docs/journal.md)
 *   <dir>/checkpoints/latest      Hugging Face checkpoint + optimizer +
 *                                 state.json (exact resume point)
 *   <dir>/checkpoints/after-<n>   weights of M_n (only with keep_checkpoints)
 *   <dir>/checkpoints/strategy.<g>.bin   strategy state of checkpoint g
 *
 * The procedure (DESIGN.md): M0 = the configured model; for n = 1..N,
 * M_n = train(M_{n-1}, D_n) on the train split of schedule domain n, with
 * the strategy's hooks; after each domain the checkpoint is saved and M_n is
 * evaluated on the evaluation set. Everything is deterministic given the
 * configuration (seeds included), so a run interrupted at any point and
 * resumed gives the same weights and journal cells as an uninterrupted one.
 *
 * Resume. clpt_clrun_open() on a directory that already holds a journal
 * continues that run: it checks that strategy, options and schedule match,
 * loads <dir>/checkpoints/latest when present (what it holds for an exact
 * resume: docs/reliability.md) and never recomputes a finished domain
 * (domain_end in the journal or in the checkpoint) or an evaluation cell
 * already in the journal. A domain interrupted mid-way restarts from the last
 * checkpoint taken inside it (opts.save_every) or from its beginning.
 *
 * Length of training per domain, from the configuration:
 *   train.epochs > 0   epoch mode: ceil(epochs * W / (batch_size * grad_accum))
 *                      optimizer steps over the domain's W non-overlapping
 *                      windows of seq_len tokens, in a seeded order (the study:
 *                      epochs = 1). A last partial batch is filled from the next
 *                      epoch's order, so every batch has batch_size rows.
 *   train.steps        else that many steps per domain, random windows;
 *   train.tokens       else ceil(tokens / (batch_size * seq_len * grad_accum))
 *                      steps per domain, random windows.
 * Compute-equivalent strategies (replay's default) keep these step counts and
 * replace some new rows; additive ones add rows. [optim] reset_per_domain
 * zeroes AdamW at each domain; schedule_per_domain restarts the LR schedule
 * (warmup and decay over the domain's steps) instead of running it once over
 * the sum of all domains' steps. A strategy may override both.
 *
 * Threading: a run is used by one thread at a time. Every function returns 0
 * or a negative CLPT_E* code with clpt_errmsg() set (naming the run dir,
 * domain, strategy or file), except where stated. */
#ifndef CLPT_CLRUN_H
#define CLPT_CLRUN_H

#include <stdint.h>

#include "config.h"
#include "evaluate.h"
#include "manifest.h"
#include "model.h"

typedef struct clpt_clrun clpt_clrun;

/* Returned (positive) by the training calls when a hook or clpt_clrun_stop()
 * or SIGINT/SIGTERM asked the run to stop: a checkpoint was saved first, so
 * reopening the directory resumes exactly. Not an error. */
#define CLPT_CLRUN_STOPPED 1

/* ---- the evaluation set: which domains M_n is evaluated on ------------ */

typedef enum {
    CLPT_EVALSET_ALL = 0,   /* every domain of the schedule (the default) */
    CLPT_EVALSET_SEEN,      /* schedule domains 1..n, plus the next `next` ones */
    CLPT_EVALSET_CURRENT,   /* domain n only (e.g. a DAPT run) */
    CLPT_EVALSET_LIST,      /* the manifest domains in `domains` */
    CLPT_EVALSET_NONE       /* no evaluation after domains */
} clpt_evalset_kind;

typedef struct clpt_clrun_evalset {
    int kind;               /* a clpt_evalset_kind */
    int next;               /* SEEN: also evaluate the next `next` domains (>= 0) */
    const int *domains;     /* LIST: manifest domain indices; copied at open */
    int n_domains;
} clpt_clrun_evalset;

/* ---- opening a run ------------------------------------------------------ */

/* Everything the engine needs. Pointers are borrowed for the duration of
 * clpt_clrun_open() only: the engine copies what it keeps. Zero/NULL fields
 * take the default given. */
typedef struct clpt_clrun_opts {
    const clpt_config *config;   /* required: model, recipe, runtime ([train]
                                    out_dir is ignored: `dir` is used) */
    const char *data;            /* prepared corpus: a directory holding
                                    manifest.json; NULL = config->data.train */
    const int *schedule;         /* manifest domain indices in training order;
                                    copied */
    int n_schedule;              /* 0 = every domain in the manifest's "order" */
    const char *strategy;        /* a strategy name ("replay") or the path of
                                    a plugin .so (contains '/' or ends in
                                    ".so"); NULL = "sequential"; "none" = a run
                                    that only evaluates (training refused) */
    const char *const *options;  /* "key=value" strategy options, validated
                                    against the plugin's schema; copied */
    int n_options;
    const char *const *plugin_paths; /* extra plugin directories or files,
                                        searched before CLPT_PLUGIN_PATH and
                                        the built-in directories */
    int n_plugin_paths;
    const char *dir;             /* required: run directory (created) */
    const char *name;            /* run name in the journal; NULL = the last
                                    component of dir */
    clpt_clrun_evalset eval;     /* evaluation after each domain (default ALL) */
    const char *eval_split;      /* "train", "valid" or "test"; NULL = "test" */
    const char *eval_label;      /* journal `model` of the cells evaluated
                                    after domain n: "{n}" is replaced by n
                                    and "{domain}" by the domain's name;
                                    NULL = "after:{n}" (a DAPT run:
                                    "dapt:{domain}") */
    int eval_base;               /* 1: clpt_clrun_run_all() first evaluates M0
                                    ("base") on every schedule domain (and the
                                    LIST domains) */
    int keep_checkpoints;        /* 1: also keep the weights of every M_n in
                                    checkpoints/after-<n> (needed to evaluate
                                    an earlier M_n later); 0 = latest only */
    int save_every;              /* optimizer steps between checkpoints inside
                                    a domain; 0 = config train.save_every
                                    (0 there = only at domain ends) */
    int log_every;               /* steps between `train` journal events;
                                    0 = config train.log_every (0 = never) */
    int handle_signals;          /* 1: SIGINT/SIGTERM during training save a
                                    checkpoint and return CLPT_CLRUN_STOPPED */
} clpt_clrun_opts;

/* Open (or resume) the run in opts->dir: load the manifest and the model,
 * load and instantiate the strategy with its options, restore the latest
 * checkpoint if any, append a `run` event to the journal and call the
 * strategy's run_begin. Refused: missing config/dir, unknown domain index,
 * bad strategy or options (the message names the plugin file and option), a
 * journal in dir from another run name, strategy, options or schedule, or
 * another recipe (any [model] key, the [train] batch/length/seed keys,
 * [optim], the token caps, eval.max_tokens: the message names the key and
 * both values; paths, logging, threads and backend may change). On success
 * the caller frees *out with clpt_clrun_close(); on failure nothing is left
 * allocated. */
int clpt_clrun_open(clpt_clrun **out, const clpt_clrun_opts *opts);

/* Release everything. Writes nothing: an unfinished run simply resumes from
 * its last checkpoint when reopened. NULL is a no-op. */
void clpt_clrun_close(clpt_clrun *r);

/* ---- driving it --------------------------------------------------------- */

/* The whole procedure: [eval_base], the evaluation of the last finished
 * domain if a stop interrupted it, then for each schedule position n not yet
 * finished: train_domain(n), eval_after(n); then finish(). For strategy
 * "none": M0 ("base") on every schedule domain, then finish(). Returns 0
 * when the run is complete (at once if run_end is in the journal),
 * CLPT_CLRUN_STOPPED when asked to stop (resumable), or a negative error
 * code. */
int clpt_clrun_run_all(clpt_clrun *r);

/* Train schedule position n (1-based): `domain_begin` journal event,
 * [optim] reset_per_domain, the strategy's domain_begin hook, the
 * DOMAIN_BEGIN callback, the domain's optimizer steps (compose /
 * after_backward / after_step hooks; `train` events every log_every steps;
 * checkpoints every save_every steps), the strategy's domain_end hook, the
 * checkpoint (plus after-<n> with keep_checkpoints), the `domain_end` event,
 * the DOMAIN_END callback. n must be the next unfinished position
 * (CLPT_ESTATE otherwise); a finished n is a no-op that returns 0. A domain
 * interrupted earlier continues from its checkpoint without domain_begin.
 * Returns CLPT_CLRUN_STOPPED when stopped: inside the domain (a checkpoint
 * is saved there) or by the DOMAIN_END callback (the domain is finished). */
int clpt_clrun_train_domain(clpt_clrun *r, int n);

/* Evaluate M_n (n = the last finished position, or any n with
 * keep_checkpoints) on the evaluation set, skipping cells already in the
 * journal; calls the EVAL hook per new cell. */
int clpt_clrun_eval_after(clpt_clrun *r, int n);

/* One evaluation cell: the model called `model` on manifest domain `domain`,
 * split `split` (CLPT_SPLIT_*). `model` chooses the weights:
 *   "base"        M0, the run's initial weights;
 *   "after:<n>"   M_n: the current weights if n is the last finished
 *                 position, else checkpoints/after-<n> (keep_checkpoints);
 *                 CLPT_ESTATE if neither is available;
 *   anything else the current weights (e.g. "dapt:<domain>").
 * If the cell (run, model, domain, split) is already in the journal its
 * stored values are returned and nothing is computed; else it is computed,
 * journaled as an `eval` event (with `index` for base / after:<n>) and the
 * EVAL hook is called. out may be NULL. The current weights are unchanged. */
int clpt_clrun_eval(clpt_clrun *r, const char *model, int domain, int split,
                    clpt_eval_result *out);

/* Look a cell up in the journal without computing: 1 and *out filled if
 * present (tokens, nll, ppl and, if recorded, the rank fields), else 0. */
int clpt_clrun_cell(const clpt_clrun *r, const char *model, int domain, int split,
                    clpt_eval_result *out);

/* Call the strategy's run_end hook (once, when every domain is trained) and
 * append `run_end` if not yet there. CLPT_ESTATE if domains are left. */
int clpt_clrun_finish(clpt_clrun *r);

/* Ask the training in progress to stop at the next step boundary (saving a
 * checkpoint) and return CLPT_CLRUN_STOPPED. Async-signal-safe. */
void clpt_clrun_stop(clpt_clrun *r);

/* ---- hooks: C callbacks (the Lua layer binds its functions here) -------- */

typedef enum {
    CLPT_CLRUN_DOMAIN_BEGIN = 0, /* after the strategy's domain_begin, before step 1 */
    CLPT_CLRUN_DOMAIN_END,       /* after the checkpoint and the journal event */
    CLPT_CLRUN_STEP,             /* every `every` optimizer steps (domain step count) */
    CLPT_CLRUN_EVAL,             /* after a newly computed evaluation cell */
    CLPT_CLRUN_BATCH,            /* after each micro-batch is composed (inspection;
                                    a stop takes effect after the step) */
    CLPT_CLRUN_NEVENTS
} clpt_clrun_event_kind;

/* What a callback is told; borrowed for the duration of the call. Fields not
 * meaningful for an event are 0/NULL. */
typedef struct clpt_clrun_event {
    int event;              /* a clpt_clrun_event_kind */
    int index;              /* schedule position n (1-based); 0 = none */
    int domain;             /* manifest index of the domain (training or evaluated); -1 = none */
    const char *domain_name;
    int64_t step;           /* optimizer steps done within the domain */
    int64_t global_step;    /* optimizer steps done in the run */
    uint64_t tokens;        /* tokens trained within the domain */
    double loss, lr, grad_norm;   /* STEP: of the last step */
    double seconds;         /* DOMAIN_END: training time of the domain */
    const char *model;      /* EVAL: model label */
    int split;              /* EVAL: CLPT_SPLIT_* */
    const clpt_eval_result *eval; /* EVAL */
    const int *inputs;      /* BATCH: (rows, T) tokens composed for training */
    const int *targets;
    int rows, T;
} clpt_clrun_event;

/* Return 0 to go on; CLPT_CLRUN_STOPPED to stop the run (a checkpoint is
 * saved, the training call returns CLPT_CLRUN_STOPPED); a negative CLPT_E*
 * code (message set with clpt_err) to fail the training call with it. */
typedef int (*clpt_clrun_hook)(void *ud, clpt_clrun *r, const clpt_clrun_event *ev);

/* Set the callback of `event` (one per event; fn NULL removes it). `every`
 * is the period in steps for CLPT_CLRUN_STEP (>= 1), ignored otherwise.
 * ud is borrowed until the hook is replaced or the run closed. */
int clpt_clrun_set_hook(clpt_clrun *r, int event, int every, clpt_clrun_hook fn, void *ud);

/* ---- inspection ------------------------------------------------------------ */

/* Borrowed for the run's life. */
const clpt_manifest *clpt_clrun_manifest(const clpt_clrun *r);
const char *clpt_clrun_dir(const clpt_clrun *r);
const char *clpt_clrun_name(const clpt_clrun *r);
const char *clpt_clrun_strategy(const clpt_clrun *r);   /* "none" without one */
/* The schedule (manifest indices, training order); *n gets its length. */
const int *clpt_clrun_schedule(const clpt_clrun *r, int *n);
/* Positions 1..k are finished (trained and checkpointed); returns k. */
int clpt_clrun_done(const clpt_clrun *r);
/* 1 if run_end is in the journal. */
int clpt_clrun_finished(const clpt_clrun *r);
/* Optimizer steps of one domain's training (schedule position n) and in the
 * run; 0 for a "none" run. */
int64_t clpt_clrun_domain_steps(const clpt_clrun *r, int n);
int64_t clpt_clrun_global_step(const clpt_clrun *r);
/* The model being trained (current weights); borrowed, do not free. Callers
 * may read it; changing it changes the run. */
clpt_model *clpt_clrun_model(clpt_clrun *r);
/* Copy the base weights M0 (n_params floats) to host memory. */
int clpt_clrun_base_params(clpt_clrun *r, float *host);

#endif
