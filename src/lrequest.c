/*
** lrequest.c: Lua bindings of the transfer engine.
**
**   core.multi() -> multi            one CURLM; its connections are reused
**   multi:request(opts) -> req       a started transfer (opts below)
**   multi:poll([seconds])            wait for sockets; returns at once while a
**                                    request has bytes waiting for its step
**   multi:timeout() -> seconds|nil   when curl wants to be called again
**   multi:active() -> n              transfers in flight
**   multi:close()                    detaches every request (they fail)
**   req:step() -> done               curl_multi_perform, then, outside curl,
**                                    the buffered bytes go to the decoder (or
**                                    to the error text) and the transfer
**                                    resumes; bounded by the buffer size
**   req:result() -> value | nil, kind, message
**   req:info() -> table              status, headers, body text, sizes, ...
**   req:progress() -> received, total|nil   wire bytes (before decoding)
**   req:close()                      aborts and frees at once (also __gc,
**                                    __close)
**
** opts: url (required), token, ca_file, user_agent, timeout,
** connect_timeout, low_speed_time (seconds), low_speed_limit (bytes/s),
** max_bytes, buffer_size. (No verbose mode: curl's trace would print the
** Authorization header.)
**
** No Lua API call runs inside a libcurl callback: the callbacks live in
** transfer.c and only copy into C buffers.
*/
#include "lrequest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ldecoder.h"
#include "transfer.h"

#define TEXT_CAP (64 * 1024) /* error bodies kept as text, at most */

typedef struct lsc_multi {
  sc_multi *m;
} lsc_multi;

enum { MODE_NONE = 0, MODE_JSON, MODE_TEXT };
enum { ST_RUNNING = 0, ST_OK, ST_FAILED };

typedef struct lsc_request {
  sc_transfer *t;
  lsc_multi *owner;   /* valid while multi_ref holds it */
  int multi_ref;
  int decoder_ref;
  lsc_decoder *dec;
  int value_ref;
  int mode;
  int state;
  const char *kind;   /* failure kind (static string) */
  char message[320];
  char *text;         /* the first TEXT_CAP bytes of a non-JSON body */
  size_t tlen;
  long long text_total;
} lsc_request;

/* Options ------------------------------------------------------------------ */

static const char *opt_string(lua_State *L, int idx, const char *name) {
  const char *s = NULL;
  lua_getfield(L, idx, name);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pushfstring(L, "bad option '%s' to 'request' (string expected, got %s)", name,
                      luaL_typename(L, -1));
      lua_error(L);
    }
    s = lua_tostring(L, -1);
  }
  lua_pop(L, 1); /* the string stays alive in the options table */
  return s;
}

static double opt_number(lua_State *L, int idx, const char *name, double dflt) {
  double v = dflt;
  lua_getfield(L, idx, name);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TNUMBER || lua_tonumber(L, -1) < 0) {
      lua_pushfstring(L, "bad option '%s' to 'request' (non-negative number expected, got %s)",
                      name, luaL_typename(L, -1));
      lua_error(L);
    }
    v = (double)lua_tonumber(L, -1);
  }
  lua_pop(L, 1);
  return v;
}

static long seconds_ms(double s) {
  if (s <= 0) return 0;
  if (s > 2000000.0) return 2000000000L;
  return (long)(s * 1000.0 + 0.5);
}

/* Multi ---------------------------------------------------------------------- */

static lsc_multi *check_multi(lua_State *L, int idx) {
  lsc_multi *lm = luaL_checkudata(L, idx, SC_MULTI_MT);
  return lm;
}

static lsc_multi *check_open_multi(lua_State *L, int idx) {
  lsc_multi *lm = check_multi(L, idx);
  if (!lm->m) luaL_argerror(L, idx, "multi is closed");
  return lm;
}

static int l_multi(lua_State *L) {
  char err[256];
  lsc_multi *lm = lua_newuserdata(L, sizeof *lm);
  lm->m = NULL;
  luaL_getmetatable(L, SC_MULTI_MT);
  lua_setmetatable(L, -2);
  lm->m = sc_multi_new(err, sizeof err);
  if (!lm->m) return luaL_error(L, "%s", err);
  return 1;
}

