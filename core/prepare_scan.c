/* prepare_scan.c - find the domains of a corpus (M2D2 layout), and apply a
 * domains file: subset, order and hierarchy. The folder-tree layout is in
 * prepare_tree.c. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "clpt.h"
#include "fsutil.h"
#include "prepare_impl.h"
#include "textsrc.h"

static const char *const split_files[CLPT_NSPLITS] = {"train.txt", "valid.txt", "test.txt"};

/* ---- the plan's building blocks ------------------------------------------- */

prep_domain *prep_domain_add(prep_ctx *c, const char *name)
{
    if (c->nd == c->capd) {
        int cap = c->capd ? c->capd * 2 : 64;
        prep_domain *d = realloc(c->d, (size_t)cap * sizeof *d);
        if (!d) return clpt_err(CLPT_ENOMEM, "out of memory"), NULL;
        c->d = d;
        c->capd = cap;
    }
    prep_domain *d = &c->d[c->nd];
    *d = (prep_domain){.listed = -1};
    if (!(d->name = strdup(name)) || prep_name_hierarchy(name, &d->l1, &d->l2)) {
        prep_domain_clear(d);
        return clpt_err(CLPT_ENOMEM, "out of memory"), NULL;
    }
    c->nd++;
    return d;
}

void prep_domain_clear(prep_domain *d)
{
    for (int i = 0; i < d->n_in; i++) {
        free(d->in[i].path);
        free(d->in[i].rel);
    }
    for (int s = 0; s < CLPT_NSPLITS; s++) prep_split_clear(&d->splits[s]);
    free(d->in);
    free(d->name);
    free(d->l1);
    free(d->l2);
    free(d->parent);
    free(d->error);
    memset(d, 0, sizeof *d);
}

int prep_input_add(prep_domain *d, const char *path, const char *rel, int split)
{
    if (d->n_in == d->cap_in) {
        int cap = d->cap_in ? d->cap_in * 2 : 4;
        prep_input *in = realloc(d->in, (size_t)cap * sizeof *in);
        if (!in) return clpt_err(CLPT_ENOMEM, "out of memory");
        d->in = in;
        d->cap_in = cap;
    }
    prep_input *in = &d->in[d->n_in];
    *in = (prep_input){.split = split, .html = clpt_textsrc_is_html_name(path)};
    struct stat st;
    if (stat(path, &st) != 0) return clpt_err(CLPT_EIO, "%s: %s", path, strerror(errno));
    in->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    int gz, rc = clpt_textsrc_size(path, &in->text_bytes, &in->disk_bytes, &gz);
    if (rc) return rc;
    /* A gzip trailer holds the size modulo 4 GiB (and anything at all in a
     * damaged file): past deflate's 1032:1 limit, or for files that may
     * hold over 4 GiB, guess a typical 4:1 instead. It is only an estimate
     * (for --min-bytes and the split), never a limit. */
    if (gz && (in->text_bytes > in->disk_bytes * 1032 || in->disk_bytes > (1ull << 30)))
        in->text_bytes = in->disk_bytes * 4;
    if (!(in->path = strdup(path)) || !(in->rel = strdup(rel))) {
        free(in->path);
        return clpt_err(CLPT_ENOMEM, "out of memory");
    }
    d->bytes += in->text_bytes;
    d->n_in++;
    return 0;
}

/* arXiv-style "cs.CL", "astro-ph.GA": a lower-case field, a dot, a code. */
static const char *arxiv_dot(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot || dot == name || !dot[1]) return NULL;
    for (const char *p = name; p < dot; p++)
        if (!islower((unsigned char)*p) && *p != '-') return NULL;
    return isalpha((unsigned char)dot[1]) ? dot : NULL;
}

int prep_name_hierarchy(const char *name, char **l1, char **l2)
{
    const char *sep = strstr(name, "__"), *rest;
    if (sep && sep > name && sep[2]) rest = sep + 2;
    else if ((sep = arxiv_dot(name))) rest = sep + 1;
    else sep = name + strlen(name), rest = name;
    *l1 = strndup(name, (size_t)(sep - name));
    *l2 = strdup(rest);
    if (*l1 && *l2) return 0;
    free(*l1);
    free(*l2);
    *l1 = *l2 = NULL;
    return clpt_err(CLPT_ENOMEM, "out of memory");
}

static prep_domain *find_domain(prep_ctx *c, const char *name)
{
    for (int i = 0; i < c->nd; i++)
        if (!strcmp(c->d[i].name, name)) return &c->d[i];
    return NULL;
}

