-- The per-sample passes done in C (src/lanes.c: core.lanes,
-- core.stack_sums and core.stack_runs; src/engine.c: the call-tree engine reading the samples
-- as they are) give exactly what the Lua code gives for the same samples,
-- on the real profiles and on generated data, and decline (nil) whatever
-- they leave to the Lua code. A host's slice function makes the analysis
-- take the Lua path (its view, fed to the engine in runs it makes), so
-- each comparison below runs both.
local chunks = require "sentry.chunks"
local core = require "sentry.chunks.core"
local analysis = require "sentry.chunks.analysis"
local samples = require "sentry.chunks.analysis.samples"
local aggregate = require "sentry.chunks.analysis.aggregate"
local compare = require "support.compare"
local gen = require "gen"

local assert_same = compare.assert_same
local noop = function() end

local function with_slice(opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.slice = noop
  return o
end

local function generated()
  local cs = {}
  for k = 0, 2 do cs[#cs + 1] = gen.chunk_table { index = k, threads = 4, hz = 101, seed = 33, duration = 6 } end
  return gen.encode(gen.answer(cs))
end

local SOURCES = {
  { "generated, 3 chunks", generated },
  { "real Python profile", function() return compare.fixture_text("python_sdk_thread_pool.answer.json") end },
  { "real Java profile", function() return compare.fixture_text("java_async_profiler_wall.answer.json") end },
}

-- The sums the analysis takes from C for this answer (nil: declined):
-- from the rows themselves or from the columns.
local function c_sums(res)
  return aggregate._sid_sums(res.chunk or res, {}, "sentry")
end

for _, source in ipairs(SOURCES) do
  local name, text_of = source[1], source[2]
  for _, layout in ipairs { "rows", "columns" } do
    describe("C sample passes, " .. name .. ", " .. layout, function()
      local res
      setup(function()
        local text = text_of()
        if text then res = assert(chunks.decode(text, { layout = layout })) end
      end)

      local function need()
        if not res then pending("fixture absent (../shared/fixtures)") end
        return res
      end

      it("takes the C path here (a decline would make the comparisons below compare Lua with Lua)", function()
        if not need() then return end
        assert.is_not_nil(c_sums(res))
        local c = samples.columns_of(res.chunk)
        if not jit then assert.is_not_nil(core.lanes(c.thread_id, c.timestamp, c.n)) end
      end)

      it("top (the engine reading the samples as they are): equal to the engine fed the Lua view", function()
        if not need() then return end
        assert.is_true(aggregate._feeds_samples(res.chunk))
        for _, o in ipairs { {}, { durations = true }, { slowest = true }, { sort = "total", limit = 7, durations = true } } do
          assert_same(analysis.top(res, o), analysis.top(res, with_slice(o)), true)
        end
      end)

      it("top and the accumulator: the engine's feed in Lua (LuaJIT's) equal to the one in C", function()
        if not need() then return end
        local was = aggregate._feed_in_lua
        local got = {}
        for _, in_lua in ipairs { false, true } do
          aggregate._feed_in_lua = in_lua
          assert.is_true(aggregate._feeds_samples(res.chunk))
          local acc = aggregate.accumulator { durations = true }
          acc:add(res)
          acc:add(res) -- the second answer's first samples weigh the first's last
          got[#got + 1] = { analysis.top(res, { durations = true }), analysis.top(res, { slowest = true }), acc:top() }
        end
        aggregate._feed_in_lua = was
        assert_same(got[1], got[2], true)
      end)

      it("accumulator over the samples, answer by answer: equal to the one over views (folded = true keeps views)", function()
        if not need() then return end
        -- the answer cut in three windows of its time, each thread's last
        -- sample in a window carried into the next
        local threads = analysis.threads(res)
        local from, to = math.huge, -math.huge
        for _, t in ipairs(threads) do from, to = math.min(from, t.first), math.max(to, t.last) end
        local cut1, cut2 = from + (to - from) / 3, from + 2 * (to - from) / 3
        local c = samples.columns_of(res.chunk)
        local parts = { {}, {}, {} }
        for i = 1, c.n do
          local t = c.timestamp[i]
          local p = t < cut1 and 1 or (t < cut2 and 2 or 3)
          parts[p][#parts[p] + 1] = i
        end
        local layout_mod = require "sentry.chunks.layout"
        local runs_acc = aggregate.accumulator { durations = true }
        local view_acc = aggregate.accumulator { durations = true, folded = true }
        for _, list in ipairs(parts) do
          local picked = layout_mod.pick(res.chunk.profile.samples, 1, #list, list)
          local answer = { chunk = samples.with_profile(res.chunk, { samples = picked }) }
          assert.is_true(aggregate._feeds_samples(answer.chunk))
          runs_acc:add(answer)
          view_acc:add(answer)
        end
        local a, b = runs_acc:top(), view_acc:top()
        assert_same(a, b, true)
        assert.is_true(#a.functions > 0)
      end)

      it("accumulator{slice = fn} calls fn while it maps an answer's stacks, and adds up the same", function()
        if not need() then return end
        local calls = 0
        local sliced = aggregate.accumulator { slice = function() calls = calls + 1 end }
        local plain = aggregate.accumulator()
        sliced:add(res)
        plain:add(res)
        assert.equal(math.floor(#res.chunk.profile.stacks / 64), calls)
        sliced:add(res) -- the same stacks again: their map is reused, nothing to slice
        plain:add(res)
        assert.equal(math.floor(#res.chunk.profile.stacks / 64), calls)
        assert_same(plain:top(), sliced:top(), true)
        local ok, err = pcall(aggregate.accumulator, { slice = 1 })
        assert.is_false(ok)
        assert.truthy(err:find("bad argument #1 to 'accumulator' (field 'slice': function expected, got number)", 1, true), err)
      end)

      it("stack_sums reads rows and columns alike", function()
        if not need() then return end
        local c = samples.columns_of(res.chunk)
        local nstacks = #res.chunk.profile.stacks
        local order, per = core.stack_sums(c.thread_id, c.timestamp, c.stack_id, c.n, nstacks)
        local rows = chunks.rows(res).chunk.profile.samples
        local order2, per2 = core.stack_sums(rows, #rows, nstacks)
        assert_same(order, order2)
        assert_same(per, per2)
      end)

      it("lanes: equal to the Lua passes", function()
        if not need() then return end
        local c = samples.columns_of(res.chunk)
        assert_same(core.lanes(c.thread_id, c.timestamp, c.n), samples.lanes(res.chunk, noop), true)
      end)

      it("call_trees, hot_paths, folded and pprof: equal to the Lua view's", function()
        if not need() then return end
        assert_same(analysis.call_trees(res), analysis.call_trees(res, with_slice()), true)
        assert_same(analysis.hot_paths(res, { limit = 50 }), analysis.hot_paths(res, with_slice { limit = 50 }), true)
        assert.equal(analysis.folded(res, with_slice()), analysis.folded(res))
        assert.equal(analysis.folded(res, with_slice { thread_root = true }), analysis.folded(res, { thread_root = true }))
        assert.equal(analysis.pprof(res, with_slice()), analysis.pprof(res))
      end)

      it("speedscope (from core.stack_runs): equal to the Lua view's, text and table", function()
        if not need() then return end
        assert.is_not_nil(aggregate._sid_runs(res.chunk, {}, "sentry"))
        assert.equal(analysis.speedscope(res, with_slice()), analysis.speedscope(res))
        assert_same(analysis.speedscope(res, with_slice { table = true }), analysis.speedscope(res, { table = true }), true)
      end)

      it("stack_runs: per thread, the lanes' counted samples in runs of one stack id, microseconds rounded per sample", function()
        if not need() then return end
        local order, runs = aggregate._sid_runs(res.chunk, {}, "sentry")
        local lanes = samples.lanes(res.chunk, noop)
        local sids = samples.columns_of(res.chunk).stack_id
        local us = require("sentry.chunks.analysis.export")._us
        assert_same(lanes.order, order, true)
        local merged = 0
        for k, tid in ipairs(order) do
          local lane, want_sid, want_us = lanes[tid], {}, {}
          for j = 1, #lane.idx do
            if not lane.last[j] then
              local sid = sids[lane.idx[j]]
              if want_sid[#want_sid] == sid and j > 1 and not lane.last[j - 1] then
                want_us[#want_us] = want_us[#want_us] + us(lane.w[j])
                merged = merged + 1
              else
                want_sid[#want_sid + 1], want_us[#want_us + 1] = sid, us(lane.w[j])
              end
            end
          end
          assert_same(want_sid, runs[k].sid, true)
          assert_same(want_us, runs[k].us, true)
        end
        assert.is_true(merged > 0) -- runs of more than one sample were met
        local rows = chunks.rows(res).chunk.profile.samples
        local c = samples.columns_of(res.chunk)
        local o2, r2 = core.stack_runs(rows, #rows, #res.chunk.profile.stacks)
        local o3, r3 = core.stack_runs(c.thread_id, c.timestamp, c.stack_id, c.n, #res.chunk.profile.stacks)
        assert_same(runs, r2, true)
        assert_same(runs, r3, true)
        assert_same(order, o2, true)
        assert_same(order, o3, true)
      end)

      it("stack_sums: per thread, the sums of the lanes' counted samples", function()
        if not need() then return end
        local order, per = c_sums(res)
        local lanes = samples.lanes(res.chunk, noop)
        local sids = samples.columns_of(res.chunk).stack_id
        assert_same(lanes.order, order, true)
        for k, tid in ipairs(order) do
          local lane, want_w, want_n, first_seen, time, counted = lanes[tid], {}, {}, {}, 0, 0
          for j = 1, #lane.idx do
            time = time + lane.w[j]
            if not lane.last[j] then
              local sid = sids[lane.idx[j]]
              if not want_w[sid] then first_seen[#first_seen + 1] = sid end
              want_w[sid], want_n[sid] = (want_w[sid] or 0) + lane.w[j], (want_n[sid] or 0) + 1
              counted = counted + 1
            end
          end
          local got = per[k]
          assert_same(first_seen, got.sid, true)
          for e, sid in ipairs(got.sid) do
            assert_same(want_w[sid], got.w[e])
            assert_same(want_n[sid], got.count[e])
          end
          assert_same(time, got.time)
          assert.equal(counted, got.samples)
          if counted > 0 then
            assert_same(lane.ts[1], got.first)
            assert_same(lane.ts[#lane.ts], got.last)
          end
        end
      end)
    end)
  end
end

describe("C sample passes decline what the Lua code decides", function()
  -- thread "a": three samples; thread "b": two
  local function cols()
    return { n = 5, stack_id = { 0, 1, 0, 1, 0 }, thread_id = { "a", "b", "a", "a", "b" },
             timestamp = { 10.0, 10.0, 10.5, 11.25, 12.0 } }
  end
  -- the engine's pass declines what stack_sums declines, having fed
  -- nothing: its thread tables stay empty
  local function engine_feeds(c, nstacks)
    local e, threads, order = core.engine(true), {}, {}
    local map = {}
    for i = 1, nstacks do map[i] = e:record(i, { i }, { 0 }, { false }, 1) end
    e:stacks(map, nstacks)
    local time = e:feed_samples(threads, order, true, c.thread_id, c.timestamp, c.stack_id, c.n, nstacks)
    if time == nil then
      assert.same({}, threads)
      assert.same({}, order)
      for _, n in ipairs(e:counts()) do assert.equal(0, n) end
    end
    return time ~= nil
  end
  -- whether top's feed takes the samples, in Lua and in C, as columns
  -- and as rows: the four answers agree
  local function lua_feeds(c, nstacks)
    local got = {}
    local was = aggregate._feed_in_lua
    for _, in_lua in ipairs { false, true } do
      aggregate._feed_in_lua = in_lua
      local rows = {}
      for i = 1, c.n do rows[i] = { thread_id = c.thread_id[i], timestamp = c.timestamp[i], stack_id = c.stack_id[i] } end
      local stacks = {}
      for i = 1, nstacks do stacks[i] = { 0 } end
      for _, ss in ipairs { c, rows } do
        got[#got + 1] = aggregate._feeds_samples { profile = { samples = ss, stacks = stacks, frames = { { ["function"] = "f" } } } }
      end
    end
    aggregate._feed_in_lua = was
    assert.same({ got[1], got[1], got[1] }, { got[2], got[3], got[4] })
    return got[1]
  end
  local function run(c, nstacks)
    local lanes = core.lanes(c.thread_id, c.timestamp, c.n)
    local order = core.stack_sums(c.thread_id, c.timestamp, c.stack_id, c.n, nstacks or 2)
    local feeds = engine_feeds(c, nstacks or 2)
    assert.equal(order ~= nil, feeds)
    if type(c.n) == "number" and c.n == c.n and c.n >= 0 and c.n < 1e6 and c.n == math.floor(c.n) then
      assert.equal(feeds, lua_feeds(c, nstacks or 2))
    end
    -- stack_runs reads as the engine does
    assert.equal(feeds, core.stack_runs(c.thread_id, c.timestamp, c.stack_id, c.n, nstacks or 2) ~= nil)
    return lanes, order
  end

  it("sums a small profile by hand", function()
    local order, per = core.stack_sums(cols().thread_id, cols().timestamp, cols().stack_id, 5, 2)
    assert.same({ "a", "b" }, order)
    -- a: samples 1 and 3 (stack 0) weigh 0.5 s and 0.75 s; its last
    -- (sample 4, stack 1) is no sample
    assert.same({ 0 }, per[1].sid)
    assert.same({ 1250000000 }, per[1].w)
    assert.same({ 2 }, per[1].count)
    assert.equal(1250000000, per[1].time)
    assert.equal(2, per[1].samples)
    assert.equal(10000000000, per[1].first)
    assert.equal(11250000000, per[1].last)
    assert.same({ 1 }, per[2].sid)
    assert.same({ 2000000000 }, per[2].w)
    if math.type then assert.equal("integer", math.type(per[1].w[1])) end
    local lanes = core.lanes(cols().thread_id, cols().timestamp, 5)
    assert.same({ 1, 3, 4 }, lanes.a.idx)
    assert.same({ 500000000, 750000000, 0 }, lanes.a.w)
    assert.same({ [3] = true }, lanes.a.last)
  end)

  it("runs a small profile by hand", function()
    local c = cols()
    local order, runs = core.stack_runs(c.thread_id, c.timestamp, c.stack_id, 5, 2)
    assert.same({ "a", "b" }, order)
    -- a: samples 1 and 3 (stack 0) weigh 500000 and 750000 us, one run
    assert.same({ sid = { 0 }, us = { 1250000 } }, runs[1])
    assert.same({ sid = { 1 }, us = { 2000000 } }, runs[2])
    if math.type then assert.equal("integer", math.type(runs[1].us[1])) end
    -- a stack that comes back after another is a new run
    c.stack_id[3] = 1
    c.stack_id[4] = 0
    order, runs = core.stack_runs(c.thread_id, c.timestamp, c.stack_id, 5, 2)
    assert.same({ sid = { 0, 1 }, us = { 500000, 750000 } }, runs[1])
  end)

  it("stack_runs rounds each sample's weight to microseconds before the sum, half up", function()
    -- 476 and 477 ns: 0 us each (953 ns rounded once would be 1 us)
    local c = { thread_id = { 1, 1, 1 }, timestamp = { 1, 1 + 2 ^ -21, 1 + 2 ^ -20 }, stack_id = { 0, 0, 0 } }
    local _, runs = core.stack_runs(c.thread_id, c.timestamp, c.stack_id, 3, 1)
    assert.same({ sid = { 0 }, us = { 0 } }, runs[1])
    -- about 500 ns each: as Lua's floor(ns / 1000 + 0.5), per sample
    c.timestamp = { 1, 1.0000005, 1.000001 }
    local want = 0
    for j = 1, 2 do
      want = want + math.floor((math.floor(c.timestamp[j + 1] * 1e9) - math.floor(c.timestamp[j] * 1e9)) / 1000 + 0.5)
    end
    _, runs = core.stack_runs(c.thread_id, c.timestamp, c.stack_id, 3, 1)
    assert.same({ sid = { 0 }, us = { want } }, runs[1])
    assert.is_true(want >= 1)
  end)

  it("a thread out of time order: nil, and the Lua path sorts it", function()
    local c = cols()
    c.timestamp[3] = 9.0 -- a: 10.0, 9.0, 11.25
    local lanes, order = run(c)
    assert.is_nil(lanes)
    assert.is_nil(order)
    local chunk = { profile = { samples = c, stacks = { { 0 }, { 1 } }, frames = { { ["function"] = "f" }, { ["function"] = "g" } } } }
    assert.same({ 3, 1, 4 }, samples.lanes(chunk).a.idx)
    local trees = analysis.call_trees(chunk)
    assert.near(2.25, trees.a.total, 1e-9)
  end)

  it("a thread id Lua cannot key (nil, NaN): nil", function()
    local c = cols()
    c.thread_id[2] = nil
    assert.is_nil((run(c)))
    assert.is_nil(select(2, run(c)))
    c = cols()
    c.thread_id[2] = 0 / 0
    assert.is_nil((run(c)))
    assert.is_nil(select(2, run(c)))
  end)

  it("a timestamp that is not a number, or whose nanoseconds no integer holds: nil", function()
    for _, bad in ipairs { "10.5", true, 0 / 0, 1 / 0, 1e12 } do
      local c = cols()
      c.timestamp[3] = bad
      local lanes, order = run(c)
      assert.is_nil(lanes, tostring(bad))
      assert.is_nil(order, tostring(bad))
    end
  end)

  it("a counted sample's stack id outside [0, nstacks) or not whole: nil from stack_sums only", function()
    for _, bad in ipairs { 2, -1, 0.5, "0", 0 / 0 } do
      local c = cols()
      c.stack_id[1] = bad
      local lanes, order = run(c)
      assert.is_not_nil(lanes)
      assert.is_nil(order, tostring(bad))
    end
    -- a thread's last sample is no sample: stack_sums never reads its
    -- stack id; the engine does (it may wait for the next answer)
    local c = cols()
    c.stack_id[4] = "anything"
    assert.is_not_nil(core.stack_sums(c.thread_id, c.timestamp, c.stack_id, c.n, 2))
    assert.is_false(engine_feeds(c, 2))
    assert.is_false(lua_feeds(c, 2))
  end)

  it("rows: a row that is not a table, or misses a field: nil", function()
    local rows = { { thread_id = "a", timestamp = 1.0, stack_id = 0 },
                   { thread_id = "a", timestamp = 2.0, stack_id = 0 },
                   { thread_id = "a", timestamp = 3.0, stack_id = 0 } }
    assert.is_not_nil(core.stack_sums(rows, 3, 1))
    for _, bad in ipairs { "x", { thread_id = "a", timestamp = 2.0 }, { timestamp = 2.0, stack_id = 0 },
                            setmetatable({}, { __index = rows[2] }) } do
      local copy = { rows[1], bad, rows[3] }
      assert.is_nil(core.stack_sums(copy, 3, 1))
      local was = aggregate._feed_in_lua
      for _, in_lua in ipairs { false, true } do -- top's feed reads rows raw, in Lua as in C
        aggregate._feed_in_lua = in_lua
        local chunk = { profile = { samples = copy, stacks = { { 0 } }, frames = { { ["function"] = "f" } } } }
        assert.is_false(aggregate._feeds_samples(chunk))
      end
      aggregate._feed_in_lua = was
    end
  end)

  it("a count that is not a whole number in range: nil", function()
    for _, n in ipairs { -1, 2.5, 0 / 0, 1 / 0, "5" } do
      local c = cols()
      assert.is_nil(core.lanes(c.thread_id, c.timestamp, n))
      assert.is_nil(core.stack_sums(c.thread_id, c.timestamp, c.stack_id, n, 2))
      assert.is_nil(core.stack_sums(c.thread_id, c.timestamp, c.stack_id, 5, n))
    end
  end)

  it("no samples: no threads", function()
    assert.same({ order = {} }, core.lanes({}, {}, 0))
    local o, r = core.stack_runs({}, {}, {}, 0, 0)
    assert.same({}, o)
    assert.same({}, r)
    local order, per = core.stack_sums({}, {}, {}, 0, 0)
    assert.same({}, order)
    assert.same({}, per)
  end)

  it("many threads: each its own lane", function()
    local n, c = 3000, { thread_id = {}, timestamp = {}, stack_id = {} }
    for i = 1, n do c.thread_id[i], c.timestamp[i], c.stack_id[i] = "t" .. (i % 1000), 1 + i / 100, i % 7 end
    local lanes = core.lanes(c.thread_id, c.timestamp, n)
    local order, per = core.stack_sums(c.thread_id, c.timestamp, c.stack_id, n, 7)
    assert.equal(1000, #lanes.order)
    assert.equal(1000, #order)
    assert.same({ 1000, 2000, 3000 }, lanes.t0.idx)
    assert.equal(2, per[1].samples)
  end)

  it("a wrong argument type raises", function()
    assert.has_error(function() core.lanes(nil, {}, 0) end)
    assert.has_error(function() core.stack_sums({}, {}, "x", 0, 0) end)
    assert.has_error(function() core.stack_runs({}, {}, "x", 0, 0) end)
    assert.has_error(function() core.stack_runs("x", 0, 0) end)
  end)
end)
