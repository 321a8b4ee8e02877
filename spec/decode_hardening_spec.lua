-- Hardening of the decoder bindings (issue 10): closed, busy and failed
-- decoders, size options read raw and range-checked before any
-- conversion, finalizers that run during a feed, small documents without
-- the profile-sized machinery. Blocks tagged #asan also run under
-- AddressSanitizer + UBSan (float-cast-overflow included) in `make test`,
-- where a use after free or an out-of-range cast aborts the run.
local chunks = require "sentry.chunks"
local gen = require "gen"
local stress = require "support.gc_stress"

local with_finalizers, document = stress.with_finalizers, stress.document

describe("decoder lifetimes #asan", function()
  it("answers 'decoder is closed' after __close or __gc, and finish never returns the decoder", function()
    for _, how in ipairs { "__close", "__gc" } do
      local d = chunks.decoder()
      assert.is_true(d:feed('{"a":[1,2,'))
      getmetatable(d)[how](d)
      local ok, err = d:feed("3]}")
      assert.is_nil(ok, how)
      assert.equal("decoder is closed", err)
      local v, err2 = d:finish()
      assert.is_nil(v, how)
      assert.equal("decoder is closed", err2)
      assert.equal("sentry.chunks.decoder (closed, 10 bytes)", tostring(d))
      getmetatable(d)[how](d) -- twice is fine
    end
    -- closed before anything was fed, and after it finished
    local d = chunks.decoder()
    getmetatable(d).__close(d)
    local v, err = d:finish()
    assert.is_nil(v)
    assert.equal("decoder is closed", err)
    local e = chunks.decoder()
    assert.is_true(e:feed("[1]"))
    assert.same({ 1 }, e:finish())
    getmetatable(e).__close(e)
    assert.equal("decoder is closed", select(2, e:finish()))
  end)

  it("answers 'decoder is busy' to a finalizer feeding it during a feed", function()
    local text = document(100)
    local d, feeding
    local answers = {}
    local hits = with_finalizers(function()
      if not feeding then return false end
      local ok, err = d:feed("1")
      answers[#answers + 1] = ok == nil and err or "fed"
      local v, err2 = d:finish()
      answers[#answers + 1] = v == nil and err2 or "finished"
    end, function()
      d = chunks.decoder()
      for i = 1, #text, 8192 do
        local piece = text:sub(i, i + 8191)
        feeding = true
        local ok, err = d:feed(piece)
        feeding = false
        assert(ok, err)
      end
      local v = assert(d:finish())
      assert.equal(1000, #v.samples)
    end)
    assert.is_true(hits > 0, "no finalizer ran during the feeds")
    for _, a in ipairs(answers) do assert.equal("decoder is busy", a) end
  end)

  it("a refusal given to a finalizer never replaces the running feed's own error", function()
    local text = document(100)
    local bad = text:sub(1, -3) .. "x" -- invalid at its very end
    local d, feeding, refused, err
    local hits = with_finalizers(function()
      if not feeding then return false end
      -- (a finalizer may also run after the feed, before it returns)
      local answer = select(2, d:feed("1"))
      if answer ~= "decoder is busy" then return false end
      refused = answer
    end, function()
      d = chunks.decoder()
      feeding = true
      local ok
      ok, err = d:feed(bad)
      feeding = false
      assert.is_nil(ok)
    end)
    assert.is_true(hits > 0, "no finalizer ran during the feed")
    assert.equal("decoder is busy", refused)
    assert.matches("^unexpected 'x'", err)
    assert.matches("^unexpected 'x'", select(2, d:finish()))
  end)

  it("a finalizer closing the decoder during a feed: the feed says closed, nothing is freed under it", function()
    local text = document(100)
    local d, result, feeding
    local hits = with_finalizers(function()
      if not feeding then return false end
      getmetatable(d).__close(d)
    end, function()
      d, result = chunks.decoder(), nil
      for i = 1, #text, 8192 do
        local piece = text:sub(i, i + 8191)
        feeding = true
        local ok, err = d:feed(piece)
        feeding = false
        if not ok then result = err break end
      end
    end)
    assert.is_true(hits > 0, "no finalizer ran during the feeds")
    assert.equal("decoder is closed", result)
    assert.equal("decoder is closed", select(2, d:finish()))
  end)
end)

describe("GC stress: decoders #asan", function()
  it("a collection step between 1-byte feeds changes nothing", function()
    local text = gen.encode(require("support.tiny_profile")())
    local d = chunks.decoder()
    for i = 1, #text do
      assert.is_true(d:feed(text:sub(i, i)))
      collectgarbage("step")
    end
    assert.same(assert(chunks.decode(text)), assert(d:finish()))
  end)

  it("finalizers that decode, feed other decoders and collect during a feed", function()
    local text = document(100)
    local expected = assert(chunks.decode(text))
    local others = {}
    for i = 1, 5 do others[i] = chunks.decoder() end
    local hits = with_finalizers(function()
      assert(chunks.decode('{"a":[1,2,{"b":"c"}]}'))
      for _, o in ipairs(others) do o:feed("[1,") end
      if #others < 20 then others[#others + 1] = chunks.decoder() end
    end, function()
      local d = chunks.decoder()
      for i = 1, #text, 8192 do assert.is_true(d:feed(text:sub(i, i + 8191))) end
      assert.same(expected, assert(d:finish()))
    end)
    assert.is_true(hits > 0, "no finalizer ran during the feeds")
  end)
end)

describe("decoder options are read raw and range-checked #asan", function()
  it("never takes an option from an __index metamethod", function()
    local d = chunks.decoder(setmetatable({}, { __index = function() return 0 / 0 end }))
    assert.is_true(d:feed("[1]"))
    assert.same({ 1 }, d:finish())
    assert.same({ 1 }, chunks.decode("[1]", setmetatable({}, { __index = function() return 1e300 end })))
  end)

  it("raises on NaN, inf, fractions and out-of-range sizes before converting them", function()
    for _, v in ipairs { 0 / 0, math.huge, -math.huge, -1, 1e300, 2 ^ 53 + 2, 1.5, 0 } do
      for _, name in ipairs { "max_bytes", "max_depth" } do
        local ok, err = pcall(chunks.decode, "1", { [name] = v })
        assert.is_false(ok, name .. " = " .. tostring(v))
        assert.matches("bad option '" .. name .. "' to 'decode' %(positive integer", err)
        ok, err = pcall(chunks.decoder, { [name] = v })
        assert.is_false(ok)
        assert.matches("bad option '" .. name .. "' to 'decoder' %(positive integer", err)
      end
    end
    assert.truthy(chunks.decode("[1]", { max_bytes = 2 ^ 53, max_depth = 2 ^ 40 }))
  end)
end)

describe("small documents", function()
  it("a small decode allocates no string cache and no thread", function()
    local text = '{"detail":"Invalid token"}'
    chunks.decode(text)
    collectgarbage()
    collectgarbage("stop")
    local before = collectgarbage("count")
    for _ = 1, 200 do chunks.decode(text) end
    local grown = collectgarbage("count") - before
    collectgarbage("restart")
    -- a 1024-slot cache table and a thread each time made ~3.4 MB
    assert.is_true(grown < 400, grown .. " KB for 200 decodes")
  end)
end)

describe("the string cache #asan", function()
  -- A slot is picked from a string's length and its first and last bytes,
  -- so strings of one length that differ in one inner byte share a slot:
  -- only the comparison tells them apart. Every length the cache holds
  -- (1..32) and one past it, every position, keys and values alike, in a
  -- document large enough to have a cache.
  it("tells apart strings of one length that differ in any one byte", function()
    local cjson = require "cjson"
    local parts, pad = {}, string.rep("x", 600)
    for n = 1, 33 do
      local base = string.rep("a", n)
      for pos = 1, n do
        local other = base:sub(1, pos - 1) .. "b" .. base:sub(pos + 1)
        parts[#parts + 1] = string.format('{"%s":"%s","%s":"%s"}', base, other, other, base)
      end
    end
    local text = '{"pad":"' .. pad .. '","list":[' .. table.concat(parts, ",") .. "]}"
    assert.same(cjson.decode(text), assert(chunks.decode(text)))
  end)
end)

-- Out of memory, in a child process with a small address-space limit (not
-- under ASan, which needs a huge one).
describe("out of memory", function()
  local function interpreter()
    local lua = os.getenv("SENTRY_CHUNKS_TEST_LUA")
    if lua then return lua end
    local i = -1
    while arg[i - 1] do i = i - 1 end
    return arg[i]
  end

  local function run_limited(kb, code)
    local cmd = string.format("ulimit -v %d; exec env -u LD_PRELOAD %s -e '%s' 2>&1", kb,
      interpreter(), code:gsub("'", "'\\''"))
    local p = assert(io.popen(cmd))
    local out = p:read("*a")
    p:close()
    return out
  end

  -- Where memory runs out depends on everything allocated before, so the
  -- same run goes again with a little ballast each time: on Lua 5.1 and
  -- LuaJIT one of them once ran out just outside the decoder's protection.
  for _, ballast in ipairs({ 0, 1, 5, 13, 29, 61 }) do
  it("a decoder fed again after running out of memory answers, never resumes on freed state (ballast " .. ballast .. " KB)", function()
    local out = run_limited(300 * 1024, "local ballast = string.rep('x', " .. ballast * 1024 .. ")\n" .. [[
      local chunks = require "sentry.chunks"
      local d = chunks.decoder()
      assert(d:feed("["))
      local piece = string.rep("[1,2,3,4,5,6,7,8],", 20000)
      local ok, err
      for _ = 1, 100000 do
        ok, err = d:feed(piece)
        if not ok then break end
      end
      print("failed:", err)
      print("again:", d:feed("1,"))
      print("finish:", d:finish())
      print("done")
    ]])
    assert.truthy(out:find("failed:\tdecoder failed: not enough memory for the value", 1, true), out)
    assert.truthy(out:find("again:\tnil\tdecoder failed: not enough memory", 1, true), out)
    assert.truthy(out:find("finish:\tnil\tdecoder failed: not enough memory", 1, true), out)
    assert.truthy(out:find("done", 1, true), out)
  end)
  end
end)
