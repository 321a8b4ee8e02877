-- sentry.chunks.range: ranges longer than the server's 50-chunk cap.
--
-- The server merges at most the newest 50 chunks of a window (about 50
-- minutes) and silently drops the rest, so a long range is fetched as
-- windows under the cap, concurrently, and merged here the way the server
-- merges chunks, then deduplicated (frames and stacks repeat in every
-- chunk). The result has the shape of one answer, so every analysis helper
-- works on it unchanged.
local analysis = require "sentry.chunks.analysis"

local M = {}

local format, floor, type, ipairs, pairs = string.format, math.floor, type, ipairs, pairs

M.DEFAULT_WINDOW = 2400 -- 40 one-minute chunks: under the cap with margin

local function argerror(n, fname, expected, got)
  error(format("bad argument #%d to '%s' (%s expected, got %s)", n, fname, expected, type(got)), 3)
end

-- Half-open windows {start, end} covering [start, end) exactly, each at
-- most `window` seconds long.
function M.split(start, stop, window)
  if type(start) ~= "number" then argerror(1, "split", "number", start) end
  if type(stop) ~= "number" then argerror(2, "split", "number", stop) end
  window = window or M.DEFAULT_WINDOW
  if type(window) ~= "number" or window <= 0 then argerror(3, "split", "positive number", window) end
  local out, s = {}, start
  while s < stop do
    local e = s + window
    if e > stop then e = stop end
    out[#out + 1] = { start = s, ["end"] = e }
    s = e
  end
  return out
end

local function first_timestamp(answer)
  local samples = answer.chunk.profile.samples
  local t = math.huge
  for i = 1, #samples do
    if samples[i].timestamp < t then t = samples[i].timestamp end
  end
  return t
end

-- One answer from several, as the server merges chunks: by time, the
-- earliest answer's metadata, frames and stacks appended with indices
-- shifted, samples concatenated, thread_metadata unioned, measurements'
-- values concatenated. Inputs are not modified.
function M.merge(answers)
  if type(answers) ~= "table" then argerror(1, "merge", "table", answers) end
  local list = {}
  for _, a in ipairs(answers) do
    if type(a) ~= "table" or type(a.chunk) ~= "table" then argerror(1, "merge", "list of answers", a) end
    list[#list + 1] = a
  end
  if #list == 0 then return nil, "nothing to merge" end
  table.sort(list, function(a, b) return first_timestamp(a) < first_timestamp(b) end)
  local chunk, frames, stacks, samples, threads, measurements, ids = {}, {}, {}, {}, nil, nil, {}
  for k, v in pairs(list[1].chunk) do chunk[k] = v end
  for _, a in ipairs(list) do
    local p = a.chunk.profile
    local frame_base, stack_base = #frames, #stacks
    for _, f in ipairs(p.frames) do frames[#frames + 1] = f end
    for _, st in ipairs(p.stacks) do
      local shifted = {}
      for j = 1, #st do shifted[j] = st[j] + frame_base end
      stacks[#stacks + 1] = shifted
    end
    for _, s in ipairs(p.samples) do
      local copy = {}
      for k, v in pairs(s) do copy[k] = v end
      copy.stack_id = s.stack_id + stack_base
      samples[#samples + 1] = copy
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
    for _, id in ipairs(type(a.debug_chunk_ids) == "table" and a.debug_chunk_ids or {}) do
      ids[#ids + 1] = id
    end
  end
  local profile = {}
  for k, v in pairs(list[1].chunk.profile) do profile[k] = v end
  profile.frames, profile.stacks, profile.samples = frames, stacks, samples
  profile.thread_metadata = threads or list[1].chunk.profile.thread_metadata
  chunk.profile = profile
  if measurements then chunk.measurements = measurements end
  return { chunk = chunk, debug_chunk_ids = ids }
end

-- The server keeps samples in [start, end], both ends included; a window
-- other than the last keeps [start, end), so that a sample on a boundary
-- is counted once.
local function drop_end(answer, stop)
  local kept = {}
  for _, s in ipairs(answer.chunk.profile.samples) do
    if s.timestamp < stop then kept[#kept + 1] = s end
  end
  local chunk, profile = {}, {}
  for k, v in pairs(answer.chunk) do chunk[k] = v end
  for k, v in pairs(answer.chunk.profile) do profile[k] = v end
  profile.samples = kept
  chunk.profile = profile
  return { chunk = chunk, debug_chunk_ids = answer.debug_chunk_ids }
end

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", floor(t))
end

-- client:fetch_range{project, profiler_id, start, ["end"], window = 2400,
-- concurrency = 4, retries = 2} -> answer, nil, details | nil, message,
-- details. start/end: Unix seconds. Windows run concurrently over the
-- client's connections; an empty window is empty; a failed window is
-- retried `retries` times, then the whole fetch fails naming the window.
function M.fetch(client, q)
  if type(q) ~= "table" then argerror(1, "fetch_range", "table", q) end
  local start, stop = q.start, q["end"]
  if type(start) ~= "number" or type(stop) ~= "number" then
    return nil, "fetch_range needs start and end as Unix seconds", { kind = "invalid_argument", field = "start" }
  end
  if start >= stop then
    return nil, "invalid time range: start must be before end", { kind = "invalid_argument", field = "start" }
  end
  local windows = M.split(start, stop, q.window)
  local concurrency, retries = q.concurrency or 4, q.retries or 2
  local results, failures, next_window, running = {}, {}, 1, {}
  local function launch(i)
    local w = windows[i]
    local req, err, details = client:fetch_async { project = q.project, profiler_id = q.profiler_id,
      org = q.org, start = w.start, ["end"] = w["end"] }
    if not req then return nil, err, details end
    running[#running + 1] = { index = i, req = req }
    return true
  end
  while next_window <= #windows or #running > 0 do
    while #running < concurrency and next_window <= #windows do
      local ok, err, details = launch(next_window)
      if not ok then return nil, err, details end
      next_window = next_window + 1
    end
    local still, again = {}, {}
    for _, r in ipairs(running) do
      if r.req:step() then
        local res, err, details = r.req:result()
        local w = windows[r.index]
        if res then
          results[r.index] = r.index < #windows and drop_end(res, w["end"]) or res
        elseif details and details.kind == "no_chunks" then
          results[r.index] = false -- an empty window
        else
          failures[r.index] = (failures[r.index] or 0) + 1
          if failures[r.index] > retries then
            for _, other in ipairs(running) do other.req:cancel() end
            details = details or {}
            details.window = { index = r.index, count = #windows, start = w.start, ["end"] = w["end"] }
            return nil, format("window %d of %d (%s to %s) failed: %s", r.index, #windows,
              iso(w.start), iso(w["end"]), tostring(err)), details
          end
          again[#again + 1] = r.index
        end
      else
        still[#still + 1] = r
      end
    end
    running = still
    for _, i in ipairs(again) do
      local ok, lerr, ldetails = launch(i)
      if not ok then return nil, lerr, ldetails end
    end
    -- wait for any socket of the client (at once while bytes are buffered)
    if #running > 0 then client._multi:poll(0.05) end
  end
  local answers = {}
  for i = 1, #windows do
    if results[i] then answers[#answers + 1] = results[i] end
  end
  if #answers == 0 then
    return nil, "no profile chunks in this time range", { kind = "no_chunks", windows = #windows }
  end
  local merged = M.merge(answers)
  return analysis.dedupe(merged), nil, { windows = #windows, empty = #windows - #answers }
end

return M
