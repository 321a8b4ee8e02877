-- Realistic Sentry continuous-profiling chunks, deterministic on every Lua.
--
-- As a module (require "gen" with bench/?.lua on LUA_PATH):
--   gen.chunk_table(params)        one chunk as Lua tables (the stored shape)
--   gen.merge(chunks, start, end_) the merged chunk, as the server merges
--   gen.answer(chunks, start, end_) {chunk = merged, debug_chunk_ids = {...}}
--   gen.encode(answer)             JSON text of an answer (or of any value)
--   gen.repr(x)                    a number as Python's repr() writes it
--   gen.threads(params)            the threads of a profiler: {{id, name}, ...}
--   gen.null                       the JSON null (cjson.null when available)
--   gen.array(t)                   marks t as a JSON array (so {} is [])
--   gen.T0                         default epoch of chunk 0 (2026-05-28T08:00Z)
--   gen.DEFAULT_PROFILER           the profiler id used when none is given
--   gen.DEFAULT_THREADS            {python = 10, cocoa = 8}
-- As a command:
--   lua bench/gen.lua --chunks 50 [--threads N] [--seed N] [--hz 101]
--                     [--profiler HEX32] [--start EPOCH] [--platform python|cocoa]
--   writes the merged answer of N consecutive chunks starting at --start.
--
-- What the data looks like (measured on real profiles, see
-- shared/fixtures/README.md, and checked by spec/gen_stats_spec.lua):
-- * a program: one fixed set of threads per profiler (python: a gunicorn
--   sync worker's MainThread serving a Flask app "shopapi", an export
--   ThreadPoolExecutor, the SDK's sampler, monitor and background worker, a
--   queue consumer, a cache refresher, a rates poller and short-lived threads
--   that have no thread_metadata entry; cocoa: an iOS app's main run loop,
--   GCD workers, UIKit's event fetch thread, the URL loader, ...);
-- * each thread draws its stacks from its own pool of call paths (a few
--   hundred in all): one or two "home" stacks (a wait, a selector, a sleep,
--   or for the busy threads their CPU hot path) take most draws, the rest
--   have Zipf-like weights (1 / (rank + 20)); a thread keeps its previous stack with a
--   per-thread probability, so 75-95% of samples repeat the previous one;
-- * every chunk of one profiler uses the same pools, so later chunks reuse
--   nearly all stacks of earlier ones; each chunk lists only the frames and
--   stacks it uses, in first-use order (as the SDK writes them);
-- * one timestamp per tick (101 Hz, a little jitter) shared by every thread
--   sampled in that tick, written as Python writes a float (shortest repr).
--
-- Why everything here is hand-rolled:
-- * the PRNG is Park-Miller (x * 48271 mod 2^31-1); every product stays below
--   2^53, so doubles (5.1, LuaJIT) and integers (5.3, 5.4) give the same
--   sequence and every Lua writes byte-identical JSON;
-- * numbers are formatted with %d and %.Ng, never tostring(), because 5.3+
--   prints integral floats as "3.0" and cjson keeps only 14 digits, which
--   loses the digits of a Unix timestamp.
-- Portability: no `//`, no bit operators, no goto (one source for all Luas).

local floor, format, concat = math.floor, string.format, table.concat
local byte, sort = string.byte, table.sort

local gen = {}

gen.T0 = 1779955200
gen.DEFAULT_PROFILER = "6a1f0c3e9b8d4f2a8e7c5b3d1f0e9a87"
gen.DEFAULT_THREADS = { python = 10, cocoa = 8 }
gen.MAX_DEPTH = 128

local has_cjson, cjson = pcall(require, "cjson")
gen.null = has_cjson and cjson.null or setmetatable({}, { __tostring = function() return "null" end })

local array_mt = { __name = "json array" }
gen.array_mt = array_mt
function gen.array(t)
  return setmetatable(t or {}, array_mt)
end

-- PRNG ---------------------------------------------------------------------

local MODULUS = 2147483647

local function new_rng(seed)
  local state = floor(seed) % (MODULUS - 1) + 1
  local rng = {}
  -- Next raw value in [1, MODULUS - 1].
  function rng.next()
    state = (state * 48271) % MODULUS
    return state
  end
  -- Integer in [0, n - 1]; n is small next to 2^31 so the bias is negligible.
  function rng.int(n)
    state = (state * 48271) % MODULUS
    return state % n
  end
  -- Float in (0, 1).
  function rng.float()
    state = (state * 48271) % MODULUS
    return state / MODULUS
  end
  return rng
end

local function hash_string(s)
  local h = 5381
  for i = 1, #s do h = (h * 33 + byte(s, i)) % MODULUS end
  return h
end

local function hex32(rng)
  return format("%08x%08x%08x%08x", rng.next(), rng.next(), rng.next(), rng.next())
end

-- Numbers as Python's repr() writes them ------------------------------------
-- The shortest %.Ng (N <= 17) that reads back as the same double: %.Ng is
-- correctly rounded, and a longer N always reads back if a shorter one does,
-- so this is the shortest round-trip string Python's repr() prints (for Unix
-- times mostly 17 significant digits, e.g. 1795579461.8292599).
local function repr(x)
  if x ~= x or x == math.huge or x == -math.huge then return "null" end
  if x == floor(x) and x > -2^53 and x < 2^53 then return format("%d", x) end
  local best = format("%.17g", x)
  for p = 16, 1, -1 do
    local s = format("%." .. p .. "g", x)
    if tonumber(s) ~= x then break end
    best = s
  end
  return best
end
gen.repr = repr

-- The profiled programs -----------------------------------------------------
-- A call tree per thread. A node is {label, child, child, ..., home = share,
-- w = weight, leaf = true, rec = {labels}, depths = {n, ...}}: a path ends
-- at every node without children (and at nodes marked leaf); `home` gives
-- the paths ending there that share of the thread's draws; `w` scales the
-- Zipf weight of every path through the node; `rec` repeats its labels
-- (a recursion) to each of `depths` frames before going on to the children.
-- A label's last field may list variants ("apply_discounts:88,89,91"): the
-- same function at several lines (python) or addresses (cocoa), each its
-- own frame, as profilers report them.
--
-- Python labels are "module:qualname:lineno". Where the file lives follows
-- from the module: the app (shopapi) under /srv/app (in_app true), installed
-- packages under the virtualenv's site-packages (in_app false), the
-- standard library under /usr/lib/python3.11 (no in_app, as Sentry leaves it).

local PY_LIBS = { gunicorn = true, flask = true, werkzeug = true, sentry_sdk = true, sqlalchemy = true, marshmallow = true,
  requests = true, urllib3 = true, jwt = true }
local PY_STDLIB_ROOT = "/usr/lib/python3.11/"
local PY_SITE_ROOT = "/srv/app/.venv/lib/python3.11/site-packages/"
local PY_APP_ROOT = "/srv/app/"
local PY_PACKAGES = { json = true, concurrent = true, http = true, urllib = true,
  sqlite3 = true, ["concurrent.futures"] = true, shopapi = true, ["shopapi.views"] = true,
  ["shopapi.services"] = true, flask = true, ["flask.json"] = true, requests = true,
  urllib3 = true, jwt = true }

-- Thread bootstrap: a thread started after sentry_sdk.init runs inside the
-- SDK's threading wrapper; the SDK's own threads do not.
local function boot(...)
  return { "threading:Thread._bootstrap:995",
    { "threading:Thread._bootstrap_inner:1038",
      { "threading:Thread.run:975", ... } } }
end
local function boot_wrapped(...)
  return { "threading:Thread._bootstrap:995",
    { "threading:Thread._bootstrap_inner:1038",
      { "sentry_sdk.integrations.threading:_wrap_run.<locals>.run:136",
        { "sentry_sdk.integrations.threading:_wrap_run.<locals>.run.<locals>._run_old_run_func:129",
          { "threading:Thread.run:975", ... } } } } }
end

