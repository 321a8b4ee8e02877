-- sentry.chunks.resty inside nginx with Debian's Lua module (LuaJIT): the
-- same results and error kinds as client:fetch, over cosockets, and one
-- slow upstream answer does not hold the other requests back.
local chunks = require "sentry.chunks"
local server = require "support.server"

local function has(cmd)
  local r = os.execute("command -v " .. cmd .. " >/dev/null 2>&1")
  return r == true or r == 0
end
local LUA_MODULE = "/usr/lib/nginx/modules/ngx_http_lua_module.so"
local available = has("nginx") and io.open(LUA_MODULE) ~= nil

-- nginx runs LuaJIT whatever Lua runs busted: once, in the LuaJIT pass.
local runner = os.getenv("SENTRY_CHUNKS_TEST_LUA")
local this_pass = runner == nil or runner == "luajit"

local root = os.getenv("PWD") or "."
local srv, dir, port, nginx_pipe

local CONF = [[
load_module /usr/lib/nginx/modules/ndk_http_module.so;
load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;
error_log DIR/error.log warn;
pid DIR/nginx.pid;
events { worker_connections 64; }
http {
  access_log off;
  lua_package_path "ROOT/lua/?.lua;ROOT/lua/?/init.lua;;";
  lua_package_cpath "ROOT/build/jit/?.so;;";
  server {
    listen 127.0.0.1:PORT;
    location /fetch {
      content_by_lua_block {
        local resty = require "sentry.chunks.resty"
        local a = ngx.req.get_uri_args()
        local ok, res, err, d = pcall(resty.fetch, { token = a.token, org = "test-org", base_url = a.base,
            retries = tonumber(a.retries) or 1, backoff = 0.05, timeout = tonumber(a.timeout) },
          { project = 1, profiler_id = a.profiler, start = tonumber(a.start), ["end"] = tonumber(a.stop) })
        if not ok then
          ngx.say("raise ", res)
        elseif res then
          ngx.say("ok ", #res.chunk.profile.samples, " ", d.status, d.headers["x-echo"] and (" " .. d.headers["x-echo"]) or "")
        else
          ngx.say("err ", d.kind, " ", tostring(d.status), " ", err)
        end
      }
    }
    location /range {
      content_by_lua_block {
        local resty = require "sentry.chunks.resty"
        local a = ngx.req.get_uri_args()
        local res, err, d = resty.fetch({ token = a.token, org = "test-org", base_url = a.base,
            retries = 1, backoff = 0.05 },
          { project = 1, profiler_id = a.profiler, start = tonumber(a.start) or a.start,
            ["end"] = tonumber(a.stop) or a.stop, split = a.split ~= "0" })
        if res then
          local seen, dup = {}, 0
          for _, s in ipairs(res.chunk.profile.samples) do
            if seen[s.timestamp] then dup = dup + 1 end
            seen[s.timestamp] = true
          end
          ngx.say("ok ", #res.chunk.profile.samples, " windows ", d.windows, " truncated ", tostring(d.truncated),
            " dup ", dup, " ", d.warning or "")
        else
          ngx.say("err ", d.kind, " ", err)
        end
      }
    }
  }
}
]]

local function sh(cmd)
  local p = io.popen(cmd)
  local out = p:read("*a")
  p:close()
  return out
end

local function get(query)
  return sh("env -u LD_PRELOAD curl -s --max-time 60 'http://127.0.0.1:" .. port .. "/fetch?" .. query .. "'")
end

local function query(opts)
  local parts = {}
  for k, v in pairs(opts) do parts[#parts + 1] = k .. "=" .. tostring(v) end
  return table.concat(parts, "&")
end

describe("OpenResty (nginx + Lua module)", function()
  if not available then
    print("\n*** nginx or libnginx-mod-http-lua not installed: the OpenResty specs are SKIPPED ***\n")
    pending("nginx with the Lua module is not installed")
    return
  end
  if not this_pass then return end

  setup(function()
    srv = server.start()
    dir = sh("mktemp -d /tmp/sentry-chunks-nginx.XXXXXX"):gsub("%s+$", "")
    for attempt = 1, 5 do
      port = 20000 + (os.time() * 7 + attempt * 911) % 30000
      local conf = CONF:gsub("DIR", dir):gsub("ROOT", root):gsub("PORT", tostring(port))
      local f = assert(io.open(dir .. "/nginx.conf", "w"))
      f:write(conf)
      f:close()
      nginx_pipe = io.popen("exec env -u LD_PRELOAD nginx -p '" .. dir .. "' -c '" .. dir
        .. "/nginx.conf' -g 'daemon off; master_process off;' 2>>'" .. dir .. "/stderr.log'")
      for _ = 1, 50 do
        if sh("env -u LD_PRELOAD curl -s --max-time 5 -o /dev/null -w '%{http_code}' 'http://127.0.0.1:" .. port .. "/none'") == "404" then
          return
        end
        os.execute("sleep 0.1")
      end
      os.execute("kill $(cat '" .. dir .. "/nginx.pid' 2>/dev/null) 2>/dev/null")
      nginx_pipe:close()
    end
    error("nginx did not start: " .. sh("cat '" .. dir .. "/error.log' '" .. dir .. "/stderr.log'"))
  end)

  teardown(function()
    os.execute("kill $(cat '" .. dir .. "/nginx.pid' 2>/dev/null) 2>/dev/null")
    if nginx_pipe then nginx_pipe:close() end
    os.execute("rm -rf '" .. dir .. "'")
    if srv then srv.stop() end
  end)

  local SINGLE = server.PROFILER_IDS.single

  it("fetches the same table as client:fetch", function()
    local out = get(query { token = srv.token, base = srv.url, profiler = SINGLE,
                            start = server.T0 + 600, stop = server.T0 + 660 })
    local blocking = assert(chunks.client { token = srv.token, org = "test-org", base_url = srv.url }:fetch {
      project = 1, profiler_id = SINGLE, start = server.T0 + 600, ["end"] = server.T0 + 660 })
    assert.equal("ok " .. #blocking.chunk.profile.samples .. " 200\n", out)
  end)

  it("reads chunked and slow bodies", function()
    local out = get(query { token = srv.token, base = srv.url .. "/_test/chunked,slow", profiler = SINGLE })
    assert.matches("^ok %d+ 200\n$", out)
  end)

  it("maps the server's answers to the same kinds", function()
    assert.matches("^err no_chunks 400 no profile chunks in this time range",
      get(query { token = srv.token, base = srv.url, profiler = SINGLE, start = server.T0 - 7200, stop = server.T0 - 3600 }))
    local bad = get(query { token = "wrong-token-value", base = srv.url, profiler = SINGLE })
    assert.matches("^err http 401 HTTP 401 Unauthorized: Invalid token", bad)
    assert.is_nil(bad:find("wrong-token-value", 1, true))
    assert.matches("^err invalid_json 200 ", get(query { token = srv.token, base = srv.url .. "/_test/badjson", profiler = SINGLE }))
    assert.matches("^err network ", get(query { token = srv.token, base = srv.url .. "/_test/cut", profiler = SINGLE }))
    assert.matches("^err content_type 200 ", get(query { token = srv.token, base = srv.url .. "/_test/html", profiler = SINGLE }))
    assert.matches("^err invalid_argument nil invalid profiler_id", get(query { token = srv.token, base = srv.url, profiler = "xyz" }))
  end)

  it("fetches a range over 40 minutes in windows, one after another, and merges them", function()
    local r = sh("env -u LD_PRELOAD curl -s --max-time 60 'http://127.0.0.1:" .. port .. "/range?" .. query { token = srv.token,
      base = srv.url, profiler = server.PROFILER_IDS.light, start = server.T0, stop = server.T0 + 4 * 3600 } .. "'")
    assert.equal("ok 72000 windows 6 truncated false dup 0 \n", r) -- four hours, every sample once
  end)

  it("flags an answer cut by the server's 50-chunk cap (split = false)", function()
    local r = sh("env -u LD_PRELOAD curl -s --max-time 60 'http://127.0.0.1:" .. port .. "/range?" .. query { token = srv.token,
      base = srv.url, profiler = server.PROFILER_IDS.light, start = server.T0, stop = server.T0 + 4 * 3600,
      split = 0 } .. "'")
    assert.matches("^ok 15000 windows 1 truncated true dup 0 the server merged its maximum of 50 chunks", r)
  end)

  it("checks a range before any request, as client:fetch does", function()
    local r = sh("env -u LD_PRELOAD curl -s --max-time 60 'http://127.0.0.1:" .. port .. "/range?" .. query { token = srv.token,
      base = srv.url, profiler = server.PROFILER_IDS.light, start = "2026-13-01T00:00:00Z",
      stop = "2026-13-02T00:00:00Z" } .. "'")
    assert.matches("^err invalid_argument invalid start: expected ISO%-8601", r)
    local bad = sh("env -u LD_PRELOAD curl -s --max-time 60 'http://127.0.0.1:" .. port .. "/range?" .. query { token = "wrong-token-value",
      base = srv.url, profiler = server.PROFILER_IDS.light, start = server.T0, stop = server.T0 + 7200 } .. "'")
    assert.equal("err http HTTP 401 Unauthorized: Invalid token\n", bad)
  end)

  -- a hostile server (issue 10, item 9): never a raise, one deadline
  local escape = require("sentry.chunks.client").escape
  local function raw(bytes, extra) return srv.url .. "/_test/raw=" .. escape(bytes) .. (extra or "") end
  local function esc_query(opts)
    local parts = {}
    for k, v in pairs(opts) do parts[#parts + 1] = k .. "=" .. escape(tostring(v)) end
    return table.concat(parts, "&")
  end

  it("a bad chunk size is a network error, not a raise", function()
    for _, size in ipairs { "zz", "", "-1", "1234567890abcdef1" } do
      local out = get(esc_query { token = srv.token, profiler = SINGLE, base = raw(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" .. size .. "\r\n{}\r\n0\r\n\r\n") })
      assert.matches("^err network 200 network error: bad chunked encoding", out)
    end
    local out = get(esc_query { token = srv.token, profiler = SINGLE, base = raw(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n") })
    assert.matches("^err network 200 network error: bad chunked encoding %(no CRLF", out)
    out = get(esc_query { token = srv.token, profiler = SINGLE, base = raw(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 0x10\r\n\r\n{}") })
    assert.matches("^err network 200 network error: bad Content%-Length", out)
  end)

  it("a server sending a byte at a time is cut off by the one deadline (timeout)", function()
    local out = get(esc_query { token = srv.token, profiler = SINGLE, timeout = 1, base = raw(
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n{\"chunk\": 1, \"padding\": \"xxxxxxxxxx\"}", ",trickle=150") })
    assert.matches("^err timeout ", out)
    assert.truthy(out:find("longer than timeout", 1, true), out)
  end)

  it("the deadline includes the retries: no retry is started past it", function()
    local out = get(esc_query { token = srv.token, profiler = SINGLE, timeout = 1, retries = 3,
      base = srv.url .. "/_test/429x9,tag=r" .. os.time() })
    assert.matches("^err rate_limited 429 ", out)
    assert.truthy(out:find("no time left for retry", 1, true), out)
  end)

  it("refuses a token with CR/LF before any request, without printing it", function()
    local bad = srv.token .. "\r\nX-Injected: 1"
    local out = get(esc_query { token = bad, profiler = SINGLE, base = srv.url })
    assert.matches("^raise bad argument #1 to 'fetch' %(option 'token': the token contains a control character", out)
    assert.is_nil(out:find(srv.token, 1, true))
  end)

  it("a 200 of the wrong shape is unexpected_shape; an echoed token is redacted", function()
    local out = get(esc_query { token = srv.token, profiler = SINGLE, base = srv.url .. "/_test/body=" .. escape('{"chunk": null}') })
    assert.matches("^err unexpected_shape 200 unexpected answer: the answer has no 'chunk' object", out)
    out = get(esc_query { token = srv.token, profiler = SINGLE, base = srv.url .. "/_test/echo" })
    assert.matches("^ok %d+ 200 Bearer %[redacted%]\n$", out)
  end)

  it("a bad option is an argument error", function()
    local out = get(esc_query { token = srv.token, profiler = SINGLE, base = srv.url, timeout = -1 })
    assert.matches("^raise bad argument #1 to 'fetch' %(option 'timeout'", out)
  end)

  it("serves several requests at once: a slow upstream holds nobody back", function()
    local slow = "http://127.0.0.1:" .. port .. "/fetch?" .. query { token = srv.token,
      base = srv.url .. "/_test/latency=2000", profiler = SINGLE }
    local fast = "http://127.0.0.1:" .. port .. "/fetch?" .. query { token = srv.token, base = srv.url, profiler = SINGLE }
    local log = dir .. "/order.log"
    os.execute(table.concat({
      "(curl -s --max-time 30 '" .. slow .. "' >/dev/null; echo slow >> '" .. log .. "') &",
      "sleep 0.2;",
      "(curl -s --max-time 30 '" .. fast .. "' >/dev/null; echo fast >> '" .. log .. "') &",
      "(curl -s --max-time 30 '" .. fast .. "' >/dev/null; echo fast >> '" .. log .. "') &",
      "wait",
    }, " "))
    assert.equal("fast\nfast\nslow\n", sh("cat '" .. log .. "'"))
  end)
end)
