-- sentry.chunks.aggregate: where the time goes. Top functions by self and
-- total time, call trees, hot paths, and two profiles compared.
--
-- Two counting modes; every result says which one made it:
--
--   "sentry"   (default) the numbers Sentry itself computes (getsentry/vroom:
--              SampleChunk.CallTrees, Node.CollectFunctions, Quantile).
--              Samples are grouped per thread in time order; a sample
--              weighs the time to the next sample of its thread, in
--              integer nanoseconds (uint64(t * 1e9)); the last sample of
--              each thread is no sample at all. A function row is one
--              fingerprint: module, else the trimmed package, + function
--              (frames.key), never the instruction address. Frames
--              without a function name make no row (Sentry does not
--              aggregate them; cocoa's `main` and unsymbolicated cocoa
--              frames neither). Self time: the leaf's, and an in-app
--              frame's when no in-app frame that makes a row lies below it
--              in that stack (an in-app function's self time subtracts
--              only its in-app descendants, a system function's all of
--              its children). Total time is Sentry's sum of durations, so
--              a function that recurses counts at each level, and so do
--              its sample counts. in_app belongs to each frame occurrence
--              (a missing or null in_app is in-app).
--   "textbook" pprof's and speedscope's: every sample weighs its thread's
--              sampling interval (the median gap); self time is the
--              leaf's only; a function counts once per sample however
--              often it recurses.
--
-- Work is done once per distinct stack, not once per sample: a pass over
-- the samples adds up weight and count per stack (a 50-chunk answer has
-- over a million samples but a few thousand distinct stacks), then each
-- stack is walked once. Per-occurrence durations (percentiles) take one
-- more pass, which does work only where a thread's stack changes.
local frames = require "sentry.chunks.analysis.frames"
local samples = require "sentry.chunks.analysis.samples"
local core = require("sentry.chunks.loadcore").load("sentry.chunks.analysis")
local core_stack_sums = core.stack_sums

local M = {}

local pairs, ipairs, type, sort, floor, ceil = pairs, ipairs, type, table.sort, math.floor, math.ceil
local format = string.format
local argerror = frames._argerror
local ns = samples.ns

local MODES = { sentry = true, textbook = true }
local SORTS = { self = true, total = true }

-- The options each function takes; anything else is a caller's mistake.
local COMMON = { mode = true, threads = true, from = true, to = true, slice = true }
local SLICE = samples.SLICE
local OPTIONS = {
  top = { sort = true, limit = true, durations = true, slowest = true },
  call_trees = {},
  hot_paths = { limit = true },
  compare = { sort = true, limit = true },
  per_stack = { thread_root = true, weight = true, event = true, remap = true, thread = true },
}

local closest = samples.closest

local function check_opts(opts, fname, extra)
  if opts ~= nil and type(opts) ~= "table" then argerror(2, fname, "table or nil", opts) end
  opts = opts or {}
  local own = OPTIONS[fname] or {}
  for k in pairs(opts) do
    if not COMMON[k] and not own[k] and not (extra and extra[k]) then
      local allowed = {}
      for n in pairs(COMMON) do allowed[n] = true end
      for n in pairs(own) do allowed[n] = true end
      for n in pairs(extra or {}) do allowed[n] = true end
      local hint = type(k) == "string" and closest(k, allowed)
      error(format("bad argument #2 to '%s' (unknown option '%s'%s)", fname, tostring(k),
        hint and ("; did you mean '" .. hint .. "'?") or ""), 3)
    end
  end
  local mode = opts.mode or "sentry"
  if not MODES[mode] then
    error(format("bad argument #2 to '%s' (mode must be 'sentry' or 'textbook', got '%s')",
      fname, tostring(mode)), 3)
  end
  if opts.sort ~= nil and not SORTS[opts.sort] then
    error(format("bad argument #2 to '%s' (sort must be 'self' or 'total', got '%s')",
      fname, tostring(opts.sort)), 3)
  end
  if opts.limit ~= nil and (type(opts.limit) ~= "number" or opts.limit < 0 or opts.limit ~= floor(opts.limit)) then
    error(format("bad argument #2 to '%s' (limit must be a whole number >= 0, got %s)",
      fname, tostring(opts.limit)), 3)
  end
  return opts, mode
end
M._check_opts = check_opts

-- Stacks as Sentry's call trees see them: a merged answer repeats every
-- frame and stack once per chunk, so stacks are numbered by their sequence
-- of node identities (frames.node_key). Returns canon[sid] = unique id,
-- unique[u] = a stack (leaf-first frame indices) with that sequence, and
-- node_id[frame index] = a small integer per node identity.
function M.unique_stacks(chunk, slice)
  local p = chunk.profile
  local fr, stacks = p.frames, p.stacks
  local node_id, id_text, key_id, next_id = {}, {}, {}, 0
  local canon, unique, by_text, buf = {}, {}, {}, {}
  for sid = 0, #stacks - 1 do
    if slice and sid % SLICE == 0 then slice() end
    local stack = stacks[sid + 1]
    local n = #stack
    for j = 1, n do
      local idx = stack[j]
      local text = id_text[idx]
      if not text then
        local key = frames.node_key(frames.at(fr, idx))
        local id = key_id[key]
        if not id then
          next_id = next_id + 1
          id = next_id
          key_id[key] = id
        end
        node_id[idx] = id
        text = tostring(id) .. ","
        id_text[idx] = text
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
  unique[0] = {} -- samples whose stack_id is not in the chunk
  return canon, unique, node_id
end

