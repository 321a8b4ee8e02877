-- Every analysis function and export gives the same result on samples in
-- rows and in columns (issue 13, section 2), on the real profiles and on
-- generated data; filters give back the layout they were given.
local chunks = require "sentry.chunks"
local analysis = require "sentry.chunks.analysis"
local range = require "sentry.chunks.range"
local nvim_analyze = require "sentry.chunks.nvim.analyze"
local gen = require "gen"

local compare = require "support.compare"
local fixture_text, same, assert_same = compare.fixture_text, compare.same, compare.assert_same

local function is_columns(res)
  local s = (res.chunk or res).profile.samples
  return s.n ~= nil and s[1] == nil
end

local function generated()
  local cs = {}
  for k = 0, 2 do cs[#cs + 1] = gen.chunk_table { index = k, threads = 4, hz = 101, seed = 21, duration = 8 } end
  return gen.encode(gen.answer(cs))
end

local function pick_function(res)
  local top = analysis.top(res, { limit = 10 })
  local f = top.functions[math.min(4, #top.functions)]
  return (f.name:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

-- Every analysis of one answer, as a table of results (each result a
-- value, or {nil, message} for a nil, message answer).
local function everything(res)
  local out = {}
  local function put(name, ...) out[name] = { ... } end
  put("top", analysis.top(res))
  put("top_durations", analysis.top(res, { durations = true }))
  put("top_textbook", analysis.top(res, { mode = "textbook", durations = true }))
  put("top_slowest", analysis.top(res, { slowest = true }))
  local main = analysis.main_thread(res)
  put("main", main)
  put("top_main_window", analysis.top(res, { threads = "main", from = analysis.threads(res)[1].first + 1,
                                           to = analysis.threads(res)[1].last - 1 }))
  put("call_trees", analysis.call_trees(res))
  put("call_trees_textbook", analysis.call_trees(res, { mode = "textbook" }))
  put("hot_paths", analysis.hot_paths(res, { limit = 50 }))
  put("compare_self", analysis.compare(res, res))
  put("threads", analysis.threads(res))
  put("weights", analysis.weights(res))
  put("summary", analysis.summary(res))
  put("folded", analysis.folded(res))
  put("folded_us", analysis.folded(res, { weight = "microseconds" }))
  put("speedscope", analysis.speedscope(res))
  put("cpuprofile", analysis.cpuprofile(res))
  put("pprof", analysis.pprof(res))
  put("perfanno", analysis.perfanno(res, { event = "microseconds" }))
  put("function_names", analysis.function_names(res))
  local each = {}
  for i, s, fr, w in analysis.each(res, { threads = "main" }) do
    each[#each + 1] = { i, s.stack_id, s.thread_id, s.timestamp, #fr, w }
  end
  put("each", each)
  local acc = analysis.aggregate.accumulator { durations = true }
  acc:add(res)
  put("accumulator", acc:top())
  put("dedupe_top", analysis.top(analysis.dedupe(res), { durations = true }))
  -- filters: the same samples; then every analysis of the filtered answer
  local pat = pick_function(res)
  for name, f in pairs {
    focus = function() return analysis.focus(res, pat) end,
    ignore = function() return analysis.ignore(res, pat) end,
    hide = function() return analysis.hide(res, pat) end,
    show = function() return analysis.show(res, pat) end,
    app_only = function() return analysis.app_only(res) end,
    remap = function() return analysis.remap_paths(res, { from = "/", to = "/x/" }) end,
    restrict = function() return analysis.restrict(res, { threads = "main" }) end,
  } do
    local r = f()
    assert.equal(is_columns(res), is_columns(r), name .. " keeps the layout")
    out["filter_" .. name] = { chunks.rows(r) }
    put(name .. "_top", analysis.top(r, { durations = true }))
    put(name .. "_textbook", analysis.top(r, { mode = "textbook" }))
    put(name .. "_trees", analysis.call_trees(r))
    put(name .. "_pprof", analysis.pprof(r))
    put(name .. "_speedscope", analysis.speedscope(r))
    put(name .. "_folded", analysis.folded(r))
  end
  put("focus_then_restrict_top", analysis.top(analysis.restrict(analysis.focus(res, pat), { threads = "main" })))
  -- the Neovim plugin's analyses
  local entry = nvim_analyze.prepare(res, nil, function() end)
  out.nvim_threads = { entry.threads, entry.main }
  local set = nvim_analyze.select(entry, "main")
  put("nvim_top", nvim_analyze.top(entry, set, "sentry", function() end))
  put("nvim_top_all", nvim_analyze.top(entry, nil, "sentry", function() end))
  put("nvim_sums", nvim_analyze._sentry_sums(entry.chunk, function() end))
  return out
end

local function check(text, label)
  local rows = assert(chunks.decode(text))
  local cols = assert(chunks.decode(text, { layout = "columns" }))
  assert.is_true(is_columns(cols))
  local a, b = everything(rows), everything(cols)
  for name, v in pairs(a) do
    local ok, why = same(v, b[name], name:match("^filter_") ~= nil)
    assert(ok, label .. ": " .. name .. ": " .. tostring(why))
  end
  for name in pairs(b) do assert(a[name] ~= nil, name) end
  -- rows converted to columns (weights cached aside) give the same too
  assert_same(a.top_durations, { analysis.top(assert(chunks.columns(rows)), { durations = true }) })
  -- and nothing was mutated: the inputs still decode the same
  assert_same(assert(chunks.decode(text)), rows)
  assert_same(assert(chunks.decode(text, { layout = "columns" })), cols)
end

describe("analysis on both layouts", function()
  it("gives identical results on generated data", function()
    check(generated(), "generated")
  end)

  for _, name in ipairs { "python_sdk_thread_pool.answer.json", "java_async_profiler_wall.answer.json" } do
    it("gives identical results on the real profile " .. name, function()
      local text = fixture_text(name)
      if not text then pending("../shared/fixtures not found") return end
      check(text, name)
    end)
  end

  it("merges windows in the first window's layout (range.merge, the plugin's merge)", function()
    local cs = {}
    for k = 0, 3 do cs[#cs + 1] = gen.chunk_table { index = k, threads = 3, hz = 101, seed = 4, duration = 5 } end
    local texts = { gen.encode(gen.answer { cs[1], cs[2] }), gen.encode(gen.answer { cs[3], cs[4] }) }
    local r = { assert(chunks.decode(texts[1])), assert(chunks.decode(texts[2])) }
    local c = { assert(chunks.decode(texts[1], { layout = "columns" })),
                assert(chunks.decode(texts[2], { layout = "columns" })) }
    local mr, mc = range.merge(r), range.merge(c)
    assert.is_false(is_columns(mr))
    assert.is_true(is_columns(mc))
    assert_same(mr, chunks.rows(mc))
    assert_same(analysis.top(mr, { durations = true }), analysis.top(mc, { durations = true }))
    -- mixed: the earliest answer's layout
    assert.is_true(is_columns(range.merge { c[1], r[2] }))
    assert_same(mr, chunks.rows(range.merge { c[1], r[2] }))
    assert_same(mr, range.merge { r[1], c[2] })
    local nr, nc = nvim_analyze.merge(r, function() end), nvim_analyze.merge(c, function() end)
    assert.is_true(is_columns(nc))
    assert_same(nr, chunks.rows(nc))
    -- the accumulator over windows of either layout
    local a1, a2 = analysis.aggregate.accumulator { durations = true }, analysis.aggregate.accumulator { durations = true }
    a1:add(r[1]) a1:add(r[2])
    a2:add(c[1]) a2:add(r[2])
    assert_same(a1:top(), a2:top())
  end)

  it("makes the lanes' arrays at their size (core.new_array), which raises on a negative or NaN size", function()
    local core = require "sentry.chunks.core"
    local t = core.new_array(1000)
    assert.equal(nil, next(t))
    for i = 1, 1000 do t[i] = i end
    assert.equal(1000, #t)
    assert.same({}, core.new_array(0))
    for _, bad in ipairs { -1, 0 / 0 } do -- NaN is not >= 0 either
      local ok, err = pcall(core.new_array, bad)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("bad argument #1 to", 1, true), err)
    end
    -- a count from data never raises: past 2^26 the room is 2^26
    assert.same({}, core.new_array(2 ^ 27))
    assert.same({}, core.new_array(1e300))
    assert.same({}, core.new_array(1 / 0))
    assert.has_error(function() core.new_array("x") end)
  end)

  it("checks the shape of an answer in columns (client.check_answer)", function()
    local check_answer = require("sentry.chunks.client").check_answer
    local ok = check_answer(assert(chunks.decode(generated(), { layout = "columns" })))
    assert.is_true(ok)
    local bad = assert(chunks.decode('{"chunk":{"profile":{"samples":[{"stack_id":0,"thread_id":"1","timestamp":1}],'
      .. '"stacks":[[0]],"frames":[{"function":"f"}]}}}', { layout = "columns" }))
    assert.is_true((check_answer(bad)))
    bad.chunk.profile.samples.n = 2
    local fits, why = check_answer(bad)
    assert.is_falsy(fits)
    assert.truthy(why:find("sample 2", 1, true), why)
    bad.chunk.profile.samples.n = 1
    bad.chunk.profile.samples.stack_id[3] = 0
    fits, why = check_answer(bad)
    assert.is_falsy(fits)
    assert.truthy(why:find("does not match n", 1, true), why)
    -- keys out of 1..n, in full columns and in columns with holes
    local text = '{"chunk":{"profile":{"samples":[{"stack_id":0,"thread_id":"1","timestamp":1},'
      .. '{"stack_id":0,"thread_id":"1","timestamp":2,"state":"x"},{"stack_id":0,"thread_id":"1","timestamp":3}],'
      .. '"stacks":[[0]],"frames":[{"function":"f"}]}}}'
    for _, spoil in ipairs {
      function(s) s.stack_id.x = 1 end, function(s) s.timestamp[2.5] = 1 end,
      function(s) s.thread_id[4] = "1" end, function(s) s.thread_id[0] = "1" end,
      function(s) s.state[9] = "y" end, function(s) s.state.y = 1 end, function(s) s.state[1.5] = 1 end,
    } do
      local v = assert(chunks.decode(text, { layout = "columns" }))
      assert.is_true((check_answer(v)))
      spoil(v.chunk.profile.samples)
      fits, why = check_answer(v)
      assert.is_falsy(fits)
      assert.truthy(why:find("does not match n = 3", 1, true), why)
    end
  end)
end)
