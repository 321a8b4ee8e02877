-- sentry.chunks.nvim.commands: what the user commands do (plugin/
-- sentry-chunks.lua registers them). The fetch and every analysis run on
-- the editor's loop (sentry.chunks.nvim, sentry.chunks.nvim.run); one
-- job at a time, cancelled by :SentryCancel.
local config = require "sentry.chunks.nvim.config"
local run = require "sentry.chunks.nvim.run"
local analyze = require "sentry.chunks.nvim.analyze"

local M = {}
local uv = vim.loop

-- profiles: the fetched profiles, newest last (two kept: :SentryDiff).
M.state = { profiles = {}, job = nil, status = "" }
vim.g.sentry_chunks_status = ""

local function notify(msg, level) vim.notify("sentry-chunks: " .. msg, level or vim.log.levels.INFO) end

-- Sets the status at once, or from a libuv callback on the next turn of
-- the main loop (unless a newer status came first).
local function set_status(s)
  M.state.status = s
  local function apply()
    vim.g.sentry_chunks_status = s
    pcall(vim.cmd, "redrawstatus")
  end
  if vim.in_fast_event() then
    vim.schedule(function() if M.state.status == s then apply() end end)
  else
    apply()
  end
end

-- For 'statusline': %{v:lua.require'sentry-chunks'.status()} or %{g:sentry_chunks_status}.
function M.status() return M.state.status end

local function busy()
  if M.state.job then
    notify("busy: " .. M.state.job.what .. " (:SentryCancel stops it)", vim.log.levels.WARN)
    return true
  end
  return false
end

-- Runs fn(slice) in slices; done(result) on success, errors notified.
local function analysis(what, fn, done)
  if busy() then return nil end
  local job = { what = what }
  M.state.job = job
  set_status("sentry: " .. what .. "…")
  job.handle = run.start(fn, function(result, err)
    M.state.last_slice_ms = job.handle.longest_ms -- the longest slice (make bench)
    if M.state.job ~= job then return end
    M.state.job = nil
    set_status("")
    if not result then return notify(err, vim.log.levels.ERROR) end
    done(result)
  end, config.options.budget_ms)
  return job
end

-- :SentryCancel: stops the fetch or analysis under way.
function M.cancel()
  local job = M.state.job
  if not job then notify("nothing to cancel") return false end
  M.state.job = nil
  job.handle.cancel()
  set_status("")
  notify("cancelled: " .. job.what)
  return true
end

local function is_url(s) return type(s) == "string" and s:match("^https?://") ~= nil end

local function origin(u) return (u:match("^(%a[%w+.-]*://[^/?#]+)") or u):lower() end

-- The query and client options for :SentryProfile's arguments:
-- query, client_extra, label | nil, message.
function M.parse_profile_args(args)
  local o = config.options
  if is_url(args[1]) then
    local parsed, err = require("sentry.chunks.url").parse_url(args[1])
    if not parsed then return nil, err end
    local base = o.base_url or os.getenv("SENTRY_URL") or "https://sentry.io"
    if origin(parsed.base_url) ~= origin(base:gsub("/+$", "")) then
      -- the token is for the configured Sentry: never sent to another host
      return nil, "the URL is on " .. parsed.base_url .. " but setup's base_url is " .. base
    end
    -- the URL's project, by id or by slug (looked up on the fetch's own
    -- request: sentry.chunks.client's fetch_async)
    local q = { org = parsed.org, project = parsed.project, profiler_id = parsed.profiler_id }
    if parsed.start then q.start, q["end"] = parsed.start, parsed["end"]
    else q.stats_period = parsed.stats_period or o.period end
    return q, { org = parsed.org }, parsed.profiler_id:sub(1, 8) .. " (" .. (q.stats_period or "range") .. ")"
  end
  local pid, period = args[1], args[2] or o.period
  if not pid or not pid:match("^%x+$") or #pid ~= 32 then
    return nil, "usage: :SentryProfile {url | profiler_id [period]} (a profiler id is 32 hex digits)"
  end
  if o.project == nil then return nil, "no project: set setup{project = <id or slug>}" end
  if not o.org and not os.getenv("SENTRY_ORG") then return nil, "no organization: set setup{org = ...}" end
  return { project = o.project, profiler_id = pid:lower(), stats_period = period }, {},
    pid:sub(1, 8) .. " (" .. period .. ")"
