/* fsutil.c - durable writes and small file-system helpers (POSIX). */
#define _XOPEN_SOURCE 700
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clpt.h"

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

void clpt_fs_file_id(const struct stat *st, clpt_file_id *id)
{
    id->dev = (uint64_t)st->st_dev;
    id->ino = (uint64_t)st->st_ino;
    id->size = (uint64_t)st->st_size;
    id->mtime_ns = (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
    id->ctime_ns = (int64_t)st->st_ctim.tv_sec * 1000000000 + st->st_ctim.tv_nsec;
}

char *clpt_fs_join(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *s = malloc(na + nb + 2);
    if (!s) return NULL;
    memcpy(s, a, na);
    s[na] = '/';
    memcpy(s + na + 1, b, nb + 1);
    return s;
}

int clpt_fs_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int clpt_fs_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int clpt_fs_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return clpt_err(CLPT_EIO, "%s: open directory: %s", dir, strerror(errno));
    /* Some file systems refuse fsync on directories (EINVAL); there is
     * nothing more we can do there, so that is not an error. */
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS) {
        int e = errno;
        close(fd);
        return clpt_err(CLPT_EIO, "%s: fsync directory: %s", dir, strerror(e));
    }
    close(fd);
    return 0;
}

int clpt_fs_fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return clpt_fs_fsync_dir(".");
    if (slash == path) return clpt_fs_fsync_dir("/");
    char *dir = malloc((size_t)(slash - path) + 1);
    if (!dir) return clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    int rc = clpt_fs_fsync_dir(dir);
    free(dir);
    return rc;
}

int clpt_afile_open(clpt_afile *f, const char *path)
{
    memset(f, 0, sizeof *f);
    size_t n = strlen(path);
    f->path = str_dup(path);
    f->tmp = malloc(n + sizeof ".tmp.XXXXXX");
    if (!f->path || !f->tmp) {
        clpt_afile_abort(f);
        return clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
    }
    /* A fresh name, created with O_EXCL and mode 0666 so that the kernel
     * applies the umask (mkstemp makes 0600 files, and reading the umask
     * means setting it, which races with other threads creating files). */
    static unsigned counter;
    int fd = -1, e = EEXIST;
    for (int tries = 0; fd < 0 && e == EEXIST && tries < 100; tries++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned x = (unsigned)getpid() * 2654435761u ^ (unsigned)ts.tv_nsec ^ (++counter * 40503u);
        snprintf(f->tmp, n + sizeof ".tmp.XXXXXX", "%s.tmp.%06x", path, x & 0xffffffu);
        fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        e = fd < 0 ? errno : 0;
    }
    if (fd < 0) {
        free(f->tmp);
        f->tmp = NULL;  /* nothing was created: abort must not unlink */
        clpt_afile_abort(f);
        return clpt_err(CLPT_EIO, "%s: create temporary file: %s", path, strerror(e));
    }
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        close(fd);
        clpt_afile_abort(f);
        return clpt_err(CLPT_EIO, "%s: fdopen: %s", path, strerror(errno));
    }
    return 0;
}

void clpt_afile_abort(clpt_afile *f)
{
    if (f->fp) fclose(f->fp);
    if (f->tmp) unlink(f->tmp);
    free(f->tmp);
    free(f->path);
    memset(f, 0, sizeof *f);
}

int clpt_afile_commit(clpt_afile *f)
{
    const char *what = NULL;
    int e = 0;
    /* after an earlier failed write, fflush retries what is buffered and
     * usually gives the real reason (ENOSPC, EFBIG) */
    if (fflush(f->fp) != 0) what = "write", e = errno;
    else if (ferror(f->fp)) what = "write", e = EIO;
    else if (fsync(fileno(f->fp)) != 0) what = "fsync", e = errno;
    int closed = fclose(f->fp);
    f->fp = NULL;
    if (!what && closed != 0) what = "close", e = errno;
    if (!what && rename(f->tmp, f->path) != 0) what = "rename", e = errno;
    if (what) {
        int rc = clpt_err(CLPT_EIO, "%s: %s: %s", f->path, what, strerror(e));
        clpt_afile_abort(f);
        return rc;
    }
    free(f->tmp);
    f->tmp = NULL;  /* renamed: nothing to unlink any more */
    int rc = clpt_fs_fsync_parent(f->path);
    clpt_afile_abort(f);
    return rc;
}

