/* lua_impl.h - shared by the lua_*.c bindings: the userdata types, their
 * metatable names and the argument helpers. Not a public header. */
#ifndef CLPT_LUA_IMPL_H
#define CLPT_LUA_IMPL_H

#include <lauxlib.h>
#include <lua.h>

#include "clrun.h"
#include "config.h"
#include "manifest.h"

#define CLPT_LUA_EXPERIMENT "clpt.experiment"
#define CLPT_LUA_RUN "clpt.run"
#define CLPT_LUA_RUN_DIRS "clpt.run_dirs"   /* registry: run dirs opened, in order */

/* An experiment: a configuration and a prepared corpus. */
typedef struct lua_exp {
    clpt_manifest *man;     /* NULL once closed */
    char *data;             /* corpus directory (owned) */
    char *dir;              /* where runs go by default (owned) */
    clpt_config cfg;        /* resolved configuration (a plain value) */
} lua_exp;

/* A run: the engine plus the Lua hooks bound to it. */
typedef struct lua_run {
    clpt_clrun *run;        /* NULL once closed */
    lua_State *L;           /* the thread inside the current training call */
    int hook[CLPT_CLRUN_NEVENTS];  /* registry refs of hook functions */
    int error;              /* registry ref of an error raised in a hook */
} lua_run;

/* Module parts (each registers its methods and metatable). */
int clpt_lua_open_experiment(lua_State *L);   /* pushes nothing; sets up metatables */
int clpt_lua_open_run(lua_State *L);
int clpt_lua_report_fns(lua_State *L);        /* adds report/summary/metrics to the table on top */

/* exp:run{...}: builds and pushes a run (defined in lua_run.c). */
int clpt_lua_exp_run(lua_State *L);
lua_exp *clpt_lua_checkexp(lua_State *L, int idx);

/* After a failed core call: raise for misuse (CLPT_EINVAL, CLPT_ECONFIG,
 * CLPT_ESTATE), else push nil and the message and return 2. `what`
 * prefixes the message (may be NULL). */
int clpt_lua_fail(lua_State *L, int rc, const char *what);

/* Optional table fields, type-checked with the field named in the error. */
const char *clpt_lua_optfield_str(lua_State *L, int t, const char *k, const char *def);
lua_Integer clpt_lua_optfield_int(lua_State *L, int t, const char *k, lua_Integer def);
lua_Number clpt_lua_optfield_num(lua_State *L, int t, const char *k, lua_Number def);
int clpt_lua_optfield_bool(lua_State *L, int t, const char *k, int def);

/* A domain argument (name or 1-based manifest index) -> 0-based index;
 * raises naming the domain when it is not in the manifest. */
int clpt_lua_checkdomain(lua_State *L, int idx, const clpt_manifest *m, const char *what);

/* Push a domain's description table {name, l1, l2, order, index, tokens}. */
void clpt_lua_pushdomain(lua_State *L, const clpt_manifest *m, int i);

/* Remember a run directory for the end-of-run summary. */
void clpt_lua_note_run_dir(lua_State *L, const char *dir);

/* A config value (string, number - integral ones without a fraction - or
 * boolean) as text; raises naming `key` for other types. */
const char *clpt_lua_totext(lua_State *L, int idx, char *buf, size_t n, const char *key);

/* Apply a table of config overrides {["section.key"] = value} to cfg;
 * raises naming the key on a bad one. */
void clpt_lua_config_set(lua_State *L, int t, clpt_config *cfg, const char *origin);

#endif
