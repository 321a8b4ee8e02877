-- sentry.chunks.layout: the two layouts of samples, and converters.
--
-- rows (the default): profile.samples = { {stack_id =, thread_id =, timestamp =}, ... }
-- columns: profile.samples = { n = N, stack_id = {...}, thread_id = {...}, timestamp = {...} }
--   (chunks.decode(text, {layout = "columns"}) builds it: three plain arrays
--   instead of a table per sample; any other key of a sample is a column too)
--
-- rows(value) / columns(value) convert every "samples" array of an object
-- under key "profile", anywhere in value, as the decoder does. They never
-- mutate their input: the tables on the way to a converted samples are new
-- (shallow copies, keeping their metatables), every other table is shared.
-- A value with nothing to convert comes back as it is. Data that cannot be
-- converted (a sample that is not an object, a sample with the key "n")
-- gives nil, message.
local core = require("sentry.chunks.loadcore").load("sentry.chunks")

local empty_array_mt = core.empty_array_mt
-- arrays made at their known size: appended to, they end up to half empty
local new_array = core.new_array
local type, next, pairs, getmetatable, setmetatable = type, next, pairs, getmetatable, setmetatable

local M = {}

-- Whether t (a samples value) is in the columns layout.
local function is_columns(t)
  return type(t) == "table" and t.n ~= nil and t[1] == nil and type(t.stack_id) == "table"
end
M.is_columns = is_columns

local function shallow(t)
  local c = {}
  for k, v in next, t do c[k] = v end
  return setmetatable(c, getmetatable(t))
end

local function to_columns(rows)
  local n = #rows
  local sid, tid, ts = new_array(n), new_array(n), new_array(n)
  local h = { n = n, stack_id = sid, thread_id = tid, timestamp = ts }
  for i = 1, n do
    local s = rows[i]
    if type(s) ~= "table" or s[1] ~= nil or getmetatable(s) == empty_array_mt then
      return nil, "columns layout: a sample is not an object"
    end
    sid[i], tid[i], ts[i] = s.stack_id, s.thread_id, s.timestamp
    for k, v in next, s do
      if k ~= "stack_id" and k ~= "thread_id" and k ~= "timestamp" then
        if k == "n" then return nil, 'columns layout: a sample has the key "n" (the holder\'s count)' end
        local col = h[k]
        if col == nil then col = {}; h[k] = col end
        col[i] = v
      end
    end
  end
  if n == 0 then
    setmetatable(sid, empty_array_mt); setmetatable(tid, empty_array_mt); setmetatable(ts, empty_array_mt)
  end
  return h
end

local function to_rows(h)
  local n = h.n
  local rows = {}
  local cols, names = {}, {}
  for k, v in next, h do
    if k ~= "n" then names[#names + 1] = k; cols[#cols + 1] = v end
  end
  local nc = #cols
  for i = 1, n do
    local s = {}
    for j = 1, nc do
      local v = cols[j][i]
      if v ~= nil then s[names[j]] = v end
    end
    rows[i] = s
  end
  if n == 0 then setmetatable(rows, empty_array_mt) end
  return rows
end

-- Converts the samples under t; returns t itself when nothing changed.
local function convert(t, want_columns, is_profile)
  local out
  for k, v in next, t do
    if type(v) == "table" then
      local nv, err
      if is_profile and k == "samples" then
        if want_columns then
          -- only an array is samples in rows (an object is other data)
          if is_columns(v) then nv = v
          elseif v[1] == nil and getmetatable(v) ~= empty_array_mt then nv, err = convert(v, true, false)
          else nv, err = to_columns(v) end
        else
          if is_columns(v) then nv = to_rows(v)
          elseif v[1] == nil and getmetatable(v) ~= empty_array_mt then nv, err = convert(v, false, false)
          else nv = v end
        end
        if nv == nil then return nil, err end
      else -- (a table shaped like columns elsewhere is only data)
        nv, err = convert(v, want_columns, k == "profile")
        if nv == nil then return nil, err end
      end
      if nv ~= v then
        out = out or shallow(t)
        out[k] = nv
      end
    end
  end
  return out or t
end

local KNOWN = { stack_id = true, thread_id = true, timestamp = true, n = true }
-- samples in rows -> {columns, n, first row, last row}: the columns are
-- built again when the array's length or its end rows change
local built = setmetatable({}, { __mode = "k" })

-- columns_of(samples) -> the samples in columns: {n =, stack_id =,
-- thread_id =, timestamp =, [any other key of a sample] = ...}. Samples in
-- columns come back as they are; samples in rows are read once into new
-- columns, cached while the rows live (so they are read as immutable: an
-- array whose length or end rows change is read again). The one way the
-- analysis, the range merger and dedupe read samples. Read only. slice,
-- when given, is called every 16,384 rows read (the analyses' hook: a
-- host's loop yields there; 1.2 M rows took 150 ms on LuaJIT).
function M.columns_of(ss, slice)
  if is_columns(ss) then return ss end
  local n = #ss
  local b = built[ss]
  if b and b[2] == n and b[3] == ss[1] and b[4] == ss[n] then return b[1] end
  -- each made on a slice of its own: 1.2 M slots are 25 ms of fresh pages
  local sid = new_array(n)
  if slice then slice() end
  local tid = new_array(n)
  if slice then slice() end
  local ts = new_array(n)
  local c = { n = n, stack_id = sid, thread_id = tid, timestamp = ts }
  for i = 1, n do
    if slice and i % 16384 == 0 then slice() end
    local s = ss[i]
    sid[i], tid[i], ts[i] = s.stack_id, s.thread_id, s.timestamp
    for k, v in next, s do
      if not KNOWN[k] then
        local col = c[k]
        if col == nil then col = {} c[k] = col end
        col[i] = v
      end
    end
  end
  built[ss] = { c, n, ss[1], ss[n] }
  return c
end

-- row(c, i) -> sample i of columns c as a new table.
function M.row(c, i)
  local s = {}
  for k, col in next, c do
    if k ~= "n" then s[k] = col[i] end
  end
  return s
end

-- pick(ss, from, to [, list [, slice]]) -> samples ss[list[from]] ..
-- ss[list[to]] (list: indices; without it from .. to), new, in the layout
-- of ss (rows share their sample tables). slice, when given, is called
-- every 16,384 samples (the analyses' hook: Neovim yields there).
function M.pick(ss, from, to, list, slice)
  local out = {}
  if is_columns(ss) then
    local n = 0
    for k, col in next, ss do
      if k ~= "n" then
        local o = {}
        n = 0
        for j = from, to do
          n = n + 1
          o[n] = col[list and list[j] or j]
          if slice and n % 16384 == 0 then slice() end
        end
        out[k] = o
      end
    end
    out.n = to >= from and to - from + 1 or 0
  else
    local n = 0
    for j = from, to do
      n = n + 1
      out[n] = ss[list and list[j] or j]
      if slice and n % 16384 == 0 then slice() end
    end
  end
  return out
end

local function check(v, fname)
  if type(v) ~= "table" then
    error(("bad argument #1 to '%s' (table expected, got %s)"):format(fname, type(v)), 3)
  end
end

-- columns(value) -> value with every profile's samples in columns | nil, message
function M.columns(v)
  check(v, "columns")
  return convert(v, true, false)
end

-- rows(value) -> value with every profile's samples in rows
function M.rows(v)
  check(v, "rows")
  return convert(v, false, false)
end

return M
