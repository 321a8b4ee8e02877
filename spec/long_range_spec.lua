-- Nothing dropped without saying so: client:fetch and fetch_async split a
-- range longer than 40 minutes into windows under the server's 50-chunk
-- cap; fetch_range takes stats_period and ISO-8601; an answer that still
-- looks cut says so (details.truncated). Real HTTP to the test server.
local chunks = require "sentry.chunks"
local range = require "sentry.chunks.range"
local url_mod = require "sentry.chunks.url"
local server = require "support.server"

local IDS = server.PROFILER_IDS
local T0 = server.T0
local srv, live -- live: a server whose `now` is the real clock

local function curl(url)
  local p = assert(io.popen("env -u LD_PRELOAD curl -sS -m 30 '" .. url .. "'"))
  local s = p:read("*a")
  p:close()
  return s
end

-- The chunks requests the server saw (and forget them).
local function chunk_requests(s)
  local out = {}
  for line in curl(s.url .. "/_test/log?clear=1"):gmatch("[^\n]+") do
    local e = assert(chunks.decode(line))
    if e.path:match("/profiling/chunks/$") then
      local q = {}
      for k, v in e.query:gmatch("([^&=]+)=([^&]*)") do
        q[k] = v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
      end
      out[#out + 1] = q
    end
  end
  return out
end

local function client(s, opts)
  local o = { token = s.token, org = s.org, base_url = s.url, backoff = 0.05 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return chunks.client(o)
end

local function count_duplicates(res)
  local seen, dup = {}, 0
  for _, x in ipairs(res.chunk.profile.samples) do
    if seen[x.timestamp] then dup = dup + 1 end
    seen[x.timestamp] = true
  end
  return dup
end

local function first_sample(res)
  local t = math.huge
  for _, x in ipairs(res.chunk.profile.samples) do
    if x.timestamp < t then t = x.timestamp end
  end
  return t
end

-- The windows a list of requests asked for, sorted, as Unix seconds.
local function windows_of(requests)
  local list = {}
  for _, q in ipairs(requests) do
    assert.is_nil(q.statsPeriod)
    list[#list + 1] = { start = url_mod.iso_to_unix(q.start), ["end"] = url_mod.iso_to_unix(q["end"]) }
  end
  table.sort(list, function(a, b) return a.start < b.start end)
  return list
end

setup(function()
  srv = server.start()
  live = server.start { now = os.time() }
end)

teardown(function()
  if srv then srv.stop() end
  if live then live.stop() end
end)

describe("client:fetch with a range longer than 40 minutes #asan", function()
  it("fetches start/end in windows and returns every sample once; info says how many", function()
    local c = client(srv)
    chunk_requests(srv)
    local res, err, info = c:fetch { project = 1, profiler_id = IDS.light, start = T0, ["end"] = T0 + 7200 }
    assert.is_nil(err)
    assert.equal(3, info.windows)
    assert.equal(0, info.empty)
    assert.is_false(info.truncated)
    assert.equal(7200 * 5, #res.chunk.profile.samples) -- two hours, not the newest 50 minutes
    assert.equal(0, count_duplicates(res))
    local w = windows_of(chunk_requests(srv))
    assert.equal(3, #w)
    assert.same({ start = T0, ["end"] = T0 + 2400 }, w[1])
    assert.same({ start = T0 + 4800, ["end"] = T0 + 7200 }, w[3])
  end)

  it("keeps 40 minutes or less as one request, and says it was one", function()
    local c = client(srv)
    chunk_requests(srv)
    local res, _, info = assert(c:fetch { project = 1, profiler_id = IDS.light, start = T0, ["end"] = T0 + 2400 })
    assert.equal(1, info.windows)
    assert.is_false(info.truncated)
    assert.equal(200, info.status)
    assert.equal(2400 * 5, #res.chunk.profile.samples)
    assert.equal(1, #chunk_requests(srv))
    local _, _, info2 = assert(c:fetch { project = 1, profiler_id = IDS.light, start = T0, ["end"] = T0 + 2401 })
    assert.equal(2, info2.windows)
  end)

  it("turns a long stats_period into start/end once, on the client's clock, so all windows agree", function()
    local c = client(live)
    chunk_requests(live)
    local before = os.time()
    local res, err, info = c:fetch { project = 1, profiler_id = IDS.recent, stats_period = "2h" }
    local after = os.time()
    assert.is_nil(err)
    assert.equal(3, info.windows)
    assert.is_false(info.truncated)
    local w = windows_of(chunk_requests(live))
    assert.equal(3, #w)
    assert.equal(w[1]["end"], w[2].start)
    assert.equal(w[2]["end"], w[3].start)
    assert.equal(7200, w[3]["end"] - w[1].start)
    assert.is_true(w[3]["end"] >= before and w[3]["end"] <= after)
    assert.equal(w[1].start, info.start)
    -- every sample of the two hours the data has (it ends at the server's start)
    local samples = #res.chunk.profile.samples
    assert.is_true(samples > 50 * 60 * 5, samples)
    -- (the data ends at the last whole minute before the server's start)
    assert.is_true(samples >= (7200 - (after - live.now) - 60) * 5, samples)
    assert.is_true(first_sample(res) - info.start < 1)
    assert.equal(0, count_duplicates(res))
  end)

  it("refuses a range over 24 hours before any request, pointing at fetch_range", function()
    local c = client(live)
    chunk_requests(live)
    local res, err, d = c:fetch { project = 1, profiler_id = IDS.recent, stats_period = "2d" }
    assert.is_nil(res)
    assert.equal("invalid_argument", d.kind)
    assert.equal("stats_period", d.field)
    assert.equal(86400, d.max_range)
    assert.truthy(err:find("fetch_range", 1, true), err)
    local _, _, d2 = c:fetch { project = 1, profiler_id = IDS.recent, start = T0, ["end"] = T0 + 86401 }
    assert.equal("start", d2.field)
    assert.equal(0, #chunk_requests(live))
    -- fetch_range has no such limit: it was asked for windows explicitly
    local res3, _, info = c:fetch_range { project = 1, profiler_id = IDS.recent, stats_period = "2d", window = 7200 }
    assert.truthy(res3)
    assert.equal(24, info.windows)
    assert.is_true(info.empty >= 21 and info.empty <= 22, info.empty) -- the data: the last 4 h
  end)

  it("split = false makes one request: the server's newest 50 chunks, flagged truncated", function()
    local c = client(srv)
    local res, err, info = c:fetch { project = 1, profiler_id = IDS.light, start = T0, ["end"] = T0 + 4 * 3600,
      split = false }
    assert.is_nil(err)
    assert.equal(50 * 60 * 5, #res.chunk.profile.samples)
    assert.equal(1, info.windows)
    assert.is_true(info.truncated)
    assert.matches("maximum of 50 chunks", info.warning)
    assert.is_nil(res.truncated) -- the answer itself is not changed
    assert.is_nil(res.chunk.truncated)
    -- the same without a start (stats_period): 50 chunk ids say it
    local _, _, info2 = assert(c:fetch { project = 1, profiler_id = IDS.light, stats_period = "50m", split = false })
    assert.is_true(info2.truncated)
  end)

  it("is the same answer through fetch_async, stepped by hand", function()
    local c = client(srv)
    local req = assert(c:fetch_async { project = 1, profiler_id = IDS.light, start = T0, ["end"] = T0 + 7200 })
    local steps = 0
    while not req:step() do
      steps = steps + 1
      local w = req:wait()
      assert.is_table(w.sockets)
      if not w.ready then c._multi:poll(0.05) end
    end
    local res, err, info = req:result()
    assert.is_nil(err)
    assert.equal(3, info.windows)
    assert.is_true(steps > 0)
    local direct = assert(c:fetch { project = 1, profiler_id = IDS.light, start = T0, ["end"] = T0 + 7200 })
    assert.same(direct, res)
    assert.matches("^sentry.chunks.fetch_range %(3 windows, done%)$", tostring(req))
  end)

  it("a cancelled range frees its windows and says cancelled", function()
    local c = client(srv)
    local req = assert(c:fetch_async { project = 1, profiler_id = IDS.light, start = T0, ["end"] = T0 + 7200 })
    req:step()
    assert.is_true(c:active() > 0)
    req:cancel()
    assert.equal(0, c:active())
    local res, err, d = req:result()
    assert.is_nil(res)
    assert.equal("cancelled", err)
    assert.equal("aborted", d.kind)
    assert.has_error(function() req.step(nil) end, "bad argument #1 to 'step' (request expected; call it as req:step())")
  end)

  it("an error of the whole request is the server's, not a window's, and no window is retried", function()
    local c = client(srv, { token = "sntrys_wrong_token_for_this_spec" })
    chunk_requests(srv)
    local res, err, d = c:fetch { project = 1, profiler_id = IDS.light, start = T0, ["end"] = T0 + 7200 }
    assert.is_nil(res)
    assert.equal("HTTP 401 Unauthorized: Invalid token", err)
    assert.equal(401, d.status)
    assert.equal(3, d.window.count)
    assert.is_true(#chunk_requests(srv) <= 3)
  end)

  it("counts a range with no chunks at all as no_chunks", function()
    local res, err, d = client(srv):fetch { project = 1, profiler_id = IDS.single, start = T0 + 3600, ["end"] = T0 + 7200 }
    assert.is_nil(res)
    assert.equal("no profile chunks in this time range", err)
    assert.equal("no_chunks", d.kind)
    assert.equal(400, d.status)
    assert.equal(2, d.windows)
  end)
end)

describe("fetch_url with a long statsPeriod #asan", function()
  it("is split like client:fetch", function()
    local c = client(live)
    local url = live.url .. "/organizations/test-org/profiling/profile/backend/flamegraph/?profilerId="
      .. IDS.recent .. "&statsPeriod=2h"
    local res, err, info = c:fetch_url(url)
    assert.is_nil(err)
    assert.equal(3, info.windows)
    assert.is_true(#res.chunk.profile.samples > 50 * 60 * 5)
    local _, _, info2 = assert(c:fetch_url(url, { window = 1800 })) -- windows of the length asked
    assert.equal(4, info2.windows)
  end)
end)

describe("truncated answers", function()
  local function fetch(base, q)
    return client(srv, { base_url = base }):fetch(q)
  end

  it("a late first sample with fewer than 50 chunk ids is a profiler that started late, not a cut", function()
    local res, _, info = assert(fetch(srv.url, { project = 1, profiler_id = IDS.single, start = T0, ["end"] = T0 + 2400 }))
    assert.is_true(first_sample(res) - T0 >= 600)
    assert.is_false(info.truncated)
    assert.is_nil(info.warning)
  end)

  it("without debug_chunk_ids, a first sample more than 90 s after start is flagged", function()
    local base = srv.url .. "/_test/noids"
    local res, _, info = assert(fetch(base, { project = 1, profiler_id = IDS.single, start = T0, ["end"] = T0 + 2400 }))
    assert.is_nil(res.debug_chunk_ids)
    assert.is_true(info.truncated)
    assert.matches("first sample is 600 s after the requested start 2026%-05%-28T08:00:00Z", info.warning)
    -- the first sample at the start: nothing looks cut
    local _, _, info2 = assert(fetch(base, { project = 1, profiler_id = IDS.light, start = T0, ["end"] = T0 + 2400 }))
    assert.is_false(info2.truncated)
    -- a stats_period has no start to compare with
    local _, _, info3 = assert(fetch(base, { project = 1, profiler_id = IDS.light, stats_period = "40m" }))
    assert.is_false(info3.truncated)
  end)

  it("exactly 50 chunks that reach back to the start are not flagged", function()
    local res, _, info = assert(fetch(srv.url, { project = 1, profiler_id = IDS.light, start = T0,
      ["end"] = T0 + 3000, split = false }))
    assert.equal(50, #res.debug_chunk_ids)
    assert.is_false(info.truncated)
  end)

  it("fetch_range flags a window longer than the cap, naming it", function()
    local c = client(srv)
    local res, err, info = c:fetch_range { project = 1, profiler_id = IDS.light, start = T0, ["end"] = T0 + 4 * 3600,
      window = 7200 }
    assert.is_nil(err)
    assert.equal(2, info.windows)
    assert.is_true(info.truncated)
    assert.same({ 1, 2 }, info.truncated_windows)
    assert.matches("^window 1 of 2 %(2026%-05%-28T08:00:00Z to 2026%-05%-28T10:00:00Z%), window 2 of 2 "
      .. "%(2026%-05%-28T10:00:00Z to 2026%-05%-28T12:00:00Z%): the server merged its maximum of 50 chunks", info.warning)
    assert.equal(2 * 50 * 60 * 5, #res.chunk.profile.samples)
  end)

  it("range.truncation reads plain tables and changes nothing", function()
    local answer = { chunk = { profile = { samples = { { timestamp = T0 + 100, stack_id = 0, thread_id = "1" } } } } }
    assert.matches("first sample is 100 s", range.truncation(answer, T0))
    assert.is_nil(range.truncation(answer, T0 + 50))
    assert.is_nil(range.truncation(answer)) -- no start
    local ids = {}
    for i = 1, 50 do ids[i] = string.format("%032x", i) end
    answer.debug_chunk_ids = ids
    assert.matches("maximum of 50 chunks", range.truncation(answer))
    assert.matches("maximum of 50 chunks", range.truncation(answer, T0))
    assert.is_nil(range.truncation(answer, T0 + 99.5))
    ids[50] = nil
    assert.is_nil(range.truncation(answer, T0))
    assert.equal(49, #answer.debug_chunk_ids)
  end)
end)

describe("client:fetch_range ranges #asan", function()
  it("takes ISO-8601 start and end, the same as Unix seconds", function()
    local c = client(srv)
    local a, err, info = c:fetch_range { project = 1, profiler_id = IDS.light,
      start = "2026-05-28T08:00:00Z", ["end"] = "2026-05-28T10:00:00+01:00" } -- 09:00Z
    assert.is_nil(err)
    assert.equal(2, info.windows)
    assert.equal(T0, info.start)
    assert.equal(T0 + 3600, info["end"])
    local b = assert(c:fetch_range { project = 1, profiler_id = IDS.light, start = T0, ["end"] = T0 + 3600 })
    assert.equal(#b.chunk.profile.samples, #a.chunk.profile.samples)
    assert.equal(3600 * 5, #a.chunk.profile.samples)
  end)

  it("takes stats_period, turned into start/end once", function()
    local c = client(live)
    chunk_requests(live)
    local res, err, info = c:fetch_range { project = 1, profiler_id = IDS.recent, stats_period = "90m", window = 1800 }
    assert.is_nil(err)
    assert.equal(3, info.windows)
    local w = windows_of(chunk_requests(live))
    assert.equal(3, #w)
    assert.equal(5400, w[3]["end"] - w[1].start)
    assert.equal(w[1]["end"], w[2].start)
    assert.is_true(#res.chunk.profile.samples > 5000 * 5)
  end)
end)

describe("ranges are checked before any request", function()
  local function refused(method, q, field, pattern)
    local c = client(srv)
    local res, err, d = c[method](c, q)
    assert.is_nil(res)
    assert.equal("invalid_argument", d.kind, err)
    assert.equal(field, d.field)
    assert.truthy(err:find(pattern, 1, true), err)
  end

  for _, method in ipairs { "fetch", "fetch_range", "fetch_async" } do
    it(method .. " refuses bad ISO text, impossible dates, start >= end, and a mix", function()
      chunk_requests(srv)
      local P = { project = 1, profiler_id = IDS.light }
      local function q(extra)
        local t = {}
        for k, v in pairs(P) do t[k] = v end
        for k, v in pairs(extra) do t[k] = v end
        return t
      end
      refused(method, q { start = "2026-13-01T00:00:00Z", ["end"] = "2026-14-01T00:00:00Z" }, "start",
        "got '2026-13-01T00:00:00Z'")
      refused(method, q { start = "2026-02-29T00:00:00Z", ["end"] = "2026-03-01T00:00:00Z" }, "start", "ISO-8601")
      refused(method, q { start = "2026-05-28T08:00:00Z", ["end"] = "2026-05-28T24:00:00Z" }, "end", "ISO-8601")
      refused(method, q { start = "2026-05-28T08:00:00 and then some", ["end"] = "2026-05-28T09:00:00Z" }, "start",
        "ISO-8601")
      refused(method, q { start = "2026-05-28T09:00:00Z", ["end"] = "2026-05-28T08:00:00Z" }, "start",
        "start must be before end")
      refused(method, q { start = "2026-05-28T10:00:00+02:00", ["end"] = "2026-05-28T08:00:00Z" }, "start",
        "start must be before end") -- the same instant
      refused(method, q { start = T0 + 60, ["end"] = T0 }, "start", "start must be before end")
      refused(method, q { start = T0 }, "end", "give both")
      refused(method, q { stats_period = "1y" }, "stats_period", "got '1y'")
      refused(method, q { stats_period = "2h", start = T0, ["end"] = T0 + 60 }, "stats_period", "not both")
      refused(method, { project = 1, profiler_id = "xyz", start = T0, ["end"] = T0 + 7200 }, "profiler_id",
        "32 hex digits")
      if method == "fetch_range" then
        refused(method, P, "start", "needs a range")
      end
      assert.equal(0, #chunk_requests(srv))
    end)
  end

  it("raises on a wrong type, like luaL_argerror", function()
    local c = client(srv)
    assert.has_error(function() c:fetch_range { project = 1, profiler_id = IDS.light, start = {}, ["end"] = 1 } end,
      "bad argument #1 to 'fetch_range' (field 'start': number or string expected, got table)")
    assert.has_error(function()
      c:fetch_range { project = 1, profiler_id = IDS.light, start = T0, ["end"] = T0 + 60, window = 0 }
    end, "bad argument #1 to 'fetch_range' (field 'window': a number in [1, 31536000] expected, got 0)")
    assert.has_error(function() c:fetch { project = 1, profiler_id = IDS.light, split = "no" } end,
      "bad argument #1 to 'fetch' (field 'split': boolean expected, got string)")
  end)
end)

describe("progress of a split range", function()
  it("is one growing figure for all windows, the total unknown", function()
    local calls, last, totals = 0, -1, {}
    local c = client(srv, { on_progress = function(got, total)
      calls = calls + 1
      assert.is_true(got >= last)
      last = got
      totals[#totals + 1] = total
    end })
    local _, _, info = assert(c:fetch { project = 1, profiler_id = IDS.light, start = T0, ["end"] = T0 + 7200 })
    assert.equal(3, info.windows)
    assert.is_true(calls >= 3)
    assert.equal(0, #totals) -- always nil
    assert.is_true(last >= info.bytes * 0.9 and last <= info.bytes, last .. " of " .. info.bytes) -- wire bytes, identity
  end)
end)
