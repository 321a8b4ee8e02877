-- A folded-stacks file for flamegraph.pl, inferno or speedscope:
--   lua examples/flamegraph.lua ANSWER.json OUT.folded [microseconds]
-- then: inferno-flamegraph < OUT.folded > flame.svg
local chunks = require "sentry.chunks"
local analysis = require "sentry.chunks.analysis"

local path, out, weight = arg[1], arg[2], arg[3]
if not (path and out) then
  io.stderr:write("usage: lua examples/flamegraph.lua ANSWER.json OUT.folded [microseconds]\n")
  os.exit(2)
end
local f = assert(io.open(path, "rb"))
local answer, err = chunks.decode(f:read("*a"))
f:close()
if not answer then
  io.stderr:write(path, ": ", err, "\n")
  os.exit(1)
end
local text = analysis.folded(answer, { weight = weight, thread_root = true })
local o = assert(io.open(out, "wb"))
o:write(text)
o:close()
local lines = select(2, text:gsub("\n", ""))
print(string.format("wrote %d stacks to %s", lines, out))
