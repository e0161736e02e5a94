/* lua_module.c - the `clpt` module table: version, open (lua_exp.c), train,
 * permutation, and the report functions (lua_report.c). */
#include <stdlib.h>
#include <string.h>

#include "clpt.h"
#include "config.h"
#include "lua_clpt.h"
#include "lua_impl.h"
#include "rng.h"
#include "train.h"

/* clpt.permutation(n, seed) -> a seeded shuffle of 1..n (Fisher-Yates on
 * clpt's RNG: the same on every machine and Lua version). */
static int l_permutation(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    lua_Integer seed = luaL_checkinteger(L, 2);
    luaL_argcheck(L, n >= 0 && n <= (1 << 24), 1, "0 <= n <= 2^24");
    lua_Integer *v = lua_newuserdatauv(L, (n ? n : 1) * sizeof *v, 0);
    clpt_rng rng;
    clpt_rng_seed(&rng, (uint64_t)seed);
    for (lua_Integer i = 0; i < n; i++) v[i] = i + 1;
    for (lua_Integer i = n - 1; i > 0; i--) {
        lua_Integer j = (lua_Integer)clpt_rng_below(&rng, (uint64_t)i + 1), t = v[i];
        v[i] = v[j], v[j] = t;
    }
    lua_createtable(L, (int)n, 0);
    for (lua_Integer i = 0; i < n; i++) lua_pushinteger(L, v[i]), lua_seti(L, -2, i + 1);
    return 1;
}

/* clpt.train{config=, set=, data=, out=, resume=true} -> checkpoint dir |
 * nil, message: `clpt train` (e.g. a base model) from a script. */
static int l_train(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    clpt_config *cfg = lua_newuserdatauv(L, sizeof *cfg, 0);
    int rc = clpt_config_defaults(cfg);
    const char *conf = clpt_lua_optfield_str(L, 1, "config", NULL);
    if (!rc && conf) rc = clpt_config_load(cfg, conf);
    if (rc) return clpt_lua_fail(L, rc, "clpt.train");
    if (lua_getfield(L, 1, "set") != LUA_TNIL) clpt_lua_config_set(L, -1, cfg, "script");
    lua_pop(L, 1);
    const char *data = clpt_lua_optfield_str(L, 1, "data", NULL);
    const char *out = clpt_lua_optfield_str(L, 1, "out", NULL);
    if (data && clpt_config_set(cfg, "data.train", data, "script")) luaL_error(L, "%s", clpt_errmsg());
    if (out && clpt_config_set(cfg, "train.out_dir", out, "script")) luaL_error(L, "%s", clpt_errmsg());
    if ((rc = clpt_config_validate(cfg))) return clpt_lua_fail(L, rc, "clpt.train");
    rc = clpt_train_run(cfg, clpt_lua_optfield_bool(L, 1, "resume", 1), 0);
    if (rc < 0) return clpt_lua_fail(L, rc, "clpt.train");
    if (rc == 1) return lua_pushnil(L), lua_pushliteral(L, "clpt.train: stopped by a signal"), 2;
    lua_pushfstring(L, "%s/checkpoint", cfg->train.out_dir);
    return 1;
}

int luaopen_clpt(lua_State *L)
{
    static const luaL_Reg fns[] = {{"permutation", l_permutation}, {"train", l_train}, {NULL, NULL}};
    luaL_newlib(L, fns);
    lua_pushliteral(L, CLPT_VERSION);
    lua_setfield(L, -2, "version");
    clpt_lua_open_experiment(L);   /* clpt.open */
    clpt_lua_open_run(L);
    clpt_lua_report_fns(L);        /* clpt.report, clpt.summary, clpt.metrics */
    return 1;
}
