-- The fake Sentry: GET /api/0/organizations/{org}/profiling/chunks/ as the
-- real server answers it (../../../shared/api/profiling-chunks.md, part 2),
-- over real HTTP (lua-http + cqueues), plain and TLS. Runs under LuaJIT:
--
--   luajit spec/server/sentry_server.lua --port 0 --port-file F
--       [--tls-port 0 --tls-port-file F2 --cert CERT.pem --key KEY.pem]
--       [--pid-file P] [--now EPOCH] [--idle SECONDS]
--
-- Binds 127.0.0.1 (ephemeral with port 0) and writes each chosen port to its
-- file only once listening (pid file first, TLS port next, plain port last,
-- each by rename, so a reader that sees the plain port file sees them all).
-- It stops by itself after --idle seconds (120) without a request and as
-- soon as its parent process goes away, so CI never keeps orphans.
--
-- The fixed world ----------------------------------------------------------
--   token     sntrys_testtoken_0123456789abcdef  (Authorization: Bearer ...)
--   orgs      "test-org" (continuous profiling on), "no-profiling" (off:
--             404 with an empty body), anything else unknown (404 detail)
--   projects  1 accessible; 2 exists but is forbidden; any other number 403
--   T0        1779955200 (2026-05-28T08:00:00Z); chunk k covers
--             [T0 + 60k, T0 + 60k + 60)
--   profilers (32 hex digits), data from bench/gen.lua
--     6a1f0c3e9b8d4f2a8e7c5b3d1f0e9a87  realistic: python, 4 threads, 101 Hz,
--                                       240 chunks over [T0, T0 + 4 h)
--                                       (the contract's sizes: ~110 MB and
--                                       ~1.2 M samples for 50 chunks)
--     5e7a1c9d3b6f4a2e8c0d7b5a3f1e9c64  service: python, the generator's
--                                       default 10 threads, 101 Hz, 60 chunks
--                                       over [T0, T0 + 1 h)
--     a9c3e5f7b1d24680a2c4e6f8b0d21357  ios: cocoa, 8 threads, 101 Hz, 60
--                                       chunks over [T0, T0 + 1 h)
--     3b9e1d7c5a2f4e6b8d0c1a3e5f7b9d2c  light: 1 thread, 5 Hz, 240 chunks
--                                       over [T0, T0 + 4 h) (cheap cap tests)
--     da7da7da7da7da7da7da7da7da7da7da  day: python, 4 threads, 101 Hz, 1,440
--                                       chunks over [T0, T0 + 24 h) (about
--                                       3 GB of JSON: make bench's day, with
--                                       --disk-cache); not listed
--     c0ffee00c0ffee00c0ffee00c0ffee00  one small chunk, 2 threads, 10 Hz,
--                                       [T0 + 600, T0 + 660)
--     dead0000dead0000dead0000dead0000  one chunk at [T0, T0 + 60) that is
--                                       missing in storage (404, empty)
--     4ece0700000000000000000000000000  "recent": like light (1 thread, 5 Hz,
--                                       240 chunks) but ending at now, the
--                                       last 4 h before --now (start the
--                                       server with --now os.time() to test
--                                       stats_period against the real
--                                       clock); not listed by the events
--                                       endpoint
--   --disk-cache DIR  keep every 200 chunks answer as a file in DIR and
--             stream it from there (this run and later ones): the day's
--             windows are generated once, and the server holds none of
--             them in memory
--   --answer-cache DIR  keep every generated 200 chunks answer as a file in
--             DIR too, and take it from there instead of generating it
--             again; the body is read back whole and served exactly as a
--             generated one (unlike --disk-cache). make test gives every
--             server of one run the same fresh DIR: the passes of each Lua
--             share what bench/gen.lua made once (seconds for each large
--             answer; the compression bombs too)
--   now       --now, default T0 + 4 h (1779969600): statsPeriod and the
--             default 90-day window end there. Rate-limit Reset headers use
--             the real clock, because clients sleep until them.
--
-- Also GET /api/0/projects/{org}/{slug}/ (slug "backend" is project 1,
-- "secret" project 2, forbidden), for resolving slugs from profile URLs.
--
-- Fault injection: put /_test/<faults>/ before /api/0/..., so a client whose
-- base URL is http://127.0.0.1:PORT/_test/gzip works unchanged. <faults> is
-- comma separated:
--   gzip | deflate   Content-Encoding gzip / deflate (zlib), whatever the
--                    client's Accept-Encoding says
--   chunked          Transfer-Encoding: chunked, 4 KB pieces
--   slow             body in >= 20 pieces, 75 ms apart (about 1.5 s)
--   cut              Content-Length announced, half the body, then close
--   reset            chunked, a few pieces, then close without the last chunk
--   stall[=S]        headers and 100 bytes, then silence for S s (30), close
--   drip=MS          the body one byte every MS milliseconds (headers at once)
--   429xN | 503xN    the first N requests carrying this exact <faults> text
--                    answer 429 (bare JSON string) / 503, Reset = now + 1
--   500              500 {"detail":"Internal Error","errorId":"..."}
--   html             200 text/html (a login page, as a captive proxy sends)
--   badjson          200 application/json whose body is not valid JSON
--   redirect=URL     302 to URL .. /api/0/... .. ?query; URL percent-encoded
--                    (redirect=http%3A%2F%2Flocalhost%3A8080)
--   latency=MS       wait MS milliseconds before answering
--   tag=X            ignored; gives 429xN / 503xN a fresh counter
--   noids            the chunks answer without "debug_chunk_ids" (as a
--                    server that does not send them)
-- The hostile ones (spec/hostile_spec.lua), values percent-encoded:
--   raw=BYTES        write BYTES to the socket verbatim (status line,
--                    headers, body, framing: anything) and close
--   trickle=MS       with raw: one byte every MS milliseconds
--   header=NAME:VAL  set this header on the answer (replacing one of that
--                    name: X-Sentry-Rate-Limit-Reset, Link, ...); repeatable
--   body=TEXT        200 application/json with TEXT as the body (status=N:
--                    another status)
--   echo             the request's Authorization value in X-Echo (a server
--                    that reflects credentials): the only fault that echoes it
--   loop             302 to the very URL requested (a same-origin loop)
--   http09           no status line: a line of text, then close (curl says
--                    "Received HTTP/0.9 when not allowed")
--   bomb[=MB]        200 JSON, gzip: a chunks answer padded with MB (96) MB of spaces, about
--                    1 KB per MB on the wire (a compression bomb)
--   bigerror         500 text/plain with a 200 KB body
-- GET /_test/log returns the last 500 requests as JSON lines (method, path,
-- query, host, tls, auth_present, auth_valid, status); ?clear=1 empties it
-- afterwards. The token itself is never logged, nor echoed but by `echo`.

