-- Realistic Sentry continuous-profiling chunks, deterministic on every Lua.
--
-- As a module (require "gen" with bench/?.lua on LUA_PATH):
--   gen.chunk_table(params)        one chunk as Lua tables (the stored shape)
--   gen.merge(chunks, start, end_) the merged chunk, as the server merges
--   gen.answer(chunks, start, end_) {chunk = merged, debug_chunk_ids = {...}}
--   gen.encode(answer)             JSON text of an answer (or of any value)
--   gen.null                       the JSON null (cjson.null when available)
--   gen.array(t)                   marks t as a JSON array (so {} is [])
--   gen.T0                         default epoch of chunk 0 (2026-05-28T08:00Z)
-- As a command:
--   lua bench/gen.lua --chunks 50 [--threads 4] [--seed N] [--hz 101]
--                     [--profiler HEX32] [--start EPOCH] > out.json
--   writes the merged answer of N consecutive chunks starting at --start.
--
-- Why everything here is hand-rolled:
-- * the PRNG is Park-Miller (x * 48271 mod 2^31-1); every product stays below
--   2^53, so doubles (5.1, LuaJIT) and integers (5.3, 5.4) give the same
--   sequence and every Lua writes byte-identical JSON;
-- * numbers are formatted with %d / %.6f, never tostring(), because 5.3+
--   prints integral floats as "3.0" and cjson keeps only 14 digits, which
--   loses the microseconds of a Unix timestamp.
-- Portability: no `//`, no bit operators, no goto (one source for all Luas).

local floor, format, concat = math.floor, string.format, table.concat
local byte, sort = string.byte, table.sort

local gen = {}

gen.T0 = 1779955200
gen.DEFAULT_PROFILER = "6a1f0c3e9b8d4f2a8e7c5b3d1f0e9a87"

local has_cjson, cjson = pcall(require, "cjson")
gen.null = has_cjson and cjson.null or setmetatable({}, { __tostring = function() return "null" end })

local array_mt = { __name = "json array" }
gen.array_mt = array_mt
function gen.array(t)
  return setmetatable(t or {}, array_mt)
end

-- PRNG ---------------------------------------------------------------------

local MODULUS = 2147483647

local function new_rng(seed)
  local state = floor(seed) % (MODULUS - 1) + 1
  local rng = {}
  -- Next raw value in [1, MODULUS - 1].
  function rng.next()
    state = (state * 48271) % MODULUS
    return state
  end
  -- Integer in [0, n - 1]; n is small next to 2^31 so the bias is negligible.
  function rng.int(n)
    state = (state * 48271) % MODULUS
    return state % n
  end
  -- Float in (0, 1).
  function rng.float()
    state = (state * 48271) % MODULUS
    return state / MODULUS
  end
  return rng
end

local function hash_string(s)
  local h = 5381
  for i = 1, #s do h = (h * 33 + byte(s, i)) % MODULUS end
  return h
end

local function hex32(rng)
  return format("%08x%08x%08x%08x", rng.next(), rng.next(), rng.next(), rng.next())
end

-- The profiled program (same for every chunk of one profiler) ----------------

local APP_MODULES = {
  "app.main", "app.worker", "app.api.views", "app.api.serializers", "app.models",
  "app.services.billing", "app.services.search", "app.tasks", "app.utils.cache",
  "app.utils.retry", "app.db.queries", "app.reports.export",
}
local LIB_MODULES = {
  "django.core.handlers.base", "django.db.models.query", "django.db.backends.utils",
  "django.template.base", "requests.sessions", "requests.adapters",
  "urllib3.connectionpool", "urllib3.response", "json.decoder", "json.encoder",
  "threading", "queue", "socket", "ssl", "selectors", "concurrent.futures.thread",
  "psycopg2.extras", "redis.client", "celery.app.trace", "sentry_sdk.hub",
  "logging", "re", "copy", "collections", "asyncio.base_events", "asyncio.events",
}
local VERBS = { "get", "load", "fetch", "handle", "process", "render", "compute",
  "parse", "build", "send", "recv", "wait", "acquire", "run", "execute", "dispatch",
  "validate", "serialize", "encode", "decode", "read", "write", "flush", "call" }
local NOUNS = { "request", "response", "rows", "cursor", "item", "batch", "chunk",
  "context", "payload", "result", "message", "headers", "body", "record", "page",
  "query", "token", "events", "queryset", "template", "connection", "future" }
