-- The columns layout against rows and cjson (issue 13, section 2):
--   luajit bench/gen.lua --chunks 50 --threads 4 > /tmp/c50.json
--   lua bench/columns_bench.lua /tmp/c50.json [repeats (3)]
-- Prints, best of `repeats` (the machine may be shared): decode time of
-- chunks.decode rows, chunks.decode columns and cjson.decode; the decoded
-- answer's memory (collectgarbage("count") growth after a full collect)
-- rows vs columns; analysis.top (durations = true) on each layout. Prints
-- the targets met or missed; asserts nothing.
local chunks = require "sentry.chunks"
local analysis = require "sentry.chunks.analysis"
local ok_cjson, cjson = pcall(require, "cjson")
local targets = require "targets"

local path, repeats = arg[1], tonumber(arg[2] or "3")
assert(path, "usage: columns_bench.lua FILE [repeats]")
local f = assert(io.open(path, "rb"))
local text = f:read("*a")
f:close()

local clock = os.clock
local function full_collect() collectgarbage("collect") collectgarbage("collect") end

local function best(fn)
  local b = math.huge
  for _ = 1, repeats do
    full_collect()
    local t0 = clock()
    local v = fn()
    local t = clock() - t0
    if t < b then b = t end
    v = nil -- luacheck: ignore
  end
  return b
end

local function memory_of(fn)
  full_collect()
  local before = collectgarbage("count")
  local v = fn()
  full_collect()
  local after = collectgarbage("count")
  return (after - before) * 1024, v
end

local function mb(x) return string.format("%.1f MB", x / 1048576) end

print(string.format("%s, %s, %.1f MB of JSON, best of %d", _VERSION, type(jit) == "table" and jit.version or "PUC",
  #text / 1e6, repeats)) -- MB of text as the other benches print it

local t_rows = best(function() return assert(chunks.decode(text)) end)
local t_cols = best(function() return assert(chunks.decode(text, { layout = "columns" })) end)
local t_cjson = ok_cjson and best(function() return cjson.decode(text) end) or nil

local m_rows, rows = memory_of(function() return assert(chunks.decode(text)) end)
local n = #rows.chunk.profile.samples
local t_top_rows = best(function() return analysis.top(rows, { durations = true }) end)
rows = nil
full_collect()
local m_cols, cols = memory_of(function() return assert(chunks.decode(text, { layout = "columns" })) end)
local t_top_cols = best(function() return analysis.top(cols, { durations = true }) end)

print(string.format("samples: %d", n))
print(string.format("decode rows     %7.3f s%s", t_rows, t_cjson and string.format("  %.2fx cjson", t_cjson / t_rows) or ""))
print(string.format("decode columns  %7.3f s%s  %.2fx rows", t_cols,
  t_cjson and string.format("  %.2fx cjson", t_cjson / t_cols) or "", t_rows / t_cols))
if t_cjson then print(string.format("cjson.decode    %7.3f s", t_cjson)) end
print(string.format("memory rows     %s (%.0f bytes/sample)", mb(m_rows), m_rows / n))
print(string.format("memory columns  %s (%.0f bytes/sample)  %.2f of rows", mb(m_cols), m_cols / n, m_cols / m_rows))
print(string.format("top (durations) rows %.3f s, columns %.3f s", t_top_rows, t_top_cols))
print("targets:")
if t_cjson then
  print(string.format("  columns >= 5x cjson.decode: %.2fx  %s", t_cjson / t_cols, t_cjson / t_cols >= 5 and "met" or "missed"))
end
print(string.format("  columns memory <= 1/3 of rows: %.2f  %s", m_cols / m_rows, m_cols / m_rows <= 1 / 3 and "met" or "missed"))
local doc = path:match("[^/]*$")
if t_cjson then
  targets.add(string.format("decode, columns: %s vs cjson (%s)", doc, targets.runtime()),
    string.format("%.2fx", t_cjson / t_cols), ">= 5x", t_cjson / t_cols >= 5)
end
targets.add(string.format("columns memory / rows, %s (%s)", doc, targets.runtime()),
  string.format("%.2f", m_cols / m_rows), "<= 0.33", m_cols / m_rows <= 1 / 3)
