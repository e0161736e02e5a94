/* prepare_tree.c - the folder-tree layout: folders at a chosen depth are
 * domains, the files below them documents; small domains are merged into a
 * sibling or dropped; each domain's documents are split train/valid/test
 * by a seeded shuffle in proportion to their bytes. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "clpt.h"
#include "fsutil.h"
#include "prepare_impl.h"
#include "rng.h"
#include "textsrc.h"

#define MAX_NEST 256

/* What the walk skipped, said once per kind at the end. */
typedef struct skipped {
    long n;
    char *example;
} skipped;

typedef struct walk {
    prep_ctx *c;
    char *exts[64];
    int n_ext;
    struct { dev_t dev; ino_t ino; } stack[MAX_NEST];
    int sp;
    skipped above, hidden, filtered, binary, empty, loops, unreadable;
} walk;

static void skip(skipped *s, const char *path)
{
    if (!s->n++) s->example = strdup(path);
}

static int has_ext(const walk *w, const char *name)
{
    if (!w->n_ext) return 1;
    size_t n = strlen(name);
    if (n > 3 && !strcasecmp(name + n - 3, ".gz")) n -= 3;
    for (int i = 0; i < w->n_ext; i++) {
        size_t k = strlen(w->exts[i]);
        if (n > k && name[n - k - 1] == '.' && !strncasecmp(name + n - k, w->exts[i], k))
            return 1;
    }
    return 0;
}

/* "a/b/c" -> "a__b__c" */
static char *domain_name(const char *rel)
{
    size_t n = 0;
    for (const char *p = rel; *p; p++) n += *p == '/' ? 2 : 1;
    char *s = malloc(n + 1), *q = s;
    if (!s) return NULL;
    for (const char *p = rel; *p; p++)
        if (*p == '/') *q++ = '_', *q++ = '_';
        else *q++ = *p;
    *q = '\0';
    return s;
}

/* Hierarchy of a tree domain at depth >= 2: first folder / the rest. */
static int tree_hierarchy(prep_domain *d, const char *rel, int depth)
{
    if (depth < 2) return 0;  /* from the name, as for M2D2 */
    const char *slash = strchr(rel, '/');
    char *l1 = strndup(rel, (size_t)(slash - rel)), *l2 = domain_name(slash + 1);
    char *parent = strndup(rel, (size_t)(strrchr(rel, '/') - rel));
    if (!l1 || !l2 || !parent) {
        free(l1), free(l2), free(parent);
        return clpt_err(CLPT_ENOMEM, "out of memory");
    }
    free(d->l1), free(d->l2);
    d->l1 = l1, d->l2 = l2, d->parent = parent;
    return 0;
}

static int add_doc(walk *w, prep_domain *d, const char *path, const char *rel, off_t size)
{
    if (!has_ext(w, rel)) return skip(&w->filtered, path), 0;
    if (size == 0) return skip(&w->empty, path), 0;
    int bin = clpt_textsrc_is_binary(path);
    if (bin < 0) return skip(&w->unreadable, path), 0;
    if (bin) return skip(&w->binary, path), 0;
    int rc = prep_input_add(d, path, rel, CLPT_SPLIT_TRAIN);
    if (rc == CLPT_ENOMEM) return rc;
    if (rc) skip(&w->unreadable, path);
    return 0;
}

static int walk_dir(walk *w, const char *path, const char *rel, int level, prep_domain *d);

static int visit_dir(walk *w, const char *path, const char *rel, int level, prep_domain *d,
                     const struct stat *st)
{
    for (int i = 0; i < w->sp; i++)
        if (w->stack[i].dev == st->st_dev && w->stack[i].ino == st->st_ino)
            return skip(&w->loops, path), 0;
    if (w->sp == MAX_NEST) return skip(&w->loops, path), 0;
    if (!d && level == w->c->o->depth) {
        char *name = domain_name(rel);
        d = name ? prep_domain_add(w->c, name) : NULL;
        free(name);
        if (!d || tree_hierarchy(d, rel, w->c->o->depth)) return CLPT_ENOMEM;
        if (!d->parent && !(d->parent = strdup(""))) return CLPT_ENOMEM;
    }
    w->stack[w->sp].dev = st->st_dev;
    w->stack[w->sp++].ino = st->st_ino;
    int rc = walk_dir(w, path, rel, level, d);
    w->sp--;
    return rc;
}

/* Walk `path` (at `level` below the root), which lies inside domain d or,
 * with d NULL, above the domain depth. Entries in name order. */
