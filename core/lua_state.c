/* lua_state.c - the interpreter behind `clpt run`: a state with clpt's
 * library path, scripts run with `arg` and a traceback on error. */
#define _POSIX_C_SOURCE 200809L
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lua_clpt.h"
#include "lua_impl.h"

/* Where lua/clpt/NAME.lua live. A build may define CLPT_LUA_DIR; otherwise
 * the source tree's lua/ next to core/, known from this file's own path
 * (CMake compiles with absolute paths). */
static void source_lua_dir(char *buf, size_t n)
{
#ifdef CLPT_LUA_DIR
    snprintf(buf, n, "%s", CLPT_LUA_DIR);
#else
    const char *f = __FILE__, *end = strstr(f, "/core/lua_state.c");
    if (f[0] == '/' && end) snprintf(buf, n, "%.*s/lua", (int)(end - f), f);
    else buf[0] = '\0';
#endif
}

#ifndef CLPT_LUA_INSTALL_DIR
#define CLPT_LUA_INSTALL_DIR "/usr/local/share/clpt/lua"
#endif

static void add_dir(luaL_Buffer *b, const char *dir)
{
    if (!dir || !*dir) return;
    luaL_addstring(b, dir), luaL_addstring(b, "/?.lua;");
    luaL_addstring(b, dir), luaL_addstring(b, "/?/init.lua;");
}

/* package.path = $CLPT_LUA_PATH; source lua/; installed lua/; default; script dir */
static void set_path(lua_State *L, const char *script_dir)
{
    char src[4096];
    const char *env = getenv("CLPT_LUA_PATH");
    source_lua_dir(src, sizeof src);
    luaL_Buffer b;
    lua_getglobal(L, "package");
    luaL_buffinit(L, &b);
    if (env && *env) luaL_addstring(&b, env), luaL_addchar(&b, ';');
    add_dir(&b, src);
    add_dir(&b, CLPT_LUA_INSTALL_DIR);
    lua_getfield(L, -2, "path");
    luaL_addvalue(&b);
    if (script_dir) luaL_addchar(&b, ';');
    add_dir(&b, script_dir);
    luaL_pushresult(&b);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
}

static int init(lua_State *L)
{
    const char *script_dir = lua_touserdata(L, 1);
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_clpt);
    lua_setfield(L, -2, "clpt");
    lua_pop(L, 1);
    set_path(L, script_dir);
    return 0;
}

lua_State *clpt_lua_newstate(const char *script_dir)
{
    lua_State *L = luaL_newstate();
    if (!L) return NULL;
    lua_pushcfunction(L, init);
    lua_pushlightuserdata(L, (void *)script_dir);
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
        lua_close(L);
        return NULL;
    }
    return L;
}

/* Message handler: the message with a traceback, unless a hook's error
 * already carries one (lua_run.c). */
static int msgh(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    if (strstr(msg, "\nstack traceback:")) return 1;
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int clpt_lua_dofile(lua_State *L, const char *script, int argc, char **argv)
{
    lua_createtable(L, argc, 1);
    lua_pushstring(L, script);
    lua_seti(L, -2, 0);
    for (int i = 0; i < argc; i++) lua_pushstring(L, argv[i]), lua_seti(L, -2, i + 1);
    lua_setglobal(L, "arg");
    lua_pushcfunction(L, msgh);
    int base = lua_gettop(L);
    int rc = luaL_loadfile(L, script);
    if (rc == LUA_OK) {
        luaL_checkstack(L, argc, "too many arguments");
        for (int i = 0; i < argc; i++) lua_pushstring(L, argv[i]);
        rc = lua_pcall(L, argc, 0, base);
    }
    if (rc != LUA_OK) {
        fprintf(stderr, "clpt run: %s\n", lua_tostring(L, -1));
        lua_settop(L, base - 1);
        return 1;
    }
    lua_settop(L, base - 1);
    return 0;
}

int clpt_lua_run_dirs(lua_State *L, const char ***dirs, int *n)
{
    *dirs = NULL;
    *n = 0;
    if (lua_getfield(L, LUA_REGISTRYINDEX, CLPT_LUA_RUN_DIRS) != LUA_TTABLE) return lua_pop(L, 1), 0;
    int k = (int)luaL_len(L, -1);
    /* the strings stay referenced by the registry table */
    const char **v = k ? malloc(k * sizeof *v) : NULL;
    for (int i = 0; v && i < k; i++) {
        lua_geti(L, -1, i + 1);
        v[i] = lua_tostring(L, -1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    if (k && !v) return -1;
    *dirs = v;
    *n = k;
    return 0;
}
