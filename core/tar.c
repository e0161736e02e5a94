/* tar.c - streaming tar reader over zlib's gzFile (which also reads plain
 * files), see tar.h. */
#define _POSIX_C_SOURCE 200809L
#include "tar.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "clpt.h"

#define BLOCK 512
#define MAX_LONGNAME (64 * 1024)

struct clpt_tar {
    gzFile gz;
    char *path;
    uint64_t pos;        /* uncompressed bytes read so far (for messages) */
    uint64_t left;       /* data bytes of the current entry not yet read */
    uint64_t pad;        /* padding after the current entry's data */
    char *name;          /* current entry's name (owned) */
    char *long_name;     /* from a GNU 'L' or pax 'x' header, for the next entry */
    uint64_t pax_size;   /* size override from a pax header, or UINT64_MAX */
    int ended;
};

int clpt_tar_open(clpt_tar **out, const char *path)
{
    *out = NULL;
    clpt_tar *t = calloc(1, sizeof *t);
    if (!t || !(t->path = strdup(path))) {
        free(t);
        return clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
    }
    t->pax_size = UINT64_MAX;
    t->gz = gzopen(path, "rb");
    if (!t->gz) {
        int rc = clpt_err(CLPT_EIO, "%s: %s", path, errno ? strerror(errno) : "cannot open");
        clpt_tar_close(t);
        return rc;
    }
    gzbuffer(t->gz, 256 * 1024);
    *out = t;
    return 0;
}

void clpt_tar_close(clpt_tar *t)
{
    if (!t) return;
    if (t->gz) gzclose(t->gz);
    free(t->name);
    free(t->long_name);
    free(t->path);
    free(t);
}

const char *clpt_tar_path(const clpt_tar *t) { return t->path; }

uint64_t clpt_tar_consumed(const clpt_tar *t)
{
    z_off_t off = gzoffset(t->gz);
    return off > 0 ? (uint64_t)off : 0;
}

/* Read exactly n bytes (n <= INT_MAX): 0, or CLPT_EFORMAT on a short read
 * or a zlib error, naming the archive and offset. With eof_ok, a clean end
 * of the data before the first byte returns 1 instead. */
static int read_exact(clpt_tar *t, void *buf, size_t n, int eof_ok)
{
    int r = gzread(t->gz, buf, (unsigned)n);
    int zerr = Z_OK;
    const char *zmsg = r < 0 || (size_t)r < n ? gzerror(t->gz, &zerr) : "";
    size_t plen = strlen(t->path);  /* zlib puts the path in front: drop it */
    if (!strncmp(zmsg, t->path, plen) && !strncmp(zmsg + plen, ": ", 2)) zmsg += plen + 2;
    if (r > 0) t->pos += (uint64_t)r;
    if (r < 0 || (zerr != Z_OK && zerr != Z_STREAM_END))
        return clpt_err(CLPT_EFORMAT, "%s: corrupt archive near byte %llu: %s", t->path,
                        (unsigned long long)t->pos, zmsg);
    if (r == 0 && eof_ok) return 1;
    if ((size_t)r < n)
        return clpt_err(CLPT_EFORMAT, "%s: truncated archive: ends at byte %llu inside "
                        "an entry", t->path, (unsigned long long)t->pos);
    return 0;
}

static int skip_bytes(clpt_tar *t, uint64_t n)
{
    char buf[16 * 1024];
    while (n > 0) {
        size_t k = n < sizeof buf ? (size_t)n : sizeof buf;
        int rc = read_exact(t, buf, k, 0);
        if (rc) return rc;
        n -= k;
    }
    return 0;
}

/* Octal field (space/NUL terminated), or GNU base-256 when the top bit of
 * the first byte is set. -1 on garbage. */
static int64_t parse_num(const unsigned char *f, size_t len)
{
    if (f[0] & 0x80) {
        uint64_t v = f[0] & 0x3f;
        for (size_t i = 1; i < len; i++) {
            if (v >> 55) return -1;
            v = (v << 8) | f[i];
        }
        return (int64_t)v;
    }
    size_t i = 0;
    while (i < len && f[i] == ' ') i++;
    uint64_t v = 0;
    int digits = 0;
    for (; i < len && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (v >> 60) return -1;
        v = v * 8 + (uint64_t)(f[i] - '0');
    }
    if (i < len && f[i] != ' ' && f[i] != '\0') return -1;
    return digits ? (int64_t)v : -1;
}

/* Unsigned (POSIX) or signed (old implementations) header checksums. */
static int checksum_ok(const unsigned char *h)
{
    int64_t want = parse_num(h + 148, 8);
    uint64_t us = 0;
    int64_t ss = 0;
    for (int i = 0; i < BLOCK; i++) {
        unsigned char c = (i >= 148 && i < 156) ? ' ' : h[i];
        us += c;
        ss += (signed char)c;
    }
    return want >= 0 && ((uint64_t)want == us || want == ss);
}

static int is_zero_block(const unsigned char *h)
{
    for (int i = 0; i < BLOCK; i++)
        if (h[i]) return 0;
    return 1;
}

/* Read a special entry's data (a long name or pax records) into a new
 * NUL-terminated string. */
static int read_meta(clpt_tar *t, uint64_t size, char **out)
{
    if (size > MAX_LONGNAME)
        return clpt_err(CLPT_EFORMAT, "%s: corrupt archive: a %llu-byte name record near "
                        "byte %llu", t->path, (unsigned long long)size,
                        (unsigned long long)t->pos);
    char *s = malloc((size_t)size + 1);
    if (!s) return clpt_err(CLPT_ENOMEM, "%s: out of memory", t->path);
    int rc = read_exact(t, s, (size_t)size, 0);
    if (!rc) rc = skip_bytes(t, (BLOCK - size % BLOCK) % BLOCK);
    if (rc) {
        free(s);
        return rc;
    }
    s[size] = '\0';
    *out = s;
    return 0;
}

