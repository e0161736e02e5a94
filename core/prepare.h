/* prepare.h - `clpt prepare`: a text corpus -> token shards + manifest.json.
 *
 * Two input layouts:
 * - m2d2: ROOT/<domain>/{train,valid,test}.txt (each may also be .txt.gz),
 *   or ROOT/<domain>.tar.gz holding <domain>/{train,valid,test}.txt (read
 *   as a stream, never unpacked). Documents inside a split file are
 *   separated by blank lines (CLPT_DOCS_BLANK; or one per line, or one per
 *   file).
 * - tree: any folder tree. The folders at depth `depth` below ROOT are the
 *   domains (named by their path, components joined with "__"); every file
 *   below a domain folder is one document; .gz files are read compressed;
 *   .html files are converted to text. Each domain's documents are split
 *   train/valid/test by a seeded shuffle, in proportion to their bytes.
 *   Domains smaller than `min_bytes` are merged into a sibling or dropped,
 *   with a message.
 * Hierarchy and order: from a domains file (ROOT/domains.tsv, or `domains`)
 * whose rows list domain names (first column, or the "name" column of a
 * header row) with optional "l1"/"l2" columns; its row order is the
 * "similar" order and, when given as `domains`, it also selects the subset.
 * Without one: names sorted, L1/L2 from the name ("<L1>__<L2>", arXiv
 * "cs.CL" -> cs / CL; tree folders: first component / the rest).
 *
 * Output, in `out`: <domain>/<split>_NNNN.bin shards (llm.c layout, each
 * document preceded by the end-of-text token, a new shard every
 * `shard_tokens` tokens), <domain>/stamp.json (what the shards were made
 * from) and manifest.json (manifest.h), written last and atomically.
 *
 * Idempotent: a domain whose stamp matches its inputs (path, size, mtime of
 * every file), the tokenizer's sha256 and the options that shape its
 * shards is skipped. Atomic: shards are written through temporary files
 * and renamed when complete; a stamp is written only after all of its
 * domain's shards; manifest.json is removed before any domain is redone and
 * written again only at the end, so a killed run leaves no manifest that
 * describes shards it did not finish.
 *
 * Bad input is reported, naming the file: unreadable or corrupt files,
 * archives and missing split files are errors of their domain (the run
 * fails at the end, after the other domains are done, unless `skip_bad`
 * drops such domains from the manifest); invalid UTF-8, NUL bytes, empty
 * split files, skipped files and unknown archive members are warnings. */
#ifndef CLPT_PREPARE_H
#define CLPT_PREPARE_H

#include <stdint.h>
#include <stdio.h>

enum { CLPT_LAYOUT_AUTO, CLPT_LAYOUT_M2D2, CLPT_LAYOUT_TREE };
enum { CLPT_DOCS_AUTO, CLPT_DOCS_BLANK, CLPT_DOCS_LINE, CLPT_DOCS_FILE };
enum { CLPT_SMALL_MERGE, CLPT_SMALL_DROP };

typedef struct clpt_prepare_opts {
    const char *root;          /* corpus folder */
    const char *out;           /* output folder (created) */
    const char *tokenizer;     /* tokenizer folder (vocab.json + merges.txt) */
    int train_vocab;           /* > 0: if `tokenizer` holds no tokenizer, first
                                  train a BPE of this many ids on the train split */
    int layout;                /* CLPT_LAYOUT_* */
    int docs;                  /* CLPT_DOCS_*; AUTO = blank (m2d2), file (tree) */
    int depth;                 /* tree: depth of domain folders, >= 1 */
    double split[3];           /* tree: train/valid/test fractions, sum 1 */
    uint64_t seed;             /* tree: split seed */
    uint64_t min_bytes;        /* tree: smaller domains are merged/dropped */
    int small;                 /* CLPT_SMALL_* */
    const char *ext;           /* tree: comma list of file suffixes to read
                                  (".gz" ignored); NULL = any non-binary file */
    const char *domains;       /* domains file (subset + order), or NULL */
    uint64_t shard_tokens;     /* tokens per shard file, 0 = 100M */
    int jobs;                  /* threads, 0 = all cores */
    int force;                 /* redo every domain */
    int skip_bad;              /* leave failed domains out and succeed */
    int progress;              /* 0 auto, 1 always in place, 2 log lines, 3 none */
    FILE *log;                 /* messages and warnings; NULL = stderr */
} clpt_prepare_opts;

/* Defaults: layout auto, docs auto, depth 1, split 0.9/0.05/0.05, seed 0,
 * min_bytes 0, merge, 100M tokens per shard, all cores, log to stderr. */
void clpt_prepare_opts_init(clpt_prepare_opts *o);

typedef struct clpt_prepare_result {
    int domains;               /* in the manifest */
    int prepared, skipped;     /* of those: (re)made now / up to date */
    int failed;                /* domains with errors */
    int warnings;
    uint64_t bytes;            /* text bytes read by this run */
    uint64_t tokens;           /* tokens written by this run */
    double seconds;
} clpt_prepare_result;

/* Run prepare. 0 on success (manifest written); CLPT_EINVAL for bad
 * options; CLPT_EIO/CLPT_EFORMAT when the corpus cannot be scanned or some
 * domain failed (the message lists them; each one's reason was logged).
 * *res (may be NULL) receives the counts in every case. */
int clpt_prepare_run(const clpt_prepare_opts *o, clpt_prepare_result *res);

#endif
