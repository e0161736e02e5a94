/* safetensors.c - validating reader and atomic writer of .safetensors files.
 *
 * The reader trusts nothing in the file: the header length, the JSON, every
 * dtype, shape and offset are checked (overflow-safe) before any tensor is
 * handed out, so the accessors can index the data section without further
 * checks. */
#define _XOPEN_SOURCE 700
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "clpt.h"
#include "fsutil.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "clpt's safetensors code assumes a little-endian host"
#endif

#define MAX_EXACT 9007199254740992.0 /* 2^53: largest exact JSON integer */

struct clpt_st {
    char *label;                 /* path or caller's label, for messages */
    void *map;                   /* mmap'ed file, or NULL for a buffer */
    size_t map_len;
    const unsigned char *data;   /* data section */
    size_t data_len;
    size_t header_len;           /* N: the JSON header between the length and the data */
    int n;
    clpt_st_tensor *t;           /* by offset; names malloc'ed */
    int *by_name;                /* indices into t, sorted by name */
    int nmeta;
    char **meta;                 /* key0, value0, key1, value1, ... */
};

static const struct { const char *name; size_t size; } dtypes[CLPT_ST_NDTYPE] = {
    [CLPT_ST_F64] = {"F64", 8},  [CLPT_ST_F32] = {"F32", 4},
    [CLPT_ST_F16] = {"F16", 2},  [CLPT_ST_BF16] = {"BF16", 2},
    [CLPT_ST_I64] = {"I64", 8},  [CLPT_ST_I32] = {"I32", 4},
    [CLPT_ST_I16] = {"I16", 2},  [CLPT_ST_I8] = {"I8", 1},
    [CLPT_ST_U64] = {"U64", 8},  [CLPT_ST_U32] = {"U32", 4},
    [CLPT_ST_U16] = {"U16", 2},  [CLPT_ST_U8] = {"U8", 1},
    [CLPT_ST_BOOL] = {"BOOL", 1},
    [CLPT_ST_F8_E4M3] = {"F8_E4M3", 1}, [CLPT_ST_F8_E5M2] = {"F8_E5M2", 1},
};

const char *clpt_st_dtype_name(clpt_st_dtype dt)
{
    return (unsigned)dt < CLPT_ST_NDTYPE ? dtypes[dt].name : NULL;
}

size_t clpt_st_dtype_size(clpt_st_dtype dt)
{
    return (unsigned)dt < CLPT_ST_NDTYPE ? dtypes[dt].size : 0;
}

static char *str_dup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ---- scalar conversions ------------------------------------------------ */

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float clpt_f16_to_f32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    if (exp == 0) {
        /* zero or subnormal: mant * 2^-24, exact in float */
        float v = ldexpf((float)mant, -24);
        return sign ? -v : v;
    }
    if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13));
    return bits_f32(sign | ((exp + 112u) << 23) | (mant << 13));
}

float clpt_bf16_to_f32(uint16_t h) { return bits_f32((uint32_t)h << 16); }

/* round-to-nearest-even of m >> shift (shift >= 1) */
static uint32_t rne_shift(uint32_t m, int shift)
{
    uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    return r + (rem > half || (rem == half && (r & 1)));
}

uint16_t clpt_f32_to_f16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u) return sign | 0x7e00u | ((ax >> 13) & 0x3ffu); /* NaN stays NaN */
    if (ax >= 0x477ff000u) return sign | 0x7c00u; /* >= 65520 rounds to inf */
    if (ax >= 0x38800000u) /* normal half: rebias 127 -> 15, round 13 bits */
        return sign | (uint16_t)rne_shift(ax - 0x38000000u, 13);
    if (ax <= 0x33000000u) return sign; /* <= 2^-25 rounds to zero */
    uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
    return sign | (uint16_t)rne_shift(m, (int)(126 - e)); /* subnormal half */
}

uint16_t clpt_f32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* ---- header validation ------------------------------------------------- */

/* A JSON number that is an integer in [0, 2^53]. */
static int json_count(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= MAX_EXACT) || d != floor(d)) return 0;
    *out = (uint64_t)d;
    return 1;
}

