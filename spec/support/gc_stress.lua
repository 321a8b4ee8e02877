-- Helpers for the GC-stress specs: finalizers that run while C code works
-- on a decoder or a request.
local M = {}

-- An object whose finalizer calls f (newproxy where tables have no __gc).
function M.on_gc(f)
  if newproxy then
    local p = newproxy(true)
    getmetatable(p).__gc = f
    return p
  end
  return setmetatable({}, { __gc = f })
end

-- Keeps finalizers coming while `work(round)` runs: each one calls action()
-- (only while work runs; it returns false when it did nothing) and arms the
-- next. The collector runs at its most eager meanwhile. work runs again (a new round) until a finalizer ran
-- inside it, at most `rounds` times (pause: the collector's pause, 10 by
-- default: a new cycle at once). Returns how many finalizers ran inside
-- work, and the last round.
function M.with_finalizers(action, work, rounds, pause)
  local inside, hits, stop = false, 0, false
  local function arm()
    M.on_gc(function()
      if inside and action() ~= false then hits = hits + 1 end
      if not stop then arm() end
    end)
  end
  for _ = 1, 50 do arm() end
  -- 5.4 may run the generational collector (Debian's default here), where
  -- pause and stepmul do nothing: finalizers then wait for a major
  -- collection, which a large heap (other spec files' data) puts off
  local previous = _VERSION == "Lua 5.4" and collectgarbage("incremental") or nil
  collectgarbage()
  collectgarbage("setpause", pause or 10)
  collectgarbage("setstepmul", 1000)
  local round = 0
  local ok, err = pcall(function()
    repeat
      round = round + 1
      inside = true
      work(round)
      inside = false
    until hits > 0 or round >= (rounds or 200) * 5
  end)
  inside, stop = false, true
  collectgarbage("setpause", 200)
  collectgarbage("setstepmul", 200)
  if previous == "generational" then collectgarbage("generational") end
  collectgarbage()
  collectgarbage()
  assert(ok, err)
  return hits, round
end

-- A document of about n KB with many tables and strings (a profile's shape).
function M.document(kb)
  local parts = {}
  for i = 1, kb * 10 do
    parts[i] = string.format('{"stack_id":%d,"thread_id":"%d","timestamp":%d.5,"f":"fn%d"}', i, i % 7, i, i % 50)
  end
  return '{"samples":[' .. table.concat(parts, ",") .. ']}'
end

return M
