/* cmd_prepare.c - `clpt prepare`: options -> clpt_prepare_run (prepare.h). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "commands.h"
#include "prepare.h"

static const char usage[] =
    "usage: clpt prepare --tokenizer DIR [OPTIONS] CORPUS\n\n"
    "Turns a text corpus into token shards (llm.c .bin layout, one folder per\n"
    "domain) and OUT/manifest.json. Domains that are up to date are skipped.\n\n"
    "Layouts:\n"
    "  m2d2   CORPUS/<domain>/{train,valid,test}.txt (or .txt.gz), or\n"
    "         CORPUS/<domain>.tar.gz holding <domain>/{train,valid,test}.txt\n"
    "  tree   any folder tree: folders at --depth are domains, files below them\n"
    "         documents (.gz read directly, .html converted to text), split\n"
    "         train/valid/test by a seeded shuffle\n"
    "Hierarchy and order come from CORPUS/domains.tsv (or --domains): rows of\n"
    "name [l1 l2], or a header row naming the columns; else from the names\n"
    "(<L1>__<L2>, cs.CL -> cs/CL, tree folders a/b -> a/b), sorted.\n\n"
    "  -t, --tokenizer DIR      vocab.json + merges.txt (required)\n"
    "  --train-tokenizer N      if DIR holds no tokenizer, first train a BPE with N\n"
    "                           ids on the train split of the domains, into DIR\n"
    "  -o, --output DIR         output folder (default: data/<corpus folder name>)\n"
    "  --layout L               auto (default), m2d2 or tree\n"
    "  --docs D                 what a document is: blank (separated by blank lines;\n"
    "                           m2d2 default), line (one per line), file (tree default)\n"
    "  --depth N                tree: depth of the domain folders (default 1)\n"
    "  --split A,B,C            tree: train,valid,test fractions (default 0.9,0.05,0.05)\n"
    "  --seed S                 tree: seed of the split (default 0)\n"
    "  --min-bytes N            tree: domains with fewer bytes are merged into a\n"
    "                           sibling or dropped (suffixes k, M, G; default 0)\n"
    "  --small merge|drop       what happens to them (default merge)\n"
    "  --ext LIST               tree: read only files with these suffixes, e.g.\n"
    "                           rst,txt,html (a .gz after them is fine; default: all\n"
    "                           files except binary ones)\n"
    "  --domains FILE           the domains to prepare, in order (name [l1 l2] rows)\n"
    "  --shard-tokens N         tokens per shard file (default 100M; suffixes k, M)\n"
    "  -j, --jobs N             threads (default 0: all cores)\n"
    "  --force                  redo every domain\n"
    "  --skip-bad               leave failed domains out of the manifest and succeed\n"
    "  --progress P             auto, bar, lines or none\n"
    "  -q, --quiet              no progress and no per-domain table\n";

static int is_opt(const char *a, const char *s, const char *l)
{
    return (s && !strcmp(a, s)) || !strcmp(a, l);
}

/* "12", "200k", "5M", "1G" (decimal units) */
static int parse_size(const char *s, uint64_t *out)
{
    char *end;
    double v = strtod(s, &end);
    double mul = !*end ? 1 : !strcmp(end, "k") || !strcmp(end, "K") ? 1e3
               : !strcmp(end, "M") ? 1e6 : !strcmp(end, "G") ? 1e9 : -1;
    if (end == s || mul < 0 || !(v >= 0) || v * mul > 1.8e19) return -1;
    *out = (uint64_t)(v * mul + 0.5);
    return 0;
}

static int parse_enum(const char *v, const char *const *names, int n, int *out)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(v, names[i])) return *out = i, 0;
    return -1;
}

static int parse_split(const char *v, double *f)
{
    char *e1, *e2, *e3;
    f[0] = strtod(v, &e1);
    if (*e1 != ',') return -1;
    f[1] = strtod(e1 + 1, &e2);
    if (*e2 != ',') return -1;
    f[2] = strtod(e2 + 1, &e3);
    return *e3 ? -1 : 0;
}

