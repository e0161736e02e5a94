/* error.c - the thread-local error message behind clpt_err(). */
#include "clpt.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char errbuf[1024];

int clpt_err(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errbuf, sizeof errbuf, fmt, ap);
    va_end(ap);
    return code;
}

int clpt_err_wrap(int code, const char *fmt, ...)
{
    char old[sizeof errbuf], pre[512];
    va_list ap;
    memcpy(old, errbuf, sizeof old);
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    snprintf(errbuf, sizeof errbuf, "%s%s", pre, old);
    return code;
}

const char *clpt_errmsg(void) { return errbuf; }

const char *clpt_errname(int code)
{
    switch (code) {
    case CLPT_OK: return "ok";
    case CLPT_EIO: return "io";
    case CLPT_EFORMAT: return "format";
    case CLPT_ENOMEM: return "nomem";
    case CLPT_EINVAL: return "invalid";
    case CLPT_ECONFIG: return "config";
    case CLPT_EUNSUP: return "unsupported";
    case CLPT_ESTATE: return "state";
    default: return "error";
    }
}
