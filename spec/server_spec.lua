-- The generator (bench/gen.lua) and the fake Sentry (spec/server/), checked
-- with the curl command-line tool over loopback: one server for the file.
local cjson = require "cjson"
local gen = require "gen"
local server = require "support.server"

local T0 = server.T0

-- Runs curl; returns {status, headers (lower-case names), body, exit}.
local function curl(srv, url, options)
  options = options or {}
  local head, body = srv.dir .. "/curl.head", srv.dir .. "/curl.body"
  local args = { "env -u LD_PRELOAD curl -s -m 60 -o '" .. body .. "' -D '" .. head .. "' -w '%{http_code}'" }
  if options.token ~= false then
    args[#args + 1] = "-H 'Authorization: Bearer " .. (options.token or srv.token) .. "'"
  end
  if options.compressed then args[#args + 1] = "--compressed" end
  if options.cacert then args[#args + 1] = "--cacert '" .. options.cacert .. "'" end
  if options.follow then args[#args + 1] = "-L" end
  args[#args + 1] = "'" .. url .. "'; echo \" $?\""
  local p = io.popen(table.concat(args, " "))
  local out = p:read("*a")
  p:close()
  local code, exit = out:match("(%d+) (%d+)%s*$")
  local headers = {}
  local f = io.open(head, "rb")
  for line in (f and f:read("*a") or ""):gmatch("[^\r\n]+") do
    if line:match("^HTTP/") then headers = {} end
    local name, value = line:match("^([^:]+):%s*(.-)%s*$")
    if name then headers[name:lower()] = value end
  end
  if f then f:close() end
  f = io.open(body, "rb")
  local text = f and f:read("*a") or ""
  if f then f:close() end
  return { status = tonumber(code), headers = headers, body = text, exit = tonumber(exit) }
end

local function chunks_url(base, org, query)
  return base .. "/api/0/organizations/" .. org .. "/profiling/chunks/?" .. query
end

describe("bench/gen.lua", function()
  it("gives the same bytes for the same parameters", function()
    local function text(seed)
      local list = {}
      for k = 0, 1 do list[k + 1] = gen.chunk_table { index = k, threads = 2, hz = 20, seed = seed } end
      return gen.encode(gen.answer(list, T0, T0 + 120))
    end
    assert.are.equal(text(3), text(3))
    assert.are_not.equal(text(3), text(4))
  end)

  it("writes a realistic 4-thread chunk: ~2 MB, samples ~78 bytes", function()
    -- 4 threads: the contract's sizes (spec/gen_stats_spec.lua checks the
    -- default 10-thread shape). The stacks are shallow and shared, so
    -- nearly all of the ~2 MB is samples.
    local chunk = gen.chunk_table { index = 0, threads = 4 }
    local p = chunk.profile
    assert.are.equal(4 * 6060, #p.samples)
    local bytes = #gen.encode(gen.answer({ chunk }))
    assert.is_true(bytes > 1.8e6 and bytes < 2.6e6, "chunk bytes " .. bytes)
    local per_sample = #gen.encode({ samples = p.samples }) / #p.samples
    assert.is_true(per_sample > 70 and per_sample < 86, "bytes per sample " .. per_sample)
    assert.is_true(#p.frames >= 100 and #p.frames <= 600, "frames " .. #p.frames)
    -- Threads interleaved tick by tick (in thread id order); ids are strings.
    local tm = p.thread_metadata
    for i = 1, 8 do
      local s = p.samples[i]
      assert.are.equal("string", type(s.thread_id))
      assert.is_truthy(tm[s.thread_id])
    end
    assert.are.equal("MainThread", tm[p.samples[4].thread_id].name)
    assert.are.equal(p.samples[1].thread_id, p.samples[5].thread_id)
    assert.are.equal(p.samples[1].timestamp, p.samples[4].timestamp)
    -- Depths: a dozen frames on average, a few deep recursions, never above 128.
    local sum, deepest = 0, 0
    for _, s in ipairs(p.samples) do
      local d = #p.stacks[s.stack_id + 1]
      sum = sum + d
      if d > deepest then deepest = d end
    end
    assert.is_true(sum / #p.samples >= 7 and sum / #p.samples <= 25, "mean depth " .. sum / #p.samples)
    assert.is_true(deepest > 100 and deepest <= 128)
    -- in_app true (app), false (the SDK) and absent (the rest) all occur;
    -- python frames have no instruction_addr.
    local seen = {}
    for _, f in ipairs(p.frames) do
      seen[tostring(f.in_app)] = true
      assert.is_nil(f.instruction_addr)
    end
    assert.is_true(seen["true"] and seen["false"] and seen["nil"])
  end)

  it("orders stacks leaf first, root last", function()
    local p = gen.chunk_table { index = 2, threads = 3, hz = 20 }.profile
    -- Every stack of one thread ends in that thread's outermost frame.
    local root_of = {}
    for _, s in ipairs(p.samples) do
      local stack = p.stacks[s.stack_id + 1]
      local root = stack[#stack]
      root_of[s.thread_id] = root_of[s.thread_id] or root
      assert.are.equal(root_of[s.thread_id], root)
    end
  end)

  it("prints timestamps as Python's repr, null as null, empty arrays as []", function()
    local chunk = gen.chunk_table { index = 0, threads = 1, hz = 5 }
    local text = gen.encode(gen.answer({ chunk }))
    local first = text:match('"timestamp":(1779955200%.%d+)[},]')
    assert.is_truthy(first)
    assert.are.equal(chunk.profile.samples[1].timestamp, tonumber(first))
    assert.are.equal(gen.repr(chunk.profile.samples[1].timestamp), first)
    assert.is_truthy(text:find('"measurements":null', 1, true))
    assert.is_truthy(text:find('"debug_meta":{}', 1, true))
    assert.is_truthy(text:find('"options":null', 1, true))
    local empty = gen.encode(gen.answer({ chunk }, T0 + 1000, T0 + 1001))
    assert.is_truthy(empty:find('"samples":[]', 1, true))
    local decoded = cjson.decode(text)
    assert.are.equal(chunk.chunk_id, decoded.debug_chunk_ids[1])
  end)

  it("merges as the server does: sorted, shifted, not deduplicated, window applied", function()
    local a = gen.chunk_table { index = 0, threads = 2, hz = 10 }
    local b = gen.chunk_table { index = 1, threads = 2, hz = 10 }
    local a_samples, b_stack1 = #a.profile.samples, b.profile.stacks[1][1]
    -- Later chunk first: the merge sorts by time and keeps the earliest metadata.
    local answer = gen.answer({ b, a }, T0 + 30, T0 + 90)
    local m = answer.chunk
    assert.are.same({ a.chunk_id, b.chunk_id }, answer.debug_chunk_ids)
    assert.are.equal(a.chunk_id, m.chunk_id)
    assert.are.equal(a.received, m.received)
    local p = m.profile
    assert.are.equal(#a.profile.frames + #b.profile.frames, #p.frames)
    assert.are.equal(#a.profile.stacks + #b.profile.stacks, #p.stacks)
    assert.are.equal(b_stack1 + #a.profile.frames, p.stacks[#a.profile.stacks + 1][1])
    -- Samples outside [start, end] are gone, their stacks stay.
    for _, s in ipairs(p.samples) do
      assert.is_true(s.timestamp >= T0 + 30 and s.timestamp <= T0 + 90)
    end
    local first_b
    for i, s in ipairs(p.samples) do
      if s.timestamp >= T0 + 60 then first_b = i break end
    end
    assert.are.equal(b.profile.samples[1].stack_id + #a.profile.stacks, p.samples[first_b].stack_id)
    assert.is_true(#p.samples < 2 * a_samples)
    -- Inputs untouched.
    assert.are.equal(a_samples, #a.profile.samples)
    assert.are.equal(b_stack1, b.profile.stacks[1][1])
    local main
    for _, t in ipairs(gen.threads { threads = 2 }) do if t.name == "MainThread" then main = t.id end end
    assert.are.same({ name = "MainThread" }, p.thread_metadata[main])
  end)
end)

describe("the fake Sentry", function()
  local srv
  local ids = server.PROFILER_IDS

  setup(function() srv = server.start { tls = true } end)
  teardown(function() if srv then srv.stop() end end)

  local function get(query, options, org, base)
    return curl(srv, chunks_url(base or srv.url, org or srv.org, query), options)
  end

  local function assert_detail(r, status, message)
    assert.are.equal(status, r.status)
    assert.are.equal("application/json", r.headers["content-type"])
    assert.are.same({ detail = message }, cjson.decode(r.body))
  end

  local ok_query = "project=1&profiler_id=" .. ids.single

  describe("validates in the contract's order", function()
    it("404 with an empty body when the org has no continuous profiling", function()
      local r = get(ok_query, { token = "wrong" }, "no-profiling")
      assert.are.equal(404, r.status)
      assert.are.equal("", r.body)
    end)
    it("404 detail for an unknown org, before the token is looked at", function()
      assert_detail(get(ok_query, { token = "wrong" }, "nope"), 404, "The requested resource does not exist")
    end)
    it("401 for a bad or missing token, before the project", function()
      assert_detail(get("project=2&profiler_id=x", { token = "wrong" }), 401, "Invalid token")
      local r = get(ok_query, { token = false })
      assert.are.equal(401, r.status)
      assert.is_string(cjson.decode(r.body).detail)
    end)
    it("403 for a forbidden project, before the project syntax", function()
      assert_detail(get("project=abc&project=2&profiler_id=x"), 403,
        "You do not have permission to perform this action.")
    end)
    it("400 for a project that is not a number", function()
      assert_detail(get("project=abc&profiler_id=x"), 400,
        "Invalid project parameter. Values must be numbers.")
    end)
    it("400 unless exactly one project", function()
      assert_detail(get("profiler_id=x"), 400, "one project_id must be specified.")
    end)
    it("400 without profiler_id", function()
      assert_detail(get("project=1&statsPeriod=zz"), 400, "profiler_id must be specified.")
    end)
    it("400 for a bad statsPeriod", function()
      assert_detail(get(ok_query .. "&statsPeriod=1x"), 400, "Invalid date range: Invalid statsPeriod: '1x'")
    end)
    it("400 for half a range or start >= end", function()
      for _, q in ipairs { "&start=2026-05-28T08:00:00", "&end=2026-05-28T08:00:00",
          "&start=2026-05-28T09:00:00Z&end=2026-05-28T08:00:00Z",
          "&start=2026-05-28T08:00:00&end=2026-05-28T08:00:00" } do
        local r = get(ok_query .. q)
        assert.are.equal(400, r.status)
        assert.is_truthy(cjson.decode(r.body).detail:find("^Invalid date range: "))
      end
    end)
    it("400 plain text when no chunk is in the window", function()
      local r = get(ok_query .. "&start=2026-05-28T07:00:00Z&end=2026-05-28T07:59:00Z")
      assert.are.equal(400, r.status)
      assert.is_truthy(r.headers["content-type"]:find("^text/plain"))
      assert.are.equal("error: no chunks found to merge", r.body)
    end)
    it("404 empty when a chunk is missing in storage", function()
      local r = get("project=1&profiler_id=" .. ids.missing)
      assert.are.equal(404, r.status)
      assert.are.equal("", r.body)
    end)
  end)

  it("sends the rate-limit headers on every answer", function()
    for _, r in ipairs { get(ok_query), get(ok_query, { token = "wrong" }), get(ok_query, nil, "nope"),
        curl(srv, chunks_url(srv.url .. "/_test/500", srv.org, ok_query)) } do
      local h = r.headers
      assert.are.equal("40", h["x-sentry-rate-limit-limit"])
      assert.is_truthy(tonumber(h["x-sentry-rate-limit-remaining"]))
      local reset = tonumber(h["x-sentry-rate-limit-reset"])
      assert.is_true(math.abs(reset - os.time()) < 60)
      assert.is_truthy(tonumber(h["x-sentry-rate-limit-concurrentlimit"]))
      assert.is_truthy(tonumber(h["x-sentry-rate-limit-concurrentremaining"]))
    end
  end)

  it("answers one merged chunk for the exact window", function()
    -- 90.25 s to 150.5 s after T0: the end of chunk 1 and the start of chunk 2.
    local r = get("project=1&profiler_id=" .. ids.realistic
      .. "&start=2026-05-28T08:01:30.25&end=2026-05-28T08:02:30.500Z")
    assert.are.equal(200, r.status)
    assert.are.equal("application/json", r.headers["content-type"])
    local answer = cjson.decode(r.body)
    local c = answer.chunk
    assert.are.equal(2, #answer.debug_chunk_ids)
    assert.are.equal(answer.debug_chunk_ids[1], c.chunk_id)
    assert.are.equal("2", c.version)
    assert.are.equal("python", c.platform)
    assert.are.equal(cjson.null, c.measurements)
    assert.are.equal(cjson.null, c.options)
    local p = c.profile
    local lo, hi = T0 + 90.25, T0 + 150.5
    local min_ts, max_ts, max_stack = math.huge, -math.huge, -1
    for _, s in ipairs(p.samples) do
      if s.timestamp < min_ts then min_ts = s.timestamp end
      if s.timestamp > max_ts then max_ts = s.timestamp end
      if s.stack_id > max_stack then max_stack = s.stack_id end
    end
    assert.is_true(min_ts >= lo and min_ts < lo + 0.02)
    assert.is_true(max_ts <= hi and max_ts > hi - 0.02)
    assert.is_true(max_stack < #p.stacks)
    -- Both chunks' frames, not deduplicated.
    local frames = 0
    for k = 1, 2 do
      frames = frames + #gen.chunk_table { profiler_id = ids.realistic, index = k, threads = 4, seed = 1 }.profile.frames
    end
    assert.are.equal(frames, #p.frames)
    assert.are.equal(4, #(function() local t = {} for k in pairs(p.thread_metadata) do t[#t + 1] = k end return t end)())
  end)

  it("keeps only the newest 50 chunks of a long window", function()
    local r = get("project=1&profiler_id=" .. ids.light .. "&statsPeriod=4h")
    assert.are.equal(200, r.status)
    local answer = cjson.decode(r.body)
    assert.are.equal(50, #answer.debug_chunk_ids)
    local samples = answer.chunk.profile.samples
    assert.are.equal(50 * 300, #samples)
    assert.is_true(samples[1].timestamp >= T0 + 190 * 60)
    assert.is_true(samples[#samples].timestamp < T0 + 240 * 60)
    -- statsPeriod without a unit is seconds: the last 90 s are two chunks.
    local short = cjson.decode(get("project=1&profiler_id=" .. ids.light .. "&statsPeriod=90").body)
    assert.are.equal(2, #short.debug_chunk_ids)
  end)

  it("serves the full-size 50-chunk answer (~110 MB)", function()
    local r = get("project=1&profiler_id=" .. ids.realistic .. "&statsPeriod=4h")
    assert.are.equal(200, r.status)
    assert.is_true(#r.body > 95e6 and #r.body < 130e6, "bytes " .. #r.body)
    assert.is_truthy(r.body:sub(-3000):find('"debug_chunk_ids":%['))
  end)

  describe("faults", function()
    local function fault_url(faults, query)
      return chunks_url(srv.url .. "/_test/" .. faults, srv.org, query or ok_query)
    end
    local plain
    before_each(function() plain = plain or get(ok_query).body end)

    it("gzip: Content-Encoding gzip, same document once decoded", function()
      local raw = curl(srv, fault_url("gzip"))
      assert.are.equal("gzip", raw.headers["content-encoding"])
      assert.are.equal("\31\139", raw.body:sub(1, 2))
      assert.are.equal(plain, curl(srv, fault_url("gzip"), { compressed = true }).body)
    end)
    it("cut: a body shorter than its Content-Length", function()
      local r = curl(srv, fault_url("cut"))
      assert.are.equal(18, r.exit) -- CURLE_PARTIAL_FILE
      assert.is_true(#r.body < tonumber(r.headers["content-length"]))
    end)
    it("429x1: one bare-string 429 with Reset = now + 1, then the data", function()
      local r = curl(srv, fault_url("429x1,tag=spec"))
      assert.are.equal(429, r.status)
      assert.is_nil(r.headers["retry-after"])
      assert.are.equal("string", type(cjson.decode(r.body)))
      assert.are.equal("0", r.headers["x-sentry-rate-limit-remaining"])
      assert.is_true(tonumber(r.headers["x-sentry-rate-limit-reset"]) >= os.time())
      assert.are.equal(plain, curl(srv, fault_url("429x1,tag=spec")).body)
    end)
    it("chunked and slow deliver the same bytes", function()
      assert.are.equal(plain, curl(srv, fault_url("chunked")).body)
      assert.are.equal(plain, curl(srv, fault_url("slow")).body)
    end)
    it("redirect: the other host gets no token, and the log never shows it", function()
      local target = "http%3A%2F%2Flocalhost%3A" .. srv.port
      curl(srv, srv.url .. "/_test/log?clear=1", { token = false })
      local r = curl(srv, fault_url("redirect=" .. target), { follow = true })
      assert.are.equal(401, r.status)
      local log = curl(srv, srv.url .. "/_test/log", { token = false }).body
      assert.is_nil(log:find(srv.token, 1, true))
      local lines = {}
      for line in log:gmatch("[^\n]+") do lines[#lines + 1] = cjson.decode(line) end
      assert.are.equal(2, #lines)
      assert.are.equal(302, lines[1].status)
      assert.is_true(lines[1].auth_valid)
      assert.is_false(lines[2].auth_present)
      assert.is_truthy(lines[2].host:find("^localhost:"))
    end)
  end)

  it("speaks TLS with the generated CA, for 127.0.0.1 and localhost", function()
    local r = get(ok_query, { cacert = srv.ca_file }, nil, srv.https_url)
    assert.are.equal(200, r.status)
    r = get(ok_query, { cacert = srv.ca_file }, nil, "https://localhost:" .. srv.tls_port)
    assert.are.equal(200, r.status)
  end)
end)
