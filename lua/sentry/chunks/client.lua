-- sentry.chunks.client: the Lua facade over the C transfer engine.
--
--   local client = chunks.client{ token =, org =, base_url =, timeout = 60,
--     connect_timeout = 10, retries = 3, max_bytes =, ca_file =, user_agent =,
--     on_progress = function(received, total) end,
--     low_speed_limit = 1, low_speed_time = 30,   -- a stall: < limit B/s for time s
--     max_wait = 60,        -- longest rate-limit wait honoured (seconds)
--     backoff = 0.5,        -- first 5xx/connection retry delay (seconds, doubled)
--     buffer_size = 1048576 }  -- the bounded buffer: bytes decoded per step
--   local res, err, details = client:fetch{ project = 1, profiler_id = "...",
--     stats_period = "1h" }          -- or start = ..., ["end"] = ...
--
-- res is the decoded answer; on failure res is nil, err a one-line message
-- and details a table (below). On success the third value is the details
-- table too (status, headers, rate_limit, bytes, seconds, windows = 1, and
-- truncated / warning when the answer looks cut by the server's 50-chunk
-- cap). A range over 40 minutes is fetched in windows and merged by
-- sentry.chunks.range (details: windows, empty, truncated, ...), unless
-- split = false.
--
-- details.kind:
--   invalid_argument  a query or client value is malformed; no request made
--   no_chunks         400 "error: no chunks found to merge": empty range
--   http              any other non-2xx answer (status, detail, body)
--   rate_limited      429 still after `retries` retries, or a wait > max_wait
--   content_type      a 2xx whose body is not JSON (a captive portal, ...)
--   redirect          a redirect to another origin or an invalid Location
--                     (refused: never followed), a loop, more than 5
--   unexpected_shape  a 2xx with valid JSON that is not a chunks answer
--                     (an Android chunk among them), a bad Link page
--   network           connection refused/reset, body cut short, ...
--   timeout           the timeout or the low-speed limit (a stall) hit
--   tls               certificate or handshake failure
--   too_large         the body went past max_bytes
--   invalid_json      the 2xx body is not valid JSON
--   invalid_url       the URL was refused (scheme not http/https, ...)
--   aborted           the client was closed during the transfer
-- details fields: kind, status, detail (the server's own words), headers
-- (lower-cased names), rate_limit {limit, remaining, reset,
-- concurrent_limit, concurrent_remaining}, body (when <= 1 KB), content_type,
-- url (never holds the token), attempts, curl_code.
--
-- The token is held in a private weak table, never in the client table, and
-- is scrubbed from every message and details table.
local core = require "sentry.chunks.core"

local M = {}

local floor, format, concat = math.floor, string.format, table.concat
local type, tostring, tonumber, pairs, ipairs = type, tostring, tonumber, pairs, ipairs

local secrets = setmetatable({}, { __mode = "k" })
-- why a client's token (from the environment) cannot be sent, if it cannot
local bad_tokens = setmetatable({}, { __mode = "k" })

local Client = {}
Client.__index = Client

local DEFAULTS = {
  timeout = 60, connect_timeout = 10, retries = 3, low_speed_limit = 1,
  low_speed_time = 30, max_wait = 60, backoff = 0.5, max_backoff = 30,
}

local OPTION_TYPES = {
  token = "string", org = "string", base_url = "string", timeout = "number",
  connect_timeout = "number", retries = "number", max_bytes = "number",
  ca_file = "string", user_agent = "string", on_progress = "function",
  low_speed_limit = "number", low_speed_time = "number", max_wait = "number",
  backoff = "number", max_backoff = "number", buffer_size = "number",
  sleep = "function",
}

local QUERY_TYPES = {
  project = { number = true, string = true }, profiler_id = { string = true },
  stats_period = { string = true }, start = { string = true, number = true },
  ["end"] = { string = true, number = true }, org = { string = true },
  split = { boolean = true },
}

local REASONS = {
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [409] = "Conflict",
  [413] = "Payload Too Large", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

local HTTP_VERSIONS = { [1] = "1.0", [2] = "1.1", [3] = "2", [30] = "3" }

-- Helpers ------------------------------------------------------------------

local function argerror(n, fname, msg)
  error(format("bad argument #%d to '%s' (%s)", n, fname, msg), 3)
end

local function env(name)
  local v = os.getenv(name)
  if v == nil or v == "" then return nil end
  return v
end

-- RFC 3986 unreserved characters stay, everything else is %XX.
local function escape(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c)
    return format("%%%02X", c:byte())
  end))
end
M.escape = escape

local function is_integer(n)
  return type(n) == "number" and n == n and n == floor(n) and n > -2 ^ 53 and n < 2 ^ 53
end

-- Unix seconds to ISO-8601 UTC with microseconds when there is a fraction.
local function iso8601(t)
  local whole = floor(t)
  local us = floor((t - whole) * 1e6 + 0.5)
  if us >= 1000000 then whole, us = whole + 1, 0 end
  local s = os.date("!%Y-%m-%dT%H:%M:%S", whole)
  if us > 0 then s = s .. (format(".%06d", us):gsub("0+$", "")) end
  return s .. "Z"
end
M.iso8601 = iso8601

local function one_line(s, max)
  s = tostring(s):gsub("[%c%s]+", " "):gsub("^ ", ""):gsub(" $", "")
  max = max or 300
  if #s > max then s = s:sub(1, max - 3) .. "..." end
  return s
end

local function parse_headers(raw)
  local headers = {}
  if not raw then return headers end
  local first = true
  for line in raw:gmatch("[^\r\n]+") do
    if first and line:match("^HTTP/") then
      first = false
    else
      local name, value = line:match("^([^:%s]+)%s*:%s*(.-)%s*$")
      if name then
        name = name:lower()
        if headers[name] then headers[name] = headers[name] .. ", " .. value
        else headers[name] = value end
      end
    end
  end
  return headers
end

-- A number read from a header: decimal digits with an optional fraction,
-- nothing else (no sign, hex, exponent, inf or nan).
local function header_number(v)
  if type(v) ~= "string" then return nil end
  v = v:match("^%s*(.-)%s*$")
  if not v:match("^%d+%.?%d*$") then return nil end
  local n = tonumber(v)
  if not n or n ~= n or n == math.huge then return nil end
  return n
end

local function rate_limit_of(headers)
  local rl, any = {}, false
  for field, name in pairs {
    limit = "x-sentry-rate-limit-limit", remaining = "x-sentry-rate-limit-remaining",
    reset = "x-sentry-rate-limit-reset",
    concurrent_limit = "x-sentry-rate-limit-concurrentlimit",
    concurrent_remaining = "x-sentry-rate-limit-concurrentremaining",
  } do
    local v = header_number(headers[name])
    if v then rl[field] = v; any = true end
  end
  return any and rl or nil
