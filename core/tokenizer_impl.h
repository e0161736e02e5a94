/* tokenizer_impl.h - internals shared by tokenizer.c (loading) and
 * tokenizer_encode.c (encoding, decoding). Not a public header. */
#ifndef CLPT_TOKENIZER_IMPL_H
#define CLPT_TOKENIZER_IMPL_H

#include <stdint.h>

#include "tokenizer.h"

#define CLPT_TOK_MAX_VOCAB (1 << 24)   /* sanity bound on ids read from files */
#define CLPT_TOK_UNUSED UINT32_MAX     /* len[] of an id no token has */
#define CLPT_PAIR_EMPTY UINT64_MAX     /* an empty slot of the pair table */

struct clpt_tokenizer {
    int32_t n_vocab;          /* largest id + 1 */
    uint8_t *blob;            /* bytes of every token, back to back */
    uint32_t *off, *len;      /* [n_vocab]: token id -> blob[off..off+len) */
    int32_t byte_id[256];     /* the one-byte tokens */
    int32_t eot;              /* "<|endoftext|>", or -1 */
    uint32_t n_merges;
    /* merges: open addressing on (left id, right id); value = rank << 32 | merged id */
    uint64_t *pair_key, *pair_val;
    size_t pair_mask;
    char *vocab_path, *merges_path;
    char sha[65], vocab_sha[65], merges_sha[65];
};

static inline uint64_t clpt_pair_key(int32_t a, int32_t b)
{
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

static inline uint64_t clpt_pair_hash(uint64_t key)
{
    key *= 0x9E3779B97F4A7C15ull;
    return key ^ (key >> 32);
}

/* Rank << 32 | merged id of the merge (a, b), or UINT64_MAX if none. */
static inline uint64_t clpt_pair_find(const struct clpt_tokenizer *t, int32_t a, int32_t b)
{
    uint64_t key = clpt_pair_key(a, b);
    for (size_t i = clpt_pair_hash(key) & t->pair_mask;; i = (i + 1) & t->pair_mask) {
        if (t->pair_key[i] == key) return t->pair_val[i];
        if (t->pair_key[i] == CLPT_PAIR_EMPTY) return UINT64_MAX;
    }
}

#endif
