-- sentry.chunks.url: where users start from, a profile URL of Sentry's web
-- UI. parse_url gives the organization, project, profiler id, time range
-- and the API base to ask.
local M = {}

local format, floor, tonumber, type = string.format, math.floor, tonumber, type

local function decode(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function query_params(q)
  local t = {}
  for pair in q:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    k = decode(k)
    if t[k] == nil then t[k] = decode(v) end
  end
  return t
end

-- Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
-- days_from_civil), so that no time zone of this machine is involved.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * ((m + 9) % 12) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local DAYS_IN_MONTH = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- ISO-8601 (as Sentry's UI writes it: 2026-05-28T08:00:00.000Z; naive is
-- UTC; an offset is honoured) to Unix seconds, or nil. The whole string
-- is read: YYYY-MM-DD, optionally [T ]HH:MM[:SS[.fraction]] and Z or
-- +HH:MM; every field in range, the day one that exists in that month.
function M.iso_to_unix(s)
  if type(s) ~= "string" then return nil end
  local y, mo, d, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)(.*)$")
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo < 1 or mo > 12 or d < 1 then return nil end
  local leap = (y % 4 == 0 and y % 100 ~= 0) or y % 400 == 0
  if d > DAYS_IN_MONTH[mo] + ((mo == 2 and leap) and 1 or 0) then return nil end
  local h, mi, sec, has_time = 0, 0, 0, rest ~= ""
  if has_time then
    local hh, mm, tail = rest:match("^[Tt ](%d%d):(%d%d)(.*)$")
    if not hh then return nil end
    h, mi = tonumber(hh), tonumber(mm)
    local ss, tail2 = tail:match("^:(%d%d)(.*)$")
    if ss then
      sec, tail = tonumber(ss), tail2
      local frac, tail3 = tail:match("^(%.%d+)(.*)$")
      if frac then sec, tail = sec + tonumber("0" .. frac), tail3 end
    end
    if h > 23 or mi > 59 or sec >= 60 then return nil end
    rest = tail
  end
  local t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec
  if rest == "" or (has_time and (rest == "Z" or rest == "z")) then return t end
  local sign, oh, om = rest:match("^([+-])(%d%d):?(%d%d)$")
  if not sign or not has_time or tonumber(oh) > 23 or tonumber(om) > 59 then return nil end
  local offset = tonumber(oh) * 3600 + tonumber(om) * 60
  return sign == "+" and t - offset or t + offset
end

local REGIONS = { ["sentry.io"] = true, ["us.sentry.io"] = true, ["de.sentry.io"] = true }

-- parse_url(url) -> { org, project (a slug, or a number when numeric),
-- profiler_id, start, ["end"] (Unix seconds), stats_period, base_url }
-- | nil, message.
function M.parse_url(url)
  if type(url) ~= "string" then
    error(format("bad argument #1 to 'parse_url' (string expected, got %s)", type(url)), 2)
  end
  local scheme, host, path, query = url:match("^(https?)://([^/?#]+)([^?#]*)%??([^#]*)")
  if not scheme then return nil, "not an http(s) URL: " .. url:sub(1, 80) end
  host = host:lower()
  local bare = (host:gsub(":%d+$", ""))
  local org, rest = path:match("^/organizations/([^/]+)(/.*)$")
  rest = rest or path
  local base
  if REGIONS[bare] then
    base = "https://" .. bare
  elseif bare:match("^[%w%-]+%.sentry%.io$") then -- my-org.sentry.io
    org = org or bare:match("^([%w%-]+)%.")
    base = "https://sentry.io"
  elseif bare:match("^[%w%-]+%.[%a][%a]%.sentry%.io$") then -- my-org.us.sentry.io
    org = org or bare:match("^([%w%-]+)%.")
    base = "https://" .. bare:match("^[%w%-]+%.(.*)$")
  else -- self-hosted: the organization is in the path
    base = scheme .. "://" .. host
  end
  if not org then
    return nil, "no organization in the URL (expected https://ORG.sentry.io/... or /organizations/ORG/...)"
  end
  local slug = rest:match("^/explore/profiling/profile/([^/]+)/flamegraph/?$")
    or rest:match("^/profiling/profile/([^/]+)/flamegraph/?$")
  if not slug then
    if rest:match("/profile/[^/]+/%x+/flamegraph/?$") then
      return nil, "a transaction profile (one profile id), not a continuous profile: only continuous profiles have chunks"
    end
    return nil, "not a continuous profile's flamegraph URL (expected .../profiling/profile/PROJECT/flamegraph/?profilerId=...)"
  end
  local q = query_params(query)
  local profiler = q.profilerId or q.profiler_id
  if not profiler or profiler == "" then return nil, "the URL has no profilerId" end
  if not (#profiler == 32 and profiler:match("^%x+$")) then
    return nil, "the URL's profilerId is not 32 hex digits: " .. profiler:sub(1, 40)
  end
  local out = { org = decode(org), project = tonumber(slug) or decode(slug), profiler_id = profiler:lower(),
                base_url = base, stats_period = q.statsPeriod ~= "" and q.statsPeriod or nil }
  if q.start or q["end"] then
    out.start, out["end"] = M.iso_to_unix(q.start), M.iso_to_unix(q["end"])
    if not (out.start and out["end"]) then
      return nil, "the URL's start and end are not ISO-8601 times: " .. tostring(q.start) .. ", " .. tostring(q["end"])
    end
  end
  return out
end

return M
