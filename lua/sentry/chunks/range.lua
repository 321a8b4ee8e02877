-- sentry.chunks.range: ranges longer than the server's 50-chunk cap.
--
-- The server merges at most the newest 50 chunks of a window (about 50
-- minutes) and silently drops the rest, so a long range is fetched as
-- windows under the cap, concurrently, and merged here the way the server
-- merges chunks, then deduplicated (frames and stacks repeat in every
-- chunk). The result has the shape of one answer, so every analysis helper
-- works on it unchanged.
local dedupe = require("sentry.chunks.dedupe").dedupe

local layout = require "sentry.chunks.layout"
local is_columns, columns_of, row = layout.is_columns, layout.columns_of, layout.row

local M = {}

local format, floor, type, ipairs, pairs = string.format, math.floor, type, ipairs, pairs

M.CAP = 50               -- chunks the server merges at most (newest first)
M.DEFAULT_WINDOW = 2400  -- 40 one-minute chunks: under the cap with margin
M.LONG_RANGE = 2400      -- client:fetch splits a range longer than this
M.MAX_SPLIT_RANGE = 86400 -- and refuses to split one longer than this (fetch_range does)
M.LATE_START = 90        -- seconds: a first sample later than this after start looks cut

local PERIOD_UNITS = { [""] = 1, s = 1, m = 60, h = 3600, d = 86400, w = 604800 }

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
  local ss, t = answer.chunk.profile.samples, math.huge
  if is_columns(ss) then
    local ts = ss.timestamp
    for i = 1, ss.n do
      if ts[i] < t then t = ts[i] end
    end
  else
    for i = 1, #ss do
      if ss[i].timestamp < t then t = ss[i].timestamp end
    end
  end
  return t
end