end

-- scheme, host, port (lower-cased, default port filled) of an absolute URL.
local function origin(url)
  local scheme, authority = url:match("^(%a[%w+.-]*)://([^/?#]+)")
  if not scheme then return nil end
  scheme = scheme:lower()
  authority = authority:gsub("^.*@", ""):lower()
  -- a bad port (h:1:2, h:80x, [::1]x, h:99999) is no origin: nil
  local host, port = authority:match("^(%[[%x:.]+%]):?(%d*)$")
  if not host then host, port = authority:match("^([^:%[%]]+):?(%d*)$") end
  if not host then return nil end
  if port == "" then port = scheme == "https" and "443" or "80" end
  local n = tonumber(port)
  if n < 1 or n > 65535 then return nil end
  return scheme .. "://" .. host .. ":" .. format("%d", n)
end

local function redact(value, token, seen)
  if not token or token == "" then return value end
  local t = type(value)
  if t == "string" then
    -- one left-to-right pass, plain find: never rescans what it wrote
    local i, j = value:find(token, 1, true)
    if not i then return value end
    local out, pos = {}, 1
    while i do
      out[#out + 1] = value:sub(pos, i - 1)
      out[#out + 1] = "[redacted]"
      pos = j + 1
      i, j = value:find(token, pos, true)
    end
    out[#out + 1] = value:sub(pos)
    return concat(out)
  elseif t == "table" then
    seen = seen or {}
    if seen[value] then return value end
    seen[value] = true
    local renamed
    for k, v in pairs(value) do
      value[k] = redact(v, token, seen)
      if type(k) == "string" and k:find(token, 1, true) then
        renamed = renamed or {}
        renamed[#renamed + 1] = k
      end
    end
    for _, k in ipairs(renamed or {}) do
      local v = value[k]
      value[k] = nil
      value[redact(k, token)] = v
    end
  end
  return value
end

-- Hardening: values from outside and option values -------------------------

-- What a decoded JSON value is, for messages.
local function json_type(v)
  if v == nil then return "nothing" end
  if v == core.null then return "null" end
  local t = type(v)
  if t == "table" then
    local array = v[1] ~= nil or getmetatable(v) == core.empty_array_mt
    return array and "an array" or "an object"
  end
  if t == "string" then return "a string" end
  return t == "number" and "a number" or t
end

-- Is t a JSON array (or empty)?
local function is_list(t)
  return type(t) == "table" and (t[1] ~= nil or next(t) == nil)
end

-- nil when `answer` has the shape of a chunks answer (sample format v2),
-- else a one-line message saying what it is instead. Every sample, stack
-- and frame is looked at: the helpers and the range merge index them.
local function shape_problem(answer)
  if type(answer) ~= "table" or answer[1] ~= nil then
    return "expected a JSON object with a 'chunk', got " .. json_type(answer)
  end
  local chunk = answer.chunk
  if type(chunk) ~= "table" or chunk[1] ~= nil then
    return "the answer has no 'chunk' object (got " .. json_type(chunk) .. ")"
  end
  if chunk.platform == "android" or chunk.profiles ~= nil or chunk.shared ~= nil then
    return format("the chunk is an Android profile (platform '%s': speedscope-style 'profiles' and "
      .. "'shared.frames'); this library reads sample-format v2 chunks, not Android's",
      type(chunk.platform) == "string" and one_line(chunk.platform, 40) or "android")
  end
  local p = chunk.profile
  if type(p) ~= "table" or p[1] ~= nil then
    return "the chunk has no 'profile' object (got " .. json_type(p) .. ")"
  end
  for _, field in ipairs { "samples", "stacks", "frames" } do
    if not is_list(p[field]) then
      return format("the chunk's profile has no '%s' array (got %s)", field, json_type(p[field]))
    end
  end
  local samples, stacks, frames = p.samples, p.stacks, p.frames
  for i = 1, #samples do
    local x = samples[i]
    if type(x) ~= "table" or type(x.stack_id) ~= "number" or type(x.timestamp) ~= "number" then
      return format("sample %d is not {stack_id = number, thread_id, timestamp = number}", i)
    end
  end
  for i = 1, #stacks do
    local st = stacks[i]
    if not is_list(st) then return format("stack %d is not an array of frame indices", i) end
    for j = 1, #st do
      if type(st[j]) ~= "number" then return format("stack %d is not an array of frame indices", i) end
    end
  end
  for i = 1, #frames do
    if type(frames[i]) ~= "table" then return format("frame %d is not an object", i) end
  end
  local tm = p.thread_metadata
  if tm ~= nil and tm ~= core.null and type(tm) ~= "table" then
    return "the chunk's thread_metadata is " .. json_type(tm) .. ", not an object"
  end
  return nil
end

-- check_answer(answer) -> true | nil, message: the shape test every
-- fetched chunks answer passes (also for answers read from files).
function M.check_answer(answer)
  local problem = shape_problem(answer)
  if problem then return nil, "unexpected answer: " .. problem end
  return true
end

local MAX_DELAY = 1e9 -- longer than any max_wait; keeps every wait printable

local function clamp_delay(w)
  if w ~= w or w < 0 then return 0 end
  if w > MAX_DELAY then return MAX_DELAY end
  return w
end

local MONTHS = { jan = 1, feb = 2, mar = 3, apr = 4, may = 5, jun = 6, jul = 7, aug = 8,
  sep = 9, oct = 10, nov = 11, dec = 12 }

-- An HTTP-date (RFC 9110 5.6.7: IMF-fixdate, and the obsolete RFC 850 and
-- asctime forms) to Unix seconds, or nil.
local function http_date(s)
  local d, mon, y, hms = s:match("^%a%a%a, (%d%d) (%a%a%a) (%d%d%d%d) (%d%d:%d%d:%d%d) GMT$")
  if not d then -- RFC 850: Sunday, 06-Nov-94 08:49:37 GMT
    d, mon, y, hms = s:match("^%a+, (%d%d)%-(%a%a%a)%-(%d%d) (%d%d:%d%d:%d%d) GMT$")
    if y then
      -- a two-digit year more than 50 years ahead is in the past century
      local this_year = tonumber(os.date("!%Y"))
      local full = this_year - this_year % 100 + tonumber(y)
      if full > this_year + 50 then full = full - 100 end
      y = format("%04d", full)
    end
  end
  if not d then -- asctime: Sun Nov  6 08:49:37 1994
    mon, d, hms, y = s:match("^%a%a%a (%a%a%a) ([ %d]%d) (%d%d:%d%d:%d%d) (%d%d%d%d)$")
    if d then d = d:gsub(" ", "0") end
  end
  local m = mon and MONTHS[mon:lower()]
  if not m then return nil end
  return require("sentry.chunks.url").iso_to_unix(format("%s-%02d-%sT%sZ", y, m, d, hms))
end

-- Retry-After (delay-seconds or an HTTP-date) as seconds to wait from now,
-- within [0, MAX_DELAY], or nil when absent or unreadable.
local function retry_after(value)
  if type(value) ~= "string" then return nil end
  value = value:match("^%s*(.-)%s*$")
  if value:match("^%d+$") then return clamp_delay(tonumber(value)) end
  local t = http_date(value)
  if t then return clamp_delay(t - os.time()) end
  return nil
end

local function number_text(v)
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  if v == floor(v) and v > -2 ^ 53 and v <= 2 ^ 53 then return format("%d", v) end
  return format("%.17g", v)
end

-- The numeric options: {min, max, lower bound excluded?, how to round}.
-- curl takes whole seconds for the stall time and whole bytes/s for its
-- limit, so a fraction is rounded up (0.5 s must not become 0: off).
local NUMERIC_OPTIONS = {
  timeout = { 0, 2e6, open = true }, connect_timeout = { 0, 2e6, open = true },
  retries = { 0, 1000, whole = true }, max_wait = { 0, 2e6 }, backoff = { 0, 2e6 },
  max_backoff = { 0, 2e6 }, low_speed_limit = { 1, 2 ^ 31 - 1, round = "up" },
  low_speed_time = { 1, 2e6, round = "up" },
  max_bytes = { 1, 2 ^ 53, round = "down" }, buffer_size = { 1, 2 ^ 31, round = "down" },
}

-- Checks every numeric option of `opts` (finite, in range), raising an
-- argument error naming the option; returns a copy of the values rounded
-- as the transfer takes them.
local function check_numbers(opts, fname)
  local out = {}
  for name, rule in pairs(NUMERIC_OPTIONS) do
    local v = opts[name]
    if v ~= nil then
      if type(v) ~= "number" then
        error(format("bad argument #1 to '%s' (option '%s': number expected, got %s)", fname, name, type(v)), 3)
      end
      local lo, hi = rule[1], rule[2]
      if rule.round == "up" and v > 0 and v < lo then v = lo end
      local ok = v == v and v <= hi and (rule.open and v > lo or not rule.open and v >= lo)
      if ok and rule.whole and v ~= floor(v) then ok = false end
      if not ok then
        error(format("bad argument #1 to '%s' (option '%s': %s in %s%s, %s] expected, got %s)", fname, name,
          rule.whole and "a whole number" or "a finite number", rule.open and "(" or "[",
          number_text(lo), number_text(hi), number_text(v)), 3)
      end
      if rule.round == "up" then v = math.ceil(v) elseif rule.round == "down" then v = floor(v) end
      out[name] = v
    end
  end
  return out
end

-- Why a token cannot be sent (a control character would end the header
-- and start another), or nil. Never quotes the token.
local function token_problem(token)
  if type(token) == "string" and token:find("%c") then
    return "the token contains a control character (CR, LF, ...)"
  end
  return nil
end

-- Why a base URL cannot be used, or nil (beyond scheme, origin and
-- credentials, checked by the caller): a query or fragment would swallow
-- the API path; dot segments would be collapsed by the HTTP library.
local function base_problem(base)
  if base:find("[%c%s]") then return "spaces and control characters are not allowed" end
  if base:find("[?#]") then return "a query (?) or fragment (#) is not allowed" end
  local path = base:match("^%a[%w+.-]*://[^/]*(/.*)$") or ""
  if (path .. "/"):find("/%.%.?/") then return "dot segments (/./, /../) are not allowed" end
  return nil
end

-- "." and ".." are no path segment of their own: they would collapse the
-- API path (/api/0/organizations/../profiling/...).
local function dot_segment(v)
  return v == "." or v == ".."
end

-- Validation -----------------------------------------------------------------

local function invalid(field, msg)
  return nil, msg, { kind = "invalid_argument", field = field }
end

local function check_time(v, name)
  if type(v) == "number" then
    if v ~= v or v < 0 or v > 253402300799 then
      return nil, format("invalid %s: %s is not a Unix time in seconds", name, tostring(v))
    end
    return iso8601(v)
  end
  -- the whole string, every field in range (a date that exists)
  local t = require("sentry.chunks.url").iso_to_unix(v)
  if not t then
    return nil, format("invalid %s: expected ISO-8601 (2001-12-14T12:34:56Z) or Unix seconds, got '%s'",
      name, one_line(v, 60))
  end
  return v, t
end

-- The query for one fetch, or nil, message, details. Raises on wrong types.
local function build_query(self, q)
  for k, v in pairs(q) do
    local allowed = QUERY_TYPES[k]
    if not allowed then
      local hint = type(k) == "string" and require("sentry.chunks.report").closest(k, QUERY_TYPES)
      argerror(1, "fetch", format("unknown field '%s'%s", tostring(k),
        hint and ("; did you mean '" .. hint .. "'?") or ""))
    end
    if not allowed[type(v)] then
      local names = {}
      for tname in pairs(allowed) do names[#names + 1] = tname end
      table.sort(names)
      argerror(1, "fetch", format("field '%s': %s expected, got %s", k,
        concat(names, " or "), type(v)))
    end
  end
  local org = q.org or self.org
  if not org or org == "" then
    return invalid("org", "no organization: pass org = ... to chunks.client or set SENTRY_ORG")
  end
  if dot_segment(org) then
    return invalid("org", format("invalid organization '%s': not an organization slug", org))
  end
  if bad_tokens[self] then return invalid("token", bad_tokens[self]) end
  if not secrets[self] then
    return invalid("token", "no auth token: pass token = ... to chunks.client or set SENTRY_AUTH_TOKEN")
  end
  local project = q.project
  if project == nil then return invalid("project", "project is required (the numeric project id)") end
  if type(project) == "string" then
    if not project:match("^%d+$") then
      return invalid("project", format("invalid project: expected an integer project id, got '%s' "
        .. "(client:fetch resolves a slug; fetch_async needs the id: client:project_id(slug))",
        one_line(project, 40)))
    end
  elseif not is_integer(project) or project < 0 then
    return invalid("project", format("invalid project: expected an integer project id, got %s",
      tostring(project)))
  else
    project = format("%d", project)
  end
  local pid = q.profiler_id
  if pid == nil then return invalid("profiler_id", "profiler_id is required (32 hex digits)") end
  if not (#pid == 32 and pid:match("^%x+$")) then
    return invalid("profiler_id", format("invalid profiler_id: expected 32 hex digits, got '%s'",
      one_line(pid, 40)))
  end
  local parts = { "project=" .. escape(project), "profiler_id=" .. escape(pid:lower()) }
  local sp, start, stop = q.stats_period, q.start, q["end"]
  if sp ~= nil then
    if start ~= nil or stop ~= nil then
      return invalid("stats_period", "give either stats_period or start and end, not both")
    end
    if not sp:match("^%d+[smhdw]?$") then
      return invalid("stats_period", format(
        "invalid stats_period: expected a number and an optional unit s, m, h, d or w (like '1h'), got '%s'",
        one_line(sp, 40)))
    end
    parts[#parts + 1] = "statsPeriod=" .. escape(sp)
  elseif start ~= nil or stop ~= nil then
    if start == nil or stop == nil then
      return invalid(start == nil and "start" or "end", "start and end go together: give both")
    end
    if type(start) == "number" and type(stop) == "number" and start >= stop then
      return invalid("start", "invalid time range: start must be before end")
    end
    local s, err = check_time(start, "start")
    if not s then return invalid("start", err) end
    local e, err2 = check_time(stop, "end")
    if not e then return invalid("end", err2) end
    local s_unix, e_unix = type(start) == "number" and start or err, type(stop) == "number" and stop or err2
    if s_unix >= e_unix then
      return invalid("start", "invalid time range: start must be before end")
    end
    parts[#parts + 1] = "start=" .. escape(s)
    parts[#parts + 1] = "end=" .. escape(e)
  end
  return self.base_url .. "/api/0/organizations/" .. escape(org) .. "/profiling/chunks/?"
    .. concat(parts, "&")
end

-- One transfer ---------------------------------------------------------------

local function start_transfer(self, url)
  return self._multi:request {
    url = url, token = secrets[self], ca_file = self.ca_file, user_agent = self.user_agent,
    timeout = self.timeout, connect_timeout = self.connect_timeout,
    low_speed_limit = self.low_speed_limit, low_speed_time = self.low_speed_time,
    max_bytes = self.max_bytes, buffer_size = self.buffer_size,
  }
end

-- Reports progress to on_progress when it moved; an error in the callback
-- closes the transfer and propagates (it is the caller's code). A window
-- of a split range reports through its range (state.on_progress).
local function report_progress(self, req, state)
  local on_progress = state.on_progress or self.on_progress
  if not on_progress then return end
  local got, total = req:progress()
  if got ~= state.last_progress then
    state.last_progress = got
    local ok, err = pcall(on_progress, got, total)
    if not ok then
      req:close()
      error(err, 0)
    end
  end
end

-- The outcome of a finished transfer: value, info | nil, info (info.kind).
local function finish_transfer(self, req, state)
  local value, kind, message = req:result()
  local info = req:info()
  req:close()
  local on_progress = state.on_progress or self.on_progress
  if on_progress and value ~= nil then
    local got, total = info.wire_received, info.content_length
    if got ~= state.last_progress then on_progress(got, total) end
  end
  if value == nil then
    info.kind, info.message = kind, message
  end
  return value, info
end

-- Error mapping -----------------------------------------------------------

local function server_words(body)
  if not body or body == "" then return nil end
  local v = core.decode(body)
  if type(v) == "table" and type(v.detail) == "string" then return v.detail end
  if type(v) == "table" and type(v.detail) == "table" and type(v.detail.message) == "string" then
    return v.detail.message
  end
  if type(v) == "string" then return v end
  local title = body:match("<[Tt][Ii][Tt][Ll][Ee][^>]*>(.-)</[Tt][Ii][Tt][Ll][Ee]>")
  if title then return title end
  return (body:match("^%s*([^\r\n]+)") or body)
end

local function http_message(status, words, extra)
  local s = "HTTP " .. tostring(status)
  if REASONS[status] then s = s .. " " .. REASONS[status] end
  if words and words ~= "" then s = s .. ": " .. one_line(words) end
  if extra then s = s .. " " .. extra end
  return s
end

-- details for an answer kept as text (info.body)
local function answer_details(info, kind, url, attempts)
  local headers = parse_headers(info.headers)
  local d = {
    kind = kind, status = info.status, headers = headers, rate_limit = rate_limit_of(headers),
    content_type = info.content_type, url = url, attempts = attempts,
  }
  if info.body and #info.body <= 1024 then d.body = info.body end
  d.detail = server_words(info.body)
  return d
end

local TRANSPORT_KINDS = {
  connect = "network", network = "network", timeout = "timeout", tls = "tls",
  too_large = "too_large", invalid_json = "invalid_json", invalid_url = "invalid_url",
  aborted = "aborted", out_of_memory = "out_of_memory",
}

local TRANSPORT_WHAT = {
  network = "network error", timeout = "timed out", tls = "TLS error",
  too_large = "answer too large", invalid_json = "invalid JSON in the answer",
  invalid_url = "invalid URL", aborted = "aborted", out_of_memory = "out of memory",
}

-- nil, message, details, and how long to wait before a retry (or nil).
local function classify(self, info, url, attempts)
  local kind = info.kind
  if kind ~= "response" then
    local k = TRANSPORT_KINDS[kind] or "network"
    local msg = TRANSPORT_WHAT[k] .. ": " .. one_line(info.message or k)
    local d = { kind = k, url = url, attempts = attempts, curl_code = info.curl_code }
    if info.status and info.status > 0 then
      d.status = info.status
      d.headers = parse_headers(info.headers)
      d.rate_limit = rate_limit_of(d.headers)
    end
    if k == "too_large" and self.max_bytes then
      msg = msg .. format(" (max_bytes = %d)", self.max_bytes)
    end
    -- connection failures (nothing answered) are retried, half-done bodies not
    local retry = kind == "connect" or (k == "network" and (info.status or 0) == 0)
    return msg, d, retry and "backoff" or nil
  end
  local status = info.status
  if status >= 200 and status < 300 then
    local d = answer_details(info, "content_type", url, attempts)
    return format("expected a JSON answer, got %s (HTTP %d): %s",
      tostring(info.content_type), status, one_line(d.detail or "", 120)), d
  end
  if status == 400 and info.body and info.body:find("no chunks found to merge", 1, true) then
    local d = answer_details(info, "no_chunks", url, attempts)
    return "no profile chunks in this time range", d
  end
  if status == 429 then
    local d = answer_details(info, "rate_limited", url, attempts)
    return http_message(status, d.detail), d, "rate_limit"
  end
  local d = answer_details(info, "http", url, attempts)
  if status == 404 and (info.body or "") == "" then
    return http_message(status, nil,
      "(empty body: continuous profiling is not enabled for this organization, or a chunk is missing in storage)"), d
  end
  if status == 502 or status == 503 or status == 504 then
    return http_message(status, d.detail), d, "backoff"
  end
  if status >= 300 and status < 400 then
    d.kind = "redirect"
    return http_message(status, nil, "redirect"), d, "redirect"
  end
  return http_message(status, d.detail or (info.body == "" and "(empty body)" or nil)), d
end

local function backoff_delay(self, n)
  local base = self.backoff * 2 ^ (n - 1)
  if base > self.max_backoff then base = self.max_backoff end
  return base * (0.5 + 0.5 * math.random())
end

-- How long a 429 asks to wait: Retry-After (seconds) or the Reset epoch.
local function rate_limit_delay(headers)
  local ra = retry_after(headers["retry-after"])
  if ra then return ra end
  local reset = header_number(headers["x-sentry-rate-limit-reset"])
  if reset then
    return clamp_delay(reset - os.time()) + 0.1 + 0.4 * math.random()
  end
  return nil
end

-- The client -----------------------------------------------------------------

function M.new(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then argerror(1, "client", "table expected, got " .. type(opts)) end
  for k, v in pairs(opts) do
    local want = OPTION_TYPES[k]
    if not want then argerror(1, "client", format("unknown option '%s'", tostring(k))) end
    if type(v) ~= want then
      argerror(1, "client", format("option '%s': %s expected, got %s", k, want, type(v)))
    end
  end
  local numbers = check_numbers(opts, "client")
  if type(opts.user_agent) == "string" and opts.user_agent:find("%c") then
    argerror(1, "client", "option 'user_agent': control characters are not allowed") -- a header of its own
  end
  if token_problem(opts.token) then
    argerror(1, "client", "option 'token': " .. token_problem(opts.token))
  end
  local self = setmetatable({}, Client)
  for k, v in pairs(DEFAULTS) do self[k] = v end
  for k, v in pairs(opts) do if k ~= "token" then self[k] = v end end
  for k, v in pairs(numbers) do self[k] = v end
  local token = opts.token or env("SENTRY_AUTH_TOKEN")
  if token == "" then token = nil end
  if token_problem(token) then -- from the environment: refused at fetch time
    bad_tokens[self] = "SENTRY_AUTH_TOKEN: " .. token_problem(token)
    token = nil
  end
  secrets[self] = token
  self.org = opts.org or env("SENTRY_ORG")
  local base = opts.base_url or env("SENTRY_URL") or "https://sentry.io"
  base = base:gsub("/+$", "")
  if not origin(base) or not base:match("^[Hh][Tt][Tt][Pp][Ss]?://") then
    argerror(1, "client", format("option 'base_url': an http:// or https:// URL expected, got '%s'",
      one_line(base, 80)))
  end
  if base:match("^%a[%w+.-]*://[^/?#]*@") then
    argerror(1, "client", "option 'base_url': credentials in the URL are not supported, use token")
  end
  if base_problem(base) then
    argerror(1, "client", format("option 'base_url': %s, got '%s'", base_problem(base), one_line(base, 80)))
  end
  self.base_url = base
  for _, name in ipairs { "timeout", "connect_timeout", "retries", "max_wait", "backoff" } do
    if self[name] < 0 then argerror(1, "client", format("option '%s': must not be negative", name)) end
  end
  if self.max_bytes ~= nil and self.max_bytes < 1 then
    argerror(1, "client", "option 'max_bytes': must be positive")
  end
  self.retries = floor(self.retries)
  self._sleep = opts.sleep or core.sleep
  self.sleep = nil
  self._multi = core.multi()
  return self
end

function Client:__tostring()
  return format("sentry.chunks.client (%s, org %s, %s)", self.base_url,
    self.org or "unset", secrets[self] and "token set" or "no token")
end

-- How many transfers of this client are in flight.
function Client:active()
  return self._multi and not self._multi:closed() and self._multi:active() or 0
end

function Client:close()
  if self._multi then self._multi:close() end
end
Client.__close = Client.close -- Lua 5.4: local c <close> = chunks.client{...}

-- A fetch that never blocks: each step does what is ready (at most
-- buffer_size bytes decoded) and says whether the fetch is over. Retries
-- wait by time (state.wake_at), not by sleeping, so a host loop stays free.
local Async = {}
Async.__index = Async

local function check_async(self, name)
  if getmetatable(self) ~= Async then
    error(format("bad argument #1 to '%s' (request expected; call it as req:%s())", name, name), 3)
  end
end

-- Ends the fetch with these results. An answer of the chunks endpoint
-- says whether it looks cut by the server's 50-chunk cap (details.truncated,
-- details.warning: sentry.chunks.range.truncation).
local function conclude(self, value, err, details)
  if value ~= nil and self.expect_chunk and details then
    details.windows = 1
    details.warning = require("sentry.chunks.range").truncation(value, self.range_start)
    details.truncated = details.warning ~= nil
  end
  self.done, self.value, self.err, self.details = true, value, err, details
  return true
end

local MAX_REDIRECTS = 5

-- Why a redirect is not followed, or nil to follow it: only to a valid URL
-- of the same origin, never in a loop, at most MAX_REDIRECTS times.
local function redirect_refusal(self, location, target)
  if not location or location == "" then return "a redirect without a Location" end
  local shown = one_line(location, 120)
  if not target then
    return format("refused to follow a redirect to '%s' (not an absolute URL or path)", shown)
  end
  local to = origin(target)
  if not to then
    return format("refused to follow a redirect to '%s' (not a valid URL: bad host or port)", shown)
  end
  if to ~= self.start_origin then
    return format("refused to follow a redirect to %s (only the same origin is followed)", one_line(to, 120))
  end
  if target == self.url or (self.visited and self.visited[target]) then
    return format("redirect loop: %s leads back to a URL already requested", shown)
  end
  if self.redirects >= MAX_REDIRECTS then
    return format("too many redirects (more than %d, the last to %s)", MAX_REDIRECTS, shown)
  end
  return nil
end

-- A transfer ended: success, a retry (after a wait), a same-origin
-- redirect, or the final error, mapped as the contract says.
local function settle(self, value, info)
  local client, token, url = self.client, secrets[self.client], self.url
  if value ~= nil then
    local headers = parse_headers(info.headers)
    local d = {
      status = info.status, headers = headers, rate_limit = rate_limit_of(headers),
      url = url, attempts = self.attempts, bytes = info.received, wire_bytes = info.wire_received,
      seconds = info.seconds, reused = info.reused,
      http_version = HTTP_VERSIONS[info.http_version] or tostring(info.http_version),
    }
    local problem = self.expect_chunk and shape_problem(value)
    if problem then -- valid JSON, not a chunks answer: never a success
      d.kind, d.content_type = "unexpected_shape", info.content_type
      return conclude(self, nil, redact("unexpected answer: " .. problem, token), redact(d, token))
    end
    return conclude(self, value, nil, redact(d, token)) -- a server may echo the token in a header
  end
  local msg, d, retry = classify(client, info, url, self.attempts)
  if retry == "redirect" then
    local location = d.headers.location
    local target
    if location then
      if location:match("^%a[%w+.-]*://") then
        target = location
      elseif location:match("^/") and not location:match("^//") then
        target = url:match("^(%a[%w+.-]*://[^/?#]+)") .. location
      end
    end
    local why = redirect_refusal(self, location, target)
    if not why then
      self.visited = self.visited or { [self.url] = true }
      self.visited[target] = true
      self.redirects = self.redirects + 1
      self.url = target
      self.attempts = self.attempts - 1
      self.wake_at = 0
      return false
    end
    d.location = location
    msg = format("HTTP %d: %s", info.status, why)
    return conclude(self, nil, redact(msg, token), redact(d, token))
  end
  if retry and self.retried < client.retries then
    local wait
    if retry == "rate_limit" then
      wait = rate_limit_delay(d.headers) or backoff_delay(client, self.retried + 1)
      if wait > client.max_wait then
        d.retry_after = wait
        return conclude(self, nil, redact(msg .. format(
          " (the server asks to wait %s s, more than max_wait)", number_text(floor(wait + 0.5))), token),
          redact(d, token))
      end
    else
      wait = backoff_delay(client, self.retried + 1)
    end
    self.retried = self.retried + 1
    self.wake_at = core.monotime() + wait
    return false
  end
  if retry and self.retried > 0 then
    msg = msg .. format(" (after %d retr%s)", self.retried, self.retried == 1 and "y" or "ies")
  end
  return conclude(self, nil, redact(msg, token), redact(d, token))
end

-- req:step() -> true when the fetch is over (then req:result()).
function Async:step()
  check_async(self, "step")
  if self.done then return true end
  if not self.req then
    if self.client._multi:closed() then return conclude(self, nil, "client is closed", { kind = "aborted", url = self.url, attempts = self.attempts }) end
    if core.monotime() < self.wake_at then return false end
    self.attempts = self.attempts + 1
    self.req = start_transfer(self.client, self.url)
  end
  local req = self.req
  local finished = req:step()
  report_progress(self.client, req, self)
  if not finished then return false end
  self.req = nil
  return settle(self, finish_transfer(self.client, req, self))
end

-- req:result() -> res | nil, message, details (nil, nil while running).
function Async:result()
  check_async(self, "result")
  if not self.done then return nil end
  return self.value, self.err, self.details
end

-- req:cancel(): frees the transfer at once; the result says so.
function Async:cancel()
  check_async(self, "cancel")
  if self.req then self.req:close() end
  self.req = nil
  if not self.done then
    conclude(self, nil, "cancelled", { kind = "aborted", url = self.url, attempts = self.attempts })
  end
end
Async.close = Async.cancel
Async.__close = Async.cancel -- Lua 5.4: local req <close> = client:fetch_async{...}

-- req:wait() -> what to wait for before the next step: { sockets = {{fd,
-- read, write}...}, timeout = seconds or nil (none), ready = bool }. ready:
-- bytes arrived since the last wait (more may be buffered) or a retry is
-- due, so step again soon.
function Async:wait()
  check_async(self, "wait")
  if self.done then return { sockets = {}, timeout = 0, ready = true } end
  if not self.req then
    local left = self.wake_at - core.monotime()
    return { sockets = {}, timeout = left > 0 and left or 0, ready = left <= 0 }
  end
  local multi = self.client._multi
  local progress = self.req:progress()
  local moved = progress ~= self.last_polled_progress
  self.last_polled_progress = progress
  return { sockets = multi:sockets(), timeout = multi:timeout(), ready = moved }
end

function Async:__tostring()
  return format("sentry.chunks.fetch (%s, attempt %d)", self.done and (self.err and "failed" or "done")
    or (self.req and "running" or "waiting to retry"), self.attempts)
end

local function new_async(self, url)
  return setmetatable({
    client = self, url = url, start_origin = origin(url), attempts = 0, retried = 0,
    redirects = 0, wake_at = 0, done = false,
  }, Async)
end

-- The query as given, or a copy with statsPeriod (the web UI's and the
-- API's spelling) as stats_period and a project slug as its id (resolved
-- once per client, client:project_id): nil, message, details when the slug
-- cannot be resolved. The caller's table is never changed.
local function resolved(self, q, fname, slugs)
  local sp, project = rawget(q, "statsPeriod"), q.project
  local slug = slugs and type(project) == "string" and not project:match("^%d+$")
    and project:match("^[%w_%-]+$") ~= nil -- what Sentry's slugs are made of
  if sp == nil and not slug then return q end
  local copy = {}
  for k, v in pairs(q) do copy[k] = v end
  if sp ~= nil then
    if q.stats_period ~= nil then
      error(format("bad argument #1 to '%s' (give stats_period or statsPeriod, not both)", fname), 3)
    end
    copy.statsPeriod, copy.stats_period = nil, sp
  end
  if slug then
    local id, err, details = self:project_id(project, q.org)
    if not id then return nil, err, details end
    copy.project = id
  end
  return copy
end

-- An answer prints as its summary (threads, span, samples, top functions).
local function shown(res, ...)
  if type(res) == "table" and getmetatable(res) == nil and type(res.chunk) == "table" then
    setmetatable(res, require("sentry.chunks.report").answer_mt)
  end
  return res, ...
end

-- client:fetch_async{...} -> req | nil, message, details (invalid query).
function Client:fetch_async(q)
  if getmetatable(self) ~= Client then
    error("bad argument #1 to 'fetch_async' (client expected; call it as client:fetch_async{...})", 2)
  end
  if type(q) ~= "table" then
    argerror(1, "fetch_async", "table expected, got " .. type(q))
  end
  q = resolved(self, q, "fetch_async", false)
  local url, err, details = build_query(self, q)
  if not url then return nil, err, details end
  -- A range longer than range.LONG_RANGE (40 min, under the server's
  -- 50-chunk cap) is fetched in windows and merged (sentry.chunks.range),
  -- unless split = false; stats_period becomes start/end here, once.
  if self._multi:closed() then return nil, "client is closed", { kind = "aborted", url = url } end
  local range = require "sentry.chunks.range"
  local span, serr, sdetails = range.span(q, os.time(), "fetch")
  if span == nil then return nil, serr, sdetails end
  if span and q.split ~= false and span["end"] - span.start > range.LONG_RANGE then
    if span["end"] - span.start > range.MAX_SPLIT_RANGE then
      return nil, format("a range of %.0f h is longer than the %d h that fetch splits into windows "
        .. "by itself: ask client:fetch_range for it explicitly, or a shorter range",
        (span["end"] - span.start) / 3600, range.MAX_SPLIT_RANGE / 3600),
        { kind = "invalid_argument", field = span.period and "stats_period" or "start",
          max_range = range.MAX_SPLIT_RANGE }
    end
    return range.start(self, q, span)
  end
  local req = new_async(self, url)
  req.expect_chunk = true -- the answer's shape is checked before it is a success
  req.range_start = span and not span.period and span.start or nil
  return req
end

-- Runs an async request to the end, waiting on the client's sockets.
local function run_blocking(self, req)
  while not req:step() do
    if req.req then
      local ok, perr = self._multi:poll(1, req.req) -- this request's bytes, not another's
      if not ok then
        req.req:close()
        req.req = nil
        local msg = "network error: " .. one_line(perr or "poll failed")
        return nil, redact(msg, secrets[self]), { kind = "network", url = req.url, attempts = req.attempts }
      end
    else
      local left = req.wake_at - core.monotime()
      if left > 0 then self._sleep(left) end
      req.wake_at = 0 -- the sleep function waited (it may be a scheduler's)
    end
  end
  return req:result()
end

-- client:fetch{...} -> res | nil, message, details: the same engine,
-- waiting on the client's sockets between steps. project may be a slug.
function Client:fetch(q)
  if getmetatable(self) ~= Client then
    error("bad argument #1 to 'fetch' (client expected; call it as client:fetch{...})", 2)
  end
  if type(q) ~= "table" then
    argerror(1, "fetch", "table expected, got " .. type(q))
  end
  local rq, rerr, rdetails = resolved(self, q, "fetch", true)
  if not rq then return nil, rerr, rdetails end
  local req, err, details = self:fetch_async(rq)
  if not req then return nil, err, details end
  if getmetatable(req) ~= Async then return shown(req:run()) end -- a long range, in windows
  return shown(run_blocking(self, req))
end

-- A project id as the projects endpoint gives it ("1", or 1), or nil:
-- decimal digits only (not "0x10", "1e3", "-1").
local function project_id_of(v)
  if type(v) == "string" and v:match("^%d+$") and #v <= 15 then return tonumber(v) end
  if is_integer(v) and v >= 0 then return v end
  return nil
end

-- client:project_id(slug [, org]) -> the numeric id of a project slug
-- (GET /api/0/projects/{org}/{slug}/), cached per client.
function Client:project_id(slug, org)
  if type(slug) ~= "string" then argerror(1, "project_id", "string expected, got " .. type(slug)) end
  org = org or self.org
  if not org then return invalid("org", "no organization: pass org = ... to chunks.client or set SENTRY_ORG") end
  if slug:match("^%d+$") then return tonumber(slug) end
  if dot_segment(org) or dot_segment(slug) or slug == "" then
    return invalid(dot_segment(org) and "org" or "project",
      format("invalid %s '%s'", dot_segment(org) and "organization" or "project slug", dot_segment(org) and org or slug))
  end
  self._slugs = self._slugs or {}
  local key = org .. "/" .. slug
  if self._slugs[key] then return self._slugs[key] end
  local res, err, details = run_blocking(self, new_async(self,
    self.base_url .. "/api/0/projects/" .. escape(org) .. "/" .. escape(slug) .. "/"))
  if not res then return nil, format("project '%s': %s", slug, err), details end
  local id = type(res) == "table" and project_id_of(res.id)
  if not id then
    details.kind = "unexpected_shape"
    return nil, format("project '%s': the answer has no project id (decimal digits)", slug), details
  end
  self._slugs[key] = id
  return id
end

-- The next page of a Link header (rel="next" with results="true"), or nil.
local function next_page(link)
  for part in (link or ""):gmatch("[^,]+") do
    local url = part:match("<([^>]+)>")
    if url and part:find('rel="next"', 1, true) and part:find('results="true"', 1, true) then
      return url
    end
  end
  return nil
end

-- Why the Link header's next URL is not followed, or nil: it must be a
-- valid URL of this client's Sentry (the token goes with it).
local function link_problem(self, url)
  local to = origin(url)
  if not to then
    return format("the Link header's next page '%s' is not a valid URL", one_line(url, 120))
  end
  if to ~= origin(self.base_url) then
    return format("the Link header's next page is on another origin (%s): not followed with the token",
      one_line(to, 120))
  end
  return nil
end

-- Why an events answer is not a list of span rows, or nil.
local function events_problem(res)
  if type(res) ~= "table" or not is_list(res.data) then
    return "expected an object with a 'data' array, got " .. json_type(type(res) == "table" and res.data or res)
  end
  for i, row in ipairs(res.data) do
    if type(row) ~= "table" then return format("row %d of 'data' is not an object", i) end
  end
  return nil
end

-- client:profilers{project, stats_period = "24h" [, org]} -> the profilers
-- seen in spans (the events endpoint, dataset=spans), most recent first:
-- {{profiler_id, threads = {"1", ...}, start, finish, spans}, ...}
-- (seconds), following the Link header's pages (at most max_pages, 50).
function Client:profilers(q)
  if getmetatable(self) ~= Client then
    error("bad argument #1 to 'profilers' (client expected; call it as client:profilers{...})", 2)
  end
  if type(q) ~= "table" then argerror(1, "profilers", "table expected, got " .. type(q)) end
  local org = q.org or self.org
  if not org then return invalid("org", "no organization: pass org = ... to chunks.client or set SENTRY_ORG") end
  if dot_segment(org) then return invalid("org", format("invalid organization '%s': not an organization slug", org)) end
  local max_pages = q.max_pages or 50
  if type(max_pages) ~= "number" or max_pages ~= floor(max_pages) or max_pages < 1 then
    argerror(1, "profilers", "field 'max_pages': a positive whole number expected")
  end
  local project = q.project
  if type(project) == "string" and not project:match("^%d+$") then
    local id, err, d = self:project_id(project, org)
    if not id then return nil, err, d end
    project = id
  end
  if not is_integer(project) then return invalid("project", "project is required (an id or a slug)") end
  local sp = q.stats_period or "24h"
  if not tostring(sp):match("^%d+[smhdw]?$") then
    return invalid("stats_period", "invalid stats_period: expected like '24h', got '" .. one_line(sp, 40) .. "'")
  end
  local url = self.base_url .. "/api/0/organizations/" .. escape(org) .. "/events/?dataset=spans"
    .. "&field=profiler.id&field=thread.id&field=precise.start_ts&field=precise.finish_ts"
    .. "&project=" .. format("%d", project) .. "&statsPeriod=" .. escape(sp) .. "&per_page=100"
    .. "&query=" .. escape("has:profiler.id")
  local by_id, list, pages = {}, {}, 0
  while url and pages < max_pages do
    local bad = pages > 0 and link_problem(self, url)
    if bad then -- a bad Link ends the listing with an error, never a shorter list
      return nil, format("page %d: %s", pages + 1, bad), { kind = "unexpected_shape", pages = pages }
    end
    pages = pages + 1
    local res, err, details = run_blocking(self, new_async(self, url))
    if not res then return nil, err, details end
    local rows_problem = events_problem(res)
    if rows_problem then
      details.kind = "unexpected_shape"
      return nil, format("page %d: unexpected answer: %s", pages, rows_problem), details
    end
    for _, row in ipairs(res.data) do
      local id = row["profiler.id"]
      if type(id) == "string" and id ~= "" then
        local p = by_id[id]
        if not p then
          p = { profiler_id = id, threads = {}, spans = 0, seen = {} }
          by_id[id] = p
          list[#list + 1] = p
        end
        p.spans = p.spans + 1
        local tid = row["thread.id"]
        if type(tid) == "string" and not p.seen[tid] then
          p.seen[tid] = true
          p.threads[#p.threads + 1] = tid
        end
        local s, f = tonumber(row["precise.start_ts"]), tonumber(row["precise.finish_ts"])
        if s and (not p.start or s < p.start) then p.start = s end
        if f and (not p.finish or f > p.finish) then p.finish = f end
      end
    end
    url = next_page(details.headers and details.headers.link)
  end
  for _, p in ipairs(list) do
    p.seen = nil
    table.sort(p.threads)
  end
  table.sort(list, function(a, b) return (a.finish or 0) > (b.finish or 0) end)
  -- more pages than max_pages: said, not silently a shorter list
  return list, nil, { pages = pages, truncated = url ~= nil or nil }
end

-- client:fetch_url(url [, opts]) -> res | nil, message, details: the
-- profile a Sentry URL shows (chunks.parse_url). A URL with start and end
-- is fetched whole through fetch_range (opts: window, concurrency). The
-- URL must be on this client's Sentry: a token is never sent elsewhere.
function Client:fetch_url(url, opts)
  if type(url) ~= "string" then argerror(1, "fetch_url", "string expected, got " .. type(url)) end
  local parsed, perr = require("sentry.chunks.url").parse_url(url)
  if not parsed then return nil, perr, { kind = "invalid_argument", field = "url" } end
  if origin(parsed.base_url) ~= origin(self.base_url) then
    return nil, format("the URL is on %s but this client asks %s: make a client with base_url = '%s'",
      parsed.base_url, self.base_url, parsed.base_url), { kind = "invalid_argument", field = "url" }
  end
  local project, err, details = self:project_id(tostring(parsed.project), parsed.org)
  if not project then return nil, err, details end
  local q = { org = parsed.org, project = project, profiler_id = parsed.profiler_id }
  if parsed.start then
    q.start, q["end"] = parsed.start, parsed["end"]
    opts = opts or {}
    q.window, q.concurrency = opts.window, opts.concurrency
    return self:fetch_range(q)
  end
  q.stats_period = parsed.stats_period
  if opts and opts.window and q.stats_period then -- windows of the length asked
    q.window, q.concurrency = opts.window, opts.concurrency
    return self:fetch_range(q)
  end
  return self:fetch(q)
end

-- A window is finite: at most a year. (A window over about 49 minutes can
-- overlap more than the server's 50 chunks; its answer is then flagged
-- truncated, not refused: a caller may know its chunks are sparse.)
local MAX_WINDOW = 31536000

-- Checks fetch_range's own fields before any request: window, concurrency
-- and retries are the caller's (a bad one raises: 0 or NaN would never
-- end); start and end
-- must be finite Unix seconds (an infinite end would split forever).
-- Returns nil, or a message and details for a bad start or end.
local function range_problem(q)
  if type(q) ~= "table" then error("bad argument #1 to 'fetch_range' (table expected, got " .. type(q) .. ")", 3) end
  local rules = { window = { 1, MAX_WINDOW }, concurrency = { 1, 64, whole = true },
    retries = { 0, 100, whole = true } }
  for name, rule in pairs(rules) do
    local v = q[name]
    if v ~= nil then
      if type(v) ~= "number" or v ~= v or v < rule[1] or v > rule[2] or (rule.whole and v ~= floor(v)) then
        error(format("bad argument #1 to 'fetch_range' (field '%s': %s in [%s, %s] expected, got %s)", name,
          rule.whole and "a whole number" or "a number", number_text(rule[1]), number_text(rule[2]),
          type(v) == "number" and number_text(v) or type(v)), 3)
      end
    end
  end
  for _, name in ipairs { "start", "end" } do
    local v = q[name]
    if type(v) == "number" and not (v >= 0 and v <= 253402300799) then
      return format("invalid %s: %s is not a Unix time in seconds", name, number_text(v)),
        { kind = "invalid_argument", field = name }
    end
  end
  return nil
end

-- client:fetch_range{project, profiler_id, start, ["end"], window,
-- concurrency, retries}: a range longer than the server's 50-chunk cap, as
-- concurrent windows merged into one answer (sentry.chunks.range).
function Client:fetch_range(q)
  if getmetatable(self) ~= Client then
    error("bad argument #1 to 'fetch_range' (client expected; call it as client:fetch_range{...})", 2)
  end
  local bad, details = range_problem(q)
  if bad then return nil, bad, details end
  if type(q) == "table" then
    local rq, rerr, rdetails = resolved(self, q, "fetch_range", true)
    if not rq then return nil, rerr, rdetails end
    q = rq
  end
  return shown(require("sentry.chunks.range").fetch(self, q))
end

-- chunks.fetch through a default client built from the environment.
local default_client, default_key
function M.fetch(q)
  if type(q) ~= "table" then
    argerror(1, "fetch", "table expected, got " .. type(q))
  end
  local key = concat({ env("SENTRY_AUTH_TOKEN") or "", env("SENTRY_ORG") or "",
    env("SENTRY_URL") or "" }, "\0")
  if not default_client or key ~= default_key then
    if default_client then default_client:close() end
    default_client, default_key = M.new(), key
  end
  return default_client:fetch(q)
end

-- The whole base_url check of M.new, for other transports: message or nil.
local function base_url_problem(base)
  if not origin(base) or not base:match("^[Hh][Tt][Tt][Pp][Ss]?://") then
    return "an http:// or https:// URL expected"
  end
  if base:match("^%a[%w+.-]*://[^/?#]*@") then
    return "credentials in the URL are not supported, use token"
  end
  return base_problem(base)
end

M.Client = Client
-- For other transports of the same request (sentry.chunks.resty, on nginx's
-- cosockets): validation, URL, error mapping and retry waits, shared so
-- that every transport gives the same results and error kinds.
M._internal = {
  build_query = build_query, classify = classify, redact = redact,
  parse_headers = parse_headers, rate_limit_of = rate_limit_of,
  backoff_delay = backoff_delay, rate_limit_delay = rate_limit_delay,
  set_token = function(cfg, token) secrets[cfg] = token end,
  check_numbers = check_numbers, token_problem = token_problem, base_url_problem = base_url_problem,
  shape_problem = shape_problem, origin = origin,
  HTTP_VERSIONS = HTTP_VERSIONS, iso8601 = iso8601,
}

return M
