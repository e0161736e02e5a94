/* dataloader.c - sources (shards as one stream), seeded training windows in
 * random and epoch mode, exact-resume state, and evaluation windows. */
#define _POSIX_C_SOURCE 200809L

#include "dataloader.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "rng.h"
#include "shard.h"

/* ---- sources ------------------------------------------------------------ */

struct clpt_source {
    int n_seg;
    const uint16_t **seg;   /* tokens of segment i */
    uint64_t *start;        /* start[i]: stream position of seg i; start[n_seg] = total */
    clpt_shard **shards;    /* shards[i] backs seg i; NULL for caller memory */
    uint64_t n;             /* usable tokens: min(total, cap) */
};

static int source_alloc(clpt_source **out, int n)
{
    *out = NULL;
    if (n < 0) return clpt_err(CLPT_EINVAL, "source: negative segment count %d", n);
    clpt_source *s = calloc(1, sizeof *s);
    size_t k = (size_t)n + 1;
    if (!s || !(s->seg = calloc(k, sizeof *s->seg)) || !(s->start = calloc(k, sizeof *s->start))
        || !(s->shards = calloc(k, sizeof *s->shards))) {
        clpt_source_free(s);
        return clpt_err(CLPT_ENOMEM, "source: out of memory");
    }
    *out = s;
    return 0;
}

/* Append a segment; the source takes ownership of `sh` (may be NULL). */
static void source_add(clpt_source *s, const uint16_t *tokens, uint64_t n, clpt_shard *sh)
{
    int i = s->n_seg++;
    s->seg[i] = tokens;
    s->shards[i] = sh;
    s->start[i + 1] = s->start[i] + n;
}

static void source_cap(clpt_source *s, uint64_t cap)
{
    uint64_t total = s->start[s->n_seg];
    s->n = cap && cap < total ? cap : total;
}

void clpt_source_free(clpt_source *s)
{
    if (!s) return;
    for (int i = 0; s->shards && i < s->n_seg; i++) clpt_shard_close(s->shards[i]);
    free(s->seg);
    free(s->start);
    free(s->shards);
    free(s);
}

int clpt_source_open(clpt_source **out, const char *const *paths, int n, uint64_t cap)
{
    clpt_source *s;
    int rc = source_alloc(&s, n);
    for (int i = 0; !rc && i < n; i++) {
        clpt_shard *sh;
        rc = clpt_shard_open(&sh, paths[i]);
        if (!rc) source_add(s, clpt_shard_tokens(sh), clpt_shard_count(sh), sh);
    }
    if (rc) {
        clpt_source_free(s);
        return rc;
    }
    source_cap(s, cap);
    *out = s;
    return 0;
}

int clpt_source_from_split(clpt_source **out, const clpt_manifest *m, int domain,
                           int split, uint64_t cap, clpt_shardcheck *check)
{
    const clpt_manifest_split *sp = clpt_manifest_split_of(m, domain, split);
    if (!sp)
        return clpt_err(CLPT_EINVAL, "source: no domain %d / split %d in the manifest",
                        domain, split);
    const char *name = clpt_manifest_domain(m, domain)->name;
    clpt_source *s;
    int rc = source_alloc(&s, sp->n_shards);
    for (int k = 0; !rc && k < sp->n_shards; k++) {
        const clpt_manifest_shard *ms = &sp->shards[k];
        clpt_shard *sh;
        rc = clpt_shard_open(&sh, ms->path);
        if (!rc) source_add(s, clpt_shard_tokens(sh), clpt_shard_count(sh), sh);
        if (!rc && clpt_shard_count(sh) != ms->tokens)
            rc = clpt_err(CLPT_EFORMAT, "%s: holds %llu tokens, but the manifest says %llu "
                          "(domain \"%s\" %s shard %d)", ms->path,
                          (unsigned long long)clpt_shard_count(sh),
                          (unsigned long long)ms->tokens, name, clpt_split_name(split), k);
        if (!rc && check) {
            char where[512];
            snprintf(where, sizeof where, "domain \"%s\" %s shard %d", name, clpt_split_name(split), k);
            rc = clpt_shardcheck_shard(check, ms, sh, where);
        }
    }
    if (rc) {
        clpt_source_free(s);
        return rc;
    }
    source_cap(s, cap);
    *out = s;
    return 0;
}

