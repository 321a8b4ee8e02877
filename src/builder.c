/*
** builder.c: the sink that builds Lua tables from decoder events.
**
** Where time goes when decoding a profile: creating tables and inserting
** keys. So: every table is created at the size its previous sibling had
** (an object under the same key, an element of the same array), and short
** strings (keys, thread ids, function names) are looked up in a small cache
** of interned Lua strings instead of being hashed and interned again.
**
** Only lua_createtable, lua_pushlstring, lua_rawset(i) and lua_setmetatable
** can raise here (out of memory); the binding never calls the decoder from
** inside a libcurl callback, so such an error unwinds cleanly through Lua.
*/
#include "builder.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_IDX(b) ((b)->base + 1)
#define MT_IDX(b) ((b)->base + 2)
#define MAX_ARRAY_HINT 4096
#define MAX_OBJECT_HINT 64

void sc_builder_init(sc_builder *b, sc_decoder *dec) {
  memset(b, 0, sizeof *b);
  b->dec = dec;
  b->last_key_slot = -1;
}

void sc_builder_free(sc_builder *b) {
  free(b->levels);
  b->levels = NULL;
  b->levels_cap = 0;
}

void sc_builder_push_fixed(lua_State *L, int mt_index) {
  lua_createtable(L, SC_CACHE_SLOTS, 0);
  lua_pushvalue(L, mt_index);
}

/* The cache index of a short string (1 <= n <= SC_CACHE_MAXLEN): its first
   and last bytes, read as words, multiplied and folded. A collision costs
   only a miss. */
static unsigned cache_hash(const char *s, size_t n) {
  uint64_t a, b, h;
  if (n >= 8) {
    memcpy(&a, s, 8);
    memcpy(&b, s + n - 8, 8);
  } else if (n >= 4) {
    uint32_t x, y;
    memcpy(&x, s, 4);
    memcpy(&y, s + n - 4, 4);
    a = x;
    b = y;
  } else {
    a = (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[n / 2] << 8 |
        (uint64_t)(unsigned char)s[n - 1] << 16;
    b = 0;
  }
  h = a * 0x9e3779b97f4a7c15ull ^ (b + n) * 0xc2b2ae3d27d4eb4full;
  return (unsigned)(h >> 54) & (SC_CACHE_SLOTS - 1);
}

/* Pushes the string s[0..n) and returns its cache slot, or -1 if uncached. */
static int push_string(sc_builder *b, const char *s, size_t n) {
  lua_State *L = b->L;
  unsigned slot;
  sc_cache_entry *e;
  if (n == 0 || n > SC_CACHE_MAXLEN) {
    lua_pushlstring(L, s, n);
    return -1;
  }
  slot = cache_hash(s, n);
  e = &b->cache[slot];
  if (e->len == n && memcmp(e->s, s, n) == 0) {
    lua_rawgeti(L, CACHE_IDX(b), (int)slot + 1);
    return (int)slot;
  }
  lua_pushlstring(L, s, n);
  lua_pushvalue(L, -1);
  lua_rawseti(L, CACHE_IDX(b), (int)slot + 1);
  e->len = (unsigned)n;
  memcpy(e->s, s, n);
  e->hint_narr = e->hint_nrec = 0;
  return (int)slot;
}

/* Puts the value on top of the stack into the enclosing container. */
static int attach(sc_builder *b) {
  sc_level *lv;
  if (b->depth == 0) return 0; /* the top-level value stays where it is */
  lv = &b->levels[b->depth - 1];
  if (lv->is_object) lua_rawset(b->L, -3);
  else lua_rawseti(b->L, -2, ++lv->count);
  return 0;
}

static int open_level(sc_builder *b, int is_object) {
  lua_State *L = b->L;
  sc_level *lv;
  int narr = 0, nrec = 0, key_slot = -1;
  if (b->depth == b->levels_cap) {
    size_t cap = b->levels_cap ? b->levels_cap * 2 : 32;
    sc_level *p = realloc(b->levels, cap * sizeof *p);
    if (p == NULL) { sc_decoder_fail(b->dec, "out of memory"); return 1; }
    b->levels = p;
    b->levels_cap = cap;
  }
  /* Two slots: the table, and above it a key (objects) or an element. */
  if (!lua_checkstack(L, 3)) {
    sc_decoder_fail(b->dec, "nesting too deep for the Lua stack");
    return 1;
  }
  if (b->depth > 0) {
    sc_level *parent = &b->levels[b->depth - 1];
    if (parent->is_object) {
      key_slot = b->last_key_slot;
      if (key_slot >= 0) {
        narr = b->cache[key_slot].hint_narr;
        nrec = b->cache[key_slot].hint_nrec;
      }
    } else {
      narr = parent->child_narr;
      nrec = parent->child_nrec;
    }
  }
  if (is_object) narr = 0; else nrec = 0;
  lua_createtable(L, narr, nrec);
  lv = &b->levels[b->depth++];
  lv->is_object = is_object;
  lv->count = 0;
  lv->key_slot = key_slot;
  lv->child_narr = lv->child_nrec = 0;
  return 0;
}

/* Remembers the size of a finished container for its next sibling. */
static void close_level(sc_builder *b) {
  sc_level *lv = &b->levels[--b->depth];
  int n = lv->count;
  int narr = lv->is_object ? 0 : (n < MAX_ARRAY_HINT ? n : MAX_ARRAY_HINT);
  int nrec = lv->is_object ? (n < MAX_OBJECT_HINT ? n : MAX_OBJECT_HINT) : 0;
  if (b->depth > 0 && !b->levels[b->depth - 1].is_object) {
    b->levels[b->depth - 1].child_narr = narr;
    b->levels[b->depth - 1].child_nrec = nrec;
  } else if (lv->key_slot >= 0) {
    b->cache[lv->key_slot].hint_narr = narr;
    b->cache[lv->key_slot].hint_nrec = nrec;
  }
}

static int on_begin_object(void *ud) { return open_level(ud, 1); }
static int on_begin_array(void *ud) { return open_level(ud, 0); }

static int on_end_object(void *ud) {
  sc_builder *b = ud;
  close_level(b);
  return attach(b);
}

static int on_end_array(void *ud) {
  sc_builder *b = ud;
  int empty = b->levels[b->depth - 1].count == 0;
  close_level(b);
  if (empty) { /* keeps [] apart from {} */
    lua_pushvalue(b->L, MT_IDX(b));
    lua_setmetatable(b->L, -2);
  }
  return attach(b);
}

static int on_key(void *ud, const char *s, size_t n) {
  sc_builder *b = ud;
  b->levels[b->depth - 1].count++;
  b->last_key_slot = push_string(b, s, n);
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
