/* journal.c - the journal reader: lines -> runs, cells, curves (journal.h). */
#define _XOPEN_SOURCE 700
#include "journal.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clpt.h"
#include "fsutil.h"

#define MAX_JOURNAL_BYTES ((size_t)1 << 31)
#define CLPT_JOURNAL_MAX_DOMAINS 100000 /* M2D2 has 159 L2 domains */

/* A run as built: the public view plus the growable arrays behind it. */
typedef struct jrun {
    clpt_jrun pub;
    char **schedule;
    clpt_jcell *cells;
    clpt_jtrain *train;
    clpt_jdomain *domains;
    int cap_cells, cap_train, n_domains;
    cJSON *options, *model, *config, *device;
} jrun;

/* Cell lookup: (run, model, domain, split) -> index into that run's cells. */
typedef struct cellkey {
    int run, cell;   /* cell < 0: empty slot */
    uint64_t hash;
} cellkey;

struct clpt_experiment {
    jrun *runs;
    int n_runs, cap_runs;
    char **strings;           /* every string the views point to */
    int n_strings, cap_strings;
    char **groups;            /* group keys: canonical parent directories */
    int n_groups;
    cellkey *table;
    size_t table_cap, table_used;
};

/* ---- strings, arrays, hashing ------------------------------------------------ */

static int grow(void *pptr, int *cap, int need, size_t elem)
{
    void **p = pptr;
    if (need <= *cap) return 0;
    int nc = *cap ? *cap : 8;
    while (nc < need) nc *= 2;
    void *q = realloc(*p, (size_t)nc * elem);
    if (!q) return clpt_err(CLPT_ENOMEM, "journal: out of memory");
    *p = q;
    *cap = nc;
    return 0;
}

/* A copy of s owned by the experiment (strings are few: names repeat). */
static const char *intern(clpt_experiment *e, const char *s)
{
    for (int i = e->n_strings - 1; i >= 0 && i >= e->n_strings - 64; i--)
        if (!strcmp(e->strings[i], s)) return e->strings[i];
    if (grow(&e->strings, &e->cap_strings, e->n_strings + 1, sizeof(char *))) return NULL;
    char *c = strdup(s);
    if (!c) return clpt_err(CLPT_ENOMEM, "journal: out of memory"), NULL;
    e->strings[e->n_strings++] = c;
    return c;
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return (h ^ 0x1f) * 1099511628211ull;
}

static uint64_t cell_hash(int run, const char *model, const char *domain, const char *split)
{
    uint64_t h = 14695981039346656037ull ^ (uint64_t)run;
    return fnv(fnv(fnv(h, model), domain), split);
}

static int same_cell(const clpt_jcell *c, const char *model, const char *domain, const char *split)
{
    return !strcmp(c->model, model) && !strcmp(c->domain, domain) && !strcmp(c->split, split);
}

/* The slot of a key: its entry, or the empty slot where it would go. */
static cellkey *table_slot(const clpt_experiment *e, int run, const char *model,
                           const char *domain, const char *split)
{
    uint64_t h = cell_hash(run, model, domain, split);
    for (size_t i = h & (e->table_cap - 1);; i = (i + 1) & (e->table_cap - 1)) {
        cellkey *k = &e->table[i];
        if (k->cell < 0) return k;
        if (k->hash == h && k->run == run &&
            same_cell(&e->runs[run].cells[k->cell], model, domain, split))
            return k;
    }
}

static int table_grow(clpt_experiment *e)
{
    if (e->table_cap && 2 * (e->table_used + 1) <= e->table_cap) return 0;
    size_t cap = e->table_cap ? 2 * e->table_cap : 1024;
    cellkey *old = e->table, *t = malloc(cap * sizeof *t);
    if (!t) return clpt_err(CLPT_ENOMEM, "journal: out of memory");
    for (size_t i = 0; i < cap; i++) t[i].cell = -1;
    size_t ocap = e->table_cap;
    e->table = t;
    e->table_cap = cap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].cell < 0) continue;
        size_t j = old[i].hash & (cap - 1);
        while (t[j].cell >= 0) j = (j + 1) & (cap - 1);
        t[j] = old[i];
    }
    free(old);
    return 0;
}

