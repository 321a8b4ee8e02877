-- sentry.chunks.resty: a lua-resty library for the chunks endpoint, inside
-- nginx (OpenResty, or Debian's nginx with its Lua module), where libcurl
-- must not run in a request handler: nginx's cosockets do the I/O, so the
-- worker never blocks, and the body goes piece by piece into the streaming
-- decoder (memory stays bounded; a gzip body is inflated piece by piece on
-- the way). Same options checks, results, messages and error kinds as
-- sentry.chunks.client: both build the request with sentry.chunks.request,
-- read the answer with sentry.chunks.answer and wait as sentry.chunks.retry
-- says.
--
--   local sc = require "sentry.chunks.resty"
--   local c = sc.new { token = ..., org = ..., base_url = "https://sentry.io",
--     timeout = 60, connect_timeout = 10, retries = 3, max_bytes = 512 MB,
--     ssl_verify = true, max_wait = 60, backoff = 0.5,
--     keepalive = { timeout = 60, pool_size = 30 } }   -- or keepalive = false
--   local res, err, details = c:fetch { project = 1, profiler_id = "...", stats_period = "1h" }
--   c:fetch_range { project =, profiler_id =, start =, ["end"] =, window = 2400,
--     concurrency = 4 [, each = function(answer, window) end] }
--   c:fetch_url(url [, opts]), c:profilers { project =, stats_period = "24h" }
--   c:project_id(slug [, org])
--   local top = sc.top(res, opts)  -- aggregate.top, pausing 1 ms for nginx's event
--                                  -- loop after each 10 ms of work (sc.slicer): the
--                                  -- worker keeps serving other requests meanwhile
--
--   -- the one-call form of earlier versions still works:
--   sc.fetch({ token =, org =, base_url =, ... }, { project =, profiler_id =, ... })
--
-- TLS is verified against nginx's lua_ssl_trusted_certificate (set it to the
-- system's bundle, or a self-hosted server's CA). `timeout` is one deadline
-- for a whole request, retries and their waits included: a server that
-- sends a byte a second cannot hold a request past it. Connections whose
-- answer ended cleanly go back to nginx's cosocket pool (setkeepalive;
-- details.reused says how often the connection had served before). Retries
-- and rate-limit waits are logged with ngx.log at WARN, never with the token.
-- Options are checked as chunks.client checks them (an unknown or
-- out-of-range one raises).
-- the C decoder only: requiring this module loads neither the libcurl
-- client nor the analysis package (sc.top loads the analysis when called)
local core = require("sentry.chunks.loadcore").load("sentry.chunks.resty")
local request = require "sentry.chunks.request"
local answer = require "sentry.chunks.answer"
local retry_policy = require "sentry.chunks.retry"
local discovery = require "sentry.chunks.discovery"
local range = require "sentry.chunks.range"

local M = {}

