/* tokenizer.c - loading GPT-2 vocab/merges files. Encoding and decoding
 * live in tokenizer_encode.c; the shared internals in tokenizer_impl.h. */
#define _POSIX_C_SOURCE 200809L /* stat */
#include "tokenizer_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "clpt.h"
#include "sha256.h"
#include "unicode.h"

/* ---- GPT-2's bytes_to_unicode ------------------------------------------ */

/* Printable Latin-1 bytes stand for themselves; the other 68 bytes (controls,
 * space, DEL, NBSP, soft hyphen) get U+0100.. in byte order, so every token
 * is printable text in the files. */
static int printable_byte(unsigned b)
{
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t clpt_bpe_byte_to_cp(uint8_t b)
{
    if (printable_byte(b)) return b;
    unsigned k = 0; /* rank of b among the non-printable bytes */
    for (unsigned x = 0; x < b; x++) k += !printable_byte(x);
    return 0x100 + k;
}

int clpt_bpe_cp_to_byte(uint32_t cp)
{
    if (cp < 0x100) return printable_byte(cp) ? (int)cp : -1;
    if (cp >= 0x100 + 68) return -1;
    unsigned k = cp - 0x100;
    for (unsigned b = 0; b < 256; b++)
        if (!printable_byte(b) && k-- == 0) return (int)b;
    return -1;
}

size_t clpt_bpe_bytes_to_text(const uint8_t *b, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = clpt_bpe_byte_to_cp(b[i]);
        if (cp < 0x80) {
            out[k++] = (char)cp;
        } else {
            out[k++] = (char)(0xC0 | (cp >> 6));
            out[k++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return k;
}

/* Bytes of a token written in vocab/merges form, into out (>= strlen(s)).
 * A token with characters outside the byte map (an added token such as a
 * special token in another script) keeps its own UTF-8 bytes. */
static size_t text_to_bytes(const char *s, size_t n, uint8_t *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = clpt_utf8_decode((const uint8_t *)s + i, n - i, &cp);
        int b = cp == CLPT_UTF8_INVALID ? -1 : clpt_bpe_cp_to_byte(cp);
        if (b < 0) {
            memcpy(out, s, n);
            return n;
        }
        out[k++] = (uint8_t)b;
        i += len;
    }
    return k;
}

/* ---- files --------------------------------------------------------------- */

static int read_file(const char *path, char **buf, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));
    char *p = NULL;
    size_t len = 0, cap = 0, got;
    do {
        if (len + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 1 << 20;
            char *q = realloc(p, cap);
            if (!q) {
                free(p);
                fclose(f);
                return clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
            }
            p = q;
        }
        got = fread(p + len, 1, 65536, f);
        len += got;
    } while (got > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(p);
        return clpt_err(CLPT_EIO, "%s: read error", path);
    }
    p[len] = '\0';
    *buf = p;
    *n = len;
    return 0;
}

static int line_of(const char *buf, const char *at)
{
    int line = 1;
    for (const char *p = buf; p < at; p++) line += *p == '\n';
    return line;
}

/* ---- the bytes -> id map used while loading --------------------------------*/

static uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001B3ull;
    return h ^ (h >> 29);
}

typedef struct strmap {
    int32_t *slot; /* token id, -1 empty */
    size_t mask;
} strmap;

static int32_t strmap_find(const clpt_tokenizer *t, const strmap *m, const uint8_t *p, size_t n)
{
    for (size_t i = hash_bytes(p, n) & m->mask;; i = (i + 1) & m->mask) {
        int32_t id = m->slot[i];
        if (id < 0) return -1;
        if (t->len[id] == n && !memcmp(t->blob + t->off[id], p, n)) return id;
    }
}

static void strmap_add(const clpt_tokenizer *t, strmap *m, int32_t id)
{
    const uint8_t *p = t->blob + t->off[id];
    size_t i = hash_bytes(p, t->len[id]) & m->mask;
    while (m->slot[i] >= 0) i = (i + 1) & m->mask;
    m->slot[i] = id;
}

/* ---- vocab.json ---------------------------------------------------------- */

