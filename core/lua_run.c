/* lua_run.c - exp:run{...} and the run object: the thin layer over the run
 * engine (clrun.h) plus Lua hooks. Training and evaluation stay in C; a Lua
 * hook runs protected, and an error in it stops the run at a checkpoint
 * before it is raised again in the script, so the run resumes. */
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "clpt.h"
#include "lua_impl.h"

static const char *const event_names[CLPT_CLRUN_NEVENTS + 1] = {
    "domain_begin", "domain_end", "step", "eval", "batch", NULL};

static lua_run *checkrun(lua_State *L, int idx)
{
    lua_run *u = luaL_checkudata(L, idx, CLPT_LUA_RUN);
    if (!u->run) luaL_error(L, "the run is closed");
    return u;
}

/* ---- building the options --------------------------------------------------- */

/* Everything exp:run collects before clpt_clrun_open. Arrays and strings
 * are Lua values anchored in the `keep` table (stack index KEEP), so an
 * error raised half-way leaks nothing. */
typedef struct run_args {
    clpt_clrun_opts o;
    clpt_config cfg;
    int *schedule, *eval_list;
    const char **options, **paths;
} run_args;

#define KEEP 3

/* n zeroed bytes owned by the keep table. */
static void *scratch(lua_State *L, size_t n)
{
    void *p = lua_newuserdatauv(L, n ? n : 1, 0);
    memset(p, 0, n ? n : 1);
    lua_rawseti(L, KEEP, (lua_Integer)luaL_len(L, KEEP) + 1);
    return p;
}

static void anchor(lua_State *L)
{
    lua_rawseti(L, KEEP, (lua_Integer)luaL_len(L, KEEP) + 1);
}

/* Domain list field k (names or indices) -> manifest indices; duplicates
 * and unknown domains raise, naming the domain. Returns the count. */
static int domain_field(lua_State *L, int t, const char *k, const clpt_manifest *m, int **out)
{
    int n = (int)luaL_len(L, t), nd = clpt_manifest_ndomains(m);
    char *seen = scratch(L, nd);
    *out = scratch(L, n * sizeof **out);
    for (int i = 0; i < n; i++) {
        lua_geti(L, t, i + 1);
        int d = clpt_lua_checkdomain(L, -1, m, k);
        if (seen[d]) luaL_error(L, "%s: domain '%s' appears twice", k, clpt_manifest_domain(m, d)->name);
        seen[d] = 1;
        (*out)[i] = d;
        lua_pop(L, 1);
    }
    return n;
}

/* options = {key = value} -> "key=value" strings, anchored in keep. */
static void option_strings(lua_State *L, int t, run_args *a)
{
    int n = 0;
    lua_pushnil(L);
    while (lua_next(L, t)) n++, lua_pop(L, 1);
    a->options = scratch(L, n * sizeof *a->options);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "strategy options are keyed by name");
        int bool_v = lua_type(L, -1) == LUA_TBOOLEAN;
        if (!bool_v && !lua_isstring(L, -1))
            luaL_error(L, "strategy option '%s' must be a string, number or boolean", lua_tostring(L, -2));
        const char *s = bool_v ? lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_toboolean(L, -1) ? "true" : "false")
                               : lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
        a->options[a->o.n_options++] = s;
        anchor(L);
        lua_pop(L, 1);
    }
}

