/*
** ldecoder.c: Lua bindings of the push decoder.
**
** A decoder's value under construction lives on the stack of the thread
** that calls feed, and is parked between calls in a private thread (see
** builder.h). Invariant: outside a call, every builder slot is parked and
** d->parked counts them; after an error or after finish, nothing is parked
** and the thread is released, so a failed decoder holds no memory.
*/
#include "ldecoder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Frees everything the decoder holds; safe to call again. Never while a
   call runs on it (d->busy): the call releases at its end instead. */
static void release(lua_State *L, lsc_decoder *d) {
  if (d->thread_ref != LUA_NOREF) {
    luaL_unref(L, LUA_REGISTRYINDEX, d->thread_ref);
    d->thread_ref = LUA_NOREF;
  }
  d->parked = 0;
  d->released = 1;
  sc_decoder_free(&d->dec);
  sc_builder_free(&d->b);
}

/* A size option: an integer in [1, 2^53]. Anything else (a string, NaN,
   inf, a fraction, 1e300) is the caller's mistake: checked before any cast,
   as a double out of size_t's range converts undefinedly. Read raw: an
   __index metamethod never runs here. */
static size_t opt_size(lua_State *L, int opts, const char *name, size_t dflt,
                       const char *fname) {
  lua_Number v;
  size_t r = dflt;
  lua_pushstring(L, name);
  lua_rawget(L, opts);
  if (!lua_isnil(L, -1)) {
    v = lua_tonumber(L, -1);
    if (lua_type(L, -1) != LUA_TNUMBER) {
      lua_pushfstring(L, "bad option '%s' to '%s' (positive integer expected, got %s)",
                      name, fname, luaL_typename(L, -1));
      lua_error(L);
    }
    if (!(v >= 1 && v <= 9007199254740992.0) || v != (lua_Number)(long long)v) {
      lua_pushfstring(L, "bad option '%s' to '%s' (positive integer up to 2^53 expected, got %s)",
                      name, fname, lua_tostring(L, -1));
      lua_error(L);
    }
    r = (size_t)v;
  }
  lua_pop(L, 1);
  return r;
}

/* size: whether the option "size" is one (the push decoder's). */
static void check_option_names(lua_State *L, int opts, const char *fname, int size) {
  lua_pushnil(L);
  while (lua_next(L, opts)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
    if (strcmp(k, "max_depth") != 0 && strcmp(k, "max_bytes") != 0 &&
        strcmp(k, "layout") != 0 && !(size && strcmp(k, "size") == 0)) {
      lua_pushfstring(L, "bad option '%s' to '%s' (unknown option)", k, fname);
      lua_error(L);
    }
    lua_pop(L, 1);
  }
}

int lsc_decoder_opt_layout(lua_State *L, int opts, const char *fname) {
  int columns = 0;
  lua_pushliteral(L, "layout");
  lua_rawget(L, opts);
  if (!lua_isnil(L, -1)) {
    const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    if (v && strcmp(v, "columns") == 0) columns = 1;
    else if (!v || strcmp(v, "rows") != 0) {
      if (v) lua_pushfstring(L, "bad option 'layout' to '%s' ('rows' or 'columns' expected, got '%s')",
                             fname, v);
      else lua_pushfstring(L, "bad option 'layout' to '%s' ('rows' or 'columns' expected, got %s)",
                           fname, luaL_typename(L, -1));
      lua_error(L);
    }
  }
  lua_pop(L, 1);
  return columns;
}

/* size: where the option "size" goes, left as it is when not given
   (NULL: no such option; only a decoder fed in pieces takes one). */
static void read_options(lua_State *L, int opts_idx, const char *fname,
                         size_t *max_depth, size_t *max_bytes, int *columns, size_t *size) {
  *max_depth = SC_DEFAULT_MAX_DEPTH;
  *max_bytes = SC_DEFAULT_MAX_BYTES;
  *columns = 0;
  if (opts_idx && !lua_isnoneornil(L, opts_idx)) {
    luaL_checktype(L, opts_idx, LUA_TTABLE);
    check_option_names(L, opts_idx, fname, size != NULL);
    if (size) *size = opt_size(L, opts_idx, "size", *size, fname);
    *max_depth = opt_size(L, opts_idx, "max_depth", *max_depth, fname);
    *max_bytes = opt_size(L, opts_idx, "max_bytes", *max_bytes, fname);
    *columns = lsc_decoder_opt_layout(L, opts_idx, fname);
  }
}

