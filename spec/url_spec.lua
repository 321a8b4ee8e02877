-- Profile URLs from Sentry's web UI, and fetching what they show.
local chunks = require "sentry.chunks"
local url = require "sentry.chunks.url"
local server = require "support.server"
local gen = require "gen"

local P = "0123456789abcdef0123456789abcdef"
local RANGE = "&start=2026-05-28T08%3A00%3A00.000Z&end=2026-05-28T08%3A10%3A00.000Z"

local accepted = {
  { "https://my-org.sentry.io/explore/profiling/profile/backend/flamegraph/?profilerId=" .. P .. RANGE,
    { org = "my-org", project = "backend", base_url = "https://sentry.io", start = 1779955200, ["end"] = 1779955800 } },
  { "https://sentry.io/organizations/my-org/profiling/profile/backend/flamegraph/?profilerId=" .. P .. "&statsPeriod=1h",
    { org = "my-org", project = "backend", base_url = "https://sentry.io", stats_period = "1h" } },
  { "https://us.sentry.io/organizations/acme/explore/profiling/profile/api/flamegraph/?profilerId=" .. P,
    { org = "acme", project = "api", base_url = "https://us.sentry.io" } },
  { "https://acme.de.sentry.io/explore/profiling/profile/web/flamegraph/?profilerId=" .. P .. RANGE,
    { org = "acme", project = "web", base_url = "https://de.sentry.io" } },
  { "https://sentry.example.com:9000/organizations/acme/profiling/profile/42/flamegraph/?profilerId=" .. P:upper()
      .. "&start=2026-05-28T10:00:00%2B02:00&end=2026-05-28T10:10:00%2B02:00",
    { org = "acme", project = 42, base_url = "https://sentry.example.com:9000", start = 1779955200, ["end"] = 1779955800 } },
}

local rejected = {
  { "https://my-org.sentry.io/explore/profiling/profile/backend/0123456789abcdef0123456789abcdef/flamegraph/", "transaction profile" },
  { "https://my-org.sentry.io/explore/profiling/profile/backend/flamegraph/", "no profilerId" },
  { "https://my-org.sentry.io/explore/profiling/profile/backend/flamegraph/?profilerId=xyz", "not 32 hex digits" },
  { "https://my-org.sentry.io/issues/123/", "not a continuous profile" },
  { "https://sentry.example.com/profiling/profile/backend/flamegraph/?profilerId=" .. P, "no organization" },
  { "ftp://sentry.io/x", "not an http(s) URL" },
  { "https://my-org.sentry.io/explore/profiling/profile/b/flamegraph/?profilerId=" .. P .. "&start=yesterday&end=now", "not ISO-8601" },
}

describe("parse_url", function()
  for _, case in ipairs(accepted) do
    it("reads " .. case[1]:sub(1, 60), function()
      local got, err = url.parse_url(case[1])
      assert.is_nil(err)
      assert.equal(P, got.profiler_id)
      for k, v in pairs(case[2]) do assert.equal(v, got[k], k) end
    end)
  end
  for _, case in ipairs(rejected) do
    it("rejects: " .. case[2], function()
      local got, err = url.parse_url(case[1])
      assert.is_nil(got)
      assert.truthy(err:find(case[2], 1, true), err)
    end)
  end
  it("reads ISO-8601 times field by field, refusing impossible ones", function()
    assert.equal(1779955200, url.iso_to_unix("2026-05-28T08:00:00Z"))
    assert.equal(1779955200, url.iso_to_unix("2026-05-28T10:00:00.000+02:00"))
    assert.equal(1779955200, url.iso_to_unix("2026-05-28T08:00"))
    assert.equal(1709164800, url.iso_to_unix("2024-02-29T00:00:00Z")) -- a leap day
    for _, bad in ipairs { "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z", "2026-05-28T24:00:00Z", "2026-05-28T08:60:00Z", "2026-05-28T08:00:60Z",
        "2026-05-28T08:00:00.", "2026-05-28T08:00:00+25:00", "2026-05-28T08:00:00 and more", "yesterday" } do
      assert.is_nil(url.iso_to_unix(bad), bad)
    end
    local got, err = url.parse_url("https://my-org.sentry.io/explore/profiling/profile/b/flamegraph/?profilerId=" .. P
      .. "&start=2026-13-28T08:00:00Z&end=2026-13-28T09:00:00Z")
    assert.is_nil(got)
    assert.truthy(err:find("not ISO-8601", 1, true))
  end)

  it("raises on a wrong argument", function()
    assert.has_error(function() url.parse_url(nil) end, "bad argument #1 to 'parse_url' (string expected, got nil)")
  end)
end)