static void eval_field(lua_State *L, int t, const clpt_manifest *m, run_args *a)
{
    static const char *const kinds[] = {"all", "seen", "current", "none", NULL};
    static const int kind_of[] = {CLPT_EVALSET_ALL, CLPT_EVALSET_SEEN, CLPT_EVALSET_CURRENT, CLPT_EVALSET_NONE};
    int type = lua_getfield(L, t, "eval");
    if (type == LUA_TTABLE) {
        a->o.eval.kind = CLPT_EVALSET_LIST;
        a->o.eval.n_domains = domain_field(L, lua_gettop(L), "eval", m, &a->eval_list);
        a->o.eval.domains = a->eval_list;
    } else if (type == LUA_TSTRING) {
        int k = 0;
        while (kinds[k] && strcmp(kinds[k], lua_tostring(L, -1))) k++;
        if (!kinds[k]) luaL_error(L, "field 'eval' must be all|seen|current|none or a list of domains, not '%s'",
                                  lua_tostring(L, -1));
        a->o.eval.kind = kind_of[k];
    } else if (type != LUA_TNIL) {
        luaL_error(L, "field 'eval' must be all|seen|current|none or a list of domains");
    }
    lua_pop(L, 1);
    lua_Integer next = clpt_lua_optfield_int(L, t, "next", 0);
    if (next < 0) luaL_error(L, "field 'next' must be >= 0");
    a->o.eval.next = (int)next;
}

/* Training length and other config overrides of this run only. */
static void run_config(lua_State *L, int t, const lua_exp *x, run_args *a)
{
    static const char *const keys[] = {"steps", "tokens", "epochs", NULL};
    a->cfg = x->cfg;
    for (int i = 0; keys[i]; i++) {
        if (lua_getfield(L, t, keys[i]) != LUA_TNIL) {
            char dotted[32];
            snprintf(dotted, sizeof dotted, "train.%s", keys[i]);
            char buf[64];
            const char *v = clpt_lua_totext(L, -1, buf, sizeof buf, keys[i]);
            if (clpt_config_set(&a->cfg, dotted, v, "script")) luaL_error(L, "%s", clpt_errmsg());
            if (i < 2 && clpt_config_set(&a->cfg, "train.epochs", "0", "script"))
                luaL_error(L, "%s", clpt_errmsg());   /* steps/tokens replace epochs */
        }
        lua_pop(L, 1);
    }
    if (lua_getfield(L, t, "set") != LUA_TNIL) clpt_lua_config_set(L, -1, &a->cfg, "script");
    lua_pop(L, 1);
    if (clpt_config_validate(&a->cfg)) luaL_error(L, "%s", clpt_errmsg());
    a->o.config = &a->cfg;
}

static void plugin_paths(lua_State *L, int t, run_args *a)
{
    int type = lua_getfield(L, t, "plugin_path");
    int n = type == LUA_TSTRING ? 1 : type == LUA_TTABLE ? (int)luaL_len(L, -1) : 0;
    if (type != LUA_TNIL && type != LUA_TSTRING && type != LUA_TTABLE)
        luaL_error(L, "field 'plugin_path' must be a path or a list of paths");
    a->paths = scratch(L, n * sizeof *a->paths);
    for (int i = 0; i < n; i++) {
        if (type == LUA_TTABLE) lua_geti(L, -1, i + 1);
        else lua_pushvalue(L, -1);
        if (!(a->paths[i] = lua_tostring(L, -1))) luaL_error(L, "plugin_path entries are paths");
        lua_pop(L, 1);   /* the string lives on in the options table */
    }
    lua_pop(L, 1);
    a->o.plugin_paths = a->paths;
    a->o.n_plugin_paths = n;
}

