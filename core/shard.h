/* shard.h - token shards in the llm.c `.bin` layout, and atomic file writes.
 *
 * A shard file is a 1024-byte header of 256 little-endian int32 -
 *   [0] magic 20240520, [1] version 1, [2] token count, the rest zero -
 * followed by exactly `count` little-endian uint16 tokens. Documents inside
 * a shard are separated by the tokenizer's end-of-text token; the shard
 * itself knows nothing about documents.
 *
 * Readers memory-map the file, so opening a shard costs no copy; the tokens
 * stay valid until clpt_shard_close(). Writers never leave a file at the
 * final path unless it is complete: they write a temporary file beside it
 * and rename it over the path only when everything is on disk. */
#ifndef CLPT_SHARD_H
#define CLPT_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "fsutil.h"

#define CLPT_SHARD_MAGIC 20240520
#define CLPT_SHARD_VERSION 1
#define CLPT_SHARD_HEADER_INTS 256
#define CLPT_SHARD_HEADER_BYTES (CLPT_SHARD_HEADER_INTS * 4)
/* The header stores the count as an int32. */
#define CLPT_SHARD_MAX_TOKENS ((uint64_t)INT32_MAX)

/* ---- reading ------------------------------------------------------------ */

typedef struct clpt_shard clpt_shard;

/* Map and validate the shard at `path`. On success *out is a new shard the
 * caller frees with clpt_shard_close(). Fails with CLPT_EIO (cannot open,
 * stat or map), CLPT_EFORMAT (file shorter than the header, bad magic, count
 * negative or disagreeing with the file size) or CLPT_EUNSUP (other version,
 * big-endian host); the message names the path and the header field.
 * Truncating the file while it is open is undefined (SIGBUS on access). */
int clpt_shard_open(clpt_shard **out, const char *path);

/* The `count` tokens; borrowed until clpt_shard_close(). Read-only (a
 * private read-only mapping). */
const uint16_t *clpt_shard_tokens(const clpt_shard *sh);

/* Number of tokens (header field [2], checked against the file size). */
uint64_t clpt_shard_count(const clpt_shard *sh);

/* The path the shard was opened with; borrowed until clpt_shard_close(). */
const char *clpt_shard_path(const clpt_shard *sh);

/* The whole file as mapped, header included (*bytes long): what a checksum
 * of the file covers. Borrowed until clpt_shard_close(). */
const void *clpt_shard_bytes(const clpt_shard *sh, size_t *bytes);

/* The identity (fsutil.h) of the file mapped, from the descriptor mapped. */
void clpt_shard_file_id(const clpt_shard *sh, clpt_file_id *id);

/* 0 if every token is < vocab_size, else CLPT_EFORMAT naming the path, the
 * first offending position (0-based, in tokens) and its value. */
int clpt_shard_check_vocab(const clpt_shard *sh, int vocab_size);

/* Unmap and free. NULL is a no-op. */
void clpt_shard_close(clpt_shard *sh);

/* ---- writing ------------------------------------------------------------ */

typedef struct clpt_shard_writer clpt_shard_writer;

/* Begin writing a shard that will appear at `path` on close. The data goes
 * to a temporary "<path>.tmp.XXXXXX" in the same directory (fsutil.h's
 * clpt_afile). It is not named like a shard and its header magic stays zero
 * until commit, so a killed writer leaves nothing that passes for a shard.
 * An existing file at `path` is untouched until _close() replaces it.
 * *out is freed by exactly one of _close() or _abort(). */
int clpt_shard_writer_open(clpt_shard_writer **out, const char *path);

/* Append n tokens (stdio-buffered). CLPT_EINVAL once the total would pass
 * CLPT_SHARD_MAX_TOKENS; CLPT_EIO on a write error. After an error the
 * writer can only be aborted or closed (close then fails). */
int clpt_shard_writer_append(clpt_shard_writer *w, const uint16_t *tokens, size_t n);

/* Tokens appended so far. */
uint64_t clpt_shard_writer_count(const clpt_shard_writer *w);

/* Commit: write the header count, fsync the file, rename it over the final
 * path and fsync the directory. Always frees `w`; on failure the temporary
 * file is removed and `path` is left as it was. */
int clpt_shard_writer_close(clpt_shard_writer *w);

/* Discard: remove the temporary file and free `w`. NULL is a no-op. */
void clpt_shard_writer_abort(clpt_shard_writer *w);

/* Write a whole shard in one call (open + append + close). */
int clpt_shard_write(const char *path, const uint16_t *tokens, size_t n);

#endif
