-- Issue 6: six windows of a long range with the server adding 200 ms of
-- latency per request, one at a time against four at a time.
--   lua5.4 bench/range_bench.lua
local chunks = require "sentry.chunks"
local core = require "sentry.chunks.core"
local server = require "support.server"
local targets = require "targets"

local srv = server.start()
local function run(concurrency)
  local client = chunks.client { token = srv.token, org = srv.org, base_url = srv.url .. "/_test/latency=200" }
  local t0 = core.monotime()
  local res = assert(client:fetch_range { project = 1, profiler_id = server.PROFILER_IDS.light,
    start = server.T0, ["end"] = server.T0 + 6 * 600, window = 600, concurrency = concurrency })
  local t = core.monotime() - t0
  client:close()
  return t, #res.chunk.profile.samples
end
run(4) -- warm the server's cache of merged windows
local seq, n1 = run(1)
local par, n4 = run(4)
srv.stop()
print(string.format("  6 windows, 200 ms latency each: one at a time %.2f s, four at a time %.2f s: ratio %.2f (target < 0.5); %d = %d samples",
  seq, par, par / seq, n1, n4))
targets.add("fetch_range: 6 windows, four at a time / one at a time", string.format("%.2f", par / seq), "< 0.5",
  par / seq < 0.5)
