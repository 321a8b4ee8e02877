-- sentry.chunks.nvim.analyze, the plugin's analyses (plain Lua: every Lua
-- runs it): thread choice, restriction, the sliced call tree (equal to
-- aggregate.call_trees), per-line self and total time, the diff; inputs
-- are never modified.
local chunks = require "sentry.chunks"
local aggregate = require "sentry.chunks.aggregate"
local analyze = require "sentry.chunks.nvim.analyze"
local tiny = require "support.tiny_profile"

local function noop() end

local function fixture(name)
  local source = debug.getinfo(1, "S").source:gsub("^@", "")
  local root = source:match("^(.*)/spec/[^/]*$") or "."
  for _, dir in ipairs { root .. "/../shared/fixtures/", "/work/shared/fixtures/" } do
    local f = io.open(dir .. name, "rb")
    if f then
      local text = f:read("*a")
      f:close()
      return assert(chunks.decode(text))
    end
  end
  return nil
end

-- Two trees equal node for node (children matched by key; times within
-- 1e-9 relative: the sums are added in another order).
local function same_tree(a, b, path)
  path = path or "root"
  assert.equal(a.key, b.key, path)
  assert.equal(a.name, b.name, path)
  assert.equal(a.samples, b.samples, path)
  assert.is_true(math.abs(a.total - b.total) <= 1e-9 * math.max(1, math.abs(b.total)), path .. " total")
  assert.is_true(math.abs(a.self - b.self) <= 1e-9 * math.max(1, math.abs(b.self)), path .. " self")
  assert.equal(#b.children, #a.children, path .. " children")
  local by = {}
  for _, c in ipairs(a.children) do by[c.key] = c end
  for _, c in ipairs(b.children) do
    assert.is_not_nil(by[c.key], path .. "/" .. c.name)
    same_tree(by[c.key], c, path .. "/" .. c.name)
  end
end

describe("nvim.analyze", function()
  it("prepare counts threads, finds the main one, remaps paths and leaves the answer alone", function()
    local res = tiny()
    local e = analyze.prepare(res, { { from = "/srv/app/", to = "/home/me/app/" } }, noop)
    assert.equal("1", e.main)
    assert.same({ { id = "1", name = "MainThread", samples = 4 }, { id = "2", name = "Worker", samples = 2 } },
      e.threads)
    assert.equal("/home/me/app/app/main.py", e.chunk.profile.frames[1].abs_path)
    assert.equal("/srv/app/app/main.py", res.chunk.profile.frames[1].abs_path)
  end)

  it("select names threads by main, id or name; all is every thread; an unknown one is a message", function()
    local e = analyze.prepare(tiny(), {}, noop)
    assert.same({ ["1"] = true }, (analyze.select(e, "main")))
    assert.same({ ["2"] = true }, (analyze.select(e, "Worker")))
    assert.same({ ["2"] = true }, (analyze.select(e, "2")))
    local all, label = analyze.select(e, "all")
    assert.is_nil(all)
    assert.equal("all threads", label)
    local bad, msg = analyze.select(e, "nope")
    assert.is_false(bad)
    assert.equal("no thread 'nope' in this profile; its threads: 1 (MainThread), 2 (Worker)", msg)
  end)

  it("top over a restricted thread equals top with the threads option (windows of 2 samples too)", function()
    local cases = { tiny() }
    for _, f in ipairs { "python_sdk_thread_pool.answer.json", "java_async_profiler_wall.answer.json" } do
      cases[#cases + 1] = fixture(f)
    end
    local saved = analyze.WINDOW
    finally(function() analyze.WINDOW = saved end)
    for _, res in ipairs(cases) do
      local e = analyze.prepare(res, {}, noop)
      for _, window in ipairs { saved, 2, 1000 } do
        analyze.WINDOW = window
        for _, thread in ipairs { "main", "all" } do
          for _, mode in ipairs { "sentry", "textbook" } do
            local mine = analyze.top(e, (analyze.select(e, thread)), mode, noop)
            local theirs = aggregate.top(res, { threads = thread ~= "all" and thread or nil, mode = mode })
            -- a row's frame is one frame of that function (the first seen:
            -- in windows, by time rather than thread by thread)
            for _, t in ipairs { mine, theirs } do
              for _, r in ipairs(t.functions) do
                r.frame = { ["function"] = r.frame["function"], abs_path = r.frame.abs_path, module = r.frame.module }
              end
            end
            assert.same(theirs, mine)
          end
        end
      end
    end
  end)

  it("per-line self and total time, worked out by hand", function()
    local e = analyze.prepare(tiny(), {}, noop)
    local main = analyze.lines(e, analyze.select(e, "main"), "sentry", noop)
    assert.equal(0.5, main.time)
    assert.same({ self = 0.125, total = 0.5 }, main.files["/srv/app/app/web.py"][10])
    assert.same({ self = 0, total = 0.5 }, main.files["/srv/app/app/main.py"][3])
    -- both threads: the worker's recursion counts once per sample
    local all = analyze.lines(e, nil, "sentry", noop)
    assert.same({ self = 0.375, total = 0.75 }, all.files["/srv/app/app/web.py"][10])
    assert.same({ self = 0, total = 0.75 }, all.files["/srv/app/app/main.py"][3])
    -- textbook: every sample of thread 1 weighs its median gap, .125 s
    local tb = analyze.lines(e, analyze.select(e, "main"), "textbook", noop)
    assert.equal(0.5, tb.time)
    assert.same({ self = 0.125, total = 0.5 }, tb.files["/srv/app/app/web.py"][10])
    -- a line is a line: two frames of one function on other lines stay apart
    local two = tiny()
    local frames = two.chunk.profile.frames
    frames[6] = { ["function"] = "handle", module = "app.web", in_app = true, abs_path = "/srv/app/app/web.py", lineno = 12 }
    -- stack 2 becomes [handle at line 12, main]: the same call-tree node path as stack 0
    two.chunk.profile.stacks[3] = { 5, 0 }
    local e2 = analyze.prepare(two, {}, noop)
    for _, fast in ipairs { true, false } do
      local by = analyze.lines(e2, analyze.select(e2, "main"), "sentry", noop, fast).files["/srv/app/app/web.py"]
      assert.same({ self = 0.125, total = 0.375 }, by[10]) -- stacks 0, 1 (and 3, weight 0)
      assert.same({ self = 0.125, total = 0.125 }, by[12]) -- stack 2 only
    end
  end)

  it("per-line times: the one-pass Sentry sums equal aggregate's per-stack sums (samples in time order)", function()
    local res = tiny()
    local sorted = {}
    for i, x in ipairs(res.chunk.profile.samples) do sorted[i] = x end
    table.sort(sorted, function(a, b) return a.timestamp < b.timestamp end)
    res.chunk.profile.samples = sorted
    local cases = { res }
    for _, f in ipairs { "python_sdk_thread_pool.answer.json", "java_async_profiler_wall.answer.json" } do
      cases[#cases + 1] = fixture(f)
    end
    for _, r in ipairs(cases) do
      local e = analyze.prepare(r, {}, noop)
      assert.is_not_nil(analyze._sentry_sums(e.chunk, noop), "the fast path applies")
      for _, thread in ipairs { "main", "all" } do
        local set = analyze.select(e, thread)
        local fast, slow = analyze.lines(e, set, "sentry", noop), analyze.lines(e, set, "sentry", noop, false)
        assert.is_true(math.abs(fast.time - slow.time) <= 1e-9 * slow.time)
        local n = 0
        for path, file in pairs(slow.files) do
          for line, c in pairs(file) do
            n = n + 1
            local d = fast.files[path][line]
            assert.is_true(math.abs(d.self - c.self) <= 1e-9 * math.max(1, c.self), path .. ":" .. line)
            assert.is_true(math.abs(d.total - c.total) <= 1e-9 * math.max(1, c.total), path .. ":" .. line)
          end
        end
        for _, file in pairs(fast.files) do for _ in pairs(file) do n = n - 1 end end
        assert.equal(0, n)
      end
    end
    -- the hand-worked figures through the fast path
    local e = analyze.prepare(res, {}, noop)
    local main = analyze.lines(e, analyze.select(e, "main"), "sentry", noop)
    assert.same({ self = 0.125, total = 0.5 }, main.files["/srv/app/app/web.py"][10])
    -- out of time order: no fast path
    assert.is_nil(analyze._sentry_sums(analyze.prepare(tiny(), {}, noop).chunk, noop))
  end)

  it("the sliced call tree equals aggregate.call_trees (tiny and both real profiles, both modes)", function()
    local cases = { { name = "tiny", res = tiny() } }
    for _, f in ipairs { "python_sdk_thread_pool.answer.json", "java_async_profiler_wall.answer.json" } do
      local res = fixture(f)
      if res then cases[#cases + 1] = { name = f, res = res } end
    end
    for _, case in ipairs(cases) do
      for _, mode in ipairs { "sentry", "textbook" } do
        local slices = 0
        local mine = analyze.thread_trees(case.res, mode, function() slices = slices + 1 end)
        local slow = analyze.thread_trees(case.res, mode, noop, false)
        local theirs = aggregate.call_trees(case.res, { mode = mode })
        local n = 0
        for tid, t in pairs(theirs) do
          n = n + 1
          assert.is_not_nil(mine[tid], case.name .. " thread " .. tostring(tid))
          same_tree(mine[tid], t, case.name .. " " .. mode .. " " .. tostring(tid))
          same_tree(slow[tid], t, case.name .. " " .. mode .. " " .. tostring(tid) .. " (per-stack sums)")
        end
        for _ in pairs(mine) do n = n - 1 end
        assert.equal(0, n)
      end
    end
  end)

  it("tree over several threads puts each under one root", function()
    local e = analyze.prepare(tiny(), {}, noop)
    local root = analyze.tree(e, nil, "sentry", noop)
    assert.equal(2, #root.children)
    local names = { root.children[1].name, root.children[2].name }
    table.sort(names)
    assert.same({ "thread 1", "thread 2" }, names)
    assert.equal(0.75, root.total)
  end)

  it("merge equals range.merge on windows in time order, in slices, inputs untouched", function()
    local function part(keep)
      local res = tiny()
      local kept = {}
      for _, s in ipairs(res.chunk.profile.samples) do if keep(s.timestamp) then kept[#kept + 1] = s end end
      table.sort(kept, function(x, y) return x.timestamp < y.timestamp end)
      res.chunk.profile.samples = kept
      res.debug_chunk_ids = { keep(10) and "a" or "b" }
      return res
    end
    local a, b = part(function(t) return t < 10.2 end), part(function(t) return t >= 10.2 end)
    local before = #a.chunk.profile.stacks
    local slices = 0
    local mine = analyze.merge({ a, b }, function() slices = slices + 1 end)
    assert.same(require("sentry.chunks.range").merge({ a, b }), mine)
    assert.equal(before, #a.chunk.profile.stacks)
    assert.equal(2 * #a.chunk.profile.stacks, #mine.chunk.profile.stacks)
    -- and an analysis over it equals one over the plain profile
    local e = analyze.prepare(mine, {}, noop)
    assert.same(aggregate.top(tiny(), { threads = "main" }).time, analyze.top(e, analyze.select(e, "main"), "sentry", noop).time)
  end)

  it("diff joins both sides' rows; deltas are b minus a", function()
    local a = analyze.prepare(tiny(), {}, noop)
    local b = analyze.prepare(tiny(), {}, noop)
    local d = analyze.diff(a, nil, b, nil, "sentry", noop)
    assert.is_true(#d.functions > 0)
    for _, r in ipairs(d.functions) do
      assert.equal(0, r.self_delta)
      assert.equal(0, r.total_pct_delta)
    end
    assert.equal(d.a.time, d.b.time)
  end)
end)
