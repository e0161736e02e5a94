/* cmd_run.c - `clpt run SCRIPT.lua [ARGS]`: run a Lua experiment script,
 * then print the metric table of the runs it opened. */
#define _POSIX_C_SOURCE 200809L
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "commands.h"
#include "journal.h"
#include "lua_clpt.h"
#include "report.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: clpt run SCRIPT.lua [ARGS...]\n\n"
            "Run an experiment script in the embedded Lua 5.4. The script gets ARGS in the\n"
            "global table `arg` (arg[0] = SCRIPT) and as `...`; `require \"clpt\"` gives the\n"
            "clpt module, `require \"clpt.schedule\"` / `\"clpt.protocol\"` the Lua library\n"
            "(docs/lua.md). After the script, the metrics of the runs it opened are printed\n"
            "(also when it failed part-way). Example:\n"
            "  clpt run lua/examples/quickstart.lua data/quickstart\n");
}

/* The table of the runs the script touched, from their journals. */
static void print_summary(lua_State *L)
{
    const char **dirs;
    int n;
    if (clpt_lua_run_dirs(L, &dirs, &n) || !n) return;
    clpt_experiment *e = NULL;
    int rc = clpt_experiment_new(&e);
    for (int i = 0; !rc && i < n; i++) rc = clpt_experiment_add_dir(e, dirs[i]);
    if (!rc) rc = clpt_report_summary(e, stdout, NULL);
    if (rc) fprintf(stderr, "clpt run: summary: %s\n", clpt_errmsg());
    clpt_experiment_free(e);
    free(dirs);
}

int clpt_cmd_run(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *script = argv[1];
    char *dir = strdup(script), *slash = dir ? strrchr(dir, '/') : NULL;
    if (slash) *slash = '\0';
    lua_State *L = clpt_lua_newstate(slash ? dir : ".");
    if (!L) {
        fprintf(stderr, "clpt run: cannot create a Lua state (out of memory)\n");
        free(dir);
        return 1;
    }
    int rc = clpt_lua_dofile(L, script, argc - 2, argv + 2);
    /* close the script's runs before reading their journals */
    lua_gc(L, LUA_GCCOLLECT);
    print_summary(L);
    lua_close(L);
    free(dir);
    return rc;
}