static int vocab_entry_id(const char *path, const cJSON *it, int32_t *id)
{
    if (!cJSON_IsNumber(it))
        return clpt_err(CLPT_EFORMAT, "%s: the id of token \"%s\" is not a number", path,
                        it->string);
    double v = it->valuedouble;
    if (v < 0 || v > CLPT_TOK_MAX_VOCAB || v != (double)(int32_t)v)
        return clpt_err(CLPT_EFORMAT, "%s: token \"%s\" has id %g, not an integer in [0, %d]",
                        path, it->string, v, CLPT_TOK_MAX_VOCAB);
    *id = (int32_t)v;
    return 0;
}

/* First pass: the blob size, so one allocation holds all tokens. Returns
 * the number of ids (largest + 1) or a negative error. */
static int vocab_measure(const char *path, const cJSON *root, size_t *blob)
{
    int32_t max = -1, id = 0;
    *blob = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        int rc = vocab_entry_id(path, it, &id);
        if (rc) return rc;
        if (id > max) max = id;
        *blob += strlen(it->string);
    }
    if (max < 0) return clpt_err(CLPT_EFORMAT, "%s: empty vocabulary", path);
    return max + 1;
}

static int vocab_fill(clpt_tokenizer *t, const char *path, const cJSON *root)
{
    size_t at = 0;
    for (const cJSON *it = root->child; it; it = it->next) {
        int32_t id = (int32_t)it->valuedouble;
        if (t->len[id] != CLPT_TOK_UNUSED)
            return clpt_err(CLPT_EFORMAT, "%s: id %d is given to two tokens (\"%s\")", path,
                            (int)id, it->string);
        t->off[id] = (uint32_t)at;
        t->len[id] = (uint32_t)text_to_bytes(it->string, strlen(it->string), t->blob + at);
        at += t->len[id];
    }
    return 0;
}

static int load_vocab(clpt_tokenizer *t, const char *path, const char *buf, size_t n)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
    if (!root)
        return clpt_err(CLPT_EFORMAT, "%s:%d: invalid JSON", path, line_of(buf, end ? end : buf));
    size_t blob;
    int rc = CLPT_EFORMAT;
    if (!cJSON_IsObject(root)) {
        clpt_err(rc, "%s: not a JSON object of token -> id", path);
        goto done;
    }
    rc = vocab_measure(path, root, &blob);
    if (rc < 0) goto done;
    t->n_vocab = rc;
    t->blob = malloc(blob + 1);
    t->off = malloc(sizeof *t->off * (size_t)t->n_vocab);
    t->len = malloc(sizeof *t->len * (size_t)t->n_vocab);
    if (!t->blob || !t->off || !t->len) {
        rc = clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    for (int32_t i = 0; i < t->n_vocab; i++) t->len[i] = CLPT_TOK_UNUSED;
    rc = vocab_fill(t, path, root);
done:
    cJSON_Delete(root);
    return rc;
}

/* The byte tokens and "<|endoftext|>", found through the load-time map. */
static int vocab_index(clpt_tokenizer *t, const char *path, strmap *m)
{
    size_t cap = 16;
    while (cap < 2 * (size_t)t->n_vocab) cap *= 2;
    m->mask = cap - 1;
    m->slot = malloc(sizeof *m->slot * cap);
    if (!m->slot) return clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
    memset(m->slot, 0xFF, sizeof *m->slot * cap);
    for (int32_t id = 0; id < t->n_vocab; id++)
        if (t->len[id] != CLPT_TOK_UNUSED && strmap_find(t, m, t->blob + t->off[id], t->len[id]) < 0)
            strmap_add(t, m, id);
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        t->byte_id[b] = strmap_find(t, m, &byte, 1);
        if (t->byte_id[b] < 0)
            return clpt_err(CLPT_EFORMAT, "%s: no token for byte 0x%02x (U+%04X)", path, b,
                            (unsigned)clpt_bpe_byte_to_cp(byte));
    }
    t->eot = strmap_find(t, m, (const uint8_t *)CLPT_EOT_TEXT, strlen(CLPT_EOT_TEXT));
    return 0;
}

