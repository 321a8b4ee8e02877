/*
** lrequest.c: Lua bindings of the transfer engine.
**
**   core.multi() -> multi            one CURLM; its connections are reused
**   multi:request(opts) -> req       a started transfer (opts below)
**   multi:poll([seconds [, req]])    wait for sockets; returns at once while
**                                    req (else any request) has bytes
**                                    waiting for its step, or req is over
**   multi:timeout() -> seconds|nil   when curl wants to be called again
**   multi:active() -> n              transfers in flight
**   multi:close()                    detaches every request (they fail)
**   multi:closed() -> bool           whether close (or __gc) ran
**   req:step() -> done               curl_multi_perform, then, outside curl,
**                                    at most buffer_size buffered bytes go to
**                                    the decoder (or to the error text) and
**                                    the transfer resumes once they are all
**                                    taken
**   req:result() -> value | nil, kind, message
**   req:info() -> table              status, headers, body text, sizes, ...
**   req:progress() -> received, total|nil   wire bytes (before decoding)
**   req:close()                      aborts and frees at once (also __gc,
**                                    __close)
**
** opts: url (required), token, ca_file, user_agent, timeout,
** connect_timeout, low_speed_time (seconds), low_speed_limit (bytes/s),
** max_bytes (default SC_DEFAULT_BODY_MAX), buffer_size, layout ("rows",
** "columns": the decoder's samples layout). Read raw (no
** __index runs), range-checked before any conversion. (No verbose mode:
** curl's trace would print the Authorization header.)
**
** Limits, each failing with kind too_large and the limit in the message:
** max_bytes (decoded body bytes), TEXT_CAP (a body kept as text: an error
** answer, a 2xx that is not JSON), SC_HEADER_CAP (the header block).
**
** While a step runs on a request (r->busy), nothing frees its transfer or
** its decoder: a close from a finalizer during the step only marks it, and
** the step releases at its end; the decoder sits on the Lua stack while it
** is fed.
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

#define TEXT_CAP (64 * 1024) /* a body kept as text (error answers), at most */
#define SC_DEFAULT_BODY_MAX (512LL * 1024 * 1024) /* max_bytes by default */

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
  long long max_bytes;
  double low_speed_limit;  /* for the stall message */
  long low_speed_ms;
  int columns;        /* the decoder's samples layout is columns */
  long long wire_total; /* Content-Length of an encoded body, else 0 */
  int busy;           /* a step runs on it */
  int close_pending;  /* closed during that step: release at its end */
} lsc_request;

/* Options ------------------------------------------------------------------ */

/* Pushes opts[name], read raw: an __index metamethod's string would have no
   owner once popped. A string option stays on the stack (pushed, never
   popped) until the transfer has its own copy: the caller's lua_settop
   drops them. Returns NULL (and pushes nothing) for nil. */
static const char *opt_string(lua_State *L, int idx, const char *name) {
  lua_pushstring(L, name);
  lua_rawget(L, idx);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING) {
    lua_pushfstring(L, "bad option '%s' to 'request' (string expected, got %s)", name,
                    luaL_typename(L, -1));
    lua_error(L);
  }
  return lua_tostring(L, -1); /* anchored on the stack */
}

/* A number option in [0, max]: NaN, inf, negative or past max is the
   caller's mistake, caught before any conversion to an integer type. */
static double opt_number(lua_State *L, int idx, const char *name, double dflt,
                         double max) {
  double v = dflt;
  lua_pushstring(L, name);
  lua_rawget(L, idx);
  if (!lua_isnil(L, -1)) {
    if (lua_type(L, -1) != LUA_TNUMBER) {
      lua_pushfstring(L, "bad option '%s' to 'request' (non-negative number expected, got %s)",
                      name, luaL_typename(L, -1));
      lua_error(L);
    }
    v = (double)lua_tonumber(L, -1);
    if (!(v >= 0 && v <= max)) { /* NaN fails both */
      lua_pushfstring(L, "bad option '%s' to 'request' (number in [0, %f] expected, got %s)",
                      name, (lua_Number)max, lua_tostring(L, -1));
      lua_error(L);
    }
  }
  lua_pop(L, 1);
  return v;
}

#define MAX_SECONDS 2000000.0 /* about 23 days: every timeout, in seconds */

/* s in [0, MAX_SECONDS] (checked by the caller): milliseconds. */
static long seconds_ms(double s) {
  if (!(s > 0)) return 0;
  if (s > MAX_SECONDS) s = MAX_SECONDS;
  return (long)(s * 1000.0 + 0.5);
}

