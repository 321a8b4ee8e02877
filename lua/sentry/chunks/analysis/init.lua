-- sentry.chunks.analysis: every analysis helper in one table, for scripts
-- and the REPL. The modules can also be required one by one:
-- sentry.chunks.analysis.frames, .samples, .aggregate, .filter, .export
-- (also under their old names, sentry.chunks.frames, ...).
local M = {}
for _, name in ipairs { "frames", "samples", "aggregate", "filter", "export" } do
  M[name] = require("sentry.chunks.analysis." .. name)
end
local A, F, S, E, FR = M.aggregate, M.filter, M.samples, M.export, M.frames
local report = require "sentry.chunks.report"
M.report = report
-- The results print as the CLI shows them (tostring, `= top` at a REPL);
-- they stay plain tables (inspect.lua, vim.inspect), with a metatable that
-- has only __tostring. An argument error names the caller's line, not this
-- wrapper's (where pcall can yield: everywhere but PUC Lua 5.1, whose
-- analyses must stay yieldable from their slice hook, so there the
-- wrapper's line shows).
local yieldable_pcall = _VERSION ~= "Lua 5.1" or type(jit) == "table"
local here = debug.getinfo(1, "S").short_src
local function marked(kind, fn)
  if not yieldable_pcall then
    return function(...) return report.mark(kind, fn(...)) end
  end
  return function(...)
    local ok, res = pcall(fn, ...)
    if not ok then
      if type(res) == "string" then
        -- an argument error raised for the caller of fn names pcall (no
        -- position) or this file: it gets the caller's line back
        if res:sub(1, #here + 1) == here .. ":" then res = res:gsub("^[^\n]-:%d+: ", "", 1) end
        if res:match("^bad argument #%d+ to ") then error(res, 2) end
      end
      error(res, 0)
    end
    return report.mark(kind, res)
  end
end
M.top, M.call_trees, M.hot_paths, M.compare = marked("top", A.top), marked("call_trees", A.call_trees),
  marked("hot_paths", A.hot_paths), marked("compare", A.compare)
M.dedupe = A.dedupe
M.summary = report.summary
M.focus, M.ignore, M.hide, M.show, M.app_only, M.remap_paths =
  F.focus, F.ignore, F.hide, F.show, F.app_only, F.remap_paths
M.threads, M.main_thread, M.weights, M.restrict, M.each =
  marked("threads", S.threads), S.main_thread, S.weights, S.restrict, S.each
M.folded, M.speedscope, M.cpuprofile, M.pprof, M.perfanno =
  E.folded, E.speedscope, E.cpuprofile, E.pprof, E.perfanno
M.function_names = E.function_names
M.frame_key, M.frame_name, M.in_app, M.select_frames = FR.key, FR.name, FR.in_app, FR.select
return M
