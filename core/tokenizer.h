/* tokenizer.h - GPT-2 byte-level BPE: load, encode, decode.
 *
 * Semantics are GPT-2's exactly (checked against tiktoken and Hugging Face
 * tokenizers): text bytes are split into pre-tokens by GPT-2's regex (see
 * unicode.h), each pre-token's bytes become byte tokens, and adjacent pairs
 * are merged lowest merge rank first (leftmost on ties) until no pair of the
 * merges file applies. Invalid UTF-8 is encoded byte for byte, never
 * replaced, so decode(encode(x)) == x for all input.
 *
 * Threads: a clpt_tokenizer is read-only once loaded; any number of threads
 * may encode and decode with it at once, each with its own clpt_tok_cache.
 *
 * Files: a directory holding vocab.json + merges.txt (Hugging Face names) or
 * encoder.json + vocab.bpe (OpenAI's names for the same two files). */
#ifndef CLPT_TOKENIZER_H
#define CLPT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

typedef struct clpt_tokenizer clpt_tokenizer;
typedef struct clpt_tok_cache clpt_tok_cache;

/* A growable array of token ids. Zero-initialise it ({0}); functions append;
 * the owner frees v with clpt_ids_free (or free(v)). */
typedef struct clpt_ids {
    int32_t *v;
    size_t n, cap;
} clpt_ids;

/* A growable byte buffer, used like clpt_ids. Not NUL-terminated. */
typedef struct clpt_bytes {
    uint8_t *p;
    size_t n, cap;
} clpt_bytes;

int clpt_ids_push(clpt_ids *ids, int32_t id);      /* 0 or CLPT_ENOMEM */
void clpt_ids_free(clpt_ids *ids);                  /* leaves it empty, reusable */
void clpt_bytes_free(clpt_bytes *b);

#define CLPT_EOT_TEXT "<|endoftext|>"

/* flags of clpt_tokenizer_encode */
enum {
    /* recognise the literal text "<|endoftext|>" as the special token;
     * without it those 13 bytes are encoded as ordinary text (as tiktoken's
     * encode_ordinary and the original GPT-2 encoder do) */
    CLPT_TOK_ALLOW_SPECIAL = 1,
};

/* Load the tokenizer in `dir` (see above for the file names). On success
 * *out is a new tokenizer the caller frees with clpt_tokenizer_free. Errors
 * name the file and line: CLPT_EIO (missing, unreadable), CLPT_EFORMAT (bad
 * JSON, malformed merges line, a merge over unknown tokens, a vocabulary
 * without all 256 byte tokens). */
int clpt_tokenizer_load(clpt_tokenizer **out, const char *dir);

/* Same, with the two files named explicitly. */
int clpt_tokenizer_load_files(clpt_tokenizer **out, const char *vocab_path,
                              const char *merges_path);

void clpt_tokenizer_free(clpt_tokenizer *tok);

/* Number of token ids: the largest id in the vocabulary + 1 (50257 for
 * GPT-2). */
int clpt_tokenizer_vocab_size(const clpt_tokenizer *tok);

/* Id of "<|endoftext|>" (50256 for GPT-2), or CLPT_EINVAL if the vocabulary
 * has none. */
int clpt_tokenizer_eot(const clpt_tokenizer *tok);

/* Bytes of token `id`, borrowed until clpt_tokenizer_free; NULL (and *len 0)
 * if id is out of range or unused. */
const uint8_t *clpt_tokenizer_token(const clpt_tokenizer *tok, int32_t id, size_t *len);

/* Identity of the tokenizer: lower-case hex SHA-256 of the vocabulary file's
 * bytes followed by the merges file's bytes, i.e. what
 * `cat vocab.json merges.txt | sha256sum` prints. Borrowed, 64 chars. */
const char *clpt_tokenizer_sha256(const clpt_tokenizer *tok);
/* Hex SHA-256 of each file, and the paths loaded; all borrowed. */
const char *clpt_tokenizer_vocab_sha256(const clpt_tokenizer *tok);
const char *clpt_tokenizer_merges_sha256(const clpt_tokenizer *tok);
const char *clpt_tokenizer_vocab_path(const clpt_tokenizer *tok);
const char *clpt_tokenizer_merges_path(const clpt_tokenizer *tok);

/* A per-thread cache of pre-token encodings (a few MB at most; it clears
 * itself when full). Bound to `tok`, which must outlive it. NULL if out of
 * memory. */
clpt_tok_cache *clpt_tok_cache_new(const clpt_tokenizer *tok);
void clpt_tok_cache_free(clpt_tok_cache *cache);

/* Encode text[0..len) (any bytes) and append the ids to *out. `cache` may be
 * NULL (a temporary one is used for the call), else it must be bound to
 * `tok` and used by one thread at a time. flags: CLPT_TOK_*. Returns 0,
 * CLPT_ENOMEM, or CLPT_EINVAL (cache of another tokenizer). On error *out
 * keeps what was appended so far. */
int clpt_tokenizer_encode(const clpt_tokenizer *tok, clpt_tok_cache *cache,
                          const void *text, size_t len, int flags, clpt_ids *out);

/* Append the bytes of ids[0..n) to *out. CLPT_EINVAL names the first id
 * that is out of range or unused; CLPT_ENOMEM. */
int clpt_tokenizer_decode(const clpt_tokenizer *tok, const int32_t *ids, size_t n,
                          clpt_bytes *out);

/* GPT-2's byte <-> character map (bytes_to_unicode): the code point that
 * stands for byte b in vocab/merges files, and the inverse (-1 if cp stands
 * for no byte). */
uint32_t clpt_bpe_byte_to_cp(uint8_t b);
int clpt_bpe_cp_to_byte(uint32_t cp);

/* Write bytes b[0..n) in vocab/merges form (each byte as the UTF-8 of its
 * character) to out, which must hold 2*n bytes. Returns the length written. */
size_t clpt_bpe_bytes_to_text(const uint8_t *b, size_t n, char *out);

#endif