static int walk_dir(walk *w, const char *path, const char *rel, int level, prep_domain *d)
{
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, alphasort), rc = 0;
    if (n < 0) return skip(&w->unreadable, path), 0;
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        if (rc || !strcmp(nm, ".") || !strcmp(nm, "..")) continue;
        char *child = clpt_fs_join(path, nm), *crel = rel[0] ? clpt_fs_join(rel, nm) : strdup(nm);
        struct stat st;
        if (!child || !crel) rc = clpt_err(CLPT_ENOMEM, "out of memory");
        else if (nm[0] == '.') skip(&w->hidden, child);
        else if (stat(child, &st) != 0) skip(&w->unreadable, child);
        else if (S_ISDIR(st.st_mode)) rc = visit_dir(w, child, crel, level + 1, d, &st);
        else if (!S_ISREG(st.st_mode)) skip(&w->unreadable, child);
        else if (d) rc = add_doc(w, d, child, crel, st.st_size);
        else if (level > 0 || strcmp(nm, "domains.tsv")) skip(&w->above, child);
        free(child);
        free(crel);
    }
    for (int i = 0; i < n; i++) free(ents[i]);
    free(ents);
    return rc;
}

static void report(walk *w)
{
    prep_ctx *c = w->c;
    static const char *const fmt[] = {
        "%ld file(s) above --depth %d belong to no domain and are not read (e.g. %s)",
        "%ld hidden file(s)/folder(s) skipped (e.g. %s)",
        "%ld file(s) not matching --ext skipped (e.g. %s)",
        "%ld binary file(s) (NUL bytes) skipped (e.g. %s)",
        "%ld empty file(s) skipped (e.g. %s)",
        "%ld folder(s) skipped: a symbolic-link loop or too deep (e.g. %s)",
        "%ld path(s) that cannot be read or are not regular files skipped (e.g. %s)"};
    skipped *s[] = {&w->above, &w->hidden, &w->filtered, &w->binary, &w->empty, &w->loops,
                    &w->unreadable};
    for (int i = 0; i < 7; i++) {
        if (!s[i]->n) continue;
        const char *ex = s[i]->example ? s[i]->example : "?";
        if (i == 0) prep_warn(c, fmt[0], s[i]->n, c->o->depth, ex);
        else if (i == 1 || i == 2 || i == 4) prep_log(c, fmt[i], s[i]->n, ex);
        else prep_warn(c, fmt[i], s[i]->n, ex);
        free(s[i]->example);
    }
}

static int parse_exts(walk *w, const char *list)
{
    for (const char *p = list; p && *p && w->n_ext < 64;) {
        while (*p == ',' || *p == '.') p++;
        size_t k = strcspn(p, ",");
        if (k && !(w->exts[w->n_ext++] = strndup(p, k)))
            return clpt_err(CLPT_ENOMEM, "out of memory");
        p += k;
    }
    return 0;
}

int prep_scan_tree(prep_ctx *c)
{
    walk w = {.c = c};
    struct stat st;
    int rc = parse_exts(&w, c->o->ext);
    if (!rc && stat(c->o->root, &st) != 0)
        rc = clpt_err(CLPT_EIO, "%s: %s", c->o->root, strerror(errno));
    if (!rc) rc = visit_dir(&w, c->o->root, "", 0, NULL, &st);
    if (!rc) report(&w);
    for (int i = 0; i < w.n_ext; i++) free(w.exts[i]);
    if (rc) return rc;
    for (int i = 0; i < c->nd; i++) {
        prep_domain *d = &c->d[i];
        if (d->n_in || d->status != PREP_TODO) continue;
        prep_warn(c, "%s/%s: domain %s has no documents%s: left out", c->o->root, d->name,
                  d->name, c->o->ext ? " matching --ext" : "");
        d->status = PREP_DROPPED;
    }
    return 0;
}

/* ---- small domains ------------------------------------------------------------ */

static prep_domain *smallest(prep_ctx *c, const prep_domain *not, const char *parent,
                             uint64_t below)
{
    prep_domain *best = NULL;
    for (int i = 0; i < c->nd; i++) {
        prep_domain *d = &c->d[i];
        if (d == not || d->status != PREP_TODO || d->bytes >= below) continue;
        if (parent && strcmp(d->parent ? d->parent : "", parent)) continue;
        if (!best || d->bytes < best->bytes) best = d;
    }
    return best;
}

