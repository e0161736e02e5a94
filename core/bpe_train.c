/* bpe_train.c - byte-level BPE training with incremental pair counts. */
#define _POSIX_C_SOURCE 200809L /* opendir, stat, mkdir */
#include "bpe_train.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clpt.h"
#include "fsutil.h"
#include "tokenizer.h"
#include "unicode.h"

/* ---- small containers -------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t n = *cap ? *cap : 64;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return clpt_err(CLPT_ENOMEM, "bpe train: out of memory (%zu items)", need);
    *p = q;
    *cap = n;
    return 0;
}

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0xCBF29CE484222325ull ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h ^ (h >> 31);
}

static uint64_t hash_u64(uint64_t k)
{
    k *= 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 29);
}

/* A token or pre-token: bytes in an arena. */
typedef struct span {
    uint32_t off, len;
} span;

/* A pair of token ids with its count and the words that (may) hold it. */
typedef struct pair {
    int32_t a, b;
    int64_t count;
    uint32_t *words;
    uint32_t n_words, cap_words;
    uint32_t stamp; /* last merge step that queued it */
} pair;

/* max-heap entry: the count a pair had when pushed */
typedef struct heap_ent {
    int64_t count;
    int32_t a, b;
} heap_ent;

typedef struct merge {
    int32_t a, b;
} merge;

struct clpt_bpe_trainer {
    uint8_t *bytes;            /* arena: pre-tokens while counting, then tokens */
    size_t n_bytes, cap_bytes;
    /* counting: distinct pre-tokens and how often each occurs */
    span *words;
    int64_t *word_count;
    size_t n_words, cap_words, cap_count;
    uint32_t *word_slot;       /* open addressing over words, UINT32_MAX empty */
    size_t word_mask;
    /* training */
    int trained;
    int32_t *sym;              /* every word's symbols, back to back */
    uint32_t *sym_off, *sym_len, *word_stamp;
    span *tokens;              /* id -> bytes */
    size_t n_tokens, cap_tokens;
    uint32_t *tok_slot;        /* bytes -> id, open addressing */
    size_t tok_mask;
    pair *pairs;
    size_t n_pairs, cap_pairs;
    uint32_t *pair_slot;       /* (a, b) -> index in pairs */
    size_t pair_mask;
    heap_ent *heap;
    size_t n_heap, cap_heap;
    merge *merges;
    size_t n_merges, cap_merges;
    int32_t eot;
};

int clpt_bpe_trainer_new(clpt_bpe_trainer **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : clpt_err(CLPT_ENOMEM, "bpe train: out of memory");
}

void clpt_bpe_trainer_free(clpt_bpe_trainer *tr)
{
    if (!tr) return;
    for (size_t i = 0; i < tr->n_pairs; i++) free(tr->pairs[i].words);
    free(tr->bytes);
    free(tr->words);
    free(tr->word_count);
    free(tr->word_slot);
    free(tr->sym);
    free(tr->sym_off);
    free(tr->sym_len);
    free(tr->word_stamp);
    free(tr->tokens);
    free(tr->tok_slot);
    free(tr->pairs);
    free(tr->pair_slot);
    free(tr->heap);
    free(tr->merges);
    free(tr);
}

/* ---- counting pre-tokens ----------------------------------------------------- */

static int rehash_words(clpt_bpe_trainer *tr)
{
    size_t cap = tr->word_mask ? 2 * (tr->word_mask + 1) : 1 << 16;
    uint32_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return clpt_err(CLPT_ENOMEM, "bpe train: out of memory");
    memset(slot, 0xFF, cap * sizeof *slot);
    for (size_t w = 0; w < tr->n_words; w++) {
        size_t i = hash_bytes(tr->bytes + tr->words[w].off, tr->words[w].len) & (cap - 1);
        while (slot[i] != UINT32_MAX) i = (i + 1) & (cap - 1);
        slot[i] = (uint32_t)w;
    }
    free(tr->word_slot);
    tr->word_slot = slot;
    tr->word_mask = cap - 1;
    return 0;
}

