/* Choosing the backend: "auto" gives cuda where a GPU is usable and the
 * CPU otherwise, saying so in exactly one line on stderr; "cuda" without a
 * GPU (or without CUDA built in) is an error with a reason. Runs, and must
 * pass, on machines with and without a GPU. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "check.h"
#include "clpt.h"
#ifdef CLPT_WITH_CUDA
#include "cuda/clpt_cuda.h"
#endif

/* run clpt_backend_get(name) with stderr captured into buf */
static const clpt_backend *get_captured(const char *name, char *buf, size_t cap)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    buf[0] = 0;
    if (!tmp || saved < 0) return clpt_backend_get(name);
    dup2(fileno(tmp), 2);
    const clpt_backend *be = clpt_backend_get(name);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(tmp);
    size_t n = fread(buf, 1, cap - 1, tmp);
    buf[n] = 0;
    fclose(tmp);
    return be;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

int main(void)
{
    char err[4096];
    const clpt_backend *cpu = clpt_backend_cpu();
    CHECK(clpt_backend_get("cpu") == cpu);
    CHECK(clpt_backend_get(NULL) == cpu);
    CHECK(clpt_backend_get("tpu") == NULL);
    CHECK(strstr(clpt_errmsg(), "tpu") != NULL);

    const clpt_backend *cuda = NULL;
#ifdef CLPT_WITH_CUDA
    cuda = clpt_backend_cuda();
    if (!cuda) {
        const char *why = clpt_errmsg();
        printf("no GPU here: %s\n", why);
        CHECK(why[0] != 0 && strchr(why, '\n') == NULL);
    } else {
        char name[256];
        clpt_cuda_device_info(name, sizeof name, NULL, NULL, NULL);
        printf("GPU: %s\n", name);
        CHECK(!strcmp(cuda->name, "cuda"));
        CHECK(clpt_backend_cuda() == cuda); /* initialised once */
    }
#endif
    const clpt_backend *a = get_captured("auto", err, sizeof err);
    if (cuda) {
        CHECK(a == cuda);
        CHECK_MSG(err[0] == 0, "auto with a GPU prints nothing (got: %s)", err);
        CHECK(clpt_backend_get("cuda") == cuda);
    } else {
        CHECK(a == cpu);
        printf("auto said: %s", err);
#ifdef CLPT_WITH_CUDA
        CHECK_MSG(count_lines(err) == 1, "auto without a GPU says so in one line (got %d)",
                  count_lines(err));
#else
        CHECK_MSG(count_lines(err) <= 1, "auto says at most one line (got %d)", count_lines(err));
#endif
        const clpt_backend *c = get_captured("cuda", err, sizeof err);
        CHECK(c == NULL);
        CHECK(strstr(clpt_errmsg(), "cuda") != NULL);
        printf("cuda said: %s\n", clpt_errmsg());
#ifdef CLPT_WITH_CUDA
        /* the reason the backend gave is kept whole in the message */
        char why[512];
        clpt_backend_cuda();
        snprintf(why, sizeof why, "%s", clpt_errmsg());
        clpt_backend_get("cuda");
        CHECK_MSG(strstr(clpt_errmsg(), why) != NULL, "the reason '%s' is kept (got: '%s')", why,
                  clpt_errmsg());
#endif
    }
    CHECK_DONE();
}
