-- The REPL (issue 12): answers and analysis results say something when
-- printed, stay plain tables for inspect.lua / vim.inspect, and
-- client:fetch takes what the CLI takes (a project slug, statsPeriod).
local chunks = require "sentry.chunks"
local server = require "support.server"
local gen = require "gen"

local analysis, report = chunks.analysis, chunks.analysis.report
local SINGLE = server.PROFILER_IDS.single

local function answer()
  return chunks.decode(gen.encode(gen.answer {
    gen.chunk_table { index = 0, threads = 3, seed = 7 },
    gen.chunk_table { index = 1, threads = 3, seed = 7 } }))
end

-- What inspect.lua and vim.inspect need: tables of strings, numbers,
-- booleans, null and tables, no table inside itself; a metatable (only
-- __tostring, __name) on the result itself at most.
local function assert_plain(v, path, on_path, top)
  if type(v) ~= "table" then
    assert.is_true(type(v) == "string" or type(v) == "number" or type(v) == "boolean" or v == chunks.null, path)
    return
  end
  assert.is_nil(on_path[v], "a cycle at " .. path)
  local mt = getmetatable(v)
  if mt and mt ~= chunks.empty_array_mt then
    assert.is_true(top, "a metatable at " .. path)
    for k in pairs(mt) do assert.is_true(k == "__tostring" or k == "__name", k) end
  end
  on_path[v] = true
  for k, x in pairs(v) do
    assert.is_true(type(k) == "string" or type(k) == "number", path)
    assert_plain(x, path .. "." .. tostring(k), on_path, false)
  end
  on_path[v] = nil
end

