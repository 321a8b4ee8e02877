-- The per-element shape test (core.bad_sample, core.bad_stack) answers as
-- the Lua test it stands in for, on valid and spoiled samples and stacks
-- in both layouts, and declines (false) where a metatable would make raw
-- reads differ. And range.drop_end, which cuts a window's answer in
-- place, keeps exactly the samples before the window's end, in order.
local chunks = require "sentry.chunks"
local core = require "sentry.chunks.core"
local answer = require "sentry.chunks.answer"
local range = require "sentry.chunks.range"

-- The Lua tests, as answer.lua had them before C took the loops over.
local function lua_bad_sample(samples, n, columns)
  if columns then
    local sid, ts = samples.stack_id, samples.timestamp
    for i = 1, n do
      if type(sid[i]) ~= "number" or type(ts[i]) ~= "number" then return i end
    end
    return nil
  end
  for i = 1, n do
    local x = samples[i]
    if type(x) ~= "table" or type(x.stack_id) ~= "number" or type(x.timestamp) ~= "number" then return i end
  end
  return nil
end

local function lua_bad_stack(stacks, n)
  for i = 1, n do
    local st = stacks[i]
    if type(st) ~= "table" or not (st[1] ~= nil or next(st) == nil) then return i end
    for j = 1, #st do
      if type(st[j]) ~= "number" then return i end
    end
  end
  return nil
end

local TEXT = '{"chunk":{"profile":{"samples":['
  .. '{"stack_id":0,"thread_id":"1","timestamp":1.5},{"stack_id":1,"thread_id":"2","timestamp":2},'
  .. '{"stack_id":0,"thread_id":"1","timestamp":3,"state":"x"},{"stack_id":2,"thread_id":"2","timestamp":4}],'
  .. '"stacks":[[0],[0,1],[]],"frames":[{"function":"f"},{"function":"g"}]}}}'

local function decoded(layout) return assert(chunks.decode(TEXT, { layout = layout })).chunk.profile end

