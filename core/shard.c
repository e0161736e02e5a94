/* shard.c - llm.c-layout token shards: mapped reader, atomic streaming writer. */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700

#include "shard.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clpt.h"
#include "fsutil.h"

struct clpt_shard {
    char *path;
    void *map;          /* the whole file, PROT_READ */
    size_t map_bytes;
    uint64_t count;
    clpt_file_id id;    /* of the descriptor mapped */
};

/* Tokens are stored little-endian and handed out in place (no copy), which
 * is only correct on a little-endian host. */
static int host_is_le(void)
{
    const uint16_t one = 1;
    return *(const unsigned char *)&one == 1;
}

static int32_t le32(const unsigned char *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

static void put_le32(unsigned char *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    p[0] = u & 0xff; p[1] = (u >> 8) & 0xff; p[2] = (u >> 16) & 0xff; p[3] = u >> 24;
}

static int read_full(int fd, void *buf, size_t n, off_t off)
{
    unsigned char *p = buf;
    while (n) {
        ssize_t r = pread(fd, p, n, off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r; n -= (size_t)r; off += r;
    }
    return 0;
}

/* Check the three header fields against the file size. */
static int check_header(const char *path, const unsigned char *h, uint64_t fsize,
                        uint64_t *count)
{
    int32_t magic = le32(h), version = le32(h + 4), n = le32(h + 8);
    if (magic != CLPT_SHARD_MAGIC)
        return clpt_err(CLPT_EFORMAT, "%s: header[0] (magic) is %d, expected %d: "
                        "not a clpt/llm.c token shard", path, (int)magic, CLPT_SHARD_MAGIC);
    if (version != CLPT_SHARD_VERSION)
        return clpt_err(CLPT_EUNSUP, "%s: header[1] (version) is %d: unsupported "
                        "version, only %d is known", path, (int)version, CLPT_SHARD_VERSION);
    if (n < 0)
        return clpt_err(CLPT_EFORMAT, "%s: header[2] (token count) is %d, negative",
                        path, (int)n);
    uint64_t need = CLPT_SHARD_HEADER_BYTES + 2 * (uint64_t)n;
    if (need != fsize)
        return clpt_err(CLPT_EFORMAT, "%s: header[2] (token count) is %d, which needs "
                        "%llu bytes, but the file has %llu bytes (room for %llu tokens%s)",
                        path, (int)n, (unsigned long long)need, (unsigned long long)fsize,
                        (unsigned long long)((fsize - CLPT_SHARD_HEADER_BYTES) / 2),
                        (fsize - CLPT_SHARD_HEADER_BYTES) % 2 ? " and an odd byte" : "");
    *count = (uint64_t)n;
    return 0;
}

static int map_checked(clpt_shard *sh, int fd)
{
    const char *path = sh->path;
    struct stat st;
    unsigned char h[CLPT_SHARD_HEADER_BYTES];
    if (fstat(fd, &st) != 0)
        return clpt_err(CLPT_EIO, "%s: stat: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return clpt_err(CLPT_EIO, "%s: not a regular file", path);
    if ((uint64_t)st.st_size < CLPT_SHARD_HEADER_BYTES)
        return clpt_err(CLPT_EFORMAT, "%s: file is %llu bytes, shorter than the %d-byte "
                        "shard header", path, (unsigned long long)st.st_size,
                        CLPT_SHARD_HEADER_BYTES);
    if (read_full(fd, h, sizeof h, 0) != 0)
        return clpt_err(CLPT_EIO, "%s: reading the header: %s", path,
                        errno ? strerror(errno) : "short read");
    int rc = check_header(path, h, (uint64_t)st.st_size, &sh->count);
    if (rc) return rc;
    clpt_fs_file_id(&st, &sh->id);
    sh->map_bytes = (size_t)st.st_size;
    sh->map = mmap(NULL, sh->map_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (sh->map == MAP_FAILED) {
        sh->map = NULL;
        return clpt_err(CLPT_EIO, "%s: mmap: %s", path, strerror(errno));
    }
    return 0;
}

int clpt_shard_open(clpt_shard **out, const char *path)
{
    *out = NULL;
    if (!host_is_le())
        return clpt_err(CLPT_EUNSUP, "%s: shards are little-endian; this host is not", path);
    clpt_shard *sh = calloc(1, sizeof *sh);
    if (!sh || !(sh->path = strdup(path))) {
        free(sh);
        return clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));
        clpt_shard_close(sh);
        return rc;
    }
    int rc = map_checked(sh, fd);
    close(fd);  /* the mapping keeps the file */
    if (rc) {
        clpt_shard_close(sh);
        return rc;
    }
    *out = sh;
    return 0;
}

const uint16_t *clpt_shard_tokens(const clpt_shard *sh)
{
    return (const uint16_t *)((const unsigned char *)sh->map + CLPT_SHARD_HEADER_BYTES);
}

uint64_t clpt_shard_count(const clpt_shard *sh) { return sh->count; }

const char *clpt_shard_path(const clpt_shard *sh) { return sh->path; }

const void *clpt_shard_bytes(const clpt_shard *sh, size_t *bytes)
{
    *bytes = sh->map_bytes;
    return sh->map;
}

void clpt_shard_file_id(const clpt_shard *sh, clpt_file_id *id) { *id = sh->id; }

int clpt_shard_check_vocab(const clpt_shard *sh, int vocab_size)
{
    const uint16_t *t = clpt_shard_tokens(sh);
    for (uint64_t i = 0; i < sh->count; i++)
        if ((int)t[i] >= vocab_size)
            return clpt_err(CLPT_EFORMAT, "%s: token %u at position %llu is >= the "
                            "vocabulary size %d", sh->path, (unsigned)t[i],
                            (unsigned long long)i, vocab_size);
    return 0;
}

void clpt_shard_close(clpt_shard *sh)
{
    if (!sh) return;
    if (sh->map) munmap(sh->map, sh->map_bytes);
    free(sh->path);
    free(sh);
}

/* ---- streaming shard writer -------------------------------------------- */

struct clpt_shard_writer {
    clpt_afile f;       /* temporary file; renamed over the path on close */
    int failed;         /* a write failed: only abort/close remain */
    uint64_t count;
};

int clpt_shard_writer_open(clpt_shard_writer **out, const char *path)
{
    *out = NULL;
    if (!host_is_le())
        return clpt_err(CLPT_EUNSUP, "%s: shards are little-endian; this host is not", path);
    clpt_shard_writer *w = calloc(1, sizeof *w);
    if (!w) return clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
    int rc = clpt_afile_open(&w->f, path);
    if (rc) {
        free(w);
        return rc;
    }
    /* A zero header (magic 0) until commit: a leftover temporary file from a
     * killed writer never passes for a shard. */
    static const unsigned char zero[CLPT_SHARD_HEADER_BYTES];
    if (fwrite(zero, 1, sizeof zero, w->f.fp) != sizeof zero) {
        rc = clpt_err(CLPT_EIO, "%s: writing %s: %s", path, w->f.tmp, strerror(errno));
        clpt_shard_writer_abort(w);
        return rc;
    }
    *out = w;
    return 0;
}

int clpt_shard_writer_append(clpt_shard_writer *w, const uint16_t *tokens, size_t n)
{
    if (w->failed)
        return clpt_err(CLPT_ESTATE, "%s: append after a failed write", w->f.path);
    if (n > CLPT_SHARD_MAX_TOKENS - w->count)
        return clpt_err(CLPT_EINVAL, "%s: %llu + %zu tokens exceed the shard limit of "
                        "%llu (int32 header count)", w->f.path,
                        (unsigned long long)w->count, n,
                        (unsigned long long)CLPT_SHARD_MAX_TOKENS);
    if (n && fwrite(tokens, sizeof *tokens, n, w->f.fp) != n) {
        w->failed = 1;
        return clpt_err(CLPT_EIO, "%s: writing %s: %s", w->f.path, w->f.tmp,
                        strerror(errno));
    }
    w->count += n;
    return 0;
}

uint64_t clpt_shard_writer_count(const clpt_shard_writer *w) { return w->count; }

/* Fill in the real header over the zero one. */
static int write_header(clpt_shard_writer *w)
{
    unsigned char h[12];
    put_le32(h, CLPT_SHARD_MAGIC);
    put_le32(h + 4, CLPT_SHARD_VERSION);
    put_le32(h + 8, (int32_t)w->count);
    if (fflush(w->f.fp) != 0 || fseek(w->f.fp, 0, SEEK_SET) != 0 ||
        fwrite(h, 1, sizeof h, w->f.fp) != sizeof h)
        return clpt_err(CLPT_EIO, "%s: writing the header of %s: %s", w->f.path,
                        w->f.tmp, strerror(errno));
    return 0;
}

int clpt_shard_writer_close(clpt_shard_writer *w)
{
    int rc = w->failed ? clpt_err(CLPT_ESTATE, "%s: not committed: an earlier write "
                                  "failed", w->f.path)
                       : write_header(w);
    if (rc) {
        clpt_shard_writer_abort(w);
        return rc;
    }
    rc = clpt_afile_commit(&w->f);  /* releases f whatever happens */
    free(w);
    return rc;
}

void clpt_shard_writer_abort(clpt_shard_writer *w)
{
    if (!w) return;
    clpt_afile_abort(&w->f);
    free(w);
}

int clpt_shard_write(const char *path, const uint16_t *tokens, size_t n)
{
    clpt_shard_writer *w;
    int rc = clpt_shard_writer_open(&w, path);
    if (rc) return rc;
    rc = clpt_shard_writer_append(w, tokens, n);
    if (rc) {
        clpt_shard_writer_abort(w);
        return rc;
    }
    return clpt_shard_writer_close(w);
}
