/* manifest.h - the dataset manifest: which token shards make up each
 * domain's train/valid/test split, and which tokenizer made them.
 *
 * `manifest.json` (written by `clpt prepare`) sits at the root of a prepared
 * dataset; shard files are named relative to its directory:
 *
 *   {"format": "clpt-manifest", "version": 1,
 *    "tokenizer": {"path": P, "sha256": HEX, "vocab_size": V, "eot": ID},
 *    "domains": [{"name": N, "l1": L1, "l2": L2, "order": K,
 *                 "splits": {"train": {"tokens": T, "shards": [
 *                              {"file": REL, "tokens": n, "sha256": HEX}, ...]},
 *                            "valid": {...}, "test": {...}}}, ...]}
 *
 * Rules the reader enforces (a violation is CLPT_EFORMAT naming the manifest
 * path, the domain and the field; a version above 1 is CLPT_EUNSUP):
 * - every field above is present with its type; unknown keys are ignored;
 * - domain names are non-empty and unique; "order" values (the domain's
 *   place in the "similar" order) are non-negative and unique;
 * - all three splits are present (a split may have zero shards); a split's
 *   "tokens" equals the sum of its shards' "tokens";
 * - shard "file" is relative, non-empty, with no ".." component; a shard's
 *   "tokens" fits the shard header (<= INT32_MAX);
 * - sha256 values are 64 hex digits (stored lowercase); the tokenizer's
 *   sha256 may be "" when unknown;
 * - 0 < vocab_size <= 65536 (tokens are uint16), 0 <= eot < vocab_size.
 * The tokenizer path may be absolute; a relative one is resolved like shard
 * files. Loading does not touch the shard files; clpt_manifest_verify() does. */
#ifndef CLPT_MANIFEST_H
#define CLPT_MANIFEST_H

#include <stddef.h>
#include <stdint.h>

#define CLPT_MANIFEST_FORMAT "clpt-manifest"
#define CLPT_MANIFEST_VERSION 1
#define CLPT_MANIFEST_NAME "manifest.json"

enum { CLPT_SPLIT_TRAIN, CLPT_SPLIT_VALID, CLPT_SPLIT_TEST, CLPT_NSPLITS };

/* "train", "valid", "test"; NULL for anything else. */
const char *clpt_split_name(int split);
/* CLPT_SPLIT_* for a split name, or -1. */
int clpt_split_parse(const char *name);

/* Read-only views handed out by the accessors below; every pointer in them
 * is owned by the manifest and valid until clpt_manifest_free(). */
typedef struct clpt_manifest_shard {
    const char *file;   /* as in the manifest: relative to its directory */
    const char *path;   /* file joined to the manifest's directory */
    uint64_t tokens;
    char sha256[65];    /* lowercase hex of the whole file, NUL-terminated */
} clpt_manifest_shard;

typedef struct clpt_manifest_split {
    uint64_t tokens;    /* sum over shards */
    int n_shards;
    const clpt_manifest_shard *shards;  /* in stream order */
} clpt_manifest_split;

typedef struct clpt_domain {
    const char *name;   /* unique, e.g. "cs.CL" or "Culture_and_the_arts__Culture_and_Humanities" */
    const char *l1, *l2;                /* hierarchy: field > domain */
    int order;          /* place in the "similar" order (unique, >= 0) */
    clpt_manifest_split splits[CLPT_NSPLITS];
} clpt_domain;

typedef struct clpt_manifest_tokenizer {
    const char *path;   /* as in the manifest */
    const char *resolved;  /* absolute as is, else joined to the manifest's directory */
    char sha256[65];    /* "" when unknown */
    int vocab_size;
    int eot;            /* end-of-text token id, separates documents */
} clpt_manifest_tokenizer;

typedef struct clpt_manifest clpt_manifest;

/* ---- reading ------------------------------------------------------------ */

/* Load and validate `path_or_dir` (a manifest file, or a directory holding
 * manifest.json). Caller frees *out with clpt_manifest_free(). */
int clpt_manifest_load(clpt_manifest **out, const char *path_or_dir);

/* Parse manifest text held in memory (`len` bytes, need not be
 * NUL-terminated); shard files resolve against `dir`; `name` labels error
 * messages (e.g. the file path). Caller frees *out. */
int clpt_manifest_parse(clpt_manifest **out, const char *json, size_t len,
                        const char *dir, const char *name);

void clpt_manifest_free(clpt_manifest *m);

/* Directory shard paths resolve against; borrowed. */
const char *clpt_manifest_dir(const clpt_manifest *m);
/* The manifest file, for messages: the path it was loaded from (the `name`
 * given to _parse), or <dir>/manifest.json for a new one; borrowed. */
const char *clpt_manifest_path(const clpt_manifest *m);
const clpt_manifest_tokenizer *clpt_manifest_tokenizer_info(const clpt_manifest *m);
int clpt_manifest_ndomains(const clpt_manifest *m);
/* Domain i (0 <= i < ndomains) in manifest order, or NULL. */
const clpt_domain *clpt_manifest_domain(const clpt_manifest *m, int i);
/* Index of the domain called `name`, or -1. */
int clpt_manifest_find(const clpt_manifest *m, const char *name);
/* Split `split` (CLPT_SPLIT_*) of domain i, or NULL if either is out of range. */
const clpt_manifest_split *clpt_manifest_split_of(const clpt_manifest *m, int i, int split);

/* Re-read every shard of domain `i` (all domains if i < 0): each must open
 * as a valid shard whose header count equals the manifest's "tokens" and
 * whose file sha256 equals the manifest's. CLPT_EFORMAT names the domain,
 * split, shard path and both values on a mismatch; CLPT_EIO when a file
 * cannot be read. */
int clpt_manifest_verify(const clpt_manifest *m, int i);

/* ---- building and writing (for `clpt prepare`) ------------------------- */

/* An empty manifest whose shard files resolve against `dir`. The tokenizer
 * starts unset (vocab_size 0), which _write() refuses. Caller frees *out. */
int clpt_manifest_new(clpt_manifest **out, const char *dir);

/* Set the tokenizer fields (validated as when reading; sha256 may be "" or
 * NULL when unknown). Strings are copied. */
int clpt_manifest_set_tokenizer(clpt_manifest *m, const char *path, const char *sha256,
                                int vocab_size, int eot);

/* Append a domain with three empty splits; *index (may be NULL) receives
 * its index. Fails on an empty or duplicate name or a duplicate order. */
int clpt_manifest_add_domain(clpt_manifest *m, const char *name, const char *l1,
                             const char *l2, int order, int *index);

/* Append a shard to split `split` of domain `i` and add its tokens to the
 * split's total. `file` is relative to the manifest's directory. */
int clpt_manifest_add_shard(clpt_manifest *m, int i, int split, const char *file,
                            uint64_t tokens, const char *sha256);

/* Write the manifest as JSON to `path` (a file, or a directory to hold
 * manifest.json; NULL = clpt_manifest_dir()/manifest.json) atomically
 * (temporary file, fsync, rename, fsync of the directory). */
int clpt_manifest_write(const clpt_manifest *m, const char *path);

#endif