/* ---- merges.txt ---------------------------------------------------------- */

static int pair_alloc(clpt_tokenizer *t, size_t nmerges, const char *path)
{
    size_t cap = 16;
    while (cap < 2 * nmerges) cap *= 2;
    t->pair_mask = cap - 1;
    t->pair_key = malloc(sizeof *t->pair_key * cap);
    t->pair_val = malloc(sizeof *t->pair_val * cap);
    if (!t->pair_key || !t->pair_val) return clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < cap; i++) t->pair_key[i] = CLPT_PAIR_EMPTY;
    return 0;
}

/* A later line with the same pair replaces the earlier one, as in Hugging
 * Face tokenizers. */
static void pair_put(clpt_tokenizer *t, int32_t a, int32_t b, uint32_t rank, int32_t id)
{
    uint64_t key = clpt_pair_key(a, b);
    size_t i = clpt_pair_hash(key) & t->pair_mask;
    while (t->pair_key[i] != CLPT_PAIR_EMPTY && t->pair_key[i] != key) i = (i + 1) & t->pair_mask;
    t->pair_key[i] = key;
    t->pair_val[i] = (uint64_t)rank << 32 | (uint32_t)id;
}

static int merge_token(const clpt_tokenizer *t, const strmap *m, const char *path, int line,
                       const char *s, size_t n, uint8_t *tmp, int32_t *id)
{
    size_t len = text_to_bytes(s, n, tmp);
    *id = strmap_find(t, m, tmp, len);
    if (*id < 0)
        return clpt_err(CLPT_EFORMAT, "%s:%d: unknown token \"%.*s\" (not in the vocabulary)",
                        path, line, (int)n, s);
    return 0;
}

static int merge_line(clpt_tokenizer *t, const strmap *m, const char *path, int line,
                      const char *s, size_t n, uint32_t rank, uint8_t *tmp)
{
    const char *sp = memchr(s, ' ', n);
    if (!sp || sp == s || sp + 1 == s + n || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1)))
        return clpt_err(CLPT_EFORMAT, "%s:%d: malformed merge \"%.*s\" (want two tokens "
                        "separated by one space)", path, line, (int)(n > 80 ? 80 : n), s);
    int32_t a, b, ab;
    size_t na = (size_t)(sp - s), nb = n - na - 1;
    int rc = merge_token(t, m, path, line, s, na, tmp, &a);
    if (!rc) rc = merge_token(t, m, path, line, sp + 1, nb, tmp, &b);
    if (rc) return rc;
    size_t la = t->len[a], lb = t->len[b];
    memcpy(tmp, t->blob + t->off[a], la);
    memcpy(tmp + la, t->blob + t->off[b], lb);
    ab = strmap_find(t, m, tmp, la + lb);
    if (ab < 0)
        return clpt_err(CLPT_EFORMAT, "%s:%d: merge result \"%.*s%.*s\" is not in the "
                        "vocabulary", path, line, (int)na, s, (int)nb, sp + 1);
    pair_put(t, a, b, rank, ab);
    return 0;
}

static int load_merges(clpt_tokenizer *t, const strmap *m, const char *path, char *buf, size_t n)
{
    size_t nlines = 1;
    for (size_t i = 0; i < n; i++) nlines += buf[i] == '\n';
    int rc = pair_alloc(t, nlines, path);
    uint8_t *tmp = malloc(n + 1);
    if (!rc && !tmp) rc = clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
    uint32_t rank = 0;
    char *p = buf, *end = buf + n;
    for (int line = 1; !rc && p < end; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        size_t len = (size_t)(e - p);
        if (len && p[len - 1] == '\r') len--;
        int skip = len == 0 || (line == 1 && len >= 8 && !memcmp(p, "#version", 8));
        if (!skip) rc = merge_line(t, m, path, line, p, len, rank++, tmp);
        p = e + 1;
    }
    t->n_merges = rank;
    free(tmp);
    return rc;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    return p ? memcpy(p, s, n) : NULL;
}

/* ---- load / free --------------------------------------------------------- */

