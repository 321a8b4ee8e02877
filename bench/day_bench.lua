-- A day of one 4-thread profiler (1,440 generated chunks, about 3 GB of
-- JSON), served by the test server in 36 windows of 40 minutes, analysed
-- window by window through aggregate.accumulator as `sentry-chunks top
-- --period 24h` does: peak RSS and wall time, against decoding the same
-- bytes from memory one window at a time.
--   lua bench/day_bench.lua warm DIR   generate the windows into DIR once
--   lua bench/day_bench.lua run DIR    the measured run (a fresh process)
-- Target (issue 13): peak RSS under 1 GB, wall time at most 1.3x the
-- decode. Prints; asserts nothing.
local chunks = require "sentry.chunks"
local core = require "sentry.chunks.core"
local analysis = require "sentry.chunks.analysis"
local server = require "support.server"
local targets = require "targets"

local what, dir = arg[1], arg[2]
assert((what == "warm" or what == "run") and dir, "usage: day_bench.lua warm|run DIR")

local function vm_kb(field)
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match(field .. ":%s*(%d+)")) or 0
end

local DAY = server.PROFILER_IDS.day
local srv = server.start { disk_cache = dir, idle = 600 }
local client = chunks.client { token = srv.token, org = srv.org, base_url = srv.url, timeout = 600,
  low_speed_time = 600 } -- the warm-up generates a window before its first byte
-- samples in columns, two windows at a time, as `sentry-chunks top
-- --period 24h` fetches them
local query = { project = 1, profiler_id = DAY, start = server.T0, ["end"] = server.T0 + 86400, layout = "columns",
  concurrency = 2 }

if what == "warm" then
  local t0 = core.monotime()
  query.concurrency = 1 -- the server generates one window at a time anyway
  query.each = function(_, w)
    io.stderr:write(string.format("\r  generating window %d of %d", w.index, w.count))
  end
  local ok, err = client:fetch_range(query)
  io.stderr:write("\n")
  client:close()
  srv.stop()
  if not ok then print("  warm-up failed: " .. tostring(err)) os.exit(1) end
  local f = assert(io.open(dir .. "/complete", "w"))
  f:close()
  print(string.format("  generated 1,440 chunks in %.0f s (kept in %s for later runs)", core.monotime() - t0, dir))
  return
end

-- the collector as bin/sentry-chunks sets it (its comment says why)
pcall(collectgarbage, "incremental")
collectgarbage("setpause", 150)
collectgarbage()
local rss0 = vm_kb("VmRSS")
local acc = analysis.aggregate.accumulator()
local t0, adding = core.monotime(), 0
query.each = function(answer)
  local a0 = core.monotime()
  acc:add(answer)
  adding = adding + (core.monotime() - a0)
end
local ok, err, info = client:fetch_range(query)
local top = ok and acc:top { limit = 10 }
local wall = core.monotime() - t0
local peak = vm_kb("VmHWM")
client:close()

-- The floor the server sets: curl writing the same windows to /dev/null,
-- two at a time as the fetch asks for them (no decoding at all).
local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%S", t) end
local curl_wall
do
  local urls = {}
  for t = server.T0, server.T0 + 86400 - 2400, 2400 do
    urls[#urls + 1] = string.format("'%s/api/0/organizations/%s/profiling/chunks/?project=1&profiler_id=%s&start=%s&end=%s'",
      srv.url, srv.org, DAY, iso(t), iso(t + 2400))
  end
  local c0 = core.monotime()
  local p = io.popen(string.format("printf '%%s\\n' %s | xargs -P 2 -n 1 curl -sf -o /dev/null -H 'Authorization: Bearer %s' 2>&1; echo rc=$?",
    table.concat(urls, " "), srv.token))
  local out = p:read("*a")
  p:close()
  curl_wall = out:match("rc=0%s*$") and core.monotime() - c0 or nil
end
srv.stop()
if not ok then print("  fetch failed: " .. tostring(err)) os.exit(1) end

-- The baseline: the same bytes (the server's files) decoded from memory,
-- one window at a time, reading not counted.
local files = {}
local ls = io.popen("ls " .. dir .. "/" .. DAY .. "*.json")
for line in ls:lines() do files[#files + 1] = line end
ls:close()
-- Collecting each window's tables is timed apart (`collect`): the fetch
-- pays it within its wall time, the target's baseline does not.
local decode, collect, bytes = 0, 0, 0
for _, path in ipairs(files) do
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  bytes = bytes + #text
  collectgarbage()
  local d0 = os.clock()
  local v = assert(chunks.decode(text, { layout = "columns" }))
  decode = decode + (os.clock() - d0)
  v, text = nil, nil -- luacheck: ignore
  d0 = os.clock()
  collectgarbage()
  collect = collect + (os.clock() - d0)
end

print(string.format("  %s: %d windows, %.2f GB of JSON, %d samples; %d functions, top: %s %.1f s self",
  _VERSION .. (jit and " (" .. jit.version .. ")" or ""), info.windows, bytes / 1e9, top.samples,
  top.count, top.functions[1] and top.functions[1].name or "-", top.functions[1] and top.functions[1].self or 0))
print(string.format("  fetch + top (accumulator) %.1f s wall; decoding the same bytes from memory (columns) %.1f s: %.2fx (target <= 1.3)",
  wall, decode, wall / decode))
print(string.format("  (with collecting each window's tables, as the fetch does, the same decode takes %.1f s: %.2fx)",
  decode + collect, wall / (decode + collect)))
print(string.format("  (of the wall, acc:add took %.1f s = %.2fx the decode; the fetch and decode of the windows the rest, %.1f s = %.2fx)",
  adding, adding / decode, wall - adding, (wall - adding) / decode))
if curl_wall then
  print(string.format("  (the server alone: curl to /dev/null, the same windows two at a time, %.1f s wall: %.2fx the decode)",
    curl_wall, curl_wall / decode))
end
print(string.format("  peak RSS %.0f MB (%.0f MB above start; target < 1024 MB)", peak / 1024, (peak - rss0) / 1024))
local label = targets.runtime()
targets.add("24 h range: top, peak RSS (" .. label .. ")", string.format("%.0f MB", peak / 1024), "< 1024 MB", peak < 1024 * 1024)
targets.add("24 h range: top, wall / decode (" .. label .. ")", string.format("%.2fx", wall / decode), "<= 1.3x", wall / decode <= 1.3)