static void build_args(lua_State *L, int t, const lua_exp *x, run_args *a)
{
    const char *name = clpt_lua_optfield_str(L, t, "name", NULL);
    const char *dir = clpt_lua_optfield_str(L, t, "dir", NULL);
    if (!name && !dir) luaL_error(L, "exp:run needs name= (a directory under %s) or dir=", x->dir);
    if (!dir) {
        dir = lua_pushfstring(L, "%s/%s", x->dir, name);
        anchor(L);
    }
    a->o.dir = dir, a->o.name = name, a->o.data = x->data;
    a->o.strategy = clpt_lua_optfield_str(L, t, "strategy", NULL);
    if (lua_getfield(L, t, "schedule") == LUA_TTABLE)
        a->o.n_schedule = domain_field(L, lua_gettop(L), "schedule", x->man, &a->schedule);
    else if (!lua_isnil(L, -1)) luaL_error(L, "field 'schedule' must be a list of domains");
    lua_pop(L, 1);
    a->o.schedule = a->schedule;
    if (a->schedule && !a->o.n_schedule) luaL_error(L, "schedule: the list is empty");
    if (lua_getfield(L, t, "options") == LUA_TTABLE) option_strings(L, lua_gettop(L), a);
    else if (!lua_isnil(L, -1)) luaL_error(L, "field 'options' must be a table {name = value}");
    lua_pop(L, 1);
    a->o.options = a->options;
    plugin_paths(L, t, a);
    eval_field(L, t, x->man, a);
    a->o.eval_split = clpt_lua_optfield_str(L, t, "split", NULL);
    a->o.eval_label = clpt_lua_optfield_str(L, t, "label", NULL);
    a->o.eval_base = clpt_lua_optfield_bool(L, t, "base", 0);
    a->o.keep_checkpoints = clpt_lua_optfield_bool(L, t, "keep", 0);
    a->o.save_every = (int)clpt_lua_optfield_int(L, t, "save_every", 0);
    a->o.log_every = (int)clpt_lua_optfield_int(L, t, "log_every", 0);
    a->o.handle_signals = clpt_lua_optfield_bool(L, t, "signals", 1);
    run_config(L, t, x, a);
}

/* exp:run{name=, dir=, strategy=, options=, schedule=, eval=, next=, split=,
 *         label=, base=, keep=, steps=|tokens=|epochs=, set=, save_every=,
 *         log_every=, plugin_path=, signals=} -> run | nil, message */
int clpt_lua_exp_run(lua_State *L)
{
    lua_exp *x = clpt_lua_checkexp(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    lua_newtable(L);                                   /* KEEP */
    lua_run *u = lua_newuserdatauv(L, sizeof *u, 0);   /* 4: before the run it owns */
    memset(u, 0, sizeof *u);
    for (int i = 0; i < CLPT_CLRUN_NEVENTS; i++) u->hook[i] = LUA_NOREF;
    u->error = LUA_NOREF;
    luaL_setmetatable(L, CLPT_LUA_RUN);
    run_args *a = scratch(L, sizeof *a);
    build_args(L, 2, x, a);
    int rc = clpt_clrun_open(&u->run, &a->o);
    if (rc) return clpt_lua_fail(L, rc, "exp:run");
    clpt_lua_note_run_dir(L, clpt_clrun_dir(u->run));
    lua_settop(L, 4);
    return 1;
}

/* ---- hooks -------------------------------------------------------------------- */

static void setnum(lua_State *L, const char *k, double v)
{
    lua_pushnumber(L, v);
    lua_setfield(L, -2, k);
}

static void setint(lua_State *L, const char *k, lua_Integer v)
{
    lua_pushinteger(L, v);
    lua_setfield(L, -2, k);
}

/* An evaluation result as a table; rank fields only when computed. */
static void push_result(lua_State *L, const clpt_eval_result *e)
{
    setnum(L, "ppl", e->ppl);
    setnum(L, "nll", e->nll);
    setint(L, "tokens", (lua_Integer)e->tokens);
    setnum(L, "seconds", e->seconds);
    if (e->rank_mean > 0) {
        setnum(L, "rank_mean", e->rank_mean);
        setnum(L, "rank_median", e->rank_median);
        setnum(L, "top1", e->top1);
    }
}

static void push_event(lua_State *L, const clpt_clrun *r, const clpt_clrun_event *ev)
{
    lua_createtable(L, 0, 12);
    lua_pushstring(L, event_names[ev->event]), lua_setfield(L, -2, "event");
    lua_pushstring(L, clpt_clrun_name(r)), lua_setfield(L, -2, "run");
    if (ev->index) setint(L, "index", ev->index);
    if (ev->domain_name) lua_pushstring(L, ev->domain_name), lua_setfield(L, -2, "domain");
    setint(L, "step", ev->step);
    setint(L, "global_step", ev->global_step);
    setint(L, "tokens", (lua_Integer)ev->tokens);
    if (ev->event == CLPT_CLRUN_STEP) {
        setnum(L, "loss", ev->loss);
        setnum(L, "lr", ev->lr);
        setnum(L, "grad_norm", ev->grad_norm);
    }
    if (ev->event == CLPT_CLRUN_DOMAIN_END) setnum(L, "seconds", ev->seconds);
    if (ev->event == CLPT_CLRUN_EVAL) {
        lua_pushstring(L, ev->model), lua_setfield(L, -2, "model");
        lua_pushstring(L, clpt_split_name(ev->split)), lua_setfield(L, -2, "split");
        if (ev->eval) push_result(L, ev->eval);
    }
    if (ev->event == CLPT_CLRUN_BATCH) setint(L, "rows", ev->rows), setint(L, "T", ev->T);
}

/* Runs protected: builds the event table and calls the hook. */
static int hook_call(lua_State *L)
{
    const lua_run *u = lua_touserdata(L, 1);
    const clpt_clrun_event *ev = lua_touserdata(L, 2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, u->hook[ev->event]);
    push_event(L, u->run, ev);
    lua_call(L, 1, 1);
    return 1;
}

/* Keeps the hook's own traceback: the error is raised again later, from
 * the training call, where the outer traceback would hide where it began. */
static int hook_msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    luaL_traceback(L, L, msg ? msg : "(error object is not a string)", 1);
    return 1;
}

