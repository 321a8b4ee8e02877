-- Starts the fake Sentry (spec/server/sentry_server.lua, always under LuaJIT)
-- as a child of the running busted, whatever Lua runs busted:
--
--   local server = require "support.server"
--   local srv = server.start { tls = true, now = 1779969600 }
--   -- srv.url, srv.https_url, srv.ca_file, srv.token, srv.org,
--   -- srv.project, srv.profiler_ids, srv.start_ts, srv.end_ts, srv.now
--   srv.stop()
--
-- The child is started through io.popen with `exec`, so the server process
-- itself is our child: it sees getppid() change and exits if busted dies.
-- stop() sends SIGTERM by pid and then closes the pipe, which reaps it.
-- Only POSIX shell tools are used here (no lua-posix: 5.4 has none packaged).

local M = {}

M.TOKEN = "sntrys_testtoken_0123456789abcdef"
M.ORG = "test-org"
M.ORG_NO_PROFILING = "no-profiling"
M.PROJECT = 1
M.PROJECT_FORBIDDEN = 2
M.T0 = 1779955200
M.END = M.T0 + 4 * 3600
M.PROFILER_IDS = {
  realistic = "6a1f0c3e9b8d4f2a8e7c5b3d1f0e9a87", -- python, 4 threads, 101 Hz, 240 chunks
  service = "5e7a1c9d3b6f4a2e8c0d7b5a3f1e9c64",   -- python, 10 threads, 101 Hz, 60 chunks
  ios = "a9c3e5f7b1d24680a2c4e6f8b0d21357",       -- cocoa, 8 threads, 101 Hz, 60 chunks
  light = "3b9e1d7c5a2f4e6b8d0c1a3e5f7b9d2c",     -- 1 thread, 5 Hz, 240 chunks
  single = "c0ffee00c0ffee00c0ffee00c0ffee00",    -- one chunk, [T0+600, T0+660)
  missing = "dead0000dead0000dead0000dead0000",   -- its chunk is missing: 404
  recent = "4ece0700000000000000000000000000",    -- like light, the 4 h before `now`
  day = "da7da7da7da7da7da7da7da7da7da7da",       -- python, 4 threads, 1,440 chunks (24 h)
}

local START_TIMEOUT = 10

local function shell_quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end

local function run(cmd)
  local ok = os.execute(cmd)
  -- 5.1 returns the status number, 5.2+ returns true/nil.
  return ok == true or ok == 0
end

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function sleep(seconds)
  os.execute("sleep " .. seconds)
end

-- The repository root, from this file's own path (spec/support/server.lua).
local function repo_root()
  local source = debug.getinfo(1, "S").source:gsub("^@", "")
  local dir = source:match("^(.*)/spec/support/[^/]*$")
  if dir then return dir end
  return "."
end

local function make_temp_dir()
  local p = io.popen("mktemp -d /tmp/sentry-chunks-server.XXXXXX")
  local dir = p:read("*l")
  p:close()
  assert(dir and dir ~= "", "mktemp -d failed")
  return dir
end

-- A throwaway CA and a server certificate for 127.0.0.1 and localhost.
local function make_certificates(dir)
  local q = function(name) return shell_quote(dir .. "/" .. name) end
  local ext = dir .. "/server.ext"
  local f = assert(io.open(ext, "w"))
  f:write("subjectAltName=IP:127.0.0.1,DNS:localhost\n",
    "basicConstraints=critical,CA:FALSE\n",
    "keyUsage=critical,digitalSignature,keyEncipherment\n",
    "extendedKeyUsage=serverAuth\n")
  f:close()
  local quiet = " >/dev/null 2>&1"
  local ok = run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
      .. " -keyout " .. q("ca.key") .. " -out " .. q("ca.pem") .. " -days 2"
      .. " -subj '/CN=sentry-chunks test CA'"
      .. " -addext 'basicConstraints=critical,CA:TRUE'"
      .. " -addext 'keyUsage=critical,keyCertSign,cRLSign'" .. quiet)
    and run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
      .. " -keyout " .. q("server.key") .. " -out " .. q("server.csr")
      .. " -subj '/CN=127.0.0.1'" .. quiet)
    and run("openssl x509 -req -in " .. q("server.csr") .. " -CA " .. q("ca.pem")
      .. " -CAkey " .. q("ca.key") .. " -CAcreateserial -out " .. q("server.pem")
      .. " -days 2 -extfile " .. shell_quote(ext) .. quiet)
  assert(ok, "openssl could not make the test certificates")
  return dir .. "/ca.pem", dir .. "/server.pem", dir .. "/server.key"
