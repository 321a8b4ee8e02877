-- Top functions of a saved answer, by self time:
--   lua examples/top.lua ANSWER.json [THREAD] [textbook]
-- THREAD is a thread id, a thread name, or "main" (default: all threads).
local chunks = require "sentry.chunks"
local analysis = require "sentry.chunks.analysis"

local path, thread, mode = arg[1], arg[2], arg[3]
if not path then
  io.stderr:write("usage: lua examples/top.lua ANSWER.json [THREAD] [textbook]\n")
  os.exit(2)
end
local f = assert(io.open(path, "rb"))
local answer, err = chunks.decode(f:read("*a"))
f:close()
if not answer then
  io.stderr:write(path, ": ", err, "\n")
  os.exit(1)
end

local top = analysis.top(answer, { threads = thread, mode = mode, limit = 10 })
print(string.format("%d samples, %.3f s, %s counting", top.samples, top.time, top.mode))
print(string.format("%8s %6s %8s %6s  %s", "self ms", "self%", "total ms", "total%", "function"))
for _, e in ipairs(top.functions) do
  print(string.format("%8.1f %5.1f%% %8.1f %5.1f%%  %s", e.self * 1000, e.self_pct,
    e.total * 1000, e.total_pct, e.name))
end
