-- sentry.chunks.nvim: fetch profiles inside Neovim without blocking it.
--
--   local sc = require "sentry.chunks.nvim"
--   sc.fetch({ token = ..., org = ... }, { project = 1, profiler_id = ..., stats_period = "1h" },
--     function(res, err, details) ... end)     -- called on the main loop
--
-- The transfer is client:fetch_async driven by vim.loop: libcurl's
-- sockets in an epoll set that one uv poll handle watches (see below), and
-- a timer for libcurl's timeouts, retries and buffered bytes; each wake-up
-- does a bounded number of steps (at most 4, none after 8 ms), each of
-- which decodes at most buffer_size bytes, so the editor never waits long.
local M = {}

local uv = vim and vim.loop

-- The C part, or an error that says what is wrong and how to fix it
-- (the usual failures: not built, or built for Lua 5.4 and loaded into
-- Neovim's LuaJIT).
require("sentry.chunks.loadcore").load("sentry.chunks.nvim")
local chunks = require "sentry.chunks"

M.STEPS_PER_WAKEUP = 4
M.BUFFER_SIZE = 128 * 1024 -- bytes decoded per step: well under a millisecond
-- A wake-up takes no further step once its steps have run this long: a
-- step that makes a large array (the first samples' columns, one a step)
-- can take 25 ms on its own.
M.WAKEUP_BUDGET_MS = 8
M.MAX_TIMER_MS = 50
M.POLL_MS = 2 -- without epoll: how often open sockets are looked at

-- libcurl's sockets are watched through an epoll set of our own (LuaJIT's
-- FFI, Linux), and one uv poll handle watches that set's descriptor: the
-- set becomes readable when a socket is ready *or in error*, and is never
-- in error itself. (A uv poll handle on a socket would turn the socket's
-- error, a refused connect or a reset, into UV_EBADF, which luv prints to
-- stderr.) Where there is no FFI or no epoll, a timer looks every POLL_MS.
local epoll = (function()
  local ok, ffi = pcall(require, "ffi")
  if not ok or not jit or jit.os ~= "Linux" then return nil end
  local C = ffi.C
  -- struct epoll_event is packed on x86-64 only
  local layout = jit.arch == "x64" and "__attribute__((packed))" or ""
  if not pcall(ffi.cdef, "struct sentry_chunks_epoll_event { uint32_t events; uint64_t data; } "
      .. layout .. ";") then
    return nil
  end
  pcall(ffi.cdef, "int epoll_create1(int flags);")
  pcall(ffi.cdef, "int epoll_ctl(int epfd, int op, int fd, struct sentry_chunks_epoll_event *event);")
  pcall(ffi.cdef, "int close(int fd);")
  local have = pcall(function() return C.epoll_create1 and C.epoll_ctl and C.close end)
  if not have then return nil end
  local ADD, DEL, MOD, IN, OUT, CLOEXEC = 1, 2, 3, 1, 4, 524288
  local ev = ffi.new("struct sentry_chunks_epoll_event")
  local E = {}
  function E.new()
    local fd = C.epoll_create1(CLOEXEC)
    if fd < 0 then return nil end
    return { fd = fd, watched = {} }
  end
  -- watch exactly these sockets ({fd, read, write}...) for what libcurl wants
  function E.watch(set, sockets)
    local wanted = {}
    for _, s in ipairs(sockets) do
      local events = (s.read and IN or 0) + (s.write and OUT or 0)
      wanted[s.fd] = true
      ev.events, ev.data = events, s.fd
      -- a socket closed and its number reused is no longer in the set: add
      if C.epoll_ctl(set.fd, MOD, s.fd, ev) ~= 0 then C.epoll_ctl(set.fd, ADD, s.fd, ev) end
      set.watched[s.fd] = true
    end
    for fd in pairs(set.watched) do
      if not wanted[fd] then
        C.epoll_ctl(set.fd, DEL, fd, ev) -- fails harmlessly when already closed
        set.watched[fd] = nil
      end
    end
  end
  function E.close(set) C.close(set.fd) end
  return E
end)()

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

  local timer, done = uv.new_timer(), false
  local set = epoll and epoll.new()
  local set_poll = set and uv.new_poll(set.fd)
  if set and not set_poll then
    epoll.close(set)
    set = nil
  end

  local function stop()
    done = true
    timer:stop()
    if not timer:is_closing() then timer:close() end
    if set_poll then
      set_poll:stop()
      if not set_poll:is_closing() then set_poll:close() end
      epoll.close(set)
      set_poll = nil
    end
  end

  local function finish(res, e, d)
    stop()
    vim.schedule(function() callback(res, e, d) end)
  end

  local wake

  function wake()
    if done then return end
    -- whatever happens inside (an error in on_progress, ...), the
    -- callback fires once: an error raised here would end in the loop
    local moved = false
    local started = uv.hrtime()
    local ok, perr = pcall(function()
      for _ = 1, M.STEPS_PER_WAKEUP do
        if req:step() then
          finish(req:result())
          return
        end
        if not req:wait().ready then break end
        moved = true
        if uv.hrtime() - started >= M.WAKEUP_BUDGET_MS * 1e6 then break end
      end
    end)
    if not ok then
      pcall(req.cancel, req)
      return finish(nil, "fetch failed: " .. tostring(perr):gsub("[%c]+", " "), { kind = "aborted" })
    end
    if done then return end
    local w = req:wait()
    -- more bytes may be buffered: come back on the next turn of the loop
    -- (1 ms, not 0: libuv runs a 0 ms timer started from a timer callback
    -- in the same pass, which would starve every other timer); while a
    -- socket is open, every POLL_MS; else at libcurl's timeout
    local ms
    if set then epoll.watch(set, w.sockets) end
    if w.ready or (moved and not set) then -- bytes are buffered: look again at once
      ms = 1
    else
      ms = math.max(1, math.min(math.floor((w.timeout or 0.05) * 1000), M.MAX_TIMER_MS))
      if not set and #w.sockets > 0 and ms > M.POLL_MS then ms = M.POLL_MS end
    end
    timer:stop()
    -- from the time now, not the loop's cached time of before the steps:
    -- after a long step that time is already past, and libuv would run
    -- the wake-up again in the same pass, ahead of every other timer
    uv.update_time()
    timer:start(ms, 0, function() wake() end)
  end

  if set_poll then set_poll:start("r", function() wake() end) end
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