static int parse_dtype(const clpt_st *st, const char *name, const cJSON *v,
                       clpt_st_dtype *out)
{
    if (!cJSON_IsString(v))
        return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': field 'dtype' missing or "
                        "not a string", st->label, name);
    for (int i = 0; i < CLPT_ST_NDTYPE; i++)
        if (!strcmp(v->valuestring, dtypes[i].name)) {
            *out = (clpt_st_dtype)i;
            return 0;
        }
    return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': field 'dtype': unknown dtype "
                    "'%.40s'", st->label, name, v->valuestring);
}

static int parse_shape(const clpt_st *st, clpt_st_tensor *t, const cJSON *v)
{
    if (!cJSON_IsArray(v))
        return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': field 'shape' missing or "
                        "not an array", st->label, t->name);
    int nd = cJSON_GetArraySize(v);
    if (nd > CLPT_ST_MAX_DIM)
        return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': field 'shape': %d dimensions "
                        "(limit %d)", st->label, t->name, nd, CLPT_ST_MAX_DIM);
    size_t numel = 1;
    int zero = 0, over = 0, i = 0;
    for (const cJSON *d = v->child; d; d = d->next, i++) {
        uint64_t x;
        if (!json_count(d, &x))
            return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': field 'shape': dimension %d "
                            "is not a non-negative integer", st->label, t->name, i);
        t->shape[i] = (int64_t)x;
        if (x == 0) zero = 1;
        else if (numel > SIZE_MAX / x) over = 1;
        else numel *= (size_t)x;
    }
    t->ndim = nd;
    size_t esz = dtypes[t->dtype].size;
    if (zero) numel = 0;
    else if (over || numel > SIZE_MAX / esz)
        return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': field 'shape': element count "
                        "overflows", st->label, t->name);
    t->numel = numel;
    t->nbytes = numel * esz;
    return 0;
}

static int parse_offsets(const clpt_st *st, clpt_st_tensor *t, const cJSON *v)
{
    uint64_t b, e;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2 ||
        !json_count(v->child, &b) || !json_count(v->child->next, &e))
        return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': field 'data_offsets' must be "
                        "[begin, end] non-negative integers", st->label, t->name);
    if (b > e || e > st->data_len)
        return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': field 'data_offsets' [%llu, %llu] "
                        "outside the data section (%zu bytes)", st->label, t->name,
                        (unsigned long long)b, (unsigned long long)e, st->data_len);
    if (e - b != t->nbytes)
        return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': field 'data_offsets' span %llu "
                        "bytes but dtype and shape need %zu", st->label, t->name,
                        (unsigned long long)(e - b), t->nbytes);
    t->offset = (size_t)b;
    return 0;
}

/* Each field at most once: parsers disagree on which duplicate wins. */
static int check_fields(const clpt_st *st, const char *name, const cJSON *entry)
{
    static const char *known[] = {"dtype", "shape", "data_offsets"};
    int seen[3] = {0, 0, 0};
    for (const cJSON *f = entry->child; f; f = f->next)
        for (int k = 0; k < 3; k++)
            if (f->string && !strcmp(f->string, known[k]) && seen[k]++)
                return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': field '%s' repeated",
                                st->label, name, known[k]);
    return 0;
}

static int parse_entry(clpt_st *st, clpt_st_tensor *t, const cJSON *entry)
{
    const char *name = entry->string;
    size_t len = name ? strlen(name) : 0;
    if (len == 0)
        return clpt_err(CLPT_EFORMAT, "%s: empty tensor name", st->label);
    if (len > CLPT_ST_MAX_NAME)
        return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s...': name longer than %d bytes",
                        st->label, name, CLPT_ST_MAX_NAME);
    if (!(t->name = str_dup(name)))
        return clpt_err(CLPT_ENOMEM, "%s: out of memory", st->label);
    if (!cJSON_IsObject(entry))
        return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': entry is not an object",
                        st->label, name);
    int rc = check_fields(st, name, entry);
    if (!rc) rc = parse_dtype(st, name, cJSON_GetObjectItemCaseSensitive(entry, "dtype"),
                              &t->dtype);
    if (!rc) rc = parse_shape(st, t, cJSON_GetObjectItemCaseSensitive(entry, "shape"));
    if (!rc) rc = parse_offsets(st, t, cJSON_GetObjectItemCaseSensitive(entry, "data_offsets"));
    return rc;
}

