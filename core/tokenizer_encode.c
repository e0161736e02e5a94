/* tokenizer_encode.c - byte-level BPE encoding with a per-thread cache, and
 * decoding. The tokenizer itself is only read here. */
#include "tokenizer_impl.h"

#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "unicode.h"

/* Pre-tokens up to this many bytes merge by the quadratic scan that suits
 * words; longer ones (long runs of digits, symbols, unspaced text) use a
 * heap, O(n log n). Both give the same result. */
#define BPE_SMALL 64
#define CACHE_SLOTS (1u << 16)      /* cleared when half full */
#define CACHE_KEY_MAX 255           /* longer pre-tokens are not cached */

/* ---- growable arrays ------------------------------------------------------ */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return clpt_err(CLPT_ENOMEM, "tokenizer: out of memory (%zu items)", need);
    *p = q;
    *cap = n;
    return 0;
}

int clpt_ids_push(clpt_ids *ids, int32_t id)
{
    if (ids->n == ids->cap && grow((void **)&ids->v, &ids->cap, ids->n + 1, sizeof *ids->v))
        return CLPT_ENOMEM;
    ids->v[ids->n++] = id;
    return 0;
}

static int ids_append(clpt_ids *ids, const int32_t *v, size_t n)
{
    if (!n) return 0;
    if (grow((void **)&ids->v, &ids->cap, ids->n + n, sizeof *ids->v)) return CLPT_ENOMEM;
    memcpy(ids->v + ids->n, v, n * sizeof *v);
    ids->n += n;
    return 0;
}

void clpt_ids_free(clpt_ids *ids)
{
    free(ids->v);
    ids->v = NULL;
    ids->n = ids->cap = 0;
}

void clpt_bytes_free(clpt_bytes *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

/* ---- the cache: pre-token bytes -> ids ----------------------------------- */

typedef struct cache_slot {
    uint64_t hash;
    uint32_t key_off, ids_off; /* into keys[] and ids[] */
    uint16_t key_len;          /* 0 = empty */
    uint16_t n_ids;
} cache_slot;

struct clpt_tok_cache {
    const clpt_tokenizer *tok;
    cache_slot *slot;          /* [CACHE_SLOTS] */
    size_t used;
    uint8_t *keys;
    size_t n_keys, cap_keys;
    int32_t *ids;
    size_t n_ids, cap_ids;
    /* scratch of the long-piece merge, grown to the longest piece seen */
    int32_t *sym, *prev, *next;
    uint64_t *heap;
    size_t cap_scratch;
};

clpt_tok_cache *clpt_tok_cache_new(const clpt_tokenizer *tok)
{
    clpt_tok_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->tok = tok;
    c->slot = calloc(CACHE_SLOTS, sizeof *c->slot);
    if (!c->slot) {
        free(c);
        return NULL;
    }
    return c;
}

void clpt_tok_cache_free(clpt_tok_cache *c)
{
    if (!c) return;
    free(c->slot);
    free(c->keys);
    free(c->ids);
    free(c->sym);
    free(c->prev);
    free(c->next);
    free(c->heap);
    free(c);
}

static inline uint64_t piece_hash(const uint8_t *p, size_t n)
{
    uint64_t h = n * 0x9E3779B97F4A7C15ull, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0x94D049BB133111EBull;
    return h ^ (h >> 29);
}

static const cache_slot *cache_find(const clpt_tok_cache *c, uint64_t h, const uint8_t *p, size_t n)
{
    for (size_t i = h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        const cache_slot *s = &c->slot[i];
        if (!s->key_len) return NULL;
        if (s->hash == h && s->key_len == n && !memcmp(c->keys + s->key_off, p, n)) return s;
    }
}

static void cache_clear(clpt_tok_cache *c)
{
    memset(c->slot, 0, CACHE_SLOTS * sizeof *c->slot);
    c->used = c->n_keys = c->n_ids = 0;
}

/* Remember ids[0..m) for piece p[0..n). Failing to remember is not an error. */
static void cache_put(clpt_tok_cache *c, uint64_t h, const uint8_t *p, size_t n,
                      const int32_t *ids, size_t m)
{
    if (c->used >= CACHE_SLOTS / 2) cache_clear(c);
    if (grow((void **)&c->keys, &c->cap_keys, c->n_keys + n, 1) ||
        grow((void **)&c->ids, &c->cap_ids, c->n_ids + m, sizeof *c->ids))
        return;
    size_t i = h & (CACHE_SLOTS - 1);
    while (c->slot[i].key_len) i = (i + 1) & (CACHE_SLOTS - 1);
    cache_slot *s = &c->slot[i];
    *s = (cache_slot){h, (uint32_t)c->n_keys, (uint32_t)c->n_ids, (uint16_t)n, (uint16_t)m};
    memcpy(c->keys + c->n_keys, p, n);
    memcpy(c->ids + c->n_ids, ids, m * sizeof *ids);
    c->n_keys += n;
    c->n_ids += m;
    c->used++;
}

/* ---- BPE ------------------------------------------------------------------ */

/* Merge the bytes p[0..n), n <= BPE_SMALL, into sym[]; returns the count.
 * pv[i] is the merge of (sym[i], sym[i+1]) as rank << 32 | id, so the
 * smallest value is the lowest rank and strict < keeps the leftmost. */
static size_t bpe_small(const clpt_tokenizer *t, const uint8_t *p, size_t n, int32_t *sym)
{
    uint64_t pv[BPE_SMALL];
    for (size_t i = 0; i < n; i++) sym[i] = t->byte_id[p[i]];
    for (size_t i = 0; i + 1 < n; i++) pv[i] = clpt_pair_find(t, sym[i], sym[i + 1]);
    size_t m = n;
    while (m > 1) {
        uint64_t best = UINT64_MAX;
        size_t b = 0;
        for (size_t i = 0; i + 1 < m; i++)
            if (pv[i] < best) best = pv[i], b = i;
        if (best == UINT64_MAX) break;
        sym[b] = (int32_t)(uint32_t)best;
        if (b + 2 < m) {
            memmove(sym + b + 1, sym + b + 2, (m - b - 2) * sizeof *sym);
            memmove(pv + b + 1, pv + b + 2, (m - b - 2) * sizeof *pv);
        }
        m--;
        if (b > 0) pv[b - 1] = clpt_pair_find(t, sym[b - 1], sym[b]);
        if (b + 1 < m) pv[b] = clpt_pair_find(t, sym[b], sym[b + 1]);
    }
    return m;
}

/* min-heap of rank << 32 | position of the pair's left symbol */
static void heap_push(uint64_t *h, size_t *n, uint64_t v)
{
    size_t i = (*n)++;
    for (; i && h[(i - 1) / 2] > v; i = (i - 1) / 2) h[i] = h[(i - 1) / 2];
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *n)
{
    uint64_t top = h[0], v = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= *n) break;
        if (k + 1 < *n && h[k + 1] < h[k]) k++;
        if (v <= h[k]) break;
        h[i] = h[k];
        i = k;
    }
    h[i] = v;
    return top;
}