-- A call into the database helper (sqlite3's execute and fetchall are C:
-- the helper's own lines are the leaves).
local function py_query(caller)
  return { caller,
    { "shopapi.db:query:33", { "sqlalchemy.orm.session:Session.execute:2306",
      { "sqlalchemy.orm.session:Session._execute_internal:2191",
        { "sqlalchemy.engine.base:Connection.execute:1416",
          { "sqlalchemy.sql.elements:ClauseElement._execute_on_connection:516",
            { "sqlalchemy.engine.base:Connection._execute_clauseelement:1639",
              { "sqlalchemy.engine.base:Connection._execute_context:1848",
                { "sqlalchemy.engine.base:Connection._exec_single_context:1967",
                  { "sqlalchemy.engine.default:DefaultDialect.do_execute:941" } } } } } } } } },
    { "shopapi.db:query:35", { "sqlalchemy.engine.result:Result.all:1768",
      { "sqlalchemy.engine.result:ResultInternal._allrows:548",
        { "sqlalchemy.engine.cursor:CursorResult._fetchall_impl:2134",
          { "sqlalchemy.engine.cursor:CursorFetchStrategy.fetchall:1134", leaf = true,
            { "sqlite3.dbapi2:convert_timestamp:66,68,70", w = 0.5 } } },
        { "sqlalchemy.orm.loading:instances:220", w = 0.7,
          { "sqlalchemy.orm.loading:_instance:1034,1056" } } } } },
  }
end

-- marshmallow serialising an order (pure Python, nested schemas).
local function py_dump(caller)
  local function fields(...)
    return { "marshmallow.fields:Field.serialize:344",
      { "marshmallow.fields:Field.get_value:262", { "marshmallow.utils:get_value:251",
        { "marshmallow.utils:_get_value_for_key:280" } } },
      { "marshmallow.fields:DateTime._serialize:1251", { "marshmallow.utils:isoformat:176" } },
      { "marshmallow.fields:Decimal._serialize:1009", { "marshmallow.fields:Number._format_num:954" } },
      ... }
  end
  return { caller, { "marshmallow.schema:Schema.dump:548",
    { "marshmallow.schema:Schema._serialize:522", leaf = true,
      fields({ "marshmallow.fields:Nested._serialize:630",
        { "marshmallow.schema:Schema.dump:548", { "marshmallow.schema:Schema._serialize:522", leaf = true,
          fields() } } }) } } }
end

local function py_json_dumps(caller)
  return { caller, { "json:dumps:231", { "json.encoder:JSONEncoder.encode:200",
    { "json.encoder:JSONEncoder.iterencode:258", leaf = true,
      { "flask.json.provider:_default:120,122", w = 0.4 } } } } }
end

local function py_http_read(home)
  return { "http.client:HTTPConnection.getresponse:1374",
    { "http.client:HTTPResponse.begin:318",
      { "http.client:HTTPResponse._read_status:279",
        { "socket:SocketIO.readinto:706", home = home } } } }
end

local function py_urllib3(home)
  return { "urllib3.connectionpool:HTTPConnectionPool.urlopen:793",
    { "urllib3.connectionpool:HTTPConnectionPool._make_request:537",
      { "urllib3.connection:HTTPConnection.getresponse:466", py_http_read(home) } },
    { "urllib3.connectionpool:HTTPConnectionPool._make_request:493",
      { "urllib3.connection:HTTPConnection.request:441",
        { "http.client:HTTPConnection.endheaders:1277",
          { "http.client:HTTPConnection._send_output:1037",
            { "http.client:HTTPConnection.send:975",
              { "urllib3.connection:HTTPConnection.connect:611",
                { "urllib3.connection:HTTPConnection._new_conn:203",
                  { "urllib3.util.connection:create_connection:60", { "socket:getaddrinfo:962" } },
                  { "urllib3.util.connection:create_connection:73" } } } } } } } },
  }
end

local function py_export_work(hot)
  return { "concurrent.futures.thread:_worker:83",
    { "concurrent.futures.thread:_WorkItem.run:58",
      { "sentry_sdk.integrations.threading:_wrap_threadpool_executor_submit.<locals>.sentry_submit.<locals>.wrapped_fn:175",
        { "shopapi.exports:export_orders:40", py_query("shopapi.exports:_rows:61") },
        { "shopapi.exports:export_orders:44",
          { "shopapi.exports:_format_row:77,78,80,81", home = hot },
          { "shopapi.exports:_format_row:83", { "shopapi.exports:_money:102" } },
          { "shopapi.exports:_format_row:85", { "shopapi.exports:_local_time:110" } } },
        { "shopapi.exports:export_orders:47",
          { "json:dump:179", { "json.encoder:_make_iterencode.<locals>._iterencode:439",
            rec = { "json.encoder:_make_iterencode.<locals>._iterencode_dict:405",
                    "json.encoder:_make_iterencode.<locals>._iterencode_list:325" },
            depths = { 2, 4, 6, 10 },
            { "json.encoder:_make_iterencode.<locals>._iterencode_dict:377,380,392" },
            { "json.encoder:py_encode_basestring:63" } } } },
        { "shopapi.exports:export_orders:52", { "shopapi.exports:_checksum:91" } },
        { "shopapi.exports:export_orders:55", { "gzip:compress:609",
          { "gzip:GzipFile.write:289" }, { "gzip:GzipFile.close:346" } } },
      } } }
end

local PY_MAIN = { "gunicorn.app.wsgiapp:run:67",
  { "gunicorn.app.base:BaseApplication.run:72",
    { "gunicorn.arbiter:Arbiter.run:202",
      { "gunicorn.arbiter:Arbiter.manage_workers:571",
        { "gunicorn.arbiter:Arbiter.spawn_workers:642",
          { "gunicorn.arbiter:Arbiter.spawn_worker:609",
            { "gunicorn.workers.base:Worker.init_process:142",
              { "gunicorn.workers.sync:SyncWorker.run:125",
                { "gunicorn.workers.sync:SyncWorker.run_for_one:75",
                  { "gunicorn.workers.sync:SyncWorker.wait:37", home = 0.22 } },
                { "gunicorn.workers.sync:SyncWorker.run_for_one:70",
                  { "gunicorn.workers.base:Worker.notify:70", w = 0.3,
                    { "gunicorn.workers.workertmp:WorkerTmp.notify:46" } } },
                { "gunicorn.workers.sync:SyncWorker.run_for_one:79",
                  { "gunicorn.workers.sync:SyncWorker.accept:34",
                    { "gunicorn.workers.sync:SyncWorker.handle:136",
                      { "gunicorn.workers.sync:SyncWorker.handle_request:178",
                        { "gunicorn.workers.sync:SyncWorker.handle_request:190", w = 0.6,
                          { "gunicorn.glogging:Logger.access:363",
                            { "logging:Logger.info:1489", { "logging:Logger._log:1634",
                              { "logging:Logger.handle:1644", { "logging:Logger.callHandlers:1706",
                                { "logging:Handler.handle:978", { "logging:StreamHandler.emit:1113",
                                  { "logging:StreamHandler.flush:1093" } } } } } } },
                            { "gunicorn.glogging:Logger.atoms:312,318" } } },
                        { "flask.app:Flask.__call__:1498",
                          { "sentry_sdk.integrations.flask:_patch_flask.<locals>.sentry_patched_wsgi_app:95",
                            { "sentry_sdk.integrations.wsgi:SentryWsgiMiddleware.__call__:117",
                              { "flask.app:Flask.wsgi_app:1473",
                                { "flask.app:Flask.full_dispatch_request:880",
                                  { "flask.app:Flask.dispatch_request:865",
                                    { "shopapi.views.orders:list_orders:42",
                                      { "shopapi.services.pricing:price_orders:31",
                                        { "shopapi.services.pricing:apply_discounts:88,89,91,94", home = 0.36 },
                                        { "shopapi.services.pricing:apply_discounts:97",
                                          { "shopapi.services.pricing:_rule_matches:130" } } },
                                      { "shopapi.services.pricing:price_orders:33",
                                        { "shopapi.services.pricing:_round_money:120" } },
                                      }, py_query("shopapi.views.orders:list_orders:40"),
                                    py_dump("shopapi.views.orders:list_orders:44"),
                                    { "shopapi.views.orders:list_orders:45",
                                      { "flask.json:jsonify:170",
                                        { "flask.json.provider:DefaultJSONProvider.response:214",
                                          py_json_dumps("flask.json.provider:DefaultJSONProvider.dumps:179") } } },
                                    { "shopapi.views.orders:get_order:77",
                                      { "shopapi.services.pricing:price_order:54",
                                        { "shopapi.services.pricing:apply_discounts:88,89,91" } },
                                      { "shopapi.services.pricing:price_order:50",
                                        { "copy:deepcopy:146", w = 0.4,
                                          rec = { "copy:_deepcopy_dict:231", "copy:deepcopy:146",
                                                  "copy:_deepcopy_list:206", "copy:deepcopy:146" },
                                          depths = { 4, 8, 16 },
                                          { "copy:deepcopy:128" }, { "copy:_deepcopy_atomic:182" } } },
                                      py_dump("shopapi.views.orders:get_order:79"),
                                      { "shopapi.views.orders:get_order:80",
                                        { "shopapi.serializers:OrderSerializer.dump:61",
                                          { "shopapi.serializers:OrderSerializer._dump_item:74" } } },
                                      }, py_query("shopapi.views.orders:get_order:75"),
                                    { "shopapi.views.catalog:search_products:31",
                                      { "shopapi.services.search:normalize_query:18" },
                                      { "shopapi.services.search:normalize_query:22",
                                        { "re:sub:185", { "re:_compile:294,296" } } },
                                      { "shopapi.services.search:rank_results:48,52" },
                                      { "shopapi.services.search:rank_results:55",
                                        { "shopapi.services.search:_score:80,81,84" } },
                                      }, py_query("shopapi.views.catalog:search_products:29"),
                                    { "shopapi.views.catalog:category_tree:90",
                                      { "shopapi.services.catalog:build_tree:22",
                                        rec = { "shopapi.services.catalog:build_tree:27" },
                                        depths = { 12, 30, 60, 90, 130 },
                                        { "shopapi.services.catalog:build_tree:24" } } },
                                    { "shopapi.views.cart:add_to_cart:52",
                                      { "shopapi.services.cart:recalculate:40",
                                        { "shopapi.services.pricing:apply_discounts:88,89,94" },
                                        { "shopapi.services.cart:recalculate:44",
                                          { "shopapi.services.pricing:_round_money:120" } } },
                                      py_query("shopapi.services.inventory:reserve:63") },
                                    { "shopapi.views.orders:create_order:106",
                                      { "werkzeug.wrappers.request:Request.get_json:604",
                                        { "werkzeug.wrappers.request:Request.get_data:446",
                                          { "werkzeug.wsgi:LimitedStream.readall:428" } },
                                        { "flask.json.provider:DefaultJSONProvider.loads:186",
                                          { "json:loads:346", { "json.decoder:JSONDecoder.decode:337",
                                            { "json.decoder:JSONDecoder.raw_decode:353" } } } } } },
                                    { "shopapi.views.orders:create_order:110",
                                      { "shopapi.services.orders:place_order:72",
                                        { "shopapi.validation:validate_address:33" },
                                        { "shopapi.validation:validate_address:38",
                                          { "re:fullmatch:168", { "re:_compile:294,296" } } } },
                                      { "shopapi.services.orders:place_order:80",
                                        { "shopapi.services.payments:charge:88",
                                          { "requests.api:post:115", { "requests.api:request:59",
                                            { "requests.sessions:Session.request:589", { "requests.sessions:Session.send:703",
                                              { "requests.adapters:HTTPAdapter.send:486", py_urllib3() } } } } } } },
                                      py_query("shopapi.services.orders:place_order:85") },
                                    { "shopapi.views.catalog:product_detail:58",
                                      { "shopapi.services.catalog:load_product:40",
                                        { "shopapi.services.catalog:_variants:71,73" } },
                                      py_query("shopapi.services.catalog:load_product:38"),
                                      py_dump("shopapi.views.catalog:product_detail:61") },
                                    { "shopapi.views.health:healthz:12", w = 0.3, py_query("shopapi.db:ping:50") },
                                    { "shopapi.views.auth:login:25",
                                      { "shopapi.services.auth:verify_password:19" },
                                      { "shopapi.services.auth:issue_token:35",
                                        { "jwt.api_jwt:PyJWT.encode:73",
                                          { "jwt.api_jws:PyJWS.encode:114",
                                            { "jwt.utils:base64url_encode:17" } } } } },
                                  } },
                                { "flask.app:Flask.full_dispatch_request:878", w = 0.5,
                                  { "flask.app:Flask.preprocess_request:1240",
                                    { "flask.ctx:RequestContext.match_request:357",
                                      { "werkzeug.routing.map:MapAdapter.match:624,629" } } } },
                                { "flask.app:Flask.full_dispatch_request:882", w = 0.5,
                                  { "flask.app:Flask.finalize_request:897",
                                    { "flask.app:Flask.make_response:1183",
                                      { "werkzeug.wrappers.response:Response.__init__:157",
                                        { "werkzeug.sansio.response:Response.__init__:113",
                                          { "werkzeug.datastructures.headers:Headers.__init__:63" } } } } } },
                                { "flask.app:Flask.full_dispatch_request:884", w = 0.5,
                                  { "flask.app:Flask.finalize_request:899",
                                    { "flask.app:Flask.process_response:1273",
                                      { "flask.sessions:SecureCookieSessionInterface.save_session:354" } } } },
                              } } } } } } } } } } } } } } } }

local PY_ROLES = {
  { name = "MainThread", main = true, stay = 0.76, tree = PY_MAIN },
  { name = "ThreadPoolExecutor-0_0", stay = 0.78,
    tree = boot_wrapped({ "concurrent.futures.thread:_worker:81", home = 0.18 }, py_export_work(0.4)) },
  { name = "sentry.profiler.ThreadContinuousScheduler", stay = 0.85,
    tree = boot({ "sentry_sdk.profiler.continuous_profiler:ThreadContinuousScheduler.run:435",
      { "sentry_sdk.profiler.continuous_profiler:ContinuousScheduler.make_sampler.<locals>._sample_stack:389", home = 0.93 },
      { "sentry_sdk.profiler.continuous_profiler:ContinuousScheduler.make_sampler.<locals>._sample_stack:394",
        { "sentry_sdk.profiler.utils:extract_stack:163" } } }) },
  { name = "export-consumer", stay = 0.74,
    tree = boot_wrapped({ "shopapi.workers:consume_exports:160",
      { "queue:Queue.get:171", { "threading:Condition.wait:320", home = 0.9 } } },
      py_json_dumps("shopapi.workers:consume_exports:163"),
      { "shopapi.workers:consume_exports:166", { "shopapi.exports:compress_export:143" } }) },
  { short = true, stay = 0.78,
    tree = boot_wrapped({ "shopapi.tasks.notify:deliver_webhook:28",
      { "requests.api:post:115", { "requests.api:request:59",
        { "requests.sessions:Session.request:589", { "requests.sessions:Session.send:703",
          { "requests.adapters:HTTPAdapter.send:486",
            py_urllib3(0.75) } } } } } },
      { "shopapi.tasks.notify:deliver_webhook:24", { "shopapi.tasks.notify:sign_payload:12",
        { "hmac:new:184", { "hmac:HMAC.__init__:61", { "hmac:HMAC._init_hmac:69" } } } } }) },
  { name = "sentry-sdk.BackgroundWorker", stay = 0.76,
    tree = boot({ "sentry_sdk.worker:BackgroundWorker._target:128",
      { "queue:Queue.get:171", { "threading:Condition.wait:320", home = 0.92 } } },
      { "sentry_sdk.worker:BackgroundWorker._target:133",
        { "sentry_sdk.transport:BaseHttpTransport.capture_envelope.<locals>.send_envelope_wrapper:613",
          { "sentry_sdk.transport:BaseHttpTransport._send_envelope:473",
            { "sentry_sdk.transport:BaseHttpTransport._send_request:259",
              { "urllib3.poolmanager:PoolManager.urlopen:444", py_urllib3() } } } } }) },
  { name = "ThreadPoolExecutor-0_1", stay = 0.72,
    tree = boot_wrapped({ "concurrent.futures.thread:_worker:81", home = 0.85 }, py_export_work(0.05)) },
  { name = "cache-refresher", stay = 0.74,
    tree = boot_wrapped({ "shopapi.cache:refresh_loop:44", home = 0.9 },
      { "shopapi.cache:refresh_loop:41", py_query("shopapi.cache:refresh_rates:23"),
        { "shopapi.cache:refresh_rates:27", { "json:loads:346", { "json.decoder:JSONDecoder.decode:337",
          { "json.decoder:JSONDecoder.raw_decode:353" } } } } }) },
  { name = "Thread-1 (serve_forever)", stay = 0.8,
    tree = boot_wrapped({ "socketserver:BaseServer.serve_forever:233",
      { "selectors:_PollLikeSelector.select:415", home = 0.93 } },
      { "socketserver:BaseServer.serve_forever:238", { "socketserver:BaseServer._handle_request_noblock:317",
        { "socketserver:ThreadingMixIn.process_request:705", { "threading:Thread.start:962",
          { "threading:Event.wait:622", { "threading:Condition.wait:320" } } } } } }) },
  { short = true, stay = 0.76,
    tree = boot_wrapped({ "shopapi.reports:country_report:95",
      { "shopapi.reports:_aggregate:113", home = 0.55 },
      { "shopapi.reports:_aggregate:116", { "re:match:166", { "re:_compile:294" } } } },
      py_query("shopapi.reports:country_report:91")) },
  { name = "ThreadPoolExecutor-0_2", stay = 0.72,
    tree = boot_wrapped({ "concurrent.futures.thread:_worker:81", home = 0.85 }, py_export_work(0.05)) },
  { name = "rates-poller", stay = 0.8,
    tree = boot_wrapped({ "shopapi.rates:poll_forever:75", home = 0.45 },
      { "shopapi.rates:poll_forever:70", { "shopapi.rates:fetch_rates:36",
        { "urllib.request:urlopen:216", { "urllib.request:OpenerDirector.open:519",
          { "urllib.request:OpenerDirector._open:536", { "urllib.request:OpenerDirector._call_chain:496",
            { "urllib.request:HTTPHandler.http_open:1377", { "urllib.request:AbstractHTTPHandler.do_open:1352",
              { "sentry_sdk.integrations.stdlib:_install_httplib.<locals>.getresponse:216",
                py_http_read(0.5) } } } } } } } } }) },
  { name = "sentry.monitor", stay = 0.8,
    tree = boot({ "sentry_sdk.monitor:Monitor._ensure_running.<locals>._thread:63", home = 0.95 },
      { "sentry_sdk.monitor:Monitor._ensure_running.<locals>._thread:65",
        { "sentry_sdk.monitor:Monitor.run:81", { "sentry_sdk.monitor:Monitor.check_health:75" } } }) },
}
-- Threads past the thirteenth: more idle pool workers.
local function py_extra_role(k)
  return { name = "ThreadPoolExecutor-0_" .. (k + 2), stay = 0.72,
    tree = boot_wrapped({ "concurrent.futures.thread:_worker:81", home = 0.85 }, py_export_work(0.05)) }
end

-- Cocoa labels are "image|function|+offset": the image (a key of
-- COCOA_IMAGES), the function ("?" when the image has no symbols) and the
-- instruction's offset from the function's start; several offsets in one
-- function are several frames.
local COCOA_APP = "/private/var/containers/Bundle/Application/6C2E4B1A-93D7-4F0B-A8E5-2D1C7B9F3E60/MyApp.app/"
local COCOA_IMAGES = {
  MyApp = { path = COCOA_APP .. "MyApp", base = 4307550208, size = 9437184, app = true },
  Lottie = { path = COCOA_APP .. "Frameworks/Lottie.framework/Lottie", base = 4329586688, size = 2097152,
    nosym = true },
  UIKitCore = { path = "/System/Library/PrivateFrameworks/UIKitCore.framework/UIKitCore", base = 7080361984, size = 33554432 },
  UIKit = { path = "/System/Library/Frameworks/UIKit.framework/UIKit", base = 7129432064, size = 65536 },
  CoreFoundation = { path = "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation", base = 7047462912, size = 4194304 },
  Foundation = { path = "/System/Library/Frameworks/Foundation.framework/Foundation", base = 7055278080, size = 12582912 },
  GraphicsServices = { path = "/System/Library/PrivateFrameworks/GraphicsServices.framework/GraphicsServices", base = 7469449216, size = 65536 },
  libsystem_kernel = { path = "/usr/lib/system/libsystem_kernel.dylib", base = 7898263552, size = 262144 },
  libsystem_pthread = { path = "/usr/lib/system/libsystem_pthread.dylib", base = 8003964928, size = 65536 },
  libdispatch = { path = "/usr/lib/system/libdispatch.dylib", base = 7048261632, size = 327680 },
  QuartzCore = { path = "/System/Library/Frameworks/QuartzCore.framework/QuartzCore", base = 7076380672, size = 3145728 },
  ImageIO = { path = "/System/Library/Frameworks/ImageIO.framework/ImageIO", base = 7104233472, size = 2097152 },
  CFNetwork = { path = "/System/Library/Frameworks/CFNetwork.framework/CFNetwork", base = 7070613504, size = 3145728 },
  dyld = { path = "/usr/lib/dyld", base = 7598309376, size = 524288 },
  Sentry = { path = COCOA_APP .. "Frameworks/Sentry.framework/Sentry", base = 4334682112, size = 1048576 },
  CoreData = { path = "/System/Library/Frameworks/CoreData.framework/CoreData", base = 7238090752, size = 3145728 },
  libsqlite3 = { path = "/usr/lib/libsqlite3.dylib", base = 7246479360, size = 1572864 },
  libswiftCore = { path = "/usr/lib/swift/libswiftCore.dylib", base = 7210762240, size = 6291456 },
  libobjc = { path = "/usr/lib/libobjc.A.dylib", base = 7043268608, size = 262144 },
}

local function cocoa_runloop(image_run, ...)
  return { "CoreFoundation|CFRunLoopRunSpecific|+0x260",
    { "CoreFoundation|__CFRunLoopRun|+0x334",
      { "CoreFoundation|__CFRunLoopServiceMachPort|+0xa0",
        { "libsystem_kernel|mach_msg|+0x18", { "libsystem_kernel|mach_msg_overwrite|+0x1c8",
          { "libsystem_kernel|mach_msg2_internal|+0x50",
            { "libsystem_kernel|mach_msg2_trap|+0x8", home = image_run } } } } },
      ... } }
end

local function cocoa_thread(...)
  return { "libsystem_pthread|thread_start|+0x8", { "libsystem_pthread|_pthread_start|+0x88", ... } }
end

local function cocoa_wq(...)
  return { "libsystem_pthread|start_wqthread|+0x8",
    { "libsystem_pthread|_pthread_wqthread|+0x11c", { "libsystem_kernel|__workq_kernreturn|+0x8", home = 0.85 },
      { "libdispatch|_dispatch_workloop_worker_thread|+0x260", { "libdispatch|_dispatch_lane_invoke|+0x1a0",
        { "libdispatch|_dispatch_lane_serial_drain|+0x188", { "libdispatch|_dispatch_client_callout|+0x14", ... } } } } } }
end

local COCOA_DECODE = { "libdispatch|_dispatch_call_block_and_release|+0x20",
  { "MyApp|closure #1 in Thumbnailer.render(_:size:)|+0x50",
    { "MyApp|Thumbnailer.scale(_:to:)|+0x90,+0xb8,+0xe4" },
    { "MyApp|Thumbnailer.scale(_:to:)|+0x120",
      { "ImageIO|CGImageSourceCreateThumbnailAtIndex|+0x54",
        { "ImageIO|IIOImageSource::createThumbnailAtIndex(unsigned long, IIODictionary*, int*)|+0x6c,+0xa0" } } } },
  { "MyApp|closure #1 in SyncEngine.pull()|+0x88",
    { "MyApp|SyncEngine.apply(_:)|+0x140,+0x19c",
      { "CoreData|-[NSManagedObjectContext save:]|+0x3f4",
        { "CoreData|-[NSSQLCore saveChanges:]|+0x2a0", { "libsqlite3|sqlite3_step|+0x3c",
          { "libsqlite3|sqlite3VdbeExec|+0x2b80,+0x4410" } } } } },
    { "MyApp|SyncEngine.decode(_:)|+0x64",
      { "libswiftCore|Swift.String.init(decoding:as:)|+0x30" },
      { "Foundation|JSONDecoder.decode<A>(_:from:)|+0x7c",
        { "Foundation|JSONDecoderImpl.unwrap<A>(_:as:for:_:)|+0x110,+0x1a0" } } } },
  { "MyApp|closure #1 in ImageCache.load(_:completion:)|+0x74,+0x90",
    { "MyApp|ImageCache.decode(_:)|+0x5c",
      { "ImageIO|CGImageSourceCreateImageAtIndex|+0x40",
        { "ImageIO|IIOImageSource::createImageAtIndex(unsigned long, IIODictionary*)|+0x8c",
          { "ImageIO|AppleJPEGReadPlugin::copyImageBlockSet(InfoRec*, CGImageProvider*, CGRect, CGSize, __CFDictionary const*)|+0x1e4,+0x220" } } } },
    { "MyApp|ImageCache.store(_:for:)|+0x48", { "Foundation|-[NSData(NSData) writeToURL:options:error:]|+0xd0",
      { "libsystem_kernel|write|+0x8" } } } },
  { "MyApp|closure #1 in FeedStore.refresh()|+0x64",
    { "Foundation|+[NSJSONSerialization JSONObjectWithData:options:error:]|+0x60",
      { "Foundation|-[_NSJSONReader parseData:options:error:]|+0x7c",
        { "Foundation|-[_NSJSONReader parseDictionary:options:]|+0x1c0,+0x2a4" } } },
    { "MyApp|FeedStore.merge(_:)|+0x1a8,+0x1d4" } },
  { "Lottie|?|+0x0", w = 0.5, { "Lottie|?|+0x0", { "Lottie|?|+0x0" } } },
}

local COCOA_MAIN = { "dyld|start|+0x7f0",
  { "MyApp|main|+0x20",
    { "UIKitCore|UIApplicationMain|+0x154",
      { "UIKitCore|-[UIApplication _run]|+0x378",
        { "GraphicsServices|GSEventRunModal|+0xa4",
          cocoa_runloop(0.3,
            { "CoreFoundation|__CFRunLoopDoObservers|+0x214",
              { "CoreFoundation|__CFRUNLOOP_IS_CALLING_OUT_TO_AN_OBSERVER_CALLBACK_FUNCTION__|+0x24",
                { "QuartzCore|CA::Transaction::observer_callback(__CFRunLoopObserver*, unsigned long, void*)|+0x68",
                  { "QuartzCore|CA::Transaction::commit()|+0x280",
                    { "QuartzCore|CA::Context::commit_transaction(CA::Transaction*, double, double*)|+0x1d4",
                      { "QuartzCore|CA::Layer::layout_if_needed(CA::Transaction*)|+0x1f0",
                        { "UIKitCore|-[UIView(CALayerDelegate) layoutSublayersOfLayer:]|+0x5a4",
                          { "MyApp|@objc ProfileHeaderView.layoutSubviews()|+0x1c",
                            { "MyApp|ProfileHeaderView.layoutSubviews()|+0x88,+0xb0" },
                            { "MyApp|ProfileHeaderView.layoutSubviews()|+0xd4",
                              { "UIKitCore|-[UIView(Geometry) setFrame:]|+0x180,+0x1c4",
                                { "libobjc|objc_msgSend|+0x38,+0x5c" } } } },
                          { "UIKitCore|-[UICollectionView layoutSubviews]|+0x12c",
                            { "UIKitCore|-[UICollectionView _updateVisibleCellsNow:]|+0x2f8",
                              { "UIKitCore|-[UICollectionView _createPreparedCellForItemAtIndexPath:withLayoutAttributes:applyAttributes:isFocused:notify:]|+0x50",
                                { "MyApp|@objc FeedViewController.collectionView(_:cellForItemAt:)|+0x48",
                                  { "MyApp|FeedViewController.collectionView(_:cellForItemAt:)|+0x1d0",
                                    { "MyApp|FeedRenderer.layout(items:width:)|+0x2b4,+0x2c8,+0x2f0,+0x31c", home = 0.32 },
                                    { "MyApp|FeedRenderer.layout(items:width:)|+0x1e0",
                                      { "libswiftCore|swift_retain|+0x4c,+0x60" }, { "libswiftCore|swift_release|+0x60,+0x7c" },
                                      { "libswiftCore|swift_beginAccess|+0x30" } },
                                    { "MyApp|FeedRenderer.layout(items:width:)|+0x240",
                                      { "libswiftCore|Swift._NativeDictionary.subscript.getter|+0x58",
                                        { "libswiftCore|Swift.Hasher._finalize()|+0x84" } } },
                                    { "MyApp|FeedViewController.collectionView(_:cellForItemAt:)|+0x220",
                                      { "MyApp|ImageCache.cachedImage(for:)|+0x3c,+0x64",
                                        { "Foundation|-[NSCache objectForKey:]|+0x30",
                                          { "CoreFoundation|CFDictionaryGetValue|+0x40" } } } },
                                    { "MyApp|FeedRenderer.layout(items:width:)|+0x15c",
                                      { "MyApp|FeedRenderer.measure(_:width:)|+0x88,+0xa4" },
                                      { "Foundation|-[NSString(NSStringDrawing) boundingRectWithSize:options:attributes:context:]|+0x74",
                                        { "UIKitCore|-[NSString(UIStringDrawing) _boundingRectWithSize:options:attributes:context:]|+0x48" } } },
                                    { "MyApp|FeedCell.configure(with:)|+0xe0",
                                      { "UIKitCore|-[UILabel setAttributedText:]|+0x1a4" },
                                      { "MyApp|DateFormatting.relative(_:)|+0x40",
                                        { "Foundation|-[NSDateFormatter stringFromDate:]|+0x3c" } } } } } } } } } } } } } } },
            { "CoreFoundation|__CFRunLoopDoSources0|+0xf0",
              { "CoreFoundation|__CFRunLoopDoSource0|+0xb0",
                { "CoreFoundation|__CFRUNLOOP_IS_CALLING_OUT_TO_A_SOURCE0_PERFORM_FUNCTION__|+0x1c",
                  { "UIKitCore|__eventFetcherSourceCallback|+0xa0",
                    { "UIKitCore|__processEventQueue|+0x1a08",
                      { "UIKitCore|-[UIApplication sendEvent:]|+0x2d4",
                        { "MyApp|FeedViewController.scrollViewDidScroll(_:)|+0x9c",
                          { "MyApp|PrefetchController.update(visible:)|+0x120,+0x13c" } } } } } } } },
            { "CoreFoundation|__CFRunLoopDoTimers|+0x1b8",
              { "CoreFoundation|__CFRunLoopDoTimer|+0x3c4",
                { "CoreFoundation|__CFRUNLOOP_IS_CALLING_OUT_TO_A_TIMER_CALLBACK_FUNCTION__|+0x20",
                  { "Foundation|__NSFireTimer|+0x44",
                    { "MyApp|@objc AnalyticsTimer.tick()|+0x20",
                      { "MyApp|Analytics.flushIfNeeded()|+0xa0,+0xc8" },
                      { "MyApp|Analytics.flushIfNeeded()|+0xf0",
                        { "Foundation|-[NSJSONSerialization dataWithJSONObject:options:error:]|+0x7c",
                          { "Foundation|_writeJSONObject|+0x1b0,+0x21c" } } } } },
                  { "MyApp|FeedStore.fetchItems()|+0x74",
                    { "CoreData|-[NSManagedObjectContext executeFetchRequest:error:]|+0x2ac",
                      { "CoreData|-[NSPersistentStoreCoordinator executeRequest:withContext:error:]|+0x1e0",
                        { "CoreData|-[NSSQLCore executeRequest:withContext:error:]|+0x9c",
                          { "libsqlite3|sqlite3_step|+0x3c",
                            { "libsqlite3|sqlite3VdbeExec|+0x1a4c,+0x2b80,+0x3f14" } } },
                        { "CoreData|-[NSSQLCore newObjectsForFetchRequest:inContext:]|+0x114",
                          { "CoreData|_prefetchRelationshipKey|+0x2d8" } } } } } } } },
            { "CoreFoundation|__CFRunLoopDoBlocks|+0x16c", w = 0.5,
              { "CoreFoundation|__CFRUNLOOP_IS_CALLING_OUT_TO_A_BLOCK__|+0x1c",
                { "libdispatch|_dispatch_main_queue_drain|+0x3b0",
                  { "libdispatch|_dispatch_client_callout|+0x14",
                    { "MyApp|closure #2 in FeedStore.refresh()|+0x34",
                      { "MyApp|FeedViewController.apply(_:)|+0x210,+0x248" } } } } } }) } } } } }

local COCOA_ROLES = {
  { name = "com.apple.main-thread", priority = 31, main = true, stay = 0.76, tree = COCOA_MAIN },
  { name = "io.sentry.SentrySamplingProfiler", priority = 50, stay = 0.85,
    tree = cocoa_thread({ "Sentry|sentry::profiling::(anonymous namespace)::samplingThreadMain(void*)|+0x94",
      { "libsystem_kernel|mach_wait_until|+0x8", home = 0.7 },
      { "Sentry|sentry::profiling::backtrace(sentry::profiling::ThreadHandle const&, sentry::profiling::ThreadHandle const&, unsigned long long*, unsigned long)|+0x64,+0x90" } }) },
  { short = true, priority = 31, stay = 0.78, tree = cocoa_wq(COCOA_DECODE) },
  { name = "com.apple.uikit.eventfetch-thread", priority = 31, stay = 0.8,
    tree = cocoa_thread({ "Foundation|__NSThread__start__|+0x2d8",
      { "UIKitCore|-[UIEventFetcher threadMain]|+0x68",
        { "Foundation|-[NSRunLoop(NSRunLoop) runUntilDate:]|+0x40",
          { "Foundation|-[NSRunLoop(NSRunLoop) runMode:beforeDate:]|+0xd4", cocoa_runloop(0.95) } } } }) },
  { short = true, priority = 31, stay = 0.76, tree = cocoa_wq(COCOA_DECODE) },
  { name = "com.apple.NSURLConnectionLoader", priority = 31, stay = 0.78,
    tree = cocoa_thread({ "Foundation|__NSThread__start__|+0x2d8",
      { "CFNetwork|+[__CFN_CoreSchedulingSetRunnable _run:]|+0x180", cocoa_runloop(0.9,
        { "CoreFoundation|__CFRunLoopDoSources0|+0xf0", { "CFNetwork|_CFNetworkHTTPConnectionCacheSetLimit|+0x5d4",
          { "CFNetwork|_CFURLStorageSessionCopyCache|+0x9c" } } }) } }) },
  { name = "com.apple.CFSocket.private", priority = 31, stay = 0.8,
    tree = cocoa_thread({ "CoreFoundation|__CFSocketManager|+0x284", { "libsystem_kernel|__select|+0x8", home = 0.95 } }) },
  { name = "JavaScriptCore libpas scavenger", priority = 31, stay = 0.8,
    tree = cocoa_thread({ "libsystem_pthread|_pthread_cond_wait|+0x4e0", { "libsystem_kernel|__psynch_cvwait|+0x8", home = 0.97 } }) },
}
local function cocoa_extra_role(k)
  return { short = k % 2 == 0, stay = 0.75, tree = cocoa_wq({ "libdispatch|_dispatch_call_block_and_release|+0x20",
    { "MyApp|closure #1 in Analytics.flush()|+0x58", { "Foundation|-[NSData(NSData) writeToURL:options:error:]|+0xd0",
      { "libsystem_kernel|write|+0x8" } } } }) }
end

-- Frames ----------------------------------------------------------------------

local function split(s, sep)
  local out, n, from = {}, 0, 1
  while true do
    local i = s:find(sep, from, true)
    n = n + 1
    if not i then out[n] = s:sub(from) break end
    out[n] = s:sub(from, i - 1)
    from = i + #sep
  end
  return out
end

local function py_module_file(mod)
  local path = mod:gsub("%.", "/")
  if PY_PACKAGES[mod] then return path .. "/__init__.py" end
  return path .. ".py"
end

-- A python frame, as sentry-python writes it and Sentry marks in_app.
local function py_frame(mod, fn, line)
  local file = py_module_file(mod)
  local top = mod:match("^[^.]+")
  local frame = { module = mod, filename = file, ["function"] = fn, lineno = line }
  if top == "shopapi" then
    frame.abs_path, frame.in_app = PY_APP_ROOT .. file, true
  elseif PY_LIBS[top] then
    -- Sentry marks the SDK's own frames (in_app_exclude) and leaves the
    -- other packages' frames unmarked.
    frame.abs_path = PY_SITE_ROOT .. file
    if top == "sentry_sdk" then frame.in_app = false end
  else
    frame.abs_path = PY_STDLIB_ROOT .. file
  end
  return frame
end

local function hex_addr(a)
  local hi, lo = floor(a / 4294967296), a % 4294967296
  if hi > 0 then return format("0x%x%08x", hi, lo) end
  return format("0x%x", lo)
end

-- A cocoa frame, as Sentry writes it after symbolication.
local function cocoa_frame(image, fn, offset, world)
  local img = COCOA_IMAGES[image]
  local frame = { platform = "cocoa", in_app = img.app and true or false }
  if img.nosym then
    -- Not symbolicated (no debug file): an address, nothing else.
    world.nosym = (world.nosym or 0) + 1
    local at = img.base + 4096 + hash_string(image .. world.nosym) % floor(img.size / 2)
    frame.instruction_addr = hex_addr(at - at % 4)
    frame.data = { symbolicator_status = "missing" }
    return frame
  end
  -- The function's start: a stable place inside its image.
  local start = img.base + 4096 + hash_string(image .. fn) % floor(img.size / 2)
  start = start - start % 4
  frame.package = img.path
  frame["function"] = fn
  frame.instruction_addr = hex_addr(start + offset)
  frame.sym_addr = hex_addr(start)
  frame.data = { symbolicator_status = "symbolicated" }
  return frame
end

-- World: frames, per-thread pools of paths (frame indices, root first) and
-- cumulative weights, built once per (platform, profiler, seed, threads).

local function expand_label(label, platform)
  local sep = platform == "cocoa" and "|" or ":"
  local parts = split(label, sep)
  local last = parts[#parts]
  local variants = split(last, ",")
  local out = {}
  for i = 1, #variants do
    parts[#parts] = variants[i]
    out[i] = concat(parts, sep)
  end
  return out
end

local function build_world(platform, seed, profiler_id, n_threads)
  local rng = new_rng(seed * 7919 + hash_string(profiler_id) + (platform == "cocoa" and 17 or 0))
  local world = { frames = {}, frame_of = {}, threads = {} }
  local function frame_index(label)
    local idx = world.frame_of[label]
    if idx then return idx end
    local frame
    if platform == "cocoa" then
      local p = split(label, "|")
      frame = cocoa_frame(p[1], p[2], tonumber(p[3]:match("^%+0x(%x+)$"), 16), world)
      if frame["function"] == nil then label = label .. "#" .. world.nosym end
    else
      local p = split(label, ":")
      frame = py_frame(p[1], concat(p, ":", 2, #p - 1), tonumber(p[#p]))
    end
    local n = #world.frames + 1
    world.frames[n] = frame
    world.frame_of[label] = n
    return n
  end

  -- Every path of a tree: {frames (root first), weight, home share}.
  local function paths_of(node, prefix, w, out)
    w = w * (node.w or 1)
    if w == 0 then return end
    local labels = expand_label(node[1], platform)
    for v = 1, #labels do
      local path = {}
      for i = 1, #prefix do path[i] = prefix[i] end
      path[#path + 1] = frame_index(labels[v])
      local bodies = { path }
      if node.rec then
        bodies = {}
        for d = 1, #node.depths do
          local deep = {}
          for i = 1, #path do deep[i] = path[i] end
          for k = 1, node.depths[d] do
            deep[#deep + 1] = frame_index(node.rec[(k - 1) % #node.rec + 1])
          end
          bodies[d] = deep
        end
      end
      for b = 1, #bodies do
        local body = bodies[b]
        local kids = #node - 1
        if kids == 0 or node.leaf then
          out[#out + 1] = { frames = body, w = w / #labels / #bodies,
            home = node.home and node.home / #labels / #bodies }
        end
        for c = 2, #node do paths_of(node[c], body, w, out) end
      end
    end
  end

  local roles = platform == "cocoa" and COCOA_ROLES or PY_ROLES
  local extra = platform == "cocoa" and cocoa_extra_role or py_extra_role
  local main_id
  for t = 1, n_threads do
    local role = roles[t] or extra(t - #roles)
    local paths = {}
    paths_of(role.tree, {}, 1, paths)
    -- Zipf-like weights on a shuffled rank order; home paths keep their share.
    local order = {}
    for i = 1, #paths do order[i] = i end
    for i = #order, 2, -1 do
      local j = 1 + rng.int(i)
      order[i], order[j] = order[j], order[i]
    end
    local home_total, rest_total = 0, 0
    for r = 1, #order do
      local p = paths[order[r]]
      if p.home then
        home_total = home_total + p.home
      else
        p.z = p.w / (r + 20) -- Zipf-Mandelbrot: IEEE division, the same on every libm
        rest_total = rest_total + p.z
      end
    end
    assert(home_total <= 1, "home shares of a thread add up to more than 1")
    local cum, acc = {}, 0
    for i = 1, #paths do
      local p = paths[i]
      local share
      if p.home then share = p.home
      else share = rest_total > 0 and (1 - home_total) * p.z / rest_total or 0 end
      acc = acc + share
      cum[i] = acc
      -- The SDK keeps at most 128 frames: the outermost ones.
      local fr = p.frames
      if #fr > gen.MAX_DEPTH then
        local cut = {}
        for k = 1, gen.MAX_DEPTH do cut[k] = fr[k] end
        p.frames = cut
      end
      -- Threads running the same code share stacks (the SDK keys them so).
      p.key = concat(p.frames, ",")
    end
    local id
    if platform == "cocoa" then
      if t == 1 then id = "259" else id = format("%d", 259 + 256 * (t * 3 + rng.int(40))) end
    else
      if t == 1 then
        main_id = 139637976727552 + rng.int(262144) * 4096 + 1856
        id = format("%d", main_id)
      else
        id = format("%d", main_id - 23276544 - (t - 2) * 8392704)
      end
    end
    world.threads[t] = { id = id, name = role.name, priority = role.priority, short = role.short,
      stay = role.stay, paths = paths, cum = cum, total = acc }
    world.n_paths = (world.n_paths or 0) + #paths
  end
  return world
end

local world_cache = {}
local function world_for(platform, seed, profiler_id, n_threads)
  local key = format("%s|%d|%s|%d", platform, seed, profiler_id, n_threads)
  local w = world_cache[key]
  if not w then
    w = build_world(platform, seed, profiler_id, n_threads)
    world_cache[key] = w
  end
  return w
end

local function draw(th, rng)
  local x = rng.float() * th.total
  local cum = th.cum
  local lo, hi = 1, #cum
  while lo < hi do
    local mid = floor((lo + hi) / 2)
    if cum[mid] < x then lo = mid + 1 else hi = mid end
  end
  return lo
end

local function params_of(params)
  params = params or {}
  local platform = params.platform or "python"
  if platform ~= "python" and platform ~= "cocoa" then
    error("bad argument #1 to 'chunk_table' (platform must be python or cocoa, got " .. tostring(platform) .. ")", 3)
  end
  return params, platform, params.profiler_id or gen.DEFAULT_PROFILER, floor(params.seed or 1),
    floor(params.threads or gen.DEFAULT_THREADS[platform])
end

-- The threads of a profiler, in the order they are sampled: {{id, name,
-- priority, short}, ...} (params as for chunk_table: platform, profiler_id,
-- seed, threads).
function gen.threads(params)
  local _, platform, profiler_id, seed, n_threads = params_of(params)
  local world = world_for(platform, seed, profiler_id, n_threads)
  local list = {}
  for t = 1, n_threads do
    local th = world.threads[t]
    list[t] = { id = th.id, name = th.name, priority = th.priority, short = th.short or false }
  end
  sort(list, function(a, b)
    if #a.id ~= #b.id then return #a.id < #b.id end
    return a.id < b.id
  end)
  return list
end

-- One chunk ---------------------------------------------------------------
-- params: platform ("python" or "cocoa"), profiler_id, index (chunk number;
-- start = t0 + index * duration) or start (epoch), seed, threads (python
-- 10, cocoa 8), hz (101), duration (60), project_id (1), organization_id
-- (1), environment, release.
function gen.chunk_table(params)
  local platform, profiler_id, seed, n_threads
  params, platform, profiler_id, seed, n_threads = params_of(params)
  local hz = params.hz or 101
  local duration = params.duration or 60
  local index = floor(params.index or 0)
  local t0 = params.t0 or gen.T0
  local start = params.start or (t0 + index * duration)
  local world = world_for(platform, seed, profiler_id, n_threads)
  local rng = new_rng(seed * 104729 + hash_string(profiler_id) + floor(start) * 31)
  local n_ticks = floor(duration * hz + 0.5)

  -- Threads in sampling order (by id, as the SDKs list them); short-lived
  -- threads live for one stretch of the chunk.
  local order = {}
  for t = 1, n_threads do order[t] = world.threads[t] end
  sort(order, function(a, b)
    if #a.id ~= #b.id then return #a.id < #b.id end
    return a.id < b.id
  end)
  local states = {}
  for t = 1, n_threads do
    local th = order[t]
    local st = { th = th, path = draw(th, rng), from = 0, to = n_ticks }
    if th.short and n_ticks > 4 then
      local len = floor(n_ticks * (0.08 + 0.35 * rng.float()))
      st.from = rng.int(n_ticks - len)
      st.to = st.from + len
    end
    states[t] = st
  end

  -- Frames and stacks are numbered on first use in this chunk.
  local frames, stacks = gen.array({}), gen.array({})
  local frame_ids, n_frames, n_stacks = {}, 0, 0
  local stack_ids = {}
  local function stack_id_of(th, p)
    local path = th.paths[p]
    local key = path.key
    local sid = stack_ids[key]
    if sid then return sid end
    local fr = path.frames
    local s = {}
    local depth = #fr
    for k = 1, depth do
      local w = fr[k]
      local fid = frame_ids[w]
      if not fid then
        n_frames = n_frames + 1
        frames[n_frames] = world.frames[w]
        fid = n_frames - 1
        frame_ids[w] = fid
      end
      s[depth - k + 1] = fid -- leaf first
    end
    n_stacks = n_stacks + 1
    stacks[n_stacks] = s
    sid = n_stacks - 1
    stack_ids[key] = sid
    return sid
  end

  local samples = gen.array({})
  local n_samples = 0
  local tick_us = 1000000 / hz
  for tick = 0, n_ticks - 1 do
    -- The sampler wakes a little late; every thread gets this tick's time.
    local ts = start + (tick * tick_us + 25 + rng.int(400000) / 1000) / 1000000
    for t = 1, n_threads do
      local st = states[t]
      if tick >= st.from and tick < st.to then
        if rng.float() >= st.th.stay then st.path = draw(st.th, rng) end
        n_samples = n_samples + 1
        samples[n_samples] = { stack_id = stack_id_of(st.th, st.path), thread_id = st.th.id, timestamp = ts }
      end
    end
  end

  local thread_metadata = {}
  for t = 1, n_threads do
    local th = order[t]
    if th.name then thread_metadata[th.id] = { name = th.name, priority = th.priority } end
  end

  -- Chunks reach Sentry a little after they end.
  local received = start + duration + 1 + rng.int(2000000) / 1000000
  local cocoa = platform == "cocoa"
  local debug_meta = {}
  if cocoa then
    local images, names = gen.array({}), {}
    for name in pairs(COCOA_IMAGES) do names[#names + 1] = name end
    sort(names)
    for i = 1, #names do
      local img = COCOA_IMAGES[names[i]]
      local h = hash_string(img.path)
      images[i] = { type = "macho", arch = "arm64e", code_file = img.path,
        debug_id = format("%08x-%04x-%04x-%04x-%04x%08x", h, h % 65536, 16384 + h % 4096,
          32768 + h % 16384, h % 65536, (h * 7) % 4294967296),
        image_addr = hex_addr(img.base), image_size = img.size }
    end
    debug_meta.images = images
  end
  return {
    chunk_id = hex32(rng),
    profiler_id = profiler_id,
    organization_id = params.organization_id or 1,
    project_id = params.project_id or 1,
    environment = params.environment or "production",
    platform = platform,
    release = params.release or (cocoa and "com.example.MyApp@4.2.0+512" or "shopapi@24.5.1+8f3e2a1"),
    version = "2",
    received = received,
    retention_days = 90,
    client_sdk = cocoa and { name = "sentry.cocoa", version = "8.36.0" }
      or { name = "sentry.python", version = "2.19.2" },
    debug_meta = debug_meta,
    measurements = gen.null,
    options = gen.null,
    profile = {
      samples = samples,
      stacks = stacks,
      frames = frames,
      thread_metadata = thread_metadata,
    },
  }
end

-- Merging, as the server does it (contract, "The merged chunk") --------------

local function first_timestamp(chunk)
  local s = chunk.profile and chunk.profile.samples
  if s and s[1] then return s[1].timestamp end
  return type(chunk.received) == "number" and chunk.received or 0
end

function gen.merge(chunks, start, end_)
  local ordered = {}
  for i = 1, #chunks do ordered[i] = chunks[i] end
  -- Stable order for equal times: fall back on the original position.
  local pos = {}
  for i = 1, #ordered do pos[ordered[i]] = i end
  sort(ordered, function(a, b)
    local ta, tb = first_timestamp(a), first_timestamp(b)
    if ta ~= tb then return ta < tb end
    return pos[a] < pos[b]
  end)

  local merged = {}
  local first = ordered[1] or {}
  for k, v in pairs(first) do
    if k ~= "profile" and k ~= "measurements" then merged[k] = v end
  end
  local samples, stacks, frames = gen.array({}), gen.array({}), gen.array({})
  local thread_metadata = nil
  local measurements = nil
  local n_samples, n_stacks, n_frames = 0, 0, 0
  for c = 1, #ordered do
    local chunk = ordered[c]
    local p = chunk.profile or {}
    local stack_base, frame_base = n_stacks, n_frames
    local cs, cst, cf = p.samples or {}, p.stacks or {}, p.frames or {}
    for i = 1, #cf do
      n_frames = n_frames + 1
      frames[n_frames] = cf[i]
    end
    for i = 1, #cst do
      local src = cst[i]
      local dst = {}
      for j = 1, #src do dst[j] = src[j] + frame_base end
      n_stacks = n_stacks + 1
      stacks[n_stacks] = dst
    end
    for i = 1, #cs do
      local s = cs[i]
      local ts = s.timestamp
      if (start == nil or ts >= start) and (end_ == nil or ts <= end_) then
        n_samples = n_samples + 1
        samples[n_samples] = { stack_id = s.stack_id + stack_base, thread_id = s.thread_id, timestamp = ts }
      end
    end
    local tm = p.thread_metadata
    if type(tm) == "table" then
      thread_metadata = thread_metadata or {}
      for tid, meta in pairs(tm) do
        if thread_metadata[tid] == nil then thread_metadata[tid] = meta end
      end
    end
    local m = chunk.measurements
    if type(m) == "table" then
      measurements = measurements or {}
      for name, entry in pairs(m) do
        local acc = measurements[name]
        if not acc then
          acc = { unit = entry.unit, values = gen.array({}) }
          measurements[name] = acc
        end
        local vals = entry.values or {}
        for i = 1, #vals do acc.values[#acc.values + 1] = vals[i] end
      end
    end
  end
  merged.measurements = measurements or gen.null
  merged.profile = {
    samples = samples,
    stacks = stacks,
    frames = frames,
    thread_metadata = thread_metadata or gen.null,
  }
  return merged, ordered
end

function gen.answer(chunks, start, end_)
  local merged, ordered = gen.merge(chunks, start, end_)
  local ids = gen.array({})
  for i = 1, #ordered do ids[i] = ordered[i].chunk_id end
  return { chunk = merged, debug_chunk_ids = ids }
end

-- JSON encoding ------------------------------------------------------------

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}
local function escape_char(c)
  return escapes[c] or format("\\u%04x", byte(c))
end
local function quote(s)
  if s:find('[%c"\\]') then s = s:gsub('[%c"\\]', escape_char) end
  return '"' .. s .. '"'
end

local number_text = repr

local function is_array(t)
  if getmetatable(t) == array_mt then return true end
  return t[1] ~= nil
end

-- Frame keys in the order sentry-python writes them, then the native ones.
local FRAME_KEYS = { "abs_path", "module", "filename", "function", "lineno", "in_app",
  "package", "instruction_addr", "sym_addr", "symbol", "colno", "lang", "status",
  "platform", "data" }
local CHUNK_KEYS = { "chunk_id", "profiler_id", "organization_id", "project_id",
  "environment", "platform", "release", "version", "received", "retention_days",
  "client_sdk", "debug_meta", "measurements", "options", "profile" }
local PROFILE_KEYS = { "samples", "stacks", "frames", "thread_metadata" }

local encode_value

-- Keys in `order` first (the shape Sentry writes), the rest sorted.
local function encode_object(t, out, n, order)
  n = n + 1; out[n] = "{"
  local first = true
  local seen = {}
  local function emit(k, v)
    if not first then n = n + 1; out[n] = "," end
    first = false
    n = n + 1; out[n] = quote(tostring(k)) .. ":"
    n = encode_value(v, out, n, k)
  end
  if order then
    for i = 1, #order do
      local k = order[i]
      seen[k] = true
      local v = t[k]
      if v ~= nil then emit(k, v) end
    end
  end
  local rest = {}
  for k in pairs(t) do
    if not seen[k] then rest[#rest + 1] = tostring(k) end
  end
  sort(rest)
  for i = 1, #rest do
    local k = rest[i]
    local v = t[k]
    if v == nil then v = t[tonumber(k)] end
    emit(k, v)
  end
  n = n + 1; out[n] = "}"
  return n
end

local function encode_samples(samples, out, n)
  n = n + 1; out[n] = "["
  local count = #samples
  -- The text between stack_id and timestamp depends only on the thread.
  local middles = {}
  -- Pieces of 1024 samples keep the buffer small and concat cheap.
  local piece, m = {}, 0
  local last_ts, last_text
  for i = 1, count do
    local s = samples[i]
    local tid = s.thread_id
    local middle = middles[tid]
    if not middle then
      middle = ',"thread_id":' .. quote(tid) .. ',"timestamp":'
      middles[tid] = middle
    end
    -- One timestamp per tick: consecutive samples share its text.
    local ts = s.timestamp
    if ts ~= last_ts then last_ts, last_text = ts, repr(ts) end
    m = m + 1
    piece[m] = format('{"stack_id":%d%s%s}', s.stack_id, middle, last_text)
    if m == 1024 or i == count then
      n = n + 1; out[n] = concat(piece, ",", 1, m)
      if i < count then n = n + 1; out[n] = "," end
      m = 0
    end
  end
  n = n + 1; out[n] = "]"
  return n
end

local function encode_stacks(stacks, out, n)
  n = n + 1; out[n] = "["
  local count = #stacks
  local piece, m = {}, 0
  for i = 1, count do
    m = m + 1
    piece[m] = "[" .. concat(stacks[i], ",") .. "]"
    if m == 1024 or i == count then
      n = n + 1; out[n] = concat(piece, ",", 1, m)
      if i < count then n = n + 1; out[n] = "," end
      m = 0
    end
  end
  n = n + 1; out[n] = "]"
  return n
end

function encode_value(v, out, n, key)
  local tv = type(v)
  if v == gen.null or v == nil then
    n = n + 1; out[n] = "null"
  elseif tv == "string" then
    n = n + 1; out[n] = quote(v)
  elseif tv == "number" then
    n = n + 1; out[n] = number_text(v)
  elseif tv == "boolean" then
    n = n + 1; out[n] = v and "true" or "false"
  elseif tv == "table" then
    if key == "samples" then return encode_samples(v, out, n) end
    if key == "stacks" then return encode_stacks(v, out, n) end
    if is_array(v) then
      n = n + 1; out[n] = "["
      local frames = key == "frames"
      for i = 1, #v do
        if i > 1 then n = n + 1; out[n] = "," end
        if frames then
          n = encode_object(v[i], out, n, FRAME_KEYS)
        else
          n = encode_value(v[i], out, n)
        end
      end
      n = n + 1; out[n] = "]"
    else
      local order
      if key == "chunk" then order = CHUNK_KEYS
      elseif key == "profile" then order = PROFILE_KEYS end
      n = encode_object(v, out, n, order)
    end
  else
    error("cannot encode a " .. tv .. " as JSON")
  end
  return n
end

-- Pieces of the JSON text, in order (the CLI writes them without joining).
function gen.encode_pieces(value)
  local out = {}
  local n
  if type(value) == "table" and value.chunk ~= nil and not is_array(value) then
    n = encode_object(value, out, 0, { "chunk", "debug_chunk_ids" })
  else
    n = encode_value(value, out, 0)
  end
  return out, n
end

function gen.encode(value)
  local out, n = gen.encode_pieces(value)
  return concat(out, "", 1, n)
end

-- Command line -------------------------------------------------------------

local USAGE = "usage: lua bench/gen.lua --chunks N [--threads N] [--seed N] [--hz 101]"
  .. " [--profiler HEX32] [--start EPOCH] [--platform python|cocoa] > out.json\n"

local function main(argv)
  local opts = { chunks = 1, seed = 1, hz = 101, start = gen.T0,
    profiler = gen.DEFAULT_PROFILER, platform = "python", threads = false }
  local i = 1
  while i <= #argv do
    local name = argv[i]:match("^%-%-(.+)$")
    local value = argv[i + 1]
    if not name or opts[name] == nil or value == nil then
      io.stderr:write(USAGE)
      os.exit(2)
    end
    if name == "profiler" or name == "platform" then
      opts[name] = value
    else
      opts[name] = tonumber(value)
      if not opts[name] then io.stderr:write(USAGE) os.exit(2) end
    end
    i = i + 2
  end
  if opts.platform ~= "python" and opts.platform ~= "cocoa" then
    io.stderr:write(USAGE)
    os.exit(2)
  end
  local list = {}
  for k = 1, opts.chunks do
    list[k] = gen.chunk_table { platform = opts.platform, profiler_id = opts.profiler, seed = opts.seed,
      threads = opts.threads or nil, hz = opts.hz, start = opts.start + (k - 1) * 60 }
  end
  local answer = gen.answer(list, opts.start, opts.start + opts.chunks * 60)
  local out, n = gen.encode_pieces(answer)
  local stdout = io.stdout
  for j = 1, n, 4096 do
    local last = j + 4095
    if last > n then last = n end
    stdout:write(concat(out, "", j, last))
  end
  stdout:write("\n")
end

-- Run as a script only when invoked as one (require passes the module name).
if arg and arg[0] and arg[0]:match("gen%.lua$") and (...) == arg[1] then
  main(arg)
end

return gen
