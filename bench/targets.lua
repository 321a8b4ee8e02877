-- The issues' targets as make bench measures them: each bench script adds
-- a row (name, its figure, the target, met or not) to the file named by
-- BENCH_TARGETS, and bench/run.sh prints them all as one table at the end.
-- Without BENCH_TARGETS (a script run by hand) rows are not kept.
local M = {}

function M.add(name, figure, target, met)
  local path = os.getenv("BENCH_TARGETS")
  if not path or path == "" then return end
  local f = assert(io.open(path, "a"))
  f:write(name, "\t", figure, "\t", target, "\t", met and "met" or "MISSED", "\n")
  f:close()
end

-- "Lua 5.4" or "LuaJIT": the runtime a figure was measured on.
function M.runtime()
  return jit and "LuaJIT" or _VERSION
end

return M