int clpt_source_from_memory(clpt_source **out, const uint16_t *const *segs,
                            const uint64_t *lens, int n, uint64_t cap)
{
    clpt_source *s;
    int rc = source_alloc(&s, n);
    if (rc) return rc;
    for (int i = 0; i < n; i++) source_add(s, segs[i], lens[i], NULL);
    source_cap(s, cap);
    *out = s;
    return 0;
}

uint64_t clpt_source_tokens(const clpt_source *s) { return s->n; }

/* The segment holding stream position pos (< total): the last i with
 * start[i] <= pos, which is never an empty segment. */
static int find_seg(const clpt_source *s, uint64_t pos)
{
    int lo = 0, hi = s->n_seg - 1;
    while (lo < hi) {
        int mid = lo + (hi - lo + 1) / 2;
        if (s->start[mid] <= pos) lo = mid;
        else hi = mid - 1;
    }
    return lo;
}

int clpt_source_read(const clpt_source *s, uint64_t pos, uint64_t n, int *dst)
{
    if (pos > s->n || n > s->n - pos)
        return clpt_err(CLPT_EINVAL, "source: reading tokens %llu..%llu of a %llu-token "
                        "stream", (unsigned long long)pos, (unsigned long long)(pos + n),
                        (unsigned long long)s->n);
    if (!n) return 0;
    for (int i = find_seg(s, pos); n; i++) {
        uint64_t off = pos - s->start[i], k = s->start[i + 1] - pos;
        if (k > n) k = n;
        const uint16_t *src = s->seg[i] + off;
        for (uint64_t j = 0; j < k; j++) dst[j] = src[j];
        dst += k; pos += k; n -= k;
    }
    return 0;
}

int clpt_source_check_vocab(const clpt_source *s, int vocab_size)
{
    for (int i = 0; i < s->n_seg && s->start[i] < s->n; i++) {
        uint64_t len = s->start[i + 1] - s->start[i];
        if (s->start[i + 1] > s->n) len = s->n - s->start[i];
        for (uint64_t j = 0; j < len; j++) {
            if (s->seg[i][j] < vocab_size) continue;
            char where[64];
            snprintf(where, sizeof where, "memory segment %d", i);
            return clpt_err(CLPT_EFORMAT, "%s: token %u at position %llu (stream position "
                            "%llu) is >= the vocabulary size %d",
                            s->shards[i] ? clpt_shard_path(s->shards[i]) : where,
                            (unsigned)s->seg[i][j], (unsigned long long)j,
                            (unsigned long long)(s->start[i] + j), vocab_size);
        }
    }
    return 0;
}

/* inputs = stream[pos .. pos+T), targets = stream[pos+1 .. pos+T+1). */
static int read_window(const clpt_source *s, uint64_t pos, int T, int *inputs, int *targets)
{
    int rc = clpt_source_read(s, pos, (uint64_t)T, inputs);
    if (rc) return rc;
    memcpy(targets, inputs + 1, (size_t)(T - 1) * sizeof *targets);
    return clpt_source_read(s, pos + (uint64_t)T, 1, targets + T - 1);
}

/* ---- loader ------------------------------------------------------------- */

struct clpt_loader {
    int n;
    clpt_source *const *src;   /* copy of the caller's array (sources borrowed) */
    double *cum;               /* cumulative weights; cum[n-1] = total */
    clpt_rng rng;
    uint64_t seed;
    /* epoch mode */
    int ep_src, ep_T;
    uint64_t ep_epoch, ep_pos, ep_W;
    uint32_t *perm;            /* window order of the current epoch, ep_W entries */
};

