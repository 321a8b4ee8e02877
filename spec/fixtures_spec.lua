-- Every analysis on the two real profiles in ../shared/fixtures/. The
-- figures written here were worked out apart from this code (a few lines
-- of Python over the JSON: threads, samples less each thread's last, the
-- sum of each thread's last-minus-first timestamp in Sentry's integer
-- nanoseconds, median gaps), or by hand from the files.
local chunks = require "sentry.chunks"
local analysis = require "sentry.chunks.analysis"

local function fixture(name)
  local source = debug.getinfo(1, "S").source:gsub("^@", "")
  local root = source:match("^(.*)/spec/[^/]*$") or "."
  local f = io.open(root .. "/../shared/fixtures/" .. name, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return assert(chunks.decode(text))
end

local FIXTURES = {
  { file = "python_sdk_thread_pool.answer.json", threads = 9, counted = 41265, time_ns = 539232807424,
    main = "140256686756544", main_name = "MainThread", interval_ns = 9997056, named = 7 },
  { file = "java_async_profiler_wall.answer.json", threads = 11, counted = 18726, time_ns = 60693764096,
    main = "1", main_name = "main", interval_ns = 9906176, named = 11 },
}

for _, fx in ipairs(FIXTURES) do
  describe("the real profile " .. fx.file, function()
    local res = fixture(fx.file)
    local function need()
      if not res then pending("../shared/fixtures not found") return false end
      return true
    end

    it("threads, samples and time", function()
      if not need() then return end
      local threads = analysis.threads(res)
      assert.equal(fx.threads, #threads)
      local named = 0
      for _, t in ipairs(threads) do if t.name then named = named + 1 end end
      assert.equal(fx.named, named) -- some threads have no thread_metadata entry
      assert.equal(fx.main, analysis.main_thread(res))
      local top = analysis.top(res)
      assert.equal(fx.counted, top.samples)
      assert.near(fx.time_ns, top.time * 1e9, 0.5)
      -- textbook: every sample of the main thread weighs its median gap
      local main = analysis.top(res, { mode = "textbook", threads = fx.main_name })
      local n = 0
      for _, t in ipairs(threads) do if t.id == fx.main then n = t.samples end end
      assert.near(n * fx.interval_ns, main.time * 1e9, 0.5)
    end)

    it("call trees add up to the time of each thread, hot paths to the whole", function()
      if not need() then return end
      local trees = analysis.call_trees(res)
      local sum = 0
      for _, root in pairs(trees) do
        sum = sum + root.total
        local kids = 0
        for _, c in ipairs(root.children) do kids = kids + c.total end
        assert.near(root.total, kids + root.self, 1e-6)
      end
      assert.near(fx.time_ns / 1e9, sum, 1e-6)
      local paths = analysis.hot_paths(res, { limit = 1000 })
      local t = 0
      for _, p in ipairs(paths) do t = t + p.time end
      assert.near(fx.time_ns / 1e9, t, 1e-6)
    end)

    it("a profile compared with itself changes nothing; dedupe changes no number", function()
      if not need() then return end
      local cmp = analysis.compare(res, res)
      for _, r in ipairs(cmp.functions) do
        assert.equal(0, r.self_delta)
        assert.equal(0, r.total_delta)
      end
      local a, b = analysis.top(res, { durations = true }), analysis.top(analysis.dedupe(res), { durations = true })
      assert.equal(#a.functions, #b.functions)
      for i, e in ipairs(a.functions) do
        assert.same({ e.key, e.self, e.total, e.total_samples, e.p99 },
          { b.functions[i].key, b.functions[i].self, b.functions[i].total, b.functions[i].total_samples, b.functions[i].p99 })
      end
    end)

    it("filters keep their promises", function()
      if not need() then return end
      local top = analysis.top(res, { mode = "textbook" })
      local first = top.functions[1]
      local focused = analysis.top(analysis.focus(res, function(f) return analysis.frame_key(f) == first.key end),
        { mode = "textbook" })
      assert.near(first.total, focused.time, 1e-6) -- focus keeps exactly the samples that hold it
      local ignored = analysis.top(analysis.ignore(res, function(f) return analysis.frame_key(f) == first.key end),
        { mode = "textbook" })
      assert.near(top.time, focused.time + ignored.time, 1e-6)
      local app = analysis.top(analysis.app_only(res), { mode = "textbook" })
      assert.near(top.time, app.time, 1e-6)
    end)

    it("exports: folded, speedscope, cpuprofile and pprof", function()
      if not need() then return end
      local folded = analysis.folded(res, { weight = "samples" })
      local n = 0
      for count in folded:gmatch(" (%d+)\n") do n = n + tonumber(count) end
      -- every counted sample once (an empty stack as "(no frames)")
      assert.equal(analysis.top(res).samples, n)
      local doc = assert(chunks.decode(assert(analysis.speedscope(res))))
      assert.is_true(#doc.profiles >= 1 and #doc.profiles <= fx.threads)
      local cpu = assert(chunks.decode(assert(analysis.cpuprofile(res))))
      assert.equal(#cpu.samples, #cpu.timeDeltas)
      assert.is_true(#analysis.pprof(res) > 1000)
    end)
  end)
end
