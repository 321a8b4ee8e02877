/*
** shapes.h: what a builder remembers of the document so far, to build the
** next value faster. Profile JSON repeats itself: the same keys, thread ids
** and function names over and over, and arrays of objects of one shape.
** So it keeps short strings seen recently (by cache slot; the builder
** keeps the built string for each slot) and the size of the last container
** under each key and in each array, as the size hint for the next one.
** Knows neither Lua nor JSON syntax.
*/
#ifndef SC_SHAPES_H
#define SC_SHAPES_H

#include <stddef.h>

#define SC_CACHE_SLOTS 1024 /* the most slots a cache has (a power of two) */
#define SC_CACHE_MAXLEN 32  /* longer strings are not cached */

typedef struct sc_shape_entry {
  unsigned len;             /* 0: empty slot */
  int hint_narr, hint_nrec; /* size of the last container under this key */
  char s[SC_CACHE_MAXLEN];
} sc_shape_entry;

typedef struct sc_shape_level {
  int is_object;
  int count;                 /* array: elements so far; object: keys so far */
  int key_slot;              /* cache slot of the key this container is under */
  int child_narr, child_nrec;/* size of the last container inside this array */
  int kind, aux;             /* the builder's own tags (0 when opened) */
} sc_shape_level;

typedef struct sc_shapes {
  sc_shape_level *levels;    /* levels[0 .. depth-1]: open containers */
  size_t depth, levels_cap;
  int last_key_slot;         /* cache slot of the key just seen, or -1 */
  /* The string cache: `slots` entries (0, or a power of two up to
     SC_CACHE_SLOTS), allocated at the first string, so a small document
     pays for no more than it uses. */
  sc_shape_entry *cache;
  unsigned slots;
} sc_shapes;

/* The cache slots worth having for a document of about `bytes` bytes
   (0: unknown, the most): none for a tiny one. */
unsigned sc_shapes_slots_for(size_t bytes);

void sc_shapes_init(sc_shapes *sh, unsigned slots);
void sc_shapes_free(sc_shapes *sh);

/* The cache slot for s[0..n), or -1 when s is not cached (empty or long).
   *hit says whether the slot already held s; on a miss s takes it over. */
int sc_shapes_string(sc_shapes *sh, const char *s, size_t n, int *hit);

/* Opens a container and gives its size hint. 0, or -1 out of memory. */
int sc_shapes_open(sc_shapes *sh, int is_object, int *narr, int *nrec);

/* Closes the innermost container; returns how many elements or keys it had. */
int sc_shapes_close(sc_shapes *sh);

/* The innermost open container (depth > 0). */
static inline sc_shape_level *sc_shapes_top(sc_shapes *sh) {
  return &sh->levels[sh->depth - 1];
}

/* A key of the innermost object, at cache slot `slot` (or -1). */
static inline void sc_shapes_key(sc_shapes *sh, int slot) {
  sh->levels[sh->depth - 1].count++;
  sh->last_key_slot = slot;
}

#endif
