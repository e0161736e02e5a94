/* fuzz_tokenizer.c - libFuzzer target: arbitrary bytes as a tokenizer's
 * vocab.json + merges.txt, loaded, then used to encode and decode.
 *
 * Input form: "VOCAB\0MERGES" - the bytes before the first NUL are
 * vocab.json, the bytes after it merges.txt (no NUL: all vocab.json and an
 * empty merges.txt). The tokenizer has no parse-from-memory entry point, so
 * both are written to a private directory (mkdtemp, once per process, under
 * /tmp) and loaded with clpt_tokenizer_load_files, the path the CLI takes.
 *
 * A load must either fail with a message and no handle, or give a
 * tokenizer that keeps tokenizer.h's promises: every id's bytes readable,
 * the 256 byte tokens present, decode(encode(x)) == x for any x, the same
 * ids with and without a cache, and a 64-char hex identity.
 * Needs core/tokenizer.c, tokenizer_encode.c, unicode.c, sha256.c, error.c
 * and cJSON. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clpt.h"
#include "tokenizer.h"

static char vocab_path[64], merges_path[64];

static void cleanup(void)
{
    char dir[64];
    unlink(vocab_path);
    unlink(merges_path);
    snprintf(dir, sizeof dir, "%s", vocab_path);
    char *slash = strrchr(dir, '/');
    if (slash) {
        *slash = '\0';
        rmdir(dir);
    }
}

static void setup(void)
{
    char dir[] = "/tmp/clpt-fuzz-tok-XXXXXX";
    if (!mkdtemp(dir)) abort();
    snprintf(vocab_path, sizeof vocab_path, "%s/vocab.json", dir);
    snprintf(merges_path, sizeof merges_path, "%s/merges.txt", dir);
    atexit(cleanup);
}

static void write_file(const char *path, const uint8_t *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(p, 1, n, f) != n) abort();
    if (fclose(f)) abort();
}

/* Encode text[0..n) with and without a cache and in both special-token
 * modes; every result must decode back to the text. */
static void roundtrip(const clpt_tokenizer *tok, clpt_tok_cache *cache, const void *text,
                      size_t n)
{
    for (int flags = 0; flags <= CLPT_TOK_ALLOW_SPECIAL; flags++) {
        clpt_ids a = {0}, b = {0};
        clpt_bytes d = {0};
        if (clpt_tokenizer_encode(tok, NULL, text, n, flags, &a)) abort();
        if (cache && clpt_tokenizer_encode(tok, cache, text, n, flags, &b)) abort();
        if (cache && (a.n != b.n || (a.n && memcmp(a.v, b.v, a.n * sizeof *a.v)))) abort();
        if (clpt_tokenizer_decode(tok, a.v, a.n, &d)) abort();
        if (d.n != n || (n && memcmp(d.p, text, n))) abort();
        clpt_ids_free(&a);
        clpt_ids_free(&b);
        clpt_bytes_free(&d);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        setup();
        ready = 1;
    }
    const uint8_t *nul = size ? memchr(data, 0, size) : NULL;
    size_t vn = nul ? (size_t)(nul - data) : size;
    write_file(vocab_path, data, vn);
    write_file(merges_path, nul ? nul + 1 : data, nul ? size - vn - 1 : 0);

    clpt_tokenizer *tok = NULL;
    int rc = clpt_tokenizer_load_files(&tok, vocab_path, merges_path);
    if (rc) {
        if (tok != NULL || rc >= 0 || clpt_errmsg()[0] == '\0') abort();
        return 0;
    }
    int nv = clpt_tokenizer_vocab_size(tok);
    if (nv < 256) abort();
    int eot = clpt_tokenizer_eot(tok);
    if (eot != CLPT_EINVAL && (eot < 0 || eot >= nv)) abort();
    if (strlen(clpt_tokenizer_sha256(tok)) != 64 ||
        strlen(clpt_tokenizer_vocab_sha256(tok)) != 64 ||
        strlen(clpt_tokenizer_merges_sha256(tok)) != 64)
        abort();
    if (strcmp(clpt_tokenizer_vocab_path(tok), vocab_path) ||
        strcmp(clpt_tokenizer_merges_path(tok), merges_path))
        abort();

    /* every id: bytes readable (ASan checks the range), decodable iff used;
     * each of the 256 bytes is some id's whole token */
    unsigned sum = 0;
    int seen[256] = {0}, nseen = 0;
    for (int32_t id = -1; id <= nv && id < 70000; id++) {
        size_t len = 7;
        const uint8_t *p = clpt_tokenizer_token(tok, id, &len);
        if (!p) {
            if (len != 0) abort();
            clpt_bytes d = {0};
            if (clpt_tokenizer_decode(tok, &id, 1, &d) != CLPT_EINVAL) abort();
            clpt_bytes_free(&d);
            continue;
        }
        if (id < 0 || id >= nv) abort();
        for (size_t i = 0; i < len; i++) sum += p[i];
        if (len == 1 && !seen[p[0]]) seen[p[0]] = 1, nseen++;
    }
    if (sum == 0xffffffffu) abort();
    if (nv <= 70000 && nseen != 256) abort();

    clpt_tok_cache *cache = clpt_tok_cache_new(tok);
    static const char text[] =
        "Hello, world! It's 2024: caf\xc3\xa9 \xe4\xb8\x96\xe7\x95\x8c <|endoftext|> "
        "\xff\xfe bad utf-8\n\n  spaces\tand tabs 123456789 the the the";
    roundtrip(tok, cache, text, sizeof text - 1);
    /* and the input itself, as text: more strings that may meet the merges */
    roundtrip(tok, cache, data, size < 512 ? size : 512);
    clpt_tok_cache_free(cache);
    clpt_tokenizer_free(tok);
    return 0;
}
