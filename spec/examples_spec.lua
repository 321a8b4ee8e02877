-- The examples run, on a generated answer, with the interpreter under test
-- (so they never rot).
local gen = require "gen"

local lua = os.getenv("SENTRY_CHUNKS_TEST_LUA") or "lua5.4"
local dir, answer_path

local function run(script, ...)
  local args = { lua, script }
  for _, a in ipairs { ... } do args[#args + 1] = "'" .. a .. "'" end
  -- the exit status on the last line: io.popen's close does not return it
  -- on Lua 5.1 and LuaJIT
  local p = assert(io.popen(table.concat(args, " ") .. " 2>&1; echo \"EXIT=$?\""))
  local all = p:read("*a")
  p:close()
  local out, code = all:match("^(.-)EXIT=(%d+)\n$")
  return out, tonumber(code)
end

setup(function()
  local p = io.popen("mktemp -d /tmp/sentry-chunks-examples.XXXXXX")
  dir = p:read("*l")
  p:close()
  answer_path = dir .. "/answer.json"
  local f = assert(io.open(answer_path, "wb"))
  f:write(gen.encode(gen.answer({ gen.chunk_table { index = 0, threads = 2, duration = 4 } })))
  f:close()
end)

teardown(function() os.execute("rm -rf '" .. dir .. "'") end)

describe("examples", function()
  it("top.lua prints the top functions of a thread", function()
    local out = run("examples/top.lua", answer_path, "main")
    assert.matches("^%d+ samples, [%d.]+ s, sentry counting\n", out)
    assert.matches("self ms", out)
    local rows = select(2, out:gsub("\n%s+[%d.]+%s+[%d.]+%%", ""))
    assert.equal(10, rows)
  end)

  it("flamegraph.lua writes a folded file with integer counts", function()
    local out = run("examples/flamegraph.lua", answer_path, dir .. "/out.folded", "microseconds")
    assert.matches("wrote %d+ stacks", out)
    local f = assert(io.open(dir .. "/out.folded"))
    local first = f:read("*l")
    f:close()
    assert.matches("^[^;]+;.+ %d+$", first)
  end)

  it("compare.lua compares the two halves of a profile", function()
    local out = run("examples/compare.lua", answer_path)
    assert.matches("^a: [%d.]+ s in %d+ samples; b: [%d.]+ s in %d+ samples %(sentry counting%)", out)
    assert.matches("change", out)
  end)

  it("say how to use them, and fail on a bad file", function()
    local out, code = run("examples/top.lua")
    assert.matches("usage:", out)
    assert.equal(2, code)
    local f = assert(io.open(dir .. "/bad.json", "wb"))
    f:write('{"chunk": ')
    f:close()
    out, code = run("examples/top.lua", dir .. "/bad.json")
    assert.matches("unexpected end of input", out)
    assert.equal(1, code)
  end)
end)