local script_dir = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = script_dir .. "/../../"
package.path = root .. "bench/?.lua;" .. package.path

local cqueues = require "cqueues"
local http_server = require "http.server"
local http_headers = require "http.headers"
local zlib = require "zlib"
local unistd = require "posix.unistd"
local gen = require "gen"

local floor, format, concat = math.floor, string.format, table.concat

-- The world ---------------------------------------------------------------

local TOKEN = "sntrys_testtoken_0123456789abcdef"
local ORG = "test-org"
local ORG_NO_PROFILING = "no-profiling"
local PROJECT_OK, PROJECT_FORBIDDEN = 1, 2
local T0 = gen.T0
local CHUNK_SECONDS = 60
local MAX_CHUNKS = 50
local DEFAULT_WINDOW = 90 * 86400

local PROFILERS = {
  ["6a1f0c3e9b8d4f2a8e7c5b3d1f0e9a87"] = { first = 0, count = 240, threads = 4, hz = 101 },
  ["5e7a1c9d3b6f4a2e8c0d7b5a3f1e9c64"] = { first = 0, count = 60, threads = 10, hz = 101 },
  ["a9c3e5f7b1d24680a2c4e6f8b0d21357"] = { first = 0, count = 60, threads = 8, hz = 101, platform = "cocoa" },
  ["3b9e1d7c5a2f4e6b8d0c1a3e5f7b9d2c"] = { first = 0, count = 240, threads = 1, hz = 5 },
  ["da7da7da7da7da7da7da7da7da7da7da"] = { first = 0, count = 1440, threads = 4, hz = 101, unlisted = true },
  ["c0ffee00c0ffee00c0ffee00c0ffee00"] = { first = 10, count = 1, threads = 2, hz = 10 },
  ["dead0000dead0000dead0000dead0000"] = { first = 0, count = 1, threads = 1, hz = 5, missing = true },
}

local RECENT_ID = "4ece0700000000000000000000000000"

local RATE_LIMIT, RATE_WINDOW = 40, 1
local CONCURRENT_LIMIT = 25
local MAX_LOG = 500

-- Options -----------------------------------------------------------------

local opts = { port = "0", ["tls-port"] = "0", idle = "120", now = tostring(T0 + 4 * 3600) }
do
  local i = 1
  while i <= #arg do
    local name = arg[i]:match("^%-%-(.+)$")
    if not name or arg[i + 1] == nil then
      io.stderr:write("sentry_server: bad arguments near '", tostring(arg[i]), "'\n")
      os.exit(2)
    end
    opts[name] = arg[i + 1]
    i = i + 2
  end