static void push_pair(const clpt_tokenizer *t, clpt_tok_cache *c, size_t *nh, int32_t i)
{
    int32_t j = c->next[i];
    if (j < 0) return;
    uint64_t v = clpt_pair_find(t, c->sym[i], c->sym[j]);
    if (v != UINT64_MAX) heap_push(c->heap, nh, (v >> 32) << 32 | (uint32_t)i);
}

static int scratch_grow(clpt_tok_cache *c, size_t n)
{
    if (n <= c->cap_scratch) return 0;
    size_t cap = c->cap_scratch, k = c->cap_scratch;
    /* four arrays grown to the same capacity; the heap holds at most 2n */
    if (grow((void **)&c->sym, &cap, n, sizeof *c->sym)) return CLPT_ENOMEM;
    cap = k;
    if (grow((void **)&c->prev, &cap, n, sizeof *c->prev)) return CLPT_ENOMEM;
    cap = k;
    if (grow((void **)&c->next, &cap, n, sizeof *c->next)) return CLPT_ENOMEM;
    size_t hcap = 2 * k;
    if (grow((void **)&c->heap, &hcap, 2 * cap, sizeof *c->heap)) return CLPT_ENOMEM;
    c->cap_scratch = cap;
    return 0;
}

/* Merge a long piece with a heap over a linked list; returns the symbols
 * left, compacted into c->sym, or a negative error. A popped entry is stale
 * if its left symbol died or now pairs with a different right symbol; ranks
 * name pairs uniquely, so "same rank" means "same pair". */
static long bpe_long(const clpt_tokenizer *t, clpt_tok_cache *c, const uint8_t *p, size_t n)
{
    if (n > INT32_MAX / 2) return clpt_err(CLPT_EINVAL, "tokenizer: pre-token of %zu bytes", n);
    if (scratch_grow(c, n)) return CLPT_ENOMEM;
    size_t nh = 0;
    for (size_t i = 0; i < n; i++) {
        c->sym[i] = t->byte_id[p[i]];
        c->prev[i] = (int32_t)i - 1;
        c->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) push_pair(t, c, &nh, (int32_t)i);
    while (nh) {
        uint64_t top = heap_pop(c->heap, &nh);
        int32_t i = (int32_t)(uint32_t)top, j = c->next[i];
        if (c->prev[i] == -2 || j < 0) continue;
        uint64_t v = clpt_pair_find(t, c->sym[i], c->sym[j]);
        if (v == UINT64_MAX || v >> 32 != top >> 32) continue;
        c->sym[i] = (int32_t)(uint32_t)v;
        c->next[i] = c->next[j];
        if (c->next[j] >= 0) c->prev[c->next[j]] = i;
        c->prev[j] = -2; /* dead */
        if (c->prev[i] >= 0) push_pair(t, c, &nh, c->prev[i]);
        push_pair(t, c, &nh, i);
    }
    size_t m = 0;
    for (int32_t i = 0; i >= 0; i = c->next[i]) c->sym[m++] = c->sym[i];
    return (long)m;
}

