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
--   redirect          a redirect to another origin (refused: never followed)
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

local function rate_limit_of(headers)
  local rl, any = {}, false
  for field, name in pairs {
    limit = "x-sentry-rate-limit-limit", remaining = "x-sentry-rate-limit-remaining",
    reset = "x-sentry-rate-limit-reset",
    concurrent_limit = "x-sentry-rate-limit-concurrentlimit",
    concurrent_remaining = "x-sentry-rate-limit-concurrentremaining",
  } do
    local v = tonumber(headers[name] or "")
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
  local host, port = authority:match("^(%[.*%]):?(%d*)$")
  if not host then host, port = authority:match("^([^:]*):?(%d*)$") end
  if port == "" then port = scheme == "https" and "443" or "80" end
  return scheme .. "://" .. host .. ":" .. port
end

local function redact(value, token, seen)
  if not token or token == "" then return value end
  local t = type(value)
  if t == "string" then
    local i = value:find(token, 1, true)
    while i do
      value = value:sub(1, i - 1) .. "[redacted]" .. value:sub(i + #token)
      i = value:find(token, 1, true)
    end
    return value
  elseif t == "table" then
    seen = seen or {}
    if seen[value] then return value end
    seen[value] = true
    for k, v in pairs(value) do value[k] = redact(v, token, seen) end
  end
  return value
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
  if not v:match("^%d%d%d%d%-%d%d%-%d%d") then
    return nil, format("invalid %s: expected ISO-8601 (2001-12-14T12:34:56Z) or Unix seconds, got '%s'",
      name, one_line(v, 60))
  end
  return v
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
  aborted = "aborted",
}

local TRANSPORT_WHAT = {
  network = "network error", timeout = "timed out", tls = "TLS error",
  too_large = "answer too large", invalid_json = "invalid JSON in the answer",
  invalid_url = "invalid URL", aborted = "aborted",
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
  local ra = tonumber(headers["retry-after"] or "")
  if ra then return ra end
  local reset = tonumber(headers["x-sentry-rate-limit-reset"] or "")
  if reset then
    local wait = reset - os.time()
    if wait < 0 then wait = 0 end
    return wait + 0.1 + 0.4 * math.random()
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
  local self = setmetatable({}, Client)
  for k, v in pairs(DEFAULTS) do self[k] = v end
  for k, v in pairs(opts) do if k ~= "token" then self[k] = v end end
  local token = opts.token or env("SENTRY_AUTH_TOKEN")
  if token == "" then token = nil end
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
  return self._multi and self._multi:active() or 0
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
  if value ~= nil and self.chunks and details then
    details.windows = 1
    details.warning = require("sentry.chunks.range").truncation(value, self.range_start)
    details.truncated = details.warning ~= nil
  end
  self.done, self.value, self.err, self.details = true, value, err, details
  return true
end

-- A transfer ended: success, a retry (after a wait), a same-origin
-- redirect, or the final error, mapped as the contract says.
local function settle(self, value, info)
  local client, token, url = self.client, secrets[self.client], self.url
  if value ~= nil then
    local headers = parse_headers(info.headers)
    return conclude(self, value, nil, {
      status = info.status, headers = headers, rate_limit = rate_limit_of(headers),
      url = url, attempts = self.attempts, bytes = info.received, wire_bytes = info.wire_received,
      seconds = info.seconds, reused = info.reused,
      http_version = HTTP_VERSIONS[info.http_version] or tostring(info.http_version),
    })
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
    if target and origin(target) == self.start_origin and self.redirects < 5 then
      self.redirects = self.redirects + 1
      self.url = target
      self.attempts = self.attempts - 1
      self.wake_at = 0
      return false
    end
    d.location = location
    msg = format("HTTP %d: refused to follow a redirect to %s (only the same origin is followed)",
      info.status, location and one_line(origin(location) or location, 120) or "nowhere")
    return conclude(self, nil, redact(msg, token), redact(d, token))
  end
  if retry and self.retried < client.retries then
    local wait
    if retry == "rate_limit" then
      wait = rate_limit_delay(d.headers) or backoff_delay(client, self.retried + 1)
      if wait > client.max_wait then
        d.retry_after = wait
        return conclude(self, nil, redact(msg .. format(
          " (the server asks to wait %d s, more than max_wait)", floor(wait + 0.5)), token),
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
  req.chunks = true
  req.range_start = span and not span.period and span.start or nil
  return req
end

-- Runs an async request to the end, waiting on the client's sockets.
local function run_blocking(self, req)
  while not req:step() do
    if req.req then
      local ok, perr = self._multi:poll(1)
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

-- client:project_id(slug [, org]) -> the numeric id of a project slug
-- (GET /api/0/projects/{org}/{slug}/), cached per client.
function Client:project_id(slug, org)
  if type(slug) ~= "string" then argerror(1, "project_id", "string expected, got " .. type(slug)) end
  org = org or self.org
  if not org then return invalid("org", "no organization: pass org = ... to chunks.client or set SENTRY_ORG") end
  if slug:match("^%d+$") then return tonumber(slug) end
  self._slugs = self._slugs or {}
  local key = org .. "/" .. slug
  if self._slugs[key] then return self._slugs[key] end
  local res, err, details = run_blocking(self, new_async(self,
    self.base_url .. "/api/0/projects/" .. escape(org) .. "/" .. escape(slug) .. "/"))
  if not res then return nil, format("project '%s': %s", slug, err), details end
  local id = type(res) == "table" and tonumber(res.id)
  if not id then return nil, format("project '%s': the answer has no id", slug), { kind = "http" } end
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
  while url and pages < (q.max_pages or 50) do
    if origin(url) ~= origin(self.base_url) then break end -- never follow elsewhere
    pages = pages + 1
    local res, err, details = run_blocking(self, new_async(self, url))
    if not res then return nil, err, details end
    for _, row in ipairs(type(res.data) == "table" and res.data or {}) do
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
  return list, nil, { pages = pages }
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

-- client:fetch_range{project, profiler_id, start, ["end"], window,
-- concurrency, retries}: a range longer than the server's 50-chunk cap, as
-- concurrent windows merged into one answer (sentry.chunks.range).
function Client:fetch_range(q)
  if getmetatable(self) ~= Client then
    error("bad argument #1 to 'fetch_range' (client expected; call it as client:fetch_range{...})", 2)
  end
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

M.Client = Client
-- For other transports of the same request (sentry.chunks.resty, on nginx's
-- cosockets): validation, URL, error mapping and retry waits, shared so
-- that every transport gives the same results and error kinds.
M._internal = {
  build_query = build_query, classify = classify, redact = redact,
  parse_headers = parse_headers, rate_limit_of = rate_limit_of,
  backoff_delay = backoff_delay, rate_limit_delay = rate_limit_delay,
  set_token = function(cfg, token) secrets[cfg] = token end,
  HTTP_VERSIONS = HTTP_VERSIONS, iso8601 = iso8601,
}

return M
