/* unicode.h - strict UTF-8 decoding, the character classes of GPT-2's
 * pre-tokenizer, and the pre-tokenizer itself.
 *
 * GPT-2 splits text into pre-tokens with the regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * clpt_pretok_next() is that regex written out by hand, over the classes of
 * core/unicode_tables.inc (Unicode CLPT_UNICODE_VERSION, the version tiktoken
 * and Hugging Face tokenizers use; see tools/gen_unicode_tables.py).
 *
 * Text is bytes, not necessarily valid UTF-8. A byte that does not start a
 * well-formed UTF-8 sequence (RFC 3629: no overlongs, surrogates or code
 * points above U+10FFFF) is one character of class "other", as a lone
 * surrogate is when Python decodes with errors="surrogateescape"; it stays in
 * the pre-token as the raw byte, so decode(encode(x)) == x for any bytes.
 * All functions are pure and thread-safe. */
#ifndef CLPT_UNICODE_H
#define CLPT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* character classes of the GPT-2 regex */
enum {
    CLPT_UC_OTHER = 0,  /* neither \p{L}, \p{N} nor \s (also: invalid bytes) */
    CLPT_UC_LETTER = 1, /* general category L* */
    CLPT_UC_NUMBER = 2, /* general category N* */
    CLPT_UC_SPACE = 3,  /* White_Space property (= \s of regex, tiktoken, HF) */
};

/* Code point reported for a byte that is not valid UTF-8. */
#define CLPT_UTF8_INVALID 0xFFFFFFFFu

/* Decode the character at s[0..n), n > 0. Returns its length in bytes (1..4)
 * and stores its code point in *cp, or returns 1 and stores
 * CLPT_UTF8_INVALID if s[0] does not start a well-formed sequence. */
size_t clpt_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp);

/* Class of a code point (CLPT_UC_*); CLPT_UTF8_INVALID and values above
 * U+10FFFF are CLPT_UC_OTHER. */
int clpt_unicode_class(uint32_t cp);

/* The Unicode version of the tables, e.g. "16.0.0". */
const char *clpt_unicode_version(void);

/* End of the pre-token that starts at byte `pos` of s[0..n), pos < n.
 * The result is > pos; calling it again from the result walks the whole
 * text, and the pieces are exactly the GPT-2 regex's matches. */
size_t clpt_pretok_next(const uint8_t *s, size_t n, size_t pos);

#endif