static int move_inputs(prep_domain *to, prep_domain *from)
{
    for (int i = 0; i < from->n_in; i++) {
        if (to->n_in == to->cap_in) {
            int cap = to->cap_in ? to->cap_in * 2 : 4;
            prep_input *in = realloc(to->in, (size_t)cap * sizeof *in);
            if (!in) return clpt_err(CLPT_ENOMEM, "out of memory");
            to->in = in;
            to->cap_in = cap;
        }
        to->in[to->n_in++] = from->in[i];
    }
    to->bytes += from->bytes;
    from->n_in = 0;
    from->bytes = 0;
    return 0;
}

int prep_tree_merge_small(prep_ctx *c)
{
    uint64_t min = c->o->min_bytes;
    prep_domain *d;
    while (min && (d = smallest(c, NULL, NULL, min))) {
        prep_domain *to = c->o->small == CLPT_SMALL_MERGE
                              ? smallest(c, d, d->parent ? d->parent : "", UINT64_MAX) : NULL;
        double kb = d->bytes / 1e3;
        d->status = PREP_DROPPED;
        if (!to) {
            prep_log(c, "note: domain %s (%.1f kB < --min-bytes %llu) dropped%s", d->name, kb,
                     (unsigned long long)min,
                     c->o->small == CLPT_SMALL_MERGE ? ": no sibling to merge into" : "");
            continue;
        }
        prep_log(c, "note: domain %s (%.1f kB < --min-bytes %llu) merged into its sibling %s",
                 d->name, kb, (unsigned long long)min, to->name);
        int rc = move_inputs(to, d);
        if (rc) return rc;
    }
    return 0;
}

/* ---- the document split ----------------------------------------------------------- */

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ULL;
    return h;
}

static int cmp_rel(const void *a, const void *b)
{
    return strcmp(((const prep_input *)a)->rel, ((const prep_input *)b)->rel);
}

/* Give a split with a positive fraction but no document the smallest
 * train document, when train can spare one. */
static void fill_empty(prep_domain *d, const double *f, int *count)
{
    for (int s = 1; s < CLPT_NSPLITS; s++) {
        if (count[s] || f[s] <= 0 || count[CLPT_SPLIT_TRAIN] < 2) continue;
        prep_input *best = NULL;
        for (int i = 0; i < d->n_in; i++)
            if (d->in[i].split == CLPT_SPLIT_TRAIN &&
                (!best || d->in[i].text_bytes < best->text_bytes))
                best = &d->in[i];
        best->split = s;
        count[CLPT_SPLIT_TRAIN]--;
        count[s]++;
    }
}

/* Documents in a seeded shuffle (seed and domain name, so other domains do
 * not matter) fill valid, then test, up to their share of the bytes - a
 * document that would take a split past twice its share is passed over, so a few
 * big files do not swamp a small split - and the rest go to train. */
void prep_tree_split(prep_ctx *c, prep_domain *d)
{
    const double *f = c->o->split;
    int n = d->n_in, count[CLPT_NSPLITS] = {0};
    qsort(d->in, (size_t)n, sizeof *d->in, cmp_rel);
    int *idx = malloc((size_t)(n ? n : 1) * sizeof *idx);
    if (!idx) {
        clpt_err(CLPT_ENOMEM, "out of memory");
        prep_fail(c, d);
        return;
    }
    clpt_rng rng;
    clpt_rng_seed(&rng, c->o->seed ^ fnv1a(d->name));
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)clpt_rng_below(&rng, (uint64_t)i + 1), t = idx[i];
        idx[i] = idx[j], idx[j] = t;
    }
    double got[CLPT_NSPLITS] = {0};
    for (int k = 0; k < n; k++) {
        prep_input *in = &d->in[idx[k]];
        double size = (double)in->text_bytes;
        int to = CLPT_SPLIT_TRAIN;
        for (int s = CLPT_SPLIT_VALID; s <= CLPT_SPLIT_TEST && to == CLPT_SPLIT_TRAIN; s++) {
            double want = f[s] * (double)d->bytes;
            if (got[s] < want && got[s] + size <= 2 * want) to = s;
        }
        in->split = to;
        got[to] += size;
        count[to]++;
    }
    free(idx);
    fill_empty(d, f, count);
    for (int s = 0; s < CLPT_NSPLITS; s++)
        if (!count[s] && f[s] > 0)
            prep_warn(c, "domain %s: %d document(s): its %s split is empty", d->name, n,
                      clpt_split_name(s));
}
