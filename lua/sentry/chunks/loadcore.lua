-- sentry.chunks.loadcore: loads the C part (sentry.chunks.core), or raises
-- one message that says what is wrong and how to fix it, instead of a raw
-- loader error. The usual failures: not built, or built for another Lua
-- (a core built for 5.4 loaded into 5.1 or LuaJIT fails with
-- "undefined symbol: lua_newuserdatauv"; one built for LuaJIT into 5.4 with
-- another missing symbol).
local M = {}

-- The `make build` name of the running Lua.
function M.lua_name()
  if type(jit) == "table" then return "jit" end
  return (_VERSION:match("%d+%.%d+")) or _VERSION
end

function M.load(who)
  who = who or "sentry.chunks"
  local ok, core = pcall(require, "sentry.chunks.core")
  if ok then return core end
  local msg = tostring(core)
  local name = M.lua_name()
  local running = name == "jit" and "LuaJIT (Lua 5.1's API)" or ("Lua " .. name)
  if msg:find("module 'sentry.chunks.core' not found", 1, true) then
    error(who .. ": the C part (sentry.chunks.core) is not on package.cpath. Build it with "
      .. "`make build LUAS=" .. name .. "` in the sentry-chunks checkout (or `luarocks make`), "
      .. "then add its build/" .. name .. "/?.so to package.cpath."
      .. (vim and " (As a Neovim plugin: `make nvim` in the plugin's directory puts it where require finds it.)" or ""), 0)
  end
  if msg:find("undefined symbol", 1, true) or msg:find("version mismatch", 1, true) then
    error(who .. ": sentry.chunks.core was built for another Lua; this is " .. running
      .. ". Rebuild it with `make build LUAS=" .. name .. "` and put build/" .. name
      .. "/?.so on package.cpath. (" .. (msg:match("undefined symbol: [%w_]+") or msg:gsub("\n.*", "")) .. ")", 0)
  end
  error(who .. ": cannot load sentry.chunks.core: " .. msg, 0)
end

return M