/* The C callback behind every Lua hook (clpt_clrun_hook). */
static int hook_tramp(void *ud, clpt_clrun *r, const clpt_clrun_event *ev)
{
    lua_run *u = ud;
    lua_State *L = u->L;
    (void)r;
    if (!L || u->hook[ev->event] == LUA_NOREF || u->error != LUA_NOREF) return 0;
    int top = lua_gettop(L);
    lua_pushcfunction(L, hook_msgh);
    lua_pushcfunction(L, hook_call);
    lua_pushlightuserdata(L, u);
    lua_pushlightuserdata(L, (void *)ev);
    if (lua_pcall(L, 2, 1, top + 1) != LUA_OK) {
        u->error = luaL_ref(L, LUA_REGISTRYINDEX);   /* raised again after the engine returns */
        lua_settop(L, top);
        return CLPT_CLRUN_STOPPED;                   /* the engine saves a checkpoint first */
    }
    int stop = lua_type(L, -1) == LUA_TSTRING && !strcmp(lua_tostring(L, -1), "stop");
    lua_settop(L, top);
    return stop ? CLPT_CLRUN_STOPPED : 0;
}

/* run:on(event, fn | nil [, every]) */
static int l_on(lua_State *L)
{
    lua_run *u = checkrun(L, 1);
    int ev = luaL_checkoption(L, 2, NULL, event_names);
    int every = (int)luaL_optinteger(L, 4, 1);
    if (!lua_isnoneornil(L, 3)) luaL_checktype(L, 3, LUA_TFUNCTION);
    int rc = clpt_clrun_set_hook(u->run, ev, every, lua_isnoneornil(L, 3) ? NULL : hook_tramp, u);
    if (rc) return clpt_lua_fail(L, rc, "run:on");
    luaL_unref(L, LUA_REGISTRYINDEX, u->hook[ev]);
    u->hook[ev] = LUA_NOREF;
    if (!lua_isnoneornil(L, 3)) {
        lua_pushvalue(L, 3);
        u->hook[ev] = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    return 0;
}

/* ---- driving ---------------------------------------------------------------------- */

/* After an engine call that may have run hooks: raise a hook's error, or
 * push true (done), false + "stopped", or nil + message. */
static int after_call(lua_State *L, lua_run *u, int rc)
{
    u->L = NULL;
    if (u->error != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, u->error);
        luaL_unref(L, LUA_REGISTRYINDEX, u->error);
        u->error = LUA_NOREF;
        return lua_error(L);
    }
    if (rc < 0) return clpt_lua_fail(L, rc, clpt_clrun_name(u->run));
    lua_pushboolean(L, rc != CLPT_CLRUN_STOPPED);
    if (rc != CLPT_CLRUN_STOPPED) return 1;
    lua_pushliteral(L, "stopped");
    return 2;
}

