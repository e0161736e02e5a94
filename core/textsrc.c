/* textsrc.c - streamed text inputs (plain, gzip, tar members, HTML) and a
 * streamed UTF-8 checker, see textsrc.h. */
#define _POSIX_C_SOURCE 200809L
#include "textsrc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

#include "clpt.h"

#define RAW_BUF (256 * 1024)

struct clpt_textsrc {
    gzFile gz;              /* file sources */
    clpt_tar *tar;          /* tar member sources (borrowed) */
    char *name;
    clpt_html_filter *html; /* NULL unless converting */
    uint8_t *raw;           /* HTML only: raw bytes before conversion */
    clpt_bytes out;         /* HTML only: converted text not yet returned */
    size_t out_pos;
    int raw_end;            /* the underlying data is exhausted */
    clpt_utf8_check check;
};

int clpt_textsrc_bytes_add(clpt_bytes *b, const void *p, size_t n)
{
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->n < n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) return clpt_err(CLPT_ENOMEM, "out of memory (%zu bytes)", cap);
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, p, n);
    b->n += n;
    return 0;
}

static int src_new(clpt_textsrc **out, const char *name, int flags)
{
    clpt_textsrc *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s || !(s->name = strdup(name))) goto nomem;
    if (flags & CLPT_TEXTSRC_HTML) {
        if (!(s->html = clpt_html_filter_new()) || !(s->raw = malloc(RAW_BUF))) goto nomem;
    }
    *out = s;
    return 0;
nomem:
    clpt_textsrc_close(s);
    return clpt_err(CLPT_ENOMEM, "%s: out of memory", name);
}

int clpt_textsrc_open_file(clpt_textsrc **out, const char *path, int flags)
{
    *out = NULL;
    clpt_textsrc *s = NULL;
    int rc = src_new(&s, path, flags);
    if (rc) return rc;
    errno = 0;
    if (!(s->gz = gzopen(path, "rb"))) {
        rc = clpt_err(CLPT_EIO, "%s: %s", path, errno ? strerror(errno) : "cannot open");
        clpt_textsrc_close(s);
        return rc;
    }
    gzbuffer(s->gz, RAW_BUF);
    *out = s;
    return 0;
}

int clpt_textsrc_open_tar(clpt_textsrc **out, clpt_tar *tar, const char *name, int flags)
{
    *out = NULL;
    clpt_textsrc *s = NULL;
    int rc = src_new(&s, name, flags);
    if (rc) return rc;
    s->tar = tar;
    *out = s;
    return 0;
}

void clpt_textsrc_close(clpt_textsrc *s)
{
    if (!s) return;
    if (s->gz) gzclose(s->gz);
    clpt_html_filter_free(s->html);
    clpt_bytes_free(&s->out);
    free(s->raw);
    free(s->name);
    free(s);
}

const char *clpt_textsrc_name(const clpt_textsrc *s) { return s->name; }

clpt_textsrc_stats clpt_textsrc_get_stats(const clpt_textsrc *s) { return s->check.st; }

uint64_t clpt_textsrc_consumed(const clpt_textsrc *s)
{
    if (!s->gz) return 0;
    z_off_t off = gzoffset(s->gz);
    return off > 0 ? (uint64_t)off : 0;
}

/* Bytes straight from the file or tar member. */
static ssize_t raw_read(clpt_textsrc *s, void *buf, size_t n)
{
    if (s->tar) return clpt_tar_read(s->tar, buf, n);  /* errors name the archive */
    if (n > (1u << 30)) n = 1u << 30;
    int r = gzread(s->gz, buf, (unsigned)n);
    int zerr = Z_OK;
    const char *msg = (r < 0 || (size_t)r < n) ? gzerror(s->gz, &zerr) : "";
    size_t plen = strlen(s->name);  /* zlib puts the path in front: drop it */
    if (!strncmp(msg, s->name, plen) && !strncmp(msg + plen, ": ", 2)) msg += plen + 2;
    if (r < 0 || (zerr != Z_OK && zerr != Z_STREAM_END))
        return clpt_err(zerr == Z_ERRNO ? CLPT_EIO : CLPT_EFORMAT, "%s: %s%s", s->name,
                        zerr == Z_ERRNO ? "read error: " : "corrupt compressed data: ",
                        zerr == Z_ERRNO ? strerror(errno) : msg);
    return r;
}

