-- sentry.chunks.request: the request, before any transport sends it.
-- Option and query validation, the chunks endpoint's URL, origins, and the
-- private store of tokens (never a field of a table a user can print).
-- Every transport (the libcurl client, sentry.chunks.resty on nginx's
-- cosockets) builds its requests here, so they take the same options and
-- refuse the same values with the same words.
--
--   request.build_query(cfg, q) -> url | nil, message, details
--     cfg: { org =, base_url =, ... } whose token was given to set_token;
--     raises on a wrong type or an unknown field (argerror wording).
--   request.check_numbers(opts, fname) -> rounded copy (raises when out of range)
--   request.set_token(cfg, token), request.token_of(cfg)
--   request.set_bad_token(cfg, why): a token (from the environment) that cannot be sent
--   request.token_problem(token), request.base_url_problem(base) -> message | nil
--   request.origin(url) -> "scheme://host:port" | nil
--   request.escape(s), request.iso8601(t), request.one_line(s [, max]),
--   request.number_text(n), request.env(name), request.invalid(field, msg)
local M = {}

local floor, format, concat = math.floor, string.format, table.concat
local type, tostring, tonumber, pairs, ipairs = type, tostring, tonumber, pairs, ipairs

-- Tokens live here, keyed weakly by the client or config that holds them.
local secrets = setmetatable({}, { __mode = "k" })
-- why a client's token (from the environment) cannot be sent, if it cannot
local bad_tokens = setmetatable({}, { __mode = "k" })

function M.set_token(cfg, token) secrets[cfg] = token end
function M.token_of(cfg) return secrets[cfg] end
function M.set_bad_token(cfg, why) bad_tokens[cfg] = why end

local QUERY_TYPES = {
  project = { number = true, string = true }, profiler_id = { string = true },
  stats_period = { string = true }, start = { string = true, number = true },
  ["end"] = { string = true, number = true }, org = { string = true },
  split = { boolean = true }, layout = { string = true },
}

local function argerror(n, fname, msg)
  error(format("bad argument #%d to '%s' (%s)", n, fname, msg), 3)
end

-- The fields each client method takes besides QUERY_TYPES' (statsPeriod,
-- the web UI's spelling, is stats_period everywhere).
local EXTRA_FIELDS = {
  fetch = { statsPeriod = { string = true } },
  fetch_async = { statsPeriod = { string = true } },
  fetch_range = { statsPeriod = { string = true }, window = true, concurrency = true, retries = true,
                  each = true, on_progress = true },
  profilers = { statsPeriod = { string = true }, max_pages = true },
}
local NOT_IN = { profilers = { profiler_id = true, start = true, ["end"] = true, split = true, layout = true },
                 fetch_range = { split = true } }

-- request.check_fields(q, fname, level): raises, at `level` as error()
-- counts it from the caller of check_fields (2: that caller's caller), on
-- a field the method fname does not take ("did you mean" for a near miss)
-- or a value of the wrong type. Called first by each client method, so
-- the message names the line of the code that called the method.
function M.check_fields(q, fname, level)
  local extra, not_in = EXTRA_FIELDS[fname] or {}, NOT_IN[fname] or {}
  local names = {}
  for k in pairs(QUERY_TYPES) do if not not_in[k] then names[#names + 1] = k end end
  for k in pairs(extra) do if k ~= "statsPeriod" then names[#names + 1] = k end end -- hint the canonical name
  for k, v in pairs(q) do
    local allowed = extra[k] or (not not_in[k] and QUERY_TYPES[k])
    if not allowed then
      local hint = type(k) == "string" and require("sentry.chunks.report").closest(k, names)
      error(format("bad argument #1 to '%s' (unknown field '%s'%s)", fname, tostring(k),
        hint and ("; did you mean '" .. hint .. "'?") or ""), level + 1)
    end
    if type(allowed) == "table" and not allowed[type(v)] then
      local tnames = {}
      for tname in pairs(allowed) do tnames[#tnames + 1] = tname end
      table.sort(tnames)
      error(format("bad argument #1 to '%s' (field '%s': %s expected, got %s)", fname, k,
        concat(tnames, " or "), type(v)), level + 1)
    end
  end
end

-- The samples layout of a fetch (the decoder's option): nil, "rows" or
-- "columns"; anything else raises (level: the caller of fname's caller).
function M.check_layout(v, fname)
  if v ~= nil and v ~= "rows" and v ~= "columns" then
    error(format("bad argument #1 to '%s' (field 'layout': 'rows' or 'columns' expected, got %s)", fname,
      type(v) == "string" and ("'" .. v:gsub("%c", "?"):sub(1, 40) .. "'") or type(v)), 3)
  end
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

-- Whether a project is a slug: a string of what Sentry's slugs are made
-- of (letters, digits, _ and -), not all digits (an id as a string).
local function is_slug(project)
  return type(project) == "string" and not project:match("^%d+$") and project:match("^[%w_%-]+$") ~= nil
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

local function number_text(v)
  if v ~= v then return "nan" end
  if v == math.huge then return "inf" end
  if v == -math.huge then return "-inf" end
  if v == floor(v) and v > -2 ^ 53 and v <= 2 ^ 53 then return format("%d", v) end
  return format("%.17g", v)
end

-- The numeric options: {min, max, lower bound excluded?, how to round}.
-- The stall time and its limit are kept whole, a fraction rounded up
-- (0.5 s must never become 0: off; the engine itself takes fractions).
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
  M.check_layout(q.layout, "fetch")
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
      return invalid("project", format("invalid project: expected an integer project id or a slug "
        .. "(letters, digits, _ and -), got '%s'", one_line(project, 40)))
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

M.QUERY_TYPES = QUERY_TYPES
M.argerror, M.env, M.is_integer, M.one_line, M.origin = argerror, env, is_integer, one_line, origin
M.number_text, M.check_numbers, M.token_problem, M.base_problem = number_text, check_numbers, token_problem, base_problem
M.base_url_problem, M.dot_segment, M.invalid, M.check_time = base_url_problem, dot_segment, invalid, check_time
-- A copy of the query q with its project set to `project`.
local function with_project(q, project)
  local copy = {}
  for k, v in pairs(q) do copy[k] = v end
  copy.project = project
  return copy
end

-- q, or a copy with its project slug as the id that resolve(slug, org) ->
-- id | nil, message, details gives | nil, message, details. The rest of
-- the query (its fields of the chunks URL; a method's own, window or
-- each, are its to check) is checked first, with a stand-in id: a
-- malformed query makes no request, a slug or not.
local function resolve_slug(self, q, resolve)
  if not is_slug(q.project) then return q end
  local probe = {}
  for k in pairs(QUERY_TYPES) do probe[k] = q[k] end
  probe.project = 0
  local url, err, details = build_query(self, probe)
  if not url then return nil, err, details end
  local id
  id, err, details = resolve(q.project, q.org)
  if not id then return nil, err, details end
  return with_project(q, id)
end

M.build_query, M.is_slug, M.with_project, M.resolve_slug = build_query, is_slug, with_project, resolve_slug

return M
