/* sha256.h - SHA-256 (FIPS 180-4), for identifying tokenizer files, shards
 * and manifests. Streaming (init/update/final) or one-shot. No allocation;
 * a context is plain data the caller owns. */
#ifndef CLPT_SHA256_H
#define CLPT_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct clpt_sha256_ctx {
    uint32_t h[8];
    uint64_t nbytes;    /* message length so far */
    uint8_t buf[64];    /* partial block */
    size_t nbuf;
} clpt_sha256_ctx;

void clpt_sha256_init(clpt_sha256_ctx *c);
void clpt_sha256_update(clpt_sha256_ctx *c, const void *data, size_t n);
/* Writes the 32-byte digest; the context must be re-initialised to reuse. */
void clpt_sha256_final(clpt_sha256_ctx *c, uint8_t out[32]);

/* One-shot digest of data[0..n). */
void clpt_sha256(const void *data, size_t n, uint8_t out[32]);

/* Lower-case hex of a digest into hex[65] (NUL-terminated). */
void clpt_sha256_hex(const uint8_t digest[32], char hex[65]);

/* Hex digest of a file's contents. Returns 0, or CLPT_EIO naming the file. */
int clpt_sha256_file(const char *path, char hex[65]);

#endif
