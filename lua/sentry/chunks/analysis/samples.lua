-- sentry.chunks.samples: samples with their weights, threads and windows.
--
-- Weights are Sentry's: samples are grouped per thread and ordered by time;
-- a sample weighs the time to the next sample of its thread (seconds), the
-- last sample of a thread weighs 0. A sample that carries a `weight` field
-- (samples kept by a filter) keeps that weight, so that dropping samples
-- does not stretch the ones left. Nothing here mutates its input.
--
-- Both layouts of samples (sentry.chunks.layout) are read through one
-- accessor, M.columns_of: the analysis reads columns, and for samples in
-- rows it builds them once (cached while the samples table lives).
local frames = require "sentry.chunks.analysis.frames"
local url = require "sentry.chunks.url"
local layout = require "sentry.chunks.layout"
local core = require("sentry.chunks.loadcore").load("sentry.chunks.analysis")
local new_array, core_lanes = core.new_array, core.lanes

local M = {}

local type, ipairs, pairs, sort, floor = type, ipairs, pairs, table.sort, math.floor

-- Work between two calls of an analysis's `slice` hook (samples or
-- stacks): a host loop (Neovim, OpenResty) can yield there.
local SLICE = 16384
M.SLICE = SLICE
local argerror = frames._argerror

-- The chunk of an answer ({chunk = ...}) or a chunk itself; argn: the
-- argument's position in fname's errors (1).
function M.chunk_of(x, fname, argn)
  argn = argn or 1
  if type(x) ~= "table" then argerror(argn, fname or "chunk_of", "table", x) end
  if type(x.chunk) == "table" then x = x.chunk end
  if type(x.profile) ~= "table" or type(x.profile.samples) ~= "table" then
    error(string.format("bad argument #%d to '%s' (a decoded answer or chunk expected: no profile.samples)",
      argn, fname or "chunk_of"), 3)
  end
  return x
end

local is_columns = layout.is_columns
M.is_columns = is_columns

-- The samples of a chunk in columns: {n =, stack_id =, thread_id =,
-- timestamp =, [any other key of a sample] = ...} (layout.columns_of):
-- samples in columns as they are, samples in rows read once into new
-- columns. The one way the analysis reads samples; read only. slice: the
-- analyses' hook, called while rows are read into columns.
function M.columns_of(chunk, slice)
  return layout.columns_of(chunk.profile.samples, slice)
end
local columns_of = M.columns_of

-- Sample i of columns c as a new row table.
M.row = layout.row

-- Sample indices per thread, in time order: by_thread[tid] = {i, ...}, and
-- the thread ids in order of first appearance. Chunks come tick by tick,
-- so a thread's samples are usually in order already and are sorted only
-- when they are not.
function M.by_thread(chunk, slice)
  local c = columns_of(M.chunk_of(chunk, "by_thread"))
  local tids, tss = c.thread_id, c.timestamp
  local by, order = {}, {}
  for i = 1, c.n do
    if slice and i % SLICE == 0 then slice() end
    local tid = tids[i]
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
      local t = tss[list[j]]
      if t < prev then sorted = false break end
      prev = t
    end
    if not sorted then
      sort(list, function(a, b)
        local ta, tb = tss[a], tss[b]
        if ta ~= tb then return ta < tb end
        return a < b
      end)
    end
  end
  return by, order
end

-- A Unix time in Sentry's integer nanoseconds: vroom converts every
-- timestamp with uint64(t * 1e9), and weights are differences of those.
local function ns(t)
  return floor(t * 1e9)
end
M.ns = ns

-- The k-th smallest of list (1-based), in linear expected time; reorders
-- list (a scratch copy).
local function select_kth(list, k)
  local lo, hi = 1, #list
  while lo < hi do
    local pivot = list[floor((lo + hi) / 2)]
    local i, j = lo, hi
    while i <= j do
      while list[i] < pivot do i = i + 1 end
      while list[j] > pivot do j = j - 1 end
      if i <= j then list[i], list[j] = list[j], list[i] i, j = i + 1, j - 1 end
    end
    if k <= j then hi = j elseif k >= i then lo = i else return list[k] end
  end
  return list[lo]
end
M.select_kth = select_kth