lsc_decoder *lsc_decoder_new(lua_State *L, int opts_idx, const char *fname,
                             size_t size_hint) {
  size_t max_depth, max_bytes;
  int columns;
  lsc_decoder *d;
  lua_State *T;
  read_options(L, opts_idx, fname, &max_depth, &max_bytes, &columns, &size_hint);
  d = lua_newuserdata(L, sizeof *d);
  memset(d, 0, sizeof *d);
  d->thread_ref = LUA_NOREF;
  d->released = 1; /* until the thread holds its slots: nothing to feed */
  sc_decoder_init(&d->dec, &sc_builder_sink, &d->b, max_depth, max_bytes);
  sc_builder_init(&d->b, &d->dec, sc_shapes_slots_for(size_hint));
  d->b.doc_bytes = size_hint;
  d->b.columns = columns;
  luaL_getmetatable(L, SC_DECODER_MT);
  lua_setmetatable(L, -2);
  T = lua_newthread(L);
  luaL_getmetatable(L, SC_EMPTY_ARRAY_MT);
  sc_builder_push_fixed(L, &d->b, lua_gettop(L));
  lua_xmove(L, T, 2);
  lua_pop(L, 1); /* the metatable */
  d->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  d->parked = 2;
  d->released = 0;
  return d;
}

lsc_decoder *lsc_decoder_check(lua_State *L, int idx) {
  return luaL_checkudata(L, idx, SC_DECODER_MT);
}

const char *lsc_decoder_error(const lsc_decoder *d) {
  if (d->refused) return d->refused;
  if (d->unusable) return d->unusable;
  return sc_decoder_error(&d->dec);
}

int lsc_decoder_oom(const lsc_decoder *d) { return d->oom; }

void lsc_decoder_set_max_bytes(lsc_decoder *d, size_t max_bytes) {
  d->dec.max_bytes = max_bytes ? max_bytes : SC_DEFAULT_MAX_BYTES;
}

void lsc_decoder_set_size(lsc_decoder *d, size_t bytes) {
  if (!d->released) d->b.doc_bytes = bytes;
}

void lsc_decoder_set_columns(lsc_decoder *d, int columns) {
  if (!d->released) d->b.columns = columns != 0;
}

/* Brings the parked slots onto L; returns the base index (the thread). */
static int unpark(lua_State *L, lsc_decoder *d) {
  int base;
  lua_State *T;
  luaL_checkstack(L, d->parked + 8, "decoder");
  lua_rawgeti(L, LUA_REGISTRYINDEX, d->thread_ref);
  base = lua_gettop(L);
  T = lua_tothread(L, base);
  lua_xmove(T, L, d->parked);
  d->parked = 0;
  d->b.L = L;
  d->b.base = base;
  return base;
}

static void park(lua_State *L, lsc_decoder *d, int base) {
  lua_State *T = lua_tothread(L, base);
  int n = lua_gettop(L) - base;
  if (!lua_checkstack(T, n)) luaL_error(L, "decoder: Lua stack exhausted");
  lua_xmove(L, T, n);
  d->parked = n;
  lua_settop(L, base - 1);
  d->b.L = NULL;
}

typedef struct feed_call {
  lsc_decoder *d;
  const char *s;
  size_t n;
  int finish;
  int rc;
} feed_call;

/* Runs under lua_pcall: a Lua error (out of memory) unwinds to
   run_protected, which releases the decoder, instead of past the caller,
   so feed and finish never raise. Leaves the value on the stack after a
   successful finish. */
static int feed_protected(lua_State *L) {
  feed_call *c = lua_touserdata(L, 1);
  lsc_decoder *d = c->d;
  int base = unpark(L, d);
  if (!c->finish) sc_builder_before_feed(&d->b, c->n);
  c->rc = c->finish ? sc_decoder_finish(&d->dec) : sc_decoder_feed(&d->dec, c->s, c->n);
  if (c->rc != SC_OK) return 0;
  if (!c->finish) {
    park(L, d, base);
    return 0;
  }
  lua_replace(L, base); /* the value takes the thread's slot */
  lua_settop(L, base);
  return 1;
}

/* Registry keys for the protected bodies (see sc_keep_cfunction). */
static const char feed_protected_key = 'f';
static const char decode_protected_key = 'd';

static int is_oom_message(const char *msg) {
  return msg != NULL && strncmp(msg, "out of memory", 13) == 0;
}

