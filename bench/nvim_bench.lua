-- The longest gap between ticks of a 10 ms timer in headless Neovim while
-- sentry.chunks.nvim fetches the 50-chunk answer (issue 5: target < 50 ms).
--   lua5.4 bench/nvim_bench.lua
local server = require "support.server"
if not (os.execute("command -v nvim >/dev/null 2>&1") == true or os.execute("command -v nvim >/dev/null 2>&1") == 0) then
  print("  nvim not installed: skipped")
  return
end
local srv = server.start()
local out = os.tmpname()
os.execute(string.format("env -u LD_PRELOAD SC_ROOT='%s' SC_OUT='%s' SC_URL='%s' SC_TOKEN='%s' SC_PROFILER='%s' SC_START=%d SC_END=%d SC_SPLIT=0 "
  .. "timeout 120 nvim --headless -u NONE -c 'luafile spec/nvim/fetch_test.lua' >/dev/null 2>&1",
  os.getenv("PWD"), out, srv.url, srv.token, server.PROFILER_IDS.realistic, server.T0, server.T0 + 3000))
srv.stop()
local r = {}
for line in io.lines(out) do
  local k, v = line:match("^([%w_]+)=(.*)$")
  if k then r[k] = v end
end
os.remove(out)
if r.error then print("  error: " .. r.error) return end
print(string.format("  %s samples; transfer %s ms; %s ticks of the 10 ms timer; longest gap %s ms (target < 50)",
  r.samples, r.transfer_ms, r.ticks_during, r.longest_gap_ms))
