-- sentry.chunks.analysis: every analysis helper in one table, for scripts
-- and the REPL. The modules can also be required one by one:
-- sentry.chunks.analysis.frames, .samples, .aggregate, .filter, .export
-- (also under their old names, sentry.chunks.frames, ...).
local M = {}
for _, name in ipairs { "frames", "samples", "aggregate", "filter", "export" } do
  M[name] = require("sentry.chunks.analysis." .. name)
end
local A, F, S, E, FR = M.aggregate, M.filter, M.samples, M.export, M.frames
M.top, M.call_trees, M.hot_paths, M.compare, M.dedupe = A.top, A.call_trees, A.hot_paths, A.compare, A.dedupe
M.focus, M.ignore, M.hide, M.show, M.app_only, M.remap_paths =
  F.focus, F.ignore, F.hide, F.show, F.app_only, F.remap_paths
M.threads, M.main_thread, M.weights, M.restrict, M.each =
  S.threads, S.main_thread, S.weights, S.restrict, S.each
M.folded, M.speedscope, M.cpuprofile, M.pprof, M.perfanno =
  E.folded, E.speedscope, E.cpuprofile, E.pprof, E.perfanno
M.function_names = E.function_names
M.frame_key, M.frame_name, M.in_app, M.select_frames = FR.key, FR.name, FR.in_app, FR.select
return M
