--- clpt.schedule: orders of domains to train on.
--
-- A schedule is a plain list of domain names, in training order; every
-- function here returns a fresh one. `exp` is an experiment from clpt.open.
--
--   local schedule = require "clpt.schedule"
--   schedule.similar(exp)            -- hierarchy order (the manifest's "order")
--   schedule.random(exp, 42)         -- a seeded shuffle (the same everywhere)
--   schedule.reversed(s)             -- any schedule backwards
--   schedule.by_l1(exp, {seed = 1})  -- grouped by L1 field, fields shuffled
--   schedule.custom(exp, {"cs.CL", "cs.LG"})  -- checked: unknown or repeated
--                                             -- domains raise, naming them
--   schedule.chain(exp, {start = "cs.CL"})    -- similarity chain (unigram
--                                             -- overlap, computed in C)
--   schedule.take(s, 8)              -- the first 8
--   schedule.only(s, {"a", "b"})     -- s restricted to a set, order kept
local clpt = require "clpt"

local M = {}

-- Errors point at the caller of the public function.
local function fail(msg, level) error("schedule: " .. msg, (level or 2) + 1) end

local function copy(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  return out
end

--- Domain tables sorted by their place in the "similar" order.
local function by_order(exp)
  local ds = exp:domains()
  table.sort(ds, function(a, b) return a.order < b.order end)
  return ds
end

function M.similar(exp)
  local out = {}
  for i, d in ipairs(by_order(exp)) do out[i] = d.name end
  return out
end

--- A seeded shuffle of the similar order (clpt.permutation: Fisher-Yates on
--- clpt's own generator, so a seed means the same order on every machine).
function M.random(exp, seed)
  if math.type(seed) ~= "integer" then fail("random needs an integer seed") end
  local base = M.similar(exp)
  local out = {}
  for i, k in ipairs(clpt.permutation(#base, seed)) do out[i] = base[k] end
  return out
end

function M.reversed(s)
  if type(s) ~= "table" then fail("reversed takes a schedule (a list of names)") end
  local out, n = {}, #s
  for i = 1, n do out[i] = s[n + 1 - i] end
  return out
end

--- Grouped by L1: fields in the order they first appear in the similar order
--- (or shuffled with opts.seed); within a field, the similar order (or shuffled
--- too with opts.within = "random").
function M.by_l1(exp, opts)
  opts = opts or {}
  local groups, names = {}, {}
  for _, d in ipairs(by_order(exp)) do
    if not groups[d.l1] then groups[d.l1] = {}; names[#names + 1] = d.l1 end
    table.insert(groups[d.l1], d.name)
  end
  if opts.seed then
    local p = clpt.permutation(#names, opts.seed)
    local shuffled = {}
    for i, k in ipairs(p) do shuffled[i] = names[k] end
    names = shuffled
  end
  local out = {}
  for gi, l1 in ipairs(names) do
    local g = groups[l1]
    if opts.within == "random" then
      local p = clpt.permutation(#g, (opts.seed or 0) * 7919 + gi)
      local sg = {}
      for i, k in ipairs(p) do sg[i] = g[k] end
      g = sg
    end
    for _, name in ipairs(g) do out[#out + 1] = name end
  end
  return out
end

--- Check a schedule against the corpus: every entry a known domain, none
--- twice. Raises naming the domain; returns the schedule.
function M.check(exp, s, level)
  if type(s) ~= "table" then fail("a schedule is a list of domain names", level) end
  local seen = {}
  for i, name in ipairs(s) do
    if type(name) ~= "string" then fail(("entry %d is not a domain name"):format(i), level) end
    if not exp:domain(name) then fail(("unknown domain '%s' (entry %d)"):format(name, i), level) end
    if seen[name] then fail(("domain '%s' appears twice (entries %d and %d)"):format(name, seen[name], i), level) end
    seen[name] = i
  end
  if #s == 0 then fail("the schedule is empty", level) end
  return s
end

function M.custom(exp, names)
  return M.check(exp, copy(names), 2)
end

--- Greedy similarity chain: start at opts.start (default: the first domain of
--- the similar order), then always the most similar domain not yet visited.
--- opts.domains restricts it to a subset; opts.measure = "overlap" | "cosine";
--- opts.max_tokens caps the tokens read per domain (default 1M); opts.split.
function M.chain(exp, opts)
  opts = opts or {}
  local domains = opts.domains and M.check(exp, copy(opts.domains), 2) or M.similar(exp)
  local sim, names = exp:similarity{domains = domains, split = opts.split,
                                    max_tokens = opts.max_tokens, measure = opts.measure}
  if not sim then fail(names) end
  local start = 1
  if opts.start then
    start = nil
    for i, n in ipairs(names) do if n == opts.start then start = i end end
    if not start then fail(("unknown start domain '%s'"):format(opts.start)) end
  end
  return exp:chain(sim, names, start)
end

function M.take(s, k)
  local out = {}
  for i = 1, math.min(k, #s) do out[i] = s[i] end
  return out
end

function M.only(s, set)
  local keep = {}
  for _, n in ipairs(set) do keep[n] = true end
  local out = {}
  for _, n in ipairs(s) do if keep[n] then out[#out + 1] = n end end
  return out
end

return M