static int encode_piece(const clpt_tokenizer *t, clpt_tok_cache *c, const uint8_t *p, size_t n,
                        clpt_ids *out)
{
    if (n == 1) return clpt_ids_push(out, t->byte_id[p[0]]);
    uint64_t h = 0;
    if (n <= CACHE_KEY_MAX) {
        h = piece_hash(p, n);
        const cache_slot *s = cache_find(c, h, p, n);
        if (s) return ids_append(out, c->ids + s->ids_off, s->n_ids);
    }
    if (n <= BPE_SMALL) {
        int32_t sym[BPE_SMALL];
        size_t m = bpe_small(t, p, n, sym);
        cache_put(c, h, p, n, sym, m);
        return ids_append(out, sym, m);
    }
    long m = bpe_long(t, c, p, n);
    if (m < 0) return (int)m;
    if (n <= CACHE_KEY_MAX) cache_put(c, h, p, n, c->sym, (size_t)m);
    return ids_append(out, c->sym, (size_t)m);
}

static int encode_ordinary(const clpt_tokenizer *t, clpt_tok_cache *c, const uint8_t *s,
                           size_t n, clpt_ids *out)
{
    for (size_t pos = 0; pos < n;) {
        size_t end = clpt_pretok_next(s, n, pos);
        int rc = encode_piece(t, c, s + pos, end - pos, out);
        if (rc) return rc;
        pos = end;
    }
    return 0;
}

/* the next "<|endoftext|>" in s[0..n), or NULL */
static const uint8_t *find_eot(const uint8_t *s, size_t n)
{
    static const char eot[] = CLPT_EOT_TEXT;
    const size_t k = sizeof eot - 1;
    for (const uint8_t *p = s, *end = s + n; (size_t)(end - p) >= k; p++) {
        p = memchr(p, '<', (size_t)(end - p) - k + 1);
        if (!p) return NULL;
        if (!memcmp(p, eot, k)) return p;
    }
    return NULL;
}

static int encode_special(const clpt_tokenizer *t, clpt_tok_cache *c, const uint8_t *s,
                          size_t n, clpt_ids *out)
{
    const size_t k = strlen(CLPT_EOT_TEXT);
    for (;;) {
        const uint8_t *hit = find_eot(s, n);
        size_t len = hit ? (size_t)(hit - s) : n;
        int rc = encode_ordinary(t, c, s, len, out);
        if (rc || !hit) return rc;
        if ((rc = clpt_ids_push(out, t->eot))) return rc;
        s = hit + k;
        n -= len + k;
    }
}

int clpt_tokenizer_encode(const clpt_tokenizer *t, clpt_tok_cache *cache, const void *text,
                          size_t len, int flags, clpt_ids *out)
{
    clpt_tok_cache *c = cache ? cache : clpt_tok_cache_new(t);
    if (!c) return clpt_err(CLPT_ENOMEM, "tokenizer: out of memory");
    if (c->tok != t) return clpt_err(CLPT_EINVAL, "tokenizer: cache belongs to another tokenizer");
    int rc = (flags & CLPT_TOK_ALLOW_SPECIAL) && t->eot >= 0
                 ? encode_special(t, c, text, len, out)
                 : encode_ordinary(t, c, text, len, out);
    if (!cache) clpt_tok_cache_free(c);
    return rc;
}

int clpt_tokenizer_decode(const clpt_tokenizer *t, const int32_t *ids, size_t n, clpt_bytes *out)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n_vocab || t->len[id] == CLPT_TOK_UNUSED)
            return clpt_err(CLPT_EINVAL, "token id %ld (position %zu) is not in the vocabulary "
                            "(%d ids)", (long)id, i, (int)t->n_vocab);
        total += t->len[id];
    }
    if (!total) return 0;
    if (grow((void **)&out->p, &out->cap, out->n + total, 1)) return CLPT_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        memcpy(out->p + out->n, t->blob + t->off[ids[i]], t->len[ids[i]]);
        out->n += t->len[ids[i]];
    }
    return 0;
}
