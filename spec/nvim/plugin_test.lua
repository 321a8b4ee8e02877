-- Run by spec/nvim_plugin_spec.lua (and bench/nvim_bench.lua) inside
-- `nvim --headless --clean` with the checkout on 'runtimepath' and the
-- LuaJIT core found through the runtimepath (no package.cpath edit). Drives
-- the plugin's commands against the test server and writes key=value
-- lines to $SC_OUT, then quits.
local uv = vim.loop
local out = assert(io.open(os.getenv("SC_OUT"), "w"))
local token = os.getenv("SC_TOKEN")
local function put(k, v) out:write(k, "=", (tostring(v):gsub("\n", "\\n")), "\n") end
local function finish()
  out:close()
  vim.cmd("qa!")
end
-- a 10 ms timer on the editor's loop, for the longest wait
local longest, prev, ticking = 0, nil, false
local ticker = uv.new_timer()
ticker:start(10, 10, function()
  local now = uv.hrtime()
  if ticking and prev and now - prev > longest then longest = now - prev end
  prev = now
end)
local function gap_start() longest, prev, ticking = 0, uv.hrtime(), true end
local function gap_stop() ticking = false return string.format("%.1f", longest / 1e6) end

local messages = {}
vim.notify = function(msg, level) messages[#messages + 1] = tostring(msg) end

local step_ok, err = xpcall(function()
  -- plugin/ defines it at once: a 'statusline' naming it works from the start
  put("status_at_startup", vim.inspect(vim.g.sentry_chunks_status))
  put("commands", table.concat(vim.tbl_map(function(c) return c .. ":" .. vim.fn.exists(":" .. c) end, {
    "SentryProfile", "SentryCancel", "SentryTop", "SentryTree", "SentryDiff", "SentryAnnotate",
    "SentryAnnotateClear", "SentryFolded", "SentrySpeedscope" }), ","))
  put("core_path", vim.api.nvim_get_runtime_file("lua/sentry/chunks/core.so", false)[1] or "")
  put("cpath_has_build", tostring(package.cpath:find("build/jit", 1, true) ~= nil))
  local sc = require "sentry-chunks"
  local bad_ok, bad_err = pcall(sc.setup, { bogus = 1 })
  put("setup_bad", tostring(bad_ok) .. " " .. tostring(bad_err))
  local src = os.getenv("SC_SRC")
  sc.setup {
    token_cmd = { "sh", "-c", "printf %s \"$SC_TOKEN\"" }, org = "test-org", project = 1,
    base_url = os.getenv("SC_URL"), remap = { from = "/srv/app/", to = src .. "/" },
  }
  put("complete_before", table.concat(vim.fn.getcompletion("SentryTop ", "cmdline"), " "))
end, debug.traceback)
if not step_ok then put("error", err) return finish() end

local C = require "sentry.chunks.nvim.commands"
local views = require "sentry.chunks.nvim.views"
local annotate = require "sentry.chunks.nvim.annotate"

local function lines_of(buf) return vim.api.nvim_buf_get_lines(buf, 0, -1, false) end
local function guard(fn)
  return function(...)
    local ok, e = xpcall(fn, debug.traceback, ...)
    if not ok then put("error", e) finish() end
  end
end

local profiler = os.getenv("SC_PROFILER")

if os.getenv("SC_BENCH") then -- make bench: fetch + analysis + top view on the 50-chunk range
  gap_start()
  local t0 = uv.hrtime()
  -- SC_SPLIT=1: the client splits a range over 40 minutes into windows
  C.profile({ profiler }, { query = { start = tonumber(os.getenv("SC_START")), ["end"] = tonumber(os.getenv("SC_END")),
    split = os.getenv("SC_SPLIT") == "1" }, on_fetched = function()
      put("fetch_gap_ms", gap_stop())
      gap_start()
    end, on_done = guard(function(entry, e, buf)
      put("analysis_gap_ms", gap_stop())
      put("top_slice_ms", string.format("%.1f", C.state.last_slice_ms or -1))
      if not entry then put("error", e) return finish() end
      put("samples", require("sentry.chunks.nvim.analyze").sample_count(entry.chunk))
      put("fetch_ms", string.format("%.0f", entry.fetched_ms))
      put("total_ms", string.format("%.0f", (uv.hrtime() - t0) / 1e6))
      put("top_first", lines_of(buf)[1])
      -- then the annotation and the tree, each timed apart
      gap_start()
      C.annotate({}, guard(function(marked)
        put("annotate_gap_ms", gap_stop())
        put("annotate_slice_ms", string.format("%.1f", C.state.last_slice_ms or -1))
        gap_start()
        C.tree({}, guard(function()
          put("tree_gap_ms", gap_stop())
          put("tree_slice_ms", string.format("%.1f", C.state.last_slice_ms or -1))
          finish()
        end))
      end))
    end) })
  return
end

-- 1. cancel: a fetch stopped at once leaves no profile and no job
vim.cmd("SentryProfile " .. profiler .. " 30m")
put("job_after_start", tostring(C.state.job ~= nil))
vim.cmd("SentryCancel")
put("job_after_cancel", tostring(C.state.job ~= nil))

vim.defer_fn(guard(function()
  put("profiles_after_cancel", #C.state.profiles)
  -- 2. a bad argument says so
  vim.cmd("SentryProfile nothex")
  put("usage_message", messages[#messages])
  -- 3. the fetch proper, through the command, its progress in g:sentry_chunks_status
  local statuses, seen_status = {}, {}
  local poll = vim.fn.timer_start(10, function()
    local st = vim.g.sentry_chunks_status
    if st ~= "" and not seen_status[st:gsub("[%d.]+ MB", "N MB")] then
      seen_status[st:gsub("[%d.]+ MB", "N MB")] = true
      statuses[#statuses + 1] = (st:gsub("[%d.]+ MB", "N MB"))
    end
  end, { ["repeat"] = -1 })
  gap_start()
  C.profile({ profiler, "10m" }, { on_done = guard(function(entry, e, buf)
    put("profile_gap_ms", gap_stop())
    vim.fn.timer_stop(poll)
    put("statuses", table.concat(statuses, "|"))
    if not entry then put("error", e) return finish() end
    put("samples", require("sentry.chunks.nvim.analyze").sample_count(entry.chunk))
    put("threads", #entry.threads)
    put("complete_after", table.concat(vim.fn.getcompletion("SentryTop ", "cmdline"), " "))
    put("complete_t", table.concat(vim.fn.getcompletion("SentryAnnotate t", "cmdline"), " "))
    put("complete_period", table.concat(vim.fn.getcompletion("SentryProfile abc 1", "cmdline"), " "))
    put("complete_export_thread", table.concat(vim.fn.getcompletion("SentryFolded /tmp/x.folded M", "cmdline"), " "))
    put("complete_export_file", table.concat(vim.fn.getcompletion("SentrySpeedscope " .. os.getenv("SC_DIR") .. "/ou", "cmdline"), " "))
    local tl = lines_of(buf)
    put("top_name", vim.api.nvim_buf_get_name(buf))
    put("top_first", tl[1])
    put("top_lines", #tl)
    put("top_row", tl[3])
    -- 4. jump to the source of the first row with a file
    local st = views.buffers[buf]
    local lnum, frame
    for l = 3, #tl do if st.frames[l] and st.frames[l].abs_path and st.frames[l].lineno then lnum, frame = l, st.frames[l] break end end
    put("jump_target", frame.abs_path .. ":" .. frame.lineno)
    vim.fn.mkdir(vim.fn.fnamemodify(frame.abs_path, ":h"), "p")
    local body = {}
    for i = 1, frame.lineno + 20 do body[i] = "# line " .. i end
    vim.fn.writefile(body, frame.abs_path)
    vim.api.nvim_set_current_win(vim.fn.bufwinid(buf))
    vim.api.nvim_win_set_cursor(0, { lnum, 0 })
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes("<CR>", true, false, true), "x", false)
    put("jumped_to", vim.api.nvim_buf_get_name(0) .. ":" .. vim.api.nvim_win_get_cursor(0)[1])
    local src_buf = vim.api.nvim_get_current_buf()
    -- 5. sorting keys
    put("sort_next", views.cycle_sort(buf))
    put("top_first_sorted", lines_of(buf)[1])
    -- 6. annotation of that file, then cleared
    vim.cmd("SentryAnnotate main")
    local function wait_annotate()
      if C.state.job then return vim.defer_fn(guard(wait_annotate), 20) end
      local marks = vim.api.nvim_buf_get_extmarks(src_buf, annotate.ns, 0, -1, { details = true })
      put("annotations", #marks)
      local hot
      for _, m in ipairs(marks) do if m[2] == frame.lineno - 1 then hot = m[4].virt_text[1][1] end end
      put("annotation_line", hot or "")
      vim.cmd("SentryAnnotateClear")
      put("annotations_cleared", #vim.api.nvim_buf_get_extmarks(src_buf, annotate.ns, 0, -1, {}))
      -- 7. the call tree with folds
      C.tree({ "main", "textbook" }, guard(function(tbuf)
        local tt = lines_of(tbuf)
        put("tree_first", tt[1])
        put("tree_lines", #tt)
        put("tree_second", tt[2])
        put("tree_third", tt[3])
        vim.api.nvim_set_current_win(vim.fn.bufwinid(tbuf))
        put("tree_foldmethod", vim.wo.foldmethod)
        put("tree_foldlevel3", vim.fn.foldlevel(3))
        vim.api.nvim_win_set_cursor(0, { 2, 0 })
        vim.cmd("normal! zc")
        put("tree_closed", vim.fn.foldclosed(2))
        -- 8. a second profile, from a URL naming its project by slug (looked
        -- up on the fetch's request), and the diff; a URL on another host is refused
        local url = os.getenv("SC_URL") .. "/organizations/test-org/profiling/profile/backend/flamegraph/?profilerId="
          .. profiler .. "&statsPeriod=5m"
        local q = C.parse_profile_args({ url })
        put("url_query", q and (q.org .. " " .. q.project .. " " .. q.profiler_id .. " " .. tostring(q.stats_period)) or "")
        local _, other = C.parse_profile_args({ "https://my-org.sentry.io/explore/profiling/profile/1/flamegraph/?profilerId="
          .. profiler })
        put("url_other_host", other)
        C.profile({ url }, { show = false, on_done = guard(function(e2)
          put("url_profile", e2 and e2.label or "")
          C.diff({}, guard(function(dbuf)
            local dl = lines_of(dbuf)
            put("diff_first", dl[1])
            put("diff_lines", #dl)
            -- rows in the order of the change column's size (|delta|, non-increasing)
            local sorted, prev_delta = true, math.huge
            for l = 3, #dl do
              local dv = tonumber((dl[l]:match("^%s*%S+%s+%S+%s+([+-]?[%d.]+)%%")))
              if dv then
                if math.abs(dv) > prev_delta + 0.05 then sorted = false end
                prev_delta = math.abs(dv)
              end
            end
            put("diff_sorted", tostring(sorted))
            -- 9. exports
            local folded, speed = os.getenv("SC_DIR") .. "/out.folded", os.getenv("SC_DIR") .. "/out.speedscope.json"
            vim.cmd("SentryFolded " .. folded)
            vim.cmd("SentrySpeedscope " .. speed .. " main")
            local f = io.open(folded) local ft = f and f:read("*a") or "" if f then f:close() end
            local g = io.open(speed) local gt = g and g:read("*a") or "" if g then g:close() end
            put("folded_lines", select(2, ft:gsub("\n", "")))
            put("speedscope_schema", tostring(gt:find("speedscope", 1, true) ~= nil))
            -- 10. health
            vim.cmd("checkhealth sentry-chunks")
            local hl = table.concat(lines_of(0), "\n")
            put("health", hl)
            -- what :checkhealth finds of this plugin (one health module, not two)
            local found = {}
            for _, pat in ipairs { "autoload/health/*.vim", "lua/**/health.lua", "lua/**/health/init.lua" } do
              for _, f in ipairs(vim.api.nvim_get_runtime_file(pat, true)) do
                if f:find(os.getenv("SC_ROOT") or "\0", 1, true) == 1 then found[#found + 1] = f:sub(#os.getenv("SC_ROOT") + 2) end
              end
            end
            put("health_files", table.concat(found, " "))
            -- the token appears nowhere
            local seen = false
            for _, b in ipairs(vim.api.nvim_list_bufs()) do
              if vim.api.nvim_buf_is_loaded(b) and table.concat(lines_of(b), "\n"):find(token, 1, true) then seen = true end
            end
            for _, m in ipairs(messages) do if m:find(token, 1, true) then seen = true end end
            if vim.g.sentry_chunks_status:find(token, 1, true) then seen = true end
            put("token_seen", tostring(seen))
            put("messages", table.concat(messages, " | "))
            put("status_at_end", vim.g.sentry_chunks_status)
            -- 11. an analysis cancelled: its view never comes
            local tree_shown = false
            C.tree({ "all" }, function() tree_shown = true end)
            put("job_tree", tostring(C.state.job ~= nil))
            local tree_job = C.state.job
            vim.cmd("SentryCancel")
            put("tree_running_after_cancel", tostring(tree_job.handle.running()))
            put("job_tree_cancelled", tostring(C.state.job ~= nil))
            vim.defer_fn(guard(function()
              put("tree_shown_after_cancel", tostring(tree_shown))
              -- 12. views in a float
              require("sentry-chunks").setup { token_cmd = { "sh", "-c", "printf %s \"$SC_TOKEN\"" }, org = "test-org",
                project = 1, base_url = os.getenv("SC_URL"), layout = "float" }
              vim.cmd("SentryTop")
              local function wait_top()
                if C.state.job then return vim.defer_fn(guard(wait_top), 20) end
                put("float_relative", vim.api.nvim_win_get_config(0).relative)
                put("float_buf", vim.api.nvim_buf_get_name(0))
                -- 13. an error from the server is a message, not a profile
                C.profile({ "dead0000dead0000dead0000dead0000", "1h" }, { on_done = guard(function(e3, ferr)
                  put("fetch_error", tostring(e3 == nil) .. " " .. tostring(ferr))
                  put("profiles_after_error", #C.state.profiles)
                  put("job_after_error", tostring(C.state.job ~= nil))
                  -- 14. a range over 40 minutes: windows one after another, merged in slices
                  -- 14a. an iOS profile: "main" is com.apple.main-thread, not the busiest thread
                  local prep = require("sentry.chunks.nvim.analyze").prepare
                  local ios = assert(require("sentry.chunks").client { token = token, org = "test-org",
                    base_url = os.getenv("SC_URL") }:fetch { project = 1, profiler_id = "a9c3e5f7b1d24680a2c4e6f8b0d21357",
                    start = tonumber(os.getenv("SC_T0")), ["end"] = tonumber(os.getenv("SC_T0")) + 60 })
                  local ios_entry = prep(ios, {}, function() end)
                  local main_name
                  for _, t in ipairs(ios_entry.threads) do if t.id == ios_entry.main then main_name = t.name end end
                  put("ios_main", tostring(main_name))
                  local light_status
                  local t0 = tonumber(os.getenv("SC_T0"))
                  C.profile({ os.getenv("SC_LIGHT") }, { query = { start = t0 + 3600, ["end"] = t0 + 3600 + 5400 },
                    show = false, on_done = guard(function(e4, ferr4)
                    put("long_error", tostring(ferr4))
                    put("long_windows", e4 and e4.details.windows or "")
                    put("long_samples", e4 and require("sentry.chunks.nvim.analyze").sample_count(e4.chunk) or "")
                    put("long_status", tostring(light_status))
                    finish()
                  end) })
                  light_status = vim.g.sentry_chunks_status
                end) })
              end
              wait_top()
            end), 1500)
          end))
        end) })
      end))
    end
    wait_annotate()
  end) })
  put("status_after_start", vim.g.sentry_chunks_status)
end), 300)
