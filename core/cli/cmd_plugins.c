/* cmd_plugins.c - `clpt plugins` (list the strategies on the search path
 * with their options) and `clpt plugin check FILE.so [key=value...]`
 * (validate one plugin, and optionally a set of options for it). */
#include <stdio.h>
#include <string.h>

#include "clpt.h"
#include "commands.h"
#include "plugin.h"

static const char *type_name(int t)
{
    static const char *names[] = {"?", "bool", "int", "float", "string", "enum"};
    return t >= CLPT_OPT_BOOL && t <= CLPT_OPT_ENUM ? names[t] : "?";
}

static void print_option(const clpt_option_desc *o)
{
    printf("    %-18s %-6s default %s", o->name, type_name(o->type), *o->def ? o->def : "\"\"");
    if (o->type == CLPT_OPT_ENUM) {
        printf("  (");
        for (int i = 0; o->choices[i]; i++) printf("%s%s", i ? ", " : "", o->choices[i]);
        printf(")");
    } else if ((o->type == CLPT_OPT_INT || o->type == CLPT_OPT_FLOAT) && (o->min != 0 || o->max != 0)) {
        printf("  [%g, %g]", o->min, o->max);
    }
    printf("\n        %s\n", o->help);
}

static void print_plugin(const clpt_plugin *p, int verbose)
{
    const clpt_strategy_desc *d = clpt_plugin_desc(p);
    printf("%s %s - %s\n", d->name, d->version, d->summary);
    if (verbose) {
        printf("    file: %s\n    ABI %u.%u, state version %u%s\n", clpt_plugin_path(p), d->abi_major,
               d->abi_minor, d->state_version,
               d->flags & CLPT_STRATEGY_DATA_PARALLEL_SAFE ? ", data-parallel safe" : "");
    }
    for (int i = 0; i < (int)d->n_options; i++) print_option(clpt_plugin_option(p, i));
}

static void usage_plugins(FILE *f)
{
    fprintf(f, "usage: clpt plugins [--path DIR_OR_FILE]... [-v]\n\n"
               "Lists the strategy plugins found on the search path with their options:\n"
               "--path entries first, then CLPT_PLUGIN_PATH (colon-separated), then the\n"
               "build tree's and the installed strategies directories. Files that are\n"
               "refused are listed with the reason. -v also shows files and ABI versions.\n");
}

int clpt_cmd_plugins(int argc, char **argv)
{
    const char *extra[64];
    int n_extra = 0, verbose = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage_plugins(stdout);
            return 0;
        } else if (!strcmp(argv[i], "-v")) {
            verbose = 1;
        } else if (!strcmp(argv[i], "--path") && i + 1 < argc && n_extra < 64) {
            extra[n_extra++] = argv[++i];
        } else {
            usage_plugins(stderr);
            return 2;
        }
    }
    clpt_plugin_list l;
    if (clpt_plugin_scan(&l, extra, n_extra)) {
        fprintf(stderr, "clpt: %s\n", clpt_errmsg());
        return 1;
    }
    int found = 0, refused = 0;
    for (int i = 0; i < l.n; i++)
        if (l.entries[i].plugin) print_plugin(l.entries[i].plugin, verbose), found++;
    for (int i = 0; i < l.n; i++)
        if (!l.entries[i].plugin) printf("%srefused: %s\n", refused++ ? "" : "\n", l.entries[i].error);
    if (!found) {
        char **path = clpt_plugin_search_path(extra, n_extra);
        fprintf(stderr, "clpt: no strategy plugins found; searched:");
        for (char **p = path; p && *p; p++) fprintf(stderr, " %s", *p);
        fprintf(stderr, "%s\n", path && *path ? "" : " (nothing: set CLPT_PLUGIN_PATH)");
        clpt_plugin_path_free(path);
    }
    clpt_plugin_list_free(&l);
    return 0;
}

static void usage_plugin(FILE *f)
{
    fprintf(f, "usage: clpt plugin check FILE.so|NAME [key=value]...\n\n"
               "Loads one strategy plugin and validates its descriptor (ABI version,\n"
               "struct sizes, hooks, options schema); with key=value arguments also\n"
               "validates those options against the schema. Exit 0 if it would load.\n");
}

int clpt_cmd_plugin(int argc, char **argv)
{
    if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage_plugin(stdout);
        return 0;
    }
    if (argc < 3 || strcmp(argv[1], "check")) {
        usage_plugin(stderr);
        return 2;
    }
    clpt_plugin *p;
    if (clpt_plugin_find(&p, argv[2], NULL, 0)) {
        fprintf(stderr, "clpt: %s\n", clpt_errmsg());
        return 1;
    }
    clpt_plugin_opts o;
    int rc = clpt_plugin_opts_parse(&o, p, (const char *const *)argv + 3, argc - 3);
    if (rc) {
        fprintf(stderr, "clpt: %s\n", clpt_errmsg());
    } else {
        const clpt_strategy_desc *d = clpt_plugin_desc(p);
        printf("%s: ok: strategy '%s' %s (ABI %u.%u), %u option%s\n", clpt_plugin_path(p), d->name, d->version,
               d->abi_major, d->abi_minor, d->n_options, d->n_options == 1 ? "" : "s");
        clpt_plugin_opts_free(&o);
    }
    clpt_plugin_close(p);
    return rc ? 1 : 0;
}