/* ---- the experiment ----------------------------------------------------------- */

int clpt_experiment_new(clpt_experiment **out)
{
    *out = calloc(1, sizeof **out);
    return *out ? 0 : clpt_err(CLPT_ENOMEM, "journal: out of memory");
}

static void run_free(jrun *r)
{
    free(r->schedule);
    free(r->cells);
    free(r->train);
    free(r->domains);
    cJSON_Delete(r->options);
    cJSON_Delete(r->model);
    cJSON_Delete(r->config);
    cJSON_Delete(r->device);
}

void clpt_experiment_free(clpt_experiment *e)
{
    if (!e) return;
    for (int i = 0; i < e->n_runs; i++) run_free(&e->runs[i]);
    for (int i = 0; i < e->n_strings; i++) free(e->strings[i]);
    for (int i = 0; i < e->n_groups; i++) free(e->groups[i]);
    free(e->runs);
    free(e->strings);
    free(e->groups);
    free(e->table);
    free(e);
}

int clpt_experiment_nruns(const clpt_experiment *e)
{
    return e->n_runs;
}

/* Views are refreshed on every access: the arrays behind them may move. */
const clpt_jrun *clpt_experiment_run(const clpt_experiment *e, int i)
{
    if (i < 0 || i >= e->n_runs) return NULL;
    jrun *r = &e->runs[i];
    r->pub.schedule = (const char *const *)r->schedule;
    r->pub.cells = r->cells;
    r->pub.train = r->train;
    r->pub.domains = r->domains;
    r->pub.n_domains = r->n_domains;
    r->pub.options = r->options;
    r->pub.model = r->model;
    r->pub.config = r->config;
    r->pub.device = r->device;
    return &r->pub;
}

int clpt_experiment_find(const clpt_experiment *e, const char *name)
{
    for (int i = 0; i < e->n_runs; i++)
        if (!strcmp(e->runs[i].pub.name, name)) return i;
    return -1;
}

/* Group of a run directory: its canonical parent directory. */
static int group_of(clpt_experiment *e, const char *dir)
{
    char buf[PATH_MAX], *parent = NULL;
    const char *canon = realpath(dir, buf) ? buf : dir;
    char *slash;
    if (!(parent = malloc(strlen(canon) + 3))) return clpt_err(CLPT_ENOMEM, "journal: out of memory");
    strcpy(parent, canon);
    slash = strrchr(parent, '/');
    if (slash && slash != parent) *slash = '\0';
    else if (!slash) strcpy(parent, ".");
    for (int i = 0; i < e->n_groups; i++)
        if (!strcmp(e->groups[i], parent)) return free(parent), i;
    char **g = realloc(e->groups, (e->n_groups + 1) * sizeof *g);
    if (!g) return free(parent), clpt_err(CLPT_ENOMEM, "journal: out of memory");
    e->groups = g;
    g[e->n_groups] = parent;
    return e->n_groups++;
}

/* The run (dir, name), created on first sight. */
static int run_get(clpt_experiment *e, const char *dir, const char *journal, const char *name)
{
    for (int i = 0; i < e->n_runs; i++)
        if (!strcmp(e->runs[i].pub.name, name) && !strcmp(e->runs[i].pub.dir, dir)) return i;
    int g = group_of(e, dir);
    if (g < 0) return g;
    if (grow(&e->runs, &e->cap_runs, e->n_runs + 1, sizeof(jrun))) return CLPT_ENOMEM;
    jrun *r = &e->runs[e->n_runs];
    memset(r, 0, sizeof *r);
    r->pub.name = intern(e, name);
    r->pub.dir = intern(e, dir);
    r->pub.journal = intern(e, journal);
    if (!r->pub.name || !r->pub.dir || !r->pub.journal) return CLPT_ENOMEM;
    r->pub.group = g;
    r->pub.seed = r->pub.seconds = NAN;
    r->pub.first_time = r->pub.last_time = NAN;
    return e->n_runs++;
}

