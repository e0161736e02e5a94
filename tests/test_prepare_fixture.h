/* test_prepare_fixture.h - helpers shared by the prepare tests: temporary
 * folders, files (plain, gzip, tar.gz written here so each test controls
 * every byte), a tiny tokenizer trained on the spot, and shard reading. */
#ifndef CLPT_TEST_PREPARE_FIXTURE_H
#define CLPT_TEST_PREPARE_FIXTURE_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "bpe_train.h"
#include "clpt.h"
#include "fsutil.h"
#include "shard.h"
#include "tokenizer.h"

/* "<dir>/<fmt...>", valid until fx_paths_free() (tests make a few hundred). */
static char **fx_paths;
static size_t fx_npaths;

static inline const char *fx_path(const char *dir, const char *fmt, ...)
{
    char rel[2048], *b = malloc(4096);
    char **list = realloc(fx_paths, (fx_npaths + 1) * sizeof *fx_paths);
    if (!b || !list) exit(1);
    fx_paths = list;
    fx_paths[fx_npaths++] = b;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    snprintf(b, 4096, "%s/%s", dir, rel);
    return b;
}

static inline void fx_paths_free(void)
{
    for (size_t i = 0; i < fx_npaths; i++) free(fx_paths[i]);
    free(fx_paths);
    fx_paths = NULL;
    fx_npaths = 0;
}

/* Write text to path, creating its folder. */
static inline void fx_write(const char *path, const void *data, size_t n)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0', clpt_fs_mkdir_p(dir);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n) {
        fprintf(stderr, "fixture: cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

static inline void fx_text(const char *path, const char *s) { fx_write(path, s, strlen(s)); }

static inline void fx_gz(const char *path, const void *data, size_t n)
{
    gzFile g = gzopen(path, "wb");
    if (!g || (n && gzwrite(g, data, (unsigned)n) != (int)n)) {
        fprintf(stderr, "fixture: cannot write %s\n", path);
        exit(1);
    }
    gzclose(g);
}

static inline char *fx_tmpdir(const char *tag)
{
    char tmpl[256];
    const char *base = getenv("TMPDIR");
    snprintf(tmpl, sizeof tmpl, "%s/clpt_%s.XXXXXX", base && *base ? base : "/tmp", tag);
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        exit(1);
    }
    return strdup(d);
}

/* ---- tar ---------------------------------------------------------------------- */

typedef struct fx_member {
    const char *name;   /* NULL ends a list */
    const char *data;   /* NULL: a directory */
    char type;          /* 0 = from data; 'L' = write a GNU long-name record first;
                           'x' = a pax path record first */
} fx_member;

static inline void fx_tar_block(clpt_bytes *b, const char *name, uint64_t size, char type)
{
    unsigned char h[512] = {0};
    snprintf((char *)h, 100, "%s", name);
    memcpy(h + 100, "0000644", 8);
    memcpy(h + 108, "0000000", 8);
    memcpy(h + 116, "0000000", 8);
    char num[32];
    snprintf(num, sizeof num, "%011llo", (unsigned long long)(size & 077777777777ULL));
    memcpy(h + 124, num, 12);
    memcpy(h + 136, "14626655045", 12);
    h[156] = (unsigned char)type;
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    size_t at = b->n;
    b->p = realloc(b->p, b->n + 512);
    memcpy(b->p + at, h, 512);
    b->n += 512;
}

static inline void fx_tar_data(clpt_bytes *b, const void *data, size_t n)
{
    size_t pad = (512 - n % 512) % 512;
    b->p = realloc(b->p, b->n + n + pad);
    memcpy(b->p + b->n, data, n);
    memset(b->p + b->n + n, 0, pad);
    b->n += n + pad;
}

/* The bytes of a tar archive of `m` (caller frees .p). */
static inline clpt_bytes fx_tar(const fx_member *m)
{
    clpt_bytes b = {0};
    for (; m->name; m++) {
        if (m->type == 'L') {
            fx_tar_block(&b, "././@LongLink", strlen(m->name) + 1, 'L');
            fx_tar_data(&b, m->name, strlen(m->name) + 1);
        } else if (m->type == 'x') {
            char rec[1024], digits[16];
            int len = (int)strlen(m->name) + 7, d = 1, n;  /* " path=" + "\n" */
            while (snprintf(digits, sizeof digits, "%d", len + d) != d) d++;
            n = snprintf(rec, sizeof rec, "%d path=%s\n", len + d, m->name);
            fx_tar_block(&b, "PaxHeader", (uint64_t)n, 'x');
            fx_tar_data(&b, rec, (size_t)n);
        }
        const char *short_name = m->type ? "truncated-name-placeholder" : m->name;
        if (!m->data) {
            fx_tar_block(&b, short_name, 0, '5');
            continue;
        }
        fx_tar_block(&b, short_name, strlen(m->data), '0');
        fx_tar_data(&b, m->data, strlen(m->data));
    }
    unsigned char zero[1024] = {0};
    b.p = realloc(b.p, b.n + sizeof zero);
    memcpy(b.p + b.n, zero, sizeof zero);
    b.n += sizeof zero;
    return b;
}

static inline void fx_tar_gz(const char *path, const fx_member *m)
{
    clpt_bytes b = fx_tar(m);
    fx_gz(path, b.p, b.n);
    free(b.p);
}

/* ---- tokenizer and shards --------------------------------------------------------- */

/* A small byte-level BPE learned from `text`, written to dir. */
static inline void fx_tokenizer(const char *dir, const char *text, int vocab)
{
    clpt_bpe_trainer *tr;
    clpt_bpe_train_opts o = {.vocab_size = vocab};
    if (clpt_bpe_trainer_new(&tr) || clpt_bpe_trainer_add_text(tr, text, strlen(text)) ||
        clpt_bpe_trainer_train(tr, &o) || clpt_bpe_trainer_write(tr, dir)) {
        fprintf(stderr, "fixture: tokenizer: %s\n", clpt_errmsg());
        exit(1);
    }
    clpt_bpe_trainer_free(tr);
}

/* Tokens of the shard at path appended to *ids; -1 if it does not open. */
static inline int fx_shard_ids(const char *path, clpt_ids *ids)
{
    clpt_shard *sh;
    if (clpt_shard_open(&sh, path)) return -1;
    const uint16_t *t = clpt_shard_tokens(sh);
    for (uint64_t i = 0; i < clpt_shard_count(sh); i++) clpt_ids_push(ids, t[i]);
    clpt_shard_close(sh);
    return 0;
}

/* The expected token stream of documents docs[0..n): EOT + encode(doc). */
static inline void fx_expect(const clpt_tokenizer *tok, const char *const *docs, int n, clpt_ids *out)
{
    for (int i = 0; i < n; i++) {
        clpt_ids_push(out, clpt_tokenizer_eot(tok));
        clpt_tokenizer_encode(tok, NULL, docs[i], strlen(docs[i]), 0, out);
    }
}

static inline int fx_ids_equal(const clpt_ids *a, const clpt_ids *b)
{
    return a->n == b->n && (!a->n || !memcmp(a->v, b->v, a->n * sizeof *a->v));
}

#endif