local format, concat, floor, tonumber = string.format, table.concat, math.floor, tonumber
local PIECE = 16384
local INFLATE_PIECE = 1024  -- compressed bytes inflated at a time (bounds one inflated piece)
local TEXT_CAP = 65536      -- a body kept as text (an error answer), at most: past it, too_large
local DEFAULT_MAX_BYTES = 512 * 1024 * 1024 -- max_bytes by default (the libcurl engine's too)

-- lua-zlib, when installed. Loaded under LuaJIT it also sets a global
-- `zlib` (luaL_register), which nginx's write guard on _G logs as a warning
-- ("writing a global Lua variable ('zlib')") when the first request loads
-- this module: the guard is set aside for that one require, and the global
-- that was not there before is removed again.
local function load_zlib()
  if package.loaded.zlib then return true, package.loaded.zlib end
  local had, mt = rawget(_G, "zlib"), getmetatable(_G)
  if mt then setmetatable(_G, nil) end
  local ok, z = pcall(require, "zlib")
  if mt then setmetatable(_G, mt) end
  if had == nil then rawset(_G, "zlib", nil) end
  return ok, z
end
local has_zlib, zlib = load_zlib()
if not has_zlib then zlib = nil end

local function one_line(s) return (tostring(s):gsub("[%c%s]+", " ")) end

local MAX_LINE = 8192       -- a status or header line, a chunk-size line
local MAX_HEADERS = 200

-- A reader over a cosocket under one deadline (ngx.now() seconds) for all
-- it reads: each receive waits at most until the deadline, and it takes
-- whatever bytes have arrived (receiveany), so a server sending 1 byte/s
-- cannot stretch the fetch past it. Errors: "timeout" (the deadline),
-- "closed", or the cosocket's own.
local function reader(sock, deadline)
  local buf, pos = "", 1
  local r = {}
  local function fill()
    local left = deadline - ngx.now()
    if left <= 0 then return nil, "timeout" end
    local ms = math.max(1, math.ceil(left * 1000))
    sock:settimeouts(ms, ms, ms)
    local data, err = sock:receiveany(PIECE)
    if not data then return nil, err end
    buf = pos > #buf and data or (buf:sub(pos) .. data)
    pos = 1
    return true
  end
  -- the next line without its CRLF, at most max bytes
  function r.line(max)
    while true do
      local i = buf:find("\n", pos, true)
      if i then
        if i - pos > max then return nil, "line too long" end
        local line = buf:sub(pos, i - 1):gsub("\r$", "")
        pos = i + 1
        return line
      end
      if #buf - pos + 1 > max then return nil, "line too long" end
      local ok, err = fill()
      if not ok then return nil, err end
    end
  end
  -- how many bytes were read past what was taken
  function r.pending() return #buf - pos + 1 end
  -- between 1 and n bytes
  function r.some(n)
    if pos > #buf then
      local ok, err = fill()
      if not ok then return nil, err end
    end
    local last = pos + n - 1
    if last > #buf then last = #buf end
    local piece = buf:sub(pos, last)
    pos = last + 1
    return piece
  end
  return r
end

local function kind_of(err)
  return err == "timeout" and "timeout" or "network"
end

local function why(err)
  if err == "timeout" then return "the whole fetch took longer than timeout" end
  return tostring(err)
end

-- Reads the body (Content-Length, chunked, or to the close) and hands each
-- piece to sink; returns true, or nil, kind, message. Never raises on what
-- the server sends.
local function read_body(r, headers, sink)
  local te = (headers["transfer-encoding"] or ""):lower()
  local function pieces(n)
    while n > 0 do
      local data, err = r.some(n < PIECE and n or PIECE)
      if not data then return nil, kind_of(err), "body cut short (" .. why(err) .. ")" end
      n = n - #data
      local ok, kind, msg = sink(data)
      if ok == false then return nil, kind, msg end
    end
    return true
  end
  if te:find("chunked", 1, true) then
    while true do
      local line, err = r.line(MAX_LINE)
      if not line then return nil, kind_of(err), "body cut short (" .. why(err) .. ")" end
      local hex = line:match("^(%x+)[ \t]*$") or line:match("^(%x+)[ \t]*;")
      if not hex or #hex > 12 then
        return nil, "network", "bad chunked encoding (chunk size '" .. one_line(line:sub(1, 40)) .. "')"
      end
      local size = tonumber(hex, 16)
      if size == 0 then
        repeat line, err = r.line(MAX_LINE) until not line or line == ""
        if not line and err ~= "closed" then return nil, kind_of(err), "body cut short (" .. why(err) .. ")" end
        return true
      end
      local ok, kind, msg = pieces(size)
      if not ok then return nil, kind, msg end
      local tail = "" -- the CRLF after each chunk's data
      while #tail < 2 do
        local b, terr = r.some(2 - #tail)
        if not b then return nil, kind_of(terr), "body cut short (" .. why(terr) .. ")" end
        tail = tail .. b
      end
      if tail ~= "\r\n" then return nil, "network", "bad chunked encoding (no CRLF after a chunk)" end
    end
  end
  local cl = headers["content-length"]
  if cl then
    if not cl:match("^%s*%d+%s*$") or #cl > 20 then
      return nil, "network", "bad Content-Length '" .. one_line(cl:sub(1, 40)) .. "'"
    end
    return pieces(tonumber(cl))
  end
  while true do -- no length: to the close
    local data, err = r.some(PIECE)
    if not data then
      if err == "closed" then return true end
      return nil, kind_of(err), why(err)
    end
    local ok, kind, msg = sink(data)
    if ok == false then return nil, kind, msg end
  end
end

-- A streaming inflater for a Content-Encoding: false for none, an inflater
-- { inflate(piece) -> text | nil, message; done() -> true | nil, message },
-- or nil and why it cannot be read.
local function inflater(encoding)
  encoding = (encoding or ""):lower():match("^%s*(.-)%s*$")
  if encoding == "" or encoding == "identity" then return false end
  if encoding ~= "gzip" and encoding ~= "x-gzip" and encoding ~= "deflate" then
    return nil, "the answer's Content-Encoding '" .. one_line(encoding):sub(1, 40) .. "' is not supported"
  end
  if not zlib then return nil, "a " .. encoding .. " answer and no lua-zlib to inflate it" end
  local stream, eof = zlib.inflate(), false -- gzip or zlib, told apart by the header
  local f = {}
  function f.inflate(piece)
    local out = {}
    for i = 1, #piece, INFLATE_PIECE do
      if eof then return nil, "bytes after the end of the " .. encoding .. " stream" end
      local ok, text, done = pcall(stream, piece:sub(i, i + INFLATE_PIECE - 1))
      if not ok then return nil, "bad " .. encoding .. " body (" .. one_line(text):sub(1, 80) .. ")" end
      out[#out + 1] = text
      eof = done
    end
    return concat(out)
  end
  function f.done()
    if not eof then return nil, "the " .. encoding .. " stream ends early" end
    return true
  end
  return f
end

local function log(level, msg)
  if ngx and ngx.log then ngx.log(level, "sentry.chunks: ", msg) end
end

-- One request on one connection: value, info | nil, info (info as
-- answer.classify reads it: kind "response" for an HTTP answer, else a
-- transport kind) | nil, nil when a pooled connection turned out closed
-- before any answer (the caller tries a new one). Everything ends by
-- `deadline`.
local function attempt_once(self, token, url, deadline, layout)
  local scheme, host, port, path = url:match("^(https?)://([^/:]+):?(%d*)(/.*)$")
  if not scheme then
    return nil, { kind = "invalid_url", message = "cannot connect to this URL (http or https, a host name or IPv4 address)" }
  end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  local keepalive = self.keepalive
  local left = deadline - ngx.now()
  if left <= 0 then return nil, { kind = "timeout", message = why("timeout") } end
  local sock = ngx.socket.tcp()
  local connect_ms = math.max(1, math.ceil(math.min(self.connect_timeout, left) * 1000))
  local ms = math.max(1, math.ceil(left * 1000))
  sock:settimeouts(connect_ms, ms, ms)
  -- pooled by origin and TLS verification; a client without keepalive
  -- takes no pooled connection (its pool never holds one)
  local ok, err = sock:connect(host, port, { pool = format("sentry.chunks:%s:%s:%d:%s%s", scheme, host, port,
    self.ssl_verify == false and "noverify" or "verify", keepalive and "" or ":close") })
  if not ok then return nil, { kind = "connect", message = "cannot connect: " .. tostring(err) } end
  local reused = sock:getreusedtimes() or 0
  if scheme == "https" and reused == 0 then
    ok, err = sock:sslhandshake(nil, host, self.ssl_verify ~= false)
    if not ok then
      sock:close()
      return nil, { kind = err == "timeout" and "timeout" or "tls", message = tostring(err) }
    end
  end
  local req = concat {
    "GET ", path, " HTTP/1.1\r\nHost: ", host, (port == 80 or port == 443) and "" or (":" .. port),
    "\r\nAuthorization: Bearer ", token,
    "\r\nAccept: application/json\r\nAccept-Encoding: ", zlib and "gzip" or "identity",
    "\r\nConnection: ", keepalive and "keep-alive" or "close", "\r\n",
    "User-Agent: sentry-chunks-resty\r\n\r\n",
  }
  ok, err = sock:send(req)
  req = nil -- luacheck: ignore (it held the token)
  if not ok then
    sock:close()
    if reused > 0 and err == "closed" then return nil, nil end
    return nil, { kind = err == "timeout" and "timeout" or "network", message = "cannot send the request: " .. why(err) }
  end
  local r = reader(sock, deadline)
  local status_line, serr = r.line(MAX_LINE)
  local status = status_line and tonumber(status_line:match("^HTTP/%d[%.%d]*%s+(%d%d%d)"))
  if not status then
    sock:close()
    if reused > 0 and serr == "closed" and not status_line then return nil, nil end -- a stale pooled connection
    return nil, { kind = serr == "timeout" and "timeout" or "network",
      message = serr == "timeout" and why(serr) or "no HTTP answer" }
  end
  local raw = { status_line }
  while true do
    local line, herr = r.line(MAX_LINE)
    if not line or #raw > MAX_HEADERS then
      sock:close()
      return nil, { kind = kind_of(herr), status = status,
        message = herr == "timeout" and why(herr) or ("headers cut short or too long (" .. tostring(herr or "too many") .. ")") }
    end
    if line == "" then break end
    raw[#raw + 1] = line
  end
  local header_block = concat(raw, "\r\n")
  local headers = answer.parse_headers(header_block)
  local ctype = headers["content-type"]
  local info = { kind = "response", status = status, headers = header_block, content_type = ctype, reused = reused }
  local gz, gzerr = inflater(headers["content-encoding"])
  if gz == nil then
    sock:close()
    return nil, { kind = "network", message = gzerr, status = status, headers = header_block }
  end
  local json = status >= 200 and status < 300 and ctype and ctype:lower():find("json", 1, true)
  local max = self.max_bytes or DEFAULT_MAX_BYTES
  local cl = tonumber((headers["content-length"] or ""):match("^%s*(%d+)%s*$"))
  local chunked = (headers["transfer-encoding"] or ""):lower():find("chunked", 1, true)
  -- an announced length past max_bytes fails at once, as libcurl's does
  if cl and cl > max and not chunked then
    sock:close()
    return nil, { kind = "too_large", message = format("more than %d bytes", max), status = status,
      headers = header_block }
  end
  -- the decoder presizes the samples from the body's size, as libcurl's
  -- fetch does: only a size that is the JSON's own (no content-encoding)
  local size = cl and cl >= 1 and cl <= max and cl < 2 ^ 53 and not chunked
    and not headers["content-encoding"] and cl or nil
  local d, text, received, inflated, failure = json and core.decoder { layout = layout, size = size } or nil, {}, 0, 0, nil
  local function take(piece)
    if d then
      local fed, derr = d:feed(piece)
      if not fed then
        failure = { kind = "invalid_json", message = derr }
        return false
      end
    elseif inflated > TEXT_CAP then -- as the libcurl engine: never cut silently
      failure = { kind = "too_large", message = format(
        "the answer (HTTP %d, not JSON to decode) is larger than %d bytes", status, TEXT_CAP) }
      return false
    else
      text[#text + 1] = piece
    end
    return true
  end
  local ok_body, kind, msg = read_body(r, headers, function(piece)
    received = received + #piece
    if received > max then
      failure = { kind = "too_large", message = format("more than %d bytes", max) }
      return false
    end
    if gz then
      local plain, ierr = gz.inflate(piece)
      if not plain then
        failure = { kind = "network", message = ierr }
        return false
      end
      piece = plain
    end
    inflated = inflated + #piece
    if inflated > max then -- max_bytes bounds the inflated bytes too
      failure = { kind = "too_large", message = format("more than max_bytes (%d bytes) once inflated", max) }
      return false
    end
    -- under Content-Encoding, the JSON's size as libcurl's fetch guesses
    -- it: the compressed length times the ratio so far, at most max_bytes
    if d and gz and cl and cl >= 1 and not chunked and inflated > 0 then
      d:size(math.min(max, floor(cl * math.max(1, inflated / received))))
    end
    return take(piece)
  end)
  if ok_body and not failure and gz then
    local done, derr = gz.done()
    if not done then failure = { kind = "network", message = derr } end
  end
  -- back to the pool only when the answer ended where it said it ends
  local conn = (headers["connection"] or ""):lower()
  local framed = headers["content-length"] or (headers["transfer-encoding"] or ""):lower():find("chunked", 1, true)
  if keepalive and ok_body and not failure and framed and r.pending() == 0 and not conn:find("close", 1, true)
    and not status_line:match("^HTTP/1%.0") then
    sock:setkeepalive(keepalive.timeout * 1000, keepalive.pool_size)
  else
    sock:close()
  end
  if failure then
    failure.status, failure.headers = status, header_block
    return nil, failure
  end
  if not ok_body then return nil, { kind = kind, message = msg, status = status, headers = header_block } end
  info.received = received
  if d then
    local value, derr = d:finish()
    if value == nil then
      return nil, { kind = "invalid_json", message = derr, status = status, headers = header_block }
    end
    return value, info
  end
  info.body = concat(text)
  return nil, info
end

local function attempt(self, token, url, deadline, layout)
  for _ = 1, 5 do
    local value, info = attempt_once(self, token, url, deadline, layout)
    if info ~= nil then return value, info end
  end
  return attempt_once(self, token, url, deadline, layout)
end

-- One GET with its retries: res, nil, details | nil, message, details.
-- One deadline bounds it, retries and their waits included. shape: the
-- answer must be a chunks answer (range_start: the window's start, for
-- the truncation check; layout: the samples layout, nil for rows).
local function get(self, url, shape, range_start, layout)
  local token = request.token_of(self)
  ngx.update_time()
  local deadline = ngx.now() + self.timeout
  local retried, attempts = 0, 0
  while true do
    attempts = attempts + 1
    local value, info = attempt(self, token, url, deadline, layout)
    if value ~= nil then
      local headers = answer.parse_headers(info.headers)
      local d = { status = info.status, headers = headers, rate_limit = answer.rate_limit_of(headers),
                  url = url, attempts = attempts, bytes = info.received, reused = info.reused }
      if shape then
        local warning = range.truncation(value, range_start)
        d.windows, d.truncated, d.warning = 1, warning ~= nil, warning
        local problem = answer.shape_problem(value)
        if problem then -- valid JSON, not a chunks answer: never a success
          d.kind, d.content_type = "unexpected_shape", info.content_type
          d.truncated, d.warning, d.windows = nil, nil, nil
          return nil, answer.redact(one_line("unexpected answer: " .. problem), token), answer.redact(d, token)
        end
      end
      return value, nil, answer.redact(d, token) -- a server may echo the token in a header
    end
    local msg, d, retry = answer.classify(self, info, url, attempts)
    if retry and retry ~= "redirect" and retried < self.retries then
      local wait = retry == "rate_limit" and (retry_policy.rate_limit_delay(d.headers)
        or retry_policy.backoff_delay(self, retried + 1)) or retry_policy.backoff_delay(self, retried + 1)
      if wait > self.max_wait then
        return nil, answer.redact(one_line(msg), token), answer.redact(d, token)
      end
      ngx.update_time()
      if ngx.now() + wait >= deadline then
        msg = msg .. format(" (no time left for retry %d within timeout = %s s)", retried + 1, tostring(self.timeout))
        return nil, answer.redact(one_line(msg), token), answer.redact(d, token)
      end
      retried = retried + 1
      log(ngx.WARN, answer.redact(one_line(format("%s; %s %d of %d in %.2f s", msg,
        retry == "rate_limit" and "rate limited, waiting before retry" or "retry", retried, self.retries, wait)), token))
      ngx.sleep(wait)
    else
      if retry == "redirect" then msg = format("HTTP %d: redirects are not followed", info.status) end
      if retry and retried > 0 then
        msg = msg .. format(" (after %d retr%s)", retried, retried == 1 and "y" or "ies")
      end
      return nil, answer.redact(one_line(msg), token), answer.redact(d, token)
    end
  end
end

-- The client ---------------------------------------------------------------

local OPTION_TYPES = {
  token = "string", org = "string", base_url = "string", timeout = "number",
  connect_timeout = "number", retries = "number", max_bytes = "number", ssl_verify = "boolean",
  max_wait = "number", backoff = "number", keepalive = "table",
}

local Client = {}
Client.__index = Client

-- The checked client, or nil and the argument error's message (raised by
-- the public function, so that it points at the caller).
local function configure(opts, fname)
  if type(opts) ~= "table" then return nil, format("bad argument #1 to '%s' (table expected, got %s)", fname, type(opts)) end
  for k, v in pairs(opts) do
    local want = OPTION_TYPES[k]
    if not want then return nil, format("bad argument #1 to '%s' (unknown option '%s')", fname, tostring(k)) end
    if type(v) ~= want and not (k == "keepalive" and v == false) then
      return nil, format("bad argument #1 to '%s' (option '%s': %s expected, got %s)", fname, k,
        k == "keepalive" and "table or false" or want, type(v))
    end
  end
  local okn, n = pcall(request.check_numbers, opts, fname)
  if not okn then return nil, (tostring(n):gsub("^[^\n]-:%d+: ", "")) end
  if request.token_problem(opts.token) then
    return nil, format("bad argument #1 to '%s' (option 'token': %s)", fname, request.token_problem(opts.token))
  end
  local base = (opts.base_url or "https://sentry.io"):gsub("/+$", "")
  if request.base_url_problem(base) then
    return nil, format("bad argument #1 to '%s' (option 'base_url': %s, got '%s')", fname,
      request.base_url_problem(base), one_line(base):sub(1, 80))
  end
  local keepalive = false
  if opts.keepalive ~= false then
    local ka = opts.keepalive or {}
    for k, v in pairs(ka) do
      if (k ~= "timeout" and k ~= "pool_size") or type(v) ~= "number" or v ~= v or v < (k == "timeout" and 0 or 1)
        or v > 1e6 or (k == "pool_size" and v ~= floor(v)) then
        return nil, format("bad argument #1 to '%s' (option 'keepalive': { timeout = seconds >= 0, pool_size = "
          .. "a whole number >= 1 } expected, got field '%s' = %s)", fname, tostring(k), tostring(v))
      end
    end
    keepalive = { timeout = ka.timeout or 60, pool_size = ka.pool_size }
  end
  local self = setmetatable({
    org = opts.org, base_url = base,
    timeout = n.timeout or 60, connect_timeout = n.connect_timeout or 10,
    retries = n.retries or 3, max_bytes = n.max_bytes, ssl_verify = opts.ssl_verify,
    max_wait = n.max_wait or 60, backoff = n.backoff or 0.5, max_backoff = 30,
    keepalive = keepalive,
  }, Client)
  request.set_token(self, opts.token)
  return self
end

-- sc.new{...} -> client (options above; an unknown or bad one raises).
function M.new(opts)
  local self, err = configure(opts, "new")
  if not self then error(err, 2) end
  return self
end

function Client:__tostring()
  return format("sentry.chunks.resty client (%s, %s)", tostring(self.org or "no org"),
    request.token_of(self) and "token set" or "no token")
end

local function check_self(self, name)
  if getmetatable(self) ~= Client then
    error(format("bad argument #1 to '%s' (client expected; call it as client:%s{...})", name, name), 3)
  end
end

-- Windows fetched on up to `concurrency` light threads (ngx.thread), merged
-- as client:fetch_range merges them, or handed to each(answer, window) in
-- time order and not kept (at most `concurrency` windows held at once).
local function fetch_windows(self, q, span, window, concurrency, each)
  local windows = range.split(span.start, span["end"], window)
  local results, failure, next_i, next_deliver = {}, nil, 1, 1
  local delivering, info_bytes = false, 0
  local function deliver()
    if delivering then return end
    delivering = true
    while not failure and next_deliver <= #windows and results[next_deliver] ~= nil do
      local i, r = next_deliver, results[next_deliver]
      if r then
        info_bytes = info_bytes + (r.details.bytes or 0)
        local w = windows[i]
        local ok, err = pcall(each, r.answer, { index = i, count = #windows, start = w.start, ["end"] = w["end"] })
        if not ok then
          failure = { "the each callback failed: " .. one_line(err), { kind = "callback",
            window = { index = i, count = #windows, start = w.start, ["end"] = w["end"] } } }
        end
        results[i] = { details = r.details, delivered = true }
      end
      next_deliver = i + 1
    end
    delivering = false
  end
  local function worker()
    while not failure and next_i <= #windows do
      -- with each, at most `concurrency` windows are held between the next
      -- one to hand over and the next one to start (bounded memory however
      -- slow one window is): wait for the one that holds the others back
      while each and not failure and next_i - next_deliver >= concurrency do ngx.sleep(0.005) end
      if failure or next_i > #windows then return end
      local i = next_i
      next_i = i + 1
      local w = windows[i]
      local wurl = request.build_query(self, { project = q.project, profiler_id = q.profiler_id, org = q.org,
        start = w.start, ["end"] = w["end"] })
      local res, werr, d = get(self, wurl, true, w.start, q.layout)
      if failure then return end
      if res then
        results[i] = { answer = i < #windows and range.drop_end(res, w["end"]) or res, details = d }
      elseif d and d.kind == "no_chunks" then
        results[i] = false
      else
        d = d or {}
        d.window = { index = i, count = #windows, start = w.start, ["end"] = w["end"] }
        if range.whole_request_error(d) then -- a bad token, ...: not the window's fault
          failure = { werr, d }
        else
          failure = { format("window %d of %d (%s to %s) failed: %s", i, #windows, request.iso8601(w.start),
            request.iso8601(w["end"]), tostring(werr)), d }
        end
        return
      end
      if each then deliver() end
    end
  end
  local threads = {}
  for t = 1, math.min(concurrency, #windows) - 1 do threads[t] = ngx.thread.spawn(worker) end
  worker()
  for _, th in ipairs(threads) do ngx.thread.wait(th) end
  if failure then return nil, failure[1], failure[2] end
  if not each then return range.combine(windows, results, span) end
  local empty, truncated = 0, false
  for i = 1, #windows do
    if results[i] == false then empty = empty + 1
    elseif results[i].details.truncated then truncated = true end
  end
  if empty == #windows then
    return nil, "no profile chunks in this time range", { kind = "no_chunks", status = 400,
      windows = #windows, start = span.start, ["end"] = span["end"] }
  end
  return true, nil, { windows = #windows, empty = empty, truncated = truncated, start = span.start,
    ["end"] = span["end"], bytes = info_bytes }
end

-- q, or a copy with its project slug as the project's id (c:project_id,
-- once per client) | nil, message, details.
local function with_project_id(self, q)
  return request.resolve_slug(self, q, function(slug, org) return discovery.project_id(self, slug, org) end)
end

-- c:fetch{project, profiler_id, stats_period | start, ["end"] [, org, split]}
-- -> res, nil, details | nil, message, details. As client:fetch, a range
-- longer than 40 minutes is fetched in windows under the server's 50-chunk
-- cap, one after another here, and merged; split = false makes one
-- request. An answer that looks cut by the cap has details.truncated = true
-- and a warning.
function Client:fetch(q)
  check_self(self, "fetch")
  if type(q) ~= "table" then error("bad argument #1 to 'fetch' (table expected, got " .. type(q) .. ")", 2) end
  local url, err, details
  q, err, details = with_project_id(self, q)
  if not q then return nil, err, details end
  url, err, details = request.build_query(self, q)
  if not url then return nil, err, details end
  local span
  span, err, details = range.span(q, ngx.time(), "fetch")
  if span == nil then return nil, err, details end
  if not (span and q.split ~= false and span["end"] - span.start > range.LONG_RANGE) then
    return get(self, url, true, span and not span.period and span.start or nil, q.layout)
  end
  if span["end"] - span.start > range.MAX_SPLIT_RANGE then
    return nil, format("a range of %.0f h is longer than the %d h that fetch splits into windows by itself",
      (span["end"] - span.start) / 3600, range.MAX_SPLIT_RANGE / 3600),
      { kind = "invalid_argument", field = span.period and "stats_period" or "start", max_range = range.MAX_SPLIT_RANGE }
  end
  return fetch_windows(self, q, span, range.DEFAULT_WINDOW, 1)
end

-- c:fetch_range{project, profiler_id, start, ["end"] | stats_period,
-- window = 2400, concurrency = 4 [, each]}: as client:fetch_range, the
-- windows on `concurrency` light threads. With each = function(answer,
-- window), windows are handed over in time order and not kept; the result
-- is then true, nil, info.
function Client:fetch_range(q)
  check_self(self, "fetch_range")
  if type(q) ~= "table" then error("bad argument #1 to 'fetch_range' (table expected, got " .. type(q) .. ")", 2) end
  local own = {}
  for k, v in pairs(q) do
    if k ~= "window" and k ~= "concurrency" and k ~= "each" and k ~= "retries" then own[k] = v end
  end
  local rules = { window = { 1, 31536000 }, concurrency = { 1, 64, whole = true } }
  for name, rule in pairs(rules) do
    local v = q[name]
    if v ~= nil and (type(v) ~= "number" or v ~= v or v < rule[1] or v > rule[2] or (rule.whole and v ~= floor(v))) then
      error(format("bad argument #1 to 'fetch_range' (field '%s': %s in [%d, %d] expected, got %s)", name,
        rule.whole and "a whole number" or "a number", rule[1], rule[2], tostring(v)), 2)
    end
  end
  if q.retries ~= nil then
    error("bad argument #1 to 'fetch_range' (field 'retries': give retries to sc.new, it is the client's)", 2)
  end
  if q.each ~= nil and type(q.each) ~= "function" then
    error("bad argument #1 to 'fetch_range' (field 'each': function expected, got " .. type(q.each) .. ")", 2)
  end
  local url, err, details
  own, err, details = with_project_id(self, own)
  if not own then return nil, err, details end
  url, err, details = request.build_query(self, own)
  if not url then return nil, err, details end
  local span
  span, err, details = range.span(own, ngx.time(), "fetch_range")
  if span == nil then return nil, err, details end
  if not span then
    return nil, "fetch_range needs a range: start and end (Unix seconds or ISO-8601), or stats_period",
      { kind = "invalid_argument", field = "start" }
  end
  return fetch_windows(self, own, span, q.window or range.DEFAULT_WINDOW, q.concurrency or 4, q.each)
end

-- The transport's GET for sentry.chunks.discovery.
function Client:_get_json(url)
  return get(self, url, false)
end

-- c:project_id(slug [, org]), c:profilers{project, stats_period = "24h"
-- [, org, max_pages]}, c:fetch_url(url [, opts]): as the libcurl client's
-- (sentry.chunks.discovery), over cosockets.
function Client:project_id(slug, org)
  check_self(self, "project_id")
  return discovery.project_id(self, slug, org)
end

function Client:profilers(q)
  check_self(self, "profilers")
  return discovery.profilers(self, q)
end

function Client:fetch_url(url, opts)
  check_self(self, "fetch_url")
  return discovery.fetch_url(self, url, opts)
end

-- The analysis without holding the worker. The helpers call opts.slice
-- every 16,384 samples or stacks; sc.slicer(ms) makes a slice function
-- that, once `ms` milliseconds (default 10) of work have gone by, sleeps
-- 1 ms: a timer, so nginx goes back to its event loop and serves the
-- other requests' sockets. (ngx.sleep(0) is not enough in
-- lua-nginx-module 0.10.23, Debian 12's: it resumes on a timer already
-- due, before nginx looks at any socket, so other requests still wait for
-- the whole analysis; `make bench` measures both.)
function M.slicer(ms)
  if ms ~= nil and (type(ms) ~= "number" or ms ~= ms or ms < 0) then
    error("bad argument #1 to 'slicer' (milliseconds >= 0 expected, got " .. tostring(ms) .. ")", 2)
  end
  local every = (ms or 10) / 1000
  ngx.update_time()
  local last = ngx.now()
  return function()
    ngx.update_time()
    if ngx.now() - last >= every then
      ngx.sleep(0.001)
      ngx.update_time()
      last = ngx.now()
    end
  end
end

-- sc.top(res, opts) -> aggregate.top(res, opts) with opts.slice =
-- sc.slicer() unless opts.slice is given (opts is not changed). Also
-- c:top(res, opts).
function M.top(res, opts)
  if opts ~= nil and type(opts) ~= "table" then
    error("bad argument #2 to 'top' (table expected, got " .. type(opts) .. ")", 2)
  end
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  if o.slice == nil then o.slice = M.slicer() end
  return require("sentry.chunks.analysis").top(res, o)
end

function Client:top(res, opts)
  return M.top(res, opts)
end

-- fetch(options, query) -> res, nil, details | nil, message, details: the
-- one-call form (a client for this one fetch, keepalive on).
function M.fetch(opts, q)
  local self, err = configure(opts, "fetch")
  if not self then error(err, 2) end
  if type(q) ~= "table" then error("bad argument #2 to 'fetch' (table expected, got " .. type(q) .. ")", 2) end
  return self:fetch(q)
end

M.Client = Client

return M