/* Converted bytes: refill s->out from the raw stream through the filter. */
static ssize_t html_read(clpt_textsrc *s, void *buf, size_t n)
{
    while (s->out_pos == s->out.n && !s->raw_end) {
        s->out.n = s->out_pos = 0;
        ssize_t r = raw_read(s, s->raw, RAW_BUF);
        if (r < 0) return r;
        s->raw_end = r == 0;
        if (clpt_html_filter_feed(s->html, s->raw, (size_t)r, s->raw_end, &s->out))
            return clpt_err(CLPT_ENOMEM, "%s: out of memory", s->name);
    }
    size_t k = s->out.n - s->out_pos;
    if (k > n) k = n;
    memcpy(buf, s->out.p + s->out_pos, k);
    s->out_pos += k;
    return (ssize_t)k;
}

ssize_t clpt_textsrc_read(clpt_textsrc *s, void *buf, size_t n)
{
    ssize_t r = s->html ? html_read(s, buf, n) : raw_read(s, buf, n);
    if (r > 0) clpt_utf8_check_feed(&s->check, buf, (size_t)r);
    if (r == 0) clpt_utf8_check_end(&s->check);
    return r;
}

/* ---- file facts ----------------------------------------------------------- */

int clpt_textsrc_size(const char *path, uint64_t *text, uint64_t *disk, int *is_gzip)
{
    struct stat st;
    if (stat(path, &st) != 0) return clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));
    *disk = *text = (uint64_t)st.st_size;
    if (is_gzip) *is_gzip = 0;
    if (st.st_size < 18) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));
    unsigned char head[2], tail[4];
    int ok = fread(head, 1, 2, f) == 2 && fseek(f, -4, SEEK_END) == 0 &&
             fread(tail, 1, 4, f) == 4;
    fclose(f);
    if (!ok) return clpt_err(CLPT_EIO, "%s: read error", path);
    if (head[0] == 0x1f && head[1] == 0x8b) {
        *text = (uint64_t)tail[0] | (uint64_t)tail[1] << 8 | (uint64_t)tail[2] << 16 |
                (uint64_t)tail[3] << 24;
        if (is_gzip) *is_gzip = 1;
    }
    return 0;
}

int clpt_textsrc_is_binary(const char *path)
{
    clpt_textsrc *s;
    int rc = clpt_textsrc_open_file(&s, path, 0);
    if (rc) return rc;
    char buf[8192];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t r = clpt_textsrc_read(s, buf + got, sizeof buf - got);
        if (r < 0) {
            clpt_textsrc_close(s);
            return (int)r;
        }
        if (r == 0) break;
        got += (size_t)r;
    }
    clpt_textsrc_close(s);
    return memchr(buf, 0, got) != NULL;
}

static int ends_with_ci(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && !strncasecmp(s + n - k, suf, k);
}

int clpt_textsrc_is_html_name(const char *name)
{
    size_t n = strlen(name);
    if (ends_with_ci(name, n, ".gz")) n -= 3;
    return ends_with_ci(name, n, ".html") || ends_with_ci(name, n, ".htm") ||
           ends_with_ci(name, n, ".xhtml");
}

/* ---- UTF-8 ---------------------------------------------------------------- */

static void bad_seq(clpt_utf8_check *c, uint64_t at)
{
    if (!c->st.invalid_utf8++) c->st.first_invalid = at;
}

/* 8 bytes of ASCII without NUL: the common case, checked a word at a time. */
static int plain_ascii8(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return !(w & 0x8080808080808080ULL) &&
           !((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL);
}

void clpt_utf8_check_feed(clpt_utf8_check *c, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while (!c->need && i + 8 <= n && plain_ascii8(p + i)) i += 8;
        if (i == n) break;
        uint8_t b = p[i];
        uint64_t at = c->st.bytes + i;
        if (c->need) {
            if ((b & 0xC0) == 0x80) {
                c->cp = (c->cp << 6) | (b & 0x3F);
                if (--c->need == 0 &&
                    (c->cp < c->min || c->cp > 0x10FFFF || (c->cp >= 0xD800 && c->cp <= 0xDFFF)))
                    bad_seq(c, c->start);
                continue;
            }
            bad_seq(c, c->start);  /* cut short; b starts afresh below */
            c->need = 0;
        }
        if (b < 0x80) {
            if (!b) c->st.nul_bytes++;
        } else if (b >= 0xC2 && b <= 0xDF) {
            c->need = 1, c->cp = b & 0x1F, c->min = 0x80, c->start = at;
        } else if (b >= 0xE0 && b <= 0xEF) {
            c->need = 2, c->cp = b & 0x0F, c->min = 0x800, c->start = at;
        } else if (b >= 0xF0 && b <= 0xF4) {
            c->need = 3, c->cp = b & 0x07, c->min = 0x10000, c->start = at;
        } else {
            bad_seq(c, at);
        }
    }
    c->st.bytes += n;
}

void clpt_utf8_check_end(clpt_utf8_check *c)
{
    if (c->need) bad_seq(c, c->start);
    c->need = 0;
}
