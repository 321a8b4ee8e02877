-- Long ranges: split under the 50-chunk cap, fetched concurrently, merged
-- the way the server merges, deduplicated.
local chunks = require "sentry.chunks"
local range = require "sentry.chunks.range"
local analysis = require "sentry.chunks.analysis"
local server = require "support.server"
local gen = require "gen"

describe("range.split", function()
  it("covers [start, end) exactly with windows no longer than asked", function()
    assert.same({ { start = 0, ["end"] = 2400 }, { start = 2400, ["end"] = 4800 }, { start = 4800, ["end"] = 5000 } },
      range.split(0, 5000, 2400))
    assert.same({ { start = 10, ["end"] = 20 } }, range.split(10, 20))
    assert.same({}, range.split(20, 20))
    assert.has_error(function() range.split(nil, 1) end, "bad argument #1 to 'split' (number expected, got nil)")
  end)
end)

describe("range.merge", function()
  it("appends frames and stacks with indices shifted, earliest metadata first", function()
    local a = gen.answer({ gen.chunk_table { index = 1, threads = 1, duration = 2, hz = 5 } })
    local b = gen.answer({ gen.chunk_table { index = 0, threads = 1, duration = 2, hz = 5 } })
    local merged = assert(range.merge { a, b }) -- given out of order
    local p, pa, pb = merged.chunk.profile, a.chunk.profile, b.chunk.profile
    assert.equal(b.chunk.chunk_id, merged.chunk.chunk_id)
    assert.equal(#pa.frames + #pb.frames, #p.frames)
    assert.equal(#pa.samples + #pb.samples, #p.samples)
    -- a sample of `a` resolves to the same frames after the shift
    local s = pa.samples[1]
    local ms = p.samples[#pb.samples + 1]
    local before = pa.stacks[s.stack_id + 1]
    local after = p.stacks[ms.stack_id + 1]
    assert.equal(#before, #after)
    for j = 1, #before do
      assert.equal(analysis.frame_key(pa.frames[before[j] + 1]), analysis.frame_key(p.frames[after[j] + 1]))
    end
    assert.equal(#pb.frames + before[1], after[1])
  end)
end)

describe("client:fetch_range #asan", function()
  local srv, client
  setup(function()
    srv = server.start()
    client = chunks.client { token = srv.token, org = srv.org, base_url = srv.url }
  end)
  teardown(function() srv.stop() end)

  local LIGHT = server.PROFILER_IDS.light -- 1 thread, 5 Hz, 240 one-minute chunks

  it("returns every sample of a 4-hour range exactly once", function()
    local res, err, info = client:fetch_range { project = 1, profiler_id = LIGHT,
      start = server.T0, ["end"] = server.T0 + 4 * 3600, concurrency = 4 }
    assert.is_nil(err)
    assert.equal(6, info.windows)
    local samples = res.chunk.profile.samples
    local seen, dup = {}, 0
    for _, s in ipairs(samples) do
      if seen[s.timestamp] then dup = dup + 1 end
      seen[s.timestamp] = true
    end
    assert.equal(0, dup)
    assert.equal(240 * 60 * 5, #samples) -- 72,000: all four hours
    -- one request for the same range loses all but the newest 50 chunks
    -- (split = false: client:fetch would split it too), and says so
    local capped, _, capped_info = assert(client:fetch { project = 1, profiler_id = LIGHT,
      start = server.T0, ["end"] = server.T0 + 4 * 3600, split = false })
    assert.equal(50 * 60 * 5, #capped.chunk.profile.samples)
    assert.is_true(capped_info.truncated)
    assert.is_false(info.truncated)
    -- and the merged answer is deduplicated: far fewer frames than chunks x frames
    assert.is_true(#res.chunk.profile.frames * 10 < #capped.chunk.profile.frames)
    assert.equal(analysis.top(res).samples, #samples - #analysis.threads(res)) -- last samples lend only their time
  end)

  it("counts a window with no chunks as empty", function()
    local res, err, info = client:fetch_range { project = 1, profiler_id = server.PROFILER_IDS.single,
      start = server.T0, ["end"] = server.T0 + 3600, window = 600 }
    assert.is_nil(err)
    assert.equal(6, info.windows)
    assert.equal(5, info.empty)
    assert.is_true(#res.chunk.profile.samples > 0)
  end)

  it("retries a failing window, and names the one that keeps failing", function()
    local flaky = chunks.client { token = srv.token, org = srv.org, retries = 0,
      base_url = srv.url .. "/_test/503x1,tag=range" .. os.time() }
    local res = flaky:fetch_range { project = 1, profiler_id = LIGHT, start = server.T0, ["end"] = server.T0 + 1200,
      window = 600, concurrency = 1 }
    assert.truthy(res)
    local broken = chunks.client { token = srv.token, org = srv.org, retries = 0,
      base_url = srv.url .. "/_test/503x99,tag=range-broken" .. os.time() }
    local res2, err, d = broken:fetch_range { project = 1, profiler_id = LIGHT, start = server.T0,
      ["end"] = server.T0 + 1200, window = 600, concurrency = 2, retries = 1 }
    assert.is_nil(res2)
    assert.matches("^window %d of 2 %(2026%-05%-28T08:%d%d:00Z to 2026%-05%-28T08:%d%d:00Z%) failed: HTTP 503", err)
    assert.equal(2, d.window.count)
  end)

  it("refuses a start that is neither ISO-8601 nor Unix seconds", function()
    local res, err, d = client:fetch_range { project = 1, profiler_id = LIGHT, start = "yesterday", ["end"] = 2 }
    assert.is_nil(res)
    assert.matches("Unix seconds", err)
    assert.equal("invalid_argument", d.kind)
  end)
end)

describe("fetch_range with each (window by window, nothing kept)", function()
  local server = require "support.server"
  local chunks = require "sentry.chunks"
  local analysis = require "sentry.chunks.analysis"
  local srv, client
  setup(function()
    srv = server.start()
    client = chunks.client { token = srv.token, org = srv.org, base_url = srv.url }
  end)
  teardown(function() srv.stop() end)

  it("hands every window over in time order, and the accumulator equals the merged top", function()
    local q = { project = 1, profiler_id = server.PROFILER_IDS.light,
      start = server.T0, ["end"] = server.T0 + 3 * 3600, window = 1800, concurrency = 3 }
    local acc = analysis.aggregate.accumulator { durations = true }
    local seen, last_end, samples = {}, nil, 0
    local ok, err, info = client:fetch_range(setmetatable({ each = function(answer, w)
      seen[#seen + 1] = w.index
      if last_end then assert.equal(last_end, w.start) end
      last_end = w["end"]
      samples = samples + #answer.chunk.profile.samples
      acc:add(answer)
    end }, { __index = q }))
    assert.is_nil(err)
    assert.is_true(ok)
    assert.same({ 1, 2, 3, 4, 5, 6 }, seen)
    assert.equal(6, info.windows)
    local whole = assert(client:fetch_range(q))
    assert.equal(#whole.chunk.profile.samples, samples)
    local a, b = analysis.top(whole, { durations = true }), acc:top()
    assert.equal(a.samples, b.samples)
    assert.equal(a.time, b.time)
    for i, e in ipairs(a.functions) do
      assert.same({ e.key, e.self, e.total, e.total_samples, e.p95 },
        { b.functions[i].key, b.functions[i].self, b.functions[i].total, b.functions[i].total_samples, b.functions[i].p95 })
    end
  end)

  it("holds at most `concurrency` windows while an earlier one is still arriving", function()
    local function chunk_requests()
      local p = io.popen("env -u LD_PRELOAD curl -sS -m 30 '" .. srv.url .. "/_test/log'")
      local text = p:read("*a")
      p:close()
      local n = 0
      for line in text:gmatch("[^\n]+") do
        if line:find("/profiling/chunks/", 1, true) then n = n + 1 end
      end
      return n
    end
    local before = chunk_requests()
    -- window 1 holds the realistic profile's last 10 chunks (the slowest to
    -- make and to send); windows 2 to 6 are empty and answer at once
    local t1 = server.T0 + 4 * 3600 - 600
    local requested
    local ok, err = client:fetch_range { project = 1, profiler_id = server.PROFILER_IDS.realistic,
      start = t1, ["end"] = t1 + 6 * 600, window = 600, concurrency = 2,
      each = function(_, w) if w.index == 1 then requested = chunk_requests() - before end end }
    assert.is_nil(err)
    assert.is_true(ok)
    assert.is_true(requested <= 2, "windows requested before the first was handed over: " .. tostring(requested))
  end)

  it("ends the fetch when the callback fails, naming the window", function()
    local res, err, details = client:fetch_range { project = 1, profiler_id = server.PROFILER_IDS.light,
      start = server.T0, ["end"] = server.T0 + 3600, window = 1800, each = function() error("disk full") end }
    assert.is_nil(res)
    assert.equal("callback", details.kind)
    assert.matches("window 1 of 2: the each callback failed: .*disk full", err)
    assert.has_error(function() client:fetch_range { project = 1, profiler_id = server.PROFILER_IDS.light,
      start = server.T0, ["end"] = server.T0 + 3600, each = 3 } end)
  end)
end)
