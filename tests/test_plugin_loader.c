/* test_plugin_loader.c - the plugin loader refuses each broken test plugin
 * with its exact message (one plugin per refusal), finds strategies on the
 * search path in order without ever looking in the working directory,
 * refuses duplicate names, and validates options against the schema. */
#define _XOPEN_SOURCE 700
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "clpt.h"
#include "plugin.h"

#define TP CLPT_PLUGIN_BUILD_DIR "/../plugins/tests/"

static void expect_msg(const char *want)
{
    CHECK_MSG(!strcmp(clpt_errmsg(), want), "\n  got  \"%s\"\n  want \"%s\"", clpt_errmsg(), want);
}

static void refused(const char *file, const char *reason)
{
    char want[1024];
    clpt_plugin *p = (clpt_plugin *)1;
    int rc = clpt_plugin_open(&p, file);
    CHECK_MSG(rc < 0 && p == NULL, "%s was not refused", file);
    snprintf(want, sizeof want, "%s: %s", file, reason);
    expect_msg(want);
}

/* what dlopen itself says about a file, for the exact message */
static const char *dl_reason(const char *file)
{
    static char buf[1024];
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (h) {
        dlclose(h);
        return "(loaded)";
    }
    snprintf(buf, sizeof buf, "cannot load: %s", dlerror());
    return buf;
}

static void test_refusals(void)
{
    const char *garbage = "/tmp/clpt_test_garbage.so";
    FILE *f = fopen(garbage, "w");
    fputs("not an ELF file\n", f);
    fclose(f);
    refused(garbage, dl_reason(garbage));
    remove(garbage);
    refused(TP "no_such.so", dl_reason(TP "no_such.so"));
    refused(TP "bad_nosym.so", "no symbol 'clpt_strategy_descriptor' (not a clpt strategy plugin?)");
    refused(TP "bad_major.so", "built for plugin ABI 2.0, this clpt has ABI 1.0");
    refused(TP "bad_minor.so", "built for plugin ABI 1.1, newer than this clpt's 1.0; update clpt");
    char want[256];
    snprintf(want, sizeof want, "descriptor struct_size 16 is smaller than ABI 1.0's %zu bytes",
             (size_t)CLPT_STRATEGY_DESC_SIZE_1_0);
    refused(TP "bad_size.so", want);
    refused(TP "bad_pair.so", "strategy 'broken': hook 'destroy' is NULL but 'create' is set (they come in pairs)");
    refused(TP "bad_default.so", "strategy 'broken': default of option 'ratio': 'half' is not a number");
    refused(TP "bad_name.so", "strategy name 'Broken Name' is not [a-z][a-z0-9_-]* (at most 63 bytes)");
    refused(TP "bad_badopt.so", "strategy 'broken': option 0 has name 'Bad Name', not [a-z][a-z0-9_]*");
    /* a bare file name would be searched for by dlopen: refused */
    clpt_plugin *p;
    CHECK(clpt_plugin_open(&p, "good.so") == CLPT_EINVAL);
    expect_msg("good.so: a plugin path needs a '/' (e.g. ./good.so)");
}

static void test_good(void)
{
    clpt_plugin *p;
    CHECK(clpt_plugin_open(&p, TP "good.so") == 0);
    const clpt_strategy_desc *d = clpt_plugin_desc(p);
    CHECK(!strcmp(clpt_plugin_name(p), "testgood") && d->n_options == 6 && d->state_version == 3);
    CHECK(d->create && d->destroy && d->compose_batch && !d->after_backward);
    CHECK(clpt_plugin_option_index(p, "mode") == 4 && clpt_plugin_option_index(p, "nope") == -1);
    CHECK(!strcmp(clpt_plugin_option(p, 2)->name, "ratio") && clpt_plugin_option(p, 6) == NULL);
    clpt_plugin_close(p);
}

/* ---- search path ------------------------------------------------------------------ */

static void test_search_path(void)
{
    setenv("CLPT_PLUGIN_PATH", "/nonexistent/a:" TP, 1);
    const char *extra[] = {"/explicit/x.so"};
    char **path = clpt_plugin_search_path(extra, 1);
    CHECK(path && path[0] && !strcmp(path[0], "/explicit/x.so"));
    CHECK(path && path[1] && !strcmp(path[1], "/nonexistent/a"));
    CHECK(path && path[2] && !strcmp(path[2], TP));
    CHECK(path && path[3] && !strcmp(path[3], CLPT_PLUGIN_BUILD_DIR));
    for (char **q = path; q && *q; q++) CHECK_MSG(strcmp(*q, ".") && strcmp(*q, ""), "searches '%s'", *q);
    clpt_plugin_path_free(path);

    /* a scan of the test directory: the broken ones refused, the duplicate
     * "testgood" (bad_dup.so sorts first) refused in good.so */
    clpt_plugin_list l;
    CHECK(clpt_plugin_scan(&l, NULL, 0) == 0);
    int ok = 0, bad = 0, seq = 0;
    for (int i = 0; i < l.n; i++) {
        if (l.entries[i].plugin) ok++, seq += !strcmp(clpt_plugin_name(l.entries[i].plugin), "sequential");
        else bad++;
        if (strstr(l.entries[i].file, "/good.so"))
            CHECK_MSG(l.entries[i].error && !strcmp(l.entries[i].error, TP "good.so: duplicate strategy name "
                      "'testgood': already provided by " TP "bad_dup.so"), "%s", l.entries[i].error);
    }
    CHECK_MSG(seq == 1 && bad == 9 && ok >= 8, "sequential %d, refused %d, loaded %d", seq, bad, ok);
    clpt_plugin_list_free(&l);
    unsetenv("CLPT_PLUGIN_PATH");
}

