/* textsrc.h - text sources for `clpt prepare`: the bytes of one input file
 * (plain or gzip-compressed), or of one member of a tar archive, optionally
 * converted from HTML to plain text, read as a stream.
 *
 * A source never holds a whole file: it reads through a fixed buffer, so a
 * 5 GB input needs the same memory as a 5 KB one. While bytes pass through
 * it counts what the tokenizer would rather know about - invalid UTF-8
 * sequences and NUL bytes - so the caller can warn, naming the file. The
 * bytes themselves are passed on unchanged (the tokenizer encodes invalid
 * UTF-8 byte for byte). */
#ifndef CLPT_TEXTSRC_H
#define CLPT_TEXTSRC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tar.h"
#include "tokenizer.h"

/* flags of the open functions */
enum {
    CLPT_TEXTSRC_HTML = 1,  /* convert HTML to text (see clpt_html_filter) */
};

typedef struct clpt_textsrc clpt_textsrc;

/* Counts of what passed through a source (in its output bytes). */
typedef struct clpt_textsrc_stats {
    uint64_t bytes;         /* bytes returned so far */
    uint64_t invalid_utf8;  /* invalid or truncated UTF-8 sequences */
    uint64_t first_invalid; /* offset of the first one (valid if invalid_utf8 > 0) */
    uint64_t nul_bytes;     /* NUL bytes (a sign of a binary file) */
} clpt_textsrc_stats;

/* Open the file at `path` (gzip or plain: told by its content). *out is a
 * new source the caller frees with clpt_textsrc_close(). CLPT_EIO names the
 * path. */
int clpt_textsrc_open_file(clpt_textsrc **out, const char *path, int flags);

/* A source over the data of the current entry of `tar` (after a successful
 * clpt_tar_next()). The tar reader is borrowed: it must outlive the source,
 * and must not be advanced while the source is in use. `name` labels
 * messages (e.g. "cs.CL.tar.gz:cs.CL/train.txt"); it is copied. */
int clpt_textsrc_open_tar(clpt_textsrc **out, clpt_tar *tar, const char *name, int flags);

/* Read up to n bytes into buf: the count (0 at the end) or a negative
 * CLPT_E* whose message names the source (CLPT_EFORMAT for corrupt gzip
 * data, CLPT_EIO for read errors). */
ssize_t clpt_textsrc_read(clpt_textsrc *s, void *buf, size_t n);

/* Label for messages: the path, or the name given to _open_tar; borrowed
 * until clpt_textsrc_close(). */
const char *clpt_textsrc_name(const clpt_textsrc *s);

/* Counts so far (see clpt_textsrc_stats). */
clpt_textsrc_stats clpt_textsrc_get_stats(const clpt_textsrc *s);

/* Bytes of the underlying file consumed so far (compressed bytes for gzip),
 * for progress reports; 0 for tar members (the caller asks the tar). */
uint64_t clpt_textsrc_consumed(const clpt_textsrc *s);

void clpt_textsrc_close(clpt_textsrc *s);

/* Size of the file at `path`: *disk = its size on disk; *text = the bytes
 * it holds once decompressed (for a gzip file the size in its trailer,
 * which is modulo 2^32 and exact for a single-member file under 4 GiB).
 * *is_gzip (may be NULL) = 1 for gzip data. CLPT_EIO names the path. */
int clpt_textsrc_size(const char *path, uint64_t *text, uint64_t *disk, int *is_gzip);

/* 1 if the start of `path`'s (decompressed) content looks binary: a NUL
 * byte within its first 8 KB. 0 if not; negative CLPT_E* on errors. */
int clpt_textsrc_is_binary(const char *path);

/* 1 if `name` (with an optional ".gz") ends in .html, .htm or .xhtml, case
 * insensitive. */
int clpt_textsrc_is_html_name(const char *name);

/* Append p[0..n) to *b, growing it geometrically. 0 or CLPT_ENOMEM. */
int clpt_textsrc_bytes_add(clpt_bytes *b, const void *p, size_t n);

/* ---- UTF-8 checking, streamed ------------------------------------------- */

/* Incremental UTF-8 validator: feed bytes in any pieces; sequences split
 * across pieces are handled. Zero-initialise it. Overlong forms, surrogates
 * and code points above U+10FFFF count as invalid. */
typedef struct clpt_utf8_check {
    clpt_textsrc_stats st;
    int need;        /* continuation bytes still expected */
    uint32_t cp;     /* code point so far */
    uint32_t min;    /* smallest code point the sequence may encode */
    uint64_t start;  /* offset of the sequence's first byte */
} clpt_utf8_check;

void clpt_utf8_check_feed(clpt_utf8_check *c, const uint8_t *p, size_t n);
/* End of the stream: a sequence left incomplete counts as invalid. */
void clpt_utf8_check_end(clpt_utf8_check *c);

/* ---- HTML to text ------------------------------------------------------- */

/* A streaming HTML -> text converter: drops tags, comments, <script>,
 * <style> and <head> content; turns block elements (p, div, h1-h6, li, tr,
 * br, pre, ...) into line or paragraph breaks; collapses white space
 * outside <pre>; decodes character references (&amp; &#8212; &#x2014; and
 * the common named ones; unknown ones are kept as written). The output is
 * what a reader sees, one paragraph per line, paragraphs separated by a
 * blank line. Malformed HTML never fails: it only reads worse. */
typedef struct clpt_html_filter clpt_html_filter;

/* New filter (caller frees with clpt_html_filter_free), or NULL if out of
 * memory. */
clpt_html_filter *clpt_html_filter_new(void);
void clpt_html_filter_free(clpt_html_filter *f);

/* Convert in[0..n) and append the text to *out; at_end = 1 with the last
 * piece flushes what is held back. 0 or CLPT_ENOMEM. */
int clpt_html_filter_feed(clpt_html_filter *f, const void *in, size_t n, int at_end,
                          clpt_bytes *out);

#endif
