-- Run by spec/nvim_spec.lua inside `nvim --headless`: fetches that fail
-- (a refused connection, retried; a reset; an error raised by on_progress;
-- a redirect to a bad URL)
-- through sentry.chunks.nvim, one after the other; writes "name=kind|err"
-- for each callback to $SC_OUT and quits. stderr is kept by the spec: it
-- must stay empty (no "EBADF: bad file descriptor" from luv).
local root = os.getenv("SC_ROOT")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/build/jit/?.so;" .. package.cpath

local out = assert(io.open(os.getenv("SC_OUT"), "w"))
local nv = require "sentry.chunks.nvim"
local url, token = os.getenv("SC_URL"), os.getenv("SC_TOKEN")
local query = { project = 1, profiler_id = os.getenv("SC_PROFILER"), stats_period = "30m" } -- one request: errors unprefixed by a window

local cases = {
  { "refused", { base_url = "http://127.0.0.1:1", retries = 2, backoff = 0.05 } },
  { "reset", { base_url = url .. "/_test/reset", retries = 0 } },
  { "progress_error", { base_url = url, on_progress = function() error("boom in on_progress") end } },
  -- a redirect to a URL with a bad port (issue 10, item 6: origin() raised
  -- and the callback never fired)
  { "bad_location", { base_url = url .. "/_test/raw="
    .. "HTTP%2F1.1%20302%20Found%0D%0ALocation%3A%20http%3A%2F%2Fh%3A1%3A2%2F%0D%0AContent-Length%3A%200%0D%0A%0D%0A",
    retries = 0 } },
}

local function run(i)
  local case = cases[i]
  if not case then
    out:close()
    return vim.cmd("qa!")
  end
  local opts = { token = token, org = "test-org" }
  for k, v in pairs(case[2]) do opts[k] = v end
  nv.fetch(opts, query, function(res, err, d)
    out:write(case[1], "=", res and "ok" or (tostring(d and d.kind) .. "|" .. tostring(err)), "\n")
    out:flush()
    vim.defer_fn(function() run(i + 1) end, 50)
  end)
end

-- a callback that never fires would leave the file short: leave anyway
vim.defer_fn(function() out:write("gave_up=1\n") out:close() vim.cmd("qa!") end, 60000)
run(1)
