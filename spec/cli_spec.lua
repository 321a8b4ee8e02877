-- bin/sentry-chunks end to end, with the interpreter under test, against
-- the test server and on saved files.
local chunks = require "sentry.chunks"
local server = require "support.server"

local lua = os.getenv("SENTRY_CHUNKS_TEST_LUA") or "lua5.4"
local srv, dir

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs the CLI with SENTRY_* set for the test server; returns stdout,
-- stderr and the exit status.
-- env: a value false unsets the variable; opts.cwd runs from there;
-- opts.tty runs it under script(1), stdout and stderr on one terminal.
local function cli(args, env, opts)
  env, opts = env or {}, opts or {}
  local vars = { SENTRY_AUTH_TOKEN = srv.token, SENTRY_ORG = "test-org", SENTRY_URL = srv.url,
    HOME = dir, NO_COLOR = false, SENTRY_PROJECT = false, SENTRY_PROPERTIES = false }
  for k, v in pairs(env) do vars[k] = v end
  local parts = {}
  for k, v in pairs(vars) do
    if v == false then table.insert(parts, 1, "-u " .. k) else parts[#parts + 1] = k .. "=" .. q(v) end
  end
  local err_file = dir .. "/stderr"
  local root = io.popen("pwd"):read("*l")
  local command = "env " .. table.concat(parts, " ") .. " " .. lua .. " " .. q(root .. "/bin/sentry-chunks") .. " " .. args
  if opts.tty then command = "TERM=xterm script -qefc " .. q(command) .. " /dev/null" end
  if opts.cwd then command = "cd " .. q(opts.cwd) .. " && " .. command end
  -- the exit status comes back on the last line: io.popen's close does
  -- not return it on Lua 5.1 and LuaJIT
  local p = io.popen("(" .. command .. ") 2>" .. q(err_file) .. "; echo \"EXIT=$?\"")
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

  it("refuses range options beside a SOURCE instead of ignoring them", function()
    local out, err, code = cli("fetch --project 1 --profiler " .. SINGLE .. " " .. WINDOW .. " -o " .. q(dir .. "/r.json"))
    assert.equal(0, code, err)
    -- --start/--end on a saved answer used to be dropped without a word: the
    -- whole answer was analysed
    for _, extra in ipairs { "--start 1 --end 2", "--period 1h", "--profiler " .. SINGLE, "--window 600" } do
      out, err, code = cli("top " .. q(dir .. "/r.json") .. " " .. extra)
      assert.equal(2, code, extra)
      assert.equal("", out)
      assert.matches("^sentry%-chunks: " .. extra:match("^(%-%-%a+)"):gsub("%-", "%%-")
        .. " does nothing with a saved answer", err)
    end
    local url = srv.url .. "/organizations/test-org/profiling/profile/1/flamegraph/?profilerId=" .. SINGLE
      .. "&start=2026-05-28T08:10:00Z&end=2026-05-28T08:11:00Z"
    out, err, code = cli("threads " .. q(url) .. " --period 2h")
    assert.equal(2, code)
    assert.matches("^sentry%-chunks: %-%-period does nothing with a profile URL: the URL names the profile, its range", err)
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

  it("folded, speedscope, pprof and cpuprofile take --mode and --thread", function()
    local analysis = require "sentry.chunks.analysis"
    local f = assert(io.open(dir .. "/a.json"))
    local saved = assert(chunks.decode(f:read("*a")))
    f:close()
    local out, err, code = cli("folded " .. q(dir .. "/a.json") .. " --mode textbook")
    assert.equal(0, code, err)
    assert.equal(analysis.folded(saved, { mode = "textbook", thread_root = true }), out)
    assert.are_not.equal(analysis.folded(saved, { thread_root = true }), out)
    local thread = analysis.threads(saved)[1]
    out, err, code = cli("speedscope " .. q(dir .. "/a.json") .. " --thread " .. q(thread.id))
    assert.equal(0, code, err)
    assert.equal(analysis.speedscope(saved, { threads = thread.id }), out)
    _, err, code = cli("pprof " .. q(dir .. "/a.json") .. " --mode textbook -o " .. q(dir .. "/p.pb"))
    assert.equal(0, code, err)
    f = assert(io.open(dir .. "/p.pb", "rb"))
    assert.equal(analysis.pprof(saved, { mode = "textbook" }), f:read("*a"))
    f:close()
    out, err, code = cli("cpuprofile " .. q(dir .. "/a.json") .. " --thread " .. q(thread.id))
    assert.equal(0, code, err)
    assert.equal(analysis.cpuprofile(saved, { thread = thread.id }), out)
    _, err, code = cli("folded " .. q(dir .. "/a.json") .. " --mode exact")
    assert.equal(2, code)
    assert.matches("--mode: expected sentry, textbook, got 'exact'", err, 1, true)
  end)

  it("takes a profile URL", function()
    local url = srv.url .. "/organizations/test-org/profiling/profile/backend/flamegraph/?profilerId=" .. SINGLE
      .. "&start=2026-05-28T08:10:00Z&end=2026-05-28T08:11:00Z"
    local out, err, code = cli("top " .. q(url) .. " --limit 1")
    assert.equal(0, code, err)
    assert.matches("^[%d,]+ samples", out)
    -- the URL names its organization; a URL on another Sentry needs --url
    local out2, err2, code2 = cli("top " .. q(url) .. " --limit 1", { SENTRY_ORG = false })
    assert.equal(0, code2, err2)
    assert.equal(out, out2)
    local elsewhere = url:gsub("^http://[^/]+", "http://127.0.0.2:9")
    _, err, code = cli("top " .. q(elsewhere) .. " --limit 1")
    assert.equal(2, code)
    assert.equal("sentry-chunks: the URL is on http://127.0.0.2:9 but the Sentry configured is " .. srv.url
      .. ": give --url http://127.0.0.2:9 (or set SENTRY_URL) to send your token there\n", err)
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

-- Issue 12: the command line as its users expect it.
describe("sentry-chunks for people and scripts", function()
  local file, file2 -- saved answers: 4 threads, one minute each
  local REALISTIC = server.PROFILER_IDS.realistic
  local function lines(s) local t = {} for l in s:gmatch("[^\n]*\n") do t[#t + 1] = l:sub(1, -2) end return t end
  local function read(path) local f = assert(io.open(path, "rb")) local s = f:read("*a") f:close() return s end
  local function write(path, text) local f = assert(io.open(path, "wb")) f:write(text) f:close() end

  setup(function()
    file, file2 = dir .. "/r1.json", dir .. "/r2.json"
    local _, err, code = cli("fetch -p 1 --profiler " .. REALISTIC .. " --start " .. (server.T0 + 600) .. " --end "
      .. (server.T0 + 660) .. " -o " .. q(file))
    assert.equal(0, code, err)
    _, err, code = cli("fetch -p 1 --profiler " .. REALISTIC .. " --start " .. (server.T0 + 1200) .. " --end "
      .. (server.T0 + 1260) .. " -o " .. q(file2))
    assert.equal(0, code, err)
  end)

  local function answer(path) return assert(chunks.decode(read(path))) end

  it("--help, help COMMAND and COMMAND --help on stdout, every option and an example; --version", function()
    local out, err, code = cli("--help")
    assert.equal(0, code, err)
    assert.equal("", err)
    for _, c in ipairs { "top", "tree", "hot", "threads", "annotate", "diff", "fetch", "folded", "speedscope",
                         "pprof", "cpuprofile", "profilers" } do
      assert.matches("\n  " .. c .. " ", out, 1, true)
      local h1, e1, c1 = cli("help " .. c)
      local h2, _, c2 = cli(c .. " --help")
      assert.equal(0, c1, e1)
      assert.equal(0, c2)
      assert.equal(h1, h2)
      assert.matches("^usage: sentry%-chunks " .. c, h1)
      assert.matches("\nexample:\n  sentry%-chunks " .. c .. " ", h1)
    end
    local top = cli("help top")
    for _, o in ipairs { "-t, --thread T", "--focus PAT", "--ignore PAT", "--app-only", "-m, --mode MODE",
                         "-s, --sort BY", "-n, --limit N", "-f, --format FMT", "-o, --output FILE", "-p, --project P",
                         "--profiler ID", "--period P", "--start T", "--end T", "--window S", "--org ORG", "--url URL",
                         "-h, --help" } do
      assert.truthy(top:find(o, 1, true), o)
    end
    assert.truthy(top:find("columns of --format json|csv|tsv: function, package", 1, true))
    assert.truthy(top:find("bounded memory", 1, true)) -- the accumulator over long ranges
    out, err, code = cli("--version")
    assert.equal(0, code, err)
    assert.matches("^sentry%-chunks scm%-1 %(C core [^)]+%)\n$", out)
    _, err, code = cli("help topp")
    assert.equal(2, code)
    assert.equal("sentry-chunks: no command 'topp'; did you mean 'top'?\n", err)
  end)

  it("--opt=value and the short forms mean the same as --opt value", function()
    local a = cli("top " .. q(file) .. " --limit 4 --mode textbook --sort total --thread main")
    local b = cli("top " .. q(file) .. " -n4 -m textbook -s=total -t main")
    local c = cli("top " .. q(file) .. " --limit=4 --mode=textbook --sort=total --thread=main")
    assert.matches("showing 4 of", a)
    assert.equal(a, b)
    assert.equal(a, c)
    assert.not_equal(a, cli("top " .. q(file) .. " --limit 4"))
  end)

  it("an option the command does not take is a usage error; every option taken does something", function()
    local _, err, code = cli("top " .. q(file) .. " --weight microseconds")
    assert.equal(2, code)
    assert.equal("sentry-chunks: top does not take --weight\n", err)
    _, err, code = cli("folded " .. q(file) .. " --limit 3")
    assert.equal(2, code)
    assert.equal("sentry-chunks: folded does not take --limit\n", err)
    _, err, code = cli("top " .. q(file) .. " --limt 3")
    assert.equal(2, code)
    assert.equal("sentry-chunks: unknown option --limt; did you mean --limit?\n", err)
    -- diff --focus and --app-only change what is compared
    local whole = cli("diff " .. q(file) .. " " .. q(file2))
    local by_total = chunks.analysis.top(answer(file), { sort = "total" }).functions
    local fn = by_total[#by_total]["function"]:gsub("%p", "%%%0")
    local focused = cli("diff " .. q(file) .. " " .. q(file2) .. " --focus " .. q(fn))
    local app = cli("diff " .. q(file) .. " " .. q(file2) .. " --app-only")
    local n_whole = tonumber((whole:match("showing %d+ of ([%d,]+) functions"):gsub(",", "")))
    local n_focus = tonumber((focused:match("showing %d+ of ([%d,]+) functions"):gsub(",", "")))
    assert.is_true(n_focus < n_whole)
    assert.matches("^a?:? ?%-%-focus '[^\n]+': kept [%d,]+ of [%d,]+ samples[^\n]*\n", focused)
    assert.not_equal(whole, app)
    -- folded --thread: only that thread's stacks
    local threads = chunks.analysis.threads(answer(file))
    local name = threads[2].name or threads[2].id
    local folded = cli("folded " .. q(file) .. " --thread " .. q(name))
    assert.is_true(#folded > 0)
    for _, l in ipairs(lines(folded)) do assert.equal(name, l:match("^[^;]+")) end
    -- speedscope --thread: one profile
    local _, e2, c2 = cli("speedscope " .. q(file) .. " -t " .. q(name) .. " -o " .. q(dir .. "/one.json"))
    assert.equal(0, c2, e2)
    assert.equal(1, #chunks.decode(read(dir .. "/one.json")).profiles)
    assert.is_true(#chunks.decode(read(dir .. "/one.json")).profiles < #threads)
    -- top -o FILE: the table in the file, nothing on stdout
    local out, e3, c3 = cli("top " .. q(file) .. " -n 3 -o " .. q(dir .. "/top.txt"))
    assert.equal(0, c3, e3)
    assert.equal("", out)
    assert.equal(cli("top " .. q(file) .. " -n 3"), read(dir .. "/top.txt"))
  end)

  it("options that choose what to fetch are a usage error with a saved answer or a profile URL", function()
    for _, o in ipairs { "--period 1h", "-p 1", "--profiler " .. SINGLE, "--start 1779955800", "--end 1779955860",
                         "--window 600", "--org test-org", "--url " .. q(srv.url) } do
      local out, err, code = cli("top " .. q(file) .. " -n 1 " .. o)
      assert.equal(2, code, o)
      assert.equal("", out)
      assert.matches("^sentry%-chunks: %-%-[%a]+ does nothing with a saved answer: it chooses what to fetch\n$", err)
    end
    local _, err, code = cli("diff " .. q(file) .. " " .. q(file2) .. " --window 600")
    assert.equal(2, code)
    assert.equal("sentry-chunks: --window does nothing with a saved answer: it chooses what to fetch\n", err)
    local url = srv.url .. "/organizations/test-org/profiling/profile/backend/flamegraph/?profilerId=" .. SINGLE
      .. "&start=2026-05-28T08:10:00Z&end=2026-05-28T08:11:00Z"
    _, err, code = cli("top " .. q(url) .. " -n 1 --period 1h")
    assert.equal(2, code)
    assert.equal("sentry-chunks: --period does nothing with a profile URL: the URL names the profile, its range "
      .. "and its organization\n", err)
    local out
    out, err, code = cli("top " .. q(url) .. " -n 1 --window 600 --url " .. q(srv.url)) -- these a URL uses
    assert.equal(0, code, err)
    assert.matches("showing 1 of", out)
  end)

  it("diff says what each filter kept of both sides; hot shows a path of empty stacks as such", function()
    local out, err, code = cli("diff " .. q(file) .. " " .. q(file2) .. " --focus shopapi -n 1")
    assert.equal(0, code, err)
    local ka, na, kb, nb = out:match("^a: %-%-focus 'shopapi': kept ([%d,]+) of ([%d,]+) samples; b: kept ([%d,]+) of ([%d,]+) samples\n")
    assert.truthy(ka, out)
    local function n(s) return tonumber((s:gsub(",", ""))) end
    local report = chunks.analysis.report
    local fa, fb = chunks.analysis.focus(answer(file), "shopapi"), chunks.analysis.focus(answer(file2), "shopapi")
    assert.equal(report.count(#fa.chunk.profile.samples), ka)
    assert.equal(report.count(#fb.chunk.profile.samples), kb)
    assert.equal(#answer(file).chunk.profile.samples, n(na))
    assert.equal(#answer(file2).chunk.profile.samples, n(nb))
    -- a thread whose samples have no frames (a JVM's GC thread does this)
    write(dir .. "/empty.json", '{"chunk":{"chunk_id":"0123456789abcdef0123456789abcdef",'
      .. '"profiler_id":"fedcba9876543210fedcba9876543210","platform":"python","profile":{'
      .. '"frames":[{"function":"main","module":"app","in_app":true}],"stacks":[[],[0]],'
      .. '"samples":[{"stack_id":0,"thread_id":"1","timestamp":10.0},{"stack_id":0,"thread_id":"1","timestamp":10.5},'
      .. '{"stack_id":1,"thread_id":"1","timestamp":11.0},{"stack_id":1,"thread_id":"1","timestamp":11.1}],'
      .. '"thread_metadata":{"1":{"name":"main"}}}}}')
    out, err, code = cli("hot " .. q(dir .. "/empty.json"))
    assert.equal(0, code, err)
    assert.equal("the 2 heaviest paths (sentry counting), root first\n"
      .. "#1  1.00s  90.9%  2 samples\n"
      .. "      (no frames: these samples' stacks are empty)\n"
      .. "#2  100.00ms  9.1%  1 sample\n"
      .. "      main (app)\n", out)
  end)

  it("top: scaled durations, flat% and sum%, a header saying what was counted and shown", function()
    local out, err, code = cli("top " .. q(file) .. " -n 5")
    assert.equal(0, code, err)
    local l = lines(out)
    local top = chunks.analysis.top(answer(file))
    assert.equal(chunks.analysis.report.count(top.samples) .. " samples, " .. chunks.analysis.report.duration(top.time)
      .. " of thread time; Sentry counting (a sample lasts until its thread's next one; each thread's last sample left out)", l[1])
    local shown, all = 0, 0
    for i, e in ipairs(top.functions) do all = all + e.self if i <= 5 then shown = shown + e.self end end
    assert.equal(string.format("showing 5 of %d functions, %.0f%% of self time", #top.functions, 100 * shown / all), l[2])
    assert.matches("^%s*flat%s+flat%%%s+sum%%%s+cum%s+cum%%%s+samples function$", l[3])
    local sum = 0
    for i = 1, 5 do
      local e = top.functions[i]
      sum = sum + e.self_pct
      local flat, fp, sp = l[3 + i]:match("^%s*(%S+)%s+(%S+)%s+(%S+)")
      assert.equal(chunks.analysis.report.duration(e.self), flat)
      assert.equal(string.format("%.1f%%", e.self_pct), fp)
      assert.equal(string.format("%.1f%%", sum), sp)
      assert.matches("%d[sm]?s$", flat) -- 4.90s, 41.20ms
    end
    assert.equal(8, #l)
    assert.equal("596.35s", chunks.analysis.report.duration(596.349))
    assert.equal("41.20ms", chunks.analysis.report.duration(0.0412))
    assert.equal("1,347", chunks.analysis.report.count(1347))
  end)

  it("--thread that matches nothing: exit 1, one line listing the threads", function()
    for _, c in ipairs { "top", "tree", "hot", "folded", "speedscope", "pprof -o " .. q(dir .. "/x.pb"), "cpuprofile", "annotate x.py" } do
      local out, err, code = cli(c .. " " .. q(file) .. " --thread nosuch")
      assert.equal(1, code, c)
      assert.equal("", out)
      assert.matches("^sentry%-chunks: %-%-thread: no thread 'nosuch' in this profile; its threads: [^\n]+\n$", err)
      assert.is_nil(err:find("bad argument", 1, true))
    end
  end)

  it("colour only on a terminal, and never with NO_COLOR", function()
    local out, err, code = cli("top " .. q(file) .. " -n 2", nil, { tty = true })
    assert.equal(0, code, err)
    assert.truthy(out:find("\27[1m", 1, true))
    out = cli("top " .. q(file) .. " -n 2", { NO_COLOR = "1" }, { tty = true })
    assert.is_nil(out:find("\27%[[%d;]*m")) -- (the progress line is still cleared: \r\27[K)
    assert.matches("showing 2 of", out)
    out = cli("top " .. q(file) .. " -n 2", { NO_COLOR = "" }, { tty = true }) -- NO_COLOR counts when not empty
    assert.truthy(out:find("\27[1m", 1, true))
    out = cli("top " .. q(file) .. " -n 2")
    assert.is_nil(out:find("\27[", 1, true))
  end)

  it("--format json, csv and tsv with the documented columns", function()
    local report = chunks.analysis.report
    local cases = {
      { "top " .. q(file) .. " -n 3", "top", 3 },
      { "diff " .. q(file) .. " " .. q(file2) .. " -n 4", "diff", 4 },
      { "tree " .. q(file) .. " --depth 2", "tree" },
      { "hot " .. q(file) .. " -n 2", "hot", 2 },
      { "threads " .. q(file), "threads", 4 },
      { "profilers --project 1 --period 7d", "profilers" },
    }
    for _, case in ipairs(cases) do
      local cols = report.COLUMNS[case[2]]
      local out, err, code = cli(case[1] .. " --format json")
      assert.equal(0, code, err)
      local rows = assert(chunks.decode(out))
      assert.is_true(#rows > 0, case[1])
      if case[3] then assert.equal(case[3], #rows, case[1]) end
      for k in pairs(rows[1]) do
        local known = false
        for _, c in ipairs(cols) do if c == k then known = true end end
        assert.is_true(known, k)
      end
      local csv = cli(case[1] .. " -f csv")
      assert.equal(table.concat(cols, ","), lines(csv)[1])
      assert.equal(#rows + 1, #lines(csv))
      local tsv = cli(case[1] .. " -f tsv")
      assert.equal(table.concat(cols, "\t"), lines(tsv)[1])
      assert.equal(#rows + 1, #lines(tsv))
    end
    local top = chunks.decode((cli("top " .. q(file) .. " -n 2 -f json")))
    local lib = chunks.analysis.top(answer(file))
    assert.equal(lib.functions[1].name, top[1]["function"])
    assert.near(lib.functions[1].self, top[1].self, 1e-9)
    assert.near(lib.functions[1].self_pct + lib.functions[2].self_pct, top[2].sum_pct, 1e-9)
    local _, err, code = cli("top " .. q(file) .. " -f xml")
    assert.equal(2, code)
    assert.equal("sentry-chunks: --format: expected text, json, csv, tsv, got 'xml'\n", err)
  end)

  it("tree, hot, threads, pprof and cpuprofile", function()
    local out, err, code = cli("tree " .. q(file) .. " --depth 2 --min 0")
    assert.equal(0, code, err)
    local threads = chunks.analysis.threads(answer(file))
    local roots = 0
    for _, l in ipairs(lines(out)) do
      if l:match("^thread ") then roots = roots + 1 end
      local indent = l:match("^%s*%S+%s+%S+%s+%S+  ( *)%S")
      if indent and not l:match("^thread") then assert.is_true(#indent <= 2, l) end
    end
    assert.equal(#threads, roots)
    assert.matches("nodes? hidden by %-%-depth or %-%-min", out)
    local deeper = cli("tree " .. q(file) .. " --depth 4 --min 0")
    assert.is_true(#lines(deeper) > #lines(out))
    local fine, coarse = cli("tree " .. q(file) .. " --depth 12 --min 0"), cli("tree " .. q(file) .. " --depth 12 --min 50")
    assert.is_true(#lines(coarse) < #lines(fine))
    out, err, code = cli("hot " .. q(file) .. " -n 2")
    assert.equal(0, code, err)
    assert.matches("^the 2 heaviest paths", out)
    assert.matches("\n#2 ", out)
    assert.is_nil(out:find("outer frames", 1, true))
    local short = cli("hot " .. q(file) .. " -n 2 --frames 2")
    assert.matches("\n      %.%.%. %d+ outer frames\n", short)
    assert.is_true(#lines(short) < #lines(out))
    local _, perr, pcode = cli("pprof " .. q(file), nil, { tty = true }) -- binary never to a terminal
    assert.equal(2, pcode, perr)
    out, err, code = cli("threads " .. q(file))
    assert.equal(0, code, err)
    for _, t in ipairs(threads) do assert.truthy(out:find(tostring(t.id), 1, true)) end
    _, err, code = cli("pprof " .. q(file) .. " -o " .. q(dir .. "/p.pb"))
    assert.equal(0, code, err)
    assert.equal(chunks.analysis.pprof(answer(file)), read(dir .. "/p.pb"))
    _, err, code = cli("cpuprofile " .. q(file) .. " -t main -o " .. q(dir .. "/c.json"))
    assert.equal(0, code, err)
    local doc = assert(chunks.decode(read(dir .. "/c.json")))
    assert.is_true(#doc.nodes > 1)
    assert.is_true(#doc.samples > 0)
  end)

  it("annotate FILE: self and total per line, as worked out from the samples", function()
    local a = answer(file)
    local p = a.chunk.profile
    -- the file of the heaviest leaf
    local top = chunks.analysis.top(a, { mode = "textbook" })
    local frame = top.functions[1].frame
    local path = frame.abs_path ~= chunks.null and frame.abs_path or frame.filename
    local w = chunks.analysis.weights(a)
    local self_at, total_at = {}, {}
    for i, s in ipairs(p.samples) do
      local stack, once = p.stacks[s.stack_id + 1], {}
      for j, fi in ipairs(stack) do
        local f = p.frames[fi + 1]
        if (f.abs_path == path or f.filename == path) and f.lineno then
          if j == 1 then self_at[f.lineno] = (self_at[f.lineno] or 0) + w[i] end
          if not once[f.lineno] then once[f.lineno] = true total_at[f.lineno] = (total_at[f.lineno] or 0) + w[i] end
        end
      end
    end
    local out, err, code = cli("annotate " .. q(path) .. " " .. q(file))
    assert.equal(0, code, err)
    local report = chunks.analysis.report
    local n = 0
    for _, l in ipairs(lines(out)) do
      local s, t, ln = l:match("^%s*(%S+)%s+(%S+)%s+(%d+)%s*$")
      if ln then
        n = n + 1
        ln = tonumber(ln)
        assert.equal(report.duration(self_at[ln] or 0), s)
        assert.equal(report.duration(total_at[ln]), t)
      end
    end
    local expected = 0
    for _ in pairs(total_at) do expected = expected + 1 end
    assert.equal(expected, n)
    -- the file's suffix names it too; a file not in the profile is an error
    local base = path:match("[^/]+/[^/]+$") or path
    assert.equal(out:gsub("^[^:]*:", ""), (cli("annotate " .. q(base) .. " " .. q(file)):gsub("^[^:]*:", "")))
    _, err, code = cli("annotate nowhere/none.py " .. q(file))
    assert.equal(1, code)
    assert.matches("^sentry%-chunks: no frame of this profile is in 'nowhere/none.py'", err)
    -- with the source at hand, every line of it is shown
    local text = {}
    local maxline = 0
    for ln in pairs(total_at) do if ln > maxline then maxline = ln end end
    for i = 1, maxline + 2 do text[i] = "line " .. i end
    -- a copy of the source under dir, at the frames' path: FILE ends with it
    local local_path = dir .. (path:sub(1, 1) == "/" and "" or "/") .. path
    os.execute("mkdir -p " .. q(local_path:match("^(.*)/")))
    write(local_path, table.concat(text, "\n") .. "\n")
    out, err, code = cli("annotate " .. q(local_path) .. " " .. q(file))
    assert.equal(0, code, err)
    local shown = 0
    for _, l in ipairs(lines(out)) do
      local ln, txt = l:match("^%s*%S+%s+%S+%s+(%d+)  (.*)$")
      if ln then
        shown = shown + 1
        assert.equal("line " .. ln, txt)
      end
    end
    assert.equal(maxline + 2, shown)
  end)

  it("errors in the CLI's words: no Lua API advice, no file:line, a bad pattern names its option", function()
    local _, err, code = cli("top --project 1 --profiler " .. SINGLE, { SENTRY_AUTH_TOKEN = false })
    assert.equal(1, code)
    assert.equal("sentry-chunks: no auth token: set SENTRY_AUTH_TOKEN, or [auth] token in ~/.sentryclirc "
      .. "(never on the command line)\n", err)
    _, err, code = cli("top --project 1 --profiler " .. SINGLE, { SENTRY_ORG = false })
    assert.equal(2, code)
    assert.matches("^sentry%-chunks: no organization: give %-%-org", err)
    _, err, code = cli("top " .. q(file) .. " --focus 'x('")
    assert.equal(2, code)
    assert.equal("sentry-chunks: --focus: bad Lua pattern 'x(': a '(' is not closed (unfinished capture)\n", err)
    _, err, code = cli("top " .. q(file) .. " --ignore '[a'")
    assert.equal(2, code)
    assert.matches("^sentry%-chunks: %-%-ignore: bad Lua pattern", err)
    _, err, code = cli("top --project 1 --profiler nothex")
    assert.equal(2, code)
    assert.equal("sentry-chunks: --profiler: expected 32 hex digits, got 'nothex'\n", err)
    _, err, code = cli("top --project nosuch --profiler " .. SINGLE)
    assert.equal(1, code)
    assert.matches("^sentry%-chunks: project 'nosuch': HTTP 404", err)
    local errs = { err }
    -- a directory given as the saved answer: the system's words, no line of the script
    _, err, code = cli("top " .. q(dir))
    assert.equal(1, code)
    assert.equal("sentry-chunks: " .. dir .. ": Is a directory\n", err)
    errs[#errs + 1] = err
    for _, e in ipairs(errs) do
      assert.is_nil(e:find(":%d+: "))
      assert.is_nil(e:find("%.lua:%d"))
      assert.is_nil(e:find("chunks.client", 1, true))
    end
  end)

  it("Ctrl-C exits 130 quietly", function()
    -- a fetch that hangs (the server stalls), interrupted once it runs
    local err_file = dir .. "/int.err"
    local p = io.popen("env SENTRY_AUTH_TOKEN=" .. q(srv.token) .. " SENTRY_ORG=test-org SENTRY_URL=" .. q(srv.url .. "/_test/stall=20")
      .. " " .. lua .. " bin/sentry-chunks top --project 1 --profiler " .. SINGLE .. " " .. WINDOW
      .. " 2>" .. q(err_file) .. " & pid=$!; sleep 2; kill -INT $pid; wait $pid; echo \"EXIT=$?\"")
    local out = p:read("*a")
    p:close()
    assert.equal("EXIT=130\n", out)
    assert.equal("", read(err_file))
  end)

  it("a progress line on a terminal for the whole job, cleared when done", function()
    local live = server.start { now = os.time() }
    local out, err, code = cli("top --project 1 --profiler " .. server.PROFILER_IDS.recent .. " --period 2h -n 1 --mode textbook",
      { SENTRY_URL = live.url, NO_COLOR = "1" }, { tty = true })
    live.stop()
    assert.equal(0, code, err)
    assert.matches("fetching: window [123] of 3, [%d.]+ MB", out)
    assert.matches("analysing [%d,]+ samples%.%.%.", out)
    assert.matches("^[^\n]*\r\27%[K[%d,]+ samples", out) -- cleared before the table
    local piped
    piped, err = cli("top --project 1 --profiler " .. server.PROFILER_IDS.light .. " " .. WINDOW .. " -n 1")
    assert.equal("", err)
    assert.is_nil(piped:find("\r", 1, true))
  end)

  it("reads sentry-cli's settings: ~/.sentryclirc, .sentryclirc up the tree, SENTRY_PROPERTIES; the environment wins", function()
    local home = dir .. "/home"
    os.execute("mkdir -p " .. q(home) .. " " .. q(dir .. "/proj/sub"))
    write(home .. "/.sentryclirc", "[auth]\ntoken = " .. srv.token .. "\n\n[defaults]\nurl = " .. srv.url
      .. "\norg = test-org\nproject = backend\n")
    local bare = { SENTRY_AUTH_TOKEN = false, SENTRY_ORG = false, SENTRY_URL = false, HOME = home }
    local out, err, code = cli("top --profiler " .. SINGLE .. " " .. WINDOW .. " -n 1", bare)
    assert.equal(0, code, err)
    assert.matches("showing 1 of", out)
    -- the environment overrides the file
    bare.SENTRY_ORG = "other-org"
    _, err, code = cli("top --profiler " .. SINGLE .. " " .. WINDOW .. " -n 1", bare)
    assert.equal(1, code)
    bare.SENTRY_ORG = false
    -- SENTRY_PROJECT over [defaults] project
    bare.SENTRY_PROJECT = "nosuch"
    _, err, code = cli("top --profiler " .. SINGLE .. " " .. WINDOW .. " -n 1", bare)
    assert.equal(1, code)
    assert.matches("project 'nosuch'", err)
    bare.SENTRY_PROJECT = false
    -- a .sentryclirc in a parent of the working directory over ~/.sentryclirc
    write(dir .. "/proj/.sentryclirc", "[defaults]\norg = wrong-org\n")
    _, err, code = cli("top --profiler " .. SINGLE .. " " .. WINDOW .. " -n 1", bare, { cwd = dir .. "/proj/sub" })
    assert.equal(1, code)
    assert.is_nil(err:find(srv.token, 1, true))
    -- SENTRY_PROPERTIES over both
    write(dir .. "/sentry.properties", "defaults.org=test-org\n")
    bare.SENTRY_PROPERTIES = dir .. "/sentry.properties"
    out, err, code = cli("top --profiler " .. SINGLE .. " " .. WINDOW .. " -n 1", bare, { cwd = dir .. "/proj/sub" })
    assert.equal(0, code, err)
    assert.matches("showing 1 of", out)
  end)

  it("top over a long range goes window by window through the accumulator: the merged range's top", function()
    local LIGHT = server.PROFILER_IDS.light
    local range = "--start 2026-05-28T08:00:00Z --end 2026-05-28T10:00:00Z"
    local out, err, code = cli("top --project 1 --profiler " .. LIGHT .. " " .. range .. " -f json -n 100000")
    assert.equal(0, code, err)
    local rows = assert(chunks.decode(out))
    local client = chunks.client { token = srv.token, org = "test-org", base_url = srv.url }
    local merged = assert(client:fetch { project = 1, profiler_id = LIGHT, start = "2026-05-28T08:00:00Z",
      ["end"] = "2026-05-28T10:00:00Z" })
    local top = chunks.analysis.top(merged)
    assert.equal(#top.functions, #rows)
    for i, e in ipairs(top.functions) do
      assert.equal(e.name, rows[i]["function"])
      assert.near(e.self, rows[i].self, 1e-9)
      assert.near(e.total, rows[i].total, 1e-9)
    end
    out = cli("top --project 1 --profiler " .. LIGHT .. " " .. range .. " -n 1")
    assert.matches("^fetched in 3 windows of 40 minutes, each added up as it arrived %(bounded memory%)\n", out)
    -- with a filter, the merged answer as before
    out = cli("top --project 1 --profiler " .. LIGHT .. " " .. range .. " -n 1 --thread main")
    assert.is_nil(out:find("bounded memory", 1, true))
  end)

  it("folded over a long range goes window by window too: the merged range's folded stacks", function()
    local LIGHT = server.PROFILER_IDS.light
    local range = "--start 2026-05-28T08:00:00Z --end 2026-05-28T10:00:00Z"
    local client = chunks.client { token = srv.token, org = "test-org", base_url = srv.url }
    local merged = assert(client:fetch { project = 1, profiler_id = LIGHT, start = "2026-05-28T08:00:00Z",
      ["end"] = "2026-05-28T10:00:00Z" })
    for _, weight in ipairs { "samples", "microseconds" } do
      local out, err, code = cli("folded --project 1 --profiler " .. LIGHT .. " " .. range .. " --weight " .. weight)
      assert.equal(0, code, err)
      assert.equal(chunks.analysis.folded(merged, { weight = weight, thread_root = true }), out)
    end
  end)
end)
