-- Many small documents (an error body, a projects answer): what one decode
-- costs when the document is tiny, against cjson in the same run.
--   lua bench/small_bench.lua [count]     (default 100000 per document)
local chunks = require "sentry.chunks"
local cjson = require "cjson"

local count = tonumber(arg and arg[1]) or 100000
local clock = os.clock

local docs = {
  { "error body", '{"detail":"Invalid token"}' },
  { "projects answer", '{"id":"1","slug":"backend","name":"Backend","platform":"python",' ..
    '"dateCreated":"2026-05-28T08:00:00.000000Z","isMember":true,"features":["profiling",' ..
    '"continuous-profiling"],"status":"active","organization":{"id":"1","slug":"test-org"}}' },
}

local function time(f, text)
  collectgarbage()
  collectgarbage()
  local t0 = clock()
  for _ = 1, count do f(text) end
  return clock() - t0
end

for _, d in ipairs(docs) do
  local name, text = d[1], d[2]
  assert(chunks.decode(text))
  local a = time(chunks.decode, text)
  local b = time(cjson.decode, text)
  print(string.format("%-16s %6d bytes x %d: chunks.decode %.3f s, cjson.decode %.3f s (%.1fx)",
    name, #text, count, a, b, a / b))
end
