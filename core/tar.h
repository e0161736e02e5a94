/* tar.h - a streaming reader of tar archives, gzip-compressed or plain.
 *
 *   clpt_tar *t;  clpt_tar_open(&t, "cs.CL.tar.gz");
 *   clpt_tar_entry e;
 *   while ((rc = clpt_tar_next(t, &e)) == 1)
 *       while ((n = clpt_tar_read(t, buf, sizeof buf)) > 0) use(buf, n);
 *   clpt_tar_close(t);
 *
 * The archive is read front to back once, never unpacked to disk, so an
 * archive of any size needs a few hundred KB of memory. Compression is
 * detected from the content (zlib reads plain files as is), not the name.
 * Formats: POSIX ustar (name prefix), GNU long names ('L'), and pax
 * extended headers ('x': path, size); global pax headers are skipped.
 * Header checksums are verified, so a corrupt or truncated archive is an
 * error (CLPT_EFORMAT naming the archive and the byte offset), never a
 * silently shorter member. */
#ifndef CLPT_TAR_H
#define CLPT_TAR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct clpt_tar clpt_tar;

enum { CLPT_TAR_FILE, CLPT_TAR_DIR, CLPT_TAR_OTHER /* links, devices, ... */ };

typedef struct clpt_tar_entry {
    const char *name;   /* path in the archive, a leading "./" removed; borrowed
                           until the next clpt_tar_next() or clpt_tar_close() */
    uint64_t size;      /* bytes of data (0 for directories) */
    int type;           /* CLPT_TAR_* */
} clpt_tar_entry;

/* Open the archive at `path`. On success *out is a new reader the caller
 * frees with clpt_tar_close(). CLPT_EIO when it cannot be opened. */
int clpt_tar_open(clpt_tar **out, const char *path);

/* Advance to the next entry, skipping what is left of the current one.
 * Returns 1 and fills *e, 0 at the end of the archive, or a negative
 * CLPT_E* (CLPT_EFORMAT: bad checksum, truncated or corrupt data). */
int clpt_tar_next(clpt_tar *t, clpt_tar_entry *e);

/* Read up to n bytes of the current entry's data into buf. Returns the
 * number read (0 at the end of the entry) or a negative CLPT_E*. */
ssize_t clpt_tar_read(clpt_tar *t, void *buf, size_t n);

/* Bytes of the archive file consumed so far (compressed bytes for a gzip
 * archive): for progress reports. */
uint64_t clpt_tar_consumed(const clpt_tar *t);

/* The path the archive was opened with; borrowed until clpt_tar_close(). */
const char *clpt_tar_path(const clpt_tar *t);

/* Close and free. NULL is a no-op. */
void clpt_tar_close(clpt_tar *t);

#endif
