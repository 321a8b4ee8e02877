-- sentry.chunks.nvim inside headless Neovim (Debian's, LuaJIT): the editor's
-- loop keeps turning while a large answer arrives, and the callback gets
-- the same table as the blocking fetch.
local chunks = require "sentry.chunks"
local server = require "support.server"

local has_nvim = os.execute("command -v nvim >/dev/null 2>&1")
has_nvim = has_nvim == true or has_nvim == 0
local srv

local function run_nvim(env)
  local p = io.popen("mktemp /tmp/sentry-chunks-nvim.XXXXXX")
  local out = p:read("*l")
  p:close()
  local parts = { "env -u LD_PRELOAD", "SC_ROOT='" .. (os.getenv("PWD") or ".") .. "'", "SC_OUT='" .. out .. "'" }
  for k, v in pairs(env) do parts[#parts + 1] = k .. "='" .. tostring(v) .. "'" end
  parts[#parts + 1] = "timeout 120 nvim --headless -u NONE -c 'luafile spec/nvim/fetch_test.lua' >/dev/null 2>&1"
  os.execute(table.concat(parts, " "))
  local result = {}
  local f = io.open(out)
  if f then
    for line in f:lines() do
      local k, v = line:match("^([%w_]+)=(.*)$")
      if k then result[k] = v end
    end
    f:close()
  end
  os.remove(out)
  return result
end

-- Neovim runs its own LuaJIT whatever Lua runs busted: once is enough, in
-- the LuaJIT pass of `make test` (or whenever run by hand).
local runner = os.getenv("SENTRY_CHUNKS_TEST_LUA")
local this_pass = runner == nil or runner == "luajit"

describe("Neovim", function()
  if not has_nvim then
    print("\n*** nvim not found: the Neovim specs are SKIPPED (apt-get install neovim) ***\n")
    pending("nvim is not installed")
    return
  end
  if not this_pass then return end

  setup(function() srv = server.start() end)
  teardown(function() if srv then srv.stop() end end)

  it("keeps its loop turning during the 50-chunk fetch; same samples as the blocking fetch", function()
    local start, stop = server.T0, server.T0 + 3000 -- the 50-chunk cap: ~98 MB
    local r = run_nvim { SC_URL = srv.url, SC_TOKEN = srv.token, SC_PROFILER = server.PROFILER_IDS.realistic,
                         SC_START = start, SC_END = stop, SC_SPLIT = 0 } -- one request, not windows
    assert.is_nil(r.error)
    assert.equal("1", r.windows)
    assert.equal("false", r.truncated) -- 50 chunks, and the first sample at the start
    local blocking = assert(chunks.client { token = srv.token, org = "test-org", base_url = srv.url,
      low_speed_time = 120 }:fetch {
      project = 1, profiler_id = server.PROFILER_IDS.realistic, start = start, ["end"] = stop, split = false })
    assert.equal(#blocking.chunk.profile.samples, tonumber(r.samples))
    assert.is_true(tonumber(r.ticks_during) > 10, "timer ticks during the transfer: " .. tostring(r.ticks_during))
    print(string.format("\n    nvim: %s ms transfer, %s ticks of a 10 ms timer, longest gap %s ms",
      r.transfer_ms, r.ticks_during, r.longest_gap_ms))
    -- the example showed the top functions in a scratch buffer
    assert.equal(7, tonumber(r.buffer_lines))
    assert.matches("^%d+ samples, [%d.]+ s on the main thread %(sentry counting%)$", r.buffer_first)
    -- the annotation example marked the hottest line, and perfanno got traces
    assert.is_true(tonumber(r.annotated) >= 1)
    assert.equal(r.annotated, r.extmarks)
    assert.is_true(tonumber(r.traces) > 0)
  end)

  it("fetches a range longer than the 50-chunk cap in windows, on the editor's loop", function()
    local r = run_nvim { SC_URL = srv.url, SC_TOKEN = srv.token, SC_PROFILER = server.PROFILER_IDS.light,
                         SC_START = server.T0, SC_END = server.T0 + 4 * 3600 }
    assert.is_nil(r.error)
    assert.equal("6", r.windows)
    assert.equal("false", r.truncated)
    assert.equal(240 * 60 * 5, tonumber(r.samples)) -- all four hours, not the newest 50 minutes
  end)

  it("failed fetches: the callback always fires, and nothing is printed (no EBADF)", function()
    local out, err_file = os.tmpname(), os.tmpname()
    os.execute("env -u LD_PRELOAD SC_ROOT='" .. os.getenv("PWD") .. "' SC_OUT='" .. out .. "' SC_URL='" .. srv.url
      .. "' SC_TOKEN='" .. srv.token .. "' SC_PROFILER=" .. server.PROFILER_IDS.light
      .. " timeout 90 nvim --headless -u NONE -c 'luafile spec/nvim/hostile_test.lua' >/dev/null 2>'" .. err_file .. "'")
    local function slurp(path)
      local f = io.open(path)
      local text = f and f:read("*a") or ""
      if f then f:close() end
      os.remove(path)
      return text
    end
    local results, stderr = slurp(out), slurp(err_file)
    assert.equal("", stderr)
    assert.matches("refused=network|network error: [^\n]*%(after 2 retries%)\n", results)
    assert.matches("reset=network|network error", results)
    assert.matches("progress_error=aborted|fetch failed: [^\n]*boom in on_progress", results)
    assert.matches("bad_location=redirect|HTTP 302: refused to follow a redirect to 'http://h:1:2/'", results)
    assert.is_nil(results:find("gave_up", 1, true), results)
  end)

  it("says what is wrong when the C part is missing or built for another Lua", function()
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      local root, cpath = os.getenv("SC_ROOT"), os.getenv("SC_CPATH")
      package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
      package.cpath = cpath
      local ok, err = pcall(require, "sentry.chunks.nvim")
      local out = io.open(os.getenv("SC_OUT"), "w")
      out:write("error=", tostring(err):gsub("\n", " "), "\n")
      out:close()
      vim.cmd("qa!")
    ]])
    f:close()
    local function try(cpath)
      local out = os.tmpname()
      os.execute("env -u LD_PRELOAD SC_ROOT='" .. os.getenv("PWD") .. "' SC_CPATH='" .. cpath .. "' SC_OUT='" .. out
        .. "' timeout 30 nvim --headless -u NONE -c 'luafile " .. script .. "' >/dev/null 2>&1")
      local g = io.open(out)
      local text = g and g:read("*a") or ""
      if g then g:close() end
      os.remove(out)
      return text
    end
    local missing = try("/nonexistent/?.so")
    assert.truthy(missing:find("not on package.cpath", 1, true), missing)
    assert.truthy(missing:find("make build LUAS=jit", 1, true), missing)
    local wrong = try(os.getenv("PWD") .. "/build/5.4/?.so")
    assert.truthy(wrong:find("built for another Lua", 1, true), wrong)
    os.remove(script)
  end)
end)
