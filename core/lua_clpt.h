/* lua_clpt.h - the embedded Lua 5.4 interpreter and the `clpt` module.
 *
 * `clpt run SCRIPT.lua [ARGS]` runs a script in a state made here: the
 * standard libraries, `clpt` preloaded (`local clpt = require "clpt"`), and
 * package.path extended so that `require "clpt.schedule"` and
 * `require "clpt.protocol"` find clpt's Lua library (lua/clpt/NAME.lua):
 * $CLPT_LUA_PATH (a Lua path template list) first, then the source tree's
 * lua/ directory, then <prefix>/share/clpt/lua, then the script's own
 * directory. docs/lua.md lists the module's functions.
 *
 * Error conventions of the module, as io.open's: misuse (a wrong argument,
 * an unknown domain or config key, a bad strategy option, calling a method
 * in the wrong state) raises a Lua error located at the script's file:line;
 * expected failures (a missing file or corpus, an unreadable journal,
 * an I/O error while training) return nil and a message. */
#ifndef CLPT_LUA_CLPT_H
#define CLPT_LUA_CLPT_H

#include <lua.h>

/* Open the `clpt` module: pushes its table (for luaL_requiref/preload). */
int luaopen_clpt(lua_State *L);

/* A fresh state: standard libraries, `clpt` in package.preload, the library
 * path set up. script_dir (may be NULL) is appended to package.path. NULL
 * when out of memory. Close with lua_close(). */
lua_State *clpt_lua_newstate(const char *script_dir);

/* Run `script` with arguments argv[0..argc) (as lua.c: global `arg` with
 * arg[0] = script and arg[1..argc] = the arguments; the chunk also gets
 * them as `...`). On an error, prints "clpt run: " + the message (with the
 * script's file:line) and a traceback to stderr. Returns 0, or 1 after an
 * error. */
int clpt_lua_dofile(lua_State *L, const char *script, int argc, char **argv);

/* Directories of the runs the script opened, in first-opened order, for
 * the summary at the end of `clpt run`. The caller frees the array *dirs
 * with free(); its strings belong to the state (valid until lua_close()).
 * 0, or -1 when out of memory. */
int clpt_lua_run_dirs(lua_State *L, const char ***dirs, int *n);

#endif