/* Apply the "path" and "size" records of a pax header ("LEN key=value\n"). */
static int apply_pax(clpt_tar *t, char *rec, uint64_t size)
{
    char *p = rec, *end = rec + size;
    while (p < end) {
        char *sp;
        long len = strtol(p, &sp, 10);
        if (len <= 0 || *sp != ' ' || len > end - p || p[len - 1] != '\n')
            return clpt_err(CLPT_EFORMAT, "%s: corrupt pax header near byte %llu", t->path,
                            (unsigned long long)t->pos);
        char *kv = sp + 1, *eq = memchr(kv, '=', (size_t)(p + len - 1 - kv));
        if (eq) {
            p[len - 1] = '\0';
            if (!strncmp(kv, "path=", 5)) {
                free(t->long_name);
                if (!(t->long_name = strdup(eq + 1)))
                    return clpt_err(CLPT_ENOMEM, "%s: out of memory", t->path);
            } else if (!strncmp(kv, "size=", 5)) {
                t->pax_size = strtoull(eq + 1, NULL, 10);
            }
        }
        p += len;
    }
    return 0;
}

/* The entry's name from the header fields (ustar prefix + name), unless a
 * long-name record came before it. */
static int take_name(clpt_tar *t, const unsigned char *h)
{
    free(t->name);
    t->name = NULL;
    if (t->long_name) {
        t->name = t->long_name;
        t->long_name = NULL;
    } else {
        char buf[256 + 2];
        size_t n = 0;
        if (!memcmp(h + 257, "ustar", 5) && h[345]) {
            n = strnlen((const char *)h + 345, 155);
            memcpy(buf, h + 345, n);
            buf[n++] = '/';
        }
        size_t k = strnlen((const char *)h, 100);
        memcpy(buf + n, h, k);
        buf[n + k] = '\0';
        if (!(t->name = strdup(buf))) return clpt_err(CLPT_ENOMEM, "%s: out of memory", t->path);
    }
    char *s = t->name;
    while (s[0] == '.' && s[1] == '/') s += 2;
    memmove(t->name, s, strlen(s) + 1);
    return 0;
}

/* Read one header block: 1 = got a header, 0 = end of archive. */
static int read_header(clpt_tar *t, unsigned char *h)
{
    /* A plain tar may end without the zero blocks; a gzip stream cut
     * short is still caught by zlib as an unexpected end of file. */
    int rc = read_exact(t, h, BLOCK, 1);
    if (rc == 1) return 0;
    if (rc) return rc;
    if (is_zero_block(h)) return 0;  /* end marker (the second zero block is not needed) */
    if (!checksum_ok(h))
        return clpt_err(CLPT_EFORMAT, "%s: corrupt archive: bad header checksum at byte %llu",
                        t->path, (unsigned long long)(t->pos - BLOCK));
    return 1;
}

int clpt_tar_next(clpt_tar *t, clpt_tar_entry *e)
{
    if (t->ended) return 0;
    int rc = skip_bytes(t, t->left + t->pad);
    t->left = t->pad = 0;
    if (rc) return rc;
    for (;;) {
        unsigned char h[BLOCK];
        if ((rc = read_header(t, h)) <= 0) {
            if (rc == 0) t->ended = 1;
            return rc;
        }
        int64_t size = parse_num(h + 124, 12);
        if (size < 0)
            return clpt_err(CLPT_EFORMAT, "%s: corrupt archive: bad size field at byte %llu",
                            t->path, (unsigned long long)(t->pos - BLOCK));
        char flag = (char)h[156];
        if (flag == 'L' || flag == 'x' || flag == 'g') {
            char *meta = NULL;
            if ((rc = read_meta(t, (uint64_t)size, &meta))) return rc;
            if (flag == 'L') {
                free(t->long_name);
                t->long_name = meta;
                continue;
            }
            rc = flag == 'x' ? apply_pax(t, meta, (uint64_t)size) : 0;
            free(meta);
            if (rc) return rc;
            continue;
        }
        if ((rc = take_name(t, h))) return rc;
        uint64_t sz = t->pax_size != UINT64_MAX ? t->pax_size : (uint64_t)size;
        t->pax_size = UINT64_MAX;
        int type = (flag == '0' || flag == '\0' || flag == '7') ? CLPT_TAR_FILE
                 : flag == '5' ? CLPT_TAR_DIR : CLPT_TAR_OTHER;
        /* links and devices carry no data even when the size field says so */
        if (flag == '1' || flag == '2' || flag == '3' || flag == '4' || flag == '6') sz = 0;
        t->left = sz;
        t->pad = (BLOCK - sz % BLOCK) % BLOCK;
        *e = (clpt_tar_entry){.name = t->name, .size = type == CLPT_TAR_DIR ? 0 : sz,
                              .type = type};
        return 1;
    }
}

ssize_t clpt_tar_read(clpt_tar *t, void *buf, size_t n)
{
    if (n > t->left) n = (size_t)t->left;
    if (n > (1u << 30)) n = 1u << 30;
    if (n == 0) return 0;
    int rc = read_exact(t, buf, n, 0);
    if (rc) return rc;
    t->left -= n;
    return (ssize_t)n;
}
