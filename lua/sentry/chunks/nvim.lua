-- sentry.chunks.nvim: fetch profiles inside Neovim without blocking it.
--
--   local sc = require "sentry.chunks.nvim"
--   sc.fetch({ token = ..., org = ... }, { project = 1, profiler_id = ..., stats_period = "1h" },
--     function(res, err, details) ... end)     -- called on the main loop
--
-- The transfer is client:fetch_async driven by vim.loop: a uv poll handle
-- on each socket libcurl waits on, and a timer for libcurl's timeouts (and
-- retries); each wake-up does a bounded number of steps, each of which
-- decodes at most buffer_size bytes, so the editor never waits long.
local M = {}

local uv = vim and vim.loop

-- The C part, or an error that says what is wrong and how to fix it
-- (the usual failures: not built, or built for Lua 5.4 and loaded into
-- Neovim's LuaJIT).
require("sentry.chunks.loadcore").load("sentry.chunks.nvim")
local chunks = require "sentry.chunks"

M.STEPS_PER_WAKEUP = 4
M.BUFFER_SIZE = 128 * 1024 -- bytes decoded per step: well under a millisecond
M.MAX_TIMER_MS = 50

-- fetch(client_or_options, query, callback) -> handle with handle:cancel().
-- callback(res, err, details) runs on the main loop (vim.schedule), once.
function M.fetch(client, query, callback)
  if type(callback) ~= "function" then
    error("bad argument #3 to 'fetch' (function expected, got " .. type(callback) .. ")", 2)
  end
  if type(client) == "table" and getmetatable(client) == nil then
    local opts = {}
    for k, v in pairs(client) do opts[k] = v end
    opts.buffer_size = opts.buffer_size or M.BUFFER_SIZE
    client = chunks.client(opts)
  end
  local req, err, details = client:fetch_async(query)
  local handle = {}
  if not req then
    vim.schedule(function() callback(nil, err, details) end)
    function handle.cancel() end
    return handle
  end

  local timer, polls, done = uv.new_timer(), {}, false

  local function stop()
    done = true
    timer:stop()
    if not timer:is_closing() then timer:close() end
    for fd, p in pairs(polls) do
      p:stop()
      if not p:is_closing() then p:close() end
      polls[fd] = nil
    end
  end

  local wake

  -- Watch exactly the sockets libcurl wants now, for what it wants.
  local function watch(sockets)
    local wanted = {}
    for _, s in ipairs(sockets) do
      local events = (s.read and "r" or "") .. (s.write and "w" or "")
      wanted[s.fd] = events
      local p = polls[s.fd]
      if not p then
        p = uv.new_poll(s.fd)
        polls[s.fd] = p
      end
      p:start(events, function() wake() end)
    end
    for fd, p in pairs(polls) do
      if not wanted[fd] then
        p:stop()
        p:close()
        polls[fd] = nil
      end
    end
  end

  function wake()
    if done then return end
    for _ = 1, M.STEPS_PER_WAKEUP do
      if req:step() then
        stop()
        local res, e, d = req:result()
        vim.schedule(function() callback(res, e, d) end)
        return
      end
      if not req:wait().ready then break end
    end
    local w = req:wait()
    watch(w.sockets)
    -- more bytes may be buffered: come back on the next turn of the loop
    -- (1 ms, not 0: libuv runs a 0 ms timer started from a timer callback
    -- in the same pass, which would starve every other timer); else at
    -- libcurl's timeout, or when a socket is ready
    local ms = w.ready and 1 or math.max(1, math.min(math.floor((w.timeout or 0.05) * 1000), M.MAX_TIMER_MS))
    timer:stop()
    timer:start(ms, 0, function() wake() end)
  end

  timer:start(0, 0, function() wake() end)
  function handle.cancel()
    if done then return end
    stop()
    req:cancel()
  end
  return handle
end

-- perfanno.nvim's traces for a fetched profile (see export.perfanno):
--   require("perfanno").load_traces(require("sentry.chunks.nvim").load_traces(res,
--     { remap = { from = "/srv/app/", to = vim.fn.getcwd() .. "/" } }))
function M.load_traces(res, opts)
  return require("sentry.chunks.export").perfanno(res, opts)
end

return M
