-- protocol.lua - clpt.protocol on the tiny synthetic corpus. Run by
-- tests/test_lua_protocol.sh:  clpt run protocol.lua CORPUS CONFIG DIR [EVAL] [FAIL_AT]
-- EVAL: "all" (default) or "next1"; FAIL_AT: a run name whose 2nd domain_end raises.
local clpt = require "clpt"
local schedule = require "clpt.schedule"
local protocol = require "clpt.protocol"

local corpus, config, dir, eval, fail_at = ...
local exp <close> = assert(clpt.open{config = config, data = corpus, dir = dir})
local hooks = {}
if fail_at then
  hooks.domain_end = function(ev)
    if ev.run == fail_at and ev.index == 2 then error("stop the world") end
  end
end
local metrics = protocol.run(exp, {
  orders = {{"similar", schedule.similar(exp)}, {"random", schedule.random(exp, 7)}},
  strategies = {"sequential", {"replay", {ratio = 0.5}}},
  eval = eval == "next1" and {next = 1} or "all",
  hooks = hooks,
  title = "protocol test",
})
print(protocol.format(metrics))
for name, m in pairs(metrics) do
  assert(m.ZS and not m.partial.ZS, name .. ": ZS complete")
  assert(m.DAPT and not m.partial.DAPT, name .. ": DAPT complete")
  assert(m.CPT and m.LC and m.FG and m.BT_N, name .. ": CPT, LC, FG, BT_N")
  if eval == "next1" then
    assert(m.partial["mean FT_n"], name .. ": FT from the next domain only is partial")
    assert(m["FT(1)"] and not m.partial["FT(1)"], name .. ": FT(1) complete with next = 1")
  else
    assert(not m.partial["mean FT_n"] and not m.partial.FG, name .. ": complete matrix")
  end
  print(("%s strategy=%s n=%d"):format(name, m.strategy, m.n))
end
print("protocol ok")
