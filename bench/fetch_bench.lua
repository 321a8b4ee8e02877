-- Fetching the 50-chunk answer over loopback from the test server, against
-- decoding the same bytes from memory and against the usual alternative
-- (curl writing to memory, then cjson.decode). Prints; asserts nothing.
--
--   LUA_PATH="lua/?.lua;lua/?/init.lua;spec/?.lua;bench/?.lua;;" \
--   LUA_CPATH="build/5.4/?.so;;" lua5.4 bench/fetch_bench.lua [ignored-file] [repeats]
--
-- Each measurement runs in a fresh child process (the same interpreter) so
-- its peak RSS (VmHWM above the process's start) is its own.
local MODES = {
  fetch = "client:fetch (streamed into tables)",
  fetch_gzip = "client:fetch, gzip on the wire",
  memory = "chunks.decode of the same bytes in memory",
  memory_gzip = "gunzip in memory + chunks.decode",
  curl_cjson = "curl to memory + cjson.decode",
  curl_cjson_gzip = "curl --compressed to memory + cjson.decode",
}

local function status_kb(field)
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match(field .. ":%s*(%d+)")) or 0
end

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("*a")
  f:close()
  return s
end

-- Child: one mode, prints "seconds peak_mb result_mb".
if arg[1] == "--child" then
  local mode, url, token, file = arg[2], arg[3], arg[4], arg[5]
  local chunks = require "sentry.chunks"
  local core = require "sentry.chunks.core"
  collectgarbage()
  collectgarbage()
  local base_rss = status_kb("VmRSS")
  local heap0 = collectgarbage("count")
  local value, t0, t1
  if mode == "fetch" or mode == "fetch_gzip" then
    local c = chunks.client { token = token, org = "test-org", base_url = url, timeout = 600 }
    t0 = core.monotime()
    value = assert(c:fetch { project = 1, profiler_id = "6a1f0c3e9b8d4f2a8e7c5b3d1f0e9a87",
      stats_period = "50m", split = false }) -- one request: the 50-chunk answer
    t1 = core.monotime()
    c:close()
  elseif mode == "memory" or mode == "memory_gzip" then
    local bytes = read_all(file)
    if mode == "memory_gzip" then
      local zlib = require "zlib"
      t0 = core.monotime()
      local plain = zlib.inflate()(bytes)
      bytes = nil
      value = assert(chunks.decode(plain))
    else
      t0 = core.monotime()
      value = assert(chunks.decode(bytes))
    end
    t1 = core.monotime()
  else
    local cjson = require "cjson"
    local cmd = "curl -sS " .. (mode == "curl_cjson_gzip" and "--compressed " or "")
      .. "-H " .. shell_quote("Authorization: Bearer " .. token) .. " "
      .. shell_quote(url .. "/api/0/organizations/test-org/profiling/chunks/"
        .. "?project=1&profiler_id=6a1f0c3e9b8d4f2a8e7c5b3d1f0e9a87&statsPeriod=50m")
    t0 = core.monotime()
    local p = assert(io.popen(cmd))
    local body = p:read("*a")
    p:close()
    value = cjson.decode(body)
    body = nil
    t1 = core.monotime()
  end
  collectgarbage()
  collectgarbage()
  local heap = collectgarbage("count") - heap0
  local peak = status_kb("VmHWM") - base_rss
  io.write(string.format("%.3f %.1f %.1f\n", t1 - t0, peak / 1024, heap / 1024))
  assert(value.chunk)
  os.exit(0)
end

-- Parent -------------------------------------------------------------------------
local server = require "support.server"
local core = require "sentry.chunks.core"
local chunks = require "sentry.chunks"
local targets = require "targets"
local repeats = tonumber(arg[2]) or 3

local function interpreter()
  local i = -1
  while arg[i - 1] do i = i - 1 end
  return arg[i]
end
local lua = interpreter()

local srv = server.start {}
local dir = srv.dir
local plain_file, gzip_file = dir .. "/answer.json", dir .. "/answer.json.gz"
local api = "/api/0/organizations/test-org/profiling/chunks/?project=1&profiler_id="
  .. "6a1f0c3e9b8d4f2a8e7c5b3d1f0e9a87&statsPeriod=50m"

