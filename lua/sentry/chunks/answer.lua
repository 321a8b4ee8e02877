-- sentry.chunks.answer: what came back, for every transport. Status and
-- body to a result or an error kind (classify), headers and rate limits,
-- the chunks answer's shape check, and the token's redaction from every
-- message and details table.
--
--   answer.classify(cfg, info, url, attempts) -> message, details, retry
--     info: { kind = "response", status, headers (raw block), content_type,
--     body } for an HTTP answer, else { kind = transport kind, message };
--     retry: "backoff", "rate_limit", "redirect" or nil.
--   answer.parse_headers(raw) -> { lower-cased name = value }
--   answer.rate_limit_of(headers) -> { limit, remaining, reset, ... } | nil
--   answer.header_number(v) -> number | nil
--   answer.shape_problem(value) -> message | nil; answer.check_answer(value)
--   answer.redact(value, token) -> value without the token (tables in place)
--   answer.HTTP_VERSIONS, answer.json_type(v), answer.is_list(t)
local core = require "sentry.chunks.core"
local request = require "sentry.chunks.request"

local M = {}

local floor, format, concat = math.floor, string.format, table.concat
local type, tostring, tonumber, pairs, ipairs, next = type, tostring, tonumber, pairs, ipairs, next
local one_line = request.one_line
local is_columns = require("sentry.chunks.layout").is_columns

local REASONS = {
  [400] = "Bad Request", [401] = "Unauthorized", [403] = "Forbidden",
  [404] = "Not Found", [405] = "Method Not Allowed", [409] = "Conflict",
  [413] = "Payload Too Large", [429] = "Too Many Requests",
  [500] = "Internal Server Error", [502] = "Bad Gateway",
  [503] = "Service Unavailable", [504] = "Gateway Timeout",
}

local HTTP_VERSIONS = { [1] = "1.0", [2] = "1.1", [3] = "2", [30] = "3" }


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

-- Whether every key of col is an integer in 1..n, as far as a walk that
-- does not visit the n rows can tell. next() from n visits the keys after
-- it in traversal order: when row n sits in the array part (every column
-- the decoder or chunks.columns builds), that is the array part past n
-- and the whole hash part, every key that can be out of range but 0
-- (LuaJIT's array part starts at 0, before 1: looked at apart). A column
-- built by hand with row n in its hash part has its hash keys before n
-- unvisited. On Lua 5.4 the full walk cost more than decoding the columns.
local function within(col, n)
  local k
  if col[0] ~= nil then return false end
  if n >= 1 and col[n] ~= nil then k = n end
  repeat
    k = next(col, k)
    if k ~= nil and (type(k) ~= "number" or k < 1 or k > n or k ~= floor(k)) then return false end
  until k == nil
  return true
end

-- LuaJIT's compiled loops test a window's samples ten times faster than
-- its C API can; Lua 5.x's type() interns a string per call, and C runs
-- the test there three times faster.
local C_CHECKS = not rawget(_G, "jit")

-- The first of n samples (in either layout) whose stack_id or timestamp
-- is not a number, or that is not a table; nil when all pass. In C
-- (core.bad_sample) on Lua 5.x, in Lua on LuaJIT and where C declines (a
-- metatable with __index).
local function bad_sample(samples, n, columns)
  local bad = C_CHECKS and core.bad_sample(samples, n)
  if bad ~= false then return bad end
  if columns then
    local sid, ts = samples.stack_id, samples.timestamp
    for i = 1, n do
      if type(sid[i]) ~= "number" or type(ts[i]) ~= "number" then return i end
    end
    return nil
  end
  for i = 1, n do
    local x = samples[i]
    if type(x) ~= "table" or type(x.stack_id) ~= "number" or type(x.timestamp) ~= "number" then return i end
  end
  return nil
end

-- The first of stacks[1..n] that is not a list of numbers; nil when all
-- are (core.bad_stack, or in Lua as bad_sample).
local function bad_stack(stacks, n)
  local bad = C_CHECKS and core.bad_stack(stacks, n)
  if bad ~= false then return bad end
  for i = 1, n do
    local st = stacks[i]
    if not is_list(st) then return i end
    for j = 1, #st do
      if type(st[j]) ~= "number" then return i end
    end
  end
  return nil
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
  local samples, stacks, frames = p.samples, p.stacks, p.frames
  if is_columns(samples) then -- the columns layout (sentry.chunks.layout)
    local n = samples.n
    if type(n) ~= "number" or n < 0 or n ~= floor(n) then
      return format("the chunk's samples columns have no count n (got %s)", json_type(n))
    end
    for k, col in pairs(samples) do
      if k ~= "n" then
        if type(col) ~= "table" then
          return format("the samples column '%s' is not an array (got %s)", tostring(k), json_type(col))
        end
        if not within(col, n) then
          return format("the samples column '%s' does not match n = %d", tostring(k), n)
        end
      end
    end
    if type(samples.thread_id) ~= "table" or type(samples.timestamp) ~= "table" then
      return "the chunk's samples columns lack thread_id or timestamp"
    end
  end
  for _, field in ipairs { "samples", "stacks", "frames" } do
    if not (is_list(p[field]) or (field == "samples" and is_columns(samples))) then
      return format("the chunk's profile has no '%s' array (got %s)", field, json_type(p[field]))
    end
  end
  local columns = is_columns(samples)
  local bad = bad_sample(samples, columns and samples.n or #samples, columns)
  if bad then return format("sample %d is not {stack_id = number, thread_id, timestamp = number}", bad) end
  bad = bad_stack(stacks, #stacks)
  if bad then return format("stack %d is not an array of frame indices", bad) end
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
    -- (a too_large message names its own limit: max_bytes, the headers'
    -- or the error body's)
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

M.REASONS, M.HTTP_VERSIONS = REASONS, HTTP_VERSIONS
M.parse_headers, M.header_number, M.rate_limit_of, M.redact = parse_headers, header_number, rate_limit_of, redact
M.json_type, M.is_list, M.shape_problem = json_type, is_list, shape_problem
M.server_words, M.http_message, M.answer_details, M.classify = server_words, http_message, answer_details, classify

return M
