-- Request handlers for spec/resty_client_spec.lua, run inside nginx:
-- /run?case=NAME&... calls CASES[NAME](args) and says what it got.
local sc = require "sentry.chunks.resty"
local analysis = require "sentry.chunks.analysis"

local CASES = {}

local function client(a, extra)
  local opts = { token = a.token or os.getenv("SENTRY_AUTH_TOKEN"), org = "test-org", base_url = a.base, retries = tonumber(a.retries) or 1,
    backoff = 0.05, max_bytes = tonumber(a.max) }
  if a.ka == "0" then opts.keepalive = false end
  for k, v in pairs(extra or {}) do opts[k] = v end
  return sc.new(opts)
end

local function say_result(res, err, d)
  if res then
    ngx.say("ok ", #res.chunk.profile.samples, " ", d.status)
  else
    ngx.say("err ", d.kind, " ", tostring(d.status), " ", err)
  end
end

-- two fetches on one client: the second reuses the pooled connection
function CASES.twice(a)
  local c = client(a)
  local q = { project = 1, profiler_id = a.profiler, start = tonumber(a.start), ["end"] = tonumber(a.stop) }
  local r1, e1, d1 = c:fetch(q)
  local r2, e2, d2 = c:fetch(q)
  if not (r1 and r2) then return ngx.say("err ", tostring(e1), " ", tostring(e2)) end
  ngx.say("ok ", #r1.chunk.profile.samples, " ", #r2.chunk.profile.samples, " reused ", d1.reused, " ", d2.reused)
end

-- project: an id or a slug ("backend"), resolved by the client
local function project_of(a) return tonumber(a.project) or a.project or 1 end

function CASES.fetch(a)
  local c = client(a)
  say_result(c:fetch { project = project_of(a), profiler_id = a.profiler, start = tonumber(a.start),
    ["end"] = tonumber(a.stop) })
end

function CASES.range(a)
  local c = client(a)
  local q = { project = project_of(a), profiler_id = a.profiler, start = tonumber(a.start), ["end"] = tonumber(a.stop),
    window = tonumber(a.window), concurrency = tonumber(a.concurrency) }
  if a.each == "1" then
    local order, total = {}, 0
    q.each = function(answer, w)
      order[#order + 1] = w.index .. "/" .. w.count
      total = total + #answer.chunk.profile.samples
    end
    local ok, err, d = c:fetch_range(q)
    if not ok then return ngx.say("err ", d.kind, " ", err) end
    return ngx.say("each ", table.concat(order, ","), " samples ", total, " windows ", d.windows)
  end
  local ok, res, err, d = pcall(c.fetch_range, c, q)
  if not ok then return ngx.say("raise ", res) end
  if not res then return ngx.say("err ", d.kind, " ", err) end
  local seen, dup = {}, 0
  for _, s in ipairs(res.chunk.profile.samples) do
    if seen[s.timestamp .. ":" .. tostring(s.thread_id)] then dup = dup + 1 end
    seen[s.timestamp .. ":" .. tostring(s.thread_id)] = true
  end
  ngx.say("ok ", #res.chunk.profile.samples, " windows ", d.windows, " dup ", dup)
end

-- layout = "columns": fetch and fetch_range give the rows answers in
-- columns (compared through chunks.columns and the analysis)
function CASES.columns(a)
  local chunks = require "sentry.chunks"
  local c = client(a)
  local q = { project = 1, profiler_id = a.profiler, start = tonumber(a.start), ["end"] = tonumber(a.stop) }
  local rows = assert(c:fetch(q))
  q.layout = "columns"
  local cols = assert(c:fetch(q))
  local conv = assert(chunks.columns(rows))
  local function same(x, y)
    if type(x) ~= "table" or type(y) ~= "table" then return x == y end
    for k, v in pairs(x) do if not same(v, y[k]) then return false end end
    for k in pairs(y) do if x[k] == nil then return false end end
    return true
  end
  q.window, q.concurrency = 60, 2
  local rrows = assert(c:fetch_range { project = 1, profiler_id = a.profiler, start = q.start, ["end"] = q["end"], window = 60 })
  local rcols = assert(c:fetch_range(q))
  ngx.say("cols ", cols.chunk.profile.samples.n, " ", same(conv, cols) and "same" or "different",
    " top ", same(analysis.top(rows), analysis.top(cols)) and "same" or "different",
    " range ", rcols.chunk.profile.samples.n, " ", same(assert(chunks.columns(rrows)), rcols) and "same" or "different")
end

function CASES.url(a)
  local c = client(a)
  local res, err, d = c:fetch_url(a.url)
  say_result(res, err, d)
end

function CASES.profilers(a)
  local c = client(a)
  local list, err, d = c:profilers { project = a.project or 1, stats_period = "24h" }
  if not list then return ngx.say("err ", d.kind, " ", err) end
  local ids = {}
  for i, p in ipairs(list) do ids[i] = p.profiler_id .. ":" .. #p.threads .. ":" .. p.spans end
  ngx.say("ok ", table.concat(ids, " "), " pages ", d.pages)
end

-- sc.top gives aggregate.top's rows, and lets another light thread run
-- while it works (ticks counted by a thread that sleeps 1 ms in a loop).
function CASES.top(a)
  local c = client(a)
  local res, err = c:fetch { project = 1, profiler_id = a.profiler, start = tonumber(a.start), ["end"] = tonumber(a.stop) }
  if not res then return ngx.say("err ", err) end
  local plain = analysis.top(res, { limit = 10 })
  local ticks, done = 0, false
  -- a 1 ms timer: it fires only when nginx goes back to its event loop
  -- (a ngx.sleep(0) loop here would spin inside nginx's timer pass and
  -- starve the analysis' own 1 ms sleeps)
  local th = ngx.thread.spawn(function()
    while not done do
      ticks = ticks + 1
      ngx.sleep(0.001)
    end
  end)
  local before = ticks
  local sliced = a.how == "client" and c:top(res, { limit = 10 }) or sc.top(res, { limit = 10 })
  local during = ticks - before
  done = true
  ngx.thread.wait(th)
  local same = #plain.functions == #sliced.functions and #plain.functions > 0
  for i, row in ipairs(plain.functions) do
    local o = sliced.functions[i]
    if not (o and o.key == row.key and o.self == row.self and o.total == row.total) then same = false end
  end
  ngx.say("top ", same and "same" or "different", " ticks ", during > 0 and "some" or "none", " samples ",
    #res.chunk.profile.samples)
end

function CASES.args(a)
  a.token = os.getenv("SENTRY_AUTH_TOKEN")
  local ok, err = pcall(sc.new, { token = a.token, keepalive = { pool = 1 } })
  ngx.say(ok and "no raise" or err)
  ok, err = pcall(sc.new, { token = a.token, timeout = -1 })
  ngx.say(ok and "no raise" or err)
  ok, err = pcall(sc.new, 5)
  ngx.say(ok and "no raise" or err)
  local c = sc.new { token = a.token, org = "test-org" }
  ngx.say(tostring(c):find(a.token, 1, true) and "token shown" or tostring(c))
  ok, err = pcall(c.fetch, c, nil)
  ngx.say(ok and "no raise" or err)
  ok, err = pcall(c.fetch_range, c, { window = 0 })
  ngx.say(ok and "no raise" or err)
end

return function()
  local a = ngx.req.get_uri_args()
  local case = CASES[a.case]
  if not case then return ngx.exit(404) end
  case(a)
end
