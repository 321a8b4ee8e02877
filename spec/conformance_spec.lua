-- RFC 8259, section by section: documents that must be accepted (with the
-- value they give) and documents that must be rejected (with the reason).
local chunks = require "sentry.chunks"
local corpus = require "support.json_corpus"
local null = chunks.null

local function arr(t) return t end
local E = setmetatable({}, chunks.empty_array_mt)

local accept = {
  -- 2. grammar: any value at the top, whitespace around tokens
  { "2 value: object", '{"a":1}', { a = 1 } },
  { "2 value: array", "[1]", { 1 } },
  { "2 value: string", '"s"', "s" },
  { "2 value: number", "5", 5 },
  { "2 literals", "[true,false,null]", arr{ true, false, null } },
  { "2 whitespace: space, tab, LF, CR", " \t\r\n[ \t\r\n1 \t\r\n, \t\r\n2 \t\r\n] \t\r\n", { 1, 2 } },
  -- 4. objects
  { "4 empty object", "{}", {} },
  { "4 members", '{"a":1,"b":"x","c":[],"d":{}}', { a = 1, b = "x", c = E, d = {} } },
  { "4 empty key", '{"":1}', { [""] = 1 } },
  { "4 duplicate names: last wins", '{"a":1,"a":2}', { a = 2 } },
  { "4 whitespace around : and ,", '{ "a" : 1 , "b" : 2 }', { a = 1, b = 2 } },
  -- 5. arrays
  { "5 empty array", "[]", E },
  { "5 mixed values", '[1,"a",null,[],{}]', { 1, "a", null, E, {} } },
  { "5 nested", "[[[[1]]]]", { { { { 1 } } } } },
  -- 6. numbers
  { "6 zero", "0", 0 },
  { "6 minus zero", "-0", 0 },
  { "6 negative int", "-12", -12 },
  { "6 fraction", "1.5", 1.5 },
  { "6 exponent e", "1e2", 100.0 },
  { "6 exponent E+", "1E+2", 100.0 },
  { "6 exponent e-", "1e-2", 0.01 },
  { "6 zero fraction exponent", "0.0e0", 0.0 },
  { "6 many digits", "123456789012345678", 123456789012345678 },
  -- 7. strings
  { "7 empty string", '""', "" },
  { "7 two-character escapes", '"\\"\\\\\\/\\b\\f\\n\\r\\t"', '"\\/\b\f\n\r\t' },
  { "7 \\u escapes, either case", '"\\u00e9\\u00E9"', "\195\169\195\169" },
  { "7 surrogate pair", '"\\uD834\\uDD1E"', "\240\157\132\158" },
  { "7 escaped NUL", '"\\u0000"', "\0" },
  { "7 DEL and high bytes unescaped", '"\127\195\169"', "\127\195\169" },
  { "7 U+2028 raw", '"\226\128\168"', "\226\128\168" },
}

