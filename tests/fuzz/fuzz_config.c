/* fuzz_config.c - libFuzzer target: any text through the config.json
 * reader of Hugging Face checkpoints; an accepted config must be valid. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "clpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    clpt_model_config cfg;
    int rc = clpt_ckpt_parse_config(buf, size, "fuzz.json", &cfg);
    if (rc == 0 && clpt_model_config_check(&cfg) != 0) abort();
    if (rc != 0 && (rc > 0 || clpt_errmsg()[0] == '\0')) abort();
    free(buf);
    return 0;
}
