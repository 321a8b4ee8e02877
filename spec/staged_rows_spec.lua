-- Staged rows (src/builder.h): on LuaJIT the rows of a profile's samples
-- are made by a traced Lua function, 1,024 at a time, from values the
-- decoder stages. Here every Lua builds the same documents both ways
-- (core._stage_rows switches it) and against cjson: rows across stage
-- boundaries, samples that end the staging (a fourth key, a container, an
-- element that is not an object), missing and repeated keys, pieces of
-- any size.
local chunks = require "sentry.chunks"
local core = require "sentry.chunks.core"
local cjson = require "cjson"

local function sample(i)
  return string.format('{"stack_id":%d,"thread_id":"%d","timestamp":%d.%03d}', i % 7, 100 + i % 3, 1700000000 + i, i % 1000)
end

-- A document whose profile.samples holds n rows, row i (1-based) replaced
-- by odd[i] where given.
local function doc(n, odd)
  local rows = {}
  for i = 1, n do rows[i] = (odd and odd[i]) or sample(i) end
  return '{"chunk":{"profile":{"frames":[{"function":"f"}],"samples":[' .. table.concat(rows, ",")
    .. '],"stacks":[[0]]}},"pad":"' .. string.rep("p", 600) .. '"}'
end

local function decode_both(text, piece)
  local function run()
    if not piece then return chunks.decode(text) end
    local d = chunks.decoder()
    for i = 1, #text, piece do
      local ok, err = d:feed(text:sub(i, i + piece - 1))
      if not ok then return nil, err end
    end
    return d:finish()
  end
  local was = core._stage_rows(true)
  local staged, e1 = run()
  core._stage_rows(false)
  local plain, e2 = run()
  core._stage_rows(was)
  return staged, plain, e1, e2
end

local function check(text, piece)
  local staged, plain, e1, e2 = decode_both(text, piece)
  assert.equal(e2, e1)
  assert.same(plain, staged)
  if staged then assert.same(cjson.decode(text), staged) end
  return staged
end

describe("staged rows #asan", function()
  it("build the rows of every stage size, whole and in pieces", function()
    for _, n in ipairs { 0, 1, 1023, 1024, 1025, 2049 } do
      local v = check(doc(n))
      assert.equal(n, #v.chunk.profile.samples)
    end
    check(doc(1500), 1)
    check(doc(1500), 7)
    check(doc(3000), 4096)
  end)

  it("keep missing, null and repeated keys as rows do", function()
    check(doc(1100, {
      [1] = "{}",
      [2] = '{"stack_id":1}',
      [3] = '{"timestamp":null,"thread_id":"x"}',
      [1024] = '{"stack_id":1,"stack_id":2,"thread_id":"a","thread_id":"b"}',
      [1025] = '{"thread_id":"only"}',
      [1030] = '{"stack_id":1}', -- its stage slots held row 6's values
      [1100] = '{"stack_id":null,"thread_id":null,"timestamp":null}',
    }))
  end)

  it("end the staging at a sample with a fourth key, first, last or after a stage", function()
    for _, at in ipairs { 1, 2, 1024, 1025, 1500 } do
      check(doc(1600, { [at] = '{"queue_address":"0x1","stack_id":3,"thread_id":"9","timestamp":1.5}' }))
      check(doc(1600, { [at] = '{"stack_id":3,"thread_id":"9","timestamp":1.5,"elapsed":7}' }))
      check(doc(1600, { [at] = '{"stack_id":3,"extra":{"a":[1,2]},"timestamp":1.5}' }), 3)
    end
  end)

  it("end the staging at a container as a sample's value", function()
    for _, at in ipairs { 1, 700, 1025 } do
      check(doc(1300, { [at] = '{"stack_id":{"a":1},"thread_id":"9","timestamp":1.5}' }))
      check(doc(1300, { [at] = '{"thread_id":"9","timestamp":[1,[2]],"stack_id":4}' }))
      check(doc(1300, { [at] = '{"stack_id":2,"thread_id":{"profile":{"samples":[{"stack_id":1}]}}}' }), 5)
    end
  end)

  it("end the staging at an element that is not an object", function()
    for _, odd in ipairs { "1", '"s"', "null", "true", "[]", "[1,2]", "[{}]" } do
      for _, at in ipairs { 1, 3, 1025 } do
        check(doc(1200, { [at] = odd }))
      end
    end
    check(doc(1200, { [1] = "[]", [2] = "{}" }), 2)
  end)

  it("stage only the first samples of a profile; others are built as any array", function()
    local text = '{"a":{"profile":{"samples":[' .. sample(1) .. "," .. sample(2) .. ']}},'
      .. '"b":{"profile":{"samples":[' .. sample(3) .. ']}},"samples":[' .. sample(4) .. "],"
      .. '"pad":"' .. string.rep("p", 600) .. '"}'
    check(text)
    check(text, 1)
  end)

  it("fail alike on a document cut inside the stage, and leave nothing behind", function()
    local text = doc(1500)
    for _, cut in ipairs { 200, 60000, #text - 20 } do
      local s, p, e1, e2 = decode_both(text:sub(1, cut))
      assert.is_nil(s)
      assert.is_nil(p)
      assert.equal(e2, e1)
    end
    collectgarbage()
  end)
end)