describe("client:fetch_url #asan", function()
  local srv
  setup(function() srv = server.start() end)
  teardown(function() srv.stop() end)

  local function profile_url(slug, query)
    return srv.url .. "/organizations/test-org/profiling/profile/" .. slug .. "/flamegraph/?profilerId="
      .. server.PROFILER_IDS.single .. (query or "")
  end

  it("resolves the project slug (once per client) and fetches the URL's window", function()
    local c = chunks.client { token = srv.token, org = "test-org", base_url = srv.url }
    local res, err = c:fetch_url(profile_url("backend", "&start=2026-05-28T08:10:00Z&end=2026-05-28T08:11:00Z"))
    assert.is_nil(err)
    local direct = assert(c:fetch { project = 1, profiler_id = server.PROFILER_IDS.single,
      start = server.T0 + 600, ["end"] = server.T0 + 660 })
    assert.equal(#direct.chunk.profile.samples, #res.chunk.profile.samples)
    assert.equal(1, c:project_id("backend"))
    assert.truthy(c:fetch_url(profile_url("backend", "&start=2026-05-28T08:00:00Z&end=2026-05-28T08:30:00Z")))
    local p = io.popen("env -u LD_PRELOAD curl -s --max-time 10 '" .. srv.url .. "/_test/log'")
    local log = p:read("*a")
    p:close()
    local lookups = select(2, log:gsub("/api/0/projects/test%-org/backend/", ""))
    assert.equal(1, lookups) -- three uses, one request
  end)

  it("says what is wrong with a slug it cannot resolve", function()
    local c = chunks.client { token = srv.token, org = "test-org", base_url = srv.url }
    local res, err, d = c:fetch_url(profile_url("nosuch"))
    assert.is_nil(res)
    assert.equal("project 'nosuch': HTTP 404 Not Found: The requested resource does not exist", err)
    assert.equal(404, d.status)
    local _, err2 = c:fetch_url(profile_url("secret"))
    assert.matches("^project 'secret': HTTP 403", err2)
  end)

  it("never sends the token to another Sentry than the client's", function()
    local c = chunks.client { token = srv.token, org = "test-org", base_url = srv.url }
    local res, err = c:fetch_url("https://my-org.sentry.io/explore/profiling/profile/backend/flamegraph/?profilerId=" .. P)
    assert.is_nil(res)
    assert.matches("make a client with base_url = 'https://sentry.io'", err)
  end)
end)

describe("client:profilers #asan", function()
  local srv
  setup(function() srv = server.start() end)
  teardown(function() srv.stop() end)

  it("lists the profilers seen in spans, following the Link pages", function()
    local c = chunks.client { token = srv.token, org = "test-org", base_url = srv.url }
    local list, err, info = c:profilers { project = 1, stats_period = "7d" }
    assert.is_nil(err)
    assert.equal(3, info.pages) -- 231 span rows, 100 a page
    local by_id = {}
    for _, p in ipairs(list) do by_id[p.profiler_id] = p end
    local realistic = by_id[server.PROFILER_IDS.realistic]
    -- The ids of the threads in the profile (the generator's).
    local tids = {}
    for _, t in ipairs(gen.threads { profiler_id = server.PROFILER_IDS.realistic, threads = 4 }) do
      tids[#tids + 1] = t.id
    end
    table.sort(tids)
    assert.equal(4, #tids)
    assert.same(tids, realistic.threads)
    assert.equal(96, realistic.spans)
    assert.equal(server.T0 + 0.25, realistic.start)
    assert.equal(server.T0 + 60 * 230 + 30.5, realistic.finish)
    assert.equal(1, #by_id[server.PROFILER_IDS.light].threads)
    assert.equal(10, #by_id[server.PROFILER_IDS.service].threads)
    assert.equal(6, #list)
    -- by slug, too
    local again = assert(c:profilers { project = "backend" })
    assert.equal(6, #again)
  end)

  it("says what is wrong", function()
    local c = chunks.client { token = srv.token, org = "test-org", base_url = srv.url }
    local list, err, d = c:profilers { project = 2 }
    assert.is_nil(list)
    assert.matches("^HTTP 403", err)
    assert.equal(403, d.status)
    local _, err2 = c:profilers { project = 1, stats_period = "a while" }
    assert.matches("invalid stats_period", err2)
  end)
end)
