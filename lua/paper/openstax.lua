-- openstax.lua - the study's questions on the OpenStax M2D2-layout corpus,
-- with small models on a CPU (docs/results-openstax.md has the results).
--
--   clpt prepare -t data/openstax-tok --train-tokenizer 4096 -o data/openstax \
--       ../shared/data/openstax-m2d2
--   clpt run lua/paper/openstax.lua data/openstax runs/openstax [per_book=2] [sizes=tiny,small]
--
-- For each model size: a base model M0 trained from scratch on a mixture of
-- all 98 domains (the stand-in for GPT-2's pretraining), then the protocol
-- (clpt.protocol) on the first `per_book` chapters-domains of each of the 12
-- books (L1 = book): ZS, DAPT (`finetune`), and `sequential` continual
-- pretraining over the similar order (books one after another, chapters in
-- order) and a seeded random order, one epoch per domain, every checkpoint
-- evaluated on every domain. It prints the answers to three questions -
-- does CPT beat DAPT in the similar order, does the random order forget
-- less, do smaller models forget more - and writes OUT/results.md and
-- OUT/report.html comparing everything.
local clpt = require "clpt"
local schedule = require "clpt.schedule"
local protocol = require "clpt.protocol"

local data = arg[1] or "data/openstax"
local out = arg[2] or "runs/openstax"
local opt = {per_book = "2", sizes = "tiny,small", seed = "1"}
for i = 3, #arg do
  local k, v = arg[i]:match("^([%w_]+)=(.*)$")
  if not k or opt[k] == nil then error("openstax.lua: unknown option " .. arg[i], 0) end
  opt[k] = v
end

-- The sizes compared: the same recipe, only the width and depth differ.
local SIZES = {
  tiny = {["model.n_layer"] = 2, ["model.n_head"] = 2, ["model.n_embd"] = 128},
  small = {["model.n_layer"] = 4, ["model.n_head"] = 4, ["model.n_embd"] = 256},
}
local recipe = {
  ["model.preset"] = "tiny", ["model.n_ctx"] = 128, ["model.seed"] = 1,
  ["train.batch_size"] = 8, ["train.seq_len"] = 128, ["train.steps"] = 1, ["train.epochs"] = 1,
  ["train.log_every"] = 10, ["train.seed"] = 1,
  ["optim.lr"] = 5e-4, ["optim.schedule"] = "constant", ["optim.warmup_steps"] = 0,
  ["optim.weight_decay"] = 0.0, ["optim.grad_clip"] = 1.0,
  ["data.max_eval_tokens"] = 4096, ["data.valid"] = "",
  ["eval.batch_size"] = 16, ["eval.rank"] = true, ["eval.every"] = 0,
  ["runtime.backend"] = "cpu", ["runtime.progress"] = "never",
}
local BASE = {["train.steps"] = 800, ["train.epochs"] = 0, ["optim.lr"] = 2e-3,
              ["optim.schedule"] = "cosine", ["optim.warmup_steps"] = 50, ["optim.min_lr_ratio"] = 0.1}

local function merged(...)
  local t = {}
  for _, part in ipairs{...} do for k, v in pairs(part) do t[k] = v end end
  return t
end

local exp = assert(clpt.open{data = data, dir = out, set = recipe})
local vocab = exp:tokenizer().vocab_size

-- the domains: the first per_book of each book, in hierarchy order
local per_book, count, picked = assert(math.tointeger(tonumber(opt.per_book))), {}, {}
for _, name in ipairs(schedule.similar(exp)) do
  local l1 = exp:domain(name).l1
  count[l1] = (count[l1] or 0) + 1
  if count[l1] <= per_book then picked[#picked + 1] = name end
end
local similar = picked
local random = schedule.only(schedule.random(exp, assert(math.tointeger(tonumber(opt.seed)))), picked)
print(("openstax: %d domains (%d per book)"):format(#similar, per_book))

local results, dirs = {}, {}
for size in opt.sizes:gmatch("[^,]+") do
  local dims = assert(SIZES[size], "sizes are tiny and small")
  local dir = out .. "/" .. size
  local base = dir .. "/base/checkpoint"
  local f = io.open(base .. "/model.safetensors")
  if f then f:close() else
    print(("openstax: %s: training the base model on all %d domains"):format(size, #exp))
    base = assert(clpt.train{data = data, out = dir .. "/base",
                             set = merged(recipe, dims, BASE, {["model.vocab_size"] = vocab})})
  end
  exp:set(merged(dims, {["model.vocab_size"] = vocab, ["model.init"] = base}))
  results[size] = protocol.run(exp, {
    dir = dir,
    orders = {{"similar", similar}, {"random", random}},
    strategies = {"sequential"},
    eval = "all",
    report = dir .. "/report.html",
    title = "OpenStax, " .. size .. " model",
  })
  dirs[#dirs + 1] = dir
end

-- the answers
local lines = {"| model | order | ZS | DAPT | CPT | LC | CPT - DAPT | CPT < DAPT | FG | BT_N | mean FT_n |",
               "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"}
local function num(v) return v and ("%.2f"):format(v) or "-" end
for size in opt.sizes:gmatch("[^,]+") do
  for _, order in ipairs{"similar", "random"} do
    local m = results[size][order .. "-sequential"]
    lines[#lines + 1] = ("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"):format(size, order,
      num(m.ZS), num(m.DAPT), num(m.CPT), num(m.LC), num(m["CPT - DAPT"]),
      m["CPT < DAPT"] and ("%.0f%%"):format(100 * m["CPT < DAPT"]) or "-",
      num(m.FG), num(m.BT_N), num(m["mean FT_n"]))
  end
end
local table_md = table.concat(lines, "\n")
print(table_md)
local function get(size, order, key)
  return results[size] and results[size][order .. "-sequential"][key]
end
local answers = {}
for size in opt.sizes:gmatch("[^,]+") do
  local g, fs, fr = get(size, "similar", "CPT - DAPT"), get(size, "similar", "FG"), get(size, "random", "FG")
  answers[#answers + 1] = ("- %s: CPT %s DAPT in the similar order (mean CPT - DAPT %+.2f); " ..
    "FG similar %.2f vs random %.2f: the random order forgets %s."):format(size,
    g < 0 and "beats" or "does not beat", g, fs, fr, fr < fs and "less" or "more")
end
if results.tiny and results.small then
  local ft, fsm = get("tiny", "similar", "FG"), get("small", "similar", "FG")
  answers[#answers + 1] = ("- smaller model forgets %s (similar-order FG: tiny %.2f, small %.2f)"):format(
    ft > fsm and "more" or "less", ft, fsm)
end
print(table.concat(answers, "\n"))
local f = assert(io.open(out .. "/results.md", "w"))
f:write(table_md, "\n\n", table.concat(answers, "\n"), "\n")
f:close()
assert(clpt.report(dirs, {out = out .. "/report.html", title = "OpenStax: model sizes and orders"}))
print("openstax: " .. out .. "/results.md, " .. out .. "/report.html")
