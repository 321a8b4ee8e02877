-- speedscope's pass over columns in Lua (aggregate._lua_stack_runs, what
-- LuaJIT runs) against the C pass (core.stack_runs, what Lua 5.x runs):
-- the same runs, the same numbers down to their subtype, and the same
-- declines, on every Lua.
local aggregate = require "sentry.chunks.analysis.aggregate"
local core = require "sentry.chunks.core"

local lua_runs = aggregate._lua_stack_runs
local compare = require "support.compare"

local function both(tids, tss, sids, n, nstacks)
  local o1, r1 = core.stack_runs(tids, tss, sids, n, nstacks)
  local o2, r2 = lua_runs(tids, tss, sids, n, nstacks)
  compare.assert_same({ o1, r1 }, { o2, r2 }) -- numbers' subtypes too
  return o1, r1
end

-- A random profile: threads interleaved, each in time order (gaps of 0
-- included), stack ids in range, timestamps as an SDK writes them.
local function profile(seed, n, nthreads, nstacks)
  math.randomseed(seed)
  local ids = {}
  for k = 1, nthreads do
    ids[k] = (k % 3 == 0) and k * 1000 or string.format("%d", 140000000000000 + k * 7)
  end
  local clock = {}
  local tids, tss, sids = {}, {}, {}
  for i = 1, n do
    local k = math.random(nthreads)
    clock[k] = (clock[k] or 1757060087.5) + (math.random(4) == 1 and 0 or math.random() * 0.02)
    tids[i], tss[i] = ids[k], clock[k]
    sids[i] = math.random(4) == 1 and (sids[i - 1] or 0) or math.random(0, nstacks - 1)
  end
  return tids, tss, sids
end

describe("speedscope's runs in Lua (LuaJIT) and in C", function()
  it("agree on random profiles, runs and microseconds alike", function()
    for seed = 1, 40 do
      local n, nthreads, nstacks = seed * 37, 1 + seed % 6, 1 + seed % 9
      local tids, tss, sids = profile(seed, n, nthreads, nstacks)
      local order, runs = both(tids, tss, sids, n, nstacks)
      assert.is_table(order)
      assert.equal(#order, #runs)
      both(tids, tss, sids, math.floor(n / 2), nstacks) -- only the first n are read
    end
  end)

  it("agree on a thread's lone sample, equal timestamps and ids that are numbers", function()
    both({ "a" }, { 1.5 }, { 0 }, 1, 1)
    both({ "a", "a", "a" }, { 2, 2, 2 }, { 0, 0, 1 }, 3, 2)
    both({ 1, 1.0, 2, 1 }, { 1, 2, 3, 4 }, { 0, 1, 1, 0 }, 4, 2) -- 1 and 1.0: one thread
    both({ true, "x", true }, { 1, 1, 1.25 }, { 0, 0, 0 }, 3, 1)
    both({}, {}, {}, 0, 0)
    both({ "a", "a", "a" }, { 1, 2, 3 }, { 1.0, 1.0, 0.0 }, 3, 2) -- whole floats: integers on 5.3+
  end)

  it("decline alike: thread ids, timestamps, stack ids, counts, time order", function()
    local cases = {
      { { nil, "a" }, { 1, 2 }, { 0, 0 }, 2, 1 },
      { { 0 / 0 }, { 1 }, { 0 }, 1, 1 },
      { { "a" }, { "1" }, { 0 }, 1, 1 },
      { { "a" }, { math.huge }, { 0 }, 1, 1 },
      { { "a" }, { 0 / 0 }, { 0 }, 1, 1 },
      { { "a" }, { 1e12 }, { 0 }, 1, 1 }, -- 1e21 ns: past 2^63
      { { "a" }, { -1e12 }, { 0 }, 1, 1 },
      { { "a" }, { 1 }, { -1 }, 1, 1 },
      { { "a" }, { 1 }, { 1 }, 1, 1 },
      { { "a" }, { 1 }, { 0.5 }, 1, 1 },
      { { "a" }, { 1 }, { "0" }, 1, 1 },
      { { "a", "a" }, { 2, 1 }, { 0, 0 }, 2, 1 },
      { { "a" }, { 1 }, { 0 }, 2, 1 }, -- n past the columns: nils
      { { "a" }, { 1 }, { 0 }, 1.5, 1 },
      { { "a" }, { 1 }, { 0 }, -1, 1 },
      { { "a" }, { 1 }, { 0 }, "1", 1 },
      { { "a" }, { 1 }, { 0 }, 1, 0.5 },
    }
    for i, c in ipairs(cases) do
      local o1 = core.stack_runs(c[1], c[2], c[3], c[4], c[5])
      local o2 = lua_runs(c[1], c[2], c[3], c[4], c[5])
      assert.is_nil(o1, "case " .. i .. " (C)")
      assert.is_nil(o2, "case " .. i .. " (Lua)")
    end
  end)

  it("agree where weights round at half a microsecond", function()
    -- gaps of 1499, 1500 and 1501 ns, and integers on 5.3+
    local base = 1700000000
    both({ "a", "a", "a", "a" }, { base, base + 1.499e-6, base + 2.999e-6, base + 4.5e-6 }, { 0, 0, 1, 1 }, 4, 2)
    both({ "a", "a", "a" }, { 1, 1 + 1.5e-6, 1 + 3.0e-6 }, { 0, 0, 0 }, 3, 1)
  end)

  it("reads columns with a metatable raw, as C does", function()
    local mt = { __index = function() return 0 end }
    local tids = setmetatable({ "a", "a" }, mt)
    both(tids, { 1, 2 }, { 0, 0 }, 2, 1)
    both(tids, { 1, 2 }, { 0, 0 }, 3, 1) -- a third sample only __index has: declined
  end)
end)
