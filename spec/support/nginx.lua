-- Starts Debian's nginx with its Lua module (LuaJIT) on a free port for a
-- spec, and stops it:
--
--   local nginx = require "support.nginx"
--   if not nginx.available() then pending(...) end
--   local n = nginx.start(conf_text, { prefix = dir, env = { NAME = "value" } })
--   -- conf_text: PORT, DIR (a temporary directory) and ROOT (the checkout)
--   -- are replaced; n.port, n.dir, n.get(path_and_query), n.log()
--   n.stop()
local M = {}

M.LUA_MODULE = "/usr/lib/nginx/modules/ngx_http_lua_module.so"

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return out
end
M.sh = sh

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end
M.quote = q

function M.available()
  local r = os.execute("command -v nginx >/dev/null 2>&1")
  return (r == true or r == 0) and io.open(M.LUA_MODULE) ~= nil
end

-- nginx runs LuaJIT whatever Lua runs busted: its specs run once, in the
-- LuaJIT pass (or when busted is run by hand).
function M.this_pass()
  local runner = os.getenv("SENTRY_CHUNKS_TEST_LUA")
  return runner == nil or runner == "luajit"
end

M.ROOT = os.getenv("PWD") or "."

function M.start(conf, opts)
  opts = opts or {}
  local dir = sh("mktemp -d /tmp/sentry-chunks-nginx.XXXXXX"):gsub("%s+$", "")
  local env = {}
  for k, v in pairs(opts.env or {}) do env[#env + 1] = k .. "=" .. q(v) end
  for attempt = 1, 5 do
    local port = 20000 + (os.time() * 7 + attempt * 911 + math.random(0, 997)) % 30000
    local text = conf:gsub("DIR", dir):gsub("ROOT", M.ROOT):gsub("PORT", tostring(port))
    local f = assert(io.open(dir .. "/nginx.conf", "w"))
    f:write(text)
    f:close()
    local pipe = io.popen("exec env -u LD_PRELOAD " .. table.concat(env, " ") .. " nginx -p "
      .. q(opts.prefix or dir) .. " -c " .. q(dir .. "/nginx.conf")
      .. " -g " .. q("daemon off; master_process off;" .. (text:find("\npid ") and "" or (" pid " .. dir .. "/nginx.pid;")))
      .. " 2>>" .. q(dir .. "/stderr.log"))
    for _ = 1, 50 do
      if sh("env -u LD_PRELOAD curl -s --max-time 5 -o /dev/null -w '%{http_code}' 'http://127.0.0.1:" .. port .. "/none'") == "404" then
        local n = { port = port, dir = dir }
        function n.get(path)
          return sh("env -u LD_PRELOAD curl -s --max-time 120 " .. q("http://127.0.0.1:" .. port .. path))
        end
        function n.log()
          return sh("cat " .. q(dir .. "/error.log") .. " " .. q(dir .. "/stderr.log") .. " 2>/dev/null")
        end
        function n.stop()
          os.execute("kill $(cat " .. q(dir .. "/nginx.pid") .. " 2>/dev/null) 2>/dev/null")
          pipe:close()
          os.execute("rm -rf " .. q(dir))
        end
        return n
      end
      os.execute("sleep 0.1")
    end
    os.execute("kill $(cat " .. q(dir .. "/nginx.pid") .. " 2>/dev/null) 2>/dev/null")
    pipe:close()
  end
  error("nginx did not start: " .. sh("cat " .. q(dir .. "/error.log") .. " " .. q(dir .. "/stderr.log")))
end

return M