static int l_run_all(lua_State *L)
{
    lua_run *u = checkrun(L, 1);
    u->L = L;
    return after_call(L, u, clpt_clrun_run_all(u->run));
}

static int l_train(lua_State *L)
{
    lua_run *u = checkrun(L, 1);
    int n = (int)luaL_checkinteger(L, 2);
    u->L = L;
    return after_call(L, u, clpt_clrun_train_domain(u->run, n));
}

static int l_eval_after(lua_State *L)
{
    lua_run *u = checkrun(L, 1);
    int n = (int)luaL_optinteger(L, 2, clpt_clrun_done(u->run));
    u->L = L;
    return after_call(L, u, clpt_clrun_eval_after(u->run, n));
}

static int l_finish(lua_State *L)
{
    lua_run *u = checkrun(L, 1);
    u->L = L;
    return after_call(L, u, clpt_clrun_finish(u->run));
}

static int l_stop(lua_State *L)
{
    clpt_clrun_stop(checkrun(L, 1)->run);
    return 0;
}

/* One cell into a new table; returns 0 or the engine's error. */
static int eval_one(lua_State *L, lua_run *u, const char *model, int d, int split)
{
    clpt_eval_result e;
    memset(&e, 0, sizeof e);
    u->L = L;
    int rc = clpt_clrun_eval(u->run, model, d, split, &e);
    u->L = NULL;
    if (rc) return rc;
    lua_createtable(L, 0, 10);
    lua_pushstring(L, model), lua_setfield(L, -2, "model");
    lua_pushstring(L, clpt_manifest_domain(clpt_clrun_manifest(u->run), d)->name);
    lua_setfield(L, -2, "domain");
    lua_pushstring(L, clpt_split_name(split)), lua_setfield(L, -2, "split");
    push_result(L, &e);
    return 0;
}

/* run:eval(model, domain | {domains}, split="test") -> result | {results} */
static int l_eval(lua_State *L)
{
    lua_run *u = checkrun(L, 1);
    const char *model = luaL_checkstring(L, 2);
    const clpt_manifest *m = clpt_clrun_manifest(u->run);
    int split = clpt_split_parse(luaL_optstring(L, 4, "test"));
    if (split < 0) luaL_argerror(L, 4, "train, valid or test");
    int rc = 0, list = lua_istable(L, 3);
    if (!list) {
        rc = eval_one(L, u, model, clpt_lua_checkdomain(L, 3, m, "run:eval"), split);
    } else {
        int n = (int)luaL_len(L, 3);
        lua_createtable(L, n, 0);
        for (int i = 1; i <= n && !rc; i++) {
            lua_geti(L, 3, i);
            int d = clpt_lua_checkdomain(L, -1, m, "run:eval");
            lua_pop(L, 1);
            if (!(rc = eval_one(L, u, model, d, split))) lua_seti(L, -2, i);
        }
    }
    if (u->error != LUA_NOREF || rc) return after_call(L, u, rc ? rc : 0);
    return 1;
}

/* run:cell(model, domain, split="test") -> result or nil (never computes) */
static int l_cell(lua_State *L)
{
    lua_run *u = checkrun(L, 1);
    const char *model = luaL_checkstring(L, 2);
    int d = clpt_lua_checkdomain(L, 3, clpt_clrun_manifest(u->run), "run:cell");
    int split = clpt_split_parse(luaL_optstring(L, 4, "test"));
    if (split < 0) luaL_argerror(L, 4, "train, valid or test");
    clpt_eval_result e;
    memset(&e, 0, sizeof e);
    if (clpt_clrun_cell(u->run, model, d, split, &e) != 1) return lua_pushnil(L), 1;
    lua_createtable(L, 0, 8);
    push_result(L, &e);
    return 1;
}

