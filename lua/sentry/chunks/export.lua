-- sentry.chunks.export: profiles in the formats other tools read, stacks
-- turned root first. Folded stacks (flamegraph.pl, inferno, speedscope's
-- import) and speedscope's own JSON.
local cjson = require "cjson"
local frames = require "sentry.chunks.frames"
local samples = require "sentry.chunks.samples"
local aggregate = require "sentry.chunks.aggregate"

local M = {}

local format, concat, sort, pairs, ipairs = string.format, table.concat, table.sort, pairs, ipairs

M.SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"

-- A frame name safe in a folded line: no ';' (the separator), no newline.
local function folded_name(f)
  return (frames.name(f):gsub("[;\r\n]", " "))
end

-- Folded stacks: one line per distinct stack, "root;caller;leaf count",
-- with integer counts: samples (default) or, with opts.weight =
-- "microseconds", time in µs (inferno truncates decimals and speedscope
-- skips such lines). opts.threads/from/to select samples; opts.thread_root
-- puts the thread's name as the outermost frame. Lines come in the order
-- their stacks first appear in the chunk.
function M.folded(chunk, opts)
  opts = opts or {}
  local by_time = opts.weight == "microseconds"
  if opts.weight and not by_time and opts.weight ~= "samples" then
    error("bad argument #2 to 'folded' (weight must be 'samples' or 'microseconds')", 2)
  end
  local c, weight, count, _, _, unique = aggregate._per_stack(chunk, opts, opts.thread_root, "folded")
  local p = c.profile
  local names, index_of, paths, values = {}, {}, {}, {}
  local function name_at(index)
    local n = names[index]
    if not n then n = folded_name(frames.at(p.frames, index)) names[index] = n end
    return n
  end
  -- Lines in the order stacks first appear (deterministic without sorting
  -- a hundred thousand long lines); stacks with the same names merge.
  local function add(prefix, by_unique)
    local ids = {}
    for u in pairs(by_unique) do ids[#ids + 1] = u end
    sort(ids)
    local parts = {}
    for _, u in ipairs(ids) do
      local stack, n = unique[u], 0
      if #stack > 0 then
        if prefix then n = 1 parts[1] = prefix end
        for j = #stack, 1, -1 do n = n + 1 parts[n] = name_at(stack[j]) end
        local path = concat(parts, ";", 1, n)
        local k = index_of[path]
        if not k then
          k = #paths + 1
          paths[k], values[k], index_of[path] = path, 0, k
        end
        values[k] = values[k] + by_unique[u]
      end
    end
  end
  local source = by_time and weight or count
  if opts.thread_root then
    local meta, tids = p.thread_metadata, {}
    for tid in pairs(source) do tids[#tids + 1] = tid end
    sort(tids, function(x, y) return tostring(x) < tostring(y) end)
    for _, tid in ipairs(tids) do
      local tm = type(meta) == "table" and meta[tid]
      add(((type(tm) == "table" and tm.name) or ("thread " .. tostring(tid))):gsub("[;\r\n]", " "), source[tid])
    end
  else
    add(nil, source)
  end
  local out = {}
  for k = 1, #paths do
    local n = by_time and aggregate.microseconds(values[k]) or values[k]
    if n > 0 then out[#out + 1] = format("%s %d", paths[k], n) end
  end
  if #out == 0 then return "" end
  return concat(out, "\n") .. "\n"
end

-- A speedscope document (https://www.speedscope.app/file-format-schema.json):
-- one "sampled" profile per thread, frames shared, samples root first,
-- weights in microseconds; consecutive samples with the same stack are
-- merged (speedscope keeps the order). Returns the JSON text, or nil and a
-- message for a profile with no samples; opts.table = true returns the
-- table instead.
function M.speedscope(chunk, opts)
  chunk = samples.chunk_of(chunk, "speedscope")
  opts = opts or {}
  local p = chunk.profile
  local ss = p.samples
  local w, by, order = samples.weights(chunk)
  local shared, frame_index, stack_cache = {}, {}, {}
  local function frame_id(index)
    local f = frames.at(p.frames, index)
    local key = frames.key(f)
    local id = frame_index[key]
    if not id then
      local entry = { name = frames.name(f) }
      if type(f.abs_path) == "string" or type(f.filename) == "string" then
        entry.file = f.abs_path or f.filename
      end
      if type(f.lineno) == "number" then entry.line = f.lineno end
      shared[#shared + 1] = entry
      id = #shared - 1
      frame_index[key] = id
    end
    return id
  end
  local function stack_of(sid)
    local st = stack_cache[sid]
    if not st then
      local stack = p.stacks[sid + 1] or {}
      st = {}
      for j = #stack, 1, -1 do st[#st + 1] = frame_id(stack[j]) end
      stack_cache[sid] = st
    end
    return st
  end
  local profiles = {}
  for _, tid in ipairs(order) do
    local list = by[tid]
    local psamples, weights, total, last_sid = {}, {}, 0, nil
    for j = 1, #list do
      local i = list[j]
      local sid = ss[i].stack_id
      local us = aggregate.microseconds(w[i])
      if #stack_of(sid) > 0 then
        if sid == last_sid then
          weights[#weights] = weights[#weights] + us
        else
          psamples[#psamples + 1] = stack_of(sid)
          weights[#weights + 1] = us
          last_sid = sid
        end
        total = total + us
      end
    end
    if #psamples > 0 then
      local tm = type(p.thread_metadata) == "table" and p.thread_metadata[tid]
      profiles[#profiles + 1] = {
        type = "sampled", name = (type(tm) == "table" and tm.name) or ("thread " .. tostring(tid)),
        unit = "microseconds", startValue = 0, endValue = total,
        samples = psamples, weights = weights,
      }
    end
  end
  if #profiles == 0 then return nil, "nothing to export: the profile has no samples with frames" end
  local doc = {
    ["$schema"] = M.SPEEDSCOPE_SCHEMA, shared = { frames = shared }, profiles = profiles,
    name = opts.name or ("sentry profile " .. tostring(chunk.profiler_id or chunk.chunk_id or "")),
    activeProfileIndex = 0, exporter = "sentry-chunks",
  }
  if opts.table then return doc end
  return cjson.encode(doc)
end

return M
