-- client:fetch_async: the fetch that never blocks (issue 5), against the
-- fake Sentry over loopback. The blocking fetch is this engine plus a wait.
local chunks = require "sentry.chunks"
local core = require "sentry.chunks.core"
local server = require "support.server"

local IDS = server.PROFILER_IDS
local SINGLE = { project = 1, profiler_id = IDS.single }
local srv

local function client(faults, opts)
  local o = { token = srv.token, org = srv.org, backoff = 0.05,
              base_url = srv.url .. (faults and "/_test/" .. faults or "") }
  for k, v in pairs(opts or {}) do o[k] = v end
  return chunks.client(o)
end

-- Steps req to the end, sleeping `pause` between steps; returns the number
-- of steps taken.
local function drive(req, pause)
  local steps = 0
  while not req:step() do
    steps = steps + 1
    core.sleep(pause or 0.005)
  end
  return steps + 1
end

setup(function() srv = server.start() end)
teardown(function() if srv then srv.stop() end end)

describe("fetch_async #asan", function()
  it("gives the same table as the blocking fetch", function()
    local c = client()
    local blocking = assert(c:fetch(SINGLE))
    local req = assert(c:fetch_async(SINGLE))
    drive(req)
    local res, err, info = req:result()
    assert.is_nil(err)
    assert.same(blocking, res)
    assert.equal(200, info.status)
  end)

  it("returns at once from every step while a slow answer trickles in", function()
    local c = client("slow")
    local req = assert(c:fetch_async(SINGLE))
    local steps = drive(req, 0.01)
    assert.is_true(steps > 20) -- the answer took ~1.5 s in 20 pieces
    assert.truthy((req:result()))
  end)

  it("decodes at most buffer_size bytes per step", function()
    local c = client("chunked", { buffer_size = 4096 })
    local req = assert(c:fetch_async(SINGLE))
    local steps = drive(req, 0)
    local _, _, info = req:result()
    assert.is_true(info.bytes > 20000)
    assert.is_true(steps >= info.bytes / 4096, steps .. " steps for " .. info.bytes .. " bytes")
  end)

  it("cancel frees the transfer at once and says so", function()
    local c = client("slow")
    local req = assert(c:fetch_async(SINGLE))
    req:step()
    assert.equal(1, c:active())
    req:cancel()
    assert.equal(0, c:active())
    local res, err, d = req:result()
    assert.is_nil(res)
    assert.equal("cancelled", err)
    assert.equal("aborted", d.kind)
    assert.is_true(req:step())
    req:cancel() -- twice is fine
  end)

  it("a request collected unfinished is cancelled cleanly", function()
    local c = client("slow")
    do
      local req = assert(c:fetch_async(SINGLE))
      for _ = 1, 3 do req:step() end
    end
    assert.equal(1, c:active())
    collectgarbage()
    collectgarbage()
    assert.equal(0, c:active())
    assert.truthy(c:fetch(SINGLE)) -- the client still works
  end)

  it("several requests in flight on one client progress together", function()
    local c = client("slow")
    local reqs, seen_progress = {}, {}
    for i = 1, 3 do
      reqs[i] = assert(c:fetch_async { project = 1, profiler_id = IDS.single,
        start = server.T0 + 600, ["end"] = server.T0 + 600 + 30 + i })
    end
    local all_moving_before_any_done = false
    local pending = 3
    while pending > 0 do
      pending = 0
      for i = 1, 3 do
        if not reqs[i]:step() then
          pending = pending + 1
          if reqs[i].req and reqs[i].req:progress() > 0 then seen_progress[i] = true end
        end
      end
      if pending == 3 and seen_progress[1] and seen_progress[2] and seen_progress[3] then
        all_moving_before_any_done = true
      end
      core.sleep(0.005)
    end
    assert.is_true(all_moving_before_any_done)
    for i = 1, 3 do assert.truthy((reqs[i]:result())) end
  end)

  it("waits for a retry by time, without blocking a step", function()
    local c = client("503x1,tag=async")
    local req = assert(c:fetch_async(SINGLE))
    local waited
    while not req:step() do
      local w = req:wait()
      if not req.req and w.timeout > 0 then waited = w end
      core.sleep(0.005)
    end
    assert.is_table(waited)
    assert.same({}, waited.sockets)
    assert.is_false(waited.ready)
    local res, _, info = req:result()
    assert.truthy(res)
    assert.equal(2, info.attempts)
  end)

  it("tells a host loop which sockets to wait on", function()
    local c = client("slow")
    local req = assert(c:fetch_async(SINGLE))
    local with_socket
    while not req:step() do
      local w = req:wait()
      if #w.sockets > 0 then with_socket = w end
      core.sleep(0.01)
    end
    assert.is_table(with_socket)
    assert.is_number(with_socket.sockets[1].fd)
  end)

  it("refuses an invalid query before any request", function()
    local req, err, d = client():fetch_async { project = "a/b", profiler_id = IDS.single }
    assert.is_nil(req)
    assert.matches("invalid project", err)
    assert.equal("invalid_argument", d.kind)
    assert.has_error(function() client():fetch_async() end,
      "bad argument #1 to 'fetch_async' (table expected, got nil)")
  end)

  it("looks a project slug up on the same request before the chunks, once per client", function()
    local function paths() -- the paths the server saw since the last call
      local p = assert(io.popen("env -u LD_PRELOAD curl -sS -m 30 '" .. srv.url .. "/_test/log?clear=1'"))
      local seen = {}
      for line in p:read("*a"):gmatch("[^\n]+") do seen[#seen + 1] = assert(chunks.decode(line)).path end
      p:close()
      return seen
    end
    local c = client()
    local want = assert(c:fetch(SINGLE))
    paths()
    local q = { project = "backend", profiler_id = IDS.single }
    for _ = 1, 2 do
      local req = assert(c:fetch_async(q))
      drive(req)
      local res, err, info = req:result()
      assert.is_nil(err)
      assert.same(want, res)
      assert.equal(1, info.attempts) -- the chunks' attempts, counted anew after the lookup
      assert.matches("project=1&", info.url)
    end
    local chunks_path = "/api/0/organizations/" .. srv.org .. "/profiling/chunks/"
    assert.same({ "/api/0/projects/" .. srv.org .. "/backend/", chunks_path, chunks_path }, paths())
    assert.equal("backend", q.project) -- the caller's table is not changed

    -- the lookup's error ends the request; nothing else is asked
    local req = assert(c:fetch_async { project = "nope", profiler_id = IDS.single })
    drive(req)
    local res, err, d = req:result()
    assert.is_nil(res)
    assert.equal("project 'nope': HTTP 404 Not Found: The requested resource does not exist", err)
    assert.equal("http", d.kind)
    assert.same({ "/api/0/projects/" .. srv.org .. "/nope/" }, paths())
    -- the rest of the query is checked before the lookup, by fetch_async,
    -- fetch and fetch_range alike: a malformed query makes no request
    res, err, d = c:fetch_async { project = "other", profiler_id = "zz" }
    assert.is_nil(res)
    assert.matches("^invalid profiler_id", err)
    assert.equal("profiler_id", d.field)
    res, err, d = c:fetch { project = "other", profiler_id = "zz" }
    assert.is_nil(res)
    assert.matches("^invalid profiler_id", err)
    res, err, d = c:fetch_range { project = "other", profiler_id = IDS.single, start = 10, ["end"] = 5 }
    assert.is_nil(res)
    assert.equal("invalid_argument", d.kind)
    assert.same({}, paths())
    req = assert(client("slow"):fetch_async { project = "other", profiler_id = IDS.single })
    req:step() -- the lookup's answer trickles in over ~1.5 s: it is under way
    req:cancel()
    res, err, d = req:result()
    assert.is_nil(res)
    assert.equal("cancelled", err)
    assert.equal("aborted", d.kind)
  end)

  it("describes itself without the token", function()
    local req = assert(client():fetch_async(SINGLE))
    assert.equal("sentry.chunks.fetch (waiting to retry, attempt 0)", tostring(req))
    drive(req)
    assert.equal("sentry.chunks.fetch (done, attempt 1)", tostring(req))
    assert.is_nil(tostring(req):find(srv.token, 1, true))
  end)
end)
