/* config_load.c - reading an ini file into a clpt_config through inih.
 *
 * The distributed inih calls its handler without a line number
 * (INI_HANDLER_LINENO is 0), so the file is fed to ini_parse_stream() one
 * line per reader call and the reader's count is the line of the pair being
 * handled. The reader also
 *  - strips leading whitespace: inih would take an indented line as the
 *    continuation of the previous value, silently;
 *  - checks [section] headers: inih reports nothing for an empty section;
 *  - hands over lines longer than inih's line buffer (200 bytes) as
 *    "key =" plus a marker, keeping the whole value aside: inih would split
 *    them into several lines (long data paths are normal).
 * Every value then goes through clpt_config_set(), so a file is validated
 * exactly like a --set override. */
#define _POSIX_C_SOURCE 200809L
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "clpt.h"

#define LOAD_MAX_BYTES (1 << 20) /* a config file is small; refuse data files */
#define LONG_MARK "\x01"         /* inih's value for a line kept aside */

typedef struct {
    clpt_config *cfg;
    const char *path;
    char *text;                 /* the whole file, NUL-terminated */
    size_t len, pos;            /* pos: start of the next line */
    int lineno;                 /* line last handed to inih */
    int line_of[CLPT_CONFIG_MAX_KEYS]; /* line that set each key here; 0 = none */
    char *long_value;           /* whole value of line long_line */
    int long_line;
    int err, err_line;          /* first error; its message is clpt_errmsg() */
} load_state;

static int read_text(load_state *st)
{
    FILE *f = fopen(st->path, "rb");
    if (!f) return clpt_err(CLPT_EIO, "%s: %s", st->path, strerror(errno));
    st->text = malloc(LOAD_MAX_BYTES + 1);
    if (!st->text) {
        fclose(f);
        return clpt_err(CLPT_ENOMEM, "%s: out of memory", st->path);
    }
    st->len = fread(st->text, 1, LOAD_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad) return clpt_err(CLPT_EIO, "%s: read failed", st->path);
    if (st->len > LOAD_MAX_BYTES)
        return clpt_err(CLPT_ECONFIG, "%s: larger than %d bytes: not a config file", st->path,
                        LOAD_MAX_BYTES);
    if (memchr(st->text, '\0', st->len))
        return clpt_err(CLPT_ECONFIG, "%s: contains a NUL byte: not a text file", st->path);
    st->text[st->len] = '\0';
    return 0;
}

static int fail(load_state *st, int code)
{
    st->err = code;
    st->err_line = st->lineno;
    return code;
}

/* Index of the first char of s[0..n) in `chars` or of an inline comment
 * (';' after whitespace), as inih finds them; n if none. */
static size_t find_sep(const char *s, size_t n, const char *chars)
{
    int was_space = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        if (chars && strchr(chars, s[i])) break;
        if (was_space && s[i] == ';') break;
        was_space = isspace((unsigned char)s[i]);
    }
    return i;
}

static void section_list(char *buf, size_t n)
{
    const char *const *s = clpt_config_sections();
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; s[i] && len < n; i++)
        len += snprintf(buf + len, n - len, "%s[%s]", i ? ", " : "", s[i]);
}

/* A "[name]" line: fail on a section the schema lacks. Malformed headers
 * are left to inih, which reports them as syntax errors. */
static int check_section(load_state *st, const char *line, size_t n)
{
    size_t close = 1 + find_sep(line + 1, n - 1, "]");
    if (close >= n || line[close] != ']') return 0;
    char name[64], list[160], hint[80] = "";
    size_t len = close - 1 < sizeof name - 1 ? close - 1 : sizeof name - 1;
    memcpy(name, line + 1, len);
    name[len] = '\0';
    if (clpt_config_section_known(name)) return 0;
    section_list(list, sizeof list);
    const char *near = clpt_config_suggest(name, clpt_config_sections());
    if (near) snprintf(hint, sizeof hint, " (did you mean [%s]?)", near);
    clpt_err(CLPT_ECONFIG, "%s:%d: unknown section [%s]%s; valid sections: %s", st->path,
             st->lineno, name, hint, list);
    return fail(st, CLPT_ECONFIG);
}

/* A line too long for inih's buffer: a comment is dropped, "key = value"
 * becomes "key =" LONG_MARK with the value kept in st->long_value. */
static char *long_line(load_state *st, char *buf, int num, const char *line, size_t n)
{
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
    if (*line == ';' || *line == '#') return strcpy(buf, ";\n");
    size_t eq = find_sep(line, n, "=:");
    if (*line == '[' || eq == n || (line[eq] != '=' && line[eq] != ':') ||
        eq + 4 > (size_t)num) {
        clpt_err(CLPT_ECONFIG, "%s:%d: line too long (%zu bytes) and not 'key = value'",
                 st->path, st->lineno, n);
        fail(st, CLPT_ECONFIG);
        return NULL;
    }
    const char *v = line + eq + 1;
    size_t vl = find_sep(v, n - eq - 1, NULL);
    while (vl && isspace((unsigned char)*v)) v++, vl--;
    while (vl && isspace((unsigned char)v[vl - 1])) vl--;
    free(st->long_value);
    st->long_value = strndup(v, vl);
    if (!st->long_value) {
        clpt_err(CLPT_ENOMEM, "%s:%d: out of memory", st->path, st->lineno);
        fail(st, CLPT_ENOMEM);
        return NULL;
    }
    st->long_line = st->lineno;
    memcpy(buf, line, eq + 1);
    memcpy(buf + eq + 1, LONG_MARK "\n", 3);
    return buf;
}

