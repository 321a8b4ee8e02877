-- sentry.chunks.frames: what a frame is called, what makes two frames the
-- same function, and picking frames out. Plain functions over the frame
-- tables of a decoded chunk (`chunk.profile.frames`); nothing is mutated.
local M = {}

local type, tostring, format = type, tostring, string.format

local function argerror(n, fname, expected, got)
  error(format("bad argument #%d to '%s' (%s expected, got %s)", n, fname, expected, type(got)), 3)
end
M._argerror = argerror

local function str(v)
  if type(v) == "string" and v ~= "" then return v end
  return nil
end

-- Where a frame lives, as Sentry keys it: module, else package, else filename.
function M.location(frame)
  return str(frame.module) or str(frame.package) or str(frame.filename)
end

-- The identity of a frame's function, stable across merged chunks (which
-- repeat every frame): location + function (+ instruction_addr if present).
function M.key(frame)
  if type(frame) ~= "table" then argerror(1, "key", "table", frame) end
  local loc = M.location(frame) or ""
  local fn = str(frame["function"]) or str(frame.symbol) or "<unknown>"
  local addr = str(frame.instruction_addr)
  if addr then return loc .. "|" .. fn .. "|" .. addr end
  return loc .. "|" .. fn
end

-- A name to show: "function (location)", or the function alone.
function M.name(frame)
  if type(frame) ~= "table" then argerror(1, "name", "table", frame) end
  local fn = str(frame["function"]) or str(frame.symbol)
  local loc = M.location(frame)
  if not fn then
    fn = str(frame.instruction_addr) or "<unknown>"
  end
  if loc then return fn .. " (" .. loc .. ")" end
  return fn
end

-- Sentry counts a missing or null in_app as in-app; only false is system.
function M.in_app(frame)
  return frame.in_app ~= false
end

local PATTERN_FIELDS = { "function", "module", "package", "filename", "abs_path" }

-- A predicate from a selector: a function (used as is), a string (a Lua
-- pattern tried on function, module, package, filename and abs_path), or a
-- table {in_app = bool, pattern = "...", field = "function"}.
function M.matcher(selector)
  local t = type(selector)
  if t == "function" then return selector end
  if t == "string" then
    return function(frame)
      for i = 1, #PATTERN_FIELDS do
        local v = frame[PATTERN_FIELDS[i]]
        if type(v) == "string" and v:find(selector) then return true end
      end
      return false
    end
  end
  if t == "table" then
    local pattern, field, in_app = selector.pattern, selector.field, selector.in_app
    local by_pattern = pattern and (field and function(frame)
      local v = frame[field]
      return type(v) == "string" and v:find(pattern) ~= nil
    end or M.matcher(pattern))
    return function(frame)
      if in_app ~= nil and M.in_app(frame) ~= in_app then return false end
      if by_pattern and not by_pattern(frame) then return false end
      return true
    end
  end
  argerror(1, "matcher", "function, string or table", selector)
end

-- The frames that match a selector: a list of {index = 0-based, frame = }.
function M.select(frames, selector)
  if type(frames) ~= "table" then argerror(1, "select", "table", frames) end
  local match = M.matcher(selector)
  local out = {}
  for i = 1, #frames do
    if match(frames[i]) then out[#out + 1] = { index = i - 1, frame = frames[i] } end
  end
  return out
end

-- The frame at a 0-based index, or a placeholder for an index the chunk does
-- not have (a damaged chunk), so one bad stack does not stop an analysis.
function M.at(frames, index)
  local f = frames[index + 1]
  if f then return f end
  return { ["function"] = "<missing frame " .. tostring(index) .. ">", in_app = false, missing = true }
end

return M