static int parse_metadata(clpt_st *st, const cJSON *obj)
{
    if (st->meta)
        return clpt_err(CLPT_EFORMAT, "%s: '__metadata__' repeated", st->label);
    if (!cJSON_IsObject(obj))
        return clpt_err(CLPT_EFORMAT, "%s: '__metadata__' is not an object", st->label);
    int n = cJSON_GetArraySize(obj), i = 0;
    st->meta = calloc(2 * (size_t)n + 1, sizeof *st->meta);
    if (!st->meta) return clpt_err(CLPT_ENOMEM, "%s: out of memory", st->label);
    for (const cJSON *e = obj->child; e; e = e->next, i++) {
        if (!cJSON_IsString(e))
            return clpt_err(CLPT_EFORMAT, "%s: '__metadata__' key '%.200s': value is not "
                            "a string", st->label, e->string ? e->string : "");
        st->meta[2 * i] = str_dup(e->string ? e->string : "");
        st->meta[2 * i + 1] = str_dup(e->valuestring);
        st->nmeta = i + 1;
        if (!st->meta[2 * i] || !st->meta[2 * i + 1])
            return clpt_err(CLPT_ENOMEM, "%s: out of memory", st->label);
    }
    return 0;
}

/* qsort has no context pointer; the table being sorted is set here. */
static _Thread_local const clpt_st_tensor *sort_tab;

static int cmp_name(const void *a, const void *b)
{
    return strcmp(sort_tab[*(const int *)a].name, sort_tab[*(const int *)b].name);
}

static int cmp_offset(const void *a, const void *b)
{
    const clpt_st_tensor *x = a, *y = b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    if (x->nbytes != y->nbytes) return x->nbytes < y->nbytes ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Order by offset, reject overlaps, then build the name index and reject
 * duplicates. */
static int index_tensors(clpt_st *st)
{
    qsort(st->t, (size_t)st->n, sizeof *st->t, cmp_offset);
    size_t end = 0;
    const char *prev = NULL;
    for (int i = 0; i < st->n; i++) {
        const clpt_st_tensor *t = &st->t[i];
        if (t->nbytes == 0) continue; /* empty tensors occupy no bytes */
        if (prev && t->offset < end)
            return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': data overlaps tensor '%.200s'",
                            st->label, t->name, prev);
        end = t->offset + t->nbytes;
        prev = t->name;
    }
    st->by_name = malloc(((size_t)st->n + 1) * sizeof *st->by_name);
    if (!st->by_name) return clpt_err(CLPT_ENOMEM, "%s: out of memory", st->label);
    for (int i = 0; i < st->n; i++) st->by_name[i] = i;
    sort_tab = st->t;
    qsort(st->by_name, (size_t)st->n, sizeof *st->by_name, cmp_name);
    for (int i = 1; i < st->n; i++)
        if (!strcmp(st->t[st->by_name[i]].name, st->t[st->by_name[i - 1]].name))
            return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': name repeated", st->label,
                            st->t[st->by_name[i]].name);
    return 0;
}

static int parse_entries(clpt_st *st, const cJSON *root)
{
    int n = 0;
    for (const cJSON *e = root->child; e; e = e->next)
        if (!e->string || strcmp(e->string, "__metadata__")) n++;
    st->t = calloc((size_t)n + 1, sizeof *st->t);
    if (!st->t) return clpt_err(CLPT_ENOMEM, "%s: out of memory", st->label);
    for (const cJSON *e = root->child; e; e = e->next) {
        int rc;
        if (e->string && !strcmp(e->string, "__metadata__")) {
            rc = parse_metadata(st, e);
        } else {
            rc = parse_entry(st, &st->t[st->n], e);
            st->n++; /* counted even on failure, so close() frees the name */
        }
        if (rc) return rc;
    }
    return index_tensors(st);
}

