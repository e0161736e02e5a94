/* textsrc_html.c - a small streaming HTML -> text converter (textsrc.h).
 *
 * A byte-at-a-time state machine, so input may be cut anywhere (inside a
 * tag, a comment or a character reference) and memory stays constant. It
 * is deliberately forgiving: documentation HTML (Sphinx, DocBook,
 * asciidoc) is well formed, and for anything else the worst outcome is a
 * stray '<' in the text. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clpt.h"
#include "textsrc.h"

enum { S_TEXT, S_LT, S_TAG, S_BANG, S_COMMENT, S_DECL, S_ENTITY, S_RAW };

struct clpt_html_filter {
    int state;
    char tag[12];         /* lower-case tag name (truncated) */
    int tag_len, closing, name_done;
    char quote;           /* inside a quoted attribute value */
    char ent[34];         /* character reference being read, after '&' */
    int ent_len;
    int bang_len;         /* "<!" seen; dashes after it */
    int dashes;           /* in a comment: consecutive '-' just seen */
    char raw_tag[8];      /* in S_RAW: "script" or "style" */
    int raw_match;        /* chars of "</raw_tag" matched so far */
    int in_head, pre;
    int space, breaks;    /* pending: a space; 1 = line break, 2 = paragraph */
    int line_start, any;  /* at the start of an output line; emitted anything */
    int oom;
};

clpt_html_filter *clpt_html_filter_new(void)
{
    clpt_html_filter *f = calloc(1, sizeof *f);
    if (f) f->line_start = 1;
    return f;
}

void clpt_html_filter_free(clpt_html_filter *f) { free(f); }

static void put(clpt_html_filter *f, clpt_bytes *out, const char *s, size_t n)
{
    if (clpt_textsrc_bytes_add(out, s, n)) f->oom = 1;
}

/* One visible character (or the UTF-8 bytes of one) of text. */
static void emit(clpt_html_filter *f, clpt_bytes *out, const char *s, size_t n)
{
    if (f->in_head) return;
    if (f->breaks && f->any) {  /* a newline already written counts toward the break */
        size_t nl = (size_t)(f->breaks >= 2 ? 2 : 1) - (size_t)f->line_start;
        if (nl) put(f, out, "\n\n", nl);
        f->line_start = 1;
    } else if (f->space && !f->line_start) {
        put(f, out, " ", 1);
    }
    f->breaks = f->space = 0;
    put(f, out, s, n);
    f->any = 1;
    f->line_start = s[n - 1] == '\n';
}

static void text_char(clpt_html_filter *f, clpt_bytes *out, char c)
{
    if (f->pre && !f->in_head) {
        if (c == '\r') return;
        if (c == '\n') {
            if (f->breaks) return;  /* the newline right after <pre> */
            put(f, out, "\n", 1);
            f->line_start = 1;
            f->space = 0;
            return;
        }
        emit(f, out, &c, 1);
        return;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') f->space = 1;
    else emit(f, out, &c, 1);
}

static void brk(clpt_html_filter *f, int level)
{
    if (f->breaks < level) f->breaks = level;
}

static int tag_is(const char *t, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(t, *list)) return 1;
    return 0;
}

/* A complete tag name was read: open or close that element. */
static void on_tag(clpt_html_filter *f)
{
    static const char *const para[] = {
        "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table", "ul", "ol", "dl",
        "blockquote", "section", "article", "header", "footer", "nav", "aside", "hr",
        "figure", "form", "main", "address", "details", "summary", "body", NULL};
    static const char *const line[] = {"br", "li", "tr", "dt", "dd", "caption",
                                       "figcaption", "option", NULL};
    const char *t = f->tag;
    if (!f->closing && (!strcmp(t, "script") || !strcmp(t, "style"))) {
        strcpy(f->raw_tag, t);  /* fits: both are shorter than raw_tag */
        f->raw_match = 0;
        f->state = S_RAW;
        return;
    }
    if (!strcmp(t, "head")) f->in_head = !f->closing;
    if (!strcmp(t, "body")) f->in_head = 0;
    if (!strcmp(t, "pre")) f->pre += f->closing ? (f->pre > 0 ? -1 : 0) : 1;
    if (tag_is(t, para)) brk(f, 2);
    else if (tag_is(t, line)) brk(f, 1);
    else if (!strcmp(t, "td") || !strcmp(t, "th")) f->space = 1;
}

