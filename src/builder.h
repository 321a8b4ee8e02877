/*
** builder.h: turns decoder events into Lua values through the C API.
** Knows Lua, not bytes.
**
** While a feed runs, the builder's values sit on the running thread's stack
** from b->base upwards:
**   base+1  string cache: a table whose array part holds, per cache slot
**           (shapes.h), the interned string of that slot
**   base+2  empty_array_mt
**   base+3… one slot per open container (objects hold a pending key above
**           their table), then the finished top-level value.
**
** Columns layout (b->columns): the array under key "samples" of an object
** under key "profile" is built as a holder {n =, stack_id =, thread_id =,
** timestamp =}; its slot holds the holder and, above it, the three columns.
** Each element object is a virtual row with no table and no slot: a value
** under one of the three keys goes straight to that column (row_column); in
** place of any other key it holds that key's column (made lazily), and its
** values go to column[row]; nothing inside a sample is converted (its values
** are taken as they are).
** Between feeds the binding parks these slots in a private thread, so the
** value under construction survives and stays reachable for the collector.
*/
#ifndef SC_BUILDER_H
#define SC_BUILDER_H

#include "compat.h"
#include "decoder.h"
#include "shapes.h"

/* Bytes of JSON per sample (with its share of stacks and frames): 63 in
   the real Java profile, 76 in the Python one, 81 in the generator's.
   Dividing the text left by it guesses how many samples it holds. A guess
   short of the count costs the array's growth and a copy back to size;
   one over it is kept while the array is at least three quarters full.
   Rows take the low end (81 / 62: 77% full), as an empty slot is little
   beside a row's table; columns the usual size, as their slots are the
   whole of their memory. */
#define SC_ROW_BYTES 62
#define SC_SAMPLE_BYTES 76

typedef struct sc_builder {
  lua_State *L;
  int base;                  /* stack index below the builder's slots */
  sc_decoder *dec;
  sc_shapes shapes;
  int columns;               /* samples in the columns layout */
  int last_key_kind;         /* KEY_* of the key just seen (builder.c) */
  int cols_hint;             /* rows of the last samples holder, and a
                                sixteenth more: the next one's presize */
  int holder_presized;       /* rows the open holder's columns were made for */
  int rows_presized;         /* rows layout: the first samples array was
                                presized from doc_bytes (later ones take
                                the shapes' hints) */
  size_t doc_bytes;          /* the document's size when known (else 0):
                                the first holder is presized from it */
  int in_row;                /* inside a sample: nothing below is converted */
  int row_column;            /* in a sample: stack index of the column the
                                key just seen names (one of the holder's
                                three), or 0: the column is pushed above */
  size_t fed;                /* bytes fed so far, this feed's included */
  int deferred;              /* columns of the open holder (the last 1 or
                                2) still to be made at holder_presized
                                rows, one each feed (sc_builder_before_feed) */
  int holder_level;          /* the open holder's level in shapes */
  /* Staged rows (rows layout, when a row maker is installed: LuaJIT): the
     document's first samples array keeps two slots above its table, the
     stage (3 values a row, SC_STAGE_ROWS rows) and the row maker, a Lua
     function that makes the staged rows' tables. A sample's values go to
     the stage; every SC_STAGE_ROWS rows, and when the array closes, the
     maker makes them. A sample that does not fit (a fourth key, a
     container value) or an element that is not an object ends the
     staging: the rows staged so far are made, the slots go, and the rest
     is built as in any array. */
  int stage_at;              /* stack index of the stage, or 0 */
  int stage_level;           /* the staged array's level in shapes */
  int stage_n;               /* complete rows in the stage */
  int stage_first;           /* rows made before the stage's first */
  int stage_col;             /* in a staged row: the key just seen (0..2) */
  unsigned stage_mask;       /* in a staged row: the keys seen (bits) */
} sc_builder;

extern const sc_sink sc_builder_sink;

/* The shapes' memory must be released with sc_builder_free. slots: the
   string cache's size (sc_shapes_slots_for). */
void sc_builder_init(sc_builder *b, sc_decoder *dec, unsigned slots);
void sc_builder_free(sc_builder *b);

/* Before each feed of n bytes, with the builder's stack in place: counts
   the bytes, and makes one deferred column of the open holder at its
   size (can raise: out of memory; the binding runs it under lua_pcall). */
void sc_builder_before_feed(sc_builder *b, size_t n);

/* Installs (on = 1) or removes the row maker of staged rows; returns
   whether one was installed. The module installs it on LuaJIT; the specs
   switch it to check that both ways build the same tables. Can raise. */
int sc_builder_stage_rows(lua_State *L, int on);

/* Pushes the string cache (nil when b has no cache slots) and
   empty_array_mt (at mt_index) onto L: the two fixed slots a builder needs
   above its base. */
void sc_builder_push_fixed(lua_State *L, const sc_builder *b, int mt_index);

#endif
