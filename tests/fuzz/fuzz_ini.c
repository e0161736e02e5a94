/* fuzz_ini.c - libFuzzer target: any text as an ini experiment config
 * through clpt_config_load (inih underneath). A rejected file must come with
 * a message naming it; an accepted one loads over the defaults, so it must
 * also pass clpt_config_validate or be refused by it with a message. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clpt.h"
#include "config.h"

static char path[64];

static void remove_file(void) { remove(path); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/clpt_fuzz_ini_%ld.ini", (long)getpid());
        atexit(remove_file);
    }
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (size && fwrite(data, 1, size, f) != size) abort();
    if (fclose(f)) abort();
    clpt_config cfg;
    clpt_config_defaults(&cfg);
    int rc = clpt_config_load(&cfg, path);
    if (rc > 0) abort();
    if (rc < 0 && !strstr(clpt_errmsg(), path)) abort(); /* the error names the file */
    if (rc == 0 && clpt_config_validate(&cfg) != 0 && clpt_errmsg()[0] == '\0') abort();
    return 0;
}
