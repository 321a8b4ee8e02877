-- Inside Neovim: self time of a fetched profile as virtual text on the
-- source lines of a buffer, as profile-annotation plugins show it.
--   local annotate = dofile("examples/nvim_annotate.lua")
--   annotate(res, { buf = 0, remap = { from = "/srv/app/", to = vim.fn.getcwd() .. "/" } })
-- A line's self time is the time of samples whose leaf frame is that line.
-- Returns the number of lines annotated.
local analysis = require "sentry.chunks.analysis"

return function(res, opts)
  opts = opts or {}
  local buf = opts.buf or 0
  if opts.remap then res = analysis.remap_paths(res, opts.remap) end
  local file = vim.api.nvim_buf_get_name(buf)
  local by_line, total = {}, 0
  for _, _, frames, w in analysis.each(res) do
    local leaf = frames[1]
    total = total + w
    if leaf and leaf.abs_path == file and type(leaf.lineno) == "number" then
      by_line[leaf.lineno] = (by_line[leaf.lineno] or 0) + w
    end
  end
  local ns = vim.api.nvim_create_namespace("sentry_chunks_annotate")
  vim.api.nvim_buf_clear_namespace(buf, ns, 0, -1)
  local count, last = 0, vim.api.nvim_buf_line_count(buf)
  for line, w in pairs(by_line) do
    if line >= 1 and line <= last then
      vim.api.nvim_buf_set_extmark(buf, ns, line - 1, 0, {
        virt_text = { { string.format("  %.1f ms self (%.1f%%)", w * 1000, total > 0 and 100 * w / total or 0), "Comment" } },
        virt_text_pos = "eol",
      })
      count = count + 1
    end
  end
  return count
end
