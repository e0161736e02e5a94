-- m2d2.lua - the protocol of Yildiz et al. (TMLR 2025) on M2D2 with GPT-2.
--
--   clpt run lua/paper/m2d2.lua [SIZE] [DATA] [OUT] [key=value...]
--
-- SIZE  gpt2 | gpt2-medium | gpt2-large | gpt2-xl (default gpt2): the config
--       configs/SIZE.ini and the Hugging Face weights it names (model.init =
--       models/SIZE: config.json + model.safetensors, e.g.
--       `huggingface-cli download openai-community/gpt2 --local-dir models/gpt2`)
-- DATA  the prepared M2D2 corpus (default data/m2d2):
--         clpt prepare -t models/gpt2 --domains m2d2-domains.tsv -o data/m2d2 M2D2_DIR
--       with the study's L2 domains in hierarchy order (Wikipedia first) in the
--       domains file; every domain of the manifest is used
-- OUT   experiment folder (default runs/m2d2-SIZE)
-- key=value options:
--   strategies=sequential,replay,ewc   continual strategies (default sequential,
--                                      the study's continual pretraining)
--   orders=similar,random              (default both; random uses seed=)
--   seed=1                             seed of the random order
--   eval=all|seen|next:K               checkpoint x domain cells (default all:
--                                      the full matrix behind BT and FT)
--   eval_tokens=131072                 cap on the test tokens of one cell (0 = all)
--   domains=N                          only the first N domains of the similar order
--   backend=auto|cuda|cpu
--   config=PATH                        another ini instead of configs/SIZE.ini
--
-- The procedure: M0 = pretrained GPT-2; zero-shot M0 on every domain (ZS); M0
-- fine-tuned on each domain alone (DAPT, strategy `finetune`); then for each
-- order M_n = train(M_{n-1}, D_n): one epoch per domain, batches of 16 x 1024
-- tokens, Adam, constant lr 5e-5 (configs/SIZE.ini), a checkpoint after every
-- domain, and every checkpoint evaluated on every domain's test split.
-- Everything is journaled; rerun the same command to resume after an
-- interruption (at most the current domain's work since its last checkpoint
-- is lost; set save_every in the config for checkpoints inside domains).
--
-- Expected time on one H100 - ESTIMATES from measured rates, not a timed run
-- of this script: M2D2's 159 domains hold ~6.6B training tokens, so one pass
-- (one order, or the DAPT runs) is ~6.6B tokens; the protocol makes three
-- passes (similar, random, DAPT) plus 2 x 159^2 evaluation cells of <= 131K
-- tokens (~6.6B tokens). At the training and evaluation rates measured on an
-- H100 80GB with the cuda backend's defaults (bench/results/
-- h100-2026-11-26-bf16.md; tokens/s train / eval, at B = 16, 48, 32 and 16:
-- 124M 349K / 1.51M, 355M 149K / 606K, 774M 73.7K / 292K, 1.56B 39.3K / 148K):
--   gpt2         124M   ~ 17 h        gpt2-large   774M   ~ 3.4 days
--   gpt2-medium  355M   ~ 1.7 days    gpt2-xl      1.56B  ~ 6.4 days
-- The configs train at B = 16 (gpt2-xl: 2 x 8), which may be a little slower
-- than the larger batches measured. Each extra continual strategy adds one
-- pass and its evaluation (~1/3 of the total); eval=seen halves the
-- evaluation. Memory: gpt2-xl needs the fp32 master weights + Adam (~25 GB)
-- plus activations (batch 8 x 2 accumulation in configs/gpt2-xl.ini): an
-- 80 GB GPU.
local clpt = require "clpt"
local schedule = require "clpt.schedule"
local protocol = require "clpt.protocol"

local size = arg[1] or "gpt2"
local data = arg[2] or "data/m2d2"
local out = arg[3] or ("runs/m2d2-" .. size)
local opt = {strategies = "sequential", orders = "similar,random", seed = "1", eval = "all",
             eval_tokens = "131072", backend = "auto", config = false}
for i = 4, #arg do
  local k, v = arg[i]:match("^([%w_]+)=(.*)$")
  if not k or opt[k] == nil and k ~= "domains" then
    error(("m2d2.lua: unknown option '%s' (see the header of this script)"):format(arg[i]), 0)
  end
  opt[k] = v
end
local sizes = {gpt2 = true, ["gpt2-medium"] = true, ["gpt2-large"] = true, ["gpt2-xl"] = true}
if not sizes[size] then error("m2d2.lua: SIZE is gpt2, gpt2-medium, gpt2-large or gpt2-xl", 0) end

local function split(s)
  local t = {}
  for w in s:gmatch("[^,]+") do t[#t + 1] = w end
  return t
end

-- configs/ is two levels above this script (lua/paper/m2d2.lua)
local root = (arg[0]:match("^(.*)/lua/paper/[^/]+$")) or "."
local exp, err = clpt.open{config = opt.config or (root .. "/configs/" .. size .. ".ini"), data = data, dir = out,
                           set = {["data.max_eval_tokens"] = opt.eval_tokens,
                                  ["runtime.backend"] = opt.backend, ["eval.rank"] = true}}
if not exp then error("m2d2.lua: " .. err, 0) end

local similar = schedule.similar(exp)
if opt.domains then similar = schedule.take(similar, assert(math.tointeger(tonumber(opt.domains)), "domains=N")) end
if #similar ~= 159 then
  io.stderr:write(("m2d2.lua: note: %d domains (the study used 159)\n"):format(#similar))
end

local orders = {}
for _, o in ipairs(split(opt.orders)) do
  if o == "similar" then
    orders[#orders + 1] = {"similar", similar}
  elseif o == "random" then
    local seed = assert(math.tointeger(tonumber(opt.seed)), "seed=N")
    orders[#orders + 1] = {"random", schedule.only(schedule.random(exp, seed), similar)}
  else
    error("m2d2.lua: orders are similar and/or random, not " .. o, 0)
  end
end

local eval = opt.eval
local k = eval:match("^next:(%d+)$")
if k then eval = {next = tonumber(k)} elseif eval ~= "all" and eval ~= "seen" then
  error("m2d2.lua: eval is all, seen or next:K", 0)
end

local t0 = os.time()
local metrics = protocol.run(exp, {
  orders = orders,
  strategies = split(opt.strategies),
  eval = eval,
  train = {epochs = 1},
  hooks = {domain_end = function(ev)
    io.stderr:write(("m2d2: %s domain %d (%s) done in %.0f s\n"):format(ev.run, ev.index, ev.domain, ev.seconds))
  end},
  title = ("M2D2 continual pretraining, %s"):format(size),
})
print(protocol.format(metrics, {"ZS", "DAPT", "CPT", "LC", "CPT - DAPT", "CPT < DAPT", "FG",
                                "BT_N", "mean BT_n", "mean FT_n", "rank LC"}))
print(("m2d2: %s done in %.1f h; report: %s/report.html"):format(size, (os.time() - t0) / 3600, out))