/* Entry for schedule position `index` (1-based), growing the array. */
static clpt_jdomain *run_domain(jrun *r, int index)
{
    if (index > r->n_domains) {
        clpt_jdomain *d = realloc(r->domains, (size_t)index * sizeof *d);
        if (!d) return clpt_err(CLPT_ENOMEM, "journal: out of memory"), NULL;
        for (int i = r->n_domains; i < index; i++)
            d[i] = (clpt_jdomain){.index = i + 1, .steps = NAN, .tokens = NAN, .seconds = NAN};
        r->domains = d;
        r->n_domains = index;
    }
    return &r->domains[index - 1];
}

/* ---- reading lines -------------------------------------------------------------- */

/* Where a line is, for messages and for the event handlers. */
typedef struct line_ctx {
    clpt_experiment *e;
    const char *file, *dir, *journal;
    long line;
    double time;
    int run;
} line_ctx;

#define BAD(c, ...) bad_line(c, __VA_ARGS__)

static int bad_line(const line_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int bad_line(const line_ctx *c, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return clpt_err(CLPT_EFORMAT, "%s:%ld: %s", c->file, c->line, msg);
}

static const char *get_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A number field: its value, NaN when absent or null (cJSON writes NaN and
 * infinities as null), -2 in *bad when present with another type. */
static double get_num(const cJSON *o, const char *k, int *bad)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v)) return NAN;
    if (cJSON_IsNumber(v)) return v->valuedouble;
    if (bad) *bad = 1;
    return NAN;
}

/* A required string field, or an error naming it. */
#define NEED_STR(var, obj, key, ctx)                                              \
    const char *var = get_str(obj, key);                                          \
    if (!var) return BAD(ctx, "'%s' event without a string \"%s\"", ev, key)

/* A required integer field >= lo. */
static int need_int(const line_ctx *c, const cJSON *o, const char *ev, const char *k, int lo,
                    int *out)
{
    int bad = 0;
    double v = get_num(o, k, &bad);
    if (isnan(v) || bad || v != floor(v) || v < lo || v > INT_MAX)
        return BAD(c, "'%s' event: \"%s\" must be an integer >= %d", ev, k, lo);
    *out = (int)v;
    return 0;
}

static int read_schedule(const line_ctx *c, jrun *r, const cJSON *s)
{
    if (!cJSON_IsArray(s)) return BAD(c, "'run' event: \"schedule\" must be an array of domain names");
    int n = cJSON_GetArraySize(s), i = 0;
    char **v = calloc(n ? n : 1, sizeof *v);
    if (!v) return clpt_err(CLPT_ENOMEM, "journal: out of memory");
    for (const cJSON *d = s->child; d; d = d->next, i++) {
        if (!cJSON_IsString(d) || !*d->valuestring) {
            free(v);
            return BAD(c, "'run' event: schedule entry %d is not a domain name", i + 1);
        }
        if (!(v[i] = (char *)intern(c->e, d->valuestring))) return free(v), CLPT_ENOMEM;
    }
    free(r->schedule);
    r->schedule = v;
    r->pub.n_sched = n;
    return n && !run_domain(r, n) ? CLPT_ENOMEM : 0;
}

/* Keep a copy of an optional object field (the last `run` event wins). */
static int keep_object(const line_ctx *c, const cJSON *o, const char *k, cJSON **slot)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsObject(v)) return BAD(c, "'run' event: \"%s\" must be an object", k);
    cJSON *d = cJSON_Duplicate(v, 1);
    if (!d) return clpt_err(CLPT_ENOMEM, "journal: out of memory");
    cJSON_Delete(*slot);
    *slot = d;
    return 0;
}

static int on_run(line_ctx *c, const cJSON *o, const char *ev)
{
    jrun *r = &c->e->runs[c->run];
    const char *strategy = get_str(o, "strategy");
    int rc;
    if (strategy && !(r->pub.strategy = intern(c->e, strategy))) return CLPT_ENOMEM;
    if ((rc = read_schedule(c, r, cJSON_GetObjectItemCaseSensitive(o, "schedule")))) return rc;
    if ((rc = keep_object(c, o, "options", &r->options)) ||
        (rc = keep_object(c, o, "model", &r->model)) ||
        (rc = keep_object(c, o, "config", &r->config)) ||
        (rc = keep_object(c, o, "device", &r->device)))
        return rc;
    int bad = 0;
    double seed = get_num(o, "seed", &bad);
    if (bad) return BAD(c, "'%s' event: \"seed\" must be a number", ev);
    if (!isnan(seed)) r->pub.seed = seed;
    r->pub.starts++;
    r->pub.finished = 0;   /* a resumed run is running again */
    return 0;
}