static void test_find(void)
{
    clpt_plugin *p;
    CHECK(clpt_plugin_find(&p, "replay", NULL, 0) == 0);
    CHECK(p && !strcmp(clpt_plugin_path(p), CLPT_PLUGIN_BUILD_DIR "/replay.so"));
    clpt_plugin_close(p);
    /* earlier entries shadow later ones */
    const char *dup_first[] = {TP "bad_dup.so", TP "good.so"};
    CHECK(clpt_plugin_find(&p, "testgood", dup_first, 2) == 0);
    CHECK(p && !strcmp(clpt_plugin_path(p), TP "bad_dup.so"));
    clpt_plugin_close(p);
    CHECK(clpt_plugin_find(&p, "testgood", dup_first + 1, 1) == 0);
    CHECK(p && clpt_plugin_desc(p)->n_options == 6);
    clpt_plugin_close(p);
    /* by path */
    CHECK(clpt_plugin_find(&p, TP "merge.so", NULL, 0) == 0 && !strcmp(clpt_plugin_name(p), "merge"));
    clpt_plugin_close(p);
    CHECK(clpt_plugin_find(&p, "nosuch", NULL, 0) == CLPT_ECONFIG && p == NULL);
    CHECK(strstr(clpt_errmsg(), "unknown strategy 'nosuch'; found: ") == clpt_errmsg());
    CHECK(strstr(clpt_errmsg(), "sequential") != NULL);
}

/* ---- options ------------------------------------------------------------------------ */

static void opt_error(clpt_plugin *p, const char *kv, const char *reason)
{
    clpt_plugin_opts o;
    char want[1024];
    CHECK_MSG(clpt_plugin_opts_parse(&o, p, &kv, 1) == CLPT_ECONFIG, "%s accepted", kv);
    snprintf(want, sizeof want, "strategy 'testgood' (%s): %s", clpt_plugin_path(p), reason);
    expect_msg(want);
}

static void test_options(void)
{
    clpt_plugin *p;
    CHECK(clpt_plugin_open(&p, TP "good.so") == 0);
    clpt_plugin_opts o;
    CHECK(clpt_plugin_opts_parse(&o, p, NULL, 0) == 0);
    CHECK(o.n == 6 && o.v[0].i == 0 && o.v[1].i == 3 && o.v[2].f == 0.5 && !strcmp(o.v[3].text, "x"));
    CHECK(o.v[4].i == 0 && !o.v[1].given);
    clpt_plugin_opts_free(&o);
    const char *kv[] = {"flag=yes", "count=2", "ratio=1e-1", "label=hello world", "mode=c", "count=10"};
    CHECK(clpt_plugin_opts_parse(&o, p, kv, 6) == 0);
    CHECK(o.v[0].i == 1 && o.v[1].i == 10 && o.v[1].given && fabs(o.v[2].f - 0.1) < 1e-15);
    CHECK(!strcmp(o.v[3].text, "hello world") && o.v[4].i == 2);
    cJSON *j = clpt_plugin_opts_json(p, &o);
    char *s = cJSON_PrintUnformatted(j);
    CHECK_MSG(!strcmp(s, "{\"flag\":true,\"count\":10,\"ratio\":0.1,\"label\":\"hello world\",\"mode\":\"c\",\"trace\":\"\"}"),
              "%s", s);
    free(s);
    cJSON_Delete(j);
    clpt_plugin_opts_free(&o);

    opt_error(p, "nope=1", "unknown option 'nope'; valid options: flag, count, ratio, label, mode, trace");
    opt_error(p, "ratio=abc", "option 'ratio': 'abc' is not a number");
    opt_error(p, "ratio=1.5", "option 'ratio': '1.5' is out of range [0, 1]");
    opt_error(p, "count=2.5", "option 'count': '2.5' is not an integer");
    opt_error(p, "count=1k", "option 'count': '1k' is out of range [1, 10]");
    opt_error(p, "mode=d", "option 'mode': 'd' is not one of: a, b, c");
    opt_error(p, "flag=maybe", "option 'flag': 'maybe' is not a bool (true/false)");
    opt_error(p, "label=a\tb", "option 'label': 'a\tb' holds a control character");
    opt_error(p, "count", "option 'count' is not key=value");
    clpt_plugin_close(p);
}

int main(void)
{
    test_refusals();
    test_good();
    test_search_path();
    test_find();
    test_options();
    CHECK_DONE();
}
