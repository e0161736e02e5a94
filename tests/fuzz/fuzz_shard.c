/* fuzz_shard.c - libFuzzer entry: arbitrary bytes as a shard file must
 * either be refused with a message or open as a shard whose size, count and
 * tokens agree. Needs core/shard.c, core/fsutil.c, core/error.c. */
#define _XOPEN_SOURCE 700

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clpt.h"
#include "shard.h"

static char path[64];

/* One scratch file per process, rewritten for every input. */
static int scratch(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_shard.%ld.bin", (long)getpid());
    }
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok ? 0 : -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (scratch(data, size)) return 0;
    clpt_shard *sh;
    int rc = clpt_shard_open(&sh, path);
    if (rc) {
        if (rc > 0 || !clpt_errmsg()[0] || !strstr(clpt_errmsg(), path)) abort();
        return 0;
    }
    uint64_t n = clpt_shard_count(sh);
    if (CLPT_SHARD_HEADER_BYTES + 2 * n != size) abort();
    const uint16_t *t = clpt_shard_tokens(sh);
    unsigned max = 0;
    for (uint64_t i = 0; i < n; i++)
        if (t[i] > max) max = t[i];
    if (n && memcmp(t, data + CLPT_SHARD_HEADER_BYTES, 2 * n)) abort();
    if (clpt_shard_check_vocab(sh, (int)max + 1) != 0) abort();
    if (n && clpt_shard_check_vocab(sh, (int)max) == 0) abort();
    clpt_shard_close(sh);
    return 0;
}