static int count_piece(clpt_bpe_trainer *tr, const uint8_t *p, size_t n)
{
    if (2 * (tr->n_words + 1) > tr->word_mask && rehash_words(tr)) return CLPT_ENOMEM;
    size_t i = hash_bytes(p, n) & tr->word_mask;
    for (; tr->word_slot[i] != UINT32_MAX; i = (i + 1) & tr->word_mask) {
        span *w = &tr->words[tr->word_slot[i]];
        if (w->len == n && !memcmp(tr->bytes + w->off, p, n)) {
            tr->word_count[tr->word_slot[i]]++;
            return 0;
        }
    }
    if (tr->n_bytes + n > UINT32_MAX || n > UINT32_MAX)
        return clpt_err(CLPT_EUNSUP, "bpe train: over 4 GB of distinct pre-tokens");
    if (grow((void **)&tr->bytes, &tr->cap_bytes, tr->n_bytes + n, 1) ||
        grow((void **)&tr->words, &tr->cap_words, tr->n_words + 1, sizeof *tr->words) ||
        grow((void **)&tr->word_count, &tr->cap_count, tr->n_words + 1, sizeof *tr->word_count))
        return CLPT_ENOMEM;
    memcpy(tr->bytes + tr->n_bytes, p, n);
    tr->words[tr->n_words] = (span){(uint32_t)tr->n_bytes, (uint32_t)n};
    tr->word_count[tr->n_words] = 1;
    tr->word_slot[i] = (uint32_t)tr->n_words++;
    tr->n_bytes += n;
    return 0;
}

int clpt_bpe_trainer_add_text(clpt_bpe_trainer *tr, const void *text, size_t len)
{
    const uint8_t *s = text;
    if (tr->trained) return clpt_err(CLPT_ESTATE, "bpe train: text added after training");
    for (size_t pos = 0; pos < len;) {
        size_t end = clpt_pretok_next(s, len, pos);
        int rc = count_piece(tr, s + pos, end - pos);
        if (rc) return rc;
        pos = end;
    }
    return 0;
}

static int add_file(clpt_bpe_trainer *tr, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0, got;
    int rc = 0;
    do {
        if ((rc = grow((void **)&buf, &cap, n + 65536, 1))) break;
        got = fread(buf + n, 1, 65536, f);
        n += got;
    } while (got > 0);
    if (!rc && ferror(f)) rc = clpt_err(CLPT_EIO, "%s: read error", path);
    fclose(f);
    if (!rc) rc = clpt_bpe_trainer_add_text(tr, buf, n);
    free(buf);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Names in dir, sorted, so the walk is the same on every file system. */
static int list_dir(const char *dir, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) return clpt_err(CLPT_EIO, "%s: %s", dir, strerror(errno));
    size_t cap = 0;
    int rc = 0;
    struct dirent *e;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        rc = grow((void **)names, &cap, *n + 1, sizeof **names);
        if (!rc && !((*names)[*n] = malloc(strlen(e->d_name) + 1)))
            rc = clpt_err(CLPT_ENOMEM, "bpe train: out of memory");
        if (!rc) strcpy((*names)[(*n)++], e->d_name);
    }
    closedir(d);
    if (*n) qsort(*names, *n, sizeof **names, cmp_str);
    return rc;
}

static int add_tree(clpt_bpe_trainer *tr, const char *path, int top)
{
    struct stat st;
    if (stat(path, &st)) return clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return top || ends_with(path, ".txt") ? add_file(tr, path) : 0;
    char **names;
    size_t n;
    int rc = list_dir(path, &names, &n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(path) + strlen(names[i]) + 2;
        char *sub = malloc(len);
        if (!rc && !sub) rc = clpt_err(CLPT_ENOMEM, "bpe train: out of memory");
        if (!rc) {
            snprintf(sub, len, "%s/%s", path, names[i]);
            rc = add_tree(tr, sub, 0);
        }
        free(sub);
        free(names[i]);
    }
    free(names);
    return rc;
}

int clpt_bpe_trainer_add_path(clpt_bpe_trainer *tr, const char *path)
{
    return add_tree(tr, path, 1);
}

/* ---- tokens ------------------------------------------------------------------ */

static int tok_rehash(clpt_bpe_trainer *tr)
{
    size_t cap = tr->tok_mask ? 2 * (tr->tok_mask + 1) : 1 << 12;
    uint32_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return clpt_err(CLPT_ENOMEM, "bpe train: out of memory");
    memset(slot, 0xFF, cap * sizeof *slot);
    for (size_t t = 0; t < tr->n_tokens; t++) {
        size_t i = hash_bytes(tr->bytes + tr->tokens[t].off, tr->tokens[t].len) & (cap - 1);
        while (slot[i] != UINT32_MAX) i = (i + 1) & (cap - 1);
        slot[i] = (uint32_t)t;
    }
    free(tr->tok_slot);
    tr->tok_slot = slot;
    tr->tok_mask = cap - 1;
    return 0;
}

