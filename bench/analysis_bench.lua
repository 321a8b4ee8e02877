-- Analysis on a decoded answer, against the time it took to decode it:
--   lua bench/analysis_bench.lua FILE
-- Target (issue 4): top functions (self and total) and the folded export
-- each in no more than the decode time; the other exports for reference.
-- Prints; asserts nothing.
local chunks = require "sentry.chunks"
local analysis = require "sentry.chunks.analysis"

local f = assert(io.open(assert(arg[1], "usage: analysis_bench.lua FILE"), "rb"))
local text = f:read("*a")
f:close()

local function best_of(n, fn)
  local best = math.huge
  for _ = 1, n do
    collectgarbage()
    local t0 = os.clock()
    fn()
    local t = os.clock() - t0
    if t < best then best = t end
  end
  return best
end

local answer
local decode = best_of(2, function() answer = assert(chunks.decode(text)) end)
text = nil -- luacheck: ignore
local top = best_of(2, function() return analysis.top(answer) end)
local folded = best_of(2, function() return analysis.folded(answer) end)
local folded_us = best_of(2, function() return analysis.folded(answer, { weight = "microseconds" }) end)
print(string.format("  %d samples; decode %.3f s", #answer.chunk.profile.samples, decode))
print(string.format("  top (self + total)      %.3f s  = %.2f x decode (target <= 1)", top, top / decode))
print(string.format("  folded (sample counts)  %.3f s  = %.2f x decode (target <= 1)", folded, folded / decode))
print(string.format("  folded (microseconds)   %.3f s  = %.2f x decode", folded_us, folded_us / decode))
for _, name in ipairs { "speedscope", "cpuprofile", "pprof" } do
  local t = best_of(2, function() return analysis[name](answer) end)
  print(string.format("  %-23s %.3f s  = %.2f x decode", name, t, t / decode))
end
