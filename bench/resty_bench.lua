-- OpenResty: how long another request on the same nginx worker waits while
-- sentry.chunks.resty fetches the 50-chunk realistic profile (one request,
-- split = false) and analyses it: analysis.top without slicing, with
-- slice = ngx.sleep(0), and sc.top (sc.slicer: 1 ms sleep per 10 ms of work). A prober asks /ping
-- in a loop meanwhile; its longest answer time is the pause it saw.
--   lua5.4 bench/resty_bench.lua
local server = require "support.server"
local nginx = require "support.nginx"
if not nginx.available() then
  print("  nginx with the Lua module not installed: skipped")
  return
end

local CONF = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
error_log DIR/error.log warn;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path DIR/body; proxy_temp_path DIR/proxy; fastcgi_temp_path DIR/fastcgi;
  uwsgi_temp_path DIR/uwsgi; scgi_temp_path DIR/scgi;
  lua_package_path "ROOT/lua/?.lua;ROOT/lua/?/init.lua;;";
  lua_package_cpath "ROOT/build/jit/?.so;;";
  server {
    listen 127.0.0.1:PORT;
    location /ping { content_by_lua_block { ngx.say("pong") } }
    location /work {
      content_by_lua_block {
        local sc = require "sentry.chunks.resty"
        local a = ngx.req.get_uri_args()
        local c = sc.new { token = a.token, org = "test-org", base_url = a.base, timeout = 300 }
        -- a light thread on the same worker: the longest gap between its
        -- 1 ms sleeps, per phase (the worker's own view of its pauses)
        local phase, gaps, running = "fetch", { fetch = 0, analysis = 0 }, true
        local ticker = ngx.thread.spawn(function()
          ngx.update_time()
          local last = ngx.now()
          while running do
            ngx.sleep(0.001)
            ngx.update_time()
            local now = ngx.now()
            if now - last > gaps[phase] then gaps[phase] = now - last end
            last = now
          end
        end)
        ngx.update_time()
        local t0 = ngx.now()
        local res, err = c:fetch { project = 1, profiler_id = a.profiler, start = tonumber(a.start),
          ["end"] = tonumber(a.stop), split = false }
        if not res then
          running = false
          return ngx.say("error ", err)
        end
        ngx.update_time()
        local t1 = ngx.now()
        ngx.sleep(0.002)
        phase = "analysis"
        ngx.update_time()
        t1 = ngx.now()
        local analysis = require "sentry.chunks.analysis"
        local top
        if a.slice == "1" then top = sc.top(res, { limit = 20 })
        elseif a.slice == "sleep0" then top = analysis.top(res, { limit = 20, slice = function() ngx.sleep(0) end })
        else top = analysis.top(res, { limit = 20 }) end
        ngx.update_time()
        local t2 = ngx.now()
        running = false
        ngx.thread.wait(ticker)
        ngx.say(string.format("samples=%d fetch_ms=%.0f analysis_ms=%.0f rows=%d worker_gap_ms fetch=%.0f analysis=%.0f",
          #res.chunk.profile.samples, (t1 - t0) * 1000, (t2 - t1) * 1000, #top.functions,
          gaps.fetch * 1000, gaps.analysis * 1000))
        res, top = nil, nil
        collectgarbage()
      }
    }
  }
}
]]

local srv = server.start()
local n = nginx.start(CONF)
local q = nginx.quote

local function run(slice)
  local dir = n.dir
  local stop, probe = dir .. "/stop", dir .. "/probe.txt"
  os.remove(stop)
  -- the prober: /ping over and over until the work is done
  os.execute("( while [ ! -e " .. q(stop) .. " ]; do curl -s -o /dev/null -w '%{time_total}\\n' "
    .. q("http://127.0.0.1:" .. n.port .. "/ping") .. "; done > " .. q(probe) .. " ) &")
  os.execute("sleep 0.3")
  local out = n.get("/work?slice=" .. slice .. "&token=" .. srv.token .. "&base=" .. srv.url .. "&profiler="
    .. server.PROFILER_IDS.realistic .. "&start=" .. server.T0 .. "&stop=" .. (server.T0 + 3000))
  os.execute("touch " .. q(stop) .. "; sleep 0.3")
  local times = {}
  for line in io.lines(probe) do times[#times + 1] = tonumber(line) * 1000 end
  table.sort(times)
  return out:gsub("%s+$", ""), times[#times] or 0, times[math.max(1, math.floor(#times / 2))] or 0, #times
end

local NAMES = { ["0"] = "analysis.top, no slice       ", sleep0 = "analysis.top, ngx.sleep(0)   ",
  ["1"] = "sc.top (sc.slicer: 1 ms/10 ms)" }
for _, slice in ipairs { "0", "sleep0", "1" } do
  local out, longest, median, count = run(slice)
  print(string.format("  %s: %s; /ping answered %d times, median %.1f ms, longest %.0f ms",
    NAMES[slice], out, count, median, longest))
end
n.stop()
srv.stop()