/* Id of the token with bytes p[0..n), adding it if new; negative on error.
 * Two merges can spell the same bytes ("a"+"bc", "ab"+"c"): they share the
 * id, as in Hugging Face's trainer. */
static int32_t tok_intern(clpt_bpe_trainer *tr, const uint8_t *p, size_t n)
{
    if (2 * (tr->n_tokens + 1) > tr->tok_mask && tok_rehash(tr)) return CLPT_ENOMEM;
    size_t i = hash_bytes(p, n) & tr->tok_mask;
    for (; tr->tok_slot[i] != UINT32_MAX; i = (i + 1) & tr->tok_mask) {
        span *t = &tr->tokens[tr->tok_slot[i]];
        if (t->len == n && !memcmp(tr->bytes + t->off, p, n)) return (int32_t)tr->tok_slot[i];
    }
    if (tr->n_bytes + n > UINT32_MAX)
        return clpt_err(CLPT_EUNSUP, "bpe train: over 4 GB of token bytes");
    if (grow((void **)&tr->bytes, &tr->cap_bytes, tr->n_bytes + n, 1) ||
        grow((void **)&tr->tokens, &tr->cap_tokens, tr->n_tokens + 1, sizeof *tr->tokens))
        return CLPT_ENOMEM;
    memcpy(tr->bytes + tr->n_bytes, p, n);
    tr->tokens[tr->n_tokens] = (span){(uint32_t)tr->n_bytes, (uint32_t)n};
    tr->n_bytes += n;
    tr->tok_slot[i] = (uint32_t)tr->n_tokens;
    return (int32_t)tr->n_tokens++;
}

/* ---- pairs and the heap ---------------------------------------------------- */

static int pair_rehash(clpt_bpe_trainer *tr)
{
    size_t cap = tr->pair_mask ? 2 * (tr->pair_mask + 1) : 1 << 16;
    uint32_t *slot = malloc(cap * sizeof *slot);
    if (!slot) return clpt_err(CLPT_ENOMEM, "bpe train: out of memory");
    memset(slot, 0xFF, cap * sizeof *slot);
    for (size_t k = 0; k < tr->n_pairs; k++) {
        uint64_t key = (uint64_t)(uint32_t)tr->pairs[k].a << 32 | (uint32_t)tr->pairs[k].b;
        size_t i = hash_u64(key) & (cap - 1);
        while (slot[i] != UINT32_MAX) i = (i + 1) & (cap - 1);
        slot[i] = (uint32_t)k;
    }
    free(tr->pair_slot);
    tr->pair_slot = slot;
    tr->pair_mask = cap - 1;
    return 0;
}

/* Index of pair (a, b) in tr->pairs, created with count 0 if new; negative
 * on error. Indices stay valid; pointers into tr->pairs do not. */
static long pair_index(clpt_bpe_trainer *tr, int32_t a, int32_t b)
{
    if (2 * (tr->n_pairs + 1) > tr->pair_mask && pair_rehash(tr)) return CLPT_ENOMEM;
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = hash_u64(key) & tr->pair_mask;
    for (; tr->pair_slot[i] != UINT32_MAX; i = (i + 1) & tr->pair_mask) {
        pair *p = &tr->pairs[tr->pair_slot[i]];
        if (p->a == a && p->b == b) return tr->pair_slot[i];
    }
    if (grow((void **)&tr->pairs, &tr->cap_pairs, tr->n_pairs + 1, sizeof *tr->pairs))
        return CLPT_ENOMEM;
    tr->pairs[tr->n_pairs] = (pair){.a = a, .b = b};
    tr->pair_slot[i] = (uint32_t)tr->n_pairs;
    return (long)tr->n_pairs++;
}

/* Note that word w holds pair k (once per word and step is enough). */
static int pair_add_word(clpt_bpe_trainer *tr, long k, uint32_t w)
{
    pair *p = &tr->pairs[k];
    if (p->n_words && p->words[p->n_words - 1] == w) return 0;
    size_t cap = p->cap_words;
    if (grow((void **)&p->words, &cap, (size_t)p->n_words + 1, sizeof *p->words)) return CLPT_ENOMEM;
    p->cap_words = (uint32_t)cap;
    p->words[p->n_words++] = w;
    return 0;
}

