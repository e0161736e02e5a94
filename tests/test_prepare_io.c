/* test_prepare_io.c - the input side of `clpt prepare`: the tar reader
 * (ustar, GNU long names, pax, gzip or plain, corrupt and truncated
 * archives), text sources (.gz, tar members, statistics), the UTF-8
 * checker, the HTML converter, and the chunk cut that must not change the
 * encoding. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "prepare_impl.h"
#include "tar.h"
#include "test_prepare_fixture.h"
#include "textsrc.h"

static char *dir;

/* Read the whole current member. */
static size_t read_member(clpt_tar *t, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while ((r = clpt_tar_read(t, buf + n, cap - 1 - n > 7 ? 7 : cap - 1 - n)) > 0) n += (size_t)r;
    buf[n] = '\0';
    return r < 0 ? (size_t)-1 : n;
}

static void test_tar_formats(void)
{
    char long_name[300];
    memset(long_name, 'n', sizeof long_name);
    memcpy(long_name, "dom/", 4);
    snprintf(long_name + 200, 100, "/train.txt");
    fx_member m[] = {{"./dom", NULL, 0}, {"./dom/valid.txt", "valid text\n", 0},
                     {long_name, "long-named member", 'L'},
                     {"dom/pax-named.txt", "pax data", 'x'},
                     {"dom/empty.txt", "", 0}, {NULL, NULL, 0}};
    clpt_bytes raw = fx_tar(m);
    const char *gz = fx_path(dir, "a.tar.gz"), *plain = fx_path(dir, "a.tar");
    fx_gz(gz, raw.p, raw.n);
    fx_write(plain, raw.p, raw.n);
    free(raw.p);
    const char *paths[] = {gz, plain};
    for (int k = 0; k < 2; k++) {
        clpt_tar *t;
        clpt_tar_entry e;
        char buf[512];
        CHECK(clpt_tar_open(&t, paths[k]) == 0);
        CHECK(clpt_tar_next(t, &e) == 1 && e.type == CLPT_TAR_DIR && !strcmp(e.name, "dom"));
        CHECK(clpt_tar_next(t, &e) == 1 && !strcmp(e.name, "dom/valid.txt") && e.size == 11);
        CHECK(read_member(t, buf, sizeof buf) == 11 && !strcmp(buf, "valid text\n"));
        CHECK(clpt_tar_next(t, &e) == 1 && !strcmp(e.name, long_name));
        /* not reading this one: next() must skip its data */
        CHECK(clpt_tar_next(t, &e) == 1 && !strcmp(e.name, "dom/pax-named.txt"));
        CHECK(read_member(t, buf, sizeof buf) == 8 && !strcmp(buf, "pax data"));
        CHECK(clpt_tar_next(t, &e) == 1 && e.size == 0 && e.type == CLPT_TAR_FILE);
        CHECK(clpt_tar_next(t, &e) == 0);
        CHECK(clpt_tar_next(t, &e) == 0);
        clpt_tar_close(t);
    }
}

/* Walk an archive to the end; the first error code, or 0. */
static int walk(const char *path)
{
    clpt_tar *t;
    clpt_tar_entry e;
    char buf[4096];
    int rc = clpt_tar_open(&t, path);
    if (rc) return rc;
    while ((rc = clpt_tar_next(t, &e)) == 1) {
        ssize_t r;
        while ((r = clpt_tar_read(t, buf, sizeof buf)) > 0) {}
        if (r < 0) {
            rc = (int)r;
            break;
        }
    }
    clpt_tar_close(t);
    return rc;
}

static void test_tar_damage(void)
{
    char big[20000];
    for (size_t i = 0; i < sizeof big - 1; i++) big[i] = (char)('a' + (i * 7919) % 26);
    big[sizeof big - 1] = '\0';
    fx_member m[] = {{"d/train.txt", big, 0}, {"d/test.txt", "t", 0}, {NULL, NULL, 0}};
    clpt_bytes raw = fx_tar(m);
    const char *p = fx_path(dir, "bad.tar");
    raw.p[100] ^= 0x40;  /* a header byte: the checksum no longer matches */
    fx_write(p, raw.p, raw.n);
    CHECK(walk(p) == CLPT_EFORMAT && strstr(clpt_errmsg(), "checksum") &&
          strstr(clpt_errmsg(), p));
    raw.p[100] ^= 0x40;
    fx_write(p, raw.p, 512 + 3000);  /* plain tar cut inside the data */
    CHECK(walk(p) == CLPT_EFORMAT && strstr(clpt_errmsg(), "truncated"));
    const char *gz = fx_path(dir, "cut.tar.gz");
    fx_gz(gz, raw.p, raw.n);
    char *data;
    size_t n;
    CHECK(clpt_fs_read_file(gz, 1 << 20, &data, &n) == 0);
    fx_write(gz, data, n / 2);  /* gzip stream cut in half */
    CHECK(walk(gz) == CLPT_EFORMAT && strstr(clpt_errmsg(), gz));
    data[n / 2] ^= 0xff;  /* corrupt deflate data in the middle */
    data[n / 2 + 1] ^= 0xff;
    fx_write(gz, data, n);
    CHECK(walk(gz) == CLPT_EFORMAT);
    free(data);
    free(raw.p);
    fx_text(p, "this is not a tar archive at all, just text that goes on for a while. "
               "it is long enough to fill more than one header block of five hundred and "
               "twelve bytes so the reader must look at its checksum and refuse it. "
               "........................................................................"
               "........................................................................"
               "........................................................................"
               "........................................................................");
    CHECK(walk(p) == CLPT_EFORMAT);
    CHECK(walk(fx_path(dir, "missing.tar.gz")) == CLPT_EIO);
}

