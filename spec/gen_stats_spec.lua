-- bench/gen.lua must look like real profiles (shared/fixtures/README.md):
-- these statistics are measured here, on the generator's own output, with
-- simple counting done in this file (no project helper), and the spec fails
-- when they drift.
local gen = require "gen"

local T0 = gen.T0
local floor, format = math.floor, string.format

-- Four consecutive default (python, 10-thread) chunks of one profiler.
local CHUNKS = 4
-- The generated chunks are large: made when this file's specs start (busted
-- loads every spec file before running any) and let go when they end, so
-- that other specs (the GC-stress ones) do not run over a heap full of them.
local chunks = {}
setup(function()
  for k = 1, CHUNKS do chunks[k] = gen.chunk_table { index = k - 1 } end
end)
teardown(function()
  for k in pairs(chunks) do chunks[k] = nil end
  collectgarbage()
end)

local function frame_identity(f)
  return table.concat({ tostring(f.abs_path or f.package), tostring(f.module), tostring(f["function"]),
    tostring(f.lineno), tostring(f.instruction_addr) }, "|")
end

-- A stack as the sequence of its frames' identities (leaf first).
local function stack_identity(p, sid)
  local ids = {}
  for j, fi in ipairs(p.stacks[sid + 1]) do ids[j] = frame_identity(p.frames[fi + 1]) end
  return table.concat(ids, ";")
end