/* x ranks before y: more frequent, then smaller left id, then smaller right id */
static int heap_before(const heap_ent *x, const heap_ent *y)
{
    if (x->count != y->count) return x->count > y->count;
    if (x->a != y->a) return x->a < y->a;
    return x->b < y->b;
}

static int heap_push(clpt_bpe_trainer *tr, const pair *p)
{
    if (grow((void **)&tr->heap, &tr->cap_heap, tr->n_heap + 1, sizeof *tr->heap)) return CLPT_ENOMEM;
    heap_ent e = {p->count, p->a, p->b};
    size_t i = tr->n_heap++;
    for (; i && heap_before(&e, &tr->heap[(i - 1) / 2]); i = (i - 1) / 2)
        tr->heap[i] = tr->heap[(i - 1) / 2];
    tr->heap[i] = e;
    return 0;
}

static heap_ent heap_pop(clpt_bpe_trainer *tr)
{
    heap_ent *h = tr->heap, top = h[0], v = h[--tr->n_heap];
    size_t i = 0, n = tr->n_heap;
    for (;;) {
        size_t k = 2 * i + 1;
        if (k >= n) break;
        if (k + 1 < n && heap_before(&h[k + 1], &h[k])) k++;
        if (!heap_before(&h[k], &v)) break;
        h[i] = h[k];
        i = k;
    }
    h[i] = v;
    return top;
}

/* ---- words ----------------------------------------------------------------- */

/* Add `sign` times word w's count to each of its adjacent pairs; when
 * adding, note w in the lists of pairs holding `fresh` and queue those. */
static int word_pairs(clpt_bpe_trainer *tr, uint32_t w, int sign, int32_t fresh, uint32_t step,
                      uint32_t **queue, size_t *nq, size_t *capq)
{
    const int32_t *s = tr->sym + tr->sym_off[w];
    int64_t c = sign * tr->word_count[w];
    for (uint32_t i = 0; i + 1 < tr->sym_len[w]; i++) {
        long k = pair_index(tr, s[i], s[i + 1]);
        if (k < 0) return (int)k;
        tr->pairs[k].count += c;
        if (sign < 0 || (s[i] != fresh && s[i + 1] != fresh)) continue;
        if (pair_add_word(tr, k, w)) return CLPT_ENOMEM;
        if (tr->pairs[k].stamp == step) continue;
        tr->pairs[k].stamp = step;
        if (grow((void **)queue, capq, *nq + 1, sizeof **queue)) return CLPT_ENOMEM;
        (*queue)[(*nq)++] = (uint32_t)k;
    }
    return 0;
}

/* Replace (a, b) by x in word w, left to right; returns whether it held one. */
static int word_merge(clpt_bpe_trainer *tr, uint32_t w, int32_t a, int32_t b, int32_t x)
{
    int32_t *s = tr->sym + tr->sym_off[w];
    uint32_t n = tr->sym_len[w], k = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            s[k++] = x;
            i++;
        } else {
            s[k++] = s[i];
        }
    }
    tr->sym_len[w] = k;
    return k != n;
}

static int word_holds(const clpt_bpe_trainer *tr, uint32_t w, int32_t a, int32_t b)
{
    const int32_t *s = tr->sym + tr->sym_off[w];
    for (uint32_t i = 0; i + 1 < tr->sym_len[w]; i++)
        if (s[i] == a && s[i + 1] == b) return 1;
    return 0;
}

/* ---- training ---------------------------------------------------------------- */

/* GPT-2's byte order for ids 0..255: by the character that stands for the
 * byte, so printable bytes come first. */
static int init_symbols(clpt_bpe_trainer *tr, int32_t byte_tok[256])
{
    for (uint32_t cp = 0; cp < 0x100 + 68; cp++) {
        int b = clpt_bpe_cp_to_byte(cp);
        if (b < 0) continue;
        uint8_t byte = (uint8_t)b;
        if ((byte_tok[b] = tok_intern(tr, &byte, 1)) < 0) return byte_tok[b];
    }
    size_t total = 0;
    for (size_t w = 0; w < tr->n_words; w++) total += tr->words[w].len;
    tr->sym = malloc((total + 1) * sizeof *tr->sym);
    tr->sym_off = malloc((tr->n_words + 1) * sizeof *tr->sym_off);
    tr->sym_len = malloc((tr->n_words + 1) * sizeof *tr->sym_len);
    tr->word_stamp = calloc(tr->n_words + 1, sizeof *tr->word_stamp);
    if (!tr->sym || !tr->sym_off || !tr->sym_len || !tr->word_stamp)
        return clpt_err(CLPT_ENOMEM, "bpe train: out of memory");
    total = 0;
    for (size_t w = 0; w < tr->n_words; w++) {
        tr->sym_off[w] = (uint32_t)total;
        tr->sym_len[w] = tr->words[w].len;
        for (uint32_t i = 0; i < tr->words[w].len; i++)
            tr->sym[total++] = byte_tok[tr->bytes[tr->words[w].off + i]];
    }
    return 0;
}