describe("core.bad_sample and core.bad_stack", function()
  it("pass what the decoder makes, in rows and in columns", function()
    for _, layout in ipairs { "rows", "columns" } do
      local p = decoded(layout)
      local n = layout == "columns" and p.samples.n or #p.samples
      assert.is_nil(core.bad_sample(p.samples, n))
      assert.is_nil(core.bad_stack(p.stacks, #p.stacks))
      assert.is_true(answer.check_answer({ chunk = { profile = p } }))
    end
  end)

  it("name the first bad element as the Lua test does", function()
    local spoilers = {
      rows = {
        function(p) p.samples[3].stack_id = "0" end, function(p) p.samples[2].timestamp = nil end,
        function(p) p.samples[4] = "x" end, function(p) p.samples[1].timestamp = {} end,
        function(p) p.samples[2].stack_id, p.samples[4].timestamp = true, "9" end,
      },
      columns = {
        function(p) p.samples.stack_id[3] = "0" end, function(p) p.samples.timestamp[2] = nil end,
        function(p) p.samples.timestamp[4] = false end, function(p) p.samples.n = 6 end,
        function(p) p.samples.stack_id[1], p.samples.timestamp[1] = 0 / 0, 1 / 0 end, -- numbers still
      },
      stacks = {
        function(p) p.stacks[2][2] = "1" end, function(p) p.stacks[1] = {} end, function(p) p.stacks[3] = { x = 1 } end,
        function(p) p.stacks[2] = 7 end, function(p) p.stacks[1][1] = nil end, function(p) p.stacks[3][1] = 0 end,
      },
    }
    for kind, list in pairs(spoilers) do
      for k, spoil in ipairs(list) do
        local layout = kind == "columns" and "columns" or "rows"
        local p = decoded(layout)
        spoil(p)
        local columns = layout == "columns"
        local n = columns and p.samples.n or #p.samples
        local label = kind .. " " .. k
        assert.equal(lua_bad_sample(p.samples, n, columns), core.bad_sample(p.samples, n), label)
        assert.equal(lua_bad_stack(p.stacks, #p.stacks), core.bad_stack(p.stacks, #p.stacks), label)
      end
    end
  end)

  it("decline (false) where a metatable's __index or __len would change what Lua reads", function()
    local p = decoded("rows")
    setmetatable(p.samples[2], { __index = { stack_id = 1 } })
    assert.is_false(core.bad_sample(p.samples, #p.samples))
    p = decoded("columns")
    setmetatable(p.samples.timestamp, { __index = function() return 1 end })
    assert.is_false(core.bad_sample(p.samples, p.samples.n))
    p = decoded("rows")
    setmetatable(p.stacks[2], { __len = function() return 5 end })
    assert.is_false(core.bad_stack(p.stacks, #p.stacks))
    -- a metatable without either (the empty array's) reads the same raw
    assert.is_not_nil(getmetatable(p.stacks[3]))
    p = decoded("rows")
    assert.is_nil(core.bad_stack(p.stacks, #p.stacks))
    -- and the answer's test then runs in Lua, with the same result
    p = decoded("rows")
    p.samples[3].stack_id = nil
    setmetatable(p.samples[3], { __index = { stack_id = 0 } })
    assert.is_true(answer.check_answer({ chunk = { profile = p } }))
  end)

  it("raise for a programmer's mistake", function()
    assert.has_error(function() core.bad_sample(nil, 1) end)
    assert.has_error(function() core.bad_sample({}, -1) end)
    assert.has_error(function() core.bad_stack({}, 1.5) end)
    assert.is_nil(core.bad_sample({}, 0))
  end)
end)

describe("range.drop_end", function()
  -- timestamps out of order and on both sides of the end (5), one NaN
  local TS = { 1, 7, 2, 5, 3, 9, 4, 0 / 0, 4.5 }
  local function samples_text()
    local out = {}
    for i, t in ipairs(TS) do
      local ts = t ~= t and '"x"' or string.format("%.17g", t)
      out[i] = string.format('{"stack_id":%d,"thread_id":"%d","timestamp":%s%s}', i % 3, i % 2, ts,
        i == 3 and ',"state":"s"' or "")
    end
    return '{"chunk":{"profile":{"samples":[' .. table.concat(out, ",")
      .. '],"stacks":[[0],[0],[0]],"frames":[{"function":"f"}]}}}'
  end

  it("keeps the samples before the end, in order, in place, in both layouts", function()
    for _, layout in ipairs { "rows", "columns" } do
      local v = assert(chunks.decode(samples_text(), { layout = layout }))
      local ss = v.chunk.profile.samples
      if layout == "columns" then ss.timestamp[8] = 0 / 0 else ss[8].timestamp = 0 / 0 end
      local want = {}
      for _, s in ipairs(chunks.rows(v).chunk.profile.samples) do
        if s.timestamp < 5 then
          local copy = {}
          for k, x in pairs(s) do copy[k] = x end
          want[#want + 1] = copy
        end
      end
      assert.equal(5, #want)
      local out = range.drop_end(v, 5)
      assert.equal(v, out) -- the same answer, cut in place
      assert.same(want, chunks.rows(out).chunk.profile.samples)
      if layout == "columns" then
        assert.equal(5, ss.n)
        for _, col in pairs { ss.stack_id, ss.thread_id, ss.timestamp, ss.state } do
          for i = 6, #TS do assert.is_nil(col[i]) end
        end
        assert.equal("s", ss.state[2])
      else
        assert.equal(5, #ss)
      end
    end
  end)

  it("gives the answer back untouched when every sample is before the end", function()
    local v = assert(chunks.decode(samples_text(), { layout = "columns" }))
    v.chunk.profile.samples.timestamp[8] = 0
    local before = chunks.rows(v)
    assert.equal(v, range.drop_end(v, 100))
    assert.same(before, chunks.rows(v))
  end)
end)
