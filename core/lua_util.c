/* lua_util.c - argument helpers shared by the bindings (lua_impl.h). */
#include <stdio.h>
#include <string.h>

#include "clpt.h"
#include "lua_impl.h"

int clpt_lua_fail(lua_State *L, int rc, const char *what)
{
    const char *msg = clpt_errmsg();
    if (rc == CLPT_EINVAL || rc == CLPT_ECONFIG || rc == CLPT_ESTATE)
        return luaL_error(L, "%s%s%s", what ? what : "", what ? ": " : "", msg);
    lua_pushnil(L);
    lua_pushfstring(L, "%s%s%s", what ? what : "", what ? ": " : "", msg);
    return 2;
}

/* Push field k of table t; nil stays on the stack as nil. */
static int field(lua_State *L, int t, const char *k)
{
    return t ? lua_getfield(L, t, k) : (lua_pushnil(L), LUA_TNIL);
}

const char *clpt_lua_optfield_str(lua_State *L, int t, const char *k, const char *def)
{
    int type = field(L, t, k);
    const char *s = def;
    if (type == LUA_TSTRING) s = lua_tostring(L, -1);
    else if (type != LUA_TNIL) luaL_error(L, "field '%s' must be a string (got %s)", k, lua_typename(L, type));
    lua_pop(L, 1);   /* the string stays alive in the table */
    return s;
}

lua_Integer clpt_lua_optfield_int(lua_State *L, int t, const char *k, lua_Integer def)
{
    int type = field(L, t, k), ok = 0;
    lua_Integer v = def;
    if (type != LUA_TNIL) {
        v = lua_tointegerx(L, -1, &ok);
        if (!ok) luaL_error(L, "field '%s' must be an integer", k);
    }
    lua_pop(L, 1);
    return v;
}

lua_Number clpt_lua_optfield_num(lua_State *L, int t, const char *k, lua_Number def)
{
    int type = field(L, t, k);
    lua_Number v = def;
    if (type == LUA_TNUMBER) v = lua_tonumber(L, -1);
    else if (type != LUA_TNIL) luaL_error(L, "field '%s' must be a number", k);
    lua_pop(L, 1);
    return v;
}

int clpt_lua_optfield_bool(lua_State *L, int t, const char *k, int def)
{
    int type = field(L, t, k), v = def;
    if (type == LUA_TBOOLEAN) v = lua_toboolean(L, -1);
    else if (type != LUA_TNIL) luaL_error(L, "field '%s' must be a boolean", k);
    lua_pop(L, 1);
    return v;
}

int clpt_lua_checkdomain(lua_State *L, int idx, const clpt_manifest *m, const char *what)
{
    int n = clpt_manifest_ndomains(m), ok = 0;
    lua_Integer i = lua_tointegerx(L, idx, &ok);
    if (ok) {
        if (i < 1 || i > n) luaL_error(L, "%s: no domain %d (the corpus has %d)", what, (int)i, n);
        return (int)i - 1;
    }
    const char *name = lua_tostring(L, idx);
    if (!name || lua_type(L, idx) != LUA_TSTRING)
        luaL_error(L, "%s: a domain is a name or an index, not a %s", what, luaL_typename(L, idx));
    int d = clpt_manifest_find(m, name);
    if (d < 0) luaL_error(L, "%s: unknown domain '%s'", what, name);
    return d;
}

void clpt_lua_pushdomain(lua_State *L, const clpt_manifest *m, int i)
{
    const clpt_domain *d = clpt_manifest_domain(m, i);
    lua_createtable(L, 0, 6);
    lua_pushstring(L, d->name), lua_setfield(L, -2, "name");
    lua_pushstring(L, d->l1), lua_setfield(L, -2, "l1");
    lua_pushstring(L, d->l2), lua_setfield(L, -2, "l2");
    lua_pushinteger(L, d->order), lua_setfield(L, -2, "order");
    lua_pushinteger(L, i + 1), lua_setfield(L, -2, "index");
    lua_createtable(L, 0, CLPT_NSPLITS);
    for (int s = 0; s < CLPT_NSPLITS; s++) {
        lua_pushinteger(L, (lua_Integer)d->splits[s].tokens);
        lua_setfield(L, -2, clpt_split_name(s));
    }
    lua_setfield(L, -2, "tokens");
}

void clpt_lua_note_run_dir(lua_State *L, const char *dir)
{
    if (lua_getfield(L, LUA_REGISTRYINDEX, CLPT_LUA_RUN_DIRS) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, LUA_REGISTRYINDEX, CLPT_LUA_RUN_DIRS);
    }
    lua_Integer n = luaL_len(L, -1);
    for (lua_Integer i = 1; i <= n; i++) {
        lua_geti(L, -1, i);
        int same = !strcmp(lua_tostring(L, -1), dir);
        lua_pop(L, 1);
        if (same) return (void)lua_pop(L, 1);
    }
    lua_pushstring(L, dir);
    lua_seti(L, -2, n + 1);
    lua_pop(L, 1);
}

/* Values may be strings, numbers or booleans: config files are text. */
const char *clpt_lua_totext(lua_State *L, int idx, char *buf, size_t n, const char *key)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING: return lua_tostring(L, idx);
    case LUA_TBOOLEAN: return lua_toboolean(L, idx) ? "true" : "false";
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx) || (lua_Number)(long long)lua_tonumber(L, idx) == lua_tonumber(L, idx))
            snprintf(buf, n, "%lld", (long long)lua_tonumber(L, idx));
        else snprintf(buf, n, "%.17g", lua_tonumber(L, idx));
        return buf;
    default:
        luaL_error(L, "config key '%s': a value must be a string, number or boolean", key);
        return NULL;
    }
}

void clpt_lua_config_set(lua_State *L, int t, clpt_config *cfg, const char *origin)
{
    t = lua_absindex(L, t);
    luaL_checktype(L, t, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, t)) {
        if (lua_type(L, -2) != LUA_TSTRING) luaL_error(L, "config overrides are keyed by \"section.key\"");
        const char *k = lua_tostring(L, -2);
        char buf[64];
        if (clpt_config_set(cfg, k, clpt_lua_totext(L, -1, buf, sizeof buf, k), origin))
            luaL_error(L, "%s", clpt_errmsg());
        lua_pop(L, 1);
    }
}