-- The samples an analysis counts, per thread in time order, restricted to
-- opts.threads and clipped to [opts.from, opts.to): {order = {tid, ...},
-- lanes = {[tid] = {idx = sample indices, ts = timestamps (ns), w =
-- weights in the chosen mode (ns, clipped), sw = Sentry's unclipped
-- weights (ns), last = {[j] = true} for samples that are no sample (each
-- thread's last, Sentry's way)}}, time = ns, samples = n, from, to (ns)}.
-- Without a window the lanes' own arrays are used as they are.
local function view(chunk, opts, mode, fname)
  if opts.slice ~= nil and type(opts.slice) ~= "function" then
    error(format("bad argument #2 to '%s' (slice must be a function, got %s)", fname, type(opts.slice)), 4)
  end
  local lanes = samples.lanes(chunk, opts.slice)
  local set = samples.thread_set(chunk, opts.threads, fname)
  local from, to = samples.seconds(opts.from, fname, "from"), samples.seconds(opts.to, fname, "to")
  from, to = from and ns(from), to and ns(to)
  local textbook = mode == "textbook"
  local iv = textbook and samples.intervals(lanes)
  local clip = samples.clip
  local v = { order = {}, lanes = {}, time = 0, samples = 0, from = from, to = to, slice = opts.slice }
  for _, tid in ipairs(lanes.order) do
    if not set or set[tid] then
      local lane = lanes[tid]
      local idx, ts, sw, last = lane.idx, lane.ts, lane.w, lane.last
      local w = sw
      if textbook then
        local tw, d = lane.tw, iv[tid]
        w, last = {}, {} -- every sample counts
        for j = 1, #idx do w[j] = tw and tw[j] or d end
      end
      if from or to then
        local nidx, nts, nw, nsw, nlast = {}, {}, {}, {}, {}
        for j = 1, #idx do
          local cw = clip(ts[j], w[j], from, to)
          if cw then
            local k = #nidx + 1
            nidx[k], nts[k], nw[k], nsw[k] = idx[j], ts[j], cw, sw[j]
            if last[j] then nlast[k] = true end
          end
        end
        idx, ts, w, sw, last = nidx, nts, nw, nsw, nlast
      end
      local n = #idx
      if n > 0 then
        local time, counted = 0, 0
        for j = 1, n do
          time = time + w[j]
          if not last[j] then counted = counted + 1 end
        end
        v.order[#v.order + 1] = tid
        v.lanes[tid] = { idx = idx, ts = ts, w = w, sw = sw, last = last }
        v.time, v.samples = v.time + time, v.samples + counted
      end
    end
  end
  return v
end

-- Weight (ns) and sample count per unique stack (per thread when
-- by_thread is set) over a view.
local function stack_sums(chunk, v, canon, by_thread)
  local sids = samples.columns_of(chunk).stack_id
  local weight, count = {}, {}
  for _, tid in ipairs(v.order) do
    local wt, ct = weight, count
    if by_thread then
      wt, ct = {}, {}
      weight[tid], count[tid] = wt, ct
    end
    local lane = v.lanes[tid]
    local idx, w, last = lane.idx, lane.w, lane.last
    local slice = v.slice
    for j = 1, #idx do
      if slice and j % SLICE == 0 then slice() end
      if not last[j] then
        local u = canon[sids[idx[j]]] or 0
        wt[u] = (wt[u] or 0) + w[j]
        ct[u] = (ct[u] or 0) + 1
      end
    end
  end
  return weight, count
end

-- The samples a C pass over them reads (core.stack_sums, src/lanes.c;
-- core.engine's feed_samples, src/engine.c) when the analysis asks for no
-- more than it gives: Sentry's weights, every thread, no window, no host
-- slices, samples without weights of their own. Samples in rows are read
-- as they are (no columns made for one pass). The arguments after the
-- pass's own: the three columns or the rows, n and the stack count; nil
-- when it does not apply.
local function c_args(chunk, opts, mode)
  if mode ~= "sentry" or opts.threads ~= nil or opts.from ~= nil or opts.to ~= nil
      or opts.slice ~= nil then
    return nil
  end
  local ss, stacks = chunk.profile.samples, chunk.profile.stacks
  if type(stacks) ~= "table" or samples.carries_weights(chunk) then return nil end
  if samples.is_columns(ss) then return ss.thread_id, ss.timestamp, ss.stack_id, ss.n, #stacks end
  return ss, #ss, #stacks
end
-- pass(...) over c_args' arguments (a pass taking more arguments puts
-- its own first, in a closure); nil when c_args does not apply, or
-- when the pass declines (a thread out of time order, a value that is not
-- a number): the caller then goes through the view.
local function c_pass(pass, chunk, opts, mode)
  local function go(...)
    if ... == nil then return nil end
    return pass(...)
  end
  return go(c_args(chunk, opts, mode))
end
-- sid_sums(chunk, opts, mode) -> order, per | nil: per thread, weights
-- and counts by stack id (the exports sum by stack id).
local function sid_sums(chunk, opts, mode) return c_pass(core_stack_sums, chunk, opts, mode) end
M._sid_sums = sid_sums
-- core.stack_runs over columns, in Lua: the same runs, numbers and
-- declines (see src/lanes.c), for LuaJIT, whose traces read plain arrays
-- in about half the time its C API takes (0.03 s, not 0.06 s, for 1.2 M
-- samples). Columns with a metatable go to C, which reads them raw.
local floor, getmetatable_ = math.floor, getmetatable
local TWO63, TWO53 = 9223372036854775808.0, 9007199254740992
local function whole_count(x)
  if type(x) ~= "number" or not (x >= 0 and x <= 1073741823) or x ~= floor(x) then return nil end
  return x
end
local function lua_stack_runs(tids, tss, sids, n, nstacks)
  if getmetatable_(tids) or getmetatable_(tss) or getmetatable_(sids) then
    return core.stack_runs(tids, tss, sids, n, nstacks)
  end
  n, nstacks = whole_count(n), whole_count(nstacks)
  if not n or not nstacks then return nil end
  -- per thread number k: its id, last sample (ns, stack id), open run
  -- (stack id or false, microseconds) and closed runs
  local order, num, threads = {}, {}, 0
  local prev_ns, prev_sid, run_sid, run_us, rsid, rus, nruns = {}, {}, {}, {}, {}, {}, {}
  local function close_run(k) -- thread k's open run, if any, to its lists
    local r = run_sid[k]
    if r then
      local j = nruns[k] + 1
      nruns[k], rsid[k][j], rus[k][j] = j, r, run_us[k]
    end
  end
  for i = 1, n do
    local tid, t, sid = tids[i], tss[i], sids[i]
    if type(sid) ~= "number" or not (sid >= 0 and sid < nstacks) or sid ~= floor(sid) then return nil end
    if type(t) ~= "number" then return nil end
    local x = t * 1e9
    if not (x >= -TWO63 and x < TWO63) then return nil end
    local ns = floor(x)
    if tid == nil or tid ~= tid then return nil end
    local k = num[tid]
    if not k then
      threads = threads + 1
      k = threads
      num[tid], order[k] = k, tid
      rsid[k], rus[k], run_sid[k], nruns[k] = {}, {}, false, 0
    else
      local p = prev_ns[k]
      if ns < p then return nil end -- out of time order: the Lua path sorts
      local us = floor((ns - p) / 1000 + 0.5)
      if not (us > -TWO53 and us < TWO53) then return nil end
      local ps = prev_sid[k]
      if run_sid[k] == ps then
        run_us[k] = run_us[k] + us
      else
        close_run(k)
        run_sid[k], run_us[k] = ps, us
      end
    end
    prev_ns[k], prev_sid[k] = ns, floor(sid)
  end
  local runs = {}
  for k = 1, threads do
    close_run(k)
    runs[k] = { sid = rsid[k], us = rus[k] }
  end
  return order, runs
end
M._lua_stack_runs = lua_stack_runs
local JIT = rawget(_G, "jit") ~= nil

-- sid_runs(chunk, opts, mode) -> order, runs | nil: per thread, runs of
-- consecutive counted samples of one stack id with their weights in whole
-- microseconds (core.stack_runs, for speedscope; on LuaJIT, for columns,
-- lua_stack_runs).
local function stack_runs(...)
  if JIT and select("#", ...) == 5 then return lua_stack_runs(...) end
  return core.stack_runs(...)
end
function M._sid_runs(chunk, opts, mode) return c_pass(stack_runs, chunk, opts, mode) end

-- What stack_sums gives over a view, for an analysis that needs nothing
-- else of the view: canon, unique, weight and count by unique stack (per
-- thread when by_thread), and {order, time, samples} as the view has them
-- (the view itself when it was made).
local function sums(chunk, opts, mode, fname, by_thread)
  local order, per = sid_sums(chunk, opts, mode)
  if order then
    local canon, unique = M.unique_stacks(chunk)
    local weight, count, time, nsamples = {}, {}, 0, 0
    for k, tid in ipairs(order) do
      local wt, ct = weight, count
      if by_thread then
        wt, ct = {}, {}
        weight[tid], count[tid] = wt, ct
      end
      local lane = per[k]
      local sid, w, cnt = lane.sid, lane.w, lane.count
      for e = 1, #sid do
        local u = canon[sid[e]] or 0
        wt[u], ct[u] = (wt[u] or 0) + w[e], (ct[u] or 0) + cnt[e]
      end
      time, nsamples = time + lane.time, nsamples + lane.samples
    end
    return canon, unique, weight, count, { order = order, time = time, samples = nsamples }
  end
  local v = view(chunk, opts, mode, fname)
  local canon, unique = M.unique_stacks(chunk, v.slice)
  local weight, count = stack_sums(chunk, v, canon, by_thread)
  return canon, unique, weight, count, v
end

-- Weight and sample count per unique stack, for the exports:
-- chunk, weight (seconds), count, total (seconds), samples, unique.
-- opts as for top (mode, threads, from, to).
local function per_stack(given, opts, by_thread, fname)
  local chunk = samples.chunk_of(given, fname)
  local mode = opts.mode or "sentry"
  local v = view(chunk, opts, mode, fname)
  local canon, unique = M.unique_stacks(chunk, v.slice)
  local weight, count = stack_sums(chunk, v, canon, by_thread)
  local function to_seconds(t) for u, x in pairs(t) do t[u] = x / 1e9 end end
  if by_thread then
    for _, t in pairs(weight) do to_seconds(t) end
  else
    to_seconds(weight)
  end
  return chunk, weight, count, v.time / 1e9, v.samples, unique
end
M._per_stack = per_stack

-- The view itself, for the exports: view(chunk, opts, mode, fname).
M._view = view

-- The same frame content twice is the same frame: a key over every field.
-- A merged chunk without its copies: sentry.chunks.dedupe (the range merger
-- uses it too). Returns a new chunk (an answer when given one); the input is
-- untouched.
M.dedupe = require("sentry.chunks.dedupe").dedupe

-- The function rows of a profile, one per frames.key, made on demand.
local function function_table(chunk, mode)
  local fr = chunk.profile.frames
  local sentry = mode == "sentry"
  local by_index, by_key = {}, {}
  return function(index)
    local e = by_index[index]
    if e ~= nil then return e or nil end
    local f = frames.at(fr, index)
    if sentry and not frames.aggregated(f) then
      by_index[index] = false
      return nil
    end
    local key = frames.key(f)
    e = by_key[key]
    if not e then
      e = { key = key, name = frames.name(f), frame = f,
            ["function"] = type(f["function"]) == "string" and f["function"] or nil,
            package = frames.module_or_package(f),
            self = 0, total = 0, self_samples = 0, total_samples = 0,
            root_self = 0, root_total = 0, root_samples = 0 }
      by_key[key] = e
    end
    by_index[index] = e
    return e
  end, by_key
end

-- Sentry's function metrics, node by node, as vroom computes them: per
-- thread, samples in time order build call trees (SampleChunk.CallTrees);
-- a node is one frame under one path of node identities (frames.node_key),
-- continued by a sample whose stack has the same path down to it when the
-- node ended at that sample's timestamp; a node takes its frame, so its
-- in_app and its row, from the sample that made it. Each node, once
-- finished, adds to its function's row as Node.CollectFunctions does:
-- its duration to total and to durations, its samples to samples, and its
-- self time (an in-app node's duration less its in-app descendants' time,
-- a system node's less all its children's). Root nodes add to root_* as
-- well (Sentry's slowest-functions list leaves them out).
--
-- The walk over samples is core.engine (src/engine.c); this side names
-- what it walks: threads, node identities, paths, function rows, and
-- stack records (a path with the row and in_app of each frame, shared by
-- every answer that shows it). The engine is fed one answer after
-- another (each thread's samples in time order, answers in time order)
-- in runs of one stack, and keeps only aggregates: its rows, and per
-- thread the chain of open nodes and the one sample whose weight the
-- next answer decides.
local Engine = {}
Engine.__index = Engine

local function new_engine(durations, from, to)
  return setmetatable({ core = core.engine(durations, from, to), rows = {}, row_list = {},
    row_no = {}, node_ids = {}, next_id = 0, sigs = {}, nsigs = 0, path_trie = {}, npaths = 0,
    rec_trie = {}, selfs = {}, threads = {}, order = {}, time = 0, samples = 0 }, Engine)
end

-- The number of a function's row (frames.key), made on first sight.
function Engine:row(f)
  local key = frames.key(f)
  local no = self.row_no[key]
  if not no then
    local e = { key = key, name = frames.name(f), frame = f,
                ["function"] = type(f["function"]) == "string" and f["function"] or nil,
                package = frames.module_or_package(f),
                self = 0, total = 0, self_samples = 0, total_samples = 0 }
    no = #self.row_list + 1
    self.rows[key], self.row_list[no], self.row_no[key] = e, e, no
  end
  return no
end

-- The engine's record of each stack of one answer: root first, each
-- frame's node identity, its row number (0: Sentry makes no row of that
-- frame) and its in_app; and the rows that are self in a sample of that
-- stack (for self_samples). Records are shared by the answers whose
-- stacks are the same. Every stack's is made here, in stack id order, so
-- a row's frame is the same whichever samples a caller keeps; the engine
-- maps stack ids to them. record_of(sid) gives one, and makes the
-- record of a stack id outside the stacks (an empty stack).
-- Answers that share the previous one's stacks and frames tables (the
-- windows of one answer that Neovim's sliced top adds one after another)
-- reuse its map: the tables are read as immutable, as layout.columns_of
-- reads samples, and rebuilding the map of 7,641 stacks for each window of
-- 4,096 samples took most of the window's time. slice (or the engine's
-- own, from accumulator{slice =}) is called every 64 stacks: the first
-- map of 7,641 stacks took 17-27 ms on LuaJIT.
function Engine:records_of(chunk, slice)
  slice = slice or self.slice
  local p = chunk.profile
  local fr, stacks = p.frames, p.stacks
  local last = self.last_map
  if last and last.stacks == stacks and last.frames == fr and last.nstacks == #stacks
    and last.nframes == #fr then
    return last.record_of
  end
  local frame_id, frame_row, frame_app, frame_sig = {}, {}, {}, {}
  local recs = {}
  local engine, c, row_list = self, self.core, self.row_list
  local sigs, path_trie, rec_trie = engine.sigs, engine.path_trie, engine.rec_trie
  -- a frame's node identity, row and in_app, and its signature: one
  -- number per distinct three of them
  local function id_of(idx)
    local id = frame_id[idx]
    if id then return id end
    local f = frames.at(fr, idx)
    local key = frames.node_key(f)
    id = engine.node_ids[key]
    if not id then
      engine.next_id = engine.next_id + 1
      id = engine.next_id
      engine.node_ids[key] = id
    end
    local row, app = frames.aggregated(f) and engine:row(f) or 0, frames.in_app(f) and true or false
    local skey = id .. (app and "a" or "s") .. row
    local sig = sigs[skey]
    if not sig then
      sig = engine.nsigs + 1
      engine.nsigs, sigs[skey] = sig, sig
    end
    frame_id[idx], frame_row[idx], frame_app[idx], frame_sig[idx] = id, row, app, sig
    return id
  end
  local function record_of(sid)
    local r = recs[sid]
    if r then return r end
    local stack = stacks[sid + 1] or {}
    local n = #stack
    -- the record and the path: found by walking tries (one step a frame,
    -- root first), [0] holding the number of the stack that ends there
    local pnode, rnode = path_trie, rec_trie
    for d = 1, n do
      local idx = stack[n - d + 1]
      local id = frame_id[idx] or id_of(idx)
      local sig = frame_sig[idx]
      local pnext, rnext = pnode[id], rnode[sig]
      if not pnext then pnext = {} pnode[id] = pnext end
      if not rnext then rnext = {} rnode[sig] = rnext end
      pnode, rnode = pnext, rnext
    end
    r = rnode[0]
    if not r then
      local path = pnode[0]
      if not path then
        engine.npaths = engine.npaths + 1
        path = engine.npaths
        pnode[0] = path
      end
      local ids, rows, apps = {}, {}, {}
      for d = 1, n do
        local idx = stack[n - d + 1]
        ids[d], rows[d], apps[d] = frame_id[idx], frame_row[idx], frame_app[idx]
      end
      r = c:record(path, ids, rows, apps, n)
      rnode[0] = r
      -- Sentry's self rule, leaf to root
      local selfs, below_app = {}, false
      for d = n, 1, -1 do
        local e = rows[d] > 0 and row_list[rows[d]]
        if e and (d == n or (apps[d] and not below_app)) then selfs[#selfs + 1] = e end
        below_app = below_app or (e and apps[d]) or false
      end
      engine.selfs[r] = selfs
    end
    recs[sid] = r
    return r
  end
  local nstacks = #stacks
  local map = {}
  for i = 1, nstacks do
    map[i] = record_of(i - 1)
    if slice and i % 64 == 0 then slice() end
  end
  c:stacks(map, nstacks)
  self.last_map = { stacks = stacks, frames = fr, nstacks = nstacks, nframes = #fr, record_of = record_of }
  return record_of
end

-- A thread's number, given on its first sample; and the previous
-- answer's last sample of the thread, weighed now that this answer's
-- first sample (at `first`, ns) gives its end.
function Engine:thread(tid, first)
  local k = self.threads[tid]
  if not k then
    k = #self.order + 1
    self.threads[tid], self.order[k] = k, tid
  end
  local w = self.core:thread(k, first)
  if w then self.time, self.samples = self.time + w, self.samples + 1 end
  return k
end

-- Feeds one view (aggregate's view of one answer), in runs: a counted
-- sample continues the run before it when it has its stack and starts
-- where that run ended. With carry set, each thread's last sample waits
-- for the next answer to give its weight; without, it is no sample
-- (Sentry's rule for one profile).
function Engine:feed(chunk, v, carry)
  local sids = samples.columns_of(chunk).stack_id
  local record_of, c, slice = self:records_of(chunk, v.slice), self.core, v.slice
  for _, tid in ipairs(v.order) do
    local lane = v.lanes[tid]
    local idx, ts, sw, last = lane.idx, lane.ts, lane.sw, lane.last
    local n = #idx
    local k = self:thread(tid, ts[1])
    local rec, start, count, stop, nr = {}, {}, {}, {}, 0
    for j = 1, n do
      if slice and j % SLICE == 0 then slice() end
      if not last[j] then
        local r, t = record_of(sids[idx[j]]), ts[j]
        if nr > 0 and rec[nr] == r and stop[nr] == t then
          count[nr], stop[nr] = count[nr] + 1, t + sw[j]
        else
          nr = nr + 1
          rec[nr], start[nr], count[nr], stop[nr] = r, t, 1, t + sw[j]
        end
      elseif carry and j == n then -- its weight comes with the next answer
        c:pend(k, record_of(sids[idx[j]]), ts[j])
      end
    end
    local runs = { sid = rec, ts = start, count = count, stop = stop }
    for j = 1, nr, SLICE do
      c:feed(k, runs, j, j + SLICE <= nr and j + SLICE - 1 or nr)
      if slice then slice() end
    end
  end
  -- the view counted the time and samples (each thread's last is pending
  -- or no sample)
  self.time, self.samples = self.time + v.time, self.samples + v.samples
end

-- core.engine's feed_samples in Lua, for LuaJIT (whose traces read the
-- samples in about half the time its C API takes): the same one pass,
-- declines, runs (by stack id), time and sample count, fed thread by
-- thread through core:thread, core:feed and core:pend as the view's runs
-- are. Rows are read raw, as C reads them. Returns time, samples or nil.
local function lua_feed_samples(self, chunk, carry, a1, a2, a3, a4, a5)
  local rows = a4 == nil
  local tids, tss, sids, n, nstacks = a1, a2, a3, a4, a5
  if rows then n, nstacks = a2, a3 end
  n, nstacks = whole_count(n), whole_count(nstacks)
  if not n or not nstacks then return nil end
  local function sample(i)
    if not rows then return tids[i], tss[i], sids[i] end
    local s = tids[i]
    if type(s) ~= "table" then return nil end
    return rawget(s, "thread_id"), rawget(s, "timestamp"), rawget(s, "stack_id")
  end
  -- one pass: every sample read once and checked, threads numbered in
  -- order of first appearance, each thread's time order, and its runs of
  -- one stack id (start, end, count) kept; nothing is fed before the
  -- whole answer is read (a decline feeds nothing)
  local record_of, c = self:records_of(chunk), self.core
  local num, order, threads, first = {}, {}, 0, {}
  local pns, psid, open_sid = {}, {}, {}
  local rrec, rts, rcount, rstop, nr = {}, {}, {}, {}, {}
  local time, nsamples = 0, 0
  for i = 1, n do
    local tid, t, sid = sample(i)
    if type(sid) ~= "number" or not (sid >= 0 and sid < nstacks) or sid ~= floor(sid) then return nil end
    if type(t) ~= "number" then return nil end
    local x = t * 1e9
    if not (x >= -TWO63 and x < TWO63) or tid == nil or tid ~= tid then return nil end
    local ns, j = floor(x), num[tid]
    if not j then
      threads = threads + 1
      if threads > 0xffff then return nil end
      j = threads
      num[tid], order[j], first[j] = j, tid, ns
      rrec[j], rts[j], rcount[j], rstop[j], nr[j] = {}, {}, {}, {}, 0
    else -- the thread's previous sample counts
      local p = pns[j]
      if ns < p then return nil end
      local m = nr[j]
      time, nsamples = time + (ns - p), nsamples + 1
      if m > 0 and open_sid[j] == psid[j] then
        rcount[j][m], rstop[j][m] = rcount[j][m] + 1, ns
      else
        m = m + 1
        nr[j], open_sid[j] = m, psid[j]
        rrec[j][m], rts[j][m], rcount[j][m], rstop[j][m] = psid[j], p, 1, ns
      end
    end
    pns[j], psid[j] = ns, sid
  end
  -- each thread: its engine number, the weight of the sample pending from
  -- the answer before, then its runs
  for j = 1, threads do
    local tid = order[j]
    local k = self.threads[tid]
    if not k then
      k = #self.order + 1
      self.threads[tid], self.order[k] = k, tid
    end
    local w = c:thread(k, first[j])
    if w then time, nsamples = time + w, nsamples + 1 end
    local m, recs = nr[j], rrec[j]
    for a = 1, m do recs[a] = record_of(recs[a]) end
    local runs = { sid = recs, ts = rts[j], count = rcount[j], stop = rstop[j] }
    for a = 1, m, SLICE do c:feed(k, runs, a, a + SLICE <= m and a + SLICE - 1 or m) end
    if carry then c:pend(k, record_of(psid[j]), pns[j]) end -- its weight comes with the next answer
  end
  return time, nsamples
end
-- Whether feed_samples reads samples in Lua (LuaJIT) or in C; the specs
-- switch it to hold the two equal.
M._feed_in_lua = JIT

-- Feeds one answer's samples as they are, when c_args applies (the C
-- engine, or lua_feed_samples on LuaJIT, reads them and makes its own
-- runs); false, having fed nothing, when it does not or when the pass
-- declines them (feed the view then).
function Engine:feed_samples(chunk, opts, mode, carry)
  local time, nsamples = c_pass(function(...)
    if M._feed_in_lua then return lua_feed_samples(self, chunk, carry, ...) end
    self:records_of(chunk)
    return self.core:feed_samples(self.threads, self.order, carry, ...)
  end, chunk, opts, mode)
  if not time then return false end
  self.time, self.samples = self.time + time, self.samples + nsamples
  return true
end
-- Whether top reads this chunk's samples in C (for the specs).
function M._feeds_samples(chunk)
  return new_engine(false):feed_samples(chunk, {}, "sentry", false)
end

-- Per-occurrence durations, textbook way: an occurrence is a run of
-- consecutive samples of one thread whose stacks all hold the function.
local function run_durations(chunk, v, canon, unique, entry_of)
  local sids = samples.columns_of(chunk).stack_id
  local sets = {}
  local function set_of(u)
    local s = sets[u]
    if s then return s end
    s = { list = {}, has = {} }
    local stack = unique[u]
    for j = 1, #stack do
      local e = entry_of(stack[j])
      if e and not s.has[e] then s.has[e] = true s.list[#s.list + 1] = e end
    end
    sets[u] = s
    return s
  end
  for _, tid in ipairs(v.order) do
    local lane = v.lanes[tid]
    local list, w = lane.idx, lane.w
    local open, cur, cum = {}, nil, 0
    for j = 1, #list do
      local s = set_of(canon[sids[list[j]]] or 0)
      if s ~= cur then
        if cur then
          for _, e in ipairs(cur.list) do
            if not s.has[e] then
              e.durations[#e.durations + 1] = cum - open[e]
              open[e] = nil
            end
          end
        end
        for _, e in ipairs(s.list) do
          if not open[e] then open[e] = cum end
        end
        cur = s
      end
      cum = cum + w[j]
    end
    for e, start in pairs(open) do e.durations[#e.durations + 1] = cum - start end
  end
end

-- p75, p95 and p99 of a function's durations (d: the engine's own list,
-- reordered here), nearest rank as Sentry's metrics.Quantile: the
-- ceil(n * q)-th smallest, the value a sort would put at that rank,
-- found by selection in linear time; sorting every list took a quarter of
-- top's time on the 50-chunk answer.
local select_kth = samples.select_kth
local function percentiles(e, d)
  local n = #d
  e.occurrences = n
  if n == 0 then e.p75, e.p95, e.p99 = nil, nil, nil return end
  local function at(q)
    local rank = ceil(n * q)
    if rank < 1 then rank = 1 end
    return select_kth(d, rank) / 1e9
  end
  e.p75, e.p95, e.p99 = at(0.75), at(0.95), at(0.99)
end

-- The rows of top, from accumulated entries (ns): percentiles, shares of
-- the whole time, the slowest-functions cut, sorting and the limit.
local function rows_result(mode, by_key, time, nsamples, opts)
  local list = {}
  local slowest = opts.slowest and mode == "sentry"
  for _, e in pairs(by_key) do
    e.mark = nil
    e.in_app = e.app_seen or false
    if e.app_seen and e.system_seen then e.in_app_mixed = true end
    e.app_seen, e.system_seen = nil, nil
    local d = e.durations
    if slowest then
      -- Sentry's list leaves out the root frames' part
      e.self, e.total = e.self - e.root_self, e.total - e.root_total
      e.total_samples = e.total_samples - e.root_samples
      e.self_samples = nil
    elseif d then
      for _, x in ipairs(e.root_durations) do d[#d + 1] = x end
    end
    if d then percentiles(e, d) end
    e.durations, e.root_durations = nil, nil
    e.root_self, e.root_total, e.root_samples = nil, nil, nil
    local keep = e.total_samples > 0
    if slowest then keep = e.in_app and e.self > 0 and e.total_samples > 1 end
    if keep then
      e.self_pct = time > 0 and 100 * e.self / time or 0
      e.total_pct = time > 0 and 100 * e.total / time or 0
      e.self, e.total = e.self / 1e9, e.total / 1e9
      list[#list + 1] = e
    end
  end
  local by = opts.sort == "total" and "total" or "self"
  local other = by == "self" and "total" or "self"
  sort(list, function(a, b)
    if a[by] ~= b[by] then return a[by] > b[by] end
    if a[other] ~= b[other] then return a[other] > b[other] end
    return a.key < b.key
  end)
  local limit = opts.limit or (slowest and 100 or nil)
  local shown = #list
  if limit then
    for i = #list, limit + 1, -1 do list[i] = nil end
  end
  return { mode = mode, time = time / 1e9, samples = nsamples, functions = list,
           count = shown, slowest = slowest or nil }
end

-- Finishes every thread's open nodes and gives top's result.
function Engine:result(opts)
  local c = self.core
  c:finish()
  c:rows(self.row_list, opts.slowest and true or false)
  local counts = c:counts()
  for r, selfs in pairs(self.selfs) do
    local n = counts[r]
    for _, e in ipairs(selfs) do e.self_samples = e.self_samples + n end
  end
  return rows_result("sentry", self.rows, self.time, self.samples, opts)
end

-- Top functions: opts = {mode = "sentry"|"textbook", threads = selector,
-- from =, to = (Unix seconds or ISO-8601), sort = "self"|"total", limit =
-- n, durations = bool, slowest = bool}. Returns {mode, time, samples,
-- count, functions = {{key, name, function, package, in_app, frame, self,
-- total, self_samples, total_samples, self_pct, total_pct [, occurrences,
-- p75, p95, p99]}, ...}}; times in seconds. With slowest = true, Sentry's
-- own "slowest functions" list: root frames left out, in-app functions
-- only, none with zero self time or a single sample, 100 at most.
local function top(given, opts, fname) -- fname: the caller's name in errors
  local mode
  opts, mode = check_opts(opts, fname)
  local chunk = samples.chunk_of(given, fname)
  if mode == "sentry" then
    local engine = new_engine(opts.durations)
    if engine:feed_samples(chunk, opts, mode, false) then return engine:result(opts) end
  end
  local v = view(chunk, opts, mode, fname)
  if mode == "sentry" then
    local engine = new_engine(opts.durations, v.from, v.to)
    engine:feed(chunk, v, false)
    return engine:result(opts)
  end
  local canon, unique = M.unique_stacks(chunk, v.slice)
  local weight, count = stack_sums(chunk, v, canon, false)
  local entry_of, by_key = function_table(chunk, mode)
  for u, wt in pairs(weight) do
    local cnt, stack = count[u], unique[u]
    local n = #stack
    if n > 0 then
      for j = 1, n do -- once per stack however often it recurses
        local e = entry_of(stack[j])
        if e.mark ~= u then
          e.mark = u
          e.total, e.total_samples = e.total + wt, e.total_samples + cnt
          if frames.in_app(e.frame) then e.app_seen = true else e.system_seen = true end
        end
      end
      local leaf = entry_of(stack[1])
      leaf.self, leaf.self_samples = leaf.self + wt, leaf.self_samples + cnt
    end
  end
  if opts.durations then
    for _, e in pairs(by_key) do e.durations, e.root_durations = {}, {} end
    run_durations(chunk, v, canon, unique, entry_of)
  end
  return rows_result(mode, by_key, v.time, v.samples, opts)
end

function M.top(given, opts)
  return top(given, opts, "top")
end

-- Sentry's top functions over a range too long to hold: an accumulator
-- that takes one answer (one window) at a time, in time order, and keeps
-- only aggregates (its rows, each function's node durations, and per
-- thread the open nodes and the last sample, whose weight the next window
-- gives), so that the result equals top() on the whole range merged:
--   local acc = aggregate.accumulator { durations = true, folded = true }
--   acc:add(answer)   -- window after window
--   local top = acc:top { limit = 20 }   -- once, at the end
--   local text = acc:folded { weight = "microseconds" }   -- with folded = true
-- Sentry counting only (textbook's intervals need the whole range). With
-- folded = true it also keeps each thread's distinct stacks (by function
-- identity) with their samples and microseconds, for export.folded's text.
-- With slice = fn, add calls fn now and then while it maps a new answer's
-- stacks (as the analyses' slice option: Neovim yields to its loop there).
local Accumulator = {}
Accumulator.__index = Accumulator

local ACC_OPTIONS = { durations = true, folded = true, slice = true }

function M.accumulator(opts)
  if opts ~= nil and type(opts) ~= "table" then argerror(1, "accumulator", "table or nil", opts) end
  opts = opts or {}
  for k in pairs(opts) do
    if not ACC_OPTIONS[k] then
      error(format("bad argument #1 to 'accumulator' (unknown option '%s')", tostring(k)), 2)
    end
  end
  if opts.slice ~= nil and type(opts.slice) ~= "function" then
    error(format("bad argument #1 to 'accumulator' (field 'slice': function expected, got %s)", type(opts.slice)), 2)
  end
  local engine = new_engine(opts.durations)
  engine.slice = opts.slice
  return setmetatable({ engine = engine, answers = 0,
    stacks = opts.folded and require("sentry.chunks.analysis.export")._folded_accumulator() or nil }, Accumulator)
end

function Accumulator:add(answer)
  if self.done then error("accumulator: add after a result (top or folded: the result is final)", 2) end
  local chunk = samples.chunk_of(answer, "add")
  if self.stacks or not self.engine:feed_samples(chunk, {}, "sentry", true) then
    local v = view(chunk, {}, "sentry", "add")
    self.engine:feed(chunk, v, true)
    if self.stacks then self.stacks:add(chunk, v) end
  end
  self.answers = self.answers + 1
  return self
end

function Accumulator:top(opts)
  if opts ~= nil and type(opts) ~= "table" then argerror(1, "top", "table or nil", opts) end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "sort" and k ~= "limit" and k ~= "slowest" then
      error(format("bad argument #1 to 'top' (unknown option '%s')", tostring(k)), 2)
    end
  end
  if self.top_done then error("accumulator: top called twice (the result is final)", 2) end
  self.done, self.top_done = true, true
  return self.engine:result(opts)
end

-- Folded stacks of everything added (accumulator{folded = true}), as
-- export.folded gives them for the whole range merged: opts.weight =
-- "samples" (default) | "microseconds", opts.thread_root. May be called
-- more than once, before or after top; no add after it.
function Accumulator:folded(opts)
  if opts ~= nil and type(opts) ~= "table" then argerror(1, "folded", "table or nil", opts) end
  opts = opts or {}
  for k, x in pairs(opts) do
    if k ~= "weight" and k ~= "thread_root" then
      error(format("bad argument #1 to 'folded' (unknown option '%s')", tostring(k)), 2)
    end
    if k == "weight" and x ~= "samples" and x ~= "microseconds" then
      error("bad argument #1 to 'folded' (weight must be 'samples' or 'microseconds')", 2)
    end
  end
  if not self.stacks then
    error("bad argument #1 to 'folded' (this accumulator keeps no folded stacks: make it with folded = true)", 2)
  end
  self.done = true
  return self.stacks:text(opts)
end

local function new_node(key, name, f)
  return { key = key, name = name, frame = f, self = 0, total = 0, samples = 0,
           children = {}, by_key = {} }
end

local function finish_tree(node)
  node.by_key = nil
  node.self, node.total = node.self / 1e9, node.total / 1e9
  sort(node.children, function(a, b)
    if a.total ~= b.total then return a.total > b.total end
    return a.key < b.key
  end)
  for _, child in ipairs(node.children) do finish_tree(child) end
end

-- Call trees, root to leaf, one per thread: { [thread_id] = root }, each
-- node {key, name, frame, self, total, samples, children = {...}
-- (heaviest first)}. Nodes are merged by node identity (frames.node_key:
-- as Sentry's call trees, the instruction address counts), self time by
-- the mode's rule, as in top. opts as for top.
function M.call_trees(given, opts)
  local mode
  opts, mode = check_opts(opts, "call_trees")
  local chunk = samples.chunk_of(given, "call_trees")
  local _, unique, weight, count = sums(chunk, opts, mode, "call_trees", true)
  local fr = chunk.profile.frames
  local sentry = mode == "sentry"
  local trees = {}
  for tid, wt_by_u in pairs(weight) do
    local root = new_node("", "root", nil)
    for u, wt in pairs(wt_by_u) do
      local cnt = count[tid][u]
      local stack = unique[u]
      local n = #stack
      root.total, root.samples = root.total + wt, root.samples + cnt
      -- which positions get this stack's time as self time
      local self_at, below_app = {}, false
      for j = 1, n do
        local f = frames.at(fr, stack[j])
        local in_app = frames.in_app(f)
        if j == 1 or (sentry and in_app and not below_app) then self_at[j] = true end
        if in_app and frames.aggregated(f) then below_app = true end
      end
      local node = root
      for j = n, 1, -1 do
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
      if n == 0 then root.self = root.self + wt end
    end
    finish_tree(root)
    trees[tid] = root
  end
  return trees
end

-- The heaviest root-to-leaf paths: {{names = {root..leaf}, keys = {...},
-- time, samples, pct}, ...}, heaviest first. opts as for top, plus limit
-- (10 by default).
function M.hot_paths(given, opts)
  local mode
  opts, mode = check_opts(opts, "hot_paths")
  local chunk = samples.chunk_of(given, "hot_paths")
  local _, unique, weight, count, v = sums(chunk, opts, mode, "hot_paths", false)
  local fr = chunk.profile.frames
  local total = v.time
  local paths, list = {}, {}
  for u, wt in pairs(weight) do
    local stack = unique[u]
    local keys, names = {}, {}
    for j = #stack, 1, -1 do
      local f = frames.at(fr, stack[j])
      keys[#keys + 1], names[#names + 1] = frames.node_key(f), frames.name(f)
    end
    local id = table.concat(keys, "\n")
    local path = paths[id]
    if not path then
      path = { keys = keys, names = names, time = 0, samples = 0, id = id }
      paths[id] = path
      list[#list + 1] = path
    end
    path.time, path.samples = path.time + wt, path.samples + count[u]
  end
  for _, path in ipairs(list) do
    path.pct = total > 0 and 100 * path.time / total or 0
    path.time = path.time / 1e9
  end
  sort(list, function(a, b)
    if a.time ~= b.time then return a.time > b.time end
    return a.id < b.id
  end)
  for _, path in ipairs(list) do path.id = nil end
  for i = #list, (opts.limit or 10) + 1, -1 do list[i] = nil end
  return list
end

-- Two profiles side by side (two windows, two releases): every function of
-- either side, joined in full before sorting and cutting. Returns {mode,
-- a = {time, samples}, b = {...}, count, functions = {{key, name,
-- function, package, in_app, self_a, self_b, self_delta, total_a,
-- total_b, total_delta, self_pct_a, self_pct_b, total_pct_a, total_pct_b,
-- self_pct_delta, total_pct_delta}, ...}}: seconds, and shares (%) of
-- each side's whole time, so that ranges of different lengths compare
-- fairly; positive deltas are slower in b. Ordered by the size of the
-- self-time change (opts.sort = "total": of the total-time change).
function M.compare(a, b, opts)
  local mode
  opts, mode = check_opts(opts, "compare")
  samples.chunk_of(a, "compare", 1)
  samples.chunk_of(b, "compare", 2)
  local common = { mode = mode, threads = opts.threads, from = opts.from, to = opts.to, slice = opts.slice }
  local ta, tb = top(a, common, "compare"), top(b, common, "compare")
  local rows, by_key = {}, {}
  local function row(e)
    local r = by_key[e.key]
    if not r then
      r = { key = e.key, name = e.name, ["function"] = e["function"], package = e.package,
            in_app = e.in_app, self_a = 0, self_b = 0, total_a = 0, total_b = 0,
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
    r.in_app = r.in_app or e.in_app
  end
  for _, r in ipairs(rows) do
    r.self_delta, r.total_delta = r.self_b - r.self_a, r.total_b - r.total_a
    r.self_pct_delta, r.total_pct_delta = r.self_pct_b - r.self_pct_a, r.total_pct_b - r.total_pct_a
  end
  local by = opts.sort == "total" and "total_delta" or "self_delta"
  sort(rows, function(x, y)
    local dx, dy = math.abs(x[by]), math.abs(y[by])
    if dx ~= dy then return dx > dy end
    return x.key < y.key
  end)
  local shown = #rows
  if opts.limit then
    for i = #rows, opts.limit + 1, -1 do rows[i] = nil end
  end
  return { mode = mode, a = { time = ta.time, samples = ta.samples },
           b = { time = tb.time, samples = tb.samples }, count = shown, functions = rows }
end

-- Microseconds as an integer, for exports and counts.
function M.microseconds(seconds)
  return floor(seconds * 1e6 + 0.5)
end

return M