local function sh(cmd)
  local ok = os.execute(cmd)
  assert(ok == true or ok == 0, cmd)
end

-- Warm the server's cache (it generates the merge once) and keep the bytes.
local auth = "-H " .. shell_quote("Authorization: Bearer " .. srv.token)
sh("curl -sS " .. auth .. " -o " .. shell_quote(plain_file) .. " " .. shell_quote(srv.url .. api))
sh("curl -sS " .. auth .. " -o " .. shell_quote(gzip_file) .. " "
  .. shell_quote(srv.url .. "/_test/gzip" .. api))
local size = #read_all(plain_file)
local gz_size = #read_all(gzip_file)

local function run(mode)
  local url = mode:find("gzip") and (srv.url .. "/_test/gzip") or srv.url
  local file = mode == "memory_gzip" and gzip_file or plain_file
  local best
  for _ = 1, repeats do
    local p = assert(io.popen(table.concat({ shell_quote(lua), "bench/fetch_bench.lua", "--child",
      mode, shell_quote(url), shell_quote(srv.token), shell_quote(file) }, " ")))
    local line = p:read("*l")
    p:close()
    local s, peak, heap = (line or ""):match("^(%S+) (%S+) (%S+)$")
    s, peak, heap = tonumber(s), tonumber(peak), tonumber(heap)
    if s and (not best or s < best.s) then best = { s = s, peak = peak, heap = heap } end
  end
  return best
end

print(string.format("50-chunk answer: %.1f MB of JSON, %.1f MB gzip; %s, best of %d, fresh process each",
  size / 1e6, gz_size / 1e6, _VERSION .. (jit and (" " .. jit.version) or ""), repeats))
local r = {}
for _, mode in ipairs { "memory", "fetch", "curl_cjson", "memory_gzip", "fetch_gzip", "curl_cjson_gzip" } do
  r[mode] = run(mode)
  local x = r[mode]
  if x then
    print(string.format("  %-44s %7.3f s  peak RSS +%7.1f MB  result %7.1f MB",
      MODES[mode], x.s, x.peak, x.heap))
  else
    print(string.format("  %-44s failed", MODES[mode]))
  end
end

local function ratio(a, b) return (r[a] and r[b]) and r[a].s / r[b].s or 0 / 0 end
local function rss(a) return r[a] and r[a].peak / r[a].heap or 0 / 0 end
print(string.format("  fetch / decode-from-memory:               %.2fx wall (target <= 1.15)", ratio("fetch", "memory")))
print(string.format("  curl+cjson / fetch:                       %.2fx wall (target >= 2)", ratio("curl_cjson", "fetch")))
print(string.format("  fetch peak RSS / result:                  %.2fx (target <= 1.15)", rss("fetch")))
print(string.format("  curl+cjson peak RSS / its result:         %.2fx", rss("curl_cjson")))
print(string.format("  gzip: fetch / (gunzip + decode):          %.2fx wall", ratio("fetch_gzip", "memory_gzip")))
print(string.format("  gzip: curl+cjson / fetch:                 %.2fx wall", ratio("curl_cjson_gzip", "fetch_gzip")))
print(string.format("  gzip: fetch peak RSS / result:            %.2fx", rss("fetch_gzip")))
local rt = targets.runtime()
targets.add("fetch / decode from memory, plain (" .. rt .. ")", string.format("%.2fx", ratio("fetch", "memory")),
  "<= 1.15x", ratio("fetch", "memory") <= 1.15)
targets.add("fetch / decode from memory, gzip (" .. rt .. ")", string.format("%.2fx", ratio("fetch_gzip", "memory_gzip")),
  "<= 1.15x", ratio("fetch_gzip", "memory_gzip") <= 1.15)
targets.add("curl + cjson / fetch, plain (" .. rt .. ")", string.format("%.2fx", ratio("curl_cjson", "fetch")),
  ">= 2x", ratio("curl_cjson", "fetch") >= 2)
targets.add("curl + cjson / fetch, gzip (" .. rt .. ")", string.format("%.2fx", ratio("curl_cjson_gzip", "fetch_gzip")),
  ">= 2x", ratio("curl_cjson_gzip", "fetch_gzip") >= 2)
srv.stop()
local _ = chunks and core
