/* test_safetensors.c - safetensors round trip, half-precision conversions,
 * and a table of malformed files that must each fail cleanly (run it under
 * ASan: -DCLPT_SANITIZE=ON). */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "clpt.h"
#include "fsutil.h"
#include "safetensors.h"

#define TDIR "test_safetensors.tmp"

/* ---- helpers ----------------------------------------------------------- */

/* An image: 8-byte length (hdr's own unless len_override >= 0), the header,
 * then `data_len` bytes 0, 1, 2, ... Caller frees. */
static unsigned char *make_image(const char *hdr, size_t data_len, long long len_override,
                                 size_t *out_len)
{
    size_t n = strlen(hdr), total = 8 + n + data_len;
    unsigned char *img = malloc(total + 1);
    uint64_t hl = len_override >= 0 ? (uint64_t)len_override : n;
    for (int i = 0; i < 8; i++) img[i] = (unsigned char)(hl >> (8 * i));
    memcpy(img + 8, hdr, n);
    for (size_t i = 0; i < data_len; i++) img[8 + n + i] = (unsigned char)i;
    *out_len = total;
    return img;
}

static int write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    fclose(f);
    return w == n ? 0 : -1;
}

static int bits_eq(float a, float b) { return !memcmp(&a, &b, 4); }

/* ---- round trip ----------------------------------------------------------- */

