-- client:fetch against the fake Sentry over loopback (spec/server): every
-- answer of the contract, the network faults, TLS, retries, secrets.
-- No mocks: real HTTP through libcurl. Blocks tagged #asan also run under
-- AddressSanitizer in `make test`.
local chunks = require "sentry.chunks"
local core = require "sentry.chunks.core"
local server = require "support.server"

local srv
local IDS = server.PROFILER_IDS

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

-- The raw bytes of a URL through the curl command line (independent of the
-- code under test).
local function curl_raw(url, token)
  local cmd = "env -u LD_PRELOAD curl -sS -m 120 --compressed"
  if token then cmd = cmd .. " -H " .. shell_quote("Authorization: Bearer " .. token) end
  local p = assert(io.popen(cmd .. " " .. shell_quote(url)))
  local s = p:read("*a")
  p:close()
  return s
end

-- The server's request log, one table per request.
local function server_log(clear)
  local text = curl_raw(srv.url .. "/_test/log" .. (clear and "?clear=1" or ""))
  local entries = {}
  for line in text:gmatch("[^\n]+") do entries[#entries + 1] = assert(chunks.decode(line)) end
  return entries
end

local function client(opts)
  local o = { token = srv.token, org = srv.org, base_url = srv.url, backoff = 0.05 }
  for k, v in pairs(opts or {}) do o[k] = v end
  return chunks.client(o)
end

local function faulty(faults, opts)
  opts = opts or {}
  opts.base_url = srv.url .. "/_test/" .. faults
  return client(opts)
end

local SINGLE = { project = 1, profiler_id = IDS.single }

local function api_url(query)
  return srv.url .. "/api/0/organizations/test-org/profiling/chunks/?" .. query
end

-- Every string inside a value, for the secret checks.
local function strings_of(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "string" then out[#out + 1] = v
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do strings_of(k, out, seen); strings_of(x, out, seen) end
  end
  return out
end

local collected = {} -- every error message and details table, for the secret spec
local function fails(res, msg, details)
  assert.is_nil(res)
  assert.is_string(msg)
  assert.is_table(details)
  assert.is_nil(msg:find("\n", 1, true), "one-line message")
  collected[#collected + 1] = { msg, details }
  return msg, details
end

setup(function()
  srv = server.start { tls = true }
end)

teardown(function()
  if srv then srv.stop() end
end)

describe("fetch: a 200 answer #asan", function()
  it("decodes the single chunk into tables", function()
    local res, err, info = client():fetch(SINGLE)
    assert.is_nil(err)
    assert.is_table(res.chunk.profile.samples)
    assert.equal(IDS.single, res.chunk.profiler_id)
    assert.is_true(#res.chunk.profile.samples > 0)
    assert.equal(200, info.status)
    assert.is_table(info.rate_limit)
    assert.equal(40, info.rate_limit.limit)
  end)

  it("deep-equals decoding the same bytes from memory", function()
    local res = assert(client():fetch(SINGLE))
    local raw = curl_raw(api_url("project=1&profiler_id=" .. IDS.single), srv.token)
    assert.same(chunks.decode(raw), res)
  end)

  it("deep-equals the 50-chunk merge from memory (newest 50 of a 1 h window)", function()
    -- split = false: one request, as the server answers it (else split in windows)
    local q = { project = 1, profiler_id = IDS.light, stats_period = "1h", split = false }
    local res, _, info = assert(client():fetch(q))
    local raw = curl_raw(api_url("project=1&statsPeriod=1h&profiler_id=" .. IDS.light), srv.token)
    assert.same(chunks.decode(raw), res)
    assert.equal(50, #res.debug_chunk_ids)
    assert.is_true(info.truncated)
  end)

  for _, fault in ipairs { "gzip", "deflate", "chunked", "slow", "gzip,chunked", "latency=50" } do
    it("gives the same table with the body sent " .. fault, function()
      local plain = assert(client():fetch(SINGLE))
      local res, err = faulty(fault):fetch(SINGLE)
      assert.is_nil(err)
      assert.same(plain, res)
    end)
  end

  it("reuses the connection between fetches of one client", function()
    local c = client()
    assert(c:fetch(SINGLE))
    local _, _, info = c:fetch(SINGLE)
    assert.is_true(info.reused)
  end)

  it("converts Unix seconds to ISO-8601 UTC for start and end", function()
    server_log(true)
    local res = assert(client():fetch { project = 1, profiler_id = IDS.single,
      start = srv.start_ts + 600, ["end"] = srv.start_ts + 660.5 })
    assert.is_true(#res.chunk.profile.samples > 0)
    local log = server_log()
    local q = log[#log].query
    assert.truthy(q:find("start=2026-05-28T08%3A10%3A00Z", 1, true), q)
    assert.truthy(q:find("end=2026-05-28T08%3A11%3A00.5Z", 1, true), q)
  end)

  it("accepts ISO-8601 strings for start and end", function()
    local res = assert(client():fetch { project = 1, profiler_id = IDS.single,
      start = "2026-05-28T08:10:00", ["end"] = "2026-05-28T08:11:00Z" })
    assert.is_true(#res.chunk.profile.samples > 0)
  end)

  it("reports progress outside libcurl: received grows to the total", function()
    local calls, last, total = 0, -1, nil
    local c = client { on_progress = function(got, t)
      calls = calls + 1
      assert.is_true(got >= last)
      last, total = got, t
    end }
    assert(c:fetch { project = 1, profiler_id = IDS.light, stats_period = "40m" })
    assert.is_true(calls >= 1)
    assert.equal(total, last)
  end)

  it("percent-escapes the organization", function()
    server_log(true)
    local c = client { org = "a b/c?d" }
    local msg, d = fails(c:fetch(SINGLE))
    assert.equal(404, d.status)
    assert.equal("The requested resource does not exist", d.detail)
    assert.truthy(msg:find("404", 1, true))
    local log = server_log()
    assert.equal("/api/0/organizations/a%20b%2Fc%3Fd/profiling/chunks/", log[#log].path)
  end)
end)

describe("fetch: error answers of the real server #asan", function()
  it("400 no chunks: an empty range, told apart", function()
    local msg, d = fails(client():fetch { project = 1, profiler_id = IDS.single, stats_period = "30m" })
    assert.equal("no profile chunks in this time range", msg)
    assert.equal(400, d.status)
    assert.equal("no_chunks", d.kind)
  end)

  it("400 with a detail: the server's words in the message", function()
    -- (a start after the end is refused before any request now: the
    -- server's own 400 comes from a fault)
    local escape = require("sentry.chunks.client").escape
    local msg, d = fails(faulty("status=400,body=" .. escape('{"detail":"Invalid date range: start must be before end"}'))
      :fetch { project = 1, profiler_id = IDS.single, start = "2026-05-28T08:00:00", ["end"] = "2026-05-28T09:00:00" })
    assert.equal(400, d.status)
    assert.equal("http", d.kind)
    assert.equal("Invalid date range: start must be before end", d.detail)
    assert.equal("HTTP 400 Bad Request: Invalid date range: start must be before end", msg)
  end)

  it("401 invalid token", function()
    local msg, d = fails(client { token = "sntrys_wrong" }:fetch(SINGLE))
    assert.equal(401, d.status)
    assert.equal("http", d.kind)
    assert.equal("Invalid token", d.detail)
    assert.equal("HTTP 401 Unauthorized: Invalid token", msg)
  end)

  it("403 a forbidden project", function()
    local msg, d = fails(client():fetch { project = 2, profiler_id = IDS.single })
    assert.equal(403, d.status)
    assert.equal("You do not have permission to perform this action.", d.detail)
    assert.truthy(msg:find("403 Forbidden", 1, true))
  end)

  it("404 unknown organization, with detail", function()
    local msg, d = fails(client { org = "nobody" }:fetch(SINGLE))
    assert.equal(404, d.status)
    assert.equal("The requested resource does not exist", d.detail)
    assert.equal("HTTP 404 Not Found: The requested resource does not exist", msg)
  end)

  it("404 with an empty body: continuous profiling not enabled", function()
    local msg, d = fails(client { org = "no-profiling" }:fetch(SINGLE))
    assert.equal(404, d.status)
    assert.equal("http", d.kind)
    assert.equal("", d.body)
    assert.truthy(msg:find("not enabled", 1, true))
  end)

  it("404 with an empty body: a chunk missing in storage", function()
    local _, d = fails(client():fetch { project = 1, profiler_id = IDS.missing })
    assert.equal(404, d.status)
  end)

  it("500 with detail and errorId, not retried", function()
    server_log(true)
    local msg, d = fails(faulty("500"):fetch(SINGLE))
    assert.equal(500, d.status)
    assert.equal("http", d.kind)
    assert.equal("Internal Error", d.detail)
    assert.equal("HTTP 500 Internal Server Error: Internal Error", msg)
    assert.equal(1, d.attempts)
    assert.equal(1, #server_log())
  end)

  it("a 200 with an HTML body: content_type, the decoder never fed", function()
    local msg, d = fails(faulty("html"):fetch(SINGLE))
    assert.equal("content_type", d.kind)
    assert.equal(200, d.status)
    assert.truthy(d.content_type:find("text/html", 1, true))
    assert.truthy(msg:find("Sign in", 1, true))
  end)

  it("a 200 whose JSON is broken: invalid_json with the decoder's position, no partial value", function()
    local msg, d = fails(faulty("badjson"):fetch(SINGLE))
    assert.equal("invalid_json", d.kind)
    assert.equal(200, d.status)
    assert.truthy(msg:find("unexpected ','", 1, true), msg)
    assert.truthy(msg:find("at byte 61 (line 1, column 61)", 1, true), msg)
  end)

  it("parses headers, including the X-Sentry-Rate-Limit ones", function()
    local _, d = fails(client { token = "nope" }:fetch(SINGLE))
    assert.equal("application/json", d.headers["content-type"])
    assert.is_string(d.headers["x-sentry-rate-limit-reset"])
    assert.equal(40, d.rate_limit.limit)
    assert.equal(25, d.rate_limit.concurrent_limit)
    assert.is_number(d.rate_limit.reset)
  end)
end)

describe("fetch: retries", function()
  it("429 then success: waits for the Reset time and retries", function()
    local res, err, info = faulty("429x1,tag=" .. os.time()):fetch(SINGLE)
    assert.is_nil(err)
    assert.is_table(res.chunk)
    assert.equal(2, info.attempts)
    assert.is_table(info.rate_limit)
  end)

  it("429 past the retries: rate_limited, with the last rate-limit headers", function()
    local msg, d = fails(faulty("429x9,tag=" .. os.time(), { retries = 1 }):fetch(SINGLE))
    assert.equal("rate_limited", d.kind)
    assert.equal(429, d.status)
    assert.equal(2, d.attempts)
    assert.equal(0, d.rate_limit.remaining)
    assert.is_number(d.rate_limit.reset)
    assert.truthy(msg:find("You are attempting to use this endpoint too frequently", 1, true))
    assert.truthy(msg:find("after 1 retry", 1, true))
  end)

  it("429 asking for a wait longer than max_wait: no wait at all", function()
    local _, d = fails(faulty("429x9,tag=w" .. os.time(), { max_wait = 0 }):fetch(SINGLE))
    assert.equal("rate_limited", d.kind)
    assert.equal(1, d.attempts)
  end)

  it("503 then success: retried with backoff", function()
    local res, err, info = faulty("503x2,tag=" .. os.time()):fetch(SINGLE)
    assert.is_nil(err)
    assert.is_table(res.chunk)
    assert.equal(3, info.attempts)
  end)

  it("503 every time: gives up after `retries`", function()
    local msg, d = fails(faulty("503x9,tag=g" .. os.time(), { retries = 2 }):fetch(SINGLE))
    assert.equal("http", d.kind)
    assert.equal(503, d.status)
    assert.equal(3, d.attempts)
    assert.equal("Service Unavailable", d.detail)
    assert.truthy(msg:find("after 2 retries", 1, true))
  end)

  it("retries = 0: no retry", function()
    local _, d = fails(faulty("503x1,tag=z" .. os.time(), { retries = 0 }):fetch(SINGLE))
    assert.equal(1, d.attempts)
  end)
end)

describe("fetch: network faults #asan", function()
  it("connection refused: network, retried", function()
    local msg, d = fails(client { base_url = "http://127.0.0.1:1", retries = 1 }:fetch(SINGLE))
    assert.equal("network", d.kind)
    assert.equal(2, d.attempts)
    assert.truthy(msg:find("network error", 1, true))
  end)

  it("a body cut short never returns the half", function()
    local msg, d = fails(faulty("cut"):fetch(SINGLE))
    assert.equal("network", d.kind)
    assert.equal(200, d.status)
    assert.equal(1, d.attempts)
    assert.truthy(msg:find("network error", 1, true))
  end)

  it("a connection reset mid-body never returns the half", function()
    local _, d = fails(faulty("reset"):fetch { project = 1, profiler_id = IDS.light, stats_period = "1h" })
    assert.equal("network", d.kind)
  end)

  it("a stalled server hits the low-speed limit: timeout", function()
    local msg, d = fails(faulty("stall=20", { low_speed_time = 1 }):fetch(SINGLE))
    assert.equal("timeout", d.kind)
    assert.truthy(msg:find("too slow", 1, true))
  end)

  it("a body over max_bytes: too_large", function()
    local msg, d = fails(client { max_bytes = 1000 }:fetch(SINGLE))
    assert.equal("too_large", d.kind)
    assert.truthy(msg:find("max_bytes", 1, true))
  end)

  it("a gzip body over max_bytes once decoded: too_large", function()
    local _, d = fails(faulty("gzip,chunked", { max_bytes = 20000 }):fetch(SINGLE))
    assert.equal("too_large", d.kind)
  end)

  it("the whole-transfer timeout", function()
    local _, d = fails(faulty("latency=3000", { timeout = 0.5 }):fetch(SINGLE))
    assert.equal("timeout", d.kind)
  end)
end)

describe("fetch: TLS #asan", function()
  it("works over HTTPS with the generated CA as ca_file", function()
    local res, err = client { base_url = srv.https_url, ca_file = srv.ca_file }:fetch(SINGLE)
    assert.is_nil(err)
    assert.same(assert(client():fetch(SINGLE)), res)
  end)

  it("fails without the CA: tls, not retried", function()
    local msg, d = fails(client { base_url = srv.https_url }:fetch(SINGLE))
    assert.equal("tls", d.kind)
    assert.equal(1, d.attempts)
    assert.truthy(msg:find("certificate", 1, true))
  end)
end)

describe("fetch: redirects and the token #asan", function()
  it("follows a redirect to the same origin, with the token", function()
    local to = core and chunks.client and require("sentry.chunks.client").escape(srv.url)
    local res, err = faulty("redirect=" .. to):fetch(SINGLE)
    assert.is_nil(err)
    assert.is_table(res.chunk)
  end)

  it("refuses a redirect to another host: the token never goes there", function()
    server_log(true)
    local other = "http://localhost:" .. srv.port
    local to = require("sentry.chunks.client").escape(other)
    local msg, d = fails(faulty("redirect=" .. to):fetch(SINGLE))
    assert.equal("redirect", d.kind)
    assert.equal(302, d.status)
    assert.truthy(msg:find("localhost", 1, true))
    local log = server_log()
    assert.equal(1, #log)
    assert.is_true(log[1].auth_valid)
    for _, e in ipairs(log) do
      assert.is_falsy((e.host or ""):find("localhost", 1, true))
    end
  end)

  it("refuses a redirect to another port of the same host", function()
    local to = require("sentry.chunks.client").escape("http://127.0.0.1:1")
    local _, d = fails(faulty("redirect=" .. to):fetch(SINGLE))
    assert.equal("redirect", d.kind)
  end)

  it("keeps the token out of tostring(client)", function()
    local c = client()
    local s = tostring(c)
    assert.equal("sentry.chunks.client (" .. srv.url .. ", org test-org, token set)", s)
    assert.is_nil(s:find(srv.token, 1, true))
    for k, v in pairs(c) do
      assert.is_nil(tostring(k):find(srv.token, 1, true))
      assert.is_nil(tostring(v):find(srv.token, 1, true))
    end
    assert.equal("sentry.chunks.client (https://sentry.io, org x, no token)",
      tostring(chunks.client { org = "x", token = "" }):gsub("no token", "no token"))
  end)

  it("keeps the token out of every error message and details table", function()
    -- a few more failures, then everything collected by the specs above
    fails(client { base_url = "http://127.0.0.1:1", retries = 0 }:fetch(SINGLE))
    fails(faulty("cut"):fetch(SINGLE))
    fails(client { token = "nope" }:fetch(SINGLE))
    assert.is_true(#collected >= 10)
    for _, pair in ipairs(collected) do
      for _, s in ipairs(strings_of(pair)) do
        assert.is_nil(s:find(srv.token, 1, true), s)
      end
    end
  end)
end)

describe("fetch: validation before any request", function()
  local function invalid(q, field, pattern, opts)
    local msg, d = fails(client(opts):fetch(q))
    assert.equal("invalid_argument", d.kind)
    assert.equal(field, d.field)
    assert.truthy(msg:find(pattern, 1, true), msg)
  end

  it("checks every query value, with a message that says what is wrong", function()
    server_log(true)
    invalid({ profiler_id = IDS.single }, "project", "project is required")
    invalid({ project = 1.5, profiler_id = IDS.single }, "project", "integer project id, got 1.5")
    invalid({ project = "a/b", profiler_id = IDS.single }, "project", "got 'a/b'") -- "abc" is a slug: resolved
    invalid({ project = 1 }, "profiler_id", "profiler_id is required")
    invalid({ project = 1, profiler_id = "xyz" }, "profiler_id", "32 hex digits, got 'xyz'")
    invalid({ project = 1, profiler_id = IDS.single .. "0" }, "profiler_id", "32 hex digits")
    invalid({ project = 1, profiler_id = IDS.single, stats_period = "1y" }, "stats_period",
      "got '1y'")
    invalid({ project = 1, profiler_id = IDS.single, stats_period = "1h", start = 1 },
      "stats_period", "not both")
    invalid({ project = 1, profiler_id = IDS.single, start = 1 }, "end", "give both")
    invalid({ project = 1, profiler_id = IDS.single, start = 2, ["end"] = 1 }, "start",
      "start must be before end")
    invalid({ project = 1, profiler_id = IDS.single, start = "yesterday", ["end"] = "today" },
      "start", "ISO-8601")
    invalid(SINGLE, "org", "SENTRY_ORG", { org = "" })
    assert.equal(0, #server_log())
  end)

  it("accepts a project id given as a string of digits", function()
    assert(client():fetch { project = "1", profiler_id = IDS.single })
  end)

  it("raises on a wrong argument type, like luaL_argerror", function()
    local c = client()
    assert.has_error(function() c:fetch(nil) end,
      "bad argument #1 to 'fetch' (table expected, got nil)")
    assert.has_error(function() c:fetch { project = 1, profiler_id = 5 } end,
      "bad argument #1 to 'fetch' (field 'profiler_id': string expected, got number)")
    assert.has_error(function() c:fetch { project = 1, profiler = "x" } end,
      "bad argument #1 to 'fetch' (unknown field 'profiler'; did you mean 'profiler_id'?)")
    assert.has_error(function() chunks.client { timeout = "soon" } end,
      "bad argument #1 to 'client' (option 'timeout': number expected, got string)")
    assert.has_error(function() chunks.client { base_url = "ftp://example.com" } end)
    assert.has_error(function() chunks.client { base_url = "https://u:p@example.com" } end,
      "bad argument #1 to 'client' (option 'base_url': credentials in the URL are not supported, use token)")
    assert.has_error(function() chunks.client(5) end,
      "bad argument #1 to 'client' (table expected, got number)")
    assert.has_error(function() chunks.fetch() end,
      "bad argument #1 to 'fetch' (table expected, got nil)")
  end)
end)

describe("chunks.fetch and the environment", function()
  -- The interpreter running these specs, to run a child with a set environment.
  local function interpreter()
    local lua = os.getenv("SENTRY_CHUNKS_TEST_LUA")
    if lua then return lua end
    local i = -1
    while arg[i - 1] do i = i - 1 end
    return arg[i]
  end

  local function run_child(env, code)
    local parts = { "env -u LD_PRELOAD" }
    for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. shell_quote(v) end
    parts[#parts + 1] = shell_quote(interpreter())
    parts[#parts + 1] = "-e " .. shell_quote(code)
    local p = assert(io.popen(table.concat(parts, " ") .. " 2>&1"))
    local out = p:read("*a")
    p:close()
    return out
  end

  it("takes token, org and base URL from SENTRY_AUTH_TOKEN, SENTRY_ORG, SENTRY_URL", function()
    local out = run_child({ SENTRY_AUTH_TOKEN = srv.token, SENTRY_ORG = srv.org,
      SENTRY_URL = srv.url .. "/" }, [[
      local chunks = require "sentry.chunks"
      local res, err = chunks.fetch { project = 1, profiler_id = "]] .. IDS.single .. [[" }
      print(res and #res.chunk.profile.samples > 0, err)
      print(tostring(chunks.client()))
    ]])
    assert.truthy(out:find("^true\tnil\n"), out)
    assert.truthy(out:find("sentry.chunks.client (" .. srv.url .. ", org test-org, token set)", 1, true), out)
    assert.is_nil(out:find(srv.token, 1, true))
  end)

  it("without an organization says how to give one", function()
    local out = run_child({ SENTRY_URL = srv.url }, [[
      local chunks = require "sentry.chunks"
      local res, err, d = chunks.fetch { project = 1, profiler_id = "]] .. IDS.single .. [[" }
      print(res, err, d.kind)
    ]])
    assert.truthy(out:find("SENTRY_ORG", 1, true), out)
    assert.truthy(out:find("invalid_argument", 1, true), out)
  end)
end)

describe("the request engine #asan", function()
  it("a request collected mid-transfer is removed from the multi cleanly", function()
    local multi = core.multi()
    local req = multi:request { url = srv.url .. "/_test/slow/api/0/organizations/test-org/profiling/chunks/?project=1&profiler_id=" .. IDS.single, token = srv.token }
    for _ = 1, 5 do
      req:step()
      multi:poll(0.05)
    end
    assert.equal(1, multi:active())
    req = nil
    collectgarbage()
    collectgarbage()
    assert.equal(0, multi:active())
    multi:close()
  end)

  it("closing the multi mid-transfer fails its requests, and both free cleanly", function()
    local multi = core.multi()
    local req = multi:request { url = srv.url .. "/_test/slow/api/0/organizations/test-org/profiling/chunks/?project=1&profiler_id=" .. IDS.single, token = srv.token }
    req:step()
    multi:close()
    assert.is_true(req:step())
    local v, kind = req:result()
    assert.is_nil(v)
    assert.equal("aborted", kind)
    req:close()
    req:close()
  end)

  it("cancel frees the transfer at once; result says cancelled", function()
    local multi = core.multi()
    local req = multi:request { url = api_url("project=1&profiler_id=" .. IDS.single), token = srv.token }
    req:step()
    req:cancel()
    assert.equal(0, multi:active())
    local v, kind = req:result()
    assert.is_nil(v)
    assert.equal("aborted", kind)
  end)

  it("several requests on one multi progress together", function()
    local multi = core.multi()
    local reqs = {}
    for i = 1, 3 do
      reqs[i] = multi:request { url = srv.url .. "/_test/chunked,tag=" .. i ..
        "/api/0/organizations/test-org/profiling/chunks/?project=1&profiler_id=" .. IDS.single,
        token = srv.token, buffer_size = 4096 }
    end
    local pending = 3
    while pending > 0 do
      pending = 0
      for i = 1, 3 do if not reqs[i]:step() then pending = pending + 1 end end
      if pending > 0 then multi:poll(0.1) end
    end
    local first = assert(reqs[1]:result())
    for i = 2, 3 do assert.same(first, assert(reqs[i]:result())) end
  end)

  it("says which sockets to wait on, so a host loop need not poll", function()
    local multi = core.multi()
    assert.same({}, multi:sockets())
    local req = multi:request { url = srv.url .. "/_test/slow/api/0/organizations/test-org/profiling/chunks/?project=1&profiler_id=" .. IDS.single, token = srv.token }
    local seen
    for _ = 1, 50 do
      if req:step() then break end
      local socks = multi:sockets()
      if #socks > 0 then seen = socks break end
      multi:poll(0.05)
    end
    assert.is_table(seen)
    assert.equal(1, #seen)
    assert.is_true(seen[1].fd > 2)
    assert.is_true(seen[1].read or seen[1].write)
    req:cancel()
    assert.same({}, multi:sockets()) -- the connection is gone with the transfer
    multi:close()
  end)

  it("tostring of a client, a multi and a request", function()
    local multi = core.multi()
    assert.equal("sentry.chunks.multi (0 active)", tostring(multi))
    local req = multi:request { url = api_url("x") }
    assert.equal("sentry.chunks.request (running)", tostring(req))
    req:close()
  end)
end)