/* A seconds argument (poll, sleep): a number in [0, max]. NaN, inf,
   negative or past max is the caller's mistake. */
static double check_seconds(lua_State *L, int arg, double dflt, double max) {
  double s = luaL_optnumber(L, arg, dflt);
  if (!(s >= 0 && s <= max)) {
    lua_pushfstring(L, "seconds in [0, %d] expected, got %s", (int)max,
                    lua_tostring(L, arg));
    luaL_argerror(L, arg, lua_tostring(L, -1));
  }
  return s;
}

static lsc_request *check_request(lua_State *L, int idx);

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
  double s = check_seconds(L, 2, 1.0, MAX_SECONDS);
  const sc_transfer *only = NULL;
  char err[256];
  if (!lua_isnoneornil(L, 3)) {
    lsc_request *r = check_request(L, 3);
    if (!r->t || r->state != ST_RUNNING) { /* nothing to wait for */
      lua_pushboolean(L, 1);
      return 1;
    }
    only = r->t;
  }
  if (sc_multi_poll(lm->m, only, (int)seconds_ms(s), err, sizeof err) != 0) {
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

/* multi:closed() -> whether close (or __gc) ran: the Lua side then answers
   "client is closed" instead of calling into it. */
static int l_multi_closed(lua_State *L) {
  lsc_multi *lm = check_multi(L, 1);
  lua_pushboolean(L, lm->m == NULL);
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

/* Whether the answer came with a Content-Encoding other than identity. */
static int has_content_encoding(const lsc_request *r) {
  size_t n, i;
  const char *h = sc_transfer_headers(r->t, &n);
  static const char name[] = "\ncontent-encoding:";
  for (i = 0; i + sizeof name - 1 <= n; i++) {
    size_t j;
    for (j = 0; j < sizeof name - 1; j++) {
      char c = h[i + j];
      if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
      if (c != name[j]) break;
    }
    if (j == sizeof name - 1) {
      const char *v = h + i + j;
      while (*v == ' ' || *v == '\t') v++;
      return strncmp(v, "identity", 8) != 0;
    }
  }
  return 0;
}

/* The size of an encoded body, estimated as it arrives: its
   Content-Length (wire bytes) times what the bytes so far inflated to
   per wire byte; at most max_bytes, which the inflated bytes never pass.
   The first samples are presized from it (builder.c, rows_for_text): told
   the wire's length, a 50-chunk answer's rows were made for a twentieth
   of their count and grew, a third of the gzip fetch's time on LuaJIT. */
static size_t encoded_size_estimate(const lsc_request *r) {
  long long wire, total;
  double ratio, estimate;
  sc_transfer_progress(r->t, &wire, &total);
  if (wire <= 0) return 0;
  ratio = (double)sc_transfer_received(r->t) / (double)wire;
  estimate = (double)r->wire_total * (ratio < 1 ? 1 : ratio);
  if (estimate > (double)r->max_bytes) estimate = (double)r->max_bytes;
  return (size_t)estimate;
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
    long long now, total;
    sc_transfer_progress(r->t, &now, &total); /* the string cache fits the size */
    r->wire_total = total > 0 && has_content_encoding(r) ? total : 0;
    r->dec = lsc_decoder_new(L, 0, "fetch", total > 0 ? (size_t)total : 0);
    /* the body's limit is max_bytes, checked by the transfer on the same
       bytes: never the decoder's own default (1 GiB), reported otherwise */
    lsc_decoder_set_max_bytes(r->dec, (size_t)r->max_bytes + 1);
    lsc_decoder_set_columns(r->dec, r->columns);
    r->decoder_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    r->mode = MODE_JSON;
  } else {
    r->mode = MODE_TEXT;
  }
}

/* 0, or -1 when the text would go past TEXT_CAP (the request fails). */
static int keep_text(lsc_request *r, const char *s, size_t n) {
  size_t room;
  r->text_total += (long long)n;
  if (r->text_total > TEXT_CAP) return -1;
  if (!r->text) {
    r->text = malloc(TEXT_CAP);
    if (!r->text) return 0; /* the body is then reported empty */
  }
  room = TEXT_CAP - r->tlen;
  if (n > room) n = room;
  memcpy(r->text + r->tlen, s, n);
  r->tlen += n;
  return 0;
}

static const char *kind_of(CURLcode rc, int failcode, const char *errbuf) {
  if (failcode == SC_FAIL_TOO_LARGE) return "too_large";
  if (failcode == SC_FAIL_HEADERS) return "too_large";
  if (failcode == SC_FAIL_STALLED) return "timeout";
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
    /* also what curl says of an answer without a status line ("Received
       HTTP/0.9 when not allowed"): a broken server, not a bad URL */
    if (errbuf && strstr(errbuf, "HTTP/0.9")) return "network";
    return "invalid_url";
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
    const char *kind = kind_of(rc, fc, e);
    if (fc == SC_FAIL_TOO_LARGE || (rc == CURLE_FILESIZE_EXCEEDED)) {
      snprintf(msg, sizeof msg, "the body is larger than max_bytes (%lld bytes)", r->max_bytes);
      e = msg;
    } else if (fc == SC_FAIL_HEADERS) {
      snprintf(msg, sizeof msg, "the response headers are larger than %d bytes",
               (int)SC_HEADER_CAP);
      e = msg;
    } else if (fc == SC_FAIL_STALLED) {
      snprintf(msg, sizeof msg, "Operation too slow. Less than %.15g bytes/sec transferred the last %.15g seconds",
               r->low_speed_limit, (double)r->low_speed_ms / 1000.0);
      e = msg;
    } else if (fc == SC_FAIL_DETACHED) {
      e = "the client was closed during the transfer";
    } else if (fc == SC_FAIL_ABORTED) {
      e = "the transfer was cancelled";
    } else if (rc == CURLE_OUT_OF_MEMORY && has_content_encoding(r)) {
      /* libcurl inflated one read past its own pause buffer (64 MB) */
      kind = "too_large";
      e = "the compressed body inflates past libcurl's 64 MB pause buffer";
    }
    if (e != msg) snprintf(msg, sizeof msg, "%s", e ? e : curl_easy_strerror(rc));
    fail(L, r, kind, msg);
    return;
  }
  decide_mode(L, r);
  if (r->mode == MODE_JSON) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->decoder_ref); /* anchored while it runs */
    if (lsc_decoder_finish(L, r->dec) != SC_OK) {
      fail(L, r, lsc_decoder_oom(r->dec) ? "out_of_memory" : "invalid_json",
           lsc_decoder_error(r->dec));
      lua_pop(L, 1);
      return;
    }
    r->value_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);
    drop_decoder(L, r);
  }
  r->state = ST_OK;
}

