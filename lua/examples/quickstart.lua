-- quickstart.lua - continual pretraining in ten minutes on a laptop CPU.
--
--   clpt run lua/examples/quickstart.lua [CORPUS] [OUT] [DOMAINS]
--
-- CORPUS  a prepared corpus (`clpt prepare` output: a folder with
--         manifest.json); default data/quickstart, the apt-only quickstart
--         corpus that tools/quickstart.sh prepares
-- OUT     experiment folder; default runs/quickstart
-- DOMAINS how many domains the sequence has (default 8, at least 2)
--
-- What it does, all on the CPU:
--   1. trains a small GPT-2 (2 layers, 128 channels) briefly on a mixture of
--      every domain: the base model M0 (skipped when OUT/base has one);
--   2. picks DOMAINS domains, whole L1 fields at a time, in hierarchy order;
--   3. runs the study's protocol (clpt.protocol): zero-shot M0 on every
--      domain (ZS), `finetune` = M0 trained on each domain alone (DAPT), and
--      `sequential`, `replay` and `ewc` over the domains in the similar order
--      and in a seeded random order, every checkpoint evaluated on every
--      domain;
--   4. prints the comparison and writes OUT/report.html (+ .csv, .md).
-- CLPT_QUICKSTART_BACKEND=cuda (or auto) runs it on a GPU instead.
-- Everything is journaled: interrupt it (Ctrl-C) and run it again to resume;
-- a finished quickstart reruns in seconds. On a 2-core machine it takes
-- about 5 minutes with the default settings (measured: 4 min 50 s on a
-- shared 2-core VM, 8 domains of the OpenStax corpus, ~40K tokens each).
local clpt = require "clpt"
local schedule = require "clpt.schedule"
local protocol = require "clpt.protocol"

local corpus = arg[1] or "data/quickstart"
local out = arg[2] or "runs/quickstart"
local n_domains = math.tointeger(tonumber(arg[3] or "8"))
assert(n_domains and n_domains >= 2, "DOMAINS must be an integer >= 2")

-- The recipe: small enough for two cores, big enough to learn and forget.
local recipe = {
  ["model.preset"] = "tiny", ["model.n_layer"] = 2, ["model.n_head"] = 2,
  ["model.n_embd"] = 128, ["model.n_ctx"] = 128, ["model.seed"] = 1,
  ["train.batch_size"] = 8, ["train.seq_len"] = 128, ["train.steps"] = 32,
  ["train.log_every"] = 10, ["train.seed"] = 1,
  ["optim.lr"] = 1e-3, ["optim.schedule"] = "constant", ["optim.warmup_steps"] = 0,
  ["optim.weight_decay"] = 0.0, ["optim.grad_clip"] = 1.0,
  ["data.max_eval_tokens"] = 2048, ["data.valid"] = "",
  ["eval.batch_size"] = 16, ["eval.rank"] = true, ["eval.every"] = 0,
  ["runtime.backend"] = os.getenv("CLPT_QUICKSTART_BACKEND") or "cpu", ["runtime.progress"] = "never",
}
local BASE_STEPS, BASE_LR = 300, 3e-3

local exp, err = clpt.open{data = corpus, dir = out, set = recipe}
if not exp then
  io.stderr:write(("quickstart: %s\nPrepare a corpus first (tools/quickstart.sh does), e.g.\n" ..
                   "  clpt prepare -t data/tok --train-tokenizer 4096 -o %s CORPUS_DIR\n"):format(err, corpus))
  os.exit(1)
end
exp:set("model.vocab_size", exp:tokenizer().vocab_size)

-- 1. the base model
local base = out .. "/base/checkpoint"
local have = io.open(base .. "/model.safetensors")
if have then
  have:close()
  print("quickstart: base model " .. base .. " (delete it to retrain)")
else
  print(("quickstart: training the base model (%d steps on all %d domains)"):format(BASE_STEPS, #exp))
  local set = {["train.steps"] = BASE_STEPS, ["optim.lr"] = BASE_LR, ["optim.schedule"] = "cosine",
               ["optim.warmup_steps"] = 40, ["optim.min_lr_ratio"] = 0.1,
               ["model.vocab_size"] = exp:tokenizer().vocab_size}
  for k, v in pairs(recipe) do if set[k] == nil then set[k] = v end end
  base = assert(clpt.train{data = corpus, out = out .. "/base", set = set})
end
exp:set("model.init", base)

-- 2. the domains: in hierarchy order, at most 3 per L1 field so that
-- several fields take part and related domains still follow each other
local per_field, picked = {}, {}
for _, name in ipairs(schedule.similar(exp)) do
  local l1 = exp:domain(name).l1
  per_field[l1] = (per_field[l1] or 0) + 1
  if per_field[l1] <= 3 and #picked < n_domains then picked[#picked + 1] = name end
end
local similar = schedule.only(schedule.similar(exp), picked)
local random = schedule.only(schedule.random(exp, 1), picked)
print(("quickstart: %d domains; similar order: %s"):format(#similar, table.concat(similar, ", ")))

-- 3. the protocol
local t0 = os.time()
local metrics = protocol.run(exp, {
  orders = {{"similar", similar}, {"random", random}},
  strategies = {"sequential", {"replay", {ratio = 0.25}}, {"ewc", {lambda = 1000, fisher_batches = 8}}},
  eval = "all",
  title = "clpt quickstart: continual pretraining on " .. corpus,
})

-- 4. the comparison (`clpt run` prints the full metric table after this)
print()
local function avg(order, key)
  local s, n = 0, 0
  for name, m in pairs(metrics) do
    if name:find("^" .. order) and m[key] then s, n = s + m[key], n + 1 end
  end
  return n > 0 and s / n or nil
end
local fs, fr = avg("similar", "FG"), avg("random", "FG")
local gs = avg("similar", "CPT - DAPT")
if gs then
  print(("In the similar order, continual pretraining %s standalone fine-tuning right after each domain " ..
         "(mean CPT - DAPT %+.2f ppl)."):format(gs < 0 and "beats" or "trails", gs))
end
if fs and fr then
  print(("Forgetting (FG, mean over strategies): similar order %.2f, random order %.2f."):format(fs, fr))
end
print(("quickstart: done in %d s; report: %s/report.html (+ report.csv, report.md)"):format(os.time() - t0, out))