end

-- :SentryProfile {url | profiler_id [period]}: fetches, prepares (remaps
-- paths, counts threads) and shows the top functions of the default
-- thread. A range over 40 minutes (range.LONG_RANGE) is fetched as
-- windows of 40 minutes, one request after another, and merged here in
-- slices (the client's own split merges in one go, which would stall the
-- editor: 1.6 s for an hour of a 4-thread, 101 Hz profile). opts.query
-- overrides the query (start/end, split); opts.on_done(entry | nil, err [,
-- buf]) is called at the end, opts.on_fetched(details) when every answer
-- is in (before the analysis); opts.show = false skips the top view.
function M.profile(args, opts)
  opts = opts or {}
  if busy() then return nil end
  local function fail(msg)
    notify(msg, vim.log.levels.ERROR)
    if opts.on_done then opts.on_done(nil, msg) end
    return nil
  end
  local query, extra, label = M.parse_profile_args(args)
  if not query then return fail(extra) end
  if opts.query and opts.query.start then query.stats_period = nil end
  for k, v in pairs(opts.query or {}) do query[k] = v end
  -- samples in columns: a third of the memory in the editor, the same
  -- analyses (sentry.chunks.layout)
  if query.layout == nil then query.layout = "columns" end
  -- the windows of a long range (nil: one request)
  local range = require "sentry.chunks.range"
  local windows
  if query.split ~= false then
    local sok, span, serr = pcall(range.span, query, os.time(), "fetch")
    if not sok then return fail(tostring(span)) end
    if span == nil then return fail(serr) end
    if span and span["end"] - span.start > range.LONG_RANGE then
      if span["end"] - span.start > range.MAX_SPLIT_RANGE then
        return fail(string.format("a range of %.0f h is longer than the %d h fetched in windows: ask for a shorter one",
          (span["end"] - span.start) / 3600, range.MAX_SPLIT_RANGE / 3600))
      end
      windows = range.split(span.start, span["end"], range.DEFAULT_WINDOW)
    end
  end
  local last, current = 0, 1
  extra.on_progress = function(received)
    local now = uv.now()
    if now - last >= 200 then
      last = now
      set_status(windows and string.format("sentry: window %d/%d, %.1f MB", current, #windows, received / 1e6)
        or string.format("sentry: %.1f MB", received / 1e6))
    end
  end
  local copts, err = config.client_options(extra)
  if not copts then return fail(err) end
  local ok, nv = pcall(require, "sentry.chunks.nvim")
  if not ok then return fail(tostring(nv)) end
  -- one client for every window: its connection is reused and a project
  -- slug looked up once
  copts.buffer_size = copts.buffer_size or nv.BUFFER_SIZE
  local cok, client = pcall(require("sentry.chunks").client, copts)
  if not cok then return fail(tostring(client)) end
  local job = { what = "fetching " .. label }
  M.state.job = job
  set_status("sentry: fetching…")
  notify("fetching " .. label .. (windows and (" in " .. #windows .. " windows") or "") .. " (:SentryCancel stops it)")
  local started = uv.hrtime()
  local answers, warnings, bytes = {}, {}, 0

  local function fetched()
    M.state.job = nil
    set_status("")
    if #answers == 0 then return fail("no profile chunks in this time range") end
    local details = { windows = windows and #windows or 1, bytes = bytes, truncated = #warnings > 0,
                      warning = #warnings > 0 and table.concat(warnings, "; ") or nil }
    if opts.on_fetched then opts.on_fetched(details) end
    local fetched_ms = (uv.hrtime() - started) / 1e6
    local remap = config.options.remap
    local job2 = analysis("preparing " .. label, function(slice)
      local res = #answers == 1 and answers[1] or analyze.merge(answers, slice)
      answers = nil
      return analyze.prepare(res, remap, slice)
    end, function(entry)
      entry.label, entry.details, entry.fetched_ms = label, details, fetched_ms
      local list = M.state.profiles
      list[#list + 1] = entry
      while #list > 2 do table.remove(list, 1) end
      if details.warning then notify(details.warning, vim.log.levels.WARN) end
      notify(string.format("%s: %d samples, %d threads", label, analyze.sample_count(entry.chunk), #entry.threads))
      if opts.show == false then
        if opts.on_done then opts.on_done(entry) end
        return
      end
      M.top({}, function(buf) if opts.on_done then opts.on_done(entry, nil, buf) end end)
    end)
    if not job2 and opts.on_done then opts.on_done(nil, "busy") end
  end

  local function fetch_window(i)
    current = i
    local q = query
    if windows then
      q = {}
      for k, v in pairs(query) do q[k] = v end
      q.stats_period, q.start, q["end"], q.split = nil, windows[i].start, windows[i]["end"], false
    end
    local fetch_ok, handle = pcall(nv.fetch, client, q, function(res, ferr, details)
      if M.state.job ~= job then return end -- cancelled
      if res then
        answers[#answers + 1] = res
        bytes = bytes + (details and details.bytes or 0)
        if details and details.warning then
          warnings[#warnings + 1] = windows and string.format("window %d of %d: %s", i, #windows, details.warning)
            or details.warning
        end
      elseif not (windows and details and details.kind == "no_chunks") then -- an empty window is no error
        M.state.job = nil
        set_status("")
        return fail(windows and string.format("window %d of %d: %s", i, #windows, tostring(ferr)) or ferr)
      end
      if windows and i < #windows then return fetch_window(i + 1) end
      fetched()
    end)
    if not fetch_ok then -- a caller's mistake in the options: say it, do not raise from a command
      M.state.job = nil
      set_status("")
      return fail(tostring(handle))
    end
    job.handle = handle
  end
  fetch_window(1)
  return job
end

-- Arguments of the view commands: a mode word and/or a thread selector.
local function view_args(args)
  local o = config.options
  local thread, mode = o.thread, o.mode
  for _, a in ipairs(args or {}) do
    if a == "sentry" or a == "textbook" then mode = a else thread = a end
  end
  return thread, mode
end

local function current(n)
  local list = M.state.profiles
  local entry = list[#list - (n or 0)]
  if not entry then notify(n and n > 0 and "two profiles are needed: :SentryProfile another one first"
    or "no profile yet: :SentryProfile first", vim.log.levels.WARN) end
  return entry
end

local function selection(entry, thread)
  local set, label = analyze.select(entry, thread)
  if set == false then notify(label, vim.log.levels.ERROR) return false end
  return set, label
end

-- :SentryTop [thread] [mode]
function M.top(args, then_)
  local entry = current()
  if not entry then return nil end
  local thread, mode = view_args(args)
  local set, tlabel = selection(entry, thread)
  if set == false then return nil end
  return analysis("top functions", function(slice) return analyze.top(entry, set, mode, slice) end, function(top)
    local buf = require("sentry.chunks.nvim.views").show("top", top, { label = entry.label, threads = tlabel, mode = mode })
    if then_ then then_(buf) end
  end)
end

-- :SentryTree [thread] [mode]
function M.tree(args, then_)
  local entry = current()
  if not entry then return nil end
  local thread, mode = view_args(args)
  local set, tlabel = selection(entry, thread)
  if set == false then return nil end
  return analysis("call tree", function(slice) return analyze.tree(entry, set, mode, slice) end, function(root)
    local buf = require("sentry.chunks.nvim.views").show("tree", root, { label = entry.label, threads = tlabel, mode = mode })
    if then_ then then_(buf) end
  end)
end

-- :SentryDiff [thread] [mode]: the newest profile (b) against the one before (a).
function M.diff(args, then_)
  local b, a = current(), current(1)
  if not (a and b) then return nil end
  local thread, mode = view_args(args)
  local set_a, tlabel = selection(a, thread)
  if set_a == false then return nil end
  local set_b = selection(b, thread)
  if set_b == false then return nil end
  return analysis("diff", function(slice) return analyze.diff(a, set_a, b, set_b, mode, slice) end, function(d)
    local buf = require("sentry.chunks.nvim.views").show("diff", d,
      { label = "b " .. b.label .. " against a " .. a.label, threads = tlabel, mode = mode })
    if then_ then then_(buf) end
  end)
end

-- :SentryAnnotate [thread] [mode]
function M.annotate(args, then_)
  local entry = current()
  if not entry then return nil end
  local thread, mode = view_args(args)
  local set, tlabel = selection(entry, thread)
  if set == false then return nil end
  return analysis("annotation", function(slice) return analyze.lines(entry, set, mode, slice) end, function(lines)
    local marked, buffers = require("sentry.chunks.nvim.annotate").show(lines, tlabel)
    notify(string.format("annotated %d lines in %d buffers (%s, %s counting); :SentryAnnotateClear removes them",
      marked, buffers, tlabel, mode))
    if then_ then then_(marked, buffers) end
  end)
end

function M.annotate_clear() require("sentry.chunks.nvim.annotate").clear() end

-- :SentryFolded {file} / :SentrySpeedscope {file} [thread]: writes the
-- newest profile in that format. Returns true | nil, message.
function M.export(kind, args)
  local entry = current()
  if not entry then return nil, "no profile" end
  local file = args[1]
  if not file or file == "" then
    notify("usage: :Sentry" .. (kind == "folded" and "Folded" or "Speedscope") .. " {file} [thread]", vim.log.levels.ERROR)
    return nil, "no file"
  end
  local set = nil
  if args[2] then
    set = selection(entry, args[2])
    if set == false then return nil, "no such thread" end
  end
  local export = require "sentry.chunks.export"
  local chunk = set and analyze.restrict(entry, set, function() end) or entry.chunk
  local text, err
  if kind == "folded" then text, err = export.folded(chunk) else text, err = export.speedscope(chunk) end
  if not text then notify(err, vim.log.levels.ERROR) return nil, err end
  local path = vim.fn.expand(file)
  local f, ferr = io.open(path, "wb")
  if not f then notify("cannot write " .. tostring(ferr), vim.log.levels.ERROR) return nil, ferr end
  f:write(text)
  f:close()
  notify(string.format("wrote %s (%d bytes)", path, #text))
  return true
end

-- Completion --------------------------------------------------------------

local MODES = { "sentry", "textbook" }

local function matching(list, lead)
  local out = {}
  for _, v in ipairs(list) do if v:sub(1, #lead) == lead then out[#out + 1] = v end end
  return out
end

-- Threads of the newest profile (then the modes, unless no_modes).
function M.complete_view(lead, no_modes)
  local words = { "main", "all" }
  local entry = M.state.profiles[#M.state.profiles]
  if entry then
    for _, t in ipairs(entry.threads) do
      words[#words + 1] = tostring(t.id)
      if t.name and not t.name:find("%s") then words[#words + 1] = t.name end
    end
  end
  if not no_modes then
    for _, m in ipairs(MODES) do words[#words + 1] = m end
  end
  return matching(words, lead)
end

-- :SentryFolded / :SentrySpeedscope: a file name, then a thread.
function M.complete_export(lead, line)
  local n = #vim.split(line, "%s+") - 1
  if n >= 2 then return M.complete_view(lead, true) end
  return vim.fn.getcompletion(lead, "file")
end

function M.complete_profile(lead, line)
  local n = #vim.split(line, "%s+") - 1
  if n >= 2 then return matching({ "15m", "30m", "1h", "6h", "24h" }, lead) end
  return {}
end

return M
