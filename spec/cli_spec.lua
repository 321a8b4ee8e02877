-- bin/sentry-chunks end to end, with the interpreter under test, against
-- the test server and on saved files.
local chunks = require "sentry.chunks"
local server = require "support.server"

local lua = os.getenv("SENTRY_CHUNKS_TEST_LUA") or "lua5.4"
local srv, dir

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs the CLI with SENTRY_* set for the test server; returns stdout,
-- stderr and the exit status.
local function cli(args, env)
  env = env or {}
  local vars = { SENTRY_AUTH_TOKEN = srv.token, SENTRY_ORG = "test-org", SENTRY_URL = srv.url }
  for k, v in pairs(env) do vars[k] = v end
  local parts = {}
  for k, v in pairs(vars) do parts[#parts + 1] = k .. "=" .. q(v) end
  local err_file = dir .. "/stderr"
  -- the exit status comes back on the last line: io.popen's close does
  -- not return it on Lua 5.1 and LuaJIT
  local p = io.popen("env " .. table.concat(parts, " ") .. " " .. lua .. " bin/sentry-chunks " .. args
    .. " 2>" .. q(err_file) .. "; echo \"EXIT=$?\"")
  local out = p:read("*a")
  p:close()
  local code
  out, code = out:match("^(.-)EXIT=(%d+)\n$")
  code = tonumber(code)
  local f = io.open(err_file)
  local err = f and f:read("*a") or ""
  if f then f:close() end
  return out, err, code
end

setup(function()
  srv = server.start()
  local p = io.popen("mktemp -d /tmp/sentry-chunks-cli.XXXXXX")
  dir = p:read("*l")
  p:close()
end)

teardown(function()
  srv.stop()
  os.execute("rm -rf " .. q(dir))
end)

local SINGLE = server.PROFILER_IDS.single
local WINDOW = "--start " .. (server.T0 + 600) .. " --end " .. (server.T0 + 660)

describe("sentry-chunks", function()
  it("fetch saves the answer, every digit kept; top reads the file", function()
    local out, err, code = cli("fetch --project 1 --profiler " .. SINGLE .. " " .. WINDOW .. " -o " .. q(dir .. "/a.json"))
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.equal("", err) -- no progress line when stderr is not a terminal
    local f = assert(io.open(dir .. "/a.json"))
    local saved = assert(chunks.decode(f:read("*a")))
    f:close()
    local direct = assert(chunks.client { token = srv.token, org = "test-org", base_url = srv.url }:fetch {
      project = 1, profiler_id = SINGLE, start = server.T0 + 600, ["end"] = server.T0 + 660 })
    assert.equal(#direct.chunk.profile.samples, #saved.chunk.profile.samples)
    assert.equal(direct.chunk.profile.samples[1].timestamp, saved.chunk.profile.samples[1].timestamp)
    out, err, code = cli("top " .. q(dir .. "/a.json") .. " --limit 3 --mode textbook")
    assert.equal(0, code, err)
    assert.matches("^[%d,]+ samples, [%d.]+m?s of thread time; textbook counting", out)
    assert.matches("\nshowing 3 of [%d,]+ functions, %d+%% of self time\n", out)
    assert.matches("flat%s+flat%%%s+sum%%%s+cum%s+cum%%%s+samples function", out)
    assert.equal(6, select(2, out:gsub("\n", "")))
  end)

  it("speedscope writes a file that passes the schema's required fields", function()
    local _, err, code = cli("speedscope --project backend --profiler " .. SINGLE .. " " .. WINDOW
      .. " -o " .. q(dir .. "/s.json"))
    assert.equal(0, code, err)
    local f = assert(io.open(dir .. "/s.json"))
    local doc = assert(chunks.decode(f:read("*a")))
    f:close()
    assert.equal("https://www.speedscope.app/file-format-schema.json", doc["$schema"])
    assert.is_true(#doc.shared.frames > 0)
    for _, p in ipairs(doc.profiles) do
      assert.equal("sampled", p.type)
      assert.equal(#p.samples, #p.weights)
      assert.equal("microseconds", p.unit)
    end
  end)

  it("folded, diff and profilers print what they say", function()
    local out, err, code = cli("folded " .. q(dir .. "/a.json"))
    assert.equal(0, code, err)
    assert.matches("^[^\n]+;[^\n]+ %d+\n", out)
    out, err, code = cli("diff " .. q(dir .. "/a.json") .. " " .. q(dir .. "/a.json") .. " --limit 2")
    assert.equal(0, code, err)
    assert.matches("^a: [%d.]+m?s in [%d,]+ samples; b: [%d.]+m?s in [%d,]+ samples %(sentry counting%)\n", out)
    assert.matches("\n%S+%s+%S+%s+0%s+%+0%.0%%%s+0 ", out) -- a profile against itself: no change
    out, err, code = cli("profilers --project 1 --period 7d")
    assert.equal(0, code, err)
    assert.truthy(out:find(server.PROFILER_IDS.realistic, 1, true))
  end)

  it("takes a profile URL", function()
    local url = srv.url .. "/organizations/test-org/profiling/profile/backend/flamegraph/?profilerId=" .. SINGLE
      .. "&start=2026-05-28T08:10:00Z&end=2026-05-28T08:11:00Z"
    local out, err, code = cli("top " .. q(url) .. " --limit 1")
    assert.equal(0, code, err)
    assert.matches("^[%d,]+ samples", out)
  end)

  it("exits non-zero with one line on any error, never showing the token", function()
    local _, err, code = cli("top --bogus 1")
    assert.equal(2, code)
    assert.equal("sentry-chunks: unknown option --bogus\n", err)
    _, err, code = cli("fetch --project 1 --profiler " .. SINGLE, { SENTRY_AUTH_TOKEN = "sntrys_wrong_secret_value" })
    assert.equal(1, code)
    assert.equal("sentry-chunks: HTTP 401 Unauthorized: Invalid token\n", err)
    assert.is_nil(err:find("sntrys_wrong_secret_value", 1, true))
    _, err, code = cli("top " .. q(dir .. "/missing.json"))
    assert.equal(1, code)
    assert.equal(1, select(2, err:gsub("\n", "")))
    _, err, code = cli("bogus")
    assert.equal(2, code)
  end)
end)

describe("sentry-chunks and long ranges", function()
  local live -- a server whose `now` is the real clock, for --period
  local LIGHT, RECENT = server.PROFILER_IDS.light, server.PROFILER_IDS.recent
  setup(function() live = server.start { now = os.time() } end)
  teardown(function() if live then live.stop() end end)

  local function samples_in(path)
    local f = assert(io.open(path))
    local answer = assert(chunks.decode(f:read("*a")))
    f:close()
    return #answer.chunk.profile.samples
  end

  it("fetches a --period over 40 minutes in windows: every sample, no warning", function()
    local out, err, code = cli("fetch --project 1 --profiler " .. RECENT .. " --period 2h -o " .. q(dir .. "/long.json"),
      { SENTRY_URL = live.url })
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.equal("", err)
    local n = samples_in(dir .. "/long.json")
    assert.is_true(n > 50 * 60 * 5, n) -- more than the server's 50 newest chunks
    out, err, code = cli("top --project 1 --profiler " .. LIGHT
      .. " --start 2026-05-28T08:00:00Z --end 2026-05-28T12:00:00Z --limit 1")
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.matches("\n71,999 samples", out) -- all four hours: 72,000 samples, the thread's last only ends the one before
  end)

  it("warns on stderr, in one line, when an answer looks cut by the server's cap", function()
    local out, err, code = cli("top --project 1 --profiler " .. LIGHT .. " --start " .. server.T0 .. " --end "
      .. (server.T0 + 4 * 3600) .. " --window 14400 --limit 1")
    assert.equal(0, code, err)
    assert.matches("\n14,999 samples", out)
    assert.matches("^sentry%-chunks: warning: answer may be truncated: window 1 of 1 %(2026%-05%-28T08:00:00Z to "
      .. "2026%-05%-28T12:00:00Z%): the server merged its maximum of 50 chunks[^\n]*\n$", err)
  end)

  it("says how to fetch a range over 24 h, and checks the range options", function()
    local _, err, code = cli("top --project 1 --profiler " .. RECENT .. " --period 2d", { SENTRY_URL = live.url })
    assert.equal(1, code)
    assert.equal("sentry-chunks: --period: the range is longer than 24 h; give --window 2400 to fetch it in windows anyway\n", err)
    local out
    out, err, code = cli("top --project 1 --profiler " .. RECENT .. " --period 2d --window 2400 --limit 1",
      { SENTRY_URL = live.url })
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.matches("\n[%d,]+ samples", out)
    _, err, code = cli("top --project 1 --profiler " .. LIGHT .. " --period 2h --window soon")
    assert.equal(2, code)
    assert.matches("^sentry%-chunks: %-%-window: ", err)
    _, err, code = cli("top --project 1 --profiler " .. LIGHT .. " --period 2h --start 1 --end 2")
    assert.equal(2, code)
    assert.matches("not both", err)
    _, err, code = cli("top --project 1 --profiler " .. LIGHT .. " --start 2026-13-01T00:00:00Z --end 2026-13-02T00:00:00Z")
    assert.equal(2, code)
    assert.matches("^sentry%-chunks: %-%-start: expected ISO%-8601", err)
  end)
end)