/* Moves the buffered bytes out of the transfer, outside libcurl. */
/* Moves at most one buffer's worth (buffer_size) of the buffered bytes out
   of the transfer, outside libcurl. The transfer resumes once its buffer is
   empty. The decoder is anchored on the stack while it is fed: a finalizer
   may drop the request's reference to it meanwhile. */
static void drain(lua_State *L, lsc_request *r) {
  size_t n;
  const char *s = sc_transfer_data(r->t, &n);
  if (n == 0) return;
  decide_mode(L, r);
  if (r->mode == MODE_JSON) {
    int rc;
    if (r->wire_total > 0) lsc_decoder_set_size(r->dec, encoded_size_estimate(r));
    lua_rawgeti(L, LUA_REGISTRYINDEX, r->decoder_ref);
    rc = lsc_decoder_feed(L, r->dec, s, n);
    if (rc != SC_OK) {
      char msg[300];
      snprintf(msg, sizeof msg, "%s", lsc_decoder_error(r->dec));
      fail(L, r, lsc_decoder_oom(r->dec) ? "out_of_memory" : "invalid_json", msg);
    }
    lua_pop(L, 1);
    if (rc != SC_OK) return;
  } else if (keep_text(r, s, n) != 0) {
    char msg[300];
    snprintf(msg, sizeof msg, "the answer (HTTP %ld, not JSON to decode) is larger than %d bytes",
             sc_transfer_status(r->t), (int)TEXT_CAP);
    fail(L, r, "too_large", msg);
    return;
  }
  sc_transfer_consume(r->t, n);
}

