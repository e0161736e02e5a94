/* clpt.h - common definitions: error codes and the error-message channel.
 *
 * Every fallible clpt function returns an int: 0 on success or a negative
 * CLPT_E* code. The human-readable reason (naming the file, line, key or
 * tensor involved) is kept in a thread-local buffer read with clpt_errmsg().
 * Only main() exits. */
#ifndef CLPT_H
#define CLPT_H

#include <stddef.h>
#include <stdint.h>

#define CLPT_VERSION "0.1.0"

enum {
    CLPT_OK = 0,
    CLPT_EIO = -1,      /* open/read/write/fsync/rename failed */
    CLPT_EFORMAT = -2,  /* malformed file contents */
    CLPT_ENOMEM = -3,   /* allocation failed */
    CLPT_EINVAL = -4,   /* bad argument or value */
    CLPT_ECONFIG = -5,  /* bad configuration key or value */
    CLPT_EUNSUP = -6,   /* valid but unsupported (dtype, shape, backend) */
    CLPT_ESTATE = -7,   /* call made in the wrong state */
};

/* Set the thread's last error message (printf-style) and return `code`, so
 * a failure reads `return clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));` */
int clpt_err(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Prefix the current message with more context ("loading x: " + old). */
int clpt_err_wrap(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The thread's last error message; borrowed until the next clpt_err call on
 * this thread. Empty string if none. */
const char *clpt_errmsg(void);

/* Short name of an error code ("io", "format", ...). */
const char *clpt_errname(int code);

#endif
