-- examples/openresty (nginx.conf + top.lua) run as written, in Debian's nginx
-- with its Lua module, against the test server: top functions as JSON, the
-- same rows as aggregate.top, cached in its lua_shared_dict.
local chunks = require "sentry.chunks"
local server = require "support.server"
local nginx = require "support.nginx"
local cjson = require "cjson"

describe("examples/openresty", function()
  if not nginx.available() then
    pending("nginx with the Lua module is not installed")
    return
  end
  if not nginx.this_pass() then return end

  local srv, n
  setup(function()
    srv = server.start()
    local f = assert(io.open("examples/openresty/nginx.conf"))
    local conf = f:read("*a")
    f:close()
    -- only where it listens and writes changes; the rest is the file as shipped
    local function sub(from, to)
      local i, j = conf:find(from, 1, true)
      assert(i, from)
      conf = conf:sub(1, i - 1) .. to .. conf:sub(j + 1)
    end
    sub("listen 127.0.0.1:8080;", "listen 127.0.0.1:PORT;")
    sub("pid /tmp/sentry-chunks-openresty.pid;", "pid DIR/nginx.pid;")
    sub("daemon off;\nmaster_process off;\n", "") -- the spec's runner passes these with -g
    conf = conf:gsub("/tmp/sentry%-chunks%-openresty%-", "DIR/")
    n = nginx.start(conf, { prefix = nginx.ROOT .. "/examples/openresty",
      env = { SENTRY_AUTH_TOKEN = srv.token, SENTRY_ORG = "test-org", SENTRY_URL = srv.url } })
  end)
  teardown(function()
    if n then n.stop() end
    if srv then srv.stop() end
  end)

  local function get(path)
    local out = nginx.sh("env -u LD_PRELOAD curl -s -D - --max-time 120 " .. nginx.quote("http://127.0.0.1:" .. n.port .. path))
    local head, body = out:match("^(.-\r\n)\r\n(.*)$")
    return tonumber(head:match("^HTTP/%S+ (%d+)")), head, body
  end

  it("serves the top functions as JSON, as aggregate.top counts them, then from its cache", function()
    local q = "?project=backend&profiler_id=" .. server.PROFILER_IDS.service .. "&start=" .. server.T0
      .. "&end=" .. (server.T0 + 600) .. "&limit=5"
    local status, head, body = get("/top" .. q)
    assert.equal(200, status, body)
    assert.matches("X%-Cache: miss", head)
    local got = cjson.decode(body)
    local res = assert(chunks.client { token = srv.token, org = "test-org", base_url = srv.url }:fetch {
      project = 1, profiler_id = server.PROFILER_IDS.service, start = server.T0, ["end"] = server.T0 + 600 })
    local want = chunks.analysis.top(res, { limit = 5 })
    assert.equal(want.samples, got.samples)
    assert.equal(5, #got.functions)
    for i, f in ipairs(want.functions) do
      assert.equal(f.name, got.functions[i].name)
      assert.near(f.self, got.functions[i].self, 1e-9)
      assert.near(f.total, got.functions[i].total, 1e-9)
    end
    local status2, head2, body2 = get("/top" .. q)
    assert.equal(200, status2)
    assert.matches("X%-Cache: hit", head2)
    assert.equal(body, body2)
  end)

  it("logs no warning of its own while serving (lua-zlib's global is not written under nginx's guard)", function()
    local _, _, body = get("/top?project=1&profiler_id=" .. server.PROFILER_IDS.single)
    assert.truthy(body)
    local log = n.log()
    assert.is_nil(log:find("writing a global Lua variable", 1, true), log)
    assert.is_nil(log:find("[warn]", 1, true), log)
  end)

  it("a bad query is a 400 and an unknown project a 502, both as JSON", function()
    local status, _, body = get("/top?project=1&profiler_id=xyz")
    assert.equal(400, status)
    assert.equal("invalid_argument", cjson.decode(body).kind)
    status, _, body = get("/top?project=nosuch&profiler_id=" .. server.PROFILER_IDS.single)
    assert.equal(502, status)
    assert.equal("http", cjson.decode(body).kind)
    assert.is_nil(body:find(srv.token, 1, true))
  end)
end)