int clpt_loader_new(clpt_loader **out, clpt_source *const *sources, const double *weights,
                    int n, uint64_t seed)
{
    *out = NULL;
    if (n <= 0) return clpt_err(CLPT_EINVAL, "loader: needs at least one source (got %d)", n);
    double total = 0;
    for (int i = 0; i < n; i++) {
        double w = weights ? weights[i] : 1.0;
        if (!sources[i]) return clpt_err(CLPT_EINVAL, "loader: source %d is NULL", i);
        if (!(w >= 0) || !isfinite(w))
            return clpt_err(CLPT_EINVAL, "loader: weight %d is %g; weights must be finite "
                            "and >= 0", i, w);
        total += w;
    }
    if (!(total > 0)) return clpt_err(CLPT_EINVAL, "loader: all %d weights are zero", n);
    clpt_loader *l = calloc(1, sizeof *l);
    clpt_source **src = malloc((size_t)n * sizeof *src);
    double *cum = malloc((size_t)n * sizeof *cum);
    if (!l || !src || !cum) {
        free(l); free(src); free(cum);
        return clpt_err(CLPT_ENOMEM, "loader: out of memory");
    }
    for (int i = 0; i < n; i++) {
        src[i] = sources[i];
        cum[i] = (i ? cum[i - 1] : 0) + (weights ? weights[i] : 1.0);
    }
    l->n = n; l->src = src; l->cum = cum; l->seed = seed;
    l->ep_src = -1;
    clpt_rng_seed(&l->rng, seed);
    *out = l;
    return 0;
}

void clpt_loader_free(clpt_loader *l)
{
    if (!l) return;
    free((void *)l->src);
    free(l->cum);
    free(l->perm);
    free(l);
}

int clpt_loader_nsources(const clpt_loader *l) { return l->n; }

static double weight_of(const clpt_loader *l, int i)
{
    return l->cum[i] - (i ? l->cum[i - 1] : 0);
}

/* Draw a source index with probability weight / total. */
static int pick_source(clpt_loader *l)
{
    if (l->n == 1) return 0;
    double u = clpt_rng_uniform(&l->rng) * l->cum[l->n - 1];
    int last = 0;
    for (int i = 0; i < l->n; i++) {
        if (weight_of(l, i) > 0) last = i;
        if (u < l->cum[i] && weight_of(l, i) > 0) return i;
    }
    return last;  /* u rounded up to the total */
}

static int check_long_enough(const clpt_loader *l, int i, int T)
{
    uint64_t n = clpt_source_tokens(l->src[i]);
    if (n < (uint64_t)T + 1)
        return clpt_err(CLPT_EINVAL, "loader: source %d has %llu tokens, fewer than the "
                        "T + 1 = %d a window needs", i, (unsigned long long)n, T + 1);
    return 0;
}

static int sample_row(clpt_loader *l, int i, int *inputs, int *targets, int T)
{
    uint64_t n = clpt_source_tokens(l->src[i]);
    uint64_t s = clpt_rng_below(&l->rng, n - (uint64_t)T);  /* s in [0, n - T - 1] */
    return read_window(l->src[i], s, T, inputs, targets);
}

int clpt_loader_next(clpt_loader *l, int *inputs, int *targets, int B, int T)
{
    if (B <= 0 || T <= 0)
        return clpt_err(CLPT_EINVAL, "loader: batch shape B=%d T=%d must be positive", B, T);
    for (int i = 0; i < l->n; i++) {
        int rc = weight_of(l, i) > 0 ? check_long_enough(l, i, T) : 0;
        if (rc) return rc;
    }
    for (int b = 0; b < B; b++) {
        size_t row = (size_t)b * (size_t)T;
        int rc = sample_row(l, pick_source(l), inputs + row, targets + row, T);
        if (rc) return rc;
    }
    return 0;
}

int clpt_loader_sample(clpt_loader *l, int src, int *inputs, int *targets, int T)
{
    if (src < 0 || src >= l->n)
        return clpt_err(CLPT_EINVAL, "loader: no source %d (%d sources)", src, l->n);
    if (T <= 0) return clpt_err(CLPT_EINVAL, "loader: T=%d must be positive", T);
    int rc = check_long_enough(l, src, T);
    return rc ? rc : sample_row(l, src, inputs, targets, T);
}