-- Samples per thread, in order.
local function by_thread(p)
  local by, order = {}, {}
  for _, s in ipairs(p.samples) do
    local list = by[s.thread_id]
    if not list then list = {} by[s.thread_id] = list order[#order + 1] = s.thread_id end
    list[#list + 1] = s
  end
  return by, order
end

local function leaf_name(p, sid)
  local f = p.frames[p.stacks[sid + 1][1] + 1]
  return tostring(f.module or f.package) .. ":" .. tostring(f["function"]), f
end

-- Leaf-count weighting: each sample gives its leaf function one count.
local function leaf_counts(p, keep)
  local counts, total = {}, 0
  for _, s in ipairs(p.samples) do
    if not keep or keep(s) then
      local name = leaf_name(p, s.stack_id)
      counts[name] = (counts[name] or 0) + 1
      total = total + 1
    end
  end
  local list = {}
  for name, n in pairs(counts) do list[#list + 1] = { name = name, n = n } end
  table.sort(list, function(a, b) if a.n ~= b.n then return a.n > b.n end return a.name < b.name end)
  return list, total
end

describe("generated python profiles look like real ones", function()
  local p = chunks[1].profile

  it("has 8-12 threads with large integer ids, MainThread among them, some without metadata", function()
    local by, order = by_thread(p)
    assert.is_true(#order >= 8 and #order <= 12, "threads " .. #order)
    local named, unnamed, main = 0, 0, nil
    for _, tid in ipairs(order) do
      assert.matches("^%d+$", tid)
      assert.is_true(#tid >= 14, "thread id " .. tid)
      local meta = p.thread_metadata[tid]
      if meta then
        named = named + 1
        if meta.name == "MainThread" then main = tid end
      else
        unnamed = unnamed + 1
      end
    end
    assert.is_truthy(main)
    assert.is_true(unnamed >= 1 and unnamed <= 3, "threads without metadata " .. unnamed)
    assert.is_true(named >= 7)
    -- Threads without metadata are short-lived: fewer samples than a full chunk.
    for _, tid in ipairs(order) do
      if not p.thread_metadata[tid] then assert.is_true(#by[tid] < 6060) end
    end
    assert.are.equal(6060, #by[main])
  end)

  it("shares one timestamp per tick at 101 Hz between the threads sampled in it", function()
    local ticks, last, per_tick = 0, nil, {}
    for _, s in ipairs(p.samples) do
      if s.timestamp ~= last then
        ticks = ticks + 1
        last = s.timestamp
      end
      per_tick[ticks] = (per_tick[ticks] or 0) + 1
    end
    assert.are.equal(6060, ticks)
    -- Most ticks hold every long-lived thread (8 with the default 10 threads).
    local full = 0
    for _, n in ipairs(per_tick) do if n >= 8 then full = full + 1 end end
    assert.is_true(full == ticks)
    local span = p.samples[#p.samples].timestamp - p.samples[1].timestamp
    assert.is_true(math.abs(span / (ticks - 1) - 1 / 101) < 1e-5, "tick " .. span / (ticks - 1))
  end)

  it("writes timestamps as Python's repr: shortest round trip, mostly 17 digits", function()
    local text = gen.encode(gen.answer({ chunks[1] }))
    local n, seventeen, seen = 0, 0, {}
    for digits in text:gmatch('"timestamp":([%d.]+)') do
      if not seen[digits] then
        seen[digits] = true
        n = n + 1
        local x = tonumber(digits)
        local sig = #digits:gsub("%.", "")
        assert.is_true(sig <= 17, digits)
        assert.are.equal(format("%.17g", x), format("%.17g", tonumber(format("%." .. sig .. "g", x))))
        -- One digit fewer no longer reads back as the same double.
        assert.are_not.equal(x, tonumber(format("%." .. (sig - 1) .. "g", x)), digits)
        if sig == 17 then seventeen = seventeen + 1 end
      end
    end
    assert.are.equal(6060, n)
    assert.is_true(seventeen / n > 0.5, "17-digit share " .. seventeen / n)
    assert.are.equal("1795579461.8292599", gen.repr(1795579461.8292599))
    assert.are.equal("1779955200.5", gen.repr(1779955200.5))
    assert.are.equal("0.1", gen.repr(0.1))
  end)

  it("repeats each thread's previous stack 75-95% of the time", function()
    local by, order = by_thread(p)
    local rep, pairs_ = 0, 0
    for _, tid in ipairs(order) do
      local list, r = by[tid], 0
      for i = 2, #list do
        if list[i].stack_id == list[i - 1].stack_id then r = r + 1 end
      end
      rep, pairs_ = rep + r, pairs_ + #list - 1
      local rate = r / (#list - 1)
      assert.is_true(rate >= 0.7 and rate <= 0.99, format("thread %s repeats %.3f", tid, rate))
    end
    local overall = rep / pairs_
    assert.is_true(overall >= 0.75 and overall <= 0.95, "overall repeat " .. overall)
  end)

  it("gives each thread one or two home stacks that take most of its samples", function()
    local by, order = by_thread(p)
    for _, tid in ipairs(order) do
      local counts = {}
      for _, s in ipairs(by[tid]) do
        local leaf = leaf_name(p, s.stack_id)
        counts[leaf] = (counts[leaf] or 0) + 1
      end
      local list = {}
      for _, c in pairs(counts) do list[#list + 1] = c end
      table.sort(list, function(a, b) return a > b end)
      local top2 = (list[1] + (list[2] or 0)) / #by[tid]
      assert.is_true(top2 > 0.5, format("thread %s: top two leaves hold %.2f", tid, top2))
    end
  end)

  it("concentrates self time: a few tens of leaf functions, top 5 hold 35-95%", function()
    local list, total = leaf_counts(p)
    assert.is_true(#list >= 10 and #list <= 80, "leaf functions " .. #list)
    local top5 = 0
    for i = 1, 5 do top5 = top5 + list[i].n end
    assert.is_true(top5 / total >= 0.35 and top5 / total <= 0.95, "top 5 share " .. top5 / total)
    -- Waits lead overall: the first leaf is a wait, shared by idle threads.
    assert.are.equal("threading:Condition.wait", list[1].name)
  end)

  it("has one or two busy threads whose first function is a CPU hot path in app code", function()
    -- Idle threads spend 80% and more in their first leaf (the wait); busy
    -- ones spread their samples over their work.
    local busy = {}
    for tid, meta in pairs(p.thread_metadata) do
      local list, total = leaf_counts(p, function(s) return s.thread_id == tid end)
      if list[1].n / total < 0.7 then busy[#busy + 1] = { name = meta.name, list = list, total = total } end
    end
    assert.is_true(#busy >= 1 and #busy <= 2, "busy threads " .. #busy)
    local main_busy = false
    for _, b in ipairs(busy) do
      local first, second = b.list[1], b.list[2]
      assert.matches("^shopapi%.", first.name)
      -- Clearly first: well ahead of the second function.
      assert.is_true(first.n > 1.3 * second.n, b.name .. ": " .. first.name .. " vs " .. second.name)
      if b.name == "MainThread" then
        main_busy = true
        assert.are.equal("shopapi.services.pricing:apply_discounts", first.name)
      end
    end
    assert.is_true(main_busy)
  end)

  it("has python stacks of 7-25 frames on average, a few deep ones, none above 128", function()
    local sum, n, deepest, deep = 0, 0, 0, 0
    local used = {}
    for _, s in ipairs(p.samples) do used[s.stack_id] = true end
    for sid in pairs(used) do
      local d = #p.stacks[sid + 1]
      sum, n = sum + d, n + 1
      if d > deepest then deepest = d end
      if d > 60 then deep = deep + 1 end
    end
    local mean = sum / n
    assert.is_true(mean >= 7 and mean <= 25, "mean depth " .. mean)
    assert.are.equal(128, deepest)
    assert.is_true(deep >= 1 and deep <= n * 0.1, "deep stacks " .. deep)
    -- Weighted by samples the stacks are shallower still (idle threads).
    local wsum = 0
    for _, s in ipairs(p.samples) do wsum = wsum + #p.stacks[s.stack_id + 1] end
    assert.is_true(wsum / #p.samples >= 5 and wsum / #p.samples <= 25)
  end)

  it("writes python frames as sentry-python does", function()
    local with_in_app, app, lib, std = 0, 0, 0, 0
    for _, f in ipairs(p.frames) do
      local keys = {}
      for k in pairs(f) do keys[#keys + 1] = k end
      table.sort(keys)
      local set = table.concat(keys, ",")
      assert.is_true(set == "abs_path,filename,function,lineno,module"
        or set == "abs_path,filename,function,in_app,lineno,module", set)
      assert.are.equal("number", type(f.lineno))
      if f.in_app ~= nil then with_in_app = with_in_app + 1 end
      if f.abs_path:find("^/srv/app/shopapi/") then
        app = app + 1
        assert.is_true(f.in_app)
        assert.are.equal(f.module:gsub("%.", "/") .. ".py", f.filename)
      elseif f.abs_path:find("^/srv/app/%.venv/lib/python3%.11/site%-packages/") then
        lib = lib + 1
        assert.is_true(f.in_app == false or f.in_app == nil)
      else
        std = std + 1
        assert.matches("^/usr/lib/python3%.11/", f.abs_path)
        assert.is_nil(f.in_app)
      end
    end
    local share = with_in_app / #p.frames
    assert.is_true(share >= 0.25 and share <= 0.5, "in_app share " .. share)
    assert.is_true(app > 10 and lib > 10 and std > 10)
    -- The modules a Python developer expects to see.
    local modules = {}
    for _, f in ipairs(p.frames) do modules[f.module] = true end
    for _, m in ipairs { "threading", "concurrent.futures.thread", "selectors", "socket", "json.encoder",
        "re", "sqlite3.dbapi2", "queue", "sentry_sdk.integrations.threading", "shopapi.views.orders" } do
      assert.is_true(modules[m] or false, "module " .. m)
    end
  end)

  it("lists only the frames and stacks a chunk uses, each once", function()
    local used_frames, used_stacks = {}, {}
    for _, s in ipairs(p.samples) do used_stacks[s.stack_id] = true end
    local seen = {}
    for sid = 0, #p.stacks - 1 do
      assert.is_true(used_stacks[sid] or false)
      local key = table.concat(p.stacks[sid + 1], ",")
      assert.is_nil(seen[key])
      seen[key] = true
      for _, fi in ipairs(p.stacks[sid + 1]) do used_frames[fi] = true end
    end
    for fi = 0, #p.frames - 1 do assert.is_true(used_frames[fi] or false) end
  end)

  it("draws every chunk's stacks from one pool: later chunks reuse 90% or more", function()
    local known = {}
    local total_distinct = 0
    for k = 1, CHUNKS do
      local q = chunks[k].profile
      local here, n, old = {}, 0, 0
      for sid = 0, #q.stacks - 1 do
        local id = stack_identity(q, sid)
        if not here[id] then
          here[id] = true
          n = n + 1
          if known[id] then old = old + 1 end
        end
      end
      if k > 1 then
        assert.is_true(old / n >= 0.9, format("chunk %d reuses %.3f", k, old / n))
      end
      for id in pairs(here) do
        if not known[id] then known[id] = true total_distinct = total_distinct + 1 end
      end
    end
    -- A few hundred call paths in all, not a new set per chunk.
    assert.is_true(total_distinct >= 100 and total_distinct <= 400, "distinct stacks " .. total_distinct)
    -- The merged answer still repeats them once per chunk, under new indices.
    local merged = gen.merge(chunks).profile
    local n = 0
    for k = 1, CHUNKS do n = n + #chunks[k].profile.stacks end
    assert.are.equal(n, #merged.stacks)
  end)

  it("is deterministic: same seed, same bytes; another seed, other data", function()
    local a = gen.encode(gen.answer({ gen.chunk_table { index = 3, threads = 3, hz = 20, seed = 7 } }))
    local b = gen.encode(gen.answer({ gen.chunk_table { index = 3, threads = 3, hz = 20, seed = 7 } }))
    local c = gen.encode(gen.answer({ gen.chunk_table { index = 3, threads = 3, hz = 20, seed = 8 } }))
    assert.are.equal(a, b)
    assert.are_not.equal(a, c)
  end)

  it("prints byte-identical output on every Lua", function()
    local outputs = {}
    for _, lua in ipairs { "lua5.1", "lua5.3", "lua5.4", "luajit" } do
      local p_ = io.popen("command -v " .. lua .. " >/dev/null 2>&1 && " .. lua
        .. " bench/gen.lua --chunks 2 --threads 10 --hz 30 --seed 5 && "
        .. lua .. " bench/gen.lua --chunks 1 --platform cocoa --hz 30 --seed 5")
      local out = p_:read("*a")
      p_:close()
      if out ~= "" then outputs[#outputs + 1] = { lua = lua, out = out } end
    end
    assert.is_true(#outputs >= 3, "interpreters found: " .. #outputs)
    for i = 2, #outputs do
      assert.is_true(outputs[i].out == outputs[1].out, outputs[i].lua .. " differs from " .. outputs[1].lua)
    end
    assert.is_true(#outputs[1].out > 100000)
  end)
end)

describe("generated cocoa profiles look like real ones", function()
  local c = gen.chunk_table { platform = "cocoa", index = 0 }
  local p = c.profile

  it("names the main thread and uses small numeric thread ids", function()
    assert.are.equal("cocoa", c.platform)
    local by, order = by_thread(p)
    assert.is_true(#order >= 6)
    assert.are.same({ name = "com.apple.main-thread", priority = 31 }, p.thread_metadata["259"])
    assert.are.equal(6060, #by["259"])
    for _, tid in ipairs(order) do assert.matches("^%d+$", tid) assert.is_true(#tid <= 6) end
  end)

  it("writes native frames: package, function, instruction_addr, in_app, platform, data", function()
    local unsymbolicated, addrs_of = 0, {}
    for _, f in ipairs(p.frames) do
      assert.are.equal("cocoa", f.platform)
      assert.matches("^0x%x+$", f.instruction_addr)
      assert.are.equal("boolean", type(f.in_app))
      assert.is_nil(f.lineno)
      assert.is_nil(f.module)
      if f["function"] then
        assert.are.same({ symbolicator_status = "symbolicated" }, f.data)
        assert.is_true(f.package:find("^/System/Library/") ~= nil or f.package:find("^/usr/lib/") ~= nil
          or f.package:find("^/private/var/containers/Bundle/Application/.+%.app/") ~= nil, f.package)
        assert.are.equal(f.package:find("%.app/MyApp$") ~= nil, f.in_app)
        local key = f.package .. "|" .. f["function"]
        addrs_of[key] = addrs_of[key] or {}
        addrs_of[key][f.instruction_addr] = true
      else
        unsymbolicated = unsymbolicated + 1
        assert.are.same({ symbolicator_status = "missing" }, f.data)
        assert.is_nil(f.package)
      end
    end
    assert.is_true(unsymbolicated >= 1 and unsymbolicated <= #p.frames / 5, "unsymbolicated " .. unsymbolicated)
    -- The same function at several addresses: several frames.
    local multi = 0
    for _, set in pairs(addrs_of) do
      local n = 0
      for _ in pairs(set) do n = n + 1 end
      if n > 1 then multi = multi + 1 end
    end
    assert.is_true(multi >= 3, "functions at several addresses " .. multi)
    assert.is_true(#c.debug_meta.images > 5)
  end)

  it("has a hot path in the app on the main thread and waits elsewhere", function()
    local list = leaf_counts(p, function(s) return s.thread_id == "259" end)
    assert.matches("FeedRenderer%.layout", list[1].name)
    local all, total = leaf_counts(p)
    local top5 = 0
    for i = 1, 5 do top5 = top5 + all[i].n end
    assert.is_true(top5 / total >= 0.35 and top5 / total <= 0.95)
  end)
end)

describe("bench/gen.lua on the command line", function()
  local cjson = require "cjson"
  local lua = os.getenv("SENTRY_CHUNKS_TEST_LUA") or "lua5.4"
  local function run(args)
    local p_ = io.popen(lua .. " bench/gen.lua " .. args .. " 2>&1; echo \"EXIT=$?\"")
    local all = p_:read("*a")
    p_:close()
    local out, code = all:match("^(.-)EXIT=(%d+)\n$")
    return out, tonumber(code)
  end

  it("writes N merged chunks of the platform asked for", function()
    local out, code = run("--chunks 2 --threads 3 --hz 5 --platform cocoa --seed 3")
    assert.are.equal(0, code)
    local answer = cjson.decode(out)
    assert.are.equal(2, #answer.debug_chunk_ids)
    assert.are.equal("cocoa", answer.chunk.platform)
    local tids = {}
    for _, s in ipairs(answer.chunk.profile.samples) do tids[s.thread_id] = true end
    assert.is_true(tids["259"])
    local n = 0
    for _ in pairs(tids) do n = n + 1 end
    assert.are.equal(3, n)
    out, code = run("--chunks 1 --hz 5")
    assert.are.equal(0, code)
    answer = cjson.decode(out)
    assert.are.equal("python", answer.chunk.platform)
    tids, n = {}, 0
    for _, s in ipairs(answer.chunk.profile.samples) do
      if not tids[s.thread_id] then tids[s.thread_id] = true n = n + 1 end
    end
    assert.are.equal(gen.DEFAULT_THREADS.python, n)
  end)

  it("says how to use it on a bad argument", function()
    for _, args in ipairs { "--platform java", "--chunks", "--frames 3", "--threads many" } do
      local out, code = run(args)
      assert.are.equal(2, code, args)
      assert.matches("^usage: lua bench/gen.lua %-%-chunks N", out)
    end
  end)
end)

describe("the generator's thread count", function()
  it("means the number of threads; 4 threads still make the contract's sizes", function()
    local p = gen.chunk_table { index = 0, threads = 4 }.profile
    local _, order = by_thread(p)
    assert.are.equal(4, #order)
    -- 4 long-lived threads: 6060 samples each, ~2.2 MB a chunk, ~80 bytes a sample.
    assert.are.equal(4 * 6060, #p.samples)
    local names = {}
    for _, t in ipairs(gen.threads { threads = 4 }) do names[#names + 1] = t.name end
    table.sort(names)
    assert.are.same({ "MainThread", "ThreadPoolExecutor-0_0", "export-consumer",
      "sentry.profiler.ThreadContinuousScheduler" }, names)
  end)

  it("says what is wrong with a bad platform", function()
    local ok, err = pcall(gen.chunk_table, { platform = "java" })
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'chunk_table' %(platform must be python or cocoa, got java%)", err)
  end)
end)