static void test_round_trip(void)
{
    float a[6] = {1.5f, -2.25f, 0.0f, -0.0f, 3.4e38f, 1e-40f};
    int32_t tok[5] = {0, 1, 50256, -7, 2147483647};
    uint16_t h[4] = {0x3c00, 0xc000, 0x0001, 0x7c00};
    float scalar = 42.0f;
    int64_t sa[2] = {2, 3}, st[1] = {5}, sh[2] = {2, 2}, sz[2] = {0, 3};
    clpt_st_writer *w;
    CHECK(clpt_st_writer_new(&w) == 0);
    CHECK(clpt_st_writer_add(w, "a", CLPT_ST_F32, 2, sa, a) == 0);
    CHECK(clpt_st_writer_add(w, "tokens", CLPT_ST_I32, 1, st, tok) == 0);
    CHECK(clpt_st_writer_add(w, "half \"quoted\"/é", CLPT_ST_F16, 2, sh, h) == 0);
    CHECK(clpt_st_writer_add(w, "scalar", CLPT_ST_F32, 0, NULL, &scalar) == 0);
    CHECK(clpt_st_writer_add(w, "empty", CLPT_ST_F32, 2, sz, NULL) == 0);
    CHECK(clpt_st_writer_add(w, "a", CLPT_ST_F32, 2, sa, a) == CLPT_EINVAL);
    CHECK(clpt_st_writer_add(w, "__metadata__", CLPT_ST_F32, 2, sa, a) == CLPT_EINVAL);
    CHECK(clpt_st_writer_add(w, "", CLPT_ST_F32, 2, sa, a) == CLPT_EINVAL);
    int64_t neg[1] = {-1};
    CHECK(clpt_st_writer_add(w, "neg", CLPT_ST_F32, 1, neg, a) == CLPT_EINVAL);
    CHECK(clpt_st_writer_set_metadata(w, "format", "pt") == 0);
    CHECK(clpt_st_writer_set_metadata(w, "note", "first") == 0);
    CHECK(clpt_st_writer_set_metadata(w, "note", "second") == 0);
    CHECK(clpt_st_writer_write(w, TDIR "/rt.safetensors") == 0);
    clpt_st_writer_free(w);

    clpt_st *s = NULL;
    int rc = clpt_st_open(&s, TDIR "/rt.safetensors");
    CHECK_MSG(rc == 0, "%s", clpt_errmsg());
    if (rc) return;
    CHECK(clpt_st_count(s) == 5);
    CHECK(!strcmp(clpt_st_get(s, 0)->name, "a")); /* writer order kept */
    CHECK(!strcmp(clpt_st_get(s, 1)->name, "tokens"));
    CHECK(!strcmp(clpt_st_get(s, 2)->name, "half \"quoted\"/é"));
    CHECK(clpt_st_get(s, 5) == NULL && clpt_st_get(s, -1) == NULL);
    CHECK(clpt_st_metadata(s, "format") && !strcmp(clpt_st_metadata(s, "format"), "pt"));
    CHECK(clpt_st_metadata(s, "note") && !strcmp(clpt_st_metadata(s, "note"), "second"));
    CHECK(clpt_st_metadata(s, "nope") == NULL);
    CHECK(clpt_st_metadata_count(s) == 3); /* format, note, and the data's CRC-32 */
    CHECK(clpt_st_metadata(s, CLPT_ST_CRC_KEY) && strlen(clpt_st_metadata(s, CLPT_ST_CRC_KEY)) == 8);
    CHECK_MSG(clpt_st_verify(s) == 0, "%s", clpt_errmsg());

    const clpt_st_tensor *t = clpt_st_find(s, "a");
    float got[6];
    CHECK(t && t->dtype == CLPT_ST_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3);
    CHECK(t && clpt_st_read_f32(s, t, got, 6) == 0);
    for (int i = 0; t && i < 6; i++) CHECK(bits_eq(got[i], a[i]));
    CHECK(t && clpt_st_read_f32(s, t, got, 5) == CLPT_EINVAL);

    int32_t tk[5];
    t = clpt_st_find(s, "tokens");
    CHECK(t && t->dtype == CLPT_ST_I32 && clpt_st_read_i32(s, t, tk, 5) == 0);
    CHECK(t && !memcmp(tk, tok, sizeof tok));
    CHECK(t && !memcmp(clpt_st_data(s, t), tok, sizeof tok));
    CHECK(t && clpt_st_read_f32(s, t, got, 5) == CLPT_EUNSUP);

    t = clpt_st_find(s, "half \"quoted\"/é");
    CHECK(t && t->dtype == CLPT_ST_F16 && clpt_st_read_f32(s, t, got, 4) == 0);
    CHECK(t && got[0] == 1.0f && got[1] == -2.0f && got[2] == 0x1p-24f && got[3] == INFINITY);

    t = clpt_st_find(s, "scalar");
    CHECK(t && t->ndim == 0 && t->numel == 1 && clpt_st_read_f32(s, t, got, 1) == 0 &&
          got[0] == 42.0f);
    t = clpt_st_find(s, "empty");
    CHECK(t && t->numel == 0 && t->nbytes == 0 && clpt_st_read_f32(s, t, got, 0) == 0);
    CHECK(clpt_st_find(s, "missing") == NULL);
    clpt_st_close(s);

    /* header padded with spaces to 8 bytes; no temporary file left behind */
    FILE *f = fopen(TDIR "/rt.safetensors", "rb");
    unsigned char len8[8] = {0};
    CHECK(f && fread(len8, 1, 8, f) == 8);
    if (f) fclose(f);
    CHECK(len8[0] % 8 == 0);
    DIR *d = opendir(TDIR);
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') entries++;
    if (d) closedir(d);
    CHECK(entries == 1);
}

/* ---- conversions ------------------------------------------------------------ */

