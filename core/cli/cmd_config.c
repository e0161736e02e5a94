/* cmd_config.c - `clpt config`: document, show or check configuration. */
#include <stdio.h>
#include <string.h>

#include "clpt.h"
#include "commands.h"
#include "config.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: clpt config --doc\n"
            "       clpt config --show [FILE.ini ...] [--set section.key=value ...]\n"
            "       clpt config --check FILE.ini [...] [--set section.key=value ...]\n"
            "       clpt config --keys\n\n"
            "  --doc    Markdown reference of every key (configs/README.md)\n"
            "  --show   the resolved configuration: defaults, then the files in order,\n"
            "           then the --set overrides; every key with where it came from\n"
            "  --check  load and validate; exit status 0 when valid\n"
            "  --keys   every key as section.key, one per line\n");
}

/* Defaults, files, overrides, validation: the order every command uses. */
static int resolve(clpt_config *cfg, int argc, char **argv)
{
    int rc = clpt_config_defaults(cfg);
    for (int i = 2; i < argc && !rc; i++)
        if (strcmp(argv[i], "--set") && strcmp(argv[i - 1], "--set"))
            rc = clpt_config_load(cfg, argv[i]);
    for (int i = 2; i < argc && !rc; i++)
        if (!strcmp(argv[i - 1], "--set")) rc = clpt_config_set_arg(cfg, argv[i], "command line");
    return rc;
}

static int fail(const char *what)
{
    fprintf(stderr, "clpt config: %s%s\n", what, clpt_errmsg());
    return 1;
}

int clpt_cmd_config(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "-h") || !strcmp(mode, "--help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[argc - 1], "--set")) {
        fprintf(stderr, "clpt config: --set needs section.key=value\n");
        return 2;
    }
    if (!strcmp(mode, "--doc") && argc == 2) {
        clpt_config_doc(stdout);
        return 0;
    }
    if (!strcmp(mode, "--keys") && argc == 2) {
        for (int i = 0; i < clpt_config_nkeys(); i++) {
            clpt_config_keyinfo k;
            clpt_config_key_info(i, &k);
            printf("%s\n", k.dotted);
        }
        return 0;
    }
    int show = !strcmp(mode, "--show"), check = !strcmp(mode, "--check");
    for (int i = 2; i < argc; i++) {
        if (argv[i][0] == '-' && strcmp(argv[i], "--set") && strcmp(argv[i - 1], "--set")) {
            fprintf(stderr, "clpt config: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!show && !(check && argc > 2)) {
        usage(stderr);
        return 2;
    }
    clpt_config cfg;
    if (resolve(&cfg, argc, argv)) return fail("");
    if (show) clpt_config_print(&cfg, stdout);
    if (clpt_config_validate(&cfg)) return fail("invalid: ");
    if (check) printf("ok\n");
    return 0;
}