static void test_textsrc(void)
{
    const char *txt = "plain text\n", *gz = fx_path(dir, "t.txt.gz"), *pl = fx_path(dir, "t.txt");
    fx_gz(gz, txt, strlen(txt));
    fx_text(pl, txt);
    uint64_t text, disk;
    int isgz;
    CHECK(clpt_textsrc_size(gz, &text, &disk, &isgz) == 0 && text == strlen(txt) && isgz);
    CHECK(clpt_textsrc_size(pl, &text, &disk, &isgz) == 0 && text == disk && !isgz);
    const char *paths[] = {gz, pl};
    for (int k = 0; k < 2; k++) {
        clpt_textsrc *s;
        char buf[64];
        CHECK(clpt_textsrc_open_file(&s, paths[k], 0) == 0);
        ssize_t r = clpt_textsrc_read(s, buf, sizeof buf);
        CHECK(r == (ssize_t)strlen(txt) && !memcmp(buf, txt, (size_t)r));
        CHECK(clpt_textsrc_read(s, buf, sizeof buf) == 0);
        clpt_textsrc_close(s);
    }
    /* invalid UTF-8 and NUL are counted, the bytes pass unchanged */
    const char bad[] = "ok \xc3\xa9 then \xff bad and \xe2\x82 cut\n\0nul";
    const char *bp = fx_path(dir, "bad.txt");
    fx_write(bp, bad, sizeof bad - 1);
    clpt_textsrc *s;
    char buf[128];
    CHECK(clpt_textsrc_open_file(&s, bp, 0) == 0);
    ssize_t r = clpt_textsrc_read(s, buf, sizeof buf);
    CHECK(r == (ssize_t)(sizeof bad - 1) && !memcmp(buf, bad, sizeof bad - 1));
    CHECK(clpt_textsrc_read(s, buf, sizeof buf) == 0);
    clpt_textsrc_stats st = clpt_textsrc_get_stats(s);
    CHECK(st.invalid_utf8 == 2 && st.first_invalid == 11 && st.nul_bytes == 1);
    clpt_textsrc_close(s);
    CHECK(clpt_textsrc_is_binary(bp) == 1 && clpt_textsrc_is_binary(gz) == 0);
    CHECK(clpt_textsrc_open_file(&s, fx_path(dir, "nope.txt"), 0) == CLPT_EIO &&
          strstr(clpt_errmsg(), "nope.txt"));
    CHECK(clpt_textsrc_is_html_name("a/b.HTML.gz") && clpt_textsrc_is_html_name("x.htm") &&
          !clpt_textsrc_is_html_name("x.html.txt"));
}

static uint64_t utf8_invalid(const char *s, size_t n, size_t piece)
{
    clpt_utf8_check c = {0};
    for (size_t i = 0; i < n; i += piece)
        clpt_utf8_check_feed(&c, (const uint8_t *)s + i, n - i < piece ? n - i : piece);
    clpt_utf8_check_end(&c);
    return c.st.invalid_utf8;
}

