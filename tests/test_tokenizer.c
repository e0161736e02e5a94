/* test_tokenizer.c - UTF-8 and pre-tokenizer edge cases, SHA-256 vectors,
 * GPT-2 encoding against ids from reference encoders (needs
 * $CLPT_SHARED_DATA/gpt2; those parts are skipped without it), BPE training,
 * and the errors of malformed tokenizer files. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bpe_train.h"
#include "check.h"
#include "clpt.h"
#include "sha256.h"
#include "tokenizer.h"
#include "unicode.h"

static char tmpdir[256];

static int read_all(const char *path, clpt_bytes *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    uint8_t buf[65536];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) {
        out->p = realloc(out->p, out->n + got);
        memcpy(out->p + out->n, buf, got);
        out->n += got;
    }
    fclose(f);
    return 0;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static int ids_eq(const clpt_ids *ids, const int32_t *want, size_t n)
{
    return ids->n == n && (n == 0 || !memcmp(ids->v, want, n * sizeof *want));
}

/* ---- unicode ---------------------------------------------------------------- */

static void test_utf8(void)
{
    static const struct { const char *s; size_t n, len; uint32_t cp; } cases[] = {
        {"A", 1, 1, 'A'},
        {"\xc3\xa9", 2, 2, 0xE9},
        {"\xe2\x82\xac", 3, 3, 0x20AC},
        {"\xf0\x9f\x98\x80", 4, 4, 0x1F600},
        {"\xf4\x8f\xbf\xbf", 4, 4, 0x10FFFF},
        {"\xc0\x80", 2, 1, CLPT_UTF8_INVALID},     /* overlong */
        {"\xe0\x80\x80", 3, 1, CLPT_UTF8_INVALID}, /* overlong */
        {"\xed\xa0\x80", 3, 1, CLPT_UTF8_INVALID}, /* surrogate */
        {"\xf4\x90\x80\x80", 4, 1, CLPT_UTF8_INVALID},
        {"\xe2\x82", 2, 1, CLPT_UTF8_INVALID},     /* truncated */
        {"\x80", 1, 1, CLPT_UTF8_INVALID},
        {"\xff", 1, 1, CLPT_UTF8_INVALID},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t cp;
        size_t len = clpt_utf8_decode((const uint8_t *)cases[i].s, cases[i].n, &cp);
        CHECK_MSG(len == cases[i].len && cp == cases[i].cp, "case %zu: len %zu cp %x", i, len,
                  (unsigned)cp);
    }
    CHECK(clpt_unicode_class('a') == CLPT_UC_LETTER);
    CHECK(clpt_unicode_class('7') == CLPT_UC_NUMBER);
    CHECK(clpt_unicode_class(0xBD) == CLPT_UC_NUMBER);   /* ½ is No */
    CHECK(clpt_unicode_class(0x3000) == CLPT_UC_SPACE);
    CHECK(clpt_unicode_class(0x85) == CLPT_UC_SPACE);
    CHECK(clpt_unicode_class(0x1C) == CLPT_UC_OTHER);    /* isspace() but not White_Space */
    CHECK(clpt_unicode_class(0x200B) == CLPT_UC_OTHER);
    CHECK(clpt_unicode_class(0x0301) == CLPT_UC_OTHER);  /* combining mark: Mn */
    CHECK(clpt_unicode_class(0x31350) == CLPT_UC_LETTER); /* CJK ext H, Unicode 15 */
    CHECK(clpt_unicode_class(0x16D40) == CLPT_UC_LETTER); /* Kirat Rai, Unicode 16 */
    CHECK(clpt_unicode_class(CLPT_UTF8_INVALID) == CLPT_UC_OTHER);
    CHECK(!strcmp(clpt_unicode_version(), "16.0.0"));
}

/* pieces of `text` joined with '|' */
static void split(const char *text, size_t n, char *out)
{
    size_t k = 0;
    for (size_t pos = 0; pos < n;) {
        size_t end = clpt_pretok_next((const uint8_t *)text, n, pos);
        if (pos) out[k++] = '|';
        memcpy(out + k, text + pos, end - pos);
        k += end - pos;
        pos = end;
    }
    out[k] = '\0';
}

