/* manifest.c - read, validate, build and write manifest.json. The reader
 * builds through the same add/set functions a writer uses, so a manifest
 * that loads is exactly one that could have been built, and vice versa. */
#define _POSIX_C_SOURCE 200809L

#include "manifest.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "fsutil.h"
#include "sha256.h"
#include "shard.h"

#define MAX_MANIFEST_BYTES ((size_t)256 << 20)

struct clpt_manifest {
    char *dir;
    char *path;         /* the manifest file, for messages */
    clpt_manifest_tokenizer tok;
    int n_domains;
    clpt_domain *domains;
};

static const char *const split_names[CLPT_NSPLITS] = {"train", "valid", "test"};

const char *clpt_split_name(int split)
{
    return split >= 0 && split < CLPT_NSPLITS ? split_names[split] : NULL;
}

int clpt_split_parse(const char *name)
{
    for (int s = 0; s < CLPT_NSPLITS; s++)
        if (!strcmp(name, split_names[s])) return s;
    return -1;
}

/* ---- small helpers ------------------------------------------------------ */

/* The views hand out const strings; the manifest owns and frees them. */
static void free_str(const char *s) { free((void *)s); }

/* Grow an array holding n elements when n hits a power of two (>= 4), so the
 * capacity need not be stored. */
static int grow(void *pptr, int n, size_t elem)
{
    void **p = pptr;
    if (n != 0 && (n < 4 || (n & (n - 1)))) return 0;
    void *q = realloc(*p, (size_t)(n ? 2 * n : 4) * elem);
    if (!q) return clpt_err(CLPT_ENOMEM, "manifest: out of memory");
    *p = q;
    return 0;
}

/* 0 if `f` is a non-empty relative path with no ".." component. */
static int check_rel_path(const char *f)
{
    if (!*f || f[0] == '/') return -1;
    for (const char *c = f; *c;) {
        size_t len = strcspn(c, "/");
        if (len == 2 && c[0] == '.' && c[1] == '.') return -1;
        c += len;
        if (*c == '/') c++;
    }
    return 0;
}

/* Copy 64 hex digits, lowercased, into out[65]; "" (or NULL) only if
 * allow_empty. */
static int norm_sha(const char *in, char out[65], int allow_empty)
{
    out[0] = '\0';
    if (!in || !*in) return allow_empty ? 0 : -1;
    if (strlen(in) != 64) return -1;
    for (int i = 0; i < 64; i++) {
        if (!isxdigit((unsigned char)in[i])) return -1;
        out[i] = (char)tolower((unsigned char)in[i]);
    }
    out[64] = '\0';
    return 0;
}

/* ---- building ----------------------------------------------------------- */

int clpt_manifest_new(clpt_manifest **out, const char *dir)
{
    *out = NULL;
    clpt_manifest *m = calloc(1, sizeof *m);
    if (!m || !(m->dir = strdup(dir ? dir : ".")) ||
        !(m->path = clpt_fs_join(m->dir, CLPT_MANIFEST_NAME))) {
        if (m) free(m->dir);
        free(m);
        return clpt_err(CLPT_ENOMEM, "manifest: out of memory");
    }
    *out = m;
    return 0;
}

int clpt_manifest_set_tokenizer(clpt_manifest *m, const char *path, const char *sha256,
                                int vocab_size, int eot)
{
    char sha[65];
    if (!path || !*path)
        return clpt_err(CLPT_EFORMAT, "tokenizer.path: must be a non-empty string");
    if (norm_sha(sha256, sha, 1))
        return clpt_err(CLPT_EFORMAT, "tokenizer.sha256: \"%s\" is not 64 hex digits",
                        sha256);
    if (vocab_size <= 0 || vocab_size > 65536)
        return clpt_err(CLPT_EFORMAT, "tokenizer.vocab_size: %d is outside 1..65536 "
                        "(shard tokens are uint16)", vocab_size);
    if (eot < 0 || eot >= vocab_size)
        return clpt_err(CLPT_EFORMAT, "tokenizer.eot: %d is outside 0..%d (vocab_size-1)",
                        eot, vocab_size - 1);
    char *p = strdup(path);
    char *r = path[0] == '/' ? strdup(path) : clpt_fs_join(m->dir, path);
    if (!p || !r) {
        free(p);
        free(r);
        return clpt_err(CLPT_ENOMEM, "manifest: out of memory");
    }
    free_str(m->tok.path);
    free_str(m->tok.resolved);
    m->tok.path = p;
    m->tok.resolved = r;
    memcpy(m->tok.sha256, sha, sizeof sha);
    m->tok.vocab_size = vocab_size;
    m->tok.eot = eot;
    return 0;
}

