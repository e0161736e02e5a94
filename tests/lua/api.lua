-- api.lua - the clpt Lua module on the tiny synthetic corpus (tests/lua/corpus.sh):
-- experiment, domains, schedules, runs, hooks, evaluation, checkpoints,
-- metrics and reports. Run by tests/test_lua_api.sh:
--   clpt run api.lua CORPUS CONFIG WORKDIR
local clpt = require "clpt"
local schedule = require "clpt.schedule"

local corpus, config, work = ...
assert(corpus and config and work, "usage: api.lua CORPUS CONFIG WORKDIR")
assert(arg[0]:match("api%.lua$") and arg[1] == corpus and arg[3] == work, "arg table as lua.c")
assert(type(clpt.version) == "string")

-- expect(fn, pattern): fn raises an error matching pattern (plain find)
local function expect(pattern, fn, ...)
  local ok, err = pcall(fn, ...)
  assert(not ok, "expected an error matching " .. pattern)
  assert(tostring(err):find(pattern, 1, true), ("error %q lacks %q"):format(tostring(err), pattern))
end

-- ---- opening ------------------------------------------------------------------------
local nope, msg = clpt.open{config = config, data = work .. "/no-corpus"}
assert(nope == nil and msg:find("no%-corpus"), "a missing corpus is nil, message: " .. tostring(msg))
expect("unknown key 'nlayer' in [model]", clpt.open, {config = config, data = corpus, set = {["model.nlayer"] = 2}})
expect("field 'data' must be a string", clpt.open, {config = config, data = 3})