static int l_request(lua_State *L) {
  lsc_multi *lm = check_open_multi(L, 1);
  sc_transfer_opts o;
  lsc_request *r;
  char err[256];
  int columns;
  luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  memset(&o, 0, sizeof o);
  /* The strings stay on the stack (above 2) until sc_transfer_new, where
     libcurl copies them. */
  o.url = opt_string(L, 2, "url");
  if (!o.url) luaL_argerror(L, 2, "url expected");
  o.token = opt_string(L, 2, "token");
  o.ca_file = opt_string(L, 2, "ca_file");
  o.user_agent = opt_string(L, 2, "user_agent");
  o.timeout_ms = seconds_ms(opt_number(L, 2, "timeout", 0, MAX_SECONDS));
  o.connect_timeout_ms = seconds_ms(opt_number(L, 2, "connect_timeout", 0, MAX_SECONDS));
  o.low_speed_ms = seconds_ms(opt_number(L, 2, "low_speed_time", 0, MAX_SECONDS));
  o.low_speed_limit = opt_number(L, 2, "low_speed_limit", 1, 2147483647.0);
  o.max_bytes = (long long)opt_number(L, 2, "max_bytes", 0, 9007199254740992.0);
  if (o.max_bytes <= 0) o.max_bytes = SC_DEFAULT_BODY_MAX;
  o.buffer_size = (size_t)opt_number(L, 2, "buffer_size", 0, 1073741824.0);
  columns = lsc_decoder_opt_layout(L, 2, "request");

  r = lua_newuserdata(L, sizeof *r);
  memset(r, 0, sizeof *r);
  r->multi_ref = r->decoder_ref = r->value_ref = LUA_NOREF;
  r->max_bytes = o.max_bytes;
  r->low_speed_limit = o.low_speed_limit > 0 ? o.low_speed_limit : 1;
  r->low_speed_ms = o.low_speed_ms;
  r->columns = columns;
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

/* The work of a step, under lua_pcall: a Lua error in it (out of memory
   making the decoder or anchoring the value) fails the request instead of
   raising past step, and never leaves it marked busy. */
static int step_protected(lua_State *L) {
  lsc_request *r = lua_touserdata(L, 1);
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
    if (r->state == ST_RUNNING && sc_transfer_done(r->t) && sc_transfer_buffered(r->t) == 0)
      settle(L, r);
  }
  return 0;
}

/* The registry key for step_protected (see sc_keep_cfunction). */
static const char step_protected_key = 's';

static int l_step(lua_State *L) {
  lsc_request *r = check_request(L, 1);
  int status;
  if (r->busy) { /* a finalizer stepping the request its own step runs on */
    lua_pushboolean(L, 0);
    return 1;
  }
  r->busy = 1;
  sc_push_kept_cfunction(L, &step_protected_key, step_protected);
  lua_pushlightuserdata(L, r);
  status = lua_pcall(L, 1, 0, 0);
  r->busy = 0;
  if (status != 0) {
    lua_pop(L, 1);
    if (status == LUA_ERRMEM) {
      drop_decoder(L, r); /* its partial value is what filled memory */
      sc_collect_after_oom(L);
    }
    fail(L, r, status == LUA_ERRMEM ? "out_of_memory" : "network",
         status == LUA_ERRMEM ? "not enough memory" : "the step failed");
  }
  if (r->close_pending) { /* closed by a finalizer during this step */
    r->close_pending = 0;
    release(L, r);
  } else if (r->state != ST_RUNNING && r->t) {
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
  if (r->busy) r->close_pending = 1; /* the running step releases at its end */
  else release(L, r);
  return 0;
}

/* __gc and __close: as close, and the value and the text go too. */
static int l_request_gc(lua_State *L) {
  lsc_request *r = check_request(L, 1);
  if (r->state == ST_RUNNING) { /* a later step says cancelled, not running */
    r->state = ST_FAILED;
    r->kind = "aborted";
    snprintf(r->message, sizeof r->message, "the transfer was cancelled");
  }
  if (r->busy) { /* __close from a finalizer during a step (__gc cannot come
                    then: the step keeps r on the stack) */
    r->close_pending = 1;
    return 0;
  }
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
  double s;
  struct timespec ts, rem;
  luaL_checknumber(L, 1);
  s = check_seconds(L, 1, 0, 1e9); /* about 31 years: fits time_t */
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
    {"closed", l_multi_closed},
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
  sc_keep_cfunction(L, &step_protected_key, step_protected);
  lua_pushcfunction(L, l_multi);
  lua_setfield(L, -2, "multi");
  lua_pushcfunction(L, l_sleep);
  lua_setfield(L, -2, "sleep");
  lua_pushcfunction(L, l_monotime);
  lua_setfield(L, -2, "monotime");
}