static void test_f16_values(void)
{
    static const struct { uint16_t h; float f; } tab[] = {
        {0x0000, 0.0f}, {0x3c00, 1.0f}, {0xc000, -2.0f}, {0x7bff, 65504.0f},
        {0x0400, 0x1p-14f}, {0x0001, 0x1p-24f}, {0x03ff, 1023 * 0x1p-24f},
        {0x8001, -0x1p-24f}, {0x3555, 0.333251953125f}, {0x7c00, INFINITY},
        {0xfc00, -INFINITY}, {0x3bff, 0.99951171875f},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++) {
        CHECK_MSG(bits_eq(clpt_f16_to_f32(tab[i].h), tab[i].f), "f16 %04x", tab[i].h);
        CHECK_MSG(clpt_f32_to_f16(tab[i].f) == tab[i].h, "f32 %g", tab[i].f);
    }
    CHECK(signbit(clpt_f16_to_f32(0x8000)) && clpt_f16_to_f32(0x8000) == 0.0f);
    CHECK(isnan(clpt_f16_to_f32(0x7e00)) && isnan(clpt_f16_to_f32(0xfd01)));
    /* every half survives f16 -> f32 -> f16; NaNs stay NaN */
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = clpt_f16_to_f32((uint16_t)h);
        uint16_t back = clpt_f32_to_f16(f);
        if (isnan(f) ? !isnan(clpt_f16_to_f32(back)) : back != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d halves do not round-trip", bad);
    /* round to nearest, ties to even */
    CHECK(clpt_f32_to_f16(65519.0f) == 0x7bff);
    CHECK(clpt_f32_to_f16(65520.0f) == 0x7c00);
    CHECK(clpt_f32_to_f16(1e10f) == 0x7c00 && clpt_f32_to_f16(-1e10f) == 0xfc00);
    CHECK(clpt_f32_to_f16(0x1p-25f) == 0x0000);          /* tie to even: 0 */
    CHECK(clpt_f32_to_f16(0x1.000002p-25f) == 0x0001);
    CHECK(clpt_f32_to_f16(0x3p-25f) == 0x0002);          /* 1.5 ulp: tie to even 2 */
    CHECK(clpt_f32_to_f16(1.0f + 0x1p-11f) == 0x3c00);   /* tie to even */
    CHECK(clpt_f32_to_f16(1.0f + 0x3p-11f) == 0x3c02);
    CHECK(clpt_f32_to_f16(0x1.ffcp-15f) == 0x0400);      /* subnormal rounds up to normal */
    CHECK(isnan(clpt_f16_to_f32(clpt_f32_to_f16(NAN))));
}

static void test_bf16_values(void)
{
    CHECK(clpt_bf16_to_f32(0x3f80) == 1.0f && clpt_bf16_to_f32(0xc000) == -2.0f);
    CHECK(clpt_bf16_to_f32(0x3eaa) == 0.33203125f);
    CHECK(clpt_bf16_to_f32(0x7f80) == INFINITY && clpt_bf16_to_f32(0xff80) == -INFINITY);
    CHECK(isnan(clpt_bf16_to_f32(0x7fc0)) && isnan(clpt_bf16_to_f32(0x7f81)));
    CHECK(clpt_bf16_to_f32(0x0001) == 0x1p-133f); /* subnormal */
    CHECK(clpt_f32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);      /* tie to even */
    CHECK(clpt_f32_to_bf16(1.0f + 0x3p-8f) == 0x3f82);
    CHECK(clpt_f32_to_bf16(3.4e38f) == 0x7f80);              /* rounds to inf */
    CHECK(isnan(clpt_bf16_to_f32(clpt_f32_to_bf16(NAN))));
    int bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = clpt_bf16_to_f32((uint16_t)h);
        if (!isnan(f) && clpt_f32_to_bf16(f) != h) bad++;
    }
    CHECK_MSG(bad == 0, "%d bf16 values do not round-trip", bad);
}

/* F16, BF16, F64 and integer tensors read from a hand-made file. */
static void test_read_dtypes(void)
{
    const char *hdr = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[4,8]},"
                      "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[8,24]},"
                      "\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[24,40]},"
                      "\"u\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[40,42]}}";
    size_t n;
    unsigned char *img = make_image(hdr, 42, -1, &n), *d = img + 8 + strlen(hdr);
    memcpy(d, (uint16_t[]){0x3c00, 0x0001}, 4);
    memcpy(d + 4, (uint16_t[]){0x3f80, 0xc000}, 4);
    memcpy(d + 8, (double[]){0.1, 1e300}, 16);
    memcpy(d + 24, (int64_t[]){-5, (int64_t)1 << 40}, 16);
    d[40] = 200, d[41] = 7;
    clpt_st *s;
    int rc = clpt_st_parse_buffer(&s, img, n, "mem");
    CHECK_MSG(rc == 0, "%s", clpt_errmsg());
    if (!rc) {
        float f[2];
        int32_t v[2];
        CHECK(clpt_st_read_f32(s, clpt_st_find(s, "h"), f, 2) == 0 && f[0] == 1 && f[1] == 0x1p-24f);
        CHECK(clpt_st_read_f32(s, clpt_st_find(s, "b"), f, 2) == 0 && f[0] == 1 && f[1] == -2);
        CHECK(clpt_st_read_f32(s, clpt_st_find(s, "d"), f, 2) == 0 && f[0] == 0.1f &&
              f[1] == INFINITY);
        CHECK(clpt_st_read_i32(s, clpt_st_find(s, "i"), v, 2) == CLPT_EFORMAT);
        CHECK(strstr(clpt_errmsg(), "'i'") && strstr(clpt_errmsg(), "element 1"));
        CHECK(clpt_st_read_i32(s, clpt_st_find(s, "u"), v, 2) == 0 && v[0] == 200 && v[1] == 7);
        CHECK(clpt_st_read_i32(s, clpt_st_find(s, "h"), v, 2) == CLPT_EUNSUP);
        clpt_st_close(s);
    }
    free(img);
}

