-- The install as users meet it: bin/sentry-chunks run straight from a
-- checkout finds its own modules and C part, and a C part built for another
-- Lua is named as such. (`luarocks make` itself runs in .ci/test.sh.)
local gen = require "gen"

local lua = os.getenv("SENTRY_CHUNKS_TEST_LUA") or "lua5.4"
local name = lua == "luajit" and "jit" or lua:match("lua(%d%.%d)")
local other = name == "5.4" and "5.3" or "5.4"

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function root()
  local source = debug.getinfo(1, "S").source:gsub("^@", "")
  local dir = source:match("^(.*)/spec/[^/]*$") or "."
  local p = io.popen("cd " .. q(dir) .. " && pwd")
  local abs = p:read("*l")
  p:close()
  return abs
end

-- stdout, stderr and exit status of a shell command
local function run(cmd)
  local err_file = os.tmpname()
  local p = io.popen(cmd .. " 2>" .. q(err_file) .. "; echo \"EXIT=$?\"")
  local out = p:read("*a")
  p:close()
  local code
  out, code = out:match("^(.-)EXIT=(%d+)\n$")
  local f = io.open(err_file)
  local err = f:read("*a")
  f:close()
  os.remove(err_file)
  return out, err, tonumber(code)
end

describe("the install", function()
  local repo, answer_file = root(), os.tmpname()
  setup(function()
    local f = io.open(answer_file, "wb")
    f:write(gen.encode(gen.answer { gen.chunk_table { index = 0, threads = 2, seed = 5 } }))
    f:close()
  end)
  teardown(function() os.remove(answer_file) end)

  it("bin/sentry-chunks runs from a checkout with no LUA_PATH, from its root or from elsewhere", function()
    local out, err, code = run("cd " .. q(repo) .. " && env -u LUA_PATH -u LUA_CPATH " .. lua
      .. " bin/sentry-chunks top " .. q(answer_file) .. " --limit 3")
    assert.equal(0, code, err)
    assert.matches("Sentry counting", out)
    out, err, code = run("cd /tmp && env -u LUA_PATH -u LUA_CPATH " .. lua .. " " .. q(repo .. "/bin/sentry-chunks")
      .. " top " .. q(answer_file) .. " --limit 3")
    assert.equal(0, code, err)
    assert.matches("Sentry counting", out)
  end)

  it("a C part built for another Lua is named, with how to fix it", function()
    local out, err, code = run("cd " .. q(repo) .. " && env LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='build/"
      .. other .. "/?.so;;' " .. lua .. " -e 'require \"sentry.chunks\"'")
    assert.is_not.equal(0, code)
    assert.matches("sentry.chunks.core was built for another Lua", err, 1, true)
    assert.matches("make build LUAS=" .. name, err, 1, true)
    assert.is_nil(err:find("lua_newuserdatauv'", 1, true)) -- no raw loader text first
    -- and the CLI (a copy outside the checkout, as installed) says the same in one line, exit 1
    local copy = os.tmpname()
    assert(os.execute("cp " .. q(repo .. "/bin/sentry-chunks") .. " " .. q(copy)))
    out, err, code = run("env LUA_PATH=" .. q(repo .. "/lua/?.lua;" .. repo .. "/lua/?/init.lua;;")
      .. " LUA_CPATH=" .. q(repo .. "/build/" .. other .. "/?.so;;") .. " " .. lua .. " " .. q(copy) .. " top x")
    os.remove(copy)
    assert.equal(1, code)
    assert.equal(1, select(2, err:gsub("\n", "")))
    assert.matches("built for another Lua", err, 1, true)
    assert.equal("", out)
  end)

  it("the rockspec installs every library module (the Neovim plugin's own come with the plugin)", function()
    local f = assert(io.open(repo .. "/sentry-chunks-scm-1.rockspec"))
    local spec = f:read("*a")
    f:close()
    local listed = {}
    for path in spec:gmatch('"(lua/[^"]+%.lua)"') do listed[path] = true end
    local p = io.popen("cd " .. q(repo) .. " && find lua/sentry/chunks -name '*.lua' | sort")
    local missing = {}
    for path in p:lines() do
      local plugin_only = path:match("^lua/sentry/chunks/nvim/") and path ~= "lua/sentry/chunks/nvim/analyze.lua"
      if not plugin_only and not listed[path] then missing[#missing + 1] = path end
    end
    p:close()
    assert.same({}, missing)
  end)
end)
