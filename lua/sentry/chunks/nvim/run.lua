-- sentry.chunks.nvim.run: an analysis in slices on Neovim's loop, so that
-- the editor stays responsive while it runs.
--
--   local handle = require("sentry.chunks.nvim.run").start(function(slice)
--     return analysis.top(res, { slice = slice })
--   end, function(result, err) ... end)   -- on the main loop, once
--   handle.cancel()
--
-- The function runs in a coroutine. Every analysis calls its `slice` hook
-- every 16,384 samples (or stacks); the hook yields once the slice has run
-- for budget_ms, and a timer resumes the coroutine on a later turn of the
-- loop (1 ms later: other timers and input are served in between).
local M = {}

M.BUDGET_MS = 8

local uv = vim.loop

function M.start(fn, callback, budget_ms)
  local limit = (budget_ms or M.BUDGET_MS) * 1e6
  local started, done = 0, false
  local hrtime = uv.hrtime
  local co = coroutine.create(function()
    return fn(function()
      if hrtime() - started >= limit then coroutine.yield() end
    end)
  end)
  local timer = uv.new_timer()
  -- slices: resumes so far; longest_ms: the longest resume (for make bench)
  local handle = { slices = 0, longest_ms = 0 }

  local function finish(a, b, c)
    done = true
    timer:stop()
    if not timer:is_closing() then timer:close() end
    vim.schedule(function() callback(a, b, c) end)
  end

  local function step()
    if done then return end
    started = hrtime()
    handle.slices = handle.slices + 1
    local ok, a, b, c = coroutine.resume(co)
    local ms = (hrtime() - started) / 1e6
    if ms > handle.longest_ms then handle.longest_ms = ms end
    if not ok then return finish(nil, "analysis failed: " .. tostring(a)) end
    if coroutine.status(co) == "dead" then return finish(a, b, c) end
    uv.update_time() -- 1 ms from now: from the loop's cached time, the slice
    timer:start(1, 0, step) -- would follow at once, ahead of other timers
  end

  timer:start(0, 0, step)
  function handle.cancel()
    if done then return end
    done = true
    timer:stop()
    if not timer:is_closing() then timer:close() end
  end
  function handle.running() return not done end
  return handle
end

return M