/* ---- malformed inputs --------------------------------------------------------- */

#define T1(body) "{\"t\":{" body "}}"
#define OK_F32 "\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"

static const struct bad_case {
    const char *what;
    const char *hdr;
    size_t data_len;
    long long len_override; /* -1: the header's length */
    const char *expect;     /* substring of the message */
} bad_cases[] = {
    {"header length huge", "{}", 0, (long long)(1ULL << 62), "limit"},
    {"header length over limit", "{}", 0, 200LL << 20, "limit"},
    {"header length > file", "{}", 4, 100, "exceeds the file"},
    {"header length 0", "{}", 0, 0, "not a JSON object"},
    {"non-object JSON", "[1,2,3]", 0, -1, "not a JSON object"},
    {"string JSON", "\"abc\"", 0, -1, "not a JSON object"},
    {"invalid JSON", "{\"t\":", 0, -1, "not a JSON object"},
    {"leading space", " {}", 0, -1, "not a JSON object"},
    {"trailing bytes", "{} x", 0, -1, "trailing"},
    {"two objects", "{}{}", 0, -1, "trailing"},
    {"entry not object", "{\"t\":[1]}", 0, -1, "'t': entry is not an object"},
    {"bad dtype", T1("\"dtype\":\"F8\",\"shape\":[2],\"data_offsets\":[0,8]"), 8, -1, "dtype"},
    {"dtype lowercase", T1("\"dtype\":\"f32\",\"shape\":[2],\"data_offsets\":[0,8]"), 8, -1, "dtype"},
    {"dtype not string", T1("\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]"), 8, -1, "dtype"},
    {"dtype missing", T1("\"shape\":[2],\"data_offsets\":[0,8]"), 8, -1, "dtype"},
    {"dtype repeated", T1(OK_F32 ",\"dtype\":\"F16\""), 8, -1, "repeated"},
    {"shape missing", T1("\"dtype\":\"F32\",\"data_offsets\":[0,8]"), 8, -1, "shape"},
    {"shape not array", T1("\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]"), 8, -1, "shape"},
    {"shape negative", T1("\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]"), 8, -1, "shape"},
    {"shape fraction", T1("\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]"), 8, -1, "shape"},
    {"shape string", T1("\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]"), 8, -1, "shape"},
    {"shape beyond 2^53", T1("\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,8]"), 8, -1, "shape"},
    {"shape overflow", T1("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
                          "\"data_offsets\":[0,8]"), 8, -1, "overflows"},
    {"shape overflow by dtype", T1("\"dtype\":\"F64\",\"shape\":[562949953421312,4096],"
                                   "\"data_offsets\":[0,8]"), 8, -1, "overflows"},
    {"too many dims", T1("\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]"),
     8, -1, "dimensions"},
    {"offsets missing", T1("\"dtype\":\"F32\",\"shape\":[2]"), 8, -1, "data_offsets"},
    {"offsets one value", T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]"), 8, -1,
     "data_offsets"},
    {"offsets three values", T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]"), 8, -1,
     "data_offsets"},
    {"offsets negative", T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]"), 8, -1,
     "data_offsets"},
    {"offsets out of range", T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]"), 4, -1,
     "outside"},
    {"offsets far out", T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":"
                           "[9007199254740984,9007199254740992]"), 8, -1, "outside"},
    {"offsets reversed", T1("\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]"), 8, -1,
     "outside"},
    {"size mismatch", T1("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]"), 12, -1, "span"},
    {"size mismatch zero", T1("\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[0,4]"), 8, -1,
     "span"},
    {"overlap", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, -1, "overlaps"},
    {"same range twice", "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"b\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8, -1,
     "overlaps"},
    {"duplicate names", "{\"a\":{" OK_F32 "},\"a\":{\"dtype\":\"F32\",\"shape\":[2],"
                        "\"data_offsets\":[8,16]}}", 16, -1, "'a': name repeated"},
    {"empty name", "{\"\":{" OK_F32 "}}", 8, -1, "empty tensor name"},
    {"metadata not object", "{\"__metadata__\":[1]}", 0, -1, "__metadata__"},
    {"metadata value not string", "{\"__metadata__\":{\"k\":1}}", 0, -1, "'k'"},
    {"metadata repeated", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, -1, "repeated"},
};