int clpt_manifest_add_domain(clpt_manifest *m, const char *name, const char *l1,
                             const char *l2, int order, int *index)
{
    int i = m->n_domains;
    if (!name || !*name)
        return clpt_err(CLPT_EFORMAT, "domains[%d].name: must be a non-empty string", i);
    if (order < 0)
        return clpt_err(CLPT_EFORMAT, "domains[%d] (\"%s\").order: %d is negative", i,
                        name, order);
    for (int j = 0; j < i; j++) {
        if (!strcmp(m->domains[j].name, name))
            return clpt_err(CLPT_EFORMAT, "domains[%d].name: duplicate domain \"%s\" "
                            "(also domains[%d])", i, name, j);
        if (m->domains[j].order == order)
            return clpt_err(CLPT_EFORMAT, "domains[%d] (\"%s\").order: %d is also the "
                            "order of domain \"%s\"", i, name, order, m->domains[j].name);
    }
    if (grow(&m->domains, i, sizeof *m->domains)) return CLPT_ENOMEM;
    clpt_domain *d = &m->domains[i];
    memset(d, 0, sizeof *d);
    d->name = strdup(name);
    d->l1 = strdup(l1 ? l1 : "");
    d->l2 = strdup(l2 ? l2 : "");
    d->order = order;
    m->n_domains++;  /* counted now so that free() releases partial strings */
    if (!d->name || !d->l1 || !d->l2) return clpt_err(CLPT_ENOMEM, "manifest: out of memory");
    if (index) *index = i;
    return 0;
}

int clpt_manifest_add_shard(clpt_manifest *m, int i, int split, const char *file,
                            uint64_t tokens, const char *sha256)
{
    if (i < 0 || i >= m->n_domains || !clpt_split_name(split))
        return clpt_err(CLPT_EINVAL, "manifest: no domain %d / split %d", i, split);
    clpt_domain *d = &m->domains[i];
    clpt_manifest_split *sp = &d->splits[split];
    int k = sp->n_shards;
    char sha[65];
#define WHERE "domains[%d] (\"%s\").splits.%s.shards[%d]."
    if (!file || check_rel_path(file))
        return clpt_err(CLPT_EFORMAT, WHERE "file: \"%s\" must be a non-empty relative "
                        "path with no '..' component", i, d->name, split_names[split], k,
                        file ? file : "");
    if (tokens > CLPT_SHARD_MAX_TOKENS)
        return clpt_err(CLPT_EFORMAT, WHERE "tokens: %llu exceeds the shard limit %llu",
                        i, d->name, split_names[split], k, (unsigned long long)tokens,
                        (unsigned long long)CLPT_SHARD_MAX_TOKENS);
    if (norm_sha(sha256, sha, 0))
        return clpt_err(CLPT_EFORMAT, WHERE "sha256: \"%s\" is not 64 hex digits", i,
                        d->name, split_names[split], k, sha256 ? sha256 : "");
#undef WHERE
    if (grow(&sp->shards, k, sizeof *sp->shards)) return CLPT_ENOMEM;
    clpt_manifest_shard *s = (clpt_manifest_shard *)&sp->shards[k];
    s->file = strdup(file);
    s->path = clpt_fs_join(m->dir, file);
    s->tokens = tokens;
    memcpy(s->sha256, sha, sizeof sha);
    sp->n_shards++;
    sp->tokens += tokens;
    if (!s->file || !s->path) return clpt_err(CLPT_ENOMEM, "manifest: out of memory");
    return 0;
}