local reject = {
  { "2 empty text", "", "empty input" },
  { "2 only whitespace", "  \n", "unexpected end of input" },
  { "2 two values", "1 2", "after the end of the value" },
  { "2 byte order mark (not accepted)", "\239\187\191[]", "unexpected byte 0xef" },
  { "2 unknown literal", "nil", "unexpected 'i'" },
  { "2 literal in capitals", "True", "unexpected 'T'" },
  { "2 truncated literal", "tru", "unexpected end of input" },
  { "2 literal with trailing letters", "truex", "unexpected 'x'" },
  { "2 comment", "[1] // c", "after the end of the value" },
  { "2 vertical tab is not whitespace", "\v[]", "unexpected byte 0x0b" },
  { "2 form feed is not whitespace", "[1,\f2]", "unexpected byte 0x0c" },
  { "4 unclosed object", '{"a":1', "unexpected end of input" },
  { "4 trailing comma", '{"a":1,}', "expected a string key" },
  { "4 missing colon", '{"a" 1}', "expected ':'" },
  { "4 missing value", '{"a":}', "unexpected '}'" },
  { "4 unquoted key", "{a:1}", "expected a string key" },
  { "4 single-quoted key", "{'a':1}", "expected a string key" },
  { "4 number as key", "{1:1}", "expected a string key" },
  { "4 missing comma", '{"a":1 "b":2}', "expected ',' or '}'" },
  { "4 closed by ]", '{"a":1]', "expected ',' or '}'" },
  { "5 unclosed array", "[1,2", "unexpected end of input" },
  { "5 trailing comma", "[1,]", "unexpected ']'" },
  { "5 leading comma", "[,1]", "unexpected ','" },
  { "5 double comma", "[1,,2]", "unexpected ','" },
  { "5 missing comma", "[1 2]", "expected ',' or ']'" },
  { "5 closed by }", "[1}", "expected ',' or ']'" },
  { "5 stray closer", "]", "unexpected ']'" },
  { "6 leading zero", "01", "invalid number '01'" },
  { "6 leading plus", "+1", "unexpected '+'" },
  { "6 bare minus", "-", "invalid number '-'" },
  { "6 minus space digit", "- 1", "invalid number '-'" },
  { "6 leading dot", ".5", "unexpected '.'" },
  { "6 trailing dot", "1.", "invalid number '1.'" },
  { "6 dot exponent", "1.e3", "invalid number '1.e3'" },
  { "6 empty exponent", "1e", "invalid number '1e'" },
  { "6 signed empty exponent", "1e+", "invalid number '1e+'" },
  { "6 hex", "0x10", "unexpected 'x'" },
  { "6 Infinity", "Infinity", "unexpected 'I'" },
  { "6 NaN", "NaN", "unexpected 'N'" },
  { "6 two signs", "--1", "invalid number '--1'" },
  { "7 unterminated string", '"abc', "unexpected end of input" },
  { "7 raw newline", '"a\nb"', "control character in string" },
  { "7 raw tab", '"a\tb"', "control character in string" },
  { "7 raw NUL", '"a\0b"', "control character in string" },
  { "7 unknown escape", '"\\a"', "invalid escape" },
  { "7 escaped single quote", "\"\\'\"", "invalid escape" },
  { "7 short \\u", '"\\u12"', "invalid \\u escape" },
  { "7 non-hex \\u", '"\\uZZZZ"', "invalid \\u escape" },
  { "7 lone high surrogate", '"\\ud800"', "unpaired surrogate" },
  { "7 high surrogate then text", '"\\ud800abc"', "unpaired surrogate" },
  { "7 high surrogate then non-low", '"\\ud800\\u0041"', "unpaired surrogate" },
  { "7 lone low surrogate", '"\\udc00"', "unpaired surrogate" },
  { "7 single quotes", "'a'", "unexpected '''" },
}

describe("RFC 8259 conformance #asan", function()
  describe("accepts", function()
    for _, case in ipairs(accept) do
      it(case[1], function()
        local v, err = chunks.decode(case[2])
        assert.is_nil(err)
        local ok, why = corpus.same(case[3], v)
        assert(ok, why)
        -- and the same, fed one byte at a time
        local d = chunks.decoder()
        for i = 1, #case[2] do assert.is_true(d:feed(case[2]:sub(i, i))) end
        assert(corpus.same(case[3], d:finish()))
      end)
    end
  end)
  describe("rejects", function()
    for _, case in ipairs(reject) do
      it(case[1], function()
        local v, err = chunks.decode(case[2])
        assert.is_nil(v)
        assert.is_truthy(err:find(case[3], 1, true), err)
        assert.matches("at byte %d+ %(line %d+, column %d+%)$", err)
        local d = chunks.decoder()
        local failed = false
        for i = 1, #case[2] do
          if not d:feed(case[2]:sub(i, i)) then failed = true break end
        end
        if not failed then assert.is_nil((d:finish())) end
      end)
    end
  end)
end)
