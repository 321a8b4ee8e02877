-- sentry.chunks.nvim.views: the plugin's buffers. Top functions, the call
-- tree and a diff of two profiles, each in a scratch buffer (a split, a
-- vertical split, a tab or a float: setup's layout) with
--   <CR>  open the source line under the cursor (paths as remapped by setup)
--   s     next sort key (top and diff: self, total, samples, name;
--         tree: total, self)
--   q     close
-- The tree is indented two spaces a level; each node folds with its
-- subtree (za, zc, zo, zM, zR).
local config = require "sentry.chunks.nvim.config"

local M = {}
local api = vim.api

local SORTS = {
  top = { "self", "total", "samples", "name" },
  diff = { "self", "total", "name" },
  tree = { "total", "self" },
}

-- A scratch buffer named name, shown per the layout; reused when open.
local function scratch(name)
  local buf = vim.fn.bufnr("^" .. vim.pesc(name) .. "$")
  if buf > 0 and api.nvim_buf_is_valid(buf) then
    local win = vim.fn.bufwinid(buf)
    if win ~= -1 then api.nvim_set_current_win(win) return buf end
  else
    buf = api.nvim_create_buf(false, true)
    api.nvim_buf_set_name(buf, name)
  end
  local layout = config.options.layout
  if layout == "float" then
    local w, h = math.floor(vim.o.columns * 0.8), math.floor(vim.o.lines * 0.7)
    api.nvim_open_win(buf, true, { relative = "editor", width = w, height = h, style = "minimal",
      border = "single", row = math.floor((vim.o.lines - h) / 2), col = math.floor((vim.o.columns - w) / 2) })
  else
    vim.cmd(layout == "vsplit" and "vsplit" or layout == "tab" and "tabnew" or "split")
    api.nvim_win_set_buf(0, buf)
  end
  vim.bo[buf].buftype, vim.bo[buf].bufhidden, vim.bo[buf].swapfile = "nofile", "hide", false
  vim.bo[buf].filetype = "sentrychunks"
  return buf
end

local function set_lines(buf, lines)
  vim.bo[buf].modifiable = true
  api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
end

-- Per-buffer state: what each line points at, and how to redraw.
M.buffers = {}

local function location(frame)
  if type(frame) ~= "table" then return nil end
  local path = frame.abs_path or frame.filename
  if type(path) ~= "string" then return nil end
  return path, type(frame.lineno) == "number" and frame.lineno or nil
end

-- Opens the source of the entry on the cursor's line (or line lnum):
-- returns path, line | nil, message.
function M.jump(buf, lnum)
  buf = (buf == nil or buf == 0) and api.nvim_get_current_buf() or buf
  local st = M.buffers[buf]
  lnum = lnum or api.nvim_win_get_cursor(0)[1]
  local frame = st and st.frames[lnum]
  local path, line = location(frame)
  if not path then
    local msg = frame and "this frame has no source file" or "no function on this line"
    vim.notify("sentry-chunks: " .. msg, vim.log.levels.WARN)
    return nil, msg
  end
  if vim.fn.filereadable(path) ~= 1 then
    local msg = "no file " .. path .. " here (set remap in setup{} to map the profile's paths to this checkout)"
    vim.notify("sentry-chunks: " .. msg, vim.log.levels.WARN)
    return nil, msg
  end
  local from = api.nvim_get_current_win()
  if api.nvim_win_get_config(from).relative ~= "" then api.nvim_win_close(from, false) end
  vim.cmd("wincmd p")
  if api.nvim_get_current_win() == from or vim.bo.filetype == "sentrychunks" then vim.cmd("split") end
  vim.cmd("edit " .. vim.fn.fnameescape(path))
  if line then
    api.nvim_win_set_cursor(0, { math.min(line, api.nvim_buf_line_count(0)), 0 })
    vim.cmd("normal! zz")
  end
  return path, line
end

local function keymaps(buf)
  local function map(lhs, fn) vim.keymap.set("n", lhs, fn, { buffer = buf, nowait = true, silent = true }) end
  map("<CR>", function() M.jump(buf) end)
  map("s", function() M.cycle_sort(buf) end)
  map("q", function() vim.cmd("close") end)
end

local function fmt_s(x) return string.format("%9.3f", x) end

local function render_top(st)
  local top, key = st.data, st.sort
  local rows = {}
  for i, e in ipairs(top.functions) do rows[i] = e end
  table.sort(rows, function(a, b)
    if key == "name" then if a.name ~= b.name then return a.name < b.name end
    elseif key == "samples" then
      if a.total_samples ~= b.total_samples then return a.total_samples > b.total_samples end
    elseif a[key] ~= b[key] then return a[key] > b[key] end
    return a.key < b.key
  end)
  local limit = config.options.limit
  local lines = {
    string.format("%s: %d samples, %.2f s, %s (%s counting); sorted by %s", st.label, top.samples, top.time,
      st.threads, top.mode, key),
    string.format("%9s %6s %9s %6s %8s  %s", "self s", "self%", "total s", "total%", "samples", "function  (file:line)"),
  }
  local frames = {}
  for i, e in ipairs(rows) do
    if i > limit then
      lines[#lines + 1] = string.format("... %d more functions (setup{limit = ...})", #rows - limit)
      break
    end
    local path, line = location(e.frame)
    lines[#lines + 1] = string.format("%s %5.1f%% %s %5.1f%% %8d  %s%s", fmt_s(e.self), e.self_pct, fmt_s(e.total),
      e.total_pct, e.total_samples, e.name, path and ("  (" .. vim.fn.fnamemodify(path, ":~:.") .. (line and (":" .. line) or "") .. ")") or "")
    frames[#lines] = e.frame
  end
  return lines, frames
end

local function render_diff(st)
  local d, key = st.data, st.sort
  local rows = {}
  for i, e in ipairs(d.functions) do rows[i] = e end
  table.sort(rows, function(a, b)
    if key == "name" then if a.name ~= b.name then return a.name < b.name end
    else -- the change of the shares shown (seconds would rank by the profiles' lengths)
      local x, y = math.abs(a[key .. "_pct_delta"]), math.abs(b[key .. "_pct_delta"])
      if x ~= y then return x > y end
    end
    return a.key < b.key
  end)
  local lines = {
    string.format("%s; %s (%s counting); a: %.2f s, b: %.2f s; sorted by %s change", st.label, st.threads, d.mode,
      d.a.time, d.b.time, key),
    string.format("%8s %8s %8s %9s %9s  %s", "self% a", "self% b", "delta", "total% a", "total% b", "function"),
  }
  local frames = {}
  for i, r in ipairs(rows) do
    if i > config.options.limit then break end
    lines[#lines + 1] = string.format("%7.1f%% %7.1f%% %+7.1f%% %8.1f%% %8.1f%%  %s", r.self_pct_a, r.self_pct_b,
      r[(key == "total" and "total" or "self") .. "_pct_delta"], r.total_pct_a, r.total_pct_b, r.name)
    frames[#lines] = r.frame
  end
  return lines, frames
end

local function render_tree(st)
  local root, key = st.data, st.sort
  local min = config.options.tree_min_pct
  local lines = {
    string.format("%s: call tree, %s (%s counting); nodes under %.1f%% left out; za folds, sorted by %s",
      st.label, st.threads, st.mode, min, key),
  }
  local frames, hidden = {}, 0
  local total = root.total > 0 and root.total or 1
  local function walk(node, depth)
    local kids = {}
    for i, c in ipairs(node.children) do kids[i] = c end
    table.sort(kids, function(a, b)
      if a[key] ~= b[key] then return a[key] > b[key] end
      return a.key < b.key
    end)
    for _, c in ipairs(kids) do
      if 100 * c.total / total < min then
        hidden = hidden + 1
      else
        local path, line = location(c.frame)
        lines[#lines + 1] = string.format("%s%5.1f%% %s s total %s s self  %s%s", string.rep("  ", depth),
          100 * c.total / total, fmt_s(c.total), fmt_s(c.self), c.name,
          path and ("  (" .. vim.fn.fnamemodify(path, ":t") .. (line and (":" .. line) or "") .. ")") or "")
        frames[#lines] = c.frame
        walk(c, depth + 1)
      end
    end
  end
  walk(root, 0)
  if hidden > 0 then lines[#lines + 1] = string.format("(%d nodes under %.1f%% not shown)", hidden, min) end
  return lines, frames
end

local RENDER = { top = render_top, diff = render_diff, tree = render_tree }

local function draw(buf)
  local st = M.buffers[buf]
  local lines, frames = RENDER[st.kind](st)
  st.frames = frames
  set_lines(buf, lines)
  return #lines
end

function M.cycle_sort(buf)
  buf = (buf == nil or buf == 0) and api.nvim_get_current_buf() or buf
  local st = M.buffers[buf]
  if not st then return end
  local keys = SORTS[st.kind]
  for i, k in ipairs(keys) do
    if k == st.sort then st.sort = keys[i % #keys + 1] break end
  end
  draw(buf)
  return st.sort
end

-- show(kind, data, info) -> buf: kind "top" | "tree" | "diff"; info =
-- {label, threads (words), mode}.
function M.show(kind, data, info)
  local buf = scratch("sentry://" .. kind)
  M.buffers[buf] = { kind = kind, data = data, label = info.label, threads = info.threads, mode = info.mode,
                     sort = SORTS[kind][1], frames = {} }
  keymaps(buf)
  draw(buf)
  if kind == "tree" then
    -- a node's fold holds its line and its subtree: za on a node folds it
    vim.wo.foldmethod, vim.wo.foldlevel = "expr", 99
    vim.wo.foldexpr = "v:lnum == 1 ? 0 : '>' . (indent(v:lnum) / 2 + 1)"
  end
  api.nvim_win_set_cursor(0, { math.min(kind == "tree" and 2 or 3, api.nvim_buf_line_count(buf)), 0 })
  return buf
end

return M
