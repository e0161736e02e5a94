/* fuzz_manifest.c - libFuzzer entry: arbitrary bytes as manifest.json must
 * either be refused with a message or give a manifest that keeps the rules
 * manifest.h promises. Needs core/manifest.c, core/shard.c, core/fsutil.c,
 * core/sha256.c, core/error.c and cJSON. Touches no files. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "manifest.h"

static void check_split(const clpt_manifest_split *sp)
{
    uint64_t sum = 0;
    for (int k = 0; k < sp->n_shards; k++) {
        const clpt_manifest_shard *s = &sp->shards[k];
        if (!s->file[0] || s->file[0] == '/' || strlen(s->sha256) != 64) abort();
        if (!strncmp(s->file, "../", 3) || strstr(s->file, "/../")) abort();
        if (strncmp(s->path, "/fuzz/", 6)) abort();  /* resolved under the dir */
        sum += s->tokens;
    }
    if (sum != sp->tokens) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    clpt_manifest *m;
    int rc = clpt_manifest_parse(&m, (const char *)data, size, "/fuzz", "fuzz.json");
    if (rc) {
        if (rc > 0 || strncmp(clpt_errmsg(), "fuzz.json: ", 11)) abort();
        return 0;
    }
    const clpt_manifest_tokenizer *t = clpt_manifest_tokenizer_info(m);
    if (t->vocab_size <= 0 || t->vocab_size > 65536 || t->eot < 0 || t->eot >= t->vocab_size)
        abort();
    for (int i = 0; i < clpt_manifest_ndomains(m); i++) {
        const clpt_domain *d = clpt_manifest_domain(m, i);
        if (!d->name[0] || clpt_manifest_find(m, d->name) != i || d->order < 0) abort();
        for (int s = 0; s < CLPT_NSPLITS; s++) check_split(clpt_manifest_split_of(m, i, s));
    }
    clpt_manifest_free(m);
    return 0;
}
