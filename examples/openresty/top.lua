-- GET /top?project=&profiler_id=&stats_period=1h (or start=&end=)[&limit=]:
-- the profile's top functions as JSON, cached in lua_shared_dict sentry_top.
-- The fetch runs on cosockets and the analysis yields to nginx every
-- 16,384 samples (sc.top), so the worker keeps serving other requests.
local sc = require "sentry.chunks.resty"
local cjson = require "cjson.safe"

local TTL = 60
local cache = ngx.shared.sentry_top

-- one client per worker: its connections go back to the cosocket pool
local client = package.loaded["examples.openresty.client"]
if not client then
  client = sc.new {
    token = os.getenv("SENTRY_AUTH_TOKEN"), org = os.getenv("SENTRY_ORG"),
    base_url = os.getenv("SENTRY_URL"), timeout = 60,
    keepalive = { timeout = 60, pool_size = 16 },
  }
  package.loaded["examples.openresty.client"] = client
end

local function answer(status, body)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  ngx.say(body)
  return ngx.exit(status)
end

local a = ngx.req.get_uri_args()
local function one(v) return type(v) == "table" and v[1] or v end
local q = { project = one(a.project), profiler_id = one(a.profiler_id), stats_period = one(a.stats_period),
  start = tonumber(one(a.start)) or one(a.start), ["end"] = tonumber(one(a["end"])) or one(a["end"]) }
if q.project and q.project:match("^%d+$") then q.project = tonumber(q.project) end
if not (q.start or q.stats_period) then q.stats_period = "1h" end
local limit = math.min(tonumber(one(a.limit)) or 20, 200)

local key = table.concat({ tostring(q.project), tostring(q.profiler_id), tostring(q.stats_period),
  tostring(q.start), tostring(q["end"]), limit }, "|")
local cached = cache:get(key)
if cached then
  ngx.header["X-Cache"] = "hit"
  return answer(200, cached)
end

local res, err, d = client:fetch(q) -- a project slug is resolved once per client
if not res then
  local status = d.kind == "invalid_argument" and 400 or d.kind == "no_chunks" and 404 or 502
  return answer(status, cjson.encode { error = err, kind = d.kind })
end
local top = sc.top(res, { limit = limit })
res = nil -- luacheck: ignore (the decoded profile can go)
local rows = {}
for i, f in ipairs(top.functions) do
  rows[i] = { name = f.name, package = f.package, self = f.self, total = f.total,
    self_pct = f.self_pct, total_pct = f.total_pct, samples = f.total_samples }
end
local body = cjson.encode { mode = top.mode, samples = top.samples, time = top.time,
  windows = d.windows, truncated = d.truncated or false, functions = rows }
cache:set(key, body, TTL)
ngx.header["X-Cache"] = "miss"
return answer(200, body)