local exp <close> = assert(clpt.open{config = config, data = corpus, dir = work .. "/exp"})
assert(tostring(exp):find("4 domains"))
assert(#exp == 4)
local ds = exp:domains()
assert(#ds == 4 and ds[1].name == "Animals__Cats" and ds[1].l1 == "Animals" and ds[1].l2 == "Cats")
assert(ds[3].order == 2 and ds[3].index == 3 and ds[3].tokens.train > 1000 and ds[3].tokens.test > 0)
assert(exp:domain("Tools__Saws").index == 4 and exp:domain(2).name == "Animals__Dogs")
local none, why = exp:domain("Nope")
assert(none == nil and why:find("Nope"))
assert(exp:get("train.steps") == "4")
exp:set("train.steps", 3)
assert(exp:get("train.steps") == "3")
expect("unknown key 'stepz'", exp.set, exp, "train.stepz", 1)
local dir, data = exp:paths()
assert(dir == work .. "/exp" and data == corpus)

-- ---- schedules ----------------------------------------------------------------------
local sim = schedule.similar(exp)
assert(table.concat(sim, ",") == "Animals__Cats,Animals__Dogs,Tools__Hammers,Tools__Saws")
local r1, r2 = schedule.random(exp, 1), schedule.random(exp, 1)
assert(table.concat(r1, ",") == table.concat(r2, ","), "a seed gives one order")
assert(table.concat(schedule.random(exp, 2), ",") ~= table.concat(r1, ",") or true)
assert(#r1 == 4)
assert(table.concat(schedule.reversed(sim), ",") == "Tools__Saws,Tools__Hammers,Animals__Dogs,Animals__Cats")
local g = schedule.by_l1(exp, {seed = 5, within = "random"})
assert(#g == 4 and (g[1]:match("^Animals") == g[2]:match("^Animals")), "fields stay together")
assert(#schedule.custom(exp, {"Tools__Saws", "Animals__Cats"}) == 2)
expect("unknown domain 'Nope'", schedule.custom, exp, {"Tools__Saws", "Nope"})
expect("domain 'Tools__Saws' appears twice", schedule.custom, exp, {"Tools__Saws", "Animals__Cats", "Tools__Saws"})
expect("random needs an integer seed", schedule.random, exp, "x")
assert(table.concat(schedule.take(sim, 2), ",") == "Animals__Cats,Animals__Dogs")
assert(table.concat(schedule.only(sim, {"Tools__Saws", "Animals__Cats"}), ",") == "Animals__Cats,Tools__Saws")
-- similarity: symmetric, 1 on the diagonal, the same field more alike
local m, names = exp:similarity{measure = "overlap"}
assert(#m == 4 and names[4] == "Tools__Saws" and m[1][1] == 1 and m[1][2] == m[2][1])
assert(m[1][2] > m[1][3] and m[3][4] > m[2][3], "same-field domains are closer")
local chain = schedule.chain(exp, {start = "Tools__Saws"})
assert(chain[1] == "Tools__Saws" and chain[2] == "Tools__Hammers", table.concat(chain, ","))
local p = clpt.permutation(10, 3)
table.sort(p)
assert(#p == 10 and p[1] == 1 and p[10] == 10)

-- ---- a run with hooks ----------------------------------------------------------------
expect("needs name=", exp.run, exp, {strategy = "sequential"})
expect("unknown domain 'Nope'", exp.run, exp, {name = "x", schedule = {"Nope"}})
expect("option 'ratio'", exp.run, exp, {name = "x", strategy = "replay", options = {ratio = "lots"}})
expect("strategy 'ewc'", exp.run, exp, {name = "x", strategy = "ewc", options = {lambada = 1}})
expect("eval", exp.run, exp, {name = "x", eval = "sometimes"})

local seen = {begin = 0, finish = 0, step = 0, eval = 0}
do
  local run <close> = assert(exp:run{name = "seq", strategy = "sequential", schedule = sim, steps = 4, keep = true})
  assert(tostring(run):find("seq, sequential: 0/4"))
  run:on("domain_begin", function(ev) seen.begin = seen.begin + 1; assert(ev.event == "domain_begin") end)
  run:on("domain_end", function(ev)
    seen.finish = seen.finish + 1
    assert(ev.domain == sim[ev.index] and ev.step == 4 and ev.seconds >= 0)
  end)
  run:on("step", function(ev) seen.step = seen.step + 1; assert(ev.loss > 0 and ev.lr > 0) end, 2)
  run:on("eval", function(ev)
    assert(ev.ppl > 1 and ev.split == "test" and ev.domain)
    if ev.model:find("^after:") then seen.eval = seen.eval + 1 end
  end)
  -- train domain by domain: the same as run_all
  assert(run:train(1) == true)
  assert(run:eval_after(1) == true)
  expect("", run.train, run, 3)   -- out of order: misuse
  local ok = run:run_all()
  assert(ok == true)
  local info = run:info()
  assert(info.done == 4 and info.finished and info.n == 4 and info.schedule[2] == "Animals__Dogs")
  assert(info.global_step == 16, "4 domains x 4 steps")
  -- evaluation: one cell, a list, the journal lookup
  local c = run:eval("base", "Tools__Saws")
  assert(c.ppl > 1 and c.tokens > 0 and c.domain == "Tools__Saws" and c.model == "base" and c.rank_mean >= 1)
  local cs = run:eval("after:4", {"Animals__Cats", 2})
  assert(#cs == 2 and cs[2].domain == "Animals__Dogs")
  assert(run:cell("after:4", "Animals__Cats").ppl == cs[1].ppl, "the cell comes from the journal")
  assert(run:cell("after:1", "Tools__Saws", "valid") == nil)
  -- checkpoints: save, perturb with another's weights, load back
  assert(run:save(work .. "/ck-final"))
  local before = run:eval("probe", "Tools__Saws").ppl
  local ok2, err = run:load(work .. "/missing-ckpt")
  assert(ok2 == nil and err:find("missing%-ckpt"))
  assert(run:load(work .. "/ck-final"))
  assert(math.abs(run:eval("probe2", "Tools__Saws").ppl - before) < 1e-9)
end
assert(seen.begin == 4 and seen.finish == 4 and seen.step == 8, ("%d %d %d"):format(seen.begin, seen.finish, seen.step))
assert(seen.eval == 16, "4 checkpoints x 4 domains: " .. seen.eval)

-- a hook asks to stop; reopening resumes
do
  local run <close> = assert(exp:run{name = "stop", strategy = "sequential", schedule = {"Tools__Saws", "Animals__Cats"}})
  run:on("domain_end", function() return "stop" end)
  local ok, why = run:run_all()
  assert(ok == false and why == "stopped")
  assert(run:info().done == 1)
end
do
  local run <close> = assert(exp:run{name = "stop", strategy = "sequential", schedule = {"Tools__Saws", "Animals__Cats"}})
  assert(run:info().done == 1)
  assert(run:run_all() == true and run:info().finished)
end

-- ---- metrics and reports -------------------------------------------------------------
local mt = clpt.metrics(exp:paths())
assert(mt.seq and mt.stop and mt.seq.strategy == "sequential" and mt.seq.n == 4)
assert(mt.seq.FG and mt.seq.CPT and mt.seq.LC and mt.seq.DAPT == nil, "DAPT missing: never 0")
assert(mt.seq.ZS and mt.seq.partial.ZS and not mt.seq.partial.FG, "ZS from the one base cell: partial")
assert(mt.seq.cpt.Tools__Saws == mt.seq.lc.Tools__Saws)
assert(mt.seq.bt[1] == nil and mt.seq.bt_lag[0] and mt.seq.mean_ppl[4], "BT_1 has no term")
local html = assert(clpt.report(exp:paths(), {title = "api test"}))
assert(html == dir .. "/report.html" and io.open(dir .. "/report.csv") and io.open(dir .. "/report.md"))
local text = clpt.summary({dir .. "/seq"})
assert(text:find("FG") and text:find("seq"))
local r, e = clpt.report(work .. "/nothing-here")
assert(r == nil and e:find("nothing%-here"))
print("api ok")
