/*
** builder.c: the sink that builds Lua tables from decoder events through
** the C API.
**
** Where time goes when decoding a profile: creating tables and inserting
** keys. So every table is created at its size hint (shapes.h), and short
** strings (keys, thread ids, function names) come from the string cache
** instead of being hashed and interned again.
**
** Only lua_createtable, lua_pushlstring, lua_rawset(i) and lua_setmetatable
** can raise here (out of memory); the binding runs the decoder under
** lua_pcall and never inside a libcurl callback.
*/
#include "builder.h"

#include <string.h>

#define CACHE_IDX(b) ((b)->base + 1)
#define MT_IDX(b) ((b)->base + 2)

void sc_builder_init(sc_builder *b, sc_decoder *dec, unsigned slots) {
  b->L = NULL;
  b->base = 0;
  b->dec = dec;
  sc_shapes_init(&b->shapes, slots);
}

void sc_builder_free(sc_builder *b) { sc_shapes_free(&b->shapes); }

void sc_builder_push_fixed(lua_State *L, const sc_builder *b, int mt_index) {
  if (b->shapes.slots > 0) lua_createtable(L, (int)b->shapes.slots, 0);
  else lua_pushnil(L); /* never read: every string is uncached */
  lua_pushvalue(L, mt_index);
}

/* Pushes the string s[0..n); returns its cache slot, or -1 if uncached. */
static int push_string(sc_builder *b, const char *s, size_t n) {
  lua_State *L = b->L;
  int hit, slot = sc_shapes_string(&b->shapes, s, n, &hit);
  if (hit) {
    lua_rawgeti(L, CACHE_IDX(b), slot + 1);
    return slot;
  }
  lua_pushlstring(L, s, n);
  if (slot >= 0) {
    lua_pushvalue(L, -1);
    lua_rawseti(L, CACHE_IDX(b), slot + 1);
  }
  return slot;
}

/* Puts the value on top of the stack into the enclosing container. */
static int attach(sc_builder *b) {
  sc_shape_level *lv;
  if (b->shapes.depth == 0) return 0; /* the top-level value stays put */
  lv = sc_shapes_top(&b->shapes);
  if (lv->is_object) lua_rawset(b->L, -3);
  else lua_rawseti(b->L, -2, ++lv->count);
  return 0;
}

static int open_container(sc_builder *b, int is_object) {
  int narr, nrec;
  /* Two slots: the table, and above it a key (objects) or an element. */
  if (!lua_checkstack(b->L, 3)) {
    sc_decoder_fail(b->dec, "nesting too deep for the Lua stack");
    return 1;
  }
  if (sc_shapes_open(&b->shapes, is_object, &narr, &nrec)) {
    sc_decoder_fail(b->dec, "out of memory");
    return 1;
  }
  lua_createtable(b->L, narr, nrec);
  return 0;
}

static int on_begin_object(void *ud) { return open_container(ud, 1); }
static int on_begin_array(void *ud) { return open_container(ud, 0); }

static int on_end_object(void *ud) {
  sc_builder *b = ud;
  sc_shapes_close(&b->shapes);
  return attach(b);
}

static int on_end_array(void *ud) {
  sc_builder *b = ud;
  if (sc_shapes_close(&b->shapes) == 0) { /* keeps [] apart from {} */
    lua_pushvalue(b->L, MT_IDX(b));
    lua_setmetatable(b->L, -2);
  }
  return attach(b);
}

static int on_key(void *ud, const char *s, size_t n) {
  sc_builder *b = ud;
  sc_shapes_key(&b->shapes, push_string(b, s, n));
  return 0;
}

static int on_string(void *ud, const char *s, size_t n) {
  sc_builder *b = ud;
  push_string(b, s, n);
  return attach(b);
}

static int on_integer(void *ud, long long v) {
  sc_builder *b = ud;
  sc_pushint64(b->L, v);
  return attach(b);
}

static int on_number(void *ud, double v) {
  sc_builder *b = ud;
  lua_pushnumber(b->L, (lua_Number)v);
  return attach(b);
}

static int on_literal(void *ud, sc_literal v) {
  sc_builder *b = ud;
  if (v == SC_LIT_NULL) lua_pushlightuserdata(b->L, NULL); /* == cjson.null */
  else lua_pushboolean(b->L, v == SC_LIT_TRUE);
  return attach(b);
}

const sc_sink sc_builder_sink = {
  on_begin_object, on_end_object, on_begin_array, on_end_array,
  on_key, on_string, on_integer, on_number, on_literal,
};
