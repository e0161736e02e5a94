/* prepare_state.c - what makes `clpt prepare` idempotent: a fingerprint of
 * everything a domain's shards depend on, and a stamp file beside the
 * shards recording the fingerprint and the shards it produced. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clpt.h"
#include "fsutil.h"
#include "prepare_impl.h"
#include "sha256.h"

#define STAMP_NAME "stamp.json"
#define STAMP_FORMAT "clpt-prepare-stamp"

int prep_split_add_shard(prep_split *s, const char *file, uint64_t tokens, const char *sha)
{
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 4;
        prep_shard *p = realloc(s->sh, (size_t)cap * sizeof *p);
        if (!p) return clpt_err(CLPT_ENOMEM, "out of memory");
        s->sh = p;
        s->cap = cap;
    }
    if (strlen(file) >= sizeof s->sh[0].file || strlen(sha) != 64)
        return clpt_err(CLPT_EFORMAT, "bad shard entry '%s'", file);
    prep_shard *p = &s->sh[s->n++];
    snprintf(p->file, sizeof p->file, "%s", file);
    memcpy(p->sha256, sha, 65);
    p->tokens = tokens;
    s->tokens += tokens;
    return 0;
}

void prep_split_clear(prep_split *s)
{
    free(s->sh);
    memset(s, 0, sizeof *s);
}

/* The inputs (relative path, size, mtime, split, HTML or not), the
 * tokenizer and the options that change the tokens. Names, hierarchy and
 * order are not in it: they only change the manifest. */
void prep_fingerprint(prep_ctx *c, prep_domain *d, const char *tok_sha)
{
    clpt_sha256_ctx h;
    char line[512];
    clpt_sha256_init(&h);
    int n = snprintf(line, sizeof line, "%s 1\ntokenizer %s\ndocs %d\nshard_tokens %llu\n",
                     STAMP_FORMAT, tok_sha, c->docs, (unsigned long long)c->shard_tokens);
    clpt_sha256_update(&h, line, (size_t)n);
    for (int i = 0; i < d->n_in; i++) {
        const prep_input *in = &d->in[i];
        n = snprintf(line, sizeof line, "in %d %d %llu %lld ", in->split, in->html,
                     (unsigned long long)in->disk_bytes, (long long)in->mtime_ns);
        clpt_sha256_update(&h, line, (size_t)n);
        clpt_sha256_update(&h, in->rel, strlen(in->rel) + 1);
    }
    uint8_t dig[32];
    clpt_sha256_final(&h, dig);
    clpt_sha256_hex(dig, d->fp);
}

static char *domain_path(prep_ctx *c, prep_domain *d, const char *file)
{
    char *dir = clpt_fs_join(c->o->out, d->name);
    char *p = dir && file ? clpt_fs_join(dir, file) : dir;
    if (p != dir) free(dir);
    if (!p) clpt_err(CLPT_ENOMEM, "out of memory");
    return p;
}

/* A shard file is there with the size its token count implies (a cheap
 * check; `clpt_manifest_verify` re-hashes). */
static int shard_present(prep_ctx *c, prep_domain *d, const prep_shard *s)
{
    char *p = domain_path(c, d, s->file);
    struct stat st;
    int ok = p && stat(p, &st) == 0 && (uint64_t)st.st_size == 1024 + 2 * s->tokens;
    free(p);
    return ok;
}

static int load_split(prep_split *s, const cJSON *j)
{
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(j, "shards");
    const cJSON *docs = cJSON_GetObjectItemCaseSensitive(j, "docs");
    const cJSON *bytes = cJSON_GetObjectItemCaseSensitive(j, "bytes");
    if (!cJSON_IsArray(sh) || !cJSON_IsNumber(docs) || !cJSON_IsNumber(bytes)) return -1;
    s->docs = (uint64_t)docs->valuedouble;
    s->bytes = (uint64_t)bytes->valuedouble;
    const cJSON *e;
    cJSON_ArrayForEach(e, sh) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "file");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "tokens");
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(e, "sha256");
        if (!cJSON_IsString(f) || !cJSON_IsNumber(t) || !cJSON_IsString(h) ||
            prep_split_add_shard(s, f->valuestring, (uint64_t)t->valuedouble, h->valuestring))
            return -1;
    }
    return 0;
}

int prep_stamp_check(prep_ctx *c, prep_domain *d)
{
    char *path = domain_path(c, d, STAMP_NAME), *text = NULL;
    if (!path || clpt_fs_read_file(path, 64u << 20, &text, NULL)) {
        free(path);
        return 0;
    }
    cJSON *j = cJSON_Parse(text);
    const cJSON *fp = cJSON_GetObjectItemCaseSensitive(j, "fingerprint");
    const cJSON *sp = cJSON_GetObjectItemCaseSensitive(j, "splits");
    int ok = cJSON_IsString(fp) && !strcmp(fp->valuestring, d->fp) && cJSON_IsObject(sp);
    for (int s = 0; ok && s < CLPT_NSPLITS; s++) {
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(sp, clpt_split_name(s));
        ok = js && !load_split(&d->splits[s], js);
        for (int k = 0; ok && k < d->splits[s].n; k++)
            ok = shard_present(c, d, &d->splits[s].sh[k]);
    }
    if (!ok)
        for (int s = 0; s < CLPT_NSPLITS; s++) prep_split_clear(&d->splits[s]);
    cJSON_Delete(j);
    free(text);
    free(path);
    return ok;
}