void clpt_manifest_free(clpt_manifest *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_domains; i++) {
        clpt_domain *d = &m->domains[i];
        for (int s = 0; s < CLPT_NSPLITS; s++) {
            for (int k = 0; k < d->splits[s].n_shards; k++) {
                free_str(d->splits[s].shards[k].file);
                free_str(d->splits[s].shards[k].path);
            }
            free((void *)d->splits[s].shards);
        }
        free_str(d->name);
        free_str(d->l1);
        free_str(d->l2);
    }
    free(m->domains);
    free_str(m->tok.path);
    free_str(m->tok.resolved);
    free(m->dir);
    free(m->path);
    free(m);
}

/* ---- accessors ---------------------------------------------------------- */

const char *clpt_manifest_dir(const clpt_manifest *m) { return m->dir; }
const char *clpt_manifest_path(const clpt_manifest *m) { return m->path; }

const clpt_manifest_tokenizer *clpt_manifest_tokenizer_info(const clpt_manifest *m)
{
    return &m->tok;
}

int clpt_manifest_ndomains(const clpt_manifest *m) { return m->n_domains; }

const clpt_domain *clpt_manifest_domain(const clpt_manifest *m, int i)
{
    return i >= 0 && i < m->n_domains ? &m->domains[i] : NULL;
}

int clpt_manifest_find(const clpt_manifest *m, const char *name)
{
    for (int i = 0; i < m->n_domains; i++)
        if (!strcmp(m->domains[i].name, name)) return i;
    return -1;
}

const clpt_manifest_split *clpt_manifest_split_of(const clpt_manifest *m, int i, int split)
{
    const clpt_domain *d = clpt_manifest_domain(m, i);
    return d && clpt_split_name(split) ? &d->splits[split] : NULL;
}

/* ---- parsing ------------------------------------------------------------ */

enum { J_STR, J_INT, J_OBJ, J_ARR };

/* cJSON numbers are doubles: an integer is one with no fraction that a
 * double holds exactly. */
static int is_int(const cJSON *v)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    return isfinite(d) && d == floor(d) && fabs(d) <= 9007199254740992.0;
}

/* Fetch obj[key] of the given kind; `where` is the field path so far
 * ("domains[2] (\"cs.CL\").") for the message. */
static int field(const cJSON *obj, const char *where, const char *key, int kind,
                 const cJSON **out)
{
    static const char *const kinds[] = {"a string", "an integer", "an object", "an array"};
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return clpt_err(CLPT_EFORMAT, "%s%s: missing", where, key);
    int ok = kind == J_STR ? cJSON_IsString(v)
           : kind == J_INT ? is_int(v)
           : kind == J_OBJ ? cJSON_IsObject(v) : cJSON_IsArray(v);
    if (!ok) return clpt_err(CLPT_EFORMAT, "%s%s: must be %s", where, key, kinds[kind]);
    *out = v;
    return 0;
}

static int get_str(const cJSON *obj, const char *where, const char *key, const char **s)
{
    const cJSON *v = NULL;
    int rc = field(obj, where, key, J_STR, &v);
    if (!rc) *s = v->valuestring;
    return rc;
}

static int get_int(const cJSON *obj, const char *where, const char *key, double lo,
                   double hi, int64_t *out)
{
    const cJSON *v = NULL;
    int rc = field(obj, where, key, J_INT, &v);
    if (rc) return rc;
    if (v->valuedouble < lo || v->valuedouble > hi)
        return clpt_err(CLPT_EFORMAT, "%s%s: %.0f is outside %.0f..%.0f", where, key,
                        v->valuedouble, lo, hi);
    *out = (int64_t)v->valuedouble;
    return 0;
}

static int parse_tokenizer(clpt_manifest *m, const cJSON *root)
{
    const cJSON *t = NULL;
    const char *path = NULL, *sha = NULL;
    int64_t vocab = 0, eot = 0;
    int rc = field(root, "", "tokenizer", J_OBJ, &t);
    if (!rc) rc = get_str(t, "tokenizer.", "path", &path);
    if (!rc) rc = get_str(t, "tokenizer.", "sha256", &sha);
    if (!rc) rc = get_int(t, "tokenizer.", "vocab_size", 1, 65536, &vocab);
    if (!rc) rc = get_int(t, "tokenizer.", "eot", 0, 65535, &eot);
    if (!rc) rc = clpt_manifest_set_tokenizer(m, path, sha, (int)vocab, (int)eot);
    return rc;
}

