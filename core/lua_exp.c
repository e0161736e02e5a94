/* lua_exp.c - clpt.open and the experiment object: a configuration plus a
 * prepared corpus, its domains, similarity, and the runs made from it. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "lua_impl.h"
#include "similarity.h"

lua_exp *clpt_lua_checkexp(lua_State *L, int idx)
{
    lua_exp *x = luaL_checkudata(L, idx, CLPT_LUA_EXPERIMENT);
    if (!x->man) luaL_error(L, "the experiment is closed");
    return x;
}

/* Load the config files of field `config` (a path or a list of paths). */
static int load_configs(lua_State *L, int t, clpt_config *cfg)
{
    int type = t ? lua_getfield(L, t, "config") : LUA_TNIL, rc = 0;
    if (type == LUA_TSTRING) {
        rc = clpt_config_load(cfg, lua_tostring(L, -1));
    } else if (type == LUA_TTABLE) {
        for (lua_Integer i = 1; !rc && lua_geti(L, -1, i) == LUA_TSTRING; i++) {
            rc = clpt_config_load(cfg, lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        lua_pop(L, rc ? 0 : 1);
    } else if (type != LUA_TNIL) {
        luaL_error(L, "field 'config' must be an ini path or a list of them");
    }
    lua_pop(L, 1);
    return rc;
}

/* clpt.open{config=, data=, dir=, set=} or clpt.open(config, data) */
static int l_open(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING) {   /* positional form -> table form */
        lua_createtable(L, 0, 2);
        lua_pushvalue(L, 1), lua_setfield(L, -2, "config");
        if (!lua_isnoneornil(L, 2)) lua_pushvalue(L, 2), lua_setfield(L, -2, "data");
        lua_replace(L, 1);
        lua_settop(L, 1);
    }
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_exp *x = lua_newuserdatauv(L, sizeof *x, 0);   /* before what it owns */
    memset(x, 0, sizeof *x);
    luaL_setmetatable(L, CLPT_LUA_EXPERIMENT);
    int rc = clpt_config_defaults(&x->cfg);
    if (!rc) rc = load_configs(L, 1, &x->cfg);
    if (rc) return clpt_lua_fail(L, rc, "clpt.open");
    if (lua_getfield(L, 1, "set") != LUA_TNIL) clpt_lua_config_set(L, -1, &x->cfg, "script");
    lua_pop(L, 1);
    const char *data = clpt_lua_optfield_str(L, 1, "data", x->cfg.data.train);
    const char *dir = clpt_lua_optfield_str(L, 1, "dir", x->cfg.train.out_dir);
    if (!*data) luaL_error(L, "clpt.open: no corpus: give data= or [data] train in the config");
    if (data != x->cfg.data.train && clpt_config_set(&x->cfg, "data.train", data, "script"))
        luaL_error(L, "%s", clpt_errmsg());
    x->data = strdup(data);
    x->dir = strdup(*dir ? dir : "runs");
    if (!x->data || !x->dir) return luaL_error(L, "out of memory");
    if ((rc = clpt_config_validate(&x->cfg))) return clpt_lua_fail(L, rc, "clpt.open");
    if ((rc = clpt_manifest_load(&x->man, data))) return clpt_lua_fail(L, rc, "clpt.open");
    return 1;
}

static int l_gc(lua_State *L)
{
    lua_exp *x = luaL_checkudata(L, 1, CLPT_LUA_EXPERIMENT);
    clpt_manifest_free(x->man);
    free(x->data);
    free(x->dir);
    x->man = NULL, x->data = x->dir = NULL;
    return 0;
}

static int l_tostring(lua_State *L)
{
    lua_exp *x = luaL_checkudata(L, 1, CLPT_LUA_EXPERIMENT);
    if (!x->man) lua_pushliteral(L, "clpt.experiment (closed)");
    else lua_pushfstring(L, "clpt.experiment (%s: %d domains)", x->data, clpt_manifest_ndomains(x->man));
    return 1;
}

static int l_len(lua_State *L)
{
    lua_pushinteger(L, clpt_manifest_ndomains(clpt_lua_checkexp(L, 1)->man));
    return 1;
}

/* exp:domains() -> list of domain tables, in manifest order */
static int l_domains(lua_State *L)
{
    const clpt_manifest *m = clpt_lua_checkexp(L, 1)->man;
    int n = clpt_manifest_ndomains(m);
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        clpt_lua_pushdomain(L, m, i);
        lua_seti(L, -2, i + 1);
    }
    return 1;
}

