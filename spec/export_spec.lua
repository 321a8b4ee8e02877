-- The exports as the tools that read them read them: go tool pprof on the
-- pprof files (the real fixtures, generated data and hand-made profiles),
-- speedscope's and Chrome's .cpuprofile formats checked by their schemas,
-- times digit for digit, null fields, windows, modes and names.
local chunks = require "sentry.chunks"
local analysis = require "sentry.chunks.analysis"
local export = require "sentry.chunks.export"
local tiny = require "support.tiny_profile"
local gen = require "gen"
local null = chunks.null

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local root = (debug.getinfo(1, "S").source:gsub("^@", "")):match("^(.*)/spec/[^/]*$") or "."

-- the real profiles: ../shared/fixtures/ beside the repository (or
-- SENTRY_CHUNKS_FIXTURES, for a checkout elsewhere)
local function load_fixture(name)
  local dir = os.getenv("SENTRY_CHUNKS_FIXTURES") or (root .. "/../shared/fixtures")
  local f = io.open(dir .. "/" .. name, "rb")
  if not f then return nil end
  local text = f:read("*a")
  f:close()
  return assert(chunks.decode(text))
end

local python = load_fixture("python_sdk_thread_pool.answer.json")
local java = load_fixture("java_async_profiler_wall.answer.json")

