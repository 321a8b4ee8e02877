-- The analysis helpers on spec/support/tiny_profile.lua, every figure
-- worked out by hand there.
local analysis = require "sentry.chunks.analysis"
local chunks = require "sentry.chunks"
local tiny = require "support.tiny_profile"

local function by_name(result)
  local t = {}
  for _, e in ipairs(result.functions) do t[e.name] = e end
  return t
end

local function copy(v)
  if type(v) ~= "table" then return v end
  local t = {}
  for k, x in pairs(v) do t[k] = copy(x) end
  return t
end

describe("weights and threads", function()
  it("weigh a sample by the time to the next sample of its thread", function()
    local answer = tiny()
    local w = analysis.weights(answer)
    assert.same({ 0.25, 0.125, 0.25, 0.125, 0, 0 }, w)
  end)

  it("list threads, the main one found by name", function()
    local threads = analysis.threads(tiny())
    assert.equal(2, #threads)
    assert.same({ id = "1", name = "MainThread", samples = 4, time = 0.5, first = 10.0, last = 10.5 }, threads[1])
    assert.equal("2", threads[2].id)
    assert.equal("1", analysis.main_thread(tiny()))
  end)

  it("find Apple's main thread (com.apple.main-thread) even when another thread is busier", function()
    local a = tiny()
    a.chunk.profile.thread_metadata = { ["1"] = { name = "com.apple.CFSocket.private" },
      ["2"] = { name = "com.apple.main-thread" } }
    assert.equal("2", analysis.main_thread(a)) -- thread "1" has more samples
    assert.same({ "2" }, (function() local ids = {} for id in pairs(analysis.samples.thread_set(a, "main")) do ids[#ids + 1] = id end return ids end)())
  end)

  it("iterate samples per thread in time order, with frames root first if asked", function()
    local seen = {}
    for i, s, fr, w in analysis.each(tiny(), { threads = "MainThread", root_first = true }) do
      seen[#seen + 1] = { i, s.timestamp, fr[1]["function"], fr[#fr]["function"], w }
    end
    assert.same({ { 2, 10.0, "main", "handle", 0.125 }, { 1, 10.125, "main", "query", 0.25 },
                  { 4, 10.375, "main", "read", 0.125 }, { 6, 10.5, "main", "parse", 0 } }, seen)
  end)

  it("restrict to a window: weights of the whole profile, clipped where a sample straddles a bound", function()
    local r = analysis.restrict(tiny(), { from = 10.1, to = 10.4 })
    -- thread 1: [10, 10.125) keeps .025, [10.125, 10.375) all, [10.375, 10.5) .025;
    -- thread 2: [10, 10.25) keeps .15, its last sample (10.25, no time) is inside
    assert.equal(5, #r.chunk.profile.samples)
    assert.same({ 0.25, 0.025, 0.15, 0.025, 0 }, analysis.weights(r))
    -- ISO-8601 bounds are the same bounds
    local iso = analysis.restrict(tiny(), { from = "1970-01-01T00:00:10.1Z", to = "1970-01-01T00:00:10.4Z" })
    assert.same(analysis.weights(r), analysis.weights(iso))
    assert.has_error(function() analysis.restrict(tiny(), { from = "yesterday" }) end,
      "bad argument #2 to 'restrict' (from must be Unix seconds or ISO-8601, got 'yesterday')")
  end)
end)

describe("frames", function()
  it("have one identity across merged chunks and a display name", function()
    local fr = tiny().chunk.profile.frames
    assert.equal(analysis.frame_key(fr[2]), analysis.frame_key(fr[6]))
    assert.equal("app.web|handle", analysis.frame_key(fr[2]))
    assert.equal("handle (app.web)", analysis.frame_name(fr[2]))
    assert.is_true(analysis.in_app(fr[4]))  -- in_app null counts as in-app
    assert.is_false(analysis.in_app(fr[3]))
    -- the address is not part of a function's identity (Sentry's fingerprint)...
    assert.equal("db|query", analysis.frame_key { ["function"] = "query", module = "db", instruction_addr = "0x10" })
    -- ...but tells apart frames without a function name
    assert.equal("UIKit|0x1a2b", analysis.frame_key { package = "/System/Library/Frameworks/UIKit.framework/UIKit",
      instruction_addr = "0x1a2b" })
    assert.equal("0x1a2b (UIKit)", analysis.frame_name { package = "/System/Library/Frameworks/UIKit.framework/UIKit",
      instruction_addr = "0x1a2b" })
  end)

  it("are selected by in_app, pattern or predicate", function()
    local fr = tiny().chunk.profile.frames
    assert.equal(2, #analysis.select_frames(fr, { in_app = false }))
    assert.same({ 1, 5 }, { analysis.select_frames(fr, "^handle$")[1].index, analysis.select_frames(fr, "^handle$")[2].index })
    assert.equal(1, #analysis.select_frames(fr, function(f) return f.lineno == 3 end))
    assert.equal(2, #analysis.select_frames(fr, { pattern = "^app%.", field = "module", in_app = true }) - 1)
  end)
end)

describe("top functions", function()
  it("count the Sentry way: node durations, recursion at each level, the last sample no sample", function()
    local top = analysis.top(tiny())
    assert.equal("sentry", top.mode)
    assert.equal(0.75, top.time)
    assert.equal(4, top.samples) -- each thread's last sample only ends the one before
    local f = by_name(top)
    -- thread 1: one handle node over three samples (.5); thread 2: handle -> handle (.25 each)
    assert.same({ 0.75, 1.0, 4, 5 }, { f["handle (app.web)"].self, f["handle (app.web)"].total,
      f["handle (app.web)"].self_samples, f["handle (app.web)"].total_samples })
    -- query (system) less its child read
    assert.same({ 0.25, 0.375, 1, 2 }, { f["query (db)"].self, f["query (db)"].total,
      f["query (db)"].self_samples, f["query (db)"].total_samples })
    assert.same({ 0.125, 0.125 }, { f["read (socket)"].self, f["read (socket)"].total })
    assert.same({ 0, 0.75, 0, 4 }, { f["main (app)"].self, f["main (app)"].total,
      f["main (app)"].self_samples, f["main (app)"].total_samples })
    assert.is_nil(f["parse (app.json)"]) -- only in a thread's last sample
    assert.equal(100, f["handle (app.web)"].self_pct)
    assert.same({ "app.web", "handle", true }, { f["handle (app.web)"].package, f["handle (app.web)"]["function"],
      f["handle (app.web)"].in_app })
    assert.is_false(f["query (db)"].in_app)
    local order = {}
    for i, e in ipairs(top.functions) do order[i] = e.name end
    assert.same({ "handle (app.web)", "query (db)", "read (socket)", "main (app)" }, order)
  end)

  it("count self time the textbook way: the leaf only; recursion once in total", function()
    local f = by_name(analysis.top(tiny(), { mode = "textbook" }))
    -- every sample weighs its thread's interval: thread 1 .125 (median gap), thread 2 .25
    assert.same({ 0.375, 1.0, 2 }, { f["handle (app.web)"].self, f["handle (app.web)"].total, f["handle (app.web)"].self_samples })
    assert.equal(0.125 + 0.25, f["query (db)"].self)
    assert.equal(0.125, f["parse (app.json)"].self)
    assert.equal(0, f["main (app)"].self)
    assert.equal(1.0, analysis.top(tiny(), { mode = "textbook" }).time)
  end)

  it("give per-occurrence percentiles", function()
    local f = by_name(analysis.top(tiny(), { durations = true, threads = "1" }))
    -- thread 1: handle is on every stack: one run of .125+.25+.125+0
    assert.equal(1, f["handle (app.web)"].occurrences)
    assert.equal(0.5, f["handle (app.web)"].p99)
    -- query: one run of two samples (.25 then .125)
    assert.equal(0.375, f["query (db)"].p75)
  end)

  it("restrict to a thread, sort by total, limit", function()
    local top = analysis.top(tiny(), { threads = "Worker", sort = "total", limit = 2 })
    assert.equal(0.25, top.time)
    assert.equal(2, #top.functions)
    assert.equal("handle (app.web)", top.functions[1].name)
  end)

  it("handle an empty profile and a stack with a missing frame", function()
    local answer = tiny()
    answer.chunk.profile.samples = {}
    local top = analysis.top(answer)
    assert.same({}, top.functions)
    assert.equal(0, top.time)
    answer = tiny()
    answer.chunk.profile.stacks[1] = { 99, 0 }
    local f = by_name(analysis.top(answer))
    assert.equal(0.125, f["<missing frame 99>"].self)
  end)

  it("raise on a wrong argument", function()
    assert.has_error(function() analysis.top(nil) end, "bad argument #1 to 'top' (table expected, got nil)")
    assert.has_error(function() analysis.top(tiny(), { mode = "other" }) end)
  end)
end)

describe("dedupe", function()
  it("keeps one frame per identity and one stack per sequence, samples resolving alike", function()
    local p = tiny()
    local before = copy(p)
    local d = analysis.dedupe(p)
    assert.same(before, p)
    assert.equal(5, #d.chunk.profile.frames) -- the copy of handle is gone
    assert.equal(6, #d.chunk.profile.stacks)  -- no two stacks alike here
    assert.same({ 4, 2, 1, 0 }, d.chunk.profile.stacks[3]) -- read query handle main
    for i, s in ipairs(p.chunk.profile.samples) do
      local old_names, new_names = {}, {}
      for _, idx in ipairs(p.chunk.profile.stacks[s.stack_id + 1]) do
        old_names[#old_names + 1] = analysis.frame_name(p.chunk.profile.frames[idx + 1])
      end
      local ds = d.chunk.profile.samples[i]
      for _, idx in ipairs(d.chunk.profile.stacks[ds.stack_id + 1]) do
        new_names[#new_names + 1] = analysis.frame_name(d.chunk.profile.frames[idx + 1])
      end
      assert.same(old_names, new_names)
    end
    assert.same(analysis.folded(p), analysis.folded(d))
  end)

  it("merges stacks that differ only by frame copies", function()
    local p = tiny()
    p.chunk.profile.stacks[7] = { 4, 2, 1, 0 } -- stack 2 again, with the first copy of handle
    p.chunk.profile.samples[7] = { stack_id = 6, thread_id = "2", timestamp = 10.5 }
    local d = analysis.dedupe(p)
    assert.equal(6, #d.chunk.profile.stacks)
    assert.equal(d.chunk.profile.samples[4].stack_id, d.chunk.profile.samples[7].stack_id)
  end)
end)

describe("call trees and hot paths", function()
  it("build one tree per thread, root to leaf, merged by identity", function()
    local trees = analysis.call_trees(tiny())
    local t1 = trees["1"]
    assert.equal(0.5, t1.total)
    local main = t1.children[1]
    assert.equal("main (app)", main.name)
    local handle = main.children[1]
    -- Sentry's self time: handle is in-app and nothing in-app lies below it but itself
    assert.same({ 0.5, 0.5, 3 }, { handle.total, handle.self, handle.samples })
    local query = handle.children[1]
    assert.same({ "query (db)", 0.375, 0.25 }, { query.name, query.total, query.self })
    assert.same({ "read (socket)", 0.125 }, { query.children[1].name, query.children[1].self })
    local t2 = trees["2"]
    assert.equal(0.25, t2.children[1].children[1].children[1].self) -- handle -> handle
  end)

  it("find the heaviest paths", function()
    local paths = analysis.hot_paths(tiny(), { limit = 2 })
    assert.equal(2, #paths)
    assert.same({ "main (app)", "handle (app.web)", "handle (app.web)" }, paths[1].names)
    assert.same({ "main (app)", "handle (app.web)", "query (db)" }, paths[2].names)
    assert.same({ 0.25, 0.25, 1 }, { paths[1].time, paths[2].time, paths[2].samples })
  end)
end)

describe("comparison", function()
  it("shows which functions got slower or faster", function()
    local p = tiny()
    local cmp = analysis.compare(analysis.restrict(p, { threads = "1" }), analysis.restrict(p, { threads = "2" }))
    assert.equal("sentry", cmp.mode)
    assert.same({ 0.5, 0.25 }, { cmp.a.time, cmp.b.time })
    local first = cmp.functions[1]
    assert.same({ "handle (app.web)", 0.5, 0.25, -0.25 }, { first.name, first.self_a, first.self_b, first.self_delta })
    assert.same({ "query (db)", -0.25 }, { cmp.functions[2].name, cmp.functions[2].self_delta })
  end)

  it("names the argument that is not a profile", function()
    assert.has_error(function() analysis.compare(tiny(), {}) end,
      "bad argument #2 to 'compare' (a decoded answer or chunk expected: no profile.samples)")
    assert.has_error(function() analysis.compare(nil, tiny()) end, "bad argument #1 to 'compare' (table expected, got nil)")
  end)
end)

describe("threads", function()
  it("with equal sample counts, come in the order of their numeric ids (2 before 12)", function()
    local samples, stacks = {}, { { 0 } }
    for _, tid in ipairs { "12", "2", "0", "1" } do
      samples[#samples + 1] = { stack_id = 0, thread_id = tid, timestamp = 1 }
      samples[#samples + 1] = { stack_id = 0, thread_id = tid, timestamp = 2 }
    end
    local ids = {}
    for i, t in ipairs(analysis.threads { profile = { samples = samples, stacks = stacks, frames = { { ["function"] = "f" } } } }) do
      ids[i] = t.id
    end
    assert.same({ "0", "1", "2", "12" }, ids)
  end)
end)

describe("filters", function()
  it("never touch their input", function()
    local p = tiny()
    local before = copy(p)
    analysis.focus(p, "query")
    analysis.ignore(p, "query")
    analysis.hide(p, { in_app = false })
    analysis.show(p, "handle")
    analysis.app_only(p)
    analysis.remap_paths(p, { from = "/srv/app/", to = "/home/me/app/" })
    assert.same(before, p)
  end)

  it("focus and ignore keep or drop samples, with their weights", function()
    local focused = analysis.focus(tiny(), "query")
    assert.equal(3, #focused.chunk.profile.samples)
    assert.equal(0.375, analysis.top(focused).time)
    assert.equal(0.375, analysis.top(analysis.ignore(tiny(), "query")).time)
  end)

  it("hide and show rewrite stacks and keep every sample", function()
    local hidden = analysis.hide(tiny(), { in_app = false })
    local f = by_name(analysis.top(hidden, { mode = "textbook" }))
    assert.equal(0.875, f["handle (app.web)"].self) -- textbook weights: 3 x .125 + 2 x .25
    assert.is_nil(f["query (db)"])
    local shown = analysis.show(tiny(), "^handle$")
    assert.same({ { 1 }, { 1 }, { 5 }, { 1 }, {}, { 1, 1 } }, shown.chunk.profile.stacks)
  end)

  it("app_only collapses runs of system frames to the call into them", function()
    local app = analysis.app_only(tiny())
    assert.same({ 2, 5, 0 }, app.chunk.profile.stacks[3])
  end)

  it("remap_paths points abs_path into a local checkout", function()
    local r = analysis.remap_paths(tiny(), { from = "/srv/app/", to = "/home/me/app/" })
    assert.equal("/home/me/app/app/web.py", r.chunk.profile.frames[2].abs_path)
    assert.is_nil(r.chunk.profile.frames[3].abs_path)
  end)
end)

describe("exports", function()
  local function sorted_lines(text)
    local t = {}
    for line in text:gmatch("[^\n]+") do t[#t + 1] = line end
    table.sort(t)
    return table.concat(t, "\n") .. "\n"
  end

  it("folded: one line per distinct stack, root first, integer counts", function()
    assert.equal(table.concat({
      "main (app);handle (app.web) 1",
      "main (app);handle (app.web);handle (app.web) 1",
      "main (app);handle (app.web);query (db) 1",
      "main (app);handle (app.web);query (db);read (socket) 1",
    }, "\n") .. "\n", sorted_lines(analysis.folded(tiny()))) -- a thread's last sample is no sample
    assert.equal(table.concat({
      "main (app);handle (app.web) 1",
      "main (app);handle (app.web);handle (app.web) 1",
      "main (app);handle (app.web);parse (app.json) 1",
      "main (app);handle (app.web);query (db) 2",
      "main (app);handle (app.web);query (db);read (socket) 1",
    }, "\n") .. "\n", sorted_lines(analysis.folded(tiny(), { mode = "textbook" })))
    assert.equal(table.concat({
      "main (app);handle (app.web) 125000",
      "main (app);handle (app.web);handle (app.web) 250000",
      "main (app);handle (app.web);query (db) 250000",
      "main (app);handle (app.web);query (db);read (socket) 125000",
    }, "\n") .. "\n", sorted_lines(analysis.folded(tiny(), { weight = "microseconds" })))
  end)

  it("folded round-trips to the same totals", function()
    local text = analysis.folded(tiny(), { weight = "microseconds", mode = "textbook" })
    local leaf_total, all = {}, 0
    for path, n in text:gmatch("([^\n]+) (%d+)\n") do
      local leaf = path:match("([^;]+)$")
      leaf_total[leaf] = (leaf_total[leaf] or 0) + tonumber(n)
      all = all + tonumber(n)
    end
    local top = analysis.top(tiny(), { mode = "textbook" })
    assert.equal(analysis.aggregate.microseconds(top.time), all)
    for _, e in ipairs(top.functions) do
      assert.equal(analysis.aggregate.microseconds(e.self), leaf_total[e.name] or 0, e.name)
    end
  end)

  it("folded removes separators from names", function()
    local p = tiny()
    p.chunk.profile.frames[1]["function"] = "ma;in\nx"
    assert.truthy(analysis.folded(p):find("^ma in x %(app%);"))
  end)

  it("speedscope: passes the file-format schema's required fields", function()
    local doc = assert(chunks.decode(assert(analysis.speedscope(tiny()))))
    assert.equal("https://www.speedscope.app/file-format-schema.json", doc["$schema"])
    assert.is_table(doc.shared.frames)
    for _, f in ipairs(doc.shared.frames) do assert.is_string(f.name) end
    assert.equal(2, #doc.profiles)
    local units = { none = true, nanoseconds = true, microseconds = true, milliseconds = true, seconds = true, bytes = true }
    for _, prof in ipairs(doc.profiles) do
      assert.equal("sampled", prof.type)
      assert.is_string(prof.name)
      assert.is_true(units[prof.unit])
      assert.is_number(prof.startValue)
      assert.is_number(prof.endValue)
      assert.equal(#prof.samples, #prof.weights)
      local sum = 0
      for i, stack in ipairs(prof.samples) do
        for _, idx in ipairs(stack) do
          assert.is_true(idx >= 0 and idx < #doc.shared.frames and idx == math.floor(idx))
        end
        sum = sum + prof.weights[i]
      end
      assert.equal(prof.endValue, sum)
    end
    assert.equal("MainThread", doc.profiles[1].name)
    assert.same({ 125000, 250000, 125000 }, doc.profiles[1].weights) -- the last sample is no sample
    assert.equal("main (app)", doc.shared.frames[doc.profiles[1].samples[1][1] + 1].name)
  end)

  it("cpuprofile: the main thread's timeline, 0-based lines, microsecond deltas", function()
    -- sentry mode: the real timeline; the last sample (10.5) only ends it
    local doc = assert(chunks.decode(assert(analysis.cpuprofile(tiny()))))
    assert.same({ 3, 4, 5 }, doc.samples)
    assert.same({ 0, 125000, 250000 }, doc.timeDeltas)
    assert.same({ 10000000, 10500000 }, { doc.startTime, doc.endTime })
    assert.is_nil(doc.nodes[6])
    -- textbook: every sample weighs the thread's interval (.125 s)
    doc = assert(chunks.decode(assert(analysis.cpuprofile(tiny(), { mode = "textbook" }))))
    assert.same({ 3, 4, 5, 6 }, doc.samples)
    assert.same({ 0, 125000, 125000, 125000 }, doc.timeDeltas)
    assert.same({ 10000000, 10500000 }, { doc.startTime, doc.endTime })
    assert.equal("(root)", doc.nodes[1].callFrame.functionName)
    assert.same({ 2 }, doc.nodes[1].children)
    assert.same({ "main (app)", 2, "/srv/app/app/main.py" }, { doc.nodes[2].callFrame.functionName,
      doc.nodes[2].callFrame.lineNumber, doc.nodes[2].callFrame.url })
    assert.same({ 4, 6 }, doc.nodes[3].children) -- handle: query, parse (the copy merged)
    assert.same({ 1, 1, 1, 1 }, { doc.nodes[3].hitCount, doc.nodes[4].hitCount,
      doc.nodes[5].hitCount, doc.nodes[6].hitCount })
    assert.is_nil(doc.nodes[5].children)
    local worker = assert(chunks.decode(assert(analysis.cpuprofile(tiny(), { thread = "Worker" }))))
    assert.equal(1, #worker.samples)
    worker = assert(chunks.decode(assert(analysis.cpuprofile(tiny(), { thread = "Worker", mode = "textbook" }))))
    assert.equal(2, #worker.samples)
  end)

  -- A protobuf reader just big enough to read the pprof export back.
  local function read_varint(s, i)
    local v, mul = 0, 1
    while true do
      local b = s:byte(i)
      i = i + 1
      v = v + (b % 128) * mul
      if b < 128 then return v, i end
      mul = mul * 128
    end
  end
  local function fields(s)
    local out, i = {}, 1
    while i <= #s do
      local key
      key, i = read_varint(s, i)
      local field, wire = math.floor(key / 8), key % 8
      local v
      if wire == 0 then
        v, i = read_varint(s, i)
      else
        assert(wire == 2, "unexpected wire type " .. wire)
        local n
        n, i = read_varint(s, i)
        v = s:sub(i, i + n - 1)
        i = i + n
      end
      out[#out + 1] = { field = field, value = v }
    end
    return out
  end
  local function unpacked(s)
    local t, i = {}, 1
    while i <= #s do t[#t + 1], i = read_varint(s, i) end
    return t
  end

  it("pprof: profile.proto that reads back to the same totals", function()
    local data = analysis.pprof(tiny())
    local strings, counts, nanos, nlocations, names = {}, 0, 0, 0, {}
    local functions = {}
    for _, f in ipairs(fields(data)) do
      if f.field == 6 then strings[#strings + 1] = f.value
      elseif f.field == 4 then nlocations = nlocations + 1
      elseif f.field == 5 then functions[#functions + 1] = fields(f.value)
      elseif f.field == 2 then
        for _, sf in ipairs(fields(f.value)) do
          if sf.field == 2 then
            local v = unpacked(sf.value)
            counts, nanos = counts + v[1], nanos + v[2]
          end
        end
      end
    end
    assert.equal("", strings[1])
    assert.equal(4, counts)
    assert.equal(750000000, nanos)
    for _, fn in ipairs(functions) do
      for _, ff in ipairs(fn) do if ff.field == 2 then names[strings[ff.value + 1]] = true end end
    end
    assert.is_true(names["handle (app.web)"] and names["read (socket)"] and names["main (app)"])
    assert.equal(4, #functions) -- the two copies of handle are one function
    assert.equal(4, nlocations) -- one per function and line: the two copies of handle are one
  end)

  it("perfanno: load_traces' shape, root first, integer counts, remapped files", function()
    local t = analysis.perfanno(tiny(), { remap = { from = "/srv/app/", to = "/home/me/app/" } })
    local traces = t.samples
    assert.is_table(traces)
    local total = 0
    for _, tr in ipairs(traces) do
      assert.equal(math.floor(tr.count), tr.count)
      assert.is_true(tr.count > 0)
      assert.equal("main (app)", tr.frames[1].symbol) -- root first, named as top names it
      for _, f in ipairs(tr.frames) do
        assert.is_string(f.symbol)
        if f.file then assert.is_string(f.file) end
        if f.linenr then assert.equal(math.floor(f.linenr), f.linenr) end
      end
      total = total + tr.count
    end
    assert.equal(4, total)
    assert.equal("/home/me/app/app/main.py", traces[1].frames[1].file)
    assert.equal(3, traces[1].frames[1].linenr)
    local us = analysis.perfanno(tiny(), { event = "microseconds" }).microseconds
    local sum = 0
    for _, tr in ipairs(us) do sum = sum + tr.count end
    assert.equal(750000, sum)
  end)

  it("speedscope: an empty profile is an error, not an invalid file", function()
    local p = tiny()
    p.chunk.profile.samples = {}
    local doc, err = analysis.speedscope(p)
    assert.is_nil(doc)
    assert.matches("no samples", err)
  end)
end)