static int l_multi_gc(lua_State *L) {
  lsc_multi *lm = check_multi(L, 1);
  if (lm->m) {
    sc_multi_free(lm->m);
    lm->m = NULL;
  }
  return 0;
}

static int l_multi_poll(lua_State *L) {
  lsc_multi *lm = check_open_multi(L, 1);
  double s = luaL_optnumber(L, 2, 1.0);
  char err[256];
  if (sc_multi_poll(lm->m, (int)seconds_ms(s), err, sizeof err) != 0) {
    lua_pushnil(L);
    lua_pushstring(L, err);
    return 2;
  }
  lua_pushboolean(L, 1);
  return 1;
}

static int l_multi_timeout(lua_State *L) {
  lsc_multi *lm = check_open_multi(L, 1);
  long ms = sc_multi_timeout(lm->m);
  if (ms < 0) lua_pushnil(L);
  else lua_pushnumber(L, (lua_Number)ms / 1000.0);
  return 1;
}

/* multi:sockets() -> { {fd = n, read = bool, write = bool}, ... }: what to
   wait on before the next step (with multi:timeout()). */
static int l_multi_sockets(lua_State *L) {
  lsc_multi *lm = check_open_multi(L, 1);
  int fds[64], events[64];
  size_t n = sc_multi_sockets(lm->m, fds, events, 64), i;
  if (n > 64) n = 64; /* one client never holds that many connections */
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, fds[i]);
    lua_setfield(L, -2, "fd");
    lua_pushboolean(L, events[i] & SC_WAIT_READ);
    lua_setfield(L, -2, "read");
    lua_pushboolean(L, events[i] & SC_WAIT_WRITE);
    lua_setfield(L, -2, "write");
    lua_rawseti(L, -2, (int)i + 1);
  }
  return 1;
}

static int l_multi_active(lua_State *L) {
  lsc_multi *lm = check_open_multi(L, 1);
  lua_pushinteger(L, sc_multi_active(lm->m));
  return 1;
}

static int l_multi_tostring(lua_State *L) {
  lsc_multi *lm = check_multi(L, 1);
  if (lm->m) lua_pushfstring(L, "sentry.chunks.multi (%d active)", sc_multi_active(lm->m));
  else lua_pushliteral(L, "sentry.chunks.multi (closed)");
  return 1;
}

/* Requests ------------------------------------------------------------------ */

static lsc_request *check_request(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, SC_REQUEST_MT);
}

static void unref(lua_State *L, int *ref) {
  if (*ref != LUA_NOREF && *ref != LUA_REFNIL) luaL_unref(L, LUA_REGISTRYINDEX, *ref);
  *ref = LUA_NOREF;
}

static void drop_decoder(lua_State *L, lsc_request *r) {
  unref(L, &r->decoder_ref);
  r->dec = NULL;
}

/* Frees the transfer and every reference but the value and the text. */
static void release(lua_State *L, lsc_request *r) {
  if (r->t) {
    sc_transfer_free(r->t);
    r->t = NULL;
  }
  drop_decoder(L, r);
  unref(L, &r->multi_ref);
  r->owner = NULL;
}

static void fail(lua_State *L, lsc_request *r, const char *kind, const char *msg) {
  if (r->state != ST_RUNNING) return;
  r->state = ST_FAILED;
  r->kind = kind;
  snprintf(r->message, sizeof r->message, "%s", msg ? msg : kind);
  if (r->t && !sc_transfer_done(r->t)) sc_transfer_abort(r->t, SC_FAIL_ABORTED);
  drop_decoder(L, r);
}

