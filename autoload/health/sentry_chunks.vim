" :checkhealth sentry_chunks on Neovim 0.7 (0.8+ uses lua/sentry-chunks/health.lua).
function! health#sentry_chunks#check() abort
  lua require("sentry.chunks.nvim.health").check()
endfunction
