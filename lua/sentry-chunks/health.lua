-- :checkhealth sentry-chunks on Neovim 0.8 and later.
return { check = function() return require("sentry.chunks.nvim.health").check() end }