describe("printing answers and results", function()
  it("chunks.summary: threads, span, samples, the top five functions", function()
    local a = answer()
    local s = chunks.summary(a)
    local threads = analysis.threads(a)
    local first = s:match("^[^\n]+")
    assert.matches("^profile chunk of profiler %x+: " .. report.count(#a.chunk.profile.samples):gsub("%p", "%%%0")
      .. " samples in " .. #threads .. " threads, [%d.]+m?s from %d%d%d%d%-%d%d%-%d%dT[%d:]+Z to ", first)
    for _, t in ipairs(threads) do assert.truthy(s:find(t.name or tostring(t.id), 1, true)) end
    local top = analysis.top(a, { limit = 5 })
    assert.truthy(s:find("showing 5 of " .. report.count(top.count) .. " functions", 1, true))
    for _, e in ipairs(top.functions) do assert.truthy(s:find(e.name, 1, true), e.name) end
    assert.equal(9, select(2, s:gsub("\n", ""))) -- 2 lines, 2 of header, a column line, 5 rows: 10 lines
    assert.has_error(function() chunks.summary(nil) end, "bad argument #1 to 'summary' (table expected, got nil)")
    local one = chunks.decode(gen.encode(gen.answer { gen.chunk_table { index = 0, threads = 1, seed = 3 } }))
    assert.matches(" samples in 1 thread, ", chunks.summary(one), 1, true)
  end)

  it("tostring of analysis results is the CLI's text; they stay plain tables", function()
    local a, b = answer(), answer()
    local top = analysis.top(a, { limit = 20 })
    assert.equal(report.top(top), tostring(top))
    assert.matches("^[%d,]+ samples, [%d.]+m?s of thread time; Sentry counting", tostring(top))
    assert.matches("\nshowing 20 of [%d,]+ functions", tostring(top))
    local trees = analysis.call_trees(a)
    assert.equal(report.tree(trees), tostring(trees))
    assert.matches("^thread ", tostring(trees))
    local hot = analysis.hot_paths(a, { limit = 3 })
    assert.matches("^#1 ", tostring(hot))
    local cmp = analysis.compare(a, b, { limit = 5 })
    assert.matches("^a: ", tostring(cmp))
    local threads = analysis.threads(a)
    assert.matches("^%s*thread%s+samples", tostring(threads))
    for name, v in pairs { top = top, trees = trees, hot = hot, cmp = cmp, threads = threads } do
      assert_plain(v, name, {}, true)
    end
    -- an argument error still names the caller's line (PUC 5.1: the
    -- wrapper's, since a pcall there would stop the slice hook's yields)
    local ok, err = pcall(function() local t = analysis.top(a, { mode = "bad" }) return t end)
    assert.is_false(ok)
    if _VERSION ~= "Lua 5.1" or type(jit) == "table" then
      assert.matches("report_spec%.lua:%d+: bad argument #2 to 'top' %(mode must be", err)
    else
      assert.matches("bad argument #2 to 'top' %(mode must be", err)
    end
    -- and they are still what the modules give
    assert.same(chunks.analysis.aggregate.top(a, { limit = 20 }), top)
    assert.is_nil(getmetatable(chunks.analysis.aggregate.top(a)))
  end)
end)

describe("client:fetch at a REPL", function()
  local srv
  setup(function() srv = server.start() end)
  teardown(function() srv.stop() end)
  local function client() return chunks.client { token = srv.token, org = "test-org", base_url = srv.url } end
  local WINDOW = { start = server.T0 + 600, ["end"] = server.T0 + 660 }

  it("an answer prints as its summary, and is otherwise unchanged", function()
    local c = client()
    local res = assert(c:fetch { project = 1, profiler_id = SINGLE, start = WINDOW.start, ["end"] = WINDOW["end"] })
    assert.equal(chunks.summary(res), tostring(res))
    assert.matches("^profile chunk of profiler " .. SINGLE, tostring(res))
    assert.same(chunks.decode(gen.encode(res)), res)
  end)

  it("takes a project slug, resolved once per client", function()
    local c = client()
    local real, project_requests = c._multi, 0
    c._multi = setmetatable({
      request = function(_, o)
        if o.url:find("/api/0/projects/", 1, true) then project_requests = project_requests + 1 end
        return real:request(o)
      end,
    }, { __index = function(_, k) return function(_, ...) return real[k](real, ...) end end })
    local by_slug = assert(c:fetch { project = "backend", profiler_id = SINGLE, start = WINDOW.start, ["end"] = WINDOW["end"] })
    local again = assert(c:fetch { project = "backend", profiler_id = SINGLE, start = WINDOW.start, ["end"] = WINDOW["end"] })
    local by_id = assert(c:fetch { project = 1, profiler_id = SINGLE, start = WINDOW.start, ["end"] = WINDOW["end"] })
    assert.equal(1, project_requests)
    assert.equal(#by_id.chunk.profile.samples, #by_slug.chunk.profile.samples)
    assert.equal(#by_id.chunk.profile.samples, #again.chunk.profile.samples)
    local q = { project = "backend", profiler_id = SINGLE, start = WINDOW.start, ["end"] = WINDOW["end"] }
    assert(c:fetch_range(q))
    assert.equal("backend", q.project) -- the caller's table is not changed
    local res, err, details = c:fetch { project = "nosuch", profiler_id = SINGLE, stats_period = "1h" }
    assert.is_nil(res)
    assert.matches("^project 'nosuch': HTTP 404", err)
    assert.equal("http", details.kind)
  end)

  it("statsPeriod is stats_period; an unknown field says which one was meant", function()
    local c = client()
    local a = assert(c:fetch { project = 1, profiler_id = SINGLE, statsPeriod = "90d", split = false })
    local b = assert(c:fetch { project = 1, profiler_id = SINGLE, stats_period = "90d", split = false })
    assert.equal(#b.chunk.profile.samples, #a.chunk.profile.samples)
    assert.has_error(function() c:fetch { project = 1, profiler_id = SINGLE, stats_perod = "1h" } end,
      "bad argument #1 to 'fetch' (unknown field 'stats_perod'; did you mean 'stats_period'?)")
    assert.has_error(function() c:fetch { project = 1, profiler_id = SINGLE, profilerId = SINGLE } end,
      "bad argument #1 to 'fetch' (unknown field 'profilerId'; did you mean 'profiler_id'?)")
    assert.has_error(function() c:fetch { project = 1, profiler_id = SINGLE, zzz = 1 } end,
      "bad argument #1 to 'fetch' (unknown field 'zzz')")
    assert.has_error(function() c:fetch { project = 1, profiler_id = SINGLE, statsPeriod = "1h", stats_period = "1h" } end,
      "bad argument #1 to 'fetch' (give stats_period or statsPeriod, not both)")
  end)

  it("fetch_range, profilers, fetch_async and chunks.client check their fields too, at the caller's line", function()
    local c = client()
    local function raised(f)
      local line = debug.getinfo(2, "l").currentline
      local ok, err = pcall(f)
      assert.is_false(ok)
      return err, line
    end
    local here = debug.getinfo(1, "S").short_src:match("[^/]+$")
    local err, line = raised(function() local r = c:fetch { project = 1, profiler_id = SINGLE, stats_perod = "1h" } return r end)
    assert.equal(here .. ":" .. line .. ": bad argument #1 to 'fetch' (unknown field 'stats_perod'; did you mean 'stats_period'?)",
      err:match("[^/]+$"))
    err, line = raised(function() local r = c:fetch { project = 1, profiler_id = 5 } return r end)
    assert.equal(here .. ":" .. line .. ": bad argument #1 to 'fetch' (field 'profiler_id': string expected, got number)",
      err:match("[^/]+$"))
    err, line = raised(function() local r = c:fetch_async { project = 1, profiler_id = SINGLE, windw = 60 } return r end)
    assert.equal(here .. ":" .. line .. ": bad argument #1 to 'fetch_async' (unknown field 'windw')", err:match("[^/]+$"))
    err, line = raised(function() local r = c:fetch_range { project = 1, profiler_id = SINGLE, stats_period = "1h", windw = 60 } return r end)
    assert.equal(here .. ":" .. line .. ": bad argument #1 to 'fetch_range' (unknown field 'windw'; did you mean 'window'?)",
      err:match("[^/]+$"))
    err, line = raised(function() local r = c:profilers { project = 1, stats_perid = "1h" } return r end)
    assert.equal(here .. ":" .. line .. ": bad argument #1 to 'profilers' (unknown field 'stats_perid'; did you mean 'stats_period'?)",
      err:match("[^/]+$"))
    err = raised(function() local r = c:profilers { project = 1, profiler_id = SINGLE } return r end)
    assert.matches("(unknown field 'profiler_id')", err, 1, true)
    err = raised(function() local r = chunks.client { tokn = "x" } return r end)
    assert.matches("bad argument #1 to 'client' (unknown option 'tokn'; did you mean 'token'?)", err, 1, true)
    -- profilers takes statsPeriod as stats_period (a bad one is its error, not the 24 h default)
    local list, perr, details = c:profilers { project = 1, statsPeriod = "soon" }
    assert.is_nil(list)
    assert.equal("stats_period", details.field, perr)
    assert(c:profilers { project = 1, statsPeriod = "7d" })
    err = raised(function() local r = c:profilers { project = 1, statsPeriod = "1h", stats_period = "1h" } return r end)
    assert.matches("give stats_period or statsPeriod, not both", err, 1, true)
  end)
end)