static void check_bad(const char *what, const unsigned char *img, size_t n, const char *expect)
{
    clpt_st *s = (clpt_st *)1;
    int rc = clpt_st_parse_buffer(&s, img, n, "bad.safetensors");
    CHECK_MSG(rc == CLPT_EFORMAT, "%s: rc=%d", what, rc);
    CHECK_MSG(s == NULL, "%s: handle not cleared", what);
    CHECK_MSG(strstr(clpt_errmsg(), "bad.safetensors") != NULL, "%s: message '%s' lacks the file",
              what, clpt_errmsg());
    CHECK_MSG(strstr(clpt_errmsg(), expect) != NULL, "%s: message '%s' lacks '%s'", what,
              clpt_errmsg(), expect);
    if (!rc) clpt_st_close(s);
}

static void test_bad_table(void)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *c = &bad_cases[i];
        size_t n;
        unsigned char *img = make_image(c->hdr, c->data_len, c->len_override, &n);
        check_bad(c->what, img, n, c->expect);
        free(img);
    }
}

/* Cases that need a computed header: long names, deep nesting, truncation. */
static void test_bad_generated(void)
{
    static unsigned char zeros[8];
    check_bad("empty", zeros, 0, "truncated");
    check_bad("5 bytes", zeros, 5, "truncated");

    char *hdr = malloc(4096);
    size_t n;
    char name[CLPT_ST_MAX_NAME + 2];
    memset(name, 'x', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    snprintf(hdr, 4096, "{\"%s\":{" OK_F32 "}}", name);
    unsigned char *img = make_image(hdr, 8, -1, &n);
    check_bad("name too long", img, n, "longer than");
    free(img);

    /* nesting deeper than cJSON allows must fail, not overflow the stack */
    char *deep = malloc(3 * 5000 + 16);
    size_t at = (size_t)sprintf(deep, "{\"t\":");
    for (int i = 0; i < 5000; i++) deep[at++] = '[';
    for (int i = 0; i < 5000; i++) deep[at++] = ']';
    deep[at++] = '}';
    deep[at] = '\0';
    img = make_image(deep, 0, -1, &n);
    check_bad("deep nesting", img, n, "not a JSON object");
    free(img);
    free(deep);

    /* a valid file cut at every length: each prefix fails cleanly */
    snprintf(hdr, 4096, "{\"a\":{" OK_F32 "},\"__metadata__\":{\"k\":\"v\"}}");
    unsigned char *full = make_image(hdr, 8, -1, &n);
    for (size_t cut = 0; cut < n; cut++) {
        clpt_st *s;
        int rc = clpt_st_parse_buffer(&s, full, cut, "cut");
        CHECK_MSG(rc == CLPT_EFORMAT, "cut at %zu: rc=%d", cut, rc);
        if (!rc) clpt_st_close(s);
    }
    clpt_st *s;
    CHECK(clpt_st_parse_buffer(&s, full, n, "full") == 0);
    if (s) clpt_st_close(s);
    free(full);
    free(hdr);
}

/* Valid corner cases that must be accepted. */
static void test_good_corners(void)
{
    static const struct { const char *hdr; size_t data; } good[] = {
        {"{}", 0},
        {"{}      ", 0},
        {"{\"__metadata__\":{\"format\":\"pt\"}}", 0},
        {"{\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
         "\"z\":{\"dtype\":\"BOOL\",\"shape\":[4,0,1e15],\"data_offsets\":[4,4]}}", 4},
        {"{\"s\":{\"dtype\":\"U16\",\"shape\":[],\"data_offsets\":[2,4],\"extra\":1}}", 6},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        size_t n;
        unsigned char *img = make_image(good[i].hdr, good[i].data, -1, &n);
        clpt_st *s;
        int rc = clpt_st_parse_buffer(&s, img, n, NULL);
        CHECK_MSG(rc == 0, "good case %zu: %s", i, clpt_errmsg());
        if (!rc) {
            for (int k = 0; k < clpt_st_count(s); k++)
                CHECK(clpt_st_find(s, clpt_st_get(s, k)->name) == clpt_st_get(s, k));
            clpt_st_close(s);
        }
        free(img);
    }
}

/* The file path (mmap) reports the same errors and names the path. */
static void test_open_files(void)
{
    clpt_st *s;
    CHECK(clpt_st_open(&s, TDIR "/does-not-exist.safetensors") == CLPT_EIO);
    CHECK(strstr(clpt_errmsg(), "does-not-exist") != NULL);
    CHECK(clpt_st_open(&s, TDIR) == CLPT_EIO); /* a directory */
    CHECK(write_bytes(TDIR "/empty.safetensors", "", 0) == 0);
    CHECK(clpt_st_open(&s, TDIR "/empty.safetensors") == CLPT_EFORMAT);
    CHECK(strstr(clpt_errmsg(), "empty.safetensors") && strstr(clpt_errmsg(), "truncated"));
    size_t n;
    unsigned char *img = make_image("{}", 0, 1000, &n);
    CHECK(write_bytes(TDIR "/short.safetensors", img, n) == 0);
    CHECK(clpt_st_open(&s, TDIR "/short.safetensors") == CLPT_EFORMAT);
    CHECK(strstr(clpt_errmsg(), "short.safetensors") && strstr(clpt_errmsg(), "exceeds"));
    free(img);
}

/* The fuzz seed corpus: valid_* files (several written by the Hugging Face
 * safetensors library) must load and read fully, bad_* files must fail
 * cleanly. Inputs that ever crashed the fuzzer go there too, named
 * crash-*: they must simply not crash. */
static void check_corpus_file(const char *dir, const char *name)
{
    char *path = clpt_fs_join(dir, name);
    clpt_st *s = NULL;
    int rc = clpt_st_open(&s, path);
    if (!strncmp(name, "valid_", 6)) {
        CHECK_MSG(rc == 0, "%s: %s", name, clpt_errmsg());
        for (int i = 0; s && i < clpt_st_count(s); i++) {
            const clpt_st_tensor *t = clpt_st_get(s, i);
            float *f = malloc((t->numel + 1) * sizeof *f);
            int32_t *v = malloc((t->numel + 1) * sizeof *v);
            int rf = clpt_st_read_f32(s, t, f, t->numel), ri = clpt_st_read_i32(s, t, v, t->numel);
            CHECK_MSG(rf == 0 || ri == 0 || t->dtype >= CLPT_ST_BOOL, "%s: tensor %s unreadable",
                      name, t->name);
            free(f);
            free(v);
        }
    } else if (!strncmp(name, "bad_", 4)) {
        CHECK_MSG(rc == CLPT_EFORMAT && strstr(clpt_errmsg(), name), "%s: rc=%d '%s'", name, rc,
                  clpt_errmsg());
    }
    clpt_st_close(s);
    free(path);
}

static void test_corpus(void)
{
    const char *src = getenv("CLPT_SOURCE_DIR");
    if (!src) {
        printf("CLPT_SOURCE_DIR unset: corpus check skipped\n");
        return;
    }
    char *dir = clpt_fs_join(src, "tests/fuzz/corpus/safetensors");
    DIR *d = opendir(dir);
    int n = 0;
    CHECK_MSG(d != NULL, "%s missing", dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.') {
            check_corpus_file(dir, e->d_name);
            n++;
        }
    if (d) closedir(d);
    CHECK(n >= 10);
    free(dir);
}

/* A flipped bit anywhere in the data section of a file clpt wrote is
 * found by clpt_st_verify, naming the file; so is a malformed checksum.
 * Files without the entry (written elsewhere) verify as 0. */
static void test_checksum(void)
{
    float a[64];
    for (int i = 0; i < 64; i++) a[i] = (float)i * 0.25f;
    int64_t sh[1] = {64};
    clpt_st_writer *w;
    CHECK(clpt_st_writer_new(&w) == 0);
    CHECK(clpt_st_writer_add(w, "x", CLPT_ST_F32, 1, sh, a) == 0);
    CHECK(clpt_st_writer_set_metadata(w, "step", "1234") == 0);
    CHECK(clpt_st_writer_write(w, TDIR "/crc.safetensors") == 0);
    clpt_st_writer_free(w);
    char *img = NULL;
    size_t n = 0;
    CHECK(clpt_fs_read_file(TDIR "/crc.safetensors", 1 << 20, &img, &n) == 0);
    if (!img) return;
    size_t data0 = n - sizeof a;
    int flips[] = {0, 1, 100, (int)sizeof a - 1};
    for (int k = 0; k < 4; k++) {
        img[data0 + flips[k]] ^= 0x10;
        CHECK(write_bytes(TDIR "/crc-bad.safetensors", img, n) == 0);
        clpt_st *s = NULL;
        CHECK(clpt_st_open(&s, TDIR "/crc-bad.safetensors") == 0); /* the structure is fine */
        CHECK_MSG(s && clpt_st_verify(s) == CLPT_EFORMAT, "flip at data byte %d not found", flips[k]);
        CHECK(strstr(clpt_errmsg(), "crc-bad.safetensors") && strstr(clpt_errmsg(), "corrupt"));
        clpt_st_close(s);
        img[data0 + flips[k]] ^= 0x10;
    }
    /* the header is covered too: a metadata value changed (an optimizer
     * step, say) still parses, and is found */
    char *step = strstr(img + 8, "1234");
    CHECK(step != NULL);
    if (step) {
        step[3] = '5';
        CHECK(write_bytes(TDIR "/crc-bad.safetensors", img, n) == 0);
        clpt_st *s = NULL;
        CHECK(clpt_st_open(&s, TDIR "/crc-bad.safetensors") == 0);
        CHECK_MSG(s && !strcmp(clpt_st_metadata(s, "step"), "1235") && clpt_st_verify(s) == CLPT_EFORMAT,
                  "a changed metadata value was not found");
        clpt_st_close(s);
        step[3] = '4';
    }
    /* the header's value itself mangled: 8 digits but not hex */
    char *key = strstr(img + 8, CLPT_ST_CRC_KEY "\":\""); /* the JSON header: no NUL in it */
    CHECK(key != NULL);
    if (key) {
        key[strlen(CLPT_ST_CRC_KEY) + 3] = 'Z';
        CHECK(write_bytes(TDIR "/crc-bad.safetensors", img, n) == 0);
        clpt_st *s = NULL;
        CHECK(clpt_st_open(&s, TDIR "/crc-bad.safetensors") == 0);
        CHECK(s && clpt_st_verify(s) == CLPT_EFORMAT && strstr(clpt_errmsg(), "hex"));
        clpt_st_close(s);
    }
    free(img);
    /* no entry: nothing to check */
    unsigned char *plain = make_image("{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, -1, &n);
    clpt_st *s = NULL;
    CHECK(clpt_st_parse_buffer(&s, plain, n, "plain") == 0);
    CHECK(s && clpt_st_verify(s) == 0);
    clpt_st_close(s);
    free(plain);
}

int main(void)
{
    clpt_fs_remove_tree(TDIR);
    if (clpt_fs_mkdir_p(TDIR)) {
        fprintf(stderr, "%s\n", clpt_errmsg());
        return 1;
    }
    test_round_trip();
    test_f16_values();
    test_bf16_values();
    test_read_dtypes();
    test_bad_table();
    test_bad_generated();
    test_good_corners();
    test_open_files();
    test_checksum();
    test_corpus();
    if (!check_failures) clpt_fs_remove_tree(TDIR);
    CHECK_DONE();
}
