-- A hand-built profile whose right answers the analysis specs work out by
-- hand. Frames (0-based): 0 main, 1 handle, 2 query (system), 3 parse
-- (in_app null), 4 read (system), 5 handle again (as merged chunks repeat
-- frames). Stacks, leaf first: 0 [handle main], 1 [query handle main],
-- 2 [read query handle' main], 3 [parse handle main], 4 [main] (never
-- referenced), 5 [handle handle main] (recursion).
-- Thread "1" (MainThread) at 10, 10.125, 10.375, 10.5 (stacks 0,1,2,3):
-- weights .125, .25, .125, 0. Thread "2" (Worker) at 10, 10.25 (stacks 5,
-- 1): weights .25, 0. Listed out of time order on purpose.
local null = require("cjson").null

return function()
  return { chunk = {
    chunk_id = "0123456789abcdef0123456789abcdef", profiler_id = "fedcba9876543210fedcba9876543210",
    platform = "python", release = "1.0", environment = "test",
    profile = {
      frames = {
        { ["function"] = "main", module = "app", in_app = true, abs_path = "/srv/app/app/main.py", lineno = 3 },
        { ["function"] = "handle", module = "app.web", in_app = true, abs_path = "/srv/app/app/web.py", lineno = 10 },
        { ["function"] = "query", module = "db", in_app = false },
        { ["function"] = "parse", module = "app.json", in_app = null },
        { ["function"] = "read", module = "socket", in_app = false },
        { ["function"] = "handle", module = "app.web", in_app = true, abs_path = "/srv/app/app/web.py", lineno = 10 },
      },
      stacks = { { 1, 0 }, { 2, 1, 0 }, { 4, 2, 5, 0 }, { 3, 1, 0 }, { 0 }, { 1, 1, 0 } },
      samples = {
        { stack_id = 1, thread_id = "1", timestamp = 10.125 },
        { stack_id = 0, thread_id = "1", timestamp = 10.0 },
        { stack_id = 5, thread_id = "2", timestamp = 10.0 },
        { stack_id = 2, thread_id = "1", timestamp = 10.375 },
        { stack_id = 1, thread_id = "2", timestamp = 10.25 },
        { stack_id = 3, thread_id = "1", timestamp = 10.5 },
      },
      thread_metadata = { ["1"] = { name = "MainThread" }, ["2"] = { name = "Worker" } },
    },
  } }
end