static int parse_shard(clpt_manifest *m, int i, int split, const cJSON *js,
                       const char *where)
{
    const char *file = NULL, *sha = NULL;
    int64_t tokens = 0;
    if (!cJSON_IsObject(js))
        return clpt_err(CLPT_EFORMAT, "%.*s: must be an object",
                        (int)strlen(where) - 1, where);
    int rc = get_str(js, where, "file", &file);
    if (!rc) rc = get_int(js, where, "tokens", 0, (double)CLPT_SHARD_MAX_TOKENS, &tokens);
    if (!rc) rc = get_str(js, where, "sha256", &sha);
    if (!rc) rc = clpt_manifest_add_shard(m, i, split, file, (uint64_t)tokens, sha);
    return rc;
}

static int parse_split(clpt_manifest *m, int i, int split, const cJSON *splits)
{
    const clpt_domain *d = &m->domains[i];
    char where[512], swhere[560];
    const cJSON *js = NULL, *shards = NULL;
    int64_t tokens = 0;
    snprintf(where, sizeof where, "domains[%d] (\"%s\").splits.", i, d->name);
    int rc = field(splits, where, split_names[split], J_OBJ, &js);
    if (rc) return rc;
    snprintf(where, sizeof where, "domains[%d] (\"%s\").splits.%s.", i, d->name,
             split_names[split]);
    rc = get_int(js, where, "tokens", 0, 9007199254740992.0, &tokens);
    if (!rc) rc = field(js, where, "shards", J_ARR, &shards);
    for (int k = 0; !rc && k < cJSON_GetArraySize(shards); k++) {
        snprintf(swhere, sizeof swhere, "%sshards[%d].", where, k);
        rc = parse_shard(m, i, split, cJSON_GetArrayItem(shards, k), swhere);
    }
    if (!rc && (uint64_t)tokens != d->splits[split].tokens)
        rc = clpt_err(CLPT_EFORMAT, "%stokens: %lld, but the shards hold %llu tokens",
                      where, (long long)tokens,
                      (unsigned long long)d->splits[split].tokens);
    return rc;
}

static int parse_domain(clpt_manifest *m, int k, const cJSON *jd)
{
    char where[512];
    const char *name = NULL, *l1 = NULL, *l2 = NULL;
    const cJSON *splits = NULL;
    int64_t order = 0;
    int i = 0;
    snprintf(where, sizeof where, "domains[%d].", k);
    if (!cJSON_IsObject(jd))
        return clpt_err(CLPT_EFORMAT, "domains[%d]: must be an object", k);
    int rc = get_str(jd, where, "name", &name);
    if (rc) return rc;
    snprintf(where, sizeof where, "domains[%d] (\"%s\").", k, name);
    rc = get_str(jd, where, "l1", &l1);
    if (!rc) rc = get_str(jd, where, "l2", &l2);
    if (!rc) rc = get_int(jd, where, "order", 0, INT32_MAX, &order);
    if (!rc) rc = clpt_manifest_add_domain(m, name, l1, l2, (int)order, &i);
    if (!rc) rc = field(jd, where, "splits", J_OBJ, &splits);
    for (int s = 0; !rc && s < CLPT_NSPLITS; s++)
        rc = parse_split(m, i, s, splits);
    return rc;
}

