/* shardcheck.c - shard checksums against the manifest, with the stamp of
 * files already verified (shardcheck.h). */
#define _POSIX_C_SOURCE 200809L
#include "shardcheck.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clpt.h"
#include "fsutil.h"
#include "progress.h"
#include "sha256.h"

#define STAMP_FORMAT "clpt-verified"
#define STAMP_VERSION 1
#define STAMP_MAX_BYTES (64u << 20)

/* A file found good: its name in the manifest, the sha256 it had, and its
 * identity as text ("dev:ino:size:mtime_ns:ctime_ns": exact, unlike JSON
 * numbers past 2^53). */
typedef struct stamp {
    char *file;
    char sha256[65];
    char id[112];
} stamp;

struct clpt_shardcheck {
    const clpt_manifest *m;
    char *path;            /* <manifest dir>/verified.json */
    stamp *s;
    int n, cap;
    int hashed, stamped, dirty;
    uint64_t bytes;
    double seconds;        /* spent hashing */
};

static void id_text(const clpt_file_id *id, char out[112])
{
    snprintf(out, 112, "%" PRIu64 ":%" PRIu64 ":%" PRIu64 ":%" PRId64 ":%" PRId64, id->dev, id->ino,
             id->size, id->mtime_ns, id->ctime_ns);
}

static stamp *find(clpt_shardcheck *c, const char *file)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->s[i].file, file)) return &c->s[i];
    return NULL;
}

/* Record `file` as good with `sha256` and identity `id`. */
static int put(clpt_shardcheck *c, const char *file, const char *sha256, const char *id)
{
    stamp *e = find(c, file);
    if (!e) {
        if (c->n == c->cap) {
            int cap = c->cap ? 2 * c->cap : 64;
            stamp *s = realloc(c->s, cap * sizeof *s);
            if (!s) return clpt_err(CLPT_ENOMEM, "%s: out of memory", c->path);
            c->s = s;
            c->cap = cap;
        }
        e = &c->s[c->n];
        if (!(e->file = strdup(file))) return clpt_err(CLPT_ENOMEM, "%s: out of memory", c->path);
        c->n++;
    }
    snprintf(e->sha256, sizeof e->sha256, "%s", sha256);
    snprintf(e->id, sizeof e->id, "%s", id);
    return 0;
}

/* Entries that do not have the expected shape are skipped: the stamp only
 * saves work, so a bad one costs a rehash, never an error. */
static void load_stamp(clpt_shardcheck *c)
{
    char *text = NULL;
    size_t len = 0;
    if (!clpt_fs_exists(c->path) || clpt_fs_read_file(c->path, STAMP_MAX_BYTES, &text, &len)) return;
    cJSON *root = cJSON_ParseWithLength(text, len);
    free(text);
    const cJSON *fmt = cJSON_GetObjectItemCaseSensitive(root, "format");
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, "shards");
    if (cJSON_IsString(fmt) && !strcmp(fmt->valuestring, STAMP_FORMAT) && cJSON_IsNumber(ver) &&
        ver->valuedouble == STAMP_VERSION && cJSON_IsArray(arr)) {
        const cJSON *e;
        cJSON_ArrayForEach(e, arr) {
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(e, "file");
            const cJSON *h = cJSON_GetObjectItemCaseSensitive(e, "sha256");
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(e, "id");
            if (cJSON_IsString(f) && cJSON_IsString(h) && strlen(h->valuestring) == 64 &&
                cJSON_IsString(id) && strlen(id->valuestring) < sizeof c->s->id &&
                put(c, f->valuestring, h->valuestring, id->valuestring))
                break;  /* out of memory: keep what we have */
        }
    }
    cJSON_Delete(root);
}

int clpt_shardcheck_new(clpt_shardcheck **out, const clpt_manifest *m)
{
    *out = NULL;
    clpt_shardcheck *c = calloc(1, sizeof *c);
    if (!c || !(c->path = clpt_fs_join(clpt_manifest_dir(m), CLPT_SHARDCHECK_STAMP))) {
        free(c);
        return clpt_err(CLPT_ENOMEM, "%s: out of memory", clpt_manifest_path(m));
    }
    c->m = m;
    load_stamp(c);
    *out = c;
    return 0;
}

