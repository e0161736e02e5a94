/* safetensors.h - read and write the Hugging Face safetensors format.
 *
 * Layout: an 8-byte little-endian u64 N, then N bytes of a JSON object
 *   { "<name>": {"dtype": "F32", "shape": [d0, d1, ...],
 *                "data_offsets": [begin, end]}, ...,
 *     "__metadata__": {"<key>": "<string>", ...} }           (optional)
 * then the data section; offsets are in bytes from the start of the data
 * section; tensors are row-major, little-endian.
 *
 * The reader is a security boundary (files come from the internet): it
 * checks everything before it hands out a tensor, so that no later access
 * can go out of bounds. Limits: header <= CLPT_ST_MAX_HEADER bytes, names
 * 1..CLPT_ST_MAX_NAME bytes and unique, at most CLPT_ST_MAX_DIM dimensions,
 * dimensions and offsets integers in [0, 2^53], numel*size without overflow
 * and equal to end-begin, every tensor inside the data section, no two
 * non-empty tensors overlapping. Every error names the file and the tensor
 * or field. Files are mapped read-only (mmap); the file must not be
 * truncated by someone else while it is open.
 *
 * Host byte order must be little-endian (checked at compile time). */
#ifndef CLPT_SAFETENSORS_H
#define CLPT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define CLPT_ST_MAX_HEADER (100u << 20) /* bytes of JSON header */
#define CLPT_ST_MAX_NAME 1024           /* bytes of a tensor name */
#define CLPT_ST_MAX_DIM 8

typedef enum clpt_st_dtype {
    CLPT_ST_F64, CLPT_ST_F32, CLPT_ST_F16, CLPT_ST_BF16,
    CLPT_ST_I64, CLPT_ST_I32, CLPT_ST_I16, CLPT_ST_I8,
    CLPT_ST_U64, CLPT_ST_U32, CLPT_ST_U16, CLPT_ST_U8,
    CLPT_ST_BOOL,
    CLPT_ST_F8_E4M3, CLPT_ST_F8_E5M2, /* open fine; not convertible */
    CLPT_ST_NDTYPE
} clpt_st_dtype;

/* "F32", ... and the element size in bytes; NULL / 0 for a bad value. */
const char *clpt_st_dtype_name(clpt_st_dtype dt);
size_t clpt_st_dtype_size(clpt_st_dtype dt);

typedef struct clpt_st_tensor {
    const char *name;              /* NUL-terminated; owned by the clpt_st */
    clpt_st_dtype dtype;
    int ndim;                      /* 0 (scalar) .. CLPT_ST_MAX_DIM */
    int64_t shape[CLPT_ST_MAX_DIM];
    size_t numel;                  /* product of shape (1 for a scalar) */
    size_t nbytes;                 /* numel * dtype size == end - begin */
    size_t offset;                 /* byte offset into the data section */
} clpt_st_tensor;

/* An opened safetensors file (or buffer). Tensors are listed in increasing
 * data offset order (ties by name), which is the writer's order. */
typedef struct clpt_st clpt_st;

/* Open and validate `path`. Caller frees with clpt_st_close(). */
int clpt_st_open(clpt_st **out, const char *path);
/* Validate a safetensors image held in memory. `buf` is borrowed: it must
 * stay valid and unchanged until clpt_st_close(). `label` (may be NULL)
 * names the source in error messages and is copied. */
int clpt_st_parse_buffer(clpt_st **out, const void *buf, size_t len, const char *label);
void clpt_st_close(clpt_st *st);

int clpt_st_count(const clpt_st *st);
/* i in [0, count); NULL otherwise. Borrowed until clpt_st_close(). */
const clpt_st_tensor *clpt_st_get(const clpt_st *st, int i);
/* Tensor by exact name; NULL if none. */
const clpt_st_tensor *clpt_st_find(const clpt_st *st, const char *name);

/* Metadata value for `key` (the "__metadata__" object), NULL if absent.
 * Borrowed until clpt_st_close(). */
const char *clpt_st_metadata(const clpt_st *st, const char *key);
int clpt_st_metadata_count(const clpt_st *st);
/* i-th metadata entry (key and value borrowed); CLPT_EINVAL if out of range. */
int clpt_st_metadata_get(const clpt_st *st, int i, const char **key, const char **value);

/* Files written by clpt carry the CRC-32 (zlib's) of the whole file (the
 * length, the header with these 8 digits read as "00000000", the data) as
 * 8 lowercase hex digits in __metadata__ under this key; other readers
 * ignore it. */
#define CLPT_ST_CRC_KEY "clpt_crc32"

/* Check the file against the header's CLPT_ST_CRC_KEY: 0 when they agree
 * or the file has no such entry (written elsewhere), else CLPT_EFORMAT
 * naming the file. Reads every byte once (~4 GB/s). */
int clpt_st_verify(const clpt_st *st);

/* The source label given at open (the path). */
const char *clpt_st_label(const clpt_st *st);

/* The tensor's raw little-endian bytes (t->nbytes of them; not necessarily
 * aligned). Borrowed until clpt_st_close(). `t` must come from `st`. */
const void *clpt_st_data(const clpt_st *st, const clpt_st_tensor *t);

/* Convert a floating tensor (F32, F16, BF16, F64) to n = t->numel floats in
 * dst. F16 subnormals, infinities and NaNs convert exactly; F64 rounds.
 * CLPT_EUNSUP for other dtypes, CLPT_EINVAL if n != t->numel. */
int clpt_st_read_f32(const clpt_st *st, const clpt_st_tensor *t, float *dst, size_t n);

/* Convert an integer tensor (I32, I64, I16, I8, U16, U8; U32/U64 when each
 * value fits) to n = t->numel int32 values. Values outside int32 range are
 * CLPT_EFORMAT naming the tensor and index. */
int clpt_st_read_i32(const clpt_st *st, const clpt_st_tensor *t, int32_t *dst, size_t n);

/* Scalar conversions, exposed for tests and writers. Float to half rounds
 * to nearest even and keeps NaN a NaN. */
float clpt_f16_to_f32(uint16_t h);
float clpt_bf16_to_f32(uint16_t h);
uint16_t clpt_f32_to_f16(float f);
uint16_t clpt_f32_to_bf16(float f);

/* ---- writer ---------------------------------------------------------------
 * Collects tensors (in the order added) and string metadata, then writes
 * the file atomically (temporary file, fsync, rename, directory fsync). The
 * header is padded with spaces to a multiple of 8 bytes, as the Hugging Face
 * library does, so that the data section is 8-byte aligned. */
typedef struct clpt_st_writer clpt_st_writer;

int clpt_st_writer_new(clpt_st_writer **out);
void clpt_st_writer_free(clpt_st_writer *w);

/* Add a tensor. `name` and `shape` are copied; `data` (numel * dtype size
 * bytes, little-endian, for F32 simply the float array) is BORROWED until
 * clpt_st_writer_write() returns. Duplicate names are CLPT_EINVAL. */
int clpt_st_writer_add(clpt_st_writer *w, const char *name, clpt_st_dtype dtype,
                       int ndim, const int64_t *shape, const void *data);
/* Set a metadata string (copied; replaces an earlier value of the key). */
int clpt_st_writer_set_metadata(clpt_st_writer *w, const char *key, const char *value);

/* Write everything to `path` atomically, with the file's CRC-32 under
 * CLPT_ST_CRC_KEY in the metadata. The writer may be reused or freed
 * afterwards. */
int clpt_st_writer_write(clpt_st_writer *w, const char *path);

#endif
