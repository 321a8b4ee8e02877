-- sentry.chunks.aggregate: where the time goes. Top functions by self and
-- total time, call trees, hot paths, and two profiles compared.
--
-- Work is done once per distinct stack, not once per sample: a pass over
-- the samples adds up weight and count per stack_id (a 50-chunk answer has
-- over a million samples but tens of thousands of stacks), then each stack
-- is walked once.
--
-- Two counting modes; every result says which one made it:
--   "sentry"   (default) Sentry's rule: the leaf frame gets the sample's
--              time as self time, and when the leaf is a system frame the
--              nearest in-app frame above it gets it too (an in-app
--              function's self time subtracts only its in-app children,
--              a system function's all children). Missing in_app is in-app.
--   "textbook" self time is the leaf's only (pprof, speedscope).
-- In both, total time counts a function once per sample, however often it
-- recurses in that stack.
local frames = require "sentry.chunks.frames"
local samples = require "sentry.chunks.samples"

local M = {}

local pairs, ipairs, type, sort, floor = pairs, ipairs, type, table.sort, math.floor
local argerror = frames._argerror

local MODES = { sentry = true, textbook = true }

local function check_opts(opts, fname)
  if opts ~= nil and type(opts) ~= "table" then argerror(2, fname, "table or nil", opts) end
  opts = opts or {}
  local mode = opts.mode or "sentry"
  if not MODES[mode] then
    error(string.format("bad argument #2 to '%s' (mode must be 'sentry' or 'textbook', got '%s')",
      fname, tostring(mode)), 3)
  end
  return opts, mode
end

-- Stacks as functions see them: a merged answer repeats every frame and
-- stack once per chunk, so stacks are numbered by their sequence of frame
-- identities. Returns canon[sid] = unique id and unique[u] = a stack (leaf
-- first frame indices) with that sequence.
function M.unique_stacks(chunk)
  local p = chunk.profile
  local fr, stacks = p.frames, p.stacks
  local frame_id, id_text, next_frame = {}, {}, 0
  local key_id = {}
  local canon, unique, by_text, buf = {}, {}, {}, {}
  for sid = 0, #stacks - 1 do
    local stack = stacks[sid + 1]
    local n = #stack
    for j = 1, n do
      local idx = stack[j]
      local text = id_text[idx]
      if not text then
        local key = frames.key(frames.at(fr, idx))
        local id = key_id[key]
        if not id then
          next_frame = next_frame + 1
          id = tostring(next_frame) .. ","
          key_id[key] = id
        end
        id_text[idx], text = id, id
      end
      buf[j] = text
    end
    local text = table.concat(buf, "", 1, n)
    local u = by_text[text]
    if not u then
      u = #unique + 1
      unique[u] = stack
      by_text[text] = u
    end
    canon[sid] = u
  end
  return canon, unique
end

-- Weight and sample count per unique stack (per thread when by_thread is
-- set), restricted to opts.threads / opts.from / opts.to. One pass when
-- every thread's samples are in time order (as Sentry sends them) and
-- carry no weight of their own; samples.weights otherwise.
local function per_stack(given, opts, by_thread, fname)
  local chunk = samples.chunk_of(given, fname)
  if opts.threads or opts.from or opts.to then chunk = samples.chunk_of(samples.restrict(chunk, opts)) end
  local ss = chunk.profile.samples
  local canon, unique = M.unique_stacks(chunk)
  local weight, count, total = {}, {}, 0
  local function tables_of(tid)
    if not by_thread then return weight, count end
    local wt = weight[tid]
    if not wt then
      wt = {}
      weight[tid], count[tid] = wt, {}
    end
    return wt, count[tid]
  end
  local in_order = ss[1] == nil or ss[1].weight == nil
  if in_order then
    local last_u, last_t = {}, {}
    for i = 1, #ss do
      local s = ss[i]
      local tid, t = s.thread_id, s.timestamp
      local u = canon[s.stack_id] or 0
      local wt, ct = tables_of(tid)
      local lt = last_t[tid]
      if lt then
        if t < lt then in_order = false break end
        local lu, d = last_u[tid], t - lt
        wt[lu] = (wt[lu] or 0) + d
        total = total + d
      end
      ct[u] = (ct[u] or 0) + 1
      last_u[tid], last_t[tid] = u, t
    end
  end
  if not in_order then
    weight, count, total = {}, {}, 0
    local w = samples.weights(chunk)
    for i = 1, #ss do
      local s = ss[i]
      local u = canon[s.stack_id] or 0
      local wt, ct = tables_of(s.thread_id)
      wt[u] = (wt[u] or 0) + w[i]
      ct[u] = (ct[u] or 0) + 1
      total = total + w[i]
    end
  end
  -- every counted stack has a weight entry, if only 0 (a thread's last)
  local function fill(wt, ct) for u in pairs(ct) do wt[u] = wt[u] or 0 end end
  if by_thread then
    for tid, ct in pairs(count) do fill(weight[tid], ct) end
  else
    fill(weight, count)
  end
  unique[0] = {} -- samples whose stack_id is not in the chunk
  return chunk, weight, count, total, #ss, unique
end

M._per_stack = per_stack

-- A merged chunk without its copies: one frame per identity (the first
-- seen), one stack per sequence of identities, samples pointing at them.
-- Returns a new chunk (an answer when given one); the input is untouched.
function M.dedupe(given)
  local chunk = samples.chunk_of(given, "dedupe")
  local p = chunk.profile
  local canon, unique = M.unique_stacks(chunk)
  local new_frames, frame_of_key, new_index = {}, {}, {}
  local function frame_index(idx)
    local n = new_index[idx]
    if n then return n end
    local f = frames.at(p.frames, idx)
    local key = frames.key(f)
    n = frame_of_key[key]
    if not n then
      new_frames[#new_frames + 1] = f
      n = #new_frames - 1
      frame_of_key[key] = n
    end
    new_index[idx] = n
    return n
  end
  for idx = 0, #p.frames - 1 do frame_index(idx) end -- the frames' own order
  local new_stacks = {}
  for u = 1, #unique do
    local stack, out = unique[u], {}
    for j = 1, #stack do out[j] = frame_index(stack[j]) end
    new_stacks[u] = out
  end
  local new_samples = {}
  for i, s in ipairs(p.samples) do
    local copy = {}
    for k, v in pairs(s) do copy[k] = v end
    local u = canon[s.stack_id]
    copy.stack_id = u and (u - 1) or s.stack_id
    new_samples[i] = copy
  end
  return samples.same_shape(given, samples.with_profile(chunk,
    { frames = new_frames, stacks = new_stacks, samples = new_samples }))
end

-- The function entries of a profile, one per frame identity, made on demand.
local function function_table(chunk)
  local fr = chunk.profile.frames
  local by_index, by_key = {}, {}
  return function(index)
    local e = by_index[index]
    if e then return e end
    local f = frames.at(fr, index)
    local key = frames.key(f)
    e = by_key[key]
    if not e then
      e = { key = key, name = frames.name(f), frame = f, in_app = frames.in_app(f),
            self = 0, total = 0, self_samples = 0, total_samples = 0 }
      by_key[key] = e
    end
    by_index[index] = e
    return e
  end, by_key
end

-- Nearest-rank percentile of a sorted list.
local function percentile(sorted, p)
  local n = #sorted
  if n == 0 then return nil end
  local rank = math.ceil(p / 100 * n)
  if rank < 1 then rank = 1 end
  return sorted[rank]
end

-- Per-occurrence durations: an occurrence is a run of consecutive samples
-- of one thread whose stacks all hold the function; its duration is the sum
-- of their weights.
local function occurrence_durations(chunk, entry_of)
  local p = chunk.profile
  local ss = p.samples
  local w, by, order = samples.weights(chunk)
  local distinct, runs = {}, {}
  local function keys_of(sid)
    local list = distinct[sid]
    if list then return list end
    list = {}
    local seen, stack = {}, p.stacks[sid + 1] or {}
    for j = 1, #stack do
      local e = entry_of(stack[j])
      if not seen[e] then seen[e] = true list[#list + 1] = e end
    end
    distinct[sid] = list
    return list
  end
  for _, tid in ipairs(order) do
    local list, open = by[tid], {}
    for j = 1, #list do
      local i = list[j]
      for _, e in ipairs(keys_of(ss[i].stack_id)) do
        local r = open[e]
        if r and r.last == j - 1 then
          r.sum, r.last = r.sum + w[i], j
        else
          if r then runs[e] = runs[e] or {} table.insert(runs[e], r.sum) end
          open[e] = { sum = w[i], last = j }
        end
      end
    end
    for e, r in pairs(open) do runs[e] = runs[e] or {} table.insert(runs[e], r.sum) end
  end
  return runs
end

-- Top functions: opts = {mode = "sentry"|"textbook", threads = selector,
-- from =, to =, sort = "self"|"total", limit = n, durations = bool}.
-- Returns {mode, time, samples, functions = {{key, name, frame, in_app,
-- self, total, self_samples, total_samples, self_pct, total_pct
-- [, occurrences, p75, p95, p99]}, ...}}; times in seconds.
function M.top(chunk, opts)
  local mode
  opts, mode = check_opts(opts, "top")
  local c, weight, count, total, n, unique = per_stack(chunk, opts, false, "top")
  local entry_of, by_key = function_table(c)
  local textbook = mode == "textbook"
  for u, wt in pairs(weight) do
    local cnt = count[u]
    local stack = unique[u]
    if #stack > 0 then
      for j = 1, #stack do -- once per stack however often it recurses
        local e = entry_of(stack[j])
        if e.mark ~= u then
          e.mark = u
          e.total, e.total_samples = e.total + wt, e.total_samples + cnt
        end
      end
      local leaf = entry_of(stack[1])
      leaf.self, leaf.self_samples = leaf.self + wt, leaf.self_samples + cnt
      if not textbook and not leaf.in_app then
        for j = 2, #stack do
          local e = entry_of(stack[j])
          if e.in_app then
            if e ~= leaf then e.self, e.self_samples = e.self + wt, e.self_samples + cnt end
            break
          end
        end
      end
    end
  end
  local runs = opts.durations and occurrence_durations(c, entry_of) or nil
  local list = {}
  for _, e in pairs(by_key) do
    e.mark = nil
    e.self_pct = total > 0 and 100 * e.self / total or 0
    e.total_pct = total > 0 and 100 * e.total / total or 0
    if runs then
      local d = runs[e] or {}
      sort(d)
      e.occurrences, e.p75, e.p95, e.p99 = #d, percentile(d, 75), percentile(d, 95), percentile(d, 99)
    end
    if e.total_samples > 0 then list[#list + 1] = e end
  end
  local by = opts.sort == "total" and "total" or "self"
  local other = by == "self" and "total" or "self"
  sort(list, function(a, b)
    if a[by] ~= b[by] then return a[by] > b[by] end
    if a[other] ~= b[other] then return a[other] > b[other] end
    return a.key < b.key
  end)
  if opts.limit then
    for i = #list, opts.limit + 1, -1 do list[i] = nil end
  end
  return { mode = mode, time = total, samples = n, functions = list }
end

local function new_node(e)
  return { key = e and e.key or "", name = e and e.name or "root", frame = e and e.frame,
           self = 0, total = 0, samples = 0, children = {}, by_key = {} }
end

local function finish_tree(node)
  node.by_key = nil
  sort(node.children, function(a, b)
    if a.total ~= b.total then return a.total > b.total end
    return a.key < b.key
  end)
  for _, child in ipairs(node.children) do finish_tree(child) end
end

-- Call trees, root to leaf, merged by frame identity, one per thread:
-- { [thread_id] = root }, each node {key, name, frame, self, total,
-- samples, children = {...} (heaviest first)}. opts as for top.
function M.call_trees(chunk, opts)
  opts = check_opts(opts, "call_trees")
  local c, weight, count, _, _, unique = per_stack(chunk, opts, true, "call_trees")
  local entry_of = function_table(c)
  local trees = {}
  for tid, wt_by_u in pairs(weight) do
    local root = new_node(nil)
    for u, wt in pairs(wt_by_u) do
      local cnt = count[tid][u]
      local stack = unique[u]
      local node = root
      root.total, root.samples = root.total + wt, root.samples + cnt
      for j = #stack, 1, -1 do
        local e = entry_of(stack[j])
        local child = node.by_key[e.key]
        if not child then
          child = new_node(e)
          node.by_key[e.key] = child
          node.children[#node.children + 1] = child
        end
        child.total, child.samples = child.total + wt, child.samples + cnt
        node = child
      end
      node.self = node.self + wt
    end
    finish_tree(root)
    trees[tid] = root
  end
  return trees
end

-- The heaviest root-to-leaf paths: {{names = {root..leaf}, keys = {...},
-- time, samples, pct}, ...}, heaviest first. opts as for top, plus limit.
function M.hot_paths(chunk, opts)
  opts = check_opts(opts, "hot_paths")
  local c, weight, count, total, _, unique = per_stack(chunk, opts, false, "hot_paths")
  local entry_of = function_table(c)
  local paths, list = {}, {}
  for u, wt in pairs(weight) do
    local stack = unique[u]
    local keys, names = {}, {}
    for j = #stack, 1, -1 do
      local e = entry_of(stack[j])
      keys[#keys + 1], names[#names + 1] = e.key, e.name
    end
    local id = table.concat(keys, "\n")
    local path = paths[id]
    if not path then
      path = { keys = keys, names = names, time = 0, samples = 0 }
      paths[id] = path
      list[#list + 1] = path
    end
    path.time, path.samples = path.time + wt, path.samples + count[u]
  end
  for _, path in ipairs(list) do path.pct = total > 0 and 100 * path.time / total or 0 end
  sort(list, function(a, b)
    if a.time ~= b.time then return a.time > b.time end
    return table.concat(a.keys, "\n") < table.concat(b.keys, "\n")
  end)
  for i = #list, (opts.limit or 10) + 1, -1 do list[i] = nil end
  return list
end

-- Two profiles side by side (two windows, two releases): per function, self
-- and total time in each and the change; positive delta = slower in b.
-- Returns {mode, a = {time, samples}, b = {...}, functions = {{key, name,
-- self_a, self_b, self_delta, total_a, total_b, total_delta, self_pct_a,
-- self_pct_b}, ...}} ordered by the size of the self-time change.
function M.compare(a, b, opts)
  local mode
  opts, mode = check_opts(opts, "compare")
  local ta, tb = M.top(a, opts), M.top(b, opts)
  local rows, by_key = {}, {}
  local function row(e)
    local r = by_key[e.key]
    if not r then
      r = { key = e.key, name = e.name, self_a = 0, self_b = 0, total_a = 0, total_b = 0,
            self_pct_a = 0, self_pct_b = 0 }
      by_key[e.key] = r
      rows[#rows + 1] = r
    end
    return r
  end
  for _, e in ipairs(ta.functions) do
    local r = row(e)
    r.self_a, r.total_a, r.self_pct_a = e.self, e.total, e.self_pct
  end
  for _, e in ipairs(tb.functions) do
    local r = row(e)
    r.self_b, r.total_b, r.self_pct_b = e.self, e.total, e.self_pct
  end
  for _, r in ipairs(rows) do
    r.self_delta, r.total_delta = r.self_b - r.self_a, r.total_b - r.total_a
  end
  sort(rows, function(x, y)
    local dx, dy = math.abs(x.self_delta), math.abs(y.self_delta)
    if dx ~= dy then return dx > dy end
    return x.key < y.key
  end)
  if opts.limit then
    for i = #rows, opts.limit + 1, -1 do rows[i] = nil end
  end
  return { mode = mode, a = { time = ta.time, samples = ta.samples },
           b = { time = tb.time, samples = tb.samples }, functions = rows }
end

-- Microseconds as an integer, for exports and counts.
function M.microseconds(seconds)
  return floor(seconds * 1e6 + 0.5)
end

return M
