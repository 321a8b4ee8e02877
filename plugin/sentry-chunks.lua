-- sentry-chunks: Neovim user commands (see :help sentry-chunks). Loading
-- this file loads nothing else: each command requires its module when run.
if vim.g.loaded_sentry_chunks then return end
vim.g.loaded_sentry_chunks = true
-- defined from the start: a 'statusline' with %{g:sentry_chunks_status}
-- would raise E121 until the first command loads the plugin's modules
if vim.g.sentry_chunks_status == nil then vim.g.sentry_chunks_status = "" end

local function cmds() return require "sentry.chunks.nvim.commands" end
local create = vim.api.nvim_create_user_command

create("SentryProfile", function(o) cmds().profile(o.fargs) end, {
  nargs = "+", desc = "sentry-chunks: fetch a profile (URL, or profiler id and period)",
  complete = function(lead, line) return cmds().complete_profile(lead, line) end,
})
create("SentryCancel", function() cmds().cancel() end, { nargs = 0, desc = "sentry-chunks: stop the fetch or analysis" })
local function view(name, fn, desc)
  create(name, function(o) cmds()[fn](o.fargs) end, {
    nargs = "*", desc = "sentry-chunks: " .. desc,
    complete = function(lead) return cmds().complete_view(lead) end,
  })
end
view("SentryTop", "top", "top functions [thread] [mode]")
view("SentryTree", "tree", "call tree [thread] [mode]")
view("SentryDiff", "diff", "newest profile against the one before [thread] [mode]")
view("SentryAnnotate", "annotate", "self and total time on source lines [thread] [mode]")
create("SentryAnnotateClear", function() cmds().annotate_clear() end, { nargs = 0, desc = "sentry-chunks: remove annotations" })
-- {file} completes as a file name, [thread] as a thread of the newest profile
local function complete_export(lead, line) return cmds().complete_export(lead, line) end
create("SentryFolded", function(o) cmds().export("folded", o.fargs) end, {
  nargs = "+", complete = complete_export, desc = "sentry-chunks: write folded stacks {file} [thread]" })
create("SentrySpeedscope", function(o) cmds().export("speedscope", o.fargs) end, {
  nargs = "+", complete = complete_export, desc = "sentry-chunks: write speedscope JSON {file} [thread]" })
