-- sentry.chunks.export: profiles in the formats other tools read, stacks
-- turned root first where the format wants it. Folded stacks (flamegraph.pl,
-- inferno, speedscope's import), speedscope's own JSON, Chrome's
-- .cpuprofile and pprof's profile.proto.
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

-- A Chrome .cpuprofile (Chrome DevTools, speedscope and Firefox's profiler
-- import it; it keeps real timing): one thread's timeline (opts.thread: an
-- id or name; default the main thread), a node tree merged by frame
-- identity, samples as leaf node ids, timeDeltas in microseconds,
-- 0-based line and column numbers. Returns the JSON text (opts.table: the
-- table), or nil and a message when the thread has no samples.
function M.cpuprofile(chunk, opts)
  chunk = samples.chunk_of(chunk, "cpuprofile")
  opts = opts or {}
  local thread = opts.thread or samples.main_thread(chunk)
  local only = chunk
  if thread ~= nil then only = samples.chunk_of(samples.restrict(chunk, { threads = thread })) end
  local p = only.profile
  local ss = p.samples
  local _, by, order = samples.weights(only)
  local list = order[1] and by[order[1]] or {}
  if #list == 0 then return nil, "nothing to export: no samples for thread " .. tostring(thread) end
  local nodes = { { id = 1, hitCount = 0, callFrame = { functionName = "(root)", scriptId = "0",
    url = "", lineNumber = -1, columnNumber = -1 } } }
  local children_of, leaf_of = { [1] = {} }, {}
  local function child(parent, f)
    local key = frames.key(f)
    local id = children_of[parent][key]
    if id then return id end
    id = #nodes + 1
    nodes[id] = { id = id, hitCount = 0, callFrame = {
      functionName = type(f["function"]) == "string" and f["function"] or frames.name(f),
      scriptId = "0", url = f.abs_path or f.filename or f.module or "",
      lineNumber = type(f.lineno) == "number" and f.lineno - 1 or -1,
      columnNumber = type(f.colno) == "number" and f.colno - 1 or -1 } }
    children_of[parent][key] = id
    children_of[id] = {}
    local kids = nodes[parent].children or {}
    kids[#kids + 1] = id
    nodes[parent].children = kids
    return id
  end
  local out_samples, deltas, prev = {}, {}, nil
  for j = 1, #list do
    local s = ss[list[j]]
    local leaf = leaf_of[s.stack_id]
    if not leaf then
      leaf = 1
      local stack = p.stacks[s.stack_id + 1] or {}
      for k = #stack, 1, -1 do leaf = child(leaf, frames.at(p.frames, stack[k])) end
      leaf_of[s.stack_id] = leaf
    end
    nodes[leaf].hitCount = nodes[leaf].hitCount + 1
    out_samples[j] = leaf
    deltas[j] = prev and aggregate.microseconds(s.timestamp - prev) or 0
    prev = s.timestamp
  end
  local first = ss[list[1]].timestamp
  local doc = { nodes = nodes, samples = out_samples, timeDeltas = deltas,
    startTime = aggregate.microseconds(first), endTime = aggregate.microseconds(prev) }
  if opts.table then return doc end
  return cjson.encode(doc)
end

-- perfanno.nvim's load_traces table: { [event] = { {count = N, frames =
-- {{symbol =, file =, linenr =}, ...}}, ... } }, frames root first, integer
-- counts (opts.event: "samples", the default, counts samples;
-- "microseconds" weighs them), files remapped by opts.remap ({from =, to =}
-- rules, as filter.remap_paths). perfanno then annotates the user's files.
function M.perfanno(chunk, opts)
  opts = opts or {}
  local event = opts.event or "samples"
  if event ~= "samples" and event ~= "microseconds" then
    error("bad argument #2 to 'perfanno' (event must be 'samples' or 'microseconds')", 2)
  end
  if opts.remap then chunk = require("sentry.chunks.filter").remap_paths(chunk, opts.remap) end
  local c, weight, count, _, _, unique = aggregate._per_stack(chunk, opts, false, "perfanno")
  local p = c.profile
  local frame_cache, traces = {}, {}
  local function frame_of(index)
    local t = frame_cache[index]
    if not t then
      local f = frames.at(p.frames, index)
      t = { symbol = type(f["function"]) == "string" and f["function"] or frames.name(f),
            file = f.abs_path or f.filename, linenr = type(f.lineno) == "number" and f.lineno or nil }
      frame_cache[index] = t
    end
    return t
  end
  local ids = {}
  for u in pairs(count) do ids[#ids + 1] = u end
  sort(ids)
  for _, u in ipairs(ids) do
    local stack = unique[u]
    local n = event == "samples" and count[u] or aggregate.microseconds(weight[u])
    if #stack > 0 and n > 0 then
      local fr = {}
      for j = #stack, 1, -1 do fr[#fr + 1] = frame_of(stack[j]) end
      traces[#traces + 1] = { count = n, frames = fr }
    end
  end
  return { [event] = traces }
end

-- pprof's profile.proto, uncompressed (`go tool pprof` reads it): sample
-- types samples/count and cpu/nanoseconds, one sample per distinct stack,
-- locations leaf first. Written with a small protobuf encoder of our own.
local function varint(out, v)
  while v >= 128 do
    out[#out + 1] = string.char(v % 128 + 128)
    v = math.floor(v / 128)
  end
  out[#out + 1] = string.char(v)
end

local function bytes_of(parts) return concat(parts) end

-- field with wire type 0 (varint) / 2 (length-delimited)
local function put_varint(out, field, v)
  varint(out, field * 8)
  varint(out, v)
end

local function put_bytes(out, field, data)
  varint(out, field * 8 + 2)
  varint(out, #data)
  out[#out + 1] = data
end

local function packed(values)
  local b = {}
  for i = 1, #values do varint(b, values[i]) end
  return bytes_of(b)
end

function M.pprof(chunk, opts)
  opts = opts or {}
  local c, weight, count, _, _, unique = aggregate._per_stack(chunk, opts, false, "pprof")
  local p = c.profile
  local strings, string_id = { "" }, { [""] = 0 }
  local function str(v)
    v = v or ""
    local id = string_id[v]
    if not id then
      strings[#strings + 1] = v
      id = #strings - 1
      string_id[v] = id
    end
    return id
  end
  local functions, function_id, locations, location_of = {}, {}, {}, {}
  local function location(index)
    local loc = location_of[index]
    if loc then return loc end
    local f = frames.at(p.frames, index)
    local key = frames.key(f)
    local fid = function_id[key]
    if not fid then
      local m = {}
      fid = #functions + 1
      put_varint(m, 1, fid)
      put_varint(m, 2, str(frames.name(f)))
      put_varint(m, 3, str(type(f["function"]) == "string" and f["function"] or frames.name(f)))
      put_varint(m, 4, str(f.abs_path or f.filename or ""))
      functions[fid] = bytes_of(m)
      function_id[key] = fid
    end
    local line, l = {}, {}
    put_varint(line, 1, fid)
    if type(f.lineno) == "number" and f.lineno > 0 then put_varint(line, 2, f.lineno) end
    loc = #locations + 1
    put_varint(l, 1, loc)
    put_bytes(l, 4, bytes_of(line))
    locations[loc] = bytes_of(l)
    location_of[index] = loc
    return loc
  end
  local out = {}
  local function value_type(t, unit)
    local v = {}
    put_varint(v, 1, str(t))
    put_varint(v, 2, str(unit))
    return bytes_of(v)
  end
  put_bytes(out, 1, value_type("samples", "count"))
  put_bytes(out, 1, value_type("cpu", "nanoseconds"))
  local ids = {}
  for u in pairs(count) do ids[#ids + 1] = u end
  sort(ids)
  for _, u in ipairs(ids) do
    local stack = unique[u]
    if #stack > 0 then
      local locs = {}
      for j = 1, #stack do locs[j] = location(stack[j]) end
      local sample = {}
      put_bytes(sample, 1, packed(locs))
      put_bytes(sample, 2, packed({ count[u], math.floor(weight[u] * 1e9 + 0.5) }))
      put_bytes(out, 2, bytes_of(sample))
    end
  end
  for _, l in ipairs(locations) do put_bytes(out, 4, l) end
  for _, f in ipairs(functions) do put_bytes(out, 5, f) end
  for _, s in ipairs(strings) do put_bytes(out, 6, s) end
  put_bytes(out, 11, value_type("cpu", "nanoseconds"))
  return bytes_of(out)
end

return M