/* inih's fgets: one line per call, so inih's line count stays ours. */
static char *next_line(char *buf, int num, void *stream)
{
    load_state *st = stream;
    if (st->err || st->pos >= st->len) return NULL;
    const char *line = st->text + st->pos;
    const char *nl = memchr(line, '\n', st->len - st->pos);
    size_t n = nl ? (size_t)(nl - line) + 1 : st->len - st->pos;
    st->pos += n;
    st->lineno++;
    if (st->lineno == 1 && n >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3)) line += 3, n -= 3;
    while (n && (*line == ' ' || *line == '\t')) line++, n--;
    if (n && *line == '[' && check_section(st, line, n)) return NULL;
    if (n + 1 > (size_t)num) return long_line(st, buf, num, line, n);
    memcpy(buf, line, n);
    buf[n] = '\0';
    return buf;
}

static int value_is_zero(const clpt_config *cfg, const char *dotted)
{
    char v[32];
    return !clpt_config_get(cfg, dotted, v, sizeof v) && !strcmp(v, "0");
}

/* A key set earlier in this file: a duplicate, or its alternative (steps
 * and tokens) when both are non-zero here. Returns the conflicting line. */
static int earlier_line(load_state *st, int i, const char **alt)
{
    clpt_config_keyinfo info;
    *alt = NULL;
    if (st->line_of[i]) return st->line_of[i];
    if (clpt_config_key_info(i, &info) || !info.alt) return 0;
    int j = clpt_config_key_index(info.alt);
    if (j < 0 || !st->line_of[j] || value_is_zero(st->cfg, info.alt)) return 0;
    *alt = info.alt;
    return st->line_of[j];
}

static int load_pair(load_state *st, const char *section, const char *name, const char *value)
{
    char where[1200], dotted[160], list[160];
    snprintf(where, sizeof where, "%s:%d", st->path, st->lineno);
    if (!*section) {
        section_list(list, sizeof list);
        return clpt_err(CLPT_ECONFIG, "%s: key '%s' is outside any section; valid sections: %s",
                        where, name, list);
    }
    if (!strcmp(value, LONG_MARK) && st->long_value && st->long_line == st->lineno)
        value = st->long_value;
    snprintf(dotted, sizeof dotted, "%s.%s", section, name);
    int i = clpt_config_key_index(dotted);
    const char *alt = NULL;
    int before = i >= 0 ? earlier_line(st, i, &alt) : 0;
    if (before && !alt)
        return clpt_err(CLPT_ECONFIG, "%s: duplicate key %s (first set at line %d)", where,
                        dotted, before);
    int rc = clpt_config_set(st->cfg, dotted, value, where);
    if (rc) return rc;
    if (alt && !value_is_zero(st->cfg, dotted))
        return clpt_err(CLPT_ECONFIG, "%s: %s and %s (line %d) are alternatives: set only one "
                        "of them", where, dotted, alt, before);
    st->line_of[i] = st->lineno;
    return 0;
}

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
    load_state *st = user;
    if (st->err) return 0;
    int rc = load_pair(st, section, name, value);
    if (rc) fail(st, rc);
    return !rc;
}

/* inih's own complaint: a line that is neither a section, a pair nor a
 * comment. Quote it. */
static int syntax_error(load_state *st, int line)
{
    const char *s = st->text;
    for (int l = 1; l < line && s; l++) {
        s = strchr(s, '\n');
        if (s) s++;
    }
    int n = 0;
    while (s && s[n] && s[n] != '\n' && s[n] != '\r' && n < 60) n++;
    return clpt_err(CLPT_ECONFIG, "%s:%d: syntax error in '%.*s': expected [section], "
                    "key = value, or a comment (; or #)", st->path, line, n, s ? s : "");
}

int clpt_config_load(clpt_config *cfg, const char *path)
{
    load_state st = {.cfg = cfg, .path = path};
    int rc = read_text(&st);
    if (!rc) {
        int line = ini_parse_stream(next_line, &st, on_pair, &st);
        if (line > 0 && (!st.err || line < st.err_line)) rc = syntax_error(&st, line);
        else if (st.err) rc = st.err;
        else if (line < 0) rc = clpt_err(CLPT_ENOMEM, "%s: inih failed (%d)", path, line);
    }
    free(st.long_value);
    free(st.text);
    return rc;
}
