-- Documents for the decoder specs: hand-written edge cases plus random
-- documents from a deterministic generator (the same on every Lua).
local corpus = {}

corpus.handwritten = {
  '{}', '[]', '[[]]', '[{}]', '{"a":[]}', '{"a":{}}', 'null', 'true', 'false',
  '0', '-0', '1', '-1', '123456789', '9007199254740993', '9223372036854775807',
  '-9223372036854775808', '9223372036854775808', '1.5', '-2.25e-3', '1E10',
  '1e+2', '0.1', '1710805688.1179368', '1779955200.123456', '3.141592653589793',
  '1e-320', '2.2250738585072014e-308', '123456789012345678901234567890',
  '""', '"a"', '"\\"\\\\\\/\\b\\f\\n\\r\\t"', '"\\u0041\\u00e9\\u20ac"',
  '"\\ud83d\\ude00 smile"', '"\\u0000 nul"', '"h\\u00e9llo w\\u00f6rld"',
  '"caf\195\169 \226\130\172"', '  [ 1 , 2 , 3 ]  ', '\n{\r\n\t"a" : 1 }\n',
  '{"a":1,"a":2}', '{"":0}', '[null,null]', '{"k":null}',
  '{"chunk":{"chunk_id":"0123456789abcdef0123456789abcdef","project_id":1,'
    .. '"received":1779957840.5,"profile":{"samples":[{"stack_id":0,"thread_id":"1",'
    .. '"timestamp":1779957840.010001}],"stacks":[[0,1]],"frames":[{"function":"main",'
    .. '"in_app":true,"lineno":10},{"function":"f","in_app":null}],'
    .. '"thread_metadata":{"1":{"name":"MainThread"}}},"measurements":null,'
    .. '"options":null,"debug_meta":{}},"debug_chunk_ids":[]}',
}

-- A 32-bit LCG in doubles: exact on every Lua, so every Lua gets the same
-- documents from the same seed.
local function rng(seed)
  local state = seed % 4294967296
  return function(n)
    state = (state * 1664525 + 1013904223) % 4294967296
    return math.floor(state / 4294967296 * n)
  end
end
corpus.rng = rng

local pieces = { "a", "b", "Z", "0", " ", "\\n", "\\\"", "\\\\", "\\u00e9",
  "\\ud83d\\ude00", "\195\169", "\\/", "\\t", "key", "thread_id", "\\u0000" }

local function random_string(r)
  local t = {}
  for i = 1, r(6) do t[i] = pieces[r(#pieces) + 1] end
  return '"' .. table.concat(t) .. '"'
end

local numbers = { "0", "-0", "7", "-12", "42", "3.25", "-0.5", "1e3", "2.5E-2",
  "1710805688.117937", "9007199254740991", "123456789012", "1.7976931348623157e308" }

local function random_value(r, depth)
  local k = r(depth > 4 and 5 or 8)
  if k == 0 then return random_string(r)
  elseif k == 1 then return numbers[r(#numbers) + 1]
  elseif k == 2 then return ({ "true", "false", "null" })[r(3) + 1]
  elseif k == 3 then return tostring(r(100000))
  elseif k == 4 then return random_string(r)
  elseif k == 5 or k == 6 then
    local t = {}
    for i = 1, r(6) do t[i] = random_value(r, depth + 1) end
    return "[" .. table.concat(t, r(2) == 0 and "," or " , ") .. "]"
  else
    local t = {}
    for i = 1, r(6) do t[i] = random_string(r) .. ":" .. random_value(r, depth + 1) end
    return "{" .. table.concat(t, ",") .. "}"
  end
end

function corpus.random(seed, count)
  local r, docs = rng(seed), {}
  for i = 1, count do docs[i] = random_value(r, 0) end
  return docs
end

-- Deep equality that tells integers from floats where the Lua can, NaN
-- aside, and keeps the empty-array metatable in view.
local mtype = math.type or function() return "float" end
function corpus.same(a, b, path)
  path = path or "$"
  if type(a) ~= type(b) then return false, path .. ": " .. type(a) .. " vs " .. type(b) end
  if type(a) == "number" then
    if a ~= b then return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b) end
    if mtype(a) ~= mtype(b) then return false, path .. ": " .. mtype(a) .. " vs " .. mtype(b) end
    return true
  end
  if type(a) ~= "table" then
    if a == b then return true end
    return false, path .. ": " .. tostring(a) .. " vs " .. tostring(b)
  end
  if getmetatable(a) ~= getmetatable(b) then return false, path .. ": metatables differ" end
  for k, v in pairs(a) do
    local ok, why = corpus.same(v, b[k], path .. "." .. tostring(k))
    if not ok then return false, why end
  end
  for k in pairs(b) do
    if a[k] == nil then return false, path .. "." .. tostring(k) .. ": missing on the left" end
  end
  return true
end

return corpus
