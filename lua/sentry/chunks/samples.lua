-- sentry.chunks.samples: samples with their weights, threads and windows.
--
-- Weights are Sentry's: samples are grouped per thread and ordered by time;
-- a sample weighs the time to the next sample of its thread (seconds), the
-- last sample of a thread weighs 0. A sample that carries a `weight` field
-- (samples kept by a filter) keeps that weight, so that dropping samples
-- does not stretch the ones left. Nothing here mutates its input.
local frames = require "sentry.chunks.frames"

local M = {}

local type, ipairs, pairs, sort = type, ipairs, pairs, table.sort
local argerror = frames._argerror

-- The chunk of an answer ({chunk = ...}) or a chunk itself.
function M.chunk_of(x, fname)
  if type(x) ~= "table" then argerror(1, fname or "chunk_of", "table", x) end
  if type(x.chunk) == "table" then x = x.chunk end
  if type(x.profile) ~= "table" or type(x.profile.samples) ~= "table" then
    error(string.format("bad argument #1 to '%s' (a decoded answer or chunk expected: no profile.samples)",
      fname or "chunk_of"), 3)
  end
  return x
end

-- Sample indices per thread, in time order: by_thread[tid] = {i, ...}, and
-- the thread ids in order of first appearance. Chunks come tick by tick,
-- so a thread's samples are usually in order already and are sorted only
-- when they are not.
function M.by_thread(chunk)
  local samples = M.chunk_of(chunk, "by_thread").profile.samples
  local by, order = {}, {}
  for i = 1, #samples do
    local tid = samples[i].thread_id
    local list = by[tid]
    if not list then
      list = {}
      by[tid] = list
      order[#order + 1] = tid
    end
    list[#list + 1] = i
  end
  for _, tid in ipairs(order) do
    local list, prev, sorted = by[tid], -math.huge, true
    for j = 1, #list do
      local t = samples[list[j]].timestamp
      if t < prev then sorted = false break end
      prev = t
    end
    if not sorted then
      sort(list, function(a, b)
        local ta, tb = samples[a].timestamp, samples[b].timestamp
        if ta ~= tb then return ta < tb end
        return a < b
      end)
    end
  end
  return by, order
end

-- weights[i] (seconds) for every sample i, and the by_thread grouping.
function M.weights(chunk)
  chunk = M.chunk_of(chunk, "weights")
  local samples = chunk.profile.samples
  local by, order = M.by_thread(chunk)
  local w = {}
  for _, tid in ipairs(order) do
    local list = by[tid]
    for j = 1, #list do
      local i = list[j]
      local s = samples[i]
      if s.weight then
        w[i] = s.weight
      elseif j < #list then
        w[i] = samples[list[j + 1]].timestamp - s.timestamp
      else
        w[i] = 0
      end
    end
  end
  return w, by, order
end

local function thread_name(chunk, tid)
  local meta = chunk.profile.thread_metadata
  if type(meta) == "table" and type(meta[tid]) == "table" then
    local name = meta[tid].name
    if type(name) == "string" then return name end
  end
  return nil
end

-- The threads: {id, name, samples, first, last, time}, most samples first.
function M.threads(chunk)
  chunk = M.chunk_of(chunk, "threads")
  local samples = chunk.profile.samples
  local w, by, order = M.weights(chunk)
  local out = {}
  for _, tid in ipairs(order) do
    local list, time = by[tid], 0
    for j = 1, #list do time = time + w[list[j]] end
    out[#out + 1] = {
      id = tid, name = thread_name(chunk, tid), samples = #list, time = time,
      first = samples[list[1]].timestamp, last = samples[list[#list]].timestamp,
    }
  end
  sort(out, function(a, b)
    if a.samples ~= b.samples then return a.samples > b.samples end
    return tostring(a.id) < tostring(b.id)
  end)
  return out
end

-- The main thread's id: the one named like "MainThread" or "main", else the
-- thread with the most samples; nil for an empty profile.
function M.main_thread(chunk)
  local threads = M.threads(chunk)
  for _, t in ipairs(threads) do
    if t.name and (t.name:lower():find("^main") or t.name:lower() == "ui") then return t.id end
  end
  return threads[1] and threads[1].id
end

-- A thread selector (an id, a name, "main", or a list of those) as a set of
-- thread ids; nil selects every thread.
function M.thread_set(chunk, selector)
  if selector == nil then return nil end
  chunk = M.chunk_of(chunk, "thread_set")
  local list = type(selector) == "table" and selector or { selector }
  local set, names = {}, {}
  for tid in pairs(M.by_thread(chunk)) do
    local name = thread_name(chunk, tid)
    if name then names[name] = names[name] or {} table.insert(names[name], tid) end
  end
  for _, want in ipairs(list) do
    want = tostring(want)
    if want == "main" then
      local main = M.main_thread(chunk)
      if main then set[main] = true end
    end
    set[want] = true
    for _, tid in ipairs(names[want] or {}) do set[tid] = true end
  end
  return set
end

-- A new chunk with only the samples of the selected threads whose time lies
-- in [from, to): opts = {threads = selector, from = t, to = t}. Samples keep
-- the weights they had in the whole profile. Stacks and frames are shared
-- (read only).
function M.restrict(given, opts)
  local chunk = M.chunk_of(given, "restrict")
  opts = opts or {}
  local set = M.thread_set(chunk, opts.threads)
  local from, to = opts.from or -math.huge, opts.to or math.huge
  return M.same_shape(given, M.keep(chunk, function(s)
    return (not set or set[s.thread_id]) and s.timestamp >= from and s.timestamp < to
  end))
end

-- A new chunk with the samples for which keep(sample, stack_id) is true,
-- each carrying its original weight and its index in the original samples.
function M.keep(chunk, keep)
  chunk = M.chunk_of(chunk, "keep")
  local samples = chunk.profile.samples
  local w = M.weights(chunk)
  local kept = {}
  for i = 1, #samples do
    local s = samples[i]
    if keep(s, s.stack_id) then
      kept[#kept + 1] = { stack_id = s.stack_id, thread_id = s.thread_id,
                          timestamp = s.timestamp, weight = w[i], index = s.index or i }
    end
  end
  return M.with_profile(chunk, { samples = kept })
end

-- What a filter returns: the new chunk in the shape it was given (an
-- answer {chunk = ...} stays an answer).
function M.same_shape(given, chunk)
  if type(given.chunk) ~= "table" then return chunk end
  local copy = {}
  for k, v in pairs(given) do copy[k] = v end
  copy.chunk = chunk
  return copy
end

-- A shallow copy of chunk whose profile has the given fields replaced.
function M.with_profile(chunk, fields)
  local copy, profile = {}, {}
  for k, v in pairs(chunk) do copy[k] = v end
  for k, v in pairs(chunk.profile) do profile[k] = v end
  for k, v in pairs(fields) do profile[k] = v end
  copy.profile = profile
  return copy
end

-- The frames of a stack (0-based stack_id), leaf first, or root first when
-- root_first is true; missing frames become placeholders (frames.at).
function M.stack_frames(chunk, stack_id, root_first)
  local p = chunk.profile
  local stack = p.stacks[stack_id + 1] or {}
  local out, n = {}, #stack
  for j = 1, n do
    out[root_first and (n - j + 1) or j] = frames.at(p.frames, stack[j])
  end
  return out
end

-- for i, sample, frames, weight in samples.each(chunk [, opts]): samples
-- in time order per thread, threads one after the other, with their frames
-- (opts.root_first) and weights; opts.threads, from, to as in restrict. i
-- is the sample's index in the chunk given.
function M.each(chunk, opts)
  chunk = M.chunk_of(chunk, "each")
  opts = opts or {}
  if opts.threads or opts.from or opts.to then chunk = M.chunk_of(M.restrict(chunk, opts)) end
  local samples = chunk.profile.samples
  local w, by, order = M.weights(chunk)
  local cache = {}
  local t, j = 1, 0
  return function()
    while order[t] do
      j = j + 1
      local list = by[order[t]]
      if j <= #list then
        local i = list[j]
        local s = samples[i]
        local fr = cache[s.stack_id]
        if not fr then
          fr = M.stack_frames(chunk, s.stack_id, opts.root_first)
          cache[s.stack_id] = fr
        end
        return s.index or i, s, fr, w[i]
      end
      t, j = t + 1, 0
    end
    return nil
  end
end

return M
