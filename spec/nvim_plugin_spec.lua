-- The Neovim plugin (plugin/, lua/sentry/chunks/nvim/, doc/) in headless
-- Neovim (Debian's): installed as a plugin manager would (the checkout on
-- 'runtimepath', the LuaJIT core found under lua/ of a runtimepath entry,
-- no package.cpath edit), driven through its commands against the test
-- server by spec/nvim/plugin_test.lua.
local server = require "support.server"

local has_nvim = os.execute("command -v nvim >/dev/null 2>&1")
has_nvim = has_nvim == true or has_nvim == 0
local runner = os.getenv("SENTRY_CHUNKS_TEST_LUA")
local this_pass = runner == nil or runner == "luajit"
local root = os.getenv("PWD")

local function tmpdir()
  local p = io.popen("mktemp -d /tmp/sentry-chunks-plugin.XXXXXX")
  local d = p:read("*l")
  p:close()
  return d
end

local function sh(cmd)
  local ok = os.execute(cmd)
  return ok == true or ok == 0
end

local function read_result(path)
  local r = {}
  local f = io.open(path)
  if not f then return r end
  for line in f:lines() do
    local k, v = line:match("^([%w_]+)=(.*)$")
    if k then r[k] = v:gsub("\\n", "\n") end
  end
  f:close()
  return r
end