static int is_json_type(const char *ct) {
  /* application/json, application/problem+json, ...; parameters ignored */
  char mime[64];
  size_t n = strcspn(ct, ";"), i;
  while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t')) n--;
  if (n == 0 || n >= sizeof mime) return 0;
  for (i = 0; i < n; i++) {
    char c = ct[i];
    mime[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  mime[n] = '\0';
  if (strcmp(mime, "application/json") == 0) return 1;
  return n > 5 && strcmp(mime + n - 5, "+json") == 0;
}

/* Decides, once the headers are in, where the body goes: a 2xx with a JSON
   (or no) content type to the decoder; anything else to the bounded text. */
static void decide_mode(lua_State *L, lsc_request *r) {
  long status;
  const char *ct;
  if (r->mode != MODE_NONE) return;
  status = sc_transfer_status(r->t);
  ct = sc_transfer_content_type(r->t);
  if (status >= 200 && status < 300 && (ct == NULL || is_json_type(ct))) {
    r->dec = lsc_decoder_new(L, 0, "fetch", 0);
    r->decoder_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    r->mode = MODE_JSON;
  } else {
    r->mode = MODE_TEXT;
  }
}

static void keep_text(lsc_request *r, const char *s, size_t n) {
  size_t room;
  r->text_total += (long long)n;
  if (!r->text) {
    r->text = malloc(TEXT_CAP);
    if (!r->text) return;
  }
  room = TEXT_CAP - r->tlen;
  if (n > room) n = room;
  memcpy(r->text + r->tlen, s, n);
  r->tlen += n;
}

static const char *kind_of(CURLcode rc, int failcode) {
  if (failcode == SC_FAIL_TOO_LARGE) return "too_large";
  if (failcode == SC_FAIL_HEADERS) return "network";
  if (failcode == SC_FAIL_DETACHED || failcode == SC_FAIL_ABORTED) return "aborted";
  switch (rc) {
  case CURLE_COULDNT_RESOLVE_HOST:
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_COULDNT_CONNECT:
    return "connect";
  case CURLE_OPERATION_TIMEDOUT:
    return "timeout";
  case CURLE_FILESIZE_EXCEEDED:
    return "too_large";
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_USE_SSL_FAILED:
    return "tls";
  case CURLE_UNSUPPORTED_PROTOCOL:
  case CURLE_URL_MALFORMAT:
    return "invalid_url";
  default:
    return "network";
  }
}

/* The transfer is done and its buffer drained: settle the outcome. */
static void settle(lua_State *L, lsc_request *r) {
  CURLcode rc = sc_transfer_result(r->t);
  int fc = sc_transfer_fail(r->t);
  if (rc != CURLE_OK || fc != SC_FAIL_NONE) {
    char msg[300];
    const char *e = sc_transfer_error(r->t);
    if (fc == SC_FAIL_TOO_LARGE || (rc == CURLE_FILESIZE_EXCEEDED))
      e = "the body is larger than max_bytes";
    else if (fc == SC_FAIL_HEADERS)
      e = "the response headers are too large";
    else if (fc == SC_FAIL_DETACHED)
      e = "the client was closed during the transfer";
    else if (fc == SC_FAIL_ABORTED)
      e = "the transfer was cancelled";
    snprintf(msg, sizeof msg, "%s", e ? e : curl_easy_strerror(rc));
    fail(L, r, kind_of(rc, fc), msg);
    return;
  }
  decide_mode(L, r);
  if (r->mode == MODE_JSON) {
    if (lsc_decoder_finish(L, r->dec) != SC_OK) {
      fail(L, r, "invalid_json", lsc_decoder_error(r->dec));
      return;
    }
    r->value_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    drop_decoder(L, r);
  }
  r->state = ST_OK;
}

/* Moves the buffered bytes out of the transfer, outside libcurl. */
static void drain(lua_State *L, lsc_request *r) {
  size_t n;
  const char *s = sc_transfer_data(r->t, &n);
  if (n == 0) return;
  decide_mode(L, r);
  if (r->mode == MODE_JSON) {
    if (lsc_decoder_feed(L, r->dec, s, n) != SC_OK) {
      char msg[300];
      snprintf(msg, sizeof msg, "%s", lsc_decoder_error(r->dec));
      fail(L, r, "invalid_json", msg);
      return;
    }
  } else {
    keep_text(r, s, n);
  }
  sc_transfer_consume(r->t);
}

static int l_request(lua_State *L) {
  lsc_multi *lm = check_open_multi(L, 1);
  sc_transfer_opts o;
  lsc_request *r;
  char err[256];
  luaL_checktype(L, 2, LUA_TTABLE);
  memset(&o, 0, sizeof o);
  o.url = opt_string(L, 2, "url");
  if (!o.url) luaL_argerror(L, 2, "url expected");
  o.token = opt_string(L, 2, "token");
  o.ca_file = opt_string(L, 2, "ca_file");
  o.user_agent = opt_string(L, 2, "user_agent");
  o.timeout_ms = seconds_ms(opt_number(L, 2, "timeout", 0));
  o.connect_timeout_ms = seconds_ms(opt_number(L, 2, "connect_timeout", 0));
  o.low_speed_time = (long)opt_number(L, 2, "low_speed_time", 0);
  o.low_speed_limit = (long)opt_number(L, 2, "low_speed_limit", 1);
  o.max_bytes = (long long)opt_number(L, 2, "max_bytes", 0);
  o.buffer_size = (size_t)opt_number(L, 2, "buffer_size", 0);

  r = lua_newuserdata(L, sizeof *r);
  memset(r, 0, sizeof *r);
  r->multi_ref = r->decoder_ref = r->value_ref = LUA_NOREF;
  luaL_getmetatable(L, SC_REQUEST_MT);
  lua_setmetatable(L, -2);
  r->t = sc_transfer_new(&o, err, sizeof err);
  if (!r->t) return luaL_error(L, "%s", err);
  if (sc_transfer_start(r->t, lm->m, err, sizeof err) != 0) {
    release(L, r);
    return luaL_error(L, "%s", err);
  }
  lua_pushvalue(L, 1);
  r->multi_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  r->owner = lm;
  return 1;
}

static int l_step(lua_State *L) {
  lsc_request *r = check_request(L, 1);
  if (r->state == ST_RUNNING && r->t) {
    if (!sc_transfer_done(r->t)) {
      char err[256];
      if (!r->owner || !r->owner->m) {
        fail(L, r, "aborted", "the client was closed during the transfer");
      } else if (sc_multi_perform(r->owner->m, err, sizeof err) != 0) {
        fail(L, r, "network", err);
      }
    }
    if (r->state == ST_RUNNING) drain(L, r);
    if (r->state == ST_RUNNING && sc_transfer_done(r->t)) {
      size_t n;
      sc_transfer_data(r->t, &n);
      if (n == 0) settle(L, r);
    }
  }
  if (r->state != ST_RUNNING && r->t) {
    /* keep the transfer for info(): it is detached and holds no socket */
    drop_decoder(L, r);
  }
  lua_pushboolean(L, r->state != ST_RUNNING);
  return 1;
}

static int l_result(lua_State *L) {
  lsc_request *r = check_request(L, 1);
  if (r->state == ST_OK) {
    if (r->value_ref != LUA_NOREF) {
      lua_rawgeti(L, LUA_REGISTRYINDEX, r->value_ref);
      return 1;
    }
    lua_pushnil(L);
    lua_pushliteral(L, "response"); /* an answer kept as text: see info() */
    lua_pushliteral(L, "the answer is not JSON to decode");
    return 3;
  }
  lua_pushnil(L);
  if (r->state == ST_RUNNING) {
    lua_pushliteral(L, "running");
    lua_pushliteral(L, "the transfer is not finished");
  } else {
    lua_pushstring(L, r->kind);
    lua_pushstring(L, r->message);
  }
  return 3;
}

static void set_int(lua_State *L, const char *k, long long v) {
  sc_pushint64(L, v);
  lua_setfield(L, -2, k);
}

static int l_info(lua_State *L) {
  lsc_request *r = check_request(L, 1);
  lua_createtable(L, 0, 16);
  lua_pushstring(L, r->state == ST_RUNNING ? "running" : r->state == ST_OK ? "ok" : "failed");
  lua_setfield(L, -2, "state");
  if (r->state == ST_FAILED) {
    lua_pushstring(L, r->kind);
    lua_setfield(L, -2, "kind");
    lua_pushstring(L, r->message);
    lua_setfield(L, -2, "message");
  }
  if (r->t) {
    size_t n;
    const char *h = sc_transfer_headers(r->t, &n);
    const char *ct = sc_transfer_content_type(r->t);
    const char *url = sc_transfer_url(r->t);
    long long now, total;
    set_int(L, "status", sc_transfer_status(r->t));
    if (n > 0) {
      lua_pushlstring(L, h, n);
      lua_setfield(L, -2, "headers");
    }
    if (ct) {
      lua_pushstring(L, ct);
      lua_setfield(L, -2, "content_type");
    }
    if (url) {
      lua_pushstring(L, url);
      lua_setfield(L, -2, "url");
    }
    set_int(L, "received", sc_transfer_received(r->t));
    sc_transfer_progress(r->t, &now, &total);
    set_int(L, "wire_received", now);
    if (total >= 0) set_int(L, "content_length", total);
    set_int(L, "curl_code", (long long)sc_transfer_result(r->t));
    lua_pushnumber(L, sc_transfer_seconds(r->t));
    lua_setfield(L, -2, "seconds");
    lua_pushboolean(L, sc_transfer_reused(r->t));
    lua_setfield(L, -2, "reused");
    set_int(L, "http_version", sc_transfer_http_version(r->t));
  }
  if (r->mode != MODE_NONE) {
    lua_pushstring(L, r->mode == MODE_JSON ? "json" : "text");
    lua_setfield(L, -2, "mode");
  }
  if (r->mode == MODE_TEXT) {
    lua_pushlstring(L, r->text ? r->text : "", r->tlen);
    lua_setfield(L, -2, "body");
    set_int(L, "body_bytes", r->text_total);
  }
  return 1;
}

static int l_progress(lua_State *L) {
  lsc_request *r = check_request(L, 1);
  long long now = 0, total = -1;
  if (r->t) sc_transfer_progress(r->t, &now, &total);
  sc_pushint64(L, now);
  if (total >= 0) sc_pushint64(L, total);
  else lua_pushnil(L);
  return 2;
}

static int l_request_close(lua_State *L) {
  lsc_request *r = check_request(L, 1);
  if (r->state == ST_RUNNING) {
    r->state = ST_FAILED;
    r->kind = "aborted";
    snprintf(r->message, sizeof r->message, "the transfer was cancelled");
  }
  release(L, r);
  return 0;
}

static int l_request_gc(lua_State *L) {
  lsc_request *r = check_request(L, 1);
  release(L, r);
  unref(L, &r->value_ref);
  free(r->text);
  r->text = NULL;
  r->tlen = 0;
  return 0;
}

static int l_request_tostring(lua_State *L) {
  lsc_request *r = check_request(L, 1);
  lua_pushfstring(L, "sentry.chunks.request (%s)",
                  r->state == ST_RUNNING ? "running" : r->state == ST_OK ? "done" : "failed");
  return 1;
}

/* core.sleep(seconds): blocks this thread (the blocking fetch's waits). */
static int l_sleep(lua_State *L) {
  double s = luaL_checknumber(L, 1);
  struct timespec ts, rem;
  if (s <= 0) return 0;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &rem) != 0 && errno == EINTR) ts = rem;
  return 0;
}