static int init_pairs(clpt_bpe_trainer *tr)
{
    for (uint32_t w = 0; w < tr->n_words; w++) {
        const int32_t *s = tr->sym + tr->sym_off[w];
        for (uint32_t i = 0; i + 1 < tr->sym_len[w]; i++) {
            long k = pair_index(tr, s[i], s[i + 1]);
            if (k < 0) return (int)k;
            tr->pairs[k].count += tr->word_count[w];
            if (pair_add_word(tr, k, w)) return CLPT_ENOMEM;
        }
    }
    for (size_t k = 0; k < tr->n_pairs; k++)
        if (heap_push(tr, &tr->pairs[k])) return CLPT_ENOMEM;
    return 0;
}

/* Merge (a, b) -> x in every word that holds it and update the counts. */
static int merge_all(clpt_bpe_trainer *tr, long k, int32_t x, uint32_t step)
{
    int32_t a = tr->pairs[k].a, b = tr->pairs[k].b;
    uint32_t *list = tr->pairs[k].words, n = tr->pairs[k].n_words, *queue = NULL;
    size_t nq = 0, capq = 0;
    int rc = 0;
    tr->pairs[k].words = NULL; /* every occurrence goes now; none comes back */
    tr->pairs[k].n_words = tr->pairs[k].cap_words = 0;
    for (uint32_t i = 0; !rc && i < n; i++) {
        uint32_t w = list[i];
        if (tr->word_stamp[w] == step || !word_holds(tr, w, a, b)) continue;
        tr->word_stamp[w] = step;
        rc = word_pairs(tr, w, -1, x, step, &queue, &nq, &capq);
        word_merge(tr, w, a, b, x);
        if (!rc) rc = word_pairs(tr, w, +1, x, step, &queue, &nq, &capq);
    }
    for (size_t i = 0; !rc && i < nq; i++)
        if (tr->pairs[queue[i]].count > 0) rc = heap_push(tr, &tr->pairs[queue[i]]);
    free(list);
    free(queue);
    return rc;
}

static int learn_one(clpt_bpe_trainer *tr, long k, uint32_t step)
{
    const span ta = tr->tokens[tr->pairs[k].a], tb = tr->tokens[tr->pairs[k].b];
    uint8_t buf[512], *tmp = ta.len + tb.len <= sizeof buf ? buf : malloc(ta.len + tb.len);
    if (!tmp) return clpt_err(CLPT_ENOMEM, "bpe train: out of memory");
    memcpy(tmp, tr->bytes + ta.off, ta.len);
    memcpy(tmp + ta.len, tr->bytes + tb.off, tb.len);
    int32_t x = tok_intern(tr, tmp, ta.len + tb.len);
    if (tmp != buf) free(tmp);
    if (x < 0) return x;
    if (grow((void **)&tr->merges, &tr->cap_merges, tr->n_merges + 1, sizeof *tr->merges))
        return CLPT_ENOMEM;
    tr->merges[tr->n_merges++] = (merge){tr->pairs[k].a, tr->pairs[k].b};
    return merge_all(tr, k, x, step);
}

static int learn(clpt_bpe_trainer *tr, size_t target, int64_t min_freq, FILE *log)
{
    uint32_t step = 0;
    while (tr->n_tokens < target && tr->n_heap) {
        heap_ent top = heap_pop(tr);
        long k = pair_index(tr, top.a, top.b);
        if (k < 0) return (int)k;
        if (tr->pairs[k].count != top.count) { /* stale: counts only fall between pushes */
            if (tr->pairs[k].count > 0 && heap_push(tr, &tr->pairs[k])) return CLPT_ENOMEM;
            continue;
        }
        if (top.count < min_freq) break;
        int rc = learn_one(tr, k, ++step);
        if (rc) return rc;
        if (log && tr->n_merges % 1000 == 0)
            fprintf(log, "bpe train: %zu merges, %zu tokens, last pair count %lld\n",
                    tr->n_merges, tr->n_tokens, (long long)top.count);
    }
    return 0;
}

