-- sentry.chunks.dedupe: one frame per distinct frame and one stack per
-- distinct sequence of frames. The range merger (sentry.chunks.range) calls
-- it on a merged answer; sentry.chunks.analysis.aggregate.dedupe is this
-- same function. It belongs to the request side: fetching needs no
-- analysis module.
--
--   dedupe(answer_or_chunk) -> a new answer (or chunk); the input is untouched
local is_columns = require("sentry.chunks.layout").is_columns

local M = {}

-- the chunk of an answer, or the chunk given (raises as samples.chunk_of)
local function chunk_of(x)
  if type(x) ~= "table" then
    error("bad argument #1 to 'dedupe' (table expected, got " .. type(x) .. ")", 3)
  end
  if type(x.chunk) == "table" then x = x.chunk end
  if type(x.profile) ~= "table" or type(x.profile.samples) ~= "table" then
    error("bad argument #1 to 'dedupe' (a decoded answer or chunk expected: no profile.samples)", 3)
  end
  return x
end

-- given's shape around a new chunk (as samples.same_shape)
local function same_shape(given, chunk)
  if type(given.chunk) ~= "table" then return chunk end
  local copy = {}
  for k, v in pairs(given) do copy[k] = v end
  copy.chunk = chunk
  return copy
end

-- a shallow copy of chunk whose profile has the given fields replaced (as
-- samples.with_profile)
local function with_profile(chunk, fields)
  local copy, profile = {}, {}
  for k, v in pairs(chunk) do copy[k] = v end
  for k, v in pairs(chunk.profile) do profile[k] = v end
  for k, v in pairs(fields) do profile[k] = v end
  copy.profile = profile
  return copy
end

local function content_key(f)
  if type(f) ~= "table" then return tostring(f) end
  local keys = {}
  for k in pairs(f) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do
    local v = f[k]
    parts[i] = k .. "=" .. (type(v) == "table" and content_key(v) or (type(v) .. ":" .. tostring(v)))
  end
  return "{" .. table.concat(parts, "\1") .. "}"
end

-- A merged chunk without its copies: one frame per distinct frame (the
-- same content: the copies merged chunks repeat; frames that differ in a
-- line or an address stay apart), one stack per sequence of frames,
-- samples pointing at them. Returns a new chunk (an answer when given
-- one); the input is untouched.
function M.dedupe(given)
  local chunk = chunk_of(given)
  local p = chunk.profile
  local new_frames, frame_of_key, new_index = {}, {}, {}
  for idx = 0, #p.frames - 1 do
    local f = p.frames[idx + 1]
    local key = content_key(f)
    local n = frame_of_key[key]
    if not n then
      new_frames[#new_frames + 1] = f
      n = #new_frames - 1
      frame_of_key[key] = n
    end
    new_index[idx] = n
  end
  local new_stacks, stack_of_key, stack_index = {}, {}, {}
  for sid = 0, #p.stacks - 1 do
    local stack, out = p.stacks[sid + 1], {}
    for j = 1, #stack do out[j] = new_index[stack[j]] or stack[j] end
    local key = table.concat(out, ",")
    local n = stack_of_key[key]
    if not n then
      new_stacks[#new_stacks + 1] = out
      n = #new_stacks - 1
      stack_of_key[key] = n
    end
    stack_index[sid] = n
  end
  local new_samples = {}
  if is_columns(p.samples) then -- a new stack_id column; the others shared
    local c, sids = p.samples, {}
    for k, v in pairs(c) do new_samples[k] = v end
    for i = 1, c.n do
      local sid = c.stack_id[i]
      sids[i] = stack_index[sid] or sid
    end
    if c.n == 0 then setmetatable(sids, getmetatable(c.stack_id)) end
    new_samples.stack_id = sids
  else
    for i, s in ipairs(p.samples) do
      local copy = {}
      for k, v in pairs(s) do copy[k] = v end
      copy.stack_id = stack_index[s.stack_id] or s.stack_id
      new_samples[i] = copy
    end
  end
  return same_shape(given, with_profile(chunk,
    { frames = new_frames, stacks = new_stacks, samples = new_samples }))
end


return M
