/* config.h - the resolved run configuration and the ini files behind it.
 *
 * One schema table (config.c) names every key: its section, type, default,
 * range or allowed values and help text. It drives parsing, defaults,
 * validation, error messages, `clpt config --show` and the Markdown of
 * `clpt config --doc` (configs/README.md is that output).
 *
 * Values compose in order: clpt_config_defaults(), then any number of
 * clpt_config_load() calls, then clpt_config_set() overrides (--set
 * section.key=value), then clpt_config_validate() for cross-key checks.
 * A clpt_config is a plain value: it owns no heap memory, strings are
 * fixed-size arrays inside it, and it may be copied with memcpy. */
#ifndef CLPT_CONFIG_H
#define CLPT_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "model.h"

#define CLPT_CONFIG_STR_MAX 1024   /* bytes of a string value, NUL included */
#define CLPT_CONFIG_MAX_KEYS 64    /* room for the schema's keys */
#define CLPT_CONFIG_ORIGIN_MAX 96  /* "default", "file.ini:12", "command line" */

/* Enumerations are stored as int in the struct; these name their values. */
typedef enum {
    CLPT_PRESET_GPT2,
    CLPT_PRESET_GPT2_MEDIUM,
    CLPT_PRESET_GPT2_LARGE,
    CLPT_PRESET_GPT2_XL,
    CLPT_PRESET_TINY,
    CLPT_PRESET_MINI,
    CLPT_PRESET_SMALL,
    CLPT_PRESET_COUNT
} clpt_preset;

typedef enum {
    CLPT_SCHED_CONSTANT,
    CLPT_SCHED_COSINE,
    CLPT_SCHED_LINEAR,
    CLPT_SCHED_WSD      /* warmup, stable, then decay over decay_frac of steps */
} clpt_schedule;

typedef enum { CLPT_RUN_CPU, CLPT_RUN_CUDA, CLPT_RUN_AUTO, CLPT_RUN_CPU_BF16 } clpt_backend_choice;
typedef enum { CLPT_PROGRESS_AUTO, CLPT_PROGRESS_ALWAYS, CLPT_PROGRESS_NEVER } clpt_progress;
/* [runtime] cuda_gemm / cuda_attention values, NULL-terminated; entry 0 is
 * "default" (the environment's CLPT_CUDA_GEMM / CLPT_CUDA_ATTN, else bf16
 * and auto); the others are the names clpt_cuda_set_gemm / _set_attn take */
extern const char *const clpt_cuda_gemm_names[];
extern const char *const clpt_cuda_attention_names[];
/* [runtime] cuda_activations: "default" (CLPT_CUDA_ACT, else bf16), "fp32", "bf16" */
extern const char *const clpt_cuda_activation_names[];
/* [runtime] cuda_gelu_fusion: "default" (CLPT_CUDA_GELU_FUSION, else on with
 * bf16 activations), "off", "on" */
extern const char *const clpt_cuda_gelu_fusion_names[];
/* [runtime] cuda_logits: "default" (CLPT_CUDA_LOGITS, else fp32), "fp32", "bf16" */
extern const char *const clpt_cuda_logits_names[];

typedef struct clpt_config {
    struct {
        int preset;          /* a clpt_preset */
        int n_layer, n_head, n_embd, n_ctx, vocab_size; /* 0 = from preset */
        char init[CLPT_CONFIG_STR_MAX]; /* "random" or a HF checkpoint dir */
        int64_t seed;        /* seed of the random initialisation */
    } model;
    struct {
        int batch_size;      /* sequences per micro-batch (B) */
        int seq_len;         /* T; 0 = model n_ctx */
        int grad_accum;      /* micro-batches per optimizer step */
        int64_t steps;       /* optimizer steps; exactly one of steps/tokens > 0 */
        int64_t tokens;      /* training tokens; 0 = unused */
        double epochs;       /* passes over the data, for experiment scripts; 0 = unused */
        int64_t seed;        /* seed of the data order */
        int log_every;       /* steps; 0 = off */
        int save_every;      /* steps; 0 = only at the end */
        char out_dir[CLPT_CONFIG_STR_MAX];
    } train;
    struct {
        double lr, beta1, beta2, eps, weight_decay;
        double grad_clip;    /* global-norm clip; 0 = off */
        int schedule;        /* a clpt_schedule */
        int warmup_steps;
        double min_lr_ratio; /* end of decay, as a fraction of lr */
        double decay_frac;   /* wsd: fraction of the steps spent decaying */
        int reset_per_domain;    /* bool: zero AdamW moments at each domain */
        int schedule_per_domain; /* bool: run the LR schedule afresh per domain */
    } optim;
    struct {
        char train[CLPT_CONFIG_STR_MAX];     /* shard, shard list, or manifest dir */
        char valid[CLPT_CONFIG_STR_MAX];
        char domain[CLPT_CONFIG_STR_MAX];    /* a domain of the manifest; "" = none */
        char tokenizer[CLPT_CONFIG_STR_MAX]; /* "" = none */
        int64_t max_train_tokens, max_eval_tokens; /* 0 = all */
        int verify_shards;   /* bool: check shards against the manifest's sha256 */
    } data;
    struct {
        int every;           /* steps; 0 = only at the end */
        int batch_size;      /* 0 = train batch_size */
        int64_t max_tokens;  /* per evaluation; 0 = all loaded */
        int rank;            /* bool: also compute prediction rank */
    } eval;
    struct {
        int backend;         /* a clpt_backend_choice */
        int threads;         /* 0 = all cores */
        int progress;        /* a clpt_progress */
        int cuda_gemm;       /* index into clpt_cuda_gemm_names; 0 = the backend's default */
        int cuda_attention;  /* index into clpt_cuda_attention_names; 0 = the default */
        int cuda_activations; /* index into clpt_cuda_activation_names; 0 = the default */
        int cuda_gelu_fusion; /* index into clpt_cuda_gelu_fusion_names; 0 = the default */
        int cuda_logits;      /* index into clpt_cuda_logits_names; 0 = the default */
    } runtime;

    /* Where each key's value came from, by schema index: "default",
     * "path.ini:LINE" or the origin passed to clpt_config_set(). Read it with
     * clpt_config_origin(). */
    char origin[CLPT_CONFIG_MAX_KEYS][CLPT_CONFIG_ORIGIN_MAX];
} clpt_config;

