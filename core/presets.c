/* presets.c - named model sizes: the GPT-2 family and small CPU sizes. */
#include "config.h"

#include <string.h>

#include "clpt.h"

static const struct {
    const char *name;
    int n_layer, n_head, n_embd, n_ctx;
} presets[CLPT_PRESET_COUNT] = {
    /* order follows clpt_preset */
    [CLPT_PRESET_GPT2] = {"gpt2", 12, 12, 768, 1024},
    [CLPT_PRESET_GPT2_MEDIUM] = {"gpt2-medium", 24, 16, 1024, 1024},
    [CLPT_PRESET_GPT2_LARGE] = {"gpt2-large", 36, 20, 1280, 1024},
    [CLPT_PRESET_GPT2_XL] = {"gpt2-xl", 48, 25, 1600, 1024},
    /* CPU sizes, for tests and quick experiments; head size 32, 32, 64 */
    [CLPT_PRESET_TINY] = {"tiny", 2, 2, 64, 128},
    [CLPT_PRESET_MINI] = {"mini", 4, 4, 128, 256},
    [CLPT_PRESET_SMALL] = {"small", 6, 6, 384, 256},
};

/* Every preset uses GPT-2's tokenizer unless [model] vocab_size says
 * otherwise. */
#define CLPT_GPT2_VOCAB 50257

const char *clpt_preset_name(clpt_preset p)
{
    return (unsigned)p < CLPT_PRESET_COUNT ? presets[p].name : "?";
}

int clpt_preset_lookup(const char *name, clpt_preset *out)
{
    for (int i = 0; i < CLPT_PRESET_COUNT; i++) {
        if (!strcmp(name, presets[i].name)) {
            *out = (clpt_preset)i;
            return 0;
        }
    }
    return clpt_err(CLPT_ECONFIG, "unknown model preset '%s'", name);
}

void clpt_preset_model(clpt_preset p, clpt_model_config *out)
{
    if ((unsigned)p >= CLPT_PRESET_COUNT) p = CLPT_PRESET_GPT2;
    out->n_layer = presets[p].n_layer;
    out->n_head = presets[p].n_head;
    out->n_embd = presets[p].n_embd;
    out->n_ctx = presets[p].n_ctx;
    out->vocab_size = CLPT_GPT2_VOCAB;
    out->ln_eps = 1e-5f;
}
