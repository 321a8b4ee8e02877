-- sentry.chunks.nvim.config: the plugin's settings (setup{}), and the
-- token, which is looked up when a fetch needs it and kept in memory only
-- (never written to disk, never shown).
--
--   require("sentry-chunks").setup {
--     token_env = "SENTRY_AUTH_TOKEN",          -- an environment variable, or
--     token_cmd = { "pass", "show", "sentry" },  -- a command that prints it
--     org = "my-org", project = 1, base_url = "https://sentry.io",
--     remap = { { from = "/srv/app/", to = "~/src/app/" } },
--     thread = "main", mode = "sentry", period = "1h",
--   }
local M = {}

local DEFAULTS = {
  token_env = "SENTRY_AUTH_TOKEN", token_cmd = nil, org = nil, project = nil, base_url = nil,
  remap = {}, thread = "main", mode = "sentry", period = "1h", limit = 200,
  tree_min_pct = 0.5, budget_ms = 8, layout = "split", timeout = 60, ca_file = nil,
}
local TYPES = {
  token_env = "string", token_cmd = { string = true, table = true }, org = "string",
  project = { number = true, string = true }, base_url = "string", remap = "table",
  thread = { string = true, number = true }, mode = "string", period = "string", limit = "number",
  tree_min_pct = "number", budget_ms = "number", layout = "string", timeout = "number", ca_file = "string",
}
local LAYOUTS = { split = true, vsplit = true, tab = true, float = true }

local function copy(t)
  local out = {}
  for k, v in pairs(t) do out[k] = v end
  return out
end

M.options = copy(DEFAULTS)
local token_cache -- the token a command printed, for this session only

local function bad(msg) error("bad argument #1 to 'setup' (" .. msg .. ")", 3) end

-- setup(opts): unknown options and wrong types are a caller's mistake.
function M.setup(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then bad("table expected, got " .. type(opts)) end
  for k, v in pairs(opts) do
    local want = TYPES[k]
    if not want then bad("unknown option '" .. tostring(k) .. "'") end
    local ok = type(want) == "table" and want[type(v)] or type(v) == want
    if not ok then
      local expected = type(want) == "table" and table.concat(vim.tbl_keys(want), " or ") or want
      bad("option '" .. k .. "': " .. expected .. " expected, got " .. type(v))
    end
  end
  if opts.token then bad("unknown option 'token' (use token_env or token_cmd: a token is never kept in a config)") end
  if opts.mode and opts.mode ~= "sentry" and opts.mode ~= "textbook" then
    bad("option 'mode': 'sentry' or 'textbook' expected, got '" .. opts.mode .. "'")
  end
  if opts.layout and not LAYOUTS[opts.layout] then
    bad("option 'layout': split, vsplit, tab or float expected, got '" .. opts.layout .. "'")
  end
  local remap = opts.remap
  if remap then
    if remap.from then remap = { remap } end
    for i, r in ipairs(remap) do
      if type(r) ~= "table" or type(r.from) ~= "string" or type(r.to) ~= "string" then
        bad("option 'remap': rule " .. i .. " must be {from = string, to = string}")
      end
    end
  end
  local o = copy(DEFAULTS)
  for k, v in pairs(opts) do o[k] = v end
  if remap then
    o.remap = {}
    for i, r in ipairs(remap) do o.remap[i] = { from = r.from, to = vim.fn.expand(r.to) } end
  end
  M.options = o
  token_cache = nil
  return o
end

-- The token: token_cmd's output when set (run once per session), else the
-- environment variable. Returns token | nil, message (never the token).
function M.token()
  local o = M.options
  if o.token_cmd then
    if token_cache then return token_cache end
    local out = vim.fn.system(o.token_cmd)
    if vim.v.shell_error ~= 0 then
      return nil, "token_cmd failed (exit status " .. vim.v.shell_error .. ")"
    end
    out = (out or ""):gsub("^%s+", ""):gsub("%s+$", "")
    if out == "" or out:find("[\r\n]") then return nil, "token_cmd printed no token (one line expected)" end
    token_cache = out
    return out
  end
  local v = os.getenv(o.token_env)
  if v == nil or v == "" then return nil, "no token: $" .. o.token_env .. " is not set (or set token_cmd)" end
  return v
end

-- Where the token comes from, in words (for :checkhealth), never the token.
function M.token_source()
  local o = M.options
  if o.token_cmd then
    local cmd = type(o.token_cmd) == "table" and table.concat(o.token_cmd, " ") or o.token_cmd
    return "the command `" .. cmd .. "`"
  end
  return "the environment variable $" .. o.token_env
end

-- Client options for sentry.chunks.nvim.fetch (the token included).
function M.client_options(extra)
  local token, err = M.token()
  if not token then return nil, err end
  local o = M.options
  local c = { token = token, org = o.org, base_url = o.base_url, timeout = o.timeout, ca_file = o.ca_file }
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

return M