static int parse_root(clpt_manifest *m, const cJSON *root)
{
    const char *format = NULL;
    const cJSON *domains = NULL, *jv = NULL;
    if (!cJSON_IsObject(root))
        return clpt_err(CLPT_EFORMAT, "top level: must be an object");
    int rc = get_str(root, "", "format", &format);
    if (!rc && strcmp(format, CLPT_MANIFEST_FORMAT))
        rc = clpt_err(CLPT_EFORMAT, "format: \"%s\", expected \"%s\"", format,
                      CLPT_MANIFEST_FORMAT);
    if (!rc) rc = field(root, "", "version", J_INT, &jv);
    if (!rc && jv->valuedouble > CLPT_MANIFEST_VERSION)
        rc = clpt_err(CLPT_EUNSUP, "version: %.0f is newer than this clpt reads (%d)",
                      jv->valuedouble, CLPT_MANIFEST_VERSION);
    else if (!rc && jv->valuedouble != CLPT_MANIFEST_VERSION)
        rc = clpt_err(CLPT_EFORMAT, "version: %.0f, expected %d", jv->valuedouble,
                      CLPT_MANIFEST_VERSION);
    if (!rc) rc = parse_tokenizer(m, root);
    if (!rc) rc = field(root, "", "domains", J_ARR, &domains);
    for (int k = 0; !rc && k < cJSON_GetArraySize(domains); k++)
        rc = parse_domain(m, k, cJSON_GetArrayItem(domains, k));
    return rc;
}

int clpt_manifest_parse(clpt_manifest **out, const char *json, size_t len,
                        const char *dir, const char *name)
{
    const char *end = NULL;
    *out = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root)
        return clpt_err(CLPT_EFORMAT, "%s: invalid JSON near byte %ld", name,
                        end ? (long)(end - json) : 0L);
    clpt_manifest *m;
    int rc = clpt_manifest_new(&m, dir);
    if (rc) {
        cJSON_Delete(root);
        return rc;
    }
    free(m->path);
    m->path = strdup(name);
    rc = m->path ? parse_root(m, root) : clpt_err(CLPT_ENOMEM, "out of memory");
    cJSON_Delete(root);
    if (rc) {
        clpt_manifest_free(m);
        return clpt_err_wrap(rc, "%s: ", name);
    }
    *out = m;
    return 0;
}

/* "<dir>/manifest.json" if `p` is a directory, else a copy of p. */
static char *manifest_file(const char *p)
{
    return clpt_fs_is_dir(p) ? clpt_fs_join(p, CLPT_MANIFEST_NAME) : strdup(p);
}

int clpt_manifest_load(clpt_manifest **out, const char *path_or_dir)
{
    *out = NULL;
    char *path = manifest_file(path_or_dir), *text = NULL, *dir = NULL;
    size_t len = 0;
    if (!path) return clpt_err(CLPT_ENOMEM, "%s: out of memory", path_or_dir);
    int rc = clpt_fs_read_file(path, MAX_MANIFEST_BYTES, &text, &len);
    if (!rc) {
        const char *slash = strrchr(path, '/');
        dir = !slash ? strdup(".") : slash == path ? strdup("/")
                                   : strndup(path, (size_t)(slash - path));
        rc = dir ? clpt_manifest_parse(out, text, len, dir, path)
                 : clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
    }
    free(dir);
    free(text);
    free(path);
    return rc;
}

/* ---- verifying ---------------------------------------------------------- */

static int verify_shard(const clpt_manifest_shard *s, const char *where)
{
    clpt_shard *sh;
    char hex[65];
    int rc = clpt_shard_open(&sh, s->path);
    if (rc) return clpt_err_wrap(rc, "%s: ", where);
    uint64_t n = clpt_shard_count(sh);
    clpt_shard_close(sh);
    if (n != s->tokens)
        return clpt_err(CLPT_EFORMAT, "%s: %s holds %llu tokens, the manifest says %llu",
                        where, s->path, (unsigned long long)n,
                        (unsigned long long)s->tokens);
    rc = clpt_sha256_file(s->path, hex);
    if (rc) return clpt_err_wrap(rc, "%s: ", where);
    if (strcmp(hex, s->sha256))
        return clpt_err(CLPT_EFORMAT, "%s: %s has sha256 %s, the manifest says %s", where,
                        s->path, hex, s->sha256);
    return 0;
}

static int verify_domain(const clpt_manifest *m, int i)
{
    const clpt_domain *d = &m->domains[i];
    char where[512];
    for (int s = 0; s < CLPT_NSPLITS; s++)
        for (int k = 0; k < d->splits[s].n_shards; k++) {
            snprintf(where, sizeof where, "domain \"%s\" %s shard %d", d->name,
                     split_names[s], k);
            int rc = verify_shard(&d->splits[s].shards[k], where);
            if (rc) return rc;
        }
    return 0;
}

