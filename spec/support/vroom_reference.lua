-- A slow, literal reading of how Sentry's profiling service (getsentry/vroom)
-- computes function metrics from a sample chunk, for the specs to check the
-- fast analysis against: SampleChunk.CallTrees (internal/chunk/sample.go)
-- builds per-thread node trees sample by sample; Node.CollectFunctions
-- (internal/nodetree/nodetree.go) walks them; metrics.Quantile gives the
-- percentiles. Written from reading that code, node by node, with none of
-- the analysis module's shortcuts (no per-stack sums, no lazy counts).
-- Path fingerprints are compared as strings (vroom hashes them with FNV-64).
local frames = require "sentry.chunks.frames"

local M = {}

local function ns(t) return math.floor(t * 1e9) end

-- vroom's WriteToHash bytes of one frame.
local function hash_part(f)
  local s = frames.module_or_package(f)
  if not s then s = type(f.filename) == "string" and f.filename ~= "" and f.filename or "-" end
  local fn = type(f["function"]) == "string" and f["function"] ~= "" and f["function"] or "-"
  local addr = type(f.instruction_addr) == "string" and f.instruction_addr or ""
  return s .. "\0" .. fn .. "\0" .. addr .. "\0"
end

-- CallTrees: { [thread_id] = { root nodes } }.
function M.call_trees(chunk)
  local p = chunk.profile
  local order = {}
  for i, s in ipairs(p.samples) do order[i] = { s = s, i = i } end
  table.sort(order, function(a, b) -- sort.SliceStable by timestamp
    if a.s.timestamp ~= b.s.timestamp then return a.s.timestamp < b.s.timestamp end
    return a.i < b.i
  end)
  local by_thread, tids = {}, {}
  for _, x in ipairs(order) do
    local tid = x.s.thread_id
    if not by_thread[tid] then by_thread[tid] = {} tids[#tids + 1] = tid end
    table.insert(by_thread[tid], x.s)
  end
  local trees = {}
  for _, tid in ipairs(tids) do
    local list, roots = by_thread[tid], {}
    for k = 1, #list - 1 do -- the last sample only lends its timestamp
      local s = list[k]
      local stack = p.stacks[s.stack_id + 1]
      local next_ts, ts = ns(list[k + 1].timestamp), ns(s.timestamp)
      local current, fp = nil, ""
      for j = #stack, 1, -1 do
        local f = frames.at(p.frames, stack[j])
        fp = fp .. hash_part(f)
        local siblings = current and current.children or roots
        local last = siblings[#siblings]
        if last and last.fingerprint == fp and last.end_ns == ts then
          current = last
          current.count = current.count + 1
          current.end_ns = next_ts
          current.duration = current.end_ns - current.start_ns
        else
          local n = { frame = f, fingerprint = fp, start_ns = ts, end_ns = next_ts, count = 1,
                      in_app = f.in_app ~= false, children = {} }
          n.duration = next_ts > ts and next_ts - ts or 0
          siblings[#siblings + 1] = n
          current = n
        end
      end
    end
    trees[tid] = roots
  end
  return trees
end

-- CollectFunctions over every tree: { [fingerprint] = {function, package,
-- self_ns, total_ns, samples, durations = {...}} }.
function M.functions(chunk, min_depth)
  min_depth = min_depth or 0
  local results = {}
  local function collect(n, depth)
    local child_app, child_sys = 0, 0
    for _, c in ipairs(n.children) do
      local a, s = collect(c, depth + 1)
      child_app, child_sys = child_app + a, child_sys + s
    end
    local app = child_app
    if app > n.duration then app = n.duration end
    if depth >= min_depth and frames.aggregated(n.frame) then
      local self = 0
      if n.in_app then
        if n.duration > child_app then
          self = n.duration - child_app
          app = app + self
        end
      elseif n.duration > child_app + child_sys then
        self = n.duration - child_app - child_sys
      end
      local key = frames.key(n.frame)
      local r = results[key]
      if not r then
        r = { ["function"] = n.frame["function"], package = frames.module_or_package(n.frame),
              in_app = n.in_app, self_ns = 0, total_ns = 0, samples = 0, durations = {} }
        results[key] = r
      end
      r.durations[#r.durations + 1] = n.duration
      r.total_ns = r.total_ns + n.duration
      r.samples = r.samples + n.count
      r.self_ns = r.self_ns + self
    end
    return app, n.duration - app
  end
  for _, roots in pairs(M.call_trees(chunk)) do
    for _, root in ipairs(roots) do collect(root, 0) end
  end
  for _, r in pairs(results) do
    table.sort(r.durations)
    local function q(x)
      local n = #r.durations
      return n > 0 and r.durations[math.ceil(n * x)] or nil
    end
    r.p75, r.p95, r.p99 = q(0.75), q(0.95), q(0.99)
  end
  return results
end

return M
