-- sentry.chunks.export: profiles in the formats other tools read, stacks
-- turned root first where the format wants it. Folded stacks (flamegraph.pl,
-- inferno, speedscope's import), speedscope's own JSON, Chrome's
-- .cpuprofile, pprof's profile.proto and perfanno.nvim's traces.
--
-- Every export reads the same samples with the same weights as
-- aggregate.top (its view): opts.mode = "sentry" (default: a sample weighs
-- the time to the next sample of its thread, and each thread's last sample
-- is no sample) or "textbook" (every sample weighs its thread's median
-- interval); opts.threads, opts.from and opts.to select threads and a
-- window, and a sample that straddles a bound keeps only its time inside.
-- Weights are integer nanoseconds; where a format wants microseconds, each
-- sample's weight is rounded to whole microseconds before anything is
-- added up.
--
-- Every export names a function as the rows of top do: one function per
-- frames.key (module or trimmed package + function; a frame without a
-- function name by its address), shown as frames.name of the key's first
-- frame. Two keys that would show the same name (or the same folded name)
-- get the key appended ("f (x) [x|f]"), so no export merges two functions
-- and none splits one. Frame fields that are null (cjson.null) are absent.
local frames = require "sentry.chunks.analysis.frames"
local samples = require "sentry.chunks.analysis.samples"
local aggregate = require "sentry.chunks.analysis.aggregate"

local M = {}

local format, concat, sort, pairs, ipairs, type, floor, tostring =
  string.format, table.concat, table.sort, pairs, ipairs, type, math.floor, tostring

M.SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"

local EXTRA = {
  folded = { weight = true, thread_root = true },
  speedscope = { name = true, table = true },
  cpuprofile = { thread = true, table = true },
  pprof = {},
  perfanno = { event = true, remap = true },
}

-- A non-empty string field, else nil (null, a number, "" are absent).
local function str(v)
  if type(v) == "string" and v ~= "" then return v end
  return nil
end

-- A positive whole-number field (lineno, colno), else nil.
local function whole(v)
  if type(v) == "number" and v >= 1 and v < 2 ^ 53 and v == floor(v) then return v end
  return nil
end

-- Integer nanoseconds to whole microseconds, half up.
local function us(ns)
  return floor(ns / 1000 + 0.5)
end
M._us = us

local NO_FRAMES = "(no frames)"
M.NO_FRAMES = NO_FRAMES

local function sanitize(s)
  return (s:gsub("[;\r\n]", " "))
end

-- The frame at a 0-based index: a placeholder (frames.at) for an index the
-- chunk does not have or for an entry that is not an object.
local function frame_at(fr, idx)
  local f = type(idx) == "number" and fr[idx + 1] or nil
  if type(f) == "table" then return f end
  -- as frames.at's placeholder, also for an index that is not a number
  return { ["function"] = "<missing frame " .. tostring(idx) .. ">", in_app = false, missing = true }
end

-- Names for every function of a profile: names.of_index(frame index)
-- gives its entry {id, text, key, name, folded, frame} (id: 1, 2, ... in
-- order of first frame; frame: the key's first frame), the same name for
-- one key in every export and different names for different keys.
local function namer(p)
  local fr = type(p.frames) == "table" and p.frames or {}
  local entries, by_key, list = {}, {}, {}
  local used_folded = {}
  local function add(key, f)
    local e = { id = #list + 1, key = key, frame = f }
    e.text = tostring(e.id) -- for stack signatures (numbers in concat are slow)
    list[#list + 1] = e
    by_key[key] = e
    return e
  end
  for idx = 0, #fr - 1 do
    local f = frame_at(fr, idx)
    local key = frames.key(f)
    local e = by_key[key] or add(key, f)
    entries[idx] = e
  end
  -- which keys share a (folded) name
  local base, count = {}, {}
  for _, e in ipairs(list) do
    e.raw = frames.name(e.frame)
    base[e] = sanitize(e.raw)
    count[base[e]] = (count[base[e]] or 0) + 1
  end
  local function assign(e, raw)
    local folded = sanitize(raw)
    local n = 1
    local fold_try, raw_try = folded, raw
    while used_folded[fold_try] do
      n = n + 1
      fold_try, raw_try = folded .. " #" .. n, raw .. " #" .. n
    end
    used_folded[fold_try] = true
    e.name, e.folded = raw_try, fold_try
  end
  -- names of their own first, then the disambiguated ones
  for _, e in ipairs(list) do
    if count[base[e]] == 1 then assign(e, e.raw) end
  end
  for _, e in ipairs(list) do
    if count[base[e]] > 1 then assign(e, e.raw .. " [" .. e.key .. "]") end
  end
  local function of_index(idx)
    local e = entries[idx]
    if e then return e end
    -- an index the chunk does not have: a placeholder function
    local f = frame_at(fr, idx)
    local key = frames.key(f)
    e = by_key[key]
    if not e then
      e = add(key, f)
      e.raw = frames.name(f)
      assign(e, e.raw)
    end
    if type(idx) == "number" and idx == idx then entries[idx] = e end
    return e
  end
  -- the pseudo-function of a sample whose stack is empty (a thread caught
  -- outside any frame it could read), for the formats that need a frame
  local none
  local function empty()
    if not none then
      none = add("", { ["function"] = NO_FRAMES })
      assign(none, NO_FRAMES)
    end
    return none
  end
  return { of_index = of_index, list = list, empty = empty, entries = entries }
end

-- aggregate's view as the exports read it: per thread (v.order), its
-- lane v.lanes[tid] = {idx = sample indices in time order, and at the same
-- positions w = weights (ns, clipped), ts = starts (ns), last = true where
-- a sample is not counted}.
-- What every export starts from: the chunk, the mode, the view of
-- aggregate (samples per thread in time order with their clipped weights
-- in ns, counted or not), the names, and stacks as lists of name entries
-- (leaf first) with a signature string per distinct list.
-- With by_sid set, an export that only sums samples by stack id gets the
-- view as v = {order, sums = {[tid] = core.stack_sums' sums of the
-- thread}} when those apply (aggregate._sid_sums), with no lanes at all;
-- with by_run set, as v = {order, runs = {[tid] = core.stack_runs' runs
-- of the thread}} (aggregate._sid_runs, for speedscope).
local function prepare(given, opts, fname, by_sid, by_run)
  local chunk = samples.chunk_of(given, fname)
  local p = chunk.profile
  local mode = opts.mode or "sentry"
  local order, per
  if by_sid then order, per = aggregate._sid_sums(chunk, opts, mode)
  elseif by_run then order, per = aggregate._sid_runs(chunk, opts, mode) end
  local v
  if order then
    local field = by_sid and "sums" or "runs"
    v = { order = order, [field] = {} }
    for k, tid in ipairs(order) do v[field][tid] = per[k] end
  else
    v = aggregate._view(chunk, opts, mode, fname)
  end
  local names = namer(p)
  local stacks = type(p.stacks) == "table" and p.stacks or {}
  local cache, sig_cache, buf = {}, {}, {}
  local entries, of_index = names.entries, names.of_index
  local EMPTY = { sig = "" }
  -- the name entries of a stack id, leaf first, with .sig; one table per
  -- distinct signature (merged chunks repeat every stack once per chunk)
  local function stack(sid)
    local st = cache[sid]
    if st then return st end
    local raw = type(sid) == "number" and stacks[sid + 1] or nil
    if type(raw) ~= "table" or #raw == 0 then
      st = EMPTY
    else
      local n = #raw
      for j = 1, n do buf[j] = (entries[raw[j]] or of_index(raw[j])).text end
      local sig = concat(buf, ",", 1, n)
      st = sig_cache[sig]
      if not st then
        st = { sig = sig }
        for j = 1, n do st[j] = entries[raw[j]] or of_index(raw[j]) end
        sig_cache[sig] = st
      end
    end
    if sid ~= nil and sid == sid then cache[sid] = st end
    return st
  end
  return { chunk = chunk, p = p, mode = mode, v = v, names = names, stack = stack }
end

-- The name every export gives each function of a profile: {[frames.key]
-- = name}, the same names pprof, speedscope and .cpuprofile write (folded
-- lines have ';' and newlines as spaces).
function M.function_names(given)
  local chunk = samples.chunk_of(given, "function_names")
  local names, out = namer(chunk.profile), {}
  for _, e in ipairs(names.list) do out[e.key] = e.name end
  return out
end

-- Thread labels: the thread's name (a name several threads share gets the
-- id appended), else fallback(id).
local function thread_labels(p, tids, fallback)
  local meta = type(p.thread_metadata) == "table" and p.thread_metadata or {}
  local function name_of(tid)
    local tm = meta[tid]
    return type(tm) == "table" and str(tm.name) or nil
  end
  local seen = {}
  for _, tid in ipairs(tids) do
    local n = name_of(tid)
    if n then seen[n] = (seen[n] or 0) + 1 end
  end
  local labels = {}
  for _, tid in ipairs(tids) do
    local n = name_of(tid)
    if n and seen[n] > 1 then n = n .. " (" .. tostring(tid) .. ")" end
    labels[tid] = n or fallback(tid)
  end
  return labels
end

local function sorted_tids(order)
  local tids = {}
  for i, tid in ipairs(order) do tids[i] = tid end
  sort(tids, function(x, y) return tostring(x) < tostring(y) end)
  return tids
end

-- JSON text with integers written digit for digit (%d: cjson keeps only 14
-- significant digits, which moves a Unix time in microseconds), keys in
-- sorted order, tables marked ARRAY written as arrays even when empty.
local ARRAY = {}
M._ARRAY = ARRAY
local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function escape(c) return ESCAPES[c] or format("\\u%04x", c:byte()) end

-- A number that table.concat writes as enc does (%d), or nil: on 5.3+
-- an integer subtype within 2^53 (past it enc writes %.17g); on 5.1 and
-- LuaJIT (doubles, "%.14g") a whole number of at most 14 digits, 0 as "0"
-- (-0 would be written "-0").
local math_type = math.type
local plain_int
if math_type then
  plain_int = function(x)
    if math_type(x) == "integer" and x > -9007199254740992 and x < 9007199254740992 then return x end
  end
else
  plain_int = function(x)
    if type(x) == "number" and x == floor(x) and x > -1e14 and x < 1e14 then
      if x == 0 then return "0" end
      return x
    end
  end
end

local function encode(value)
  local out, n, memo, memo_comma = {}, 0, {}, {}
  local function put(s) n = n + 1 out[n] = s end
  local enc
  -- The text of x, an ARRAY table: memoized, or encoded and taken back
  -- off out.
  local function text_of(x)
    local p = memo[x]
    if p then return p end
    local mark = n
    enc(x)
    p = n == mark + 1 and out[n] or concat(out, "", mark + 1, n)
    for j = n, mark + 1, -1 do out[j] = nil end
    n = mark
    return p
  end
  -- Puts an array's text when each element is an integer (one concat per
  -- 4096: speedscope's weights) or each is a table marked ARRAY (its
  -- memoized text and a comma, one put: speedscope's samples), instead of
  -- a put and a format or an enc per element; no text of the whole array
  -- is made (a speedscope profile's samples are megabytes, and each copy
  -- that size is fresh pages). Returns false, having put nothing, for an
  -- array with any other element.
  local function put_joined(v, len)
    local ints, parts = true, {} -- parts: the integers as concat writes them
    for i = 1, len do
      local x = v[i]
      local p = plain_int(x)
      if p == nil then
        if type(x) ~= "table" or getmetatable(x) ~= ARRAY then return false end
        ints = false
      end
      parts[i] = p
    end
    if ints then
      if len <= 4096 then -- one text (a stack's frames: memoized as is)
        put("[" .. concat(parts, ",") .. "]")
        return true
      end
      put("[")
      for i = 1, len, 4096 do
        if i > 1 then put(",") end
        put(concat(parts, ",", i, i + 4095 < len and i + 4095 or len))
      end
      put("]")
      return true
    end
    put("[")
    for i = 1, len do
      local x = v[i]
      if type(x) ~= "table" then -- an integer among tables
        put(parts[i])
        if i < len then put(",") end
      elseif i < len then
        local c = memo_comma[x]
        if not c then
          c = text_of(x) .. ","
          memo_comma[x] = c
        end
        put(c)
      else
        put(text_of(x))
      end
    end
    put("]")
    return true
  end
  function enc(v)
    local t = type(v)
    if t == "string" then
      put('"' .. v:gsub('[%c"\\]', escape) .. '"')
    elseif t == "number" then
      if v ~= v or v == math.huge or v == -math.huge then put("null")
      elseif v == floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then put(format("%d", v))
      else put(format("%.17g", v)) end
    elseif t == "boolean" then
      put(v and "true" or "false")
    elseif t == "table" then
      local text = memo[v]
      if text then put(text) return end
      local start = n + 1
      if getmetatable(v) == ARRAY or v[1] ~= nil then
        local len = #v
        if not (len > 0 and put_joined(v, len)) then
          put("[")
          for i = 1, len do
            if i > 1 then put(",") end
            enc(v[i])
          end
          put("]")
        end
      else
        local keys = {}
        for k in pairs(v) do keys[#keys + 1] = tostring(k) end
        sort(keys)
        put("{")
        for i, k in ipairs(keys) do
          if i > 1 then put(",") end
          enc(k)
          put(":")
          enc(v[k])
        end
        put("}")
      end
      -- a table written twice (a stack shared by many samples) is
      -- encoded once; a large one (a profile's samples, written once) is
      -- not made one text
      if getmetatable(v) == ARRAY and start == n then
        memo[v] = out[n] -- one text already: no copy
      elseif getmetatable(v) == ARRAY and n - start < 64 then
        memo[v] = concat(out, "", start, n)
        for i = n, start + 1, -1 do out[i] = nil end
        n = start
        out[n] = memo[v]
      end
    else
      put("null")
    end
  end
  enc(value)
  return concat(out, "", 1, n)
end
M._encode = encode

local function array(t) return setmetatable(t or {}, ARRAY) end

-- Folded stacks: one line per distinct stack, "root;caller;leaf count",
-- with integer counts: samples (default) or, with opts.weight =
-- "microseconds", time in µs, each sample's weight rounded to whole µs
-- before the sum (inferno truncates decimals and speedscope skips such
-- lines). opts.mode, threads, from, to as for top; opts.thread_root puts
-- the thread's name as the outermost frame. A sample with an empty stack
-- is the one frame "(no frames)", so the lines add up to top's time.
-- Lines come in the order their stacks first appear; lines of 0 are left
-- out.
function M.folded(given, opts)
  opts = aggregate._check_opts(opts, "folded", EXTRA.folded)
  local by_time = opts.weight == "microseconds"
  if opts.weight ~= nil and not by_time and opts.weight ~= "samples" then
    error("bad argument #2 to 'folded' (weight must be 'samples' or 'microseconds')", 2)
  end
  local cx = prepare(given, opts, "folded", not by_time)
  local v = cx.v
  local sids = not v.sums and samples.columns_of(cx.chunk).stack_id
  local paths = {}
  local function path_of(st)
    local path = paths[st]
    if not path then
      local parts, k = {}, 0
      for j = #st, 1, -1 do k = k + 1 parts[k] = st[j].folded end
      path = concat(parts, ";", 1, k)
      paths[st] = path
    end
    return path
  end
  local lines, index_of, values = {}, {}, {}
  local function line(sid, prefix) -- the line of a stack id, made on first sight
    local path = path_of(cx.stack(sid))
    if path == "" then path = cx.names.empty().folded end
    if prefix then path = prefix .. ";" .. path end
    local k = index_of[path]
    if not k then
      k = #lines + 1
      lines[k], values[k], index_of[path] = path, 0, k
    end
    return k
  end
  local function add(tid, prefix)
    local sums = v.sums and v.sums[tid]
    if sums then -- the thread's stack ids in the order its samples show them
      local sid, count = sums.sid, sums.count
      for e = 1, #sid do
        local k = line(sid[e], prefix)
        values[k] = values[k] + count[e]
      end
      return
    end
    local lane, line_of = v.lanes[tid], {} -- stack_id -> line, for this thread
    local list, lw, llast = lane.idx, lane.w, lane.last
    for j = 1, #list do
      local i = list[j]
      if not llast[j] then
        local sid = sids[i]
        local keyable = sid ~= nil and sid == sid -- not nil, not NaN
        local k = keyable and line_of[sid]
        if not k then
          k = line(sid, prefix)
          if keyable then line_of[sid] = k end
        end
        values[k] = values[k] + (by_time and us(lw[j]) or 1)
      end
    end
  end
  if opts.thread_root then
    local tids = sorted_tids(v.order)
    local labels = thread_labels(cx.p, tids, function(tid) return "thread " .. tostring(tid) end)
    for _, tid in ipairs(tids) do add(tid, sanitize(labels[tid])) end
  else
    for _, tid in ipairs(v.order) do add(tid, nil) end
  end
  local out = {}
  for k = 1, #lines do
    if values[k] > 0 then out[#out + 1] = format("%s %d", lines[k], values[k]) end
  end
  if #out == 0 then return "" end
  return concat(out, "\n") .. "\n"
end

-- The parts of a frame the file formats carry: a file, a line, a column.
local function file_of(f) return str(f.abs_path) or str(f.filename) end

-- A speedscope document (https://www.speedscope.app/file-format-schema.json):
-- one "sampled" profile per thread (named as the thread), frames shared
-- (one per function, named as top names it, with file and line), samples
-- root first in time order, weights in whole microseconds (each sample's
-- weight rounded); consecutive samples with the same stack are merged, and
-- a sample with an empty stack is an empty sample (time the thread spent
-- outside any frame). opts.mode, threads, from, to as for top. Returns the
-- JSON text, or nil and a message for a profile with no samples;
-- opts.table = true returns the table instead.
function M.speedscope(given, opts)
  opts = aggregate._check_opts(opts, "speedscope", EXTRA.speedscope)
  local cx = prepare(given, opts, "speedscope", false, true)
  local v, chunk = cx.v, cx.chunk
  -- the view's samples, or the runs core.stack_runs made of them
  local sids = not v.runs and samples.columns_of(cx.chunk).stack_id
  local shared, frame_index = array(), {}
  local function frame_id(e)
    local id = frame_index[e]
    if not id then
      local f = e.frame
      local entry = { name = e.name, file = file_of(f), line = whole(f.lineno), col = whole(f.colno) }
      shared[#shared + 1] = entry
      id = #shared - 1
      frame_index[e] = id
    end
    return id
  end
  local root_first = {}
  local function stack_of(st)
    local r = root_first[st]
    if not r then
      r = array()
      for j = #st, 1, -1 do r[#r + 1] = frame_id(st[j]) end
      root_first[st] = r
    end
    return r
  end
  local labels = thread_labels(cx.p, v.order, function(tid) return "thread " .. tostring(tid) end)
  local profiles = array()
  for _, tid in ipairs(v.order) do
    local psamples, weights, total, last, m = array(), array(), 0, nil, 0
    local stack = cx.stack
    local function add(sid, w)
      local st = stack(sid)
      if st == last then
        weights[m] = weights[m] + w
      else
        m = m + 1
        psamples[m], weights[m] = stack_of(st), w
        last = st
      end
      total = total + w
    end
    if v.runs then
      local run = v.runs[tid]
      local rsid, rus = run.sid, run.us
      for e = 1, #rsid do add(rsid[e], rus[e]) end
    else
      local lane = v.lanes[tid]
      local list, lw, llast = lane.idx, lane.w, lane.last
      for j = 1, #list do
        if not llast[j] then add(sids[list[j]], us(lw[j])) end
      end
    end
    if m > 0 then
      profiles[#profiles + 1] = {
        type = "sampled", name = labels[tid], unit = "microseconds", startValue = 0, endValue = total,
        samples = psamples, weights = weights,
      }
    end
  end
  if #profiles == 0 then return nil, "nothing to export: the profile has no samples" end
  local doc = {
    ["$schema"] = M.SPEEDSCOPE_SCHEMA, shared = { frames = shared }, profiles = profiles,
    name = opts.name or ("sentry profile " .. tostring(str(chunk.profiler_id) or str(chunk.chunk_id) or "")),
    activeProfileIndex = 0, exporter = "sentry-chunks",
  }
  if opts.table then return doc end
  return encode(doc)
end

-- A Chrome .cpuprofile (Chrome DevTools, speedscope and Firefox's profiler
-- import it): one thread (opts.thread: an id or a name; default the main
-- thread), a node tree merged by function (frames.key), samples as leaf
-- node ids in time order, 0-based line and column numbers. Times are whole
-- microseconds written digit for digit: a sample's time is the thread's
-- first (clipped) time plus the weights before it, rounded, so the time
-- to the next sample is the sample's weight in the chosen mode (in
-- "sentry" mode, the real timeline; the thread's last sample is no sample
-- and the profile ends at it) and startTime + sum(timeDeltas) <= endTime.
-- opts.mode, from, to as for top. Returns the JSON text (opts.table: the
-- table), or nil and a message when the thread has no samples.
function M.cpuprofile(given, opts)
  opts = aggregate._check_opts(opts, "cpuprofile", EXTRA.cpuprofile)
  local chunk = samples.chunk_of(given, "cpuprofile")
  local thread = opts.thread
  if thread == nil then thread = opts.threads end
  if thread == nil then thread = samples.main_thread(chunk) end
  if thread == nil then return nil, "nothing to export: the profile has no samples" end
  local sub = {}
  for k, x in pairs(opts) do sub[k] = x end
  sub.thread, sub.table, sub.threads = nil, nil, thread
  local cx = prepare(chunk, sub, "cpuprofile")
  local v, sids = cx.v, samples.columns_of(cx.chunk).stack_id
  if #v.order > 1 then
    local asked = thread
    if type(thread) == "table" then
      local parts = {}
      for i, x in ipairs(thread) do parts[i] = tostring(x) end
      asked = concat(parts, ", ")
    end
    return nil, format("nothing to export: '%s' names %d threads; give one thread id", tostring(asked), #v.order)
  end
  local lane = v.order[1] and v.lanes[v.order[1]] or { idx = {}, w = {}, ts = {}, last = {} }
  local list = {} -- positions in the lane of the counted samples
  for j = 1, #lane.idx do
    if not lane.last[j] then list[#list + 1] = j end
  end
  if #list == 0 then return nil, "nothing to export: no samples for thread " .. tostring(thread) end
  local nodes = array { { id = 1, hitCount = 0, callFrame = { functionName = "(root)", scriptId = "0",
    url = "", lineNumber = -1, columnNumber = -1 } } }
  local children_of, leaf_of = { [1] = {} }, {}
  local function child(parent, e)
    local id = children_of[parent][e]
    if id then return id end
    local f = e.frame
    id = #nodes + 1
    nodes[id] = { id = id, hitCount = 0, callFrame = {
      functionName = e.name, scriptId = "0", url = file_of(f) or "",
      lineNumber = whole(f.lineno) and f.lineno - 1 or -1,
      columnNumber = whole(f.colno) and f.colno - 1 or -1 } }
    children_of[parent][e] = id
    children_of[id] = {}
    local kids = nodes[parent].children or array()
    kids[#kids + 1] = id
    nodes[parent].children = kids
    return id
  end
  -- positions: the first sample's clipped start plus the weights so far,
  -- added in ns and rounded once per position. The start (about 1.8e18
  -- ns, past a double's 2^53) is split into whole µs and a rest: fmod is
  -- exact on integers and on doubles, and (a - rest) / 1000 is a whole
  -- number that rounding finds again; the rest plus the weights is small.
  local a = lane.ts[list[1]]
  if v.from and a < v.from then a = v.from end
  local rest = math.fmod(a, 1000)
  if rest < 0 then rest = rest + 1000 end
  local base = floor((a - rest) / 1000 + 0.5)
  local function position(rel) return base + us(rest + rel) end
  local out_samples, deltas, rel, prev = array(), array(), 0, nil
  for j = 1, #list do
    local i = lane.idx[list[j]]
    local st = cx.stack(sids[i])
    local leaf = leaf_of[st]
    if not leaf then
      leaf = 1
      for k = #st, 1, -1 do leaf = child(leaf, st[k]) end
      leaf_of[st] = leaf
    end
    nodes[leaf].hitCount = nodes[leaf].hitCount + 1
    out_samples[j] = leaf
    local pos = position(rel)
    deltas[j] = prev and pos - prev or 0
    prev = pos
    rel = rel + lane.w[list[j]]
  end
  local doc = { nodes = nodes, samples = out_samples, timeDeltas = deltas,
    startTime = position(0), endTime = position(rel) }
  if opts.table then return doc end
  return encode(doc)
end

-- perfanno.nvim's load_traces table: { [event] = { {count = N, frames =
-- {{symbol =, file =, linenr =}, ...}}, ... } }, frames root first, symbols
-- named as top names functions, integer counts (opts.event: "samples", the
-- default, counts samples; "microseconds" weighs them, each sample rounded
-- to whole µs), files remapped by opts.remap ({from =, to =} rules, as
-- filter.remap_paths). opts.mode, threads, from, to as for top; samples
-- with an empty stack have no trace. perfanno then annotates the files.
function M.perfanno(given, opts)
  opts = aggregate._check_opts(opts, "perfanno", EXTRA.perfanno)
  local event = opts.event or "samples"
  if event ~= "samples" and event ~= "microseconds" then
    error("bad argument #2 to 'perfanno' (event must be 'samples' or 'microseconds')", 2)
  end
  if opts.remap then given = require("sentry.chunks.analysis.filter").remap_paths(given, opts.remap) end
  local cx = prepare(given, opts, "perfanno")
  local v, sids = cx.v, samples.columns_of(cx.chunk).stack_id
  local order, value = {}, {}
  for _, tid in ipairs(v.order) do
    local lane = v.lanes[tid]
    local list, lw, llast = lane.idx, lane.w, lane.last
    for j = 1, #list do
      local i = list[j]
      if not llast[j] then
        local st = cx.stack(sids[i])
        if #st > 0 then
          if not value[st] then value[st] = 0 order[#order + 1] = st end
          value[st] = value[st] + (event == "samples" and 1 or us(lw[j]))
        end
      end
    end
  end
  local traces = {}
  for _, st in ipairs(order) do
    if value[st] > 0 then
      local fr = {}
      for j = #st, 1, -1 do
        local f = st[j].frame
        -- the line of this occurrence's frame would differ between copies;
        -- the trace takes the key's first frame, as every export does
        fr[#fr + 1] = { symbol = st[j].name, file = file_of(f), linenr = whole(f.lineno) }
      end
      traces[#traces + 1] = { count = value[st], frames = fr }
    end
  end
  return { [event] = traces }
end

-- pprof's profile.proto, uncompressed (`go tool pprof` reads it), written
-- with a small protobuf encoder of our own. Sample types samples/count and
-- cpu/nanoseconds (the mode's weights); one sample per (stack, thread),
-- labelled thread = the thread's name (or id) and thread_id = its id;
-- locations leaf first, one per (function, line); one Function per
-- frames.key, named as top names it (system_name: the bare function name,
-- filename: abs_path or filename). A sample with an empty stack has the
-- one location "(no frames)" (pprof drops samples without a location from
-- its -tags and -traces). opts.mode, threads, from, to as for top.

-- A varint, exact also for a 64-bit integer on 5.3/5.4 (where v /
-- 128 goes through a double): the quotient is fixed up by the remainder.
local function varint(out, v)
  while v >= 128 do
    local q = floor(v / 128)
    local low = v - q * 128
    while low < 0 do q, low = q - 1, low + 128 end
    while low >= 128 do q, low = q + 1, low - 128 end
    out[#out + 1] = string.char(low + 128)
    v = q
  end
  out[#out + 1] = string.char(v)
end

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
  return concat(b)
end

function M.pprof(given, opts)
  opts = aggregate._check_opts(opts, "pprof", EXTRA.pprof)
  local cx = prepare(given, opts, "pprof", true)
  local v = cx.v
  local sids = not v.sums and samples.columns_of(cx.chunk).stack_id
  local strings, string_id = { "" }, { [""] = 0 }
  local function str_id(s)
    local id = string_id[s]
    if not id then
      strings[#strings + 1] = s
      id = #strings - 1
      string_id[s] = id
    end
    return id
  end
  local functions, function_of, locations, location_of = {}, {}, {}, {}
  local function function_id(e)
    local fid = function_of[e]
    if fid then return fid end
    local f, m = e.frame, {}
    fid = #functions + 1
    put_varint(m, 1, fid)
    put_varint(m, 2, str_id(e.name))
    put_varint(m, 3, str_id(str(f["function"]) or e.name))
    put_varint(m, 4, str_id(file_of(f) or ""))
    functions[fid] = concat(m)
    function_of[e] = fid
    return fid
  end
  local function location(e)
    local fid = function_id(e)
    local line = whole(e.frame.lineno) or 0
    local lkey = fid .. ":" .. line
    local loc = location_of[lkey]
    if loc then return loc end
    local ln, l = {}, {}
    put_varint(ln, 1, fid)
    if line > 0 then put_varint(ln, 2, line) end
    loc = #locations + 1
    put_varint(l, 1, loc)
    put_bytes(l, 4, concat(ln))
    locations[loc] = concat(l)
    location_of[lkey] = loc
    return loc
  end
  local out = {}
  local function value_type(t, unit)
    local b = {}
    put_varint(b, 1, str_id(t))
    put_varint(b, 2, str_id(unit))
    return concat(b)
  end
  put_bytes(out, 1, value_type("samples", "count"))
  put_bytes(out, 1, value_type("cpu", "nanoseconds"))
  local labels = thread_labels(cx.p, v.order, tostring)
  local key_thread, key_thread_id = str_id("thread"), str_id("thread_id")
  local first, last = nil, nil
  for _, tid in ipairs(sorted_tids(v.order)) do
    local order, count, ns = {}, {}, {}
    local function add(sid, n, w) -- n samples of one stack id, weighing w ns
      local st = cx.stack(sid)
      if not count[st] then count[st], ns[st] = 0, 0 order[#order + 1] = st end
      count[st], ns[st] = count[st] + n, ns[st] + w
    end
    local sums = v.sums and v.sums[tid]
    if sums then -- the thread's stack ids in the order its samples show them
      local sid, scount, sw = sums.sid, sums.count, sums.w
      for e = 1, #sid do add(sid[e], scount[e], sw[e]) end
      -- its counted samples start at its first and end at its last
      if sums.first and (not first or sums.first < first) then first = sums.first end
      if sums.last and (not last or sums.last > last) then last = sums.last end
    else
      local lane = v.lanes[tid]
      local list, lw, lts, llast = lane.idx, lane.w, lane.ts, lane.last
      for j = 1, #list do
        if not llast[j] then
          local st, w = cx.stack(sids[list[j]]), lw[j] -- add(sid, 1, w), inlined: per sample
          if not count[st] then count[st], ns[st] = 0, 0 order[#order + 1] = st end
          count[st], ns[st] = count[st] + 1, ns[st] + w
          local a = lts[j]
          if v.from and a < v.from then a = v.from end
          if not first or a < first then first = a end
          if not last or a + w > last then last = a + w end
        end
      end
    end
    local l1, l2 = {}, {}
    put_varint(l1, 1, key_thread)
    put_varint(l1, 2, str_id(labels[tid]))
    put_varint(l2, 1, key_thread_id)
    put_varint(l2, 2, str_id(tostring(tid)))
    local label = { concat(l1), concat(l2) }
    for _, st in ipairs(order) do
      local locs, sample = {}, {}
      for j = 1, #st do locs[j] = location(st[j]) end
      if #locs == 0 then locs[1] = location(cx.names.empty()) end
      put_bytes(sample, 1, packed(locs))
      put_bytes(sample, 2, packed({ count[st], ns[st] }))
      put_bytes(sample, 3, label[1])
      put_bytes(sample, 3, label[2])
      put_bytes(out, 2, concat(sample))
    end
  end
  for _, l in ipairs(locations) do put_bytes(out, 4, l) end
  for _, f in ipairs(functions) do put_bytes(out, 5, f) end
  for _, s in ipairs(strings) do put_bytes(out, 6, s) end
  if first then
    put_varint(out, 9, first)          -- time_nanos
    put_varint(out, 10, last - first)  -- duration_nanos
  end
  put_bytes(out, 11, value_type("cpu", "nanoseconds"))
  return concat(out)
end


-- Folded stacks over a range too long to hold, for aggregate.accumulator
-- {folded = true}: fed one answer (window) at a time in time order with
-- aggregate's view of it (Sentry's weights), it keeps per thread the
-- samples and microseconds of each distinct stack, as the identities of
-- its functions, and each thread's last sample until the next window gives
-- its weight. text() equals folded() of the whole range merged.
local FoldedAcc = {}
FoldedAcc.__index = FoldedAcc

function M._folded_accumulator()
  return setmetatable({ key_id = {}, first = {}, threads = {}, order = {}, meta = {} }, FoldedAcc)
end

local function folded_count(st, sig, w)
  local count = st.count[sig]
  if not count then
    st.sigs[#st.sigs + 1] = sig
    count = 0
    st.micros[sig] = 0
  end
  st.count[sig], st.micros[sig] = count + 1, st.micros[sig] + us(w)
end

function FoldedAcc:add(chunk, v)
  local p = chunk.profile
  local fr = type(p.frames) == "table" and p.frames or {}
  local key_id, first = self.key_id, self.first
  -- function identities in the order of their first frame, across windows
  -- (the merged answer's frames are the windows' one after the other)
  local function id_of(f)
    local key = frames.key(f)
    local id = key_id[key]
    if not id then
      id = #first + 1
      first[id], key_id[key] = f, id
    end
    return id
  end
  local ids = {}
  for idx = 0, #fr - 1 do ids[idx] = id_of(frame_at(fr, idx)) end
  if type(p.thread_metadata) == "table" then -- the merge's union: the first wins
    for tid, m in pairs(p.thread_metadata) do
      if self.meta[tid] == nil then self.meta[tid] = m end
    end
  end
  local stacks = type(p.stacks) == "table" and p.stacks or {}
  local sig_of, buf = {}, {}
  local function sig(sid) -- a stack's identities, leaf first: "3,5,9" ("" when empty)
    local keyable = sid ~= nil and sid == sid
    local s = keyable and sig_of[sid]
    if s then return s end
    local raw = type(sid) == "number" and stacks[sid + 1] or nil
    local n = type(raw) == "table" and #raw or 0
    for j = 1, n do buf[j] = ids[raw[j]] or id_of(frame_at(fr, raw[j])) end
    s = concat(buf, ",", 1, n)
    if keyable then sig_of[sid] = s end
    return s
  end
  local sids = samples.columns_of(chunk).stack_id
  for _, tid in ipairs(v.order) do
    local st = self.threads[tid]
    if not st then
      st = { sigs = {}, count = {}, micros = {} }
      self.threads[tid] = st
      self.order[#self.order + 1] = tid
    end
    local lane = v.lanes[tid]
    local idx, ts, w, last = lane.idx, lane.ts, lane.w, lane.last
    local n = #idx
    if st.pending then -- the previous window's last sample, weighed now
      folded_count(st, st.pending.sig, ts[1] - st.pending.ts)
      st.pending = nil
    end
    for j = 1, n do
      if not last[j] then
        folded_count(st, sig(sids[idx[j]]), w[j])
      elseif j == n then -- its weight comes with the next window, if any
        st.pending = { sig = sig(sids[idx[j]]), ts = ts[j] }
      end
    end
  end
end

-- opts: weight = "samples" | "microseconds", thread_root, as for folded.
function FoldedAcc:text(opts)
  local by_time = opts.weight == "microseconds"
  -- names as folded() gives them: the whole range's functions in the order
  -- of their first frame
  local names = namer({ frames = self.first })
  local paths = {}
  local function path_of(s)
    local path = paths[s]
    if path then return path end
    if s == "" then
      path = names.empty().folded
    else
      local parts = {}
      for id in s:gmatch("%d+") do table.insert(parts, 1, names.entries[tonumber(id) - 1].folded) end
      path = concat(parts, ";")
    end
    paths[s] = path
    return path
  end
  local tids, prefix = self.order, nil
  if opts.thread_root then
    tids = sorted_tids(self.order)
    prefix = thread_labels({ thread_metadata = self.meta }, tids, function(tid) return "thread " .. tostring(tid) end)
  end
  local lines, index_of, values = {}, {}, {}
  for _, tid in ipairs(tids) do
    local st = self.threads[tid]
    for _, s in ipairs(st.sigs) do
      local path = path_of(s)
      if prefix then path = sanitize(prefix[tid]) .. ";" .. path end
      local k = index_of[path]
      if not k then
        k = #lines + 1
        lines[k], values[k], index_of[path] = path, 0, k
      end
      values[k] = values[k] + (by_time and st.micros[s] or st.count[s])
    end
  end
  local out = {}
  for k = 1, #lines do
    if values[k] > 0 then out[#out + 1] = format("%s %d", lines[k], values[k]) end
  end
  if #out == 0 then return "" end
  return concat(out, "\n") .. "\n"
end

return M