/* ---- epoch mode --------------------------------------------------------- */

uint64_t clpt_loader_epoch_windows(const clpt_source *s, int T)
{
    uint64_t n = clpt_source_tokens(s);
    return T > 0 && n > 0 ? (n - 1) / (uint64_t)T : 0;
}

/* The permutation seed: a hash of everything that names the epoch, so each
 * (seed, source, T, epoch) gets its own order. */
static uint64_t epoch_seed(uint64_t seed, int src, int T, uint64_t epoch)
{
    uint64_t x = seed, h = clpt_splitmix64(&x);
    x = h ^ ((uint64_t)(uint32_t)src << 32 | (uint32_t)T);
    h = clpt_splitmix64(&x);
    x = h ^ epoch;
    return clpt_splitmix64(&x);
}

/* A new array with the Fisher-Yates shuffle of 0..W-1 for that epoch. */
static int make_perm(uint64_t seed, int src, int T, uint64_t epoch, uint64_t W,
                     uint32_t **out)
{
    uint32_t *p = malloc((size_t)W * sizeof *p);
    if (!p) return clpt_err(CLPT_ENOMEM, "loader: out of memory for %llu epoch windows",
                            (unsigned long long)W);
    clpt_rng r;
    clpt_rng_seed(&r, epoch_seed(seed, src, T, epoch));
    for (uint64_t i = 0; i < W; i++) p[i] = (uint32_t)i;
    for (uint64_t i = W - 1; i > 0; i--) {
        uint64_t j = clpt_rng_below(&r, i + 1);
        uint32_t t = p[i]; p[i] = p[j]; p[j] = t;
    }
    *out = p;
    return 0;
}

/* Validate (src, T) and return its W. */
static int epoch_check(const clpt_loader *l, int src, int T, uint64_t *W)
{
    if (src < 0 || src >= l->n)
        return clpt_err(CLPT_EINVAL, "loader: no source %d (%d sources)", src, l->n);
    if (T <= 0) return clpt_err(CLPT_EINVAL, "loader: T=%d must be positive", T);
    *W = clpt_loader_epoch_windows(l->src[src], T);
    if (*W == 0 || *W > UINT32_MAX)
        return clpt_err(CLPT_EINVAL, "loader: source %d (%llu tokens) gives %llu epoch "
                        "windows of T=%d; need 1..%u", src,
                        (unsigned long long)clpt_source_tokens(l->src[src]),
                        (unsigned long long)*W, T, UINT32_MAX);
    return 0;
}

/* Enter (src, T, epoch, pos) with a freshly built permutation; on failure
 * the loader is unchanged. */
static int epoch_enter(clpt_loader *l, int src, int T, uint64_t epoch, uint64_t pos)
{
    uint64_t W = 0;
    uint32_t *perm = NULL;
    int rc = epoch_check(l, src, T, &W);
    if (!rc && pos > W)
        rc = clpt_err(CLPT_EINVAL, "loader: epoch position %llu is past the %llu windows "
                      "of source %d", (unsigned long long)pos, (unsigned long long)W, src);
    if (!rc) rc = make_perm(l->seed, src, T, epoch, W, &perm);
    if (rc) return rc;
    free(l->perm);
    l->perm = perm;
    l->ep_src = src; l->ep_T = T; l->ep_epoch = epoch; l->ep_pos = pos; l->ep_W = W;
    return 0;
}

int clpt_loader_epoch_begin(clpt_loader *l, int src, int T)
{
    return epoch_enter(l, src, T, 0, 0);
}

