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
-- system's bundle, or a self-hosted server's CA).
local chunks = require "sentry.chunks"
local I = require("sentry.chunks.client")._internal
local range = require "sentry.chunks.range"

local M = {}

local format, concat, floor, tonumber = string.format, table.concat, math.floor, tonumber
local PIECE = 16384
local TEXT_CAP = 65536

local function one_line(s) return (tostring(s):gsub("[%c%s]+", " ")) end

-- Reads the body (Content-Length, chunked, or to the close) and hands each
-- piece to sink; returns true, or nil, kind, message.
local function read_body(sock, headers, sink)
  local te = (headers["transfer-encoding"] or ""):lower()
  local function pieces(n)
    while n > 0 do
      local data, err, partial = sock:receive(n < PIECE and n or PIECE)
      if not data then
        if partial and #partial > 0 then sink(partial) end
        return nil, err == "timeout" and "timeout" or "network",
          "body cut short (" .. tostring(err) .. ")"
      end
      n = n - #data
      local ok, kind, msg = sink(data)
      if ok == false then return nil, kind, msg end
    end
    return true
  end
  if te:find("chunked", 1, true) then
    while true do
      local line, err = sock:receive("*l")
      if not line then return nil, "network", "body cut short (" .. tostring(err) .. ")" end
      local size = tonumber(line:match("^%s*(%x+)"), 16)
      if not size then return nil, "network", "bad chunked encoding" end
      if size == 0 then
        repeat line = sock:receive("*l") until not line or line == ""
        return true
      end
      local ok, kind, msg = pieces(size)
      if not ok then return nil, kind, msg end
      sock:receive(2) -- the CRLF after each chunk
    end
  end
  local length = tonumber(headers["content-length"] or "")
  if length then return pieces(length) end
  while true do -- no length: to the close
    local data, err, partial = sock:receive(PIECE)
    local piece = data or partial
    if piece and #piece > 0 then
      local ok, kind, msg = sink(piece)
      if ok == false then return nil, kind, msg end
    end
    if not data then
      if err == "closed" then return true end
      return nil, err == "timeout" and "timeout" or "network", tostring(err)
    end
  end
end

-- One request: value, info | nil, info (info as client.lua's classify
-- reads it: kind "response" for an HTTP answer, else a transport kind).
local function attempt(cfg, token, url)
  local scheme, host, port, path = url:match("^(https?)://([^/:]+):?(%d*)(/.*)$")
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  local sock = ngx.socket.tcp()
  sock:settimeouts(cfg.connect_timeout * 1000, cfg.timeout * 1000, cfg.timeout * 1000)
  local ok, err = sock:connect(host, port)
  if not ok then return nil, { kind = "connect", message = "cannot connect: " .. tostring(err) } end
  if scheme == "https" then
    ok, err = sock:sslhandshake(nil, host, cfg.ssl_verify ~= false)
    if not ok then
      sock:close()
      return nil, { kind = "tls", message = tostring(err) }
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
    return nil, { kind = "network", message = "cannot send the request: " .. tostring(err) }
  end
  local status_line = sock:receive("*l")
  local status = status_line and tonumber(status_line:match("^HTTP/%d[%.%d]*%s+(%d%d%d)"))
  if not status then
    sock:close()
    return nil, { kind = "network", message = "no HTTP answer" }
  end
  local raw = { status_line }
  while true do
    local line = sock:receive("*l")
    if not line then
      sock:close()
      return nil, { kind = "network", status = status, message = "headers cut short" }
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
  local ok_body, kind, msg = read_body(sock, headers, function(piece)
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
local function fetch_one(cfg, token, url, range_start)
  local retried, attempts = 0, 0
  while true do
    attempts = attempts + 1
    local value, info = attempt(cfg, token, url)
    if value ~= nil then
      local headers = I.parse_headers(info.headers)
      local warning = range.truncation(value, range_start)
      return value, nil, { status = info.status, headers = headers, rate_limit = I.rate_limit_of(headers),
                           url = url, attempts = attempts, bytes = info.received, windows = 1,
                           truncated = warning ~= nil, warning = warning }
    end
    local msg, d, retry = I.classify(cfg, info, url, attempts)
    if retry and retry ~= "redirect" and retried < cfg.retries then
      local wait = retry == "rate_limit" and (I.rate_limit_delay(d.headers) or I.backoff_delay(cfg, retried + 1))
        or I.backoff_delay(cfg, retried + 1)
      if wait > cfg.max_wait then
        return nil, I.redact(msg, token), I.redact(d, token)
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
function M.fetch(opts, q)
  if type(opts) ~= "table" then error("bad argument #1 to 'fetch' (table expected, got " .. type(opts) .. ")", 2) end
  if type(q) ~= "table" then error("bad argument #2 to 'fetch' (table expected, got " .. type(q) .. ")", 2) end
  local cfg = {
    org = opts.org, base_url = (opts.base_url or "https://sentry.io"):gsub("/+$", ""),
    timeout = opts.timeout or 60, connect_timeout = opts.connect_timeout or 10,
    retries = opts.retries or 3, max_bytes = opts.max_bytes, ssl_verify = opts.ssl_verify,
    max_wait = opts.max_wait or 60, backoff = opts.backoff or 0.5, max_backoff = 30,
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