static void fail_domain(prep_ctx *c, prep_domain *d, int code, const char *fmt, const char *a,
                        const char *b)
{
    clpt_err(code, fmt, a, b);
    prep_fail(c, d);
}

/* ---- M2D2 layout ------------------------------------------------------------ */

/* ROOT/<name>/{train,valid,test}.txt[.gz]; a folder with none of them is not
 * a domain (said once, as a warning). */
static int add_m2d2_folder(prep_ctx *c, const char *name, const char *dir)
{
    char *paths[CLPT_NSPLITS] = {0};
    int found = 0, rc = 0;
    for (int s = 0; s < CLPT_NSPLITS && !rc; s++) {
        char gz[32];
        snprintf(gz, sizeof gz, "%s.gz", split_files[s]);
        char *p = clpt_fs_join(dir, split_files[s]), *q = clpt_fs_join(dir, gz);
        if (!p || !q) rc = clpt_err(CLPT_ENOMEM, "out of memory");
        else if (clpt_fs_exists(p)) paths[s] = p, p = NULL;
        else if (clpt_fs_exists(q)) paths[s] = q, q = NULL;
        found += paths[s] != NULL;
        free(p);
        free(q);
    }
    if (!rc && !found) prep_warn(c, "%s: no train.txt, valid.txt or test.txt: not a domain", dir);
    prep_domain *d = rc || !found ? NULL : prep_domain_add(c, name);
    if (!rc && found && !d) rc = CLPT_ENOMEM;
    for (int s = 0; d && s < CLPT_NSPLITS && !rc; s++) {
        char rel[4096];
        if (!paths[s]) {
            char want[4096];
            snprintf(want, sizeof want, "%s/%s", dir, split_files[s]);
            fail_domain(c, d, CLPT_EIO, "%s: missing: domain %s has no such split", want, name);
            continue;
        }
        snprintf(rel, sizeof rel, "%s/%s", name, strrchr(paths[s], '/') + 1);
        if (prep_input_add(d, paths[s], rel, s)) prep_fail(c, d);
    }
    for (int s = 0; s < CLPT_NSPLITS; s++) free(paths[s]);
    return rc;
}

/* ROOT/<name>.tar.gz (or .tgz, .tar) */
static int add_m2d2_archive(prep_ctx *c, const char *file, const char *path)
{
    static const char *const sufs[] = {".tar.gz", ".tgz", ".tar"};
    size_t n = strlen(file);
    for (int i = 0; i < 3; i++) {
        size_t k = strlen(sufs[i]);
        if (n <= k || strcmp(file + n - k, sufs[i])) continue;
        char *name = strndup(file, n - k);
        if (!name) return clpt_err(CLPT_ENOMEM, "out of memory");
        prep_domain *d = find_domain(c, name);
        if (d) {
            prep_log(c, "note: %s ignored: domain %s comes from %s", path, name,
                     d->n_in ? d->in[0].path : "elsewhere");
            free(name);
            return 0;
        }
        d = prep_domain_add(c, name);
        free(name);
        if (!d) return CLPT_ENOMEM;
        if (prep_input_add(d, path, file, PREP_ARCHIVE)) prep_fail(c, d);
        return 0;
    }
    return 0;
}

static int scan_m2d2(prep_ctx *c)
{
    struct dirent **ents;
    int n = scandir(c->o->root, &ents, NULL, alphasort), rc = 0;
    if (n < 0) return clpt_err(CLPT_EIO, "%s: %s", c->o->root, strerror(errno));
    for (int i = 0; i < n; i++) {
        const char *nm = ents[i]->d_name;
        char *path = nm[0] == '.' || rc ? NULL : clpt_fs_join(c->o->root, nm);
        if (path && clpt_fs_is_dir(path)) rc = add_m2d2_folder(c, nm, path);
        else if (path) rc = add_m2d2_archive(c, nm, path);
        free(path);
    }
    for (int i = 0; i < n; i++) free(ents[i]);
    free(ents);
    return rc;
}

