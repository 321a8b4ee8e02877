-- Which functions got slower or faster between the first and the second
-- half of a profile (or two saved answers):
--   lua examples/compare.lua ANSWER.json [OTHER.json]
local chunks = require "sentry.chunks"
local analysis = require "sentry.chunks.analysis"

local function load(path)
  local f = assert(io.open(path, "rb"))
  local answer, err = chunks.decode(f:read("*a"))
  f:close()
  if not answer then
    io.stderr:write(path, ": ", err, "\n")
    os.exit(1)
  end
  return answer
end

if not arg[1] then
  io.stderr:write("usage: lua examples/compare.lua ANSWER.json [OTHER.json]\n")
  os.exit(2)
end
local a, b = load(arg[1]), arg[2] and load(arg[2])
if not b then
  local threads = analysis.threads(a)
  local first, last = math.huge, -math.huge
  for _, t in ipairs(threads) do
    if t.first < first then first = t.first end
    if t.last > last then last = t.last end
  end
  local middle = (first + last) / 2
  a, b = analysis.restrict(a, { to = middle }), analysis.restrict(a, { from = middle })
end
local cmp = analysis.compare(a, b, { limit = 10 })
print(string.format("a: %.3f s in %d samples; b: %.3f s in %d samples (%s counting)",
  cmp.a.time, cmp.a.samples, cmp.b.time, cmp.b.samples, cmp.mode))
print(string.format("%9s %9s %9s  %s", "self a ms", "self b ms", "change", "function"))
for _, r in ipairs(cmp.functions) do
  print(string.format("%9.1f %9.1f %+8.1f  %s", r.self_a * 1000, r.self_b * 1000,
    r.self_delta * 1000, r.name))
end
