/* fuzz_safetensors.c - libFuzzer target: any byte string through the
 * safetensors validator, then every accessor on every tensor it accepts.
 * A valid file must be fully readable; nothing may read out of bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "safetensors.h"

static void touch_tensor(const clpt_st *st, const clpt_st_tensor *t, size_t len)
{
    /* the validator guarantees that the tensor lies inside the input */
    if (t->nbytes > len || t->offset > len) abort();
    if (clpt_st_find(st, t->name) != t) abort();
    const unsigned char *p = clpt_st_data(st, t);
    unsigned sum = 0; /* every byte is read, so ASan checks the range */
    for (size_t i = 0; i < t->nbytes; i++) sum += p[i];
    if (sum == 0xffffffffu) abort(); /* unreachable for inputs < 16 MiB */
    float *f = malloc((t->numel ? t->numel : 1) * sizeof *f);
    int32_t *v = malloc((t->numel ? t->numel : 1) * sizeof *v);
    if (!f || !v) abort();
    int rf = clpt_st_read_f32(st, t, f, t->numel);
    int ri = clpt_st_read_i32(st, t, v, t->numel);
    int is_float = t->dtype == CLPT_ST_F32 || t->dtype == CLPT_ST_F16 ||
                   t->dtype == CLPT_ST_BF16 || t->dtype == CLPT_ST_F64;
    if (is_float != (rf == 0)) abort();           /* floats always convert */
    if (is_float && ri != CLPT_EUNSUP) abort();
    if (t->numel && clpt_st_read_f32(st, t, f, t->numel - 1) != CLPT_EINVAL) abort();
    free(f);
    free(v);
}

/* Two input forms. Raw: the bytes are the file. Header form, for inputs
 * starting with '{': "JSON\0DATA", given the right length prefix here, so
 * that mutations of the JSON are not all lost to a stale length field. */
static uint8_t *make_image(const uint8_t *data, size_t size, size_t *len)
{
    const uint8_t *nul = size && data[0] == '{' ? memchr(data, 0, size) : NULL;
    size_t hlen = nul ? (size_t)(nul - data) : 0, extra = nul ? 8 : 0;
    uint8_t *buf = malloc(size + extra ? size + extra : 1);
    if (!buf) return NULL;
    if (!nul) {
        if (size) memcpy(buf, data, size);
        *len = size;
        return buf;
    }
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)((uint64_t)hlen >> (8 * i));
    memcpy(buf + 8, data, hlen);
    memcpy(buf + 8 + hlen, nul + 1, size - hlen - 1);
    *len = size + 7;
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a private, exact-size copy: reading past `len` is an ASan error */
    size_t len = 0;
    uint8_t *buf = make_image(data, size, &len);
    if (!buf) return 0;
    clpt_st *st = NULL;
    int rc = clpt_st_parse_buffer(&st, buf, len, "fuzz");
    if (rc == 0) {
        for (int i = 0; i < clpt_st_count(st); i++)
            touch_tensor(st, clpt_st_get(st, i), len);
        int vr = clpt_st_verify(st); /* reads the whole data section */
        if (vr > 0 || (vr < 0 && !clpt_errmsg()[0])) abort();
        for (int i = 0; i < clpt_st_metadata_count(st); i++) {
            const char *k, *v;
            if (clpt_st_metadata_get(st, i, &k, &v) || !clpt_st_metadata(st, k)) abort();
            (void)strlen(v);
        }
        clpt_st_close(st);
    } else {
        /* failures leave no handle and always say why */
        if (st != NULL || rc >= 0 || clpt_errmsg()[0] == '\0') abort();
    }
    free(buf);
    return 0;
}
