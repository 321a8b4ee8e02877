-- What `make demo` runs: fetch a profile and say where the time goes.
-- Without SENTRY_AUTH_TOKEN it starts the project's test server (a fake
-- Sentry with realistic data: a Python web service, ten threads) and fetches
-- ten minutes from it; with it, it
-- asks the Sentry named by SENTRY_URL / SENTRY_ORG for SENTRY_PROJECT (the
-- numeric project id) and SENTRY_PROFILER_ID over SENTRY_PERIOD (1h).
local chunks = require "sentry.chunks"
local analysis = require "sentry.chunks.analysis"
local core = require "sentry.chunks.core"

local srv, client, query
if os.getenv("SENTRY_AUTH_TOKEN") then
  local project, profiler = os.getenv("SENTRY_PROJECT"), os.getenv("SENTRY_PROFILER_ID")
  if not (project and profiler and os.getenv("SENTRY_ORG")) then
    io.stderr:write("demo: with SENTRY_AUTH_TOKEN set, also set SENTRY_ORG, SENTRY_PROJECT ",
      "(the numeric project id) and SENTRY_PROFILER_ID (32 hex digits)\n")
    os.exit(2)
  end
  client = chunks.client {}
  query = { project = project, profiler_id = profiler, stats_period = os.getenv("SENTRY_PERIOD") or "1h" }
  print("fetching from " .. tostring(client))
else
  local server = require "support.server"
  srv = server.start()
  -- the test server makes the window's data before its first byte, which
  -- takes seconds on a busy machine: more patience than a real Sentry needs
  client = chunks.client { token = srv.token, org = srv.org, base_url = srv.url, low_speed_time = 120 }
  query = { project = 1, profiler_id = server.PROFILER_IDS.service,
            start = server.T0, ["end"] = server.T0 + 600 }
  print("no SENTRY_AUTH_TOKEN: fetching ten minutes of a realistic profile from the test server at "
    .. srv.url)
end

local t0 = core.monotime()
local res, err, details = client:fetch(query)
local seconds = core.monotime() - t0
client:close()

-- The same profile through the command-line tool, from its Sentry URL.
local function cli_top(url)
  print("\n$ bin/sentry-chunks top '" .. url .. "' --limit 5")
  io.stdout:flush()
  local lua = os.getenv("SENTRY_CHUNKS_DEMO_LUA") or "lua5.4"
  local env = srv and string.format("SENTRY_AUTH_TOKEN='%s' SENTRY_ORG='%s' SENTRY_URL='%s' ",
    srv.token, srv.org, srv.url) or ""
  os.execute(env .. lua .. " bin/sentry-chunks top '" .. url .. "' --limit 5")
end
if not res then
  if srv then srv.stop() end
  io.stderr:write("demo: ", err, "\n")
  os.exit(1)
end

local chunk = res.chunk
if (details.windows or 1) > 1 then -- a range over 40 minutes: fetched in windows, merged
  print(string.format("\n%.1f MB in %.2f s (%d windows under the server's 50-chunk cap, %d empty), "
    .. "decoded while it arrived", (details.bytes or 0) / 1e6, seconds, details.windows, details.empty or 0))
else
  print(string.format("\n%.1f MB in %.2f s (HTTP %s, %s), decoded while it arrived",
    (details.bytes or 0) / 1e6, seconds, tostring(details.status), details.http_version))
end
if details.truncated then print("warning: answer may be truncated: " .. details.warning) end
print(string.format("chunk %s, platform %s, release %q", tostring(chunk.chunk_id),
  tostring(chunk.platform), tostring(chunk.release)))

local threads = analysis.threads(res)
local first, last, total = math.huge, -math.huge, 0
for _, t in ipairs(threads) do
  if t.first < first then first = t.first end
  if t.last > last then last = t.last end
  total = total + t.samples
end
print(string.format("%d samples in %d threads over %.1f s (%s to %s UTC)\n", total, #threads,
  last - first, os.date("!%H:%M:%S", math.floor(first)), os.date("!%H:%M:%S", math.floor(last))))
local id_width, name_width = 6, 4
for _, t in ipairs(threads) do
  if #t.id > id_width then id_width = #t.id end
  if t.name and #t.name > name_width then name_width = #t.name end
end
local row = "  %-" .. id_width .. "s  %-" .. name_width .. "s %8s %9s"
print(string.format(row, "thread", "name", "samples", "time s"))
for _, t in ipairs(threads) do
  print(string.format(row, t.id, t.name or "(no metadata)", t.samples, string.format("%.2f", t.time)))
end

local main = analysis.main_thread(res)
local top = analysis.top(res, { threads = main, limit = 10 })
print(string.format("\ntop functions of the main thread (%s) by self time, %s counting:", main, top.mode))
print(string.format("  %8s %6s %9s %6s  %s", "self s", "self%", "total s", "total%", "function"))
for _, e in ipairs(top.functions) do
  print(string.format("  %8.2f %5.1f%% %9.2f %5.1f%%  %s", e.self, e.self_pct, e.total, e.total_pct, e.name))
end

local paths = analysis.hot_paths(res, { threads = main, limit = 3 })
print("\nhottest paths (leaf last):")
for i, path in ipairs(paths) do
  local names = path.names
  local shown = #names > 4 and { names[1], "...", names[#names - 1], names[#names] } or names
  print(string.format("  %d. %5.1f%%  %s", i, path.pct, table.concat(shown, " > ")))
end

if srv then
  print("\nthe same profile through the command-line tool, from its URL:")
  cli_top(srv.url .. "/organizations/test-org/profiling/profile/backend/flamegraph/?profilerId="
    .. query.profiler_id .. "&start=2026-05-28T08:00:00Z&end=2026-05-28T08:10:00Z")
  srv.stop()
end
