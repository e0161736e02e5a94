/* prepare_impl.h - internals shared by the prepare_*.c files (not public).
 *
 * The run: scan the corpus into a plan (prepare_scan.c: domains, their
 * input files, hierarchy, order, tree splits), decide which domains are up
 * to date (prepare_state.c: fingerprints and stamps), encode the others
 * (prepare_domain.c: documents -> chunks -> parallel encoding -> shards),
 * and write the manifest (prepare.c). */
#ifndef CLPT_PREPARE_IMPL_H
#define CLPT_PREPARE_IMPL_H

#include <stdint.h>

#include "manifest.h"
#include "prepare.h"
#include "progress.h"
#include "tokenizer.h"

/* A split file, a tree document, or a whole archive. */
typedef struct prep_input {
    char *path;          /* on disk (owned) */
    char *rel;           /* relative to the corpus root: names it in stamps */
    int split;           /* CLPT_SPLIT_*, or PREP_ARCHIVE: members routed by name */
    int html;            /* convert HTML to text */
    uint64_t text_bytes; /* decompressed size (estimate for archives) */
    uint64_t disk_bytes;
    int64_t mtime_ns;
} prep_input;

#define PREP_ARCHIVE (-1)

typedef struct prep_shard {
    char file[96];       /* relative to the output folder: "<split>_NNNN.bin" */
    uint64_t tokens;
    char sha256[65];
} prep_shard;

typedef struct prep_split {
    prep_shard *sh;
    int n, cap;
    uint64_t tokens, docs, bytes;  /* bytes: text fed to the tokenizer */
} prep_split;

enum { PREP_TODO, PREP_UPTODATE, PREP_DONE, PREP_FAILED, PREP_DROPPED };

typedef struct prep_domain {
    char *name, *l1, *l2;
    int order;           /* place in the output order, 0.. */
    int listed;          /* row of the domains file, or -1 */
    char *parent;        /* tree: the parent folder path, for merging siblings */
    prep_input *in;
    int n_in, cap_in;
    uint64_t bytes;      /* sum of the inputs' text bytes */
    int status;          /* PREP_* */
    char *error;         /* why it failed (owned) */
    char fp[65];         /* fingerprint of inputs + tokenizer + options */
    prep_split splits[CLPT_NSPLITS];
} prep_domain;

typedef struct prep_ctx {
    const clpt_prepare_opts *o;
    int layout, docs;
    uint64_t shard_tokens;
    prep_domain *d;
    int nd, capd;
    clpt_tokenizer *tok;
    int eot, jobs;
    clpt_tok_cache **caches;   /* one per thread */
    FILE *log;
    int warnings;
    /* progress (updated from worker threads) */
    clpt_progress_bar bar;
    uint64_t done_bytes, total_bytes;
    double last_draw;
    int domains_done, domains_todo;
    long fault_after;          /* test hook: SIGKILL after this many chunks */
    long chunks_written;
} prep_ctx;

/* ---- prepare.c ---- */
/* Message line on the log (thread-safe); "warning: " ones are counted. */
void prep_log(prep_ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void prep_warn(prep_ctx *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Mark d failed with the current clpt_errmsg(), and log it. */
void prep_fail(prep_ctx *c, prep_domain *d);
/* Add n bytes to the progress count and redraw now and then. */
void prep_progress(prep_ctx *c, uint64_t n);

/* ---- prepare_scan.c ---- */
int prep_scan(prep_ctx *c);                 /* fills c->d, orders, splits */
prep_domain *prep_domain_add(prep_ctx *c, const char *name);
int prep_input_add(prep_domain *d, const char *path, const char *rel, int split);
void prep_domain_clear(prep_domain *d);
/* hierarchy from a name: "<L1>__<L2>", "cs.CL", else L1 = L2 = name */
int prep_name_hierarchy(const char *name, char **l1, char **l2);

/* ---- prepare_tree.c ---- */
int prep_scan_tree(prep_ctx *c);
int prep_tree_merge_small(prep_ctx *c);
void prep_tree_split(prep_ctx *c, prep_domain *d);

/* ---- prepare_state.c ---- */
void prep_fingerprint(prep_ctx *c, prep_domain *d, const char *tok_sha);
/* 1 if d's stamp in the output matches d->fp and its shards are there
 * (then d->splits is filled from the stamp), else 0. */
int prep_stamp_check(prep_ctx *c, prep_domain *d);
int prep_stamp_write(prep_ctx *c, prep_domain *d);
int prep_stamp_remove(prep_ctx *c, prep_domain *d);
/* Remove temporary files and shard files of d's folder that d->splits does
 * not list (keep_listed = 1), or every shard file (0). */
int prep_clean_dir(prep_ctx *c, prep_domain *d, int keep_listed);
int prep_split_add_shard(prep_split *s, const char *file, uint64_t tokens, const char *sha);
void prep_split_clear(prep_split *s);

/* ---- prepare_domain.c ---- */
/* Encode d's inputs into shards; on failure d->status = PREP_FAILED. Runs
 * inside an OpenMP parallel region (spawns tasks for chunks). */
void prep_domain_run(prep_ctx *c, prep_domain *d);
/* Offset of the last place in p[0..n) where the text may be cut without
 * changing its encoding (GPT-2 pre-tokens never span an ASCII
 * non-space -> ASCII white-space boundary), or 0 if there is none. */
size_t prep_safe_cut(const uint8_t *p, size_t n);

#endif