static int on_domain(line_ctx *c, const cJSON *o, const char *ev, int end)
{
    jrun *r = &c->e->runs[c->run];
    int index = 0, rc, bad = 0;
    NEED_STR(domain, o, "domain", c);
    if ((rc = need_int(c, o, ev, "index", 1, &index))) return rc;
    /* a sequence position, so bounded: an absurd one must not size an array */
    if (index > CLPT_JOURNAL_MAX_DOMAINS)
        return BAD(c, "'%s' event: \"index\" %d is past %d domains", ev, index,
                   CLPT_JOURNAL_MAX_DOMAINS);
    clpt_jdomain *d = run_domain(r, index);
    if (!d) return CLPT_ENOMEM;
    if (!(d->domain = intern(c->e, domain))) return CLPT_ENOMEM;
    d->begun = 1;
    if (!end) return 0;
    d->ended = 1;
    d->steps = get_num(o, "steps", &bad);
    d->tokens = get_num(o, "tokens", &bad);
    d->seconds = get_num(o, "seconds", &bad);
    const char *ck = get_str(o, "checkpoint");
    if (bad) return BAD(c, "'%s' event: steps, tokens and seconds must be numbers", ev);
    if (ck && !(d->checkpoint = intern(c->e, ck))) return CLPT_ENOMEM;
    return 0;
}

static int on_train(line_ctx *c, const cJSON *o, const char *ev)
{
    jrun *r = &c->e->runs[c->run];
    clpt_jtrain t = {.time = c->time};
    int rc, bad = 0;
    if ((rc = need_int(c, o, ev, "index", 1, &t.index))) return rc;
    const char *domain = get_str(o, "domain");
    if (domain && !(t.domain = intern(c->e, domain))) return CLPT_ENOMEM;
    t.step = get_num(o, "step", &bad);
    t.global_step = get_num(o, "global_step", &bad);
    t.tokens = get_num(o, "tokens", &bad);
    t.loss = get_num(o, "loss", &bad);
    t.lr = get_num(o, "lr", &bad);
    t.grad_norm = get_num(o, "grad_norm", &bad);
    t.tokens_per_s = get_num(o, "tokens_per_s", &bad);
    if (bad) return BAD(c, "'train' event: a numeric field holds another type");
    if (!cJSON_GetObjectItemCaseSensitive(o, "loss"))
        return BAD(c, "'train' event without a number \"loss\"");
    if (grow(&r->train, &r->cap_train, r->pub.n_train + 1, sizeof t)) return CLPT_ENOMEM;
    r->train[r->pub.n_train++] = t;
    return 0;
}

/* n of "after:<n>", 0 for "base", -1 otherwise */
static int model_index(const char *model)
{
    if (!strcmp(model, "base")) return 0;
    if (strncmp(model, "after:", 6)) return -1;
    char *end;
    long n = strtol(model + 6, &end, 10);
    return *end || end == model + 6 || n < 1 || n > INT_MAX ? -1 : (int)n;
}

static int store_cell(line_ctx *c, const clpt_jcell *cell)
{
    clpt_experiment *e = c->e;
    jrun *r = &e->runs[c->run];
    if (table_grow(e)) return CLPT_ENOMEM;
    cellkey *k = table_slot(e, c->run, cell->model, cell->domain, cell->split);
    if (k->cell >= 0) {  /* written again: the last value wins */
        r->cells[k->cell] = *cell;
        return 0;
    }
    if (grow(&r->cells, &r->cap_cells, r->pub.n_cells + 1, sizeof *cell)) return CLPT_ENOMEM;
    *k = (cellkey){c->run, r->pub.n_cells, cell_hash(c->run, cell->model, cell->domain, cell->split)};
    r->cells[r->pub.n_cells++] = *cell;
    e->table_used++;
    return 0;
}