local THREAD_NAMES = { "MainThread", "ThreadPoolExecutor-0_0", "ThreadPoolExecutor-0_1",
  "Thread-3 (process_queue)", "uvicorn-worker", "celery-beat", "asyncio_0", "Dummy-7" }

local function module_path(mod)
  return (mod:gsub("%.", "/")) .. ".py"
end

-- Frame pool plus per-thread base frames (the outermost, never-popped calls).
local function build_world(seed, profiler_id, n_threads, n_frames)
  local rng = new_rng(seed * 7919 + hash_string(profiler_id))
  local frames = gen.array({})
  for i = 1, n_frames do
    local app = rng.float() < 0.45
    local mod = app and APP_MODULES[1 + rng.int(#APP_MODULES)] or LIB_MODULES[1 + rng.int(#LIB_MODULES)]
    local fname = VERBS[1 + rng.int(#VERBS)] .. "_" .. NOUNS[1 + rng.int(#NOUNS)]
    if rng.float() < 0.1 then fname = "_" .. fname end
    local frame = {
      ["function"] = fname,
      module = mod,
      filename = module_path(mod),
      abs_path = app and ("/srv/app/" .. module_path(mod))
        or ("/usr/local/lib/python3.11/site-packages/" .. module_path(mod)),
      lineno = 1 + rng.int(900),
      in_app = app,
    }
    -- A few frames come from SDKs that cannot tell: in_app is null.
    if rng.float() < 0.03 then frame.in_app = gen.null end
    -- Native frames (C extensions) carry an address instead of a line.
    if not app and rng.float() < 0.08 then
      frame.instruction_addr = format("0x7f%02x%08x", rng.int(256), rng.next())
      frame.lineno = nil
      frame.abs_path = nil
      frame.filename = nil
    end
    frames[i] = frame
  end
  local threads = {}
  for t = 1, n_threads do
    local id
    if t == 1 then
      id = "1"
    else
      id = format("%d", 140234000000000 + rng.int(999999) * 100 + t)
    end
    -- Each thread starts in 3 to 6 fixed frames (bootstrap, run loop, ...).
    local base = {}
    for b = 1, 3 + rng.int(4) do base[b] = rng.int(n_frames) end
    threads[t] = { id = id, name = THREAD_NAMES[1 + (t - 1) % #THREAD_NAMES], base = base,
      -- Worker threads mostly wait; the main thread moves more.
      stay = t == 1 and 0.55 or 0.8 }
  end
  return { frames = frames, threads = threads, n_frames = n_frames }
end

local world_cache = {}
local function world_for(seed, profiler_id, n_threads, n_frames)
  local key = format("%d|%s|%d|%d", seed, profiler_id, n_threads, n_frames)
  local w = world_cache[key]
  if not w then
    w = build_world(seed, profiler_id, n_threads, n_frames)
    world_cache[key] = w
  end
  return w
end

-- Stack depths: mostly 10-60, some deeper, a few up to the SDK's 128 cap.
local function draw_depth(rng)
  local r = rng.float()
  if r < 0.8 then return 10 + rng.int(51) end
  if r < 0.96 then return 61 + rng.int(40) end
  return 101 + rng.int(28)
end

local MAX_DEPTH = 128

-- One chunk ---------------------------------------------------------------
-- params: profiler_id, index (chunk number; start = t0 + index * duration) or
-- start (epoch), seed, threads (4), hz (101), duration (60), frames (300),
-- project_id (1), organization_id (1), environment, release.
function gen.chunk_table(params)
  params = params or {}
  local profiler_id = params.profiler_id or gen.DEFAULT_PROFILER
  local seed = floor(params.seed or 1)
  local n_threads = floor(params.threads or 4)
  local hz = params.hz or 101
  local duration = params.duration or 60
  local n_frames = floor(params.frames or 300)
  local index = floor(params.index or 0)
  local t0 = params.t0 or gen.T0
  local start = params.start or (t0 + index * duration)
  local world = world_for(seed, profiler_id, n_threads, n_frames)
  local rng = new_rng(seed * 104729 + hash_string(profiler_id) + floor(start) * 31)

  -- Stacks are nodes of a call tree; a node's stack is its path to the root,
  -- which walked upward is already leaf first. Ids are given on first use.
  local stacks = gen.array({})
  local n_stacks = 0
  local function stack_id_of(node)
    local sid = node.sid
    if sid then return sid end
    local s, n = {}, 0
    local cur = node
    while cur do
      n = n + 1
      s[n] = cur.frame
      cur = cur.parent
    end
    n_stacks = n_stacks + 1
    stacks[n_stacks] = s
    sid = n_stacks - 1
    node.sid = sid
    return sid
  end
  local function child(node, frame)
    local kids = node.kids
    local c = kids[frame]
    if not c then
      c = { frame = frame, parent = node, depth = node.depth + 1, kids = {}, list = {} }
      kids[frame] = c
      node.list[#node.list + 1] = c
    end
    return c
  end

  local states = {}
  for t = 1, n_threads do
    local th = world.threads[t]
    local node = { frame = th.base[1], depth = 1, kids = {}, list = {} }
    for b = 2, #th.base do node = child(node, th.base[b]) end
    states[t] = { base_depth = #th.base, node = node, target = draw_depth(rng), th = th }
  end

  local samples = gen.array({})
  local n_samples = 0
  local n_ticks = floor(duration * hz + 0.5)
  local tick_us = 1000000 / hz
  for tick = 0, n_ticks - 1 do
    local tick_base = floor(tick * tick_us)
    for t = 1, n_threads do
      local st = states[t]
      if rng.float() >= st.th.stay then
        if rng.float() < 0.03 then st.target = draw_depth(rng) end
        local node = st.node
        -- Return from a few calls, then call down again towards the target.
        local pops = 1 + rng.int(4)
        local target = st.target + rng.int(7) - 3
        if target > MAX_DEPTH then target = MAX_DEPTH end
        if target <= st.base_depth then target = st.base_depth + 1 end
        while pops > 0 and node.depth > st.base_depth do
          node = node.parent
          pops = pops - 1
        end
        while node.depth > target do node = node.parent end
        while node.depth < target do
          local list = node.list
          if #list > 0 and rng.float() < 0.98 then
            local k = #list
            if k > 3 then k = 3 end
            node = list[1 + rng.int(k)]
          else
            node = child(node, rng.int(n_frames))
          end
        end
        st.node = node
      end
      n_samples = n_samples + 1
      -- Threads are sampled one after the other within a tick, a few us apart.
      local us = tick_base + (t - 1) * 20 + rng.int(15)
      samples[n_samples] = {
        stack_id = stack_id_of(st.node),
        thread_id = st.th.id,
        timestamp = start + us / 1000000,
      }
    end
  end

  local thread_metadata = {}
  for t = 1, n_threads do
    thread_metadata[world.threads[t].id] = { name = world.threads[t].name }
  end

  -- Chunks reach Sentry a little after they end.
  local received = start + duration + 1 + rng.int(2000000) / 1000000
  local release = params.release or "backend@24.5.1+8f3e2a1"
  return {
    chunk_id = hex32(rng),
    profiler_id = profiler_id,
    organization_id = params.organization_id or 1,
    project_id = params.project_id or 1,
    environment = params.environment or "production",
    platform = "python",
    release = release,
    version = "2",
    received = received,
    retention_days = 90,
    client_sdk = { name = "sentry.python", version = "2.19.2" },
    debug_meta = {},
    measurements = gen.null,
    options = gen.null,
    profile = {
      samples = samples,
      stacks = stacks,
      frames = world.frames,
      thread_metadata = thread_metadata,
    },
  }
end

-- Merging, as the server does it (contract, "The merged chunk") --------------

local function first_timestamp(chunk)
  local s = chunk.profile and chunk.profile.samples
  if s and s[1] then return s[1].timestamp end
  return type(chunk.received) == "number" and chunk.received or 0
end

function gen.merge(chunks, start, end_)
  local ordered = {}
  for i = 1, #chunks do ordered[i] = chunks[i] end
  -- Stable order for equal times: fall back on the original position.
  local pos = {}
  for i = 1, #ordered do pos[ordered[i]] = i end
  sort(ordered, function(a, b)
    local ta, tb = first_timestamp(a), first_timestamp(b)
    if ta ~= tb then return ta < tb end
    return pos[a] < pos[b]
  end)

  local merged = {}
  local first = ordered[1] or {}
  for k, v in pairs(first) do
    if k ~= "profile" and k ~= "measurements" then merged[k] = v end
  end
  local samples, stacks, frames = gen.array({}), gen.array({}), gen.array({})
  local thread_metadata = nil
  local measurements = nil
  local n_samples, n_stacks, n_frames = 0, 0, 0
  for c = 1, #ordered do
    local chunk = ordered[c]
    local p = chunk.profile or {}
    local stack_base, frame_base = n_stacks, n_frames
    local cs, cst, cf = p.samples or {}, p.stacks or {}, p.frames or {}
    for i = 1, #cf do
      n_frames = n_frames + 1
      frames[n_frames] = cf[i]
    end
    for i = 1, #cst do
      local src = cst[i]
      local dst = {}
      for j = 1, #src do dst[j] = src[j] + frame_base end
      n_stacks = n_stacks + 1
      stacks[n_stacks] = dst
    end
    for i = 1, #cs do
      local s = cs[i]
      local ts = s.timestamp
      if (start == nil or ts >= start) and (end_ == nil or ts <= end_) then
        n_samples = n_samples + 1
        samples[n_samples] = { stack_id = s.stack_id + stack_base, thread_id = s.thread_id, timestamp = ts }
      end
    end
    local tm = p.thread_metadata
    if type(tm) == "table" then
      thread_metadata = thread_metadata or {}
      for tid, meta in pairs(tm) do
        if thread_metadata[tid] == nil then thread_metadata[tid] = meta end
      end
    end
    local m = chunk.measurements
    if type(m) == "table" then
      measurements = measurements or {}
      for name, entry in pairs(m) do
        local acc = measurements[name]
        if not acc then
          acc = { unit = entry.unit, values = gen.array({}) }
          measurements[name] = acc
        end
        local vals = entry.values or {}
        for i = 1, #vals do acc.values[#acc.values + 1] = vals[i] end
      end
    end
  end
  merged.measurements = measurements or gen.null
  merged.profile = {
    samples = samples,
    stacks = stacks,
    frames = frames,
    thread_metadata = thread_metadata or gen.null,
  }
  return merged, ordered
end

function gen.answer(chunks, start, end_)
  local merged, ordered = gen.merge(chunks, start, end_)
  local ids = gen.array({})
  for i = 1, #ordered do ids[i] = ordered[i].chunk_id end
  return { chunk = merged, debug_chunk_ids = ids }
end

-- JSON encoding ------------------------------------------------------------

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
local function escape_char(c)
  return escapes[c] or format("\\u%04x", byte(c))
end
local function quote(s)
  if s:find('[%c"\\]') then s = s:gsub('[%c"\\]', escape_char) end
  return '"' .. s .. '"'
end

local function number_text(v)
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  if v == floor(v) and v > -2^53 and v < 2^53 then return format("%d", v) end
  -- Timestamps and `received` are microsecond values: print them that way
  -- when it is exact, else with full double precision.
  local s = format("%.6f", v)
  if tonumber(s) == v then
    s = s:gsub("0+$", "")
    return s
  end
  return format("%.17g", v)
end

local function is_array(t)
  if getmetatable(t) == array_mt then return true end
  return t[1] ~= nil
end

local FRAME_KEYS = { "function", "module", "package", "filename", "abs_path", "lineno",
  "colno", "in_app", "instruction_addr", "sym_addr", "symbol", "lang", "status",
  "platform", "data" }
local CHUNK_KEYS = { "chunk_id", "profiler_id", "organization_id", "project_id",
  "environment", "platform", "release", "version", "received", "retention_days",
  "client_sdk", "debug_meta", "measurements", "options", "profile" }
local PROFILE_KEYS = { "samples", "stacks", "frames", "thread_metadata" }

local encode_value

-- Keys in `order` first (the shape Sentry writes), the rest sorted.
local function encode_object(t, out, n, order)
  n = n + 1; out[n] = "{"
  local first = true
  local seen = {}
  local function emit(k, v)
    if not first then n = n + 1; out[n] = "," end
    first = false
    n = n + 1; out[n] = quote(tostring(k)) .. ":"
    n = encode_value(v, out, n, k)
  end
  if order then
    for i = 1, #order do
      local k = order[i]
      seen[k] = true
      local v = t[k]
      if v ~= nil then emit(k, v) end
    end
  end
  local rest = {}
  for k in pairs(t) do
    if not seen[k] then rest[#rest + 1] = tostring(k) end
  end
  sort(rest)
  for i = 1, #rest do
    local k = rest[i]
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    emit(k, v)
  end
  n = n + 1; out[n] = "}"
  return n
end

local function encode_samples(samples, out, n)
  n = n + 1; out[n] = "["
  local count = #samples
  -- The text between stack_id and timestamp depends only on the thread.
  local middles = {}
  -- Pieces of 1024 samples keep the buffer small and concat cheap.
  local piece, m = {}, 0
  for i = 1, count do
    local s = samples[i]
    local tid = s.thread_id
    local middle = middles[tid]
    if not middle then
      middle = ',"thread_id":' .. quote(tid) .. ',"timestamp":'
      middles[tid] = middle
    end
    -- Seconds and microseconds as integers: the same digits as %.6f, faster.
    local ts = s.timestamp
    local sec = floor(ts)
    local us = floor((ts - sec) * 1000000 + 0.5)
    if us >= 1000000 then sec = sec + 1; us = us - 1000000 end
    m = m + 1
    piece[m] = format('{"stack_id":%d%s%d.%06d}', s.stack_id, middle, sec, us)
    if m == 1024 or i == count then
      n = n + 1; out[n] = concat(piece, ",", 1, m)
      if i < count then n = n + 1; out[n] = "," end
      m = 0
    end
  end
  n = n + 1; out[n] = "]"
  return n
end

local function encode_stacks(stacks, out, n)
  n = n + 1; out[n] = "["
  local count = #stacks
  local piece, m = {}, 0
  for i = 1, count do
    m = m + 1
    piece[m] = "[" .. concat(stacks[i], ",") .. "]"
    if m == 1024 or i == count then
      n = n + 1; out[n] = concat(piece, ",", 1, m)
      if i < count then n = n + 1; out[n] = "," end
      m = 0
    end
  end
  n = n + 1; out[n] = "]"
  return n
end

function encode_value(v, out, n, key)
  local tv = type(v)
  if v == gen.null or v == nil then
    n = n + 1; out[n] = "null"
  elseif tv == "string" then
    n = n + 1; out[n] = quote(v)
  elseif tv == "number" then
    n = n + 1; out[n] = number_text(v)
  elseif tv == "boolean" then
    n = n + 1; out[n] = v and "true" or "false"
  elseif tv == "table" then
    if key == "samples" then return encode_samples(v, out, n) end
    if key == "stacks" then return encode_stacks(v, out, n) end
    if is_array(v) then
      n = n + 1; out[n] = "["
      local frames = key == "frames"
      for i = 1, #v do
        if i > 1 then n = n + 1; out[n] = "," end
        if frames then
          n = encode_object(v[i], out, n, FRAME_KEYS)
        else
          n = encode_value(v[i], out, n)
        end
      end
      n = n + 1; out[n] = "]"
    else
      local order
      if key == "chunk" then order = CHUNK_KEYS
      elseif key == "profile" then order = PROFILE_KEYS end
      n = encode_object(v, out, n, order)
    end
  else
    error("cannot encode a " .. tv .. " as JSON")
  end
  return n
end

-- Pieces of the JSON text, in order (the CLI writes them without joining).
function gen.encode_pieces(value)
  local out = {}
  local n
  if type(value) == "table" and value.chunk ~= nil and not is_array(value) then
    n = encode_object(value, out, 0, { "chunk", "debug_chunk_ids" })
  else
    n = encode_value(value, out, 0)
  end
  return out, n
end

function gen.encode(value)
  local out, n = gen.encode_pieces(value)
  return concat(out, "", 1, n)
end

-- Command line -------------------------------------------------------------

local function main(argv)
  local opts = { chunks = 1, threads = 4, seed = 1, hz = 101, start = gen.T0,
    profiler = gen.DEFAULT_PROFILER }
  local i = 1
  while i <= #argv do
    local name = argv[i]:match("^%-%-(.+)$")
    local value = argv[i + 1]
    if not name or opts[name] == nil or value == nil then
      io.stderr:write("usage: lua bench/gen.lua --chunks N [--threads 4] [--seed N] [--hz 101]",
        " [--profiler HEX32] [--start EPOCH] > out.json\n")
      os.exit(2)
    end
    if name == "profiler" then opts[name] = value else opts[name] = tonumber(value) end
    i = i + 2
  end
  local list = {}
  for k = 1, opts.chunks do
    list[k] = gen.chunk_table { profiler_id = opts.profiler, seed = opts.seed,
      threads = opts.threads, hz = opts.hz, start = opts.start + (k - 1) * 60 }
  end
  local answer = gen.answer(list, opts.start, opts.start + opts.chunks * 60)
  local out, n = gen.encode_pieces(answer)
  local stdout = io.stdout
  for j = 1, n, 4096 do
    local last = j + 4095
    if last > n then last = n end
    stdout:write(concat(out, "", j, last))
  end
  stdout:write("\n")
end

-- Run as a script only when invoked as one (require passes the module name).
if arg and arg[0] and arg[0]:match("gen%.lua$") and (...) == arg[1] then
  main(arg)
end

return gen