static int hash_files(clpt_tokenizer *t, const char *vbuf, size_t vn, const char *mbuf, size_t mn)
{
    uint8_t d[32];
    clpt_sha256_ctx c;
    clpt_sha256(vbuf, vn, d);
    clpt_sha256_hex(d, t->vocab_sha);
    clpt_sha256(mbuf, mn, d);
    clpt_sha256_hex(d, t->merges_sha);
    clpt_sha256_init(&c);
    clpt_sha256_update(&c, vbuf, vn);
    clpt_sha256_update(&c, mbuf, mn);
    clpt_sha256_final(&c, d);
    clpt_sha256_hex(d, t->sha);
    return 0;
}

int clpt_tokenizer_load_files(clpt_tokenizer **out, const char *vocab_path, const char *merges_path)
{
    char *vbuf = NULL, *mbuf = NULL;
    size_t vn, mn;
    strmap m = {0};
    *out = NULL;
    clpt_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return clpt_err(CLPT_ENOMEM, "tokenizer: out of memory");
    t->vocab_path = dup_str(vocab_path);
    t->merges_path = dup_str(merges_path);
    int rc = !t->vocab_path || !t->merges_path ? clpt_err(CLPT_ENOMEM, "out of memory") : 0;
    if (!rc) rc = read_file(vocab_path, &vbuf, &vn);
    if (!rc) rc = read_file(merges_path, &mbuf, &mn);
    if (!rc) rc = load_vocab(t, vocab_path, vbuf, vn);
    if (!rc) rc = vocab_index(t, vocab_path, &m);
    if (!rc) rc = load_merges(t, &m, merges_path, mbuf, mn);
    if (!rc) rc = hash_files(t, vbuf, vn, mbuf, mn);
    free(m.slot);
    free(vbuf);
    free(mbuf);
    if (rc) {
        clpt_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return 0;
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int clpt_tokenizer_load(clpt_tokenizer **out, const char *dir)
{
    static const char *names[][2] = {{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}};
    char vp[4096], mp[4096];
    *out = NULL;
    for (int i = 0; i < 2; i++) {
        snprintf(vp, sizeof vp, "%s/%s", dir, names[i][0]);
        snprintf(mp, sizeof mp, "%s/%s", dir, names[i][1]);
        if (file_exists(vp) || file_exists(mp)) return clpt_tokenizer_load_files(out, vp, mp);
    }
    if (!file_exists(dir)) return clpt_err(CLPT_EIO, "%s: %s", dir, strerror(errno));
    return clpt_err(CLPT_EIO, "%s: no tokenizer here (want vocab.json + merges.txt, or "
                    "encoder.json + vocab.bpe)", dir);
}

void clpt_tokenizer_free(clpt_tokenizer *t)
{
    if (!t) return;
    free(t->blob);
    free(t->off);
    free(t->len);
    free(t->pair_key);
    free(t->pair_val);
    free(t->vocab_path);
    free(t->merges_path);
    free(t);
}

int clpt_tokenizer_vocab_size(const clpt_tokenizer *t) { return t->n_vocab; }

int clpt_tokenizer_eot(const clpt_tokenizer *t)
{
    if (t->eot < 0)
        return clpt_err(CLPT_EINVAL, "%s: no \"%s\" token", t->vocab_path, CLPT_EOT_TEXT);
    return t->eot;
}

const uint8_t *clpt_tokenizer_token(const clpt_tokenizer *t, int32_t id, size_t *len)
{
    *len = 0;
    if (id < 0 || id >= t->n_vocab || t->len[id] == CLPT_TOK_UNUSED) return NULL;
    *len = t->len[id];
    return t->blob + t->off[id];
}

const char *clpt_tokenizer_sha256(const clpt_tokenizer *t) { return t->sha; }
const char *clpt_tokenizer_vocab_sha256(const clpt_tokenizer *t) { return t->vocab_sha; }
const char *clpt_tokenizer_merges_sha256(const clpt_tokenizer *t) { return t->merges_sha; }
const char *clpt_tokenizer_vocab_path(const clpt_tokenizer *t) { return t->vocab_path; }
const char *clpt_tokenizer_merges_path(const clpt_tokenizer *t) { return t->merges_path; }