static cJSON *split_json(const prep_split *s)
{
    cJSON *o = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(o, "shards");
    cJSON_AddNumberToObject(o, "tokens", (double)s->tokens);
    cJSON_AddNumberToObject(o, "docs", (double)s->docs);
    cJSON_AddNumberToObject(o, "bytes", (double)s->bytes);
    for (int k = 0; arr && k < s->n; k++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "file", s->sh[k].file);
        cJSON_AddNumberToObject(e, "tokens", (double)s->sh[k].tokens);
        cJSON_AddStringToObject(e, "sha256", s->sh[k].sha256);
        cJSON_AddItemToArray(arr, e);
    }
    return o;
}

/* Write `text` to path through a temporary file and a rename, without
 * fsync: a stamp only saves work, so after a crash a missing or unreadable
 * one just means the domain is done again, while its shards, which it
 * vouches for, were made durable before it was written. With many small
 * domains the fsyncs are most of the run. */
static int write_renamed(const char *path, const char *text)
{
    size_t n = strlen(path) + 8, len = strlen(text);
    char *tmp = malloc(n);
    if (!tmp) return clpt_err(CLPT_ENOMEM, "out of memory");
    snprintf(tmp, n, "%s.part", path);
    FILE *f = fopen(tmp, "wb");
    int ok = f && fwrite(text, 1, len, f) == len;
    if (f && fclose(f) != 0) ok = 0;
    if (ok && rename(tmp, path) != 0) ok = 0;
    int rc = ok ? 0 : clpt_err(CLPT_EIO, "%s: %s", tmp, strerror(errno));
    if (!ok) unlink(tmp);
    free(tmp);
    return rc;
}

int prep_stamp_write(prep_ctx *c, prep_domain *d)
{
    cJSON *j = cJSON_CreateObject(), *sp = cJSON_AddObjectToObject(j, "splits");
    cJSON_AddStringToObject(j, "format", STAMP_FORMAT);
    cJSON_AddStringToObject(j, "fingerprint", d->fp);
    cJSON_AddStringToObject(j, "domain", d->name);
    cJSON *ins = cJSON_AddArrayToObject(j, "inputs");
    for (int i = 0; ins && i < d->n_in; i++)
        cJSON_AddItemToArray(ins, cJSON_CreateString(d->in[i].rel));
    for (int s = 0; sp && s < CLPT_NSPLITS; s++)
        cJSON_AddItemToObject(sp, clpt_split_name(s), split_json(&d->splits[s]));
    char *text = cJSON_Print(j), *path = domain_path(c, d, STAMP_NAME);
    int rc = !text ? clpt_err(CLPT_ENOMEM, "out of memory")
           : !path ? CLPT_ENOMEM : write_renamed(path, text);
    cJSON_free(text);
    cJSON_Delete(j);
    free(path);
    return rc;
}

int prep_stamp_remove(prep_ctx *c, prep_domain *d)
{
    char *path = domain_path(c, d, STAMP_NAME);
    if (!path) return CLPT_ENOMEM;
    int rc = unlink(path) != 0 && errno != ENOENT
                 ? clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno)) : 0;
    free(path);
    return rc;
}

static int listed(const prep_domain *d, const char *file)
{
    for (int s = 0; s < CLPT_NSPLITS; s++)
        for (int k = 0; k < d->splits[s].n; k++)
            if (!strcmp(d->splits[s].sh[k].file, file)) return 1;
    return 0;
}

int prep_clean_dir(prep_ctx *c, prep_domain *d, int keep_listed)
{
    char *dir = domain_path(c, d, NULL);
    if (!dir) return CLPT_ENOMEM;
    DIR *dh = opendir(dir);
    if (!dh) {
        free(dir);
        return 0;
    }
    regex_t shard, tmp;
    regcomp(&shard, "^(train|valid|test)_[0-9]+\\.bin$", REG_EXTENDED | REG_NOSUB);
    regcomp(&tmp, "(\\.tmp\\.[A-Za-z0-9]{6}|\\.part)$", REG_EXTENDED | REG_NOSUB);
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(dh))) {
        int is_tmp = !regexec(&tmp, e->d_name, 0, NULL, 0);
        int is_shard = !regexec(&shard, e->d_name, 0, NULL, 0);
        if (!is_tmp && (!is_shard || (keep_listed && listed(d, e->d_name)))) continue;
        char *p = clpt_fs_join(dir, e->d_name);
        if (p && unlink(p) != 0 && errno != ENOENT)
            rc = clpt_err(CLPT_EIO, "%s: %s", p, strerror(errno));
        free(p);
    }
    regfree(&shard);
    regfree(&tmp);
    closedir(dh);
    free(dir);
    return rc;
}