/* exp:domain(name | index) -> table, or nil when there is no such domain */
static int l_domain(lua_State *L)
{
    const clpt_manifest *m = clpt_lua_checkexp(L, 1)->man;
    int ok = 0, n = clpt_manifest_ndomains(m);
    lua_Integer i = lua_tointegerx(L, 2, &ok);
    int d = ok ? (i >= 1 && i <= n ? (int)i - 1 : -1) : clpt_manifest_find(m, luaL_checkstring(L, 2));
    if (d < 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "unknown domain '%s'", lua_tostring(L, 2));
        return 2;
    }
    clpt_lua_pushdomain(L, m, d);
    return 1;
}

/* exp:get("section.key") -> value as text */
static int l_get(lua_State *L)
{
    lua_exp *x = clpt_lua_checkexp(L, 1);
    char buf[CLPT_CONFIG_STR_MAX];
    if (clpt_config_get(&x->cfg, luaL_checkstring(L, 2), buf, sizeof buf)) luaL_error(L, "%s", clpt_errmsg());
    lua_pushstring(L, buf);
    return 1;
}

/* exp:set{["section.key"] = value, ...} or exp:set(key, value) */
static int l_set(lua_State *L)
{
    lua_exp *x = clpt_lua_checkexp(L, 1);
    if (lua_type(L, 2) == LUA_TSTRING) {
        lua_createtable(L, 0, 1);
        lua_pushvalue(L, 3);
        lua_setfield(L, -2, lua_tostring(L, 2));
        lua_replace(L, 2);
    }
    clpt_config c = x->cfg;   /* all or nothing */
    clpt_lua_config_set(L, 2, &c, "script");
    if (clpt_config_validate(&c)) luaL_error(L, "%s", clpt_errmsg());
    x->cfg = c;
    return 0;
}

/* exp:tokenizer() -> {path=, vocab_size=, eot=, sha256=} of the corpus */
static int l_tokenizer(lua_State *L)
{
    const clpt_manifest_tokenizer *t = clpt_manifest_tokenizer_info(clpt_lua_checkexp(L, 1)->man);
    lua_createtable(L, 0, 4);
    lua_pushstring(L, t->resolved), lua_setfield(L, -2, "path");
    lua_pushinteger(L, t->vocab_size), lua_setfield(L, -2, "vocab_size");
    lua_pushinteger(L, t->eot), lua_setfield(L, -2, "eot");
    lua_pushstring(L, t->sha256), lua_setfield(L, -2, "sha256");
    return 1;
}

static int l_paths(lua_State *L)
{
    lua_exp *x = clpt_lua_checkexp(L, 1);
    lua_pushstring(L, x->dir);
    lua_pushstring(L, x->data);
    return 2;
}

/* The domains named by list argument idx (default: all in manifest order)
 * as manifest indices; pushes nothing, caller frees. */
static int *domain_list(lua_State *L, int idx, const clpt_manifest *m, int *n)
{
    int all = lua_isnoneornil(L, idx);
    *n = all ? clpt_manifest_ndomains(m) : (int)luaL_len(L, idx);
    int *v = malloc((*n ? *n : 1) * sizeof *v);
    if (!v) luaL_error(L, "out of memory");
    for (int i = 0; i < *n; i++) {
        if (all) { v[i] = i; continue; }
        lua_geti(L, idx, i + 1);
        v[i] = clpt_lua_checkdomain(L, -1, m, "similarity");
        lua_pop(L, 1);
    }
    return v;
}

