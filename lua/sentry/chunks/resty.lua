-- sentry.chunks.resty: the same request as client:fetch, inside nginx
-- (OpenResty, or Debian's nginx with its Lua module), where libcurl must not
-- run in a request handler: nginx's cosockets do the I/O, so the worker
-- never blocks, and the body goes piece by piece into the streaming decoder
-- (memory stays bounded). Same results, messages and error kinds as
-- client:fetch (sentry.chunks.client).
--
--   local resty = require "sentry.chunks.resty"
--   local res, err, details = resty.fetch({ token = ..., org = ..., base_url = ...,
--     timeout = 60, connect_timeout = 10, retries = 3, max_bytes = nil,
--     ssl_verify = true }, { project = 1, profiler_id = "...", stats_period = "1h" })
--
-- TLS is verified against nginx's lua_ssl_trusted_certificate (set it to the
-- system's bundle, or a self-hosted server's CA). `timeout` is one deadline
-- for the whole fetch, retries and their waits included: a server that
-- sends a byte a second cannot hold a request past it. Options are checked
-- as chunks.client checks them (an unknown or out-of-range one raises).
local chunks = require "sentry.chunks"
local I = require("sentry.chunks.client")._internal
local range = require "sentry.chunks.range"

local M = {}

local format, concat, floor, tonumber = string.format, table.concat, math.floor, tonumber
local PIECE = 16384
local TEXT_CAP = 65536

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