-- One answer from several, as the server merges chunks: by time, the
-- earliest answer's metadata, frames and stacks appended with indices
-- shifted, samples concatenated, thread_metadata unioned, measurements'
-- values concatenated. Inputs are not modified. The samples are in the
-- layout of the earliest answer's (rows, or columns: sentry.chunks.layout).
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
  local in_columns = is_columns(list[1].chunk.profile.samples)
  if in_columns then samples = { n = 0, stack_id = {}, thread_id = {}, timestamp = {} } end
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
    if in_columns then -- every column appended, stack ids shifted
      local c, base = columns_of(p.samples), samples.n
      for k, col in pairs(c) do
        if k ~= "n" then
          local into = samples[k]
          if not into then into = {} samples[k] = into end
          if k == "stack_id" then
            for i = 1, c.n do into[base + i] = col[i] + stack_base end
          else
            for i = 1, c.n do into[base + i] = col[i] end
          end
        end
      end
      samples.n = base + c.n
    elseif is_columns(p.samples) then
      local c = p.samples
      for i = 1, c.n do
        local copy = row(c, i)
        copy.stack_id = copy.stack_id + stack_base
        samples[#samples + 1] = copy
      end
    else
      for _, s in ipairs(p.samples) do
        local copy = {}
        for k, v in pairs(s) do copy[k] = v end
        copy.stack_id = s.stack_id + stack_base
        samples[#samples + 1] = copy
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
-- is counted once. drop_end cuts the answer in place: it is for an answer
-- just received, that nothing else holds yet (copying a window's samples
-- cost three times its decode). Samples keep their order.
local function drop_end(answer, stop)
  local ss = answer.chunk.profile.samples
  local columns = is_columns(ss)
  local n = columns and ss.n or #ss
  local first
  if columns then
    local ts = ss.timestamp
    for i = 1, n do
      if not (ts[i] < stop) then first = i break end
    end
  else
    for i = 1, n do
      if not (ss[i].timestamp < stop) then first = i break end
    end
  end
  if not first then return answer end
  local kept = first - 1
  if columns then
    local ts, cols = ss.timestamp, {}
    for k, col in next, ss do
      if k ~= "n" then cols[#cols + 1] = col end
    end
    for i = first, n do
      if ts[i] < stop then -- ts[i] is read before any write reaches index i
        kept = kept + 1
        for c = 1, #cols do
          local col = cols[c]
          col[kept] = col[i]
        end
      end
    end
    for c = 1, #cols do
      local col = cols[c]
      for i = kept + 1, n do col[i] = nil end
    end
    ss.n = kept
  else
    for i = first, n do
      local s = ss[i]
      if s.timestamp < stop then
        kept = kept + 1
        ss[kept] = s
      end
    end
    for i = n, kept + 1, -1 do ss[i] = nil end
  end
  return answer
end

local function iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", floor(t))
end

local function invalid(field, msg)
  return nil, msg, { kind = "invalid_argument", field = field }
end

local function one_line(v, max)
  local s = tostring(v):gsub("[%c%s]+", " ")
  if #s > max then s = s:sub(1, max - 3) .. "..." end
  return s
end

-- A start or end as Unix seconds: a number, or an ISO-8601 string checked
-- field by field (month 13, February 30, hour 24 are refused).
local function to_unix(v, name)
  if type(v) == "number" then
    if v ~= v or v < 0 or v > 253402300799 then
      return nil, format("invalid %s: %s is not a Unix time in seconds", name, tostring(v))
    end
    return v
  end
  local t = require("sentry.chunks.url").iso_to_unix(v)
  if not t then
    return nil, format("invalid %s: expected ISO-8601 (2001-12-14T12:34:56Z) or Unix seconds, got '%s'",
      name, one_line(v, 60))
  end
  return t
end

-- span(q, now [, fname]) -> {start =, ["end"] =, period = stats_period or
-- nil} in Unix seconds, false when q gives no range, or nil, message,
-- details (kind invalid_argument). stats_period is turned into start and
-- end once, here, against `now` (the client's clock), so that every window
-- of a split range agrees. A start or end of another type raises.
function M.span(q, now, fname)
  fname = fname or "fetch"
  for _, name in ipairs { "start", "end" } do
    local v = q[name]
    if v ~= nil and type(v) ~= "number" and type(v) ~= "string" then
      error(format("bad argument #1 to '%s' (field '%s': number or string expected, got %s)",
        fname, name, type(v)), 3)
    end
  end
  if q.stats_period ~= nil and type(q.stats_period) ~= "string" then
    error(format("bad argument #1 to '%s' (field 'stats_period': string expected, got %s)",
      fname, type(q.stats_period)), 3)
  end
  local sp, start, stop = q.stats_period, q.start, q["end"]
  if sp ~= nil then
    if start ~= nil or stop ~= nil then
      return invalid("stats_period", "give either stats_period or start and end, not both")
    end
    local n, unit = sp:match("^(%d+)([smhdw]?)$")
    if not n then
      return invalid("stats_period", format(
        "invalid stats_period: expected a number and an optional unit s, m, h, d or w (like '1h'), got '%s'",
        one_line(sp, 40)))
    end
    return { start = now - tonumber(n) * PERIOD_UNITS[unit], ["end"] = now, period = sp }
  end
  if start == nil and stop == nil then return false end
  if start == nil or stop == nil then
    return invalid(start == nil and "start" or "end", "start and end go together: give both")
  end
  local s, err = to_unix(start, "start")
  if not s then return invalid("start", err) end
  local e, err2 = to_unix(stop, "end")
  if not e then return invalid("end", err2) end
  if s >= e then return invalid("start", "invalid time range: start must be before end") end
  return { start = s, ["end"] = e }
end

local function first_sample(answer)
  local samples = type(answer.chunk) == "table" and type(answer.chunk.profile) == "table"
    and answer.chunk.profile.samples
  if type(samples) ~= "table" or (is_columns(samples) and samples.n or #samples) == 0 then return nil end
  return first_timestamp(answer)
end

-- truncation(answer [, start]) -> nil, or a one-line warning when one
-- answer of the server looks cut by its 50-chunk cap: it lists 50 (or
-- more) debug_chunk_ids (unless the request had a start and the first
-- sample is within a second of it: then the 50 chunks cover the whole
-- range), or, for an answer without debug_chunk_ids to a
-- request with a start, its first sample comes more than LATE_START
-- seconds after that start. (With debug_chunk_ids present and fewer than
-- 50, the server merged every chunk of the range: a late first sample then
-- means the profiler was not running yet, not that data was dropped.)
function M.truncation(answer, start)
  if type(answer) ~= "table" then return nil end
  local ids = answer.debug_chunk_ids
  if type(ids) == "table" then
    if #ids >= M.CAP and not (start and (first_sample(answer) or math.huge) - start <= 1) then
      return format("the server merged its maximum of %d chunks (about %d minutes) and drops older "
        .. "ones: data before the first sample may be missing; fetch long ranges in windows "
        .. "(fetch_range, or leave split on)", M.CAP, M.CAP)
    end
    return nil
  end
  local first = start and first_sample(answer)
  if first and first - start > M.LATE_START then
    return format("the first sample is %d s after the requested start %s and the answer lists no "
      .. "debug_chunk_ids: the server may have dropped older chunks (its %d-chunk cap), or the "
      .. "profiler was not running yet", floor(first - start), iso(start), M.CAP)
  end
  return nil
end

-- A range fetch in progress, with the interface of client:fetch_async's
-- requests: step, result, wait, cancel. Windows run concurrently over the
-- client's connections; an empty window is empty; a failed window is
-- retried `retries` times, then the whole fetch fails naming the window.
local Range = {}
Range.__index = Range

local function check_range(self, name)
  if getmetatable(self) ~= Range then
    error(format("bad argument #1 to '%s' (request expected; call it as req:%s())", name, name), 3)
  end
end

local function conclude(self, value, err, details)
  self.done, self.value, self.err, self.details = true, value, err, details
  return true
end

-- An error of the request as a whole, not of one window (a bad token, a
-- forbidden project, an unknown organization, a 400 with the server's detail, an
-- answer of the wrong shape, TLS, a refused redirect, a
-- login page): no window is retried, and the message is the server's.
function M.whole_request_error(d)
  if not d then return false end
  local k = d.kind
  if k == "invalid_argument" or k == "tls" or k == "redirect" or k == "content_type" or k == "invalid_url"
    or k == "unexpected_shape" then
    return true
  end
  return k == "http" and (d.status == 400 or d.status == 401 or d.status == 403
    or (d.status == 404 and d.detail ~= nil))
end

-- Ends the fetch with an error, freeing every window's transfer.
local function fail(self, err, details)
  for _, r in ipairs(self.running) do r.req:cancel() end
  self.running, self.results = {}, {}
  return conclude(self, nil, err, details)
end

local function launch(self, i)
  local w, q = self.windows[i], self.q
  local req, err, details = self.client:fetch_async { project = q.project, profiler_id = q.profiler_id,
    org = q.org, start = w.start, ["end"] = w["end"], split = false, layout = q.layout }
  if not req then return nil, err, details end
  local on_progress = self.client.on_progress
  if on_progress then
    -- one figure for the whole range: the bytes of every window so far
    -- (the total is unknown until the last window has answered)
    self.received[i] = 0
    req.on_progress = function(got)
      self.received[i] = got
      local sum = 0
      for _, n in pairs(self.received) do sum = sum + n end
      on_progress(sum, nil, { windows = #self.windows, done = self.finished })
    end
  end
  self.running[#self.running + 1] = { index = i, req = req }
  return true
end

-- combine(windows, results [, span]) -> answer, nil, info | nil, message,
-- details: the windows' answers merged and deduplicated. results[i] is
-- {answer =, details =} (the answer cut at the window's end, drop_end), or
-- false for an empty window. info = {windows, empty, truncated, start,
-- ["end"], bytes [, truncated_windows, warning]}. (Also used by
-- sentry.chunks.resty, which fetches its windows one after another.)
function M.combine(windows, results, span)
  local answers, truncated, warnings, bytes, reason = {}, {}, {}, 0, nil
  for i = 1, #windows do
    local r = results[i]
    if r then
      answers[#answers + 1] = r.answer
      bytes = bytes + (r.details.bytes or 0)
      if r.details.truncated then
        truncated[#truncated + 1] = i
        warnings[#warnings + 1] = format("window %d of %d (%s to %s)", i, #windows,
          iso(windows[i].start), iso(windows[i]["end"]))
        reason = reason or tostring(r.details.warning)
      end
    end
  end
  span = span or { start = windows[1].start, ["end"] = windows[#windows]["end"] }
  if #answers == 0 then
    -- every window answered the server's 400 "no chunks found to merge"
    return nil, "no profile chunks in this time range", { kind = "no_chunks", status = 400,
      windows = #windows, start = span.start, ["end"] = span["end"] }
  end
  local merged = M.merge(answers)
  local info = { windows = #windows, empty = #windows - #answers, truncated = #truncated > 0,
    start = span.start, ["end"] = span["end"], bytes = bytes }
  answers = nil
  if info.truncated then
    info.truncated_windows = truncated
    info.warning = table.concat(warnings, ", ") .. ": " .. reason
  end
  return dedupe(merged), nil, info
end

M.drop_end = drop_end

-- With q.each: hands the finished windows over in time order, each once,
-- and forgets them (so memory holds at most `concurrency` windows: Range:step
-- starts no window past that many beyond the next one to hand over). The
-- callback's error ends the fetch (kind "callback").
local function deliver(self)
  local windows, each = self.windows, self.q.each
  while self.next_deliver <= #windows and self.results[self.next_deliver] ~= nil do
    local i = self.next_deliver
    local r = self.results[i]
    self.results[i] = nil
    self.next_deliver = i + 1
    if r then
      local w = windows[i]
      self.delivered = self.delivered + 1
      self.bytes = self.bytes + (r.details.bytes or 0)
      if r.details.truncated then
        self.cut[#self.cut + 1] = i
        self.cut_reason = self.cut_reason or tostring(r.details.warning)
      end
      local ok, err = pcall(each, r.answer, { index = i, count = #windows, start = w.start, ["end"] = w["end"] })
      if not ok then
        return false, format("window %d of %d: the each callback failed: %s", i, #windows, tostring(err))
      end
    end
  end
  return true
end

local function finish(self)
  if self.q.each then
    local windows, span = self.windows, self.span
    if self.delivered == 0 then
      return conclude(self, nil, "no profile chunks in this time range", { kind = "no_chunks", status = 400,
        windows = #windows, start = span.start, ["end"] = span["end"] })
    end
    local info = { windows = #windows, empty = #windows - self.delivered, truncated = #self.cut > 0,
      start = span.start, ["end"] = span["end"], bytes = self.bytes }
    if info.truncated then
      local names = {}
      for k, i in ipairs(self.cut) do
        names[k] = format("window %d of %d (%s to %s)", i, #windows, iso(windows[i].start), iso(windows[i]["end"]))
      end
      info.truncated_windows = self.cut
      info.warning = table.concat(names, ", ") .. ": " .. self.cut_reason
    end
    return conclude(self, true, nil, info)
  end
  local results = self.results
  self.results = {}
  return conclude(self, M.combine(self.windows, results, self.span))
end

-- req:step() -> true when the fetch is over (then req:result()).
function Range:step()
  check_range(self, "step")
  if self.done then return true end
  -- With each, a window finished out of order waits for the ones before
  -- it: at most `concurrency` windows are held between the next one to
  -- hand over and the next one to start, so memory stays bounded however
  -- slow one window is.
  local each = self.q.each
  while #self.running < self.concurrency and self.next_window <= #self.windows
    and not (each and self.next_window - self.next_deliver >= self.concurrency) do
    local ok, err, details = launch(self, self.next_window)
    if not ok then return fail(self, err, details) end
    self.next_window = self.next_window + 1
  end
  local still, again, windows = {}, {}, self.windows
  for _, r in ipairs(self.running) do
    if r.req:step() then
      local res, err, details = r.req:result()
      local w = windows[r.index]
      if res or (details and details.kind == "no_chunks") then self.finished = self.finished + 1 end
      if res then
        self.results[r.index] = { answer = r.index < #windows and drop_end(res, w["end"]) or res,
          details = details }
      elseif details and details.kind == "no_chunks" then
        self.results[r.index] = false -- an empty window
      elseif M.whole_request_error(details) then
        details.window = { index = r.index, count = #windows, start = w.start, ["end"] = w["end"] }
        return fail(self, err, details)
      else
        self.failures[r.index] = (self.failures[r.index] or 0) + 1
        if self.failures[r.index] > self.retries then
          details = details or {}
          details.window = { index = r.index, count = #windows, start = w.start, ["end"] = w["end"] }
          return fail(self, format("window %d of %d (%s to %s) failed: %s", r.index, #windows,
            iso(w.start), iso(w["end"]), tostring(err)), details)
        end
        again[#again + 1] = r.index
      end
    else
      still[#still + 1] = r
    end
  end
  self.running = still
  for _, i in ipairs(again) do
    local ok, lerr, ldetails = launch(self, i)
    if not ok then return fail(self, lerr, ldetails) end
  end
  if self.q.each then
    local ok, cerr = deliver(self)
    if not ok then return fail(self, cerr, { kind = "callback" }) end
  end
  if #self.running == 0 and self.next_window > #windows then return finish(self) end
  return false
end

-- req:result() -> res, nil, info | nil, message, details (nil while running).
function Range:result()
  check_range(self, "result")
  if not self.done then return nil end
  return self.value, self.err, self.details
end

-- req:cancel(): frees every window's transfer at once.
function Range:cancel()
  check_range(self, "cancel")
  for _, r in ipairs(self.running) do r.req:cancel() end
  self.running = {}
  self.results = {}
  if not self.done then conclude(self, nil, "cancelled", { kind = "aborted", windows = #self.windows }) end
end
Range.close = Range.cancel
Range.__close = Range.cancel

-- req:wait() -> { sockets, timeout, ready }, as for one request: the
-- client's sockets, the nearest timeout of the windows, ready when a
-- window has bytes buffered, a retry is due or a window waits to start.
function Range:wait()
  check_range(self, "wait")
  if self.done then return { sockets = {}, timeout = 0, ready = true } end
  local ready, timeout = #self.running < self.concurrency and self.next_window <= #self.windows
    and not (self.q.each and self.next_window - self.next_deliver >= self.concurrency), nil
  for _, r in ipairs(self.running) do
    local w = r.req:wait()
    if w.ready then ready = true end
    if w.timeout and (not timeout or w.timeout < timeout) then timeout = w.timeout end
  end
  return { sockets = self.client._multi:sockets(), timeout = timeout, ready = ready }
end

-- Runs to the end, waiting on the client's sockets between steps.
function Range:run()
  check_range(self, "run")
  while not self:step() do
    if #self.running > 0 then self.client._multi:poll(0.05) end
  end
  return self:result()
end

function Range:__tostring()
  return format("sentry.chunks.fetch_range (%d windows, %s)", #self.windows,
    self.done and (self.err and "failed" or "done") or "running")
end

-- start(client, q, span) -> a range request (see Range) | nil, message,
-- details. q: project, profiler_id, org, window = 2400, concurrency = 4,
-- retries = 2; span from M.span.
function M.start(client, q, span)
  local window, concurrency, retries = q.window or M.DEFAULT_WINDOW, q.concurrency or 4, q.retries or 2
  if q.each ~= nil and type(q.each) ~= "function" then
    error(format("bad argument #1 to 'fetch_range' (field 'each': function expected, got %s)", type(q.each)), 3)
  end
  if q.layout ~= nil and q.layout ~= "rows" and q.layout ~= "columns" then
    error(format("bad argument #1 to 'fetch_range' (field 'layout': 'rows' or 'columns' expected, got %s)",
      type(q.layout) == "string" and ("'" .. q.layout:gsub("%c", "?"):sub(1, 40) .. "'") or type(q.layout)), 3)
  end
  for name, v in pairs { window = window, concurrency = concurrency, retries = retries } do
    if type(v) ~= "number" or v ~= v or v < (name == "retries" and 0 or 1) then
      error(format("bad argument #1 to 'fetch_range' (field '%s': %s expected, got %s)", name,
        name == "retries" and "a number >= 0" or "a positive number", tostring(v)), 3)
    end
  end
  return setmetatable({
    client = client, q = q, span = span, windows = M.split(span.start, span["end"], window),
    concurrency = floor(concurrency), retries = floor(retries), results = {}, received = {},
    failures = {}, next_window = 1, running = {}, done = false,
    next_deliver = 1, delivered = 0, bytes = 0, cut = {}, finished = 0,
  }, Range)
end

-- client:fetch_range{project, profiler_id, start, ["end"] | stats_period,
-- window = 2400, concurrency = 4, retries = 2 [, each]} -> answer, nil,
-- info | nil, message, details. With each = function(answer, window), the
-- windows are handed over one by one in time order as they arrive (window
-- = {index, count, start, ["end"]}) and not kept: the result is then true,
-- nil, info (for aggregate.accumulator: days of profile in bounded
-- memory). start/end: Unix seconds or ISO-8601; stats_period is
-- turned into start/end against the client's clock, once. Everything is
-- checked before any request. info = {windows, empty, truncated, start,
-- ["end"], bytes [, truncated_windows, warning]}.
function M.fetch(client, q)
  if type(q) ~= "table" then argerror(1, "fetch_range", "table", q) end
  local span, err, details = M.span(q, os.time(), "fetch_range")
  if span == nil then return nil, err, details end
  if not span then
    return invalid("start", "fetch_range needs a range: start and end (Unix seconds or ISO-8601), or stats_period")
  end
  local req
  req, err, details = M.start(client, q, span)
  if not req then return nil, err, details end
  return req:run()
end

return M
