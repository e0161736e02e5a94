/* lua_report.c - clpt.report, clpt.summary and clpt.metrics: reports and
 * metrics of run directories from a script (report.h, metrics.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "lua_impl.h"
#include "report_impl.h"

/* Arg 1 (a directory or a list of them) read into a new experiment: it,
 * or NULL with *nret results (nil + message) pushed. */
static clpt_experiment *load_dirs(lua_State *L, int *nret)
{
    clpt_experiment *e;
    int list = lua_istable(L, 1);
    if (!list) luaL_checkstring(L, 1);   /* raises: check before allocating */
    int n = list ? (int)luaL_len(L, 1) : 1, rc = clpt_experiment_new(&e);
    for (int i = 1; !rc && i <= n; i++) {
        if (list) lua_geti(L, 1, i);
        else lua_pushvalue(L, 1);
        const char *dir = lua_tostring(L, -1);
        rc = dir ? clpt_experiment_add_dir(e, dir) : clpt_err(CLPT_EINVAL, "directory %d is not a string", i);
        lua_pop(L, 1);
    }
    if (!rc) return e;
    clpt_experiment_free(e);
    *nret = rc == CLPT_EINVAL ? luaL_error(L, "%s", clpt_errmsg()) : clpt_lua_fail(L, rc, NULL);
    return NULL;
}

static void opts_of(lua_State *L, clpt_report_opts *o)
{
    int t = lua_istable(L, 2) ? 2 : 0;
    o->title = clpt_lua_optfield_str(L, t, "title", NULL);
    o->split = clpt_lua_optfield_str(L, t, "split", NULL);
}

/* clpt.report(dirs [, {out=, title=, split=}]) -> html path | nil, message */
static int l_report(lua_State *L)
{
    clpt_report_opts o;
    opts_of(L, &o);
    const char *out = clpt_lua_optfield_str(L, lua_istable(L, 2) ? 2 : 0, "out", NULL);
    if (!out) out = lua_isstring(L, 1) ? lua_pushfstring(L, "%s/report.html", lua_tostring(L, 1)) : "report.html";
    int n = 0;
    clpt_experiment *e = load_dirs(L, &n);
    if (!e) return n;
    int rc = clpt_report_write(e, out, &o);
    clpt_experiment_free(e);
    if (rc) return clpt_lua_fail(L, rc, "clpt.report");
    lua_pushstring(L, out);
    return 1;
}

/* clpt.summary(dirs [, opts]) -> the terminal table as a string */
static int l_summary(lua_State *L)
{
    clpt_report_opts o;
    opts_of(L, &o);
    int n = 0;
    clpt_experiment *e = load_dirs(L, &n);
    if (!e) return n;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int rc = f ? clpt_report_summary(e, f, &o) : clpt_err(CLPT_ENOMEM, "out of memory");
    if (f) fclose(f);
    clpt_experiment_free(e);
    if (rc) return free(buf), clpt_lua_fail(L, rc, "clpt.summary");
    lua_pushlstring(L, buf ? buf : "", len);
    free(buf);
    return 1;
}

/* t[k] = v unless v is missing (NaN): missing stays absent, never 0 */
static void setval(lua_State *L, lua_Integer k, const char *name, double v)
{
    if (isnan(v)) return;
    lua_pushnumber(L, v);
    if (name) lua_setfield(L, -2, name);
    else lua_seti(L, -2, k);
}

static void per_domain(lua_State *L, const rp_run *x, const double *v, const char *name)
{
    lua_createtable(L, 0, x->n);
    for (int j = 0; j < x->n; j++) setval(L, 0, x->r->schedule[j], v[j]);
    lua_setfield(L, -2, name);
}

static void stats(lua_State *L, const clpt_stat *s, int n, int from, const char *name)
{
    lua_createtable(L, n, 1);
    for (int i = 0; i < n; i++) setval(L, i + from, NULL, s[i].value);
    lua_setfield(L, -2, name);
}

static void push_run_metrics(lua_State *L, const rp_run *x)
{
    lua_createtable(L, 0, 32);
    lua_pushstring(L, x->r->name), lua_setfield(L, -2, "run");
    lua_pushstring(L, x->r->dir), lua_setfield(L, -2, "dir");
    lua_pushstring(L, x->r->strategy ? x->r->strategy : "?"), lua_setfield(L, -2, "strategy");
    lua_pushinteger(L, x->n), lua_setfield(L, -2, "n");
    lua_pushinteger(L, x->done), lua_setfield(L, -2, "done");
    lua_pushboolean(L, x->r->finished), lua_setfield(L, -2, "finished");
    lua_newtable(L);   /* partial[row] = true when some terms were missing */
    for (int k = 0; k < rp_nrows(); k++) {
        clpt_stat s = rp_row_value(x, k);
        if (!isnan(s.value) && s.cells < s.expected) lua_pushboolean(L, 1), lua_setfield(L, -2, rp_row_at(k)->name);
    }
    lua_setfield(L, -2, "partial");
    for (int k = 0; k < rp_nrows(); k++) setval(L, 0, rp_row_at(k)->name, rp_row_value(x, k).value);
    per_domain(L, x, x->ppl.zs, "zs");
    per_domain(L, x, x->ppl.dapt, "dapt");
    per_domain(L, x, x->ppl.cpt, "cpt");
    per_domain(L, x, x->ppl.lc, "lc");
    stats(L, x->ppl.bt, x->n, 1, "bt");
    stats(L, x->ppl.ft, x->n, 1, "ft");
    stats(L, x->ppl.bt_lag, x->n, 0, "bt_lag");
    stats(L, x->ppl.ft_lag, x->n, 0, "ft_lag");
    stats(L, x->ppl.avg, x->n, 1, "mean_ppl");
}

/* clpt.metrics(dirs [, opts]) -> {[run label] = {FG=, CPT=, ..., cpt={[domain]=ppl},
 * bt={[n]=}, bt_lag={[k]=}, ...}} for the runs with checkpoint cells */
static int l_metrics(lua_State *L)
{
    clpt_report_opts o;
    opts_of(L, &o);
    int n = 0;
    clpt_experiment *e = load_dirs(L, &n);
    if (!e) return n;
    rp_data d;
    int rc = rp_build(&d, e, &o);
    if (rc) return clpt_experiment_free(e), clpt_lua_fail(L, rc, "clpt.metrics");
    lua_createtable(L, 0, d.n_compared);
    for (int i = 0; i < d.n_runs; i++) {
        if (!d.runs[i].compared) continue;
        push_run_metrics(L, &d.runs[i]);
        lua_setfield(L, -2, d.runs[i].label);
    }
    rp_free(&d);
    clpt_experiment_free(e);
    return 1;
}

int clpt_lua_report_fns(lua_State *L)
{
    static const luaL_Reg fns[] = {{"report", l_report}, {"summary", l_summary}, {"metrics", l_metrics},
                                   {NULL, NULL}};
    luaL_setfuncs(L, fns, 0);
    return 0;
}
