-- require("sentry-chunks"): the plugin's entry point for lazy.nvim's
-- `opts` (setup) and for statuslines (status).
local M = {}
function M.setup(opts) return require("sentry.chunks.nvim.config").setup(opts) end
function M.status() return require("sentry.chunks.nvim.commands").status() end
return M