end
local NOW = tonumber(opts.now)
-- "recent": 240 one-minute chunks, the last one ending at or before NOW.
PROFILERS[RECENT_ID] = { first = floor((NOW - T0) / CHUNK_SECONDS) - 240, count = 240, threads = 1, hz = 5,
  unlisted = true }
local IDLE_SECONDS = tonumber(opts.idle)

-- Small helpers -----------------------------------------------------------

local function url_decode(s)
  s = s:gsub("+", " ")
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- Query string to {name = {values...}}, keeping repeated parameters.
local function parse_query(q)
  local params = {}
  for pair in (q or ""):gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=(.*)$")
    if not k then k, v = pair, "" end
    k, v = url_decode(k), url_decode(v)
    local list = params[k]
    if not list then list = {}; params[k] = list end
    list[#list + 1] = v
  end
  return params
end

local function first(params, name)
  local list = params[name]
  return list and list[1] or nil
end

local random_state = 12345
local function random_hex32()
  local parts = {}
  for i = 1, 4 do
    random_state = (random_state * 48271) % 2147483647
    parts[i] = format("%08x", random_state)
  end
  return concat(parts)
end

-- Days from 1970-01-01 to a civil date (proleptic Gregorian): pure arithmetic,
-- so the server's time zone cannot leak in.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = floor((153 * mp + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

-- ISO-8601 to epoch seconds (fraction kept exactly); naive times are UTC.
local function parse_iso8601(s)
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil end
  local h, mi, sec, frac, zone = 0, 0, 0, "", ""
  if rest ~= "" then
    local hh, mm, tail = rest:match("^[T ](%d%d):(%d%d)(.*)$")
    if not hh then return nil end
    h, mi = tonumber(hh), tonumber(mm)
    local ss, tail2 = tail:match("^:(%d%d)(.*)$")
    if ss then sec, tail = tonumber(ss), tail2 end
    local f, tail3 = tail:match("^(%.%d+)(.*)$")
    if f then frac, tail = f, tail3 end
    zone = tail
  end
  local offset = 0
  if zone ~= "" and zone ~= "Z" and zone ~= "z" then
    local sign, zh, zm = zone:match("^([+-])(%d%d):?(%d%d)$")
    if not sign then return nil end
    offset = (tonumber(zh) * 3600 + tonumber(zm) * 60) * (sign == "-" and -1 or 1)
  end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return nil end
  local t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset
  if frac ~= "" then t = t + tonumber("0" .. frac) end
  return t
end

local PERIOD_UNITS = { s = 1, m = 60, h = 3600, d = 86400, w = 604800 }

-- Request log -------------------------------------------------------------

local request_log = {}
local function log_request(entry)
  request_log[#request_log + 1] = entry
  if #request_log > MAX_LOG then table.remove(request_log, 1) end
end

-- Rate limits -------------------------------------------------------------

local rate_window_start, rate_count = 0, 0
local in_flight = 0

local function rate_headers(headers, limited)
  local now = os.time()
  if now >= rate_window_start + RATE_WINDOW then
    rate_window_start, rate_count = now, 0
  end
  rate_count = rate_count + 1
  local remaining = RATE_LIMIT - rate_count
  if remaining < 0 or limited then remaining = 0 end
  local reset = limited and (now + 1) or (rate_window_start + RATE_WINDOW)
  headers:append("x-sentry-rate-limit-limit", tostring(RATE_LIMIT))
  headers:append("x-sentry-rate-limit-remaining", tostring(remaining))
  headers:append("x-sentry-rate-limit-reset", format("%d", reset))
  headers:append("x-sentry-rate-limit-concurrentlimit", tostring(CONCURRENT_LIMIT))
  local concurrent_remaining = CONCURRENT_LIMIT - in_flight
  if concurrent_remaining < 0 then concurrent_remaining = 0 end
  headers:append("x-sentry-rate-limit-concurrentremaining", tostring(concurrent_remaining))
end

-- Answers -----------------------------------------------------------------

local JSON = "application/json"
local TEXT = "text/plain; charset=utf-8"

local function detail(status, message)
  return { status = status, body = gen.encode({ detail = message }), ctype = JSON }
end

local answer_cache, cache_order = {}, {}
local CACHE_ENTRIES = 6

local function cache_put(key, value)
  if answer_cache[key] == nil then
    cache_order[#cache_order + 1] = key
    if #cache_order > CACHE_ENTRIES then
      answer_cache[table.remove(cache_order, 1)] = nil
    end
  end
  answer_cache[key] = value
end

-- With the folder option `option` (--disk-cache, --answer-cache): the file
-- that holds (or will hold) the answer of key.
local function cache_path(option, key)
  if not opts[option] then return nil end
  return opts[option] .. "/" .. key:gsub("[^%w%.]", "_") .. ".json"
end
local function disk_path(key) return cache_path("disk-cache", key) end
local function answer_cache_path(key) return cache_path("answer-cache", key) end

local function read_whole(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return text
end

-- Written whole, then renamed: servers of two passes may write it at once.
local function write_shared(path, text)
  local part = format("%s.%d.part", path, unistd.getpid())
  local f = assert(io.open(part, "wb"))
  assert(f:write(text))
  f:close()
  assert(os.rename(part, path))
end

local function file_size(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:close()
  return size
end

-- The merged answer for one profiler and window, or an error response.
local function chunks_answer(profiler_id, start, end_, noids)
  local key = format("%s|%.6f|%.6f|%s", profiler_id, start, end_, noids and "noids" or "")
  local cached = answer_cache[key]
  if cached then return cached end
  local path = disk_path(key)
  local size = path and file_size(path)
  if size then
    cached = { status = 200, file = path, size = size, ctype = JSON }
    cache_put(key, cached)
    return cached
  end
  local shared = answer_cache_path(key)
  local text = shared and read_whole(shared)
  if text then
    cached = { status = 200, body = text, ctype = JSON }
    cache_put(key, cached)
    return cached
  end
  local p = PROFILERS[profiler_id]
  local picked = {}
  if p then
    -- Newest first, at most 50: a longer window silently loses its oldest data.
    for k = p.first + p.count - 1, p.first, -1 do
      local chunk_start = T0 + k * CHUNK_SECONDS
      if chunk_start < end_ and chunk_start + CHUNK_SECONDS > start then
        picked[#picked + 1] = k
        if #picked == MAX_CHUNKS then break end
      end
    end
  end
  local result
  if #picked == 0 then
    result = { status = 400, body = "error: no chunks found to merge", ctype = TEXT }
  elseif p.missing then
    result = { status = 404, body = "", ctype = JSON }
  else
    local list = {}
    for i = 1, #picked do
      list[i] = gen.chunk_table { profiler_id = profiler_id, index = picked[i],
        threads = p.threads, hz = p.hz, seed = 1, platform = p.platform }
    end
    local answer = gen.answer(list, start, end_)
    if noids then answer.debug_chunk_ids = nil end
    list = nil
    result = { status = 200, body = gen.encode(answer), ctype = JSON }
    answer = nil
    if shared then write_shared(shared, result.body) end
    if path then -- written whole, then renamed: a file there is complete
      local f = assert(io.open(path .. ".part", "wb"))
      assert(f:write(result.body))
      f:close()
      assert(os.rename(path .. ".part", path))
      result = { status = 200, file = path, size = #result.body, ctype = JSON }
    end
    collectgarbage()
  end
  cache_put(key, result)
  return result
end

-- Validation in the contract's order; returns {status, body, ctype}.
-- The 401 answer for a missing or wrong bearer token, or nil when valid.
local function unauthorized(authorization)
  if not authorization then
    return detail(401, "Authentication credentials were not provided.")
  end
  local scheme, token = authorization:match("^(%S+)%s+(.-)%s*$")
  if not scheme or scheme:lower() ~= "bearer" or token ~= TOKEN then
    return detail(401, "Invalid token")
  end
  return nil
end

-- GET /api/0/projects/{org}/{slug}/: a project's details, the part a
-- client needs to resolve a slug from a profile URL to its id.
local PROJECTS = {
  backend = { id = "1", slug = "backend", name = "Backend", platform = "python" },
  secret = { id = "2", slug = "secret", name = "Secret", platform = "python" },
}

local function project_endpoint(org, slug, authorization)
  local denied = unauthorized(authorization)
  if denied then return denied end
  local project = (org == ORG or org == ORG_NO_PROFILING) and PROJECTS[slug]
  if not project then return detail(404, "The requested resource does not exist") end
  if project.id ~= tostring(PROJECT_OK) then
    return detail(403, "You do not have permission to perform this action.")
  end
  return { status = 200, ctype = JSON, body = gen.encode(project) }
end

-- GET /api/0/organizations/{org}/events/?dataset=spans&field=profiler.id
-- &field=thread.id&field=precise.start_ts&field=precise.finish_ts&project=
-- ID: spans that carry a profiler id (a span every ten chunks, per thread,
-- of every known profiler), in pages of per_page (at most 100) with the
-- real server's Link header and "0:OFFSET:0" cursors.
local function span_rows()
  local ids, rows = {}, {}
  for id, p in pairs(PROFILERS) do
    if not p.unlisted then ids[#ids + 1] = id end
  end
  table.sort(ids)
  for _, id in ipairs(ids) do
    local p = PROFILERS[id]
    -- The ids of the threads in the profile's samples.
    local threads = gen.threads { profiler_id = id, threads = p.threads, seed = 1, platform = p.platform }
    for t = 1, p.threads do
      for k = p.first, p.first + p.count - 1, 10 do
        local start = T0 + 60 * k
        rows[#rows + 1] = { ["profiler.id"] = id, ["thread.id"] = threads[t].id,
          ["precise.start_ts"] = start + 0.25, ["precise.finish_ts"] = start + 30.5 }
      end
    end
  end
  return rows
end

local function events_endpoint(org, params, authorization, url_base)
  local denied = unauthorized(authorization)
  if denied then return denied end
  if org ~= ORG and org ~= ORG_NO_PROFILING then return detail(404, "The requested resource does not exist") end
  if first(params, "dataset") ~= "spans" then return detail(400, "Invalid dataset") end
  if tonumber(first(params, "project") or "") ~= PROJECT_OK then
    return detail(403, "You do not have permission to perform this action.")
  end
  local per_page = math.min(tonumber(first(params, "per_page") or "") or 100, 100)
  local offset = tonumber((first(params, "cursor") or "0:0:0"):match("^%d+:(%d+):%d+$") or "0")
  local rows, data = span_rows(), {}
  for i = offset + 1, math.min(offset + per_page, #rows) do data[#data + 1] = rows[i] end
  local function link(rel, off, results)
    return format('<%s&cursor=0:%d:0>; rel="%s"; results="%s"; cursor="0:%d:0"', url_base, off, rel, results, off)
  end
  local prev = offset > 0 and offset - per_page or 0
  return { status = 200, ctype = JSON, body = gen.encode({ data = gen.array(data),
      meta = { fields = { ["profiler.id"] = "string", ["thread.id"] = "string",
        ["precise.start_ts"] = "number", ["precise.finish_ts"] = "number" } } }),
    link = link("previous", prev < 0 and 0 or prev, offset > 0 and "true" or "false") .. ", "
      .. link("next", offset + per_page, offset + per_page < #rows and "true" or "false") }
end

local function chunks_endpoint(org, params, authorization, faults)
  if org == ORG_NO_PROFILING then return { status = 404, body = "", ctype = JSON } end
  if org ~= ORG then return detail(404, "The requested resource does not exist") end

  local denied = unauthorized(authorization)
  if denied then return denied end

  local projects = params.project or {}
  local numeric, distinct, not_numbers = {}, 0, false
  for _, v in ipairs(projects) do
    if v:match("^%-?%d+$") then
      local id = tonumber(v)
      if id ~= PROJECT_OK then
        return detail(403, "You do not have permission to perform this action.")
      end
      if not numeric[id] then numeric[id] = true; distinct = distinct + 1 end
    else
      not_numbers = true
    end
  end
  if not_numbers then return detail(400, "Invalid project parameter. Values must be numbers.") end
  if distinct ~= 1 then return detail(400, "one project_id must be specified.") end

  local profiler_id = first(params, "profiler_id")
  if not profiler_id or profiler_id == "" then
    return detail(400, "profiler_id must be specified.")
  end

  local start, end_
  local period = first(params, "statsPeriod")
  local start_text, end_text = first(params, "start"), first(params, "end")
  if start_text == "" then start_text = nil end
  if end_text == "" then end_text = nil end
  if period and period ~= "" then
    local n, unit = period:match("^(%d+)([smhdw]?)$")
    if not n then
      return detail(400, format("Invalid date range: Invalid statsPeriod: '%s'", period))
    end
    start, end_ = NOW - tonumber(n) * PERIOD_UNITS[unit ~= "" and unit or "s"], NOW
  elseif start_text or end_text then
    if not (start_text and end_text) then
      return detail(400, "Invalid date range: start and end are both required")
    end
    start, end_ = parse_iso8601(start_text), parse_iso8601(end_text)
    if not start then
      return detail(400, format("Invalid date range: '%s' is not a valid ISO-8601 date", start_text))
    end
    if not end_ then
      return detail(400, format("Invalid date range: '%s' is not a valid ISO-8601 date", end_text))
    end
    if start >= end_ then
      return detail(400, "Invalid date range: start must be before end")
    end
  else
    start, end_ = NOW - DEFAULT_WINDOW, NOW
  end
  return chunks_answer(profiler_id, start, end_, faults.noids)
end

-- Faults ------------------------------------------------------------------

local fault_counters = {}

local function parse_faults(text)
  local faults = { text = text }
  for item in text:gmatch("[^,]+") do
    local name, value = item:match("^([^=]+)=(.*)$")
    if name == "header" then
      faults.headers = faults.headers or {}
      faults.headers[#faults.headers + 1] = url_decode(value)
    elseif name then
      faults[name] = url_decode(value)
    else
      local kind, count = item:match("^(%d%d%d)x(%d+)$")
      if kind then
        faults["x" .. kind] = tonumber(count)
      else
        faults[item] = true
      end
    end
  end
  return faults
end

-- True while the first N requests with this fault text are being refused.
local function take_refusal(faults, kind)
  local n = faults["x" .. kind]
  if not n then return false end
  local key = kind .. "|" .. faults.text
  local used = fault_counters[key] or 0
  if used >= n then return false end
  fault_counters[key] = used + 1
  return true
end

local function compress(body, window_bits)
  local deflate = zlib.deflate(6, window_bits)
  return (deflate(body, "finish"))
end

-- A chunks answer with mb MB of spaces inside (its debug_chunk_ids: ["0"]),
-- gzip-compressed piece by piece (never held whole), made once per size.
local bomb_bodies = {}
local function bomb(mb)
  local shared = answer_cache_path("bomb|" .. mb)
  if not bomb_bodies[mb] and shared then bomb_bodies[mb] = read_whole(shared) end
  if not bomb_bodies[mb] then
    local deflate = zlib.deflate(9, 31)
    local parts, spaces = {}, string.rep(" ", 1024 * 1024)
    local function put(out) if type(out) == "string" then parts[#parts + 1] = out end end
    put(deflate('{"chunk":{"profile":{"frames":[],"stacks":[],"samples":[]}},"debug_chunk_ids":['))
    for _ = 1, mb do put(deflate(spaces)) end
    put(deflate('"0"]}', "finish"))
    bomb_bodies[mb] = concat(parts)
    if shared then write_shared(shared, bomb_bodies[mb]) end
  end
  return bomb_bodies[mb]
end

local function close_connection(stream)
  local socket = stream.connection and stream.connection.socket
  if socket then
    pcall(socket.flush, socket, 5)
    pcall(socket.shutdown, socket)
  end
end

-- Writes one response, shaped by the body faults.
local function send(stream, response, faults, entry)
  local status, body = response.status, response.body or ""
  local plain = not (faults.gzip or faults.deflate or faults.chunked or faults.reset or faults.cut
    or faults.stall or faults.slow or faults.drip)
  if response.file and not plain then -- faults shape a body held in memory
    local f = assert(io.open(response.file, "rb"))
    body = f:read("*a")
    f:close()
  end
  local headers = http_headers.new()
  headers:append(":status", tostring(status))
  rate_headers(headers, response.limited)
  if response.ctype then headers:append("content-type", response.ctype) end
  if response.location then headers:append("location", response.location) end
  if response.link then headers:append("link", response.link) end
  if faults.echo_value then headers:append("x-echo", faults.echo_value) end
  for _, h in ipairs(faults.headers or {}) do
    local name, value = h:match("^([^:]+):%s*(.*)$")
    if name then headers:upsert(name:lower(), value) end
  end
  entry.status = status

  if response.encoded then
    headers:append("content-encoding", response.encoded)
  elseif faults.gzip and body ~= "" then
    local key = "gzip"
    local cache = response.compressed or {}
    response.compressed = cache
    cache[key] = cache[key] or compress(body, 31)
    body = cache[key]
    headers:append("content-encoding", "gzip")
  elseif faults.deflate and body ~= "" then
    local cache = response.compressed or {}
    response.compressed = cache
    cache.deflate = cache.deflate or compress(body, 15)
    body = cache.deflate
    headers:append("content-encoding", "deflate")
  end

  if response.file and plain then -- streamed from the disk cache, 64 KB at a time
    headers:append("content-length", tostring(response.size))
    stream:write_headers(headers, false)
    local f = assert(io.open(response.file, "rb"))
    local sent = 0
    while sent < response.size do
      local piece = f:read(65536)
      if not piece then break end
      sent = sent + #piece
      stream:write_chunk(piece, sent >= response.size)
    end
    f:close()
    return
  end

  local streamed = faults.chunked or faults.reset
  if not streamed then headers:append("content-length", tostring(#body)) end
  if body == "" and not streamed then
    stream:write_headers(headers, true)
    return
  end
  stream:write_headers(headers, false)

  if faults.cut then
    stream:write_chunk(body:sub(1, floor(#body / 2)), false)
    close_connection(stream)
    return
  end
  if faults.stall then
    stream:write_chunk(body:sub(1, 100), false)
    cqueues.sleep(tonumber(faults.stall) or 30)
    close_connection(stream)
    return
  end
  if faults.drip then
    local ms = tonumber(faults.drip) or 100
    for i = 1, #body do
      stream:write_chunk(body:sub(i, i), i == #body)
      if i < #body then cqueues.sleep(ms / 1000) end
    end
    return
  end
  if faults.reset then
    local piece = 4096
    local limit = math.min(#body - 1, 3 * piece)
    for i = 1, limit, piece do
      stream:write_chunk(body:sub(i, math.min(i + piece - 1, limit)), false)
    end
    close_connection(stream)
    return
  end
  if faults.slow then
    local pieces = 20
    local size = math.max(1, math.ceil(#body / pieces))
    for i = 1, #body, size do
      local last = i + size - 1
      stream:write_chunk(body:sub(i, last), last >= #body)
      if last < #body then cqueues.sleep(0.075) end
    end
    return
  end
  if faults.chunked then
    local size = 4096
    for i = 1, #body, size do
      stream:write_chunk(body:sub(i, i + size - 1), i + size > #body)
    end
    return
  end
  -- in 64 KB pieces, as from the disk cache: written whole, a body is
  -- copied into a socket buffer of its size, whose fresh pages cost the
  -- 50-chunk answer 0.4 s (as much as its decode)
  local piece = 65536
  for i = 1, #body, piece do
    stream:write_chunk(body:sub(i, i + piece - 1), i + piece > #body)
  end
end

-- Writes bytes to the connection's socket as they are (optionally one
-- byte every `trickle` ms), then closes it: framing the HTTP library would
-- never produce.
local function send_raw(stream, bytes, trickle, entry)
  local socket = stream.connection and stream.connection.socket
  entry.status = tonumber(bytes:match("^HTTP/%S+ (%d%d%d)") or "")
  if not socket then return end
  if trickle then
    for i = 1, #bytes do
      if not socket:xwrite(bytes:sub(i, i), "n") then break end
      if not socket:flush("n", 5) then break end
      cqueues.sleep(trickle / 1000)
    end
  else
    socket:xwrite(bytes, "n")
  end
  close_connection(stream)
end

-- Requests ----------------------------------------------------------------

local last_activity = cqueues.monotime()

local function log_lines(clear)
  local lines = {}
  for i, e in ipairs(request_log) do
    lines[i] = gen.encode({
      method = e.method, path = e.path, query = e.query, host = e.host or gen.null,
      tls = e.tls, auth_present = e.auth_present, auth_valid = e.auth_valid,
      status = e.status or gen.null, faults = e.faults or gen.null,
    })
  end
  if clear then request_log = {} end
  return #lines > 0 and (concat(lines, "\n") .. "\n") or ""
end

local function onstream(_, stream)
  last_activity = cqueues.monotime()
  local req, err = stream:get_headers()
  if not req then return end
  local method = req:get(":method") or ""
  local target = req:get(":path") or "/"
  local path, query = target:match("^([^?]*)%??(.*)$")
  local authorization = req:get("authorization")

  if path == "/_test/log" then
    local params = parse_query(query)
    local headers = http_headers.new()
    headers:append(":status", "200")
    headers:append("content-type", "application/x-ndjson")
    local body = log_lines(first(params, "clear") == "1")
    headers:append("content-length", tostring(#body))
    stream:write_headers(headers, body == "")
    if body ~= "" then stream:write_chunk(body, true) end
    return
  end

  local auth_valid = false
  if authorization then
    local scheme, token = authorization:match("^(%S+)%s+(.-)%s*$")
    auth_valid = scheme ~= nil and scheme:lower() == "bearer" and token == TOKEN
  end
  local entry = { method = method, path = path, query = query, host = req:get(":authority"),
    tls = stream:checktls() ~= nil, auth_present = authorization ~= nil, auth_valid = auth_valid }
  log_request(entry)

  local faults = {}
  local fault_text, api_path = path:match("^/_test/([^/]+)(/.*)$")
  if fault_text then
    faults = parse_faults(fault_text)
    entry.faults = fault_text
    path = api_path
  end

  in_flight = in_flight + 1
  local ok, failure = pcall(function()
    if faults.latency then cqueues.sleep((tonumber(faults.latency) or 0) / 1000) end
    local response
    if faults.raw then
      return send_raw(stream, faults.raw, tonumber(faults.trickle), entry)
    end
    if faults.loop then
      response = { status = 302, body = "", location = "http://" .. (req:get(":authority") or "127.0.0.1") .. target }
    elseif faults.body then
      response = { status = tonumber(faults.status) or 200, ctype = JSON, body = faults.body }
    elseif faults.redirect then
      local location = faults.redirect .. path .. (query ~= "" and ("?" .. query) or "")
      response = { status = 302, body = "", location = location }
    elseif take_refusal(faults, "429") then
      response = { status = 429, limited = true, ctype = JSON, body = gen.encode(format(
        "You are attempting to use this endpoint too frequently. Limit is %d requests in %d seconds",
        RATE_LIMIT, RATE_WINDOW)) }
    elseif take_refusal(faults, "503") then
      response = { status = 503, limited = true, ctype = JSON,
        body = gen.encode({ detail = "Service Unavailable" }) }
    elseif faults["500"] then
      response = { status = 500, ctype = JSON,
        body = gen.encode({ detail = "Internal Error", errorId = random_hex32() }) }
    elseif faults.http09 then
      local socket = stream.connection and stream.connection.socket
      if socket then
        pcall(socket.write, socket, "this is not an HTTP answer\r\n")
        close_connection(stream)
      end
      return
    elseif faults.bomb then
      response = { status = 200, ctype = JSON, encoded = "gzip",
        body = bomb(math.min(tonumber(faults.bomb) or 96, 4096)) }
    elseif faults.bigerror then
      response = { status = 500, ctype = "text/plain", body = string.rep("Internal error. ", 12800) }
    elseif faults.badjson then
      response = { status = 200, ctype = "application/json",
        body = '{"chunk": {"chunk_id": "0123", "profile": {"samples": [1, 2,, 3]}}}' }
    elseif faults.html then
      response = { status = 200, ctype = "text/html; charset=utf-8", body =
        "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>" ..
        "<body><form action=\"/login\">Please sign in</form></body></html>\n" }
    else
      local org = path:match("^/api/0/organizations/([^/]+)/profiling/chunks/?$")
      local porg, slug = path:match("^/api/0/projects/([^/]+)/([^/]+)/?$")
      local eorg = path:match("^/api/0/organizations/([^/]+)/events/?$")
      if eorg and method == "GET" then
        local base = (query or ""):gsub("&?cursor=[^&]*", "")
        local host = req:get(":authority") or "127.0.0.1"
        response = events_endpoint(url_decode(eorg), parse_query(query), authorization,
          "http://" .. host .. path .. "?" .. base)
      elseif porg and (method == "GET" or method == "HEAD") then
        response = project_endpoint(url_decode(porg), url_decode(slug), authorization)
      elseif not org then
        response = detail(404, "The requested resource does not exist")
      elseif method ~= "GET" and method ~= "HEAD" then
        response = detail(405, format('Method "%s" not allowed.', method))
      else
        response = chunks_endpoint(url_decode(org), parse_query(query), authorization, faults)
      end
    end
    if faults.echo then faults.echo_value = authorization or "" end
    send(stream, response, faults, entry)
  end)
  in_flight = in_flight - 1
  if not ok then
    io.stderr:write("sentry_server: ", tostring(failure), "\n")
  end
end

-- Startup -----------------------------------------------------------------

local function write_file_atomically(path, text)
  local tmp = path .. ".tmp"
  local f = assert(io.open(tmp, "w"))
  f:write(text, "\n")
  f:close()
  assert(os.rename(tmp, path))
end

local function onerror(_, context, op, err)
  -- Clients that hang up early are normal in fault tests; say nothing.
  if op == "onstream" then io.stderr:write("sentry_server: ", tostring(err), "\n") end
end

local cq = cqueues.new()

local plain = assert(http_server.listen {
  host = "127.0.0.1", port = tonumber(opts.port), tls = false, cq = cq,
  onstream = onstream, onerror = onerror, reuseaddr = true,
})
assert(plain:listen())

local tls
if opts.cert and opts.key then
  local tls_ctx = require("http.tls").new_server_context()
  local x509 = require "openssl.x509"
  local pkey = require "openssl.pkey"
  local function slurp(p)
    local f = assert(io.open(p, "rb"))
    local s = f:read("*a")
    f:close()
    return s
  end
  assert(tls_ctx:setCertificate(x509.new(slurp(opts.cert), "PEM")))
  assert(tls_ctx:setPrivateKey(pkey.new(slurp(opts.key), "PEM")))
  tls = assert(http_server.listen {
    host = "127.0.0.1", port = tonumber(opts["tls-port"]), tls = true, ctx = tls_ctx, cq = cq,
    onstream = onstream, onerror = onerror, reuseaddr = true,
  })
  assert(tls:listen())
end

if opts["pid-file"] then write_file_atomically(opts["pid-file"], tostring(unistd.getpid())) end
if tls and opts["tls-port-file"] then
  local _, _, tls_port = tls:localname()
  write_file_atomically(opts["tls-port-file"], tostring(tls_port))
end
local _, _, port = plain:localname()
if opts["port-file"] then write_file_atomically(opts["port-file"], tostring(port)) end
io.stderr:write(format("sentry_server: listening on 127.0.0.1:%d\n", port))

-- Watchdog: leave when idle or orphaned.
local parent = unistd.getppid()
cq:wrap(function()
  while true do
    cqueues.sleep(1)
    if unistd.getppid() ~= parent then os.exit(0) end
    if cqueues.monotime() - last_activity > IDLE_SECONDS then os.exit(0) end
  end
end)

-- Give the collector room: answers are large and short-lived.
collectgarbage("setpause", 150)

while true do
  local ok, err = cq:loop()
  if not ok then io.stderr:write("sentry_server: loop: ", tostring(err), "\n") end
end