static int on_eval(line_ctx *c, const cJSON *o, const char *ev)
{
    NEED_STR(model, o, "model", c);
    NEED_STR(domain, o, "domain", c);
    const char *split = get_str(o, "split");
    clpt_jcell cell = {.time = c->time};
    int bad = 0;
    cell.model = intern(c->e, model);
    cell.domain = intern(c->e, domain);
    cell.split = intern(c->e, split ? split : "test");
    if (!cell.model || !cell.domain || !cell.split) return CLPT_ENOMEM;
    cell.ppl = get_num(o, "ppl", &bad);
    cell.nll = get_num(o, "nll", &bad);
    cell.tokens = get_num(o, "tokens", &bad);
    cell.rank_mean = get_num(o, "rank_mean", &bad);
    cell.rank_median = get_num(o, "rank_median", &bad);
    cell.top1 = get_num(o, "top1", &bad);
    double index = get_num(o, "index", &bad);
    if (bad) return BAD(c, "'eval' event: a numeric field holds another type");
    if (!cJSON_GetObjectItemCaseSensitive(o, "ppl"))
        return BAD(c, "'eval' event without a number \"ppl\"");
    if (!isnan(index) && (index != floor(index) || index < 0 || index > INT_MAX))
        return BAD(c, "'eval' event: \"index\" must be an integer >= 0");
    cell.index = isnan(index) ? model_index(model) : (int)index;
    if (!strncmp(model, "after:", 6) && model_index(model) < 1)
        return BAD(c, "'eval' event: model \"%s\" is not after:<n> with n >= 1", model);
    return store_cell(c, &cell);
}

static int on_run_end(line_ctx *c, const cJSON *o, const char *ev)
{
    (void)ev;
    jrun *r = &c->e->runs[c->run];
    r->pub.finished = 1;
    r->pub.seconds = get_num(o, "seconds", NULL);
    return 0;
}

/* One parsed line: check the envelope, find the run, hand to the event. */
static int on_line(line_ctx *c, const cJSON *o)
{
    if (!cJSON_IsObject(o)) return BAD(c, "not a JSON object");
    int bad = 0;
    double v = get_num(o, "v", &bad);
    const char *ev = get_str(o, "event");
    if (isnan(v) || bad) return BAD(c, "no format version \"v\"");
    if (v > CLPT_JOURNAL_VERSION)
        return clpt_err(CLPT_EUNSUP, "%s:%ld: journal format version %g is newer than %d",
                        c->file, c->line, v, CLPT_JOURNAL_VERSION);
    if (!ev) return BAD(c, "no \"event\" name");
    static const char *const known[] = {"run", "domain_begin", "domain_end", "train", "eval", "run_end"};
    int which = -1;
    for (int i = 0; i < 6; i++)
        if (!strcmp(ev, known[i])) which = i;
    if (which < 0) return 0;   /* a newer writer's event: not ours to judge */
    NEED_STR(name, o, "run", c);
    if ((c->run = run_get(c->e, c->dir, c->journal, name)) < 0) return c->run;
    c->time = get_num(o, "time", NULL);
    jrun *r = &c->e->runs[c->run];
    if (!isnan(c->time)) {
        if (isnan(r->pub.first_time)) r->pub.first_time = c->time;
        r->pub.last_time = c->time;
    }
    switch (which) {
    case 0: return on_run(c, o, ev);
    case 1: return on_domain(c, o, ev, 0);
    case 2: return on_domain(c, o, ev, 1);
    case 3: return on_train(c, o, ev);
    case 4: return on_eval(c, o, ev);
    default: return on_run_end(c, o, ev);
    }
}

/* Parse [s, s+n) as exactly one JSON value; NULL if it is not one. */
static cJSON *parse_exact(const char *s, size_t n)
{
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (!o) return NULL;
    while (end < s + n && (*end == ' ' || *end == '\t' || *end == '\r')) end++;
    if (end != s + n) return cJSON_Delete(o), NULL;
    return o;
}

static int is_blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return 0;
    return 1;
}

