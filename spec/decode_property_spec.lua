-- Property: whatever the split, the push decoder gives what the whole
-- string gives, and that equals lua-cjson's answer where lua-cjson is right.
local chunks = require "sentry.chunks"
local cjson = require "cjson"
local corpus = require "support.json_corpus"
local gen = require "gen"

-- lua-cjson 2.1.0 turns every number into a float (so integers past 2^53
-- lose digits) and has no empty-array marker: compare values only, and
-- leave out documents whose integers it cannot hold.
local function same_as_cjson(ours, theirs, path)
  path = path or "$"
  if type(ours) == "table" and type(theirs) == "table" then
    for k, v in pairs(ours) do
      local ok, why = same_as_cjson(v, theirs[k], path .. "." .. tostring(k))
      if not ok then return false, why end
    end
    for k in pairs(theirs) do
      if ours[k] == nil then return false, path .. "." .. tostring(k) .. " missing" end
    end
    return true
  end
  if ours == theirs then return true end
  return false, path .. ": " .. tostring(ours) .. " vs " .. tostring(theirs)
end

local function cjson_is_right_for(text)
  for digits in text:gmatch("%d+") do
    if #digits > 15 and not text:find("%." .. digits) then return false end
  end
  return true
end

local function feed_in(text, cuts)
  local d, from = chunks.decoder(), 1
  for _, to in ipairs(cuts) do
    assert(d:feed(text:sub(from, to)))
    from = to + 1
  end
  assert(d:feed(text:sub(from)))
  return d:finish()
end

local function random_cuts(r, n, count)
  local cuts = {}
  for i = 1, count do cuts[i] = r(n + 1) end
  table.sort(cuts)
  return cuts
end

local function check(text, r)
  local whole, err = chunks.decode(text)
  assert(whole ~= nil, err)
  local one_byte = {}
  for i = 1, #text - 1 do one_byte[i] = i end
  assert(corpus.same(whole, feed_in(text, one_byte)))
  for _ = 1, 5 do
    local ok, why = corpus.same(whole, feed_in(text, random_cuts(r, #text, r(8) + 1)))
    assert(ok, why)
  end
  if cjson_is_right_for(text) then
    local ok, why = same_as_cjson(whole, cjson.decode(text))
    assert(ok, why)
  end
end

describe("decoder splits #asan", function()
  it("agree on the hand-written corpus", function()
    local r = corpus.rng(7)
    for _, text in ipairs(corpus.handwritten) do check(text, r) end
  end)

  it("agree on 300 random documents", function()
    local r = corpus.rng(11)
    for _, text in ipairs(corpus.random(2024, 300)) do check(text, r) end
  end)

  it("agree on a generated profile chunk, in 16 KB pieces and random splits", function()
    local text = gen.encode(gen.answer({ gen.chunk_table{ index = 0, threads = 2, duration = 2 } }))
    assert.is_true(#text > 50000)
    local whole = assert(chunks.decode(text))
    local cuts = {}
    for i = 16384, #text - 1, 16384 do cuts[#cuts + 1] = i end
    assert(corpus.same(whole, feed_in(text, cuts)))
    local r = corpus.rng(99)
    for _ = 1, 3 do assert(corpus.same(whole, feed_in(text, random_cuts(r, #text, 200)))) end
    assert(same_as_cjson(whole, cjson.decode(text)))
    local p = whole.chunk.profile
    assert.is_true(#p.samples > 0)
    assert.equal("string", type(p.samples[1].thread_id))
    assert.equal(tostring(p.samples[1].stack_id), string.format("%d", p.samples[1].stack_id))
  end)
end)