static const struct { const char *name, *utf8; } entities[] = {
    {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"},
    {"nbsp", " "}, {"mdash", "\xe2\x80\x94"}, {"ndash", "\xe2\x80\x93"},
    {"hellip", "\xe2\x80\xa6"}, {"lsquo", "\xe2\x80\x98"}, {"rsquo", "\xe2\x80\x99"},
    {"ldquo", "\xe2\x80\x9c"}, {"rdquo", "\xe2\x80\x9d"}, {"laquo", "\xc2\xab"},
    {"raquo", "\xc2\xbb"}, {"copy", "\xc2\xa9"}, {"reg", "\xc2\xae"},
    {"trade", "\xe2\x84\xa2"}, {"times", "\xc3\x97"}, {"divide", "\xc3\xb7"},
    {"middot", "\xc2\xb7"}, {"bull", "\xe2\x80\xa2"}, {"deg", "\xc2\xb0"},
    {"para", "\xc2\xb6"}, {"sect", "\xc2\xa7"}, {"larr", "\xe2\x86\x90"},
    {"rarr", "\xe2\x86\x92"}, {"uarr", "\xe2\x86\x91"}, {"darr", "\xe2\x86\x93"},
    {"le", "\xe2\x89\xa4"}, {"ge", "\xe2\x89\xa5"}, {"ne", "\xe2\x89\xa0"},
    {"plusmn", "\xc2\xb1"}, {"micro", "\xc2\xb5"}, {"euro", "\xe2\x82\xac"},
    {"pound", "\xc2\xa3"}, {"cent", "\xc2\xa2"}, {"shy", ""}, {"zwsp", ""},
    {"eacute", "\xc3\xa9"}, {"egrave", "\xc3\xa8"}, {"aacute", "\xc3\xa1"},
    {"ouml", "\xc3\xb6"}, {"uuml", "\xc3\xbc"}, {"auml", "\xc3\xa4"}, {"szlig", "\xc3\x9f"},
};

static size_t utf8_put(uint32_t cp, char *o)
{
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode f->ent (without '&' and ';') into o; 0 if unknown. */
static size_t decode_entity(const clpt_html_filter *f, char *o)
{
    const char *e = f->ent;
    if (e[0] == '#') {
        int hex = e[1] == 'x' || e[1] == 'X';
        char *end;
        unsigned long cp = strtoul(e + 1 + hex, &end, hex ? 16 : 10);
        if (end == e + 1 + hex || *end) return 0;
        return utf8_put(cp > 0x10FFFF ? 0xFFFD : (uint32_t)cp, o);
    }
    for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++)
        if (!strcmp(e, entities[i].name)) {
            size_t n = strlen(entities[i].utf8);
            memcpy(o, entities[i].utf8, n);
            return n ? n : (size_t)-1;  /* -1: known, renders as nothing */
        }
    return 0;
}

static void end_entity(clpt_html_filter *f, clpt_bytes *out, int semicolon)
{
    char o[8];
    f->ent[f->ent_len] = '\0';
    size_t n = semicolon ? decode_entity(f, o) : 0;
    f->state = S_TEXT;
    if (n == (size_t)-1) return;
    if (n == 1 && o[0] == ' ') {
        text_char(f, out, ' ');
    } else if (n) {
        emit(f, out, o, n);
    } else {  /* not a reference we know: keep it as written */
        text_char(f, out, '&');
        for (int i = 0; i < f->ent_len; i++) text_char(f, out, f->ent[i]);
        if (semicolon) text_char(f, out, ';');
    }
}

static int is_alpha(char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_alnum(char c) { return is_alpha(c) || (c >= '0' && c <= '9'); }

static void step_tag(clpt_html_filter *f, char c)
{
    if (f->quote) {
        if (c == f->quote) f->quote = 0;
        return;
    }
    if (!f->name_done && (is_alnum(c) || c == '-' || c == ':')) {
        if (f->tag_len < (int)sizeof f->tag - 1) f->tag[f->tag_len++] = (char)(c | 0x20);
        return;
    }
    if (!f->name_done) {
        f->name_done = 1;
        f->tag[f->tag_len] = '\0';
    }
    if (c == '"' || c == '\'') f->quote = c;
    else if (c == '>') {
        f->state = S_TEXT;
        on_tag(f);
    }
}

/* In <script>/<style>: skip to "</script" or "</style", then to '>'. */
static void step_raw(clpt_html_filter *f, char c)
{
    size_t want = strlen(f->raw_tag) + 2;
    char expect = f->raw_match == 0 ? '<' : f->raw_match == 1 ? '/'
                : f->raw_tag[f->raw_match - 2];
    if ((char)(f->raw_match >= 2 ? (c | 0x20) : c) == expect) {
        if ((size_t)++f->raw_match == want) f->state = S_DECL;  /* rest of the end tag */
    } else {
        f->raw_match = c == '<';
    }
}

static void step_lt(clpt_html_filter *f, clpt_bytes *out, char c)
{
    if (is_alpha(c) || c == '/') {
        f->state = S_TAG;
        f->closing = c == '/';
        f->tag_len = f->name_done = 0;
        f->quote = 0;
        if (c != '/') f->tag[f->tag_len++] = (char)(c | 0x20);
    } else if (c == '!') {
        f->state = S_BANG;
        f->bang_len = 0;
    } else if (c == '?') {
        f->state = S_DECL;
    } else {  /* a lone '<' is text */
        f->state = S_TEXT;
        text_char(f, out, '<');
        if (c == '&') f->state = S_ENTITY, f->ent_len = 0;
        else if (c == '<') f->state = S_LT;
        else text_char(f, out, c);
    }
}

static void step(clpt_html_filter *f, clpt_bytes *out, char c)
{
    switch (f->state) {
    case S_TEXT:
        if (c == '<') f->state = S_LT;
        else if (c == '&') f->state = S_ENTITY, f->ent_len = 0;
        else text_char(f, out, c);
        break;
    case S_LT: step_lt(f, out, c); break;
    case S_TAG: step_tag(f, c); break;
    case S_BANG:
        if (c == '-' && ++f->bang_len == 2) f->state = S_COMMENT, f->dashes = 0;
        else if (c != '-') f->state = c == '>' ? S_TEXT : S_DECL;
        break;
    case S_COMMENT:
        if (c == '>' && f->dashes >= 2) f->state = S_TEXT;
        f->dashes = c == '-' ? f->dashes + 1 : 0;
        break;
    case S_DECL:
        if (c == '>') f->state = S_TEXT;
        break;
    case S_RAW: step_raw(f, c); break;
    case S_ENTITY:
        if (c == ';') end_entity(f, out, 1);
        else if ((is_alnum(c) || (c == '#' && !f->ent_len)) && f->ent_len < (int)sizeof f->ent - 1)
            f->ent[f->ent_len++] = c;
        else {
            end_entity(f, out, 0);
            step(f, out, c);
        }
        break;
    }
}

int clpt_html_filter_feed(clpt_html_filter *f, const void *in, size_t n, int at_end,
                          clpt_bytes *out)
{
    const char *p = in;
    for (size_t i = 0; i < n; i++) step(f, out, p[i]);
    if (at_end) {
        if (f->state == S_ENTITY) end_entity(f, out, 0);
        if (f->any && !f->line_start) put(f, out, "\n", 1);
        f->line_start = 1;
    }
    if (f->oom) return clpt_err(CLPT_ENOMEM, "html: out of memory");
    return 0;
}