static int run_protected(lua_State *L, lsc_decoder *d, feed_call *c) {
  int status;
  d->refused = NULL;
  if (d->closed) {
    d->refused = "decoder is closed";
    return SC_ERR;
  }
  if (d->busy) { /* a finalizer feeding the decoder its own feed runs on */
    d->refused = "decoder is busy";
    return SC_ERR;
  }
  if (d->has_value) {
    d->unusable = "decoder already finished";
    return SC_ERR;
  }
  if (d->released) return SC_ERR; /* failed earlier: the message stays */
  d->busy = 1;
  sc_push_kept_cfunction(L, &feed_protected_key, feed_protected);
  lua_pushlightuserdata(L, c);
  status = lua_pcall(L, 1, c->finish, 0);
  d->busy = 0;
  d->refused = NULL; /* a refusal was a finalizer's answer, not this call's */
  if (status != 0) {
    lua_pop(L, 1); /* the error object: out of memory, or stack exhausted */
    d->unusable = "decoder failed: not enough memory for the value";
    d->oom = 1; /* LUA_ERRMEM, or the Lua stack could not grow */
    c->rc = SC_ERR;
  } else if (c->rc != SC_OK && is_oom_message(sc_decoder_error(&d->dec))) {
    d->oom = 1;
  }
  if (d->closed) { /* closed by a finalizer while it ran */
    if (status == 0 && c->finish && c->rc == SC_OK) lua_pop(L, 1);
    release(L, d);
    d->refused = "decoder is closed";
    return SC_ERR;
  }
  if (c->rc != SC_OK) {
    if (c->finish && status == 0) lua_pop(L, 1);
    release(L, d);
    if (d->oom) sc_collect_after_oom(L);
    return SC_ERR;
  }
  if (c->finish) {
    d->has_value = 1;
    release(L, d);
  }
  return SC_OK;
}

int lsc_decoder_feed(lua_State *L, lsc_decoder *d, const char *s, size_t n) {
  feed_call c;
  c.d = d; c.s = s; c.n = n; c.finish = 0; c.rc = SC_OK;
  return run_protected(L, d, &c);
}

int lsc_decoder_finish(lua_State *L, lsc_decoder *d) {
  feed_call c;
  c.d = d; c.s = NULL; c.n = 0; c.finish = 1; c.rc = SC_OK;
  return run_protected(L, d, &c);
}

static int push_failure(lua_State *L, lsc_decoder *d) {
  lua_pushnil(L);
  lua_pushstring(L, lsc_decoder_error(d));
  return 2;
}

/* One whole document, decoded on the caller's stack: no userdata, no
   thread to park in, and a string cache sized to the text (none for a
   small one), so a tiny document costs little more than its tables. */
typedef struct decode_call {
  sc_decoder dec;
  sc_builder b;
  const char *s;
  size_t n;
  int rc;
} decode_call;

static int decode_protected(lua_State *L) {
  decode_call *c = lua_touserdata(L, 1);
  int base = lua_gettop(L);
  luaL_checkstack(L, 8, "decoder");
  luaL_getmetatable(L, SC_EMPTY_ARRAY_MT);
  sc_builder_push_fixed(L, &c->b, base + 1);
  lua_remove(L, base + 1); /* the fixed slots sit right above base */
  c->b.L = L;
  c->b.base = base;
  sc_builder_before_feed(&c->b, c->n); /* the whole document: nothing deferred */
  c->rc = sc_decoder_feed(&c->dec, c->s, c->n);
  if (c->rc == SC_OK) c->rc = sc_decoder_finish(&c->dec);
  if (c->rc != SC_OK) return 0;
  return 1; /* the value, on top */
}

/* chunks.decode(text [, opts]) -> value | nil, message */
static int l_decode(lua_State *L) {
  size_t n, max_depth, max_bytes;
  const char *s = luaL_checklstring(L, 1, &n);
  decode_call c;
  int status, columns;
  read_options(L, 2, "decode", &max_depth, &max_bytes, &columns, NULL);
  sc_decoder_init(&c.dec, &sc_builder_sink, &c.b, max_depth, max_bytes);
  sc_builder_init(&c.b, &c.dec, sc_shapes_slots_for(n ? n : 1));
  c.b.doc_bytes = n;
  c.b.columns = columns;
  c.s = s;
  c.n = n;
  c.rc = SC_ERR;
  lua_settop(L, 2);
  sc_push_kept_cfunction(L, &decode_protected_key, decode_protected);
  lua_pushlightuserdata(L, &c);
  status = lua_pcall(L, 1, 1, 0);
  if (status == 0 && c.rc == SC_OK) {
    sc_decoder_free(&c.dec);
    sc_builder_free(&c.b);
    return 1;
  }
  lua_pop(L, 1);
  sc_decoder_free(&c.dec);
  sc_builder_free(&c.b);
  if (status != 0) sc_collect_after_oom(L);
  lua_pushnil(L);
  if (status != 0) lua_pushliteral(L, "decoder failed: not enough memory for the value");
  else lua_pushstring(L, sc_decoder_error(&c.dec));
  return 2;
}

