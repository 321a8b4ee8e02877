-- "sentry" counting gives Sentry's own numbers. Three checks:
--  * on the two real profiles in ../shared/fixtures/, figures that Sentry's
--    own code (getsentry/vroom's CallTrees + CollectFunctions + Quantile,
--    run on these files) gave, written down here;
--  * every row on both fixtures, on generated data and on a few hundred
--    adversarial profiles (shuffled samples, equal timestamps, empty
--    stacks, copies of a frame that disagree on in_app, frames without a
--    function name, several addresses per function, cocoa and java rules)
--    equals a slow, literal reading of that code (support.vroom_reference);
--  * the options around it: slowest, durations, unknown options, threads.
local chunks = require "sentry.chunks"
local analysis = require "sentry.chunks.analysis"
local ref = require "support.vroom_reference"
local gen = require "gen"

local function fixtures_dir()
  local source = debug.getinfo(1, "S").source:gsub("^@", "")
  local root = source:match("^(.*)/spec/[^/]*$") or "."
  return root .. "/../shared/fixtures/"
end

local function load_fixture(name)
  local f = io.open(fixtures_dir() .. name, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return assert(chunks.decode(text))
end

local function rows(result)
  local t = {}
  for _, e in ipairs(result.functions) do t[e.key] = e end
  return t
end

-- Every row of top(answer, sentry, durations) against the reference: the
-- same rows, self and total to the nanosecond, counts and percentiles
-- exact, in_app where all of a function's nodes agree.
local function assert_matches_reference(answer, label)
  local chunk = answer.chunk or answer
  local expect = ref.functions(chunk, 0)
  local top = analysis.top(answer, { mode = "sentry", durations = true })
  local got = rows(top)
  local n = 0
  for key, r in pairs(expect) do
    n = n + 1
    local e = got[key]
    assert(e, label .. ": no row " .. key)
    local function near(a, b, what) -- seconds against ns
      assert(math.abs(a * 1e9 - b) < 0.5, string.format("%s: %s %s: %.0f ns, Sentry %.0f ns", label, key, what, a * 1e9, b))
    end
    near(e.self, r.self_ns, "self")
    near(e.total, r.total_ns, "total")
    assert(e.total_samples == r.samples, label .. ": " .. key .. " samples " .. e.total_samples .. " ~= " .. r.samples)
    assert(e.occurrences == #r.durations, label .. ": " .. key .. " occurrences")
    near(e.p75, r.p75, "p75")
    near(e.p95, r.p95, "p95")
    near(e.p99, r.p99, "p99")
    got[key] = nil
  end
  assert(next(got) == nil, label .. ": a row Sentry does not have: " .. tostring(next(got)))
  -- the percentiles' pass changes nothing else
  local plain = rows(analysis.top(answer, { mode = "sentry" }))
  for _, e in ipairs(top.functions) do
    local p = plain[e.key]
    assert(p.self == e.self and p.total == e.total and p.total_samples == e.total_samples, label .. ": " .. e.key)
  end
  return n
end

-- A deterministic generator of hostile profiles (same on every Lua).
local function lcg(seed)
  local state = seed
  return function(n)
    state = (state * 48271) % 2147483647
    return state % n
  end
end

local function hostile_profile(seed)
  local r = lcg(seed)
  local fns = { "main", "run", "work", false, "loop", "parse", "alloc", "read" }
  local pkgs = { "/usr/lib/libA.dylib", "/System/Library/Frameworks/UIKit.framework/UIKit",
                 "C:\\win\\k.dll", "nodot", "a/b/", false }
  local mods = { "app.x", "lib", false, false }
  local plats = { "cocoa", "python", "java", false, false }
  local fr = {}
  for i = 1, 30 do
    local f = { lineno = r(50) + 1 }
    f["function"] = fns[r(#fns) + 1] or nil
    f.module = mods[r(#mods) + 1] or nil
    f.package = pkgs[r(#pkgs) + 1] or nil
    if r(3) == 0 then f.filename = "file" .. r(3) .. ".c" end
    if r(2) == 0 then f.instruction_addr = string.format("0x%x", r(4)) end
    local k = r(3)
    if k == 0 then f.in_app = true elseif k == 1 then f.in_app = false else f.in_app = chunks.null end
    f.platform = plats[r(#plats) + 1] or nil
    k = r(10)
    if k < 6 then f.data = { symbolicator_status = k < 5 and "symbolicated" or "missing" }
    elseif k == 6 then f.data = { deobfuscation_status = "partial" } end
    fr[i] = f
  end
  local stacks = {}
  for s = 1, 20 do
    local n, st, base = r(8), {}, r(30)
    for j = 1, n do st[j] = r(5) < 3 and (base + j) % 30 or r(30) end
    stacks[s] = st
  end
  local ss, t, threads = {}, 1795579461.8292599, { "1", "2", "3" }
  for k = 1, 300 do
    if r(5) > 0 then t = t + (r(20) + 1) * 0.00990099 + r(1000) * 1e-9 end
    local prev = ss[#ss]
    local sid = (prev and r(5) < 3) and prev.stack_id or r(#stacks)
    ss[k] = { stack_id = sid, thread_id = threads[r(3) + 1], timestamp = t }
  end
  for _ = 1, 15 do
    local a, b = r(#ss) + 1, r(#ss) + 1
    ss[a], ss[b] = ss[b], ss[a]
  end
  return { chunk = { platform = "cocoa", profile = { frames = fr, stacks = stacks, samples = ss } } }
end

describe("sentry counting on the real profiles", function()
  local python = load_fixture("python_sdk_thread_pool.answer.json")
  local java = load_fixture("java_async_profiler_wall.answer.json")

  -- Figures from Sentry's own code run on these files (nanoseconds).
  local function check(answer, key, want)
    local e = rows(analysis.top(answer, { durations = true }))[key]
    assert.is_table(e, key)
    assert.same(want, { math.floor(e.self * 1e9 + 0.5), math.floor(e.total * 1e9 + 0.5), e.total_samples,
      e.occurrences, math.floor(e.p75 * 1e9 + 0.5), math.floor(e.p95 * 1e9 + 0.5), math.floor(e.p99 * 1e9 + 0.5) })
  end

  it("sentry-python: what Sentry computes", function()
    if not python then return pending("../shared/fixtures not found") end
    local top = analysis.top(python)
    assert.equal(73, #top.functions)
    check(python, "concurrent.futures.thread|_worker",
      { 164895844352, 180769119744, 17217, 3, 60256373248, 60256373248, 60256373248 })
    check(python, "__main__|Handler.do_GET",
      { 97800408320, 106433750528, 1025, 66, 2047341056, 5717494016, 10218317568 })
    check(python, "threading|Thread.run",
      { 60256373248, 478976434176, 35526, 8, 60256373248, 60256373248, 60256373248 })
    assert.equal(22, #analysis.top(python, { slowest = true }).functions)
  end)

  it("java async-profiler: what Sentry computes", function()
    if not java then return pending("../shared/fixtures not found") end
    assert.equal(144, #analysis.top(java).functions)
    check(java, "jdk.internal.misc.Unsafe|park",
      { 15658391040, 15658391040, 1577, 5, 5333308416, 5333319680, 5333319680 })
    check(java, "java.lang.Object|wait",
      { 11017415680, 11017415680, 1110, 4, 5333149440, 5333366016, 5333366016 })
    check(java, "java.lang.Thread|sleep",
      { 5510765056, 5510765056, 555, 20, 496690688, 505590528, 507218944 })
    assert.equal(7, #analysis.top(java, { slowest = true }).functions)
  end)

  it("every row of both equals the reading of Sentry's code", function()
    if not python then return pending("../shared/fixtures not found") end
    assert.equal(73, assert_matches_reference(python, "python"))
    assert.equal(144, assert_matches_reference(java, "java"))
  end)
end)

describe("sentry counting, row by row against Sentry's algorithm", function()
  it("on generated data of each platform (python; cocoa: addresses, unsymbolicated frames, main)", function()
    for _, platform in ipairs { "python", "cocoa" } do
      local cs = {}
      for k = 0, 2 do cs[#cs + 1] = gen.chunk_table { index = k, threads = 4, hz = 101, seed = 7, platform = platform } end
      local answer = gen.answer(cs, gen.T0, gen.T0 + 180)
      assert.equal(platform, answer.chunk.platform)
      assert.is_true(assert_matches_reference(answer, "generated " .. platform) > 10)
    end
  end)

  it("on 200 hostile profiles", function()
    for seed = 1, 200 do assert_matches_reference(hostile_profile(seed), "hostile " .. seed) end
  end)
end)

describe("Sentry's slowest functions", function()
  it("leave out roots, system functions, zero self time and single samples; 100 at most", function()
    local p = hostile_profile(3)
    local all = rows(analysis.top(p))
    local slow = analysis.top(p, { slowest = true })
    assert.is_true(slow.slowest)
    local expect = ref.functions(p.chunk, 1)
    local n = 0
    for key, r in pairs(expect) do
      local keep = r.self_ns > 0 and r.samples > 1 and all[key] and all[key].in_app
      if keep then n = n + 1 end
    end
    assert.equal(n, #slow.functions)
    for _, e in ipairs(slow.functions) do
      local r = expect[e.key]
      assert.is_true(e.in_app and e.self > 0 and e.total_samples > 1)
      assert.near(r.self_ns, e.self * 1e9, 0.5)
      assert.near(r.total_ns, e.total * 1e9, 0.5)
      assert.equal(r.samples, e.total_samples)
    end
  end)
end)

describe("analysis options", function()
  local tiny = require "support.tiny_profile"

  it("an unknown or misspelt option is an argument error naming it", function()
    assert.has_error(function() analysis.top(tiny(), { thread = "main" }) end,
      "bad argument #2 to 'top' (unknown option 'thread'; did you mean 'threads'?)")
    assert.has_error(function() analysis.call_trees(tiny(), { durations = true }) end)
    assert.has_error(function() analysis.compare(tiny(), tiny(), { lmit = 3 }) end,
      "bad argument #2 to 'compare' (unknown option 'lmit'; did you mean 'limit'?)")
    assert.has_error(function() analysis.top(tiny(), { limit = -1 }) end)
    assert.has_error(function() analysis.top(tiny(), { sort = "name" }) end)
  end)

  it("restrict and each check their options too: a misspelt one is not ignored", function()
    -- restrict{thread = ...} used to hand back the whole profile, unfiltered
    assert.has_error(function() analysis.restrict(tiny(), { thread = "main" }) end,
      "bad argument #2 to 'restrict' (unknown option 'thread'; did you mean 'threads'?)")
    assert.has_error(function() analysis.each(tiny(), { root_frist = true }) end,
      "bad argument #2 to 'each' (unknown option 'root_frist'; did you mean 'root_first'?)")
    assert.has_error(function() analysis.each(tiny(), { bogus = 1 }) end,
      "bad argument #2 to 'each' (unknown option 'bogus')")
    assert.has_error(function() analysis.each(tiny(), { threads = "Nope" }) end,
      "bad argument #2 to 'each' (no thread 'Nope' in this profile; its threads: 1 (MainThread), 2 (Worker))")
  end)

  it("compare names itself in the errors of its options", function()
    assert.has_error(function() analysis.compare(tiny(), tiny(), { threads = "Nope" }) end,
      "bad argument #2 to 'compare' (no thread 'Nope' in this profile; its threads: 1 (MainThread), 2 (Worker))")
    assert.has_error(function() analysis.compare(tiny(), tiny(), { from = "yesterday" }) end,
      "bad argument #2 to 'compare' (from must be Unix seconds or ISO-8601, got 'yesterday')")
  end)

  it("a bad time is the same error from every analysis, without a position inside the library", function()
    for _, name in ipairs { "top", "call_trees", "hot_paths", "folded", "speedscope", "cpuprofile", "pprof",
        "perfanno", "restrict" } do
      local ok, err = pcall(analysis[name], tiny(), { to = "soon" })
      assert.is_false(ok)
      assert.equal("bad argument #2 to '" .. name .. "' (to must be Unix seconds or ISO-8601, got 'soon')", err)
    end
  end)

  it("a thread that does not exist is an error listing the threads there are", function()
    assert.has_error(function() analysis.top(tiny(), { threads = "Nope" }) end,
      "bad argument #2 to 'top' (no thread 'Nope' in this profile; its threads: 1 (MainThread), 2 (Worker))")
  end)

  it("times are Unix seconds or ISO-8601 alike", function()
    local a = analysis.top(tiny(), { from = 10.1, to = 10.4 })
    local b = analysis.top(tiny(), { from = "1970-01-01T00:00:10.100Z", to = "1970-01-01T00:00:10.400" })
    assert.same(a, b)
    -- thread 1: .025 + .25 + .025 of its samples' time; thread 2: .15
    assert.near(0.45, a.time, 1e-12)
  end)
end)

describe("compare", function()
  local tiny = require "support.tiny_profile"

  it("joins both sides in full before it cuts: a function outside one side's top keeps its time there", function()
    local p = tiny()
    local a = analysis.restrict(p, { threads = "1" })
    local b = analysis.restrict(p, { threads = "2" })
    local cmp = analysis.compare(a, b, { limit = 1 })
    assert.equal(1, #cmp.functions)
    local full = analysis.compare(a, b)
    for _, r in ipairs(full.functions) do
      if r.name == "main (app)" then
        assert.same({ 0.5, 0.25 }, { r.total_a, r.total_b }) -- not cut to 0 on either side
        assert.equal(100, r.total_pct_a)
        assert.equal(100, r.total_pct_b)
        assert.is_true(r.in_app)
      end
    end
    assert.equal(#full.functions, full.count)
  end)
end)

describe("the accumulator (days of profile in bounded memory)", function()
  local function same_rows(a, b)
    assert.equal(a.time, b.time)
    assert.equal(a.samples, b.samples)
    assert.equal(#a.functions, #b.functions)
    local by = rows(b)
    for _, e in ipairs(a.functions) do
      local o = by[e.key]
      assert.is_table(o, e.key)
      assert.same({ e.key, e.self, e.total, e.total_samples, e.self_samples, e.occurrences, e.p75, e.p95, e.p99, e.in_app },
        { o.key, o.self, o.total, o.total_samples, o.self_samples, o.occurrences, o.p75, o.p95, o.p99, o.in_app })
    end
  end

  it("window by window equals the whole range merged, to the nanosecond", function()
    local cs = {}
    for k = 0, 5 do cs[#cs + 1] = gen.chunk_table { index = k, threads = 3, hz = 101, seed = 11 } end
    local whole = gen.answer(cs)
    local acc = analysis.aggregate.accumulator { durations = true, folded = true }
    for w = 1, 3 do acc:add(gen.answer { cs[2 * w - 1], cs[2 * w] }) end
    same_rows(analysis.top(whole, { durations = true }), acc:top())
    -- folded stacks too, each way they are written
    for _, o in ipairs { {}, { weight = "microseconds" }, { thread_root = true }, { weight = "samples", thread_root = true } } do
      assert.equal(analysis.folded(whole, o), acc:folded(o))
    end
    assert.has_error(function() acc:add(whole) end)
    -- one window is the whole range
    local one = analysis.aggregate.accumulator { durations = true }
    one:add(whole)
    same_rows(analysis.top(whole, { durations = true }), one:top())
  end)

  it("keeps its promises on hostile data split anywhere", function()
    for seed = 1, 20 do
      local p = hostile_profile(seed)
      local ss = {}
      local pos = {}
      for i, s in ipairs(p.chunk.profile.samples) do ss[i], pos[s] = s, i end
      table.sort(ss, function(a, b) -- stable: equal times keep their order
        if a.timestamp ~= b.timestamp then return a.timestamp < b.timestamp end
        return pos[a] < pos[b]
      end)
      local cut1, cut2 = math.floor(#ss / 3), math.floor(2 * #ss / 3)
      -- cut between two distinct timestamps, so no window splits a tick
      while ss[cut1 + 1].timestamp == ss[cut1].timestamp do cut1 = cut1 + 1 end
      while ss[cut2 + 1].timestamp == ss[cut2].timestamp do cut2 = cut2 + 1 end
      local acc = analysis.aggregate.accumulator { durations = true, folded = true }
      for _, range in ipairs { { 1, cut1 }, { cut1 + 1, cut2 }, { cut2 + 1, #ss } } do
        local part = {}
        for i = range[1], range[2] do part[#part + 1] = ss[i] end
        acc:add { chunk = { profile = { frames = p.chunk.profile.frames, stacks = p.chunk.profile.stacks,
                                        samples = part } } }
      end
      same_rows(analysis.top(p, { durations = true }), acc:top())
      assert.equal(analysis.folded(p, { weight = "microseconds" }), acc:folded { weight = "microseconds" })
      assert.equal(analysis.folded(p), acc:folded())
    end
  end)

  it("refuses what it cannot do", function()
    assert.has_error(function() analysis.aggregate.accumulator { mode = "textbook" } end,
      "bad argument #1 to 'accumulator' (unknown option 'mode')")
    local acc = analysis.aggregate.accumulator()
    acc:add(require("support.tiny_profile")())
    acc:top()
    assert.has_error(function() acc:top() end)
    assert.has_error(function() acc:folded() end,
      "bad argument #1 to 'folded' (this accumulator keeps no folded stacks: make it with folded = true)")
    assert.has_error(function() analysis.aggregate.accumulator { folded = true }:folded { weight = "ms" } end,
      "bad argument #1 to 'folded' (weight must be 'samples' or 'microseconds')")
  end)
end)

describe("analysis in slices (for a host's event loop)", function()
  it("calls slice while it works, and a coroutine that yields there gets the same result", function()
    local cs = {}
    for k = 0, 1 do cs[#cs + 1] = gen.chunk_table { index = k, threads = 4, hz = 101, seed = 3 } end
    local answer = gen.answer(cs)
    local calls = 0
    local plain = analysis.top(answer, { durations = true })
    local sliced = analysis.top(answer, { durations = true, slice = function() calls = calls + 1 end })
    assert.is_true(calls >= math.floor(#answer.chunk.profile.samples / 16384))
    assert.same(plain, sliced)
    for _, fn in ipairs { "top", "call_trees", "hot_paths" } do
      local co = coroutine.wrap(function()
        return analysis[fn](answer, { slice = coroutine.yield }), "done"
      end)
      local yields, result, tag = 0, nil, nil
      repeat
        result, tag = co()
        if tag ~= "done" then yields = yields + 1 end
      until tag == "done"
      assert.is_true(yields > 0, fn)
      assert.same(analysis[fn](answer), result)
    end
    assert.has_error(function() analysis.top(answer, { slice = 3 }) end,
      "bad argument #2 to 'top' (slice must be a function, got number)")
  end)
end)
