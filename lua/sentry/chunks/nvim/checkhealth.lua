-- sentry.chunks.nvim.checkhealth: :checkhealth sentry-chunks (through
-- lua/sentry-chunks/health.lua, Neovim 0.7 and later). Says whether the C part loads and was
-- built for LuaJIT, libcurl's version and TLS backend, where the token
-- comes from, and whether Sentry answers (one small request).
local config = require "sentry.chunks.nvim.config"

local M = {}

-- vim.health (0.10: start/ok/...; 0.8-0.9: report_*), else 0.7's health#.
local function reporter()
  local h = vim.health
  if h and h.start then return h.start, h.ok, h.warn, h.error, h.info end
  if h and h.report_start then return h.report_start, h.report_ok, h.report_warn, h.report_error, h.report_info end
  local fn = vim.fn
  return function(s) fn["health#report_start"](s) end, function(s) fn["health#report_ok"](s) end,
    function(s) fn["health#report_warn"](s) end, function(s) fn["health#report_error"](s) end,
    function(s) fn["health#report_info"](s) end
end

-- libcurl's version line ("libcurl/7.88.1 OpenSSL/3.0.11 zlib/..."),
-- through LuaJIT's FFI: the same shared library the C part links.
function M.curl_version()
  local ok, ffi = pcall(require, "ffi")
  if not ok then return nil, "no FFI" end
  pcall(ffi.cdef, "char *curl_version(void);")
  for _, name in ipairs { "libcurl.so.4", "curl" } do
    local lok, lib = pcall(ffi.load, name)
    if lok then
      local vok, v = pcall(function() return ffi.string(lib.curl_version()) end)
      if vok then return v end
    end
  end
  return nil, "libcurl not found"
end

function M.check()
  local start, ok, warn, error_, info = reporter()
  start("sentry-chunks: C part")
  local lok, core = pcall(require("sentry.chunks.loadcore").load, "sentry-chunks")
  if lok then
    ok("sentry.chunks.core " .. tostring(core.version) .. " loads into " .. (jit and jit.version or _VERSION)
      .. " (built for LuaJIT's Lua 5.1 API)")
  else
    error_(tostring(core) .. " In the plugin's directory: `make nvim`.")
  end
  local cv, cerr = M.curl_version()
  if cv then
    local tls = cv:match("[Oo]pen[Ss][Ss][Ll]/%S+") or cv:match("GnuTLS/%S+") or cv:match("mbedTLS/%S+")
      or cv:match("wolfSSL/%S+") or cv:match("[Bb]oring[Ss][Ss][Ll]%S*") or cv:match("LibreSSL/%S+")
    ok("libcurl: " .. (cv:match("libcurl/%S+") or cv) .. ", TLS: " .. (tls or "none found in `" .. cv .. "`"))
  else
    warn("libcurl's version is unknown: " .. tostring(cerr))
  end

  start("sentry-chunks: settings")
  local o = config.options
  local token, terr = config.token()
  if token then ok("token from " .. config.token_source() .. " (" .. #token .. " characters; not shown)")
  else error_("token from " .. config.token_source() .. ": " .. terr) end
  local base = o.base_url or os.getenv("SENTRY_URL") or "https://sentry.io"
  local org = o.org or os.getenv("SENTRY_ORG")
  info("base URL " .. base .. ", organization " .. tostring(org) .. ", project " .. tostring(o.project)
    .. ", thread " .. tostring(o.thread) .. ", " .. o.mode .. " counting, " .. #o.remap .. " path remap rule(s)")
  if not org then warn("no organization: setup{org = ...} or $SENTRY_ORG") end
  if o.project == nil then warn("no project: setup{project = <id or slug>} (:SentryProfile with a profiler id needs it)") end

  start("sentry-chunks: Sentry")
  if not (lok and token and org and o.project) then
    warn("not asked: the C part, the token, the organization and the project are needed first")
    return
  end
  local client = require("sentry.chunks").client(config.client_options { timeout = 15, retries = 0 })
  local list, err, details = client:profilers { project = tonumber(o.project) or o.project, stats_period = "24h" }
  client:close()
  if list then
    ok(string.format("%s answers: %d profiler(s) in project %s over the last 24 h", base, #list, tostring(o.project)))
  else
    error_(base .. " did not answer as expected: " .. tostring(err)
      .. (details and details.status and (" (HTTP " .. details.status .. ")") or ""))
  end
end

return M