-- Whether the samples of chunk carry weights of their own (samples kept
-- by a filter, or weighed by hand): the profile says so, or its first
-- sample has a weight, in either layout (rows are not read into columns).
function M.carries_weights(chunk)
  if chunk.profile.weighted then return true end
  local ss = chunk.profile.samples
  if is_columns(ss) then
    local c_wns, c_w = ss.weight_ns, ss.weight
    return ss.n > 0 and ((c_wns ~= nil and c_wns[1] ~= nil) or (c_w ~= nil and c_w[1] ~= nil)) or false
  end
  local first = ss[1]
  return type(first) == "table" and (first.weight_ns ~= nil or first.weight ~= nil)
end

-- Each thread's samples in time order, as dense arrays (the analysis's
-- hot loops run over these): lanes.order = thread ids; lanes[tid] = {
--   idx = sample indices, ts = timestamps in ns,
--   w = Sentry's weights in ns (the time to the next sample of the
--       thread; 0 for the thread's last sample, which Sentry does not
--       count as a sample at all: last[j] = true),
--   tw = textbook weights in ns where a sample carries its own (nil
--       otherwise: the thread's interval, see M.interval) }.
-- Samples kept by a filter carry weight_ns, interval_ns and last from the
-- profile they came from, and keep them; a sample with a hand-set
-- `weight` (seconds) weighs that in both modes.
function M.lanes(chunk, slice)
  chunk = M.chunk_of(chunk, "lanes")
  local c = columns_of(chunk, slice)
  local tids, tss = c.thread_id, c.timestamp
  -- samples kept by a filter (or weighed by hand) carry their weights
  local c_wns, c_w, c_last, c_iv = c.weight_ns, c.weight, c.last, c.interval_ns
  local weighted = M.carries_weights(chunk)
  -- Samples without weights of their own, outside a host loop's slices:
  -- the passes below done in C (sentry.chunks.core's lanes.c), which
  -- gives nil for anything it leaves to them (a thread out of time order,
  -- a value that is not a number). Not on LuaJIT, whose compiled loops
  -- below beat the C API's cost per value (0.13 s against 0.20 s on the
  -- 50-chunk answer; on Lua 5.4 C takes 0.09 s against 0.14 s).
  if not weighted and not slice and not jit then
    local lanes = core_lanes(tids, tss, c.n)
    if lanes then return lanes end
  end
  c_wns, c_w, c_last, c_iv = c_wns or {}, c_w or {}, c_last or {}, c_iv or {}
  -- Each thread's sample indices and timestamps (ns), in the order they
  -- come; a thread found out of time order is sorted after. Per thread
  -- state sits in arrays by the thread's number k (its place in order):
  -- one hash lookup per sample, the thread id's. A first pass counts each
  -- thread's samples, so that its arrays are made at their size (grown by
  -- appending, they end up to half empty: on Lua 5.4 the lanes of the
  -- 50-chunk answer took more memory than its samples in columns).
  local lanes, order, slot, unsorted = {}, {}, {}, nil
  local counts, prevs, idxs, tslists = {}, {}, {}, {}
  for i = 1, c.n do
    if slice and i % SLICE == 0 then slice() end
    local tid = tids[i]
    local k = slot[tid]
    if not k then
      k = #order + 1
      slot[tid], order[k], counts[k] = k, tid, 0
    end
    counts[k] = counts[k] + 1
  end
  for k, tid in ipairs(order) do
    local n = counts[k]
    local lane = { idx = new_array(n), ts = new_array(n), w = new_array(n), last = {} }
    lanes[tid], counts[k], idxs[k], tslists[k] = lane, 0, lane.idx, lane.ts
    if slice then slice() end -- a large thread's arrays are fresh pages: 20 ms
  end
  for i = 1, c.n do
    if slice and i % SLICE == 0 then slice() end
    local tid = tids[i]
    local k = slot[tid]
    local t = floor(tss[i] * 1e9) -- ns(t), inlined: the hottest loop
    local n = counts[k] + 1
    counts[k] = n
    idxs[k][n], tslists[k][n] = i, t
    if n > 1 and t < prevs[k] then unsorted = unsorted or {} unsorted[tid] = true end
    prevs[k] = t
  end
  for tid in pairs(unsorted or {}) do
    local lane = lanes[tid]
    local list = lane.idx
    sort(list, function(a, b)
      local ta, tb = tss[a], tss[b]
      if ta ~= tb then return ta < tb end
      return a < b
    end)
    for j = 1, #list do lane.ts[j] = floor(tss[list[j]] * 1e9) end
  end
  lanes.order = order
  for _, tid in ipairs(order) do
    local lane = lanes[tid]
    local list, ts, w, last, tw = lane.idx, lane.ts, lane.w, lane.last, nil
    local n = #list
    if not weighted then
      for j = 1, n - 1 do w[j] = ts[j + 1] - ts[j] end
      if n > 0 then w[n], last[n] = 0, true end
    else
      for j = 1, n do
        if slice and j % SLICE == 0 then slice() end
        local i = list[j]
        local wns = c_wns[i]
        if wns then
          w[j] = wns
          if c_last[i] then last[j] = true end
          if c_iv[i] then tw = tw or {} tw[j] = c_iv[i] end
        elseif c_w[i] then
          w[j] = floor(c_w[i] * 1e9 + 0.5)
          tw = tw or {}
          tw[j] = w[j]
        elseif j < n then
          w[j] = ts[j + 1] - ts[j]
        else
          w[j], last[j] = 0, true
        end
      end
    end
    lane.tw = tw
  end
  return lanes