int clpt_loader_epoch_next(clpt_loader *l, int *inputs, int *targets, int B, int *rows)
{
    *rows = 0;
    if (l->ep_src < 0)
        return clpt_err(CLPT_ESTATE, "loader: epoch_next before epoch_begin");
    if (B <= 0) return clpt_err(CLPT_EINVAL, "loader: batch size B=%d must be positive", B);
    if (l->ep_pos == l->ep_W) {
        int rc = epoch_enter(l, l->ep_src, l->ep_T, l->ep_epoch + 1, 0);
        if (rc) return rc;
    }
    int T = l->ep_T, n = 0;
    for (; n < B && l->ep_pos < l->ep_W; n++) {
        uint64_t w = l->perm[l->ep_pos];
        size_t row = (size_t)n * (size_t)T;
        int rc = read_window(l->src[l->ep_src], w * (uint64_t)T, T, inputs + row,
                             targets + row);
        if (rc) return rc;
        l->ep_pos++;
    }
    *rows = n;
    return 0;
}

void clpt_loader_epoch_info(const clpt_loader *l, uint64_t *epoch, uint64_t *position,
                            uint64_t *windows)
{
    if (epoch) *epoch = l->ep_src < 0 ? 0 : l->ep_epoch;
    if (position) *position = l->ep_src < 0 ? 0 : l->ep_pos;
    if (windows) *windows = l->ep_src < 0 ? 0 : l->ep_W;
}

/* ---- state -------------------------------------------------------------- */

void clpt_loader_get_state(const clpt_loader *l, clpt_loader_state *st)
{
    memset(st, 0, sizeof *st);
    memcpy(st->rng, l->rng.s, sizeof st->rng);
    st->seed = l->seed;
    st->epoch_source = l->ep_src;
    st->n_sources = l->n;
    if (l->ep_src >= 0) {
        st->epoch = l->ep_epoch;
        st->position = l->ep_pos;
        st->epoch_T = l->ep_T;
    }
}

int clpt_loader_set_state(clpt_loader *l, const clpt_loader_state *st)
{
    if (st->n_sources != l->n)
        return clpt_err(CLPT_EINVAL, "loader state: n_sources is %d, this loader has %d",
                        (int)st->n_sources, l->n);
    if (st->epoch_source < -1 || st->epoch_source >= l->n)
        return clpt_err(CLPT_EINVAL, "loader state: epoch_source %d is out of range",
                        (int)st->epoch_source);
    if (!(st->rng[0] | st->rng[1] | st->rng[2] | st->rng[3]))
        return clpt_err(CLPT_EINVAL, "loader state: rng words are all zero");
    uint64_t old_seed = l->seed;
    l->seed = st->seed;  /* the permutation derives from it */
    if (st->epoch_source >= 0) {
        int rc = epoch_enter(l, st->epoch_source, st->epoch_T, st->epoch, st->position);
        if (rc) {
            l->seed = old_seed;
            return clpt_err_wrap(rc, "loader state: ");
        }
    } else {
        free(l->perm);
        l->perm = NULL;
        l->ep_src = -1; l->ep_T = 0; l->ep_epoch = l->ep_pos = l->ep_W = 0;
    }
    memcpy(l->rng.s, st->rng, sizeof st->rng);
    return 0;
}

static cJSON *hex_item(uint64_t v)
{
    char buf[17];
    snprintf(buf, sizeof buf, "%016" PRIx64, v);
    return cJSON_CreateString(buf);
}

cJSON *clpt_loader_state_to_json(const clpt_loader_state *st)
{
    cJSON *j = cJSON_CreateObject(), *rng = cJSON_AddArrayToObject(j, "rng");
    for (int i = 0; i < 4; i++) cJSON_AddItemToArray(rng, hex_item(st->rng[i]));
    cJSON_AddItemToObject(j, "seed", hex_item(st->seed));
    cJSON_AddNumberToObject(j, "epoch", (double)st->epoch);
    cJSON_AddNumberToObject(j, "position", (double)st->position);
    cJSON_AddNumberToObject(j, "epoch_source", st->epoch_source);
    cJSON_AddNumberToObject(j, "epoch_T", st->epoch_T);
    cJSON_AddNumberToObject(j, "n_sources", st->n_sources);
    /* cJSON drops items silently when it runs out of memory */
    if (cJSON_GetArraySize(j) != 7 || cJSON_GetArraySize(rng) != 4) {
        cJSON_Delete(j);
        return NULL;
    }
    return j;
}