/* exp:similarity{domains=, split="train", max_tokens=1e6, measure="overlap"}
 * -> n x n matrix (list of lists) in the order of `domains`, and the names */
static int l_similarity(lua_State *L)
{
    lua_exp *x = clpt_lua_checkexp(L, 1);
    int t = lua_istable(L, 2) ? 2 : 0, n, split, measure;
    split = clpt_split_parse(clpt_lua_optfield_str(L, t, "split", "train"));
    measure = clpt_sim_parse(clpt_lua_optfield_str(L, t, "measure", "overlap"));
    lua_Integer cap = clpt_lua_optfield_int(L, t, "max_tokens", 1000000);
    if (split < 0 || measure < 0 || cap < 0)
        luaL_error(L, "similarity: split is train|valid|test, measure overlap|cosine, max_tokens >= 0");
    if (t) lua_getfield(L, t, "domains");
    else lua_pushnil(L);
    int *idx = domain_list(L, lua_gettop(L), x->man, &n);
    double *sim = malloc((size_t)n * n * sizeof *sim);
    int rc = sim ? clpt_similarity_matrix(x->man, idx, n, split, (uint64_t)cap, measure, sim)
                 : clpt_err(CLPT_ENOMEM, "out of memory");
    if (rc) return free(idx), free(sim), clpt_lua_fail(L, rc, "similarity");
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        lua_createtable(L, n, 0);
        for (int j = 0; j < n; j++) lua_pushnumber(L, sim[(size_t)i * n + j]), lua_seti(L, -2, j + 1);
        lua_seti(L, -2, i + 1);
    }
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++)
        lua_pushstring(L, clpt_manifest_domain(x->man, idx[i])->name), lua_seti(L, -2, i + 1);
    free(idx), free(sim);
    return 2;
}

/* exp:chain(matrix, names, start) -> names in greedy most-similar order */
static int l_chain(lua_State *L)
{
    clpt_lua_checkexp(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    luaL_checktype(L, 3, LUA_TTABLE);
    int n = (int)luaL_len(L, 3), start = (int)luaL_optinteger(L, 4, 1) - 1;
    double *sim = malloc((size_t)(n ? n : 1) * n * sizeof *sim);
    int *order = malloc((n ? n : 1) * sizeof *order);
    if (!sim || !order) return free(sim), free(order), luaL_error(L, "out of memory");
    for (int i = 0; i < n; i++) {
        lua_geti(L, 2, i + 1);
        for (int j = 0; j < n; j++) {
            lua_geti(L, -1, j + 1);
            sim[(size_t)i * n + j] = lua_tonumber(L, -1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    int rc = clpt_similarity_chain(sim, n, start, order);
    free(sim);
    if (rc) return free(order), clpt_lua_fail(L, rc, "chain");
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) lua_geti(L, 3, order[i] + 1), lua_seti(L, -2, i + 1);
    free(order);
    return 1;
}

int clpt_lua_open_experiment(lua_State *L)
{
    static const luaL_Reg methods[] = {
        {"domains", l_domains}, {"domain", l_domain}, {"get", l_get}, {"set", l_set},
        {"paths", l_paths}, {"tokenizer", l_tokenizer}, {"similarity", l_similarity}, {"chain", l_chain},
        {"run", clpt_lua_exp_run}, {"close", l_gc}, {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__gc", l_gc}, {"__close", l_gc}, {"__tostring", l_tostring}, {"__len", l_len}, {NULL, NULL}};
    luaL_newmetatable(L, CLPT_LUA_EXPERIMENT);
    luaL_setfuncs(L, meta, 0);
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    lua_pushcfunction(L, l_open);
    lua_setfield(L, -2, "open");
    return 0;
}