end

-- The median of the gaps between a lane's samples (ns), nil without any.
local function lane_median(lane)
  local gaps, w, last = {}, lane.w, lane.last
  for j = 1, #w do
    if not last[j] then gaps[#gaps + 1] = w[j] end
  end
  if #gaps == 0 then return nil end
  return select_kth(gaps, floor((#gaps + 1) / 2)), gaps
end

-- Each thread's sampling interval (ns), as pprof reads a profile: the
-- median gap between its samples; a thread with one sample takes the
-- median over the whole profile. Returns {[tid] = ns}.
function M.intervals(lanes)
  local out, all = {}, {}
  for _, tid in ipairs(lanes.order) do
    local m, gaps = lane_median(lanes[tid])
    out[tid] = m
    if gaps then for k = 1, #gaps do all[#all + 1] = gaps[k] end end
  end
  local fallback = #all > 0 and select_kth(all, floor((#all + 1) / 2)) or 0
  for _, tid in ipairs(lanes.order) do out[tid] = out[tid] or fallback end
  return out
end

-- Every sample's weight in integer nanoseconds, both ways of counting,
-- indexed by sample: {sentry = {[i] = ns}, textbook = {[i] = ns}, last =
-- {[i] = true}, by, order}: Sentry's (the time to the next sample of its
-- thread; 0 and last for the thread's last sample) and pprof's (the
-- thread's sampling interval, M.intervals).
function M.timeline(chunk)
  chunk = M.chunk_of(chunk, "timeline")
  local lanes = M.lanes(chunk)
  local iv = M.intervals(lanes)
  local sentry, textbook, last, by = {}, {}, {}, {}
  for _, tid in ipairs(lanes.order) do
    local lane = lanes[tid]
    local idx, w, tw = lane.idx, lane.w, lane.tw
    by[tid] = idx
    for j = 1, #idx do
      local i = idx[j]
      sentry[i] = w[j]
      textbook[i] = tw and tw[j] or iv[tid]
      if lane.last[j] then last[i] = true end
    end
  end
  return { sentry = sentry, textbook = textbook, last = last, by = by, order = lanes.order }
end

-- weights[i] (seconds) for every sample i, Sentry's way, and the
-- by_thread grouping.
function M.weights(chunk)
  chunk = M.chunk_of(chunk, "weights")
  local tl = M.timeline(chunk)
  local w = {}
  for i, v in pairs(tl.sentry) do w[i] = v / 1e9 end
  return w, tl.by, tl.order
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
  local tss = columns_of(chunk).timestamp
  local w, by, order = M.weights(chunk)
  local out = {}
  for _, tid in ipairs(order) do
    local list, time = by[tid], 0
    for j = 1, #list do time = time + w[list[j]] end
    out[#out + 1] = {
      id = tid, name = thread_name(chunk, tid), samples = #list, time = time,
      first = tss[list[1]], last = tss[list[#list]],
    }
  end
  sort(out, function(a, b)
    if a.samples ~= b.samples then return a.samples > b.samples end
    local x, y = tonumber(a.id), tonumber(b.id) -- ids are integers as text: 2 before 12
    if x and y and x ~= y then return x < y end
    return tostring(a.id) < tostring(b.id)
  end)
  return out
end

-- Whether a thread name is a main thread's: "MainThread" (Python),
-- "main" (Java, Android), "ui", or Apple's "com.apple.main-thread".
function M.is_main_name(name)
  if type(name) ~= "string" then return false end
  local n = name:lower()
  return n:find("^main") ~= nil or n == "ui" or n == "com.apple.main-thread"
end

-- The main thread's id: the busiest thread with a main thread's name
-- (is_main_name), else the thread with the most samples; nil for an empty
-- profile.
function M.main_thread(chunk)
  local threads = M.threads(chunk)
  for _, t in ipairs(threads) do
    if M.is_main_name(t.name) then return t.id end
  end
  return threads[1] and threads[1].id
end

-- A thread selector (an id, a name, "main", or a list of those) as a set of
-- thread ids; nil selects every thread.
function M.thread_set(chunk, selector, fname)
  if selector == nil then return nil end
  chunk = M.chunk_of(chunk, fname or "thread_set")
  local list = type(selector) == "table" and selector or { selector }
  local set, names, ids = {}, {}, {}
  local by, order = M.by_thread(chunk)
  for tid in pairs(by) do
    local name = thread_name(chunk, tid)
    if name then names[name] = names[name] or {} table.insert(names[name], tid) end
  end
  for _, want in ipairs(list) do
    want = tostring(want)
    local found = false
    if want == "main" then
      local main = M.main_thread(chunk)
      if main then set[main], found = true, true end
    end
    if by[want] then set[want], found = true, true end
    for _, tid in ipairs(names[want] or {}) do set[tid], found = true, true end
    if not found and #order > 0 then
      for i, tid in ipairs(order) do
        local name = thread_name(chunk, tid)
        ids[i] = name and (tid .. " (" .. name .. ")") or tid
      end
      error(string.format("bad argument #2 to '%s' (no thread '%s' in this profile; its threads: %s)",
        fname or "thread_set", want, table.concat(ids, ", ")), 0)
    end
  end
  return set
end

-- A time given as Unix seconds or as ISO-8601 text, in Unix seconds; nil
-- stays nil. Raises for anything else (a caller's mistake), naming opt.
local function seconds(v, fname, opt)
  if v == nil or type(v) == "number" then return v end
  local t = type(v) == "string" and (tonumber(v) or url.iso_to_unix(v))
  if not t then
    error(string.format("bad argument #2 to '%s' (%s must be Unix seconds or ISO-8601, got '%s')",
      fname, opt, tostring(v)), 0)
  end
  return t
end
M.seconds = seconds

-- The part of a sample's weight that lies in the window [from, to) (in
-- ns; nil bounds are open): a sample that straddles a bound keeps only its
-- time inside. Returns nil when the sample lies wholly outside (a sample
-- of weight 0 is inside when its timestamp is).
local function clip(t, w, from, to)
  if not from and not to then return w end
  local a, b = t, t + w
  if from and a < from then a = from end
  if to and b > to then b = to end
  if b > a then return b - a end
  if (not from or t >= from) and (not to or t < to) then return 0 end
  return nil
end
M.clip = clip

-- Edit distance (insertions, deletions, substitutions) of two short names.
local function distance(x, y)
  local prev = {}
  for j = 0, #y do prev[j] = j end
  for i = 1, #x do
    local cur = { [0] = i }
    for j = 1, #y do
      local cost = x:byte(i) == y:byte(j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#y]
end

-- The closest allowed name, for "did you mean": within two edits, or one
-- name the start of the other ("thread" for "threads").
function M.closest(name, allowed)
  local best, best_d
  for k in pairs(allowed) do
    local d = distance(name, k)
    if k:sub(1, #name) == name or name:sub(1, #k) == k then d = math.min(d, 1) end
    if not best_d or d < best_d or (d == best_d and k < best) then best, best_d = k, d end
  end
  if best_d and best_d <= 2 then return best end
  return nil
end

-- Raises for an option of opts that allowed does not name (a misspelt
-- option is never ignored).
local function check_keys(opts, allowed, fname)
  if opts ~= nil and type(opts) ~= "table" then argerror(2, fname, "table or nil", opts) end
  for k in pairs(opts or {}) do
    if not allowed[k] then
      local hint = type(k) == "string" and M.closest(k, allowed)
      error(string.format("bad argument #2 to '%s' (unknown option '%s'%s)", fname, tostring(k),
        hint and ("; did you mean '" .. hint .. "'?") or ""), 0)
    end
  end
  return opts or {}
end

local RESTRICT_OPTIONS = { threads = true, from = true, to = true }
local EACH_OPTIONS = { threads = true, from = true, to = true, root_first = true }

-- A new chunk with only the samples of the selected threads that lie in
-- [from, to): opts = {threads = selector, from = t, to = t} (Unix seconds
-- or ISO-8601). Samples keep the weights they had in the whole profile,
-- clipped to the window. Stacks and frames are shared (read only).
local function restrict(given, opts, fname) -- fname: the caller's name in errors
  local chunk = M.chunk_of(given, fname)
  opts = check_keys(opts, fname == "each" and EACH_OPTIONS or RESTRICT_OPTIONS, fname)
  local set = M.thread_set(chunk, opts.threads, fname)
  local from, to = seconds(opts.from, fname, "from"), seconds(opts.to, fname, "to")
  from, to = from and ns(from), to and ns(to)
  local c = columns_of(chunk)
  local tids, tss = c.thread_id, c.timestamp
  return M.same_shape(given, M.keep(chunk, function(_, _, w, iv, i)
    if set and not set[tids[i]] then return false end
    local t = ns(tss[i])
    local cw, ci = clip(t, w, from, to), clip(t, iv, from, to)
    if not cw and not ci then return false end
    return true, cw or 0, ci or 0
  end))
end

function M.restrict(given, opts)
  return restrict(given, opts, "restrict")
end

-- A new chunk with the samples for which keep(sample, stack_id,
-- weight_ns, interval_ns, i) is true, each carrying its weights (those of
-- the profile it came from, or the two numbers keep returns after true),
-- the mark of a thread's last sample, and its index in the original
-- samples. The new samples are in the layout of the chunk's: rows, or
-- columns with the weights as columns (weight, weight_ns, interval_ns,
-- last, index). With samples in columns, `sample` is a row view that keep
-- may read during the call only (it is reused).
function M.keep(chunk, keep)
  chunk = M.chunk_of(chunk, "keep")
  local rows = not is_columns(chunk.profile.samples)
  local samples = chunk.profile.samples
  local c = columns_of(chunk)
  local sids, tids, tss, idxs = c.stack_id, c.thread_id, c.timestamp, c.index
  local tl = M.timeline(chunk)
  local sentry, textbook, lastof = tl.sentry, tl.textbook, tl.last
  local kept, n = {}, 0
  local k_sid, k_tid, k_ts, k_w, k_wns, k_iv, k_last, k_index = {}, {}, {}, {}, {}, {}, {}, {}
  local view = {}
  for i = 1, c.n do
    local s
    if rows then s = samples[i] else
      for k, col in next, c do if k ~= "n" then view[k] = col[i] end end
      s = view
    end
    local ok, w, iv = keep(s, sids[i], sentry[i], textbook[i], i)
    if ok then
      w, iv = w or sentry[i], iv or textbook[i]
      n = n + 1
      local index = idxs and idxs[i] or i
      if rows then
        kept[n] = { stack_id = sids[i], thread_id = tids[i], timestamp = tss[i],
                    weight = w / 1e9, weight_ns = w, interval_ns = iv, last = lastof[i],
                    index = index }
      else
        k_sid[n], k_tid[n], k_ts[n], k_w[n], k_wns[n], k_iv[n], k_last[n], k_index[n] =
          sids[i], tids[i], tss[i], w / 1e9, w, iv, lastof[i], index
      end
    end
  end
  if not rows then
    kept = { n = n, stack_id = k_sid, thread_id = k_tid, timestamp = k_ts, weight = k_w,
             weight_ns = k_wns, interval_ns = k_iv, last = k_last, index = k_index }
  end
  return M.with_profile(chunk, { samples = kept, weighted = true })
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
  opts = check_keys(opts, EACH_OPTIONS, "each")
  if opts.threads or opts.from or opts.to then chunk = M.chunk_of(restrict(chunk, opts, "each")) end
  local samples = chunk.profile.samples
  local c = is_columns(samples) and samples
  local w, by, order = M.weights(chunk)
  local cache = {}
  local t, j = 1, 0
  return function()
    while order[t] do
      j = j + 1
      local list = by[order[t]]
      if j <= #list then
        local i = list[j]
        local s = c and M.row(c, i) or samples[i]
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