/* Reset every key to its default (these defaults validate). 0, or
 * CLPT_ESTATE if the schema table itself is inconsistent (a bug). */
int clpt_config_defaults(clpt_config *cfg);

/* Read an ini file over the current values. Unknown sections or keys, bad
 * values, duplicate keys and syntax errors fail with CLPT_ECONFIG and a
 * message "path:line: ..." naming the key and what is valid; a missing file
 * fails with CLPT_EIO. The first error stops the load; keys read before it
 * stay applied, so on failure treat cfg as garbage. Values are not
 * cross-checked: call clpt_config_validate() once everything is loaded. */
int clpt_config_load(clpt_config *cfg, const char *path);

/* Set one key from text, as a file would: dotted_key is "section.key",
 * origin names the source in messages and in --show (e.g. "command line";
 * NULL = "override"). CLPT_ECONFIG with a message on an unknown key or a
 * bad value. */
int clpt_config_set(clpt_config *cfg, const char *dotted_key, const char *value,
                    const char *origin);

/* Parse "section.key=value" (the argument of --set) and set it. */
int clpt_config_set_arg(clpt_config *cfg, const char *assignment, const char *origin);

/* Format a key's value as text (as --show prints it) into buf. CLPT_ECONFIG
 * on an unknown key; the value is truncated to fit n bytes. */
int clpt_config_get(const clpt_config *cfg, const char *dotted_key, char *buf, size_t n);

/* Where a key's value came from; borrowed from cfg. NULL if no such key. */
const char *clpt_config_origin(const clpt_config *cfg, const char *dotted_key);

/* Cross-key checks (n_embd % n_head == 0, exactly one of train.steps and
 * train.tokens, seq_len <= n_ctx, ...). 0 or CLPT_ECONFIG naming the keys
 * involved and where their values came from. */
int clpt_config_validate(const clpt_config *cfg);

/* The model dimensions: [model] preset with its non-zero overrides, ln_eps
 * 1e-5. CLPT_ECONFIG if they are inconsistent. */
int clpt_config_model(const clpt_config *cfg, clpt_model_config *out);

/* Tokens per sequence: train.seq_len, or the model's n_ctx when 0. */
int clpt_config_seq_len(const clpt_config *cfg);

/* Optimizer steps: train.steps, or train.tokens divided by the tokens of
 * one optimizer step (batch_size * seq_len * grad_accum), rounded up. */
int64_t clpt_config_total_steps(const clpt_config *cfg);

/* Preset by name (CLPT_ECONFIG if unknown) and name of a preset. */
int clpt_preset_lookup(const char *name, clpt_preset *out);
const char *clpt_preset_name(clpt_preset p);
/* The dimensions of a preset (ln_eps 1e-5). */
void clpt_preset_model(clpt_preset p, clpt_model_config *out);

/* The schema, for documentation, listings and the loader. Strings are
 * static; `valid` is filled in. */
typedef struct clpt_config_keyinfo {
    const char *section, *name, *dotted; /* "optim", "lr", "optim.lr" */
    const char *type;    /* "int", "int64", "float", "string", "bool", "enum" */
    const char *def;     /* default, as text */
    const char *alt;     /* dotted key this one is an alternative to, or NULL */
    const char *help;    /* one paragraph, Markdown */
    char valid[256];     /* "[1, 65536]", "(0, 10]", "constant, cosine, ..." */
} clpt_config_keyinfo;

/* Number of keys in the schema; keys of a section are contiguous. */
int clpt_config_nkeys(void);
/* Describe key i (0 <= i < nkeys); CLPT_EINVAL if out of range. */
int clpt_config_key_info(int i, clpt_config_keyinfo *out);
/* Index of a key by dotted name, or -1. */
int clpt_config_key_index(const char *dotted_key);
/* 1 if `section` names a section of the schema. */
int clpt_config_section_known(const char *section);
/* The section names, NULL-terminated, static. */
const char *const *clpt_config_sections(void);
/* The candidate closest to `word` within two edits (a likely typo), or NULL.
 * candidates is NULL-terminated. */
const char *clpt_config_suggest(const char *word, const char *const *candidates);

/* Write the resolved configuration as an ini file that loads back to the
 * same values: every key, with its origin as a comment, then a summary of
 * the resolved model. */
void clpt_config_print(const clpt_config *cfg, FILE *f);

/* Write the Markdown documentation of every key (configs/README.md). */
void clpt_config_doc(FILE *f);

#endif
