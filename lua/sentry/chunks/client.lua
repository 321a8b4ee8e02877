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

local request = require "sentry.chunks.request"
local answer = require "sentry.chunks.answer"
local retry_policy = require "sentry.chunks.retry"
local discovery = require "sentry.chunks.discovery"

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

-- The request, the answer and the retry policy live in their own modules
-- (sentry.chunks.request, .answer, .retry), shared by every transport.
local argerror, env, one_line, origin, number_text = request.argerror, request.env, request.one_line,
  request.origin, request.number_text
local check_numbers, token_problem, base_problem = request.check_numbers, request.token_problem,
  request.base_problem
local base_url_problem, invalid, build_query = request.base_url_problem, request.invalid, request.build_query
local is_slug, with_project = request.is_slug, request.with_project
local escape, iso8601, dot_segment, is_integer = request.escape, request.iso8601, request.dot_segment,
  request.is_integer
local parse_headers, rate_limit_of, redact = answer.parse_headers, answer.rate_limit_of, answer.redact
local json_type, is_list, shape_problem, classify = answer.json_type, answer.is_list, answer.shape_problem,
  answer.classify
local HTTP_VERSIONS = answer.HTTP_VERSIONS
local backoff_delay, rate_limit_delay = retry_policy.backoff_delay, retry_policy.rate_limit_delay
M.escape, M.iso8601, M.check_answer = escape, iso8601, answer.check_answer

-- One transfer ---------------------------------------------------------------

local function start_transfer(self, url, layout)
  return self._multi:request {
    layout = layout, -- the decoder's samples layout (nil: rows)
    url = url, token = request.token_of(self), ca_file = self.ca_file, user_agent = self.user_agent,
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

-- The client -----------------------------------------------------------------

function M.new(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then argerror(1, "client", "table expected, got " .. type(opts)) end
  for k, v in pairs(opts) do
    local want = OPTION_TYPES[k]
    if not want then
      local hint = type(k) == "string" and require("sentry.chunks.report").closest(k, OPTION_TYPES)
      argerror(1, "client", format("unknown option '%s'%s", tostring(k), hint and ("; did you mean '" .. hint .. "'?") or ""))
    end
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
    request.set_bad_token(self, "SENTRY_AUTH_TOKEN: " .. token_problem(token))
    token = nil
  end
  request.set_token(self, token)
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
    self.org or "unset", request.token_of(self) and "token set" or "no token")
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
  local client, token, url = self.client, request.token_of(self.client), self.url
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

-- The project slug's answer is in (req.lookup, set by fetch_async): the
-- same request goes on to the chunks of the project it names, as a fresh
-- fetch (attempts, retries and redirects counted anew), or ends with the
-- lookup's error.
local function follow_lookup(self)
  local lookup = self.lookup
  self.lookup = nil
  local id, err, details = lookup.finish(self.value, self.err, self.details)
  if not id then
    self.value = nil
    return conclude(self, nil, err, details)
  end
  -- checked with a stand-in id before the lookup: fails only for an id
  -- the server gave that no query takes
  local url, uerr, udetails = build_query(self.client, with_project(lookup.q, id))
  if not url then return conclude(self, nil, uerr, udetails) end
  self.url, self.start_origin, self.visited = url, origin(url), nil
  self.attempts, self.retried, self.redirects, self.wake_at = 0, 0, 0, 0
  self.done, self.value, self.err, self.details = false, nil, nil, nil
  self.layout, self.expect_chunk = lookup.layout, true
  return false
end

-- req:step() -> true when the fetch is over (then req:result()).
function Async:step()
  check_async(self, "step")
  if self.done then return true end
  if not self.req then
    if self.client._multi:closed() then return conclude(self, nil, "client is closed", { kind = "aborted", url = self.url, attempts = self.attempts }) end
    if core.monotime() < self.wake_at then return false end
    self.attempts = self.attempts + 1
    self.req = start_transfer(self.client, self.url, self.layout)
  end
  local req = self.req
  local finished = req:step()
  report_progress(self.client, req, self)
  if not finished then return false end
  self.req = nil
  local over = settle(self, finish_transfer(self.client, req, self))
  if over and self.lookup then return follow_lookup(self) end
  return over
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
  local slug = slugs and is_slug(project)
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
    return request.resolve_slug(self, copy, function(s, org) return self:project_id(s, org) end)
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
  request.check_fields(q, "fetch_async", 2)
  q = resolved(self, q, "fetch_async", false)
  -- A project slug: its id when this client has resolved it before, else
  -- looked up on this request before the chunks (req.lookup), the rest of
  -- the query checked first with a stand-in id. A long range's windows
  -- each take the slug as it is.
  local lookup_url, finish
  if is_slug(q.project) then
    local id
    id, lookup_url, finish = discovery.project_lookup(self, q.project, q.org)
    if id == nil then return nil, lookup_url, finish end
    if id then q = with_project(q, id) end
  end
  local url, err, details = build_query(self, lookup_url and with_project(q, 0) or q)
  if not url then return nil, err, details end
  if self._multi:closed() then return nil, "client is closed", { kind = "aborted", url = url } end
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
  local req = new_async(self, lookup_url or url)
  req.layout = q.layout -- samples in rows (nil, "rows") or "columns"
  req.expect_chunk = true -- the answer's shape is checked before it is a success
  req.range_start = span and not span.period and span.start or nil
  if lookup_url then -- the slug's answer first: a project, not chunks
    req.lookup = { finish = finish, q = q, layout = req.layout }
    req.layout, req.expect_chunk = nil, false
  end
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
        return nil, redact(msg, request.token_of(self)), { kind = "network", url = req.url, attempts = req.attempts }
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
  request.check_fields(q, "fetch", 2)
  local rq, rerr, rdetails = resolved(self, q, "fetch", true)
  if not rq then return nil, rerr, rdetails end
  local req, err, details = self:fetch_async(rq)
  if not req then return nil, err, details end
  if getmetatable(req) ~= Async then return shown(req:run()) end -- a long range, in windows
  return shown(run_blocking(self, req))
end

-- Slug resolution, discovery and URL fetching: sentry.chunks.discovery,
-- over this client's blocking GET.
function Client:_get_json(url)
  return run_blocking(self, new_async(self, url))
end

-- client:project_id(slug [, org]) -> the numeric id of a project slug
-- (GET /api/0/projects/{org}/{slug}/), cached per client.
function Client:project_id(slug, org)
  return discovery.project_id(self, slug, org)
end

-- client:profilers{project, stats_period = "24h" [, org]}: see discovery.profilers.
function Client:profilers(q)
  if getmetatable(self) ~= Client then
    error("bad argument #1 to 'profilers' (client expected; call it as client:profilers{...})", 2)
  end
  if type(q) == "table" then
    request.check_fields(q, "profilers", 2)
    q = resolved(self, q, "profilers", false)
  end
  return discovery.profilers(self, q)
end

-- client:fetch_url(url [, opts]): see discovery.fetch_url.
function Client:fetch_url(url, opts)
  return discovery.fetch_url(self, url, opts)
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
  request.check_fields(q, "fetch_range", 2)
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
  set_token = request.set_token,
  check_numbers = check_numbers, token_problem = token_problem, base_url_problem = base_url_problem,
  shape_problem = shape_problem, origin = origin,
  HTTP_VERSIONS = HTTP_VERSIONS, iso8601 = iso8601,
}

return M
