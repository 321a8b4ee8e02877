-- :checkhealth sentry-chunks (Neovim 0.7 finds lua/*/health.lua too). The
-- checks live in sentry.chunks.nvim.checkhealth: a module named health.lua
-- deeper under lua/ would be found by :checkhealth as a second plugin.
return { check = function() return require("sentry.chunks.nvim.checkhealth").check() end }
