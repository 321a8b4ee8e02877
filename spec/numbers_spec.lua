-- Numbers: the decoder against tonumber (strtod in the C locale on 5.1-5.4,
-- LuaJIT's own correctly rounded scanner), on adversarial and random input;
-- and the same values whatever LC_NUMERIC the host set. The C program
-- fuzz/numcheck.c does the same on millions of inputs (make test).
local chunks = require "sentry.chunks"

local function show(x)
  return string.format("%.17g", x)
end

-- Decodes s alone (the general path), inside an array (the one-pass fast
-- path) and fed one byte at a time; all three must agree with want.
local function check(s, want)
  if want == nil then want = tonumber(s) end
  local alone, err = chunks.decode(s)
  assert(alone ~= nil, s .. ": " .. tostring(err))
  local arr = assert(chunks.decode("[" .. s .. "]"))
  local d = chunks.decoder()
  for i = 1, #s do assert(d:feed(s:sub(i, i))) end
  local bytes = assert(d:finish())
  for how, got in pairs{ alone = alone, array = arr[1], bytes = bytes } do
    if got ~= want or (got == 0 and 1 / got ~= 1 / want) then
      error(string.format("%s (%s): want %s, got %s", s, how, show(want), show(got)), 2)
    end
  end
end

-- Park-Miller: exact in doubles, so the same sequence on every Lua.
local seed = 20260528
local function below(n)
  seed = (seed * 16807) % 2147483647
  return seed % n
end

local function digits(n)
  local t = { tostring(1 + below(9)) }
  for i = 2, n do t[i] = tostring(below(10)) end
  return table.concat(t)
end

-- Numbers that the fast paths can get wrong (ties, one digit past a tie,
-- subnormals, overflow, long exponents, 20 digits and more), each with
-- its correctly rounded value in a short form (Python's repr) that
-- tonumber reads right on every Lua (LuaJIT's tonumber gives nil for an
-- exponent past its range).
local adversarial = {
  { "1795579461.8292599", "1795579461.8292599" },
  { "1757060087.8460138", "1757060087.8460138" },
  { "1710805688.1179368", "1710805688.1179368" },
  { "0.1", "0.1" },
  { "0.3", "0.3" },
  { "9007199254740993" }, -- an integer where the Lua has them, else 2^53: as tonumber
  { "9007199254740993.0", "9007199254740992.0" },
  { "9007199254740992.5", "9007199254740992.0" },
  { "9007199254740993.5", "9007199254740994.0" },
  { "9007199254740993.0000000000000000001", "9007199254740994.0" },
  { "9007199254740992.9999999999999999999", "9007199254740992.0" },
  { "2.2250738585072011e-308", "2.225073858507201e-308" },
  { "2.2250738585072012e-308", "2.2250738585072014e-308" },
  { "2.2250738585072014e-308", "2.2250738585072014e-308" },
  { "4.9406564584124654e-324", "5e-324" },
  { "2.4703282292062327e-324", "0.0" },
  { "2.4703282292062328e-324", "5e-324" },
  { "5e-324", "5e-324" },
  { "3e-324", "5e-324" },
  { "1e-400", "0.0" },
  { "-1e-400", "-0.0" },
  { "1.7976931348623157e308", "1.7976931348623157e+308" },
  { "1.7976931348623158e308", "1.7976931348623157e+308" },
  { "1.7976931348623159e308", math.huge },
  { "1e309", math.huge },
  { "-1e309", -math.huge },
  { "7.2057594037927933e16", "7.205759403792794e+16" },
  { "8.98846567431158e307", "8.98846567431158e+307" },
  { "4.4501477170144023e-308", "4.4501477170144023e-308" },
  { "1e23", "1e+23" },
  { "1e22", "1e+22" },
  { "1e-22", "1e-22" },
  { "1e-23", "1e-23" },
  { "123456789012345678901234567890", "1.2345678901234568e+29" },
  { "12345678901234567890e-10", "1234567890.1234567" },
  { "0.000000000000000000000000000001e30", "1.0" },
  { "100000000000000000000", "1e+20" },
  { "-100000000000000000000", "-1e+20" },
  { "18446744073709551616", "1.8446744073709552e+19" },
  { "1e0000000000000000000000000000001", "10.0" },
  { "1e-99999999999999999999", "0.0" },
  { "1e99999999999999999999", math.huge },
  { "3.14159e-30", "3.14159e-30" },
  { "3.141592653589793238462643383279e-30", "3.1415926535897934e-30" },
  -- exactly half the smallest subnormal (a tie, to even: 0), and one digit above
  { "2.47032822920623272088284396434110686182529901307162382212792841250337"
    .. "7536351043759326499181808179961898982823477228588654633283551779698981"
    .. "9938739800539093906315035659515570226392290858392449105184435931802849"
    .. "9365361525003193704576782492193656236698636584807570015857692699037063"
    .. "1192827955855133292783433840935197801553124659726357957462276646527282"
    .. "7220056374006485499977096599470454020828166226237857393450736339007967"
    .. "7619305775067401763246736009689513405355374585166611342237666786041621"
    .. "5968046191446729184030053005753084904876539171138659164623952491262365"
    .. "3881879636239373280423891018672348497668235089863388587925628302755995"
    .. "6575244555072551893136908362547791869486679949683240497058210285131854"
    .. "51396213837722826145437693412532098591327667236328125e-324", "0.0" },
  { "2.47032822920623272088284396434110686182529901307162382212792841250337"
    .. "7536351043759326499181808179961898982823477228588654633283551779698981"
    .. "9938739800539093906315035659515570226392290858392449105184435931802849"
    .. "9365361525003193704576782492193656236698636584807570015857692699037063"
    .. "1192827955855133292783433840935197801553124659726357957462276646527282"
    .. "7220056374006485499977096599470454020828166226237857393450736339007967"
    .. "7619305775067401763246736009689513405355374585166611342237666786041621"
    .. "5968046191446729184030053005753084904876539171138659164623952491262365"
    .. "3881879636239373280423891018672348497668235089863388587925628302755995"
    .. "6575244555072551893136908362547791869486679949683240497058210285131854"
    .. "513962138377228261454376934125320985913276672363281251e-324", "5e-324" },
}

describe("numbers #asan", function()
  it("round exactly at ties, past ties, at the ends of the range and past 19 digits", function()
    for _, case in ipairs(adversarial) do
      local s, want = case[1], case[2]
      if type(want) == "string" then want = tonumber(want) end
      check(s, want)
      if s:sub(1, 1) ~= "-" then check("-" .. s, want and -want) end
    end
  end)

  it("keep the sign of a negative zero, except the integer -0", function()
    for _, s in ipairs{ "-0.0", "-0e5", "-0.000e-999", "-1e-400" } do check(s, -0.0) end
    local z = chunks.decode("-0")
    assert.equal(0, z)
    if math.type then assert.equal("integer", math.type(z)) end
  end)

  it("turn integer digits past 19 into a float, not a wrong integer", function()
    local v = chunks.decode("100000000000000000000")
    assert.equal(1e20, v)
    if math.type then assert.equal("float", math.type(v)) end
  end)

  it("agree with tonumber on random timestamps, decimals and long digit strings", function()
    for _ = 1, 1500 do
      local ts = digits(17 + below(3))
      check(ts:sub(1, 10) .. "." .. ts:sub(11))
      local n = 1 + below(19)
      check(digits(n) .. "e" .. (below(680) - 345))
      local long = digits(20 + below(40))
      local p = 1 + below(#long - 1)
      check(long:sub(1, p) .. "." .. long:sub(p + 1) .. "e" .. (below(640) - 320))
    end
  end)
end)

-- A locale whose decimal point is not '.': ps_AF (U+066B, two bytes in
-- UTF-8) and de_DE (','), compiled with localedef into build/locale (no
-- root needed: LOCPATH points there; .ci/test.sh makes ps_AF there too) and
-- set with os.setlocale in a child Lua, since the machine may have no such
-- locale installed. On LuaJIT, whose string.format ignores the locale, the
-- child cannot see the decimal point and trusts os.setlocale's answer.
describe("numbers under LC_NUMERIC", function()
  local lua = os.getenv("SENTRY_CHUNKS_TEST_LUA")
    or (jit and "luajit") or ({ ["Lua 5.1"] = "lua5.1", ["Lua 5.3"] = "lua5.3" })[_VERSION]
    or "lua5.4"
  local dir, locpath

  local function sh(cmd)
    local p = assert(io.popen(cmd .. " 2>&1; echo \"EXIT=$?\""))
    local out = p:read("*a")
    p:close()
    local code = tonumber(out:match("EXIT=(%d+)%s*$"))
    return code, (out:gsub("EXIT=%d+%s*$", ""))
  end

  -- Made on first use, not in setup: a run filtered by tag (the ASan run)
  -- must not run localedef at all.
  local function dirs()
    if dir then return end
    local code, out = sh("mktemp -d /tmp/sentry-chunks-locale.XXXXXX")
    assert(code == 0, out)
    dir = out:match("%S+")
    code, out = sh("mkdir -p build/locale && cd build/locale && pwd")
    assert(code == 0, out)
    locpath = out:match("[^\n]+")
  end

  teardown(function()
    if dir then sh("rm -rf '" .. dir .. "'") end
  end)

  -- The child: expected values from tonumber before the locale is set,
  -- then decode under it.
  local child = [[
    local chunks = require "sentry.chunks"
    local name = arg[1]
    local list = {}
    local want = {}
    for line in io.lines(arg[2]) do
      local s, w = line:match("^(%S+)%s*(%S*)$")
      list[#list + 1] = s
      if w == "inf" then want[#list] = math.huge
      elseif w == "-inf" then want[#list] = -math.huge
      else want[#list] = tonumber(w) or tonumber(s) end
    end
    if not os.setlocale(name, "numeric") then print("NOLOCALE") return end
    if not jit and string.format("%.1f", 1.5) == "1.5" then print("POINT") return end
    local bad = 0
    for i, s in ipairs(list) do
      for _, text in ipairs{ s, "[" .. s .. "]" } do
        local v = chunks.decode(text)
        if type(v) == "table" then v = v[1] end
        if v ~= want[i] then
          bad = bad + 1
          print("BAD " .. text)
        end
      end
    end
    print("CHECKED " .. #list .. " BAD " .. bad)
  ]]

  for _, name in ipairs{ "ps_AF.UTF-8", "de_DE.UTF-8" } do
    it("decodes the same values under " .. name, function()
      dirs()
      local code, out = sh("command -v localedef")
      if code ~= 0 then
        pending("localedef is missing: no locale with another decimal point to test")
        return
      end
      local lang = name:match("^[^.]+")
      if sh("test -d '" .. locpath .. "/" .. name .. "'") ~= 0 then
        -- localedef may warn and still write the locale: only its absence counts.
        -- Made beside it and renamed into place: make test runs this file
        -- under several Luas at once, and a half-written locale is refused
        local part = locpath .. "/." .. name .. "." .. dir:match("[^/]+$")
        code, out = sh("localedef -i " .. lang .. " -f UTF-8 '" .. part .. "'")
        sh("mv -T '" .. part .. "' '" .. locpath .. "/" .. name .. "' 2>/dev/null || rm -rf '" .. part .. "'")
        if sh("test -d '" .. locpath .. "/" .. name .. "'") ~= 0 then
          pending("localedef could not make " .. name .. ": " .. out)
          return
        end
      end
      -- one number a line, with its value in a form tonumber reads everywhere
      local list = { "3.14159e-30", "0.5", "123.25", "1795579461.8292599" }
      for _, case in ipairs(adversarial) do
        local w = case[2]
        if w == math.huge then w = "inf" elseif w == -math.huge then w = "-inf" end
        list[#list + 1] = case[1] .. " " .. (w or "")
      end
      local f = assert(io.open(dir .. "/numbers.txt", "w"))
      f:write(table.concat(list, "\n"), "\n")
      f:close()
      local script = assert(io.open(dir .. "/child.lua", "w"))
      script:write(child)
      script:close()
      code, out = sh("LOCPATH='" .. locpath .. "' " .. lua .. " '" .. dir .. "/child.lua' " .. name
        .. " '" .. dir .. "/numbers.txt'")
      assert.equal(0, code, out)
      assert.is_nil(out:find("NOLOCALE"), name .. " was made but setlocale refused it: " .. out)
      assert.is_nil(out:find("POINT"), name .. " was set but its decimal point is '.': " .. out)
      assert.equal("CHECKED " .. #list .. " BAD 0", out:match("CHECKED %d+ BAD %d+"), out)
    end)
  end
end)