local function generated()
  local cs = {}
  for k = 0, 1 do cs[#cs + 1] = gen.chunk_table { index = k, threads = 3, hz = 101, seed = 11, duration = 20 } end
  return gen.answer(cs, gen.T0, gen.T0 + 40)
end

local function copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return t
end

-- tiny's timestamps moved to a real Unix time with microseconds
local function tiny_at(base)
  local p = tiny()
  for _, s in ipairs(p.chunk.profile.samples) do s.timestamp = s.timestamp - 10 + base end
  return p
end

local tmp
setup(function()
  local p = io.popen("mktemp -d /tmp/sentry-chunks-export.XXXXXX")
  tmp = p:read("*l")
  p:close()
end)
teardown(function() os.execute("rm -rf " .. q(tmp)) end)

-- go tool pprof ARGS FILE, without any sanitizer preload, with a time
-- limit, offline, its caches in a temporary directory; stdout.
local function pprof_tool(args, data)
  local file = tmp .. "/profile.pb"
  local f = assert(io.open(file, "wb"))
  f:write(data)
  f:close()
  local home = tmp .. "/gohome"
  local p = io.popen("env -u LD_PRELOAD HOME=" .. q(home) .. " GOCACHE=" .. q(home .. "/cache")
    .. " GOPATH=" .. q(home .. "/path") .. " GOFLAGS= GOPROXY=off GOTOOLCHAIN=local GOTELEMETRY=off"
    .. " timeout 120 go tool pprof " .. args .. " " .. q(file) .. " 2>" .. q(tmp .. "/go.err")
    .. "; echo \"EXIT=$?\"")
  local out = p:read("*a")
  p:close()
  local text, code = out:match("^(.-)EXIT=(%d+)\n$")
  local e = io.open(tmp .. "/go.err")
  local err = e and e:read("*a") or ""
  if e then e:close() end
  assert(code == "0", "go tool pprof " .. args .. " failed (" .. tostring(code) .. "): " .. err)
  return text
end

local function number_of(field)
  if field == "0" then return 0 end
  local n = field:match("^([%d.e+%-]+)[a-z]*$")
  return assert(tonumber(n), "not a number: " .. field)
end

-- -top's rows: {[name] = {flat, cum}}
local function pprof_top(data, sample_index)
  local text = pprof_tool("-top -nodecount=100000 -nodefraction=0 -edgefraction=0 -unit=ns -sample_index="
    .. sample_index, data)
  local rows, seen_header = {}, false
  for line in text:gmatch("[^\n]+") do
    if line:find("^%s+flat%s+flat%%") then
      seen_header = true
    elseif seen_header then
      local flat, cum, name = line:match("^%s*(%S+)%s+%S+%s+%S+%s+(%S+)%s+%S+%s+(.-)%s*$")
      assert(flat, "unexpected -top line: " .. line)
      assert(not rows[name], "two rows named " .. name)
      rows[name] = { flat = number_of(flat), cum = number_of(cum) }
    end
  end
  assert(seen_header, "no -top table in: " .. text)
  return rows
end

-- -tags' values of one tag: {[value] = true}
local function pprof_tags(data, tag)
  local text = pprof_tool("-tags -sample_index=samples", data)
  local values, inside = {}, false
  for line in text:gmatch("[^\n]*") do
    local header = line:match("^%s*(%S+): Total")
    if header then
      inside = header == tag
    elseif inside and line:find("%S") then
      local v = assert(line:match("%): (.*)$"), "unexpected -tags line: " .. line)
      values[v] = true
    end
  end
  return values
end

-- pprof's -top in textbook mode against analysis.top in textbook mode:
-- flat = self, cum = total, in samples and in ns, row for row.
local function assert_pprof_matches_top(answer, label)
  local data = analysis.pprof(answer, { mode = "textbook" })
  local names = analysis.function_names(answer)
  local top = analysis.top(answer, { mode = "textbook" })
  local counts, ns = pprof_top(data, "samples"), pprof_top(data, "cpu")
  local n = 0
  for _, e in ipairs(top.functions) do
    local name = names[e.key]
    local c, t = counts[name], ns[name]
    assert(c and t, label .. ": go tool pprof has no row " .. tostring(name))
    assert(c.flat == e.self_samples and c.cum == e.total_samples, string.format(
      "%s: %s: pprof flat/cum %d/%d samples, top self/total %d/%d", label, name, c.flat, c.cum,
      e.self_samples, e.total_samples))
    assert(math.abs(t.flat - e.self * 1e9) < 0.5 and math.abs(t.cum - e.total * 1e9) < 0.5, string.format(
      "%s: %s: pprof flat/cum %.0f/%.0f ns, top self/total %.0f/%.0f ns", label, name, t.flat, t.cum,
      e.self * 1e9, e.total * 1e9))
    counts[name] = nil
    n = n + 1
  end
  -- what pprof has beyond top's rows: only the samples with an empty stack
  for name in pairs(counts) do
    assert(name == export.NO_FRAMES, label .. ": a pprof row top does not have: " .. name)
  end
  -- every thread is a tag
  local tags = pprof_tags(data, "thread")
  for _, th in ipairs(analysis.threads(answer)) do
    assert(tags[th.name or tostring(th.id)], label .. ": thread " .. tostring(th.name or th.id) .. " is no tag")
  end
  return n
end

describe("pprof, read by go tool pprof", function()
  it("go is installed (make test installs golang-go)", function()
    local p = io.popen("go version 2>&1; echo \"EXIT=$?\"")
    local out = p:read("*a")
    p:close()
    assert.truthy(out:find("EXIT=0\n$"), out)
    assert.matches("^go version", out)
  end)

  it("lists top's rows with top's textbook self and total, and every thread as a tag: real fixtures", function()
    if not python then return pending("../shared/fixtures not found") end
    assert.equal(73, assert_pprof_matches_top(python, "python"))
    assert.is_true(assert_pprof_matches_top(java, "java") > 100)
  end)

  it("the same on generated data and the hand-made profile", function()
    assert.is_true(assert_pprof_matches_top(generated(), "generated") > 10)
    assert.equal(5, assert_pprof_matches_top(tiny(), "tiny"))
  end)

  it("sentry mode: pprof's totals are top's time and samples", function()
    for label, answer in pairs { tiny = tiny(), generated = generated(), python = python } do
      local top = analysis.top(answer)
      local data = analysis.pprof(answer)
      local text = pprof_tool("-top -nodecount=1 -unit=ns -sample_index=cpu", data)
      local total = assert(text:match("of (%d+)ns total"), label .. ": " .. text)
      assert.equal(math.floor(top.time * 1e9 + 0.5), tonumber(total), label)
      text = pprof_tool("-top -nodecount=1 -sample_index=samples", data)
      assert.equal(top.samples, tonumber(text:match("of (%d+) total")), label)
    end
  end)

  it("labels every sample with its thread: one sample per (stack, thread)", function()
    local tags = pprof_tags(analysis.pprof(tiny(), { mode = "textbook" }), "thread")
    assert.same({ MainThread = true, Worker = true }, tags)
    local ids = pprof_tags(analysis.pprof(tiny(), { mode = "textbook" }), "thread_id")
    assert.same({ ["1"] = true, ["2"] = true }, ids)
    -- thread 1 has 4 stacks, thread 2 has 2; stack 1 (query handle main),
    -- in both, is two samples
    local raw = pprof_tool("-raw", analysis.pprof(tiny(), { mode = "textbook" }))
    assert.equal(6, select(2, raw:gsub("thread:%[", "")))
    assert.equal(4, select(2, raw:gsub("thread:%[MainThread%] thread_id:%[1%]", "")))
    assert.equal(2, select(2, raw:gsub("thread:%[Worker%] thread_id:%[2%]", "")))
  end)

  it("keeps functions apart that share a display name, and frames without a name by address", function()
    local p = tiny()
    local fr = p.chunk.profile.frames
    fr[7] = { ["function"] = "handle", filename = "app.web", in_app = true } -- shows as "handle (app.web)" too
    fr[8] = { instruction_addr = "0x1000", package = "/usr/lib/libc.so", in_app = false }
    fr[9] = { instruction_addr = "0x2000", package = "/usr/lib/libc.so", in_app = false }
    local st = p.chunk.profile.stacks
    st[7], st[8], st[9] = { 6, 0 }, { 7, 0 }, { 8, 0 }
    local ss = p.chunk.profile.samples
    ss[7] = { stack_id = 6, thread_id = "3", timestamp = 10 }
    ss[8] = { stack_id = 7, thread_id = "3", timestamp = 10.1 }
    ss[9] = { stack_id = 8, thread_id = "3", timestamp = 10.2 }
    ss[10] = { stack_id = 8, thread_id = "3", timestamp = 10.3 }
    local names = analysis.function_names(p)
    assert.equal("handle (app.web) [app.web|handle]", names["app.web|handle"])
    assert.equal("handle (app.web) [|handle]", names["|handle"])
    assert.equal("0x1000 (libc)", names["libc|0x1000"])
    local rows = pprof_top(analysis.pprof(p, { mode = "textbook" }), "samples")
    assert.equal(1, rows["handle (app.web) [|handle]"].flat)
    assert.equal(1, rows["0x1000 (libc)"].flat)
    assert.equal(2, rows["0x2000 (libc)"].flat)
    assert.equal(6, rows["handle (app.web) [app.web|handle]"].cum)
    assert.equal(5, assert_pprof_matches_top(tiny(), "tiny"))
    -- folded lines and speedscope frames keep them apart as well
    local folded = analysis.folded(p, { mode = "textbook" })
    assert.truthy(folded:find("main (app);handle (app.web) [|handle] 1\n", 1, true))
    assert.truthy(folded:find("main (app);0x1000 (libc) 1\n", 1, true))
    assert.truthy(folded:find("main (app);0x2000 (libc) 2\n", 1, true))
    local doc = analysis.speedscope(p, { table = true, mode = "textbook" })
    local seen = {}
    for _, f in ipairs(doc.shared.frames) do
      assert.is_nil(seen[f.name], f.name)
      seen[f.name] = true
    end
    assert.is_true(seen["handle (app.web) [|handle]"] and seen["0x2000 (libc)"])
  end)

  it("a sample with an empty stack is the function (no frames), in pprof and folded", function()
    local p = tiny()
    p.chunk.profile.stacks[7] = {}
    p.chunk.profile.samples[7] = { stack_id = 6, thread_id = "3", timestamp = 10 }
    p.chunk.profile.samples[8] = { stack_id = 6, thread_id = "3", timestamp = 10.5 }
    local rows = pprof_top(analysis.pprof(p), "samples")
    assert.same({ flat = 1, cum = 1 }, rows["(no frames)"])
    assert.truthy(analysis.folded(p):find("\n%(no frames%) 1\n"))
    assert.truthy(analysis.folded(p, { thread_root = true }):find("thread 3;(no frames) 1\n", 1, true))
  end)
end)

describe("exports read the same samples and weights as top", function()
  local function folded_total(text)
    local sum = 0
    for n in text:gmatch(" (%d+)\n") do sum = sum + tonumber(n) end
    return sum
  end
  local function speedscope_total(answer, opts)
    local doc = assert(analysis.speedscope(answer, opts))
    doc = assert(chunks.decode(doc))
    local sum = 0
    for _, prof in ipairs(doc.profiles) do sum = sum + prof.endValue end
    return sum
  end
  local function perfanno_total(answer, opts)
    local sum = 0
    for _, tr in ipairs(analysis.perfanno(answer, opts).microseconds) do sum = sum + tr.count end
    return sum
  end
  local function pprof_ns(answer, opts)
    local text = pprof_tool("-top -nodecount=1 -unit=ns -sample_index=cpu", analysis.pprof(answer, opts))
    return tonumber(text:match("of (%d+)ns total"))
  end

  it("clip samples that straddle from/to in every export", function()
    -- thread 1: 10 (.125 -> .025 inside), 10.125 (.25), 10.375 (.125 -> .025),
    -- 10.5 outside; thread 2: 10 (.25 -> .15), 10.25 (last: no sample)
    local w = { from = 10.1, to = 10.4 }
    assert.equal(0.45, analysis.top(tiny(), w).time)
    assert.equal(450000, folded_total(analysis.folded(tiny(), { from = 10.1, to = 10.4, weight = "microseconds" })))
    assert.equal(450000, speedscope_total(tiny(), w))
    assert.equal(450000, perfanno_total(tiny(), { from = 10.1, to = 10.4, event = "microseconds" }))
    assert.equal(450000000, pprof_ns(tiny(), w))
    local doc = assert(chunks.decode(analysis.cpuprofile(tiny(), w)))
    assert.same({ 10100000, 10400000 }, { doc.startTime, doc.endTime })
    assert.same({ 0, 25000, 250000 }, doc.timeDeltas)
    -- ISO-8601 bounds are the same bounds
    assert.equal(analysis.cpuprofile(tiny(), w), analysis.cpuprofile(tiny(),
      { from = "1970-01-01T00:00:10.1Z", to = "1970-01-01T00:00:10.4Z" }))
  end)

  it("take mode = sentry (default) or textbook, with top's totals in each", function()
    for label, answer in pairs { tiny = tiny(), generated = generated(), python = python } do
      for _, mode in ipairs { "sentry", "textbook" } do
        local top = analysis.top(answer, { mode = mode })
        local us = 0
        -- each sample's weight rounded to whole µs, then added
        local tl = analysis.samples.timeline(answer)
        for _, tid in ipairs(tl.order) do
          for _, i in ipairs(tl.by[tid]) do
            if mode == "textbook" or not tl.last[i] then
              us = us + math.floor((mode == "sentry" and tl.sentry[i] or tl.textbook[i]) / 1000 + 0.5)
            end
          end
        end
        local m = label .. " " .. mode
        assert.equal(us, folded_total(analysis.folded(answer, { mode = mode, weight = "microseconds" })), m)
        assert.equal(us, folded_total(analysis.folded(answer, { mode = mode, weight = "microseconds", thread_root = true })), m)
        assert.equal(top.samples, folded_total(analysis.folded(answer, { mode = mode })), m)
        assert.equal(us, speedscope_total(answer, { mode = mode }), m)
        assert.is_true(math.abs(us - top.time * 1e6) <= #answer.chunk.profile.samples / 2 + 1, m)
      end
    end
    assert.has_error(function() analysis.folded(tiny(), { mode = "exact" }) end,
      "bad argument #2 to 'folded' (mode must be 'sentry' or 'textbook', got 'exact')")
    assert.has_error(function() analysis.pprof(tiny(), { thread = "1" }) end,
      "bad argument #2 to 'pprof' (unknown option 'thread'; did you mean 'threads'?)")
    assert.has_error(function() analysis.speedscope(tiny(), { mdoe = "textbook" }) end,
      "bad argument #2 to 'speedscope' (unknown option 'mdoe'; did you mean 'mode'?)")
  end)

  it("folded microseconds: each sample rounded, then added", function()
    -- three samples of 1.4 µs on one stack: 1 + 1 + 1, not round(4.2) = 4
    local p = tiny()
    p.chunk.profile.samples = {
      { stack_id = 0, thread_id = "1", timestamp = 10 },
      { stack_id = 0, thread_id = "1", timestamp = 10.0000014 },
      { stack_id = 0, thread_id = "1", timestamp = 10.0000028 },
      { stack_id = 0, thread_id = "1", timestamp = 10.0000042 },
    }
    local tl = analysis.samples.timeline(p)
    for i = 1, 3 do assert.is_true(tl.sentry[i] > 1300 and tl.sentry[i] < 1500) end
    assert.equal("main (app);handle (app.web) 3\n", analysis.folded(p, { weight = "microseconds" }))
  end)

  it("null fields are absent in every export", function()
    local plain, nulls = tiny(), tiny()
    local fr = nulls.chunk.profile.frames
    for _, f in ipairs(fr) do
      for _, k in ipairs { "abs_path", "module", "filename", "package", "lineno", "colno", "instruction_addr",
                           "platform", "symbol" } do
        if f[k] == nil then f[k] = null end
      end
    end
    fr[3]["function"] = "query"
    for _, f in ipairs(plain.chunk.profile.frames) do
      if f.in_app == null then f.in_app = nil end
    end
    for _, f in ipairs(fr) do if f.in_app == nil then f.in_app = null end end
    for _, mode in ipairs { "sentry", "textbook" } do
      local o = { mode = mode }
      assert.equal(analysis.folded(plain, o), analysis.folded(nulls, o))
      assert.equal(analysis.pprof(plain, o), analysis.pprof(nulls, o))
      assert.equal(analysis.speedscope(plain, o), analysis.speedscope(nulls, o))
      assert.equal(analysis.cpuprofile(plain, o), analysis.cpuprofile(nulls, o))
      assert.same(analysis.perfanno(plain, o), analysis.perfanno(nulls, o))
    end
    local doc = assert(chunks.decode(analysis.cpuprofile(nulls)))
    for _, node in ipairs(doc.nodes) do assert.is_string(node.callFrame.url) end
    -- a frame whose function is null is named by its address or as unknown
    local unnamed = tiny()
    unnamed.chunk.profile.frames[3] = { ["function"] = null, instruction_addr = "0xbeef", module = null, in_app = false }
    assert.truthy(analysis.folded(unnamed):find(";0xbeef;", 1, true))
    assert.is_string(analysis.pprof(unnamed))
  end)
end)

describe("damaged data", function()
  it("never makes an export raise: a null frame, an index that is no number or not there, a missing stack", function()
    local t = tiny()
    local p = t.chunk.profile
    p.frames[3] = null
    p.stacks[2] = { 2, "x", 99, 0 }
    p.stacks[5] = null
    p.thread_metadata = null
    p.samples[#p.samples + 1] = { stack_id = 500, thread_id = "1", timestamp = 10.6 }
    for _, mode in ipairs { "sentry", "textbook" } do
      local o = { mode = mode }
      assert.is_string(analysis.folded(t, o))
      assert.is_string(analysis.speedscope(t, o))
      assert.is_string(analysis.cpuprofile(t, o))
      assert.is_string(analysis.pprof(t, o))
      assert.is_table(analysis.perfanno(t, o))
    end
    assert.truthy(analysis.folded(t):find("main (app);<missing frame 99>;<missing frame x>;<missing frame 2> 1\n", 1, true))
    local doc, err = analysis.cpuprofile(t, { thread = { "1", "2" } })
    assert.is_nil(doc)
    assert.equal("nothing to export: '1, 2' names 2 threads; give one thread id", err)
  end)
end)

describe("cpuprofile", function()
  -- Chrome's format: nodes with id, callFrame {functionName, scriptId, url,
  -- lineNumber, columnNumber} and children; samples and timeDeltas of equal
  -- length; startTime <= endTime; every sample a node id.
  local function assert_cpuprofile(text, label)
    local doc = assert(chunks.decode(text))
    assert.is_table(doc.nodes, label)
    local ids = {}
    for _, node in ipairs(doc.nodes) do
      assert.is_number(node.id)
      assert.is_nil(ids[node.id], label .. ": node id twice")
      ids[node.id] = node
      local cf = node.callFrame
      assert.is_string(cf.functionName)
      assert.is_string(cf.scriptId)
      assert.is_string(cf.url)
      assert.is_number(cf.lineNumber)
      assert.is_number(cf.columnNumber)
      assert.is_true(cf.lineNumber >= -1 and cf.columnNumber >= -1)
      assert.is_number(node.hitCount)
      if node.children ~= nil then assert.is_table(node.children) end
    end
    local hits, parents = {}, 0
    for _, node in ipairs(doc.nodes) do
      for _, c in ipairs(node.children or {}) do
        assert.is_table(ids[c], label .. ": child " .. c .. " is no node")
        parents = parents + 1
      end
    end
    assert.equal(#doc.nodes - 1, parents) -- a tree: every node but the root has one parent
    assert.is_true(#doc.samples > 0)
    assert.equal(#doc.samples, #doc.timeDeltas)
    local sum = 0
    for i, s in ipairs(doc.samples) do
      assert.is_table(ids[s], label .. ": sample " .. i .. " is no node")
      hits[s] = (hits[s] or 0) + 1
      assert.is_true(doc.timeDeltas[i] >= 0)
      sum = sum + doc.timeDeltas[i]
    end
    for id, node in pairs(ids) do assert.equal(hits[id] or 0, node.hitCount) end
    assert.is_true(doc.startTime <= doc.endTime)
    assert.is_true(doc.startTime + sum <= doc.endTime, label .. ": the timeline overruns endTime")
    if math.type then
      assert.equal("integer", math.type(doc.startTime))
      assert.equal("integer", math.type(doc.endTime))
    end
    return doc
  end

  -- a Unix time (s) in whole µs, half up, from Sentry's integer ns, with
  -- the division by 1000 done exactly (N / 1000 in a double can land on
  -- .5; fmod is exact, and N - r is a multiple of 1000)
  local function exact_us(t)
    local n = math.floor(t * 1e9)
    local r = math.fmod(n, 1000)
    return math.floor((n - r) / 1000 + 0.5) + (r >= 500 and 1 or 0)
  end

  it("keeps every digit of startTime and endTime (integers in µs, not cjson's 14 digits)", function()
    local doc = assert_cpuprofile(analysis.cpuprofile(tiny_at(1779955200.123456)), "tiny")
    assert.equal(1779955200123456, doc.startTime)
    assert.equal(1779955200623456, doc.endTime) -- the last sample ends the timeline
    assert.same({ 0, 125000, 250000 }, doc.timeDeltas)
    assert.equal(1779955200498456, doc.startTime + doc.timeDeltas[2] + doc.timeDeltas[3]) -- the last counted sample
  end)

  it("passes the format's checks on every thread of the fixtures and generated data, both modes", function()
    for label, answer in pairs { python = python, java = java, generated = generated() } do
      for _, th in ipairs(analysis.threads(answer)) do
        for _, mode in ipairs { "sentry", "textbook" } do
          local text, err = analysis.cpuprofile(answer, { thread = th.id, mode = mode })
          if th.samples < 2 and mode == "sentry" then
            assert.is_nil(text)
            assert.matches("no samples", err)
          else
            local doc = assert_cpuprofile(assert(text, err), label .. " " .. tostring(th.id) .. " " .. mode)
            local n = mode == "sentry" and th.samples - 1 or th.samples
            assert.equal(n, #doc.samples)
            -- sentry mode: the real timeline, first and last sample to the µs
            if mode == "sentry" then
              assert.equal(exact_us(th.first), doc.startTime)
              assert.equal(exact_us(th.last), doc.endTime)
            end
          end
        end
      end
    end
  end)

  it("names nodes as top names functions", function()
    local doc = assert(chunks.decode(analysis.cpuprofile(tiny())))
    local names = analysis.function_names(tiny())
    local want = {}
    for _, n in pairs(names) do want[n] = true end
    for i = 2, #doc.nodes do assert.is_true(want[doc.nodes[i].callFrame.functionName]) end
  end)
end)

describe("speedscope", function()
  -- speedscope's file-format schema (https://www.speedscope.app/file-format-schema.json):
  -- $schema, shared.frames [{name, file?, line?, col?}], profiles of type
  -- "sampled" {name, unit, startValue, endValue, samples, weights}.
  local UNITS = { none = true, nanoseconds = true, microseconds = true, milliseconds = true, seconds = true, bytes = true }
  local function assert_speedscope(text, label)
    local doc = assert(chunks.decode(text))
    assert.equal("https://www.speedscope.app/file-format-schema.json", doc["$schema"])
    assert.is_table(doc.shared)
    assert.is_table(doc.shared.frames)
    for _, f in ipairs(doc.shared.frames) do
      assert.is_string(f.name)
      if f.file ~= nil then assert.is_string(f.file) end
      if f.line ~= nil then assert.is_number(f.line) end
      if f.col ~= nil then assert.is_number(f.col) end
    end
    assert.is_table(doc.profiles)
    if doc.name ~= nil then assert.is_string(doc.name) end
    if doc.activeProfileIndex ~= nil then assert.is_true(doc.activeProfileIndex < #doc.profiles) end
    for _, prof in ipairs(doc.profiles) do
      assert.equal("sampled", prof.type)
      assert.is_string(prof.name)
      assert.is_true(UNITS[prof.unit])
      assert.is_number(prof.startValue)
      assert.is_number(prof.endValue)
      assert.is_table(prof.samples)
      assert.is_table(prof.weights)
      assert.equal(#prof.samples, #prof.weights)
      local sum = 0
      for i, stack in ipairs(prof.samples) do
        assert.is_table(stack)
        for _, idx in ipairs(stack) do
          assert.is_true(idx >= 0 and idx < #doc.shared.frames and idx == math.floor(idx), label)
        end
        assert.is_true(prof.weights[i] >= 0 and prof.weights[i] == math.floor(prof.weights[i]))
        sum = sum + prof.weights[i]
      end
      assert.equal(prof.endValue - prof.startValue, sum)
    end
    return doc
  end

  it("passes the schema on the fixtures and generated data, both modes, names as top's", function()
    for label, answer in pairs { python = python, java = java, generated = generated(), tiny = tiny() } do
      local names = {}
      for _, n in pairs(analysis.function_names(answer)) do names[n] = true end
      for _, mode in ipairs { "sentry", "textbook" } do
        local doc = assert_speedscope(assert(analysis.speedscope(answer, { mode = mode })), label)
        local seen = {}
        for _, f in ipairs(doc.shared.frames) do
          assert.is_true(names[f.name], f.name)
          assert.is_nil(seen[f.name])
          seen[f.name] = true
        end
      end
    end
  end)
end)
