/* plugin_loader.c - find, dlopen and validate strategy plugins; resolve
 * their options. Every refusal names the file and the reason, and leaves
 * nothing loaded. */
#define _POSIX_C_SOURCE 200809L
#include "plugin.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clpt.h"

#ifndef CLPT_PLUGIN_BUILD_DIR
#define CLPT_PLUGIN_BUILD_DIR ""
#endif
#ifndef CLPT_PLUGIN_INSTALL_DIR
#define CLPT_PLUGIN_INSTALL_DIR ""
#endif

struct clpt_plugin {
    char *path;
    void *handle;
    clpt_strategy_desc desc;     /* zero-extended copy */
    clpt_option_desc *options;   /* zero-extended copies */
};

const clpt_strategy_desc *clpt_plugin_desc(const clpt_plugin *p) { return &p->desc; }
const char *clpt_plugin_path(const clpt_plugin *p) { return p->path; }
const char *clpt_plugin_name(const clpt_plugin *p) { return p->desc.name; }

const clpt_option_desc *clpt_plugin_option(const clpt_plugin *p, int i)
{
    return i >= 0 && i < (int)p->desc.n_options ? &p->options[i] : NULL;
}

int clpt_plugin_option_index(const clpt_plugin *p, const char *name)
{
    for (int i = 0; i < (int)p->desc.n_options; i++)
        if (!strcmp(p->options[i].name, name)) return i;
    return -1;
}

void clpt_plugin_close(clpt_plugin *p)
{
    if (!p) return;
    if (p->handle) dlclose(p->handle);
    free(p->options);
    free(p->path);
    free(p);
}

/* ---- validation ------------------------------------------------------------ */

static int valid_ident(const char *s, const char *extra)
{
    if (!s || !islower((unsigned char)*s)) return 0;
    for (const char *c = s; *c; c++)
        if (!islower((unsigned char)*c) && !isdigit((unsigned char)*c) && !strchr(extra, *c))
            return 0;
    return 1;
}

static int check_header(const clpt_plugin *p, const clpt_strategy_desc *d)
{
    const char *f = p->path;
    if (d->abi_major != CLPT_PLUGIN_ABI_MAJOR)
        return clpt_err(CLPT_EUNSUP, "%s: built for plugin ABI %u.%u, this clpt has ABI %d.%d",
                        f, d->abi_major, d->abi_minor, CLPT_PLUGIN_ABI_MAJOR, CLPT_PLUGIN_ABI_MINOR);
    if (d->abi_minor > CLPT_PLUGIN_ABI_MINOR)
        return clpt_err(CLPT_EUNSUP,
                        "%s: built for plugin ABI %u.%u, newer than this clpt's %d.%d; update clpt",
                        f, d->abi_major, d->abi_minor, CLPT_PLUGIN_ABI_MAJOR, CLPT_PLUGIN_ABI_MINOR);
    if (d->struct_size < CLPT_STRATEGY_DESC_SIZE_1_0)
        return clpt_err(CLPT_EFORMAT, "%s: descriptor struct_size %u is smaller than ABI %u.%u's %zu bytes",
                        f, d->struct_size, d->abi_major, d->abi_minor,
                        (size_t)CLPT_STRATEGY_DESC_SIZE_1_0);
    if (d->n_options && d->option_size < CLPT_OPTION_DESC_SIZE_1_0)
        return clpt_err(CLPT_EFORMAT, "%s: descriptor option_size %u is smaller than ABI %u.%u's %zu bytes",
                        f, d->option_size, d->abi_major, d->abi_minor,
                        (size_t)CLPT_OPTION_DESC_SIZE_1_0);
    return 0;
}

static int check_identity(const clpt_plugin *p, const clpt_strategy_desc *d)
{
    const char *f = p->path;
    const char *field = !d->name ? "name" : !d->version ? "version" : !d->summary ? "summary" : NULL;
    if (field) return clpt_err(CLPT_EFORMAT, "%s: descriptor field '%s' is NULL", f, field);
    if (!valid_ident(d->name, "_-") || strlen(d->name) > 63)
        return clpt_err(CLPT_EFORMAT, "%s: strategy name '%s' is not [a-z][a-z0-9_-]* (at most 63 bytes)",
                        f, d->name);
    if (!strcmp(d->name, "none"))
        return clpt_err(CLPT_EFORMAT, "%s: strategy name 'none' is reserved", f);
    if (d->n_options && !d->options)
        return clpt_err(CLPT_EFORMAT, "%s: strategy '%s': n_options is %u but options is NULL",
                        f, d->name, d->n_options);
    return 0;
}

