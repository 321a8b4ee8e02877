-- layout = "columns" through the request path (issue 13, section 2):
-- client:fetch, fetch_async, fetch_range (windows merged in columns, or
-- handed to each), fetch_url, over real HTTP to the test server. Each
-- answer must equal the rows answer converted by chunks.columns.
local chunks = require "sentry.chunks"
local analysis = require "sentry.chunks.analysis"
local server = require "support.server"

local compare = require "support.compare"
local function assert_same(a, b) compare.assert_same(a, b, true) end -- metatables aside

describe("layout = 'columns' through the request path #asan", function()
  local srv, client
  setup(function()
    srv = server.start()
    client = chunks.client { token = srv.token, org = srv.org, base_url = srv.url }
  end)
  teardown(function() srv.stop() end)

  local SERVICE, LIGHT = server.PROFILER_IDS.service, server.PROFILER_IDS.light

  it("client:fetch gives the rows answer in columns, plain and gzip", function()
    local q = { project = 1, profiler_id = SERVICE, start = server.T0, ["end"] = server.T0 + 300 }
    local rows = assert(client:fetch(q))
    q.layout = "columns"
    local cols = assert(client:fetch(q))
    local s = cols.chunk.profile.samples
    assert.equal(#rows.chunk.profile.samples, s.n)
    assert.is_nil(s[1])
    assert_same(assert(chunks.columns(rows)), cols)
    assert_same(analysis.top(rows, { durations = true }), analysis.top(cols, { durations = true }))
    local gz = chunks.client { token = srv.token, org = srv.org, base_url = srv.url .. "/_test/gzip" }
    assert_same(assert(chunks.columns(rows)), assert(gz:fetch(q)))
    q.layout = "rows"
    assert_same(rows, assert(client:fetch(q)))
  end)

  it("an encoded body (its size estimated as it inflates) gives the plain value, both layouts", function()
    -- a Content-Length of wire bytes (gzip, deflate) or none (chunked);
    -- small steps refine the estimate between the samples' first rows
    local q = { project = 1, profiler_id = SERVICE, start = server.T0, ["end"] = server.T0 + 120 }
    local rows = assert(client:fetch(q))
    local cols = assert(chunks.columns(rows))
    for _, faults in ipairs { "gzip", "deflate", "gzip,chunked" } do
      for _, buffer_size in ipairs { 1048576, 4096 } do
        local c = chunks.client { token = srv.token, org = srv.org, base_url = srv.url .. "/_test/" .. faults,
          buffer_size = buffer_size }
        q.layout = "rows"
        assert_same(rows, assert(c:fetch(q)))
        q.layout = "columns"
        assert_same(cols, assert(c:fetch(q)))
        c:close()
      end
    end
  end)

  it("fetch_range merges windows in columns; each hands over windows in columns", function()
    local q = { project = 1, profiler_id = LIGHT, start = server.T0, ["end"] = server.T0 + 2 * 3600,
      window = 1800, concurrency = 2 }
    local rows = assert(client:fetch_range(q))
    q.layout = "columns"
    local cols = assert(client:fetch_range(q))
    assert.equal(#rows.chunk.profile.samples, cols.chunk.profile.samples.n)
    assert_same(assert(chunks.columns(rows)), cols)
    local seen = 0
    q.each = function(answer)
      local s = answer.chunk.profile.samples
      assert.is_number(s.n)
      seen = seen + s.n
    end
    assert(client:fetch_range(q))
    assert.equal(cols.chunk.profile.samples.n, seen)
    -- a long fetch split by itself
    local split = assert(client:fetch { project = 1, profiler_id = LIGHT, start = server.T0,
      ["end"] = server.T0 + 2 * 3600, layout = "columns" })
    assert_same(cols.chunk.profile.samples, split.chunk.profile.samples)
  end)

  it("fetch_url takes layout", function()
    local url = ("%s/organizations/%s/profiling/profile/1/flamegraph/?profilerId=%s&start=%s&end=%s"):format(
      srv.url, srv.org, SERVICE, "2026-05-28T08:00:00Z", "2026-05-28T08:05:00Z")
    local rows, err = client:fetch_url(url)
    if not rows then pending("fetch_url: " .. tostring(err)) return end
    assert_same(assert(chunks.columns(rows)), assert(client:fetch_url(url, { layout = "columns" })))
  end)

  it("raises on a wrong layout, before any request", function()
    for _, bad in ipairs { "col", 1, true } do
      local q = { project = 1, profiler_id = SERVICE, stats_period = "1h", layout = bad }
      local ok, err = pcall(client.fetch, client, q)
      assert.is_false(ok)
      assert.truthy(tostring(err):find(type(bad) == "string" and "field 'layout': 'rows' or 'columns' expected"
        or "field 'layout': string expected", 1, true), err)
      q = { project = 1, profiler_id = LIGHT, start = server.T0, ["end"] = server.T0 + 7200, layout = bad }
      ok, err = pcall(client.fetch_range, client, q)
      assert.is_false(ok)
      assert.truthy(tostring(err):find("'layout'", 1, true), err)
    end
    local multi = require("sentry.chunks.core").multi()
    local ok, err = pcall(multi.request, multi, { url = srv.url, layout = "Columns" })
    assert.is_false(ok)
    assert.truthy(err:find("bad option 'layout' to 'request'", 1, true), err)
    multi:close()
  end)
end)
