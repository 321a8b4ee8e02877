/*
** builder.h: turns decoder events into Lua values. Knows Lua, not bytes.
**
** While a feed runs, the builder's values sit on the running thread's stack
** from b->base upwards:
**   base+1  string cache (a table whose array part holds interned strings)
**   base+2  empty_array_mt
**   base+3… one slot per open container (objects hold a pending key above
**           their table), then the finished top-level value.
** Between feeds the binding parks these slots in a private thread, so the
** value under construction survives and stays reachable for the collector.
*/
#ifndef SC_BUILDER_H
#define SC_BUILDER_H

#include "compat.h"
#include "decoder.h"

#define SC_CACHE_SLOTS 1024  /* power of two */
#define SC_CACHE_MAXLEN 32   /* longer strings are not cached */

typedef struct sc_cache_entry {
  unsigned len;              /* 0: empty slot */
  int hint_narr, hint_nrec;  /* size of the last container under this key */
  char s[SC_CACHE_MAXLEN];
} sc_cache_entry;

typedef struct sc_level {
  int is_object;
  int count;                 /* array: elements so far; object: keys so far */
  int key_slot;              /* cache slot of the key this container is under */
  int child_narr, child_nrec;/* size of the last container inside this array */
} sc_level;

typedef struct sc_builder {
  lua_State *L;
  int base;                  /* stack index below the builder's slots */
  sc_decoder *dec;
  sc_level *levels;          /* levels[0 .. depth-1]: open containers */
  size_t depth, levels_cap;
  int last_key_slot;         /* cache slot of the key just pushed, or -1 */
  sc_cache_entry cache[SC_CACHE_SLOTS];
} sc_builder;

extern const sc_sink sc_builder_sink;

/* b->levels is malloc'd and must be released with sc_builder_free. */
void sc_builder_init(sc_builder *b, sc_decoder *dec);
void sc_builder_free(sc_builder *b);

/* Pushes the cache table and empty_array_mt (at mt_index) onto L: the two
   fixed slots a builder needs above its base. */
void sc_builder_push_fixed(lua_State *L, int mt_index);

#endif