static int check_pairs(const clpt_plugin *p, const clpt_strategy_desc *d)
{
    static const struct { const char *a, *b; size_t oa, ob; } pairs[] = {
        {"create", "destroy", offsetof(clpt_strategy_desc, create), offsetof(clpt_strategy_desc, destroy)},
        {"state_save", "state_load", offsetof(clpt_strategy_desc, state_save),
         offsetof(clpt_strategy_desc, state_load)},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        void *a, *b;
        memcpy(&a, (const char *)d + pairs[i].oa, sizeof a);
        memcpy(&b, (const char *)d + pairs[i].ob, sizeof b);
        if (!a == !b) continue;
        return clpt_err(CLPT_EFORMAT, "%s: strategy '%s': hook '%s' is NULL but '%s' is set (they come in pairs)",
                        p->path, d->name, a ? pairs[i].b : pairs[i].a, a ? pairs[i].a : pairs[i].b);
    }
    return 0;
}

static int check_option(const clpt_plugin *p, int i)
{
    const clpt_option_desc *o = &p->options[i];
    const char *f = p->path, *s = p->desc.name;
    if (!valid_ident(o->name, "_"))
        return clpt_err(CLPT_EFORMAT, "%s: strategy '%s': option %d has name '%s', not [a-z][a-z0-9_]*",
                        f, s, i, o->name ? o->name : "(null)");
    for (int j = 0; j < i; j++)
        if (!strcmp(p->options[j].name, o->name))
            return clpt_err(CLPT_EFORMAT, "%s: strategy '%s': option '%s' is declared twice", f, s, o->name);
    if (o->type < CLPT_OPT_BOOL || o->type > CLPT_OPT_ENUM)
        return clpt_err(CLPT_EFORMAT, "%s: strategy '%s': option '%s' has unknown type %d", f, s, o->name, o->type);
    if (!o->def || !o->help)
        return clpt_err(CLPT_EFORMAT, "%s: strategy '%s': option '%s' has no %s", f, s, o->name,
                        !o->def ? "default" : "help");
    if (o->type == CLPT_OPT_ENUM && (!o->choices || !o->choices[0]))
        return clpt_err(CLPT_EFORMAT, "%s: strategy '%s': enum option '%s' has no choices", f, s, o->name);
    clpt_optval v = {0};
    int rc = clpt_plugin_opt_value(o, o->def, &v);
    free(v.text);
    if (rc) return clpt_err_wrap(CLPT_EFORMAT, "%s: strategy '%s': default of option '%s': ", f, s, o->name);
    return 0;
}

static int copy_options(clpt_plugin *p, const clpt_strategy_desc *d)
{
    if (!d->n_options) return 0;
    if (d->n_options > 1000)
        return clpt_err(CLPT_EFORMAT, "%s: strategy '%s': n_options %u is implausible", p->path, d->name,
                        d->n_options);
    p->options = calloc(d->n_options, sizeof *p->options);
    if (!p->options) return clpt_err(CLPT_ENOMEM, "out of memory");
    size_t n = d->option_size < sizeof *p->options ? d->option_size : sizeof *p->options;
    for (uint32_t i = 0; i < d->n_options; i++)
        memcpy(&p->options[i], (const char *)d->options + (size_t)i * d->option_size, n);
    for (uint32_t i = 0; i < d->n_options; i++) {
        int rc = check_option(p, (int)i);
        if (rc) return rc;
    }
    return 0;
}

static int load_descriptor(clpt_plugin *p)
{
    dlerror();
    const clpt_strategy_desc *d = dlsym(p->handle, CLPT_STRATEGY_SYMBOL);
    if (!d) return clpt_err(CLPT_EFORMAT, "%s: no symbol '%s' (not a clpt strategy plugin?)", p->path,
                            CLPT_STRATEGY_SYMBOL);
    /* read the plugin's fields only, and see later ones as NULL */
    clpt_strategy_desc head;
    memset(&head, 0, sizeof head);
    memcpy(&head, d, offsetof(clpt_strategy_desc, name));
    int rc = check_header(p, &head);
    if (rc) return rc;
    size_t n = d->struct_size < sizeof p->desc ? d->struct_size : sizeof p->desc;
    memset(&p->desc, 0, sizeof p->desc);
    memcpy(&p->desc, d, n);
    if ((rc = check_identity(p, &p->desc)) || (rc = check_pairs(p, &p->desc))) return rc;
    return copy_options(p, &p->desc);
}

