-- sentry.chunks.frames: what a frame is called, what makes two frames the
-- same function, and picking frames out. Plain functions over the frame
-- tables of a decoded chunk (`chunk.profile.frames`); nothing is mutated.
local M = {}

local type, tostring, format = type, tostring, string.format

local function argerror(n, fname, expected, got)
  error(format("bad argument #%d to '%s' (%s expected, got %s)", n, fname, expected, type(got)), 3)
end
M._argerror = argerror

local EXTENSIONS = { ".dylib", ".so", ".a", ".dll", ".exe" }

local function str(v)
  if type(v) == "string" and v ~= "" then return v end
  return nil
end

-- A package path as Sentry shows and aggregates it (vroom's trimPackage):
-- the last path element ("/usr/lib/libvImage.dylib" -> "libvImage"), the
-- one before when the path ends with a separator, without .dylib, .so,
-- .a, .dll or .exe. Windows paths split on "\\".
function M.trim_package(pkg)
  local sep = "/"
  local lower = pkg:lower()
  if lower:find("^%a:\\") or pkg:find("^\\\\") then sep = "\\" end
  local pieces, start = {}, 1
  while true do
    local i = pkg:find(sep, start, true)
    if not i then pieces[#pieces + 1] = pkg:sub(start) break end
    pieces[#pieces + 1] = pkg:sub(start, i - 1)
    start = i + 1
  end
  local name = pieces[#pieces]
  if #pieces >= 2 and name == "" then name = pieces[#pieces - 1] end
  if name == "" then name = pkg end
  for _, ext in ipairs(EXTENSIONS) do
    if #name > #ext and name:sub(-#ext) == ext then return name:sub(1, -#ext - 1) end
  end
  return name
end

-- Sentry's "package" of a frame (vroom's ModuleOrPackage): the module,
-- else the trimmed package, else nil.
function M.module_or_package(frame)
  local module = str(frame.module)
  if module then return module end
  local pkg = str(frame.package)
  if pkg then return M.trim_package(pkg) end
  return nil
end

-- Where a frame lives, for display: module or trimmed package, else the
-- file name.
function M.location(frame)
  return M.module_or_package(frame) or str(frame.filename)
end

-- The function a frame belongs to, as one string; the rows of `top`, the
-- functions of every export and the nodes a selector sees share it.
-- A named frame is (module or trimmed package) + function, as Sentry's
-- function fingerprint is: the instruction address and the line are not
-- part of it, so the copies and the several addresses of one function are
-- one function. A frame without a function name is told apart by its
-- address (or, without one, its file).
function M.key(frame)
  if type(frame) ~= "table" then argerror(1, "key", "table", frame) end
  local fn = str(frame["function"])
  if fn then return (M.module_or_package(frame) or "") .. "|" .. fn end
  return (M.location(frame) or "") .. "|" .. (str(frame.instruction_addr) or "<unknown>")
end

-- The identity of a call-tree node, as Sentry hashes frames when it builds
-- call trees (vroom's Frame.WriteToHash): module, else trimmed package,
-- else file name, else "-"; the function, else "-"; and the instruction
-- address where there is one.
function M.node_key(frame)
  if type(frame) ~= "table" then argerror(1, "node_key", "table", frame) end
  local addr = str(frame.instruction_addr)
  local id = (M.module_or_package(frame) or str(frame.filename) or "-") .. "|" ..
    (str(frame["function"]) or "-")
  if addr then return id .. "|" .. addr end
  return id
end

-- Whether Sentry makes a function row of a frame (vroom's
-- shouldAggregateFrame): it has a function name; on cocoa, not "main";
-- on java and android, not partly deobfuscated and a package with a dot;
-- on cocoa, javascript and node, symbolicated. The frame's own `platform`
-- field decides, as in the chunks Sentry stores.
function M.aggregated(frame)
  local fn = str(frame["function"])
  if not fn then return false end
  local platform = str(frame.platform)
  if not platform then return true end
  if platform == "cocoa" and fn == "main" then return false end
  local data = type(frame.data) == "table" and frame.data or nil
  if platform == "java" or platform == "android" then
    if data and data.deobfuscation_status == "partial" then return false end
    if not (M.module_or_package(frame) or ""):find(".", 1, true) then return false end
  end
  if platform == "cocoa" then
    return data ~= nil and data.symbolicator_status == "symbolicated"
  end
  return true
end

-- A name to show: "function (module or package)", the function alone, or
-- for a frame without a function name its address ("0x1a2b (UIKit)").
function M.name(frame)
  if type(frame) ~= "table" then argerror(1, "name", "table", frame) end
  local fn = str(frame["function"]) or str(frame.instruction_addr) or "<unknown>"
  local loc = M.location(frame)
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
