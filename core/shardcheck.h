/* shardcheck.h - shard checksums verified when a prepared corpus is opened
 * for training or evaluation.
 *
 * clpt_source_from_split() given a checker hashes (sha256) the bytes it has
 * just mapped and compares them with the manifest's value before any token
 * is used, so a corrupt or substituted shard fails the open, naming the
 * shard file and the manifest, and is never half-used.
 *
 * Hashing a shard costs about as much as reading it twice (figures in
 * docs/reliability.md), and every run opens every domain of its corpus, so
 * the checker keeps a stamp, `verified.json` beside manifest.json: for each
 * shard it found good, the manifest's sha256 and the identity of the file
 * that had it (fsutil.h clpt_file_id). A shard whose identity and expected
 * sha256 are unchanged is not hashed again. Writing to a file, replacing or
 * copying it changes its identity; a change below the file system (a
 * failing disk) does not, and only a full rehash finds it: delete the stamp.
 * The stamp only saves work: a missing, unreadable or malformed one is
 * ignored, and one that cannot be written (a read-only corpus) means the
 * next open hashes again.
 *
 * A checker is used by one thread at a time. */
#ifndef CLPT_SHARDCHECK_H
#define CLPT_SHARDCHECK_H

#include <stdint.h>
#include <stdio.h>

#include "manifest.h"
#include "shard.h"

#define CLPT_SHARDCHECK_STAMP "verified.json"

typedef struct clpt_shardcheck clpt_shardcheck;

/* A checker for the shards of `m` (borrowed: it must outlive the checker),
 * with the stamp beside the manifest read when there is a valid one.
 * Caller frees with clpt_shardcheck_close(). */
int clpt_shardcheck_new(clpt_shardcheck **out, const clpt_manifest *m);

/* Check `sh`, the mapped file of the manifest's shard `ms`: 0 when the
 * stamp vouches for it or its bytes hash to ms->sha256, else CLPT_EFORMAT
 * naming the shard file, both hashes, the manifest and `where` (e.g.
 * `domain "cs.CL" train shard 0`). */
int clpt_shardcheck_shard(clpt_shardcheck *c, const clpt_manifest_shard *ms, const clpt_shard *sh,
                          const char *where);

/* What the checker did so far: shards hashed (and their bytes), shards the
 * stamp vouched for. Any pointer may be NULL. */
void clpt_shardcheck_counts(const clpt_shardcheck *c, int *hashed, uint64_t *bytes, int *stamped);

/* Write the stamp if a shard was hashed (atomically: fsutil.h). */
int clpt_shardcheck_save(clpt_shardcheck *c);

/* Save the stamp and free the checker. With `log`, one line there says what
 * was hashed and how long it took, and why the stamp could not be written,
 * if so; a stamp that cannot be written is not an error. NULL is a no-op. */
void clpt_shardcheck_close(clpt_shardcheck *c, FILE *log);

#endif