/* auto: M2D2 if some folder holds train.txt(.gz) or some file is a tarball */
static int detect_layout(const char *root)
{
    DIR *dir = opendir(root);
    if (!dir) return CLPT_LAYOUT_TREE;
    struct dirent *e;
    int m2d2 = 0;
    while (!m2d2 && (e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.') continue;
        if ((n > 7 && !strcmp(e->d_name + n - 7, ".tar.gz")) ||
            (n > 4 && (!strcmp(e->d_name + n - 4, ".tgz") || !strcmp(e->d_name + n - 4, ".tar")))) {
            m2d2 = 1;
            break;
        }
        char *dp = clpt_fs_join(root, e->d_name), *tp = dp ? clpt_fs_join(dp, "train.txt") : NULL;
        char *gp = dp ? clpt_fs_join(dp, "train.txt.gz") : NULL;
        m2d2 = (tp && clpt_fs_exists(tp)) || (gp && clpt_fs_exists(gp));
        free(dp);
        free(tp);
        free(gp);
    }
    closedir(dir);
    return m2d2 ? CLPT_LAYOUT_M2D2 : CLPT_LAYOUT_TREE;
}

/* ---- domains file ------------------------------------------------------------ */

typedef struct dom_row {
    char *name, *l1, *l2;
    int line;
} dom_row;

/* Split a line on tabs in place; returns the field count (at most max). */
static int split_tabs(char *line, char **f, int max)
{
    int n = 0;
    for (char *p = line; n < max;) {
        f[n++] = p;
        char *t = strchr(p, '\t');
        if (!t) break;
        *t = '\0';
        p = t + 1;
    }
    return n;
}

static void free_rows(dom_row *rows, int n)
{
    for (int i = 0; i < n; i++) {
        free(rows[i].name);
        free(rows[i].l1);
        free(rows[i].l2);
    }
    free(rows);
}

typedef struct dom_rows {
    dom_row *v;
    int n, cap;
    int col[3];          /* columns of name, l1, l2 */
} dom_rows;

/* One non-comment line: a header (first line, first field "name") or a row. */
static int add_row(dom_rows *r, const char *path, int lineno, char *line)
{
    char *f[64];
    int nf = split_tabs(line, f, 64);
    if (lineno == 1 && !strcmp(f[0], "name")) {
        r->col[1] = r->col[2] = 99;
        for (int k = 1; k < nf; k++)
            if (!strcmp(f[k], "l1")) r->col[1] = k;
            else if (!strcmp(f[k], "l2")) r->col[2] = k;
        return 0;
    }
    for (int k = 0; k < r->n; k++)
        if (!strcmp(r->v[k].name, f[0]))
            return clpt_err(CLPT_EFORMAT, "%s:%d: domain %s is listed twice (first on line %d)",
                            path, lineno, f[0], r->v[k].line);
    if (r->n == r->cap) {
        int cap = r->cap ? r->cap * 2 : 64;
        dom_row *v = realloc(r->v, (size_t)cap * sizeof *v);
        if (!v) return clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
        r->v = v;
        r->cap = cap;
    }
    dom_row *row = &r->v[r->n++];
    *row = (dom_row){.line = lineno, .name = strdup(f[0]),
                     .l1 = strdup(r->col[1] < nf ? f[r->col[1]] : ""),
                     .l2 = strdup(r->col[2] < nf ? f[r->col[2]] : "")};
    if (!row->name || !row->l1 || !row->l2) return clpt_err(CLPT_ENOMEM, "%s: out of memory", path);
    return 0;
}

/* Parse the domains file: rows of name [l1 l2] (tabs), or a header row
 * "name ... l1 ... l2 ..." naming the columns. '#' lines are comments. */
static int read_rows(const char *path, dom_row **out, int *nout)
{
    char *text;
    int rc = clpt_fs_read_file(path, 64u << 20, &text, NULL), lineno = 0;
    if (rc) return rc;
    dom_rows r = {.col = {0, 1, 2}};
    for (char *line = text, *next; line && !rc; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r') line[--len] = '\0';
        if (len && line[0] != '#') rc = add_row(&r, path, lineno, line);
    }
    free(text);
    if (rc) {
        free_rows(r.v, r.n);
        return rc;
    }
    *out = r.v;
    *nout = r.n;
    return 0;
}

static int set_str(char **dst, const char *s)
{
    char *t = strdup(s);
    if (!t) return clpt_err(CLPT_ENOMEM, "out of memory");
    free(*dst);
    *dst = t;
    return 0;
}

/* Mark the rows' domains listed (taking their l1/l2); a listed domain that
 * the corpus lacks is a failed domain. Unlisted ones are dropped (select)
 * or kept after the listed ones, with a message either way. */
static int apply_rows(prep_ctx *c, const char *path, dom_row *rows, int n, int select)
{
    for (int i = 0; i < n; i++) {
        prep_domain *d = find_domain(c, rows[i].name);
        if (!d) {
            if (!(d = prep_domain_add(c, rows[i].name))) return CLPT_ENOMEM;
            fail_domain(c, d, CLPT_EINVAL, "%s: listed in the domains file but not found in %s",
                        rows[i].name, c->o->root);
            prep_log(c, "  (%s:%d)", path, rows[i].line);
        }
        d->listed = i;
        if ((rows[i].l1[0] && set_str(&d->l1, rows[i].l1)) ||
            (rows[i].l2[0] && set_str(&d->l2, rows[i].l2)))
            return CLPT_ENOMEM;
    }
    int unlisted = 0;
    const char *example = NULL;
    for (int i = 0; i < c->nd; i++) {
        if (c->d[i].listed >= 0) continue;
        if (!unlisted++) example = c->d[i].name;
        if (select) c->d[i].status = PREP_DROPPED;
    }
    if (unlisted && select)
        prep_log(c, "%d domain(s) of %s not listed in %s are left out (e.g. %s)", unlisted,
                 c->o->root, path, example);
    else if (unlisted)
        prep_warn(c, "%d domain(s) not listed in %s come after the listed ones, in name "
                  "order (e.g. %s)", unlisted, path, example);
    return 0;
}

static int domains_file(prep_ctx *c)
{
    const char *path = c->o->domains;
    char *own = NULL;
    if (!path) {
        own = clpt_fs_join(c->o->root, "domains.tsv");
        if (!own) return clpt_err(CLPT_ENOMEM, "out of memory");
        if (!clpt_fs_exists(own)) {
            free(own);
            return 0;
        }
        path = own;
    }
    dom_row *rows = NULL;
    int n = 0, rc = read_rows(path, &rows, &n);
    if (!rc) rc = apply_rows(c, path, rows, n, c->o->domains != NULL);
    free_rows(rows, n);
    free(own);
    return rc;
}

static int cmp_domain(const void *a, const void *b)
{
    const prep_domain *x = a, *y = b;
    if ((x->listed >= 0) != (y->listed >= 0)) return x->listed >= 0 ? -1 : 1;
    if (x->listed != y->listed) return x->listed < y->listed ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Tree paths can collide once '/' becomes "__" (a/b__c, a__b/c). */
static void check_unique(prep_ctx *c)
{
    for (int i = 0; i < c->nd; i++)
        for (int k = i + 1; k < c->nd; k++)
            if (c->d[k].status != PREP_FAILED && !strcmp(c->d[i].name, c->d[k].name)) {
                clpt_err(CLPT_EINVAL, "domain name %s comes from two folders (holding %s "
                         "and %s): rename one", c->d[k].name,
                         c->d[i].n_in ? c->d[i].in[0].rel : "?",
                         c->d[k].n_in ? c->d[k].in[0].rel : "?");
                prep_fail(c, &c->d[k]);
                c->d[i].status = PREP_FAILED;
            }
}

int prep_scan(prep_ctx *c)
{
    c->layout = c->o->layout == CLPT_LAYOUT_AUTO ? detect_layout(c->o->root) : c->o->layout;
    c->docs = c->o->docs != CLPT_DOCS_AUTO ? c->o->docs
            : c->layout == CLPT_LAYOUT_M2D2 ? CLPT_DOCS_BLANK : CLPT_DOCS_FILE;
    if (!clpt_fs_is_dir(c->o->root))
        return clpt_err(CLPT_EIO, "%s: not a folder", c->o->root);
    int rc = c->layout == CLPT_LAYOUT_M2D2 ? scan_m2d2(c) : prep_scan_tree(c);
    if (!rc) rc = domains_file(c);
    if (rc) return rc;
    qsort(c->d, (size_t)c->nd, sizeof *c->d, cmp_domain);
    check_unique(c);
    if (c->layout == CLPT_LAYOUT_TREE) {
        if ((rc = prep_tree_merge_small(c))) return rc;
        for (int i = 0; i < c->nd; i++)
            if (c->d[i].status == PREP_TODO) prep_tree_split(c, &c->d[i]);
    }
    int order = 0;
    for (int i = 0; i < c->nd; i++)
        if (c->d[i].status == PREP_TODO) c->d[i].order = order++;
    if (!order && !c->nd)
        return clpt_err(CLPT_EINVAL, "%s: no domains found (layout %s)", c->o->root,
                        c->layout == CLPT_LAYOUT_M2D2 ? "m2d2" : "tree");
    return 0;
}
