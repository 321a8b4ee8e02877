-- sentry.chunks.nvim.analyze: the plugin's analyses, each a function of
-- (profile entry, options, slice) run through sentry.chunks.nvim.run so
-- that it yields to the editor's loop. Plain functions over plain tables:
-- the fetched answer is never modified.
--
-- A thread is chosen here, by a sliced pass over the samples, rather than
-- through the analyses' `threads` option, whose thread lookup is one
-- unsliced pass over every sample (hundreds of ms on 50 chunks).
local samples = require "sentry.chunks.samples"
local layout = require "sentry.chunks.layout"
local is_columns, columns_of = layout.is_columns, samples.columns_of
local aggregate = require "sentry.chunks.aggregate"
local filter = require "sentry.chunks.filter"
local frames = require "sentry.chunks.frames"
local new_array = require("sentry.chunks.core").new_array

local M = {}
local SLICE = samples.SLICE

local function thread_name(chunk, tid)
  local meta = chunk.profile.thread_metadata
  if type(meta) == "table" and type(meta[tid]) == "table" and type(meta[tid].name) == "string" then
    return meta[tid].name
  end
  return nil
end

-- Several answers (windows of one range, in time order) as one, merged as
-- range.merge merges them (frames and stacks appended with indices
-- shifted, samples copied, thread_metadata unioned, measurements' values
-- and debug_chunk_ids concatenated), in slices; not deduplicated (the
-- analyses key frames by content). Inputs are not modified. The merged
-- arrays of samples are made at their size, each on its own slice: grown
-- by appending, a column of 1.4 M samples doubled in one slice (70 ms).
function M.merge(answers, slice)
  local first = answers[1].chunk
  local total = 0
  for _, a in ipairs(answers) do
    local ss_a = a.chunk.profile.samples
    total = total + (is_columns(ss_a) and ss_a.n or #ss_a)
  end
  local chunk, frames_, stacks, ss, threads, measurements, ids = {}, {}, {}, nil, nil, nil, {}
  local in_columns = is_columns(first.profile.samples) -- the first answer's layout
  slice()
  if in_columns then ss = { n = 0 } else ss = new_array(total) end
  for k, v in pairs(first) do chunk[k] = v end
  local n = 0
  for _, a in ipairs(answers) do
    local p = a.chunk.profile
    local frame_base, stack_base = #frames_, #stacks
    for _, f in ipairs(p.frames) do frames_[#frames_ + 1] = f end
    for _, st in ipairs(p.stacks) do
      n = n + 1
      if n % 4096 == 0 then slice() end
      local shifted = {}
      for j = 1, #st do shifted[j] = st[j] + frame_base end
      stacks[#stacks + 1] = shifted
    end
    local c = columns_of(a.chunk)
    if in_columns then -- every column appended, stack ids shifted
      local base = ss.n
      for k, col in pairs(c) do
        if k ~= "n" then
          local into = ss[k]
          if not into then
            slice()
            into = new_array(total)
            ss[k] = into
          end
          for i = 1, c.n do
            n = n + 1
            if n % 4096 == 0 then slice() end
            local v = col[i]
            if k == "stack_id" then v = v + stack_base end
            into[base + i] = v
          end
        end
      end
      ss.n = base + c.n
    else
      for i = 1, c.n do
        n = n + 1
        if n % 4096 == 0 then slice() end
        local copy = layout.row(c, i)
        copy.stack_id = copy.stack_id + stack_base
        ss[#ss + 1] = copy
      end
    end
    if type(p.thread_metadata) == "table" then
      threads = threads or {}
      for tid, meta in pairs(p.thread_metadata) do threads[tid] = threads[tid] or meta end
    end
    if type(a.chunk.measurements) == "table" then
      measurements = measurements or {}
      for name, m in pairs(a.chunk.measurements) do
        local into = measurements[name]
        if not into then
          into = { unit = m.unit, values = {} }
          measurements[name] = into
        end
        for _, v in ipairs(m.values or {}) do into.values[#into.values + 1] = v end
      end
    end
    for _, id in ipairs(type(a.debug_chunk_ids) == "table" and a.debug_chunk_ids or {}) do ids[#ids + 1] = id end
  end
  local profile = {}
  for k, v in pairs(first.profile) do profile[k] = v end
  profile.frames, profile.stacks, profile.samples = frames_, stacks, ss
  profile.thread_metadata = threads or first.profile.thread_metadata
  chunk.profile = profile
  if measurements then chunk.measurements = measurements end
  return { chunk = chunk, debug_chunk_ids = ids }
end

-- prepare(res, remap, slice) -> entry {res (paths remapped), chunk,
-- threads = {{id, name, samples}, ... most samples first}, main = id}.
function M.prepare(res, remap, slice)
  if remap and #remap > 0 then res = filter.remap_paths(res, remap) end
  local chunk = samples.chunk_of(res, "prepare")
  local c = columns_of(chunk)
  local tids = c.thread_id
  local count, order = {}, {}
  for i = 1, c.n do
    if i % SLICE == 0 then slice() end
    local tid = tids[i]
    if count[tid] then count[tid] = count[tid] + 1 else count[tid] = 1 order[#order + 1] = tid end
  end
  local threads = {}
  for _, tid in ipairs(order) do
    threads[#threads + 1] = { id = tid, name = thread_name(chunk, tid), samples = count[tid] }
  end
  table.sort(threads, function(a, b)
    if a.samples ~= b.samples then return a.samples > b.samples end
    return tostring(a.id) < tostring(b.id)
  end)
  local main -- as samples.main_thread: a main thread's name, else the busiest
  for _, t in ipairs(threads) do
    if samples.is_main_name(t.name) then main = t.id break end
  end
  main = main or (threads[1] and threads[1].id)
  return { res = res, chunk = chunk, threads = threads, main = main }
end

-- How many samples a chunk has, in either layout.
function M.sample_count(chunk)
  return columns_of(chunk).n
end

-- The thread ids a selector names ("main", "all", an id or a name):
-- set, label | nil, message (the selector is the user's input).
function M.select(entry, selector)
  selector = selector == nil and "main" or tostring(selector)
  if selector == "all" then return nil, "all threads" end
  local set, found = {}, false
  if selector == "main" and entry.main then set[entry.main], found = true, true end
  for _, t in ipairs(entry.threads) do
    if tostring(t.id) == selector or t.name == selector then set[t.id], found = true, true end
  end
  if not found then
    local names = {}
    for _, t in ipairs(entry.threads) do names[#names + 1] = t.name and (t.id .. " (" .. t.name .. ")") or t.id end
    return false, "no thread '" .. selector .. "' in this profile; its threads: " .. table.concat(names, ", ")
  end
  local ids = {}
  for id in pairs(set) do
    local name
    for _, t in ipairs(entry.threads) do if t.id == id then name = t.name end end
    ids[#ids + 1] = name and (name .. " (" .. id .. ")") or tostring(id)
  end
  table.sort(ids)
  return set, "thread " .. table.concat(ids, ", ")
end

-- The chunk restricted to a set of thread ids (nil: every thread), by a
-- sliced pass; a thread keeps all its samples, so weights are unchanged.
function M.restrict(entry, set, slice)
  if not set then return entry.chunk end
  local c, list = columns_of(entry.chunk), {}
  local tids = c.thread_id
  for i = 1, c.n do
    if i % SLICE == 0 then slice() end
    if set[tids[i]] then list[#list + 1] = i end
  end
  return samples.with_profile(entry.chunk, { samples = layout.pick(entry.chunk.profile.samples, 1, #list, list, slice) })
end

-- Top functions of the chosen threads (every row: sorting is the view's).
-- Sentry counting goes through aggregate.accumulator, fed WINDOW samples
-- at a time in time order (its result equals top's on the whole range),
-- so that the work between two yields stays small whatever the hook's
-- step; textbook counting (whose intervals need the whole range), or
-- samples out of time order, through top with the slice hook.
M.WINDOW = 4096

function M.top(entry, set, mode, slice)
  local chunk = M.restrict(entry, set, slice)
  local ss = chunk.profile.samples
  local c = columns_of(chunk)
  local nss, tss = c.n, c.timestamp
  if mode == "textbook" or nss <= M.WINDOW then
    return aggregate.top(chunk, { mode = mode, slice = slice })
  end
  local prev = -math.huge
  for i = 1, nss do
    if i % samples.SLICE == 0 then slice() end
    local t = tss[i]
    if type(t) ~= "number" or t < prev then return aggregate.top(chunk, { mode = mode, slice = slice }) end
    prev = t
  end
  local acc = aggregate.accumulator { slice = slice }
  for first = 1, nss, M.WINDOW do
    local window = layout.pick(ss, first, math.min(first + M.WINDOW - 1, nss))
    acc:add(samples.with_profile(chunk, { samples = window }))
    slice()
  end
  return acc:top()
end

-- Sentry's weight (integer ns) and sample count per thread and stack id,
-- in one pass that yields every 4,096 samples: a sample weighs the time to
-- the next sample of its thread, the last one of each thread is no sample
-- (as samples.lanes). Returns weight, count, time (ns) | nil when the
-- samples are not in time order or carry weights of their own (then the
-- callers go through aggregate's per-stack sums).
local function sentry_sums(chunk, slice)
  local c, ns = columns_of(chunk), samples.ns
  local tids, tss, sids = c.thread_id, c.timestamp, c.stack_id
  if c.weight_ns or c.weight then return nil end -- samples that carry weights
  local last_ts, last_sid, weight, count = {}, {}, {}, {}
  local prev, time = -math.huge, 0
  for i = 1, c.n do
    if i % 4096 == 0 then slice() end
    local t = tss[i]
    if type(t) ~= "number" or t < prev then return nil end
    prev = t
    local tid, tn = tids[i], ns(t)
    local lt = last_ts[tid]
    if lt then
      local sid, wt, ct = last_sid[tid], weight[tid], count[tid]
      wt[sid], ct[sid] = (wt[sid] or 0) + (tn - lt), (ct[sid] or 0) + 1
      time = time + (tn - lt)
    elseif tid ~= nil then
      weight[tid], count[tid] = {}, {}
    else
      return nil
    end
    last_ts[tid], last_sid[tid] = tn, sids[i]
  end
  return weight, count, time
end
M._sentry_sums = sentry_sums

-- Weight per thread and stack (seconds, or ns with the fast path), count,
-- the stacks (leaf-first frame indices) by id, and the unit to divide by.
local function stack_weights(chunk, mode, slice, fast)
  if mode ~= "textbook" and fast ~= false then
    local weight, count, time = sentry_sums(chunk, slice)
    if weight then
      local stacks, by_id = chunk.profile.stacks, {}
      setmetatable(by_id, { __index = function(_, sid) return stacks[sid + 1] or {} end })
      return weight, count, time, by_id, 1e9
    end
  end
  local _, weight, count, time, _, unique = aggregate._per_stack(chunk, { mode = mode, slice = slice }, true, "call_trees")
  return weight, count, time, unique, 1
end
M._stack_weights = stack_weights

-- The call tree of the chosen threads: aggregate.call_trees' tree, built
-- here from the per-stack sums so that building it slices too (on 50
-- chunks the main thread alone has some 85,000 nodes, and call_trees
-- builds them without calling its hook). Same nodes, merged by node
-- identity, self time by the mode's rule; several threads are children of
-- one root ("thread <id>"). Times in seconds; children unsorted (the view
-- sorts them).
local function new_node(key, name, f)
  return { key = key, name = name, frame = f, self = 0, total = 0, samples = 0, children = {}, by_key = {} }
end

function M.thread_trees(chunk, mode, slice, fast)
  chunk = samples.chunk_of(chunk, "thread_trees")
  local weight, count, _, stack_of, unit = stack_weights(chunk, mode, slice, fast)
  local fr = chunk.profile.frames
  local sentry = mode ~= "textbook"
  local trees, n = {}, 0
  for tid, wt_by_u in pairs(weight) do
    local root = new_node("", "root", nil)
    for u, wt in pairs(wt_by_u) do
      n = n + 1
      if n % 256 == 0 then slice() end
      local cnt, stack = count[tid][u], stack_of[u]
      local depth = #stack
      root.total, root.samples = root.total + wt, root.samples + cnt
      local self_at, below_app = {}, false
      for j = 1, depth do
        local f = frames.at(fr, stack[j])
        local in_app = frames.in_app(f)
        if j == 1 or (sentry and in_app and not below_app) then self_at[j] = true end
        if in_app and frames.aggregated(f) then below_app = true end
      end
      local node = root
      for j = depth, 1, -1 do
        local f = frames.at(fr, stack[j])
        local key = frames.node_key(f)
        local child = node.by_key[key]
        if not child then
          child = new_node(key, frames.name(f), f)
          node.by_key[key] = child
          node.children[#node.children + 1] = child
        end
        child.total, child.samples = child.total + wt, child.samples + cnt
        if self_at[j] then child.self = child.self + wt end
        node = child
      end
      if depth == 0 then root.self = root.self + wt end
    end
    trees[tid] = root
  end
  -- to seconds (the sums were made in ns, as call_trees makes them)
  local m = 0
  local function finish(node)
    m = m + 1
    if m % 1024 == 0 then slice() end
    node.by_key = nil
    node.self, node.total = node.self / unit, node.total / unit
    for _, c in ipairs(node.children) do finish(c) end
  end
  for _, root in pairs(trees) do finish(root) end
  return trees
end

function M.tree(entry, set, mode, slice)
  local trees = M.thread_trees(M.restrict(entry, set, slice), mode, slice)
  local ids = {}
  for tid in pairs(trees) do ids[#ids + 1] = tid end
  table.sort(ids, function(a, b) return tostring(a) < tostring(b) end)
  if #ids == 1 then return trees[ids[1]] end
  local root = { key = "", name = "root", self = 0, total = 0, samples = 0, children = {} }
  for _, tid in ipairs(ids) do
    local t = trees[tid]
    root.total, root.samples, root.self = root.total + t.total, root.samples + t.samples, root.self + t.self
    root.children[#root.children + 1] = { key = "thread:" .. tostring(tid), name = "thread " .. tostring(tid),
      self = t.self, total = t.total, samples = t.samples, children = t.children }
  end
  return root
end

-- Self and total time per source line: {time = seconds, files = {[path] =
-- {[line] = {self =, total =}}}}. A line's self time is the time of the
-- samples whose leaf frame is that line; its total time, of the samples
-- with that line anywhere in the stack (once per sample). Sums are made
-- per stack id as the profile has them, not per call-tree node: a node
-- (frames.node_key) leaves the line out, and would put every line of a
-- function on one. Sentry counting in one sliced pass (sentry_sums); else
-- through samples.lanes (textbook: each sample weighs its thread's
-- interval, and every sample counts).
local function line_weights(chunk, mode, slice, fast)
  if mode ~= "textbook" and fast ~= false then
    local weight, _, time = sentry_sums(chunk, slice)
    if weight then return weight, time end
  end
  local lanes = samples.lanes(chunk, slice)
  local iv = mode == "textbook" and samples.intervals(lanes)
  local sids = columns_of(chunk).stack_id
  local weight, time, n = {}, 0, 0
  for _, tid in ipairs(lanes.order) do
    local lane, wt = lanes[tid], {}
    weight[tid] = wt
    for j = 1, #lane.idx do
      n = n + 1
      if n % 4096 == 0 then slice() end
      local w
      if iv then w = lane.tw and lane.tw[j] or iv[tid] elseif not lane.last[j] then w = lane.w[j] end
      if w then
        local sid = sids[lane.idx[j]]
        wt[sid] = (wt[sid] or 0) + w
        time = time + w
      end
    end
  end
  return weight, time
end

function M.lines(entry, set, mode, slice, fast)
  local chunk = M.restrict(entry, set, slice)
  local weight, time = line_weights(chunk, mode, slice, fast)
  local fr, stacks = chunk.profile.frames, chunk.profile.stacks
  local files, n = {}, 0
  local function cell(f)
    local path = f.abs_path or f.filename
    if type(path) ~= "string" or type(f.lineno) ~= "number" then return nil end
    local file = files[path]
    if not file then file = {} files[path] = file end
    local c = file[f.lineno]
    if not c then c = { self = 0, total = 0 } file[f.lineno] = c end
    return c
  end
  for _, by_stack in pairs(weight) do
    for sid, w in pairs(by_stack) do
      n = n + 1
      if n % 512 == 0 then slice() end
      local stack, seen = stacks[sid + 1] or {}, {}
      for j = 1, #stack do
        local c = cell(frames.at(fr, stack[j]))
        if c then
          if j == 1 then c.self = c.self + w end
          if not seen[c] then seen[c] = true c.total = c.total + w end
        end
      end
    end
  end
  for _, file in pairs(files) do
    for _, c in pairs(file) do c.self, c.total = c.self / 1e9, c.total / 1e9 end
  end
  return { time = time / 1e9, files = files }
end

-- Two profiles' top functions joined (b against a), as aggregate.compare
-- joins them, each side's top computed in slices.
function M.diff(a, set_a, b, set_b, mode, slice)
  local ta, tb = M.top(a, set_a, mode, slice), M.top(b, set_b, mode, slice)
  local rows, by_key = {}, {}
  local function row(e)
    local r = by_key[e.key]
    if not r then
      r = { key = e.key, name = e.name, frame = e.frame, self_a = 0, self_b = 0, total_a = 0, total_b = 0,
            self_pct_a = 0, self_pct_b = 0, total_pct_a = 0, total_pct_b = 0 }
      by_key[e.key] = r
      rows[#rows + 1] = r
    end
    return r
  end
  for _, e in ipairs(ta.functions) do
    local r = row(e)
    r.self_a, r.total_a, r.self_pct_a, r.total_pct_a = e.self, e.total, e.self_pct, e.total_pct
  end
  for _, e in ipairs(tb.functions) do
    local r = row(e)
    r.self_b, r.total_b, r.self_pct_b, r.total_pct_b = e.self, e.total, e.self_pct, e.total_pct
    r.frame = e.frame or r.frame
  end
  for _, r in ipairs(rows) do
    r.self_delta, r.total_delta = r.self_b - r.self_a, r.total_b - r.total_a
    r.self_pct_delta, r.total_pct_delta = r.self_pct_b - r.self_pct_a, r.total_pct_b - r.total_pct_a
  end
  return { mode = mode, a = { time = ta.time, samples = ta.samples }, b = { time = tb.time, samples = tb.samples },
           functions = rows }
end

return M