end

-- options: tls (false), now (epoch; the server's default is the data's end),
-- idle (seconds without a request before the server leaves; 120),
-- disk_cache (a folder where 200 answers are kept as files and served from).
function M.start(options)
  options = options or {}
  local dir = make_temp_dir()
  local port_file, tls_port_file = dir .. "/port", dir .. "/tls-port"
  local pid_file, log_file = dir .. "/pid", dir .. "/server.log"
  local root = repo_root()
  local args = {
    "exec env -u LD_PRELOAD luajit",  -- the server is not under test: no sanitizer
    shell_quote(root .. "/spec/server/sentry_server.lua"),
    "--port 0 --port-file", shell_quote(port_file), "--pid-file", shell_quote(pid_file),
  }
  local ca_file
  if options.tls then
    local cert, key
    ca_file, cert, key = make_certificates(dir)
    args[#args + 1] = "--tls-port 0 --tls-port-file " .. shell_quote(tls_port_file)
      .. " --cert " .. shell_quote(cert) .. " --key " .. shell_quote(key)
  end
  if options.now then args[#args + 1] = "--now " .. string.format("%d", options.now) end
  if options.idle then args[#args + 1] = "--idle " .. string.format("%d", options.idle) end
  if options.disk_cache then args[#args + 1] = "--disk-cache " .. shell_quote(options.disk_cache) end
  -- .ci/test.sh: one folder of generated answers for every server of the run
  local answer_cache = os.getenv("SENTRY_CHUNKS_ANSWER_CACHE")
  if answer_cache and answer_cache ~= "" and not options.disk_cache then
    args[#args + 1] = "--answer-cache " .. shell_quote(answer_cache)
  end
  args[#args + 1] = "</dev/null >" .. shell_quote(log_file) .. " 2>&1"
  local pipe = assert(io.popen(table.concat(args, " "), "r"))

  local port
  local waited = 0
  while waited < START_TIMEOUT do
    local text = read_file(port_file)
    port = text and tonumber(text:match("%d+"))
    if port then break end
    sleep(0.05)
    waited = waited + 0.05
  end
  local pid = tonumber((read_file(pid_file) or ""):match("%d+") or "")
  local handle = {
    token = M.TOKEN, org = M.ORG, project = M.PROJECT,
    profiler_ids = M.PROFILER_IDS, start_ts = M.T0, end_ts = M.END,
    now = options.now or M.END, dir = dir, pid = pid, ca_file = ca_file,
  }
  local stopped = false
  function handle.stop()
    if stopped then return end
    stopped = true
    if pid then run("kill " .. pid .. " 2>/dev/null") end
    pipe:close()
    run("rm -rf " .. shell_quote(dir))
  end
  if not port then
    local log = read_file(log_file) or ""
    handle.stop()
    error("the test server did not start within " .. START_TIMEOUT .. " s: " .. log)
  end
  handle.port = port
  handle.url = "http://127.0.0.1:" .. port
  if options.tls then
    local tls_port = tonumber((read_file(tls_port_file) or ""):match("%d+") or "")
    handle.tls_port = tls_port
    handle.https_url = "https://127.0.0.1:" .. tls_port
  end
  return handle
end

return M