static int parse_hex(const cJSON *v, const char *key, uint64_t *out)
{
    const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
    char *end;
    if (!s || !*s || strlen(s) > 16 || strspn(s, "0123456789abcdefABCDEF") != strlen(s))
        return clpt_err(CLPT_EFORMAT, "loader state: %s must be a hex string of 1-16 "
                        "digits", key);
    *out = strtoull(s, &end, 16);
    return 0;
}

static int parse_num(const cJSON *j, const char *key, double lo, double hi, double *out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        v->valuedouble < lo || v->valuedouble > hi)
        return clpt_err(CLPT_EFORMAT, "loader state: %s must be an integer in %.0f..%.0f",
                        key, lo, hi);
    *out = v->valuedouble;
    return 0;
}

int clpt_loader_state_from_json(clpt_loader_state *st, const cJSON *j)
{
    const cJSON *rng = cJSON_GetObjectItemCaseSensitive(j, "rng");
    double ep = 0, pos = 0, src = 0, T = 0, n = 0;
    clpt_loader_state s;
    memset(&s, 0, sizeof s);
    if (!cJSON_IsArray(rng) || cJSON_GetArraySize(rng) != 4)
        return clpt_err(CLPT_EFORMAT, "loader state: rng must be an array of 4 hex strings");
    int rc = 0;
    for (int i = 0; !rc && i < 4; i++) rc = parse_hex(cJSON_GetArrayItem(rng, i), "rng", &s.rng[i]);
    if (!rc) rc = parse_hex(cJSON_GetObjectItemCaseSensitive(j, "seed"), "seed", &s.seed);
    if (!rc) rc = parse_num(j, "epoch", 0, 9007199254740992.0, &ep);
    if (!rc) rc = parse_num(j, "position", 0, 9007199254740992.0, &pos);
    if (!rc) rc = parse_num(j, "epoch_source", -1, INT32_MAX, &src);
    if (!rc) rc = parse_num(j, "epoch_T", 0, INT32_MAX, &T);
    if (!rc) rc = parse_num(j, "n_sources", 0, INT32_MAX, &n);
    if (rc) return rc;
    s.epoch = (uint64_t)ep; s.position = (uint64_t)pos;
    s.epoch_source = (int32_t)src; s.epoch_T = (int32_t)T; s.n_sources = (int32_t)n;
    *st = s;
    return 0;
}

/* ---- evaluation windows ------------------------------------------------- */

int clpt_evalwin_init(clpt_evalwin *ew, const clpt_source *src, int T, uint64_t max_tokens)
{
    if (T <= 0) return clpt_err(CLPT_EINVAL, "evalwin: T=%d must be positive", T);
    uint64_t n = clpt_source_tokens(src);
    ew->src = src;
    ew->T = T;
    ew->n = max_tokens && max_tokens < n ? max_tokens : n;
    return 0;
}

uint64_t clpt_evalwin_count(const clpt_evalwin *ew)
{
    return ew->n < 2 ? 0 : (ew->n - 2) / (uint64_t)ew->T + 1;  /* ceil((n-1)/T) */
}

int clpt_evalwin_get(const clpt_evalwin *ew, uint64_t i, int *inputs, int *targets,
                     int *len)
{
    uint64_t count = clpt_evalwin_count(ew);
    if (i >= count)
        return clpt_err(CLPT_EINVAL, "evalwin: window %llu of %llu",
                        (unsigned long long)i, (unsigned long long)count);
    uint64_t start = i * (uint64_t)ew->T, left = ew->n - 1 - start;
    int k = left < (uint64_t)ew->T ? (int)left : ew->T;
    int rc = clpt_source_read(ew->src, start, (uint64_t)k, inputs);
    if (!rc) rc = clpt_source_read(ew->src, start + 1, (uint64_t)k, targets);
    if (rc) return rc;
    for (int t = k; t < ew->T; t++) {
        inputs[t] = 0;
        targets[t] = -1;
    }
    *len = k;
    return 0;
}