int clpt_plugin_open(clpt_plugin **out, const char *path)
{
    *out = NULL;
    clpt_plugin *p = calloc(1, sizeof *p);
    if (!p || !(p->path = strdup(path))) {
        free(p);
        return clpt_err(CLPT_ENOMEM, "out of memory");
    }
    /* a bare name would make dlopen search the library path: say "./x.so" */
    int rc = 0;
    if (!strchr(path, '/'))
        rc = clpt_err(CLPT_EINVAL, "%s: a plugin path needs a '/' (e.g. ./%s)", path, path);
    else if (!(p->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
        rc = clpt_err(CLPT_EIO, "%s: cannot load: %s", path, dlerror());
    else
        rc = load_descriptor(p);
    if (rc) {
        clpt_plugin_close(p);
        return rc;
    }
    *out = p;
    return 0;
}

/* ---- the search path ---------------------------------------------------------- */

static int push(char ***v, int *n, const char *s)
{
    char **nv = realloc(*v, (*n + 2) * sizeof *nv);
    if (!nv) return -1;
    *v = nv;
    if (!(nv[*n] = strdup(s))) return -1;
    nv[++*n] = NULL;
    return 0;
}

static int exists(const char *p)
{
    struct stat st;
    return *p && stat(p, &st) == 0;
}

char **clpt_plugin_search_path(const char *const *extra, int n_extra)
{
    char **v = calloc(1, sizeof *v); /* NULL-terminated, even when empty */
    int n = 0, bad = !v;
    for (int i = 0; i < n_extra && !bad; i++)
        if (extra[i] && *extra[i]) bad = push(&v, &n, extra[i]);
    const char *env = getenv("CLPT_PLUGIN_PATH");
    char *copy = env ? strdup(env) : NULL, *save = NULL;
    for (char *t = copy ? strtok_r(copy, ":", &save) : NULL; t && !bad; t = strtok_r(NULL, ":", &save))
        bad = push(&v, &n, t);
    free(copy);
    if (!bad && exists(CLPT_PLUGIN_BUILD_DIR)) bad = push(&v, &n, CLPT_PLUGIN_BUILD_DIR);
    if (!bad && exists(CLPT_PLUGIN_INSTALL_DIR) && strcmp(CLPT_PLUGIN_BUILD_DIR, CLPT_PLUGIN_INSTALL_DIR))
        bad = push(&v, &n, CLPT_PLUGIN_INSTALL_DIR);
    if (bad) {
        clpt_plugin_path_free(v);
        clpt_err(CLPT_ENOMEM, "out of memory");
        return NULL;
    }
    return v;
}

void clpt_plugin_path_free(char **path)
{
    for (char **p = path; p && *p; p++) free(*p);
    free(path);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* the candidate files of one search-path entry (a file or a directory) */
static int candidates(const char *entry, char ***files, int *n)
{
    struct stat st;
    if (stat(entry, &st) != 0) return 0; /* missing entries are skipped */
    if (!S_ISDIR(st.st_mode)) return push(files, n, entry) ? CLPT_ENOMEM : 0;
    DIR *d = opendir(entry);
    if (!d) return 0;
    int first = *n, rc = 0;
    for (struct dirent *e; !rc && (e = readdir(d));) {
        if (!ends_with(e->d_name, ".so")) continue;
        char *path = malloc(strlen(entry) + strlen(e->d_name) + 2);
        if (!path) { rc = CLPT_ENOMEM; break; }
        size_t len = strlen(entry);
        sprintf(path, "%s%s%s", entry, len && entry[len - 1] == '/' ? "" : "/", e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && push(files, n, path)) rc = CLPT_ENOMEM;
        free(path);
    }
    closedir(d);
    if (*n > first) qsort(*files + first, *n - first, sizeof **files, cmp_str);
    return rc ? clpt_err(rc, "out of memory") : 0;
}

void clpt_plugin_list_free(clpt_plugin_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->entries[i].file);
        free(l->entries[i].error);
        clpt_plugin_close(l->entries[i].plugin);
    }
    free(l->entries);
    l->entries = NULL;
    l->n = 0;
}

static void scan_one(clpt_plugin_list *l, clpt_plugin_entry *e)
{
    if (clpt_plugin_open(&e->plugin, e->file)) {
        e->error = strdup(clpt_errmsg());
        return;
    }
    for (int j = 0; j < l->n; j++) {
        const clpt_plugin *q = l->entries[j].plugin;
        if (!q || strcmp(clpt_plugin_name(q), clpt_plugin_name(e->plugin))) continue;
        clpt_err(CLPT_EINVAL, "%s: duplicate strategy name '%s': already provided by %s", e->file,
                 clpt_plugin_name(e->plugin), q->path);
        e->error = strdup(clpt_errmsg());
        clpt_plugin_close(e->plugin);
        e->plugin = NULL;
        return;
    }
}

int clpt_plugin_scan(clpt_plugin_list *out, const char *const *extra, int n_extra)
{
    out->entries = NULL;
    out->n = 0;
    char **path = clpt_plugin_search_path(extra, n_extra), **files = NULL;
    int nf = 0, rc = path ? 0 : CLPT_ENOMEM;
    for (char **p = path; !rc && p && *p; p++) rc = candidates(*p, &files, &nf);
    if (!rc && nf && !(out->entries = calloc(nf, sizeof *out->entries)))
        rc = clpt_err(CLPT_ENOMEM, "out of memory");
    for (int i = 0; !rc && i < nf; i++) {
        clpt_plugin_entry *e = &out->entries[out->n];
        e->file = files[i];
        files[i] = NULL;
        scan_one(out, e);
        out->n++;
    }
    for (int i = 0; i < nf; i++) free(files[i]);
    free(files);
    clpt_plugin_path_free(path);
    if (rc) clpt_plugin_list_free(out);
    return rc;
}

static int not_found(const clpt_plugin_list *l, const char *name)
{
    char names[1024] = "";
    size_t len = 0;
    int refused = 0;
    for (int i = 0; i < l->n; i++) {
        if (!l->entries[i].plugin) { refused++; continue; }
        len += snprintf(names + len, len < sizeof names ? sizeof names - len : 0, "%s%s",
                        len ? ", " : "", clpt_plugin_name(l->entries[i].plugin));
    }
    return clpt_err(CLPT_ECONFIG, "unknown strategy '%s'; found: %s%s%s", name, *names ? names : "none",
                    refused ? " (some files were refused: see `clpt plugins`)" : "",
                    l->n ? "" : " (set CLPT_PLUGIN_PATH?)");
}

int clpt_plugin_find(clpt_plugin **out, const char *spec, const char *const *extra, int n_extra)
{
    *out = NULL;
    if (!spec || !*spec) return clpt_err(CLPT_EINVAL, "no strategy given");
    if (strchr(spec, '/') || ends_with(spec, ".so")) {
        char buf[4096];
        /* "x.so" alone means the file in the working directory, said explicitly */
        snprintf(buf, sizeof buf, "%s%s", strchr(spec, '/') ? "" : "./", spec);
        return clpt_plugin_open(out, buf);
    }
    clpt_plugin_list l;
    int rc = clpt_plugin_scan(&l, extra, n_extra);
    if (rc) return rc;
    for (int i = 0; i < l.n; i++) {
        if (!l.entries[i].plugin || strcmp(clpt_plugin_name(l.entries[i].plugin), spec)) continue;
        *out = l.entries[i].plugin;
        l.entries[i].plugin = NULL;
        break;
    }
    if (!*out) rc = not_found(&l, spec);
    clpt_plugin_list_free(&l);
    return rc;
}

/* ---- options -------------------------------------------------------------------- */

static int parse_bool(const char *s, int64_t *out)
{
    static const char *t[] = {"true", "yes", "on", "1"}, *f[] = {"false", "no", "off", "0"};
    for (int i = 0; i < 4; i++) {
        if (!strcmp(s, t[i])) { *out = 1; return 0; }
        if (!strcmp(s, f[i])) { *out = 0; return 0; }
    }
    return -1;
}

static int parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno) return -1;
    long long mult = 1;
    if (*end && !end[1]) {
        const char *suf = "kMGT";
        const char *p = strchr(suf, *end);
        if (!p) return -1;
        for (long i = 0; i <= p - suf; i++) mult *= 1000;
        end++;
    }
    if (*end || (v && llabs(v) > INT64_MAX / mult)) return -1;
    *out = v * mult;
    return 0;
}

