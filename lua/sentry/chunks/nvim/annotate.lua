-- sentry.chunks.nvim.annotate: self and total time of the chosen thread(s)
-- as virtual text at the end of the hot source lines, in every loaded
-- buffer whose file the profile names (paths as remapped by setup), and in
-- files opened later until clear() (:SentryAnnotateClear).
local M = {}
local api = vim.api

M.ns = api.nvim_create_namespace("sentry_chunks_annotate")
M.current = nil -- {lines = analyze.lines result, label}
local group

local function text(c, time)
  local function pct(x) return time > 0 and 100 * x / time or 0 end
  return string.format("  %.1f ms self (%.1f%%), %.1f ms total (%.1f%%)", c.self * 1000, pct(c.self),
    c.total * 1000, pct(c.total))
end

-- Annotates one buffer from the current annotation; returns the number of
-- lines marked.
function M.buffer(buf)
  if not M.current or not api.nvim_buf_is_valid(buf) then return 0 end
  api.nvim_buf_clear_namespace(buf, M.ns, 0, -1)
  local name = api.nvim_buf_get_name(buf)
  if name == "" then return 0 end
  local file = M.current.lines.files[vim.fn.fnamemodify(name, ":p")] or M.current.lines.files[name]
  if not file then return 0 end
  local count, last, time = 0, api.nvim_buf_line_count(buf), M.current.lines.time
  for line, c in pairs(file) do
    if line >= 1 and line <= last and (c.self > 0 or c.total > 0) then
      api.nvim_buf_set_extmark(buf, M.ns, line - 1, 0, {
        virt_text = { { text(c, time), c.self > 0 and "WarningMsg" or "Comment" } }, virt_text_pos = "eol",
      })
      count = count + 1
    end
  end
  return count
end

-- Shows lines (analyze.lines) in every loaded buffer and in buffers read
-- from now on. Returns the number of lines marked, and of buffers.
function M.show(lines, label)
  M.current = { lines = lines, label = label }
  group = api.nvim_create_augroup("sentry_chunks_annotate", { clear = true })
  api.nvim_create_autocmd({ "BufReadPost", "BufWinEnter" }, {
    group = group, callback = function(ev) M.buffer(ev.buf) end,
  })
  local marked, buffers = 0, 0
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_loaded(buf) then
      local n = M.buffer(buf)
      if n > 0 then marked, buffers = marked + n, buffers + 1 end
    end
  end
  return marked, buffers
end

-- Removes every annotation and stops annotating buffers opened later.
function M.clear()
  M.current = nil
  if group then pcall(api.nvim_del_augroup_by_id, group) group = nil end
  for _, buf in ipairs(api.nvim_list_bufs()) do
    if api.nvim_buf_is_valid(buf) then api.nvim_buf_clear_namespace(buf, M.ns, 0, -1) end
  end
end

return M
