/* fsutil.h - small POSIX file-system helpers for durable, crash-safe writes.
 *
 * A file written with clpt_afile is either the old version or the complete
 * new one after a crash at any moment: bytes go to a temporary file in the
 * same directory (same file system, so rename() is atomic), which is
 * fsync'ed, renamed over the target, and the directory is fsync'ed so the
 * rename itself is durable. All functions return 0 or a negative CLPT_E*
 * code with a message naming the path. */
#ifndef CLPT_FSUTIL_H
#define CLPT_FSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct stat;

/* An atomic file being written. Open with clpt_afile_open(), write to `fp`
 * (plain stdio), then exactly one of clpt_afile_commit() / clpt_afile_abort().
 * Both release everything the struct holds. */
typedef struct clpt_afile {
    FILE *fp;     /* write here; owned by the struct */
    char *path;   /* final path (owned copy) */
    char *tmp;    /* temporary path "<path>.tmp.XXXXXX" (owned) */
} clpt_afile;

int clpt_afile_open(clpt_afile *f, const char *path);
/* Flush, fsync, close, rename over `path`, fsync the directory. On failure
 * the temporary file is removed and `path` is left as it was. */
int clpt_afile_commit(clpt_afile *f);
/* Close and remove the temporary file; `path` is untouched. Safe on a
 * zeroed or already-finished struct. */
void clpt_afile_abort(clpt_afile *f);

/* Write `n` bytes to `path` atomically (the clpt_afile protocol). */
int clpt_fs_write_atomic(const char *path, const void *data, size_t n);

/* Append one record of `n` bytes to the file open on `fd` (opened with
 * O_APPEND) and, with `sync`, fsync it. All or nothing: when a write fails
 * part-way (a full disk, a file-size limit) the file is cut back to its
 * previous length, so earlier records stay intact and no torn record is
 * left behind. The error names `path` and the reason. Assumes one writer
 * (the cut-back would remove another writer's record): the run folder's
 * lock (clpt_fs_lock_dir) makes sure of it. */
int clpt_fs_append(int fd, const char *path, const void *data, size_t n, int sync);

/* Read a whole regular file into a NUL-terminated buffer (caller frees with
 * free()). Files larger than `max_bytes` are refused (CLPT_EFORMAT).
 * *len (may be NULL) receives the length without the NUL. */
int clpt_fs_read_file(const char *path, size_t max_bytes, char **out, size_t *len);

/* fsync a directory so that entries created/renamed in it are durable. */
int clpt_fs_fsync_dir(const char *dir);
/* fsync the directory holding `path` ("." when it has no slash). */
int clpt_fs_fsync_parent(const char *path);

/* mkdir -p with mode 0777 (before umask). Existing directories are fine. */
int clpt_fs_mkdir_p(const char *path);

/* Claim folder `dir` for this process: an exclusive flock on "<dir>/.lock",
 * held until the returned descriptor is closed (or the process ends, however
 * it ends). CLPT_ESTATE, naming the folder, when another process holds it:
 * two writers of one run would cut each other's journal lines back and
 * delete each other's checkpoints. `what` names the folder's role in the
 * message ("run", "train.out_dir"). Returns the descriptor (>= 0) or a
 * negative CLPT_E code. */
int clpt_fs_lock_dir(const char *dir, const char *what);

/* Remove a file or a directory tree. Symbolic links are removed, never
 * followed. A missing path is success. */
int clpt_fs_remove_tree(const char *path);

/* 1 if `path` exists (any type; links not followed), else 0. */
int clpt_fs_exists(const char *path);
/* 1 if `path` is a directory (links followed), else 0. */
int clpt_fs_is_dir(const char *path);

/* What tells a file's contents apart without reading them: writing to a
 * file, truncating it, or replacing it (rename, copy) changes at least one
 * field, since the change time cannot be set by users. A change below the
 * file system (a failing disk) changes none. */
typedef struct clpt_file_id {
    uint64_t dev, ino, size;
    int64_t mtime_ns, ctime_ns;
} clpt_file_id;

/* The identity of the file `st` describes (from stat or fstat). */
void clpt_fs_file_id(const struct stat *st, clpt_file_id *id);

/* "<a>/<b>" in a malloc'ed string (caller frees); NULL on allocation failure. */
char *clpt_fs_join(const char *a, const char *b);

#endif