static void test_utf8(void)
{
    static const struct { const char *s; uint64_t bad; } cases[] = {
        {"plain ascii", 0}, {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0},
        {"\xc0\xaf", 2},           /* C0 is never valid; the lone continuation neither */
        {"\xe0\x80\xaf", 1},       /* overlong 3-byte form */
        {"\xed\xa0\x80", 1},       /* a surrogate */
        {"\xf4\x90\x80\x80", 1},   /* above U+10FFFF */
        {"\xe2\x82", 1},           /* cut short at the end */
        {"\xe2\x82x", 1},          /* cut short by ASCII */
        {"\x80\x80", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t piece = 1; piece <= 4; piece++)
            CHECK_MSG(utf8_invalid(cases[i].s, strlen(cases[i].s), piece) == cases[i].bad,
                      "case %zu piece %zu", i, piece);
}

/* HTML -> text, fed whole and one byte at a time: both must agree. */
static void html_both(const char *html, clpt_bytes *whole)
{
    clpt_html_filter *f = clpt_html_filter_new();
    CHECK(clpt_html_filter_feed(f, html, strlen(html), 1, whole) == 0);
    clpt_html_filter_free(f);
    clpt_bytes bytewise = {0};
    f = clpt_html_filter_new();
    for (size_t i = 0; html[i]; i++) clpt_html_filter_feed(f, html + i, 1, 0, &bytewise);
    clpt_html_filter_feed(f, "", 0, 1, &bytewise);
    clpt_html_filter_free(f);
    CHECK(bytewise.n == whole->n && (!whole->n || !memcmp(bytewise.p, whole->p, whole->n)));
    clpt_bytes_free(&bytewise);
    clpt_textsrc_bytes_add(whole, "", 1);  /* NUL-terminate for strcmp */
}

static void test_html(void)
{
    static const struct { const char *in, *out; } cases[] = {
        {"<html><head><title>T</title><style>p{x:1}</style></head>"
         "<body><h1>Title</h1><p>One  two\nthree &amp; four&nbsp;five</p>"
         "<script>if (a < b) { x = \"</p>\"; }</script><p>Six<br>seven</p></body></html>",
         "Title\n\nOne two three & four five\n\nSix\nseven\n"},
        {"<p>A &lt;tag&gt; &#8212; &#x41;&#66; &mdash; &bogus; &amp</p>",
         "A <tag> \xe2\x80\x94 AB \xe2\x80\x94 &bogus; &amp\n"},
        {"<pre>\nline 1\n  line 2\n</pre><p>after</p>", "line 1\n  line 2\n\nafter\n"},
        {"<!-- a <p> comment -- still --><p>x<!DOCTYPE y>z</p>", "xz\n"},
        {"<ul><li>a</li><li>b</li></ul><table><tr><td>1</td><td>2</td></tr></table>",
         "a\nb\n\n1 2\n"},
        {"a < b and <a href=\"x>y\">link</a> > c", "a < b and link > c\n"},
        {"<SCRIPT type=x>skip</SCRIPT >kept<STYLE>s</style>", "kept\n"},
        {"", ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        clpt_bytes out = {0};
        html_both(cases[i].in, &out);
        CHECK_MSG(!strcmp((char *)out.p, cases[i].out), "case %zu: got [%s]", i, (char *)out.p);
        clpt_bytes_free(&out);
    }
    /* through a text source: an .html.gz file */
    const char *p = fx_path(dir, "page.html.gz");
    fx_gz(p, cases[0].in, strlen(cases[0].in));
    clpt_textsrc *s;
    char buf[256];
    CHECK(clpt_textsrc_open_file(&s, p, CLPT_TEXTSRC_HTML) == 0);
    size_t n = 0;
    ssize_t r;
    while ((r = clpt_textsrc_read(s, buf + n, 5)) > 0) n += (size_t)r;
    buf[n] = '\0';
    CHECK(!strcmp(buf, cases[0].out));
    clpt_textsrc_close(s);
}

/* Cutting where prep_safe_cut says never changes the tokens. */
static void test_safe_cut(void)
{
    const char *sample_dir = getenv("CLPT_SOURCE_DIR");
    char *sample = NULL;
    size_t n = 0;
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/data/tokenizer/sample.txt", sample_dir ? sample_dir : ".");
    if (clpt_fs_read_file(path, 1 << 20, &sample, &n)) {
        sample = strdup("Hello world.  It's   a test:\n\n  indented\tline\r\n'quoted' 123 456\n");
        n = strlen(sample);
    }
    const char *tdir = fx_path(dir, "tok");
    fx_tokenizer(tdir, sample, 400);
    clpt_tokenizer *tok;
    CHECK(clpt_tokenizer_load(&tok, tdir) == 0);
    clpt_ids whole = {0};
    clpt_tokenizer_encode(tok, NULL, sample, n, 0, &whole);
    int cuts = 0;
    for (size_t end = n; end > 1; ) {  /* every safe cut, found from the back */
        size_t cut = prep_safe_cut((const uint8_t *)sample, end);
        if (!cut) break;
        clpt_ids parts = {0};
        clpt_tokenizer_encode(tok, NULL, sample, cut, 0, &parts);
        clpt_tokenizer_encode(tok, NULL, sample + cut, n - cut, 0, &parts);
        CHECK_MSG(fx_ids_equal(&parts, &whole), "cut at %zu changes the tokens", cut);
        clpt_ids_free(&parts);
        cuts++;
        end = cut;
    }
    CHECK(cuts > 10);
    CHECK(prep_safe_cut((const uint8_t *)"abc", 3) == 0);
    CHECK(prep_safe_cut((const uint8_t *)"a b", 3) == 1);
    CHECK(prep_safe_cut((const uint8_t *)"\xc3\xa9 b", 4) == 0);  /* é is not ASCII */
    clpt_ids_free(&whole);
    clpt_tokenizer_free(tok);
    free(sample);
}

int main(void)
{
    dir = fx_tmpdir("prep_io");
    test_tar_formats();
    test_tar_damage();
    test_textsrc();
    test_utf8();
    test_html();
    test_safe_cut();
    clpt_fs_remove_tree(dir);
    free(dir);
    fx_paths_free();
    CHECK_DONE();
}