describe("Neovim plugin", function()
  if not has_nvim then
    pending("nvim is not installed")
    return
  end
  if not this_pass then return end

  local srv, dir, r
  setup(function()
    srv = server.start()
    dir = tmpdir()
    -- the core where `make nvim` puts it, in a runtimepath entry of its own
    assert(sh("mkdir -p " .. dir .. "/rtp/lua/sentry/chunks " .. dir .. "/src && cp " .. root
      .. "/build/jit/sentry/chunks/core.so " .. dir .. "/rtp/lua/sentry/chunks/core.so"))
    sh(string.format("cd %s && env -u LD_PRELOAD -u LUA_CPATH -u LUA_PATH -u LUA_CPATH_5_1 -u LUA_PATH_5_1 SC_OUT=%s/out SC_DIR=%s SC_SRC=%s/src SC_URL=%s SC_TOKEN=%s "
      .. "SC_ROOT=%s SC_T0=%d SC_LIGHT=%s SC_PROFILER=%s timeout 180 nvim --headless --clean --cmd 'set rtp^=%s' --cmd 'set rtp+=%s/rtp' "
      .. "-c 'luafile %s/spec/nvim/plugin_test.lua' >/dev/null 2>&1",
      dir, dir, dir, dir, srv.url, srv.token, root, server.T0, server.PROFILER_IDS.light, server.PROFILER_IDS.realistic, root, dir, root))
    r = read_result(dir .. "/out")
  end)
  teardown(function()
    if srv then srv.stop() end
    if dir then sh("rm -rf " .. dir) end
  end)

  it("ran to the end", function()
    assert.is_nil(r.error)
    assert.is_not_nil(r.messages)
  end)

  it("registers its commands; the core is found through the runtimepath", function()
    for _, c in ipairs { "SentryProfile", "SentryCancel", "SentryTop", "SentryTree", "SentryDiff",
                         "SentryAnnotate", "SentryAnnotateClear", "SentryFolded", "SentrySpeedscope" } do
      assert.truthy(r.commands:find(c .. ":2", 1, true), c)
    end
    -- the checkout's own (after `make nvim`) or the one in the extra entry
    assert.truthy(r.core_path == dir .. "/rtp/lua/sentry/chunks/core.so"
      or r.core_path == root .. "/lua/sentry/chunks/core.so", r.core_path)
    assert.equal("false", r.cpath_has_build)
  end)

  it("defines g:sentry_chunks_status at startup (a statusline naming it raises no E121)", function()
    assert.equal('""', r.status_at_startup)
  end)

  it("setup{} refuses an unknown option as a caller's mistake", function()
    assert.equal("false bad argument #1 to 'setup' (unknown option 'bogus')", r.setup_bad)
  end)

  it("completes threads and modes, and periods", function()
    assert.equal("main all sentry textbook", r.complete_before)
    assert.equal("main all 139638335241024 export-consumer 139638343633728 sentry.profiler.ThreadContinuousScheduler "
      .. "139638352026432 ThreadPoolExecutor-0_0 139638375302976 MainThread sentry textbook", r.complete_after)
    assert.equal("textbook", r.complete_t)
    assert.equal("15m 1h", r.complete_period)
    -- :SentryFolded / :SentrySpeedscope: a file first, then a thread (no modes)
    assert.equal("MainThread", r.complete_export_thread)
    assert.equal(dir .. "/out", r.complete_export_file)
  end)

  it(":SentryCancel stops the fetch: no job, no profile", function()
    assert.equal("true", r.job_after_start)
    assert.equal("false", r.job_after_cancel)
    assert.equal("0", r.profiles_after_cancel)
    assert.truthy(r.messages:find("cancelled: fetching 6a1f0c3e (30m)", 1, true))
  end)

  it(":SentryCancel stops an analysis: its view never comes", function()
    assert.equal("true", r.job_tree)
    assert.equal("false", r.job_tree_cancelled)
    assert.equal("false", r.tree_shown_after_cancel)
    assert.equal("false", r.tree_running_after_cancel) -- the coroutine is resumed no more
  end)

  it("setup{layout = 'float'} opens the views in a float", function()
    assert.equal("editor", r.float_relative)
    assert.equal("sentry://top", r.float_buf)
  end)

  it(":SentryProfile with a bad argument says how to call it", function()
    assert.matches("usage: :SentryProfile {url | profiler_id %[period%]}", r.usage_message)
  end)

  it(":SentryProfile fetches and shows the top functions of the main thread", function()
    assert.equal("242400", r.samples) -- 10 chunks, 4 threads at 101 Hz
    assert.equal("4", r.threads)
    assert.equal("sentry://top", r.top_name)
    assert.equal("6a1f0c3e (10m): 60599 samples, 599.99 s, thread MainThread (139638375302976) (sentry counting); sorted by self",
      r.top_first)
    assert.equal(143, tonumber(r.top_lines)) -- header, column names, the thread's 141 functions (under the 200-row limit)
    assert.matches("^%s+[%d.]+%s+[%d.]+%%%s+[%d.]+%s+[%d.]+%%%s+%d+  %S", r.top_row)
    assert.equal("total", r.sort_next)
    assert.matches("sorted by total$", r.top_first_sorted)
  end)

  it("shows its progress in g:sentry_chunks_status, empty once done", function()
    assert.equal("sentry: fetching…", r.status_after_start)
    assert.matches("sentry: ", r.statuses) -- seen by a 10 ms timer while it ran
    assert.equal("", r.status_at_end)
  end)

  it("<CR> opens the source line, through the path remap", function()
    assert.matches("^" .. dir:gsub("%p", "%%%0") .. "/src/shopapi/.+%.py:%d+$", r.jump_target)
    assert.equal(r.jump_target, r.jumped_to)
  end)

  it(":SentryAnnotate puts self and total time on hot lines; :SentryAnnotateClear removes them", function()
    assert.is_true(tonumber(r.annotations) >= 1)
    assert.matches("^  [%d.]+ ms self %([%d.]+%%%), [%d.]+ ms total %([%d.]+%%%)$", r.annotation_line)
    assert.equal("0", r.annotations_cleared)
  end)

  it(":SentryTree shows the call tree, nodes folding with their subtree", function()
    assert.matches("call tree, thread MainThread %(139638375302976%) %(textbook counting%)", r.tree_first)
    assert.matches("^100%.0%%%s+[%d.]+ s total", r.tree_second)
    assert.matches("^  [%d.]+%%", r.tree_third) -- a child, indented
    assert.equal("expr", r.tree_foldmethod)
    assert.equal("2", r.tree_foldlevel3)
    assert.equal("2", r.tree_closed)
  end)

  it(":SentryProfile takes a Sentry URL on the configured host, and refuses one elsewhere", function()
    assert.equal("test-org backend " .. server.PROFILER_IDS.realistic .. " 5m", r.url_query)
    assert.equal("the URL is on https://sentry.io but setup's base_url is " .. srv.url, r.url_other_host)
    assert.equal("6a1f0c3e (5m)", r.url_profile)
  end)

  it("a failed fetch is a message: no profile added, no job left", function()
    assert.matches("^true %S", r.fetch_error)
    assert.equal("2", r.profiles_after_error)
    assert.equal("false", r.job_after_error)
  end)

  it(":SentryProfile over 40 minutes fetches windows one after another and merges them", function()
    assert.equal("nil", r.long_error)
    assert.equal("3", r.long_windows) -- 90 minutes: 40 + 40 + 10
    assert.equal(tostring(90 * 60 * 5), r.long_samples) -- 1 thread at 5 Hz, every minute of the range
    assert.equal("sentry: fetching…", r.long_status)
  end)

  it("the default thread of an iOS profile is com.apple.main-thread", function()
    assert.equal("com.apple.main-thread", r.ios_main)
  end)

  it(":SentryDiff compares the newest profile with the one before", function()
    assert.matches("^b 6a1f0c3e %(5m%) against a 6a1f0c3e %(10m%); thread MainThread %(139638375302976%)", r.diff_first)
    assert.is_true(tonumber(r.diff_lines) > 2)
    assert.equal("true", r.diff_sorted) -- by the change shown (shares), not by seconds
  end)

  it(":SentryFolded and :SentrySpeedscope write files", function()
    assert.is_true(tonumber(r.folded_lines) > 0)
    assert.equal("true", r.speedscope_schema)
  end)

  it(":checkhealth reports the core, libcurl, the token source and Sentry's answer", function()
    local h = r.health
    assert.truthy(h:find("OK: sentry.chunks.core 0.1.0 loads into LuaJIT", 1, true), h)
    assert.matches("OK: libcurl: libcurl/[%d.]+, TLS: %S+", h)
    assert.truthy(h:find("OK: token from the command `sh -c", 1, true), h)
    assert.truthy(h:find("OK: " .. srv.url .. " answers: ", 1, true), h)
    assert.truthy(h:find("sentry-chunks: require(\"sentry-chunks.health\").check()", 1, true), h)
    assert.equal("lua/sentry-chunks/health.lua", r.health_files) -- one section in :checkhealth, not two
  end)

  it("the token appears in no buffer, message or status", function()
    assert.equal("false", r.token_seen)
  end)

  it("the help file's tags are valid (:helptags succeeds)", function()
    local d = tmpdir()
    assert(sh("cp -r " .. root .. "/doc " .. d .. "/"))
    local out = d .. "/result"
    sh("env -u LD_PRELOAD -u LUA_CPATH -u LUA_PATH -u LUA_CPATH_5_1 -u LUA_PATH_5_1 timeout 30 nvim --headless --clean -c 'try | helptags " .. d
      .. "/doc | call writefile([\"ok\"], \"" .. out .. "\") | catch | call writefile([v:exception], \"" .. out
      .. "\") | endtry | qa!' >/dev/null 2>&1")
    local f = io.open(out)
    local text = f and f:read("*a") or ""
    if f then f:close() end
    local tags = io.open(d .. "/doc/tags")
    local tag_text = tags and tags:read("*a") or ""
    if tags then tags:close() end
    sh("rm -rf " .. d)
    assert.equal("ok\n", text)
    for _, tag in ipairs { "sentry-chunks", ":SentryProfile", ":SentryCancel", ":SentryTop", ":SentryTree",
                           ":SentryDiff", ":SentryAnnotate", ":SentryAnnotateClear", ":SentryFolded",
                           ":SentrySpeedscope", "sentry-chunks-setup", "sentry-chunks-health" } do
      assert.truthy(tag_text:find(tag .. "\t", 1, true), tag)
    end
  end)

  it("`make nvim` puts the LuaJIT core at lua/sentry/chunks/core.so, which plain Neovim requires", function()
    assert.is_true(sh("cd " .. root .. " && make -s nvim >/dev/null 2>&1"))
    -- run again (a plugin manager's update), the file is replaced by a rename, not
    -- rewritten in place: an editor that has the old one loaded keeps a valid mapping
    local function inode()
      local p = io.popen("stat -c %i " .. root .. "/lua/sentry/chunks/core.so")
      local i = p:read("*l")
      p:close()
      return i
    end
    local before = inode()
    assert.is_true(sh("cd " .. root .. " && make -s nvim >/dev/null 2>&1"))
    assert.is_not_nil(before)
    assert.are_not.equal(before, inode())
    local out = os.tmpname()
    sh("env -u LD_PRELOAD -u LUA_CPATH -u LUA_PATH -u LUA_CPATH_5_1 -u LUA_PATH_5_1 timeout 30 nvim --headless -u NONE --cmd 'set rtp^=" .. root .. "' -c 'lua "
      .. "local ok, c = pcall(require, \"sentry.chunks.core\") "
      .. "local f = io.open(\"" .. out .. "\", \"w\") f:write(ok and tostring(c.version) or tostring(c)) f:close()' "
      .. "-c 'qa!' >/dev/null 2>&1")
    local f = io.open(out)
    local text = f and f:read("*a") or ""
    if f then f:close() end
    os.remove(out)
    assert.equal("0.1.0", text)
  end)
end)