static int check_range(const clpt_option_desc *o, const char *text, double v)
{
    if ((o->min == 0 && o->max == 0) || (v >= o->min && v <= o->max)) return 0;
    return clpt_err(CLPT_ECONFIG, "'%s' is out of range [%g, %g]", text, o->min, o->max);
}

static int parse_enum(const clpt_option_desc *o, const char *text, int64_t *out)
{
    char list[512] = "";
    size_t len = 0;
    for (int i = 0; o->choices[i]; i++) {
        if (!strcmp(o->choices[i], text)) { *out = i; return 0; }
        len += snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s", i ? ", " : "",
                        o->choices[i]);
    }
    return clpt_err(CLPT_ECONFIG, "'%s' is not one of: %s", text, list);
}

int clpt_plugin_opt_value(const clpt_option_desc *o, const char *text, clpt_optval *v)
{
    int rc = 0;
    v->type = o->type;
    v->i = 0;
    v->f = 0;
    switch (o->type) {
    case CLPT_OPT_BOOL:
        if (parse_bool(text, &v->i)) rc = clpt_err(CLPT_ECONFIG, "'%s' is not a bool (true/false)", text);
        break;
    case CLPT_OPT_INT:
        if (parse_int(text, &v->i)) rc = clpt_err(CLPT_ECONFIG, "'%s' is not an integer", text);
        else rc = check_range(o, text, v->f = (double)v->i);
        break;
    case CLPT_OPT_FLOAT: {
        char *end;
        v->f = strtod(text, &end);
        if (end == text || *end || !isfinite(v->f)) rc = clpt_err(CLPT_ECONFIG, "'%s' is not a number", text);
        else rc = check_range(o, text, v->f);
        break;
    }
    case CLPT_OPT_ENUM:
        rc = parse_enum(o, text, &v->i);
        break;
    default:
        for (const char *c = text; *c && !rc; c++)
            if ((unsigned char)*c < 32) rc = clpt_err(CLPT_ECONFIG, "'%s' holds a control character", text);
    }
    if (rc) return rc;
    free(v->text);
    if (!(v->text = strdup(text))) return clpt_err(CLPT_ENOMEM, "out of memory");
    return 0;
}