-- One request: value, info | nil, info (info as client.lua's classify
-- reads it: kind "response" for an HTTP answer, else a transport kind).
-- Everything it does ends by `deadline`.
local function attempt(cfg, token, url, deadline)
  local scheme, host, port, path = url:match("^(https?)://([^/:]+):?(%d*)(/.*)$")
  if not scheme then
    return nil, { kind = "invalid_url", message = "cannot connect to this URL (http or https, a host name or IPv4 address)" }
  end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  local left = deadline - ngx.now()
  if left <= 0 then return nil, { kind = "timeout", message = why("timeout") } end
  local sock = ngx.socket.tcp()
  local connect_ms = math.max(1, math.ceil(math.min(cfg.connect_timeout, left) * 1000))
  local ms = math.max(1, math.ceil(left * 1000))
  sock:settimeouts(connect_ms, ms, ms)
  local ok, err = sock:connect(host, port)
  if not ok then return nil, { kind = "connect", message = "cannot connect: " .. tostring(err) } end
  if scheme == "https" then
    ok, err = sock:sslhandshake(nil, host, cfg.ssl_verify ~= false)
    if not ok then
      sock:close()
      return nil, { kind = err == "timeout" and "timeout" or "tls", message = tostring(err) }
    end
  end
  local request = concat {
    "GET ", path, " HTTP/1.1\r\nHost: ", host, (port == 80 or port == 443) and "" or (":" .. port),
    "\r\nAuthorization: Bearer ", token,
    "\r\nAccept: application/json\r\nAccept-Encoding: identity\r\nConnection: close\r\n",
    "User-Agent: sentry-chunks-resty\r\n\r\n",
  }
  ok, err = sock:send(request)
  request = nil -- luacheck: ignore (it held the token)
  if not ok then
    sock:close()
    return nil, { kind = err == "timeout" and "timeout" or "network", message = "cannot send the request: " .. why(err) }
  end
  local r = reader(sock, deadline)
  local status_line, serr = r.line(MAX_LINE)
  local status = status_line and tonumber(status_line:match("^HTTP/%d[%.%d]*%s+(%d%d%d)"))
  if not status then
    sock:close()
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
  local headers = I.parse_headers(header_block)
  local ctype = headers["content-type"]
  local info = { kind = "response", status = status, headers = header_block, content_type = ctype }
  local json = status >= 200 and status < 300 and ctype and ctype:lower():find("json", 1, true)
  local d, text, received, failure = json and chunks.decoder() or nil, {}, 0, nil
  local ok_body, kind, msg = read_body(r, headers, function(piece)
    received = received + #piece
    if cfg.max_bytes and received > cfg.max_bytes then
      failure = { kind = "too_large", message = format("more than %d bytes", cfg.max_bytes) }
      return false
    end
    if d then
      local fed, derr = d:feed(piece)
      if not fed then
        failure = { kind = "invalid_json", message = derr }
        return false
      end
    elseif received - #piece < TEXT_CAP then
      text[#text + 1] = piece
    end
    return true
  end)
  sock:close()
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
  info.body = concat(text):sub(1, TEXT_CAP)
  return nil, info
end

-- One request with its retries: res, nil, details | nil, message, details.
-- One deadline bounds it, retries and their waits included.
local function fetch_one(cfg, token, url, range_start)
  ngx.update_time()
  local deadline = ngx.now() + cfg.timeout
  local retried, attempts = 0, 0
  while true do
    attempts = attempts + 1
    local value, info = attempt(cfg, token, url, deadline)
    if value ~= nil then
      local headers = I.parse_headers(info.headers)
      local warning = range.truncation(value, range_start)
      local d = { status = info.status, headers = headers, rate_limit = I.rate_limit_of(headers),
                  url = url, attempts = attempts, bytes = info.received, windows = 1,
                  truncated = warning ~= nil, warning = warning }
      local problem = I.shape_problem(value)
      if problem then -- valid JSON, not a chunks answer: never a success
        d.kind, d.content_type = "unexpected_shape", info.content_type
        d.truncated, d.warning, d.windows = nil, nil, nil
        return nil, I.redact(one_line("unexpected answer: " .. problem), token), I.redact(d, token)
      end
      return value, nil, I.redact(d, token) -- a server may echo the token in a header
    end
    local msg, d, retry = I.classify(cfg, info, url, attempts)
    if retry and retry ~= "redirect" and retried < cfg.retries then
      local wait = retry == "rate_limit" and (I.rate_limit_delay(d.headers) or I.backoff_delay(cfg, retried + 1))
        or I.backoff_delay(cfg, retried + 1)
      if wait > cfg.max_wait then
        return nil, I.redact(one_line(msg), token), I.redact(d, token)
      end
      ngx.update_time()
      if ngx.now() + wait >= deadline then
        msg = msg .. format(" (no time left for retry %d within timeout = %s s)", retried + 1, tostring(cfg.timeout))
        return nil, I.redact(one_line(msg), token), I.redact(d, token)
      end
      retried = retried + 1
      ngx.sleep(wait)
    else
      if retry == "redirect" then msg = format("HTTP %d: redirects are not followed", info.status) end
      if retry and retried > 0 then
        msg = msg .. format(" (after %d retr%s)", retried, retried == 1 and "y" or "ies")
      end
      return nil, I.redact(one_line(msg), token), I.redact(d, token)
    end
  end
end

-- fetch(options, query) -> res, nil, details | nil, message, details. As
-- client:fetch, a range longer than 40 minutes (start/end or stats_period)
-- is fetched in windows under the server's 50-chunk cap, one after
-- another here, and merged; split = false makes one request. An answer
-- that looks cut by the cap has details.truncated = true and a warning.
local OPTION_TYPES = {
  token = "string", org = "string", base_url = "string", timeout = "number",
  connect_timeout = "number", retries = "number", max_bytes = "number", ssl_verify = "boolean",
  max_wait = "number", backoff = "number",
}

function M.fetch(opts, q)
  if type(opts) ~= "table" then error("bad argument #1 to 'fetch' (table expected, got " .. type(opts) .. ")", 2) end
  if type(q) ~= "table" then error("bad argument #2 to 'fetch' (table expected, got " .. type(q) .. ")", 2) end
  for k, v in pairs(opts) do
    local want = OPTION_TYPES[k]
    if not want then error(format("bad argument #1 to 'fetch' (unknown option '%s')", tostring(k)), 2) end
    if type(v) ~= want then
      error(format("bad argument #1 to 'fetch' (option '%s': %s expected, got %s)", k, want, type(v)), 2)
    end
  end
  local n = I.check_numbers(opts, "fetch")
  if I.token_problem(opts.token) then
    error("bad argument #1 to 'fetch' (option 'token': " .. I.token_problem(opts.token) .. ")", 2)
  end
  local base = (opts.base_url or "https://sentry.io"):gsub("/+$", "")
  if I.base_url_problem(base) then
    error(format("bad argument #1 to 'fetch' (option 'base_url': %s, got '%s')", I.base_url_problem(base),
      one_line(base):sub(1, 80)), 2)
  end
  local cfg = {
    org = opts.org, base_url = base,
    timeout = n.timeout or 60, connect_timeout = n.connect_timeout or 10,
    retries = n.retries or 3, max_bytes = n.max_bytes, ssl_verify = opts.ssl_verify,
    max_wait = n.max_wait or 60, backoff = n.backoff or 0.5, max_backoff = 30,
  }
  local token = opts.token
  I.set_token(cfg, token)
  local url, err, details = I.build_query(cfg, q)
  if not url then return nil, err, details end
  local span
  span, err, details = range.span(q, ngx.time(), "fetch")
  if span == nil then return nil, err, details end
  if not (span and q.split ~= false and span["end"] - span.start > range.LONG_RANGE) then
    return fetch_one(cfg, token, url, span and not span.period and span.start or nil)
  end
  if span["end"] - span.start > range.MAX_SPLIT_RANGE then
    return nil, format("a range of %.0f h is longer than the %d h that fetch splits into windows by itself",
      (span["end"] - span.start) / 3600, range.MAX_SPLIT_RANGE / 3600),
      { kind = "invalid_argument", field = span.period and "stats_period" or "start", max_range = range.MAX_SPLIT_RANGE }
  end
  local windows, results = range.split(span.start, span["end"]), {}
  for i, w in ipairs(windows) do
    local wurl = I.build_query(cfg, { project = q.project, profiler_id = q.profiler_id, org = q.org,
      start = w.start, ["end"] = w["end"] })
    local res, werr, d = fetch_one(cfg, token, wurl, w.start)
    if res then
      results[i] = { answer = i < #windows and range.drop_end(res, w["end"]) or res, details = d }
    elseif d and d.kind == "no_chunks" then
      results[i] = false
    elseif range.whole_request_error(d) then -- a bad token, ...: not the window's fault
      d.window = { index = i, count = #windows, start = w.start, ["end"] = w["end"] }
      return nil, werr, d
    else
      d = d or {}
      d.window = { index = i, count = #windows, start = w.start, ["end"] = w["end"] }
      return nil, format("window %d of %d (%s to %s) failed: %s", i, #windows, I.iso8601(w.start),
        I.iso8601(w["end"]), tostring(werr)), d
    end
  end
  return range.combine(windows, results, span)
end

return M