int clpt_shardcheck_shard(clpt_shardcheck *c, const clpt_manifest_shard *ms, const clpt_shard *sh,
                          const char *where)
{
    clpt_file_id fid;
    char id[112], hex[65];
    clpt_shard_file_id(sh, &fid);
    id_text(&fid, id);
    const stamp *e = find(c, ms->file);
    if (e && !strcmp(e->sha256, ms->sha256) && !strcmp(e->id, id)) {
        c->stamped++;
        return 0;
    }
    size_t n;
    const void *bytes = clpt_shard_bytes(sh, &n);
    uint8_t digest[32];
    double t0 = clpt_now();
    clpt_sha256(bytes, n, digest);
    c->seconds += clpt_now() - t0;
    clpt_sha256_hex(digest, hex);
    c->hashed++;
    c->bytes += n;
    if (strcmp(hex, ms->sha256))
        return clpt_err(CLPT_EFORMAT, "%s: sha256 is %s, but %s says %s (%s): the file is corrupt or "
                        "not the one prepared; restore it or prepare the corpus again",
                        clpt_shard_path(sh), hex, clpt_manifest_path(c->m), ms->sha256, where);
    /* A file changed within the last seconds may be changed again within
     * the same timestamp tick (coarse on some kernels and file systems)
     * without its identity moving: such a file is verified but not stamped,
     * as git does for its index, so its next open hashes it again. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    const char *age = getenv("CLPT_STAMP_MIN_AGE_S"); /* seconds; tests set 0 */
    int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    int64_t racy = (int64_t)((age && *age ? atof(age) : 2.0) * 1e9);
    if (now_ns - fid.mtime_ns < racy || now_ns - fid.ctime_ns < racy) return 0;
    c->dirty = 1;
    return put(c, ms->file, ms->sha256, id);
}

void clpt_shardcheck_counts(const clpt_shardcheck *c, int *hashed, uint64_t *bytes, int *stamped)
{
    if (hashed) *hashed = c->hashed;
    if (bytes) *bytes = c->bytes;
    if (stamped) *stamped = c->stamped;
}

int clpt_shardcheck_save(clpt_shardcheck *c)
{
    if (!c->dirty) return 0;
    cJSON *root = cJSON_CreateObject(), *arr = NULL;
    int ok = root && cJSON_AddStringToObject(root, "format", STAMP_FORMAT) &&
             cJSON_AddNumberToObject(root, "version", STAMP_VERSION) &&
             (arr = cJSON_AddArrayToObject(root, "shards"));
    for (int i = 0; ok && i < c->n; i++) {
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddItemToArray(arr, e) && cJSON_AddStringToObject(e, "file", c->s[i].file) &&
             cJSON_AddStringToObject(e, "sha256", c->s[i].sha256) &&
             cJSON_AddStringToObject(e, "id", c->s[i].id);
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    int rc = text ? clpt_fs_write_atomic(c->path, text, strlen(text))
                  : clpt_err(CLPT_ENOMEM, "%s: out of memory", c->path);
    free(text);
    if (!rc) c->dirty = 0;
    return rc;
}

void clpt_shardcheck_close(clpt_shardcheck *c, FILE *log)
{
    if (!c) return;
    char keep[1024];  /* closing after a failed open must not replace its message */
    snprintf(keep, sizeof keep, "%s", clpt_errmsg());
    int rc = clpt_shardcheck_save(c);
    if (log && c->hashed)
        fprintf(log, "clpt: checked %d shard%s (%.1f MB) against %s in %.1f s\n", c->hashed,
                c->hashed == 1 ? "" : "s", c->bytes / 1e6, clpt_manifest_path(c->m), c->seconds);
    if (log && rc)
        fprintf(log, "clpt: note: %s; the next open hashes these shards again\n", clpt_errmsg());
    clpt_err(0, "%s", keep);
    for (int i = 0; i < c->n; i++) free(c->s[i].file);
    free(c->s);
    free(c->path);
    free(c);
}