int clpt_fs_append(int fd, const char *path, const void *data, size_t n, int sync)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return clpt_err(CLPT_EIO, "%s: stat: %s", path, strerror(errno));
    const char *p = data, *what = NULL;
    int e = 0;
    for (size_t done = 0; done < n;) {
        ssize_t k = write(fd, p + done, n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            what = "write", e = k < 0 ? errno : EIO;
            break;
        }
        done += (size_t)k;
    }
    if (!what && sync && fsync(fd) != 0) what = "fsync", e = errno;
    if (!what) return 0;
    /* shrinking is allowed on a full disk and under a file-size limit */
    if (ftruncate(fd, st.st_size) != 0)
        return clpt_err(CLPT_EIO, "%s: %s: %s (and cutting back the partial record failed: %s)",
                        path, what, strerror(e), strerror(errno));
    return clpt_err(CLPT_EIO, "%s: %s: %s", path, what, strerror(e));
}

int clpt_fs_write_atomic(const char *path, const void *data, size_t n)
{
    clpt_afile f;
    int rc = clpt_afile_open(&f, path);
    if (rc) return rc;
    if (n && fwrite(data, 1, n, f.fp) != n) {
        rc = clpt_err(CLPT_EIO, "%s: write: %s", path, strerror(errno));
        clpt_afile_abort(&f);
        return rc;
    }
    return clpt_afile_commit(&f);
}

int clpt_fs_read_file(const char *path, size_t max_bytes, char **out, size_t *len)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return clpt_err(CLPT_EIO, "%s: not a regular file", path);
    }
    if ((unsigned long long)st.st_size > max_bytes) {
        fclose(fp);
        return clpt_err(CLPT_EFORMAT, "%s: file too large (%lld bytes, limit %zu)",
                        path, (long long)st.st_size, max_bytes);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(fp);
        return clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, n, fp);
    int bad = ferror(fp);
    fclose(fp);
    if (bad || got != n) {
        free(buf);
        return clpt_err(CLPT_EIO, "%s: short read", path);
    }
    buf[n] = '\0';
    *out = buf;
    if (len) *len = n;
    return 0;
}

int clpt_fs_mkdir_p(const char *path)
{
    char *p = str_dup(path);
    if (!p) return clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
    int rc = 0;
    for (char *s = p + 1; ; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
            rc = clpt_err(CLPT_EIO, "%s: mkdir: %s", p, strerror(errno));
            break;
        }
        *s = c;
        if (!c) break;
    }
    if (!rc && !clpt_fs_is_dir(path))
        rc = clpt_err(CLPT_EIO, "%s: exists and is not a directory", path);
    free(p);
    return rc;
}

/* nftw gives no user pointer; the first failure is kept here. */
static _Thread_local int rm_errno;
static _Thread_local char rm_path[512];

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    int r = (type == FTW_DP) ? rmdir(path) : unlink(path);
    if (r != 0 && errno != ENOENT && !rm_errno) {
        rm_errno = errno;
        snprintf(rm_path, sizeof rm_path, "%s", path);
    }
    return 0;  /* keep going: remove as much as possible */
}

int clpt_fs_remove_tree(const char *path)
{
    if (!clpt_fs_exists(path)) return 0;
    rm_errno = 0;
    rm_path[0] = '\0';
    if (nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return clpt_err(CLPT_EIO, "%s: remove: %s", path, strerror(errno));
    if (rm_errno)
        return clpt_err(CLPT_EIO, "%s: remove: %s", rm_path, strerror(rm_errno));
    return 0;
}

int clpt_fs_lock_dir(const char *dir, const char *what)
{
    char *path = clpt_fs_join(dir, ".lock");
    if (!path) return clpt_err(CLPT_ENOMEM, "%s: out of memory", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    int rc = 0;
    if (fd < 0) {
        rc = clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        rc = errno == EWOULDBLOCK
                 ? clpt_err(CLPT_ESTATE, "%s %s is in use by another process (it holds %s); two writers of one "
                                         "folder would destroy each other's work", what, dir, path)
                 : clpt_err(CLPT_EIO, "%s: flock: %s", path, strerror(errno));
        close(fd);
    }
    free(path);
    return rc ? rc : fd;
}
