-- Inside Neovim: the top functions of a fetched profile in a scratch buffer.
--   local show = dofile("examples/nvim_top.lua"); show(res [, limit])
-- (res from require("sentry.chunks.nvim").fetch's callback). Returns the
-- number of lines written.
local analysis = require "sentry.chunks.analysis"

return function(res, limit)
  local top = analysis.top(res, { threads = "main", limit = limit or 20 })
  local lines = {
    string.format("%d samples, %.2f s on the main thread (%s counting)", top.samples, top.time, top.mode),
    string.format("%9s %6s %9s %6s  %s", "self s", "self%", "total s", "total%", "function"),
  }
  for _, e in ipairs(top.functions) do
    lines[#lines + 1] = string.format("%9.3f %5.1f%% %9.3f %5.1f%%  %s",
      e.self, e.self_pct, e.total, e.total_pct, e.name)
  end
  vim.cmd("enew")
  vim.bo.buftype, vim.bo.bufhidden, vim.bo.swapfile = "nofile", "wipe", false
  vim.api.nvim_buf_set_lines(0, 0, -1, false, lines)
  vim.bo.modifiable = false
  return #lines
end