int clpt_manifest_verify(const clpt_manifest *m, int i)
{
    if (i >= m->n_domains)
        return clpt_err(CLPT_EINVAL, "manifest: no domain %d (%d domains)", i, m->n_domains);
    for (int j = i < 0 ? 0 : i; j < (i < 0 ? m->n_domains : i + 1); j++) {
        int rc = verify_domain(m, j);
        if (rc) return rc;
    }
    return 0;
}

/* ---- writing ------------------------------------------------------------ */

static cJSON *split_json(const clpt_manifest_split *sp)
{
    cJSON *js = cJSON_CreateObject(), *arr = cJSON_CreateArray();
    cJSON_AddItemToObject(js, "shards", arr);
    cJSON_AddNumberToObject(js, "tokens", (double)sp->tokens);
    for (int k = 0; k < sp->n_shards; k++) {
        cJSON *s = cJSON_CreateObject();
        cJSON_AddItemToArray(arr, s);
        cJSON_AddStringToObject(s, "file", sp->shards[k].file);
        cJSON_AddNumberToObject(s, "tokens", (double)sp->shards[k].tokens);
        cJSON_AddStringToObject(s, "sha256", sp->shards[k].sha256);
    }
    return js;
}

/* NULL on allocation failure (cJSON_Add* on a NULL parent is a no-op). */
static cJSON *manifest_json(const clpt_manifest *m)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "format", CLPT_MANIFEST_FORMAT);
    cJSON_AddNumberToObject(root, "version", CLPT_MANIFEST_VERSION);
    cJSON *t = cJSON_AddObjectToObject(root, "tokenizer");
    cJSON_AddStringToObject(t, "path", m->tok.path);
    cJSON_AddStringToObject(t, "sha256", m->tok.sha256);
    cJSON_AddNumberToObject(t, "vocab_size", m->tok.vocab_size);
    cJSON_AddNumberToObject(t, "eot", m->tok.eot);
    cJSON *arr = cJSON_AddArrayToObject(root, "domains");
    for (int i = 0; i < m->n_domains; i++) {
        const clpt_domain *d = &m->domains[i];
        cJSON *jd = cJSON_CreateObject(), *splits;
        cJSON_AddItemToArray(arr, jd);
        cJSON_AddStringToObject(jd, "name", d->name);
        cJSON_AddStringToObject(jd, "l1", d->l1);
        cJSON_AddStringToObject(jd, "l2", d->l2);
        cJSON_AddNumberToObject(jd, "order", d->order);
        splits = cJSON_AddObjectToObject(jd, "splits");
        for (int s = 0; s < CLPT_NSPLITS; s++)
            cJSON_AddItemToObject(splits, split_names[s], split_json(&d->splits[s]));
    }
    return root;
}

/* Re-read the text before writing: an allocation failure inside cJSON
 * drops items silently, and a manifest the reader rejects must never reach
 * the disk. */
static int check_and_write(const char *file, char *text, const char *dir)
{
    size_t n = strlen(text);
    clpt_manifest *back;
    int rc = clpt_manifest_parse(&back, text, n, dir, file);
    if (rc) return clpt_err_wrap(rc, "writing manifest: ");
    clpt_manifest_free(back);
    text[n] = '\n';  /* cJSON_Print's NUL becomes a final newline */
    return clpt_fs_write_atomic(file, text, n + 1);
}

int clpt_manifest_write(const clpt_manifest *m, const char *path)
{
    if (m->tok.vocab_size <= 0 || !m->tok.path)
        return clpt_err(CLPT_ESTATE, "manifest: tokenizer not set; call "
                        "clpt_manifest_set_tokenizer() before writing");
    char *file = path ? manifest_file(path) : clpt_fs_join(m->dir, CLPT_MANIFEST_NAME);
    cJSON *root = manifest_json(m);
    char *text = root ? cJSON_Print(root) : NULL;
    int rc;
    if (!file || !text) {
        rc = clpt_err(CLPT_ENOMEM, "manifest: out of memory while writing");
    } else {
        rc = check_and_write(file, text, m->dir);
    }
    cJSON_Delete(root);
    free(text);
    free(file);
    return rc;
}
