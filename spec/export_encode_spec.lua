-- The exports' JSON writer (export._encode): its fast paths for arrays of
-- integers and of shared ARRAY tables (speedscope's weights and samples)
-- write the very text the plain element-by-element writer below writes,
-- on every Lua, for numbers at the edges of what concat writes as %d.
local export = require "sentry.chunks.analysis.export"

local ARRAY, encode = export._ARRAY, export._encode
local format, floor, concat, sort = string.format, math.floor, table.concat, table.sort

-- The writer as it was before the fast paths: one element at a time.
local ESC = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
              ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }
local function reference(v)
  local t = type(v)
  if t == "string" then
    return '"' .. v:gsub('[%c"\\]', function(c) return ESC[c] or format("\\u%04x", c:byte()) end) .. '"'
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if v == floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return format("%d", v) end
    return format("%.17g", v)
  elseif t == "boolean" then
    return v and "true" or "false"
  elseif t == "table" then
    if getmetatable(v) == ARRAY or v[1] ~= nil then
      local parts = {}
      for i = 1, #v do parts[i] = reference(v[i]) end
      return "[" .. concat(parts, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    sort(keys)
    local parts = {}
    for i, k in ipairs(keys) do parts[i] = reference(k) .. ":" .. reference(v[k]) end
    return "{" .. concat(parts, ",") .. "}"
  end
  return "null"
end

local function array(t) return setmetatable(t, ARRAY) end

-- Numbers where concat and %d could part: zero and minus zero, the edges
-- of 14 digits (LuaJIT's "%.14g") and of 2^53, fractions, inf and NaN.
local EDGES = { 0, -0.0, 1, -1, 7, 1e14 - 1, -(1e14 - 1), 1e14, -1e14, 1e14 + 1, 2 ^ 53 - 1,
                -(2 ^ 53 - 1), 2 ^ 53, 2.5, -0.5, 1e300, math.huge, -math.huge, 0 / 0, 3.0 }
if math.type then EDGES[#EDGES + 1] = math.maxinteger; EDGES[#EDGES + 1] = math.mininteger end

describe("export's JSON writer", function()
  it("writes arrays of integers as the element-by-element writer does", function()
    for _, len in ipairs { 1, 2, 4095, 4096, 4097, 9000 } do
      local a = {}
      for i = 1, len do a[i] = (i * 7919) % 1000003 - 500000 end
      assert.equal(reference(a), encode(a))
      assert.equal(reference(array(a)), encode(array(a)))
    end
  end)

  it("writes every edge number, alone and among integers, digit for digit", function()
    for _, x in ipairs(EDGES) do
      for _, a in ipairs { { x }, { 1, x }, { x, 2, 3 }, array { 5, x } } do
        assert.equal(reference(a), encode(a), tostring(x))
      end
    end
  end)

  it("writes arrays of shared ARRAY tables, integers among them, as the plain writer", function()
    local stacks = {}
    for s = 1, 12 do
      local st = array {}
      for j = 1, s do st[j] = (s * j) % 17 end
      stacks[s] = st
    end
    local big = array {}
    for i = 1, 5000 do big[i] = i end -- an element written in pieces
    stacks[#stacks + 1] = big
    stacks[#stacks + 1] = array {} -- empty: "[]"
    stacks[#stacks + 1] = array { array { 1, 2 }, array { 3 } } -- nested
    for _, len in ipairs { 1, 2, 29, 100, 4097, 10000 } do -- 29: an integer last
      local samples = array {}
      for i = 1, len do
        samples[i] = (i % 29 == 0) and i or stacks[(i * 31) % #stacks + 1]
      end
      local doc = { profiles = { { samples = samples, weights = array { 1, 2 } } }, frames = stacks }
      assert.equal(reference(doc), encode(doc))
      assert.equal(reference(samples), encode(samples))
    end
  end)

  it("falls back to the plain writer for arrays of anything else", function()
    local doc = array { 1, "two", { three = 3 }, array { 4 }, true, 2.5, { "x\n\"y\"" } }
    assert.equal(reference(doc), encode(doc))
    local tables = array { array { 1 }, { plain = true }, array { 1 } }
    assert.equal(reference(tables), encode(tables))
  end)
end)
