-- sentry.chunks.retry: how long to wait before trying again, for every
-- transport. Exponential backoff with jitter for 5xx and connection
-- failures; a 429's own Retry-After (seconds or an HTTP-date) or
-- X-Sentry-Rate-Limit-Reset epoch.
--
--   retry.backoff_delay(cfg, n) -> seconds (cfg.backoff * 2^(n-1), at most
--     cfg.max_backoff, times a jitter in [0.5, 1])
--   retry.rate_limit_delay(headers) -> seconds | nil (headers parsed)
--   retry.retry_after(value) -> seconds | nil; retry.http_date(s) -> Unix seconds | nil
local answer = require "sentry.chunks.answer"

local M = {}

local format = string.format
local type, tonumber = type, tonumber
local header_number = answer.header_number

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

M.MAX_DELAY, M.clamp_delay, M.http_date, M.retry_after = MAX_DELAY, clamp_delay, http_date, retry_after
M.backoff_delay, M.rate_limit_delay = backoff_delay, rate_limit_delay

return M