int clpt_bpe_trainer_train(clpt_bpe_trainer *tr, const clpt_bpe_train_opts *opts)
{
    int32_t byte_tok[256];
    if (tr->trained) return clpt_err(CLPT_ESTATE, "bpe train: already trained");
    if (opts->vocab_size < 257 || opts->vocab_size > (1 << 24))
        return clpt_err(CLPT_EINVAL, "bpe train: vocab size %d not in [257, %d]", opts->vocab_size,
                        1 << 24);
    tr->trained = 1;
    int rc = init_symbols(tr, byte_tok);
    if (!rc) rc = init_pairs(tr);
    if (!rc) rc = learn(tr, (size_t)opts->vocab_size - 1,
                        opts->min_frequency > 0 ? opts->min_frequency : 2, opts->log);
    if (rc) return rc;
    tr->eot = tok_intern(tr, (const uint8_t *)CLPT_EOT_TEXT, strlen(CLPT_EOT_TEXT));
    if (tr->eot < 0) return tr->eot;
    if (opts->log && (size_t)tr->eot + 1 < (size_t)opts->vocab_size)
        fprintf(opts->log, "bpe train: stopped at %d ids (no pair occurs %d+ times)\n",
                tr->eot + 1, opts->min_frequency > 0 ? opts->min_frequency : 2);
    return 0;
}

int clpt_bpe_trainer_vocab_size(const clpt_bpe_trainer *tr)
{
    return tr->trained ? (int)tr->n_tokens : 0;
}

/* ---- writing -------------------------------------------------------------------- */

/* the token's text in vocab/merges form, JSON-escaped if `json` */
static void put_token(FILE *f, const clpt_bpe_trainer *tr, int32_t id, int json)
{
    char buf[1024];
    const span t = tr->tokens[id];
    const uint8_t *p = tr->bytes + t.off;
    for (uint32_t i = 0; i < t.len; i += 256) {
        uint32_t n = t.len - i < 256 ? t.len - i : 256;
        size_t len = id == tr->eot ? (memcpy(buf, p + i, n), n) : clpt_bpe_bytes_to_text(p + i, n, buf);
        for (size_t k = 0; k < len; k++) {
            if (json && (buf[k] == '"' || buf[k] == '\\')) fputc('\\', f);
            fputc(buf[k], f);
        }
    }
}

/* Both files are written atomically (fsutil.h): a full disk leaves the
 * previous tokenizer, never half a file; the commit checks every write. */
static int write_vocab(const clpt_bpe_trainer *tr, const char *path)
{
    clpt_afile af;
    int rc = clpt_afile_open(&af, path);
    if (rc) return rc;
    FILE *f = af.fp;
    fputc('{', f);
    for (size_t id = 0; id < tr->n_tokens; id++) {
        fputs(id ? ",\n\"" : "\n\"", f);
        put_token(f, tr, (int32_t)id, 1);
        fprintf(f, "\": %zu", id);
    }
    fputs("\n}\n", f);
    return clpt_afile_commit(&af);
}

static int write_merges(const clpt_bpe_trainer *tr, const char *path)
{
    clpt_afile af;
    int rc = clpt_afile_open(&af, path);
    if (rc) return rc;
    FILE *f = af.fp;
    fputs("#version: 0.2\n", f);
    for (size_t i = 0; i < tr->n_merges; i++) {
        put_token(f, tr, tr->merges[i].a, 0);
        fputc(' ', f);
        put_token(f, tr, tr->merges[i].b, 0);
        fputc('\n', f);
    }
    return clpt_afile_commit(&af);
}

int clpt_bpe_trainer_write(const clpt_bpe_trainer *tr, const char *dir)
{
    char path[4096];
    if (!tr->trained) return clpt_err(CLPT_ESTATE, "bpe train: nothing trained to write");
    if (mkdir(dir, 0777) && errno != EEXIST)
        return clpt_err(CLPT_EIO, "%s: %s", dir, strerror(errno));
    snprintf(path, sizeof path, "%s/vocab.json", dir);
    int rc = write_vocab(tr, path);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/merges.txt", dir);
    return write_merges(tr, path);
}