int clpt_experiment_parse(clpt_experiment *e, const char *text, size_t len, const char *name,
                          const char *dir)
{
    line_ctx c = {.e = e, .file = name, .dir = dir ? dir : ".", .journal = name};
    int torn = 0, rc = 0, first_run = e->n_runs;
    for (size_t pos = 0; pos < len && !rc;) {
        const char *s = text + pos, *nl = memchr(s, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - s) : len - pos;
        pos += n + (nl != NULL);
        c.line++;
        if (is_blank(s, n)) continue;
        cJSON *o = parse_exact(s, n);
        if (!o) {
            /* only the last non-blank line may be torn */
            if (is_blank(text + pos, len - pos)) { torn++; break; }
            /* the text need not end in a NUL: quote at most this line */
            return BAD(&c, "not valid JSON (%.*s%s)", (int)(n > 40 ? 40 : n), s,
                       n > 40 ? "..." : "");
        }
        rc = on_line(&c, o);
        cJSON_Delete(o);
    }
    for (int i = first_run; i < e->n_runs; i++) e->runs[i].pub.torn_lines += torn;
    return rc;
}

int clpt_experiment_add_journal(clpt_experiment *e, const char *path, const char *dir)
{
    char *text = NULL, *d = NULL;
    size_t len = 0;
    int rc = clpt_fs_read_file(path, MAX_JOURNAL_BYTES, &text, &len);
    if (rc) return rc;
    if (!dir) {
        const char *slash = strrchr(path, '/');
        d = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
        if (!d) return free(text), clpt_err(CLPT_ENOMEM, "journal: out of memory");
        if (!*d) strcpy(d, "/");
    }
    rc = clpt_experiment_parse(e, text, len, path, dir ? dir : d);
    free(text);
    free(d);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The subdirectories of `dir` that hold a journal, sorted by name. */
static int list_runs(const char *dir, char ***out, int *n)
{
    DIR *d = opendir(dir);
    if (!d) return clpt_err(CLPT_EIO, "%s: %s", dir, strerror(errno));
    int cap = 0, rc = 0;
    *out = NULL;
    *n = 0;
    for (struct dirent *de; (de = readdir(d)) && !rc;) {
        if (de->d_name[0] == '.') continue;
        char *sub = clpt_fs_join(dir, de->d_name), *j = sub ? clpt_fs_join(sub, CLPT_JOURNAL_NAME) : NULL;
        if (!j) rc = clpt_err(CLPT_ENOMEM, "journal: out of memory");
        else if (clpt_fs_exists(j) && !(rc = grow(out, &cap, *n + 1, sizeof(char *))))
            (*out)[(*n)++] = sub, sub = NULL;
        free(sub);
        free(j);
    }
    closedir(d);
    if (*n) qsort(*out, *n, sizeof(char *), cmp_str);
    return rc;
}

int clpt_experiment_add_dir(clpt_experiment *e, const char *dir)
{
    char *j = clpt_fs_join(dir, CLPT_JOURNAL_NAME), **subs = NULL;
    int rc, n = 0;
    if (!j) return clpt_err(CLPT_ENOMEM, "journal: out of memory");
    if (clpt_fs_exists(j)) {
        rc = clpt_experiment_add_journal(e, j, dir);
        free(j);
        return rc;
    }
    free(j);
    if (!clpt_fs_is_dir(dir)) return clpt_err(CLPT_EIO, "%s: no such directory", dir);
    rc = list_runs(dir, &subs, &n);
    if (!rc && !n)
        rc = clpt_err(CLPT_EIO, "%s: no %s here or in its subdirectories", dir, CLPT_JOURNAL_NAME);
    for (int i = 0; i < n; i++) {
        char *p = clpt_fs_join(subs[i], CLPT_JOURNAL_NAME);
        if (!rc) rc = p ? clpt_experiment_add_journal(e, p, subs[i])
                        : clpt_err(CLPT_ENOMEM, "journal: out of memory");
        free(p);
        free(subs[i]);
    }
    free(subs);
    return rc;
}

/* ---- queries ---------------------------------------------------------------------- */

static const char *const measure_names[CLPT_MEASURE_COUNT] = {
    "ppl", "nll", "rank_mean", "rank_median", "top1"};

const char *clpt_measure_name(int measure)
{
    return measure >= 0 && measure < CLPT_MEASURE_COUNT ? measure_names[measure] : NULL;
}

static const clpt_jcell *own_cell(const clpt_experiment *e, int run, const char *model,
                                  const char *domain, const char *split)
{
    if (!e->table_cap) return NULL;
    const cellkey *k = table_slot(e, run, model, domain, split);
    return k->cell >= 0 ? &e->runs[run].cells[k->cell] : NULL;
}

const clpt_jcell *clpt_experiment_cell(const clpt_experiment *e, int run, const char *model,
                                       const char *domain, const char *split)
{
    if (run < 0 || run >= e->n_runs) return NULL;
    if (!split) split = "test";
    const clpt_jcell *c = own_cell(e, run, model, domain, split);
    int shared = !strcmp(model, "base") || !strncmp(model, "dapt:", 5);
    for (int i = 0; !c && shared && i < e->n_runs; i++)
        if (i != run && e->runs[i].pub.group == e->runs[run].pub.group)
            c = own_cell(e, i, model, domain, split);
    return c;
}

static double cell_value(const clpt_jcell *c, int measure)
{
    if (!c) return NAN;
    switch (measure) {
    case CLPT_MEASURE_PPL: return c->ppl;
    case CLPT_MEASURE_NLL: return c->nll;
    case CLPT_MEASURE_RANK_MEAN: return c->rank_mean;
    case CLPT_MEASURE_RANK_MEDIAN: return c->rank_median;
    case CLPT_MEASURE_TOP1: return c->top1;
    default: return NAN;
    }
}

int clpt_experiment_matrix(const clpt_experiment *e, int run, int measure, const char *split,
                           double **zs, double **dapt, double **p)
{
    if (run < 0 || run >= e->n_runs) return clpt_err(CLPT_EINVAL, "journal: no run %d", run);
    const jrun *r = &e->runs[run];
    int N = r->pub.n_sched;
    if (N < 1) return clpt_err(CLPT_EINVAL, "run '%s' has no schedule", r->pub.name);
    double *z = zs ? malloc(N * sizeof *z) : NULL, *d = dapt ? malloc(N * sizeof *d) : NULL;
    double *m = p ? malloc((size_t)N * N * sizeof *m) : NULL;
    if ((zs && !z) || (dapt && !d) || (p && !m)) {
        free(z), free(d), free(m);
        return clpt_err(CLPT_ENOMEM, "journal: out of memory");
    }
    char model[300];
    for (int j = 0; j < N; j++) {
        const char *dom = r->schedule[j];
        if (z) z[j] = cell_value(clpt_experiment_cell(e, run, "base", dom, split), measure);
        snprintf(model, sizeof model, "dapt:%s", dom);
        if (d) d[j] = cell_value(clpt_experiment_cell(e, run, model, dom, split), measure);
        for (int n = 0; m && n < N; n++) {
            snprintf(model, sizeof model, "after:%d", n + 1);
            m[(size_t)n * N + j] = cell_value(clpt_experiment_cell(e, run, model, dom, split), measure);
        }
    }
    if (zs) *zs = z;
    if (dapt) *dapt = d;
    if (p) *p = m;
    return 0;
}

int clpt_journal_repair(const char *path, long *cut)
{
    if (cut) *cut = 0;
    int fd = open(path, O_RDWR);
    if (fd < 0) return errno == ENOENT ? 0 : clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));
    struct stat st;
    off_t end = fstat(fd, &st) ? -1 : st.st_size, keep = end;
    char ch;
    /* walk back to the last newline: everything after it is the torn line */
    while (keep > 0 && pread(fd, &ch, 1, keep - 1) == 1 && ch != '\n') keep--;
    int rc = 0;
    if (end < 0) rc = clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));
    else if (keep < end && (ftruncate(fd, keep) || fsync(fd)))
        rc = clpt_err(CLPT_EIO, "%s: truncating a torn line: %s", path, strerror(errno));
    else if (cut) *cut = (long)(end - keep);
    close(fd);
    return rc;
}
