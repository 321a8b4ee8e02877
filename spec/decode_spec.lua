-- Behaviour of chunks.decode and the push decoder.
local chunks = require "sentry.chunks"
local cjson = require "cjson"
local corpus = require "support.json_corpus"

local has_integers = math.type ~= nil

describe("decode #asan", function()
  it("turns null into chunks.null, the same value as cjson.null", function()
    local v = assert(chunks.decode('{"a":null,"b":[null]}'))
    assert.equal(cjson.null, chunks.null)
    assert.equal(chunks.null, v.a)
    assert.equal(chunks.null, v.b[1])
    assert.equal(chunks.null, chunks.decode("null"))
  end)

  it("keeps integers integral where the Lua has integers", function()
    local v = assert(chunks.decode('{"project_id":1,"t":1.5,"big":9223372036854775807,"e":1e2}'))
    assert.equal("1", tostring(v.project_id))
    if has_integers then
      assert.equal("integer", math.type(v.project_id))
      assert.equal(math.maxinteger, v.big)
      assert.equal("float", math.type(v.t))
      assert.equal("float", math.type(v.e)) -- an exponent makes a float, as in Lua
    else
      assert.equal(1, v.project_id)
    end
    assert.equal(-9223372036854775807 - 1, chunks.decode("-9223372036854775808"))
  end)

  it("turns integers beyond 64 bits into the nearest float", function()
    local v = chunks.decode("123456789012345678901234567890")
    assert.equal(1.2345678901234568e29, v)
    if has_integers then assert.equal("float", math.type(v)) end
  end)

  it("rounds decimals correctly, on the fast path and off it", function()
    for _, text in ipairs{ "0.1", "1710805688.1179368", "1779955200.123456",
      "3.141592653589793", "2.2250738585072014e-308", "1e-320", "1.7976931348623157e308",
      "0.30000000000000004", "123456.789e-3", "5e-324", "9007199254740993.0" } do
      assert.equal(tonumber(text), chunks.decode(text), text)
    end
    assert.equal(math.huge, chunks.decode("1e400"))
  end)

  it("keeps an empty array apart from an empty object", function()
    local v = assert(chunks.decode('{"arr":[],"obj":{},"full":[1]}'))
    assert.equal(chunks.empty_array_mt, getmetatable(v.arr))
    assert.is_nil(getmetatable(v.obj))
    assert.is_nil(getmetatable(v.full))
    assert.equal(chunks.empty_array_mt, getmetatable(chunks.decode("[]")))
  end)

  it("decodes every escape, surrogate pairs included, and keeps NUL", function()
    assert.equal('"\\/\b\f\n\r\t', chunks.decode('"\\"\\\\\\/\\b\\f\\n\\r\\t"'))
    assert.equal("A\195\169\226\130\172", chunks.decode('"\\u0041\\u00e9\\u20AC"'))
    assert.equal("\240\159\152\128", chunks.decode('"\\ud83d\\ude00"'))
    assert.equal("a\0b", chunks.decode('"a\\u0000b"'))
    assert.equal(3, #chunks.decode('"a\\u0000b"'))
    assert.equal("caf\195\169", chunks.decode('"caf\195\169"')) -- raw UTF-8 passes through
  end)

  it("rejects control characters, invalid escapes and lone surrogates", function()
    for _, text in ipairs{ '"a\nb"', '"\t"', '"\\x"', '"\\u12"', '"\\u12G4"',
      '"\\ud800"', '"\\ud800x"', '"\\ud800\\u0041"', '"\\udc00"', "\"\\'\"" } do
      local v, err = chunks.decode(text)
      assert.is_nil(v, text)
      assert.is_string(err)
    end
  end)

  it("lets the last of duplicate keys win", function()
    assert.equal(3, chunks.decode('{"a":1,"b":2,"a":3}').a)
  end)

  it("rejects trailing bytes after the value", function()
    local v, err = chunks.decode("[1] 2")
    assert.is_nil(v)
    assert.equal("unexpected '2' after the end of the value at byte 5 (line 1, column 5)", err)
    assert.same({ 1 }, chunks.decode("[1] \n\t "))
  end)

  it("says what and where", function()
    local _, err = chunks.decode('{\n  "a": [1, 2}\n}')
    assert.equal("unexpected '}' (expected ',' or ']') at byte 15 (line 2, column 13)", err)
    _, err = chunks.decode('{"a":1')
    assert.equal("unexpected end of input at byte 7 (line 1, column 7)", err)
    _, err = chunks.decode("")
    assert.equal("empty input at byte 1 (line 1, column 1)", err)
    _, err = chunks.decode("[01]")
    assert.equal("invalid number '01' at byte 2 (line 1, column 2)", err)
  end)

  it("limits nesting without exhausting the C stack", function()
    local deep = string.rep("[", 100000) .. string.rep("]", 100000)
    local v, err = chunks.decode(deep)
    assert.is_nil(v)
    assert.matches("nesting deeper than 1000", err)
    v, err = chunks.decode(string.rep("[", 5) .. string.rep("]", 5), { max_depth = 4 })
    assert.is_nil(v)
    assert.equal("nesting deeper than 4 at byte 5 (line 1, column 5)", err)
    assert.truthy(chunks.decode(string.rep("[", 4) .. string.rep("]", 4), { max_depth = 4 }))
    assert.truthy(chunks.decode(string.rep('{"a":', 999) .. "1" .. string.rep("}", 999)))
  end)

  it("limits the total bytes", function()
    local v, err = chunks.decode("[1,2,3]", { max_bytes = 4 })
    assert.is_nil(v)
    assert.matches("input larger than max_bytes %(4%)", err)
    local d = chunks.decoder{ max_bytes = 6 }
    assert.is_true(d:feed("[1,2,"))
    local ok, err2 = d:feed("3]")
    assert.is_nil(ok)
    assert.matches("max_bytes", err2)
  end)

  it("raises on programmer mistakes", function()
    assert.has_error(function() chunks.decode() end)
    assert.has_error(function() chunks.decode({}) end)
    assert.has_error(function() chunks.decode("1", { max_depht = 3 }) end,
      "bad option 'max_depht' to 'decode' (unknown option)")
    assert.has_error(function() chunks.decode("1", { max_depth = -1 }) end)
    assert.has_error(function() chunks.decoder():feed(true) end)
    assert.has_error(function() chunks.decoder().feed({}, "1") end)
  end)
end)

describe("push decoder #asan", function()
  it("gives the same value whatever the split", function()
    local text = '{"a":[1,-2.5e1,"x\\u00e9y",true,false,null,{}],"bb":{"c":"\\ud83d\\ude00"},"n":123456}'
    local whole = assert(chunks.decode(text))
    for cut = 0, #text do
      local d = chunks.decoder()
      assert.is_true(d:feed(text:sub(1, cut)))
      assert.is_true(d:feed(text:sub(cut + 1)))
      assert.is_true(corpus.same(whole, d:finish()))
    end
  end)

  it("completes a top-level number at finish", function()
    local d = chunks.decoder()
    assert.is_true(d:feed("12"))
    assert.is_true(d:feed("34"))
    assert.equal(1234, d:finish())
  end)

  it("fails cleanly when fed after an error or after finish", function()
    local d = chunks.decoder()
    assert.is_nil((d:feed("[1,,")))
    local ok, err = d:feed("2]")
    assert.is_nil(ok)
    assert.matches("unexpected ','", err)
    local v, err2 = d:finish()
    assert.is_nil(v)
    assert.matches("unexpected ','", err2)

    local e = chunks.decoder()
    assert.is_true(e:feed("[1]"))
    assert.same({ 1 }, e:finish())
    ok, err = e:feed("[2]")
    assert.is_nil(ok)
    assert.equal("decoder already finished", err)
    v, err = e:finish()
    assert.is_nil(v)
    assert.equal("decoder already finished", err)
  end)

  it("reports an unfinished document at finish", function()
    local d = chunks.decoder()
    assert.is_true(d:feed('{"a":"unterminated'))
    local v, err = d:finish()
    assert.is_nil(v)
    assert.equal("unexpected end of input at byte 19 (line 1, column 19)", err)
  end)

  it("frees a decoder collected mid-document", function()
    for _ = 1, 50 do
      local d = chunks.decoder()
      d:feed('{"samples":[{"a":"' .. string.rep("x", 1000))
    end
    collectgarbage()
    collectgarbage()
    local d = chunks.decoder()
    d:feed('[{"a":[1,2,3]},')
    d = nil -- luacheck: ignore
    collectgarbage()
  end)

  it("keeps two decoders fed alternately apart", function()
    local a, b = chunks.decoder(), chunks.decoder()
    local ta, tb = '{"name":"a","v":[1,2,3]}', '[{"name":"b"},4.5,"five"]'
    for i = 1, math.max(#ta, #tb) do
      assert.is_true(a:feed(ta:sub(i, i)))
      assert.is_true(b:feed(tb:sub(i, i)))
    end
    assert.same({ name = "a", v = { 1, 2, 3 } }, a:finish())
    assert.same({ { name = "b" }, 4.5, "five" }, b:finish())
  end)

  it("survives a collection between feeds", function()
    local d = chunks.decoder()
    local text = '{"t":[' .. string.rep('{"k":"value","n":1.25},', 2000) .. '{}]}'
    for i = 1, #text, 97 do
      assert.is_true(d:feed(text:sub(i, i + 96)))
      if i % 970 == 1 then collectgarbage() end
    end
    local v = assert(d:finish())
    assert.equal(2001, #v.t)
    assert.equal("value", v.t[2000].k)
  end)

  it("leaves the collector as it found it", function()
    if not pcall(collectgarbage, "isrunning") then return end -- plain 5.1 cannot tell
    assert.is_true(collectgarbage("isrunning"))
    assert.truthy(chunks.decode('[{"a":1}]'))
    assert.is_true(collectgarbage("isrunning"))
    assert.is_nil((chunks.decode('[{"a":1]')))
    assert.is_true(collectgarbage("isrunning"))
    collectgarbage("stop")
    assert.truthy(chunks.decode('[{"a":1}]'))
    local still_stopped = not collectgarbage("isrunning")
    collectgarbage("restart")
    assert.is_true(still_stopped)
  end)

  it("describes itself without its contents", function()
    local d = chunks.decoder()
    d:feed('{"secret":')
    assert.equal("sentry.chunks.decoder (open, 10 bytes)", tostring(d))
  end)
end)