static int is_json_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int parse_header(clpt_st *st, const unsigned char *img, size_t len)
{
    if (len < 8)
        return clpt_err(CLPT_EFORMAT, "%s: truncated: %zu bytes, need at least 8 for the "
                        "header length", st->label, len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | img[i];
    if (n > CLPT_ST_MAX_HEADER)
        return clpt_err(CLPT_EFORMAT, "%s: header length %llu exceeds the %u-byte limit",
                        st->label, (unsigned long long)n, CLPT_ST_MAX_HEADER);
    if (n > len - 8)
        return clpt_err(CLPT_EFORMAT, "%s: header length %llu exceeds the file (%zu bytes)",
                        st->label, (unsigned long long)n, len);
    if (n < 2 || img[8] != '{')
        return clpt_err(CLPT_EFORMAT, "%s: header is not a JSON object", st->label);
    st->data = img + 8 + n;
    st->data_len = len - 8 - (size_t)n;
    st->header_len = (size_t)n;
    /* A private NUL-terminated copy: cJSON never sees the mapped bytes. */
    char *js = malloc((size_t)n + 1);
    if (!js) return clpt_err(CLPT_ENOMEM, "%s: out of memory for a %llu-byte header",
                             st->label, (unsigned long long)n);
    memcpy(js, img + 8, (size_t)n);
    js[n] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(js, (size_t)n, &end, 0);
    int rc = 0;
    if (!root || !cJSON_IsObject(root)) {
        size_t at = (!root && end >= js && end <= js + n) ? (size_t)(end - js) : 0;
        rc = clpt_err(CLPT_EFORMAT, "%s: header is not a JSON object (error near byte %zu)",
                      st->label, at);
    } else {
        for (const char *p = end; p < js + n; p++)
            if (!is_json_space((unsigned char)*p)) {
                rc = clpt_err(CLPT_EFORMAT, "%s: header: trailing bytes after the JSON "
                              "object at byte %zu", st->label, (size_t)(p - js));
                break;
            }
        if (!rc) rc = parse_entries(st, root);
    }
    cJSON_Delete(root);
    free(js);
    return rc;
}

/* ---- open / close / access --------------------------------------------- */

static int st_alloc(clpt_st **out, const char *label)
{
    *out = calloc(1, sizeof **out);
    if (!*out) return clpt_err(CLPT_ENOMEM, "%s: out of memory", label);
    if (!((*out)->label = str_dup(label))) {
        free(*out);
        *out = NULL;
        return clpt_err(CLPT_ENOMEM, "%s: out of memory", label);
    }
    return 0;
}

int clpt_st_parse_buffer(clpt_st **out, const void *buf, size_t len, const char *label)
{
    clpt_st *st;
    int rc = st_alloc(&st, label ? label : "<buffer>");
    *out = NULL;
    if (rc) return rc;
    if ((rc = parse_header(st, buf, len))) {
        clpt_st_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

static int map_file(clpt_st *st, const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    int rc = 0;
    if (fstat(fd, &sb) != 0) rc = clpt_err(CLPT_EIO, "%s: stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode)) rc = clpt_err(CLPT_EIO, "%s: not a regular file", path);
    else if (sb.st_size < 8)
        rc = clpt_err(CLPT_EFORMAT, "%s: truncated: %lld bytes, need at least 8 for the "
                      "header length", path, (long long)sb.st_size);
    else if ((unsigned long long)sb.st_size > SIZE_MAX)
        rc = clpt_err(CLPT_EUNSUP, "%s: too large to map", path);
    if (!rc) {
        st->map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (st->map == MAP_FAILED) {
            st->map = NULL;
            rc = clpt_err(CLPT_EIO, "%s: mmap: %s", path, strerror(errno));
        } else {
            st->map_len = (size_t)sb.st_size;
        }
    }
    close(fd);
    return rc;
}

int clpt_st_open(clpt_st **out, const char *path)
{
    clpt_st *st;
    int rc = st_alloc(&st, path);
    *out = NULL;
    if (rc) return rc;
    if (!(rc = map_file(st, path))) rc = parse_header(st, st->map, st->map_len);
    if (rc) {
        clpt_st_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void clpt_st_close(clpt_st *st)
{
    if (!st) return;
    if (st->map) munmap(st->map, st->map_len);
    for (int i = 0; i < st->n; i++) free((char *)st->t[i].name);
    for (int i = 0; i < 2 * st->nmeta; i++) free(st->meta[i]);
    free(st->meta);
    free(st->t);
    free(st->by_name);
    free(st->label);
    free(st);
}

int clpt_st_count(const clpt_st *st) { return st->n; }
const char *clpt_st_label(const clpt_st *st) { return st->label; }

const clpt_st_tensor *clpt_st_get(const clpt_st *st, int i)
{
    return (i >= 0 && i < st->n) ? &st->t[i] : NULL;
}

const clpt_st_tensor *clpt_st_find(const clpt_st *st, const char *name)
{
    int lo = 0, hi = st->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(name, st->t[st->by_name[mid]].name);
        if (c == 0) return &st->t[st->by_name[mid]];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *clpt_st_metadata(const clpt_st *st, const char *key)
{
    for (int i = 0; i < st->nmeta; i++)
        if (!strcmp(st->meta[2 * i], key)) return st->meta[2 * i + 1];
    return NULL;
}

int clpt_st_metadata_count(const clpt_st *st) { return st->nmeta; }

int clpt_st_metadata_get(const clpt_st *st, int i, const char **key, const char **value)
{
    if (i < 0 || i >= st->nmeta)
        return clpt_err(CLPT_EINVAL, "%s: metadata index %d out of range", st->label, i);
    *key = st->meta[2 * i];
    *value = st->meta[2 * i + 1];
    return 0;
}

const void *clpt_st_data(const clpt_st *st, const clpt_st_tensor *t)
{
    return st->data + t->offset;
}

static int check_count(const clpt_st *st, const clpt_st_tensor *t, size_t n)
{
    if (n != t->numel)
        return clpt_err(CLPT_EINVAL, "%s: tensor '%.200s': %zu elements, caller expects %zu",
                        st->label, t->name, t->numel, n);
    return 0;
}

static float f64_to_f32(double d)
{
    /* out-of-range double -> float conversion is undefined in C */
    if (d > 3.4028235677973366e38) return INFINITY;
    if (d < -3.4028235677973366e38) return -INFINITY;
    return (float)d;
}

int clpt_st_read_f32(const clpt_st *st, const clpt_st_tensor *t, float *dst, size_t n)
{
    int rc = check_count(st, t, n);
    if (rc) return rc;
    const unsigned char *p = st->data + t->offset;
    switch (t->dtype) {
    case CLPT_ST_F32:
        if (n) memcpy(dst, p, n * 4);
        return 0;
    case CLPT_ST_F16:
    case CLPT_ST_BF16: {
        float (*cv)(uint16_t) = t->dtype == CLPT_ST_F16 ? clpt_f16_to_f32 : clpt_bf16_to_f32;
        for (size_t i = 0; i < n; i++) dst[i] = cv((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
        return 0;
    }
    case CLPT_ST_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = f64_to_f32(d);
        }
        return 0;
    default:
        return clpt_err(CLPT_EUNSUP, "%s: tensor '%.200s': dtype %s cannot be read as float",
                        st->label, t->name, dtypes[t->dtype].name);
    }
}

/* Element i of an integer tensor widened to int64 (U64 above INT64_MAX
 * saturates, which the int32 range check then rejects). */
static int64_t int_at(const unsigned char *p, clpt_st_dtype dt, size_t i)
{
    switch (dt) {
    case CLPT_ST_I64: { int64_t v; memcpy(&v, p + 8 * i, 8); return v; }
    case CLPT_ST_U64: { uint64_t v; memcpy(&v, p + 8 * i, 8); return v > INT64_MAX ? INT64_MAX : (int64_t)v; }
    case CLPT_ST_I32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case CLPT_ST_U32: { uint32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    case CLPT_ST_I16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case CLPT_ST_U16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case CLPT_ST_I8: return (int8_t)p[i];
    default: return p[i]; /* U8 */
    }
}

int clpt_st_read_i32(const clpt_st *st, const clpt_st_tensor *t, int32_t *dst, size_t n)
{
    int rc = check_count(st, t, n);
    if (rc) return rc;
    switch (t->dtype) {
    case CLPT_ST_I64: case CLPT_ST_U64: case CLPT_ST_I32: case CLPT_ST_U32:
    case CLPT_ST_I16: case CLPT_ST_U16: case CLPT_ST_I8: case CLPT_ST_U8:
        break;
    default:
        return clpt_err(CLPT_EUNSUP, "%s: tensor '%.200s': dtype %s cannot be read as int32",
                        st->label, t->name, dtypes[t->dtype].name);
    }
    const unsigned char *p = st->data + t->offset;
    for (size_t i = 0; i < n; i++) {
        int64_t v = int_at(p, t->dtype, i);
        if (v < INT32_MIN || v > INT32_MAX)
            return clpt_err(CLPT_EFORMAT, "%s: tensor '%.200s': element %zu = %lld does not "
                            "fit in int32", st->label, t->name, i, (long long)v);
        dst[i] = (int32_t)v;
    }
    return 0;
}

/* ---- writer ------------------------------------------------------------ */

typedef struct wtensor {
    char *name;
    clpt_st_dtype dtype;
    int ndim;
    int64_t shape[CLPT_ST_MAX_DIM];
    size_t nbytes;
    const void *data;  /* borrowed */
} wtensor;

struct clpt_st_writer {
    wtensor *t;
    int n, cap;
    char **meta;       /* key, value pairs */
    int nmeta, mcap;
};

int clpt_st_writer_new(clpt_st_writer **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : clpt_err(CLPT_ENOMEM, "safetensors writer: out of memory");
}

void clpt_st_writer_free(clpt_st_writer *w)
{
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->t[i].name);
    for (int i = 0; i < 2 * w->nmeta; i++) free(w->meta[i]);
    free(w->t);
    free(w->meta);
    free(w);
}

static int writer_check(const clpt_st_writer *w, const char *name, clpt_st_dtype dtype,
                        int ndim, const int64_t *shape, size_t *nbytes)
{
    size_t len = name ? strlen(name) : 0;
    if (len == 0 || len > CLPT_ST_MAX_NAME || !strcmp(name, "__metadata__"))
        return clpt_err(CLPT_EINVAL, "safetensors writer: bad tensor name '%.200s'",
                        name ? name : "");
    if ((unsigned)dtype >= CLPT_ST_NDTYPE || ndim < 0 || ndim > CLPT_ST_MAX_DIM)
        return clpt_err(CLPT_EINVAL, "safetensors writer: tensor '%.200s': bad dtype or ndim",
                        name);
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->t[i].name, name))
            return clpt_err(CLPT_EINVAL, "safetensors writer: tensor '%.200s' added twice", name);
    size_t numel = 1;
    int zero = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || (double)shape[i] > MAX_EXACT)
            return clpt_err(CLPT_EINVAL, "safetensors writer: tensor '%.200s': bad dimension "
                            "%d", name, i);
        if (shape[i] == 0) zero = 1;
        else if (!zero && numel > SIZE_MAX / (size_t)shape[i] / dtypes[dtype].size)
            return clpt_err(CLPT_EINVAL, "safetensors writer: tensor '%.200s': size overflows",
                            name);
        else numel *= (size_t)shape[i];
    }
    *nbytes = zero ? 0 : numel * dtypes[dtype].size;
    return 0;
}

int clpt_st_writer_add(clpt_st_writer *w, const char *name, clpt_st_dtype dtype,
                       int ndim, const int64_t *shape, const void *data)
{
    size_t nbytes = 0;
    int rc = writer_check(w, name, dtype, ndim, shape, &nbytes);
    if (rc) return rc;
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 16;
        wtensor *t = realloc(w->t, (size_t)cap * sizeof *t);
        if (!t) return clpt_err(CLPT_ENOMEM, "safetensors writer: out of memory");
        w->t = t;
        w->cap = cap;
    }
    wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    if (!(t->name = str_dup(name)))
        return clpt_err(CLPT_ENOMEM, "safetensors writer: out of memory");
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->nbytes = nbytes;
    t->data = data;
    w->n++;
    return 0;
}

int clpt_st_writer_set_metadata(clpt_st_writer *w, const char *key, const char *value)
{
    char *v = str_dup(value);
    if (!v) return clpt_err(CLPT_ENOMEM, "safetensors writer: out of memory");
    for (int i = 0; i < w->nmeta; i++)
        if (!strcmp(w->meta[2 * i], key)) {
            free(w->meta[2 * i + 1]);
            w->meta[2 * i + 1] = v;
            return 0;
        }
    if (w->nmeta == w->mcap) {
        int cap = w->mcap ? 2 * w->mcap : 4;
        char **m = realloc(w->meta, 2 * (size_t)cap * sizeof *m);
        if (!m) { free(v); return clpt_err(CLPT_ENOMEM, "safetensors writer: out of memory"); }
        w->meta = m;
        w->mcap = cap;
    }
    char *k = str_dup(key);
    if (!k) { free(v); return clpt_err(CLPT_ENOMEM, "safetensors writer: out of memory"); }
    w->meta[2 * w->nmeta] = k;
    w->meta[2 * w->nmeta + 1] = v;
    w->nmeta++;
    return 0;
}

/* CRC-32 (zlib's) of n bytes, in pieces zlib's length type holds */
static uint32_t crc_bytes(uint32_t crc, const unsigned char *p, size_t n)
{
    while (n) {
        size_t k = n > (1u << 30) ? (1u << 30) : n;
        crc = (uint32_t)crc32_z(crc, p, k);
        p += k;
        n -= k;
    }
    return crc;
}

/* "<key>":" as the writer prints it (cJSON, unformatted): the 8 digits follow */
#define CRC_FIELD "\"" CLPT_ST_CRC_KEY "\":\""

/* CRC-32 of a whole file image as written: the 8-byte length, the header
 * with the checksum's own digits read as "00000000", the data section. The
 * digits are at `at` in the header (hdr, hlen bytes). */
static uint32_t crc_image(const unsigned char *len8, const char *hdr, size_t hlen, size_t at,
                          const unsigned char *data, size_t data_len)
{
    uint32_t crc = (uint32_t)crc32_z(0, Z_NULL, 0);
    crc = crc_bytes(crc, len8, 8);
    crc = crc_bytes(crc, (const unsigned char *)hdr, at);
    crc = crc_bytes(crc, (const unsigned char *)"00000000", 8);
    crc = crc_bytes(crc, (const unsigned char *)hdr + at + 8, hlen - at - 8);
    return crc_bytes(crc, data, data_len);
}

int clpt_st_verify(const clpt_st *st)
{
    const char *want = clpt_st_metadata(st, CLPT_ST_CRC_KEY);
    if (!want) return 0; /* written elsewhere: nothing to check against */
    unsigned long v = 0;
    int ok = strlen(want) == 8;
    for (int i = 0; ok && i < 8; i++) {
        char c = want[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        ok = d >= 0;
        v = v * 16 + (unsigned long)(d < 0 ? 0 : d);
    }
    if (!ok)
        return clpt_err(CLPT_EFORMAT, "%s: __metadata__.%s: \"%.16s\" is not 8 lowercase hex digits",
                        st->label, CLPT_ST_CRC_KEY, want);
    /* the header as stored: just before the data section */
    const unsigned char *len8 = st->data - st->header_len - 8;
    const char *hdr = (const char *)(st->data - st->header_len);
    size_t at = 0, klen = strlen(CRC_FIELD);
    while (at + klen + 8 <= st->header_len && memcmp(hdr + at, CRC_FIELD, klen)) at++;
    if (at + klen + 8 > st->header_len)
        return clpt_err(CLPT_EFORMAT, "%s: __metadata__.%s is not where clpt writes it (was the header "
                        "rewritten?): the checksum cannot be checked", st->label, CLPT_ST_CRC_KEY);
    uint32_t got = crc_image(len8, hdr, st->header_len, at + klen, st->data, st->data_len);
    if (got != (uint32_t)v)
        return clpt_err(CLPT_EFORMAT, "%s: the file has CRC-32 %08x, its header says %s: "
                        "the file is corrupt", st->label, (unsigned)got, want);
    return 0;
}

/* Integers printed by hand (cJSON would switch to exponent notation above
 * 1e15, which the Hugging Face parser rejects) and attached as raw JSON. */
static int add_raw_ints(cJSON *obj, const char *key, const uint64_t *v, int n)
{
    char buf[CLPT_ST_MAX_DIM * 24 + 4];
    size_t at = 0;
    buf[at++] = '[';
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, "%s%llu", i ? "," : "",
                               (unsigned long long)v[i]);
    buf[at++] = ']';
    buf[at] = '\0';
    cJSON *raw = cJSON_CreateRaw(buf);
    return raw && cJSON_AddItemToObject(obj, key, raw);
}

static char *writer_header(const clpt_st_writer *w)
{
    cJSON *root = cJSON_CreateObject(), *meta = NULL;
    int ok = root != NULL;
    if (ok && w->nmeta) ok = (meta = cJSON_AddObjectToObject(root, "__metadata__")) != NULL;
    for (int i = 0; ok && i < w->nmeta; i++)
        ok = cJSON_AddStringToObject(meta, w->meta[2 * i], w->meta[2 * i + 1]) != NULL;
    uint64_t off = 0;
    for (int i = 0; ok && i < w->n; i++) {
        const wtensor *t = &w->t[i];
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        uint64_t shape[CLPT_ST_MAX_DIM], offs[2] = {off, off + t->nbytes};
        for (int d = 0; d < t->ndim; d++) shape[d] = (uint64_t)t->shape[d];
        ok = e && cJSON_AddStringToObject(e, "dtype", dtypes[t->dtype].name) &&
             add_raw_ints(e, "shape", shape, t->ndim) &&
             add_raw_ints(e, "data_offsets", offs, 2);
        off += t->nbytes;
    }
    char *js = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return js;
}

int clpt_st_writer_write(clpt_st_writer *w, const char *path)
{
    /* the file's checksum goes into its own header (clpt_st_verify): the
     * header is built with "00000000" there, the CRC of the whole image is
     * taken, then its digits replace the zeros */
    int rc0 = clpt_st_writer_set_metadata(w, CLPT_ST_CRC_KEY, "00000000");
    if (rc0) return rc0;
    char *js = writer_header(w);
    if (!js) return clpt_err(CLPT_ENOMEM, "%s: out of memory building the header", path);
    size_t n = strlen(js), padded = (n + 7) & ~(size_t)7;
    char *hdr = malloc(padded + 1);
    const char *field = strstr(js, CRC_FIELD "00000000\"");
    if (!hdr || !field) {
        free(js);
        free(hdr);
        return clpt_err(CLPT_ENOMEM, "%s: out of memory building the header", path);
    }
    memcpy(hdr, js, n);
    memset(hdr + n, ' ', padded - n);
    size_t at = (size_t)(field - js) + strlen(CRC_FIELD);
    free(js);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    uint32_t crc = (uint32_t)crc32_z(0, Z_NULL, 0);
    crc = crc_bytes(crc, len8, 8);
    crc = crc_bytes(crc, (const unsigned char *)hdr, padded);
    for (int i = 0; i < w->n; i++) crc = crc_bytes(crc, w->t[i].data, w->t[i].nbytes);
    char hex[16];
    snprintf(hex, sizeof hex, "%08x", (unsigned)crc);
    memcpy(hdr + at, hex, 8);
    clpt_afile f;
    int rc = clpt_afile_open(&f, path);
    if (rc) { free(hdr); return rc; }
    int ok = fwrite(len8, 1, 8, f.fp) == 8 && fwrite(hdr, 1, padded, f.fp) == padded;
    for (int i = 0; ok && i < w->n; i++)
        ok = !w->t[i].nbytes || fwrite(w->t[i].data, 1, w->t[i].nbytes, f.fp) == w->t[i].nbytes;
    free(hdr);
    if (!ok) {
        rc = clpt_err(CLPT_EIO, "%s: write: %s", path, strerror(errno));
        clpt_afile_abort(&f);
        return rc;
    }
    return clpt_afile_commit(&f);
}