void clpt_plugin_opts_free(clpt_plugin_opts *o)
{
    for (int i = 0; i < o->n; i++) free(o->v[i].text);
    free(o->v);
    o->v = NULL;
    o->n = 0;
}

static int unknown_option(const clpt_plugin *p, const char *key)
{
    char list[1024] = "";
    size_t len = 0;
    for (uint32_t i = 0; i < p->desc.n_options; i++)
        len += snprintf(list + len, len < sizeof list ? sizeof list - len : 0, "%s%s", i ? ", " : "",
                        p->options[i].name);
    return clpt_err(CLPT_ECONFIG, "strategy '%s' (%s): unknown option '%s'; valid options: %s", p->desc.name,
                    p->path, key, p->desc.n_options ? list : "none");
}

static int set_one(clpt_plugin_opts *out, const clpt_plugin *p, const char *kv)
{
    const char *eq = strchr(kv, '=');
    char key[128];
    if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof key)
        return clpt_err(CLPT_ECONFIG, "strategy '%s' (%s): option '%s' is not key=value", p->desc.name,
                        p->path, kv);
    memcpy(key, kv, eq - kv);
    key[eq - kv] = 0;
    int i = clpt_plugin_option_index(p, key);
    if (i < 0) return unknown_option(p, key);
    int rc = clpt_plugin_opt_value(&p->options[i], eq + 1, &out->v[i]);
    if (rc) return clpt_err_wrap(rc, "strategy '%s' (%s): option '%s': ", p->desc.name, p->path, key);
    out->v[i].given = 1;
    return 0;
}

int clpt_plugin_opts_parse(clpt_plugin_opts *out, const clpt_plugin *p, const char *const *kv, int n)
{
    out->n = (int)p->desc.n_options;
    out->v = calloc(out->n ? out->n : 1, sizeof *out->v);
    if (!out->v) return clpt_err(CLPT_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < out->n && !rc; i++) rc = clpt_plugin_opt_value(&p->options[i], p->options[i].def, &out->v[i]);
    for (int i = 0; i < n && !rc; i++) rc = set_one(out, p, kv[i]);
    if (rc) clpt_plugin_opts_free(out);
    return rc;
}

cJSON *clpt_plugin_opts_json(const clpt_plugin *p, const clpt_plugin_opts *o)
{
    cJSON *j = cJSON_CreateObject();
    for (int i = 0; j && p && i < o->n; i++) {
        const clpt_optval *v = &o->v[i];
        const char *name = p->options[i].name;
        if (v->type == CLPT_OPT_BOOL) cJSON_AddBoolToObject(j, name, (int)v->i);
        else if (v->type == CLPT_OPT_INT) cJSON_AddNumberToObject(j, name, (double)v->i);
        else if (v->type == CLPT_OPT_FLOAT) cJSON_AddNumberToObject(j, name, v->f);
        else cJSON_AddStringToObject(j, name, v->text);
    }
    return j;
}
