/*
** shapes.c: the string cache and size hints behind shapes.h.
*/
#include "shapes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARRAY_HINT 4096
#define MAX_OBJECT_HINT 64

unsigned sc_shapes_slots_for(size_t bytes) {
  unsigned slots = 64;
  if (bytes == 0) return SC_CACHE_SLOTS;
  if (bytes < 512) return 0; /* an error body, a small answer: no cache */
  while (slots < SC_CACHE_SLOTS && (size_t)slots * 32 < bytes) slots *= 2;
  return slots;
}

void sc_shapes_init(sc_shapes *sh, unsigned slots) {
  memset(sh, 0, sizeof *sh);
  sh->last_key_slot = -1;
  sh->slots = slots > SC_CACHE_SLOTS ? SC_CACHE_SLOTS : slots;
}

void sc_shapes_free(sc_shapes *sh) {
  free(sh->levels);
  sh->levels = NULL;
  sh->levels_cap = sh->depth = 0;
  free(sh->cache);
  sh->cache = NULL;
  sh->slots = 0;
}

/* The slot of a short string (1 <= n <= SC_CACHE_MAXLEN): its first and
   last bytes, read as words, multiplied and folded. A collision costs only
   a miss. */
static unsigned cache_hash(const char *s, size_t n, unsigned slots) {
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
  return (unsigned)(h >> 54) & (slots - 1);
}

/* Whether a[0..n) and b[0..n) hold the same bytes, for 1 <= n <=
   SC_CACHE_MAXLEN: a few word loads, overlapping, where libc's memcmp was
   a call per key (a tenth of a profile's decode on LuaJIT). */
static int short_equal(const char *a, const char *b, size_t n) {
  uint64_t x, y, u, v;
  if (n >= 8) {
    size_t mid = n > 16 ? n - 16 : 0;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    memcpy(&u, a + n - 8, 8);
    memcpy(&v, b + n - 8, 8);
    if ((x ^ y) | (u ^ v)) return 0;
    if (mid == 0) return 1;
    memcpy(&x, a + 8, 8); /* 17..32 bytes: the middle 16 too */
    memcpy(&y, b + 8, 8);
    memcpy(&u, a + n - 16, 8);
    memcpy(&v, b + n - 16, 8);
    return ((x ^ y) | (u ^ v)) == 0;
  }
  if (n >= 4) {
    uint32_t p, q, r, t;
    memcpy(&p, a, 4);
    memcpy(&q, b, 4);
    memcpy(&r, a + n - 4, 4);
    memcpy(&t, b + n - 4, 4);
    return ((p ^ q) | (r ^ t)) == 0;
  }
  return a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1];
}

int sc_shapes_string(sc_shapes *sh, const char *s, size_t n, int *hit) {
  unsigned slot;
  sc_shape_entry *e;
  *hit = 0;
  if (n == 0 || n > SC_CACHE_MAXLEN || sh->slots == 0) return -1;
  if (sh->cache == NULL) {
    sh->cache = calloc(sh->slots, sizeof *sh->cache);
    if (sh->cache == NULL) { /* no cache: every string is built */
      sh->slots = 0;
      return -1;
    }
  }
  slot = cache_hash(s, n, sh->slots);
  e = &sh->cache[slot];
  if (e->len == n && short_equal(e->s, s, n)) {
    *hit = 1;
    return (int)slot;
  }
  e->len = (unsigned)n;
  memcpy(e->s, s, n);
  e->hint_narr = e->hint_nrec = 0;
  *hit = 0;
  return (int)slot;
}

int sc_shapes_open(sc_shapes *sh, int is_object, int *narr, int *nrec) {
  sc_shape_level *lv;
  int key_slot = -1;
  *narr = *nrec = 0;
  if (sh->depth == sh->levels_cap) {
    size_t cap = sh->levels_cap ? sh->levels_cap * 2 : 32;
    sc_shape_level *p = realloc(sh->levels, cap * sizeof *p);
    if (p == NULL) return -1;
    sh->levels = p;
    sh->levels_cap = cap;
  }
  if (sh->depth > 0) {
    sc_shape_level *parent = &sh->levels[sh->depth - 1];
    if (parent->is_object) {
      key_slot = sh->last_key_slot;
      if (key_slot >= 0) {
        *narr = sh->cache[key_slot].hint_narr;
        *nrec = sh->cache[key_slot].hint_nrec;
      }
    } else {
      *narr = parent->child_narr;
      *nrec = parent->child_nrec;
    }
  }
  if (is_object) *narr = 0; else *nrec = 0;
  lv = &sh->levels[sh->depth++];
  lv->is_object = is_object;
  lv->count = 0;
  lv->key_slot = key_slot;
  lv->child_narr = lv->child_nrec = 0;
  lv->kind = lv->aux = 0;
  return 0;
}

int sc_shapes_close(sc_shapes *sh) {
  sc_shape_level *lv = &sh->levels[--sh->depth];
  int n = lv->count;
  int narr = lv->is_object ? 0 : (n < MAX_ARRAY_HINT ? n : MAX_ARRAY_HINT);
  int nrec = lv->is_object ? (n < MAX_OBJECT_HINT ? n : MAX_OBJECT_HINT) : 0;
  if (sh->depth > 0 && !sh->levels[sh->depth - 1].is_object) {
    sh->levels[sh->depth - 1].child_narr = narr;
    sh->levels[sh->depth - 1].child_nrec = nrec;
  } else if (lv->key_slot >= 0) {
    sh->cache[lv->key_slot].hint_narr = narr;
    sh->cache[lv->key_slot].hint_nrec = nrec;
  }
  return n;
}
