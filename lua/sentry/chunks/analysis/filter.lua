-- sentry.chunks.filter: pprof-style filters. Each returns a new chunk and
-- leaves its input untouched (stacks and frames not rewritten are shared,
-- read only). Selectors are those of frames.matcher: a Lua pattern tried on
-- function, module, package, filename and abs_path; a predicate over a
-- frame; or {in_app = bool, pattern = ..., field = ...}.
local frames = require "sentry.chunks.analysis.frames"
local samples = require "sentry.chunks.analysis.samples"

local M = {}

local type = type

-- stack_id -> whether any frame of that stack matches.
local function stack_matches(chunk, selector)
  local match = frames.matcher(selector)
  local p, cache = chunk.profile, {}
  return function(sid)
    local v = cache[sid]
    if v == nil then
      v = false
      local stack = p.stacks[sid + 1] or {}
      for j = 1, #stack do
        if match(frames.at(p.frames, stack[j])) then v = true break end
      end
      cache[sid] = v
    end
    return v
  end
end

-- Keeps the samples whose stack holds a matching frame.
function M.focus(given, selector)
  local chunk = samples.chunk_of(given, "focus")
  local matches = stack_matches(chunk, selector)
  return samples.same_shape(given, samples.keep(chunk, function(_, sid) return matches(sid) end))
end

-- Drops the samples whose stack holds a matching frame.
function M.ignore(given, selector)
  local chunk = samples.chunk_of(given, "ignore")
  local matches = stack_matches(chunk, selector)
  return samples.same_shape(given, samples.keep(chunk, function(_, sid) return not matches(sid) end))
end

-- New stacks: keep(frame) says which frames stay; samples keep their
-- weights and stack ids.
local function rewrite_stacks(chunk, keep_frame)
  local p = chunk.profile
  local out = {}
  for i = 1, #p.stacks do
    local stack, kept = p.stacks[i], {}
    for j = 1, #stack do
      if keep_frame(frames.at(p.frames, stack[j]), j, stack) then kept[#kept + 1] = stack[j] end
    end
    out[i] = kept
  end
  -- every sample stays, with the weights it had (samples.keep)
  local kept = samples.keep(chunk, function() return true end)
  return samples.with_profile(kept, { stacks = out })
end

-- Removes matching frames from every stack; every sample stays.
function M.hide(given, selector)
  local chunk = samples.chunk_of(given, "hide")
  local match = frames.matcher(selector)
  return samples.same_shape(given, rewrite_stacks(chunk, function(f) return not match(f) end))
end

-- Keeps only matching frames in every stack; every sample stays.
function M.show(given, selector)
  local chunk = samples.chunk_of(given, "show")
  local match = frames.matcher(selector)
  return samples.same_shape(given, rewrite_stacks(chunk, function(f) return match(f) end))
end

-- Application frames only, as Sentry's UI shows them: in-app frames stay,
-- and each run of system frames collapses to its outermost frame (the call
-- from application code into the library), which keeps the library's time.
function M.app_only(given)
  local chunk = samples.chunk_of(given, "app_only")
  local fr = chunk.profile.frames
  return samples.same_shape(given, rewrite_stacks(chunk, function(f, j, stack)
    if frames.in_app(f) then return true end
    -- stacks are leaf first: the frame toward the root is at j + 1
    local outer = stack[j + 1]
    return outer == nil or frames.in_app(frames.at(fr, outer))
  end))
end

-- Source paths as on this machine (pprof's trim_path/source_path): every
-- rule {from = prefix, to = replacement} rewrites abs_path (and filename
-- when it is absolute) of matching frames; the first matching rule wins.
function M.remap_paths(given, rules)
  local chunk = samples.chunk_of(given, "remap_paths")
  if type(rules) ~= "table" then frames._argerror(2, "remap_paths", "table", rules) end
  if rules.from then rules = { rules } end
  local function remap(path)
    if type(path) ~= "string" then return path end
    for _, r in ipairs(rules) do
      if path:sub(1, #r.from) == r.from then return r.to .. path:sub(#r.from + 1) end
    end
    return path
  end
  local out = {}
  for i, f in ipairs(chunk.profile.frames) do
    local copy = {}
    for k, v in pairs(f) do copy[k] = v end
    copy.abs_path = remap(f.abs_path)
    if type(f.filename) == "string" and f.filename:sub(1, 1) == "/" then copy.filename = remap(f.filename) end
    out[i] = copy
  end
  return samples.same_shape(given, samples.with_profile(chunk, { frames = out }))
end

return M
