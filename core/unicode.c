/* unicode.c - UTF-8 decoding, GPT-2 character classes and pre-tokenizer. */
#include "unicode.h"

#include "unicode_tables.inc"

const char *clpt_unicode_version(void) { return CLPT_UNICODE_VERSION; }

static inline int is_cont(uint8_t b) { return (b & 0xC0) == 0x80; }

size_t clpt_utf8_decode(const uint8_t *s, size_t n, uint32_t *cp)
{
    uint8_t b = s[0];
    *cp = CLPT_UTF8_INVALID;
    if (b < 0x80) {
        *cp = b;
        return 1;
    }
    if (b >= 0xC2 && b <= 0xDF) {
        if (n < 2 || !is_cont(s[1])) return 1;
        *cp = (uint32_t)(b & 0x1F) << 6 | (s[1] & 0x3F);
        return 2;
    }
    if (b >= 0xE0 && b <= 0xEF) {
        /* the second byte's range excludes overlongs (E0) and surrogates (ED) */
        uint8_t lo = b == 0xE0 ? 0xA0 : 0x80, hi = b == 0xED ? 0x9F : 0xBF;
        if (n < 3 || s[1] < lo || s[1] > hi || !is_cont(s[2])) return 1;
        *cp = (uint32_t)(b & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        return 3;
    }
    if (b >= 0xF0 && b <= 0xF4) {
        /* excludes overlongs (F0) and code points above U+10FFFF (F4) */
        uint8_t lo = b == 0xF0 ? 0x90 : 0x80, hi = b == 0xF4 ? 0x8F : 0xBF;
        if (n < 4 || s[1] < lo || s[1] > hi || !is_cont(s[2]) || !is_cont(s[3])) return 1;
        *cp = (uint32_t)(b & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
              (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        return 4;
    }
    return 1; /* 80..C1 and F5..FF never start a character */
}

static inline int uclass(uint32_t cp)
{
    unsigned blk = clpt_uc_stage1[cp >> CLPT_UC_SHIFT];
    unsigned k = cp & ((1u << CLPT_UC_SHIFT) - 1);
    uint8_t packed = clpt_uc_stage2[(blk << (CLPT_UC_SHIFT - 2)) + (k >> 2)];
    return (packed >> ((k & 3) * 2)) & 3;
}

int clpt_unicode_class(uint32_t cp)
{
    return cp < 0x110000 ? uclass(cp) : CLPT_UC_OTHER;
}

/* class and byte length of the character at s[i], i < n */
static inline int class_at(const uint8_t *s, size_t n, size_t i, size_t *len)
{
    uint32_t cp;
    if (s[i] < 0x80) {
        *len = 1;
        return uclass(s[i]);
    }
    *len = clpt_utf8_decode(s + i, n - i, &cp);
    return cp == CLPT_UTF8_INVALID ? CLPT_UC_OTHER : uclass(cp);
}

/* 's|'t|'re|'ve|'m|'ll|'d : length of the contraction at s[i], or 0 */
static size_t contraction(const uint8_t *s, size_t n, size_t i)
{
    if (s[i] != '\'' || i + 1 >= n) return 0;
    uint8_t a = s[i + 1];
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
    if (i + 2 >= n) return 0;
    uint8_t b = s[i + 2];
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
    return 0;
}

/* \s+(?!\S)|\s+ from i, where s[i] is whitespace */
static size_t space_run(const uint8_t *s, size_t n, size_t i)
{
    size_t k = i, last = i, len;
    while (k < n && class_at(s, n, k, &len) == CLPT_UC_SPACE) {
        last = k;
        k += len;
    }
    if (k == n) return n;
    /* followed by a non-space: the lookahead backs off one character, so
     * the last one can lead the next pre-token (" word"); a lone one can't */
    return last > i ? last : k;
}

size_t clpt_pretok_next(const uint8_t *s, size_t n, size_t pos)
{
    size_t len, c = contraction(s, n, pos);
    if (c) return pos + c;
    size_t j = pos;
    int cls = class_at(s, n, pos, &len);
    if (s[pos] == ' ' && pos + 1 < n) {
        size_t len1;
        int cls1 = class_at(s, n, pos + 1, &len1);
        if (cls1 != CLPT_UC_SPACE) { /* " ?" prefix of the next three rules */
            j = pos + 1;
            cls = cls1;
            len = len1;
        }
    }
    if (cls == CLPT_UC_SPACE) return space_run(s, n, pos);
    /* \p{L}+, \p{N}+ or [^\s\p{L}\p{N}]+: a run of one class */
    j += len;
    while (j < n && class_at(s, n, j, &len) == cls) j += len;
    return j;
}
