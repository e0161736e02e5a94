/* check.h - the tiny assertion kit of clpt's C tests.
 * A test program returns 0 on success, 1 on failure, 77 to be skipped. */
#ifndef CLPT_CHECK_H
#define CLPT_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures;

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            check_failures++;                                                  \
        }                                                                      \
    } while (0)

#define CHECK_MSG(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__,   \
                    #cond);                                                    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            check_failures++;                                                  \
        }                                                                      \
    } while (0)

/* |a-b| <= tol * max(1, |b|) */
#define CHECK_CLOSE(a, b, tol)                                                 \
    do {                                                                       \
        double ca_ = (a), cb_ = (b);                                           \
        double d_ = fabs(ca_ - cb_), s_ = fabs(cb_) > 1 ? fabs(cb_) : 1;       \
        if (!(d_ <= (tol) * s_)) {                                             \
            fprintf(stderr, "%s:%d: CHECK_CLOSE failed: %s=%g %s=%g\n",        \
                    __FILE__, __LINE__, #a, ca_, #b, cb_);                     \
            check_failures++;                                                  \
        }                                                                      \
    } while (0)

#define CHECK_DONE()                                                           \
    do {                                                                       \
        if (check_failures) {                                                  \
            fprintf(stderr, "%d check(s) failed\n", check_failures);           \
            return 1;                                                          \
        }                                                                      \
        printf("ok\n");                                                        \
        return 0;                                                              \
    } while (0)

#define SKIP_TEST(...)                                                         \
    do {                                                                       \
        printf("skipped: ");                                                   \
        printf(__VA_ARGS__);                                                   \
        putchar('\n');                                                         \
        return 77;                                                             \
    } while (0)

#endif