/* ---- checkpoints ---------------------------------------------------------------------- */

/* run:save(dir [, with_optimizer]) -> true | nil, message: the current
 * weights as a Hugging Face checkpoint */
static int l_save(lua_State *L)
{
    lua_run *u = checkrun(L, 1);
    int rc = clpt_ckpt_save(clpt_clrun_model(u->run), luaL_checkstring(L, 2), NULL, lua_toboolean(L, 3));
    if (rc) return clpt_lua_fail(L, rc, "run:save");
    lua_pushboolean(L, 1);
    return 1;
}

/* run:load(dir) -> true | nil, message: replace the current weights */
static int l_load(lua_State *L)
{
    lua_run *u = checkrun(L, 1);
    int rc = clpt_ckpt_load_weights(clpt_clrun_model(u->run), luaL_checkstring(L, 2));
    if (rc) return clpt_lua_fail(L, rc, "run:load");
    lua_pushboolean(L, 1);
    return 1;
}

/* ---- inspection and life -------------------------------------------------------------- */

static int l_info(lua_State *L)
{
    lua_run *u = checkrun(L, 1);
    const clpt_clrun *r = u->run;
    int n;
    const int *s = clpt_clrun_schedule(r, &n);
    const clpt_manifest *m = clpt_clrun_manifest(r);
    lua_createtable(L, 0, 8);
    lua_pushstring(L, clpt_clrun_name(r)), lua_setfield(L, -2, "name");
    lua_pushstring(L, clpt_clrun_dir(r)), lua_setfield(L, -2, "dir");
    lua_pushstring(L, clpt_clrun_strategy(r)), lua_setfield(L, -2, "strategy");
    setint(L, "done", clpt_clrun_done(r));
    setint(L, "n", n);
    lua_pushboolean(L, clpt_clrun_finished(r)), lua_setfield(L, -2, "finished");
    setint(L, "global_step", clpt_clrun_global_step(r));
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) lua_pushstring(L, clpt_manifest_domain(m, s[i])->name), lua_seti(L, -2, i + 1);
    lua_setfield(L, -2, "schedule");
    return 1;
}

static int l_gc(lua_State *L)
{
    lua_run *u = luaL_checkudata(L, 1, CLPT_LUA_RUN);
    clpt_clrun_close(u->run);   /* writes nothing: reopening resumes */
    u->run = NULL;
    for (int i = 0; i < CLPT_CLRUN_NEVENTS; i++) {
        luaL_unref(L, LUA_REGISTRYINDEX, u->hook[i]);
        u->hook[i] = LUA_NOREF;
    }
    luaL_unref(L, LUA_REGISTRYINDEX, u->error);
    u->error = LUA_NOREF;
    return 0;
}

static int l_tostring(lua_State *L)
{
    lua_run *u = luaL_checkudata(L, 1, CLPT_LUA_RUN);
    int n = 0;
    if (!u->run) lua_pushliteral(L, "clpt.run (closed)");
    else clpt_clrun_schedule(u->run, &n), lua_pushfstring(L, "clpt.run (%s, %s: %d/%d domains)",
                                                         clpt_clrun_name(u->run), clpt_clrun_strategy(u->run),
                                                         clpt_clrun_done(u->run), n);
    return 1;
}

int clpt_lua_open_run(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"run_all", l_run_all}, {"train", l_train}, {"eval_after", l_eval_after}, {"eval", l_eval},
        {"cell", l_cell}, {"finish", l_finish}, {"stop", l_stop}, {"on", l_on}, {"save", l_save},
        {"load", l_load}, {"info", l_info}, {"close", l_gc}, {NULL, NULL}};
    static const luaL_Reg meta[] = {{"__gc", l_gc}, {"__close", l_gc}, {"__tostring", l_tostring}, {NULL, NULL}};
    luaL_newmetatable(L, CLPT_LUA_RUN);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    return 0;
}
