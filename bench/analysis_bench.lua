-- Analysis on a decoded answer, against the time it took to decode it:
--   lua bench/analysis_bench.lua FILE
-- Each analysis runs in a fresh child process (the same interpreter): it
-- decodes FILE (rows, the default layout, then columns), then times the
-- analysis's first run (for rows, that includes reading the samples into
-- the columns every analysis reads, which later analyses of the same
-- answer find cached), and measures the memory the analysis adds at its peak (VmHWM, reset after the
-- decode through /proc/self/clear_refs) against the answer's own size.
-- Target (issue 13): top with durations, folded, speedscope, pprof and
-- call_trees each within 1x the decode time on Lua 5.4 and 0.5x on LuaJIT,
-- memory at most the answer's again. Prints; asserts nothing.
local chunks = require "sentry.chunks"
local analysis = require "sentry.chunks.analysis"
local targets = require "targets"

local ANALYSES = {
  { name = "top (sentry, durations)", target = true,
    run = function(a) return analysis.top(a, { durations = true }) end },
  { name = "top (textbook)", run = function(a) return analysis.top(a, { mode = "textbook" }) end },
  { name = "call_trees", target = true, run = function(a) return analysis.call_trees(a) end },
  { name = "folded (sample counts)", target = true, run = function(a) return analysis.folded(a) end },
  { name = "folded (microseconds)", run = function(a) return analysis.folded(a, { weight = "microseconds" }) end },
  { name = "speedscope", target = true, run = function(a) return analysis.speedscope(a) end },
  { name = "cpuprofile", run = function(a) return analysis.cpuprofile(a) end },
  { name = "pprof", target = true, run = function(a) return analysis.pprof(a) end },
}

local function status_kb(field)
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match(field .. ":%s*(%d+)")) or 0
end

local function reset_peak()
  local f = io.open("/proc/self/clear_refs", "w")
  if f then f:write("5") f:close() end
end

local path = assert(arg[1], "usage: analysis_bench.lua FILE")

if arg[2] == "--child" then
  local which, layout = ANALYSES[tonumber(arg[3])], arg[4]
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  local answer, decode = nil, math.huge
  for _ = 1, 2 do
    answer = nil
    collectgarbage()
    local t0 = os.clock()
    answer = assert(chunks.decode(text, { layout = layout }))
    decode = math.min(decode, os.clock() - t0)
  end
  text = nil -- luacheck: ignore
  collectgarbage()
  collectgarbage()
  local answer_mb = collectgarbage("count") / 1024
  reset_peak()
  local rss0 = status_kb("VmRSS")
  local s0 = os.clock()
  local result = which.run(answer)
  local best = os.clock() - s0
  result = nil -- luacheck: ignore
  print(string.format("%.4f %.4f %.1f %.1f %d", decode, best, (status_kb("VmHWM") - rss0) / 1024, answer_mb,
    require("sentry.chunks.layout").columns_of(answer.chunk.profile.samples).n))
  return
end

local function interpreter()
  local i = -1
  while arg[i - 1] do i = i - 1 end
  return arg[i]
end
local lua = interpreter()
local limit = jit and 0.5 or 1
local rt = targets.runtime()
local doc = path:match("[^/]*$")
for _, layout in ipairs { "rows", "columns" } do
local header = false
print("  layout " .. layout .. ":")
for k, a in ipairs(ANALYSES) do
  local p = assert(io.popen(string.format("%s bench/analysis_bench.lua '%s' --child %d %s", lua, path, k, layout)))
  local line = p:read("*l") or ""
  p:close()
  local decode, t, grew, answer_mb, n = line:match("^(%S+) (%S+) (%S+) (%S+) (%S+)$")
  decode, t, grew, answer_mb = tonumber(decode), tonumber(t), tonumber(grew), tonumber(answer_mb)
  if not header and decode then
    print(string.format("  %s samples; decode %.3f s; the answer takes %.0f MB", n, decode, answer_mb))
    header = true
  end
  if not t then
    print(string.format("  %-26s failed", a.name))
  else
    print(string.format("  %-26s %7.3f s = %.2fx decode%s; peak +%.0f MB = %.2fx the answer",
      a.name, t, t / decode, a.target and string.format(" (target <= %g)", limit) or "", grew, grew / answer_mb))
    if a.target then
      targets.add(string.format("%s / decode, %s, %s (%s)", a.name, layout, doc, rt),
        string.format("%.2fx", t / decode), string.format("<= %gx", limit), t / decode <= limit)
      targets.add(string.format("%s memory / answer, %s, %s (%s)", a.name, layout, doc, rt),
        string.format("%.2fx", grew / answer_mb), "<= 1x", grew <= answer_mb)
    end
  end
end
end
