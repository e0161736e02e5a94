--- clpt.protocol: the study's protocol (Yildiz et al., TMLR 2025) as one call.
--
--   local protocol = require "clpt.protocol"
--   local results = protocol.run(exp, {
--     dir = "runs/study",                       -- experiment directory
--     orders = {{"similar", schedule.similar(exp)},
--               {"random", schedule.random(exp, 1)}},
--     strategies = {"sequential",
--                   {"replay", {ratio = 0.25}},
--                   {name = "ewc", options = {lambda = 100}}},
--   })
--
-- For each order and strategy it makes the run <dir>/<order>-<strategy>; the
-- baselines are shared by all of them:
--   <dir>/zs    the base model M0 evaluated on every domain       (ZS_j)
--   <dir>/dapt  `finetune`: M0 trained on each domain alone and
--               evaluated on that domain, cells "dapt:<domain>"   (DAPT_j)
-- and each continual run evaluates every checkpoint M_n on the domains that
-- `eval` says ("all" by default), so the checkpoint x domain matrix behind
-- BT and FT exists. Everything is journaled; calling it again on the same
-- directory skips finished domains and cells (an interrupted run resumes
-- from its last checkpoint). At the end it writes <dir>/report.html (+ .csv,
-- .md) and returns clpt.metrics(dir).
--
-- Options (all optional but orders/strategies):
--   dir         experiment directory (default: the experiment's, see clpt.open)
--   orders      list of {name, schedule} pairs, or a map name -> schedule
--               (taken in name order); default {{"similar", similar order}}
--   strategies  list of strategy names or {name, options} / {name=, options=,
--               label=} tables; default {"sequential"}
--   eval        "all" | "seen" (checkpoint n on domains 1..n) | {next = k}
--               (seen plus the next k) | a list of domain names
--   zs, dapt    false to skip a baseline (default true)
--   train       per-run recipe: {steps=, tokens=, epochs=, set = {...}}
--   dapt_train  the recipe of the DAPT runs (default: train)
--   hooks       {domain_begin=fn, domain_end=fn, eval=fn, step=fn, every=k}
--   report      false, or the HTML path (default <dir>/report.html)
--   title       report title
--   quiet       no progress lines from the protocol itself
local clpt = require "clpt"
local schedule = require "clpt.schedule"

local M = {}

local function say(opts, fmt, ...)
  if not opts.quiet then io.stderr:write(("protocol: " .. fmt .. "\n"):format(...)) end
end

-- Raise an error at the script that called protocol.run.
local function fail(msg) error("protocol: " .. msg, 3) end

--- {name, schedule} pairs from a list or a map.
local function order_list(exp, orders)
  if orders == nil then return {{"similar", schedule.similar(exp)}} end
  if type(orders) ~= "table" then fail("orders must be a list of {name, schedule} or a map") end
  local out = {}
  if orders[1] then
    for i, o in ipairs(orders) do
      if type(o) ~= "table" or type(o[1]) ~= "string" or type(o[2]) ~= "table" then
        fail(("orders[%d] must be {name, schedule}"):format(i))
      end
      out[i] = {o[1], o[2]}
    end
  else
    local names = {}
    for k in pairs(orders) do names[#names + 1] = k end
    table.sort(names)
    for i, k in ipairs(names) do out[i] = {k, orders[k]} end
  end
  for _, o in ipairs(out) do
    local ok, err = pcall(schedule.check, exp, o[2], 1)
    if not ok then fail(("order '%s': %s"):format(o[1], err)) end
  end
  return out
end

--- {name=, options=, label=} from the accepted strategy forms.
local function strategy_list(strategies)
  local out = {}
  for i, s in ipairs(strategies or {"sequential"}) do
    if type(s) == "string" then s = {name = s} end
    if type(s) ~= "table" then fail(("strategies[%d] must be a name or a table"):format(i)) end
    local name, options = s.name or s[1], s.options or s[2] or {}
    if type(name) ~= "string" then fail(("strategies[%d] has no name"):format(i)) end
    out[i] = {name = name, options = options, label = s.label or name}
  end
  return out
end

--- The union of the orders' domains in the similar order: the baselines'
--- schedule, so ZS and DAPT cover every domain any run trains on.
local function union(exp, orders)
  local want = {}
  for _, o in ipairs(orders) do for _, n in ipairs(o[2]) do want[n] = true end end
  local out = {}
  for _, n in ipairs(schedule.similar(exp)) do if want[n] then out[#out + 1] = n end end
  return out
end

--- eval option -> the exp:run fields
local function eval_fields(e)
  if e == nil or e == "all" then return "all", 0 end
  if e == "seen" then return "seen", 0 end
  if type(e) == "table" and e.next then return "seen", e.next end
  if type(e) == "table" then return e, 0 end
  fail("eval must be \"all\", \"seen\", {next = k} or a list of domains")
end

local function add_hooks(run, hooks)
  if not hooks then return end
  for _, ev in ipairs{"domain_begin", "domain_end", "eval"} do
    if hooks[ev] then run:on(ev, hooks[ev]) end
  end
  if hooks.step then run:on("step", hooks.step, hooks.every or 10) end
end

--- Open (or resume) one run and drive it to the end. Returns true, or
--- false + "stopped" when a hook or a signal stopped it (resumable).
local function drive(exp, opts, args)
  local recipe = args.recipe or {}
  local run, err = exp:run{
    dir = opts.dir .. "/" .. args.name, name = args.name, strategy = args.strategy,
    options = args.options, schedule = args.schedule, eval = args.eval, next = args.next,
    label = args.label, steps = recipe.steps, tokens = recipe.tokens, epochs = recipe.epochs,
    set = recipe.set}
  if not run then error(err, 0) end
  add_hooks(run, opts.hooks)
  local info = run:info()
  if info.finished then
    say(opts, "%-28s finished before, skipped", args.name)
  else
    say(opts, "%-28s %s, %d/%d domains done", args.name, info.strategy, info.done, info.n)
  end
  local ok, why = run:run_all()
  run:close()
  if ok == nil then error(why, 0) end
  return ok, why
end

function M.run(exp, opts)
  opts = opts or {}
  if type(opts) ~= "table" then fail("options must be a table") end
  local exp_dir = select(1, exp:paths())
  opts.dir = opts.dir or exp_dir
  local orders, strategies = order_list(exp, opts.orders), strategy_list(opts.strategies)
  local all = union(exp, orders)
  local eval, next_k = eval_fields(opts.eval)
  local t0 = os.time()
  local runs = {}
  local function go(args)
    runs[#runs + 1] = opts.dir .. "/" .. args.name
    local ok, why = drive(exp, opts, args)
    if not ok then error(("protocol: run %s %s; rerun to resume"):format(args.name, why or "stopped"), 0) end
  end
  if opts.zs ~= false then go{name = "zs", strategy = "none", schedule = all} end
  if opts.dapt ~= false then
    go{name = "dapt", strategy = "finetune", schedule = all, eval = "current",
       label = "dapt:{domain}", recipe = opts.dapt_train or opts.train}
  end
  for _, o in ipairs(orders) do
    for _, s in ipairs(strategies) do
      go{name = o[1] .. "-" .. s.label, strategy = s.name, options = s.options, schedule = o[2],
         eval = eval, next = next_k, recipe = opts.train}
    end
  end
  say(opts, "all runs done in %d s", os.time() - t0)
  if opts.report ~= false then
    local path = type(opts.report) == "string" and opts.report or opts.dir .. "/report.html"
    local out, err = clpt.report(runs, {out = path, title = opts.title})
    if not out then error(err, 0) end
    say(opts, "report: %s", out)
  end
  return clpt.metrics(runs), runs
end

--- A compact text table of metrics (as clpt.metrics returns) for printing:
--- rows = the given metric names, columns = runs in name order.
function M.format(metrics, rows)
  rows = rows or {"ZS", "DAPT", "CPT", "LC", "CPT - DAPT", "FG", "BT_N", "mean FT_n"}
  local names = {}
  for k in pairs(metrics) do names[#names + 1] = k end
  table.sort(names)
  local lines = {("%-12s"):format("metric") .. (" %20s"):rep(#names):format(table.unpack(names))}
  for _, r in ipairs(rows) do
    local cells = {("%-12s"):format(r)}
    for _, n in ipairs(names) do
      local v, mark = metrics[n][r], metrics[n].partial[r] and "*" or ""
      local text = not v and "-" or r == "CPT < DAPT" and ("%.0f%%%s"):format(100 * v, mark)
                   or ("%.3f%s"):format(v, mark)
      cells[#cells + 1] = (" %20s"):format(text)
    end
    lines[#lines + 1] = table.concat(cells)
  end
  return table.concat(lines, "\n")
end

return M