static void test_pretok(void)
{
    /* whitespace before a non-space: all but its last char, then the last
     * alone unless it is a space, which leads the next word */
    static const char *cases[][2] = {
        {"Hello world", "Hello| world"},
        {"it's we'll I'M x'sy", "it|'s| we|'ll| I|'|M| x|'s|y"},
        {"a  b   c", "a| | b|  | c"},
        {"a \n\nb", "a| \n|\n|b"},
        {"end   ", "end|   "},
        {"x\t\ty", "x|\t|\t|y"},
        {"abc123def!!?' 'ss", "abc|123|def|!!?'| '|ss"},
        {" !! 42", " !!| 42"},
    };
    char out[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        split(cases[i][0], strlen(cases[i][0]), out);
        CHECK_MSG(!strcmp(out, cases[i][1]), "split \"%s\" gave \"%s\"", cases[i][0], out);
    }
    split("a\xff\x80!b \xffz", 8, out);
    CHECK_MSG(!strcmp(out, "a|\xff\x80!|b| \xff|z"), "invalid bytes split as \"%s\"", out);
}

/* ---- sha256 ---------------------------------------------------------------- */

static void test_sha256(void)
{
    uint8_t d[32];
    char hex[65];
    clpt_sha256("", 0, d);
    clpt_sha256_hex(d, hex);
    CHECK(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
    clpt_sha256("abc", 3, d);
    clpt_sha256_hex(d, hex);
    CHECK(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    clpt_sha256(m, strlen(m), d);
    clpt_sha256_hex(d, hex);
    CHECK(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"));
    /* a million 'a', fed in uneven pieces to cross block boundaries */
    char a[1000];
    memset(a, 'a', sizeof a);
    clpt_sha256_ctx c;
    clpt_sha256_init(&c);
    for (size_t done = 0, k = 1; done < 1000000; k = k % 997 + 1) {
        size_t n = 1000000 - done < k ? 1000000 - done : k;
        clpt_sha256_update(&c, a, n);
        done += n;
    }
    clpt_sha256_final(&c, d);
    clpt_sha256_hex(d, hex);
    CHECK(!strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"));
}

/* ---- GPT-2 ------------------------------------------------------------------- */

static void check_encode(const clpt_tokenizer *t, const char *text, const int32_t *want, size_t n)
{
    clpt_ids ids = {0};
    CHECK(clpt_tokenizer_encode(t, NULL, text, strlen(text), 0, &ids) == 0);
    CHECK_MSG(ids_eq(&ids, want, n), "\"%s\": %zu ids, first %d", text, ids.n,
              ids.n ? (int)ids.v[0] : -1);
    clpt_ids_free(&ids);
}

static void test_gpt2_known(const clpt_tokenizer *t)
{
    static const int32_t hello[] = {15496, 995};
    static const int32_t fox[] = {383, 2068, 7586, 21831, 18045, 625, 262, 16931, 3290, 13};
    check_encode(t, "Hello world", hello, 2);
    check_encode(t, " The quick brown fox jumps over the lazy dog.", fox, 10);
    check_encode(t, "", NULL, 0);
    CHECK(clpt_tokenizer_vocab_size(t) == 50257);
    CHECK(clpt_tokenizer_eot(t) == 50256);
    CHECK(!strcmp(clpt_tokenizer_vocab_sha256(t),
                  "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783"));
    CHECK(!strcmp(clpt_tokenizer_merges_sha256(t),
                  "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"));
    size_t len;
    const uint8_t *p = clpt_tokenizer_token(t, 50256, &len);
    CHECK(p && len == 13 && !memcmp(p, "<|endoftext|>", 13));
    CHECK(clpt_tokenizer_token(t, 50257, &len) == NULL && len == 0);
}

static void test_gpt2_special(const clpt_tokenizer *t)
{
    const char *text = "a<|endoftext|>b<|endoftext|>";
    static const int32_t special[] = {64, 50256, 65, 50256};
    static const int32_t plain[] = {64, 27, 91, 437, 1659, 5239, 91, 29, 65, 27, 91, 437,
                                    1659, 5239, 91, 29};
    clpt_ids ids = {0};
    CHECK(clpt_tokenizer_encode(t, NULL, text, strlen(text), CLPT_TOK_ALLOW_SPECIAL, &ids) == 0);
    CHECK(ids_eq(&ids, special, 4));
    ids.n = 0;
    CHECK(clpt_tokenizer_encode(t, NULL, text, strlen(text), 0, &ids) == 0);
    CHECK(ids_eq(&ids, plain, sizeof plain / sizeof plain[0]));
    clpt_ids_free(&ids);
}

static void parse_ids(const clpt_bytes *b, clpt_ids *ids)
{
    char *s = malloc(b->n + 1), *p, *end;
    memcpy(s, b->p, b->n);
    s[b->n] = '\0';
    for (p = s;; p = end) {
        long v = strtol(p, &end, 10);
        if (end == p) break;
        clpt_ids_push(ids, (int32_t)v);
    }
    free(s);
}

/* the committed sample: ids from the reference encoder, and the round trip */
static void test_gpt2_sample(const clpt_tokenizer *t, const char *src)
{
    char path[1024];
    clpt_bytes text = {0}, idtext = {0}, back = {0};
    clpt_ids want = {0}, got = {0}, again = {0};
    snprintf(path, sizeof path, "%s/tests/data/tokenizer/sample.txt", src);
    CHECK_MSG(read_all(path, &text) == 0, "%s missing", path);
    snprintf(path, sizeof path, "%s/tests/data/tokenizer/sample.ids", src);
    CHECK_MSG(read_all(path, &idtext) == 0, "%s missing", path);
    parse_ids(&idtext, &want);
    clpt_tok_cache *cache = clpt_tok_cache_new(t);
    CHECK(clpt_tokenizer_encode(t, cache, text.p, text.n, 0, &got) == 0);
    CHECK_MSG(want.n > 1000 && got.n == want.n && !memcmp(got.v, want.v, 4 * want.n),
              "sample: %zu ids, want %zu", got.n, want.n);
    CHECK(clpt_tokenizer_encode(t, cache, text.p, text.n, 0, &again) == 0); /* warm cache */
    CHECK(again.n == got.n && !memcmp(again.v, got.v, 4 * got.n));
    CHECK(clpt_tokenizer_decode(t, got.v, got.n, &back) == 0);
    CHECK(back.n == text.n && !memcmp(back.p, text.p, text.n));
    clpt_tok_cache_free(cache);
    clpt_ids_free(&want);
    clpt_ids_free(&got);
    clpt_ids_free(&again);
    clpt_bytes_free(&text);
    clpt_bytes_free(&idtext);
    clpt_bytes_free(&back);
}

/* More distinct pre-tokens than the cache holds, from several threads: the
 * cache clears and refills, and every thread gets the uncached answer. */
static void test_gpt2_threads(const clpt_tokenizer *t)
{
    size_t n = 0, cap = 900000;
    char *text = malloc(cap);
    for (unsigned i = 0; n + 16 < cap; i++) {
        unsigned x = i * 2654435761u;
        text[n++] = ' ';
        for (int k = 0; k < 5; k++, x /= 26) text[n++] = (char)('a' + x % 26);
        if (i % 7 == 0) text[n++] = (char)('0' + i % 10);
    }
    clpt_ids ref = {0};
    int rc = 0, bad = 0;
    CHECK(clpt_tokenizer_encode(t, NULL, text, n, 0, &ref) == 0);
#pragma omp parallel num_threads(2) reduction(| : rc) reduction(+ : bad)
    {
        clpt_tok_cache *c = clpt_tok_cache_new(t);
        for (int round = 0; round < 2; round++) {
            clpt_ids ids = {0};
            rc |= clpt_tokenizer_encode(t, c, text, n, 0, &ids);
            bad += ids.n != ref.n || memcmp(ids.v, ref.v, 4 * ref.n);
            clpt_ids_free(&ids);
        }
        clpt_tok_cache_free(c);
    }
    CHECK(rc == 0 && bad == 0);
    clpt_ids_free(&ref);
    free(text);
}

static void test_gpt2_decode_errors(const clpt_tokenizer *t)
{
    const int32_t ids[] = {15496, 50257};
    clpt_bytes out = {0};
    CHECK(clpt_tokenizer_decode(t, ids, 2, &out) == CLPT_EINVAL);
    CHECK_MSG(strstr(clpt_errmsg(), "50257") != NULL, "message: %s", clpt_errmsg());
    const int32_t neg[] = {-1};
    CHECK(clpt_tokenizer_decode(t, neg, 1, &out) == CLPT_EINVAL);
    clpt_bytes_free(&out);
}

static int test_gpt2(const char *shared, const char *src)
{
    char dir[1024];
    clpt_tokenizer *t;
    snprintf(dir, sizeof dir, "%s/gpt2", shared);
    struct stat st;
    if (stat(dir, &st)) return 0;
    int rc = clpt_tokenizer_load(&t, dir);
    CHECK_MSG(rc == 0, "load %s: %s", dir, clpt_errmsg());
    if (rc) return 1;
    test_gpt2_known(t);
    test_gpt2_special(t);
    test_gpt2_sample(t, src);
    test_gpt2_threads(t);
    test_gpt2_decode_errors(t);
    clpt_tokenizer_free(t);
    return 1;
}

/* ---- training ------------------------------------------------------------------ */

static char *train_corpus(size_t *n)
{
    static const char *words[] = {"the", "cat", "sat", "on", "mat", "Hello", "world", "naïve",
                                  "café", "日本語", "123", "4567", "don't", "it's", "!!", "\t"};
    size_t cap = 200000, k = 0;
    char *s = malloc(cap);
    uint32_t x = 12345;
    while (k + 64 < cap) {
        x = x * 1103515245u + 12345u;
        const char *w = words[(x >> 16) % 16];
        s[k++] = (x >> 8) % 5 ? ' ' : '\n';
        memcpy(s + k, w, strlen(w));
        k += strlen(w);
    }
    memcpy(s + k, " \xff\xfe end", 8); /* invalid bytes train too */
    *n = k + 8;
    return s;
}

static int train_to(const char *dir, const char *text, size_t n, size_t chunk, int vocab)
{
    clpt_bpe_trainer *tr;
    int rc = clpt_bpe_trainer_new(&tr);
    /* text in pieces cut at spaces, so the pre-tokens (and the result) match */
    for (size_t pos = 0; !rc && pos < n;) {
        size_t end = pos + chunk < n ? pos + chunk : n;
        while (end < n && text[end] != ' ') end++;
        rc = clpt_bpe_trainer_add_text(tr, text + pos, end - pos);
        pos = end;
    }
    if (!rc) rc = clpt_bpe_trainer_train(tr, &(clpt_bpe_train_opts){.vocab_size = vocab});
    CHECK(rc || clpt_bpe_trainer_vocab_size(tr) <= vocab);
    if (!rc) rc = clpt_bpe_trainer_write(tr, dir);
    clpt_bpe_trainer_free(tr);
    return rc;
}

static int same_file(const char *a, const char *b)
{
    clpt_bytes x = {0}, y = {0};
    int same = !read_all(a, &x) && !read_all(b, &y) && x.n == y.n && !memcmp(x.p, y.p, x.n);
    clpt_bytes_free(&x);
    clpt_bytes_free(&y);
    return same;
}

static void test_train(void)
{
    char d1[300], d2[300], a[400], b[400];
    size_t n;
    char *text = train_corpus(&n);
    snprintf(d1, sizeof d1, "%s/train1", tmpdir);
    snprintf(d2, sizeof d2, "%s/train2", tmpdir);
    CHECK_MSG(train_to(d1, text, n, n, 300) == 0, "%s", clpt_errmsg());
    CHECK_MSG(train_to(d2, text, n, 1000, 300) == 0, "%s", clpt_errmsg());
    const char *files[] = {"vocab.json", "merges.txt"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", d1, files[i]);
        snprintf(b, sizeof b, "%s/%s", d2, files[i]);
        CHECK_MSG(same_file(a, b), "training is not deterministic: %s differs", files[i]);
    }
    clpt_tokenizer *t;
    int rc = clpt_tokenizer_load(&t, d1);
    CHECK_MSG(rc == 0, "loading the trained tokenizer: %s", clpt_errmsg());
    if (rc) {
        free(text);
        return;
    }
    CHECK(clpt_tokenizer_vocab_size(t) == 300);
    CHECK(clpt_tokenizer_eot(t) == 299);
    clpt_ids ids = {0};
    clpt_bytes back = {0};
    CHECK(clpt_tokenizer_encode(t, NULL, text, n, 0, &ids) == 0);
    CHECK_MSG(ids.n < n / 2, "%zu ids for %zu bytes: merges not applied", ids.n, n);
    CHECK(clpt_tokenizer_decode(t, ids.v, ids.n, &back) == 0);
    CHECK(back.n == n && !memcmp(back.p, text, n));
    size_t len;
    const uint8_t *p = clpt_tokenizer_token(t, 0, &len);
    CHECK(p && len == 1 && p[0] == '!'); /* GPT-2's byte order */
    clpt_ids_free(&ids);
    clpt_bytes_free(&back);
    clpt_tokenizer_free(t);
    free(text);
}

/* ---- malformed files ---------------------------------------------------------- */

/* A valid two-token-merge vocabulary: the 256 byte tokens + "ab" + eot. */
static char *mini_vocab(const char *extra)
{
    size_t cap = 8192, k = 0;
    char *s = malloc(cap), buf[8];
    k += (size_t)snprintf(s, cap, "{");
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        size_t len = clpt_bpe_bytes_to_text(&byte, 1, buf);
        int esc = buf[0] == '"' || buf[0] == '\\';
        k += (size_t)snprintf(s + k, cap - k, "\"%s%.*s\": %d, ", esc ? "\\" : "", (int)len, buf, b);
    }
    snprintf(s + k, cap - k, "\"ab\": 256, \"<|endoftext|>\": 257%s}\n", extra);
    return s;
}

static void expect_load_error(const char *name, const char *vocab, const char *merges, int code,
                              const char *want)
{
    char dir[400];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    mkdir(dir, 0777);
    if (vocab) write_file(dir, "vocab.json", vocab);
    if (merges) write_file(dir, "merges.txt", merges);
    clpt_tokenizer *t = NULL;
    int rc = clpt_tokenizer_load(&t, dir);
    CHECK_MSG(rc == code && t == NULL, "%s: rc %d, want %d", name, rc, code);
    CHECK_MSG(strstr(clpt_errmsg(), want) != NULL, "%s: message \"%s\" lacks \"%s\"", name,
              clpt_errmsg(), want);
    clpt_tokenizer_free(t);
}

static void test_errors(void)
{
    char *good = mini_vocab(""), *dup = mini_vocab(", \"zz\": 256");
    char dir[400];
    snprintf(dir, sizeof dir, "%s/good", tmpdir);
    mkdir(dir, 0777);
    write_file(dir, "vocab.json", good);
    write_file(dir, "merges.txt", "#version: 0.2\na b\n");
    clpt_tokenizer *t = NULL;
    CHECK_MSG(clpt_tokenizer_load(&t, dir) == 0, "mini tokenizer: %s", clpt_errmsg());
    if (t) {
        static const int32_t want[] = {256, 256, 97}; /* ids = byte values here */
        clpt_ids ids = {0};
        CHECK(clpt_tokenizer_encode(t, NULL, "ababa", 5, 0, &ids) == 0 && ids_eq(&ids, want, 3));
        clpt_ids_free(&ids);
    }
    clpt_tokenizer_free(t);
    expect_load_error("nofiles", NULL, NULL, CLPT_EIO, "no tokenizer here");
    expect_load_error("nomerges", good, NULL, CLPT_EIO, "merges.txt");
    expect_load_error("badjson", "{\n\"a\": 1,\n\"b\" 2\n}\n", "", CLPT_EFORMAT, "vocab.json:3");
    expect_load_error("notobject", "[1, 2]", "", CLPT_EFORMAT, "vocab.json");
    expect_load_error("badid", "{\"a\": \"x\"}", "", CLPT_EFORMAT, "\"a\"");
    expect_load_error("dupid", dup, "", CLPT_EFORMAT, "id 256");
    expect_load_error("nobytes", "{\"a\": 0}", "", CLPT_EFORMAT, "no token for byte");
    expect_load_error("badline", good, "#version: 0.2\na b\nab\n", CLPT_EFORMAT, "merges.txt:3");
    expect_load_error("unknown", good, "a b\na b\nzz b\n", CLPT_EFORMAT,
                      "merges.txt:3: unknown token \"zz\"");
    expect_load_error("noresult", good, "a b\nb a\n", CLPT_EFORMAT, "merges.txt:2: merge result");
    free(good);
    free(dup);
}

int main(void)
{
    const char *shared = getenv("CLPT_SHARED_DATA");
    const char *src = getenv("CLPT_SOURCE_DIR");
    snprintf(tmpdir, sizeof tmpdir, "tokenizer_test_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        return 1;
    }
    test_utf8();
    test_pretok();
    test_sha256();
    test_train();
    test_errors();
    int ran_gpt2 = shared && src && test_gpt2(shared, src);
    if (!ran_gpt2) printf("note: GPT-2 checks skipped ($CLPT_SHARED_DATA/gpt2 absent)\n");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (!check_failures && system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
    CHECK_DONE();
}
