-- Run by spec/nvim_spec.lua inside `nvim --headless`: fetch through
-- sentry.chunks.nvim while a 10 ms timer ticks on the same loop, then write
-- what happened to $SC_OUT and quit. Also shows the top functions in a
-- scratch buffer through examples/nvim_top.lua.
local root = os.getenv("SC_ROOT")
package.path = root .. "/lua/?.lua;" .. root .. "/lua/?/init.lua;" .. package.path
package.cpath = root .. "/build/jit/?.so;" .. package.cpath

local uv = vim.loop
local out = assert(io.open(os.getenv("SC_OUT"), "w"))
local function finish(fields)
  for k, v in pairs(fields) do out:write(k, "=", tostring(v), "\n") end
  out:close()
  vim.cmd("qa!")
end

local ok, nv = pcall(require, "sentry.chunks.nvim")
if not ok then return finish { error = nv } end

local ticks = {}
local ticker = uv.new_timer()
ticker:start(10, 10, function() ticks[#ticks + 1] = uv.hrtime() end)

local first_byte
local client = {
  token = os.getenv("SC_TOKEN"), org = "test-org", base_url = os.getenv("SC_URL"),
  -- the test server makes a 50-chunk answer before its first byte: on a
  -- busy machine that took over the default 30 s stall bound
  low_speed_time = 120,
  on_progress = function(received) if received > 0 and not first_byte then first_byte = uv.hrtime() end end,
}
local query = { project = 1, profiler_id = os.getenv("SC_PROFILER"),
                start = tonumber(os.getenv("SC_START")), ["end"] = tonumber(os.getenv("SC_END")) }
if os.getenv("SC_SPLIT") == "0" then query.split = false end -- one request, not windows

nv.fetch(client, query, function(res, err, details)
  local done = uv.hrtime()
  ticker:stop()
  if not res then return finish { error = err } end
  local during, longest, prev = 0, 0, first_byte
  for _, t in ipairs(ticks) do
    if t >= first_byte and t <= done then
      during = during + 1
      if t - prev > longest then longest = t - prev end
      prev = t
    end
  end
  if done - prev > longest then longest = done - prev end
  local top_lines = dofile(root .. "/examples/nvim_top.lua")(res, 5)
  local top_first = vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]
  -- annotate a buffer named like the file of the hottest leaf frame
  local hot = require("sentry.chunks.analysis").top(res, { mode = "textbook", limit = 1 }).functions[1]
  vim.cmd("enew")
  vim.api.nvim_buf_set_name(0, hot.frame.abs_path)
  local blank = {}
  for i = 1, (hot.frame.lineno or 1) + 10 do blank[i] = "" end
  vim.api.nvim_buf_set_lines(0, 0, -1, false, blank)
  local annotated = dofile(root .. "/examples/nvim_annotate.lua")(res, { buf = 0 })
  local ns = vim.api.nvim_create_namespace("sentry_chunks_annotate")
  local marks = #vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, {})
  local traces = nv.load_traces(res).samples
  finish {
    windows = details.windows, truncated = tostring(details.truncated),
    samples = #res.chunk.profile.samples, ticks_during = during,
    transfer_ms = string.format("%.0f", (done - first_byte) / 1e6),
    longest_gap_ms = string.format("%.1f", longest / 1e6),
    buffer_lines = top_lines, buffer_first = top_first,
    annotated = annotated, extmarks = marks, traces = #traces,
  }
end)
