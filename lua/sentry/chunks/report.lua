-- sentry.chunks.report: analysis results as people read them, shared by
-- bin/sentry-chunks and the REPL (tostring of answers and results).
--
--   report.duration(s)          "596.35s", "41.20ms", "12.50us", "0"
--   report.count(n)             "1,347"
--   report.summary(answer)      threads, span, samples and the top five
--   report.top(top [, opts])    the CLI's table (header, flat, flat%, sum%,
--                               cum, cum%, samples, function)
--   report.compare(cmp), report.tree(trees [, opts]), report.hot(paths),
--   report.threads(list)        the same for the other results
--   report.rows(kind, result [, opts]) -> columns, rows: the documented
--                               columns of --format json|csv|tsv
--   report.render(columns, rows, format) -> text (json, csv or tsv)
--   report.mark(kind, result)   sets a metatable whose __tostring is the
--                               text above (the result stays a plain table)
-- Nothing here mutates its input.
local M = {}

local format, concat, floor = string.format, table.concat, math.floor
local type, pairs, ipairs, tostring = type, pairs, ipairs, tostring

-- Edit distance of two short names, for "did you mean".
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

-- The closest of the names (keys of a table, or a list), within a third of
-- the name's length (at least 2 edits; at most max when given), or one the
-- start of the other.
function M.closest(name, names, max)
  local list = {}
  if names[1] ~= nil then list = names else for k in pairs(names) do list[#list + 1] = k end end
  local lname = name:lower():gsub("_", "")
  local best, best_d
  for _, k in ipairs(list) do
    if type(k) == "string" then
      local lk = k:lower():gsub("_", "")
      local d = distance(lname, lk)
      if #lname >= 3 and (lk:sub(1, #lname) == lname or lname:sub(1, #lk) == lk) then d = math.min(d, 1) end
      if not best_d or d < best_d or (d == best_d and k < best) then best, best_d = k, d end
    end
  end
  if best_d and best_d <= (max or math.max(2, floor(#name / 3))) then return best end
  return nil
end

-- Durations scaled as pprof prints them.
function M.duration(s)
  if type(s) ~= "number" or s ~= s then return "-" end
  local a = math.abs(s)
  if a == 0 then return "0" end
  if a >= 1 then return format("%.2fs", s) end
  if a >= 1e-3 then return format("%.2fms", s * 1e3) end
  if a >= 1e-6 then return format("%.2fus", s * 1e6) end
  return format("%.0fns", s * 1e9)
end

-- A signed duration: "+1.20ms", "-3.00s", "0".
function M.delta(s)
  if s == 0 then return "0" end
  return (s > 0 and "+" or "") .. M.duration(s)
end

-- 1347 -> "1,347".
function M.count(n)
  if type(n) ~= "number" then return tostring(n) end
  local s = format("%d", floor(n + 0.5))
  local sign, digits = s:match("^(%-?)(%d+)$")
  digits = digits:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return sign .. digits
end

local function pct(p) return format("%.1f%%", p or 0) end

local function iso(t)
  if type(t) ~= "number" then return "-" end
  local whole = floor(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", whole)
end

-- Text columns, right-aligned but the last.
local function text_table(header, rows)
  local widths = {}
  for i, h in ipairs(header) do widths[i] = #h end
  for _, r in ipairs(rows) do
    for i, c in ipairs(r) do if #c > widths[i] then widths[i] = #c end end
  end
  local out = {}
  local function line(r)
    local parts = {}
    for i, c in ipairs(r) do
      if i == #r then parts[i] = c else parts[i] = string.rep(" ", widths[i] - #c) .. c end
    end
    out[#out + 1] = concat(parts, " ")
  end
  line(header)
  for _, r in ipairs(rows) do line(r) end
  return concat(out, "\n")
end
M.text_table = text_table

local MODE_WORDS = {
  sentry = "Sentry counting (a sample lasts until its thread's next one; each thread's last sample left out)",
  textbook = "textbook counting (a sample weighs its thread's sampling interval)",
}

-- The CLI's top table. opts: limit (rows shown; the rest are counted in
-- the header), thread (words for the header). Works on a limited result
-- too (then "of N functions" comes from top.count).
function M.top(top, opts)
  opts = opts or {}
  local list = top.functions or {}
  local shown = opts.limit and math.min(opts.limit, #list) or #list
  local all_self, shown_self = 0, 0
  for i, e in ipairs(list) do
    all_self = all_self + e.self
    if i <= shown then shown_self = shown_self + e.self end
  end
  local count = top.count or #list
  local head = { format("%s samples, %s of thread time%s; %s", M.count(top.samples), M.duration(top.time),
    opts.thread and (" in thread " .. opts.thread) or "", MODE_WORDS[top.mode] or tostring(top.mode)) }
  local share
  if count == #list then
    share = all_self > 0 and format("%.0f%% of self time", 100 * shown_self / all_self) or "no self time"
  else
    local p = 0
    for i = 1, shown do p = p + list[i].self_pct end
    share = format("%.0f%% of the thread time as self time", p)
  end
  head[2] = format("showing %s of %s functions, %s", M.count(shown), M.count(count), share)
  local rows, sum = {}, 0
  for i = 1, shown do
    local e = list[i]
    sum = sum + e.self_pct
    rows[i] = { M.duration(e.self), pct(e.self_pct), pct(sum), M.duration(e.total), pct(e.total_pct),
                M.count(e.total_samples), tostring(e.name) }
  end
  return concat(head, "\n") .. "\n" .. text_table({ "flat", "flat%", "sum%", "cum", "cum%", "samples", "function" }, rows)
end

function M.compare(cmp, opts)
  opts = opts or {}
  local list = cmp.functions or {}
  local shown = opts.limit and math.min(opts.limit, #list) or #list
  local head = format("a: %s in %s samples; b: %s in %s samples (%s counting)\nshowing %s of %s functions, "
    .. "largest change in %s time first; + is slower in b",
    M.duration(cmp.a.time), M.count(cmp.a.samples), M.duration(cmp.b.time), M.count(cmp.b.samples), cmp.mode,
    M.count(shown), M.count(cmp.count or #list), opts.sort == "total" and "total" or "self")
  local rows = {}
  for i = 1, shown do
    local r = list[i]
    rows[i] = { M.duration(r.self_a), M.duration(r.self_b), M.delta(r.self_delta),
                format("%+.1f%%", r.self_pct_delta), M.delta(r.total_delta), tostring(r.name) }
  end
  return head .. "\n" .. text_table({ "flat a", "flat b", "flat chg", "flat% chg", "cum chg", "function" }, rows)
end

-- Thread ids in a stable order: numeric ones by value.
local function sorted_ids(trees)
  local ids = {}
  for tid in pairs(trees) do ids[#ids + 1] = tid end
  table.sort(ids, function(a, b)
    local x, y = tonumber(a), tonumber(b)
    if x and y and x ~= y then return x < y end
    return tostring(a) < tostring(b)
  end)
  return ids
end

-- The call tree as depth-first rows {thread, depth, node, pct}, pruned by
-- opts.depth (levels below the thread's root) and opts.min (percent of the
-- thread's time); hidden counts the nodes left out.
local function tree_walk(trees, opts)
  opts = opts or {}
  local rows, hidden = {}, 0
  local depth, min = opts.depth, opts.min or 0
  local names = opts.names or {}
  for _, tid in ipairs(sorted_ids(trees)) do
    local root = trees[tid]
    local whole = root.total
    rows[#rows + 1] = { thread = tid, depth = 0, node = root, pct = 100, name = names[tid] }
    local function walk(node, d)
      for _, child in ipairs(node.children) do
        local p = whole > 0 and 100 * child.total / whole or 0
        if (depth and d > depth) or p < min then
          hidden = hidden + 1
        else
          rows[#rows + 1] = { thread = tid, depth = d, node = child, pct = p }
          walk(child, d + 1)
        end
      end
    end
    walk(root, 1)
  end
  return rows, hidden
end

function M.tree(trees, opts)
  local rows, hidden = tree_walk(trees, opts)
  local out = {}
  for _, r in ipairs(rows) do
    local n = r.node
    if r.depth == 0 then
      out[#out + 1] = format("thread %s%s: %s, %s samples", tostring(r.thread),
        r.name and (" (" .. r.name .. ")") or "", M.duration(n.total), M.count(n.samples))
    else
      out[#out + 1] = format("%10s %6s %10s  %s%s", M.duration(n.total), pct(r.pct), M.duration(n.self),
        string.rep("  ", r.depth - 1), tostring(n.name))
    end
  end
  if hidden > 0 then
    out[#out + 1] = format("(%s node%s hidden by --depth or --min)", M.count(hidden), hidden == 1 and "" or "s")
  end
  return concat(out, "\n")
end

function M.hot(paths, opts)
  opts = opts or {}
  local out = {}
  for i, p in ipairs(paths) do
    out[#out + 1] = format("#%d  %s  %s  %s sample%s", i, M.duration(p.time), pct(p.pct), M.count(p.samples),
      p.samples == 1 and "" or "s")
    local names = p.names
    if #names == 0 then out[#out + 1] = "      (no frames: these samples' stacks are empty)" end
    local from = 1
    if opts.frames and #names > opts.frames then
      from = #names - opts.frames + 1
      out[#out + 1] = format("      ... %d outer frames", from - 1)
    end
    for j = from, #names do
      out[#out + 1] = "      " .. string.rep(" ", j - from) .. tostring(names[j])
    end
  end
  return concat(out, "\n")
end

function M.threads(list)
  local rows = {}
  for i, t in ipairs(list) do
    rows[i] = { tostring(t.id), M.count(t.samples), M.duration(t.time), iso(t.first), iso(t.last), t.name or "-" }
  end
  return text_table({ "thread", "samples", "time", "first (UTC)", "last (UTC)", "name" }, rows)
end

-- The columns of --format json|csv|tsv, per kind, and their rows (plain
-- values: seconds as numbers, percents as numbers).
M.COLUMNS = {
  top = { "function", "package", "in_app", "self", "self_pct", "sum_pct", "total", "total_pct",
          "self_samples", "total_samples" },
  diff = { "function", "package", "in_app", "self_a", "self_b", "self_delta", "total_a", "total_b",
           "total_delta", "self_pct_a", "self_pct_b", "self_pct_delta", "total_pct_a", "total_pct_b",
           "total_pct_delta" },
  tree = { "thread", "depth", "function", "self", "total", "total_pct", "samples" },
  hot = { "rank", "time", "pct", "samples", "stack" },
  threads = { "thread", "name", "samples", "time", "first", "last" },
  profilers = { "profiler_id", "threads", "spans", "first", "last" },
}

function M.rows(kind, result, opts)
  opts = opts or {}
  local rows = {}
  if kind == "top" then
    local sum = 0
    for i, e in ipairs(result.functions) do
      if opts.limit and i > opts.limit then break end
      sum = sum + e.self_pct
      rows[i] = { ["function"] = e.name, package = e.package, in_app = e.in_app, self = e.self,
        self_pct = e.self_pct, sum_pct = sum, total = e.total, total_pct = e.total_pct,
        self_samples = e.self_samples, total_samples = e.total_samples }
    end
  elseif kind == "diff" then
    for i, r in ipairs(result.functions) do
      if opts.limit and i > opts.limit then break end
      local row = { ["function"] = r.name }
      for _, c in ipairs(M.COLUMNS.diff) do if c ~= "function" then row[c] = r[c] end end
      rows[i] = row
    end
  elseif kind == "tree" then
    for _, r in ipairs((tree_walk(result, opts))) do
      rows[#rows + 1] = { thread = r.thread, depth = r.depth, ["function"] = r.depth == 0 and "" or r.node.name,
        self = r.node.self, total = r.node.total, total_pct = r.pct, samples = r.node.samples }
    end
  elseif kind == "hot" then
    for i, p in ipairs(result) do
      rows[i] = { rank = i, time = p.time, pct = p.pct, samples = p.samples, stack = concat(p.names, ";") }
    end
  elseif kind == "threads" then
    for i, t in ipairs(result) do
      rows[i] = { thread = t.id, name = t.name, samples = t.samples, time = t.time, first = t.first, last = t.last }
    end
  elseif kind == "profilers" then
    for i, p in ipairs(result) do
      rows[i] = { profiler_id = p.profiler_id, threads = concat(p.threads, " "), spans = p.spans,
        first = p.start, last = p.finish }
    end
  end
  return M.COLUMNS[kind], rows
end

-- The shortest text that reads back as the same number.
local function num(v)
  if v == floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return format("%d", v) end
  for digits = 15, 16 do
    local s = format("%." .. digits .. "g", v)
    if tonumber(s) == v then return s end
  end
  return format("%.17g", v)
end

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    local e = { ['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
    return e[c] or format("\\u%04x", c:byte())
  end) .. '"'
end

local function cell(v, fmt)
  local t = type(v)
  if v == nil then return fmt == "json" and "null" or "" end
  if t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return fmt == "json" and "null" or "" end
    return num(v)
  end
  if t == "boolean" then return tostring(v) end
  if t ~= "string" then return fmt == "json" and "null" or "" end
  if fmt == "json" then return json_string(v) end
  if fmt == "tsv" then return (v:gsub("[\t\r\n]", " ")) end
  if v:find('[,"\r\n]') then return '"' .. v:gsub('"', '""') .. '"' end
  return v
end

-- Rows as JSON (an array of objects, keys in column order), CSV (RFC
-- 4180, a header line) or TSV (a header line; tabs and newlines in values
-- become spaces). Missing values: null / empty.
function M.render(columns, rows, fmt)
  local out = {}
  if fmt == "json" then
    for i, r in ipairs(rows) do
      local parts = {}
      for j, c in ipairs(columns) do parts[j] = json_string(c) .. ":" .. cell(r[c], "json") end
      out[i] = "{" .. concat(parts, ",") .. "}"
    end
    return "[" .. concat(out, ",\n") .. "]\n"
  end
  local sep = fmt == "tsv" and "\t" or ","
  out[1] = concat(columns, sep)
  for i, r in ipairs(rows) do
    local parts = {}
    for j, c in ipairs(columns) do parts[j] = cell(r[c], fmt) end
    out[i + 1] = concat(parts, sep)
  end
  return concat(out, "\n") .. "\n"
end

-- A few lines about an answer (or a chunk): samples, threads, span and
-- the five functions with the most self time (Sentry counting).
function M.summary(answer)
  if type(answer) ~= "table" then
    error(format("bad argument #1 to 'summary' (table expected, got %s)", type(answer)), 2)
  end
  local chunk = answer.chunk or answer
  local profile = type(chunk) == "table" and chunk.profile
  if type(profile) ~= "table" or type(profile.samples) ~= "table" then
    return "not a profile chunk (no chunk.profile.samples)"
  end
  local analysis = require "sentry.chunks.analysis"
  local threads = analysis.samples.threads(chunk)
  local first, last
  for _, t in ipairs(threads) do
    if type(t.first) == "number" and (not first or t.first < first) then first = t.first end
    if type(t.last) == "number" and (not last or t.last > last) then last = t.last end
  end
  local out = {}
  out[1] = format("profile chunk%s: %s samples in %d thread%s, %s from %s to %s",
    type(chunk.profiler_id) == "string" and (" of profiler " .. chunk.profiler_id) or "",
    M.count(analysis.samples.columns_of(chunk).n), #threads, #threads == 1 and "" or "s", first and M.duration(last - first) or "0", iso(first), iso(last))
  local names = {}
  for i, t in ipairs(threads) do
    if i > 5 then names[#names + 1] = format("and %d more", #threads - 5) break end
    names[#names + 1] = format("%s (%s)", t.name or tostring(t.id), M.count(t.samples))
  end
  out[2] = "threads: " .. (#names > 0 and concat(names, ", ") or "none")
  local top = require("sentry.chunks.aggregate").top(chunk, { limit = 5 })
  if #top.functions > 0 then
    out[3] = M.top(top)
  end
  return concat(out, "\n")
end

local MTS = {}
local function mt(kind, fn)
  MTS[kind] = { __tostring = fn, __name = "sentry.chunks." .. kind }
  return MTS[kind]
end
M.answer_mt = mt("answer", function(a) return M.summary(a) end)
mt("top", function(t) return M.top(t) end)
mt("compare", function(c) return M.compare(c) end)
mt("call_trees", function(t) return M.tree(t) end)
mt("hot_paths", function(p) return M.hot(p) end)
mt("threads", function(l) return M.threads(l) end)

-- Gives a result its __tostring (a plain table still: no other metamethod).
function M.mark(kind, result)
  if type(result) == "table" and getmetatable(result) == nil and MTS[kind] then
    setmetatable(result, MTS[kind])
  end
  return result
end

return M
