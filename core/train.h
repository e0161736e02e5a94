/* train.h - the training loop: data, optimizer steps, logging, checkpoints.
 *
 * clpt_train_step() is the one place an optimizer step happens: it draws
 * grad_accum micro-batches, accumulates gradients, and applies AdamW. The
 * hooks let a caller (a strategy plugin host) compose batches and edit the
 * gradient before the update without copying the loop.
 *
 * clpt_train_run() is `clpt train`: a whole run from a configuration, with
 * a progress line, a JSON-lines log (<out_dir>/train.jsonl), periodic
 * evaluation, checkpoints at <out_dir>/checkpoint (Hugging Face layout, with
 * optimizer and run state for an exact resume: docs/reliability.md says what
 * it covers), and a clean stop on SIGINT or SIGTERM that saves a checkpoint
 * first. A log line or checkpoint that cannot be written stops the run with
 * an error naming the file; the log's earlier lines and the last checkpoint
 * stay as they were. */
#ifndef CLPT_TRAIN_H
#define CLPT_TRAIN_H

#include <stdint.h>

#include "config.h"
#include "dataloader.h"
#include "model.h"

typedef struct clpt_step_hooks {
    /* Fill a (B,T) micro-batch; NULL = clpt_loader_next on the loader. */
    int (*compose)(void *ud, int *inputs, int *targets, int B, int T);
    /* After the micro-batches' backward, before clipping and AdamW. */
    int (*after_backward)(void *ud);
    /* After the optimizer step. */
    int (*after_step)(void *ud);
    void *ud;
} clpt_step_hooks;

typedef struct clpt_step_result {
    float loss;          /* mean over the step's micro-batches */
    double grad_norm;    /* before clipping */
    double lr;
} clpt_step_result;

/* One optimizer step at learning rate lr. inputs/targets are caller scratch
 * of B*T ints each. hooks may be NULL. */
int clpt_train_step(clpt_model *m, clpt_loader *loader, const clpt_adamw *opt, double lr,
                    int B, int T, int grad_accum, int *inputs, int *targets,
                    const clpt_step_hooks *hooks, clpt_step_result *out);

/* AdamW hyper-parameters and the LR schedule of a configuration. */
void clpt_config_adamw(const clpt_config *cfg, clpt_adamw *out);

/* Open the token stream named by a [data] value: a .bin shard, a
 * comma-separated list of shards, or a directory holding manifest.json
 * (then `domain` picks a domain, "" = all domains as separate sources;
 * with `verify`, their shards are checked against the manifest's sha256
 * first: shardcheck.h). *out gets *n sources (caller frees each and the
 * array). `label` names the config key in messages. */
int clpt_data_open(const char *spec, const char *domain, int split, uint64_t cap, int verify,
                   const char *label, clpt_source ***out, int *n, double **weights);

/* Model from [model]: random init, or a Hugging Face checkpoint dir. */
int clpt_model_from_config(const clpt_config *cfg, const clpt_backend *be, clpt_model **out);

/* The whole `clpt train` run. resume != 0 continues from
 * <out_dir>/checkpoint when it exists; stop_at > 0 stops (and saves) once
 * that many optimizer steps are done, as a time budget would. 0, or a
 * negative code (message set); 1 if stopped by a signal after saving. */
int clpt_train_run(const clpt_config *cfg, int resume, int64_t stop_at);

#endif
