/* testdir.h - a test's scratch directory and message checks, shared by the
 * C tests that write files. Include after check.h; create the directory
 * with mkdtemp(dir) after strcpy'ing a template into it. */
#ifndef CLPT_TESTDIR_H
#define CLPT_TESTDIR_H

#include <stdio.h>
#include <string.h>

#include "clpt.h"

static char dir[64];

/* dir/name in a rotating static buffer (a few live at once). */
static const char *P(const char *name)
{
    static char buf[4][512];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

/* 1 if the last error message contains needle; says what it was otherwise */
static int has(const char *needle)
{
    if (strstr(clpt_errmsg(), needle)) return 1;
    fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", clpt_errmsg(), needle);
    return 0;
}

#endif