/* chunks.decoder([opts]) -> decoder. opts.size: the document's size in
   bytes when known (a Content-Length), which presizes the first samples
   as a fetch's does; a size stated falsely costs memory up to a bound,
   never a wrong value. */
static int l_decoder(lua_State *L) {
  lsc_decoder_new(L, 1, "decoder", 0);
  return 1;
}

/* d:feed(bytes) -> true | nil, message */
static int l_feed(lua_State *L) {
  lsc_decoder *d = lsc_decoder_check(L, 1);
  size_t n;
  const char *s = luaL_checklstring(L, 2, &n);
  if (lsc_decoder_feed(L, d, s, n) != SC_OK) return push_failure(L, d);
  lua_pushboolean(L, 1);
  return 1;
}

/* d:finish() -> value | nil, message */
static int l_finish(lua_State *L) {
  lsc_decoder *d = lsc_decoder_check(L, 1);
  if (lsc_decoder_finish(L, d) != SC_OK) return push_failure(L, d);
  return 1;
}

/* d:size(bytes) -> d: the document's size revised, a hint as opts.size
   is, for what opens after it: a fetch under Content-Encoding knows the
   size only as it inflates (the compressed length times the ratio so
   far). No effect once the decoder is finished, failed or closed. */
static int l_size(lua_State *L) {
  lsc_decoder *d = lsc_decoder_check(L, 1);
  lua_Number v = luaL_checknumber(L, 2);
  luaL_argcheck(L, v >= 1 && v <= 9007199254740992.0 && v == (lua_Number)(long long)v, 2,
                "positive integer up to 2^53 expected");
  lsc_decoder_set_size(d, (size_t)v);
  lua_settop(L, 1);
  return 1;
}

/* d:bytes() -> how many bytes were fed */
static int l_bytes(lua_State *L) {
  lsc_decoder *d = lsc_decoder_check(L, 1);
  lua_pushnumber(L, (lua_Number)sc_decoder_bytes(&d->dec));
  return 1;
}

/* __close and __gc: every later call answers "decoder is closed". While a
   feed runs on it (a finalizer closing it), the feed releases it at its
   end: __gc itself cannot come then, the caller keeps it on the stack. */
static int l_gc(lua_State *L) {
  lsc_decoder *d = lsc_decoder_check(L, 1);
  d->closed = 1;
  if (!d->busy) release(L, d);
  return 0;
}

static int l_tostring(lua_State *L) {
  lsc_decoder *d = lsc_decoder_check(L, 1);
  const char *st = d->closed ? "closed" : d->has_value ? "finished"
                 : (d->unusable || sc_decoder_error(&d->dec)) ? "failed" : "open";
  char buf[96];
  snprintf(buf, sizeof buf, "sentry.chunks.decoder (%s, %zu bytes)", st,
           sc_decoder_bytes(&d->dec));
  lua_pushstring(L, buf);
  return 1;
}

/* core._stage_rows(on) -> whether staged rows were on: for the specs,
   which build the same documents both ways (builder.h). */
static int l_stage_rows(lua_State *L) {
  luaL_checktype(L, 1, LUA_TBOOLEAN);
  lua_pushboolean(L, sc_builder_stage_rows(L, lua_toboolean(L, 1)));
  return 1;
}

void lsc_decoder_open(lua_State *L) {
  static const luaL_Reg methods[] = {
    {"feed", l_feed}, {"finish", l_finish}, {"size", l_size}, {"bytes", l_bytes}, {NULL, NULL}};
  static const luaL_Reg meta[] = {
    {"__gc", l_gc}, {"__close", l_gc}, {"__tostring", l_tostring}, {NULL, NULL}};
  static const luaL_Reg funcs[] = {
    {"decode", l_decode}, {"decoder", l_decoder}, {"_stage_rows", l_stage_rows}, {NULL, NULL}};
  sc_newclass(L, SC_DECODER_MT, methods, meta);
  sc_keep_cfunction(L, &feed_protected_key, feed_protected);
  sc_keep_cfunction(L, &decode_protected_key, decode_protected);
  luaL_newmetatable(L, SC_EMPTY_ARRAY_MT);
  lua_pushliteral(L, "array");
  lua_setfield(L, -2, "__jsontype"); /* what dkjson and others look for */
  lua_setfield(L, -2, "empty_array_mt");
  lua_pushlightuserdata(L, NULL);
  lua_setfield(L, -2, "null");
  sc_setfuncs(L, funcs);
  if (SC_LUAJIT) sc_builder_stage_rows(L, 1);
}