/* core.monotime() -> seconds on a monotonic clock. */
static int l_monotime(lua_State *L) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec / 1e9);
  return 1;
}

void lsc_request_open(lua_State *L) {
  static const luaL_Reg multi_methods[] = {
    {"request", l_request}, {"poll", l_multi_poll}, {"timeout", l_multi_timeout},
    {"active", l_multi_active}, {"sockets", l_multi_sockets}, {"close", l_multi_gc},
    {NULL, NULL}};
  static const luaL_Reg multi_meta[] = {
    {"__gc", l_multi_gc}, {"__close", l_multi_gc}, {"__tostring", l_multi_tostring},
    {NULL, NULL}};
  static const luaL_Reg req_methods[] = {
    {"step", l_step}, {"result", l_result}, {"info", l_info}, {"progress", l_progress},
    {"close", l_request_close}, {"cancel", l_request_close}, {NULL, NULL}};
  static const luaL_Reg req_meta[] = {
    {"__gc", l_request_gc}, {"__close", l_request_gc}, {"__tostring", l_request_tostring},
    {NULL, NULL}};
  sc_newclass(L, SC_MULTI_MT, multi_methods, multi_meta);
  sc_newclass(L, SC_REQUEST_MT, req_methods, req_meta);
  lua_pushcfunction(L, l_multi);
  lua_setfield(L, -2, "multi");
  lua_pushcfunction(L, l_sleep);
  lua_setfield(L, -2, "sleep");
  lua_pushcfunction(L, l_monotime);
  lua_setfield(L, -2, "monotime");
}