static int parse_value(clpt_prepare_opts *o, const char *opt, const char *v)
{
    static const char *const layouts[] = {"auto", "m2d2", "tree"};
    static const char *const docs[] = {"auto", "blank", "line", "file"};
    static const char *const small[] = {"merge", "drop"};
    static const char *const prog[] = {"auto", "bar", "lines", "none"};
    uint64_t n = 0;
    if (is_opt(opt, "-t", "--tokenizer")) o->tokenizer = v;
    else if (is_opt(opt, "-o", "--output")) o->out = v;
    else if (!strcmp(opt, "--train-tokenizer")) return (o->train_vocab = atoi(v)) > 0 ? 0 : -1;
    else if (!strcmp(opt, "--layout")) return parse_enum(v, layouts, 3, &o->layout);
    else if (!strcmp(opt, "--docs")) return parse_enum(v, docs, 4, &o->docs);
    else if (!strcmp(opt, "--depth")) return (o->depth = atoi(v)) > 0 ? 0 : -1;
    else if (!strcmp(opt, "--split")) return parse_split(v, o->split);
    else if (!strcmp(opt, "--seed")) o->seed = strtoull(v, NULL, 10);
    else if (!strcmp(opt, "--min-bytes")) return parse_size(v, &o->min_bytes);
    else if (!strcmp(opt, "--small")) return parse_enum(v, small, 2, &o->small);
    else if (!strcmp(opt, "--ext")) o->ext = v;
    else if (!strcmp(opt, "--domains")) o->domains = v;
    else if (!strcmp(opt, "--shard-tokens")) {
        if (parse_size(v, &n) || !n) return -1;
        o->shard_tokens = n;
    } else if (is_opt(opt, "-j", "--jobs")) return (o->jobs = atoi(v)) >= 0 && *v ? 0 : -1;
    else if (!strcmp(opt, "--progress")) return parse_enum(v, prog, 4, &o->progress);
    else return 1;  /* not an option with a value */
    return 0;
}

static int parse_args(int argc, char **argv, clpt_prepare_opts *o)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_opt(a, "-h", "--help")) return fputs(usage, stdout), 3;
        if (!strcmp(a, "--force")) { o->force = 1; continue; }
        if (!strcmp(a, "--skip-bad")) { o->skip_bad = 1; continue; }
        if (is_opt(a, "-q", "--quiet")) { o->progress = 3; continue; }
        if (a[0] != '-' || !a[1]) {
            if (o->root) return fprintf(stderr, "clpt prepare: one CORPUS only ('%s')\n", a), 2;
            o->root = a;
            continue;
        }
        int r = i + 1 < argc ? parse_value(o, a, argv[i + 1]) : 1;
        if (r == 1) {
            fprintf(stderr, "clpt prepare: %s '%s'\n", i + 1 < argc ? "unknown option"
                    : "missing value or unknown option", a);
            return 2;
        }
        if (r) return fprintf(stderr, "clpt prepare: bad value for %s: '%s'\n", a, argv[i + 1]), 2;
        i++;
    }
    if (!o->root || !o->tokenizer) {
        fprintf(stderr, "clpt prepare: %s is required\n\n%s", !o->root ? "CORPUS" : "--tokenizer",
                usage);
        return 2;
    }
    return 0;
}

/* data/<last component of the corpus path> */
static char *default_out(const char *root)
{
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && root[b - 1] != '/') b--;
    char *s = malloc(n - b + 6);
    if (s) snprintf(s, n - b + 6, "data/%.*s", (int)(n - b), root + b);
    return s;
}

int clpt_cmd_prepare(int argc, char **argv)
{
    clpt_prepare_opts o;
    clpt_prepare_opts_init(&o);
    int a = parse_args(argc, argv, &o);
    if (a) return a == 3 ? 0 : a;
    char *out = o.out ? NULL : default_out(o.root);
    if (!o.out) o.out = out;
    clpt_prepare_result r;
    int rc = clpt_prepare_run(&o, &r);
    if (rc) {
        fprintf(stderr, "clpt prepare: %s\n", clpt_errmsg());
    } else {
        fprintf(stderr, "clpt prepare: %d domain(s) (%d prepared, %d up to date) -> %s/"
                "manifest.json; read %.1f MB, wrote %llu tokens in %.1f s (%.1f MB/s); "
                "%d warning(s)\n", r.domains, r.prepared, r.skipped, o.out, r.bytes / 1e6,
                (unsigned long long)r.tokens, r.seconds,
                r.seconds > 0 ? r.bytes / 1e6 / r.seconds : 0.0, r.warnings);
    }
    free(out);
    return rc ? 1 : 0;
}
